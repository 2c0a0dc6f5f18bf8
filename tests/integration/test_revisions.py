"""Revisions, compare-and-set, multi-commits, history, rollback and listing
(issue 13), end to end against the real daemon over real sockets.

  TestCommands        every new command and its reply, byte for byte
  TestRevisions       +1 per acknowledged mutation, never reused: kill -9,
                      COMPACT, deleting the newest pipeline, delete and
                      re-create (the ABA a zombie would exploit)
  TestHistory         --history N versions, exact; kept across restart and
                      COMPACT; dropped by DEL and by expiry; --history 0
  TestRollback        the old value comes back as a new revision and fences
  TestListing         LIST_CHECKPOINTS under churn that grows the table;
                      PREFIX; its errors
  TestMultiCommit     1 MiB in one MSET at the default --max-line; errors;
                      an MCAS conflict changes nothing
  TestConcurrency     20 clients x 500 read-CAS-retry increments
  TestRetryRecipe     a lost CAS reply, resolved with GETREV
  TestUpgrade         a version-1 data directory opens, upgraded

Each test gets its own daemon (DaemonTestCase) on a fresh data dir.
"""
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest

from sstools.client import Client
from sstools.harness import DaemonTestCase, limit, wait_until

LOG = "statestored.log"
HISTORY_DEFAULT = limit("SS_HISTORY_DEFAULT", "include/statestored/table.h")
HISTORY_MAX = limit("SS_HISTORY_MAX", "include/statestored/table.h")
LIST_COUNT_MAX = limit("SS_LIST_COUNT_MAX", "src/cmd/cmd.h")
FIXTURE_V1 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "v1",
                          LOG)

BAD_REV = "ERR invalid revision: want a decimal from 0 to 2^64-1"
BAD_COUNT_LIST = "ERR invalid count: want 1 to %d" % LIST_COUNT_MAX
BAD_COUNT_HISTORY = "ERR invalid count: want 1 to %d" % (HISTORY_MAX + 1)
BAD_CURSOR = "ERR invalid cursor: use 0 or a cursor LIST_CHECKPOINTS returned"
MSET_ODD = ("ERR wrong number of arguments for 'MSET_CHECKPOINT': want pairs of "
            "<name> <value>")
MCAS_ODD = ("ERR wrong number of arguments for 'MCAS_CHECKPOINT': want triples of "
            "<name> <expected_rev> <value>")
DUP = "ERR the same pipeline twice in one multi-commit"


def now_ms():
    return int(time.time() * 1000)


def rows(c, line):
    """Sends a command whose reply is lines ending in END; returns the
    lines before END."""
    c.send(line + "\n")
    out = []
    while True:
        got = c.readline()
        if got is None:
            raise ConnectionError("closed inside the reply to %r" % line[:80])
        if got == "END":
            return out
        out.append(got)


def history(c, name, count=None):
    """HISTORY_CHECKPOINT as [(rev, commit_ms, value)], newest first."""
    lines = rows(c, "HISTORY_CHECKPOINT %s%s" % (name, "" if count is None else " %d" % count))
    out = []
    for l in lines:
        rev, ms, value = l.split(" ", 2)
        out.append((int(rev), int(ms), value))
    return out


def listing(c, cursor, extra=""):
    """One LIST_CHECKPOINTS call: (next cursor, [(name, rev, ms, value)])."""
    lines = rows(c, "LIST_CHECKPOINTS %s%s" % (cursor, extra))
    m = re.fullmatch(r"CURSOR (\d+)", lines[0])
    if not m:
        raise AssertionError("not a CURSOR line: %r" % lines[0])
    out = []
    for l in lines[1:]:
        name, rev, ms, value = l.split(" ")
        out.append((name, int(rev), int(ms), value))
    return int(m.group(1)), out


def list_all(c, extra=""):
    cursor, out = 0, []
    while True:
        cursor, got = listing(c, cursor, extra)
        out += got
        if cursor == 0:
            return out


def getrev(c, name):
    """(rev, value), or None."""
    got = c.cmd("GETREV_CHECKPOINT " + name)
    if got == "NULL":
        return None
    rev, value = got.split(" ", 1)
    return int(rev), value


def ok_rev(reply):
    m = re.fullmatch(r"OK (\d+)", reply or "")
    if not m:
        raise AssertionError("not 'OK <rev>': %r" % reply)
    return int(m.group(1))


def revision(c):
    return int(c.stats()["revision"])


class RevCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.c = self.connect() if self.d else None

    def restart(self, how="kill", args=()):
        """kill -9 (or SIGTERM, exit 0 expected) and start again on the same
        dir; self.c is a fresh client."""
        if how == "term":
            self.assertEqual(self.d.stop(signal.SIGTERM), 0, self.d.log()[-2000:])
        else:
            self.d.kill()
        self.d.start(args)
        self.c = self.connect()
        return self.c

    def compact(self):
        self.assertEqual(self.c.cmd("COMPACT"), "OK")

    def assert_bytes(self, request, expected):
        """Sends request (a line, newline added) and checks that the reply is
        exactly the bytes expected - a str or a compiled bytes regex - and
        that nothing follows it (the next reply is PONG). Returns the match
        for a regex."""
        c = self.c
        c.send(request.encode() + b"\n" + b"PING\n")
        got = b""
        while True:
            line = c.readline()
            self.assertIsNotNone(line, "closed inside the reply to %r" % request[:200])
            if line == "PONG":
                break
            got += line.encode("utf-8", "surrogateescape") + b"\n"
        if isinstance(expected, str):
            self.assertEqual(got, expected.encode(), "request %r" % request[:200])
            return None
        m = expected.fullmatch(got)
        self.assertIsNotNone(m, "request %r: reply %r does not match %r" % (
            request[:200], got, expected.pattern))
        return m

    def assert_nothing_changed(self, before):
        """The store is as STATS said before: same revision, entries, log."""
        after = self.c.stats()
        for k in ("revision", "entries", "log_bytes", "commits"):
            self.assertEqual(after[k], before[k], k)


class TestCommands(RevCase):
    def test_getrev_answers_rev_and_value_or_null(self):
        self.assert_bytes("GETREV_CHECKPOINT p", "NULL\n")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p offset:42"), "OK")
        self.assert_bytes("GETREV_CHECKPOINT p", "1 offset:42\n")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT q v"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p offset:43"), "OK")
        self.assert_bytes("GETREV_CHECKPOINT p", "3 offset:43\n")
        self.assert_bytes("getrev_checkpoint q", "2 v\n")

    def test_cas_commits_only_from_the_expected_revision(self):
        self.assert_bytes("CAS_CHECKPOINT p 0 a", "OK 1\n")      # 0: only if absent
        self.assert_bytes("CAS_CHECKPOINT p 0 b", "CONFLICT 1\n")
        self.assert_bytes("CAS_CHECKPOINT p 2 b", "CONFLICT 1\n")
        self.assert_bytes("CAS_CHECKPOINT missing 1 b", "CONFLICT 0\n")
        self.assert_bytes("GETREV_CHECKPOINT p", "1 a\n")
        self.assert_bytes("GET_CHECKPOINT missing", "NULL\n")
        self.assert_bytes("CAS_CHECKPOINT p 1 b", "OK 2\n")
        self.assert_bytes("GETREV_CHECKPOINT p", "2 b\n")
        self.assert_bytes("TTL_CHECKPOINT p", "-1\n")
        # With a TTL, and leading zeros in the revision.
        self.assert_bytes("CAS_CHECKPOINT p 0002 c 100", "OK 3\n")
        ttl = int(self.c.cmd("TTL_CHECKPOINT p"))
        self.assertTrue(1 <= ttl <= 100, ttl)
        self.assert_bytes("CAS_CHECKPOINT p 3 d", "OK 4\n")  # no ttl: cleared
        self.assert_bytes("TTL_CHECKPOINT p", "-1\n")
        self.assertEqual(revision(self.c), 4)

    def test_cas_refuses_what_is_not_a_decimal_u64_and_changes_nothing(self):
        self.assert_bytes("CAS_CHECKPOINT p 0 a", "OK 1\n")
        before = self.c.stats()
        for rev in ["-1", "abc", "1.0", "0x1", "18446744073709551616", "99999999999999999999999",
                    "+1", "1e3", "-0"]:
            for line in ("CAS_CHECKPOINT p %s z", "CAS_CHECKPOINT p %s z 10", "DEL_CHECKPOINT p %s",
                         "ROLLBACK_CHECKPOINT p %s", "ROLLBACK_CHECKPOINT p 1 %s",
                         "MCAS_CHECKPOINT p %s z", "MCAS_CHECKPOINT q 0 z p %s z"):
                self.assert_bytes(line % rev, BAD_REV + "\n")
        # The largest u64 is a revision (no pipeline has it).
        self.assert_bytes("CAS_CHECKPOINT p 18446744073709551615 z", "CONFLICT 1\n")
        self.assert_bytes("CAS_CHECKPOINT p 1 NULL", "ERR reserved value 'NULL': "
                          "GET_CHECKPOINT answers NULL for a missing checkpoint\n")
        self.assert_bytes("CAS_CHECKPOINT p 1 z 0", "ERR invalid ttl\n")
        for line, cmd in [("CAS_CHECKPOINT p 1", "CAS_CHECKPOINT"),
                          ("CAS_CHECKPOINT p 1 z 10 x", "CAS_CHECKPOINT"),
                          ("GETREV_CHECKPOINT", "GETREV_CHECKPOINT"),
                          ("GETREV_CHECKPOINT p q", "GETREV_CHECKPOINT"),
                          ("DEL_CHECKPOINT p 1 2", "DEL_CHECKPOINT"),
                          ("MSET_CHECKPOINT p", "MSET_CHECKPOINT"),
                          ("MCAS_CHECKPOINT p 1", "MCAS_CHECKPOINT"),
                          ("HISTORY_CHECKPOINT", "HISTORY_CHECKPOINT"),
                          ("HISTORY_CHECKPOINT p 1 2", "HISTORY_CHECKPOINT"),
                          ("ROLLBACK_CHECKPOINT p", "ROLLBACK_CHECKPOINT"),
                          ("ROLLBACK_CHECKPOINT p 1 1 1", "ROLLBACK_CHECKPOINT"),
                          ("LIST_CHECKPOINTS", "LIST_CHECKPOINTS")]:
            self.assert_bytes(line, "ERR wrong number of arguments for '%s'\n" % cmd)
        self.assert_bytes("GETREV_CHECKPOINT p", "1 a\n")
        self.assert_nothing_changed(before)

    def test_del_with_expected_revision_deletes_only_at_it(self):
        self.assert_bytes("CAS_CHECKPOINT p 0 a", "OK 1\n")
        self.assert_bytes("DEL_CHECKPOINT p 2", "CONFLICT 1\n")
        self.assert_bytes("DEL_CHECKPOINT p 0", "CONFLICT 1\n")
        self.assert_bytes("GETREV_CHECKPOINT p", "1 a\n")
        self.assert_bytes("DEL_CHECKPOINT p 1", "1\n")
        self.assertEqual(revision(self.c), 2)          # the DEL took revision 2
        self.assert_bytes("GETREV_CHECKPOINT p", "NULL\n")
        self.assert_bytes("DEL_CHECKPOINT p 1", "CONFLICT 0\n")
        self.assert_bytes("DEL_CHECKPOINT p 0", "0\n")  # absent, as expected: nothing to do
        self.assert_bytes("DEL_CHECKPOINT p", "0\n")
        self.assertEqual(revision(self.c), 2)          # deleting nothing takes none
        self.assert_bytes("CAS_CHECKPOINT p 0 b", "OK 3\n")

    def test_mset_commits_every_pipeline_at_one_revision(self):
        self.assert_bytes("SET_CHECKPOINT a old 1000", "OK\n")
        self.assert_bytes("MSET_CHECKPOINT a 1 b 2 c 3", "OK 2\n")
        for n, v in [("a", "1"), ("b", "2"), ("c", "3")]:
            self.assert_bytes("GETREV_CHECKPOINT " + n, "2 %s\n" % v)
        self.assert_bytes("TTL_CHECKPOINT a", "-1\n")  # a multi-commit carries no TTL
        self.assert_bytes("mset_checkpoint single x", "OK 3\n")
        self.assert_bytes("GETREV_CHECKPOINT single", "3 x\n")
        self.assertEqual(revision(self.c), 3)

    def test_mcas_commits_all_or_names_the_first_conflict(self):
        self.assert_bytes("MSET_CHECKPOINT a 1 b 2", "OK 1\n")
        self.assert_bytes("MCAS_CHECKPOINT a 1 x b 1 y c 0 z", "OK 2\n")
        for n, v in [("a", "x"), ("b", "y"), ("c", "z")]:
            self.assert_bytes("GETREV_CHECKPOINT " + n, "2 %s\n" % v)
        before = self.c.stats()
        # The first pipeline whose revision differs, in argument order.
        self.assert_bytes("MCAS_CHECKPOINT a 2 q b 1 q c 9 q", "CONFLICT b 2\n")
        self.assert_bytes("MCAS_CHECKPOINT a 2 q d 0 q c 9 q", "CONFLICT c 2\n")
        self.assert_bytes("MCAS_CHECKPOINT d 5 q a 2 q", "CONFLICT d 0\n")
        self.assert_nothing_changed(before)
        self.assert_bytes("GETREV_CHECKPOINT d", "NULL\n")
        self.assert_bytes("MCAS_CHECKPOINT c 2 w d 0 w", "OK 3\n")

    def test_history_lists_versions_newest_first_then_end(self):
        self.assert_bytes("HISTORY_CHECKPOINT p", "END\n")  # missing: just END
        t0 = now_ms()
        for v in ("a", "b", "c"):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT p " + v), "OK")
        t1 = now_ms()
        m = self.assert_bytes("HISTORY_CHECKPOINT p", re.compile(
            rb"3 (\d+) c\n2 (\d+) b\n1 (\d+) a\nEND\n"))
        ms = [int(x) for x in m.groups()]
        self.assertEqual(ms, sorted(ms, reverse=True))
        for x in ms:  # a unix time in ms, of the commit (slack for clock steps)
            self.assertTrue(t0 - 5000 <= x <= t1 + 5000, (t0, x, t1))
        self.assert_bytes("HISTORY_CHECKPOINT p 2", "3 %d c\n2 %d b\nEND\n" % (ms[0], ms[1]))
        self.assert_bytes("HISTORY_CHECKPOINT p 1", "3 %d c\nEND\n" % ms[0])
        self.assert_bytes("HISTORY_CHECKPOINT p %d" % (HISTORY_MAX + 1),
                          "3 %d c\n2 %d b\n1 %d a\nEND\n" % tuple(ms))
        for bad in ("0", str(HISTORY_MAX + 2), "-1", "x"):
            self.assert_bytes("HISTORY_CHECKPOINT p " + bad, BAD_COUNT_HISTORY + "\n")
        # LIST shows the same revision and commit time.
        self.assert_bytes("LIST_CHECKPOINTS 0", "CURSOR 0\np 3 %d c\nEND\n" % ms[0])

    def test_rollback_makes_an_old_value_current_as_a_new_revision(self):
        for v in ("a", "b", "c"):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT p " + v), "OK")
        self.assert_bytes("ROLLBACK_CHECKPOINT p 1", "OK 4\n")
        self.assert_bytes("GETREV_CHECKPOINT p", "4 a\n")
        self.assert_bytes("ROLLBACK_CHECKPOINT p 9", "ERR no revision 9 in history\n")
        self.assert_bytes("ROLLBACK_CHECKPOINT p 2 3", "CONFLICT 4\n")
        self.assert_bytes("ROLLBACK_CHECKPOINT p 2 4", "OK 5\n")
        self.assert_bytes("GETREV_CHECKPOINT p", "5 b\n")
        self.assert_bytes("ROLLBACK_CHECKPOINT nosuch 1", "ERR no revision 1 in history\n")
        self.assertEqual(revision(self.c), 5)

    def test_list_checkpoints_answers_cursor_rows_end(self):
        self.assert_bytes("LIST_CHECKPOINTS 0", "CURSOR 0\nEND\n")
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT team/a 1 team/b 2 other 3"), "OK 1")
        m = self.assert_bytes("LIST_CHECKPOINTS 0", re.compile(
            rb"CURSOR 0\n((?:\S+ 1 \d+ \d\n){3})END\n"))
        got = sorted(m.group(1).decode().splitlines())
        ms = got[0].split()[2]
        self.assertEqual(got, ["other 1 %s 3" % ms, "team/a 1 %s 1" % ms, "team/b 1 %s 2" % ms])
        m = self.assert_bytes("list_checkpoints 0 prefix team/ count 10", re.compile(
            rb"CURSOR 0\n((?:team/\S+ 1 \d+ \d\n){2})END\n"))

    def test_stats_report_revision_and_history_depth(self):
        st = self.c.stats()
        self.assertEqual((st["revision"], st["history"]), ("0", str(HISTORY_DEFAULT)))
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 1 w"), "OK 2")
        self.assertEqual(revision(self.c), 2)

    def test_conditional_replies_keep_their_order_in_a_pipeline(self):
        """Conditions are decided in staging order: pipelined CASes from one
        expected revision, one wins and the rest see its revision."""
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")
        self.c.send("CAS_CHECKPOINT p 1 a\nCAS_CHECKPOINT p 1 b\nGETREV_CHECKPOINT p\n"
                    "CAS_CHECKPOINT p 2 c\nDEL_CHECKPOINT p 2\nDEL_CHECKPOINT p 3\n"
                    "GETREV_CHECKPOINT p\n")
        self.assertEqual(self.c.readlines(7), ["OK 2", "CONFLICT 2", "2 a", "OK 3",
                                               "CONFLICT 3", "1", "NULL"])
        self.assertEqual(revision(self.c), 4)


class TestRevisions(RevCase):
    def mutate_each_way(self, start):
        """One of each mutating command; checks each took the next revision.
        Returns the last revision."""
        c, r = self.c, start
        self.assertEqual(c.cmd("SET_CHECKPOINT s%d v" % r), "OK")
        r += 1
        self.assertEqual(getrev(c, "s%d" % (r - 1)), (r, "v"))
        self.assertEqual(c.cmd("CAS_CHECKPOINT s%d %d w" % (r - 1, r)), "OK %d" % (r + 1))
        r += 1
        self.assertEqual(c.cmd("MSET_CHECKPOINT m%d x n%d y" % (r, r)), "OK %d" % (r + 1))
        r += 1
        self.assertEqual(c.cmd("MCAS_CHECKPOINT m%d %d x2 n%d %d y2" % (r - 1, r, r - 1, r)),
                         "OK %d" % (r + 1))
        r += 1
        self.assertEqual(c.cmd("ROLLBACK_CHECKPOINT m%d %d" % (r - 2, r - 1)), "OK %d" % (r + 1))
        r += 1
        self.assertEqual(c.cmd("DEL_CHECKPOINT n%d" % (r - 3)), "1")
        r += 1
        self.assertEqual(revision(c), r)
        return r

    def test_each_acknowledged_mutation_takes_the_next_revision(self):
        self.assertEqual(self.mutate_each_way(0), 6)
        # What changes nothing takes nothing.
        for line in ("DEL_CHECKPOINT never", "CAS_CHECKPOINT s0 1 z", "MCAS_CHECKPOINT s0 1 z",
                     "ROLLBACK_CHECKPOINT s0 99", "GET_CHECKPOINT s0", "FOO"):
            self.c.cmd(line)
        self.assertEqual(revision(self.c), 6)
        self.assertEqual(self.mutate_each_way(6), 12)

    def test_revisions_are_not_reused_after_kill9(self):
        r = self.mutate_each_way(0)
        self.restart("kill")
        self.assertEqual(revision(self.c), r)
        self.assertEqual(getrev(self.c, "s0"), (2, "w"))
        self.assertEqual(self.mutate_each_way(r), 2 * r)
        self.restart("term")
        self.assertEqual(revision(self.c), 2 * r)

    def test_revisions_are_not_reused_after_compact_and_restart(self):
        r = self.mutate_each_way(0)
        self.compact()
        self.assertEqual(revision(self.c), r)
        r = self.mutate_each_way(r)
        self.restart("kill")
        self.assertEqual(revision(self.c), r)
        self.compact()
        self.restart("kill")
        self.assertEqual(revision(self.c), r)
        self.assertEqual(self.mutate_each_way(r), r + 6)

    def test_deleting_the_newest_pipeline_then_compacting_keeps_the_revision(self):
        """The snapshot no longer holds the pipeline that took the highest
        revision, nor the DEL: only its REVISION record keeps the counter."""
        self.assertEqual(self.c.cmd("SET_CHECKPOINT old v"), "OK")
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT newest 1 newer 2"), "OK 2")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT newest"), "1")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT newer 2"), "1")
        self.assertEqual(revision(self.c), 4)
        self.compact()
        self.assertEqual(revision(self.c), 4)
        for how in ("kill", "term"):
            self.restart(how)
            self.assertEqual(revision(self.c), 4, how)
            self.assertEqual(getrev(self.c, "old"), (1, "v"))
        self.compact()
        self.restart("kill")
        self.assertEqual(revision(self.c), 4)
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT newest 0 again"), "OK 5")

    def test_a_deleted_and_recreated_pipeline_gets_a_new_revision(self):
        """ABA: a zombie that read revision 1 must not succeed against a
        pipeline that was deleted and created again."""
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")        # 1
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p 1"), "1")         # 2
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v"), "OK")        # 3
        self.assertEqual(getrev(self.c, "p"), (3, "v"))
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 1 zombie"), "CONFLICT 3")
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p 3"), "1")         # 4
        self.compact()
        self.restart("kill")
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 0 fresh"), "OK 5")
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 3 zombie"), "CONFLICT 5")
        self.assertEqual(history(self.c, "p")[0][0::2], (5, "fresh"))
        self.assertEqual(len(history(self.c, "p")), 1)


class TestHistory(RevCase):
    DAEMON_ARGS = ("--history", "3")

    def six_commits(self, name="p"):
        """Six commits of one pipeline, one of each kind that sets it."""
        c = self.c
        self.assertEqual(c.cmd("SET_CHECKPOINT %s v1" % name), "OK")
        r1 = getrev(c, name)[0]
        self.assertEqual(c.cmd("CAS_CHECKPOINT %s %d v2" % (name, r1)), "OK %d" % (r1 + 1))
        self.assertEqual(c.cmd("MSET_CHECKPOINT %s v3 other x" % name), "OK %d" % (r1 + 2))
        self.assertEqual(c.cmd("MCAS_CHECKPOINT %s %d v4" % (name, r1 + 2)), "OK %d" % (r1 + 3))
        self.assertEqual(c.cmd("SET_CHECKPOINT %s v5 1000" % name), "OK")
        self.assertEqual(c.cmd("ROLLBACK_CHECKPOINT %s %d" % (name, r1 + 1)), "OK %d" % (r1 + 5))
        return r1

    def test_history_keeps_the_current_and_n_earlier_versions(self):
        self.assertEqual(self.c.stats()["history"], "3")
        r1 = self.six_commits()
        h = history(self.c, "p")
        self.assertEqual([(r, v) for r, _, v in h],
                         [(r1 + 5, "v2"), (r1 + 4, "v5"), (r1 + 3, "v4"), (r1 + 2, "v3")])
        self.assertEqual(history(self.c, "p", 2), h[:2])
        self.assertEqual(history(self.c, "p", 1000), h)
        # The rollback kept the expiry v5 set.
        ttl = int(self.c.cmd("TTL_CHECKPOINT p"))
        self.assertTrue(1 <= ttl <= 1000, ttl)

    def test_history_survives_restart_and_compaction_exactly(self):
        self.six_commits()
        self.assertEqual(self.c.cmd("SET_CHECKPOINT q only"), "OK")
        want = {n: history(self.c, n) for n in ("p", "q", "other")}
        rev = revision(self.c)
        for step in ("kill", "compact", "kill", "term", "compact", "term"):
            if step == "compact":
                self.compact()
            else:
                self.restart(step)
            self.assertEqual({n: history(self.c, n) for n in want}, want, step)
            self.assertEqual(revision(self.c), rev, step)

    def test_del_removes_the_history_and_a_recreated_pipeline_starts_afresh(self):
        r1 = self.six_commits()
        self.assertEqual(self.c.cmd("DEL_CHECKPOINT p"), "1")
        self.assertEqual(history(self.c, "p"), [])
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p new"), "OK")
        h = history(self.c, "p")
        self.assertEqual([(r, v) for r, _, v in h], [(r1 + 7, "new")])
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p %d" % (r1 + 5)),
                         "ERR no revision %d in history" % (r1 + 5))
        self.compact()
        self.restart("kill")
        self.assertEqual(history(self.c, "p"), h)

    def test_expiry_removes_the_history(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT t a"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT t b"), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT t c 1"), "OK")  # 1 s TTL
        self.assertEqual(len(history(self.c, "t")), 3)
        self.assertTrue(wait_until(lambda: self.c.cmd("GET_CHECKPOINT t") == "NULL", 10.0),
                        "a 1 s checkpoint still readable after 10 s")
        self.assertEqual(history(self.c, "t"), [])
        self.assertEqual(getrev(self.c, "t"), None)
        self.assertEqual(list_all(self.c), [])
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT t 1"), "ERR no revision 1 in history")
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT t 3 zombie"), "CONFLICT 0")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT t d"), "OK")
        self.assertEqual([(r, v) for r, _, v in history(self.c, "t")], [(4, "d")])
        self.restart("kill")
        self.assertEqual([(r, v) for r, _, v in history(self.c, "t")], [(4, "d")])

    def test_with_history_0_only_the_current_version_is_kept(self):
        self.restart("term", ("--history", "0"))
        self.assertEqual(self.c.stats()["history"], "0")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v1"), "OK")
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 1 v2"), "OK 2")
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT p v3 other x"), "OK 3")
        self.assertEqual(self.c.cmd("MCAS_CHECKPOINT p 3 v4"), "OK 4")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p v5"), "OK")
        self.assertEqual([(r, v) for r, _, v in history(self.c, "p")], [(5, "v5")])
        self.assertEqual([(r, v) for r, _, v in history(self.c, "p", 1)], [(5, "v5")])
        # Only the current revision can be rolled back to.
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 4"), "ERR no revision 4 in history")
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 5"), "OK 6")
        self.compact()
        self.restart("kill", ("--history", "0"))
        self.assertEqual([(r, v) for r, _, v in history(self.c, "p")], [(6, "v5")])


class TestRollback(RevCase):
    def test_the_rolled_back_value_is_current_at_a_new_revision(self):
        for v in ("300", "800", "1000"):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT p " + v), "OK")
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 1"), "OK 4")
        self.assertEqual(getrev(self.c, "p"), (4, "300"))
        self.assertEqual([(r, v) for r, _, v in history(self.c, "p")],
                         [(4, "300"), (3, "1000"), (2, "800"), (1, "300")])
        self.restart("kill")
        self.assertEqual(getrev(self.c, "p"), (4, "300"))

    def test_a_cas_holding_the_old_revision_is_fenced(self):
        """A run that read revision 3 before the operator rewound commits
        800 after it: CONFLICT, and the rewind holds."""
        for v in ("300", "800", "1000"):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT p " + v), "OK")
        zombie = self.connect()
        self.assertEqual(getrev(zombie, "p"), (3, "1000"))
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 1"), "OK 4")
        self.assertEqual(zombie.cmd("CAS_CHECKPOINT p 3 1800"), "CONFLICT 4")
        self.assertEqual(getrev(self.c, "p"), (4, "300"))
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 4 500"), "OK 5")

    def test_rollback_to_a_revision_not_in_history_is_an_error(self):
        for i in range(HISTORY_DEFAULT + 2):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT p v%d" % i), "OK")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT q x"), "OK")
        before = self.c.stats()
        # 1 was evicted (depth 4: revisions 2..6 remain), 7 is q's, 8 is
        # none yet, 0 is no revision.
        for rev in (1, 7, 8, 0, 2 ** 64 - 1):
            self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p %d" % rev),
                             "ERR no revision %d in history" % rev)
        self.assert_nothing_changed(before)
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 2"), "OK 8")
        self.assertEqual(getrev(self.c, "p"), (8, "v1"))

    def test_rollback_with_a_mismatched_expected_revision_conflicts(self):
        for v in ("a", "b"):
            self.assertEqual(self.c.cmd("SET_CHECKPOINT p " + v), "OK")
        before = self.c.stats()
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 1 1"), "CONFLICT 2")
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 1 3"), "CONFLICT 2")
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT q 1 1"), "CONFLICT 0")
        self.assert_nothing_changed(before)
        self.assertEqual(getrev(self.c, "p"), (2, "b"))
        self.assertEqual(self.c.cmd("ROLLBACK_CHECKPOINT p 1 2"), "OK 3")
        self.assertEqual(getrev(self.c, "p"), (3, "a"))


class TestListing(RevCase):
    STABLE = 2500
    CHURN_CALLS = 80    # calls during which keys are added, then as many removing
    CHURN_PER_CALL = 100

    def test_every_pipeline_present_throughout_is_listed_while_the_table_grows(self):
        """COUNT 7 while another connection adds, then deletes, 8000 other
        keys between the calls: the table doubles twice under the cursor."""
        c, other = self.c, self.connect()
        stable = {}
        for i in range(0, self.STABLE, 500):
            pairs = [("stable/%05d" % k, "s%d" % k) for k in range(i, i + 500)]
            rev = ok_rev(c.cmd("MSET_CHECKPOINT " + " ".join("%s %s" % p for p in pairs)))
            stable.update((n, (rev, v)) for n, v in pairs)
        seen, calls, churn, most = {}, 0, [], 0
        cursor = 0
        while True:
            cursor, got = listing(c, cursor, " COUNT 7")
            calls += 1
            # A call stops after the bucket in which it reached COUNT, so
            # it may return a few more (as Redis's SCAN may).
            most = max(most, len(got))
            for name, rev, _, value in got:
                seen.setdefault(name, set()).add((rev, value))
            if cursor == 0:
                break
            # Between calls: add CHURN_PER_CALL keys per call, then take
            # them away again, each a durable commit before the next call.
            if calls <= self.CHURN_CALLS:
                names = ["churn/%d/%d" % (calls, k) for k in range(self.CHURN_PER_CALL)]
                ok_rev(other.cmd("MSET_CHECKPOINT " + " ".join(n + " x" for n in names)))
                churn += names
            elif churn:
                gone, churn = churn[:self.CHURN_PER_CALL], churn[self.CHURN_PER_CALL:]
                other.send("".join("DEL_CHECKPOINT %s\n" % n for n in gone))
                self.assertEqual(other.readlines(len(gone)), ["1"] * len(gone))
        missing = sorted(set(stable) - set(seen))
        self.assertEqual(missing, [], "%d stable pipelines never listed (%d calls)" % (
            len(missing), calls))
        for n in stable:
            self.assertEqual(seen[n], {stable[n]}, n)
        self.assertTrue(all(n.startswith(("stable/", "churn/")) for n in seen))
        st = c.stats()
        self.assertEqual(int(st["entries"]), self.STABLE + len(churn))
        print("\nlisting: %d calls of COUNT 7 (at most %d rows in one) over %d stable "
              "pipelines, %d churn keys added and %d removed meanwhile; %d distinct names "
              "seen" % (calls, most, self.STABLE, self.CHURN_CALLS * self.CHURN_PER_CALL,
                        self.CHURN_CALLS * self.CHURN_PER_CALL - len(churn), len(seen)),
              file=sys.stderr)

    def test_prefix_restricts_the_listing(self):
        pairs = ["team%d/job%d/p%d %d" % (t, j, p, t * 100 + j * 10 + p)
                 for t in range(3) for j in range(3) for p in range(4)]
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT " + " ".join(pairs)), "OK 1")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT team10 x"), "OK")
        everything = list_all(self.c, " COUNT 5")
        self.assertEqual(len(everything), 37)
        self.assertEqual(len({r[0] for r in everything}), 37)
        for prefix, n in [("team1/", 12), ("team1", 13), ("team2/job0/", 4),
                          ("team2/job0/p3", 1), ("nosuch", 0), ("t", 37)]:
            for count in (1, 3, 100):
                got = list_all(self.c, " PREFIX %s COUNT %d" % (prefix, count))
                names = sorted(r[0] for r in got)
                self.assertEqual(len(names), len(set(names)), (prefix, count))
                want = sorted(r[0] for r in everything if r[0].startswith(prefix))
                self.assertEqual(names, want, (prefix, count))
                self.assertEqual(len(names), n, (prefix, count))
        # Keywords in either order and either case.
        self.assertEqual(sorted(list_all(self.c, " count 2 prefix team0/job1/")),
                         sorted(r for r in everything if r[0].startswith("team0/job1/")))

    def test_bad_counts_keywords_and_cursors_are_errors(self):
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT " + " ".join(
            "k%d v" % i for i in range(50))), "OK 1")
        cursor, got = listing(self.c, 0, " COUNT 3")
        self.assertNotEqual(cursor, 0)
        before = self.c.stats()
        for extra, want in [(" COUNT 0", BAD_COUNT_LIST), (" COUNT %d" % (LIST_COUNT_MAX + 1),
                                                           BAD_COUNT_LIST),
                            (" COUNT -1", BAD_COUNT_LIST), (" COUNT x", BAD_COUNT_LIST),
                            (" FOO 1", "ERR syntax error: unknown keyword 'FOO': want PREFIX or "
                                       "COUNT"),
                            (" COUNT", "ERR syntax error: 'COUNT' wants a value"),
                            (" PREFIX a FOO", "ERR syntax error: 'FOO' wants a value")]:
            self.assertEqual(self.c.cmd("LIST_CHECKPOINTS 0" + extra), want, extra)
        for bad in (cursor ^ 1, cursor + (1 << 16), 12345, 2 ** 64 - 1, "-1", "x",
                    "18446744073709551616"):
            self.assertEqual(self.c.cmd("LIST_CHECKPOINTS %s" % bad), BAD_CURSOR, bad)
        self.assert_nothing_changed(before)
        # COUNT at the maximum, and the issued cursor, still work.
        self.assertEqual(len(listing(self.c, 0, " COUNT %d" % LIST_COUNT_MAX)[1]), 50)
        n, more = listing(self.c, cursor, " COUNT 100")
        self.assertEqual(n, 0)
        self.assertEqual(len(got) + len(more), 50)
        self.assertEqual(len({r[0] for r in got + more}), 50)


class TestMultiCommit(RevCase):
    def test_a_multi_commit_of_1_mib_fits_the_default_max_line_and_survives_restart(self):
        n = 4096
        pairs = [("mc/%013d" % i, ("%05d" % i) * 48) for i in range(n)]  # 16 + 240 bytes
        self.assertEqual(sum(len(a) + len(b) for a, b in pairs), 1 << 20)
        line = "MSET_CHECKPOINT " + " ".join("%s %s" % p for p in pairs)
        self.assertEqual(self.c.cmd(line), "OK 1")
        self.restart("kill")
        self.c.send("".join("GETREV_CHECKPOINT %s\n" % a for a, _ in pairs))
        got = self.c.readlines(n)
        self.assertEqual(got, ["1 " + b for _, b in pairs])
        self.assertEqual(int(self.c.stats()["entries"]), n)
        # And as an MCAS, every expected revision checked.
        line = "MCAS_CHECKPOINT " + " ".join("%s 1 %s" % (a, b[::-1]) for a, b in pairs)
        self.assertEqual(self.c.cmd(line), "OK 2")
        self.compact()
        self.restart("kill")
        self.c.send("".join("GETREV_CHECKPOINT %s\n" % a for a, _ in pairs))
        self.assertEqual(self.c.readlines(n), ["2 " + b[::-1] for _, b in pairs])

    def test_the_same_pipeline_twice_is_an_error(self):
        before = self.c.stats()
        for line in ("MSET_CHECKPOINT a 1 b 2 a 3", "MSET_CHECKPOINT a 1 a 1",
                     "MCAS_CHECKPOINT a 0 1 b 0 2 a 0 3", "MCAS_CHECKPOINT x 0 1 x 1 2"):
            self.assertEqual(self.c.cmd(line), DUP, line)
        self.assert_nothing_changed(before)
        self.assertEqual(self.c.cmd("GET_CHECKPOINT a"), "NULL")
        # Names differ by case: two pipelines.
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT a 1 A 2"), "OK 1")

    def test_odd_tokens_are_an_error(self):
        before = self.c.stats()
        for line in ("MSET_CHECKPOINT a 1 b", "MSET_CHECKPOINT a 1 b 2 c"):
            self.assertEqual(self.c.cmd(line), MSET_ODD, line)
        for line in ("MCAS_CHECKPOINT a 0 1 b", "MCAS_CHECKPOINT a 0 1 b 0",
                     "MCAS_CHECKPOINT a 0 1 b 0 2 c 0"):
            self.assertEqual(self.c.cmd(line), MCAS_ODD, line)
        # Every token is checked before anything is staged.
        for line, want in [("MSET_CHECKPOINT a 1 b NULL", "ERR reserved value 'NULL': "
                            "GET_CHECKPOINT answers NULL for a missing checkpoint"),
                           ("MSET_CHECKPOINT a 1 %s 2" % ("n" * 513), "ERR name too long"),
                           ("MCAS_CHECKPOINT a 0 1 b -1 2", BAD_REV)]:
            self.assertEqual(self.c.cmd(line), want, line)
        self.assert_nothing_changed(before)
        self.assertEqual(self.c.cmd("GET_CHECKPOINT a"), "NULL")

    def test_an_mcas_conflict_changes_nothing(self):
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT a 1 b 2 c 3 1000"), MSET_ODD)
        self.assertEqual(self.c.cmd("MSET_CHECKPOINT a 1 b 2 c 3"), "OK 1")
        self.assertEqual(self.c.cmd("SET_CHECKPOINT c 4"), "OK")
        before = self.c.stats()
        hist = {n: history(self.c, n) for n in "abc"}
        self.assertEqual(self.c.cmd("MCAS_CHECKPOINT a 1 x b 1 y c 1 z new 0 w"), "CONFLICT c 2")
        self.assert_nothing_changed(before)
        self.assertEqual({n: history(self.c, n) for n in "abc"}, hist)
        self.assertEqual(self.c.cmd("GET_CHECKPOINT new"), "NULL")
        self.restart("kill")
        self.assertEqual({n: history(self.c, n) for n in "abc"}, hist)
        self.assertEqual(self.c.cmd("GET_CHECKPOINT new"), "NULL")
        self.assertEqual(revision(self.c), 2)


class TestConcurrency(RevCase):
    CLIENTS = 20
    INCREMENTS = 500
    AUTOSTART = False

    def setUp(self):
        """The data dir is on a tmpfs (/dev/shm) when there is one: every
        successful increment needs its own fdatasync before anyone can read
        it, so on a disk at ~4 ms per fdatasync 10,000 of them take 40 s.
        The conditions, the group commit and the replies are the same."""
        super().setUp()
        shm = "/dev/shm"
        data = None
        if os.path.isdir(shm) and os.access(shm, os.W_OK):
            data = tempfile.mkdtemp(prefix="ss-it-cas-", dir=shm)
            self.addCleanup(shutil.rmtree, data, True)
        self.d = self.new_daemon(data).start()
        self.c = self.connect()

    def test_concurrent_cas_increments_lose_nothing_and_acknowledge_each_revision_once(self):
        """20 clients (processes: Python threads would spend the time
        fighting over the GIL), each 500 increments of one counter by read
        (GETREV), CAS from that revision, retry on CONFLICT."""
        self.assertEqual(self.c.cmd("SET_CHECKPOINT counter 0"), "OK")
        # spawn, not fork: the harness runs a thread per daemon (its log
        # reader), and forking a threaded process is unsafe.
        ctx = multiprocessing.get_context("spawn")
        results, go = ctx.Queue(), ctx.Barrier(self.CLIENTS)
        t0 = time.monotonic()
        procs = [ctx.Process(target=cas_increments, args=(self.d.port, self.INCREMENTS, go,
                                                          results), daemon=True)
                 for _ in range(self.CLIENTS)]
        for p in procs:
            p.start()
        try:
            got = [results.get(timeout=300) for _ in procs]
        finally:
            for p in procs:
                p.join(60)
                if p.is_alive():
                    p.kill()
        elapsed = time.monotonic() - t0
        self.assertEqual([g for g in got if isinstance(g, str)], [])
        total = self.CLIENTS * self.INCREMENTS
        acked = [x for per, _ in got for x in per]
        revs = [r for _, r, _ in acked]
        self.assertEqual(len(acked), total)
        self.assertEqual(getrev(self.c, "counter"), (total + 1, str(total)))
        self.assertEqual(len(set(revs)), len(revs), "a revision acknowledged twice")
        self.assertEqual(sorted(revs), list(range(2, total + 2)))
        for expected, rev, value in acked:
            # Only these CASes wrote: each took the revision right after the
            # one it expected, and wrote the count that revision stands for.
            self.assertEqual((rev, value), (expected + 1, expected), (expected, rev, value))
        for per, _ in got:
            self.assertEqual([r for _, r, _ in per], sorted(r for _, r, _ in per))
        self.assertEqual(revision(self.c), total + 1)
        self.assertEqual([(r, v) for r, _, v in history(self.c, "counter")],
                         [(total + 1 - k, str(total - k)) for k in range(HISTORY_DEFAULT + 1)])
        print("\nconcurrency: %d clients x %d increments: %d OK, %d CONFLICT, %.1f s" % (
            self.CLIENTS, self.INCREMENTS, len(acked), sum(n for _, n in got), elapsed),
            file=sys.stderr)


def cas_increments(port, n, go, results):
    """One client of TestConcurrency, in its own process: n increments of
    counter. Puts ([(expected rev, new rev, value written)], conflicts) on
    results, or the error as a string."""
    try:
        c = Client(port, 60)
        oks, conflicts = [], 0
        go.wait(60)
        while len(oks) < n:
            rev, value = getrev(c, "counter")
            reply = c.cmd("CAS_CHECKPOINT counter %d %d" % (rev, int(value) + 1))
            if reply.startswith("CONFLICT "):
                conflicts += 1
                continue
            oks.append((rev, ok_rev(reply), int(value) + 1))
        c.close()
        results.put((oks, conflicts))
    except Exception as e:  # reported by the test
        results.put("client %d: %r" % (os.getpid(), e))


class TestRetryRecipe(RevCase):
    def lose_reply(self, line):
        """Sends line on a new connection and closes it before the reply."""
        c = Client(self.d.port, 30)
        c.send(line + "\n")
        c.close()

    def resolve(self, c, name, expected, value):
        """The README's recipe after a lost CAS reply: retry the CAS; on
        CONFLICT, GETREV tells: the revision right after the expected one
        holding our value means our commit applied. Returns (applied, rev)."""
        reply = c.cmd("CAS_CHECKPOINT %s %d %s" % (name, expected, value))
        if reply.startswith("OK "):
            return True, ok_rev(reply)
        self.assertRegex(reply, r"^CONFLICT \d+$")
        cur = getrev(c, name)
        if cur is not None and cur == (expected + 1, value):
            return True, cur[0]
        return False, cur[0] if cur else 0

    def test_a_lost_cas_reply_that_applied_is_recognised(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p offset=100"), "OK")
        self.lose_reply("CAS_CHECKPOINT p 1 offset=200,run=A")
        c = self.connect()
        applied, rev = self.resolve(c, "p", 1, "offset=200,run=A")
        self.assertEqual((applied, rev), (True, 2))
        self.assertEqual(getrev(c, "p"), (2, "offset=200,run=A"))
        self.assertEqual(revision(c), 2)  # the retry wrote nothing

    def test_a_lost_cas_reply_that_conflicted_is_recognised(self):
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p offset=100"), "OK")
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 1 offset=150,run=B"), "OK 2")
        self.lose_reply("CAS_CHECKPOINT p 1 offset=200,run=A")
        c = self.connect()
        applied, rev = self.resolve(c, "p", 1, "offset=200,run=A")
        self.assertEqual((applied, rev), (False, 2))
        self.assertEqual(getrev(c, "p"), (2, "offset=150,run=B"))

    def test_a_lost_reply_then_a_later_writer_is_not_taken_for_ours(self):
        """Our commit applied, but someone committed after it: the recipe
        cannot claim it (the revision is not expected + 1), so the client
        re-reads - never a silent double apply."""
        self.assertEqual(self.c.cmd("SET_CHECKPOINT p offset=100"), "OK")
        self.lose_reply("CAS_CHECKPOINT p 1 offset=200,run=A")
        # Wait, by what we can observe, for the lost commit to be durable.
        self.assertTrue(wait_until(lambda: getrev(self.c, "p")[0] == 2, 30))
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT p 2 offset=300,run=B"), "OK 3")
        applied, rev = self.resolve(self.connect(), "p", 1, "offset=200,run=A")
        self.assertEqual((applied, rev), (False, 3))
        self.assertEqual(history(self.c, "p")[1][0::2], (2, "offset=200,run=A"))


class TestUpgrade(RevCase):
    AUTOSTART = False

    def test_a_version_1_data_directory_is_upgraded_and_served_with_revisions(self):
        self.d = self.new_daemon()
        shutil.copy(FIXTURE_V1, os.path.join(self.d.data_dir, LOG))
        self.d.start()
        self.c = self.connect()
        self.assertIn("the log was in format version 1: rewritten in version 2, with "
                      "revisions 1 to 7 given in log order", self.d.log())
        with open(os.path.join(self.d.data_dir, LOG), "rb") as f:
            self.assertEqual(f.readline(), b"statestored-log 2\n")
        # Revisions 1, 2, ... in log order: p0 1, p1 2, gone 3, its DEL 4,
        # ttl-far 5, p1 again 6, users 7; commit times unknown (0).
        want = {"orders/p0": (1, "1500"), "orders/p1": (6, "2500"), "ttl-far": (5, "7"),
                "users": (7, "offset=42,part=3"), "gone": None}
        self.assertEqual({n: getrev(self.c, n) for n in want}, want)
        self.assertEqual(revision(self.c), 7)
        self.assertEqual(history(self.c, "orders/p1"), [(6, 0, "2500"), (2, 0, "2000")])
        self.assertEqual(sorted(list_all(self.c)), [
            ("orders/p0", 1, 0, "1500"), ("orders/p1", 6, 0, "2500"), ("ttl-far", 5, 0, "7"),
            ("users", 7, 0, "offset=42,part=3")])
        ttl = int(self.c.cmd("TTL_CHECKPOINT ttl-far"))
        self.assertGreater(ttl, 0)
        # Writable, and the next revision is 8; all of it survives a restart.
        self.assertEqual(self.c.cmd("CAS_CHECKPOINT orders/p1 6 2600"), "OK 8")
        self.restart("kill")
        self.assertNotIn("format version 1", self.d.log())
        self.assertEqual(history(self.c, "orders/p1")[1:], [(6, 0, "2500"), (2, 0, "2000")])
        self.assertEqual(getrev(self.c, "users"), (7, "offset=42,part=3"))
        self.assertEqual(revision(self.c), 8)


if __name__ == "__main__":
    unittest.main()
