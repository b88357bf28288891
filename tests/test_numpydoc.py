"""Every public class, function and method passes numpydoc's validation (issue 17 item 8).

The public names are those of ``tests/test_examples_present.py`` (each package's ``__all__``)
and of ``dcemets.geometry``, with the public methods each class defines (those its API page
lists).  Every numpydoc check is enforced except the few in :data:`EXCLUDED`, each with its
reason; ``docs/conf.py`` sets ``numpydoc_validation_checks`` to the same policy (checked
below), so the Sphinx build warns, and with ``-W`` fails, on the same defects.

Records (dataclasses and NamedTuples) document their fields under ``Attributes``, not
``Parameters``: numpydoc reports PR01 for them, which is accepted only when every field of
the record is listed, with a description, under its ``Attributes`` section.  Sphinx cannot
make that check: ``docs/conf.py`` skips PR01 for any docstring with an ``Attributes``
section (:data:`SPHINX_OVERRIDES`) and leaves the full check to this test.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import re
from pathlib import Path

from numpydoc.docscrape import NumpyDocString, get_doc_object
from numpydoc.validate import validate

_HERE = Path(__file__).parent

EXCLUDED = {
    "SA01": "a See Also section is not required",
    "ES01": "an extended summary is not required",
    # NB the API pages do not render the hints (docs/conf.py: autodoc_typehints = "none"), so
    # the ~50 parameters documented without a type show none there: an open gap
    "PR04": "parameter types are in the signatures' type hints (help(), IDEs, type checkers)",
    "EX01": "covered by tests/test_examples_present.py, with its documented exemptions",
}

# docs/conf.py's numpydoc_validation_exclude: the metadata-routing methods scikit-learn
# generates on every estimator (set_fit_request ...) carry scikit-learn's own docstrings
SPHINX_EXCLUDE = {r"\.set_\w+_request$"}

# docs/conf.py's numpydoc_validation_overrides: a record's PR01 (see the module docstring)
SPHINX_OVERRIDES = {"PR01": [r"(?m)^\s*Attributes\s*\n\s*-{3,}\s*$"]}


def _public_objects() -> dict[str, object]:
    """Dotted name -> object of every public definition and of its classes' own methods.

    The packages' names are enumerated as tests/test_examples_present.py does, plus those
    of ``dcemets.geometry`` (which has an API page too).
    """
    spec = importlib.util.spec_from_file_location("_examples_present", _HERE / "test_examples_present.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    geometry = importlib.import_module("dcemets.geometry")
    names = module._public() + [
        f"dcemets.geometry.{n}"
        for n in geometry.__all__
        if inspect.isfunction(getattr(geometry, n)) or inspect.isclass(getattr(geometry, n))
    ]
    out: dict[str, object] = {}
    for full in names:
        pkg, name = full.rsplit(".", 1)
        obj = getattr(importlib.import_module(pkg), name)
        out[full] = obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if not attr.startswith("_") and inspect.isfunction(member):
                    out[f"{full}.{attr}"] = member
    return out


def _record_fields(obj: object) -> list[str] | None:
    """The constructor fields of a dataclass or NamedTuple class, else None."""
    if not inspect.isclass(obj):
        return None
    if dataclasses.is_dataclass(obj):
        return [f.name for f in dataclasses.fields(obj) if f.init]
    if issubclass(obj, tuple) and hasattr(obj, "_fields"):
        return list(obj._fields)
    return None


def _attributes(obj: object) -> dict[str, str]:
    """Name -> description of the entries of the numpydoc Attributes section of ``obj``."""
    doc = NumpyDocString(inspect.getdoc(obj) or "")
    out = {}
    for entry in doc["Attributes"]:
        for name in entry.name.split(","):
            out[name.strip()] = " ".join(entry.desc).strip()
    return out


def _errors(obj: object, *, by_name: bool = True) -> list[str]:
    """The enforced numpydoc errors of one object, as ``"CODE: message"`` lines.

    Public objects are validated by their dotted name, as numpydoc's own tools do; the
    test's local examples, which cannot be imported by name, through their doc object.
    """
    target = f"{obj.__module__}.{obj.__qualname__}" if by_name else get_doc_object(obj)
    report = validate(target)
    out = []
    for code, message in report["errors"]:
        if code in EXCLUDED:
            continue
        fields = _record_fields(obj)
        if code == "PR01" and fields is not None:
            listed = _attributes(obj)
            missing = [f for f in fields if not listed.get(f)]
            if missing:
                out.append(f"PR01: record fields not described under Attributes: {missing}")
            continue
        out.append(f"{code}: {message}")
    return out


def test_public_docstrings_pass_numpydoc_validation():
    failures = {}
    for full, obj in _public_objects().items():
        errors = _errors(obj)
        if errors:
            failures[full] = errors
    report = "\n".join(f"{full}:\n    " + "\n    ".join(errs) for full, errs in failures.items())
    assert not failures, f"numpydoc validation errors:\n{report}"


def _bad(x, y):
    """computes things"""
    return x


@dataclasses.dataclass
class _BadRecord:
    """A record that forgets one field.

    Attributes
    ----------
    a : int
        Documented.
    """

    a: int
    b: int


@dataclasses.dataclass
class _GoodRecord:
    """A record that lists its fields.

    Attributes
    ----------
    a, b : int
        Both documented.
    """

    a: int
    b: int


def test_checker_is_not_vacuous():
    """A bad docstring fails the check; a record is judged by its Attributes section."""
    codes = {e.split(":")[0] for e in _errors(_bad, by_name=False)}
    assert {"SS02", "SS03", "SS05", "PR01", "RT01"} <= codes
    assert _errors(_BadRecord, by_name=False) == ["PR01: record fields not described under Attributes: ['b']"]
    assert _errors(_GoodRecord, by_name=False) == []


def _conf_value(tree: ast.Module, setting: str) -> object:
    values = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id == setting
    ]
    assert len(values) == 1, f"docs/conf.py must set {setting} once"
    return ast.literal_eval(values[0])


def test_docs_conf_uses_the_same_policy():
    """docs/conf.py enforces every check except exactly :data:`EXCLUDED`, with our exceptions."""
    tree = ast.parse((_HERE.parent / "docs" / "conf.py").read_text(encoding="utf-8"))
    assert _conf_value(tree, "numpydoc_validation_checks") == {"all", *EXCLUDED}
    assert _conf_value(tree, "numpydoc_validation_exclude") == SPHINX_EXCLUDE
    assert _conf_value(tree, "numpydoc_validation_overrides") == SPHINX_OVERRIDES


def test_sphinx_exceptions_match_what_they_are_for():
    """The override skips PR01 of a record's docstring; the exclusion names routing methods."""
    (pattern,) = SPHINX_OVERRIDES["PR01"]
    assert re.search(pattern, inspect.getdoc(_GoodRecord) or "")
    assert not re.search(pattern, inspect.getdoc(_bad) or "")
    (name,) = SPHINX_EXCLUDE
    assert re.search(name, "dcemets.models.MapCNNClassifier.set_fit_request")
    assert not re.search(name, "dcemets.study.StudyCache.fold_store")
