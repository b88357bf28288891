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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ConvLSTM", "ConvLSTMCell"]

_ACTIVATIONS = ("tanh", "relu")


def _as_list(value: int | Sequence[int], n: int, name: str) -> list[int]:
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be an int or a sequence of {n} ints, got {value!r}")
    if isinstance(value, int):
        out = [int(value)] * n
    else:
        try:
            out = [int(v) for v in value]
        except TypeError as err:
            raise TypeError(f"`{name}` must be an int or a sequence of {n} ints, got {value!r}") from err
        if len(out) != n:
            raise ValueError(f"`{name}` must have one value per layer ({n}), got {len(out)}")
    if any(v < 1 for v in out):
        raise ValueError(f"`{name}` values must be >= 1, got {out}")
    return out


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
    input_mode : {"hoist", "cat"}
        Execution strategy (same numbers): ``"hoist"`` (default) computes the input
        convolution of all time steps in one batched call and steps only the recurrent one;
        ``"cat"`` (stride-1 layers only) convolves ``[x_t, h]`` with the stacked kernels once
        per step.  See ``benchmarks/bench_models.py``.
    time_chunk : int or None
        With ``"hoist"``, batch the input convolution over this many steps at a time (None:
        all).
    channels_last : bool
        Run the hoisted input convolution in channels-last memory format.

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
        if kernel_init not in ("glorot", "he"):
            raise ValueError(f"`kernel_init` must be 'glorot' or 'he', got {kernel_init!r}")
        if kernel_size % 2 != 1:
            raise ValueError(f"`kernel_size` must be odd (for 'same' padding), got {kernel_size}")
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
        self.input_mode = "hoist"
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
        """Spatial size of the state for an input of ``height x width``."""
        s = self.stride
        return (height + s - 1) // s, (width + s - 1) // s

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the layer over a time-major sequence.

        Parameters
        ----------
        x : torch.Tensor, shape (T, B, C, H, W)
            Input sequence, time first.
        state : tuple of torch.Tensor, optional
            Initial ``(h, c)``, each ``(B, hidden, ceil(H/s), ceil(W/s))``; zeros by default.

        Returns
        -------
        outputs : torch.Tensor, shape (T, B, hidden, H', W')
            Hidden state at every step.
        (h, c) : tuple of torch.Tensor
            Final hidden and cell state.
        """
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
    dropout : float
        Dropout probability on the outputs of the layers ``dropout_from ... num_layers - 1``
        (never on the last layer's output, as ``nn.LSTM``).  Default 0.
    dropout_from : int
        1-based index of the first layer whose output gets dropout.  Default 1.
    kernel_init : {"glorot", "he"}
        Input-kernel initialisation (Glorot, as Keras, by default).

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
        dropout: float = 0.0,
        dropout_from: int = 1,
        kernel_init: str = "glorot",
    ) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"`num_layers` must be a positive int, got {num_layers!r}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"`in_channels` must be a positive int, got {in_channels!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}")
        hidden = _as_list(hidden_channels, num_layers, "hidden_channels")
        kernels = _as_list(kernel_size, num_layers, "kernel_size")
        stride_list = _as_list(strides, num_layers, "strides")
        self.in_channels = in_channels
        self.hidden_channels = tuple(hidden)
        self.num_layers = num_layers
        self.strides = tuple(stride_list)
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.dropout_from = int(dropout_from)
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

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the last layer's state for ``height x width`` input frames."""
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
        """
        if x.ndim != 5:
            raise ValueError(
                f"`x` must be 5D (batch, time, channel, height, width), got shape {tuple(x.shape)}"
            )
        ch_axis = 2
        if x.shape[ch_axis] != self.in_channels:
            raise ValueError(f"`x` must have {self.in_channels} channels (axis 2), got {x.shape[ch_axis]}")
        seq = x.transpose(0, 1) if self.batch_first else x
        seq = seq.contiguous()
        h_n: list[torch.Tensor] = []
        c_n: list[torch.Tensor] = []
        for idx, cell in enumerate(self.cells):
            state = None if hx is None else (hx[0][idx], hx[1][idx])
            seq, (h, c) = cell(seq, state)
            h_n.append(h)
            c_n.append(c)
            last = idx == self.num_layers - 1
            if self.dropout > 0 and not last and idx + 1 >= self.dropout_from:
                seq = F.dropout(seq, self.dropout, self.training)
        out = seq.transpose(0, 1) if self.batch_first else seq
        return out, (tuple(h_n), tuple(c_n))
