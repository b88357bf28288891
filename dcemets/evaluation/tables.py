"""Group comparison tables (the paper's Table 1): mean +/- SD per group and subtype, p-values."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare_groups"]

_TESTS = {"welch": "Welch t", "mannwhitney": "Mann-Whitney U"}


def _auto_decimals(sd: float) -> int:
    if not np.isfinite(sd) or sd >= 50:
        return 0
    if sd >= 1:
        return 1
    if sd >= 0.01:
        return 2
    return 3


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.0005 else f"{p:.3f}"


def _check_compare_args(
    table: Any,
    by: Any,
    subgroup: Any,
    columns: Any,
    test: Any,
    labels: Any,
    names: Any,
    decimals: Any,
) -> list[str]:
    """Check the arguments of :func:`compare_groups`; returns the variable columns."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`table` must be a pandas DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        raise ValueError("`table` has no rows; it needs one row per case")
    if test not in ("welch", "mannwhitney", "both"):
        raise ValueError(f"`test` must be 'welch', 'mannwhitney' or 'both', got {test!r}")
    if by is None:
        raise TypeError(f"`by` must be the name of a column of `table` ({list(table.columns)}), got None")
    for arg, colname in (("by", by), ("subgroup", subgroup)):
        if colname is not None and colname not in table.columns:
            raise ValueError(f"`{arg}`={colname!r} is not a column of `table` ({list(table.columns)})")
    if table[by].isna().any():
        raise ValueError(f"column `by`={by!r} contains missing group labels")
    if columns is None:
        columns = [c for c in table.select_dtypes(include="number").columns if c not in (by, subgroup)]
    elif isinstance(columns, str) or not isinstance(columns, Iterable):
        raise TypeError(f"`columns` must be a sequence of column names, got {columns!r}")
    columns = list(columns)
    if not columns:
        raise ValueError("no numeric variable columns to summarise; pass `columns`")
    for c in columns:
        if c not in table.columns:
            raise ValueError(f"`columns` entry {c!r} is not a column of `table`")
        if not pd.api.types.is_numeric_dtype(table[c]):
            raise ValueError(f"column {c!r} of `table` is not numeric")
        if not np.all(np.isfinite(table[c].to_numpy(float, na_value=np.nan))):
            raise ValueError(
                f"column {c!r} of `table` contains NaN or infinite values; drop or impute those cases first"
            )
    for arg, mapping in (("labels", labels), ("names", names)):
        if mapping is not None and not isinstance(mapping, Mapping):
            raise TypeError(f"`{arg}` must be a mapping (dict), got {type(mapping).__name__}")
    for d in decimals.values() if isinstance(decimals, Mapping) else [decimals]:
        if d is None and not isinstance(decimals, Mapping):
            continue
        if isinstance(d, bool) or not isinstance(d, numbers.Real):
            raise TypeError(f"`decimals` must be an int >= 0 or a mapping of them, got {decimals!r}")
        if not isinstance(d, numbers.Integral) or d < 0:
            raise ValueError(f"`decimals` must be an int >= 0 or a mapping of them, got {decimals!r}")
    return columns


def _pvalues(
    table: pd.DataFrame, by: str, order: list[Any], columns: list[str], tests: Sequence[str]
) -> dict[str, dict[str, float]]:
    """P-value of each test and variable column between the two groups (NaN below 2 per group)."""
    a_mask = (table[by] == order[0]).to_numpy()
    b_mask = (table[by] == order[1]).to_numpy()
    pvals: dict[str, dict[str, float]] = {t: {} for t in tests}
    for c in columns:
        a = table.loc[a_mask, c].to_numpy(float)
        b = table.loc[b_mask, c].to_numpy(float)
        for t in tests:
            if a.size < 2 or b.size < 2:
                p = float("nan")
            elif t == "welch":
                p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
            else:
                p = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
            pvals[t][c] = p

    return pvals


def compare_groups(
    table: pd.DataFrame,
    by: str,
    *,
    subgroup: str | None = None,
    test: Literal["welch", "mannwhitney", "both"] = "welch",
    columns: Sequence[str] | None = None,
    labels: Mapping[Any, str] | None = None,
    names: Mapping[str, str] | None = None,
    decimals: int | Mapping[str, int] | None = None,
    formatted: bool = True,
) -> pd.DataFrame:
    """Mean +/- SD of each variable per group and per subtype, with two-group p-values.

    Rows follow the paper's Table 1: for each group (e.g. ``"lung"``, ``"other"``) a
    ``Total (N = n)`` row and one row per subtype (``Breast (N = 9)``, ... by decreasing
    size) -- or one row named after the single subtype of a group with only one (``Lung
    (N = 30)``) -- and a last ``P-value`` row comparing the two groups with Welch's unequal-
    variance t-test and/or the Mann-Whitney U test (two-sided).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per case; numeric variable columns, a `by` column and optionally a
        `subgroup` column.
    by : str
        Column holding exactly two groups.
    subgroup : str, optional
        Column with the subtype of each case (e.g. the primary tumour).
    test : {"welch", "mannwhitney", "both"}, default "welch"
        Test(s) of the P-value row(s).
    columns : sequence of str, optional
        Variables to summarise (default: every numeric column but `by` and `subgroup`).
    labels : mapping, optional
        Display names of the groups (``{"lung": "Lung cancer", "other": "Other tumors"}``);
        its order is the row order (default: sorted group values).
    names : mapping, optional
        Display names of the variables (``{"max_se": "Maximum SE (%)"}``).
    decimals : int or mapping, optional
        Decimals per variable (default: from the overall SD: 0 for SD >= 50, 1 for >= 1,
        2 for >= 0.01, else 3).
    formatted : bool, default True
        ``True``: string cells ``"mean ± SD"`` that print like the paper's table (SD ``n/a``
        for one case); ``False``: numbers, columns ``(variable, stat)`` with ``stat`` in
        ``mean, sd, n, p`` (``p`` filled on the P-value rows only).

    Returns
    -------
    pandas.DataFrame
        Index ``(group, row)``, one column per variable.

    Raises
    ------
    ValueError
        If `table` has no rows, `by` does not hold exactly two groups, a column is missing,
        not numeric or contains NaN or infinite values, `test` is unknown, or `decimals` is
        negative or not a whole number.
    TypeError
        If `table` is not a DataFrame, `by` or `subgroup` is not a column name, `columns` is
        not a sequence of column names, `labels` or `names` is not a mapping, or `decimals`
        is not an int or a mapping of ints.

    References
    ----------
    .. [1] N. Lang et al., Magn. Reson. Imaging 64:4-12, 2019, Table 1.
           :DOI:`10.1016/j.mri.2019.02.013`
    .. [2] B. L. Welch, "The generalization of Student's problem when several different
           population variances are involved", Biometrika 34:28-35, 1947. :DOI:`10.2307/2332510`
    .. [3] H. B. Mann, D. R. Whitney, Ann. Math. Stat. 18:50-60, 1947.
           :DOI:`10.1214/aoms/1177730491`

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["lung"] * 3 + ["other"] * 4,
    ...                   "primary": ["lung"] * 3 + ["breast", "breast", "liver", "liver"],
    ...                   "washout": [1.0, -2.0, 3.0, -10.0, -14.0, -6.0, -9.0]})
    >>> print(compare_groups(t, "group", subgroup="primary"))
                                          washout
    group             row
    lung              Lung (N = 3)      0.7 ± 2.5
    other             Total (N = 4)    -9.8 ± 3.3
                      Breast (N = 2)  -12.0 ± 2.8
                      Liver (N = 2)    -7.5 ± 2.1
    P-value (Welch t)                       0.005
    """
    columns = _check_compare_args(table, by, subgroup, columns, test, labels, names, decimals)
    values = table[by].unique().tolist()
    if len(values) != 2:
        raise ValueError(f"`by`={by!r} must hold exactly two groups, got {len(values)}: {values}")
    if labels is not None:
        missing = [v for v in values if v not in labels]
        if missing:
            raise ValueError(f"`labels` lacks the groups {missing}")
        order = [v for v in labels if v in values]
    else:
        order = sorted(values, key=str)
    display = {v: (labels[v] if labels is not None else str(v)) for v in order}
    names = dict(names or {})

    def digits(c: str) -> int:
        if isinstance(decimals, Mapping):
            return int(decimals.get(c, _auto_decimals(float(table[c].std(ddof=1)))))
        if decimals is not None:
            return int(decimals)
        return _auto_decimals(float(table[c].std(ddof=1)))

    # the rows: (group label, row label, boolean mask)
    rows: list[tuple[str, str, np.ndarray]] = []
    for g in order:
        in_g = (table[by] == g).to_numpy()
        n_g = int(in_g.sum())
        subs = (
            table.loc[in_g, subgroup].value_counts(sort=True).index.tolist() if subgroup is not None else []
        )
        if subgroup is not None and len(subs) == 1:
            rows.append((display[g], f"{str(subs[0]).capitalize()} (N = {n_g})", in_g))
            continue
        rows.append((display[g], f"Total (N = {n_g})", in_g))
        for s in subs:
            m = in_g & (table[subgroup] == s).to_numpy()
            rows.append((display[g], f"{str(s).capitalize()} (N = {int(m.sum())})", m))

    tests = ["welch", "mannwhitney"] if test == "both" else [test]
    pvals = _pvalues(table, by, order, columns, tests)

    index = pd.MultiIndex.from_tuples(
        [(grp, row) for grp, row, _ in rows] + [(f"P-value ({_TESTS[t]})", "") for t in tests],
        names=["group", "row"],
    )
    if not formatted:
        data: dict[tuple[str, str], list[float]] = {}
        for c in columns:
            col = table[c].to_numpy(float)
            key = names.get(c, c)
            means = [float(col[m].mean()) for _, _, m in rows] + [np.nan] * len(tests)
            sds = [float(col[m].std(ddof=1)) if m.sum() > 1 else np.nan for _, _, m in rows]
            data[(key, "mean")] = means
            data[(key, "sd")] = sds + [np.nan] * len(tests)
            data[(key, "n")] = [float(m.sum()) for _, _, m in rows] + [np.nan] * len(tests)
            data[(key, "p")] = [np.nan] * len(rows) + [pvals[t][c] for t in tests]
        out = pd.DataFrame(data, index=index)
        out.columns = pd.MultiIndex.from_tuples(list(data), names=["variable", "stat"])
        return out

    cells: dict[str, list[str]] = {}
    for c in columns:
        d = digits(c)
        col = table[c].to_numpy(float)
        texts = []
        for _, _, m in rows:
            mean = col[m].mean()
            sd = f"{col[m].std(ddof=1):.{d}f}" if m.sum() > 1 else "n/a"
            texts.append(f"{mean:.{d}f} ± {sd}")
        cells[names.get(c, c)] = texts + [_p_text(pvals[t][c]) for t in tests]
    return pd.DataFrame(cells, index=index)
