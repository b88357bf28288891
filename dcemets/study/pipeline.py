"""The end-to-end study of Lang et al. 2019 on a cohort: per-case stage, then cohort analyses."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from dcemets._conventions import validate_dce, validate_image
from dcemets.io import Case
from dcemets.study.cache import CacheWarning, FoldStore, StudyCache
from dcemets.study.config import StudyConfig
from dcemets.study.results import (
    HEURISTICS,
    QUALITY_THRESHOLDS,
    TABLE1_COLUMNS,
    CaseResult,
    CaseRuns,
    StudyResult,
    check_config,
)

__all__ = [
    "CaseError",
    "CaseFailedWarning",
    "acquisition_parameters",
    "process_case",
    "quality_flags",
    "run_cases",
    "run_study",
]

# --------------------------------------------------------------------------------------------
# per-case stage
# --------------------------------------------------------------------------------------------


def acquisition_parameters(dce: xr.DataArray, config: StudyConfig | None = None) -> dict[str, dict[str, Any]]:
    """The acquisition parameters the per-case stage uses, each with where it came from.

    The DCE's own attributes come first (read from DICOM tags or a BIDS-style sidecar by
    :mod:`dcemets.io`); a parameter the data lack is taken from `config`
    (``tr_s``, ``flip_angle_deg``, ``r1_per_mM_s``); the injection time, when the data lack
    it, is the time of the first frame after the baseline.  Nothing is assumed silently:
    each entry says its source, and a missing TR or flip angle is an error.

    Parameters
    ----------
    dce : xarray.DataArray
        The case's DCE series.
    config : StudyConfig, optional
        The study's settings (the ``"cpu"`` preset by default).

    Returns
    -------
    dict
        ``{"tr_s" | "flip_angle_deg" | "r1_per_mM_s" | "injection_time_s" | "t10_s" | "aif":
        {"value": float (str for "aif"), "source": str}}``.

    Raises
    ------
    ValueError
        If the TR or the flip angle is neither in the data nor in `config`, or `dce` is not a
        valid DCE series.
    TypeError
        If `dce` is not a DataArray or `config` not a :class:`StudyConfig`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets._conventions import make_dce
    >>> dce = make_dce(np.ones((3, 1, 2, 2)), [0.0, 10.0, 20.0], attrs={"tr_s": 0.004})
    >>> acq = acquisition_parameters(dce, StudyConfig(flip_angle_deg=12.0))
    >>> acq["tr_s"], acq["flip_angle_deg"]["source"], acq["r1_per_mM_s"]["source"]
    ({'value': 0.004, 'source': 'data'}, 'config', 'default (StudyConfig.r1_per_mM_s)')
    """
    dce = validate_dce(dce)
    config = check_config(config)
    out: dict[str, dict[str, Any]] = {}
    hints = {
        "tr_s": "DICOM RepetitionTime / sidecar RepetitionTime",
        "flip_angle_deg": "DICOM or sidecar FlipAngle",
    }
    for key in ("tr_s", "flip_angle_deg"):
        if key in dce.attrs and np.isfinite(float(dce.attrs[key])):
            out[key] = {"value": float(dce.attrs[key]), "source": "data"}
        elif getattr(config, key) is not None:
            out[key] = {"value": float(getattr(config, key)), "source": "config"}
        else:
            raise ValueError(
                f"the DCE has no `{key}` attribute ({hints[key]}) and StudyConfig.{key} is not set; "
                f"give it (StudyConfig({key}=...), or dcemets replicate --{key.replace('_', '-')})"
            )
    if "r1_per_mM_s" in dce.attrs:
        out["r1_per_mM_s"] = {"value": float(dce.attrs["r1_per_mM_s"]), "source": "data"}
    else:
        out["r1_per_mM_s"] = {"value": config.r1_per_mM_s, "source": "default (StudyConfig.r1_per_mM_s)"}
    times = dce["time"].values
    if "injection_time_s" in dce.attrs:
        out["injection_time_s"] = {"value": float(dce.attrs["injection_time_s"]), "source": "data"}
    else:
        out["injection_time_s"] = {
            "value": float(times[min(config.n_baseline, times.size - 1)]),
            "source": "rule (first frame after the baseline)",
        }
    out["t10_s"] = {"value": config.t10_s, "source": "StudyConfig.t10_s (assumed; the paper maps no T1)"}
    if config.aif == "image":
        out["aif"] = {
            "value": "image",
            "source": "StudyConfig.aif (image-derived: kinetics.image_aif on the case, blood to plasma)",
        }
        out["hematocrit"] = {"value": float(config.hematocrit), "source": "StudyConfig.hematocrit"}
    else:
        out["aif"] = {
            "value": config.aif,
            "source": "StudyConfig.aif (population AIF, plasma, delayed to the injection time)",
        }
    return out


_TOFTS_BOUNDS = {"ktrans": (0.0, 5.0), "kep": (1e-3, 100.0), "ve": (None, 1.0)}
"""The default bounds of ``kinetics.fit_tofts(method="nlls")`` (ve: Ktrans <= ve_max kep)."""


def _image_aif(dce: xr.DataArray, acq: dict[str, dict[str, Any]], config: StudyConfig) -> xr.DataArray:
    """The case's image-derived plasma AIF on its frame times (``StudyConfig.aif == "image"``)."""
    from dcemets import kinetics

    with warnings.catch_warnings():
        # voxels whose T10 is not the assumed one (fat, CSF) cannot be inverted: they get 0 and
        # are never selected; the warning would only repeat that for every case
        warnings.filterwarnings("ignore", message="SPGR inversion impossible", category=RuntimeWarning)
        conc = kinetics.signal_to_concentration(
            dce,
            t10=acq["t10_s"]["value"],
            flip_angle=acq["flip_angle_deg"]["value"],
            tr=acq["tr_s"]["value"],
            r1=acq["r1_per_mM_s"]["value"],
            n_baseline=config.n_baseline,
        ).fillna(0.0)
    blood = kinetics.image_aif(conc, n_baseline=config.n_baseline).aif
    return kinetics.blood_to_plasma(blood, hct=config.hematocrit)


def _hotspot_tofts(
    curve: xr.DataArray,
    acq: dict[str, dict[str, Any]],
    config: StudyConfig,
    dce: xr.DataArray | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tofts fit of the hot-spot curve with the configured AIF.

    A population AIF is sampled on a 0.5 s grid; an image-derived one (``config.aif ==
    "image"``, from `dce`) is used on the frame times.

    Returns the fit (``ktrans``, ``kep``, ``ve``, ``rss``, ``success``) and its quality:
    ``tofts_residual`` (RMS residual / peak concentration), ``tofts_bound`` (parameters at a
    bound of the fit, ';'-separated) and ``concentration_invalid`` (samples that could not be
    converted, entered as 0).
    """
    from dcemets import kinetics

    conc = kinetics.signal_to_concentration(
        curve,
        t10=acq["t10_s"]["value"],
        flip_angle=acq["flip_angle_deg"]["value"],
        tr=acq["tr_s"]["value"],
        r1=acq["r1_per_mM_s"]["value"],
        n_baseline=config.n_baseline,
    )
    if config.aif == "image":
        if dce is None:
            raise ValueError("an image-derived AIF (StudyConfig.aif='image') needs the case's DCE")
        aif = _image_aif(dce, acq, config)
    else:
        t_end = float(curve["time"][-1])
        t_fine = np.arange(0.0, t_end + 0.5, 0.5)
        t_inj = acq["injection_time_s"]["value"]
        aif_values = kinetics.population_aif(t_fine, model=config.aif, delay=t_inj)
        aif = xr.DataArray(aif_values, dims=("time",), coords={"time": t_fine})
        aif["time"].attrs["units"] = "s"
    n_invalid = int(np.count_nonzero(~np.isfinite(np.asarray(conc.values, dtype=float))))
    conc = conc.fillna(0.0) if isinstance(conc, xr.DataArray) else conc
    fit = kinetics.fit_tofts(conc, aif, method="nlls")
    out = {str(k): float(fit[k].values) for k in fit.data_vars if fit[k].ndim == 0}
    c = np.asarray(conc.values, dtype=float)
    peak = float(np.max(np.abs(c)))
    rss = out.get("rss", np.nan)
    residual = float(np.sqrt(rss / c.size) / peak) if peak > 0 and np.isfinite(rss) else float("nan")
    at_bound = []
    for name, (lo, hi) in _TOFTS_BOUNDS.items():
        v = out.get(name, np.nan)
        if not np.isfinite(v):
            continue
        low = lo is not None and v <= lo + 1e-3 * max(abs(lo), 1e-3)
        if low or (hi is not None and v >= hi * (1 - 1e-3)):
            at_bound.append(name)
    quality = {
        "tofts_residual": residual,
        "tofts_bound": ";".join(at_bound),
        "concentration_invalid": n_invalid,
    }
    return out, quality


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
        ``segmentation_confidence`` for a stored lesion mask.

    Raises
    ------
    TypeError
        If `case` is not a :class:`dcemets.io.Case` or `config` not a :class:`StudyConfig`.
    ValueError
        If the case has neither a sagittal ROI nor a lesion mask, or any stage rejects its data.

    References
    ----------
    Lang N. et al., Magn Reson Imaging 2019;64:4-12, sections 2.3-2.5.
    """
    from dcemets import kinetics, radiomics, registration, segmentation

    if not isinstance(case, Case):
        raise TypeError(f"`case` must be a dcemets.io.Case, got {type(case).__name__}")
    config = check_config(config)
    t0 = time.perf_counter()
    dce = validate_dce(case.dce, name=f"case.dce ({case.subject_id})")
    acq = acquisition_parameters(dce, config)  # before any work: a missing TR fails at once
    motion_mm = float("nan")
    if config.motion_correction:
        reg = registration.register_frames(dce)
        dce, motion_mm = reg.dce, reg.motion_mm
    if case.roi_sagittal is not None:
        # the sagittal T2W is a segmentation feature when the case has one (curve algorithm)
        mask = segmentation.segment_lesion(
            dce,
            case.roi_sagittal,
            t2w_sagittal=case.t2w_sagittal,
            random_state=config.seed,
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

    Attributes
    ----------
    subject_id : str
        The case that failed.
    """

    def __init__(self, subject_id: str, message: str) -> None:
        super().__init__(message)
        self.subject_id = subject_id


class CaseFailedWarning(UserWarning):
    """A case failed and was left out of the study (``on_error="skip"``)."""


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
            warnings.warn(note, CacheWarning, stacklevel=4)
        bar.update()
        if err is not None:
            where = "" if cache is None else f"; the finished cases are cached in '{cache.root}'"
            if on_error == "raise":
                raise CaseError(
                    sid,
                    f"case {sid!r} failed: {err}{where}. Fix or remove the case, or pass "
                    "on_error='skip' (dcemets replicate --keep-going) to leave failed cases out",
                )
            warnings.warn(
                f"case {sid!r} failed and is left out of the study: {err}", CaseFailedWarning, stacklevel=4
            )
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


def _labels(table: pd.DataFrame) -> np.ndarray:
    y = table["label"].astype(str).to_numpy()
    if set(np.unique(y)) - {"lung", "other"}:
        raise ValueError(f"labels must be 'lung' or 'other', got {sorted(set(y))}")
    return y


def _fold_store(cache: StudyCache | None, result: StudyResult, method: str, *inputs: Any) -> FoldStore | None:
    """The checkpoint store of one cohort-stage method (None without a cache), counted in `result`."""
    if cache is None:
        return None
    import sklearn

    store = cache.fold_store(method, *inputs, sklearn.__version__)
    result.checkpoints[method] = store.counts  # the store updates this dict as it goes
    return store


def _hotspot_analyses(
    table: pd.DataFrame, config: StudyConfig, result: StudyResult, cache: StudyCache | None = None
) -> None:
    from dcemets import classify, evaluation

    x = table[list(HEURISTICS)]
    y = _labels(table)
    for name, make in (
        ("hotspot_logistic", classify.hotspot_logistic),
        ("hotspot_chaid", classify.hotspot_chaid),
    ):
        store = _fold_store(
            cache, result, name, x, y, make().get_params(deep=True), config.n_splits, config.seed
        )
        result.cv[name] = evaluation.cross_validate(
            make(), x, y, cv=config.n_splits, random_state=config.seed, checkpoint=store
        )
        model = make().fit(x, y)
        result.models[name] = model
        score = model.predict_proba(x)[:, list(model.classes_).index("lung")]
        result.cv[name + "_resubstitution"] = evaluation.diagnostic_metrics(y, model.predict(x), score)


def _radiomics_analyses(
    features: pd.DataFrame,
    table: pd.DataFrame,
    config: StudyConfig,
    result: StudyResult,
    cache: StudyCache | None = None,
) -> None:
    from dcemets import evaluation

    y = _labels(table)
    settings = (config.k_range, config.radiomics_protocol, config.n_splits, config.forest_trees, config.seed)
    store = _fold_store(cache, result, "radiomics", features.loc[table.index], y, settings)
    res = evaluation.radiomics_search(
        features.loc[table.index],
        y,
        family="all",
        k_range=range(min(config.k_range), max(config.k_range) + 1),
        protocol=config.radiomics_protocol,
        n_splits=config.n_splits,
        n_estimators=config.forest_trees,
        random_state=config.seed,
        positive="lung",
        checkpoint=store,
    )
    result.models["radiomics_search"] = res
    result.table2 = res.table.copy()
    best = res.best.loc["both"]
    oof = res.oof[(res.oof["family"] == "both") & (res.oof["k"] == best["k"])]
    result.cv["radiomics"] = (
        np.where(oof["y_true"].to_numpy() == 1, "lung", "other"),
        oof["y_score"].to_numpy(),
    )


def _dl_analyses(
    cases: list[Case],
    results: list[CaseResult],
    config: StudyConfig,
    result: StudyResult,
    progress: bool,
    cache: StudyCache | None = None,
    nets: tuple[str, ...] = ("cnn", "clstm", "curve"),
) -> None:
    """Cross-validate the networks named in `nets` (all three in the study) on the CHAID's folds."""
    from dcemets import evaluation, models
    from dcemets.study import _dl

    dl = config.dl
    by_id = {c.subject_id: c for c in cases}
    ids = np.asarray([r.subject_id for r in results])
    y_patients = np.asarray([r.label for r in results], dtype=object)
    # the networks are cross-validated on the hot-spot CHAID's folds (same patients in each
    # test fold), so their Table 3 rows compare on the same splits
    fold_of: pd.Series | None = None
    chaid = result.cv.get("hotspot_chaid")
    if chaid is not None and (chaid.oof["repeat"] == 0).all():
        fold_of = pd.Series(chaid.oof["fold"].to_numpy(int), index=ids[chaid.oof.index.to_numpy(int)])
    base = max(int(config.n_baseline), 1)
    curves = []
    for r in results:  # the lesion's mean curve, % enhancement over the baseline frames
        values = np.asarray(by_id[r.subject_id].dce.values, dtype=float)[:, np.asarray(r.mask.values, bool)]
        curve = values.mean(axis=1)
        curves.append(100.0 * (curve / curve[:base].mean() - 1.0))
    # the CNN sees the hot-spot-frame maps of the per-case stage; the CLSTM the 12 frames
    inputs: dict[str, tuple[str, Any, Any]] = {
        "cnn": ("maps", [(r.maps, r.mask, r.label, r.subject_id) for r in results], models.MapCNNClassifier),
        "clstm": (
            "dce",
            [(by_id[r.subject_id].dce, r.mask, r.label, r.subject_id) for r in results],
            models.CLSTMClassifier,
        ),
        "curve": ("curve", None, models.CurveGRUClassifier),
    }
    for name, (kind, items, cls) in inputs.items():
        if name not in nets:
            continue
        budget = {**dl, **dl.get(name, {})}  # per-network overrides: dl["cnn"], dl["clstm"], dl["curve"]
        if kind == "curve":
            X, y, groups = np.asarray(curves, dtype=np.float32), y_patients, ids
            est = cls(device=config.device, random_state=config.seed, progress=False)
            if "epochs" in dl.get(
                "curve", {}
            ):  # only an explicit dl["curve"] budget (its own default is 100)
                est.set_params(epochs=int(dl["curve"]["epochs"]))
        else:
            scale = str(budget.get("normalise", "zscore")) if kind == "dce" else "zscore"
            ds = models.slice_dataset(
                items, inputs=kind, crop=int(dl["crop"]), normalise=scale, progress=False
            )
            X, y, groups = ds.X, ds.y, ds.groups
            est = cls(
                epochs=int(budget["epochs"]),
                batch_size=int(budget["batch_size"]),
                augment=int(budget["augment"]),
                device=config.device,
                random_state=config.seed,
                progress=False,
            )
            if budget.get("features") is not None:
                est.set_params(features=int(budget["features"]))
        options = set(est.get_params()) & set(budget) - {"epochs", "batch_size", "augment", "features"}
        est.set_params(**{k: budget[k] for k in sorted(options)})
        params = {k: v for k, v in est.get_params().items() if k != "progress"}
        store = _fold_store(
            cache, result, name, X, y, groups, params, config.n_splits, config.seed, config.device
        )
        folds: Any = config.n_splits
        if fold_of is not None:
            folds = _dl.FixedFolds(_dl.fold_of_samples(fold_of, groups))
        sink = f"{id(result)}-{name}"
        result.cv[name] = evaluation.cross_validate(
            _dl._PatientFit(est, _dl.patient_groups(X, groups), sink),
            X,
            y,
            groups=groups,
            cv=folds,
            random_state=config.seed,
            aggregate_groups=True,
            progress=progress,
            checkpoint=_dl._HistoryStore(store, sink),
        )
        result.learning_curves[name] = _dl.learning_curves(sink)


def _table3(result: StudyResult) -> pd.DataFrame:
    from dcemets.study.paper import PAPER_TABLE3

    rows = []

    def cv_row(label: str, key: str, evaluation_name: str, paper_key: str) -> None:
        cv = result.cv.get(key)
        if cv is None:
            return
        s = cv.summary
        rows.append(
            {
                "method": label,
                "evaluation": evaluation_name,
                "accuracy": s.loc["accuracy", "mean"],
                "sd": s.loc["accuracy", "sd"],
                "min": s.loc["accuracy", "min"],
                "max": s.loc["accuracy", "max"],
                "sensitivity": s.loc["sensitivity", "mean"],
                "specificity": s.loc["specificity", "mean"],
                "auc": s.loc["auc", "mean"] if "auc" in s.index else np.nan,
                "paper_accuracy": (
                    PAPER_TABLE3.loc[paper_key, "accuracy"] if paper_key in PAPER_TABLE3.index else np.nan
                ),
            }
        )

    def resub_row(label: str, key: str, paper_key: str) -> None:
        m = result.cv.get(key)
        if m is None:
            return
        rows.append(
            {
                "method": label,
                "evaluation": "entire dataset (resubstitution)",
                "accuracy": m["accuracy"],
                "sensitivity": m["sensitivity"],
                "specificity": m["specificity"],
                "auc": m.get("auc", np.nan),
                "paper_accuracy": PAPER_TABLE3.loc[paper_key, "accuracy"],
            }
        )

    resub_row(
        "Hot-spot CHAID (3 heuristics)", "hotspot_chaid_resubstitution", "Hot-spot CHAID (3 heuristics)"
    )
    cv_row(
        "Hot-spot CHAID (3 heuristics)",
        "hotspot_chaid",
        f"{result.config.n_splits}-fold CV",
        "Hot-spot CHAID (3 heuristics)",
    )
    resub_row(
        "Hot-spot logistic regression", "hotspot_logistic_resubstitution", "Hot-spot logistic regression"
    )
    cv_row(
        "Hot-spot logistic regression",
        "hotspot_logistic",
        f"{result.config.n_splits}-fold CV",
        "Hot-spot logistic regression",
    )
    search = result.models.get("radiomics_search")
    if search is not None:
        best = search.best.loc["both"]
        label = "Radiomics (99 features) RF + LR"
        base = {"method": label, "paper_accuracy": PAPER_TABLE3.loc[label, "accuracy"]}
        rows.append(
            {
                **base,
                "evaluation": f"entire dataset (resubstitution), k={int(best['k'])}",
                "accuracy": float(best["accuracy_resubstitution"]),
            }
        )
        rows.append(
            {
                **base,
                "evaluation": f"{result.config.n_splits}-fold CV ({search.protocol}), k={int(best['k'])}",
                "accuracy": float(best["accuracy"]),
                "auc": float(best["auc"]),
            }
        )
    cv_row(
        "CNN on 3 parametric maps",
        "cnn",
        f"{result.config.n_splits}-fold CV (patient level)",
        "CNN on 3 parametric maps",
    )
    cv_row(
        "CLSTM on 12 DCE frames",
        "clstm",
        f"{result.config.n_splits}-fold CV (patient level)",
        "CLSTM on 12 DCE frames",
    )
    cv_row(  # not in the paper: what the time course alone gives (issue 19)
        "GRU on the lesion's mean curve (baseline)",
        "curve",
        f"{result.config.n_splits}-fold CV (patient level)",
        "GRU on the lesion's mean curve (baseline)",
    )
    return pd.DataFrame(rows).set_index("method")


def run_study(
    cohort: Iterable[Case],
    *,
    config: StudyConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    client: Any = None,
    progress: bool = True,
    on_error: str = "raise",
) -> StudyResult:
    """Run the whole study of Lang et al. 2019 on a cohort.

    For every case: lesion segmentation -> hot-spot ROI and heuristics -> Tofts fit of the
    hot-spot curve -> parametric maps -> 99 radiomics features (:func:`process_case`). Then, on
    the cohort: Table 1 (:func:`dcemets.evaluation.compare_groups`), hot-spot logistic
    regression and CHAID (Table 3 rows 1-2, Fig. 6), radiomics selection (Table 2, Table 3 row
    3), and the MapCNN and CLSTM patient-level cross-validation (Table 3 rows 4-5).

    Parameters
    ----------
    cohort : iterable of dcemets.io.Case
        E.g. :func:`dcemets.simulate.simulate_cohort` or :func:`dcemets.io.load_cohort`.
        Labels must be ``"lung"`` or ``"other"``.
    config : StudyConfig, optional
        Settings (the ``"cpu"`` preset by default).
    out : path, optional
        Cache folder (:class:`dcemets.study.StudyCache`): per-case results and every fold of
        the cohort stage are stored there (written then renamed), keyed by everything they
        depend on (the case's data and acquisition attributes, the settings, the library's
        code), so an interrupted run resumes where it stopped, losing at most the fold that
        was running, and a run on changed data or settings recomputes exactly what changed.
        An entry that cannot be read is reported (:class:`CacheWarning`) and recomputed.
    client : distributed.Client, optional
        Run the per-case stage on this dask cluster instead of local processes.
    progress : bool
        Show progress bars.
    on_error : {"raise", "skip"}, default "raise"
        What a failing case does.  ``"raise"`` stops the run at once with a
        :class:`CaseError` naming the case (finished cases stay cached): a study whose cohort
        silently shrinks is not the study the user asked for.  ``"skip"`` reports the failure
        at once (:class:`CaseFailedWarning`), records it in ``StudyResult.failures`` and the
        report, and goes on without the case.

    Returns
    -------
    StudyResult

    Raises
    ------
    CaseError
        If a case fails and ``on_error="raise"`` (a subclass of ``ValueError``).
    ValueError
        If the cohort is empty or has duplicate ids, no case could be processed, or fewer than
        two per class remain.
    PermissionError
        If `out` cannot be written to (checked before any work).

    References
    ----------
    Lang N. et al., Magn Reson Imaging 2019;64:4-12, doi:10.1016/j.mri.2019.02.013.
    """
    from dcemets import evaluation

    config = check_config(config)
    cases = _check_cohort(cohort, "cohort", on_error)
    cache = None if out is None else StudyCache(out)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    runs = run_cases(cases, config=config, out=out, client=client, progress=progress, on_error=on_error)
    timings["per_case"] = time.perf_counter() - t
    results, failures = runs.results, runs.failures
    if not results:
        raise ValueError(f"no case could be processed; first error: {next(iter(failures.values()), '?')}")
    table = pd.DataFrame([r.row() for r in results]).set_index("subject_id")
    features = pd.DataFrame({r.subject_id: r.features for r in results}).T
    features.index.name = "subject_id"
    result = StudyResult(
        config=config,
        cases=results,
        failures=failures,
        table=table,
        features=features,
        computed=runs.computed,
        loaded=runs.loaded,
        timings=timings,
    )
    counts = table["label"].value_counts()
    if len(counts) < 2 or counts.min() < 2:
        dropped = f" ({len(failures)} failed cases left out: {sorted(failures)})" if failures else ""
        raise ValueError(
            f"need at least 2 cases of each label after processing, got {counts.to_dict()}{dropped}"
        )
    stages: list[tuple[str, Callable[[], None]]] = [
        (
            "table1",
            lambda: setattr(
                result,
                "table1",
                evaluation.compare_groups(
                    table,
                    by="label",
                    subgroup="primary",
                    columns=list(TABLE1_COLUMNS),
                    names=TABLE1_COLUMNS,
                    test="both",
                ),
            ),
        ),
        ("hotspot", lambda: _hotspot_analyses(table, config, result, cache)),
        ("radiomics", lambda: _radiomics_analyses(features, table, config, result, cache)),
    ]
    if config.dl.get("enabled", True):
        stages.append(
            ("deep_learning", lambda: _dl_analyses(cases, results, config, result, progress, cache))
        )
    for name, run in tqdm(stages, desc="cohort analyses", disable=not progress):
        t = time.perf_counter()
        run()
        timings[name] = time.perf_counter() - t
    result.table3 = _table3(result)
    return result
