from .aif import biexponential_aif, parker_aif
from .concentration import concentration_to_signal, signal_to_concentration
from .fitting import fit_tofts
from .heuristics import heuristics, hotspot_roi, parametric_maps, roi_curve
from .models import patlak, tofts

__all__ = [
    "biexponential_aif",
    "concentration_to_signal",
    "fit_tofts",
    "heuristics",
    "hotspot_roi",
    "parametric_maps",
    "parker_aif",
    "patlak",
    "roi_curve",
    "signal_to_concentration",
    "tofts",
]
