"""--timeout and --request-timeout against the real daemon
(src/server/clients.c, timeouts.c), each at 1 s:

  IdleTimeout     an idle client is closed and counted (idle_timeouts), a
                  client that keeps sending is not, and neither is one
                  that waits on the server: its COMPACT held mid-run, a
                  BACKUP queued behind it, replies it has not read yet
  RequestTimeout  a partial text line, a partial RESP frame and a client
                  dripping one byte at a time are closed and counted
                  (request_timeouts); a client that pipelines complete
                  requests, or completes a split one, is served on
  Unauthenticated with --requirepass-file, a connection that has not
                  authenticated is closed after --request-timeout from
                  accept, however many allowed commands (PING) it sends;
                  one that authenticated is not
  Options         both are whole seconds from 0 to ten years; anything
                  else is refused at startup with the range (exit 2)
  Slots           with --max-clients small, drip connections fill every
                  slot and a new client is refused; after the request
                  timeout the slots come back and a new client is served

Nothing here sleeps and hopes: every wait polls the daemon's counters or
blocks on the socket's EOF, bounded by WAIT (far past the 1 s timeouts). A
client that must stay open is checked once a later client, which went idle
or incomplete after it, has been closed: its own deadline had passed too.
"""
import os
import re
import select
import shutil
import tempfile
import unittest
import urllib.request

from sstools import acl, harness
from sstools.client import Client
from sstools.harness import DaemonTestCase, wait_until

WAIT = 15.0  # seconds: a bound for what should take about 1 s


def stat(c, name):
    return int(c.stats()[name])


def still_open(c):
    """True if the server has neither closed c nor sent it anything."""
    readable, _, _ = select.select([c.sock], [], [], 0)
    return not readable and not c.buf


class TimeoutCase(DaemonTestCase):
    def client(self, d=None, timeout=WAIT):
        return self.connect(d, timeout)

    def closed_without_reply(self, c):
        """Blocks until the server closes c; fails if it replied first, or
        if it keeps c open past WAIT (socket.timeout)."""
        self.assertEqual(c.wait_eof(), [])

    def wait_stat(self, probe, name, value):
        self.assertTrue(wait_until(lambda: stat(probe, name) >= value, WAIT),
                        "%s never reached %d:\n%s" % (name, value, self.d.log()[-3000:]))
        self.assertEqual(stat(probe, name), value)


class IdleTimeout(TimeoutCase):
    DAEMON_ARGS = ("--timeout", "1", "--request-timeout", "0")
    AUTOSTART = False

    def test_an_idle_client_is_closed_and_counted_and_an_active_one_is_not(self):
        self.d = self.new_daemon().start()
        active = self.client()
        idle = self.client()
        self.assertEqual(idle.cmd("PING"), "PONG")
        # The active client sends a request well within each second until
        # the idle one is closed, then until a second idle client, opened
        # after that, is closed too: it lives through two timeouts.
        for _ in range(2):
            while still_open(idle):
                self.assertEqual(active.cmd("PING"), "PONG")
                select.select([idle.sock], [], [], 0.2)
            self.closed_without_reply(idle)
            idle = self.client()
        self.assertEqual(active.cmd("PING"), "PONG")
        self.assertEqual(stat(active, "idle_timeouts"), 2)
        self.assertEqual(stat(active, "request_timeouts"), 0)
        # "client 3 closed: ...", or with the peer's address where the
        # registry knows it: "client 3 (127.0.0.1:41234) closed: ...".
        self.assertTrue(self.d.wait_log(r"client \d+ (\(\S+\) )?closed: idle for 1 s "
                                        r"\(--timeout\)", WAIT), self.d.log())
        self.assertEqual(active.config_get("*timeout"),
                         {"timeout": "1", "request-timeout": "0", "sync-timeout": "0",
                          "repl-timeout": "10"})

    def test_clients_waiting_on_the_server_are_not_idle(self):
        gate_dir = tempfile.mkdtemp(prefix="ss-it-gate-")
        self.addCleanup(shutil.rmtree, gate_dir, True)
        gate = os.path.join(gate_dir, "gate")
        d = self.d = self.new_daemon(program="statestored-faulty",
                                     env={"SS_FAULT_SNAPSHOT_GATE": gate}).start()
        probe = self.client(d)
        self.assertEqual(probe.cmd("SET_CHECKPOINT big " + "v" * 65536), "OK")
        try:
            self.held_compaction(d, gate, gate_dir, probe)
        finally:
            open(gate, "w").close()  # a failure must not leave the daemon held

    def held_compaction(self, d, gate, gate_dir, probe):
        """A COMPACT held in its snapshot's fdatasync, a BACKUP queued
        behind it, and a client with 16 MiB of replies it does not read
        (more than the socket buffers hold): none of them is idle."""
        compactor = self.client(d)
        compactor.send("COMPACT\n")
        self.assertTrue(wait_until(lambda: os.path.exists(gate + ".waiting"), WAIT))
        backup = self.client(d)
        backup.send("BACKUP %s\n" % os.path.join(gate_dir, "backup"))
        reader = self.client(d)
        n = 256
        reader.send("GET_CHECKPOINT big\n" * n)
        # Each of them went quiet before this idle client did.
        last = self.client(d)
        self.assertEqual(last.cmd("PING"), "PONG")
        self.closed_without_reply(last)
        # The probe was idle too (it was closed), hence a new one.
        probe = self.client(d)
        self.assertEqual(stat(probe, "idle_timeouts"), 2)
        # (The reader has replies waiting: it is checked by reading them.)
        for c in (compactor, backup):
            self.assertTrue(still_open(c))
        open(gate, "w").close()
        self.assertEqual(compactor.readline(), "OK")
        self.assertRegex(backup.readline(), r"^OK \d+$")
        for i in range(n):
            self.assertEqual(reader.read_exactly(65537), b"v" * 65536 + b"\n", "reply %d" % i)
        self.assertEqual(stat(probe, "idle_timeouts"), 2)


class RequestTimeout(TimeoutCase):
    DAEMON_ARGS = ("--timeout", "0", "--request-timeout", "1")

    def drip_until_closed(self, c, line):
        """Sends line one byte every 0.2 s until the server closes c;
        returns the bytes sent. Fails if the line runs out first."""
        for i in range(len(line) - 1):
            try:
                c.send(line[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return i
            readable, _, _ = select.select([c.sock], [], [], 0.2)
            if readable:
                self.closed_without_reply(c)
                return i + 1
        self.fail("the drip was never closed: %d bytes sent over %.0f s" %
                  (len(line) - 1, 0.2 * len(line)))

    def test_partial_requests_are_closed_and_counted_complete_ones_are_served(self):
        probe = self.client()
        pipelined = self.client()
        pipelined.send("PING\nSET_CHECKPOINT a 1\nGET_CHECKPOINT a\n")
        self.assertEqual(pipelined.readlines(3), ["PONG", "OK", "1"])
        split = self.client()
        split.send("PIN")
        split.send("G\n")
        self.assertEqual(split.readline(), "PONG")
        text = self.client()
        text.send("SET_CHECKPOINT b 2")
        resp = self.client()
        resp.send("*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1")
        # One byte at a time does not keep the clock from running.
        drip = self.client()
        sent = self.drip_until_closed(drip, b"SET_CHECKPOINT d " + b"x" * 100 + b"\n")
        self.assertGreater(sent, 1)
        self.closed_without_reply(text)
        self.closed_without_reply(resp)
        self.assertEqual(stat(probe, "request_timeouts"), 3)
        self.assertEqual(stat(probe, "idle_timeouts"), 0)
        # Those that completed their requests were idle all along: served.
        self.assertEqual(pipelined.cmd("GET_CHECKPOINT a"), "1")
        self.assertEqual(split.cmd("PING"), "PONG")
        self.assertEqual(probe.cmd("GET_CHECKPOINT b"), "NULL")
        self.assertEqual(probe.cmd("GET_CHECKPOINT c"), "NULL")
        self.assertTrue(self.d.wait_log(r"client \d+ (\(\S+\) )?closed: request incomplete "
                                        r"for 1 s \(--request-timeout\)", WAIT), self.d.log())


class Slots(TimeoutCase):
    SLOTS = 4
    DAEMON_ARGS = ("--max-clients", str(SLOTS), "--request-timeout", "1",
                   "--metrics", "127.0.0.1:0")

    def test_slowloris_fills_the_slots_and_the_request_timeout_gives_them_back(self):
        probe = self.client()
        drips = [self.client() for _ in range(self.SLOTS - 1)]
        for i, c in enumerate(drips):
            c.send("SET_CHECKPOINT slow%d " % i)
        self.assertTrue(wait_until(lambda: stat(probe, "clients") == self.SLOTS, WAIT))
        refused = Client(self.d.port, WAIT)
        self.assertEqual(refused.wait_eof(), ["ERR max clients reached"])
        refused.close()
        self.wait_stat(probe, "request_timeouts", self.SLOTS - 1)
        for c in drips:
            self.closed_without_reply(c)
        fresh = self.client()
        self.assertEqual(fresh.cmd("PING"), "PONG")
        s = probe.stats()
        self.assertEqual((s["refused_connections"], s["clients"]), ("1", "2"))
        # The other two views of the stats table: RESP INFO and /metrics.
        info = Client(self.d.port, WAIT, redis=True)
        self.clients.append(info)
        self.assertRegex(info.call("INFO"), r"(?m)^request_timeouts:3\r?$")
        port = re.search(r"metrics over HTTP at \S+, port (\d+)", self.d.log()).group(1)
        with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=WAIT) as r:
            text = r.read().decode()
        self.assertRegex(text, r"(?m)^statestored_request_timeouts_total 3$")
        self.assertRegex(text, r"(?m)^statestored_idle_timeouts_total 0$")


class Unauthenticated(TimeoutCase):
    AUTOSTART = False

    def test_a_connection_that_never_authenticates_loses_its_slot(self):
        tmp = tempfile.mkdtemp(prefix="ss-it-pw-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pw = acl.write_file(os.path.join(tmp, "pass"), "secret-pass\n")
        self.d = self.new_daemon(args=["--requirepass-file", pw, "--request-timeout", "1"]).start()
        authed = self.client()
        self.assertEqual(authed.cmd("AUTH secret-pass"), "OK")
        silent = self.client()
        pinger = self.client()
        # PING is open before AUTH: it does not restart the clock.
        while still_open(silent):
            try:
                reply = pinger.cmd("PING")
            except ConnectionResetError:
                # Closed with this PING unread (the kernel resets a socket
                # closed with input pending): as EOF below.
                reply = None
            if reply is None:
                break  # closed: it was accepted just after silent
            self.assertEqual(reply, "PONG")
            select.select([silent.sock], [], [], 0.2)
        self.closed_without_reply(silent)
        self.assertEqual(pinger.wait_eof(), [])
        self.assertEqual(authed.cmd("PING"), "PONG")
        self.assertEqual(stat(authed, "request_timeouts"), 2)
        self.assertTrue(self.d.wait_log(r"client \d+ \(127\.0\.0\.1:\d+\) closed: not "
                                        r"authenticated for 1 s \(--request-timeout\)", WAIT),
                        self.d.log())


class Options(unittest.TestCase):
    def test_values_outside_0_to_ten_years_are_refused_with_the_range(self):
        for opt in ("--timeout", "--request-timeout"):
            for bad in ("315360001", "-1", "1.5", "1e3", "", "30s"):
                r = harness.run_binary([opt, bad, "-p", "0", "-d", "/nonexistent/never"])
                self.assertEqual(r.returncode, 2, (opt, bad, r.stderr))
                self.assertIn("invalid value '%s' for %s: want an integer from 0 to 315360000"
                              % (bad, opt), r.stderr)


if __name__ == "__main__":
    unittest.main()
