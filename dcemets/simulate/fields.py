r"""Spatially correlated random fields in world space (tissue texture, perfusion habitats).

A :class:`RandomField` is a stationary Gaussian random field with zero mean, unit variance
and the squared-exponential covariance

.. math:: C(r) = \\exp\\left(-\\frac{r^2}{2\\ell^2}\\right),

built as a sum of random Fourier features (Rahimi & Recht 2007): by Bochner's theorem a
stationary covariance is the Fourier transform of a spectral density, so cosines whose
wave vectors are drawn from that density, ``k ~ N(0, I / l^2)``, with uniform random
phases, have exactly this covariance in expectation.  The field is a closed-form function
of the world position, so it can be evaluated at the voxel centres of *any* grid (axial
DCE, sagittal T2W, supersampled points) and every series of a case sees the same texture
in the same place, as two series of one exam do.

``length_mm`` is the correlation length ``l``: two points ``l`` apart correlate at
``exp(-1/2) = 0.61``; the correlation falls to ``1/e`` at ``sqrt(2) l``.

References
----------
.. [1] Rahimi A, Recht B. Random features for large-scale kernel machines. Advances in
   Neural Information Processing Systems 20 (NIPS 2007), 1177-1184.
.. [2] Rasmussen CE, Williams CKI. Gaussian Processes for Machine Learning. MIT Press 2006,
   section 4.2 (squared-exponential covariance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_generator, check_int, check_real

__all__ = ["RandomField", "random_field"]


@dataclass(frozen=True)
class RandomField:
    """A zero-mean, unit-variance Gaussian random field with correlation length ``length_mm``.

    Attributes
    ----------
    wave_vectors : ndarray, shape (m, 3)
        Wave vectors (rad/mm), drawn from ``N(0, I / length_mm**2)``.
    phases : ndarray, shape (m,)
        Phases (rad), uniform in ``[0, 2 pi)``.
    length_mm : float
        Correlation length (mm) of the squared-exponential covariance.

    Examples
    --------
    >>> import numpy as np
    >>> f = random_field(np.random.default_rng(0), 5.0)
    >>> v = f(np.zeros((4, 3)))  # the field at four points (mm), all at the origin
    >>> v.shape, bool(np.ptp(v) == 0)
    ((4,), True)
    """

    wave_vectors: np.ndarray
    phases: np.ndarray
    length_mm: float

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Field values at LPS world points.

        Parameters
        ----------
        points : ndarray, shape (n, 3)
            Positions (mm).

        Returns
        -------
        ndarray, shape (n,)
            Field values (mean 0, variance 1 over realisations).
        """
        p = np.asarray(points, dtype=float)
        m = self.phases.shape[0]
        out = np.zeros(p.shape[0])
        # chunks keep the (n, chunk) temporaries small
        step = 16
        for s in range(0, m, step):
            arg = p @ self.wave_vectors[s : s + step].T
            arg += self.phases[s : s + step]
            out += np.cos(arg, out=arg).sum(axis=1)
        out *= np.sqrt(2.0 / m)
        return out


def random_field(rng: np.random.Generator, length_mm: float, *, n_waves: int = 64) -> RandomField:
    """Draw a Gaussian random field of correlation length `length_mm` (squared-exponential).

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    length_mm : float
        Correlation length (mm), > 0.
    n_waves : int, default 64
        Number of random Fourier features (more: closer to Gaussian, slower).

    Returns
    -------
    RandomField
        The field, as `n_waves` random Fourier features: calling it on LPS points of shape
        ``(n, 3)`` (mm) returns its values there (zero mean, unit variance; the same field at
        every call).

    Raises
    ------
    ValueError
        If `length_mm` is not a finite number > 0 or `n_waves` not >= 1.
    TypeError
        If `rng` is not a Generator, `length_mm` not a real number or `n_waves` not an int.

    References
    ----------
    .. [1] Rahimi A, Recht B. Random features for large-scale kernel machines. NIPS 2007.

    Examples
    --------
    >>> f = random_field(np.random.default_rng(0), 5.0)
    >>> v = f(np.zeros((1, 3)))
    >>> v.shape
    (1,)
    """
    check_generator(rng)
    length_mm = check_real(length_mm, "length_mm", low=0.0, low_open=True)
    n_waves = check_int(n_waves, "n_waves", low=1, high=1_000_000)
    k = rng.standard_normal((int(n_waves), 3)) / float(length_mm)
    return RandomField(k, rng.uniform(0.0, 2 * np.pi, size=int(n_waves)), float(length_mm))
