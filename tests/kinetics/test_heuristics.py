import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dcemets._conventions import like, make_dce
from dcemets.kinetics import heuristics, hotspot_roi, parametric_maps, roi_curve

T12 = np.arange(12) * 12.0
WASHOUT = np.array([100, 100, 150, 190, 200, 195, 190, 185, 180, 175, 170, 165.0])
RISING = 100.0 + 10.0 * np.arange(12)
RISING[0] = 100.0


def test_peak_rule_by_hand():
    h = heuristics(WASHOUT, time=T12)
    # S0 100; adjacent rises up to the peak (frame 4): 50, 40, 10 -> S1 = 1, S2 = 2
    assert float(h.wash_in) == pytest.approx(50.0)
    assert (int(h.s1_index), int(h.s2_index), int(h.peak_index)) == (1, 2, 4)
    assert float(h.max_se) == pytest.approx(100.0)
    # injection at frame 1 (12 s) -> peak 36 s after injection <= 85 -> peak rule
    assert int(h.washout_rule) == 0
    assert float(h.washout) == pytest.approx((165 - 200) / 200 * 100)
    assert h.wash_in.attrs["units"] == "%"


def test_late_rule_by_hand():
    s = np.array([100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210.0])
    h = heuristics(s, time=T12)
    # peak at 132 s = 120 s after injection (12 s) > 85 -> S(12 + 67 = 79 s), interpolated
    s67 = 160 + 10 * (79 - 72) / 12
    assert int(h.washout_rule) == 1
    assert float(h.washout) == pytest.approx((210 - s67) / s67 * 100)
    assert float(h.wash_in) == pytest.approx(10.0)
    assert float(h.max_se) == pytest.approx(110.0)
    assert int(h.s1_index) == 0
    assert h.attrs["late_reference_time_s"] == pytest.approx(79.0)


def test_cutoff_boundary_inclusive_and_injection_time():
    t = np.array([0.0, 5.0, 45.0, 85.0, 100.0, 120.0])
    s = np.array([100.0, 100.0, 150.0, 180.0, 170.0, 160.0])
    # injection at 0 s: peak at 85 s -> exactly the cutoff -> peak rule
    h = heuristics(s, time=t, injection_time=0.0)
    assert int(h.washout_rule) == 0
    assert float(h.washout) == pytest.approx((160 - 180) / 180 * 100)
    # an injection 1 s earlier pushes the peak past the cutoff -> late rule at -1 + 67 = 66 s
    h2 = heuristics(s, time=t, injection_time=-1.0)
    s66 = 150 + 30 * (66 - 45) / 40
    assert int(h2.washout_rule) == 1
    assert float(h2.washout) == pytest.approx((160 - s66) / s66 * 100)


def test_default_injection_time_from_attr_and_n_baseline():
    curve = xr.DataArray(WASHOUT, dims="time", coords={"time": T12}, attrs={"injection_time_s": 30.0})
    h = heuristics(curve, n_baseline=2)
    assert h.attrs["injection_time_s"] == 30.0
    assert h.attrs["n_baseline"] == 2
    h2 = heuristics(WASHOUT, time=T12, n_baseline=2)
    assert h2.attrs["injection_time_s"] == 24.0  # frame n_baseline


def test_flat_curve_zero_and_no_crash():
    h = heuristics(np.full(12, 50.0), time=T12)
    for v in ("wash_in", "max_se", "washout"):
        assert float(h[v]) == 0.0
    assert int(h.peak_index) == 0


@settings(max_examples=60, deadline=None)
@given(
    curve=arrays(float, 12, elements=st.floats(1.0, 1e4)),
    scale=st.floats(1e-3, 1e3),
)
def test_scale_invariance(curve, scale):
    a = heuristics(curve, time=T12)
    b = heuristics(curve * scale, time=T12)
    for v in ("wash_in", "max_se", "washout"):
        np.testing.assert_allclose(float(b[v]), float(a[v]), rtol=1e-9, atol=1e-9)
    for v in ("s1_index", "s2_index", "peak_index", "washout_rule"):
        assert int(a[v]) == int(b[v])
    # peak is the maximum and the wash-in pair precedes it
    assert float(a.max_se) >= 0
    assert int(a.s2_index) <= int(a.peak_index)


def _volume(rng=0):
    rng = np.random.default_rng(rng)
    base = np.stack([WASHOUT, RISING, np.full(12, 80.0)])
    v = base[rng.integers(0, 3, (2, 3, 4))] * rng.uniform(0.5, 2, (2, 3, 4, 1))
    v += rng.normal(0, 1, v.shape)
    return make_dce(np.moveaxis(v, -1, 0), T12, attrs={"injection_time_s": 12.0})


def test_volume_matches_curves_numpy_and_dask(no_compute):
    dce = _volume()
    h = heuristics(dce)
    assert h.wash_in.dims == ("z", "y", "x")
    for z, y, x in [(0, 0, 0), (1, 2, 3), (0, 1, 2)]:
        hc = heuristics(dce.values[:, z, y, x], time=T12, injection_time=12.0)
        for v in h.data_vars:
            np.testing.assert_allclose(h[v].values[z, y, x], hc[v].values)
    hn = heuristics(np.moveaxis(dce.values, 0, -1), time=T12, injection_time=12.0)
    np.testing.assert_allclose(hn.washout.values, h.washout.values)
    with no_compute():
        lazy = heuristics(dce.chunk({"z": 1, "y": 2}))
        maps_lazy = parametric_maps(dce.chunk({"z": 1}))
    assert lazy.wash_in.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), h)
    maps = parametric_maps(dce)
    xr.testing.assert_allclose(maps_lazy.compute(), maps)
    np.testing.assert_allclose(maps.max_se.values, h.max_se.values)
    assert maps.washout.attrs["units"] == "%"
    assert "affine" in maps.washout.attrs


def test_nan_voxel_skipped_and_reported():
    dce = _volume()
    ref = heuristics(dce)
    vals = dce.values.copy()
    vals[5, 0, 1, 1] = np.nan
    bad = dce.copy(data=vals)
    with pytest.warns(RuntimeWarning, match="1 curve"):
        h = heuristics(bad)
    assert np.isnan(h.washout.values[0, 1, 1])
    assert int(h.washout_rule.values[0, 1, 1]) == -1
    keep = np.ones((2, 3, 4), bool)
    keep[0, 1, 1] = False
    np.testing.assert_array_equal(h.washout.values[keep], ref.washout.values[keep])


def test_nonpositive_baseline_reports_count():
    dce = _volume()
    vals = dce.values.copy()
    vals[0, 0, 0, :2] = 0.0
    with pytest.raises(ValueError, match="2 voxel"):
        heuristics(dce.copy(data=vals))
    # restricted by a mask, the bad voxels are not computed
    mask = np.ones((2, 3, 4), bool)
    mask[0, 0, :2] = False
    maps = parametric_maps(dce.copy(data=vals), mask=like(dce, mask))
    assert np.isnan(maps.wash_in.values[0, 0, 0])
    assert np.isfinite(maps.wash_in.values[mask]).all()


def test_parametric_maps_with_hotspot_frames():
    # voxel A: early peak (frame 4); voxel B: rising, own peak = last frame
    v = np.stack([WASHOUT, RISING], axis=-1)[:, None, None, :]
    dce = make_dce(v, T12)
    frames = heuristics(WASHOUT, time=T12)
    maps = parametric_maps(dce, frames=frames)
    b = RISING
    # B evaluated on A's frames: S1 = 1, S2 = 2, Smax = frame 4, peak rule
    assert maps.wash_in.values[0, 0, 1] == pytest.approx((b[2] - b[1]) / b[0] * 100)
    assert maps.max_se.values[0, 0, 1] == pytest.approx((b[4] - b[0]) / b[0] * 100)
    assert maps.washout.values[0, 0, 1] == pytest.approx((b[-1] - b[4]) / b[4] * 100)
    own = parametric_maps(dce)
    assert own.max_se.values[0, 0, 1] == pytest.approx(110.0)
    assert maps.attrs["frames"] == "hot-spot"
    # late-rule frames use S(67 s after injection) for every voxel
    late = parametric_maps(dce, frames=heuristics(RISING, time=T12))
    s67 = WASHOUT[6] + (WASHOUT[7] - WASHOUT[6]) * 7 / 12
    assert late.washout.values[0, 0, 0] == pytest.approx((WASHOUT[-1] - s67) / s67 * 100)


def test_hotspot_roi_smooths_and_clips():
    v = np.full((3, 2, 9, 9), 100.0)
    v[1:, 1, 3:6, 3:6] = 250.0  # avid region on slice 1
    v[1:, 0, 0, 0] = 900.0  # isolated noise maximum (highest single voxel)
    dce = make_dce(v, [0.0, 10.0, 20.0])
    mask = np.zeros((2, 9, 9), bool)
    mask[:, :, :5] = True  # lesion: left part, clips the 3 x 3 ROI
    roi = hotspot_roi(dce, within=like(dce, mask), size=3, guards=False)  # the paper's method
    assert roi.dtype == bool
    z, y, _x = roi.attrs["center_index"]
    assert z == 1
    assert 3 <= y <= 5
    assert roi.values[1].sum() == int((roi.values[1] & mask[1]).sum())
    assert not roi.values[0].any()
    assert 1 <= int(roi.sum()) <= 9
    curve = roi_curve(dce, roi)
    assert curve.dims == ("time",)
    np.testing.assert_allclose(curve.values, [100, 250, 250])
    with pytest.raises(ValueError, match="empty"):
        hotspot_roi(dce, within=like(dce, np.zeros((2, 9, 9), bool)))
    with pytest.raises(ValueError, match="odd"):
        hotspot_roi(dce, within=like(dce, mask), size=2)


def test_roi_curve_bad_input():
    dce = _volume()
    with pytest.raises(ValueError, match="empty"):
        roi_curve(dce, like(dce, np.zeros((2, 3, 4), bool)))
    other = make_dce(np.ones((12, 2, 3, 5)), T12)
    with pytest.raises(ValueError, match=r"grid|dims|size"):
        roi_curve(dce, like(other, np.ones((2, 3, 5), bool)))


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        ({"signal": np.ones(2) * 10, "time": [0.0, 1.0]}, ValueError, "3 time points"),
        ({"signal": np.ones(3) * 10, "time": [0.0, 2.0, 1.0]}, ValueError, "increasing"),
        ({"signal": np.ones(12) * 10}, TypeError, "time"),
        ({"signal": np.ones(12) * 10, "time": T12, "n_baseline": 12}, ValueError, "n_baseline"),
        ({"signal": np.ones(12) * 10, "time": T12, "late_reference": 500.0}, ValueError, "late reference"),
        ({"signal": np.ones(11) * 10, "time": T12}, ValueError, "last axis"),
        ({"signal": "abc", "time": T12}, TypeError, "signal"),
    ],
)
def test_heuristics_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        heuristics(**args)


def test_inputs_not_modified():
    dce = _volume()
    before = dce.values.copy()
    heuristics(dce)
    parametric_maps(dce)
    np.testing.assert_array_equal(dce.values, before)


def test_timedelta_times_are_read_as_seconds():
    """Issue 16.6: timedelta64 frame times were read as nanoseconds (wash-out 65 % not -17.5 %)."""
    td = (T12 * 1e9).astype("timedelta64[ns]")
    dce = make_dce(np.tile(WASHOUT[:, None, None, None], (1, 1, 2, 2)), T12).assign_coords(time=td)
    maps = parametric_maps(dce)
    np.testing.assert_allclose(maps.washout.values, (165 - 200) / 200 * 100)
    curve = xr.DataArray(WASHOUT, dims="time", coords={"time": td})
    assert float(heuristics(curve).washout) == pytest.approx(-17.5)
    assert float(heuristics(WASHOUT, time=td).washout) == pytest.approx(-17.5)
    dt = np.datetime64("2024-05-01T10:00:00", "ns") + td
    assert float(heuristics(WASHOUT, time=dt).washout) == pytest.approx(-17.5)


def test_parametric_maps_empty_mask_raises():
    """Issue 16.8: an all-False mask gave all-NaN maps silently (hotspot_roi raises)."""
    dce = make_dce(np.tile(WASHOUT[:, None, None, None], (1, 1, 2, 2)), T12)
    with pytest.raises(ValueError, match=r"`mask` is empty"):
        parametric_maps(dce, mask=like(dce, np.zeros((1, 2, 2), bool)))


def test_zero_baseline_errors_name_the_argument():
    """Issue 16.13: zero-baseline errors of the volume functions did not name `dce`."""
    v = np.tile(WASHOUT[:, None, None, None], (1, 1, 2, 2))
    v[0, 0, 0, 0] = 0.0
    dce = make_dce(v, T12)
    frames = heuristics(WASHOUT, time=T12)
    for call in (
        lambda: parametric_maps(dce),
        lambda: parametric_maps(dce, frames=frames),
        lambda: hotspot_roi(dce, within=like(dce, np.ones((1, 2, 2), bool)), guards=False),
    ):
        with pytest.raises(ValueError, match=r"^`dce`: baseline signal S0 .* in 1 voxel"):
            call()
    with pytest.raises(ValueError, match=r"^`signal`: baseline signal S0"):
        heuristics(dce)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_single_nonfinite_curve_gives_nan_heuristics(bad):
    s = WASHOUT.copy()
    s[5] = bad
    with pytest.warns(RuntimeWarning, match="1 curve"):
        h = heuristics(s, time=T12)
    assert np.isnan(float(h.wash_in))
    assert np.isnan(float(h.washout))
    assert int(h.peak_index) == -1
    assert int(h.washout_rule) == -1


@pytest.mark.parametrize("name", ["peak_cutoff", "late_reference"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_timing_options_must_be_positive(name, value):
    with pytest.raises(ValueError, match=rf"`{name}` must be a positive number"):
        heuristics(WASHOUT, time=T12, **{name: value})


def test_heuristics_errors_name_time_and_refuse_strings():
    with pytest.raises(ValueError, match=r"`time` has 13 values"):
        heuristics(WASHOUT, time=np.arange(13) * 12.0)
    with pytest.raises(TypeError, match=r"`signal` must be numeric"):
        heuristics(WASHOUT.astype(str), time=T12)
    with pytest.raises(TypeError, match=r"`signal` must hold numbers"):
        heuristics(xr.DataArray(WASHOUT.astype(str), dims="time", coords={"time": T12}))
