"""simulate_cohort: composition, determinism (serial vs processes), and the Table 1 calibration."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dcemets import kinetics
from dcemets.simulate import PAPER_COMPOSITION, TABLE1, simulate_cohort

SMALL = {"lung": 2, "thyroid": 1}


def test_paper_composition():
    assert dict(PAPER_COMPOSITION) == {
        "lung": 30,
        "breast": 9,
        "thyroid": 7,
        "prostate": 6,
        "liver": 6,
        "kidney": 3,
    }
    assert sum(PAPER_COMPOSITION.values()) == 61


def test_cohort_ids_labels_and_order():
    cases = simulate_cohort(composition=SMALL, rng=5, progress=False)
    assert [c.subject_id for c in cases] == ["sim001", "sim002", "sim003"]
    assert [c.primary for c in cases] == ["lung", "lung", "thyroid"]
    assert [c.label for c in cases] == ["lung", "lung", "other"]
    assert len({c.dce.attrs["frame_of_reference"] for c in cases}) == 3


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.subject_id == y.subject_id
        assert np.array_equal(x.dce.values, y.dce.values)
        assert np.array_equal(x.lesion_mask.values, y.lesion_mask.values)
        assert np.array_equal(x.roi_sagittal.values, y.roi_sagittal.values)
        assert x.dce.attrs == y.dce.attrs
        assert x.truth["kep"] == y.truth["kep"]


def test_cohort_bit_identical_serial_and_parallel():
    a = simulate_cohort(composition=SMALL, rng=12, progress=False)
    b = simulate_cohort(composition=SMALL, rng=np.random.default_rng(12), n_jobs=2, progress=False)
    _same(a, b)
    c = simulate_cohort(composition=SMALL, rng=13, progress=False)
    assert not np.array_equal(a[0].dce.values, c[0].dce.values)


def test_stratified_sampling_spans_the_distribution():
    from dcemets.simulate.case import _latin_hypercube

    u = _latin_hypercube(7, 9, np.random.default_rng(0))
    assert np.all((u > 0) & (u < 1))
    for col in u.T:  # one point per stratum [i/7, (i+1)/7)
        assert sorted(np.floor(col * 7).astype(int).tolist()) == list(range(7))


@pytest.mark.parametrize(
    ("composition", "exc", "match"),
    [
        ({"lung": -1}, ValueError, ">= 0"),
        ({"pancreas": 2}, ValueError, "primary"),
        ({"lung": 1.5}, TypeError, "int"),
        ({"lung": 0}, ValueError, "no case"),
        ([("lung", 2)], TypeError, "mapping"),
    ],
)
def test_bad_composition(composition, exc, match):
    with pytest.raises(exc, match=match):
        simulate_cohort(composition=composition, progress=False)


def test_bad_cohort_options():
    with pytest.raises(ValueError, match="n_jobs"):
        simulate_cohort(composition=SMALL, n_jobs=0, progress=False)
    with pytest.raises(ValueError, match="tr"):
        simulate_cohort(composition=SMALL, tr=-1.0, progress=False)
    with pytest.raises(ValueError, match="per case"):
        simulate_cohort(composition=SMALL, subject_id="x", progress=False)


def hotspot_table(cases) -> pd.DataFrame:
    rows = []
    for c in cases:
        roi = kinetics.hotspot_roi(c.dce, within=c.lesion_mask, guards=False)  # the paper's way
        h = kinetics.heuristics(kinetics.roi_curve(c.dce, roi))
        rows.append(
            {
                "primary": c.primary,
                "label": c.label,
                "max_se": float(h.max_se),
                "wash_in": float(h.wash_in),
                "washout": float(h.washout),
            }
        )
    return pd.DataFrame(rows)


@functools.cache
def cohort_table(seed: int) -> pd.DataFrame:
    """The default 61-case cohort (realistic difficulty), measured as the paper did: hot-spot
    ROI heuristics from the true lesion mask.  Cached: the Table 1 tests share the cohorts."""
    return hotspot_table(simulate_cohort(rng=seed, n_jobs=2, progress=False))


@pytest.fixture(scope="module")
def paper_cohort_table():
    """The default cohort (rng=0), the one the calibration was tuned on."""
    return cohort_table(0)


@pytest.mark.slow
@pytest.mark.parametrize("group", ["lung", "other", "breast", "thyroid", "prostate", "liver", "kidney"])
@pytest.mark.parametrize("column", ["max_se", "wash_in", "washout"])
def test_table1_group_means_within_one_standard_error(paper_cohort_table, group, column):
    df = paper_cohort_table
    sub = df[df.label == group] if group in ("lung", "other") else df[df.primary == group]
    mean, sd = TABLE1[group][column]
    n = TABLE1[group]["n"][0]
    assert len(sub) == n
    assert abs(sub[column].mean() - mean) <= sd / np.sqrt(n), (group, column, sub[column].mean(), mean)


@pytest.mark.slow
def test_lung_vs_other_washout_significant(paper_cohort_table):
    df = paper_cohort_table
    lung, other = df.washout[df.label == "lung"], df.washout[df.label == "other"]
    _, p = stats.ttest_ind(lung, other, equal_var=False)
    assert p < 0.01
    assert lung.mean() > other.mean()
    # lung mostly plateau (|slope| small), thyroid almost always wash-out (paper Figs 1, 4)
    assert (lung.abs() < 10).mean() > 0.6
    assert (df.washout[df.primary == "thyroid"] < -5).mean() >= 0.8
    # max SE and wash-in do not separate the groups (paper: p = 0.199 and 0.614)
    assert (
        stats.ttest_ind(df.max_se[df.label == "lung"], df.max_se[df.label == "other"], equal_var=False)[1]
        > 0.01
    )


def test_cohort_round_trips_through_io(tmp_path):
    """A simulated cohort is written and read back by dcemets.io with its geometry intact."""
    from dcemets.io import load_cohort, save_cohort

    cases = simulate_cohort(composition={"kidney": 1}, rng=2, progress=False)
    save_cohort(cases, tmp_path / "cohort", progress=False)
    back = load_cohort(tmp_path / "cohort", progress=False)
    assert [c.subject_id for c in back] == ["sim001"]
    a, b = cases[0], back[0]
    assert b.primary == "kidney"
    assert b.label == "other"
    np.testing.assert_allclose(b.dce.values, a.dce.values, rtol=1e-6)
    np.testing.assert_allclose(b.dce.time.values, a.dce.time.values)
    assert np.array_equal(b.lesion_mask.values, a.lesion_mask.values)
    assert np.array_equal(b.roi_sagittal.values, a.roi_sagittal.values)
    from dcemets._conventions import geometry

    for x, y in ((a.dce, b.dce), (a.t2w_sagittal, b.t2w_sagittal)):
        ga, gb = geometry(x), geometry(y)
        np.testing.assert_allclose(ga.origin, gb.origin, atol=1e-4)
        np.testing.assert_allclose(ga.direction, gb.direction, atol=1e-6)


CALIBRATION_SEEDS = (0, 1, 2)  # the lung and prostate medians were re-centred on these three
# (the other primaries' were tuned on seed 0 alone); see docs/user_guide/dro.md, Calibration
GROUPS = ("lung", "other", "breast", "thyroid", "prostate", "liver", "kidney")
HEURISTICS = ("max_se", "wash_in", "washout")


def _group_z(df: pd.DataFrame) -> pd.Series:
    """(group mean - Table 1 mean) / Table 1 standard error, for the 21 cells of Table 1."""
    out = {}
    for g in GROUPS:
        sub = df[df.label == g] if g in ("lung", "other") else df[df.primary == g]
        n = TABLE1[g]["n"][0]
        assert len(sub) == n * df.attrs.get("n_cohorts", 1)
        for col in HEURISTICS:
            mean, sd = TABLE1[g][col]
            out[(g, col)] = (sub[col].mean() - mean) / (sd / np.sqrt(n))
    return pd.Series(out)


@pytest.mark.slow
def test_table1_calibration_holds_on_three_seeds():
    """Table 1 calibration of the realistic default, from the true masks, on three cohorts.

    The calibration is a property of the DRO's distribution, so it is tested on the mean of
    three default cohorts (183 cases): every one of the 21 group means (lung, other and each
    primary x max SE, wash-in SE, wash-out slope) lies within one standard error (sd / sqrt(n),
    the paper's) of Table 1.  One 61-case cohort is itself a sample whose group means scatter
    by about one SE around the DRO's even when the DRO's mean is the paper's, so a per-seed bound
    must allow for 63 such draws: each lies within three SE (the family-wise 5 % Bonferroni bound
    for 63 normal cells is 3.35; a bound of two would be crossed by chance, about 3 of 63 cells
    for an exact DRO).  The DRO's between-case spread is the paper's too: the standard
    deviation of each lung and other cell is within a factor 1.5 of Table 1's.  And the paper's
    group contrast holds: wash-out separates lung from other (Welch p < 0.05; paper p = 0.001)
    while maximum SE does not (p > 0.01; paper 0.199).
    """
    tables = [cohort_table(s) for s in CALIBRATION_SEEDS]
    pooled = pd.concat(tables, ignore_index=True)
    pooled.attrs["n_cohorts"] = len(tables)
    z_pooled = _group_z(pooled)
    assert (z_pooled.abs() <= 1).all(), z_pooled[z_pooled.abs() > 1].round(2).to_dict()
    for seed, df in zip(CALIBRATION_SEEDS, tables):
        z = _group_z(df)
        assert (z.abs() <= 3).all(), (seed, z[z.abs() > 3].round(2).to_dict())
        lung, other = df[df.label == "lung"], df[df.label == "other"]
        assert stats.ttest_ind(lung.washout, other.washout, equal_var=False)[1] < 0.05, seed
        assert stats.ttest_ind(lung.max_se, other.max_se, equal_var=False)[1] > 0.01, seed
    for g in ("lung", "other"):
        for col in HEURISTICS:
            ratio = pooled[pooled.label == g][col].std(ddof=1) / TABLE1[g][col][1]
            assert 1 / 1.5 <= ratio <= 1.5, (g, col, round(ratio, 2))
