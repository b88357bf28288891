"""Data records shared by the layers: :class:`Case`, one subject's images, labels and truth.

Private home of the record and of :func:`validate_subject_id`, at the bottom of the layers
so that the readers and writers of :mod:`dcemets.io` and the simulator
(:mod:`dcemets.simulate`) both import it from below, neither from the other.  Users import
them from :mod:`dcemets.io` (the same objects).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

__all__ = ["Case", "validate_subject_id"]

_ID_PATTERN = re.compile(r"[^\W_][\w.\- ]*", re.UNICODE)
_ID_MAX_LEN = 128
# names that Windows reserves for devices, whatever the extension
_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}


def validate_subject_id(subject_id: Any, *, name: str = "subject_id") -> str:
    """Check that a subject identifier is safe to use as a file or folder name.

    Subject ids become file names in a cohort folder (:func:`dcemets.io.save_cohort`), in the
    study's cache and in its report, so every one of those paths goes through this one check:
    an id can never reach outside the folder it is written to.

    Parameters
    ----------
    subject_id : str
        The identifier.  It must start with a letter or a digit, may then hold letters, digits,
        ``_``, ``-``, ``.`` and spaces, must not end with ``.`` or a space, and is at most 128
        characters long; names that Windows reserves (``CON``, ``NUL``, ``COM1`` ...) are
        refused.
    name : str, default "subject_id"
        How to call the value in error messages.

    Returns
    -------
    str
        `subject_id`, unchanged.

    Raises
    ------
    TypeError
        If `subject_id` is not a string.
    ValueError
        If it is empty, too long, or holds a path separator, ``..``, a control character or
        another character that some file system refuses.

    Examples
    --------
    >>> validate_subject_id("sim001")
    'sim001'
    >>> validate_subject_id("../../escaped")
    Traceback (most recent call last):
    ...
    ValueError: `subject_id` '../../escaped' cannot be used as a file name: ...
    """
    if not isinstance(subject_id, str):
        raise TypeError(f"`{name}` must be a str, got {type(subject_id).__name__}")
    hint = (
        "use letters, digits, '_', '-', '.' and spaces, starting with a letter or a digit "
        f"(at most {_ID_MAX_LEN} characters)"
    )
    if (
        not _ID_PATTERN.fullmatch(subject_id)
        or len(subject_id) > _ID_MAX_LEN
        or subject_id.endswith((".", " "))
        or ".." in subject_id
        or subject_id.split(".")[0].upper() in _RESERVED
    ):
        raise ValueError(f"`{name}` {subject_id!r} cannot be used as a file name: {hint}")
    return subject_id


@dataclass(repr=False)
class Case:
    """One subject of a cohort: the DCE series and what goes with it.

    A real-data case read by :func:`dcemets.io.load_cohort` may lack the sagittal images,
    the lesion mask and the truth; a simulated case (:func:`dcemets.simulate.simulate_case`)
    has them all.

    Attributes
    ----------
    subject_id : str
        Unique subject identifier, safe as a file name (see :func:`validate_subject_id`).
    dce : xarray.DataArray
        DCE series, dims ``("time", "z", "y", "x")`` (see :mod:`dcemets._conventions`).
    primary : str or None
        Primary cancer ("lung", "breast", "thyroid", "prostate", "liver", "kidney") if known.
    label : str or None
        Class label, "lung" or "other" in the paper's task.
    t2w_sagittal : xarray.DataArray or None
        Sagittal T2-weighted image, dims ``("z", "y", "x")`` on its own grid.
    roi_sagittal : xarray.DataArray or None
        Bool outline of the diseased segment on the sagittal grid (a radiologist's ROI).
    lesion_mask : xarray.DataArray or None
        Bool lesion mask on the DCE grid (ground truth or a stored segmentation).
    truth : dict
        Generating parameters of a simulated case (empty for real data).
    meta : dict
        Anything else (acquisition parameters, file paths).

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> case = Case("s01", make_dce(np.ones((3, 1, 2, 2)), [0, 10, 20]), label="lung")
    >>> case.subject_id, case.label
    ('s01', 'lung')
    >>> case
    Case(subject_id='s01', primary=None, label='lung', dce=(time: 3, z: 1, y: 2, x: 2), truth=[], meta=[])
    """

    subject_id: str
    dce: xr.DataArray
    primary: str | None = None
    label: str | None = None
    t2w_sagittal: xr.DataArray | None = None
    roi_sagittal: xr.DataArray | None = None
    lesion_mask: xr.DataArray | None = None
    truth: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_subject_id(self.subject_id)

    def __repr__(self) -> str:
        def shape(da: xr.DataArray | None) -> str:
            if da is None:
                return "None"
            return "(" + ", ".join(f"{d}: {n}" for d, n in da.sizes.items()) + ")"

        parts = [
            f"subject_id={self.subject_id!r}",
            f"primary={self.primary!r}",
            f"label={self.label!r}",
            f"dce={shape(self.dce)}",
        ]
        for name in ("t2w_sagittal", "roi_sagittal", "lesion_mask"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={shape(getattr(self, name))}")
        parts.append(f"truth={sorted(self.truth)}")
        parts.append(f"meta={sorted(self.meta)}")
        return f"Case({', '.join(parts)})"
