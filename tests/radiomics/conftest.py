"""Shared fixtures: the IBSI digital phantom and the synthetic float map of tests/data/ibsi."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "ibsi"


def read_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)


@pytest.fixture(scope="session")
def phantom() -> tuple[np.ndarray, np.ndarray]:
    """IBSI-1 digital phantom as (image, mask), array order (z, y, x) = (4, 4, 5)."""
    vox = read_csv("phantom_voxels.csv")
    img = np.zeros((4, 4, 5))
    msk = np.zeros((4, 4, 5), bool)
    img[vox.z, vox.y, vox.x] = vox.intensity
    msk[vox.z, vox.y, vox.x] = vox.in_roi.astype(bool)
    return img, msk


@pytest.fixture(scope="session")
def synthetic_map() -> tuple[np.ndarray, np.ndarray]:
    """The float map and ellipsoid ROI of synthetic_map_pyradiomics_values.csv."""
    z, y, x = np.mgrid[:30, :64, :64].astype(np.float64)
    vol = 100 + 80 * np.sin(0.37 * x) * np.cos(0.23 * y) + 15 * np.cos(0.5 * z + 0.1 * x)
    roi = ((x - 32) / 20) ** 2 + ((y - 32) / 20) ** 2 + ((z - 15) / 10) ** 2 <= 1
    return vol, roi
