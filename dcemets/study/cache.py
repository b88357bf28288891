"""The study's result cache: per-case results and cohort-stage folds, keyed by everything they depend on.

A cached result is served only when its key matches, and the key covers everything that
computes it:

- for a case (:func:`case_key`): the subject id; the values, dtype, coordinates and attributes
  (geometry and acquisition parameters) of the DCE series, the sagittal T2W, the sagittal ROI
  and the stored lesion mask; the per-case settings (:meth:`StudyConfig.case_key`); the cache
  format and a fingerprint of the library's code (:func:`code_fingerprint`);
- for a fold of the cohort stage (:class:`FoldStore`): the method, its inputs (the table, the
  features or the deep-learning slices, the labels), the cohort-level settings and the same
  code fingerprint, plus the fold's own training and test indices.

Every file is written to a temporary name in the same folder and renamed (atomic on POSIX and
Windows), so a killed run never leaves a half-written entry. An entry that cannot be read back
(truncated, corrupt, from another case) is reported with a :class:`CacheWarning`, deleted and
recomputed: a cache problem never drops a case and never changes a result.

One concept: the study's result cache (keys, fingerprints, per-case and per-fold
stores) and nothing else.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dcemets._conventions import warn_user
from dcemets.io import Case, validate_subject_id
from dcemets.study.config import StudyConfig
from dcemets.study.results import CaseResult

__all__ = [
    "CACHE_FORMAT",
    "CacheWarning",
    "FoldStore",
    "StudyCache",
    "case_key",
    "code_fingerprint",
    "digest",
]

CACHE_FORMAT = 2
"""Version of the cache's file layout; a change invalidates every entry."""


class CacheWarning(UserWarning):
    """A cache entry could not be read (and is recomputed) or written (and the run goes on).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", CacheWarning)  # e.g. in CI: an unreadable entry is a failure
    ...     pass
    """


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the installed ``dcemets`` version and of its source files.

    Part of every cache key, so that results computed by another version of the library, or by
    the same version number with edited code (a development install), are never served.

    Returns
    -------
    str
        16 hexadecimal digits.

    Examples
    --------
    >>> len(code_fingerprint())
    16
    """
    import dcemets

    version = getattr(dcemets, "__version__", "0+unknown")
    h = hashlib.sha256(f"{version}|format {CACHE_FORMAT}".encode())
    root = Path(dcemets.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _update_array(h: Any, values: Any) -> None:
    arr = np.asarray(values)
    if arr.dtype == object:
        h.update(json.dumps(arr.tolist(), default=repr).encode())
        return
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())


def digest(*parts: Any) -> str:
    """Content hash of arrays, DataArrays, DataFrames and JSON-like values.

    Parameters
    ----------
    *parts
        Values to hash in order: ``None``, numbers, strings, mappings and sequences of them,
        NumPy arrays (dtype, shape and bytes), ``xarray.DataArray`` (values, dims, every
        coordinate and the attributes) and pandas objects (index, columns and values).

    Returns
    -------
    str
        16 hexadecimal digits.

    Examples
    --------
    >>> import numpy as np
    >>> digest(np.zeros(3)) == digest(np.zeros(3)), digest(np.zeros(3)) == digest(np.ones(3))
    (True, False)
    """
    h = hashlib.sha256()

    def add(obj: Any) -> None:
        if isinstance(obj, xr.DataArray):
            h.update(b"DataArray")
            h.update(json.dumps([str(d) for d in obj.dims]).encode())
            _update_array(h, obj.values)
            for name in sorted(map(str, obj.coords)):
                h.update(name.encode())
                _update_array(h, obj.coords[name].values)
            h.update(json.dumps(obj.attrs, sort_keys=True, default=repr).encode())
        elif isinstance(obj, (pd.DataFrame, pd.Series)):
            h.update(type(obj).__name__.encode())
            frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
            _update_array(h, np.asarray(frame.index.astype(str)))
            _update_array(h, np.asarray(frame.columns.astype(str)))
            for col in frame.columns:
                values = frame[col].to_numpy()
                _update_array(h, values.astype(str) if values.dtype == object else values)
        elif isinstance(obj, np.ndarray):
            _update_array(h, obj)
        elif isinstance(obj, Mapping):
            h.update(b"{")
            for k in sorted(obj, key=str):
                h.update(str(k).encode())
                add(obj[k])
            h.update(b"}")
        elif isinstance(obj, (list, tuple)):
            h.update(b"[")
            for item in obj:
                add(item)
            h.update(b"]")
        else:
            h.update(json.dumps(obj, default=repr).encode())

    for part in parts:
        add(part)
    return h.hexdigest()[:16]


def case_key(case: Case, config: StudyConfig) -> str:
    """Cache key of one case's per-case result.

    Parameters
    ----------
    case : dcemets.io.Case
        The case: its id, DCE series, sagittal T2W and ROI and lesion mask enter the key (with
        their coordinates and attributes, so acquisition parameters such as the flip angle do
        too).  Labels do not: they are not part of the per-case computation and are taken from
        the case when a result is loaded.
    config : StudyConfig
        Its per-case settings (:meth:`StudyConfig.case_key`) enter the key.

    Returns
    -------
    str
        32 hexadecimal digits: the data's hash, then the settings' and code's hash.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> a = Case("s01", make_dce(np.ones((3, 1, 2, 2)), [0, 10, 20]))
    >>> b = Case("s01", make_dce(3 * np.ones((3, 1, 2, 2)), [0, 10, 20]))
    >>> case_key(a, StudyConfig()) == case_key(b, StudyConfig())
    False
    """
    data = digest(
        case.subject_id,
        *(getattr(case, name) for name in ("dce", "t2w_sagittal", "roi_sagittal", "lesion_mask")),
    )
    return data + digest(config.case_key(), code_fingerprint())


def _atomic_write(path: Path, writer: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename; never leave a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, payload: Any) -> None:
    def write(p: Path) -> None:
        with open(p, "w", encoding="utf-8") as f:
            json.dump(payload, f, default=_json_default, allow_nan=True)
            f.flush()
            os.fsync(f.fileno())

    _atomic_write(path, write)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store a {type(obj).__name__} in the cache")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _unreadable(paths: Iterable[Path], what: str, err: BaseException) -> None:
    names = ", ".join(f"'{p}'" for p in paths)
    warn_user(
        f"cache entry {names} of {what} cannot be read ({type(err).__name__}: {err}); "
        "it is deleted and recomputed",
        CacheWarning,
    )
    for p in paths:
        p.unlink(missing_ok=True)


def _folder_path(folder: Any, name: str, what: str = "a folder") -> Path:
    """`folder` as a Path; a TypeError, or NotADirectoryError if it or a parent is a file."""
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"`{name}` ({what}) must be a str or os.PathLike, got {type(folder).__name__}")
    path = Path(folder)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise NotADirectoryError(
                    f"`{name}` ({what}) '{path}' cannot be a folder: '{p}' exists and is a file"
                )
            break
    return path


class FoldStore:
    """Checkpoints of one cohort-stage method, one JSON file per fold.

    The object passed as ``checkpoint=`` to :func:`dcemets.evaluation.cross_validate` and
    :func:`dcemets.evaluation.radiomics_search`: they call :meth:`get` before computing a fold
    and :meth:`put` after it.  Its folder name holds a hash of everything the method's result
    depends on, so entries of other inputs or settings are never seen.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder of this method's checkpoints (created on the first :meth:`put`).

    Attributes
    ----------
    counts : dict
        ``{"loaded": n, "computed": m}``: folds read back from the folder, and folds computed
        (and stored) in this run.

    Raises
    ------
    TypeError
        If `folder` is not a path.
    NotADirectoryError
        If `folder`, or the nearest of its parents that exists, is a file.

    Examples
    --------
    >>> import tempfile
    >>> store = FoldStore(Path(tempfile.mkdtemp()) / "demo")
    >>> store.get("fold0") is None
    True
    >>> store.put("fold0", {"pred": [1, 0]})
    >>> store.get("fold0"), store.counts
    ({'pred': [1, 0]}, {'loaded': 1, 'computed': 1})
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = _folder_path(folder, "folder")
        self.counts = {"loaded": 0, "computed": 0}
        self._warned_write = False

    def _path(self, key: str) -> Path:
        if not key or not all(c.isalnum() or c in "-_." for c in key) or key.startswith("."):
            raise ValueError(f"checkpoint key {key!r} must be letters, digits, '-', '_' and '.'")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the stored value of `key`, or None when absent or unreadable (then deleted).

        Parameters
        ----------
        key : str
            The fold's name (e.g. ``"fold0"``), as given to :meth:`put`.

        Returns
        -------
        dict or None
            The value stored under `key`; None when there is no entry, or when the entry
            cannot be read or belongs to another key or cache format (it is then reported
            with a :class:`CacheWarning`, deleted, and the fold is recomputed).

        Raises
        ------
        ValueError
            If `key` is empty, starts with ``.`` or holds other than letters, digits, ``-``,
            ``_`` and ``.``.
        """
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with open(path, encoding="utf-8") as f:
                payload = json.load(f)
            if payload.get("format") != CACHE_FORMAT or payload.get("key") != key:
                raise ValueError("the entry belongs to another key or cache format")
            value = payload["value"]
            if not isinstance(value, dict):
                raise TypeError("the entry holds no result")
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
            _unreadable([path], f"checkpoint {self.folder.name}/{key}", err)
            return None
        self.counts["loaded"] += 1
        return value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Store `value` (JSON-able) under `key`; a failed write warns once and the run goes on.

        Parameters
        ----------
        key : str
            The fold's name (e.g. ``"fold0"``); the entry is the file ``<key>.json`` in
            ``folder``.
        value : mapping of str to JSON-able values
            The fold's result (predictions, scores ...); a plain-dict copy is stored.

        Raises
        ------
        ValueError
            If `key` is empty, starts with ``.`` or holds other than letters, digits, ``-``,
            ``_`` and ``.``.

        Warns
        -----
        CacheWarning
            On the first write that fails in this store (full disk, read-only folder); the
            run goes on without the checkpoints.
        """
        self.counts["computed"] += 1
        try:
            _write_json(self._path(key), {"format": CACHE_FORMAT, "key": key, "value": dict(value)})
        except OSError as err:
            if not self._warned_write:
                self._warned_write = True
                warn_user(
                    f"cannot write checkpoints to '{self.folder}' ({err}); the run goes on without them",
                    CacheWarning,
                )


class StudyCache:
    """The cache folder of :func:`dcemets.study.run_study`.

    Layout: ``cases/<subject_id>.<key>.json`` (scalars, features, curve, the hash of the
    netCDF file) and ``cases/<subject_id>.<key>.nc`` (mask and maps) per case;
    ``cohort/<method>-<key>/<fold>.json`` per fold of the cohort stage.

    Parameters
    ----------
    root : str or os.PathLike
        The cache folder; created if needed.

    Raises
    ------
    TypeError
        If `root` is not a path.
    PermissionError
        If `root` cannot be created or written to (checked at once, before any work).
    NotADirectoryError
        If `root`, or the nearest of its parents that exists, is a file.

    Examples
    --------
    >>> import tempfile
    >>> cache = StudyCache(tempfile.mkdtemp())
    >>> cache.root.exists()
    True
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = _folder_path(root, "root", "the cache folder, `out` of run_study")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".write-test.")
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            reason = "read-only" if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else str(err)
            raise PermissionError(
                f"cannot write to the cache folder `out` '{self.root}' ({reason}); choose a writable folder"
            ) from err

    # ---------------------------------------------------------------- per case

    def case_paths(self, case: Case, config: StudyConfig) -> tuple[Path, Path]:
        """The JSON and netCDF paths of a case's entry (whether or not they exist).

        Parameters
        ----------
        case : dcemets.io.Case
            The case; its `subject_id` and data name the entry.
        config : StudyConfig
            The settings; those that change per-case results (:meth:`StudyConfig.case_key`)
            name the entry too.

        Returns
        -------
        json_path : pathlib.Path
            ``<root>/cases/<subject_id>.<key>.json``, where ``key`` hashes the case's data
            and acquisition attributes, the settings and the library's code.
        nc_path : pathlib.Path
            ``<root>/cases/<subject_id>.<key>.nc``, the same entry's mask and maps.
        """
        sid = validate_subject_id(case.subject_id)
        stem = f"{sid}.{case_key(case, config)}"
        folder = self.root / "cases"
        return folder / f"{stem}.json", folder / f"{stem}.nc"

    def load_case(self, case: Case, config: StudyConfig) -> Any:
        """Return the cached :class:`~dcemets.study.CaseResult` of `case`, or None.

        An entry that cannot be read, whose netCDF file does not match the hash recorded in
        its JSON, or that belongs to another subject or key, is reported (:class:`CacheWarning`),
        deleted and reported as absent (None), so that the case is recomputed.

        Parameters
        ----------
        case : dcemets.io.Case
            The case to look up.
        config : StudyConfig
            The settings the result must have been computed with.

        Returns
        -------
        CaseResult or None
            The case's result as :meth:`save_case` stored it; None without a valid entry for
            this case, data, settings and code.
        """
        jp, nc = self.case_paths(case, config)
        if not jp.exists() and not nc.exists():
            return None
        try:
            with open(jp, encoding="utf-8") as f:
                payload = json.load(f)
            if payload.get("format") != CACHE_FORMAT or payload.get("key") != jp.stem.split(".", 1)[1]:
                raise ValueError("the entry belongs to another key or cache format")
            if payload.get("subject_id") != case.subject_id:
                raise ValueError(f"the entry belongs to subject {payload.get('subject_id')!r}")
            if _sha256_file(nc) != payload["nc_sha256"]:
                raise ValueError("the netCDF file does not match the hash recorded with it")
            with xr.open_dataset(nc, engine="h5netcdf") as f:
                ds = f.load()
            mask = ds["mask"].astype(bool)
            mask.attrs = dict(ds.attrs)
            maps = ds.drop_vars("mask")
            maps.attrs = dict(ds.attrs)
            return CaseResult(
                subject_id=case.subject_id,
                primary=case.primary,
                label=case.label,
                heuristics=payload["heuristics"],
                tofts=payload["tofts"],
                features=pd.Series(payload["features"], name=case.subject_id, dtype=float),
                mask=mask,
                maps=maps,
                curve=pd.Series(payload["curve"]["signal"], index=payload["curve"]["time"], dtype=float),
                quality=payload["quality"],
            )
        except Exception as err:  # noqa: BLE001 - any unreadable entry is recomputed, never trusted
            _unreadable([jp, nc], f"case {case.subject_id!r}", err)
            return None

    def save_case(self, result: Any, case: Case, config: StudyConfig) -> None:
        """Store a case's result: the netCDF first, then the JSON that records its hash.

        A failed write (full disk, read-only folder) warns (:class:`CacheWarning`) and leaves
        no partial file; the result itself is not affected.

        Parameters
        ----------
        result : CaseResult
            The case's result (mask and maps go to the netCDF file, the rest to the JSON).
        case : dcemets.io.Case
            The case it was computed from.
        config : StudyConfig
            The settings it was computed with.

        Warns
        -----
        CacheWarning
            If the entry cannot be written.
        """
        jp, nc = self.case_paths(case, config)
        ds = result.maps.copy()
        ds["mask"] = result.mask.astype("int8")
        for v in ds.data_vars:
            ds[v].attrs = {k: a for k, a in ds[v].attrs.items() if isinstance(a, (str, int, float, list))}
        ds.attrs = {k: a for k, a in result.mask.attrs.items() if isinstance(a, (str, int, float, list))}
        payload = {
            "format": CACHE_FORMAT,
            "key": jp.stem.split(".", 1)[1],
            "subject_id": result.subject_id,
            "heuristics": result.heuristics,
            "tofts": result.tofts,
            "features": result.features.to_dict(),
            "quality": result.quality,
            "curve": {"time": result.curve.index.tolist(), "signal": result.curve.tolist()},
        }
        try:
            _atomic_write(nc, lambda p: ds.to_netcdf(p, engine="h5netcdf"))
            payload["nc_sha256"] = _sha256_file(nc)
            _write_json(jp, payload)
        except OSError as err:
            nc.unlink(missing_ok=True)
            warn_user(
                f"cannot write the cache entry of case {case.subject_id!r} to '{jp.parent}' ({err}); "
                "the result is kept in memory only",
                CacheWarning,
            )

    # ---------------------------------------------------------------- cohort stage

    def fold_store(self, method: str, *inputs: Any) -> FoldStore:
        """The :class:`FoldStore` of one cohort-stage method for these inputs.

        Parameters
        ----------
        method : str
            Method name (``"hotspot_logistic"``, ``"radiomics"``, ``"cnn"`` ...).
        *inputs
            Everything the method's result depends on (data, labels, settings), hashed with
            :func:`digest` together with :func:`code_fingerprint`.

        Returns
        -------
        FoldStore
            The store in ``<root>/cohort/<method>-<hash>``: only a run on the same inputs,
            settings and code finds its folds.
        """
        return FoldStore(self.root / "cohort" / f"{method}-{digest(*inputs, code_fingerprint())}")
