"""Regenerate the golden files of tests/golden/ after an intended change of the table output.

    python -m tests.regen_golden        (from the repository root)

Review the diff (`git diff tests/golden/`) before committing: every change there is a change of
what researchers read in Table III and the leaderboard.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from records_factory import golden_outputs  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        texts = golden_outputs(Path(tmp))
    folder = HERE / "golden"
    folder.mkdir(exist_ok=True)
    for name, text in sorted(texts.items()):
        (folder / name).write_text(text)
        print(f"wrote {folder / name}")


if __name__ == "__main__":
    main()
