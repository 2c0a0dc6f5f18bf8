"""statestore-cli end to end: against the real daemon for what it prints and
its exit codes, and against tiny Python servers for what the daemon will not
do on demand (never answer, answer a byte at a time, hang up mid-batch)."""
import os
import socket
import subprocess
import threading
import time
import unittest

import harness

CLI = harness.binary("statestore-cli")


def run_cli(args, stdin=b"", timeout=60):
    return subprocess.run([CLI] + [str(a) for a in args], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def free_port():
    """A port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer:
    """A one-connection server whose behaviour the test scripts: serve(conn)
    runs in a thread with the accepted socket."""

    def __init__(self, serve):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._run, args=(serve,), daemon=True)
        self.thread.start()

    def _run(self, serve):
        conn, _ = self.sock.accept()
        with conn:
            serve(self, conn)

    def read_lines(self, conn, n):
        while self.received.count(b"\n") < n:
            chunk = conn.recv(65536)
            if not chunk:
                break
            self.received += chunk

    def close(self):
        self.thread.join(10)
        self.sock.close()


class CliAgainstDaemon(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = harness.Daemon().start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def cli(self, *args, stdin=b""):
        return run_cli(["-p", self.daemon.port] + list(args), stdin)

    def test_one_shot_set_then_get_prints_the_reply_and_exits_0(self):
        r = self.cli("SET_CHECKPOINT", "oneshot", "1000")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"OK\n", b""))
        r = self.cli("GET_CHECKPOINT", "oneshot")
        self.assertEqual((r.returncode, r.stdout), (0, b"1000\n"))

    def test_one_shot_joins_arguments_and_allows_values_starting_with_a_dash(self):
        r = self.cli("set_checkpoint", "dash", "-5", "3600")
        self.assertEqual((r.returncode, r.stdout), (0, b"OK\n"))
        self.assertEqual(self.cli("GET_CHECKPOINT", "dash").stdout, b"-5\n")
        ttl = int(self.cli("TTL_CHECKPOINT", "dash").stdout)
        self.assertTrue(3590 <= ttl <= 3600, ttl)

    def test_one_shot_missing_checkpoint_prints_null_and_exits_0(self):
        r = self.cli("GET_CHECKPOINT", "never-set")
        self.assertEqual((r.returncode, r.stdout), (0, b"NULL\n"))

    def test_one_shot_stats_prints_every_line_through_end(self):
        r = self.cli("STATS")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[-1], "END")
        self.assertTrue(all(l.startswith("STAT ") for l in lines[:-1]), lines)
        names = {l.split()[1] for l in lines[:-1]}
        self.assertTrue({"version", "entries", "commits", "fsyncs"} <= names, names)

    def test_one_shot_err_reply_goes_to_stderr_and_exits_1(self):
        r = self.cli("FOO")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertTrue(r.stderr.startswith(b"ERR unknown command"), r.stderr)
        r = self.cli("SET_CHECKPOINT", "x", "1", "0")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, b"ERR invalid ttl\n")

    def test_batch_pipelines_many_requests_and_prints_replies_in_order(self):
        n = 20000
        lines = ["SET_CHECKPOINT batch%d %d" % (i % 500, i) for i in range(n)]
        lines += ["", "   ", "GET_CHECKPOINT batch%d" % ((n - 1) % 500), "stats", "PING"]
        t0 = time.monotonic()
        r = self.cli(stdin=("\n".join(lines) + "\n").encode())
        elapsed = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode().split("\n")
        self.assertEqual(out[:n], ["OK"] * n)
        self.assertEqual(out[n], str(n - 1))
        end = out.index("END", n)
        self.assertTrue(all(l.startswith("STAT ") for l in out[n + 1:end]))
        self.assertEqual(out[end + 1:], ["PONG", ""])
        # Pipelined, the batch shares group commits: far fewer fsyncs than
        # requests. One request at a time would need n round trips.
        self.assertLess(elapsed, 30)

    def test_batch_err_reply_is_printed_in_place_and_the_batch_goes_on(self):
        stdin = b"PING\nBOGUS\nSET_CHECKPOINT e 1\nSET_CHECKPOINT e 1 -3\nGET_CHECKPOINT e\n"
        r = self.cli(stdin=stdin)
        self.assertEqual(r.returncode, 1)
        out = r.stdout.decode().splitlines()
        self.assertEqual(len(out), 5, out)
        self.assertEqual(out[0], "PONG")
        self.assertTrue(out[1].startswith("ERR unknown command"))
        self.assertEqual(out[2:], ["OK", "ERR invalid ttl", "1"])
        self.assertIn(b"2 of 5 requests got an ERR reply", r.stderr)

    def test_batch_last_line_without_newline_and_crlf_lines_are_sent(self):
        r = self.cli(stdin=b"SET_CHECKPOINT crlf 7\r\nGET_CHECKPOINT crlf")
        self.assertEqual((r.returncode, r.stdout), (0, b"OK\n7\n"))

    def test_batch_quit_ends_the_batch(self):
        r = self.cli(stdin=b"PING\nQUIT\nSET_CHECKPOINT afterquit 1\n")
        self.assertEqual((r.returncode, r.stdout), (0, b"PONG\nOK\n"))
        self.assertEqual(self.cli("GET_CHECKPOINT", "afterquit").stdout, b"NULL\n")

    def test_batch_of_only_blank_lines_sends_nothing_and_exits_0(self):
        r = self.cli(stdin=b"\n \n\t\n")
        self.assertEqual((r.returncode, r.stdout), (0, b""))


class CliWithoutDaemon(unittest.TestCase):
    def test_connection_refused_exits_3_with_a_message(self):
        r = run_cli(["-p", free_port(), "PING"])
        self.assertEqual(r.returncode, 3)
        self.assertIn(b"cannot connect", r.stderr)
        r = run_cli(["-p", free_port()], stdin=b"PING\n")
        self.assertEqual(r.returncode, 3)

    def test_server_that_never_answers_times_out_with_exit_4(self):
        # Listening, so the connection completes in the backlog; never read.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            port = s.getsockname()[1]
            for stdin, args in ((b"", ["PING"]), (b"PING\nPING\n", [])):
                t0 = time.monotonic()
                r = run_cli(["-p", port, "-t", "0.3"] + args, stdin=stdin)
                elapsed = time.monotonic() - t0
                self.assertEqual(r.returncode, 4, r.stderr)
                self.assertIn(b"timed out", r.stderr)
                self.assertLess(elapsed, 5)
                self.assertGreaterEqual(elapsed, 0.29)

    def test_usage_errors_exit_2(self):
        for args in (["-p", "0", "PING"], ["-p", "x"], ["-t", "0"], ["--nope"], [""], ["-p"],
                     ["GET_CHECKPOINT", "a\nDEL_CHECKPOINT b"]):
            r = run_cli(args)
            self.assertEqual(r.returncode, 2, args)
            self.assertTrue(r.stderr.startswith(b"statestore-cli: "), r.stderr)

    def test_help_exits_0_and_documents_the_exit_codes(self):
        r = run_cli(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"usage: statestore-cli", r.stdout)
        self.assertIn(b"exit status", r.stdout)

    def test_replies_split_into_single_bytes_are_reassembled(self):
        def serve(fake, conn):
            fake.read_lines(conn, 3)
            for b in b"PONG\nSTAT version x\nSTAT clients 1\nEND\nNULL\n":
                conn.sendall(bytes([b]))
                time.sleep(0.002)
        fake = FakeServer(serve)
        r = run_cli(["-p", fake.port], stdin=b"PING\nSTATS\nGET_CHECKPOINT a\n")
        fake.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"PONG\nSTAT version x\nSTAT clients 1\nEND\nNULL\n")
        self.assertEqual(fake.received, b"PING\nSTATS\nGET_CHECKPOINT a\n")

    def test_server_hanging_up_mid_batch_exits_3_after_printing_what_came(self):
        def serve(fake, conn):
            fake.read_lines(conn, 3)  # all read: the close is a FIN, not a RST
            conn.sendall(b"PONG\n")
        fake = FakeServer(serve)
        r = run_cli(["-p", fake.port], stdin=b"PING\nPING\nPING\n")
        fake.close()
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, b"PONG\n")
        self.assertIn(b"closed the connection", r.stderr)


if __name__ == "__main__":
    unittest.main()
