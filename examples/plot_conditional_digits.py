"""
Class-conditional digits: samples given a label, and Bayes' rule as a classifier.
=================================================================================

The 8x8 digits, pixels / 16 with a uniform dequantisation of width 1/16,
are split 75/25 (stratified).  :class:`skae.ConditionalRealNVPDensity`
and :class:`skae.ConditionalVAE` learn ``p(x | y)`` with the label as
their context, and :class:`skae.GenerativeClassifier` turns either into a
classifier (the flow is its default density),
``p(y | x) = softmax_y(log p(x | y) + log p(y))``.  The figures, saved to
``examples/figures/``, show

* ``conditional_digits_samples.png``: one row of samples per label
  (``sample(y=label)``) from the conditional flow and from
  :class:`skae.ConditionalVAE` (``noise=True``: draws of ``p(x | y)``),
  next to samples of the unconditional
  :class:`skae.RealNVPDensity` (no label to ask for);
* ``conditional_digits_calibration.png``: the reliability diagram of the
  held-out top-class probabilities of the generative classifier (over the
  conditional flow, its default, and over the conditional VAE) next to
  ``GaussianNB``, ``QuadraticDiscriminantAnalysis`` and one
  ``GaussianMixture`` per class (``GenerativeClassifier(GaussianMixture())``),
  with each one's accuracy and log loss.

Run ``python examples/plot_conditional_digits.py``; ``--quick`` (or
``SKAE_QUICK=1``) trains the networks for a few epochs, uses fixed-size
mixtures and caps the VAE's per-class factor counts (``noise_rank=8``).
"""

import argparse
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_digits
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from skae import (
    ConditionalRealNVPDensity,
    ConditionalVAE,
    GenerativeClassifier,
    RealNVPDensity,
)

FIGURES = Path(__file__).resolve().parent / "figures"
SIDE = 8


def mosaic(images: np.ndarray, n_rows: int, n_cols: int, gap: int = 1) -> np.ndarray:
    """Tile ``n_rows * n_cols`` flattened images, row by row."""
    step = SIDE + gap
    canvas = np.ones((n_rows * step - gap, n_cols * step - gap))
    for index, image in enumerate(images[: n_rows * n_cols]):
        row, col = divmod(index, n_cols)
        canvas[row * step : row * step + SIDE, col * step : col * step + SIDE] = (
            image.reshape(SIDE, SIDE)
        )
    return canvas


def plot_samples(models: dict, n_per_class: int = 8) -> Path:
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4.6))
    labels = np.repeat(np.arange(10), n_per_class)
    for ax, (title, model) in zip(axes, models.items(), strict=True):
        if title.startswith("ConditionalVAE"):
            # x ~ p(x | y): the class's covariance lives in the decoder's
            # noise (A_y e), which the decoder means leave out
            images = model.sample(y=labels, random_state=0, noise=True)
        elif title.startswith("Conditional"):
            images = model.sample(y=labels, random_state=0)
        else:
            images = model.sample(len(labels), random_state=0)
        ax.imshow(
            np.clip(mosaic(images, 10, n_per_class), 0, 1),
            cmap="gray_r",
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks(np.arange(10) * (SIDE + 1) + SIDE / 2)
        ax.set_yticklabels(
            [str(k) for k in range(10)] if title.startswith("Conditional") else []
        )
    fig.suptitle("One row per label (conditional models) / prior draws (unconditional)")
    fig.tight_layout()
    return save(fig, "conditional_digits_samples.png")


def plot_calibration(classifiers: dict, X_test, y_test) -> Path:
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, clf in classifiers.items():
        proba = clf.predict_proba(X_test)
        top = proba.max(axis=1)
        correct = clf.classes_[proba.argmax(axis=1)] == y_test
        truth, predicted = calibration_curve(
            correct, top, n_bins=8, strategy="quantile"
        )
        accuracy = correct.mean()
        loss = log_loss(y_test, proba, labels=clf.classes_)
        ax.plot(
            predicted,
            truth,
            marker="o",
            label=f"{name}: acc {accuracy:.3f}, log loss {loss:.3f}",
        )
    ax.set_xlabel("predicted probability of the top class")
    ax.set_ylabel("share of the top class correct")
    ax.set_title("Calibration on held-out digits")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return save(fig, "conditional_digits_calibration.png")


def save(fig, name: str) -> Path:
    path = FIGURES / name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}")
    return path


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", message="Variables are collinear")

    X, y = load_digits(return_X_y=True)
    X = (X + np.random.RandomState(0).uniform(size=X.shape)) / 16
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    neural = {"max_iter": 5, "n_base_components": 2} if quick else {}
    flow = ConditionalRealNVPDensity(random_state=0, **neural)
    flow_classifier = GenerativeClassifier(flow).fit(X_train, y_train)
    flow = flow_classifier.estimator_
    small = {"max_iter": 5, "noise_rank": 8} if quick else {}
    classifier = GenerativeClassifier(ConditionalVAE(random_state=0, **small))
    vae = classifier.fit(X_train, y_train).estimator_
    unconditional = RealNVPDensity(random_state=0, **neural).fit(X_train)
    print(
        f"held-out log p(x | y): flow {flow.score(X_test, y_test):.2f}, "
        f"VAE {vae.score(X_test, y_test):.2f}; log p(x): unconditional flow "
        f"{unconditional.score(X_test):.2f}, conditional flow's marginal "
        f"{flow.score(X_test):.2f} nats per image"
    )
    mixture = {"n_components": 2} if quick else {"n_components": 4}
    classifiers = {
        "GenerativeClassifier() (ConditionalRealNVPDensity)": flow_classifier,
        "GenerativeClassifier(ConditionalVAE())": classifier,
        "GaussianMixture per class": GenerativeClassifier(
            GaussianMixture(covariance_type="diag", random_state=0, **mixture)
        ).fit(X_train, y_train),
        "GaussianNB": GaussianNB().fit(X_train, y_train),
        "QDA (reg_param=0.01)": QuadraticDiscriminantAnalysis(reg_param=0.01).fit(
            X_train, y_train
        ),
    }
    FIGURES.mkdir(parents=True, exist_ok=True)
    return [
        plot_samples(
            {
                "ConditionalRealNVPDensity": flow,
                "ConditionalVAE": vae,
                "RealNVPDensity (unconditional)": unconditional,
            }
        ),
        plot_calibration(classifiers, X_test, y_test),
    ]


if __name__ == "__main__":
    main()
