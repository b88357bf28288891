"""The fuzz suite: every public function, one corrupted argument at a time.

See :mod:`tests.fuzz.harness` for the outcome classes and :mod:`tests.fuzz.registry` for the
entries.  Known defects are ``xfail(strict=True)``: they fail CI as soon as they are fixed, so
the entry is updated with the fix.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .harness import COUNTS, check_call
from .known_defects import KNOWN_DEFECTS
from .registry import PATH_KINDS, REGISTRY, Entry, public_names, resolve
from .strategies import Ctx


def _cases() -> list:
    params = []
    for name, entry in sorted(REGISTRY.items()):
        if entry.not_fuzzable:
            continue
        for arg in entry.fuzzed_args():
            for c in entry.corruptions(arg):
                marks = []
                why = entry.known_defects.get(f"{arg}:{c.name}") or KNOWN_DEFECTS.get(
                    f"{name}|{arg}|{c.name}"
                )
                if why:
                    marks.append(pytest.mark.xfail(strict=True, reason=f"known defect: {why}"))
                params.append(pytest.param(name, arg, c.name, marks=marks, id=f"{name}-{arg}-{c.name}"))
    return params


def _run(entry: Entry, arg: str | None, corruption: str | None, known: bool = False) -> None:
    @settings(settings.get_profile("fuzz"), max_examples=entry.max_examples)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory(prefix="dcemets-fuzz-") as tmp:
            ctx = Ctx(data.draw, Path(tmp))
            kwargs = entry.valid(ctx) if entry.valid is not None else {}
            doc = None
            bad = None
            if arg is not None:
                c = next(c for c in entry.corruptions(arg) if c.name == corruption)
                value = kwargs[arg] if arg in kwargs else entry.default_of(arg)
                try:
                    bad = c.fn(value, ctx)
                except Exception as exc:  # a registry bug, not a library defect
                    raise AssertionError(
                        f"registry: corruption {corruption!r} cannot apply to the valid {arg}={value!r}; "
                        "give a valid value for it in the entry"
                    ) from exc
                if entry.fuzzed_args()[arg] == "extra_kwarg":
                    kwargs.update(bad)
                else:
                    kwargs[arg] = bad
                doc = entry.documented_for(arg, c)
            outcome = check_call(
                entry.target(),
                kwargs,
                names=entry.names_for(arg, bad) if arg is not None else (),
                os_errors=entry.fuzzed_args().get(arg) in PATH_KINDS,
                delegated=entry.delegated,
                expect_result=arg is None or doc is not None,
                nan_ok=True if doc is not None and doc.nan_ok else entry.nan_ok,
                result_check=doc.check if doc is not None else None,
                label=f"{entry.name}|{arg}|{corruption}",
                outputs=entry.outputs(),
            )
            if outcome.is_defect and known:
                COUNTS["known"] += 1
            assert not outcome.is_defect, (
                f"{entry.name}({arg}={corruption}): {outcome.kind}: {outcome.detail}"
            )

    check()


@pytest.mark.parametrize(
    "name", sorted(n for n, e in REGISTRY.items() if not e.not_fuzzable and not e.no_valid_call)
)
def test_valid_call(name: str) -> None:
    """The entry's valid call returns a finite result and leaves its inputs unchanged."""
    _run(REGISTRY[name], None, None)


@pytest.mark.parametrize(("name", "arg", "corruption"), _cases())
def test_fuzz(name: str, arg: str, corruption: str) -> None:
    """One corrupted argument: a clear error naming it, or a documented finite result."""
    known = f"{name}|{arg}|{corruption}" in KNOWN_DEFECTS
    _run(
        REGISTRY[name], arg, corruption, known=known or f"{arg}:{corruption}" in REGISTRY[name].known_defects
    )


def test_registry_covers_every_public_name() -> None:
    """A public name of the stubs without a fuzz entry fails (add one to tests/fuzz/registry.py)."""
    public = set(public_names())
    entries = {n for n in REGISTRY if n.count(".") <= 2 or n in public}
    missing = sorted(public - set(REGISTRY))
    assert not missing, f"public names without a fuzz entry: {missing}"
    stale = sorted(n for n in entries if n not in public and not _is_method_entry(n, public))
    assert not stale, f"fuzz entries for names that are not public: {stale}"


def _is_method_entry(name: str, public: set[str]) -> bool:
    owner = name.rsplit(".", 1)[0]
    return owner in public and isinstance(resolve(owner), type)


def test_known_defects_are_current() -> None:
    """Every known defect names an existing fuzz case (no stale lines)."""
    cases = {"|".join(p.values[:3]) for p in _cases()}
    stale = sorted(set(KNOWN_DEFECTS) - cases)
    assert not stale, f"known defects without a fuzz case (remove them): {stale}"


def test_every_entry_resolves() -> None:
    """Entries name callables, and fuzz arguments that their callable takes."""
    for name, entry in REGISTRY.items():
        if entry.not_fuzzable:
            continue
        assert callable(entry.target()), name
        sig = entry.signature_of()
        takes_any = sig is None or any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        for arg, kind in entry.fuzzed_args().items():
            assert entry.corruptions(arg), (name, arg)
            if kind != "extra_kwarg" and not takes_any:
                assert arg in sig.parameters, f"{name} has no argument {arg!r}"
            if kind == "extra_kwarg":
                assert takes_any, f"{name} takes no **kwargs ({arg!r})"
