"""The report's figures, one function each: Figs. 1-4 and 6 of the paper, ROC curves, Table 3.

Each ``figure_*`` function takes a :class:`~dcemets.study.StudyResult` (and, for the image
figures, the cohort it ran on) and returns a new :class:`matplotlib.figure.Figure`, or None
when the result lacks what the figure shows.  :func:`make_figures` draws them all.  The
figures are made without pyplot, so none stays open in pyplot's figure manager after it is
dropped (a notebook still shows a returned figure).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dcemets._conventions import validate_dce
from dcemets.io import Case
from dcemets.study.config import StudyConfig
from dcemets.study.results import CaseResult, StudyResult, check_result

__all__ = [
    "figure_chaid",
    "figure_frames",
    "figure_learning_curves",
    "figure_maps",
    "figure_roc",
    "figure_segmentation",
    "figure_table3",
    "figure_time_courses",
    "make_figures",
]


def _examples(result: StudyResult) -> tuple[CaseResult | None, CaseResult | None]:
    """The lung case and the other-cancer case (a thyroid one when present) the figures show."""
    by_label: dict[str, CaseResult] = {}
    for r in result.cases:
        by_label.setdefault(str(r.primary or r.label), r)
    other = by_label.get("thyroid") or next((r for r in result.cases if r.label == "other"), None)
    return by_label.get("lung"), other


def _name(r: CaseResult) -> str:
    """How a case is called in a panel: its primary, else its label, else its id."""
    return str(r.primary or r.label or r.subject_id)


def figure_time_courses(result: StudyResult) -> Any:
    """Fig. 1: the hot-spot time courses (signal enhancement, %) of a lung and another case.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the result has no case.
    """
    lung, other = _examples(result)
    if lung is None and other is None:
        return None
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for r, color in ((lung, "tab:blue"), (other, "tab:red")):
        if r is not None:
            s0 = float(r.curve.iloc[0])
            enhancement = 100 * (r.curve.to_numpy() / s0 - 1)
            ax.plot(r.curve.index, enhancement, "o-", color=color, label=f"{r.subject_id} ({_name(r)})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("signal enhancement (%)")
    ax.set_title("Fig. 1: hot-spot time courses")
    ax.legend()
    fig.tight_layout()
    return fig


def figure_frames(result: StudyResult, cohort: Sequence[Case]) -> Any:
    """Fig. 2: DCE frames 1, 5 and the last, and two subtraction images, at the lesion's centre.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.
    cohort : sequence of Case
        The cohort the study ran on (the frames are read from it).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the example cases are not in `cohort`.
    """
    cases_by_id = {c.subject_id: c for c in cohort}
    rows = [r for r in _examples(result) if r is not None and r.subject_id in cases_by_id]
    if not rows:
        return None
    fig = Figure(figsize=(12, 2.6 * len(rows)))
    axes = fig.subplots(len(rows), 5, squeeze=False)
    for i, r in enumerate(rows):
        dce = cases_by_id[r.subject_id].dce.transpose("time", "z", "y", "x")
        zc = int(np.argmax(r.mask.sum(("y", "x")).values))
        frames = dce.isel(z=zc).values
        n = frames.shape[0]
        five = min(4, n - 1)
        imgs = [frames[0], frames[five], frames[-1], frames[five] - frames[0], frames[-1] - frames[0]]
        titles = ["frame 1", "frame 5", f"frame {n}", "frame 5 - 1", f"frame {n} - 1"]
        vmax = float(np.percentile(frames, 99.5))
        for j, (im, t) in enumerate(zip(imgs, titles)):
            top = vmax if j < 3 else (float(np.percentile(imgs[4 if j == 4 else 3], 99.5)) or 1.0)
            axes[i, j].imshow(im, cmap="gray", vmin=0.0, vmax=top)
            axes[i, j].set_title(f"{_name(r)}: {t}", fontsize=8)
            axes[i, j].axis("off")
    fig.suptitle("Fig. 2: DCE frames and subtraction images")
    fig.tight_layout()
    return fig


def _crop(region: np.ndarray, pad: int) -> tuple[slice, slice]:
    """In-plane slices of the bounding box of `region` (y, x) grown by `pad` voxels."""
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return slice(None), slice(None)
    ny, nx = region.shape
    return (
        slice(max(int(ys.min()) - pad, 0), min(int(ys.max()) + pad + 1, ny)),
        slice(max(int(xs.min()) - pad, 0), min(int(xs.max()) + pad + 1, nx)),
    )


def _steps_as_in_study(case: Case, config: StudyConfig) -> tuple[Any, Any]:
    """The series `process_case` segments and the steps of its segmentation, redone as it did."""
    from dcemets import segmentation
    from dcemets.study.per_case import _motion_correct

    if case.roi_sagittal is None:
        raise ValueError(f"case {case.subject_id!r} has no sagittal ROI to segment from")
    dce, _, _ = _motion_correct(case, validate_dce(case.dce, name="case.dce"), config)
    _, steps = segmentation.segment_lesion(
        dce,
        case.roi_sagittal,
        t2w_sagittal=case.t2w_sagittal,
        return_steps=True,
        rng=config.seed,
        **config.segmentation,
    )
    return dce, steps


_STEP_COLOURS = ("yellow", "cyan", "magenta", "tab:orange", "tab:blue", "lime")


def figure_segmentation(result: StudyResult, cohort: Sequence[Case]) -> Any:
    """Fig. 3: the segmentation steps (section 2.4) of the lung example case, on its image.

    The case is segmented again exactly as the study did (same series, motion correction,
    sagittal T2W and settings).  Each panel shows, at the lesion's centre slice and cropped
    to the search region plus a margin, the peak-minus-baseline subtraction image (the
    hot-spot curve's peak frame minus the first) with one step drawn on it: a mask as its
    outline, a map (e.g. the lesion probability) in colour.  The last panel outlines the final
    mask (green) and, when the case carries one, the true lesion (dashed white), with their
    Dice coefficient.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study` (its segmentation settings are reused).
    cohort : sequence of Case
        The cohort the study ran on (the case's DCE and sagittal ROI are read from it).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the lung example is not in `cohort` or has no sagittal ROI.
    """
    lung, _ = _examples(result)
    case = next((c for c in cohort if lung is not None and c.subject_id == lung.subject_id), None)
    if lung is None or case is None or case.roi_sagittal is None:
        return None
    dce, steps = _steps_as_in_study(case, result.config)
    names = [v for v in steps.data_vars if steps[v].ndim == 3 and v != "lesion"]
    zc = int(np.argmax(lung.mask.sum(("y", "x")).values))
    frames = dce.transpose("time", "z", "y", "x").isel(z=zc).values.astype(float)
    peak = int(np.argmax(lung.curve.to_numpy())) if len(lung.curve) == frames.shape[0] else -1
    sub = frames[peak] - frames[0]
    region = np.zeros(sub.shape, dtype=bool)
    for v in ("search_region", "transferred_roi"):
        if v in steps and steps[v].dtype == bool:
            region |= np.asarray(steps[v].isel(z=zc).transpose("y", "x").values)
    cy, cx = _crop(region | np.asarray(lung.mask.isel(z=zc).transpose("y", "x").values), pad=8)
    gray = sub[cy, cx]
    lo, hi = (float(v) for v in np.percentile(gray, [1.0, 99.5]))
    truth = (
        None if case.lesion_mask is None else case.lesion_mask.transpose("z", "y", "x").values.astype(bool)
    )
    final = np.asarray(lung.mask.transpose("z", "y", "x").values, dtype=bool)

    fig = Figure(figsize=(2.6 * (len(names) + 1), 2.9))
    axes = fig.subplots(1, len(names) + 1, squeeze=False)[0]
    for j, v in enumerate([*names, "lesion"]):
        ax = axes[j]
        ax.imshow(gray, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1.0)
        if v == "lesion":
            ax.contour(final[zc][cy, cx], levels=[0.5], colors="lime", linewidths=1.2)
            title = "final mask"
            if truth is not None:
                ax.contour(truth[zc][cy, cx], levels=[0.5], colors="white", linewidths=1.0, linestyles="--")
                dice = 2 * np.sum(final & truth) / max(int(final.sum() + truth.sum()), 1)
                title += f" (Dice {dice:.2f} vs truth)"
        else:
            img = np.asarray(steps[v].isel(z=zc).transpose("y", "x").values)[cy, cx]
            if img.dtype == bool:
                if img.any():
                    ax.contour(
                        img, levels=[0.5], colors=_STEP_COLOURS[j % len(_STEP_COLOURS)], linewidths=1.2
                    )
            else:
                shown = np.ma.masked_where(img <= 0, img.astype(float))
                ax.imshow(shown, cmap="viridis", alpha=0.7)
            title = v.replace("_", " ")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(
        f"Fig. 3: segmentation steps of {lung.subject_id} ({_name(lung)}), slice {zc}, on the "
        f"frame {peak % frames.shape[0] + 1} - frame 1 subtraction image"
    )
    fig.tight_layout()
    return fig


_MAP_PANELS: tuple[tuple[str, str, tuple[float, float] | None], ...] = (
    ("wash_in", "magma", None),
    ("max_se", "magma", None),
    ("washout", "RdYlGn_r", (-30.0, 30.0)),
)


def figure_maps(result: StudyResult) -> Any:
    """Fig. 4: the wash-in, maximum-SE and wash-out maps (%) inside the example lesions.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the result has no case.
    """
    rows = [r for r in _examples(result) if r is not None]
    if not rows:
        return None
    fig = Figure(figsize=(9, 2.8 * len(rows)))
    axes = fig.subplots(len(rows), 3, squeeze=False)
    for i, r in enumerate(rows):
        zc = int(np.argmax(r.mask.sum(("y", "x")).values))
        m = r.mask.isel(z=zc).values
        ys, xs = np.nonzero(m)
        sl = (slice(max(ys.min() - 3, 0), ys.max() + 4), slice(max(xs.min() - 3, 0), xs.max() + 4))
        for j, (v, cmap, lim) in enumerate(_MAP_PANELS):
            a = np.where(m, r.maps[v].isel(z=zc).values, np.nan)[sl]
            lo, hi = (None, None) if lim is None else lim
            im = axes[i, j].imshow(a, cmap=cmap, vmin=lo, vmax=hi)
            axes[i, j].set_title(f"{_name(r)}: {v} (%)", fontsize=8)
            axes[i, j].axis("off")
            fig.colorbar(im, ax=axes[i, j], fraction=0.046)
    fig.suptitle("Fig. 4: parametric maps in the lesion")
    fig.tight_layout()
    return fig


def figure_chaid(result: StudyResult) -> Any:
    """Fig. 6: the CHAID tree fitted on the whole cohort's hot-spot heuristics.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the study fitted no CHAID tree.
    """
    from dcemets.classify import CHAIDClassifier, plot_tree

    chaid = result.models.get("hotspot_chaid")
    if not isinstance(chaid, CHAIDClassifier):
        return None
    fig = Figure(figsize=(9, 5))
    plot_tree(chaid, ax=fig.subplots())
    return fig


_ROC_NAMES = {
    "hotspot_logistic": "hot-spot logistic",
    "hotspot_chaid": "hot-spot CHAID",
    "radiomics": "radiomics (best k)",
    "cnn": "CNN (maps)",
    "clstm": "CLSTM (frames)",
    "curve": "GRU (mean curve)",
}


def figure_roc(result: StudyResult) -> Any:
    """ROC curves of every cross-validated method, from its out-of-fold scores.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the result has no cross-validation.
    """
    from dcemets import evaluation

    rocs = {label: result.cv[k] for k, label in _ROC_NAMES.items() if k in result.cv}
    if not rocs:
        return None
    fig = Figure(figsize=(5, 4.5))
    ax = evaluation.plot_roc(rocs, ax=fig.subplots(), positive="lung")
    ax.set_title("ROC curves (out-of-fold scores)")
    fig.tight_layout()
    return fig


def figure_table3(result: StudyResult) -> Any:
    """Table 3 as a bar chart: accuracy of each method on this cohort beside the paper's.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the result has no Table 3.
    """
    t3 = result.table3
    if t3 is None or not len(t3):
        return None
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    xpos = np.arange(len(t3))
    sd = t3["sd"].to_numpy(dtype=float) if "sd" in t3 else np.zeros(len(t3))
    accuracy = t3["accuracy"].to_numpy(dtype=float)
    ax.bar(xpos - 0.2, accuracy, 0.4, yerr=np.nan_to_num(sd), capsize=3, label="this cohort")
    ax.bar(xpos + 0.2, t3["paper_accuracy"].to_numpy(dtype=float), 0.4, label="paper", alpha=0.7)
    labels = [f"{m}\n{e}" for m, e in zip(t3.index, t3["evaluation"])]
    ax.set_xticks(xpos, labels, fontsize=6, rotation=20, ha="right")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Table 3: accuracy by method")
    fig.tight_layout()
    return fig


_CURVE_NAMES = {"cnn": "CNN (maps)", "clstm": "CLSTM (frames)", "curve": "GRU (mean curve)"}


def figure_learning_curves(result: StudyResult) -> Any:
    """Learning curves of the networks: loss and accuracy per epoch, every fold.

    Thin lines are the folds, thick ones their mean (over the folds still training at that
    epoch); training in blue, the early-stopping validation split (patients held out of the
    training fold) in orange.  A training loss falling to zero while the validation loss
    rises is over-fitting; both flat at ln 2 (0.69) is a network that does not learn.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no network was trained.
    """
    curves = {k: v for k, v in result.learning_curves.items() if v is not None and len(v)}
    if not curves:
        return None
    fig = Figure(figsize=(8, 2.4 * len(curves)))
    axes = np.atleast_2d(fig.subplots(len(curves), 2, squeeze=False))
    for row, (name, table) in enumerate(curves.items()):
        for col, metric in enumerate(("loss", "accuracy")):
            ax = axes[row, col]
            for split, colour in (("train", "C0"), ("val", "C1")):
                key = f"{split}_{metric}"
                if key not in table:
                    continue
                for _, fold in table.groupby("fold"):
                    ax.plot(fold["epoch"], fold[key], color=colour, alpha=0.25, lw=0.8)
                mean = table.groupby("epoch")[key].mean()
                ax.plot(mean.index, mean.to_numpy(), color=colour, lw=2, label=f"{split} (mean of folds)")
            if metric == "loss":
                ax.axhline(np.log(2), color="grey", ls=":", lw=1)
            else:
                ax.set_ylim(0, 1.02)
            ax.set_title(f"{_CURVE_NAMES.get(name, name)}: {metric}", fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[row, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_figures(result: StudyResult, cohort: Sequence[Case] | None = None) -> dict[str, Any]:
    """Draw every figure of the report that `result` (and `cohort`) can show.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`; not modified.
    cohort : sequence of Case, optional
        The cohort the study ran on; needed for the image figures (Figs. 2 and 3).

    Returns
    -------
    dict
        Figure name (``fig1_time_courses``, ``fig2_frames``, ``fig3_segmentation``,
        ``fig4_maps``, ``fig6_chaid``, ``roc``, ``table3``, ``learning_curves``) ->
        :class:`matplotlib.figure.Figure`,
        for the figures that could be drawn.

    Raises
    ------
    TypeError
        If `result` is not a :class:`StudyResult`, or `cohort` holds something else than cases.
    """
    check_result(result)
    cohort = list(cohort or [])
    for i, case in enumerate(cohort):
        if not isinstance(case, Case):
            raise TypeError(f"`cohort[{i}]` must be a dcemets.io.Case, got {type(case).__name__}")
    drawn = {
        "fig1_time_courses": figure_time_courses(result),
        "fig2_frames": figure_frames(result, cohort),
        "fig3_segmentation": figure_segmentation(result, cohort),
        "fig4_maps": figure_maps(result),
        "fig6_chaid": figure_chaid(result),
        "roc": figure_roc(result),
        "table3": figure_table3(result),
        "learning_curves": figure_learning_curves(result),
    }
    return {name: fig for name, fig in drawn.items() if fig is not None}
