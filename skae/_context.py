"""The conditioning input ``y`` of a conditional model, encoded for the network.

A model part that declares a context (:meth:`skae._parts.ModelPart.context`)
gets ``y`` from ``fit(X, y)``, ``transform(X, y)``, ``score_samples(X, y)``
and ``sample(n, y=...)`` through a :class:`ContextEncoder`, fitted on the
training rows of the one split: class labels become one-hot rows, numeric
covariates are standardised.
"""

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _num_samples


class ContextEncoder:
    """One-hot class labels or standardised numeric covariates.

    Parameters
    ----------
    kind : {'auto', 'labels', 'numeric'}, default='auto'
        ``'auto'``: a 1-D ``y`` of a classification target type (binary or
        multiclass, as :func:`sklearn.utils.multiclass.type_of_target` says)
        is labels, anything else numeric.

    Attributes
    ----------
    classes_ : ndarray or None
        The labels (for ``'labels'``).
    mean_, scale_ : ndarray or None
        The covariates' mean and standard deviation (for ``'numeric'``).
    n_context_ : int
        Width of an encoded row.

    Examples
    --------
    >>> from skae._context import ContextEncoder
    >>> ContextEncoder().fit(["a", "b", "a"]).transform(["b"]).tolist()
    [[0.0, 1.0]]
    >>> ContextEncoder().fit([[1.0], [3.0]]).transform([[2.0]]).tolist()
    [[0.0]]
    """

    def __init__(self, kind: str = "auto") -> None:
        self.kind = kind

    def _is_labels(self, y) -> bool:
        if self.kind != "auto":
            return self.kind == "labels"
        y = np.asarray(y)
        return y.ndim == 1 and type_of_target(y) in ("binary", "multiclass")

    def fit(self, y) -> "ContextEncoder":
        """Learn the labels, or the covariates' mean and scale."""
        if y is None:
            raise ValueError("This model is conditional: fit needs y (its context).")
        self.classes_ = self.mean_ = self.scale_ = None
        if self._is_labels(y):
            self.binarizer_ = LabelBinarizer().fit(column_or_1d(y))
            self.classes_ = self.binarizer_.classes_
            self.n_context_ = max(len(self.classes_), 2)
            return self
        values = self._numeric(y)
        self.mean_ = values.mean(axis=0)
        std = values.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self.n_context_ = values.shape[1]
        return self

    @staticmethod
    def _numeric(y) -> np.ndarray:
        values = check_array(y, ensure_2d=False, dtype=np.float64)
        return values.reshape(-1, 1) if values.ndim == 1 else values

    def transform(self, y) -> np.ndarray:
        """Encoded rows of shape ``(n, n_context_)``, float64."""
        if y is None:
            raise ValueError("This model is conditional: pass y (its context).")
        if self.classes_ is None:
            values = self._numeric(y)
            if values.shape[1] != self.n_context_:
                raise ValueError(
                    f"y has {values.shape[1]} columns; the model was fitted "
                    f"with {self.n_context_}."
                )
            return (values - self.mean_) / self.scale_
        y = column_or_1d(y)
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(
                f"y has labels not seen in fit: {unseen[:10].tolist()}; known "
                f"labels: {self.classes_.tolist()}."
            )
        onehot = self.binarizer_.transform(y).astype(np.float64)
        if len(self.classes_) <= 2:  # one column, all 0 for a single class
            onehot = np.hstack([1.0 - onehot, onehot])
        return onehot


def fitted_encoder(encoder: ContextEncoder, y, train, n_samples: int):
    """``encoder`` fitted on the training rows' ``y`` (one row per row of X)."""
    if y is None:
        raise ValueError(
            "This model is conditional: fit needs y (its context); it requires y "
            "to be passed, but the target y is None."
        )
    if _num_samples(y) != n_samples:
        raise ValueError(
            f"This model is conditional: fit needs y with one row per row of X "
            f"({n_samples}), got {_num_samples(y)}."
        )
    return encoder.fit(y if len(train) == n_samples else np.asarray(y)[train])


def encoded_context(encoder, y, n_rows: int) -> np.ndarray | None:
    """``y`` encoded by a fitted ``encoder`` (None: no context)."""
    if encoder is None:
        return None
    context = encoder.transform(y)
    if context.shape[0] != n_rows:
        raise ValueError(f"y has {context.shape[0]} rows, but {n_rows} are needed.")
    return context
