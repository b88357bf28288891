"""Hypothesis strategies for the fuzz suite: valid small inputs and their corruptions.

Valid inputs are built with the library's own constructors (:func:`dcemets.make_dce`,
:func:`dcemets.make_image`), so they carry the full geometry a user's data has.  A
*corruption* turns one valid argument into one bad argument; every corruption is a pure
function of ``(value, ctx)`` that never modifies `value` (the harness checks that the
library does not either).

Corruptions are grouped by *kind* (what an argument is: a DCE series, a mask, a positive
float, a path to read...).  ``CORRUPTIONS[kind]`` lists them; the registry says which kind
each argument of each public function has.
"""

from __future__ import annotations

import copy
import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from hypothesis import strategies as st

from dcemets import make_dce, make_image

# --------------------------------------------------------------------------------------
# valid inputs
# --------------------------------------------------------------------------------------

SPACINGS = [(1.0, 1.0, 1.0), (0.8, 0.8, 3.0), (1.5, 1.5, 2.0)]
DIRECTIONS = [
    None,
    (0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0),  # DICOM-like sagittal
    (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0),
]


@st.composite
def frame_times(draw: Any, n: int | None = None, *, min_frames: int = 3, max_frames: int = 6) -> np.ndarray:
    """Strictly increasing float seconds starting at 0."""
    n = n if n is not None else draw(st.integers(min_frames, max_frames))
    steps = draw(st.lists(st.sampled_from([2.0, 5.0, 10.0, 12.0]), min_size=n - 1, max_size=n - 1))
    return np.concatenate([[0.0], np.cumsum(steps)]) if n > 1 else np.zeros(1)


@st.composite
def dce_arrays(
    draw: Any,
    *,
    shape: tuple[int, int, int] | None = None,
    n_frames: int | None = None,
    times: np.ndarray | None = None,
    dtype: Any = np.float64,
) -> xr.DataArray:
    """A small enhancing DCE series (time, z, y, x) with random geometry."""
    nz, ny, nx = shape or (draw(st.integers(1, 3)), draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    t = np.asarray(times, float) if times is not None else draw(frame_times(n_frames))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    base = rng.uniform(80.0, 120.0, (nz, ny, nx))
    gain = rng.uniform(0.0, 1.5, (nz, ny, nx))
    uptake = np.clip(t / max(t[-1], 1.0) * 2.0, 0.0, 1.0)
    sig = base[None] * (1.0 + gain[None] * uptake[:, None, None, None])
    spacing = draw(st.sampled_from(SPACINGS))
    direction = draw(st.sampled_from(DIRECTIONS))
    origin = tuple(draw(st.sampled_from([0.0, -10.0, 25.5])) for _ in range(3))
    return make_dce(
        sig.astype(dtype),
        t,
        spacing=spacing,
        origin=origin,
        direction=direction,
        attrs={"tr_s": 0.0041, "flip_angle_deg": 10.0},
    )


@st.composite
def images(draw: Any, *, shape: tuple[int, int, int] | None = None, like: xr.DataArray | None = None):
    """A small float image; on the grid of `like` when given."""
    if like is not None:
        vals = draw(st.integers(0, 2**16))
        rng = np.random.default_rng(vals)
        from dcemets._conventions import like as _like

        shp = tuple(like.sizes[d] for d in ("z", "y", "x"))
        return _like(like, rng.uniform(0.0, 100.0, shp))
    nz, ny, nx = shape or (draw(st.integers(1, 3)), draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return make_image(
        rng.uniform(0.0, 100.0, (nz, ny, nx)),
        spacing=draw(st.sampled_from(SPACINGS)),
        direction=draw(st.sampled_from(DIRECTIONS)),
    )


def mask_like(template: xr.DataArray, draw: Any, *, min_true: int = 1) -> xr.DataArray:
    """A bool mask on the grid of `template` with at least `min_true` voxels set."""
    from dcemets._conventions import like as _like

    shp = tuple(template.sizes[d] for d in ("z", "y", "x"))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    m = rng.random(shp) < 0.6
    flat = m.reshape(-1)
    flat[: min(min_true, flat.size)] = True
    return _like(template, m, name="mask")


# --------------------------------------------------------------------------------------
# corruption machinery
# --------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a valid-args builder or a corruption may use: hypothesis' draw and a temp dir."""

    draw: Callable[[Any], Any]
    tmp: Path


@dataclass(frozen=True)
class Corruption:
    """One way to make an argument bad.

    `ok` marks a variant the library documents as accepted (e.g. dims in another order):
    the expected outcome is then a finite result, not an error.
    """

    name: str
    fn: Callable[[Any, Ctx], Any]
    ok: bool = False
    why: str = ""


def _copy(v: Any) -> Any:
    return copy.deepcopy(v)


def _with_values(da: xr.DataArray, values: np.ndarray) -> xr.DataArray:
    return da.copy(data=values)


def _set_nonfinite(value: float) -> Callable[[Any, Ctx], Any]:
    def fn(da: Any, ctx: Ctx) -> Any:
        if isinstance(da, xr.Dataset):
            out = da.copy(deep=True)
            name = next(iter(out.data_vars))
            out[name] = fn(out[name], ctx)
            return out
        # C order: `reshape(-1)` below must be a view (a DataFrame's array is in F order,
        # where it was a copy and the NaN/inf never reached the table)
        if isinstance(da, xr.DataArray):
            v = np.array(da.values, dtype=float, order="C")
        else:
            v = np.array(da, dtype=float, order="C")
        if v.size == 0:
            return v
        i = ctx.draw(st.integers(0, v.size - 1))
        v.reshape(-1)[i] = value
        if isinstance(da, xr.DataArray):
            return _with_values(da, v)
        if isinstance(da, pd.DataFrame):
            return pd.DataFrame(v, index=da.index, columns=da.columns)
        return v

    return fn


def _astype(dtype: Any) -> Callable[[Any, Ctx], Any]:
    def fn(da: Any, ctx: Ctx) -> Any:
        if isinstance(da, xr.Dataset):
            return da.map(lambda v: v.astype(dtype))
        if isinstance(da, (xr.DataArray, pd.DataFrame, pd.Series)):
            return da.astype(dtype)
        return np.asarray(da).astype(dtype)

    return fn


def _set_time(mod: Callable[[np.ndarray], Any]) -> Callable[[Any, Ctx], Any]:
    def fn(da: xr.DataArray, ctx: Ctx) -> xr.DataArray:
        t = np.array(da["time"].values, dtype=float)
        return da.assign_coords(time=("time", mod(t), dict(da["time"].attrs)))

    return fn


def _dup(t: np.ndarray) -> np.ndarray:
    t = t.copy()
    t[1] = t[0]
    return t


def _unsorted(t: np.ndarray) -> np.ndarray:
    return t[::-1].copy()


def _nan_time(t: np.ndarray) -> np.ndarray:
    t = t.astype(float).copy()
    t[-1] = np.nan
    return t


def _renamed(da: Any, ctx: Ctx) -> Any:
    return da.rename({"x": "col"})


def _extra_dim(da: Any, ctx: Ctx) -> Any:
    return da.expand_dims(echo=[1])


def _empty(da: Any, ctx: Ctx) -> Any:
    return da.isel(x=slice(0, 0))


def _transposed(da: Any, ctx: Ctx) -> Any:
    return da.transpose(*reversed(da.dims))


def _drop_time(da: Any, ctx: Ctx) -> Any:
    return da.isel(time=0, drop=True)


def _no_time_coord(da: Any, ctx: Ctx) -> Any:
    return da.drop_vars("time")


def _irregular(da: Any, ctx: Ctx) -> Any:
    x = np.array(da["x"].values, dtype=float)
    x[-1] = x[-1] + 0.37 * (x[1] - x[0] if x.size > 1 else 1.0)
    return da.assign_coords(x=("x", x, dict(da["x"].attrs)))


def _bad_affine(da: Any, ctx: Ctx) -> Any:
    out = da.copy()
    out.attrs = dict(da.attrs)
    out.attrs["affine"] = [float("nan")] * 16
    return out


def _wrong_grid(da: Any, ctx: Ctx) -> Any:
    """Same array on a grid one voxel wider (x)."""
    v = np.asarray(da.values)
    pad = [(0, 0)] * (v.ndim - 1) + [(0, 1)]
    v2 = np.pad(v, pad)
    sp = da.attrs.get("spacing_mm", [1.0, 1.0, 1.0])
    aff = np.asarray(da.attrs.get("affine", np.eye(4).ravel()), float).reshape(4, 4)
    if v.ndim == 4:
        return make_dce(v2, da["time"].values, spacing=sp, origin=aff[:3, 3], direction=aff[:3, :3].ravel())
    return make_image(v2, spacing=sp, origin=aff[:3, 3], direction=aff[:3, :3].ravel(), name=da.name)


def _shifted_grid(da: Any, ctx: Ctx) -> Any:
    """Same shape, origin moved by 50 mm."""
    out = da.copy()
    out.attrs = dict(da.attrs)
    aff = np.asarray(da.attrs["affine"], float).reshape(4, 4).copy()
    aff[:3, 3] += 50.0
    out.attrs["affine"] = aff.ravel().tolist()
    return out


def _all_false(da: Any, ctx: Ctx) -> Any:
    return da.copy(data=np.zeros(da.shape, bool))


def _numpy(da: Any, ctx: Ctx) -> Any:
    return np.array(da.values) if hasattr(da, "values") else np.array(da)


def _tolist(da: Any, ctx: Ctx) -> Any:
    return np.asarray(getattr(da, "values", da)).tolist()


_TIMEDELTA = "timedelta64/datetime64 frame times are read as seconds from the first frame (issue 16.6)"


def const(v: Any) -> Callable[[Any, Ctx], Any]:
    """A corruption that replaces the argument by `v` (a fresh deep copy each time)."""
    return lambda _value, _ctx: copy.deepcopy(v)


WRONG_TYPES = [
    Corruption("none", const(None)),
    Corruption("str", const("fuzz")),
    Corruption("dict", const({"fuzz": 1})),
]

ARRAY_VALUES = [
    Corruption("nan", _set_nonfinite(np.nan)),
    Corruption("inf", _set_nonfinite(np.inf)),
    Corruption("complex", _astype(np.complex128)),
    Corruption("object_dtype", _astype(object)),
    Corruption("str_dtype", _astype(str)),
]

_DA_COMMON = [
    *WRONG_TYPES,
    Corruption("list", _tolist),
    Corruption("numpy", _numpy),
    *ARRAY_VALUES,
    Corruption("dims_renamed", _renamed),
    Corruption("extra_dim", _extra_dim),
    Corruption("empty", _empty),
    Corruption("irregular_grid", _irregular),
    Corruption("nan_affine", _bad_affine),
    Corruption(
        "transposed", _transposed, ok=True, why="dims in any order are accepted (validate_dce/validate_image)"
    ),
]

# dtypes that are not numbers, and timedelta/datetime times
DCE = [
    *_DA_COMMON,
    Corruption("not_4d", _drop_time),
    Corruption("no_time_coord", _no_time_coord),
    Corruption("single_frame", lambda da, ctx: da.isel(time=[0])),
    Corruption("two_frames", lambda da, ctx: da.isel(time=[0, 1])),
    Corruption("nan_time", _set_time(_nan_time)),
    Corruption("duplicate_time", _set_time(_dup)),
    Corruption("unsorted_time", _set_time(_unsorted)),
    Corruption(
        "timedelta_time",
        lambda da, ctx: da.assign_coords(time=pd.to_timedelta(np.asarray(da["time"].values), unit="s")),
        ok=True,
        why=_TIMEDELTA,
    ),
    Corruption(
        "datetime_time",
        lambda da, ctx: da.assign_coords(
            time=pd.Timestamp("2020-01-01") + pd.to_timedelta(np.asarray(da["time"].values), unit="s")
        ),
        ok=True,
        why=_TIMEDELTA,
    ),
    Corruption("str_time", lambda da, ctx: da.assign_coords(time=[f"t{i}" for i in range(da.sizes["time"])])),
]

IMAGE = [
    *_DA_COMMON,
    Corruption("is_4d", lambda da, ctx: da.expand_dims(time=[0.0, 1.0, 2.0])),
    Corruption("is_2d", lambda da, ctx: da.isel(z=0, drop=True)),
]

# an image that must share the grid of another argument
GRID_IMAGE = [*IMAGE, Corruption("wrong_grid", _wrong_grid), Corruption("shifted_grid", _shifted_grid)]

MASK = [
    *[c for c in _DA_COMMON if c.name not in {"nan", "inf", "complex"}],
    Corruption("is_2d", lambda da, ctx: da.isel(z=0, drop=True)),
    Corruption("all_false", _all_false),
    Corruption("float_mask", _astype(float)),
    Corruption(
        "int_mask", _astype(np.int64), ok=True, why="a 0/1 integer mask reads as bool (an error is fine too)"
    ),
    Corruption("wrong_grid", _wrong_grid),
    Corruption("shifted_grid", _shifted_grid),
]

# plain numpy arrays (array_like arguments)
ARRAY = [
    Corruption("none", const(None)),
    Corruption("str", const("fuzz")),
    Corruption("dict", const({"fuzz": 1})),
    Corruption("empty", lambda v, ctx: np.asarray(v)[..., :0]),
    *ARRAY_VALUES,
]

ARRAY_ND = [
    *ARRAY,
    Corruption("scalar", const(1.0)),
    Corruption("extra_axis", lambda v, ctx: np.asarray(v)[None, None]),
]

TIMES = [
    Corruption("none", const(None)),
    Corruption("str", const("fuzz")),
    Corruption("dict", const({"fuzz": 1})),
    *ARRAY_VALUES[:3],
    Corruption("empty", const(np.zeros(0))),
    Corruption("single", lambda v, ctx: np.asarray(v, float)[:1]),
    Corruption("two_d", lambda v, ctx: np.asarray(v, float)[None, :]),
    Corruption("duplicate", lambda v, ctx: _dup(np.asarray(v, float))),
    Corruption("unsorted", lambda v, ctx: _unsorted(np.asarray(v, float))),
    Corruption(
        "timedelta",
        lambda v, ctx: pd.to_timedelta(np.asarray(v, float), unit="s").to_numpy(),
        ok=True,
        why=_TIMEDELTA,
    ),
    Corruption("wrong_length", lambda v, ctx: np.append(np.asarray(v, float), np.asarray(v, float)[-1] + 10)),
]

# numbers
_NUM_TYPES = [
    Corruption("str", const("fuzz")),
    Corruption("list", const([1.0, 2.0])),
    Corruption("complex", const(1 + 1j)),
]
REAL = [*_NUM_TYPES, Corruption("nan", const(float("nan"))), Corruption("inf", const(float("inf")))]
POSITIVE = [*REAL, Corruption("zero", const(0.0)), Corruption("negative", const(-1.0))]
# a positive number or an array of them (a T10 map): a list is not a corruption, a wrong shape is
POSITIVE_ARRAY = [
    *[c for c in POSITIVE if c.name != "list"],
    Corruption("wrong_shape", const(np.full(7, 1.2))),
]
NONNEG = [*REAL, Corruption("negative", const(-1.0))]
FRACTION = [*REAL, Corruption("negative", const(-0.5)), Corruption("above_one", const(1.5))]
INT_COMMON = [*_NUM_TYPES, Corruption("float", const(1.5)), Corruption("nan", const(float("nan")))]
POS_INT = [*INT_COMMON, Corruption("zero", const(0)), Corruption("negative", const(-3))]
NONNEG_INT = [*INT_COMMON, Corruption("negative", const(-3))]
CHOICE = [Corruption("unknown", const("no-such-option")), Corruption("int", const(3))]
TEXT = [Corruption("int", const(3)), Corruption("list", const(["a"]))]
RNG = [
    Corruption("negative_seed", const(-1)),
    Corruption("str", const("fuzz")),
    Corruption("float", const(0.5)),
    Corruption("list", const([1, 2])),
]
LABELS = [
    Corruption("none", const(None)),
    Corruption("str", const("fuzz")),
    Corruption("empty", lambda v, ctx: np.asarray(v)[:0]),
    Corruption("single_class", lambda v, ctx: np.full(len(v), np.asarray(v)[0])),
    Corruption("wrong_length", lambda v, ctx: np.asarray(v)[:-1]),
    Corruption("two_d", lambda v, ctx: np.asarray(v)[:, None].repeat(2, axis=1)),
    Corruption(
        "nan_label", lambda v, ctx: np.where(np.arange(len(v)) == 0, np.nan, np.asarray(v, dtype=object))
    ),
]
# a feature matrix (n_samples rows)
FEATURES = [
    Corruption("none", const(None)),
    Corruption("str", const("fuzz")),
    Corruption("nan", _set_nonfinite(np.nan)),
    Corruption("inf", _set_nonfinite(np.inf)),
    Corruption("complex", _astype(np.complex128)),
    Corruption("str_dtype", _astype(str)),
    Corruption("one_d", lambda v, ctx: np.asarray(v, dtype=float)[:, 0]),
    Corruption("empty", lambda v, ctx: np.asarray(v, dtype=float)[:0]),
    Corruption(
        "wrong_rows", lambda v, ctx: v.iloc[:-1] if isinstance(v, pd.DataFrame) else np.asarray(v)[:-1]
    ),
]


# files
def _file_with(data: bytes, suffix: str) -> Callable[[Any, Ctx], Path]:
    def fn(_value: Any, ctx: Ctx) -> Path:
        p = ctx.tmp / f"fuzz_{len(list(ctx.tmp.iterdir()))}{suffix}"
        p.write_bytes(data)
        return p

    return fn


def _truncated(value: Any, ctx: Ctx) -> Path:
    p = Path(value)
    data = p.read_bytes()
    out = ctx.tmp / ("truncated_" + p.name)
    out.write_bytes(data[: len(data) // 2])
    return out


def _suffix_of(value: Any) -> str:
    name = Path(value).name
    for s in (".nii.gz", ".nii", ".nrrd", ".mha", ".csv", ".json"):
        if name.endswith(s):
            return s
    return Path(name).suffix


def _same_suffix(data: bytes) -> Callable[[Any, Ctx], Path]:
    def fn(value: Any, ctx: Ctx) -> Path:
        return _file_with(data, _suffix_of(value))(value, ctx)

    return fn


PATH_IN = [
    Corruption("none", const(None)),
    Corruption("int", const(3)),
    Corruption("missing", lambda v, ctx: ctx.tmp / "does_not_exist.nii.gz"),
    Corruption("directory", lambda v, ctx: ctx.tmp),
    Corruption("empty_file", _same_suffix(b"")),
    Corruption("truncated", _truncated),
    Corruption("wrong_format", _same_suffix(b"this is a text file, not an image\n")),
    Corruption("non_utf8", _same_suffix(b"\xff\xfe\xfa\x00\x81 not utf-8 \xc3\x28")),
    Corruption("gzip_of_text", _same_suffix(gzip.compress(b"hello"))),
    Corruption("unknown_suffix", _file_with(b"data", ".xyz")),
]

PATH_OUT = [
    Corruption("none", const(None)),
    Corruption("int", const(3)),
    Corruption("is_directory", lambda v, ctx: ctx.tmp),
    Corruption("unknown_suffix", lambda v, ctx: ctx.tmp / "out.xyz"),
    Corruption(
        "parent_is_file",
        lambda v, ctx: _file_with(b"x", ".txt")(v, ctx) / "out.nii.gz",
    ),
]

DIR_OUT = [
    Corruption("none", const(None)),
    Corruption("int", const(3)),
    Corruption("is_file", _file_with(b"x", ".txt")),
    Corruption("parent_is_file", lambda v, ctx: _file_with(b"x", ".txt")(v, ctx) / "out"),
]

DIR_IN = [
    Corruption("none", const(None)),
    Corruption("int", const(3)),
    Corruption("missing", lambda v, ctx: ctx.tmp / "no_such_dir"),
    Corruption("is_file", _file_with(b"x", ".txt")),
    Corruption("empty_dir", lambda v, ctx: (ctx.tmp / "empty_dir").mkdir() or (ctx.tmp / "empty_dir")),
]

CORRUPTIONS: dict[str, list[Corruption]] = {
    "dce": DCE,
    "image": IMAGE,
    "grid_image": GRID_IMAGE,
    "mask": MASK,
    "array": ARRAY,
    "array_nd": ARRAY_ND,
    "times": TIMES,
    "real": REAL,
    "positive": POSITIVE,
    "positive_array": POSITIVE_ARRAY,
    "nonneg": NONNEG,
    "fraction": FRACTION,
    "pos_int": POS_INT,
    "nonneg_int": NONNEG_INT,
    "choice": CHOICE,
    "text": TEXT,
    "rng": RNG,
    "labels": LABELS,
    "features": FEATURES,
    "path_in": PATH_IN,
    "path_out": PATH_OUT,
    "dir_in": DIR_IN,
    "dir_out": DIR_OUT,
    "object": [*WRONG_TYPES, Corruption("int", const(3))],
}


def corruptions(kind: str) -> list[Corruption]:
    """The corruptions of argument kind `kind`."""
    return CORRUPTIONS[kind]
