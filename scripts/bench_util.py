#!/usr/bin/env python3
"""The entry point of scripts/bench.sh's helpers (fsync, cmd, restart,
watch-compactions, report, plot-latency, and for the scale mode list,
watch-disk, scale-report, plot-scale); they are tests/pylib/sstools/bench.py."""
import importlib.util
import sys

if importlib.util.find_spec("sstools") is None:
    sys.exit("bench_util.py: no module sstools: run scripts/bench.sh, "
             "or set PYTHONPATH to the repository's tests/pylib")
from sstools.bench import main  # noqa: E402

main(sys.argv[1:])
