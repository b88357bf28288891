"""
Training the paper's ConvLSTM on simulated DCE slices
=====================================================

Lang et al. (2019, section 2.6, Fig. 5) classify spinal metastases as lung or other
primaries with a 7-layer convolutional LSTM that reads the 12 DCE frames of every tumour
slice in time order.  Here we simulate a small cohort, turn it into per-slice inputs with
:func:`dcemets.models.slice_dataset` (projected tumour box, zero outside the tumour, the
12 frames normalised together), train :class:`dcemets.models.CLSTMClassifier` for a few
epochs on 4 patients and plot its training curve, then predict the 2 held-out patients from
the mean of their slice probabilities.

The budget is the ``"fast"`` preset (16 x 16 crops, no augmentation) with 10 epochs of
batches of 8: seconds on an idle CPU and far from converged.  The paper's 20x augmentation (``"paper"`` preset) is meant for a GPU.
"""

# %%
# A small simulated cohort
# ------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch

from dcemets.models import TRAINING_PRESETS, CLSTMClassifier, slice_dataset
from dcemets.simulate import simulate_cohort

torch.set_num_threads(2)
cases = simulate_cohort(composition={"lung": 3, "breast": 2, "thyroid": 1}, rng=1, progress=False)
budget = TRAINING_PRESETS["fast"]
data = slice_dataset(cases, crop=budget.crop, progress=False)
label = np.where(data.y == "lung", "lung", "other")
print(data.X.shape, "slices from", len(set(data.groups)), "patients")

# %%
# One input sample: the 12 normalised frames of a tumour slice
# ------------------------------------------------------------
fig, axes = plt.subplots(1, 12, figsize=(12, 1.4))
for t, ax in enumerate(axes):
    ax.imshow(data.X[0, t, 0], cmap="gray", vmin=-2, vmax=3)
    ax.set_title(f"t{t + 1}", fontsize=8)
    ax.axis("off")
fig.suptitle(f"{data.groups[0]} ({label[0]}), slice z={data.z[0]}")

# %%
# Train on 4 patients, hold out 2
# -------------------------------
test_ids = {cases[0].subject_id, cases[-1].subject_id}
test = np.isin(data.groups, list(test_ids))
clf = CLSTMClassifier.from_preset(budget, epochs=10, batch_size=8, random_state=0, device="cpu")
clf.fit(data.X[~test], label[~test])

epochs = [h["epoch"] for h in clf.history_]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(epochs, [h["train_loss"] for h in clf.history_], "o-", label="training loss")
ax.plot(epochs, [h["train_accuracy"] for h in clf.history_], "s--", label="training accuracy")
ax.set_xlabel("epoch")
ax.set_title("CLSTMClassifier, 'fast' budget")
ax.legend()

# %%
# Patient-level prediction: mean of the slice probabilities
# ---------------------------------------------------------
print(clf.predict_proba_patient(data.X[test], data.groups[test]).round(2))
print(
    "truth:",
    {c.subject_id: ("lung" if c.label == "lung" else "other") for c in cases if c.subject_id in test_ids},
)
plt.show()
