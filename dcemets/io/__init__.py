"""Files <-> DataArrays: NIfTI, NRRD, MHA, DICOM and netCDF through SimpleITK and xarray.

The only dcemets code that touches paths.  Every reader returns arrays in the data model of
:mod:`dcemets._conventions` (dims ``("time", "z", "y", "x")`` or ``("z", "y", "x")``,
coordinates in mm, geometry in attrs) and every writer accepts them.

Names load lazily from the submodules listed in ``__init__.pyi``; :class:`Case` and
:func:`validate_subject_id` are those of the records module below the layers (the simulator
makes cases too), :func:`~dcemets.geometry.world_coordinates` and
:func:`~dcemets.geometry.index_from_world` those of :mod:`dcemets.geometry`.
"""

import importlib
from typing import Any

import lazy_loader as _lazy

_lazy_getattr, _, __all__ = _lazy.attach_stub(__name__, __file__)
#: Names whose home is below this package -> that module (the stub declares them as aliases).
_ELSEWHERE = {
    "Case": "dcemets._records",
    "validate_subject_id": "dcemets._records",
    "index_from_world": "dcemets.geometry",
    "world_coordinates": "dcemets.geometry",
}
__all__ += ["Case", "index_from_world", "validate_subject_id", "world_coordinates"]


def __getattr__(name: str) -> Any:
    if name in _ELSEWHERE:
        value = getattr(importlib.import_module(_ELSEWHERE[name]), name)
        globals()[name] = value  # resolved once, as lazy_loader does
        return value
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted(__all__)
