"""Evaluation: diagnostic metrics with CIs, honest (stratified, grouped, nested) cross-validation, Table-1 group comparisons, ROC plots.

Names load lazily from the submodules listed in ``__init__.pyi``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
