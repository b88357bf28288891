"""Save and load a cohort of :class:`~dcemets.io.Case` records: NIfTI volumes + ``manifest.csv``.

Layout (one folder per subject, paths in the manifest relative to the cohort folder)::

    cohort/
      manifest.csv
      s001/dce.nii               4D DCE series (``.nii.gz`` with ``compress=True``)
      s001/dce.json              its sidecar: FrameTimesStart (s), TR/TE/flip angle, attrs
      s001/t2w_sagittal.nii      optional (+ .json sidecar: attrs, exact geometry)
      s001/roi_sagittal.nii      optional, uint8 mask (+ .json)
      s001/lesion_mask.nii       optional, uint8 mask on the DCE grid (+ .json)
      s001/truth_ktrans_map.nii  optional ground-truth maps of a simulated case (+ .json)
      s001/truth_aif.nc          other ground-truth arrays (e.g. an AIF curve), netCDF

A user with real data writes the same ``manifest.csv`` by hand (``dce`` may also name a DICOM
folder or a 4D NIfTI file without sidecar plus a ``frame_times`` JSON).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from dcemets._conventions import check_same_grid, geometry_attrs, validate_dce, validate_image
from dcemets._records import Case, validate_subject_id
from dcemets.io import _dicom
from dcemets.io._files import PathLike, as_path, is_netcdf, jsonable, netcdf_safe, read_json, sidecar_of
from dcemets.io.dce import FRAME_TIME_KEYS, read_dce, write_dce
from dcemets.io.images import read_image, write_image
from dcemets.io.roi import read_roi

__all__ = ["MANIFEST_COLUMNS", "load_cohort", "save_cohort"]

MANIFEST_COLUMNS = (
    "subject_id",
    "primary",
    "label",
    "dce",
    "frame_times",
    "t2w_sagittal",
    "roi_sagittal",
    "lesion_mask",
    "truth",
    "truth_maps",
    "meta",
)
"""Columns of ``manifest.csv``; only ``subject_id`` and ``dce`` are required when loading."""

LABELS = ("lung", "other")
"""Default allowed values of the manifest's ``label`` column (the paper's classes)."""

_MASKS = ("roi_sagittal", "lesion_mask")
_IMAGES = ("t2w_sagittal", "roi_sagittal", "lesion_mask")


def _split_truth(truth: dict[str, Any], sid: str) -> tuple[dict[str, Any], dict[str, xr.DataArray]]:
    scalars: dict[str, Any] = {}
    maps: dict[str, xr.DataArray] = {}
    for key, value in truth.items():
        if isinstance(value, xr.DataArray):
            if value.ndim == 0:
                scalars[key] = jsonable(value.values.item())
            else:
                maps[key] = value
            continue
        converted = jsonable(value)
        try:
            json.dumps(converted, allow_nan=True)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"case {sid!r}: truth[{key!r}] of type {type(value).__name__} cannot be saved "
                "(use numbers, strings, lists, dicts or 3D DataArrays)"
            ) from err
        scalars[key] = converted
    return scalars, maps


def _netcdf_safe_copy(da: xr.DataArray) -> xr.DataArray:
    """A shallow copy whose attrs (and coordinate attrs) netCDF can store."""
    out = da.copy(deep=False)
    out.attrs = {k: v for k, v in da.attrs.items() if netcdf_safe(v)}
    for name in out.coords:
        out[name].attrs = {k: v for k, v in da[name].attrs.items() if netcdf_safe(v)}
    return out


def _dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), sort_keys=True) if obj else ""


def save_cohort(
    cases: Iterable[Case], directory: PathLike, *, compress: bool = False, progress: bool = True
) -> Path:
    """Write a cohort to a folder: NIfTI volumes per subject and a ``manifest.csv``.

    Parameters
    ----------
    cases : iterable of Case
        The cohort (e.g. from :func:`dcemets.simulate.simulate_cohort`); subject ids must be
        unique and usable as folder names.
    directory : str or os.PathLike
        Output folder (created if needed).  Existing files of the same names are overwritten.
    compress : bool, default False
        Write ``.nii.gz`` instead of ``.nii``.  Off by default: noisy float signal barely
        compresses (about 5 % smaller for a float64 DCE series) while gzip costs ~2 s per
        35 MB series on one core (``benchmarks/bench_io.py``).
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    pathlib.Path
        The path of ``manifest.csv``.

    Raises
    ------
    TypeError
        If `cases` is not an iterable of :class:`~dcemets.io.Case`, or a truth value cannot
        be serialised.
    ValueError
        If `cases` is empty, subject ids are duplicated or unusable as folder names, or an
        image is invalid (a DCE series needs 3 frames; its values are written as they are,
        NaN included, like :func:`write_dce`).

    Notes
    -----
    The manifest columns are :data:`MANIFEST_COLUMNS`: ``subject_id``, ``primary``,
    ``label``, the relative paths ``dce`` (4D NIfTI), ``frame_times`` (its JSON sidecar with
    ``FrameTimesStart`` in s), ``t2w_sagittal``, ``roi_sagittal``, ``lesion_mask`` (empty
    when absent), ``truth`` (JSON of the scalar/list ground truth), ``truth_maps`` (JSON
    mapping each truth DataArray to its file: NIfTI for 3D maps, netCDF otherwise) and
    ``meta`` (JSON of the JSON-serialisable entries of ``Case.meta``).  Every NIfTI file gets
    a JSON sidecar with its attrs, dtype and double-precision geometry, so
    ``load_cohort(save_cohort(cases))`` gives back identical DataArrays (bool masks included).

    References
    ----------
    .. [1] Gorgolewski KJ et al. The brain imaging data structure, a format for organizing
           and describing outputs of neuroimaging experiments. Sci Data 2016;3:160044.
           :doi:`10.1038/sdata.2016.44`
    .. [2] Lang N et al. Differentiation of spinal metastases originated from lung and other
           cancers using radiomics and deep learning based on DCE-MRI. Magn Reson Imaging
           2019;64:4-12, section 2.2 (the acquisition read here). :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce
    >>> from dcemets.io import Case
    >>> case = Case("s01", make_dce(np.ones((3, 1, 2, 2)), [0.0, 10.0, 20.0]), label="lung",
    ...             truth={"ktrans": 0.1})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     manifest = save_cohort([case], tmp, progress=False)
    ...     back = load_cohort(tmp, progress=False)
    >>> manifest.name, back[0].subject_id, back[0].label, back[0].truth
    ('manifest.csv', 's01', 'lung', {'ktrans': 0.1})
    """
    root = as_path(directory, "directory")
    if isinstance(cases, (Case, str, bytes, Mapping)) or not isinstance(cases, Iterable):
        raise TypeError(f"`cases` must be an iterable (list) of dcemets.io.Case, got {type(cases).__name__}")
    case_list = list(cases)
    if not case_list:
        raise ValueError(
            "`cases` is empty: a cohort needs at least one Case (load_cohort refuses an empty one)"
        )
    seen: set[str] = set()
    for i, case in enumerate(case_list):
        if not isinstance(case, Case):
            raise TypeError(f"`cases[{i}]` must be a dcemets.io.Case, got {type(case).__name__}")
        sid = validate_subject_id(case.subject_id, name="subject_id")
        if sid in seen:
            raise ValueError(f"duplicate subject_id {sid!r} in `cases`")
        seen.add(sid)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if compress else ".nii"
    rows = []
    for case in tqdm(case_list, desc="saving cohort", unit="case", disable=not progress):
        sid = str(case.subject_id)
        folder = root / sid
        row: dict[str, str] = dict.fromkeys(MANIFEST_COLUMNS, "")
        row.update(subject_id=sid, primary=case.primary or "", label=case.label or "")
        dce_path = write_dce(
            validate_dce(case.dce, name=f"case {sid!r} dce", allow_nan=True), folder / f"dce{suffix}"
        )
        row["dce"] = dce_path.relative_to(root).as_posix()
        row["frame_times"] = sidecar_of(dce_path).relative_to(root).as_posix()
        for key in _IMAGES:
            img = getattr(case, key)
            if img is not None:
                img = validate_image(img, name=f"case {sid!r} {key}", mask=key in _MASKS, allow_nan=True)
                row[key] = (
                    write_image(img, folder / f"{key}{suffix}", sidecar=True).relative_to(root).as_posix()
                )
        scalars, maps = _split_truth(dict(case.truth), sid)
        map_paths = {}
        for key, da in maps.items():
            if set(da.dims) == {"z", "y", "x"}:
                img = validate_image(da, name=f"case {sid!r} truth[{key!r}]", allow_nan=True)
                path = write_image(img, folder / f"truth_{key}{suffix}", sidecar=True)
            else:  # e.g. an AIF curve: netCDF keeps its coordinates
                path = folder / f"truth_{key}.nc"
                _netcdf_safe_copy(da).to_netcdf(path)
            map_paths[key] = path.relative_to(root).as_posix()
        row["truth"] = _dumps(scalars)
        row["truth_maps"] = _dumps(map_paths)
        meta = {}
        for key, value in case.meta.items():
            try:
                json.dumps(jsonable(value))
            except (TypeError, ValueError):
                continue  # not serialisable: skipped
            meta[key] = value
        row["meta"] = _dumps(meta)
        rows.append(row)
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def _cell(row: dict[str, str | None], key: str) -> str:
    value = row.get(key)
    return value.strip() if isinstance(value, str) else ""


def _resolve(root: Path, sid: str, column: str, rel: str) -> Path:
    p = Path(rel)
    p = p if p.is_absolute() else root / p
    if not p.exists():
        raise FileNotFoundError(f"case {sid!r}: {column} file '{p}' named in manifest.csv does not exist")
    return p


def _json_cell(row: dict[str, str | None], key: str, sid: str) -> dict[str, Any]:
    text = _cell(row, key)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"case {sid!r}: manifest column {key!r} is not valid JSON ({err.msg})") from err
    if not isinstance(value, dict):
        raise ValueError(f"case {sid!r}: manifest column {key!r} must hold a JSON object")  # noqa: TRY004
    return value


def _on_grid(
    img: xr.DataArray,
    ref: xr.DataArray,
    sid: str,
    what: str,
    ref_name: str,
    *,
    required: Path | None = None,
) -> xr.DataArray:
    """Put `img` on the exact coordinates of `ref` when both describe the same grid.

    NIfTI keeps geometry in single precision; snapping keeps xarray alignment exact.  With
    `required` (the file `img` came from) another grid is an error instead of being kept.
    """
    try:
        check_same_grid(img, ref, names=(what, ref_name), atol=1e-3)
    except ValueError as err:
        if required is not None:
            raise ValueError(
                f"case {sid!r}: {what} '{required}' is not on the grid of the {ref_name} it belongs "
                f"to ({err}); resample it onto that grid"
            ) from None
        return img
    out = xr.DataArray(
        img.values, dims=("z", "y", "x"), coords={d: ref[d] for d in ("z", "y", "x")}, name=img.name
    )
    out.attrs = {**img.attrs, **geometry_attrs(ref)}
    return out


def _load_case(
    root: Path, row: dict[str, str | None], line: int, labels: tuple[str, ...] | None, manifest: Path
) -> Case:
    sid = _cell(row, "subject_id")
    if not sid:
        raise ValueError(f"manifest.csv line {line}: empty subject_id")
    try:
        validate_subject_id(sid)
    except ValueError as err:
        raise ValueError(f"manifest.csv line {line}: {err}") from None
    rel = _cell(row, "dce")
    if not rel:
        raise ValueError(f"case {sid!r}: manifest.csv gives no 'dce' path")
    dce_path = _resolve(root, sid, "dce", rel)
    times = None
    ft = _cell(row, "frame_times")
    if ft:
        ft_path = _resolve(root, sid, "frame_times", ft)
        if ft_path != sidecar_of(dce_path):
            meta_json = read_json(ft_path)
            key = next((k for k in FRAME_TIME_KEYS if k in meta_json), None)
            if key is None:
                raise ValueError(f"case {sid!r}: frame_times file '{ft_path}' has no 'FrameTimesStart' list")
            times = meta_json[key]
    try:
        dce = read_dce(dce_path, times=times)
    except (ValueError, TypeError) as err:
        raise ValueError(f"case {sid!r}: {err}") from err
    label = _cell(row, "label") or None
    if label is not None and labels is not None and label not in labels:
        raise ValueError(
            f"case {sid!r}: label {label!r} in '{manifest}' is not one of the allowed labels "
            f"{list(labels)}; leave the cell empty if unknown, or pass `labels=` to load_cohort"
        )
    images: dict[str, xr.DataArray | None] = {}
    paths: dict[str, Path] = {}
    for key in _IMAGES:
        rel = _cell(row, key)
        if rel:
            paths[key] = _resolve(root, sid, key, rel)
        if not rel:
            images[key] = None
        elif key in _MASKS and paths[key].is_file() and _dicom._is_dicom(paths[key]):
            # a DICOM SEG or RTSTRUCT: placed on (RTSTRUCT: rasterised on) the image it outlines
            ref = dce if key == "lesion_mask" else images["t2w_sagittal"]
            try:
                images[key] = read_roi(paths[key], reference=ref)
            except (ValueError, TypeError) as err:
                raise ValueError(f"case {sid!r}: {key} '{paths[key]}': {err}") from err
        else:
            images[key] = read_image(paths[key], mask=key in _MASKS)
    if images["lesion_mask"] is not None:
        images["lesion_mask"] = _on_grid(
            images["lesion_mask"], dce, sid, "lesion_mask", "DCE series", required=paths["lesion_mask"]
        )
    if images["roi_sagittal"] is not None and images["t2w_sagittal"] is not None:
        images["roi_sagittal"] = _on_grid(
            images["roi_sagittal"],
            images["t2w_sagittal"],
            sid,
            "roi_sagittal",
            "t2w_sagittal image",
            required=paths["roi_sagittal"],
        )
    truth = _json_cell(row, "truth", sid)
    for key, rel_map in _json_cell(row, "truth_maps", sid).items():
        path = _resolve(root, sid, f"truth_maps[{key!r}]", str(rel_map))
        if is_netcdf(path):
            try:
                truth[key] = xr.load_dataarray(path)
            except (OSError, ValueError) as err:
                raise ValueError(f"case {sid!r}: cannot read netCDF file '{path}': {err}") from err
        else:
            truth[key] = _on_grid(read_image(path), dce, sid, key, "dce")
    meta = _json_cell(row, "meta", sid)
    meta.setdefault("dce_path", str(dce_path))
    return Case(
        subject_id=sid,
        dce=dce,
        primary=_cell(row, "primary") or None,
        label=label,
        t2w_sagittal=images["t2w_sagittal"],
        roi_sagittal=images["roi_sagittal"],
        lesion_mask=images["lesion_mask"],
        truth=truth,
        meta=meta,
    )


def _check_labels(labels: Any) -> tuple[str, ...] | None:
    if labels is None:
        return None
    if isinstance(labels, str) or not all(isinstance(v, str) for v in labels):
        raise TypeError(f"`labels` must be a sequence of str (or None), got {labels!r}")
    return tuple(labels)


def load_cohort(
    directory: PathLike,
    *,
    labels: Sequence[str] | None = LABELS,
    progress: bool = True,
) -> list[Case]:
    """Read a cohort folder written by :func:`save_cohort` (or by hand) back into cases.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding ``manifest.csv`` (UTF-8 text, with or without a byte-order mark).
        Relative paths in the manifest are relative to it.
    labels : sequence of str or None, default ("lung", "other")
        Allowed values of the ``label`` column (the paper's task); an empty cell is always
        allowed.  None accepts any label.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    list of Case
        In manifest order.  Empty cells give ``None`` (images, ``primary``, ``label``) or an
        empty dict (``truth``, ``meta``), as for real data without masks or ground truth.
        Masks are bool; masks and truth maps on the DCE grid get the DCE's exact coordinates.
        ``meta["dce_path"]`` records where the DCE series came from.

    Raises
    ------
    FileNotFoundError
        If ``manifest.csv`` or a file it names is missing (the message names the case and
        the file).
    ValueError
        If the manifest is not UTF-8 text, lacks ``subject_id``/``dce`` columns, lists no
        case, has duplicate subject ids, a label not in `labels`, invalid JSON cells, a file
        that cannot be read, a ``lesion_mask`` not on the grid of its DCE series or a
        ``roi_sagittal`` not on the grid of its ``t2w_sagittal`` image (the message names the
        case and the file).

    Notes
    -----
    The ``dce`` column may name anything :func:`dcemets.io.read_dce` reads: a 4D NIfTI
    (frame times from its sidecar or from the JSON file in ``frame_times``), a DICOM folder
    or enhanced file, or a netCDF file.  ``lesion_mask`` and ``roi_sagittal`` may name a DICOM
    SEG or RTSTRUCT file, read with :func:`dcemets.io.read_roi` on the grid of the DCE series
    and of the ``t2w_sagittal`` image respectively (``t2w_sagittal`` may be a DICOM folder).

    References
    ----------
    .. [1] Gorgolewski KJ et al. The brain imaging data structure, a format for organizing
           and describing outputs of neuroimaging experiments. Sci Data 2016;3:160044.
           :doi:`10.1038/sdata.2016.44`
    .. [2] Lang N et al. Differentiation of spinal metastases originated from lung and other
           cancers using radiomics and deep learning based on DCE-MRI. Magn Reson Imaging
           2019;64:4-12, section 2.2 (the acquisition read here). :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    See :func:`save_cohort`.
    """
    root = as_path(directory, "directory")
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"no manifest.csv in '{root}' (write one with dcemets.io.save_cohort)")
    allowed = _check_labels(labels)
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            rows = list(reader)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"'{manifest}' is not UTF-8 text (byte {err.object[err.start : err.start + 1]!r} at "
            f'position {err.start}); save the manifest as UTF-8 (e.g. "CSV UTF-8" in a spreadsheet, '
            "or re-encode a Latin-1 file)"
        ) from None
    missing = [c for c in ("subject_id", "dce") if c not in columns]
    if missing:
        raise ValueError(f"'{manifest}' lacks the column(s) {missing}; it has {list(columns)}")
    if not rows:
        raise ValueError(f"'{manifest}' lists no cases (a header only); add one row per subject")
    ids = [_cell(r, "subject_id") for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"'{manifest}' lists subject_id(s) {dup} more than once")
    return [
        _load_case(root, row, line, allowed, manifest)
        for line, row in tqdm(
            list(enumerate(rows, start=2)), desc="loading cohort", unit="case", disable=not progress
        )
    ]
