"""Files <-> DataArrays: NIfTI, NRRD, MHA, DICOM and netCDF through SimpleITK and xarray.

The only dcemets code that touches paths.  Every reader returns arrays in the data model of
:mod:`dcemets._conventions` (dims ``("time", "z", "y", "x")`` or ``("z", "y", "x")``,
coordinates in mm, geometry in attrs) and every writer accepts them.

Names load lazily from the submodules listed in ``__init__.pyi``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
