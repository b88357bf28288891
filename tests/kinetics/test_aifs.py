"""Population AIF table, dose/haematocrit scaling, blood <-> plasma and the image-derived AIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dcemets._conventions import like, make_dce
from dcemets.kinetics import (
    POPULATION_AIFS,
    biexponential_aif,
    blood_to_plasma,
    image_aif,
    parker_aif,
    plasma_to_blood,
    population_aif,
    tofts,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "osipi"
MODELS = ["parker", "georgiou", "weinmann", "fritz_hansen"]


def test_table_holds_the_published_parameters():
    g = POPULATION_AIFS["georgiou"]["parameters"]  # Georgiou et al. 2019, Table 3
    assert dict(g) == {
        "A1": 0.37,
        "m1": 0.11,
        "A2": 0.33,
        "m2": 1.17,
        "A3": 10.06,
        "m3": 16.02,
        "alpha": 5.26,
        "beta": 0.032,
        "tau": 0.129,
    }
    p = POPULATION_AIFS["parker"]["parameters"]  # Parker et al. 2006, Table 1
    assert (p["A1"], p["T1"], p["sigma1"], p["alpha"], p["beta"], p["s"], p["tau"]) == (
        0.809,
        0.17046,
        0.0563,
        1.050,
        0.1685,
        38.078,
        0.483,
    )
    assert dict(POPULATION_AIFS["weinmann"]["parameters"]) == {
        "a1": 3.99,
        "m1": 0.144,
        "a2": 4.78,
        "m2": 0.0111,
    }
    assert dict(POPULATION_AIFS["fritz_hansen"]["parameters"]) == {
        "a1": 2.4,
        "m1": 3.0,
        "a2": 0.62,
        "m2": 0.016,
    }
    for name, e in POPULATION_AIFS.items():
        assert e["doi"].startswith("10.1002/mrm."), name
        assert e["compartment"] in ("blood", "plasma")
        assert set(e["units"]) == set(e["parameters"])
    with pytest.raises(TypeError):
        POPULATION_AIFS["parker"]["parameters"]["A1"] = 1.0  # read-only


def _osipi_georgiou() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    df = pd.read_csv(DATA / "GeorgiouAIF_ref.csv")
    return {lab: (g.time.to_numpy() * 60.0, g.Cb.to_numpy()) for lab, g in df.groupby("label")}


def test_georgiou_against_the_published_supplementary_curve():
    """Eq. 1 with the (rounded) Table 3 parameters against the paper's supplementary AIF (OSIPI).

    The supplementary curve is the unrounded fit, so OSIPI's 1e-4 mM / 1 % tolerance is not
    met on the steep upslope (max 3 % there); shape, peak and area agree closely.
    """
    ref = _osipi_georgiou()
    t, cb_ref = ref["original_AIF"]
    cb = population_aif(t, model="georgiou", output="blood")
    assert t[cb.argmax()] == t[cb_ref.argmax()] == 7.5  # peak time (s)
    assert cb.max() == pytest.approx(cb_ref.max(), rel=0.01)  # 8.70 vs 8.65 mM
    assert np.trapezoid(cb, t) == pytest.approx(np.trapezoid(cb_ref, t), rel=0.005)
    np.testing.assert_allclose(cb, cb_ref, atol=0.1)
    within = np.abs(cb - cb_ref) <= 1e-4 + 0.01 * np.abs(cb_ref)
    assert within.mean() > 0.96
    assert np.all(within[t > 21.0])  # beyond the first pass, OSIPI's tolerance holds
    for label, (tl, cl) in ref.items():  # resampled variants
        np.testing.assert_allclose(
            population_aif(tl, model="georgiou", output="blood"), cl, atol=0.1, err_msg=label
        )


def test_georgiou_recirculation_and_tail():
    t = np.arange(0.0, 600.0, 0.1)
    cb = population_aif(t, model="georgiou", output="blood")
    assert cb[0] == 0.0
    assert np.all(cb >= 0)
    # the late tail follows the slowest exponential (A1 exp(-m1 t)) times the recirculation sum
    late = t > 300
    slope = np.polyfit(t[late] / 60.0, np.log(cb[late]), 1)[0]
    assert slope == pytest.approx(-0.11, abs=0.02)


def test_parker_and_weinmann_agree_with_the_existing_functions(osipi_parker):
    t = np.linspace(-10.0, 400.0, 300)
    np.testing.assert_allclose(population_aif(t, model="parker", delay=12.0), parker_aif(t, delay=12.0))
    np.testing.assert_allclose(
        population_aif(t, model="weinmann", delay=5.0), biexponential_aif(t, delay=5.0)
    )
    d = osipi_parker["ParkerAIF_ref:original_AIF"]
    np.testing.assert_allclose(
        population_aif(d["t_min"] * 60.0, model="parker", output="blood"), d["cb"], atol=1e-4, rtol=0.01
    )


@pytest.mark.parametrize("model", ["weinmann", "fritz_hansen"])
def test_biexponential_integrals_and_values(model):
    p = POPULATION_AIFS[model]["parameters"]
    scale = 0.1 if model == "weinmann" else 1.0
    t = np.linspace(0.0, 600.0, 600001)
    cp = population_aif(t, model=model)
    assert cp[0] == pytest.approx(scale * (p["a1"] + p["a2"]))  # 0.877 / 3.02 mM
    tm = 10.0  # analytic integral over 10 min: sum a_i (1 - exp(-m_i T)) / m_i
    exact = scale * sum(p[f"a{i}"] * (1 - np.exp(-p[f"m{i}"] * tm)) / p[f"m{i}"] for i in (1, 2))
    assert np.trapezoid(cp, t / 60.0) == pytest.approx(exact, rel=1e-8)


def test_weinmann_tofts_closed_form():
    """Tofts with the Weinmann AIF matches the analytic convolution (an external oracle)."""
    t = np.arange(0.0, 600.0, 0.5)
    cp = population_aif(t, model="weinmann")
    kt, kep = 0.1, 0.5
    ct = tofts(t, cp, kt, kep)
    p = POPULATION_AIFS["weinmann"]["parameters"]
    tm = t / 60.0
    exact = (
        0.1
        * kt
        * sum(
            p[f"a{i}"] * (np.exp(-p[f"m{i}"] * tm) - np.exp(-kep * tm)) / (kep - p[f"m{i}"]) for i in (1, 2)
        )
    )
    np.testing.assert_allclose(ct, exact, atol=2e-3)


@pytest.mark.parametrize("model", MODELS)
def test_dose_linearity_and_haematocrit(model):
    t = np.arange(-10.0, 300.0, 1.0)
    ref = population_aif(t, model=model, hct=0.4)
    np.testing.assert_allclose(population_aif(t, model=model, dose=0.05, hct=0.4), 0.5 * ref)
    np.testing.assert_allclose(population_aif(t, model=model, dose=0.3, hct=0.4), 3.0 * ref)
    blood = population_aif(t, model=model, hct=0.4, output="blood")
    np.testing.assert_allclose(blood_to_plasma(blood, hct=0.4), ref)
    np.testing.assert_allclose(plasma_to_blood(ref, hct=0.4), blood)
    # the haematocrit only enters when the compartment changes
    native = POPULATION_AIFS[model]["compartment"]
    np.testing.assert_array_equal(
        population_aif(t, model=model, hct=0.1, output=native),
        population_aif(t, model=model, hct=0.5, output=native),
    )
    assert np.all(ref[t < 0] == 0.0)


def test_blood_plasma_round_trip_and_dataarray():
    rng = np.random.default_rng(0)
    cb = rng.uniform(0, 8, (3, 5))
    for h in (0.0, 0.35, 0.45, 0.6):
        np.testing.assert_allclose(plasma_to_blood(blood_to_plasma(cb, h), h), cb, rtol=1e-14)
    da = xr.DataArray(cb[0], dims="time", coords={"time": np.arange(5.0)}, attrs={"units": "mM"})
    out = blood_to_plasma(da, hct=0.45)
    assert isinstance(out, xr.DataArray)
    assert out.attrs["hct"] == 0.45
    np.testing.assert_allclose(out.values, cb[0] / 0.55)
    assert da.values.tolist() == cb[0].tolist()  # input not modified


def test_population_aif_dataarray_attrs():
    t = xr.DataArray(np.arange(0.0, 60.0, 5.0), dims="time")
    t = t.assign_coords(time=t.values)
    out = population_aif(t, model="georgiou", dose=0.05)
    assert out.dims == ("time",)
    assert out.attrs["units"] == "mM"
    assert out.attrs["dose_mmol_per_kg"] == 0.05
    assert "10.1002/mrm.27524" in out.attrs["reference"]


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"model": "tofts"}, ValueError, "model"),
        ({"output": "serum"}, ValueError, "output"),
        ({"dose": 0.0}, ValueError, "dose"),
        ({"dose": "x"}, TypeError, "dose"),
        ({"hct": 1.0}, ValueError, "hct"),
        ({"delay": np.nan}, ValueError, "delay"),
    ],
)
def test_population_aif_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        population_aif([0.0, 1.0], **kwargs)


def test_conversion_bad_input():
    with pytest.raises(ValueError, match="hct"):
        blood_to_plasma([1.0], hct=-0.1)
    with pytest.raises(TypeError, match="cb"):
        blood_to_plasma(None)
    with pytest.raises(TypeError, match="cp"):
        plasma_to_blood(np.array(["a"]))
    with pytest.raises(TypeError, match="time"):
        population_aif(np.array([object()]))


# --------------------------------------------------------------------------------------
# image-derived AIF
# --------------------------------------------------------------------------------------


def _synthetic_volume(rng):
    """A (time, 2, 8, 8) concentration volume: 6 artery voxels, 3 veins, a noisy artery-like
    voxel, 3 partial-volume arterial voxels and Tofts tissue; returns (dce, truth masks)."""
    t = np.arange(0.0, 150.0, 2.0)
    art = population_aif(t, delay=10.0, output="blood")
    fine = np.arange(0.0, 150.0, 0.1)
    kern = np.exp(-fine / 6.0)
    vein = np.convolve(population_aif(fine, delay=18.0, output="blood"), kern)[: fine.size] * 0.1 / 6.0
    vein = np.interp(t, fine, vein)
    vein *= 1.1 * art.max() / vein.max()  # veins as bright as the artery, but later
    cp = population_aif(t, delay=10.0)
    tissue = tofts(t, cp, 0.1, 0.5)
    vol = np.broadcast_to(tissue[:, None, None, None], (t.size, 2, 8, 8)).copy()
    vol += rng.normal(0, 0.02, vol.shape)
    truth = {k: np.zeros((2, 8, 8), bool) for k in ("artery", "vein", "noisy", "pv")}
    truth["artery"][0, 2, 2:5] = truth["artery"][1, 2, 2:5] = True
    truth["vein"][0, 6, 5:8] = True
    truth["noisy"][1, 5, 1] = True
    truth["pv"][0, 3, 2:5] = True
    vol[:, truth["artery"]] = art[:, None] + rng.normal(0, 0.05, (t.size, 6))
    vol[:, truth["vein"]] = vein[:, None] + rng.normal(0, 0.05, (t.size, 3))
    vol[:, truth["noisy"]] = art[:, None] + rng.normal(0, 0.8, (t.size, 1))
    vol[:, truth["pv"]] = 0.55 * art[:, None] + 0.45 * tissue[:, None]
    dce = make_dce(vol, t, attrs={"units": "mM"})
    return dce, truth, art


def test_image_aif_recovers_the_arterial_voxels():
    dce, truth, art = _synthetic_volume(np.random.default_rng(3))
    out = image_aif(dce, n_voxels=6)
    np.testing.assert_array_equal(out.selected.values, truth["artery"])
    assert out.attrs["n_voxels"] == 6
    np.testing.assert_allclose(out.aif.values, art, atol=0.1)
    assert out.aif.attrs["units"] == "mM"
    assert out.selected.dims == ("z", "y", "x")
    # each filter is needed: without the early-peak rule the veins (brighter) win
    no_timing = image_aif(dce, n_voxels=6, max_delay=60.0)
    assert (no_timing.selected.values & truth["vein"]).any()
    # without the noise rule the noisy voxel (highest peak) is taken
    noisy = image_aif(dce, n_voxels=6, roughness_factor=1e6)
    assert (noisy.selected.values & truth["noisy"]).any()


def test_image_aif_partial_volume_and_mask():
    dce, truth, _ = _synthetic_volume(np.random.default_rng(4))
    # search only in a box holding the partial-volume voxels and one true artery row
    box = np.zeros((2, 8, 8), bool)
    box[0, 2:4, 2:5] = True
    with pytest.warns(RuntimeWarning, match="passed the arterial filters"):
        out = image_aif(dce, mask=like(dce, box), n_voxels=6)
    np.testing.assert_array_equal(out.selected.values, truth["artery"] & box)
    assert not (out.selected.values & truth["pv"]).any()
    # with the partial-volume check relaxed they come in
    loose = image_aif(dce, mask=like(dce, box), n_voxels=6, pv_fraction=0.3)
    assert loose.selected.values[truth["pv"]].all()


def test_image_aif_bad_input():
    dce, _, _ = _synthetic_volume(np.random.default_rng(5))
    with pytest.raises(ValueError, match="mask"):
        image_aif(dce, mask=like(dce, np.zeros((2, 8, 8), bool)))
    with pytest.raises(ValueError, match="top_fraction"):
        image_aif(dce, top_fraction=0.0)
    with pytest.raises(TypeError, match="n_voxels"):
        image_aif(dce, n_voxels=2.5)
    with pytest.raises(ValueError, match="max_delay"):
        image_aif(dce, max_delay=-1.0)
    with pytest.raises(ValueError, match="enhancing"):
        image_aif(make_dce(np.ones((5, 1, 2, 2)), np.arange(5.0)))
    with pytest.raises(ValueError, match="dce"):
        image_aif(dce.isel(x=slice(0, 0)))


def test_docs_table_matches_the_module_table():
    """The POPULATION_AIFS table in docs/user_guide/kinetics.md carries the module's numbers."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "kinetics.md").read_text(
        encoding="utf-8"
    )
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", doc, re.MULTILINE)}
    assert set(rows) >= set(POPULATION_AIFS)
    for name, entry in POPULATION_AIFS.items():
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert cells[1] == entry["compartment"]
        assert cells[2] == f"{entry['dose_mmol_per_kg']} mmol/kg"
        in_doc = sorted(float(x) for x in re.findall(r"(?<![\w.])\d+\.\d+", cells[3]))
        assert in_doc == sorted(float(v) for v in entry["parameters"].values()), name
        assert entry["doi"] in cells[4]
