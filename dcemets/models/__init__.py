"""Deep learning on DCE-MRI (paper section 2.6): ConvLSTM and CNN classifiers in PyTorch.

The only dcemets subpackage that imports :mod:`torch`.  Names load lazily from the
submodules listed in ``__init__.pyi``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
