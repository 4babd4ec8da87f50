"""``make bench``: every benchmark, each printing its rate against a raw baseline measured
in the same run, and the ratio with its target.

Benchmarks are the modules ``bench/bench_*.py``; each has ``main(argv: list[str]) -> int``.
``python -m bench NAME ...`` runs only the named ones (``ingest``, ``metrics``, ...), each
in a process of its own; ``python -m bench NAME ARG ...`` runs one with its own arguments
(e.g. ``python -m bench ingest --events 400000``, ``python -m bench gate 50000``,
``python -m bench recompute --days 60``). The exit
status is non-zero when a benchmark missed its target.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv and argv[0] in names and len(argv) > 1 and not set(argv[1:]) <= set(names):
        chosen, arguments = argv[:1], argv[1:]  # one benchmark and its own arguments
    else:
        chosen, arguments = argv or names, []
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    if len(chosen) == 1:
        print(f"== bench {chosen[0]}", flush=True)
        return importlib.import_module(f"bench.bench_{chosen[0]}").main(arguments)
    # one process per benchmark: peak memory and warm caches of one never count for another
    status = 0
    for name in chosen:
        status |= subprocess.run([sys.executable, "-m", "bench", name], check=False).returncode
    return status


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))
