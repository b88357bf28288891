"""Text and drawing of a fitted CHAID tree, as ``sklearn.tree.export_text`` / ``plot_tree`` (private).

Public as :func:`dcemets.classify.export_text` and :func:`dcemets.classify.plot_tree`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from dcemets.classify._checks import check_int
from dcemets.classify.chaid import CHAIDClassifier, CHAIDNode

__all__ = ["export_text", "plot_tree"]


def _feature_names(tree: CHAIDClassifier, feature_names: Sequence[str] | None) -> list[str]:
    if not isinstance(tree, CHAIDClassifier):
        raise TypeError(f"`tree` must be a fitted CHAIDClassifier, got {type(tree).__name__}")
    check_is_fitted(tree, "tree_")
    if feature_names is None:
        if hasattr(tree, "feature_names_in_"):
            return [str(n) for n in tree.feature_names_in_]
        return [f"x{j}" for j in range(tree.n_features_in_)]
    names = [str(n) for n in feature_names]
    if len(names) != tree.n_features_in_:
        raise ValueError(f"`feature_names` must have {tree.n_features_in_} entries, got {len(names)}")
    return names


def _interval_text(name: str, lo: float, hi: float, decimals: int) -> str:
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{lo:.{decimals}f} <= {name} < {hi:.{decimals}f}"
    if np.isfinite(hi):
        return f"{name} < {hi:.{decimals}f}"
    if np.isfinite(lo):
        return f"{name} >= {lo:.{decimals}f}"
    return "all"


def _counts_text(node: CHAIDNode, class_names: Sequence[str]) -> str:
    n = node.n_samples
    parts = [f"{c} {k} ({100.0 * k / n:.1f}%)" for c, k in zip(class_names, node.counts)]
    return f"n = {n}: " + ", ".join(parts)


def export_text(
    tree: CHAIDClassifier,
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    decimals: int = 2,
) -> str:
    """Readable text of a fitted CHAID tree, thresholds in the features' units.

    As ``sklearn.tree.export_text``; the tree of the paper's Fig. 6 (Lang et al. 2019,
    section 2.3) reads as its rules.

    Parameters
    ----------
    tree : CHAIDClassifier
        A fitted tree.
    feature_names : sequence of str, optional
        Names of the features (default: ``feature_names_in_`` or ``x0, x1, ...``).
    class_names : sequence of str, optional
        Names of the classes (default: ``classes_``).
    decimals : int, default 2
        Decimals of the thresholds.

    Returns
    -------
    str
        One line per node (``[id] rule  n = ...: class counts -> prediction``), indented
        by depth, and under each split node the split's chi-square statistics.

    Raises
    ------
    TypeError
        If `tree` is not a :class:`CHAIDClassifier`, or `decimals` is not an int.
    sklearn.exceptions.NotFittedError
        Before `fit`.
    ValueError
        If `feature_names` or `class_names` has the wrong length, or `decimals` is negative.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]] * 10)
    >>> y = np.array([0, 0, 1, 1] * 10)
    >>> print(export_text(CHAIDClassifier(max_depth=1).fit(X, y), feature_names=["washout"]))
    [0] all  n = 40: 0 20 (50.0%), 1 20 (50.0%) -> 0
    |   split on washout: chi2 = 40.00, df = 1, p = 2.5e-10, adj. p = 7.6e-10
    |--- [1] washout < 1.50  n = 20: 0 20 (100.0%), 1 0 (0.0%) -> 0
    |--- [2] washout >= 1.50  n = 20: 0 0 (0.0%), 1 20 (100.0%) -> 1
    """
    names = _feature_names(tree, feature_names)
    decimals = check_int(decimals, "decimals", minimum=0)
    cnames = [str(c) for c in (tree.classes_ if class_names is None else class_names)]
    if len(cnames) != tree.classes_.size:
        raise ValueError(f"`class_names` must have {tree.classes_.size} entries, got {len(cnames)}")
    lines: list[str] = []

    def visit(node: CHAIDNode) -> None:
        indent = "|   " * (node.depth - 1) + "|--- " if node.depth else ""
        rule = (
            "all"
            if node.parent is None
            else _interval_text(names[tree.tree_[node.parent].feature or 0], *node.interval, decimals)
        )
        pred = cnames[int(np.argmax(node.counts))]
        lines.append(f"{indent}[{node.node_id}] {rule}  {_counts_text(node, cnames)} -> {pred}")
        if node.feature is not None:
            lines.append(
                "|   "
                * (node.depth + 1)
                + f"split on {names[node.feature]}: chi2 = {node.chi2:.2f}, df = {node.dof}, "
                f"p = {node.p_value:.2g}, adj. p = {node.adjusted_p_value:.2g}"
            )
            for c in node.children:
                visit(tree.tree_[c])

    visit(tree.tree_[0])
    return "\n".join(lines)


def plot_tree(
    tree: CHAIDClassifier,
    ax: Any = None,
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    decimals: int = 1,
    colors: Sequence[str] | None = None,
    fontsize: float = 9.0,
) -> Any:
    """Draw a fitted CHAID tree as the paper's Fig. 6: node boxes with class counts, edge thresholds.

    As ``sklearn.tree.plot_tree`` (Lang et al. 2019, section 2.3, Fig. 6).

    Parameters
    ----------
    tree : CHAIDClassifier
        A fitted tree.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (default: a new figure).
    feature_names : sequence of str, optional
        Names of the features (default: ``feature_names_in_`` or ``x0, x1, ...``).
    class_names : sequence of str, optional
        Names of the classes (default: ``classes_``).
    decimals : int, default 1
        Decimals of the thresholds on the edges.
    colors : sequence of str, optional
        Box colour per class (the predicted class colours the box).
    fontsize : float, default 9
        Font size of the text.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into (`ax`, or the new figure's), holding one box per node and the
        thresholds on the edges; its axis lines are hidden.

    Raises
    ------
    TypeError
        If `tree` is not a :class:`CHAIDClassifier`, or `decimals` is not an int.
    sklearn.exceptions.NotFittedError
        Before `fit`.
    ValueError
        If `feature_names` or `class_names` has the wrong length, or `decimals` is negative.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]] * 10)
    >>> ax = plot_tree(CHAIDClassifier(max_depth=1).fit(X, [0, 0, 1, 1] * 10))
    >>> len(ax.texts) >= 3
    True
    """
    import matplotlib.pyplot as plt

    names = _feature_names(tree, feature_names)
    decimals = check_int(decimals, "decimals", minimum=0)
    cnames = [str(c) for c in (tree.classes_ if class_names is None else class_names)]
    if len(cnames) != tree.classes_.size:
        raise ValueError(f"`class_names` must have {tree.classes_.size} entries, got {len(cnames)}")
    palette = list(colors) if colors is not None else ["#f4a582", "#92c5de", "#b8e186", "#fddbc7", "#d1e5f0"]
    if ax is None:
        _, ax = plt.subplots(
            figsize=(
                max(4.0, 2.6 * sum(n.is_leaf for n in tree.tree_)),
                1 + 2.4 * (1 + max(n.depth for n in tree.tree_)),
            )
        )
    # layout: leaves evenly spaced in depth-first order, parents centred over children
    xpos: dict[int, float] = {}
    next_leaf = [0.0]

    def place(node: CHAIDNode) -> float:
        if node.is_leaf:
            xpos[node.node_id] = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            xs = [place(tree.tree_[c]) for c in node.children]
            xpos[node.node_id] = float(np.mean(xs))
        return xpos[node.node_id]

    place(tree.tree_[0])
    step = 1.6  # vertical distance between levels (data units)
    for node in tree.tree_:
        x, yv = xpos[node.node_id], -step * node.depth
        if node.parent is not None:
            parent = tree.tree_[node.parent]
            px, py = xpos[parent.node_id], -step * parent.depth
            ax.plot([px, px, x, x], [py, py - 0.75, py - 0.75, yv + 0.45], color="0.3", lw=1.0, zorder=1)
            rule = _interval_text(names[parent.feature or 0], *node.interval, decimals)
            ax.text(
                x,
                yv + 0.45,
                rule,
                ha="center",
                va="center",
                fontsize=fontsize * 0.9,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.6"},
                zorder=2,
            )
        k = int(np.argmax(node.counts))
        body = (
            [f"Node {node.node_id}"]
            + [f"{c}: {m} ({100.0 * m / max(node.n_samples, 1):.1f}%)" for c, m in zip(cnames, node.counts)]
            + [f"n = {node.n_samples}"]
        )
        ax.text(
            x,
            yv,
            "\n".join(body),
            ha="center",
            va="center",
            fontsize=fontsize,
            zorder=3,
            bbox={"boxstyle": "round,pad=0.4", "fc": palette[k % len(palette)], "ec": "0.2"},
        )
        if node.feature is not None:
            ax.text(
                x,
                yv - 0.5,
                f"{names[node.feature]}: adj. p = {node.adjusted_p_value:.3g}, "
                f"$\\chi^2$ = {node.chi2:.2f}, df = {node.dof}",
                ha="center",
                va="center",
                fontsize=fontsize * 0.85,
                style="italic",
                zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
            )
    n_leaves = max(next_leaf[0], 1.0)
    ax.set_xlim(-0.7, n_leaves - 0.3)
    ax.set_ylim(-step * max(n.depth for n in tree.tree_) - 0.45, 0.45)
    ax.set_axis_off()
    return ax
