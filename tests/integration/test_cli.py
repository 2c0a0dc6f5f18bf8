"""statestore-cli end to end: against the real daemon for what it prints and
its exit codes, and against tiny Python servers for what the daemon will not
do on demand (never answer, answer a byte at a time, hang up mid-batch)."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from sstools import harness

CLI = harness.binary("statestore-cli")


def run_cli(args, stdin=b"", timeout=60):
    return subprocess.run([CLI] + [str(a) for a in args], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def run_cli_stdin_file(args, data, timeout=60):
    """Like run_cli, with stdin a regular file holding data, so the CLI's
    first read() gets all of it (a pipe may hand it over in pieces)."""
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        return subprocess.run([CLI] + [str(a) for a in args], stdin=f, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)


def run_cli_with_closed(fd, args, timeout=60):
    """Runs the CLI with descriptor fd (0 or 1) closed, as `cli >&-` does;
    stdout, when open, and stderr are captured."""
    redirect = {0: "<&-", 1: ">&-"}[fd]
    return subprocess.run(["sh", "-c", 'exec "$@" ' + redirect, "sh", CLI] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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

    def test_batch_quit_says_how_many_read_requests_it_left_unsent(self):
        # Blank lines are not requests; a last line without a newline is.
        stdin = b"PING\nquit\t\r\nSET_CHECKPOINT afterquit2 1\n \nPING\nGET_CHECKPOINT x"
        r = run_cli_stdin_file(["-p", self.daemon.port], stdin)
        self.assertEqual((r.returncode, r.stdout), (0, b"PONG\nOK\n"), r.stderr)
        self.assertEqual(r.stderr,
                         b"statestore-cli: QUIT ended the batch; 3 later requests read from stdin"
                         b" were not sent\n")
        self.assertEqual(self.cli("GET_CHECKPOINT", "afterquit2").stdout, b"NULL\n")
        # The status is what it would have been: 1 after an ERR reply.
        r = run_cli_stdin_file(["-p", self.daemon.port], b"BOGUS\nQUIT\nPING\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"QUIT ended the batch; 1 later request read from stdin was not sent\n",
                      r.stderr)
        # Nothing left behind: nothing to say.
        r = run_cli_stdin_file(["-p", self.daemon.port], b"PING\nQUIT\n\n \n")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"PONG\nOK\n", b""))

    def test_batch_quit_with_arguments_is_an_error_and_the_batch_goes_on(self):
        r = self.cli(stdin=b"QUIT x\nSET_CHECKPOINT afterquitx 1\nPING\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines(),
                         ["ERR wrong number of arguments for 'QUIT'", "OK", "PONG"])
        self.assertEqual(self.cli("GET_CHECKPOINT", "afterquitx").stdout, b"1\n")

    def test_batch_stats_with_arguments_is_one_err_line(self):
        r = self.cli(stdin=b"STATS x\nPING\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines(),
                         ["ERR wrong number of arguments for 'STATS'", "PONG"])

    def test_batch_lines_are_framed_as_the_server_frames_them(self):
        # The server drops one '\r' before the '\n': the first token is
        # "STATS\r", an unknown command with a one-line reply, not STATS.
        r = self.cli(stdin=b"STATS\r\r\nPING\n")
        self.assertEqual(r.stdout, b"ERR unknown command 'STATS?'\nPONG\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        # And "STATS\r\n" is STATS.
        r = self.cli(stdin=b"STATS\r\nPING\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines()[-2:], ["END", "PONG"])

    def test_one_shot_refuses_arguments_the_protocol_cannot_carry(self):
        cases = ((["SET_CHECKPOINT", "split me", "1"], b"argument 2", b"'split me'"),
                 (["SET_CHECKPOINT", "split\tme", "1"], b"argument 2", b"'split\\tme'"),
                 (["SET_CHECKPOINT", "split", ""], b"argument 3", b"empty"),
                 (["PING", ""], b"argument 2", b"empty"),
                 (["SET_CHECKPOINT split", "me"], b"argument 1", b"'SET_CHECKPOINT split'"))
        for args, which, what in cases:
            r = self.cli(*args)
            self.assertEqual((r.returncode, r.stdout), (2, b""), args)
            self.assertTrue(r.stderr.startswith(b"statestore-cli: "), r.stderr)
            self.assertIn(which, r.stderr, args)
            self.assertIn(what, r.stderr, args)
        # Nothing was sent: pipeline "split" was never set.
        self.assertEqual(self.cli("GET_CHECKPOINT", "split").stdout, b"NULL\n")

    def test_a_value_ERR_is_a_value_not_an_error(self):
        for name, value in (("errval", "ERR"), ("errxval", "ERRx"), ("errcolon", "ERR:x")):
            self.assertEqual(self.cli("SET_CHECKPOINT", name, value).returncode, 0)
            r = self.cli("GET_CHECKPOINT", name)
            self.assertEqual((r.returncode, r.stdout, r.stderr),
                             (0, value.encode() + b"\n", b""), name)
        r = self.cli(stdin=b"GET_CHECKPOINT errval\nGET_CHECKPOINT errxval\n")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"ERR\nERRx\n", b""))

    def test_batch_of_only_blank_lines_sends_nothing_and_exits_0(self):
        r = self.cli(stdin=b"\n \n\t\n")
        self.assertEqual((r.returncode, r.stdout), (0, b""))


class CliRevisionCommands(unittest.TestCase):
    """The commands of issue 13: revisions, CAS, multi-commits, history,
    rollback and listing, with their multi-line and CONFLICT replies."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = harness.Daemon().start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def cli(self, *args, stdin=b""):
        return run_cli(["-p", self.daemon.port] + list(args), stdin)

    def ok_rev(self, *args):
        r = self.cli(*args)
        self.assertEqual((r.returncode, r.stderr), (0, b""), args)
        word, rev = r.stdout.decode().split()
        self.assertEqual(word, "OK")
        return int(rev)

    def test_one_shot_cas_prints_ok_and_conflict_to_stdout_conflict_exits_6(self):
        rev = self.ok_rev("CAS_CHECKPOINT", "cas1", "0", "100")
        r = self.cli("GETREV_CHECKPOINT", "cas1")
        self.assertEqual((r.returncode, r.stdout), (0, b"%d 100\n" % rev))
        # A stale expected revision: a decision, not an error.
        r = self.cli("CAS_CHECKPOINT", "cas1", "0", "200")
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (6, b"CONFLICT %d\n" % rev, b""))
        r = self.cli("DEL_CHECKPOINT", "cas1", str(rev + 1000))
        self.assertEqual((r.returncode, r.stdout), (6, b"CONFLICT %d\n" % rev))
        rev2 = self.ok_rev("CAS_CHECKPOINT", "cas1", str(rev), "200", "3600")
        self.assertGreater(rev2, rev)
        self.assertEqual(self.cli("GET_CHECKPOINT", "cas1").stdout, b"200\n")
        r = self.cli("GETREV_CHECKPOINT", "never-set-rev")
        self.assertEqual((r.returncode, r.stdout), (0, b"NULL\n"))

    def test_one_shot_bad_revision_is_an_err_exit_1(self):
        for rev in ("-1", "18446744073709551616", "7x"):
            r = self.cli("CAS_CHECKPOINT", "badrev", rev, "1")
            self.assertEqual((r.returncode, r.stdout), (1, b""), rev)
            self.assertEqual(r.stderr,
                             b"ERR invalid revision: want a decimal from 0 to 2^64-1\n")

    def test_one_shot_history_prints_every_version_through_end(self):
        for v in (1, 2):
            self.assertEqual(self.cli("SET_CHECKPOINT", "hist1", str(v)).returncode, 0)
        r = self.cli("HISTORY_CHECKPOINT", "hist1")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[-1], "END")
        rows = [l.split() for l in lines[:-1]]
        self.assertEqual([row[2] for row in rows], ["2", "1"])  # newest first
        self.assertGreater(int(rows[0][0]), int(rows[1][0]))
        r = self.cli("HISTORY_CHECKPOINT", "hist1", "1")
        self.assertEqual(len(r.stdout.decode().splitlines()), 2)
        # A missing pipeline: just END.
        self.assertEqual(self.cli("HISTORY_CHECKPOINT", "no-such-hist").stdout, b"END\n")
        r = self.cli("HISTORY_CHECKPOINT", "hist1", "0")
        self.assertEqual((r.returncode, r.stdout), (1, b""))
        self.assertTrue(r.stderr.startswith(b"ERR invalid count"), r.stderr)

    def test_one_shot_set_prints_ok_without_a_revision_as_before(self):
        r = self.cli("SET_CHECKPOINT", "plainset", "1")
        self.assertEqual((r.returncode, r.stdout), (0, b"OK\n"))

    def test_one_shot_rollback_and_its_err(self):
        first = self.ok_rev("CAS_CHECKPOINT", "rb1", "0", "300")
        second = self.ok_rev("CAS_CHECKPOINT", "rb1", str(first), "800")
        r = self.cli("ROLLBACK_CHECKPOINT", "rb1", str(first), str(first))
        self.assertEqual((r.returncode, r.stdout), (6, b"CONFLICT %d\n" % second))
        back = self.ok_rev("ROLLBACK_CHECKPOINT", "rb1", str(first), str(second))
        self.assertGreater(back, second)
        self.assertEqual(self.cli("GETREV_CHECKPOINT", "rb1").stdout, b"%d 300\n" % back)
        r = self.cli("ROLLBACK_CHECKPOINT", "rb1", "1234567")
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (1, b"", b"ERR no revision 1234567 in history\n"))

    def test_one_shot_mset_and_mcas_of_many_pipelines(self):
        n = 5000
        args = ["MSET_CHECKPOINT"]
        for i in range(n):
            args += ["ms/%d" % i, str(i)]
        rev = self.ok_rev(*args)
        r = self.cli("GETREV_CHECKPOINT", "ms/4999")
        self.assertEqual(r.stdout, b"%d 4999\n" % rev)
        args = ["MCAS_CHECKPOINT"]
        for i in range(n):
            args += ["ms/%d" % i, str(rev), str(i + 1)]
        rev2 = self.ok_rev(*args)
        # The same again: every expected revision is stale; the first fails.
        r = self.cli(*args)
        self.assertEqual((r.returncode, r.stdout), (6, b"CONFLICT ms/0 %d\n" % rev2))
        r = self.cli("MSET_CHECKPOINT", "a", "1", "b")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"want pairs of <name> <value>", r.stderr)

    def list_all(self, *extra):
        """Follows LIST_CHECKPOINTS' cursor with one-shot calls; returns
        {name: (rev, commit_ms, value)} and the number of calls."""
        cursor, seen, calls = "0", {}, 0
        while True:
            r = self.cli("LIST_CHECKPOINTS", cursor, *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.decode().splitlines()
            calls += 1
            self.assertEqual(lines[-1], "END")
            word, cursor = lines[0].split()
            self.assertEqual(word, "CURSOR")
            for line in lines[1:-1]:
                name, rev, ms, value = line.split(" ")
                seen[name] = (int(rev), int(ms), value)
            if cursor == "0":
                return seen, calls

    def test_one_shot_list_follows_the_cursor_to_zero(self):
        for i in range(40):
            self.assertEqual(self.cli("SET_CHECKPOINT", "ls/%02d" % i, str(i)).returncode, 0)
        seen, calls = self.list_all("PREFIX", "ls/", "COUNT", "100")
        self.assertEqual(sorted(seen), ["ls/%02d" % i for i in range(40)])
        self.assertEqual(seen["ls/05"][2], "5")
        self.assertGreaterEqual(calls, 6)
        r = self.cli("LIST_CHECKPOINTS", "12345")
        self.assertEqual((r.returncode, r.stdout), (1, b""))
        self.assertTrue(r.stderr.startswith(b"ERR invalid cursor"), r.stderr)
        r = self.cli("LIST_CHECKPOINTS", "0", "COUNT", "0")
        self.assertEqual(r.stderr, b"ERR invalid count: want 1 to 10000\n")

    def test_batch_mixes_multi_line_replies_errors_and_conflicts_in_order(self):
        stdin = (b"CAS_CHECKPOINT bm 0 1\n"
                 b"HISTORY_CHECKPOINT bm\n"
                 b"CAS_CHECKPOINT bm 0 2\n"
                 b"HISTORY_CHECKPOINT bm 0\n"
                 b"LIST_CHECKPOINTS 0 PREFIX bm COUNT 10\n"
                 b"LIST_CHECKPOINTS 0 BOGUS x\n"
                 b"stats\n"
                 b"GETREV_CHECKPOINT bm\n")
        r = self.cli(stdin=stdin)
        self.assertEqual(r.returncode, 1, r.stderr)  # an ERR outranks a CONFLICT
        out = r.stdout.decode().splitlines()
        rev = int(out[0].split()[1])
        self.assertEqual(out[0], "OK %d" % rev)
        self.assertEqual(out[1].split(" ")[::2], [str(rev), "1"])
        self.assertEqual(out[2:4], ["END", "CONFLICT %d" % rev])
        self.assertTrue(out[4].startswith("ERR invalid count"), out)
        self.assertEqual(out[5], "CURSOR 0")
        self.assertEqual(out[6].split(" ")[::3], ["bm", "1"])
        self.assertEqual(out[7], "END")
        self.assertEqual(out[8], "ERR syntax error: unknown keyword 'BOGUS': want PREFIX or COUNT")
        end = out.index("END", 9)
        self.assertTrue(all(l.startswith("STAT ") for l in out[9:end]))
        self.assertIn("STAT revision %d" % rev, out[9:end])
        self.assertEqual(out[end + 1:], ["%d 1" % rev])
        self.assertIn(b"2 of 8 requests got an ERR reply", r.stderr)
        self.assertIn(b"1 of 8 requests got a CONFLICT reply", r.stderr)

    def test_batch_with_conflicts_and_no_err_exits_6(self):
        r = self.cli(stdin=b"CAS_CHECKPOINT bc 0 1\nCAS_CHECKPOINT bc 0 1\nPING\n")
        self.assertEqual(r.returncode, 6, r.stderr)
        out = r.stdout.decode().splitlines()
        rev = out[0].split()[1]
        self.assertEqual(out, ["OK " + rev, "CONFLICT " + rev, "PONG"])
        self.assertEqual(r.stderr, b"statestore-cli: 1 of 3 requests got a CONFLICT reply\n")

    def test_batch_a_value_named_conflict_is_a_value(self):
        r = self.cli(stdin=b"SET_CHECKPOINT CONFLICT CONFLICT\nGET_CHECKPOINT CONFLICT\n"
                           b"LIST_CHECKPOINTS 0 PREFIX CONFLICT\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode().splitlines()
        self.assertEqual(out[:3], ["OK", "CONFLICT", "CURSOR 0"])
        self.assertTrue(out[3].startswith("CONFLICT "), out)
        self.assertEqual(out[4:], ["END"])

    def test_batch_one_mib_multi_commit_line(self):
        # 1 MiB of names and values fits the default --max-line.
        pairs, size, i = [], 0, 0
        while size < 1024 * 1024:
            pair = "big/%06d %s" % (i, "v" * 100)
            pairs.append(pair)
            size += len(pair) + 1
            i += 1
        line = ("MSET_CHECKPOINT " + " ".join(pairs) + "\n").encode()
        r = self.cli(stdin=line + b"GET_CHECKPOINT big/000000\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode().splitlines()
        self.assertTrue(out[0].startswith("OK "), out[:1])
        self.assertEqual(out[1:], ["v" * 100])


class CliWithClosedStdFds(harness.DaemonTestCase):
    """Started with stdin or stdout closed, the CLI must not let its socket
    take descriptor 0 or 1: the reply would be written into the server as a
    request, or the socket read as stdin."""

    def test_closed_stdout_fails_with_exit_5_and_sends_the_server_nothing(self):
        for args in (["PING"], ["GET_CHECKPOINT", "x"]):
            r = run_cli_with_closed(1, ["-p", self.d.port] + args)
            self.assertEqual(r.returncode, 5, r.stderr)
            self.assertEqual(r.stderr, b"statestore-cli: writing output: Bad file descriptor\n")
        with self.connect() as c:
            stats = c.stats()
        self.assertEqual(stats["rejected"], "0")
        self.assertEqual(stats["connections"], "3")

    def test_closed_stdin_is_an_empty_batch(self):
        r = run_cli_with_closed(0, ["-p", self.d.port], timeout=30)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))


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
        self.assertIn(b"-V, --version", r.stdout)
        self.assertIn(b"6  the server replied CONFLICT", r.stdout)

    def test_version_prints_the_project_version_and_exits_0(self):
        want = ("statestore-cli %s\n" % harness.project_version()).encode()
        for flag in ("-V", "--version"):
            r = run_cli(["-p", "1", flag])
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, want, b""), flag)

    def test_timeout_out_of_range_names_the_valid_range(self):
        for value in ("99999999999", "86400.5", "0"):
            r = run_cli(["-t", value, "PING"])
            self.assertEqual(r.returncode, 2)
            self.assertIn(b"invalid timeout '%s'" % value.encode(), r.stderr)
            self.assertIn(b"(want seconds, more than 0 and at most 86400)", r.stderr)
        r = run_cli(["-t", "86400", "-p", free_port(), "PING"])
        self.assertEqual(r.returncode, 3, r.stderr)  # accepted: got as far as connecting

    def test_closed_stdout_pipe_exits_5_instead_of_dying_of_sigpipe(self):
        # The server replies only once the read end of the CLI's stdout is
        # closed, so the CLI's write must meet a pipe without readers.
        reader_gone = threading.Event()

        def serve(fake, conn):
            fake.read_lines(conn, 1)
            if reader_gone.wait(60):
                conn.sendall(b"PONG\n")
        fake = FakeServer(serve)
        rd, wr = os.pipe()
        try:
            p = subprocess.Popen([CLI, "-p", str(fake.port), "PING"], stdin=subprocess.DEVNULL,
                                 stdout=wr, stderr=subprocess.PIPE)
        finally:
            os.close(wr)
        os.close(rd)
        reader_gone.set()
        _, err = p.communicate(timeout=60)
        fake.close()
        self.assertNotEqual(p.returncode, -signal.SIGPIPE, "killed by SIGPIPE")
        self.assertEqual(p.returncode, 5, err)
        self.assertEqual(err, b"statestore-cli: writing output: Broken pipe\n")
        self.assertEqual(fake.received, b"PING\n")

    def test_err_reply_is_err_space_reason_only(self):
        def serve(fake, conn):
            fake.read_lines(conn, 5)
            conn.sendall(b"ERR\nERRx\nERR boom\nERR\nERR no such thing\n")
        fake = FakeServer(serve)
        r = run_cli(["-p", fake.port], stdin=b"GET_CHECKPOINT a\n" * 5)
        fake.close()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, b"ERR\nERRx\nERR boom\nERR\nERR no such thing\n")
        self.assertEqual(r.stderr, b"statestore-cli: 2 of 5 requests got an ERR reply\n")

    def test_request_bytes_are_sent_unchanged(self):
        # Only blank lines are dropped and a missing last newline added: the
        # server, not the CLI, decides what a '\r' means.
        def serve(fake, conn):
            fake.read_lines(conn, 4)
            conn.sendall(b"PONG\nNULL\nNULL\nPONG\n")
        fake = FakeServer(serve)
        r = run_cli(["-p", fake.port],
                    stdin=b"PING\r\nGET_CHECKPOINT a\r\r\n  \r\n\tGET_CHECKPOINT\t b \nPING")
        fake.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(fake.received,
                         b"PING\r\nGET_CHECKPOINT a\r\r\n\tGET_CHECKPOINT\t b \nPING\n")

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

    def test_list_and_history_replies_split_into_single_bytes_are_reassembled(self):
        reply = (b"CURSOR 917505\nEND 4 1700000000000 7\nEND\n"
                 b"9 1700000000001 END\nEND\nCONFLICT 9\n")
        def serve(fake, conn):
            fake.read_lines(conn, 3)
            for b in reply:
                conn.sendall(bytes([b]))
                time.sleep(0.001)
        fake = FakeServer(serve)
        r = run_cli(["-p", fake.port],
                    stdin=b"LIST_CHECKPOINTS 0\nHISTORY_CHECKPOINT x\nCAS_CHECKPOINT x 1 2\n")
        fake.close()
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertEqual(r.stdout, reply)

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
