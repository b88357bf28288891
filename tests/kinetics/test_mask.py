"""``mask=`` means the same across kinetics functions (issue 22 item 10)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from dcemets._conventions import like, make_dce, make_image
from dcemets.kinetics import (
    concentration_to_signal,
    fit_delay,
    fit_patlak,
    fit_tcum,
    fit_tcxm,
    fit_tofts,
    image_aif,
    parametric_maps,
    parker_aif,
    signal_to_concentration,
    tofts,
)

T = np.arange(0.0, 120.0, 4.0)
ACQ = {"t10": 1.2, "flip_angle": 10.0, "tr": 0.0041, "r1": 4.5}


def _conc_volume():
    """Tofts curves on a (time, 1, 3, 4) grid with real geometry, plus a little noise."""
    cp = parker_aif(T, delay=10.0)
    kt = np.linspace(0.05, 0.3, 12).reshape(1, 3, 4)
    c = tofts(T, cp, kt, 0.5)  # (1, 3, 4, T)
    c = c + np.random.default_rng(0).normal(0.0, 0.005, c.shape)
    ct = make_dce(np.moveaxis(c, -1, 0), T, spacing=(0.7, 0.7, 3.0), origin=(5.0, -2.0, 10.0))
    return ct, cp


def _mask(ct):
    m = np.zeros(ct.shape[1:], dtype=bool)
    m[0, 1:, 1:3] = True
    m[0, 0, 0] = True
    return m


def _signal():
    ct, _ = _conc_volume()
    s = concentration_to_signal(ct, m0=1000.0, **ACQ)
    vals = s.values.copy()
    vals[:, 0, 2, 3] = 0.0  # S0 = 0: a voxel outside the body
    return s.copy(data=vals), vals


@pytest.mark.parametrize("as_array", [False, True])
def test_signal_to_concentration_mask(as_array):
    s, vals = _signal()
    m = _mask(s)
    with pytest.raises(ValueError, match="zero or negative in 1 voxel"):
        signal_to_concentration(s, **ACQ)
    before = s.copy(deep=True)
    mk = m if as_array else like(s.isel(time=0), m)
    got = signal_to_concentration(s, mask=mk, **ACQ)  # the S0 = 0 voxel is outside: no error
    xr.testing.assert_identical(s, before)  # the input is not modified
    assert got.dims == s.dims
    assert got.attrs["units"] == "mM"
    assert np.isnan(got.values[:, ~m]).all()
    ref = signal_to_concentration(s.where(xr.DataArray(m, dims=("z", "y", "x")), 100.0), **ACQ)
    np.testing.assert_array_equal(got.values[:, m], ref.values[:, m])  # inside: bitwise unmasked
    # numpy signal (..., T)
    arr = np.moveaxis(vals, 0, -1)
    c, valid = signal_to_concentration(arr, mask=m, return_valid=True, **ACQ)
    assert np.isnan(c[~m]).all()
    assert not valid[~m].any()
    assert valid[m].all()
    np.testing.assert_array_equal(c[m], np.moveaxis(ref.values, 0, -1)[m])


def _check_fit(fit, ct, m, ref, alone):
    """Outside `m`: NaN/False/0; inside: bitwise the fit of those curves alone, and the
    unmasked fit to rounding (batched BLAS products differ in the last bits with the set of
    voxels fitted together)."""
    for n in fit.data_vars:
        if n == "success":
            assert not fit[n].values[~m].any()
        elif n == "at_bound":
            assert (fit[n].values[~m] == 0).all()
        else:
            assert np.isnan(fit[n].values[~m]).all(), n
        np.testing.assert_array_equal(fit[n].values[m], alone[n].values, err_msg=n)
        if fit[n].dtype.kind == "f":
            np.testing.assert_allclose(fit[n].values[m], ref[n].values[m], rtol=1e-6, atol=1e-12, err_msg=n)
        else:
            np.testing.assert_array_equal(fit[n].values[m], ref[n].values[m], err_msg=n)


def _alone(ct, m):
    """The curves of `m`, in C order, as a (voxel, time) DataArray."""
    return xr.DataArray(np.moveaxis(ct.values, 0, -1)[m], dims=("voxel", "time"), coords={"time": T})


@pytest.mark.parametrize(
    "fit",
    [
        fit_tofts,
        lambda ct, cp, **kw: fit_tofts(ct, cp, extended=True, method="llsq", **kw),
        fit_patlak,
        lambda ct, cp, **kw: fit_delay(ct, cp, delays=np.arange(-4.0, 4.5, 2.0), **kw),
        lambda ct, cp, **kw: fit_tcxm(ct, cp, **kw),
        lambda ct, cp, **kw: fit_tcum(ct, cp, **kw),
    ],
)
def test_fits_mask(fit):
    ct, cp = _conc_volume()
    m = _mask(ct)
    before = ct.copy(deep=True)
    ref = fit(ct, cp)
    alone = fit(_alone(ct, m), cp)
    got = fit(ct, cp, mask=like(ct.isel(time=0), m))
    xr.testing.assert_identical(ct, before)
    _check_fit(got, ct, m, ref, alone)
    _check_fit(fit(ct, cp, mask=m), ct, m, ref, alone)  # an ndarray in the order of ct's non-time dims
    # a NaN curve outside the mask is neither fitted nor reported
    bad = ct.copy()
    bad[:, 0, 0, 3] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            fit(bad, cp, mask=m)


def test_fit_tofts_mask_lazy_and_voxel_dims():
    ct, cp = _conc_volume()
    m = _mask(ct)
    ref = fit_tofts(ct, cp, mask=m)
    lazy = fit_tofts(ct.chunk({"y": 2}), cp, mask=like(ct.isel(time=0), m))
    assert lazy.ktrans.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), ref, rtol=1e-8)
    assert np.isnan(lazy.ktrans.values[~m]).all()
    flat = xr.DataArray(
        np.moveaxis(ct.values, 0, -1).reshape(-1, T.size), dims=("voxel", "time"), coords={"time": T}
    )
    got = fit_tofts(flat, cp, mask=xr.DataArray(m.ravel(), dims="voxel"))
    np.testing.assert_allclose(got.ktrans.values, ref.ktrans.values.ravel(), rtol=1e-8)
    assert np.isnan(got.ktrans.values[~m.ravel()]).all()


def test_parametric_maps_and_image_aif_take_the_same_mask():
    s, _ = _signal()
    m = _mask(s)
    with pytest.raises(ValueError, match="S0"):
        parametric_maps(s)
    a = parametric_maps(s, mask=like(s.isel(time=0), m))
    b = parametric_maps(s, mask=m)
    xr.testing.assert_identical(a, b)
    assert np.isnan(a.wash_in.values[~m]).all()
    assert np.isfinite(a.wash_in.values[m]).all()
    ia = image_aif(s, mask=m, n_voxels=1)
    xr.testing.assert_identical(ia, image_aif(s, mask=like(s.isel(time=0), m), n_voxels=1))


def _calls():
    s, _ = _signal()
    ct, cp = _conc_volume()
    return {
        "signal_to_concentration": lambda mask: signal_to_concentration(s, mask=mask, **ACQ),
        "fit_tofts": lambda mask: fit_tofts(ct, cp, mask=mask),
        "fit_patlak": lambda mask: fit_patlak(ct, cp, mask=mask),
        "parametric_maps": lambda mask: parametric_maps(s, mask=mask),
    }


@pytest.mark.parametrize("name", ["signal_to_concentration", "fit_tofts", "fit_patlak", "parametric_maps"])
def test_bad_masks_name_mask(name):
    call = _calls()[name]
    ref = make_dce(np.zeros((3, 1, 3, 4)), [0.0, 1.0, 2.0], spacing=(0.7, 0.7, 3.0), origin=(5.0, -2.0, 10.0))
    good = np.ones((1, 3, 4), dtype=bool)
    with pytest.raises(TypeError, match="`mask` must be a bool"):
        call(good.astype(float))
    with pytest.raises(TypeError, match="`mask`"):
        call(good.tolist())
    with pytest.raises(ValueError, match="`mask` has shape"):
        call(np.ones((1, 4, 3), dtype=bool))
    with pytest.raises(ValueError, match="`mask` must have"):
        call(xr.DataArray(np.ones((3, 4), dtype=bool), dims=("y", "x")))
    other = make_image(good, spacing=(0.7, 0.7, 2.0), origin=(5.0, -2.0, 10.0))  # another grid
    with pytest.raises(ValueError, match=r"`mask`.*different grids"):
        call(other)
    with pytest.raises(ValueError, match="`mask` is empty"):
        call(like(ref.isel(time=0), np.zeros((1, 3, 4), dtype=bool)))


def test_numpy_signal_refuses_a_dataarray_mask():
    s, vals = _signal()
    with pytest.raises(TypeError, match="`mask`"):
        signal_to_concentration(np.moveaxis(vals, 0, -1), mask=like(s.isel(time=0), _mask(s)), **ACQ)
