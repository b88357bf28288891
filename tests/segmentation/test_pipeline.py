"""End-to-end tests of segment_lesion / segment_cohort on hand-made phantoms."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import xarray as xr

from dcemets._conventions import make_dce
from dcemets.io import Case
from dcemets.segmentation import dice, hausdorff95, segment_cohort, segment_lesion

# the hand-made phantoms outline the whole vertebral body (the diseased segment), not the
# lesion: these tests exercise the paper's chain; the curve algorithm is tested in
# test_curve.py on outlines of the lesion
paper_lesion = functools.partial(segment_lesion, algorithm="paper")
paper_cohort = functools.partial(segment_cohort, algorithm="paper")


def test_phantom_segmentation(phantom):
    mask = paper_lesion(phantom.dce, phantom.roi_sagittal)
    assert mask.dtype == bool
    assert mask.dims == ("z", "y", "x")
    assert mask.attrs["affine"] == phantom.dce.attrs["affine"]
    assert dice(mask, phantom.truth) > 0.95
    assert hausdorff95(mask, phantom.truth) <= 3.0  # one slice


@pytest.mark.parametrize(
    "kw",
    [
        {"noise": 12.0, "rng": 1},
        {"enhancement": 0.5, "rng": 2},
        {"lesion_radii": (5.0, 5.0, 6.0), "rng": 3},
    ],
)
def test_phantom_variants(phantom_factory, kw):
    ph = phantom_factory(**kw)
    assert dice(paper_lesion(ph.dce, ph.roi_sagittal), ph.truth) > 0.85


def test_oblique_axial_grid(phantom_factory, rot):
    ph = phantom_factory(axial_direction=rot("z", 12.0) @ rot("x", -9.0))
    assert dice(paper_lesion(ph.dce, ph.roi_sagittal), ph.truth) > 0.9


def test_lesion_touching_border_still_segments(phantom_factory):
    # lesion centre on the top slice: half of it is cut off by the volume border
    ph = phantom_factory(lesion_centre=(4.0, 8.0, 13.5))
    assert ph.truth.values[-1].any()
    mask = paper_lesion(ph.dce, ph.roi_sagittal)
    assert mask.values[-1].any()
    assert dice(mask, ph.truth) > 0.9


def test_return_steps(phantom):
    mask, steps = paper_lesion(phantom.dce, phantom.roi_sagittal, return_steps=True)
    assert isinstance(steps, xr.Dataset)
    assert set(steps.data_vars) == {
        "lesion_probability",
        "enhancement",
        "transferred_roi",
        "search_region",
        "partitions",
        "kept_partitions",
        "lesion",
    }
    v = {k: steps[k].values for k in steps.data_vars}
    # each step is contained in the previous one
    assert np.all(v["search_region"][v["transferred_roi"]])
    assert np.all(v["search_region"][v["kept_partitions"]])
    assert np.all(v["kept_partitions"][v["lesion"]])
    assert np.all((v["partitions"] > 0) == v["search_region"])
    np.testing.assert_array_equal(v["lesion"], mask.values)
    seed = tuple(steps.attrs["seed_index"])
    assert v["kept_partitions"][seed]
    assert v["transferred_roi"][seed]  # seed_in="outline" (default)
    with pytest.raises(ValueError, match="seed_in"):
        paper_lesion(phantom.dce, phantom.roi_sagittal, seed_in="everywhere")


def test_deterministic(phantom):
    a = paper_lesion(phantom.dce, phantom.roi_sagittal, rng=5, thresh=0.05)
    b = paper_lesion(phantom.dce, phantom.roi_sagittal, rng=5, thresh=0.05)
    np.testing.assert_array_equal(a.values, b.values)


def test_options_reach_the_steps(phantom):
    narrow = paper_lesion(phantom.dce, phantom.roi_sagittal, return_steps=True, factor=1.0, min_aspect=0.0)[1]
    wide = paper_lesion(phantom.dce, phantom.roi_sagittal, return_steps=True)[1]
    assert narrow.search_region.sum() < wide.search_region.sum()
    with pytest.raises(ValueError, match="unknown option"):
        paper_lesion(phantom.dce, phantom.roi_sagittal, colour="red")


def test_inputs_not_modified(phantom):
    dce, roi = phantom.dce.copy(deep=True), phantom.roi_sagittal.copy(deep=True)
    segment_lesion(phantom.dce, phantom.roi_sagittal)
    assert dce.identical(phantom.dce)
    assert roi.identical(phantom.roi_sagittal)


def test_no_enhancement_raises(phantom):
    flat = phantom.dce.copy(data=np.broadcast_to(phantom.dce.values[:1], phantom.dce.shape).copy())
    with pytest.raises(ValueError, match="no enhancement"):
        segment_lesion(flat, phantom.roi_sagittal)
    # pure noise around a constant is not enhancement either
    gen = np.random.default_rng(0)
    noisy = flat.copy(data=flat.values + gen.normal(0, 4.0, flat.shape))
    with pytest.raises(ValueError, match="no enhancement"):
        segment_lesion(noisy, phantom.roi_sagittal)


def test_empty_roi_raises(phantom):
    with pytest.raises(ValueError, match="empty"):
        segment_lesion(phantom.dce, phantom.roi_sagittal & False)


def test_roi_outside_raises(phantom):
    roi = phantom.roi_sagittal.copy()
    aff = np.asarray(roi.attrs["affine"]).reshape(4, 4).copy()
    aff[0, 3] += 300.0
    roi.attrs["affine"] = aff.ravel().tolist()
    with pytest.raises(ValueError, match="does not intersect"):
        segment_lesion(phantom.dce, roi)


def test_frame_of_reference_mismatch_raises(phantom):
    dce = phantom.dce.copy()
    dce.attrs["frame_of_reference"] = "1.2.840.1"
    roi = phantom.roi_sagittal.copy()
    roi.attrs["frame_of_reference"] = "1.2.840.2"
    with pytest.raises(ValueError, match="frames of reference"):
        segment_lesion(dce, roi)


def test_bad_dce_raises(phantom):
    with pytest.raises(TypeError, match="dce"):
        segment_lesion(phantom.dce.values, phantom.roi_sagittal)
    with pytest.raises(ValueError, match="frames"):
        segment_lesion(phantom.dce.isel(time=[0, 1]), phantom.roi_sagittal)


def test_segment_cohort_serial_and_parallel(phantom_factory):
    cases = [
        Case(f"s{i}", ph.dce, roi_sagittal=ph.roi_sagittal, lesion_mask=ph.truth)
        for i, ph in enumerate(phantom_factory(rng=r, lesion_radii=(7.0, 7.0, 7.0)) for r in (1, 2))
    ]
    serial = paper_cohort(cases, progress=False)
    assert list(serial) == ["s0", "s1"]
    for c in cases:
        assert dice(serial[c.subject_id], c.lesion_mask) > 0.9
    parallel = paper_cohort({c.subject_id: c for c in cases}, n_jobs=2, progress=False)
    for sid in serial:
        np.testing.assert_array_equal(serial[sid].values, parallel[sid].values)


def test_segment_cohort_progress_bar(phantom, capsys):
    case = Case("p1", phantom.dce, roi_sagittal=phantom.roi_sagittal)
    segment_cohort([case], progress=True)
    assert "segmenting" in capsys.readouterr().err


def test_segment_cohort_errors(phantom):
    with pytest.raises(ValueError, match="roi_sagittal"):
        segment_cohort([Case("x", phantom.dce)], progress=False)
    c = Case("x", phantom.dce, roi_sagittal=phantom.roi_sagittal)
    with pytest.raises(ValueError, match="repeated"):
        segment_cohort([c, c], progress=False)
    flat = Case(
        "flat",
        make_dce(
            np.ones((3, 10, 48, 48)),
            [0, 1, 2],
            spacing=(1.5, 1.5, 3.0),
            origin=phantom.dce.attrs["affine"][3::4][:3],
        ),
        roi_sagittal=phantom.roi_sagittal,
    )
    with pytest.raises(ValueError, match="case 'flat'"):
        segment_cohort([flat], progress=False)


def test_z_margin_extends_outline(phantom_factory):
    # an outline covering only the central slices of the lesion: z_margin_mm reaches one more
    # slice on each side; the paper's literal search (no margin, factor 5 only) misses them
    ph = phantom_factory(roi_half_height=4.0)
    _, narrow = paper_lesion(ph.dce, ph.roi_sagittal, return_steps=True, z_margin_mm=0.0, min_aspect=0.0)
    _, wide = paper_lesion(ph.dce, ph.roi_sagittal, return_steps=True)
    zs_narrow = np.flatnonzero(narrow.search_region.values.any(axis=(1, 2)))
    zs_wide = np.flatnonzero(wide.search_region.values.any(axis=(1, 2)))
    assert zs_wide.tolist() == list(range(zs_narrow[0] - 1, zs_narrow[-1] + 2))
    np.testing.assert_array_equal(narrow.transferred_roi.values, wide.transferred_roi.values)
    assert dice(wide.lesion, ph.truth) > dice(narrow.lesion, ph.truth)


def test_vessel_at_outline_edge_is_not_the_seed(phantom_factory):
    # a strongly enhancing vessel just inside the anterior edge of the outline
    ph = phantom_factory(enhancement=0.6)
    dce = ph.dce.copy(deep=True)
    _, steps = paper_lesion(ph.dce, ph.roi_sagittal, return_steps=True)
    tr = steps.transferred_roi.values
    z = int(np.argmax(tr.sum(axis=(1, 2))))
    ys, xs = np.nonzero(tr[z])
    vessel = np.zeros(tr.shape, bool)
    vessel[:, ys.min(), xs.min() : xs.max() + 1] = True  # first row of the outline, all slices
    vals = dce.values.copy()
    vals[1:, vessel] *= 4.0
    dce = dce.copy(data=vals)
    mask, steps = paper_lesion(dce, ph.roi_sagittal, return_steps=True)
    assert not vessel[tuple(steps.attrs["seed_index"])]
    assert dice(mask, ph.truth) > 0.85
    # without the margin and the retry the vessel wins; the retry alone also rescues it
    _, naive = paper_lesion(dce, ph.roi_sagittal, return_steps=True, seed_margin_mm=0.0, max_seeds=1)
    assert vessel[tuple(naive.attrs["seed_index"])]
    _, retry = paper_lesion(dce, ph.roi_sagittal, return_steps=True, seed_margin_mm=0.0)
    assert not vessel[tuple(retry.attrs["seed_index"])]


def test_relative_enhancement_separates_lesion_from_marrow(phantom_factory):
    # a dark-baseline lesion (S0 100, +45 %) whose subtraction (45) barely exceeds that of the
    # bright marrow around it (S0 300, +12 % = 36): the half-maximum rule alone leaks into the
    # marrow, the relative-enhancement criterion stops at the lesion edge
    ph = phantom_factory(lesion_s0=100.0, enhancement=0.45, noise=2.0)
    leaky = paper_lesion(ph.dce, ph.roi_sagittal, relative_fraction=0.0)
    good = paper_lesion(ph.dce, ph.roi_sagittal)
    assert dice(leaky, ph.truth) < 0.6
    assert dice(good, ph.truth) > 0.85


def test_seed_retry_when_region_misses_the_outline(phantom_factory):
    # a bright vessel that reaches just into the core of the outline from outside: the first
    # seed lands in it, its region covers almost none of the outline's core, so the next seed
    # is tried and finds the lesion
    ph = phantom_factory(enhancement=0.6)
    _, steps = paper_lesion(ph.dce, ph.roi_sagittal, return_steps=True)
    tr = steps.transferred_roi.values
    z = int(np.argmax(tr.sum(axis=(1, 2))))
    ys, xs = np.nonzero(tr[z])
    vessel = np.zeros(tr.shape, bool)
    vessel[3:7, ys.min() + 4, xs.min() : xs.max() + 1] = True
    vals = ph.dce.values.copy()
    vals[1:, vessel] *= 4.0
    dce = ph.dce.copy(data=vals)
    once = paper_lesion(dce, ph.roi_sagittal, max_seeds=1)
    assert vessel[tuple(once.attrs["seed_index"])]
    retried = paper_lesion(dce, ph.roi_sagittal)
    assert not vessel[tuple(retried.attrs["seed_index"])]
    assert dice(retried, ph.truth) > 0.85 > dice(once, ph.truth)


@pytest.mark.parametrize(
    ("rng", "error"), [("fuzz", TypeError), (0.5, TypeError), ([1, 2], TypeError), (-1, ValueError)]
)
def test_rng_errors_name_it(phantom, rng, error):
    with pytest.raises(error, match="`rng`"):
        segment_lesion(phantom.dce, phantom.roi_sagittal, rng=rng)
    case = Case("s1", phantom.dce, roi_sagittal=phantom.roi_sagittal)
    with pytest.raises(error, match="`rng`"):
        segment_cohort([case], progress=False, rng=rng)


def test_unknown_option_is_named_with_the_known_ones(phantom):
    with pytest.raises(ValueError, match="'n_segment' \\(did you mean 'n_segments'\\?\\)") as err:
        segment_lesion(phantom.dce, phantom.roi_sagittal, n_segment=10)
    assert "z_margin_mm" in str(err.value)  # the known options are listed
    case = Case("s1", phantom.dce, roi_sagittal=phantom.roi_sagittal)
    with pytest.raises(ValueError, match="unknown option\\(s\\) of segment_cohort: 'colour'"):
        segment_cohort([case], progress=False, colour="red")


def test_integer_options_are_ints(phantom):
    with pytest.raises(TypeError, match="`max_seeds`"):
        segment_lesion(phantom.dce, phantom.roi_sagittal, max_seeds=2.5)
    with pytest.raises(TypeError, match="`n_segments`"):
        segment_lesion(phantom.dce, phantom.roi_sagittal, n_segments=30.0)


def test_segment_cohort_cases_errors():
    with pytest.raises(TypeError, match="`cases`"):
        segment_cohort(None, progress=False)
    with pytest.raises(TypeError, match="`cases`"):
        segment_cohort("s1", progress=False)
    with pytest.raises(ValueError, match="`cases` is empty"):
        segment_cohort([], progress=False)
    with pytest.raises(ValueError, match="`cases` is empty"):
        segment_cohort({}, progress=False)
