from .chaid import CHAIDClassifier
from .hotspot import hotspot_chaid, hotspot_logistic
from .selection import ForestRanker, radiomics_search

__all__ = [
    "CHAIDClassifier",
    "ForestRanker",
    "hotspot_chaid",
    "hotspot_logistic",
    "radiomics_search",
]
