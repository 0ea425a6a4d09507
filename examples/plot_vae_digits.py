"""
A variational autoencoder with a 2-D latent space on scikit-learn's digits
==========================================================================

The 8x8 digits are scaled to [0, 1] and modelled with Bernoulli pixels
(``likelihood='bernoulli'``, grey levels as in Kingma and Welling's MNIST
experiments).  :class:`skae.VAE` is fitted on three quarters of the images;
the figures, saved to ``examples/figures/``, show

* ``vae_latent_map.png``: the posterior means ``mu(x)`` of the held-out digits,
  coloured by class, as in Hinton and Salakhutdinov's Figure 3 (there with a
  deterministic autoencoder and PCA);
* ``vae_latent_grid.png``: the decoder means on a grid of the latent plane,
  spaced by quantiles of the N(0, 1) prior (Kingma and Welling's Figure 4);
* ``vae_samples.png``: decoder means of codes drawn from the prior
  (``sample``) and, below, pixels drawn from the Bernoulli decoder
  (``sample(noise=True)``);
* ``vae_interpolation.png``: decoded straight lines between the codes of two
  typical held-out digits (shown at both ends);
* ``vae_training_curves.png``: the negative ELBO per epoch with its
  reconstruction and KL parts (``loss_curve_``, ``reconstruction_curve_``,
  ``kl_curve_``).

Run ``python examples/plot_vae_digits.py``; ``--quick`` (or ``SKAE_QUICK=1``)
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
from scipy.stats import norm
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skae import VAE

FIGURES = Path(__file__).resolve().parent / "figures"
SIDE = 8  # digits are 8x8 images


def mosaic(images: np.ndarray, n_rows: int, n_cols: int, gap: int = 1) -> np.ndarray:
    """Tile ``n_rows * n_cols`` flattened images into one array, row by row."""
    step = SIDE + gap
    canvas = np.zeros((n_rows * step - gap, n_cols * step - gap))
    for index, image in enumerate(images[: n_rows * n_cols]):
        row, col = divmod(index, n_cols)
        canvas[row * step : row * step + SIDE, col * step : col * step + SIDE] = (
            image.reshape(SIDE, SIDE)
        )
    return canvas


def show(ax, canvas: np.ndarray, title: str) -> None:
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def save(fig, name: str) -> Path:
    path = FIGURES / name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}")
    return path


def plot_latent_map(vae: VAE, X_test: np.ndarray, y_test: np.ndarray) -> Path:
    codes = vae.transform(X_test)
    fig, ax = plt.subplots(figsize=(6.5, 6))
    cmap = plt.get_cmap("tab10")
    for digit in range(10):
        points = codes[y_test == digit]
        ax.scatter(*points.T, s=12, color=cmap(digit), label=str(digit))
        ax.annotate(
            str(digit),
            np.median(points, axis=0),
            fontsize=15,
            fontweight="bold",
            ha="center",
            va="center",
            bbox=dict(boxstyle="circle", fc="white", ec=cmap(digit), alpha=0.8),
        )
    ax.set_xlabel("$\\mu_1(x)$")
    ax.set_ylabel("$\\mu_2(x)$")
    ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("Posterior means of the held-out digits")
    fig.tight_layout()
    return save(fig, "vae_latent_map.png")


def plot_latent_grid(vae: VAE, n: int = 15) -> Path:
    # Rows run from high to low z_2 so that the grid reads like the map above.
    values = norm.ppf(np.linspace(0.03, 0.97, n))
    z1, z2 = np.meshgrid(values, values[::-1])
    images = vae.inverse_transform(np.column_stack([z1.ravel(), z2.ravel()]))
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    show(ax, mosaic(images, n, n), "Decoder means on the latent plane")
    ax.set_xlabel(f"$z_1$ from {values[0]:.1f} to {values[-1]:.1f} (prior quantiles)")
    ax.set_ylabel(f"$z_2$ from {values[-1]:.1f} down to {values[0]:.1f}")
    fig.tight_layout()
    return save(fig, "vae_latent_grid.png")


def plot_samples(vae: VAE, n: int = 10) -> Path:
    means = vae.sample(n * n, random_state=0)
    draws = vae.sample(n * n, random_state=0, noise=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    show(axes[0], mosaic(means, n, n), "Decoder means of z ~ N(0, I)")
    show(axes[1], mosaic(draws, n, n), "Same z, pixels ~ Bernoulli (noise=True)")
    fig.tight_layout()
    return save(fig, "vae_samples.png")


def plot_interpolation(
    vae: VAE, X_test: np.ndarray, y_test: np.ndarray, n_steps: int = 10
) -> Path:
    pairs = [(0, 1), (3, 7), (4, 9), (2, 6)]
    codes = vae.transform(X_test)

    def typical(digit: int) -> int:
        """The held-out image of ``digit`` whose code is nearest its class median."""
        members = np.flatnonzero(y_test == digit)
        centre = np.median(codes[members], axis=0)
        return members[np.argmin(np.sum((codes[members] - centre) ** 2, axis=1))]

    blank = np.zeros(SIDE * SIDE)
    rows = []
    for a, b in pairs:
        i, j = typical(a), typical(b)
        t = np.linspace(0.0, 1.0, n_steps)[:, None]
        path = vae.inverse_transform((1 - t) * codes[i] + t * codes[j])
        rows.append(np.vstack([X_test[i], blank, path, blank, X_test[j]]))
    n_cols = n_steps + 4
    fig, ax = plt.subplots(figsize=(10, 4.2))
    show(
        ax,
        mosaic(np.concatenate(rows), len(pairs), n_cols),
        "Held-out digit | decoded straight line between their codes | held-out digit",
    )
    ax.set_yticks((np.arange(len(pairs)) + 0.45) * (SIDE + 1))
    ax.set_yticklabels([f"{a} to {b}" for a, b in pairs])
    fig.tight_layout()
    return save(fig, "vae_interpolation.png")


def plot_training_curves(vae: VAE) -> Path:
    epochs = np.arange(1, vae.n_iter_ + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(epochs, vae.loss_curve_, label="negative ELBO (loss_curve_)")
    ax.plot(epochs, vae.reconstruction_curve_, label="reconstruction_curve_")
    ax.plot(epochs, vae.kl_curve_, label="kl_curve_")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.set_title("Training loss and its two parts")
    ax.legend()
    fig.tight_layout()
    return save(fig, "vae_training_curves.png")


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, _, y_test = train_test_split(X, y, stratify=y, random_state=0)
    epochs = 20 if quick else 400
    vae = VAE(
        n_components=2,
        hidden_layer_sizes=(256, 128),
        likelihood="bernoulli",
        max_iter=epochs,
        n_iter_no_change=epochs,
        random_state=0,
    ).fit(X_train)
    print(
        f"{vae.n_iter_} epochs; held-out importance-weighted log-likelihood "
        f"(K={vae.n_importance_samples}): {vae.score(X_test):.2f} nats per image"
    )

    FIGURES.mkdir(parents=True, exist_ok=True)
    return [
        plot_latent_map(vae, X_test, y_test),
        plot_latent_grid(vae),
        plot_samples(vae),
        plot_interpolation(vae, X_test, y_test),
        plot_training_curves(vae),
    ]


if __name__ == "__main__":
    main()
