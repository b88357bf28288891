"""The whole chain of Fig. 3: sagittal outline -> 3D lesion mask on the DCE grid.

One concept: that chain, for one case and for a cohort; its steps live in ``transfer``,
``ncut``, ``grow`` and ``_curve``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any, Literal, overload

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from dcemets._checks import check_finite, check_int, check_positive
from dcemets._conventions import (
    NOT_GIVEN,
    SPATIAL_DIMS,
    geometry,
    like,
    output_attrs,
    rng_or_random_state,
    validate_dce,
    validate_image,
)
from dcemets.segmentation._checks import as_generator, check_frame_of_reference

from ._curve import _curve_segment, _resample_to
from ._np import _enhancement_np, _smooth
from .enhancement import enhancement_image
from .grow import find_seed, region_grow
from .ncut import normalized_cut, select_partitions
from .transfer import transfer_roi, widen_search_region

__all__ = ["segment_cohort", "segment_lesion"]


_ALGORITHMS = ("curve", "paper")


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


def _cut_options(
    n_segments: Any,
    pixels_per_segment: Any,
    compactness: Any,
    sigma: Any,
    smoothing: Any,
    thresh: Any,
    num_cuts: Any,
) -> dict[str, Any]:
    """Checked keyword arguments of :func:`normalized_cut` (the paper algorithm's step e)."""
    if n_segments is not None:
        check_int(n_segments, "n_segments", minimum=1)
    check_int(num_cuts, "num_cuts", minimum=1)
    for name, val in (("pixels_per_segment", pixels_per_segment), ("compactness", compactness)):
        check_positive(val, name)
    for name, val in (("sigma", sigma), ("thresh", thresh)):
        check_positive(val, name)
    check_positive(smoothing, "smoothing", inclusive=True)
    return {
        "n_segments": n_segments,
        "pixels_per_segment": pixels_per_segment,
        "compactness": compactness,
        "sigma": sigma,
        "smoothing": smoothing,
        "thresh": thresh,
        "num_cuts": num_cuts,
    }


def _grow_options(
    method: Any,
    fraction: Any,
    background: Any,
    upper_factor: Any,
    smoothing_mm: Any,
    multiplier: Any,
    iterations: Any,
    radius: Any,
    fill_holes: Any,
    connectivity: Any,
) -> dict[str, Any]:
    """Checked keyword arguments of :func:`region_grow` (the paper algorithm's step g)."""
    check_positive(multiplier, "multiplier")
    check_positive(smoothing_mm, "smoothing_mm", inclusive=True)
    check_int(iterations, "iterations", minimum=0)
    check_int(radius, "radius", minimum=1)
    if method not in ("threshold", "confidence"):
        raise ValueError(f"`method` must be 'threshold' or 'confidence', got {method!r}")
    if connectivity not in ("face", "full"):
        raise ValueError(f"`connectivity` must be 'face' or 'full', got {connectivity!r}")
    if not 0 < check_positive(fraction, "fraction") < 1:
        raise ValueError(f"`fraction` must be in (0, 1), got {fraction!r}")
    if upper_factor != np.inf:
        check_positive(upper_factor, "upper_factor", minimum=1.0)
    if background is not None:
        check_finite(background, "background")
    return {
        "method": method,
        "fraction": fraction,
        "background": background,
        "upper_factor": upper_factor,
        "smoothing_mm": smoothing_mm,
        "multiplier": multiplier,
        "iterations": iterations,
        "radius": radius,
        "fill_holes": fill_holes,
        "connectivity": connectivity,
    }


def _curve_options(
    feature_sigma_mm: Any, ring_mm: Any, core_enhancement_fraction: Any, tau: Any, oedema_separation: Any
) -> dict[str, Any]:
    """The curve algorithm's options of :func:`segment_lesion`, checked, as `_curve_segment` takes them."""
    core_frac = check_positive(core_enhancement_fraction, "core_enhancement_fraction", inclusive=True)
    if core_frac >= 1:
        raise ValueError(f"`core_enhancement_fraction` must be in [0, 1), got {core_frac}")
    return {
        "sigma_mm": check_positive(feature_sigma_mm, "feature_sigma_mm", inclusive=True),
        "ring_mm": _check_ring(ring_mm),
        "core_fraction": core_frac,
        "tau": check_positive(tau, "tau"),
        "oedema_separation": None
        if oedema_separation is None
        else check_positive(oedema_separation, "oedema_separation"),
    }


def _seed_options(
    seed_in: Any, relative_fraction: Any, min_cover: Any, max_seeds: Any, seed_smoothing_mm: Any
) -> dict[str, Any]:
    """The paper chain's seed options of :func:`segment_lesion`, checked, as `_paper_chain` takes them."""
    if seed_in not in ("outline", "mask"):
        raise ValueError(f"`seed_in` must be 'outline' or 'mask', got {seed_in!r}")
    return {
        "seed_in": seed_in,
        "rel_fraction": check_positive(relative_fraction, "relative_fraction", inclusive=True),
        "min_cover": check_positive(min_cover, "min_cover", inclusive=True),
        "max_seeds": check_int(max_seeds, "max_seeds", minimum=1),
        "seed_sigma": check_positive(seed_smoothing_mm, "seed_smoothing_mm", inclusive=True),
    }


def _search_regions(
    roi_sagittal: xr.DataArray, dce: xr.DataArray, z_margin: float, widen_kw: dict[str, Any]
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """The outline carried to the DCE grid (Fig. 3c), extended along z, and the search box (Fig. 3d)."""
    transferred = transfer_roi(roi_sagittal, dce)
    outline = _extend_z(transferred, z_margin)
    return transferred, outline, widen_search_region(outline, **widen_kw)


def _curve_outcome(
    curve: Any, enh: xr.DataArray, min_enh: float
) -> tuple[xr.DataArray, float, str, dict[str, xr.DataArray]]:
    """The curve algorithm's mask, confidence, method label and reference masks.

    Raises a ValueError when the outline's core enhances by less than `min_enh` %.
    """
    if not curve.core_enhancement >= min_enh:
        raise ValueError(
            f"`dce` shows no enhancement in the search region: the outline's core enhances by "
            f"{curve.core_enhancement:.3g} % < min_enhancement={min_enh:g} %"
        )
    refs = {
        "lesion_reference": like(enh, curve.core, name="lesion_reference"),
        "marrow_reference": like(enh, curve.marrow, name="marrow_reference"),
    }
    return (
        like(enh, curve.lesion, name="lesion"),
        curve.confidence,
        "curve features vs normal marrow (dcemets)",
        refs,
    )


def _steps_dataset(
    first: dict[str, xr.DataArray],
    steps_vars: dict[str, xr.DataArray],
    lesion: xr.DataArray,
    enh: xr.DataArray,
    curve: Any,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The intermediate images of :func:`segment_lesion` (``return_steps=True``), in order."""
    steps = xr.Dataset({**first, **steps_vars, "lesion": lesion})
    steps.attrs.update({k: v for k, v in enh.attrs.items() if k in ("space", "affine", "spacing_mm")})
    steps.attrs.update(attrs)
    steps.attrs["features"] = list(curve.feature_names)
    steps.attrs["lesion_centre"] = [float(v) for v in curve.lesion_centre]
    steps.attrs["marrow_centre"] = [float(v) for v in curve.marrow_centre]
    return steps


@overload
def segment_lesion(
    dce: xr.DataArray,
    roi_sagittal: xr.DataArray,
    *,
    return_steps: Literal[False] = ...,
    rng: int | np.random.Generator | None = ...,
    random_state: Any = ...,
    **options: Any,
) -> xr.DataArray: ...


@overload
def segment_lesion(
    dce: xr.DataArray,
    roi_sagittal: xr.DataArray,
    *,
    return_steps: Literal[True],
    rng: int | np.random.Generator | None = ...,
    random_state: Any = ...,
    **options: Any,
) -> tuple[xr.DataArray, xr.Dataset]: ...


def segment_lesion(
    dce: xr.DataArray,
    roi_sagittal: xr.DataArray,
    *,
    algorithm: Literal["curve", "paper"] = "curve",
    t2w_sagittal: xr.DataArray | None = None,
    return_steps: bool = False,
    rng: int | np.random.Generator | None = 0,
    random_state: Any = NOT_GIVEN,
    kind: Literal["subtraction", "max_se"] = "subtraction",
    n_baseline: int = 1,
    factor: float = 5.0,
    axis: Literal["x", "y"] = "x",
    min_aspect: float = 1.0,
    z_margin_mm: float = 3.0,
    seed_margin_mm: float = 2.5,
    min_enhancement: float = 10.0,
    feature_sigma_mm: float = 1.5,
    ring_mm: tuple[float, float] = (3.0, 9.0),
    core_enhancement_fraction: float = 0.3,
    tau: float = 3.0,
    oedema_separation: float | None = 2.5,
    n_segments: int | None = None,
    pixels_per_segment: float = 6.0,
    compactness: float = 0.1,
    sigma: float = 0.02,
    smoothing: float = 0.5,
    thresh: float = 0.01,
    num_cuts: int = 20,
    seed_in: Literal["outline", "mask"] = "outline",
    min_cover: float = 0.1,
    max_seeds: int = 3,
    relative_fraction: float = 0.45,
    method: Literal["threshold", "confidence"] = "threshold",
    fraction: float = 0.5,
    background: float | None = 0.0,
    upper_factor: float = 2.0,
    seed_smoothing_mm: float = 2.0,
    smoothing_mm: float = 0.75,
    multiplier: float = 2.5,
    iterations: int = 4,
    radius: int = 1,
    fill_holes: bool = True,
    connectivity: Literal["face", "full"] = "face",
    **options: Any,
) -> xr.DataArray | tuple[xr.DataArray, xr.Dataset]:
    """Segment a vertebral lesion in 3D from a radiologist's sagittal outline (Fig. 3).

    Two algorithms share the first steps of the paper's section 2.4: the sagittal outline is
    carried onto the axial DCE grid (:func:`transfer_roi`, Fig. 3c), copied onto the slices
    within `z_margin_mm` above and below it, and its per-slice box is widened left-right by
    `factor` (:func:`widen_search_region`, Fig. 3d).

    ``algorithm="curve"`` (default) finds the lesion as the region whose **enhancement curve**
    differs from the **normal marrow** around it, not as the brightest thing near the outline,
    so that weakly enhancing (sclerotic) lesions, mixed lesions, lesions against a vessel and
    lesions breaking through the cortex are segmented alike:

    1. every voxel near the box gets a feature vector after a Gaussian smoothing of
       `feature_sigma_mm`: its log baseline ``log S0`` and its mean relative enhancement
       ``S(t) / S0 - 1`` over the first, middle and last third of the post-contrast frames,
       the curve's shape ``(early - late) / mean`` (oedematous marrow enhances with the
       marrow's kinetics, only more; a tumour with its own), and the log T2W signal when
       `t2w_sagittal` is given (resampled onto the DCE grid);
    2. the *lesion reference* is the median and scaled MAD of the features over the core of
       the outline (its antero-posterior middle: the outline's rows trimmed by
       `seed_margin_mm` or a fifth of its extent), less core voxels enhancing less than
       `core_enhancement_fraction` of the marrow (a disc or end plate inside a loose outline);
    3. the *marrow reference* is the same over a ring `ring_mm` (inner, outer) away from the
       outline antero-posteriorly and head-foot (left-right the lesion extends beyond a
       sagittal outline), less voxels that do not enhance, have no signal or enhance like
       blood;
    4. a voxel is lesion-like when it is nearer the lesion centre than the marrow centre (in
       units of the geometric mean of the two spreads: the boundary lies where a
       partial-volume mix is half lesion), at most `tau` lesion spreads per feature from the
       lesion centre, and its enhancement is nearer the lesion's than zero (no disc, fat or
       cortex); its *lesion probability* is that of two Gaussian classes with that shared
       spread and equal priors;
    5. the lesion is the lesion-like region connected to the core, inside the box, with
       enclosed holes (a necrotic core) filled.

    ``algorithm="paper"`` is the paper's chain, with the options of the version of
    2026-11-25: :func:`enhancement_image` (`kind`, `n_baseline`), a :func:`normalized_cut`
    of every axial slice of the box (`n_segments`, `pixels_per_segment`, `compactness`,
    `sigma`, `smoothing`, `thresh`, `num_cuts`; intensities scaled over the 1st-99th
    percentiles of the whole 3D box), :func:`select_partitions`, and :func:`region_grow`
    (`method`, `fraction`, `background`, `upper_factor`, `seed_smoothing_mm`,
    `smoothing_mm`, `multiplier`, `iterations`, `radius`, `fill_holes`, `connectivity`) from
    the most enhancing voxel of the kept partitions where they meet the outline's core
    (``seed_in="outline"``; ``"mask"`` searches the whole mask, as the paper's text reads);
    when the region covers less than `min_cover` of the core, the seed was a structure
    touching the outline (a vessel) and the hottest voxel outside it is tried next, up to
    `max_seeds`; growth is barred from voxels whose relative enhancement is below
    `relative_fraction` of the seed's (0 disables).

    With either algorithm, a series whose relative enhancement (smoothed) in the outline's
    core (curve) or at the seed (paper) is below `min_enhancement` % is reported as showing no
    enhancement.

    The mask carries a **segmentation confidence** in ``attrs["confidence"]``, in [0, 1], the
    product of two agreements:

    * with the curves: ``|M & S| / |M | P|``, with ``M`` the mask, ``S`` its voxels whose
      lesion probability (step 4 of the curve algorithm, computed for either algorithm) is at
      least 0.9, and ``P`` the voxels of the box with a probability of at least 0.1 connected
      to the mask: 1 when every voxel of the mask is surely lesion and no plausibly-lesion
      voxel lies outside it; lower when the boundary is ambiguous or the mask takes what the
      curves call marrow (a vessel, or the ring around a sclerotic lesion);
    * with the outline's size: ``clip(2 - V / V_ball, 0, 1)``, with ``V`` the mask's volume
      and ``V_ball`` that of a ball whose section is the outline's largest slice
      (``attrs["outline_volume_ratio"]`` is ``V / V_ball``): a mask up to the ball's volume
      (outlines are drawn generously) keeps the first factor, one twice as large gets 0
      (a lesion grown into oedema or, after motion, into its neighbourhood).

    It is a quality flag, not an estimate of the Dice (see the user guide for how it flags
    poor masks on the simulated cohort).

    Parameters
    ----------
    dce : xarray.DataArray
        DCE series, dims ``("time", "z", "y", "x")``, signal in a.u.
    roi_sagittal : xarray.DataArray
        Bool outline of the diseased segment on the sagittal grid (dims ``z, y, x``).
    algorithm : {"curve", "paper"}
        Segmentation algorithm (see above).
    t2w_sagittal : xarray.DataArray, optional
        The sagittal T2W image the outline was drawn on (3D, same frame of reference); with
        the curve algorithm its log signal is a feature (sclerotic bone is dark on T2W, fat
        bright).
    return_steps : bool
        Also return every intermediate as a Dataset.
    rng : int, numpy.random.Generator or None, default 0
        Seeds the normalized cuts (paper algorithm; one generator drawn through all slices).
    random_state : int, numpy.random.Generator or None
        Deprecated old name of `rng` (a ``FutureWarning``; removed in the next release).
    kind, n_baseline
        :func:`enhancement_image` (`n_baseline` pre-contrast frames also form ``S0`` of the
        curve features).
    factor, axis, min_aspect
        :func:`widen_search_region`; ``min_aspect=1`` (default here): the widened box is at
        least as wide (mm) as it is deep.
    z_margin_mm : float
        The outline is copied onto the axial slices within this distance (mm) above and below
        it before the box is built (outlines rarely reach the lesion's last slices).
    seed_margin_mm : float
        Trim (mm) of the outline's antero-posterior extent defining its core (lesion reference
        of the curve algorithm; seed candidates of the paper's).
    min_enhancement : float
        Least relative enhancement (%) for the series to count as enhancing.
    feature_sigma_mm : float
        Gaussian smoothing (mm) of the series (and T2W) before the curve features.
    ring_mm : tuple of 2 float
        Inner and outer distance (mm) of the marrow reference ring from the outline.
    core_enhancement_fraction : float
        Core voxels enhancing less than this fraction of the marrow do not enter the lesion
        reference (0 keeps all).
    tau : float
        Largest distance (lesion spreads per feature, RMS) from the lesion centre of a
        lesion-like voxel.
    oedema_separation : float or None
        Oedema test of the curve algorithm: when the curve *shapes* (normalised enhancement
        curves) of the lesion core and the marrow ring differ by more than this many robust
        spreads, a voxel whose shape is nearer the marrow's than the lesion's is taken as
        reactive oedema (marrow kinetics, scaled up) and left out.  ``None`` turns the test
        off (the behaviour before 2026-12-05).
    n_segments, pixels_per_segment, compactness, sigma, smoothing, thresh, num_cuts
        :func:`normalized_cut` (paper algorithm).
    seed_in, min_cover, max_seeds, relative_fraction
        Seed search and growth guard of the paper algorithm (see above).
    method, fraction, background, upper_factor, seed_smoothing_mm, smoothing_mm, multiplier, iterations, radius, fill_holes, connectivity
        :func:`region_grow` (paper algorithm).
    **options
        Any other keyword raises a ValueError naming it (with the closest known option).

    Returns
    -------
    xarray.DataArray or (xarray.DataArray, xarray.Dataset)
        Bool lesion mask ``(z, y, x)`` on the DCE grid (name ``"lesion"``) with
        ``attrs["confidence"]``, ``attrs["outline_volume_ratio"]`` and ``attrs["algorithm"]``
        (and ``attrs["seed_index"]`` for the paper algorithm); with `return_steps`, also a Dataset of the intermediates:
        ``transferred_roi``, ``search_region``, ``lesion_probability``, ``lesion`` and, for the
        curve algorithm, ``lesion_reference`` and ``marrow_reference``, for the paper
        algorithm ``enhancement``, ``partitions`` and ``kept_partitions``.

    Raises
    ------
    ValueError
        Empty outline, outline outside the DCE volume, different frames of reference,
        no enhancement, an invalid DCE series or grid (the message names `dce`,
        `roi_sagittal` or `t2w_sagittal`), an unknown keyword option (named, with the known
        ones listed in ``SEGMENT_LESION_OPTIONS``), an option out of range (named), or a
        negative `rng` seed.
    TypeError
        Inputs that are not DataArrays of the right dtype, an option of the wrong type
        (e.g. a float `n_segments`), an `rng` that is not an int, a Generator or None, or
        both `rng` and `random_state`.

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4 and Fig. 3,
    :doi:`10.1016/j.mri.2019.02.013`.
    Huang SH et al. Learning-based vertebra detection and iterative normalized-cut
    segmentation for spinal MRI. IEEE Trans Med Imaging 2009;28:1595-605,
    :doi:`10.1109/TMI.2009.2023362`.
    Rousseeuw PJ, Croux C. Alternatives to the median absolute deviation. J Am Stat Assoc
    1993;88:1273-83, :doi:`10.1080/01621459.1993.10476408` (robust spreads).

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce, make_image
    >>> rng = np.random.default_rng(0)
    >>> sig = np.full((4, 4, 32, 32), 300.0)  # marrow ...
    >>> sig[1:] *= 1.5  # ... enhancing by 50 %
    >>> lesion = np.array([120.0, 160.0, 165.0, 168.0])  # dark, enhancing by 40 % (sclerotic)
    >>> sig[:, :, 8:20, 10:22] = lesion[:, None, None, None]
    >>> dce = make_dce(sig + rng.normal(0.0, 3.0, sig.shape), [0.0, 10.0, 20.0, 30.0], spacing=(1.5, 1.5, 3.0))
    >>> roi = make_image(np.ones((4, 12, 1), bool), spacing=(3.0, 1.5, 3.0), origin=(22.5, 12.0, 0.0))
    >>> mask = segment_lesion(dce, roi)
    >>> int(mask[:, 8:20, 10:22].sum()), int(mask.sum()), round(mask.attrs["confidence"], 2)
    (400, 400, 0.87)

    The lesion holds 576 voxels: on so sharp an edge the partial-volume rim (one voxel, after
    the 1.5 mm smoothing) lies beyond `tau` spreads of so homogeneous a lesion and is left out.
    The paper's chain, on the same case, takes the lesion and its rim; its confidence is low:
    the rim is not surely lesion and the mask is 1.6 times the ball of the outline's section
    (drawn without margin here):

    >>> paper = segment_lesion(dce, roi, algorithm="paper")
    >>> int(paper[:, 8:20, 10:22].sum()), int(paper.sum()), round(paper.attrs["confidence"], 2)
    (576, 576, 0.26)
    """
    if options:
        _check_options(options, "segment_lesion")
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"`algorithm` must be one of {_ALGORITHMS}, got {algorithm!r}")
    min_enh = check_positive(min_enhancement, "min_enhancement", inclusive=True)
    seed_margin = check_positive(seed_margin_mm, "seed_margin_mm", inclusive=True)
    z_margin = check_positive(z_margin_mm, "z_margin_mm", inclusive=True)
    curve_kw = _curve_options(feature_sigma_mm, ring_mm, core_enhancement_fraction, tau, oedema_separation)
    seed_kw = _seed_options(seed_in, relative_fraction, min_cover, max_seeds, seed_smoothing_mm)
    n_base = check_int(n_baseline, "n_baseline", minimum=1)
    # the paper chain's options are checked whichever algorithm runs: a typo never passes silently
    cut_kw = _cut_options(n_segments, pixels_per_segment, compactness, sigma, smoothing, thresh, num_cuts)
    grow_kw = _grow_options(
        method,
        fraction,
        background,
        upper_factor,
        smoothing_mm,
        multiplier,
        iterations,
        radius,
        fill_holes,
        connectivity,
    )
    if kind not in ("subtraction", "max_se"):
        raise ValueError(f"`kind` must be 'subtraction' or 'max_se', got {kind!r}")
    enh_kw: dict[str, Any] = {"kind": kind, "n_baseline": n_baseline}
    widen_kw: dict[str, Any] = {"factor": factor, "axis": axis, "min_aspect": min_aspect}
    rng = as_generator(rng_or_random_state(rng, random_state, func="segment_lesion", default=0), "rng")

    dce = validate_dce(dce)
    t2w_v = None
    if t2w_sagittal is not None:
        t2w_v = _t2w_on_dce_grid(t2w_sagittal, dce)
    transferred, outline, search = _search_regions(roi_sagittal, dce, z_margin, widen_kw)  # (c), (d)
    search_v = np.asarray(search.values)
    trans_v = np.asarray(transferred.values)
    outline_v = np.asarray(outline.values)
    enh = enhancement_image(dce, **enh_kw)  # (b): validates kind and n_baseline
    spacing = np.asarray(geometry(dce).spacing)
    core_v = search_v & _erode_in_plane(trans_v, seed_margin, enh)
    if not core_v.any():
        core_v = search_v & trans_v
    signal = np.asarray(dce.transpose("time", *SPATIAL_DIMS).values)
    curve = _curve_segment(
        signal,
        search_v,
        outline_v,
        core_v,
        spacing_xyz=spacing,
        n_baseline=n_base,
        t2w=t2w_v,
        **curve_kw,
    )
    prob_da = like(enh, curve.probability, name="lesion_probability")
    prob_da.attrs.update({"units": "1", "long_name": "lesion probability of the curve features"})
    steps_vars: dict[str, xr.DataArray] = {}
    attrs_extra: dict[str, Any] = {}
    if algorithm == "curve":
        lesion, confidence, label, steps_vars = _curve_outcome(curve, enh, min_enh)
    else:
        lesion, seed, partitions, kept_da, vr = _paper_chain(
            dce,
            enh,
            search_v,
            trans_v,
            outline_v,
            core_v,
            n_base=n_base,
            min_enh=min_enh,
            **seed_kw,
            cut_kw=cut_kw,
            grow_kw=grow_kw,
            rng=rng,
        )
        confidence = _confidence(np.asarray(lesion.values), curve.probability, search_v)
        label = "ncut + region growing (Fig. 3)"
        attrs_extra = {"seed_index": list(seed), "value_range": list(vr)}
        steps_vars["enhancement"] = enh
        steps_vars["partitions"] = like(enh, partitions, name="partitions")
        steps_vars["partitions"].attrs.update(
            {"units": "1", "long_name": "normalized-cut partitions (per slice)"}
        )
        steps_vars["kept_partitions"] = kept_da
    lesion.attrs = output_attrs(dce, units="1", long_name="lesion mask", method=label)
    lesion.attrs["algorithm"] = algorithm
    size_ratio = _outline_volume_ratio(np.asarray(lesion.values), spacing, roi_sagittal)
    confidence *= float(np.clip(2.0 - size_ratio, 0.0, 1.0))
    lesion.attrs["confidence"] = float(confidence)
    lesion.attrs["outline_volume_ratio"] = float(size_ratio)
    if "seed_index" in attrs_extra:
        lesion.attrs["seed_index"] = attrs_extra["seed_index"]
    if not return_steps:
        return lesion
    steps = _steps_dataset(
        {"transferred_roi": transferred, "search_region": search, "lesion_probability": prob_da},
        steps_vars,
        lesion,
        enh,
        curve,
        {**attrs_extra, "confidence": float(confidence)},
    )
    return lesion, steps


SEGMENT_LESION_OPTIONS: tuple[str, ...] = tuple(
    n
    for n, p in inspect.signature(segment_lesion).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in ("return_steps", "rng", "random_state")
)
"""Names of the keyword options of :func:`segment_lesion` (checked by ``StudyConfig``)."""


def _check_ring(ring_mm: Any) -> tuple[float, float]:
    if isinstance(ring_mm, (str, bytes)) or np.ndim(ring_mm) != 1 or len(ring_mm) != 2:
        raise ValueError(f"`ring_mm` must be two distances (inner, outer) in mm, got {ring_mm!r}")
    lo = check_positive(ring_mm[0], "ring_mm", inclusive=True)
    hi = check_positive(ring_mm[1], "ring_mm")
    if not lo < hi:
        raise ValueError(f"`ring_mm` must be (inner, outer) with inner < outer, got {ring_mm!r}")
    return lo, hi


def _t2w_on_dce_grid(t2w: Any, dce: xr.DataArray) -> np.ndarray:
    """The T2W image resampled (trilinear) onto the spatial grid of `dce`."""
    img = validate_image(t2w, name="t2w_sagittal")
    check_frame_of_reference(img, dce, ("t2w_sagittal", "dce"))
    g_src, g_ref = geometry(img), geometry(dce)
    mat = np.linalg.solve(g_src.index_to_world(), g_ref.index_to_world())
    shape = tuple(int(dce.sizes[d]) for d in SPATIAL_DIMS)
    return _resample_to(np.asarray(img.values), mat, shape)  # type: ignore[arg-type]


def _outline_volume_ratio(mask: np.ndarray, spacing_xyz: np.ndarray, roi_sagittal: xr.DataArray) -> float:
    """Mask volume over the volume of a ball whose section is the outline's largest slice.

    The area ``A`` is the outline's on its largest slice, the slices being taken across the
    outline's axis nearest the left-right direction (the sagittal slices); the ball has radius
    ``sqrt(A / pi)``.
    """
    roi = np.asarray(roi_sagittal.transpose(*SPATIAL_DIMS).values) != 0
    g = geometry(roi_sagittal)
    sp = np.asarray(g.spacing, dtype=float)  # x, y, z
    direction = np.asarray(g.direction, dtype=float).reshape(3, 3)  # columns: index axes x, y, z
    slice_xyz = int(np.argmax(np.abs(direction[0])))  # index axis along L-R
    slice_arr = 2 - slice_xyz  # array axes are (z, y, x)
    in_plane = [a for a in range(3) if a != slice_arr]
    pixel = float(np.prod([sp[2 - a] for a in in_plane]))
    area = float(roi.sum(axis=tuple(in_plane)).max()) * pixel
    if area <= 0:
        return float("inf")
    ball = 4.0 / 3.0 * np.pi * (area / np.pi) ** 1.5
    return float(mask.sum() * np.prod(spacing_xyz) / ball)


def _confidence(mask: np.ndarray, prob: np.ndarray, box: np.ndarray) -> float:
    """``|M & S| / |M | P|`` of :func:`segment_lesion` for any mask."""
    if not mask.any():
        return 0.0
    sure = mask & (prob >= 0.9)
    lab, _ = ndi.label((prob >= 0.1) & box)
    touch = np.unique(lab[mask])
    region = np.isin(lab, touch[touch > 0]) | mask
    return float(sure.sum() / region.sum())


def _paper_chain(
    dce: xr.DataArray,
    enh: xr.DataArray,
    search_v: np.ndarray,
    trans_v: np.ndarray,
    outline_v: np.ndarray,
    core_v: np.ndarray,
    *,
    seed_in: str,
    n_base: int,
    seed_sigma: float,
    min_enh: float,
    rel_fraction: float,
    min_cover: float,
    max_seeds: int,
    cut_kw: dict[str, Any],
    grow_kw: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[xr.DataArray, tuple[int, int, int], np.ndarray, xr.DataArray, tuple[float, float]]:
    """The paper's steps (d)-(g): ncut per slice, partition selection, seeded region growing."""
    enh_v = np.asarray(enh.values)
    vr = (float(np.percentile(enh_v[search_v], 1)), float(np.percentile(enh_v[search_v], 99)))
    partitions = np.zeros(enh_v.shape, dtype=np.int64)
    for z in np.flatnonzero(search_v.any(axis=(1, 2))):  # loop over axial slices, not voxels
        partitions[z] = normalized_cut(enh_v[z], search_v[z], value_range=vr, rng=rng, **cut_kw)
    kept = select_partitions(partitions, outline_v)  # (e) per slice -> (f) 3D mask
    kept_da = like(enh, kept, name="kept_partitions")
    kept_da.attrs.update({"units": "1", "long_name": "partitions overlapping the outline"})
    seed_region = kept & core_v if seed_in == "outline" else kept
    if not seed_region.any():
        seed_region = kept & trans_v
    if not seed_region.any():
        seed_region = kept
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
                sigma_mm=float(grow_kw["smoothing_mm"]),
                fraction=rel_fraction,
            )
        grown = region_grow(
            enh, seed=seed, within=kept_da, exclude=exclude, seed_smoothing_mm=seed_sigma, **grow_kw
        )  # (g)
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
    return lesion, seed, partitions, kept_da, vr


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
    rng: int | None = 0,
    random_state: Any = NOT_GIVEN,
    use_t2w: bool = True,
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
    rng : int or None, default 0
        Seed (>= 0) passed to every case, so that segmentations do not depend on the order
        of cases (a shared Generator would make them depend on it, so none is taken).
    random_state : int or None
        Deprecated old name of `rng` (a ``FutureWarning``; removed in the next release).
    use_t2w : bool
        Pass each case's ``t2w_sagittal`` (when it has one) to :func:`segment_lesion` as
        `t2w_sagittal`.
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
        option is unknown, `rng` is negative, `n_jobs` is 0, or a case fails to
        segment (the message names the subject).
    TypeError
        If `cases` is not an iterable (or mapping) of cases, `rng` is not an int
        or None, or a case fails to segment with a TypeError (the message names the
        subject).

    References
    ----------
    Lang N et al. Magn Reson Imaging 2019;64:4-12, section 2.4, :doi:`10.1016/j.mri.2019.02.013`.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets.geometry import make_dce, make_image
    >>> from dcemets.io import Case
    >>> sig = np.full((4, 4, 32, 32), 300.0)
    >>> sig[1:] *= 1.5
    >>> sig[:, :, 8:20, 10:22] = np.array([120.0, 160.0, 165.0, 168.0])[:, None, None, None]
    >>> dce = make_dce(sig, [0.0, 10.0, 20.0, 30.0], spacing=(1.5, 1.5, 3.0))
    >>> roi = make_image(np.ones((4, 12, 1), bool), spacing=(3.0, 1.5, 3.0), origin=(22.5, 12.0, 0.0))
    >>> masks = segment_cohort([Case("s1", dce, roi_sagittal=roi)], progress=False)
    >>> list(masks), int(masks["s1"][:, 8:20, 10:22].sum()), int(masks["s1"].sum())
    (['s1'], 400, 400)
    """
    from tqdm.auto import tqdm

    _check_options(options, "segment_cohort")
    seed = rng_or_random_state(rng, random_state, func="segment_cohort", default=0)
    if seed is not None:
        check_int(seed, "rng", minimum=0)
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
    if not isinstance(use_t2w, (bool, np.bool_)):
        raise TypeError(f"`use_t2w` must be a bool, got {type(use_t2w).__name__}")
    if "t2w_sagittal" in options:
        raise ValueError("`t2w_sagittal` is taken from each case (see `use_t2w`), not passed as an option")
    args = [
        (sid, c.dce, c.roi_sagittal, getattr(c, "t2w_sagittal", None) if use_t2w else None)
        for sid, c in zip(ids, items)
    ]
    bar = tqdm(total=len(args), desc="segmenting", unit="case", disable=not progress)
    out: dict[str, xr.DataArray] = {}
    try:
        if n_jobs == 1:
            for a in args:
                sid, mask = _segment_one(a, seed, options)
                out[sid] = mask
                bar.update()
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=int(n_jobs), return_as="generator")
            for sid, mask in par(delayed(_segment_one)(a, seed, options) for a in args):
                out[sid] = mask
                bar.update()
    finally:
        bar.close()
    return {sid: out[sid] for sid in ids}


def _segment_one(
    arg: tuple[str, xr.DataArray, xr.DataArray, xr.DataArray | None],
    seed: int | None,
    options: dict[str, Any],
) -> tuple[str, xr.DataArray]:
    sid, dce, roi, t2w = arg
    try:
        mask = segment_lesion(dce, roi, t2w_sagittal=t2w, rng=seed, **options)
    except (ValueError, TypeError) as err:
        raise type(err)(f"case {sid!r}: {err}") from err
    return sid, mask.transpose(*SPATIAL_DIMS)
