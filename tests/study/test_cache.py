"""The study cache can never serve stale or foreign results (issue 16, items 1-4).

Each test names the defect it guards: a key dropped from the file name, a corrupt entry that
dropped its case, a write outside the output folder, and the cohort stage's checkpoints.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from dcemets.study import (
    CacheWarning,
    CaseError,
    CaseFailedWarning,
    FoldStore,
    StudyCache,
    StudyConfig,
    run_cases,
    run_study,
)
from dcemets.study import cache as cache_mod


def _config(**kw):
    base = {"n_splits": 3, "forest_trees": 50, "k_range": (3, 4), "dl": {"enabled": False}}
    base.update(kw)
    return StudyConfig.preset("fast", **base)


@pytest.fixture(scope="module")
def four(small_cohort):
    return list(small_cohort[:2]) + list(small_cohort[5:7])


def _run(cases, config, root, on_error="raise"):
    runs = run_cases(cases, config=config, out=root, progress=False, on_error=on_error)
    return {r.subject_id: (r, r.subject_id in runs.computed) for r in runs.results}


def _scaled(case, factor):
    """The same subject with `factor` times the enhancement (baseline kept)."""
    dce = case.dce.copy()
    base = dce.isel(time=0)
    dce.values = (base + factor * (dce - base)).transpose(*dce.dims).values
    return dataclasses.replace(case, dce=dce)


def test_file_names_carry_the_key(four, tmp_path):
    """#1: the key was replaced by the suffix; now two data sets give two file names."""
    cache = StudyCache(tmp_path)
    cfg = _config()
    a = cache.case_paths(four[0], cfg)
    b = cache.case_paths(_scaled(four[0], 3.0), cfg)
    assert a[0].suffix == ".json"
    assert a[1].suffix == ".nc"
    assert a[0].name.startswith(f"{four[0].subject_id}.")
    assert len(a[0].name.split(".")[1]) == 32
    assert a[0] != b[0]
    assert a[1] != b[1]


def test_changed_data_under_the_same_ids_is_recomputed(four, tmp_path):
    """#1: cohort B with cohort A's ids and 3x the enhancement must not get A's numbers."""
    cfg = _config()
    first = _run(four, cfg, tmp_path)
    assert all(computed for _, computed in first.values())
    changed = {four[1].subject_id, four[3].subject_id}
    cohort_b = [_scaled(c, 3.0) if c.subject_id in changed else c for c in four]
    second = _run(cohort_b, cfg, tmp_path)
    assert {sid for sid, (_, computed) in second.items() if computed} == changed  # exactly these
    for sid in changed:
        before, after = first[sid][0].heuristics["max_se"], second[sid][0].heuristics["max_se"]
        assert after > 2.0 * before
    sid = four[0].subject_id
    assert second[sid][0].heuristics == first[sid][0].heuristics


def test_acquisition_settings_and_code_enter_the_key(four, tmp_path, monkeypatch):
    """#1: the acquisition parameters, the per-case settings and the library version count."""
    case = four[0]
    cfg = _config()
    StudyCache(tmp_path)
    key = cache_mod.case_key(case, cfg)
    dce = case.dce.copy()
    dce.attrs = {**dce.attrs, "flip_angle_deg": 25.0}
    assert cache_mod.case_key(dataclasses.replace(case, dce=dce), cfg) != key
    assert cache_mod.case_key(case, _config(t10_s=1.2)) != key
    assert cache_mod.case_key(case, _config(segmentation={"fraction": 0.4})) != key
    assert cache_mod.case_key(case, _config(n_splits=5)) == key  # a cohort-level setting
    assert cache_mod.case_key(dataclasses.replace(case, label="other"), cfg) == key
    monkeypatch.setattr(cache_mod, "code_fingerprint", lambda: "0123456789abcdef")
    assert cache_mod.case_key(case, cfg) != key


def test_labels_come_from_the_case_not_the_cache(four, tmp_path):
    cfg = _config()
    _run(four[:1], cfg, tmp_path)
    relabelled = dataclasses.replace(four[0], label="other", primary="breast")
    res, computed = _run([relabelled], cfg, tmp_path)[four[0].subject_id]
    assert not computed
    assert (res.label, res.primary) == ("other", "breast")


@pytest.mark.parametrize("damage", ["truncate_json", "truncate_nc", "empty_json", "swap_nc", "garbage_json"])
def test_a_corrupt_entry_is_recomputed_and_reported(four, tmp_path, damage):
    """#2: an unreadable entry dropped its case; now it is recomputed, with a CacheWarning."""
    cfg = _config()
    clean = _run(four[:2], cfg, tmp_path)
    cache = StudyCache(tmp_path)
    jp, nc = cache.case_paths(four[0], cfg)
    if damage == "truncate_json":
        jp.write_bytes(jp.read_bytes()[: jp.stat().st_size // 2])
    elif damage == "truncate_nc":
        nc.write_bytes(nc.read_bytes()[: nc.stat().st_size // 2])
    elif damage == "empty_json":
        jp.write_bytes(b"")
    elif damage == "swap_nc":  # a valid netCDF file, of another case
        nc.write_bytes(cache.case_paths(four[1], cfg)[1].read_bytes())
    else:
        jp.write_text(json.dumps({"format": cache_mod.CACHE_FORMAT, "key": "x"}), encoding="utf-8")
    with pytest.warns(CacheWarning, match=rf"case {four[0].subject_id!r} cannot be read.*recomputed"):
        again = _run(four[:2], cfg, tmp_path)
    res, computed = again[four[0].subject_id]
    assert computed
    assert res.heuristics == clean[four[0].subject_id][0].heuristics
    assert res.features.equals(clean[four[0].subject_id][0].features)
    assert not again[four[1].subject_id][1]
    third = _run(four[:2], cfg, tmp_path)  # the rewritten entry is good again
    assert not any(computed for _, computed in third.values())


def test_a_failing_case_stops_the_run_by_default(four):
    """#2: a case that truly fails is reported at once and, by default, stops the run."""
    broken = dataclasses.replace(four[1], roi_sagittal=None, lesion_mask=None)
    cases = [four[0], broken, *four[2:]]
    with pytest.raises(CaseError, match=rf"case {broken.subject_id!r} failed: .*on_error='skip'") as info:
        run_study(cases, config=_config(), progress=False)
    assert info.value.subject_id == broken.subject_id


def test_skip_reports_each_failure_at_once(small_cohort):
    broken = dataclasses.replace(small_cohort[1], roi_sagittal=None, lesion_mask=None)
    cases = [small_cohort[0], broken, *small_cohort[2:]]
    with pytest.warns(CaseFailedWarning, match=rf"case {broken.subject_id!r} failed and is left out"):
        res = run_study(cases, config=_config(), progress=False, on_error="skip")
    assert list(res.failures) == [broken.subject_id]
    assert "neither a sagittal ROI nor a lesion mask" in res.failures[broken.subject_id]
    assert len(res.cases) == len(small_cohort) - 1


def test_too_few_cases_says_which_were_dropped(four):
    broken = [dataclasses.replace(c, roi_sagittal=None, lesion_mask=None) for c in four[2:]]
    with (
        pytest.warns(CaseFailedWarning),
        pytest.raises(ValueError, match=r"2 failed cases left out: \['sim00\d', 'sim00\d'\]"),
    ):
        run_study([*four[:2], *broken], config=_config(), progress=False, on_error="skip")


def test_on_error_is_checked(four):
    with pytest.raises(ValueError, match=r"`on_error` must be 'raise' or 'skip'"):
        run_study(four, config=_config(), progress=False, on_error="ignore")


def test_an_unusable_subject_id_never_reaches_a_path(four, tmp_path):
    """#3: an id set after construction is still refused before any file is written."""
    case = dataclasses.replace(four[0])
    case.subject_id = "../../escaped"
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(CaseError, match=r"cannot be used as a file name"):
        _run([case], _config(), out)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


def test_read_only_output_folder_fails_at_once(tmp_path, monkeypatch):
    """A folder that cannot be written is an error before any work, naming the folder."""

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"cannot write to the cache folder `out` '.*ro' \(read-only\)"):
        StudyCache(tmp_path / "ro")


def test_output_folder_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(
        NotADirectoryError, match=r"`root` \(the cache folder, `out` of run_study\) .* is a file"
    ):
        StudyCache(tmp_path / "f")


@pytest.mark.parametrize("which", ["nc", "json"])
def test_a_full_disk_keeps_the_result_and_leaves_no_partial_file(four, tmp_path, monkeypatch, which):
    cfg = _config()
    _run(four[:1], cfg, tmp_path)  # an earlier entry, which must survive
    before = sorted(p.name for p in (tmp_path / "cases").iterdir())
    real = cache_mod._atomic_write

    def full(path, writer):
        if path.suffix == f".{which}":

            def failing(p):
                writer(p)  # the bytes go to the temporary file, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")

            return real(path, failing)
        return real(path, writer)

    monkeypatch.setattr(cache_mod, "_atomic_write", full)
    with pytest.warns(CacheWarning, match=r"cannot write the cache entry of case .*No space left"):
        out = _run(four[1:2], cfg, tmp_path)
    res, computed = out[four[1].subject_id]
    assert computed
    assert res.features.size == 99
    assert sorted(p.name for p in (tmp_path / "cases").iterdir()) == before


# ---------------------------------------------------------------------------------- cohort stage


def test_fold_store_round_trip_and_corruption(tmp_path):
    store = FoldStore(tmp_path / "m")
    assert store.get("r0-f1") is None
    store.put("r0-f1", {"pred": ["lung", "other"], "score": [0.25, float("nan")], "threshold": 0.5})
    got = FoldStore(tmp_path / "m").get("r0-f1")
    assert got["pred"] == ["lung", "other"]
    assert np.isnan(got["score"][1])
    (tmp_path / "m" / "r0-f1.json").write_text('{"format": 2, "key": "r0-f1", "val', encoding="utf-8")
    with pytest.warns(CacheWarning, match=r"checkpoint m/r0-f1 cannot be read"):
        assert store.get("r0-f1") is None
    assert not (tmp_path / "m" / "r0-f1.json").exists()
    with pytest.raises(ValueError, match=r"checkpoint key"):
        store.get("../x")


def test_cohort_stage_resumes_from_its_folds(small_cohort, tmp_path):
    """#4: a second run reads every fold of the cohort stage back and gives the same tables."""
    cfg = _config()
    first = run_study(small_cohort, config=cfg, out=tmp_path, progress=False)
    assert set(first.checkpoints) == {"hotspot_logistic", "hotspot_chaid", "radiomics"}
    assert all(n["loaded"] == 0 and n["computed"] > 0 for n in first.checkpoints.values())
    second = run_study(small_cohort, config=cfg, out=tmp_path, progress=False)
    assert all(n["computed"] == 0 and n["loaded"] > 0 for n in second.checkpoints.values())
    assert second.checkpoints["radiomics"]["loaded"] == 3 * (1 + cfg.n_splits)  # 3 families
    pd.testing.assert_frame_equal(first.table3, second.table3)
    pd.testing.assert_frame_equal(first.table2, second.table2)
    # another seed is another study: nothing of the first is served
    third = run_study(small_cohort, config=_config(seed=1), out=tmp_path, progress=False)
    assert all(n["loaded"] == 0 for n in third.checkpoints.values())


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["radiomics", "cnn"])
def test_sigkill_in_the_cohort_stage_loses_at_most_one_fold(small_cohort, tmp_path, stage):
    """#4: kill the run while a cohort-stage method is between folds; the rerun resumes."""
    pytest.importorskip("torch")
    out = tmp_path / "cache"
    settings = {
        "n_splits": 3,
        "forest_trees": 1500 if stage == "radiomics" else 50,
        "k_range": (3, 4),
        "dl": {
            "enabled": stage == "cnn",
            "epochs": 2,
            "augment": 1,
            "batch_size": 32,
            "crop": 16,
            "features": 4,
        },
    }
    script = textwrap.dedent(
        f"""
        from dcemets.simulate import simulate_cohort
        from dcemets.study import StudyConfig, run_study
        cohort = simulate_cohort(composition={{"lung": 5, "thyroid": 2, "breast": 2, "kidney": 1}}, rng=7, progress=False)
        cfg = StudyConfig.preset("fast", **{settings!r})
        run_study(cohort, config=cfg, out={str(out)!r}, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 400
    while time.time() < deadline:
        done = list((out / "cohort").glob(f"{stage}-*/*.json")) if (out / "cohort").exists() else []
        if done:
            break
        if proc.poll() is not None:
            pytest.fail("the study finished before it could be interrupted")
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("no fold was written in time")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = len(list((out / "cohort").glob(f"{stage}-*/*.json")))
    total = 3 * (1 + 3) if stage == "radiomics" else 3
    assert 1 <= kept < total, "the kill came after the stage had finished"
    cfg = StudyConfig.preset("fast", **settings)
    resumed = run_study(small_cohort, config=cfg, out=out, progress=False)
    assert resumed.checkpoints[stage] == {"loaded": kept, "computed": total - kept}
    assert not resumed.computed  # every case came from the per-case cache
    if stage == "radiomics":
        clean = run_study(small_cohort, config=cfg, progress=False)
        pd.testing.assert_frame_equal(resumed.table2, clean.table2)
