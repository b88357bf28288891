"""Checkpoint I/O of the scikit-learn classifiers (format ``"dcemets.models/1"``).

A checkpoint is a :func:`torch.save` zip holding only tensors and plain Python values, read
back with ``torch.load(weights_only=True)``: the estimator's class name and parameters, its
classes, input shape, training history and the network's ``state_dict``.  The public
``save``/``load`` methods of the estimators call :func:`save` and :func:`load` here.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import secrets
import zipfile
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from dcemets.models._device import resolve_device

FORMAT = "dcemets.models/1"
"""The checkpoint format tag; a file with another one is refused."""

_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
_PLAIN = (str, int, float, bool, type(None))


def plain_state(value: Any) -> Any:
    """A numpy bit-generator state with its arrays as tagged lists (safe for weights_only)."""
    if isinstance(value, dict):
        return {k: plain_state(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.dtype.str, "data": value.tolist()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def numpy_state(value: Any) -> Any:
    """Inverse of :func:`plain_state`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["data"], dtype=np.dtype(value["__ndarray__"]))
        return {k: numpy_state(v) for k, v in value.items()}
    return value


def encode_param(value: Any, name: str) -> Any:
    """An estimator parameter as plain Python values that ``torch.load(weights_only=True)`` reads.

    numpy scalars become Python scalars; a numpy ``RandomState`` or ``Generator`` becomes a
    tagged dict holding its current state (rebuilt by :func:`decode_param`).
    """
    if isinstance(value, np.random.RandomState):
        return {"__numpy_random__": "RandomState", "state": plain_state(value.get_state(legacy=False))}
    if isinstance(value, np.random.Generator):
        return {"__numpy_random__": "Generator", "state": plain_state(value.bit_generator.state)}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, list | tuple):
        return type(value)(encode_param(v, name) for v in value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: encode_param(v, name) for k, v in value.items()}
    raise TypeError(
        f"parameter `{name}` = {value!r} cannot be saved in a checkpoint: only None, bool, int, "
        "float, str, lists/tuples/str-keyed dicts of those, and numpy RandomState/Generator are"
    )


def decode_param(value: Any) -> Any:
    """Inverse of :func:`encode_param` (only tagged numpy random states need rebuilding)."""
    if isinstance(value, dict) and "__numpy_random__" in value:
        state = numpy_state(value["state"])
        if value["__numpy_random__"] == "RandomState":
            rs = np.random.RandomState()
            rs.set_state(state)
            return rs
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if value["__numpy_random__"] != "Generator" or name not in _BIT_GENERATORS:
            raise ValueError(f"unknown numpy random state {value['__numpy_random__']!r} / {name!r}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    return value


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a new file next to ``path``, then ``os.replace`` it onto ``path``.

    A failed write leaves ``path`` as it was (and no temporary file behind).
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"`path` {path!r}: the folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is a folder, not a checkpoint file")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def unreadable(path: str, why: str) -> ValueError:
    """The error for a file at `path` that is not a readable checkpoint, saying why."""
    return ValueError(f"`path` {path!r} is not a readable dcemets.models checkpoint: {why}")


def _fspath(path: Any) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"`path` must be a str or path-like, got {path!r}") from None


def save(est: Any, path: str | os.PathLike[str]) -> None:
    """Write the fitted estimator `est` to `path` (the body of ``est.save``; see its docstring)."""
    check_is_fitted(est, "module_")
    target = _fspath(path)
    classes = est.classes_.tolist()
    if not all(isinstance(c, str | int | float | bool) for c in classes):
        raise TypeError("only str, int, float or bool class labels can be saved")
    payload = {
        "format": FORMAT,
        "estimator": type(est).__name__,
        "params": {k: encode_param(v, k) for k, v in est.get_params(deep=False).items()},
        "classes": classes,
        "input_shape": list(est.input_shape_),
        "n_features_in": int(est.n_features_in_),
        "history": [{k: float(v) for k, v in record.items()} for record in est.history_],
        "state_dict": {k: v.detach().cpu() for k, v in est.module_.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)  # what load() will read
    write_atomic(target, data)


def _read_payload(source: str) -> Any:
    """``torch.load(weights_only=True)`` of `source`, every way it can fail as a clear error."""
    if not os.path.isfile(source):
        raise FileNotFoundError(f"`path` {source!r}: no such checkpoint file")
    if os.path.getsize(source) == 0:
        raise unreadable(source, "the file is empty (0 bytes; an interrupted save?)")
    if not zipfile.is_zipfile(source):  # torch.save writes a zip archive; a cut one has no end record
        raise unreadable(source, "the file is corrupt or truncated (not a complete torch zip archive)")
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise unreadable(
                source,
                "it holds pickled objects other than tensors and plain values, which are "
                "never unpickled (torch.load(weights_only=True))",
            ) from None
        raise unreadable(source, f"the file is corrupt or truncated ({type(exc).__name__})") from None
    except PermissionError:
        raise
    except (EOFError, OSError, RuntimeError, KeyError, IndexError, ValueError, TypeError) as exc:
        # what a damaged zip raises: EOFError, RuntimeError (miniz), OSError(EINVAL), KeyError...
        raise unreadable(source, f"the file is corrupt or truncated ({type(exc).__name__})") from None


def load(cls: type, path: str | os.PathLike[str], device: str) -> Any:
    """A fitted `cls` read from `path` (the body of ``cls.load``; see its docstring)."""
    source = _fspath(path)
    payload = _read_payload(source)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{source!r} is not a dcemets.models checkpoint")
    if payload.get("estimator") != cls.__name__:
        raise ValueError(f"{source!r} holds a {payload.get('estimator')}, not a {cls.__name__}")
    try:
        params = {k: decode_param(v) for k, v in dict(payload["params"]).items()}
        params["device"] = device
        est = cls(**params)
        est.classes_ = np.asarray(payload["classes"])
        est.input_shape_ = tuple(int(s) for s in payload["input_shape"])
        est.n_features_in_ = int(payload["n_features_in"])
        est.history_ = [dict(record) for record in payload["history"]]
        module = est._build_module(est.input_shape_, len(est.classes_))
        module.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise unreadable(
            source, f"its content is incomplete or inconsistent ({type(exc).__name__}: {exc})"
        ) from None
    dev = resolve_device(device)
    est.n_epochs_ = len(est.history_)
    est.device_ = str(dev)
    est.module_ = module.to(dev).eval()
    return est
