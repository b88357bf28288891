import numpy as np
import pytest
import xarray as xr

from dcemets.kinetics import biexponential_aif, parker_aif


def test_parker_matches_osipi_reference(osipi_parker):
    n = 0
    for key, d in osipi_parker.items():
        t_s = d["t_min"] * 60.0
        got = parker_aif(t_s, delay=d["delay"], hct=0.0)
        if key.startswith("ParkerAIF_ref:"):
            # OSIPI tolerance without delay: atol 1e-4, rtol 0.01
            np.testing.assert_allclose(got, d["cb"], atol=1e-4, rtol=0.01, err_msg=key)
        else:
            # OSIPI delayed reference: atol 0.1, rtol 0.1 (Cb forced to 0 before the delay)
            np.testing.assert_allclose(got, d["cb"], atol=0.1, rtol=0.1, err_msg=key)
            assert np.all(got[t_s < d["delay"] - 1e-9] == 0.0)
        n += 1
    assert n >= 20


def test_parker_published_values():
    # peak blood concentration 6.07 mM about 10.4 s after onset (Parker 2006, Fig./Table 1)
    t = np.arange(0.0, 60.0, 0.01)
    cb = parker_aif(t, hct=0.0)
    assert cb.max() == pytest.approx(6.07, abs=0.01)
    assert t[cb.argmax()] == pytest.approx(10.4, abs=0.1)
    # haematocrit: plasma = blood / (1 - hct)
    np.testing.assert_allclose(parker_aif(t, hct=0.42), cb / 0.58)


def test_parker_delay_shifts():
    t = np.arange(0.0, 200.0, 0.5)
    np.testing.assert_allclose(parker_aif(t + 20.0, delay=20.0), parker_aif(t))
    assert np.all(parker_aif(t, delay=30.0)[t < 30] == 0)


def test_parker_dataarray():
    t = xr.DataArray(np.arange(0.0, 10.0), dims="time", coords={"time": np.arange(0.0, 10.0)})
    out = parker_aif(t)
    assert isinstance(out, xr.DataArray)
    assert out.attrs["units"] == "mM"
    np.testing.assert_allclose(out.values, parker_aif(t.values))


def test_biexponential_values():
    t = np.array([-5.0, 0.0, 60.0])
    cp = biexponential_aif(t)
    assert cp[0] == 0.0
    assert cp[1] == pytest.approx(0.1 * (3.99 + 4.78))
    assert cp[2] == pytest.approx(0.1 * (3.99 * np.exp(-0.144) + 4.78 * np.exp(-0.0111)))


@pytest.mark.parametrize("bad", [{"hct": 1.0}, {"hct": -0.1}, {"delay": np.nan}])
def test_parker_bad_input(bad):
    with pytest.raises(ValueError, match=r"hct|delay"):
        parker_aif([0.0, 1.0], **bad)


def test_parker_bad_time_type():
    with pytest.raises(TypeError, match="time"):
        parker_aif("abc")


@pytest.mark.parametrize("name", ["dose", "m1", "m2"])
def test_biexponential_rates_and_dose_must_be_positive(name):
    with pytest.raises(ValueError, match=rf"`{name}` must be a positive number"):
        biexponential_aif([0.0, 60.0], **{name: 0.0})


@pytest.mark.parametrize("aif", [parker_aif, biexponential_aif])
def test_aif_time_must_be_real_numbers_and_not_empty(aif):
    with pytest.raises(ValueError, match=r"`time` needs at least 1 value"):
        aif(np.zeros(0))
    for bad in (np.array(["0", "10"]), np.array([0.0, 10.0], dtype=object)):
        with pytest.raises(TypeError, match=r"`time` must be numeric"):
            aif(bad)
