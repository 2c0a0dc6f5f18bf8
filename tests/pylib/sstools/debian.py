"""Debian's Python packages (python3-redis, python3-prometheus-client...)
for a test run by another python3 of the same version; and the programs
of Debian packages a test runs.

Debian installs them for /usr/bin/python3; ctest may run another python3
(pyenv's, say), which does not look there. Their directory is then
appended: last, so nothing it holds shadows the interpreter's own packages.
"""
import importlib
import os
import shutil
import sys

DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def need(program, package):
    """The path of program, which Debian's package installs; an error naming
    the package when it is missing."""
    path = shutil.which(program)
    if path is None:
        raise RuntimeError("%s not found: install Debian's %s (scripts/deps.sh, "
                           "SS_TEST_PACKAGES)" % (program, package))
    return path


def import_module(name):
    """The module name (dotted names too), from this interpreter or from
    Debian's packages; or None if neither has it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    if os.path.isdir(os.path.join(DEBIAN_DIST_PACKAGES, name.split(".")[0])):
        sys.path.append(DEBIAN_DIST_PACKAGES)
        try:
            return importlib.import_module(name)
        except ImportError:
            sys.path.remove(DEBIAN_DIST_PACKAGES)
    return None
