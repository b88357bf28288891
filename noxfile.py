"""Developer sessions: ``nox -s lint tests fuzz docs bench build``.

Every session installs the CPU build of PyTorch pinned to 2.13.0 first: an unpinned ``torch``
would pull a multi-GB CUDA build from PyPI.
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "virtualenv"  # plain pip sees this machine's local wheels
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"


def _install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff (check + format), mypy on the package, import-linter layer contracts."""
    _install(session, "torch,dask,dev")
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
