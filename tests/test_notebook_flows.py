"""The documented notebook flows, run as a user runs them, on small simulated data.

README's quick start and the Python blocks of ``docs/user_guide/{classify,evaluation}.md`` are
read from the files and executed; the radiomics flow follows ``examples/plot_radiomics.py`` on
a 6-case cohort.  Each flow then hands the library's DataFrames to scikit-learn the way a
notebook does: the table's ``label`` column, as is, as ``y`` of ``cross_val_score``, under
every string storage pandas offers (NumPy object, pandas 3's default ``str``, Arrow-backed
``string[pyarrow]`` and ``ArrowDtype``).

No torch: ``nox -s deps_oldest deps_newest`` run this module against both ends of the
dependency ranges of ``pyproject.toml``.
"""

import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(relpath):
    """The fenced ```python blocks of a Markdown file, in order."""
    text = (ROOT / relpath).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_block(code, namespace=None):
    namespace = {} if namespace is None else namespace
    exec(compile(code, "<doc block>", "exec"), namespace)  # noqa: S102 -- our own docs, run as documented
    return namespace


def string_storages():
    """Label columns as a notebook may hold them: object, pandas' str/string and Arrow dtypes."""
    out = {"object": object, "string[python]": "string[python]"}
    pa = pytest.importorskip("pyarrow")
    out["string[pyarrow]"] = "string[pyarrow]"
    out["ArrowDtype(string)"] = pd.ArrowDtype(pa.string())
    if int(pd.__version__.split(".")[0]) >= 3:
        out["str (pandas 3 default)"] = "str"
    return out


STORAGES = string_storages()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_readme_quick_start(capsys):
    blocks = python_blocks("README.md")
    assert len(blocks) == 1, "README.md has one Python block, the quick start"
    ns = run_block(blocks[0])
    features = ns["features"]
    assert isinstance(features, pd.Series)
    assert features.size == 99
    assert np.isfinite(features.to_numpy(dtype=float)).all()
    assert "washout_hist" in capsys.readouterr().out


@pytest.fixture(scope="module")
def classify_guide():
    """The namespace left by the Python block of docs/user_guide/classify.md."""
    blocks = python_blocks("docs/user_guide/classify.md")
    return run_block(blocks[0])


def test_classify_guide_runs(classify_guide):
    table, tree, logit = classify_guide["table"], classify_guide["tree"], classify_guide["logit"]
    assert list(tree.classes_) == ["lung", "other"]
    assert set(logit.predict(table[["wash_in", "max_se", "washout"]])) <= {"lung", "other"}


@pytest.mark.parametrize("storage", list(STORAGES))
def test_table_label_column_to_cross_val_score(classify_guide, storage):
    """The failing notebook: ``cross_val_score(est, table[features], table["label"])``."""
    from dcemets.classify import hotspot_chaid, hotspot_logistic
    from dcemets.evaluation import cross_validate

    table = classify_guide["table"].astype({"label": STORAGES[storage]})
    X, y = table[["wash_in", "max_se", "washout"]], table["label"]
    before = table.copy()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    for make in (hotspot_chaid, hotspot_logistic):
        for scoring in ("accuracy", "roc_auc"):
            scores = cross_val_score(make(), X, y, cv=cv, scoring=scoring)
            assert scores.shape == (5,)
            assert np.isfinite(scores).all()
        model = make().fit(X, y)
        assert list(model.classes_) == ["lung", "other"]
        assert isinstance(model.classes_[0], str)
        assert set(model.predict(X)) <= {"lung", "other"}
    res = cross_validate(hotspot_logistic(), X, y, cv=5, rng=0, positive="lung")
    assert np.isfinite(res.summary.loc[["accuracy", "auc"], "mean"]).all()
    pd.testing.assert_frame_equal(table, before)  # inputs untouched


def test_evaluation_guide_runs():
    blocks = python_blocks("docs/user_guide/evaluation.md")
    assert len(blocks) == 4
    ns = run_block(blocks[0])  # diagnostic metrics of Fig. 6
    run_block(blocks[1], ns)  # cross-validation
    assert ns["res"].per_fold.shape[0] == 100
    run_block(blocks[2], ns)  # Table 1 (compare_groups)
    run_block(blocks[3], ns)  # ROC curves


@pytest.mark.parametrize("storage", ["object", "str (pandas 3 default)", "string[pyarrow]"])
def test_evaluation_table_with_string_columns(storage):
    """``compare_groups`` and ``diagnostic_metrics`` on a table whose strings are Arrow-backed."""
    if storage not in STORAGES:
        pytest.skip(f"{storage} needs pandas 3")
    from dcemets.evaluation import compare_groups, diagnostic_metrics

    rng = np.random.default_rng(0)
    label = np.array(["lung"] * 10 + ["other"] * 10)
    table = pd.DataFrame(
        {
            "label": label,
            "primary": ["lung"] * 10 + ["breast"] * 5 + ["liver"] * 5,
            "washout": rng.normal(np.where(label == "lung", 0.0, -10.0), 3.0),
        }
    ).astype({"label": STORAGES[storage], "primary": STORAGES[storage]})
    out = compare_groups(table, "label", subgroup="primary", test="both", formatted=False)
    assert len(out) > 0
    pred = np.where(table["washout"] > -5, "lung", "other")
    m = diagnostic_metrics(table["label"], pred, table["washout"], positive="lung")
    assert 0.5 < m["auc"] <= 1.0


@pytest.fixture(scope="module")
def radiomics_cohort():
    """examples/plot_radiomics.py's cohort flow on 6 simulated cases: the features table and
    a table with a label column, both indexed by subject id."""
    from dcemets.kinetics import parametric_maps
    from dcemets.radiomics import extract_cohort
    from dcemets.simulate import simulate_cohort

    cohort = simulate_cohort(composition={"lung": 3, "breast": 2, "thyroid": 1}, rng=1, progress=False)
    maps = {c.subject_id: parametric_maps(c.dce, mask=c.lesion_mask) for c in cohort}
    features = extract_cohort(maps, {c.subject_id: c.lesion_mask for c in cohort}, progress=False)
    table = pd.DataFrame(
        {
            "subject_id": [c.subject_id for c in cohort],
            "primary": [c.primary for c in cohort],
            "label": ["lung" if c.primary == "lung" else "other" for c in cohort],
        }
    ).set_index("subject_id")
    return features, table


@pytest.mark.parametrize("storage", list(STORAGES))
def test_features_table_to_scikit_learn(radiomics_cohort, storage):
    from dcemets.classify import ForestRanker
    from dcemets.evaluation import radiomics_search

    features, table = radiomics_cohort
    assert features.shape == (6, 99)
    y = table["label"].astype(STORAGES[storage]).loc[features.index]
    pipe = make_pipeline(
        ForestRanker(n_estimators=20, k=3, random_state=0), StandardScaler(), LogisticRegression()
    )
    scores = cross_val_score(pipe, features, y, cv=StratifiedKFold(3))
    assert scores.shape == (3,)
    assert np.isfinite(scores).all()
    res = radiomics_search(
        features,
        y,
        family="histogram",
        k_range=[3],
        n_splits=3,
        n_estimators=20,
        rng=0,
        positive="lung",
    )
    assert {"k", "accuracy", "auc"} <= set(res.best.columns)
