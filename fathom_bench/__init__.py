"""fathom_bench: reproducibility benchmark for FATHOM (Chen, Ning, Chai, Rangwala, IJCNN 2020)."""

from .numerics import pin_mkl

# before torch runs anything: one MKL code path on every x86-64 processor (numerics.py says why)
pin_mkl()

__version__ = "0.1.0"
