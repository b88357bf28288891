"""Acquisition physics of the simulated 3D SPGR (VIBE) DCE series.

* **Frame integration.**  A 3D VIBE frame is not a snapshot: its phase-encode lines are
  acquired one after another over the frame's whole window (10-14 s here).  With the
  default linear (sequential) ordering, the slice-encoding loop inner, each ``ky`` line is
  acquired at its own time and the k-space centre (which sets the image contrast) in the
  middle of the window (Bernstein MA, King KF, Zhou XJ. Handbook of MRI Pulse Sequences,
  Elsevier 2004, sections 11.4 and 16.4).  The window is split into ``n_sub`` consecutive
  sub-intervals; the image of each is the time-average of the object over it, and the frame
  takes each ky line from the sub-interval in which it was acquired.  So low spatial
  frequencies (contrast) follow the k-space centre and edges blur/ghost along the
  phase-encode (A-P) axis when the object changes or moves during the window.
* **Dose conservation.**  :func:`window_average_matrix` averages the piecewise-linear
  fine-grid curves exactly over each sub-interval, so the windows tile the acquisition and
  the k-space-averaged temporal weighting of a frame is the box of its window:
  ``sum_k dt * frame_k`` of any curve equals its integral over the acquisition.
* **Motion** between and within frames: a rigid translation of the anatomy; its A-P part
  enters each sub-interval as a k-space phase ramp (exact, ghosting along A-P), its L-R and
  S-I parts shift each frame.
* **Effective displacement**: with A-P motion during the window the frame's ky lines carry
  different shifts; :func:`effective_shift` gives the single shift that best explains the
  frame (least squares), the position a registration of the frame sees.
* **Noise**: complex Gaussian noise in the two channels of the complex image, made
  magnitude (Rician; Gudbjartsson & Patz 1995).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ._checks import check_array, check_generator, check_int, check_real

__all__ = [
    "complex_noise_magnitude",
    "draw_motion",
    "effective_shift",
    "frame_windows",
    "integrate_frames",
    "line_subinterval",
    "window_average_matrix",
]


def frame_windows(frame_times: np.ndarray, dt: float, n_lines: int, n_sub: int) -> np.ndarray:
    """Compute the edges (s) of the ``n_sub`` sub-intervals of each frame's acquisition window.

    With linear ordering of ``n_lines`` phase-encode lines, line ``p`` (0-based, ky from
    ``-n_lines/2``) is acquired during ``start + [p, p + 1] dt / n_lines``; the window starts
    so that the k-space centre (``p = n_lines // 2``) is acquired at the frame time.  The
    lines are split into ``n_sub`` consecutive groups (:func:`line_subinterval`) and each
    sub-interval spans exactly the acquisition of its group, so the sub-intervals tile the
    window and the line-averaged temporal weighting of the frame is its window (dose
    conservation).

    Parameters
    ----------
    frame_times : ndarray, shape (n_frames,)
        Acquisition times of the k-space centres (s).
    dt : float
        Frame duration (s).
    n_lines : int
        Number of phase-encode lines.
    n_sub : int
        Number of sub-intervals per window.

    Returns
    -------
    ndarray, shape (n_frames, n_sub + 1)
        Sub-interval edges (s).

    Raises
    ------
    TypeError
        If an argument is of the wrong type.
    ValueError
        If `frame_times` is not a finite 1-D array, `dt` not > 0, `n_lines` < 1 or `n_sub`
        not in 1..n_lines.

    Examples
    --------
    >>> e = frame_windows(np.array([0.0, 10.0]), 10.0, 4, 2)
    >>> e.tolist()
    [[-6.25, -1.25, 3.75], [3.75, 8.75, 13.75]]
    """
    frame_times = check_array(frame_times, "frame_times", ndim=1)
    dt = check_real(dt, "dt", low=0.0, low_open=True)
    n_lines = check_int(n_lines, "n_lines", low=1, high=1_000_000)
    n_sub = check_int(n_sub, "n_sub", low=1, high=n_lines)
    start = np.asarray(frame_times, dtype=float) - (n_lines // 2 + 0.5) * dt / n_lines
    # sub-interval j spans exactly the acquisition of its lines (line p lasts dt / n_lines)
    first = np.searchsorted(np.minimum((np.arange(n_lines) * n_sub) // n_lines, n_sub - 1), np.arange(n_sub))
    frac = np.append(first, n_lines) / n_lines
    return start[:, None] + dt * frac[None, :]


def line_subinterval(n_lines: int, n_sub: int) -> np.ndarray:
    """Sub-interval in which each ky line (FFT order) is acquired (linear ordering).

    Examples
    --------
    >>> line_subinterval(4, 2).tolist()  # FFT order ky = 0, 1, -2, -1
    [1, 1, 0, 0]
    """
    p = np.arange(n_lines)  # acquisition order, ky = p - n_lines // 2
    sub = np.minimum((p * n_sub) // n_lines, n_sub - 1)
    ky = p - n_lines // 2
    out = np.empty(n_lines, dtype=int)
    out[np.mod(ky, n_lines)] = sub
    return out


def _check_lines(lines: np.ndarray, ny: int, n_sub: int) -> np.ndarray:
    """`lines` as a valid line-to-sub-interval map of `ny` lines and `n_sub` sub-intervals."""
    lines = check_array(lines, "lines", ndim=1)
    if (
        lines.dtype.kind not in "iu"
        or lines.shape != (ny,)
        or lines.min(initial=0) < 0
        or lines.max(initial=0) >= n_sub
    ):
        raise ValueError(f"`lines` must be {ny} sub-interval indices in 0..{n_sub - 1} (line_subinterval)")
    return lines


def window_average_matrix(t_fine: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Exact averages of a piecewise-linear curve over consecutive intervals.

    Parameters
    ----------
    t_fine : ndarray, shape (n,)
        Increasing sample times of the curve (s); the curve is linear between samples and
        constant (first/last value) outside them.
    edges : ndarray, shape (..., m + 1)
        Interval edges, increasing along the last axis.

    Returns
    -------
    ndarray, shape (prod(...) * m, n)
        ``W`` such that ``W @ y`` is the average of the curve ``y`` over each interval, in
        C order of ``edges[..., :-1]``; every row sums to 1.

    Raises
    ------
    TypeError
        If `t_fine` or `edges` is not a real array.
    ValueError
        If `t_fine` is not finite, 1-D and strictly increasing, or `edges` not strictly
        increasing along its last axis.

    Examples
    --------
    >>> t = np.array([0.0, 1.0, 2.0])
    >>> w = window_average_matrix(t, np.array([0.0, 1.0, 2.0]))
    >>> (w @ np.array([0.0, 2.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    t = check_array(t_fine, "t_fine", ndim=1).astype(float)
    if t.size == 0 or np.any(np.diff(t) <= 0):
        raise ValueError("`t_fine` must be a non-empty, strictly increasing array of times")
    n = t.size
    e = check_array(edges, "edges").astype(float)
    if e.ndim == 0 or e.shape[-1] < 2 or np.any(np.diff(e, axis=-1) <= 0):
        raise ValueError("`edges` must hold >= 2 strictly increasing edges along its last axis")
    a = e[..., :-1].ravel()
    b = e[..., 1:].ravel()
    # cumulative integral I(tau) of each hat basis function, evaluated at a and b
    return (_cum_hat(t, b) - _cum_hat(t, a)) / (b - a)[:, None] if n > 1 else np.ones((a.size, 1))


def _cum_hat(t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``C[i, j] = int_{-inf}^{tau_i} hat_j``, hats of linear interpolation with constant ends."""
    n = t.size
    h = np.diff(t)
    # full integral of hat j over the segments [t0, t_i]: cumulative, per basis
    seg = np.zeros((n - 1, n))  # integral of hat j over segment i
    idx = np.arange(n - 1)
    seg[idx, idx] = h / 2
    seg[idx, idx + 1] = h / 2
    cum = np.vstack([np.zeros(n), np.cumsum(seg, axis=0)])  # (n, n): up to t_i
    tc = np.clip(tau, t[0], t[-1])
    i = np.clip(np.searchsorted(t, tc, side="right") - 1, 0, n - 2)
    u = (tc - t[i]) / h[i]  # position in segment
    out = cum[i].copy()
    rows = np.arange(tau.size)
    # partial segment: hat_i decreases 1 -> 1-u, hat_{i+1} increases 0 -> u
    out[rows, i] += h[i] * (u - u**2 / 2)
    out[rows, i + 1] += h[i] * u**2 / 2
    # constant extension before t0 / after t_end
    out[:, 0] += np.minimum(tau - t[0], 0.0)
    out[:, -1] += np.maximum(tau - t[-1], 0.0)
    return out


def draw_motion(
    rng: np.random.Generator,
    sub_times: np.ndarray,
    *,
    moving: bool,
    bulk_mm: float,
    respiratory_mm: float,
) -> np.ndarray:
    """Rigid displacement (mm, LPS) of the anatomy at each sub-interval time.

    Bulk motion: the patient settles or shifts once or twice during the run (steps at random
    times, each ``N(0, bulk_mm)`` per axis, A-P and S-I larger than L-R) plus a slow drift;
    respiration transmits a sinusoid (period 3.5-5.5 s) of amplitude ~``respiratory_mm``,
    mostly A-P, to the spine (prone or supine patient).

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    sub_times : ndarray, shape (n_frames, n_sub)
        Mid-times (s) of the sub-intervals.
    moving : bool
        ``False`` returns zeros.
    bulk_mm, respiratory_mm : float
        Scales of the bulk and respiratory displacements (mm).

    Returns
    -------
    ndarray, shape (n_frames, n_sub, 3)
        Displacement ``(L, P, S)`` (mm) relative to the first frame's k-space centre.
    """
    t = np.asarray(sub_times, dtype=float)
    d = np.zeros((*t.shape, 3))
    if not moving:
        return d
    t_end = float(t.max())
    for _ in range(int(rng.integers(1, 3))):
        t_step = float(rng.uniform(0.1, 0.95) * t_end)
        step = rng.normal(0.0, bulk_mm, size=3) * np.array([0.5, 1.0, 1.0])
        d += (t[..., None] > t_step) * step
    d += (t[..., None] / max(t_end, 1e-9)) * rng.normal(0.0, 0.3 * bulk_mm, size=3)
    period = float(rng.uniform(3.5, 5.5))
    phase = float(rng.uniform(0, 2 * np.pi))
    amp = float(respiratory_mm * rng.uniform(0.5, 1.5))
    resp = amp * np.sin(2 * np.pi * t / period + phase)
    d[..., 1] += resp
    d[..., 2] += 0.3 * resp
    return d - d[0, t.shape[1] // 2]


def integrate_frames(
    sub_images: np.ndarray,
    lines: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    displacement: np.ndarray | None = None,
) -> np.ndarray:
    """Combine the sub-interval images of each frame in k-space (ky along axis -2).

    Parameters
    ----------
    sub_images : ndarray, shape (n_frames, n_sub, nz, ny, nx)
        Object (real signal) averaged over each sub-interval of each frame's window.
    lines : ndarray, shape (ny,)
        Sub-interval of each ky line, FFT order (:func:`line_subinterval`).
    spacing_zyx : tuple of 3 float
        Voxel spacing (mm) along ``(z, y, x)``.
    displacement : ndarray, shape (n_frames, n_sub, 3), optional
        Anatomy displacement ``(L, P, S)`` (mm) during each sub-interval (axial grid:
        ``x -> L``, ``y -> P``, ``z -> S``).  The P part is applied per sub-interval by a
        k-space phase ramp; the L and S parts of the k-space-centre sub-interval shift the
        frame.

    Returns
    -------
    ndarray of complex64, shape (n_frames, nz, ny, nx)
        Complex frames.

    Raises
    ------
    TypeError
        If an argument is of the wrong type.
    ValueError
        If the shapes disagree, `lines` is not a valid line-to-sub-interval map, a spacing is
        not > 0, or an array is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> lines = line_subinterval(8, 2)  # which of 2 sub-intervals acquires each ky line
    >>> frames = integrate_frames(np.ones((3, 2, 1, 8, 8)), lines, (3.0, 1.0, 1.0))
    >>> frames.shape, frames.dtype.name, bool(np.allclose(np.abs(frames), 1.0))  # static object
    ((3, 1, 8, 8), 'complex64', True)
    """
    sub_images = check_array(sub_images, "sub_images", ndim=5)
    n_frames, n_sub, nz, ny, nx = sub_images.shape
    if sub_images.size == 0:
        raise ValueError(f"`sub_images` must not be empty, got shape {sub_images.shape}")
    lines = _check_lines(lines, ny, n_sub)
    if not isinstance(spacing_zyx, (tuple, list, np.ndarray)) or len(spacing_zyx) != 3:
        raise TypeError(f"`spacing_zyx` must be 3 spacings (mm), got {spacing_zyx!r}")
    sz, sy, sx = (check_real(v, "spacing_zyx", low=0.0, low_open=True) for v in spacing_zyx)
    spacing_zyx = (sz, sy, sx)
    if displacement is not None:
        displacement = check_array(displacement, "displacement", ndim=3)
        if displacement.shape != (n_frames, n_sub, 3):
            raise ValueError(
                f"`displacement` must have shape {(n_frames, n_sub, 3)}, got {displacement.shape}"
            )
    ky = np.fft.fftfreq(ny, d=spacing_zyx[1])  # cycles/mm
    out = np.empty((n_frames, nz, ny, nx), dtype=np.complex64)
    centre_sub = int(lines[0])
    y = np.arange(ny)
    pos = np.minimum(y, ny - y)  # |ky| index: the images are real, so F(-ky) = conj F(ky)
    neg = y > ny // 2
    for k in range(n_frames):
        f_half = sfft.rfft(sub_images[k], axis=-2)  # (n_sub, nz, ny // 2 + 1, nx), one call
        spec = f_half[lines, :, pos, :].transpose(1, 0, 2)  # each ky line from its sub-interval
        spec[:, neg, :] = np.conj(spec[:, neg, :])
        if displacement is not None and np.any(displacement[k, :, 1] != 0):
            ramp = np.exp(-2j * np.pi * ky * displacement[k, lines, 1]).astype(np.complex64)
            spec = spec * ramp[None, :, None]
        frame = sfft.ifft(spec, axis=-2)
        if displacement is not None:
            dx, dz = displacement[k, centre_sub, 0], displacement[k, centre_sub, 2]
            if dx != 0 or dz != 0:
                sh = (dz / spacing_zyx[0], 0.0, dx / spacing_zyx[2])
                frame = ndimage.shift(frame.real, sh, order=1, mode="nearest") + 1j * ndimage.shift(
                    frame.imag, sh, order=1, mode="nearest"
                )
        out[k] = frame
    return out


def effective_shift(frames: np.ndarray, lines: np.ndarray, shift: np.ndarray, spacing: float) -> np.ndarray:
    """Single phase-encode (axis -2) shift that best explains each frame, least squares.

    A frame whose ky line ``k`` is shifted by ``d(k)`` (the displacement of the sub-interval
    in which the line was acquired, :func:`integrate_frames`) has the y-spectrum
    ``G(k) = F(k) exp(-2 pi i k d(k))``, with ``F`` the spectrum of the unshifted object.  By
    Parseval's theorem along y (summed over z and x), the sum of squared differences between
    the frame and the object shifted by one ``s`` is

    ``E(s) = sum_k P(k) |exp(-2 pi i k d(k)) - exp(-2 pi i k s)|^2
    = 2 sum_k P(k) (1 - cos(2 pi k (d(k) - s)))``,  ``P(k) = sum_{z,x} |F(z, k, x)|^2``.

    For small phase differences (``2 pi k |d(k) - s| << 1``) ``E(s) ~ (2 pi)^2 sum_k w(k)
    (d(k) - s)^2`` with ``w(k) = k^2 P(k)``, the gradient energy of each ky line, minimised by
    the weighted mean ``s0 = sum_k w(k) d(k) / sum_k w(k)``: lines with much edge content
    along y dominate and the k-space centre (``k = 0``, contrast only) carries no position.
    The returned shift is the minimiser of the exact ``E(s)``: a grid search over the range
    of ``d`` (and ``s0``) refined by Newton steps; it differs from ``s0`` when the shifts of
    the high-frequency lines are a sizeable fraction of a voxel.  ``|F|`` is not changed by
    the shifts (phase ramps), so ``P`` is taken from `frames` itself.  This is the position
    that an intensity-based registration of the frame sees; the displacement at the k-space
    centre alone differs from it when the object moves during the window (respiration).

    Parameters
    ----------
    frames : ndarray, shape (n_frames, nz, ny, nx)
        Frames (complex or real; e.g. the output of :func:`integrate_frames`, after any
        apodisation, before noise), phase encoding along axis -2.
    lines : ndarray of int, shape (ny,)
        Sub-interval of each ky line, FFT order (:func:`line_subinterval`).
    shift : ndarray, shape (n_frames, n_sub)
        Shift along the phase-encode axis during each sub-interval (mm).
    spacing : float
        Voxel spacing along the phase-encode axis (mm).

    Returns
    -------
    ndarray, shape (n_frames,)
        Effective shift of each frame (mm); where a frame has no gradient energy (a constant
        image: every shift explains it) the shift of the k-space-centre sub-interval.

    Raises
    ------
    TypeError
        If an argument is not a numeric array or `spacing` not a real number.
    ValueError
        If the shapes disagree, an array is not finite, `spacing` is not > 0 or `lines` is
        not a valid line-to-sub-interval map.

    References
    ----------
    Bernstein MA, King KF, Zhou XJ. Handbook of MRI Pulse Sequences. Elsevier 2004, section
    11.4 (k-space ordering); Bracewell RN. The Fourier Transform and its Applications, 3rd ed.
    McGraw-Hill 2000 (shift and Parseval's theorems).

    Examples
    --------
    A box whose central lines (sub-interval 1, the k-space centre) are unshifted and whose
    outer lines are shifted by 0.5 mm: the effective shift is close to 0.5 mm, not 0.

    >>> lines = line_subinterval(32, 3)
    >>> box = np.zeros((1, 1, 32, 8))
    >>> box[..., 10:22, :] = 1.0
    >>> s = effective_shift(box, lines, np.array([[0.5, 0.0, 0.5]]), 1.0)
    >>> bool(0.3 < s[0] < 0.5)
    True
    """
    f = check_array(frames, "frames", ndim=4, complex_ok=True)
    n_frames, _, ny, _ = f.shape
    d = check_array(shift, "shift", ndim=2).astype(float)
    sy = check_real(spacing, "spacing", low=0.0, low_open=True)
    if d.shape[0] != n_frames:
        raise ValueError(f"`shift` must have one row per frame ({n_frames}), got shape {d.shape}")
    n_sub = d.shape[1]
    lines = _check_lines(lines, ny, n_sub)
    omega = 2 * np.pi * np.fft.fftfreq(ny, d=sy)  # rad/mm
    power = (np.abs(sfft.fft(f, axis=-2)) ** 2).sum(axis=(1, 3))  # P(k), (n_frames, ny)
    d_line = d[:, lines]  # (n_frames, ny)
    w = power * omega**2
    total = w.sum(axis=1)
    centre = d[:, int(lines[0])]
    if not np.any(total > 0):
        return centre
    s0 = (w * d_line).sum(axis=1) / np.where(total > 0, total, 1.0)
    # exact E(s): grid over the range of the shifts, then Newton steps from the best point
    lo = np.minimum(d.min(axis=1), s0)
    hi = np.maximum(d.max(axis=1), s0)
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, 101)[None, :]  # (n_frames, 101)
    cost = (power[:, None, :] * (1 - np.cos(omega * (d_line[:, None, :] - grid[:, :, None])))).sum(axis=-1)
    s = grid[np.arange(n_frames), np.argmin(cost, axis=1)]
    for _ in range(4):
        ph = omega * (d_line - s[:, None])
        g1 = -(power * omega * np.sin(ph)).sum(axis=1)  # dE/ds (/2)
        g2 = (power * omega**2 * np.cos(ph)).sum(axis=1)  # d2E/ds2 (/2)
        step = np.where(g2 > 0, -g1 / np.where(g2 > 0, g2, 1.0), 0.0)
        s = s + np.clip(step, -(hi - lo) / 100, (hi - lo) / 100)
    return np.where(total > 0, s, centre)


def complex_noise_magnitude(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``|image + n1 + i n2|`` with ``n1, n2 ~ N(0, sigma^2)`` (Rician magnitude), float32.

    Parameters
    ----------
    image : ndarray (complex or real)
        Noise-free complex (or real) image.
    sigma : float
        Noise sd in each channel.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    ndarray of float32
        Magnitude image, same shape.

    Raises
    ------
    TypeError
        If `image` is not numeric, `sigma` not a real number or `rng` not a Generator.
    ValueError
        If `image` is not finite or `sigma` negative or not finite.

    Examples
    --------
    >>> m = complex_noise_magnitude(np.zeros(200000, complex), 1.0, np.random.default_rng(0))
    >>> round(float(m.mean() / m.std()), 2)  # Rayleigh: sqrt(pi/2) / sqrt(2 - pi/2)
    1.91
    """
    z = check_array(image, "image", complex_ok=True)
    sigma = check_real(sigma, "sigma", low=0.0)
    check_generator(rng)
    re = rng.standard_normal(z.shape, dtype=np.float32)
    im = rng.standard_normal(z.shape, dtype=np.float32)
    re *= sigma
    im *= sigma
    re += np.real(z).astype(np.float32, copy=False)
    im += np.imag(z).astype(np.float32, copy=False) if np.iscomplexobj(z) else 0.0
    return np.hypot(re, im)
