"""On-the-fly random affine augmentation, one transform per sample shared by all its frames."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RandomAffine"]


def _range(value: float | Sequence[float], name: str, *, symmetric: bool = True) -> tuple[float, float]:
    if isinstance(value, int | float):
        if symmetric:
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0, got {value}")
            return -float(value), float(value)
        return float(value), float(value)
    lo_hi = tuple(float(v) for v in value)
    if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
        raise ValueError(f"`{name}` must be a number or a (min, max) pair, got {value!r}")
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
        Rotation range in degrees (``d`` means ``[-d, d]``).  Default 15.
    translate : float or (float, float)
        Translation range as a fraction of the image size along each axis (``t`` means
        ``[-t, t]``).  Default 0.1.
    scale : (float, float)
        Isotropic scale factor range.  Default (0.9, 1.1).
    shear : float or (float, float)
        Shear angle range in degrees (along x).  Default 10.
    multiplicity : int
        How many views of each training sample one epoch presents (the original plus
        ``multiplicity - 1`` random transforms); 20 reproduces the paper's 20-fold
        augmentation.  Used by the training loops, not by :meth:`forward`.
    interpolation : {"bilinear", "nearest"}
        Resampling mode.

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
        self.translate = _range(translate, "translate")
        self.scale = _range(scale, "scale", symmetric=False)
        self.shear = _range(shear, "shear")
        if self.scale[0] <= 0:
            raise ValueError(f"`scale` must be positive, got {scale!r}")
        if isinstance(multiplicity, bool) or int(multiplicity) < 1:
            raise ValueError(f"`multiplicity` must be an int >= 1, got {multiplicity!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"`interpolation` must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.multiplicity = int(multiplicity)
        self.interpolation = interpolation

    def extra_repr(self) -> str:  # noqa: D102
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
        """
        if x.ndim < 3:
            raise ValueError(f"`x` must be (batch, ..., height, width), got shape {tuple(x.shape)}")
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        flat = x.reshape(b, -1, h, w)
        theta = self.sample(b, h, w, generator=generator, device=x.device).to(flat.dtype)
        grid = F.affine_grid(theta, list(flat.shape), align_corners=False)
        out = F.grid_sample(flat, grid, mode=self.interpolation, padding_mode="zeros", align_corners=False)
        return out.reshape(x.shape)
