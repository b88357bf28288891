"""
Radiomics of the three DCE maps, and the Table 2 search (Fig. 4, Table 2)
=========================================================================

Lang et al. 2019 (section 2.5) compute, inside the 3D lesion, 20 GLCM texture and 13 histogram
features on each of three DCE parametric maps: the steepest wash-in, the maximum signal
enhancement (SE) and the wash-out slope (99 features per patient).  A random forest ranks them,
and the top 3, 4, ... features feed a logistic regression evaluated by stratified
cross-validation, for histogram features only, texture features only and both (Table 2).

Here: the three maps of a simulated lung and a simulated thyroid metastasis coloured inside the
lesion (the paper's Fig. 4), then the 99 features and the Table 2 search on a small simulated
cohort.  To keep the page fast, the cohort has 16 cases (8 lung, 8 other), the true lesion
masks are used instead of the segmentation, and the forest has 100 trees with 4 folds; run
``simulate_cohort()`` (61 cases) and ``radiomics_search(..., family="all")`` with the defaults
for the paper's setting.

References: Lang N et al., Magn Reson Imaging 2019;64:4-12, doi:10.1016/j.mri.2019.02.013;
Zwanenburg A et al., Radiology 2020;295:328-338, doi:10.1148/radiol.2020191145.
"""

# %%
# A lung and a thyroid case and their parametric maps
# ---------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dcemets.evaluation import radiomics_search
from dcemets.kinetics import parametric_maps
from dcemets.radiomics import extract_cohort, extract_features
from dcemets.simulate import simulate_case, simulate_cohort

cases = {p: simulate_case(p, rng=7, subject_id=p) for p in ("lung", "thyroid")}
maps = {p: parametric_maps(c.dce, mask=c.lesion_mask) for p, c in cases.items()}

# %%
# Fig. 4: the maps coloured inside the lesion
# -------------------------------------------
# Each map is shown on its own colour scale inside the lesion, over the last DCE frame, on
# the axial slice where the lesion is largest.
titles = {"wash_in": "steepest wash-in SE (%)", "max_se": "maximum SE (%)", "washout": "wash-out slope (%)"}
limits = {"wash_in": (0, 250), "max_se": (0, 300), "washout": (-30, 20)}
fig, axes = plt.subplots(2, 3, figsize=(10, 6.5))
for row, (primary, case) in enumerate(cases.items()):
    mask = case.lesion_mask.transpose("z", "y", "x").values
    z = int(np.argmax(mask.sum(axis=(1, 2))))
    rows, cols = np.flatnonzero(mask[z].any(1)), np.flatnonzero(mask[z].any(0))
    ys = slice(max(rows[0] - 15, 0), rows[-1] + 16)
    xs = slice(max(cols[0] - 15, 0), cols[-1] + 16)
    post = case.dce.transpose("time", "z", "y", "x").values[-1, z]
    for col, name in enumerate(titles):
        ax = axes[row, col]
        values = maps[primary][name].transpose("z", "y", "x").values[z]
        ax.imshow(post[ys, xs], cmap="gray")
        shown = np.ma.masked_where(~mask[z], values)[ys, xs]
        im = ax.imshow(shown, cmap="jet", vmin=limits[name][0], vmax=limits[name][1], interpolation="nearest")
        ax.set_title(f"{primary}: {titles[name]}", fontsize=9)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
fig.tight_layout()

# %%
# The 99 features of one lesion
# -----------------------------
# ``extract_features`` returns a Series named ``<map>_<family>_<feature>``.  Defaults: a fixed
# bin number of 32 per map, distance 1, 13 directions averaged (IBSI "3D averaged").
features = {p: extract_features(maps[p], c.lesion_mask) for p, c in cases.items()}
shown = [
    "washout_hist_p90",
    "washout_hist_kurtosis",
    "max_se_hist_mean",
    "max_se_glcm_information_entropy",
    "wash_in_glcm_entropy",
    "wash_in_glcm_dissimilarity",
]
print(pd.DataFrame(features).loc[shown].round(3))

# %%
# A small simulated cohort and its feature table
# ----------------------------------------------
composition = {"lung": 8, "breast": 2, "thyroid": 2, "prostate": 2, "liver": 1, "kidney": 1}
cohort = simulate_cohort(composition=composition, rng=1, n_jobs=2, progress=False)
cohort_maps = {c.subject_id: parametric_maps(c.dce, mask=c.lesion_mask) for c in cohort}
table = extract_cohort(cohort_maps, {c.subject_id: c.lesion_mask for c in cohort}, progress=False)
labels = np.array(["lung" if c.primary == "lung" else "other" for c in cohort])
print(table.shape)

# %%
# Table 2: forest ranking, top-k logistic regression, stratified CV
# -----------------------------------------------------------------
# The leak-free protocol (default) ranks the features inside every training fold; the paper's
# protocol ranks once on all cases, which lets the test folds help choose the features.
result = radiomics_search(table, labels, family="all", k_range=[3, 4, 5], n_splits=4, n_estimators=100, rng=0)
print(result.to_table2(ks=[3, 5]).to_string())
print(result.best[["k", "accuracy", "auc", "stability"]].round(2))

# %%
# Out-of-fold ROC curves of the best model of each family
# -------------------------------------------------------
from sklearn.metrics import roc_curve

fig, ax = plt.subplots(figsize=(4.5, 4.5))
for family, best in result.best.iterrows():
    oof = result.oof[(result.oof.family == family) & (result.oof.k == best.k)]
    fpr, tpr, _ = roc_curve(oof.y_true, oof.y_score)
    ax.plot(fpr, tpr, label=f"{family}, k={best.k} (AUC {best.auc:.2f})")
ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
ax.set_xlabel("1 - specificity")
ax.set_ylabel("sensitivity (lung)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
