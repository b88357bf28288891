import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dcemets.kinetics import _np, biexponential_aif, parker_aif, patlak, tofts


def _brute(t_aif, a, k_min, times, n=400001):
    """Quadrature of the exact piecewise-linear convolution on a very fine grid."""
    tf = np.union1d(np.linspace(t_aif[0], t_aif[-1], n), np.concatenate([t_aif, times]))
    af = np.interp(tf, t_aif, a)
    k = k_min / 60.0
    out = []
    for tt in times:
        s = tf <= tt
        out.append(np.trapezoid(af[s] * np.exp(-k * (tt - tf[s])), tf[s]))
    return np.array(out)


def test_tofts_biexponential_closed_form():
    # dcemriS4 "weinmann" oracle: Ct = D Ktrans sum a_i (e^{-m_i t} - e^{-kep t}) / (kep - m_i)
    t = np.arange(0.0, 600.5, 0.5)
    cp = biexponential_aif(t)
    ktrans, kep = np.array([0.05, 0.2, 0.35]), np.array([0.3, 0.7, 2.0])
    tm = t / 60
    exact = np.stack(
        [
            0.1
            * k
            * sum(
                ai * (np.exp(-mi * tm) - np.exp(-ke * tm)) / (ke - mi)
                for ai, mi in ((3.99, 0.144), (4.78, 0.0111))
            )
            for k, ke in zip(ktrans, kep)
        ]
    )
    got = tofts(t, cp, ktrans, kep)
    # the AIF is exponential, the model treats it as piecewise linear on 0.5 s: O(dt^2) error
    np.testing.assert_allclose(got, exact, atol=1e-6, rtol=1e-5)


def test_tofts_exact_for_piecewise_linear_aif():
    t = np.arange(0.0, 300.5, 0.5)
    cp = parker_aif(t, delay=20.0)
    times = np.array([0.0, 23.3, 50.0, 120.7, 300.0])
    got = tofts(times, cp, 0.2, 0.9, aif_time=t)
    ref = 0.2 / 60 * _brute(t, cp, 0.9, times)
    np.testing.assert_allclose(got, ref, atol=1e-7, rtol=1e-6)


def test_nonuniform_grid_and_derivative():
    ta = np.array([0.0, 0.7, 1.5, 3.0, 3.1, 8.0, 20.0, 21.0])
    a = np.array([0.0, 1.0, 3.0, 2.0, 2.5, 1.0, 0.5, 0.4])
    times = np.array([0.0, 2.0, 8.0, 20.5])
    for k in (0.0, 0.5, 3.0, 30.0):
        got = tofts(times, a, 60.0, k, aif_time=ta)  # Ktrans 60/min = 1/s -> g itself
        np.testing.assert_allclose(got, _brute(ta, a, k, times), atol=1e-7, rtol=1e-6)
    ks = np.array([0.0, 1e-5, 0.01, 0.5, 3.0])
    h = 1e-6
    for t, aa in ((ta, a), (np.arange(0, 10.0, 0.5), np.sin(np.arange(0, 10.0, 0.5)) + 1)):
        idx = np.arange(t.size)
        _g, gk = _np.exp_conv(t, aa, ks[1:], idx, deriv=True)
        gp, _ = _np.exp_conv(t, aa, ks[1:] + h, idx)
        gm, _ = _np.exp_conv(t, aa, ks[1:] - h, idx)
        np.testing.assert_allclose(gk, (gp - gm) / (2 * h), atol=1e-6, rtol=1e-5)
    # uniform (Horner) and general recursion agree
    tu = np.arange(0, 10.0, 0.5)
    au = np.cos(tu) + 1
    for arr in (au, np.r_[0.0, 0.0, 0.0, au[3:]]):  # with leading zeros (AIF before onset)
        g1, d1 = _np._exp_conv_uniform(0.5, arr, ks, np.arange(20), True)
        g2, d2 = _np._exp_conv_general(tu, arr, ks, np.arange(20), True)
        np.testing.assert_allclose(g1, g2, atol=1e-12)
        np.testing.assert_allclose(d1, d2, atol=1e-11)


def test_kep_zero_is_patlak_and_patlak_osipi(osipi_patlak):
    t = np.arange(0.0, 200.0, 1.0)
    cp = parker_aif(t, delay=10.0)
    np.testing.assert_allclose(tofts(t, cp, 0.1, 0.0, 0.05), patlak(t, cp, 0.1, 0.05), atol=1e-12)
    # OSIPI Patlak data (noise SD 0.02 mM): the true parameters explain the data to noise level
    for case in osipi_patlak:
        pred = patlak(case["t"], case["ca"], case["ps"], case["vp"])
        resid = case["c"] - pred
        assert abs(resid.mean()) < 0.01, case["label"]
        assert resid.std() == pytest.approx(0.02, rel=0.2), case["label"]


def test_osipi_tofts_truth_reproduces_noise_free_curves(osipi_tofts, osipi_etofts):
    for case in osipi_tofts:
        if "highSNR" not in case["label"]:
            continue
        pred = tofts(case["t"], case["ca"], case["ktrans"], case["ktrans"] / case["ve"])
        np.testing.assert_allclose(pred, case["c"], atol=0.02 * case["c"].max(), err_msg=case["label"])
    for case in osipi_etofts:
        if "highSNR" not in case["label"]:
            continue
        pred = tofts(case["t"], case["ca"], case["ktrans"], case["ktrans"] / case["ve"], case["vp"])
        np.testing.assert_allclose(pred, case["c"], atol=0.03 * case["c"].max(), err_msg=case["label"])


@settings(max_examples=30, deadline=None)
@given(
    ktrans=st.floats(0.0, 2.0),
    kep=st.floats(0.0, 20.0),
    vp=st.floats(0.0, 0.1),  # scale * vp stays a volume fraction (<= 1)
    scale=st.floats(0.1, 10.0),
)
def test_linearity_invariants(ktrans, kep, vp, scale):
    t = np.arange(0.0, 150.0, 1.0)
    cp = parker_aif(t, delay=15.0)
    base = tofts(t, cp, ktrans, kep, vp)
    # linear in the AIF and in (Ktrans, vp) jointly
    np.testing.assert_allclose(tofts(t, scale * cp, ktrans, kep, vp), scale * base, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        tofts(t, cp, scale * ktrans, kep, scale * vp), scale * base, rtol=1e-9, atol=1e-12
    )
    assert np.all(base >= -1e-12)


def test_broadcast_shapes_and_no_input_mutation():
    t = np.arange(0.0, 60.0, 2.0)
    cp = parker_aif(t)
    cp0 = cp.copy()
    kt = np.full((2, 1), 0.1)
    out = tofts(t, cp, kt, np.array([0.2, 0.4, 0.6]), 0.01)
    assert out.shape == (2, 3, t.size)
    np.testing.assert_array_equal(cp, cp0)


def test_fine_aif_grid_off_grid_frames():
    t_f = np.arange(0.0, 200.0, 0.5)
    cp = parker_aif(t_f, delay=24.0)
    frames = np.arange(12) * 12.3 + 0.1
    got = tofts(frames, cp, 0.1, 0.4, aif_time=t_f)
    full = tofts(np.union1d(t_f, frames), np.interp(np.union1d(t_f, frames), t_f, cp), 0.1, 0.4)
    np.testing.assert_allclose(got, full[np.searchsorted(np.union1d(t_f, frames), frames)], atol=1e-12)


def test_dataarray_parameters_lazy(no_compute):
    t = np.arange(0.0, 60.0, 2.0)
    cp = xr.DataArray(parker_aif(t), dims="time", coords={"time": t})
    kt = xr.DataArray(np.full((2, 3), 0.1), dims=("y", "x")).chunk({"y": 1})
    with no_compute():
        out = tofts(np.arange(0.0, 60.0, 6.0), cp, kt, 0.5)
    assert out.dims == ("y", "x", "time")
    np.testing.assert_allclose(
        out.compute().values,
        tofts(np.arange(0.0, 60.0, 6.0), cp.values, 0.1, 0.5, aif_time=t)[None, None, :]
        .repeat(2, 0)
        .repeat(3, 1),
    )


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"time": [0.0, 2.0, 1.0]}, "increasing"),
        ({"aif_time": np.arange(5.0, 65.0, 1.0)}, "does not cover"),
        ({"aif_time": np.arange(0.0, 30.0, 1.0)}, "does not cover|samples"),
        ({"kep": -1.0}, "kep"),
        ({"ktrans": -0.1}, "ktrans"),
    ],
)
def test_tofts_bad_input(kw, match):
    args = {
        "time": np.arange(0.0, 60.0, 1.0),
        "aif": parker_aif(np.arange(0.0, 60.0, 1.0)),
        "ktrans": 0.1,
        "kep": 0.5,
    }
    args |= kw
    if "aif_time" in kw:
        args["aif"] = parker_aif(kw["aif_time"])
    with pytest.raises(ValueError, match=match):
        tofts(**args)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"ktrans": np.nan}, r"`ktrans` \(1/min\) must be finite, got 1 NaN"),
        ({"ktrans": [0.1, np.inf]}, r"`ktrans` \(1/min\) must be finite"),
        ({"kep": [0.5, np.nan, 0.2]}, r"`kep` \(1/min\) must be finite, got 1"),
        ({"vp": np.nan}, r"`vp` \(fraction\) must be finite"),
        ({"vp": 2.0}, r"`vp` is a volume fraction and must be in \[0, 1\], got 1 value"),
        ({"vp": [0.1, 1.5]}, r"`vp` is a volume fraction"),
        ({"vp": -0.1}, r"`vp` must be non-negative"),
    ],
)
def test_tofts_and_patlak_reject_bad_parameters(kw, match):
    """Issue 16.9: NaN parameters gave all-NaN curves silently and vp=2.0 was accepted."""
    t = np.arange(0.0, 60.0, 1.0)
    cp = parker_aif(t)
    args = {"ktrans": 0.1, "kep": 0.5, "vp": 0.05} | kw
    with pytest.raises(ValueError, match=match):
        tofts(t, cp, **args)
    if "kep" not in kw:
        with pytest.raises(ValueError, match=match):
            patlak(t, cp, args["ktrans"], args["vp"])
    kt = xr.DataArray(np.broadcast_to(np.asarray(args["ktrans"], float), (2,)), dims="x")
    with pytest.raises(ValueError, match=match.replace(r"1 NaN", r"\d NaN")):
        tofts(t, cp, kt, args["kep"], args["vp"])


def test_vp_one_and_zero_parameters_accepted():
    t = np.arange(0.0, 60.0, 1.0)
    cp = parker_aif(t)
    np.testing.assert_allclose(tofts(t, cp, 0.0, 0.0, 1.0), cp)
    np.testing.assert_allclose(patlak(t, cp, 0.0, 1.0), cp)


@pytest.mark.parametrize("model", ["tofts", "patlak"])
def test_models_refuse_non_numeric_aif(model):
    t = np.arange(12) * 12.0
    cp = parker_aif(t, delay=20.0)
    call = (lambda a: tofts(t, a, 0.1, 0.4)) if model == "tofts" else (lambda a: patlak(t, a, 0.1, 0.05))
    for bad in (cp.astype(str), cp.astype(object)):
        with pytest.raises(TypeError, match=r"`aif` must be numeric"):
            call(bad)
