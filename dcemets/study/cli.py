"""The ``dcemets`` command line: ``replicate``, ``simulate``, ``segment``, ``features``.

One concept: the command line (each sub-command's options, the library call they make,
and how its errors are reported).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


class CLIError(Exception):
    """An error the user can fix; printed as one line."""


def _cohort_args(sp: argparse.ArgumentParser, simulate_flag: bool) -> None:
    """The options that choose the cohort, its seed, the workers and the progress bars."""
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--cohort", type=Path, help="cohort folder with manifest.csv (see dcemets.io.load_cohort)")
    if simulate_flag:
        g.add_argument(
            "--simulate", action="store_true", help="simulate the paper's 61-case cohort (default)"
        )
    sp.add_argument("--seed", type=int, default=None, help="master seed (default 0)")
    sp.add_argument("--jobs", type=int, default=None, help="worker processes (default: number of cores)")
    sp.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _keep_going(sp: argparse.ArgumentParser) -> None:
    """``--keep-going``: leave out a failing case instead of stopping."""
    sp.add_argument(
        "--keep-going",
        action="store_true",
        help="leave out a case that fails (reported at once and in the report) instead of stopping",
    )


def _add_replicate(sub: Any) -> None:
    """``dcemets replicate``: the whole study and Tables 1-3 beside the paper's."""
    r = sub.add_parser("replicate", help="run the whole study and print Tables 1-3 beside the paper's")
    _cohort_args(r, True)
    r.add_argument("--preset", default=None, help="fast | cpu | paper (default cpu)")
    r.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a run's config.toml (written beside every report): rerun it exactly; other flags override it",
    )
    r.add_argument(
        "--out", type=Path, default=Path("dcemets-out"), help="output folder (default ./dcemets-out)"
    )
    r.add_argument("--device", default="auto", help="auto | cpu | cuda (deep-learning stage)")
    r.add_argument(
        "--scheduler", default=None, help="address of a dask.distributed scheduler for the per-case stage"
    )
    r.add_argument(
        "--n-cases", type=int, default=None, help="simulate a smaller cohort with the paper's proportions"
    )
    r.add_argument("--tr-s", type=float, default=None, help="TR (s) for cases whose DCE does not give it")
    r.add_argument(
        "--flip-angle-deg",
        type=float,
        default=None,
        help="flip angle (deg) for cases whose DCE does not give it",
    )
    r.add_argument(
        "--r1", type=float, default=None, help="relaxivity (1/(mM s)) when the data give none (default 3.7)"
    )
    r.add_argument("--t10-s", type=float, default=None, help="assumed pre-contrast T1 (s) (default 1.5)")
    r.add_argument(
        "--aif",
        default=None,
        help="AIF of the hot-spot Tofts fit: a population AIF, parker (default), georgiou, weinmann, "
        "fritz_hansen, or image (each case's image-derived AIF, converted to plasma with --hematocrit)",
    )
    r.add_argument(
        "--hematocrit",
        type=float,
        default=None,
        help="haematocrit of the blood-to-plasma conversion of --aif image (default 0.42)",
    )
    r.add_argument(
        "--paper-hotspot",
        action="store_true",
        help="the paper-mimicking hot spot without guards (StudyConfig.hotspot={'guards': False})",
    )
    r.add_argument(
        "--motion-correction",
        action="store_true",
        help="correct motion between the frames (registration on the lesion's region, onto the first "
        "frame) before segmentation (StudyConfig.motion_correction; off by default, as in the paper)",
    )
    r.add_argument(
        "--no-dl",
        action="store_true",
        help="skip the deep-learning stage (StudyConfig.dl['enabled'] = False): Table 3 without the networks",
    )
    r.add_argument(
        "--folds",
        type=int,
        default=None,
        help="cross-validation folds of the cohort analyses (default: the preset's, 10 as in the paper); "
        "each class needs at least this many cases",
    )
    _keep_going(r)


def _add_simulate(sub: Any) -> None:
    """``dcemets simulate``: a simulated cohort written as NIfTI + manifest.csv."""
    s = sub.add_parser("simulate", help="simulate a cohort and save it as NIfTI + manifest.csv")
    s.add_argument("--out", type=Path, required=True, help="folder to write the cohort into")
    s.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: number of cores)")
    s.add_argument(
        "--n-cases", type=int, default=None, help="cohort size, the paper's proportions (default: its 61)"
    )
    s.add_argument(
        "--grid",
        default="half",
        help="half (128 x 96 in-plane, default) | full (the paper's 256 x 192 matrix)",
    )
    s.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_segment(sub: Any) -> None:
    """``dcemets segment``: the lesion masks of a cohort folder."""
    g = sub.add_parser("segment", help="segment the lesion of every case of a cohort folder")
    _cohort_args(g, False)
    g.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for the lesion masks (NIfTI) and segmentation.csv (voxels; Dice against a stored mask)",
    )


def _add_features(sub: Any) -> None:
    """``dcemets features``: the per-case stage of a cohort folder."""
    f = sub.add_parser(
        "features", help="per-case stage: heuristics, Tofts, maps and the 99 radiomics features"
    )
    _cohort_args(f, False)
    f.add_argument("--out", type=Path, required=True, help="folder for cases.csv and features.csv")
    _keep_going(f)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dcemets",
        description="DCE-MRI analysis of spinal metastases (Lang et al. 2019) on simulated or real cohorts.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    for add in (_add_replicate, _add_simulate, _add_segment, _add_features):
        add(sub)
    return p


def _jobs(n: int | None) -> int:
    import os

    if n is None:
        return max(1, os.cpu_count() or 1)
    if n < 1:
        raise CLIError(f"--jobs must be >= 1, got {n}")
    return n


def _composition(n: int | None) -> dict[str, int] | None:
    """The paper's proportions scaled to `n` cases, summing to exactly `n` (largest remainders).

    Both classes keep at least 2 cases (the cohort analyses need them); with few cases the
    rarest primaries drop out rather than the total growing.
    """
    if n is None:
        return None
    from dcemets.simulate import PAPER_COMPOSITION

    if n < 4:
        raise CLIError(f"--n-cases must be >= 4, got {n}")
    total = sum(PAPER_COMPOSITION.values())
    quota = {k: v * n / total for k, v in PAPER_COMPOSITION.items()}
    comp = {k: int(q) for k, q in quota.items()}
    for k in sorted(quota, key=lambda k: quota[k] - comp[k], reverse=True)[: n - sum(comp.values())]:
        comp[k] += 1
    # at least 2 cases per class: move cases from the largest primary of the other class
    for label_is_lung in (True, False):
        while sum(v for k, v in comp.items() if (k == "lung") == label_is_lung) < 2:
            donor = max((k for k in comp if (k == "lung") != label_is_lung), key=lambda k: comp[k])
            comp[donor] -= 1
            receiver = (
                "lung"
                if label_is_lung
                else max((k for k in comp if k != "lung"), key=lambda k: PAPER_COMPOSITION[k])
            )
            comp[receiver] += 1
    return {k: v for k, v in comp.items() if v > 0}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dcemets")
    except Exception:  # noqa: BLE001 - a source tree without metadata
        return "unknown"


def _load(args: argparse.Namespace) -> list:
    from dcemets import io

    if getattr(args, "cohort", None) is None:
        raise CLIError("give --cohort DIR (a folder with manifest.csv)")
    if not Path(args.cohort).is_dir():
        raise CLIError(f"cohort folder not found: {args.cohort}")
    try:
        return io.load_cohort(args.cohort, progress=not args.no_progress)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CLIError(str(exc).splitlines()[0]) from exc


_FLAG_OF_FIELD = {
    "n_splits": "--folds",
    "r1_per_mM_s": "--r1",
    "tr_s": "--tr-s",
    "flip_angle_deg": "--flip-angle-deg",
    "t10_s": "--t10-s",
    "aif": "--aif",
    "hematocrit": "--hematocrit",
    "n_jobs": "--jobs",
    "seed": "--seed",
    "device": "--device",
}


def _robust_stream(stream: Any) -> Any:
    r"""Make a text stream that cannot encode "±" escape what it cannot encode instead of failing.

    An ASCII stdout (``LC_ALL=C``, ``PYTHONUTF8=0``) otherwise raises UnicodeEncodeError on the
    tables' "mean ± SD"; ``errors="backslashreplace"`` prints ``\xb1`` there instead.
    """
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "±".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    return stream


#: The settings listed by ``dcemets replicate`` before it runs: (StudyConfig field, label).
_LISTED = (
    ("name", "preset"),
    ("n_splits", "cross-validation folds"),
    ("seed", "seed"),
    ("n_jobs", "worker processes"),
    ("device", "device (deep-learning stage)"),
    ("tr_s", "TR (s), for cases whose data lack it"),
    ("flip_angle_deg", "flip angle (deg), for cases whose data lack it"),
    ("r1_per_mM_s", "relaxivity r1 (1/(mM s)), when the data give none"),
    ("t10_s", "T10 (s) of the hot-spot Tofts fit"),
    ("aif", "AIF of the hot-spot Tofts fit"),
    ("hematocrit", "haematocrit of an image-derived AIF (aif = image)"),
    ("motion_correction", "motion correction"),
    ("hotspot", "hot-spot guards"),
    ("dl", "deep-learning stage"),
)


def _format_parameters(config: Any, sources: dict[str, str]) -> str:
    """The settings of a run, one per line, each with where it came from."""
    lines = ["Parameters of this run (value: source)"]
    for key, label in _LISTED:
        value = getattr(config, key)
        if key in ("tr_s", "flip_angle_deg") and value is None:
            value = "none: read from each case's data, a case without it is an error"
        lines.append(f"  {label}: {value}  [{sources.get(key, 'default')}]")
    return "\n".join(lines)


def _acquisition_summary(result: Any) -> str:
    """Per acquisition parameter: the values used, where they came from, and for how many cases."""

    def fmt(v: Any) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines = ["Acquisition parameters used (value: source, number of cases)"]
    per_param: dict[str, dict[str, list]] = {}
    for r in result.cases:
        for key, entry in r.quality.get("acquisition", {}).items():
            per_param.setdefault(key, {}).setdefault(entry["source"], []).append(entry["value"])
    for key, by_source in per_param.items():
        parts = []
        for source, values in by_source.items():
            distinct = sorted(set(values), key=str)
            if len(distinct) > 3 and all(isinstance(v, float) for v in distinct):
                shown = f"{fmt(min(distinct))} to {fmt(max(distinct))}"
            else:
                shown = ", ".join(fmt(v) for v in distinct)
            parts.append(f"{shown} ({source}, {len(values)})")
        lines.append(f"  {key}: {'; '.join(parts)}")
    return "\n".join(lines)


def _replicate_config(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """The run's cohort settings and StudyConfig: from --config, a preset, and explicit flags.

    Records in ``args.sources`` where each listed setting came from (flag, config file, preset).
    """
    import dataclasses

    from dcemets.study.config import PRESETS, StudyConfig

    run: dict[str, Any] = {"cohort": None, "n_cases": None, "simulation_seed": 0, "keep_going": False}
    sources: dict[str, str] = {}
    if args.config is not None:
        if args.preset is not None:
            raise CLIError("give --config or --preset, not both (the config file holds every setting)")
        data = _read_toml(args.config)
        unknown = sorted(set(data) - {"run", "study"})
        if unknown or "study" not in data:
            raise CLIError(f"{args.config}: needs a [study] table (and optionally [run]), got {sorted(data)}")
        run.update({k: v for k, v in data.get("run", {}).items() if k in run})
        try:
            config = StudyConfig.from_dict(data["study"])
        except (TypeError, ValueError) as exc:
            raise CLIError(f"{args.config}: [study]: {exc}") from exc
        sources = {key: f"config file {args.config}" for key, _ in _LISTED}
    else:
        preset = args.preset or "cpu"
        if preset not in PRESETS:
            raise CLIError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
        config = StudyConfig.preset(preset, n_jobs=_jobs(None))
        where = "--preset" if args.preset else "default preset"
        defaults = StudyConfig()
        for key, _ in _LISTED:
            if key == "name":
                sources[key] = "flag --preset" if args.preset else "default (preset cpu)"
            elif key == "n_jobs":
                sources[key] = "default (number of cores)"
            elif key in PRESETS[preset]:
                sources[key] = f"{where} {preset}"
            else:
                explicit = getattr(defaults, key) is not None
                sources[key] = "explicit default (StudyConfig)" if explicit else "default (none)"
    if args.cohort is not None:
        run["cohort"] = str(Path(args.cohort).resolve())
    elif args.simulate:
        run["cohort"] = None
    if args.n_cases is not None:
        run["n_cases"] = args.n_cases
    if args.seed is not None:
        run["simulation_seed"] = args.seed
    if args.keep_going:
        run["keep_going"] = True
    if args.device not in ("auto", "cpu", "cuda"):
        raise CLIError(f"--device must be auto, cpu or cuda, got {args.device!r}")
    flags = {
        "n_splits": args.folds,
        "tr_s": args.tr_s,
        "flip_angle_deg": args.flip_angle_deg,
        "r1_per_mM_s": args.r1,
        "t10_s": args.t10_s,
        "aif": args.aif,
        "hematocrit": args.hematocrit,
        "hotspot": {**config.hotspot, "guards": False} if args.paper_hotspot else None,
        "motion_correction": True if args.motion_correction else None,
        "dl": {**config.dl, "enabled": False} if args.no_dl else None,
        "n_jobs": None if args.jobs is None else _jobs(args.jobs),
        "seed": args.seed,
        "device": None if args.device == "auto" and args.config is not None else args.device,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    flag_names = {
        **_FLAG_OF_FIELD,
        "hotspot": "--paper-hotspot",
        "motion_correction": "--motion-correction",
        "dl": "--no-dl",
    }
    for key in overrides:
        if key == "device" and args.device == "auto":
            continue  # the parser's default, not a choice of the user
        sources[key] = f"flag {flag_names[key]}"
    args.sources = sources
    try:
        config = dataclasses.replace(config, **overrides)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        for field, flag in _FLAG_OF_FIELD.items():
            msg = msg.replace(f"`{field}`", flag)
        raise CLIError(msg) from exc
    args.keep_going = run["keep_going"]
    return run, config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise CLIError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"{path} is not valid TOML: {exc}") from exc


def _write_run_config(path: Path, run: dict[str, Any], config: Any) -> Path:
    """Write the run's complete settings, so that `dcemets replicate --config` reruns it."""
    import json

    from dcemets.study.config import _toml_table

    run_table = {k: v for k, v in run.items() if v is not None}
    header = (
        f"# dcemets {_version()}: the complete settings of this run.\n"
        f"# Rerun it exactly with: dcemets replicate --config {json.dumps(str(path))}\n"
        "# (a simulated cohort is simulated again from [run]; a real one is read from its folder)\n\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + _toml_table("run", run_table) + "\n" + config.to_toml(), encoding="utf-8")
    return path


def _replicate(args: argparse.Namespace) -> int:
    from dcemets.study.pipeline import run_study
    from dcemets.study.report import format_tables, write_report

    run, config = _replicate_config(args)
    print(_format_parameters(config, args.sources), flush=True)
    jobs = config.n_jobs
    progress = not args.no_progress
    t0 = time.perf_counter()
    if run.get("cohort") is not None:
        args.cohort = Path(run["cohort"])
        cohort = _load(args)
    else:
        from dcemets.simulate import simulate_cohort

        cohort = simulate_cohort(
            composition=_composition(run["n_cases"]),
            rng=run["simulation_seed"],
            n_jobs=jobs,
            progress=progress,
        )
    client = None
    if args.scheduler:
        from distributed import Client

        try:
            client = Client(args.scheduler, timeout="10s")
        except OSError as exc:
            raise CLIError(f"cannot reach the dask scheduler at {args.scheduler}: {exc}") from exc
    try:
        result = run_study(
            cohort,
            config=config,
            out=args.out / "cache",
            client=client,
            progress=progress,
            on_error="skip" if run["keep_going"] else "raise",
        )
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc).splitlines()[0]) from exc
    finally:
        if client is not None:
            client.close()
    print(format_tables(result))
    print(_acquisition_summary(result))
    path = write_report(result, args.out, cohort=cohort)
    config_path = _write_run_config(args.out / "config.toml", run, config)
    print(f"config: {config_path} (rerun with: dcemets replicate --config {config_path})")
    print(f"\nreport: {path}  ({time.perf_counter() - t0:.0f} s in all)")
    if result.loaded:
        print(f"cache: {len(result.loaded)} of {len(result.cases)} cases read back from {args.out / 'cache'}")
    for method, n in result.checkpoints.items():
        if n["loaded"]:
            print(f"cache: {method}: {n['loaded']} folds read back, {n['computed']} computed")
    for sid, err in result.failures.items():
        print(f"warning: case {sid} skipped: {err}", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from dcemets import io
    from dcemets.simulate import simulate_cohort

    if args.grid not in ("half", "full"):
        raise CLIError(f"--grid must be half or full, got {args.grid!r}")
    cohort = simulate_cohort(
        composition=_composition(args.n_cases),
        rng=args.seed,
        n_jobs=_jobs(args.jobs),
        progress=not args.no_progress,
        grid=args.grid,
    )
    path = io.save_cohort(cohort, args.out, progress=not args.no_progress)
    print(f"{len(cohort)} cases written to {path}")
    return 0


def _segment(args: argparse.Namespace) -> int:
    import pandas as pd

    from dcemets import io, segmentation

    cases = _load(args)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    from tqdm.auto import tqdm

    for case in tqdm(cases, desc="segmenting", disable=args.no_progress):
        if case.roi_sagittal is None:
            print(f"warning: case {case.subject_id} has no sagittal ROI; skipped", file=sys.stderr)
            continue
        try:
            mask = segmentation.segment_lesion(case.dce, case.roi_sagittal, rng=args.seed or 0)
        except ValueError as exc:
            print(f"warning: case {case.subject_id} skipped: {exc}", file=sys.stderr)
            continue
        io.write_image(mask.astype("uint8"), args.out / f"{case.subject_id}_lesion_seg.nii.gz")
        row = {"subject_id": case.subject_id, "voxels": int(mask.sum())}
        if case.lesion_mask is not None:
            row["dice"] = float(segmentation.dice(mask, case.lesion_mask))
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "segmentation.csv", index=False)
    print(table.to_string(index=False))
    return 0


def _features(args: argparse.Namespace) -> int:
    import pandas as pd

    from dcemets.study.config import StudyConfig
    from dcemets.study.pipeline import run_cases

    cases = _load(args)
    config = StudyConfig.preset("fast", seed=args.seed or 0, n_jobs=_jobs(args.jobs), dl={"enabled": False})
    try:
        runs = run_cases(
            cases,
            config=config,
            out=args.out / "cache",
            progress=not args.no_progress,
            on_error="skip" if args.keep_going else "raise",
        )
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc).splitlines()[0]) from exc
    ok = runs.results
    if not ok:
        raise CLIError("no case could be processed")
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([r.row() for r in ok]).to_csv(args.out / "cases.csv", index=False)
    feats = pd.DataFrame({r.subject_id: r.features for r in ok}).T
    feats.index.name = "subject_id"
    feats.to_csv(args.out / "features.csv")
    n_new = len(runs.computed)
    print(f"{len(ok)} cases: {args.out / 'cases.csv'}, {args.out / 'features.csv'}")
    print(f"cache: {n_new} computed, {len(ok) - n_new} read back from {args.out / 'cache'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dcemets`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a usage or data error (printed as one line).

    Examples
    --------
    A usage error is one line on stderr ("dcemets simulate: error: --n-cases must be >= 4,
    got 2") and exit status 2, never a traceback:

    >>> main(["simulate", "--n-cases", "2", "--out", "never-written"])
    2
    """
    _robust_stream(sys.stdout)
    _robust_stream(sys.stderr)
    args = _parser().parse_args(argv)
    handlers = {"replicate": _replicate, "simulate": _simulate, "segment": _segment, "features": _features}
    try:
        return handlers[args.command](args)
    except CLIError as exc:
        print(f"dcemets {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"dcemets {args.command}: interrupted (finished cases are cached; run again to resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
