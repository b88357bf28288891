"""The published numbers of Lang et al. 2019, for side-by-side reports.

Values are transcribed from Tables 1-3 and section 3 of the paper
(Magn Reson Imaging 2019;64:4-12, doi:10.1016/j.mri.2019.02.013).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["PAPER_TABLE1", "PAPER_TABLE2", "PAPER_TABLE3"]


def _table1() -> pd.DataFrame:
    rows = [
        ("Lung", 30, "243 ± 89", "146 ± 60", "0.25 ± 10", "0.10 ± 0.04", "0.39 ± 0.16"),
        ("Other (total)", 31, "220 ± 109", "142 ± 76", "-9.8 ± 12.9", "0.10 ± 0.06", "0.58 ± 0.24"),
        ("Breast", 9, "299 ± 134", "197 ± 95", "-12.9 ± 8.24", "0.14 ± 0.07", "0.60 ± 0.16"),
        ("Thyroid", 7, "210 ± 59", "130 ± 47", "-15.6 ± 14.4", "0.10 ± 0.03", "0.68 ± 0.28"),
        ("Prostate", 6, "165 ± 77", "126 ± 74", "-7.7 ± 12.9", "0.08 ± 0.05", "0.56 ± 0.29"),
        ("Liver", 6, "196 ± 111", "118 ± 55", "-5.9 ± 16.2", "0.08 ± 0.05", "0.52 ± 0.27"),
        ("Kidney", 3, "164 ± 80", "87 ± 37", "1.3 ± 11.3", "0.07 ± 0.04", "0.42 ± 0.26"),
        ("P-value (lung vs other)", None, "0.199", "0.614", "0.001", "0.634", "0.001"),
    ]
    cols = [
        "group",
        "N",
        "Maximum SE (%)",
        "Wash-in SE (%)",
        "Wash-out slope (%)",
        "Ktrans (1/min)",
        "kep (1/min)",
    ]
    return pd.DataFrame(rows, columns=cols).set_index("group")


def _table2() -> pd.DataFrame:
    rows = [
        ("3 features", "histogram + texture", 0.68),
        ("3 features", "histogram only", 0.67),
        ("3 features", "texture only", 0.59),
        ("5 features", "histogram + texture", 0.71),
        ("5 features", "histogram only", 0.68),
        ("5 features", "texture only", 0.62),
    ]
    return pd.DataFrame(rows, columns=["model", "features", "accuracy"])


def _table3() -> pd.DataFrame:
    rows = [
        ("Hot-spot CHAID (3 heuristics)", "entire dataset", 0.79, None, None, None, 0.60, 0.968),
        ("Hot-spot logistic regression", "entire dataset", 0.74, None, None, None, None, None),
        ("Radiomics (99 features) RF + LR", "entire dataset", 0.71, None, None, None, None, None),
        ("CNN on 3 parametric maps", "10-fold CV", 0.71, 0.043, 0.61, 0.74, 0.60, 0.76),
        ("CLSTM on 12 DCE frames", "10-fold CV", 0.81, 0.034, 0.75, 0.84, 0.75, 0.83),
    ]
    cols = ["method", "evaluation", "accuracy", "sd", "min", "max", "sensitivity", "specificity"]
    return pd.DataFrame(rows, columns=cols).set_index("method")


PAPER_TABLE1: pd.DataFrame = _table1()
"""Table 1: hot-spot DCE parameters, mean ± SD per group."""

PAPER_TABLE2: pd.DataFrame = _table2()
"""Table 2: radiomics accuracy by feature family and number of features."""

PAPER_TABLE3: pd.DataFrame = _table3()
"""Table 3 (and section 3): accuracy of each method."""
