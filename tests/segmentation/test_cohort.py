"""Accuracy of segment_lesion on a simulated cohort (dcemets.simulate ground truth).

A 12-case stratified subset of ``simulate_cohort(rng=0)`` (4 lung, 2 breast, 2 thyroid,
2 prostate, 1 liver, 1 kidney), so that each test stays around a minute.

**Curve algorithm (default), realistic setting.**  ``segment_cohort`` (which passes each case's
sagittal T2W) measured on 2026-12-05 with the thoracolumbar anatomy of issue 18, with the
oedema test (``oedema_separation=2.5``): Dice 0.928, 0.933, 0.892, 0.940, 0.938, 0.844, 0.923,
0.845, 0.730, 0.869, 0.943, 0.950 (median 0.926, minimum 0.730), HD95 median 3.0 mm, max 4.8 mm
(before that anatomy: median 0.917, minimum 0.729).  Without it (``oedema_separation=None``,
the code of 2026-12-04): median 0.892, minimum 0.574 (sim008, a lytic lesion grown into the
enhancing peritumoral oedema that the truth mask excludes: 0.574 -> 0.844 with the test).  The
paper's chain on the same cases: median 0.690, minimum 0.483 (measured on branch dro18).

**Paper algorithm, clean setting.**  ``algorithm="paper"`` reproduces the figures of the
chain before issue 20 (2026-12-04, branch dro18, measured with the code of that branch):
Dice 0.9015, 0.6277, 0.8168, 0.7192, 0.6151, 0.9393, 0.9125, 0.5882, 0.6178, 0.6939,
0.7407, 0.7725 (median 0.730, minimum 0.588), HD95 median 5.76 mm, max 7.49 mm; on the DRO
as recalibrated on three seeds (same code), median 0.726, minimum 0.576; with the anatomy of
issue 18 (same code), median 0.7215, minimum 0.576 (``PAPER_CLEAN_DICE``).

The accuracy claims of the docs are measured on other seeds
(``benchmarks/bench_segmentation_dro.py``), never on these.
"""

from __future__ import annotations

import numpy as np
import pytest

from dcemets.segmentation import dice, hausdorff95, segment_cohort

simulate = pytest.importorskip("dcemets.simulate")

SUBSET = {"lung": 4, "breast": 2, "thyroid": 2, "prostate": 2, "liver": 1, "kidney": 1}
# the paper's chain on the clean DRO, case by case; re-recorded after the DRO's three-seed
# recalibration and the back-fat anatomy change (median 0.730 -> 0.726, minimum 0.588 -> 0.576),
# then after the thoracolumbar anatomy (ribs, lungs, kidneys, paraspinal muscles, neural arch)
# and the head-up LPS orientation changed the tissue around five lesions (median 0.726 -> 0.7215;
# the segmentation code is unchanged)
PAPER_CLEAN_DICE = [
    0.8944,
    0.6176,
    0.7756,
    0.7056,
    0.6162,
    0.9401,
    0.9147,
    0.5869,
    0.5758,
    0.6906,
    0.7374,
    0.7719,
]


@pytest.fixture(scope="module")
def cohort():
    return simulate.simulate_cohort(composition=SUBSET, rng=0, progress=False)


@pytest.mark.slow
def test_cohort_dice_and_hd95_floor(cohort):
    masks = segment_cohort(cohort, progress=False)
    d = np.array([dice(masks[c.subject_id], c.lesion_mask) for c in cohort])
    h = np.array([hausdorff95(masks[c.subject_id], c.lesion_mask) for c in cohort])
    assert np.median(d) >= 0.88
    assert d.min() >= 0.65
    assert np.median(h) <= 6.0
    assert h.max() <= 20.0
    conf = np.array([masks[c.subject_id].attrs["confidence"] for c in cohort])
    assert np.all((conf >= 0) & (conf <= 1))


@pytest.mark.slow
def test_paper_configuration_gives_the_figures_of_before_issue_20():
    clean = simulate.simulate_cohort(composition=SUBSET, rng=0, progress=False, difficulty="clean")
    masks = segment_cohort(clean, progress=False, algorithm="paper")
    d = np.array([dice(masks[c.subject_id], c.lesion_mask) for c in clean])
    np.testing.assert_allclose(d, PAPER_CLEAN_DICE, atol=5e-4)
    assert np.median(d) == pytest.approx(0.7215, abs=5e-4)
