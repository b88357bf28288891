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


def _plane_labels(a, half=(190.0, 140.0), step=1.0, dz=0.0):
    """Labels on the axial plane through the diseased body's centre, in spine-local (x, v) mm."""
    c = a.level_centre()
    xs, vs = np.arange(-half[0], half[0], step), np.arange(-half[1], half[1], step)
    x, v = np.meshgrid(xs, vs)
    th = np.deg2rad(a.rotation_deg)
    pts = np.stack(
        [
            c[0] + np.cos(th) * x.ravel() - np.sin(th) * v.ravel(),
            c[1] + np.sin(th) * x.ravel() + np.cos(th) * v.ravel(),
            np.full(x.size, c[2] + dz),
        ],
        axis=1,
    )
    return x, v, tissue_labels(pts, a).reshape(x.shape)


def test_kidney_label_has_finite_cited_properties():
    k = TISSUES["kidney"]
    assert LABELS["kidney"] == k.label
    assert all(np.isfinite([k.t10_s, k.t2_s, k.pd, k.ktrans, k.kep, k.vp]))
    assert "de Bazelaire" in k.source
    assert "Sourbron" in k.source
    # the renal cortex enhances avidly: far more plasma than muscle or marrow
    assert k.vp > 5 * TISSUES["muscle"].vp
    assert k.ktrans > TISSUES["muscle"].ktrans


@pytest.mark.parametrize("level", range(8, 16))
def test_kidneys_lungs_ribs_at_their_levels(level):
    """Kidneys only at T12-L3, lateral to the psoas; lungs and ribs only in the thorax (no lung
    from L2 down); ribs never below T12."""
    a = sample_anatomy(np.random.default_rng(5), level=level)
    x, v, lab = _plane_labels(a)
    name = a.level_name
    kidney = lab == LABELS["kidney"]
    lung = lab == LABELS["lung"]
    if name in ("T12", "L1", "L2", "L3"):
        # mm^2; at mid-T12 only the left upper pole (the right kidney lies lower, under the liver)
        assert kidney[x > 0].sum() > 100, name
        assert name == "T12" or kidney[x < 0].sum() > 100, name
        # lateral to the psoas and the vertebral body
        psoas = (lab == LABELS["muscle"]) & (np.abs(v) < 15) & (np.abs(x) < 60)
        if psoas.any():
            assert np.median(np.abs(x[kidney])) > np.median(np.abs(x[psoas]))
        assert np.abs(x[kidney]).min() > a.body_half_width
    else:
        assert not kidney.any(), name
    if level >= 12:  # L1 and below: the costophrenic recesses end at T12-L1
        assert not lung.any(), name
    if level <= 10:  # T9-T11: posterior costophrenic recesses beside the spine
        assert lung[x > 0].sum() > 100, name
        assert lung[x < 0].sum() > 100, name
        assert np.median(v[lung]) > -a.body_half_depth  # posterior, not anterior, lung
    # ribs: cortical bone lateral to the spine, beyond the body and the transverse processes
    far = np.abs(x) > a.body_half_width + 45.0
    rib_bone = far & np.isin(lab, [LABELS["cortex"], LABELS["posterior"]])
    if level >= 13:  # L2 and lower: the lowest rib (T12) is more than a level away
        assert not rib_bone.any(), name
    if level <= 10:
        assert rib_bone.sum() > 20, name


@pytest.mark.parametrize("level", [9, 14])
def test_paraspinal_muscle_lies_on_the_posterior_elements(level):
    """Multifidus / erector spinae touch the lamina and spinous process (no fat gap) and span
    out past the transverse processes."""
    a = sample_anatomy(np.random.default_rng(2), level=level)
    x, v, lab = _plane_labels(a, step=0.5)
    bone = lab == LABELS["posterior"]
    muscle = lab == LABELS["muscle"]
    behind = v > a.body_half_depth + 1.5 + 2 * a.canal_half_depth  # behind the canal
    # every posterior-element pixel behind the canal with a horizontal neighbour that is soft
    # tissue: that neighbour is muscle, not fat
    # (laminae and spinous process: medial to the facets; the transverse process tips meet the
    # ribs in the thorax)
    medial = np.abs(x) < a.canal_half_width + 8.0
    edge = bone[:, :-1] & ~bone[:, 1:] & behind[:, :-1] & medial[:, :-1]
    nb = lab[:, 1:][edge]
    assert nb.size > 0
    assert np.mean(nb == LABELS["muscle"]) > 0.8
    # lateral extent beyond the transverse processes' tips
    tp = bone & (np.abs(v - (a.body_half_depth + 1.5 + a.canal_half_depth)) < 6)
    tp_tip = np.abs(x[tp & (np.abs(x) < a.canal_half_width + 30.0)]).max()  # not the ribs
    assert np.abs(x[muscle & behind]).max() > tp_tip


@pytest.mark.parametrize("seed", [0, 3])
def test_spine_runs_head_up_in_lps(seed):
    """LPS S grows toward the head: one level pitch above the diseased body lies the next
    cranial vertebra (T12 above L1), the lungs lie cranial to the kidneys, and the right kidney
    lies lower than the left (under the liver; Gray's Anatomy 2016, ch. 74)."""
    a = sample_anatomy(np.random.default_rng(seed), level=12)  # L1
    below, above = (_plane_labels(a, dz=k * a.level_pitch)[2] for k in (-1, 1))
    # ribs (T12) and lung recesses one level up, neither one level down (L2)
    x = _plane_labels(a)[0]
    far = np.abs(x) > a.body_half_width + 45.0
    assert (far & np.isin(above, [LABELS["cortex"], LABELS["posterior"]])).sum() > 20
    assert not (far & np.isin(below, [LABELS["cortex"], LABELS["posterior"]])).any()
    c = a.level_centre()
    g = np.mgrid[-120:120:3.0, -160:160:3.0, -150:150:3.0].reshape(3, -1).T
    lab = tissue_labels(c + g, a)
    lung_s = g[lab == LABELS["lung"], 2]
    kid = lab == LABELS["kidney"]
    assert np.median(lung_s) > np.median(g[kid, 2]) + 30.0
    left, right = kid & (g[:, 0] > 0), kid & (g[:, 0] < 0)  # LPS: +L is the subject's left
    assert np.median(g[right, 2]) < np.median(g[left, 2])
