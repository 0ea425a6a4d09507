"""The context ``y`` end to end, proven on a toy conditional model.

The model below is a new module, objective, part and estimator written here,
outside ``skae``: the base carries ``y`` from ``fit(X, y)`` through the
dataset, the module and the objective, and from ``transform(X, y)``,
``score_samples(X, y)`` and ``sample(n, y=...)`` to the module.
"""

from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from skae._base import SkaeBase
from skae._context import ContextEncoder
from skae._params import SHARED_CONSTRAINTS
from skae._parts import ModelPart, params_of
from skae._preprocessing import Standardizer
from skae.losses import LossTerms, Objective

SEEN: dict[str, list] = {}


def _record(where: str, context) -> None:
    SEEN.setdefault(where, []).append(None if context is None else context.clone())


class ToyConditionalModule(nn.Module):
    """``x ~ N(W [z; c], I)``: a linear autoencoder that also reads ``c``."""

    def __init__(self, n_features: int, n_context: int, n_components: int) -> None:
        super().__init__()
        self.encoder = nn.Linear(n_features + n_context, n_components)
        self.decoder = nn.Linear(n_components + n_context, n_features)

    def encode(self, x, context=None):
        _record("encode", context)
        return self.encoder(torch.cat([x, context], dim=1))

    def decode(self, z, context=None):
        _record("decode", context)
        return self.decoder(torch.cat([z, context], dim=1))

    def forward(self, x, context=None, mask=None):
        _record("forward", context)
        return self.decode(self.encode(x, context), context)

    def log_prob(self, x, context=None):
        _record("log_prob", context)
        residual = x - self.decode(self.encode(x, context), context)
        return -0.5 * (residual**2 + np.log(2 * np.pi)).sum(dim=1)


class ToyLoss(Objective):
    conditional = True

    def terms(self, output, target, module, x, mask, context=None) -> LossTerms:
        _record("objective", context)
        return LossTerms(((output - target) ** 2).sum(dim=1).mean(), {})


class ToyConditionalPart(ModelPart):
    def preprocessor(self, heads):
        return Standardizer("feature")

    def context(self):
        return ContextEncoder()

    def build(self, spec):
        return ToyConditionalModule(
            spec.n_features, spec.n_context, self.params.n_components
        )

    def criterion(self, fitted):
        return ToyLoss()


class ToyConditional(SkaeBase):
    _parameter_constraints: ClassVar[dict] = dict(SHARED_CONSTRAINTS)

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(),
        activation="identity",
        batch_size="auto",
        learning_rate_init=1e-2,
        max_iter=5,
        alpha=0.0,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        random_state=None,
        verbose=0,
        device="cpu",
        accelerator=None,
        image_shape=None,
    ):
        self._store_init_arguments(locals())

    def _make_part(self, image_shape):
        return ToyConditionalPart(params_of(self), image_shape)


@pytest.fixture
def labelled(rng):
    y = np.repeat(["a", "b", "c"], 30)
    shift = {"a": 0.0, "b": 3.0, "c": -3.0}
    X = rng.normal(size=(90, 4)) + np.array([shift[label] for label in y])[:, None]
    return X, y


@pytest.fixture(autouse=True)
def _clean():
    SEEN.clear()
    yield
    SEEN.clear()


def _one_hot(labels) -> np.ndarray:
    return (np.asarray(labels)[:, None] == np.array(["a", "b", "c"])).astype(float)


def test_fit_passes_y_to_the_module_and_the_objective(labelled):
    X, y = labelled
    model = ToyConditional(random_state=0).fit(X, y)
    assert model.context_encoder_.n_context_ == 3
    for where in ("forward", "objective"):
        seen = SEEN[where]
        assert seen and all(c is not None and c.shape[1] == 3 for c in seen)
        # every row's context is the one-hot of a label
        rows = torch.cat(seen).numpy()
        np.testing.assert_array_equal(rows.sum(axis=1), 1.0)
    # the held-out rows (epoch 0 and validation) see their own labels too
    assert sum(len(c) for c in SEEN["objective"]) > model.n_iter_ * 72


def test_inference_passes_y(labelled):
    X, y = labelled
    model = ToyConditional(random_state=0).fit(X, y)
    SEEN.clear()
    codes = model.transform(X[:5], y[:5])
    np.testing.assert_array_equal(SEEN["encode"][0].numpy(), _one_hot(y[:5]))
    other = model.transform(X[:5], ["b"] * 5)
    assert not np.allclose(codes, other)  # the context changes the code
    SEEN.clear()
    scores = model.score_samples(X[:5], y[:5])
    np.testing.assert_array_equal(SEEN["log_prob"][0].numpy(), _one_hot(y[:5]))
    assert model.score(X[:5], y[:5]) == pytest.approx(scores.mean())
    SEEN.clear()
    samples = model.sample(4, random_state=0, y=["c", "c", "a", "b"])
    assert samples.shape == (4, 4)
    np.testing.assert_array_equal(
        SEEN["decode"][0].numpy(), _one_hot(["c", "c", "a", "b"])
    )
    back = model.inverse_transform(codes, y[:5])
    assert back.shape == (5, 4)
    # fit_transform passes y on to transform
    fitted_codes = ToyConditional(random_state=0).fit_transform(X, y)
    np.testing.assert_array_equal(fitted_codes, model.transform(X, y))


def test_numeric_context_and_partial_fit(labelled):
    X, _ = labelled
    covariate = np.linspace(-1, 1, len(X))
    model = ToyConditional(random_state=0).partial_fit(X, covariate)
    np.testing.assert_allclose(model.context_encoder_.mean_, [0.0], atol=1e-12)
    model.partial_fit(X, covariate)
    assert model.n_iter_ == 2
    assert SEEN["forward"][-1].shape[1] == 1


def test_context_errors_name_the_problem(labelled):
    X, y = labelled
    with pytest.raises(ValueError, match="conditional: fit needs y"):
        ToyConditional().fit(X)
    model = ToyConditional(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="not seen in fit"):
        model.transform(X[:2], ["a", "z"])
    with pytest.raises(ValueError, match="rows"):
        model.sample(3, y=["a"])
    with pytest.raises(ValueError, match="pass y"):
        model.score_samples(X[:2])


def test_a_failed_fit_leaves_the_estimator_as_it_was(labelled):
    X, y = labelled
    model = ToyConditional(random_state=0).fit(X, y)
    before = model.transform(X[:3], y[:3])
    with pytest.raises(ValueError):
        model.fit(X, y[:10])
    np.testing.assert_array_equal(model.transform(X[:3], y[:3]), before)
