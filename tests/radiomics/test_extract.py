"""The 99-feature table of one lesion and of a cohort."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dcemets import make_image
from dcemets.radiomics import (
    FEATURE_NAMES,
    GLCM_FEATURES,
    HISTOGRAM_FEATURES,
    MAP_NAMES,
    RadiomicsWarning,
    extract_cohort,
    extract_features,
    glcm_features,
    histogram_features,
)


def lesion(seed: int = 0, shape=(8, 16, 16)):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    mask = ((z - 4) / 3.5) ** 2 + ((y - 8) / 6) ** 2 + ((x - 8) / 6) ** 2 <= 1
    maps = xr.Dataset(
        {
            "wash_in": make_image(150 + 40 * rng.normal(size=shape), spacing=(0.8, 0.8, 4.0)),
            "max_se": make_image(200 + 50 * rng.normal(size=shape), spacing=(0.8, 0.8, 4.0)),
            "washout": make_image(-8 + 6 * rng.normal(size=shape), spacing=(0.8, 0.8, 4.0)),
        }
    )
    return maps, make_image(mask, spacing=(0.8, 0.8, 4.0))


def test_feature_names():
    assert len(FEATURE_NAMES) == 99 == len(set(FEATURE_NAMES))
    assert MAP_NAMES == ("wash_in", "max_se", "washout")
    assert FEATURE_NAMES[:20] == tuple(f"wash_in_glcm_{f}" for f in GLCM_FEATURES)
    assert FEATURE_NAMES[20:33] == tuple(f"wash_in_hist_{f}" for f in HISTOGRAM_FEATURES)
    assert FEATURE_NAMES[-1] == "washout_hist_skewness"


def test_extract_features_matches_per_map_functions():
    maps, mask = lesion()
    f = extract_features(maps, mask)
    assert list(f.index) == list(FEATURE_NAMES)
    assert not f.isna().any()
    for m in MAP_NAMES:
        g = glcm_features(maps[m], mask)
        h = histogram_features(maps[m], mask)
        np.testing.assert_array_equal(f[[f"{m}_glcm_{k}" for k in GLCM_FEATURES]].to_numpy(), g.to_numpy())
        np.testing.assert_array_equal(
            f[[f"{m}_hist_{k}" for k in HISTOGRAM_FEATURES]].to_numpy(), h.to_numpy()
        )
    assert f.attrs["washout"]["n_levels"] == 32


def test_settings_pass_through_and_per_map_binning():
    maps, mask = lesion()
    f = extract_features(
        maps, mask, bin_width={"wash_in": 20.0, "max_se": 25.0, "washout": 2.0}, aggregation="3d_merged"
    )
    g = glcm_features(maps["washout"], mask, bin_width=2.0, aggregation="3d_merged")
    np.testing.assert_array_equal(f[[f"washout_glcm_{k}" for k in GLCM_FEATURES]].to_numpy(), g.to_numpy())
    with pytest.raises(ValueError, match="no entry for map 'max_se'"):
        extract_features(maps, mask, bin_count={"wash_in": 8, "washout": 8})
    with pytest.raises(TypeError, match="unknown setting"):
        extract_features(maps, mask, binCount=8)


def test_geometry_from_dataset_attrs_only():
    maps, mask = lesion()
    stripped = xr.Dataset({m: maps[m].copy().assign_attrs({}) for m in MAP_NAMES}).assign_attrs(
        maps["wash_in"].attrs
    )
    for m in MAP_NAMES:
        stripped[m].attrs = {}
    pd.testing.assert_series_equal(extract_features(stripped, mask), extract_features(maps, mask))


def test_bad_inputs():
    maps, mask = lesion()
    with pytest.raises(ValueError, match="no variable 'washout'"):
        extract_features(maps.drop_vars("washout"), mask)
    with pytest.raises(TypeError, match="Dataset"):
        extract_features(maps["washout"], mask)
    other = make_image(mask.values, spacing=(1.0, 1.0, 4.0))
    with pytest.raises(ValueError, match="different grids"):
        extract_features(maps, other)
    with pytest.raises(ValueError, match=r"map 'wash_in'.*empty"):
        extract_features(maps, mask & False)


def test_cohort_table_parallel_and_errors():
    cases = {f"s{i}": lesion(i) for i in range(4)}
    maps = {k: v[0] for k, v in cases.items()}
    masks = {k: v[1] for k, v in cases.items()}
    t1 = extract_cohort(maps, masks, progress=False)
    t2 = extract_cohort(maps, masks, progress=False, n_jobs=2)
    assert t1.index.name == "subject_id"
    assert list(t1.index) == ["s0", "s1", "s2", "s3"]
    assert list(t1.columns) == list(FEATURE_NAMES)
    pd.testing.assert_frame_equal(t1, t2)
    pd.testing.assert_series_equal(t1.loc["s2"], extract_features(maps["s2"], masks["s2"]), check_names=False)

    masks["s1"] = masks["s1"] & False
    with pytest.raises(ValueError, match="subject 's1'"):
        extract_cohort(maps, masks, progress=False)
    with pytest.warns(RadiomicsWarning, match="subject 's1'"):
        t3 = extract_cohort(maps, masks, progress=False, errors="warn")
    assert t3.loc["s1"].isna().all()
    assert not t3.drop(index="s1").isna().any().any()
    assert t3.attrs["failed"] == ["s1"]
    with pytest.raises(ValueError, match="same subject ids"):
        extract_cohort(maps, {"s0": masks["s0"]}, progress=False)


def test_pipeline_from_dce_through_kinetics_parametric_maps():
    from dcemets import make_dce
    from dcemets.kinetics import parametric_maps

    rng = np.random.default_rng(0)
    t = np.arange(12) * 12.0
    shape = (6, 12, 12)
    z, y, x = np.indices(shape)
    les = ((z - 3) / 2.5) ** 2 + ((y - 6) / 4.5) ** 2 + ((x - 6) / 4.5) ** 2 <= 1
    amp = rng.uniform(0.5, 2, size=shape)[None]
    wo = rng.uniform(-0.3, 0.1, size=shape)[None]
    tt = t[:, None, None, None]
    curve = 100 * (
        1 + amp * (1 - np.exp(-np.clip(tt - 12, 0, None) / 20)) * (1 + wo * np.clip(tt - 60, 0, None) / 80)
    )
    dce = make_dce(curve + rng.normal(0, 1, size=curve.shape), t, spacing=(0.7, 0.7, 4))
    mask = make_image(les, spacing=(0.7, 0.7, 4))
    maps = parametric_maps(dce, mask=mask)  # NaN outside the lesion
    f = extract_features(maps, mask)
    assert f.notna().all()
    # the maximum-SE map tracks the simulated amplitude: its mean is positive and sizeable
    assert f["max_se_hist_mean"] > 30


@pytest.mark.slow
def test_table2_on_a_simulated_cohort():
    simulate = pytest.importorskip("dcemets.simulate")
    if not hasattr(simulate, "simulate_cohort"):
        pytest.skip("dcemets.simulate.simulate_cohort not available yet")
    from dcemets.evaluation import radiomics_search
    from dcemets.kinetics import parametric_maps

    cohort = simulate.simulate_cohort(
        composition={"lung": 4, "thyroid": 2, "breast": 2}, rng=0, progress=False
    )
    maps = {c.subject_id: parametric_maps(c.dce, mask=c.lesion_mask) for c in cohort}
    table = extract_cohort(maps, {c.subject_id: c.lesion_mask for c in cohort}, progress=False)
    assert table.shape == (8, 99)
    assert table.notna().all().all()
    labels = np.array(["lung" if c.primary == "lung" else "other" for c in cohort])
    res = radiomics_search(
        table, labels, family="all", k_range=[2, 3], n_splits=2, n_estimators=20, rng=0, positive="lung"
    )
    assert len(res.table) == 6
    assert res.table[["accuracy", "auc"]].apply(lambda s: s.between(0, 1)).all().all()
    assert res.to_table2().shape == (2, 3)


def test_map_errors_name_maps():
    """Fuzz defects: a map's dtype or NaN error named the inner `image`, not `maps`."""
    maps, mask = lesion()
    with pytest.raises(TypeError, match=r"map 'wash_in' of `maps`: `image` is complex"):
        extract_features(maps.map(lambda v: v.astype(complex)), mask)
    with pytest.raises(TypeError, match=r"map 'wash_in' of `maps`: `image` must hold numbers"):
        extract_features(maps.map(lambda v: v.astype(str)), mask)
    bad = maps.copy(deep=True)
    bad["wash_in"][0, 0, 0] = np.nan
    bad_mask = np.ones(mask.shape, bool)
    with pytest.raises(ValueError, match=r"map 'wash_in' of `maps`: `image` has 1 NaN"):
        extract_features(bad, bad_mask)


def test_cohort_checks_mappings_and_n_jobs():
    maps, mask = lesion()
    with pytest.raises(TypeError, match=r"`maps` must be a mapping"):
        extract_cohort(None, {"a": mask}, progress=False)
    with pytest.raises(TypeError, match=r"`masks` must be a mapping"):
        extract_cohort({"a": maps}, None, progress=False)
    for bad, error in ((0, ValueError), (1.5, ValueError), ("2", TypeError), (None, TypeError)):
        with pytest.raises(error, match=r"`n_jobs` must be a non-zero int"):
            extract_cohort({"a": maps}, {"a": mask}, progress=False, n_jobs=bad)
    with pytest.raises(TypeError, match=r"subject 'a': map 'wash_in' of `maps`"):
        extract_cohort(
            {"a": maps.map(lambda v: v.astype(complex))}, {"a": mask}, progress=False, errors="warn"
        )
