"""Benchmark: CHAIDClassifier vs the PyPI CHAID package; DeLong / bootstrap AUC intervals.

Run: python benchmarks/bench_classify.py  (well under a minute on 2 cores)

Baselines a user would otherwise reach for:
* tree growing: ``CHAID.Tree.from_numpy`` on the same decile codes (the package cannot
  band, predict or Bonferroni-adjust; only its tree growing is timed);
* AUC confidence interval: a stratified bootstrap looping ``sklearn.metrics.roc_auc_score``.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np
from sklearn.metrics import roc_auc_score

from dcemets.classify.chaid import CHAIDClassifier
from dcemets.evaluation.metrics import auc_confidence_interval


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def data(n, p=3, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 10, size=(n, p))
    logit = 1.2 * (codes[:, 2] >= 3) - 0.8 + 0.9 * ((codes[:, 0] <= 2) & (codes[:, 2] >= 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return codes, y


def fit_ours(X, y):
    return CHAIDClassifier(max_depth=2, min_samples_split=10, min_samples_leaf=1, bonferroni=False).fit(X, y)


def fit_package(Tree, codes, y):
    tree = Tree.from_numpy(
        codes, y, variable_types=["ordinal"] * codes.shape[1], max_depth=2,
        min_parent_node_size=9, min_child_node_size=1,
    )  # fmt: skip
    return tree.tree_store  # the package grows the tree lazily, on first access


def bench_tree():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from CHAID import Tree
    except ImportError:
        Tree = None
    for n in (61, 1000, 10000):
        codes, y = data(n)
        ours = best_of(functools.partial(fit_ours, codes.astype(float), y))
        line = f"CHAID depth-2 tree, n = {n:5d}, 3 predictors x 10 categories: dcemets {ours * 1e3:8.1f} ms"
        if Tree is not None:
            theirs = best_of(functools.partial(fit_package, Tree, codes, y))
            line += (
                f" | CHAID package {theirs * 1e3:8.1f} ms | ratio (package / dcemets) {theirs / ours:5.1f}x"
            )
        print(line)


def bootstrap_loop(y, s, n_boot=2000):
    gen = np.random.default_rng(0)
    pos, neg = s[y == 1], s[y == 0]
    lab = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    aucs = [
        roc_auc_score(
            lab, np.r_[pos[gen.integers(0, pos.size, pos.size)], neg[gen.integers(0, neg.size, neg.size)]]
        )
        for _ in range(n_boot)
    ]
    return np.quantile(aucs, [0.025, 0.975])


def bench_auc():
    rng = np.random.default_rng(1)
    for n in (61, 500):
        y = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
        s = rng.normal(size=n) + y
        delong = best_of(functools.partial(auc_confidence_interval, y, s, positive=1))
        boot = best_of(
            functools.partial(
                auc_confidence_interval, y, s, positive=1, method="bootstrap", n_bootstrap=2000, rng=0
            ),
            3,
        )
        base = best_of(functools.partial(bootstrap_loop, y, s), 1)
        print(
            f"AUC 95% CI, n = {n:4d}: DeLong {delong * 1e3:7.2f} ms | vectorised bootstrap (2000) {boot * 1e3:7.1f} ms"
            f" | sklearn roc_auc_score loop (2000) {base * 1e3:7.1f} ms | ratio loop / ours: "
            f"bootstrap {base / boot:5.1f}x, DeLong {base / delong:7.0f}x"
        )


if __name__ == "__main__":
    bench_tree()
    bench_auc()
