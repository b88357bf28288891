"""ConvLSTM against a direct per-step implementation of the cell equations (Shi et al. 2015)."""

import warnings

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F

from dcemets.models import ConvLSTM
from dcemets.models.convlstm import ConvLSTMCell

pytestmark = pytest.mark.torch


def reference_convlstm(lstm, x, hx=None):
    """Textbook ConvLSTM, one step at a time, every gate from its own weight slice.

    i = s(W_i*x + U_i*h + b_i), f = s(W_f*x + U_f*h + b_f), o = s(W_o*x + U_o*h + b_o),
    g = act(W_g*x + U_g*h + b_g), c' = f c + i g, h' = o act(c'); W* strided, U* stride 1.
    """
    act = {"tanh": torch.tanh, "relu": torch.relu}
    seq = x if lstm.batch_first else x.transpose(0, 1)  # (B, T, ...)
    hs, cs = [], []
    for layer, cell in enumerate(lstm.cells):
        a = act[cell.activation]
        hid, k, s = cell.hidden_channels, cell.kernel_size, cell.stride
        wx, wh, b = cell.conv_in.weight, cell.conv_rec.weight, cell.conv_in.bias
        gates = {name: slice(j * hid, (j + 1) * hid) for j, name in enumerate("ifog")}
        B, T = seq.shape[:2]
        hh = (seq.shape[-2] + s - 1) // s
        ww = (seq.shape[-1] + s - 1) // s
        if hx is None:
            h = seq.new_zeros(B, hid, hh, ww)
            c = seq.new_zeros(B, hid, hh, ww)
        else:
            h, c = hx[0][layer], hx[1][layer]
        outs = []
        for t in range(T):
            pre = {}
            for name, sl in gates.items():
                pre[name] = F.conv2d(seq[:, t], wx[sl], b[sl], stride=s, padding=k // 2) + F.conv2d(
                    h, wh[sl], None, stride=1, padding=k // 2
                )
            i, f, o = (torch.sigmoid(pre[n]) for n in "ifo")
            g = a(pre["g"])
            c = f * c + i * g
            h = o * a(c)
            outs.append(h)
        seq = torch.stack(outs, 1)
        hs.append(h)
        cs.append(c)
    out = seq if lstm.batch_first else seq.transpose(0, 1)
    return out, (hs, cs)


CASES = [
    # (in_ch, hidden, kernel, layers, strides, activation, input shape (B, T, C, H, W))
    (1, 4, 3, 1, 1, "tanh", (2, 5, 1, 8, 8)),
    (2, 3, 3, 2, (1, 2), "relu", (3, 4, 2, 9, 7)),
    (1, (4, 5, 3), (3, 5, 1), 3, (2, 1, 2), "tanh", (2, 3, 1, 10, 10)),
    (3, 6, 3, 7, (1, 2, 1, 2, 1, 2, 1), "relu", (2, 6, 3, 16, 16)),
]


@pytest.mark.parametrize(("cin", "hid", "k", "layers", "strides", "act", "shape"), CASES)
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize(("mode", "chunk"), [("fused", None), ("hoist", None), ("hoist", 2), ("cat", None)])
def test_matches_per_step_reference(cin, hid, k, layers, strides, act, shape, batch_first, mode, chunk):
    torch.manual_seed(0)
    lstm = ConvLSTM(cin, hid, k, layers, strides, activation=act, batch_first=batch_first).double()
    for cell in lstm.cells:  # execution strategies: all must give the same numbers
        cell.input_mode, cell.time_chunk = mode, chunk
    for p in lstm.parameters():  # non-trivial biases and weights
        torch.nn.init.uniform_(p, -0.5, 0.5)
    x = torch.randn(shape, dtype=torch.float64)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    out, (h, c) = lstm(x)
    ref, (rh, rc) = reference_convlstm(lstm, x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip(h, rh):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    for a, b in zip(c, rc):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_initial_state_matches_reference():
    torch.manual_seed(1)
    lstm = ConvLSTM(2, 3, 3, 2, (2, 1)).double()
    x = torch.randn(2, 3, 2, 6, 6, dtype=torch.float64)
    h0 = [torch.randn(2, 3, 3, 3, dtype=torch.float64) for _ in range(2)]
    c0 = [torch.randn(2, 3, 3, 3, dtype=torch.float64) for _ in range(2)]
    out, (_h, c) = lstm(x, (h0, c0))
    ref, (_rh, rc) = reference_convlstm(lstm, x, (h0, c0))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(c[-1], rc[-1])


def test_state_continues_sequence():
    """Running T1 then T2 steps from the returned state equals running T1 + T2 at once."""
    torch.manual_seed(2)
    lstm = ConvLSTM(1, 4, 3, 2, (1, 2)).double()
    x = torch.randn(2, 7, 1, 8, 8, dtype=torch.float64)
    full, (_hf, cf) = lstm(x)
    a, state = lstm(x[:, :3])
    b, (_h2, c2) = lstm(x[:, 3:], state)
    torch.testing.assert_close(torch.cat([a, b], 1), full)
    torch.testing.assert_close(c2[1], cf[1])


def test_one_step_by_hand():
    """A 1x1 kernel on a 1x1 image is an LSTM unit: check against scalar arithmetic."""
    cell = ConvLSTMCell(1, 1, kernel_size=1).double()
    with torch.no_grad():
        cell.conv_in.weight.copy_(torch.tensor([0.5, -1.0, 2.0, 1.5]).view(4, 1, 1, 1))
        cell.conv_in.bias.copy_(torch.tensor([0.1, 0.2, -0.3, 0.0], dtype=torch.float64))
        cell.conv_rec.weight.copy_(torch.tensor([1.0, 0.5, -0.5, 2.0]).view(4, 1, 1, 1))
    x = torch.tensor([1.0, -2.0], dtype=torch.float64).view(2, 1, 1, 1, 1)  # (T, B=1, C, H, W)
    with torch.no_grad():
        _out, (h, c) = cell(x)
    import math

    sig = lambda v: 1 / (1 + math.exp(-v))
    hh, cc = 0.0, 0.0
    for xt in (1.0, -2.0):
        i = sig(0.5 * xt + 0.1 + 1.0 * hh)
        f = sig(-1.0 * xt + 0.2 + 0.5 * hh)
        o = sig(2.0 * xt - 0.3 - 0.5 * hh)
        g = math.tanh(1.5 * xt + 0.0 + 2.0 * hh)
        cc = f * cc + i * g
        hh = o * math.tanh(cc)
    assert float(h) == pytest.approx(hh, rel=1e-12)
    assert float(c) == pytest.approx(cc, rel=1e-12)


@pytest.mark.parametrize(
    ("strides", "hw", "expected"),
    [(1, (8, 8), (8, 8)), (2, (8, 8), (4, 4)), (2, (9, 7), (5, 4)), ((2, 2), (32, 32), (8, 8))],
)
def test_output_shapes(strides, hw, expected):
    layers = 1 if isinstance(strides, int) else len(strides)
    lstm = ConvLSTM(1, 5, num_layers=layers, strides=strides)
    out, (h, c) = lstm(torch.zeros(2, 3, 1, *hw))
    assert out.shape == (2, 3, 5, *expected)
    assert h[-1].shape == c[-1].shape == (2, 5, *expected)
    assert lstm.output_size(*hw) == expected


def test_gradcheck():
    torch.manual_seed(3)
    lstm = ConvLSTM(1, 2, 3, 2, (2, 1), activation="tanh").double()
    x = torch.randn(1, 3, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: lstm(v)[0], (x,))


def test_gradients_reach_every_parameter():
    lstm = ConvLSTM(1, 3, 3, 3, (1, 2, 1))
    out, _ = lstm(torch.randn(2, 4, 1, 8, 8))
    out.square().sum().backward()
    for name, p in lstm.named_parameters():
        assert p.grad is not None, name
        assert torch.count_nonzero(p.grad) > 0, name


def test_keras_initialisation():
    cell = ConvLSTMCell(2, 4)
    b = cell.conv_in.bias.detach()
    assert torch.equal(b[4:8], torch.ones(4))  # unit forget bias
    assert torch.equal(b[:4], torch.zeros(4))
    w = cell.conv_rec.weight.detach().reshape(16, -1)  # (4*hid, hid*k*k): orthogonal rows
    torch.testing.assert_close(w @ w.T, torch.eye(16), atol=1e-5, rtol=0)


def test_dropout_only_in_training():
    lstm = ConvLSTM(1, 3, num_layers=3, dropout=0.5)
    x = torch.randn(2, 3, 1, 6, 6)
    lstm.eval()
    torch.testing.assert_close(lstm(x)[0], lstm(x)[0])
    lstm.train()
    torch.manual_seed(0)
    a = lstm(x)[0]
    torch.manual_seed(1)
    assert not torch.equal(a, lstm(x)[0])


@pytest.mark.parametrize("p", [0.5, 0.2, 0.8])
def test_dropout_keeps_each_element_with_probability_1_minus_p(p):
    from dcemets.models import dropout

    torch.manual_seed(0)
    x = torch.ones(64, 32, 16)  # 32768 elements, 1024 per bit position of a 32-bit word
    y = dropout(x, p)
    torch.testing.assert_close(torch.unique(y), torch.tensor([0.0, 1.0 / (1.0 - p)]))
    kept = (y > 0).double()
    n = kept.numel()
    assert abs(kept.mean().item() - (1 - p)) < 4 * (p * (1 - p) / n) ** 0.5
    # every bit position of the random words (p = 0.5) is a fair coin; neighbours independent
    per_pos = kept.view(-1, 32).mean(0)
    assert ((per_pos - (1 - p)).abs() < 5 * (p * (1 - p) / (n / 32)) ** 0.5).all()
    flat = kept.view(-1) - (1 - p)
    assert abs((flat[1:] * flat[:-1]).mean().item()) < 5 * p * (1 - p) / n**0.5
    assert torch.equal(x, torch.ones(64, 32, 16))  # input untouched


def test_dropout_gradient_is_the_mask_and_seeded():
    from dcemets.models import dropout

    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(3)
    y = dropout(x, 0.5)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.where(y != 0, 2.0, 0.0).double())
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.5), y)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    with pytest.raises(ValueError, match="`p` must be in"):
        dropout(x, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "err"),
    [
        ({"kernel_size": 2}, ValueError),
        ({"num_layers": 0}, ValueError),
        ({"hidden_channels": (3, 4), "num_layers": 3}, ValueError),
        ({"strides": 0}, ValueError),
        ({"activation": "gelu"}, ValueError),
        ({"dropout": 1.0}, ValueError),
        ({"kernel_init": "zeros"}, ValueError),
    ],
)
def test_bad_arguments(kwargs, err):
    args = {"in_channels": 1, "hidden_channels": 3, **kwargs}
    with pytest.raises(err):
        ConvLSTM(**args)


def test_bad_input():
    lstm = ConvLSTM(2, 3)
    with pytest.raises(ValueError, match="5D"):
        lstm(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="2 channels"):
        lstm(torch.zeros(2, 3, 1, 8, 8))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("cin", [1, 5])  # GEMM-of-patches input path and convolution path
def test_fused_backward_gradcheck_with_states(activation, cin):
    """The hand-written backward through time against finite differences, every input."""
    torch.manual_seed(4)
    cell = ConvLSTMCell(cin, 2, 3, stride=2, activation=activation).double()
    for p in cell.parameters():
        torch.nn.init.uniform_(p, -0.6, 0.6)
    x = torch.randn(3, 2, cin, 5, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    params = tuple(cell.parameters())

    def run(x, h0, c0, *_):
        out, (_h, c) = cell(x, (h0, c0))
        return out, c  # the final cell state is an output with its own gradient

    assert torch.autograd.gradcheck(run, (x, h0, c0, *params))


@pytest.mark.parametrize("strides", [(1, 2), (2, 1)])
def test_fused_gradients_equal_autograd(strides):
    """Fused and plain-autograd execution give the same gradients for every parameter."""
    torch.manual_seed(5)
    lstm = ConvLSTM(1, 3, 3, 2, strides, activation="relu", dropout=0.0).double()
    x = torch.randn(2, 4, 1, 8, 8, dtype=torch.float64)
    grads = {}
    for mode in ("fused", "hoist"):
        for cell in lstm.cells:
            cell.input_mode = mode
        lstm.zero_grad()
        out, (_h, c) = lstm(x)
        (out.square().sum() + c[-1].sum()).backward()
        grads[mode] = [p.grad.clone() for p in lstm.parameters()]
    for a, b in zip(grads["fused"], grads["hoist"]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_compiled_gate_kernels_match_eager(activation):
    """torch.compile'd gate kernels: same outputs and gradients as the eager ones."""
    torch.manual_seed(6)
    lstm = ConvLSTM(1, 4, 3, 2, (1, 2), activation=activation).double()
    x = torch.randn(2, 3, 1, 6, 6, dtype=torch.float64)
    results = []
    for flag in (False, True):
        for cell in lstm.cells:
            cell.compile_gates = flag
        lstm.zero_grad()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out, (_h, c) = lstm(x)
            (out.square().sum() + c[-1].sum()).backward()
        if any("torch.compile of the ConvLSTM gate" in str(w.message) for w in caught):
            pytest.skip("torch.compile is not usable here (the eager fallback was taken)")
        results.append((out.detach(), [p.grad.clone() for p in lstm.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-10, atol=1e-12)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cin", [1, 5])  # both input paths (patch GEMM and convolution)
def test_inference_without_saved_buffers_gives_the_same_output(cin):
    """Under no_grad the fused layer frees each step's buffers; the numbers do not change."""
    torch.manual_seed(8)
    lstm = ConvLSTM(cin, 4, 3, 2, (1, 2)).double().eval()
    x = torch.randn(2, 4, cin, 7, 7, dtype=torch.float64)
    out, (h, c) = lstm(x)
    assert out.requires_grad
    with torch.inference_mode():
        out_i, (h_i, c_i) = lstm(x)
    torch.testing.assert_close(out_i, out.detach(), rtol=0, atol=0)
    torch.testing.assert_close(c_i[-1], c[-1].detach(), rtol=0, atol=0)
    torch.testing.assert_close(h_i[0], h[0].detach(), rtol=0, atol=0)


def test_dropout_bad_arguments():
    from dcemets.models import dropout

    x = torch.ones(3, 4)
    with pytest.raises(TypeError, match="`x`"):
        dropout(x.numpy(), 0.5)
    with pytest.raises(TypeError, match="`x`"):
        dropout(x.long(), 0.5)
    with pytest.raises(TypeError, match="`p`"):
        dropout(x, "0.5")
    with pytest.raises(ValueError, match="`p`"):
        dropout(x, float("nan"))
    assert dropout(x[:0], 0.5).shape == (0, 4)  # any shape, an empty one included


@pytest.mark.parametrize(
    ("kwargs", "err", "name"),
    [
        ({"in_channels": 0}, ValueError, "in_channels"),
        ({"hidden_channels": 2.5}, TypeError, "hidden_channels"),
        ({"kernel_size": [3]}, TypeError, "kernel_size"),
        ({"stride": -1}, ValueError, "stride"),
    ],
)
def test_cell_bad_arguments(kwargs, err, name):
    with pytest.raises(err, match=f"`{name}`"):
        ConvLSTMCell(**{"in_channels": 1, "hidden_channels": 2, **kwargs})


def test_stack_bad_argument_types():
    with pytest.raises(TypeError, match="`hidden_channels`"):
        ConvLSTM(1, "4")
    with pytest.raises(TypeError, match="`dropout`"):
        ConvLSTM(1, 4, dropout="0.1")
    with pytest.raises(TypeError, match="`strides`"):
        ConvLSTM(1, 4, strides=[1.0])
