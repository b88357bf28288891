"""A new user's walkthrough, timed from a clean venv (issue 22, "figures reported on resolving").

Run from the repository root: ``python benchmarks/walkthrough_timing.py [--offline]``.

Steps, each timed:

1. ``python -m venv`` in a fresh temporary folder;
2. the README's install line (``pip install torch==2.13.0 -e ".[torch,dask,dicom,test]"``; the
   test extra because the demo files are written by the test suite's DICOM writers); pip may
   use its cache, so this is a warm-cache figure unless the cache is empty.  ``--offline``
   adds ``--no-index`` with pip's cache only (no network);
3. ``dcemets --version`` (the first import, compiling bytecode);
4. the "Your own data" walkthrough (docs/user_guide/own_data.md): the test that simulates six
   cases, writes them as vendor DICOM + SEG/RTSTRUCT and runs every block of the page,
   ``dcemets replicate --cohort ... --folds 2 --no-dl`` and its ``--config`` rerun included.

There is no baseline a user would otherwise run; the figures are absolute seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _step(name: str, cmd: list[str], env: dict[str, str], times: dict[str, float]) -> None:
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8"
    )
    times[name] = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SystemExit(f"step '{name}' failed ({proc.returncode}):\n{tail}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--offline", action="store_true", help="pip --no-index: install from pip's cache only")
    args = p.parse_args()
    times: dict[str, float] = {}
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    with tempfile.TemporaryDirectory(prefix="dcemets-walkthrough-") as tmp:
        venv = Path(tmp) / "venv"
        _step("create venv", [sys.executable, "-m", "venv", str(venv)], env, times)
        py = str(venv / "bin" / "python")
        pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if args.offline:
            pip.append("--no-index")
        _step(
            "pip install (README line)", [*pip, "torch==2.13.0", "-e", ".[torch,dask,dicom,test]"], env, times
        )
        _step("dcemets --version (first import)", [str(venv / "bin" / "dcemets"), "--version"], env, times)
        test = "tests/io/test_cohort_replicate.py::test_own_data_walkthrough_page_runs"
        pytest = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        _step("own-data walkthrough (write files + run the page)", [*pytest, test], env, times)
    width = max(map(len, times))
    for name, seconds in times.items():
        print(f"{name:<{width}}  {seconds:7.1f} s")
    print(f"{'total':<{width}}  {sum(times.values()):7.1f} s")


if __name__ == "__main__":
    main()
