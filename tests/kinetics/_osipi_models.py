"""Loaders of the OSIPI Patlak / 2CXM / 2CUM / delayed-Tofts reference cases (tests/data/osipi)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data" / "osipi"

#: OSIPI tolerances (a_tol, r_tol), test/DCEmodels/DCEmodels_data.py of the CodeCollection
TOL = {
    "ktrans": (0.005, 0.1),
    "ps": (0.005, 0.1),
    "ve": (0.05, 0.0),
    "vp": (0.025, 0.0),
    "fp": (5.0, 0.1),  # ml/100ml/min
    "delay": (1.0, 0.0),  # s
}


def rows(name: str) -> list[dict[str, str]]:
    csv.field_size_limit(10**9)
    with open(DATA / name, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def arr(cell: str) -> np.ndarray:
    return np.array(cell.split(), dtype=float)


def within(name: str, got: float, ref: float) -> bool:
    a, r = TOL[name]
    return bool(abs(got - ref) <= a + r * abs(ref))


def delayed_dro(name: str, shift: int) -> list[dict]:
    """OSIPI's delayed Tofts / extended Tofts cases, built as its loader builds them.

    ``DCEmodels_data.dce_DRO_data_tofts(delay=True)`` (shift 10 samples of 0.5 s) and
    ``dce_DRO_data_extended_tofts_kety(delay=True)`` (5 samples of 1 s): ``C[:-shift]`` with
    ``shift`` zeros in front, and reference delay ``arterialdelay + t[shift]``.
    """
    out = []
    for r in rows(name):
        t, c = arr(r["t"]), arr(r["C"])
        out.append(
            {
                "label": r["label"] + "_delayed",
                "t": t,
                "c": np.concatenate([np.zeros(shift), c[:-shift]]),
                "ca": arr(r["ca"]),
                "ktrans": float(r["Ktrans"]),
                "ve": float(r["ve"]),
                "vp": float(r.get("vp", "nan")),
                "delay": float(r["arterialdelay"]) + t[shift],
            }
        )
    return out
