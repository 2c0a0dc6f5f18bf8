"""The demo: run_demo.sh end to end, and demo/state_client.py and
demo/pipeline.py against the real daemon."""
import importlib.util
import os
import resource
import socket
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
Conflict = state_client.Conflict

SCENARIOS = ["== Normal run", "== Scenario A: crash before commit",
             "== Scenario B: crash after commit",
             "== Scenario C: kill -9 statestored in the middle of a pipeline run",
             "== Scenario D: a checkpoint with a TTL expires",
             "== Scenario E: a zombie run wakes up after another run committed",
             "== Scenario F: an operator rewinds the pipeline while a run is in flight"]


class RunDemo(unittest.TestCase):
    def test_run_demo_passes_and_narrates_every_scenario(self):
        env = dict(os.environ, SS_BUILD_DIR=os.path.abspath(harness.BUILD_DIR))
        t0 = time.monotonic()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0 = ru.ru_utime + ru.ru_stime
        r = subprocess.run(["bash", os.path.join(DEMO_DIR, "run_demo.sh")], env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=240)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out)
        for name in SCENARIOS:
            self.assertIn(name, out)
        self.assertEqual(out.count("invariants hold"), 10, out)
        # E and F: each stalled run was fenced, and said so.
        self.assertEqual(out.count("FENCED: CONFLICT"), 2, out)
        self.assertNotIn("INVARIANT VIOLATED", out)
        self.assertTrue(out.rstrip().endswith("DEMO PASSED"), out[-500:])
        # The demo should take about 15 s on an idle machine (each of its
        # ~40 Python starts and fsyncs is quick). Wall-clock time on a busy
        # machine says little, so the bound that matters is the CPU time it
        # used; the wall-clock one only catches a demo that waits for nothing.
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.assertLess(cpu.ru_utime + cpu.ru_stime - cpu0, 40, "the demo should stay cheap")
        self.assertLess(time.monotonic() - t0, 170, "the demo should not wait for nothing")


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


class StateClientRevisions(unittest.TestCase):
    """get_with_rev, cas, multi_commit, history, rollback, list."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = harness.Daemon().start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def setUp(self):
        self.c = StateClient("127.0.0.1", self.daemon.port, timeout=10, retries=8)

    def tearDown(self):
        self.c.close()

    def test_cas_commits_from_the_revision_read_and_conflicts_otherwise(self):
        c = self.c
        self.assertIsNone(c.get_with_rev("cas"))
        r1 = c.cas("cas", 0, 100)  # 0: only if absent
        self.assertEqual(c.get_with_rev("cas"), (r1, "100"))
        with self.assertRaises(Conflict) as cm:
            c.cas("cas", 0, 200)
        self.assertEqual((cm.exception.name, cm.exception.revision), ("cas", r1))
        r2 = c.cas("cas", r1, "200", ttl=3600)
        self.assertGreater(r2, r1)
        self.assertTrue(3590 <= c.ttl("cas") <= 3600)
        with self.assertRaises(Conflict) as cm:
            c.cas("cas", r1, "300")
        self.assertEqual(cm.exception.revision, r2)
        self.assertEqual(c.get_checkpoint("cas"), "200")
        with self.assertRaises(ValueError):
            c.cas("cas", -1, "1")
        with self.assertRaises(ValueError):
            c.cas("cas", 2 ** 64, "1")

    def test_delete_with_an_expected_revision(self):
        r = self.c.cas("del", 0, "1")
        with self.assertRaises(Conflict) as cm:
            self.c.delete("del", r + 1000)
        self.assertEqual(cm.exception.revision, r)
        self.assertTrue(self.c.delete("del", r))
        with self.assertRaises(Conflict) as cm:
            self.c.delete("del", r)
        self.assertEqual(cm.exception.revision, 0)

    def test_multi_commit_is_one_revision_for_all_and_all_or_nothing(self):
        c = self.c
        rev = c.multi_commit({"mc/a": 1, "mc/b": 2})
        self.assertEqual(c.get_with_rev("mc/a"), (rev, "1"))
        self.assertEqual(c.get_with_rev("mc/b"), (rev, "2"))
        rev2 = c.multi_commit([("mc/a", 3), ("mc/b", 4)], expected=[rev, rev])
        self.assertGreater(rev2, rev)
        rev3 = c.multi_commit([("mc/a", 5), ("mc/c", 6)], expected={"mc/a": rev2, "mc/c": 0})
        with self.assertRaises(Conflict) as cm:
            c.multi_commit({"mc/a": 7, "mc/b": 8}, expected={"mc/a": rev3, "mc/b": rev})
        self.assertEqual((cm.exception.name, cm.exception.revision), ("mc/b", rev2))
        self.assertEqual(c.get_with_rev("mc/a"), (rev3, "5"))  # nothing changed
        with self.assertRaises(StateStoreError) as cm:
            c.multi_commit([("mc/a", 1), ("mc/a", 2)])
        self.assertIn("the same pipeline twice", str(cm.exception))
        for bad in ({}, []):
            with self.assertRaises(ValueError):
                c.multi_commit(bad)
        with self.assertRaises(ValueError):
            c.multi_commit({"mc/a": 1}, expected={"mc/z": 0})
        with self.assertRaises(ValueError):
            c.multi_commit({"mc/a": 1}, expected=[1, 2])

    def test_history_newest_first_and_rollback_fences_older_revisions(self):
        c = self.c
        revs = [c.cas("hr", 0, "300")]
        for v in ("500", "800"):
            revs.append(c.cas("hr", revs[-1], v))
        hist = c.history("hr")
        self.assertEqual([(r, v) for r, _, v in hist], [(revs[2], "800"), (revs[1], "500"),
                                                         (revs[0], "300")])
        self.assertTrue(all(ms > 1500000000000 for _, ms, _ in hist), hist)
        self.assertEqual(len(c.history("hr", 1)), 1)
        self.assertEqual(c.history("no-such-pipeline"), [])
        with self.assertRaises(Conflict) as cm:
            c.rollback("hr", revs[0], expected_rev=revs[1])
        self.assertEqual(cm.exception.revision, revs[2])
        back = c.rollback("hr", revs[0], expected_rev=revs[2])
        self.assertEqual(c.get_with_rev("hr"), (back, "300"))
        # A run that read revs[2] is fenced by the rollback.
        with self.assertRaises(Conflict):
            c.cas("hr", revs[2], "900")
        self.assertGreater(c.rollback("hr", revs[1]), back)
        self.assertEqual(c.get_checkpoint("hr"), "500")
        with self.assertRaises(StateStoreError) as cm:
            c.rollback("hr", 123456789)
        self.assertIn("no revision 123456789 in history", str(cm.exception))

    def test_list_follows_the_cursor_over_every_pipeline(self):
        c = self.c
        names = ["ls/%04d" % i for i in range(1500)]
        for i in range(0, len(names), 500):
            c.multi_commit({n: n[3:] for n in names[i:i + 500]})
        c.set_checkpoint("other", "1")
        rows = list(c.list(prefix="ls/", count=50))
        self.assertEqual(sorted(r[0] for r in rows), names)  # each exactly once: no changes
        self.assertTrue(all(r[3] == r[0][3:] and r[1] > 0 for r in rows))
        everything = {r[0] for r in c.list()}
        self.assertTrue(set(names) | {"other"} <= everything)
        self.assertEqual(list(c.list(prefix="none/")), [])
        with self.assertRaises(StateStoreError) as cm:
            list(c.list(count=0))
        self.assertIn("invalid count", str(cm.exception))


class LossyProxy:
    """A TCP proxy in front of the daemon that loses the reply (or the
    request) of the first request line starting with a given prefix, by
    closing the client's connection: what a client sees when the network
    or the server breaks mid-request. hook(), if given, runs after the
    lost request reached the daemon and before the client's connection
    closes (another writer can act then)."""

    def __init__(self, port, prefix, forward=True, hook=None):
        self.upstream = port
        self.prefix = prefix.encode()
        self.forward = forward
        self.hook = hook
        self.fired = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        up = socket.create_connection(("127.0.0.1", self.upstream))
        f_in, f_up = conn.makefile("rb"), up.makefile("rb")
        try:
            for line in f_in:
                lose = not self.fired and line.startswith(self.prefix)
                if lose:
                    self.fired = True
                    if self.forward:
                        up.sendall(line)
                        f_up.readline()  # the reply the client never gets
                    if self.hook:
                        self.hook()
                    return
                up.sendall(line)
                conn.sendall(self._reply(line, f_up))
        finally:
            for s in (f_in, f_up, conn, up):
                s.close()

    @staticmethod
    def _reply(line, f_up):
        """One whole reply: rows through END for the multi-line commands."""
        out = f_up.readline()
        if line.split(b" ")[0].strip().upper() in (b"HISTORY_CHECKPOINT", b"LIST_CHECKPOINTS",
                                                  b"STATS"):
            last = out
            while out and not last.startswith(b"ERR ") and last.rstrip() != b"END":
                last = f_up.readline()
                out += last
        return out

    def close(self):
        self.sock.close()


class StateClientRetryRecipe(unittest.TestCase):
    """A conditional commit whose reply was lost: the client resends it and
    settles a CONFLICT with GETREV_CHECKPOINT."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = harness.Daemon().start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def client(self, proxy):
        self.addCleanup(proxy.close)
        c = StateClient("127.0.0.1", proxy.port, timeout=10, retries=3, backoff=0.01)
        self.addCleanup(c.close)
        return c

    def direct(self):
        c = StateClient("127.0.0.1", self.daemon.port, timeout=10)
        self.addCleanup(c.close)
        return c

    def test_cas_that_applied_but_whose_reply_was_lost_returns_its_revision(self):
        d = self.direct()
        r0 = d.cas("lost-applied", 0, "10")
        d.set_checkpoint("lost-applied-other", "x")  # the store revision moves on
        c = self.client(LossyProxy(self.daemon.port, "CAS_CHECKPOINT"))
        rev = c.cas("lost-applied", r0, "20")
        self.assertEqual(c.reconnects, 1)
        self.assertEqual(d.get_with_rev("lost-applied"), (rev, "20"))
        # Store-wide revisions: ours is newer than expected + 1 here.
        self.assertGreater(rev, r0 + 1)

    def test_cas_lost_before_it_reached_the_server_is_resent_and_applies(self):
        d = self.direct()
        r0 = d.cas("lost-unsent", 0, "10")
        c = self.client(LossyProxy(self.daemon.port, "CAS_CHECKPOINT", forward=False))
        rev = c.cas("lost-unsent", r0, "20")
        self.assertEqual(d.get_with_rev("lost-unsent"), (rev, "20"))

    def test_cas_lost_then_overwritten_by_another_writer_is_a_conflict(self):
        d = self.direct()
        r0 = d.cas("lost-over", 0, "10")
        other = {}

        def overwrite():  # after ours applied: another writer moves on
            other["rev"] = d.cas("lost-over", d.get_with_rev("lost-over")[0], "99")
        c = self.client(LossyProxy(self.daemon.port, "CAS_CHECKPOINT", hook=overwrite))
        with self.assertRaises(Conflict) as cm:
            c.cas("lost-over", r0, "20")
        self.assertEqual(cm.exception.revision, other["rev"])
        self.assertEqual(d.get_checkpoint("lost-over"), "99")

    def test_cas_whose_rival_won_with_a_different_value_is_a_conflict(self):
        d = self.direct()
        r0 = d.cas("lost-rival", 0, "10")
        won = {}
        # The rival commits from the same expected revision first; ours,
        # lost, is then refused, and GETREV shows the rival's value.
        c = self.client(LossyProxy(self.daemon.port, "CAS_CHECKPOINT", forward=False,
                                   hook=lambda: won.setdefault("rev", d.cas("lost-rival", r0,
                                                                            "15"))))
        with self.assertRaises(Conflict) as cm:
            c.cas("lost-rival", r0, "20")
        self.assertEqual(cm.exception.revision, won["rev"])

    def test_multi_commit_with_a_lost_reply_returns_its_one_revision(self):
        d = self.direct()
        r0 = d.multi_commit({"lm/a": "1", "lm/b": "2"})
        c = self.client(LossyProxy(self.daemon.port, "MCAS_CHECKPOINT"))
        rev = c.multi_commit({"lm/a": "3", "lm/b": "4"}, expected={"lm/a": r0, "lm/b": r0})
        self.assertEqual(d.get_with_rev("lm/a"), (rev, "3"))
        self.assertEqual(d.get_with_rev("lm/b"), (rev, "4"))

    def test_rollback_with_a_lost_reply_returns_its_revision(self):
        d = self.direct()
        r0 = d.cas("lost-rb", 0, "300")
        r1 = d.cas("lost-rb", r0, "800")
        c = self.client(LossyProxy(self.daemon.port, "ROLLBACK_CHECKPOINT"))
        rev = c.rollback("lost-rb", r0, expected_rev=r1)
        self.assertEqual(d.get_with_rev("lost-rb"), (rev, "300"))


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

    def test_a_stalled_run_is_fenced_after_another_run_commits(self):
        wake = os.path.join(self.tmp, "wake")
        zombie = subprocess.Popen(
            [sys.executable, os.path.join(DEMO_DIR, "pipeline.py"), "--port",
             str(self.daemon.port), "--orders", self.orders, "--output", self.output,
             "--batch-size", "30", "--stall-until", wake],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            self.assertTrue(zombie.stdout.readline().startswith(b"pipeline orders: read "))
            self.assertIn(b"processed 30 records", zombie.stdout.readline())
            self.assertIn(b"STALLED", zombie.stdout.readline())
            r = self.pipeline("--batch-size", "20", "--until-caught-up")
            self.assertEqual(r.returncode, 0, r.stdout)
            with StateClient("127.0.0.1", self.daemon.port) as c:
                before = c.get_with_rev("orders")
                self.assertEqual(before[1], "50")
                open(wake, "w").close()
                out = zombie.stdout.read()
                self.assertEqual(zombie.wait(60), 6, out)
                self.assertIn(b"FENCED: CONFLICT", out)
                self.assertIn(b"0 records changed it, 30 were already in it", out)
                self.assertEqual(c.get_with_rev("orders"), before)
        finally:
            if zombie.poll() is None:
                zombie.kill()
                zombie.wait()
            zombie.stdout.close()

    def test_refuses_to_process_when_the_store_is_unreachable(self):
        self.daemon.kill()
        r = self.pipeline()
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertIn(b"FAILED", r.stdout)
        self.assertFalse(os.path.exists(self.output))


if __name__ == "__main__":
    unittest.main()
