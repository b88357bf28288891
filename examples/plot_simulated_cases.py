"""
Simulated lung and thyroid metastases (the paper's Figs. 1-2)
=============================================================

:func:`dcemets.simulate.simulate_case` images one world-space spine phantom twice, as the
exam of Lang et al. (2019) does: a sagittal T2-weighted series, on which a radiologist-like
(imprecise) outline marks the diseased segment, and an axial 3D SPGR DCE series of 12 frames
(Parker AIF, extended Tofts, SPGR signal, partial volume, Rician noise).

Here a median lung case (plateau kinetics) and a median thyroid case (wash-out) are shown as
in the paper's Figs. 1-2: sagittal T2W with the ROI, the axial frames 1, 5 and 12, the
subtraction images F5 - F1 and F12 - F1, and the hot-spot time course measured with
:func:`dcemets.kinetics.hotspot_roi`.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from dcemets import kinetics
from dcemets.simulate import simulate_case
from dcemets.simulate.primaries import N_QUANTILES

median = {"quantiles": np.full(N_QUANTILES, 0.5)}  # each primary's median kinetics
cases = {
    "lung": simulate_case("lung", rng=2, parameters=median),
    "thyroid": simulate_case("thyroid", rng=3, parameters=median),
}

# %%
# Hot-spot ROI and its heuristics
# -------------------------------
# The hot spot is a 3 x 3 in-plane square on the most avidly enhancing part of the lesion.
curves, rois = {}, {}
for name, case in cases.items():
    rois[name] = kinetics.hotspot_roi(case.dce, within=case.lesion_mask)
    curves[name] = kinetics.roi_curve(case.dce, rois[name])
    h = kinetics.heuristics(curves[name])
    print(
        f"{name:8s} max SE {float(h.max_se):6.1f} %  wash-in {float(h.wash_in):6.1f} %  "
        f"wash-out {float(h.washout):6.1f} %   (truth Ktrans {case.truth['ktrans']:.2f}, "
        f"kep {case.truth['kep']:.2f} /min)"
    )

# %%
# Figure: sagittal T2W + ROI, frames 1/5/12, subtractions, time course
# ---------------------------------------------------------------------
fig, axes = plt.subplots(2, 7, figsize=(17, 5.4), constrained_layout=True)
for row, (name, case) in zip(axes, cases.items()):
    roi = case.roi_sagittal.values
    k = int(np.argmax(roi.sum(axis=(1, 2))))
    rr, cc = np.nonzero(roi[k])
    ssl = (
        slice(max(int(rr.mean()) - 45, 0), int(rr.mean()) + 45),
        slice(max(int(cc.mean()) - 45, 0), int(cc.mean()) + 45),
    )
    row[0].imshow(case.t2w_sagittal.values[k][ssl], cmap="gray")
    row[0].contour(roi[k][ssl], [0.5], colors="yellow", linewidths=0.8)
    row[0].set_title(f"{name}: sagittal T2W + ROI")
    z, yc, xc = rois[name].attrs["center_index"]
    sl = (slice(max(yc - 28, 0), yc + 28), slice(max(xc - 32, 0), xc + 32))
    dce = case.dce.values
    aspect = float(case.dce.y[1] - case.dce.y[0]) / float(case.dce.x[1] - case.dce.x[0])  # mm per pixel
    frames = {"F1": dce[0, z], "F5": dce[4, z], "F12": dce[11, z]}
    vmax = np.percentile(dce[:, z][(slice(None), *sl)], 99.5)
    for ax, (title, img) in zip(row[1:4], frames.items()):
        ax.imshow(img[sl], cmap="gray", vmin=0, vmax=vmax, aspect=aspect)
        ax.set_title(title)
    sub5, sub12 = dce[4, z] - dce[0, z], dce[11, z] - dce[0, z]
    smax = np.percentile(sub5[sl], 99.5)
    for ax, (title, img) in zip(row[4:6], {"F5 - F1": sub5, "F12 - F1": sub12}.items()):
        ax.imshow(img[sl], cmap="gray", vmin=0, vmax=smax, aspect=aspect)
        ax.contour(case.lesion_mask.values[z][sl], [0.5], colors="red", linewidths=0.6)
        ax.set_title(title)
    c = curves[name]
    row[6].plot(np.arange(1, 13), c.values / c.values[0] * 100 - 100, "o-")
    row[6].set_xlabel("frame")
    row[6].set_ylabel("SE (%)")
    row[6].set_title("hot-spot time course")
    for ax in row[:6]:
        ax.set_axis_off()
plt.show()
