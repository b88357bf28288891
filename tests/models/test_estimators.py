"""CLSTMClassifier / MapCNNClassifier: training loop, seeding, checkpoints, devices, CV integration."""

import inspect

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone

from dcemets.models import (
    TRAINING_PRESETS,
    CLSTMClassifier,
    CurveGRUClassifier,
    MapCNNClassifier,
    TrainingBudget,
)

pytestmark = pytest.mark.torch


def toy_dce(n=24, t=4, size=8, seed=0):
    """3 slices per patient; the tumour enhances steadily (lung) or peaks and washes out (other)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"p{i}" for i in range(n // 3)], 3)
    y = np.where(np.arange(n) // 3 % 2 == 0, "lung", "other")
    course = np.where(y[:, None] == "lung", np.linspace(0, 1, t), np.linspace(1, 0.2, t))
    X = rng.normal(0, 0.3, (n, t, 1, size, size))
    X[:, :, 0, 2:6, 2:6] += course[:, :, None, None]
    return X.astype(np.float32), y, groups


SMALL = {"features": 4, "num_layers": 3, "epochs": 8, "augment": 2, "batch_size": 8}


def small_clstm(**kw):
    return CLSTMClassifier(**{**SMALL, **kw})


def small_cnn(**kw):
    return MapCNNClassifier(**{**SMALL, "features": 8, **kw})


def test_learns_toy_problem():
    X, y, _groups = toy_dce()
    clf = small_clstm(epochs=20, augment=1, dropout=0.0, lr=0.01, random_state=0).fit(X, y)
    assert clf.score(X, y) == 1.0
    assert clf.history_[-1]["train_loss"] < clf.history_[0]["train_loss"]
    assert clf.n_epochs_ == 20
    assert list(clf.classes_) == ["lung", "other"]
    assert clf.input_shape_ == (4, 1, 8, 8)
    assert clf.n_features_in_ == 4
    assert clf.device_ == "cpu"


def test_same_seed_same_model_and_different_seed_differs():
    X, y, _ = toy_dce()
    a = small_clstm(random_state=3).fit(X, y)
    b = clone(a).fit(X, y)
    c = small_clstm(random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.history_ == b.history_
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    for (ka, va), (kb, vb) in zip(a.module_.state_dict().items(), b.module_.state_dict().items()):
        assert ka == kb
        assert torch.equal(va, vb)


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("model", ["clstm", "cnn"])
def test_thread_count_reproducibility(model, restore_threads):
    """The documented guarantee: same seed + same thread count -> bit-identical; 1 vs 2 threads
    -> differences from float rounding only (|dp| < 1e-6 after one epoch)."""
    X, y, _ = toy_dce()
    make = small_clstm if model == "clstm" else small_cnn
    data = X if model == "clstm" else X[:, :3, 0]
    proba = {}
    for threads in (1, 2, 1, 2):
        torch.set_num_threads(threads)
        p = make(epochs=1, random_state=0).fit(data, y).predict_proba(data)
        proba.setdefault(threads, []).append(p)
    np.testing.assert_array_equal(proba[1][0], proba[1][1])
    np.testing.assert_array_equal(proba[2][0], proba[2][1])
    assert np.abs(proba[1][0] - proba[2][0]).max() < 1e-6


def test_global_torch_rng_untouched():
    X, y, _ = toy_dce()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small_clstm(epochs=1, random_state=0).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_augmentation_changes_training_not_prediction():
    X, y, _ = toy_dce()
    plain = small_clstm(augment=1, random_state=0).fit(X, y)
    aug = small_clstm(augment=3, random_state=0).fit(X, y)
    assert not np.allclose(plain.predict_proba(X), aug.predict_proba(X))
    # prediction is deterministic (no augmentation, no dropout at inference)
    np.testing.assert_array_equal(aug.predict_proba(X), aug.predict_proba(X))


def test_augment_multiplicity_scales_epoch():
    X, y, _ = toy_dce(n=12)
    clf = small_clstm(epochs=1, augment=5, batch_size=4, random_state=0)
    seen = []
    orig = clf._batches

    def spy(n, gen):
        for sample, view in orig(n, gen):
            seen.append((sample.clone(), view.clone()))
            yield sample, view

    clf._batches = spy
    clf.fit(X, y)
    samples = torch.cat([s for s, _ in seen])
    views = torch.cat([v for _, v in seen])
    assert samples.numel() == 12 * 5
    assert torch.equal(torch.bincount(samples), torch.full((12,), 5))
    assert int((views == 0).sum()) == 12  # each slice once as is


def test_predict_patient_averages_slices():
    X, y, groups = toy_dce()
    clf = small_clstm(random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    per_patient = clf.predict_proba_patient(X, groups)
    expected = pd.DataFrame(proba, columns=clf.classes_).groupby(groups).mean()
    np.testing.assert_allclose(per_patient.to_numpy(), expected.to_numpy())
    labels = clf.predict_patient(X, groups)
    assert list(labels.index) == sorted(set(groups))
    np.testing.assert_array_equal(labels.to_numpy(), clf.classes_[expected.to_numpy().argmax(1)])
    with pytest.raises(ValueError, match="groups"):
        clf.predict_patient(X, groups[:-1])


def test_probabilities_sum_to_one():
    X, y, _ = toy_dce()
    p = small_cnn(random_state=0).fit(X[:, :3, 0], y).predict_proba(X[:, :3, 0])
    assert p.shape == (len(y), 2)
    np.testing.assert_allclose(p.sum(1), 1.0)


def test_early_stopping_uses_validation_split_by_group():
    X, _, groups = toy_dce(n=30)
    y = np.random.default_rng(0).permutation(np.repeat(["a", "b"], 15))  # nothing to learn: overfits
    clf = small_clstm(
        epochs=40, lr=0.01, early_stopping=True, patience=2, validation_fraction=0.2, random_state=0
    )
    clf.fit(X, y, groups=groups)
    assert "val_loss" in clf.history_[0]
    assert clf.n_epochs_ < 40
    best = min(h["val_loss"] for h in clf.history_)
    assert clf.history_[-1]["val_loss"] >= best
    # weights restored to the best epoch: patience epochs after it
    assert clf.n_epochs_ - 1 - int(np.argmin([h["val_loss"] for h in clf.history_])) == 2


def test_save_load_round_trip(tmp_path):
    X, y, _ = toy_dce()
    clf = small_clstm(random_state=0).fit(X, y)
    path = tmp_path / "clstm.pt"
    clf.save(path)
    back = CLSTMClassifier.load(path, device="cpu")
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.get_params() == {**clf.get_params(), "device": "cpu"}
    assert back.history_ == clf.history_
    # plain weights_only file: loads without our classes
    payload = torch.load(path, weights_only=True)
    assert payload["estimator"] == "CLSTMClassifier"
    with pytest.raises(ValueError, match="not a MapCNNClassifier"):
        MapCNNClassifier.load(path)
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"not a dcemets\.models checkpoint"):
        CLSTMClassifier.load(tmp_path / "other.pt")


def _fitted_cnn(**kw):
    X, y, _ = toy_dce(n=12)
    return small_cnn(epochs=1, augment=1, **kw).fit(X[:, :3, 0], y), X[:, :3, 0]


def test_load_empty_or_truncated_checkpoint_is_a_clear_error(tmp_path):
    clf, _ = _fitted_cnn(random_state=0)
    path = tmp_path / "cnn.pt"
    clf.save(path)
    data = path.read_bytes()
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pt.*not a readable dcemets\.models checkpoint.*empty"):
        MapCNNClassifier.load(empty)
    for cut in (len(data) // 2, len(data) - 10, 40):
        truncated = tmp_path / f"cut{cut}.pt"
        truncated.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"cut{cut}\.pt.*corrupt or truncated"):
            MapCNNClassifier.load(truncated)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all" * 4)
    with pytest.raises(ValueError, match=r"junk\.pt.*corrupt or truncated"):
        MapCNNClassifier.load(junk)
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        MapCNNClassifier.load(tmp_path / "missing.pt")


def test_load_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "dcemets.models/1", "obj": np.float64(1.0)}, path)  # a numpy global
    with pytest.raises(ValueError, match=r"evil\.pt.*other than tensors and plain values"):
        MapCNNClassifier.load(path)


def test_load_incomplete_checkpoint_is_a_clear_error(tmp_path):
    clf, _ = _fitted_cnn(random_state=0)
    path = tmp_path / "cnn.pt"
    clf.save(path)
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["head.weight"]
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"cnn\.pt.*incomplete or inconsistent"):
        MapCNNClassifier.load(path)


@pytest.mark.parametrize(
    "make_rng",
    [
        lambda: np.random.RandomState(0),
        lambda: np.random.default_rng(0),
        lambda: np.random.Generator(np.random.MT19937(1)),
        lambda: np.random.Generator(np.random.Philox(2)),
    ],
    ids=["RandomState", "PCG64", "MT19937", "Philox"],
)
def test_numpy_random_state_round_trips(tmp_path, make_rng):
    clf, X = _fitted_cnn(random_state=make_rng())
    # numpy scalars among the parameters are stored as plain Python values
    clf.set_params(lr=np.float64(0.002), epochs=np.int64(1))
    path = tmp_path / "cnn.pt"
    clf.save(path)
    back = MapCNNClassifier.load(path, device="cpu")
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert type(back.random_state) is type(clf.random_state)
    assert back.lr == 0.002
    assert back.epochs == 1
    # the stored state is the one the estimator held at save time: both draw the same numbers
    draw = (
        (lambda r: r.randint(0, 2**31, 5))
        if isinstance(back.random_state, np.random.RandomState)
        else (lambda r: r.integers(0, 2**31, 5))
    )
    np.testing.assert_array_equal(draw(back.random_state), draw(clf.random_state))
    # a plain weights_only read still works without our code
    assert torch.load(path, weights_only=True)["estimator"] == "MapCNNClassifier"


def test_unsaveable_parameter_is_refused_at_save_time(tmp_path):
    clf, _ = _fitted_cnn(random_state=0)
    clf.set_params(affine={"degrees": object()})
    path = tmp_path / "cnn.pt"
    with pytest.raises(TypeError, match="`affine`"):
        clf.save(path)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_failing_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    import os

    clf, X = _fitted_cnn(random_state=0)
    path = tmp_path / "cnn.pt"
    clf.save(path)
    before = path.read_bytes()
    other, _ = _fitted_cnn(random_state=1)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        other.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.pt"]  # no temporary file left
    np.testing.assert_array_equal(MapCNNClassifier.load(path).predict_proba(X), clf.predict_proba(X))
    # a successful save replaces it
    other.save(path)
    assert path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.pt"]


def test_save_into_missing_folder_is_a_clear_error(tmp_path):
    clf, _ = _fitted_cnn(random_state=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        clf.save(tmp_path / "nope" / "cnn.pt")
    with pytest.raises(ValueError, match="is a folder"):
        clf.save(tmp_path)


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    X, y, _ = toy_dce()
    with pytest.raises(ValueError, match="CUDA is not available"):
        small_clstm(device="cuda").fit(X, y)


@pytest.mark.cuda
def test_cuda_amp_training():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X, y, _ = toy_dce()
    clf = small_clstm(device="cuda", amp=True, random_state=0).fit(X, y)
    assert clf.device_.startswith("cuda")
    assert clf.predict_proba(X).shape == (len(y), 2)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"augment": 0}, "augment"),
        ({"lr": -1.0}, "lr"),
        ({"device": "tpu"}, "device"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"max_grad_norm": float("inf")}, "max_grad_norm"),
        ({"lr": float("inf")}, "lr"),
        ({"num_layers": 1.5}, "num_layers"),
        ({"features": "16"}, "features"),
        ({"dropout": "0.5"}, "dropout"),
        ({"random_state": "seed"}, "random_state"),
        ({"readout": "median"}, "readout"),
        ({"readout": None}, "readout"),
    ],
)
def test_bad_parameters(params, match):
    X, y, _ = toy_dce()
    with pytest.raises((ValueError, TypeError), match=f"`{match}`"):
        small_clstm(**params).fit(X, y)


def test_bad_inputs():
    X, y, _ = toy_dce()
    clf = small_clstm(epochs=1, random_state=0)
    with pytest.raises(ValueError, match=r"\(n_samples, T, C, H, W\)"):
        clf.fit(X[:, :, 0], y)
    with pytest.raises(ValueError, match="2 classes"):
        clf.fit(X, np.array(["lung"] * len(y)))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="fitted on"):
        clf.predict(X[:, :, :, :4, :4])
    with pytest.raises(ValueError):
        clf.predict(X[:, :3])  # wrong number of frames
    bad = X.copy()
    bad[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(bad)


@pytest.mark.parametrize("max_norm", [None, 0.05])
def test_gradient_clipping(monkeypatch, max_norm):
    """With `max_grad_norm`, every Adam step sees a gradient of at most that global norm."""
    norms = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    X, y, _ = toy_dce()
    small_clstm(epochs=2, augment=1, max_grad_norm=max_norm, random_state=0).fit(X, y)
    assert len(norms) == 2 * 3  # 24 samples in batches of 8, two epochs
    if max_norm is None:
        assert max(norms) > 0.05  # the unclipped gradients are larger than the bound used
    else:
        assert max(norms) <= max_norm * (1 + 1e-5)


def test_presets():
    assert set(TRAINING_PRESETS) == {"fast", "cpu", "paper"}
    paper = TRAINING_PRESETS["paper"]
    assert isinstance(paper, TrainingBudget)
    assert paper.augment == 20
    assert paper.crop == 32
    clf = CLSTMClassifier.from_preset("cpu", random_state=1)
    assert clf.epochs == TRAINING_PRESETS["cpu"].estimator_params("CLSTMClassifier")["epochs"]
    assert clf.random_state == 1
    assert MapCNNClassifier.from_preset("fast", epochs=1).epochs == 1
    # the cpu budget: 2x augmentation for both networks; the CNN the paper's for 12 epochs, the
    # CLSTM issue 19's: 3 layers read out by their pixel mean, AdamW + cosine, batch 8, 20 epochs
    cnn, clstm = MapCNNClassifier.from_preset("cpu"), CLSTMClassifier.from_preset("cpu")
    assert (cnn.epochs, cnn.augment, cnn.lr, cnn.weight_decay) == (12, 2, 1e-3, 0.0)
    assert (clstm.epochs, clstm.augment, clstm.batch_size) == (20, 2, 8)
    assert (clstm.readout, clstm.num_layers, clstm.dropout) == ("pool", 3, 0.0)
    assert (clstm.lr, clstm.weight_decay, clstm.lr_schedule) == (3e-3, 1e-2, "cosine")
    # the paper preset is the paper's network
    paper_clstm = CLSTMClassifier.from_preset("paper")
    assert (paper_clstm.readout, paper_clstm.num_layers, paper_clstm.dropout) == ("flatten", 7, 0.5)
    assert (paper_clstm.lr, paper_clstm.weight_decay, paper_clstm.lr_schedule) == (1e-3, 0.0, None)
    # a budget can differ per network
    budget = TrainingBudget("x", 4, 1, 8, 16, "", per_model={"MapCNNClassifier": {"augment": 3}})
    assert MapCNNClassifier.from_preset(budget).augment == 3
    assert CLSTMClassifier.from_preset(budget).augment == 1
    with pytest.raises(ValueError, match="per_model"):
        TrainingBudget("x", 1, 1, 8, 16, "", per_model={"MapCNNClassifier": {"colour": 1}}).estimator_params(
            "MapCNNClassifier"
        )
    with pytest.raises(ValueError, match="preset"):
        CLSTMClassifier.from_preset("gpu")


def test_patient_level_cross_validation_keeps_patients_together():
    evaluation = pytest.importorskip("dcemets.evaluation")
    X, y, groups = toy_dce(n=60)
    res = evaluation.cross_validate(
        small_clstm(epochs=10, augment=1, lr=0.01, random_state=0),
        X,
        y,
        groups=groups,
        cv=5,
        rng=0,
        aggregate_groups=True,
        positive="lung",
    )
    oof = res.oof
    assert len(oof) == 20  # one row per patient
    assert oof["group"].is_unique
    assert res.summary.loc["accuracy", "mean"] > 0.8


def test_slice_level_cross_validation_is_available():
    """The paper's slice-level protocol (optimistic: a patient's slices in train and test)."""
    evaluation = pytest.importorskip("dcemets.evaluation")
    X, y, _ = toy_dce(n=30)
    res = evaluation.cross_validate(
        small_cnn(epochs=3, augment=1, random_state=0),
        X[:, :3, 0],
        y,
        cv=3,
        rng=0,
        positive="lung",
    )
    assert len(res.oof) == 30


def test_weight_decay_and_cosine_schedule():
    X, y, _ = toy_dce()
    base = small_clstm(random_state=0).fit(X, y)
    decayed = small_clstm(random_state=0, weight_decay=0.5).fit(X, y)
    cosine = small_clstm(random_state=0, lr_schedule="cosine").fit(X, y)
    p = base.predict_proba(X)
    assert not np.allclose(p, decayed.predict_proba(X))
    assert not np.allclose(p, cosine.predict_proba(X))
    norm = lambda clf: sum(float(w.detach().pow(2).sum()) for w in clf.module_.parameters())
    assert norm(decayed) < norm(base)
    with pytest.raises(ValueError, match="lr_schedule"):
        small_clstm(lr_schedule="step").fit(X, y)
    with pytest.raises(ValueError, match="weight_decay"):
        small_clstm(weight_decay=-1.0).fit(X, y)


@pytest.mark.parametrize("readout", ["max", "meanmax", "attention"])
def test_clstm_hot_spot_readouts_fit(readout):
    X, y, _ = toy_dce()
    clf = small_clstm(epochs=1, random_state=0, readout=readout).fit(X, y)
    assert clf.predict_proba(X).shape == (len(y), 2)


@pytest.mark.parametrize("cls", [CLSTMClassifier, MapCNNClassifier, CurveGRUClassifier])
def test_docstring_lists_every_parameter_with_its_default(cls):
    """The shared training-parameter entries are spliced into each class docstring (help())."""
    docscrape = pytest.importorskip("numpydoc.docscrape")
    doc = docscrape.ClassDoc(cls, config={"show_class_members": False})
    entries = {n.strip(): p for p in doc["Parameters"] for n in p.name.split(",")}
    signature = inspect.signature(cls).parameters
    assert list(entries) == list(signature)
    assert "{training_parameters}" not in cls.__doc__
    assert "{reproducibility}" not in cls.__doc__
    for name in ("batch_size", "patience", "validation_fraction"):
        assert f"({signature[name].default})" in " ".join(entries[name].desc), name
