"""The training loop of the scikit-learn classifiers: data split, batches, optimiser, AMP, early stopping.

Module functions that take the estimator (for its parameters and its overridable
``_split``/``_batches``/``_logits`` hooks); the estimators' private methods of the same names
call them.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from dcemets.models.augment import RandomAffine

SCHEDULES = (None, "cosine")
"""The accepted ``lr_schedule`` values."""


def seed_from(random_state: Any) -> int:
    """One torch seed from ``random_state`` (None, int, RandomState or Generator; advances it)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    try:
        rs = check_random_state(random_state)
    except ValueError:
        raise ValueError(
            f"`random_state` must be None, an int, a numpy RandomState or Generator, got {random_state!r}"
        ) from None
    return int(rs.randint(0, 2**31 - 1))


def split(
    y_enc: np.ndarray, groups: np.ndarray | None, seed: int, validation_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Train and early-stopping validation indices: by group if there are 2+, else stratified."""
    n = y_enc.size
    if groups is not None and np.unique(groups).size >= 2:
        splitter: Any = GroupShuffleSplit(1, test_size=validation_fraction, random_state=seed)
        return next(splitter.split(np.zeros(n), y_enc, groups))
    try:
        splitter = StratifiedShuffleSplit(1, test_size=validation_fraction, random_state=seed)
        return next(splitter.split(np.zeros(n), y_enc))
    except ValueError:
        splitter = ShuffleSplit(1, test_size=validation_fraction, random_state=seed)
        return next(splitter.split(np.zeros(n)))


def batches(
    n: int, augment: int, batch_size: int, gen: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled (sample index, view index) batches over ``n * augment`` views."""
    order = torch.randperm(n * augment, generator=gen)
    for start in range(0, order.numel(), batch_size):
        idx = order[start : start + batch_size]
        yield idx % n, idx // n


def autocast(use_amp: bool) -> contextlib.AbstractContextManager[Any]:
    """float16 autocast on CUDA when `use_amp`, else a no-op context."""
    return torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()


def logits(
    module: nn.Module, x: torch.Tensor, device: torch.device, use_amp: bool, batch_size: int
) -> torch.Tensor:
    """The network's logits on `x` in eval mode, in chunks of ``max(batch_size, 256)``, on the CPU."""
    module.eval()
    out = []
    with torch.inference_mode(), autocast(use_amp):
        for part in x.split(max(batch_size, 256)):
            out.append(module(part.to(device)).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)


@dataclass
class _Stepper:
    """One optimiser step per mini-batch: AMP scaling, gradient clipping, lr schedule."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    use_amp: bool
    max_grad_norm: float | None

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.use_amp):
            out = self.module(xb)
            loss = F.cross_entropy(out, yb)
        self.scaler.scale(loss).backward()
        if self.max_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), float(self.max_grad_norm))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            with warnings.catch_warnings():  # AMP may skip a step: torch warns about the order
                warnings.simplefilter("ignore", UserWarning)
                self.scheduler.step()
        return loss, out


def _stepper(est: Any, module: nn.Module, n_train: int, use_amp: bool) -> _Stepper:
    """Adam (AdamW with weight decay), the optional cosine schedule and the AMP scaler of `est`."""
    weight_decay = float(getattr(est, "weight_decay", 0.0))
    if weight_decay > 0:  # decoupled weight decay (Loshchilov & Hutter 2019)
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(
            module.parameters(), lr=float(est.lr), weight_decay=weight_decay
        )
    else:
        optimizer = torch.optim.Adam(module.parameters(), lr=float(est.lr))
    scheduler = None
    if getattr(est, "lr_schedule", None) == "cosine":  # per step, from lr down to 0 at the last epoch
        n_steps = est.epochs * -(-n_train * int(getattr(est, "augment", 1)) // est.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(n_steps, 1))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    return _Stepper(module, optimizer, scheduler, scaler, use_amp, est.max_grad_norm)


def _train_epoch(
    est: Any,
    step: _Stepper,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    gen: torch.Generator,
    device: torch.device,
    augment: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
) -> tuple[float, float]:
    """One pass over the (augmented) training views; mean loss and accuracy."""
    step.module.train()
    total, correct, count = 0.0, 0, 0
    for sample, view in est._batches(len(y_train), gen):
        xb = x_train[sample].to(device, non_blocking=True)
        yb = y_train[sample].to(device, non_blocking=True)
        if augment is not None:
            xb = augment(xb, view)
        loss, out = step(xb, yb)
        total += float(loss.detach()) * len(yb)
        correct += int((out.detach().argmax(1) == yb).sum())
        count += len(yb)
    return total / count, correct / count


def train(
    est: Any,
    module: nn.Module,
    images: np.ndarray,
    y_enc: np.ndarray,
    groups: np.ndarray | None,
    device: torch.device,
    seed: int,
    use_amp: bool,
) -> list[dict[str, float]]:
    """Train `module` in place with `est`'s settings; the per-epoch history.

    With ``est.early_stopping`` a validation split is held out, training stops after
    ``est.patience`` epochs without a lower validation loss and the best weights are kept.
    """
    gen = torch.Generator().manual_seed(seed)
    train_idx = np.arange(y_enc.size)
    val_idx = np.empty(0, dtype=int)
    if est.early_stopping:
        train_idx, val_idx = est._split(y_enc, groups, seed)
    x_train = torch.from_numpy(images[train_idx])
    y_train = torch.from_numpy(y_enc[train_idx].astype(np.int64))
    x_val = torch.from_numpy(images[val_idx]) if val_idx.size else None
    y_val = torch.from_numpy(y_enc[val_idx].astype(np.int64)) if val_idx.size else None
    affine = RandomAffine(**(getattr(est, "affine", None) or {}))

    def augment(xb: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        aug = view > 0
        if bool(aug.any()):
            moved = affine(xb[aug.to(device)], generator=gen)
            xb = xb.clone()
            xb[aug.to(device)] = moved
        return xb

    spatial = est._spatial and (images.shape[-1] > 1 or images.shape[-2] > 1)
    step = _stepper(est, module, len(train_idx), use_amp)
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    bad_epochs = 0
    epochs = tqdm(range(est.epochs), desc=type(est).__name__, disable=not est.progress, leave=False)
    for epoch in epochs:
        loss, accuracy = _train_epoch(est, step, x_train, y_train, gen, device, augment if spatial else None)
        record = {"epoch": float(epoch + 1), "train_loss": loss, "train_accuracy": accuracy}
        if x_val is not None and y_val is not None:
            val_logits = est._logits(module, x_val, device, use_amp)
            val_loss = float(F.cross_entropy(val_logits, y_val))
            record["val_loss"] = val_loss
            record["val_accuracy"] = float((val_logits.argmax(1) == y_val).float().mean())
            if best is None or val_loss < best[0]:
                best = (val_loss, copy.deepcopy(module.state_dict()))
                bad_epochs = 0
            else:
                bad_epochs += 1
        history.append(record)
        epochs.set_postfix(loss=f"{record['train_loss']:.3f}")
        if est.early_stopping and bad_epochs >= est.patience:
            break
    if best is not None:
        module.load_state_dict(best[1])
    return history
