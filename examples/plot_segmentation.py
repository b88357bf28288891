"""
Lesion segmentation, step by step (Fig. 3)
==========================================

The semi-automatic 3D segmentation of Lang et al. 2019 (section 2.4): a radiologist outlines
the diseased segment on a sagittal T2W image (a); the outline is carried to the axial DCE grid
through patient coordinates (b, c); its search box is widened five-fold left-right and every
axial slice of the box is partitioned by a normalized cut (d); the partitions that touch the
outline are kept (e) and stacked into a 3D mask (f); the lesion is grown from its most strongly
enhancing voxel inside that mask (g).  Here on one simulated case, whose true lesion is known.

References: Lang N et al., Magn Reson Imaging 2019;64:4-12, doi:10.1016/j.mri.2019.02.013;
Shi J, Malik J, IEEE TPAMI 2000;22:888-905, doi:10.1109/34.868688.
"""

# %%
# Simulate one case and segment it, keeping every intermediate step
# ------------------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from skimage.segmentation import find_boundaries

from dcemets.segmentation import dice, hausdorff95, segment_lesion
from dcemets.simulate import simulate_case

case = simulate_case("lung", rng=3, subject_id="example")
# ``algorithm="paper"``: the paper's chain of Fig. 3; the library's default, ``"curve"``, adds
# an enhancement-curve test and an oedema test after it (see the segmentation guide)
mask, steps = segment_lesion(case.dce, case.roi_sagittal, algorithm="paper", return_steps=True)
print(f"Dice {dice(mask, case.lesion_mask):.3f}, HD95 {hausdorff95(mask, case.lesion_mask):.1f} mm")

# %%
# Draw Fig. 3 (a-g) on the axial slice through the seed
# -----------------------------------------------------
# Yellow: the outline and its transfer; green: the search mask; red: the lesion; blue: truth.
z = steps.attrs["seed_index"][0]
sag = case.t2w_sagittal.transpose("z", "y", "x")
roi = case.roi_sagittal.transpose("z", "y", "x")
k = int(np.argmax(roi.values.sum(axis=(1, 2))))  # the sagittal slice with the outline
rr, cc = np.nonzero(roi.values[k])
sag_win = (slice(max(rr.min() - 40, 0), rr.max() + 40), slice(max(cc.min() - 40, 0), cc.max() + 40))
sag_aspect = case.t2w_sagittal.attrs["spacing_mm"][1] / case.t2w_sagittal.attrs["spacing_mm"][0]

post = case.dce.transpose("time", "z", "y", "x").values[-1, z]
search = steps.search_region.values[z]
rows, cols = np.flatnonzero(search.any(1)), np.flatnonzero(search.any(0))
pad = 10
ys = slice(max(rows[0] - pad, 0), rows[-1] + pad + 1)
xs = slice(max(cols[0] - pad, 0), cols[-1] + pad + 1)
aspect = case.dce.attrs["spacing_mm"][1] / case.dce.attrs["spacing_mm"][0]
COLOURS = {
    name: ListedColormap([c])
    for name, c in [("yellow", "#ffd400"), ("green", "#2ca02c"), ("red", "#d62728"), ("blue", "#1f77ff")]
}


def contour(ax, mask2d, colour):
    edge = find_boundaries(mask2d, mode="inner")
    ax.imshow(np.ma.masked_where(~edge, edge), cmap=COLOURS[colour], aspect=aspect, interpolation="nearest")


def axial(ax, title):
    ax.imshow(post[ys, xs], cmap="gray", aspect=aspect)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


fig, axes = plt.subplots(2, 4, figsize=(11, 6.2))
ax = axes[0, 0]
ax.imshow(sag.values[k][sag_win], cmap="gray", aspect=sag_aspect)
edge = find_boundaries(roi.values[k][sag_win], mode="inner")
ax.imshow(np.ma.masked_where(~edge, edge), cmap=COLOURS["yellow"], aspect=sag_aspect, interpolation="nearest")
ax.set_title("(a) sagittal T2W, outlined segment", fontsize=9)
ax.axis("off")

axial(axes[0, 1], "(b) axial contrast-enhanced")

axial(axes[0, 2], "(c) outline on the axial grid")
contour(axes[0, 2], steps.transferred_roi.values[z][ys, xs], "yellow")

parts = steps.partitions.values[z][ys, xs]
kept = steps.kept_partitions.values[z][ys, xs]
axial(axes[0, 3], "(d) normalized-cut clusters (5x box)")
axes[0, 3].imshow(
    np.ma.masked_where(parts == 0, parts % 20), cmap="tab20", vmin=0, vmax=19, alpha=0.5, aspect=aspect
)
for lab in np.unique(parts[parts > 0]):
    contour(axes[0, 3], parts == lab, "yellow")

axial(axes[1, 0], "(e) clusters touching the outline")
axes[1, 0].imshow(
    np.ma.masked_where(~kept, parts % 20), cmap="tab20", vmin=0, vmax=19, alpha=0.5, aspect=aspect
)
contour(axes[1, 0], steps.transferred_roi.values[z][ys, xs], "yellow")

axial(axes[1, 1], "(f) 3D search mask (this slice)")
contour(axes[1, 1], kept, "green")

axial(axes[1, 2], "(g) lesion grown inside the mask")
contour(axes[1, 2], kept, "green")
contour(axes[1, 2], mask.values[z][ys, xs], "red")

axial(axes[1, 3], "truth (blue) vs result (red)")
contour(axes[1, 3], case.lesion_mask.transpose("z", "y", "x").values[z][ys, xs], "blue")
contour(axes[1, 3], mask.values[z][ys, xs], "red")
fig.tight_layout()
plt.show()

# %%
# The enhancement image the steps work on
# ---------------------------------------
# The peak subtraction image ``max_t S_t - S_0`` (signal units) drives the normalized cut and the
# region growing; the seed is its maximum after a 2 mm Gaussian smoothing, inside the part of
# the search mask that the outline covers.
fig, ax = plt.subplots(figsize=(4, 4))
im = ax.imshow(steps.enhancement.values[z][ys, xs], cmap="magma", aspect=aspect)
sy, sx = steps.attrs["seed_index"][1] - ys.start, steps.attrs["seed_index"][2] - xs.start
ax.plot(sx, sy, "c+", markersize=12)
ax.set_title("peak subtraction, seed (+)")
ax.axis("off")
fig.colorbar(im, ax=ax, shrink=0.8, label=steps.enhancement.attrs["units"])
plt.show()
