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
training step, default 32; the ``cpu`` preset trains on 16); ``--cv`` also runs the full 10-fold
patient-level cross-validation of both networks with the ``cpu`` preset on the simulated
61-case cohort (about 15 min); ``--paper-epoch`` times one epoch of the ``paper`` preset on
a 9/10 training fold and extrapolates the time per fold.
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


def bench_training_step(repeats: int, size: int = 32) -> None:
    torch.manual_seed(0)
    net = CLSTMNet(image_size=size)
    x, y = torch.randn(32, 12, 1, size, size), torch.randint(0, 2, (32,))
    net.eval()
    with torch.no_grad():
        diff = (net(x) - baseline_forward(net, x)).abs().max().item()
    print(f"same numbers: max |logit difference| ours vs baseline = {diff:.2e}")
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(forward):
        opt.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        opt.step()

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
            est, ds.X, y, groups=ds.groups, cv=10, random_state=0, aggregate_groups=True, positive="lung"
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
    if args.cv:
        bench_cv()
    if args.paper_epoch:
        bench_paper_epoch()


if __name__ == "__main__":
    main()
