"""Categorical columns and missing values for the autoencoders and the VAE.

:class:`TableMixin` sits left of :class:`~skae._base.SkaeBase` in
:class:`~skae.AutoencoderTransformer`, :class:`~skae.DenoisingAE` and
:class:`~skae.VAE`.  It overrides the base's row validation and output
container, and supplies the mask of observed entries that ``fit`` gives the
training batches:

* ``fit`` reads the table with :class:`~skae._columns.ColumnEncoder`
  (numeric columns, then a one-hot block per categorical column); a numeric
  table with NaN stays a float array.  When the table has a categorical
  column or a missing entry, ``heads_`` is a
  :class:`~skae.modules.heads.ColumnHeads`: the loss then counts observed
  entries only, with a softmax cross-entropy per categorical column, and the
  preprocessing is a :class:`~skae._preprocessing.TableScaler` (statistics
  of observed entries, missing entries set to 0, the training mean, at the
  network's input).  A complete numeric table takes the plain path
  (``heads_ = None``) exactly as before.
* ``inverse_transform`` and ``sample`` of a table with categorical columns
  return a DataFrame with the input's columns and dtypes (see
  :meth:`~skae._columns.ColumnEncoder.inverse_transform`).
"""

import numpy as np
import scipy.sparse as sp
import torch

from skae._columns import ColumnEncoder, ColumnLayout, categorical_mask
from skae._preprocessing import MissingAsMean, Standardizer, TableScaler
from skae.modules.heads import ColumnHeads
from skae.utils._validation import check_is_fitted, validate_data

_FLOAT_DTYPES = [np.float64, np.float32]


def check_observed_rows(X: np.ndarray) -> None:
    """Raise a ValueError naming the rows of ``X`` with no observed entry."""
    if X.shape[1] == 0:
        return
    empty = np.flatnonzero(np.isnan(X).all(axis=1))
    if empty.size:
        shown = empty[:10].tolist()
        raise ValueError(
            f"{empty.size} row(s) of X have every entry missing (rows {shown}"
            f"{', ...' if empty.size > 10 else ''}); a model cannot encode them. "
            "Drop them or fill them in first."
        )


class TableMixin:
    """Tables with categorical columns and missing entries (see module docstring)."""

    def _validated_rows(self, X, *, reset: bool) -> np.ndarray:
        chosen = self.categorical_features
        if isinstance(X, list | tuple) and not isinstance(chosen, str | None):
            X = np.asarray(X, dtype=object)
        if reset:
            categorical = categorical_mask(X, self.categorical_features)
        else:
            categorical = self.is_categorical_
        if sp.issparse(X) and not categorical.any():
            # Sparse input: numeric and complete (NaN is not a missing value
            # here), densified one batch at a time downstream.
            encoded = validate_data(
                self, X, dtype=_FLOAT_DTYPES, accept_sparse="csr", reset=reset
            )
            if reset:
                self.column_encoder_, self.is_categorical_ = None, categorical
                self.heads_ = None
            return encoded
        if categorical.any():
            validate_data(self, X, skip_check_array=True, reset=reset)
            if reset:
                self.column_encoder_ = ColumnEncoder(categorical).fit(X)
            encoded = self.column_encoder_.transform(X)
        else:
            encoded = validate_data(
                self,
                X,
                dtype=_FLOAT_DTYPES,
                ensure_all_finite="allow-nan",
                reset=reset,
            )
            if reset:
                self.column_encoder_ = None
        if reset:
            self.is_categorical_ = categorical
            self.heads_ = None
            if categorical.any() or np.isnan(encoded).any():
                self.heads_ = ColumnHeads(self._layout(encoded.shape[1]))
        if self._fitted_image_shape() and (
            categorical.any() or np.isnan(encoded).any()
        ):
            raise ValueError(
                f"{type(self).__name__} with image_shape needs numeric pixels "
                "without missing values; this X has categorical columns or NaN."
            )
        check_observed_rows(encoded)
        return encoded

    def _layout(self, width: int) -> ColumnLayout:
        if self.column_encoder_ is not None:
            return self.column_encoder_.layout_
        return ColumnLayout(np.arange(width))

    def _make_preprocessor(self) -> Standardizer:
        if self.heads_ is None:
            return self._standardizer(MissingAsMean)
        return TableScaler(self._scaling, len(self.heads_.layout.numeric))

    def _observed_mask(self, X: np.ndarray) -> np.ndarray | None:
        if self.heads_ is None:
            return None
        return np.isfinite(X).astype(X.dtype)

    def _as_input_space(self, X: np.ndarray, rng=None):
        if getattr(self, "column_encoder_", None) is None:
            return super()._as_input_space(X)
        return self.column_encoder_.inverse_transform(X, rng)

    def _table_heads(self) -> ColumnHeads:
        """``heads_``, or the plain numeric heads of a complete numeric fit."""
        check_is_fitted(self)
        if self.heads_ is not None:
            return self.heads_
        return ColumnHeads(self._layout(self.preprocessor_.mean_.shape[0]))

    def _needs_table_scoring(self, X: np.ndarray) -> bool:
        return self.heads_ is not None or bool(np.isnan(X).any())

    def _table_error(self, X: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
        """Per-row mean over observed columns of squared error (user units)
        and cross-entropy (categorical columns)."""
        mask = torch.from_numpy(np.isfinite(X).astype(np.float64))
        x = torch.from_numpy(np.nan_to_num(np.asarray(X, dtype=np.float64)))
        out = torch.from_numpy(np.asarray(reconstruction, dtype=np.float64))
        return self._table_heads().reconstruction_error(x, out, mask).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.image_shape is None
        return tags
