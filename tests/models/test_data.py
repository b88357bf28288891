"""slice_dataset and to_tensor: boxes, zeroing, joint normalisation, resizing, errors."""

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from dcemets._conventions import make_dce, make_image
from dcemets.io import Case
from dcemets.models import slice_dataset, to_tensor

pytestmark = pytest.mark.torch

T = np.arange(12.0) * 12.0


def item(seed=0, label="lung", nz=5, ny=40, nx=40, group=None):
    rng = np.random.default_rng(seed)
    sig = 100 + rng.normal(0, 5, (12, nz, ny, nx))
    mask = np.zeros((nz, ny, nx), bool)
    mask[1, 10:16, 12:20] = True  # slice 1: rows 10-15, cols 12-19
    mask[3, 14:22, 8:14] = True  # slice 3: rows 14-21, cols 8-13
    sig[:, mask] += np.linspace(0, 200, 12)[:, None]
    dce, m = make_dce(sig, T, spacing=(1.5, 1.5, 3.0)), make_image(mask, spacing=(1.5, 1.5, 3.0))
    return (dce, m, label) if group is None else (dce, m, label, group)


def test_projected_box_and_slices():
    ds = slice_dataset([item(group="p7")], progress=False)
    assert ds.boxes == {"p7": (10, 22, 8, 20)}  # union of both slices' boxes
    assert ds.z.tolist() == [1, 3]
    assert ds.groups.tolist() == ["p7", "p7"]
    assert ds.y.tolist() == ["lung", "lung"]
    assert ds.X.shape == (2, 12, 1, 32, 32)
    assert ds.X.dtype == np.float32
    assert len(ds) == 2


def test_pad_mode_zero_outside_and_joint_normalisation():
    dce, mask, _ = item()
    ds = slice_dataset([(dce, mask, "lung")], crop=16, fit="pad", progress=False)
    box = ds.X[:, :, 0]  # (2, 12, 16, 16); box 12 x 12 centred: offset 2
    m = mask.values[[1, 3], 10:22, 8:20]
    inner = box[:, :, 2:14, 2:14]
    assert np.all(box[:, :, :2] == 0)
    assert np.all(box[:, :, 14:] == 0)
    assert np.all(inner[:, :, ~m[0]][0] == 0)  # outside the tumour of slice 1
    for s in range(2):
        vals = inner[s][:, m[s]]  # (12, n_pixels): all frames together
        assert vals.mean() == pytest.approx(0, abs=1e-5)
        assert vals.std() == pytest.approx(1, abs=1e-4)
        # the time course survives (not normalised frame by frame)
        assert vals[-1].mean() > vals[0].mean() + 2
    # exact values: the same affine map for every frame
    raw = dce.values[:, 1, 10:22, 8:20][:, m[0]]
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(inner[0][:, m[0]], expected, atol=1e-5)


def test_resize_keeps_constant_tumour():
    sig = np.ones((12, 3, 40, 40))
    sig[:, 1, 5:25, 10:17] = np.arange(1.0, 13.0)[:, None, None]
    mask = make_image(sig[-1] > 1)
    ds = slice_dataset([(make_dce(sig, T), mask, "other")], crop=8, progress=False)  # shrink 20x7 -> 8x8
    expected = (np.arange(1.0, 13.0) - 6.5) / np.arange(1.0, 13.0).std()
    np.testing.assert_allclose(ds.X[0, :, 0], np.broadcast_to(expected[:, None, None], (12, 8, 8)), atol=1e-5)


def test_enhancement_normalisation_exact_and_keeps_magnitude():
    dce, mask, _ = item()
    ds = slice_dataset([(dce, mask, "lung")], crop=16, fit="pad", normalise="enhancement", progress=False)
    inner = ds.X[:, :, 0, 2:14, 2:14]
    m = mask.values[[1, 3], 10:22, 8:20]
    raw = dce.values[:, 1, 10:22, 8:20][:, m[0]]
    np.testing.assert_allclose(inner[0][:, m[0]], raw / raw[0] - 1.0, rtol=1e-5, atol=1e-6)
    assert np.all(inner[:, :, ~m[0]][0] == 0)
    assert np.all(ds.X[:, :, :, :2] == 0)
    assert np.all(inner[:, 0][m] == 0)  # the first frame is S0 itself
    # a tumour enhancing half as much keeps half the enhancement (a z-score would map both alike)
    sig = np.full((12, 1, 20, 20), 100.0)
    sig[:, 0, 5:10, 5:10] += np.linspace(0, 200, 12)[:, None, None]
    weak = sig.copy()
    weak[:, 0, 5:10, 5:10] = 100 + np.linspace(0, 100, 12)[:, None, None]
    mk = make_image(sig[-1] > 100)
    rel = [
        slice_dataset([(make_dce(s, T), mk, "x")], crop=8, normalise="enhancement", progress=False).X
        for s in (sig, weak)
    ]
    np.testing.assert_allclose(rel[0][0, -1, 0], 2.0, rtol=1e-5)
    np.testing.assert_allclose(rel[1][0, -1, 0], 1.0, rtol=1e-5)
    z = [slice_dataset([(make_dce(s, T), mk, "x")], crop=8, progress=False).X for s in (sig, weak)]
    np.testing.assert_allclose(z[0], z[1], atol=1e-5)
    with pytest.raises(ValueError, match="normalise"):
        slice_dataset([(dce, mask, "x")], normalise="minmax", progress=False)


def test_maps_per_channel_from_dataset():
    _, mask, _ = item()
    rng = np.random.default_rng(1)
    maps = xr.Dataset(
        {
            name: (("z", "y", "x"), rng.normal(scale, scale / 4, mask.shape))
            for name, scale in (("wash_in", 100.0), ("max_se", 150.0), ("washout", 10.0))
        }
    )
    maps["washout"][1, 11, 13] = np.nan  # NaN inside the tumour becomes the mean (0)
    ds = slice_dataset([(maps, mask, "lung", "a")], inputs="maps", crop=16, fit="pad", progress=False)
    assert ds.X.shape == (2, 3, 16, 16)
    assert np.isfinite(ds.X).all()
    m = mask.values[1, 10:22, 8:20]
    for c in range(3):
        vals = ds.X[0, c, 2:14, 2:14][m]
        assert vals.mean() == pytest.approx(0, abs=1e-4)
    assert ds.X[0, 2, 2 + 1, 2 + 5] == 0


def test_maps_from_dce_use_kinetics():
    pytest.importorskip("dcemets.kinetics")
    ds = slice_dataset([item(group="q")], inputs="maps", progress=False)
    assert ds.X.shape == (2, 3, 32, 32)
    assert np.isfinite(ds.X).all()
    assert np.abs(ds.X).max() > 0.5


def test_cases_accepted():
    dce, mask, _ = item()
    cases = [
        Case("s1", dce, label="lung", lesion_mask=mask),
        Case("s2", dce, label="other", lesion_mask=mask),
    ]
    ds = slice_dataset(cases, progress=False)
    assert ds.groups.tolist() == ["s1", "s1", "s2", "s2"]
    assert ds.y.tolist() == ["lung", "lung", "other", "other"]


def test_inputs_not_modified():
    dce, mask, _ = item()
    before = dce.values.copy()
    slice_dataset([(dce, mask, "x")], progress=False)
    np.testing.assert_array_equal(dce.values, before)


def test_simulated_cohort():
    simulate = pytest.importorskip("dcemets.simulate")
    cases = simulate.simulate_cohort(composition={"lung": 1, "kidney": 1}, rng=3, progress=False)
    ds = slice_dataset(cases, progress=False)
    assert set(ds.groups) == {c.subject_id for c in cases}
    for c in cases:
        n = int(c.lesion_mask.any(("y", "x")).sum())
        assert (ds.groups == c.subject_id).sum() == n
    assert np.isfinite(ds.X).all()


# -- bad input ------------------------------------------------------------------------------
def test_wrong_number_of_frames():
    dce, mask, _ = item()
    with pytest.raises(ValueError, match="11 frames, expected n_frames=12"):
        slice_dataset([(dce.isel(time=slice(0, 11)), mask, "x")], progress=False)
    assert len(slice_dataset([(dce.isel(time=slice(0, 11)), mask, "x")], n_frames=None, progress=False)) == 2


def test_empty_mask():
    dce, mask, _ = item()
    with pytest.raises(ValueError, match="tumour mask is empty"):
        slice_dataset([(dce, mask & False, "x")], progress=False)


def test_crop_larger_than_image():
    dce, mask, _ = item()
    with pytest.raises(ValueError, match="larger than the image"):
        slice_dataset([(dce, mask, "x")], crop=48, progress=False)


def test_box_larger_than_crop_with_pad():
    dce, mask, _ = item()
    with pytest.raises(ValueError, match="larger than crop=8"):
        slice_dataset([(dce, mask, "x")], crop=8, fit="pad", progress=False)


def test_other_errors():
    dce, mask, _ = item()
    with pytest.raises(ValueError, match="inputs"):
        slice_dataset([(dce, mask, "x")], inputs="t2w", progress=False)
    with pytest.raises(ValueError, match="fit"):
        slice_dataset([(dce, mask, "x")], fit="crop", progress=False)
    with pytest.raises(ValueError, match="crop"):
        slice_dataset([(dce, mask, "x")], crop=0, progress=False)
    with pytest.raises(ValueError, match="empty"):
        slice_dataset([], progress=False)
    with pytest.raises(TypeError, match=r"items\[0\]"):
        slice_dataset([dce], progress=False)
    with pytest.raises(ValueError, match="duplicate"):
        slice_dataset([(dce, mask, "x", "a"), (dce, mask, "y", "a")], progress=False)
    with pytest.raises(ValueError, match="lesion_mask"):
        slice_dataset([Case("s", dce, label="x")], progress=False)
    with pytest.raises(ValueError, match="different grids"):
        slice_dataset([(dce, make_image(mask.values[:, :, :-1]), "x")], progress=False)
    with pytest.raises(TypeError, match="bool"):
        slice_dataset([(dce, mask.astype(float), "x")], progress=False)


def test_to_tensor_layouts():
    dce, mask, _ = item()
    t = to_tensor(dce.transpose("y", "time", "x", "z"))
    assert t.shape == (5, 12, 1, 40, 40)
    np.testing.assert_array_equal(t[2, 4, 0].numpy(), dce.values[4, 2].astype(np.float32))
    assert to_tensor(mask).shape == (5, 1, 40, 40)
    ds = xr.Dataset({"a": mask.astype(float), "b": mask.astype(float) * 2})
    t = to_tensor(ds, variables=["b", "a"])
    assert t.shape == (5, 2, 40, 40)
    assert float(t[:, 0].sum()) == 2 * float(t[:, 1].sum())
    assert to_tensor(np.zeros((2, 3))).dtype == torch.float32
    with pytest.raises(TypeError):
        to_tensor([1, 2])
    with pytest.raises(ValueError, match="dims"):
        to_tensor(dce.isel(z=0))


def test_to_tensor_rejects_bad_values_and_devices():
    dce = make_dce(np.ones((3, 1, 4, 4)), [0.0, 10.0, 20.0])
    assert to_tensor(dce.isel(time=[0])).shape == (1, 1, 1, 4, 4)  # any number of frames
    bad = dce.copy(data=dce.values.copy())
    bad.values[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="`data`"):
        to_tensor(bad)
    with pytest.raises(ValueError, match=r"`data\.time`"):
        to_tensor(dce.assign_coords(time=[20.0, 10.0, 0.0]))
    with pytest.raises(TypeError, match="`data`"):
        to_tensor(np.ones(3, dtype=complex))
    with pytest.raises(ValueError, match="`data`"):
        to_tensor(torch.tensor([1.0, float("inf")]))
    with pytest.raises(TypeError, match="`device`"):
        to_tensor(dce, device=3)
    with pytest.raises(ValueError, match="`device`"):
        to_tensor(dce, device="no-such-device")
    with pytest.raises(TypeError, match="`dtype`"):
        to_tensor(dce, dtype="float32")


def test_slice_dataset_bad_items_and_frames():
    with pytest.raises(TypeError, match="`items`"):
        slice_dataset(None, progress=False)
    with pytest.raises(TypeError, match="`n_frames`"):
        slice_dataset([], n_frames=12.0, progress=False)
