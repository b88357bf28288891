"""Benchmark dcemets.models: CLSTMNet training step and inference on the CPU.

Run ``python benchmarks/bench_models.py`` (about 1-2 minutes).  Prints

* a training step (forward + backward + Adam) of :class:`CLSTMNet` at batch 32, 12 frames,
  32 x 32 crops, against the straightforward per-time-step ConvLSTM of the popular
  single-file implementations (one convolution over ``cat([x_t, h])`` every step, unfused
  gates, strided layers as two convolutions per step) with the *same weights*: the outputs
  are checked equal first, then both are timed interleaved in one run;
* inference for one patient (10 slices) with the achieved GFLOP/s;
* a :class:`MapCNN` training step for scale.

Options: ``--threads N`` (default 2), ``--repeats N``, ``--size N`` (crop size of the
training step, default 32; the ``cpu`` preset trains on 16); ``--ceiling`` also times the step
with the gate arithmetic replaced by one sigmoid pass (wrong numbers, on purpose): the fastest
any fused native gate kernel could make it, against the baseline in the same run; ``--cv``
also runs the full 10-fold patient-level cross-validation of both networks with the ``cpu`` preset on the simulated
61-case cohort (about 15 min); ``--paper-epoch`` times one epoch of the ``paper`` preset on
a 9/10 training fold and extrapolates the time per fold; ``--clstm-variants`` trains the
CLSTM's ``cpu`` budget, one dropout and 24 epochs on the first 4 folds (about 20 min).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import numpy as np
import torch
from torch.nn import functional as F

from dcemets.models import TRAINING_PRESETS, CLSTMClassifier, CLSTMNet, MapCNN, MapCNNClassifier


def baseline_forward(net: CLSTMNet, x: torch.Tensor) -> torch.Tensor:
    """Per-step ConvLSTM as popular implementations write it, using `net`'s weights."""
    batch, steps = x.shape[:2]
    seq = [x[:, t] for t in range(steps)]
    lstm = net.lstm
    for idx, cell in enumerate(lstm.cells):
        hid, pad = cell.hidden_channels, cell.kernel_size // 2
        act = torch.tanh if cell.activation == "tanh" else torch.relu
        hh, ww = cell.output_size(*seq[0].shape[-2:])
        h = seq[0].new_zeros(batch, hid, hh, ww)
        c = torch.zeros_like(h)
        w_cat = torch.cat([cell.conv_in.weight, cell.conv_rec.weight], 1)
        outs = []
        for t in range(steps):
            if cell.stride == 1:
                z = F.conv2d(torch.cat([seq[t], h], 1), w_cat, cell.conv_in.bias, padding=pad)
            else:  # a strided input cannot share one convolution with the state
                z = cell.conv_in(seq[t]) + cell.conv_rec(h)
            i, f, o, g = torch.split(z, hid, 1)
            i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
            g = act(g)
            c = f * c + i * g
            h = o * act(c)
            outs.append(h)
        if lstm.output_activation == "relu":
            outs = [torch.relu(o_) for o_ in outs]
        if lstm.dropout > 0 and idx < lstm.num_layers - 1 and lstm._has_dropout(idx + 1):
            outs = [F.dropout(o_, lstm.dropout, net.training) for o_ in outs]
        seq = outs
    out = torch.stack(seq, 1)
    n = lstm.num_layers
    if net.dropout > 0 and net.dropout_from <= n and (lstm.dropout_to is None or lstm.dropout_to >= n):
        out = F.dropout(out, net.dropout, net.training)
    return net.head(out.flatten(1))


def clstm_flops(net: CLSTMNet, batch: int, size: int) -> float:
    """Forward FLOPs (2 per multiply-add) of the convolutions and the dense layer."""
    total = 0.0
    h = w = size
    steps = net.n_frames
    for cell in net.lstm.cells:
        k2 = cell.kernel_size**2
        h, w = cell.output_size(h, w)
        out = 4 * cell.hidden_channels * h * w
        total += 2 * batch * steps * out * cell.in_channels * k2  # input convolutions
        total += 2 * batch * (steps - 1) * out * cell.hidden_channels * k2  # recurrent (h_0 = 0)
    total += 2 * batch * net.head.in_features * net.head.out_features
    return total


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _trainer(net: CLSTMNet, x: torch.Tensor, y: torch.Tensor):
    """``step(forward)``: one Adam step of `net`'s parameters on ``(x, y)`` through `forward`."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(forward) -> None:
        opt.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        opt.step()

    return step


def bench_training_step(repeats: int, size: int = 32) -> None:
    torch.manual_seed(0)
    net = CLSTMNet(image_size=size)
    x, y = torch.randn(32, 12, 1, size, size), torch.randint(0, 2, (32,))
    net.eval()
    with torch.no_grad():
        diff = (net(x) - baseline_forward(net, x)).abs().max().item()
    print(f"same numbers: max |logit difference| ours vs baseline = {diff:.2e}")
    net.train()
    step = _trainer(net, x, y)

    def ours():
        step(net)

    def base():
        step(lambda v: baseline_forward(net, v))

    def set_compiled(flag: bool) -> None:
        for cell in net.lstm.cells:
            cell.compile_gates = flag

    def ours_compiled():
        set_compiled(True)
        step(net)
        set_compiled(False)

    t0 = time.perf_counter()
    ours_compiled()  # compiles the gate kernels (cached on disk by Inductor for later runs)
    print(f"torch.compile of the gate kernels (first call, incl. one step): {time.perf_counter() - t0:.1f} s")
    for f in (ours, base, ours_compiled):  # warm-up
        f()
    times: dict[str, list[float]] = {"ours": [], "ours_compiled": [], "baseline": []}
    for _ in range(repeats):  # interleaved, so that load changes hit all alike
        times["ours"] += timed(ours, 1)
        times["ours_compiled"] += timed(ours_compiled, 1)
        times["baseline"] += timed(base, 1)
    flops = 3 * clstm_flops(net, 32, size)  # forward + backward ~ 3x forward
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"CLSTMNet training step, batch 32 x 12 frames x {size} x {size} (median of interleaved runs):")
    for k, v in med.items():
        print(
            f"  {k:<9} {v * 1000:8.0f} ms  (min {min(times[k]) * 1000:.0f} ms, ~{flops / v / 1e9:.1f} GFLOP/s)"
        )
    print(f"  ratio baseline / ours = {med['baseline'] / med['ours']:.2f}x (eager), "
          f"{med['baseline'] / med['ours_compiled']:.2f}x (gate kernels compiled)")  # fmt: skip


def _gates_fwd_floor(z, c_prev, activation, h_out):
    """The least a fused gate kernel must do: one sigmoid pass over the gates (nothing else written)."""
    return z.sigmoid_(), torch.empty_like(h_out), torch.empty_like(h_out)


def _gates_bwd_floor(a, ac, c_prev, dh, dc_next, activation):
    return torch.empty_like(a), (None if c_prev is None else torch.empty_like(ac))


def bench_ceiling(repeats: int, size: int = 32) -> None:
    """Upper bound on the step ratio of any fused gate kernel: the gate arithmetic made ~free.

    The fused recurrence runs with its gate kernels replaced by `_gates_fwd_floor` /
    `_gates_bwd_floor` (one in-place sigmoid forward, uninitialised buffers backward: wrong
    numbers, the time of the convolutions, dropout, head and optimizer only), interleaved with
    the per-step baseline.  No native cell kernel can make the step faster than this.
    """
    from dcemets.models import _convlstm_kernels as kernels

    torch.manual_seed(0)
    net = CLSTMNet(image_size=size).train()
    step = _trainer(net, torch.randn(32, 12, 1, size, size), torch.randint(0, 2, (32,)))

    def floor():
        real = kernels._gates_fwd_eager, kernels._gates_bwd_eager
        kernels._gates_fwd_eager, kernels._gates_bwd_eager = _gates_fwd_floor, _gates_bwd_floor
        try:
            step(net)
        finally:
            kernels._gates_fwd_eager, kernels._gates_bwd_eager = real

    def ours():
        step(net)

    def base():
        step(lambda v: baseline_forward(net, v))

    for f in (floor, ours, base):
        f()
    times: dict[str, list[float]] = {"gate arithmetic ~free": [], "ours": [], "baseline": []}
    for _ in range(repeats):
        for key, f in zip(times, (floor, ours, base), strict=True):
            times[key] += timed(f, 1)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"Ceiling of a fused gate kernel, training step at {size} x {size} (median of interleaved runs):")
    for k, v in med.items():
        print(f"  {k:<22} {v * 1000:6.0f} ms  (min {min(times[k]) * 1000:.0f} ms)")
    print(f"  best possible ratio baseline / ours = {med['baseline'] / med['gate arithmetic ~free']:.2f}x "
          f"(ours now {med['baseline'] / med['ours']:.2f}x)")  # fmt: skip


def bench_inference(repeats: int) -> None:
    torch.manual_seed(0)
    net = CLSTMNet().eval()
    x = torch.randn(10, 12, 1, 32, 32)
    with torch.inference_mode():
        net(x)
        ours = timed(lambda: net(x), repeats * 4)
        base = timed(lambda: baseline_forward(net, x), repeats * 4)
    med, med_b = statistics.median(ours), statistics.median(base)
    flops = clstm_flops(net, 10, 32)
    print("CLSTMNet inference, one patient (10 slices x 12 frames x 32 x 32):")
    print(f"  ours     {med * 1000:7.1f} ms  ({flops / med / 1e9:.1f} GFLOP/s, {flops / 1e9:.2f} GFLOP)  "
          f"target < 100 ms; paper: < 10 ms on a Titan X")  # fmt: skip
    print(f"  baseline {med_b * 1000:7.1f} ms  -> ratio {med_b / med:.2f}x")


def bench_mapcnn(repeats: int) -> None:
    torch.manual_seed(0)
    net = MapCNN()
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 2, (32,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    step()
    print(
        f"MapCNN training step, batch 32 x 3 x 32 x 32: {statistics.median(timed(step, repeats)) * 1000:.0f} ms"
    )


def _cohort(crop: int):
    from dcemets.models import slice_dataset
    from dcemets.simulate import simulate_cohort

    cases = simulate_cohort(rng=0, progress=False)
    dce = slice_dataset(cases, crop=crop, progress=False)
    maps = slice_dataset(cases, crop=crop, inputs="maps", progress=False)
    y = np.where(dce.y == "lung", "lung", "other")
    return dce, maps, y


def bench_cv() -> None:
    from dcemets.evaluation import cross_validate

    budget = TRAINING_PRESETS["cpu"]
    t0 = time.perf_counter()
    dce, maps, y = _cohort(budget.crop)
    print(f"simulated 61-case cohort: {len(y)} slices in {time.perf_counter() - t0:.0f} s")
    paper = {"MapCNNClassifier": 0.71, "CLSTMClassifier": 0.81}
    total = 0.0
    for cls, ds in ((MapCNNClassifier, maps), (CLSTMClassifier, dce)):
        est = cls.from_preset(budget, random_state=0)
        t0 = time.perf_counter()
        res = cross_validate(
            est, ds.X, y, groups=ds.groups, cv=10, rng=0, aggregate_groups=True, positive="lung"
        )
        dt = time.perf_counter() - t0
        total += dt
        s = res.summary
        print(
            f"{cls.__name__} 10-fold patient-level CV, 'cpu' preset: {dt / 60:.1f} min; accuracy "
            f"{s.loc['accuracy', 'mean']:.2f} +/- {s.loc['accuracy', 'sd']:.2f} "
            f"(range {s.loc['accuracy', 'min']:.2f}-{s.loc['accuracy', 'max']:.2f}), sensitivity "
            f"{s.loc['sensitivity', 'mean']:.2f}, specificity {s.loc['specificity', 'mean']:.2f}; "
            f"paper: {paper[cls.__name__]:.2f}"
        )
    print(f"both networks: {total / 60:.1f} min (budget < 20 min)")


def bench_clstm_variants(n_folds: int = 4) -> None:
    """The CLSTM's `cpu` budget against one dropout and against 24 epochs, on the first folds.

    Folds of ``StratifiedGroupKFold(10, shuffle=True, random_state=0)`` over patients, the
    simulator's masks; prints the training curve's end and the held-out slice and patient
    figures pooled over `n_folds` folds (about 5 + 5 + 10 min for 4 folds).
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    budget = TRAINING_PRESETS["cpu"]
    dce, _, y = _cohort(budget.crop)
    folds = list(StratifiedGroupKFold(10, shuffle=True, random_state=0).split(dce.X, y, dce.groups))
    variants = {"cpu preset": {}, "dropout_to=2": {"dropout_to": 2}, "epochs=24": {"epochs": 24}}
    for name, kw in variants.items():
        t0 = time.perf_counter()
        p_slice, y_slice, p_pat, y_pat, last = [], [], [], [], []
        for train, test in folds[:n_folds]:
            est = CLSTMClassifier.from_preset(budget, random_state=0, **kw).fit(dce.X[train], y[train])
            last.append(est.history_[-1]["train_accuracy"])
            prob = est.predict_proba(dce.X[test])[:, list(est.classes_).index("lung")]
            p_slice += list(prob)
            y_slice += list(y[test] == "lung")
            for g in np.unique(dce.groups[test]):
                m = dce.groups[test] == g
                p_pat.append(prob[m].mean())
                y_pat.append(y[test][m][0] == "lung")
        pp, yp = np.array(p_pat), np.array(y_pat)
        print(
            f"CLSTM {name:<13} {n_folds} folds ({len(yp)} patients): training accuracy at the last epoch "
            f"{min(last):.2f}-{max(last):.2f}; held-out slice AUC {roc_auc_score(y_slice, p_slice):.3f}, "
            f"patient AUC {roc_auc_score(yp, pp):.3f}, patient accuracy {np.mean((pp > 0.5) == yp):.3f} "
            f"({(time.perf_counter() - t0) / 60:.1f} min)"
        )


def bench_paper_epoch(n_train: int = 423) -> None:
    """Time training steps of the ``paper`` preset and extrapolate to one fold.

    `n_train` is the size of a 9/10 training fold of the simulated 61-case cohort (470 tumour
    slices with the default simulator settings).
    """
    budget = TRAINING_PRESETS["paper"]
    rng = np.random.default_rng(0)
    n = 8  # 8 slices x 20 views = 160 samples = 5 steps of 32, augmentation included
    X = rng.normal(size=(n, 12, 1, budget.crop, budget.crop)).astype(np.float32)
    y = np.array(["lung", "other"] * (n // 2))
    est = CLSTMClassifier.from_preset(budget, epochs=1, random_state=0)
    t0 = time.perf_counter()
    est.fit(X, y)
    per_step = (time.perf_counter() - t0) / math.ceil(n * budget.augment / budget.batch_size)
    steps = math.ceil(n_train * budget.augment / budget.batch_size) * budget.epochs
    print(
        f"'paper' preset (augment x{budget.augment}, {budget.crop} x {budget.crop}, {budget.epochs} epochs): "
        f"{per_step:.2f} s per step x {steps} steps ({n_train} training slices) = "
        f"{per_step * steps / 3600:.1f} h per fold on this CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=32, help="crop size of the training-step benchmark")
    parser.add_argument("--cv", action="store_true")
    parser.add_argument("--paper-epoch", action="store_true")
    parser.add_argument(
        "--clstm-variants", action="store_true", help="CLSTM cpu budget vs one dropout vs 24 epochs, 4 folds"
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="also time the step with the gate arithmetic made ~free"
    )
    parser.add_argument("--no-steps", action="store_true", help="skip the step/inference timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"
    )
    if not args.no_steps:
        bench_training_step(args.repeats, args.size)
        bench_inference(args.repeats)
        bench_mapcnn(args.repeats)
    if args.ceiling:
        bench_ceiling(args.repeats, args.size)
    if args.cv:
        bench_cv()
    if args.paper_epoch:
        bench_paper_epoch()
    if args.clstm_variants:
        bench_clstm_variants()


if __name__ == "__main__":
    main()
