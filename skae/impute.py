"""AutoencoderImputer: missing values filled in by a skae model."""

import numbers
import warnings
from copy import deepcopy
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from skae._columns import _as_frame, categorical_mask, read_columns
from skae._tabular import check_observed_rows
from skae._vae import VAE
from skae.outlier import _seeded
from skae.utils._validation import (
    HasMethods,
    Interval,
    _fit_context,
    check_is_fitted,
    validate_data,
)

_HELD_OUT = 0.1  # fraction of observed entries that choose the epochs
_CHECK_EVERY = 10  # epochs between two checks of the held-out fill
_CHECK_DRAWS = 100  # importance draws of a check's fill
_PATIENCE = 5  # checks without improvement before the choice is made


def default_estimator() -> VAE:
    """The model ``AutoencoderImputer(estimator=None)`` fits.

    A :class:`~skae.VAE` trained on MIWAE's importance-weighted bound of the
    observed entries (Mattei and Frellsen, 2019) with 20 draws per row: 10
    latents, two tanh hidden layers of 128 units, Adam in batches of 64 for
    at most 500 epochs, starting, as every skae VAE, at the factor analysis
    solution of the mean-filled rows.  On a numeric table
    :class:`AutoencoderImputer` chooses its number of epochs on held-out
    observed entries of the training rows, then trains the model of the
    best fill on every entry (its ``_fit_on_held_out_entries``); on a table
    with categorical columns it stops on the bound of held-out rows (patience 50).  See
    docs/concepts.md#the-imputers-held-out-entries.
    """
    return VAE(
        n_components=10,
        n_train_importance_samples=20,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        batch_size=64,
        max_iter=500,
        n_iter_no_change=50,
    )


class AutoencoderImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Imputation of missing values by an autoencoder or a VAE.

    ``fit`` fits a clone of ``estimator`` on ``X`` with its missing entries
    (NaN): the model's loss counts the observed entries only, and the
    network reads a missing entry as its column's mean.  ``transform``
    returns ``X`` with every missing entry replaced by the model's value and
    every observed entry unchanged:

    * a :class:`~skae.VAE` gives the conditional mean ``E[x_mis | x_obs]``
      by self-normalised importance sampling, ``sum_k w_k E[x | z_k]`` with
      ``z_k ~ q(z | x)`` and ``w_k ~ p(x_obs | z_k) p(z_k) / q(z_k | x)``,
      from ``n_importance_samples`` draws (MIWAE, Mattei and Frellsen,
      2019);
    * an :class:`~skae.AutoencoderTransformer` or :class:`~skae.DenoisingAE`
      gives its reconstruction of the row.

    The default model (``estimator=None``, :func:`default_estimator`) picks
    its number of epochs on a tenth of the observed entries, hidden from a
    first fit and filled in every 10 epochs; the model of the best fill
    then trains 10 epochs on every entry.  The imputer fills the training
    rows themselves, so the bound on held-out rows is the wrong stopping rule
    (docs/concepts.md#the-imputers-held-out-entries).  A model passed as
    ``estimator`` is fitted as it is.

    A table with categorical columns (a DataFrame with ``category``,
    ``object``, ``string`` or ``bool`` columns, or whatever the estimator's
    ``categorical_features`` names) is imputed as it comes: the model reads
    it with its own column encoder, a missing category is the most probable
    one under the same conditional mean (of the softmax probabilities, for a
    VAE; the argmax of the reconstruction, for an autoencoder), a missing
    number is filled as above, and ``transform`` returns a DataFrame with
    the input's index, columns and dtypes (an object array when the input
    was an array).  Only categories seen in ``fit`` are filled in or
    accepted.

    Parameters
    ----------
    estimator : skae estimator or None, default=None
        The model; None fits :func:`default_estimator`, a VAE trained on
        MIWAE's importance-weighted bound, its epochs chosen on held-out
        entries.  See docs/concepts.md#the-imputers-held-out-entries.
    n_importance_samples : int, default=1000
        Draws per row of the VAE's conditional mean; shared by every row and
        fixed by the fit, so a row's fill does not depend on its batch.
    random_state : int, RandomState instance or None, default=None
        When not None, sets every ``random_state`` of the estimator.

    Attributes
    ----------
    estimator_ : skae estimator
        The fitted clone.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.impute.IterativeImputer : Round-robin regression of each feature.
    sklearn.impute.KNNImputer : Mean of the nearest neighbours.

    References
    ----------
    P.-A. Mattei and J. Frellsen. MIWAE: deep generative modelling and
    imputation of incomplete data sets. ICML, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import VAE, AutoencoderImputer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    >>> X_missing = np.where(rng.random(X.shape) < 0.2, np.nan, X)
    >>> imputer = AutoencoderImputer(VAE(hidden_layer_sizes=(16,), max_iter=20),
    ...                              random_state=0)
    >>> X_filled = imputer.fit_transform(X_missing)
    >>> bool(np.isnan(X_filled).any())
    False
    >>> observed = ~np.isnan(X_missing)
    >>> bool(np.array_equal(X_filled[observed], X_missing[observed]))
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [None, HasMethods(["fit", "transform"])],
        "n_importance_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, n_importance_samples=1000, random_state=None):
        self.estimator = estimator
        self.n_importance_samples = n_importance_samples
        self.random_state = random_state

    def _is_table(self, X, model) -> bool:
        """Whether ``model`` reads ``X`` as a table with categorical columns."""
        if sp.issparse(X) or not hasattr(model, "categorical_features"):
            return False
        if not isinstance(X, pd.DataFrame):
            if model.categorical_features in (None, "from_dtype"):
                return False
            X = _as_frame(X)
        chosen = model.categorical_features
        if isinstance(chosen, str):  # 'from_dtype', under the one column policy
            X = read_columns(X)
        return bool(categorical_mask(X, chosen).any())

    def _validated(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            reset=reset,
        )
        check_observed_rows(X)
        return X

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the model on ``X`` with its missing entries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with NaN for missing entries; no row may be entirely missing.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        if self.estimator is None:
            model = default_estimator()
        elif hasattr(self.estimator, "impute"):
            model = clone(self.estimator)
        else:
            raise ValueError(
                "estimator must be a skae VAE, AutoencoderTransformer or "
                f"DenoisingAE, got {type(self.estimator).__name__}."
            )
        table = self._is_table(X, model)
        if table:
            # The model validates the table (columns, categories, empty rows).
            validate_data(self, X, skip_check_array=True, reset=True)
        else:
            X = self._validated(X, reset=True)
        model = _seeded(model, self.random_state)
        with warnings.catch_warnings():
            if self.estimator is None:
                # The default's budget is its stopping rule or max_iter.
                warnings.simplefilter("ignore", ConvergenceWarning)
            if self.estimator is None and not table:
                model = self._fit_on_held_out_entries(model, X)
            else:
                model = model.fit(X)
        self.estimator_ = model
        return self

    def _fit_on_held_out_entries(self, model, X: np.ndarray):
        """The default model, its epochs chosen on held-out observed entries.

        The imputer fills the training rows themselves, so the bound on
        held-out rows, which measures how well new rows are modelled, is the
        wrong stopping rule (docs/concepts.md#the-imputers-held-out-entries).
        A fraction ``_HELD_OUT`` of the observed entries (never a row's last
        one) is hidden; the model trains on the rest ``_CHECK_EVERY`` epochs
        at a time (``partial_fit``) and fills them in with ``_CHECK_DRAWS``
        importance draws.  Once ``_PATIENCE`` checks in a row have not
        improved on the lowest squared error, the model of that check goes
        on for ``_CHECK_EVERY`` epochs on every entry, and is returned.
        """
        seed = self.random_state
        if not isinstance(seed, numbers.Integral):
            seed = check_random_state(seed).randint(2**31)
        rng = np.random.default_rng(seed)
        observed = ~np.isnan(X)
        held = observed & (rng.random(X.shape) < _HELD_OUT)
        held[(observed & ~held).sum(axis=1) == 0] = False
        model = model.set_params(early_stopping=False)
        if not held.any():
            return model.fit(X)
        hidden = np.where(held, np.nan, X)
        rows = np.flatnonzero(held.any(axis=1))
        best, best_error, worse, epoch = None, np.inf, 0, 0
        while epoch < model.max_iter - _CHECK_EVERY and worse < _PATIENCE:
            for _ in range(_CHECK_EVERY):
                model.partial_fit(hidden)
                epoch += 1
            fill = model.impute(hidden[rows], n_importance_samples=_CHECK_DRAWS)
            error = np.mean((fill - X[rows])[held[rows]] ** 2)
            if error < best_error:
                best, best_error, worse = deepcopy(model), error, 0
            else:
                worse += 1
        for _ in range(_CHECK_EVERY):
            best.partial_fit(X)
        return best

    def transform(self, X):
        """Fill the missing entries of ``X``; observed entries are unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with NaN for missing entries.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features) or DataFrame
            Same dtype as ``X`` (float64 for other dtypes); for a table with
            categorical columns, a DataFrame with the input's index, columns
            and dtypes (an object array when ``X`` was an array).
        """
        check_is_fitted(self)
        if getattr(self.estimator_, "column_encoder_", None) is not None:
            validate_data(self, X, skip_check_array=True, reset=False)
        else:
            X = self._validated(X, reset=False)
        return self.estimator_.impute(X, n_importance_samples=self.n_importance_samples)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
