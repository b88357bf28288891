"""Loaders for the OSIPI / QIBA reference data copied into tests/data/."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def _read_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(10**9)
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _arr(cell: str) -> np.ndarray:
    return np.array(cell.split(), dtype=float)


@pytest.fixture(scope="session")
def osipi_s2c() -> list[dict]:
    rows = _read_rows(DATA / "osipi" / "SI2Conc_data.csv")
    return [
        {
            "label": r["label"],
            "fa": float(r["FA"]),
            "tr": float(r["TR"]),
            "t10": float(r["T1base"]),
            "nb": int(r["numbaselinepts"]),
            "r1": float(r["r1"]),
            "s": _arr(r["s"]),
            "conc": _arr(r["conc"]),
        }
        for r in rows
    ]


@pytest.fixture(scope="session")
def osipi_parker() -> dict[str, dict[str, np.ndarray | float]]:
    out: dict[str, dict] = {}
    for fname in ("ParkerAIF_ref.csv", "ParkerAIF_ref_with_delay.csv"):
        for r in _read_rows(DATA / "osipi" / fname):
            key = f"{fname.split('.')[0]}:{r['label']}"
            d = out.setdefault(key, {"t_min": [], "cb": [], "delay": float(r["delay"])})
            d["t_min"].append(float(r["time"]))
            d["cb"].append(float(r["Cb"]))
    for d in out.values():
        d["t_min"] = np.asarray(d["t_min"])
        d["cb"] = np.asarray(d["cb"])
    return out


@pytest.fixture(scope="session")
def osipi_tofts() -> list[dict]:
    rows = _read_rows(DATA / "osipi" / "dce_DRO_data_tofts.csv")
    return [
        {
            "label": r["label"],
            "ktrans": float(r["Ktrans"]),
            "ve": float(r["ve"]),
            "t": _arr(r["t"]),
            "c": _arr(r["C"]),
            "ca": _arr(r["ca"]),
        }
        for r in rows
    ]


@pytest.fixture(scope="session")
def osipi_etofts() -> list[dict]:
    rows = _read_rows(DATA / "osipi" / "dce_DRO_data_extended_tofts.csv")
    return [
        {
            "label": r["label"],
            "ktrans": float(r["Ktrans"]),
            "ve": float(r["ve"]),
            "vp": float(r["vp"]),
            "t": _arr(r["t"]),
            "c": _arr(r["C"]),
            "ca": _arr(r["ca"]),
        }
        for r in rows
    ]


@pytest.fixture(scope="session")
def osipi_patlak() -> list[dict]:
    rows = _read_rows(DATA / "osipi" / "patlak_sd_0.02_delay_0.csv")
    return [
        {
            "label": r["label"],
            "ps": float(r["ps"]),
            "vp": float(r["vp"]),
            "t": _arr(r["t"]),
            "c": _arr(r["C_t"]),
            "ca": _arr(r["cp_aif"]),
        }
        for r in rows
    ]


class _CountingScheduler:
    """dask scheduler that refuses to compute (like xarray's raise_if_dask_computes)."""

    def __call__(self, dsk, keys, **kwargs):
        raise RuntimeError("dask computed while it should have stayed lazy")


@pytest.fixture
def no_compute():
    """Context manager: any dask computation inside raises RuntimeError."""
    dask = pytest.importorskip("dask")

    def _ctx():
        return dask.config.set(scheduler=_CountingScheduler())

    return _ctx
