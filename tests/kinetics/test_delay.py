"""Patlak fit and delay fits: OSIPI Patlak (delay 0 and 5 s) and OSIPI's delayed Tofts cases."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from dcemets.kinetics import fit_delay, fit_patlak, fit_tofts, parker_aif, patlak, tofts

from ._osipi_models import arr, delayed_dro, rows, within

TF = np.arange(0.0, 200.0, 0.5)
FRAMES = np.arange(12) * 12.0


def _da(c: np.ndarray, t: np.ndarray) -> xr.DataArray:
    return xr.DataArray(np.atleast_2d(c), dims=("voxel", "time"), coords={"time": t})


def _patlak_cases(name: str) -> tuple[list[dict[str, str]], np.ndarray, xr.DataArray]:
    rs = rows(name)
    assert all(r["cp_aif"] == rs[0]["cp_aif"] and r["t"] == rs[0]["t"] for r in rs)
    t = arr(rs[0]["t"])
    return rs, arr(rs[0]["cp_aif"]), _da(np.stack([arr(r["C_t"]) for r in rs]), t)


def test_osipi_patlak_all_9():
    rs, ca, ct = _patlak_cases("patlak_sd_0.02_delay_0.csv")
    fit = fit_patlak(ct, ca)
    assert len(rs) == 9
    assert fit.success.all()
    for i, r in enumerate(rs):
        assert within("ps", float(fit.ktrans[i]), float(r["ps"])), r["label"]
        assert within("vp", float(fit.vp[i]), float(r["vp"])), r["label"]


def test_osipi_patlak_delayed_all_9():
    """patlak_sd_0.02_delay_5.csv: PS, vp and the 5 s delay within OSIPI's tolerances."""
    rs, ca, ct = _patlak_cases("patlak_sd_0.02_delay_5.csv")
    fit = fit_delay(ct, ca, model="patlak")
    assert len(rs) == 9
    assert fit.success.all()
    for i, r in enumerate(rs):
        assert within("ps", float(fit.ktrans[i]), float(r["ps"])), r["label"]
        assert within("vp", float(fit.vp[i]), float(r["vp"])), r["label"]
        assert within("delay", float(fit.delay[i]), float(r["arterial_delay"])), r["label"]


@pytest.mark.parametrize(
    ("name", "shift", "model", "n"),
    [
        ("dce_DRO_data_tofts.csv", 10, "tofts", 25),
        ("dce_DRO_data_extended_tofts.csv", 5, "extended_tofts", 15),
    ],
)
def test_osipi_delayed_tofts(name, shift, model, n):
    """OSIPI's delayed Tofts (25) and extended Tofts (15) cases, built as OSIPI builds them."""
    cases = delayed_dro(name, shift)
    assert len(cases) == n
    assert {c["delay"] for c in cases} == {5.0}
    groups: dict[bytes, list[int]] = {}
    for i, c in enumerate(cases):  # one call per AIF (5 AIFs, one per SNR)
        groups.setdefault(c["ca"].tobytes(), []).append(i)
    n_pass = 0
    for idx in groups.values():
        t = cases[idx[0]]["t"]
        fit = fit_delay(_da(np.stack([cases[i]["c"] for i in idx]), t), cases[idx[0]]["ca"], model=model)
        for j, i in enumerate(idx):
            c = cases[i]
            ok = within("ktrans", float(fit.ktrans[j]), c["ktrans"]) and within(
                "ve", float(fit.ve[j]), c["ve"]
            )
            ok &= within("delay", float(fit.delay[j]), c["delay"])
            if model == "extended_tofts":
                ok &= within("vp", float(fit.vp[j]), c["vp"])
            n_pass += ok
    assert n_pass == n


def test_per_voxel_delays_vectorised_12_frames():
    """12 frames of 12 s, each voxel its own delay: delays within the 0.5 s grid, exact kinetics."""
    delays = np.array([0.0, 2.0, 3.5, 5.0, 7.5, -3.0])
    ktrans = np.linspace(0.05, 0.3, delays.size)
    kep = np.linspace(0.3, 1.2, delays.size)
    aif = xr.DataArray(parker_aif(TF, delay=30.0), dims="t", coords={"t": TF})
    ct = np.stack(
        [
            tofts(FRAMES, parker_aif(TF, delay=30.0 + d), k, e, aif_time=TF)
            for d, k, e in zip(delays, ktrans, kep)
        ]
    )
    fit = fit_delay(_da(ct, FRAMES).expand_dims(z=1), aif)
    assert fit.delay.dims == ("z", "voxel")
    np.testing.assert_allclose(fit.delay.values[0], delays)
    np.testing.assert_allclose(fit.ktrans.values[0], ktrans, rtol=1e-4)
    np.testing.assert_allclose(fit.kep.values[0], kep, rtol=1e-4)
    assert fit.attrs["n_params"] == 3
    assert fit.delay.attrs["units"] == "s"


def test_extended_tofts_and_patlak_delay_noise_free():
    aif = parker_aif(TF, delay=30.0)
    late = parker_aif(TF, delay=34.0)
    e = fit_delay(_da(tofts(TF, late, 0.1, 0.4, 0.05), TF), aif, model="extended_tofts")
    assert float(e.delay[0]) == 4.0
    np.testing.assert_allclose(
        [float(e.ktrans[0]), float(e.kep[0]), float(e.vp[0])], [0.1, 0.4, 0.05], rtol=1e-4
    )
    p = fit_delay(_da(patlak(TF, late, 0.03, 0.08), TF), aif, model="patlak")
    assert float(p.delay[0]) == 4.0
    np.testing.assert_allclose([float(p.ktrans[0]), float(p.vp[0])], [0.03, 0.08], rtol=1e-6)


def test_zero_delay_agrees_with_fit_tofts():
    """With the delay fixed at 0 the fit is fit_tofts' own."""
    rng = np.random.default_rng(3)
    ct = _da(
        tofts(TF, parker_aif(TF, delay=30.0), [0.1, 0.2], [0.4, 0.8]) + rng.normal(0, 0.01, (2, TF.size)), TF
    )
    aif = parker_aif(TF, delay=30.0)
    a = fit_delay(ct, aif, delays=[0.0])
    b = fit_tofts(ct, aif)
    np.testing.assert_allclose(a.ktrans.values, b.ktrans.values, rtol=1e-6)
    np.testing.assert_allclose(a.rss.values, b.rss.values, rtol=1e-6)


def test_patlak_bounds_and_negative_uptake():
    """A washing-out curve has no admissible uptake: PS held at 0 (the bounded optimum)."""
    aif = parker_aif(TF, delay=30.0)
    c = 0.1 * aif - 0.02 * np.cumsum(aif) * 0.5 / 60
    fit = fit_patlak(_da(c, TF), aif)
    assert float(fit.ktrans[0]) == 0.0
    assert 0 < float(fit.vp[0]) <= 1
    # the box optimum: no better admissible point on a fine grid
    kt, vp = np.meshgrid(np.linspace(0, 0.01, 41), np.linspace(0, 0.2, 81))
    grid = patlak(TF, aif, kt.ravel(), vp.ravel())
    assert float(fit.rss[0]) <= ((grid - c) ** 2).sum(1).min() + 1e-12


def test_nan_curve_and_dask():
    aif = parker_aif(TF, delay=30.0)
    c = patlak(TF, aif, [0.02, 0.05, 0.1], 0.1)
    c[0, 5] = np.nan
    with pytest.warns(RuntimeWarning, match="1 curve"):
        fit = fit_patlak(_da(c, TF), aif)
    assert np.isnan(float(fit.ktrans[0]))
    assert not bool(fit.success[0])
    pytest.importorskip("dask")
    lazy = fit_delay(_da(c[1:], TF).chunk({"voxel": 1}), aif, model="patlak", delays=[-1.0, 0.0, 1.0])
    assert lazy.ktrans.chunks is not None
    np.testing.assert_allclose(lazy.ktrans.values, [0.05, 0.1], rtol=1e-6)


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"model": "2cxm"}, ValueError, "`model`"),
        ({"delays": [0.0, np.nan]}, ValueError, "`delays`"),
        ({"delays": "a"}, TypeError, "`delays`"),
        ({"bounds": {"kep": (0.0, 1.0)}}, ValueError, "kep"),
        ({"bounds": {"vp": (0.0, 2.0)}}, ValueError, "volume fraction"),
        ({"max_iter": 0}, ValueError, "max_iter"),
    ],
)
def test_fit_delay_bad_input(kw, exc, match):
    aif = parker_aif(TF, delay=30.0)
    with pytest.raises(exc, match=match):
        fit_delay(_da(patlak(TF, aif, 0.05, 0.1), TF), aif, **kw)


def test_fit_patlak_bad_input():
    aif = parker_aif(TF, delay=30.0)
    with pytest.raises(ValueError, match="unknown `bounds`"):
        fit_patlak(_da(patlak(TF, aif, 0.05, 0.1), TF), aif, bounds={"kep": (0, 1)})
    with pytest.raises(ValueError, match="time"):
        fit_patlak(xr.DataArray(np.zeros((2, 5)), dims=("voxel", "t")), aif)


def test_roi_curve_gives_scalar_results():
    """One ROI curve (a DataArray with only a time dim) gives 0-d results, the delay included."""
    aif = parker_aif(TF, delay=30.0)
    roi = xr.DataArray(
        tofts(TF, parker_aif(TF, delay=33.0), 0.15, 0.6, 0.04), dims="time", coords={"time": TF}
    )
    fit = fit_delay(roi, aif, model="extended_tofts")
    assert fit.delay.ndim == 0
    assert float(fit.delay) == 3.0
    np.testing.assert_allclose(
        [float(fit.ktrans), float(fit.kep), float(fit.vp)], [0.15, 0.6, 0.04], rtol=1e-4
    )


def test_box_least_squares_is_the_box_optimum():
    """The closed-form box-constrained 2 x 2 solve of the grid equals a brute-force search."""
    from dcemets.kinetics.delay import _box_ls

    rng = np.random.default_rng(5)
    m = rng.normal(size=(6, 2, 2))
    a = np.einsum("kij,kil->kjl", m, m) + 1e-3 * np.eye(2)
    a[0, 0, 1] = a[0, 1, 0] = 0.999 * np.sqrt(a[0, 0, 0] * a[0, 1, 1])  # strongly correlated
    b0, b1 = rng.normal(size=(40, 6)), rng.normal(size=(40, 6))
    hi0 = rng.uniform(0.1, 2.0, (1, 6))
    x0, x1, obj = _box_ls(a[:, 0, 0][None], a[:, 0, 1][None], a[:, 1, 1][None], b0, b1, np.zeros(2), hi0, 0.7)
    assert np.all((x0 >= 0) & (x0 <= hi0 + 1e-12) & (x1 >= 0) & (x1 <= 0.7 + 1e-12))
    u = np.linspace(0.0, 1.0, 201)
    for k in range(6):
        g0, g1 = np.meshgrid(u * hi0[0, k], u * 0.7, indexing="ij")
        q = a[k, 0, 0] * g0**2 + 2 * a[k, 0, 1] * g0 * g1 + a[k, 1, 1] * g1**2
        brute = (q[None] - 2 * (b0[:, k, None, None] * g0 + b1[:, k, None, None] * g1)).min(axis=(1, 2))
        assert np.all(obj[:, k] <= brute + 1e-12)
        assert np.all(obj[:, k] >= brute - 1e-3 * (1 + np.abs(brute)))


@pytest.mark.parametrize("model", ["tofts", "extended_tofts", "patlak"])
def test_fit_delay_threads_give_bitwise_the_same_fits(monkeypatch, model):
    """Blocks of voxels in `n_jobs` threads (kep tables shared): bitwise the serial result."""
    from dcemets.kinetics import _threads

    rng = np.random.default_rng(41)
    n = 300
    d = rng.choice(np.arange(-4.0, 6.0, 0.5), n)
    aif = xr.DataArray(parker_aif(TF, delay=30.0), dims="t", coords={"t": TF})
    kt, kep, vp = rng.uniform(0.05, 0.3, n), rng.uniform(0.3, 1.2, n), rng.uniform(0.02, 0.1, n)
    if model == "tofts":
        vp[:] = 0.0
    ct = np.stack(
        [
            patlak(FRAMES, parker_aif(TF, delay=30.0 + di), k / 3, v, aif_time=TF)
            if model == "patlak"
            else tofts(FRAMES, parker_aif(TF, delay=30.0 + di), k, e, v, aif_time=TF)
            for di, k, e, v in zip(d, kt, kep, vp)
        ]
    )
    ct = _da(ct + rng.normal(0, 0.002, ct.shape), FRAMES)
    monkeypatch.setattr(_threads, "BLOCK", 64)
    one = fit_delay(ct, aif, model=model, n_jobs=1)
    xr.testing.assert_identical(fit_delay(ct, aif, model=model, n_jobs=3), one)
    assert np.median(np.abs(one.delay.values - d)) <= 1.0


def test_fit_delay_n_jobs_is_validated():
    ct = _da(np.zeros((2, FRAMES.size)), FRAMES)
    with pytest.raises(ValueError, match="n_jobs"):
        fit_delay(ct, parker_aif(TF, delay=30.0), aif_time=TF, n_jobs=0)
