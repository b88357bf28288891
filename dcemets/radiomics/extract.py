"""The paper's 99 radiomics features per lesion: 3 DCE maps x (20 GLCM + 13 histogram)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from dcemets._conventions import geometry_attrs, warn_user
from dcemets.radiomics import _np
from dcemets.radiomics._checks import RadiomicsWarning, check_n_jobs
from dcemets.radiomics.histogram import histogram_features
from dcemets.radiomics.texture import glcm_features

__all__ = ["FEATURE_NAMES", "MAP_NAMES", "extract_cohort", "extract_features"]

MAP_NAMES: tuple[str, str, str] = ("wash_in", "max_se", "washout")
"""The three DCE parametric maps of the paper (steepest wash-in, maximum SE, wash-out slope)."""

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"{m}_{fam}_{f}"
    for m in MAP_NAMES
    for fam, names in (("glcm", _np.GLCM_FEATURES), ("hist", _np.HISTOGRAM_FEATURES))
    for f in names
)
"""The 99 feature names ``<map>_<family>_<feature>`` in their stable column order."""

_GLCM_KEYS = ("bin_count", "bin_width", "min_value", "distance", "symmetric", "aggregation", "convention")
_HIST_KEYS = ("percentile_method", "excess_kurtosis")
_PER_MAP = ("bin_count", "bin_width", "min_value")
EXTRACT_SETTINGS: tuple[str, ...] = (*_GLCM_KEYS, *_HIST_KEYS, "nan_policy")
"""Names of the keyword settings of :func:`extract_features` (checked by ``StudyConfig``)."""


def _split_settings(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    unknown = set(settings) - set(_GLCM_KEYS) - set(_HIST_KEYS) - {"nan_policy"}
    if unknown:
        raise TypeError(
            f"unknown setting(s) {sorted(unknown)}; allowed: {sorted((*_GLCM_KEYS, *_HIST_KEYS, 'nan_policy'))}"
        )
    g = {k: settings[k] for k in _GLCM_KEYS if k in settings}
    h = {k: settings[k] for k in _HIST_KEYS if k in settings}
    return g, h, settings.get("nan_policy", "raise")


def _for_map(glcm_settings: dict[str, Any], name: str) -> dict[str, Any]:
    out = dict(glcm_settings)
    for k in _PER_MAP:
        v = out.get(k)
        if isinstance(v, Mapping):
            if name not in v:
                raise ValueError(f"`{k}` is a mapping but has no entry for map {name!r}")
            out[k] = v[name]
    return out


def _map_array(maps: xr.Dataset, name: str) -> xr.DataArray:
    if name not in maps.data_vars:
        raise ValueError(
            f"`maps` has no variable {name!r}; it needs {MAP_NAMES}, has {tuple(maps.data_vars)}"
        )
    da = maps[name]
    return da.assign_attrs({**geometry_attrs(maps), **da.attrs})


def extract_features(maps: xr.Dataset, mask: Any, **settings: Any) -> pd.Series:
    """The paper's 99 radiomics features of one lesion (section 2.5).

    For each of the three DCE parametric maps ``wash_in``, ``max_se`` and ``washout`` (as
    returned by :func:`dcemets.kinetics.parametric_maps`), the 20 GLCM features of
    :func:`~dcemets.radiomics.glcm_features` and the 13 histogram features of
    :func:`~dcemets.radiomics.histogram_features` inside the 3D lesion mask, named
    ``<map>_<family>_<feature>`` (families ``glcm`` and ``hist``), in the order of
    :data:`FEATURE_NAMES`.

    The paper does not state its discretisation or GLCM settings.  The defaults here are a
    fixed bin number of 32 per map (each map has its own range and units, so a fixed bin
    number adapts to each; never a bin width of 25, which collapses a +/-20 % wash-out map
    into one or two levels), distance 1, symmetric GLCM over the 13 3D directions with
    features averaged over directions (IBSI "3D averaged"), IBSI definitions, linear
    percentiles and excess kurtosis.  They are recorded in ``attrs`` of the result.

    Parameters
    ----------
    maps : xarray.Dataset
        Variables ``wash_in``, ``max_se``, ``washout`` with dims ``(z, y, x)``; other
        variables are ignored.
    mask : DataArray or ndarray of bool, shape (z, y, x)
        The 3D lesion mask on the grid of `maps`.
    **settings
        Keywords of :func:`~dcemets.radiomics.glcm_features` (``bin_count``, ``bin_width``,
        ``min_value``, ``distance``, ``symmetric``, ``aggregation``, ``convention``) and of
        :func:`~dcemets.radiomics.histogram_features` (``percentile_method``,
        ``excess_kurtosis``), plus ``nan_policy``.  ``bin_count``, ``bin_width`` and
        ``min_value`` may be mappings from map name to value (e.g. a bin width per map).

    Returns
    -------
    pandas.Series
        99 float64 values indexed by :data:`FEATURE_NAMES`.

    Raises
    ------
    ValueError
        A missing map, an empty mask, a mask on another grid, NaN in the ROI, a ROI without
        neighbouring voxel pairs, bad settings (messages start ``map '<name>' of `maps`:``).
    TypeError
        `maps` not a Dataset, a map that does not hold real numbers (complex, text), a mask
        that is not bool, unknown settings.

    References
    ----------
    .. [1] Lang N et al. Magn Reson Imaging 2019;64:4-12, :doi:`10.1016/j.mri.2019.02.013`,
           section 2.5 and Table 2.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from dcemets import make_image
    >>> rng = np.random.default_rng(0)
    >>> maps = xr.Dataset({m: make_image(rng.normal(size=(4, 6, 6))) for m in MAP_NAMES})
    >>> f = extract_features(maps, np.ones((4, 6, 6), bool))
    >>> len(f), f.index[0], f.index[-1]
    (99, 'wash_in_glcm_autocorrelation', 'washout_hist_skewness')
    """
    if not isinstance(maps, xr.Dataset):
        raise TypeError(f"`maps` must be an xarray.Dataset with {MAP_NAMES}, got {type(maps).__name__}")
    g, h, nan_policy = _split_settings(settings)
    values: dict[str, float] = {}
    attrs: dict[str, Any] = {}
    for name in MAP_NAMES:
        img = _map_array(maps, name)
        gs = _for_map(g, name)
        try:
            tex = glcm_features(img, mask, nan_policy=nan_policy, **gs)
            hist = histogram_features(img, mask, nan_policy=nan_policy, **h)
        except (ValueError, TypeError) as exc:  # the map is the functions' `image`
            raise type(exc)(f"map {name!r} of `maps`: {exc}") from exc
        values.update({f"{name}_glcm_{k}": v for k, v in tex.items()})
        values.update({f"{name}_hist_{k}": v for k, v in hist.items()})
        attrs[name] = {**tex.attrs, **hist.attrs}
    out = pd.Series(values, dtype=np.float64, name="features").reindex(list(FEATURE_NAMES))
    out.attrs.update(attrs)
    return out


def extract_cohort(
    maps: Mapping[str, xr.Dataset],
    masks: Mapping[str, Any],
    *,
    n_jobs: int = 1,
    progress: bool = True,
    errors: str = "raise",
    **settings: Any,
) -> pd.DataFrame:
    """The 99 features of every lesion of a cohort, one row per subject.

    Parameters
    ----------
    maps : mapping of str to xarray.Dataset
        Parametric maps per subject id (see :func:`extract_features`).
    masks : mapping of str to DataArray or ndarray
        Lesion mask per subject id; the same keys as `maps`.
    n_jobs : int
        Number of worker threads (joblib), default 1; -1 uses every core.
    progress : bool
        Show a tqdm progress bar, default True.
    errors : {"raise", "warn"}
        On a case that fails (``ValueError``, e.g. an empty mask): raise, or emit a
        :class:`RadiomicsWarning` and give that subject a row of NaN.
    **settings
        Passed to :func:`extract_features`.

    Returns
    -------
    pandas.DataFrame
        Index ``subject_id`` (in the order of `maps`), columns :data:`FEATURE_NAMES`.

    Raises
    ------
    ValueError
        Keys of `maps` and `masks` differ, bad `errors`, `n_jobs` 0 or not a whole number,
        or a failing case with ``errors="raise"``.
    TypeError
        `maps` or `masks` not a mapping, `n_jobs` not a number, unknown settings.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from dcemets import make_image
    >>> rng = np.random.default_rng(0)
    >>> maps = {s: xr.Dataset({m: make_image(rng.normal(size=(3, 5, 5))) for m in MAP_NAMES})
    ...         for s in ("a", "b")}
    >>> masks = {s: np.ones((3, 5, 5), bool) for s in maps}
    >>> extract_cohort(maps, masks, progress=False).shape
    (2, 99)
    """
    if errors not in ("raise", "warn"):
        raise ValueError(f"`errors` must be 'raise' or 'warn', got {errors!r}")
    for arg, value in (("maps", maps), ("masks", masks)):
        if not isinstance(value, Mapping):
            raise TypeError(
                f"`{arg}` must be a mapping (dict) from subject id to "
                f"{'Dataset' if arg == 'maps' else 'mask'}, got {type(value).__name__}"
            )
    n_jobs = check_n_jobs(n_jobs)
    keys = list(maps)
    if set(keys) != set(masks):
        missing = sorted(set(keys) ^ set(masks))
        raise ValueError(f"`maps` and `masks` must have the same subject ids; differing: {missing}")
    _split_settings(settings)  # fail fast on unknown settings

    def one(key: str) -> tuple[str, pd.Series | None, str | None]:
        try:
            return key, extract_features(maps[key], masks[key], **settings), None
        except ValueError as exc:
            if errors == "raise":
                raise ValueError(f"subject {key!r}: {exc}") from exc
            return key, None, str(exc)
        except TypeError as exc:  # a map of text or complex values: a mistake, never a NaN row
            raise TypeError(f"subject {key!r}: {exc}") from exc

    rows: dict[str, pd.Series | None] = {}
    failures: list[tuple[str, str]] = []
    with tqdm(total=len(keys), desc="radiomics", disable=not progress) as bar:
        for key, row, err in Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
            delayed(one)(k) for k in keys
        ):
            rows[key] = row
            if err is not None:
                failures.append((key, err))
            bar.update(1)
    for key, err in failures:
        warn_user(f"subject {key!r}: {err}; its features are NaN", RadiomicsWarning)
    table = pd.DataFrame(
        [rows[k] if rows[k] is not None else pd.Series(np.nan, index=list(FEATURE_NAMES)) for k in keys],
        index=pd.Index(keys, name="subject_id"),
        columns=list(FEATURE_NAMES),
        dtype=np.float64,
    )
    table.attrs.update({"settings": dict(settings), "failed": [k for k, _ in failures]})
    return table
