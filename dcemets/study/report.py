"""Report of a study: the paper's tables beside ours, and its figures (matplotlib)."""

from __future__ import annotations

import base64
import html
import io as _io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dcemets.io import Case
from dcemets.study.paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3
from dcemets.study.results import CaseResult, StudyResult

__all__ = ["format_tables", "make_figures", "write_report"]


def _fmt(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    if isinstance(x, (float, np.floating)):
        return f"{x:.{nd}f}"
    return str(x)


def format_tables(result: StudyResult) -> str:
    """Tables 1-3 of the study as plain text, each beside the paper's published values.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    str
        A text block for the terminal or a log.
    """
    parts = []
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 70):
        parts.append("Table 1. Hot-spot DCE parameters (mean ± SD), this cohort")
        parts.append(str(result.table1) if result.table1 is not None else "(not computed)")
        parts.append("\nTable 1, as published (Lang et al. 2019)")
        parts.append(str(PAPER_TABLE1))
        parts.append(
            "\nTable 2. Radiomics: accuracy of the top-k features with logistic regression, this cohort"
        )
        if result.table2 is not None:
            t2 = result.table2.copy()
            cols = [
                c for c in ("family", "k", "accuracy", "accuracy_sd", "auc", "features") if c in t2.columns
            ]
            parts.append(t2[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        else:
            parts.append("(not computed)")
        parts.append("\nTable 2, as published")
        parts.append(PAPER_TABLE2.to_string(index=False))
        parts.append("\nTable 3. Accuracy of each method, this cohort (paper_accuracy: published)")
        if result.table3 is not None:
            parts.append(result.table3.to_string(float_format=lambda v: f"{v:.3f}"))
        parts.append("\nTable 3, as published")
        parts.append(PAPER_TABLE3.to_string(float_format=lambda v: f"{v:.3f}"))
        if result.failures:
            parts.append("\nCases skipped:")
            parts.extend(f"  {k}: {v}" for k, v in result.failures.items())
    return "\n".join(parts)


def make_figures(result: StudyResult, cohort: Sequence[Case] | None = None) -> dict[str, Any]:
    """Draw the report's figures: Figs. 1-4 and 6 of the paper, ROC curves and a Table 3 chart.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.
    cohort : sequence of Case, optional
        The cohort the study ran on; needed for the image figures (Figs. 2 and 3).

    Returns
    -------
    dict
        Figure name -> :class:`matplotlib.figure.Figure` (also stored in ``result.figures``).
    """
    import matplotlib.pyplot as plt

    figs: dict[str, Any] = {}
    by_label: dict[str, Any] = {}
    for r in result.cases:
        by_label.setdefault(str(r.primary or r.label), r)
    lung = by_label.get("lung")
    other: CaseResult | None = by_label.get("thyroid") or next(
        (r for r in result.cases if r.label == "other"), None
    )

    # Fig. 1: hot-spot time courses
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for rr, c in ((lung, "tab:blue"), (other, "tab:red")):
        if rr is not None:
            r = rr
            s0 = float(r.curve.iloc[0])
            ax.plot(
                r.curve.index,
                100 * (r.curve.to_numpy() / s0 - 1),
                "o-",
                color=c,
                label=f"{r.subject_id} ({r.primary})",
            )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("signal enhancement (%)")
    ax.set_title("Fig. 1: hot-spot time courses")
    ax.legend()
    fig.tight_layout()
    figs["fig1_time_courses"] = fig

    cases_by_id = {c.subject_id: c for c in (cohort or [])}
    # Fig. 2: frames 1/5/12 and subtractions
    rows = [r for r in (lung, other) if r is not None and r.subject_id in cases_by_id]
    if rows:
        fig, axes = plt.subplots(len(rows), 5, figsize=(12, 2.6 * len(rows)), squeeze=False)
        for i, r in enumerate(rows):
            dce = cases_by_id[r.subject_id].dce.transpose("time", "z", "y", "x")
            zc = int(np.argmax(r.mask.sum(("y", "x")).values))
            frames = dce.isel(z=zc).values
            n = frames.shape[0]
            imgs = [
                frames[0],
                frames[min(4, n - 1)],
                frames[-1],
                frames[min(4, n - 1)] - frames[0],
                frames[-1] - frames[0],
            ]
            titles = ["frame 1", "frame 5", f"frame {n}", "frame 5 - 1", f"frame {n} - 1"]
            vmax = float(np.percentile(frames, 99.5))
            for j, (im, t) in enumerate(zip(imgs, titles)):
                top = vmax if j < 3 else (float(np.percentile(imgs[4 if j == 4 else 3], 99.5)) or 1.0)
                axes[i, j].imshow(im, cmap="gray", vmin=0.0, vmax=top)
                axes[i, j].set_title(f"{r.primary}: {t}", fontsize=8)
                axes[i, j].axis("off")
        fig.suptitle("Fig. 2: DCE frames and subtraction images")
        fig.tight_layout()
        figs["fig2_frames"] = fig

    # Fig. 3: segmentation steps of one case
    if (
        lung is not None
        and lung.subject_id in cases_by_id
        and cases_by_id[lung.subject_id].roi_sagittal is not None
    ):
        from dcemets import segmentation

        case = cases_by_id[lung.subject_id]
        assert case.roi_sagittal is not None
        _, steps = segmentation.segment_lesion(
            case.dce,
            case.roi_sagittal,
            return_steps=True,
            random_state=result.config.seed,
            **result.config.segmentation,
        )
        names = [v for v in steps.data_vars if steps[v].ndim == 3]
        zc = int(np.argmax(lung.mask.sum(("y", "x")).values))
        fig, axes = plt.subplots(1, len(names), figsize=(2.4 * len(names), 2.6), squeeze=False)
        for j, v in enumerate(names):
            axes[0, j].imshow(np.asarray(steps[v].isel(z=zc).values, dtype=float), cmap="viridis")
            axes[0, j].set_title(v, fontsize=8)
            axes[0, j].axis("off")
        fig.suptitle(f"Fig. 3: segmentation steps ({lung.subject_id}, slice {zc})")
        fig.tight_layout()
        figs["fig3_segmentation"] = fig

    # Fig. 4: parametric maps inside the lesion
    rows4 = [r for r in (lung, other) if r is not None]
    if rows4:
        fig, axes = plt.subplots(len(rows4), 3, figsize=(9, 2.8 * len(rows4)), squeeze=False)
        for i, r in enumerate(rows4):
            zc = int(np.argmax(r.mask.sum(("y", "x")).values))
            m = r.mask.isel(z=zc).values
            ys, xs = np.nonzero(m)
            sl = (slice(max(ys.min() - 3, 0), ys.max() + 4), slice(max(xs.min() - 3, 0), xs.max() + 4))
            panels: tuple[tuple[str, str, tuple[float, float] | None], ...] = (
                ("wash_in", "magma", None),
                ("max_se", "magma", None),
                ("washout", "RdYlGn_r", (-30.0, 30.0)),
            )
            for j, (v, cmap, lim) in enumerate(panels):
                a = np.where(m, r.maps[v].isel(z=zc).values, np.nan)[sl]
                im = axes[i, j].imshow(
                    a, cmap=cmap, vmin=None if lim is None else lim[0], vmax=None if lim is None else lim[1]
                )
                axes[i, j].set_title(f"{r.primary}: {v} (%)", fontsize=8)
                axes[i, j].axis("off")
                fig.colorbar(im, ax=axes[i, j], fraction=0.046)
        fig.suptitle("Fig. 4: parametric maps in the lesion")
        fig.tight_layout()
        figs["fig4_maps"] = fig

    # Fig. 6: CHAID tree
    chaid = result.models.get("hotspot_chaid")
    if chaid is not None and hasattr(chaid, "plot_tree"):
        figs["fig6_chaid"] = chaid.plot_tree().figure

    # ROC curves of every cross-validated method
    from dcemets import evaluation

    roc_names = {
        "hotspot_logistic": "hot-spot logistic",
        "hotspot_chaid": "hot-spot CHAID",
        "radiomics": "radiomics (best k)",
        "cnn": "CNN (maps)",
        "clstm": "CLSTM (frames)",
    }
    rocs = {label: result.cv[k] for k, label in roc_names.items() if k in result.cv}
    if rocs:
        ax = evaluation.plot_roc(rocs)
        ax.set_title("ROC curves (out-of-fold scores)")
        figs["roc"] = ax.figure

    # Table 3 bar chart
    if result.table3 is not None and len(result.table3):
        t3 = result.table3
        fig, ax = plt.subplots(figsize=(8, 3.5))
        xpos = np.arange(len(t3))
        sd = t3["sd"].to_numpy(dtype=float) if "sd" in t3 else np.zeros(len(t3))
        ax.bar(
            xpos - 0.2,
            t3["accuracy"].to_numpy(dtype=float),
            0.4,
            yerr=np.nan_to_num(sd),
            capsize=3,
            label="this cohort",
        )
        ax.bar(xpos + 0.2, t3["paper_accuracy"].to_numpy(dtype=float), 0.4, label="paper", alpha=0.7)
        ax.set_xticks(
            xpos,
            [f"{m}\n{e}" for m, e in zip(t3.index, t3["evaluation"])],
            fontsize=6,
            rotation=20,
            ha="right",
        )
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        ax.set_title("Table 3: accuracy by method")
        fig.tight_layout()
        figs["table3"] = fig
    result.figures.update(figs)
    return figs


def _png(fig: Any) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def write_report(result: StudyResult, out: str | Path, *, cohort: Sequence[Case] | None = None) -> Path:
    """Write ``report.html`` (tables and embedded figures), the figures as PNG, and CSV tables.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.
    out : path
        Folder to write into (created if needed).
    cohort : sequence of Case, optional
        The cohort, for the image figures.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figs = result.figures or make_figures(result, cohort)
    sections = [
        "<h1>dcemets: replication of Lang et al. 2019</h1>",
        (
            f"<p>Preset <b>{html.escape(result.config.name)}</b>, {len(result.cases)} cases "
            f"({len(result.failures)} skipped). Timings (s): "
            f"{html.escape(str({k: round(v, 1) for k, v in result.timings.items()}))}</p>"
        ),
    ]
    if result.loaded or any(n["loaded"] for n in result.checkpoints.values()):
        folds = ", ".join(
            f"{k} {n['loaded']}/{n['loaded'] + n['computed']}" for k, n in result.checkpoints.items()
        )
        sections.append(
            f"<p>Read back from the cache: {len(result.loaded)} of {len(result.cases)} cases; "
            f"folds per method {html.escape(folds)}.</p>"
        )
    tables = {
        "Table 1 (this cohort)": result.table1,
        "Table 1 (paper)": PAPER_TABLE1,
        "Table 2 (this cohort)": result.table2,
        "Table 2 (paper)": PAPER_TABLE2,
        "Table 3 (this cohort, paper_accuracy = published)": result.table3,
        "Table 3 (paper)": PAPER_TABLE3,
        "Per-case results": result.table,
    }
    for title, t in tables.items():
        if t is None:
            continue
        sections.append(f"<h2>{html.escape(title)}</h2>")
        sections.append(t.to_html(float_format=lambda v: f"{v:.3f}", na_rep=""))
    for name, fig in figs.items():
        data = _png(fig)
        (out / f"{name}.png").write_bytes(data)
        sections.append(
            f"<h2>{html.escape(name)}</h2><img src='data:image/png;base64,{base64.b64encode(data).decode()}'/>"
        )
    if result.failures:
        sections.append(
            "<h2>Skipped cases</h2><ul>"
            + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in result.failures.items())
            + "</ul>"
        )
    page = (
        "<html><head><meta charset='utf-8'><title>dcemets report</title></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    for name, t in (
        ("table1", result.table1),
        ("table2", result.table2),
        ("table3", result.table3),
        ("cases", result.table),
    ):
        if t is not None:
            t.to_csv(out / f"{name}.csv")
    result.features.to_parquet(out / "features.parquet")
    return path
