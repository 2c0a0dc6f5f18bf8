#!/usr/bin/env python3
"""The failover checker's entry point; scripts/failover.sh runs it. The
checker itself, and its documentation, is tests/pylib/sstools/failover.py."""
import importlib.util
import sys

if importlib.util.find_spec("sstools") is None:
    sys.exit("failover.py: no module sstools: run scripts/failover.sh, "
             "or set PYTHONPATH to the repository's tests/pylib")
from sstools.failover import main  # noqa: E402

sys.exit(main())
