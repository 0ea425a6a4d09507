"""skae: autoencoders, VAEs and Real NVP flows as scikit-learn estimators."""

__version__ = "0.1.0"

__all__ = ["__version__"]
