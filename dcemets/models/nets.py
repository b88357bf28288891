"""The paper's two networks: the 7-layer ConvLSTM on the 12 DCE frames and the CNN on the maps."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dcemets._checks import check_int
from dcemets.models._checks import (
    check_fraction,
    check_odd,
    check_optional_int,
    check_tensor,
    int_list,
    require_finite,
)
from dcemets.models.convlstm import ConvLSTM, dropout

__all__ = ["CLSTMNet", "MapCNN"]

_PAPER_STRIDES = (1, 2, 1, 2, 1, 2, 1)
_READOUTS = ("flatten", "pool", "max", "meanmax", "attention")  # CLSTMNet's `readout` options


def _image_size(value: int | Sequence[int]) -> tuple[int, int]:
    size = int_list(value, 2, "image_size")
    return size[0], size[1]


def _default_strides(strides: int | Sequence[int] | None, num_layers: int) -> int | Sequence[int]:
    if strides is not None:
        return strides
    return [_PAPER_STRIDES[i] if i < len(_PAPER_STRIDES) else 1 for i in range(num_layers)]


def _read_out(states: torch.Tensor, readout: str, attend: nn.Module | None = None) -> torch.Tensor:
    """The last layer's states ``(B, T, hid, h, w)`` as the dense layer reads them (see `CLSTMNet`)."""
    if readout == "flatten":
        return states
    pixels = states.flatten(-2)  # (B, T, hid, h * w)
    if readout == "attention":
        if attend is None:
            raise ValueError("readout='attention' needs `attend`, the pixel-score layer (CLSTMNet.attend)")
        # one weight per pixel, a softmax over the pixels of a score read from the last time
        # step's state (which has seen the whole curve); every time step is averaged with them
        weights = torch.softmax(attend(states[:, -1]).flatten(1), dim=-1)  # (B, h * w)
        return (pixels * weights[:, None, None, :]).sum(-1)
    if readout == "pool":
        return pixels.mean(-1)  # each time step's state averaged over the pixels
    if readout == "max":
        return pixels.amax(-1)  # the hottest pixel's state, per time step and channel
    return torch.cat([pixels.mean(-1), pixels.amax(-1)], dim=-1)  # "meanmax": (B, T, 2 * hid)


class CLSTMNet(nn.Module):
    """The paper's recurrent CNN (Fig. 5): stacked ConvLSTM layers and a dense layer.

    Seven ConvLSTM layers with 3 x 3 kernels (tanh cells by default; see `activation`), stride 2 at layers 2, 4
    and 6 (each halves the grid: 32 x 32 -> 4 x 4), dropout 0.5 on the outputs of layers 2
    to 7, and a fully connected layer over the flattened hidden states of the last layer at
    *all* time steps, giving class logits (the softmax lives in the loss).

    Parameters
    ----------
    in_channels : int
        Channels per frame (1 for DCE signal).
    num_classes : int
        Number of output logits (2: lung / other).
    n_frames : int
        Number of time frames (12 in the paper); fixes the dense layer's size.
    image_size : int or (int, int)
        Input height and width (32).
    features : int or sequence of int
        Hidden channels per layer (16).
    num_layers : int
        Number of ConvLSTM layers (7).
    kernel_size : int
        Kernel size (3).
    strides : sequence of int, optional
        Input-convolution stride per layer; default stride 2 at layers 2, 4, 6.
    activation : {"relu", "tanh"}
        Cell activation, of the candidate and the cell output.  ``"tanh"`` by default (the
        LSTM's own, Keras' ``ConvLSTM2D`` default).  The caption of Fig. 5 has the ConvLSTM
        layers "followed by the ReLU nonlinear activation function" and does not name the
        cells' activation.  ``"relu"`` in the cells leaves the state unbounded and, on the
        simulated cohort, the network does not train (training accuracy 0.52-0.68 after 10-12
        epochs, with or without gradient clipping).
    output_activation : {None, "relu"}
        Activation on each layer's output sequence (see :class:`ConvLSTM`): ``"relu"`` is
        the caption's ReLU after each layer.  None by default: with tanh cells, 12 epochs and
        2x augmentation on a held-out quarter of the simulated patients it gave 0.64 slice /
        0.60 patient accuracy against 0.73 / 0.80 without it.
    dropout : float
        Dropout probability (0.5).
    dropout_from, dropout_to : int
        1-based first and last layer whose output gets dropout: ``(2, None)``, after every
        layer from the second on and before the dense layer, as the caption of Fig. 5 says
        ("dropout at 50% is applied to all convolutional and fully-connected layers after the
        second layer").  ``dropout_to=2`` keeps only the first of them.
    kernel_init : {"he", "glorot"}
        Input-kernel initialisation.  He uniform by default: with Keras' Glorot default the
        gated ReLU cells shrink the signal about 7x per layer, so the 7th layer's states are
        ~1e-6 of a unit-variance input and the network does not leave the ln 2 loss plateau
        in a CPU budget; He keeps them at ~1e-2 (tested).  The paper does not state its
        initialisation.
    readout : {"flatten", "pool", "max", "meanmax", "attention"}
        How the dense layer reads the last layer's hidden states ``(T, hid, h, w)``.
        ``"flatten"`` (default; the paper's Fig. 5): all of them, flattened -- ``T * hid * h * w``
        inputs, a separate weight for every time step *and pixel*.  ``"pool"``: their mean
        over the pixels at every time step -- ``T * hid`` inputs, the same weights wherever in
        the crop a pattern occurs.  On few patients the flattened readout memorises the
        tumours' outlines (training accuracy 1.00, held-out accuracy at chance on a toy
        cohort whose class is carried only by the curve shape); the pooled one reads the time
        course (see the user guide, "Why the CLSTM sat at chance").  ``"max"``: their maximum
        over the pixels at every time step and channel -- ``T * hid`` inputs.  ``"meanmax"``:
        the mean and the maximum concatenated -- ``2 * T * hid`` inputs.  The three hot-spot
        heuristics of the CHAID are measured on the most-enhancing few voxels of the lesion
        (paper, section 2.3), whereas the mean dilutes that signal with the marrow, the
        necrotic core and the edges of the crop; the maximum reads the time course of the
        hottest response, with the same weights wherever in the crop it lies.  Both are
        invariant to a permutation of the last layer's pixels (tested).  ``"attention"``: a
        weighted mean over the pixels at every time step, the weights a softmax over the
        pixels of a learned linear score of each pixel's last state (attention pooling, Ilse
        et al. 2018 [3]_) -- ``T * hid`` inputs.  The score starts at zero, so an untrained
        network reads the plain mean (``"pool"``); training can move the weight onto the
        pixels whose curve decides the class, as the hot spot does for the heuristics.

    Raises
    ------
    TypeError
        A size, count or layer index that is not an int, `features` or `image_size` not an
        int or a sequence of ints, `dropout` not a real number.
    ValueError
        A size, count or layer index < 1, a sequence of the wrong length, an even
        `kernel_size`, `dropout` outside ``[0, 1)``, or an unknown option.

    References
    ----------
    .. [1] Lang N, et al. Magn Reson Imaging 2019;64:4-12, section 2.6, Fig. 5.
       :doi:`10.1016/j.mri.2019.02.013`
    .. [2] Shi X, et al. Convolutional LSTM network. NeurIPS 2015. arXiv:1506.04214.
    .. [3] Ilse M, Tomczak J, Welling M. Attention-based deep multiple instance learning.
       ICML 2018. arXiv:1802.04712.

    Examples
    --------
    >>> import torch
    >>> net = CLSTMNet()
    >>> net(torch.zeros(2, 12, 1, 32, 32)).shape
    torch.Size([2, 2])
    >>> sum(p.numel() for p in net.parameters())  # 9,856 + 6 x 18,496 + (12*16*4*4 + 1) * 2
    126978
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        n_frames: int = 12,
        image_size: int | Sequence[int] = 32,
        features: int | Sequence[int] = 16,
        num_layers: int = 7,
        kernel_size: int = 3,
        strides: Sequence[int] | None = None,
        activation: str = "tanh",
        output_activation: str | None = None,
        dropout: float = 0.5,
        dropout_from: int = 2,
        dropout_to: int | None = None,
        kernel_init: str = "he",
        readout: str = "flatten",
    ) -> None:
        super().__init__()
        if readout not in _READOUTS:
            raise ValueError(f"`readout` must be one of {_READOUTS}, got {readout!r}")
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        n_frames = check_int(n_frames, "n_frames", minimum=1)
        num_layers = check_int(num_layers, "num_layers", minimum=1)
        features = int_list(features, num_layers, "features")
        self.in_channels = in_channels
        self.n_frames = n_frames
        self.image_size = _image_size(image_size)
        self.dropout = check_fraction(dropout, "dropout")
        self.dropout_from = check_int(dropout_from, "dropout_from", minimum=1)
        check_optional_int(dropout_to, "dropout_to")
        self.lstm = ConvLSTM(
            in_channels,
            features,
            kernel_size,
            num_layers,
            _default_strides(strides, num_layers),
            batch_first=True,
            activation=activation,
            output_activation=output_activation,
            dropout=dropout,
            dropout_from=dropout_from,
            dropout_to=dropout_to,
            kernel_init=kernel_init,
        )
        h, w = self.lstm.output_size(*self.image_size)
        self.readout = readout
        pixels = {"flatten": h * w, "pool": 1, "max": 1, "meanmax": 2, "attention": 1}[readout]
        self.attend: nn.Module | None = None
        if readout == "attention":
            attend = nn.Conv2d(self.lstm.hidden_channels[-1], 1, 1, bias=False)
            nn.init.zeros_(attend.weight)  # uniform weights at the start: the mean
            self.attend = attend
        self.head = nn.Linear(n_frames * self.lstm.hidden_channels[-1] * pixels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits.

        Parameters
        ----------
        x : torch.Tensor, shape (B, T, C, H, W)
            Frames in time order, ``T = n_frames``, ``(H, W) = image_size``.

        Returns
        -------
        torch.Tensor, shape (B, num_classes)
            Logits (apply softmax for probabilities).

        Raises
        ------
        TypeError
            `x` is not a floating-point tensor.
        ValueError
            `x` has another shape, no sample, or NaN/inf values.
        """
        expected = (self.n_frames, self.in_channels, *self.image_size)
        layout = f"(batch, {', '.join(map(str, expected))}) (batch, time, channel, height, width)"
        check_tensor(x, "x", layout)
        if x.ndim != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"`x` must have shape {layout}, got {tuple(x.shape)}")
        out, _ = self.lstm(x)  # checks that `x` is finite
        n = self.lstm.num_layers
        if (
            self.dropout > 0
            and self.dropout_from <= n
            and (self.lstm.dropout_to is None or self.lstm.dropout_to >= n)
        ):
            out = dropout(out, self.dropout, self.training)
        return self.head(_read_out(out, self.readout, self.attend).flatten(1))


class MapCNN(nn.Module):
    """The paper's feed-forward CNN on the three parametric maps.

    Seven 3 x 3 convolutions with ReLU, stride 2 at layers 2, 4 and 6, dropout 0.5 after each
    convolution from layer `dropout_from` on and on the flattened layer-7 feature maps, and a
    fully connected layer giving class logits.

    Parameters
    ----------
    in_channels : int
        Input maps (3: wash-in, maximum SE, wash-out).
    num_classes : int
        Number of logits (2).
    image_size : int or (int, int)
        Input height and width (32).
    features : int or sequence of int
        Filters per layer (32).
    num_layers : int
        Number of convolutions (7).
    kernel_size : int
        Kernel size (3).
    strides : sequence of int, optional
        Stride per layer; default stride 2 at layers 2, 4, 6.
    dropout : float
        Dropout probability (0.5).
    dropout_from : int
        1-based first layer followed by dropout (2).

    Raises
    ------
    TypeError
        A size, count or layer index that is not an int, `features` or `image_size` not an
        int or a sequence of ints, `dropout` not a real number.
    ValueError
        A size, count or layer index < 1, a sequence of the wrong length, an even
        `kernel_size`, `dropout` outside ``[0, 1)``, or an unknown option.

    References
    ----------
    .. [1] Lang N, et al. Magn Reson Imaging 2019;64:4-12, section 2.6.
       :doi:`10.1016/j.mri.2019.02.013`
    .. [2] Chang P, et al. Deep learning convolutional neural networks accurately classify
       genetic mutations in gliomas. AJNR 2018;39:1201-7. :doi:`10.3174/ajnr.A5667`

    Examples
    --------
    >>> import torch
    >>> MapCNN()(torch.zeros(5, 3, 32, 32)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        image_size: int | Sequence[int] = 32,
        features: int | Sequence[int] = 32,
        num_layers: int = 7,
        kernel_size: int = 3,
        strides: Sequence[int] | None = None,
        dropout: float = 0.5,
        dropout_from: int = 2,
    ) -> None:
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", minimum=1)
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        num_layers = check_int(num_layers, "num_layers", minimum=1)
        kernel_size = check_odd(check_int(kernel_size, "kernel_size", minimum=1), "kernel_size")
        dropout = check_fraction(dropout, "dropout")
        dropout_from = check_int(dropout_from, "dropout_from", minimum=1)
        self.in_channels = in_channels
        self.image_size = _image_size(image_size)
        chans = [in_channels, *int_list(features, num_layers, "features")]
        stride_list = int_list(_default_strides(strides, num_layers), num_layers, "strides")
        layers: list[nn.Module] = []
        h, w = self.image_size
        for i in range(num_layers):
            s = stride_list[i]
            layers += [nn.Conv2d(chans[i], chans[i + 1], kernel_size, s, kernel_size // 2), nn.ReLU()]
            if dropout > 0 and i + 1 >= dropout_from:
                layers.append(nn.Dropout(dropout))
            h, w = (h + s - 1) // s, (w + s - 1) // s
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1] * h * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits.

        Parameters
        ----------
        x : torch.Tensor, shape (B, C, H, W)
            Parametric maps, ``(H, W) = image_size``.

        Returns
        -------
        torch.Tensor, shape (B, num_classes)
            Logits.

        Raises
        ------
        TypeError
            `x` is not a floating-point tensor.
        ValueError
            `x` has another shape, no sample, or NaN/inf values.
        """
        expected = (self.in_channels, *self.image_size)
        layout = f"(batch, {', '.join(map(str, expected))}) (batch, channel, height, width)"
        check_tensor(x, "x", layout)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"`x` must have shape {layout}, got {tuple(x.shape)}")
        require_finite(x, "x")
        return self.head(self.features(x).flatten(1))
