"""The whole chain of Fig. 3: sagittal outline -> 3D lesion mask on the DCE grid."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, Literal, overload

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from dcemets._conventions import SPATIAL_DIMS, geometry, like, output_attrs, validate_dce

from ._np import _enhancement_np, _smooth
from ._validate import as_generator, check_int, check_positive
from .enhancement import enhancement_image
from .grow import find_seed, region_grow
from .ncut import normalized_cut, select_partitions
from .transfer import transfer_roi, widen_search_region

__all__ = ["segment_cohort", "segment_lesion"]


SEGMENT_LESION_OPTIONS: tuple[str, ...] = (
    *("kind", "n_baseline"),
    *("factor", "axis", "min_aspect"),
    *("n_segments", "pixels_per_segment", "compactness", "sigma", "smoothing", "thresh", "num_cuts"),
    *("method", "fraction", "background", "upper_factor", "seed_smoothing_mm", "smoothing_mm"),
    *("multiplier", "iterations", "radius", "fill_holes", "connectivity"),
    *("min_enhancement", "seed_in", "relative_fraction", "seed_margin_mm", "min_cover", "max_seeds"),
    "z_margin_mm",
)
"""Names of the keyword options of :func:`segment_lesion` (checked by ``StudyConfig``)."""


def _check_options(options: Mapping[str, Any], who: str) -> None:
    """Raise a ValueError naming the keyword options that :func:`segment_lesion` does not know."""
    unknown = sorted(set(options) - set(SEGMENT_LESION_OPTIONS))
    if not unknown:
        return
    hints = [
        f"{u!r} (did you mean {close[0]!r}?)"
        if (close := difflib.get_close_matches(u, SEGMENT_LESION_OPTIONS, 1))
        else repr(u)
        for u in unknown
    ]
    raise ValueError(
        f"unknown option(s) of {who}: {', '.join(hints)}; the keyword `options` of "
        f"segment_lesion are {', '.join(SEGMENT_LESION_OPTIONS)}"
    )


@overload
def segment_lesion(
    dce: xr.DataArray,
    roi_sagittal: xr.DataArray,
    *,
    return_steps: Literal[False] = ...,
    random_state: int | np.random.Generator | None = ...,
    **options: Any,
) -> xr.DataArray: ...


@overload
def segment_lesion(
    dce: xr.DataArray,
    roi_sagittal: xr.DataArray,
    *,
    return_steps: Literal[True],
    random_state: int | np.random.Generator | None = ...,
    **options: Any,
) -> tuple[xr.DataArray, xr.Dataset]: ...


def segment_lesion(
    dce: xr.DataArray,
    roi_sagittal: xr.DataArray,
    *,
    return_steps: bool = False,
    random_state: int | np.random.Generator | None = 0,
    **options: Any,
) -> xr.DataArray | tuple[xr.DataArray, xr.Dataset]:
    """Segment the enhancing lesion in 3D from a radiologist's sagittal outline (Fig. 3).

    The chain of the paper's section 2.4, each step a public function:

    1. :func:`enhancement_image` of the DCE series (Fig. 3b);
    2. :func:`transfer_roi`: the sagittal outline onto the axial grid (Fig. 3c);
    3. :func:`widen_search_region`: its per-slice box widened left-right by `factor` (Fig. 3d);
    4. :func:`normalized_cut` of every axial slice of the box (Fig. 3d), intensities scaled
       over the 1st-99th percentiles of the whole 3D box so all slices share one scale;
    5. :func:`select_partitions`: partitions overlapping the transferred outline, stacked into
       a 3D mask (Fig. 3e-f);
    6. :func:`region_grow` from the most strongly enhancing (smoothed) voxel inside that mask
       (Fig. 3g).  By default (``seed_in="outline"``) the seed is searched where the mask
       meets the transferred outline shrunk antero-posteriorly by ``seed_margin_mm`` (2.5 mm:
       outlines are drawn generously), i.e. in the tissue the radiologist marked, so that a strongly
       enhancing vessel at the edge of the outline cannot become the seed.  If the grown
       region covers less than ``min_cover`` (10 %) of that core, the seed was a structure
       merely touching it (a vessel, when the outline reaches into one): the hottest voxel
       outside that region and its smoothing halo is tried next (up to ``max_seeds`` = 3
       seeds); the first region reaching ``min_cover`` is kept, else the one covering most;
       ``seed_in="mask"`` searches the whole mask as the paper's text reads.

    Before growing, the relative enhancement ``100 (S - S0) / S0`` at the seed, both
    smoothed like the seed map, must reach `min_enhancement` (%); otherwise the series is
    reported as showing no enhancement.

    Parameters
    ----------
    dce : xarray.DataArray
        DCE series, dims ``("time", "z", "y", "x")``, signal in a.u.
    roi_sagittal : xarray.DataArray
        Bool outline of the diseased segment on the sagittal grid (dims ``z, y, x``).
    return_steps : bool
        Also return every intermediate as a Dataset.
    random_state : int, numpy.random.Generator or None
        Seeds the normalized cuts (one generator drawn through all slices).
    **options
        Keyword options of the steps: ``kind``, ``n_baseline`` (:func:`enhancement_image`);
        ``factor``, ``axis`` (:func:`widen_search_region`); ``n_segments``,
        ``pixels_per_segment``, ``compactness``, ``sigma``, ``smoothing``, ``thresh``,
        ``num_cuts`` (:func:`normalized_cut`); ``method``, ``fraction``, ``background``, ``upper_factor``,
        ``seed_smoothing_mm``, ``smoothing_mm``, ``multiplier``, ``iterations``, ``radius``,
        ``fill_holes``, ``connectivity`` (:func:`region_grow`); ``min_enhancement``
        (%, default 10); ``seed_in`` (``"outline"`` or ``"mask"``), ``seed_margin_mm``
        (default 2.5), ``min_cover`` (0.1), ``max_seeds`` (3); ``relative_fraction`` (default 0.45: the region may not grow
        through voxels whose relative enhancement ``(S - S0) / S0``, both smoothed, is below
        this fraction of the seed's; normal marrow has a bright baseline and enhances little
        relative to it, a lesion replacing it has a dark baseline and enhances a lot, so this
        separates the two where the subtraction image alone does not; 0 disables); ``min_aspect`` (:func:`widen_search_region`, default 1 here);
        ``z_margin_mm`` (default 3: the outline is copied onto the axial slices within this
        distance above and below it before the search box is built, as outlines rarely reach
        the lesion's last slices).

    Returns
    -------
    xarray.DataArray or (xarray.DataArray, xarray.Dataset)
        Bool lesion mask ``(z, y, x)`` on the DCE grid (name ``"lesion"``); with
        `return_steps`, also a Dataset with ``enhancement``, ``transferred_roi``,
        ``search_region``, ``partitions``, ``kept_partitions`` and ``lesion`` and the seed in
        ``attrs["seed_index"]``.

    Raises
    ------
    ValueError
        Empty outline, outline outside the DCE volume, different frames of reference,
        no enhancement, an invalid DCE series or grid (the message names `dce` or
        `roi_sagittal`), an unknown keyword option (named, with the known ones listed in
        ``SEGMENT_LESION_OPTIONS``), an option out of range (named by the step that checks
        it), or a negative `random_state` seed.
    TypeError
        Inputs that are not DataArrays of the right dtype, an option of the wrong type
        (e.g. a float `n_segments`), or a `random_state` that is not an int, a Generator
        or None.

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4 and Fig. 3,
    :doi:`10.1016/j.mri.2019.02.013`.
    Huang SH et al. Learning-based vertebra detection and iterative normalized-cut
    segmentation for spinal MRI. IEEE Trans Med Imaging 2009;28:1595-605,
    :doi:`10.1109/TMI.2009.2023362`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets._conventions import make_dce, make_image
    >>> sig = np.full((4, 3, 24, 24), 100.0)
    >>> sig[1:, :, 8:14, 9:15] += 120.0  # an enhancing lesion
    >>> dce = make_dce(sig, [0.0, 10.0, 20.0, 30.0])
    >>> roi = make_image(np.ones((3, 6, 1), bool), spacing=(3.0, 1.0, 1.0), origin=(11.0, 8.0, 0.0))
    >>> mask = segment_lesion(dce, roi)
    >>> int(mask.sum()), int(mask[:, 8:14, 9:15].sum())
    (108, 108)
    """
    _check_options(options, "segment_lesion")
    opts = dict(options)
    enh_kw = _take(opts, ("kind", "n_baseline"))
    widen_kw = _take(opts, ("factor", "axis", "min_aspect"))
    widen_kw.setdefault("min_aspect", 1.0)
    cut_kw = _take(
        opts, ("n_segments", "pixels_per_segment", "compactness", "sigma", "smoothing", "thresh", "num_cuts")
    )
    grow_kw = _take(
        opts,
        (
            "method",
            "fraction",
            "background",
            "upper_factor",
            "seed_smoothing_mm",
            "smoothing_mm",
            "multiplier",
            "iterations",
            "radius",
            "fill_holes",
            "connectivity",
        ),
    )
    min_enh = check_positive(opts.pop("min_enhancement", 10.0), "min_enhancement", inclusive=True)
    seed_in = opts.pop("seed_in", "outline")
    if seed_in not in ("outline", "mask"):
        raise ValueError(f"`seed_in` must be 'outline' or 'mask', got {seed_in!r}")
    rel_fraction = check_positive(opts.pop("relative_fraction", 0.45), "relative_fraction", inclusive=True)
    seed_margin = check_positive(opts.pop("seed_margin_mm", 2.5), "seed_margin_mm", inclusive=True)
    min_cover = check_positive(opts.pop("min_cover", 0.1), "min_cover", inclusive=True)
    max_seeds = check_int(opts.pop("max_seeds", 3), "max_seeds", minimum=1)
    z_margin = check_positive(opts.pop("z_margin_mm", 3.0), "z_margin_mm", inclusive=True)
    rng = as_generator(random_state)

    dce = validate_dce(dce)
    transferred = transfer_roi(roi_sagittal, dce)  # (c)
    outline = _extend_z(transferred, z_margin)
    search = widen_search_region(outline, **widen_kw)  # (d) box
    enh = enhancement_image(dce, **enh_kw)  # (b)

    enh_v = np.asarray(enh.values)
    search_v = np.asarray(search.values)
    trans_v = np.asarray(transferred.values)
    outline_v = np.asarray(outline.values)
    vr = (float(np.percentile(enh_v[search_v], 1)), float(np.percentile(enh_v[search_v], 99)))
    partitions = np.zeros(enh_v.shape, dtype=np.int64)
    for z in np.flatnonzero(search_v.any(axis=(1, 2))):  # loop over axial slices, not voxels
        partitions[z] = normalized_cut(enh_v[z], search_v[z], value_range=vr, random_state=rng, **cut_kw)
    kept = select_partitions(partitions, outline_v)  # (e) per slice -> (f) 3D mask
    kept_da = like(enh, kept, name="kept_partitions")

    seed_sigma = float(grow_kw.get("seed_smoothing_mm", 2.0))
    seed_region = kept & _erode_in_plane(trans_v, seed_margin, enh) if seed_in == "outline" else kept
    if not seed_region.any():
        seed_region = kept & trans_v
    if not seed_region.any():
        seed_region = kept
    grow_kw.pop("seed_smoothing_mm", None)
    n_base = int(enh_kw.get("n_baseline", 1))
    candidates = seed_region.copy()
    # halo of a rejected region: two seed-smoothing sigmas, in voxels along each axis
    radii = [max(1, int(np.ceil(2.0 * seed_sigma / sp))) for sp in geometry(enh).spacing[::-1]]
    grid = np.ogrid[tuple(slice(-r, r + 1) for r in radii)]
    halo = sum((g_ / r) ** 2 for g_, r in zip(grid, radii)) <= 1.0
    best: tuple[float, tuple[int, int, int], xr.DataArray] | None = None
    for attempt in range(max_seeds if seed_in == "outline" else 1):
        if not candidates.any():
            break
        seed = find_seed(enh, within=like(enh, candidates), smoothing_mm=seed_sigma)
        if attempt == 0:
            rel = _relative_enhancement_at(dce, seed, n_baseline=n_base, sigma_mm=seed_sigma)
            if not rel >= min_enh:
                raise ValueError(
                    f"`dce` shows no enhancement in the search region: the most enhancing voxel {seed} "
                    f"(z, y, x) enhances by {rel:.3g} % < min_enhancement={min_enh:g} %"
                )
        exclude = None
        if rel_fraction > 0:
            exclude = _low_relative_enhancement(
                dce,
                seed,
                n_baseline=n_base,
                sigma_mm=float(grow_kw.get("smoothing_mm", 0.75)),
                fraction=rel_fraction,
            )
        grown = region_grow(enh, seed=seed, within=kept_da, exclude=exclude, **grow_kw)  # (g)
        g = np.asarray(grown.values)
        cover = float((g & seed_region).sum()) / float(seed_region.sum())
        if best is None or cover > best[0]:
            best = (cover, seed, grown)
        if cover >= min_cover:
            break
        # the region covers almost none of the outline's core: a vessel or other hot
        # structure touching it; try the hottest voxel outside it
        candidates &= ~ndi.binary_dilation(g, structure=halo)
    assert best is not None
    _, seed, lesion = best
    lesion.attrs = output_attrs(
        dce, units="1", long_name="lesion mask", method="ncut + region growing (Fig. 3)"
    )
    lesion.attrs["seed_index"] = list(seed)
    if not return_steps:
        return lesion
    steps = xr.Dataset(
        {
            "enhancement": enh,
            "transferred_roi": transferred,
            "search_region": search,
            "partitions": like(enh, partitions, name="partitions"),
            "kept_partitions": kept_da,
            "lesion": lesion,
        }
    )
    steps["partitions"].attrs.update({"units": "1", "long_name": "normalized-cut partitions (per slice)"})
    steps["kept_partitions"].attrs.update({"units": "1", "long_name": "partitions overlapping the outline"})
    steps.attrs.update({k: v for k, v in enh.attrs.items() if k in ("space", "affine", "spacing_mm")})
    steps.attrs["seed_index"] = list(seed)
    steps.attrs["value_range"] = list(vr)
    return lesion, steps


def _extend_z(region: xr.DataArray, margin_mm: float) -> xr.DataArray:
    """Copy the outline of each slice onto its neighbours within `margin_mm` along z."""
    k = int(np.floor(margin_mm / geometry(region).spacing[2] + 1e-6))
    if k <= 0:
        return region
    structure = np.ones((2 * k + 1, 1, 1), dtype=bool)
    grown = ndi.binary_dilation(np.asarray(region.values), structure=structure)
    out = region.copy(data=grown)
    out.attrs["method"] = f"{region.attrs.get('method', '')}; extended {k} slice(s) along z"
    return out


def _low_relative_enhancement(
    dce: xr.DataArray, seed: tuple[int, int, int], *, n_baseline: int, sigma_mm: float, fraction: float
) -> xr.DataArray:
    """Voxels whose smoothed relative enhancement is below `fraction` of the seed's.

    Tested as ``E < fraction * r_seed * S0`` (no division, so dark voxels with ``S0 ~ 0``
    cannot blow up); ``E`` and ``S0`` are the smoothed peak subtraction and baseline.
    """
    spacing = np.asarray(geometry(dce).spacing)
    sig = np.moveaxis(np.asarray(dce.values, dtype=np.float64), 0, -1)
    sub, s0 = _enhancement_np(sig, n_baseline=n_baseline, kind="subtraction")
    sub_s, s0_s = _smooth(sub, spacing, sigma_mm), _smooth(s0, spacing, sigma_mm)
    r_seed = sub_s[seed] / s0_s[seed] if s0_s[seed] > 0 else np.inf
    low = sub_s < fraction * r_seed * s0_s if np.isfinite(r_seed) else np.zeros(sub.shape, bool)
    return like(dce, low, name="low_relative_enhancement")


def _erode_in_plane(mask: np.ndarray, margin_mm: float, template: xr.DataArray) -> np.ndarray:
    """Keep the antero-posterior core of the outline on each slice (seed candidates).

    The transferred outline has a drawn boundary only antero-posteriorly (and head-foot); its
    left-right extent is the thickness of the sagittal slices, which is not shrunk.  On each
    slice the rows ``[y0 + d, y1 - d]`` of the outline's extent ``[y0, y1]`` are kept, with
    ``d`` the larger of `margin_mm` (rounded to whole rows, at least one) and a fifth of the
    extent: generous outlines reach into neighbouring tissue by a few mm, larger outlines by
    more.
    """
    if margin_mm <= 0:
        return mask
    sy = geometry(template).spacing[1]
    occ: np.ndarray = np.any(mask, axis=2)  # (z, y)
    has: np.ndarray = np.any(occ, axis=1)
    ny = mask.shape[1]
    y0 = occ.argmax(axis=1)
    y1 = ny - 1 - occ[:, ::-1].argmax(axis=1)
    d = np.maximum(max(1, round(margin_mm / sy)), np.floor(0.2 * (y1 - y0 + 1))).astype(int)
    yy = np.arange(ny)[None, :]
    band = (yy >= (y0 + d)[:, None]) & (yy <= (y1 - d)[:, None]) & has[:, None]
    return mask & band[:, :, None]


def _take(opts: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {n: opts.pop(n) for n in names if n in opts}


def _relative_enhancement_at(
    dce: xr.DataArray, seed: tuple[int, int, int], *, n_baseline: int, sigma_mm: float
) -> float:
    """Smoothed relative enhancement (%) at `seed`, computed on a small block around it."""
    spacing = np.asarray(geometry(dce).spacing)
    half = [max(2, int(np.ceil(3 * sigma_mm / s))) for s in spacing[::-1]]
    sl = tuple(slice(max(0, c - h), c + h + 1) for c, h in zip(seed, half))
    block = np.moveaxis(np.asarray(dce.values[(slice(None), *sl)], dtype=np.float64), 0, -1)
    sub, s0 = _enhancement_np(block, n_baseline=n_baseline, kind="subtraction")
    loc = tuple(c - s.start for c, s in zip(seed, sl))
    sub_s = _smooth(sub, spacing, sigma_mm)[loc]
    s0_s = _smooth(s0, spacing, sigma_mm)[loc]
    if s0_s <= 0:
        return float("inf") if sub_s > 0 else 0.0
    return float(100.0 * sub_s / s0_s)


def segment_cohort(
    cases: Iterable[Any],
    *,
    n_jobs: int = 1,
    progress: bool = True,
    random_state: int | None = 0,
    **options: Any,
) -> dict[str, xr.DataArray]:
    """Run :func:`segment_lesion` on every case of a cohort, with a progress bar.

    Parameters
    ----------
    cases : iterable of dcemets.io.Case, or mapping of subject id to Case
        Cases with ``dce`` and ``roi_sagittal``.
    n_jobs : int
        Parallel workers (joblib processes); 1 runs in this process, -1 uses all cores.
    progress : bool
        Show a tqdm progress bar.
    random_state : int or None
        Seed (>= 0) passed to every case, so that segmentations do not depend on the order
        of cases (a shared Generator would make them depend on it, so none is taken).
    **options
        Passed to :func:`segment_lesion`.

    Returns
    -------
    dict of str to xarray.DataArray
        Lesion mask per ``subject_id``, in input order.

    Raises
    ------
    ValueError
        If `cases` is empty, a case lacks a DCE series or an outline, ids repeat, a keyword
        option is unknown, `random_state` is negative, `n_jobs` is 0, or a case fails to
        segment (the message names the subject).
    TypeError
        If `cases` is not an iterable (or mapping) of cases, `random_state` is not an int
        or None, or a case fails to segment with a TypeError (the message names the
        subject).

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4, :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets._conventions import make_dce, make_image
    >>> from dcemets.io import Case
    >>> sig = np.full((4, 3, 24, 24), 100.0)
    >>> sig[1:, :, 8:14, 9:15] += 120.0
    >>> dce = make_dce(sig, [0.0, 10.0, 20.0, 30.0])
    >>> roi = make_image(np.ones((3, 6, 1), bool), spacing=(3.0, 1.0, 1.0), origin=(11.0, 8.0, 0.0))
    >>> masks = segment_cohort([Case("s1", dce, roi_sagittal=roi)], progress=False)
    >>> list(masks), int(masks["s1"].sum())
    (['s1'], 108)
    """
    from tqdm.auto import tqdm

    _check_options(options, "segment_cohort")
    if random_state is not None:
        check_int(random_state, "random_state", minimum=0)
    if isinstance(cases, Mapping):
        items = list(cases.values())
    elif isinstance(cases, Iterable) and not isinstance(cases, (str, bytes)):
        items = list(cases)
    else:
        raise TypeError(
            f"`cases` must be an iterable of dcemets.io.Case or a mapping of subject id to Case, "
            f"got {type(cases).__name__}"
        )
    if not items:
        raise ValueError("`cases` is empty: there is no case to segment")
    ids = []
    for i, c in enumerate(items):
        sid = getattr(c, "subject_id", None)
        if getattr(c, "dce", None) is None or getattr(c, "roi_sagittal", None) is None:
            raise ValueError(f"case {i} ({sid!r}) needs `dce` and `roi_sagittal` to be segmented")
        ids.append(str(sid))
    if len(set(ids)) != len(ids):
        raise ValueError("`cases` have repeated subject ids")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"`n_jobs` must be a non-zero int, got {n_jobs!r}")
    args = [(sid, c.dce, c.roi_sagittal) for sid, c in zip(ids, items)]
    bar = tqdm(total=len(args), desc="segmenting", unit="case", disable=not progress)
    out: dict[str, xr.DataArray] = {}
    try:
        if n_jobs == 1:
            for a in args:
                sid, mask = _segment_one(a, random_state, options)
                out[sid] = mask
                bar.update()
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=int(n_jobs), return_as="generator")
            for sid, mask in par(delayed(_segment_one)(a, random_state, options) for a in args):
                out[sid] = mask
                bar.update()
    finally:
        bar.close()
    return {sid: out[sid] for sid in ids}


def _segment_one(
    arg: tuple[str, xr.DataArray, xr.DataArray], random_state: int | None, options: dict[str, Any]
) -> tuple[str, xr.DataArray]:
    sid, dce, roi = arg
    try:
        mask = segment_lesion(dce, roi, random_state=random_state, **options)
    except (ValueError, TypeError) as err:
        raise type(err)(f"case {sid!r}: {err}") from err
    return sid, mask.transpose(*SPATIAL_DIMS)
