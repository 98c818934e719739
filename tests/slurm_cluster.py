"""The `slurm_cluster` fixture: a SLURM cluster that answers, started with scripts/slurm-local.sh
(and stopped after, every daemon it started) when none does."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm-local.sh"


def _answers(conf: str | None) -> bool:
    if shutil.which("sinfo") is None:
        return False
    env = {**os.environ, **({"SLURM_CONF": conf} if conf else {})}
    try:
        res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, env=env)
    except subprocess.TimeoutExpired:
        return False
    return res.returncode == 0 and any(s.startswith(("idle", "mixed", "alloc")) for s in res.stdout.split())


@pytest.fixture(scope="session")
def slurm_cluster():
    """SLURM_CONF of a cluster that answers; started here (and stopped after) when none does."""
    script_conf = Path(os.environ.get("FATHOM_SLURM_DIR", "/tmp/fathom-bench-slurm")) / "slurm.conf"
    for conf in (os.environ.get("SLURM_CONF"), str(script_conf) if script_conf.is_file() else None):
        if conf and _answers(conf):
            os.environ["SLURM_CONF"] = conf
            yield conf
            return
    state = Path(tempfile.mkdtemp(prefix="fathom-slurm-"))
    state.chmod(0o755)  # munged (user munge) must reach its socket folder inside
    env = {**os.environ, "FATHOM_SLURM_DIR": str(state)}
    res = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env, timeout=600)
    if res.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True)
        pytest.skip(f"no SLURM cluster: {res.stderr.strip().splitlines()[-1:]}")
    conf = str(state / "slurm.conf")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)
