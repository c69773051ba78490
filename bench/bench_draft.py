"""How much of a mapping `lienthong adapters new --sample` drafts right, on the bundled adapters.

For each bundled adapter the finished mapping is set aside: the draft is made from its XSD's
document element and its first fixture, then compared with the mapping target by target. Prints
the share of mapped fields proposed with the right legacy path, and what was wrong or missed.
Run: .venv/bin/python bench/bench_draft.py [--verbose]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.adapters.draft_sample import draft_for_adapter  # noqa: E402


def main() -> int:
    verbose = "--verbose" in sys.argv
    right = total = 0
    for folder in sorted((ROOT / "adapters").iterdir()):
        if not (folder / "adapter.toml").exists():
            continue
        score, sample = draft_for_adapter(folder)
        right += len(score.right)
        total += score.total
        print(f"{folder.name:18} {len(score.right):3}/{score.total:<3} = {score.share:5.1%}  (sample {sample.name})")
        if verbose:
            for w in score.wrong:
                print(f"    wrong:  {w}")
            for m in score.missed:
                print(f"    missed: {m}")
            for e in score.extra:
                print(f"    extra:  {e}")
    print(f"all bundled adapters: {right}/{total} = {right / total:.1%} of mapped fields proposed correctly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
