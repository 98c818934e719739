"""fathom_bench: reproducibility benchmark for FATHOM (Chen, Ning, Chai, Rangwala, IJCNN 2020)."""

__version__ = "0.1.0"
