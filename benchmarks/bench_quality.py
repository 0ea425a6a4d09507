"""Quality: held-out reconstruction error of skae's autoencoders against PCA.

Two data sets, each split 75/25 into train and test with three seeds:

* digits (1797 x 64, raw pixel values 0..16);
* breast_cancer (569 x 30), standardised with a ``StandardScaler`` fitted on
  the training part.

For every code size ``k`` in {2, 8, 16, 32}, PCA and the autoencoders are fitted
on the training part and reconstruct the test part; the figure is the test mean
squared error (per entry, in the data's units) and its ratio to PCA's, the
median over the seeds.  A ratio below 1 means the autoencoder generalises
better than the best linear projection of the same size.  The autoencoders use
their defaults ((256, 128) ReLU network, Adam) with early stopping on a
validation part of the *training* data, so the test part is never seen.
``VAE`` reconstructs through its posterior mean and decoder mean.

With ``k`` >= ``n_features`` (breast_cancer, k=32) PCA keeps every direction
and reconstructs exactly; the ratio is then not meaningful and is left out.

Run ``python -m benchmarks.bench_quality [--quick]``.
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from benchmarks._common import median, write_results
from skae import VAE, AutoencoderTransformer


def splits(name: str, seed: int):
    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer}[name]
    X = loader().data
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=seed)
    if name == "breast_cancer":
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return X_train, X_test


def test_mse(model, X_train, X_test) -> float:
    model.fit(X_train)
    reconstruction = model.inverse_transform(model.transform(X_test))
    return float(np.mean((X_test - reconstruction) ** 2))


def models(k: int, seed: int, max_iter: int, quick: bool) -> dict:
    common = dict(
        early_stopping=True, max_iter=max_iter, n_iter_no_change=20, random_state=seed
    )
    out = {"AutoencoderTransformer": AutoencoderTransformer(k, **common)}
    if not quick:
        out["VAE"] = VAE(k, **common)
    return out


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    seeds = [0] if args.quick else [0, 1, 2]
    ks = [2, 8] if args.quick else [2, 8, 16, 32]
    max_iter = 30 if args.quick else 500
    rows = []
    for data in ["digits", "breast_cancer"]:
        for k in ks:
            mse: dict[str, list[float]] = {}
            for seed in seeds:
                X_train, X_test = splits(data, seed)
                n_features = X_train.shape[1]
                pca = PCA(min(k, n_features), random_state=seed)
                mse.setdefault("PCA", []).append(test_mse(pca, X_train, X_test))
                for name, model in models(k, seed, max_iter, args.quick).items():
                    mse.setdefault(name, []).append(test_mse(model, X_train, X_test))
            exact = k >= n_features
            for name, values in mse.items():
                if name == "PCA":
                    continue
                ratios = [m / p for m, p in zip(values, mse["PCA"], strict=True)]
                rows.append(
                    {
                        "data": data,
                        "k": k,
                        "model": name,
                        "pca_mse": median(mse["PCA"]),
                        "mse": median(values),
                        "ratio_to_pca": None if exact else median(ratios),
                        "beats_pca": None if exact else median(ratios) < 1,
                        "note": "PCA exact (k >= n_features)" if exact else "",
                    }
                )
    columns = [
        "data",
        "k",
        "model",
        "pca_mse",
        "mse",
        "ratio_to_pca",
        "beats_pca",
        "note",
    ]
    table = write_results(
        "quality",
        rows,
        columns,
        quick=args.quick,
        seeds=seeds,
        max_iter=max_iter,
        figure="median over seeds of test MSE / PCA test MSE (lower is better)",
    )
    print(table)
    return rows


if __name__ == "__main__":
    main()
