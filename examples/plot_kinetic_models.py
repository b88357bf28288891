"""
Choosing a kinetic model: Tofts, extended Tofts, Patlak, 2CUM, 2CXM, AIC and bolus delay
=========================================================================================

One simulated spine exam (:func:`dcemets.simulate.simulate_case`: a lung-cancer metastasis,
12 frames of 10-14 s, extended-Tofts tissue, Rician noise) analysed voxel by voxel with every
tissue model of :mod:`dcemets.kinetics`, the per-voxel model choice by Akaike's criterion, and
the bolus-arrival delay between a population AIF timed at the injection and the tissue.  The
guide page :doc:`/user_guide/kinetic_models` discusses the figures.

References: Sourbron SP, Buckley DL, NMR Biomed 2013;26:1004-1027, doi:10.1002/nbm.2940;
Brix G et al., Magn Reson Med 2004;52:420-429, doi:10.1002/mrm.20161; Burnham KP, Anderson DR,
Model Selection and Multimodel Inference, Springer 2002, doi:10.1007/b97636.
"""

# %%
# The exam and its concentration curves
# -------------------------------------
# The slice through the lesion's centre, cropped around it; signal to concentration with the
# true T10 map, and the true plasma AIF of the simulation (on its 0.5 s grid).
import time

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from dcemets.kinetics import (
    fit_delay,
    fit_patlak,
    fit_tcum,
    fit_tcxm,
    fit_tofts,
    parker_aif,
    select_model,
    signal_to_concentration,
)
from dcemets.simulate import simulate_case

case = simulate_case("lung", rng=0)
truth = case.truth
z = int(case.lesion_mask.sum(("y", "x")).argmax("z"))
ys, xs = np.nonzero(case.lesion_mask.isel(z=z).values)
box = {"z": [z], "y": slice(ys.min() - 6, ys.max() + 7), "x": slice(xs.min() - 6, xs.max() + 7)}
dce = case.dce.isel(box).astype(float)
conc = signal_to_concentration(dce, t10=truth["t10_map"].isel(box))
aif = truth["aif"]
lesion = case.lesion_mask.isel(box).values[0]
print(
    f"{conc.sizes['y']} x {conc.sizes['x']} voxels, {conc.sizes['time']} frames of "
    f"{truth['temporal_resolution_s']:.1f} s; lesion {int(lesion.sum())} voxels"
)

# %%
# Every model, every voxel
# ------------------------
# Tofts and extended Tofts by :func:`~dcemets.kinetics.fit_tofts`, Patlak by exact bounded
# linear least squares, the two-compartment uptake (2CUM) and exchange (2CXM) models by
# batched nonlinear least squares.  Each result carries its residual sum of squares.
tic = time.perf_counter()
fits = {
    "Patlak": fit_patlak(conc, aif),
    "Tofts": fit_tofts(conc, aif),
    "extended Tofts": fit_tofts(conc, aif, extended=True),
    "2CUM": fit_tcum(conc, aif),
    "2CXM": fit_tcxm(conc, aif),
}
print(f"five fits of {conc.sizes['y'] * conc.sizes['x']} voxels: {time.perf_counter() - tic:.1f} s")

panels = [
    ("Tofts", "ktrans", "Tofts Ktrans (1/min)", (0, 0.6)),
    ("extended Tofts", "ktrans", "ext. Tofts Ktrans (1/min)", (0, 0.6)),
    ("extended Tofts", "vp", "ext. Tofts vp", (0, 0.1)),
    ("Patlak", "ktrans", "Patlak Ktrans (1/min)", (0, 0.6)),
    ("2CUM", "ps", "2CUM PS (1/min)", (0, 0.6)),
    ("2CXM", "fp", "2CXM Fp (1/min)", (0, 2)),
    ("2CXM", "ps", "2CXM PS (1/min)", (0, 0.6)),
    ("2CXM", "ve", "2CXM ve", (0, 1)),
]
fig, axes = plt.subplots(2, 4, figsize=(12, 6), constrained_layout=True)
for ax, (model, var, title, lim) in zip(axes.ravel(), panels):
    im = ax.imshow(fits[model][var].values[0], vmin=lim[0], vmax=lim[1], cmap="magma")
    ax.contour(lesion, levels=[0.5], colors="c", linewidths=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, shrink=0.8)
fig.suptitle(f"true Ktrans {truth['ktrans']:.2f} /min, kep {truth['kep']:.2f} /min, vp {truth['vp']:.3f}")
plt.show()

# %%
# The model of least AIC, voxel by voxel
# --------------------------------------
# :func:`~dcemets.kinetics.select_model` with 12 frames; the simulated tissue is extended
# Tofts, whose nested models (Tofts, Patlak) win where vp or the washout is too small to
# pay for a parameter, and the 2CXM where a finite plasma flow fits the noise better.
sel = select_model(fits, conc.sizes["time"], criterion="aic")
names = list(sel.model.values)
fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
cmap = plt.get_cmap("tab10", len(names))
im = axes[0].imshow(
    np.where(sel.best.values[0] < 0, np.nan, sel.best.values[0]), cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5
)
axes[0].contour(lesion, levels=[0.5], colors="k", linewidths=0.8)
cb = fig.colorbar(im, ax=axes[0], ticks=range(len(names)))
cb.ax.set_yticklabels(names)
axes[0].set_title("model of least AIC")
axes[0].set_axis_off()
w = sel.weight.sel(model="extended Tofts").values[0]
im = axes[1].imshow(w, vmin=0, vmax=1, cmap="viridis")
axes[1].contour(lesion, levels=[0.5], colors="w", linewidths=0.8)
fig.colorbar(im, ax=axes[1])
axes[1].set_title("Akaike weight of the extended Tofts model")
axes[1].set_axis_off()
plt.show()
for m in names:
    share = np.mean(sel.best_model.values[0][lesion] == m)
    print(f"{m:>15s}: chosen in {100 * share:4.1f} % of the lesion voxels")

# %%
# Bolus arrival delay with a population AIF
# -----------------------------------------
# Without a measured AIF an analyst uses a population AIF (Parker, plasma, Hct 0.42) starting
# at the injection; the tissue then enhances later than this AIF by the bolus lag of the exam.
# :func:`~dcemets.kinetics.fit_delay` fits it per voxel (extended Tofts, delays 0-30 s).
t_fine = np.arange(0.0, float(conc.time[-1]) + 0.5, 0.5)
pop = xr.DataArray(
    parker_aif(t_fine, delay=truth["injection_time_s"], hct=0.42), dims="t", coords={"t": t_fine}
)
tic = time.perf_counter()
dfit = fit_delay(conc, pop, model="extended_tofts", delays=np.arange(0.0, 30.25, 0.5))
print(f"delay fit: {time.perf_counter() - tic:.1f} s")
lag = truth["bolus_arrival_s"] - truth["injection_time_s"]
# the same fit on the lesion's mean curve (one ROI curve: a DataArray with only a time dim)
roi = conc.where(xr.DataArray(lesion, dims=("y", "x"))).mean(("z", "y", "x"))
roi_fit = fit_delay(roi, pop, model="extended_tofts", delays=np.arange(0.0, 30.25, 0.5))
print(f"lesion-mean curve: delay {float(roi_fit.delay):.1f} s, Ktrans {float(roi_fit.ktrans):.3f} /min")
print(
    f"true bolus lag {lag:.1f} s (plus {truth['dispersion_s']:.1f} s mean dispersion); "
    f"fitted delay in the lesion: median {np.median(dfit.delay.values[0][lesion]):.1f} s"
)
fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
im = axes[0].imshow(dfit.delay.values[0], vmin=0, vmax=30, cmap="cividis")
axes[0].contour(lesion, levels=[0.5], colors="w", linewidths=0.8)
fig.colorbar(im, ax=axes[0], label="s")
axes[0].set_title("fitted bolus delay (population AIF)")
axes[0].set_axis_off()
axes[1].hist(dfit.delay.values[0][lesion], bins=np.arange(-0.25, 30.5, 0.5), color="0.4")
axes[1].axvline(lag, color="r", label="true bolus lag")
axes[1].axvline(float(roi_fit.delay), color="b", ls="--", label="fit of the lesion-mean curve")
axes[1].set_xlabel("delay (s)")
axes[1].set_ylabel("lesion voxels")
axes[1].legend()
plt.show()

# %%
# Uncertainty maps of the Tofts fits
# ----------------------------------
# :func:`~dcemets.kinetics.fit_tofts` returns with every fit the standard errors
# ``sqrt(diag(sigma^2 (J^T J)^-1))`` of its parameters (``sigma^2 = rss / (T - n_par)``; ve's
# by the delta method), R2 and a bit mask of the parameters held on a bound.  Outside the
# lesion, where there is little uptake, the relative errors exceed 50 % and R2 is low; voxels
# whose fit failed or whose parameters sit on a bound where J^T J is singular have no SE
# (white).
ext = fits["extended Tofts"]
with np.errstate(divide="ignore", invalid="ignore"):
    rel = (ext.ktrans_se / ext.ktrans).values[0]
se_panels = [
    (rel, "ext. Tofts SE(Ktrans) / Ktrans", (0, 0.5), "viridis"),
    (ext.vp_se.values[0], "ext. Tofts SE(vp)", (0, 0.05), "viridis"),
    (ext.ve_se.values[0], "ext. Tofts SE(ve)", (0, 0.2), "viridis"),
    (ext.r2.values[0], "ext. Tofts R2", (0, 1), "magma"),
]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), constrained_layout=True)
for ax, (img, title, lim, cmap_name) in zip(axes, se_panels):
    im = ax.imshow(img, vmin=lim[0], vmax=lim[1], cmap=cmap_name)
    ax.contour(lesion, levels=[0.5], colors="w", linewidths=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, shrink=0.8)
plt.show()
kt_rel = np.nanmedian(rel[lesion])
on_bound = np.mean(ext.at_bound.values[0][lesion] > 0)
print(
    f"lesion: median SE(Ktrans)/Ktrans {100 * kt_rel:.1f} %, median SE(vp) "
    f"{np.nanmedian(ext.vp_se.values[0][lesion]):.4f}, median R2 {np.nanmedian(ext.r2.values[0][lesion]):.3f}, "
    f"{100 * on_bound:.0f} % of voxels with a parameter on a bound"
)
