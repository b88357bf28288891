"""The acquisition parameters of a case, with their sources, and the hot-spot Tofts fit they feed.

One job: turn a case's DCE attributes and the study's settings into the parameters of the
signal-to-concentration conversion and the AIF (each with where it came from), and fit the
Tofts model to the hot-spot curve with them (paper section 2.3; the Tofts step is this
library's addition, see the kinetics user guide).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import validate_dce
from dcemets.study.config import StudyConfig
from dcemets.study.results import check_config

__all__ = ["acquisition_parameters"]


def acquisition_parameters(dce: xr.DataArray, config: StudyConfig | None = None) -> dict[str, dict[str, Any]]:
    """The acquisition parameters the per-case stage uses, each with where it came from.

    The DCE's own attributes come first (read from DICOM tags or a BIDS-style sidecar by
    :mod:`dcemets.io`); a parameter the data lack is taken from `config`
    (``tr_s``, ``flip_angle_deg``, ``r1_per_mM_s``); the injection time, when the data lack
    it, is the time of the first frame after the baseline.  Nothing is assumed silently:
    each entry says its source, and a missing TR or flip angle is an error.

    Parameters
    ----------
    dce : xarray.DataArray
        The case's DCE series.
    config : StudyConfig, optional
        The study's settings (the ``"cpu"`` preset by default).

    Returns
    -------
    dict
        ``{"tr_s" | "flip_angle_deg" | "r1_per_mM_s" | "injection_time_s" | "t10_s" | "aif":
        {"value": float (str for "aif"), "source": str}}``.

    Raises
    ------
    ValueError
        If the TR or the flip angle is neither in the data nor in `config`, or `dce` is not a
        valid DCE series.
    TypeError
        If `dce` is not a DataArray or `config` not a :class:`StudyConfig`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> dce = make_dce(np.ones((3, 1, 2, 2)), [0.0, 10.0, 20.0], attrs={"tr_s": 0.004})
    >>> acq = acquisition_parameters(dce, StudyConfig(flip_angle_deg=12.0))
    >>> acq["tr_s"], acq["flip_angle_deg"]["source"], acq["r1_per_mM_s"]["source"]
    ({'value': 0.004, 'source': 'data'}, 'config', 'default (StudyConfig.r1_per_mM_s)')
    """
    dce = validate_dce(dce)
    config = check_config(config)
    out: dict[str, dict[str, Any]] = {}
    hints = {
        "tr_s": "DICOM RepetitionTime / sidecar RepetitionTime",
        "flip_angle_deg": "DICOM or sidecar FlipAngle",
    }
    for key in ("tr_s", "flip_angle_deg"):
        if key in dce.attrs and np.isfinite(float(dce.attrs[key])):
            out[key] = {"value": float(dce.attrs[key]), "source": "data"}
        elif getattr(config, key) is not None:
            out[key] = {"value": float(getattr(config, key)), "source": "config"}
        else:
            raise ValueError(
                f"the DCE has no `{key}` attribute ({hints[key]}) and StudyConfig.{key} is not set; "
                f"give it (StudyConfig({key}=...), or dcemets replicate --{key.replace('_', '-')})"
            )
    if "r1_per_mM_s" in dce.attrs:
        out["r1_per_mM_s"] = {"value": float(dce.attrs["r1_per_mM_s"]), "source": "data"}
    else:
        out["r1_per_mM_s"] = {"value": config.r1_per_mM_s, "source": "default (StudyConfig.r1_per_mM_s)"}
    times = dce["time"].values
    if "injection_time_s" in dce.attrs:
        out["injection_time_s"] = {"value": float(dce.attrs["injection_time_s"]), "source": "data"}
    else:
        out["injection_time_s"] = {
            "value": float(times[min(config.n_baseline, times.size - 1)]),
            "source": "rule (first frame after the baseline)",
        }
    out["t10_s"] = {"value": config.t10_s, "source": "StudyConfig.t10_s (assumed; the paper maps no T1)"}
    if config.aif == "image":
        out["aif"] = {
            "value": "image",
            "source": "StudyConfig.aif (image-derived: kinetics.image_aif on the case, blood to plasma)",
        }
        out["hematocrit"] = {"value": float(config.hematocrit), "source": "StudyConfig.hematocrit"}
    else:
        out["aif"] = {
            "value": config.aif,
            "source": "StudyConfig.aif (population AIF, plasma, delayed to the injection time)",
        }
    return out


_TOFTS_BOUNDS = {"ktrans": (0.0, 5.0), "kep": (1e-3, 100.0), "ve": (None, 1.0)}
"""The default bounds of ``kinetics.fit_tofts(method="nlls")`` (ve: Ktrans <= ve_max kep)."""


def _concentration(signal: xr.DataArray, acq: dict[str, dict[str, Any]], config: StudyConfig) -> xr.DataArray:
    """`signal` (a series or a curve) as concentration with the case's acquisition parameters."""
    from dcemets import kinetics

    return kinetics.signal_to_concentration(
        signal,
        t10=acq["t10_s"]["value"],
        flip_angle=acq["flip_angle_deg"]["value"],
        tr=acq["tr_s"]["value"],
        r1=acq["r1_per_mM_s"]["value"],
        n_baseline=config.n_baseline,
    )


def _image_aif(dce: xr.DataArray, acq: dict[str, dict[str, Any]], config: StudyConfig) -> xr.DataArray:
    """The case's image-derived plasma AIF on its frame times (``StudyConfig.aif == "image"``)."""
    from dcemets import kinetics

    with warnings.catch_warnings():
        # voxels whose T10 is not the assumed one (fat, CSF) cannot be inverted: they get 0 and
        # are never selected; the warning would only repeat that for every case
        warnings.filterwarnings("ignore", message="SPGR inversion impossible", category=RuntimeWarning)
        conc = _concentration(dce, acq, config).fillna(0.0)
    blood = kinetics.image_aif(conc, n_baseline=config.n_baseline).aif
    return kinetics.blood_to_plasma(blood, hct=config.hematocrit)


def _hotspot_tofts(
    curve: xr.DataArray,
    acq: dict[str, dict[str, Any]],
    config: StudyConfig,
    dce: xr.DataArray | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tofts fit of the hot-spot curve with the configured AIF.

    A population AIF is sampled on a 0.5 s grid; an image-derived one (``config.aif ==
    "image"``, from `dce`) is used on the frame times.

    Returns the fit (``ktrans``, ``kep``, ``ve``, ``rss``, ``success``) and its quality:
    ``tofts_residual`` (RMS residual / peak concentration), ``tofts_bound`` (parameters at a
    bound of the fit, ';'-separated) and ``concentration_invalid`` (samples that could not be
    converted, entered as 0).
    """
    from dcemets import kinetics

    conc = _concentration(curve, acq, config)
    if config.aif == "image":
        if dce is None:
            raise ValueError("an image-derived AIF (StudyConfig.aif='image') needs the case's DCE")
        aif = _image_aif(dce, acq, config)
    else:
        t_end = float(curve["time"][-1])
        t_fine = np.arange(0.0, t_end + 0.5, 0.5)
        t_inj = acq["injection_time_s"]["value"]
        aif_values = kinetics.population_aif(t_fine, model=config.aif, delay=t_inj)
        aif = xr.DataArray(aif_values, dims=("time",), coords={"time": t_fine})
        aif["time"].attrs["units"] = "s"
    n_invalid = int(np.count_nonzero(~np.isfinite(np.asarray(conc.values, dtype=float))))
    conc = conc.fillna(0.0) if isinstance(conc, xr.DataArray) else conc
    fit = kinetics.fit_tofts(conc, aif, method="nlls")
    out = {str(k): float(fit[k].values) for k in fit.data_vars if fit[k].ndim == 0}
    c = np.asarray(conc.values, dtype=float)
    peak = float(np.max(np.abs(c)))
    rss = out.get("rss", np.nan)
    residual = float(np.sqrt(rss / c.size) / peak) if peak > 0 and np.isfinite(rss) else float("nan")
    at_bound = []
    for name, (lo, hi) in _TOFTS_BOUNDS.items():
        v = out.get(name, np.nan)
        if not np.isfinite(v):
            continue
        low = lo is not None and v <= lo + 1e-3 * max(abs(lo), 1e-3)
        if low or (hi is not None and v >= hi * (1 - 1e-3)):
            at_bound.append(name)
    quality = {
        "tofts_residual": residual,
        "tofts_bound": ";".join(at_bound),
        "concentration_invalid": n_invalid,
    }
    return out, quality
