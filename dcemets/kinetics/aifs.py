"""Population AIFs as data, dose/haematocrit scaling, blood <-> plasma, image-derived AIF.

:data:`POPULATION_AIFS` is the table of published population arterial input functions
(parameters, units, compartment, reference dose and citation);
:func:`population_aif` evaluates any of them, scaled to a dose and converted to plasma or
blood; :func:`image_aif` selects arterial voxels automatically.

One concept: the arterial input function (population AIFs as data, their dose and
blood/plasma scaling, and the image-derived AIF).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import gammaln

from dcemets._checks import check_finite, check_positive
from dcemets._conventions import SPATIAL_DIMS, like, validate_dce, warn_user
from dcemets.kinetics import _np
from dcemets.kinetics._checks import as_float_array, check_mask

__all__ = ["POPULATION_AIFS", "blood_to_plasma", "image_aif", "plasma_to_blood", "population_aif"]


def _entry(**kw: Any) -> Mapping[str, Any]:
    kw["parameters"] = MappingProxyType(dict(kw["parameters"]))
    return MappingProxyType(kw)


#: Published population AIFs.  Each entry: ``form`` (functional form, t in min after onset),
#: ``compartment`` (``"blood"`` or ``"plasma"``: what the formula gives), ``dose_mmol_per_kg``
#: (dose the parameters describe), ``hct`` (haematocrit of the source, informative),
#: ``parameters`` (name -> value) with ``units``, ``citation`` and ``doi``.
POPULATION_AIFS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "parker": _entry(
            form="sum_n A_n/(sigma_n sqrt(2 pi)) exp(-(t-T_n)^2/(2 sigma_n^2)) "
            "+ alpha exp(-beta t)/(1+exp(-s(t-tau)))",
            compartment="blood",
            dose_mmol_per_kg=0.1,
            hct=None,
            parameters=_np.PARKER,
            units={
                "A1": "mM*min",
                "A2": "mM*min",
                "T1": "min",
                "T2": "min",
                "sigma1": "min",
                "sigma2": "min",
                "alpha": "mM",
                "beta": "1/min",
                "s": "1/min",
                "tau": "min",
            },
            citation="Parker GJM et al. Experimentally-derived functional form for a population-averaged "
            "high-temporal-resolution arterial input function for dynamic contrast-enhanced MRI. "
            "Magn Reson Med 2006;56:993-1000 (Table 1)",
            doi="10.1002/mrm.21066",
        ),
        "georgiou": _entry(
            form="(sum_i A_i exp(-m_i t)) * sum_{j=0}^{floor(t/tau)} gamma(t - j tau; "
            "shape (j+1) alpha + j + 1, scale beta)",
            compartment="blood",
            dose_mmol_per_kg=0.1,
            hct=0.35,
            parameters={
                "A1": 0.37,
                "m1": 0.11,
                "A2": 0.33,
                "m2": 1.17,
                "A3": 10.06,
                "m3": 16.02,
                "alpha": 5.26,
                "beta": 0.032,
                "tau": 0.129,
            },
            units={
                "A1": "mM",
                "A2": "mM",
                "A3": "mM",
                "m1": "1/min",
                "m2": "1/min",
                "m3": "1/min",
                "alpha": "1",
                "beta": "min",
                "tau": "min",
            },
            citation="Georgiou L, Wilson DJ, Sharma N, Perren TJ, Buckley DL. A functional form for a "
            "representative individual arterial input function measured from a population using high "
            "temporal resolution DCE MRI. Magn Reson Med 2019;81:1955-1963 (Eq. 1, Table 3; the "
            "representative patient: Hct 0.35, 0.1 mmol/kg)",
            doi="10.1002/mrm.27524",
        ),
        "weinmann": _entry(
            form="D (a1 exp(-m1 t) + a2 exp(-m2 t)), D = dose in mmol/kg",
            compartment="plasma",
            dose_mmol_per_kg=0.1,
            hct=None,
            parameters={"a1": 3.99, "m1": 0.144, "a2": 4.78, "m2": 0.0111},
            units={"a1": "kg/L", "m1": "1/min", "a2": "kg/L", "m2": "1/min"},
            citation="Weinmann HJ, Laniado M, Mutzel W. Pharmacokinetics of GdDTPA/dimeglumine after "
            "intravenous injection into healthy volunteers. Physiol Chem Phys Med NMR 1984;16:167-172; "
            "as used by Tofts PS, Kermode AG. Magn Reson Med 1991;17:357-367",
            doi="10.1002/mrm.1910170208",
        ),
        "fritz_hansen": _entry(
            form="a1 exp(-m1 t) + a2 exp(-m2 t)",
            compartment="plasma",
            dose_mmol_per_kg=0.1,
            hct=None,
            parameters={"a1": 2.4, "m1": 3.0, "a2": 0.62, "m2": 0.016},
            units={"a1": "mM", "m1": "1/min", "a2": "mM", "m2": "1/min"},
            citation="Fritz-Hansen T, Rostrup E, Larsson HBW, Sondergaard L, Ring P, Henriksen O. "
            "Measurement of the arterial concentration of Gd-DTPA using MRI: a step toward quantitative "
            "perfusion imaging. Magn Reson Med 1996;36:225-231 (values as tabulated by the R package "
            "dcemri, aif 'fritz.hansen', D = 1; compartment and the 0.1 mmol/kg reference dose are that "
            "package's usage, not re-checked against the paper)",
            doi="10.1002/mrm.1910360209",
        ),
    }
)


def _georgiou_blood(t_min: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
    """Georgiou et al. (2019) Eq. 1, blood concentration (mM) at `t_min` >= 0 minutes."""
    t = np.maximum(t_min, 0.0)
    expo = sum(p[f"A{i}"] * np.exp(-p[f"m{i}"] * t) for i in (1, 2, 3))
    n_max = int(np.floor(t.max() / p["tau"])) if t.size else 0
    gsum = np.zeros_like(t)
    for j in range(n_max + 1):
        x = t - j * p["tau"]
        k = (j + 1) * p["alpha"] + j + 1.0  # gamma shape
        with np.errstate(divide="ignore", invalid="ignore"):
            logpdf = (k - 1.0) * np.log(x) - x / p["beta"] - k * np.log(p["beta"]) - gammaln(k)
        gsum += np.where(x > 0, np.exp(logpdf), 0.0)
    return np.where(t_min >= 0, expo * gsum, 0.0)


def _biexp(t_min: np.ndarray, p: Mapping[str, float], scale: float) -> np.ndarray:
    tp = np.maximum(t_min, 0.0)
    return np.where(
        t_min >= 0, scale * (p["a1"] * np.exp(-p["m1"] * tp) + p["a2"] * np.exp(-p["m2"] * tp)), 0.0
    )


def _hct(hct: Any, name: str = "hct") -> float:
    h = check_finite(hct, name, "fraction")
    if not 0.0 <= h < 1.0:
        raise ValueError(f"`{name}` (haematocrit) must be in [0, 1), got {h}")
    return h


def _conc_like(x: Any, name: str) -> Any:
    """`x` as a real float array (a DataArray is returned as is); rejects None, text and objects."""
    if x is None or isinstance(x, (str, bytes, dict)):
        raise TypeError(f"`{name}` must be a numeric array, got {type(x).__name__}")
    dtype = x.dtype if isinstance(x, xr.DataArray) else np.asarray(x).dtype
    if dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold real numbers, got dtype {dtype}")
    return x if isinstance(x, xr.DataArray) else as_float_array(x, name)


def blood_to_plasma(cb: Any, hct: float = 0.42) -> Any:
    """Plasma concentration from whole-blood concentration: ``Cp = Cb / (1 - hct)``.

    The contrast agent (extracellular, e.g. Gd-DTPA) does not enter red cells, so all of it
    is in the plasma fraction ``1 - hct`` of blood.  Use the large-vessel haematocrit.
    Elementwise: NaN/inf samples stay NaN/inf and an empty array gives an empty array.

    Parameters
    ----------
    cb : array_like or xarray.DataArray
        Blood concentration (mM), any shape.
    hct : float, default 0.42
        Haematocrit in [0, 1).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Plasma concentration (mM), same shape (a DataArray keeps its coords, ``units='mM'``).

    Raises
    ------
    ValueError
        If `hct` is outside [0, 1) or not finite.
    TypeError
        Non-numeric input.

    References
    ----------
    .. [1] Tofts PS et al. Estimating kinetic parameters from dynamic contrast-enhanced
       T1-weighted MRI of a diffusable tracer: standardized quantities and symbols.
       J Magn Reson Imaging 1999;10:223-232. :doi:`10.1002/(SICI)1522-2586(199909)10:3<223::AID-JMRI2>3.0.CO;2-S`

    Examples
    --------
    >>> blood_to_plasma([0.0, 5.8], hct=0.42)
    array([ 0., 10.])
    """
    h = _hct(hct)
    c = _conc_like(cb, "cb")
    out = c / (1.0 - h)
    if isinstance(out, xr.DataArray):
        out.attrs = {**c.attrs, "units": "mM", "long_name": "plasma concentration", "hct": h}
    return out


def plasma_to_blood(cp: Any, hct: float = 0.42) -> Any:
    """Whole-blood concentration from plasma concentration: ``Cb = Cp (1 - hct)``.

    The inverse of :func:`blood_to_plasma`.  Elementwise: NaN/inf samples stay NaN/inf and an
    empty array gives an empty array.

    Parameters
    ----------
    cp : array_like or xarray.DataArray
        Plasma concentration (mM), any shape.
    hct : float, default 0.42
        Haematocrit in [0, 1).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Blood concentration (mM), same shape.

    Raises
    ------
    ValueError
        If `hct` is outside [0, 1) or not finite.
    TypeError
        Non-numeric input.

    References
    ----------
    .. [1] Tofts PS et al. J Magn Reson Imaging 1999;10:223-232.
       :doi:`10.1002/(SICI)1522-2586(199909)10:3<223::AID-JMRI2>3.0.CO;2-S`

    Examples
    --------
    >>> plasma_to_blood([10.0], hct=0.42)
    array([5.8])
    """
    h = _hct(hct)
    c = _conc_like(cp, "cp")
    out = c * (1.0 - h)
    if isinstance(out, xr.DataArray):
        out.attrs = {**c.attrs, "units": "mM", "long_name": "blood concentration", "hct": h}
    return out


def population_aif(
    time: Any,
    *,
    model: str = "parker",
    delay: float = 0.0,
    dose: float | None = None,
    hct: float = 0.42,
    output: str = "plasma",
) -> np.ndarray | xr.DataArray:
    """A published population AIF, scaled to a dose and given as plasma or blood concentration.

    Evaluates the model of :data:`POPULATION_AIFS` at ``(time - delay)`` minutes after onset
    (0 before onset), scales it linearly with the dose (``C x dose / dose_ref``: linear
    pharmacokinetics, the same body-weight-normalised dose gives the same curve) and
    converts between blood and plasma with the haematocrit (``Cp = Cb / (1 - hct)``) when
    the model's compartment differs from `output`.

    ================ ========== =========== =====================================================
    model            gives      ref. dose   reference
    ================ ========== =========== =====================================================
    ``parker``       blood      0.1 mmol/kg Parker et al. 2006, doi:10.1002/mrm.21066
    ``georgiou``     blood      0.1 mmol/kg Georgiou et al. 2019, doi:10.1002/mrm.27524
    ``weinmann``     plasma     0.1 mmol/kg Weinmann 1984 / Tofts & Kermode 1991
    ``fritz_hansen`` plasma     0.1 mmol/kg Fritz-Hansen et al. 1996, doi:10.1002/mrm.1910360209
    ================ ========== =========== =====================================================

    Parameters
    ----------
    time : array_like or xarray.DataArray
        Times (s).  A 1D DataArray gives a DataArray on the same coordinate.
    model : {"parker", "georgiou", "weinmann", "fritz_hansen"}, default "parker"
        Key of :data:`POPULATION_AIFS`.
    delay : float, default 0.0
        Onset (bolus arrival) time (s).
    dose : float, optional
        Dose (mmol/kg), positive; default the model's reference dose (0.1).
    hct : float, default 0.42
        Haematocrit in [0, 1) used for the blood <-> plasma conversion.
    output : {"plasma", "blood"}, default "plasma"
        Compartment of the result.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Concentration (mM), same shape as `time`.

    Raises
    ------
    ValueError
        Unknown `model` or `output`, `hct` outside [0, 1), non-positive `dose`, non-finite
        `time` or `delay`.
    TypeError
        Non-numeric arguments.

    References
    ----------
    .. [1] Parker GJM et al. Magn Reson Med 2006;56:993-1000. :doi:`10.1002/mrm.21066`
    .. [2] Georgiou L et al. Magn Reson Med 2019;81:1955-1963. :doi:`10.1002/mrm.27524`
    .. [3] Tofts PS, Kermode AG. Magn Reson Med 1991;17:357-367. :doi:`10.1002/mrm.1910170208`
    .. [4] Fritz-Hansen T et al. Magn Reson Med 1996;36:225-231. :doi:`10.1002/mrm.1910360209`

    Examples
    --------
    >>> t = np.arange(0.0, 120.0, 0.1)
    >>> cb = population_aif(t, model="georgiou", output="blood")
    >>> round(float(t[cb.argmax()]), 1), round(float(cb.max()), 2)  # peak time (s) and height (mM)
    (7.5, 8.7)
    >>> population_aif([0.0], model="weinmann", dose=0.2).round(3)  # twice the standard dose
    array([1.754])
    """
    if not isinstance(model, str) or model not in POPULATION_AIFS:
        raise ValueError(f"`model` must be one of {sorted(POPULATION_AIFS)}, got {model!r}")
    if not isinstance(output, str) or output not in ("plasma", "blood"):
        raise ValueError(f"`output` must be 'plasma' or 'blood', got {output!r}")
    t = np.asarray(_conc_like(time, "time"), dtype=float)
    if not np.all(np.isfinite(t)):
        raise ValueError("`time` must be finite (seconds)")
    d = check_finite(delay, "delay", "s")
    h = _hct(hct)
    entry = POPULATION_AIFS[model]
    ref = float(entry["dose_mmol_per_kg"])
    dose_ = ref if dose is None else check_positive(dose, "dose", "mmol/kg")
    p = entry["parameters"]
    tm = (t - d) / 60.0
    if model == "parker":
        c = np.where(tm >= 0, _np.parker_blood(tm), 0.0)
    elif model == "georgiou":
        c = _georgiou_blood(tm, p)
    elif model == "weinmann":
        c = _biexp(tm, p, ref)
    else:
        c = _biexp(tm, p, 1.0)
    c = c * (dose_ / ref)
    if entry["compartment"] != output:
        c = c / (1.0 - h) if output == "plasma" else c * (1.0 - h)
    if isinstance(time, xr.DataArray) and time.ndim == 1:
        return xr.DataArray(
            c,
            dims=time.dims,
            coords={time.dims[0]: time.values},
            name="aif",
            attrs={
                "units": "mM",
                "long_name": f"{model} population AIF ({output})",
                "dose_mmol_per_kg": dose_,
                "hct": h,
                "reference": f"{entry['citation']}, doi:{entry['doi']}",
            },
        )
    return c


def _pos_int(x: Any, name: str, lo: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {type(x).__name__}")
    if x < lo:
        raise ValueError(f"`{name}` must be >= {lo}, got {x}")
    return int(x)


def _fraction(x: Any, name: str) -> float:
    v = check_finite(x, name, "fraction")
    if not 0.0 < v <= 1.0:
        raise ValueError(f"`{name}` must be in (0, 1], got {v}")
    return v


def image_aif(
    dce: xr.DataArray,
    *,
    mask: xr.DataArray | np.ndarray | None = None,
    n_voxels: int = 10,
    n_baseline: int = 1,
    top_fraction: float = 0.05,
    max_delay: float | None = None,
    roughness_factor: float = 2.0,
    pv_fraction: float = 0.7,
) -> xr.Dataset:
    """Image-derived AIF: automatic selection of arterial voxels and their mean curve.

    Candidate voxels (all, or `mask`) go through four filters, each a criterion of the
    automatic AIF literature (Rijpkema 2001; Mouridsen 2006; Peruzzo 2011):

    1. **high enhancement**: peak enhancement ``max_t C - baseline`` in the top
       `top_fraction` of the candidates (at least ``2 n_voxels`` voxels);
    2. **early peak**: time to peak at most `max_delay` s after the earliest time to peak of
       those (default: one frame interval at that time), which rejects veins and late
       enhancing tissue;
    3. **low noise**: roughness ``sum (second difference)^2 / peak^2`` at most
       `roughness_factor` times the median roughness of the remaining voxels;
    4. **partial volume**: peak at least `pv_fraction` of the 90th percentile of the remaining
       peaks (voxels only partly in the artery have a lower, similarly shaped curve).

    The `n_voxels` remaining voxels with the highest peaks are averaged.

    Parameters
    ----------
    dce : xarray.DataArray
        Concentration (or signal) series ``("time", "z", "y", "x")``; a dask-backed array is
        computed.  Give concentration for a quantitative AIF (it is blood concentration: use
        :func:`blood_to_plasma`).
    mask : xarray.DataArray or numpy.ndarray of bool, optional
        Where to look (e.g. a box around the aorta), ``(z, y, x)`` on the grid of `dce`
        (the same ``mask=`` as :func:`parametric_maps`); default the whole volume.
    n_voxels : int, default 10
        Number of voxels averaged.
    n_baseline : int, default 1
        Pre-contrast frames averaged into the baseline.
    top_fraction : float, default 0.05
        Fraction of candidates kept by peak enhancement, in (0, 1].
    max_delay : float, optional
        Largest time to peak after the earliest one (s).
    roughness_factor : float, default 2.0
        Noise threshold relative to the median roughness (> 0).
    pv_fraction : float, default 0.7
        Partial-volume threshold on the peak, in (0, 1].

    Returns
    -------
    xarray.Dataset
        ``aif`` (``("time",)``, units of `dce`, the mean of the selected voxels) and
        ``selected`` (bool ``("z", "y", "x")`` on the grid of `dce`); attrs record the number
        of voxels and the thresholds used.

    Raises
    ------
    ValueError
        Bad series or mask (dims, grid, NaN), empty mask, a parameter out of range, or no
        voxel left after the filters.
    TypeError
        Wrong argument types.

    Warns
    -----
    RuntimeWarning
        If fewer than `n_voxels` voxels pass the filters.

    References
    ----------
    .. [1] Mouridsen K et al. Automatic selection of arterial input function using cluster
       analysis. Magn Reson Med 2006;55:524-531. :doi:`10.1002/mrm.20759`
    .. [2] Rijpkema M et al. Method for quantitative mapping of dynamic MRI contrast agent
       uptake in human tumors. J Magn Reson Imaging 2001;14:457-463. :doi:`10.1002/jmri.1207`
    .. [3] Peruzzo D et al. Automatic selection of arterial input function on dynamic
       contrast-enhanced MR images. Comput Methods Programs Biomed 2011;104:e148-e157.
       :doi:`10.1016/j.cmpb.2011.02.012`

    Examples
    --------
    >>> from dcemets.geometry import make_dce
    >>> t = np.arange(0.0, 120.0, 4.0)
    >>> art = population_aif(t, delay=10.0, output="blood")
    >>> vol = np.zeros((t.size, 1, 4, 4))
    >>> vol[:, 0, 0, :2] = art[:, None]  # two arterial voxels
    >>> vol[:, 0, 3, 3] = population_aif(t, delay=30.0, output="blood")  # a later (venous) peak
    >>> vol[:, 0, 1:3, 1:3] = 0.3 * (t[:, None, None] > 20)  # tissue
    >>> out = image_aif(make_dce(vol, t), n_voxels=2, top_fraction=0.25)
    >>> np.argwhere(out.selected.values).tolist()
    [[0, 0, 0], [0, 0, 1]]
    """
    dce = validate_dce(dce, name="dce")
    n_vox = _pos_int(n_voxels, "n_voxels")
    nt = dce.sizes["time"]
    nb = _pos_int(n_baseline, "n_baseline")
    if nb >= nt - 1:
        raise ValueError(f"`n_baseline` must be < {nt - 1} for {nt} frames, got {nb}")
    top = _fraction(top_fraction, "top_fraction")
    pv = _fraction(pv_fraction, "pv_fraction")
    rough_f = check_positive(roughness_factor, "roughness_factor", "")
    t = np.asarray(dce["time"].values, dtype=float)
    if max_delay is not None:
        max_delay = check_finite(max_delay, "max_delay", "s")
        if max_delay < 0:
            raise ValueError(f"`max_delay` must be >= 0 s, got {max_delay}")
    if mask is None:
        sel = np.ones(tuple(dce.sizes[d] for d in SPATIAL_DIMS), dtype=bool)
    else:
        sel = np.asarray(check_mask(mask, dce, "dce", what="voxel to search for the AIF").values, dtype=bool)
    vals = np.asarray(dce.values, dtype=float)  # (T, z, y, x)
    idx = np.flatnonzero(sel.ravel())
    curves = vals.reshape(nt, -1)[:, idx].T  # (n, T)
    base = curves[:, :nb].mean(axis=1)
    enh = curves - base[:, None]
    peak = enh.max(axis=1)
    ttp = t[np.argmax(enh, axis=1)]
    keep = peak > 0
    if not keep.any():
        raise ValueError("no enhancing voxel (peak above baseline) among the candidates")
    # 1. high enhancement
    n_top = max(int(np.ceil(top * keep.sum())), 2 * n_vox)
    order = np.argsort(-np.where(keep, peak, -np.inf))[:n_top]
    cand = np.zeros_like(keep)
    cand[order] = True
    cand &= keep
    # 2. early peak
    t_first = ttp[cand].min()
    if max_delay is None:
        i = int(np.searchsorted(t, t_first))
        dt = t[i + 1] - t[i] if i + 1 < t.size else t[i] - t[i - 1]
        max_delay_ = float(dt)
    else:
        max_delay_ = float(max_delay)
    cand &= ttp <= t_first + max_delay_ + 1e-9
    # 3. low noise
    rough = np.sum(np.diff(enh, n=2, axis=1) ** 2, axis=1) / np.where(keep, peak, 1.0) ** 2
    r_med = np.median(rough[cand])
    cand &= rough <= rough_f * r_med + 1e-300
    # 4. partial volume
    p90 = np.percentile(peak[cand], 90)
    cand &= peak >= pv * p90
    chosen = np.flatnonzero(cand)
    if chosen.size == 0:
        raise ValueError("no voxel passed the arterial filters; relax `pv_fraction` or `roughness_factor`")
    chosen = chosen[np.argsort(-peak[chosen])][:n_vox]
    if chosen.size < n_vox:
        warn_user(
            f"only {chosen.size} voxel(s) passed the arterial filters (n_voxels={n_vox}); the AIF averages them",
            RuntimeWarning,
        )
    selected = np.zeros(sel.size, dtype=bool)
    selected[idx[chosen]] = True
    selected = selected.reshape(sel.shape)
    aif = curves[chosen].mean(axis=0)
    units = dce.attrs.get("units", "a.u.")
    out = xr.Dataset(
        {
            "aif": xr.DataArray(
                aif,
                dims=("time",),
                coords={"time": dce["time"].values},
                attrs={"units": units, "long_name": "image-derived AIF (mean of selected voxels)"},
            ),
            "selected": like(
                dce, selected, name="selected", units="1", long_name="arterial voxels of the AIF"
            ),
        }
    )
    out["time"].attrs = {"units": "s"}
    out.attrs.update(
        {
            "n_voxels": int(chosen.size),
            "n_baseline": nb,
            "top_fraction": top,
            "max_delay_s": max_delay_,
            "roughness_factor": rough_f,
            "pv_fraction": pv,
            "method": "image_aif (enhancement, early peak, roughness, partial volume)",
        }
    )
    return out
