"""Device resolution shared by the networks and the Tofts backend."""

from __future__ import annotations

from typing import Any

import torch


def resolve_device(device: Any) -> torch.device:
    """Resolve ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` to a usable torch device.

    Raises
    ------
    TypeError
        `device` is not a str or torch.device.
    ValueError
        An unknown name, or CUDA requested where it is not available (or no such CUDA index).
    """
    if not isinstance(device, str | torch.device):
        raise TypeError(f"`device` must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={name!r} was requested but CUDA is not available (torch {torch.__version__}); "
                "use device='auto' or 'cpu'"
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={name!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    raise ValueError(f"`device` must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
