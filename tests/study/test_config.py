import pytest

from dcemets.study import PRESETS, StudyConfig


def test_presets_order_budgets():
    fast, cpu, paper = (StudyConfig.preset(n) for n in ("fast", "cpu", "paper"))
    assert fast.dl["epochs"] < cpu.dl["epochs"] < paper.dl["epochs"]
    assert paper.dl["augment"] == 20  # the paper's 20x augmentation
    assert paper.forest_trees == 500  # the paper's forest
    assert set(PRESETS) == {"fast", "cpu", "paper"}


def test_override_and_case_key():
    a = StudyConfig.preset("cpu", seed=1)
    b = StudyConfig.preset("cpu", seed=1, dl={"epochs": 1})
    c = StudyConfig.preset("cpu", seed=2)
    assert a.seed == 1
    assert a.case_key() == b.case_key()  # network budget is not a per-case setting
    assert a.case_key() != c.case_key()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_jobs": 0}, "n_jobs"),
        ({"device": "tpu"}, "device"),
        ({"radiomics_protocol": "magic"}, "radiomics_protocol"),
        ({"n_splits": 1}, "n_splits"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StudyConfig(**kwargs)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        StudyConfig.preset("turbo")


@pytest.mark.parametrize("name", ["fast", "cpu", "paper"])
def test_study_presets_match_the_estimators_budgets(name):
    """The pipeline's `dl` budgets and `dcemets.models.TRAINING_PRESETS` are written twice
    (the config stays importable without torch); they must not drift apart."""
    pytest.importorskip("torch")
    from dcemets.models import TRAINING_PRESETS

    budget, dl = TRAINING_PRESETS[name], StudyConfig.preset(name).dl
    for key in ("epochs", "augment", "batch_size", "crop"):
        assert dl[key] == getattr(budget, key), key
    for net in ("cnn", "clstm"):  # per-network overrides, if any, agree with `per_model`
        cls = {"cnn": "MapCNNClassifier", "clstm": "CLSTMClassifier"}[net]
        merged = {**dl, **dl.get(net, {})}
        params = budget.estimator_params(cls)
        assert {k: merged[k] for k in ("epochs", "augment", "batch_size")} == {
            k: params[k] for k in ("epochs", "augment", "batch_size")
        }
