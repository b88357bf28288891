import io

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


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("dcemets ")


@pytest.mark.parametrize("n", [4, 5, 6, 7, 12, 30, 61, 97])
def test_n_cases_is_the_number_written(n):
    """`simulate --n-cases 6` wrote 7 cases: the composition now sums to n exactly."""
    from dcemets.study.cli import _composition

    comp = _composition(n)
    assert sum(comp.values()) == n
    assert comp["lung"] >= 2
    assert sum(v for k, v in comp.items() if k != "lung") >= 2
    if n == 61:
        from dcemets.simulate import PAPER_COMPOSITION

        assert comp == dict(PAPER_COMPOSITION)


def test_folds_flag_is_checked(capsys):
    assert main(["replicate", "--folds", "1", "--no-progress"]) == 2
    assert "--folds must be an int >= 2" in capsys.readouterr().err


def test_help_texts_say_what_is_written(capsys):
    for cmd in ("simulate", "segment"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
    out = capsys.readouterr().out
    assert "segmentation.csv" in out
    assert "dice.csv" not in out
    assert "seed of the simulation" in out
    assert "half (128 x 96" in out


@pytest.mark.slow
def test_every_command_end_to_end(tmp_path, capsys):
    """simulate -> segment -> features (twice: the second reads the cache) -> replicate."""
    import pandas as pd

    cohort = tmp_path / "cohort"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(cohort),
                "--n-cases",
                "4",
                "--seed",
                "3",
                "--jobs",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "4 cases written" in capsys.readouterr().out
    manifest = pd.read_csv(cohort / "manifest.csv")
    assert len(manifest) == 4
    assert sorted(manifest["label"]) == ["lung", "lung", "other", "other"]

    seg = tmp_path / "seg"
    assert main(["segment", "--cohort", str(cohort), "--out", str(seg), "--no-progress"]) == 0
    table = pd.read_csv(seg / "segmentation.csv")
    assert len(table) == 4
    assert (table["dice"] > 0.3).all()
    assert len(list(seg.glob("*_lesion_seg.nii.gz"))) == 4

    feats = tmp_path / "feats"
    args = ["features", "--cohort", str(cohort), "--out", str(feats), "--jobs", "1", "--no-progress"]
    assert main(args) == 0
    assert "cache: 4 computed, 0 read back" in capsys.readouterr().out
    assert pd.read_csv(feats / "features.csv", index_col=0).shape == (4, 99)
    assert main(args) == 0
    assert "cache: 0 computed, 4 read back" in capsys.readouterr().out

    out = tmp_path / "rep"
    rep = ["replicate", "--cohort", str(cohort), "--preset", "fast", "--folds", "2", "--out", str(out)]
    assert main([*rep, "--jobs", "1", "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "Table 3" in printed
    assert "2-fold CV" in printed
    assert (out / "report.html").stat().st_size > 10_000
    acquisition = pd.read_csv(out / "acquisition.csv")
    assert set(acquisition["tr_s_source"]) == {"data"}  # read from the cohort's sidecars

    # the run's config.toml reruns it exactly (issue 22 #4): same tables from a fresh cache
    config = out / "config.toml"
    assert f"--config {config}" in printed or "config.toml" in printed
    again = tmp_path / "again"
    assert main(["replicate", "--config", str(config), "--out", str(again), "--no-progress"]) == 0
    capsys.readouterr()
    for table in ("table1.csv", "table2.csv", "table3.csv", "cases.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / table), pd.read_csv(again / table))
    assert (again / "config.toml").read_text(encoding="utf-8").split("\n", 2)[2] == config.read_text(
        encoding="utf-8"
    ).split("\n", 2)[2]


def test_config_file_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[study]\nseed = -1\n", encoding="utf-8")
    assert main(["replicate", "--config", str(bad), "--no-progress"]) == 2
    assert "[study]: `seed` must be an int >= 0" in capsys.readouterr().err
    bad.write_text("[study\n", encoding="utf-8")
    assert main(["replicate", "--config", str(bad), "--no-progress"]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    bad.write_text("[study]\nseed = 1\n", encoding="utf-8")
    assert main(["replicate", "--config", str(bad), "--preset", "fast", "--no-progress"]) == 2
    assert "give --config or --preset, not both" in capsys.readouterr().err
    assert main(["replicate", "--config", str(tmp_path / "none.toml"), "--no-progress"]) == 2
    assert "cannot read the config file" in capsys.readouterr().err


def test_tables_print_on_an_ascii_stdout(monkeypatch):
    """Issue 22: "±" on an ASCII stdout (LC_ALL=C, PYTHONUTF8=0) is escaped, not an error."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    with pytest.raises(UnicodeEncodeError):
        print("mean ± SD", file=stream)
    monkeypatch.setattr("sys.stdout", stream)
    assert main(["replicate", "--folds", "1", "--no-progress"]) == 2  # any command: main() guards stdout
    print("Table 1. Hot-spot DCE parameters (mean ± SD)")
    stream.flush()
    assert stream.buffer.getvalue().decode("ascii").endswith("(mean \\xb1 SD)\n")


def test_aif_image_and_hematocrit_flags(capsys):
    """Issue 22 #11: --aif image / --hematocrit reach the StudyConfig and the parameters list."""
    from dcemets.study import cli

    args = cli._parser().parse_args(
        ["replicate", "--preset", "fast", "--aif", "image", "--hematocrit", "0.35"]
    )
    _run, config = cli._replicate_config(args)
    assert (config.aif, config.hematocrit) == ("image", 0.35)
    listed = cli._format_parameters(config, args.sources)
    assert "AIF of the hot-spot Tofts fit: image  [flag --aif]" in listed
    assert "haematocrit of an image-derived AIF (aif = image): 0.35  [flag --hematocrit]" in listed
    assert "cross-validation folds: 10  [explicit default (StudyConfig)]" in listed  # fast sets no folds
    assert "hematocrit = 0.35" in config.to_toml()  # the config file records it
    assert main(["replicate", "--aif", "image", "--hematocrit", "1.5", "--no-progress"]) == 2
    assert "--hematocrit must be in [0, 1)" in capsys.readouterr().err
