"""Developer sessions: ``nox -s lint tests fuzz docs bench build``, and ``deps_oldest deps_newest``.

Every session that needs PyTorch installs the CPU build pinned to 2.13.0 first: an unpinned
``torch`` would pull a multi-GB CUDA build from PyPI.  ``deps_oldest`` and ``deps_newest``
run the documented notebook flows without torch at both ends of the dependency ranges.
"""

from __future__ import annotations

import glob
import os
import re

import nox

nox.options.default_venv_backend = "virtualenv"  # plain pip sees this machine's local wheels
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
PYPROJECT = nox.project.load_toml("pyproject.toml")
# what the torch-free dependency sessions run: the documented notebook flows
DEPS_TESTS = ["tests/test_notebook_flows.py"]
# Transitive packages of the oldest pins that today's releases break under pytest's
# filterwarnings=error; each is capped to a release contemporary with the pin that needs it.
OLDEST_TRANSITIVE = [
    "pyparsing<3.3",  # matplotlib 3.7.0 calls parseString, deprecated with a warning in 3.3
]


def lower_bounds(requirements: list[str]) -> list[str]:
    """``name>=X`` -> ``name==X`` for every requirement (extras dropped: constraints can't carry them).

    >>> lower_bounds(["numpy>=1.24", "dask[array]>=2023.6", "tomli>=1.1; python_version < '3.11'"])
    ['numpy==1.24', 'dask==2023.6', "tomli==1.1 ; python_version < '3.11'"]
    """
    pins = []
    for req in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^]]*\])?\s*>=\s*([^,;\s]+)\s*(;.*)?", req)
        if match is None:
            raise ValueError(f"pyproject.toml: {req!r} has no plain lower bound (name>=X)")
        pins.append(f"{match[1]}=={match[3]}" + (f" {match[4].strip()}" if match[4] else ""))
    return pins


def _install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff (check + format), mypy on the package, import-linter layer contracts (no torch needed)."""
    session.install("-e", ".[dask,dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, doctests of dcemets/ included."""
    _install(session, "torch,dask,test")
    session.run("pytest", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The fuzz suite alone (also part of ``tests``): bad inputs to every public function.

    Prints ``fuzz: N calls, C clear errors, D documented results, K defects``; known defects
    are strict xfails listed in tests/fuzz/known_defects.py.  Under 2 minutes on one core.
    """
    _install(session, "torch,test")
    session.run("pytest", "tests/fuzz", "-p", "no:cacheprovider", "-r", "fE", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Sphinx site with the executed example gallery, warnings as errors."""
    _install(session, "torch,dask,docs")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run every script in benchmarks/ (each prints figures and ratios against its baseline).

    PyRadiomics is installed here, outside the project's dependencies, so that the radiomics
    benchmark can compare against it.
    """
    _install(session, "torch,dask,test")
    session.install("numpy", "wheel", "setuptools")
    # a failed install is tolerated: the radiomics benchmark then reports the peer as skipped
    session.install("--no-build-isolation", "pyradiomics==3.0.1", success_codes=[0, 1, 2])
    scripts = sorted(glob.glob(os.path.join("benchmarks", "bench_*.py")))
    for script in scripts:
        session.run("python", script, *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and wheel."""
    session.install("build")
    session.run("python", "-m", "build")


@nox.session
def deps_oldest(session: nox.Session) -> None:
    """The notebook flows with every dependency at the lower bound of pyproject.toml (no torch).

    A constraints file pins each ``name>=X`` of ``[project] dependencies`` to ``name==X``.
    """
    pins = lower_bounds(PYPROJECT["project"]["dependencies"])
    constraints = os.path.join(session.create_tmp(), "constraints-oldest.txt")
    with open(constraints, "w", encoding="utf-8") as fh:
        fh.write("\n".join(pins + OLDEST_TRANSITIVE) + "\n")
    session.log("constraints: " + ", ".join(pins + OLDEST_TRANSITIVE))
    session.install("-c", constraints, "-e", ".", "pytest")
    session.run("python", "-m", "pip", "freeze", silent=False)
    session.run("pytest", "-p", "no:cacheprovider", *(session.posargs or DEPS_TESTS))


@nox.session
def deps_newest(session: nox.Session) -> None:
    """The notebook flows with the newest releases that pyproject.toml allows (no torch)."""
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".", "pytest")
    session.run("python", "-m", "pip", "freeze", silent=False)
    session.run("pytest", "-p", "no:cacheprovider", *(session.posargs or DEPS_TESTS))
