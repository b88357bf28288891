from .anatomy import Anatomy, Lesion, lesion_fields, sample_anatomy, sample_lesion, tissue_labels
from .case import ACQUISITION, rician_noise, simulate_case, simulate_cohort
from .grids import GRIDS
from .primaries import PAPER_COMPOSITION, PRIMARIES, TABLE1, PrimaryModel, draw_parameters
from .tissues import LABELS, TISSUES, TissueProperties

__all__ = [
    "ACQUISITION",
    "GRIDS",
    "LABELS",
    "PAPER_COMPOSITION",
    "PRIMARIES",
    "TABLE1",
    "TISSUES",
    "Anatomy",
    "Lesion",
    "PrimaryModel",
    "TissueProperties",
    "draw_parameters",
    "lesion_fields",
    "rician_noise",
    "sample_anatomy",
    "sample_lesion",
    "simulate_case",
    "simulate_cohort",
    "tissue_labels",
]
