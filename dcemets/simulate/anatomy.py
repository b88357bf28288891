"""World-space phantom of the lumbar/thoracolumbar spine with one vertebral metastasis.

The phantom is a set of analytic shapes in LPS world coordinates (mm): it is evaluated at
the voxel centres of *any* grid (the axial DCE volume, the sagittal T2W volume), so both
images show the same anatomy in the same place, as two series of one exam do.

Shapes (per vertebral level): an elliptic vertebral body with concave end plates and a
posterior concavity, a 1-1.5 mm cortical shell around cancellous marrow, intervertebral discs
(annulus and nucleus), a neural arch (pedicles, laminae, spinous and transverse processes)
around the spinal canal (epidural fat, dural sac with CSF, cord); paraspinal (erector spinae)
and psoas muscles, aorta and inferior vena cava, abdominal viscera, retroperitoneal and
subcutaneous fat inside an elliptic body outline.  Dimensions follow adult lumbar
morphometry (body width 40-48 mm, depth 30-36 mm, height 22-28 mm, disc 7-10 mm; cf. Zhou SH
et al. Eur Spine J 2000;9:242-248, doi:10.1007/s005860000140).

The lesion is a smooth implicit surface (sum of Gaussian blobs with plane-wave roughness)
restricted to the diseased vertebra (and, when it breaks through the cortex, a few mm of
the neighbouring soft tissue), with a viability field (necrotic core, patchy texture).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_generator, check_instance, check_labels, check_points, check_real
from .tissues import LABELS

__all__ = ["Anatomy", "Lesion", "lesion_fields", "sample_anatomy", "sample_lesion", "tissue_labels"]

_N_LEVELS = 7  # vertebral levels modelled; the lesion is in the middle one
_LESION_LEVEL = 3


@dataclass(frozen=True)
class Anatomy:
    """Geometry of one subject's spine (LPS world coordinates, mm).

    Attributes
    ----------
    z_lesion_level : float
        S coordinate of the centre of the diseased vertebral body.
    y_body : float
        P coordinate of the vertebral body centres at the diseased level.
    curvature : float
        Sagittal curvature (1/mm): body centres lie at ``y_body + curvature * dz**2``.
    body_half_width, body_half_depth, body_height, disc_height : float
        Vertebral body semi-axes (L-R, A-P), body height and disc height (mm).
    cortex : float
        Cortical shell thickness (mm).
    canal_half_width, canal_half_depth : float
        Spinal canal semi-axes (mm).
    body_outline : tuple of 2 float
        Semi-axes (L-R, A-P) of the skin outline (mm).
    """

    z_lesion_level: float
    y_body: float
    curvature: float
    body_half_width: float
    body_half_depth: float
    body_height: float
    disc_height: float
    cortex: float
    canal_half_width: float
    canal_half_depth: float
    body_outline: tuple[float, float]

    @property
    def level_pitch(self) -> float:
        """Distance between consecutive vertebral centres (mm)."""
        return self.body_height + self.disc_height

    def level_centre(self, level: int = _LESION_LEVEL) -> np.ndarray:
        """LPS centre (mm) of the vertebral body of `level` (0-6; 3 is diseased)."""
        dz = (level - _LESION_LEVEL) * self.level_pitch
        return np.array([0.0, self.y_body + self.curvature * dz**2, self.z_lesion_level + dz])


@dataclass(frozen=True)
class Lesion:
    """Implicit description of one metastasis (LPS, mm).

    Attributes
    ----------
    centres : ndarray, shape (k, 3)
        Blob centres.
    sigmas : ndarray, shape (k,)
        Blob widths (mm).
    rough_k, rough_phase : ndarray
        Plane-wave vectors (rad/mm, shape (m, 3)) and phases of the surface roughness.
    roughness : float
        Relative amplitude of the roughness.
    breakthrough : float
        How far (mm) the tumour may extend outside the vertebral body (0: contained).
    necrosis : float
        Depth of the necrotic core (0: none, 1: fully necrotic centre).
    necrosis_centre : ndarray, shape (3,)
        Centre of the necrotic core.
    necrosis_width : float
        Width (mm) of the necrotic core.
    texture_k, texture_phase : ndarray
        Plane waves of the viability texture.
    texture : float
        Amplitude of the patchy viability texture.
    kep_k, kep_phase : ndarray
        Plane waves of the kep texture (zero mean, unit variance field).
    """

    centres: np.ndarray
    sigmas: np.ndarray
    rough_k: np.ndarray
    rough_phase: np.ndarray
    roughness: float
    breakthrough: float
    necrosis: float
    necrosis_centre: np.ndarray
    necrosis_width: float
    texture_k: np.ndarray
    texture_phase: np.ndarray
    texture: float
    kep_k: np.ndarray
    kep_phase: np.ndarray

    @property
    def bounding_radius(self) -> float:
        """Radius (mm) around the first centre outside which the lesion is empty."""
        d = np.linalg.norm(self.centres - self.centres[0], axis=1) + 3.5 * self.sigmas
        return float(d.max() + self.breakthrough)


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw a plausible adult lumbar spine.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    Anatomy

    Examples
    --------
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> 20 <= a.body_half_width <= 24
    True
    """
    check_generator(rng)
    return Anatomy(
        z_lesion_level=float(rng.uniform(-20.0, 20.0)),
        y_body=float(rng.uniform(-10.0, 10.0)),
        curvature=float(rng.uniform(-0.0015, 0.0015)),
        body_half_width=float(rng.uniform(20.0, 24.0)),
        body_half_depth=float(rng.uniform(15.0, 18.0)),
        body_height=float(rng.uniform(22.0, 28.0)),
        disc_height=float(rng.uniform(7.0, 10.0)),
        cortex=float(rng.uniform(1.0, 1.5)),
        canal_half_width=float(rng.uniform(10.0, 12.0)),
        canal_half_depth=float(rng.uniform(7.0, 9.0)),
        body_outline=(float(rng.uniform(150.0, 175.0)), float(rng.uniform(115.0, 135.0))),
    )


def _plane_waves(
    rng: np.random.Generator, m: int, wavelength: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    direction = rng.standard_normal((m, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    lam = rng.uniform(*wavelength, size=m)
    return direction * (2 * np.pi / lam)[:, None], rng.uniform(0, 2 * np.pi, size=m)


def _wave_field(points: np.ndarray, k: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-variance random field: normalised sum of plane waves."""
    return np.cos(points @ k.T + phase).sum(axis=1) * np.sqrt(2.0 / k.shape[0])


def sample_lesion(
    rng: np.random.Generator,
    anatomy: Anatomy,
    *,
    radius: float,
    breakthrough_probability: float,
    necrosis: float,
    texture: float,
) -> Lesion:
    """Draw an irregular lesion inside the diseased vertebral body of `anatomy`.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    anatomy : Anatomy
        Spine geometry.
    radius : float
        Typical lesion radius (mm).
    breakthrough_probability : float
        Probability that the tumour breaks through the cortex into the soft tissue.
    necrosis : float
        Maximum depth of the necrotic core (0-1); the case's depth is uniform below it.
    texture : float
        Amplitude of the patchy viability texture (0 = homogeneous).

    Returns
    -------
    Lesion

    Examples
    --------
    >>> r = np.random.default_rng(0)
    >>> les = sample_lesion(r, sample_anatomy(r), radius=10.0, breakthrough_probability=0.3,
    ...                     necrosis=0.5, texture=0.2)
    >>> les.centres.shape[1]
    3
    """
    check_generator(rng)
    check_instance(anatomy, Anatomy, "anatomy")
    check_real(radius, "radius", low=0.0, low_open=True)
    check_real(breakthrough_probability, "breakthrough_probability", low=0.0, high=1.0)
    check_real(necrosis, "necrosis", low=0.0, high=1.0)
    check_real(texture, "texture", low=0.0)
    c = anatomy.level_centre()
    half = np.array([anatomy.body_half_width, anatomy.body_half_depth, anatomy.body_height / 2])
    room = np.maximum(half - 0.6 * radius, 1.0)
    centre = c + rng.uniform(-0.5, 0.5, size=3) * room
    k = int(rng.integers(3, 7))
    sig = radius * rng.uniform(0.4, 0.65, size=k)
    offsets = rng.standard_normal((k, 3)) * radius * 0.45
    offsets[0] = 0.0
    rough_k, rough_phase = _plane_waves(rng, 10, (5.0, 12.0))
    tex_k, tex_phase = _plane_waves(rng, 12, (6.0, 14.0))
    kep_k, kep_phase = _plane_waves(rng, 12, (6.0, 16.0))
    broke = rng.random() < breakthrough_probability
    return Lesion(
        centres=centre + offsets,
        sigmas=sig,
        rough_k=rough_k,
        rough_phase=rough_phase,
        roughness=float(rng.uniform(0.1, 0.3)),
        breakthrough=float(rng.uniform(3.0, 10.0)) if broke else 0.0,
        necrosis=float(rng.uniform(0.0, necrosis)),
        necrosis_centre=centre + rng.standard_normal(3) * radius * 0.2,
        necrosis_width=float(radius * rng.uniform(0.3, 0.5)),
        texture_k=tex_k,
        texture_phase=tex_phase,
        texture=float(texture),
        kep_k=kep_k,
        kep_phase=kep_phase,
    )


def _body_geometry(points: np.ndarray, a: Anatomy) -> dict[str, np.ndarray]:
    """Local coordinates of `points` relative to their nearest vertebral level."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    pitch = a.level_pitch
    level = np.clip(np.rint((z - a.z_lesion_level) / pitch) + _LESION_LEVEL, 0, _N_LEVELS - 1)
    dz_level = (level - _LESION_LEVEL) * pitch
    zz = z - (a.z_lesion_level + dz_level)  # S offset from the level's body centre
    dz = z - a.z_lesion_level
    v = y - (a.y_body + a.curvature * dz**2)  # A-P offset from the (curved) body axis
    scale = 1.0 - 0.015 * (level - _LESION_LEVEL)  # bodies widen caudally
    ah, bh = a.body_half_width * scale, a.body_half_depth * scale
    r = np.sqrt((x / ah) ** 2 + (v / bh) ** 2)
    half_h = a.body_height / 2 - 1.2 * (1 - np.minimum(r, 1.0) ** 2)  # concave end plates
    bite = (x / (0.45 * ah)) ** 2 + ((v - 1.05 * bh) / (0.25 * bh)) ** 2 < 1
    in_column = np.abs(level - _LESION_LEVEL) <= _LESION_LEVEL + 0.5
    body = (r < 1) & (np.abs(zz) < half_h) & ~bite & in_column
    d_out = np.minimum((1 - r) * np.minimum(ah, bh), half_h - np.abs(zz))
    return {
        "x": x,
        "v": v,
        "zz": zz,
        "r": r,
        "half_h": half_h,
        "body": body,
        "d": d_out,
        "ah": ah,
        "bh": bh,
        "level": level,
    }


def tissue_labels(points: np.ndarray, anatomy: Anatomy) -> np.ndarray:
    """Tissue label (see :data:`~dcemets.simulate.LABELS`) at LPS world points.

    Parameters
    ----------
    points : ndarray, shape (n, 3)
        LPS positions (mm).
    anatomy : Anatomy
        Spine geometry.

    Returns
    -------
    ndarray of int8, shape (n,)
        Label of each point (lesion not included; see :func:`lesion_fields`).

    Examples
    --------
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> int(tissue_labels(a.level_centre()[None, :], a)[0]) == LABELS["marrow"]
    True
    """
    p = check_points(points)
    check_instance(anatomy, Anatomy, "anatomy")
    g = _body_geometry(p, anatomy)
    x, v, zz, r = g["x"], g["v"], g["zz"], g["r"]
    ah, bh = g["ah"], g["bh"]
    pitch = anatomy.level_pitch
    lab = np.zeros(p.shape[0], dtype=np.int8)
    oa, ob = anatomy.body_outline
    ycen = -0.22 * ob  # the spine lies posterior in the trunk
    outline = (x / oa) ** 2 + ((v - ycen) / ob) ** 2
    inside = outline < 1
    lab[inside] = LABELS["fat"]
    viscera = (
        inside
        & (v < -(bh + 28.0) + 0.004 * x**2)
        & ((x / (oa - 25)) ** 2 + ((v - ycen) / (ob - 20)) ** 2 < 1)
    )
    lab[viscera] = LABELS["viscera"]
    ax = np.abs(x)
    # canal frame
    cb, ca = anatomy.canal_half_depth, anatomy.canal_half_width
    vc = v - (bh + 1.5 + cb)
    # paraspinal muscles (erector spinae) and psoas
    erector = ((ax - 27.0) / 22.0) ** 2 + ((vc - cb - 27.0) / 24.0) ** 2 < 1
    psoas = ((ax - (ah + 14.0)) / 14.0) ** 2 + ((v + 2.0) / 17.0) ** 2 < 1
    lab[inside & (erector | psoas)] = LABELS["muscle"]
    # great vessels
    aorta = (x - 14.0) ** 2 + (v + bh + 15.0) ** 2 < 11.0**2
    ivc = ((x + 24.0) / 13.0) ** 2 + ((v + bh + 13.0) / 9.0) ** 2 < 1
    lab[aorta] = LABELS["blood"]
    lab[ivc] = LABELS["vein"]
    # neural arch: ring around the canal, spinous and transverse processes
    rc = np.sqrt((x / ca) ** 2 + (vc / cb) ** 2)
    r_out = np.sqrt((x / (ca + 5.0)) ** 2 + (vc / (cb + 5.0)) ** 2)
    arch_z = np.abs(zz) < 0.38 * pitch
    ring = (rc >= 1) & (r_out < 1) & (vc > -cb - 2.5) & arch_z
    slope = 0.3 * np.clip(vc - cb, 0, None)
    spinous = (
        (ax < 3.5) & (vc >= cb) & (vc < cb + 38.0) & (zz > -0.35 * pitch - slope) & (zz < 0.2 * pitch - slope)
    )
    transverse = (ax > ca + 2.0) & (ax < ca + 28.0) & (np.abs(vc) < 5.0) & (np.abs(zz) < 6.0)
    lab[ring | spinous | transverse] = LABELS["posterior"]
    # canal contents
    canal = rc < 1
    lab[canal] = LABELS["fat"]  # epidural fat
    sac = (x / (ca - 2.0)) ** 2 + (vc / (cb - 1.5)) ** 2 < 1
    lab[sac] = LABELS["csf"]
    cord = (x / 5.0) ** 2 + (vc / 4.0) ** 2 < 1
    lab[cord] = LABELS["cord"]
    # discs between bodies
    disc = (r < 1) & ~g["body"] & (np.abs(zz) >= g["half_h"]) & (np.abs(zz) <= pitch / 2 + 0.01)
    nuc = (x / (0.55 * ah)) ** 2 + ((v + 0.1 * bh) / (0.5 * bh)) ** 2 + (
        (np.abs(zz) - pitch / 2) / (anatomy.disc_height / 2)
    ) ** 2 < 1
    lab[disc] = LABELS["annulus"]
    lab[disc & nuc] = LABELS["nucleus"]
    # vertebral bodies
    body = g["body"]
    lab[body] = LABELS["marrow"]
    lab[body & (g["d"] < anatomy.cortex)] = LABELS["cortex"]
    return lab


def lesion_fields(
    points: np.ndarray, labels: np.ndarray, anatomy: Anatomy, lesion: Lesion
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lesion membership, viability and kep texture at LPS world points.

    Parameters
    ----------
    points : ndarray, shape (n, 3)
        LPS positions (mm).
    labels : ndarray, shape (n,)
        Tissue labels at `points` (from :func:`tissue_labels`).
    anatomy : Anatomy
        Spine geometry.
    lesion : Lesion
        The lesion.

    Returns
    -------
    inside : ndarray of bool, shape (n,)
        Points in the tumour.
    viability : ndarray, shape (n,)
        Fraction of viable, perfused tumour in [0.05, 1] (1 at the hot spots, tapering to
        ~0.45 over the infiltrative rim); 0 outside.
    kep_texture : ndarray, shape (n,)
        Zero-mean, unit-variance field modulating kep; 0 outside.

    Examples
    --------
    >>> r = np.random.default_rng(0)
    >>> a = sample_anatomy(r)
    >>> les = sample_lesion(r, a, radius=10.0, breakthrough_probability=0.0, necrosis=0.0, texture=0.0)
    >>> pt = les.centres[:1]
    >>> bool(lesion_fields(pt, tissue_labels(pt, a), a, les)[0][0])
    True
    """
    p = check_points(points)
    n = p.shape[0]
    labels = check_labels(labels, n)
    check_instance(anatomy, Anatomy, "anatomy")
    check_instance(lesion, Lesion, "lesion")
    inside = np.zeros(n, dtype=bool)
    viab = np.zeros(n)
    kept = np.zeros(n)
    near = np.linalg.norm(p - lesion.centres[0], axis=1) < lesion.bounding_radius
    if not near.any():
        return inside, viab, kept
    q = p[near]
    f = np.zeros(q.shape[0])
    for c, s in zip(lesion.centres, lesion.sigmas):
        f += np.exp(-np.sum((q - c) ** 2, axis=1) / (2 * s * s))
    f *= 1 + lesion.roughness * _wave_field(q, lesion.rough_k, lesion.rough_phase) / 2
    g = _body_geometry(q, anatomy)
    lab = labels[near]
    same_level = np.abs(g["level"] - _LESION_LEVEL) < 0.5
    bone = same_level & np.isin(lab, [LABELS["marrow"], LABELS["cortex"]])
    allowed = bone.copy()
    # pedicle / posterior extension at the diseased level
    allowed |= same_level & (lab == LABELS["posterior"]) & (g["v"] < g["bh"] + 12.0)
    # the metastasis never crosses the disc; if it breaks through the cortex it may invade
    # soft tissue (epidural space, paravertebral muscle/fat) a few mm around the body
    if lesion.breakthrough > 0:
        d_out = (g["r"] - 1) * np.minimum(g["ah"], g["bh"])
        soft = ~np.isin(
            lab, [LABELS["annulus"], LABELS["nucleus"], LABELS["cord"], LABELS["blood"], LABELS["vein"]]
        )
        allowed |= same_level & soft & (d_out < lesion.breakthrough) & (np.abs(g["zz"]) < g["half_h"])
    ins = (f > 0.5) & allowed
    core = np.exp(-np.sum((q - lesion.necrosis_centre) ** 2, axis=1) / (2 * lesion.necrosis_width**2))
    tex = _wave_field(q, lesion.texture_k, lesion.texture_phase)
    v_raw = 1.0 - 1.15 * lesion.necrosis * core + lesion.texture * (tex - 0.5)
    # infiltrative margin: perfusion tapers over the outer rim of the tumour (f from 0.5 to 0.8)
    rim = np.clip((f - 0.5) / 0.3, 0.0, 1.0)
    v = np.clip(v_raw, 0.05, 1.0) * (0.45 + 0.55 * rim)
    v = np.clip(v, 0.05, 1.0)
    inside[near] = ins
    viab[near] = np.where(ins, v, 0.0)
    kept[near] = np.where(ins, _wave_field(q, lesion.kep_k, lesion.kep_phase), 0.0)
    return inside, viab, kept
