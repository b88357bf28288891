"""Tests of dcemets.evaluation.metrics against published worked examples and brute force."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from dcemets.evaluation.metrics import (
    auc_confidence_interval,
    delong_test,
    diagnostic_metrics,
    roc_auc,
    wilson_interval,
)

# ---------------------------------------------------------------------------------------------
# the paper's Fig. 6
# ---------------------------------------------------------------------------------------------


def fig6_labels():
    y_true = np.array(["lung"] * 30 + ["other"] * 31)
    y_pred = np.array(["lung"] * 18 + ["other"] * 12 + ["other"] * 30 + ["lung"] * 1)
    return y_true, y_pred


def test_fig6_numbers_from_confusion_counts():
    """Lang et al. 2019, Fig. 6: TP 18, FN 12, TN 30, FP 1."""
    m = diagnostic_metrics(*fig6_labels(), positive="lung")
    assert (m["tp"], m["fn"], m["tn"], m["fp"], m["n"]) == (18, 12, 30, 1, 61)
    assert round(100 * m["sensitivity"], 1) == 60.0
    assert round(100 * m["specificity"], 1) == 96.8
    assert round(100 * m["ppv"], 1) == 94.7
    assert round(100 * m["npv"], 1) == 71.4
    assert round(m["accuracy"], 2) == 0.79


def test_fig6_with_other_as_positive_swaps_roles():
    m = diagnostic_metrics(*fig6_labels(), positive="other")
    assert m["sensitivity"] == pytest.approx(30 / 31)
    assert m["ppv"] == pytest.approx(30 / 42)


def test_fig6_wilson_intervals():
    m = diagnostic_metrics(*fig6_labels(), confidence=0.95, positive="lung")
    low, _ = wilson_interval(18, 30)
    assert m["sensitivity_low"] == pytest.approx(float(low))
    assert m["sensitivity_low"] < 0.6 < m["sensitivity_high"]
    # Wilson interval of 18/30 by hand, z = 1.959964
    z = stats.norm.ppf(0.975)
    p, n = 0.6, 30
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert m["sensitivity_low"] == pytest.approx(centre - half, rel=1e-12)
    assert m["sensitivity_high"] == pytest.approx(centre + half, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Wilson intervals: Newcombe (1998) Table I, method 3 (score method)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_newcombe_1998(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert float(lo) == pytest.approx(low, abs=6e-5)
    assert float(hi) == pytest.approx(high, abs=6e-5)


def test_wilson_vectorised_and_bad_counts():
    lo, hi = wilson_interval([0, 5, 10], [10, 10, 10])
    assert lo.shape == (3,)
    assert np.all(lo <= hi)
    np.testing.assert_allclose(lo[::-1], 1 - hi, atol=1e-12)  # symmetric in k <-> n - k
    # issue 16.12: n = 0 gave a silent (nan, nan)
    with pytest.raises(ValueError, match=r"`n` must be >= 1"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match=r"`n` must be >= 1.*1 value"):
        wilson_interval([0, 1], [0, 3])
    with pytest.raises(ValueError, match=r"`successes` must hold finite whole numbers"):
        wilson_interval(np.nan, 10)
    with pytest.raises(ValueError, match=r"`n` must hold finite whole numbers"):
        wilson_interval(1, 2.5)
    with pytest.raises(ValueError, match=r"`successes` must be non-negative"):
        wilson_interval(-1, 10)
    with pytest.raises(TypeError, match=r"`n` must be a count"):
        wilson_interval(1, "ten")
    with pytest.raises(ValueError, match=r"do not broadcast"):
        wilson_interval([1, 2], [3, 4, 5])
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=95)


# ---------------------------------------------------------------------------------------------
# AUC and DeLong: Hanley & McNeil (1982) worked example, brute force from the definition
# ---------------------------------------------------------------------------------------------


def hanley_mcneil_1982():
    """Radiologist ratings of 109 CT images (Hanley & McNeil, Radiology 143:29, 1982, Table 1)."""
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(normal.size, int), np.ones(abnormal.size, int)]
    return y, np.r_[normal, abnormal].astype(float)


def brute_force_delong(y, scores):
    """DeLong et al. (1988) structural components with the O(m n) kernel psi."""
    scores = np.atleast_2d(scores)
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    psi = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    auc = psi.mean(axis=(1, 2))
    v10 = psi.mean(axis=2)  # (k, m)
    v01 = psi.mean(axis=1)  # (k, n)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return auc, s10 / m + s01 / n


def test_auc_hanley_mcneil_published_value():
    y, s = hanley_mcneil_1982()
    auc = roc_auc(y, s, positive=1)
    assert round(auc, 3) == 0.893  # published
    assert auc == pytest.approx(roc_auc_score(y, s))
    # Mann-Whitney U / (m n)
    u = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert auc == pytest.approx(u / (51 * 58))


def test_delong_se_hanley_mcneil_and_brute_force():
    y, s = hanley_mcneil_1982()
    auc, low, high = auc_confidence_interval(y, s, positive=1, confidence=0.95)
    se = (high - low) / (2 * stats.norm.ppf(0.975))
    ref_auc, ref_cov = brute_force_delong(y, s)
    assert auc == pytest.approx(ref_auc[0])
    assert se == pytest.approx(np.sqrt(ref_cov[0, 0]), rel=1e-10)
    # Hanley & McNeil's (exponential-approximation) SE for these data is 0.032; DeLong's
    # nonparametric SE estimates the same quantity
    assert se == pytest.approx(0.032, rel=0.1)


def test_delong_test_matches_brute_force_on_correlated_scores():
    rng = np.random.default_rng(1)
    n = 80
    y = (rng.random(n) < 0.45).astype(int)
    latent = rng.normal(size=n) + 1.2 * y
    a = latent + rng.normal(scale=0.8, size=n)
    b = np.round(latent + rng.normal(scale=1.2, size=n), 1)  # with ties
    res = delong_test(y, a, b, positive=1)
    auc, cov = brute_force_delong(y, np.stack([a, b]))
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert res.auc_a == pytest.approx(auc[0])
    assert res.auc_b == pytest.approx(auc[1])
    assert res.se == pytest.approx(se, rel=1e-10)
    assert res.z == pytest.approx((auc[0] - auc[1]) / se, rel=1e-10)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(res.z)))
    # antisymmetric
    swapped = delong_test(y, b, a, positive=1)
    assert swapped.z == pytest.approx(-res.z)
    assert swapped.p_value == pytest.approx(res.p_value)


def test_delong_test_identical_scores():
    y = [0, 0, 1, 1, 0, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9]
    res = delong_test(y, s, s, positive=1)
    assert res.z == 0.0
    assert res.p_value == 1.0


def test_delong_test_size_under_null():
    """Under H0 (two equally good, correlated readers) about 5 % of tests reject at 0.05."""
    rng = np.random.default_rng(7)
    rejections = 0
    n_sim = 400
    for _ in range(n_sim):
        y = np.r_[np.zeros(40, int), np.ones(40, int)]
        truth = rng.normal(size=80) + 1.0 * y
        a = truth + rng.normal(size=80)
        b = truth + rng.normal(size=80)
        rejections += delong_test(y, a, b, positive=1).p_value < 0.05
    assert 0.02 <= rejections / n_sim <= 0.09


def test_bootstrap_interval_equals_independent_loop():
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(25, int), np.ones(20, int)]
    s = rng.normal(size=45) + 0.9 * y
    auc, low, high = auc_confidence_interval(y, s, positive=1, method="bootstrap", n_bootstrap=300, rng=11)
    # the same stratified resamples, AUCs by scikit-learn
    gen = np.random.default_rng(11)
    pos, neg = s[y == 1], s[y == 0]
    ip = gen.integers(0, pos.size, size=(300, pos.size))
    ineg = gen.integers(0, neg.size, size=(300, neg.size))
    aucs = [
        roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos[a], neg[b]])
        for a, b in zip(ip, ineg)
    ]
    ref_low, ref_high = np.quantile(aucs, [0.025, 0.975])
    assert low == pytest.approx(ref_low)
    assert high == pytest.approx(ref_high)
    assert low <= auc <= high


def test_bootstrap_and_delong_agree_on_a_large_sample():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(150, int), np.ones(150, int)]
    s = rng.normal(size=300) + 1.0 * y
    _, dl, dh = auc_confidence_interval(y, s, positive=1)
    _, bl, bh = auc_confidence_interval(y, s, positive=1, method="bootstrap", n_bootstrap=2000, rng=0)
    assert bh - bl == pytest.approx(dh - dl, rel=0.15)
    assert bl == pytest.approx(dl, abs=0.02)


def test_metrics_with_scores_and_bootstrap_ci():
    y_true, y_pred = fig6_labels()
    score = np.where(y_pred == "lung", 0.8, 0.3) + np.linspace(0, 0.1, 61)
    m = diagnostic_metrics(
        y_true, y_pred, score, confidence=0.9, auc_method="bootstrap", rng=0, positive="lung"
    )
    assert m["auc"] == pytest.approx(roc_auc(y_true, score, positive="lung"))
    assert m["auc_low"] <= m["auc"] <= m["auc_high"]
    again = diagnostic_metrics(
        y_true, y_pred, score, confidence=0.9, auc_method="bootstrap", rng=0, positive="lung"
    )
    assert again.equals(m)


def test_ppv_undefined_is_nan_not_error():
    m = diagnostic_metrics(["lung", "other", "other"], ["other"] * 3, positive="lung")
    assert np.isnan(m["ppv"])
    assert m["npv"] == pytest.approx(2 / 3)
    m = diagnostic_metrics(["lung", "other", "other"], ["other"] * 3, confidence=0.95, positive="lung")
    assert np.isnan(m["ppv_low"])
    assert np.isnan(m["ppv_high"])
    assert 0 < m["npv_low"] < 2 / 3 < m["npv_high"] < 1


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_single_class_rejected():
    with pytest.raises(ValueError, match="single class"):
        diagnostic_metrics(["lung"] * 4, ["lung"] * 4, positive="lung")


def test_positive_not_a_label():
    with pytest.raises(ValueError, match="positive"):
        diagnostic_metrics([0, 1, 0, 1], [0, 1, 1, 1], positive="lung")


def test_unknown_predicted_label():
    with pytest.raises(ValueError, match="y_pred"):
        diagnostic_metrics(["lung", "other"], ["lung", "breast"], positive="lung")


def test_lengths_and_nan_scores():
    with pytest.raises(ValueError, match="y_pred"):
        diagnostic_metrics(["lung", "other"], ["lung"], positive="lung")
    with pytest.raises(ValueError, match="y_score"):
        diagnostic_metrics(["lung", "other"], ["lung", "other"], [0.5, np.nan], positive="lung")
    with pytest.raises(ValueError, match="y_score"):
        diagnostic_metrics(["lung", "other"], ["lung", "other"], [0.5], positive="lung")
    with pytest.raises(ValueError, match="two classes"):
        diagnostic_metrics(["a", "b", "c"], ["a", "b", "c"], positive="a")
    with pytest.raises(ValueError, match="method"):
        auc_confidence_interval([0, 1], [0.1, 0.2], positive=1, method="wald")


def test_inputs_not_modified():
    y_true, y_pred = fig6_labels()
    score = np.linspace(0, 1, 61)
    copies = (y_true.copy(), y_pred.copy(), score.copy())
    diagnostic_metrics(y_true, y_pred, score, confidence=0.95, positive="lung")
    for a, b in zip((y_true, y_pred, score), copies):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.floats(-5, 5, allow_nan=False)), min_size=4, max_size=40
    )
)
def test_swapping_the_positive_class_swaps_the_metrics(rows):
    y_true = np.array(["lung" if t else "other" for t, _, _ in rows])
    y_pred = np.array(["lung" if p else "other" for _, p, _ in rows])
    score = np.array([s for _, _, s in rows])
    if len(set(y_true)) < 2:
        return
    a = diagnostic_metrics(y_true, y_pred, score, positive="lung")
    b = diagnostic_metrics(y_true, y_pred, -score, positive="other")
    assert a["accuracy"] == b["accuracy"]
    assert a["sensitivity"] == b["specificity"]
    np.testing.assert_equal(a["ppv"], b["npv"])
    assert a["auc"] == pytest.approx(b["auc"])
    # AUC depends on the ranks only (an exact, order-preserving float transform)
    assert roc_auc(y_true, 2.0 * score, positive="lung") == pytest.approx(a["auc"])
    # and every interval contains its estimate
    c = diagnostic_metrics(y_true, y_pred, score, confidence=0.9, positive="lung")
    for k in ("accuracy", "sensitivity", "specificity", "auc"):
        assert c[f"{k}_low"] - 1e-12 <= c[k] <= c[f"{k}_high"] + 1e-12


@pytest.mark.parametrize(
    "bad",
    [
        np.array([0.1, 0.9, 0.2, 0.8]) + 0j,
        np.array([0.1, 0.9, 0.2, 0.8]).astype(str),
        np.array([0.1, 0.9, 0.2, 0.8], dtype=object),
        None,
    ],
    ids=["complex", "numeric_strings", "object", "none"],
)
def test_scores_must_be_real_numbers(bad):
    """Fuzz defects: complex, text and object scores were converted silently."""
    y = ["a", "b", "a", "b"]
    with pytest.raises(TypeError, match=r"`y_score` must be"):
        roc_auc(y, bad, positive="b")
    with pytest.raises(TypeError, match=r"`y_score` must be"):
        auc_confidence_interval(y, bad, positive="b")
    if bad is not None:  # None: no score, no AUC (the default)
        with pytest.raises(TypeError, match=r"`y_score` must be"):
            diagnostic_metrics(y, y, bad, positive="b")
    with pytest.raises(TypeError, match=r"`score_b` must be"):
        delong_test(y, [0.1, 0.9, 0.2, 0.8], bad, positive="b")
    # ints and bools are numbers
    assert (
        roc_auc(y, [0, 1, 0, 1], positive="b") == roc_auc(y, [False, True, False, True], positive="b") == 1.0
    )


def test_diagnostic_metrics_names_auc_method():
    with pytest.raises(ValueError, match=r"`auc_method` must be 'delong' or 'bootstrap', got 'wald'"):
        diagnostic_metrics(["a", "b"], ["a", "b"], auc_method="wald", positive="lung")


def test_wilson_interval_array_counts():
    """Array-like counts give one interval each (the fuzz's list corruption is valid input)."""
    low, high = wilson_interval([1.0, 2.0], 20)
    l0, h0 = wilson_interval(1, 20)
    assert low.shape == (2,)
    assert low[0] == l0
    assert high[0] == h0


def test_positive_default_is_generic_not_the_papers_class():
    """Issue 17 item 7: generic metrics do not default to this paper's 'lung'."""
    y01, pred01 = [0, 0, 1, 1], [0, 1, 1, 1]
    m = diagnostic_metrics(y01, pred01)  # 0/1 labels: 1 is positive, as in scikit-learn
    assert m["sensitivity"] == 1.0
    assert m["specificity"] == 0.5
    mb = diagnostic_metrics([False, False, True, True], [False, True, True, True])
    assert mb.equals(m)
    assert roc_auc([-1, -1, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="`positive` must name the positive class"):
        diagnostic_metrics(["a", "b"], ["a", "b"])
    with pytest.warns(FutureWarning, match="positive='lung'"):
        old = diagnostic_metrics(["lung", "other", "other"], ["lung", "lung", "other"])
    assert old.equals(
        diagnostic_metrics(["lung", "other", "other"], ["lung", "lung", "other"], positive="lung")
    )
