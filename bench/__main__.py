"""``make bench``: every benchmark, each printing its rate against a raw baseline measured
in the same run, and the ratio with its target.

Benchmarks are the modules ``bench/bench_*.py``; each has ``main(argv: list[str]) -> int``.
``python -m bench NAME ...`` runs only the named ones (``ingest``, ``metrics``, ...).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = argv or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    status = 0
    for name in chosen:
        print(f"== bench {name}", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        status |= module.main([])
    return status


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))
