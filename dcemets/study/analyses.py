"""The cohort stage of the study: the analyses behind Tables 2 and 3 and Fig. 6.

Each analysis takes the per-case table (or features, or results), cross-validates its
classifiers through :func:`dcemets.evaluation.cross_validate` with the fold checkpoints of
:mod:`dcemets.study.cache`, and stores what it found in the :class:`StudyResult`;
:func:`_table3` assembles Table 3 beside the paper's figures.  Private: :func:`run_study` is
the public way in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dcemets.io import Case
from dcemets.study.cache import FoldStore, StudyCache
from dcemets.study.config import StudyConfig
from dcemets.study.results import HEURISTICS, CaseResult, StudyResult


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
            make(), x, y, cv=config.n_splits, rng=config.seed, positive="lung", checkpoint=store
        )
        model = make().fit(x, y)
        result.models[name] = model
        score = model.predict_proba(x)[:, list(model.classes_).index("lung")]
        result.cv[name + "_resubstitution"] = evaluation.diagnostic_metrics(
            y, model.predict(x), score, positive="lung"
        )


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
        rng=config.seed,
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


def _percent_enhancement(signal: np.ndarray, n_baseline: int) -> np.ndarray:
    """Curves ``(n, T)`` as % enhancement over the mean of their first `n_baseline` frames (>= 1)."""
    signal = np.asarray(signal, dtype=float)
    base = signal[:, : max(int(n_baseline), 1)].mean(axis=1, keepdims=True)
    return 100.0 * (signal / base - 1.0)


def _lesion_mean_curves(cases: list[Case], results: list[CaseResult], n_baseline: int) -> np.ndarray:
    """Each result's lesion mean curve ``(n, T)`` (its mask over its case's DCE), % enhancement."""
    by_id = {c.subject_id: c for c in cases}
    signal = [
        np.asarray(by_id[r.subject_id].dce.values, dtype=float)[:, np.asarray(r.mask.values, bool)].mean(
            axis=1
        )
        for r in results
    ]
    return _percent_enhancement(np.asarray(signal), n_baseline)


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
    curves = _lesion_mean_curves(cases, results, config.n_baseline)
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
            rng=config.seed,
            aggregate_groups=True,
            positive="lung",
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
