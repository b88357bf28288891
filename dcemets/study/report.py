"""Report of a study: the paper's tables beside ours, and its figures (matplotlib)."""

from __future__ import annotations

import base64
import html
import io as _io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dcemets.io import Case
from dcemets.study.figures import make_figures
from dcemets.study.paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3
from dcemets.study.results import QUALITY_FLAGS, StudyResult, check_result

__all__ = ["acquisition_table", "format_tables", "write_report"]


def _flags_first(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with the flagged cases first (most flags first), the others after, order kept."""
    if "n_flags" not in table.columns:
        return table
    return table.sort_values("n_flags", ascending=False, kind="stable")


def _flag_counts(result: StudyResult) -> dict[str, int]:
    counts = {f: 0 for f in QUALITY_FLAGS}
    for r in result.cases:
        for f in r.flags:
            counts[f] = counts.get(f, 0) + 1
    return {f: n for f, n in counts.items() if n}


def _settings_table(result: StudyResult) -> pd.DataFrame:
    """The per-case chain's model settings (T10, AIF, hot-spot guards) as one table."""
    cfg = result.config
    hs: dict[str, Any] = {
        "guards": True,
        "min_voxels": cfg.hotspot_size**2,
        "baseline_floor": 0.5,
        "vessel_level": 0.5,
    }
    hs.update({"vessel_lag": 0, "on_fail": "flag"})
    hs.update(cfg.hotspot)
    rows = {
        "T10 (s) of the Tofts fit": (cfg.t10_s, "StudyConfig.t10_s (assumed; the paper maps no T1)"),
        "AIF of the Tofts fit": (cfg.aif, "StudyConfig.aif (population AIF, plasma)"),
        "hot-spot ROI size (voxels)": (
            f"{cfg.hotspot_size} x {cfg.hotspot_size}",
            "StudyConfig.hotspot_size",
        ),
        **{f"hot-spot {k}": (str(v), "StudyConfig.hotspot") for k, v in hs.items()},
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "source"])
    table.index.name = "setting"
    return table


def _fmt(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    if isinstance(x, (float, np.floating)):
        return f"{x:.{nd}f}"
    return str(x)


def format_tables(result: StudyResult) -> str:
    """Format tables 1-3 of the study as plain text, each beside the paper's published values.

    Ends with the quality flags: the number of flagged cases per flag and each flagged case.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    str
        A text block for the terminal or a log.

    Raises
    ------
    TypeError
        If `result` is not a :class:`StudyResult`.
    """
    check_result(result)
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
        flagged = result.flagged
        parts.append(
            f"\nQuality flags: {len(flagged)} of {len(result.cases)} cases flagged "
            f"({', '.join(f'{k} {n}' for k, n in _flag_counts(result).items()) or 'none'})"
        )
        parts.extend(f"  {sid}: {row['flags']}" for sid, row in flagged.iterrows())
        if result.failures:
            parts.append("\nCases skipped:")
            parts.extend(f"  {k}: {v}" for k, v in result.failures.items())
    return "\n".join(parts)


def acquisition_table(result: StudyResult) -> pd.DataFrame:
    """The acquisition parameters each case was analysed with, and where each came from.

    Parameters
    ----------
    result : StudyResult
        Output of :func:`dcemets.study.run_study`.

    Returns
    -------
    pandas.DataFrame
        One row per case, columns ``<parameter>`` (value) and ``<parameter>_source``
        (``"data"``, ``"config"``, a default or a rule; see
        :func:`dcemets.study.acquisition_parameters`).

    Raises
    ------
    TypeError
        If `result` is not a :class:`StudyResult`.
    """
    check_result(result)
    rows = {}
    for r in result.cases:
        acq = r.quality.get("acquisition", {})
        row: dict[str, Any] = {}
        for key, entry in acq.items():
            row[key] = entry["value"]
            row[f"{key}_source"] = entry["source"]
        rows[r.subject_id] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "subject_id"
    return table


def _png(fig: Any) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def write_report(result: StudyResult, out: str | Path, *, cohort: Sequence[Case] | None = None) -> Path:
    """Write ``report.html`` (tables and embedded figures), the figures as PNG, and CSV tables.

    The page opens with the quality flags (:data:`dcemets.study.QUALITY_FLAGS`): how many
    cases carry each flag and the flagged cases, then the per-case chain's settings (T10, AIF,
    hot-spot guards); the per-case table lists flagged cases first.  ``cases.csv`` has the
    flag and quality columns (:data:`dcemets.study.QUALITY_COLUMNS`) of every case.

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

    Raises
    ------
    TypeError
        If `result` is not a :class:`StudyResult` or `out` not a path.
    """
    check_result(result)
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"`out` must be a folder path (str or os.PathLike), got {type(out).__name__}")
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
    acquisition = acquisition_table(result)
    flagged = result.flagged
    counts = _flag_counts(result)
    sections.append("<h2>Quality flags</h2>")
    sections.append(
        f"<p>{len(flagged)} of {len(result.cases)} cases carry at least one quality flag: their "
        "numbers (hot-spot heuristics, Tofts parameters) are not to be trusted without a look at "
        "the images. Flagged cases are listed first here and in the per-case table.</p>"
    )
    if counts:
        sections.append(
            "<ul>"
            + "".join(
                f"<li><b>{html.escape(f)}</b> ({n}): {html.escape(QUALITY_FLAGS.get(f, ''))}</li>"
                for f, n in counts.items()
            )
            + "</ul>"
        )
        cols = [c for c in ("primary", "label", "flags", "max_se", "ktrans", "ve") if c in flagged.columns]
        sections.append(flagged[cols].to_html(float_format=lambda v: f"{v:.3f}", na_rep=""))
    tables = {
        "Settings of the per-case chain": _settings_table(result),
        "Acquisition parameters used (value and source, per case)": acquisition,
        "Table 1 (this cohort)": result.table1,
        "Table 1 (paper)": PAPER_TABLE1,
        "Table 2 (this cohort)": result.table2,
        "Table 2 (paper)": PAPER_TABLE2,
        "Table 3 (this cohort, paper_accuracy = published)": result.table3,
        "Table 3 (paper)": PAPER_TABLE3,
        "Per-case results (flagged cases first)": _flags_first(result.table),
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
        ("acquisition", acquisition),
    ):
        if t is not None:
            t.to_csv(out / f"{name}.csv")
    for name, curves in result.learning_curves.items():  # per network: fold, epoch, losses, accuracies
        if curves is not None and len(curves):
            curves.to_csv(out / f"learning_curves_{name}.csv", index=False)
    result.features.to_parquet(out / "features.parquet")
    return path
