import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dcemets._conventions import like, make_dce, make_image
from dcemets.kinetics import concentration_to_signal, signal_to_concentration


def test_osipi_si2conc(osipi_s2c):
    assert len(osipi_s2c) == 5
    for case in osipi_s2c:
        # OSIPI convention: S_pre = mean(s[1:n]) (first sample excluded) -> drop sample 0
        s = case["s"][1:]
        got = signal_to_concentration(
            s, t10=case["t10"], flip_angle=case["fa"], tr=case["tr"], r1=case["r1"], n_baseline=case["nb"] - 1
        )
        np.testing.assert_allclose(got, case["conc"][1:], atol=1e-5, rtol=1e-5, err_msg=case["label"])


def test_notes_table_nonlinearity():
    # /notes table: TR 4.1 ms, FA 10, T10 1.2 s, r1 4.5 -> S/S0 - 1 for C = 0.1 ... 4 mM
    c = np.array([[0.0, 0.1, 0.5, 1.0, 2.0, 4.0]])
    s = concentration_to_signal(c, t10=1.2, flip_angle=10.0, tr=0.0041, r1=4.5)
    np.testing.assert_allclose((s[0, 1:] / s[0, 0] - 1), [0.40, 1.48, 2.22, 2.97, 3.57], atol=0.006)


@settings(max_examples=40, deadline=None)
@given(
    conc=st.lists(st.floats(0.0, 5.0), min_size=3, max_size=8),
    t10=st.floats(0.3, 3.0),
    fa=st.floats(2.0, 40.0),
    tr=st.floats(0.002, 0.01),
    m0=st.floats(1.0, 1e4),
)
def test_round_trip(conc, t10, fa, tr, m0):
    c = np.array([[0.0, *conc]])
    s = concentration_to_signal(c, t10=t10, flip_angle=fa, tr=tr, r1=4.5, m0=m0)
    back = signal_to_concentration(s, t10=t10, flip_angle=fa, tr=tr, r1=4.5)
    np.testing.assert_allclose(back, c, atol=1e-7 * (1 + c.max()), rtol=1e-6)


def test_t10_map_broadcast_and_inputs_untouched():
    c = np.tile(np.array([0.0, 0.3, 1.0]), (2, 3, 1))
    t10 = np.array([[0.8, 1.0, 1.2], [1.4, 1.6, 1.8]])
    s = concentration_to_signal(c, t10=t10, flip_angle=15, tr=0.004, r1=4.0)
    s_copy = s.copy()
    back = signal_to_concentration(s, t10=t10, flip_angle=15, tr=0.004, r1=4.0)
    np.testing.assert_allclose(back, c, atol=1e-10)
    np.testing.assert_array_equal(s, s_copy)


def test_impossible_inversion_reported():
    s = np.array([[100.0, 150.0, 1e6]])
    with pytest.warns(RuntimeWarning, match="1 sample"):
        c, valid = signal_to_concentration(s, t10=1.0, flip_angle=10, tr=0.004, r1=4.5, return_valid=True)
    assert np.isnan(c[0, 2])
    assert not valid[0, 2]
    assert valid[0, :2].all()


def test_nonpositive_baseline_counts_voxels():
    s = np.array([[0.0, 1.0, 2.0], [-1.0, 1.0, 2.0], [1.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match="2 voxel"):
        signal_to_concentration(s, t10=1.0, flip_angle=10, tr=0.004, r1=4.5)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"tr": -0.004}, "tr"),
        ({"flip_angle": 0.0}, "flip_angle"),
        ({"flip_angle": 200.0}, "flip_angle"),
        ({"r1": 0.0}, "r1"),
        ({"t10": -1.0}, "t10"),
        ({"n_baseline": 0}, "n_baseline"),
    ],
)
def test_bad_acquisition(kw, match):
    args = {"t10": 1.0, "flip_angle": 10.0, "tr": 0.004, "r1": 4.5} | kw
    with pytest.raises(ValueError, match=match):
        signal_to_concentration(np.ones((2, 4)), **args)


def test_missing_parameter_is_typeerror():
    with pytest.raises(TypeError, match="tr"):
        signal_to_concentration(np.ones((2, 4)), t10=1.0, flip_angle=10.0, r1=4.5)


def test_dataarray_attrs_and_dask_lazy(no_compute):
    rng = np.random.default_rng(0)
    c = np.concatenate([np.zeros((1, 2, 3, 4)), rng.uniform(0, 3, (5, 2, 3, 4))])
    attrs = {"tr_s": 0.0041, "flip_angle_deg": 10.0, "r1_per_mM_s": 4.5}
    s_np = concentration_to_signal(
        np.moveaxis(c, 0, -1), t10=1.2, flip_angle=10.0, tr=0.0041, r1=4.5, m0=500.0
    )
    dce = make_dce(np.moveaxis(s_np, -1, 0), np.arange(6.0) * 10, attrs=attrs)
    t10 = xr.full_like(dce.isel(time=0, drop=True), 1.2)
    chunked = dce.chunk({"z": 1})
    with no_compute():
        lazy = signal_to_concentration(chunked, t10=t10)
    assert lazy.chunks is not None
    got = lazy.compute()
    assert got.dims == dce.dims
    assert got.attrs["units"] == "mM"
    assert got.attrs["tr_s"] == 0.0041
    np.testing.assert_allclose(got.values, c, atol=1e-9)
    eager = signal_to_concentration(dce, t10=1.2)
    np.testing.assert_allclose(eager.values, got.values)


def test_dataarray_forward_scalar_and_map_round_trip(no_compute):
    rng = np.random.default_rng(4)
    c = rng.uniform(0, 2, (5, 2, 3, 4))
    c[0] = 0.0
    conc = make_dce(c, np.arange(5.0) * 10, name="c")
    s = concentration_to_signal(conc, t10=1.2, flip_angle=10, tr=0.004, r1=4.5)
    assert s.dims == conc.dims
    assert s.attrs["r1_per_mM_s"] == 4.5
    m0 = xr.full_like(conc.isel(time=0, drop=True), 3.0)
    t10 = xr.full_like(conc.isel(time=0, drop=True), 1.2)
    s2 = concentration_to_signal(conc, t10=t10, flip_angle=10, tr=0.004, r1=4.5, m0=m0)
    np.testing.assert_allclose(s2.values, 3.0 * s.values)
    with no_compute():
        lazy = concentration_to_signal(conc.chunk({"z": 1}), t10=1.2, flip_angle=10, tr=0.004, r1=4.5)
        back = signal_to_concentration(lazy, t10=1.2)  # acquisition parameters from attrs
    np.testing.assert_allclose(back.values, c, atol=1e-9)


ACQ = {"tr_s": 0.004, "flip_angle_deg": 10.0, "r1_per_mM_s": 4.5}


def _signal_dce(n=4):
    return make_dce(
        np.full((n, 1, 1, 2), 100.0) + np.arange(n)[:, None, None, None], np.arange(n) * 10.0, attrs=ACQ
    )


@pytest.mark.parametrize(
    ("make_bad", "match"),
    [
        (lambda d: d.isel(time=[2, 0, 1, 3]), r"`signal.time` must be strictly increasing"),
        (
            lambda d: d.assign_coords(time=[0.0, 0.0, 10.0, 20.0]),
            r"`signal.time` must be strictly increasing",
        ),
        (lambda d: d.assign_coords(time=[np.nan, 0.0, 10.0, 20.0]), r"`signal.time` must be finite"),
        (lambda d: d.isel(time=[0]), r"`signal` has 1 frame\(s\).*2 in all"),
    ],
)
def test_signal_time_axis_validated(make_bad, match):
    """Issue 16.7: shuffled, duplicate, NaN times and a single frame were converted silently."""
    with pytest.raises(ValueError, match=match):
        signal_to_concentration(make_bad(_signal_dce()), t10=1.0)


def test_signal_needs_a_frame_after_the_baseline():
    acq = {"t10": 1.0, "flip_angle": 10.0, "tr": 0.004, "r1": 4.5}
    with pytest.raises(ValueError, match=r"`signal` has 1 frame"):
        signal_to_concentration(np.array([[100.0]]), **acq)
    with pytest.raises(ValueError, match=r"`signal` has 3 frame.*`n_baseline`=3"):
        signal_to_concentration(np.ones((2, 3)), n_baseline=3, **acq)
    with pytest.raises(ValueError, match=r"`signal` has 4 frame.*`n_baseline`=4"):
        signal_to_concentration(_signal_dce(), t10=1.0, n_baseline=4)
    assert signal_to_concentration(np.ones((2, 4)), n_baseline=3, **acq).shape == (2, 4)


@pytest.mark.parametrize(
    ("make_bad", "match"),
    [
        (lambda d: d.isel(time=[2, 0, 1, 3]), r"`conc.time` must be strictly increasing"),
        (lambda d: d.assign_coords(time=[0.0, 0.0, 10.0, 20.0]), r"`conc.time` must be strictly increasing"),
        (lambda d: d.assign_coords(time=[np.nan, 0.0, 10.0, 20.0]), r"`conc.time` must be finite"),
    ],
)
def test_conc_time_axis_validated(make_bad, match):
    conc = _signal_dce() * 0.0
    with pytest.raises(ValueError, match=match):
        concentration_to_signal(make_bad(conc), t10=1.0, flip_angle=10.0, tr=0.004, r1=4.5)


def test_complex_signal_refused():
    acq = {"t10": 1.0, "flip_angle": 10.0, "tr": 0.004, "r1": 4.5}
    with pytest.raises(TypeError, match=r"`signal` is complex.*np\.abs"):
        signal_to_concentration(np.ones((2, 4)) * (1 + 1j), **acq)
    with pytest.raises(TypeError, match=r"`signal` is complex.*np\.abs"):
        signal_to_concentration(_signal_dce() * (1 + 1j), t10=1.0)


@pytest.mark.parametrize("m0", [np.nan, np.inf, -1.0, np.array([1.0, np.nan])])
def test_bad_m0_raises(m0):
    """Issue 16.12: m0=nan gave an all-NaN signal silently."""
    with pytest.raises(ValueError, match=r"`m0` \(a\.u\.\) must be non-negative and finite, got 1 bad"):
        concentration_to_signal(np.zeros((2, 3)), t10=1.0, flip_angle=10, tr=0.004, r1=4.5, m0=m0)


def test_zero_m0_is_no_signal():
    s = concentration_to_signal(np.ones((2, 3)), t10=1.0, flip_angle=10, tr=0.004, r1=4.5, m0=[0.0, 1.0])
    np.testing.assert_array_equal(s[0], 0.0)
    assert (s[1] > 0).all()


def test_maps_must_fit_the_data():
    """Issue 16.13: a wrong-shape m0 gave a numpy broadcast error (or a silently larger output),
    a t10 map on another grid an xarray AlignmentError that named no argument."""
    acq = {"flip_angle": 10, "tr": 0.004, "r1": 4.5}
    with pytest.raises(ValueError, match=r"`m0` has shape \(3,\), which does not broadcast .* `conc`"):
        concentration_to_signal(np.zeros((2, 5)), t10=1.0, m0=np.ones(3), **acq)
    with pytest.raises(ValueError, match=r"`m0` has shape \(2, 2\).* \(2,\)"):  # would give (2, 2, 5)
        concentration_to_signal(np.zeros((2, 5)), t10=1.0, m0=np.ones((2, 2)), **acq)
    with pytest.raises(ValueError, match=r"`t10` has shape \(4,\).*`signal`"):
        signal_to_concentration(np.ones((2, 5)), t10=np.ones(4), **acq)
    dce = _signal_dce()
    with pytest.raises(TypeError, match=r"give `m0` as a scalar or a DataArray"):
        concentration_to_signal(dce * 0.0, t10=1.0, m0=np.ones(3), **acq)
    with pytest.raises(ValueError, match=r"`m0` has dims \('q',\).*may not have \('q',\)"):
        concentration_to_signal(dce * 0.0, t10=1.0, m0=xr.DataArray(np.ones(3), dims="q"), **acq)
    other = make_image(np.ones((1, 3, 3)))
    with pytest.raises(ValueError, match=r"`signal` and `t10` are on different grids"):
        signal_to_concentration(dce, t10=other)
    shifted = make_image(np.ones((1, 1, 2)), origin=(5.0, 0.0, 0.0))  # same coords, other place
    with pytest.raises(ValueError, match=r"`signal` and `t10` are on different grids: origin"):
        signal_to_concentration(dce, t10=shifted)
    with pytest.raises(ValueError, match=r"`m0` is not on the grid of `conc`"):
        concentration_to_signal(
            dce * 0.0, t10=1.0, m0=xr.DataArray([1.0, 1.0], dims="x", coords={"x": [5.0, 6.0]}), **acq
        )
    ok = signal_to_concentration(dce, t10=like(dce, np.ones((1, 1, 2))))
    np.testing.assert_array_equal(ok.values, signal_to_concentration(dce, t10=1.0).values)


def test_zero_baseline_error_names_signal():
    with pytest.raises(ValueError, match=r"^`signal`: baseline signal S0 .* 1 voxel"):
        signal_to_concentration(np.array([[0.0, 1.0, 2.0]]), t10=1.0, flip_angle=10, tr=0.004, r1=4.5)


def test_concentration_to_signal_refuses_nonfinite_or_empty_conc():
    acq = {"t10": 1.2, "flip_angle": 10.0, "tr": 0.0041, "r1": 4.5}
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match=r"`conc` must be finite, got 1 NaN or infinite"):
            concentration_to_signal(np.array([[0.0, bad, 1.0]]), **acq)
    with pytest.raises(ValueError, match=r"`conc` needs at least 1 value"):
        concentration_to_signal(np.zeros((1, 0)), **acq)
    with pytest.raises(TypeError, match=r"`conc` must be numeric"):
        concentration_to_signal(np.array([["0.0", "1.0"]]), **acq)


def test_signal_to_concentration_infinite_samples_give_nan():
    acq = {"t10": 1.2, "flip_angle": 10.0, "tr": 0.0041, "r1": 4.5, "n_baseline": 2}
    c = np.array([[0.0, 0.0, 0.5, 2.0], [0.0, 0.0, 0.5, 2.0]])
    s = concentration_to_signal(c, t10=1.2, flip_angle=10.0, tr=0.0041, r1=4.5, m0=1000.0)
    s_inf = s.copy()
    s_inf[0, 0] = np.inf  # a baseline frame: the whole curve is unusable
    s_inf[1, 3] = np.inf  # a late frame: that sample only
    out = signal_to_concentration(s_inf, **acq)
    assert np.isnan(out[0]).all()
    np.testing.assert_allclose(out[1, :3], [0.0, 0.0, 0.5], atol=1e-9)
    assert np.isnan(out[1, 3])
    assert np.isinf(s_inf[0, 0])  # the input is not modified
