"""The engine: the primitive table, programs, the forward and reverse sweeps, derivative programs and nan diagnostics."""
