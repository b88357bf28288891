"""The records of a study: one case's result (:class:`CaseResult`) and the whole run's (:class:`StudyResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dcemets.kinetics.heuristics import HOTSPOT_FLAGS
from dcemets.study.config import StudyConfig

__all__ = [
    "HEURISTICS",
    "QUALITY_COLUMNS",
    "QUALITY_FLAGS",
    "QUALITY_THRESHOLDS",
    "TABLE1_COLUMNS",
    "CaseResult",
    "CaseRuns",
    "StudyResult",
    "check_config",
    "check_result",
]

HEURISTICS = ("wash_in", "max_se", "washout")
TABLE1_COLUMNS = {
    "max_se": "Maximum SE (%)",
    "wash_in": "Wash-in SE (%)",
    "washout": "Wash-out slope (%)",
    "ktrans": "Ktrans (1/min)",
    "kep": "kep (1/min)",
}
"""The columns of the paper's Table 1, in its order, with its headings."""

QUALITY_THRESHOLDS: dict[str, float] = {
    "tofts_residual": 0.15,
    "segmentation_confidence": 0.5,
    "motion_mm": 2.0,
}
"""Limits of the flags that compare a number with a threshold (see :data:`QUALITY_FLAGS`)."""

QUALITY_FLAGS: dict[str, str] = {
    **HOTSPOT_FLAGS,
    "tofts_at_bound": (
        "a Tofts parameter of the hot-spot fit sits at a bound of the fit (ve = Ktrans/kep at 1, "
        "Ktrans at 0 or 5 /min, kep at 0.001 or 100 /min); column tofts_bound names it"
    ),
    "tofts_poor_fit": (
        f"the RMS residual of the hot-spot Tofts fit exceeds {QUALITY_THRESHOLDS['tofts_residual']:g} "
        "of the curve's peak concentration (column tofts_residual)"
    ),
    "tofts_failed": "the hot-spot Tofts fit did not converge",
    "concentration_invalid": (
        "some hot-spot samples could not be converted to concentration (signal above the SPGR "
        "limit for the assumed T10); they enter the fit as 0"
    ),
    "segmentation_low_confidence": (
        f"the segmentation's confidence is below {QUALITY_THRESHOLDS['segmentation_confidence']:g} "
        "(when the segmentation reports one)"
    ),
    "motion_large": (
        f"the estimated motion between frames exceeds {QUALITY_THRESHOLDS['motion_mm']:g} mm "
        "(when a motion estimate is available)"
    ),
}
"""The quality flags a case can carry (``CaseResult.flags``, column ``flags`` of ``cases.csv``)."""

QUALITY_COLUMNS: dict[str, str] = {
    "n_flags": "number of quality flags",
    "flags": "quality flags, ';'-separated (QUALITY_FLAGS)",
    "hotspot_voxels": "voxels in the hot-spot ROI",
    "hotspot_baseline_ratio": "hot-spot pre-contrast signal / median pre-contrast signal of the lesion mask",
    "hotspot_vessel_ratio": "hot-spot maximum SE / maximum SE of the vessel curve (NaN without one)",
    "hotspot_peak_lag": "hot-spot peak frame minus the vessel curve's peak frame (NaN without one)",
    "hotspot_excluded_vessel": "lesion-mask voxels the vessel guard excluded",
    "hotspot_excluded_baseline": "lesion-mask voxels the baseline floor excluded",
    "tofts_residual": "RMS residual of the hot-spot Tofts fit / peak concentration",
    "tofts_bound": "Tofts parameters at a bound of the fit, ';'-separated ('' if none)",
    "segmentation_confidence": "segmentation confidence in [0, 1] (NaN when the segmentation gives none)",
    "motion_mm": "largest estimated motion between frames, mm (NaN when not estimated)",
    "motion_region": "where the motion was estimated: 'roi', 'volume' or 'none' (no motion correction)",
}
"""The per-case quality columns of ``StudyResult.table`` and ``cases.csv``."""


@dataclass
class CaseResult:
    """What the per-case stage gives for one subject.

    Attributes
    ----------
    subject_id, primary, label : str
        Identity and labels of the case.
    heuristics : dict
        Hot-spot ``wash_in``, ``max_se``, ``washout`` (%) and the frame indices used.
    tofts : dict
        Tofts fit of the hot-spot curve: ``ktrans``, ``kep`` (1/min), ``ve``, ``success``.
    features : pandas.Series
        The 99 radiomics features.
    mask : xarray.DataArray
        The 3D lesion segmentation on the DCE grid.
    maps : xarray.Dataset
        The three parametric maps (``wash_in``, ``max_se``, ``washout``).
    curve : pandas.Series
        Hot-spot ROI mean signal, indexed by frame time (s).
    quality : dict
        The quality columns (:data:`QUALITY_COLUMNS`), ``flags`` (list of
        :data:`QUALITY_FLAGS` keys), Dice and 95 % Hausdorff distance against a reference
        mask when the case has one, the acquisition parameters used, timings.

    Examples
    --------
    >>> from dcemets.simulate import simulate_case
    >>> from dcemets.study import StudyConfig, process_case
    >>> res = process_case(simulate_case("lung", rng=0), StudyConfig.preset("fast"))
    >>> res.subject_id, res.label, res.features.size, sorted(res.heuristics)[:3]
    ('sim-lung', 'lung', 99, ['max_se', 'peak_index', 's1_index'])
    """

    subject_id: str
    primary: str | None
    label: str | None
    heuristics: dict[str, Any]
    tofts: dict[str, Any]
    features: pd.Series
    mask: xr.DataArray
    maps: xr.Dataset
    curve: pd.Series
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def flags(self) -> tuple[str, ...]:
        """The case's quality flags (keys of :data:`QUALITY_FLAGS`); empty when none."""
        return tuple(self.quality.get("flags", ()))

    def row(self) -> dict[str, Any]:
        """One flat table row: labels, flags, heuristics, Tofts parameters and quality (not timings).

        Returns
        -------
        dict
            Column -> scalar: ``subject_id``, ``primary``, ``label``, ``n_flags``, ``flags``
            (joined by ``;``), the hot-spot heuristics, ``ktrans``/``kep``/``ve`` and the
            scalar quality entries (NaN for a quality column the case lacks); a row of
            :attr:`StudyResult.table`.
        """
        out: dict[str, Any] = {"subject_id": self.subject_id, "primary": self.primary, "label": self.label}
        out["n_flags"] = len(self.flags)
        out["flags"] = ";".join(self.flags)
        out.update({k: self.heuristics[k] for k in HEURISTICS})
        out.update({k: self.tofts.get(k) for k in ("ktrans", "kep", "ve")})
        out.update({k: v for k, v in self.quality.items() if np.isscalar(v) and not k.startswith("seconds")})
        for k in QUALITY_COLUMNS:
            out.setdefault(k, np.nan)
        return out


@dataclass
class CaseRuns:
    """What :func:`dcemets.study.run_cases` gives for a cohort: the per-case stage's outcome.

    Attributes
    ----------
    results : list of CaseResult
        The cases that succeeded, in the cohort's order.
    failures : dict
        ``subject_id -> error message`` of the cases that failed (``on_error="skip"``).
    computed, loaded : list of str
        Subjects computed in this run, and those read back from the cache.

    Examples
    --------
    >>> runs = CaseRuns(results=[], failures={"p07": "ValueError: no enhancement"})
    >>> runs.failures, runs.computed
    ({'p07': 'ValueError: no enhancement'}, [])
    """

    results: list[CaseResult]
    failures: dict[str, str] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)


@dataclass
class StudyResult:
    """Everything :func:`run_study` produced.

    Attributes
    ----------
    config : StudyConfig
        The settings used.
    cases : list of CaseResult
        Per-case results (successful cases only).
    failures : dict
        ``subject_id -> error message`` of the cases that could not be processed.
    table : pandas.DataFrame
        One row per case: labels, quality flags (``n_flags``, ``flags``), hot-spot
        heuristics, Ktrans/kep/ve, the quality columns (:data:`QUALITY_COLUMNS`),
        segmentation quality.
    features : pandas.DataFrame
        The 99 radiomics features, one row per case.
    table1, table2, table3 : pandas.DataFrame
        The paper's tables computed on this cohort (Table 3 with the paper's values beside).
    cv : dict
        Cross-validation results per method (``dcemets.evaluation.CVResult``).
    models : dict
        Fitted whole-cohort models (e.g. the CHAID tree of Fig. 6).
    computed, loaded : list of str
        Subjects computed in this run, and those read back from the cache.
    checkpoints : dict
        Per cohort-stage method (``"hotspot_logistic"``, ``"radiomics"``, ``"cnn"`` ...), the
        folds read back from the cache (``"loaded"``) and computed in this run
        (``"computed"``); empty without a cache.
    timings : dict
        Seconds per stage.
    learning_curves : dict
        Per network (``"cnn"``, ``"clstm"``, ``"curve"``), a table of its training history
        in every cross-validation fold: ``fold``, ``epoch``, ``train_loss``,
        ``train_accuracy`` and, with early stopping, ``val_loss``, ``val_accuracy`` (on the
        patients held out of the training fold).
    figures : dict
        Matplotlib figures to put in the report; when empty, :func:`dcemets.study.write_report`
        draws them with :func:`dcemets.study.make_figures`.
    """

    config: StudyConfig
    cases: list[CaseResult]
    failures: dict[str, str]
    table: pd.DataFrame
    features: pd.DataFrame
    table1: pd.DataFrame | None = None
    table2: pd.DataFrame | None = None
    table3: pd.DataFrame | None = None
    cv: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    checkpoints: dict[str, dict[str, int]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    learning_curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of :attr:`table` of the cases with at least one quality flag, most flags first."""
        t = self.table
        if "n_flags" not in t.columns:
            return t.iloc[:0]
        return t[t["n_flags"] > 0].sort_values("n_flags", ascending=False, kind="stable")


def check_result(result: Any, name: str = "result") -> StudyResult:
    """`result` if it is a :class:`StudyResult`; a TypeError naming `name` otherwise."""
    if not isinstance(result, StudyResult):
        raise TypeError(
            f"`{name}` must be a dcemets.study.StudyResult (from run_study), got {type(result).__name__}"
        )
    return result


def check_config(config: Any, name: str = "config") -> StudyConfig:
    """`config`, or the default :class:`StudyConfig` for None; a TypeError for anything else."""
    if config is None:
        return StudyConfig()
    if not isinstance(config, StudyConfig):
        raise TypeError(
            f"`{name}` must be a dcemets.study.StudyConfig (e.g. StudyConfig.preset('cpu')) or None, "
            f"got {type(config).__name__}"
        )
    return config
