"""Issue 22, "done when": ``dcemets replicate --cohort`` on a 6-case NIfTI + manifest cohort.

``dcemets simulate --n-cases 6`` writes the cohort (NIfTI + JSON sidecars + manifest.csv); the
CLI replicates it with the folds, seed and T10 the user sets (``fast`` preset, ``--no-dl``:
the networks are tested in ``test_cli.py``), prints the parameters used with their sources,
and the ``config.toml`` it writes reruns it to byte-identical tables.  The DICOM + SEG cohort
is ``tests/io/test_cohort_replicate.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dcemets.study import main

pytestmark = pytest.mark.slow


def test_nifti_manifest_cohort_of_six_replicates_and_reruns_identically(tmp_path, capsys):
    cohort = tmp_path / "cohort"
    sim = ["simulate", "--out", str(cohort), "--n-cases", "6", "--seed", "5", "--jobs", "1"]
    assert main([*sim, "--no-progress"]) == 0
    assert "6 cases written" in capsys.readouterr().out
    manifest = pd.read_csv(cohort / "manifest.csv")
    assert len(manifest) == 6
    assert sorted(manifest["label"]) == ["lung"] * 3 + ["other"] * 3  # 3 folds need 3 per class
    for dce, side in zip(manifest["dce"], manifest["frame_times"], strict=True):
        assert str(dce).endswith((".nii", ".nii.gz")), dce  # NIfTI + its BIDS-style JSON sidecar
        sidecar = json.loads((cohort / str(side)).read_text(encoding="utf-8"))
        assert {"RepetitionTimeExcitation", "FlipAngle"} <= set(sidecar), sorted(sidecar)

    out = tmp_path / "run1"
    args = ["replicate", "--cohort", str(cohort), "--preset", "fast", "--folds", "3", "--seed", "7"]
    args += ["--t10-s", "1.4", "--no-dl", "--out", str(out)]
    assert main([*args, "--jobs", "1", "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    # the parameters list: every setting with its source, the user's flags named; then the
    # acquisition parameters actually used, read from the six sidecars
    expected = (
        "Parameters of this run (value: source)",
        "cross-validation folds: 3  [flag --folds]",
        "seed: 7  [flag --seed]",
        "preset: fast  [flag --preset]",
        "T10 (s) of the hot-spot Tofts fit: 1.4  [flag --t10-s]",
        "relaxivity r1 (1/(mM s)), when the data give none: 3.7  [explicit default",
        "TR (s), for cases whose data lack it: none: read from each case's data",
        "[flag --no-dl]",
        "tr_s: 0.0041 (data, 6)",
        "flip_angle_deg: 10 (data, 6)",
        "3-fold CV",
    )
    missing = [line for line in expected if line not in printed]
    assert not missing, printed
    acquisition = pd.read_csv(out / "acquisition.csv")
    assert len(acquisition) == 6
    assert set(acquisition["tr_s_source"]) == {"data"}

    config = out / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert "n_splits = 3" in text
    assert "seed = 7" in text
    assert "t10_s = 1.4" in text
    again = tmp_path / "run2"
    assert main(["replicate", "--config", str(config), "--out", str(again), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"cross-validation folds: 3  [config file {config}]" in printed
    assert f"T10 (s) of the hot-spot Tofts fit: 1.4  [config file {config}]" in printed
    tables = sorted(p.name for p in out.glob("*.csv"))
    assert {"table1.csv", "table2.csv", "table3.csv", "cases.csv", "acquisition.csv"} <= set(tables)
    for name in tables:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    assert Path(again / "config.toml").read_text(encoding="utf-8").split("\n", 2)[2] == text.split("\n", 2)[2]
