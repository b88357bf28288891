"""The DCE signal of the voxelised phantom and its acquisition.

Private to :mod:`dcemets.simulate.case`.  One job: from the phantom on the axial DCE grid
and the case's timing, the SPGR signal of every voxel at the sub-interval samples (normal
tissues and residual fat, two-compartment marrow, lesions with habitats) and the acquired
frames (coil profile, frame integration with motion, apodisation, complex noise).  The
state passed between the stages of :func:`dcemets.simulate.simulate_case` is held in the
small frozen records defined here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dcemets import kinetics

from ._voxels import _oedema_weight
from .acquisition import complex_noise_magnitude, effective_shift, integrate_frames, line_subinterval
from .anatomy import Anatomy
from .difficulty import Difficulty
from .grids import VoxelGrid
from .primaries import PrimaryModel
from .tissues import LABELS, MARROW_WATER_T1_S, TISSUES

__all__: list[str] = []

_GAIN = 1000.0  # scale (a.u.) of the simulated DCE and T2W signals
_PSF_SIGMA_VOX = (0.35, 0.35, 0.35)  # (z, y, x) Gaussian apodisation, in voxels


def _spgr(r1: np.ndarray, tr: float, fa: float) -> np.ndarray:
    e = np.exp(-tr * r1)
    return np.sin(fa) * (1 - e) / (1 - np.cos(fa) * e)


@dataclass(frozen=True)
class _Phantom:
    """The phantom on the axial DCE grid (voxels in C order of ``shape``)."""

    grid: VoxelGrid
    centre: np.ndarray  # centre of the diseased level (LPS, mm)
    fov_centre: np.ndarray  # centre of the DCE field of view (LPS, mm)
    pts: np.ndarray  # voxel centres (nvox, 3)
    shape: tuple[int, int, int]  # (z, y, x)
    frac: np.ndarray  # tissue fractions (nvox, n_labels + 1), see _fractions
    over: np.ndarray  # centre labels with the lesions overlaid
    fields: list[dict[str, np.ndarray]]  # per lesion: viability, kep_texture, mineral, fraction
    labels: np.ndarray  # centre labels without the lesions
    inside: np.ndarray  # index lesion fraction >= 0.5


@dataclass(frozen=True)
class _Timing:
    """Frame times, the plasma input on the fine grid and the motion of the case."""

    dt: float
    times: np.ndarray  # k-space centre of each frame (s)
    t_inj: float
    onset: float  # bolus arrival (s)
    t_fine: np.ndarray  # the 0.5 s grid of the AIF and the convolutions
    cp: np.ndarray  # plasma input (mM) on `t_fine`
    cp_vein: np.ndarray  # the venous curve (further dispersed)
    w_time: np.ndarray  # (n_frames * n_sub, n_fine): fine grid -> sub-interval samples
    n_sub: int  # sub-intervals per frame (1 when frames are instantaneous)
    moving: bool
    disp: np.ndarray  # (n_frames, n_sub, 3) displacement (LPS, mm)


@dataclass(frozen=True)
class _TissueCurves:
    """Per-label kinetics and relaxation, and concentration curves at the sub-interval samples."""

    kt: np.ndarray
    ke: np.ndarray
    vp: np.ndarray
    conc_tab: np.ndarray  # (n_labels, n_time)
    t10_tab: np.ndarray
    pd_tab: np.ndarray


@dataclass(frozen=True)
class _Marrow:
    """Marrow of the DCE grid: fat fraction, perfusion gain of the water and the oedema."""

    ff: np.ndarray  # fat fraction per voxel (0 where no marrow)
    scale: float  # marrow perfusion scale of the patient
    oedema_amp: float
    oedema_mm: float
    w_ax: np.ndarray  # oedema weight per voxel
    mv: np.ndarray  # indices of the voxels holding marrow
    gain: np.ndarray  # perfusion gain of the marrow voxels `mv`


@dataclass(frozen=True)
class _Acquired:
    """The acquired DCE magnitudes, their noise-free version and the effective motion."""

    vol: np.ndarray
    clean_mag: np.ndarray
    disp_eff: np.ndarray
    sigma: float


def _tissue_curves(tm: _Timing) -> _TissueCurves:
    """Extended-Tofts concentration of every normal tissue at the sub-interval samples."""
    names = list(TISSUES)
    props = [TISSUES[n] for n in names]
    kt = np.array([0.0 if n == "lesion" else q.ktrans for n, q in zip(names, props)])
    ke = np.array([0.0 if n == "lesion" else q.kep for n, q in zip(names, props)])
    vp = np.array([0.0 if n == "lesion" else q.vp for n, q in zip(names, props)])
    conc_fine = np.asarray(kinetics.tofts(tm.t_fine, tm.cp, kt, ke, vp))
    conc_fine[LABELS["vein"]] = TISSUES["vein"].vp * tm.cp_vein
    conc_tab = conc_fine @ tm.w_time.T  # (n_labels, n_time)
    t10_tab = np.array([q.t10_s for q in props])
    pd_tab = np.array([q.pd for q in props])
    return _TissueCurves(kt=kt, ke=ke, vp=vp, conc_tab=conc_tab, t10_tab=t10_tab, pd_tab=pd_tab)


def _normal_signal(
    ph: _Phantom,
    tc: _TissueCurves,
    diff: Difficulty,
    trf: float,
    fa: float,
    r1: float,
    gen: np.random.Generator,
) -> tuple[np.ndarray, float, np.ndarray, float]:
    """SPGR signal of the normal tissues and of the residual fat, ``(n_time, nvox)`` float32.

    `trf` (s), `fa` (rad): the sequence; `r1`: the agent's relaxivity (1/(mM s)).

    Also returns the drawn fat-suppression residual at the isocentre, its value per voxel
    (failing away from the isocentre, B0) and the fully relaxed fat signal.
    """
    sig_tab = tc.pd_tab[:, None] * _spgr(1.0 / tc.t10_tab[:, None] + r1 * tc.conc_tab, trf, fa)
    n_lab = len(LABELS)
    cols = np.ones(n_lab + 1, dtype=bool)
    for k in ("fat", "marrow", "lesion"):
        cols[LABELS[k]] = False
    cols[n_lab] = False
    # fat: imperfect spectral fat suppression, failing away from the isocentre (B0)
    eta0 = float(gen.uniform(*diff.fat_suppression_residual))
    d_iso = np.linalg.norm((ph.pts - ph.fov_centre)[:, :2], axis=1)
    eta = np.clip(eta0 + diff.fat_suppression_residual[1] * (d_iso / 150.0) ** 2, 0.0, 1.0)
    s_fat = _spgr(np.array([1.0 / TISSUES["fat"].t10_s]), trf, fa)[0] * TISSUES["fat"].pd
    # normal tissues and residual fat in one product, time-major: (n_time, nvox)
    frac = ph.frac
    n_c = int(cols.sum())
    weights = np.empty((ph.pts.shape[0], n_c + 1), dtype=np.float32)
    weights[:, :n_c] = frac[:, cols]
    weights[:, n_c] = frac[:, LABELS["fat"]] * eta
    curves = np.vstack(
        [sig_tab[cols[:n_lab]], sig_tab[LABELS["fat"]] / sig_tab[LABELS["fat"], 0] * s_fat]
    ).astype(np.float32)
    signal = curves.T @ weights.T  # (n_time, nvox), C order: the frames without a transpose
    return signal, eta0, eta, s_fat


def _add_marrow_signal(
    signal: np.ndarray,
    ph: _Phantom,
    tc: _TissueCurves,
    anatomy: Anatomy,
    eta: np.ndarray,
    s_fat: float,
    trf: float,
    fa: float,
    r1: float,
    gen: np.random.Generator,
) -> _Marrow:
    """Add (in place) the two-compartment signal of the marrow voxels to `signal`.

    Water + fat compartments with the fat-fraction texture; the perfusion of the water
    compartment varies between patients (red marrow) and rises in reactive oedema.
    """
    frac = ph.frac
    ff = np.zeros(ph.pts.shape[0])
    need_ff = (frac[:, LABELS["marrow"]] > 0) | (ph.labels == LABELS["marrow"])
    ff[need_ff] = anatomy.marrow_fat_fraction(ph.pts[need_ff])
    marrow_scale = float(gen.uniform(0.7, 2.0))
    oedema_amp, oedema_mm = float(gen.uniform(1.0, 4.0)), float(gen.uniform(2.0, 6.0))
    w_ax = _oedema_weight(ph.inside.reshape(ph.shape), ph.grid.spacing, oedema_mm).ravel()
    mv = np.flatnonzero(frac[:, LABELS["marrow"]] > 0)
    water = 1.0 - ff[mv]
    g_marrow = marrow_scale * (water / (1.0 - anatomy.fat_fraction)) * (1.0 + oedema_amp * w_ax[mv])
    c_w = (g_marrow / water)[:, None] * tc.conc_tab[LABELS["marrow"]][None, :]  # in the water space
    t1w = MARROW_WATER_T1_S * (1.0 + 0.5 * w_ax[mv])
    s_mar = TISSUES["marrow"].pd * (
        water[:, None] * _spgr(1.0 / t1w[:, None] + r1 * c_w, trf, fa)
        + (ff[mv] * eta[mv] * s_fat / TISSUES["fat"].pd)[:, None]
    )
    signal[:, mv] += (frac[mv, LABELS["marrow"]][:, None] * s_mar).T.astype(np.float32)
    return _Marrow(
        ff=ff, scale=marrow_scale, oedema_amp=oedema_amp, oedema_mm=oedema_mm, w_ax=w_ax, mv=mv, gain=g_marrow
    )


def _add_lesion_signal(
    signal: np.ndarray,
    ph: _Phantom,
    tm: _Timing,
    p: Mapping[str, float],
    model: PrimaryModel,
    trf: float,
    fa: float,
    r1: float,
) -> dict[str, np.ndarray]:
    """Add (in place) the lesions' signal: voxel-wise extended Tofts with habitats.

    Viability (necrosis), the kep texture and mineralisation (sclerosis) modulate the
    parameters of each lesion voxel.  Returns the index lesion's voxel maps: ``idx`` (voxel
    indices), ``kt``, ``kep``, ``vp``, ``t10``, ``viab``, ``mineral``.
    """
    n_lab = len(LABELS)
    maps: dict[str, np.ndarray] = {}
    for i, f in enumerate(ph.fields):
        col = LABELS["lesion"] if i == 0 else n_lab
        v_idx = np.flatnonzero(ph.frac[:, col] > 0)
        if v_idx.size == 0:
            continue
        viab = f["viability"][v_idx].astype(float)
        viab = np.where(viab > 0, viab, 0.45)  # partial voxels without an inside sub-point: rim
        mineral = f["mineral"][v_idx].astype(float)
        perf = 1.0 - 0.6 * mineral  # sclerotic matrix: fewer, narrower vessels
        l_kt = p["ktrans"] * viab * perf
        l_vp = p["vp"] * viab * perf
        l_kep = p["kep"] * np.exp(model.kep_heterogeneity * f["kep_texture"][v_idx] * (1.0 - 0.5 * viab))
        l_t10 = p["t10_s"] + 0.9 * (1.0 - viab)
        c_l = np.asarray(kinetics.tofts(tm.t_fine, tm.cp, l_kt, l_kep, l_vp)) @ tm.w_time.T
        s_l = (
            TISSUES["lesion"].pd
            * (1.0 - 0.7 * mineral)[:, None]
            * _spgr(1.0 / l_t10[:, None] + r1 * c_l, trf, fa)
        )
        signal[:, v_idx] += (ph.frac[v_idx, col][:, None] * s_l).T.astype(np.float32)
        if i == 0:
            maps.update(idx=v_idx, kt=l_kt, kep=l_kep, vp=l_vp, t10=l_t10, viab=viab, mineral=mineral)
    return maps


def _acquire(
    box: list[np.ndarray],
    ph: _Phantom,
    tm: _Timing,
    anatomy: Anatomy,
    diff: Difficulty,
    partial_volume: bool,
    snr: float,
    gen: np.random.Generator,
) -> _Acquired:
    """Acquire the frames: coil profile, frame integration with motion, apodisation, noise.

    `box` holds the ``(n_time, nvox)`` signal, which is taken out of it (and scaled in
    place) so that its memory is freed once the frames are made.
    """
    signal = box.pop()
    pts, centre, shape = ph.pts, ph.centre, ph.shape
    ny = shape[1]
    n_sub, disp, moving = tm.n_sub, tm.disp, tm.moving
    y_back = anatomy.y_body + anatomy.back_depth  # posterior spine array under the back
    coil = (0.35 + 0.65 * np.exp(-np.clip(y_back - pts[:, 1], 0, None) / 70.0)) * (
        1.0 + 0.12 * np.cos(2 * np.pi * (pts[:, 0] - centre[0]) / 80.0 + gen.uniform(0, 2 * np.pi))
    )
    signal *= (_GAIN * coil).astype(np.float32)[None, :]
    sub = signal.reshape(tm.times.size, n_sub, *shape)
    del signal
    ky_sub = line_subinterval(ny, n_sub) if diff.frame_integration else np.zeros(ny, dtype=int)
    spacing_zyx = tuple(ph.grid.spacing[::-1])
    if diff.frame_integration:
        frames = integrate_frames(sub, ky_sub, spacing_zyx, disp)
    else:
        frames = sub[:, 0].astype(np.complex64)
        if moving:  # pragma: no cover - the clean preset does not move
            frames = integrate_frames(sub, ky_sub, spacing_zyx, disp)
    del sub
    if partial_volume:
        sig_psf = (0.0, *_PSF_SIGMA_VOX)
        frames = ndimage.gaussian_filter(frames.real, sig_psf, mode="nearest", truncate=2.5) + 1j * (
            ndimage.gaussian_filter(frames.imag, sig_psf, mode="nearest", truncate=2.5)
        )
    # effective displacement: L, S applied whole (k-space centre); P the least-squares shift
    # of the frame's ky lines, each displaced by its sub-interval's motion (effective_shift)
    disp_eff = disp[:, n_sub // 2, :].copy()
    if moving and n_sub > 1:
        disp_eff[:, 1] = effective_shift(frames, ky_sub, disp[:, :, 1], float(ph.grid.spacing[1]))
    clean_mag = np.abs(frames).astype(np.float32)
    marrow_pure = (ph.frac[:, LABELS["marrow"]] == 1).reshape(shape)
    s_marrow = float(np.median(clean_mag[0][marrow_pure])) if marrow_pure.any() else float(clean_mag[0].max())
    sigma = s_marrow / float(snr)
    vol = complex_noise_magnitude(frames, sigma, gen)
    return _Acquired(vol=vol, clean_mag=clean_mag, disp_eff=disp_eff, sigma=sigma)
