"""Deprecated alias of :mod:`dcemets.kinetics.forward_models` (renamed by issue 17).

The tracer-kinetic forward models (:func:`~dcemets.kinetics.tofts`, ``patlak``, ``tcxm``,
``tcum``) live in :mod:`dcemets.kinetics.forward_models`, named after what it holds:
``dcemets.models`` is the PyTorch package.  Importing this module warns once with a
``DeprecationWarning``; every name resolves to the new module's (the same objects).  It will
be removed in the next release: import from :mod:`dcemets.kinetics` instead.
"""

from __future__ import annotations

from typing import Any

from dcemets._conventions import warn_moved_module
from dcemets.kinetics import forward_models as _new
from dcemets.kinetics.forward_models import __all__, patlak, tcum, tcxm, tofts  # noqa: F401

warn_moved_module(__name__, _new.__name__, public="dcemets.kinetics")


def __getattr__(name: str) -> Any:
    return getattr(_new, name)
