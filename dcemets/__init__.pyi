from . import (
    classify,
    evaluation,
    geometry,
    io,
    kinetics,
    models,
    radiomics,
    registration,
    segmentation,
    simulate,
    study,
)
from ._conventions import make_dce, make_image, validate_dce, validate_image, world_coordinates

__all__ = [
    "classify",
    "evaluation",
    "geometry",
    "io",
    "kinetics",
    "make_dce",
    "make_image",
    "models",
    "radiomics",
    "registration",
    "segmentation",
    "simulate",
    "study",
    "validate_dce",
    "validate_image",
    "world_coordinates",
]
