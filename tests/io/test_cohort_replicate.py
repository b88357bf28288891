"""Issue 22, "done when": ``dcemets replicate --cohort`` on a 6-case DICOM + SEG/RTSTRUCT cohort.

The cohort is simulated with :func:`dcemets.simulate.simulate_cohort` and written with the
vendor-convention DICOM writers of ``tests/io/conftest.py`` (GE, Siemens, Philips, ContentTime
only, a TriggerTime missing on the first frame, one enhanced multi-frame file); the lesion ROIs
are DICOM SEG written by :func:`dcemets.io.write_seg` and one RTSTRUCT.  The CLI runs end to
end with the ``fast`` preset and 2 folds, prints the parameters used with their sources, and
its ``config.toml`` reruns it to byte-identical tables.
"""

from __future__ import annotations

import csv
import re
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from dcemets import io
from dcemets.simulate import simulate_cohort
from dcemets.study.cli import main

pytestmark = pytest.mark.slow

# (subject, vendor timing tags, tags missing on some frames, ROI format)
LAYOUT = [
    ("ge", ("trigger", "acq_start"), None, "seg"),
    ("siemens", ("acquisition", "trigger_zero"), None, "seg"),
    ("philips", ("tpi", "resolution", "acq_start"), None, "seg"),
    ("content", ("content",), None, "rtstruct"),
    ("gemiss", ("trigger", "acq_start"), {"trigger": [0]}, "seg"),
    ("enhanced", None, None, "seg"),
]


def _geometry(dce):
    affine = np.reshape(dce.attrs["affine"], (4, 4))
    return affine[:3, :3], affine[:3, 3], np.asarray(dce.attrs["spacing_mm"], dtype=float)


def _box_contours(mask, direction, origin, spacing) -> list[np.ndarray]:
    """One closed contour per slice: the mask's in-plane bounding box, half a voxel outside."""
    contours = []
    for k in range(mask.shape[0]):
        ys, xs = np.nonzero(mask[k])
        if ys.size == 0:
            continue
        x0, x1, y0, y1 = xs.min() - 0.5, xs.max() + 0.5, ys.min() - 0.5, ys.max() + 0.5
        idx = np.array([[x0, y0, k], [x1, y0, k], [x1, y1, k], [x0, y1, k]], dtype=float)
        contours.append(origin + (idx * spacing) @ direction.T)
    return contours


@pytest.fixture(scope="module")
def cases():
    return simulate_cohort(composition={"lung": 3, "breast": 3}, rng=5, progress=False)


def write_dicom_cohort(root, cases, dicom_writer, enhanced_writer, rtstruct_writer):
    """Write the six cases as vendor DICOM + SEG/RTSTRUCT, with manifest.csv; return root."""
    rows = []
    for case, (vendor, timing, omit, roi) in zip(cases, LAYOUT, strict=True):
        sid = f"{vendor}{case.subject_id}"
        direction, origin, spacing = _geometry(case.dce)
        values = np.round(100.0 * case.dce.values)  # scanner-like integers
        times = case.dce["time"].values
        geo = {"spacing": spacing, "origin": origin, "direction": direction}
        if timing is None:
            source = enhanced_writer(root / sid / "dce.dcm", values.astype(np.uint16), times=times, **geo)
            dce_cell = f"{sid}/dce.dcm"
        else:
            dicom_writer(root / sid / "dicom", values, times=times, timing=timing, omit=omit, **geo)
            source = root / sid / "dicom"
            dce_cell = f"{sid}/dicom"
        mask = case.lesion_mask.values.astype(bool)
        if roi == "seg":
            # the radiologist's SEG, drawn on the series as read back (its frame of reference)
            with warnings.catch_warnings():  # the inferred TriggerTime: asserted below
                warnings.simplefilter("ignore", UserWarning)
                grid = io.read_dce(source).isel(time=0, drop=True)
            lesion = grid.copy(data=mask)
            io.write_seg(lesion, root / sid / "lesion_seg.dcm", source=source, algorithm_type="MANUAL")
            roi_cell = f"{sid}/lesion_seg.dcm"
        else:
            contours = _box_contours(mask, direction, origin, spacing)
            rtstruct_writer(root / sid / "rtstruct.dcm", {"lesion": contours})
            roi_cell = f"{sid}/rtstruct.dcm"
        rows.append([sid, case.label, case.primary, dce_cell, roi_cell])
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["subject_id", "label", "primary", "dce", "lesion_mask"])
        w.writerows(rows)
    return root


def test_dicom_seg_cohort_replicates_and_reruns_identically(
    tmp_path, cases, dicom_writer, enhanced_writer, rtstruct_writer, capsys
):
    root = write_dicom_cohort(tmp_path / "cohort", cases, dicom_writer, enhanced_writer, rtstruct_writer)

    # the cohort reads back: vendor timing, geometry, SEG and RTSTRUCT on the DCE grid
    with pytest.warns(
        UserWarning, match=r"TriggerTime missing on 1 of 12 frame\(s\) \(frame index 0\); inferred"
    ):
        loaded = io.load_cohort(root, progress=False)
    assert [c.label for c in loaded] == [c.label for c in cases]
    for case, back, (vendor, *_rest) in zip(cases, loaded, LAYOUT, strict=True):
        np.testing.assert_allclose(
            back.dce["time"].values, case.dce["time"].values, atol=2e-3, err_msg=vendor
        )
        np.testing.assert_array_equal(back.dce.values, np.round(100.0 * case.dce.values), err_msg=vendor)
        assert back.dce.attrs["tr_s"] == pytest.approx(0.0041), vendor
        truth = case.lesion_mask.values.astype(bool)
        got = back.lesion_mask.values.astype(bool)
        if vendor == "content":  # the RTSTRUCT box contains the lesion
            assert got[truth].all()
            assert got.sum() >= truth.sum()
        else:
            np.testing.assert_array_equal(got, truth, err_msg=vendor)

    out = tmp_path / "run1"
    # --no-dl: the networks would double the run time and are tested elsewhere (tests/study)
    args = [
        "replicate",
        "--cohort",
        str(root),
        "--preset",
        "fast",
        "--folds",
        "2",
        "--no-dl",
        "--out",
        str(out),
    ]
    with pytest.warns(UserWarning, match="TriggerTime missing"):
        assert main([*args, "--jobs", "1", "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    # the parameters list: every setting with its source
    assert "cross-validation folds: 2  [flag --folds]" in printed
    assert "preset: fast  [flag --preset]" in printed
    assert "T10 (s) of the hot-spot Tofts fit: 1.5  [explicit default (StudyConfig)]" in printed
    assert "explicit default" in printed
    assert "TR (s), for cases whose data lack it: none: read from each case's data" in printed
    assert "tr_s: 0.0041 (data, 6)" in printed
    assert "deep-learning stage: {'enabled': False" in printed
    assert "[flag --no-dl]" in printed
    assert "2-fold CV" in printed

    again = tmp_path / "run2"
    config = out / "config.toml"
    with pytest.warns(UserWarning, match="TriggerTime missing"):
        assert main(["replicate", "--config", str(config), "--out", str(again), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"cross-validation folds: 2  [config file {config}]" in printed
    tables = sorted(p.name for p in out.glob("*.csv"))
    assert {"table1.csv", "table2.csv", "table3.csv"} <= set(tables)
    for name in tables:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "own_data.md"


def _blocks(text: str) -> list[tuple[str, str]]:
    """The page's ```python and ```console blocks, in order."""
    return re.findall(r"```(python|console)\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.filterwarnings("ignore:.*TriggerTime missing:UserWarning")  # asserted in the test above
def test_own_data_walkthrough_page_runs(
    tmp_path, monkeypatch, cases, dicom_writer, enhanced_writer, rtstruct_writer, capsys
):
    """docs/user_guide/own_data.md runs, in order, on the files this test writes."""
    # the page's files: one exam (GE-style timing, SEG + RTSTRUCT) and the six-case cohort
    case = cases[0]
    direction, origin, spacing = _geometry(case.dce)
    source = tmp_path / "exam" / "dce"
    dicom_writer(
        source,
        np.round(100.0 * case.dce.values),
        times=case.dce["time"].values,
        timing=("trigger", "acq_start"),
        spacing=spacing,
        origin=origin,
        direction=direction,
    )
    mask = case.lesion_mask.values.astype(bool)
    grid = io.read_dce(source).isel(time=0, drop=True)
    io.write_seg(grid.copy(data=mask), tmp_path / "exam" / "lesion_seg.dcm", source=source)
    contours = _box_contours(mask, direction, origin, spacing)
    rtstruct_writer(tmp_path / "exam" / "lesion_rtstruct.dcm", {"lesion": contours})
    write_dicom_cohort(tmp_path / "cohort", cases, dicom_writer, enhanced_writer, rtstruct_writer)

    monkeypatch.chdir(tmp_path)
    blocks = _blocks(GUIDE.read_text(encoding="utf-8"))
    assert [kind for kind, _ in blocks].count("console") == 2
    namespace: dict = {}
    for kind, code in blocks:
        if kind == "python":
            exec(compile(code, str(GUIDE), "exec"), namespace)  # noqa: S102 - the page's own code
            continue
        for line in code.splitlines():
            assert line.startswith("$ dcemets "), line
            assert main(shlex.split(line)[2:]) == 0, line
    printed = capsys.readouterr().out
    assert (tmp_path / "out" / "wash_in.dcm").is_file()
    assert "cross-validation folds: 2  [flag --folds]" in printed
    assert "cross-validation folds: 2  [config file run1/config.toml]" in printed
    assert "tr_s: 0.0041 (data, 6)" in printed
