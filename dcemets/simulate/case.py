"""Simulated exams: one case (:func:`simulate_case`) and a cohort (:func:`simulate_cohort`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage

from dcemets import kinetics
from dcemets._conventions import check_rng, like, make_dce, make_image
from dcemets.io import Case

from .anatomy import lesion_fields, sample_anatomy, sample_lesion, tissue_labels
from .grids import GRIDS, axial_grid, sagittal_grid
from .primaries import N_QUANTILES, PRIMARIES, _check_primary, check_composition, draw_parameters
from .tissues import LABELS, TISSUES

__all__ = ["ACQUISITION", "rician_noise", "simulate_case", "simulate_cohort"]

ACQUISITION: Mapping[str, float] = {
    "tr_s": 0.0041,
    "te_s": 0.0015,
    "flip_angle_deg": 10.0,
    "r1_per_mM_s": 3.7,
    "field_strength_T": 3.0,
}
"""DCE acquisition of Lang et al. (2019), section 2.2 (3D VIBE at 3 T), and the relaxivity of
Gd-DTPA in plasma at 3 T and 37 degC (3.7 /(mM s), Rohrer M et al. Invest Radiol
2005;40:715-724, doi:10.1097/01.rli.0000184756.66360.d3)."""

N_FRAMES = 12
"""Number of DCE frames (section 2.2)."""
HCT = 0.42
"""Haematocrit used to turn Parker's blood curve into plasma."""
T2W = {"tr_s": 3.5, "te_s": 0.1}
"""Sagittal T2W FSE timing (typical 3 T spine protocol)."""
_GAIN = 1000.0
_AIF_DT = 0.5  # s, fine grid of the AIF and convolutions (kinetics notes, section 5)
_PSF_SIGMA_VOX = (0.42, 0.45, 0.45)  # (z, y, x) Gaussian PSF, in voxels (partial volume)


def rician_noise(
    signal: np.ndarray, sigma: float, rng: int | np.random.Generator | None = None
) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels (Rician).

    Parameters
    ----------
    signal : ndarray
        Noise-free magnitude signal (a.u.), any shape.
    sigma : float
        Standard deviation of the noise in each channel (a.u.), >= 0.
    rng : int, numpy.random.Generator or None, optional
        Seed or generator (SPEC 7, as :func:`numpy.random.default_rng` takes them); a
        generator is advanced, a seed gives reproducible noise.

    Returns
    -------
    ndarray
        ``sqrt((S + n1)^2 + n2^2)``, same shape as `signal`, float32 if `signal` is.

    Raises
    ------
    ValueError
        If `sigma` is negative or not finite, `signal` not finite, or `rng` a negative seed.
    TypeError
        If `signal` is not real numbers, `sigma` not a number, or `rng` not a seed/generator.

    References
    ----------
    .. [1] Gudbjartsson H, Patz S. The Rician distribution of noisy MRI data. Magn Reson Med
       1995;34:910-914. :doi:`10.1002/mrm.1910340618`

    Examples
    --------
    >>> s = rician_noise(np.zeros(100000), 1.0, np.random.default_rng(0))
    >>> round(float(s.mean()), 2)  # Rayleigh mean sigma * sqrt(pi / 2)
    1.25
    """
    try:
        if isinstance(sigma, (str, bytes)):
            raise TypeError
        sigma = float(sigma)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`sigma` must be a number (a.u.), got {type(sigma).__name__}") from exc
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"`sigma` must be a finite number >= 0, got {sigma}")
    rng = check_rng(rng)
    s = np.asarray(signal)
    if not (np.issubdtype(s.dtype, np.number) or s.dtype == bool) or s.dtype.kind == "c":
        raise TypeError(f"`signal` must be a real (magnitude) array, got dtype {s.dtype}")
    if s.dtype.kind == "f" and not np.isfinite(s).all():
        raise ValueError("`signal` must be finite (no NaN or inf)")
    dtype = s.dtype if s.dtype in (np.float32, np.float64) else np.float64
    n1 = rng.standard_normal(s.shape, dtype=dtype)
    n2 = rng.standard_normal(s.shape, dtype=dtype)
    n1 *= sigma  # in place: (s + sigma n1)^2 + (sigma n2)^2 without temporaries
    n1 += s
    n1 *= n1
    n2 *= sigma
    n2 *= n2
    n1 += n2
    return np.sqrt(n1, out=n1)


def _smooth_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap", truncate=3.0)
    return f / max(float(f.std()), 1e-12)


def _radiologist_roi(
    lesion_sag: np.ndarray, spacing: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """An imprecise outline of the diseased segment on 1-3 sagittal slices."""
    area = lesion_sag.sum(axis=(1, 2))
    roi = np.zeros_like(lesion_sag)
    if area.max() == 0:
        return roi, {"roi_slices": []}
    best = int(np.argmax(area))
    n = int(rng.integers(1, 4))
    cand = [best] + [s for s in (best - 1, best + 1) if 0 <= s < area.size and area[s] > 0.3 * area[best]]
    slices = sorted(cand[:n])
    margin = float(rng.uniform(-0.5, 3.0))  # mm: radiologists outline generously
    wobble = float(rng.uniform(0.8, 2.0))  # mm
    pix = float(np.mean(spacing[:2]))
    shift = np.rint(rng.normal(0.0, 1.5, size=2) / spacing[1::-1]).astype(int)  # (rows, cols)
    for s in slices:
        les = lesion_sag[s]
        if not les.any():
            continue
        les = ndimage.binary_closing(les, iterations=2) | les
        sd = (ndimage.distance_transform_edt(~les) - ndimage.distance_transform_edt(les)) * pix
        field = _smooth_noise(les.shape, 3.0, rng) * wobble
        r = (sd + field) < margin
        r = np.roll(r, tuple(shift), axis=(0, 1))
        lab, nlab = ndimage.label(r)
        if nlab > 1:
            sizes = ndimage.sum_labels(r, lab, index=np.arange(1, nlab + 1))
            r = lab == (1 + int(np.argmax(sizes)))
        roi[s] = ndimage.binary_fill_holes(r)
    if not roi.any():  # pragma: no cover - margins are bounded, keep a fallback
        roi[best] = lesion_sag[best]
    return roi, {"roi_slices": slices, "roi_margin_mm": margin, "roi_wobble_mm": wobble}


def _oedema_weight(inside: np.ndarray, spacing_xyz: np.ndarray, length_mm: float) -> np.ndarray:
    """``exp(-d / length)`` of the distance ``d`` (mm) to the lesion, 0 inside it."""
    out = np.zeros(inside.shape)
    if not inside.any():
        return out
    # only a box reaching 8 decay lengths around the lesion matters (exp(-8) < 4e-4)
    sp = np.asarray(spacing_xyz, dtype=float)[::-1]
    idx = np.nonzero(inside)
    pad = np.ceil(8 * length_mm / sp).astype(int)
    lo = [max(int(i.min()) - p, 0) for i, p in zip(idx, pad)]
    hi = [min(int(i.max()) + p + 1, n) for i, p, n in zip(idx, pad, inside.shape)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    d = ndimage.distance_transform_edt(~inside[box], sampling=tuple(sp))
    out[box] = np.where(inside[box], 0.0, np.exp(-d / length_mm))
    return out


def _frame_times(dt: float) -> np.ndarray:
    return np.arange(N_FRAMES, dtype=float) * dt


def _check_options(tr: Any, flip_angle: Any, snr: Any, grid: Any, parameters: Any) -> None:
    for name, val in (("tr", tr), ("flip_angle", flip_angle), ("snr", snr)):
        if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)):
            raise TypeError(f"`{name}` must be a number, got {type(val).__name__}")
        if not np.isfinite(val) or val <= 0:
            raise ValueError(f"`{name}` must be a positive finite number, got {val}")
    if not flip_angle < 180:
        raise ValueError(f"`flip_angle` must be in (0, 180) degrees, got {flip_angle}")
    if not tr < 1:
        raise ValueError(f"`tr` is in seconds and must be < 1 s (SPGR TR is a few ms), got {tr}")
    if not isinstance(grid, str) or grid not in GRIDS:
        raise ValueError(f"`grid` must be one of {sorted(GRIDS)}, got {grid!r}")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise TypeError(f"`parameters` must be a mapping, got {type(parameters).__name__}")


def _case_parameters(
    primary: str, parameters: Mapping[str, Any] | None, rng: np.random.Generator
) -> dict[str, float]:
    u = rng.uniform(1e-6, 1 - 1e-6, size=N_QUANTILES)
    p = draw_parameters(primary, u)
    if parameters:
        unknown = set(parameters) - set(p) - {"quantiles"}
        if unknown:
            raise ValueError(f"`parameters` has unknown keys {sorted(unknown)}; known: {sorted(p)}")
        if "quantiles" in parameters:
            p = draw_parameters(primary, parameters["quantiles"])
        for k, v in parameters.items():
            if k == "quantiles":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"`parameters[{k!r}]` must be a number, got {type(v).__name__}")
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"`parameters[{k!r}]` must be a finite number >= 0, got {v!r}")
            p[k] = float(v)
        given = set(parameters)
        if "ktrans" in given:
            if {"kep", "ve"} <= given:
                if not np.isclose(p["ktrans"], p["kep"] * p["ve"], rtol=1e-6):
                    raise ValueError("`parameters`: ktrans must equal kep * ve when all three are given")
            elif "ve" in given:
                if p["ve"] <= 0:
                    raise ValueError("`parameters['ve']` must be > 0 to derive kep from ktrans")
                p["kep"] = p["ktrans"] / p["ve"]
            else:
                if p["kep"] <= 0:
                    raise ValueError("`parameters['kep']` must be > 0 to derive ve from ktrans")
                p["ve"] = p["ktrans"] / p["kep"]
        else:
            p["ktrans"] = p["kep"] * p["ve"]
        for k in ("temporal_resolution_s", "t10_s", "aif_scale", "dispersion_s", "radius_mm"):
            if p[k] <= 0:
                raise ValueError(f"`parameters[{k!r}]` must be > 0, got {p[k]}")
        lo, hi = 1.0, 60.0
        if not lo <= p["temporal_resolution_s"] <= hi:
            raise ValueError(
                f"temporal_resolution_s must be in [{lo}, {hi}] s, got {p['temporal_resolution_s']}"
            )
    return p


def simulate_case(
    primary: str,
    *,
    rng: int | np.random.Generator | None = None,
    subject_id: str | None = None,
    grid: str = "half",
    snr: float = 20.0,
    tr: float = ACQUISITION["tr_s"],
    flip_angle: float = ACQUISITION["flip_angle_deg"],
    partial_volume: bool = True,
    parameters: Mapping[str, Any] | None = None,
) -> Case:
    """Simulate one DCE-MRI spine exam with a vertebral metastasis, with ground truth.

    The exam of Lang et al. (2019), section 2.2: a sagittal T2W FSE series and an axial 3D
    SPGR (VIBE) DCE series of 12 frames (TR 4.1 ms, TE 1.5 ms, flip angle 10 deg, FOV 250 mm,
    30 slices of 3 mm) whose frame duration is drawn in 10-14 s, contrast injected after the
    first frame.  Both series image one world-space phantom (:mod:`dcemets.simulate.anatomy`).

    Signal model: Parker population AIF (plasma, Hct 0.42) starting ``bolus_lag_s`` after the
    injection (-1 to 7 s after the second frame), scaled by a per-case amplitude and dispersed by an exponential kernel of mean
    transit ``dispersion_s``; tissue concentration by the extended Tofts model (exact
    recursive convolution on a 0.5 s grid, :func:`dcemets.kinetics.tofts`); SPGR signal with
    tissue T10 and the Gd-DTPA relaxivity at 3 T (:func:`dcemets.kinetics.concentration_to_signal`);
    a receive-coil profile, a Gaussian point-spread function (partial volume) and Rician
    noise.  **Sampling**: frame ``k`` is sampled instantaneously at its time coordinate
    ``k * dt``, the acquisition time of its k-space centre (first frame at 0 s); the injection
    is at ``dt / 2``, when the first (pre-contrast) frame has been acquired.

    Parameters
    ----------
    primary : str
        Primary cancer: "lung", "breast", "thyroid", "prostate", "liver" or "kidney".
    rng : int, numpy.random.Generator or None
        Randomness of the case (anatomy, lesion, kinetics, noise, ROI).
    subject_id : str, optional
        Identifier; ``"sim-<primary>"`` by default.
    grid : {"half", "full"}
        ``"full"``: the paper's 256 x 192 matrix; ``"half"`` (default): 128 x 96.
    snr : float, default 20
        Pre-contrast signal of normal vertebral marrow over the noise sd (per voxel).
    tr : float
        Repetition time (s), default 0.0041.
    flip_angle : float
        Flip angle (degrees), default 10.
    partial_volume : bool, default True
        Apply the Gaussian point-spread function (sigma ~ 0.45 voxel in every direction).
    parameters : mapping, optional
        Overrides of the drawn parameters (keys of :func:`draw_parameters`: ``kep``, ``ve``,
        ``vp``, ``ktrans``, ``t10_s``, ``temporal_resolution_s``, ``bolus_lag_s``,
        ``dispersion_s``, ``aif_scale``, ``radius_mm``) or ``quantiles`` (the
        :data:`~dcemets.simulate.primaries.N_QUANTILES` quantiles to draw them from).

    Returns
    -------
    dcemets.io.Case
        ``dce`` (float32 ``("time", "z", "y", "x")`` with acquisition attrs ``tr_s``,
        ``te_s``, ``flip_angle_deg``, ``injection_time_s``, ``r1_per_mM_s``,
        ``field_strength_T``), ``t2w_sagittal``, ``roi_sagittal`` (bool, sagittal grid),
        ``lesion_mask`` (bool, DCE grid) and ``truth``: hot-spot ``ktrans``/``kep``
        (1/min), ``ve``, ``vp``, ``t10_s``, ``bolus_arrival_s`` (AIF onset on the frame-time
        axis), ``injection_time_s``, ``temporal_resolution_s``, ``aif_scale``,
        ``dispersion_s``, maps ``ktrans_map``, ``kep_map``, ``vp_map``, ``t10_map``,
        ``viability_map`` and ``labels`` (tissue labels, :data:`LABELS`) on the DCE grid,
        and ``aif`` (the plasma input, DataArray on the 0.5 s grid).

    Raises
    ------
    ValueError
        Unknown primary or grid; non-positive `tr`, `flip_angle` or `snr`; bad `parameters`.
    TypeError
        Non-numeric options.

    References
    ----------
    .. [1] Lang N et al. Magn Reson Imaging 2019;64:4-12. :doi:`10.1016/j.mri.2019.02.013`
    .. [2] Parker GJM et al. Magn Reson Med 2006;56:993-1000. :doi:`10.1002/mrm.21066`
    .. [3] Tofts PS et al. J Magn Reson Imaging 1999;10:223-232.
       :doi:`10.1002/(SICI)1522-2586(199909)10:3<223::AID-JMRI2>3.0.CO;2-S`

    Examples
    --------
    >>> case = simulate_case("thyroid", rng=0)
    >>> case.dce.sizes["time"], case.label, bool(case.lesion_mask.any())
    (12, 'other', True)
    >>> case.dce.attrs["flip_angle_deg"], case.dce.attrs["tr_s"]
    (10.0, 0.0041)
    """
    model = _check_primary(primary)
    _check_options(tr, flip_angle, snr, grid, parameters)
    gen = check_rng(rng)
    p = _case_parameters(primary, parameters, gen)
    spec = GRIDS[grid]
    anatomy = sample_anatomy(gen)
    lesion = sample_lesion(
        gen,
        anatomy,
        radius=p["radius_mm"],
        breakthrough_probability=model.breakthrough,
        necrosis=model.necrosis,
        texture=model.texture,
    )
    centre = anatomy.level_centre()

    # ---- axial DCE grid and tissue maps --------------------------------------------
    ax_centre = centre + np.array([gen.uniform(-5, 5), 25.0 + gen.uniform(-5, 5), gen.uniform(-6, 6)])
    ax = axial_grid(spec, ax_centre)
    pts = ax.points()
    labels = tissue_labels(pts, anatomy)
    inside, viab, kep_tex = lesion_fields(pts, labels, anatomy, lesion)
    if not inside.any():  # pragma: no cover - lesion radius >= 8 mm always covers voxels
        raise RuntimeError("the simulated lesion covers no DCE voxel")

    dt = p["temporal_resolution_s"]
    times = _frame_times(dt)
    t_inj = 0.5 * dt
    onset = t_inj + p["bolus_lag_s"]
    t_fine = np.arange(0.0, times[-1] + 2 * _AIF_DT, _AIF_DT)
    cp = p["aif_scale"] * np.asarray(kinetics.parker_aif(t_fine, delay=onset, hct=HCT))
    k_disp = 60.0 / p["dispersion_s"]  # exponential dispersion kernel = Tofts with ve = 1
    cp = np.asarray(kinetics.tofts(t_fine, cp, k_disp, k_disp))
    cp_vein = np.asarray(kinetics.tofts(t_fine, cp, 60.0 / 20.0, 60.0 / 20.0))

    names = list(TISSUES)
    props = [TISSUES[n] for n in names]
    kt = np.array([0.0 if n == "lesion" else q.ktrans for n, q in zip(names, props)])
    ke = np.array([0.0 if n == "lesion" else q.kep for n, q in zip(names, props)])
    vp = np.array([0.0 if n == "lesion" else q.vp for n, q in zip(names, props)])
    conc_tab = np.asarray(kinetics.tofts(times, cp, kt, ke, vp, aif_time=t_fine))
    conc_tab[LABELS["vein"]] = TISSUES["vein"].vp * np.interp(times, t_fine, cp_vein)
    t10_tab = np.array([q.t10_s for q in props])
    pd_tab = np.array([q.pd for q in props])
    acq = {"flip_angle": float(flip_angle), "tr": float(tr), "r1": ACQUISITION["r1_per_mM_s"]}
    sig_tab = np.asarray(kinetics.concentration_to_signal(conc_tab, t10=t10_tab, m0=pd_tab, **acq))

    pts.shape[0]
    coil = 0.65 + 0.35 * np.exp(-(centre[1] + 60.0 - pts[:, 1]).clip(0) / 90.0)  # posterior spine coil
    signal = sig_tab[labels]  # (nvox, T)

    # marrow: red/yellow heterogeneity of perfusion, and reactive (peritumoral) oedema and
    # hyperaemia decaying away from the tumour: enhancing but not tumour, which makes the
    # boundary harder to find than a step
    marrow = labels == LABELS["marrow"]
    marrow_scale = float(gen.uniform(0.7, 2.0))  # red-marrow content varies between patients
    g_marrow = marrow_scale * np.exp(0.25 * _smooth_noise(ax.shape_zyx, 2.0, gen).ravel()[marrow])
    oedema_amp, oedema_mm = float(gen.uniform(1.0, 4.0)), float(gen.uniform(2.0, 6.0))
    w_ax = _oedema_weight(inside.reshape(ax.shape_zyx), ax.spacing, oedema_mm).ravel()
    g_marrow *= 1.0 + oedema_amp * w_ax[marrow]
    t10_marrow = TISSUES["marrow"].t10_s * (1.0 + 0.5 * w_ax[marrow])
    conc_marrow = g_marrow[:, None] * conc_tab[LABELS["marrow"]]
    signal[marrow] = np.asarray(
        kinetics.concentration_to_signal(conc_marrow, t10=t10_marrow, m0=TISSUES["marrow"].pd, **acq)
    )

    # lesion: voxel-wise extended Tofts
    les_v = viab[inside]
    les_kt = p["ktrans"] * les_v
    les_vp = p["vp"] * les_v
    les_kep = p["kep"] * np.exp(model.kep_heterogeneity * kep_tex[inside] * (1.0 - 0.5 * les_v))
    les_t10 = p["t10_s"] + 0.9 * (1.0 - les_v)
    conc_les = np.asarray(kinetics.tofts(times, cp, les_kt, les_kep, les_vp, aif_time=t_fine))
    signal[inside] = np.asarray(
        kinetics.concentration_to_signal(conc_les, t10=les_t10, m0=TISSUES["lesion"].pd, **acq)
    )
    signal *= _GAIN * coil[:, None]
    vol = signal.T.reshape((N_FRAMES, *ax.shape_zyx))
    if partial_volume:
        vol = ndimage.gaussian_filter(
            vol.astype(np.float32), sigma=(0.0, *_PSF_SIGMA_VOX), mode="nearest", truncate=2.5
        )
    s_marrow = float(sig_tab[LABELS["marrow"], 0] * _GAIN)
    sigma = s_marrow / float(snr)
    vol = rician_noise(vol.astype(np.float32), sigma, gen)

    # ---- truth maps on the DCE grid ------------------------------------------------
    lab_full = labels.copy()
    lab_full[inside] = LABELS["lesion"]
    kt_map = kt[labels].copy()
    kt_map[marrow] *= g_marrow
    kt_map[inside] = les_kt
    kep_map = ke[labels].copy()
    kep_map[inside] = les_kep
    vp_map = vp[labels].copy()
    vp_map[marrow] *= g_marrow
    vp_map[inside] = les_vp
    t10_map = t10_tab[labels].copy()
    t10_map[marrow] = t10_marrow
    t10_map[inside] = les_t10

    sid = subject_id if subject_id is not None else f"sim-{primary}"
    if not isinstance(sid, str):
        raise TypeError(f"`subject_id` must be a str, got {type(sid).__name__}")
    frame = f"dcemets-sim-{sid}"
    attrs = {
        **ACQUISITION,
        "tr_s": float(tr),
        "flip_angle_deg": float(flip_angle),
        "injection_time_s": t_inj,
        "temporal_resolution_s": dt,
        "frame_of_reference": frame,
        "long_name": "simulated 3D SPGR DCE series",
        "sampling": "instantaneous at the time coordinate (k-space centre of each frame)",
    }
    gk = ax.geometry_kwargs()
    dce = make_dce(
        vol, times, spacing=gk["spacing"], origin=gk["origin"], direction=gk["direction"], attrs=attrs
    )

    def on_dce(values: np.ndarray, name: str, units: str, long_name: str) -> xr.DataArray:
        if values.dtype == np.float64:  # truth maps in float32: half the memory of a cohort
            values = values.astype(np.float32)
        out = like(dce, values.reshape(ax.shape_zyx), name=name, units=units, long_name=long_name)
        out.attrs["frame_of_reference"] = frame
        return out

    lesion_mask = on_dce(inside, "lesion_mask", "1", "ground-truth lesion")

    # ---- sagittal T2W ----------------------------------------------------------------
    sag_centre = centre + np.array([gen.uniform(-3, 3), 25.0, gen.uniform(-15, 15)])
    sg = sagittal_grid(spec, sag_centre)
    spts = sg.points()
    slab = tissue_labels(spts, anatomy)
    sin_, sviab, _ = lesion_fields(spts, slab, anatomy, lesion)
    t1s = t10_tab[slab]
    t2s = np.array([q.t2_s for q in props])[slab]
    pds = pd_tab[slab]
    pds[np.isin(slab, [LABELS["blood"], LABELS["vein"]])] = 0.05  # flow void on spin echo
    w_sag = _oedema_weight(sin_.reshape(sg.shape_zyx), sg.spacing, oedema_mm).ravel()
    smarrow = slab == LABELS["marrow"]
    t1s[smarrow] *= 1.0 + 0.5 * w_sag[smarrow]
    t2s[smarrow] *= 1.0 + 1.0 * w_sag[smarrow]
    t1s[sin_] = p["t10_s"] + 0.9 * (1 - sviab[sin_])
    t2s[sin_] = 0.09 + 0.3 * (1 - sviab[sin_]) ** 2
    pds[sin_] = TISSUES["lesion"].pd
    t2w = pds * (1 - np.exp(-T2W["tr_s"] / t1s)) * np.exp(-T2W["te_s"] / t2s) * _GAIN
    t2w = t2w.reshape(sg.shape_zyx)
    if partial_volume:
        t2w = ndimage.gaussian_filter(t2w, sigma=(0.42, 0.45, 0.45), mode="nearest", truncate=2.5)
    t2_marrow = TISSUES["marrow"]
    ref = (
        t2_marrow.pd
        * (1 - np.exp(-T2W["tr_s"] / t2_marrow.t10_s))
        * np.exp(-T2W["te_s"] / t2_marrow.t2_s)
        * _GAIN
    )
    t2w = rician_noise(t2w.astype(np.float32), float(ref / 8.0), gen)
    sag_kw = sg.geometry_kwargs()
    t2w_da = make_image(
        t2w,
        spacing=sag_kw["spacing"],
        origin=sag_kw["origin"],
        direction=sag_kw["direction"],
        name="t2w",
        attrs={
            "units": "a.u.",
            "long_name": "simulated sagittal T2W FSE",
            "frame_of_reference": frame,
            **T2W,
        },
    )
    roi, roi_meta = _radiologist_roi(sin_.reshape(sg.shape_zyx), sg.spacing, gen)
    roi_da = make_image(
        roi,
        spacing=sag_kw["spacing"],
        origin=sag_kw["origin"],
        direction=sag_kw["direction"],
        name="roi_sagittal",
        attrs={
            "units": "1",
            "long_name": "radiologist outline of the diseased segment",
            "frame_of_reference": frame,
        },
    )

    truth: dict[str, Any] = {
        "primary": primary,
        "ktrans": p["ktrans"],
        "kep": p["kep"],
        "ve": p["ve"],
        "vp": p["vp"],
        "t10_s": p["t10_s"],
        "bolus_arrival_s": onset,
        "injection_time_s": t_inj,
        "temporal_resolution_s": dt,
        "aif_scale": p["aif_scale"],
        "dispersion_s": p["dispersion_s"],
        "radius_mm": p["radius_mm"],
        "breakthrough_mm": lesion.breakthrough,
        "necrosis": lesion.necrosis,
        "marrow_perfusion_scale": marrow_scale,
        "oedema_amplitude": oedema_amp,
        "oedema_length_mm": oedema_mm,
        "lesion_volume_ml": float(inside.sum() * np.prod(ax.spacing) / 1000.0),
        "noise_sigma": sigma,
        "ktrans_map": on_dce(kt_map, "ktrans", "1/min", "true Ktrans"),
        "kep_map": on_dce(kep_map, "kep", "1/min", "true kep"),
        "vp_map": on_dce(vp_map, "vp", "1", "true vp"),
        "t10_map": on_dce(t10_map, "t10", "s", "true pre-contrast T1"),
        "viability_map": on_dce(np.where(inside, viab, 0.0), "viability", "1", "viable tumour fraction"),
        "labels": on_dce(lab_full.astype(np.int8), "labels", "1", "tissue labels (dcemets.simulate.LABELS)"),
        "aif": xr.DataArray(
            cp,
            dims=("aif_time",),
            coords={"aif_time": xr.Variable("aif_time", t_fine, attrs={"units": "s"})},
            name="aif",
            attrs={"units": "mM", "long_name": "plasma input (Parker, scaled, dispersed)"},
        ),
    }
    meta = {
        "simulated": True,
        "grid": grid,
        "snr": float(snr),
        "partial_volume": bool(partial_volume),
        **roi_meta,
    }
    return Case(
        subject_id=sid,
        dce=dce,
        primary=primary,
        label=PRIMARIES[primary].label,
        t2w_sagittal=t2w_da,
        roi_sagittal=roi_da,
        lesion_mask=lesion_mask,
        truth=truth,
        meta=meta,
    )


def _latin_hypercube(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` stratified points in (0, 1)^d: each column hits each of ``n`` strata once."""
    u = (np.argsort(rng.random((d, n)), axis=1).T + rng.uniform(0.05, 0.95, size=(n, d))) / n
    return u


def _run_case(kwargs: dict[str, Any]) -> Case:
    return simulate_case(**kwargs)


def simulate_cohort(
    *,
    composition: Mapping[str, int] | None = None,
    rng: int | np.random.Generator | None = 0,
    n_jobs: int = 1,
    progress: bool = True,
    stratified: bool = True,
    **case_options: Any,
) -> list[Case]:
    """Simulate a cohort of spine DCE-MRI exams (default: the paper's 61 patients).

    Parameters
    ----------
    composition : mapping of str to int, optional
        Number of cases per primary; default :data:`PAPER_COMPOSITION` (30 lung, 9 breast,
        7 thyroid, 6 prostate, 6 liver, 3 kidney).
    rng : int, numpy.random.Generator or None, default 0
        Seed of the cohort.  Per-case generators are spawned from it
        (:meth:`numpy.random.Generator.spawn`), so the cohort is bit-identical for any
        `n_jobs`.
    n_jobs : int, default 1
        Worker processes (``-1``: all cores).
    progress : bool, default True
        Show a tqdm progress bar.
    stratified : bool, default True
        Draw each primary's kinetic and timing parameters by Latin hypercube sampling of
        their distributions (McKay et al. 1979), so that even the 3 kidney cases span their
        distribution; ``False`` draws every case independently.
    **case_options
        Passed to :func:`simulate_case` (``grid``, ``snr``, ``tr``, ``flip_angle``,
        ``partial_volume``).

    Returns
    -------
    list of dcemets.io.Case
        Subject ids ``"sim001"``, ... in the order of `composition`.

    Raises
    ------
    ValueError
        Unknown primary, negative count, empty composition, bad `n_jobs` or case options.
    TypeError
        Non-mapping composition or non-int counts.

    References
    ----------
    .. [1] McKay MD, Beckman RJ, Conover WJ. A comparison of three methods for selecting
       values of input variables in the analysis of output from a computer code.
       Technometrics 1979;21:239-245. :doi:`10.2307/1268522`

    Examples
    --------
    >>> cases = simulate_cohort(composition={"lung": 1, "kidney": 1}, rng=1, progress=False)
    >>> [(c.subject_id, c.label) for c in cases]
    [('sim001', 'lung'), ('sim002', 'other')]
    """
    comp = check_composition(composition)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"`n_jobs` must be a positive int or -1, got {n_jobs!r}")
    if "parameters" in case_options or "rng" in case_options or "subject_id" in case_options:
        raise ValueError("`parameters`, `rng` and `subject_id` are set per case by simulate_cohort")
    _check_options(
        case_options.get("tr", ACQUISITION["tr_s"]),
        case_options.get("flip_angle", ACQUISITION["flip_angle_deg"]),
        case_options.get("snr", 20.0),
        case_options.get("grid", "half"),
        None,
    )
    gen = check_rng(rng)
    jobs: list[dict[str, Any]] = []
    for primary, n in comp.items():
        if n == 0:
            continue
        u = (
            _latin_hypercube(n, N_QUANTILES, gen)
            if stratified
            else gen.uniform(1e-6, 1 - 1e-6, (n, N_QUANTILES))
        )
        for row in u:
            jobs.append({"primary": primary, "parameters": {"quantiles": row}, **case_options})
    children = gen.spawn(len(jobs))
    for i, (job, child) in enumerate(zip(jobs, children)):
        job["rng"] = child
        job["subject_id"] = f"sim{i + 1:03d}"
    from tqdm.auto import tqdm

    if n_jobs == 1:
        return [_run_case(j) for j in tqdm(jobs, disable=not progress, desc="simulating cases")]
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=int(n_jobs), return_as="generator")
    out = par(delayed(_run_case)(j) for j in jobs)
    return list(tqdm(out, total=len(jobs), disable=not progress, desc="simulating cases"))
