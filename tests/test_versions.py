"""Files saved by an earlier skae load, or fail with an error naming versions.

``tests/data/*-0.1.0.*`` were written by skae 0.1.0 (before the estimators
were composed of parts): small fits on diabetes' first 120 rows and 6
columns, whose optional parts are active (the VAE's low-rank noise, the
flow's mixture base), and their ``score_samples`` of the first 10 rows.
"""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes

import skae
from skae import VAE, InconsistentVersionWarning

DATA = Path(__file__).parent / "data"
NAMES = ["ae", "dae", "vae", "flow"]


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return load_diabetes(return_X_y=True)[0][:10, :6]


@pytest.mark.parametrize("name", NAMES)
def test_a_pickle_of_0_1_0_loads_and_scores_the_same(name, rows):
    with (
        open(DATA / f"{name}-0.1.0.pkl", "rb") as file,
        pytest.warns(InconsistentVersionWarning, match=r"saved by skae 0\.1\.0"),
    ):
        model = pickle.load(file)
    expected = np.load(DATA / "scores-0.1.0.npz")[name]
    # The same numbers up to round-off: since 0.3 complete rows share one
    # Woodbury factor of the low-rank noise (one solve for all of them).
    np.testing.assert_allclose(model.score_samples(rows), expected, rtol=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_a_skops_file_of_0_1_0_loads_and_scores_the_same(name, rows):
    sio = pytest.importorskip("skops.io")
    path = DATA / f"{name}-0.1.0.skops"
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.split(".")[0] in {"skae", "sklearn", "numpy"} for t in untrusted)
    with pytest.warns(InconsistentVersionWarning, match="torch unknown"):
        model = sio.load(path, trusted=untrusted)
    expected = np.load(DATA / "scores-0.1.0.npz")[name]
    # The same numbers up to round-off: since 0.3 complete rows share one
    # Woodbury factor of the low-rank noise (one solve for all of them).
    np.testing.assert_allclose(model.score_samples(rows), expected, rtol=1e-13)
    if name == "vae":
        assert model.noise_rank_ > 0  # the optimizer has the noise factors
        assert model.n_train_importance_samples == 1  # added later: its default


def test_a_state_that_cannot_be_rebuilt_names_both_versions(rows):
    model = VAE(n_components=2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    state = model.fit(rows).__getstate__()
    assert state["_skae_version"] == skae.__version__
    state["_skae_version"] = "0.0.9"
    weights = state["_skae_net_state"]["module"]
    name = next(key for key in weights if key.endswith("weight"))
    weights[name] = np.zeros((3, 3))
    message = rf"saved by skae 0\.0\.9 .* by skae {re.escape(skae.__version__)}"
    with (
        pytest.raises(ValueError, match=message),
        pytest.warns(InconsistentVersionWarning),
    ):
        VAE.__new__(VAE).__setstate__(state)


def test_the_same_versions_load_without_a_warning(rows):
    import warnings

    model = VAE(n_components=2, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    data = pickle.dumps(model.fit(rows))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        pickle.loads(data)
    assert model.__getstate__()["_torch_version"] == torch.__version__
