#!/usr/bin/env python3
"""The kill -9 torture's entry point; scripts/torture.sh runs it. The torture
itself, and its documentation, is tests/pylib/sstools/torture.py; with
--replica, the torture of a replica (tests/pylib/sstools/torture_repl.py)."""
import importlib.util
import sys

if importlib.util.find_spec("sstools") is None:
    sys.exit("torture.py: no module sstools: run scripts/torture.sh, "
             "or set PYTHONPATH to the repository's tests/pylib")
if "--replica" in sys.argv[1:]:
    from sstools import torture_repl  # noqa: E402
    sys.exit(torture_repl.main([a for a in sys.argv[1:] if a != "--replica"]))
from sstools.torture import main  # noqa: E402

sys.exit(main())
