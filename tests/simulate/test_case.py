"""simulate_case: data model, physics, determinism, ROI, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcemets._conventions import (
    check_same_grid,
    index_from_world,
    validate_dce,
    validate_image,
    world_coordinates,
)
from dcemets.io import Case
from dcemets.kinetics import parker_aif
from dcemets.simulate import ACQUISITION, LABELS, TISSUES, rician_noise, simulate_case
from dcemets.simulate.primaries import N_QUANTILES, draw_parameters


@pytest.fixture(scope="module")
def case():
    return simulate_case("lung", rng=7, subject_id="s7")


@pytest.fixture(scope="module")
def clean_case():
    """Nearly noise-free case without PSF: exact physics checks."""
    return simulate_case("thyroid", rng=11, snr=1e6, partial_volume=False, difficulty="clean")


def test_case_structure(case):
    assert isinstance(case, Case)
    assert case.subject_id == "s7"
    assert case.primary == "lung"
    assert case.label == "lung"
    dce = validate_dce(case.dce)
    assert dce.sizes == {"time": 12, "z": 30, "y": 96, "x": 128}
    assert dce.dtype == np.float32
    for key in ("tr_s", "te_s", "flip_angle_deg", "injection_time_s", "r1_per_mM_s", "field_strength_T"):
        assert key in dce.attrs
    assert dce.attrs["tr_s"] == 0.0041
    assert dce.attrs["te_s"] == 0.0015
    assert dce.attrs["flip_angle_deg"] == 10.0
    assert dce.attrs["field_strength_T"] == 3.0
    assert dce.attrs["r1_per_mM_s"] == 3.7
    validate_image(case.lesion_mask, mask=True)
    validate_image(case.roi_sagittal, mask=True)
    validate_image(case.t2w_sagittal)
    check_same_grid(case.dce, case.lesion_mask)
    check_same_grid(case.t2w_sagittal, case.roi_sagittal)
    for key in ("ktrans", "kep", "vp", "t10_s", "bolus_arrival_s", "temporal_resolution_s"):
        assert np.isfinite(case.truth[key])
    for key in ("ktrans_map", "kep_map", "vp_map"):
        check_same_grid(case.dce, case.truth[key])
    assert case.lesion_mask.any()
    assert case.roi_sagittal.any()


def test_timing_follows_protocol(case):
    t = case.dce.time.values
    dt = case.truth["temporal_resolution_s"]
    assert 10.0 <= dt <= 14.0
    np.testing.assert_allclose(np.diff(t), dt)
    assert t[0] == 0.0
    # contrast injected after the first (pre-contrast) frame, arriving before the third
    assert t[0] < case.dce.attrs["injection_time_s"] < t[1]
    assert case.dce.attrs["injection_time_s"] < case.truth["bolus_arrival_s"] < t[2]


def test_sagittal_geometry_differs_but_shares_world(case):
    da, ds = case.dce.attrs["affine"], case.t2w_sagittal.attrs["affine"]
    assert not np.allclose(np.reshape(da, (4, 4))[:3, :3], np.reshape(ds, (4, 4))[:3, :3])
    assert case.dce.attrs["frame_of_reference"] == case.t2w_sagittal.attrs["frame_of_reference"]
    # the lesion centre of mass seen on both grids is the same world point (within a voxel)
    les_ax = world_coordinates(case.lesion_mask)[case.lesion_mask.values].mean(axis=0)
    roi_w = world_coordinates(case.roi_sagittal)[case.roi_sagittal.values]
    assert np.linalg.norm(roi_w.mean(axis=0)[1:] - les_ax[1:]) < 12.0  # A-P and S-I agree


def test_roi_is_imprecise_but_on_the_lesion(case):
    """The radiologist's outline overlaps the lesion, but is not the lesion itself."""
    roi_w = world_coordinates(case.roi_sagittal)[case.roi_sagittal.values]
    idx = np.rint(index_from_world(case.dce, roi_w)).astype(int)
    shape = np.array(case.lesion_mask.shape)
    ok = np.all((idx >= 0) & (idx < shape), axis=1)
    hit = case.lesion_mask.values[tuple(idx[ok].T)]
    assert 0.3 < hit.mean() < 1.0
    # at most 3 sagittal slices are drawn, as a radiologist would
    assert 1 <= int(case.roi_sagittal.any(dim=("y", "x")).sum()) <= 3


def test_lesion_enhances_more_than_marrow(case):
    v = case.dce.values
    lab = case.truth["labels"].values
    s0 = v[0]
    enh = (v.max(axis=0) - s0) / s0
    les = np.median(enh[case.lesion_mask.values & (case.truth["viability_map"].values > 0.8)])
    marrow = np.median(enh[lab == LABELS["marrow"]])
    assert les > 2 * marrow
    assert 0.1 < marrow < 1.0  # normal marrow enhances, modestly


def test_aorta_signal_follows_spgr_of_the_aif(clean_case):
    """Frame ratios in the aorta equal the SPGR equation of 0.58 x plasma AIF (independent code)."""
    c = clean_case
    lab = c.truth["labels"].values
    v = c.dce.values[:, lab == LABELS["blood"]].astype(float)
    aif = c.truth["aif"]
    cb = 0.58 * np.interp(c.dce.time.values, aif.aif_time.values, aif.values)
    tr, fa, r1 = 0.0041, np.deg2rad(10.0), 3.7
    e = np.exp(-tr * (1 / TISSUES["blood"].t10_s + r1 * cb))
    s = np.sin(fa) * (1 - e) / (1 - np.cos(fa) * e)
    np.testing.assert_allclose(np.median(v / v[:1], axis=1), s / s[0], rtol=2e-3)


def test_aif_is_parker_scaled_and_dispersed(clean_case):
    c = clean_case
    aif = c.truth["aif"]
    t = aif.aif_time.values
    raw = c.truth["aif_scale"] * parker_aif(t, delay=c.truth["bolus_arrival_s"])
    # dispersion conserves the contrast agent: same area under the curve (up to the tail)
    k = 1.0 / c.truth["dispersion_s"]
    area_raw = np.trapezoid(raw, t)
    area = np.trapezoid(aif.values, t) + aif.values[-1] / k  # add the dispersed tail still to come
    assert area == pytest.approx(area_raw, rel=0.03)
    assert np.all(aif.values[t < c.truth["bolus_arrival_s"]] == 0)
    assert aif.values.max() < raw.max()


def test_truth_maps_consistent(case):
    m = case.lesion_mask.values
    kt = case.truth["ktrans_map"].values[m]
    assert kt.max() == pytest.approx(case.truth["ktrans"])  # hot spot carries the case value
    assert np.all(kt <= case.truth["ktrans"] + 1e-12)
    assert case.truth["ktrans"] == pytest.approx(case.truth["kep"] * case.truth["ve"])
    assert np.all(case.truth["t10_map"].values > 0)


def test_same_rng_is_bit_identical_and_seeds_differ():
    a = simulate_case("kidney", rng=3)
    b = simulate_case("kidney", rng=np.random.default_rng(3))
    c = simulate_case("kidney", rng=4)
    assert np.array_equal(a.dce.values, b.dce.values)
    assert np.array_equal(a.t2w_sagittal.values, b.t2w_sagittal.values)
    assert np.array_equal(a.roi_sagittal.values, b.roi_sagittal.values)
    assert a.truth["kep"] == b.truth["kep"]
    assert not np.array_equal(a.dce.values, c.dce.values)


def test_full_grid():
    c = simulate_case("breast", rng=0, grid="full")
    assert c.dce.sizes == {"time": 12, "z": 30, "y": 192, "x": 256}
    np.testing.assert_allclose(np.diff(c.dce.x.values[:2]), 250 / 256)
    assert c.t2w_sagittal.sizes["x"] == 320


def test_parameter_overrides():
    c = simulate_case("lung", rng=0, parameters={"kep": 0.5, "ktrans": 0.2, "temporal_resolution_s": 12.0})
    assert c.truth["kep"] == 0.5
    assert c.truth["ktrans"] == 0.2
    assert c.truth["ve"] == pytest.approx(0.4)
    np.testing.assert_allclose(np.diff(c.dce.time.values), 12.0)


def test_parameter_overrides_derive_the_third():
    c = simulate_case("kidney", rng=0, parameters={"ktrans": 0.3, "ve": 0.5, "dispersion_s": 5.0})
    assert c.truth["kep"] == pytest.approx(0.6)
    assert c.truth["dispersion_s"] == 5.0


def test_draw_parameters_quantiles_monotone():
    lo = draw_parameters("lung", np.full(N_QUANTILES, 0.1))
    hi = draw_parameters("lung", np.full(N_QUANTILES, 0.9))
    for k in ("kep", "ve", "vp", "temporal_resolution_s", "bolus_lag_s", "radius_mm"):
        assert lo[k] < hi[k]
    assert 10 <= lo["temporal_resolution_s"] < hi["temporal_resolution_s"] <= 14


def test_rician_noise_statistics():
    rng = np.random.default_rng(0)
    n = rician_noise(np.zeros(200_000), 2.0, rng)
    assert n.mean() == pytest.approx(2.0 * np.sqrt(np.pi / 2), rel=0.01)  # Rayleigh
    big = rician_noise(np.full(200_000, 100.0), 2.0, rng)
    assert big.mean() == pytest.approx(np.sqrt(100.0**2 + 2.0**2), rel=1e-3)  # Gaussian limit
    assert big.std() == pytest.approx(2.0, rel=0.02)
    x = np.ones(5)
    rician_noise(x, 1.0, rng)
    assert np.all(x == 1)  # input untouched


def test_rician_noise_rng_as_numpy_takes_it():
    """Issue 16.13: an int seed gave "'int' object has no attribute 'standard_normal'"."""
    a = rician_noise(np.full(50, 10.0), 1.0, 0)
    np.testing.assert_array_equal(a, rician_noise(np.full(50, 10.0), 1.0, rng=0))
    np.testing.assert_array_equal(a, rician_noise(np.full(50, 10.0), 1.0, np.random.default_rng(0)))
    assert rician_noise(np.full(50, 10.0), 1.0).shape == (50,)  # rng=None: fresh entropy
    with pytest.raises(TypeError, match=r"`rng` must be an int, a numpy Generator or None"):
        rician_noise(np.zeros(3), 1.0, "seed")
    with pytest.raises(ValueError, match=r"`rng` seed must be non-negative"):
        rician_noise(np.zeros(3), 1.0, -1)
    with pytest.raises(TypeError, match=r"`sigma` must be a number"):
        rician_noise(np.zeros(3), "1", 0)
    with pytest.raises(TypeError, match=r"`signal` must be a real \(magnitude\) array"):
        rician_noise(np.zeros(3, complex), 1.0, 0)


def test_noise_level_matches_snr():
    c = simulate_case("lung", rng=7, difficulty="clean", snr=20.0)
    lab = c.truth["labels"].values
    air = c.dce.values[0][lab == LABELS["air"]]
    sigma = c.truth["noise_sigma"]
    assert air.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"primary": "pancreas"}, ValueError, "primary"),
        ({"primary": 3}, ValueError, "primary"),
        ({"primary": "lung", "tr": 0.0}, ValueError, "tr"),
        ({"primary": "lung", "tr": -1e-3}, ValueError, "tr"),
        ({"primary": "lung", "tr": 4.1}, ValueError, "seconds"),
        ({"primary": "lung", "flip_angle": 0}, ValueError, "flip_angle"),
        ({"primary": "lung", "flip_angle": 190}, ValueError, "flip_angle"),
        ({"primary": "lung", "snr": 0}, ValueError, "snr"),
        ({"primary": "lung", "snr": "high"}, TypeError, "snr"),
        ({"primary": "lung", "grid": "quarter"}, ValueError, "grid"),
        ({"primary": "lung", "parameters": {"ktrns": 0.1}}, ValueError, "unknown"),
        ({"primary": "lung", "parameters": {"kep": -1.0}}, ValueError, "kep"),
        ({"primary": "lung", "parameters": [1, 2]}, TypeError, "parameters"),
        ({"primary": "lung", "parameters": {"kep": "fast"}}, TypeError, "kep"),
        ({"primary": "lung", "parameters": {"ktrans": 0.3, "kep": 1.0, "ve": 0.5}}, ValueError, "kep \\* ve"),
        (
            {"primary": "lung", "parameters": {"temporal_resolution_s": 0.0}},
            ValueError,
            "temporal_resolution_s",
        ),
        ({"primary": "lung", "parameters": {"quantiles": [0.5]}}, ValueError, "quantiles"),
        ({"primary": "lung", "rng": "seed"}, TypeError, "rng"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate_case(**kwargs)


def test_acquisition_constants():
    assert ACQUISITION["tr_s"] == pytest.approx(4.1e-3)
    assert ACQUISITION["flip_angle_deg"] == 10.0


@settings(max_examples=60, deadline=None)
@given(
    primary=st.sampled_from(["lung", "breast", "thyroid", "prostate", "liver", "kidney"]),
    u=st.lists(st.floats(1e-6, 1 - 1e-6), min_size=N_QUANTILES, max_size=N_QUANTILES),
)
def test_draw_parameters_stays_in_documented_ranges(primary, u):
    p = draw_parameters(primary, u)
    assert 10.0 <= p["temporal_resolution_s"] <= 14.0
    assert 0.05 <= p["ve"] <= 0.8
    assert 0.001 <= p["vp"] <= 0.3
    assert 1.0 <= p["t10_s"] <= 2.2
    assert p["ktrans"] == pytest.approx(p["kep"] * p["ve"])
    # the AIF arrives between the injection (dt/2) and the third frame (2 dt)
    assert (
        p["temporal_resolution_s"] / 2
        < p["bolus_lag_s"] + p["temporal_resolution_s"] / 2
        < 2 * p["temporal_resolution_s"]
    )
    assert 3.0 <= p["dispersion_s"] <= 8.0
    assert p["aif_scale"] > 0


def test_lesion_signal_inverts_to_the_true_tofts_curve(clean_case):
    """Ground truth is self-consistent: SPGR inversion of a lesion voxel (kinetics, validated
    against OSIPI) gives the extended Tofts curve of that voxel's true parameters."""
    from dcemets.kinetics import signal_to_concentration, tofts

    c = clean_case
    m = c.lesion_mask.values
    sig = c.dce.values[:, m].T.astype(float)[:50]  # (voxels, time)
    t10 = c.truth["t10_map"].values[m][:50].astype(float)
    conc = signal_to_concentration(sig, t10=t10, flip_angle=10.0, tr=0.0041, r1=3.7)
    aif = c.truth["aif"]
    expect = tofts(
        c.dce.time.values,
        aif.values,
        c.truth["ktrans_map"].values[m][:50].astype(float),
        c.truth["kep_map"].values[m][:50].astype(float),
        c.truth["vp_map"].values[m][:50].astype(float),
        aif_time=aif.aif_time.values,
    )
    # float32 storage of maps and signal, and the (1e-6) noise, limit the agreement
    np.testing.assert_allclose(conc, expect, atol=5e-3, rtol=5e-3)
    assert expect[:, -1].max() > 0.2  # the lesion really enhances


def test_same_seed_same_bits_whatever_the_blas_threads():
    """A seed is the same exam on any machine: BLAS threads must not change the last bits.

    With a 2-thread OpenBLAS the simulator's matrix products rounded differently from a
    1-thread one, so the study cache (keyed on the data) missed between processes started
    with different ``OMP_NUM_THREADS``.
    """
    from threadpoolctl import threadpool_limits

    runs = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            runs.append(simulate_case("lung", rng=3))
    a, b = runs
    np.testing.assert_array_equal(a.dce.values, b.dce.values)
    np.testing.assert_array_equal(a.t2w_sagittal.values, b.t2w_sagittal.values)
