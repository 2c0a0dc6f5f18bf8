"""The Node.js client scripts of tests/node (clients.js, acl.js): finding
node and the pinned packages, and running a script to its JSON summary."""
import json
import os
import shutil
import subprocess
import unittest

from . import harness

NODE_DIR = os.path.join(harness.SOURCE_DIR, "tests", "node")


def find():
    """node's path. Skips the test if node is missing; fails if the
    packages tests/node/package-lock.json pins are not installed."""
    node = shutil.which("node")
    if node is None:
        raise unittest.SkipTest("node not found: scripts/deps.sh installs Debian's nodejs")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")):
        raise RuntimeError("tests/node/node_modules missing: run `npm ci` in tests/node "
                           "(scripts/deps.sh: ss_node_deps)")
    return node


def run_script(tc, node, script, *args):
    """Runs tests/node/SCRIPT with args and returns its JSON summary, after
    failing tc with every check a client failed, or if the script did not
    exit 0."""
    r = subprocess.run([node, os.path.join(NODE_DIR, script)] + [str(a) for a in args],
                       cwd=NODE_DIR, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=120)
    try:
        summary = json.loads(r.stdout)
    except ValueError:
        tc.fail("no JSON summary (exit %d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr))
    failures = ["%s: %s: %s" % (c["client"], f["check"], f["error"])
                for c in summary["clients"] for f in c["failures"]]
    tc.assertEqual(failures, [], "\n".join(failures)[:8000])
    tc.assertEqual(r.returncode, 0, r.stderr)
    return summary
