"""Study configuration: every choice the paper leaves open, with presets.

One concept: the study configuration (its fields, their checks, presets and the TOML
round trip).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dcemets._checks import check_int, check_positive, check_real

__all__ = ["PRESETS", "StudyConfig"]

Preset = Literal["fast", "cpu", "paper"]


@dataclass(frozen=True)
class StudyConfig:
    """All settings of :func:`dcemets.study.run_study`.

    ``StudyConfig()`` has the ``"cpu"`` preset's forests and feature range but the base
    deep-learning budget of `dl` below (6 epochs, 32-pixel crops); :meth:`preset` gives the
    presets (``"cpu"`` is the command line's default). Per-case settings
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
    hotspot : dict
        Guard options of :func:`dcemets.kinetics.hotspot_roi`: ``guards`` (bool, default
        True), ``min_voxels``, ``baseline_floor``, ``vessel_level``, ``vessel_lag`` and
        ``on_fail`` (the study uses ``"flag"`` unless told otherwise, so a case whose lesion
        has no eligible hot spot is analysed with the unguarded one and flagged, not
        dropped).  ``{"guards": False}`` is the paper-mimicking hot spot of earlier releases.
    motion_correction : bool
        Correct motion between the frames with :func:`dcemets.registration.register_frames`
        (rigid, Mattes mutual information; the corrected series lies on the first frame's
        anatomy) before segmentation; the motion magnitude is reported as ``motion_mm`` and
        flagged when large.  Off by default: the paper states that between-frame
        registration was not needed (section 2.5).
    registration : dict
        Options of the motion correction (used when `motion_correction` is on):
        ``"region"``, ``"roi"`` (default: the metric is computed on the case's sagittal ROI
        carried to the DCE grid, :func:`dcemets.segmentation.transfer_roi`, cropped to its
        bounding box grown by ``margin_mm``; a case without a sagittal ROI is registered on
        the whole volume) or ``"volume"`` (the whole volume, about 4 times slower); and
        any keyword of :func:`dcemets.registration.register_frames` but ``dce``, ``mask``
        and ``rng`` (the study passes ``seed``).  On the ROI the study's defaults are
        ``margin_mm=30``, ``metric_region="box"`` (the metric on every voxel of the box, not
        only the ROI's) and ``sampling=0.25``, chosen on development cases of the DRO (the
        registration guide); on the whole volume, ``register_frames``' defaults.
    n_baseline : int
        Pre-contrast frames averaged into S0 (the paper acquires one).
    t10_s : float
        Pre-contrast T1 (s) assumed for the hot-spot signal-to-concentration conversion; the
        paper does not map T1. 1.5 s is a typical 3 T value for a vertebral metastasis (and the
        centre of the simulator's lesion T10 distribution).
    aif : {"parker", "georgiou", "weinmann", "fritz_hansen", "image"}
        Population AIF (:data:`dcemets.kinetics.POPULATION_AIFS`, plasma, delayed to the
        injection time) of the hot-spot Tofts fit; the paper does not say which AIF it used.
        ``"image"``: each case's own image-derived AIF, :func:`dcemets.kinetics.image_aif` on
        the case's concentration (T10 = `t10_s`), a blood curve converted to plasma with
        :func:`dcemets.kinetics.blood_to_plasma` and `hematocrit`.
        Shown with T10 in the report's acquisition table.
    hematocrit : float
        Large-vessel haematocrit, in [0, 1), of the blood-to-plasma conversion of an
        image-derived AIF (``aif="image"``; unused otherwise). 0.42 is the adult value of
        Tofts' and Parker's conventions.
    r1_per_mM_s : float
        Gd-DTPA relaxivity at 3 T (1/(mM s)) when the DCE attrs do not give one (an explicit
        default: the report says which cases used it).
    tr_s, flip_angle_deg : float or None
        Repetition time (s) and flip angle (degrees) of the DCE sequence, for the cases whose
        DCE lacks the ``tr_s``/``flip_angle_deg`` attrs (DICOM RepetitionTime/FlipAngle, a BIDS
        sidecar's RepetitionTime/FlipAngle).  None (default): such a case fails with an error
        naming the missing parameter; nothing is assumed silently.
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
        ``features`` (channels per layer; None keeps each network's default), ``normalise``
        (how the CLSTM's DCE frames are scaled, ``"zscore"`` or ``"enhancement"``, see
        :func:`dcemets.models.slice_dataset`);
        ``enabled=False`` skips the networks.  Sub-dicts ``"cnn"``, ``"clstm"`` and
        ``"curve"`` (the GRU on the mean curve) override any of these for one network and may
        set its estimator's training options too (``lr``, ``weight_decay``, ``lr_schedule``,
        ``readout``, ``num_layers``, ``dropout``, ``early_stopping``, ``patience``,
        ``validation_fraction``); the ``cpu`` preset uses them for the CLSTM (see
        :data:`dcemets.models.TRAINING_PRESETS`).

    Raises
    ------
    TypeError, ValueError
        At construction, for a field of the wrong type or out of range (naming the field), an
        unknown option in `segmentation`, `radiomics` or `dl`.

    Examples
    --------
    >>> StudyConfig.preset("fast").dl["epochs"] < StudyConfig.preset("paper").dl["epochs"]
    True
    >>> StudyConfig(seed=-1)
    Traceback (most recent call last):
    ...
    ValueError: `seed` must be an int >= 0, got -1
    """

    name: str = "cpu"
    seed: int = 0
    n_jobs: int = 1
    device: str = "auto"
    segmentation: dict[str, Any] = field(default_factory=dict)
    hotspot_size: int = 3
    hotspot: dict[str, Any] = field(default_factory=dict)
    motion_correction: bool = False
    registration: dict[str, Any] = field(default_factory=dict)
    n_baseline: int = 1
    t10_s: float = 1.5
    aif: str = "parker"
    hematocrit: float = 0.42
    r1_per_mM_s: float = 3.7
    tr_s: float | None = None
    flip_angle_deg: float | None = None
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
        """Check every field at construction, so a bad setting fails here, not an hour later."""
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"`name` must be a non-empty str, got {self.name!r}")
        check_int(self.seed, "seed", minimum=0)
        check_int(self.n_jobs, "n_jobs", minimum=1)
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"`device` must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        check_int(self.hotspot_size, "hotspot_size", minimum=1)
        if self.hotspot_size % 2 == 0:
            raise ValueError(f"`hotspot_size` must be an odd number of voxels, got {self.hotspot_size!r}")
        _check_hotspot(self.hotspot, self.hotspot_size)
        _check_aif(self.aif)
        check_real(self.hematocrit, "hematocrit", 0.0, 1.0, low_open=False, high_open=True)
        if not isinstance(self.motion_correction, bool):
            raise TypeError(f"`motion_correction` must be a bool, got {self.motion_correction!r}")
        _check_registration(self.registration)
        check_int(self.n_baseline, "n_baseline", minimum=1)
        check_positive(self.t10_s, "t10_s")
        check_positive(self.r1_per_mM_s, "r1_per_mM_s")
        for name in ("tr_s", "flip_angle_deg"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name)
        if self.flip_angle_deg is not None and self.flip_angle_deg >= 180:
            raise ValueError(f"`flip_angle_deg` must be in (0, 180) degrees, got {self.flip_angle_deg!r}")
        if self.radiomics_protocol not in ("leak-free", "paper"):
            raise ValueError(
                f"`radiomics_protocol` must be 'leak-free' or 'paper', got {self.radiomics_protocol!r}"
            )
        if not isinstance(self.k_range, (tuple, list, range)) or len(self.k_range) == 0:
            raise ValueError(f"`k_range` must be a non-empty tuple of ints >= 1, got {self.k_range!r}")
        for k in self.k_range:
            check_int(k, "k_range", minimum=1)
        check_int(self.forest_trees, "forest_trees", minimum=1)
        check_int(self.n_splits, "n_splits", minimum=2)
        _check_options("segmentation", self.segmentation, _segmentation_options())
        _check_options("radiomics", self.radiomics, _radiomics_settings())
        _check_dl(self.dl)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> StudyConfig:
        """Return a preset configuration, optionally overriding fields.

        Parameters
        ----------
        name : {"fast", "cpu", "paper"}
            ``"fast"``: trying things out and CI: a small deep-learning budget, few features
            tried. ``"cpu"``: the whole study on two CPU cores; the CLI's default.
            ``"paper"``: the paper's settings (20x augmentation, 32-pixel crops); a GPU is
            advised for the networks.  The settings of each are tabulated in the study page of
            the user guide (generated from :data:`PRESETS`).
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
        """Return the configuration as plain JSON-safe data.

        Returns
        -------
        dict
            Field name -> value, nested settings as dicts and ``k_range`` as a list;
            :meth:`from_dict` rebuilds the configuration from it.
        """
        d = dataclasses.asdict(self)
        d["k_range"] = list(self.k_range)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyConfig:
        """Build a configuration from :meth:`to_dict`'s output (or a TOML table of it).

        Parameters
        ----------
        data : mapping
            Field names and values; missing fields keep their defaults, ``k_range`` may be a
            list.

        Returns
        -------
        StudyConfig

        Raises
        ------
        ValueError, TypeError
            For an unknown field, or a value the constructor refuses.

        Examples
        --------
        >>> cfg = StudyConfig.preset("fast", seed=3)
        >>> StudyConfig.from_dict(cfg.to_dict()) == cfg
        True
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"`data` must be a mapping of StudyConfig fields, got {type(data).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"`data` has unknown StudyConfig field(s) {unknown}; known: {sorted(fields)}")
        values = dict(data)
        if "k_range" in values and isinstance(values["k_range"], list):
            values["k_range"] = tuple(values["k_range"])
        return cls(**values)

    def to_toml(self) -> str:
        """The configuration as a TOML ``[study]`` table (``None`` fields are left out).

        Returns
        -------
        str
            TOML text; ``StudyConfig.from_dict(tomllib.loads(text)["study"])`` gives the
            configuration back.

        Examples
        --------
        >>> print(StudyConfig.preset("fast").to_toml().splitlines()[1])
        name = "fast"
        """
        return _toml_table("study", self.to_dict())

    def case_key(self) -> str:
        """Hash of the settings that change per-case results (the cache key's config part).

        Returns
        -------
        str
            16 hexadecimal digits of the SHA-256 of the per-case settings (segmentation,
            hot-spot, motion correction, concentration, AIF, radiomics and seed); the
            cohort-stage settings do not enter it.
        """
        per_case = {
            k: self.to_dict()[k]
            for k in (
                "segmentation",
                "hotspot_size",
                "hotspot",
                "motion_correction",
                "registration",
                "n_baseline",
                "t10_s",
                "aif",
                "hematocrit",
                "r1_per_mM_s",
                "tr_s",
                "flip_angle_deg",
                "radiomics",
                "seed",
            )
        }
        return hashlib.sha256(json.dumps(per_case, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")


def _toml_table(name: str, data: Mapping[str, Any]) -> str:
    """A TOML table (with sub-tables for nested mappings); None values are left out."""
    lines = [f"[{name}]"]
    subtables = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            subtables.append(_toml_table(f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n" + "".join("\n" + t for t in subtables)


def _check_options(name: str, value: Any, allowed: set[str]) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"`{name}` must be a dict of keyword options, got {type(value).__name__}")
    unknown = sorted(set(map(str, value)) - allowed)
    if unknown:
        raise ValueError(f"`{name}` has unknown option(s) {unknown}; allowed: {sorted(allowed)}")


HOTSPOT_OPTIONS = ("guards", "min_voxels", "baseline_floor", "vessel_level", "vessel_lag", "on_fail")
"""Options of :func:`dcemets.kinetics.hotspot_roi` that ``StudyConfig.hotspot`` may set."""


def _check_hotspot(value: Any, size: int) -> None:
    _check_options("hotspot", value, set(HOTSPOT_OPTIONS))
    if "guards" in value and not isinstance(value["guards"], bool):
        raise TypeError(f"`hotspot['guards']` must be a bool, got {value['guards']!r}")
    if "min_voxels" in value:
        check_int(value["min_voxels"], "hotspot['min_voxels']", minimum=1)
        if value["min_voxels"] > size * size:
            raise ValueError(
                f"`hotspot['min_voxels']` must be <= hotspot_size**2 = {size * size}, got {value['min_voxels']!r}"
            )
    for key, lo_open in (("baseline_floor", False), ("vessel_level", True)):
        if key in value:
            v = value[key]
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise TypeError(f"`hotspot['{key}']` must be a number, got {v!r}")
            v = float(v)
            ok = (0 < v <= 1) if lo_open else (0 <= v < 1)
            if not ok:
                rng = "(0, 1]" if lo_open else "[0, 1)"
                raise ValueError(f"`hotspot['{key}']` must be in {rng}, got {v!r}")
    if "vessel_lag" in value:
        check_int(value["vessel_lag"], "hotspot['vessel_lag']", minimum=0)
    if "on_fail" in value and value["on_fail"] not in ("raise", "flag"):
        raise ValueError(f"`hotspot['on_fail']` must be 'raise' or 'flag', got {value['on_fail']!r}")


def _check_aif(value: Any) -> None:
    from dcemets.kinetics import POPULATION_AIFS

    if not isinstance(value, str) or (value not in POPULATION_AIFS and value != "image"):
        raise ValueError(f"`aif` must be one of {[*sorted(POPULATION_AIFS), 'image']}, got {value!r}")


REGISTRATION_REGIONS = ("roi", "volume")
"""Regions ``StudyConfig.registration["region"]`` may name."""


def _check_registration(value: Any) -> None:
    import inspect

    from dcemets.registration.frames import register_frames

    fixed = {"dce", "mask", "rng"}
    allowed = {p.name for p in inspect.signature(register_frames).parameters.values()} - fixed
    _check_options("registration", value, allowed | {"region"})
    if "region" in value and value["region"] not in REGISTRATION_REGIONS:
        raise ValueError(
            f"`registration['region']` must be one of {list(REGISTRATION_REGIONS)}, got {value['region']!r}"
        )


def _segmentation_options() -> set[str]:
    import inspect

    from dcemets.segmentation import pipeline

    fixed = {"dce", "roi_sagittal", "t2w_sagittal", "return_steps", "random_state"}
    params = inspect.signature(pipeline.segment_lesion).parameters.values()
    named = {p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD} - fixed
    return named | set(getattr(pipeline, "SEGMENT_LESION_OPTIONS", ()))


def _radiomics_settings() -> set[str]:
    from dcemets.radiomics.extract import EXTRACT_SETTINGS

    return set(EXTRACT_SETTINGS)


_DL_INTS = ("epochs", "augment", "batch_size", "crop", "hidden")


_DL_NET_OPTIONS = {
    "lr": float,
    "weight_decay": float,
    "lr_schedule": str,
    "readout": str,
    "num_layers": int,
    "dropout": float,
    "early_stopping": bool,
    "patience": int,
    "validation_fraction": float,
}
"""Estimator options a per-network `dl` sub-dict may set, with their types (the estimator checks values)."""


def _check_dl(dl: Any, where: str = "dl") -> None:
    if not isinstance(dl, Mapping):
        raise TypeError(f"`{where}` must be a dict, got {type(dl).__name__}")
    top = where == "dl"
    allowed = {*_DL_INTS, "features", "normalise"} | (
        {"enabled", "cnn", "clstm", "curve"} if top else set(_DL_NET_OPTIONS)
    )
    _check_options(where, dl, allowed)
    if "normalise" in dl and dl["normalise"] not in ("zscore", "enhancement"):
        raise ValueError(f"`{where}['normalise']` must be 'zscore' or 'enhancement', got {dl['normalise']!r}")
    for key in _DL_INTS:
        if key in dl:
            check_int(dl[key], f"{where}['{key}']", minimum=1)
    if dl.get("features") is not None:
        check_int(dl["features"], f"{where}['features']", minimum=1)
    if "enabled" in dl and not isinstance(dl["enabled"], bool):
        raise TypeError(f"`dl['enabled']` must be a bool, got {dl['enabled']!r}")
    if not top:
        for key, kind in _DL_NET_OPTIONS.items():
            value = dl.get(key)
            if value is None:
                continue
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                raise TypeError(f"`{where}['{key}']` must be a {kind.__name__}, got {value!r}")
    for net in ("cnn", "clstm", "curve"):
        if top and net in dl:
            _check_dl(dl[net], f"dl['{net}']")


PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "forest_trees": 100,
        "k_range": (3, 5),
        "dl": {"epochs": 3, "augment": 1, "batch_size": 32, "crop": 16, "features": 8},
    },
    "cpu": {
        "forest_trees": 500,
        "dl": {
            "epochs": 12,
            "augment": 2,
            "batch_size": 32,
            "crop": 16,
            # issue 19: the paper's CLSTM memorises the crops at this size; see TRAINING_PRESETS
            "clstm": {
                "epochs": 20,
                "batch_size": 8,
                "readout": "pool",
                "num_layers": 3,
                "dropout": 0.0,
                "lr": 3e-3,
                "weight_decay": 1e-2,
                "lr_schedule": "cosine",
            },
        },
    },
    "paper": {
        "forest_trees": 500,
        "dl": {"epochs": 30, "augment": 20, "batch_size": 32, "crop": 32},
    },
}
"""Preset overrides of :class:`StudyConfig`."""

_PRESET_PURPOSE: dict[str, tuple[str, str]] = {
    "fast": ("a quick end-to-end check of a run or a cohort", "a few minutes"),
    "cpu": (
        "the default: the paper's statistics with a network budget a 2-core CPU trains",
        "under 30 min (1515 s measured, seed 0)",
    ),
    "paper": ("the paper's training budget (20x augmentation, 32 x 32 crops); a GPU is advised", "hours"),
}
"""What each preset is for and its time on 2 CPU cores with the 61-case cohort (docs table)."""


def _presets_markdown() -> str:
    """The presets table of ``docs/user_guide/study.md``, made from :data:`PRESETS`.

    The page holds this text between ``<!-- presets-table:start -->`` and
    ``<!-- presets-table:end -->``; ``tests/study/test_config.py`` fails when they differ
    (regenerate: ``python -c "from dcemets.study.config import _presets_markdown as f; print(f())"``).
    """

    def budget(dl: dict[str, Any], net: str) -> str:
        b = {**{k: v for k, v in dl.items() if not isinstance(v, dict)}, **dl.get(net, {})}
        extra = ", ".join(
            f"{k} {b[k]}"
            for k in ("readout", "num_layers", "lr_schedule", "features")
            if b.get(k) is not None
        )
        text = f"{b['epochs']} epochs, augment {b['augment']}, batch {b['batch_size']}, {b['crop']} px crops"
        return text + (f", {extra}" if extra else "")

    rows = [
        "| preset | for | forest trees | k | CNN (maps) | CLSTM (frames) | time, 2 CPU cores, 61 cases |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in PRESETS:
        cfg = StudyConfig.preset(name)
        purpose, time = _PRESET_PURPOSE[name]
        k = f"{min(cfg.k_range)}..{max(cfg.k_range)}"
        label = f"`{name}`" + (" (default)" if name == "cpu" else "")
        rows.append(
            f"| {label} | {purpose} | {cfg.forest_trees} | {k} | {budget(cfg.dl, 'cnn')} | "
            f"{budget(cfg.dl, 'clstm')} | {time} |"
        )
    return "\n".join(rows)
