"""PCA and skae estimators in one GridSearchCV: sign, processes, threads, dask."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.metrics import reconstruction_error, reconstruction_scorer

CV = KFold(n_splits=3, shuffle=True, random_state=0)


def _undertrained_autoencoder() -> AutoencoderTransformer:
    """A linear autoencoder stopped after 3 epochs: worse than PCA at every k."""
    return AutoencoderTransformer(
        hidden_layer_sizes=(),
        activation="identity",
        max_iter=3,
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
