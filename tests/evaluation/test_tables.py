"""Tests of dcemets.evaluation.tables.compare_groups (the paper's Table 1)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dcemets.evaluation.tables import compare_groups

PAPER_ROWS = [
    ("Lung cancer", "Lung (N = 30)"),
    ("Other tumors", "Total (N = 31)"),
    ("Other tumors", "Breast (N = 9)"),
    ("Other tumors", "Thyroid (N = 7)"),
    ("Other tumors", "Prostate (N = 6)"),
    ("Other tumors", "Liver (N = 6)"),
    ("Other tumors", "Kidney (N = 3)"),
    ("P-value (Welch t)", ""),
]
PAPER_COLUMNS = ["Maximum SE (%)", "Wash-in SE (%)", "Wash-out Slope (%)", "Ktrans (1/min)", "kep (1/min)"]
NAMES = dict(zip(["max_se", "wash_in", "washout", "ktrans", "kep"], PAPER_COLUMNS))
LABELS = {"lung": "Lung cancer", "other": "Other tumors"}


def paper_like(seed=0):
    rng = np.random.default_rng(seed)
    composition = {"lung": 30, "breast": 9, "thyroid": 7, "prostate": 6, "liver": 6, "kidney": 3}
    primary = np.repeat(list(composition), list(composition.values()))
    group = np.where(primary == "lung", "lung", "other")
    n = primary.size
    return pd.DataFrame(
        {
            "subject_id": [f"case{i:02d}" for i in range(n)],
            "group": group,
            "primary": primary,
            "max_se": rng.normal(230, 100, n),
            "wash_in": rng.normal(145, 70, n),
            "washout": rng.normal(np.where(group == "lung", 0.25, -9.8), 11),
            "ktrans": rng.normal(0.1, 0.05, n),
            "kep": rng.normal(np.where(group == "lung", 0.39, 0.58), 0.2),
        }
    )


def test_same_rows_and_columns_as_the_paper():
    t = compare_groups(paper_like(), "group", subgroup="primary", labels=LABELS, names=NAMES)
    assert t.index.tolist() == PAPER_ROWS
    assert t.columns.tolist() == PAPER_COLUMNS
    printed = t.to_string()
    assert "Breast (N = 9)" in printed
    assert "±" in t.iloc[0, 0]


def test_cells_are_mean_sd_and_p_values_are_welch_and_mann_whitney():
    table = paper_like(1)
    t = compare_groups(table, "group", subgroup="primary", labels=LABELS, test="both", formatted=False)
    lung = table.loc[table.group == "lung", "washout"]
    other = table.loc[table.group == "other", "washout"]
    assert t.loc[("Lung cancer", "Lung (N = 30)"), ("washout", "mean")] == pytest.approx(lung.mean())
    assert t.loc[("Lung cancer", "Lung (N = 30)"), ("washout", "sd")] == pytest.approx(lung.std(ddof=1))
    breast = table.loc[table.primary == "breast", "washout"]
    assert t.loc[("Other tumors", "Breast (N = 9)"), ("washout", "mean")] == pytest.approx(breast.mean())
    # Welch's t by hand (Welch-Satterthwaite degrees of freedom)
    va, vb = lung.var(ddof=1) / lung.size, other.var(ddof=1) / other.size
    tstat = (lung.mean() - other.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (lung.size - 1) + vb**2 / (other.size - 1))
    p_welch = 2 * stats.t.sf(abs(tstat), df)
    assert t.loc[("P-value (Welch t)", ""), ("washout", "p")] == pytest.approx(p_welch, rel=1e-10)
    p_mw = stats.mannwhitneyu(lung, other, alternative="two-sided").pvalue
    assert t.loc[("P-value (Mann-Whitney U)", ""), ("washout", "p")] == pytest.approx(p_mw)
    formatted = compare_groups(table, "group", subgroup="primary", labels=LABELS, test="both")
    assert formatted.loc[("P-value (Welch t)", ""), "washout"] in (f"{p_welch:.3f}", "<0.001")


def test_formatting_decimals():
    table = pd.DataFrame({"g": ["a", "a", "b", "b"], "v": [1.0, 2.0, 3.0, 5.0]})
    t = compare_groups(table, "g", decimals=2)
    assert t.loc[("a", "Total (N = 2)"), "v"] == "1.50 ± 0.71"
    single = pd.DataFrame({"g": ["a", "b", "b"], "v": [1.0, 3.0, 5.0]})
    t1 = compare_groups(single, "g", decimals=1)
    assert t1.loc[("a", "Total (N = 1)"), "v"] == "1.0 ± n/a"
    assert t1.loc[("P-value (Welch t)", ""), "v"] == "n/a"


def test_bad_input():
    table = paper_like()
    with pytest.raises(ValueError, match="two groups"):
        compare_groups(table, "primary")
    with pytest.raises(ValueError, match="by"):
        compare_groups(table, "nope")
    with pytest.raises(ValueError, match="test"):
        compare_groups(table, "group", test="anova")
    bad = table.copy()
    bad.loc[3, "kep"] = np.nan
    with pytest.raises(ValueError, match="kep"):
        compare_groups(bad, "group")
    with pytest.raises(ValueError, match="not numeric"):
        compare_groups(table, "group", columns=["subject_id"])
    with pytest.raises(TypeError, match="DataFrame"):
        compare_groups(table.to_numpy(), "group")
    with pytest.raises(ValueError, match="labels"):
        compare_groups(table, "group", labels={"lung": "Lung"})


def test_input_not_modified():
    table = paper_like()
    before = table.copy()
    compare_groups(table, "group", subgroup="primary")
    pd.testing.assert_frame_equal(table, before)


def exact_sample(mean, sd, n, rng):
    """n values with exactly the given mean and SD (ddof 1)."""
    z = rng.normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_reproduces_the_papers_table1_p_values_for_washout_and_kep():
    """Welch's test depends only on means, SDs and sizes: data with the paper's Table 1
    summaries reproduce its P-values 0.001 for wash-out slope and kep (the two significant
    rows; the paper's SE p-values are not Welch's, see the user guide)."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "group": ["lung"] * 30 + ["other"] * 31,
            "washout": np.r_[exact_sample(0.25, 10, 30, rng), exact_sample(-9.8, 12.9, 31, rng)],
            "kep": np.r_[exact_sample(0.39, 0.16, 30, rng), exact_sample(0.58, 0.24, 31, rng)],
        }
    )
    t = compare_groups(table, "group", decimals={"washout": 2, "kep": 2})
    assert t.loc[("P-value (Welch t)", ""), "washout"] == "0.001"
    assert t.loc[("P-value (Welch t)", ""), "kep"] in ("0.001", "<0.001")
    assert t.loc[("lung", "Total (N = 30)"), "washout"] == "0.25 ± 10.00"
    assert t.loc[("other", "Total (N = 31)"), "kep"] == "0.58 ± 0.24"


def test_bad_input_names_the_argument():
    """Fuzz defects: every bad argument is an error naming it, never a KeyError or 'inf ± nan'."""
    table = pd.DataFrame({"g": ["a", "a", "b", "b"], "v": [1.0, 2.0, 3.0, 5.0]})
    with pytest.raises(ValueError, match=r"`table` has no rows"):
        compare_groups(table.iloc[:0], "g")
    for value in (np.nan, np.inf):
        with pytest.raises(ValueError, match=r"column 'v' of `table` contains NaN or infinite"):
            compare_groups(table.assign(v=[1.0, value, 3.0, 5.0]), "g")
    with pytest.raises(TypeError, match=r"`by` must be the name of a column"):
        compare_groups(table, None)
    for bad in (3, "v"):
        with pytest.raises(TypeError, match=r"`columns` must be a sequence of column names"):
            compare_groups(table, "g", columns=bad)
    for arg in ("labels", "names"):
        with pytest.raises(TypeError, match=rf"`{arg}` must be a mapping"):
            compare_groups(table, "g", **{arg: ["a"]})
    for bad, error in (
        (-1, ValueError),
        (1.5, ValueError),
        (np.nan, ValueError),
        ("2", TypeError),
        ([1], TypeError),
    ):
        with pytest.raises(error, match=r"`decimals` must be an int >= 0"):
            compare_groups(table, "g", decimals=bad)
    with pytest.raises(ValueError, match=r"`decimals`"):
        compare_groups(table, "g", decimals={"v": -1})
