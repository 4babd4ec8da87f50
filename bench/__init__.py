"""Benchmarks run by ``make bench`` (see ``bench/__main__.py``)."""

from __future__ import annotations

import argparse


def count_argument(argv: list[str], benchmark: str, what: str, default: int) -> int:
    """The optional count a benchmark takes (``python -m bench NAME [COUNT]``); a clear usage
    error, not a traceback, for anything else."""
    parser = argparse.ArgumentParser(prog=f"python -m bench {benchmark}")
    parser.add_argument("count", nargs="?", type=int, default=default, help=f"{what} (default {default:,})")
    count: int = parser.parse_args(argv).count
    if count <= 0:
        parser.error("the count must be positive")
    return count
