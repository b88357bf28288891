"""The end-to-end study of Lang et al. 2019: pipeline, report and the ``dcemets`` command line.

Names load lazily from the submodules listed in ``__init__.pyi``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
