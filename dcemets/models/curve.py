"""A recurrent baseline on the tumour's mean enhancement curve: :class:`CurveGRUClassifier`.

Re-exported by :mod:`dcemets.models` and :mod:`dcemets.models.estimators`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dcemets._checks import check_int
from dcemets.models._base import _TorchClassifier
from dcemets.models._checks import check_fraction
from dcemets.models._docs import shared_docs

__all__ = ["CurveGRUClassifier"]


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


@shared_docs(text={"random_state": "    Seeds weight initialisation, shuffling and dropout.\n"})
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
    {training_parameters}

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
        check_int(self.hidden, "hidden", minimum=1)
        check_int(self.num_layers, "num_layers", minimum=1)
        check_fraction(self.dropout, "dropout")

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        return _CurveGRU(
            input_shape[0], n_classes, int(self.hidden), int(self.num_layers), float(self.dropout)
        )

    def _train(self, module: nn.Module, images: np.ndarray, *rest: Any) -> list[dict[str, float]]:  # type: ignore[override]
        """Standardise each frame with the training curves' mean and SD, then train."""
        mean = images.mean(0)
        sd = images.std(0)
        module.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))  # type: ignore[operator]
        module.scale.copy_(torch.as_tensor(np.where(sd > 0, sd, 1.0), dtype=torch.float32))  # type: ignore[operator]
        return super()._train(module, images, *rest)
