from .aif import biexponential_aif, parker_aif
from .concentration import concentration_to_signal, signal_to_concentration
from .models import patlak, tofts

__all__ = [
    "biexponential_aif",
    "concentration_to_signal",
    "parker_aif",
    "patlak",
    "signal_to_concentration",
    "tofts",
]
