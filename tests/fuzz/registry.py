"""Fuzz registry: one entry per public name of the ``.pyi`` stubs.

An :class:`Entry` says how to build a valid call (``valid(ctx) -> kwargs``), which arguments
to corrupt and of which *kind* each is (see :mod:`tests.fuzz.strategies`), and which
corrupted inputs the library documents as accepted (``documented``).  Scalar arguments with
a default are inferred from their annotation (``float`` -> ``"real"``, ``int`` ->
``"int"``, ``Literal[...]`` -> ``"choice"``, ``rng``/``random_state`` -> ``"rng"``); an
entry's ``args`` override or add to that, ``skip`` removes.

Names that cannot be fuzzed (constants, plain records of results, the warning class) have an
entry with ``not_fuzzable`` saying why.  :func:`public_names` reads the stubs, and
``test_registry_covers_every_public_name`` fails when a public name has no entry.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from hypothesis import strategies as st

from . import strategies as S
from .strategies import Corruption, Ctx

SKLEARN_VALIDATION = ("sklearn/utils/validation.py",)
"""Raise site of scikit-learn's input validation, documented for estimator fit/predict."""

ROOT = Path(__file__).resolve().parents[2] / "dcemets"


# --------------------------------------------------------------------------------------
# public names from the stubs
# --------------------------------------------------------------------------------------


def public_names() -> list[str]:
    """Every non-module public name: ``"<module>.<name>"`` from each ``__init__.pyi`` ``__all__``."""
    names: list[str] = []
    for stub in sorted(ROOT.rglob("__init__.pyi")):
        module = ".".join(("dcemets", *stub.parent.relative_to(ROOT).parts))
        tree = ast.parse(stub.read_text(encoding="utf-8"))
        submodules = {
            a.asname or a.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module is None
            for a in node.names
        }
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__all__" for t in node.targets
            ):
                names += [f"{module}.{n}" for n in ast.literal_eval(node.value) if n not in submodules]
    return names


def resolve(name: str) -> Any:
    """The object named ``"dcemets.sub.name"`` or ``"dcemets.sub.Class.method"``."""
    parts = name.split(".")
    obj: Any = importlib.import_module(parts[0])
    for p in parts[1:]:
        try:
            obj = getattr(obj, p)  # the public attribute (lazy_loader), never a same-named submodule
        except AttributeError:
            obj = importlib.import_module(f"{obj.__name__}.{p}")
    return obj


# --------------------------------------------------------------------------------------
# entries
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A documented result for a corrupted input (the input is accepted).

    `nan_ok`: NaN/inf in the result are documented; `check`: extra check of the result
    (returns a problem string or None); `why`: where it is documented.
    """

    why: str
    nan_ok: bool = False
    check: Callable[[Any], str | None] | None = None


@dataclass
class Entry:
    """How to fuzz one public callable (or one method of a public class)."""

    name: str
    valid: Callable[[Ctx], dict[str, Any]] | None = None
    call: Callable[..., Any] | None = None
    args: dict[str, str] = field(default_factory=dict)
    skip: tuple[str, ...] = ()
    documented: dict[str, Result] = field(default_factory=dict)
    known_defects: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    max_examples: int = 3
    nan_ok: bool | tuple[str, ...] = False
    not_fuzzable: str | None = None
    infer: bool = True
    no_valid_call: str | None = None
    delegated: tuple[str, ...] = ()

    def target(self) -> Callable[..., Any]:
        return self.call if self.call is not None else resolve(self.name)

    def signature_of(self) -> inspect.Signature | None:
        obj = resolve(self.name) if self.call is None else self.call
        try:
            return inspect.signature(obj)
        except (TypeError, ValueError):
            return None

    def fuzzed_args(self) -> dict[str, str]:
        """Argument -> kind: inferred from the signature, then `args`, minus `skip`."""
        kinds: dict[str, str] = {}
        sig = self.signature_of()
        if self.infer and sig is not None:
            for p in sig.parameters.values():
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
                    continue
                if (k := infer_kind(p)) is not None:
                    kinds[p.name] = k
        kinds.update(self.args)
        return {k: v for k, v in kinds.items() if k not in self.skip}

    def corruptions(self, arg: str) -> list[Corruption]:
        """Corruptions of `arg`; ``None`` is not one when it is the default."""
        cs = S.corruptions(self.fuzzed_args()[arg])
        sig = self.signature_of()
        if sig is not None and arg in sig.parameters and sig.parameters[arg].default is None:
            cs = [c for c in cs if c.name != "none"]
        return cs

    def default_of(self, arg: str) -> Any:
        sig = self.signature_of()
        if (
            sig is not None
            and arg in sig.parameters
            and sig.parameters[arg].default is not inspect.Parameter.empty
        ):
            return sig.parameters[arg].default
        return None

    def documented_for(self, arg: str, corruption: Corruption) -> Result | None:
        for key in (f"{arg}:{corruption.name}", f"{arg}:*", f"*:{corruption.name}"):
            if key in self.documented:
                return self.documented[key]
        if corruption.ok:
            return Result(f"documented library-wide: {corruption.why}")
        return None

    def outputs(self) -> tuple[str, ...]:
        """Arguments the call writes to: path_out kinds and `out`/`directory`."""
        kinds = self.fuzzed_args()
        return (*(a for a, k in kinds.items() if k in ("path_out", "dir_out")), "out")

    def names_for(self, arg: str, bad: Any = None) -> tuple[str, ...]:
        """Names an error message may use for `arg` (holding the bad value `bad`).

        The argument's name and its aliases; for an unknown keyword, the keyword; for a
        path, the path itself (a message quoting the file names the argument as well).
        """
        names = [arg, *self.aliases.get(arg, ())]
        kind = self.fuzzed_args().get(arg)
        if kind == "extra_kwarg":
            names += list(bad)
        if kind in PATH_KINDS and isinstance(bad, (str, Path)):
            names += [str(bad), Path(bad).name]
        if kind in CONTAINER_KINDS:
            names += ["case", "subject", "item", "items", "map", "mask"]
        return tuple(dict.fromkeys(names))


def infer_kind(p: inspect.Parameter) -> str | None:
    """Kind of a defaulted parameter from its name and annotation (None: not fuzzed)."""
    ann = str(p.annotation)
    if p.name == "random_state" and repr(p.default) == "<deprecated>":
        return None  # the deprecated old name of `rng` (issue 17): fuzzed as `rng`
    if p.name in ("rng", "random_state"):
        return "rng"
    if p.name in ("progress",) or ann in ("bool", "'bool'"):
        return None  # truthiness flags: Python convention, not fuzzed
    if m := re.fullmatch(r"'?Literal\[(.*)\]'?", ann):
        return "choice" if m else None
    if ann in ("float", "'float'"):
        return "real"
    if ann in ("int", "'int'"):
        return "int"
    return None


PATH_KINDS = ("path_in", "path_out", "dir_in", "dir_out")
CONTAINER_KINDS = ("cases", "case", "items", "map_dict", "mask_dict")

S.CORRUPTIONS["int"] = S.INT_COMMON
S.CORRUPTIONS["extra_kwarg"] = [
    Corruption("unknown_option", lambda v, ctx: {"fuzz_option": 1}),
]

REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    """Add `entry` (keyed by its name) to the registry."""
    assert entry.name not in REGISTRY, entry.name
    REGISTRY[entry.name] = entry
    return entry


def not_fuzzable(name: str, why: str) -> None:
    """Register a public name that is not fuzzed, and why."""
    register(Entry(name, not_fuzzable=why))


# --------------------------------------------------------------------------------------
# valid inputs shared by entries
# --------------------------------------------------------------------------------------


def draw_dce(ctx: Ctx, **kw: Any) -> xr.DataArray:
    return ctx.draw(S.dce_arrays(**kw))


def draw_image(ctx: Ctx, **kw: Any) -> xr.DataArray:
    return ctx.draw(S.images(**kw))


@functools.lru_cache(maxsize=1)
def _sim_case() -> Any:
    """A simulated case, cropped around its lesion (small, fast to process)."""
    from dcemets.simulate import simulate_case

    case = simulate_case("lung", rng=3)
    m = case.lesion_mask.values
    z, y, x = (np.flatnonzero(m.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    sl = {
        "z": slice(max(z[0] - 1, 0), z[-1] + 2),
        "y": slice(max(y[0] - 6, 0), y[-1] + 7),
        "x": slice(max(x[0] - 6, 0), x[-1] + 7),
    }
    case.dce = case.dce.isel(sl)
    case.lesion_mask = case.lesion_mask.isel(sl)
    return case


def sim_case() -> Any:
    """A fresh copy of the shared simulated case."""
    return copy.deepcopy(_sim_case())


@functools.lru_cache(maxsize=1)
def _case_result() -> Any:
    from dcemets.study import process_case

    return process_case(sim_case())


def small_xy(ctx: Ctx, n: int = 24, p: int = 3, labels: tuple[Any, Any] = ("lung", "other")) -> tuple:
    seed = ctx.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = np.array([labels[i % 2] for i in range(n)])
    X = rng.normal(size=(n, p))
    X[:, 0] += 1.5 * (y == labels[0])
    return X, y


def scores(ctx: Ctx, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    seed = ctx.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = np.array(["lung", "other"] * (n // 2))
    s = rng.uniform(size=n) + 0.5 * (y == "lung")
    return y, s


def _like(template: xr.DataArray, values: np.ndarray, **kw: Any) -> xr.DataArray:
    from dcemets._conventions import like

    return like(template, values, **kw)


def mask_of(ctx: Ctx, template: xr.DataArray) -> xr.DataArray:
    return S.mask_like(template, ctx.draw)


# --------------------------------------------------------------------------------------
# dcemets (conventions)
# --------------------------------------------------------------------------------------

_WRAP = Result(
    "make_dce/make_image wrap values as given; validate_dce/validate_image check them", nan_ok=True
)


def _dce_values(ctx: Ctx) -> dict[str, Any]:
    d = draw_dce(ctx)
    return {"values": d.values.copy(), "times": d.time.values.copy()}


register(
    Entry(
        "dcemets.make_dce",
        valid=_dce_values,
        args={
            "values": "array_nd",
            "times": "times",
            "spacing": "positive",
            "origin": "real",
            "direction": "direction",
            "attrs": "mapping",
        },
        documented={
            "values:nan": _WRAP,
            "values:inf": _WRAP,
        },
    )
)
register(
    Entry(
        "dcemets.make_image",
        valid=lambda ctx: {"values": draw_image(ctx).values.copy()},
        args={
            "values": "array_nd",
            "spacing": "positive",
            "origin": "real",
            "direction": "direction",
            "attrs": "mapping",
        },
        documented={"values:nan": _WRAP, "values:inf": _WRAP},
    )
)
register(
    Entry(
        "dcemets.validate_dce",
        valid=lambda ctx: {"da": draw_dce(ctx)},
        args={"da": "dce", "min_frames": "pos_int"},
        skip=("name",),
        aliases={"da": ("dce",)},
    )
)
register(
    Entry(
        "dcemets.validate_image",
        valid=lambda ctx: {"da": draw_image(ctx)},
        args={"da": "image"},
        skip=("name",),
        aliases={"da": ("image",)},
    )
)


def _world_valid(ctx: Ctx) -> dict[str, Any]:
    img = draw_image(ctx)
    return {"da": img, "indices": np.array([[0, 1, 2], [0.5, 0.0, 1.0]])}


# world_coordinates/index_from_world read only the geometry of `da`, never its values: a map
# with NaN outside its mask has world coordinates like any image, and their docstrings take
# "an image or a DCE series", so a (time, z, y, x) array is valid input, not a corruption.
_GEOMETRY_ONLY = {
    "da:nan": Result("only the geometry of `da` is read; maps hold NaN outside their mask (docstring)"),
    "da:inf": Result("only the geometry of `da` is read, never its values (docstring)"),
    "da:is_4d": Result("`da` may be an image or a DCE series (time, z, y, x) (docstring)"),
}
for _name in ("dcemets.world_coordinates", "dcemets.io.world_coordinates"):
    register(
        Entry(
            _name,
            valid=_world_valid,
            args={"da": "image", "indices": "points"},
            aliases={"da": ("image",)},
            documented=_GEOMETRY_ONLY,
        )
    )
register(
    Entry(
        "dcemets.io.index_from_world",
        valid=lambda ctx: {"da": draw_image(ctx), "points": np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])},
        args={"da": "image", "points": "points"},
        aliases={"da": ("image",)},
        documented=_GEOMETRY_ONLY,
    )
)

S.CORRUPTIONS["direction"] = [
    Corruption("wrong_size", S.const([1.0, 0.0, 0.0, 1.0])),
    Corruption("not_orthonormal", S.const([2.0, 0, 0, 0, 1, 0, 0, 0, 1])),
    Corruption("nan", S.const([np.nan, 0, 0, 0, 1, 0, 0, 0, 1])),
    Corruption("str", S.const("fuzz")),
]
S.CORRUPTIONS["mapping"] = [Corruption("str", S.const("fuzz")), Corruption("list", S.const([1, 2]))]
S.CORRUPTIONS["points"] = [
    Corruption("none", S.const(None)),
    Corruption("str", S.const("fuzz")),
    Corruption("nan", S.const(np.array([[np.nan, 0.0, 0.0]]))),
    Corruption("inf", S.const(np.array([[np.inf, 0.0, 0.0]]))),
    Corruption("complex", S.const(np.array([[1j, 0.0, 0.0]]))),
    Corruption("wrong_shape", S.const(np.zeros((2, 2)))),
    Corruption("one_d", S.const(np.zeros(3))),
]


from . import entries_layers  # noqa: F401  (registers the per-layer entries)
