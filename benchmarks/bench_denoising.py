"""Image denoising on digits: DenoisingAE against PCA, KernelPCA and a plain AE.

The protocol is scikit-learn's example "Image denoising using kernel PCA", on
the 8x8 digits instead of USPS: scale the pixels to [0, 1] with MinMaxScaler,
split into 1000 training and 797 test images (stratified, ``random_state=0``),
and add Gaussian noise of standard deviation 0.25 to both sets.  Every model is
fitted on the *noisy* training images; the figure is the mean squared error of
the reconstructed noisy test images against the *clean* test images.

PCA and KernelPCA are run over a grid and the best test figure is kept, which
favours them.  The two autoencoders have fixed settings, chosen beforehand on
a validation split of the noisy training set (``--select`` repeats that
search; it never looks at the test images).  The DenoisingAE corrupts its
already noisy training batches once more (Gaussian, fresh every batch) and
learns to map them back to the noisy training images.

Run ``python -m benchmarks.bench_denoising [--quick] [--select]``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, KernelPCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from benchmarks._common import write_results
from skae import AutoencoderTransformer, DenoisingAE

NOISE_STD = 0.25
GOAL = 0.8  # DenoisingAE's MSE at most GOAL x the best PCA / KernelPCA MSE


def noisy_digits(seed: int = 0):
    """Clean and noisy train / test digits, as in scikit-learn's example."""
    X, y = load_digits(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    X_train, X_test = train_test_split(
        X, stratify=y, random_state=seed, train_size=1000
    )
    rng = np.random.RandomState(seed)
    X_test_noisy = X_test + rng.normal(scale=NOISE_STD, size=X_test.shape)
    X_train_noisy = X_train + rng.normal(scale=NOISE_STD, size=X_train.shape)
    return X_train, X_train_noisy, X_test, X_test_noisy


def autoencoder(quick: bool) -> AutoencoderTransformer:
    epochs = 15 if quick else 100
    return AutoencoderTransformer(
        n_components=12,
        hidden_layer_sizes=(256,),
        alpha=1e-3,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        random_state=0,
    )


def denoising_autoencoder(quick: bool, **overrides) -> DenoisingAE:
    epochs = 15 if quick else 300
    params = dict(
        n_components=32,
        noise="gaussian",
        noise_level=1.0,  # in the scaled space: 1.0 * scale_ ~ 0.37 in pixel units
        hidden_layer_sizes=(256,),
        alpha=1e-3,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        random_state=0,
    )
    return DenoisingAE(**{**params, **overrides})


def candidates(quick: bool) -> list[tuple[str, str, object]]:
    """(method, setting, estimator) for every model of the table."""
    ks = (8, 16) if quick else (4, 8, 12, 16, 24, 32)
    gammas = (1e-2,) if quick else (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    alphas = (0.1,) if quick else (5e-3, 0.1, 1.0)
    rows = [("PCA", f"k={k}", PCA(k, random_state=42)) for k in ks]
    rows += [
        (
            "KernelPCA",
            f"rbf, gamma={gamma:g}, alpha={alpha:g}, k=400",
            KernelPCA(
                400,
                kernel="rbf",
                gamma=gamma,
                alpha=alpha,
                fit_inverse_transform=True,
                random_state=42,
            ),
        )
        for gamma in gammas
        for alpha in alphas
    ]
    ae, dae = autoencoder(quick), denoising_autoencoder(quick)
    rows.append(("AutoencoderTransformer", describe(ae), ae))
    rows.append(("DenoisingAE", describe(dae), dae))
    return rows


def describe(estimator) -> str:
    keys = ("n_components", "noise", "noise_level", "hidden_layer_sizes", "alpha")
    params = estimator.get_params()
    shown = [f"{k}={params[k]}" for k in keys if k in params]
    return ", ".join([*shown, f"epochs={params['max_iter']}"])


def reconstruct(estimator, X):
    return estimator.inverse_transform(estimator.transform(X))


def evaluate(method, setting, estimator, X_fit, X_noisy, X_clean) -> dict:
    start = time.perf_counter()
    estimator.fit(X_fit)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    X_denoised = reconstruct(estimator, X_noisy)
    denoise_s = time.perf_counter() - start
    return {
        "method": method,
        "setting": setting,
        "mse": float(np.mean((X_denoised - X_clean) ** 2)),
        "fit_s": fit_s,
        "denoise_s": denoise_s,
    }


def select(quick: bool) -> None:
    """The validation search behind the DenoisingAE's fixed settings."""
    X_train, X_train_noisy, _, _ = noisy_digits()
    X_fit, X_val_noisy, _, X_val = train_test_split(
        X_train_noisy, X_train, test_size=200, random_state=1
    )
    grid = [
        dict(n_components=c, noise_level=s, alpha=a)
        for c in (16, 32, 64)
        for s in (0.75, 1.0, 1.25)
        for a in (1e-4, 1e-3)
    ]
    grid += [
        dict(noise=noise, noise_level=level)
        for noise in ("masking", "salt_and_pepper")
        for level in (0.1, 0.25)
    ]
    for overrides in grid[:2] if quick else grid:
        dae = denoising_autoencoder(quick, **overrides)
        row = evaluate("DenoisingAE", describe(dae), dae, X_fit, X_val_noisy, X_val)
        print(f"validation mse {row['mse']:.5f}  {row['setting']}")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    parser.add_argument(
        "--select",
        action="store_true",
        help="rerun the validation search of the DenoisingAE settings instead",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.select:
        select(args.quick)
        return []

    _, X_train_noisy, X_test, X_test_noisy = noisy_digits()
    # torch's first fit pays one-off start-up costs; keep them out of the timings
    autoencoder(quick=True).set_params(max_iter=1).fit(X_train_noisy)
    noisy = {
        "method": "noisy input",
        "setting": f"sigma={NOISE_STD}",
        "mse": float(np.mean((X_test_noisy - X_test) ** 2)),
    }
    rows = [noisy] + [
        evaluate(method, setting, est, X_train_noisy, X_test_noisy, X_test)
        for method, setting, est in candidates(args.quick)
    ]
    best = min(
        (r for r in rows if r["method"] in ("PCA", "KernelPCA")),
        key=lambda r: r["mse"],
    )
    for row in rows:
        row["vs_best_pca_kpca"] = row["mse"] / best["mse"]
    dae = next(r for r in rows if r["method"] == "DenoisingAE")
    columns = ["method", "setting", "mse", "vs_best_pca_kpca", "fit_s", "denoise_s"]
    table = write_results(
        "denoising",
        rows,
        columns,
        quick=args.quick,
        protocol=__doc__.split("\n\n")[1],
        best_baseline=best,
        goal=f"DenoisingAE mse <= {GOAL} x best PCA/KernelPCA mse",
        goal_met=dae["vs_best_pca_kpca"] <= GOAL,
    )
    print(table)
    print(
        f"\nDenoisingAE / best PCA-KernelPCA ({best['method']}, {best['setting']}): "
        f"{dae['vs_best_pca_kpca']:.3f} (goal <= {GOAL}: "
        f"{'met' if dae['vs_best_pca_kpca'] <= GOAL else 'not met'})"
    )
    return rows


if __name__ == "__main__":
    main()
