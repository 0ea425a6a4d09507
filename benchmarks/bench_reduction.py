"""Digits compare-reduction: ``MinMaxScaler -> reducer(k=8) -> LinearSVC``.

Issue 12's protocol: scikit-learn's digits (1,797 images, 64 pixels), a
pipeline ``MinMaxScaler -> reducer with n_components=8 -> LinearSVC``, ``C``
searched over 1, 10, 100 by 5-fold ``GridSearchCV`` (stratified, no
shuffle); the reducer is ``PCA(8)`` or the default
``AutoencoderTransformer(8, random_state=0)``.  The figure is the best mean
cross-validated accuracy over ``C``; the goal is AE >= PCA + 0.04.

Run ``python -m benchmarks.bench_reduction [--quick]``; ``--quick`` (CI)
uses 600 images, 3 folds and ``max_iter=10``.
"""

import tempfile
import time

from joblib import Memory
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import LinearSVC

from benchmarks._common import load_1min, write_results
from skae import AutoencoderTransformer

K = 8
C_VALUES = (1.0, 10.0, 100.0)
GOAL_POINTS = 0.04


def accuracy(reducer, X, y, cv: int) -> tuple[float, float, float]:
    """Best mean CV accuracy over ``C``, its ``C`` and the search's seconds."""
    with tempfile.TemporaryDirectory() as cache:
        pipe = Pipeline(
            [
                ("scale", MinMaxScaler()),
                ("reduce", clone(reducer)),
                ("classify", LinearSVC(max_iter=10_000, random_state=0)),
            ],
            memory=Memory(cache, verbose=0),
        )
        search = GridSearchCV(pipe, {"classify__C": list(C_VALUES)}, cv=cv)
        start = time.perf_counter()
        search.fit(X, y)
        seconds = time.perf_counter() - start
    return float(search.best_score_), search.best_params_["classify__C"], seconds


def main(argv=None) -> list[dict]:
    quick = "--quick" in (argv or [])
    X, y = load_digits(return_X_y=True)
    ae = AutoencoderTransformer(K, random_state=0)
    if quick:
        X, y = X[:600], y[:600]
        ae.set_params(max_iter=10)
    cv = 3 if quick else 5
    rows = []
    for name, reducer in (("PCA", PCA(K)), ("AutoencoderTransformer", ae)):
        score, c, seconds = accuracy(reducer, X, y, cv)
        rows.append({"reducer": name, "accuracy": score, "C": c, "seconds": seconds})
    gain = rows[1]["accuracy"] - rows[0]["accuracy"]
    rows[1]["goal"] = f"AE >= PCA + {GOAL_POINTS:.2f}"
    rows[1]["met"] = bool(gain >= GOAL_POINTS)
    table = write_results(
        "reduction",
        rows,
        ["reducer", "accuracy", "C", "seconds", "goal", "met"],
        quick=quick,
        gain=gain,
        goal=rows[1]["goal"],
        goal_met=rows[1]["met"],
        load_1min=load_1min(),
    )
    print(table)
    print(f"AE - PCA = {gain:+.4f} (goal +{GOAL_POINTS:.2f})")
    return rows


if __name__ == "__main__":
    main()
