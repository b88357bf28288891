"""The fuzz check: call once, classify the outcome, check that no input changed.

Outcome classes
---------------
``clear_error``
    A ``ValueError`` or ``TypeError`` (or a subclass) whose message names the corrupted
    argument (or one of its documented aliases) and whose **raise site is in dcemets**: the
    innermost frame of the traceback lies in the ``dcemets`` package.  An error that a
    dcemets function turns into its own with ``raise ... from exc`` passes (the raise site
    is the dcemets ``raise``); one that escapes from numpy/xarray/sklearn does not, even
    when its type and message happen to fit.  One documented exception: the ``fit``/
    ``predict`` methods of dcemets' scikit-learn estimators validate ``X``/``y`` with
    scikit-learn's ``validate_data`` as the estimator contract requires (its estimator checks
    test those messages), so ``sklearn/utils/validation.py`` counts as their raise site
    (the message must still name the argument).
``documented_result``
    A return value, where the registry documents that the corrupted input is accepted, and
    the value holds no NaN/inf (unless the entry documents them).

Defects (anything else)
-----------------------
``unclear_error`` (the message does not name the argument), ``deep_error`` (raised from
numpy/xarray/... rather than dcemets), ``wrong_exception`` (another exception class),
``silent_result`` (the bad input was accepted without a documented reason),
``silent_nan`` (a documented result holds NaN/inf), ``warning_not_error`` (a
``RuntimeWarning`` escaped and the result is NaN: the user got a warning where an error
was due; a warning with a finite result is not a defect), ``mutated_input``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

import dcemets

DCEMETS_DIR = Path(dcemets.__file__).resolve().parent

COUNTS: Counter[str] = Counter()
"""Outcome counts of the session (printed by ``conftest.pytest_terminal_summary``)."""

DEFECT_CLASSES = (
    "unclear_error",
    "deep_error",
    "wrong_exception",
    "silent_result",
    "silent_nan",
    "warning_not_error",
    "mutated_input",
)


@dataclasses.dataclass
class Outcome:
    """Result of one fuzz call."""

    kind: str
    detail: str = ""

    @property
    def is_defect(self) -> bool:
        return self.kind in DEFECT_CLASSES


# --------------------------------------------------------------------------------------
# finiteness
# --------------------------------------------------------------------------------------


def nonfinite(value: Any, path: str = "result", depth: int = 0, skip: tuple[str, ...] = ()) -> str | None:
    """Return where `value` holds NaN/inf (a path like ``result.ktrans``), else None.

    Parts of the result whose path matches one of the regular expressions `skip` (from its
    start) are not looked at (documented NaN, e.g. map voxels outside the mask).
    """
    if depth > 6 or value is None or any(re.match(p, path) for p in skip):
        return None
    if isinstance(value, (bool, np.bool_, str, bytes, Path)):
        return None
    if isinstance(value, (float, complex, np.floating, np.complexfloating)):
        return None if np.isfinite(value) else path
    if isinstance(value, xr.Dataset):
        for k, v in value.data_vars.items():
            if (w := nonfinite(v, f"{path}.{k}", depth + 1, skip)) is not None:
                return w
        return None
    if isinstance(value, xr.DataArray):
        return nonfinite(value.values, path, depth + 1, skip)
    if isinstance(value, (pd.Series, pd.DataFrame)):
        num = value.select_dtypes("number") if isinstance(value, pd.DataFrame) else value
        if isinstance(num, pd.Series) and not pd.api.types.is_numeric_dtype(num.dtype):
            vals = [v for v in num.to_numpy() if isinstance(v, (float, np.floating))]
            arr = np.asarray(vals, float)
        else:
            arr = np.asarray(num.to_numpy(), dtype=float) if num.size else np.zeros(0)
        if arr.size and not np.all(np.isfinite(arr)):
            bad = num[~np.isfinite(np.asarray(num.to_numpy(), float))] if isinstance(num, pd.Series) else None
            where = list(bad.index[:3]) if bad is not None and len(bad) else ""
            return f"{path}{where}"
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and value.size and not np.all(np.isfinite(value)):
            return path
        if value.dtype == object:
            for i, v in enumerate(value.reshape(-1)[:1000]):
                if (w := nonfinite(v, f"{path}[{i}]", depth + 1, skip)) is not None:
                    return w
        return None
    if type(value).__module__.startswith("torch") and hasattr(value, "isfinite"):
        return None if bool(value.isfinite().all()) else path
    if isinstance(value, Mapping):
        for k, v in value.items():
            if (w := nonfinite(v, f"{path}[{k!r}]", depth + 1, skip)) is not None:
                return w
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value[:1000]):
            if (w := nonfinite(v, f"{path}[{i}]", depth + 1, skip)) is not None:
                return w
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if (w := nonfinite(getattr(value, f.name), f"{path}.{f.name}", depth + 1, skip)) is not None:
                return w
    return None


# --------------------------------------------------------------------------------------
# snapshots (inputs unchanged)
# --------------------------------------------------------------------------------------


def _file_digest(p: Path) -> Any:
    if p.is_file():
        return ("file", hashlib.sha1(p.read_bytes()).hexdigest())
    if p.is_dir():
        return (
            "dir",
            tuple(sorted((str(c.relative_to(p)), _file_digest(c)) for c in p.rglob("*") if c.is_file())),
        )
    return ("missing",)


def snapshot(value: Any) -> Any:
    """A deep copy of `value`, with the content of files/folders it names.

    A string counts as a path only when it is absolute and exists (the suite's files live in a
    temporary folder): a bare id such as ``""`` or ``"s01"`` is text, and digesting ``""`` as
    the current folder read the whole checkout (and its virtual environment) on every call.
    """
    if isinstance(value, Path) or (
        isinstance(value, str) and 0 < len(value) < 500 and os.path.isabs(value) and Path(value).exists()
    ):
        return ("path", str(value), _file_digest(Path(value)))
    return copy.deepcopy(value)


def differs(before: Any, after: Any, path: str = "arg", depth: int = 0) -> str | None:
    """Where `after` differs from the snapshot `before`, else None."""
    if depth > 8:
        return None
    if isinstance(before, tuple) and len(before) == 3 and before[:1] == ("path",):
        now = _file_digest(Path(before[1]))
        return None if now == before[2] else f"{path} (the file/folder content changed)"
    if type(before) is not type(after):
        return f"{path}: type {type(before).__name__} -> {type(after).__name__}"
    if isinstance(before, xr.DataArray):
        if before.dims != after.dims or before.shape != after.shape:
            return f"{path}: dims/shape {before.sizes} -> {after.sizes}"
        if before.dtype != after.dtype:
            return f"{path}: dtype {before.dtype} -> {after.dtype}"
        if before.name != after.name:
            return f"{path}: name {before.name!r} -> {after.name!r}"
        if (w := differs(before.attrs, after.attrs, f"{path}.attrs", depth + 1)) is not None:
            return w
        if set(before.coords) != set(after.coords):
            return f"{path}: coords {set(before.coords)} -> {set(after.coords)}"
        for c in before.coords:
            cb, ca = before.coords[c], after.coords[c]
            if cb.dtype != ca.dtype or not _arrays_equal(cb.values, ca.values):
                return f"{path}.coords[{c!r}] values"
            if (w := differs(cb.attrs, ca.attrs, f"{path}.coords[{c!r}].attrs", depth + 1)) is not None:
                return w
        return None if _arrays_equal(before.values, after.values) else f"{path}: values"
    if isinstance(before, xr.Dataset):
        if set(before.variables) != set(after.variables):
            return f"{path}: variables {set(before.variables)} -> {set(after.variables)}"
        for k in before.variables:
            w = differs(
                xr.DataArray(before.variables[k]),
                xr.DataArray(after.variables[k]),
                f"{path}[{k!r}]",
                depth + 1,
            )
            if w is not None:
                return w
        return differs(before.attrs, after.attrs, f"{path}.attrs", depth + 1)
    if isinstance(before, np.ndarray):
        if before.dtype != after.dtype or before.shape != after.shape:
            return f"{path}: dtype/shape {before.dtype}{before.shape} -> {after.dtype}{after.shape}"
        return None if _arrays_equal(before, after) else f"{path}: values"
    if isinstance(before, (pd.Series, pd.DataFrame, pd.Index)):
        ok = before.equals(after) and (
            before.dtypes.equals(after.dtypes)
            if isinstance(before, pd.DataFrame)
            else before.dtype == after.dtype
        )
        if ok and not isinstance(before, pd.Index):
            ok = before.index.equals(after.index) and (
                not isinstance(before, pd.DataFrame) or before.columns.equals(after.columns)
            )
        return None if ok else f"{path}: pandas content"
    if isinstance(before, Mapping):
        if set(before) != set(after):
            return f"{path}: keys {sorted(map(str, before))} -> {sorted(map(str, after))}"
        for k in before:
            if (w := differs(before[k], after[k], f"{path}[{k!r}]", depth + 1)) is not None:
                return w
        return None
    if isinstance(before, (list, tuple)):
        if len(before) != len(after):
            return f"{path}: length {len(before)} -> {len(after)}"
        for i, (b, a) in enumerate(zip(before, after)):
            if (w := differs(b, a, f"{path}[{i}]", depth + 1)) is not None:
                return w
        return None
    if isinstance(before, float):
        return (
            None
            if before == after or (np.isnan(before) and np.isnan(after))
            else f"{path}: {before}->{after}"
        )
    if isinstance(before, (int, str, bytes, bool, complex, type(None), np.generic)):
        return None if _scalar_equal(before, after) else f"{path}: {before!r} -> {after!r}"
    if type(before).__module__.startswith("torch"):
        import torch

        if isinstance(before, torch.Tensor):
            same = before.dtype == after.dtype and before.shape == after.shape
            same = same and _arrays_equal(before.detach().cpu().numpy(), after.detach().cpu().numpy())
            return None if same else f"{path}: tensor values"
        if isinstance(before, torch.nn.Module):
            return differs(
                {k: v for k, v in before.state_dict().items()},
                {k: v for k, v in after.state_dict().items()},
                f"{path}.state_dict()",
                depth + 1,
            )
    if isinstance(before, np.random.Generator):
        return None  # consuming a user's generator is its purpose
    if dataclasses.is_dataclass(before):
        return differs(
            {f.name: getattr(before, f.name) for f in dataclasses.fields(before)},
            {f.name: getattr(after, f.name) for f in dataclasses.fields(after)},
            path,
            depth + 1,
        )
    if hasattr(before, "get_params"):  # sklearn estimator: params, and not fitted in place
        w = differs(
            before.get_params(deep=False), after.get_params(deep=False), f"{path}.get_params()", depth + 1
        )
        if w is not None:
            return w
        fitted = sorted(k for k in vars(after) if k.endswith("_") and not k.startswith("_"))
        was = sorted(k for k in vars(before) if k.endswith("_") and not k.startswith("_"))
        return None if fitted == was else f"{path}: fitted in place (new attributes {fitted})"
    if hasattr(before, "__dict__"):
        return differs(vars(before), vars(after), path, depth + 1)
    return None


def _arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values (NaN == NaN, NaT == NaT), any dtype."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "mM":
        return bool(np.array_equal(a.view("i8"), b.view("i8")))
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype == object:
        return all(x is y or _scalar_equal(x, y) for x, y in zip(a.reshape(-1), b.reshape(-1)))
    return bool(np.array_equal(a, b))


def _scalar_equal(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return _arrays_equal(x, y)
    try:
        if bool(x == y):
            return True
    except (TypeError, ValueError):
        return False
    return bool(pd.isna(x) and pd.isna(y)) if np.ndim(x) == 0 and np.ndim(y) == 0 else False


# --------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------


def _where(site: Path | None) -> str:
    """`site` relative to its package root (``torch/nn/functional.py``), machine-independent."""
    if site is None:
        return "?"
    parts = site.parts
    for anchor in ("site-packages", "dist-packages"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1 :])
    if in_dcemets(site):
        return "dcemets/" + site.relative_to(DCEMETS_DIR).as_posix()
    return site.name


def _clean(text: str) -> str:
    """A message without this run's temporary folder names."""
    text = re.sub(r"/tmp/dcemets-fuzz-[^/'\"\s]+", "<tmp>", text)
    return re.sub(r" at 0x[0-9a-f]+", "", text)  # object addresses


def raise_site(exc: BaseException) -> Path | None:
    """File of the innermost traceback frame (where the exception was raised)."""
    tb = exc.__traceback__
    if tb is None:
        return None
    last = traceback.extract_tb(tb)[-1]
    return Path(last.filename).resolve()


def in_dcemets(path: Path | None) -> bool:
    """Whether `path` is a file of the dcemets package."""
    return path is not None and DCEMETS_DIR in path.parents


def names_argument(message: str, names: tuple[str, ...]) -> bool:
    """Whether `message` names one of `names` as a whole word (``Input X contains NaN`` names X).

    A name is whole when no letter, digit or underscore touches it; so ``y`` is not found in
    ``array`` or ``y_true``, and ``X`` not in ``X_test``.
    """
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", message) for n in names)


def check_call(
    call: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    names: tuple[str, ...],
    expect_result: bool,
    nan_ok: bool | tuple[str, ...] = False,
    result_check: Callable[[Any], str | None] | None = None,
    error_types: tuple[type[BaseException], ...] = (ValueError, TypeError),
    os_errors: bool = False,
    delegated: tuple[str, ...] = (),
    label: str = "",
    outputs: tuple[str, ...] = (),
) -> Outcome:
    """Call ``call(**kwargs)`` once and classify the outcome (see the module docstring).

    `names` are the names the error message may use for the bad argument; `expect_result`
    says the registry documents a result for this input, `nan_ok` that NaN/inf in it are
    documented, `result_check` an extra check of a documented result (returns a problem or
    None); `os_errors`: the argument is a path, and an ``OSError`` naming it is a clear
    error; `delegated`: files outside dcemets whose errors are documented as the function's
    own (the scikit-learn input validation of an estimator's fit/predict); `outputs` are the
    arguments the call writes to (paths), not checked for changes.
    """
    before = {k: snapshot(v) for k, v in kwargs.items() if k not in outputs}
    outcome: Outcome
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call(**kwargs)
        except error_types as exc:
            site = raise_site(exc)
            msg = f"{type(exc).__name__}: {exc}"
            if not in_dcemets(site) and not (
                site is not None and str(site).endswith(delegated) and delegated
            ):
                outcome = Outcome("deep_error", f"{msg} (raised in {_where(site)})")
            elif not names_argument(str(exc), names):
                outcome = Outcome("unclear_error", f"{msg} (does not name {' or '.join(names)})")
            else:
                outcome = Outcome("clear_error", msg)
        except OSError as exc:
            # file-system errors (missing file, not a directory...) are Python's documented
            # convention for a bad path: accepted from any raise site when they name the path
            if os_errors and names_argument(str(exc), names):
                outcome = Outcome("clear_error", f"{type(exc).__name__}: {exc}")
            else:
                site = raise_site(exc)
                outcome = Outcome(
                    "wrong_exception", f"{type(exc).__name__}: {exc} (raised in {_where(site)})"
                )
        except SystemExit as exc:
            outcome = (
                Outcome("documented_result", f"SystemExit({exc.code})")
                if expect_result
                else Outcome("wrong_exception", f"SystemExit({exc.code})")
            )
        except Exception as exc:  # noqa: BLE001 -- every other exception class is a defect to report
            site = raise_site(exc)
            outcome = Outcome("wrong_exception", f"{type(exc).__name__}: {exc} (raised in {_where(site)})")
        else:
            runtime = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
            where = None if nan_ok is True else nonfinite(result, skip=nan_ok or ())
            problem = result_check(result) if result_check is not None else None
            if not expect_result:
                outcome = Outcome("silent_result", f"returned {_short(result)}")
            elif where is not None and runtime:
                outcome = Outcome(
                    "warning_not_error", f"{where} is NaN/inf after RuntimeWarning {runtime[0]!r}"
                )
            elif where is not None:
                outcome = Outcome("silent_nan", f"{where} is NaN/inf")
            elif problem is not None:
                outcome = Outcome("silent_result", problem)
            else:
                outcome = Outcome("documented_result", _short(result))
    for k, b in before.items():
        if (w := differs(b, kwargs[k], f"`{k}`")) is not None:
            outcome = Outcome("mutated_input", f"{w} (outcome was {outcome.kind}: {outcome.detail[:200]})")
            break
    COUNTS["calls"] += 1
    COUNTS[outcome.kind] += 1
    if log := os.environ.get("DCEMETS_FUZZ_LOG"):  # triage aid: one JSON line per call
        with open(log, "a", encoding="utf-8") as f:
            f.write(
                json.dumps({"label": label, "kind": outcome.kind, "detail": _clean(outcome.detail)[:300]})
                + "\n"
            )
    return outcome


def _short(v: Any) -> str:
    r = repr(v) if not isinstance(v, (xr.DataArray, xr.Dataset)) else f"{type(v).__name__}{dict(v.sizes)}"
    return r if len(r) < 200 else r[:200] + "..."
