"""The HTML leaderboard in a real headless browser (Debian's chromium): the tables and every image render.

Skipped with its reason only where chromium is absent and this is not CI; in CI (CI=true) a
missing chromium fails (`.ci/run` installs it). Chromium is started without remote debugging or
any listening port, on file:// pages only, and each run ends (or is killed) within its timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from records_factory import grid, small_table_config, write_runs

from fathom_bench import leaderboard as lb

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
PROBE = ('<script>window.addEventListener("load", () => document.body.setAttribute("data-images", '
         '[...document.images].map(i => i.complete ? i.naturalWidth : -1).join(",")));</script></body>')


@pytest.fixture
def chromium():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed in CI: .ci/run must install it (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install --no-install-recommends chromium); runs in CI")
    return CHROMIUM


def _run(chromium, tmp_path, *args) -> str:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_html_leaderboard_renders_tables_and_images_in_chromium(chromium, tmp_path):
    spec = {("extrasensory", "fathom"): {"f1": 0.80, "ba": 0.85}, ("extrasensory", "lr"): {"f1": 0.60, "ba": 0.70},
            ("extrasensory", "m_lstm"): {"f1": 0.70, "ba": 0.80}, ("extrasensory", "persistence"): {"f1": 0.5, "ba": 0.6}}
    df = lb.build_leaderboard(write_runs(tmp_path / "runs", grid(spec, range(10))), "corrected", small_table_config())
    out = tmp_path / "board"
    lb.write_leaderboard(df, out, formats=["html"])
    page = out / "leaderboard.html"
    probe = out / "probe.html"  # the same page plus a script that reports each image's decoded width
    probe.write_text(page.read_text().replace("</body>", PROBE))
    dom = _run(chromium, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert dom.count("<table") == 3  # overall, ExtraSensory F1, ExtraSensory BA
    assert "FATHOM" in dom and "Persistence (not in the paper)" in dom
    widths = re.search(r'data-images="([^"]*)"', dom)
    assert widths, "the page's load event never fired"
    widths = [int(w) for w in widths.group(1).split(",")]
    assert len(widths) == 3 and all(w > 100 for w in widths), widths  # CD diagram + 2 columns, all decoded

    shot = tmp_path / "shot.png"
    _run(chromium, tmp_path, "--hide-scrollbars", "--window-size=1000,1400", f"--screenshot={shot}", page.as_uri())
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    ink = np.mean(np.any(pixels < 0.9, axis=-1))
    assert pixels.shape[:2] == (1400, 1000) and ink > 0.02 and pixels.std() > 0.05, (ink, pixels.std())
