"""Conventions shared by every layer: dimension names, units, image geometry, validation.

The data model
--------------
A DCE series is an :class:`xarray.DataArray` with dims ``("time", "z", "y", "x")``:

* ``time``: float64 seconds from the first frame (``attrs["units"] == "s"``).
* ``z``, ``y``, ``x``: voxel-centre positions **in mm along the image's own axes**
  (``attrs["units"] == "mm"``).  An image read from disk gets ``x = i * sx``,
  ``y = j * sy``, ``z = k * sz`` for voxel index ``(i, j, k)``.
* ``attrs["affine"]``: 16 floats, a row-major 4 x 4 matrix that maps the coordinate values
  ``(x, y, z, 1)`` (mm) to the LPS world position ``(L, P, S, 1)`` (mm).  Its upper-left
  3 x 3 block is the SimpleITK direction matrix (columns are the unit vectors of the image
  axes in world space) and its last column is the world position of coordinate ``(0, 0, 0)``.
  Because the affine maps *coordinate values* rather than indices, ``isel``/slicing keeps
  every voxel's world position right without touching the attrs.
* ``attrs["spacing_mm"]``: 3 floats ``(sx, sy, sz)``, the voxel spacing.  The coordinates
  are authoritative; this copy is used only where a coordinate cannot give the spacing
  (an axis of length 1) and to keep SimpleITK round trips bit-exact.
* ``attrs["space"] == "LPS"``.

3D images (T2W, masks, parametric maps) follow the same rules with dims ``("z", "y", "x")``;
masks are bool.  All geometry tuples passed to or returned from this module (``origin``,
``spacing``, ``direction``) are in **SimpleITK order** ``(x, y, z)``, exactly as
``sitk.Image.GetOrigin()``, ``GetSpacing()`` and ``GetDirection()`` give them, while array
indices follow the array order ``(z, y, x)``.

One concept: the data model every layer shares: what a DCE or image DataArray is
(dims, units, geometry attributes, LPS world mapping), how one is made, and the checks that an
argument is one (with the rng and warning conventions they raise through); the length is the
geometry, whose SimpleITK round trip must be exact.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "DCE_DIMS",
    "SPATIAL_DIMS",
    "UNITS",
    "Geometry",
    "check_rng",
    "check_same_grid",
    "check_times",
    "coord_values",
    "geometry",
    "geometry_attrs",
    "index_from_world",
    "like",
    "make_dce",
    "make_image",
    "output_attrs",
    "time_seconds",
    "validate_dce",
    "validate_image",
    "world_coordinates",
]

DCE_DIMS: tuple[str, str, str, str] = ("time", "z", "y", "x")
"""Canonical dimension order of a DCE series."""

SPATIAL_DIMS: tuple[str, str, str] = ("z", "y", "x")
"""Canonical dimension order of a 3D image."""

UNITS: dict[str, str] = {
    "signal": "a.u.",
    "concentration": "mM",
    "ktrans": "1/min",
    "kep": "1/min",
    "ve": "1",
    "vp": "1",
    "enhancement": "%",
    "time": "s",
    "length": "mm",
}
"""Units written into ``attrs["units"]`` of dcemets outputs."""

_GEOMETRY_KEYS = ("space", "affine", "spacing_mm", "frame_of_reference")
_SPACING_RTOL = 1e-6


@functools.lru_cache(maxsize=1)
def _version() -> str:
    """The installed dcemets version (read once per process: the metadata lookup costs ~1 ms)."""
    try:
        return importlib.metadata.version("dcemets")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source tree
        return "0+unknown"


@dataclass(frozen=True)
class Geometry:
    """Image geometry in SimpleITK conventions.

    Attributes
    ----------
    origin : tuple of 3 float
        LPS world position (mm) of the first voxel of the array, ``(x, y, z)`` order.
    spacing : tuple of 3 float
        Voxel spacing (mm), ``(sx, sy, sz)``; always positive.
    direction : tuple of 9 float
        Direction cosines, row-major 3 x 3, columns are the image axes in LPS.
    size : tuple of 3 int
        Number of voxels ``(nx, ny, nz)``.
    """

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: tuple[float, float, float, float, float, float, float, float, float]
    size: tuple[int, int, int]

    @property
    def direction_matrix(self) -> np.ndarray:
        """Direction cosines as a 3 x 3 array (columns are image axes)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def index_to_world(self) -> np.ndarray:
        """Return the 4 x 4 matrix mapping ``(i, j, k, 1)`` (x, y, z index) to LPS.

        Returns
        -------
        numpy.ndarray, shape (4, 4)
            The affine ``[[D * spacing, origin], [0, 0, 0, 1]]`` (direction matrix ``D``
            with its columns scaled by the spacing): ``M @ (i, j, k, 1)`` is the voxel's
            homogeneous LPS position (mm).
        """
        m = np.eye(4)
        m[:3, :3] = self.direction_matrix * np.asarray(self.spacing)[None, :]
        m[:3, 3] = self.origin
        return m


def check_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a seed, a generator or ``None``.

    Parameters
    ----------
    rng : int, numpy.random.Generator or None
        Seed or generator (SPEC 7).

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        If `rng` is of another type.
    ValueError
        If `rng` is a negative seed.

    Examples
    --------
    >>> bool(check_rng(0).integers(10) == check_rng(0).integers(10))
    True
    """
    if rng is None or isinstance(rng, (int, np.integer, np.random.Generator)):
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng < 0:
            raise ValueError(f"`rng` seed must be non-negative, got {rng}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(f"`rng` must be an int, a numpy Generator or None, got {type(rng).__name__}")


class _NotGiven:
    """Default of a deprecated argument: tells "not passed" apart from every real value."""

    def __repr__(self) -> str:
        return "<deprecated>"


NOT_GIVEN: Any = _NotGiven()
"""Default of the deprecated ``random_state`` of functions that now take ``rng``."""


def rng_or_random_state(rng: Any, random_state: Any, *, func: str, default: Any = None) -> Any:
    """The seed a function was given: `rng`, or its deprecated old name `random_state`.

    Functions take ``rng`` (SPEC 7; estimators keep scikit-learn's ``random_state``).  A
    function that used to take ``random_state`` still accepts it for one release, with a
    ``FutureWarning``; passing both is an error.

    Parameters
    ----------
    rng : int, numpy.random.Generator or None
        The value of the function's ``rng``.
    random_state : object
        The value of its deprecated ``random_state``; :data:`NOT_GIVEN` when not passed.
    func : str
        The function's name, for the messages.
    default : int or None
        The default of the function's ``rng`` (an `rng` still at it counts as not given).

    Returns
    -------
    int, numpy.random.Generator or None
        The seed to use (not yet checked: the caller checks it under the name ``rng``).

    Raises
    ------
    TypeError
        If both are given.

    Examples
    --------
    >>> rng_or_random_state(3, NOT_GIVEN, func="f")
    3
    """
    if random_state is NOT_GIVEN:
        return rng
    if not (rng is default or (type(rng) is int and type(default) is int and rng == default)):
        raise TypeError(
            f"{func}() got both `rng` and its deprecated old name `random_state`; pass `rng` only"
        )
    warn_user(
        f"{func}(random_state=...) is deprecated and will be removed in the next release; "
        "functions take `rng` (SPEC 7): pass rng=...",
        FutureWarning,
    )
    return random_state


_BLAS_CONTROLLER: list[Any] = []  # threadpoolctl's controller, made once (it scans the libraries)
_BLAS_LOCK = threading.Lock()


def one_blas_thread() -> Any:
    """Context (or decorator) holding BLAS to one thread, process-wide, while it is open.

    Used where a result must not depend on the number of cores: a multi-threaded BLAS
    splits a matrix product's sums differently with 1 and with 2 threads, so the last bits of
    the result change with ``OMP_NUM_THREADS`` (measured on the simulator: a DCE series that
    differed in its last bits, so a cache keyed on the data missed between a 1-thread and a
    2-thread process).  Also used by the threaded voxel fits, whose blocks are the
    parallelism: a BLAS call inside each of their threads would otherwise start its own
    threads (OpenBLAS: one per core) and oversubscribe the CPUs (measured: ~1.5x slower NLLS
    on 2 cores).

    Returns
    -------
    threadpoolctl context manager

    Examples
    --------
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> with one_blas_thread():
    ...     (a @ a.T).tolist()
    [[5.0, 14.0], [14.0, 50.0]]
    """
    from threadpoolctl import ThreadpoolController

    with _BLAS_LOCK:
        if not _BLAS_CONTROLLER:
            _BLAS_CONTROLLER.append(ThreadpoolController())
    return _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas")


def time_seconds(values: Any, name: str = "time") -> np.ndarray:
    """Frame times as float64 seconds, whatever numeric or time dtype they come in.

    Numbers are taken as seconds; ``timedelta64`` values (any unit) are converted to
    seconds; ``datetime64`` values become seconds from the first frame (the dcemets
    convention for the ``time`` coordinate).  NaT becomes NaN, left for the caller's
    finiteness check.

    Parameters
    ----------
    values : array_like
        Frame times.
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape.

    Raises
    ------
    TypeError
        If `values` is complex, holds strings or cannot be read as numbers.

    Examples
    --------
    >>> time_seconds(np.array([0, 1500], dtype="timedelta64[ms]")).tolist()
    [0.0, 1.5]
    >>> time_seconds(np.array(["2024-01-01T10:00:00", "2024-01-01T10:00:12"], "datetime64[s]")).tolist()
    [0.0, 12.0]
    """
    if isinstance(values, xr.DataArray):
        values = values.values
    t = np.asarray(values)
    if t.dtype.kind == "m":
        return np.asarray(t / np.timedelta64(1, "s"), dtype=float)
    if t.dtype.kind == "M":
        if t.size == 0:
            return np.zeros(t.shape)
        return np.asarray((t - t.reshape(-1)[0]) / np.timedelta64(1, "s"), dtype=float)
    if t.dtype.kind == "c":
        raise TypeError(f"`{name}` must be real seconds, got complex dtype {t.dtype}")
    if t.dtype.kind in "USV":  # numeric strings would convert silently
        raise TypeError(f"`{name}` must be times in seconds (numbers), got dtype {t.dtype}")
    try:
        return np.asarray(t, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be times in seconds (numbers), got dtype {t.dtype}") from exc


def _label(name: str) -> str:
    """`name` as it appears in a message: in backticks, unless the caller quoted it already."""
    return name if name[:1] in ("`", "'") else f"`{name}`"


def check_times(values: Any, name: str = "time", *, min_frames: int = 1) -> np.ndarray:
    """Frame times as float64 seconds, checked: 1D, finite, strictly increasing.

    The one check of frame times shared by every layer (:func:`make_dce`,
    :func:`validate_dce`, the kinetics models, the readers).  Values are converted by
    :func:`time_seconds` first.

    Parameters
    ----------
    values : array_like
        Frame times (numbers in s, ``timedelta64`` or ``datetime64``).
    name : str
        Argument name used in error messages (put in backticks unless already quoted).
    min_frames : int
        Minimum number of time points.

    Returns
    -------
    numpy.ndarray
        float64 seconds, shape ``(n,)``.

    Raises
    ------
    TypeError
        If `values` is complex or not numeric.
    ValueError
        If `values` is not 1D, has fewer than `min_frames` points, holds NaN/inf/NaT or does
        not strictly increase.

    Examples
    --------
    >>> check_times([0, 10, 20]).tolist()
    [0.0, 10.0, 20.0]
    >>> check_times([0.0, 10.0, 10.0], "times")
    Traceback (most recent call last):
    ...
    ValueError: `times` must be strictly increasing (no duplicates), got [0.0, 10.0, 10.0]
    """
    t = time_seconds(values, name.strip("`'"))
    what = _label(name)
    if t.ndim != 1:
        raise ValueError(f"{what} must be 1D (times in s), got shape {t.shape}")
    if t.size < min_frames:
        raise ValueError(f"{what} needs at least {min_frames} time points, got {t.size}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{what} must be finite (no NaN, inf or NaT), got {np.round(t, 3).tolist()}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{what} must be strictly increasing (no duplicates), got {np.round(t, 3).tolist()}")
    return t


def _check_dtype(dtype: np.dtype, name: str) -> None:
    """Raise a TypeError naming `name` unless `dtype` holds real numbers or bools."""
    if dtype.kind == "c":
        raise TypeError(
            f"`{name}` is complex (dtype {dtype}); dcemets needs real values: pass the "
            f"magnitude image, e.g. `np.abs({name})`"
        )
    if not (np.issubdtype(dtype, np.number) or dtype == bool):
        raise TypeError(f"`{name}` must hold numbers, got dtype {dtype}")


def _as_values(values: Any, ndim: int, dims: str) -> Any:
    """`values` of a new image: an array (numpy or dask) of `ndim` dims, real, not empty."""
    arr = values if hasattr(values, "ndim") and hasattr(values, "dtype") else np.asarray(values)
    if arr.ndim != ndim:
        raise ValueError(f"`values` must be {ndim}D {dims}, got shape {arr.shape}")
    _check_dtype(np.dtype(arr.dtype), "values")
    if 0 in arr.shape:
        raise ValueError(f"`values` must not be empty, got shape {arr.shape} {dims}")
    return arr


def _as_attrs(attrs: Any) -> dict[str, Any]:
    """Extra attrs as a dict (``None`` -> empty); a TypeError naming `attrs` otherwise."""
    if attrs is None:
        return {}
    if not isinstance(attrs, Mapping):
        raise TypeError(
            f"`attrs` must be a mapping (dict) of attribute names to values, got {type(attrs).__name__}"
        )
    return dict(attrs)


def _as_direction(direction: Sequence[float] | np.ndarray | None) -> np.ndarray:
    if direction is None:
        return np.eye(3)
    try:
        d = np.asarray(direction, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`direction` must be 9 numbers (3 x 3), got {direction!r}") from exc
    if d.size != 9:
        raise ValueError(f"`direction` must have 9 values (3 x 3), got {d.size}")
    d = d.reshape(3, 3)
    if not np.all(np.isfinite(d)):
        raise ValueError("`direction` must be finite")
    if not np.allclose(d.T @ d, np.eye(3), atol=1e-4):
        raise ValueError("`direction` must be orthonormal (columns are unit image axes)")
    return d


def _as_triplet(value: Sequence[float] | np.ndarray | float, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a number or 3 numbers (x, y, z), got {value!r}") from exc
    if arr.size == 1:
        arr = arr.reshape(())
    if arr.shape not in ((), (3,)):
        raise ValueError(
            f"`{name}` must be a number or 3 numbers in SimpleITK order (x, y, z), got shape {arr.shape}"
        )
    v = np.broadcast_to(arr, (3,)).copy()
    if not np.all(np.isfinite(v)):
        raise ValueError(f"`{name}` must be finite, got {tuple(v)}")
    return v


def _affine(origin: np.ndarray, direction: np.ndarray) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = direction
    a[:3, 3] = origin
    return a


def _spatial_coords(shape_zyx: Sequence[int], spacing_xyz: np.ndarray) -> dict[str, xr.Variable]:
    coords = {}
    for dim, n, s in zip(SPATIAL_DIMS, shape_zyx, spacing_xyz[::-1], strict=True):
        coords[dim] = xr.Variable(
            dim,
            np.arange(n, dtype=float) * s,
            attrs={"units": "mm", "long_name": f"{dim} position along image axis"},
        )
    return coords


def _geometry_attrs_from(
    origin: Sequence[float] | np.ndarray | float,
    spacing: Sequence[float] | np.ndarray | float,
    direction: Sequence[float] | np.ndarray | None,
) -> dict[str, Any]:
    o = _as_triplet(origin, "origin")
    s = _as_triplet(spacing, "spacing")
    if np.any(s <= 0):
        raise ValueError(f"`spacing` must be positive, got {tuple(s)}")
    d = _as_direction(direction)
    return {
        "space": "LPS",
        "affine": _affine(o, d).ravel().tolist(),
        "spacing_mm": s.tolist(),
    }


def make_image(
    values: np.ndarray | Any,
    *,
    spacing: Sequence[float] | float = 1.0,
    origin: Sequence[float] | float = 0.0,
    direction: Sequence[float] | np.ndarray | None = None,
    name: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a ``(z, y, x)`` array as a 3D image DataArray with full geometry.

    Parameters
    ----------
    values : array_like, shape (nz, ny, nx)
        Voxel values in array order (numpy or dask).
    spacing : float or sequence of 3 float, optional
        Voxel spacing (mm) in SimpleITK order ``(sx, sy, sz)``.
    origin : float or sequence of 3 float, optional
        LPS position (mm) of voxel ``(0, 0, 0)``, SimpleITK order.
    direction : sequence of 9 float or (3, 3) array, optional
        Direction cosines (columns are image axes), identity by default.
    name : str, optional
        Variable name.
    attrs : mapping, optional
        Extra attributes (e.g. ``units``).

    Returns
    -------
    xarray.DataArray
        Dims ``("z", "y", "x")``, coordinates in mm, geometry in attrs.

    Raises
    ------
    ValueError
        If `values` is not 3D or is empty, or the geometry is invalid (e.g. `spacing` or
        `origin` with other than 1 or 3 values).
    TypeError
        If `values` is complex or not numeric (bool is fine), `spacing`, `origin` or
        `direction` is not numeric, or `attrs` is not a mapping.

    Examples
    --------
    >>> img = make_image(np.zeros((2, 3, 4)), spacing=(0.5, 0.5, 3.0))
    >>> img.dims, float(img.z[1])
    (('z', 'y', 'x'), 3.0)
    """
    arr = _as_values(values, 3, "(z, y, x)")
    extra = _as_attrs(attrs)
    geo = _geometry_attrs_from(origin, spacing, direction)
    coords = _spatial_coords(arr.shape, np.asarray(geo["spacing_mm"]))
    out = xr.DataArray(arr, dims=SPATIAL_DIMS, coords=coords, name=name)
    out.attrs.update(geo)
    out.attrs.update(extra)
    return out


def make_dce(
    values: np.ndarray | Any,
    times: Sequence[float] | np.ndarray,
    *,
    spacing: Sequence[float] | float = 1.0,
    origin: Sequence[float] | float = 0.0,
    direction: Sequence[float] | np.ndarray | None = None,
    name: str | None = "signal",
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a ``(time, z, y, x)`` array as a DCE DataArray with full geometry.

    Parameters
    ----------
    values : array_like, shape (nt, nz, ny, nx)
        Signal in array order.
    times : sequence of float, length nt
        Frame times (s), finite and strictly increasing; shifted so that the first frame is
        at 0 s only if the caller does so (numbers are stored as given).  ``timedelta64`` times are
        converted to float seconds and ``datetime64`` times to float seconds from the first
        frame (see :func:`time_seconds`).
    spacing, origin, direction
        Geometry as in :func:`make_image` (SimpleITK order).
    name : str, optional
        Variable name, ``"signal"`` by default.
    attrs : mapping, optional
        Extra attributes (acquisition metadata such as ``tr_s``, ``flip_angle_deg``).

    Returns
    -------
    xarray.DataArray
        Dims ``("time", "z", "y", "x")``, ``units`` ``"a.u."`` unless given.

    Raises
    ------
    ValueError
        If `values` is not 4D or is empty, `times` does not match its first axis, holds
        NaN/inf or does not strictly increase, or the geometry is invalid.
    TypeError
        If `values` or `times` is complex or not numeric, or `attrs` is not a mapping.

    Examples
    --------
    >>> dce = make_dce(np.ones((3, 1, 2, 2)), [0.0, 10.0, 20.0])
    >>> dce.dims, dce.time.attrs["units"]
    (('time', 'z', 'y', 'x'), 's')
    """
    arr = _as_values(values, 4, "(time, z, y, x)")
    t = time_seconds(times, "times")
    if t.ndim != 1 or t.size != arr.shape[0]:
        raise ValueError(f"`times` must have {arr.shape[0]} values (one per frame), got shape {t.shape}")
    t = check_times(t, "times")
    extra = _as_attrs(attrs)
    geo = _geometry_attrs_from(origin, spacing, direction)
    coords: dict[str, Any] = {
        "time": xr.Variable("time", t, attrs={"units": "s", "long_name": "time from first frame"})
    }
    coords.update(_spatial_coords(arr.shape[1:], np.asarray(geo["spacing_mm"])))
    out = xr.DataArray(arr, dims=DCE_DIMS, coords=coords, name=name)
    out.attrs["units"] = UNITS["signal"]
    out.attrs.update(geo)
    out.attrs.update(extra)
    return out


def geometry_attrs(da: xr.DataArray | xr.Dataset) -> dict[str, Any]:
    """Return the geometry attrs (``space``, ``affine``, ``spacing_mm``, ...) of `da`.

    Use it to carry geometry onto an output: ``out.attrs.update(geometry_attrs(dce))``.

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset
        An image with dcemets geometry.

    Returns
    -------
    dict
        A copy of the geometry attrs present on `da`.

    Examples
    --------
    >>> sorted(geometry_attrs(make_image(np.zeros((1, 1, 1)))))
    ['affine', 'space', 'spacing_mm']
    """
    return {
        k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v)
        for k, v in da.attrs.items()
        if k in _GEOMETRY_KEYS
    }


def output_attrs(
    template: xr.DataArray | xr.Dataset | None,
    *,
    units: str,
    long_name: str,
    method: str | None = None,
) -> dict[str, Any]:
    """Attrs for a dcemets output: its own units and name, the template's geometry.

    Parameters
    ----------
    template : DataArray, Dataset or None
        Input whose geometry attrs are copied.
    units, long_name : str
        Units and descriptive name of the output.
    method : str, optional
        Method used, recorded in ``attrs["method"]``.

    Returns
    -------
    dict

    Examples
    --------
    >>> output_attrs(None, units="%", long_name="maximum SE")["units"]
    '%'
    """
    attrs: dict[str, Any] = {} if template is None else geometry_attrs(template)
    attrs.update({"units": units, "long_name": long_name, "dcemets_version": _version()})
    if method is not None:
        attrs["method"] = method
    return attrs


def like(
    template: xr.DataArray,
    values: np.ndarray | Any,
    *,
    name: str | None = None,
    units: str | None = None,
    long_name: str | None = None,
) -> xr.DataArray:
    """Put a ``(z, y, x)`` array on the spatial grid of `template` (a 3D or DCE DataArray).

    Parameters
    ----------
    template : xarray.DataArray
        Image or DCE series whose ``z``, ``y``, ``x`` coordinates and geometry are reused.
    values : array_like, shape (nz, ny, nx)
        Values in the template's canonical spatial order.
    name, units, long_name : str, optional
        Name and attrs of the result.

    Returns
    -------
    xarray.DataArray
        `values` with dims ``(z, y, x)``, the template's spatial coordinates and geometry
        attrs, and the given `name`, ``units`` and ``long_name``.

    Raises
    ------
    ValueError
        If the shape of `values` does not match the template grid.

    Examples
    --------
    >>> dce = make_dce(np.ones((3, 1, 2, 2)), [0.0, 10.0, 20.0])
    >>> like(dce, np.zeros((1, 2, 2), bool), name="mask").dtype
    dtype('bool')
    """
    arr = values if hasattr(values, "ndim") else np.asarray(values)
    shape = tuple(template.sizes[d] for d in SPATIAL_DIMS)
    if tuple(arr.shape) != shape:
        raise ValueError(f"`values` has shape {tuple(arr.shape)}, expected the template grid {shape}")
    out = xr.DataArray(arr, dims=SPATIAL_DIMS, coords={d: template[d] for d in SPATIAL_DIMS}, name=name)
    out.attrs.update(geometry_attrs(template))
    if units is not None:
        out.attrs["units"] = units
    if long_name is not None:
        out.attrs["long_name"] = long_name
    return out


def coord_values(da: xr.DataArray | xr.Dataset, dim: str) -> np.ndarray:
    """The values of coordinate `dim`, as ``da[dim].values`` gives them, about 10x faster.

    ``da[dim]`` builds a new DataArray (about 30 us); an indexed dimension coordinate is read
    from its pandas index instead (2-3 us).  Validation runs on every call of every layer, so
    on small images this was most of the xarray overhead (radiomics: 3 ms of a 6-ms call).

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset
        Any array with dimension `dim`.
    dim : str
        Dimension name.

    Returns
    -------
    numpy.ndarray
        The coordinate values (indexed or not); ``0 .. n - 1`` for a dimension without a
        coordinate, as xarray gives.

    Raises
    ------
    KeyError
        If `da` has no dimension or coordinate `dim`.

    Examples
    --------
    >>> img = make_image(np.zeros((2, 3, 4)), spacing=(0.5, 1.0, 5.0))  # (x, y, z), as SimpleITK
    >>> coord_values(img, "x").tolist(), coord_values(img.drop_vars("z"), "z").tolist()
    ([0.0, 0.5, 1.0, 1.5], [0, 1])
    """
    if dim in da.xindexes:
        return np.asarray(da.get_index(dim))
    if dim in da.coords:
        return np.asarray(da.coords[dim].values)
    return np.arange(da.sizes[dim])  # a dim without a coordinate: positions, as xarray gives


def _coord_spacing(
    da: xr.DataArray | xr.Dataset, dim: str, fallback: float | None, name: str = "da"
) -> tuple[float, float]:
    """Return (signed first coordinate step, first coordinate) along `dim` of argument `name`."""
    c = coord_values(da, dim)
    if c.dtype.kind not in "biuf":
        raise ValueError(
            f"`{name}`: coordinate {dim!r} must be positions in mm (numbers), got dtype {c.dtype}"
        )
    c = np.asarray(c, dtype=float)
    if c.size == 0:
        raise ValueError(f"`{name}` is empty: dimension {dim!r} has no voxels")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"`{name}`: coordinate {dim!r} must be finite")
    if c.size == 1:
        if fallback is None:
            raise ValueError(
                f"`{name}`: cannot tell the spacing of length-1 axis {dim!r}: no `spacing_mm` attr"
            )
        return float(fallback), float(c[0])
    d = np.diff(c)
    step = float(d[0])
    if step == 0 or not np.allclose(d, step, rtol=1e-5, atol=1e-6):
        raise ValueError(f"`{name}`: coordinate {dim!r} must be uniformly spaced (regular grid)")
    if fallback is not None and np.isclose(abs(step), fallback, rtol=_SPACING_RTOL, atol=0):
        step = float(np.sign(step) * fallback)
    return step, float(c[0])


def _affine_of(da: xr.DataArray | xr.Dataset, name: str = "da") -> np.ndarray:
    a = da.attrs.get("affine")
    if a is None:
        return np.eye(4)
    try:
        m = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        m = np.full(1, np.nan)
    if m.size != 16 or not np.all(np.isfinite(m)):
        raise ValueError(f"`{name}`.attrs['affine'] must hold 16 finite floats (row-major 4 x 4)")
    return m.reshape(4, 4)


def _spacing_attr(da: xr.DataArray | xr.Dataset, name: str) -> np.ndarray:
    """``attrs['spacing_mm']`` as 3 floats (NaN where absent)."""
    sp = da.attrs.get("spacing_mm")
    if sp is None:
        return np.full(3, np.nan)
    try:
        v = np.asarray(sp, dtype=float)
    except (TypeError, ValueError):
        v = np.full(1, np.nan)
    if v.size != 3 or not np.all(np.isfinite(v) & (v > 0)):
        raise ValueError(f"`{name}`.attrs['spacing_mm'] must hold 3 positive finite floats (x, y, z)")
    return v.reshape(3)


def _check_xarray(da: Any, name: str = "da") -> None:
    if not isinstance(da, (xr.DataArray, xr.Dataset)):
        raise TypeError(
            f"`{name}` must be an xarray.DataArray or Dataset with dcemets geometry, got "
            f"{type(da).__name__}; wrap a numpy array with make_image or make_dce first"
        )


def _check_grid_input(da: Any, name: str) -> None:
    """`da` is an image or a DCE series (DataArray or Dataset) of real numbers.

    Its values are not looked at (geometry does not depend on them: maps hold NaN outside
    their mask), only its type, dtype and dims.
    """
    _check_xarray(da, name)
    arrays = [da] if isinstance(da, xr.DataArray) else list(da.data_vars.values())
    for v in arrays:
        _check_dtype(v.dtype, name)
    missing = [d for d in SPATIAL_DIMS if d not in da.dims]
    extra = [d for d in da.dims if d not in DCE_DIMS]
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"extra dims {tuple(extra)}"
        raise ValueError(
            f"`{name}` must be an image with dims {SPATIAL_DIMS} or a DCE series with dims "
            f"{DCE_DIMS} (any order): {what} (dims are {tuple(da.dims)})"
        )


def geometry(da: xr.DataArray | xr.Dataset, *, name: str = "da") -> Geometry:
    """Return the SimpleITK geometry of the array as it is now (after any slicing).

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset
        Image with ``z``, ``y``, ``x`` dims (other dims are ignored).
    name : str
        Argument name used in error messages.

    Returns
    -------
    Geometry
        Origin of the current first voxel, positive spacing, direction (an axis whose
        coordinate decreases, e.g. after ``isel(x=slice(None, None, -1))``, has its
        direction column negated).

    Raises
    ------
    ValueError
        If a spatial dim is missing or empty, a coordinate is irregular or geometry attrs
        are invalid; the message names `name`.
    TypeError
        If `da` is not an xarray object.

    Examples
    --------
    >>> img = make_image(np.zeros((3, 4, 5)), spacing=(1.0, 2.0, 3.0), origin=(10, 0, 0))
    >>> geometry(img.isel(x=slice(2, None))).origin
    (12.0, 0.0, 0.0)
    """
    _check_xarray(da, name)
    for d in SPATIAL_DIMS:
        if d not in da.dims:
            raise ValueError(f"`{name}` needs dims {SPATIAL_DIMS}, missing {d!r} (dims are {tuple(da.dims)})")
    aff = _affine_of(da, name)
    fallback = _spacing_attr(da, name)
    direction = aff[:3, :3].copy()
    spacing = np.zeros(3)
    first = np.zeros(3)
    for ax, dim in enumerate(("x", "y", "z")):
        fb = None if not np.isfinite(fallback[ax]) else float(fallback[ax])
        step, c0 = _coord_spacing(da, dim, fb, name)
        if step < 0:
            direction[:, ax] *= -1.0
        spacing[ax] = abs(step)
        first[ax] = c0
    origin = aff[:3, :3] @ first + aff[:3, 3]
    size = (int(da.sizes["x"]), int(da.sizes["y"]), int(da.sizes["z"]))
    return Geometry(
        origin=tuple(float(v) for v in origin),  # type: ignore[arg-type]
        spacing=tuple(float(v) for v in spacing),  # type: ignore[arg-type]
        direction=tuple(float(v) for v in direction.ravel()),  # type: ignore[arg-type]
        size=size,
    )


def world_coordinates(da: xr.DataArray | xr.Dataset, indices: np.ndarray | None = None) -> np.ndarray:
    """LPS world position (mm) of voxels of `da`.

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset
        Image or DCE series (sliced or not); only its geometry is read, so NaN values
        (a map outside its mask) are fine.
    indices : array_like of int or float, shape (n, 3), optional
        Voxel indices in array order ``(z, y, x)`` of the array as it is now. Fractional
        indices are allowed.  All voxels when omitted.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 3)`` for given indices, else ``(nz, ny, nx, 3)``; last axis ``(L, P, S)``.

    Raises
    ------
    TypeError
        If `da` is not an xarray object of real numbers (its values may be NaN: only its
        geometry is used), or `indices` is not real numbers.
    ValueError
        If `da` is neither an image ``(z, y, x)`` nor a DCE series ``(time, z, y, x)``, is
        empty or has invalid geometry, or `indices` is not ``(n, 3)`` or holds NaN/inf.

    Examples
    --------
    >>> img = make_image(np.zeros((2, 2, 2)), spacing=2.0, origin=(1.0, 0.0, 0.0))
    >>> world_coordinates(img, [[0, 0, 1]]).tolist()
    [[3.0, 0.0, 0.0]]
    """
    _check_grid_input(da, "da")
    aff = _affine_of(da, "da")
    if indices is None:
        z, y, x = (np.asarray(coord_values(da, d), dtype=float) for d in SPATIAL_DIMS)
        cz, cy, cx = np.meshgrid(z, y, x, indexing="ij")
        pts = np.stack([cx, cy, cz], axis=-1)
        return pts @ aff[:3, :3].T + aff[:3, 3]
    idx = _points(indices, "indices", "(z, y, x) order")
    geo = geometry(da, name="da")
    m = geo.index_to_world()
    ijk = idx[:, ::-1]
    return ijk @ m[:3, :3].T + m[:3, 3]


def _points(x: Any, name: str, order: str) -> np.ndarray:
    """`x` as a finite float array of shape (n, 3)."""
    if np.iscomplexobj(x):
        raise TypeError(f"`{name}` must be real numbers, shape (n, 3) {order}, got complex values")
    try:
        p = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be numbers, shape (n, 3) {order}, got {type(x).__name__}") from exc
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"`{name}` must have shape (n, 3) {order}, got {p.shape}")
    n_bad = int((~np.isfinite(p)).any(axis=1).sum())
    if n_bad:
        raise ValueError(f"`{name}` must be finite, got {n_bad} row(s) with NaN or infinite values")
    return p


def index_from_world(da: xr.DataArray | xr.Dataset, points: np.ndarray) -> np.ndarray:
    """Map LPS world points to continuous voxel indices ``(z, y, x)`` on the grid of `da`.

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset
        Image or DCE series defining the grid (only its geometry is read).
    points : array_like, shape (n, 3)
        LPS positions (mm).

    Returns
    -------
    numpy.ndarray, shape (n, 3)
        Fractional indices in array order; round them to get voxels.

    Raises
    ------
    TypeError
        If `da` is not an xarray object of real numbers (its values may be NaN: only its
        geometry is used), or `points` is not real numbers.
    ValueError
        If `da` is neither an image ``(z, y, x)`` nor a DCE series ``(time, z, y, x)``, is
        empty or has invalid geometry, or `points` is not ``(n, 3)`` or holds NaN/inf.

    Examples
    --------
    >>> img = make_image(np.zeros((2, 2, 2)), spacing=2.0)
    >>> index_from_world(img, [[2.0, 0.0, 0.0]]).tolist()
    [[0.0, 0.0, 1.0]]
    """
    _check_grid_input(da, "da")
    p = _points(points, "points", "(L, P, S)")
    m = geometry(da, name="da").index_to_world()
    ijk = np.linalg.solve(m[:3, :3], (p - m[:3, 3]).T).T
    return ijk[:, ::-1]


def check_same_grid(
    a: xr.DataArray | xr.Dataset,
    b: xr.DataArray | xr.Dataset,
    *,
    names: tuple[str, str] = ("a", "b"),
    atol: float = 1e-3,
) -> None:
    """Raise ``ValueError`` unless `a` and `b` share the same spatial grid in world space.

    Parameters
    ----------
    a, b : DataArray or Dataset
        Images (3D or DCE).
    names : tuple of 2 str
        Argument names used in the message.
    atol : float
        Tolerance (mm) on origin/spacing and on direction cosines.

    Raises
    ------
    ValueError
        If sizes, origin, spacing or direction differ, or the frames of reference differ.

    Examples
    --------
    >>> check_same_grid(make_image(np.zeros((1, 2, 2))), make_image(np.ones((1, 2, 2))))
    """
    ga, gb = geometry(a, name=names[0]), geometry(b, name=names[1])
    if ga.size != gb.size:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` are on different grids: sizes (x, y, z) {ga.size} vs {gb.size}"
        )
    for field in ("origin", "spacing", "direction"):
        va, vb = np.asarray(getattr(ga, field)), np.asarray(getattr(gb, field))
        if not np.allclose(va, vb, atol=atol, rtol=0):
            raise ValueError(
                f"`{names[0]}` and `{names[1]}` are on different grids: {field} {tuple(np.round(va, 4).tolist())} vs {tuple(np.round(vb, 4).tolist())}"
            )
    fa, fb = a.attrs.get("frame_of_reference"), b.attrs.get("frame_of_reference")
    if fa and fb and fa != fb:
        raise ValueError(f"`{names[0]}` and `{names[1]}` have different frames of reference ({fa} vs {fb})")


def _check_dataarray(da: Any, name: str) -> None:
    if not isinstance(da, xr.DataArray):
        raise TypeError(
            f"`{name}` must be an xarray.DataArray, got {type(da).__name__}"
            " (wrap a NumPy array with dcemets.geometry.make_dce or make_image)"
        )
    _check_dtype(da.dtype, name)


def _check_values(da: xr.DataArray, name: str, allow_nan: bool) -> None:
    if allow_nan or not isinstance(da.data, np.ndarray):
        return  # dask arrays are not computed just to validate
    if da.dtype == bool or np.issubdtype(da.dtype, np.integer):
        return
    bad = ~np.isfinite(da.values)
    n = int(bad.sum())
    if n:
        raise ValueError(f"`{name}` contains {n} NaN or infinite value(s); clean or mask them first")


def validate_image(
    da: Any, *, name: str = "image", mask: bool = False, allow_nan: bool = False
) -> xr.DataArray:
    """Check a 3D image (or mask) and return it in canonical dim order ``("z", "y", "x")``.

    Parameters
    ----------
    da : xarray.DataArray
        The image.
    name : str
        Argument name used in error messages.
    mask : bool
        Require a bool array.
    allow_nan : bool
        Accept NaN/inf values (the caller handles them).

    Returns
    -------
    xarray.DataArray
        `da` itself when its dims are already ``("z", "y", "x")``, else a transposed view
        (never a copy of the data).

    Raises
    ------
    TypeError
        Not a DataArray, not numeric, complex (pass the magnitude, ``np.abs``), or not bool
        when `mask` is set.
    ValueError
        Wrong dims, non-finite values, empty or invalid geometry (the message names `name`).

    Examples
    --------
    >>> validate_image(make_image(np.zeros((1, 2, 3))).transpose("x", "y", "z")).dims
    ('z', 'y', 'x')
    """
    _check_dataarray(da, name)
    if set(da.dims) != set(SPATIAL_DIMS) or da.ndim != 3:
        raise ValueError(f"`{name}` must have dims {SPATIAL_DIMS}, got {tuple(da.dims)}")
    if mask and da.dtype != bool:
        raise TypeError(f"`{name}` must be a bool mask, got dtype {da.dtype}")
    out = da if da.dims == SPATIAL_DIMS else da.transpose(*SPATIAL_DIMS)  # transpose: ~0.1 ms
    geometry(out, name=name)  # raises on bad geometry
    _check_values(out, name, allow_nan)
    return out


def validate_dce(da: Any, *, name: str = "dce", allow_nan: bool = False, min_frames: int = 3) -> xr.DataArray:
    """Check a DCE series and return it in canonical dim order ``("time", "z", "y", "x")``.

    Every layer calls this on its DCE input.

    Parameters
    ----------
    da : xarray.DataArray
        The DCE series.
    name : str
        Argument name used in error messages.
    allow_nan : bool
        Accept NaN/inf values (callers that skip and report bad voxels).
    min_frames : int
        Minimum number of frames, a positive int, 3 by default.

    Returns
    -------
    xarray.DataArray
        `da` itself when its dims are already ``("time", "z", "y", "x")`` and its ``time``
        coordinate is numeric, else a transposed view.  A ``timedelta64`` time coordinate is
        replaced by float seconds, a ``datetime64`` one by float seconds from the first frame
        (its date-time kept in ``time.attrs["first_frame_datetime"]``); the data are not
        copied.

    Raises
    ------
    TypeError
        If `da` is not a numeric DataArray, is complex (pass the magnitude, ``np.abs``), or
        its ``time`` coordinate is complex; if `min_frames` is not an int.
    ValueError
        Wrong or missing dims, no ``time`` coordinate, fewer than `min_frames` frames,
        non-increasing or duplicate times, NaN/inf values, empty or invalid geometry (the
        message names `name`); `min_frames` below 1.

    Examples
    --------
    >>> dce = make_dce(np.ones((3, 1, 2, 2)), [0.0, 10.0, 20.0])
    >>> validate_dce(dce.transpose("x", "time", "y", "z")).dims
    ('time', 'z', 'y', 'x')
    >>> validate_dce(dce.isel(time=[0, 1]))
    Traceback (most recent call last):
    ...
    ValueError: `dce` needs at least 3 frames, got 2
    """
    if isinstance(min_frames, bool) or not isinstance(min_frames, (int, np.integer)):
        raise TypeError(f"`min_frames` must be an int, got {type(min_frames).__name__}")
    if min_frames < 1:
        raise ValueError(f"`min_frames` must be at least 1, got {min_frames}")
    _check_dataarray(da, name)
    if set(da.dims) != set(DCE_DIMS) or da.ndim != 4:
        raise ValueError(f"`{name}` must have dims {DCE_DIMS}, got {tuple(da.dims)}")
    if "time" not in da.coords:
        raise ValueError(f"`{name}` needs a `time` coordinate (seconds from the first frame)")
    t_raw = coord_values(da, "time")
    if not (np.issubdtype(t_raw.dtype, np.number) or t_raw.dtype.kind in "mM"):
        raise ValueError(f"`{name}.time` must be float seconds, got dtype {t_raw.dtype}")
    if t_raw.size < min_frames:
        raise ValueError(f"`{name}` needs at least {min_frames} frames, got {t_raw.size}")
    t = check_times(t_raw, f"{name}.time")
    out = da if da.dims == DCE_DIMS else da.transpose(*DCE_DIMS)
    if t_raw.dtype.kind in "mM":  # timedelta64/datetime64: float seconds (from the first frame)
        attrs = {**da["time"].attrs, "units": "s", "long_name": "time from first frame"}
        if t_raw.dtype.kind == "M":
            attrs["first_frame_datetime"] = str(t_raw[0])
        out = out.assign_coords(time=xr.Variable("time", t, attrs=attrs))
    geometry(out, name=name)
    _check_values(out, name, allow_nan)
    return out


_INTERNAL_PACKAGES = ("dcemets", "xarray", "dask", "numpy", "scipy", "sklearn", "torch", "pandas")
"""Packages whose frames a warning skips to reach the user's line (:func:`warn_user`)."""


def _is_internal(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in _INTERNAL_PACKAGES)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the user's line, not at dcemets' or xarray's internals.

    The ``stacklevel`` is that of the first frame (walking out from the caller) whose module
    is not in dcemets, xarray, dask, numpy, scipy, sklearn, torch or pandas -- so a warning
    raised in a function that ``xarray.apply_ufunc`` calls is attributed to the line of the
    user's code that called the dcemets function.  With no such frame (everything internal,
    e.g. a dask worker thread) it is the outermost one.

    Parameters
    ----------
    message : str
        The warning text.
    category : type of Warning, default UserWarning
        The warning class.

    Examples
    --------
    >>> import warnings
    >>> def library_function():  # a frame this module's name marks as dcemets-internal
    ...     warn_user("look here", RuntimeWarning)
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     library_function()
    >>> w[0].category.__name__, str(w[0].message)
    ('RuntimeWarning', 'look here')
    """
    warnings.warn(message, category, stacklevel=_user_stacklevel(sys._getframe(1)))


def _user_stacklevel(frame: Any, *, importing: bool = False) -> int:
    """The ``stacklevel`` of the first frame out from `frame` (level 2) that is the user's.

    Frames of the packages of :func:`_is_internal` are skipped, and with `importing` those of
    the import machinery too (a warning issued while a module is being imported): the frozen
    ``importlib._bootstrap`` frames, which :func:`warnings.warn` itself leaves out of the
    count, and ``importlib.import_module``'s.
    """
    level = 2
    while frame.f_back is not None:
        code = frame.f_code.co_filename
        if importing and "importlib" in code and "_bootstrap" in code:
            frame = frame.f_back  # not counted: warnings.warn skips these frames too
            continue
        module = str(frame.f_globals.get("__name__", ""))
        if not (_is_internal(module) or (importing and module == "importlib")):
            break
        frame = frame.f_back
        level += 1
    return level


def warn_moved_module(old: str, new: str, *, public: str | None = None) -> None:
    """Warn once, at the importing line, that the module `old` is deprecated for `new`.

    Called at the top level of a deprecated alias module (it runs once per process, when the
    module is first imported).  `public`: the package to import the names from instead,
    when it is not `new` itself.

    Parameters
    ----------
    old, new : str
        Dotted names of the deprecated module and of its replacement.
    public : str, optional
        The public package that exports the same names, named in the message too.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_moved_module("pkg.old", "pkg.new")
    >>> w[0].category.__name__, str(w[0].message)
    ('DeprecationWarning', 'pkg.old is deprecated: it was renamed pkg.new; import from pkg.new (pkg.old will be removed in the next release)')
    """
    where = new if public is None else f"{public} or {new}"
    warnings.warn(
        f"{old} is deprecated: it was renamed {new}; import from {where} "
        f"({old} will be removed in the next release)",
        DeprecationWarning,
        stacklevel=_user_stacklevel(sys._getframe(1), importing=True),
    )
