"""The torch backend of fit_tofts: reference data, agreement with NumPy, laziness, errors."""

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from dcemets.kinetics import _fit, _np, fit_tofts, parker_aif, signal_to_concentration, tofts
from dcemets.models import tofts_backend
from dcemets.models.tofts_backend import ExpConv

pytestmark = pytest.mark.torch

DATA = Path(__file__).resolve().parents[1] / "data"
CPU = torch.device("cpu")
NO_CUDA = not torch.cuda.is_available()


def _osipi(name):
    csv.field_size_limit(10**9)
    with open(DATA / "osipi" / name, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return [
        {k: (np.array(v.split(), float) if k in ("t", "C", "ca") else v) for k, v in r.items()} for r in rows
    ]


@pytest.fixture(scope="module")
def osipi_tofts():
    return _osipi("dce_DRO_data_tofts.csv")


@pytest.fixture(scope="module")
def osipi_etofts():
    return _osipi("dce_DRO_data_extended_tofts.csv")


def _ct(c, t):
    return xr.DataArray(np.atleast_2d(c), dims=("voxel", "time"), coords={"time": t})


def _passes(got, ref, atol, rtol):
    return abs(got - ref) <= atol + rtol * abs(ref)


def _noisy(n, extended, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.arange(12) * 12.0
    t_fine = np.arange(0.0, 144.0, 0.5)
    cp = parker_aif(t_fine, delay=24.0)
    kt = rng.uniform(0.05, 0.3, n)
    ve = rng.uniform(0.1, 0.6, n)
    vp = rng.uniform(0.0, 0.1, n) if extended else 0.0
    c = tofts(frames, cp, kt, kt / ve, vp, aif_time=t_fine)
    c += rng.normal(0, 0.02, c.shape)
    aif = xr.DataArray(cp, dims="t_aif", coords={"t_aif": t_fine})
    return _ct(c, frames), aif


# ---------------------------------------------------------------------------------------
# exact convolution
# ---------------------------------------------------------------------------------------


def _grid_cases():
    rng = np.random.default_rng(0)
    ta = np.arange(0.0, 150.0, 0.5)
    t_rand = np.r_[0.0, np.sort(rng.uniform(0.0, 150.0, 200))]
    t_two = np.r_[np.arange(0.0, 60.0, 2.0), np.arange(60.0, 200.0, 0.7)]
    t_long = np.arange(0.0, 300.0, 0.5)
    return {
        # AIF on a 0.5 s grid, frames on it (the usual case: factorised uniform path)
        "uniform": (ta, parker_aif(ta, delay=24.0), np.arange(12) * 12.0),
        # frames between AIF samples: merged grid with a few interval lengths
        "frames-off-grid": (ta, parker_aif(ta, delay=24.0), np.arange(12) * 12.3),
        # every interval length distinct
        "random-grid": (t_rand, parker_aif(t_rand, delay=20.0), np.sort(rng.choice(t_rand[:-1], 12, False))),
        "two-step-grid": (t_two, parker_aif(t_two, delay=20.0), np.arange(12) * 13.0 + 3.0),
        # an AIF with a run of zeros inside (intervals with zero input are not skipped there)
        "zero-run": (
            ta,
            np.where((ta > 63) & (ta < 67), 0.0, parker_aif(ta, delay=24.0)),
            np.arange(12) * 12.0,
        ),
        # nonzero AIF from t = 0 and a first segment much longer than the others
        "long-first-segment": (t_long, parker_aif(t_long, delay=5.0) + 0.1, np.arange(12) * 4.0 + 250.0),
    }


@pytest.mark.parametrize("case", list(_grid_cases()))
def test_exp_conv_equals_numpy_recursion(case):
    ta, a, frames = _grid_cases()[case]
    tm, am, idx = _np.merge_grid(ta, a, frames)
    k = np.r_[0.0, np.geomspace(1e-5, 100.0, 200) / 60.0]
    g, gk = _np.exp_conv(tm, am, k, idx, deriv=True)
    conv = ExpConv(tm, am, idx, CPU, torch.float64)
    g2, gk2 = conv(torch.as_tensor(k), deriv=True)
    np.testing.assert_allclose(g2.numpy(), g, rtol=1e-10, atol=1e-14 * np.abs(g).max())
    np.testing.assert_allclose(gk2.numpy(), gk, rtol=1e-10, atol=1e-14 * np.abs(gk).max())
    g3, none = conv(torch.as_tensor(k))
    assert none is None
    np.testing.assert_allclose(g3.numpy(), g2.numpy(), rtol=1e-14)


def test_exp_conv_zero_input_and_empty_batch():
    t = np.arange(0.0, 50.0, 1.0)
    idx = np.array([0, 10, 20, 30])
    conv = ExpConv(t, np.zeros(t.size), idx, CPU, torch.float64)
    g, gk = conv(torch.tensor([0.0, 0.1]), deriv=True)
    assert g.shape == gk.shape == (2, 4)
    assert not g.any()
    assert not gk.any()
    g, _ = ExpConv(t, np.ones(t.size), idx, CPU, torch.float64)(torch.zeros(0))
    assert g.shape == (0, 4)
    # k = 0: the plain integral of a constant input from t[0]
    g, _ = ExpConv(t, np.ones(t.size), idx, CPU, torch.float64)(torch.zeros(1))
    np.testing.assert_allclose(g.numpy()[0], t[idx], rtol=1e-14)


# ---------------------------------------------------------------------------------------
# reference data
# ---------------------------------------------------------------------------------------

OSIPI_RUNS = [("nlls", "float64"), ("llsq", "float64"), ("nlls", "float32")]


@pytest.mark.parametrize(("method", "dtype"), OSIPI_RUNS)
def test_osipi_tofts_all_25(osipi_tofts, method, dtype):
    assert len(osipi_tofts) == 25
    for case in osipi_tofts:
        kw = {"method": method, "backend": "torch", "device": "cpu", "dtype": dtype}
        f = fit_tofts(_ct(case["C"], case["t"]), case["ca"], **kw)
        kt, ve = float(case["Ktrans"]), float(case["ve"])
        assert bool(f.success[0]), case["label"]
        assert _passes(float(f.ktrans[0]), kt, 0.005, 0.1), case["label"]
        assert _passes(float(f.ve[0]), ve, 0.05, 0.0), case["label"]


@pytest.mark.parametrize(("method", "dtype"), OSIPI_RUNS)
def test_osipi_extended_tofts_all_15(osipi_etofts, method, dtype):
    assert len(osipi_etofts) == 15
    for case in osipi_etofts:
        kw = {"method": method, "backend": "torch", "device": "cpu", "dtype": dtype}
        f = fit_tofts(_ct(case["C"], case["t"]), case["ca"], extended=True, **kw)
        assert _passes(float(f.ktrans[0]), float(case["Ktrans"]), 0.005, 0.1), case["label"]
        assert _passes(float(f.ve[0]), float(case["ve"]), 0.05, 0.0), case["label"]
        assert _passes(float(f.vp[0]), float(case["vp"]), 0.025, 0.0), case["label"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_qiba_v6_all_30_patches_within_1_percent(dtype):
    sig = pd.read_csv(DATA / "qiba" / "qiba_v6_tofts_signals.csv")
    par = pd.read_csv(DATA / "qiba" / "qiba_v6_tofts_params.csv").set_index("column")
    cols = list(par.index)
    assert len(cols) == 30
    t = sig["t_s"].to_numpy()
    conc = signal_to_concentration(
        sig[cols].to_numpy().T, t10=1.0, flip_angle=30.0, tr=0.005, r1=4.5, n_baseline=2
    )
    ct = xr.DataArray(conc, dims=("patch", "time"), coords={"time": t, "patch": cols})
    f = fit_tofts(ct, sig["Cp_mM"].to_numpy(), backend="torch", dtype=dtype)
    assert bool(f.success.all())
    np.testing.assert_allclose(f.ktrans.values, par["Ktrans_per_min"].to_numpy(), rtol=0.01)
    np.testing.assert_allclose(f.ve.values, par["ve"].to_numpy(), rtol=0.01)
    np.testing.assert_allclose(f.kep.values, par["kep_per_min"].to_numpy(), rtol=0.01)


# ---------------------------------------------------------------------------------------
# same algorithm as the NumPy backend
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("extended", [False, True])
@pytest.mark.parametrize("method", ["nlls", "llsq"])
def test_agrees_with_numpy_backend(extended, method):
    ct, aif = _noisy(1500, extended, seed=1)
    ref = fit_tofts(ct, aif, extended=extended, method=method, backend="numpy")
    got = fit_tofts(ct, aif, extended=extended, method=method, backend="torch", device="cpu")
    assert got.attrs["backend"] == "torch"
    assert ref.attrs["backend"] == "numpy"
    # same decisions: success flags agree on (almost) every voxel
    assert (got.success.values == ref.success.values).mean() > 0.995
    both = got.success.values & ref.success.values
    assert both.mean() > 0.4
    names = ["ktrans", "kep", "ve", "rss"] + (["vp"] if extended else [])
    for n in names:
        a, b = got[n].values[both], ref[n].values[both]
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12, err_msg=n)


def test_phi_and_contractions_on_tensors_equal_numpy():
    """The shared phi and the non-NumPy path of the contraction shim give NumPy's values."""
    x = np.r_[0.0, 1e-3, -5e-3, 9.99e-3, 1e-2, 0.3, 2.0, 40.0]
    for a, b in zip(_np.phi(torch.tensor(x)), _np.phi(x)):
        assert isinstance(a, torch.Tensor)
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-15, atol=1e-17)
    rng = np.random.default_rng(3)
    shapes = {"v": 5, "t": 7, "c": 4, "k": 3, "i": 4, "j": 4, "g": 6}
    for spec in ("vt,vct->vc", "vij,vj->vi", "vkc,vc->kv", "vt,vt->v", "vt,tg->vg", "vt,t->v"):
        ins = spec.split("->")[0].split(",")
        a, b = (rng.normal(size=[shapes[c] for c in s]) for s in ins)
        got = _fit._ein(spec, torch.tensor(a), torch.tensor(b))
        np.testing.assert_allclose(got.numpy(), np.einsum(spec, a, b), rtol=1e-13, err_msg=spec)


@pytest.mark.parametrize("extended", [False, True])
def test_shared_solver_on_tensors_matches_numpy(extended):
    """llsq, varpro and lm of kinetics._fit run unchanged on tensors (one code path)."""
    ct, aif = _noisy(300, extended, seed=4)
    y = np.ascontiguousarray(ct.values)
    d = _fit.design(ct.time.values, aif.t_aif.values, aif.values)
    bd = _fit.Bounds()
    td = tofts_backend._design(d, CPU, torch.float64)
    tab = _fit.table_for(d, bd)
    yt = torch.tensor(y)
    np.testing.assert_allclose(_fit.llsq(td, yt, extended).numpy(), _fit.llsq(d, y, extended), rtol=1e-10)
    p_np, rss_np, ok_np = _fit.varpro(tab, d.cp, y, extended, bd)
    p_t, rss_t, ok_t = _fit.varpro(tofts_backend._table(tab, CPU), td.cp, yt, extended, bd)
    assert isinstance(p_t, torch.Tensor)
    assert (ok_t.numpy() == ok_np).all()
    assert ok_np.mean() > 0.9
    np.testing.assert_allclose(p_t.numpy(), p_np, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(rss_t.numpy(), rss_np, rtol=1e-8)
    p0 = p_np * 1.05  # a start off the optimum: the LM iterates
    lm_np = _fit.lm(d, y, p0, extended, bd)
    lm_t = _fit.lm(td, yt, torch.tensor(p0), extended, bd)
    # the two exact convolutions differ by ~1e-14, which the LM's stopping rules (1e-10 of
    # the RSS and the step) may turn into one more or one fewer iteration
    np.testing.assert_allclose(lm_t[0].numpy(), lm_np[0], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(lm_t[1].numpy(), lm_np[1], rtol=1e-8)
    assert (lm_np[1] <= rss_np * (1 + 1e-9)).mean() > 0.95  # the LM reached varpro's minimum


@pytest.mark.parametrize("extended", [False, True])
def test_agrees_with_numpy_on_irregular_frames_off_the_aif_grid(extended):
    """Frames irregular and between AIF samples: the merged grid has several step lengths."""
    rng = np.random.default_rng(8)
    frames = np.array([0.0, 5, 10, 20, 35, 50, 70, 95, 120, 150, 190, 230.3])
    t_aif = np.arange(0.0, 240.0, 0.7)
    cp = parker_aif(t_aif, delay=12.0)
    n = 300
    vp = rng.uniform(0.02, 0.1, n) if extended else 0.0
    c = tofts(frames, cp, rng.uniform(0.05, 0.3, n), rng.uniform(0.2, 1.0, n), vp, aif_time=t_aif)
    ct = _ct(c + rng.normal(0, 0.01, c.shape), frames)
    aif = xr.DataArray(cp, dims="t_aif", coords={"t_aif": t_aif})
    ref = fit_tofts(ct, aif, extended=extended, backend="numpy")
    got = fit_tofts(ct, aif, extended=extended, backend="torch")
    np.testing.assert_array_equal(got.success.values, ref.success.values)
    ok = ref.success.values
    assert ok.mean() > 0.5
    for n in ("ktrans", "kep", "rss"):
        np.testing.assert_allclose(got[n].values[ok], ref[n].values[ok], rtol=1e-6, err_msg=n)


@pytest.mark.parametrize("bounds", [None, {"kep": (2.0, 100.0)}, {"ktrans": (0.2, 5.0)}])
def test_agrees_with_numpy_with_parameters_on_their_bounds(bounds):
    """vp = 0 (on its bound for about half the voxels), Ktrans ~ 0 or kep on a bound for others:
    the active-set LM takes the same steps in both backends."""
    rng = np.random.default_rng(9)
    frames = np.arange(12) * 12.0
    t_fine = np.arange(0.0, 144.0, 0.5)
    cp = parker_aif(t_fine, delay=24.0)
    n = 900
    kt = rng.uniform(0.05, 0.3, n)
    kep = kt / rng.uniform(0.1, 0.6, n)
    kt[:200] = rng.uniform(0.0, 0.002, 200)
    kep[200:400] = rng.choice([1e-3, 100.0], 200)
    kt[200:400] = np.minimum(kt[200:400], kep[200:400])
    c = tofts(frames, cp, kt, kep, 0.0, aif_time=t_fine)
    ct = _ct(c + rng.normal(0, 0.02 * c.max(axis=1).mean(), c.shape), frames)
    aif = xr.DataArray(cp, dims="t_aif", coords={"t_aif": t_fine})
    ref = fit_tofts(ct, aif, extended=True, bounds=bounds, backend="numpy")
    got = fit_tofts(ct, aif, extended=True, bounds=bounds, backend="torch", device="cpu")
    np.testing.assert_array_equal(got.success.values, ref.success.values)
    assert float(ref.success.mean()) >= 0.95
    np.testing.assert_array_equal(got.vp.values == 0.0, ref.vp.values == 0.0)
    assert float((ref.vp == 0.0).mean()) > 0.3
    ok = ref.success.values
    for name in ("ktrans", "kep", "rss"):
        np.testing.assert_allclose(
            got[name].values[ok], ref[name].values[ok], rtol=1e-6, atol=1e-12, err_msg=name
        )
    np.testing.assert_allclose(got.vp.values[ok], ref.vp.values[ok], rtol=0, atol=1e-9)


def test_float32_close_to_float64():
    ct, aif = _noisy(1000, False, seed=2)
    f64 = fit_tofts(ct, aif, backend="torch")
    f32 = fit_tofts(ct, aif, backend="torch", dtype="float32")
    assert f32.ktrans.dtype == np.float64  # returned as float64 whatever the working precision
    rel = np.abs(f32.ktrans.values / f64.ktrans.values - 1)
    assert np.median(rel) < 1e-5
    assert rel.max() < 1e-2


def test_nan_curves_skipped_and_reported_like_numpy():
    ct, aif = _noisy(6, False, seed=3)
    c = ct.values.copy()
    c[[1, 4], 5] = np.nan
    bad = _ct(c, ct["time"].values)
    with pytest.warns(RuntimeWarning, match="2 curve"):
        ref = fit_tofts(bad, aif, backend="numpy")
    with pytest.warns(RuntimeWarning, match="2 curve"):
        got = fit_tofts(bad, aif, backend="torch")
    for f in (got, ref):
        assert np.isnan(f.ktrans.values[[1, 4]]).all()
        assert not f.success.values[[1, 4]].any()
    np.testing.assert_array_equal(got.success.values, ref.success.values)
    np.testing.assert_allclose(got.ktrans.values, ref.ktrans.values, rtol=1e-6)  # NaNs compare equal
    np.testing.assert_array_equal(bad.values, c)  # input untouched
    # all curves NaN: nothing reaches the backend
    with pytest.warns(RuntimeWarning, match="6 curve"):
        f = fit_tofts(_ct(np.full((6, 12), np.nan), ct["time"].values), aif, backend="torch")
    assert np.isnan(f.ktrans.values).all()


class _NoCompute:
    def __call__(self, dsk, keys, **kwargs):
        raise RuntimeError("dask computed while it should have stayed lazy")


def test_dask_chunked_lazy_same_numbers():
    dask = pytest.importorskip("dask")
    ct, aif = _noisy(40, True, seed=4)
    ct = ct.assign_coords(voxel=np.arange(40))
    eager = fit_tofts(ct, aif, extended=True, backend="torch")
    with dask.config.set(scheduler=_NoCompute()):
        lazy = fit_tofts(ct.chunk({"voxel": 15}), aif, extended=True, backend="torch")
    assert lazy.ktrans.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-12)


def test_deterministic_and_batch_independent(monkeypatch):
    from dcemets.models import tofts_backend as mt

    ct, aif = _noisy(300, False, seed=5)
    a = fit_tofts(ct, aif, backend="torch")
    b = fit_tofts(ct, aif, backend="torch")
    for n in a.data_vars:
        np.testing.assert_array_equal(a[n].values, b[n].values)
    # voxels are independent: small batches give the same fits
    monkeypatch.setitem(mt.BATCH, "cpu", 7)
    monkeypatch.setitem(mt._WORK, "cpu", 1)
    monkeypatch.setattr(mt, "_MIN_BATCH", 7)
    c = fit_tofts(ct, aif, backend="torch")
    xr.testing.assert_allclose(c, a, rtol=1e-12)


def test_auto_device_without_cuda_is_numpy():
    """'auto' is the fastest available: torch installed but no CUDA -> NumPy, not torch on the CPU."""
    if not NO_CUDA:
        pytest.skip("CUDA present: 'auto' would use it")
    ct, aif = _noisy(50, False, seed=6)
    auto = fit_tofts(ct, aif, device="auto")
    assert auto.attrs["backend"] == "numpy"
    xr.testing.assert_identical(auto, fit_tofts(ct, aif, backend="numpy", device="cpu"))


def test_auto_device_with_cuda_picks_torch(monkeypatch):
    """With CUDA available (simulated), 'auto' resolves to the torch backend; without, to NumPy."""
    from dcemets.kinetics import fitting

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert fitting._resolve_backend(None, "auto", None) == "torch"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert fitting._resolve_backend(None, "auto", None) == "numpy"
    # an explicit device or backend is never overridden by 'auto' resolution
    assert fitting._resolve_backend(None, "cuda", None) == "torch"
    assert fitting._resolve_backend("torch", "auto", None) == "torch"


@pytest.mark.cuda
@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
def test_cuda_matches_cpu():
    ct, aif = _noisy(2000, True, seed=7)
    ref = fit_tofts(ct, aif, extended=True, backend="torch", device="cpu")
    g64 = fit_tofts(ct, aif, extended=True, device="cuda", dtype="float64")
    both = ref.success.values & g64.success.values
    np.testing.assert_allclose(g64.ktrans.values[both], ref.ktrans.values[both], rtol=1e-6)
    g32 = fit_tofts(ct, aif, extended=True, device="cuda")  # float32 by default on CUDA
    assert np.median(np.abs(g32.ktrans.values / ref.ktrans.values - 1)) < 1e-3


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"backend": "bogus"}, ValueError, "unknown fitting `backend` 'bogus'"),
        ({"backend": "numpy", "device": "cuda"}, ValueError, "CPU only"),
        ({"backend": "numpy", "dtype": "float32"}, ValueError, "float64"),
        ({"backend": "torch", "dtype": "float16"}, ValueError, "dtype"),
        ({"backend": "torch", "device": "tpu"}, ValueError, "device"),
        ({"backend": "torch", "device": 0}, TypeError, "device"),
        ({"backend": 3}, TypeError, "backend"),
    ],
)
def test_bad_input(kw, exc, match):
    ct, aif = _noisy(2, False)
    with pytest.raises(exc, match=match):
        fit_tofts(ct, aif, **kw)


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is available")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
@pytest.mark.parametrize("chunked", [False, True])
def test_cuda_without_cuda_raises_at_call_time(device, chunked):
    ct, aif = _noisy(4, False)
    if chunked:
        pytest.importorskip("dask")
        ct = ct.chunk({"voxel": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="CUDA is not available"):
            fit_tofts(ct, aif, device=device)
