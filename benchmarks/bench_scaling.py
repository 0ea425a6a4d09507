"""Cost growth: fit time against the number of samples and of features.

Every skae estimator is fitted for a fixed number of epochs (no stopping rule)
on random float32 data:

* ``n_samples`` doubling from 10 000 to 160 000 at 50 features;
* ``n_features`` doubling from 16 to 512 at 20 000 samples.

Each point is the median of alternating repeats.  The figure is the slope of
``log(fit time)`` against ``log(size)``: 1 means the cost grows linearly.  In
the number of samples one epoch is linear by construction, so a slope above
1 would reveal a super-linear cost (e.g. in scaling or bookkeeping); below 1,
a fixed cost that is not yet amortised.  In the number of features only the
first and last layers grow, so the slope stays below 1 until they dominate.

Run ``python -m benchmarks.bench_scaling [--quick]``.
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import skae
from benchmarks._common import alternating_medians, loglog_slope, median, write_results
from skae import VAE, AutoencoderTransformer, DenoisingAE


def estimators(epochs: int, quick: bool) -> dict:
    fixed = dict(max_iter=epochs, n_iter_no_change=epochs + 1, random_state=0)
    # The plain autoencoder: its denoising warm-up would double the epochs.
    out = {
        "AutoencoderTransformer": lambda: AutoencoderTransformer(
            8, warmup_noise=0.0, **fixed
        )
    }
    if quick:
        return out
    out["DenoisingAE"] = lambda: DenoisingAE(8, **fixed)
    out["VAE"] = lambda: VAE(8, **fixed)
    RealNVPDensity = getattr(skae, "RealNVPDensity", None)
    if RealNVPDensity is not None:
        out["RealNVPDensity"] = lambda: RealNVPDensity(
            4,
            hidden_layer_sizes=(64,),
            coupling="affine",
            early_stopping=False,
            **fixed,
        )
    return out


def fit_times(make, shapes, repeats: int) -> list[float]:
    rng = np.random.default_rng(0)
    data = {shape: rng.standard_normal(shape, dtype=np.float32) for shape in shapes}
    make().fit(data[shapes[0]])  # warm-up
    runs = {shape: (lambda X=X: make().fit(X)) for shape, X in data.items()}
    times = alternating_medians(runs, repeats)
    return [median(times[shape]) for shape in shapes]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.quick:
        samples, features, base_n = [2_500, 5_000, 10_000], [16, 64, 256], 5_000
        epochs, repeats = 1, 3
    else:
        samples = [10_000, 20_000, 40_000, 80_000, 160_000]
        features, base_n = [16, 32, 64, 128, 256, 512], 20_000
        epochs, repeats = 2, 3
    base_d = 50
    rows, points = [], []
    for name, make in estimators(epochs, args.quick).items():
        by_n = fit_times(make, [(n, base_d) for n in samples], repeats)
        by_d = fit_times(make, [(base_n, d) for d in features], repeats)
        rows.append(
            {
                "estimator": name,
                "epochs": epochs,
                "slope_n_samples": loglog_slope(samples, by_n),
                "n_samples": f"{samples[0]}..{samples[-1]} at {base_d} features",
                "slope_n_features": loglog_slope(features, by_d),
                "n_features": f"{features[0]}..{features[-1]} at {base_n} samples",
            }
        )
        points += [
            {"estimator": name, "n_samples": n, "n_features": base_d, "fit_s": t}
            for n, t in zip(samples, by_n, strict=True)
        ]
        points += [
            {"estimator": name, "n_samples": base_n, "n_features": d, "fit_s": t}
            for d, t in zip(features, by_d, strict=True)
        ]
    columns = [
        "estimator",
        "epochs",
        "slope_n_samples",
        "n_samples",
        "slope_n_features",
        "n_features",
    ]
    table = write_results(
        "scaling",
        rows,
        columns,
        quick=args.quick,
        repeats=repeats,
        figure="least-squares slope of log(fit seconds) against log(size)",
        points=points,
    )
    print(table)
    return rows


if __name__ == "__main__":
    main()
