"""MKL's code path is pinned (numerics.py): records replay bit-identically on Intel and AMD processors
(AMD EPYC: MKL answers the pin with AUTO; the CI real-data check matched the Intel reference there)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from fathom_bench.numerics import ENV, MKL_BRANCH, mkl_branch, pin_in_force

needs_mkl = pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="torch without MKL (not x86-64)")


def _branch_in_fresh_python(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _env_without_pin() -> dict:
    return {k: v for k, v in os.environ.items() if k != ENV}


@needs_mkl
def test_importing_fathom_bench_pins_mkl_before_torch_runs():
    code = ("import fathom_bench, torch; torch.randn(64, 64) @ torch.randn(64, 64); "
            "from fathom_bench.numerics import mkl_branch; print(mkl_branch())")
    assert pin_in_force(_branch_in_fresh_python(code, _env_without_pin()))


@needs_mkl
def test_the_pin_is_too_late_once_mkl_has_run_and_the_record_says_so():
    # what every record's device.mkl_cbwr guards against: MKL reads MKL_CBWR once, at its first call
    code = ("import torch; torch.randn(64, 64) @ torch.randn(64, 64); import fathom_bench; "
            "from fathom_bench.numerics import mkl_branch; print(mkl_branch())")
    assert _branch_in_fresh_python(code, _env_without_pin()) == "off"


@needs_mkl
def test_a_user_setting_is_kept():
    code = "import fathom_bench, os; from fathom_bench.numerics import mkl_branch; print(os.environ['MKL_CBWR'], mkl_branch())"
    assert _branch_in_fresh_python(code, {**_env_without_pin(), ENV: "COMPATIBLE"}) == "COMPATIBLE COMPATIBLE"


@needs_mkl
def test_this_process_runs_the_pinned_path():
    assert os.environ[ENV] == MKL_BRANCH and pin_in_force(mkl_branch())


def test_the_pin_is_the_avx2_path_on_intel_and_mkl_s_own_elsewhere():
    """MKL answers an AVX2 request with AUTO on an AMD EPYC (measured); on Intel only AVX2 will do, and
    "off" (MKL never read the pin) fails everywhere."""
    assert pin_in_force("AVX2", "GenuineIntel Intel(R) Xeon(R)") and not pin_in_force("AUTO", "GenuineIntel Intel(R) Xeon(R)")
    assert pin_in_force("AUTO", "AuthenticAMD AMD EPYC") and pin_in_force("AVX2", "AuthenticAMD AMD EPYC")
    assert not any(pin_in_force("off", v) for v in ("GenuineIntel", "AuthenticAMD", ""))
