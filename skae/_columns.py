"""Tables in, tables out: numeric and one-hot blocks, an observed mask, and back.

:class:`ColumnEncoder` turns a table (a pandas DataFrame, or an array with
``categorical_features`` given by index) into the float matrix a network
reads: the numeric columns first, in their order, then one one-hot block per
categorical column (its categories, in their order).  A missing entry (NaN,
``None``, ``pd.NA``) stays NaN in every column it occupies; the observed
mask is ``~isnan``.  :meth:`ColumnEncoder.inverse_transform` maps model rows
back to a DataFrame with the original columns and dtypes: numeric columns
as decoded (rounded for integer and boolean columns), each categorical
column the category of largest decoder output (``rng=None``) or a draw from
the softmax of its block.

Which columns are categorical follows
:class:`~sklearn.ensemble.HistGradientBoostingRegressor`:
``categorical_features="from_dtype"`` picks a DataFrame's ``category``,
``object``, ``string`` and ``bool`` columns (an ndarray has none); column
names, indices or a boolean mask pick them explicitly; ``None`` picks none.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes


@dataclass(frozen=True)
class ColumnLayout:
    """Where each input column lives in a model row.

    Parameters
    ----------
    numeric : ndarray of int
        Model-row positions of the numeric columns (``0 .. n_numeric - 1``).
    blocks : tuple of slice
        Model-row slice of each categorical column's one-hot block.
    """

    numeric: np.ndarray
    blocks: tuple[slice, ...] = ()

    @property
    def width(self) -> int:
        """Width of a model row."""
        return self.blocks[-1].stop if self.blocks else len(self.numeric)

    @property
    def n_columns(self) -> int:
        """Number of input columns (a one-hot block counts as one)."""
        return len(self.numeric) + len(self.blocks)


def plain_layout(layout: ColumnLayout) -> dict:
    """``layout`` as plain values (what :mod:`skops.io` can store)."""
    blocks = [[block.start, block.stop] for block in layout.blocks]
    return {"numeric": np.asarray(layout.numeric), "blocks": blocks}


def restored_layout(plain: dict) -> ColumnLayout:
    """The :class:`ColumnLayout` that :func:`plain_layout` gave ``plain``."""
    blocks = tuple(slice(int(a), int(b)) for a, b in plain["blocks"])
    return ColumnLayout(np.asarray(plain["numeric"]), blocks)


# A categorical column with more categories than this and than half its
# observed rows draws a warning (identifiers, timestamps, free text).
_FEW_CATEGORIES = 20


def _is_categorical_dtype(dtype) -> bool:
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or ptypes.is_object_dtype(dtype)
        or ptypes.is_string_dtype(dtype)
        or ptypes.is_bool_dtype(dtype)
    )


def categorical_mask(X, categorical_features) -> np.ndarray:
    """Boolean mask of the categorical columns of ``X``.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
    categorical_features : 'from_dtype', None, or array-like
        As the estimators' parameter: ``'from_dtype'``, ``None``, column
        names (DataFrame only), integer indices or a boolean mask.

    Returns
    -------
    mask : ndarray of bool of shape (n_features,)

    Examples
    --------
    >>> import pandas as pd
    >>> from skae._columns import categorical_mask
    >>> frame = pd.DataFrame({"age": [30, 41], "sex": ["f", "m"]})
    >>> categorical_mask(frame, "from_dtype")
    array([False,  True])
    >>> categorical_mask(frame, ["age"])
    array([ True, False])
    """
    is_frame = isinstance(X, pd.DataFrame)
    n_features = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else 0
    mask = np.zeros(n_features, dtype=bool)
    if categorical_features is None:
        return mask
    if isinstance(categorical_features, str):
        if categorical_features != "from_dtype":
            raise ValueError(
                "categorical_features must be 'from_dtype', None, column names, "
                f"indices or a boolean mask, got {categorical_features!r}."
            )
        if is_frame:
            mask[:] = [_is_categorical_dtype(dtype) for dtype in X.dtypes]
        return mask
    chosen = np.asarray(categorical_features)
    if chosen.dtype == bool:
        if chosen.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask needs {n_features} "
                f"entries (one per column), got {chosen.shape[0]}."
            )
        return chosen.copy()
    if chosen.dtype.kind in "OUS":
        if not is_frame:
            raise ValueError(
                "categorical_features names columns, but X has no column names; "
                "pass a DataFrame or give integer indices."
            )
        names = list(map(str, X.columns))
        unknown = [name for name in chosen if str(name) not in names]
        if unknown:
            raise ValueError(
                f"categorical_features names columns that X does not have: {unknown}."
            )
        mask[[names.index(str(name)) for name in chosen]] = True
        return mask
    if chosen.dtype.kind not in "iu" or chosen.ndim != 1:
        raise ValueError(
            "categorical_features must be 'from_dtype', None, column names, "
            f"indices or a boolean mask, got {categorical_features!r}."
        )
    if chosen.size and (chosen.min() < -n_features or chosen.max() >= n_features):
        raise ValueError(
            f"categorical_features has indices outside [0, {n_features}): "
            f"{chosen.tolist()}."
        )
    mask[chosen] = True
    return mask


def _is_sparse_column(dtype) -> bool:
    return isinstance(dtype, pd.SparseDtype)


def is_sparse_frame(X) -> bool:
    """Whether ``X`` is a DataFrame of numeric sparse columns, all filled with 0
    (read as a sparse matrix, as scikit-learn reads it)."""
    return (
        isinstance(X, pd.DataFrame)
        and X.shape[1] > 0
        and all(
            _is_sparse_column(dtype)
            and ptypes.is_numeric_dtype(dtype.subtype)
            and dtype.fill_value == 0
            for dtype in X.dtypes
        )
    )


def _holds_numbers(column: pd.Series) -> bool:
    """Whether an object or string column's observed values are all numbers
    (``"2.5"``, ``3``), none of them booleans."""
    if isinstance(column.dtype, pd.CategoricalDtype) or not (
        ptypes.is_object_dtype(column.dtype) or ptypes.is_string_dtype(column.dtype)
    ):
        return False
    observed = column.dropna()
    if observed.empty or any(isinstance(v, bool | np.bool_) for v in observed):
        return False
    return bool(pd.to_numeric(observed, errors="coerce").notna().all())


def read_columns(X, keep=None):
    """``X`` under the one column policy of every estimator.

    A DataFrame's sparse columns become dense (a frame whose every column is
    numeric, sparse and filled with 0 stays as it is: it is read as a sparse
    matrix), and an object or string column whose observed values are all
    numbers (``"2.5"``) becomes a float column.  Columns where ``keep`` (a
    boolean mask) is True are left as they are: the categorical columns a
    user named, or those of a fitted model.  Other inputs are returned as
    they are.  See docs/guide.md#tables-with-categories-and-missing-values.

    Examples
    --------
    >>> import pandas as pd
    >>> from skae._columns import read_columns
    >>> frame = pd.DataFrame({"n": ["1.5", "2", None], "s": ["a", "b", "a"]})
    >>> read_columns(frame)["n"].tolist()
    [1.5, 2.0, nan]
    """
    if not isinstance(X, pd.DataFrame) or is_sparse_frame(X):
        return X
    if keep is not None and len(keep) != X.shape[1]:
        return X  # the width check names the problem
    changed = {}
    for j in range(X.shape[1]):
        if keep is not None and keep[j]:
            continue
        column = X.iloc[:, j]
        if _is_sparse_column(column.dtype):
            column = column.sparse.to_dense()
            changed[j] = column
        if _holds_numbers(column):
            changed[j] = pd.to_numeric(column, errors="coerce").astype(np.float64)
    if not changed:
        return X
    columns = [changed.get(j, X.iloc[:, j]) for j in range(X.shape[1])]
    frame = pd.concat(columns, axis=1, ignore_index=True)
    frame.columns, frame.index = X.columns, X.index
    return frame


def _as_frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    array = np.asarray(X, dtype=object)
    if array.ndim != 2:
        raise ValueError(f"Expected a 2D table, got an array of shape {array.shape}.")
    return pd.DataFrame(array)


def _numeric_column(series: pd.Series, name) -> np.ndarray:
    try:
        return pd.to_numeric(series, errors="raise").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    except (TypeError, ValueError) as error:
        values = series.dropna()
        bad = values[pd.to_numeric(values, errors="coerce").isna()]
        example = bad.iloc[0] if len(bad) else series.iloc[0]
        raise ValueError(
            f"Column {name!r} holds non-numeric values such as {example!r}. "
            "Give it a 'category' dtype or list it in categorical_features."
        ) from error


class ColumnEncoder:
    """One-hot blocks for categorical columns, numeric columns as floats, and back.

    Parameters
    ----------
    categorical : ndarray of bool of shape (n_features,)
        Which columns are categorical (see :func:`categorical_mask`).

    Attributes
    ----------
    layout_ : ColumnLayout
        Where each column lives in an encoded row.
    categories_ : list of ndarray
        Categories of each categorical column, in block order: a
        ``category`` dtype's categories (all of them, in their order, seen in
        training or not), else the values seen in training, sorted.
    columns_ : list
        The input's column labels.
    dtypes_ : list
        The input's column dtypes (restored by :meth:`inverse_transform`).

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skae._columns import ColumnEncoder, categorical_mask
    >>> frame = pd.DataFrame({"age": [30.0, np.nan, 52.0], "sex": ["f", "m", None]})
    >>> encoder = ColumnEncoder(categorical_mask(frame, "from_dtype")).fit(frame)
    >>> encoder.transform(frame)
    array([[30.,  1.,  0.],
           [nan,  0.,  1.],
           [52., nan, nan]])
    >>> encoder.inverse_transform(np.array([[40.0, 0.2, 0.9]]))
        age sex
    0  40.0   m
    """

    def __init__(self, categorical: np.ndarray) -> None:
        self.categorical = np.asarray(categorical, dtype=bool)

    def fit(self, X) -> "ColumnEncoder":
        """Learn the columns, their dtypes and the categories seen in ``X``."""
        frame = _as_frame(X)
        self.columns_ = list(frame.columns)
        self.dtypes_ = list(frame.dtypes)
        numeric = np.flatnonzero(~self.categorical)
        for j in numeric:
            _numeric_column(frame.iloc[:, j], self.columns_[j])
        self.categories_ = []
        for j in np.flatnonzero(self.categorical):
            column = frame.iloc[:, j]
            seen = pd.unique(column.dropna())
            if seen.size == 0:
                raise ValueError(
                    f"Categorical column {self.columns_[j]!r} has no observed value."
                )
            dtype = self.dtypes_[j]
            if isinstance(dtype, pd.CategoricalDtype):
                # Declared categories are known ones, seen in training or not.
                seen = np.asarray(dtype.categories)
            else:
                seen = _categories(sorted(seen, key=lambda v: (str(type(v)), v)))
            if seen.size > max(_FEW_CATEGORIES, column.notna().sum() // 2):
                warnings.warn(
                    f"Categorical column {self.columns_[j]!r} has {seen.size} "
                    f"categories for {column.notna().sum()} observed rows, as an "
                    "identifier, a timestamp or free text would; its one-hot "
                    "block makes the model slow and teaches it little. Drop the "
                    "column, or give it a numeric dtype if it is a number.",
                    UserWarning,
                    stacklevel=2,
                )
            self.categories_.append(seen)
        stops = len(numeric) + np.cumsum([len(c) for c in self.categories_])
        starts = stops - [len(c) for c in self.categories_]
        self.layout_ = ColumnLayout(
            np.arange(len(numeric)),
            tuple(slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)),
        )
        return self

    def __getstate__(self) -> dict:
        """Plain Python and NumPy values (what :mod:`skops.io` can store)."""
        state = dict(self.__dict__)
        if "dtypes_" in state:
            state["dtypes_"] = [_plain_dtype(dtype) for dtype in state["dtypes_"]]
            state["categories_"] = [_plain_array(c) for c in state["categories_"]]
            state["layout_"] = plain_layout(state["layout_"])
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "dtypes_" in state:
            state["dtypes_"] = [_restored_dtype(dtype) for dtype in state["dtypes_"]]
            state["categories_"] = [_restored_array(c) for c in state["categories_"]]
            state["layout_"] = restored_layout(state["layout_"])
        self.__dict__.update(state)

    def transform(self, X) -> np.ndarray:
        """Encoded float64 rows; NaN marks every column of a missing entry."""
        frame = _as_frame(X)
        out = np.full((frame.shape[0], self.layout_.width), np.nan)
        numeric = np.flatnonzero(~self.categorical)
        for position, j in enumerate(numeric):
            out[:, position] = _numeric_column(frame.iloc[:, j], self.columns_[j])
        for j, block, categories in zip(
            np.flatnonzero(self.categorical),
            self.layout_.blocks,
            self.categories_,
            strict=True,
        ):
            column = frame.iloc[:, j]
            missing = column.isna().to_numpy()
            codes = pd.Index(categories).get_indexer(column.astype(object))
            unknown = (codes < 0) & ~missing
            if unknown.any():
                values = pd.unique(column[unknown])[:5].tolist()
                raise ValueError(
                    f"Column {self.columns_[j]!r} has categories not seen in fit: "
                    f"{values}; known categories: {categories.tolist()}."
                )
            onehot = np.zeros((len(column), len(categories)))
            onehot[np.flatnonzero(~missing), codes[~missing]] = 1.0
            onehot[missing] = np.nan
            out[:, block] = onehot
        return out

    def inverse_transform(self, X_encoded: np.ndarray, rng=None) -> pd.DataFrame:
        """A DataFrame with the input's columns and dtypes from encoded rows.

        Parameters
        ----------
        X_encoded : ndarray of shape (n_samples, layout_.width)
            Numeric values in the user's units, then each block's decoder
            outputs (logits, or any score whose argmax is the category).
        rng : numpy.random.RandomState or None, default=None
            None: each categorical column is the argmax of its block.  A
            generator: a draw from the softmax of the block.
        """
        n_samples = X_encoded.shape[0]
        columns: dict = {}
        numeric = np.flatnonzero(~self.categorical)
        for position, j in enumerate(numeric):
            columns[j] = _restored_numeric(X_encoded[:, position], self.dtypes_[j])
        for j, block, categories in zip(
            np.flatnonzero(self.categorical),
            self.layout_.blocks,
            self.categories_,
            strict=True,
        ):
            scores = np.asarray(X_encoded[:, block], dtype=np.float64)
            if rng is None:
                codes = np.argmax(scores, axis=1)
            else:
                codes = _softmax_draws(scores, rng)
            values = categories[codes]
            columns[j] = pd.Series(values).astype(self.dtypes_[j]).to_numpy()
        frame = pd.DataFrame(
            {self.columns_[j]: columns[j] for j in range(len(self.columns_))},
            index=pd.RangeIndex(n_samples),
        )
        return frame.astype(dict(zip(self.columns_, self.dtypes_, strict=True)))


def _plain_array(values) -> dict:
    values = np.asarray(values)
    return {"values": values.tolist(), "dtype": values.dtype.str}


def _restored_array(plain: dict) -> np.ndarray:
    dtype = np.dtype(plain["dtype"])
    if dtype.kind != "O":
        return np.asarray(plain["values"], dtype=dtype)
    array = np.empty(len(plain["values"]), dtype=object)
    array[:] = plain["values"]
    return array


def _plain_dtype(dtype) -> dict:
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "name": "category",
            "categories": _plain_array(dtype.categories),
            "ordered": bool(dtype.ordered),
        }
    return {"name": str(dtype)}


def _restored_dtype(plain: dict):
    if plain["name"] == "category":
        return pd.CategoricalDtype(
            _restored_array(plain["categories"]), ordered=plain["ordered"]
        )
    return pd.api.types.pandas_dtype(plain["name"])


def _categories(values: list) -> np.ndarray:
    """``values`` as an array; an object array when they are not all strings
    (numpy would turn ``[1, "a"]`` into the strings ``['1', 'a']``)."""
    array = np.asarray(values)
    if array.dtype.kind in "US" and not all(isinstance(v, str) for v in values):
        array = np.empty(len(values), dtype=object)
        array[:] = values
    return array


def _restored_numeric(values: np.ndarray, dtype) -> np.ndarray:
    if ptypes.is_integer_dtype(dtype):
        return np.rint(values).astype(np.int64)
    return values


def _softmax_draws(scores: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """One category per row, drawn from ``softmax(scores)`` (Gumbel-max)."""
    gumbel = -np.log(-np.log(rng.random_sample(scores.shape)))
    return np.argmax(scores + gumbel, axis=1)


def with_declared_categories(X):
    """``X`` with each categorical column (``'from_dtype'``, after
    :func:`read_columns`) given a ``category`` dtype of the values it holds,
    so that a model fitted on some of its rows knows every category.

    Examples
    --------
    >>> import pandas as pd
    >>> from skae._columns import with_declared_categories
    >>> frame = with_declared_categories(pd.DataFrame({"s": ["b", "a", "b"]}))
    >>> frame["s"].cat.categories.tolist()
    ['a', 'b']
    """
    X = read_columns(X)
    if not isinstance(X, pd.DataFrame):
        return X
    categorical = np.flatnonzero(categorical_mask(X, "from_dtype"))
    frame = X.copy() if categorical.size else X
    for j in categorical:
        column = X.iloc[:, j]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            values = pd.unique(column.dropna())
            categories = _categories(sorted(values, key=lambda v: (str(type(v)), v)))
            frame.isetitem(j, column.astype(pd.CategoricalDtype(categories)))
    return frame


def check_numeric_and_complete(X, estimator_name: str) -> None:
    """Raise a ValueError naming the categorical or missing columns of ``X``.

    For estimators that take complete numeric tables only; ``X`` that is
    neither a DataFrame nor a float ndarray is left to the generic checks.
    """
    if isinstance(X, pd.DataFrame):
        # By position: column names may be numbers or repeated.
        columns = [X.iloc[:, j] for j in range(X.shape[1])]
        names = [str(c) for c in X.columns]
        categorical = [
            name
            for name, column in zip(names, columns, strict=True)
            if _is_categorical_dtype(column.dtype)
            and not ptypes.is_bool_dtype(column.dtype)
            and pd.to_numeric(column, errors="coerce").isna().sum()
            > column.isna().sum()
        ]
        if categorical:
            raise ValueError(
                f"{estimator_name} takes numeric columns only, but column(s) "
                f"{categorical} are categorical (non-numeric). One-hot encode "
                "them, or use VAE, AutoencoderTransformer or DenoisingAE, which "
                "take categorical columns."
            )
        missing = [
            name
            for name, column in zip(names, columns, strict=True)
            if column.isna().any()
        ]
    elif isinstance(X, np.ndarray) and X.dtype.kind == "f" and X.ndim == 2:
        missing = np.flatnonzero(np.isnan(X).any(axis=0)).tolist()
    else:
        return
    if missing:
        raise ValueError(
            f"Input X contains NaN: {estimator_name} cannot take missing values, "
            f"found in column(s) {missing[:10]}. Fill them first, e.g. with "
            "skae.AutoencoderImputer, or use VAE, which takes missing values."
        )
