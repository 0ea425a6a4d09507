"""The input layer: rows of ``X`` validated, tables and images read, outputs shaped.

Every estimator validates ``X`` here (:func:`validated_input`), as rows of a
2-D float array (or CSR matrix); the estimator's parameters say what it
accepts.  With ``image_shape``, image arrays ``(n, H, W)`` / ``(n, C, H, W)``
are flattened and the width checked (:mod:`skae._images`).  An estimator
with a ``categorical_features`` parameter reads tables:

* ``fit`` reads the table with :class:`~skae._columns.ColumnEncoder`
  (numeric columns, then a one-hot block per categorical column); a numeric
  table with NaN stays a float array.  When the table has a categorical
  column or a missing entry, ``heads_`` is a
  :class:`~skae.modules.heads.ColumnHeads`: the loss then counts observed
  entries only, with a softmax cross-entropy per categorical column, and the
  preprocessing is a :class:`~skae._preprocessing.TableScaler` (statistics
  of observed entries, missing entries set to 0, the training mean, at the
  network's input).  A complete numeric table takes the plain path
  (``heads_ = None``).
* ``inverse_transform`` and ``sample`` of a table with categorical columns
  return a DataFrame with the input's columns and dtypes (see
  :meth:`~skae._columns.ColumnEncoder.inverse_transform`).

At fit the validation returns a record of fitted attributes (``image_shape_``;
``sequence_shape_`` for the estimators with that parameter, whose rows are
flattened ``(T, F)`` sequences, :mod:`skae._sequences`; and, for tables,
``column_encoder_``, ``is_categorical_``, ``heads_``) that the estimator
stores with the rest.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from skae._columns import (
    ColumnEncoder,
    ColumnLayout,
    _as_frame,
    categorical_mask,
    check_numeric_and_complete,
    is_sparse_frame,
    read_columns,
)
from skae._images import checked_image_shape, flattened_images, resolved_image_shape
from skae._preprocessing import MissingAsMean, Standardizer, TableScaler
from skae._sequences import (
    checked_sequence_shape,
    flattened_sequences,
    resolved_sequence_shape,
)
from skae.modules.heads import ColumnHeads
from skae.utils._validation import (
    check_is_fitted,
    input_feature_names,
    output_container,
    validate_data,
)

FLOAT_DTYPES = [np.float64, np.float32]


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


# Variances and squared errors of larger entries overflow float64 (1e308).
MAX_MAGNITUDE = 1e150


def check_magnitude(X, name: str) -> None:
    """Raise a ValueError when an entry of training rows ``X`` is so large that
    its square (a variance, a squared error) overflows float64."""
    values = X.data if sp.issparse(X) else X
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    if top > MAX_MAGNITUDE:
        raise ValueError(
            f"X has entries of magnitude up to {top:.3g}: {name} computes their "
            f"squares, which overflow float64 beyond about {MAX_MAGNITUDE:g}. "
            "Rescale X first (e.g. with StandardScaler)."
        )


def reads_tables(estimator) -> bool:
    """Whether ``estimator`` takes categorical columns and missing entries."""
    return "categorical_features" in estimator.get_params(deep=False)


def allows_nan(estimator) -> bool:
    """The ``allow_nan`` tag: tables of flat rows only."""
    return reads_tables(estimator) and not _structured(estimator)


def _structured(estimator) -> bool:
    """Whether rows are images or sequences (numeric and complete)."""
    return (
        estimator.image_shape is not None
        or getattr(estimator, "sequence_shape", None) is not None
    )


def validated_input(estimator, X, *, reset: bool) -> tuple[np.ndarray, dict]:
    """``X`` as validated 2-D rows, and (with ``reset``) the fitted record.

    Without ``reset`` the estimator's fitted attributes say how to read
    ``X`` and the record is empty.
    """
    name = type(estimator).__name__
    if X is None:
        raise ValueError(
            f"{name} got X=None; expected a 2D array-like of "
            "shape (n_samples, n_features)."
        )
    if reset:
        record = {"image_shape_": checked_image_shape(estimator.image_shape)}
        if hasattr(estimator, "sequence_shape"):
            sequence = checked_sequence_shape(estimator.sequence_shape)
            if sequence is not None and record["image_shape_"] is not None:
                raise ValueError(
                    f"{name} takes image_shape or sequence_shape, not both; "
                    "set one of them to None."
                )
            record["sequence_shape_"] = sequence
        fitted = record
    else:
        record, fitted = {}, vars(estimator)
    shape = fitted.get("image_shape_")
    X = flattened_images(X, shape, name)
    sequence = fitted.get("sequence_shape_")
    X = flattened_sequences(X, sequence, name)
    if reads_tables(estimator):
        X = _table_rows(estimator, X, reset, record, fitted)
    else:
        X = read_columns(X)
        check_numeric_and_complete(X, name)
        X = validate_data(
            estimator, X, dtype=FLOAT_DTYPES, accept_sparse="csr", reset=reset
        )
    if reset:
        record["image_shape_"] = resolved_image_shape(shape, X.shape[1], name)
        if "sequence_shape_" in record:
            record["sequence_shape_"] = resolved_sequence_shape(
                sequence, X.shape[1], name
            )
    return X, record


def _table_rows(estimator, X, reset: bool, record: dict, fitted: Mapping):
    chosen = estimator.categorical_features
    if isinstance(X, list | tuple) and not isinstance(chosen, str | None):
        X = np.asarray(X, dtype=object)
    if reset:
        named = None if isinstance(chosen, str | None) else categorical_mask(X, chosen)
        X = read_columns(X, keep=named)
        # Named columns keep their places: only 'from_dtype' reads the result.
        categorical = named if named is not None else categorical_mask(X, chosen)
    else:
        categorical = fitted["is_categorical_"]
        X = read_columns(X, keep=categorical)
    if (sp.issparse(X) or is_sparse_frame(X)) and not categorical.any():
        # Sparse input: numeric and complete (NaN is not a missing value
        # here), densified one batch at a time downstream.
        encoded = validate_data(
            estimator, X, dtype=FLOAT_DTYPES, accept_sparse="csr", reset=reset
        )
        if reset:
            record.update(
                column_encoder_=None, is_categorical_=categorical, heads_=None
            )
        return encoded
    encoder = None
    if categorical.any():
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        if reset:
            encoder = ColumnEncoder(categorical).fit(X)
        else:
            encoder = fitted["column_encoder_"]
        encoded = encoder.transform(X)
    else:
        encoded = validate_data(
            estimator,
            X,
            dtype=FLOAT_DTYPES,
            ensure_all_finite="allow-nan",
            reset=reset,
        )
    if reset:
        heads = None
        if categorical.any() or np.isnan(encoded).any():
            heads = ColumnHeads(_layout(encoder, encoded.shape[1]))
        record.update(column_encoder_=encoder, is_categorical_=categorical)
        record["heads_"] = heads
    structure = [
        what
        for what, key in (("pixels", "image_shape_"), ("steps", "sequence_shape_"))
        if fitted.get(key)
    ]
    if structure and (categorical.any() or np.isnan(encoded).any()):
        parameter = "image_shape" if structure[0] == "pixels" else "sequence_shape"
        raise ValueError(
            f"{type(estimator).__name__} with {parameter} needs numeric "
            f"{structure[0]} without missing values; this X has categorical "
            "columns or NaN."
        )
    check_observed_rows(encoded)
    return encoded


def scaler(scaling: str, heads, image_shape) -> Standardizer:
    """The unfitted map of a model that scales its input by ``scaling``.

    Tables with heads get a :class:`TableScaler`; images are scaled per
    channel (unless ``scaling`` is ``'none'`` or ``'maximum'``); other rows
    by ``scaling``,
    with missing entries at the mean.
    """
    if heads is not None:
        return TableScaler(scaling, len(heads.layout.numeric))
    if image_shape is None or scaling in ("none", "maximum"):
        return MissingAsMean(scaling)
    return MissingAsMean("channel", n_channels=image_shape[0])


def observed_mask(fitted: Mapping, X: np.ndarray) -> np.ndarray | None:
    """The training mask of observed entries (1), or None: all observed."""
    if fitted.get("heads_") is None:
        return None
    return np.isfinite(X).astype(X.dtype)


def as_input_space(estimator, X: np.ndarray, rng=None):
    """``X`` in the container ``set_output`` asks for, with input names;
    a table with categorical columns as a DataFrame (``rng`` draws them)."""
    encoder = getattr(estimator, "column_encoder_", None)
    if encoder is None:
        return output_container(estimator, X, input_feature_names(estimator))
    return encoder.inverse_transform(X, rng)


def table_heads(fitted: Mapping) -> ColumnHeads:
    """``heads_``, or the plain numeric heads of a complete numeric fit."""
    if fitted.get("heads_") is not None:
        return fitted["heads_"]
    width = fitted["preprocessor_"].mean_.shape[0]
    return ColumnHeads(_layout(fitted.get("column_encoder_"), width))


def _layout(encoder, width: int) -> ColumnLayout:
    """The encoder's column layout, or ``width`` numeric columns without one."""
    return ColumnLayout(np.arange(width)) if encoder is None else encoder.layout_


def needs_table_scoring(fitted: Mapping, X: np.ndarray) -> bool:
    """Whether ``X`` is scored entry by entry (heads, or missing entries)."""
    return fitted.get("heads_") is not None or bool(np.isnan(X).any())


def table_error(
    fitted: Mapping, X: np.ndarray, reconstruction: np.ndarray
) -> np.ndarray:
    """Per-row mean over observed columns of squared error (user units)
    and cross-entropy (categorical columns)."""
    mask = torch.from_numpy(np.isfinite(X).astype(np.float64))
    x = torch.from_numpy(np.nan_to_num(np.asarray(X, dtype=np.float64)))
    out = torch.from_numpy(np.asarray(reconstruction, dtype=np.float64))
    return table_heads(fitted).reconstruction_error(x, out, mask).numpy()


class ImputeMixin:
    """``impute``: missing entries filled by a fitted model of a table."""

    def impute(self, X, *, n_importance_samples: int = 1000):
        """Fill the missing entries of ``X``; observed entries are unchanged.

        Each missing entry gets the model's value given the row's observed
        entries (an autoencoder's reconstruction; a VAE's importance-weighted
        conditional mean, with ``n_importance_samples`` draws).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Data with NaN (or None) for missing entries, as given to ``fit``.
        n_importance_samples : int, default=1000
            Latent draws per row of a VAE's conditional mean.

        Returns
        -------
        X_filled : ndarray or DataFrame
            Same dtype as ``X`` (float64 for other dtypes); for a table with
            categorical columns, a DataFrame with the input's index, columns
            and dtypes (an object array when ``X`` was an array).

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> ae = AutoencoderTransformer(max_iter=5, random_state=0).fit(X)
        >>> filled = ae.impute([[np.nan, 0.5, 1.0]])
        >>> bool(np.isfinite(filled).all()), filled[0, 1:].tolist()
        (True, [0.5, 1.0])
        """
        check_is_fitted(self)
        encoded = validated_input(self, X, reset=False)[0]
        if sp.issparse(encoded):
            return encoded.copy()
        part = self._make_part(self.image_shape_)
        missing = np.isnan(encoded)
        rows = np.flatnonzero(missing.any(axis=1))
        if self.column_encoder_ is None:
            out = encoded.copy()
            if rows.size:
                fill = part.fill(vars(self), encoded[rows], n_importance_samples)
                out[rows] = np.where(missing[rows], fill, encoded[rows])
            return out
        frame = _as_frame(X)
        out = frame.copy()
        if rows.size:
            # Numbers in the user's units; each categorical column its most
            # probable category (the argmax of its block).
            fill = part.fill(vars(self), encoded[rows], n_importance_samples)
            filled = self.column_encoder_.inverse_transform(fill)
            for j in range(frame.shape[1]):
                gaps = frame.iloc[rows, j].isna().to_numpy()
                if gaps.any():
                    values = filled.iloc[np.flatnonzero(gaps), j].to_numpy()
                    out.iloc[rows[gaps], j] = values
        if isinstance(X, pd.DataFrame):
            return out
        return out.to_numpy(dtype=object)
