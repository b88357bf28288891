"""The per-case stage of the study: one case's chain, its quality flags, the cohort runner.

:func:`process_case` runs the paper's chain on one case; :func:`run_cases` runs it over a
cohort (cache look-up, local processes or a dask cluster, failures as the user asked).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from dcemets._conventions import validate_dce, validate_image, warn_user
from dcemets.io import Case
from dcemets.study.acquisition import _hotspot_tofts, acquisition_parameters
from dcemets.study.cache import CacheWarning, StudyCache
from dcemets.study.config import StudyConfig
from dcemets.study.results import (
    HEURISTICS,
    QUALITY_THRESHOLDS,
    CaseResult,
    CaseRuns,
    check_config,
)

__all__ = ["CaseError", "CaseFailedWarning", "process_case", "quality_flags", "run_cases"]


def quality_flags(quality: dict[str, Any]) -> list[str]:
    """The quality flags (:data:`dcemets.study.QUALITY_FLAGS`) of one case's quality record.

    Parameters
    ----------
    quality : dict
        ``CaseResult.quality``: the hot-spot flags (``hotspot_flags``), ``tofts_bound``,
        ``tofts_residual``, ``tofts_success``, ``concentration_invalid``, and, when
        available, ``segmentation_confidence`` and ``motion_mm``.  Missing or NaN entries
        raise no flag.

    Returns
    -------
    list of str
        Flags in the order of :data:`dcemets.study.QUALITY_FLAGS`.

    Raises
    ------
    TypeError
        If `quality` is not a mapping.

    Examples
    --------
    >>> quality_flags({"tofts_bound": "ve", "tofts_residual": 0.02, "motion_mm": float("nan")})
    ['tofts_at_bound']
    >>> quality_flags({"hotspot_flags": ["hotspot_vessel"], "segmentation_confidence": 0.3})
    ['hotspot_vessel', 'segmentation_low_confidence']
    """
    from dcemets.study.results import QUALITY_FLAGS

    if not isinstance(quality, Mapping):
        raise TypeError(f"`quality` must be a dict (CaseResult.quality), got {type(quality).__name__}")

    def num(key: str) -> float:
        v = quality.get(key)
        try:
            return float(v) if v is not None else float("nan")
        except (TypeError, ValueError):
            return float("nan")

    found = set(quality.get("hotspot_flags", ()))
    if quality.get("tofts_bound"):
        found.add("tofts_at_bound")
    if num("tofts_residual") > QUALITY_THRESHOLDS["tofts_residual"]:
        found.add("tofts_poor_fit")
    if quality.get("tofts_success") is False:
        found.add("tofts_failed")
    if num("concentration_invalid") > 0:
        found.add("concentration_invalid")
    if num("segmentation_confidence") < QUALITY_THRESHOLDS["segmentation_confidence"]:
        found.add("segmentation_low_confidence")
    if num("motion_mm") > QUALITY_THRESHOLDS["motion_mm"]:
        found.add("motion_large")
    return [f for f in QUALITY_FLAGS if f in found]


def _segmentation_confidence(mask: xr.DataArray) -> float:
    """The confidence a segmentation attached to its mask (``attrs``), NaN when none."""
    for key in ("segmentation_confidence", "confidence"):
        v = mask.attrs.get(key)
        if v is not None:
            try:
                return float(v)
            except (TypeError, ValueError):
                return float("nan")
    return float("nan")


_ROI_REGISTRATION: dict[str, Any] = {"margin_mm": 30.0, "metric_region": "box", "sampling": 0.25}
"""Options of :func:`dcemets.registration.register_frames` with which :func:`process_case`
registers on the lesion's region (``StudyConfig.registration`` overrides each); chosen on
development cases of the DRO (the registration guide).  The whole volume is registered with
``register_frames``' own defaults."""


def _motion_correct(case: Case, dce: xr.DataArray, config: StudyConfig) -> tuple[xr.DataArray, float, str]:
    """The series the chain analyses, its motion (mm) and where it was estimated.

    Without ``config.motion_correction``: `dce` itself, NaN, ``"none"``.  With it, the frames
    are registered (:func:`dcemets.registration.register_frames`) on the lesion's region (the
    sagittal ROI carried to the DCE grid) when the case has one, else on the whole volume.
    """
    from dcemets import registration, segmentation

    if not config.motion_correction:
        return dce, float("nan"), "none"
    opts = dict(config.registration)
    region = opts.pop("region", "roi")
    # the metric on the lesion's region (the sagittal ROI on the DCE grid) when there is one
    box = None
    if region == "roi" and case.roi_sagittal is not None:
        box = segmentation.transfer_roi(case.roi_sagittal, dce)
        opts = {**_ROI_REGISTRATION, **opts}
    reg = registration.register_frames(dce, mask=box, rng=config.seed, **opts)
    return reg.dce, reg.motion_mm, "volume" if box is None else "roi"


def process_case(case: Case, config: StudyConfig | None = None) -> CaseResult:
    """Run the per-case chain of the paper on one subject.

    Lesion segmentation (section 2.4) -> hot-spot ROI and heuristics (section 2.3) -> Tofts fit
    of the hot-spot curve -> parametric maps with the hot-spot's frames (section 2.5) -> the 99
    radiomics features (section 2.5).

    Parameters
    ----------
    case : dcemets.io.Case
        Needs ``dce`` and either ``roi_sagittal`` (with ``t2w_sagittal`` geometry, the paper's
        workflow) or a stored ``lesion_mask`` (used as the segmentation when no sagittal ROI
        is given).
    config : StudyConfig, optional
        Settings; the ``"cpu"`` preset by default.

    Returns
    -------
    CaseResult
        Its ``quality`` holds the measures behind the quality flags; a measure that was not
        taken is NaN: ``motion_mm`` without ``config.motion_correction``,
        ``segmentation_confidence`` for a stored lesion mask; ``motion_region`` says where
        the motion was estimated (``"roi"``, ``"volume"`` or ``"none"``,
        ``config.registration``).

    Raises
    ------
    TypeError
        If `case` is not a :class:`dcemets.io.Case` or `config` not a :class:`StudyConfig`.
    ValueError
        If the case has neither a sagittal ROI nor a lesion mask, or any stage rejects its data.

    References
    ----------
    Lang N. et al., Magn Reson Imaging 2019;64:4-12, sections 2.3-2.5.

    Examples
    --------
    >>> from dcemets.simulate import simulate_case
    >>> res = process_case(simulate_case("lung", rng=0), StudyConfig.preset("fast"))
    >>> round(res.heuristics["washout"], 1), res.quality["mask_source"], res.quality["flags"]
    (4.3, 'segmented', [])
    """
    from dcemets import kinetics, radiomics, segmentation

    if not isinstance(case, Case):
        raise TypeError(f"`case` must be a dcemets.io.Case, got {type(case).__name__}")
    config = check_config(config)
    t0 = time.perf_counter()
    dce = validate_dce(case.dce, name=f"case.dce ({case.subject_id})")
    acq = acquisition_parameters(dce, config)  # before any work: a missing TR fails at once
    dce, motion_mm, motion_region = _motion_correct(case, dce, config)
    if case.roi_sagittal is not None:
        # the sagittal T2W is a segmentation feature when the case has one (curve algorithm)
        mask = segmentation.segment_lesion(
            dce,
            case.roi_sagittal,
            t2w_sagittal=case.t2w_sagittal,
            rng=config.seed,
            **config.segmentation,
        )
        source = "segmented"
    elif case.lesion_mask is not None:
        mask = validate_image(case.lesion_mask, name=f"{case.subject_id}.lesion_mask", mask=True)
        source = "stored mask"
    else:
        raise ValueError(f"case {case.subject_id!r} has neither a sagittal ROI nor a lesion mask to analyse")
    t_seg = time.perf_counter()
    roi = kinetics.hotspot_roi(
        dce,
        within=mask,
        size=config.hotspot_size,
        n_baseline=config.n_baseline,
        **{"on_fail": "flag", **config.hotspot},
    )
    curve = kinetics.roi_curve(dce, roi)
    h = kinetics.heuristics(curve, n_baseline=config.n_baseline)
    heur: dict[str, Any] = {k: float(h[k].values) for k in HEURISTICS}
    heur.update({k: int(h[k].values) for k in ("s1_index", "s2_index", "peak_index")})
    heur["washout_rule"] = {0: "peak", 1: "67 s"}.get(int(h["washout_rule"].values), "invalid")
    tofts, tofts_quality = _hotspot_tofts(curve, acq, config, dce)
    maps = kinetics.parametric_maps(dce, mask=mask, frames=h, n_baseline=config.n_baseline)
    features = radiomics.extract_features(maps, mask, **config.radiomics)
    ra = roi.attrs
    has_vessel = int(ra["vessel_peak_index"]) >= 0
    quality: dict[str, Any] = {
        "mask_source": source,
        "lesion_voxels": int(mask.sum()),
        "acquisition": acq,
        "hotspot_flags": list(ra["flags"]),
        "hotspot_voxels": int(ra["n_voxels"]),
        "hotspot_baseline_ratio": float(ra["baseline_ratio"]),
        "hotspot_vessel_ratio": float(ra["vessel_ratio"]),
        "hotspot_peak_lag": float(ra["peak_index"] - ra["vessel_peak_index"]) if has_vessel else float("nan"),
        "hotspot_excluded_vessel": int(ra["n_excluded_vessel"]),
        "hotspot_excluded_baseline": int(ra["n_excluded_baseline"]),
        "tofts_success": bool(tofts.get("success", True)),
        **tofts_quality,
        "segmentation_confidence": _segmentation_confidence(mask) if source == "segmented" else float("nan"),
        "motion_mm": motion_mm,
        "motion_region": motion_region,
    }
    if case.lesion_mask is not None and source == "segmented":
        ref = validate_image(case.lesion_mask, name=f"{case.subject_id}.lesion_mask", mask=True)
        quality["dice"] = float(segmentation.dice(mask, ref))
        quality["hd95_mm"] = float(segmentation.hausdorff95(mask, ref))
    quality["flags"] = quality_flags(quality)
    quality["seconds_segmentation"] = t_seg - t0
    quality["seconds_total"] = time.perf_counter() - t0
    return CaseResult(
        subject_id=str(case.subject_id),
        primary=case.primary,
        label=case.label,
        heuristics=heur,
        tofts=tofts,
        features=features,
        mask=mask,
        maps=maps,
        curve=pd.Series(
            np.asarray(curve.values, dtype=float), index=np.asarray(curve["time"].values, dtype=float)
        ),
        quality=quality,
    )


# --------------------------------------------------------------------------------------------
# per-case runner: cache look-up, computation, failures
# --------------------------------------------------------------------------------------------


class CaseError(ValueError):
    """A case of the study failed (raised by :func:`run_study` with ``on_error="raise"``).

    Parameters
    ----------
    subject_id : str
        The case that failed.
    message : str
        The error message (``str(err)``): the case and the error it raised.

    Attributes
    ----------
    subject_id : str
        The case that failed.

    Examples
    --------
    >>> err = CaseError("p07", "case 'p07' failed: ValueError: no enhancement")
    >>> err.subject_id, isinstance(err, ValueError)
    ('p07', True)
    """

    def __init__(self, subject_id: str, message: str) -> None:
        super().__init__(message)
        self.subject_id = subject_id


class CaseFailedWarning(UserWarning):
    """A case failed and was left out of the study (``on_error="skip"``).

    Examples
    --------
    >>> issubclass(CaseFailedWarning, UserWarning)  # filter it like any UserWarning
    True
    """


def _run_one(
    case: Case, config: StudyConfig, cache: StudyCache | None
) -> tuple[str, CaseResult | None, str | None, bool, list[str]]:
    """Process or load one case; return (id, result, error, computed, cache warnings).

    Cache warnings are returned rather than emitted, so that those raised in a worker process
    reach the user too (the caller emits them).
    """
    notes: list[str] = []
    try:
        if cache is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CacheWarning)
                res = cache.load_case(case, config)
            notes += [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
            if res is not None:
                return case.subject_id, res, None, False, notes
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = process_case(case, config)
        # warnings (e.g. voxels whose SPGR inversion is impossible) are kept with the case
        res.quality["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        if cache is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CacheWarning)
                cache.save_case(res, case, config)
            notes += [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
        return case.subject_id, res, None, True, notes
    except Exception as exc:  # noqa: BLE001 - reported by the caller, as on_error says
        return case.subject_id, None, f"{type(exc).__name__}: {exc}", False, notes


def _per_case(
    cases: Sequence[Case],
    config: StudyConfig,
    cache: StudyCache | None,
    client: Any,
    progress: bool,
    on_error: str = "raise",
) -> list[tuple[str, CaseResult | None, str | None, bool]]:
    """Run :func:`_run_one` on every case, reporting each failure as it happens.

    With ``on_error="raise"`` the first failure stops the run (the cases already finished are
    cached) and raises :class:`CaseError`; with ``"skip"`` it is reported at once with a
    :class:`CaseFailedWarning` and the run goes on.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"`on_error` must be 'raise' or 'skip', got {on_error!r}")
    bar = tqdm(total=len(cases), desc="cases", disable=not progress, unit="case")
    results: list[tuple[str, CaseResult | None, str | None, bool]] = []

    def collect(item: tuple[str, CaseResult | None, str | None, bool, list[str]]) -> None:
        sid, res, err, computed, notes = item
        for note in notes:
            warn_user(note, CacheWarning)
        bar.update()
        if err is not None:
            where = "" if cache is None else f"; the finished cases are cached in '{cache.root}'"
            if on_error == "raise":
                raise CaseError(
                    sid,
                    f"case {sid!r} failed: {err}{where}. Fix or remove the case, or pass "
                    "on_error='skip' (dcemets replicate --keep-going) to leave failed cases out",
                )
            warn_user(f"case {sid!r} failed and is left out of the study: {err}", CaseFailedWarning)
        results.append((sid, res, err, computed))

    try:
        if client is not None:
            from distributed import as_completed

            # scatter the (large) cases to the workers instead of embedding them in the graph
            futures = [client.submit(_run_one, client.scatter(c), config, cache, pure=False) for c in cases]
            try:
                for fut in as_completed(futures):
                    collect(fut.result())
            except BaseException:
                client.cancel(futures)
                raise
        elif config.n_jobs > 1:
            from concurrent.futures import ProcessPoolExecutor
            from concurrent.futures import as_completed as cf_completed

            with ProcessPoolExecutor(max_workers=config.n_jobs) as pool:
                futs = [pool.submit(_run_one, c, config, cache) for c in cases]
                try:
                    for f in cf_completed(futs):
                        collect(f.result())
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise
        else:
            for c in cases:
                collect(_run_one(c, config, cache))
    finally:
        bar.close()
    order = {c.subject_id: i for i, c in enumerate(cases)}
    return sorted(results, key=lambda r: order[r[0]])


def _check_cohort(cases: Iterable[Case], name: str, on_error: str) -> list[Case]:
    if isinstance(cases, (str, bytes, Case)) or not hasattr(cases, "__iter__"):
        raise TypeError(f"`{name}` must be an iterable of dcemets.io.Case, got {type(cases).__name__}")
    cases = list(cases)
    if not cases:
        raise ValueError(f"`{name}` is empty")
    for i, case in enumerate(cases):
        if not isinstance(case, Case):
            raise TypeError(f"`{name}[{i}]` must be a dcemets.io.Case, got {type(case).__name__}")
    ids = [c.subject_id for c in cases]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"`{name}` has duplicate subject ids {dup}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"`on_error` must be 'raise' or 'skip', got {on_error!r}")
    return cases


def run_cases(
    cases: Iterable[Case],
    *,
    config: StudyConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    client: Any = None,
    progress: bool = True,
    on_error: str = "raise",
) -> CaseRuns:
    """Run the per-case stage of the study (:func:`process_case`) on a cohort, with the cache.

    The first half of :func:`run_study`, on its own: what ``dcemets features`` runs, and what a
    user runs to get every case's heuristics, Tofts fit, maps and features without the cohort
    analyses.

    Parameters
    ----------
    cases : iterable of dcemets.io.Case
        The cohort (unique subject ids).
    config : StudyConfig, optional
        Settings; the ``"cpu"`` preset by default.  ``n_jobs > 1`` runs cases in processes.
    out : path, optional
        Cache folder (see :func:`run_study`): finished cases are read back, new ones stored.
    client : distributed.Client, optional
        Run the cases on this dask cluster.
    progress : bool
        Show a progress bar.
    on_error : {"raise", "skip"}, default "raise"
        A failing case raises :class:`CaseError` at once, or, with ``"skip"``, is reported
        (:class:`CaseFailedWarning`) and left out.

    Returns
    -------
    CaseRuns
        ``results``, ``failures``, ``computed`` and ``loaded``.

    Raises
    ------
    CaseError
        If a case fails and ``on_error="raise"``.
    ValueError
        If the cohort is empty, has duplicate ids, or `on_error` is unknown.
    PermissionError
        If `out` cannot be written to.

    Examples
    --------
    >>> from dcemets.simulate import simulate_case
    >>> runs = run_cases([simulate_case("lung", rng=3)], config=StudyConfig.preset("fast"), progress=False)
    >>> [r.subject_id for r in runs.results], runs.failures, runs.computed
    (['sim-lung'], {}, ['sim-lung'])
    >>> runs.results[0].features.size
    99
    """
    config = check_config(config)
    cases = _check_cohort(cases, "cases", on_error)
    cache = None if out is None else StudyCache(out)
    raw = _per_case(cases, config, cache, client, progress, on_error)
    return CaseRuns(
        results=[r for _, r, _, _ in raw if r is not None],
        failures={sid: err for sid, _, err, _ in raw if err is not None},
        computed=[sid for sid, r, _, c in raw if r is not None and c],
        loaded=[sid for sid, r, _, c in raw if r is not None and not c],
    )


# --------------------------------------------------------------------------------------------
# cohort stage
# --------------------------------------------------------------------------------------------
