"""Accuracy floor of segment_lesion on a simulated cohort (dcemets.simulate ground truth).

Measured on the full default cohort (``simulate_cohort(rng=0)``, the paper's 61 cases at the
default "half" grid, simulator of 2026-11-25 01:22 UTC with infiltrative rims and peritumoral
oedema): Dice median 0.930 (mean 0.912, min 0.557, 10th percentile 0.848), HD95 median 3.0 mm
(90th percentile 3.9 mm, max 17.8 mm), about 0.5 s per case; ``rng=1``: median 0.934, min
0.448.  This test runs a 12-case stratified subset so that it stays under a minute, and guards
a floor below those figures.

With the spine DRO of issue 18 (branch dro18, 2026-12-04) the floors no longer hold, on either
difficulty, so this test fails there; measured on this 12-case subset (``rng=0``):

* ``difficulty="realistic"`` (default): Dice median 0.690, minimum 0.483;
* ``difficulty="clean"`` (instantaneous frames, SNR 200, no motion): Dice median 0.730,
  minimum 0.588, HD95 median 5.8 mm, max 7.5 mm.

Clean acquisition does not help because the losses come from the lesion model, not the
acquisition: (a) the 4 mixed lesions lose their sclerotic (hypo-enhancing) patches, which the
enhancement-driven method leaves out (e.g. sim002: 698 of the 932 missed voxels have
mineralisation > 0.3; Dice 0.48-0.66); (b) lytic lesions are grown into the enhancing
peritumoral marrow oedema, which the truth mask excludes (sim008: 285 of 352 false-positive
voxels are oedema, Dice 0.58; sim012: 273 of 480, Dice 0.57).  The method, not the assertion,
needs the work (issue 20).
"""

from __future__ import annotations

import numpy as np
import pytest

from dcemets.segmentation import dice, hausdorff95, segment_cohort

simulate = pytest.importorskip("dcemets.simulate")

SUBSET = {"lung": 4, "breast": 2, "thyroid": 2, "prostate": 2, "liver": 1, "kidney": 1}


@pytest.fixture(scope="module")
def cohort():
    return simulate.simulate_cohort(composition=SUBSET, rng=0, progress=False)


@pytest.mark.slow
def test_cohort_dice_and_hd95_floor(cohort):
    masks = segment_cohort(cohort, progress=False)
    d = np.array([dice(masks[c.subject_id], c.lesion_mask) for c in cohort])
    h = np.array([hausdorff95(masks[c.subject_id], c.lesion_mask) for c in cohort])
    assert np.median(d) >= 0.85
    assert d.min() >= 0.5
    assert np.median(h) <= 6.0
    assert h.max() <= 20.0
