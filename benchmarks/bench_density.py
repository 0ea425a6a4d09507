"""Held-out log-likelihood of RealNVPDensity against GaussianMixture and KernelDensity.

Every model sees the same data: the table is split into train (75%) and test
(25%); ``log1p`` (for the non-negative tables) and a ``StandardScaler`` are
fitted on the train part and applied to both.  Each model then chooses its
hyper-parameters on the train part only:

* ``GaussianMixture``: ``n_components`` in 1..10 and ``covariance_type`` in
  {full, tied, diag, spherical}, chosen two ways, reported as two baselines:
  the pair with the lowest BIC, and the pair with the best 5-fold
  cross-validated log-likelihood (``GridSearchCV``).  Neither dominates on
  small tables: BIC sometimes picks a near-singular mixture, CV a too simple
  one.
* ``KernelDensity``: Gaussian kernel, ``bandwidth`` by 5-fold cross-validated
  log-likelihood (``GridSearchCV``).
* ``RealNVPDensity``: the same three candidate settings for every data set
  (``CANDIDATES``); each trains with early stopping on a held-out 20% of the
  train part, and the candidate with the best log-likelihood on that
  validation part is kept.

The score is the mean log-density of the test samples, in nats, in the
standardised space (the same space for the three models).  Each data set is
split several times; the table reports mean ± std over the splits, and a model
"wins" a data set when its mean is the highest.

Run ``python -m benchmarks.bench_density [--quick]``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler

from benchmarks._common import write_results
from skae import RealNVPDensity

FLOW = {
    "coupling": "affine",  # the couplings this protocol was chosen for
    "n_layers": 8,
    "batch_size": 64,
    "learning_rate_init": 1e-3,
    "max_iter": 2000,
    "early_stopping": True,
    "validation_fraction": 0.2,
    "n_iter_no_change": 50,
}
# Candidates told apart by the held-out log-likelihood of the validation part:
# a ReLU flow with little regularisation (enough data, e.g. two moons) and a
# small, strongly regularised tanh flow (a few hundred correlated samples).
CANDIDATES = (
    {"hidden_layer_sizes": (32, 32), "alpha": 1e-4, "noise_level": 0.05},
    {"hidden_layer_sizes": (32, 32), "alpha": 1e-4, "noise_level": 0.2},
    {
        "hidden_layer_sizes": (32,),
        "activation": "tanh",
        "alpha": 1e-2,
        "log_scale_bound": 1.0,
        "noise_level": 0.4,
    },
)
GOAL = "RealNVPDensity has the best mean held-out log-likelihood on every data set"
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
BANDWIDTHS = np.logspace(-1.5, 0.5, 25)


def datasets(quick: bool) -> dict:
    moons, _ = make_moons(n_samples=400 if quick else 1000, noise=0.1, random_state=0)
    wine = load_wine().data
    cancer = load_breast_cancer().data
    return {
        "two moons (noise 0.1)": (moons, False),
        "wine (log1p)": (wine, True),
        "breast_cancer (log1p)": (cancer, True),
    }


def preprocess(X_train, X_test, log: bool):
    if log:
        X_train, X_test = np.log1p(X_train), np.log1p(X_test)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def gaussian_mixture_bic(X, seed: int, max_components: int) -> GaussianMixture:
    best, best_bic = None, np.inf
    for covariance_type in COVARIANCE_TYPES:
        for k in range(1, max_components + 1):
            model = GaussianMixture(
                k, covariance_type=covariance_type, random_state=seed
            ).fit(X)
            bic = model.bic(X)
            if bic < best_bic:
                best, best_bic = model, bic
    return best


def gaussian_mixture_cv(X, seed: int, max_components: int) -> GaussianMixture:
    grid = {
        "n_components": list(range(1, max_components + 1)),
        "covariance_type": COVARIANCE_TYPES,
    }
    search = GridSearchCV(GaussianMixture(random_state=seed), grid, cv=5)
    return search.fit(X).best_estimator_


def kernel_density(X) -> KernelDensity:
    search = GridSearchCV(KernelDensity(), {"bandwidth": BANDWIDTHS}, cv=5)
    return search.fit(X).best_estimator_


def real_nvp(X, seed: int, flow: dict, candidates) -> RealNVPDensity:
    """Fit every candidate; keep the best on the (shared) validation part.

    The candidates share ``random_state`` and ``validation_fraction``, hence the
    validation rows and the whitening, so their ``best_loss_`` (validation
    negative log-likelihood) compare like for like.
    """
    fits = [
        RealNVPDensity(**flow, **candidate, random_state=seed).fit(X)
        for candidate in candidates
    ]
    return min(fits, key=lambda model: model.best_loss_)


def one_split(X, log: bool, seed: int, flow: dict, candidates, max_components):
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=seed)
    X_train, X_test = preprocess(X_train, X_test, log)
    scores, details, seconds = {}, {}, {}

    for label, select in [
        ("GaussianMixture (BIC)", gaussian_mixture_bic),
        ("GaussianMixture (CV)", gaussian_mixture_cv),
    ]:
        start = time.perf_counter()
        gmm = select(X_train, seed, max_components)
        seconds[label] = time.perf_counter() - start
        scores[label] = gmm.score(X_test)
        details[label] = f"{gmm.n_components} {gmm.covariance_type}"

    start = time.perf_counter()
    kde = kernel_density(X_train)
    seconds["KernelDensity"] = time.perf_counter() - start
    scores["KernelDensity"] = float(np.mean(kde.score_samples(X_test)))
    details["KernelDensity"] = f"bw {kde.bandwidth:.3g}"

    start = time.perf_counter()
    nvp = real_nvp(X_train, seed, flow, candidates)
    seconds["RealNVPDensity"] = time.perf_counter() - start
    scores["RealNVPDensity"] = nvp.score(X_test)
    details["RealNVPDensity"] = (
        f"{nvp.activation} {nvp.hidden_layer_sizes} noise {nvp.noise_level}, "
        f"{nvp.n_iter_} ep"
    )
    return scores, details, seconds


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    quick = parser.parse_args(argv).quick
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    n_splits = 1 if quick else 5
    flow = {**FLOW, "max_iter": 60, "n_iter_no_change": 10} if quick else FLOW
    candidates = CANDIDATES[::2] if quick else CANDIDATES
    max_components = 4 if quick else 10
    rows, winners = [], {}
    for name, (X, log) in datasets(quick).items():
        per_model: dict[str, dict[str, list]] = {}
        for seed in range(n_splits):
            scores, details, seconds = one_split(
                X, log, seed, flow, candidates, max_components
            )
            for model, score in scores.items():
                entry = per_model.setdefault(
                    model, {"scores": [], "details": [], "seconds": []}
                )
                entry["scores"].append(score)
                entry["details"].append(details[model])
                entry["seconds"].append(seconds[model])
            print(
                f"{name} split {seed}: "
                + ", ".join(f"{m} {s:.3f} ({details[m]})" for m, s in scores.items()),
                flush=True,
            )
        best = max(per_model, key=lambda m: np.mean(per_model[m]["scores"]))
        winners[name] = best
        for model, entry in per_model.items():
            rows.append(
                {
                    "data set": name,
                    "n_samples": X.shape[0],
                    "n_features": X.shape[1],
                    "model": model,
                    "test log-lik (mean)": float(np.mean(entry["scores"])),
                    "std": float(np.std(entry["scores"])),
                    "per split": " ".join(f"{s:.2f}" for s in entry["scores"]),
                    "chosen": "; ".join(entry["details"]),
                    "fit s (mean)": float(np.mean(entry["seconds"])),
                    "best": "yes" if model == best else "",
                }
            )
    columns = [
        "data set",
        "n_samples",
        "n_features",
        "model",
        "test log-lik (mean)",
        "std",
        "per split",
        "best",
        "fit s (mean)",
        "chosen",
    ]
    table = write_results(
        "density",
        rows,
        columns,
        quick=quick,
        goal=GOAL,
        goal_met=all(w == "RealNVPDensity" for w in winners.values()),
        winners=winners,
        splits=n_splits,
        flow=flow,
        candidates=list(candidates),
    )
    print(table)
    for name, winner in winners.items():
        print(f"best on {name}: {winner}")
    return rows


if __name__ == "__main__":
    main()
