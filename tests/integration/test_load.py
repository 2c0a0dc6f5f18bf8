"""test_load.py - the CI-sized version of scripts/load.sh (sstools/load.py):
the same scenario code with small counts, asserting correctness only (no
crash, no lost acknowledged write, replies complete and in order, memory
within the bound computed from connections x buffer caps, other clients
served). Never timing: a "no reply in N seconds" check is a hang detector,
not a speed target.

Each test runs one scenario on a fresh daemon while probe clients do
SET/GET alongside, then kill -9s and restarts the daemon and checks every
write it acknowledged, then stops it with SIGTERM (exit 0; under ASan that
also means no leak report).
"""
import socket
import unittest

from sstools import load
from sstools.client import Client


class LoadCase(unittest.TestCase):
    """A fresh load daemon per test (with a TLS port when TLS)."""
    SIZE = "quick"
    TLS = False

    def setUp(self):
        self.z = dict(load.SIZES[self.SIZE])
        need = load.nofile_needed(self.z)
        have = load.raise_nofile(need)
        if have < need:
            self.skipTest("RLIMIT_NOFILE %d < %d needed" % (have, need))
        self.d = load.LoadDaemon(nofile=need, max_clients=need - 1024, tls=self.TLS).start()
        self.monitor = load.RssMonitor(self.d)
        self.monitor.start()
        self.ctx = load.Context(self.d, self.monitor)

    def tearDown(self):
        self.monitor.stop_evt.set()
        self.d.cleanup()

    def run_and_restart(self, name, **overrides):
        """Runs scenario name, then the kill -9 + restart check; fails with
        every violation found. Returns the scenario's row."""
        z = dict(self.z, **overrides)
        acked = {}
        fn = dict(load.SCENARIOS)[name]
        row = load.run_scenario(self.ctx, name, fn, z, acked)
        rows = [row]
        if not row.get("crashed"):
            rows.append(load.final_restart(self.ctx, acked))
        problems = ["%s: %s" % (r["scenario"], m) for r in rows for m in r["violations"]]
        self.assertEqual(problems, [], "\n".join(problems))
        self.assertGreater(row["probe_ops"], 0, "the probe clients were never served")
        return row


class LoadScenarioTest(LoadCase):
    def test_idle_connections_and_active_writers_are_all_served(self):
        # 1,000 idle + 100 writers: every writer's acked SET survives kill -9,
        # every idle connection still answers PING at the end.
        row = self.run_and_restart("idle+write")
        self.assertGreater(row["acked"], 0)

    def test_slowloris_lines_are_assembled_and_acknowledged(self):
        self.run_and_restart("slowloris")

    def test_never_reading_clients_are_throttled_and_memory_stays_bounded(self):
        # The scenario fails if a client could keep sending (the daemon kept
        # reading), if RSS passed the bound, or if the daemon kept the
        # connections after they reset.
        self.run_and_restart("no-read")

    def test_random_bytes_get_err_replies_and_overlong_lines_close(self):
        self.run_and_restart("random")

    def test_half_open_clients_get_every_reply_and_vanished_peers_do_no_harm(self):
        self.run_and_restart("half-open")

    def test_an_auth_storm_answers_every_auth_and_keeps_every_write(self):
        # 100 connections of right and wrong AUTHs for 1.5 s, 10 writers.
        self.run_and_restart("auth-storm")

    def test_100k_pipelined_commands_answered_in_order_and_durable(self):
        # The large-reply part has its own regression test below.
        row = self.run_and_restart("pipeline", big_gets=0)
        self.assertGreaterEqual(row["acked"], 99000)

    def test_pipelined_requests_whose_replies_pass_the_output_mark_are_all_answered(self):
        """Regression (defect found by the load run): when the replies to the
        requests of one read reach SS_SESSION_OUT_HIGH (256 KiB), the session
        stops; settle() then flushes, and when the socket takes the output at
        once nothing resumes the requests still buffered: no writable event
        (nothing left to send), no readable event (the client is waiting).
        The client waits forever unless it sends more bytes."""
        c = Client(self.d.port, timeout=10)
        try:
            value = "B" * 65536
            self.assertEqual(c.cmd("SET_CHECKPOINT big " + value), "OK")
            n = 64
            c.send("GET_CHECKPOINT big\n" * n + "PING\n")
            got = 0
            try:
                for _ in range(n):
                    self.assertEqual(c.readline(), value)
                    got += 1
                self.assertEqual(c.readline(), "PONG")
            except socket.timeout:
                self.fail("hang: %d of %d pipelined 64 KiB GETs answered, then nothing" % (got, n))

            # Small replies, same bug: 60,000 unknown commands of 2 bytes
            # give 1.4 MiB of ERR lines from one 128 KiB read.
            n = 60000
            c.send("X\n" * n + "PING\n")
            got = 0
            try:
                for _ in range(n):
                    self.assertEqual(c.readline(), "ERR unknown command 'X'")
                    got += 1
                self.assertEqual(c.readline(), "PONG")
            except socket.timeout:
                self.fail("hang: %d of %d pipelined bad commands answered, then nothing" % (got, n))
        finally:
            c.close()


class TlsLoadTest(LoadCase):
    TLS = True

    def test_tls_handshake_storm_loses_nothing_and_is_counted_exactly(self):
        row = self.run_and_restart("tls-storm")
        self.assertGreater(row["acked"], 0)

    def test_many_tls_connections_at_once_are_all_served_within_the_memory_bound(self):
        self.run_and_restart("tls-many")

    def test_renegotiations_are_refused_and_counted(self):
        self.run_and_restart("tls-reneg")


if __name__ == "__main__":
    unittest.main()
