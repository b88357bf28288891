"""save_cohort / load_cohort: round trip, real-data manifests, missing files."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from dcemets._conventions import check_same_grid, like, make_dce, make_image
from dcemets.io import Case, load_cohort, save_cohort


def _case(i, oblique, sagittal, *, full=True):
    rng = np.random.default_rng(i)
    dce = make_dce(
        rng.random((5, 3, 4, 6)) * 100,
        np.arange(5) * 12.3,
        spacing=(1.953125, 1.953125, 3.0),
        origin=(-120.1 + i, -95.3, 40.7),
        direction=oblique,
        attrs={"tr_s": 0.0041, "te_s": 0.0015, "flip_angle_deg": 10.0, "injection_time_s": 12.3},
    )
    if not full:
        return Case(f"real{i:02d}", dce, label="other")
    lesion = like(dce, rng.random((3, 4, 6)) > 0.6, name="lesion")
    t2w = make_image(
        rng.random((4, 8, 5)), spacing=(0.5, 0.5, 4.0), origin=(10.0, -50.0, 80.0), direction=sagittal
    )
    roi = like(t2w, rng.random((4, 8, 5)) > 0.5)
    truth = {
        "ktrans": 0.1 + i / 100,
        "kep": np.float64(0.39),
        "vp": 0.02,
        "t10_s": 1.2,
        "tissue": "marrow",
        "aif_params": [1.0, 2.0],
        "ktrans_map": like(dce, rng.random((3, 4, 6)), name="ktrans", units="1/min"),
        "aif": xr.DataArray(
            rng.random(7), dims="t_fine", coords={"t_fine": np.arange(7) * 0.5}, attrs={"units": "mM"}
        ),
    }
    return Case(
        f"sim{i:03d}",
        dce,
        primary="lung" if i % 2 else "thyroid",
        label="lung" if i % 2 else "other",
        t2w_sagittal=t2w,
        roi_sagittal=roi,
        lesion_mask=lesion,
        truth=truth,
        meta={"site": "A", "not_json": object()},
    )


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, oblique, sagittal, compress):
    cases = [_case(i, oblique, sagittal) for i in range(3)]
    manifest = save_cohort(cases, tmp_path / "cohort", compress=compress, progress=False)
    ext = ".nii.gz" if compress else ".nii"
    assert manifest == tmp_path / "cohort" / "manifest.csv"
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["subject_id"] for r in rows] == ["sim000", "sim001", "sim002"]
    assert rows[1]["dce"] == f"sim001/dce{ext}"
    assert rows[1]["frame_times"] == "sim001/dce.json"
    assert rows[1]["lesion_mask"] == f"sim001/lesion_mask{ext}"
    assert json.loads(rows[1]["truth"])["ktrans"] == pytest.approx(0.11)
    back = load_cohort(tmp_path / "cohort", progress=False)
    assert len(back) == 3
    for a, b in zip(cases, back):
        assert (b.subject_id, b.primary, b.label) == (a.subject_id, a.primary, a.label)
        xr.testing.assert_identical(b.dce, a.dce)
        assert b.lesion_mask.dtype == bool
        np.testing.assert_array_equal(b.lesion_mask.values, a.lesion_mask.values)
        # masks come back on the exact DCE coordinates (arithmetic aligns)
        assert int((b.dce * b.lesion_mask).count()) == b.dce.size
        check_same_grid(b.lesion_mask, a.dce)
        # every image comes back identical (values, dtype, coordinates, attrs, exact geometry)
        for key in ("t2w_sagittal", "roi_sagittal", "lesion_mask"):
            xr.testing.assert_identical(getattr(b, key), getattr(a, key))
        xr.testing.assert_identical(b.truth["ktrans_map"], a.truth["ktrans_map"])
        xr.testing.assert_identical(b.truth["aif"], a.truth["aif"])
        check_same_grid(b.truth["ktrans_map"], a.dce)
        for key in ("ktrans", "kep", "vp", "t10_s", "tissue", "aif_params"):
            assert b.truth[key] == (list(a.truth[key]) if key == "aif_params" else a.truth[key])
        assert b.meta["site"] == "A"
        assert "not_json" not in b.meta


def test_real_data_manifest_by_hand(tmp_path, oblique, sagittal, dicom_writer, int_series):
    # one case from a saved cohort without truth or masks, one DICOM folder
    save_cohort([_case(7, oblique, sagittal, full=False)], tmp_path, progress=False)
    dicom_writer(tmp_path / "dicom" / "p2", int_series, times=[0, 10, 20, 30, 40, 50])
    with open(tmp_path / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["subject_id", "label", "dce"])
        w.writerow(["real07", "other", "real07/dce.nii"])
        w.writerow(["p2", "lung", "dicom/p2"])
    cases = load_cohort(tmp_path, progress=False)
    assert [c.subject_id for c in cases] == ["real07", "p2"]
    assert cases[0].lesion_mask is None
    assert cases[0].truth == {}
    assert cases[0].primary is None
    np.testing.assert_array_equal(cases[1].dce.values, int_series)
    np.testing.assert_allclose(cases[1].dce.time.values, [0, 10, 20, 30, 40, 50], atol=1e-5)
    assert cases[1].label == "lung"


def test_frame_times_file(tmp_path, oblique, sagittal):
    save_cohort([_case(1, oblique, sagittal, full=False)], tmp_path, progress=False)
    (tmp_path / "real01" / "dce.json").unlink()
    (tmp_path / "times.json").write_text(json.dumps({"FrameTimesStart": [0, 1, 2, 3, 4]}), encoding="utf-8")
    with open(tmp_path / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        fh.write("subject_id,dce,frame_times\nreal01,real01/dce.nii,times.json\n")
    (case,) = load_cohort(tmp_path, progress=False)
    np.testing.assert_array_equal(case.dce.time.values, [0, 1, 2, 3, 4])


def test_missing_file_names_case_and_file(tmp_path, oblique, sagittal):
    save_cohort([_case(i, oblique, sagittal) for i in range(2)], tmp_path, progress=False)
    (tmp_path / "sim001" / "lesion_mask.nii").unlink()
    with pytest.raises(FileNotFoundError, match=r"case 'sim001': lesion_mask file .*lesion_mask.nii"):
        load_cohort(tmp_path, progress=False)
    (tmp_path / "sim000" / "dce.nii").unlink()
    with pytest.raises(FileNotFoundError, match=r"case 'sim000': dce file .*dce.nii"):
        load_cohort(tmp_path, progress=False)


def test_corrupt_file_names_case(tmp_path, oblique, sagittal):
    save_cohort([_case(0, oblique, sagittal)], tmp_path, progress=False)
    p = tmp_path / "sim000" / "dce.nii"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"case 'sim000'.*dce.nii"):
        load_cohort(tmp_path, progress=False)


def test_manifest_errors(tmp_path, oblique, sagittal):
    with pytest.raises(FileNotFoundError, match=r"manifest.csv"):
        load_cohort(tmp_path, progress=False)
    (tmp_path / "manifest.csv").write_text("id,path\na,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['subject_id', 'dce'\]"):
        load_cohort(tmp_path, progress=False)
    (tmp_path / "manifest.csv").write_text("subject_id,dce\na,x.nii.gz\na,y.nii.gz\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\['a'\] more than once"):
        load_cohort(tmp_path, progress=False)
    (tmp_path / "manifest.csv").write_text('subject_id,dce,truth\na,x.nii.gz,"{bad"\n', encoding="utf-8")
    save_cohort([_case(0, oblique, sagittal, full=False)], tmp_path / "c", progress=False)
    (tmp_path / "c" / "manifest.csv").write_text(
        'subject_id,dce,truth\nreal00,real00/dce.nii,"{bad"\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"case 'real00': manifest column 'truth' is not valid JSON"):
        load_cohort(tmp_path / "c", progress=False)


def test_save_errors(tmp_path, oblique, sagittal):
    a = _case(0, oblique, sagittal, full=False)
    with pytest.raises(ValueError, match=r"duplicate subject_id 'real00'"):
        save_cohort([a, a], tmp_path, progress=False)
    with pytest.raises(TypeError, match=r"`cases\[0\]` must be a dcemets.io.Case"):
        save_cohort([a.dce], tmp_path, progress=False)
    bad = dataclasses.replace(a)
    bad.subject_id = "../x"  # set after construction, where Case cannot see it
    with pytest.raises(ValueError, match=r"cannot be used as a file name"):
        save_cohort([bad], tmp_path, progress=False)
    weird = Case("w", a.dce, truth={"f": object()})
    with pytest.raises(TypeError, match=r"truth\['f'\]"):
        save_cohort([weird], tmp_path, progress=False)
    nomask = Case("m", a.dce, lesion_mask=like(a.dce, np.zeros((3, 4, 6))))
    with pytest.raises(TypeError, match=r"bool mask"):
        save_cohort([nomask], tmp_path, progress=False)


def test_progress_bar(tmp_path, oblique, sagittal, capsys):
    save_cohort([_case(0, oblique, sagittal, full=False)], tmp_path, progress=True)
    load_cohort(tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "saving cohort" in err
    assert "loading cohort" in err


@pytest.mark.parametrize(
    "sid",
    [
        "../../../escaped",
        "..",
        ".",
        "",
        "a/b",
        "a\\b",
        "/abs",
        "C:x",
        ".hidden",
        "x..y",
        "trail.",
        "trail ",
        "NUL",
        "com1.txt",
        "tab\tid",
        "new\nline",
        "x" * 129,
        "_lead",
        "-lead",
    ],
)
def test_unsafe_subject_ids_are_refused_everywhere(sid, tmp_path, oblique, sagittal):
    """Issue 16 #3: an id is checked once, where a Case is made, and again on every path."""
    a = _case(0, oblique, sagittal, full=False)
    with pytest.raises(ValueError, match=r"cannot be used as a file name"):
        Case(sid, a.dce)
    if sid.strip() != sid:
        return  # manifest cells are stripped of surrounding blanks, which makes this one valid
    save_cohort([a], tmp_path / "c", progress=False)
    manifest = tmp_path / "c" / "manifest.csv"
    rows = manifest.read_text(encoding="utf-8").splitlines()
    quoted = '"' + sid.replace('"', '""') + '"'
    manifest.write_text("\n".join([rows[0], quoted + rows[1][len("real00") :]]) + "\n", encoding="utf-8")
    if sid == "":
        match = r"empty subject_id"
    else:
        match = r"manifest.csv line 2: .*cannot be used as a file name"
    with pytest.raises(ValueError, match=match):
        load_cohort(tmp_path / "c", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # nothing written beside the cohort


@pytest.mark.parametrize("sid", ["sim001", "P-01_a", "patient 7", "Ünïcode1", "001.2", "a" * 128])
def test_safe_subject_ids_are_kept(sid, oblique, sagittal):
    a = _case(0, oblique, sagittal, full=False)
    assert Case(sid, a.dce).subject_id == sid


def test_subject_id_must_be_a_string(oblique, sagittal):
    a = _case(0, oblique, sagittal, full=False)
    with pytest.raises(TypeError, match=r"`subject_id` must be a str, got int"):
        Case(7, a.dce)


def test_latin1_manifest_is_a_clear_error(tmp_path, oblique, sagittal):
    """Issue 16.13: a Latin-1 manifest gave a raw UnicodeDecodeError."""
    save_cohort([_case(0, oblique, sagittal, full=False)], tmp_path, progress=False)
    (tmp_path / "manifest.csv").write_bytes(
        'subject_id,dce,meta\nreal00,real00/dce.nii,"{""site"": ""Zürich""}"\n'.encode("latin-1")
    )
    with pytest.raises(ValueError, match=r"manifest\.csv' is not UTF-8 text .*save the manifest as UTF-8"):
        load_cohort(tmp_path, progress=False)
    # UTF-8 with a byte-order mark (spreadsheets' "CSV UTF-8") is read
    (tmp_path / "manifest.csv").write_bytes(
        'subject_id,dce,meta\nreal00,real00/dce.nii,"{""site"": ""Zürich""}"\n'.encode("utf-8-sig")
    )
    (case,) = load_cohort(tmp_path, progress=False)
    assert case.meta["site"] == "Zürich"


def test_header_only_manifest_lists_no_cases(tmp_path):
    (tmp_path / "manifest.csv").write_text("subject_id,label,dce\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"manifest\.csv' lists no cases"):
        load_cohort(tmp_path, progress=False)


def test_unknown_label_lists_the_allowed_ones(tmp_path, oblique, sagittal):
    save_cohort([_case(0, oblique, sagittal, full=False)], tmp_path, progress=False)
    (tmp_path / "manifest.csv").write_text(
        "subject_id,label,dce\nreal00,Lung,real00/dce.nii\n", encoding="utf-8"
    )
    with pytest.raises(
        ValueError, match=r"case 'real00': label 'Lung' .* allowed labels \['lung', 'other'\]"
    ):
        load_cohort(tmp_path, progress=False)
    assert load_cohort(tmp_path, labels=None, progress=False)[0].label == "Lung"
    assert load_cohort(tmp_path, labels=["Lung", "Other"], progress=False)[0].label == "Lung"
    with pytest.raises(TypeError, match=r"`labels` must be a sequence of str"):
        load_cohort(tmp_path, labels="lung", progress=False)


def test_mask_on_another_grid_is_an_error(tmp_path, oblique, sagittal):
    """Issue 16.13: a lesion mask on another grid than its DCE series was accepted."""
    from dcemets.io import write_image

    case = _case(0, oblique, sagittal)
    save_cohort([case], tmp_path, progress=False)
    shifted = make_image(
        np.asarray(case.lesion_mask.values), spacing=(1.953125, 1.953125, 3.0), origin=(0.0, 0.0, 0.0)
    )
    write_image(shifted, tmp_path / "sim000" / "lesion_mask.nii", sidecar=True)
    with pytest.raises(
        ValueError,
        match=r"case 'sim000': lesion_mask '.*lesion_mask\.nii' is not on the grid of the DCE series",
    ):
        load_cohort(tmp_path, progress=False)
    save_cohort([case], tmp_path, progress=False)
    write_image(
        like(case.dce, np.ones((3, 4, 6), bool)), tmp_path / "sim000" / "roi_sagittal.nii", sidecar=True
    )
    with pytest.raises(
        ValueError, match=r"case 'sim000': roi_sagittal '.*' is not on the grid of the t2w_sagittal"
    ):
        load_cohort(tmp_path, progress=False)


def test_save_cohort_refuses_empty_or_non_iterable_cases(tmp_path):
    with pytest.raises(ValueError, match=r"`cases` is empty"):
        save_cohort([], tmp_path / "c", progress=False)
    for bad in (None, 3):
        with pytest.raises(TypeError, match=r"`cases` must be an iterable"):
            save_cohort(bad, tmp_path / "c", progress=False)
    assert not (tmp_path / "c").exists()
