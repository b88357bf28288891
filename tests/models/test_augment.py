"""RandomAffine: exact geometric cases, shared transform across frames, seeding."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dcemets.models import RandomAffine

pytestmark = pytest.mark.torch

FIXED = {"translate": 0, "scale": (1, 1), "shear": 0}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_identity_is_exact():
    aug = RandomAffine(degrees=0, **FIXED)
    x = torch.randn(3, 12, 1, 9, 7)
    torch.testing.assert_close(aug(x, generator=gen()), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("deg", "k"), [(90, -1), (-90, 1), (180, 2)])
def test_right_angle_rotations(deg, k):
    aug = RandomAffine(degrees=(deg, deg), **FIXED)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(aug(x, generator=gen()), torch.rot90(x, k, (2, 3)), atol=1e-5, rtol=0)


def test_integer_translation_is_a_shift():
    # translate=(0.25, 0.25) of an 8-pixel image is exactly +2 pixels in x and y
    aug = RandomAffine(degrees=0, translate=(0.25, 0.25), scale=(1, 1), shear=0)
    x = torch.randn(1, 2, 8, 8)
    out = aug(x, generator=gen())
    torch.testing.assert_close(out[..., 2:, 2:], x[..., :-2, :-2], atol=1e-5, rtol=0)
    assert torch.all(out[..., :2, :] == 0)
    assert torch.all(out[..., :, :2] == 0)


def test_scale_two_magnifies_about_the_centre():
    # bilinear resampling of a linear ramp is exact: output column c samples input (c - 3.5) / 2 + 3.5
    aug = RandomAffine(degrees=0, translate=0, scale=(2, 2), shear=0)
    cols = torch.arange(8.0)
    x = cols.expand(1, 1, 8, 8).clone()
    out = aug(x, generator=gen())
    torch.testing.assert_close(out[0, 0], ((cols - 3.5) / 2 + 3.5).expand(8, 8), atol=1e-5, rtol=0)


def test_shear_moves_rows_proportionally():
    # shear of 45 deg: output (x, y) samples input (x - y, y) about the centre, so the ramp x shifts by y
    aug = RandomAffine(degrees=0, translate=0, scale=(1, 1), shear=(45, 45))
    cols = torch.arange(16.0)
    x = cols.expand(1, 1, 16, 16).clone()
    out = aug(x, generator=gen())[0, 0]
    rows = torch.arange(16.0)[:, None]
    expected = cols[None, :] - (rows - 7.5)
    inside = (expected >= 0) & (expected <= 15)
    torch.testing.assert_close(out[inside], expected.expand(16, 16)[inside], atol=1e-4, rtol=0)


def test_same_transform_for_all_frames():
    aug = RandomAffine()
    frame = torch.randn(4, 1, 1, 16, 16)
    x = frame.repeat(1, 12, 1, 1, 1) * torch.arange(1.0, 13.0).view(1, 12, 1, 1, 1)
    out = aug(x, generator=gen(3))
    ratio = out / out[:, :1]
    ok = out[:, :1].abs() > 1e-3
    torch.testing.assert_close(
        ratio[ok.expand_as(ratio)],
        (torch.arange(1.0, 13.0).view(1, 12, 1, 1, 1).expand_as(out))[ok.expand_as(ratio)],
        rtol=1e-4,
        atol=1e-4,
    )


def test_samples_get_different_transforms_and_seed_reproduces():
    aug = RandomAffine()
    x = torch.randn(1, 1, 16, 16).repeat(5, 1, 1, 1)
    a = aug(x, generator=gen(7))
    b = aug(x, generator=gen(7))
    c = aug(x, generator=gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.allclose(a[0], a[1])


def test_sampled_parameters_within_ranges():
    aug = RandomAffine(degrees=10, translate=0.1, scale=(0.9, 1.1), shear=5)
    theta = aug.sample(2000, 32, 32, generator=gen()).double()
    det = torch.linalg.det(theta[:, :, :2])  # inverse transform: det = 1 / scale^2
    assert torch.all((det > 1 / 1.1**2 - 1e-6) & (det < 1 / 0.9**2 + 1e-6))
    # translation of the inverse map: |t| <= |A^-1| * 0.1 * 2 (normalised units), well below 0.3
    assert theta[:, :, 2].abs().max() < 0.3
    assert theta[:, :, 2].abs().max() > 0.1


def test_non_square_rotation_is_rigid():
    aug = RandomAffine(degrees=(90, 90), **FIXED)
    x = torch.zeros(1, 1, 8, 12)
    x[0, 0, 4, 2:10] = 1.0  # a horizontal bar through the centre, 8 pixels long
    out = aug(x, generator=gen())
    assert float(out.sum()) == pytest.approx(float(x.sum()), rel=0.05)


def test_shape_and_dtype_preserved():
    out = RandomAffine()(torch.randn(2, 3, 4, 10, 10, dtype=torch.float64), generator=gen())
    assert out.shape == (2, 3, 4, 10, 10)
    assert out.dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs",
    [
        {"degrees": -1},
        {"scale": (1.1, 0.9)},
        {"scale": (0, 1)},
        {"multiplicity": 0},
        {"interpolation": "cubic"},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        RandomAffine(**kwargs)


def test_bad_input():
    with pytest.raises(ValueError, match="height, width"):
        RandomAffine()(torch.zeros(4, 4))


def test_default_multiplicity_is_paper():
    assert RandomAffine().multiplicity == 20
    assert np.isclose(RandomAffine().degrees[1], 15.0)


@pytest.mark.parametrize(
    ("kwargs", "err"),
    [
        ({"degrees": float("nan")}, ValueError),
        ({"degrees": "15"}, TypeError),
        ({"translate": float("inf")}, ValueError),
        ({"translate": (1.0, 2.0)}, ValueError),  # more than the image size
        ({"shear": 90.0}, ValueError),
        ({"scale": (float("nan"), 1.0)}, ValueError),
        ({"scale": (0.9,)}, ValueError),
        ({"multiplicity": 1.5}, TypeError),
    ],
)
def test_bad_argument_values_name_the_argument(kwargs, err):
    (name,) = kwargs
    with pytest.raises(err, match=f"`{name}"):
        RandomAffine(**kwargs)


def test_pairs_are_ranges():
    aug = RandomAffine(degrees=(1.0, 2.0), shear=[-5, 5], translate=(0, 1))
    assert aug.degrees == (1.0, 2.0)
    assert aug.shear == (-5.0, 5.0)
    assert aug.translate == (0.0, 1.0)
