"""PCA and skae estimators in one GridSearchCV: sign, processes, threads, dask."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import VAE, AutoencoderTransformer, RealNVPDensity
from skae.metrics import reconstruction_error, reconstruction_scorer

CV = KFold(n_splits=3, shuffle=True, random_state=0)


def _undertrained_autoencoder() -> AutoencoderTransformer:
    """A linear autoencoder stopped after 3 epochs: worse than PCA at every k."""
    return AutoencoderTransformer(
        hidden_layer_sizes=(),
        activation="identity",
        max_iter=3,
        init="random",
        random_state=0,
    )


def _mixed_search(n_jobs: int) -> GridSearchCV:
    pipe = Pipeline([("scale", StandardScaler()), ("reduce", PCA())])
    grid = [
        {"reduce": [PCA()], "reduce__n_components": [2, 8]},
        {"reduce": [_undertrained_autoencoder()], "reduce__n_components": [2, 8]},
    ]
    return GridSearchCV(pipe, grid, scoring=reconstruction_scorer, cv=CV, n_jobs=n_jobs)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().data[:450]


def _mean_score(search: GridSearchCV, reducer: str, k: int) -> float:
    results = search.cv_results_
    (index,) = [
        i
        for i, params in enumerate(results["params"])
        if type(params["reduce"]).__name__ == reducer
        and params["reduce__n_components"] == k
    ]
    return float(results["mean_test_score"][index])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_mixed_grid_picks_the_smallest_error(n_jobs, digits):
    search = _mixed_search(n_jobs).fit(digits)

    # More components reconstruct better, and PCA beats the under-trained
    # autoencoder: the best candidate is PCA at k=8, the worst the AE at k=2.
    assert isinstance(search.best_params_["reduce"], PCA)
    assert search.best_params_["reduce__n_components"] == 8
    scores = {
        (name, k): _mean_score(search, name, k)
        for name in ("PCA", "AutoencoderTransformer")
        for k in (2, 8)
    }
    assert scores[("PCA", 8)] > scores[("PCA", 2)]
    assert scores[("AutoencoderTransformer", 8)] > scores[("AutoencoderTransformer", 2)]
    assert min(scores, key=scores.get) == ("AutoencoderTransformer", 2)
    assert search.best_score_ == pytest.approx(max(scores.values()))
    assert search.best_score_ < 0
    # Each fold's score is minus the error computed by hand on that fold.
    train, test = next(CV.split(digits))
    on_first_fold = clone(search.best_estimator_).fit(digits[train])
    assert search.cv_results_["split0_test_score"][search.best_index_] == (
        pytest.approx(-reconstruction_error(on_first_fold, digits[test]), rel=1e-10)
    )


def test_search_picks_the_autoencoder_where_it_reconstructs_better():
    # Points near a curve in 3-D: one non-linear code describes them, one
    # principal component does not.
    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, size=300)
    X = np.c_[t, t**2, 0.5 * t**3] + 0.01 * rng.normal(size=(300, 3))
    ae = AutoencoderTransformer(
        n_components=1,
        hidden_layer_sizes=(32,),
        activation="tanh",
        learning_rate_init=1e-2,
        max_iter=300,
        random_state=0,
    )
    grid = [{"reduce": [PCA(n_components=1)]}, {"reduce": [ae]}]
    search = GridSearchCV(
        Pipeline([("reduce", PCA())]), grid, scoring=reconstruction_scorer, cv=CV
    ).fit(X)
    pca_score, ae_score = search.cv_results_["mean_test_score"]

    assert isinstance(search.best_params_["reduce"], AutoencoderTransformer)
    assert ae_score > pca_score
    assert -ae_score < 0.1 * -pca_score


def test_processes_give_the_same_search_as_one_process(digits):
    serial = _mixed_search(n_jobs=1).fit(digits)
    parallel = _mixed_search(n_jobs=2).fit(digits)

    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"],
        serial.cv_results_["mean_test_score"],
        rtol=1e-5,
    )


def test_fitted_estimators_come_back_from_worker_processes(digits):
    X_train, X_test = digits[:300], digits[300:]
    ae = AutoencoderTransformer(
        n_components=3, hidden_layer_sizes=(16,), max_iter=5, random_state=0
    )
    results = cross_validate(
        ae,
        X_train,
        scoring=reconstruction_scorer,
        cv=KFold(2),
        n_jobs=2,
        return_estimator=True,
    )
    for fitted, (_, test) in zip(
        results["estimator"], KFold(2).split(X_train), strict=True
    ):
        assert fitted.score(X_train[test]) == pytest.approx(
            reconstruction_scorer(fitted, X_train[test])
        )
    restored = pickle.loads(pickle.dumps(results["estimator"][0]))
    np.testing.assert_array_equal(
        restored.transform(X_test), results["estimator"][0].transform(X_test)
    )


def _torch_threads_in_loky_workers(n_jobs: int) -> list[int]:
    return joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(torch.get_num_threads)() for _ in range(2 * n_jobs)
    )


@pytest.mark.parametrize("parent_omp_num_threads", [None, "2"])
def test_loky_workers_do_not_oversubscribe_torch(parent_omp_num_threads, monkeypatch):
    # joblib starts each loky worker with OMP_NUM_THREADS, MKL_NUM_THREADS, ...
    # set to the parent's value or, where the parent sets none, to
    # cpu_count() // n_jobs.  torch sizes its pool from MKL_NUM_THREADS when set,
    # else OMP_NUM_THREADS, so even a parent that exports OMP_NUM_THREADS=2
    # (as .ci/run does) gets cpu_count() // n_jobs threads per worker.
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    if parent_omp_num_threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", parent_omp_num_threads)
    n_jobs = 2

    threads = _torch_threads_in_loky_workers(n_jobs)

    assert set(threads) == {max(joblib.cpu_count() // n_jobs, 1)}
    assert n_jobs * max(threads) <= max(joblib.cpu_count(), n_jobs)


def test_inner_max_num_threads_caps_torch_in_loky_workers(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "2")

    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        threads = _torch_threads_in_loky_workers(n_jobs=2)

    assert set(threads) == {1}


@pytest.mark.slow
def test_dask_local_cluster_runs_the_search(digits):
    distributed = pytest.importorskip("distributed")
    serial = _mixed_search(n_jobs=1).fit(digits)
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # The nanny sets OMP_NUM_THREADS=MKL_NUM_THREADS=1 before a worker starts.
        assert set(client.run(torch.get_num_threads).values()) == {1}
        with (
            distributed.get_task_stream(client) as tasks,
            joblib.parallel_backend("dask"),
        ):
            search = _mixed_search(n_jobs=-1).fit(digits)

    assert len({task["worker"] for task in tasks.data}) == 2
    assert isinstance(search.best_params_["reduce"], PCA)
    assert search.best_params_["reduce__n_components"] == 8
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"],
        serial.cv_results_["mean_test_score"],
        rtol=1e-5,
    )


def _gaussian_data(n_train: int, seed: int = 0):
    """Factor-analysis Gaussian data on very different feature scales.

    Returns train and test sets and the true density's mean log-likelihood of
    the test set, in nats per sample.  A model that drops the log-Jacobian of
    its internal scaling is off by ``sum(log(scale))`` (3.9 nats), one that
    averages over features instead of summing by a factor of 5.
    """
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(5, 2))
    noise = rng.uniform(0.1, 0.5, size=5)
    scale = np.array([0.1, 0.5, 2.0, 10.0, 50.0])
    mean = np.array([1.0, -3.0, 0.0, 50.0, 1000.0])
    cov = scale[:, None] * (loadings @ loadings.T + np.diag(noise)) * scale
    X = rng.multivariate_normal(mean, cov, size=n_train + 2000)
    X_train, X_test = X[:n_train], X[n_train:]
    true_ll = float(np.mean(multivariate_normal(mean, cov).logpdf(X_test)))
    return X_train, X_test, true_ll


def _density_models(max_iter: int) -> dict:
    return {
        "PCA": PCA(n_components=5),
        "FactorAnalysis": FactorAnalysis(n_components=2),
        "GaussianMixture": GaussianMixture(n_components=1, random_state=0),
        "VAE": VAE(
            n_components=2,
            hidden_layer_sizes=(),
            learning_rate_init=1e-2,
            max_iter=max_iter,
            random_state=0,
        ),
        "RealNVPDensity": RealNVPDensity(
            n_layers=2, hidden_layer_sizes=(16, 16), max_iter=max_iter, random_state=0
        ),
    }


@pytest.mark.parametrize(
    ("n_train", "max_iter", "tolerance"),
    [
        (1000, 100, {"classic": 0.05, "neural": 0.15}),
        # The same units at a tighter tolerance, on ten times the rows.
        pytest.param(
            10_000, 300, {"classic": 0.01, "neural": 0.05}, marks=pytest.mark.slow
        ),
    ],
    ids=["1k", "10k"],
)
def test_likelihood_units_agree_on_gaussian_data(n_train, max_iter, tolerance):
    X_train, X_test, true_ll = _gaussian_data(n_train)

    gaps = {
        name: model.fit(X_train).score(X_test) - true_ll
        for name, model in _density_models(max_iter).items()
    }

    for name, gap in gaps.items():
        kind = "neural" if name in ("VAE", "RealNVPDensity") else "classic"
        assert abs(gap) < tolerance[kind], (name, gap, true_ll)


@pytest.mark.slow
def test_one_search_ranks_density_families_by_likelihood():
    X_train, X_test, true_ll = _gaussian_data(1000)
    models = _density_models(max_iter=100)
    grid = [
        {"density": [models["PCA"]], "density__n_components": [1, 5]},
        {"density": [models["FactorAnalysis"]]},
        {
            "density": [models["GaussianMixture"]],
            "density__covariance_type": ["spherical", "full"],
        },
        {"density": [models["VAE"]]},
        {"density": [models["RealNVPDensity"]]},
    ]
    search = GridSearchCV(Pipeline([("density", PCA())]), grid, cv=3, n_jobs=2)
    search.fit(X_train)
    results = search.cv_results_
    worst_first = [results["params"][i] for i in np.argsort(results["mean_test_score"])]

    # The isotropic models (PPCA with one component, a spherical Gaussian)
    # cannot follow features on scales from 0.1 to 50: they rank last.
    assert {
        (type(params["density"]).__name__, params.get("density__n_components"))
        for params in worst_first[:2]
    } == {("PCA", 1), ("GaussianMixture", None)}
    assert search.best_score_ == pytest.approx(true_ll, abs=0.1)
    assert search.score(X_test) == pytest.approx(true_ll, abs=0.05)
