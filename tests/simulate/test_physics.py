"""The DRO's physics, measured: noise statistics, dose conservation, motion, field correlation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage, optimize
from skimage.registration import phase_cross_correlation

from dcemets.kinetics import parker_aif
from dcemets.simulate import DIFFICULTIES, LABELS, Difficulty, random_field, simulate_case
from dcemets.simulate.acquisition import (
    effective_shift,
    frame_windows,
    integrate_frames,
    line_subinterval,
    window_average_matrix,
)


def test_noise_in_air_is_rayleigh():
    """Magnitude of complex Gaussian noise: mean / sd = sqrt(pi/2) / sqrt(2 - pi/2) = 1.913."""
    c = simulate_case("lung", rng=5, difficulty="clean", snr=20.0)
    lab = c.truth["labels"].values
    air = lab == LABELS["air"]
    # far from the body (no apodisation spill-over), in the pre-contrast frame
    from scipy import ndimage

    far = ndimage.binary_erosion(air, iterations=3)
    v = c.dce.values[0][far].astype(float)
    assert v.size > 20_000
    ratio = v.mean() / v.std()
    assert ratio == pytest.approx(np.sqrt(np.pi / 2) / np.sqrt(2 - np.pi / 2), abs=0.03)
    assert v.mean() == pytest.approx(c.truth["noise_sigma"] * np.sqrt(np.pi / 2), rel=0.03)


def test_snr_is_that_of_the_marrow():
    c = simulate_case("lung", rng=5, difficulty="clean", snr=20.0)
    lab = c.truth["labels"].values
    ff = c.truth["fat_fraction_map"].values
    m = (lab == LABELS["marrow"]) & (ff > 0)
    s0 = np.median(c.dce.values[0][m])
    assert s0 / c.truth["noise_sigma"] == pytest.approx(20.0, rel=0.15)


@pytest.mark.parametrize(("n_lines", "n_sub", "dt"), [(96, 5, 12.0), (192, 5, 10.0), (64, 4, 14.0)])
def test_frame_integration_conserves_the_dose(n_lines, n_sub, dt):
    """Averaged over k-space lines, each frame weights time by its whole window, and the
    windows tile the acquisition: sum_k dt * frame_k equals the integral of the curve."""
    t_fine = np.arange(0.0, 200.0, 0.5)
    cp = parker_aif(t_fine, delay=12.0)
    times = np.arange(12) * dt
    edges = frame_windows(times, dt, n_lines, n_sub)
    np.testing.assert_allclose(edges[1:, 0], edges[:-1, -1])  # windows tile the run
    np.testing.assert_allclose(edges[:, -1] - edges[:, 0], dt)
    w = window_average_matrix(t_fine, edges)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    sub = (w @ cp).reshape(12, n_sub)
    lines = line_subinterval(n_lines, n_sub)
    line_mean = sub[:, lines].mean(axis=1)  # k-space-averaged value of each frame
    # exact integral of the piecewise-linear curve over [edges[0, 0], edges[-1, -1]]
    fine = np.linspace(edges[0, 0], edges[-1, -1], 200_001)
    integral = np.trapezoid(np.interp(fine, t_fine, cp), fine)
    assert dt * line_mean.sum() == pytest.approx(integral, rel=1e-6)
    # the contrast (k-space centre) is sampled around the frame time, not over the window
    centre = 0.5 * (edges[:, lines[0]] + edges[:, lines[0] + 1])
    np.testing.assert_allclose(centre, times, atol=dt / n_sub / 2 + dt / n_lines)


def test_frame_integration_of_a_static_object_is_the_object():
    rng = np.random.default_rng(0)
    img = rng.random((1, 1, 4, 96, 16)).astype(np.float32)
    out = integrate_frames(np.repeat(img, 5, axis=1), line_subinterval(96, 5), (3.0, 2.6, 1.95))
    np.testing.assert_allclose(out[0].real, img[0, 0], atol=1e-5)
    np.testing.assert_allclose(out[0].imag, 0.0, atol=1e-5)


def test_enhancement_during_the_window_ghosts_along_phase_encoding():
    """A change during the window leaves signal in air along A-P (y), not along L-R (x)."""
    img = np.zeros((1, 5, 1, 96, 96), dtype=np.float32)
    img[..., 40:56, 40:56] = 1.0
    img[0, 3:, ..., 40:56, 40:56] = 3.0  # brighter in the last sub-intervals
    out = np.abs(integrate_frames(img, line_subinterval(96, 5), (3.0, 2.6, 1.95)))[0, 0]
    along_y = out[5:30, 40:56].mean()
    along_x = out[40:56, 5:30].mean()
    assert along_y > 20 * max(along_x, 1e-6)


def test_motion_truth_matches_registration():
    diff = replace(DIFFICULTIES["realistic"], motion_probability=1.0, bulk_motion_mm=3.0, respiratory_mm=0.0)
    c = simulate_case("kidney", rng=2, difficulty=diff, snr=400.0)
    motion = c.truth["motion_mm"].values  # (time, [L, P, S])
    assert np.abs(motion).max() > 1.0
    sp = np.array([np.diff(c.dce[d].values[:2])[0] for d in ("z", "y", "x")])
    v = c.dce.values.astype(float)
    ref = 6  # late frames: similar contrast
    for k in range(4, 12):
        shift, _, _ = phase_cross_correlation(v[k], v[ref], upsample_factor=20)
        measured_mm = shift * sp  # (z, y, x) = (S, P, L)
        expected = (motion[k] - motion[ref])[::-1]
        np.testing.assert_allclose(measured_mm, expected, atol=0.35 * sp.max())


def _ssd_shift(moving: np.ndarray, fixed: np.ndarray, axes: int) -> np.ndarray:
    """Shift (voxels) of `fixed` that minimises the SSD to `moving` (Fourier shift, Powell)."""
    spec = np.fft.fftn(fixed)

    def cost(s: np.ndarray) -> float:
        full = np.zeros(fixed.ndim)
        full[-axes:] = s
        return float(((moving - np.fft.ifftn(ndimage.fourier_shift(spec, full)).real) ** 2).sum())

    return optimize.minimize(cost, np.zeros(axes), method="Powell", options={"xtol": 1e-4}).x


@pytest.mark.parametrize(
    "shifts", [(0.0, 1.5, 0.0, 1.5, 0.5), (-1.0, 0.5, 0.0, 0.5, -1.0), (0.3, 0.6, -0.5, 0.6, 0.3)]
)
def test_effective_shift_is_the_least_squares_position_of_the_frame(shifts):
    # an object whose P shift differs per sub-interval: the magnitude frame is best explained
    # (SSD) by the effective shift, not by the k-space-centre sub-interval's shift
    ny, n_sub = 64, 5
    lines = line_subinterval(ny, n_sub)
    _z, y, x = np.mgrid[:4, :ny, :48].astype(float)
    obj = 100.0 * ((np.abs(y - 30) < 12) & (np.abs(x - 24) < 10)) + 50.0 * (
        (y - 20) ** 2 + (x - 15) ** 2 < 25
    )
    obj = ndimage.gaussian_filter(obj, 0.7)
    d = np.array(shifts)
    disp = np.zeros((1, n_sub, 3))
    disp[0, :, 1] = d
    frame = integrate_frames(
        np.broadcast_to(obj, (1, n_sub, *obj.shape)).copy(), lines, (1.0, 1.0, 1.0), disp
    )
    eff = effective_shift(frame, lines, d[None], 1.0)[0]
    best = _ssd_shift(np.abs(frame[0]).transpose(0, 2, 1), obj.transpose(0, 2, 1), 1)[0]  # along y
    centre = d[lines[0]]
    assert abs(best - eff) < 0.02  # mm = voxels here
    assert abs(best - eff) < 0.1 * abs(best - centre)


def test_effective_shift_of_a_rigidly_moving_frame_is_its_shift():
    lines = line_subinterval(16, 4)
    frames = np.random.default_rng(0).random((2, 2, 16, 8))
    out = effective_shift(frames, lines, np.array([[0.7] * 4, [-0.2] * 4]), 2.0)
    np.testing.assert_allclose(out, [0.7, -0.2], atol=1e-9)
    flat = effective_shift(np.ones((1, 2, 16, 8)), lines, np.array([[0.0, 1.0, 2.0, 3.0]]), 2.0)
    assert lines[0] == 2
    assert flat.tolist() == [2.0]
    with pytest.raises(ValueError, match="lines"):
        effective_shift(frames, lines[:8], np.zeros((2, 4)), 2.0)
    with pytest.raises(ValueError, match="shift"):
        effective_shift(frames, lines, np.zeros((3, 4)), 2.0)
    with pytest.raises(ValueError, match="spacing"):
        effective_shift(frames, lines, np.zeros((2, 4)), 0.0)


def test_effective_motion_truth_is_where_the_respiring_image_is():
    # respiration only: the P position of each frame (SSD fit against a late frame) follows
    # truth["motion_effective_mm"], not the k-space-centre truth["motion_mm"]
    diff = replace(DIFFICULTIES["hard"], motion_probability=1.0, bulk_motion_mm=0.0)
    c = simulate_case("kidney", rng=2, difficulty=diff, snr=400.0)
    centre = c.truth["motion_mm"].sel(axis="P").values
    eff_da = c.truth["motion_effective_mm"]
    eff = eff_da.sel(axis="P").values
    np.testing.assert_array_equal(
        eff_da.sel(axis=["L", "S"]).values, c.truth["motion_mm"].sel(axis=["L", "S"]).values
    )
    sp = np.array([np.diff(c.dce[d].values[:2])[0] for d in ("z", "y", "x")])
    v = c.dce.values.astype(float)
    ref, ks = 6, [4, 9, 11]
    measured = np.array([_ssd_shift(v[k], v[ref], 3)[1] * sp[1] for k in ks])
    err_eff = np.abs(measured - (eff[ks] - eff[ref])).max()
    err_centre = np.abs(measured - (centre[ks] - centre[ref])).max()
    assert err_centre > 1.0  # mm: the respiration moves the k-space centre
    assert err_eff < 0.2 * err_centre
    assert err_eff < 0.25


@pytest.mark.parametrize("length", [3.0, 6.0])
def test_random_field_has_the_stated_correlation_length(length):
    """Empirical correlation at lag r matches exp(-r^2 / (2 l^2)) (squared exponential)."""
    rng = np.random.default_rng(1)
    lags = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]) * length
    base = rng.uniform(-100, 100, size=(400, 3))
    direction = rng.standard_normal((400, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    vals = []
    for _ in range(150):
        f = random_field(rng, length)
        vals.append(np.stack([f(base + lag * direction) for lag in lags]))
    v = np.stack(vals)  # (realisations, lags, points)
    corr = (v * v[:, :1]).mean(axis=(0, 2)) / (v[:, 0] ** 2).mean()
    np.testing.assert_allclose(corr, np.exp(-(lags**2) / (2 * length**2)), atol=0.04)
    assert v.mean() == pytest.approx(0.0, abs=0.02)
    assert v.var() == pytest.approx(1.0, abs=0.05)


def test_lesion_habitats_are_correlated_over_several_voxels():
    c = simulate_case("lung", rng=3, difficulty="clean", snr=1e6, partial_volume=False)
    kt = c.truth["ktrans_map"].values
    m = c.lesion_mask.values
    # neighbouring voxels (1.95 mm apart in x) inside the lesion share their Ktrans habitat
    pair = m[:, :, 1:] & m[:, :, :-1]
    a, b = kt[:, :, 1:][pair], kt[:, :, :-1][pair]
    assert np.corrcoef(a, b)[0, 1] > 0.6
    assert kt[m].std() / kt[m].mean() > 0.1  # heterogeneous


@pytest.mark.parametrize("name", ["clean", "realistic", "hard"])
def test_difficulty_presets(name):
    d = DIFFICULTIES[name]
    assert isinstance(d, Difficulty)
    assert d.name == name
    c = simulate_case("breast", rng=1, difficulty=name)
    assert c.meta["difficulty"] == name
    assert c.meta["snr"] == d.snr
    assert c.lesion_mask.any()


def test_difficulty_ordering():
    clean, real, hard = (DIFFICULTIES[k] for k in ("clean", "realistic", "hard"))
    assert clean.snr > real.snr > hard.snr
    assert clean.motion_probability < real.motion_probability < hard.motion_probability
    assert clean.extra_lesion_probability < real.extra_lesion_probability < hard.extra_lesion_probability
    assert not clean.frame_integration
    assert real.frame_integration


def test_bad_difficulty():
    with pytest.raises(ValueError, match="difficulty"):
        simulate_case("lung", rng=0, difficulty="easy")
    with pytest.raises(ValueError, match="motion_probability"):
        replace(DIFFICULTIES["hard"], motion_probability=1.5)


def test_sclerotic_lesion_is_hypo_enhancing_and_dark_on_t2w():
    c = simulate_case("prostate", rng=0, difficulty="clean", parameters={"quantiles": np.full(9, 0.5)})
    if c.truth["lesion_type"] != "sclerotic":
        # draw until sclerotic (deterministic: seeds fixed)
        for s in range(1, 30):
            c = simulate_case(
                "prostate", rng=s, difficulty="clean", parameters={"quantiles": np.full(9, 0.5)}
            )
            if c.truth["lesion_type"] == "sclerotic":
                break
    assert c.truth["lesion_type"] == "sclerotic"
    m = c.lesion_mask.values
    assert c.truth["mineral_map"].values[m].mean() > 0.4
    lytic = simulate_case("thyroid", rng=0, difficulty="clean", parameters={"quantiles": np.full(9, 0.5)})
    assert lytic.truth["lesion_type"] == "lytic"
    assert np.all(lytic.truth["mineral_map"].values == 0)
