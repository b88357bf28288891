"""The shared base of the networks' scikit-learn classifiers: checks, fit, predictions, checkpoints.

:class:`_TorchClassifier` holds what :class:`~dcemets.models.CLSTMClassifier`,
:class:`~dcemets.models.MapCNNClassifier` and :class:`~dcemets.models.CurveGRUClassifier` share;
its training loop is in :mod:`dcemets.models._training`, its checkpoint I/O in
:mod:`dcemets.models._checkpoint`.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from dcemets._checks import check_int, check_real
from dcemets.models import _checkpoint, _training
from dcemets.models._budget import TRAINING_PRESETS, TrainingBudget
from dcemets.models._checks import (
    check_fraction,
    check_images,
    check_labels,
    check_odd,
    check_optional_int,
    int_list,
)
from dcemets.models._device import resolve_device
from dcemets.models.nets import _READOUTS


class _TorchClassifier(ClassifierMixin, BaseEstimator, abc.ABC):
    """Shared checks, fit, predictions and checkpoints; subclasses define the module and the image layout."""

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
        check_int(self.epochs, "epochs", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(getattr(self, "augment", 1), "augment", minimum=1)
        check_real(self.lr, "lr", low=0.0, low_open=True)
        check_real(getattr(self, "weight_decay", 0.0), "weight_decay", low=0.0)
        schedule = getattr(self, "lr_schedule", None)
        if schedule not in _training.SCHEDULES:
            raise ValueError(f"`lr_schedule` must be one of {_training.SCHEDULES}, got {schedule!r}")
        check_real(
            self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_open=True, high_open=True
        )
        check_int(self.patience, "patience", minimum=1)
        if self.max_grad_norm is not None:
            check_real(self.max_grad_norm, "max_grad_norm", low=0.0, low_open=True)
        affine = getattr(self, "affine", None)
        if affine is not None and not isinstance(affine, dict):
            raise TypeError(f"`affine` must be None or a dict of RandomAffine arguments, got {affine!r}")

    def _validate_net_params(self) -> None:
        # the network's own parameters (the same checks its constructor makes)
        num_layers = check_int(self.num_layers, "num_layers", minimum=1)
        int_list(self.features, num_layers, "features")
        check_odd(check_int(self.kernel_size, "kernel_size", minimum=1), "kernel_size")
        check_fraction(self.dropout, "dropout")
        check_int(self.dropout_from, "dropout_from", minimum=1)
        check_optional_int(getattr(self, "dropout_to", None), "dropout_to")
        readout = getattr(self, "readout", "flatten")
        if not isinstance(readout, str) or readout not in _READOUTS:
            raise ValueError(f"`readout` must be one of {_READOUTS}, got {readout!r}")

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
        seed = _training.seed_from(self.random_state)
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
        return _training.split(y_enc, groups, seed, self.validation_fraction)

    def _batches(self, n: int, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled (sample index, view index) batches over ``n * augment`` views."""
        return _training.batches(n, int(getattr(self, "augment", 1)), self.batch_size, gen)

    _train = _training.train  # (self, module, images, y_enc, groups, device, seed, use_amp)

    def _logits(
        self, module: nn.Module, x: torch.Tensor, device: torch.device, use_amp: bool
    ) -> torch.Tensor:
        return _training.logits(module, x, device, use_amp, self.batch_size)

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
        _checkpoint.save(self, path)

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
        >>> from dcemets.models import MapCNNClassifier
        >>> X, y = np.zeros((4, 3, 4, 4), "float32"), [0, 1, 0, 1]
        >>> clf = MapCNNClassifier(features=4, num_layers=2, epochs=1, augment=1, random_state=0).fit(X, y)
        >>> path = os.path.join(tempfile.mkdtemp(), "cnn.pt")
        >>> clf.save(path)
        >>> back = MapCNNClassifier.load(path, device="cpu")
        >>> bool(np.array_equal(back.predict_proba(X), clf.predict_proba(X)))
        True
        """
        return _checkpoint.load(cls, path, device)

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
