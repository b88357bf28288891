"""Scikit-learn estimators on feature tables: CHAID, forest feature ranking, hot-spot models.

Names load lazily from the submodules listed in ``__init__.pyi``.  ``radiomics_search`` and
``SearchResult`` moved to :mod:`dcemets.evaluation`; their old names here still work, with a
``DeprecationWarning``, for one release.
"""

from typing import Any as _Any

import lazy_loader as _lazy

from dcemets.classify._moved import moved as _moved

_lazy_getattr, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)


def __getattr__(name: str) -> _Any:
    if name in ("radiomics_search", "SearchResult"):
        return _moved(name, __name__)
    return _lazy_getattr(name)
