"""Grids and geometry of DCE series and images: the public helpers of the data model.

A DCE series is an :class:`xarray.DataArray` with dims ``("time", "z", "y", "x")``, a
``time`` coordinate in seconds and its full image geometry (origin, spacing, direction,
frame of reference) in ``attrs``, so that it round-trips through SimpleITK exactly; a 3D
image (a mask, a map, a sagittal T2W) is the same without ``time`` (see the data-model page
of the user guide).  This module builds such arrays from NumPy ones (:func:`make_dce`,
:func:`make_image`, :func:`like`), checks them (:func:`validate_dce`,
:func:`validate_image`, :func:`check_same_grid`), and maps between voxel indices and world
(patient, LPS, mm) coordinates (:func:`geometry`, :func:`world_coordinates`,
:func:`index_from_world`).

Every public function of dcemets that takes a DCE series or an image takes such a
DataArray; NumPy arrays are wrapped with these helpers first.

Examples
--------
>>> import numpy as np
>>> from dcemets.geometry import make_dce, world_coordinates
>>> dce = make_dce(np.zeros((3, 2, 4, 4)), [0.0, 10.0, 20.0], spacing=(1.0, 1.0, 3.0))  # (x, y, z) mm
>>> dce.dims, dce["time"].attrs["units"]
(('time', 'z', 'y', 'x'), 's')
>>> world_coordinates(dce, np.array([[1, 0, 2]])).tolist()  # (z, y, x) index -> (L, P, S) mm
[[2.0, 0.0, 3.0]]
"""

from __future__ import annotations

from dcemets._conventions import (
    DCE_DIMS,
    SPATIAL_DIMS,
    UNITS,
    Geometry,
    check_same_grid,
    geometry,
    index_from_world,
    like,
    make_dce,
    make_image,
    validate_dce,
    validate_image,
    world_coordinates,
)

__all__ = [
    "DCE_DIMS",
    "SPATIAL_DIMS",
    "UNITS",
    "Geometry",
    "check_same_grid",
    "geometry",
    "index_from_world",
    "like",
    "make_dce",
    "make_image",
    "validate_dce",
    "validate_image",
    "world_coordinates",
]
