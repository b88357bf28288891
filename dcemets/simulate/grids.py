"""Acquisition grids of the simulated exam: axial 3D DCE and sagittal T2W (LPS, mm).

The axial DCE grid follows Lang et al. (2019), section 2.2: FOV 250 x 250 mm, matrix
256 x 192 (L-R x A-P), about 30 slices of 3 mm covering the abnormal vertebrae; the default
``"half"`` grid keeps the FOV and slices and halves the in-plane matrix (128 x 96) for speed.
The sagittal T2W FSE grid is the usual spine set-up: FOV 280 mm, 15 contiguous 3.5 mm slices,
columns running anterior -> posterior and rows head -> foot (DICOM
``ImageOrientationPatient = [0, 1, 0, 0, 0, -1]``), so its direction matrix differs from the
axial one while both images see the same world-space phantom.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

__all__ = ["GRIDS", "GridSpec", "VoxelGrid"]


@dataclass(frozen=True)
class GridSpec:
    """Matrix sizes and spacings of one resolution setting.

    Attributes
    ----------
    axial_size : tuple of 3 int
        DCE matrix ``(nx, ny, nz)`` (L-R, A-P, slices).
    axial_fov : tuple of 2 float
        DCE in-plane FOV (mm), ``(L-R, A-P)``.
    axial_slice : float
        DCE slice thickness = spacing (mm).
    sagittal_size : tuple of 3 int
        T2W matrix ``(n_columns A-P, n_rows S-I, n_slices L-R)``.
    sagittal_fov : float
        T2W in-plane FOV (mm, square).
    sagittal_slice : float
        T2W slice spacing (mm).
    """

    axial_size: tuple[int, int, int]
    axial_fov: tuple[float, float]
    axial_slice: float
    sagittal_size: tuple[int, int, int]
    sagittal_fov: float
    sagittal_slice: float


GRIDS: MappingProxyType[str, GridSpec] = MappingProxyType(
    {
        "full": GridSpec((256, 192, 30), (250.0, 250.0), 3.0, (320, 320, 15), 280.0, 3.5),
        "half": GridSpec((128, 96, 30), (250.0, 250.0), 3.0, (160, 160, 15), 280.0, 3.5),
    }
)
"""Resolution settings: ``"full"`` is the paper's acquisition matrix, ``"half"`` the default."""

_SAGITTAL_DIRECTION = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Columns: image x = +P (A->P), image y = -S (head->foot), slice axis = x cross y = -L."""


@dataclass(frozen=True)
class VoxelGrid:
    """A regular grid in LPS space (SimpleITK conventions).

    Attributes
    ----------
    origin : ndarray, shape (3,)
        World position of voxel (0, 0, 0) (mm).
    spacing : ndarray, shape (3,)
        ``(sx, sy, sz)`` (mm).
    direction : ndarray, shape (3, 3)
        Columns are the image axes in LPS.
    size : tuple of 3 int
        ``(nx, ny, nz)``.
    """

    origin: np.ndarray
    spacing: np.ndarray
    direction: np.ndarray
    size: tuple[int, int, int]

    @classmethod
    def centred(
        cls, centre: np.ndarray, spacing: np.ndarray, direction: np.ndarray, size: tuple[int, int, int]
    ) -> VoxelGrid:
        """Grid of `size` voxels whose centre lies at world point `centre`."""
        half = (np.asarray(size, dtype=float) - 1) / 2 * spacing
        origin = np.asarray(centre, dtype=float) - direction @ half
        return cls(origin, np.asarray(spacing, dtype=float), np.asarray(direction, dtype=float), size)

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Array shape ``(nz, ny, nx)``."""
        return (self.size[2], self.size[1], self.size[0])

    def points(self) -> np.ndarray:
        """World positions (mm) of all voxel centres, shape ``(nz * ny * nx, 3)`` in C order."""
        nz, ny, nx = self.shape_zyx
        d = self.direction * self.spacing  # columns: world step of one voxel along i, j, k
        out = np.empty((nz, ny, nx, 3))
        out[...] = self.origin
        out += np.arange(nx)[None, None, :, None] * d[:, 0]
        out += np.arange(ny)[None, :, None, None] * d[:, 1]
        out += np.arange(nz)[:, None, None, None] * d[:, 2]
        return out.reshape(-1, 3)

    def geometry_kwargs(self) -> dict[str, tuple[float, ...]]:
        """``spacing``/``origin``/``direction`` keywords for ``make_image``/``make_dce``."""
        return {
            "spacing": tuple(float(v) for v in self.spacing),
            "origin": tuple(float(v) for v in self.origin),
            "direction": tuple(float(v) for v in self.direction.ravel()),
        }


def axial_grid(spec: GridSpec, centre: np.ndarray) -> VoxelGrid:
    """Axial DCE grid centred on `centre` (identity direction: x -> L, y -> P, z -> S)."""
    nx, ny, _nz = spec.axial_size
    spacing = np.array([spec.axial_fov[0] / nx, spec.axial_fov[1] / ny, spec.axial_slice])
    return VoxelGrid.centred(centre, spacing, np.eye(3), spec.axial_size)


def sagittal_grid(spec: GridSpec, centre: np.ndarray) -> VoxelGrid:
    """Sagittal T2W grid centred on `centre` (x -> P, y -> I, slices -> R)."""
    nc, nr, _ns = spec.sagittal_size
    spacing = np.array([spec.sagittal_fov / nc, spec.sagittal_fov / nr, spec.sagittal_slice])
    return VoxelGrid.centred(centre, spacing, _SAGITTAL_DIRECTION, spec.sagittal_size)
