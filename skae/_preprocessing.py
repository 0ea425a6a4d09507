"""Fitted input maps between the user's units and a model's input space.

Each map is fitted once, on the training rows of the estimator's hold-out
split, and then converts any array block by block (never a full-size float64
copy of the data):

* ``transform(X, dtype)``: user units to model space;
* ``inverse_transform(X_model)``: model space back to user units (float64);
* ``log_det()``: ``log |det d(model)/d(user)|``, added to a model-space
  log-density to give a log-density in the user's units.

:class:`Standardizer` centres and divides by one global scale (``"global"``,
which keeps a squared error proportional to the user's), by per-feature scales
(``"feature"``), by one mean and one scale per image channel (``"channel"``,
for rows that are flattened ``(C, H, W)`` images) or passes the data through
(``"none"``).  :class:`Whitener`
adds ZCA whitening after a per-feature standardisation.
"""

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

# Statistics and conversions go through float64 blocks of about this many
# entries (4 MiB): small enough to be reused from the allocator's heap and to
# stay in cache.
_BLOCK_ENTRIES = 2**19

SCALINGS = ("global", "feature", "channel", "none", "maximum")


def block_rows(n_features: int) -> int:
    """Rows per block of about ``_BLOCK_ENTRIES`` entries."""
    return max(1, _BLOCK_ENTRIES // max(n_features, 1))


def _dense_float64(block) -> np.ndarray:
    """A block of rows as a dense float64 array (sparse blocks densified)."""
    if sp.issparse(block):
        return block.toarray().astype(np.float64, copy=False)
    return np.asarray(block, dtype=np.float64)


def _float64_blocks(X) -> Iterator[np.ndarray]:
    rows = block_rows(X.shape[1])
    for start in range(0, X.shape[0], rows):
        yield _dense_float64(X[start : start + rows])


def _column_mean(X: np.ndarray) -> np.ndarray:
    """Per-column mean, accumulated in float64 block by block."""
    total = np.zeros(X.shape[1])
    for block in _float64_blocks(X):
        total += block.sum(axis=0)
    return total / X.shape[0]


def _overflow_safe_std(X: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per-column standard deviation around ``mean`` that does not overflow.

    Each column is divided by its largest deviation before squaring.
    """
    peak = np.zeros(X.shape[1])
    for block in _float64_blocks(X):
        np.maximum(peak, np.abs(block - mean).max(axis=0), out=peak)
    peak[peak == 0] = 1.0
    total = np.zeros(X.shape[1])
    for block in _float64_blocks(X):
        total += (((block - mean) / peak) ** 2).sum(axis=0)
    return peak * np.sqrt(total / X.shape[0])


def _unit_maximum(X) -> float:
    """``max(1, largest entry)`` of ``X`` (missing entries ignored)."""
    peak = 1.0
    for block in _float64_blocks(X):
        if block.size and not np.isnan(block).all():
            peak = max(peak, float(np.nanmax(block)))
    return peak


def _overflow_safe_rms(values: np.ndarray) -> float:
    """``sqrt(mean(values**2))`` without overflow."""
    peak = float(np.max(np.abs(values)))
    if peak == 0:
        return 0.0
    return peak * float(np.sqrt(np.mean((values / peak) ** 2)))


def _constant(std: np.ndarray, mean: np.ndarray, n_samples: int) -> np.ndarray:
    """Features whose spread is rounding noise: scikit-learn's constant rule.

    ``var <= n * eps * var + (n * |mean| * eps)**2`` (as
    :class:`~sklearn.preprocessing.StandardScaler`), or not above the
    smallest normal float.  A column that is constant up to rounding (a
    standardised constant, say) would otherwise be divided by ~1e-16.
    """
    eps = np.finfo(np.float64).eps
    # The first term only matters for n > 1 / eps; the second, as a bound on
    # the standard deviation, cannot overflow.
    return ~(std > np.finfo(np.float64).tiny) | (std <= n_samples * np.abs(mean) * eps)


class Standardizer:
    """``(x - mean_) / scale_``, with one global, per-feature or per-channel scale.

    Parameters
    ----------
    scaling : {'global', 'feature', 'channel', 'none'}, default='global'
        ``'global'``: one scale, the root mean feature variance;
        ``'feature'``: each feature's standard deviation; ``'channel'``: the
        row is ``n_channels`` equal blocks of pixels (a flattened
        ``(C, H, W)`` image) and each block has one mean and one scale, its
        pixels' mean and standard deviation over all rows and positions;
        ``'none'``: the identity (zero mean, unit scale); ``'maximum'``: zero
        mean and one scale, the largest entry when it exceeds 1 (data in
        ``[0, 1]`` pass unchanged).  Constant features (or channels) keep
        scale 1.
    n_channels : int, default=1
        Number of channel blocks for ``scaling='channel'``; must divide the
        number of features.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Per feature (one value repeated over a channel's pixels).
    scale_ : ndarray of shape (n_features,)
        Per feature, likewise; :meth:`log_det` is then
        ``H*W * sum_c -log scale_c``.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._preprocessing import Standardizer
    >>> X = np.array([[0.0, 10.0], [2.0, 30.0]])
    >>> scaler = Standardizer("feature").fit(X)
    >>> scaler.transform(X, np.float64)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> bool(np.allclose(scaler.inverse_transform(scaler.transform(X)), X))
    True
    >>> images = np.array([[0.0, 2.0, 10.0, 10.0], [2.0, 4.0, 30.0, 30.0]])
    >>> Standardizer("channel", n_channels=2).fit(images).scale_
    array([ 1.41421356,  1.41421356, 10.        , 10.        ])
    """

    def __init__(self, scaling: str = "global", n_channels: int = 1) -> None:
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
        self.scaling = scaling
        self.n_channels = n_channels

    def fit(self, X: np.ndarray) -> "Standardizer":
        """Learn ``mean_`` and ``scale_`` from the rows of ``X``."""
        n_features = X.shape[1]
        if self.scaling in ("none", "maximum"):
            self.mean_ = np.zeros(n_features)
            peak = _unit_maximum(X) if self.scaling == "maximum" else 1.0
            self.scale_ = np.full(n_features, peak)
            return self
        self.mean_ = _column_mean(X)
        if self.scaling == "channel":
            return self._fit_channels(X)
        std = _overflow_safe_std(X, self.mean_)
        if self.scaling == "global":
            std = np.full(n_features, _overflow_safe_rms(std))
        std[_constant(std, self.mean_, X.shape[0])] = 1.0
        self.scale_ = std
        return self

    def _fit_channels(self, X) -> "Standardizer":
        """One mean and one scale per block of ``n_features / n_channels`` pixels."""
        n_features = X.shape[1]
        if n_features % self.n_channels:
            raise ValueError(
                f"{n_features} features do not split into {self.n_channels} "
                "equal channels."
            )
        pixels = n_features // self.n_channels
        mean = self.mean_.reshape(self.n_channels, pixels).mean(axis=1)
        self.mean_ = np.repeat(mean, pixels)
        # Root mean square, over a channel's pixels, of each pixel's spread
        # around the channel mean: the channel's standard deviation.
        spread = _overflow_safe_std(X, self.mean_).reshape(self.n_channels, pixels)
        std = np.array([_overflow_safe_rms(channel) for channel in spread])
        std[_constant(std, mean, X.shape[0] * pixels)] = 1.0
        self.scale_ = np.repeat(std, pixels)
        return self

    def _forward(self, block: np.ndarray) -> np.ndarray:
        return (block - self.mean_) / self.scale_

    def _backward(self, block: np.ndarray) -> np.ndarray:
        return block * self.scale_ + self.mean_

    def transform(self, X: np.ndarray, dtype=np.float64) -> np.ndarray:
        """User units to model space, in ``dtype``, block by block.

        ``X`` may be sparse: each block is densified on its own.
        """
        if not sp.issparse(X):
            X = np.asarray(X)
        if X.ndim != 2:
            return self._forward(np.asarray(X, dtype=np.float64)).astype(dtype)
        out = np.empty(X.shape, dtype=dtype)
        rows = block_rows(X.shape[1])
        for start in range(0, X.shape[0], rows):
            block = _dense_float64(X[start : start + rows])
            out[start : start + block.shape[0]] = self._forward(block)
        return out

    def inverse_transform(self, X_model: np.ndarray) -> np.ndarray:
        """Model space back to user units, as float64."""
        return self._backward(np.asarray(X_model, dtype=np.float64))

    def log_det(self) -> float:
        """``log |det d(model)/d(user)|``: add to a model-space log-density."""
        return float(-np.sum(np.log(self.scale_)))

    @property
    def whitening_(self) -> np.ndarray:
        """The matrix applied after scaling: the identity unless whitened."""
        own = self.__dict__.get("whitening_")
        return np.eye(self.mean_.shape[0]) if own is None else own

    @whitening_.setter
    def whitening_(self, value: np.ndarray) -> None:
        self.__dict__["whitening_"] = value


class Whitener(Standardizer):
    """Per-feature standardisation followed by ZCA whitening.

    ``u = ((x - mean_) / scale_) @ whitening_`` with ``whitening_`` the inverse
    square root of the standardised covariance; directions of (numerically)
    zero variance, below ``max(n_samples, n_features) * eps`` times the largest
    eigenvalue, are left unscaled.

    Parameters
    ----------
    whiten : bool, default=True
        False leaves ``whitening_`` the identity (a plain per-feature
        standardisation).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
    whitening_ : ndarray of shape (n_features, n_features)
        Symmetric, applied on the right.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._preprocessing import Whitener
    >>> X = np.random.default_rng(0).normal(size=(500, 2)) @ [[1.0, 0.9], [0.0, 0.4]]
    >>> U = Whitener().fit(X).transform(X, np.float64)
    >>> np.round(np.cov(U, rowvar=False, bias=True), 6) + 0.0
    array([[1., 0.],
           [0., 1.]])
    """

    def __init__(self, whiten: bool = True) -> None:
        super().__init__("feature")
        self.whiten = whiten

    def fit(self, X: np.ndarray) -> "Whitener":
        """Learn the standardisation, then the whitening matrix."""
        super().fit(X)
        n_features = X.shape[1]
        if not self.whiten:
            self.whitening_ = np.eye(n_features)
            return self
        covariance = np.atleast_2d(self._standardized_covariance(X))
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        # A covariance summed over n rows carries rounding errors of about
        # n * eps * its largest eigenvalue (numpy's matrix_rank rule, with the
        # length of the sums): an eigenvalue below that is a zero, e.g. of a
        # column that is the sum of others (plm/Produc: pcap = hwy + water +
        # util, eigenvalue 3e-14).  Scaling it by its inverse root would make
        # the whitening's condition number ~1e7.
        rows = max(X.shape[0], n_features)
        tiny = rows * np.finfo(np.float64).eps * max(eigenvalues.max(), 1.0)
        eigenvalues = np.where(eigenvalues > tiny, eigenvalues, 1.0)
        self.whitening_ = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
        return self

    def _standardized_covariance(self, X) -> np.ndarray:
        """Covariance of the standardised rows; sparse ``X`` block by block."""
        if not sp.issparse(X):
            standardized = super()._forward(np.asarray(X, dtype=np.float64))
            return np.cov(standardized, rowvar=False, bias=True)
        n_features = X.shape[1]
        total, outer = np.zeros(n_features), np.zeros((n_features, n_features))
        for block in _float64_blocks(X):
            standardized = super()._forward(block)
            total += standardized.sum(axis=0)
            outer += standardized.T @ standardized
        mean = total / X.shape[0]
        return outer / X.shape[0] - np.outer(mean, mean)

    def _forward(self, block: np.ndarray) -> np.ndarray:
        return super()._forward(block) @ self.whitening_

    def _backward(self, block: np.ndarray) -> np.ndarray:
        return super()._backward(np.linalg.solve(self.whitening_, block.T).T)

    def log_det(self) -> float:
        return super().log_det() + float(np.linalg.slogdet(self.whitening_)[1])


class MissingAsMean(Standardizer):
    """A :class:`Standardizer` whose model space reads a missing entry as 0.

    NaN entries (missing values) become 0 after the map, the training mean;
    complete data are mapped exactly as by :class:`Standardizer`.
    """

    def _forward(self, block: np.ndarray) -> np.ndarray:
        return np.nan_to_num(super()._forward(block), nan=0.0)


class TableScaler(MissingAsMean):
    """A :class:`Standardizer` of the numeric columns of an encoded table.

    The first ``n_numeric`` columns are standardised with statistics of
    their observed (non-NaN) entries; the one-hot blocks after them pass
    through (mean 0, scale 1).  A missing entry becomes 0 in model space: a
    numeric column's training mean, no category.

    Parameters
    ----------
    scaling : {'global', 'feature', 'none', 'maximum'}
        As for :class:`Standardizer`, over the numeric columns.
    n_numeric : int
        Number of leading numeric columns.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._preprocessing import TableScaler
    >>> X = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 1.0], [np.nan, np.nan, np.nan]])
    >>> TableScaler("feature", 1).fit(X).transform(X)
    array([[-1.,  1.,  0.],
           [ 1.,  0.,  1.],
           [ 0.,  0.,  0.]])
    """

    def __init__(self, scaling: str, n_numeric: int) -> None:
        super().__init__(scaling)
        self.n_numeric = n_numeric

    def fit(self, X: np.ndarray) -> "TableScaler":
        """Learn ``mean_`` and ``scale_`` from the observed numeric entries."""
        n_features = X.shape[1]
        self.mean_ = np.zeros(n_features)
        self.scale_ = np.ones(n_features)
        numeric = np.asarray(X[:, : self.n_numeric], dtype=np.float64)
        empty = np.flatnonzero(np.isnan(numeric).all(axis=0))
        if empty.size:
            raise ValueError(
                f"Numeric column(s) {empty.tolist()} have no observed value in the "
                "training rows; drop them or fill them in first."
            )
        if self.scaling == "none" or not self.n_numeric:
            return self
        if self.scaling == "maximum":
            self.scale_[: self.n_numeric] = _unit_maximum(numeric)
            return self
        mean = np.nanmean(numeric, axis=0)
        std = np.sqrt(np.nanmean((numeric - mean) ** 2, axis=0))
        if self.scaling == "global":
            std = np.full(self.n_numeric, _overflow_safe_rms(std))
        std[_constant(std, mean, X.shape[0])] = 1.0
        self.mean_[: self.n_numeric] = mean
        self.scale_[: self.n_numeric] = std
        return self
