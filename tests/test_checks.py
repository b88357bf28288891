"""dcemets._checks: the one set of scalar argument checks of every layer (issue 17 item 7)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from dcemets._checks import check_finite, check_int, check_positive, check_real


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_int_accepts_python_and_numpy_ints(value):
    out = check_int(value, "n", minimum=1, maximum=5)
    assert out == 3
    assert type(out) is int


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "match"),
    [
        (True, {}, TypeError, r"`n` must be an int, got True \(bool\)"),
        (np.bool_(True), {}, TypeError, r"`n` must be an int"),
        ("3", {"minimum": 1}, TypeError, r"`n` must be an int >= 1, got '3' \(str\)"),
        (None, {}, TypeError, r"`n` must be an int, got None \(NoneType\)"),
        (2.5, {}, TypeError, r"`n` must be an int, got 2.5"),
        (float("nan"), {}, TypeError, r"`n` must be an int"),
        (0, {"minimum": 1}, ValueError, r"`n` must be an int >= 1, got 0"),
        (6, {"maximum": 5}, ValueError, r"`n` must be an int <= 5, got 6"),
        (9, {"minimum": 1, "maximum": 5}, ValueError, r"`n` must be an int in \[1, 5\], got 9"),
    ],
)
def test_check_int_refuses_naming_the_argument(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_int(value, "n", **kwargs)


def test_check_int_float_error_makes_a_fraction_a_value_error():
    with pytest.raises(ValueError, match=r"`k` must be an int >= 1, got 2.5"):
        check_int(2.5, "k", minimum=1, float_error=ValueError)
    with pytest.raises(TypeError, match=r"`k` must be an int"):  # not a number: still a type error
        check_int("2", "k", float_error=ValueError)


def test_check_int_bounds_are_positional_too():
    assert check_int(-2, "reference", -3, 2) == -2
    with pytest.raises(ValueError, match=r"in \[-3, 2\]"):
        check_int(3, "reference", -3, 2)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.array(0.5), xr.DataArray(0.5)])
def test_check_real_accepts_real_scalars(value):
    out = check_real(value, "p", 0.0, 1.0)
    assert type(out) is float
    assert out == float(np.asarray(value))


@pytest.mark.parametrize("value", [True, "0.5", b"1", None, [0.5], np.array([0.5]), 1j, np.array("1")])
def test_check_real_refuses_what_is_not_a_real_scalar(value):
    with pytest.raises(TypeError, match=r"`p` must be in \[0, 1\], got .* \("):
        check_real(value, "p", 0.0, 1.0)


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (float("nan"), {}, r"`x` must be a finite number, got nan"),
        (np.inf, {}, r"`x` must be a finite number, got inf"),
        (0.0, {"low": 0.0, "low_open": True}, r"`x` must be a positive number, got 0.0"),
        (-1, {"low": 0.0}, r"`x` must be a non-negative number, got -1"),
        (1.0, {"low": 1.0, "low_open": True}, r"`x` must be a number > 1, got 1.0"),
        (2.0, {"high": 1.0}, r"`x` must be a number <= 1, got 2.0"),
        (1.0, {"low": 0.0, "high": 1.0, "high_open": True}, r"`x` must be in \[0, 1\), got 1.0"),
        (-1.0, {"low": 0.0, "unit": "s", "low_open": True}, r"`x` must be a positive number \(s\), got -1.0"),
    ],
)
def test_check_real_refuses_values_out_of_bounds(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_real(value, "x", **kwargs)


def test_check_real_bounds_are_inclusive_unless_open():
    assert check_real(0.0, "x", 0.0, 1.0) == 0.0
    assert check_real(1.0, "x", 0.0, 1.0) == 1.0
    with pytest.raises(ValueError):
        check_real(0.0, "x", 0.0, 1.0, low_open=True)
    with pytest.raises(ValueError):
        check_real(1.0, "x", 0.0, 1.0, high_open=True)


def test_check_positive_and_check_finite():
    assert check_positive(2, "tr", "s") == 2.0
    assert check_positive(0.0, "s", inclusive=True) == 0.0
    assert check_positive(1.0, "f", minimum=1.0, inclusive=True) == 1.0
    with pytest.raises(ValueError, match=r"`f` must be a number > 1"):
        check_positive(1.0, "f", minimum=1.0)
    with pytest.raises(ValueError, match=r"`angle` must be in \(0, 180\) \(degrees\), got 180"):
        check_positive(180, "angle", "degrees", upper=180.0)
    assert check_finite(-3, "delay", "s") == -3.0
    with pytest.raises(TypeError, match=r"`delay` must be a finite number \(s\)"):
        check_finite("1", "delay", "s")


def test_a_long_argument_is_cut_in_the_message():
    with pytest.raises(TypeError) as info:
        check_int(list(range(1000)), "n")
    assert len(str(info.value)) < 150
