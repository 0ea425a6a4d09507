"""Model parts: one module per model family (see :mod:`skae._parts`)."""
