"""The end-to-end study of Lang et al. 2019 on a cohort: per-case stage, then cohort analyses.

:func:`run_study` runs the per-case stage (:mod:`dcemets.study.per_case`) and then the cohort
analyses (:mod:`dcemets.study.analyses`); the per-case names are re-exported here, where they
lived before issue 17 split this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from dcemets.io import Case
from dcemets.study.acquisition import acquisition_parameters
from dcemets.study.analyses import _dl_analyses, _hotspot_analyses, _radiomics_analyses, _table3
from dcemets.study.cache import StudyCache
from dcemets.study.config import StudyConfig
from dcemets.study.per_case import (
    CaseError,
    CaseFailedWarning,
    _check_cohort,
    process_case,
    quality_flags,
    run_cases,
)
from dcemets.study.results import TABLE1_COLUMNS, StudyResult, check_config

__all__ = [
    "CaseError",
    "CaseFailedWarning",
    "acquisition_parameters",
    "process_case",
    "quality_flags",
    "run_cases",
    "run_study",
]


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
        Per-case results and failures, the per-case table and radiomics features, Tables
        1-3 on this cohort, the cross-validation results and whole-cohort models, what was
        computed or read from the cache, timings and learning curves; pass it to
        :func:`write_report` or :func:`format_tables`.

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

    Examples
    --------
    >>> from dcemets.simulate import simulate_cohort
    >>> cohort = simulate_cohort(composition={"lung": 2, "breast": 2}, rng=0, progress=False)
    >>> config = StudyConfig.preset("fast", n_splits=2, k_range=(3, 3), forest_trees=20, dl={"enabled": False})
    >>> result = run_study(cohort, config=config, progress=False)
    >>> result.table.shape[0], sorted(result.table3.index.unique())[:2]
    (4, ['Hot-spot CHAID (3 heuristics)', 'Hot-spot logistic regression'])
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
