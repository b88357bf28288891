"""Library warnings point at the user's line (issue 22 item 8), through ``_conventions.warn_user``."""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dcemets._conventions import make_dce, warn_user
from dcemets.kinetics import (
    fit_patlak,
    fit_tofts,
    parametric_maps,
    parker_aif,
    signal_to_concentration,
    tofts,
)


def _record(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return w


def _curves():
    t = np.arange(0.0, 120.0, 4.0)
    cp = parker_aif(t, delay=10.0)
    c = tofts(t, cp, np.array([0.2, 0.05]), 0.6)
    c[1, 3] = np.nan  # one curve with a NaN sample: skipped, with a RuntimeWarning
    return xr.DataArray(c, dims=("voxel", "time"), coords={"time": t}), cp


def _fit_tofts():
    ct, cp = _curves()
    fit_tofts(ct, cp)  # the NumPy backend, called through xarray.apply_ufunc


def _fit_patlak():
    ct, cp = _curves()
    fit_patlak(ct, cp)  # kinetics._wrap.fit_dataset, through xarray.apply_ufunc


def _parametric_maps():
    curve = np.array([100, 100, 150, 190, 200, 195, 190, 185, 180, 175, 170, 165.0])
    vals = np.tile(curve[:, None, None, None], (1, 1, 2, 2))
    vals[4, 0, 0, 0] = np.nan
    parametric_maps(make_dce(vals, np.arange(12) * 12.0))


def _signal_to_concentration():
    s = xr.DataArray([[100.0, 100.0, 1e9]], dims=("voxel", "time"), coords={"time": [0.0, 5.0, 10.0]})
    signal_to_concentration(s, t10=1.2, flip_angle=10, tr=0.0041, r1=4.5)  # 1e9: not invertible


@pytest.mark.parametrize("call", [_fit_tofts, _fit_patlak, _parametric_maps, _signal_to_concentration])
def test_library_warnings_point_at_the_callers_line(call):
    w = _record(call)
    assert len(w) == 1, [str(x.message) for x in w]
    assert w[0].category is RuntimeWarning
    assert w[0].filename == __file__, w[0].filename  # not xarray/core/apply_ufunc.py nor dcemets
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    assert call.__name__.lstrip("_") in lines[w[0].lineno - 1]  # the line that called the library


def _module(name, code):
    mod = types.ModuleType(name)
    exec(compile(code, f"<{name}>", "exec"), mod.__dict__)  # noqa: S102 (a module of another package)
    return mod


def test_warn_user_skips_internal_frames(monkeypatch):
    """Frames of dcemets, xarray, numpy, ... are skipped; a same-named user package is not."""
    inner = _module("dcemets.fake_inner", "def f(w):\n    w('msg', UserWarning)\n")
    middle = _module("xarray.fake_middle", "def g(f, w):\n    f(w)\n")
    user = _module("dcemetsx_user", "def h(g, f, w):\n    g(f, w)\n")  # only a prefix: not internal
    w = _record(lambda: user.h(middle.g, inner.f, warn_user))
    assert len(w) == 1
    assert str(w[0].message) == "msg"
    assert w[0].category is UserWarning
    assert w[0].filename == "<dcemetsx_user>"
    # called straight from user code, it points at that code
    w = _record(lambda: warn_user("direct", DeprecationWarning))
    assert w[0].filename == __file__
    assert w[0].category is DeprecationWarning
    assert "warn_user(" in Path(__file__).read_text(encoding="utf-8").splitlines()[w[0].lineno - 1]


def test_warn_user_all_internal_uses_the_outermost_frame(monkeypatch):
    from dcemets import _conventions

    monkeypatch.setattr(_conventions, "_is_internal", lambda name: True)
    w = _record(lambda: warn_user("x", RuntimeWarning))
    outer = sys._getframe()
    while outer.f_back is not None:
        outer = outer.f_back
    assert w[0].filename == outer.f_code.co_filename
