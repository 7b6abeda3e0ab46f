"""Regenerate tests/golden/hormuz-sample.alerts.jsonl from a replay of the bundled sample.

Run it only after a change that is meant to alter alerts, and review `git diff` of the golden file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    out = ROOT / "tests" / "golden" / "hormuz-sample.alerts.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(ROOT / "examples" / "hormuz-sample.nmea.gz"),
         "--format", "jsonl"],
        capture_output=True, check=True,
    )
    out.write_bytes(r.stdout)
    print(f"{out.relative_to(ROOT)}: {len(r.stdout.splitlines())} alerts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
