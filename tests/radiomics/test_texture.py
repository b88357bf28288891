"""GLCM and its 20 features against IBSI, PyRadiomics, the MATLAB script and a brute-force loop."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dcemets import make_image
from dcemets.radiomics import GLCM_FEATURES, RadiomicsWarning, discretise, glcm, glcm_features

from .conftest import read_csv

AGGREGATIONS = {
    "3D, averaged": "3d_average",
    "3D, merged": "3d_merged",
    "2D, averaged": "2d_average",
    "2D, slice-merged": "2d_slice_merged",
    "2.5D, direction-merged": "2.5d_direction_merged",
    "2.5D, merged": "2.5d_merged",
}

# IBSI tag -> our feature (every IBSI GLCM feature that is one of the paper's 20)
IBSI_TO_OURS = {
    "cm.auto.corr": "autocorrelation",
    "cm.clust.prom": "cluster_prominence",
    "cm.clust.shade": "cluster_shade",
    "cm.contrast": "contrast",
    "cm.corr": "correlation_1",
    "cm.dissimilarity": "dissimilarity",
    "cm.diff.avg": "dissimilarity",
    "cm.energy": "energy",
    "cm.joint.entr": "entropy",
    "cm.inv.diff": "homogeneity_1",
    "cm.inv.diff.mom": "homogeneity_2",
    "cm.joint.max": "maximum_probability",
    "cm.sum.avg": "sum_average",
    "cm.joint.var": "information_entropy",
    "cm.sum.var": "sum_variance",
    "cm.clust.tend": "sum_variance",
    "cm.sum.entr": "sum_entropy",
    "cm.diff.var": "difference_variance",
    "cm.diff.entr": "difference_entropy",
    "cm.info.corr.1": "information_correlation_1",
    "cm.info.corr.2": "information_correlation_2",
}

PYRADIOMICS_TO_OURS = {
    "Autocorrelation": "autocorrelation",
    "ClusterProminence": "cluster_prominence",
    "ClusterShade": "cluster_shade",
    "ClusterTendency": "sum_variance",
    "Contrast": "contrast",
    "Correlation": "correlation_1",
    "DifferenceAverage": "dissimilarity",
    "DifferenceEntropy": "difference_entropy",
    "DifferenceVariance": "difference_variance",
    "Id": "homogeneity_1",
    "Idm": "homogeneity_2",
    "Imc1": "information_correlation_1",
    "Imc2": "information_correlation_2",
    "JointEnergy": "energy",
    "JointEntropy": "entropy",
    "MaximumProbability": "maximum_probability",
    "SumAverage": "sum_average",
    "SumEntropy": "sum_entropy",
    "SumSquares": "information_entropy",
}

UPPULURI_TO_OURS = {
    "autoc": "autocorrelation",
    "cprom": "cluster_prominence",
    "cshad": "cluster_shade",
    "contr": "contrast",
    "corrm": "correlation_1",
    "corrp": "correlation_2",
    "dissi": "dissimilarity",
    "energ": "energy",
    "entro": "entropy",
    "homom": "homogeneity_1",
    "homop": "homogeneity_2",
    "maxpr": "maximum_probability",
    "savgh": "sum_average",
    "sosvh": "information_entropy",
    "svarh": "sum_variance",
    "senth": "sum_entropy",
    "dvarh": "difference_variance",
    "denth": "difference_entropy",
    "inf1h": "information_correlation_1",
    "inf2h": "information_correlation_2",
}


def sig3(v: float) -> float:
    return float(f"{v:.3g}")


# ---------------------------------------------------------------- IBSI digital phantom
@pytest.mark.parametrize(("ibsi_agg", "agg"), AGGREGATIONS.items())
def test_phantom_matches_ibsi_reference(phantom, ibsi_agg, agg):
    img, msk = phantom
    f = glcm_features(img, msk, bin_width=1, min_value=1, aggregation=agg)
    ref = read_csv("ibsi1_reference_values.csv")
    ref = ref[(ref.data == "digital_phantom") & (ref.family == "cm") & (ref.aggregation == ibsi_agg)]
    ref = ref[ref.ibsi_tag.isin(IBSI_TO_OURS)]
    assert len(ref) == 21  # every IBSI feature that is one of the paper's 20 (+ aliases)
    for _, row in ref.iterrows():
        ours = f[IBSI_TO_OURS[row.ibsi_tag]]
        assert sig3(ours) == sig3(row.value), (row.ibsi_tag, ours, row.value)


def test_phantom_fixed_bin_number_6_equals_no_discretisation(phantom):
    img, msk = phantom
    a = glcm_features(img, msk, bin_width=1)
    b = glcm_features(img, msk, bin_count=6)
    pd.testing.assert_series_equal(a, b)


def _canonical(dz, dy, dx):
    o = (int(dz), int(dy), int(dx))
    first = next(v for v in o if v != 0)
    return o if first > 0 else tuple(-v for v in o)


def test_phantom_counts_match_ibsi_matrices(phantom):
    img, msk = phantom
    ref = read_csv("ibsi1_phantom_glcm_counts.csv")

    def dense(rows):
        m = np.zeros((6, 6), int)
        m[rows.i - 1, rows.j - 1] = rows["count"]
        return m

    p3 = glcm(img, msk, bin_width=1, aggregation="3d_average")
    offsets = [(0, 0, 1), (0, 1, -1), (0, 1, 0), (0, 1, 1)] + [
        (1, a, b) for a, b in itertools.product((-1, 0, 1), repeat=2)
    ]
    d3 = ref[ref.scope == "3D_direction"]
    for k, off in enumerate(offsets):
        sel = d3[[_canonical(r.dz, r.dy, r.dx) == off for r in d3.itertuples()]]
        assert len(sel) > 0
        np.testing.assert_array_equal(p3[k], dense(sel), err_msg=str(off))
    merged = glcm(img, msk, bin_width=1, aggregation="3d_merged")
    np.testing.assert_array_equal(merged[0], dense(ref[ref.scope == "3D_merged"]))
    np.testing.assert_array_equal(merged[0], p3.sum(axis=0))

    p2 = glcm(img, msk, bin_width=1, aggregation="2d_average").reshape(4, 4, 6, 6)
    d2 = ref[ref.scope == "2D_slice_direction"]
    for z in range(4):
        for k, off in enumerate(offsets[:4]):
            sel = d2[[(r.z == z) and _canonical(r.dz, r.dy, r.dx) == off for r in d2.itertuples()]]
            np.testing.assert_array_equal(p2[z, k], dense(sel), err_msg=f"z={z} {off}")
    sm = glcm(img, msk, bin_width=1, aggregation="2d_slice_merged")
    for z in range(4):
        np.testing.assert_array_equal(sm[z], dense(ref[(ref.scope == "2D_slice_merged") & (ref.z == z)]))


# ---------------------------------------------------------------- PyRadiomics cross-checks
@pytest.mark.parametrize(("pyr_agg", "agg"), [("3D, averaged", "3d_average"), ("3D, merged", "3d_merged")])
def test_float_map_matches_pyradiomics(synthetic_map, pyr_agg, agg):
    vol, roi = synthetic_map
    f = glcm_features(vol, roi, bin_count=32, aggregation=agg)
    ref = read_csv("synthetic_map_pyradiomics_values.csv")
    ref = ref[(ref.source_class == "glcm") & (ref.aggregation == pyr_agg)]
    n = 0
    for _, row in ref.iterrows():
        if row.feature in PYRADIOMICS_TO_OURS:
            ours = f[PYRADIOMICS_TO_OURS[row.feature]]
            np.testing.assert_allclose(ours, row.value, rtol=1e-6, err_msg=row.feature)
            n += 1
    assert n == 19
    np.testing.assert_allclose(f["correlation_2"], f["correlation_1"], rtol=1e-12)


@pytest.mark.parametrize(
    ("pyr_agg", "agg"),
    [
        ("3D, averaged", "3d_average"),
        ("3D, merged", "3d_merged"),
        ("2.5D, direction-merged", "2.5d_direction_merged"),
    ],
)
def test_phantom_matches_pyradiomics_full_precision(phantom, pyr_agg, agg):
    img, msk = phantom
    f = glcm_features(img, msk, bin_width=1, aggregation=agg)
    ref = read_csv("pyradiomics_phantom_values.csv")
    ref = ref[(ref.pyradiomics_class == "glcm") & (ref.ibsi_aggregation == pyr_agg)]
    n = 0
    for _, row in ref.iterrows():
        if row.pyradiomics_feature in PYRADIOMICS_TO_OURS:
            ours = f[PYRADIOMICS_TO_OURS[row.pyradiomics_feature]]
            np.testing.assert_allclose(
                ours, row.value, rtol=1e-9, atol=1e-12, err_msg=row.pyradiomics_feature
            )
            n += 1
    assert n == 19


@pytest.mark.parametrize(
    ("agg", "col"), [("3d_average", "uppuluri_3D_averaged_13dirs"), ("3d_merged", "uppuluri_3D_merged")]
)
def test_matlab_convention_reproduces_glcm_features1(phantom, agg, col):
    img, msk = phantom
    f = glcm_features(img, msk, bin_width=1, aggregation=agg, convention="matlab")
    ref = read_csv("uppuluri_glcm_features_phantom.csv").set_index("uppuluri_code")
    for code, ours in UPPULURI_TO_OURS.items():
        np.testing.assert_allclose(f[ours], ref.loc[code, col], rtol=1e-8, err_msg=code)


def test_matlab_and_ibsi_conventions_differ_where_documented(phantom):
    img, msk = phantom
    a = glcm_features(img, msk, bin_width=1)
    b = glcm_features(img, msk, bin_width=1, convention="matlab")
    same = ["autocorrelation", "contrast", "energy", "homogeneity_1", "information_correlation_1"]
    np.testing.assert_allclose(a[same], b[same], rtol=1e-12)
    np.testing.assert_allclose(b["entropy"], np.log(2) * a["entropy"], rtol=1e-12)
    for name in ("information_entropy", "sum_variance", "difference_variance", "information_correlation_2"):
        assert not np.isclose(a[name], b[name])


# ---------------------------------------------------------------- brute force and invariants
def brute_force_glcm(levels: np.ndarray, mask: np.ndarray, n_levels: int) -> np.ndarray:
    """Explicit loop over voxels and the 13 offsets (reference only)."""
    offsets = [(0, 0, 1), (0, 1, -1), (0, 1, 0), (0, 1, 1)] + [
        (1, a, b) for a, b in itertools.product((-1, 0, 1), repeat=2)
    ]
    out = np.zeros((13, n_levels, n_levels), int)
    nz, ny, nx = mask.shape
    for k, (dz, dy, dx) in enumerate(offsets):
        for z, y, x in zip(*np.nonzero(mask)):
            z2, y2, x2 = z + dz, y + dy, x + dx
            if 0 <= z2 < nz and 0 <= y2 < ny and 0 <= x2 < nx and mask[z2, y2, x2]:
                i, j = levels[z, y, x] - 1, levels[z2, y2, x2] - 1
                out[k, i, j] += 1
                out[k, j, i] += 1
    return out


volumes = hnp.arrays(
    np.int64, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=5), elements=st.integers(1, 4)
)


@settings(max_examples=40, deadline=None)
@given(levels=volumes, data=st.data())
def test_counts_equal_brute_force(levels, data):
    mask = data.draw(hnp.arrays(bool, levels.shape))
    if not mask.any():
        mask.flat[0] = True
    got = glcm(levels, mask, bin_width=1, min_value=1)
    n = got.shape[-1]
    want = brute_force_glcm(levels, mask, n)
    np.testing.assert_array_equal(got, want)
    assert (got == got.transpose(0, 2, 1)).all()


@settings(max_examples=25, deadline=None)
@given(
    img=hnp.arrays(
        np.float64, (4, 5, 6), elements=st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 3))
    ),
    scale=st.floats(0.5, 4.0),
    shift=st.floats(-50, 50),
    perm=st.permutations([0, 1, 2]),
)
def test_3d_average_invariant_to_axis_flips_permutations_and_affine_intensity(img, scale, shift, perm):
    mask = np.ones(img.shape, bool)
    mask[0, 0, :2] = False
    if np.ptp(img[mask]) < 1e-3:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RadiomicsWarning)
        base = glcm_features(img, mask, bin_count=8)
        moved = glcm_features(
            np.transpose(img[::-1, :, ::-1], perm), np.transpose(mask[::-1, :, ::-1], perm), bin_count=8
        )
        # FBN is invariant to a*x+b (a > 0) unless rounding moves a value across a bin edge
        affine = glcm_features(img * scale + shift, mask, bin_count=8)
        same_levels = np.array_equal(
            discretise(img, mask, bin_count=8), discretise(img * scale + shift, mask, bin_count=8)
        )
    np.testing.assert_allclose(moved, base, rtol=1e-10, atol=1e-12)
    if same_levels:
        np.testing.assert_allclose(affine, base, rtol=1e-10, atol=1e-12)


def test_features_are_in_their_ranges(synthetic_map):
    vol, roi = synthetic_map
    f = glcm_features(vol, roi)
    assert list(f.index) == list(GLCM_FEATURES)
    for name in (
        "energy",
        "maximum_probability",
        "homogeneity_1",
        "homogeneity_2",
        "information_correlation_2",
    ):
        assert 0 < f[name] <= 1
    assert -1 <= f["correlation_1"] <= 1
    assert -1 <= f["information_correlation_1"] <= 0
    assert f["homogeneity_2"] <= f["homogeneity_1"]
    assert f["dissimilarity"] ** 2 <= f["contrast"]
    # per matrix, difference variance = contrast - dissimilarity^2 (not after averaging)
    m = glcm_features(vol, roi, aggregation="3d_merged")
    np.testing.assert_allclose(m["difference_variance"], m["contrast"] - m["dissimilarity"] ** 2, rtol=1e-10)
    assert f.attrs["n_levels"] == 32
    assert f.attrs["aggregation"] == "3d_average"


# ---------------------------------------------------------------- inputs and edge cases
def test_dataarray_inputs_match_numpy(synthetic_map):
    vol, roi = synthetic_map
    img = make_image(vol, spacing=(0.7, 0.7, 3.0))
    msk = make_image(roi, spacing=(0.7, 0.7, 3.0))
    a = glcm_features(img, msk)
    b = glcm_features(vol, roi)
    pd.testing.assert_series_equal(a, b)
    # any dim order is accepted
    c = glcm_features(img.transpose("x", "z", "y"), msk)
    pd.testing.assert_series_equal(a, c)


def test_inputs_not_modified(synthetic_map):
    vol, roi = synthetic_map
    v, r = vol.copy(), roi.copy()
    glcm_features(vol, roi)
    np.testing.assert_array_equal(vol, v)
    np.testing.assert_array_equal(roi, r)


def test_empty_mask_raises():
    with pytest.raises(ValueError, match="`mask` is empty"):
        glcm_features(np.ones((2, 2, 2)), np.zeros((2, 2, 2), bool))


def test_one_voxel_mask_raises_clear_error():
    m = np.zeros((3, 3, 3), bool)
    m[1, 1, 1] = True
    with pytest.raises(ValueError, match="no pair of neighbouring ROI voxels"):
        glcm_features(np.random.default_rng(0).normal(size=(3, 3, 3)), m)


def test_two_voxels_use_only_the_nonempty_direction():
    img = np.array([[[1.0, 2.0]]])
    f = glcm_features(img, img > 0, bin_count=2)
    # one pair (1,2) counted both ways: p = [[0, .5], [.5, 0]]
    assert f["contrast"] == 1.0
    assert f["energy"] == 0.5
    assert f["entropy"] == 1.0
    assert f["correlation_1"] == -1.0


def test_constant_map_documented_values_and_warning():
    img = np.full((3, 4, 4), 7.5)
    with pytest.warns(RadiomicsWarning, match="single grey level"):
        f = glcm_features(img, np.ones(img.shape, bool))
    assert not f.isna().any()
    assert f["contrast"] == 0
    assert f["energy"] == 1
    assert f["entropy"] == 0
    assert f["correlation_1"] == 1
    assert f["correlation_2"] == 1
    assert f["information_correlation_1"] == 0
    assert f["information_correlation_2"] == 0
    assert f["autocorrelation"] == 1  # constant ROI -> level 1


def test_different_grids_raise():
    img = make_image(np.ones((3, 4, 4)), spacing=1.0)
    msk = make_image(np.ones((3, 4, 4), bool), spacing=2.0)
    with pytest.raises(ValueError, match="different grids"):
        glcm_features(img, msk)
    with pytest.raises(ValueError, match="different grids"):
        glcm_features(np.ones((3, 4, 4)), np.ones((3, 4, 5), bool))


def test_nan_inside_mask_raises_or_is_omitted(synthetic_map):
    vol, roi = synthetic_map
    bad = vol.copy()
    bad[15, 32, 32] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite value"):
        glcm_features(bad, roi)
    f = glcm_features(bad, roi, nan_policy="omit")
    roi2 = roi.copy()
    roi2[15, 32, 32] = False
    pd.testing.assert_series_equal(f, glcm_features(vol, roi2))
    assert f.attrs["n_omitted_nonfinite"] == 1
    # NaN outside the mask is fine
    out = vol.copy()
    out[0, 0, 0] = np.nan
    pd.testing.assert_series_equal(glcm_features(out, roi), glcm_features(vol, roi))


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"bin_count": 8, "bin_width": 1.0}, ValueError, "either `bin_count`"),
        ({"bin_count": 0}, ValueError, r"`bin_count` must be an int in \[1, 512\], got 0"),
        ({"bin_count": 2.5}, TypeError, "`bin_count` must be an int"),
        ({"bin_width": -1.0}, ValueError, "positive"),
        ({"bin_width": 1e-9}, ValueError, "grey levels"),
        ({"aggregation": "4d"}, ValueError, "`aggregation`"),
        ({"distance": 0}, ValueError, "`distance`"),
        ({"convention": "skimage"}, ValueError, "`convention`"),
        ({"nan_policy": "ignore"}, ValueError, "`nan_policy`"),
        ({"bin_count": 8, "min_value": 0.0}, ValueError, "`min_value`"),
        ({"bin_width": 1.0, "min_value": 1e9}, ValueError, "`min_value`"),
    ],
)
def test_bad_options(synthetic_map, kwargs, err, match):
    vol, roi = synthetic_map
    with pytest.raises(err, match=match):
        glcm_features(vol, roi, **kwargs)


def test_bad_types():
    with pytest.raises(TypeError, match="`image` must hold real numbers"):
        glcm_features(np.ones((2, 2, 2), bool), np.ones((2, 2, 2), bool))
    with pytest.raises(TypeError, match="`mask` must be bool"):
        glcm_features(np.ones((2, 2, 2)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        glcm_features(np.ones((2, 2, 2)), np.full((2, 2, 2), 2))
    with pytest.raises(ValueError, match="3D"):
        glcm_features(np.ones((2, 2, 2, 2)), np.ones((2, 2, 2, 2), bool))


def test_integer_mask_and_2d_input():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(6, 7))
    a = glcm_features(img, np.ones((6, 7), int), aggregation="3d_average")
    b = glcm_features(img[None], np.ones((1, 6, 7), bool), aggregation="2d_average")
    # in a single slice only the 4 in-plane directions have pairs: the two averages coincide
    pd.testing.assert_series_equal(a, b, check_exact=False, rtol=1e-12)


def test_distance_two_uses_scaled_offsets():
    img = np.array([[[1.0, 5.0, 2.0, 5.0, 1.0]]])
    p = glcm(img, img > 0, bin_width=1, min_value=1, distance=2)
    # pairs at dx=2: (1,2), (5,5), (2,1) -> counted both ways
    assert p[0].sum() == 6
    assert p[0][0, 1] == 2
    assert p[0][4, 4] == 2


def test_2d_matrices_cover_the_roi_slices_only(phantom):
    img, msk = phantom
    big = np.zeros((9, 4, 5))
    bigm = np.zeros((9, 4, 5), bool)
    big[3:7], bigm[3:7] = img, msk
    p = glcm(big, bigm, bin_width=1, aggregation="2d_average")
    assert p.shape == (16, 6, 6)
    np.testing.assert_array_equal(p, glcm(img, msk, bin_width=1, aggregation="2d_average"))
    pd.testing.assert_series_equal(
        glcm_features(big, bigm, bin_width=1, aggregation="2d_slice_merged"),
        glcm_features(img, msk, bin_width=1, aggregation="2d_slice_merged"),
    )
