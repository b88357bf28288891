"""Network inputs: tumour-box slices of the DCE series or of the parametric maps (paper section 2.6)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.nn import functional as F
from tqdm.auto import tqdm

from dcemets._checks import check_int
from dcemets._conventions import SPATIAL_DIMS, check_same_grid, validate_dce, validate_image
from dcemets.models._checks import check_optional_int, require_finite
from dcemets.models._device import resolve_device

__all__ = ["MAP_NAMES", "SliceDataset", "slice_dataset", "to_tensor"]

MAP_NAMES: tuple[str, str, str] = ("wash_in", "max_se", "washout")
"""The three parametric maps fed to :class:`~dcemets.models.MapCNN`, in channel order."""

_FITS = ("resize", "pad")
_NORMALISATIONS = ("zscore", "enhancement")


@dataclass
class SliceDataset:
    """2D tumour slices ready for a network, one row per slice.

    Attributes
    ----------
    X : numpy.ndarray, float32
        ``(n_slices, T, 1, crop, crop)`` for DCE input, ``(n_slices, 3, crop, crop)`` for maps.
    y : numpy.ndarray
        Label of each slice's patient (object array; ``None`` where the item had no label).
    groups : numpy.ndarray of str
        Patient (subject) id of each slice: the groups of a patient-level cross-validation.
    z : numpy.ndarray of int
        Slice index (along ``z``) of each sample in its patient's volume.
    boxes : dict
        Per patient, the projected tumour bounding box ``(y0, y1, x0, x1)`` (index space,
        half-open) used for every slice of that patient.
    inputs : str
        ``"dce"`` or ``"maps"``.

    Examples
    --------
    >>> from dcemets.simulate import simulate_case
    >>> case = simulate_case("lung", rng=0)
    >>> ds = slice_dataset([(case.dce, case.lesion_mask, "lung", "p1")], crop=16, progress=False)
    >>> ds.X.shape[1:], sorted(set(ds.groups.tolist()))  # (time, channel, height, width); one patient
    ((12, 1, 16, 16), ['p1'])
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    z: np.ndarray
    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    inputs: str = "dce"

    def __len__(self) -> int:
        return int(self.X.shape[0])


def _unpack(item: Any, index: int) -> tuple[Any, Any, Any, str]:
    """Return (image, mask, label, group) from a Case or a (image, mask, label[, group]) tuple."""
    if hasattr(item, "subject_id") and hasattr(item, "dce"):
        if item.lesion_mask is None:
            raise ValueError(
                f"`items[{index}]` (subject {item.subject_id!r}) has no `lesion_mask`; segment it first "
                "(dcemets.segmentation.segment_lesion) or pass (dce, mask, label) tuples"
            )
        return item.dce, item.lesion_mask, item.label, str(item.subject_id)
    if isinstance(item, tuple | list) and len(item) in (3, 4):
        group = str(item[3]) if len(item) == 4 else f"item{index}"
        return item[0], item[1], item[2], group
    raise TypeError(
        f"`items[{index}]` must be a dcemets.io.Case or a (dce, mask, label[, group]) tuple, "
        f"got {type(item).__name__}"
    )


def _maps_array(image: Any, mask: xr.DataArray, names: Sequence[str], where: str) -> np.ndarray:
    """Maps as a float64 array (C, z, y, x) from a Dataset or a DCE DataArray."""
    if isinstance(image, xr.DataArray):
        from dcemets import kinetics  # computed on demand, inside the tumour only

        image = kinetics.parametric_maps(validate_dce(image, name=where), mask=mask)
    if not isinstance(image, xr.Dataset):
        raise TypeError(f"{where} must be a DCE DataArray or a Dataset of maps, got {type(image).__name__}")
    missing = [n for n in names if n not in image.data_vars]
    if missing:
        raise ValueError(f"{where} lacks the maps {missing}; it has {list(image.data_vars)}")
    chans = []
    for n in names:
        da = image[n]
        if set(da.dims) != set(SPATIAL_DIMS):
            raise ValueError(f"{where}[{n!r}] must have dims {SPATIAL_DIMS}, got {tuple(da.dims)}")
        chans.append(np.asarray(da.transpose(*SPATIAL_DIMS).values, dtype=np.float64))
    sizes = tuple(int(image.sizes[d]) for d in SPATIAL_DIMS)
    if sizes != tuple(mask.shape):
        raise ValueError(f"the maps of {where} have (z, y, x) sizes {sizes}, the mask {tuple(mask.shape)}")
    return np.stack(chans, 0)


def _normalise(box: np.ndarray, inside: np.ndarray, per_channel: bool) -> np.ndarray:
    """Zero-mean unit-SD over the tumour pixels (jointly or per channel), zero outside.

    `box` is ``(n_z, C, h, w)``, `inside` ``(n_z, h, w)`` bool.
    """
    vals = np.where(inside[:, None], box, np.nan)
    axes = (2, 3) if per_channel else (1, 2, 3)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (no tumour pixel)
        mean = np.nanmean(vals, axis=axes, keepdims=True)
        sd = np.nanstd(vals, axis=axes, keepdims=True)
    mean = np.nan_to_num(mean)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    out = (vals - mean) / sd
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _enhancement(box: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Relative enhancement ``S / S0 - 1`` per pixel (``S0`` the first frame), zero outside.

    `box` is ``(n_z, T, h, w)``, `inside` ``(n_z, h, w)`` bool.  A pixel whose ``S0`` is not
    positive gets 0 (no enhancement can be defined there).
    """
    s0 = box[:, :1]
    ok = inside[:, None] & (s0 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ok, box / np.where(ok, s0, 1.0) - 1.0, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _fit_to(boxes: np.ndarray, crop: int, fit: str, where: str) -> np.ndarray:
    """Resize (bilinear, antialiased) or zero-pad ``(n, C, h, w)`` boxes to ``crop x crop``."""
    n, c, h, w = boxes.shape
    if fit == "pad":
        if h > crop or w > crop:
            raise ValueError(
                f"{where}: the tumour bounding box is {h} x {w} pixels, larger than crop={crop}; "
                "use fit='resize' or a larger `crop`"
            )
        out = np.zeros((n, c, crop, crop), dtype=np.float32)
        oy, ox = (crop - h) // 2, (crop - w) // 2
        out[:, :, oy : oy + h, ox : ox + w] = boxes
        return out
    t = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32))
    down = h > crop or w > crop
    res = F.interpolate(t, size=(crop, crop), mode="bilinear", align_corners=False, antialias=down)
    return res.numpy()


def slice_dataset(
    items: Iterable[Any],
    *,
    inputs: str = "dce",
    crop: int = 32,
    fit: str = "resize",
    n_frames: int | None = 12,
    maps: Sequence[str] = MAP_NAMES,
    normalise: str = "zscore",
    progress: bool = True,
) -> SliceDataset:
    """Turn cases into per-slice network inputs as in the paper's section 2.6.

    For each patient the tumour masks of all slices are projected along ``z`` and the
    smallest ``(y, x)`` bounding box that covers the projection is taken.  Every slice that
    contains tumour is cropped to that box, pixels outside the tumour are set to zero, and the
    values are normalised to mean 0 / SD 1 over the tumour pixels -- the 12 DCE frames
    *together* (one mean and SD per slice, so the time course is kept), the parametric maps
    per channel.  The boxes are then resized (or zero-padded) to ``crop x crop`` so that a
    batch stacks.  Each 2D slice is one sample carrying its patient id as group.

    Parameters
    ----------
    items : iterable of dcemets.io.Case or tuple
        Cases (``dce``, ``lesion_mask``, ``label``, ``subject_id`` are used) or tuples
        ``(dce, mask, label)`` / ``(dce, mask, label, group)``: ``dce`` a DCE DataArray
        ``(time, z, y, x)`` (or, with ``inputs="maps"``, a Dataset of maps ``(z, y, x)``),
        ``mask`` a bool DataArray ``(z, y, x)`` on the same grid.  Tuples without a group get
        ``"item<i>"``.
    inputs : {"dce", "maps"}
        ``"dce"``: the signal frames (for :class:`CLSTMNet`); ``"maps"``: the wash-in, maximum
        SE and wash-out maps (for :class:`MapCNN`), computed with
        :func:`dcemets.kinetics.parametric_maps` when a DCE series is given.
    crop : int
        Output height and width (pixels), 32 by default (the networks' default input size).
        Must not exceed the image's in-plane size.
    fit : {"resize", "pad"}
        ``"resize"`` (default): bilinear resampling of the box to ``crop x crop``
        (antialiased when shrinking), which keeps every tumour whole; ``"pad"``: centre the
        box in a zero ``crop x crop`` canvas, which keeps the pixel size (an error if the box
        is larger than `crop`).
    n_frames : int or None
        Required number of DCE frames (12 in the paper); None accepts any.
    maps : sequence of str
        Map variables used as channels with ``inputs="maps"``.
    normalise : {"zscore", "enhancement"}
        How DCE frames are scaled (maps are always z-scored per channel).  ``"zscore"``
        (default, the paper's): one mean and SD per slice over the tumour pixels of all
        frames, which keeps the shape of the time course but discards the size of the
        enhancement.  ``"enhancement"``: the relative enhancement ``S / S0 - 1`` of every
        pixel (``S0`` its first frame, 0 where ``S0 <= 0``), the quantity the hot-spot
        heuristics read (section 2.4), so the magnitude of the uptake is kept.
    progress : bool
        Show a tqdm progress bar over the items.

    Returns
    -------
    SliceDataset
        ``X`` float32 ``(n_slices, T, 1, crop, crop)`` or ``(n_slices, len(maps), crop, crop)``,
        ``y``, ``groups`` (patient ids), ``z`` (slice index), ``boxes``.

    Raises
    ------
    ValueError
        Wrong number of frames, an empty tumour mask, a mask on another grid, `crop` < 1 or
        larger than the image, a box larger than `crop` with ``fit="pad"``, no items,
        duplicate ids.
    TypeError
        `items` is not an iterable, an item of the wrong type, or a `crop` or `n_frames` that
        is not an int.

    References
    ----------
    .. [1] Lang N, et al. Magn Reson Imaging 2019;64:4-12, section 2.6.
       :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce, make_image
    >>> sig = np.ones((12, 3, 40, 40)); sig[:, 1, 10:20, 12:18] = np.arange(1.0, 13.0)[:, None, None]
    >>> mask = make_image(sig[-1] > 1)
    >>> ds = slice_dataset([(make_dce(sig, np.arange(12.0) * 10), mask, "lung", "p1")], progress=False)
    >>> ds.X.shape, ds.groups.tolist(), ds.z.tolist(), ds.boxes["p1"]
    ((1, 12, 1, 32, 32), ['p1'], [1], (10, 20, 12, 18))
    >>> round(float(ds.X[0, :, 0, 16, 16].mean()), 6), round(float(ds.X[0, -1, 0, 16, 16]), 3)
    (0.0, 1.593)
    >>> rel = slice_dataset([(make_dce(sig, np.arange(12.0) * 10), mask, "lung")], normalise="enhancement",
    ...                     progress=False)
    >>> float(rel.X[0, -1, 0, 16, 16])  # S / S0 - 1 = 12 / 1 - 1
    11.0
    """
    if inputs not in ("dce", "maps"):
        raise ValueError(f"`inputs` must be 'dce' or 'maps', got {inputs!r}")
    if fit not in _FITS:
        raise ValueError(f"`fit` must be one of {_FITS}, got {fit!r}")
    if normalise not in _NORMALISATIONS:
        raise ValueError(f"`normalise` must be one of {_NORMALISATIONS}, got {normalise!r}")
    crop = check_int(crop, "crop", minimum=1)
    n_frames = check_optional_int(n_frames, "n_frames")
    maps = tuple(maps)
    xs: list[np.ndarray] = []
    ys: list[Any] = []
    gs: list[str] = []
    zs: list[np.ndarray] = []
    boxes: dict[str, tuple[int, int, int, int]] = {}
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise TypeError(
            "`items` must be an iterable of dcemets.io.Case or (dce, mask, label[, group]) tuples, "
            f"got {type(items).__name__}"
        )
    items_list = list(items)
    if not items_list:
        raise ValueError("`items` is empty")
    for index, item in enumerate(tqdm(items_list, desc="slices", disable=not progress)):
        image, mask, label, group = _unpack(item, index)
        where = f"`items[{index}]` (subject {group!r})"
        if group in boxes:
            raise ValueError(f"{where}: duplicate patient id {group!r}")
        mask = validate_image(mask, name=f"items[{index}] mask", mask=True)
        if inputs == "dce" or isinstance(image, xr.DataArray):
            image = validate_dce(image, name=f"items[{index}] dce", min_frames=1)
            n_t = image.sizes["time"]
            if n_frames is not None and n_t != int(n_frames):
                raise ValueError(f"{where}: the DCE series has {n_t} frames, expected n_frames={n_frames}")
            check_same_grid(image, mask, names=(f"items[{index}] dce", f"items[{index}] mask"))
        m = np.asarray(mask.values, dtype=bool)
        if not m.any():
            raise ValueError(f"{where}: the tumour mask is empty")
        ny, nx = m.shape[1:]
        if crop > min(ny, nx):
            raise ValueError(
                f"`crop`={crop} is larger than the image of {where} ({ny} x {nx} pixels in y, x)"
            )
        if inputs == "dce":
            data = np.asarray(image.values, dtype=np.float64)[:, :, None]  # (T, z, 1, y, x)
            data = np.moveaxis(data, 1, 0).reshape(m.shape[0], -1, ny, nx)  # (z, T, y, x)
        else:
            data = np.moveaxis(_maps_array(image, mask, maps, where), 1, 0)  # (z, C, y, x)
        proj: np.ndarray = np.any(m, axis=0)
        rows, cols = np.flatnonzero(proj.any(axis=1)), np.flatnonzero(proj.any(axis=0))
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        zi = np.flatnonzero(m.any(axis=(1, 2)))
        box = data[zi, :, y0:y1, x0:x1]
        inside = m[zi, y0:y1, x0:x1]
        if inputs == "dce" and normalise == "enhancement":
            norm = _enhancement(box, inside)
        else:
            norm = _normalise(box, inside, per_channel=inputs == "maps")
        fitted = _fit_to(norm, crop, fit, where)
        if inputs == "dce":
            fitted = fitted[:, :, None]  # (n, T, 1, crop, crop)
        xs.append(fitted.astype(np.float32, copy=False))
        ys.extend([label] * len(zi))
        gs.extend([group] * len(zi))
        zs.append(zi)
        boxes[group] = (y0, y1, x0, x1)
    y = np.empty(len(ys), dtype=object)
    y[:] = ys
    return SliceDataset(
        X=np.concatenate(xs, 0),
        y=y,
        groups=np.asarray(gs, dtype=str),
        z=np.concatenate(zs).astype(int),
        boxes=boxes,
        inputs=inputs,
    )


def to_tensor(
    data: xr.DataArray | xr.Dataset | np.ndarray | torch.Tensor,
    *,
    variables: Sequence[str] | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Convert labelled images to network tensors: the one place named dims become positions.

    Parameters
    ----------
    data : xarray.DataArray, xarray.Dataset, numpy.ndarray or torch.Tensor
        A DCE series ``(time, z, y, x)`` (any dim order, any number of frames >= 1) ->
        ``(z, time, 1, y, x)`` (slices as the batch, as :class:`CLSTMNet` takes); a 3D image
        ``(z, y, x)`` -> ``(z, 1, y, x)``; a Dataset of maps ``(z, y, x)`` ->
        ``(z, n_maps, y, x)`` (as :class:`MapCNN` takes).  DataArrays are checked as
        :func:`dcemets.validate_dce` / :func:`dcemets.validate_image` check them (dims, a
        numeric increasing ``time`` coordinate, geometry, finite values).  Arrays and tensors
        of real numbers are converted as they are (any shape).
    variables : sequence of str, optional
        Dataset variables in channel order (default: all data variables).
    dtype : torch.dtype
        Output dtype (float32).
    device : {"auto", "cpu", "cuda"}, "cuda:N", torch.device or None
        Output device (None: torch's default device).

    Returns
    -------
    torch.Tensor
        The data in the layout given for its kind under `data`, with the requested `dtype` and
        `device`.

    Raises
    ------
    TypeError
        Unsupported input type, complex or non-numeric values, a `dtype` that is not a
        torch dtype, a `device` that is not a str or torch.device.
    ValueError
        A DataArray or Dataset without the expected dims, a DCE series without a valid
        ``time`` coordinate, bad geometry, no voxels, NaN/inf values, an unknown or
        unavailable `device`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> dce = make_dce(np.zeros((12, 4, 8, 8)), np.arange(12.0))
    >>> tuple(to_tensor(dce.transpose("x", "y", "z", "time")).shape)
    (4, 12, 1, 8, 8)
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"`dtype` must be a torch.dtype (e.g. torch.float32), got {dtype!r}")
    dev = None if device is None else resolve_device(device)
    if isinstance(data, torch.Tensor | np.ndarray):
        if isinstance(data, torch.Tensor):
            kind = "c" if data.is_complex() else "f"
        else:
            kind = data.dtype.kind
        if kind not in "biuf":
            what = "complex: pass real values, e.g. the magnitude" if kind == "c" else "not numbers"
            raise TypeError(f"`data` must hold real numbers, got dtype {data.dtype} ({what})")
        out = (
            data.to(dtype=dtype, device=dev)
            if isinstance(data, torch.Tensor)
            else torch.as_tensor(data, dtype=dtype, device=dev)
        )
        if out.is_floating_point() and out.numel():
            require_finite(out, "data")
        return out
    if isinstance(data, xr.Dataset):
        names = list(data.data_vars) if variables is None else list(variables)
        chans = []
        for n in names:
            if n not in data.data_vars:
                raise ValueError(f"`data` has no variable {n!r}; it has {list(data.data_vars)}")
            if set(data[n].dims) != set(SPATIAL_DIMS):
                raise ValueError(f"`data[{n!r}]` must have dims {SPATIAL_DIMS}, got {data[n].dims}")
            if (
                not (np.issubdtype(data[n].dtype, np.number) or data[n].dtype == bool)
                or data[n].dtype.kind == "c"
            ):
                raise TypeError(f"`data[{n!r}]` must hold real numbers, got dtype {data[n].dtype}")
            chans.append(np.asarray(data[n].transpose(*SPATIAL_DIMS).values))
        out = torch.as_tensor(np.stack(chans, 1), dtype=dtype, device=dev)
        if out.is_floating_point() and out.numel():
            require_finite(out, "data")
        return out
    if isinstance(data, xr.DataArray):
        if data.size == 0:
            raise ValueError(f"`data` has no voxels (sizes {dict(data.sizes)})")
        if "time" in data.dims:
            arr = (
                validate_dce(data, name="data", min_frames=1)
                .transpose("z", "time", "y", "x")
                .values[:, :, None]
            )
        elif set(data.dims) == set(SPATIAL_DIMS):
            arr = validate_image(data, name="data").values[:, None]
        else:
            raise ValueError(f"`data` must have dims (time, z, y, x) or (z, y, x), got {tuple(data.dims)}")
        return torch.as_tensor(np.ascontiguousarray(arr), dtype=dtype, device=dev)
    raise TypeError(f"`data` must be a DataArray, Dataset, ndarray or Tensor, got {type(data).__name__}")
