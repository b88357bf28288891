"""2CXM / 2CUM forward models and fits: OSIPI references, dcmri, analytic limits."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from dcemets.kinetics import fit_tcum, fit_tcxm, parker_aif, patlak, tcum, tcxm, tofts

from ._osipi_models import arr, rows, within

T = np.arange(0.0, 300.0, 0.5)
CP = parker_aif(T, delay=10.0)


def _da(c: np.ndarray, t: np.ndarray) -> xr.DataArray:
    return xr.DataArray(np.atleast_2d(c), dims=("voxel", "time"), coords={"time": t})


def _osipi(name: str) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray, xr.DataArray]:
    rs = rows(name)
    t, ca = arr(rs[0]["t"]), arr(rs[0]["cp_aif"])
    assert all(r["cp_aif"] == rs[0]["cp_aif"] and r["t"] == rs[0]["t"] for r in rs)
    return rs, t, ca, _da(np.stack([arr(r["C_t"]) for r in rs]), t)


def test_osipi_2cxm_all_24():
    """OSIPI 2cxm_sd_0.001_delay_0: all 24 cases within OSIPI's tolerances (fp, ps, ve, vp)."""
    rs, _, ca, ct = _osipi("2cxm_sd_0.001_delay_0.csv")
    assert len(rs) == 24
    fit = fit_tcxm(ct, ca)
    assert fit.success.all()
    for i, r in enumerate(rs):
        assert within("fp", 100 * float(fit.fp[i]), float(r["fp"])), r["label"]
        for k in ("ps", "ve", "vp"):
            assert within(k, float(fit[k][i]), float(r[k])), (r["label"], k)


def test_osipi_2cum_all_27():
    """OSIPI 2cum_sd_0.0025_delay_0 (simulated as 2CXM with ve = 100): all 27 within tolerance."""
    rs, _, ca, ct = _osipi("2cum_sd_0.0025_delay_0.csv")
    assert len(rs) == 27
    fit = fit_tcum(ct, ca)
    assert fit.success.all()
    for i, r in enumerate(rs):
        assert within("fp", 100 * float(fit.fp[i]), float(r["fp"])), r["label"]
        for k in ("ps", "vp"):
            assert within(k, float(fit[k][i]), float(r[k])), (r["label"], k)


def test_osipi_2cxm_forward_residual_is_the_noise():
    """Our 2CXM at OSIPI's true parameters leaves residuals of the added noise (SD 0.001 mM)."""
    rs, t, ca, ct = _osipi("2cxm_sd_0.001_delay_0.csv")
    p = {k: np.array([float(r[k]) for r in rs]) for k in ("fp", "ps", "ve", "vp")}
    m = tcxm(t, ca, p["fp"] / 100, p["ps"], p["ve"], p["vp"])
    sd = (ct.values - m).std(axis=1)
    assert np.all((sd > 0.0008) & (sd < 0.0012))


def _step_response(t: np.ndarray, fp: float, ps: float, ve: float, vp: float) -> np.ndarray:
    """2CXM for a unit step AIF, from the transit-time form (Thrippleton's pk_models.TCXM)."""
    fps, pss = fp / 60, ps / 60
    tt, tc, te = (ve + vp) / fps, vp / fps, ve / pss
    root = np.sqrt((tt + te) ** 2 - 4 * tc * te)
    sp, sn = (tt + te + root) / (2 * tc * te), (tt + te - root) / (2 * tc * te)
    # integral of the impulse response vp sp sn [(1 - te sn) e^-sn t + (te sp - 1) e^-sp t]/(sp - sn)
    # + ve sp sn (e^-sn t - e^-sp t)/(sp - sn)
    k = sp * sn / (sp - sn)
    cn = vp * k * (1 - te * sn) + ve * k
    cp_ = vp * k * (te * sp - 1) - ve * k
    return cn * (1 - np.exp(-sn * t)) / sn + cp_ * (1 - np.exp(-sp * t)) / sp


@pytest.mark.parametrize("p", [(0.3, 0.1, 0.2, 0.05), (2.0, 0.02, 0.5, 0.1), (0.05, 0.3, 0.1, 0.01)])
def test_tcxm_step_input_analytic(p):
    t = np.linspace(0.0, 300.0, 61)
    ct = tcxm(t, np.ones(t.size), *p)
    np.testing.assert_allclose(ct, _step_response(t, *p), rtol=1e-9, atol=1e-12)


def test_tcxm_fp_to_infinity_is_extended_tofts():
    """Fp -> inf: extended Tofts with Ktrans = PS, kep = PS / ve; the gap shrinks as 1/Fp."""
    ref = tofts(T, CP, ktrans=0.1, kep=0.1 / 0.2, vp=0.05)
    err = [np.abs(tcxm(T, CP, fp, 0.1, 0.2, 0.05) - ref).max() / ref.max() for fp in (1e2, 1e3, 1e4)]
    assert err[2] < 1e-4
    assert 8 < err[0] / err[1] < 12
    assert 8 < err[1] / err[2] < 12


def test_tcum_fp_to_infinity_is_patlak():
    ref = patlak(T, CP, ktrans=0.05, vp=0.1)
    err = [np.abs(tcum(T, CP, fp, 0.05, 0.1) - ref).max() / ref.max() for fp in (1e2, 1e3, 1e4)]
    assert err[2] < 2e-4
    assert 8 < err[0] / err[1] < 12


def test_tcxm_other_limits():
    # ve -> inf (no back-flux): the 2CUM; PS = 0 and ve = 0: the plasma compartment alone
    from dcemets.kinetics._np import merge_grid
    from dcemets.kinetics.forward_models import biexp_np, tcxm_exponents

    tm, am, idx = merge_grid(T, CP, T)
    big_ve = biexp_np(tm, am, idx, *tcxm_exponents(0.4, 0.05, 1e6, 0.1))
    np.testing.assert_allclose(big_ve, tcum(T, CP, 0.4, 0.05, 0.1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(tcxm(T, CP, 0.4, 0.0, 0.2, 0.1), tcxm(T, CP, 0.4, 0.3, 0.0, 0.1))
    np.testing.assert_allclose(tcxm(T, CP, 0.4, 0.0, 0.2, 0.1), tcum(T, CP, 0.4, 0.0, 0.1), atol=1e-12)
    # vp -> 0: Tofts with Ktrans = E Fp, E = PS / (Fp + PS)
    e = 0.1 / 0.5
    np.testing.assert_allclose(
        tcxm(T, CP, 0.4, 0.1, 0.2, 0.0), tofts(T, CP, e * 0.4, e * 0.4 / 0.2), atol=1e-7
    )
    # mass balance: the response integrates to vp + ve, so a step input ends at vp + ve
    t = np.arange(0.0, 20000.0, 10.0)
    assert tcxm(t, np.ones(t.size), 0.3, 0.1, 0.2, 0.05)[-1] == pytest.approx(0.25, rel=1e-6)


def test_dcmri_reference():
    """dcmri 0.6.20 (independent implementation): 2CX identical, 2CU within 1e-4 of the peak."""
    dc = pytest.importorskip("dcmri")
    t = np.arange(0.0, 300.0, 0.5)
    ca = dc.aif_parker(t, BAT=20)  # blood; plasma = ca / (1 - H)
    h = 0.45
    for p in (
        {"vb": 0.1, "vi": 0.3, "Fb": 0.01, "PS": 0.002},
        {"vb": 0.05, "vi": 0.2, "Fb": 0.005, "PS": 0.001},
    ):
        ref = dc.conc_tissue(ca, t=t, kinetics="2CX", H=h, **p)
        ours = tcxm(
            t, ca / (1 - h), fp=p["Fb"] * (1 - h) * 60, ps=p["PS"] * 60, ve=p["vi"], vp=p["vb"] * (1 - h)
        )
        np.testing.assert_allclose(ours, ref, atol=1e-9 * ref.max())
        q = {k: v for k, v in p.items() if k != "vi"}
        ref = dc.conc_tissue(ca, t=t, kinetics="2CU", H=h, **q)
        ours = tcum(t, ca / (1 - h), fp=p["Fb"] * (1 - h) * 60, ps=p["PS"] * 60, vp=p["vb"] * (1 - h))
        np.testing.assert_allclose(ours, ref, atol=1e-4 * ref.max())


def test_fit_tcxm_recovers_noise_free_truth_vectorised():
    rng = np.random.default_rng(7)
    n = 12
    truth = np.stack(
        [
            rng.uniform(0.1, 1.0, n),
            rng.uniform(0.02, 0.3, n),
            rng.uniform(0.1, 0.5, n),
            rng.uniform(0.02, 0.15, n),
        ],
        -1,
    )
    t = np.arange(0.0, 300.0, 1.0)
    ct = _da(tcxm(T, CP, *truth.T), T).isel(time=slice(None, None, 2))
    fit = fit_tcxm(ct, xr.DataArray(CP, dims="t", coords={"t": T}))
    assert t.size == ct.sizes["time"]
    assert fit.success.all()
    got = np.stack([fit[k].values for k in ("fp", "ps", "ve", "vp")], -1)
    np.testing.assert_allclose(got, truth, rtol=1e-4)


def test_fit_tcum_recovers_noise_free_truth():
    truth = np.array([[0.2, 0.01, 0.05], [0.6, 0.05, 0.1], [1.5, 0.1, 0.02]])
    ct = _da(tcum(T, CP, *truth.T), T)
    fit = fit_tcum(ct, CP)
    got = np.stack([fit[k].values for k in ("fp", "ps", "vp")], -1)
    np.testing.assert_allclose(got, truth, rtol=1e-4)
    np.testing.assert_allclose(fit.e.values, truth[:, 1] / truth[:, :2].sum(1), rtol=1e-4)


def test_fit_exchange_nan_voxel_and_bounds():
    c = tcxm(T, CP, [0.3, 0.5], 0.1, 0.2, 0.05)
    c[1, 3] = np.nan
    with pytest.warns(RuntimeWarning, match="1 curve"):
        fit = fit_tcxm(_da(c, T), CP, bounds={"ps": (0.0, 0.05)})
    assert np.isnan(float(fit.fp[1]))
    assert not bool(fit.success[1])
    assert float(fit.ps[0]) <= 0.05
    assert fit.attrs["n_params"] == 4
    assert fit.fp.attrs["units"] == "1/min"


@pytest.mark.parametrize(
    ("fn", "kw", "exc", "match"),
    [
        (fit_tcxm, {"bounds": {"fq": (0, 1)}}, ValueError, "unknown `bounds`"),
        (fit_tcxm, {"bounds": {"ve": (0, 2)}}, ValueError, "volume fraction"),
        (fit_tcxm, {"bounds": {"fp": (0, 2)}}, ValueError, "fp"),
        (fit_tcum, {"bounds": "x"}, TypeError, "mapping"),
        (fit_tcum, {"max_iter": 0}, ValueError, "max_iter"),
    ],
)
def test_fit_exchange_bad_input(fn, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(_da(tcum(T, CP, 0.3, 0.05, 0.05), T), CP, **kw)


def test_forward_bad_input():
    with pytest.raises(ValueError, match="`ve`"):
        tcxm(T, CP, 0.3, 0.1, 1.5, 0.05)
    with pytest.raises(ValueError, match="`ps`"):
        tcum(T, CP, 0.3, -0.1, 0.05)
    with pytest.raises(TypeError, match="`ct`"):
        fit_tcxm(np.zeros((2, T.size)), CP)
