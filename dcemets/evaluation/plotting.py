"""ROC curves of several methods on one set of axes (for the study report)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from dcemets.evaluation.crossval import CVResult
from dcemets.evaluation.metrics import _check_binary, _check_scores, _delong_core, _resolve_positive

__all__ = ["plot_roc"]


def plot_roc(
    results: Mapping[str, CVResult | tuple[Any, Any]],
    ax: Any = None,
    *,
    positive: Any = None,
    chance: bool = True,
) -> Any:
    """Plot ROC curves with their AUCs in the legend.

    Parameters
    ----------
    results : mapping of str to CVResult or (y_true, y_score)
        Curve name -> a :class:`CVResult` (its out-of-fold scores, pooled over folds and
        repeats; the legend gives the mean of the per-repeat pooled AUCs; any object with an
        ``oof`` DataFrame holding ``y_true`` and ``y_score`` columns is accepted the same
        way) or a pair of labels and scores (higher = more likely `positive`).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (default: a new figure).
    positive : label, optional
        Positive class of the ``(y_true, y_score)`` pairs (a CVResult knows its own): by
        default 1 (``True``) for 0/1, -1/1 or boolean labels; other labels must name it
        (``"lung"`` still defaults, with a ``FutureWarning``, until the next release).
    chance : bool, default True
        Draw the diagonal of a chance classifier.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into (`ax`, or the new figure's): one curve per entry of `results`
        (false positive rate on x, true positive rate on y), labelled with its AUC.

    Raises
    ------
    ValueError
        If `results` is empty, a CVResult has no scores (estimator without
        ``predict_proba``/``decision_function``), or a pair is malformed.
    TypeError
        For an entry that is neither a CVResult nor a pair.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> y = ["other"] * 4 + ["lung"] * 4
    >>> ax = plot_roc({"hot-spot": (y, [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])}, positive="lung")
    >>> ax.get_legend().get_texts()[0].get_text()
    'hot-spot (AUC = 0.94)'
    """
    import matplotlib.pyplot as plt

    if not isinstance(results, Mapping) or not results:
        raise ValueError("`results` must be a non-empty mapping of name -> CVResult or (y_true, y_score)")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, res in results.items():
        if isinstance(res, CVResult) or isinstance(getattr(res, "oof", None), pd.DataFrame):
            oof: pd.DataFrame = getattr(res, "oof")  # noqa: B009
            pos_label = getattr(res, "positive", positive)
            missing = {"y_true", "y_score"} - set(oof.columns)
            if missing:
                raise ValueError(f"results[{name!r}].oof lacks the columns {sorted(missing)}")
            score = oof["y_score"].to_numpy(float)
            if not np.all(np.isfinite(score)):
                raise ValueError(f"results[{name!r}] has no out-of-fold scores to draw a ROC curve from")
            is_pos = (oof["y_true"] == pos_label).to_numpy()
            parts = oof.groupby("repeat") if "repeat" in oof.columns else [(0, oof)]
            aucs = []
            for _, part in parts:
                p_pos = (part["y_true"] == pos_label).to_numpy()
                s_part = part["y_score"].to_numpy(float)
                if 0 < p_pos.sum() < p_pos.size:
                    aucs.append(_delong_core(s_part[p_pos][None, :], s_part[~p_pos][None, :])[0][0])
            if not aucs:
                raise ValueError(f"results[{name!r}] holds a single class; no ROC curve")
            auc = float(np.mean(aucs))
        elif isinstance(res, tuple) and len(res) == 2:
            pos = _resolve_positive(res[0], positive, f"results[{name!r}][0]")
            is_pos, _ = _check_binary(res[0], pos, f"results[{name!r}][0]")
            score = _check_scores(res[1], is_pos.size, f"results[{name!r}][1]")
            auc = float(_delong_core(score[is_pos][None, :], score[~is_pos][None, :])[0][0])
        else:
            raise TypeError(
                f"results[{name!r}] must be a CVResult (or have .oof) or a (y_true, y_score) pair"
            )
        fpr, tpr, _ = roc_curve(is_pos, score)
        ax.plot(fpr, tpr, lw=1.6, label=f"{name} (AUC = {auc:.2f})")
    if chance:
        ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1.0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize="small")
    return ax
