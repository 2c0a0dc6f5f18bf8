#!/usr/bin/env python3
"""The load and hostile-client run's entry point; scripts/load.sh runs it.
The scenarios, and their documentation, are in tests/pylib/sstools/load.py."""
import importlib.util
import sys

if importlib.util.find_spec("sstools") is None:
    sys.exit("load.py: no module sstools: run scripts/load.sh, "
             "or set PYTHONPATH to the repository's tests/pylib")
from sstools.load import main  # noqa: E402

sys.exit(main())
