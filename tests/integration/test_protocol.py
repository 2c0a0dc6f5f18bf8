"""The wire protocol of the README's Protocol section, request by request: every command and
its reply, the framing rules inside one line (case, separators, \\r, empty
lines), every error with its exact text, and the rule that a bad request
changes nothing and leaves the connection usable.

Each test gets its own daemon (DaemonTestCase) on a fresh data dir.
"""
import re
import unittest

from sstools.harness import DaemonTestCase, limit, project_version, wait_until

NAME_MAX = limit("SS_NAME_MAX")
VALUE_MAX = limit("SS_VALUE_MAX")
TTL_MAX = limit("SS_TTL_MAX_S")
ARGS_MAX = limit("SS_ARGS_MAX")

COMMANDS = ["SET_CHECKPOINT", "GET_CHECKPOINT", "DEL_CHECKPOINT", "TTL_CHECKPOINT",
            "COMPACT", "PING", "QUIT", "STATS"]
STAT_FIELDS = ["version", "uptime_s", "clients", "entries", "log_bytes", "log_bytes_compacted",
               "commits", "fsyncs", "fsync_us_mean", "fsync_us_max", "rejected", "compactions"]


def wrong_args(cmd):
    return "ERR wrong number of arguments for '%s'" % cmd


class ProtocolCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.c = self.connect()

    def num_stats(self, c=None):
        st = (c or self.c).stats()
        # Numbers as numbers; the text rows (version, the replication
        # role and addresses) as they are.
        return {k: (float(v) if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", v) else v)
                for k, v in st.items()}

    def assert_state(self, name, value, ttl=None):
        """name holds value (None: missing) and, if given, that TTL."""
        self.assertEqual(self.c.cmd("GET_CHECKPOINT " + name), "NULL" if value is None else value)
        if ttl is not None:
            self.assertEqual(self.c.cmd("TTL_CHECKPOINT " + name), str(ttl))

    def assert_usable(self):
        self.assertEqual(self.c.cmd("PING"), "PONG")


class TestCommands(ProtocolCase):
    def test_set_then_get_returns_value(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT pipe-a offset:42"), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT pipe-a"), "offset:42")

    def test_set_overwrites_previous_value(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v1"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v2"), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT p"), "v2")

    def test_get_missing_is_null(self):
        self.assertEqual(self.c.cmd("GET_CHECKPOINT nosuch"), "NULL")

    def test_value_is_visible_to_other_connections(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT shared 7"), "OK")
        other = self.connect()
        self.assertEqual(other.cmd("GET_CHECKPOINT shared"), "7")

    def test_del_reports_whether_it_existed(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p"), "1")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT p"), "NULL")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p"), "0")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT never-set"), "0")
        self.assertEqual(self.c.cmd("TTL_CHECKPOINT p"), "-2")

    def test_set_after_del_recreates(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p"), "1")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p w"), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT p"), "w")

    def test_ping_answers_pong(self):
        self.assertEqual(self.c.cmd("PING"), "PONG")

    def test_quit_replies_ok_then_closes(self):
        self.assertEqual(self.c.cmd("QUIT"), "OK")
        self.assertEqual(self.c.wait_eof(), [])

    def test_compact_replies_ok_and_keeps_state(self):
        for i in range(20):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT k%d v%d" % (i % 5, i)), "OK")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT k0"), "1")
        before = self.num_stats()
        self.assertEqual(self.c.cmd("COMPACT"), "OK")
        after = self.num_stats()
        self.assertEqual(after["compactions"], before["compactions"] + 1)
        self.assertLess(after["log_bytes"], before["log_bytes"],
                        "compaction of 20 sets over 5 names did not shrink the log")
        self.assertEqual(after["log_bytes_compacted"], after["log_bytes"])
        self.assert_state("k0", None)
        for i in range(1, 5):
            self.assert_state("k%d" % i, "v%d" % (15 + i))

    def test_name_of_max_length_and_value_of_max_length_accepted(self):
        name = "n" * NAME_MAX
        value = "v" * VALUE_MAX
        self.assertEqual(self.c.cmd("SET_CHECKPOINT %s %s" % (name, value)), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT " + name), value)
        self.assertEqual(self.c.cmd("TTL_CHECKPOINT " + name), "-1")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT " + name), "1")

    def test_every_printable_byte_allowed_in_name_and_value(self):
        alphabet = "".join(chr(b) for b in range(0x21, 0x7f))
        self.assertEqual(self.c.cmd("SET_CHECKPOINT %s %s" % (alphabet, alphabet[::-1])), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT " + alphabet), alphabet[::-1])


class TestStats(ProtocolCase):
    def test_stats_lists_every_named_field_then_end(self):
        self.c.send("STATS\n")
        lines = []
        while True:
            line = self.c.readline()
            self.assertIsNotNone(line, "connection closed inside STATS")
            if line == "END":
                break
            lines.append(line)
        names = []
        for line in lines:
            parts = line.split(" ")
            self.assertEqual(len(parts), 3, "not 'STAT <name> <value>': %r" % line)
            self.assertEqual(parts[0], "STAT", line)
            names.append(parts[1])
        for f in STAT_FIELDS:
            self.assertIn(f, names)
        self.assertEqual(len(names), len(set(names)), "duplicate STAT names")
        self.assert_usable()

    def test_stats_of_a_fresh_daemon_are_exactly_its_state(self):
        st = self.c.stats()
        header = len(b"statestored-log 2\n")
        want = {"version": project_version(), "pid": str(self.d.proc.pid), "clients": "1",
                "connections": "1", "refused_connections": "0", "entries": "0",
                "log_bytes": str(header), "log_bytes_compacted": str(header)}
        for name in ("commits", "batches", "fsyncs", "fsyncs_background", "fsync_us_mean",
                     "fsync_us_max", "write_errors", "rejected", "compacting", "compactions",
                     "auto_compactions", "compaction_failures", "last_compaction_ms",
                     "last_compaction_stall_us", "last_compaction_loop_max_us",
                     "last_compaction_slices",
                     "last_compaction_slice_max_us", "expired",
                     "quota_bytes", "quota_exceeded"):
            want[name] = "0"
        # The loop has woken for the connection and this STATS at least;
        # an idle fresh daemon has no iteration of 50 ms.
        self.assertGreaterEqual(int(st["loop_iterations"]), 2)
        self.assertEqual(st["loop_slow_50ms"], "0")
        self.assertEqual({k: st[k] for k in want}, want)
        self.assertTrue(0 <= int(st["uptime_s"]) <= 60, st["uptime_s"])
        # --max-clients 10000, or what the descriptor limit leaves (logged).
        self.assertTrue(int(st["max_clients"]) == 10000 or "lowered to %s" % st["max_clients"]
                        in self.d.log(), st["max_clients"])
        # One SET: one group of one record, one batch, one fdatasync. The
        # record carries revision 1 and its commit time in unix ms.
        self.assertEqual(self.c.cmd("SET_CHECKPOINT k v"), "OK")
        after = self.c.stats()
        commit_ms = self.c.cmd("HISTORY_CHECKPOINT k").split()[1]
        self.assertEqual(self.c.readline(), "END")
        record = len(b"GROUP 1 01234567\n") + len(
            ("SET_CHECKPOINT k v 0 1 %s 01234567\n" % commit_ms).encode())
        self.assertEqual({k: after[k] for k in ("commits", "batches", "fsyncs", "entries",
                                                  "log_bytes", "rejected")},
                         {"commits": "1", "batches": "1", "fsyncs": "1", "entries": "1",
                          "log_bytes": str(header + record), "rejected": "0"})
        self.assertGreater(int(after["table_bytes"]), int(st["table_bytes"]))

    def test_loop_figures_count_every_wakeup_and_nest(self):
        """loop_iterations grows with every request answered on its own
        wakeup; the slow counters nest (an iteration over 10 ms is over 5,
        2 and 1 too), and loop_max_us agrees with them."""
        before = self.num_stats()
        for _ in range(20):  # one at a time: at least one wakeup each
            self.assertEqual(self.c.cmd("PING"), "PONG")
        after = self.num_stats()
        self.assertGreaterEqual(after["loop_iterations"] - before["loop_iterations"], 20)
        slow = [after["loop_slow_%dms" % ms] for ms in (1, 2, 5, 10, 50)]
        self.assertEqual(slow, sorted(slow, reverse=True), after)
        for ms, n in zip((1, 2, 5, 10, 50), slow):
            self.assertEqual(n > 0, after["loop_max_us"] >= ms * 1000, (ms, after))

    def test_entries_count_sets_and_dels(self):
        e0 = self.num_stats()["entries"]
        for i in range(3):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT e%d x" % i), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT e0 y"), "OK")  # overwrite: no new entry
        self.assertEqual(self.num_stats()["entries"], e0 + 3)
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT e1"), "1")
        self.assertEqual(self.num_stats()["entries"], e0 + 2)

    def test_commits_count_mutations_not_reads(self):
        s0 = self.num_stats()
        for i in range(5):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT c%d x" % i), "OK")
        s1 = self.num_stats()
        # One client waiting for each reply: every SET is its own commit.
        self.assertEqual(s1["commits"], s0["commits"] + 5)
        self.assertGreater(s1["fsyncs"], s0["fsyncs"])
        self.assertLessEqual(s1["fsyncs"], s1["commits"])
        self.assertGreater(s1["log_bytes"], s0["log_bytes"])
        self.assertLessEqual(s1["fsync_us_mean"], s1["fsync_us_max"])
        for line in ["GET_CHECKPOINT c0", "TTL_CHECKPOINT c0", "PING", "GET_CHECKPOINT none"]:
            self.c.cmd(line)
        s2 = self.num_stats()
        self.assertEqual(s2["commits"], s1["commits"])
        self.assertEqual(s2["fsyncs"], s1["fsyncs"])
        self.assertEqual(s2["log_bytes"], s1["log_bytes"])
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT c0"), "1")
        s3 = self.num_stats()
        self.assertEqual(s3["commits"], s2["commits"] + 1)
        self.assertLessEqual(s3["fsyncs"], s3["commits"])

    def test_pipelined_mutations_share_one_fsync(self):
        """Group commit: mutations that arrive together (one send, so one
        read) are written and fdatasync'd once, then all acknowledged."""
        s0 = self.num_stats()
        self.c.send("".join("SET_CHECKPOINT g%d %d\n" % (i, i) for i in range(20)) + "DEL_CHECKPOINT g0\n")
        self.assertEqual(self.c.readlines(21), ["OK"] * 20 + ["1"])
        s1 = self.num_stats()
        self.assertEqual(s1["commits"], s0["commits"] + 21)
        self.assertEqual(s1["fsyncs"], s0["fsyncs"] + 1)

    def test_clients_counts_open_connections(self):
        n0 = self.num_stats()["clients"]
        other = self.connect()
        self.assertEqual(other.cmd("PING"), "PONG")
        self.assertEqual(self.num_stats()["clients"], n0 + 1)
        other.close()
        self.assertTrue(wait_until(lambda: self.num_stats()["clients"] == n0, 10),
                        "clients did not drop back after a disconnect")

    def test_uptime_does_not_go_backwards(self):
        u0 = self.num_stats()["uptime_s"]
        self.assertGreaterEqual(self.num_stats()["uptime_s"], u0)


class TestLineSyntax(ProtocolCase):
    def test_command_names_are_case_insensitive(self):
        self.assertEqual(self.c.cmd("set_checkpoint p v1"), "OK")
        self.assertEqual(self.c.cmd("Get_Checkpoint p"), "v1")
        self.assertEqual(self.c.cmd("tTl_cHeCkPoInT p"), "-1")
        self.assertEqual(self.c.cmd("pInG"), "PONG")
        self.assertEqual(self.c.cmd("del_checkpoint p"), "1")
        self.assertEqual(self.c.cmd("compact"), "OK")
        self.c.send("stats\n")
        while self.c.readline() not in ("END", None):
            pass
        self.assertEqual(self.c.cmd("quit"), "OK")
        self.assertEqual(self.c.wait_eof(), [])

    def test_names_and_values_are_case_sensitive(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT Pipe V"), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT pipe"), "NULL")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT Pipe"), "V")

    def test_tabs_and_runs_of_spaces_separate_tokens(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT \t  p\t\tv  \t 100"), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT\tp"), "v")
        ttl = int(self.c.cmd("TTL_CHECKPOINT    p"))
        self.assertTrue(1 <= ttl <= 100, ttl)

    def test_leading_and_trailing_blanks_are_ignored(self):
        self.assertEqual(self.c.cmd("  \tSET_CHECKPOINT p v \t "), "OK")
        self.assertEqual(self.c.cmd("\tGET_CHECKPOINT p  "), "v")
        self.assertEqual(self.c.cmd(" PING "), "PONG")

    def test_trailing_cr_is_ignored(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v\r"), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT p"), "v")  # stored "v", not "v\r"
        self.assertEqual(self.c.cmd("GET_CHECKPOINT p\r"), "v")  # looked up "p", not "p\r"
        self.assertEqual(self.c.cmd("PING\r"), "PONG")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT q w 50\r"), "OK")
        ttl = int(self.c.cmd("TTL_CHECKPOINT q\r"))
        self.assertTrue(1 <= ttl <= 50, ttl)

    def test_empty_lines_get_no_reply(self):
        # Blank-only lines have no tokens: we take them as empty (ignored).
        self.c.send("\n\r\n\n   \n\t\n\r\nPING\n\nGET_CHECKPOINT x\n")
        self.assertEqual(self.c.readline(), "PONG")
        self.assertEqual(self.c.readline(), "NULL")
        self.assertEqual(self.c.cmd("PING"), "PONG")


class TestErrors(ProtocolCase):
    def setUp(self):
        super().setUp()
        # State that no bad request below may touch.
        self.assertEqual(self.c.cmd("SET_CHECKPOINT keep orig 1000"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT plain orig"), "OK")
        self.base = self.num_stats()

    def assert_rejected(self, line, reply):
        got = self.c.cmd(line)
        shown = line if len(line) < 200 else line[:200] + "..."
        self.assertEqual(got, reply, "request %r" % shown)
        self.assert_usable()

    def assert_nothing_changed(self):
        self.assertEqual(self.c.cmd("GET_CHECKPOINT keep"), "orig")
        ttl = int(self.c.cmd("TTL_CHECKPOINT keep"))
        self.assertTrue(1 <= ttl <= 1000, ttl)
        self.assert_state("plain", "orig", -1)
        now = self.num_stats()
        self.assertEqual(now["entries"], self.base["entries"])
        self.assertEqual(now["commits"], self.base["commits"], "a rejected request was committed")
        self.assertEqual(now["log_bytes"], self.base["log_bytes"], "a rejected request was logged")

    def test_unknown_command_exact_text(self):
        self.assert_rejected("FOO", "ERR unknown command 'FOO'")
        self.assert_rejected("FOO keep bar", "ERR unknown command 'FOO'")
        self.assert_rejected("SET keep x", "ERR unknown command 'SET'")
        self.assert_rejected("SET_CHECKPOINTS keep x", "ERR unknown command 'SET_CHECKPOINTS'")
        self.assert_nothing_changed()

    def test_rejected_requests_are_counted(self):
        r0 = self.num_stats()["rejected"]
        self.assert_rejected("FOO", "ERR unknown command 'FOO'")
        self.assert_rejected("GET_CHECKPOINT", wrong_args("GET_CHECKPOINT"))
        self.assertGreaterEqual(self.num_stats()["rejected"], r0 + 2)

    def test_wrong_number_of_arguments_names_the_command(self):
        cases = [
            ("SET_CHECKPOINT", "SET_CHECKPOINT"),
            ("set_checkpoint keep", "SET_CHECKPOINT"),
            ("SET_CHECKPOINT keep x 10 extra", "SET_CHECKPOINT"),
            ("get_checkpoint", "GET_CHECKPOINT"),
            ("GET_CHECKPOINT keep plain", "GET_CHECKPOINT"),
            ("del_checkpoint", "DEL_CHECKPOINT"),
            ("DEL_CHECKPOINT keep 1 plain", "DEL_CHECKPOINT"),
            ("ttl_checkpoint", "TTL_CHECKPOINT"),
            ("TTL_CHECKPOINT keep plain", "TTL_CHECKPOINT"),
            ("ping x", "PING"),
            ("compact now", "COMPACT"),
            ("stats all", "STATS"),
            ("quit now", "QUIT"),
        ]
        for line, canonical in cases:
            self.assert_rejected(line, wrong_args(canonical))
        # QUIT with an argument is an error, so the connection stays open.
        self.assert_nothing_changed()

    def test_invalid_ttl_rejected(self):
        for ttl in ["0", "-1", "1.5", "abc", str(TTL_MAX + 1), "99999999999999999999999999",
                    "18446744073709551617", "9223372036854775808", "1e3", "0x10", "5s", "-0",
                    "--5", "١"]:
            self.assert_rejected("SET_CHECKPOINT keep new %s" % ttl, "ERR invalid ttl")
            self.assert_rejected("SET_CHECKPOINT fresh new %s" % ttl, "ERR invalid ttl")
        self.assert_state("fresh", None)
        self.assert_nothing_changed()

    def test_a_ttl_with_leading_zeros_is_its_number(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT z v 0000000000001"), "OK")
        self.assertEqual(self.c.cmd("TTL_CHECKPOINT z"), "1")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT z v %s" % ("0" * 100 + "90")), "OK")
        ttl = int(self.c.cmd("TTL_CHECKPOINT z"))
        self.assertTrue(80 <= ttl <= 90, ttl)

    def test_the_value_NULL_is_refused_so_a_checkpoint_never_reads_as_missing(self):
        self.assert_rejected("SET_CHECKPOINT keep NULL", "ERR reserved value 'NULL': "
                             "GET_CHECKPOINT answers NULL for a missing checkpoint")
        self.assert_rejected("SET_CHECKPOINT fresh NULL 60", "ERR reserved value 'NULL': "
                             "GET_CHECKPOINT answers NULL for a missing checkpoint")
        self.assert_state("fresh", None)
        self.assert_nothing_changed()
        # ERR is a value like any other: an error is "ERR", a space, a reason.
        self.assertEqual(self.c.cmd("SET_CHECKPOINT e ERR"), "OK")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT e"), "ERR")

    def test_ttl_at_maximum_accepted(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v %d" % TTL_MAX), "OK")
        ttl = int(self.c.cmd("TTL_CHECKPOINT p"))
        self.assertTrue(1 <= ttl <= TTL_MAX, ttl)
        self.assertGreater(ttl, TTL_MAX - 3600)

    def test_name_too_long(self):
        long_name = "n" * (NAME_MAX + 1)
        self.assert_rejected("SET_CHECKPOINT %s v" % long_name, "ERR name too long")
        self.assert_rejected("GET_CHECKPOINT %s" % long_name, "ERR name too long")
        self.assert_rejected("DEL_CHECKPOINT %s" % long_name, "ERR name too long")
        self.assert_rejected("TTL_CHECKPOINT %s" % long_name, "ERR name too long")
        # The 512-byte prefix must not have been stored in its place.
        self.assert_state("n" * NAME_MAX, None)
        self.assert_nothing_changed()

    def test_value_too_long(self):
        self.assert_rejected("SET_CHECKPOINT keep %s" % ("v" * (VALUE_MAX + 1)), "ERR value too long")
        self.assert_rejected("SET_CHECKPOINT fresh %s 10" % ("v" * (VALUE_MAX + 1)),
                             "ERR value too long")
        self.assert_state("fresh", None)
        self.assert_nothing_changed()

    def test_invalid_bytes_in_name(self):
        bad = [b"\x7f", b"\x80", b"\xff", b"\xc3\xa9", b"\x00", b"\x01", b"\x1b", b"\x0b",
               b"\x0c", b"\r", b"\x08"]
        for b in bad:
            name = b"ke" + b + b"ep"
            for line in [b"SET_CHECKPOINT " + name + b" v", b"GET_CHECKPOINT " + name,
                         b"DEL_CHECKPOINT " + name, b"TTL_CHECKPOINT " + name]:
                self.assert_rejected(line.decode("utf-8", "surrogateescape"), "ERR invalid name")
        self.assert_nothing_changed()

    def test_invalid_bytes_in_value(self):
        bad = [b"\x7f", b"\x80", b"\xff", b"\xc3\xa9", b"\x00", b"\x01", b"\x1b", b"\x0b",
               b"\x0c", b"\r", b"\x08"]
        for b in bad:
            # A bare "\r" would be the ignored trailing \r, not a value.
            for value in [b"or" + b + b"ig"] + ([b] if b != b"\r" else []):
                line = b"SET_CHECKPOINT keep " + value
                self.assert_rejected(line.decode("utf-8", "surrogateescape"), "ERR invalid value")
        self.assert_nothing_changed()

    def test_too_many_arguments(self):
        self.assert_rejected("SET_CHECKPOINT " + " ".join(["a"] * ARGS_MAX), "ERR too many arguments")
        self.assert_rejected("PING " + " ".join(["a"] * ARGS_MAX), "ERR too many arguments")
        # ARGS_MAX tokens, command included, are still parsed: then it is a
        # plain argument-count error.
        self.assert_rejected("SET_CHECKPOINT " + " ".join(["a"] * (ARGS_MAX - 1)),
                             wrong_args("SET_CHECKPOINT"))
        self.assert_nothing_changed()

    def test_bad_requests_pipelined_with_good_ones(self):
        # A bad request in the middle of a pipeline neither stops nor
        # disturbs the requests around it.
        self.c.send("SET_CHECKPOINT a 1\nFOO\nSET_CHECKPOINT a 2 0\nGET_CHECKPOINT a\n"
                    "GET_CHECKPOINT\nSET_CHECKPOINT a 3\nGET_CHECKPOINT a\n")
        self.assertEqual(self.c.readlines(7), ["OK", "ERR unknown command 'FOO'", "ERR invalid ttl", "1",
                                               wrong_args("GET_CHECKPOINT"), "OK", "3"])


class TestTTL(ProtocolCase):
    def test_ttl_of_missing_is_minus_two(self):
        self.assertEqual(self.c.cmd("TTL_CHECKPOINT nosuch"), "-2")

    def test_ttl_without_expiry_is_minus_one(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")
        self.assertEqual(self.c.cmd("TTL_CHECKPOINT p"), "-1")

    def test_ttl_counts_down_from_the_given_seconds(self):
        for ttl in [1, 2, 100, 86400]:
            self.assertEqual(self.c.cmd("SET_CHECKPOINT p%d v %d" % (ttl, ttl)), "OK")
            left = int(self.c.cmd("TTL_CHECKPOINT p%d" % ttl))
            # Rounded up: 1 <= left <= ttl for as long as it exists.
            self.assertTrue(1 <= left <= ttl or (ttl == 1 and left == -2), (ttl, left))
        self.assertGreater(int(self.c.cmd("TTL_CHECKPOINT p86400")), 86400 - 3600)

    def test_set_without_ttl_clears_expiry(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v 100"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p w"), "OK")
        self.assertEqual(self.c.cmd("TTL_CHECKPOINT p"), "-1")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT p"), "w")

    def test_set_with_ttl_replaces_expiry(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v 50"), "OK")
        left = int(self.c.cmd("TTL_CHECKPOINT p"))
        self.assertTrue(1 <= left <= 50, left)
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v 5000"), "OK")
        left = int(self.c.cmd("TTL_CHECKPOINT p"))
        self.assertTrue(50 < left <= 5000, left)

    def test_expired_entry_reads_as_missing(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v 1"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT stay v"), "OK")
        self.assertTrue(wait_until(lambda: self.c.cmd("GET_CHECKPOINT p") == "NULL", 5.0),
                        "a 1 s checkpoint still readable after 5 s")
        self.assertEqual(self.c.cmd("TTL_CHECKPOINT p"), "-2")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p"), "0")
        self.assertEqual(self.c.cmd("GET_CHECKPOINT stay"), "v")
        # An expired name can be set again, with no trace of the old expiry.
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p again"), "OK")
        self.assert_state("p", "again", -1)

    def test_expired_entry_does_not_count_as_existing_for_del(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v 1"), "OK")
        self.assertTrue(wait_until(lambda: self.c.cmd("TTL_CHECKPOINT p") == "-2", 5.0))
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p"), "0")


if __name__ == "__main__":
    unittest.main()
