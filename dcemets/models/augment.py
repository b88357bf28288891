"""On-the-fly random affine augmentation, one transform per sample shared by all its frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dcemets._checks import check_int, check_real
from dcemets.models._checks import check_tensor, require_finite

__all__ = ["RandomAffine"]


def _range(
    value: float | Sequence[float],
    name: str,
    *,
    symmetric: bool = True,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> tuple[float, float]:
    """A ``(min, max)`` range from a number ``d`` (``[-d, d]`` if `symmetric`) or a pair.

    Both ends must be finite and lie in the interval from `low` to `high`.
    """
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        if symmetric:
            d = check_real(value, name, low=0.0)
            lo_hi = (-d, d)
        else:
            lo_hi = (float(value), float(value))
    elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str | bytes):
        if len(value) != 2:
            raise ValueError(f"`{name}` must be a number or a (min, max) pair, got {len(value)} values")
        lo_hi = (check_real(value[0], f"{name}[0]"), check_real(value[1], f"{name}[1]"))
        if lo_hi[0] > lo_hi[1]:
            raise ValueError(f"`{name}` must be a (min, max) pair with min <= max, got {value!r}")
    else:
        raise TypeError(f"`{name}` must be a number or a (min, max) pair of numbers, got {value!r}")
    for end in lo_hi:
        check_real(end, name, low=low, high=high, low_open=low_open, high_open=high_open)
    return lo_hi[0], lo_hi[1]


class RandomAffine(nn.Module):
    """Random rotation, translation, scaling and shear, the same for all frames of a sample.

    Every sample of a batch gets its own transform, applied identically to all its frames and
    channels (everything between the batch axis and the last two axes), so the DCE time
    course of a pixel moves as one.  Sampling is bilinear, outside the image is zero (the
    background of the zeroed tumour boxes).  Random draws come only from the
    ``torch.Generator`` passed to :meth:`forward`, so a seed reproduces the augmentation.

    Parameters
    ----------
    degrees : float or (float, float)
        Rotation range in degrees (``d >= 0`` means ``[-d, d]``).  Default 15.
    translate : float or (float, float)
        Translation range as a fraction of the image size along each axis (``t >= 0``
        means ``[-t, t]``), within ``[-1, 1]``.  Default 0.1.
    scale : float or (float, float)
        Isotropic scale factor range (a number: that fixed factor), > 0.  Default (0.9, 1.1).
    shear : float or (float, float)
        Shear angle range in degrees (along x), within ``(-90, 90)``.  Default 10.
    multiplicity : int
        How many views of each training sample one epoch presents (the original plus
        ``multiplicity - 1`` random transforms); 20 reproduces the paper's 20-fold
        augmentation.  Used by the training loops, not by :meth:`forward`.
    interpolation : {"bilinear", "nearest"}
        Resampling mode.

    Raises
    ------
    TypeError
        A range that is neither a number nor a pair of numbers, or a `multiplicity` that is
        not an int.
    ValueError
        A negative `degrees`, `translate` or `shear` number, a pair with min > max, a
        non-finite value, a translation outside ``[-1, 1]``, a shear angle outside
        ``(-90, 90)`` degrees, a scale <= 0, a `multiplicity` < 1 or an unknown
        `interpolation`.

    References
    ----------
    .. [1] Lang N, et al. Magn Reson Imaging 2019;64:4-12, section 2.6 ("augmented by 20
       times using a random affine transformation"). :doi:`10.1016/j.mri.2019.02.013`
    .. [2] Chang P, et al. AJNR 2018;39:1201-7. :doi:`10.3174/ajnr.A5667`

    Examples
    --------
    >>> import torch
    >>> aug = RandomAffine(degrees=(90, 90), translate=0, scale=(1, 1), shear=0)
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> torch.allclose(aug(x, generator=torch.Generator().manual_seed(0)), torch.rot90(x, -1, (2, 3)), atol=1e-5)
    True
    """

    def __init__(
        self,
        degrees: float | Sequence[float] = 15.0,
        translate: float | Sequence[float] = 0.1,
        scale: Sequence[float] = (0.9, 1.1),
        shear: float | Sequence[float] = 10.0,
        *,
        multiplicity: int = 20,
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__()
        self.degrees = _range(degrees, "degrees")
        self.translate = _range(translate, "translate", low=-1.0, high=1.0)
        self.scale = _range(scale, "scale", symmetric=False, low=0.0, low_open=True)
        self.shear = _range(shear, "shear", low=-90.0, high=90.0, low_open=True, high_open=True)
        multiplicity = check_int(multiplicity, "multiplicity", minimum=1)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"`interpolation` must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.multiplicity = multiplicity
        self.interpolation = interpolation

    def extra_repr(self) -> str:
        """Return the settings shown in ``repr(module)``.

        Returns
        -------
        str
            ``"degrees=..., translate=..., scale=..., shear=..., multiplicity=..."``.
        """
        return (
            f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
            f"shear={self.shear}, multiplicity={self.multiplicity}"
        )

    def sample(
        self,
        n: int,
        height: int,
        width: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw `n` transforms as ``affine_grid`` matrices (output -> input, normalised).

        Parameters
        ----------
        n : int
            Number of transforms.
        height, width : int
            Image size (pixels), so that rotations stay rigid on non-square images.
        generator : torch.Generator, optional
            Source of randomness (CPU generator).
        device : torch.device or str, optional
            Device of the result.

        Returns
        -------
        torch.Tensor, shape (n, 2, 3)
            ``theta`` for :func:`torch.nn.functional.affine_grid` (``align_corners=False``).
        """
        u = torch.rand(n, 5, generator=generator, dtype=torch.float64)

        def draw(col: int, lo_hi: tuple[float, float]) -> torch.Tensor:
            return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * u[:, col]

        angle = torch.deg2rad(draw(0, self.degrees))
        shear = torch.deg2rad(draw(1, self.shear))
        scale = draw(2, self.scale)
        tx, ty = draw(3, self.translate) * width, draw(4, self.translate) * height
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        sh = torch.zeros(n, 2, 2, dtype=torch.float64)
        sh[:, 0, 0] = sh[:, 1, 1] = 1.0
        sh[:, 0, 1] = torch.tan(shear)
        fwd = rot @ sh * scale[:, None, None]  # input pixel offset -> output pixel offset
        inv = torch.linalg.inv(fwd)
        t_in = -(inv @ torch.stack([tx, ty], -1)[..., None])[..., 0]
        half = torch.tensor([width / 2.0, height / 2.0], dtype=torch.float64)
        lin = inv * half[None, None, :] / half[None, :, None]  # D^-1 A^-1 D
        theta = torch.cat([lin, (t_in / half)[..., None]], -1)
        return theta.to(device=device, dtype=torch.float32)

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform each sample of a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (B, ..., H, W)
            Batch; all axes between the first and the last two (time, channel) share the
            sample's transform.
        generator : torch.Generator, optional
            CPU generator for the random draws (seeded for reproducibility).

        Returns
        -------
        torch.Tensor
            Same shape and dtype as `x`.

        Raises
        ------
        TypeError
            `x` is not a floating-point tensor.
        ValueError
            `x` has fewer than 3 axes, is empty or holds NaN/inf values.
        """
        check_tensor(x, "x", "(batch, ..., height, width)", min_ndim=3)
        require_finite(x, "x")
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        flat = x.reshape(b, -1, h, w)
        theta = self.sample(b, h, w, generator=generator, device=x.device).to(flat.dtype)
        grid = F.affine_grid(theta, list(flat.shape), align_corners=False)
        out = F.grid_sample(flat, grid, mode=self.interpolation, padding_mode="zeros", align_corners=False)
        return out.reshape(x.shape)
