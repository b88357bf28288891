"""Sphinx configuration for the dcemets documentation."""

from __future__ import annotations

import importlib
import os
import shutil
import warnings
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

project = "dcemets"
author = "dcemets developers"
copyright = "2026, dcemets developers"
try:
    from importlib.metadata import version as _v

    release = _v("dcemets")
except Exception:  # noqa: BLE001  # pragma: no cover
    release = "0+unknown"

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.extlinks",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "**.md5",
    "sg_execution_times.rst",
]

templates_path = ["_templates"]
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# every numpydoc check except these (the same policy, with the reason for each exclusion, is
# EXCLUDED in tests/test_numpydoc.py, which checks that this line names the same codes):
# SA01 See Also, ES01 extended summary, PR04 parameter types (in the type hints, which
# autodoc_typehints = "none" keeps off the API pages: a parameter without a docstring type shows none),
# EX01 Examples (tests/test_examples_present.py checks them, with its exemptions)
numpydoc_validation_checks = {"all", "SA01", "ES01", "PR04", "EX01"}
# scikit-learn generates set_fit_request ... on every estimator, with its own docstrings
numpydoc_validation_exclude = {r"\.set_\w+_request$"}
# a record (dataclass, NamedTuple) lists its fields under Attributes, which numpydoc reports as
# PR01; tests/test_numpydoc.py checks that every field is listed there, which Sphinx cannot
numpydoc_validation_overrides = {"PR01": [r"(?m)^\s*Attributes\s*\n\s*-{3,}\s*$"]}
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = "dcemets"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

intersphinx_mapping: dict[str, tuple[str, None]] = {}
extlinks = {"doi": ("https://doi.org/%s", "doi:%s"), "arxiv": ("https://arxiv.org/abs/%s", "arXiv:%s")}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "reset_modules": ("matplotlib",),
}

suppress_warnings = ["config.cache"]
warnings.filterwarnings("ignore", message=".*is non-interactive.*")

# --- API reference pages, generated from each subpackage's public ``__all__`` -----------------
_MODULES = {
    "geometry": "DataArrays with geometry: build, check, and map voxel indices to world coordinates.",
    "io": "Files <-> DataArrays through SimpleITK (NIfTI, NRRD, DICOM, netCDF) and cohorts.",
    "kinetics": "Hot-spot heuristics, parametric maps, concentration, AIFs and Tofts fitting.",
    "simulate": "Synthetic DCE spine cohorts with ground truth.",
    "segmentation": "Sagittal ROI -> axial search region -> normalized cut -> region growing.",
    "registration": "Motion correction: rigid registration of the DCE frames (SimpleITK).",
    "radiomics": "Histogram and IBSI-checked GLCM features on the DCE maps.",
    "classify": "Scikit-learn estimators: CHAID, forest ranking, hot-spot models.",
    "models": "PyTorch CNN and ConvLSTM with scikit-learn wrappers.",
    "evaluation": "Diagnostic metrics, cross-validation, group comparisons.",
    "study": "The end-to-end pipeline, the ``dcemets`` command line and the report.",
}


def _write_api_pages() -> None:
    api = Path(__file__).parent / "api"
    api.mkdir(exist_ok=True)
    shutil.rmtree(api / "generated", ignore_errors=True)  # no stale pages of removed names
    entries = []
    top = ["validate_dce", "validate_image", "make_dce", "make_image", "world_coordinates"]
    lines = [
        "dcemets",
        "=======",
        "",
        ".. currentmodule:: dcemets",
        "",
        ".. autosummary::",
        "   :toctree: generated",
        "",
    ]
    lines += [f"   {n}" for n in top]
    (api / "dcemets.rst").write_text("\n".join(lines) + "\n", encoding="utf-8")
    entries.append("dcemets")
    for name, blurb in _MODULES.items():
        # a layer that fails to import must fail the build, not lose its API page silently
        mod = importlib.import_module(f"dcemets.{name}")
        names = sorted(getattr(mod, "__all__", []))
        # functions and classes get pages; data (tables, presets, name lists) is listed
        documented = [n for n in names if callable(getattr(mod, n)) and not isinstance(getattr(mod, n), dict)]
        data = [n for n in names if n not in documented]
        title = f"dcemets.{name}"
        lines = [title, "=" * len(title), "", blurb, "", f".. currentmodule:: dcemets.{name}", ""]
        if documented:
            lines += [".. autosummary::", "   :toctree: generated", ""] + [f"   {n}" for n in documented]
        if data:
            lines += ["", "Constants: " + ", ".join(f"``{n}``" for n in data) + " (see the module source)."]
        (api / f"{name}.rst").write_text("\n".join(lines) + "\n", encoding="utf-8")
        entries.append(name)
    idx = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", ""] + [
        f"   {e}" for e in entries
    ]
    (api / "index.rst").write_text("\n".join(idx) + "\n", encoding="utf-8")


_write_api_pages()
