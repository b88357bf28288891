"""Motion correction of a DCE series: rigid registration of every frame to one frame.

Every frame is registered to one *fixed* frame (the last, late post-contrast frame by
default) with SimpleITK (Lowekamp et al. 2013): Mattes mutual information (Mattes et al.
2003) on a random sample of the fixed frame's foreground voxels, a regular-step gradient
descent over a three-level image pyramid, linear interpolation.  The *reference* frame (the
pre-contrast frame by default), on whose anatomy the corrected series lies, is tied to the
fixed frame through its neighbour (closest in contrast), and all estimates are composed to
be relative to it.  Mutual information is chosen because contrast enhancement changes the
intensity of the lesion, the vessels and the marrow between frames: a metric that assumes
equal intensities (sum of squared differences) or a global linear relation (correlation) is
pulled by the enhancing regions, while mutual information only assumes a statistical
dependence of the two frames' intensities; this is the choice of Rueckert et al. (1999) for
contrast-enhanced breast MRI.  Enhancement still biases it (Melbourne et al. 2007 show this
for non-rigid models); a late post-contrast fixed frame, which most frames resemble, reduced
the bias on the DRO (the registration guide gives the figures).

The estimated transform of frame ``k`` maps a point of the reference frame (LPS, mm) to the
position of the same anatomy in frame ``k``; its translation is therefore the displacement
of the anatomy (the convention of :func:`dcemets.simulate.simulate_case`'s
``truth["motion_mm"]``).  The corrected frame is frame ``k`` resampled at the transformed
reference grid, so that every corrected frame is on the reference frame's anatomy.

One concept: rigid frame-to-frame motion correction of a DCE series and its quality
record.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
import xarray as xr

from dcemets._checks import check_int as _check_int
from dcemets._checks import check_real as _check_real
from dcemets._conventions import (
    check_rng,
    check_same_grid,
    geometry,
    validate_dce,
    validate_image,
)
from dcemets.io import to_sitk

__all__ = ["FrameRegistration", "register_frames"]

_TRANSFORMS = ("translation", "rigid")
_INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}
_MIN_SIZE = 4
_MOVING_PAD_MM = 20.0  # with a mask, the moving frames are cropped to the region + this
_AXES = ["L", "P", "S"]
_REFS = (
    "Mattes D et al. IEEE Trans Med Imaging 2003;22:120-128. doi:10.1109/TMI.2002.808584; "
    "Rueckert D et al. IEEE Trans Med Imaging 1999;18:712-721. doi:10.1109/42.796284; "
    "Lowekamp BC et al. Front Neuroinform 2013;7:45. doi:10.3389/fninf.2013.00045"
)


_VARS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "matrix": (("time", "row", "col"), "1", "linear part (LPS)"),
    "offset": (("time", "axis"), "mm", "offset (LPS)"),
    "translation": (("time", "axis"), "mm", "translation"),
    "rotation": (("time", "axis"), "rad", "Euler angles"),
    "displacement": (("time", "axis"), "mm", "displacement of the centre"),
    "displacement_mm": (("time",), "mm", "centre displacement"),
    "displacement_vox": (("time",), "1", "centre displacement (voxels)"),
    "max_displacement_mm": (("time",), "mm", "largest displacement"),
    "max_displacement_vox": (("time",), "1", "largest displacement (voxels)"),
    "metric_before": (("time",), "1", "Mattes MI at the identity"),
    "metric_after": (("time",), "1", "Mattes MI at the estimate"),
    "corrected": (("time",), "1", "frame resampled"),
}
"""Variables of :attr:`FrameRegistration.transforms`: dims, units, long name."""


@dataclass(frozen=True)
class FrameRegistration:
    """Result of :func:`register_frames`.

    Attributes
    ----------
    dce : xarray.DataArray
        The motion-corrected series: same dims, coordinates, dtype (float) and attrs as the
        input, plus ``attrs["motion_corrected"] = True``.
    transforms : xarray.Dataset
        Per frame (dim ``time``), in LPS world space: ``matrix`` (``("time", "row", "col")``)
        and ``offset`` (``("time", "axis")``, mm) of the map ``x -> matrix @ x + offset`` from
        a reference-frame point to the same anatomy in that frame; ``translation`` (mm) and
        ``rotation`` (rad, Euler angles about the L, P, S axes through ``center``, ITK's
        Z-X-Y order) of the same map; ``displacement`` (mm) of the region's centre;
        ``displacement_mm`` and ``displacement_vox`` (its length in mm and in voxels, the
        voxel vector scaled by the spacing of each image axis); ``max_displacement_mm`` and
        ``max_displacement_vox`` (the largest over the region's bounding box);
        ``metric_before`` and ``metric_after`` (Mattes mutual information at the identity and
        at the estimate, lower is better); ``corrected`` (bool: the frame was resampled).
        ``attrs``: ``reference_index``, ``transform``, ``center`` (mm), ``motion_vox`` and
        ``motion_mm`` (the largest ``max_displacement`` over frames), the options and
        references.

    Examples
    --------
    >>> import numpy as np
    >>> from dcemets import make_dce
    >>> z, y, x = np.mgrid[:12, :24, :24].astype(float)
    >>> frames = [np.exp(-((z - 6) ** 2 + (y - 12) ** 2 + (x - 12) ** 2) / 18.0) * s for s in (1, 1.5, 1.5)]
    >>> dce = make_dce(np.stack(frames), [0.0, 10.0, 20.0], spacing=(2.0, 2.0, 2.0))
    >>> reg = register_frames(dce, transform="translation", sampling=0.5, rng=0)
    >>> isinstance(reg, FrameRegistration), reg.dce.shape == dce.shape, "translation" in reg.transforms
    (True, True, True)
    """

    dce: xr.DataArray
    transforms: xr.Dataset

    @property
    def motion_vox(self) -> float:
        """Largest displacement of the region over the frames (voxels): a quality flag."""
        return float(self.transforms.attrs["motion_vox"])

    @property
    def motion_mm(self) -> float:
        """Largest displacement of the region over the frames (mm)."""
        return float(self.transforms.attrs["motion_mm"])


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be one of {list(choices)}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}")
    return value


def _region(mask: np.ndarray | None, shape_zyx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Index bounding box ``(lo, hi)`` (x, y, z order, inclusive) of the region."""
    if mask is None:
        return np.zeros(3, dtype=int), np.array(shape_zyx[::-1]) - 1
    idx = np.nonzero(mask)  # z, y, x
    lo = np.array([idx[2].min(), idx[1].min(), idx[0].min()])
    hi = np.array([idx[2].max(), idx[1].max(), idx[0].max()])
    return lo, hi


def _crops(
    lo: np.ndarray, hi: np.ndarray, shape_zyx: tuple[int, ...], margin: float, spacing: np.ndarray
) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
    """``(size, index)`` regions (x, y, z) of the fixed crop and of the moving frames' crop.

    The fixed crop is the box ``lo..hi`` grown by `margin` mm; the moving frames' crop is that
    grown by the largest motion searched (``_MOVING_PAD_MM``), so that the pyramid and the
    metric do not process the whole volume (the same result for motion below it, whose
    samples all stay inside).
    """
    top = np.array(shape_zyx[::-1]) - 1
    grow = np.ceil(margin / spacing).astype(int)
    lo_c, hi_c = np.maximum(lo - grow, 0), np.minimum(hi + grow, top)
    pad = np.ceil(_MOVING_PAD_MM / spacing).astype(int)
    lo_m, hi_m = np.maximum(lo_c - pad, 0), np.minimum(hi_c + pad, top)
    return ((hi_c - lo_c + 1).tolist(), lo_c.tolist()), ((hi_m - lo_m + 1).tolist(), lo_m.tolist())


def _displacements(
    matrix: np.ndarray,
    offset: np.ndarray,
    center: np.ndarray,
    corners: np.ndarray,
    direction: np.ndarray,
    spacing: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-frame displacement of the region's centre and largest over its corners (mm, voxels).

    Vectorised over the frames: ``x_frame = matrix @ x + offset`` (LPS mm) at the centre
    (``center``, shape (3,)) and the 8 corners (shape (8, 3)) of the region.
    """
    disp = np.einsum("kij,j->ki", matrix, center) + offset - center  # (nt, 3)
    to_vox = direction.T / spacing[:, None]  # world vector -> index-space vector (voxels)
    dcorner = np.einsum("kij,nj->kni", matrix, corners) + offset[:, None, :] - corners[None]
    return {
        "displacement": disp,
        "displacement_mm": np.linalg.norm(disp, axis=-1),
        "displacement_vox": np.linalg.norm(disp @ to_vox.T, axis=-1),
        "max_displacement_mm": np.linalg.norm(dcorner, axis=-1).max(axis=1),
        "max_displacement_vox": np.linalg.norm(dcorner @ to_vox.T, axis=-1).max(axis=1),
    }


def _transforms_dataset(arrays: dict[str, np.ndarray], time: xr.DataArray, **settings: Any) -> xr.Dataset:
    """:attr:`FrameRegistration.transforms` from the per-frame `arrays` (:data:`_VARS`) and the settings."""
    ds = xr.Dataset(
        {
            name: (dims, arrays[name], {"units": units, "long_name": long})
            for name, (dims, units, long) in _VARS.items()
        },
        coords={"time": time, "axis": _AXES, "row": _AXES, "col": _AXES},
    )
    ds.attrs.update(
        {
            "reference_index": settings.pop("reference_index"),
            "fixed_index": settings.pop("fixed_index"),
            "transform": settings.pop("transform"),
            "center": settings.pop("center"),
            "space": "LPS",
            "motion_vox": float(arrays["max_displacement_vox"].max()),
            "motion_mm": float(arrays["max_displacement_mm"].max()),
            **settings,
            "convention": "x_frame = matrix @ x_reference + offset (LPS mm)",
            "reference": _REFS,
        }
    )
    return ds


def _method_for(
    i: int,
    *,
    frames: list[sitk.Image],
    crop: tuple[list[int], list[int]] | None,
    mask: sitk.Image | None,
    on_box: bool,
    settings: tuple[int, int, float, int, int],
) -> tuple[sitk.ImageRegistrationMethod, sitk.Image]:
    """Registration method and fixed image (cropped, masked) for frame `i` as the fixed frame.

    With a `crop` (and its `mask`), the fixed image is cropped and the metric restricted to
    the mask unless `on_box`; without, the metric is restricted to the foreground (Otsu
    threshold dilated by one voxel) when there is one.  `settings` are
    :func:`_make_method`'s ``(n_levels, n_bins, sampling, seed, iterations)``.
    """
    fixed_i = frames[i]
    fmask = None
    if crop is not None and mask is not None:
        fixed_i = sitk.RegionOfInterest(fixed_i, *crop)
        fmask = None if on_box else sitk.RegionOfInterest(mask, *crop)
    else:
        fg = sitk.BinaryDilate(sitk.OtsuThreshold(fixed_i, 0, 1), [1, 1, 1])
        if sitk.GetArrayViewFromImage(fg).any():
            fmask = fg
    method = _make_method(*settings)
    if fmask is not None:
        method.SetMetricFixedMask(fmask)
    return method, fixed_i


def _resample(
    da: xr.DataArray,
    values: np.ndarray,
    frames: list[sitk.Image],
    fitted: list[sitk.Transform | None],
    corrected: np.ndarray,
    ref: int,
    interp: int,
    dtype: np.dtype,
) -> np.ndarray:
    """The corrected values: each `corrected` frame resampled onto the reference frame's grid.

    `values` is the series in float32 (``frames`` are made from it); the other frames are
    copied unchanged, from `values` or, for another floating `dtype`, from `da` itself.
    """
    out = values.copy() if dtype == np.float32 else np.asarray(da.values, dtype=dtype).copy()
    for k in np.flatnonzero(corrected).tolist():
        tx_k = fitted[k]
        assert tx_k is not None
        res = sitk.Resample(frames[k], frames[ref], tx_k, interp, 0.0, sitk.sitkFloat32, True)
        out[k] = sitk.GetArrayFromImage(res).astype(dtype, copy=False)
    return out


def _make_method(
    n_levels: int, n_bins: int, sampling: float, seed: int, iterations: int
) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=n_bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    # the finest level samples `sampling`; each coarser level (8x fewer voxels) 4x more
    pcts = [min(1.0, sampling * 4.0**i) for i in range(n_levels - 1, -1, -1)]
    reg.SetMetricSamplingPercentagePerLevel(pcts, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0,
        minStep=1e-3,  # mm (physical-shift scales): 1/1000 of a voxel
        numberOfIterations=iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    shrink = [2**i for i in range(n_levels - 1, -1, -1)]
    reg.SetShrinkFactorsPerLevel(shrink)
    reg.SetSmoothingSigmasPerLevel([s / 2.0 if s > 1 else 0.0 for s in shrink])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return reg


def _initial(kind: str, center: np.ndarray) -> sitk.Transform:
    if kind == "translation":
        return sitk.TranslationTransform(3)
    tx = sitk.Euler3DTransform()
    tx.SetCenter(tuple(float(c) for c in center))
    return tx


def _single(tx: sitk.Transform) -> sitk.Transform:
    """The one transform inside the composite that ``Execute`` returns, downcast."""
    if tx.GetName() == "CompositeTransform":
        comp = sitk.CompositeTransform(tx)
        if comp.GetNumberOfTransforms() == 1:
            tx = comp.GetNthTransform(0)
    return tx.Downcast()


def _from_matrix(
    m: np.ndarray, offset: np.ndarray, kind: str, center: np.ndarray
) -> tuple[sitk.Transform, np.ndarray, np.ndarray]:
    """The SimpleITK transform, translation (about `center`) and Euler angles of ``m x + offset``."""
    t = offset + m @ center - center
    if kind == "translation":
        return sitk.TranslationTransform(3, tuple(float(v) for v in offset)), offset.copy(), np.zeros(3)
    e = sitk.Euler3DTransform()
    e.SetCenter(tuple(float(c) for c in center))
    e.SetMatrix(tuple(float(v) for v in m.ravel()), 1e-6)
    e.SetTranslation(tuple(float(v) for v in t))
    return e, t, np.array([e.GetAngleX(), e.GetAngleY(), e.GetAngleZ()])


def _as_matrix(tx: sitk.Transform, kind: str, center: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(matrix, offset, translation, rotation)`` of a fitted transform."""
    if kind == "translation":
        t = np.asarray(tx.GetParameters(), dtype=float)
        return np.eye(3), t, t, np.zeros(3)
    e = tx if isinstance(tx, sitk.Euler3DTransform) else sitk.Euler3DTransform(tx)
    m = np.asarray(e.GetMatrix(), dtype=float).reshape(3, 3)
    t = np.asarray(e.GetTranslation(), dtype=float)
    offset = t + center - m @ center
    return m, offset, t, np.array([e.GetAngleX(), e.GetAngleY(), e.GetAngleZ()])


def _estimate(
    reg: sitk.ImageRegistrationMethod,
    fixed: sitk.Image,
    moving: list[sitk.Image],
    method_for: Any,
    fix: int,
    ref: int,
    kind: str,
    center: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, ``(matrix, offset)`` of the map from the reference frame to it, and the metric.

    Every frame is registered to the fixed frame (``x_k = A_k x_fixed + b_k``); the reference
    frame through its neighbour towards the fixed frame (closest contrast) when it is not
    adjacent; the estimates are then composed to be relative to the reference frame.
    Returns the matrices ``(nt, 3, 3)``, offsets ``(nt, 3)`` and the metric at the identity and
    at the estimate ``(nt,)``.
    """
    nt = len(moving)
    before = np.zeros(nt)
    after = np.zeros(nt)
    a_fix = np.tile(np.eye(3), (nt, 1, 1))
    b_fix = np.zeros((nt, 3))
    for k in range(nt):
        reg.SetInitialTransform(_initial(kind, center), inPlace=False)
        before[k] = reg.MetricEvaluate(fixed, moving[k])
        if k == fix:
            after[k] = before[k]
            continue
        tx = _single(reg.Execute(fixed, moving[k]))
        reg.SetInitialTransform(tx, inPlace=False)
        after[k] = reg.MetricEvaluate(fixed, moving[k])
        a_fix[k], b_fix[k] = _as_matrix(tx, kind, center)[:2]
    # the reference frame through its neighbour towards the fixed frame (closest contrast):
    # x_ref = C x_nb + d and x_nb = A_nb x_fix + b_nb
    if abs(fix - ref) > 1:
        nb = ref + (1 if fix > ref else -1)
        reg_nb, fixed_nb = method_for(nb)
        reg_nb.SetInitialTransform(_initial(kind, center), inPlace=False)
        c_nb, d_nb = _as_matrix(_single(reg_nb.Execute(fixed_nb, moving[ref])), kind, center)[:2]
        a_fix[ref], b_fix[ref] = c_nb @ a_fix[nb], c_nb @ b_fix[nb] + d_nb
    # relative to the reference frame: x_k = A_k A_r^-1 (x_r - b_r) + b_k
    matrix = a_fix @ np.linalg.inv(a_fix[ref])
    offset = b_fix - np.einsum("kij,j->ki", matrix, b_fix[ref])
    matrix[ref], offset[ref] = np.eye(3), 0.0
    return matrix, offset, before, after


def register_frames(
    dce: xr.DataArray,
    *,
    reference: int = 0,
    fixed_frame: int = -1,
    transform: Literal["rigid", "translation"] = "rigid",
    mask: xr.DataArray | None = None,
    margin_mm: float = 20.0,
    metric_region: Literal["mask", "box"] = "mask",
    n_levels: int = 3,
    n_bins: int = 32,
    sampling: float = 0.06,
    iterations: int = 50,
    interpolator: Literal["linear", "bspline"] = "linear",
    min_displacement: float = 0.1,
    rng: int | np.random.Generator | None = None,
) -> FrameRegistration:
    """Correct patient motion between the frames of a DCE series by rigid registration.

    Every frame is registered to the frame `reference` (Mattes mutual information, which
    tolerates the intensity change of contrast enhancement; see the module docstring and the
    registration guide) and resampled onto it.  Lang et al. (2019, section 2.5) saw no motion
    in their 120-168 s acquisitions and did not register the frames; this step is an addition
    for exams that move (issue 20).

    Parameters
    ----------
    dce : xarray.DataArray
        DCE series ``("time", "z", "y", "x")`` (any dim order), at least 3 frames and
        4 voxels along every axis, finite values.
    reference : int, default 0
        Index of the reference frame (negative counts from the end): the corrected series is
        on its anatomy and the transforms are relative to it.  The default, the first
        (pre-contrast) frame, is the frame of ``S0`` and the one an ROI drawn before the
        dynamic series matches.
    fixed_frame : int, default -1
        Frame every frame is registered to (the metric's fixed image); the estimates are then
        composed to be relative to `reference`.  The default, the last (late post-contrast)
        frame, resembles most frames of the series: on the DRO, registering to the
        pre-contrast frame instead showed 0.25-0.7 voxel of apparent motion on a motion-free
        case (the registration guide).  The reference frame itself is registered to its
        neighbour towards the fixed frame (the frame of closest contrast) and chained.
    transform : {"rigid", "translation"}, default "rigid"
        Rigid (3 rotations + 3 translations, ``sitk.Euler3DTransform``) or translation only.
    mask : xarray.DataArray of bool, optional
        Region the metric is computed on (e.g. a box around the spine), on the grid of
        `dce`: the fixed frame is cropped to its bounding box grown by `margin_mm` and the
        metric is restricted to the mask (or to the whole crop, `metric_region`); the moving
        frames are cropped to that box grown by 20 mm, so the cost follows the box (a motion
        beyond 20 mm loses the samples near the box's edge).  Default: the foreground of the reference
        frame (Otsu threshold, dilated by one voxel), so that no sample is spent on air.
    margin_mm : float, default 20.0
        Margin (mm, >= 0) added around the bounding box of `mask`.
    metric_region : {"mask", "box"}, default "mask"
        With a `mask`: the metric is computed on the mask's voxels (``"mask"``) or on every
        voxel of the cropped box, the mask's bounding box grown by `margin_mm` (``"box"``).
        ``"box"`` suits a small mask that marks *where* to register (a lesion outline): the
        edges around it (cortex, disc, canal) carry the position, and a few hundred mask
        voxels sampled at `sampling` give too few samples (on the DRO, registration on a
        lesion outline's voxels alone was off by 3-17 voxels, median over the frames of two
        hard development cases).
    n_levels : int, default 3
        Levels of the image pyramid (shrink factors ``2**(n_levels-1), ..., 1``), 1-5;
        reduced so that the coarsest level keeps 4 voxels along every axis.
    n_bins : int, default 32
        Histogram bins of the mutual information, 8-256.
    sampling : float, default 0.06
        Fraction of the (cropped) reference voxels sampled at random per metric evaluation
        at full resolution, in (0, 1]; each coarser pyramid level samples 4 times more
        (at most all of its voxels).
    iterations : int, default 50
        Maximum gradient-descent iterations per pyramid level, 1-10000.
    interpolator : {"linear", "bspline"}, default "linear"
        Interpolation of the corrected frames ("bspline": cubic B-spline, sharper, but it can
        overshoot at edges).  Points that fall outside a frame take the nearest voxel.
    min_displacement : float, default 0.1
        Frames whose estimated motion (the largest displacement over the region, in voxels)
        is below this are returned unchanged (no interpolation blur); 0 resamples every
        frame except the reference.
    rng : int, numpy.random.Generator or None
        Seeds the random metric sampling; pass an int for a reproducible result.  With more
        than one ITK thread the metric's sums are accumulated in a varying order, so two runs
        with the same seed may differ by about 1e-5 mm (measured on a hard DRO case); set
        ``SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(1)`` for bit-identical runs.

    Returns
    -------
    FrameRegistration
        ``.dce`` (the corrected series, same grid, coordinates and attrs as `dce`; the
        input is not modified), ``.transforms`` (an :class:`xarray.Dataset` of the per-frame
        transforms in LPS mm / rad, displacements in mm and voxels, metric values, and the
        scalar ``motion_vox`` / ``motion_mm`` in its attrs) and the properties
        ``motion_vox`` and ``motion_mm``.

    Raises
    ------
    TypeError
        If `dce` or `mask` is not a DataArray, or an option has the wrong type.
    ValueError
        If `dce` is not a valid finite DCE series, has fewer than 4 voxels along an axis,
        `mask` is empty or on another grid, or an option is out of range.

    References
    ----------
    .. [1] Mattes D, Haynor DR, Vesselle H, Lewellen TK, Eubank W. PET-CT image registration
       in the chest using free-form deformations. IEEE Trans Med Imaging 2003;22:120-128.
       :doi:`10.1109/TMI.2002.808584`
    .. [2] Rueckert D, Sonoda LI, Hayes C, Hill DLG, Leach MO, Hawkes DJ. Nonrigid
       registration using free-form deformations: application to breast MR images. IEEE
       Trans Med Imaging 1999;18:712-721. :doi:`10.1109/42.796284`
    .. [3] Melbourne A, Atkinson D, White MJ, Collins D, Leach M, Hawkes D. Registration of
       dynamic contrast-enhanced MRI using a progressive principal component registration
       (PPCR). Phys Med Biol 2007;52:5147-5156. :doi:`10.1088/0031-9155/52/17/003`
    .. [4] Lowekamp BC, Chen DT, Ibanez L, Blezek D. The design of SimpleITK. Front
       Neuroinform 2013;7:45. :doi:`10.3389/fninf.2013.00045`
    .. [5] Lang N et al. Magn Reson Imaging 2019;64:4-12. :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    A smooth blob that moves 2 mm along L in the last two frames and enhances:

    >>> import numpy as np
    >>> from dcemets import make_dce
    >>> z, y, x = np.mgrid[:12, :24, :24].astype(float)
    >>> def blob(dx):
    ...     return 100 + 100 * np.exp(-((x - 11 - dx) ** 2 + (y - 12) ** 2 + (z - 6) ** 2) / 18)
    >>> frames = [blob(0), 1.5 * blob(0), 1.5 * blob(1.0), 1.5 * blob(1.0)]  # 1 voxel = 2 mm
    >>> dce = make_dce(np.stack(frames), [0.0, 10.0, 20.0, 30.0], spacing=(2.0, 2.0, 2.0))
    >>> out = register_frames(dce, transform="translation", sampling=0.5, rng=0)  # small image
    >>> np.round(out.transforms.translation.sel(axis="L").values, 1).tolist()
    [0.0, 0.0, 2.0, 2.0]
    >>> out.transforms.corrected.values.tolist(), round(out.motion_vox, 1)
    ([False, False, True, True], 1.0)
    """
    da = validate_dce(dce, name="dce")
    nt = da.sizes["time"]
    shape = tuple(int(da.sizes[d]) for d in ("z", "y", "x"))
    if min(shape) < _MIN_SIZE:
        raise ValueError(
            f"`dce` needs at least {_MIN_SIZE} voxels along each of z, y, x to be registered, got {shape}"
        )
    ref = _check_int(reference, "reference", -nt, nt - 1) % nt
    fix = _check_int(fixed_frame, "fixed_frame", -nt, nt - 1) % nt
    kind = _check_choice(transform, "transform", _TRANSFORMS)
    on_box = _check_choice(metric_region, "metric_region", ("mask", "box")) == "box"
    interp = _INTERPOLATORS[_check_choice(interpolator, "interpolator", tuple(_INTERPOLATORS))]
    margin = _check_real(margin_mm, "margin_mm", 0.0, 1e4)
    levels = _check_int(n_levels, "n_levels", 1, 5)
    bins = _check_int(n_bins, "n_bins", 8, 256)
    frac = _check_real(sampling, "sampling", 0.0, 1.0, low_open=True)
    iters = _check_int(iterations, "iterations", 1, 10_000)
    min_disp = _check_real(min_displacement, "min_displacement", 0.0, 1e3)
    gen = check_rng(rng)
    mask_np: np.ndarray | None = None
    if mask is not None:
        m = validate_image(mask, name="mask", mask=True)
        check_same_grid(da, m, names=("dce", "mask"))
        mask_np = np.asarray(m.transpose("z", "y", "x").values, dtype=bool)
        if not mask_np.any():
            raise ValueError("`mask` is empty: no voxel to compute the registration metric on")
    seed = int(gen.integers(1, 2**31 - 1))

    geo = geometry(da, name="dce")
    spacing = np.asarray(geo.spacing)
    direction = geo.direction_matrix
    to_world = geo.index_to_world()
    dtype = da.dtype if np.issubdtype(da.dtype, np.floating) else np.dtype(np.float64)
    values = np.asarray(da.values, dtype=np.float32)
    frames = to_sitk(da.copy(data=values))
    assert isinstance(frames, list)

    # region: bounding box of the mask (+ margin) or the whole volume (x, y, z index order)
    lo, hi = _region(mask_np, shape)
    corners_idx = np.array(np.meshgrid(*[[lo[a], hi[a]] for a in range(3)], indexing="ij")).reshape(3, -1).T
    corners = corners_idx @ to_world[:3, :3].T + to_world[:3, 3]
    center = 0.5 * ((lo + hi) @ to_world[:3, :3].T) + to_world[:3, 3]
    crop: tuple[list[int], list[int]] | None = None
    mov_crop: tuple[list[int], list[int]] | None = None
    mimg: sitk.Image | None = None
    if mask_np is not None:
        crop, mov_crop = _crops(lo, hi, shape, margin, spacing)
        mimg_any = to_sitk(m.transpose("z", "y", "x").astype(np.uint8))
        assert isinstance(mimg_any, sitk.Image)
        mimg = mimg_any
    crop_shape = tuple(crop[0]) if crop is not None else shape[::-1]
    levels = max(1, min(levels, int(np.floor(np.log2(min(crop_shape) / _MIN_SIZE))) + 1))

    method_for = functools.partial(
        _method_for,
        frames=frames,
        crop=crop,
        mask=mimg,
        on_box=on_box,
        settings=(levels, bins, frac, seed, iters),
    )

    reg, fixed = method_for(fix)
    moving = frames if mov_crop is None else [sitk.RegionOfInterest(f, *mov_crop) for f in frames]

    matrix, offset, before, after = _estimate(reg, fixed, moving, method_for, fix, ref, kind, center)
    fitted: list[sitk.Transform | None] = [None] * nt
    translation = np.zeros((nt, 3))
    rotation = np.zeros((nt, 3))
    for k in range(nt):
        fitted[k], translation[k], rotation[k] = _from_matrix(matrix[k], offset[k], kind, center)

    arrays = {
        "matrix": matrix,
        "offset": offset,
        "translation": translation,
        "rotation": rotation,
        **_displacements(matrix, offset, center, corners, direction, spacing),
        "metric_before": before,
        "metric_after": after,
    }
    corrected = arrays["max_displacement_vox"] >= max(min_disp, 1e-12)
    corrected[ref] = False
    arrays["corrected"] = corrected

    out = da.copy(data=_resample(da, values, frames, fitted, corrected, ref, interp, dtype))
    out.attrs["motion_corrected"] = True
    out = out.transpose(*dce.dims)

    ds = _transforms_dataset(
        arrays,
        da["time"],
        reference_index=int(ref),
        fixed_index=int(fix),
        transform=kind,
        center=[float(c) for c in center],
        n_levels=int(levels),
        n_bins=int(bins),
        sampling=float(frac),
        metric_region="whole volume" if mask_np is None else metric_region,
        interpolator=interpolator,
        min_displacement_vox=float(min_disp),
    )
    return FrameRegistration(dce=out, transforms=ds)
