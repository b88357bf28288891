"""Tests of dcemets.registration.register_frames: known transforms, identity, simulator truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import SimpleITK as sitk
import xarray as xr

from dcemets import make_dce
from dcemets._conventions import like
from dcemets.io import to_sitk
from dcemets.registration import FrameRegistration, register_frames
from dcemets.simulate import DIFFICULTIES, simulate_case

SPACING = (2.0, 2.0, 3.0)  # (x, y, z) mm


def _phantom(rng: np.random.Generator, shape=(14, 40, 40)) -> np.ndarray:
    """A smooth structured volume: 25 Gaussian blobs of random size and contrast on a body."""
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(float)
    v = 40.0 + 60.0 * (((y - 20) / 16) ** 2 + ((x - 20) / 17) ** 2 < 1)
    for _ in range(25):
        c = rng.uniform([3, 8, 8], [shape[0] - 3, shape[1] - 8, shape[2] - 8])
        s = rng.uniform(1.5, 4.0)
        v += rng.uniform(-40, 80) * np.exp(
            -((z - c[0]) ** 2 * 2.25 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / (2 * s**2)
        )
    return np.clip(v, 5.0, None)


def _moved(ref: xr.DataArray, tx: sitk.Transform, gain: np.ndarray) -> np.ndarray:
    """The anatomy of `ref` displaced by `tx` (frame(tx(x)) = ref(x)), enhanced by `gain`."""
    img = to_sitk(ref)
    out = sitk.Resample(img, img, tx.GetInverse(), sitk.sitkBSpline, 0.0, sitk.sitkFloat64, True)
    return sitk.GetArrayFromImage(out) * gain


@pytest.fixture(scope="module")
def known():
    """Four frames: reference, enhanced, shifted + rotated + enhanced twice; the true maps."""
    rng = np.random.default_rng(20)
    base = _phantom(rng)
    ref = make_dce(base[None].repeat(1, 0), [0.0], spacing=SPACING).isel(time=0)
    gain = np.ones(base.shape)
    gain[5:10, 15:25, 12:22] = 1.8  # an enhancing region (a lesion) of 500 voxels
    centre = np.array(to_sitk(ref).TransformContinuousIndexToPhysicalPoint([19.5, 19.5, 6.5]))
    t1 = sitk.Euler3DTransform(tuple(centre), 0.0, 0.0, 0.0, (1.3, -0.7, 2.1))
    t2 = sitk.Euler3DTransform(tuple(centre), 0.02, -0.015, 0.035, (-0.9, 1.6, -1.2))
    frames = np.stack([base, base * gain, _moved(ref, t1, gain), _moved(ref, t2, gain)])
    dce = make_dce(frames, [0.0, 12.0, 24.0, 36.0], spacing=SPACING, attrs={"tr_s": 0.0041})
    return dce, [sitk.Euler3DTransform(), sitk.Euler3DTransform(), t1, t2]


def _affine(t: sitk.Euler3DTransform) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(t.GetMatrix()).reshape(3, 3)
    c = np.asarray(t.GetCenter())
    return m, np.asarray(t.GetTranslation()) + c - m @ c


def _errors_vox(result: FrameRegistration, truth: list[sitk.Transform], dce: xr.DataArray) -> np.ndarray:
    """RMS and largest |estimated - true| displacement over all voxel centres (voxels), per frame."""
    from dcemets import world_coordinates

    pts = world_coordinates(dce.isel(time=0)).reshape(-1, 3)  # (n, 3) LPS mm
    tr = result.transforms
    out = []
    for k, t in enumerate(truth):
        m_t, o_t = _affine(t)
        d = (pts @ (tr.matrix.values[k] - m_t).T + (tr.offset.values[k] - o_t)) / SPACING
        n = np.linalg.norm(d, axis=1)
        out.append((np.sqrt(np.mean(n**2)), n.max()))
    return np.array(out)


def test_recovers_known_rigid_transform_within_a_tenth_of_a_voxel(known):
    dce, truth = known
    r = register_frames(dce, sampling=0.3, rng=1)
    err = _errors_vox(r, truth, dce)
    assert err[:, 0].max() < 0.1, err  # RMS over the volume: within a tenth of a voxel
    assert err[:, 1].max() < 0.15, err  # worst voxel (a corner, 45 mm from the centre)
    # the Euler parameters themselves, about the transform's centre
    t2 = truth[3]
    est = r.transforms.isel(time=3)
    c = np.asarray(r.transforms.attrs["center"])
    true_disp = np.array(t2.TransformPoint(tuple(c))) - c
    assert np.all(np.abs((est.displacement.values - true_disp) / SPACING) < 0.1)
    np.testing.assert_allclose(est.rotation.values, [0.02, -0.015, 0.035], atol=0.004)
    assert r.transforms.corrected.values[2:].all()
    # the corrected frames equal the frames resampled with the true transforms
    frames = to_sitk(dce)
    inner = (slice(3, 11), slice(8, 32), slice(8, 32))
    for k in (2, 3):
        ideal = sitk.Resample(frames[k], frames[0], truth[k], sitk.sitkLinear, 0.0, sitk.sitkFloat64, True)
        ideal = sitk.GetArrayFromImage(ideal)
        before = np.abs(dce.values[k] - ideal)[inner].mean()
        after = np.abs(r.dce.values[k] - ideal)[inner].mean()
        assert after < 0.1 * before, (k, before, after)


def test_translation_model_and_mask(known):
    dce, truth = known
    mask = like(dce, np.zeros(dce.shape[1:], bool))
    mask[2:12, 6:34, 6:34] = True
    r = register_frames(dce, transform="translation", mask=mask, sampling=0.3, rng=2)
    t1 = truth[2]
    c = np.asarray(r.transforms.attrs["center"])
    true_disp = np.array(t1.TransformPoint(tuple(c))) - c
    assert np.all(np.abs((r.transforms.displacement.values[2] - true_disp) / SPACING) < 0.1)
    np.testing.assert_array_equal(r.transforms.rotation.values, 0.0)
    np.testing.assert_array_equal(r.transforms.matrix.values, np.tile(np.eye(3), (4, 1, 1)))


def test_output_keeps_grid_attrs_order_and_input(known):
    dce, _ = known
    d = dce.transpose("x", "time", "z", "y").copy()
    snapshot = d.copy(deep=True)
    r = register_frames(d, rng=0, transform="translation")
    xr.testing.assert_identical(d, snapshot)  # input untouched
    assert r.dce.dims == d.dims
    for c in d.coords:
        np.testing.assert_array_equal(r.dce[c].values, d[c].values)
    assert {k: v for k, v in r.dce.attrs.items() if k != "motion_corrected"} == d.attrs
    assert r.dce.attrs["motion_corrected"] is True
    assert r.dce.dtype == d.dtype
    # the reference frame and the frames not corrected are returned bit for bit
    keep = ~r.transforms.corrected.values
    assert keep[0]
    np.testing.assert_array_equal(r.dce.isel(time=keep).values, d.isel(time=keep).values)
    assert r.transforms.attrs["reference_index"] == 0


def test_reference_frame_option(known):
    dce, _ = known
    r = register_frames(dce, reference=-1, transform="translation", sampling=0.3, rng=3)
    assert r.transforms.attrs["reference_index"] == 3
    assert not r.transforms.corrected.values[3]
    np.testing.assert_array_equal(r.transforms.offset.values[3], 0.0)


# --------------------------------------------------------------------------------------
# the simulator: a moving case and its motion-free twin (same seed, same noise)
# --------------------------------------------------------------------------------------


def _crop(case):
    m = case.lesion_mask.values
    y, x = (np.flatnonzero(m.any(axis=a)) for a in ((0, 2), (0, 1)))
    sl = {"y": slice(max(y[0] - 14, 0), y[-1] + 15), "x": slice(max(x[0] - 14, 0), x[-1] + 15)}
    return case.dce.isel(sl)


@pytest.fixture(scope="module")
def twins():
    # bulk motion only: with respiration the k-space-centre truth (motion_mm) differs from the
    # image's position (truth["motion_effective_mm"], tests/simulate/test_physics.py)
    moving = dataclasses.replace(
        DIFFICULTIES["hard"], motion_probability=1.0, respiratory_mm=0.0, bulk_motion_mm=4.0
    )
    still = dataclasses.replace(moving, bulk_motion_mm=0.0)
    # a case whose bulk motion exceeds a voxel in most frames (median 1.9 voxel): the truth
    # check needs motion well above the registration's ~0.2-voxel bias floor (rng=31 moved
    # 0.4 voxel once the DRO's anatomy drew differently)
    c = simulate_case("lung", rng=32, difficulty=moving)
    t = simulate_case("lung", rng=32, difficulty=still)
    return c, t


_BIAS = (
    "known defect (registration guide, Limits; left open when issue 20 closed): on the DRO's "
    "cropped spine region (SNR 10) Mattes-MI rigid registration is biased by enhancement: the "
    "motion-free twin shows 0.18-0.33 voxel of apparent motion at the corners of the region "
    "(0.25-0.69 with the pre-contrast frame fixed; measured 2026-12-04)"
)


@pytest.mark.xfail(strict=True, reason=_BIAS)
def test_identity_on_a_motion_free_case(twins):
    _, still = twins
    assert not np.any(still.truth["motion_mm"].values)
    dce = _crop(still)
    r = register_frames(dce, rng=5)
    assert r.motion_vox < 0.1, r.transforms.max_displacement_vox.values
    assert not r.transforms.corrected.values.any()
    np.testing.assert_array_equal(r.dce.values, dce.values)


def test_simulator_motion_truth_is_recovered(twins):
    """Both the registration and the simulator's truth["motion_mm"] (sign, axes, units)."""
    case, _ = twins
    true = case.truth["motion_mm"].values
    sp = np.asarray(case.dce.attrs["spacing_mm"])
    assert np.abs(true / sp).max() > 1.0  # the case moves by more than a voxel
    r = register_frames(_crop(case), rng=6)
    est = r.transforms.displacement.values
    resid = np.linalg.norm((est - true) / sp, axis=1)[1:]
    moved = np.linalg.norm(true / sp, axis=1)[1:]
    assert np.median(resid) < 0.5, resid
    assert np.median(resid) < 0.4 * np.median(moved)
    # the opposite sign (or swapped axes) would be far off
    assert np.median(np.linalg.norm((-est - true) / sp, axis=1)[1:]) > 2 * np.median(resid)
    assert r.motion_vox > 1.0


def test_registration_on_the_lesion_outline_box(twins):
    """The study's setting: the sagittal ROI on the DCE grid marks where to register; the metric
    on the box around it (+ 30 mm) recovers the motion, the metric on the ROI's voxels alone
    (a few hundred) is far worse."""
    from dcemets.segmentation import transfer_roi

    case, _ = twins
    eff = case.truth["motion_effective_mm"].values
    true = eff - eff[0]
    sp = np.asarray(case.dce.attrs["spacing_mm"])
    roi = transfer_roi(case.roi_sagittal, case.dce)
    box = register_frames(case.dce, mask=roi, margin_mm=30.0, metric_region="box", sampling=0.25, rng=7)
    assert box.transforms.attrs["metric_region"] == "box"
    resid = np.linalg.norm((box.transforms.displacement.values - true) / sp, axis=1)[1:]
    moved = np.linalg.norm(true / sp, axis=1)[1:]
    assert np.median(resid) < 0.4, resid
    assert np.median(resid) < 0.3 * np.median(moved)
    voxels = register_frames(case.dce, mask=roi, margin_mm=30.0, sampling=0.25, rng=7)
    resid_voxels = np.linalg.norm((voxels.transforms.displacement.values - true) / sp, axis=1)[1:]
    assert np.median(resid_voxels) > 2 * np.median(resid)


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"transform": "affine"}, ValueError, "transform"),
        ({"transform": 3}, TypeError, "transform"),
        ({"reference": 4}, ValueError, "reference"),
        ({"reference": 1.0}, TypeError, "reference"),
        ({"sampling": 0.0}, ValueError, "sampling"),
        ({"n_levels": 0}, ValueError, "n_levels"),
        ({"interpolator": "cubic"}, ValueError, "interpolator"),
        ({"min_displacement": -1.0}, ValueError, "min_displacement"),
        ({"margin_mm": float("nan")}, ValueError, "margin_mm"),
        ({"metric_region": "all"}, ValueError, "metric_region"),
        ({"metric_region": None}, TypeError, "metric_region"),
    ],
)
def test_bad_options(known, kwargs, error, word):
    dce, _ = known
    with pytest.raises(error, match=word):
        register_frames(dce, **kwargs)


def test_bad_inputs(known):
    dce, _ = known
    with pytest.raises(ValueError, match="dce"):
        register_frames(dce.isel(z=slice(0, 3)))
    with pytest.raises(ValueError, match="mask"):
        register_frames(dce, mask=like(dce, np.zeros(dce.shape[1:], bool)))
    with pytest.raises(ValueError, match="grid"):
        register_frames(dce, mask=like(dce.isel(x=slice(1, None)), np.ones((14, 40, 39), bool)))
    with pytest.raises(TypeError, match="dce"):
        register_frames(dce.values)
