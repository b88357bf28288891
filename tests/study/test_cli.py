import pytest

from dcemets.study import main


def test_unknown_preset_one_line(capsys):
    assert main(["replicate", "--preset", "turbo", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown preset 'turbo'" in err[0]


def test_missing_cohort_folder(tmp_path, capsys):
    assert main(["features", "--cohort", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "cohort folder not found" in capsys.readouterr().err


def test_manifest_missing_file_names_case(tmp_path, capsys, small_cohort):
    from dcemets import io

    folder = io.save_cohort(small_cohort[:2], tmp_path / "c", progress=False).parent
    victim = next(
        p for p in folder.rglob("*.nii*") if small_cohort[0].subject_id in str(p.relative_to(folder))
    )
    victim.unlink()
    assert main(["features", "--cohort", str(folder), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert small_cohort[0].subject_id in err
    assert len(err.strip().splitlines()) == 1


def test_bad_jobs(capsys):
    assert main(["replicate", "--jobs", "0", "--no-progress"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("replicate", "simulate", "segment", "features"):
        assert cmd in out
