"""Live cross-check against PyRadiomics on random maps and ragged masks (skipped without it).

PyRadiomics is never a dependency of dcemets; install it to run this test with
``pip install numpy wheel && pip install --no-build-isolation pyradiomics==3.0.1``.
"""

import logging
import warnings

import numpy as np
import pytest

from dcemets.radiomics import glcm_features, histogram_features

from .test_texture import PYRADIOMICS_TO_OURS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    radiomics = pytest.importorskip("radiomics")
    sitk = pytest.importorskip("SimpleITK")
    from radiomics import firstorder, glcm

radiomics.setVerbosity(logging.ERROR)


def pyradiomics(cls, img, mask, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = cls(sitk.GetImageFromArray(img), sitk.GetImageFromArray(mask.astype(np.uint8)), **settings)
        c.enableAllFeatures()
        return {k: float(v) for k, v in c.execute().items()}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    ("agg", "extra"), [("3d_average", {}), ("3d_merged", {"weightingNorm": "no_weighting"})]
)
def test_random_ragged_masks_match_pyradiomics(seed, agg, extra):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(3, 10, size=3))
    img = rng.normal(size=shape) * 10 + 50
    mask = rng.random(shape) < rng.uniform(0.3, 0.9)
    if mask.sum() < 3:
        pytest.skip("mask too small")
    theirs = pyradiomics(
        glcm.RadiomicsGLCM, img, mask, binCount=8, distances=[1], symmetricalGLCM=True, **extra
    )
    ours = glcm_features(img, mask, bin_count=8, aggregation=agg)
    for k, v in PYRADIOMICS_TO_OURS.items():
        np.testing.assert_allclose(ours[v], theirs[k], rtol=1e-6, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("seed", range(5))
def test_first_order_matches_pyradiomics(seed):
    rng = np.random.default_rng(seed)
    img = rng.gamma(2.0, 20.0, size=(5, 8, 9))
    mask = rng.random(img.shape) < 0.6
    theirs = pyradiomics(firstorder.RadiomicsFirstOrder, img, mask, binCount=16)
    ours = histogram_features(img, mask, excess_kurtosis=False)
    np.testing.assert_allclose(ours["p10"], theirs["10Percentile"], rtol=1e-9)
    np.testing.assert_allclose(ours["p50"], theirs["Median"], rtol=1e-9)
    np.testing.assert_allclose(ours["p90"], theirs["90Percentile"], rtol=1e-9)
    np.testing.assert_allclose(ours["mean"], theirs["Mean"], rtol=1e-9)
    np.testing.assert_allclose(ours["sd"] ** 2, theirs["Variance"], rtol=1e-9)
    np.testing.assert_allclose(ours["skewness"], theirs["Skewness"], rtol=1e-9)
    np.testing.assert_allclose(ours["kurtosis"], theirs["Kurtosis"], rtol=1e-9)
