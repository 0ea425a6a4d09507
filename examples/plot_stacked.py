"""
A stacked autoencoder trained by greedy layer-wise pre-training.
================================================================

The 8x8 digits (pixels / 16) are encoded by the 64-128-64-10 network of
:class:`skae.AutoencoderTransformer` with ``pretrain='greedy'``: the layer
pairs 64-128, 128-64 and 64-10 are trained one after the other as shallow
autoencoders, each on the codes of the pairs below it and with its own early
stopping, then the stack is unrolled and fine-tuned (Hinton and
Salakhutdinov, 2006).  The left panel shows each stage's training and
validation loss (each stage in its own input's units), the right panel ten
held-out digits with their reconstructions after pre-training and
fine-tuning, by the same network trained directly from a random start for
as many epochs, and by PCA.  The figure is saved to
``examples/figures/stacked.png``.

Run ``python examples/plot_stacked.py``; ``--quick`` (or ``SKAE_QUICK=1``)
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

from skae import AutoencoderTransformer

FIGURE = Path(__file__).resolve().parent / "figures" / "stacked.png"


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, _, y_test = train_test_split(
        X / 16.0, y, test_size=450, stratify=y, random_state=0
    )
    network = {"hidden_layer_sizes": (128, 64), "random_state": 0}
    greedy = AutoencoderTransformer(
        10, pretrain="greedy", max_iter=3 if quick else 50, **network
    ).fit(X_train)
    epochs = sum(map(len, greedy.pretrain_losses_)) + greedy.n_iter_
    direct = AutoencoderTransformer(10, init="random", max_iter=epochs, **network).fit(
        X_train
    )
    pca = PCA(10).fit(X_train)

    fig = plt.figure(figsize=(13, 4.8))
    grid = fig.add_gridspec(4, 12, width_ratios=[4, 0.6] + [1] * 10, wspace=0.1)
    ax = fig.add_subplot(grid[:, 0])
    start = 0
    stages = [
        *zip(greedy.pretrain_losses_, greedy.pretrain_validation_losses_, strict=True),
        (greedy.loss_curve_, greedy.validation_loss_curve_),
    ]
    for i, (train_curve, valid_curve) in enumerate(stages):
        epochs_of = np.arange(start + 1, start + len(train_curve) + 1)
        label = f"pair {i + 1}" if i < len(stages) - 1 else "fine-tuning"
        ax.plot(epochs_of, train_curve, color=f"C{i}", label=label)
        ax.plot(epochs_of, valid_curve[: len(train_curve)], color=f"C{i}", ls="--")
        start += len(train_curve)
    ax.set_yscale("log")
    ax.set_xlabel("epoch (stages one after the other)")
    ax.set_ylabel("loss (solid: training, dashed: validation)")
    ax.legend(fontsize=8)

    shown = [np.flatnonzero(y_test == digit)[0] for digit in range(10)]
    rows = {
        "test digit": X_test,
        "greedy + fine-tuning": greedy.inverse_transform(greedy.transform(X_test)),
        "direct (same epochs)": direct.inverse_transform(direct.transform(X_test)),
        "PCA(10)": pca.inverse_transform(pca.transform(X_test)),
    }
    for r, (name, images) in enumerate(rows.items()):
        error = np.mean(np.sum((images - X_test) ** 2, axis=1))
        for c, i in enumerate(shown):
            image_ax = fig.add_subplot(grid[r, 2 + c])
            image_ax.imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            image_ax.set_xticks([])
            image_ax.set_yticks([])
            if c == 0:
                label = name if r == 0 else f"{name}\nerror {error:.2f}"
                image_ax.set_ylabel(
                    label, rotation=0, ha="right", va="center", fontsize=8
                )
    fig.suptitle(
        "Stacked autoencoder 64-128-64-10 on digits: greedy layer-wise pre-training"
    )
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {FIGURE}")
    return FIGURE


if __name__ == "__main__":
    main()
