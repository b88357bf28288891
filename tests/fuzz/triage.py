"""Triage aid (not a test): summarise a ``DCEMETS_FUZZ_LOG`` file, one line per defect case.

Usage: ``DCEMETS_FUZZ_LOG=/tmp/fuzz.log python -m pytest tests/fuzz; python -m tests.fuzz.triage /tmp/fuzz.log``
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def main(path: str) -> None:
    by_case: dict[str, dict[str, str]] = defaultdict(dict)
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        by_case[r["label"]].setdefault(r["kind"], r["detail"])
    for label, kinds in sorted(by_case.items()):
        bad = {k: v for k, v in kinds.items() if k not in ("clear_error", "documented_result")}
        for k, v in bad.items():
            print(f"{label} | {k} | {v[:160]}".replace("\n", " "))


if __name__ == "__main__":
    main(sys.argv[1])
