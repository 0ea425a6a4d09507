"""The flow's base chosen after training, and the lattice dequantisation.

With validation rows, RealNVPDensity trains its couplings over the standard
normal and then keeps, of the start (identity couplings over the start
mixture), the trained couplings over the standard normal and the trained
couplings over a mixture refitted in the latent space, the best on the
validation rows (skae.parts.flow.choose_base): never below the start there.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine, make_moons
from sklearn.preprocessing import StandardScaler

from skae import RealNVPDensity
from skae._data import holdout_indices
from skae.metrics import dequantize_lattice, lattice_steps
from skae.parts.flow import BASE_CHOICES

FROZEN = {"learning_rate_init": 1e-12, "max_iter": 1, "alpha": 0.0}


@pytest.fixture(scope="module")
def wine() -> np.ndarray:
    return StandardScaler().fit_transform(load_wine().data)


@pytest.fixture(scope="module")
def moons() -> np.ndarray:
    return make_moons(300, noise=0.05, random_state=0)[0]


def _validation_nll(flow, X) -> float:
    _, valid = holdout_indices(len(X), flow.validation_fraction, flow._seed())
    rows = torch.from_numpy(flow.preprocessor_.transform(X[valid]))
    with torch.no_grad():
        return -flow.net_.module_.log_prob(rows).mean().item()


def test_the_kept_model_is_the_best_on_the_validation_rows(wine):
    params = {"n_base_components": 3, "max_iter": 15, "dequantize": False}
    flow = RealNVPDensity(random_state=0, **params).fit(wine)
    assert flow.base_choice_ in BASE_CHOICES
    assert flow.best_loss_ <= flow.initial_validation_loss_
    assert _validation_nll(flow, wine) == pytest.approx(flow.best_loss_, abs=1e-6)
    assert not hasattr(flow.net_.module_, "pending_base_choice")


def test_a_start_that_wins_is_kept_exactly(wine):
    """Untrained couplings (a zero learning rate): the start is kept, as the
    flow without held-out rows starts at it."""
    common = {"n_base_components": 3, "dequantize": False, "random_state": 0}
    common.update(FROZEN)
    flow = RealNVPDensity(**common).fit(wine)
    assert flow.base_choice_ == "start" and flow.best_epoch_ == 0
    assert flow.base_mixture_sizes_ == (3,)
    assert _validation_nll(flow, wine) == pytest.approx(
        flow.initial_validation_loss_, abs=1e-9
    )


def test_the_couplings_learn_beyond_a_poor_start(moons):
    """Two components cannot draw two moons; trained spline couplings can."""
    flow = RealNVPDensity(
        n_layers=4,
        coupling="spline",
        hidden_layer_sizes=(16, 16),
        n_base_components=2,
        max_iter=60,
        random_state=0,
    ).fit(moons)
    assert flow.base_choice_ != "start"
    assert flow.best_epoch_ > 0
    assert flow.best_loss_ < flow.initial_validation_loss_ - 0.3


def test_the_choice_is_reproducible(wine):
    params = {"n_base_components": 3, "max_iter": 5, "random_state": 0}
    first = RealNVPDensity(**params).fit(wine).score_samples(wine)
    again = RealNVPDensity(**params).fit(wine).score_samples(wine)
    np.testing.assert_array_equal(first, again)


def test_without_held_out_rows_the_couplings_train_over_the_start(wine):
    flow = RealNVPDensity(
        n_base_components=3, early_stopping=False, max_iter=2, random_state=0
    ).fit(wine)
    assert not hasattr(flow, "base_choice_")
    assert flow.net_.module_.base is not None
    assert flow.best_epoch_ == flow.n_iter_


def test_lattice_steps_find_integer_and_rounded_columns():
    rng = np.random.default_rng(0)
    X = np.c_[
        rng.integers(1, 7, 200),  # six-point items
        rng.integers(0, 2, 200) * 0.5 + 3,  # two levels half a unit apart
        np.round(rng.normal(size=200), 1),  # rounded to 0.1
        rng.normal(size=200),  # continuous
    ]
    np.testing.assert_allclose(lattice_steps(X), [1.0, 0.5, 0.1, 0.0], rtol=1e-9)
    # Too many levels for the rows: continuous.
    assert lattice_steps(np.arange(10.0)[:, None])[0] == 0


def test_dequantize_lattice_fills_one_step_above_each_value():
    X = np.c_[np.repeat([1.0, 2.0, 3.0], 50), np.linspace(0, 1, 150)]
    steps = lattice_steps(X)
    noisy = dequantize_lattice(X, steps, random_state=0)
    np.testing.assert_array_equal(np.floor(noisy[:, 0]), X[:, 0])
    assert np.ptp(noisy[:, 0] - X[:, 0]) > 0.9
    np.testing.assert_array_equal(noisy[:, 1], X[:, 1])
    np.testing.assert_array_equal(noisy, dequantize_lattice(X, steps, random_state=0))
    with pytest.raises(ValueError, match="steps"):
        dequantize_lattice(X, [1.0], random_state=0)


@pytest.fixture(scope="module")
def survey() -> np.ndarray:
    """Six-point items driven by one factor, and one continuous column."""
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(300, 1))
    items = np.clip(np.round(3.5 + factor + rng.normal(size=(300, 3))), 1, 6)
    return np.c_[items, factor[:, 0] + 0.1 * rng.normal(size=300)]


def test_auto_dequantises_the_lattice_columns(survey):
    params = {"n_base_components": 2, "max_iter": 3, "random_state": 0}
    flow = RealNVPDensity(**params).fit(survey)
    np.testing.assert_allclose(flow.lattice_steps_, [1, 1, 1, 0])
    plain = RealNVPDensity(dequantize=False, **params).fit(survey)
    np.testing.assert_array_equal(plain.lattice_steps_, 0)
    # The base was fitted to dequantised rows: no spike on the lattice.
    spiky = plain.score_samples(survey).mean() - flow.score_samples(survey).mean()
    assert spiky > 0
    again = RealNVPDensity(**params).fit(survey).score_samples(survey)
    np.testing.assert_array_equal(flow.score_samples(survey), again)


def test_dequantize_true_needs_every_column_on_a_lattice(survey):
    with pytest.raises(ValueError, match=r"columns \[3\] are not"):
        RealNVPDensity(dequantize=True, max_iter=1).fit(survey)
    flow = RealNVPDensity(dequantize=True, n_base_components=2, max_iter=1)
    np.testing.assert_allclose(flow.fit(survey[:, :3]).lattice_steps_, 1, rtol=1e-9)


def test_the_image_flow_has_no_lattice_option():
    X = np.random.default_rng(0).random((20, 16))
    flow = RealNVPDensity(image_shape=(1, 4, 4), dequantize=False, max_iter=1)
    with pytest.raises(ValueError, match="dequantize"):
        flow.fit(X)


def test_the_latent_scan_stops_at_the_start_s_largest_mixture(moons, monkeypatch):
    """The codes' BIC scan tries no more components than the start's largest
    mixture (the couplings move the data towards the normal, they do not
    split its modes), and sees the training rows' codes only: the validation
    rows that judge it are not among them."""
    import skae.parts.flow as flow_part

    caps, sizes, rows = [], [], []

    def recording(X, n_components, seed, validation=None, **kind):
        caps.append(kind.get("max_components"))
        rows.append(len(X))
        mixtures = ensemble(X, n_components, seed, validation, **kind)
        sizes.append([mixture.n_components for mixture in mixtures])
        return mixtures

    ensemble = flow_part.mixture_ensemble
    monkeypatch.setattr(flow_part, "mixture_ensemble", recording)
    flow = RealNVPDensity(max_iter=3, random_state=0).fit(moons)
    start, latent = sizes
    assert caps == [None, max(start)]
    assert max(latent) <= max(start)
    assert flow.base_choice_ in BASE_CHOICES
    _, valid = holdout_indices(len(moons), flow.validation_fraction, flow._seed())
    assert rows == [len(moons), len(moons) - len(valid)]
