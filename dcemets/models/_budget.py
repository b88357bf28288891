"""Training budgets of the networks: :class:`TrainingBudget` and the named :data:`TRAINING_PRESETS`.

Re-exported by :mod:`dcemets.models` and :mod:`dcemets.models.estimators`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TRAINING_PRESETS", "TrainingBudget"]

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
        """All fields as a plain dict (for reports).

        Returns
        -------
        dict
            Field name to value: ``name``, ``epochs``, ``augment``, ``batch_size``, ``crop``,
            ``per_model``, ``description``.
        """
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
