"""docs/user_guide/kinetic_models.md: its code block runs and its model table matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "kinetic_models.md"


def test_guide_block_runs_and_picks_2cxm():
    text = GUIDE.read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    ns: dict = {}
    exec(compile(block, str(GUIDE), "exec"), ns)  # noqa: S102 -- our own docs, run as documented
    assert np.mean(ns["sel"].best_model.values == "2CXM") >= 0.8
    assert "delay" in ns["late"]


def test_guide_model_table_matches_the_fits():
    """The `n_params` column of the table is what each fit reports."""
    text = GUIDE.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([\w ]+?) \|.*\((\d)\) \|[^|]*\|$", text, flags=re.MULTILINE))
    assert rows == {"Patlak": "2", "Tofts": "2", "extended Tofts": "3", "2CUM": "3", "2CXM": "4"}
    import xarray as xr

    from dcemets.kinetics import fit_patlak, fit_tcum, fit_tcxm, parker_aif, tcxm
    from dcemets.kinetics.selection import _n_params

    t = np.arange(0.0, 120.0, 2.0)
    cp = parker_aif(t, delay=10.0)
    ct = xr.DataArray(tcxm(t, cp, 0.3, 0.1, 0.2, 0.05)[None], dims=("v", "time"), coords={"time": t})
    got = {
        "Patlak": fit_patlak(ct, cp).attrs["n_params"],
        "Tofts": _n_params("Tofts", xr.Dataset(attrs={"model": "Tofts"})),
        "extended Tofts": _n_params("e", xr.Dataset(attrs={"model": "extended Tofts"})),
        "2CUM": fit_tcum(ct, cp).attrs["n_params"],
        "2CXM": fit_tcxm(ct, cp).attrs["n_params"],
    }
    assert {k: str(v) for k, v in got.items()} == rows
