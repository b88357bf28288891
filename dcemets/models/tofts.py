"""Deprecated alias of :mod:`dcemets.models.tofts_backend` (renamed by issue 17).

The PyTorch backend of :func:`dcemets.kinetics.fit_tofts` lives in
:mod:`dcemets.models.tofts_backend`, named after its role (the ``torch`` entry point of the
group ``dcemets.fit_tofts``), not after the model it fits, beside the forward model
:func:`dcemets.kinetics.tofts`.  Importing this module warns once with a
``DeprecationWarning``; every name resolves to the new module's (the same objects).  It will
be removed in the next release.
"""

from __future__ import annotations

from typing import Any

from dcemets._conventions import warn_moved_module
from dcemets.models import tofts_backend as _new
from dcemets.models.tofts_backend import __all__, fit_backend  # noqa: F401

warn_moved_module(__name__, _new.__name__)


def __getattr__(name: str) -> Any:
    return getattr(_new, name)
