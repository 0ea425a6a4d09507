"""skae benchmarks: every figure is a ratio against a reference run side by side."""
