"""The fused ConvLSTM layer's kernels: gate arithmetic and the hand-written recurrence.

Private to :mod:`dcemets.models.convlstm`, whose :class:`~dcemets.models.ConvLSTMCell` calls
them (public names: :mod:`dcemets.models`).  One concept: *executing* one ConvLSTM layer over
a sequence with the same numbers as plain autograd, faster on the CPU --

- :func:`_lstm_pointwise`: the gate arithmetic of the plain-autograd modes (``"hoist"``,
  ``"cat"``);
- :func:`_gates_fwd_eager` / :func:`_gates_bwd_eager` (in place) and
  :func:`_gates_fwd_pure` / :func:`_gates_bwd_pure` (functional, compiled by
  :func:`_gate_kernels` with ``torch.compile``; :func:`_compile_failed` falls back to eager):
  one step's gates forward and backward, for the ``"fused"`` mode;
- :class:`_Recurrence`: the ``"fused"`` mode, the whole layer as one autograd node with its
  backward through time written out.

No function here exceeds 100 lines; the longest, ``_Recurrence.forward`` and ``.backward``
(about 70 and 60), are each one loop over the time steps with the two input paths (patch
GEMM, convolution) inline, kept whole so that forward and backward read side by side.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.nn import functional as F

from dcemets._conventions import warn_user


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x) if name == "tanh" else torch.relu(x)


def _lstm_pointwise(
    z: torch.Tensor, c: torch.Tensor | None, hidden: int, activation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused gate arithmetic: one sigmoid over the 3 contiguous sigmoid gates.

    `z` has shape ``(B, 4 * hidden, H, W)`` in gate order ``i, f, o, g``; `c` is ``None`` for
    a zero initial cell state (the ``f * c`` term is skipped).
    """
    sig = torch.sigmoid(z[:, : 3 * hidden])
    i, f, o = sig.chunk(3, dim=1)
    g = _act(activation, z[:, 3 * hidden :])
    c_new = i * g if c is None else torch.addcmul(i * g, f, c)
    h_new = o * _act(activation, c_new)
    return h_new, c_new


_IM2COL_MAX_CHANNELS = 4  # input convolutions with fewer channels run as one GEMM on unfolded patches


def _sigmoid_grad_(y: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``grad *= y (1 - y)`` in place (the sigmoid's derivative from its output)."""
    grad.mul_(y)
    return grad.addcmul_(grad, y, value=-1.0)


def _gate_scale(w: torch.Tensor, activation: str) -> torch.Tensor:
    """`w` (or a bias) with the candidate gate's rows doubled when the activation is tanh.

    With ``z_g`` doubled, one sigmoid over all four gates gives ``g = tanh(z_g) = 2
    sigmoid(2 z_g) - 1``: on the CPU PyTorch's sigmoid is 3-4x faster than its tanh.  Doubling is
    exact in floating point, so the scaled convolution is exactly twice the original one.
    """
    if activation != "tanh":
        return w.contiguous()
    hid = w.shape[0] // 4
    out = w.clone(memory_format=torch.contiguous_format)
    out[3 * hid :] *= 2.0
    return out


def _gates_fwd_eager(
    z: torch.Tensor, c_prev: torch.Tensor | None, activation: str, h_out: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gate activations ``a = [i, f, o, g]`` (in place of `z`), ``c_t``, ``act(c_t)``; ``h_t`` into `h_out`.

    For tanh cells `z` carries ``2 z_g`` (see :func:`_gate_scale`) and both tanh are computed
    as ``2 sigmoid(2 x) - 1``.
    """
    hid = z.shape[1] // 4
    if activation == "tanh":
        a = z.sigmoid_()
        a[:, 3 * hid :].mul_(2.0).sub_(1.0)
    else:
        a = z
        a[:, : 3 * hid].sigmoid_()
        a[:, 3 * hid :].clamp_min_(0.0)
    i, f, o, g = a.split(hid, 1)
    c_t = i * g
    if c_prev is not None:
        c_t.addcmul_(f, c_prev)
    if activation == "tanh":
        ac = torch.mul(c_t, 2.0).sigmoid_().mul_(2.0).sub_(1.0)
    else:
        ac = c_t.clamp_min(0.0)
    torch.mul(o, ac, out=h_out)
    return a, c_t, ac


def _gates_bwd_eager(
    a: torch.Tensor,
    ac: torch.Tensor,
    c_prev: torch.Tensor | None,
    dh: torch.Tensor,
    dc_next: torch.Tensor | None,
    activation: str,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``dL/dz`` of the four gates and ``dL/dc_{t-1}``, from ``dL/dh_t``, ``dL/dc_t`` (next step).

    `ac` is ``act(c_t)`` saved by the forward, so no activation is recomputed.
    """
    hid = a.shape[1] // 4
    i, f, o, g = a.split(hid, 1)
    dz = torch.empty_like(a)
    dz_i, dz_f, dz_o, dz_g = dz.split(hid, 1)
    torch.mul(dh, ac, out=dz_o)
    _sigmoid_grad_(o, dz_o)
    dc = dh * o  # dL/dc_t through h_t
    if activation == "tanh":
        dc.addcmul_(dc, ac * ac, value=-1.0)
    else:
        dc.mul_(ac > 0)
    if dc_next is not None:
        dc += dc_next
    torch.mul(dc, g, out=dz_i)
    _sigmoid_grad_(i, dz_i)
    torch.mul(dc, i, out=dz_g)
    if activation == "tanh":
        dz_g.addcmul_(dz_g, g * g, value=-1.0)
    else:
        dz_g.mul_(g > 0)
    if c_prev is None:
        dz_f.zero_()
        return dz, None
    torch.mul(dc, c_prev, out=dz_f)
    _sigmoid_grad_(f, dz_f)
    return dz, dc.mul_(f)


def _gates_fwd_pure(
    z: torch.Tensor, c_prev: torch.Tensor, activation: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    hid = z.shape[1] // 4
    if activation == "tanh":
        s = torch.sigmoid(z)
        a = torch.cat([s[:, : 3 * hid], 2.0 * s[:, 3 * hid :] - 1.0], 1)
    else:
        a = torch.cat([torch.sigmoid(z[:, : 3 * hid]), torch.relu(z[:, 3 * hid :])], 1)
    c_t = a[:, hid : 2 * hid] * c_prev + a[:, :hid] * a[:, 3 * hid :]
    ac = 2.0 * torch.sigmoid(2.0 * c_t) - 1.0 if activation == "tanh" else torch.relu(c_t)
    return a, c_t, ac, a[:, 2 * hid : 3 * hid] * ac


def _gates_bwd_pure(
    a: torch.Tensor,
    ac: torch.Tensor,
    c_prev: torch.Tensor,
    dh: torch.Tensor,
    dc_next: torch.Tensor,
    activation: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    hid = a.shape[1] // 4
    i, f, o, g = a[:, :hid], a[:, hid : 2 * hid], a[:, 2 * hid : 3 * hid], a[:, 3 * hid :]
    if activation == "tanh":
        dac, dg_act = 1.0 - ac * ac, 1.0 - g * g
    else:
        dac, dg_act = (ac > 0).to(a.dtype), (g > 0).to(a.dtype)
    dc = dh * o * dac + dc_next
    dz = torch.cat(
        [dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f), dh * ac * o * (1.0 - o), dc * i * dg_act], 1
    )
    return dz, dc * f


_COMPILED: dict[str, Any] = {}


def _gate_kernels(compiled: bool) -> tuple[Any, Any]:
    """The gate arithmetic: eager in-place kernels, or the ``torch.compile`` d ones.

    The compiled kernels (Inductor, one fused loop each way, dynamic shapes) are built on first
    use; if compilation fails (no C++ compiler, unsupported platform) a warning is given once
    and the eager kernels are used from then on.
    """
    if not compiled or _COMPILED.get("failed"):
        return _gates_fwd_eager, _gates_bwd_eager
    if "fwd" not in _COMPILED:
        try:
            with warnings.catch_warnings():  # importing torch._dynamo warns about torch.jit
                warnings.simplefilter("ignore", DeprecationWarning)
                _COMPILED["fwd"] = torch.compile(_gates_fwd_pure, dynamic=True)
                _COMPILED["bwd"] = torch.compile(_gates_bwd_pure, dynamic=True)
        except Exception as err:  # noqa: BLE001
            _compile_failed(err)
            return _gates_fwd_eager, _gates_bwd_eager
    cf, cb = _COMPILED["fwd"], _COMPILED["bwd"]

    def fwd(
        z: torch.Tensor, c_prev: torch.Tensor | None, activation: str, h_out: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if c_prev is None:
            c_prev = z.new_zeros(h_out.shape)
        try:
            with warnings.catch_warnings():  # torch's own deprecations while compiling
                warnings.simplefilter("ignore", DeprecationWarning)
                a, c_t, ac, h_t = cf(z, c_prev, activation)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
            _compile_failed(err)
            return _gates_fwd_eager(z, c_prev, activation, h_out)
        h_out.copy_(h_t)
        return a, c_t, ac

    def bwd(
        a: torch.Tensor,
        ac: torch.Tensor,
        c_prev: torch.Tensor | None,
        dh: torch.Tensor,
        dc_next: torch.Tensor | None,
        activation: str,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        cp = torch.zeros_like(ac) if c_prev is None else c_prev
        dcn = torch.zeros_like(ac) if dc_next is None else dc_next
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                dz, dc_prev = cb(a, ac, cp, dh, dcn, activation)
        except Exception as err:  # noqa: BLE001
            _compile_failed(err)
            return _gates_bwd_eager(a, ac, c_prev, dh, dc_next, activation)
        return dz, (None if c_prev is None else dc_prev)

    return fwd, bwd


def _compile_failed(err: Exception) -> None:
    _COMPILED["failed"] = True
    warn_user(
        f"torch.compile of the ConvLSTM gate arithmetic failed ({type(err).__name__}: {err}); "
        "using the eager kernels",
        RuntimeWarning,
    )


class _Recurrence(torch.autograd.Function):
    """One ConvLSTM layer over a whole sequence, with a hand-written backward through time.

    The gates of every step are one tensor ``z = W * x_t + b + U * h_{t-1}`` (the bias rides
    on the recurrent convolution and the input convolution adds into its output; an input
    with fewer than ``_IM2COL_MAX_CHANNELS`` channels -- the DCE frames -- is convolved as
    one batched GEMM of its unfolded 3 x 3 patches, which oneDNN's direct convolution is slow
    at).  For tanh cells the candidate rows of ``W``, ``U`` and ``b`` are doubled so that one
    in-place sigmoid over ``z`` gives all four gates (``tanh x = 2 sigmoid(2x) - 1``;
    PyTorch's CPU tanh costs 3-4 sigmoids), and ``tanh(c_t)`` is kept for the backward,
    which therefore evaluates no transcendental function.  Backward walks the
    steps in reverse: the gate derivatives are a few in-place whole-tensor operations, the
    recurrent convolution's input and weight gradients come from one ``convolution_backward``
    call, and every tensor of a step stays small (a few MB), so no step allocates the
    (T x B)-sized buffers whose page faults dominate large CPU allocations.  Autograd records
    one node per layer instead of ~20 per step.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)  # float32 under CUDA autocast
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        w_in: torch.Tensor,
        bias: torch.Tensor | None,
        w_rec: torch.Tensor,
        h0: torch.Tensor | None,
        c0: torch.Tensor | None,
        stride: int,
        activation: str,
        compiled: bool,
        keep: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # `keep`: save what the backward needs (False under no_grad / inference_mode, so that
        # each step's buffers are freed and reused)
        gates_fwd, _ = _gate_kernels(compiled)
        steps, batch = x.shape[:2]
        hid = w_rec.shape[1]
        k = w_in.shape[-1]
        pad = k // 2
        im2col = x.shape[2] < _IM2COL_MAX_CHANNELS
        # the candidate gate's rows doubled for tanh cells (see _gate_scale); gradients use
        # the original weights, with dL/dz taken with respect to the unscaled z
        w_in_s = _gate_scale(w_in, activation)
        b_s = None if bias is None else _gate_scale(bias, activation)
        w_rec_s = _gate_scale(w_rec, activation)
        if im2col:  # (B, 4 hid, C k k): one batched GEMM per step writes straight into z
            w_in_s = w_in_s.reshape(1, w_in.shape[0], -1).expand(batch, -1, -1)
            b_col = None if b_s is None else b_s.view(1, -1, 1)
        hh = (x.shape[-2] + 2 * pad - k) // stride + 1
        ww = (x.shape[-1] + 2 * pad - k) // stride + 1
        gates: list[torch.Tensor] = []
        inputs: list[torch.Tensor] = []
        hs = torch.empty((steps, batch, hid, hh, ww), dtype=x.dtype, device=x.device)
        cs: list[torch.Tensor] = []
        acs: list[torch.Tensor] = []
        h = None if h0 is None else h0.contiguous()
        c = c0
        for t in range(steps):
            if im2col:
                u = F.unfold(x[t], k, padding=pad, stride=stride)  # (B, C k k, L)
                if h is None:
                    z = torch.bmm(w_in_s, u) if b_col is None else torch.baddbmm(b_col, w_in_s, u)
                    z = z.view(batch, -1, hh, ww)
                else:  # the bias rides on the recurrent convolution
                    z = F.conv2d(h, w_rec_s, b_s, 1, pad)
                    z.view(batch, -1, hh * ww).baddbmm_(w_in_s, u)
                inputs.append(u)
            else:
                x_t = x[t].contiguous()
                if h is None:
                    z = F.conv2d(x_t, w_in_s, b_s, stride, pad)
                else:
                    z = F.conv2d(h, w_rec_s, b_s, 1, pad)
                    z += F.conv2d(x_t, w_in_s, None, stride, pad)
                inputs.append(x_t)
            a, c_t, ac = gates_fwd(z, c, activation, hs[t])
            if keep:
                gates.append(a)
                cs.append(c_t)
                acs.append(ac)
            else:  # inference: drop the step's buffers, so that the allocator reuses them
                inputs.clear()
            h, c = hs[t], c_t
        ctx.gates, ctx.cs, ctx.acs, ctx.inputs = gates, cs, acs, inputs
        ctx.save_for_backward(hs, w_in, w_rec, h0, c0)
        ctx.conf = (stride, activation, pad, im2col, tuple(x.shape), bias is not None, compiled)
        assert c is not None
        return hs, c.clone()

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    @torch.autograd.function.once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, d_hs: torch.Tensor | None, d_c_last: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        hs, w_in, w_rec, h0, c0 = ctx.saved_tensors
        stride, activation, pad, im2col, x_shape, has_bias, compiled = ctx.conf
        _, gates_bwd = _gate_kernels(compiled)
        gates, cs, acs, inputs = ctx.gates, ctx.cs, ctx.acs, ctx.inputs
        steps, batch = x_shape[:2]
        need_x = ctx.needs_input_grad[0]
        d_x = torch.empty(x_shape, dtype=hs.dtype, device=hs.device) if need_x else None
        d_w_in = torch.zeros(w_in.shape[0], w_in[0].numel(), dtype=w_in.dtype, device=w_in.device)
        d_w_in = d_w_in if im2col else torch.zeros_like(w_in)
        d_bias = torch.zeros(w_in.shape[0], dtype=hs.dtype, device=hs.device) if has_bias else None
        d_w_rec = torch.zeros_like(w_rec)
        bias_sizes = [w_in.shape[0]] if has_bias else None
        h0c = None if h0 is None else h0.contiguous()
        dh_next: torch.Tensor | None = None
        dc_next = d_c_last
        for t in reversed(range(steps)):
            a = gates[t]
            ac = acs[t]
            c_prev = cs[t - 1] if t > 0 else c0
            h_prev = hs[t - 1] if t > 0 else h0c
            if d_hs is None:
                dh = torch.zeros_like(ac) if dh_next is None else dh_next
            else:
                dh = d_hs[t] if dh_next is None else dh_next.add_(d_hs[t])
            dz, dc_next = gates_bwd(a, ac, c_prev, dh, dc_next, activation)
            if h_prev is not None:  # the bias rode on this convolution: oneDNN sums its gradient
                gi, gw, gb = torch.ops.aten.convolution_backward(
                    dz, h_prev, w_rec, bias_sizes, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                    [True, True, d_bias is not None],
                )  # fmt: skip
                d_w_rec += gw
                dh_next = gi
                if d_bias is not None:
                    d_bias += gb
            else:
                dh_next = None
                if d_bias is not None:
                    d_bias += dz.sum((0, 2, 3))
            if im2col:
                u = inputs[t]  # (B, C k k, L)
                dz_l = dz.view(batch, dz.shape[1], -1)  # (B, 4 hid, L)
                d_w_in += torch.bmm(dz_l, u.transpose(1, 2)).sum(0)
                if d_x is not None:
                    du = torch.matmul(w_in.reshape(w_in.shape[0], -1).t(), dz_l)  # (B, C k k, L)
                    d_x[t] = F.fold(du, x_shape[-2:], w_in.shape[-1], padding=pad, stride=stride)
            else:
                gx, gw, _ = torch.ops.aten.convolution_backward(
                    dz, inputs[t], w_in, None, [stride, stride], [pad, pad], [1, 1], False, [0, 0], 1,
                    [d_x is not None, True, False],
                )  # fmt: skip
                d_w_in += gw
                if d_x is not None:
                    d_x[t] = gx
        d_h0 = dh_next if h0 is not None else None
        d_c0 = dc_next if c0 is not None else None
        return d_x, d_w_in.view_as(w_in), d_bias, d_w_rec, d_h0, d_c0, None, None, None, None
