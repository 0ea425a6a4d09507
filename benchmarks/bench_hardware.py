"""Hardware efficiency: training FLOP/s of a large MLP autoencoder vs matmul FLOP/s.

The model is Hinton and Salakhutdinov's 784-1000-500-250-30 encoder with the
mirrored decoder, trained by ``AutoencoderTransformer`` for one epoch (batch
256, Adam) on random float32 data.  Its useful work is counted analytically
from the linear layers only (biases, activations, the loss and Adam are
O(parameters) per step, well under 1% here, and not counted):

* forward: ``2 W`` FLOPs per sample, ``W`` the number of linear weights
  (2 823 000 here: 784*1000 + 1000*500 + 500*250 + 250*30, twice);
* backward: ``2 W`` for the weight gradients plus ``2 W`` for the input
  gradients, less ``2 * 784 * 1000`` since nothing needs the gradient of the
  data: ``training = n * (6 W - 2 * 784 * 1000)``;
* ``fit`` then encodes the training data once more for the code statistics
  that ``sample`` uses: ``2 W_encoder`` per sample, counted in the ``fit``
  figure only.

The goal applies to both the training epoch (skorch's epoch time) and the
whole ``fit`` call.  Two diagnostics say where a shortfall goes: the FLOP/s of
one step's matrix products alone at their batch-256 shapes (the ceiling
without any other work), and torch.profiler's busiest operators over a short
fit.

The reference is the machine's float32 matmul rate measured in the same run:
``torch.mm`` of two 2048 x 2048 matrices (``2 * 2048**3`` FLOPs), median of
repeats, with the same torch threads.  The hand-written loop of
``bench_fit_speed`` on the same network is timed too, to tell skae's share of a
shortfall from torch's.

Run ``python -m benchmarks.bench_hardware [--quick]``.
"""

import argparse
import warnings
from itertools import pairwise

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from benchmarks._common import (
    alternating_medians,
    markdown_table,
    median,
    timed,
    write_results,
)
from benchmarks.bench_fit_speed import hand_written_loop, reconstruction_loss
from skae import AutoencoderTransformer
from skae.modules.autoencoder import Autoencoder

GOAL = 0.75  # training FLOP/s at least 75% of the matmul FLOP/s
N_FEATURES, HIDDEN, N_COMPONENTS, BATCH = 784, (1000, 500, 250), 30, 256
MATMUL_SIZE = 2048


def linear_weights(sizes) -> int:
    return sum(n_in * n_out for n_in, n_out in pairwise(sizes))


ENCODER = (N_FEATURES, *HIDDEN, N_COMPONENTS)
W_ENCODER = linear_weights(ENCODER)
W = W_ENCODER + linear_weights(ENCODER[::-1])


def training_flops(n_samples: int) -> int:
    """FLOPs of one epoch: forward, weight and input gradients of the linear layers."""
    return n_samples * (6 * W - 2 * ENCODER[0] * ENCODER[1])


def fit_flops(n_samples: int) -> int:
    """Training plus the encoding pass of ``fit`` (code statistics)."""
    return training_flops(n_samples) + n_samples * 2 * W_ENCODER


def matmul_flops_per_s(repeats: int) -> tuple[float, list[float]]:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    torch.mm(a, b)  # warm-up
    times = [timed(lambda: torch.mm(a, b)) for _ in range(repeats)]
    return 2 * MATMUL_SIZE**3 / median(times), times


def step_gemms_flops_per_s(repeats: int) -> float:
    """FLOP/s of one training step's matrix products alone, at their own shapes.

    Forward ``addmm`` of every linear layer, then the weight-gradient and (but
    for the first layer) input-gradient products of the backward pass, on
    random operands: the ceiling that batch-256 shapes allow, without any
    element-wise work, optimizer or Python around them.
    """
    generator = torch.Generator().manual_seed(0)
    sizes = [*pairwise(ENCODER), *pairwise(ENCODER[::-1])]
    layers = [
        (
            torch.randn(BATCH, n_in, generator=generator),
            torch.randn(n_out, n_in, generator=generator),
            torch.randn(n_out, generator=generator),
            torch.randn(BATCH, n_out, generator=generator),
        )
        for n_in, n_out in sizes
    ]

    def step():
        for i, (x, weight, bias, grad_out) in enumerate(layers):
            torch.addmm(bias, x, weight.t())
            torch.mm(grad_out.t(), x)
            if i:
                torch.mm(grad_out, weight)

    step()  # warm-up
    seconds = median([timed(step) for _ in range(repeats)])
    return training_flops(BATCH) / seconds


def profile_training(X: np.ndarray, top: int = 8) -> list[dict]:
    """torch.profiler's busiest operators over a short skae fit (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    estimator = AutoencoderTransformer(
        N_COMPONENTS,
        hidden_layer_sizes=HIDDEN,
        batch_size=BATCH,
        max_iter=1,
        warmup_noise=0.0,  # one epoch, not a warm-up epoch and a clean one
    )
    estimator.fit(X)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        estimator.fit(X)
    events = sorted(
        prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True
    )
    total = sum(e.self_cpu_time_total for e in events)
    return [
        {
            "operator": e.key,
            "calls": e.count,
            "self_ms": e.self_cpu_time_total / 1e3,
            "share": e.self_cpu_time_total / total,
        }
        for e in events[:top]
    ]


def random_data(n_samples: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n_samples, N_FEATURES), dtype=np.float32)


def large_autoencoder() -> AutoencoderTransformer:
    return AutoencoderTransformer(
        N_COMPONENTS,
        hidden_layer_sizes=HIDDEN,
        batch_size=BATCH,
        max_iter=1,
        warmup_noise=0.0,  # one epoch, not a warm-up epoch and a clean one
        random_state=0,
    )


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    n_samples = 10_000 if args.quick else 100_000
    repeats = 2 if args.quick else 3
    X = random_data(n_samples)

    estimator = large_autoencoder()
    epoch_s = []

    def run_skae():
        estimator.fit(X)
        epoch_s.append(estimator.net_.history[-1, "dur"])

    estimator.fit(X)  # warm-up, and the settings the loop copies
    net = estimator.net_
    X_model = torch.from_numpy(estimator.preprocessor_.transform(X, X.dtype))
    adam = dict(net.optimizer_.defaults)

    def run_torch():
        torch.manual_seed(net.iterator_train__seed)
        module = Autoencoder(N_FEATURES, N_COMPONENTS, HIDDEN, "relu")
        hand_written_loop(
            module,
            X_model,
            loss_fn=reconstruction_loss,
            adam=adam,
            batch_size=BATCH,
            epochs=1,
            seed=net.iterator_train__seed,
        )

    # Matmul rate before and after the training runs: drifts show up as a spread.
    peak_before, matmul_times = matmul_flops_per_s(7 if args.quick else 15)
    times = alternating_medians({"skae": run_skae, "torch": run_torch}, repeats)
    peak_after, more_times = matmul_flops_per_s(7 if args.quick else 15)
    matmul_times += more_times
    peak = 2 * MATMUL_SIZE**3 / median(matmul_times)
    gemms = step_gemms_flops_per_s(10 if args.quick else 30)
    profile = profile_training(X[: 20 * BATCH])

    train, fit = training_flops(n_samples), fit_flops(n_samples)
    figures = [
        ("skae training epoch (skorch epoch time)", train, median(epoch_s), True),
        (
            "skae whole fit call (epoch + scaling + code statistics)",
            fit,
            median(times["skae"]),
            True,
        ),
        ("hand-written torch loop, same net", train, median(times["torch"]), False),
    ]
    rows = []
    for name, flops, seconds, headline in figures:
        efficiency = flops / seconds / peak
        row = {
            "figure": name,
            "n_samples": n_samples,
            "gflop": flops / 1e9,
            "seconds": seconds,
            "gflop_per_s": flops / seconds / 1e9,
            "matmul_gflop_per_s": peak / 1e9,
            "efficiency": efficiency,
        }
        if headline:
            row.update(goal=f">= {GOAL:.0%}", met=efficiency >= GOAL)
        rows.append(row)
    rows.append(
        {
            "figure": "one step's matrix products alone (ceiling)",
            "gflop_per_s": gemms / 1e9,
            "matmul_gflop_per_s": peak / 1e9,
            "efficiency": gemms / peak,
        }
    )
    columns = [
        "figure",
        "n_samples",
        "gflop",
        "seconds",
        "gflop_per_s",
        "matmul_gflop_per_s",
        "efficiency",
        "goal",
        "met",
    ]
    profile_table = (
        f"torch.profiler, one skae fit on {20 * BATCH} rows, busiest operators "
        "(self CPU time):\n\n"
        + markdown_table(profile, ["operator", "calls", "self_ms", "share"])
    )
    table = write_results(
        "hardware",
        rows,
        columns,
        quick=args.quick,
        repeats=repeats,
        goal_column="efficiency",
        network=f"{ENCODER} + mirrored decoder, batch {BATCH}, relu, Adam",
        linear_weights=W,
        flops_formula=(
            "training = n * (6 W - 2 * 784 * 1000); fit = training + n * 2 W_encoder"
        ),
        matmul=f"torch.mm {MATMUL_SIZE}x{MATMUL_SIZE} float32, median",
        matmul_gflop_per_s_before=peak_before / 1e9,
        matmul_gflop_per_s_after=peak_after / 1e9,
        times_skae=times["skae"],
        times_torch=times["torch"],
        profile=profile,
        markdown_after=profile_table,
    )
    print(table, profile_table, sep="\n\n")
    return rows


if __name__ == "__main__":
    main()
