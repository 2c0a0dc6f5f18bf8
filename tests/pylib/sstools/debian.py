"""Debian's Python packages (python3-redis, python3-prometheus-client...)
for a test run by another python3 of the same version.

Debian installs them for /usr/bin/python3; ctest may run another python3
(pyenv's, say), which does not look there. Their directory is then
appended: last, so nothing it holds shadows the interpreter's own packages.
"""
import importlib
import os
import sys

DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def import_module(name):
    """The module name, from this interpreter or from Debian's packages; or
    None if neither has it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    if os.path.isdir(os.path.join(DEBIAN_DIST_PACKAGES, name)):
        sys.path.append(DEBIAN_DIST_PACKAGES)
        try:
            return importlib.import_module(name)
        except ImportError:
            sys.path.remove(DEBIAN_DIST_PACKAGES)
    return None
