#!/usr/bin/env python3
"""The kill -9 torture's entry point; scripts/torture.sh runs it. The torture
itself, and its documentation, is tests/pylib/sstools/torture.py."""
import importlib.util
import sys

if importlib.util.find_spec("sstools") is None:
    sys.exit("torture.py: no module sstools: run scripts/torture.sh, "
             "or set PYTHONPATH to the repository's tests/pylib")
from sstools.torture import main  # noqa: E402

sys.exit(main())
