"""Hand-made axial DCE phantoms with a sagittal outline, for the segmentation tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import xarray as xr

from dcemets._conventions import make_dce, make_image, world_coordinates

# DICOM-like sagittal orientation: columns run posterior, rows run inferior, slices run left->right
SAG_DIRECTION = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rotation(axis: str, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    if axis == "z":
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    if axis == "x":
        return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


@dataclass
class Phantom:
    dce: xr.DataArray
    roi_sagittal: xr.DataArray
    truth: xr.DataArray


def make_phantom(
    *,
    shape: tuple[int, int, int] = (10, 48, 48),
    spacing: tuple[float, float, float] = (1.5, 1.5, 3.0),
    axial_direction: np.ndarray | None = None,
    lesion_centre: tuple[float, float, float] = (4.0, 8.0, 0.0),
    lesion_radii: tuple[float, float, float] = (9.0, 8.0, 9.0),
    enhancement: float = 1.2,
    noise: float = 4.0,
    rng: int = 0,
    roi_half_height: float = 12.0,
    lesion_s0: float = 180.0,
) -> Phantom:
    """Vertebral body (elliptic cylinder, weak enhancement) holding an enhancing ellipsoid lesion.

    World frame LPS with the origin at the centre of the volume; `lesion_centre` and
    `lesion_radii` are (L, P, S) in mm.  The sagittal outline is one 3.3 mm sagittal slice
    through the lesion centre covering the vertebral body (AP) over +-`roi_half_height` mm.
    """
    gen = np.random.default_rng(rng)
    nz, ny, nx = shape
    d = np.eye(3) if axial_direction is None else np.asarray(axial_direction, float)
    centre_idx = (np.array([nx, ny, nz], float) - 1) / 2
    origin = -d @ (centre_idx * np.asarray(spacing))
    tmpl = make_image(np.zeros(shape), spacing=spacing, origin=origin, direction=d.ravel())
    w = world_coordinates(tmpl)  # (z, y, x, 3) LPS
    L, P, _S = w[..., 0], w[..., 1], w[..., 2]
    body = (L / 20.0) ** 2 + ((P - 6.0) / 16.0) ** 2 <= 1.0
    lc, lr = np.asarray(lesion_centre), np.asarray(lesion_radii)
    lesion = (((w - lc) / lr) ** 2).sum(axis=-1) <= 1.0
    lesion &= body
    s0 = np.where(body, 300.0, 120.0)
    s0 = np.where(lesion, lesion_s0, s0)
    e = np.where(body, 0.12, 0.08)
    e = np.where(lesion, enhancement, e)
    times = np.arange(12) * 12.0
    uptake = np.clip((times - 12.0) / 36.0, 0.0, 1.0)  # enhancement reaches plateau at 48 s
    sig = s0[None] * (1.0 + e[None] * uptake[:, None, None, None])
    sig = sig + gen.normal(0.0, noise, sig.shape)
    dce = make_dce(sig, times, spacing=spacing, origin=origin, direction=d.ravel())
    # sagittal grid: 1 slice, 0.8 mm pixels, 3.3 mm thick, centred on the lesion
    sp_sag = np.array([0.8, 0.8, 3.3])
    n_col, n_row = 80, 80  # 64 mm x 64 mm field of view
    top_left = np.array([lc[0], -32.0, 32.0 + lc[2]])
    sag_tmpl = make_image(
        np.zeros((1, n_row, n_col)), spacing=sp_sag, origin=top_left, direction=SAG_DIRECTION.ravel()
    )
    ws = world_coordinates(sag_tmpl)
    roi = (((ws[..., 1] - 6.0) / 16.0) ** 2 <= 1.0) & (np.abs(ws[..., 2] - lc[2]) <= roi_half_height)
    roi_da = make_image(roi, spacing=sp_sag, origin=top_left, direction=SAG_DIRECTION.ravel())
    truth = make_image(lesion, spacing=spacing, origin=origin, direction=d.ravel())
    return Phantom(dce, roi_da, truth)


@pytest.fixture(scope="session")
def phantom() -> Phantom:
    return make_phantom()


@pytest.fixture(scope="session")
def phantom_factory():
    """The phantom builder (tests cannot import conftest under --import-mode=importlib)."""
    return make_phantom


@pytest.fixture(scope="session")
def rot():
    """Rotation-matrix builder ``rot(axis, degrees)``."""
    return rotation


@pytest.fixture(scope="session")
def sag_direction():
    """DICOM-like sagittal direction matrix (columns P, rows -S, slices -L)."""
    return SAG_DIRECTION.copy()
