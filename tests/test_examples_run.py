"""The quick gallery examples run to the end (the docs build executes all of them, but only
``nox -s docs`` does; ``plot_segmentation.py`` read ``steps.attrs["seed_index"]``, which only
the paper's algorithm sets, for a whole release after the default algorithm changed)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["plot_segmentation.py", "plot_dro_lesion_types.py"]  # seconds each; the others train networks


@pytest.mark.parametrize("name", QUICK)
def test_example_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.switch_backend("Agg")
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    try:
        runpy.run_path(str(ROOT / "examples" / name), run_name="__main__")
    finally:
        plt.close("all")
