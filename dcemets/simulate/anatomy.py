"""World-space phantom of the thoracolumbar spine with vertebral metastases.

The phantom is a set of closed-form shapes and random fields in LPS world coordinates (mm):
it is evaluated at the voxel centres (or supersampled points) of *any* grid, so the axial
DCE and the sagittal T2W series show the same anatomy in the same place, as two series of
one exam do.

Anatomy (per subject; sources in the docs page "A spine DCE digital reference object"):

* **Level and morphometry.**  The diseased level is drawn between T9 and L4; each of the
  seven modelled levels takes its end-plate width and depth, body height, disc height and
  canal size from published morphometry (Panjabi MM et al. Spine 1991;16:888-901 thoracic,
  Spine 1992;17:299-306 lumbar; Zhou SH et al. Eur Spine J 2000;9:242-248), scaled by a
  per-subject size factor.
* **Vertebral body cross-section**: lumbar bodies are kidney-shaped (an ellipse with a
  posterior concavity), thoracic bodies heart-shaped (tapered anteriorly); all are waisted
  (concave sides, ~7 %) and have concave end plates; a thin cortical shell (0.4-0.8 mm,
  Edwards WT et al. Spine 2001;26:218-225) surrounds trabecular marrow whose fat fraction
  is a spatially correlated random field; a basivertebral vein enters the posterior cortex
  at mid-height; segmental arteries wrap the waist.  Compression (pathological height loss)
  depresses the superior end plate of the diseased level in some subjects.
* Discs (annulus, nucleus), neural arches (pedicles, articular pillars, laminae, spinous and
  transverse processes), the canal (epidural fat, dural sac with CSF, cord or cauda equina
  below L1), paraspinal muscles (multifidus + erector spinae filling the gutter beside the
  posterior elements), psoas (absent above L1, growing caudally) and quadratus lumborum,
  ribs at the thoracic levels (head, neck, angle and shaft; cortex around fatty marrow),
  lungs as the posterior costophrenic recesses (T9-T12, gone by L1) with liver and spleen
  anterior to them, kidneys (T12-L3, lateral to psoas, hilum anteromedial), aorta
  (bifurcating at L4) and IVC, abdominal viscera, retroperitoneal and subcutaneous fat
  inside an elliptic trunk outline (Standring S, Gray's Anatomy, 41st ed., Elsevier 2016).
* Per-subject position, axial rotation (+/-6 deg), sagittal and coronal curvature.

Metastases: an implicit surface (sum of 3-6 Gaussian lobes with random-field roughness)
inside the vertebral body (and pedicle) of its level, never crossing the disc; in a
fraction of cases it breaches the cortex into the epidural or paravertebral space.  Inside
it, viability (viable rim, necrotic core, perfusion habitats), kep and mineralisation
(sclerotic / mixed lesions) are spatially correlated random fields
(:mod:`dcemets.simulate.fields`).

One concept: the world-space phantom, closed-form anatomy and lesions evaluated at any
points (:func:`tissue_labels` assigns its regions in a fixed order, later ones overwriting
earlier ones, by one private helper per region).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from ._checks import check_generator, check_instance, check_int, check_labels, check_points, check_real
from .fields import RandomField, random_field
from .tissues import LABELS

__all__ = [
    "LESION_TYPES",
    "LEVEL_NAMES",
    "Anatomy",
    "Lesion",
    "lesion_fields",
    "lesion_properties",
    "sample_anatomy",
    "sample_lesion",
    "tissue_labels",
]

_N_LEVELS = 7  # vertebral levels modelled; the index lesion is in the middle one
_LESION_LEVEL = 3
_T12 = 11  # index of T12 in LEVEL_NAMES (the last rib-bearing level)

LEVEL_NAMES: tuple[str, ...] = tuple(
    [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)] + ["S1"]
)
"""Names of the vertebral levels; an :class:`Anatomy`'s ``level`` indexes this tuple."""

# End-plate width and depth, body height, disc height (below the level), canal width and
# depth (mm), adult means rounded from Panjabi 1991 (T), Panjabi 1992 (L), Zhou 2000.
_MORPHOMETRY = np.array(
    [
        # width depth height disc canal_w canal_d
        [30, 20, 16, 4.5, 16, 14],  # T1
        [30, 22, 17, 4.5, 15, 14],
        [30, 23, 17, 4.5, 15, 14],
        [30, 25, 18, 4.5, 15, 14],
        [31, 26, 18, 5.0, 15, 14],
        [32, 27, 19, 5.0, 15, 14],
        [33, 28, 20, 5.0, 15, 14],
        [34, 29, 20, 5.5, 15, 15],
        [36, 30, 21, 5.5, 16, 15],  # T9
        [38, 31, 21, 6.0, 17, 15],  # T10
        [40, 32, 22, 6.5, 18, 16],  # T11
        [42, 32, 23, 7.5, 20, 17],  # T12
        [43, 33, 24, 8.5, 22, 17],  # L1
        [45, 34, 25, 9.5, 23, 17],  # L2
        [47, 35, 26, 10.5, 24, 16],  # L3
        [49, 35, 26, 11.0, 24, 17],  # L4
        [50, 35, 25, 11.0, 25, 18],  # L5
        [50, 33, 24, 10.0, 26, 18],  # S1
    ],
    dtype=float,
)
_LESION_LEVELS = np.arange(8, 16)  # T9..L4 (0-based indices into LEVEL_NAMES)
# thoracolumbar junction and lower thoracic spine are the commonest sites of spinal
# metastases in a DCE field of view (Wong DA et al. Spine 1990;15:1-4: 70 % thoracic)
_LESION_LEVEL_P = np.array([0.12, 0.14, 0.15, 0.15, 0.13, 0.12, 0.10, 0.09])

LESION_TYPES: tuple[str, ...] = ("lytic", "sclerotic", "mixed")
"""Radiological lesion types: lytic (hyper-enhancing), sclerotic/blastic (hypo-enhancing,
dark on T2W), mixed (sclerotic patches in a lytic lesion)."""


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
        Diseased level's body semi-axes (L-R, A-P), body height and disc height (mm).
    cortex : float
        Cortical shell thickness (mm).
    canal_half_width, canal_half_depth : float
        Spinal canal semi-axes (mm).
    body_outline : tuple of 2 float
        Semi-axes (L-R, A-P) of the trunk outline (mm).
    level : int
        Diseased level, an index into :data:`LEVEL_NAMES` (default 14, L3).
    rotation_deg : float
        Axial rotation of the spine about its S axis (degrees).
    lateral_curvature : float
        Coronal curvature (1/mm): body centres lie at ``x = lateral_curvature * dz**2``.
    height_loss : float
        Fraction of the diseased body's height lost by a central depression of its superior
        end plate (0: none).
    fat_fraction : float
        Mean fat fraction of the vertebral marrow (Kugel H et al. JMRI 2001;13:263-268).
    marrow_field : RandomField or None
        Spatial variation of the marrow fat fraction (red/yellow marrow islands).

    Examples
    --------
    >>> import numpy as np
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> isinstance(a, Anatomy), bool(a.body_height > a.disc_height > 0)
    (True, True)
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
    level: int = 14
    rotation_deg: float = 0.0
    lateral_curvature: float = 0.0
    height_loss: float = 0.0
    fat_fraction: float = 0.45
    marrow_field: RandomField | None = field(default=None, compare=False)

    @property
    def level_pitch(self) -> float:
        """Distance between consecutive vertebral centres (mm)."""
        return self.body_height + self.disc_height

    @property
    def back_depth(self) -> float:
        """Distance (mm) from the body axis to the skin of the back, at the midline.

        The erector spinae end ~48 mm behind the canal; the back adds the thoracolumbar fascia
        and a subcutaneous fat layer of 10-35 mm that grows with the trunk outline (no extra
        random draw: a larger trunk is a fatter subject).
        """
        muscle = self.body_half_depth + 1.5 + 2 * self.canal_half_depth + 48.0
        return float(muscle + 10.0 + 25.0 * np.clip((self.body_outline[1] - 105.0) / 30.0, 0.0, 1.0))

    @property
    def level_name(self) -> str:
        """Name of the diseased level (e.g. ``"T12"``)."""
        return LEVEL_NAMES[self.level]

    def level_centre(self, level: int = _LESION_LEVEL) -> np.ndarray:
        """LPS centre (mm) of the vertebral body of modelled `level` (0-6; 3 is diseased).

        Parameters
        ----------
        level : int, default 3
            Modelled level, counted from 0 (the lowest S, most caudal) in steps of one
            vertebral body and disc; 3 is the diseased body.

        Returns
        -------
        numpy.ndarray, shape (3,)
            The body centre ``(L, P, S)`` (mm), on the sagittal and coronal curvatures of the
            spine.
        """
        dz = (level - _LESION_LEVEL) * self.level_pitch
        return np.array(
            [self.lateral_curvature * dz**2, self.y_body + self.curvature * dz**2, self.z_lesion_level + dz]
        )

    def marrow_fat_fraction(self, points: np.ndarray) -> np.ndarray:
        """Fat fraction of normal vertebral marrow at world `points` (clipped to [0.05, 0.9]).

        Parameters
        ----------
        points : numpy.ndarray, shape (n, 3)
            LPS positions (mm).

        Returns
        -------
        numpy.ndarray, shape (n,)
            The fat fraction at each point: ``fat_fraction`` plus the marrow islands of
            ``marrow_field``, clipped to [0.05, 0.9]; ``fat_fraction`` everywhere when
            ``marrow_field`` is None.
        """
        p = np.asarray(points, dtype=float)
        if self.marrow_field is None:
            return np.full(p.shape[0], self.fat_fraction)
        return np.clip(self.fat_fraction + 0.12 * self.marrow_field(p), 0.05, 0.9)


@dataclass(frozen=True)
class Lesion:
    """Implicit description of one metastasis (LPS, mm).

    Attributes
    ----------
    centres : ndarray, shape (k, 3)
        Lobe centres.
    sigmas : ndarray, shape (k,)
        Lobe widths (mm).
    roughness_field : RandomField
        Random field roughening the surface (lobulation at the 5-10 mm scale).
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
    perfusion_field : RandomField
        Habitats of viable perfusion (scales Ktrans and vp).
    texture : float
        Amplitude (log-sd) of the perfusion habitats.
    kep_field : RandomField
        Habitats of kep (plateau vs wash-out voxels).
    lesion_type : str
        One of :data:`LESION_TYPES`.
    sclerosis : float
        Mean mineralisation of the lesion (0 lytic .. 1 dense blastic).
    mineral_field : RandomField
        Spatial pattern of the mineralisation (sclerotic patches of a mixed lesion).
    level : int
        Modelled level of the lesion (3: the index level; other values: additional lesions).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = sample_anatomy(rng)
    >>> les = sample_lesion(rng, a, radius=8.0, breakthrough_probability=0.0, necrosis=0.2, texture=0.5)
    >>> les.lesion_type, les.centres.shape[1]
    ('lytic', 3)
    """

    centres: np.ndarray
    sigmas: np.ndarray
    roughness_field: RandomField
    roughness: float
    breakthrough: float
    necrosis: float
    necrosis_centre: np.ndarray
    necrosis_width: float
    perfusion_field: RandomField
    texture: float
    kep_field: RandomField
    lesion_type: str = "lytic"
    sclerosis: float = 0.0
    mineral_field: RandomField | None = None
    level: int = _LESION_LEVEL

    @property
    def bounding_radius(self) -> float:
        """Radius (mm) around the first centre outside which the lesion is empty."""
        d = np.linalg.norm(self.centres - self.centres[0], axis=1) + 3.5 * self.sigmas
        return float(d.max() + self.breakthrough)


def sample_anatomy(
    rng: np.random.Generator, *, height_loss_probability: float = 0.0, level: int | None = None
) -> Anatomy:
    """Draw a plausible adult thoracolumbar spine.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    height_loss_probability : float, default 0
        Probability of a pathological compression (10-35 % height loss) of the diseased body.
    level : int, optional
        Diseased level (index into :data:`LEVEL_NAMES`, 8 = T9 .. 15 = L4); drawn by default.

    Returns
    -------
    Anatomy
        The spine's geometry (LPS world coordinates, mm): body, disc and canal sizes,
        curvatures, rotation, height loss and marrow fat of the subject, with the diseased
        `level` (see the attributes of :class:`Anatomy`).

    Raises
    ------
    TypeError
        If `rng` is not a Generator, or `height_loss_probability` or `level` of the wrong type.
    ValueError
        If `height_loss_probability` is outside [0, 1] or `level` outside 0..14.

    Examples
    --------
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> a.level_name in LEVEL_NAMES[8:16], bool(15 <= a.body_half_width <= 28)
    (True, True)
    """
    check_generator(rng)
    height_loss_probability = check_real(
        height_loss_probability, "height_loss_probability", low=0.0, high=1.0
    )
    if level is not None:
        check_int(level, "level", low=0, high=len(LEVEL_NAMES) - 2)
    lev = int(rng.choice(_LESION_LEVELS, p=_LESION_LEVEL_P)) if level is None else int(level)
    w, d, h, disc, cw, cd = _MORPHOMETRY[lev]
    size = float(rng.normal(1.0, 0.06))  # per-subject size (body dimensions sd ~ 6 %)
    broke = rng.random() < height_loss_probability
    return Anatomy(
        z_lesion_level=float(rng.uniform(-15.0, 15.0)),
        y_body=float(rng.uniform(-10.0, 10.0)),
        curvature=float(rng.uniform(-0.0015, 0.0015)),
        body_half_width=float(w / 2 * size),
        body_half_depth=float(d / 2 * size),
        body_height=float(h * size),
        disc_height=float(disc * rng.uniform(0.85, 1.1)),
        cortex=float(rng.uniform(0.4, 0.8)),
        canal_half_width=float(cw / 2 * rng.uniform(0.92, 1.08)),
        canal_half_depth=float(cd / 2 * rng.uniform(0.92, 1.08)),
        body_outline=(float(rng.uniform(140.0, 175.0)), float(rng.uniform(105.0, 135.0))),
        level=lev,
        rotation_deg=float(rng.normal(0.0, 3.0)),
        lateral_curvature=float(rng.uniform(-0.001, 0.001)),
        height_loss=float(rng.uniform(0.10, 0.35)) if broke else 0.0,
        fat_fraction=float(rng.uniform(0.30, 0.60)),
        marrow_field=random_field(rng, float(rng.uniform(3.0, 6.0))),
    )


def sample_lesion(
    rng: np.random.Generator,
    anatomy: Anatomy,
    *,
    radius: float,
    breakthrough_probability: float,
    necrosis: float,
    texture: float,
    lesion_type: str = "lytic",
    level: int = _LESION_LEVEL,
    habitat_length_mm: tuple[float, float] = (3.0, 6.0),
) -> Lesion:
    """Draw a lobulated lesion inside the vertebral body of modelled `level` of `anatomy`.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    anatomy : Anatomy
        Spine geometry.
    radius : float
        Typical lesion radius (mm).
    breakthrough_probability : float
        Probability that the tumour breaches the cortex into the soft tissue.
    necrosis : float
        Maximum depth of the necrotic core (0-1); the case's depth is uniform below it.
    texture : float
        Log-sd of the perfusion habitats (0 = homogeneous).
    lesion_type : {"lytic", "sclerotic", "mixed"}
        Radiological type (:data:`LESION_TYPES`).
    level : int, default 3
        Modelled level (3 is the index level of the case).
    habitat_length_mm : tuple of 2 float
        Range of the correlation length (mm) of the perfusion and kep habitats.

    Returns
    -------
    Lesion
        The metastasis as an implicit shape (lobe centres and widths, LPS, mm) in the body
        of `level`, with its breakthrough, necrotic core, perfusion and kep habitats and
        `lesion_type` (see the attributes of :class:`Lesion`).

    Raises
    ------
    TypeError
        If `rng` is not a Generator, `anatomy` not an :class:`Anatomy`, or a number is not
        real.
    ValueError
        Unknown `lesion_type`; `radius` not > 0; a probability or `necrosis` outside [0, 1];
        negative `texture`; `level` not a modelled level; a non-finite number.

    Examples
    --------
    >>> r = np.random.default_rng(0)
    >>> les = sample_lesion(r, sample_anatomy(r), radius=10.0, breakthrough_probability=0.3,
    ...                     necrosis=0.5, texture=0.2)
    >>> les.centres.shape[1], les.lesion_type
    (3, 'lytic')
    """
    check_generator(rng)
    check_instance(anatomy, Anatomy, "anatomy", "from sample_anatomy")
    radius = check_real(radius, "radius", low=0.0, low_open=True)
    breakthrough_probability = check_real(
        breakthrough_probability, "breakthrough_probability", low=0.0, high=1.0
    )
    necrosis = check_real(necrosis, "necrosis", low=0.0, high=1.0)
    texture = check_real(texture, "texture", low=0.0)
    if not isinstance(lesion_type, str) or lesion_type not in LESION_TYPES:
        raise ValueError(f"`lesion_type` must be one of {LESION_TYPES}, got {lesion_type!r}")
    level = check_int(level, "level", low=0, high=len(LEVEL_NAMES) - 2)
    if not isinstance(habitat_length_mm, (tuple, list)) or len(habitat_length_mm) != 2:
        raise TypeError(f"`habitat_length_mm` must be a (low, high) pair of mm, got {habitat_length_mm!r}")
    lo_hab = check_real(habitat_length_mm[0], "habitat_length_mm[0]", low=0.0, low_open=True)
    hi_hab = check_real(habitat_length_mm[1], "habitat_length_mm[1]", low=lo_hab)
    c = anatomy.level_centre(level)
    half = np.array([anatomy.body_half_width, anatomy.body_half_depth, anatomy.body_height / 2])
    room = np.maximum(half - 0.6 * radius, 1.0)
    centre = c + rng.uniform(-0.5, 0.5, size=3) * room
    k = int(rng.integers(3, 7))
    sig = radius * rng.uniform(0.4, 0.65, size=k)
    offsets = rng.standard_normal((k, 3)) * radius * 0.45
    offsets[0] = 0.0
    broke = rng.random() < breakthrough_probability
    sclerosis = {
        "lytic": 0.0,
        "sclerotic": float(rng.uniform(0.6, 0.9)),
        "mixed": float(rng.uniform(0.3, 0.5)),
    }[lesion_type]
    return Lesion(
        centres=centre + offsets,
        sigmas=sig,
        roughness_field=random_field(rng, float(rng.uniform(2.5, 4.0)), n_waves=32),
        roughness=float(rng.uniform(0.15, 0.35)),
        breakthrough=float(rng.uniform(3.0, 10.0)) if broke else 0.0,
        necrosis=float(rng.uniform(0.0, necrosis)),
        necrosis_centre=centre + rng.standard_normal(3) * radius * 0.2,
        necrosis_width=float(radius * rng.uniform(0.3, 0.5)),
        perfusion_field=random_field(rng, float(rng.uniform(lo_hab, hi_hab))),
        texture=float(texture),
        kep_field=random_field(rng, float(rng.uniform(lo_hab, hi_hab))),
        lesion_type=lesion_type,
        sclerosis=sclerosis,
        mineral_field=random_field(rng, float(rng.uniform(3.0, 5.0))),
        level=int(level),
    )


def _local_frame(points: np.ndarray, a: Anatomy) -> dict[str, np.ndarray]:
    """Spine-local coordinates: ``x`` (L), ``v`` (P offset from the body axis), ``s`` (level)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    dz = z - a.z_lesion_level
    xc = x - a.lateral_curvature * dz**2
    yc = y - (a.y_body + a.curvature * dz**2)
    th = np.deg2rad(a.rotation_deg)
    c, s = np.cos(th), np.sin(th)
    return {"x": c * xc + s * yc, "v": -s * xc + c * yc, "dz": dz}


def _body_geometry(points: np.ndarray, a: Anatomy) -> dict[str, np.ndarray]:
    """Local coordinates of `points` relative to their nearest vertebral level."""
    fr = _local_frame(points, a)
    x, v, dz = fr["x"], fr["v"], fr["dz"]
    pitch = a.level_pitch
    level = np.clip(np.rint(dz / pitch) + _LESION_LEVEL, 0, _N_LEVELS - 1)
    zz = dz - (level - _LESION_LEVEL) * pitch  # S offset from the level's body centre
    # LPS: S grows superiorly, so the anatomical level index (T1 = 0 ... S1) grows as S falls
    anat_level = np.clip(a.level - (level - _LESION_LEVEL), 0, len(LEVEL_NAMES) - 1).astype(int)
    s_cont = a.level - dz / pitch  # continuous anatomical level coordinate, growing caudally
    ref = _MORPHOMETRY[a.level]
    m = _MORPHOMETRY[anat_level]
    ah0 = a.body_half_width * m[:, 0] / ref[0]
    bh = a.body_half_depth * m[:, 1] / ref[1]
    half_h0 = a.body_height / 2
    # waist: the sides of the body are concave between the end plates (~7 %)
    waist = 1.0 - 0.07 * (1.0 - np.clip(zz / half_h0, -1, 1) ** 2)
    # thoracic bodies are heart-shaped (narrower anteriorly); lumbar ones kidney-shaped
    taper = np.clip((13.5 - anat_level) / 2.5, 0.0, 1.0)
    ah = ah0 * waist * (1.0 - 0.25 * taper * np.clip(-v / bh, 0.0, 1.0))
    bhw = bh * waist
    r = np.sqrt((x / ah) ** 2 + (v / bhw) ** 2)
    half_h = half_h0 - 1.2 * (1 - np.minimum(r, 1.0) ** 2)  # concave end plates
    # compression: central depression of the diseased body's superior end plate
    top = half_h.copy()
    if a.height_loss > 0:
        sick = level == _LESION_LEVEL
        top[sick] -= a.height_loss * 2 * half_h0 * (1 - 0.5 * np.minimum(r[sick], 1.0) ** 2)
    bite = (x / (0.45 * ah0)) ** 2 + ((v - 1.05 * bh) / ((0.25 - 0.1 * taper) * bh)) ** 2 < 1
    body = (r < 1) & (zz < top) & (zz > -half_h) & ~bite
    d_out = np.minimum.reduce([(1 - r) * np.minimum(ah, bhw), top - zz, zz + half_h])
    return {
        "x": x,
        "v": v,
        "zz": zz,
        "r": r,
        "half_h": half_h,
        "top": top,
        "body": body,
        "d": d_out,
        "ah": ah,
        "bh": bh,
        "level": level,
        "anat_level": anat_level,
        "s": s_cont,
    }


def _chest_wall(
    x: np.ndarray, v: np.ndarray, ah: np.ndarray, bh: np.ndarray, ca: float, v_canal: np.ndarray, a: Anatomy
) -> dict[str, np.ndarray | float]:
    """The rib line of the lower thorax: an ellipse through the rib angles.

    ``d`` is the signed in-plane distance (mm, negative inside) to the ellipse, whose centre is
    the trunk centre and whose semi-axes are the trunk's less 22 mm laterally (intercostal and
    latissimus muscles, subcutaneous fat) and less 20 mm anteriorly; posteriorly it passes
    through the rib angles (``ax_ang``, ``v_ang``: 22 mm lateral to and 8 mm behind the
    costotransverse joints at the tips of the transverse processes, ``ax_tub``, ``v_tub``).
    """
    oa, ob = a.body_outline
    vr = -0.22 * ob
    rx = oa - 22.0
    ax_tub = ca + 18.0
    v_tub = v_canal + 1.0
    # rib angle: 4-6 cm from the midline, behind the costotransverse joint
    ax_ang, v_ang = ax_tub + 22.0, v_tub + 8.0
    ry = (v_ang - vr) / np.sqrt(1.0 - (ax_ang / rx) ** 2)
    ry_here = np.where(v > vr, ry, ob - 20.0)  # the anterior costal margin follows the belly
    f = (x / rx) ** 2 + ((v - vr) / ry_here) ** 2 - 1.0
    grad = 2.0 * np.sqrt((x / rx**2) ** 2 + ((v - vr) / ry_here**2) ** 2) + 1e-9
    return {
        "d": f / grad,
        "rx": rx,
        "ry": ry,
        "ax_tub": ax_tub,
        "v_tub": v_tub,
        "ax_ang": ax_ang,
        "v_ang": v_ang,
        "v_front": vr + 0.1 * ry,
        "rib_r": 4.0,
        "ax_head": 0.8 * ah,
        "v_head": 0.55 * bh,
    }


def _kidney(
    xs: np.ndarray, v: np.ndarray, s: np.ndarray, ah: np.ndarray, s_c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Kidney on the side ``xs > 0``: parenchyma and renal sinus (fat) masks.

    An ellipsoid 11-12 cm long (centred on level coordinate `s_c`, half-length 1.58 levels),
    about 56 x 38 mm in the axial plane, 60-70 mm from the midline, its long axis turned 30 deg
    so that the hilum faces anteromedially (Gray's Anatomy, 41st ed., 2016); the hilum is a
    notch of sinus fat on the medial border at mid-kidney.
    """
    f = np.sqrt(np.clip(1.0 - ((s - s_c) / 1.58) ** 2, 0.0, 1.0))
    cx, cv = ah + 40.0, -12.0
    th = np.deg2rad(30.0)
    u = (xs - cx) * np.cos(th) + (v - cv) * np.sin(th)  # hilum (-) .. lateral border (+)
    w = -(xs - cx) * np.sin(th) + (v - cv) * np.cos(th)
    a_l, a_s = 28.0 * f + 1e-6, 19.0 * f + 1e-6
    kid = (f > 0) & (xs > 0) & ((u / a_l) ** 2 + (w / a_s) ** 2 < 1)
    sinus = kid & (f > 0.6) & (((u + a_l) / (0.55 * a_l)) ** 2 + (w / (0.45 * a_s)) ** 2 < 1)
    return kid & ~sinus, sinus


def _ribs(
    x: np.ndarray,
    v: np.ndarray,
    dz: np.ndarray,
    ah: np.ndarray,
    bh: np.ndarray,
    chest: dict[str, np.ndarray | float],
    a: Anatomy,
) -> tuple[np.ndarray, np.ndarray]:
    """Ribs of the modelled thoracic levels: (bone, cortical shell) masks.

    Each rib's centre line runs from its head at the posterolateral corner of the body
    (costovertebral joint, cranial half of the body) to the tubercle at the transverse process
    (neck), on to the rib angle, then along the chest wall (:func:`_chest_wall`), descending 0.3 mm per mm of its
    length; the cross-section is 8 mm (in plane) x 12 mm (S-I) with a 1 mm cortex around fatty
    marrow.  T11 and T12 are floating ribs (about 15 and 9 cm long here); T1-T10 are
    followed for 26 cm, to about the anterior axillary line.
    """
    ax = np.abs(x)
    pts = [
        (chest["ax_head"], chest["v_head"]),
        (chest["ax_tub"], chest["v_tub"]),
        (chest["ax_ang"], chest["v_ang"]),
    ]
    d = np.full(x.shape, np.inf)
    arc = np.zeros(x.shape)
    done = np.zeros(x.shape)  # arc length of the polyline so far (per point: the pieces vary)
    for (x0, v0), (x1, v1) in pairwise(pts):  # head -> tubercle -> angle
        dx, dv = x1 - x0, v1 - v0
        seg = np.hypot(dx, dv)
        t = np.clip(((ax - x0) * dx + (v - v0) * dv) / seg**2, 0.0, 1.0)
        ds = np.hypot(ax - x0 - t * dx, v - v0 - t * dv)
        closer = ds < d
        d = np.where(closer, ds, d)
        arc = np.where(closer, done + t * seg, arc)
        done = done + seg
    shaft = (ax >= chest["ax_ang"]) & (np.abs(chest["d"]) < d)
    d = np.where(shaft, np.abs(chest["d"]), d)
    arc = np.where(shaft, done + (ax - chest["ax_ang"]) + 0.7 * np.clip(chest["v_ang"] - v, 0.0, None), arc)
    rib = np.zeros(x.shape, dtype=bool)
    cortex = np.zeros(x.shape, dtype=bool)
    r_in = chest["rib_r"]
    for lv in range(_N_LEVELS):
        anat = a.level - (lv - _LESION_LEVEL)
        if anat > _T12:
            continue
        # T11, T12 float; T1-T10 are followed to the anterior axillary line (their costal
        # cartilages, rising to the sternum, are not modelled)
        length = {_T12 - 1: 150.0, _T12: 90.0}.get(anat, 260.0)
        # dz is the LPS S offset (growing superiorly): the head sits in the cranial half of
        # its body and the rib descends (to lower S) along its length
        z0 = (lv - _LESION_LEVEL) * a.level_pitch + 0.3 * a.body_height
        sel = np.flatnonzero((dz < z0 + 6.0) & (dz > z0 - 0.3 * length - 6.0))
        q = (d[sel] / r_in) ** 2 + ((dz[sel] - z0 + 0.3 * arc[sel]) / 6.0) ** 2
        on = (q < 1) & (arc[sel] < length)
        rib[sel[on]] = True
        cortex[sel[on & (q > 0.75**2)]] = True
    return rib, cortex


@dataclass(frozen=True)
class _Local:
    """Spine-local coordinates of points and what every region of :func:`tissue_labels` uses."""

    g: dict[str, np.ndarray]  # _body_geometry of the points
    x: np.ndarray
    v: np.ndarray
    zz: np.ndarray
    r: np.ndarray
    ah: np.ndarray
    bh: np.ndarray
    s: np.ndarray
    ax: np.ndarray  # |x|
    inside: np.ndarray  # inside the trunk outline
    thoracic: np.ndarray  # 1 above T12, 0 from L1
    ca: float  # canal half-width
    cb: float  # canal half-depth
    v_canal: np.ndarray  # canal centre behind the body axis
    vc: np.ndarray  # canal frame
    rc: np.ndarray  # elliptic radius in the canal
    pitch: float


def _local(p: np.ndarray, anatomy: Anatomy) -> _Local:
    """Spine-local coordinates of the points `p` and the trunk outline (superellipse behind)."""
    g = _body_geometry(p, anatomy)
    x, v, s, bh = g["x"], g["v"], g["s"], g["bh"]
    oa, ob = anatomy.body_outline
    ycen = -0.22 * ob  # the spine lies posterior in the trunk
    # the back is flatter than the belly (superellipse) and covers the erector spinae with
    # fascia and subcutaneous fat (Anatomy.back_depth)
    bp = anatomy.back_depth - ycen
    post = v > ycen
    outline = np.where(
        post,
        np.abs(x / oa) ** 3 + np.abs((v - ycen) / bp) ** 3,
        (x / oa) ** 2 + ((v - ycen) / ob) ** 2,
    )
    cb, ca = anatomy.canal_half_depth, anatomy.canal_half_width
    v_canal = bh + 1.5 + cb  # canal centre behind the body axis
    vc = v - v_canal  # canal frame
    return _Local(
        g=g,
        x=x,
        v=v,
        zz=g["zz"],
        r=g["r"],
        ah=g["ah"],
        bh=bh,
        s=s,
        ax=np.abs(x),
        inside=outline < 1,
        thoracic=np.clip((12.8 - s) / 1.2, 0.0, 1.0),
        ca=ca,
        cb=cb,
        v_canal=v_canal,
        vc=vc,
        rc=np.sqrt((x / ca) ** 2 + (vc / cb) ** 2),
        pitch=anatomy.level_pitch,
    )


def _label_trunk(lab: np.ndarray, q: _Local, anatomy: Anatomy) -> None:
    """Trunk (in place): fat inside the outline, abdominal viscera anterior to the spine."""
    oa, ob = anatomy.body_outline
    ycen = -0.22 * ob
    x, v = q.x, q.v
    lab[q.inside] = LABELS["fat"]
    viscera = (
        q.inside
        & (v < -(q.bh + 28.0) + 0.004 * x**2)
        & ((x / (oa - 25)) ** 2 + ((v - ycen) / (ob - 20)) ** 2 < 1)
    )
    lab[viscera] = LABELS["viscera"]


def _label_thorax(
    lab: np.ndarray, q: _Local, anatomy: Anatomy
) -> tuple[np.ndarray, dict[str, np.ndarray | float], np.ndarray]:
    """Liver/spleen under the diaphragm and the lungs (in place).

    Evaluated only where the thorax can be, cranial to mid-L2 (the lowest rib shafts reach
    the L1-L2 level laterally).  Returns the indices ``th`` of those points, the chest wall
    there (:func:`_chest_wall`) and the mask of the points on the ribs (where the paraspinal
    muscles stop).
    """
    th = np.flatnonzero(q.inside & (q.s < 13.5))
    xt, vt, axt, aht, bht, tht = q.x[th], q.v[th], q.ax[th], q.ah[th], q.bh[th], q.thoracic[th]
    chest = _chest_wall(xt, vt, aht, bht, q.ca, q.v_canal[th], anatomy)
    # upper abdomen under the diaphragm at the lower thoracic levels: liver (right) and spleen
    # (left) fill the chest wall anterior to the posterior costophrenic recesses
    # paravertebral / retrocrural fat: an ellipse around the spine, from the aorta to the canal
    vct = q.v_canal[th]
    para = (axt / (aht + 14.0)) ** 2 + ((vt - 0.5 * (vct - bht - 8.0)) / (0.5 * (vct + bht + 8.0))) ** 2 < 1
    lab[th[(tht > 0.3) & (chest["d"] < -3.0) & ~para]] = LABELS["viscera"]
    # lungs: posterior costophrenic recesses, crescents along the posterior chest wall lateral
    # to the spine, thinning anteriorly and caudally (gone by L1)
    lung_w = 55.0 * np.clip((12.0 - q.s[th]) / 1.7, 0.0, 1.0)
    crescent = lung_w * np.clip((vt - chest["v_front"]) / (0.5 * chest["ry"]), 0.0, 1.0)
    crescent *= np.clip((0.8 * chest["rx"] - axt) / (0.3 * chest["rx"]), 0.0, 1.0)  # posterior recess
    lung = (chest["d"] < -chest["rib_r"] - 1.0) & (chest["d"] > -chest["rib_r"] - 1.0 - crescent)
    lab[th[lung & (axt > aht + 6.0)]] = LABELS["lung"]
    on_ribs = np.zeros(lab.shape, dtype=bool)  # the paraspinal muscles lie on the ribs
    on_ribs[th] = (tht > 0.3) & (axt > chest["ax_tub"]) & (chest["d"] < chest["rib_r"])
    return th, chest, on_ribs


def _label_kidneys(lab: np.ndarray, q: _Local) -> None:
    """Kidneys (T12-L3, right lower; in place): parenchyma, and renal sinus fat (:func:`_kidney`)."""
    x, s = q.x, q.s
    for side, s_c in ((1.0, 12.5), (-1.0, 12.8)):
        kk = np.flatnonzero(q.inside & (np.abs(s - s_c) < 1.6) & (side * x > 0))
        kid, sinus = _kidney(side * x[kk], q.v[kk], s[kk], q.ah[kk], s_c)
        lab[kk[kid]] = LABELS["kidney"]
        lab[kk[sinus]] = LABELS["fat"]


def _label_muscles(lab: np.ndarray, q: _Local, on_ribs: np.ndarray) -> None:
    """Paraspinal muscles, psoas and quadratus lumborum (in place).

    Multifidus + erector spinae fill the gutter from the spinous process out past the
    transverse processes, flat on the posterior elements, under the thoracolumbar fascia
    (subcutaneous fat behind them), smaller in the thorax and not on the ribs (`on_ribs`);
    psoas from L1, growing caudally, and quadratus lumborum lateral to it (L1-L4).
    """
    ax, vc, s, thoracic = q.ax, q.vc, q.s, q.thoracic
    es = 1.0 - 0.25 * thoracic
    pw, pd = (q.ca + 50.0) * (1.0 - 0.12 * thoracic), (q.cb + 49.0) * es
    paraspinal = (ax > 1.2) & (vc > -3.0) & ((ax / pw) ** 2.5 + ((vc + 3.0) / pd) ** 2 < 1)
    paraspinal &= ~on_ribs
    ps = np.clip((s - 12.3) / 3.5, 0.0, 1.0)
    psoas = (ps > 0) & (
        ((ax - (q.ah + 4.0 + 11.0 * ps)) / (4.0 + 11.0 * ps + 1e-6)) ** 2
        + ((q.v + 2.0) / (5.0 + 13.0 * ps + 1e-6)) ** 2
        < 1
    )
    ql = np.clip((s - 11.9) / 2.0, 0.0, 1.0) * (s < 15.9)
    quadratus = (ql > 0) & (
        ((ax - (q.ca + 36.0)) / (6.0 + 10.0 * ql + 1e-6)) ** 2 + ((vc + 9.0) / (3.0 + 5.0 * ql + 1e-6)) ** 2
        < 1
    )
    lab[q.inside & (paraspinal | psoas | quadratus)] = LABELS["muscle"]


def _label_ribs(
    lab: np.ndarray, q: _Local, th: np.ndarray, chest: dict[str, np.ndarray | float], anatomy: Anatomy
) -> None:
    """Ribs at the thoracic levels (in place; :func:`_ribs` at the thorax points `th`).

    Head at the body, neck to the transverse process, shaft along the chest wall (cortical
    shell around fatty marrow).
    """
    dz = q.zz + (q.g["level"] - _LESION_LEVEL) * q.pitch
    rib, rib_cortex = _ribs(q.x[th], q.v[th], dz[th], q.ah[th], q.bh[th], chest, anatomy)
    lab[th[rib]] = LABELS["posterior"]
    lab[th[rib_cortex]] = LABELS["cortex"]


def _label_vessels(lab: np.ndarray, q: _Local) -> None:
    """Great vessels and the segmental arteries (in place).

    Aorta left anterolateral (more lateral in the thorax), bifurcating at L4 into the common
    iliac arteries; IVC right anterolateral; segmental arteries wrapping the waist of every
    body (not in the lung).
    """
    x, v, bh, thoracic = q.x, q.v, q.bh, q.thoracic
    iliac = np.clip((q.s - 15.3) / 0.7, 0.0, 1.0)
    ax_c = 14.0 + 5.0 * thoracic
    av_c = -bh - 12.0 + 6.0 * thoracic
    ra = 11.0 * (1 - iliac) + 5.5 * iliac
    aorta = ((x - ax_c * (1 - iliac)) ** 2 + (v - av_c) ** 2 < ra**2) & (iliac < 1)
    iliacs = (iliac > 0) & ((q.ax - 14.0) ** 2 + (v + bh + 12.0) ** 2 < 5.5**2)
    ivc = ((x + 0.45 * q.ah + 14.0) / 12.0) ** 2 + ((v + bh + 10.0) / 8.5) ** 2 < 1
    lab[aorta | iliacs] = LABELS["blood"]
    lab[ivc] = LABELS["vein"]
    seg = (np.abs(q.zz) < 1.2) & (q.r > 1.03) & (q.r < 1.12) & (v < 0.4 * bh)
    lab[seg & (lab != LABELS["lung"])] = LABELS["blood"]


def _label_neural_arch(lab: np.ndarray, q: _Local) -> None:
    """Neural arch (in place; Panjabi 1991, 1992).

    Pedicles from the body to the articular pillars (facets), laminae roofing the canal, the
    spinous process (sloping down in the thorax) and the transverse processes (long thin bars
    in the lumbar spine; stout and angled posterolaterally in the thorax, carrying the
    costotransverse joints).
    """
    x, ax, vc, zz, ca, cb, pitch, thoracic = q.x, q.ax, q.vc, q.zz, q.ca, q.cb, q.pitch, q.thoracic
    lumbar = 1.0 - thoracic
    ped_w = 5.0 + 3.0 * lumbar  # pedicle width ~5 mm at T10, ~8-9 mm at L3
    pedicle = (ax > ca - 1.0) & (ax < ca + ped_w) & (vc > -cb - 3.0) & (vc < 0.3 * cb)
    pedicle &= (zz > -0.2 * pitch) & (zz < 0.42 * pitch)  # upper half; the foramen below
    pillar = ((ax - ca - 0.5 * ped_w) / (0.8 * ped_w + 2.0)) ** 2 + (
        (vc - 0.5 * cb) / (0.55 * cb + 2.0)
    ) ** 2 < 1
    pillar &= np.abs(zz) < 0.47 * pitch
    lamina = (q.rc >= 1) & (vc > 0.2 * cb) & ((x / (ca + 6.0)) ** 2 + (vc / (cb + 5.5)) ** 2 < 1)
    lamina &= (zz > -0.42 * pitch) & (zz < 0.3 * pitch)
    slope = (0.3 + 0.5 * thoracic) * np.clip(vc - cb, 0, None)  # thoracic spinous processes slope down
    spinous = (
        (ax < 3.0 + 1.0 * lumbar)
        & (vc >= cb)
        & (vc < cb + 38.0)
        & (zz > -0.35 * pitch - slope)
        & (zz < 0.2 * pitch - slope)
    )
    tp_v = 0.5 * thoracic * (ax - ca - 2.0) - lumbar  # thoracic TPs point posterolaterally
    transverse = (
        (ax > ca + 2.0)
        & (ax < ca + 28.0 - 8.0 * thoracic)
        & (np.abs(vc - tp_v) < 3.5 + 1.0 * thoracic)
        & (np.abs(zz) < 6.0)
    )
    lab[pedicle | pillar | lamina | spinous | transverse] = LABELS["posterior"]


def _label_canal(lab: np.ndarray, q: _Local) -> None:
    """Canal contents (in place): epidural fat, dural sac (CSF), cord (conus ends at L1; cauda below)."""
    x, vc, ca, cb = q.x, q.vc, q.ca, q.cb
    canal = q.rc < 1
    lab[canal] = LABELS["fat"]
    sac = (x / (ca - 2.0)) ** 2 + (vc / (cb - 1.5)) ** 2 < 1
    lab[sac] = LABELS["csf"]
    cord_r = 5.0 * np.clip((13.5 - q.s) / 1.0, 0.0, 1.0)
    cord = (x / (cord_r + 1e-6)) ** 2 + (vc / (0.8 * cord_r + 1e-6)) ** 2 < 1
    # cauda equina: nerve roots in the dependent (posterior) sac
    cauda = (cord_r == 0) & (np.abs(x) < 0.5 * ca) & (vc > 0.2 * cb) & (vc < 0.75 * cb)
    lab[cord | cauda] = LABELS["cord"]


def _label_discs_and_bodies(lab: np.ndarray, q: _Local, anatomy: Anatomy) -> None:
    """Discs (annulus, nucleus) between the bodies, then the bodies (in place).

    Vertebral bodies: marrow in a cortical shell; basivertebral vein at mid-height.
    """
    g, x, v, zz, ah, bh, pitch = q.g, q.x, q.v, q.zz, q.ah, q.bh, q.pitch
    disc = (
        (q.r < 1) & ~g["body"] & (np.abs(zz) <= pitch / 2 + 0.01) & ((zz >= g["top"]) | (zz <= -g["half_h"]))
    )
    nuc = (x / (0.55 * ah)) ** 2 + ((v + 0.1 * bh) / (0.5 * bh)) ** 2 + (
        (np.abs(zz) - pitch / 2) / (anatomy.disc_height / 2)
    ) ** 2 < 1
    lab[disc] = LABELS["annulus"]
    lab[disc & nuc] = LABELS["nucleus"]
    body = g["body"]
    lab[body] = LABELS["marrow"]
    lab[body & (g["d"] < anatomy.cortex)] = LABELS["cortex"]
    basi = body & (np.abs(zz) < 1.3) & (v > 0.35 * bh) & (np.abs(np.abs(x) - 0.25 * (bh - v)) < 1.4)
    lab[basi] = LABELS["vein"]


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
        Label of each point (lesions not included; see :func:`lesion_fields`).

    Raises
    ------
    TypeError
        If `points` is not a real array or `anatomy` not an :class:`Anatomy`.
    ValueError
        If `points` is not finite of shape (n, 3).

    Examples
    --------
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> int(tissue_labels(a.level_centre()[None, :], a)[0]) == LABELS["marrow"]
    True
    """
    p = check_points(points)
    check_instance(anatomy, Anatomy, "anatomy", "from sample_anatomy")
    q = _local(p, anatomy)
    lab = np.zeros(p.shape[0], dtype=np.int8)
    # regions in this order: a later one overwrites an earlier one where they overlap
    _label_trunk(lab, q, anatomy)
    th, chest, on_ribs = _label_thorax(lab, q, anatomy)
    _label_kidneys(lab, q)
    _label_muscles(lab, q, on_ribs)
    _label_ribs(lab, q, th, chest, anatomy)
    _label_vessels(lab, q)
    _label_neural_arch(lab, q)
    _label_canal(lab, q)
    _label_discs_and_bodies(lab, q, anatomy)
    return lab


_NO_TUMOUR = ("annulus", "nucleus", "cord", "blood", "vein", "lung")


def lesion_properties(
    points: np.ndarray, labels: np.ndarray, anatomy: Anatomy, lesion: Lesion
) -> dict[str, np.ndarray]:
    """Membership and tissue fields of a lesion at LPS world points.

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
    dict of ndarray, each shape (n,)
        ``inside`` (bool), ``viability`` (viable perfused fraction in [0.05, 1], tapering
        over the infiltrative rim; 0 outside), ``kep_texture`` (zero-mean unit-variance
        field; 0 outside), ``mineral`` (mineralisation in [0, 1]; 0 outside) and
        ``necrotic`` (bool, viability < 0.3).

    Raises
    ------
    TypeError
        If `points` is not a real array, `labels` not integer, `anatomy` not an
        :class:`Anatomy` or `lesion` not a :class:`Lesion`.
    ValueError
        If `points` is not finite of shape (n, 3) or `labels` not of shape (n,).

    Examples
    --------
    >>> r = np.random.default_rng(0)
    >>> a = sample_anatomy(r)
    >>> les = sample_lesion(r, a, radius=10.0, breakthrough_probability=0.0, necrosis=0.0, texture=0.0)
    >>> pt = les.centres[:1]
    >>> bool(lesion_properties(pt, tissue_labels(pt, a), a, les)["inside"][0])
    True
    """
    p = check_points(points)
    n = p.shape[0]
    labels = check_labels(labels, n)
    check_instance(anatomy, Anatomy, "anatomy", "from sample_anatomy")
    check_instance(lesion, Lesion, "lesion", "from sample_lesion")
    out = {
        "inside": np.zeros(n, dtype=bool),
        "viability": np.zeros(n),
        "kep_texture": np.zeros(n),
        "mineral": np.zeros(n),
        "necrotic": np.zeros(n, dtype=bool),
    }
    near = np.linalg.norm(p - lesion.centres[0], axis=1) < lesion.bounding_radius
    if not near.any():
        return out
    f0 = np.zeros(int(near.sum()))
    for c, s in zip(lesion.centres, lesion.sigmas):
        f0 += np.exp(-np.sum((p[near] - c) ** 2, axis=1) / (2 * s * s))
    # the roughness changes f by a factor 1 + roughness * field / 2 (|field| < 4 in practice)
    sel = f0 > 0.5 / (1 + 2 * lesion.roughness)
    near[np.flatnonzero(near)[~sel]] = False
    if not near.any():
        return out
    q = p[near]
    f = f0[sel] * (1 + lesion.roughness * lesion.roughness_field(q) / 2)
    g = _body_geometry(q, anatomy)
    lab = labels[near]
    same_level = np.abs(g["level"] - lesion.level) < 0.5
    bone = same_level & np.isin(lab, [LABELS["marrow"], LABELS["cortex"], LABELS["vein"]]) & g["body"]
    allowed = bone.copy()
    # pedicle / posterior extension at the diseased level
    allowed |= same_level & (lab == LABELS["posterior"]) & (g["v"] < g["bh"] + 12.0)
    # never across the disc; a cortical breach invades the epidural / paravertebral soft tissue
    if lesion.breakthrough > 0:
        d_out = (g["r"] - 1) * np.minimum(g["ah"], g["bh"])
        soft = ~np.isin(lab, [LABELS[k] for k in _NO_TUMOUR])
        allowed |= same_level & soft & (d_out < lesion.breakthrough) & (np.abs(g["zz"]) < g["half_h"])
    ins = (f > 0.5) & allowed
    near[np.flatnonzero(near)[~ins]] = False
    if not near.any():
        return out
    q, f = q[ins], f[ins]
    core = np.exp(-np.sum((q - lesion.necrosis_centre) ** 2, axis=1) / (2 * lesion.necrosis_width**2))
    v_raw = (1.0 - 1.15 * lesion.necrosis * core) * np.exp(
        lesion.texture * lesion.perfusion_field(q) - 0.5 * lesion.texture**2
    )
    # infiltrative margin: perfusion tapers over the outer rim of the tumour (f from 0.5 to 0.8)
    rim = np.clip((f - 0.5) / 0.3, 0.0, 1.0)
    v = np.clip(np.clip(v_raw, 0.05, 1.0) * (0.45 + 0.55 * rim), 0.05, 1.0)
    if lesion.sclerosis > 0 and lesion.mineral_field is not None:
        mf = lesion.mineral_field(q)
        if lesion.lesion_type == "mixed":  # sclerotic patches in a lytic lesion
            mineral = np.clip(lesion.sclerosis * 2.0 * (mf > 0.0) * (0.6 + 0.4 * np.tanh(mf)), 0.0, 1.0)
        else:
            mineral = np.clip(lesion.sclerosis + 0.15 * mf, 0.0, 1.0)
    else:
        mineral = np.zeros(q.shape[0])
    out["inside"][near] = True
    out["viability"][near] = v
    out["kep_texture"][near] = lesion.kep_field(q)
    out["mineral"][near] = mineral
    out["necrotic"][near] = v < 0.3
    return out


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
        Fraction of viable, perfused tumour in [0.05, 1]; 0 outside.
    kep_texture : ndarray, shape (n,)
        Zero-mean, unit-variance field modulating kep; 0 outside.

    Raises
    ------
    TypeError, ValueError
        As :func:`lesion_properties`.

    See Also
    --------
    lesion_properties : The same, and the mineralisation and necrosis fields.

    Examples
    --------
    >>> r = np.random.default_rng(0)
    >>> a = sample_anatomy(r)
    >>> les = sample_lesion(r, a, radius=10.0, breakthrough_probability=0.0, necrosis=0.0, texture=0.0)
    >>> pt = les.centres[:1]
    >>> bool(lesion_fields(pt, tissue_labels(pt, a), a, les)[0][0])
    True
    """
    d = lesion_properties(points, labels, anatomy, lesion)
    return d["inside"], d["viability"], d["kep_texture"]
