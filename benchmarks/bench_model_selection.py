"""How often per-voxel AIC / AICc / BIC selection picks the model that generated the curves.

Run: ``python benchmarks/bench_model_selection.py [seed ...]`` (default seeds 1 2; about a
minute per seed on 2 cores).  For each of Patlak, Tofts, extended Tofts, 2CUM and 2CXM: 100
curves with parameters drawn uniformly (ranges below), 150 frames of 2 s, Parker AIF on a
0.5 s grid, Gaussian noise SD 2 % of each curve's peak; all five models fitted
(:func:`fit_patlak`, :func:`fit_tofts`, ``fit_tofts(extended=True)``, :func:`fit_tcum`,
:func:`fit_tcxm`) and :func:`select_model` applied.  Prints the share of curves whose
generating model is chosen, and where the others went.  The figures of
``docs/user_guide/kinetic_models.md`` come from seeds 1 and 2; the test
``tests/kinetics/test_selection.py`` uses another seed.
"""

from __future__ import annotations

import sys

import numpy as np
import xarray as xr

from dcemets.kinetics import (
    fit_patlak,
    fit_tcum,
    fit_tcxm,
    fit_tofts,
    parker_aif,
    patlak,
    select_model,
    tcum,
    tcxm,
    tofts,
)

TF = np.arange(0.0, 300.0, 0.5)
AIF = xr.DataArray(parker_aif(TF, delay=20.0), dims="t", coords={"t": TF})
T = np.arange(0.0, 300.0, 2.0)
MODELS = ("patlak", "tofts", "extended_tofts", "2cum", "2cxm")


def generate(model: str, n: int, rng: np.random.Generator) -> np.ndarray:
    u = rng.uniform
    if model == "patlak":
        return patlak(T, AIF, u(0.02, 0.1, n), u(0.03, 0.1, n), aif_time=TF)
    if model == "tofts":
        return tofts(T, AIF, u(0.05, 0.3, n), u(0.3, 1.5, n), aif_time=TF)
    if model == "extended_tofts":
        return tofts(T, AIF, u(0.05, 0.3, n), u(0.3, 1.5, n), u(0.03, 0.1, n), aif_time=TF)
    if model == "2cum":
        return tcum(T, AIF, u(0.1, 0.4, n), u(0.02, 0.08, n), u(0.03, 0.1, n), aif_time=TF)
    return tcxm(T, AIF, u(0.1, 0.4, n), u(0.05, 0.3, n), u(0.1, 0.4, n), u(0.03, 0.1, n), aif_time=TF)


def main(seeds: list[int]) -> None:
    for seed in seeds:
        rng = np.random.default_rng(seed)
        print(f"seed {seed}")
        for model in MODELS:
            c = generate(model, 100, rng)
            c = c + rng.normal(0.0, 0.02 * np.abs(c).max(axis=1, keepdims=True), c.shape)
            ct = xr.DataArray(c, dims=("voxel", "time"), coords={"time": T})
            fits = {
                "patlak": fit_patlak(ct, AIF),
                "tofts": fit_tofts(ct, AIF),
                "extended_tofts": fit_tofts(ct, AIF, extended=True),
                "2cum": fit_tcum(ct, AIF),
                "2cxm": fit_tcxm(ct, AIF),
            }
            for crit in ("aic", "aicc", "bic"):
                chosen = select_model(fits, T.size, criterion=crit).best_model.values
                where = {m: int((chosen == m).sum()) for m in MODELS}
                print(f"  {model:>15s} {crit:>4s}: {100 * np.mean(chosen == model):5.1f} %  {where}")


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or [1, 2])
