"""Fuzz entries of :mod:`dcemets.models` (PyTorch): constructors, forward passes, estimators."""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np
from hypothesis import strategies as st

from . import strategies as S
from .registry import SKLEARN_VALIDATION, Entry, Result, draw_dce, mask_of, not_fuzzable, register
from .strategies import Corruption, Ctx, const

for _c in ("MAP_NAMES", "TRAINING_PRESETS"):
    not_fuzzable(f"dcemets.models.{_c}", "a constant table")
not_fuzzable("dcemets.models.SliceDataset", "a plain record of slice_dataset's arrays")
not_fuzzable("dcemets.models.TrainingBudget", "a plain record of a documented training budget")


def _torch() -> Any:
    import torch

    return torch


def _x(*shape: int) -> Any:
    return _torch().randn(*shape, generator=_torch().Generator().manual_seed(0))


def _module_call(cls_name: str, forward_shape: tuple[int, ...], **fixed: Any):
    """Build the module with `params` (the constructor's arguments), run it on `x`."""

    def call(x: Any, **params: Any) -> Any:
        import dcemets.models as m

        net = getattr(m, cls_name)(**{**fixed, **params})
        net.eval()
        with _torch().no_grad():
            out = net(x)
        return out[0] if isinstance(out, tuple) else out

    return call


_NET = {
    "features": "pos_int",
    "num_layers": "pos_int",
    "kernel_size": "pos_int",
    "dropout": "fraction",
    "dropout_from": "nonneg_int",
}
register(
    Entry(
        "dcemets.models.CLSTMNet",
        valid=lambda ctx: {"x": _x(2, 4, 1, 8, 8)},
        call=_module_call("CLSTMNet", (2, 4, 1, 8, 8), n_frames=4, image_size=8, features=4, num_layers=2),
        args={
            "x": "tensor",
            "in_channels": "pos_int",
            "num_classes": "pos_int",
            "n_frames": "pos_int",
            "image_size": "pos_int",
            **_NET,
            "activation": "choice",
            "kernel_init": "choice",
        },
        infer=False,
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.models.MapCNN",
        valid=lambda ctx: {"x": _x(2, 3, 8, 8)},
        call=_module_call("MapCNN", (2, 3, 8, 8), image_size=8, features=4, num_layers=2),
        args={
            "x": "tensor",
            "in_channels": "pos_int",
            "num_classes": "pos_int",
            "image_size": "pos_int",
            **_NET,
        },
        infer=False,
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.models.ConvLSTM",
        valid=lambda ctx: {"x": _x(2, 3, 1, 6, 6)},
        call=_module_call("ConvLSTM", (2, 3, 1, 6, 6), in_channels=1, hidden_channels=2),
        args={
            "x": "tensor",
            "in_channels": "pos_int",
            "hidden_channels": "pos_int",
            "kernel_size": "pos_int",
            "num_layers": "pos_int",
            "strides": "pos_int",
            "dropout": "fraction",
            "activation": "choice",
            "kernel_init": "choice",
        },
        infer=False,
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.models.ConvLSTMCell",
        valid=lambda ctx: {"x": _x(3, 2, 1, 6, 6)},
        call=_module_call("ConvLSTMCell", (3, 2, 1, 6, 6), in_channels=1, hidden_channels=2),
        args={
            "x": "tensor",
            "in_channels": "pos_int",
            "hidden_channels": "pos_int",
            "kernel_size": "pos_int",
            "stride": "pos_int",
            "activation": "choice",
            "kernel_init": "choice",
        },
        infer=False,
        max_examples=1,
    )
)


def _affine_call(x: Any, **params: Any) -> Any:
    from dcemets.models import RandomAffine

    aug = RandomAffine(**params)
    return aug(x, generator=_torch().Generator().manual_seed(0))


register(
    Entry(
        "dcemets.models.RandomAffine",
        valid=lambda ctx: {"x": _x(2, 1, 6, 6)},
        call=_affine_call,
        args={
            "x": "tensor",
            "degrees": "nonneg",
            "translate": "nonneg",
            "shear": "nonneg",
            "scale": "value_range",
            "multiplicity": "pos_int",
            "interpolation": "choice",
        },
        # RandomAffine documents `x` as (B, ..., H, W): any axes between the batch and the
        # last two share the sample's transform, so more channels or no middle axis (a 3D
        # (B, H, W) batch) are valid; `degrees` and `shear` document a (min, max) pair, and
        # the fuzz list [1.0, 2.0] is one (a translation of 1-2 image sizes is an error)
        documented={
            "x:wrong_channels": Result("RandomAffine.forward: x is (B, ..., H, W)"),
            "x:wrong_ndim": Result("RandomAffine.forward: x is (B, ..., H, W)"),
            "degrees:list": Result("RandomAffine: degrees is a number or a (min, max) pair"),
            "shear:list": Result("RandomAffine: shear is a number or a (min, max) pair"),
        },
        infer=False,
        max_examples=1,
    )
)
register(
    Entry(
        "dcemets.models.dropout",
        valid=lambda ctx: {"x": _x(2, 3, 4, 4), "p": ctx.draw(st.sampled_from([0.0, 0.3]))},
        args={"x": "tensor", "p": "fraction"},
        # dropout documents `x` as a float tensor of any shape (empty included) and is
        # elementwise like torch.nn.functional.dropout: NaN stays NaN, it does not check
        # values (it runs on the networks' hidden states; the networks check their input)
        documented={
            "x:wrong_ndim": Result("dropout: x of any shape"),
            "x:wrong_channels": Result("dropout: x of any shape"),
            "x:empty": Result("dropout: x of any shape, an empty one included"),
            "x:nan": Result("dropout: elementwise, NaN stays NaN (as F.dropout)", nan_ok=True),
        },
        max_examples=1,
    )
)


def _to_tensor_valid(ctx: Ctx) -> dict[str, Any]:
    return {"data": draw_dce(ctx)}


register(
    Entry(
        "dcemets.models.to_tensor",
        valid=_to_tensor_valid,
        args={"data": "dce", "device": "choice"},
        # to_tensor documents arrays converted as they are, 3D images (z, y, x) -> (z, 1, y, x)
        # and DCE series of any number (>= 1) of frames (CLSTMNet takes any n_frames)
        documented={
            "data:numpy": Result("to_tensor: arrays are converted as they are"),
            "data:not_4d": Result("to_tensor: a 3D image (z, y, x) -> (z, 1, y, x)"),
            "data:single_frame": Result("to_tensor: a DCE series of any number of frames >= 1"),
            "data:two_frames": Result("to_tensor: a DCE series of any number of frames >= 1"),
        },
        max_examples=2,
    )
)


def _slice_items(ctx: Ctx) -> dict[str, Any]:
    d = draw_dce(ctx, shape=(2, 10, 10), n_frames=4)
    m = mask_of(ctx, d)
    return {"items": [(d, m, "lung", "p1")], "crop": 8, "n_frames": 4, "progress": False}


register(
    Entry(
        "dcemets.models.slice_dataset",
        valid=_slice_items,
        args={
            "items": "items",
            "inputs": "choice",
            "crop": "pos_int",
            "fit": "choice",
            "n_frames": "pos_int",
        },
        max_examples=2,
    )
)
S.CORRUPTIONS["items"] = [
    *S.WRONG_TYPES,
    Corruption("empty", const([])),
    Corruption("not_tuple", const([3])),
    Corruption("short_tuple", lambda v, ctx: [v[0][:2]]),
    Corruption("nan_dce", lambda v, ctx: [(S._set_nonfinite(np.nan)(v[0][0], ctx), *v[0][1:])]),
    Corruption("all_false_mask", lambda v, ctx: [(v[0][0], S._all_false(v[0][1], ctx), *v[0][2:])]),
    Corruption("wrong_grid_mask", lambda v, ctx: [(v[0][0], S._wrong_grid(v[0][1], ctx), *v[0][2:])]),
    Corruption("duplicate_group", lambda v, ctx: [v[0], v[0]]),
]

# estimators: tiny networks, one epoch


def _clf_xy(ctx: Ctx, kind: str) -> dict[str, Any]:
    rng = np.random.default_rng(ctx.draw(st.integers(0, 100)))
    shape = (8, 3, 1, 8, 8) if kind == "clstm" else (8, 3, 8, 8)
    X = rng.normal(size=shape).astype("float32")
    y = np.array(["lung", "other"] * 4)
    return {"X": X, "y": y}


@functools.cache
def _fitted_once(cls_name: str, kind: str, fixed: tuple) -> Any:
    """One fitted estimator per class (fitting takes ~1 s), deep-copied for each call."""
    rng = np.random.default_rng(0)
    shape = (8, 3, 1, 8, 8) if kind == "clstm" else (8, 3, 8, 8)
    X = rng.normal(size=shape).astype("float32")
    return _clf_fit(cls_name, **dict(fixed))(X, np.array(["lung", "other"] * 4))


def _clf_xy_of(kind: str, ctx: Ctx) -> dict[str, Any]:
    return _clf_xy(ctx, kind)


_FAST = {"epochs": 1, "augment": 1, "batch_size": 4, "device": "cpu", "random_state": 0}


def _clf_fit(cls_name: str, **fixed: Any):
    def call(X: Any, y: Any, **params: Any) -> Any:
        import dcemets.models as m

        return getattr(m, cls_name)(**{**_FAST, **fixed, **params}).fit(X, y)

    return call


_EST_PARAMS = {
    "features": "pos_int",
    "num_layers": "pos_int",
    "kernel_size": "pos_int",
    "dropout": "fraction",
    "epochs": "pos_int",
    "batch_size": "pos_int",
    "lr": "positive",
    "augment": "pos_int",
    "validation_fraction": "fraction",
    "patience": "pos_int",
    "device": "choice",
    "max_grad_norm": "positive",
    "random_state": "rng",
}
for _cls, _kind, _fixed in (
    ("CLSTMClassifier", "clstm", {"features": 2, "num_layers": 1}),
    ("MapCNNClassifier", "map", {"features": 2, "num_layers": 1}),
):
    register(
        Entry(
            f"dcemets.models.{_cls}",
            valid=functools.partial(_clf_xy_of, _kind),
            call=_clf_fit(_cls, **_fixed),
            args=dict(_EST_PARAMS),
            infer=False,
            max_examples=1,
        )
    )
    register(
        Entry(
            f"dcemets.models.{_cls}.fit",
            delegated=SKLEARN_VALIDATION,
            valid=functools.partial(_clf_xy_of, _kind),
            call=_clf_fit(_cls, **_fixed),
            args={"X": "X", "y": "y"},
            infer=False,
            max_examples=1,
        )
    )

    def _fitted(ctx: Ctx, k: str = _kind, c: str = _cls, f: dict = _fixed) -> dict[str, Any]:
        d = _clf_xy(ctx, k)
        return {"estimator": copy.deepcopy(_fitted_once(c, k, tuple(f.items()))), "X": d["X"]}

    register(
        Entry(
            f"dcemets.models.{_cls}.predict_proba",
            delegated=SKLEARN_VALIDATION,
            valid=_fitted,
            call=lambda estimator, X: estimator.predict_proba(X),
            args={"X": "X_predict"},
            infer=False,
            max_examples=1,
        )
    )
