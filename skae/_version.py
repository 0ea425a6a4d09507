"""skae's version, in one place (saved with every fitted estimator)."""

__version__ = "0.2.0"
