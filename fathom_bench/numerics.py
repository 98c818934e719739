"""One MKL code path on every x86-64 processor, so a seed trains to bit-identical results anywhere.

MKL chooses its kernels by processor: on an AVX-512 Intel Xeon it takes AVX-512 GEMM kernels that
add in another order than the AVX2 kernels it takes on AMD processors and older Intels, and the same
seed trains to other weights (measured: FitRec M-LSTM at the quick budget, seed 0, test MAE 11.0078
on an AVX-512 Intel Xeon against the reference's 10.9297; with MKL_CBWR=AVX2 the Xeon gives 10.9297,
and the CI check's 80 metrics all match). MKL's Conditional Numerical Reproducibility setting
(`MKL_CBWR`) fixes the code path for any processor with AVX2. MKL reads it once, when its first
routine runs, so `fathom_bench/__init__.py` sets it on import, before torch runs anything; a user's
own `MKL_CBWR` is kept, and a process that ran MKL before importing fathom_bench keeps MKL's own
choice. `mkl_branch()` says which path is in force; every CPU record holds it. MKL grants the AVX2
path on Intel processors; on an AMD EPYC it answers AUTO (`pin_in_force`), with the same numbers.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

#: the MKL code path every run takes (x86-64 processors without AVX2 predate 2013)
MKL_BRANCH = "AVX2"
ENV = "MKL_CBWR"

# mkl_cbwr.h: what mkl_cbwr_get(MKL_CBWR_BRANCH) returns
_BRANCHES = {1: "off", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2", 9: "AVX",
             10: "AVX2", 11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1"}


def pin_mkl() -> None:
    """Ask MKL for MKL_BRANCH unless the environment already names a path (effective before MKL's first call)."""
    os.environ.setdefault(ENV, MKL_BRANCH)


def mkl_branch() -> str | None:
    """The MKL code path in force in this process ("AVX2", "off": MKL chooses by processor), or None
    where torch has no MKL (not x86-64) or does not export MKL's service functions."""
    import torch

    if not torch.backends.mkl.is_available():
        return None
    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        get = lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    code = get(1)  # MKL_CBWR_BRANCH
    return _BRANCHES.get(code & 0xFFFF, str(code)) + (",STRICT" if code & 0x10000 else "")


def pin_in_force(branch: str | None, vendor: str | None = None) -> bool:
    """Whether MKL runs with the pin, given its `mkl_branch()`: MKL_BRANCH; on a processor not made by
    Intel also AUTO (CNR on, MKL's own path), which MKL answers there to an instruction-set request
    (measured on an AMD EPYC with AVX-512: AVX2 and AVX512 both gave AUTO, COMPATIBLE was granted;
    under AUTO the CI check's 80 real-data metrics matched the Intel AVX2 reference bit for bit)."""
    intel = (vendor if vendor is not None else (cpu_model() or "")).startswith("GenuineIntel")
    return branch == MKL_BRANCH or (branch == "AUTO" and not intel)


def cpu_model() -> str | None:
    """The processor's vendor and model name (Linux), for the record."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    found = {k.strip(): v.strip() for k, v in fields.items()}
    parts = [found.get("vendor_id"), found.get("model name")]
    return " ".join(p for p in parts if p) or None
