# Names whose home is below dcemets.io, exported here too (the same objects): the Case record
# (dcemets._records, shared with dcemets.simulate) and the geometry helpers of the data model.
# Declared as aliases, not with `from`: lazy_loader reads only the `from .<submodule> import`
# lines; dcemets/io/__init__.py resolves them at run time.
import dcemets._records
import dcemets.geometry

from .cohort import load_cohort, save_cohort
from .convert import from_sitk, to_sitk
from .dce import read_dce, write_dce
from .images import read_image, write_image
from .roi import read_roi, write_parametric_map, write_seg

Case = dcemets._records.Case
validate_subject_id = dcemets._records.validate_subject_id
index_from_world = dcemets.geometry.index_from_world
world_coordinates = dcemets.geometry.world_coordinates

__all__ = [
    "Case",
    "from_sitk",
    "index_from_world",
    "load_cohort",
    "read_dce",
    "read_image",
    "read_roi",
    "save_cohort",
    "to_sitk",
    "validate_subject_id",
    "world_coordinates",
    "write_dce",
    "write_image",
    "write_parametric_map",
    "write_seg",
]
