"""Per-primary distributions of the lesion's kinetics, calibrated to Lang et al. (2019), Table 1.

Each case draws its hot-spot kinetics (kep, ve, vp; Ktrans = kep * ve), its tumour T1 and
its acquisition timing from the distributions below.  The medians were calibrated (by
simulating the whole pipeline: phantom, Parker AIF with per-case arrival, amplitude and
dispersion, extended Tofts, SPGR, partial volume, Rician noise, then the automatic hot-spot
ROI and the paper's heuristics) so that the group means of maximum SE, steepest wash-in SE
and wash-out slope reproduce Table 1 of the paper (``TABLE1``).

Why the Ktrans and kep of this table differ from the paper's Table 1 columns
------------------------------------------------------------------------------
With the Parker population AIF (plasma peak ~10 mM, plasma ~1.3 mM at 2 min), r1 = 3.7
/(mM s) and a tumour T1 of ~1.5 s, the paper's mean maximum SE of ~240 % needs ~1 mM of
contrast agent in the tumour within 2 min; an extended-Tofts tissue with Ktrans 0.10 /min
and kep 0.39 /min reaches only ~0.3 mM (max SE ~ 90 %).  Likewise a wash-out of -10 to -15 %
within the 120-168 s acquisition needs kep of ~1-2 /min or a sizeable vp.  The paper's
Ktrans/kep came from its own two-compartment fitting (ref. [11] of the paper), not from this
forward model, so the simulator reproduces the *model-free* measurements (the heuristics) and
the group contrast of kep (lung lower than other, as significant as the paper's p = 0.001),
not its per-primary order (medians 1/min: prostate 0.52 < lung 0.68 < kidney 0.72 < liver
1.17 < breast 1.5 < thyroid 1.9; the paper: lung 0.39 < kidney 0.42 < liver 0.52 < prostate
0.56 < breast 0.60 < thyroid 0.68: the sclerotic prostate lesions, hypo-enhancing, need a slow
kep to keep the paper's mild wash-out), while its ground-truth Ktrans is larger (medians
0.13-0.75 /min).  The numbers behind this choice are in the user guide's DRO page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy.stats import norm

__all__ = ["N_QUANTILES", "PAPER_COMPOSITION", "PRIMARIES", "TABLE1", "PrimaryModel", "draw_parameters"]


@dataclass(frozen=True)
class PrimaryModel:
    """Distribution of one primary's lesion parameters.

    Attributes
    ----------
    label : str
        Class label ("lung" or "other").
    kep : tuple of 2 float
        Median (1/min) and log-sd of the hot-spot kep (log-normal).
    ve : tuple of 2 float
        Median and log-sd of the hot-spot ve (log-normal, clipped to [0.05, 0.8]).
    vp : tuple of 2 float
        Median and log-sd of the hot-spot vp (log-normal, clipped to [0.001, 0.3]).
    t10 : tuple of 2 float
        Mean and sd (s) of the viable tumour's T1 at 3 T (normal, clipped to [1.0, 2.2]).
    radius : tuple of 2 float
        Range (mm) of the typical lesion radius.
    necrosis : float
        Maximum depth of the necrotic core (0-1).
    texture : float
        Amplitude of the patchy viability (perfusion) texture.
    kep_heterogeneity : float
        Log-sd of the voxel-wise kep texture around the hot-spot kep (plateau/wash-out mix).
    breakthrough : float
        Probability that the tumour breaks through the cortex.
    lesion_types : tuple of 3 float
        Probabilities of a lytic, sclerotic and mixed lesion (Macedo F et al. Oncol Rev
        2017;11:321, doi:10.4081/oncol.2017.321: prostate mostly blastic, breast lytic,
        mixed or blastic, lung mostly lytic, thyroid/kidney/liver lytic and hypervascular).

    Examples
    --------
    >>> PRIMARIES["lung"].label, PRIMARIES["lung"].kep
    ('lung', (0.68, 0.6))
    """

    label: str
    kep: tuple[float, float]
    ve: tuple[float, float]
    vp: tuple[float, float]
    t10: tuple[float, float]
    radius: tuple[float, float]
    necrosis: float
    texture: float
    kep_heterogeneity: float
    breakthrough: float
    lesion_types: tuple[float, float, float] = (1.0, 0.0, 0.0)


PRIMARIES: MappingProxyType[str, PrimaryModel] = MappingProxyType(
    {
        # lung: mostly plateau, heterogeneous (Lang et al. 2019, Fig. 4)
        "lung": PrimaryModel(
            "lung",
            (0.68, 0.6),
            (0.53, 0.4),
            (0.046, 0.6),
            (1.5, 0.2),
            (9.0, 16.0),
            0.7,
            0.3,
            0.30,
            0.35,
            (0.80, 0.05, 0.15),
        ),
        # breast and thyroid: strongest wash-out; thyroid almost uniformly wash-out
        "breast": PrimaryModel(
            "other",
            (1.5, 0.35),
            (0.50, 0.4),
            (0.09, 0.5),
            (1.5, 0.2),
            (9.0, 16.0),
            0.4,
            0.25,
            0.15,
            0.3,
            (0.55, 0.15, 0.30),
        ),
        "thyroid": PrimaryModel(
            "other",
            (1.90, 0.35),
            (0.25, 0.4),
            (0.011, 0.6),
            (1.5, 0.2),
            (9.0, 16.0),
            0.2,
            0.1,
            0.05,
            0.3,
            (0.95, 0.0, 0.05),
        ),
        "prostate": PrimaryModel(
            "other",
            (0.52, 0.35),
            (0.26, 0.4),
            (0.070, 0.6),
            (1.5, 0.2),
            (9.0, 16.0),
            0.3,
            0.25,
            0.15,
            0.2,
            (0.15, 0.60, 0.25),
        ),
        "liver": PrimaryModel(
            "other",
            (1.17, 0.35),
            (0.30, 0.4),
            (0.016, 0.6),
            (1.5, 0.2),
            (9.0, 16.0),
            0.5,
            0.3,
            0.2,
            0.3,
            (0.95, 0.0, 0.05),
        ),
        # kidney: near plateau
        "kidney": PrimaryModel(
            "other",
            (0.72, 0.35),
            (0.295, 0.4),
            (0.005, 0.6),
            (1.5, 0.2),
            (9.0, 16.0),
            0.6,
            0.3,
            0.2,
            0.4,
            (0.95, 0.0, 0.05),
        ),
    }
)
"""Lesion model of each primary cancer (read-only mapping)."""

PAPER_COMPOSITION: MappingProxyType[str, int] = MappingProxyType(
    {"lung": 30, "breast": 9, "thyroid": 7, "prostate": 6, "liver": 6, "kidney": 3}
)
"""The paper's cohort: 61 patients by primary (Lang et al. 2019, section 2.1)."""

TABLE1: MappingProxyType[str, MappingProxyType[str, tuple[float, float]]] = MappingProxyType(
    {
        name: MappingProxyType(dict(zip(("max_se", "wash_in", "washout", "ktrans", "kep", "n"), rows)))
        for name, rows in {
            "lung": ((243, 89), (146, 60), (0.25, 10), (0.10, 0.04), (0.39, 0.16), (30, 0)),
            "other": ((220, 109), (142, 76), (-9.8, 12.9), (0.10, 0.06), (0.58, 0.24), (31, 0)),
            "breast": ((299, 134), (197, 95), (-12.9, 8.24), (0.14, 0.07), (0.60, 0.16), (9, 0)),
            "thyroid": ((210, 59), (130, 47), (-15.6, 14.4), (0.10, 0.03), (0.68, 0.28), (7, 0)),
            "prostate": ((165, 77), (126, 74), (-7.7, 12.9), (0.08, 0.05), (0.56, 0.29), (6, 0)),
            "liver": ((196, 111), (118, 55), (-5.9, 16.2), (0.08, 0.05), (0.52, 0.27), (6, 0)),
            "kidney": ((164, 80), (87, 37), (1.3, 11.3), (0.07, 0.04), (0.42, 0.26), (3, 0)),
        }.items()
    }
)
"""Table 1 of Lang et al. (2019): (mean, sd) of each hot-spot parameter by group; ``n`` = (count, 0)."""

_QUANTITIES = ("kep", "ve", "vp", "t10", "dt", "lag", "dispersion", "aif_scale", "radius")
N_QUANTILES = len(_QUANTITIES)
"""Number of per-case random quantities drawn through quantiles (for stratified sampling)."""

TEMPORAL_RESOLUTION_S = (10.0, 14.0)
"""Range of the frame duration (s), Lang et al. (2019), section 2.2."""
ARRIVAL_OFFSET_S = (-1.0, 7.0)
"""AIF onset relative to the second frame (s).  With the injection at ``dt / 2`` this is an
injection -> arrival delay of ``dt / 2 - 1`` to ``dt / 2 + 7`` s (4-14 s: arm-vein-to-spine
transit at 2 ml/s).  Drawing the offset rather than the delay stratifies the phase of the
bolus relative to the frames, which drives the steepest wash-in SE."""
DISPERSION_S = (3.0, 8.0)
"""Mean transit time (s) of the exponential dispersion applied to the population AIF."""
AIF_SCALE_LOGSD = 0.2
"""Log-sd of the per-case AIF amplitude (dose/cardiac output variability around Parker's mean)."""


def _u(u: Any) -> np.ndarray:
    arr = None if isinstance(u, (str, bytes, dict)) or u is None else np.asarray(u)
    if arr is None or arr.dtype.kind not in "iuf":
        raise TypeError(f"`u` must be a real array of {N_QUANTILES} quantiles, got {type(u).__name__}")
    q = arr.astype(float)
    if q.shape != (N_QUANTILES,):
        raise ValueError(f"`u` must hold {N_QUANTILES} quantiles, got shape {q.shape}")
    if not np.all((q > 0) & (q < 1)):
        raise ValueError("`u` quantiles must lie strictly between 0 and 1")
    return q


def _check_primary(primary: Any) -> PrimaryModel:
    if not isinstance(primary, str) or primary not in PRIMARIES:
        raise ValueError(f"`primary` must be one of {sorted(PRIMARIES)}, got {primary!r}")
    return PRIMARIES[primary]


def draw_parameters(primary: str, u: Any) -> dict[str, float]:
    """Map quantiles ``u`` in (0, 1) to one case's lesion and acquisition parameters.

    Parameters
    ----------
    primary : str
        Primary cancer, a key of :data:`PRIMARIES`.
    u : array_like, shape (N_QUANTILES,)
        Quantiles of ``kep, ve, vp, t10, dt, lag, dispersion, aif_scale, radius``
        (independent uniforms for a random case; a Latin hypercube row for a stratified
        cohort).

    Returns
    -------
    dict
        ``ktrans`` (1/min), ``kep`` (1/min), ``ve``, ``vp``, ``t10_s``,
        ``temporal_resolution_s``, ``bolus_lag_s``, ``dispersion_s``, ``aif_scale``,
        ``radius_mm``.

    Raises
    ------
    ValueError
        Unknown primary or bad quantiles.
    TypeError
        If `u` is not a real array.

    Examples
    --------
    >>> p = draw_parameters("thyroid", np.full(N_QUANTILES, 0.5))
    >>> round(p["kep"], 2), p["temporal_resolution_s"]
    (1.9, 12.0)
    """
    m = _check_primary(primary)
    q = _u(u)
    z = norm.ppf(q)

    def logn(med_sd: tuple[float, float], zi: float) -> float:
        return float(med_sd[0] * np.exp(med_sd[1] * zi))

    kep = logn(m.kep, z[0])
    ve = float(np.clip(logn(m.ve, z[1]), 0.05, 0.8))
    vp = float(np.clip(logn(m.vp, z[2]), 0.001, 0.3))
    t10 = float(np.clip(m.t10[0] + m.t10[1] * z[3], 1.0, 2.2))
    lo, hi = TEMPORAL_RESOLUTION_S
    dt = float(lo + (hi - lo) * q[4])
    offset = ARRIVAL_OFFSET_S[0] + (ARRIVAL_OFFSET_S[1] - ARRIVAL_OFFSET_S[0]) * q[5]
    return {
        "ktrans": kep * ve,
        "kep": kep,
        "ve": ve,
        "vp": vp,
        "t10_s": t10,
        "temporal_resolution_s": dt,
        "bolus_lag_s": float(dt / 2 + offset),
        "dispersion_s": float(DISPERSION_S[0] + (DISPERSION_S[1] - DISPERSION_S[0]) * q[6]),
        "aif_scale": float(np.exp(AIF_SCALE_LOGSD * z[7])),
        "radius_mm": float(m.radius[0] + (m.radius[1] - m.radius[0]) * q[8]),
    }


def check_composition(composition: Mapping[str, int] | None) -> dict[str, int]:
    """Validate a cohort composition ``{primary: count}`` (``None``: the paper's)."""
    if composition is None:
        return dict(PAPER_COMPOSITION)
    if not isinstance(composition, Mapping):
        raise TypeError(f"`composition` must be a mapping primary -> count, got {type(composition).__name__}")
    out: dict[str, int] = {}
    for k, v in composition.items():
        if not isinstance(k, str) or k not in PRIMARIES:
            raise ValueError(f"`composition` keys must be primary names {sorted(PRIMARIES)}, got {k!r}")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"`composition[{k!r}]` must be an int count, got {v!r}")
        if v < 0:
            raise ValueError(f"`composition[{k!r}]` must be >= 0, got {v}")
        out[k] = int(v)
    if sum(out.values()) == 0:
        raise ValueError("`composition` holds no case (all counts are 0)")
    return out
