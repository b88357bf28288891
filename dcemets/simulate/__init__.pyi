from .acquisition import complex_noise_magnitude, frame_windows, integrate_frames, window_average_matrix
from .anatomy import (
    LESION_TYPES,
    LEVEL_NAMES,
    Anatomy,
    Lesion,
    lesion_fields,
    lesion_properties,
    sample_anatomy,
    sample_lesion,
    tissue_labels,
)
from .case import ACQUISITION, rician_noise, simulate_case, simulate_cohort
from .difficulty import DIFFICULTIES, Difficulty
from .fields import RandomField, random_field
from .grids import GRIDS
from .primaries import PAPER_COMPOSITION, PRIMARIES, TABLE1, PrimaryModel, draw_parameters
from .tissues import LABELS, TISSUES, TissueProperties

__all__ = [
    "ACQUISITION",
    "DIFFICULTIES",
    "GRIDS",
    "LABELS",
    "LESION_TYPES",
    "LEVEL_NAMES",
    "PAPER_COMPOSITION",
    "PRIMARIES",
    "TABLE1",
    "TISSUES",
    "Anatomy",
    "Difficulty",
    "Lesion",
    "PrimaryModel",
    "RandomField",
    "TissueProperties",
    "complex_noise_magnitude",
    "draw_parameters",
    "frame_windows",
    "integrate_frames",
    "lesion_fields",
    "lesion_properties",
    "random_field",
    "rician_noise",
    "sample_anatomy",
    "sample_lesion",
    "simulate_case",
    "simulate_cohort",
    "tissue_labels",
    "window_average_matrix",
]
