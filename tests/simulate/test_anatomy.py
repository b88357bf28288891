"""Phantom anatomy, tissue table and grids."""

from __future__ import annotations

import numpy as np
import pytest

from dcemets._conventions import geometry, make_image, world_coordinates
from dcemets.simulate import GRIDS, LABELS, TISSUES
from dcemets.simulate.anatomy import lesion_fields, sample_anatomy, sample_lesion, tissue_labels
from dcemets.simulate.grids import axial_grid, sagittal_grid


@pytest.fixture(scope="module")
def anatomy():
    return sample_anatomy(np.random.default_rng(3))


def test_tissue_table_labels_unique_and_complete():
    labels = [p.label for p in TISSUES.values()]
    assert sorted(labels) == list(range(len(labels)))
    assert dict(LABELS) == {k: p.label for k, p in TISSUES.items()}
    for name, p in TISSUES.items():
        assert p.source, name
        assert p.t10_s > 0
        assert p.t2_s > 0
        assert p.pd >= 0


def test_tissue_relaxation_ordering_at_3T():
    t = {k: v.t10_s for k, v in TISSUES.items()}
    # fat < marrow < muscle < tumour < blood < CSF (de Bazelaire 2004, Stanisz 2005)
    assert t["fat"] < t["marrow"] < t["muscle"] < t["lesion"] < t["blood"] < t["csf"]
    assert TISSUES["csf"].t2_s > TISSUES["nucleus"].t2_s > TISSUES["muscle"].t2_s
    # blood holds plasma only outside red cells: vp = 1 - Hct
    assert TISSUES["blood"].vp == pytest.approx(0.58)


def test_landmark_labels(anatomy):
    c = anatomy.level_centre()
    pitch = anatomy.level_pitch
    pts = np.array(
        [
            c,  # body centre
            c + np.array([0, 0, pitch / 2]),  # disc centre
            c + np.array([0, anatomy.body_half_depth + 1.5 + anatomy.canal_half_depth, 0]),  # canal centre
            c + np.array([0, 0, anatomy.body_height / 2 - 1.2 - 0.3]),  # under the concave end plate: cortex
            c + np.array([400.0, 0, 0]),  # outside the body
            c + np.array([14.0, -anatomy.body_half_depth - 15.0, 0]),  # aorta
        ]
    )
    lab = tissue_labels(pts, anatomy)
    assert lab.tolist() == [
        LABELS["marrow"],
        LABELS["nucleus"],
        LABELS["cord"],
        LABELS["cortex"],
        LABELS["air"],
        LABELS["blood"],
    ]


def test_levels_repeat_along_the_spine(anatomy):
    for level in (1, 2, 4, 5):
        c = anatomy.level_centre(level)
        assert tissue_labels(c[None], anatomy)[0] == LABELS["marrow"]


@pytest.mark.parametrize("seed", range(8))
def test_back_covers_the_erector_spinae_with_fat(seed):
    """Behind the paraspinal muscles lies a subcutaneous fat layer (>= 8 mm), then air: the
    muscles never reach the skin, and the skin of the back is at ``Anatomy.back_depth``."""
    a = sample_anatomy(np.random.default_rng(seed))
    c = a.level_centre()
    v = np.arange(0.0, 200.0, 0.25)  # mm behind the body axis, through the right erector spinae
    th = np.deg2rad(a.rotation_deg)
    x_loc = 27.0  # erector spinae centre line (lumbar)
    # local (x, v) -> world: x_w = c x - s v, y_w = s x + c v (inverse of the local rotation)
    pts = np.stack(
        [
            c[0] + np.cos(th) * x_loc - np.sin(th) * v,
            c[1] + np.sin(th) * x_loc + np.cos(th) * v,
            np.full(v.shape, c[2]),
        ],
        axis=1,
    )
    lab = tissue_labels(pts, a)
    muscle = np.flatnonzero(lab == LABELS["muscle"])
    air = np.flatnonzero(lab == LABELS["air"])
    assert muscle.size
    assert air.size
    behind = lab[muscle.max() + 1 : air.min()]
    assert behind.size * 0.25 >= 8.0
    assert np.all(behind == LABELS["fat"])
    # the skin at the midline sits at back_depth
    mid = tissue_labels(np.stack([np.full(v.shape, c[0]), c[1] + v, np.full(v.shape, c[2])], axis=1), a)
    skin = v[np.flatnonzero(mid == LABELS["air"]).min()]
    assert skin == pytest.approx(a.back_depth, abs=3.0)


@pytest.mark.parametrize("seed", range(6))
def test_lesion_stays_in_diseased_vertebra(seed):
    rng = np.random.default_rng(seed)
    a = sample_anatomy(rng)
    les = sample_lesion(rng, a, radius=14.0, breakthrough_probability=1.0, necrosis=0.8, texture=0.4)
    c = a.level_centre()
    g = np.mgrid[-40:41:2.0, -40:41:2.0, -30:31:2.0].reshape(3, -1).T + c
    lab = tissue_labels(g, a)
    inside, viab, kep_tex = lesion_fields(g, lab, a, les)
    assert inside.sum() > 100
    # never in the disc, the cord, the great vessels, the lung; never on another level (the
    # basivertebral vein inside the body may be replaced by tumour, the IVC never)
    bad = np.isin(lab[inside], [LABELS[k] for k in ("annulus", "nucleus", "cord", "blood", "lung")])
    assert not bad.any()
    vein_pts = g[inside & (lab == LABELS["vein"])]
    assert np.all(np.linalg.norm(vein_pts[:, :2] - c[:2], axis=1) < a.body_half_depth + 1.0)
    body = inside & np.isin(lab, [LABELS["marrow"], LABELS["cortex"]])
    assert np.all(np.abs(g[body, 2] - c[2]) < a.body_height / 2 + 0.5)
    assert np.all(np.abs(g[inside, 2] - c[2]) < a.level_pitch / 2)  # pedicles stay on their level
    assert np.all((viab[inside] >= 0.05) & (viab[inside] <= 1.0))
    assert viab[inside].max() == 1.0  # a fully viable hot spot exists
    assert np.all(viab[~inside] == 0)
    assert np.all(kep_tex[~inside] == 0)
    # soft-tissue extension only when breaking through
    contained = sample_lesion(
        np.random.default_rng(seed), a, radius=14.0, breakthrough_probability=0.0, necrosis=0.0, texture=0.0
    )
    ins2 = lesion_fields(g, lab, a, contained)[0]
    assert set(np.unique(lab[ins2])) <= {
        LABELS["marrow"],
        LABELS["cortex"],
        LABELS["posterior"],
        LABELS["vein"],
    }


def test_axial_grid_matches_paper_protocol():
    spec = GRIDS["full"]
    g = axial_grid(spec, np.array([1.0, 2.0, 3.0]))
    assert g.size == (256, 192, 30)
    np.testing.assert_allclose(g.spacing, [250 / 256, 250 / 192, 3.0])
    np.testing.assert_allclose(g.direction, np.eye(3))
    assert GRIDS["half"].axial_size == (128, 96, 30)


@pytest.mark.parametrize("maker", [axial_grid, sagittal_grid])
def test_grid_centre_and_world_coordinates_agree_with_conventions(maker):
    spec = GRIDS["half"]
    centre = np.array([3.0, -7.0, 11.0])
    g = maker(spec, centre)
    d = g.direction
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-12)
    assert np.linalg.det(d) == pytest.approx(1.0)  # right-handed
    img = make_image(np.zeros(g.shape_zyx, np.float32), **g.geometry_kwargs())
    geo = geometry(img)
    np.testing.assert_allclose(geo.origin, g.origin)
    assert geo.size == g.size
    np.testing.assert_allclose(world_coordinates(img).reshape(-1, 3), g.points(), atol=1e-9)
    # the grid is centred on the requested point
    np.testing.assert_allclose(g.points().mean(axis=0), centre, atol=1e-6)


def test_sagittal_orientation_is_dicom_standard():
    g = sagittal_grid(GRIDS["half"], np.zeros(3))
    # image x runs anterior -> posterior, image y head -> foot (IOP = [0,1,0, 0,0,-1])
    np.testing.assert_allclose(g.direction[:, 0], [0, 1, 0])
    np.testing.assert_allclose(g.direction[:, 1], [0, 0, -1])
