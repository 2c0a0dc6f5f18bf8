"""The demo: run_demo.sh end to end, and demo/state_client.py and
demo/pipeline.py against the real daemon."""
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from sstools import harness

DEMO_DIR = os.path.join(harness.SOURCE_DIR, "demo")


def demo_module(name):
    """Imports demo/<name>.py by its path: the demo is what users copy, not a
    package, and sys.path stays as it is."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(DEMO_DIR, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


state_client = demo_module("state_client")
StateClient = state_client.StateClient
StateStoreError = state_client.StateStoreError
StateStoreUnavailable = state_client.StateStoreUnavailable

SCENARIOS = ["== Normal run", "== Scenario A: crash before commit",
             "== Scenario B: crash after commit",
             "== Scenario C: kill -9 statestored in the middle of a pipeline run",
             "== Scenario D: a checkpoint with a TTL expires"]


class RunDemo(unittest.TestCase):
    def test_run_demo_passes_and_narrates_every_scenario(self):
        env = dict(os.environ, SS_BUILD_DIR=os.path.abspath(harness.BUILD_DIR))
        t0 = time.monotonic()
        r = subprocess.run(["bash", os.path.join(DEMO_DIR, "run_demo.sh")], env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=180)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out)
        for name in SCENARIOS:
            self.assertIn(name, out)
        self.assertEqual(out.count("invariants hold"), 7, out)
        self.assertNotIn("INVARIANT VIOLATED", out)
        self.assertTrue(out.rstrip().endswith("DEMO PASSED"), out[-500:])
        self.assertLess(time.monotonic() - t0, 60, "the demo should stay under a minute")


class StateClientAgainstDaemon(unittest.TestCase):
    def setUp(self):
        self.daemon = harness.Daemon().start()
        self.client = StateClient("127.0.0.1", self.daemon.port, timeout=10, retries=8)

    def tearDown(self):
        self.client.close()
        self.daemon.cleanup()

    def test_set_get_ttl_delete_round_trip(self):
        c = self.client
        self.assertTrue(c.ping())
        self.assertIsNone(c.get_checkpoint("orders"))
        self.assertEqual(c.ttl("orders"), -2)
        c.set_checkpoint("orders", 1000)
        self.assertEqual(c.get_checkpoint("orders"), "1000")
        self.assertEqual(c.ttl("orders"), -1)
        c.set_checkpoint("orders", "1001", ttl=3600)
        self.assertTrue(3590 <= c.ttl("orders") <= 3600)
        self.assertTrue(c.delete("orders"))
        self.assertFalse(c.delete("orders"))
        self.assertIsNone(c.get_checkpoint("orders"))

    def test_stats_is_a_dict_with_integer_counters(self):
        self.client.set_checkpoint("a", "1")
        st = self.client.stats()
        self.assertEqual(st["entries"], 1)
        self.assertIsInstance(st["commits"], int)
        self.assertIn("version", st)
        self.client.compact()
        self.assertEqual(self.client.stats()["compactions"], 1)

    def test_err_replies_raise_state_store_error_and_keep_the_connection(self):
        with self.assertRaises(StateStoreError) as cm:
            self.client.set_checkpoint("x", "1", ttl=0)
        self.assertIn("invalid ttl", str(cm.exception))
        with self.assertRaises(StateStoreError) as cm:
            self.client.set_checkpoint("n" * 513, "1")
        self.assertIn("name too long", str(cm.exception))
        self.assertTrue(self.client.ping())
        self.assertEqual(self.client.reconnects, 0)

    def test_a_checkpoint_ERR_is_a_value_and_NULL_is_refused(self):
        """Only "ERR", a space and a reason is an error; NULL is the reply
        for a missing checkpoint, so no checkpoint may hold it."""
        self.client.set_checkpoint("x", "ERR")
        self.assertEqual(self.client.get_checkpoint("x"), "ERR")
        with self.assertRaises(StateStoreError) as cm:
            self.client.set_checkpoint("y", "NULL")
        self.assertIn("reserved value 'NULL'", str(cm.exception))
        self.assertIsNone(self.client.get_checkpoint("y"))

    def test_values_that_could_inject_a_second_request_are_refused_locally(self):
        for bad in ("a b", "a\nDEL_CHECKPOINT x", ""):
            with self.assertRaises(ValueError):
                self.client.set_checkpoint("x", bad)

    def test_reconnects_after_the_daemon_restarts_and_the_checkpoint_survives(self):
        self.client.set_checkpoint("orders", "42")
        port = self.daemon.port
        self.daemon.kill()
        self.daemon.start(port=port)
        self.assertEqual(self.client.get_checkpoint("orders"), "42")
        self.assertEqual(self.client.reconnects, 1)

    def test_retries_with_backoff_while_the_daemon_is_down(self):
        self.client.set_checkpoint("orders", "7")
        port = self.daemon.port
        self.daemon.kill()
        restarter = threading.Timer(0.4, lambda: self.daemon.start(port=port))
        restarter.start()
        try:
            self.assertEqual(self.client.get_checkpoint("orders"), "7")
        finally:
            restarter.join()
        self.assertGreaterEqual(self.client.reconnects, 1)

    def test_gives_up_after_bounded_retries(self):
        self.daemon.kill()
        c = StateClient("127.0.0.1", self.daemon.port, timeout=1, retries=2, backoff=0.01)
        t0 = time.monotonic()
        with self.assertRaises(StateStoreUnavailable) as cm:
            c.ping()
        self.assertLess(time.monotonic() - t0, 5)
        # retries=2: the first attempt and two retries.
        self.assertIn("after 3 attempts", str(cm.exception))


class PipelineAgainstDaemon(unittest.TestCase):
    def setUp(self):
        self.daemon = harness.Daemon().start()
        self.tmp = tempfile.mkdtemp(prefix="ss-pipe-")
        self.orders = os.path.join(self.tmp, "orders.log")
        self.output = os.path.join(self.tmp, "out.json")
        subprocess.run([sys.executable, os.path.join(DEMO_DIR, "producer.py"), "--path",
                        self.orders, "--count", "50"], check=True, stdout=subprocess.DEVNULL)

    def tearDown(self):
        self.daemon.cleanup()
        subprocess.run(["rm", "-rf", self.tmp], check=True)

    def pipeline(self, *args, port=None):
        return subprocess.run(
            [sys.executable, os.path.join(DEMO_DIR, "pipeline.py"), "--port",
             str(port or self.daemon.port), "--orders", self.orders, "--output", self.output,
             "--retries", "2"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=60)

    def test_commits_the_last_processed_updated_at_only_after_the_output(self):
        r = self.pipeline("--batch-size", "20", "--crash-before-commit")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(os.path.exists(self.output))
        with StateClient("127.0.0.1", self.daemon.port) as c:
            self.assertIsNone(c.get_checkpoint("orders"))
            r = self.pipeline("--batch-size", "20", "--until-caught-up")
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn(b"20 were already in it", r.stdout)
            self.assertEqual(c.get_checkpoint("orders"), "50")

    def test_refuses_to_process_when_the_store_is_unreachable(self):
        self.daemon.kill()
        r = self.pipeline()
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertIn(b"FAILED", r.stdout)
        self.assertFalse(os.path.exists(self.output))


if __name__ == "__main__":
    unittest.main()
