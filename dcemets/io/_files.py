"""Private file helpers: suffixes, sidecars, netCDF-safe attrs and guarded SimpleITK reads."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

PathLike = str | os.PathLike[str]

#: file suffixes SimpleITK reads and writes for volumes (lower case, longest first)
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")


def as_path(path: Any, name: str = "path") -> Path:
    """Return `path` as a :class:`Path`, or raise ``TypeError``."""
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    raise TypeError(f"`{name}` must be a str or os.PathLike, got {type(path).__name__}")


def suffix_of(path: Path) -> str:
    """Lower-case image suffix of `path` (``".nii.gz"`` counts as one), or ``""``."""
    low = path.name.lower()
    for suf in (*IMAGE_SUFFIXES, *NETCDF_SUFFIXES, ".json"):
        if low.endswith(suf):
            return suf
    return path.suffix.lower()


def stem_of(path: Path) -> str:
    """File name without its (possibly double) image suffix."""
    suf = suffix_of(path)
    return path.name[: len(path.name) - len(suf)] if suf else path.name


def sidecar_of(path: Path) -> Path:
    """The BIDS-style JSON sidecar of an image file: same stem, ``.json``."""
    return path.with_name(stem_of(path) + ".json")


def require_exists(path: Path, what: str = "file") -> None:
    """Raise ``FileNotFoundError`` naming `path` unless it exists."""
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: '{path}'")


def make_parent(path: Path) -> None:
    """Create the parent folders of an output file; an unusable parent names `path`.

    ``Path.mkdir`` reports a parent that is a file with the *parent's* name only
    (``FileExistsError: ... 'a.txt'``); the error raised here names the file the caller
    asked to write, as a ``NotADirectoryError`` (an ``OSError``, Python's convention).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise NotADirectoryError(
            f"cannot write '{path}': its folder '{path.parent}' cannot be created "
            f"(a file stands in the way: {err.filename!r})"
        ) from err


def is_netcdf(path: Path) -> bool:
    """Whether `path` has a netCDF suffix."""
    return suffix_of(path) in NETCDF_SUFFIXES


# --------------------------------------------------------------------------------------- NIfTI


def _nifti_header(head: bytes) -> tuple[int, int] | None:
    """Return (vox_offset, n_data_bytes) from the first 540 bytes of a NIfTI-1/2 header."""
    if len(head) < 348:
        return None
    for endian in ("<", ">"):
        (sizeof_hdr,) = struct.unpack(endian + "i", head[:4])
        if sizeof_hdr == 348:
            dims = struct.unpack(endian + "8h", head[40:56])
            (bitpix,) = struct.unpack(endian + "h", head[72:74])
            (vox_offset,) = struct.unpack(endian + "f", head[108:112])
            break
        if sizeof_hdr == 540 and len(head) >= 540:
            (bitpix,) = struct.unpack(endian + "h", head[14:16])
            dims = struct.unpack(endian + "8q", head[16:80])
            (vox_offset,) = struct.unpack(endian + "q", head[168:176])
            break
    else:
        return None
    ndim = int(dims[0])
    if not 1 <= ndim <= 7:
        return None
    n = int(np.prod([max(int(v), 1) for v in dims[1 : ndim + 1]], dtype=np.int64))
    return int(vox_offset), n * int(bitpix) // 8


def _gzip_size(path: Path) -> int:
    """Uncompressed size of a gzip file; raises ``ValueError`` if it is truncated or corrupt."""
    size = 0
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            try:
                size += len(d.decompress(chunk))
            except zlib.error as err:
                raise ValueError(f"'{path}' is a corrupt gzip file ({err})") from err
            while d.eof and d.unused_data:  # concatenated gzip members
                rest = d.unused_data
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                size += len(d.decompress(rest))
    if not d.eof:
        raise ValueError(f"'{path}' is truncated: the gzip stream ends early")
    return size


def check_nifti(path: Path) -> None:
    """Raise ``ValueError`` naming `path` if a NIfTI file is truncated or corrupt.

    SimpleITK reads a truncated NIfTI file without complaint (the missing voxels come back
    as garbage), so the header's data size is checked against the file first.  For
    ``.nii.gz`` the gzip trailer's ISIZE (uncompressed size mod 2**32) is compared with the
    header's promise; only if they differ (a truncated file, or a multi-member gzip) is the
    whole stream decompressed to measure it.
    """
    low = path.name.lower()
    if low.endswith(".nii.gz"):
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(540)
        except (OSError, EOFError) as err:
            raise ValueError(f"cannot read NIfTI file '{path}': {err}") from err
        info = _nifti_header(head)
        if info is None:
            raise ValueError(f"'{path}' is not a valid NIfTI file (bad header)")
        with open(path, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            (isize,) = struct.unpack("<I", fh.read(4))
        if isize == (info[0] + info[1]) % (1 << 32):
            return
        total = _gzip_size(path)
    elif low.endswith(".nii"):
        with open(path, "rb") as fh:
            head = fh.read(540)
        total = path.stat().st_size
    else:
        return
    info = _nifti_header(head)
    if info is None:
        raise ValueError(f"'{path}' is not a valid NIfTI file (bad header)")
    vox_offset, nbytes = info
    if total < vox_offset + nbytes:
        raise ValueError(
            f"'{path}' is truncated: the header promises {nbytes} bytes of voxel data, "
            f"the file holds {max(total - vox_offset, 0)}"
        )


def _read_shadowed_nifti(path: Path) -> sitk.Image:
    """Read ``x.nii.gz`` next to an ``x.nii``: niftilib would silently read ``x.nii`` instead."""
    with tempfile.TemporaryDirectory() as tmp:
        alias = Path(tmp) / "image.nii.gz"
        try:
            alias.symlink_to(path.resolve())
        except OSError:  # pragma: no cover - no symlinks (Windows without privilege)
            shutil.copyfile(path, alias)
        return sitk.ReadImage(str(alias))


def read_sitk(path: Path) -> sitk.Image:
    """Read an image file with SimpleITK; any failure becomes a ``ValueError`` naming `path`."""
    require_exists(path)
    if path.is_dir():
        raise ValueError(f"'{path}' is a directory, expected an image file")
    check_nifti(path)
    try:
        if path.name.lower().endswith(".nii.gz") and path.with_name(path.name[:-3]).exists():
            return _read_shadowed_nifti(path)
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()
        short = next((ln.strip() for ln in reversed(reason) if ln.strip()), "unknown error")
        raise ValueError(f"cannot read image file '{path}': {short}") from err


def write_sitk(image: sitk.Image, path: Path) -> None:
    """Write with SimpleITK; a failure becomes a ``ValueError`` naming `path`."""
    if suffix_of(path) not in IMAGE_SUFFIXES:
        raise ValueError(
            f"cannot tell the image format of '{path}': use one of {', '.join(IMAGE_SUFFIXES)} "
            f"(or {', '.join(NETCDF_SUFFIXES)} for netCDF)"
        )
    make_parent(path)
    try:
        sitk.WriteImage(image, str(path), useCompression=suffix_of(path) in (".nrrd", ".mha"))
    except RuntimeError as err:  # pragma: no cover - disk errors
        raise ValueError(f"cannot write image file '{path}': {str(err).strip().splitlines()[-1]}") from err


# ------------------------------------------------------------------------------------ attrs/json


def netcdf_safe(value: Any) -> bool:
    """Whether `value` can be stored as a netCDF attribute (str, number, 1D number list)."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return False
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return True
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        return arr.ndim == 1 and arr.size > 0 and arr.dtype.kind in "iuf"
    return False


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays (nested) to plain Python for :func:`json.dumps`."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object; errors name the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read JSON file '{path}': {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"JSON file '{path}' must hold an object, got {type(data).__name__}")  # noqa: TRY004
    return data
