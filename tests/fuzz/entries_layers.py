"""Per-layer fuzz entries (registered into :data:`tests.fuzz.registry.REGISTRY`).

Each valid call follows the function's docstring example, shrunk to run in milliseconds.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from hypothesis import strategies as st

from dcemets.study import StudyConfig

from . import strategies as S
from .registry import (
    SKLEARN_VALIDATION,
    Entry,
    Result,
    draw_dce,
    draw_image,
    mask_of,
    not_fuzzable,
    register,
    scores,
    sim_case,
    small_xy,
)
from .strategies import Corruption, Ctx, const

# --------------------------------------------------------------------------------------
# extra argument kinds
# --------------------------------------------------------------------------------------


def _rename_time(da: Any, ctx: Ctx) -> Any:
    return da.rename({"time": "t"})


S.CORRUPTIONS["series"] = [  # a DataArray with a `time` dim (ROI curve, voxels x time)
    *S.WRONG_TYPES,
    *S.ARRAY_VALUES,
    Corruption("no_time_dim", _rename_time),
    Corruption("single_frame", lambda da, ctx: da.isel(time=[0])),
    Corruption("nan_time", S._set_time(S._nan_time)),
    Corruption("duplicate_time", S._set_time(S._dup)),
    Corruption("unsorted_time", S._set_time(S._unsorted)),
    Corruption(
        "timedelta_time",
        lambda da, ctx: da.assign_coords(time=pd.to_timedelta(np.asarray(da["time"].values), unit="s")),
        ok=True,
        why=S._TIMEDELTA,
    ),
]
S.CORRUPTIONS["array2d"] = [
    *S.WRONG_TYPES,
    *S.ARRAY_VALUES,
    Corruption("empty", lambda v, ctx: np.asarray(v)[:0]),
    Corruption("three_d", lambda v, ctx: np.asarray(v)[None]),
    Corruption("one_d", lambda v, ctx: np.asarray(v)[0]),
]
S.CORRUPTIONS["bool2d"] = [
    *S.WRONG_TYPES,
    Corruption("all_false", lambda v, ctx: np.zeros(np.shape(v), bool)),
    Corruption("wrong_shape", lambda v, ctx: np.asarray(v)[:-1]),
    Corruption("float_nan", lambda v, ctx: np.where(np.asarray(v), np.nan, 0.0)),
]
S.CORRUPTIONS["mask_array"] = [  # numpy/DataArray mask on the image's shape (radiomics)
    *S.WRONG_TYPES,
    Corruption("all_false", lambda v, ctx: np.zeros(np.shape(v), bool)),
    Corruption("wrong_shape", lambda v, ctx: np.asarray(v)[..., :-1]),
    Corruption("float_nan", lambda v, ctx: np.where(np.asarray(v), np.nan, 0.0)),
    Corruption("str_dtype", S._astype(str)),
]
S.CORRUPTIONS["image_array"] = [
    *S.WRONG_TYPES,
    *S.ARRAY_VALUES,
    Corruption("empty", lambda v, ctx: np.asarray(v)[..., :0]),
]
S.CORRUPTIONS["table"] = [  # a contingency table
    *S.WRONG_TYPES,
    Corruption("negative", lambda v, ctx: -np.asarray(v)),
    Corruption("nan", S._set_nonfinite(np.nan)),
    Corruption("inf", S._set_nonfinite(np.inf)),
    Corruption("one_d", lambda v, ctx: np.asarray(v)[0]),
    Corruption("empty", lambda v, ctx: np.zeros((0, 2))),
    Corruption("fractional", lambda v, ctx: np.asarray(v) + 0.5),
]
S.CORRUPTIONS["dataframe"] = [
    *S.WRONG_TYPES,
    Corruption("numpy", lambda v, ctx: v.to_numpy()),
    Corruption("empty", lambda v, ctx: v.iloc[:0]),
    Corruption("nan", lambda v, ctx: v.assign(**{v.select_dtypes("number").columns[0]: np.nan})),
    Corruption("inf", lambda v, ctx: v.assign(**{v.select_dtypes("number").columns[0]: np.inf})),
]
S.CORRUPTIONS["column"] = [
    Corruption("missing", const("no_such_column")),
    Corruption("int", const(3)),
    Corruption("none", const(None)),
]
S.CORRUPTIONS["estimator"] = [*S.WRONG_TYPES, Corruption("class_not_instance", const(type))]
S.CORRUPTIONS["cases"] = [
    *S.WRONG_TYPES,
    Corruption("empty", const([])),
    Corruption("not_a_case", const([1, 2])),
    Corruption("duplicate_id", lambda v, ctx: [v[0], copy.deepcopy(v[0])]),
    Corruption("bad_dce", lambda v, ctx: [_case_with(v[0], dce=v[0].dce.isel(time=[0]))]),
    Corruption("nan_dce", lambda v, ctx: [_case_with(v[0], dce=S._set_nonfinite(np.nan)(v[0].dce, ctx))]),
]
S.CORRUPTIONS["case"] = [
    *S.WRONG_TYPES,
    Corruption("bad_dce", lambda v, ctx: _case_with(v, dce=v.dce.isel(time=[0]))),
    Corruption("nan_dce", lambda v, ctx: _case_with(v, dce=S._set_nonfinite(np.nan)(v.dce, ctx))),
    Corruption("no_roi", lambda v, ctx: _case_with(v, roi_sagittal=None)),
    Corruption("bad_label", lambda v, ctx: _case_with(v, label="fuzz")),
]
# joblib's n_jobs: a negative value counts back from the number of cores (documented by joblib)
S.CORRUPTIONS["n_jobs"] = [c for c in S.POS_INT if c.name != "negative"]
S.CORRUPTIONS["seq_int"] = [
    *S.WRONG_TYPES,
    Corruption("empty", const([])),
    Corruption("zero", const([0, 1])),
    Corruption("float", const([1.5])),
    Corruption("negative", const([-1])),
]
S.CORRUPTIONS["tensor"] = [
    *S.WRONG_TYPES,
    Corruption("numpy", lambda v, ctx: v.numpy()),
    Corruption("wrong_ndim", lambda v, ctx: v[0]),
    Corruption("wrong_channels", lambda v, ctx: _torch().cat([v, v], dim=-3)),
    Corruption("nan", lambda v, ctx: v.clone().fill_(float("nan"))),
    Corruption("int_dtype", lambda v, ctx: v.to(_torch().int64)),
    Corruption("empty", lambda v, ctx: v[:0]),
]
S.CORRUPTIONS["result"] = [*S.WRONG_TYPES, Corruption("int", const(3))]
S.CORRUPTIONS["argv"] = [
    Corruption("unknown_command", const(["fuzz"])),
    Corruption("empty", const([])),
    Corruption("bad_option", const(["simulate", "--fuzz"])),
    Corruption("bad_int", const(["simulate", "--out", "x", "--seed", "abc"])),
    Corruption(
        "negative_jobs",
        lambda v, ctx: ["segment", "--cohort", str(ctx.tmp), "--out", str(ctx.tmp), "--jobs", "0"],
    ),
    Corruption(
        "missing_cohort",
        lambda v, ctx: ["features", "--cohort", str(ctx.tmp / "nope"), "--out", str(ctx.tmp)],
    ),
    Corruption("bad_preset", lambda v, ctx: ["replicate", "--preset", "fuzz", "--out", str(ctx.tmp)]),
]


def _torch() -> Any:
    import torch

    return torch


def _case_with(case: Any, **changes: Any) -> Any:
    out = copy.deepcopy(case)
    for k, v in changes.items():
        object.__setattr__(out, k, v)
    return out


# --------------------------------------------------------------------------------------
# kinetics
# --------------------------------------------------------------------------------------

_T = np.arange(12) * 12.0


def _aif_args(ctx: Ctx) -> dict[str, Any]:
    return {"time": np.linspace(-10.0, 300.0, ctx.draw(st.integers(3, 40)))}


register(
    Entry(
        "dcemets.kinetics.biexponential_aif",
        valid=_aif_args,
        args={
            "time": "array",
            "dose": "positive",
            "a1": "nonneg",
            "m1": "positive",
            "a2": "nonneg",
            "m2": "positive",
        },
    )
)
register(Entry("dcemets.kinetics.parker_aif", valid=_aif_args, args={"time": "array", "hct": "fraction"}))
register(
    Entry(
        "dcemets.kinetics.population_aif",
        valid=lambda ctx: {
            **_aif_args(ctx),
            "model": ctx.draw(st.sampled_from(["parker", "georgiou", "weinmann", "fritz_hansen"])),
            "dose": 0.1,
            "hct": 0.42,
            "output": ctx.draw(st.sampled_from(["plasma", "blood"])),
        },
        documented={"time:empty": Result("an empty time array gives an empty curve (elementwise)")},
        args={
            "time": "array",
            "model": "choice",
            "delay": "real",
            "dose": "positive",
            "hct": "fraction",
            "output": "choice",
        },
    )
)
not_fuzzable("dcemets.kinetics.POPULATION_AIFS", "a constant read-only table of published parameters")
for _f, _c in (("blood_to_plasma", "cb"), ("plasma_to_blood", "cp")):
    register(
        Entry(
            f"dcemets.kinetics.{_f}",
            valid=lambda ctx, _c=_c: {_c: np.linspace(0.0, 5.0, 7), "hct": 0.42},
            args={_c: "array", "hct": "fraction"},
            documented={
                f"{_c}:nan": Result("elementwise: NaN/inf samples stay NaN/inf (docstring)", nan_ok=True),
                f"{_c}:inf": Result("elementwise: NaN/inf samples stay NaN/inf (docstring)", nan_ok=True),
                f"{_c}:empty": Result("elementwise: an empty array converts to an empty array (docstring)"),
            },
        )
    )


def _image_aif_args(ctx: Ctx) -> dict[str, Any]:
    from dcemets.kinetics import population_aif

    t = np.arange(0.0, 120.0, 6.0)
    vol = np.zeros((t.size, 1, 4, 4))
    vol[:, 0, 0, :2] = population_aif(t, delay=12.0, output="blood")[:, None]
    vol[:, 0, 1:, :] = 0.3 * (t > 24)[:, None, None]
    from dcemets._conventions import make_dce

    dce = make_dce(vol, t)
    return {"dce": dce, "mask": dce.isel(time=0) > -1.0, "n_voxels": 2, "top_fraction": 0.5}


register(
    Entry(
        "dcemets.kinetics.image_aif",
        valid=_image_aif_args,
        args={
            "dce": "dce",
            "mask": "mask",
            "n_voxels": "pos_int",
            "n_baseline": "pos_int",
            "top_fraction": "fraction",
            "max_delay": "nonneg",
            "roughness_factor": "positive",
            "pv_fraction": "fraction",
        },
        documented={
            "mask:numpy": Result(
                "an ndarray mask of the spatial shape is accepted (docstring, issue 22 item 10)"
            )
        },
    )
)


def _vfa_args(ctx: Ctx) -> dict[str, Any]:
    fa = np.array([2.0, 5.0, 10.0, 15.0])
    n = ctx.draw(st.integers(1, 4))
    t1 = np.linspace(0.5, 2.0, n)[:, None]
    e = np.exp(-0.005 / t1)
    a = np.deg2rad(fa)
    return {"signal": 1000.0 * np.sin(a) * (1 - e) / (1 - np.cos(a) * e), "flip_angle": fa, "tr": 0.005}


S.CORRUPTIONS["t1_bounds"] = [
    Corruption("reversed", const((2.0, 1.0))),
    Corruption("nan", const((np.nan, 1.0))),
    Corruption("scalar", const(1.0)),
    Corruption("str", const("fuzz")),
]
register(
    Entry(
        "dcemets.kinetics.fit_t1_vfa",
        valid=_vfa_args,
        args={
            "signal": "array",
            "flip_angle": "array",
            "tr": "positive",
            "b1": "positive_array",
            "method": "choice",
            "t1_bounds": "t1_bounds",
        },
        documented={
            "signal:nan": Result(
                "voxels with NaN/inf samples: NaN t10/m0, success False (docstring)", nan_ok=True
            ),
            "signal:inf": Result(
                "voxels with NaN/inf samples: NaN t10/m0, success False (docstring)", nan_ok=True
            ),
        },
    )
)


def _hifi_args(ctx: Ctx) -> dict[str, Any]:
    from dcemets.kinetics.t1 import _ir_spgr_shape

    n = ctx.draw(st.integers(1, 3))
    t1, k = np.linspace(0.8, 1.5, n), np.linspace(0.9, 1.1, n)
    fa = np.array([4.0, 18.0])
    a = np.deg2rad(fa) * k[:, None]
    e = np.exp(-0.0082 / t1)[:, None]
    seq = {"ir_flip_angle": 5.0, "ir_esp": 0.0082, "ti": 0.45, "n_readout": 64, "td": 0.3, "centre": 0.5}
    ir = 1000.0 * _ir_spgr_shape(t1, k, *seq.values())
    spgr = 1000.0 * np.sin(a) * (1 - e) / (1 - np.cos(a) * e)
    return {"spgr": spgr, "ir": ir, "flip_angle": fa, "tr": 0.0082, **seq}


S.CORRUPTIONS["b1_bounds"] = S.CORRUPTIONS["t1_bounds"]
register(
    Entry(
        "dcemets.kinetics.fit_t1_hifi",
        valid=_hifi_args,
        args={
            "spgr": "array",
            "ir": "array",
            "ir_flip_angle": "positive",
            "ir_esp": "positive",
            "ti": "positive",
            "n_readout": "pos_int",
            "td": "nonneg",
            "centre": "fraction",
            "flip_angle": "array",
            "tr": "positive",
            "t1_bounds": "t1_bounds",
            "b1_bounds": "b1_bounds",
        },
        documented={
            "spgr:nan": Result(
                "voxels with NaN/inf samples: NaN maps, success False (docstring)", nan_ok=True
            ),
            "spgr:inf": Result(
                "voxels with NaN/inf samples: NaN maps, success False (docstring)", nan_ok=True
            ),
            "ir:nan": Result("voxels with NaN/inf samples: NaN maps, success False (docstring)", nan_ok=True),
            "ir:inf": Result("voxels with NaN/inf samples: NaN maps, success False (docstring)", nan_ok=True),
        },
        max_examples=2,
    )
)


register(
    Entry(
        "dcemets.kinetics.ir_spgr_signal",
        valid=lambda ctx: {
            "t1": np.linspace(0.8, 1.5, ctx.draw(st.integers(1, 3))),
            "ir_flip_angle": 5.0,
            "ir_esp": 0.0082,
            "ti": 0.45,
            "n_readout": 64,
            "td": 0.3,
        },
        args={
            "t1": "array",
            "ir_flip_angle": "positive",
            "ir_esp": "positive",
            "ti": "positive",
            "n_readout": "pos_int",
            "td": "nonneg",
            "centre": "fraction",
            "b1": "positive_array",
            "m0": "positive_array",
        },
    )
)


def _conc(ctx: Ctx) -> np.ndarray:
    n = ctx.draw(st.integers(1, 4))
    return np.outer(np.linspace(0.0, 1.0, n), np.r_[0.0, 0.0, np.linspace(0.2, 2.0, 6)])


_SPGR = {"t10": "positive_array", "flip_angle": "positive", "tr": "positive", "r1": "positive"}
register(
    Entry(
        "dcemets.kinetics.concentration_to_signal",
        valid=lambda ctx: {
            "conc": _conc(ctx),
            "t10": 1.2,
            "flip_angle": 10.0,
            "tr": 0.0041,
            "r1": 4.5,
            "m0": 1000.0,
        },
        args={"conc": "array", **_SPGR, "m0": "positive_array"},
        # m0 is documented "finite and >= 0": zero proton density (air) gives no signal, and
        # the simulator's air tissue uses it
        documented={"m0:zero": Result("`m0` >= 0 is documented; m0 = 0 (air) gives zero signal")},
    )
)


def _signal(ctx: Ctx) -> np.ndarray:
    from dcemets.kinetics import concentration_to_signal

    return concentration_to_signal(_conc(ctx), t10=1.2, flip_angle=10, tr=0.0041, r1=4.5, m0=1000.0)


register(
    Entry(
        "dcemets.kinetics.signal_to_concentration",
        valid=lambda ctx: {
            "signal": _signal(ctx),
            "t10": 1.2,
            "flip_angle": 10.0,
            "tr": 0.0041,
            "r1": 4.5,
            "n_baseline": 2,
        },
        args={"signal": "array", **_SPGR, "n_baseline": "pos_int"},
        documented={  # docstring: NaN/inf samples give NaN, skipped and reported downstream
            "signal:nan": Result("NaN input samples stay NaN (docstring)", nan_ok=True),
            "signal:inf": Result("infinite input samples give NaN (docstring)", nan_ok=True),
        },
    )
)


def _ct(ctx: Ctx) -> dict[str, Any]:
    from dcemets.kinetics import parker_aif, tofts

    cp = parker_aif(_T, delay=24.0)
    n = ctx.draw(st.integers(1, 3))
    ct = tofts(_T, cp, np.linspace(0.1, 0.2, n), np.linspace(0.4, 0.6, n))
    ct = xr.DataArray(np.atleast_2d(ct), dims=("voxel", "time"), coords={"time": _T})
    return {"ct": ct, "aif": cp, "aif_time": _T.copy()}


register(
    Entry(
        "dcemets.kinetics.fit_tofts",
        valid=_ct,
        args={
            "ct": "series",
            "aif": "array",
            "aif_time": "times",
            "method": "choice",
            "device": "choice",
            "backend": "choice",
            "dtype": "choice",
            "bounds": "bounds",
            "max_iter": "pos_int",
            "n_jobs": "pos_int",
        },
        max_examples=2,
        documented={  # docstring: such curves are skipped (NaN, success False) with a warning
            "ct:nan": Result("curves with NaN samples are skipped and counted (docstring)", nan_ok=True),
            "ct:inf": Result("curves with infinite samples are skipped and counted (docstring)", nan_ok=True),
        },
    )
)
S.CORRUPTIONS["bounds"] = [
    Corruption("unknown_key", const({"fuzz": (0, 1)})),
    Corruption("reversed", const({"ktrans": (1.0, 0.0)})),
    Corruption("nan", const({"kep": (np.nan, 1.0)})),
    Corruption("str", const("fuzz")),
]


def _curve(ctx: Ctx) -> xr.DataArray:
    n = ctx.draw(st.integers(8, 14))  # the late reference (67 s after injection) must be sampled
    t = np.arange(n) * 12.0
    s = 100 + 100 * np.clip((t - 12) / 36, 0, 1) - 0.2 * np.clip(t - 48, 0, None)
    return xr.DataArray(s, dims="time", coords={"time": t})


def _curve_numpy(ctx: Ctx) -> dict[str, Any]:
    c = _curve(ctx)
    return {"signal": c.values.copy(), "time": c.time.values.copy()}


register(
    Entry(
        "dcemets.kinetics.heuristics",
        valid=_curve_numpy,
        args={
            "signal": "array",
            "n_baseline": "pos_int",
            "injection_time": "real",
            "peak_cutoff": "positive",
            "late_reference": "positive",
            "time": "times",
        },
        documented={  # docstring Warns: NaN curves get NaN parameters and are counted
            "signal:nan": Result("a curve with NaN samples gets NaN heuristics (docstring)", nan_ok=True),
            "signal:inf": Result("a curve with inf samples gets NaN heuristics (docstring)", nan_ok=True),
        },
    )
)


def _dce_mask(ctx: Ctx, key: str, **kw: Any) -> dict[str, Any]:
    d = draw_dce(ctx, **kw)
    return {"dce": d, key: mask_of(ctx, d)}


def _hotspot_valid(ctx: Ctx) -> dict[str, Any]:
    kw = _dce_mask(ctx, "within")
    vessel = np.asarray(kw["dce"].values, dtype=float).reshape(kw["dce"].sizes["time"], -1).max(axis=1)
    return {**kw, "on_fail": "flag", "vessel": vessel}


register(
    Entry(
        "dcemets.kinetics.hotspot_roi",
        # on_fail="flag": a drawn mask need not hold a whole 3 x 3 square of eligible voxels
        valid=lambda ctx: _hotspot_valid(ctx),
        args={
            "dce": "dce",
            "within": "mask",
            "size": "pos_int",
            "n_baseline": "pos_int",
            "min_voxels": "pos_int",
            "baseline_floor": "fraction",
            "vessel_level": "fraction",
            "vessel_lag": "nonneg_int",
            "on_fail": "choice",
            "vessel": "array",
        },
        documented={"vessel:none": Result("vessel=None skips the vessel guard and flags it (docstring)")},
    )
)
not_fuzzable("dcemets.kinetics.HOTSPOT_FLAGS", "a constant table of flag names and meanings")
register(
    Entry(
        "dcemets.kinetics.parametric_maps",
        valid=lambda ctx: _dce_mask(ctx, "mask", times=_T),
        args={
            "dce": "dce",
            "mask": "mask",
            "n_baseline": "pos_int",
            "injection_time": "real",
            "peak_cutoff": "positive",
            "late_reference": "positive",
            "frames": "frames",
        },
        nan_ok=True,  # voxels outside `mask` are NaN (docstring)
        documented={  # docstring: voxels with NaN/inf samples are NaN, counted in a warning
            "dce:nan": Result("voxels with NaN samples get NaN maps (docstring)", nan_ok=True),
            "dce:inf": Result("voxels with inf samples get NaN maps (docstring)", nan_ok=True),
            "mask:numpy": Result(
                "an ndarray mask of the spatial shape is accepted (docstring, issue 22 item 10)", nan_ok=True
            ),
        },
    )
)
S.CORRUPTIONS["frames"] = [
    Corruption("str", const("fuzz")),
    Corruption("out_of_range", const([0, 1, 99])),
    Corruption("negative", const([-99, 0, 1])),
    Corruption("float", const([0.5, 1.5, 2.5])),
    Corruption("dict", const({"a": 1})),
]
register(
    Entry(
        "dcemets.kinetics.roi_curve",
        valid=lambda ctx: _dce_mask(ctx, "roi"),
        args={"dce": "dce", "roi": "mask"},
        documented={  # docstring: NaN voxels are skipped, a warning gives their number
            "dce:nan": Result("ROI voxels with NaN samples are skipped and counted (docstring)"),
            "dce:inf": Result("ROI voxels with inf samples are skipped and counted (docstring)"),
        },
    )
)


# The model parameters are "float, array_like" (docstrings): a list [1.0, 2.0] is two
# parameter sets, not a corruption.  The valid call gives the AIF its own grid (`aif_time`),
# on which the model is defined at any output time: one output time is a valid request.
_ARRAY_PARAM = Result("parameters are float or array_like (docstring): one curve per value")
_MODEL_DOC = {
    "ktrans:list": _ARRAY_PARAM,
    "kep:list": _ARRAY_PARAM,
    "time:single": Result("with `aif_time` the model can be sampled at a single output time"),
}


def _model_args(ctx: Ctx) -> dict[str, Any]:
    from dcemets.kinetics import parker_aif

    return {"time": _T.copy(), "aif": parker_aif(_T, delay=20.0), "aif_time": _T.copy()}


register(
    Entry(
        "dcemets.kinetics.tofts",
        valid=lambda ctx: {**_model_args(ctx), "ktrans": 0.1, "kep": 0.4, "vp": 0.02},
        args={
            "time": "times",
            "aif": "array",
            "ktrans": "nonneg",
            "kep": "nonneg",
            "vp": "fraction",
            "aif_time": "times",
        },
        documented=_MODEL_DOC,
    )
)
register(
    Entry(
        "dcemets.kinetics.patlak",
        valid=lambda ctx: {**_model_args(ctx), "ktrans": 0.1, "vp": 0.05},
        args={"time": "times", "aif": "array", "ktrans": "nonneg", "vp": "fraction", "aif_time": "times"},
        documented=_MODEL_DOC,
    )
)

# --------------------------------------------------------------------------------------
# segmentation
# --------------------------------------------------------------------------------------


_EMPTY_DICE = Result("the Dice of an empty and a non-empty mask is 0 (docstring)")


def _two_masks(ctx: Ctx) -> dict[str, Any]:
    img = draw_image(ctx)
    return {"a": mask_of(ctx, img), "b": mask_of(ctx, img)}


for _n in ("dice", "hausdorff95"):
    register(
        Entry(
            f"dcemets.segmentation.{_n}",
            valid=_two_masks,
            args={"a": "mask", "b": "mask"},
            documented={"a:all_false": _EMPTY_DICE, "b:all_false": _EMPTY_DICE} if _n == "dice" else {},
        )
    )

register(
    Entry(
        "dcemets.segmentation.enhancement_image",
        valid=lambda ctx: {"dce": draw_dce(ctx)},
        args={"dce": "dce", "n_baseline": "pos_int"},
    )
)


def _image_within(ctx: Ctx) -> dict[str, Any]:
    img = draw_image(ctx)
    return {"image": img, "within": mask_of(ctx, img)}


def _grow_valid(ctx: Ctx) -> dict[str, Any]:
    d = _image_within(ctx)
    return {**d, "exclude": S._all_false(d["within"], ctx)}


register(
    Entry(
        "dcemets.segmentation.find_seed",
        valid=_image_within,
        args={"image": "image", "within": "mask", "smoothing_mm": "nonneg"},
    )
)
register(
    Entry(
        "dcemets.segmentation.region_grow",
        valid=_grow_valid,
        documented={
            "exclude:all_false": Result("excluding nothing is the default"),
            # the docstring: "upper_factor : float -- (> 1; ``inf`` disables)"
            "upper_factor:inf": Result("upper_factor=inf disables the upper threshold (docstring)"),
        },
        args={
            "image": "image",
            "within": "mask",
            "exclude": "mask",
            "seed": "seed",
            "fraction": "fraction",
            "background": "real",
            "upper_factor": "positive",
            "seed_smoothing_mm": "nonneg",
            "smoothing_mm": "nonneg",
            "multiplier": "positive",
            # ConfidenceConnected's iterations count re-estimations of the interval: 0 grows
            # once with the initial neighbourhood's interval (ITK; documented), so 0 is valid
            "iterations": "nonneg_int",
            "radius": "pos_int",
        },
    )
)
S.CORRUPTIONS["seed"] = [
    Corruption("str", const("fuzz")),
    Corruption("wrong_length", const((0, 0))),
    Corruption("out_of_grid", const((99, 99, 99))),
    Corruption("negative", const((-1, 0, 0))),
    Corruption("float", const((0.5, 0.5, 0.5))),
]


def _ncut(ctx: Ctx) -> dict[str, Any]:
    n = ctx.draw(st.integers(8, 14))
    img = np.zeros((n, n))
    img[:, n // 2 :] = 1.0
    return {"image2d": img, "region2d": np.ones((n, n), bool), "rng": 0}


register(
    Entry(
        "dcemets.segmentation.normalized_cut",
        valid=_ncut,
        args={
            "image2d": "array2d",
            "region2d": "bool2d",
            "n_segments": "pos_int",
            "pixels_per_segment": "positive",
            "compactness": "positive",
            "sigma": "positive",
            "smoothing": "nonneg",
            "thresh": "positive",
            "num_cuts": "pos_int",
            "value_range": "value_range",
        },
        max_examples=2,
    )
)
S.CORRUPTIONS["value_range"] = [
    Corruption("reversed", const((1.0, 0.0))),
    Corruption("nan", const((np.nan, 1.0))),
    Corruption("str", const("fuzz")),
    Corruption("wrong_length", const((0.0,))),
]
register(
    Entry(
        "dcemets.segmentation.select_partitions",
        valid=lambda ctx: {
            "labels": np.array([[1, 1, 2, 2], [3, 3, 2, 2]]),
            "region": np.array([[0, 0, 0, 0], [0, 1, 0, 0]], bool),
        },
        args={"labels": "array2d", "region": "bool2d"},
        max_examples=1,
        documented={"region:all_false": Result("no partition touches an empty region: an empty selection")},
    )
)


def _seg_phantom(ctx: Ctx) -> dict[str, Any]:
    from dcemets import make_dce, make_image

    sig = np.full((4, 3, 24, 24), 100.0)
    sig[1:, :, 8:14, 9:15] += 120.0
    dce = make_dce(sig, [0.0, 10.0, 20.0, 30.0])
    roi = make_image(np.ones((3, 6, 1), bool), spacing=(3.0, 1.0, 1.0), origin=(11.0, 8.0, 0.0))
    return {"dce": dce, "roi_sagittal": roi}


register(
    Entry(
        "dcemets.segmentation.segment_lesion",
        valid=_seg_phantom,
        args={"dce": "dce", "roi_sagittal": "mask", "options": "extra_kwarg"},
        max_examples=1,
        documented={
            # the outline lives on its own (sagittal) grid and reaches the DCE grid through
            # patient coordinates: padded by a background voxel it is the same outline
            "roi_sagittal:wrong_grid": Result("an outline on its own sagittal grid (transfer_roi docstring)"),
            # a one-slice sagittal outline has a single x voxel: the corruption only moves that
            # slice's centre by 0.37 mm, which is a valid outline (transfer_roi's entry has three
            # x voxels, where an irregular grid is refused)
            "roi_sagittal:irregular_grid": Result("a single-voxel axis cannot be irregular: a moved slice"),
            # region_grow's upper_factor, passed through (its docstring: ``inf`` disables)
            "upper_factor:inf": Result(
                "upper_factor=inf disables the upper threshold (region_grow docstring)"
            ),
        },
    )
)


def _seg_cases(ctx: Ctx) -> dict[str, Any]:
    from dcemets.io import Case

    p = _seg_phantom(ctx)
    return {"cases": [Case("s1", p["dce"], roi_sagittal=p["roi_sagittal"])], "progress": False}


register(
    Entry(
        "dcemets.segmentation.segment_cohort",
        valid=_seg_cases,
        args={"cases": "cases", "n_jobs": "n_jobs", "options": "extra_kwarg"},
        max_examples=1,
    )
)


def _transfer(ctx: Ctx) -> dict[str, Any]:
    from dcemets import make_image

    axial = make_image(np.zeros((1, 1, 6)), spacing=1.0)
    # the docstring's outline, three voxels (slices) thick in x, so that an irregular x grid
    # is a real corruption (one or two x voxels are always evenly spaced)
    roi = make_image(np.ones((1, 1, 3), bool), spacing=(1.0, 1.0, 1.5), origin=(2.0, 0, 0))
    return {"roi_sagittal": roi, "reference": axial}


_GRID_ONLY = Result(
    "only the grid of `reference` is read (docstring): NaN values, a map outside its mask, are fine"
)
register(
    Entry(
        "dcemets.segmentation.transfer_roi",
        valid=_transfer,
        args={"roi_sagittal": "mask", "reference": "image"},
        max_examples=1,
        documented={
            # the outline lives on its own (sagittal) grid: padded by a background voxel it
            # is the same outline in patient coordinates
            "roi_sagittal:wrong_grid": Result("an outline on its own sagittal grid (docstring)"),
            # `reference` may be the DCE series itself (docstring: "The axial DCE series
            # (dims time, z, y, x) or any 3D image on its grid")
            "reference:is_4d": Result("a DCE series is a valid reference (docstring)"),
            "reference:nan": _GRID_ONLY,
            "reference:inf": _GRID_ONLY,
        },
    )
)


def _widen(ctx: Ctx) -> dict[str, Any]:
    from dcemets import make_image

    m = np.zeros((1, 1, 12), bool)
    m[0, 0, 5:7] = True
    return {"region": make_image(m)}


register(
    Entry(
        "dcemets.segmentation.widen_search_region",
        valid=_widen,
        args={"region": "mask", "factor": "positive", "min_aspect": "nonneg"},
        max_examples=1,
        documented={
            # `region` is the only image argument: there is no other grid it must match, so
            # the same mask on another (wider or moved) grid is a valid input
            "region:wrong_grid": Result("a single mask argument: any valid grid is its own"),
            "region:shifted_grid": Result("a single mask argument: any valid grid is its own"),
        },
    )
)

# --------------------------------------------------------------------------------------
# radiomics
# --------------------------------------------------------------------------------------


def _rad(ctx: Ctx) -> dict[str, Any]:
    seed = ctx.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    img = rng.normal(100.0, 20.0, (2, 5, 6))
    # the whole image is the ROI: a NaN anywhere is inside it (NaN outside the ROI is allowed)
    return {"image": img, "mask": np.ones(img.shape, bool), "bin_count": 8}


_RAD_ARGS = {
    "image": "image_array",
    "mask": "mask_array",
    "bin_count": "pos_int",
    "bin_width": "positive",
    "min_value": "real",
    "nan_policy": "choice",
}
register(Entry("dcemets.radiomics.discretise", valid=_rad, args=dict(_RAD_ARGS)))
register(
    Entry(
        "dcemets.radiomics.glcm",
        valid=_rad,
        args={**_RAD_ARGS, "distance": "pos_int", "aggregation": "choice"},
    )
)
register(
    Entry(
        "dcemets.radiomics.glcm_features",
        valid=_rad,
        args={**_RAD_ARGS, "distance": "pos_int", "aggregation": "choice", "convention": "choice"},
    )
)
register(
    Entry(
        "dcemets.radiomics.histogram_features",
        valid=lambda ctx: {k: v for k, v in _rad(ctx).items() if k != "bin_count"},
        args={
            "image": "image_array",
            "mask": "mask_array",
            "percentile_method": "choice",
            "nan_policy": "choice",
        },
    )
)


def _maps(ctx: Ctx) -> xr.Dataset:
    from dcemets import make_image
    from dcemets.radiomics import MAP_NAMES

    rng = np.random.default_rng(ctx.draw(st.integers(0, 2**16)))
    return xr.Dataset({m: make_image(rng.normal(size=(3, 5, 5))) for m in MAP_NAMES})


register(
    Entry(
        "dcemets.radiomics.extract_features",
        valid=lambda ctx: {"maps": _maps(ctx), "mask": np.ones((3, 5, 5), bool)},
        args={"maps": "maps", "mask": "mask_array", "settings": "extra_kwarg"},
        max_examples=2,
    )
)
S.CORRUPTIONS["maps"] = [
    *S.WRONG_TYPES,
    Corruption("dataarray", lambda v, ctx: v[next(iter(v.data_vars))]),
    Corruption("missing_map", lambda v, ctx: v.drop_vars(next(iter(v.data_vars)))),
    Corruption("nan", S._set_nonfinite(np.nan)),
    Corruption("complex", S._astype(np.complex128)),
    Corruption("str_dtype", S._astype(str)),
]
register(
    Entry(
        "dcemets.radiomics.extract_cohort",
        valid=lambda ctx: {
            "maps": {"a": _maps(ctx), "b": _maps(ctx)},
            "masks": {"a": np.ones((3, 5, 5), bool), "b": np.ones((3, 5, 5), bool)},
            "progress": False,
        },
        args={
            "maps": "map_dict",
            "masks": "mask_dict",
            "n_jobs": "n_jobs",
            "errors": "choice",
            "settings": "extra_kwarg",
        },
        max_examples=1,
    )
)
S.CORRUPTIONS["map_dict"] = [
    *S.WRONG_TYPES,
    Corruption("empty", const({})),
    Corruption("nan_map", lambda v, ctx: {**v, "a": S._set_nonfinite(np.nan)(v["a"], ctx)}),
    Corruption("not_dataset", lambda v, ctx: {**v, "a": 3}),
]
S.CORRUPTIONS["mask_dict"] = [
    *S.WRONG_TYPES,
    Corruption("missing_key", lambda v, ctx: {"a": v["a"]}),
    Corruption("all_false", lambda v, ctx: {**v, "a": np.zeros_like(v["a"])}),
    Corruption("wrong_shape", lambda v, ctx: {**v, "a": v["a"][:-1]}),
]
not_fuzzable(
    "dcemets.radiomics.RadiomicsWarning", "a warning class (raised by the radiomics functions, not called)"
)
for _c in ("FEATURE_NAMES", "GLCM_FEATURES", "HISTOGRAM_FEATURES", "MAP_NAMES"):
    not_fuzzable(f"dcemets.radiomics.{_c}", "a constant tuple of names")

# --------------------------------------------------------------------------------------
# io
# --------------------------------------------------------------------------------------


def _small_case(ctx: Ctx) -> Any:
    from dcemets.io import Case

    return Case("s01", draw_dce(ctx), label="lung", truth={"ktrans": 0.1})


register(
    Entry(
        "dcemets.io.Case",
        valid=lambda ctx: {"subject_id": "s01", "dce": draw_dce(ctx)},
        args={"subject_id": "subject_id"},  # the other fields are validated where they are used
        max_examples=2,
    )
)
register(
    Entry(
        "dcemets.io.validate_subject_id",
        valid=lambda ctx: {"subject_id": ctx.draw(st.sampled_from(["s01", "sim001", "patient-7_b"]))},
        args={"subject_id": "subject_id"},
    )
)
S.CORRUPTIONS["subject_id"] = [
    Corruption("empty", const("")),
    Corruption("escape", const("../../escaped")),
    Corruption("separator", const("a/b")),
    Corruption("control", const("a\x00b")),
    Corruption("int", const(3)),
    Corruption("none", const(None)),
]


def _sitk(ctx: Ctx) -> dict[str, Any]:
    from dcemets.io import to_sitk

    im = to_sitk(draw_image(ctx))
    return {"image": [im, im, im], "times": np.array([0.0, 10.0, 20.0])}


register(
    Entry(
        "dcemets.io.from_sitk",
        valid=_sitk,
        args={"image": "object", "times": "times", "attrs": "mapping"},
    )
)
_WRITE_NAN = Result("images are converted/written as they are: maps hold NaN outside their mask", nan_ok=True)
register(
    Entry(
        "dcemets.io.to_sitk",
        valid=lambda ctx: {"da": draw_image(ctx)},
        args={"da": "image"},
        documented={
            "da:nan": _WRITE_NAN,
            "da:inf": _WRITE_NAN,
            "da:is_4d": Result("a DCE series gives one SimpleITK image per frame (docstring)"),
        },
    )
)


def _written(ctx: Ctx, kind: str) -> dict[str, Any]:
    from dcemets.io import write_dce, write_image

    if kind == "dce":
        return {"path": write_dce(draw_dce(ctx), ctx.tmp / "dce.nii.gz")}
    suffix = ctx.draw(st.sampled_from([".nii.gz", ".nrrd", ".mha"]))
    return {"path": write_image(draw_image(ctx), ctx.tmp / f"img{suffix}")}


register(
    Entry(
        "dcemets.io.read_dce",
        valid=lambda ctx: _written(ctx, "dce"),
        args={"path": "path_in"},  # `times` is for a folder of 3D files (not fuzzed)
        max_examples=2,
    )
)
register(
    Entry(
        "dcemets.io.read_image",
        valid=lambda ctx: _written(ctx, "image"),
        args={"path": "path_in"},
        max_examples=2,
    )
)
register(
    Entry(
        "dcemets.io.write_dce",
        valid=lambda ctx: {"da": draw_dce(ctx), "path": ctx.tmp / "out.nii.gz"},
        args={"da": "dce", "path": "path_out"},
        max_examples=2,
        # I/O only performs I/O: write_dce writes any series read_dce reads (docstring)
        documented={
            "da:nan": Result("values are written as they are, NaN included; read_dce reads them back"),
            "da:inf": Result("values are written as they are, inf included; read_dce reads them back"),
            "da:single_frame": Result("any number of frames is written, as read_dce reads (docstring)"),
            "da:two_frames": Result("any number of frames is written, as read_dce reads (docstring)"),
        },
    )
)
register(
    Entry(
        "dcemets.io.write_image",
        valid=lambda ctx: {"da": draw_image(ctx), "path": ctx.tmp / "out.nii.gz"},
        args={"da": "image", "path": "path_out"},
        max_examples=2,
        documented={"da:nan": _WRITE_NAN, "da:inf": _WRITE_NAN},
    )
)


def _dicom_source(ctx: Ctx, img: Any) -> Path:
    """Write the grid of `img` as a one-slice-per-file MR series (the source a SEG references)."""
    import SimpleITK as sitk

    from dcemets.io import to_sitk

    folder = ctx.tmp / "source"
    folder.mkdir(exist_ok=True)
    vol = to_sitk(img.astype(np.int16) * 0)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = np.reshape(vol.GetDirection(), (3, 3))
    for k in range(vol.GetSize()[2]):
        sl = vol[:, :, k]
        tags = {
            "0008|0060": "MR",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.4",
            "0008|0018": f"1.2.3.9.{k}",
            "0020|000d": "1.2.3",
            "0020|000e": "1.2.3.1",
            "0020|0052": "1.2.3.4",
            "0020|0013": str(k + 1),
            "0018|0050": repr(float(vol.GetSpacing()[2]))[:16],
            "0020|0032": "\\".join(f"{v:.6f}" for v in vol.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0037": "\\".join(f"{v:.6f}" for v in (*d[:, 0], *d[:, 1])),
        }
        for tag, value in tags.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{k}.dcm"))
        writer.Execute(sl)
    return folder


def _seg_call(ctx: Ctx) -> dict[str, Any]:
    img = draw_image(ctx)
    mask = img > float(np.median(img.values))
    mask.attrs = dict(img.attrs)
    return {"mask": mask, "path": ctx.tmp / "seg.dcm", "source": _dicom_source(ctx, img)}


def _pm_call(ctx: Ctx) -> dict[str, Any]:
    img = draw_image(ctx)
    return {"image": img, "path": ctx.tmp / "map.dcm", "source": _dicom_source(ctx, img)}


def _label_map(ctx: Ctx) -> dict[str, Any]:
    from dcemets.io import write_image

    img = draw_image(ctx)
    labels = (img > float(np.median(img.values))).astype(np.uint8)
    return {"path": write_image(labels, ctx.tmp / "labels.nii.gz"), "reference": img}


_SEG_OWN_GEOMETRY = Result("a SEG stores its own plane positions; `source` is only referenced (docstring)")
register(
    Entry(
        "dcemets.io.read_roi",
        valid=_label_map,
        args={"path": "path_in", "reference": "grid_image", "label": "object"},
        max_examples=2,
        documented={
            "reference:nan": Result("only the grid of `reference` is read (docstring)"),
            "reference:inf": Result("only the grid of `reference` is read (docstring)"),
            "reference:is_4d": Result("`reference` may be a DCE series (docstring)"),
            "reference:wrong_grid": Result(
                "a grid one voxel wider still holds every voxel of the mask: placed on it (docstring)"
            ),
        },
    )
)
try:
    import highdicom  # noqa: F401
except ImportError:  # the optional extra dcemets[dicom] is not installed
    for _name in ("write_seg", "write_parametric_map"):
        not_fuzzable(f"dcemets.io.{_name}", "needs highdicom, the optional extra dcemets[dicom]")
else:
    register(
        Entry(
            "dcemets.io.write_seg",
            valid=_seg_call,
            args={"mask": "mask", "path": "path_out", "source": "dir_in"},
            skip=("series_number", "algorithm_type", "label"),
            max_examples=2,
            documented={
                "mask:all_false": Result("an empty mask is written as an empty segment (docstring)"),
                "mask:wrong_grid": _SEG_OWN_GEOMETRY,
                "mask:shifted_grid": _SEG_OWN_GEOMETRY,
                "path:unknown_suffix": Result("a DICOM file needs no suffix; any name is written"),
            },
        )
    )
    register(
        Entry(
            "dcemets.io.write_parametric_map",
            valid=_pm_call,
            args={"image": "image", "path": "path_out", "source": "dir_in"},
            skip=("series_number", "label", "units"),
            max_examples=2,
            documented={
                "image:nan": Result("NaN is written as NaN (float pixel data, docstring)"),
                "image:inf": Result("values are written as they are (float pixel data)"),
                "path:unknown_suffix": Result("a DICOM file needs no suffix; any name is written"),
            },
        )
    )


def _saved(ctx: Ctx) -> dict[str, Any]:
    from dcemets.io import save_cohort

    save_cohort([_small_case(ctx)], ctx.tmp / "cohort", progress=False)
    return {"directory": ctx.tmp / "cohort", "progress": False}


register(
    Entry("dcemets.io.load_cohort", valid=_saved, args={"directory": "dir_in"}, max_examples=2),
)
register(
    Entry(
        "dcemets.io.save_cohort",
        valid=lambda ctx: {"cases": [_small_case(ctx)], "directory": ctx.tmp / "out", "progress": False},
        args={"cases": "cases", "directory": "dir_out"},
        max_examples=2,
        documented={"cases:nan_dce": Result("DCE values are written as they are, NaN included (docstring)")},
    )
)

# --------------------------------------------------------------------------------------
# classify
# --------------------------------------------------------------------------------------

S.CORRUPTIONS["X"] = S.FEATURES
S.CORRUPTIONS["y"] = S.LABELS


def _xy(ctx: Ctx) -> dict[str, Any]:
    X, y = small_xy(ctx, n=40)
    return {"X": X, "y": y}


def _chaid_fit(X: Any, y: Any, **params: Any) -> Any:
    from dcemets.classify import CHAIDClassifier

    return CHAIDClassifier(**params).fit(X, y)


_CHAID_PARAMS = {
    "max_depth": "nonneg_int",
    "alpha_merge": "fraction",
    "alpha_split": "fraction",
    "n_bins": "pos_int",
    "min_samples_split": "pos_int",
    "min_samples_leaf": "pos_int",
}
register(
    Entry(
        "dcemets.classify.CHAIDClassifier",
        valid=_xy,
        call=_chaid_fit,
        args=dict(_CHAID_PARAMS),
        infer=False,
        aliases={},
    )
)
register(
    Entry(
        "dcemets.classify.CHAIDClassifier.fit",
        delegated=SKLEARN_VALIDATION,
        valid=_xy,
        call=_chaid_fit,
        args={"X": "X", "y": "y"},
        infer=False,
    )
)


def _fitted_chaid(ctx: Ctx) -> dict[str, Any]:
    d = _xy(ctx)
    return {"estimator": _chaid_fit(d["X"], d["y"], max_depth=1), "X": d["X"]}


S.CORRUPTIONS["X_predict"] = [c for c in S.FEATURES if c.name != "wrong_rows"] + [
    Corruption("wrong_columns", lambda v, ctx: np.asarray(v)[:, :-1]),
]


def _call_method(method: str, estimator: Any, X: Any) -> Any:
    return getattr(estimator, method)(X)


for _m in ("predict", "predict_proba", "apply"):
    register(
        Entry(
            f"dcemets.classify.CHAIDClassifier.{_m}",
            delegated=SKLEARN_VALIDATION,
            valid=_fitted_chaid,
            call=functools.partial(_call_method, _m),
            args={"X": "X_predict"},
            infer=False,
        )
    )


def _fitted_tree(ctx: Ctx) -> dict[str, Any]:
    d = _xy(ctx)
    return {"tree": _chaid_fit(d["X"], d["y"], max_depth=1)}


def _plot_tree(tree: Any, **kw: Any) -> Any:
    import matplotlib.pyplot as plt

    from dcemets.classify import plot_tree

    try:
        return plot_tree(tree, **kw)
    finally:
        plt.close("all")


register(
    Entry("dcemets.classify.export_text", valid=_fitted_tree, args={"tree": "estimator"}, max_examples=1)
)
register(
    Entry(
        "dcemets.classify.plot_tree",
        valid=_fitted_tree,
        call=_plot_tree,
        args={"tree": "estimator"},
        infer=False,
        max_examples=1,
    )
)
not_fuzzable(
    "dcemets.classify.CHAIDNode", "a plain record of one fitted tree node (built by CHAIDClassifier.fit)"
)


def _ranker_fit(X: Any, y: Any, **params: Any) -> Any:
    from dcemets.classify import ForestRanker

    params.setdefault("n_estimators", 10)
    params.setdefault("k", 2)
    return ForestRanker(random_state=0, **params).fit(X, y)


register(
    Entry(
        "dcemets.classify.ForestRanker",
        valid=_xy,
        call=_ranker_fit,
        args={"n_estimators": "pos_int", "max_samples": "fraction", "k": "pos_int"},
        infer=False,
        max_examples=2,
    )
)
register(
    Entry(
        "dcemets.classify.ForestRanker.fit",
        delegated=SKLEARN_VALIDATION,
        valid=_xy,
        call=_ranker_fit,
        args={"X": "X", "y": "y"},
        infer=False,
        max_examples=2,
    )
)
not_fuzzable("dcemets.evaluation.SearchResult", "a plain record of radiomics_search's results")
not_fuzzable("dcemets.classify.HEURISTIC_FEATURES", "a constant tuple of names")
register(
    Entry(
        "dcemets.classify.bin_edges",
        valid=lambda ctx: {"x": np.arange(20.0) * ctx.draw(st.sampled_from([1.0, 0.5]))},
        args={"x": "array", "n_bins": "pos_int"},
    )
)
register(
    Entry(
        "dcemets.classify.bonferroni_multiplier",
        valid=lambda ctx: {"n_categories": 10, "n_groups": ctx.draw(st.integers(1, 10))},
        args={"n_categories": "pos_int", "n_groups": "pos_int"},
    )
)
register(
    Entry(
        "dcemets.classify.merge_categories",
        valid=lambda ctx: {"table": np.array([[10, 1], [9, 2], [1, 10], [2, 9]])},
        args={"table": "table", "alpha_merge": "fraction", "min_size": "pos_int"},
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.classify.pearson_chi2",
        valid=lambda ctx: {"table": np.array([[10, 2], [3, 10]])},
        args={"table": "table"},
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.classify.hotspot_chaid",
        valid=lambda ctx: {},
        call=lambda X=None, y=None, **kw: (
            __import__("dcemets.classify", fromlist=["x"]).hotspot_chaid(**kw).fit(*(_xy_fixed()))
        ),
        args={k: v for k, v in _CHAID_PARAMS.items() if k not in ("n_bins",)},
        infer=False,
        max_examples=1,
    )
)


def _xy_fixed() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.array(["lung", "other"] * 20)
    return X, y


def _logistic(**kw: Any) -> Any:
    from dcemets.classify import hotspot_logistic

    return hotspot_logistic(**kw).fit(*_xy_fixed())


register(
    Entry(
        "dcemets.classify.hotspot_logistic",
        valid=lambda ctx: {},
        call=_logistic,
        args={"C": "positive", "max_iter": "pos_int"},
        infer=False,
        documented={"C:inf": Result("C=inf (no penalty) is the default")},
        max_examples=1,
    )
)


def _search_valid(ctx: Ctx) -> dict[str, Any]:
    rng = np.random.default_rng(ctx.draw(st.integers(0, 100)))
    y = np.array(["lung"] * 10 + ["other"] * 10)
    X = pd.DataFrame(
        rng.normal(size=(20, 4)),
        columns=["washout_hist_p90", "washout_hist_mean", "max_se_glcm_energy", "wash_in_glcm_entropy"],
    )
    X["washout_hist_p90"] += 1.5 * (y == "lung")
    return {"X": X, "y": y, "k_range": [1, 2], "n_splits": 3, "n_estimators": 5, "rng": 0}


register(
    Entry(
        "dcemets.evaluation.radiomics_search",
        valid=_search_valid,
        args={
            "X": "X",
            "y": "y",
            "family": "choice",
            "k_range": "seq_int",
            "protocol": "choice",
            "n_splits": "pos_int",
            "n_estimators": "pos_int",
            "max_samples": "fraction",
        },
        max_examples=1,
        nan_ok=True,
    )
)

# --------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------

not_fuzzable("dcemets.evaluation.CVResult", "a plain record of cross_validate's results")
not_fuzzable("dcemets.evaluation.DeLongResult", "a plain record of delong_test's results")

S.CORRUPTIONS["scores"] = [
    *S.WRONG_TYPES,
    *S.ARRAY_VALUES,
    Corruption("wrong_length", lambda v, ctx: np.asarray(v)[:-1]),
    Corruption("two_d", lambda v, ctx: np.asarray(v)[:, None].repeat(2, axis=1)),
]


def _yscore(ctx: Ctx) -> dict[str, Any]:
    y, s = scores(ctx)
    return {"y_true": y, "y_score": s}


register(
    Entry(
        "dcemets.evaluation.roc_auc",
        valid=_yscore,
        args={"y_true": "y", "y_score": "scores", "positive": "positive_label"},
    )
)
S.CORRUPTIONS["positive_label"] = [Corruption("absent", const("fuzz"))]  # None is the default (0/1 labels)
register(
    Entry(
        "dcemets.evaluation.auc_confidence_interval",
        valid=lambda ctx: {**_yscore(ctx), "method": "bootstrap", "n_bootstrap": 50, "rng": 0},
        args={
            "y_true": "y",
            "y_score": "scores",
            "positive": "positive_label",
            "confidence": "fraction",
            "method": "choice",
            "n_bootstrap": "pos_int",
        },
    )
)


def _delong(ctx: Ctx) -> dict[str, Any]:
    y, a = scores(ctx)
    _, b = scores(ctx)
    return {"y_true": y, "score_a": a, "score_b": b}


register(
    Entry(
        "dcemets.evaluation.delong_test",
        valid=_delong,
        args={"y_true": "y", "score_a": "scores", "score_b": "scores", "positive": "positive_label"},
    )
)


def _diag(ctx: Ctx) -> dict[str, Any]:
    y, s = scores(ctx)
    pred = np.where(s > 0.75, "lung", "other")
    return {
        "y_true": y,
        "y_pred": pred,
        "y_score": s,
        "confidence": 0.95,
        "auc_method": "bootstrap",
        "n_bootstrap": 50,
        "rng": 0,
    }


register(
    Entry(
        "dcemets.evaluation.diagnostic_metrics",
        valid=_diag,
        args={
            "y_true": "y",
            "y_pred": "y",
            "y_score": "scores",
            "positive": "positive_label",
            "confidence": "fraction",
            "auc_method": "choice",
            "n_bootstrap": "pos_int",
        },
        nan_ok=True,
        documented={
            "y_pred:single_class": Result("predictions may all be one class (a valid classifier output)")
        },
    )
)
register(
    Entry(
        "dcemets.evaluation.wilson_interval",
        valid=lambda ctx: {"successes": ctx.draw(st.integers(0, 20)), "n": 20},
        args={"successes": "count", "n": "count", "confidence": "fraction"},
        # the counts are "int or array-like of int" (docstring): the "list" corruption
        # [1.0, 2.0] holds two whole counts, so it is one interval per count (broadcast); and
        # 10**6 trials is a valid `n` (too large only as `successes`, where it exceeds n)
        documented={
            "successes:list": Result("array-like counts are documented: one interval each"),
            "n:list": Result("array-like counts are documented: one interval each"),
            "n:too_large": Result("a million trials is a valid n"),
        },
    )
)
S.CORRUPTIONS["count"] = [
    *S.INT_COMMON,
    Corruption("negative", const(-3)),
    Corruption("too_large", const(10**6)),
]


def _table(ctx: Ctx) -> dict[str, Any]:
    rng = np.random.default_rng(ctx.draw(st.integers(0, 100)))
    return {
        "table": pd.DataFrame(
            {
                "group": ["lung"] * 3 + ["other"] * 4,
                "primary": ["lung"] * 3 + ["breast", "breast", "liver", "liver"],
                "washout": rng.normal(size=7),
            }
        ),
        "by": "group",
        "subgroup": "primary",
    }


register(
    Entry(
        "dcemets.evaluation.compare_groups",
        valid=_table,
        args={
            "table": "dataframe",
            "by": "column",
            "subgroup": "column",
            "test": "choice",
            "columns": "columns",
            "labels": "mapping",
            "names": "mapping",
            "decimals": "nonneg_int",
        },
    )
)
S.CORRUPTIONS["columns"] = [
    Corruption("missing", const(["no_such_column"])),
    Corruption("str", const("washout")),
    Corruption("empty", const([])),
    Corruption("int", const(3)),
]


def _cv(ctx: Ctx) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    d = _xy(ctx)
    groups = np.array([f"p{i // 2}" for i in range(len(d["y"]))])  # two samples per patient
    return {"estimator": LogisticRegression(), **d, "groups": groups, "cv": 4, "rng": 0}


register(
    Entry(
        "dcemets.evaluation.cross_validate",
        valid=_cv,
        args={
            "estimator": "estimator",
            "X": "X",
            "y": "y",
            "groups": "y",
            "cv": "pos_int",
            "repeats": "pos_int",
            "positive": "positive_label",
        },
        max_examples=1,
        documented={"groups:single_class": Result("one group is allowed when folds are not grouped by it")},
    )
)


def _resub(ctx: Ctx) -> dict[str, Any]:
    from sklearn.tree import DecisionTreeClassifier

    return {"estimator": DecisionTreeClassifier(random_state=0), **_xy(ctx)}


register(
    Entry(
        "dcemets.evaluation.resubstitution_metrics",
        valid=_resub,
        args={
            "estimator": "estimator",
            "X": "X",
            "y": "y",
            "positive": "positive_label",
            "confidence": "fraction",
        },
        max_examples=2,
        nan_ok=True,
    )
)


def _plot_roc(results: Any, **kw: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dcemets.evaluation import plot_roc

    try:
        return plot_roc(results, **kw) and None
    finally:
        plt.close("all")


register(
    Entry(
        "dcemets.evaluation.plot_roc",
        valid=lambda ctx: {"results": {"hot-spot": scores(ctx)}},
        call=_plot_roc,
        args={"results": "roc_results", "positive": "positive_label"},
        infer=False,
        max_examples=1,
    )
)
S.CORRUPTIONS["roc_results"] = [
    *S.WRONG_TYPES,
    Corruption("empty", const({})),
    Corruption("single_class", lambda v, ctx: {"m": (["lung"] * 4, [0.1, 0.2, 0.3, 0.4])}),
    Corruption("nan_score", lambda v, ctx: {"m": (v["hot-spot"][0], np.full(len(v["hot-spot"][0]), np.nan))}),
    Corruption("wrong_length", lambda v, ctx: {"m": (v["hot-spot"][0], v["hot-spot"][1][:-1])}),
    Corruption("not_pair", lambda v, ctx: {"m": 3}),
]

# --------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------

for _c in (
    "ACQUISITION",
    "DIFFICULTIES",
    "GRIDS",
    "LABELS",
    "LESION_TYPES",
    "LEVEL_NAMES",
    "PAPER_COMPOSITION",
    "PRIMARIES",
    "TABLE1",
    "TISSUES",
):
    not_fuzzable(f"dcemets.simulate.{_c}", "a constant table of the simulator")
for _c in ("Anatomy", "Lesion", "PrimaryModel", "TissueProperties", "RandomField"):
    not_fuzzable(f"dcemets.simulate.{_c}", "a plain record of sampled simulator parameters")
not_fuzzable(
    "dcemets.simulate.Difficulty",
    "a frozen record of a difficulty preset; its ranges are checked in __post_init__ (tests/simulate)",
)


def _u(ctx: Ctx) -> np.ndarray:
    from dcemets.simulate.primaries import N_QUANTILES

    return np.full(N_QUANTILES, ctx.draw(st.sampled_from([0.1, 0.5, 0.9])))


register(
    Entry(
        "dcemets.simulate.draw_parameters",
        valid=lambda ctx: {"primary": ctx.draw(st.sampled_from(["lung", "thyroid", "kidney"])), "u": _u(ctx)},
        args={"primary": "primary", "u": "quantiles"},
    )
)
S.CORRUPTIONS["primary"] = [*S.CHOICE, Corruption("none", const(None))]
S.CORRUPTIONS["quantiles"] = [
    *S.WRONG_TYPES,
    Corruption("nan", S._set_nonfinite(np.nan)),
    Corruption("above_one", lambda v, ctx: np.asarray(v) + 1.0),
    Corruption("negative", lambda v, ctx: np.asarray(v) - 1.0),
    Corruption("wrong_length", lambda v, ctx: np.asarray(v)[:-1]),
]


def _anatomy(ctx: Ctx) -> dict[str, Any]:
    from dcemets.simulate import sample_anatomy, sample_lesion

    r = np.random.default_rng(ctx.draw(st.integers(0, 100)))
    a = sample_anatomy(r)
    les = sample_lesion(r, a, radius=10.0, breakthrough_probability=0.0, necrosis=0.0, texture=0.0)
    return {"anatomy": a, "lesion": les, "points": les.centres[:2].copy()}


register(
    Entry(
        "dcemets.simulate.tissue_labels",
        valid=lambda ctx: {k: v for k, v in _anatomy(ctx).items() if k != "lesion"},
        args={"points": "points", "anatomy": "object"},
        max_examples=2,
    )
)


def _lesion_fields(ctx: Ctx) -> dict[str, Any]:
    from dcemets.simulate import tissue_labels

    d = _anatomy(ctx)
    d["labels"] = tissue_labels(d["points"], d["anatomy"])
    return d


register(
    Entry(
        "dcemets.simulate.lesion_fields",
        valid=_lesion_fields,
        args={"points": "points", "labels": "array", "anatomy": "object", "lesion": "object"},
        max_examples=2,
    )
)
register(
    Entry(
        "dcemets.simulate.lesion_properties",
        valid=_lesion_fields,
        args={"points": "points", "labels": "array", "anatomy": "object", "lesion": "object"},
        max_examples=2,
    )
)
register(
    Entry(
        "dcemets.simulate.random_field",
        valid=lambda ctx: {"rng": np.random.default_rng(0), "length_mm": 4.0},
        args={"rng": "generator", "length_mm": "positive", "n_waves": "pos_int"},
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.simulate.frame_windows",
        valid=lambda ctx: {"frame_times": np.arange(4) * 12.0, "dt": 12.0, "n_lines": 16, "n_sub": 5},
        args={"frame_times": "array", "dt": "positive", "n_lines": "pos_int", "n_sub": "pos_int"},
        max_examples=1,
        documented={"frame_times:empty": Result("one window per frame: no frames give no windows")},
    )
)
register(
    Entry(
        "dcemets.simulate.window_average_matrix",
        valid=lambda ctx: {
            "t_fine": np.arange(0.0, 20.0, 0.5),
            "edges": np.array([[1.0, 4.0, 7.0], [9.0, 12.0, 15.0]]),
        },
        args={"t_fine": "array", "edges": "array"},
        max_examples=1,
    )
)


def _integrate(ctx: Ctx) -> dict[str, Any]:
    from dcemets.simulate.acquisition import line_subinterval

    r = np.random.default_rng(ctx.draw(st.integers(0, 100)))
    return {
        "sub_images": r.random((2, 3, 2, 8, 4)),
        "lines": line_subinterval(8, 3),
        "spacing_zyx": (3.0, 2.0, 2.0),
        "displacement": np.zeros((2, 3, 3)),
    }


register(
    Entry(
        "dcemets.simulate.integrate_frames",
        valid=_integrate,
        args={"sub_images": "array", "lines": "array", "spacing_zyx": "object", "displacement": "array"},
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.simulate.complex_noise_magnitude",
        valid=lambda ctx: {
            "image": np.linspace(0, 100, 50),
            "sigma": 1.0,
            "rng": np.random.default_rng(0),
        },
        args={"image": "array", "sigma": "nonneg", "rng": "generator"},
        max_examples=1,
        documented={
            "image:empty": Result("elementwise: an empty image gives an empty result"),
            "image:complex": Result("the noise-free image may be complex (that is its purpose)"),
        },
    )
)
register(
    Entry(
        "dcemets.simulate.rician_noise",
        valid=lambda ctx: {"signal": np.linspace(0, 100, 50), "sigma": 1.0, "rng": np.random.default_rng(0)},
        args={"signal": "array", "sigma": "nonneg", "rng": "generator"},
        max_examples=1,
        documented={"signal:empty": Result("elementwise: an empty signal gives an empty result")},
    )
)
S.CORRUPTIONS["generator"] = [*S.RNG, Corruption("none", const(None))]
register(
    Entry(
        "dcemets.simulate.sample_anatomy",
        valid=lambda ctx: {"rng": np.random.default_rng(0)},
        args={"rng": "generator", "height_loss_probability": "fraction", "level": "nonneg_int"},
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.simulate.sample_lesion",
        valid=lambda ctx: {
            **{k: v for k, v in _anatomy(ctx).items() if k == "anatomy"},
            "rng": np.random.default_rng(0),
            "radius": 10.0,
            "breakthrough_probability": 0.3,
            "necrosis": 0.5,
            "texture": 0.2,
        },
        args={
            "rng": "generator",
            "anatomy": "object",
            "radius": "positive",
            "breakthrough_probability": "fraction",
            "necrosis": "fraction",
            "texture": "nonneg",
            "lesion_type": "choice",
            "level": "nonneg_int",
        },
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.simulate.simulate_case",
        valid=lambda ctx: {"primary": "thyroid", "rng": 0},
        args={
            "primary": "primary",
            "subject_id": "subject_id",
            "grid": "choice",
            "snr": "positive",
            "tr": "positive",
            "flip_angle": "positive",
            "parameters": "parameters",
        },
        max_examples=1,
    )
)
S.CORRUPTIONS["parameters"] = [
    Corruption("unknown_key", const({"fuzz": 1.0})),
    Corruption("nan", const({"kep": float("nan")})),
    Corruption("negative", const({"kep": -1.0})),
    Corruption("str", const("fuzz")),
]
register(
    Entry(
        "dcemets.simulate.simulate_cohort",
        valid=lambda ctx: {"composition": {"lung": 1}, "rng": 1, "progress": False},
        args={"composition": "composition", "n_jobs": "n_jobs", "case_options": "extra_kwarg"},
        max_examples=1,
    )
)
S.CORRUPTIONS["composition"] = [
    Corruption("unknown_primary", const({"fuzz": 1})),
    Corruption("negative", const({"lung": -1})),
    Corruption("float", const({"lung": 1.5})),
    Corruption("empty", const({})),
    Corruption("str", const("fuzz")),
]

# --------------------------------------------------------------------------------------
# study
# --------------------------------------------------------------------------------------

for _c in ("PAPER_TABLE1", "PAPER_TABLE2", "PAPER_TABLE3", "PRESETS"):
    not_fuzzable(f"dcemets.study.{_c}", "a constant table (the paper's values / the presets)")
not_fuzzable("dcemets.study.CaseResult", "a plain record of process_case's results")
for _c in ("QUALITY_FLAGS", "QUALITY_COLUMNS", "QUALITY_THRESHOLDS"):
    not_fuzzable(f"dcemets.study.{_c}", "a constant table of the quality vocabulary")
register(
    Entry(
        "dcemets.study.quality_flags",
        valid=lambda ctx: {"quality": {"tofts_bound": "ve", "tofts_residual": 0.02, "motion_mm": 3.0}},
        args={"quality": "object"},
        documented={"quality:dict": Result("a record without quality entries raises no flag (docstring)")},
    )
)
not_fuzzable("dcemets.study.StudyResult", "a plain record of run_study's results")
register(
    Entry(
        "dcemets.study.StudyConfig",
        valid=lambda ctx: {},
        args={
            "seed": "nonneg_int",
            "n_jobs": "pos_int",
            "device": "choice",
            "hotspot_size": "pos_int",
            "hotspot": "object",
            "aif": "choice",
            "n_baseline": "pos_int",
            "t10_s": "positive",
            "r1_per_mM_s": "positive",
            "radiomics_protocol": "choice",
            "k_range": "seq_int",
            "forest_trees": "pos_int",
            "n_splits": "pos_int",
            "name": "choice",
        },
        infer=False,
        # `name` is a free label of the configuration (a preset's or the user's own variant)
        documented={"name:unknown": Result("name is a free label shown in the report")},
    )
)
register(
    Entry(
        "dcemets.study.process_case",
        valid=lambda ctx: {"case": sim_case()},
        args={"case": "case", "config": "result"},
        max_examples=1,
        # map voxels outside the lesion are NaN; a quality measure that was not taken (motion
        # without motion correction, segmentation confidence of a stored mask) is NaN (docstring)
        nan_ok=(r"result\.maps", r"result\.quality\['(motion_mm|segmentation_confidence)'\]"),
        documented={
            # labels are not used by the per-case chain (the cohort stage checks them)
            "case:bad_label": Result("process_case passes the label through; run_study checks labels"),
            # a case without a sagittal ROI is analysed with its stored lesion mask (docstring)
            "case:no_roi": Result("a stored lesion_mask is used when there is no sagittal ROI"),
        },
    )
)


def _tmp_args(names: tuple[str, ...], ctx: Ctx) -> dict[str, Any]:
    return {k: ctx.tmp for k in names}


for _n, _extra in (
    ("format_tables", {}),
    ("make_figures", {}),
    ("write_report", {"out": "out"}),
    ("acquisition_table", {}),
):
    register(
        Entry(
            f"dcemets.study.{_n}",
            valid=functools.partial(_tmp_args, tuple(_extra)),
            args={"result": "result"},
            max_examples=1,
            no_valid_call="needs a StudyResult: run_study takes minutes (covered by tests/study)",
        )
    )
register(
    Entry(
        "dcemets.study.run_study",
        valid=lambda ctx: {"cohort": [sim_case()], "progress": False},
        args={"cohort": "cases", "config": "result"},
        max_examples=1,
        no_valid_call="a study on >= 4 cases takes longer than the fuzz budget (covered by tests/study)",
    )
)
register(
    Entry(
        "dcemets.study.main",
        valid=lambda ctx: {"argv": ["--help"]},
        args={"argv": "argv"},
        max_examples=1,
        documented={
            "argv:*": Result(
                "the CLI reports usage and data errors as exit status 2 (docstring; argparse exits)",
                check=lambda r: None if r == 2 else f"exit status {r}, expected 2",
            )
        },
    )
)


register(
    Entry(
        "dcemets.study.acquisition_parameters",
        valid=lambda ctx: {
            "dce": draw_dce(ctx).assign_attrs(tr_s=0.0041, flip_angle_deg=10.0),
            "config": StudyConfig(),
        },
        args={"dce": "dce", "config": "result"},
        max_examples=2,
    )
)


# study: the cache and the per-case stage (issue 16, study cache)
for _c in ("CacheWarning", "CaseFailedWarning"):
    not_fuzzable(f"dcemets.study.{_c}", "a warning class (issued by the study, not called)")
not_fuzzable("dcemets.study.CaseError", "an exception class (raised by run_study/run_cases, not called)")
not_fuzzable("dcemets.study.CaseRuns", "a plain record of run_cases' results")
register(
    Entry(
        "dcemets.study.StudyCache",
        valid=lambda ctx: {"root": ctx.tmp / "cache"},
        args={"root": "dir_out"},
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.study.FoldStore",
        valid=lambda ctx: {"folder": ctx.tmp / "folds"},
        args={"folder": "dir_out"},
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.study.run_cases",
        valid=lambda ctx: {"cases": [sim_case()], "progress": False},
        args={"cases": "cases", "config": "result", "on_error": "choice", "out": "dir_out"},
        max_examples=1,
        nan_ok=(  # map voxels outside the lesion are NaN; so is a quality measure not taken
            r"result\.results\[\d+\]\.maps",
            r"result\.results\[\d+\]\.quality\['(motion_mm|segmentation_confidence)'\]",
        ),
    )
)

# --------------------------------------------------------------------------------------
# kinetics: Patlak fit, delay fits, 2CXM / 2CUM, model selection (issue 21)
# --------------------------------------------------------------------------------------

_FIT_DOC = {  # docstrings: such curves are skipped (NaN, success False) with a warning
    "ct:nan": Result("curves with NaN samples are skipped and counted (docstring)", nan_ok=True),
    "ct:inf": Result("curves with infinite samples are skipped and counted (docstring)", nan_ok=True),
}
S.CORRUPTIONS["exchange_bounds"] = [
    Corruption("unknown_key", const({"fuzz": (0, 1)})),
    Corruption("reversed", const({"fp": (1.0, 0.1)})),
    Corruption("nan", const({"ps": (np.nan, 1.0)})),
    Corruption("str", const("fuzz")),
]


def _ct_patlak(ctx: Ctx) -> dict[str, Any]:
    from dcemets.kinetics import parker_aif, patlak

    cp = parker_aif(_T, delay=24.0)
    n = ctx.draw(st.integers(1, 3))
    ct = patlak(_T, cp, np.linspace(0.05, 0.1, n), 0.05)
    ct = xr.DataArray(np.atleast_2d(ct), dims=("voxel", "time"), coords={"time": _T})
    return {"ct": ct, "aif": cp, "aif_time": _T.copy()}


def _ct_exchange(ctx: Ctx) -> dict[str, Any]:
    from dcemets.kinetics import parker_aif, tcxm

    cp = parker_aif(_T, delay=24.0)
    n = ctx.draw(st.integers(1, 2))
    ct = tcxm(_T, cp, np.linspace(0.3, 0.6, n), 0.1, 0.2, 0.05)
    ct = xr.DataArray(np.atleast_2d(ct), dims=("voxel", "time"), coords={"time": _T})
    return {"ct": ct, "aif": cp, "aif_time": _T.copy()}


register(
    Entry(
        "dcemets.kinetics.fit_patlak",
        valid=_ct_patlak,
        args={"ct": "series", "aif": "array", "aif_time": "times", "bounds": "exchange_bounds"},
        max_examples=2,
        documented=_FIT_DOC,
    )
)
register(
    Entry(
        "dcemets.kinetics.fit_delay",
        valid=lambda ctx: {**_ct(ctx), "delays": np.arange(-4.0, 4.5, 2.0)},
        args={
            "ct": "series",
            "aif": "array",
            "aif_time": "times",
            "model": "choice",
            "delays": "array",
            "bounds": "bounds",
            "max_iter": "pos_int",
            "n_jobs": "pos_int",
        },
        max_examples=2,
        documented=_FIT_DOC,
    )
)
for _name in ("fit_tcxm", "fit_tcum"):
    register(
        Entry(
            f"dcemets.kinetics.{_name}",
            valid=_ct_exchange,
            args={
                "ct": "series",
                "aif": "array",
                "aif_time": "times",
                "bounds": "exchange_bounds",
                "max_iter": "pos_int",
            },
            max_examples=2,
            documented=_FIT_DOC,
        )
    )
register(
    Entry(
        "dcemets.kinetics.tcxm",
        valid=lambda ctx: {**_model_args(ctx), "fp": 0.3, "ps": 0.1, "ve": 0.2, "vp": 0.05},
        args={
            "time": "times",
            "aif": "array",
            "fp": "nonneg",
            "ps": "nonneg",
            "ve": "fraction",
            "vp": "fraction",
            "aif_time": "times",
        },
        documented={
            "fp:list": _ARRAY_PARAM,
            "ps:list": _ARRAY_PARAM,
            "time:single": Result("with `aif_time` the model can be sampled at a single output time"),
        },
    )
)
register(
    Entry(
        "dcemets.kinetics.tcum",
        valid=lambda ctx: {**_model_args(ctx), "fp": 0.3, "ps": 0.05, "vp": 0.05},
        args={
            "time": "times",
            "aif": "array",
            "fp": "nonneg",
            "ps": "nonneg",
            "vp": "fraction",
            "aif_time": "times",
        },
        documented={
            "fp:list": _ARRAY_PARAM,
            "ps:list": _ARRAY_PARAM,
            "time:single": Result("with `aif_time` the model can be sampled at a single output time"),
        },
    )
)


def _fits(ctx: Ctx) -> dict[str, Any]:
    n = ctx.draw(st.integers(1, 3))
    a = xr.Dataset({"rss": ("voxel", np.linspace(1.0, 2.0, n))}, attrs={"n_params": 2})
    b = xr.Dataset({"rss": ("voxel", np.linspace(0.5, 2.5, n))}, attrs={"n_params": 3})
    return {"fits": {"tofts": a, "extended_tofts": b}, "n_frames": 12}


register(
    Entry(
        "dcemets.kinetics.select_model",
        valid=_fits,
        args={"fits": "object", "n_frames": "pos_int", "criterion": "choice"},
    )
)


from . import entries_models  # noqa: F401

# --------------------------------------------------------------------------------------
# dcemets.registration
# --------------------------------------------------------------------------------------

not_fuzzable(
    "dcemets.registration.FrameRegistration",
    "plain frozen record of register_frames' results (no arguments of its own)",
)
register(
    Entry(
        "dcemets.registration.register_frames",
        valid=lambda ctx: {
            "dce": draw_dce(ctx, shape=(4, 8, 8)),
            "sampling": 1.0,
            "n_levels": 1,
            "iterations": 5,
        },
        args={
            "dce": "dce",
            "reference": "int",
            "margin_mm": "real",
            "n_levels": "pos_int",
            "n_bins": "pos_int",
            "sampling": "positive",
            "iterations": "pos_int",
            "min_displacement": "real",
        },
    )
)
