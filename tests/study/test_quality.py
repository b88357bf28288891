"""Quality flags of the per-case chain (issue 20): vocabulary, results, report, settings."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomllib
import xarray as xr

from dcemets import kinetics
from dcemets.study import (
    QUALITY_COLUMNS,
    QUALITY_FLAGS,
    QUALITY_THRESHOLDS,
    CaseResult,
    StudyConfig,
    StudyResult,
    acquisition_table,
    format_tables,
    process_case,
    quality_flags,
    write_report,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "user_guide"


# ---------------------------------------------------------------------------------------------
# the vocabulary
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quality", "flags"),
    [
        ({}, []),
        ({"tofts_bound": "", "tofts_residual": 0.01, "tofts_success": True}, []),
        ({"tofts_bound": "ve"}, ["tofts_at_bound"]),
        ({"tofts_residual": QUALITY_THRESHOLDS["tofts_residual"] * 1.01}, ["tofts_poor_fit"]),
        ({"tofts_residual": float("nan")}, []),
        ({"tofts_success": False}, ["tofts_failed"]),
        ({"concentration_invalid": 2}, ["concentration_invalid"]),
        ({"segmentation_confidence": 0.2}, ["segmentation_low_confidence"]),
        ({"segmentation_confidence": 0.9, "motion_mm": float("nan")}, []),
        ({"motion_mm": 2.5}, ["motion_large"]),
        (
            {"hotspot_flags": ["hotspot_vessel", "hotspot_small"], "tofts_bound": "ktrans;ve"},
            ["hotspot_small", "hotspot_vessel", "tofts_at_bound"],  # the vocabulary's order
        ),
    ],
)
def test_quality_flags_rules(quality, flags):
    assert quality_flags(quality) == flags


def test_vocabulary_covers_the_hot_spot_flags_and_is_documented():
    assert set(kinetics.HOTSPOT_FLAGS) <= set(QUALITY_FLAGS)
    text = (DOCS / "study.md").read_text(encoding="utf-8")
    text = text[text.index("## Quality flags") :]
    text = text[: text.index("\n## ", 5)]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    assert set(QUALITY_FLAGS) <= documented, set(QUALITY_FLAGS) - documented
    assert set(QUALITY_COLUMNS) <= documented, set(QUALITY_COLUMNS) - documented
    assert documented <= set(QUALITY_FLAGS) | set(QUALITY_COLUMNS)
    with pytest.raises(TypeError, match="quality"):
        quality_flags(["tofts_at_bound"])


# ---------------------------------------------------------------------------------------------
# results and report, on a hand-made StudyResult (no run needed)
# ---------------------------------------------------------------------------------------------


def _case(sid, label, flags, max_se):
    mask = xr.DataArray(np.ones((1, 2, 2), bool), dims=("z", "y", "x"))
    quality = {
        "flags": list(flags),
        "hotspot_voxels": 9,
        "tofts_residual": 0.05,
        "tofts_bound": "ve" if "tofts_at_bound" in flags else "",
        "acquisition": {
            "t10_s": {"value": 1.5, "source": "StudyConfig.t10_s"},
            "aif": {"value": "parker", "source": "StudyConfig.aif"},
        },
    }
    return CaseResult(
        subject_id=sid,
        primary=label,
        label=label,
        heuristics={"wash_in": 10.0, "max_se": max_se, "washout": -5.0},
        tofts={"ktrans": 0.2, "kep": 0.5, "ve": 0.4},
        features=pd.Series([1.0, 2.0], index=["a", "b"]),
        mask=mask,
        maps=xr.Dataset(),
        curve=pd.Series([1.0, 2.0], index=[0.0, 10.0]),
        quality=quality,
    )


@pytest.fixture
def fake_result():
    import matplotlib.figure

    cases = [
        _case("s1", "lung", [], 120.0),
        _case("s2", "other", ["tofts_at_bound"], 200.0),
        _case("s3", "lung", ["hotspot_vessel", "tofts_at_bound"], 900.0),
    ]
    table = pd.DataFrame([c.row() for c in cases]).set_index("subject_id")
    features = pd.DataFrame({c.subject_id: c.features for c in cases}).T
    cfg = StudyConfig.preset("fast", aif="weinmann", t10_s=1.2, hotspot={"guards": False})
    fig = matplotlib.figure.Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    return StudyResult(
        config=cfg, cases=cases, failures={}, table=table, features=features, figures={"f": fig}
    )


def test_case_rows_carry_every_quality_column(fake_result):
    row = fake_result.cases[2].row()
    assert set(QUALITY_COLUMNS) <= set(row)
    assert row["flags"] == "hotspot_vessel;tofts_at_bound"
    assert row["n_flags"] == 2
    assert np.isnan(row["segmentation_confidence"])
    assert np.isnan(row["motion_mm"])
    assert fake_result.cases[0].flags == ()
    assert list(fake_result.flagged.index) == ["s3", "s2"]


def test_report_lists_flagged_cases_first_and_shows_the_settings(fake_result, tmp_path):
    path = write_report(fake_result, tmp_path)
    page = path.read_text(encoding="utf-8")
    assert page.index("Quality flags") < page.index("Table 1 (paper)")
    assert "2 of 3 cases carry at least one quality flag" in page
    assert QUALITY_FLAGS["hotspot_vessel"].split(";")[0][:40] in page
    per_case = page[page.index("Per-case results (flagged cases first)") :]
    assert per_case.index(">s3<") < per_case.index(">s2<") < per_case.index(">s1<")
    settings = page[page.index("Settings of the per-case chain") :]
    for text in ("weinmann", "1.2", "hot-spot guards", "False"):
        assert text in settings[:3000], text
    cases = pd.read_csv(tmp_path / "cases.csv", index_col="subject_id", keep_default_na=False)
    assert cases.loc["s3", "flags"] == "hotspot_vessel;tofts_at_bound"
    assert cases.loc["s1", "flags"] == ""
    assert {"n_flags", "tofts_residual", "hotspot_voxels", "segmentation_confidence"} <= set(cases.columns)
    text = format_tables(fake_result)
    assert "Quality flags: 2 of 3 cases flagged (hotspot_vessel 1, tofts_at_bound 2)" in text
    assert "  s3: hotspot_vessel;tofts_at_bound" in text
    assert set(acquisition_table(fake_result).columns) >= {"aif", "aif_source", "t10_s"}


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"hotspot": {"guard": False}}, ValueError, "unknown option"),
        ({"hotspot": {"guards": 0}}, TypeError, "guards"),
        ({"hotspot": {"min_voxels": 10}}, ValueError, "min_voxels"),
        ({"hotspot": {"baseline_floor": 1.0}}, ValueError, "baseline_floor"),
        ({"hotspot": {"vessel_level": 0}}, ValueError, "vessel_level"),
        ({"hotspot": {"vessel_lag": -1}}, ValueError, "vessel_lag"),
        ({"hotspot": {"on_fail": "skip"}}, ValueError, "on_fail"),
        ({"hotspot": []}, TypeError, "hotspot"),
        ({"aif": "orton"}, ValueError, "aif"),
        ({"hotspot_size": 4}, ValueError, "odd"),
    ],
)
def test_hotspot_and_aif_settings_checked_at_construction(kw, exc, match):
    with pytest.raises(exc, match=match):
        StudyConfig(**kw)


def test_hotspot_and_aif_settings_enter_the_case_key_and_round_trip():
    base = StudyConfig()
    paper = StudyConfig(hotspot={"guards": False})
    assert base.case_key() != paper.case_key() != StudyConfig(aif="georgiou").case_key()
    cfg = StudyConfig(hotspot={"guards": False, "vessel_level": 0.6}, aif="fritz_hansen")
    assert StudyConfig.from_dict(tomllib.loads(cfg.to_toml())["study"]) == cfg


# ---------------------------------------------------------------------------------------------
# the per-case chain: the paper's hot spot on request, the AIF as set, flags recorded
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored_mask_case():
    """A DRO case analysed on its true mask (no segmentation: fast and independent of it)."""
    from dcemets.simulate import simulate_case

    case = simulate_case("kidney", rng=424242)
    return dataclasses.replace(case, roi_sagittal=None)


def test_paper_hot_spot_and_aif_are_settings_of_process_case(stored_mask_case):
    case = stored_mask_case
    cfg = StudyConfig.preset("fast", dl={"enabled": False})
    guarded = process_case(case, cfg)
    paper = process_case(case, dataclasses.replace(cfg, hotspot={"guards": False}))
    ref = kinetics.hotspot_roi(case.dce, within=case.lesion_mask, guards=False)
    h = kinetics.heuristics(kinetics.roi_curve(case.dce, ref))
    assert paper.heuristics["max_se"] == pytest.approx(float(h.max_se), rel=1e-12)
    assert guarded.quality["hotspot_voxels"] == 9
    for res in (guarded, paper):
        assert set(res.flags) <= set(QUALITY_FLAGS)
        assert res.quality["flags"] == quality_flags(res.quality)
        assert res.quality["acquisition"]["aif"]["value"] == "parker"
    weinmann = process_case(case, dataclasses.replace(cfg, aif="weinmann"))
    assert weinmann.quality["acquisition"]["aif"]["value"] == "weinmann"
    assert weinmann.heuristics == guarded.heuristics
    assert weinmann.tofts["ktrans"] != pytest.approx(guarded.tofts["ktrans"], rel=0.05)


def test_motion_correction_is_a_setting_of_process_case(stored_mask_case):
    """Off by default (motion unknown: NaN); on, the chain registers the frames and reports the
    motion magnitude, which a still case keeps small, and the setting enters the cache key."""
    case = stored_mask_case
    cfg = StudyConfig.preset("fast", dl={"enabled": False})
    assert not cfg.motion_correction
    assert cfg.case_key() != dataclasses.replace(cfg, motion_correction=True).case_key()
    with pytest.raises(TypeError, match="motion_correction"):
        StudyConfig(motion_correction="yes")
    off = process_case(case, cfg)
    assert np.isnan(off.quality["motion_mm"])
    assert off.quality["motion_region"] == "none"
    on = process_case(case, dataclasses.replace(cfg, motion_correction=True))
    true_motion = float(np.max(np.abs(case.truth.get("motion_mm", np.zeros(1)))))
    assert np.isfinite(on.quality["motion_mm"])
    assert on.quality["motion_mm"] <= true_motion + 1.5  # no more than a voxel of spurious motion
    assert on.quality["motion_region"] == "volume"  # no sagittal ROI: the whole volume
    assert on.row()["motion_region"] == "volume"


def test_registration_settings_are_checked_and_enter_the_cache_key():
    cfg = StudyConfig.preset("fast", motion_correction=True)
    vol = dataclasses.replace(cfg, registration={"region": "volume"})
    assert cfg.case_key() != vol.case_key()
    assert StudyConfig.from_dict(vol.to_dict()) == vol
    with pytest.raises(ValueError, match="region"):
        StudyConfig(registration={"region": "box"})
    with pytest.raises(ValueError, match="registration"):
        StudyConfig(registration={"mask": None})  # the study passes the mask itself
    with pytest.raises(TypeError, match="registration"):
        StudyConfig(registration=["volume"])


def test_motion_correction_registers_on_the_lesion_region(monkeypatch):
    """With a sagittal ROI the chain registers on the ROI carried to the DCE grid (the metric on
    the box around it, seeded by the config) and reports a motion close to the truth's."""
    from dcemets import registration
    from dcemets.segmentation import transfer_roi
    from dcemets.simulate import DIFFICULTIES, simulate_case

    diff = dataclasses.replace(
        DIFFICULTIES["realistic"], motion_probability=1.0, bulk_motion_mm=3.0, respiratory_mm=0.0
    )
    case = simulate_case("lung", rng=7, difficulty=diff)
    calls = []
    real = registration.register_frames

    def spy(dce, **kwargs):
        calls.append(kwargs)
        return real(dce, **kwargs)

    monkeypatch.setattr(registration, "register_frames", spy)
    cfg = StudyConfig.preset("fast", motion_correction=True, seed=5, dl={"enabled": False})
    res = process_case(case, cfg)
    assert res.quality["motion_region"] == "roi"
    (kw,) = calls
    assert kw["metric_region"] == "box"
    assert kw["rng"] == 5
    assert kw["margin_mm"] == 30.0
    assert kw["mask"].equals(transfer_roi(case.roi_sagittal, case.dce))
    eff = case.truth["motion_effective_mm"].values
    true_mm = np.linalg.norm(eff - eff[0], axis=1).max()
    assert true_mm > 2.0
    assert abs(res.quality["motion_mm"] - true_mm) < 1.0, (res.quality["motion_mm"], true_mm)
    res2 = process_case(case, dataclasses.replace(cfg, registration={"margin_mm": 25.0}))
    assert calls[-1]["margin_mm"] == 25.0
    assert calls[-1]["metric_region"] == "box"
    assert res2.quality["motion_region"] == "roi"
