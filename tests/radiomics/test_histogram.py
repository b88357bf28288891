"""Histogram features against IBSI (phantom), PyRadiomics and numpy (float map)."""

import numpy as np
import pytest
import scipy.stats

from dcemets.radiomics import HISTOGRAM_FEATURES, histogram_features

from .conftest import read_csv


def test_phantom_matches_ibsi_statistics(phantom):
    img, msk = phantom
    h = histogram_features(img, msk)
    ref = read_csv("ibsi1_reference_values.csv")
    ref = ref[(ref.data == "digital_phantom") & (ref.family == "stat")].set_index("ibsi_tag").value

    def sig3(v):
        return float(f"{v:.3g}")

    assert sig3(h["mean"]) == ref["stat.mean"]
    assert sig3(h["sd"] ** 2) == ref["stat.var"]
    assert sig3(h["skewness"]) == ref["stat.skew"]
    assert sig3(h["kurtosis"]) == ref["stat.kurt"]
    assert h["p10"] == ref["stat.p10"]
    assert h["p50"] == ref["stat.median"]
    assert h["p90"] == ref["stat.p90"]


def test_phantom_matches_pyradiomics_firstorder(phantom):
    img, msk = phantom
    h = histogram_features(img, msk, excess_kurtosis=False)
    ref = read_csv("pyradiomics_phantom_values.csv")
    ref = ref[ref.pyradiomics_class == "firstorder"].set_index("pyradiomics_feature").value
    np.testing.assert_allclose(h["mean"], ref["Mean"], rtol=1e-12)
    np.testing.assert_allclose(h["sd"] ** 2, ref["Variance"], rtol=1e-12)
    np.testing.assert_allclose(h["kurtosis"], ref["Kurtosis"], rtol=1e-12)
    np.testing.assert_allclose(h["skewness"], ref["Skewness"], rtol=1e-12)


def test_float_map_matches_pyradiomics_and_numpy(synthetic_map):
    vol, roi = synthetic_map
    ref = read_csv("synthetic_map_pyradiomics_values.csv").set_index("feature").value
    h = histogram_features(vol, roi)
    pearson = histogram_features(vol, roi, excess_kurtosis=False)
    hazen = histogram_features(vol, roi, percentile_method="hazen")
    np.testing.assert_allclose(h["p10"], ref["10Percentile"], rtol=1e-6)
    np.testing.assert_allclose(h["p50"], ref["Median"], rtol=1e-6)
    np.testing.assert_allclose(h["p90"], ref["90Percentile"], rtol=1e-6)
    np.testing.assert_allclose(h["mean"], ref["Mean"], rtol=1e-6)
    np.testing.assert_allclose(h["sd"] ** 2, ref["Variance"], rtol=1e-6)
    np.testing.assert_allclose(h["skewness"], ref["Skewness"], rtol=1e-6)
    np.testing.assert_allclose(pearson["kurtosis"], ref["Kurtosis"], rtol=1e-6)
    np.testing.assert_allclose(h["kurtosis"], ref["Kurtosis"] - 3, rtol=1e-6)
    for q in range(10, 100, 10):
        np.testing.assert_allclose(h[f"p{q}"], ref[f"P{q} (numpy linear)"], rtol=1e-12)
        np.testing.assert_allclose(hazen[f"p{q}"], ref[f"P{q} (numpy hazen = MATLAB prctile)"], rtol=1e-12)
    n = roi.sum()
    np.testing.assert_allclose(
        h["sd"] * np.sqrt(n / (n - 1)), ref["std ddof=1 (MATLAB std default)"], rtol=1e-10
    )


def test_against_scipy_moments():
    rng = np.random.default_rng(3)
    img = rng.gamma(2.0, size=(4, 5, 6))
    mask = img > 0.5
    h = histogram_features(img, mask)
    v = img[mask]
    assert list(h.index) == list(HISTOGRAM_FEATURES)
    np.testing.assert_allclose(h["skewness"], scipy.stats.skew(v), rtol=1e-12)
    np.testing.assert_allclose(h["kurtosis"], scipy.stats.kurtosis(v), rtol=1e-12)
    np.testing.assert_allclose(h["sd"], v.std(), rtol=1e-12)
    assert (np.diff(h[[f"p{q}" for q in range(10, 100, 10)]].to_numpy()) >= 0).all()


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 3)])
def test_constant_and_one_voxel_are_defined(shape):
    img = np.full(shape, 4.2)
    h = histogram_features(img, np.ones(shape, bool))
    assert not h.isna().any()
    assert (h[[f"p{q}" for q in range(10, 100, 10)]] == 4.2).all()
    assert h["mean"] == 4.2
    assert h["sd"] == 0
    assert h["skewness"] == 0
    assert h["kurtosis"] == 0


def test_errors():
    with pytest.raises(ValueError, match="`mask` is empty"):
        histogram_features(np.ones((2, 2, 2)), np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="percentile_method"):
        histogram_features(np.ones((2, 2, 2)), np.ones((2, 2, 2), bool), percentile_method="matlab")
    with pytest.raises(TypeError, match="excess_kurtosis"):
        histogram_features(np.ones((2, 2, 2)), np.ones((2, 2, 2), bool), excess_kurtosis="yes")
    img = np.ones((2, 2, 2))
    img[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        histogram_features(img, np.ones((2, 2, 2), bool))


def test_phantom_discretised_matches_ibsi_intensity_histogram(phantom):
    from dcemets.radiomics import discretise

    img, msk = phantom
    levels = discretise(img, msk, bin_width=1, min_value=1).astype(float)
    h = histogram_features(levels, msk)
    ref = read_csv("ibsi1_reference_values.csv")
    ref = ref[(ref.data == "digital_phantom") & (ref.family == "ih")].set_index("ibsi_tag").value
    assert float(f"{h['mean']:.3g}") == ref["ih.mean"]
    assert float(f"{h['sd'] ** 2:.3g}") == ref["ih.var"]
    assert float(f"{h['skewness']:.3g}") == ref["ih.skew"]
    assert float(f"{h['kurtosis']:.3g}") == ref["ih.kurt"]
    assert h["p50"] == ref["ih.median"]
    assert h["p10"] == ref["ih.p10"]
    assert h["p90"] == ref["ih.p90"]


@pytest.mark.parametrize("top", [5.6e-155, 1e-300, 1e104, 1e300, 1.7e308])
def test_extreme_ranges_give_finite_exact_values(top):
    """Issue 16.11: [0, 5.6e-155] raised ZeroDivisionError, [0, 1e104] OverflowError, and
    [0, 1e300] gave inf/NaN moments; two equally frequent values have closed-form features."""
    img = np.array([0.0, top, 0.0, top]).reshape(1, 1, 4)
    h = histogram_features(img, np.ones(img.shape, bool))
    assert np.isfinite(h.to_numpy()).all()
    assert h["mean"] == pytest.approx(top / 2, rel=1e-15)
    assert h["sd"] == pytest.approx(top / 2, rel=1e-15)
    assert h["skewness"] == pytest.approx(0.0, abs=1e-15)
    assert h["kurtosis"] == pytest.approx(-2.0, rel=1e-15)  # m4 / m2**2 = 1
    assert h["p50"] == pytest.approx(top / 2, rel=1e-15)
    assert h["p10"] == 0.0
    assert h["p90"] == top
    wide = histogram_features(np.array([-top, top]).reshape(1, 1, 2), np.ones((1, 1, 2), bool))
    assert np.isfinite(wide.to_numpy()).all()
    assert wide["sd"] == pytest.approx(top, rel=1e-15)


def test_scaling_leaves_ordinary_values_bit_identical():
    """The power-of-two rescaling is exact: the textbook formulas give the same bits."""
    rng = np.random.default_rng(7)
    v = rng.gamma(2.0, 30.0, size=200)
    h = histogram_features(v.reshape(1, 1, -1), np.ones((1, 1, v.size), bool))
    d = v - v.mean()
    m2 = np.mean(d * d)
    assert h["mean"] == float(v.mean())
    assert h["sd"] == float(np.sqrt(m2))
    assert h["skewness"] == float(np.mean(d**3)) / float(m2) ** 1.5
    assert h["kurtosis"] == float(np.mean(d**4)) / (float(m2) * float(m2)) - 3.0
    assert h["p30"] == float(np.percentile(v, 30))


def test_constant_non_dyadic_value_has_zero_moments():
    """Mean of [0.1] * 3 rounds to 0.1 + 1.4e-17: the moments must still be those of a constant."""
    h = histogram_features(np.full((1, 1, 3), 0.1), np.ones((1, 1, 3), bool))
    assert (h["mean"], h["sd"], h["skewness"], h["kurtosis"]) == (0.1, 0.0, 0.0, 0.0)
