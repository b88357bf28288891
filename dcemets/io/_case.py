"""The :class:`Case` record: one subject's images, labels and (for simulations) ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import xarray as xr

__all__ = ["Case"]


@dataclass(repr=False)
class Case:
    """One subject of a cohort: the DCE series and what goes with it.

    A real-data case read by :func:`dcemets.io.load_cohort` may lack the sagittal images,
    the lesion mask and the truth; a simulated case (:func:`dcemets.simulate.simulate_case`)
    has them all.

    Attributes
    ----------
    subject_id : str
        Unique subject identifier.
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
    >>> from dcemets._conventions import make_dce
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
