"""Fit speed of skae against a hand-written PyTorch loop, measured side by side.

Both train the identical module (same initial weights), with Adam, the same
learning rate, batch size, epochs and torch threads, on the same float32 data.
The hand-written loop is what a user would write: one permutation per epoch,
index the batches out of one tensor, forward, loss, backward, step, and read
the loss once per batch for logging (skorch records it too).

Run ``python -m benchmarks.bench_fit_speed [--quick]``.
"""

import argparse
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from benchmarks._common import alternating_medians, median, write_results
from skae import AutoencoderTransformer
from skae.modules.autoencoder import Autoencoder


def hand_written_loop(module, X: torch.Tensor, *, lr, batch_size, epochs, seed):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(epochs):
        total = 0.0
        order = torch.randperm(X.shape[0], generator=generator)
        for start in range(0, X.shape[0], batch_size):
            batch = X.index_select(0, order[start : start + batch_size])
            reconstruction, _ = module(batch)
            loss = (reconstruction - batch).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
    return module


def case(name: str, X: np.ndarray, estimator: AutoencoderTransformer, repeats: int):
    params = estimator.get_params()
    # A one-epoch fit gives the scaled data and the resolved batch size.
    template = AutoencoderTransformer(**{**params, "max_iter": 1}).fit(X)
    X_model = torch.from_numpy(template._to_model(X))
    batch_size = template.net_.batch_size

    def run_skae():
        estimator.fit(X)

    def run_torch():
        torch.manual_seed(0)
        hand_written_loop(
            Autoencoder(
                X.shape[1],
                params["n_components"],
                params["hidden_layer_sizes"],
                params["activation"],
            ),
            X_model,
            lr=params["learning_rate_init"],
            batch_size=batch_size,
            epochs=params["max_iter"],
            seed=0,
        )

    run_skae(), run_torch()  # warm-up
    times = alternating_medians({"skae": run_skae, "torch": run_torch}, repeats)
    skae_s, torch_s = median(times["skae"]), median(times["torch"])
    return {
        "case": name,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "epochs": params["max_iter"],
        "batch_size": batch_size,
        "skae_s": skae_s,
        "torch_s": torch_s,
        "ratio": skae_s / torch_s,
        "goal": "<= 1.05",
        "met": skae_s / torch_s <= 1.05,
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    epochs = 10 if args.quick else 50
    warnings.simplefilter("ignore", ConvergenceWarning)
    X = load_digits().data
    # alpha=0 and no stopping rule: both sides do exactly `epochs` plain Adam epochs.
    common = dict(
        alpha=0.0, max_iter=epochs, n_iter_no_change=epochs + 1, random_state=0
    )
    cases = [
        ("digits, default net (256,128)->8", AutoencoderTransformer(8, **common)),
        (
            "digits, small net (32,)->8, batch 64",
            AutoencoderTransformer(
                8, hidden_layer_sizes=(32,), batch_size=64, **common
            ),
        ),
    ]
    rows = [case(name, X, est, repeats) for name, est in cases]
    columns = [
        "case",
        "n_samples",
        "epochs",
        "batch_size",
        "skae_s",
        "torch_s",
        "ratio",
        "goal",
        "met",
    ]
    table = write_results("fit_speed", rows, columns, repeats=repeats, quick=args.quick)
    print(table)
    return rows


if __name__ == "__main__":
    main()
