"""Deprecated aliases of names that moved out of ``dcemets.classify`` (private).

Issue 17 moved the radiomics model search (``radiomics_search``, ``SearchResult``,
``FAMILIES``) to :mod:`dcemets.evaluation.search`, where its cross-validation is done by
:func:`dcemets.evaluation.cross_validate`.  For one release the old places still answer,
with a ``DeprecationWarning`` pointing at the caller.  This is the one import of
``dcemets.classify`` that runs up a layer: it happens only when a moved name is asked for
(never at ``import dcemets.classify``), and ``pyproject.toml`` lists it as the layers
contract's single ignored import.  Delete this module with the aliases.
"""

from __future__ import annotations

from typing import Any

from dcemets._conventions import warn_user

MOVED = {"radiomics_search": "dcemets.evaluation", "SearchResult": "dcemets.evaluation", "FAMILIES": None}
"""Moved name -> its new public package (None: only in :mod:`dcemets.evaluation.search`)."""


def moved(name: str, module: str) -> Any:
    """The moved object `name`, with a DeprecationWarning; AttributeError for any other name."""
    if name not in MOVED:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    from dcemets.evaluation import search

    new = MOVED[name] or "dcemets.evaluation.search"
    warn_user(
        f"{module}.{name} moved to {new}.{name}; the old name will be removed in the next release",
        DeprecationWarning,
    )
    return getattr(search, name)
