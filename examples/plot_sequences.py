"""
A sequence autoencoder: noisy sinusoids, their reconstructions and 2-D codes.
=============================================================================

Each row is a sequence of 32 steps, ``sin(2 pi f t + phi)`` plus noise, with
phase ``phi`` and frequency ``f`` drawn at random: the two true latent
factors.  An :class:`skae.AutoencoderTransformer` with
``sequence_shape=(32, 1)`` (a GRU encoder to a 2-D code, a GRU decoder that
regenerates the sequence; ``init='random'``, the plain sequence-to-sequence
autoencoder) is fitted on 2000 of them.  The figure shows six held-out
sequences with their reconstructions and PCA's, and the held-out codes
coloured by phase and by frequency; it is saved to
``examples/figures/sequences.png``.

Run ``python examples/plot_sequences.py``; ``--quick`` (or ``SKAE_QUICK=1``)
trains for a few epochs only.
"""

import argparse
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer

FIGURE = Path(__file__).resolve().parent / "figures" / "sequences.png"
STEPS = 32


def sinusoids(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy sinusoids and their phases and frequencies."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, n)
    frequency = rng.uniform(0.05, 0.15, n)
    t = np.arange(STEPS)
    X = np.sin(2 * np.pi * frequency[:, None] * t + phase[:, None])
    return X + 0.1 * rng.normal(size=X.shape), phase, frequency


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, _, _ = sinusoids(500 if quick else 2000, 0)
    X_test, phase, frequency = sinusoids(500, 1)
    model = AutoencoderTransformer(
        2,
        sequence_shape=(STEPS, 1),
        init="random",
        max_iter=5 if quick else 150,
        random_state=0,
    ).fit(X[:, :, None])  # (n, T, F) arrays are accepted as they are
    pca = PCA(2).fit(X)
    codes = model.transform(X_test)
    reconstruction = model.inverse_transform(codes)
    linear = pca.inverse_transform(pca.transform(X_test))

    fig = plt.figure(figsize=(12, 6.5))
    grid = fig.add_gridspec(2, 6, height_ratios=[1, 1.4], hspace=0.35, wspace=0.8)
    for j in range(6):
        ax = fig.add_subplot(grid[0, j])
        ax.plot(X_test[j], ".", color="0.5", markersize=3, label="sequence")
        ax.plot(reconstruction[j], color="C0", label="sequence AE")
        ax.plot(linear[j], color="C1", linestyle="--", label="PCA")
        ax.set_xticks([])
        ax.set_yticks([])
        if j == 0:
            ax.legend(fontsize=7, loc="lower left")
    for column, (values, name) in enumerate(
        [(phase, "phase"), (frequency, "frequency")]
    ):
        ax = fig.add_subplot(grid[1, 3 * column : 3 * column + 3])
        cmap = "twilight" if name == "phase" else "viridis"
        points = ax.scatter(codes[:, 0], codes[:, 1], c=values, cmap=cmap, s=6)
        fig.colorbar(points, ax=ax, label=name)
        ax.set_xlabel("code 1")
        ax.set_ylabel("code 2")
    error = np.mean((X_test - reconstruction) ** 2)
    pca_error = np.mean((X_test - linear) ** 2)
    fig.suptitle(
        "Sequence autoencoder (GRU, 2-D code) on held-out noisy sinusoids: "
        f"MSE {error:.3f}, PCA(2) {pca_error:.3f}"
    )
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=100)
    plt.close(fig)
    print(f"saved {FIGURE}")
    return FIGURE


if __name__ == "__main__":
    main()
