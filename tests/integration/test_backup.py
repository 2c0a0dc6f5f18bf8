"""BACKUP <dir> [prefix]: an online backup as a new data directory.

- Under a continuous write load, a backup restores to exactly the state as
  of the revision it reports: a single writer connection makes every
  revision known (MSET_CHECKPOINT answers its revision, and each DEL of a
  live name takes the next one), so the test replays its own log of
  acknowledged writes up to that revision and compares name by name, with
  revisions. The same for a backup of one prefix, which holds nothing else.
- The walk is held in its middle (statestored-faulty's write gate) while
  names on both sides of its cursor change, so the tail matters.
- Killed with SIGKILL in the middle of a backup, the daemon leaves no
  directory that looks like a backup: only DIR.partial, which a retry names
  and refuses until it is removed.
- Refusals: a target that exists and is not empty, a file, a bad prefix; an
  empty directory is a valid target. The reply over RESP (redis-cli).
- Restore both ways: statestored started on the backup, and
  `statestore-check restore` into a fresh data directory.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

from sstools import harness
from sstools.client import Client

COMPACTOR_H = "src/server/compactor.h"


class Writer(threading.Thread):
    """One connection writing MSET_CHECKPOINT and DEL_CHECKPOINT, pipelined
    in rounds, until stopped. Every revision is known: an MSET answers
    OK <rev>, and a DEL of a live name takes the revision after the
    previous write's (one writer, so revisions are consecutive). ops is the
    log of acknowledged writes: (rev, name, value or None)."""

    def __init__(self, port, names, start_rev):
        super().__init__(daemon=True)
        self.c = Client(port)
        self.names = names
        self.rev = start_rev
        self.live = set()
        self.ops = []
        self.stop_flag = threading.Event()
        self.error = None
        self.rounds = 0

    def run(self):
        try:
            i = 0
            while not self.stop_flag.is_set():
                batch = []
                for _ in range(50):
                    name = self.names[i % len(self.names)]
                    if name in self.live and i % 7 == 3:
                        batch.append(("DEL_CHECKPOINT %s" % name, name, None))
                        self.live.discard(name)
                    else:
                        value = "w%d" % i
                        batch.append(("MSET_CHECKPOINT %s %s" % (name, value), name, value))
                        self.live.add(name)
                    i += 1
                self.c.send("".join(line + "\n" for line, _, _ in batch))
                for line, name, value in batch:
                    reply = self.c.readline()
                    if value is None:
                        if reply != "1":
                            raise AssertionError("%s: %r" % (line, reply))
                        self.rev += 1
                    else:
                        ok, rev = reply.split()
                        if ok != "OK" or int(rev) != self.rev + 1:
                            raise AssertionError("%s: %r after rev %d" % (line, reply, self.rev))
                        self.rev = int(rev)
                    self.ops.append((self.rev, name, value))
                self.rounds += 1
        except Exception as e:  # reported by the test
            self.error = e


def state_at(base, ops, rev, prefix=""):
    """The state as of rev: base ({name: (rev, value)}) and then the ops up
    to rev, restricted to names under prefix."""
    state = {n: v for n, v in base.items() if n.startswith(prefix)}
    for r, name, value in ops:
        if r > rev:
            break
        if not name.startswith(prefix):
            continue
        if value is None:
            state.pop(name, None)
        else:
            state[name] = (r, value)
    return state


def listing(c):
    """Every live pipeline: {name: (rev, value)}, through LIST_CHECKPOINTS."""
    out, cursor = {}, "0"
    while True:
        c.send("LIST_CHECKPOINTS %s COUNT 1000\n" % cursor)
        head = c.readline()
        assert head.startswith("CURSOR "), head
        cursor = head.split()[1]
        while True:
            line = c.readline()
            if line == "END":
                break
            name, rev, _, value = line.split(" ", 3)
            out[name] = (int(rev), value)
        if cursor == "0":
            return out


def preload(c, n, prefixes):
    """n pipelines per prefix, one MSET each; returns {name: (rev, value)}."""
    base = {}
    names = ["%s%05d" % (p, i) for p in prefixes for i in range(n)]
    for k in range(0, len(names), 500):
        chunk = names[k:k + 500]
        c.send("".join("MSET_CHECKPOINT %s v0-%s\n" % (nm, nm) for nm in chunk))
        for nm in chunk:
            ok, rev = c.readline().split()
            assert ok == "OK"
            base[nm] = (int(rev), "v0-" + nm)
    return base


class BackupTest(harness.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="ss-backup-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def restored(self, path):
        """A plain daemon started on the backup path: its listing and STATS."""
        d = self.new_daemon(data_dir=path).start()
        c = self.connect(d)
        state, stats = listing(c), c.stats()
        d.stop()
        return state, stats

    def test_a_backup_under_load_restores_exactly_the_reported_revision(self):
        c = self.connect()
        base = preload(c, 4000, ("a/", "b/"))
        start = int(c.stats()["revision"])
        w = Writer(self.d.port, ["a/%05d" % i for i in range(0, 4000, 3)] +
                   ["b/%05d" % i for i in range(1, 4000, 5)] + ["a/new%d" % i for i in range(50)],
                   start)
        w.start()
        self.addCleanup(w.stop_flag.set)
        self.assertTrue(harness.wait_until(lambda: w.rounds >= 5 or w.error), "writer stalled")
        replies = {}
        for target, prefix in (("full", None), ("only-a", "a/")):
            path = os.path.join(self.tmp, target)
            reply = c.cmd("BACKUP %s%s" % (path, " " + prefix if prefix else ""))
            self.assertTrue(reply.startswith("OK "), reply)
            replies[target] = (path, prefix, int(reply.split()[1]))
        rounds = w.rounds
        self.assertTrue(harness.wait_until(lambda: w.rounds >= rounds + 3 or w.error))
        w.stop_flag.set()
        w.join(30)
        self.assertIsNone(w.error)
        self.assertGreater(w.rev, max(r for _, _, r in replies.values()),
                           "the writer must have written past both backups")
        for target, (path, prefix, rev) in replies.items():
            self.assertGreater(rev, start, target)
            self.assertFalse(os.path.exists(path + ".partial"))
            self.assertEqual(sorted(os.listdir(path)), ["statestored.log"])
            state, stats = self.restored(path)
            want = state_at(base, w.ops, rev, prefix or "")
            self.assertEqual(len(state), len(want), target)
            self.assertEqual(state, want, target)
            # The revision counter too: the next write after a restore
            # takes rev + 1, never one the original handed out.
            self.assertEqual(int(stats["revision"]), rev, target)
        s = c.stats()
        self.assertEqual((s["backups"], s["backup_failures"]), ("2", "0"))
        self.assertEqual(int(s["last_backup_revision"]), replies["only-a"][2])
        # Timed as a compaction is, and counted apart from compactions.
        self.assertGreater(int(s["last_backup_loop_max_us"]), 0)
        self.assertEqual((s["compactions"], s["last_compaction_loop_max_us"],
                          s["last_compaction_slices"]), ("0", "0", "0"))

    def test_refusals_and_an_empty_directory_target(self):
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT p/1 x"), "OK")
        full = os.path.join(self.tmp, "full")
        os.mkdir(full)
        open(os.path.join(full, "other"), "w").close()
        self.assertEqual(c.cmd("BACKUP %s" % full),
                         "ERR backup failed: %s is not empty: a backup goes to a new or "
                         "empty directory" % full)
        afile = os.path.join(self.tmp, "afile")
        open(afile, "w").close()
        self.assertEqual(c.cmd("BACKUP %s" % afile),
                         "ERR backup failed: %s exists and is not a directory" % afile)
        missing = os.path.join(self.tmp, "no", "such")
        self.assertEqual(c.cmd("BACKUP %s" % missing),
                         "ERR backup failed: cannot create %s.partial: No such file or "
                         "directory" % missing)
        self.assertTrue(c.cmd("BACKUP %s p/ extra" % full).startswith("ERR "))
        self.assertTrue(c.cmd("BACKUP").startswith("ERR "))
        self.assertEqual(c.stats()["backup_failures"], "3")
        # An empty directory (a mount point's, say) is a valid target: the
        # rename replaces it.
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        reply = c.cmd("BACKUP %s/" % empty)
        self.assertEqual(reply, "OK 1")
        self.assertEqual(os.listdir(empty), ["statestored.log"])
        # The daemon goes on serving, its own log untouched.
        self.assertEqual(c.cmd("SET_CHECKPOINT p/2 y"), "OK")
        self.assertEqual(c.stats()["revision"], "2")

    def test_over_resp_with_redis_cli(self):
        cli = shutil.which("redis-cli")
        if not cli:
            self.skipTest("redis-cli (Debian redis-tools) is not installed")
        c = self.connect()
        self.assertEqual(c.cmd("MSET_CHECKPOINT x/1 a y/1 b"), "OK 1")
        path = os.path.join(self.tmp, "resp")
        out = subprocess.run([cli, "--no-raw", "-p", str(self.d.port), "BACKUP", path, "x/"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "(integer) 1\n")
        out = subprocess.run([cli, "--no-raw", "-p", str(self.d.port), "BACKUP", path],
                             capture_output=True, text=True, timeout=30)
        self.assertTrue(out.stdout.startswith("(error) ERR backup failed: %s is not empty"
                                              % path), out.stdout)
        state, _ = self.restored(path)
        self.assertEqual(state, {"x/1": (1, "a")})

    def test_backups_queue_behind_a_compaction_and_each_other(self):
        c = self.connect()
        preload(c, 3000, ("q/",))
        others = [self.connect() for _ in range(3)]
        paths = [os.path.join(self.tmp, "q%d" % i) for i in range(3)]
        c.send("COMPACT\n")
        for o, p in zip(others, paths):
            o.send("BACKUP %s\n" % p)
        self.assertEqual(c.readline(), "OK")
        for o in others:
            self.assertEqual(o.readline(), "OK 3000")
        for p in paths:
            state, _ = self.restored(p)
            self.assertEqual(len(state), 3000)
        self.assertEqual(c.stats()["backups"], "3")

    def test_restore_with_statestore_check(self):
        c = self.connect()
        self.assertEqual(c.cmd("MSET_CHECKPOINT r/1 one r/2 two"), "OK 1")
        self.assertEqual(c.cmd("SET_CHECKPOINT r/1 uno"), "OK")
        path = os.path.join(self.tmp, "bk")
        self.assertEqual(c.cmd("BACKUP %s" % path), "OK 2")
        check = harness.binary("statestore-check")
        dest = os.path.join(self.tmp, "restored")
        r = subprocess.run([check, "restore", path, dest], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("revision 2", r.stdout)
        # A second restore onto a non-empty directory is refused.
        r2 = subprocess.run([check, "restore", path, dest], capture_output=True, text=True,
                            timeout=60)
        self.assertEqual(r2.returncode, 4, r2.stdout + r2.stderr)
        self.assertIn("not empty", r2.stderr)
        state, stats = self.restored(dest)
        self.assertEqual(state, {"r/1": (2, "uno"), "r/2": (1, "two")})
        # Histories come along: r/1's earlier version is there.
        d = self.new_daemon(data_dir=dest).start()
        h = self.connect(d)
        h.send("HISTORY_CHECKPOINT r/1\n")
        lines = h.readlines(3)
        self.assertEqual([(x.split()[0], x.split()[2]) for x in lines[:2]],
                         [("2", "uno"), ("1", "one")])
        self.assertEqual(lines[2], "END")


class HeldBackupTest(harness.DaemonTestCase):
    """The backup's walk held in its middle by statestored-faulty's write
    gate (its first write of snapshot bytes waits; the walk stops once
    SS_COMPACT_CHUNK + SS_COMPACT_AHEAD more are ready)."""
    PROGRAM = "statestored-faulty"
    AUTOSTART = False
    KEYS = 16000
    VALUE = 1000

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="ss-backup-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.gate = os.path.join(self.tmp, "gate")
        self.d = self.new_daemon(env={"SS_FAULT_SNAPSHOT_WRITE_GATE": self.gate}).start()
        self.c = self.connect()
        ahead = (harness.limit("SS_COMPACT_CHUNK", header=COMPACTOR_H) +
                 harness.limit("SS_COMPACT_AHEAD", header=COMPACTOR_H))
        self.assertGreater(self.KEYS * self.VALUE, 2 * ahead)
        for k in range(0, self.KEYS, 1000):
            self.c.send("".join("SET_CHECKPOINT h%05d %s\n" % (i, ("v%d-" % i).ljust(self.VALUE, "x"))
                                for i in range(k, k + 1000)))
            for _ in range(1000):
                self.assertEqual(self.c.readline(), "OK")
        self.target = os.path.join(self.tmp, "bk")
        self.b = self.connect()
        self.b.send("BACKUP %s h\n" % self.target)
        self.assertTrue(harness.wait_until(lambda: os.path.exists(self.gate + ".waiting")),
                        "the backup never wrote its first bytes:\n" + self.d.log())

    def tearDown(self):
        # Opened whatever happened: the gate holds the compactor's thread,
        # which the daemon's shutdown waits for.
        open(self.gate, "w").close()
        super().tearDown()

    def test_changes_during_the_walk_are_in_the_backup(self):
        # Names on both sides of the cursor change, some are deleted, new
        # ones appear, and one outside the prefix changes too.
        c = self.c
        c.send("".join("SET_CHECKPOINT h%05d new%d\n" % (i, i) for i in range(0, self.KEYS, 7)))
        for _ in range(0, self.KEYS, 7):
            self.assertEqual(c.readline(), "OK")
        c.send("".join("DEL_CHECKPOINT h%05d\n" % i for i in range(3, self.KEYS, 11)))
        for _ in range(3, self.KEYS, 11):
            self.assertEqual(c.readline(), "1")
        self.assertEqual(c.cmd("SET_CHECKPOINT hzz added"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT outside 1"), "OK")
        self.assertEqual(c.stats()["compacting"], "0")  # a backup is not a compaction
        want = {n: v for n, v in listing(c).items() if n.startswith("h")}
        rev = int(c.stats()["revision"])
        open(self.gate, "w").close()
        self.assertEqual(self.b.readline(), "OK %d" % rev)
        self.assertEqual(self.c.cmd("SET_CHECKPOINT h00001 after"), "OK")
        d = self.new_daemon(data_dir=self.target).start()
        got = listing(self.connect(d))
        self.assertEqual(len(got), len(want))
        self.assertEqual(got, want)

    def test_a_kill_mid_backup_leaves_no_backup(self):
        self.d.kill()
        self.assertFalse(os.path.exists(self.target))
        partial = self.target + ".partial"
        self.assertTrue(os.path.isdir(partial))
        # The live store is whole, and a retry names what is in its way.
        self.d.env = None
        self.d.program = "statestored"
        self.d.restart()
        c = self.connect()
        self.assertEqual(c.stats()["entries"], str(self.KEYS))
        self.assertEqual(c.cmd("BACKUP %s h" % self.target),
                         "ERR backup failed: %s exists: an interrupted backup left it; "
                         "remove it and retry" % partial)
        shutil.rmtree(partial)
        self.assertEqual(c.cmd("BACKUP %s h" % self.target), "OK %d" % self.KEYS)
        d = self.new_daemon(data_dir=self.target).start()
        self.assertEqual(self.connect(d).stats()["entries"], str(self.KEYS))


if __name__ == "__main__":
    unittest.main()
