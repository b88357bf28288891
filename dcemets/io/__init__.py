"""Files <-> DataArrays: NIfTI, NRRD, MHA, DICOM and netCDF through SimpleITK and xarray.

The only dcemets code that touches paths.  Every reader returns arrays in the data model of
:mod:`dcemets._conventions` (dims ``("time", "z", "y", "x")`` or ``("z", "y", "x")``,
coordinates in mm, geometry in attrs) and every writer accepts them.

Names load lazily from the submodules listed in ``__init__.pyi``;
:func:`~dcemets.geometry.world_coordinates` and :func:`~dcemets.geometry.index_from_world`
are those of :mod:`dcemets.geometry`, the home of the data-model helpers.
"""

from typing import Any

import lazy_loader as _lazy

_lazy_getattr, _, __all__ = _lazy.attach_stub(__name__, __file__)
#: Names of :mod:`dcemets.geometry` also exported here (the stub declares them as aliases).
_FROM_GEOMETRY = ("index_from_world", "world_coordinates")
__all__ += ["index_from_world", "world_coordinates"]


def __getattr__(name: str) -> Any:
    if name in _FROM_GEOMETRY:
        from dcemets import geometry

        value = getattr(geometry, name)
        globals()[name] = value  # resolved once, as lazy_loader does
        return value
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted(__all__)
