"""Scikit-learn classifiers around :class:`CLSTMNet` and :class:`MapCNN`.

Their shared base (fit, predictions, checkpoints) is in the private ``_base`` module.  Also
importable from here, as before: :class:`~dcemets.models.CurveGRUClassifier` (its home is
:mod:`dcemets.models.curve`), :class:`~dcemets.models.TrainingBudget` and
:data:`~dcemets.models.TRAINING_PRESETS`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from dcemets.models._base import _TorchClassifier
from dcemets.models._budget import TRAINING_PRESETS, TrainingBudget
from dcemets.models._docs import shared_docs
from dcemets.models.curve import CurveGRUClassifier
from dcemets.models.nets import CLSTMNet, MapCNN

__all__ = [
    "TRAINING_PRESETS",
    "CLSTMClassifier",
    "CurveGRUClassifier",
    "MapCNNClassifier",
    "TrainingBudget",
]


@shared_docs(
    extra={
        "max_grad_norm": (
            "    The ReLU cells' state is unbounded, and without clipping training can diverge\n"
            "    (loss rising from 0.69 to 1.9 within 10 epochs at batch 16 on the simulated\n"
            "    cohort); the paper does not say whether it clipped.\n"
        )
    }
)
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
    readout : {"flatten", "pool", "max", "meanmax", "attention"}
        How the dense layer reads the last ConvLSTM layer: ``"flatten"``, every time step and
        pixel (the paper's Fig. 5), ``"pool"``, every time step averaged over the pixels
        (what the ``cpu`` preset uses), ``"max"``, the pixel maximum of every time step and
        channel (the hot spot's time course), ``"meanmax"``, both, or ``"attention"``, a
        learned softmax weighting of the pixels (see :class:`CLSTMNet`).
    {training_parameters}

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

    {reproducibility}

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


@shared_docs()
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
    {training_parameters}

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

    {reproducibility}

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
