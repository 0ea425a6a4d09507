"""OutlierDetector: any likelihood or reconstruction score as an outlier detector."""

import numbers
import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import VarianceThreshold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import _safe_indexing, check_random_state, get_tags

from skae._base import SkaeBase
from skae._columns import categorical_mask, read_columns, with_declared_categories
from skae._vae import VAE
from skae.utils._validation import Interval, StrOptions, _fit_context, check_is_fitted

# Tukey's lower fence: a training score below Q1 - FENCE * (Q3 - Q1) is an outlier.
TUKEY_FENCE = 1.5


def default_estimator() -> Pipeline:
    """The model ``OutlierDetector(estimator=None)`` fits.

    ``VarianceThreshold`` drops constant columns, ``StandardScaler`` puts every
    feature in standard units, and a small :class:`~skae.VAE` (8 latents, one
    hidden layer of 64, trained from a random start for up to 100 epochs,
    without a hold-out, stopping once its training loss has not improved
    for 20 epochs: the VAE's earlier training settings, which suit the
    detector better than its current 80 epochs of patience) scores each row
    by its importance-weighted log-likelihood, in nats of the standardised
    space.  The start is random because the factor-analysis start fits the
    outliers of contaminated data into its linear model, which a random
    start does less.  See docs/concepts.md#the-trimmed-refit.
    """
    return make_pipeline(
        VarianceThreshold(),
        StandardScaler(),
        VAE(
            n_components=8,
            hidden_layer_sizes=(64,),
            init="random",
            early_stopping=False,
            max_iter=100,
            n_iter_no_change=20,
        ),
    )


def tukey_lower_fence(scores: np.ndarray) -> float:
    """``Q1 - 1.5 * (Q3 - Q1)`` of ``scores``: the ``contamination="auto"`` offset."""
    first, third = np.percentile(scores, [25.0, 75.0])
    return float(first - TUKEY_FENCE * (third - first))


def _seeded(
    estimator: BaseEstimator, random_state: int | np.random.RandomState | None
) -> BaseEstimator:
    """Set every ``random_state`` parameter of ``estimator`` (nested ones too)."""
    if random_state is None:
        return estimator
    if isinstance(random_state, numbers.Integral):
        seed = int(random_state)
    else:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    names = [
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    ]
    return estimator.set_params(**dict.fromkeys(names, seed))


def _rows(X: ArrayLike, keep: np.ndarray) -> ArrayLike:
    """The rows of ``X`` where ``keep`` is True, in ``X``'s own container."""
    if sp.issparse(X):
        X = X.tocsr()  # COO and DIA do not index rows
    elif not (hasattr(X, "iloc") or isinstance(X, np.ndarray)):
        X = np.asarray(X)  # lists and other array-likes
    return _safe_indexing(X, np.flatnonzero(keep))


def _fitted(estimator: BaseEstimator, X: ArrayLike, rows: ArrayLike) -> tuple:
    """``estimator.fit(X)`` and its float64 scores of ``rows``; a ``ValueError``
    says which model and shape failed (a singular fit's ``LinAlgError`` too)."""
    try:
        model = estimator.fit(X)
        return model, np.asarray(model.score_samples(rows), dtype=np.float64)
    except (ValueError, np.linalg.LinAlgError) as error:
        shape = getattr(X, "shape", ())
        if len(shape) == 2:
            where = f"X with n_samples={shape[0]}, n_features={shape[1]}"
        else:
            where = "X"
        name = type(estimator).__name__
        raise ValueError(f"fitting {name} on {where} failed: {error}") from error


def _has_categories(X: ArrayLike) -> bool:
    """Whether ``X`` is a DataFrame with a categorical column."""
    return isinstance(X, pd.DataFrame) and bool(
        categorical_mask(read_columns(X), "from_dtype").any()
    )


class OutlierDetector(OutlierMixin, BaseEstimator):
    """Outlier detector over any model with ``score_samples``.

    ``fit`` fits a clone of ``estimator`` (kept as ``estimator_``) on ``X``;
    a row's score is the model's ``score_samples`` (higher means more normal)
    and a row is an outlier (``predict`` gives -1) when its score falls below
    ``offset_``.  The score is the model's own:

    * :class:`~skae.AutoencoderTransformer`, :class:`~skae.DenoisingAE`: minus
      the mean squared reconstruction error per feature, in the units of the
      model's input (standardised units behind a ``StandardScaler``);
    * :class:`~skae.VAE` (importance-weighted), :class:`~skae.RealNVPDensity`
      (exact), :class:`~sklearn.decomposition.PCA`,
      :class:`~sklearn.mixture.GaussianMixture`,
      :class:`~sklearn.neighbors.KernelDensity`: the log-likelihood in nats
      (of the standardised rows for the default model);
    * a :class:`~sklearn.pipeline.Pipeline`: its last step's score of the
      transformed rows.

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``score_samples``, default=None
        The model of normal data; it is cloned, never modified.  ``None`` means
        :func:`default_estimator`, ``make_pipeline(VarianceThreshold(),
        StandardScaler(), VAE(n_components=8, hidden_layer_sizes=(64,), ...))``;
        its VAE alone for a DataFrame with categorical columns.
        See docs/concepts.md#the-trimmed-refit.
    contamination : 'auto' or float, default='auto'
        Share of outliers expected in the training data: a float in (0, 0.5]
        puts ``offset_`` at that quantile of the training scores.  ``'auto'``:
        Tukey's lower fence of the training scores, ``offset_ = Q1 - 1.5 *
        (Q3 - Q1)``, which needs no guess of the share and ignores the score's
        unit, sign and shift (it flags 0.35% of Gaussian scores, more of
        long-tailed ones).  A flexible model scores its training rows a little
        higher than new ones, so it flags new rows a little more often.
        See docs/concepts.md#the-trimmed-refit.
    refit_inliers : bool, default=True
        Fit the model, then fit it again on the training rows the
        ``contamination`` rule does not flag on the first fit (at least the
        better-scored half), so that outliers among the training rows shape
        the model of normal data less: a trimmed fit, as a robust covariance
        estimate is.  ``offset_`` is then set by the same rule on the refitted
        model's scores of all training rows.  ``False`` fits once.
        See docs/concepts.md#the-trimmed-refit.
    random_state : int, RandomState instance or None, default=None
        When not None, every ``random_state`` parameter of the clone (nested
        ones of a ``Pipeline`` included) is set to this seed (to a seed drawn
        from it when it is a ``RandomState``).  ``None`` leaves the clone's own.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator`` (of the default model when None).
    offset_ : float
        Threshold on ``score_samples``; ``decision_function`` is
        ``score_samples(X) - offset_``.
    n_fit_samples_ : int
        Number of training rows ``estimator_`` was fitted on (fewer than
        ``n_samples`` after a refit on the inliers).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Tree-based outlier detector with the
        same ``contamination`` and ``offset_`` conventions.
    sklearn.neighbors.LocalOutlierFactor : Density ratio to the neighbours.
    skae.VAE : The default model's density.

    References
    ----------
    J. W. Tukey. Exploratory Data Analysis. Addison-Wesley, 1977 (the fence).

    S. Han, X. Hu, H. Huang, M. Jiang and Y. Zhao. ADBench: Anomaly detection
    benchmark. NeurIPS 2022 (the unsupervised protocol of the figures in
    docs/concepts.md#the-trimmed-refit).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skae import OutlierDetector
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(size=(95, 3)) @ [[1, 1, 1], [0, 1, 1], [0, 0, 1]],
    ...           rng.uniform(-6, 6, size=(5, 3))]
    >>> detector = OutlierDetector(PCA(2), contamination=0.05).fit(X)
    >>> detector.predict(X).shape
    (100,)
    >>> int((detector.predict(X) == -1).sum())
    5
    >>> auto = OutlierDetector(random_state=0).fit(X)  # the default VAE, 'auto'
    >>> auto.predict([[0.0, 0.0, 0.0], [10.0, 10.0, -10.0]])
    array([ 1, -1])
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": "no_validation",  # checked in fit: needs score_samples
        "contamination": [
            StrOptions({"auto"}),
            Interval(numbers.Real, 0, 0.5, closed="right"),
        ],
        "refit_inliers": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        *,
        contamination: str | float = "auto",
        refit_inliers: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.refit_inliers = refit_inliers
        self.random_state = random_state

    def _make_estimator(self, X: ArrayLike) -> BaseEstimator:
        if self.estimator is None:
            model = default_estimator()
            if _has_categories(X):  # the VAE reads the table itself
                model = model.steps[-1][1]
            return _seeded(model, self.random_state)
        if not all(hasattr(self.estimator, m) for m in ("fit", "score_samples")):
            raise TypeError(
                "estimator must have fit and score_samples methods; got "
                f"{type(self.estimator).__name__}"
            )
        return _seeded(clone(self.estimator), self.random_state)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: ArrayLike, y: None = None) -> "OutlierDetector":
        """Fit the model of normal data and set ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows, possibly contaminated by outliers.
        y : None
            Ignored.

        Returns
        -------
        self : OutlierDetector
            The fitted detector.
        """
        # Every category of X declared, so that a refit on some rows knows
        # the categories of the rows it leaves out.
        X = with_declared_categories(X)
        with warnings.catch_warnings():
            if self.estimator is None:
                # The default model's epoch limit is skae's budget, not a
                # setting the user chose and could raise.
                warnings.simplefilter("ignore", ConvergenceWarning)
            model, scores = _fitted(self._make_estimator(X), X, X)
            n_fit_samples = len(scores)
            if self.refit_inliers and np.all(np.isfinite(scores)):
                keep = scores >= self._offset(scores)
                if 2 * keep.sum() < len(scores):
                    keep = scores >= np.median(scores)
                if not keep.all():
                    model, scores = _fitted(self._make_estimator(X), _rows(X, keep), X)
                    n_fit_samples = int(keep.sum())
        offset = self._offset(scores)
        if not np.isfinite(offset):
            raise ValueError(
                f"The model scores training rows as {np.min(scores)}, so no "
                "threshold can be set on them: their values are too large or too "
                "small for the model (rescale X, e.g. with StandardScaler)."
            )
        # Every fitted attribute in one place: a failed fit sets none of them.
        self.estimator_, self.n_fit_samples_ = model, n_fit_samples
        self.offset_ = offset
        return self

    def _offset(self, scores: np.ndarray) -> float:
        """The ``contamination`` rule's threshold on training ``scores``."""
        if self.contamination == "auto":
            return tukey_lower_fence(scores)
        return float(np.percentile(scores, 100.0 * self.contamination))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A skae model takes sparse rows; the default pipeline centres (it
        # refuses them), and other models' tags do not always say (PCA).
        tags.input_tags.sparse = isinstance(self.estimator, SkaeBase)
        # NaN is a missing value when the model takes it (skae's autoencoders).
        model = default_estimator() if self.estimator is None else self.estimator
        steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
        tags.input_tags.allow_nan = all(
            get_tags(step).input_tags.allow_nan for step in steps
        )
        return tags

    @property
    def n_features_in_(self) -> int:
        """Number of features seen during fit (the fitted model's)."""
        return self.estimator_.n_features_in_

    @property
    def feature_names_in_(self) -> np.ndarray:
        """Names of the features seen during fit (the fitted model's)."""
        return self.estimator_.feature_names_in_

    def _scores(self, X: ArrayLike) -> np.ndarray:
        return np.asarray(self.estimator_.score_samples(X), dtype=np.float64)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """The inner model's score of each row: higher means more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``estimator_.score_samples(X)`` as float64.
        """
        check_is_fitted(self)
        return self._scores(X)

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            Shifted scores; a row is an outlier when its value is below 0.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> np.ndarray:
        """+1 for inliers, -1 for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
