from ._checks import RadiomicsWarning
from .discretisation import discretise
from .extract import FEATURE_NAMES, MAP_NAMES, extract_cohort, extract_features
from .histogram import HISTOGRAM_FEATURES, histogram_features
from .texture import GLCM_FEATURES, glcm, glcm_features

__all__ = [
    "FEATURE_NAMES",
    "GLCM_FEATURES",
    "HISTOGRAM_FEATURES",
    "MAP_NAMES",
    "RadiomicsWarning",
    "discretise",
    "extract_cohort",
    "extract_features",
    "glcm",
    "glcm_features",
    "histogram_features",
]
