"""Shared pytest configuration."""

import os

# The CI machine has 2 cores; keep BLAS/OpenMP from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
