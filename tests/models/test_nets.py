"""CLSTMNet and MapCNN: shapes (MONAI-style cases), parameter counts, gradients, overfitting."""

import pytest

torch = pytest.importorskip("torch")

from dcemets.models import CLSTMNet, MapCNN

pytestmark = pytest.mark.torch

CLSTM_CASES = [
    # (kwargs, input shape, output shape)
    ({}, (2, 12, 1, 32, 32), (2, 2)),
    ({"image_size": 16, "features": 4}, (3, 12, 1, 16, 16), (3, 2)),
    (
        {"n_frames": 5, "in_channels": 2, "num_classes": 3, "image_size": (12, 20), "features": 3},
        (1, 5, 2, 12, 20),
        (1, 3),
    ),
    ({"num_layers": 2, "features": (3, 5), "strides": (2, 2), "image_size": 9}, (2, 12, 1, 9, 9), (2, 2)),
]


@pytest.mark.parametrize(("kwargs", "in_shape", "out_shape"), CLSTM_CASES)
def test_clstm_shapes(kwargs, in_shape, out_shape):
    net = CLSTMNet(**kwargs).eval()
    with torch.no_grad():
        assert net(torch.randn(in_shape)).shape == out_shape


MAP_CASES = [
    ({}, (2, 3, 32, 32), (2, 2)),
    ({"image_size": 16, "features": 8}, (4, 3, 16, 16), (4, 2)),
    ({"in_channels": 1, "num_classes": 4, "image_size": (10, 6), "num_layers": 3}, (1, 1, 10, 6), (1, 4)),
]


@pytest.mark.parametrize(("kwargs", "in_shape", "out_shape"), MAP_CASES)
def test_mapcnn_shapes(kwargs, in_shape, out_shape):
    net = MapCNN(**kwargs).eval()
    with torch.no_grad():
        assert net(torch.randn(in_shape)).shape == out_shape


def convlstm_params(cin, hid, k=3):
    """4 hid (k^2 (c_in + hid) + 1): Keras ConvLSTM2D's count (bias on the input kernel only)."""
    return 4 * hid * (k * k * (cin + hid) + 1)


@pytest.mark.parametrize(("size", "grid"), [(32, 4), (64, 8)])
def test_clstm_parameter_count(size, grid):
    net = CLSTMNet(image_size=size)
    n = sum(p.numel() for p in net.parameters())
    expected = convlstm_params(1, 16) + 6 * convlstm_params(16, 16) + (12 * 16 * grid * grid + 1) * 2
    assert n == expected
    if size == 64:
        assert n == 145_410  # Keras 3 summary of the same architecture (technical note A2)


def test_clstm_strides_at_layers_2_4_6_and_dropout_from_layer_2():
    net = CLSTMNet()
    assert net.lstm.strides == (1, 2, 1, 2, 1, 2, 1)
    assert net.lstm.num_layers == 7
    assert net.lstm.dropout == 0.5
    assert net.lstm.dropout_from == 2
    assert net.lstm.cells[0].activation == "tanh"  # see the CLSTMNet docstring
    assert net.head.in_features == 12 * 16 * 4 * 4  # all 12 states of the last layer


@pytest.mark.parametrize(("dropout_to", "expected"), [(2, [16]), (None, [16, 16, 16, 16, 16, 16])])
def test_clstm_dropout_placement(monkeypatch, dropout_to, expected):
    """Fig. 5: dropout after every layer from the second on and before the dense layer (default)."""
    from dcemets.models import convlstm, nets

    seen = []
    original = convlstm.dropout

    def spy(x, p=0.5, training=True):
        seen.append(x.shape[-3] if x.ndim == 5 else x.shape[-1] // 12 // 4)
        return original(x, p, training)

    monkeypatch.setattr(convlstm, "dropout", spy)
    monkeypatch.setattr(nets, "dropout", spy)
    net = CLSTMNet(image_size=16, dropout_to=dropout_to).train()
    net(torch.zeros(2, 12, 1, 16, 16))
    assert seen == expected
    seen.clear()
    net.eval()(torch.zeros(2, 12, 1, 16, 16))
    assert len(seen) == len(expected)  # dropout is called, as an identity, in eval mode


def test_mapcnn_structure():
    net = MapCNN()
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    drops = [m for m in net.features if isinstance(m, torch.nn.Dropout)]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1]
    assert len(drops) == 6
    assert net.head.in_features == 32 * 4 * 4


@pytest.mark.parametrize(
    ("net", "x"),
    [
        (lambda: CLSTMNet(image_size=8, features=3, n_frames=4), lambda: torch.randn(2, 4, 1, 8, 8)),
        (lambda: MapCNN(image_size=8, features=4), lambda: torch.randn(2, 3, 8, 8)),
    ],
)
def test_gradients_reach_every_parameter(net, x):
    torch.manual_seed(0)
    model = net()
    model.train()
    torch.nn.functional.cross_entropy(model(x()), torch.tensor([0, 1])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: CLSTMNet(image_size=16, features=8, dropout=0.0), (2, 12, 1, 16, 16)),
        (lambda: MapCNN(image_size=16, features=8, dropout=0.0), (2, 3, 16, 16)),
    ],
)
def test_overfit_two_samples(make, shape):
    torch.manual_seed(0)
    net = make()
    x, y = torch.randn(shape), torch.tensor([0, 1])
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        first = first if first is not None else float(loss.detach())
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05 < first
    assert net(x).argmax(1).tolist() == [0, 1]


def test_eval_is_deterministic_and_train_is_stochastic():
    net = CLSTMNet(image_size=8, features=3, n_frames=3)
    x = torch.randn(2, 3, 1, 8, 8)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_bad_input_shapes():
    with pytest.raises(ValueError, match=r"\(batch, 12, 1, 32, 32\)"):
        CLSTMNet()(torch.zeros(2, 10, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(batch, 3, 32, 32\)"):
        MapCNN()(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError):
        CLSTMNet(n_frames=0)
    with pytest.raises(ValueError):
        MapCNN(kernel_size=4)


@pytest.mark.cuda
def test_cuda_forward():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    net = CLSTMNet(image_size=16).cuda().eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 12, 1, 16, 16, device="cuda")).device.type == "cuda"


def test_signal_reaches_the_seventh_layer():
    """He-initialised ReLU cells keep the 7th layer's states far from zero (Glorot: ~1e-6)."""
    torch.manual_seed(0)
    x = torch.randn(8, 12, 1, 16, 16)
    sizes = {}
    for init in ("he", "glorot"):
        net = CLSTMNet(image_size=16, kernel_init=init).eval()
        with torch.no_grad():
            out, _ = net.lstm(x)
        sizes[init] = float(out.abs().mean())
    assert sizes["he"] > 1e-3
    assert sizes["glorot"] < 1e-4


def _modules():
    from dcemets.models import ConvLSTM, RandomAffine
    from dcemets.models.convlstm import ConvLSTMCell

    return [
        (CLSTMNet(n_frames=3, image_size=8, features=2, num_layers=2), (2, 3, 1, 8, 8)),
        (MapCNN(image_size=8, features=2, num_layers=2), (2, 3, 8, 8)),
        (ConvLSTM(1, 2), (2, 3, 1, 6, 6)),
        (ConvLSTMCell(1, 2), (3, 2, 1, 6, 6)),
        (RandomAffine(), (2, 1, 6, 6)),
    ]


@pytest.mark.parametrize("index", range(5))
def test_forward_rejects_bad_x(index):
    module, shape = _modules()[index]
    x = torch.randn(*shape)
    for bad, err, match in [
        (None, TypeError, "`x` must be a torch.Tensor"),
        (x.numpy(), TypeError, "torch.from_numpy"),
        (x.long(), TypeError, "floating-point"),
        (x[:0], ValueError, "empty"),
        (x.clone().fill_(float("nan")), ValueError, "NaN"),
    ]:
        with pytest.raises(err, match=match):
            module(bad)
    if index < 4:  # RandomAffine takes (B, ..., H, W): one axis less is a valid batch
        with pytest.raises(ValueError, match="`x`"):
            module(x[0])


@pytest.mark.parametrize(
    ("cls", "kwargs", "err", "match"),
    [
        (CLSTMNet, {"n_frames": 1.5}, TypeError, "n_frames"),
        (CLSTMNet, {"num_classes": "2"}, TypeError, "num_classes"),
        (CLSTMNet, {"features": [1.0, 2.0], "num_layers": 2}, TypeError, "features"),
        (CLSTMNet, {"features": (3, 4), "num_layers": 3}, ValueError, "features"),
        (CLSTMNet, {"image_size": "32"}, TypeError, "image_size"),
        (CLSTMNet, {"dropout_from": -3}, ValueError, "dropout_from"),
        (CLSTMNet, {"dropout": [0.5]}, TypeError, "dropout"),
        (MapCNN, {"in_channels": 0}, ValueError, "in_channels"),
        (MapCNN, {"num_layers": float("nan")}, TypeError, "num_layers"),
        (MapCNN, {"kernel_size": -3}, ValueError, "kernel_size"),
        (MapCNN, {"dropout_from": 2.0}, TypeError, "dropout_from"),
    ],
)
def test_bad_constructor_arguments(cls, kwargs, err, match):
    with pytest.raises(err, match=f"`{match}`"):
        cls(**kwargs)


def test_pooled_readout_reads_the_pixel_mean_of_every_step():
    """readout="pool": the dense layer reads each step's last-layer state averaged over the pixels."""
    torch.manual_seed(0)
    flat = CLSTMNet(image_size=16, features=4, num_layers=2, dropout=0.0)
    pool = CLSTMNet(image_size=16, features=4, num_layers=2, dropout=0.0, readout="pool")
    assert flat.head.in_features == 12 * 4 * 8 * 8
    assert pool.head.in_features == 12 * 4
    x = torch.randn(3, 12, 1, 16, 16)
    pool.eval()
    with torch.no_grad():
        out, _ = pool.lstm(x)
        expected = pool.head(out.mean((-2, -1)).flatten(1))
        torch.testing.assert_close(pool(x), expected)
        # a pixel permutation of the last layer's input does not matter to the readout itself
        perm = torch.randperm(64)
        shuffled = out.flatten(-2)[..., perm].reshape(out.shape)
        torch.testing.assert_close(pool.head(shuffled.mean((-2, -1)).flatten(1)), expected)
    with pytest.raises(ValueError, match="readout"):
        CLSTMNet(readout="mean")


@pytest.mark.parametrize(("readout", "width"), [("pool", 1), ("max", 1), ("meanmax", 2), ("attention", 1)])
def test_pixel_readouts_shapes_and_head_size(readout, width):
    net = CLSTMNet(image_size=16, features=4, num_layers=2, dropout=0.0, readout=readout).eval()
    assert net.head.in_features == 12 * 4 * width
    with torch.no_grad():
        assert net(torch.randn(3, 12, 1, 16, 16)).shape == (3, 2)


@pytest.mark.parametrize("readout", ["pool", "max", "meanmax", "attention"])
def test_pixel_readouts_are_invariant_to_a_permutation_of_the_pixels(readout):
    """The pixel readouts read each step's states as a set of pixels: their order does not matter."""
    from dcemets.models.nets import _read_out

    gen = torch.Generator().manual_seed(0)
    states = torch.randn(3, 12, 4, 8, 8, generator=gen)
    attend = torch.nn.Conv2d(4, 1, 1)  # a pixel-wise score with random weights
    read = _read_out(states, readout, attend)
    assert read.shape == (3, 12, 4 * (2 if readout == "meanmax" else 1))
    for _ in range(5):
        perm = torch.randperm(64, generator=gen)
        shuffled = states.flatten(-2)[..., perm].reshape(states.shape)
        torch.testing.assert_close(_read_out(shuffled, readout, attend), read)
    # while the flattened readout is not (it has a weight per pixel)
    assert not torch.equal(_read_out(shuffled, "flatten"), _read_out(states, "flatten"))


def test_max_readout_reads_the_hottest_pixel():
    """readout="max" is the per-step, per-channel maximum of the last layer's states; "meanmax" adds the mean."""
    torch.manual_seed(0)
    x = torch.randn(3, 12, 1, 16, 16)
    for readout in ("max", "meanmax"):
        net = CLSTMNet(image_size=16, features=4, num_layers=2, dropout=0.0, readout=readout).eval()
        with torch.no_grad():
            out, _ = net.lstm(x)
            peak = out.amax((-2, -1))
            read = peak if readout == "max" else torch.cat([out.mean((-2, -1)), peak], -1)
            torch.testing.assert_close(net(x), net.head(read.flatten(1)))


def test_attention_readout_starts_as_the_mean_and_weights_pixels_by_their_last_state():
    """Zero-initialised scores give the pool readout; set scores give a softmax-weighted mean."""
    from dcemets.models.nets import _read_out

    torch.manual_seed(0)
    net = CLSTMNet(image_size=16, features=4, num_layers=2, dropout=0.0, readout="attention").eval()
    x = torch.randn(3, 12, 1, 16, 16)
    with torch.no_grad():
        out, _ = net.lstm(x)
        torch.testing.assert_close(net(x), net.head(out.mean((-2, -1)).flatten(1)))
        net.attend.weight.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]).view(1, 4, 1, 1))
        score = torch.einsum("bchw,c->bhw", out[:, -1], torch.tensor([1.0, -2.0, 0.5, 3.0]))
        w = torch.softmax(score.flatten(1), -1)
        expected = (out.flatten(-2) * w[:, None, None]).sum(-1)
        torch.testing.assert_close(_read_out(out, "attention", net.attend), expected)
        torch.testing.assert_close(net(x), net.head(expected.flatten(1)))
        with pytest.raises(ValueError, match="attend"):  # not silently another readout
            _read_out(out, "attention")


def _hot_pixel_toy(n, gen):
    """Class carried only by the curve shape of the hottest pixel; the crop-mean curve carries none.

    Every 8 x 8 crop: background pixels with random plateau / wash-out mixtures at low amplitude
    (0.1-0.4); one hot pixel (amplitude 0.8-1.2, random place) with a plateau (class 0) or a
    wash-out (class 1); and four decoy pixels, each a quarter of the hot amplitude, with the
    *other* shape, so that the pixel sum (and the mean curve) is the same for both classes.
    """
    t = torch.linspace(0, 1, 12)
    rise = 1 - torch.exp(-t / 0.08)
    shapes = torch.stack([rise, rise * (1 - 0.8 * t)])  # plateau, wash-out: same peak
    y = torch.arange(n) % 2
    mix = torch.rand(n, 64, 1, generator=gen)
    amp = 0.1 + 0.3 * torch.rand(n, 64, 1, generator=gen)
    crops = amp * (mix * shapes[0] + (1 - mix) * shapes[1])  # (n, 64, 12)
    hot_amp = 0.8 + 0.4 * torch.rand(n, generator=gen)
    for i in range(n):
        where = torch.randperm(64, generator=gen)[:5]
        crops[i, where[0]] = hot_amp[i] * shapes[y[i]]
        crops[i, where[1:]] = hot_amp[i] / 4 * shapes[1 - y[i]]
    crops = crops + 0.01 * torch.randn(crops.shape, generator=gen)
    return crops.transpose(1, 2).reshape(n, 12, 1, 8, 8), y


def _toy_accuracy(readout, x_train, y_train, x_test, y_test, steps=80):
    torch.manual_seed(0)
    net = CLSTMNet(image_size=8, features=4, num_layers=1, dropout=0.0, readout=readout)
    opt = torch.optim.Adam(net.parameters(), lr=3e-2)
    for _ in range(steps):  # full batch
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x_train), y_train).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        return (net(x_test).argmax(1) == y_test).float().mean().item()


def test_max_readout_reads_the_class_carried_by_the_hottest_pixel_only():
    """The hot-spot toy: the crop mean carries no class (checked); the max readout learns it.

    Held-out accuracy after 80 full-batch steps (seconds): max 0.96, attention 0.875, pool 0.75
    (it fits the training crops through the nonlinear states but generalises worse).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a second OpenMP thread on a busy 2-core machine is 10x slower
    try:
        gen = torch.Generator().manual_seed(1)
        x_train, y_train = _hot_pixel_toy(64, gen)
        x_test, y_test = _hot_pixel_toy(128, gen)
        # the mean curve of the crop carries no class
        mean_test = x_test.mean((2, 3, 4))
        gap = (mean_test[y_test == 0].mean(0) - mean_test[y_test == 1].mean(0)).abs().max()
        assert gap < 0.02 * mean_test.mean()
        best = _toy_accuracy("max", x_train, y_train, x_test, y_test)
        pooled = _toy_accuracy("pool", x_train, y_train, x_test, y_test)
        attended = _toy_accuracy("attention", x_train, y_train, x_test, y_test)
    finally:
        torch.set_num_threads(threads)
    assert best >= 0.9, best
    assert pooled < best, (pooled, best)
    assert attended >= pooled + 0.1, (attended, pooled)  # measured 0.875 against 0.75
