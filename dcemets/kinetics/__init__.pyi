from .aif import biexponential_aif, parker_aif
from .aifs import POPULATION_AIFS, blood_to_plasma, image_aif, plasma_to_blood, population_aif
from .concentration import concentration_to_signal, signal_to_concentration
from .delay import fit_delay, fit_patlak
from .exchange import fit_tcum, fit_tcxm
from .fitting import fit_tofts
from .forward_models import patlak, tcum, tcxm, tofts
from .heuristics import HOTSPOT_FLAGS, heuristics, hotspot_roi, parametric_maps, roi_curve
from .selection import select_model
from .t1 import fit_t1_hifi, fit_t1_vfa, ir_spgr_signal

__all__ = [
    "HOTSPOT_FLAGS",
    "POPULATION_AIFS",
    "biexponential_aif",
    "blood_to_plasma",
    "concentration_to_signal",
    "fit_delay",
    "fit_patlak",
    "fit_t1_hifi",
    "fit_t1_vfa",
    "fit_tcum",
    "fit_tcxm",
    "fit_tofts",
    "heuristics",
    "hotspot_roi",
    "image_aif",
    "ir_spgr_signal",
    "parametric_maps",
    "parker_aif",
    "patlak",
    "plasma_to_blood",
    "population_aif",
    "roi_curve",
    "select_model",
    "signal_to_concentration",
    "tcum",
    "tcxm",
    "tofts",
]
