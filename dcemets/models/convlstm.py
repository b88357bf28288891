"""Convolutional LSTM with strided input convolutions (Shi et al. 2015), batched over time.

The cell of layer ``l`` at time step ``t`` (gate order ``i, f, o, g`` along channels)::

    [z_i, z_f, z_o, z_g] = W_l * X_t  (stride s_l, bias)  +  U_l * H_{t-1}  (stride 1, no bias)
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);   g = act(z_g)
    C_t = f . C_{t-1} + i . g
    H_t = o . act(C_t)

The state lives on the grid of the strided input convolution (``ceil(H / s)``), the
recurrent convolution always has stride 1 and 'same' padding -- the Keras ``ConvLSTM2D``
convention.  ``W * X_t`` does not depend on the state, so it is computed for all time steps
in one batched convolution; only ``U * H_{t-1}`` and the gate arithmetic step through time.

The layer's execution kernels (the gate arithmetic and the fused recurrence with its
hand-written backward through time) live in the private module ``_convlstm_kernels``.

One concept: the ConvLSTM layer (its cell, the stacked module and the dropout it
uses); the kernels that execute a layer fast live in ``_convlstm_kernels``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from dcemets._checks import check_int
from dcemets.models._checks import (
    check_fraction,
    check_odd,
    check_optional_int,
    check_tensor,
    int_list,
    require_finite,
)
from dcemets.models._convlstm_kernels import _lstm_pointwise, _Recurrence

__all__ = ["ConvLSTM", "ConvLSTMCell", "dropout"]

_ACTIVATIONS = ("tanh", "relu")


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout, as :func:`torch.nn.functional.dropout`, with a cheaper mask.

    On the CPU ``F.dropout`` draws one Bernoulli variate per element, which costs more than
    the ConvLSTM's convolutions of the same tensor.  For ``p = 0.5`` the mask here is built
    from the bits of 32-bit random words (each bit an independent fair coin), 10-15x faster;
    for other `p` it compares uniform variates with `p` (about 3x faster).  Elements are
    kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``; randomness comes from
    torch's generator of `x`'s device, so ``torch.manual_seed`` makes it repeatable.

    Parameters
    ----------
    x : torch.Tensor
        Floating-point input of any shape (an empty one included).  The operation is
        elementwise, as :func:`torch.nn.functional.dropout`: NaN/inf elements stay NaN/inf
        (``0 * nan`` is NaN), and `x`'s values are not checked (the networks check their
        input once at the entry of their forward pass).
    p : float
        Probability of zeroing an element, in ``[0, 1)``.
    training : bool
        Apply dropout (True) or return `x` unchanged (False).

    Returns
    -------
    torch.Tensor
        ``x * mask / (1 - p)``, a new tensor (or `x` itself when not training or ``p == 0``).

    Raises
    ------
    TypeError
        If `x` is not a floating-point tensor, or `p` is not a real number.
    ValueError
        If `p` is not in ``[0, 1)``.

    References
    ----------
    .. [1] Srivastava N, et al. Dropout: a simple way to prevent neural networks from
       overfitting. JMLR 2014;15:1929-1958.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> y = dropout(torch.ones(10_000), 0.5)
    >>> sorted(set(y.tolist())), abs(y.mean().item() - 1.0) < 0.05
    ([0.0, 2.0], True)
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        what = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"`x` must be a floating-point torch.Tensor, got {what}")
    p = check_fraction(p, "p")
    if not training or p == 0.0:
        return x
    n = x.numel()
    if p == 0.5:
        # 32 random bits per int64 word (its low half), unpacked a byte at a time as uint8
        words = torch.empty((n + 31) // 32, dtype=torch.int64, device=x.device).random_(0, 2**32)
        low = slice(0, 4) if sys.byteorder == "little" else slice(4, 8)
        octets = words.view(torch.uint8).view(-1, 8)[:, low].reshape(-1, 1)
        shifts = torch.arange(8, dtype=torch.uint8, device=x.device)
        keep = torch.bitwise_and(torch.bitwise_right_shift(octets, shifts), 1).view(-1)[:n]
        return torch.mul(x, keep.view(x.shape)).mul_(2.0)
    keep = torch.rand(x.shape, dtype=x.dtype, device=x.device) >= p
    return torch.mul(x, keep).mul_(1.0 / (1.0 - p))


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer: a strided input convolution and a stride-1 recurrent convolution.

    Parameters
    ----------
    in_channels : int
        Channels of the input frames.
    hidden_channels : int
        Channels of the hidden and cell states.
    kernel_size : int
        Odd square kernel size of both convolutions.
    stride : int
        Stride of the input convolution (the state grid is ``ceil(H / stride)``).
    bias : bool
        Bias on the input convolution (the recurrent one has none, as in Keras).
    activation : {"tanh", "relu"}
        Activation of the candidate ``g`` and of the cell output.
    kernel_init : {"glorot", "he"}
        Input-kernel initialisation: Glorot uniform (Keras' default) or He uniform (for ReLU
        cells in deep stacks; see :class:`~dcemets.models.CLSTMNet`).

    Attributes
    ----------
    input_mode : {"fused", "hoist", "cat"}
        Execution strategy (same numbers).  ``"fused"`` (default): the whole layer is one
        autograd node with a hand-written backward through time (both convolutions of a
        step add into one gate tensor; the gate derivatives are a few in-place tensor
        operations per step; a 1-3-channel input, such as the DCE frames, is convolved as a
        GEMM of unfolded patches).  ``"hoist"``: plain autograd, the input convolution of all
        steps in one batched call.  ``"cat"`` (stride-1 layers): plain autograd, one
        convolution over ``[x_t, h]`` per step.  See ``benchmarks/bench_models.py``.
    compile_gates : bool
        With ``"fused"``, run the gate arithmetic (forward and backward) as
        ``torch.compile`` d kernels: about 10-30 s of compilation on first use (cached on
        disk by Inductor), then one fused loop each way.  Falls back to the eager kernels
        with a warning if compilation fails.  Default False: on a 2-core CPU the eager
        kernels, which compute tanh as ``2 sigmoid(2x) - 1``, are as fast.
    time_chunk : int or None
        With ``"hoist"``, batch the input convolution over this many steps at a time (None:
        all).
    channels_last : bool
        With ``"hoist"``, run the input convolution in channels-last memory format.

    Raises
    ------
    TypeError
        `in_channels`, `hidden_channels`, `kernel_size` or `stride` is not an int.
    ValueError
        One of them is < 1, `kernel_size` is even, or `activation`/`kernel_init` is unknown.

    Notes
    -----
    Weights are initialised as Keras ``ConvLSTM2D`` does: Glorot-uniform input kernel,
    orthogonal recurrent kernel, zero bias with the forget-gate bias set to 1.

    Examples
    --------
    >>> import torch
    >>> cell = ConvLSTMCell(1, 4, stride=2)
    >>> out, (h, c) = cell(torch.zeros(12, 2, 1, 9, 9))  # time-major (T, B, C, H, W)
    >>> tuple(out.shape), tuple(c.shape)
    ((12, 2, 4, 5, 5), (2, 4, 5, 5))
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        bias: bool = True,
        activation: str = "tanh",
        kernel_init: str = "glorot",
    ) -> None:
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        hidden_channels = check_int(hidden_channels, "hidden_channels", minimum=1)
        kernel_size = check_odd(check_int(kernel_size, "kernel_size", minimum=1), "kernel_size")
        stride = check_int(stride, "stride", minimum=1)
        if kernel_init not in ("glorot", "he"):
            raise ValueError(f"`kernel_init` must be 'glorot' or 'he', got {kernel_init!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {_ACTIVATIONS}, got {activation!r}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.activation = activation
        self.kernel_init = kernel_init
        self.time_chunk: int | None = None
        self.channels_last = False
        self.input_mode = "fused"
        self.compile_gates = False
        pad = kernel_size // 2
        self.conv_in = nn.Conv2d(in_channels, 4 * hidden_channels, kernel_size, stride, pad, bias=bias)
        self.conv_rec = nn.Conv2d(hidden_channels, 4 * hidden_channels, kernel_size, 1, pad, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the weights the Keras way (Glorot input, orthogonal recurrent, forget bias 1)."""
        if self.kernel_init == "he":
            nn.init.kaiming_uniform_(self.conv_in.weight, nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(self.conv_in.weight)
        w = self.conv_rec.weight
        with torch.no_grad():
            flat = torch.empty(w.shape[0], w[0].numel())
            nn.init.orthogonal_(flat)
            w.copy_(flat.view_as(w))
        if self.conv_in.bias is not None:
            nn.init.zeros_(self.conv_in.bias)
            with torch.no_grad():
                hid = self.hidden_channels
                self.conv_in.bias[hid : 2 * hid] = 1.0

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the state for an input of ``height x width``.

        Parameters
        ----------
        height, width : int
            Input frame size in pixels.

        Returns
        -------
        tuple of int
            The state's ``(height, width)``, each ``ceil(size / stride)``.
        """
        s = self.stride
        return (height + s - 1) // s, (width + s - 1) // s

    def forward(
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        check_finite: bool = True,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the layer over a time-major sequence.

        Parameters
        ----------
        x : torch.Tensor, shape (T, B, C, H, W)
            Input sequence, time first, floating point, ``C = in_channels``.
        state : tuple of torch.Tensor, optional
            Initial ``(h, c)``, each ``(B, hidden, ceil(H/s), ceil(W/s))``; zeros by default.
        check_finite : bool
            Check that `x` holds no NaN/inf (one reduction over `x`).  :class:`ConvLSTM`
            passes False: it checks its own input once, and the later layers' inputs are its
            own hidden states.

        Returns
        -------
        outputs : torch.Tensor, shape (T, B, hidden, H', W')
            Hidden state at every step.
        (h, c) : tuple of torch.Tensor
            Final hidden and cell state.

        Raises
        ------
        TypeError
            `x` is not a floating-point tensor.
        ValueError
            `x` is not 5D, has no time step or sample, another number of channels, or
            (with `check_finite`) NaN/inf values.
        """
        layout = "(time, batch, channel, height, width)"
        check_tensor(x, "x", layout, ndim=5)
        if x.shape[2] != self.in_channels:
            raise ValueError(
                f"`x` must have {self.in_channels} channels (axis 2 of {layout}), got {x.shape[2]}"
            )
        if check_finite:
            require_finite(x, "x")
        steps, batch = x.shape[:2]
        hid = self.hidden_channels
        if state is None:
            h: torch.Tensor | None = None
            c: torch.Tensor | None = None
        else:
            h, c = state
        outs = []
        if self.stride == 1 and self.input_mode == "cat":
            # stride 1: one convolution over [x_t, h] per step with the stacked kernels
            w_cat = torch.cat([self.conv_in.weight, self.conv_rec.weight], 1)
            pad = self.kernel_size // 2
            for x_t in x.unbind(0):
                if h is None:  # zero state: the recurrent half would only add zeros
                    z = self.conv_in(x_t)
                else:
                    z = F.conv2d(torch.cat([x_t, h], 1), w_cat, self.conv_in.bias, padding=pad)
                h, c = _lstm_pointwise(z, c, hid, self.activation)
                outs.append(h)
        elif self.input_mode == "fused":
            hs, c_last = _Recurrence.apply(
                x,
                self.conv_in.weight,
                self.conv_in.bias,
                self.conv_rec.weight,
                h,
                c,
                self.stride,
                self.activation,
                self.compile_gates,
                torch.is_grad_enabled(),
            )
            return hs, (hs[-1], c_last)
        else:
            # input-to-state convolution for all time steps at once (in chunks of `time_chunk`
            # steps: oneDNN slows down per sample on very large batches on small CPUs)
            flat = x.reshape(steps * batch, *x.shape[2:])
            if self.channels_last:
                flat = flat.contiguous(memory_format=torch.channels_last)
            chunk = steps if self.time_chunk is None else max(1, int(self.time_chunk))
            xg_steps: list[torch.Tensor] = []
            for part in flat.split(chunk * batch, 0):
                # split once: indexing xg[t] in the loop costs a full-size zero tensor per
                # step in backward
                xg_steps.extend(self.conv_in(part).split(batch, 0))
            for xg_t in xg_steps:
                # the first step from a zero state needs no recurrent convolution
                z = xg_t if h is None else xg_t + self.conv_rec(h)
                h, c = _lstm_pointwise(z, c, hid, self.activation)
                outs.append(h)
        if h is None or c is None:
            raise ValueError("`x` must have at least one time step")
        return torch.stack(outs, 0), (h, c)


class ConvLSTM(nn.Module):
    """A stack of ConvLSTM layers with strided input convolutions, shaped like ``nn.LSTM``.

    Parameters
    ----------
    in_channels : int
        Channels of each input frame.
    hidden_channels : int or sequence of int
        Hidden channels, one value for all layers or one per layer.
    kernel_size : int or sequence of int
        Odd kernel size (square), per layer or shared.  Default 3.
    num_layers : int
        Number of stacked layers.  Default 1.
    strides : int or sequence of int
        Stride of each layer's input convolution (the recurrent convolution keeps stride 1).
        Default 1.
    batch_first : bool
        Input and output are ``(B, T, C, H, W)`` if True (default), ``(T, B, C, H, W)``
        otherwise.
    bias : bool
        Bias on the input convolutions.
    activation : {"tanh", "relu"}
        Activation of the candidate and cell output (Keras ``activation``); the paper's
        network uses ``"relu"``.
    output_activation : {None, "relu"}
        Activation applied to each layer's output sequence before it feeds the next layer
        (and to the returned output), as a Keras ``Activation`` layer after ``ConvLSTM2D``
        would; the recurrent state is not affected.  Default None.
    dropout : float
        Dropout probability on the outputs of the layers ``dropout_from ... dropout_to``
        (never on the last layer's output, as ``nn.LSTM``).  Default 0.
    dropout_from : int
        1-based index of the first layer whose output gets dropout.  Default 1.
    dropout_to : int, optional
        1-based index of the last layer whose output gets dropout (None: ``num_layers - 1``).
    kernel_init : {"glorot", "he"}
        Input-kernel initialisation (Glorot, as Keras, by default).

    Raises
    ------
    TypeError
        `in_channels`, `num_layers`, `dropout_from` or `dropout_to` is not an int,
        `hidden_channels`, `kernel_size` or `strides` not an int or a sequence of
        `num_layers` ints, or `dropout` not a real number.
    ValueError
        A size or index < 1, a sequence of another length, an even kernel size, `dropout`
        outside ``[0, 1)``, or an unknown `activation`, `output_activation` or `kernel_init`.

    References
    ----------
    .. [1] Shi X, Chen Z, Wang H, Yeung DY, Wong WK, Woo WC. Convolutional LSTM network: a
       machine learning approach for precipitation nowcasting. NeurIPS 2015, pp. 802-810.
       arXiv:1506.04214.
    .. [2] Lang N, et al. Differentiation of spinal metastases originated from lung and other
       cancers using radiomics and deep learning based on DCE-MRI. Magn Reson Imaging
       2019;64:4-12, section 2.6 and Fig. 5. :doi:`10.1016/j.mri.2019.02.013`

    Examples
    --------
    >>> import torch
    >>> lstm = ConvLSTM(1, 8, num_layers=2, strides=(1, 2))
    >>> out, (h, c) = lstm(torch.zeros(4, 12, 1, 32, 32))
    >>> tuple(out.shape), len(h), tuple(h[-1].shape)
    ((4, 12, 8, 16, 16), 2, (4, 8, 16, 16))
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int | Sequence[int],
        kernel_size: int | Sequence[int] = 3,
        num_layers: int = 1,
        strides: int | Sequence[int] = 1,
        *,
        batch_first: bool = True,
        bias: bool = True,
        activation: str = "tanh",
        output_activation: str | None = None,
        dropout: float = 0.0,
        dropout_from: int = 1,
        dropout_to: int | None = None,
        kernel_init: str = "glorot",
    ) -> None:
        super().__init__()
        num_layers = check_int(num_layers, "num_layers", minimum=1)
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        if output_activation not in (None, "relu"):
            raise ValueError(f"`output_activation` must be None or 'relu', got {output_activation!r}")
        hidden = int_list(hidden_channels, num_layers, "hidden_channels")
        kernels = [check_odd(k, "kernel_size") for k in int_list(kernel_size, num_layers, "kernel_size")]
        stride_list = int_list(strides, num_layers, "strides")
        self.in_channels = in_channels
        self.hidden_channels = tuple(hidden)
        self.num_layers = num_layers
        self.strides = tuple(stride_list)
        self.batch_first = batch_first
        self.output_activation = output_activation
        self.dropout = check_fraction(dropout, "dropout")
        self.dropout_from = check_int(dropout_from, "dropout_from", minimum=1)
        self.dropout_to = check_optional_int(dropout_to, "dropout_to")
        chans = [in_channels, *hidden]
        self.cells = nn.ModuleList(
            ConvLSTMCell(
                chans[i],
                hidden[i],
                kernels[i],
                stride_list[i],
                bias=bias,
                activation=activation,
                kernel_init=kernel_init,
            )
            for i in range(num_layers)
        )

    def _has_dropout(self, layer: int) -> bool:
        """Whether the output of 1-based `layer` gets dropout (before the next layer)."""
        last = self.num_layers - 1 if self.dropout_to is None else self.dropout_to
        return self.dropout_from <= layer <= last

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the last layer's state for ``height x width`` input frames.

        Parameters
        ----------
        height, width : int
            Input frame size in pixels.

        Returns
        -------
        tuple of int
            The last layer's state ``(height, width)``, after every cell's stride.
        """
        for cell in self.cells:
            assert isinstance(cell, ConvLSTMCell)
            height, width = cell.output_size(height, width)
        return height, width

    def forward(
        self,
        x: torch.Tensor,
        hx: tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]]:
        """Run the stack over a sequence of frames.

        Parameters
        ----------
        x : torch.Tensor, shape (B, T, C, H, W) (or (T, B, C, H, W) if not `batch_first`)
            Input frames.
        hx : (h_0, c_0), optional
            Initial states, one tensor ``(B, hidden_l, H_l, W_l)`` per layer in each; zeros
            by default.

        Returns
        -------
        output : torch.Tensor, shape (B, T, hidden_last, H_last, W_last)
            Hidden state of the last layer at every step (time first if not `batch_first`).
        (h_n, c_n) : tuple of tuples of torch.Tensor
            Final hidden and cell states, one tensor per layer (the grids differ per layer, so
            they are not stacked as in ``nn.LSTM``).

        Raises
        ------
        TypeError
            `x` is not a floating-point tensor.
        ValueError
            `x` is not 5D, is empty, has another number of channels or NaN/inf values.
        """
        layout = (
            "(batch, time, channel, height, width)"
            if self.batch_first
            else "(time, batch, channel, height, width)"
        )
        check_tensor(x, "x", layout, ndim=5)
        ch_axis = 2
        if x.shape[ch_axis] != self.in_channels:
            raise ValueError(f"`x` must have {self.in_channels} channels (axis 2), got {x.shape[ch_axis]}")
        require_finite(x, "x")
        seq = x.transpose(0, 1) if self.batch_first else x
        h_n: list[torch.Tensor] = []
        c_n: list[torch.Tensor] = []
        for idx, cell in enumerate(self.cells):
            state = None if hx is None else (hx[0][idx], hx[1][idx])
            seq, (h, c) = cell(seq, state, check_finite=False)  # `x` checked above
            if self.output_activation == "relu":
                seq = F.relu(seq)
            h_n.append(h)
            c_n.append(c)
            last = idx == self.num_layers - 1
            if self.dropout > 0 and not last and self._has_dropout(idx + 1):
                seq = dropout(seq, self.dropout, self.training)
        out = seq.transpose(0, 1) if self.batch_first else seq
        return out, (tuple(h_n), tuple(c_n))
