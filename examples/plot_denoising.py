"""
Denoising digits: PCA against a denoising autoencoder
=====================================================

The 8x8 digits are scaled to [0, 1] and Gaussian noise of standard deviation
0.25 is added to every image, as in scikit-learn's example "Image denoising
using kernel PCA".  PCA and :class:`skae.DenoisingAE` are fitted on the noisy
training images only; each row of the figure shows ten test digits: clean,
noisy, reconstructed by PCA, and denoised by the autoencoder.  The figure is
saved to ``examples/figures/denoising.png``.

Run ``python examples/plot_denoising.py``; ``--quick`` (or ``SKAE_QUICK=1``)
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
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from skae import DenoisingAE

FIGURE = Path(__file__).resolve().parent / "figures" / "denoising.png"


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    X_train, X_test, _, y_test = train_test_split(
        X, y, stratify=y, random_state=0, train_size=1000
    )
    rng = np.random.RandomState(0)
    X_test_noisy = X_test + rng.normal(scale=0.25, size=X_test.shape)
    X_train_noisy = X_train + rng.normal(scale=0.25, size=X_train.shape)

    pca = PCA(n_components=16, random_state=0).fit(X_train_noisy)
    epochs = 15 if quick else 300
    dae = DenoisingAE(
        n_components=32,
        noise="gaussian",
        noise_level=1.0,
        hidden_layer_sizes=(256,),
        alpha=1e-3,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        random_state=0,
    ).fit(X_train_noisy)

    rows = {
        "clean": X_test,
        "noisy": X_test_noisy,
        "PCA (16 components)": pca.inverse_transform(pca.transform(X_test_noisy)),
        "DenoisingAE": dae.denoise(X_test_noisy),
    }
    shown = [np.flatnonzero(y_test == digit)[0] for digit in range(10)]
    fig, axes = plt.subplots(
        len(rows),
        len(shown),
        figsize=(11, 4.8),
        gridspec_kw=dict(left=0.2, right=0.99, top=0.9, bottom=0.01),
    )
    for axes_row, (name, images) in zip(axes, rows.items(), strict=True):
        label = name
        if name != "clean":
            label += f"\nMSE {np.mean((images - X_test) ** 2):.4f}"
        axes_row[0].set_ylabel(label, rotation=0, ha="right", va="center")
        for ax, i in zip(axes_row, shown, strict=True):
            ax.imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        "Denoising 8x8 test digits (Gaussian noise, sigma = 0.25); "
        "MSE against the clean test set"
    )
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=100)
    plt.close(fig)
    print(f"saved {FIGURE}")
    return FIGURE


if __name__ == "__main__":
    main()
