"""Study configuration: every choice the paper leaves open, with presets."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["PRESETS", "StudyConfig"]

Preset = Literal["fast", "cpu", "paper"]


@dataclass(frozen=True)
class StudyConfig:
    """All settings of :func:`dcemets.study.run_study`.

    The defaults are the ``"cpu"`` preset; :meth:`preset` gives the others. Per-case settings
    (``segmentation`` to ``radiomics``) enter the cache key of each case, so a change re-runs
    the affected cases; cohort-level settings do not.

    Parameters
    ----------
    name : str
        Preset name, for the report.
    seed : int
        Master seed: segmentation, cross-validation splits, forests and networks derive theirs
        from it.
    n_jobs : int
        Worker processes for the per-case stage (1 = in-process).
    device : {"auto", "cpu", "cuda"}
        Device of the deep-learning stage.
    segmentation : dict
        Keyword arguments of :func:`dcemets.segmentation.segment_lesion`.
    hotspot_size : int
        Edge (voxels) of the in-plane hot-spot ROI (paper section 2.3: a small manual ROI).
    n_baseline : int
        Pre-contrast frames averaged into S0 (the paper acquires one).
    t10_s : float
        Pre-contrast T1 (s) assumed for the hot-spot signal-to-concentration conversion; the
        paper does not map T1. 1.5 s is a typical 3 T value for a vertebral metastasis (and the
        centre of the simulator's lesion T10 distribution).
    r1_per_mM_s : float
        Gd-DTPA relaxivity at 3 T (1/(mM s)) when the DCE attrs do not give one.
    radiomics : dict
        Discretisation settings of :func:`dcemets.radiomics.extract_features`.
    radiomics_protocol : {"leak-free", "paper"}
        Feature ranking inside each training fold (default) or on all cases first (the paper).
    k_range : tuple of int
        Numbers of top-ranked features tried (paper: 3 to 10).
    forest_trees : int
        Trees of the ranking forest (paper: 500).
    n_splits : int
        Cross-validation folds (paper: 10).
    dl : dict
        Deep-learning budget, as :data:`dcemets.models.TRAINING_PRESETS`: ``epochs``,
        ``augment`` (each slice shown ``augment`` times per epoch, ``augment - 1`` of them
        under a random affine; paper 20), ``batch_size``, ``crop`` (pixels),
        ``features`` (channels per layer; None keeps each network's default);
        ``enabled=False`` skips the networks.  Sub-dicts ``"cnn"`` and ``"clstm"`` override
        any of these for one network (the ``cpu`` preset trains the CNN 12 epochs with 2x
        augmentation, the CLSTM 6 without).

    Examples
    --------
    >>> StudyConfig.preset("fast").dl["epochs"] < StudyConfig.preset("paper").dl["epochs"]
    True
    """

    name: str = "cpu"
    seed: int = 0
    n_jobs: int = 1
    device: str = "auto"
    segmentation: dict[str, Any] = field(default_factory=dict)
    hotspot_size: int = 3
    n_baseline: int = 1
    t10_s: float = 1.5
    r1_per_mM_s: float = 3.7
    radiomics: dict[str, Any] = field(default_factory=dict)
    radiomics_protocol: str = "leak-free"
    k_range: tuple[int, ...] = (3, 4, 5, 6, 7, 8, 9, 10)
    forest_trees: int = 500
    n_splits: int = 10
    dl: dict[str, Any] = field(
        default_factory=lambda: {
            "enabled": True,
            "epochs": 6,
            "augment": 2,
            "batch_size": 32,
            "crop": 32,
            "hidden": 16,
        }
    )

    def __post_init__(self) -> None:
        if self.n_jobs < 1:
            raise ValueError(f"`n_jobs` must be >= 1, got {self.n_jobs}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"`device` must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.radiomics_protocol not in ("leak-free", "paper"):
            raise ValueError(
                f"`radiomics_protocol` must be 'leak-free' or 'paper', got {self.radiomics_protocol!r}"
            )
        if self.n_splits < 2:
            raise ValueError(f"`n_splits` must be >= 2, got {self.n_splits}")
        if self.hotspot_size < 1:
            raise ValueError(f"`hotspot_size` must be >= 1, got {self.hotspot_size}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> StudyConfig:
        """Return a preset configuration, optionally overriding fields.

        Parameters
        ----------
        name : {"fast", "cpu", "paper"}
            ``"paper"``: the paper's settings (500 trees, 20x augmentation; a GPU is advised for
            the networks). ``"cpu"``: the whole study in under 30 min on two CPU cores.
            ``"fast"``: a few minutes, with a small deep-learning budget, for trying things out
            and for CI.
        **overrides
            Fields to change.

        Returns
        -------
        StudyConfig

        Raises
        ------
        ValueError
            For an unknown preset name.

        Examples
        --------
        >>> StudyConfig.preset("paper").dl["augment"]
        20
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        base = dict(PRESETS[name])
        base["dl"] = {**cls().dl, **base.get("dl", {})}
        base.update(overrides)
        return cls(name=name, **base)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON-safe data."""
        d = dataclasses.asdict(self)
        d["k_range"] = list(self.k_range)
        return d

    def case_key(self) -> str:
        """Hash of the settings that change per-case results (the cache key's config part)."""
        per_case = {
            k: self.to_dict()[k]
            for k in (
                "segmentation",
                "hotspot_size",
                "n_baseline",
                "t10_s",
                "r1_per_mM_s",
                "radiomics",
                "seed",
            )
        }
        return hashlib.sha256(json.dumps(per_case, sort_keys=True, default=str).encode()).hexdigest()[:16]


PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "forest_trees": 100,
        "k_range": (3, 5),
        "dl": {"epochs": 3, "augment": 1, "batch_size": 32, "crop": 16, "features": 8},
    },
    "cpu": {
        "forest_trees": 500,
        "dl": {"epochs": 12, "augment": 2, "batch_size": 32, "crop": 16},
    },
    "paper": {
        "forest_trees": 500,
        "dl": {"epochs": 30, "augment": 20, "batch_size": 32, "crop": 32},
    },
}
"""Preset overrides of :class:`StudyConfig`."""
