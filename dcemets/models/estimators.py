"""Scikit-learn classifiers around :class:`CLSTMNet` and :class:`MapCNN`, with their own training loop."""

from __future__ import annotations

import abc
import contextlib
import copy
import io
import os
import pickle
import secrets
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from dcemets.models._checks import (
    check_fraction,
    check_images,
    check_int,
    check_labels,
    check_odd,
    check_optional_int,
    check_real,
    int_list,
)
from dcemets.models._device import resolve_device
from dcemets.models.augment import RandomAffine
from dcemets.models.nets import CLSTMNet, MapCNN

__all__ = [
    "TRAINING_PRESETS",
    "CLSTMClassifier",
    "CurveGRUClassifier",
    "MapCNNClassifier",
    "TrainingBudget",
]

_FORMAT = "dcemets.models/1"
_SCHEDULES = (None, "cosine")


_PER_MODEL_OPTIONS = (
    "lr",
    "weight_decay",
    "lr_schedule",
    "readout",
    "num_layers",
    "dropout",
    "early_stopping",
    "patience",
    "validation_fraction",
)


@dataclass(frozen=True)
class TrainingBudget:
    """A documented training budget: how long and on what the networks train.

    Attributes
    ----------
    name : str
        Preset name.
    epochs : int
        Passes over the (augmented) training fold.
    augment : int
        Augmentation multiplicity: each epoch shows every slice once as is and
        ``augment - 1`` times under a random affine (20 in the paper).
    batch_size : int
        Mini-batch size.
    crop : int
        Crop size (pixels) for :func:`~dcemets.models.slice_dataset` and the networks.
    description : str
        What the preset is for.
    per_model : dict
        Overrides for one network, keyed by estimator class name (e.g.
        ``{"MapCNNClassifier": {"epochs": 12, "augment": 2}}``): ``epochs``, ``augment``,
        ``batch_size``, and the training options ``lr``, ``weight_decay``, ``lr_schedule``,
        ``readout``, ``num_layers``, ``dropout``, ``early_stopping``, ``patience``,
        ``validation_fraction``.

    Examples
    --------
    >>> b = TRAINING_PRESETS["cpu"]
    >>> b.name, b.epochs, b.augment, b.batch_size, b.crop
    ('cpu', 12, 2, 32, 16)
    """

    name: str
    epochs: int
    augment: int
    batch_size: int
    crop: int
    description: str
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)

    def estimator_params(self, model: str | None = None) -> dict[str, int]:
        """Keyword arguments for :class:`CLSTMClassifier` / :class:`MapCNNClassifier`.

        Parameters
        ----------
        model : str, optional
            Estimator class name; its entry of `per_model` overrides the shared values.

        Returns
        -------
        dict
            ``epochs``, ``augment``, ``batch_size`` and the network's options from
            `per_model` (the crop goes to :func:`~dcemets.models.slice_dataset`).

        Raises
        ------
        ValueError
            A `per_model` entry sets something else.

        Examples
        --------
        >>> TRAINING_PRESETS["fast"].estimator_params()["epochs"]
        3
        >>> TRAINING_PRESETS["cpu"].estimator_params("CLSTMClassifier")["augment"]
        2
        """
        params: dict[str, Any] = {
            "epochs": self.epochs,
            "augment": self.augment,
            "batch_size": self.batch_size,
        }
        extra = dict(self.per_model.get(model, {})) if model is not None else {}
        unknown = set(extra) - set(params) - set(_PER_MODEL_OPTIONS)
        if unknown:
            raise ValueError(
                f"`per_model[{model!r}]` may set epochs, augment, batch_size and "
                f"{sorted(_PER_MODEL_OPTIONS)}; got {sorted(unknown)}"
            )
        return {**params, **{k: (int(v) if k in params else v) for k, v in extra.items()}}

    def as_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (for reports)."""
        return asdict(self)


TRAINING_PRESETS: dict[str, TrainingBudget] = {
    "fast": TrainingBudget(
        "fast", epochs=3, augment=1, batch_size=32, crop=16,
        description="smoke tests and gallery examples; seconds per fold, far from converged",
    ),
    "cpu": TrainingBudget(
        "cpu", epochs=12, augment=2, batch_size=32, crop=16,
        description="full 10-fold patient-level CV of both networks on the 61-case simulated cohort "
        "on a 2-core CPU: 16 x 16 crops, 2x augmentation; the CNN as the paper's, 12 epochs; the "
        "CLSTM *not* the paper's (issue 19: on this data the paper's 7 layers and dense readout over "
        "every pixel memorise the tumour outlines): 3 ConvLSTM layers read out by their mean over "
        "the pixels, no dropout, batch 8, 20 epochs, AdamW (lr 3e-3, weight decay 1e-2) with a "
        "cosine schedule",
        per_model={
            "CLSTMClassifier": {
                "epochs": 20, "batch_size": 8, "readout": "pool", "num_layers": 3, "dropout": 0.0,
                "lr": 3e-3, "weight_decay": 1e-2, "lr_schedule": "cosine",
            },
        },
    ),
    "paper": TrainingBudget(
        "paper", epochs=30, augment=20, batch_size=32, crop=32,
        description="the paper's exact configuration (Fig. 5: 7 ConvLSTM layers, dense layer over "
        "every time step and pixel, dropout 0.5, Adam 1e-3) with its 20x augmentation on 32 x 32 "
        "crops; meant for a GPU (hours per fold on a 2-core CPU)",
    ),
}  # fmt: skip
"""Training budgets by name: ``"fast"``, ``"cpu"`` and ``"paper"``."""


_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
_PLAIN = (str, int, float, bool, type(None))


def _seed_from(random_state: Any) -> int:
    """One torch seed from ``random_state`` (None, int, RandomState or Generator; advances it)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    try:
        rs = check_random_state(random_state)
    except ValueError:
        raise ValueError(
            f"`random_state` must be None, an int, a numpy RandomState or Generator, got {random_state!r}"
        ) from None
    return int(rs.randint(0, 2**31 - 1))


def _plain_state(value: Any) -> Any:
    """A numpy bit-generator state with its arrays as tagged lists (safe for weights_only)."""
    if isinstance(value, dict):
        return {k: _plain_state(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.dtype.str, "data": value.tolist()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _numpy_state(value: Any) -> Any:
    """Inverse of :func:`_plain_state`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["data"], dtype=np.dtype(value["__ndarray__"]))
        return {k: _numpy_state(v) for k, v in value.items()}
    return value


def _encode_param(value: Any, name: str) -> Any:
    """An estimator parameter as plain Python values that ``torch.load(weights_only=True)`` reads.

    numpy scalars become Python scalars; a numpy ``RandomState`` or ``Generator`` becomes a
    tagged dict holding its current state (rebuilt by :func:`_decode_param`).
    """
    if isinstance(value, np.random.RandomState):
        return {"__numpy_random__": "RandomState", "state": _plain_state(value.get_state(legacy=False))}
    if isinstance(value, np.random.Generator):
        return {"__numpy_random__": "Generator", "state": _plain_state(value.bit_generator.state)}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, list | tuple):
        return type(value)(_encode_param(v, name) for v in value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode_param(v, name) for k, v in value.items()}
    raise TypeError(
        f"parameter `{name}` = {value!r} cannot be saved in a checkpoint: only None, bool, int, "
        "float, str, lists/tuples/str-keyed dicts of those, and numpy RandomState/Generator are"
    )


def _decode_param(value: Any) -> Any:
    """Inverse of :func:`_encode_param` (only tagged numpy random states need rebuilding)."""
    if isinstance(value, dict) and "__numpy_random__" in value:
        state = _numpy_state(value["state"])
        if value["__numpy_random__"] == "RandomState":
            rs = np.random.RandomState()
            rs.set_state(state)
            return rs
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if value["__numpy_random__"] != "Generator" or name not in _BIT_GENERATORS:
            raise ValueError(f"unknown numpy random state {value['__numpy_random__']!r} / {name!r}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    return value


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a new file next to ``path``, then ``os.replace`` it onto ``path``.

    A failed write leaves ``path`` as it was (and no temporary file behind).
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"`path` {path!r}: the folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is a folder, not a checkpoint file")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _unreadable(path: str, why: str) -> ValueError:
    return ValueError(f"`path` {path!r} is not a readable dcemets.models checkpoint: {why}")


class _TorchClassifier(ClassifierMixin, BaseEstimator, abc.ABC):
    """Shared training loop; subclasses define the module and the image layout."""

    _image_ndim: ClassVar[int] = 5
    _spatial: ClassVar[bool] = True  # images: random affine augmentation applies

    # -- subclass hooks -------------------------------------------------------------------
    @abc.abstractmethod
    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        """Build the network; every concrete classifier defines it."""

    def _as_images(self, X: np.ndarray) -> np.ndarray:
        """2D ``(n, features)`` tables become 1 x 1-pixel images; image arrays pass through."""
        if X.ndim == 2:
            if self._image_ndim == 5:
                return X.reshape(X.shape[0], X.shape[1], 1, 1, 1)  # features as frames
            return X.reshape(X.shape[0], X.shape[1], 1, 1)  # features as channels
        if X.ndim != self._image_ndim:
            raise ValueError(f"`X` must be {self._layout()} (or a 2D table), got shape {X.shape}")
        return X

    # -- validation -------------------------------------------------------------------------
    def _validate_params(self) -> None:
        self._validate_net_params()
        check_int(self.epochs, "epochs")
        check_int(self.batch_size, "batch_size")
        check_int(getattr(self, "augment", 1), "augment")
        check_real(self.lr, "lr", low=0.0, low_open=True)
        check_real(getattr(self, "weight_decay", 0.0), "weight_decay", low=0.0)
        schedule = getattr(self, "lr_schedule", None)
        if schedule not in _SCHEDULES:
            raise ValueError(f"`lr_schedule` must be one of {_SCHEDULES}, got {schedule!r}")
        check_real(
            self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_open=True, high_open=True
        )
        check_int(self.patience, "patience")
        if self.max_grad_norm is not None:
            check_real(self.max_grad_norm, "max_grad_norm", low=0.0, low_open=True)
        affine = getattr(self, "affine", None)
        if affine is not None and not isinstance(affine, dict):
            raise TypeError(f"`affine` must be None or a dict of RandomAffine arguments, got {affine!r}")

    def _validate_net_params(self) -> None:
        # the network's own parameters (the same checks its constructor makes)
        num_layers = check_int(self.num_layers, "num_layers")
        int_list(self.features, num_layers, "features")
        check_odd(check_int(self.kernel_size, "kernel_size"), "kernel_size")
        check_fraction(self.dropout, "dropout")
        check_int(self.dropout_from, "dropout_from")
        check_optional_int(getattr(self, "dropout_to", None), "dropout_to")
        readout = getattr(self, "readout", "flatten")
        if not isinstance(readout, str) or readout not in ("flatten", "pool", "max", "meanmax"):
            raise ValueError(f"`readout` must be 'flatten', 'pool', 'max' or 'meanmax', got {readout!r}")

    def _layout(self) -> str:
        return "(n_samples, T, C, H, W)" if self._image_ndim == 5 else "(n_samples, C, H, W)"

    def _check_X(self, X: Any, *, reset: bool) -> np.ndarray:
        check_images(X, type(self).__name__, self._layout())
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=np.float32)
        imgs = self._as_images(np.array(X, dtype=np.float32, copy=True))
        if not reset and tuple(imgs.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(
                f"`X` has sample shape {imgs.shape[1:]}, but {type(self).__name__} was fitted on "
                f"{tuple(self.input_shape_)}"
            )
        return imgs

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # -- training -------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, groups: Any = None) -> _TorchClassifier:
        """Train the network from scratch.

        Parameters
        ----------
        X : array_like
            Training images (see the class docstring for the layout), or a 2D table read as
            1 x 1-pixel images.
        y : array_like, shape (n_samples,)
            Class labels.
        groups : array_like, shape (n_samples,), optional
            Patient ids; only used to keep a patient's slices on one side of the early-stopping
            validation split.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        TypeError
            `X` is not an array of numbers (None, text, ...), or a parameter has the wrong
            type (e.g. a str `lr`, a float `num_layers`).
        ValueError
            Bad shapes, no samples, complex or non-finite values, a `y` of another length or
            with missing labels, fewer than 2 classes, a parameter out of range (e.g. ``lr``
            not finite and > 0, ``dropout`` outside ``[0, 1)``, ``validation_fraction``
            outside ``(0, 1)``), or ``device="cuda"`` without CUDA.
        """
        self._validate_params()
        device = resolve_device(self.device)
        check_images(X, type(self).__name__, self._layout())
        check_labels(y, X)
        X, y = validate_data(self, X, y, allow_nd=True, dtype=np.float32)
        check_classification_targets(y)
        images = self._as_images(np.array(X, dtype=np.float32, copy=True))
        classes, y_enc = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"`y` must contain at least 2 classes, got 1 class ({classes[0]!r})")
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (images.shape[0],):
                raise ValueError(f"`groups` must have shape ({images.shape[0]},), got {groups.shape}")
        seed = _seed_from(self.random_state)
        self.classes_ = classes
        self.input_shape_ = tuple(int(s) for s in images.shape[1:])
        self.device_ = str(device)
        use_amp = bool(self.amp) and device.type == "cuda"
        cuda_devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            module = self._build_module(self.input_shape_, len(classes)).to(device)
            self.history_ = self._train(module, images, y_enc, groups, device, seed, use_amp)
        self.module_ = module.eval()
        self.n_epochs_ = len(self.history_)
        return self

    def _split(
        self, y_enc: np.ndarray, groups: np.ndarray | None, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        n = y_enc.size
        if groups is not None and np.unique(groups).size >= 2:
            splitter: Any = GroupShuffleSplit(1, test_size=self.validation_fraction, random_state=seed)
            return next(splitter.split(np.zeros(n), y_enc, groups))
        try:
            splitter = StratifiedShuffleSplit(1, test_size=self.validation_fraction, random_state=seed)
            return next(splitter.split(np.zeros(n), y_enc))
        except ValueError:
            splitter = ShuffleSplit(1, test_size=self.validation_fraction, random_state=seed)
            return next(splitter.split(np.zeros(n)))

    def _batches(self, n: int, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled (sample index, view index) batches over ``n * augment`` views."""
        order = torch.randperm(n * int(getattr(self, "augment", 1)), generator=gen)
        for start in range(0, order.numel(), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield idx % n, idx // n

    def _train(
        self,
        module: nn.Module,
        images: np.ndarray,
        y_enc: np.ndarray,
        groups: np.ndarray | None,
        device: torch.device,
        seed: int,
        use_amp: bool,
    ) -> list[dict[str, float]]:
        gen = torch.Generator().manual_seed(seed)
        train_idx = np.arange(y_enc.size)
        val_idx = np.empty(0, dtype=int)
        if self.early_stopping:
            train_idx, val_idx = self._split(y_enc, groups, seed)
        x_train = torch.from_numpy(images[train_idx])
        y_train = torch.from_numpy(y_enc[train_idx].astype(np.int64))
        x_val = torch.from_numpy(images[val_idx]) if val_idx.size else None
        y_val = torch.from_numpy(y_enc[val_idx].astype(np.int64)) if val_idx.size else None
        affine = RandomAffine(**(getattr(self, "affine", None) or {}))
        spatial = self._spatial and (images.shape[-1] > 1 or images.shape[-2] > 1)
        weight_decay = float(getattr(self, "weight_decay", 0.0))
        if weight_decay > 0:  # decoupled weight decay (Loshchilov & Hutter 2019)
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(
                module.parameters(), lr=float(self.lr), weight_decay=weight_decay
            )
        else:
            optimizer = torch.optim.Adam(module.parameters(), lr=float(self.lr))
        scheduler = None
        if getattr(self, "lr_schedule", None) == "cosine":  # per step, from lr down to 0 at the last epoch
            n_steps = self.epochs * -(-len(train_idx) * int(getattr(self, "augment", 1)) // self.batch_size)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(n_steps, 1))
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        autocast = (
            torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()
        )  # fmt: skip
        history: list[dict[str, float]] = []
        best: tuple[float, dict[str, torch.Tensor]] | None = None
        bad_epochs = 0
        epochs = tqdm(range(self.epochs), desc=type(self).__name__, disable=not self.progress, leave=False)
        for epoch in epochs:
            module.train()
            total, correct, count = 0.0, 0, 0
            for sample, view in self._batches(len(y_train), gen):
                xb = x_train[sample].to(device, non_blocking=True)
                yb = y_train[sample].to(device, non_blocking=True)
                aug = view > 0
                if spatial and bool(aug.any()):
                    moved = affine(xb[aug.to(device)], generator=gen)
                    xb = xb.clone()
                    xb[aug.to(device)] = moved
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    logits = module(xb)
                    loss = F.cross_entropy(logits, yb)
                scaler.scale(loss).backward()
                if self.max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(module.parameters(), float(self.max_grad_norm))
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None:
                    with warnings.catch_warnings():  # AMP may skip a step: torch warns about the order
                        warnings.simplefilter("ignore", UserWarning)
                        scheduler.step()
                total += float(loss.detach()) * len(yb)
                correct += int((logits.detach().argmax(1) == yb).sum())
                count += len(yb)
            record = {
                "epoch": float(epoch + 1),
                "train_loss": total / count,
                "train_accuracy": correct / count,
            }
            if x_val is not None and y_val is not None:
                val_logits = self._logits(module, x_val, device, use_amp)
                val_loss = float(F.cross_entropy(val_logits, y_val))
                record["val_loss"] = val_loss
                record["val_accuracy"] = float((val_logits.argmax(1) == y_val).float().mean())
                if best is None or val_loss < best[0]:
                    best = (val_loss, copy.deepcopy(module.state_dict()))
                    bad_epochs = 0
                else:
                    bad_epochs += 1
            history.append(record)
            epochs.set_postfix(loss=f"{record['train_loss']:.3f}")
            if self.early_stopping and bad_epochs >= self.patience:
                break
        if best is not None:
            module.load_state_dict(best[1])
        return history

    def _logits(
        self, module: nn.Module, x: torch.Tensor, device: torch.device, use_amp: bool
    ) -> torch.Tensor:
        module.eval()
        out = []
        autocast = torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for part in x.split(max(self.batch_size, 256)):
                out.append(module(part.to(device)).float().cpu())
        return torch.cat(out) if out else torch.empty(0, 0)

    # -- prediction -----------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities per sample (slice).

        Parameters
        ----------
        X : array_like
            Images in the layout the estimator was fitted on.

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_classes)
            Softmax probabilities, columns in the order of ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        TypeError
            `X` is not an array of numbers.
        ValueError
            No samples, complex or non-finite values, or a sample shape other than the one
            seen in :meth:`fit`.
        """
        check_is_fitted(self, "module_")
        images = self._check_X(X, reset=False)
        device = torch.device(self.device_)
        use_amp = bool(self.amp) and device.type == "cuda"
        logits = self._logits(self.module_, torch.from_numpy(images), device, use_amp)
        return torch.softmax(logits.double(), 1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per sample (slice).

        Parameters
        ----------
        X : array_like
            Images.

        Returns
        -------
        numpy.ndarray, shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]

    def predict_proba_patient(self, X: Any, groups: Any) -> pd.DataFrame:
        """Patient-level probabilities: the mean of each patient's slice probabilities.

        Parameters
        ----------
        X : array_like
            Slices.
        groups : array_like, shape (n_samples,)
            Patient id of each slice.

        Returns
        -------
        pandas.DataFrame
            Index: patient ids (sorted), columns: ``classes_``.
        """
        proba = self.predict_proba(X)
        groups = np.asarray(groups)
        if groups.shape != (proba.shape[0],):
            raise ValueError(f"`groups` must have shape ({proba.shape[0]},), got {groups.shape}")
        frame = pd.DataFrame(proba, columns=list(self.classes_))
        frame.index = pd.Index(groups, name="group")
        return frame.groupby(level=0, sort=True).mean()

    def predict_patient(self, X: Any, groups: Any) -> pd.Series:
        """Patient-level prediction from the mean slice probabilities.

        Parameters
        ----------
        X : array_like
            Slices.
        groups : array_like, shape (n_samples,)
            Patient id of each slice.

        Returns
        -------
        pandas.Series
            Predicted label per patient, indexed by patient id (sorted).
        """
        proba = self.predict_proba_patient(X, groups)
        return pd.Series(self.classes_[proba.to_numpy().argmax(1)], index=proba.index, name="prediction")

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save parameters, classes and weights (a ``state_dict``; no pickled code).

        The checkpoint is written to a temporary file in the same folder and moved onto
        `path` with :func:`os.replace`, so an interrupted or failed save leaves any previous
        file at `path` intact.  A numpy ``RandomState`` or ``Generator`` `random_state` is
        stored as its current state (already advanced by :meth:`fit`) and rebuilt by
        :meth:`load`.

        Parameters
        ----------
        path : str or path-like
            Output file (``.pt``); its folder must exist.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        TypeError
            Class labels other than str, int, float or bool, or a parameter that is not a
            plain value (see :meth:`load`).
        FileNotFoundError
            The folder of `path` does not exist.

        See Also
        --------
        load : read it back (an example is there).
        """
        check_is_fitted(self, "module_")
        try:
            target = os.fspath(path)
        except TypeError:
            raise TypeError(f"`path` must be a str or path-like, got {path!r}") from None
        classes = self.classes_.tolist()
        if not all(isinstance(c, str | int | float | bool) for c in classes):
            raise TypeError("only str, int, float or bool class labels can be saved")
        payload = {
            "format": _FORMAT,
            "estimator": type(self).__name__,
            "params": {k: _encode_param(v, k) for k, v in self.get_params(deep=False).items()},
            "classes": classes,
            "input_shape": list(self.input_shape_),
            "n_features_in": int(self.n_features_in_),
            "history": [{k: float(v) for k, v in record.items()} for record in self.history_],
            "state_dict": {k: v.detach().cpu() for k, v in self.module_.state_dict().items()},
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)  # what load() will read
        _write_atomic(target, data)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "auto") -> Any:
        """Load an estimator saved with :meth:`save` (``torch.load(weights_only=True)``).

        Only tensors and plain Python values are read back, never pickled code.

        Parameters
        ----------
        path : str or path-like
            File written by :meth:`save`.
        device : {"auto", "cpu", "cuda"}
            Where to put the network.

        Returns
        -------
        estimator
            A fitted estimator of this class.

        Raises
        ------
        FileNotFoundError
            No file at `path`.
        ValueError
            The file is empty, corrupt or truncated, holds pickled objects other than weights
            and plain values, or was written by another estimator class or format.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> X, y = np.zeros((4, 3, 4, 4), "float32"), [0, 1, 0, 1]
        >>> clf = MapCNNClassifier(features=4, num_layers=2, epochs=1, augment=1, random_state=0).fit(X, y)
        >>> path = os.path.join(tempfile.mkdtemp(), "cnn.pt")
        >>> clf.save(path)
        >>> back = MapCNNClassifier.load(path, device="cpu")
        >>> bool(np.array_equal(back.predict_proba(X), clf.predict_proba(X)))
        True
        """
        try:
            source = os.fspath(path)
        except TypeError:
            raise TypeError(f"`path` must be a str or path-like, got {path!r}") from None
        if not os.path.isfile(source):
            raise FileNotFoundError(f"`path` {source!r}: no such checkpoint file")
        if os.path.getsize(source) == 0:
            raise _unreadable(source, "the file is empty (0 bytes; an interrupted save?)")
        if not zipfile.is_zipfile(source):  # torch.save writes a zip archive; a cut one has no end record
            raise _unreadable(source, "the file is corrupt or truncated (not a complete torch zip archive)")
        try:
            payload = torch.load(source, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "weights only" in str(exc).lower():
                raise _unreadable(
                    source,
                    "it holds pickled objects other than tensors and plain values, which are "
                    "never unpickled (torch.load(weights_only=True))",
                ) from None
            raise _unreadable(source, f"the file is corrupt or truncated ({type(exc).__name__})") from None
        except PermissionError:
            raise
        except (EOFError, OSError, RuntimeError, KeyError, IndexError, ValueError, TypeError) as exc:
            # what a damaged zip raises: EOFError, RuntimeError (miniz), OSError(EINVAL), KeyError...
            raise _unreadable(source, f"the file is corrupt or truncated ({type(exc).__name__})") from None
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError(f"{source!r} is not a dcemets.models checkpoint")
        if payload.get("estimator") != cls.__name__:
            raise ValueError(f"{source!r} holds a {payload.get('estimator')}, not a {cls.__name__}")
        try:
            params = {k: _decode_param(v) for k, v in dict(payload["params"]).items()}
            params["device"] = device
            est = cls(**params)
            est.classes_ = np.asarray(payload["classes"])
            est.input_shape_ = tuple(int(s) for s in payload["input_shape"])
            est.n_features_in_ = int(payload["n_features_in"])
            est.history_ = [dict(record) for record in payload["history"]]
            module = est._build_module(est.input_shape_, len(est.classes_))
            module.load_state_dict(payload["state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise _unreadable(
                source, f"its content is incomplete or inconsistent ({type(exc).__name__}: {exc})"
            ) from None
        dev = resolve_device(device)
        est.n_epochs_ = len(est.history_)
        est.device_ = str(dev)
        est.module_ = module.to(dev).eval()
        return est

    @classmethod
    def from_preset(cls, preset: str | TrainingBudget, **params: Any) -> Any:
        """An estimator with a named training budget (see :data:`TRAINING_PRESETS`).

        Parameters
        ----------
        preset : {"fast", "cpu", "paper"} or TrainingBudget
            The budget.
        **params
            Further estimator parameters (override the preset).

        Returns
        -------
        estimator
            Unfitted.
        """
        if isinstance(preset, str):
            if preset not in TRAINING_PRESETS:
                raise ValueError(f"`preset` must be one of {sorted(TRAINING_PRESETS)}, got {preset!r}")
            preset = TRAINING_PRESETS[preset]
        return cls(**{**preset.estimator_params(cls.__name__), **params})


class CLSTMClassifier(_TorchClassifier):
    """The paper's ConvLSTM classifier (Fig. 5) as a scikit-learn estimator.

    Trains :class:`CLSTMNet` with cross entropy and Adam (constant lr 1e-3), augmenting on the
    fly; ``predict_proba`` gives per-slice probabilities, :meth:`predict_patient` averages them
    per patient.

    Parameters
    ----------
    features : int
        Hidden channels of every ConvLSTM layer (16).
    num_layers : int
        ConvLSTM layers (7).
    kernel_size : int
        Kernel size (3).
    activation : {"relu", "tanh"}
        Cell activation (``"tanh"``; ``"relu"`` does not train here, see :class:`CLSTMNet`).
    output_activation : {None, "relu"}
        Activation on each ConvLSTM layer's output (see :class:`CLSTMNet`).
    dropout : float
        Dropout probability (0.5) on the outputs of layers `dropout_from` to `dropout_to`.
    dropout_from, dropout_to : int
        First and last layer (1-based) with dropout on its output: ``(2, None)``, every layer
        after the second and the dense layer, as the caption of the paper's Fig. 5 says (see
        :class:`CLSTMNet`).
    readout : {"flatten", "pool", "max", "meanmax"}
        How the dense layer reads the last ConvLSTM layer: ``"flatten"``, every time step and
        pixel (the paper's Fig. 5), ``"pool"``, every time step averaged over the pixels
        (what the ``cpu`` preset uses), ``"max"``, the pixel maximum of every time step and
        channel (the hot spot's time course), or ``"meanmax"``, both (see :class:`CLSTMNet`).
    epochs : int
        Training epochs (passes over the augmented training set).
    batch_size : int
        Mini-batch size (32).
    lr : float
        Adam learning rate (1e-3, the paper's default; constant unless `lr_schedule`).
    weight_decay : float
        Decoupled weight decay (AdamW, Loshchilov & Hutter 2019); 0 (default) is plain Adam.
    lr_schedule : {None, "cosine"}
        None (default): constant `lr`; ``"cosine"``: cosine annealing from `lr` to 0 over
        all the training steps, one step per mini-batch.
    augment : int
        Augmentation multiplicity: per epoch every sample is shown once as is and
        ``augment - 1`` times under an independent :class:`RandomAffine` transform, on the fly,
        in training only.  20 is the paper's 20x; 1 disables augmentation.
    affine : dict, optional
        Arguments of :class:`RandomAffine` (degrees, translate, scale, shear); its
        `multiplicity` is not used here (`augment` sets it).
    early_stopping : bool
        Hold out `validation_fraction` of the training data (by patient if `groups` is given
        to :meth:`fit`), stop after `patience` epochs without a lower validation loss and
        keep the best weights.
    validation_fraction : float
        Fraction held out for early stopping (0.1).
    patience : int
        Epochs without improvement before stopping (5).
    device : {"auto", "cpu", "cuda"} or "cuda:N"
        ``"auto"`` uses CUDA when available.
    amp : bool
        Mixed precision (float16 autocast with gradient scaling) -- on CUDA only; CPU
        training is float32 regardless.
    max_grad_norm : float or None
        Clip the gradient to this global L2 norm before each Adam step (1.0; None: no
        clipping).  The ReLU cells' state is unbounded, and without clipping training can
        diverge (loss rising from 0.69 to 1.9 within 10 epochs at batch 16 on the simulated
        cohort); the paper does not say whether it clipped.
    random_state : int, numpy Generator/RandomState or None
        Seeds weight initialisation, shuffling, dropout and augmentation.  The same seed,
        number of torch threads and device give a bit-identical model; across thread counts
        the models differ by float rounding (see Notes).
    progress : bool
        Show a tqdm bar over epochs.

    Attributes
    ----------
    classes_ : numpy.ndarray
        Class labels.
    module_ : CLSTMNet
        The trained network (eval mode).
    history_ : list of dict
        Per epoch ``train_loss``, ``train_accuracy`` (and ``val_loss``, ``val_accuracy``).
    input_shape_ : tuple
        Sample shape ``(T, C, H, W)`` seen in fit.
    n_features_in_ : int
        ``X.shape[1]`` (frames).
    n_epochs_ : int
        Epochs run.
    device_ : str
        Device used.

    Notes
    -----
    `X` is ``(n_samples, T, C, H, W)`` float as produced by
    :func:`~dcemets.models.slice_dataset`; a 2D table ``(n_samples, n_features)`` is read as a
    sequence of ``n_features`` 1 x 1-pixel frames (an ordinary LSTM on the features), so the
    estimator also runs scikit-learn's generic checks.

    **Reproducibility.**  With the same `random_state`, the same data, the same number of
    torch threads (:func:`torch.get_num_threads`), the same device and the same
    torch/oneDNN/MKL build, training is bit-for-bit repeatable on the CPU.  Across thread
    counts it is not: oneDNN's convolution weight gradients, MKL's GEMMs and ATen's parallel
    reductions split their sums by thread, so float32 rounding differs.  After one epoch on
    small inputs the probabilities differ by ~1e-9 (MapCNN) to ~3e-7 (CLSTMNet, 12 frames at
    16 x 16) between 1 and 2 threads; the differences grow with training length.
    ``torch.use_deterministic_algorithms(True)``, disabling oneDNN and
    ``MKL_CBWR=COMPATIBLE,STRICT`` were measured and do not remove them for CLSTMNet.  To
    reproduce a model exactly, fix the thread count (``torch.set_num_threads``).  On CUDA,
    cuDNN may choose non-deterministic kernels (see PyTorch's "Reproducibility" notes); the
    repeatability above is tested on the CPU only.

    References
    ----------
    .. [1] Lang N, et al. Magn Reson Imaging 2019;64:4-12, section 2.6, Fig. 5.
       :doi:`10.1016/j.mri.2019.02.013`
    .. [2] Kingma D, Ba J. Adam: a method for stochastic optimization. arXiv:1412.6980.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 4, 1, 8, 8)).astype("float32")
    >>> y = np.array(["lung", "other"] * 8)
    >>> X[y == "lung", 2:] += 1.0
    >>> clf = CLSTMClassifier(features=4, num_layers=2, epochs=15, augment=1, dropout=0.0, random_state=0)
    >>> clf.fit(X, y).score(X, y)
    1.0
    >>> clf.predict_patient(X, groups=np.where(y == "lung", "p1", "p2")).tolist()
    ['lung', 'other']
    """

    _image_ndim = 5

    def __init__(
        self,
        *,
        features: int = 16,
        num_layers: int = 7,
        kernel_size: int = 3,
        activation: str = "tanh",
        output_activation: str | None = None,
        dropout: float = 0.5,
        dropout_from: int = 2,
        dropout_to: int | None = None,
        readout: str = "flatten",
        epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: str | None = None,
        augment: int = 20,
        affine: dict[str, Any] | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        device: str = "auto",
        amp: bool = True,
        max_grad_norm: float | None = 1.0,
        random_state: Any = None,
        progress: bool = False,
    ) -> None:
        self.features = features
        self.num_layers = num_layers
        self.kernel_size = kernel_size
        self.activation = activation
        self.output_activation = output_activation
        self.dropout = dropout
        self.dropout_from = dropout_from
        self.dropout_to = dropout_to
        self.readout = readout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.augment = augment
        self.affine = affine
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.amp = amp
        self.max_grad_norm = max_grad_norm
        self.random_state = random_state
        self.progress = progress

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        t, c, h, w = input_shape
        return CLSTMNet(
            in_channels=c,
            num_classes=n_classes,
            n_frames=t,
            image_size=(h, w),
            features=self.features,
            num_layers=self.num_layers,
            kernel_size=self.kernel_size,
            activation=self.activation,
            output_activation=self.output_activation,
            dropout=self.dropout,
            dropout_from=self.dropout_from,
            dropout_to=self.dropout_to,
            readout=self.readout,
        )


class MapCNNClassifier(_TorchClassifier):
    """The paper's CNN on the three parametric maps as a scikit-learn estimator.

    Trains :class:`MapCNN` with cross entropy and Adam (constant lr 1e-3), augmenting on the
    fly; ``predict_proba`` gives per-slice probabilities, :meth:`predict_patient` averages them
    per patient.

    Parameters
    ----------
    features : int
        Filters per convolution (32).
    num_layers : int
        Convolutions (7).
    kernel_size : int
        Kernel size (3).
    dropout : float
        Dropout probability (0.5) after the convolutions from `dropout_from` (2) on.
    dropout_from : int
        First layer (1-based) followed by dropout.
    epochs : int
        Training epochs (passes over the augmented training set).
    batch_size : int
        Mini-batch size (32).
    lr : float
        Adam learning rate (1e-3, the paper's default; constant unless `lr_schedule`).
    weight_decay : float
        Decoupled weight decay (AdamW, Loshchilov & Hutter 2019); 0 (default) is plain Adam.
    lr_schedule : {None, "cosine"}
        None (default): constant `lr`; ``"cosine"``: cosine annealing from `lr` to 0 over
        all the training steps, one step per mini-batch.
    augment : int
        Augmentation multiplicity: per epoch every sample is shown once as is and
        ``augment - 1`` times under an independent :class:`RandomAffine` transform, on the fly,
        in training only.  20 is the paper's 20x; 1 disables augmentation.
    affine : dict, optional
        Arguments of :class:`RandomAffine` (degrees, translate, scale, shear); its
        `multiplicity` is not used here (`augment` sets it).
    early_stopping : bool
        Hold out `validation_fraction` of the training data (by patient if `groups` is given
        to :meth:`fit`), stop after `patience` epochs without a lower validation loss and
        keep the best weights.
    validation_fraction : float
        Fraction held out for early stopping (0.1).
    patience : int
        Epochs without improvement before stopping (5).
    device : {"auto", "cpu", "cuda"} or "cuda:N"
        ``"auto"`` uses CUDA when available.
    amp : bool
        Mixed precision (float16 autocast with gradient scaling) -- on CUDA only; CPU
        training is float32 regardless.
    max_grad_norm : float or None
        Clip the gradient to this global L2 norm before each Adam step (None: no clipping).
    random_state : int, numpy Generator/RandomState or None
        Seeds weight initialisation, shuffling, dropout and augmentation.  The same seed,
        number of torch threads and device give a bit-identical model; across thread counts
        the models differ by float rounding (see Notes).
    progress : bool
        Show a tqdm bar over epochs.

    Attributes
    ----------
    classes_ : numpy.ndarray
        Class labels.
    module_ : MapCNN
        The trained network (eval mode).
    history_ : list of dict
        Per epoch ``train_loss``, ``train_accuracy`` (and ``val_loss``, ``val_accuracy``).
    input_shape_ : tuple
        Sample shape ``(C, H, W)`` seen in fit.
    n_features_in_ : int
        ``X.shape[1]`` (maps).
    n_epochs_ : int
        Epochs run.
    device_ : str
        Device used.

    Notes
    -----
    `X` is ``(n_samples, 3, H, W)`` as produced by ``slice_dataset(..., inputs="maps")``; a 2D
    table ``(n_samples, n_features)`` is read as ``n_features`` channels of a 1 x 1 image.

    **Reproducibility.**  With the same `random_state`, the same data, the same number of
    torch threads (:func:`torch.get_num_threads`), the same device and the same
    torch/oneDNN/MKL build, training is bit-for-bit repeatable on the CPU.  Across thread
    counts it is not: oneDNN's convolution weight gradients, MKL's GEMMs and ATen's parallel
    reductions split their sums by thread, so float32 rounding differs.  After one epoch on
    small inputs the probabilities differ by ~1e-9 (MapCNN) to ~3e-7 (CLSTMNet, 12 frames at
    16 x 16) between 1 and 2 threads; the differences grow with training length.
    ``torch.use_deterministic_algorithms(True)``, disabling oneDNN and
    ``MKL_CBWR=COMPATIBLE,STRICT`` were measured and do not remove them for CLSTMNet.  To
    reproduce a model exactly, fix the thread count (``torch.set_num_threads``).  On CUDA,
    cuDNN may choose non-deterministic kernels (see PyTorch's "Reproducibility" notes); the
    repeatability above is tested on the CPU only.

    References
    ----------
    .. [1] Lang N, et al. Magn Reson Imaging 2019;64:4-12, section 2.6.
       :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 3, 8, 8)).astype("float32")
    >>> y = np.array([0, 1] * 8)
    >>> X[y == 1, 0] += 1.0
    >>> clf = MapCNNClassifier(features=8, epochs=20, augment=1, dropout=0.0, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    """

    _image_ndim = 4

    def __init__(
        self,
        *,
        features: int = 32,
        num_layers: int = 7,
        kernel_size: int = 3,
        dropout: float = 0.5,
        dropout_from: int = 2,
        epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: str | None = None,
        augment: int = 20,
        affine: dict[str, Any] | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        device: str = "auto",
        amp: bool = True,
        max_grad_norm: float | None = None,
        random_state: Any = None,
        progress: bool = False,
    ) -> None:
        self.features = features
        self.num_layers = num_layers
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.dropout_from = dropout_from
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.augment = augment
        self.affine = affine
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.amp = amp
        self.max_grad_norm = max_grad_norm
        self.random_state = random_state
        self.progress = progress

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        c, h, w = input_shape
        return MapCNN(
            in_channels=c,
            num_classes=n_classes,
            image_size=(h, w),
            features=self.features,
            num_layers=self.num_layers,
            kernel_size=self.kernel_size,
            dropout=self.dropout,
            dropout_from=self.dropout_from,
        )


class _CurveGRU(nn.Module):
    """A GRU over the frames of one curve, read from its last hidden state.

    The curves are standardised per frame with the training set's mean and SD (kept as
    buffers, so checkpoints carry them).
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_frames: int, n_classes: int, hidden: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_frames))
        self.register_buffer("scale", torch.ones(n_frames))
        self.gru = nn.GRU(1, hidden, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = ((x - self.mean) / self.scale)[..., None]  # (B, T, 1)
        out, _ = self.gru(z)
        return self.head(self.drop(out[:, -1]))


class CurveGRUClassifier(_TorchClassifier):
    """A small recurrent baseline on the tumour's mean enhancement curve (no spatial input).

    A GRU (Cho et al. 2014) reads the frames of one curve in time order; a dense layer on its
    last hidden state gives the class logits.  Each frame is standardised with the training
    set's mean and SD.  It is the honest temporal baseline of the paper's ConvLSTM (section
    2.6, Table 3): it sees the same time course, averaged over the tumour, and nothing of its
    spatial pattern, so the difference between the two measures what the image adds.
    Trained as :class:`CLSTMClassifier` is (cross entropy, Adam), without augmentation.

    Parameters
    ----------
    hidden : int
        GRU hidden units (16).
    num_layers : int
        Stacked GRU layers (1).
    dropout : float
        Dropout on the last hidden state (and between GRU layers), in ``[0, 1)`` (0).
    epochs : int
        Training epochs (100).
    batch_size : int
        Mini-batch size (8).
    lr : float
        Adam learning rate (1e-2).
    weight_decay : float
        Decoupled weight decay (AdamW); 0 is plain Adam (1e-3).
    lr_schedule : {None, "cosine"}
        Learning-rate schedule ("cosine", from `lr` to 0 over the training steps).
    early_stopping : bool
        Hold out `validation_fraction` of the training curves (by patient if `groups` is
        given to :meth:`fit`), keep the weights of the epoch with the lowest validation loss,
        stop after `patience` epochs without improvement.
    validation_fraction : float
        Fraction held out for early stopping (0.1).
    patience : int
        Epochs without improvement before stopping (10).
    device : {"auto", "cpu", "cuda"} or "cuda:N"
        ``"auto"`` uses CUDA when available.
    amp : bool
        Mixed precision on CUDA only.
    max_grad_norm : float or None
        Clip the gradient to this global L2 norm (1.0; None: no clipping).
    random_state : int, numpy Generator/RandomState or None
        Seeds initialisation, shuffling and dropout.
    progress : bool
        Show a tqdm bar over epochs.

    Attributes
    ----------
    classes_ : numpy.ndarray
        Class labels.
    module_ : torch.nn.Module
        The trained network (eval mode).
    history_ : list of dict
        Per epoch ``train_loss``, ``train_accuracy`` (and ``val_loss``, ``val_accuracy``).
    input_shape_ : tuple
        ``(n_frames,)`` seen in fit.
    n_features_in_ : int
        Frames per curve.
    n_epochs_ : int
        Epochs run.
    device_ : str
        Device used.

    Notes
    -----
    `X` is ``(n_samples, n_frames)``: one curve per row, in time order (e.g. the mean signal
    over the lesion mask, in % enhancement over the baseline frames).  With one curve per
    patient, :func:`dcemets.evaluation.cross_validate` folds it exactly as it folds the
    hot-spot heuristics.

    References
    ----------
    .. [1] Cho K, et al. Learning phrase representations using RNN encoder-decoder for
       statistical machine translation. EMNLP 2014. arXiv:1406.1078.
    .. [2] Lang N, et al. Magn Reson Imaging 2019;64:4-12, section 2.6 and Table 3.
       :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(12.0)
    >>> rise = np.clip((t - 2) / 3, 0, 1)
    >>> plateau, washout = rise, rise * (1 - 0.1 * np.clip(t - 5, 0, None))
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([plateau] * 10 + [washout] * 10) * rng.uniform(0.5, 2, (20, 1))
    >>> y = ["lung"] * 10 + ["other"] * 10
    >>> clf = CurveGRUClassifier(epochs=40, random_state=0).fit(X, y)
    >>> clf.score(X, y)
    1.0
    """

    _image_ndim = 2
    _spatial = False

    def __init__(
        self,
        *,
        hidden: int = 16,
        num_layers: int = 1,
        dropout: float = 0.0,
        epochs: int = 100,
        batch_size: int = 8,
        lr: float = 1e-2,
        weight_decay: float = 1e-3,
        lr_schedule: str | None = "cosine",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 10,
        device: str = "auto",
        amp: bool = True,
        max_grad_norm: float | None = 1.0,
        random_state: Any = None,
        progress: bool = False,
    ) -> None:
        self.hidden = hidden
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.amp = amp
        self.max_grad_norm = max_grad_norm
        self.random_state = random_state
        self.progress = progress

    def _layout(self) -> str:
        return "(n_samples, n_frames)"

    def _as_images(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2:
            raise ValueError(f"`X` must be {self._layout()}, got shape {X.shape}")
        return X

    def _validate_net_params(self) -> None:
        check_int(self.hidden, "hidden")
        check_int(self.num_layers, "num_layers")
        check_fraction(self.dropout, "dropout")

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        return _CurveGRU(
            input_shape[0], n_classes, int(self.hidden), int(self.num_layers), float(self.dropout)
        )

    def _train(  # type: ignore[override]
        self,
        module: nn.Module,
        images: np.ndarray,
        y_enc: np.ndarray,
        groups: np.ndarray | None,
        device: torch.device,
        seed: int,
        use_amp: bool,
    ) -> list[dict[str, float]]:
        mean = images.mean(0)
        sd = images.std(0)
        module.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))  # type: ignore[operator]
        module.scale.copy_(torch.as_tensor(np.where(sd > 0, sd, 1.0), dtype=torch.float32))  # type: ignore[operator]
        return super()._train(module, images, y_enc, groups, device, seed, use_amp)
