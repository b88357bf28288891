import numpy as np
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
        options = set(params) - {"epochs", "augment", "batch_size"}  # e.g. the cpu CLSTM's readout
        assert {k: dl.get(net, {}).get(k) for k in options} == {k: params[k] for k in options}
        assert set(dl.get(net, {})) - {"epochs", "augment", "batch_size"} == options


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": -1}, ValueError, r"`seed` must be an int >= 0, got -1"),
        ({"seed": "a"}, TypeError, r"`seed` must be an int"),
        ({"seed": 1.5}, TypeError, r"`seed` must be an int"),
        ({"seed": True}, TypeError, r"`seed` must be an int"),
        ({"t10_s": -1}, ValueError, r"`t10_s` must be a positive number, got"),
        ({"t10_s": float("nan")}, ValueError, r"`t10_s` must be a positive number, got"),
        ({"r1_per_mM_s": "3.7"}, TypeError, r"`r1_per_mM_s` must be a positive number"),
        ({"hematocrit": "0.4"}, TypeError, r"`hematocrit` must be in \[0, 1\), got '0.4' \(str\)"),
        ({"hematocrit": 1.0}, ValueError, r"`hematocrit` must be in \[0, 1\), got 1.0"),
        ({"k_range": ()}, ValueError, r"`k_range` must be a non-empty tuple"),
        ({"k_range": (0, 3)}, ValueError, r"`k_range` must be an int >= 1"),
        ({"segmentation": {"bogus": 1}}, ValueError, r"`segmentation` has unknown option\(s\) \['bogus'\]"),
        ({"segmentation": "fraction=0.5"}, TypeError, r"`segmentation` must be a dict"),
        ({"radiomics": {"bins": 8}}, ValueError, r"`radiomics` has unknown option\(s\) \['bins'\]"),
        ({"dl": {"epochs": 0}}, ValueError, r"`dl\['epochs'\]` must be an int >= 1"),
        ({"dl": {"cnn": {"colour": 1}}}, ValueError, r"`dl\['cnn'\]` has unknown option\(s\) \['colour'\]"),
        ({"dl": {"clstm": {"lr": "fast"}}}, TypeError, r"`dl\['clstm'\]\['lr'\]` must be a float"),
        (
            {"dl": {"clstm": {"early_stopping": 1}}},
            TypeError,
            r"`dl\['clstm'\]\['early_stopping'\]` must be a bool",
        ),
        ({"dl": {"lr": 1e-3}}, ValueError, r"`dl` has unknown option\(s\) \['lr'\]"),
        ({"dl": {"enabled": "no"}}, TypeError, r"`dl\['enabled'\]` must be a bool"),
        (
            {"dl": {"clstm": {"normalise": "minmax"}}},
            ValueError,
            r"`dl\['clstm'\]\['normalise'\]` must be 'zscore' or 'enhancement'",
        ),
        ({"n_jobs": 0}, ValueError, r"`n_jobs` must be an int >= 1"),
        ({"forest_trees": 0}, ValueError, r"`forest_trees` must be an int >= 1"),
        ({"n_baseline": 0}, ValueError, r"`n_baseline` must be an int >= 1"),
        ({"name": ""}, TypeError, r"`name` must be a non-empty str"),
    ],
)
def test_bad_fields_fail_at_construction(kwargs, error, match):
    """Issue 16 #5: a bad setting fails when the config is made, not late or never."""
    with pytest.raises(error, match=match):
        StudyConfig(**kwargs)


def test_every_preset_and_known_option_is_accepted():
    for name in PRESETS:
        StudyConfig.preset(name)
    StudyConfig(segmentation={"fraction": 0.4, "n_segments": 30}, radiomics={"bin_count": 16})
    StudyConfig(seed=np.int64(3), dl={"epochs": 1, "cnn": {"epochs": 2}, "features": None})
    StudyConfig(dl={"normalise": "zscore", "clstm": {"normalise": "enhancement"}})


def test_presets_table_in_the_docs_is_generated_from_the_code():
    """Issue 22 item 9: the study.md presets table cannot drift from PRESETS."""
    import re
    from pathlib import Path

    from dcemets.study.config import _PRESET_PURPOSE, PRESETS, _presets_markdown

    page = (Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "study.md").read_text(
        encoding="utf-8"
    )
    m = re.search(r"<!-- presets-table:start[^>]*-->\n(.*?)\n<!-- presets-table:end -->", page, re.DOTALL)
    assert m, "study.md lost its presets-table markers"
    assert m.group(1) == _presets_markdown(), (
        "docs/user_guide/study.md's presets table differs from the code; regenerate it with\n"
        'python -c "from dcemets.study.config import _presets_markdown as f; print(f())"'
    )
    assert set(_PRESET_PURPOSE) == set(PRESETS)  # every preset is described, none invented
