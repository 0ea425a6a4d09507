"""
Real NVP on two moons: the learned density, its samples and its latent space
============================================================================

:class:`skae.RealNVPDensity` is fitted on 1000 points of scikit-learn's two
moons (noise 0.1), the toy data set of the Real NVP lecture notes.  The figure
has three panels:

* the exact log-density ``score_samples`` as filled contours, with the
  training points on top;
* as many samples ``f^{-1}(z)``, ``z ~ N(0, I)``, drawn with ``sample``;
* the training points mapped to the latent space by ``transform``, which
  should look like a standard normal cloud.

It is saved to ``examples/figures/realnvp_moons.png``.

Run ``python examples/plot_realnvp_moons.py``; ``--quick`` (or ``SKAE_QUICK=1``)
trains a small flow for a few epochs only.
"""

import argparse
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning

from skae import RealNVPDensity

FIGURE = Path(__file__).resolve().parent / "figures" / "realnvp_moons.png"


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, _ = make_moons(n_samples=1250, noise=0.1, random_state=0)
    X_train, X_test = X[:1000], X[1000:]
    flow = RealNVPDensity(
        n_layers=4 if quick else 8,
        hidden_layer_sizes=(16,) if quick else (32, 32),
        noise_level=0.05,
        batch_size=64,
        max_iter=20 if quick else 2000,
        n_iter_no_change=50,
        random_state=0,
    ).fit(X_train)
    samples = flow.sample(len(X_train), random_state=1)
    latent = flow.transform(X_train)

    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xx, yy = np.meshgrid(
        np.linspace(low[0], high[0], 300), np.linspace(low[1], high[1], 300)
    )
    log_density = flow.score_samples(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    top = np.ceil(log_density.max())
    levels = np.arange(top - 8, top + 0.25, 0.5)
    filled = axes[0].contourf(
        xx, yy, log_density, levels=levels, cmap="viridis", extend="min"
    )
    axes[0].scatter(*X_train.T, s=3, c="white", alpha=0.6)
    axes[0].set_title(f"log-density (training points in white)\n{flow.n_iter_} epochs")
    fig.colorbar(filled, ax=axes[0], label="log p(x) [nats]")
    axes[1].scatter(*samples.T, s=3, c="tab:orange", alpha=0.6)
    axes[1].set_title("samples f^-1(z), z ~ N(0, I)")
    for ax in axes[:2]:
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_aspect("equal")
    circle = np.linspace(0, 2 * np.pi, 200)
    axes[2].scatter(*latent.T, s=3, c="tab:blue", alpha=0.6)
    for radius in (1, 2, 3):
        axes[2].plot(radius * np.cos(circle), radius * np.sin(circle), "k--", lw=0.7)
    axes[2].set_title("training points in latent space, f(x)")
    axes[2].set_aspect("equal")
    axes[2].set_xlim(-4, 4)
    axes[2].set_ylim(-4, 4)
    fig.suptitle(
        "RealNVPDensity on two moons: mean log-likelihood "
        f"{flow.score(X_train):.3f} (train), {flow.score(X_test):.3f} (test) nats"
    )
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)
    print(f"saved {FIGURE}")
    return FIGURE


if __name__ == "__main__":
    main()
