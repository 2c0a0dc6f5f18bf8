"""What survives a stop and a start on the same data dir: values, expiries
(absolute, never extended), deletes, compactions; how the daemon treats a
damaged log (corrupt middle: refuse with exit 4 naming the offset; torn
tail: cut it and go on); the data dir lock; shutdown; command-line options.
"""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from sstools.client import Client
from sstools.harness import (Daemon, DaemonTestCase, binary, limit, project_version,
                             run_binary, wait_until, zero_line_with)

SEED = int(os.environ.get("SS_TEST_SEED") or random.randrange(1 << 30))
LOG = "statestored.log"
LONG_TTL = 100000


def snapshot(c, names):
    """name -> (GET reply, TTL reply) for every name."""
    return {n: (c.cmd("GET_CHECKPOINT " + n), int(c.cmd("TTL_CHECKPOINT " + n))) for n in names}


class RestartCase(DaemonTestCase):
    def restart(self, how):
        """Stops the daemon (SIGTERM: expects exit 0; SIGKILL) and starts it
        again on the same dir; returns a fresh client."""
        if how == "term":
            self.assertEqual(self.d.stop(signal.SIGTERM), 0, self.d.log()[-2000:])
        else:
            self.d.kill()
        self.d.start()
        return self.connect()

    def assert_same_state(self, before, after):
        """GETs equal; TTLs: -1/-2 equal, a positive TTL not increased."""
        self.assertEqual(set(before), set(after))
        for n in before:
            (v0, t0), (v1, t1) = before[n], after[n]
            self.assertEqual(v1, v0, n)
            if t0 < 0:
                self.assertEqual(t1, t0, n)
            else:
                self.assertTrue(1 <= t1 <= t0, "%s: TTL %d before, %d after" % (n, t0, t1))

    def log_path(self):
        return os.path.join(self.d.data_dir, LOG)


class TestSurvival(RestartCase):
    def populate(self, c):
        rng = random.Random(SEED)
        names = ["p%d" % i for i in range(25)]
        for i in range(200):
            n = rng.choice(names)
            r = rng.random()
            if r < 0.45:
                self.assertEqual(c.cmd("SET_CHECKPOINT %s v%d" % (n, i)), "OK")
            elif r < 0.8:
                self.assertEqual(c.cmd("SET_CHECKPOINT %s t%d %d" % (n, i, rng.randrange(1000, LONG_TTL))),
                                 "OK")
            else:
                self.assertIn(c.cmd("DEL_CHECKPOINT " + n), ("0", "1"))
        return names

    def check_survives(self, how):
        c = self.connect()
        names = self.populate(c)
        before = snapshot(c, names)
        self.assertTrue(any(v == "NULL" for v, _ in before.values()), "seed %d: no deleted name" % SEED)
        self.assertTrue(any(t > 0 for _, t in before.values()), "seed %d: no ttl" % SEED)
        self.assertTrue(any(t == -1 for _, t in before.values()), "seed %d: no plain" % SEED)
        c = self.restart(how)
        self.assert_same_state(before, snapshot(c, names))
        c = self.restart(how)  # a second replay of a log the first one cut/reopened
        self.assert_same_state(before, snapshot(c, names))
        # The reopened log is appendable and the appends survive too.
        self.assertEqual(c.cmd("SET_CHECKPOINT p0 after-restart"), "OK")
        c = self.restart(how)
        self.assertEqual(c.cmd("GET_CHECKPOINT p0"), "after-restart")

    def test_values_ttls_and_deletes_survive_sigterm(self):
        self.check_survives("term")

    def test_values_ttls_and_deletes_survive_kill9(self):
        self.check_survives("kill")

    def test_entries_stat_after_replay(self):
        c = self.connect()
        for i in range(10):
            self.assertEqual(c.cmd("SET_CHECKPOINT e%d x" % i), "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT e3"), "1")
        c = self.restart("kill")
        self.assertEqual(int(c.stats()["entries"]), 9)

    def test_ttl_is_not_extended_by_restart(self):
        """Expiry is absolute: once TTL has counted down from 2 to 1, a
        restart must not give back the time (a log of relative TTLs would
        show 2 again)."""
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT p v 2"), "OK")
        self.assertTrue(wait_until(lambda: c.cmd("TTL_CHECKPOINT p") in ("1", "-2"), 5.0))
        c = self.restart("kill")
        self.assertIn(c.cmd("TTL_CHECKPOINT p"), ("1", "-2"))

    def test_expired_entries_stay_dead_after_restart(self):
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT old v1"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT old v2 1"), "OK")  # shadows v1, then expires
        self.assertEqual(c.cmd("SET_CHECKPOINT short x 1"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT plain y"), "OK")
        self.assertTrue(wait_until(lambda: c.cmd("GET_CHECKPOINT old") == "NULL"
                                   and c.cmd("GET_CHECKPOINT short") == "NULL", 5.0))
        for how in ["kill", "term"]:
            c = self.restart(how)
            self.assertEqual(snapshot(c, ["old", "short", "plain"]),
                             {"old": ("NULL", -2), "short": ("NULL", -2), "plain": ("y", -1)}, how)

    def test_cleared_expiry_survives_restart(self):
        """SET without ttl clears a previous expiry, also in the log: after
        the old expiry has passed and a restart, the value is still there."""
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT k v 1"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT k w"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT probe x 1"), "OK")  # set after k's expiry began
        self.assertTrue(wait_until(lambda: c.cmd("GET_CHECKPOINT probe") == "NULL", 5.0))
        c = self.restart("kill")
        self.assertEqual(snapshot(c, ["k"]), {"k": ("w", -1)})

    def test_del_survives_restart(self):
        c = self.connect()
        for n in ["a", "b", "c"]:
            self.assertEqual(c.cmd("SET_CHECKPOINT %s %s1" % (n, n)), "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT a"), "1")
        self.assertEqual(c.cmd("SET_CHECKPOINT c c2 %d" % LONG_TTL), "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT c"), "1")
        c = self.restart("kill")
        self.assertEqual(snapshot(c, ["a", "b", "c"]),
                         {"a": ("NULL", -2), "b": ("b1", -1), "c": ("NULL", -2)})
        self.assertEqual(c.cmd("DEL_CHECKPOINT b"), "1")
        self.assertEqual(c.cmd("SET_CHECKPOINT a a2"), "OK")
        c = self.restart("term")
        self.assertEqual(snapshot(c, ["a", "b", "c"]),
                         {"a": ("a2", -1), "b": ("NULL", -2), "c": ("NULL", -2)})

    def test_stale_compaction_temp_file_is_ignored_and_removed(self):
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT k real"), "OK")
        self.d.kill()
        tmp = os.path.join(self.d.data_dir, LOG + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"statestored-log 1\nSET_CHECKPOINT k fake 0 00000000\nhalf a rec")
        self.d.start()
        c = self.connect()
        self.assertEqual(c.cmd("GET_CHECKPOINT k"), "real")
        self.assertFalse(os.path.exists(tmp), "stale temp file left in the data dir")


class TestCompaction(RestartCase):
    def test_compact_then_restart_gives_identical_state(self):
        rng = random.Random(SEED)
        c = self.connect()
        names = ["c%d" % i for i in range(30)]
        for i in range(300):
            n = rng.choice(names)
            r = rng.random()
            if r < 0.5:
                self.assertEqual(c.cmd("SET_CHECKPOINT %s v%d" % (n, i)), "OK")
            elif r < 0.8:
                self.assertEqual(c.cmd("SET_CHECKPOINT %s t%d %d" % (n, i, LONG_TTL)), "OK")
            else:
                c.cmd("DEL_CHECKPOINT " + n)
        before = snapshot(c, names)
        bytes_before = int(c.stats()["log_bytes"])
        self.assertEqual(c.cmd("COMPACT"), "OK")
        self.assert_same_state(before, snapshot(c, names))
        self.assertLess(int(c.stats()["log_bytes"]), bytes_before)
        c = self.restart("kill")
        self.assert_same_state(before, snapshot(c, names))
        c = self.restart("term")
        self.assert_same_state(before, snapshot(c, names))

    def test_writes_after_compact_survive_kill9(self):
        """After COMPACT renames a new log into place, later appends must go
        to that new file (not the unlinked old one) and be durable."""
        c = self.connect()
        for i in range(20):
            self.assertEqual(c.cmd("SET_CHECKPOINT k%d v%d" % (i % 4, i)), "OK")
        self.assertEqual(c.cmd("COMPACT"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT k0 after1"), "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT k1"), "1")
        self.assertEqual(c.cmd("COMPACT"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT k2 after2 %d" % LONG_TTL), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT new after3"), "OK")
        before = snapshot(c, ["k0", "k1", "k2", "k3", "new"])
        c = self.restart("kill")
        self.assert_same_state(before, snapshot(c, ["k0", "k1", "k2", "k3", "new"]))

    def test_compaction_drops_expired_without_resurrecting(self):
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT k old"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT k new 1"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT gone x"), "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT gone"), "1")
        self.assertEqual(c.cmd("SET_CHECKPOINT live y"), "OK")
        self.assertTrue(wait_until(lambda: c.cmd("GET_CHECKPOINT k") == "NULL", 5.0))
        self.assertEqual(c.cmd("COMPACT"), "OK")
        c = self.restart("kill")
        self.assertEqual(snapshot(c, ["k", "gone", "live"]),
                         {"k": ("NULL", -2), "gone": ("NULL", -2), "live": ("y", -1)})

    def test_compact_with_concurrent_writers_loses_and_resurrects_nothing(self):
        """Writers SET increasing values and SET-then-DEL other names while a
        third connection COMPACTs over and over. Every acknowledged value is
        there and every acknowledged delete stays deleted, live and after
        kill -9."""
        n_writers, rounds = 4, 100
        acked = {}
        deleted, kept = [], []
        errors = []
        done = threading.Event()
        compactions = [0]

        def writer(w):
            try:
                c = self.d.connect()
                for i in range(1, rounds + 1):
                    if c.cmd("SET_CHECKPOINT w%d %d" % (w, i)) != "OK":
                        raise AssertionError("SET w%d %d not OK" % (w, i))
                    acked["w%d" % w] = str(i)
                    if i % 3 == 0:
                        name = "d%d-%d" % (w, i)
                        if c.cmd("SET_CHECKPOINT %s x" % name) != "OK" or c.cmd("DEL_CHECKPOINT " + name) != "1":
                            raise AssertionError("set/del of " + name)
                        deleted.append(name)
                    if i % 5 == 0:
                        name = "k%d-%d" % (w, i)
                        if c.cmd("SET_CHECKPOINT %s %d %d" % (name, i, LONG_TTL)) != "OK":
                            raise AssertionError("set of " + name)
                        kept.append((name, str(i)))
                c.close()
            except Exception as e:  # reported by the main thread
                errors.append("writer %d: %r" % (w, e))

        def compactor():
            try:
                c = self.d.connect()
                while not done.is_set():
                    reply = c.cmd("COMPACT")
                    if reply != "OK":
                        raise AssertionError("COMPACT: %r" % reply)
                    compactions[0] += 1
                c.close()
            except Exception as e:
                errors.append("compactor: %r" % e)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(n_writers)]
        comp = threading.Thread(target=compactor)
        comp.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        done.set()
        comp.join(120)
        self.assertEqual(errors, [])
        self.assertGreater(compactions[0], 1, "no COMPACT ran alongside the writers")

        def check(c, when):
            for name, value in sorted(acked.items()) + kept:
                self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, "%s %s" % (when, name))
            for name in deleted:
                self.assertEqual(c.cmd("GET_CHECKPOINT " + name), "NULL", "%s %s" % (when, name))

        c = self.connect()
        self.assertGreaterEqual(int(c.stats()["compactions"]), compactions[0])
        check(c, "live")
        check(self.restart("kill"), "after kill -9")


class TestDamagedLog(RestartCase):
    def write_records(self, n=10):
        c = self.connect()
        for i in range(n):
            self.assertEqual(c.cmd("SET_CHECKPOINT r%d marker%d-%s" % (i, i, "q" * 40)), "OK")
        return c

    def read_log(self):
        with open(self.log_path(), "rb") as f:
            return f.read()

    def start_expecting_exit(self):
        self.d.start(expect_ready=False)
        return self.d.wait(60)

    def test_corrupt_record_in_the_middle_refuses_start_naming_offset(self):
        self.write_records()
        self.d.kill()
        data = bytearray(self.read_log())
        pos = data.find(b"marker4-")
        self.assertGreater(pos, 0, "record not found in the log")
        line_start = data.rfind(b"\n", 0, pos) + 1
        flip = pos + 10  # inside the value: still printable, now wrong
        data[flip] = ord("r") if data[flip] != ord("r") else ord("s")
        with open(self.log_path(), "wb") as f:
            f.write(data)
        self.assertEqual(self.start_expecting_exit(), 4, self.d.log())
        offsets = re.findall(r"\d+", self.d.log())
        self.assertTrue(str(line_start) in offsets or str(flip) in offsets,
                        "no offset %d (or %d) in: %s" % (line_start, flip, self.d.log()))
        self.assertEqual(self.read_log(), bytes(data), "a refused start changed the log")

    def test_zeroed_record_in_the_middle_refuses_start(self):
        """Zeros followed by valid records are damage, not the end of the
        log: cutting there would drop acknowledged records."""
        self.write_records()
        self.d.kill()
        data = bytearray(self.read_log())
        start = zero_line_with(data, b"marker4-")
        with open(self.log_path(), "wb") as f:
            f.write(data)
        self.assertEqual(self.start_expecting_exit(), 4, self.d.log())
        self.assertIn(str(start), re.findall(r"\d+", self.d.log()), self.d.log())
        self.assertEqual(self.read_log(), bytes(data), "a refused start changed the log")

    def test_other_log_version_refuses_start(self):
        self.write_records(3)
        self.d.kill()
        data = self.read_log()
        self.assertTrue(data.startswith(b"statestored-log 2\n"))
        with open(self.log_path(), "wb") as f:
            f.write(b"statestored-log 3\n" + data[len(b"statestored-log 2\n"):])
        self.assertEqual(self.start_expecting_exit(), 4, self.d.log())
        self.assertRegex(self.d.log(), r"(?i)version")

    def test_not_a_log_refuses_start(self):
        self.d.kill()
        with open(self.log_path(), "wb") as f:
            f.write(b"PK\x03\x04 this is a zip file, not a log\n")
        self.assertEqual(self.start_expecting_exit(), 4, self.d.log())

    def append_torn(self, torn):
        """Writes torn at the logical end of the log (where the next record
        would go, before any preallocated zeros) like an interrupted write."""
        data = self.read_log()
        end = len(data.rstrip(b"\0"))
        self.assertTrue(data[:end].endswith(b"\n"))
        with open(self.log_path(), "r+b") as f:
            f.seek(end)
            f.write(torn)

    def check_torn_tail_cut(self, torn, expected, damaged_bytes):
        self.append_torn(torn)
        self.d.start()
        c = self.connect()
        # Replay (and so the cut) is done before "listening on" is logged,
        # which must say how many bytes were cut: at least the damaged ones
        # (an implementation may count the preallocated zeros after them).
        cuts = [int(n) for line in self.d.log().splitlines() if re.search(r"(?i)torn|cut|trunc", line)
                for n in re.findall(r"(\d+) (?:torn )?bytes", line)]
        self.assertTrue(any(n >= damaged_bytes for n in cuts),
                        "no log line saying >= %d bytes were cut: %s" % (damaged_bytes, self.d.log()))
        for name, value in expected.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, name)
        # Appends after the cut land on a clean record boundary.
        self.assertEqual(c.cmd("SET_CHECKPOINT after-cut yes"), "OK")
        c = self.restart("kill")
        self.assertEqual(c.cmd("GET_CHECKPOINT after-cut"), "yes")
        for name, value in expected.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, name)

    def test_torn_tail_is_cut_and_logged(self):
        self.write_records()
        self.d.kill()
        expected = {"r%d" % i: "marker%d-%s" % (i, "q" * 40) for i in range(10)}
        expected["tornkey"] = "NULL"
        torn = b"SET_CHECKPOINT tornkey tornval"
        self.check_torn_tail_cut(torn, expected, len(torn))

    def test_bad_last_record_is_cut_as_torn(self):
        """A damaged record with nothing valid after it is a torn write: the
        tail is cut, the records before it stay."""
        c = self.write_records()
        self.assertEqual(c.cmd("SET_CHECKPOINT r0 newest"), "OK")
        self.d.kill()
        data = bytearray(self.read_log())
        end = len(bytes(data).rstrip(b"\0"))
        pos = data.rfind(b"newest", 0, end)
        data[pos] = ord("N")
        with open(self.log_path(), "wb") as f:
            f.write(data)
        line_len = data.find(b"\n", pos) + 1 - (data.rfind(b"\n", 0, pos) + 1)
        expected = {"r%d" % i: "marker%d-%s" % (i, "q" * 40) for i in range(10)}
        self.check_torn_tail_cut(b"", expected, line_len)


class TestLockAndShutdown(RestartCase):
    def test_second_daemon_on_same_dir_exits_3(self):
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT k v"), "OK")
        second = self.new_daemon(data_dir=self.d.data_dir)
        second.start(expect_ready=False)
        self.assertEqual(second.wait(60), 3, second.log())
        self.assertRegex(second.log(), r"(?i)lock")
        # The first daemon and its data are untouched.
        self.assertEqual(c.cmd("GET_CHECKPOINT k"), "v")
        self.assertEqual(c.cmd("SET_CHECKPOINT k w"), "OK")
        c = self.restart("kill")
        self.assertEqual(c.cmd("GET_CHECKPOINT k"), "w")

    def test_lock_records_the_pid_of_its_holder(self):
        with open(os.path.join(self.d.data_dir, "LOCK")) as f:
            self.assertEqual(f.read(), "%d\n" % self.d.proc.pid)

    def kill9_inside_a_compaction(self, gate_var, keys, value_bytes, log_over=0):
        """Fills a daemon with keys (its log then over log_over bytes),
        sends COMPACT, and once the compaction waits at statestored-faulty's
        gate gate_var (which never opens) commits more - the tail, in the
        old log - then kill -9 and a restart at once: it must start, remove
        the stale temp file, and show every acknowledged write. Returns the
        temp file's size at the kill."""
        gate_dir = tempfile.mkdtemp(prefix="ss-it-gate-")
        self.addCleanup(shutil.rmtree, gate_dir, True)
        gate = os.path.join(gate_dir, "gate")
        d = self.new_daemon(program="statestored-faulty", env={gate_var: gate}).start()
        c = self.connect(d)
        acked = {}
        for i in range(0, keys, 256):
            n = min(256, keys - i)
            c.send("".join("SET_CHECKPOINT k%d %s\n" % (j, ("v%d-" % j).ljust(value_bytes, "x"))
                           for j in range(i, i + n)))
            self.assertEqual(c.readlines(n), ["OK"] * n)
            acked.update(("k%d" % j, ("v%d-" % j).ljust(value_bytes, "x")) for j in range(i, i + n))
        dels = range(0, keys, 7)
        c.send("".join("DEL_CHECKPOINT k%d\n" % i for i in dels))
        self.assertEqual(c.readlines(len(dels)), ["1"] * len(dels))
        acked.update(("k%d" % i, "NULL") for i in dels)
        self.assertGreater(int(c.stats()["log_bytes"]), log_over)
        compactor = self.connect(d)
        compactor.send("COMPACT\n")
        self.assertTrue(wait_until(lambda: os.path.exists(gate + ".waiting")),
                        "the compaction never reached the gate:\n" + d.log())
        tmp = os.path.join(d.data_dir, "statestored.log.tmp")
        # The tail: written to the old log while the compaction waits.
        for i in range(0, keys, keys // 40):
            self.assertEqual(c.cmd("SET_CHECKPOINT k%d tail%d" % (i, i)), "OK")
            acked["k%d" % i] = "tail%d" % i
        self.assertEqual(c.cmd("DEL_CHECKPOINT k1"), "1")
        acked["k1"] = "NULL"
        self.assertEqual(c.stats()["compacting"], "1")
        size = os.path.getsize(tmp)
        self.assertEqual(d.kill(), -signal.SIGKILL)
        self.assertTrue(os.path.exists(tmp), "the kill did not land inside the compaction")
        d.start()  # at once; raises if the daemon does not start
        self.assertTrue(d.wait_log(r"removed a stale compaction temp file"), d.log())
        self.assertFalse(os.path.exists(tmp))
        c = self.connect(d)
        names = sorted(acked)
        got = []
        for i in range(0, len(names), 256):
            c.send("".join("GET_CHECKPOINT %s\n" % n for n in names[i:i + 256]))
            got += c.readlines(len(names[i:i + 256]))
        wrong = [(n, g[:20], acked[n][:20]) for n, g in zip(names, got) if g != acked[n]]
        self.assertEqual(wrong[:5], [], "%d keys (name, got, acknowledged)" % len(wrong))
        self.assertEqual(int(c.stats()["entries"]),
                         sum(v != "NULL" for v in acked.values()))
        return size

    def test_a_restart_right_after_kill9_during_compact_starts(self):
        """kill -9 with the snapshot in the temp file, its fdatasync held
        (SS_FAULT_SNAPSHOT_GATE), batches committed since in the old log's
        tail."""
        self.assertGreater(self.kill9_inside_a_compaction("SS_FAULT_SNAPSHOT_GATE", 200, 20), 0,
                           "the snapshot was not in the temp file")

    def test_a_restart_right_after_kill9_in_the_middle_of_the_walk_starts(self):
        """kill -9 with the walk of the table held in its middle: the first
        write of its bytes held (SS_FAULT_SNAPSHOT_WRITE_GATE), the walk
        stopped once SS_COMPACT_CHUNK + SS_COMPACT_AHEAD more were ready
        (compactor.c), of a snapshot far bigger (the log it compacts is over
        twice that, a seventh of it deleted)."""
        ahead = (limit("SS_COMPACT_CHUNK", "src/server/compactor.h") +
                 limit("SS_COMPACT_AHEAD", "src/server/compactor.h"))
        keys = 4000
        self.assertEqual(self.kill9_inside_a_compaction("SS_FAULT_SNAPSHOT_WRITE_GATE", keys,
                                                        3 * ahead // keys, 2 * ahead), 0,
                         "bytes of the snapshot reached the temp file")

    def test_a_lock_held_by_a_live_process_refuses_the_start_whatever_pid_it_records(self):
        """No process of a dead daemon holds its LOCK (it has none), so a
        held LOCK means a live owner, even when the pid recorded in it is
        gone: the start exits 3 at once, naming that pid, and never waits."""
        self.assertEqual(self.d.stop(signal.SIGTERM), 0)
        dead = subprocess.Popen(["true"])
        dead.wait()
        lock = os.path.join(self.d.data_dir, "LOCK")
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, sys, os\n"
             "f = open(sys.argv[1], 'r+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
             "f.seek(0); f.truncate(); f.write(sys.argv[2] + '\\n'); f.flush()\n"
             "print('locked', flush=True); sys.stdin.read()",
             lock, str(dead.pid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.assertEqual(holder.stdout.readline(), b"locked\n")
            self.d.start(expect_ready=False)
            self.assertEqual(self.d.wait(10), 3, self.d.log())
            self.assertIn("(pid %d recorded in it)" % dead.pid, self.d.log())
        finally:
            holder.stdin.close()  # the holder exits, and the lock is free
            holder.wait()
            holder.stdout.close()
        self.d.start()
        self.assertEqual(self.connect().cmd("PING"), "PONG")

    def test_lock_released_on_exit(self):
        self.assertEqual(self.d.stop(signal.SIGTERM), 0)
        second = self.new_daemon(data_dir=self.d.data_dir).start()
        self.assertEqual(self.connect(second).cmd("PING"), "PONG")

    def test_sigterm_exits_0_and_logs(self):
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT k v"), "OK")
        partial = self.connect()
        partial.send("SET_CHECKPOINT half")  # a client in the middle of a line
        n = len(self.d.stderr_lines)
        self.assertEqual(self.d.stop(signal.SIGTERM), 0, self.d.log())
        tail = b"".join(self.d.stderr_lines[n:]).decode("utf-8", "replace")
        self.assertRegex(tail, r"(?i)(shut|exit|stop|term|signal)", "nothing logged on SIGTERM")
        self.assertEqual(c.wait_eof(), [])

    def test_sigint_exits_0(self):
        self.assertEqual(self.d.stop(signal.SIGINT), 0, self.d.log())

    def test_sighup_and_sigusr_are_logged_and_ignored(self):
        """Closing the terminal that started the daemon sends SIGHUP, which
        used to end it without a line in its log."""
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT k v"), "OK")
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            n = len(self.d.stderr_lines)
            self.d.proc.send_signal(sig)
            self.assertTrue(self.d.wait_log(r"%s received: nothing to reload; carrying on"
                                            % sig.name, start=n), self.d.log())
            self.assertEqual(c.cmd("GET_CHECKPOINT k"), "v")
        self.assertTrue(self.d.running())


class TestOptions(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ss-it-opt-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_daemon(self, args):
        # A daemon that wrongly accepts the options would start serving and
        # time out here: a failure, as it should be.
        return run_binary(args, timeout=30)

    def test_unknown_option_exits_2_with_usage(self):
        for extra in (["--bogus"], ["-Z"], ["--max-clients"]):
            r = self.run_daemon(["-p", "0", "-d", self.dir] + extra)
            self.assertEqual(r.returncode, 2, (extra, r.stderr))
            self.assertRegex(r.stderr, r"(?i)usage", extra)

    def test_bad_option_values_exit_2(self):
        for extra in (["-p", "abc"], ["-p", "70000"], ["-p", "-1"], ["--max-clients", "0"],
                      ["--max-clients", "x"], ["--max-line", "12"], ["--max-line", "1k"],
                      ["--log-level", "loud"]):
            args = ["-d", self.dir] + (["-p", "0"] if extra[0] != "-p" else []) + extra
            r = self.run_daemon(args)
            self.assertEqual(r.returncode, 2, (extra, r.stderr))
            self.assertNotEqual(r.stderr.strip(), "", extra)

    def test_version_flag_prints_the_project_version(self):
        r = self.run_daemon(["-V"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(project_version(), r.stdout + r.stderr)

    def test_help_flag_prints_usage_and_exits_0(self):
        r = self.run_daemon(["-h"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"(?i)usage")
        for opt in ["-p", "-d", "--max-clients", "--max-line", "--log-level"]:
            self.assertIn(opt, out)

    def test_a_bad_option_value_names_the_option_and_its_range(self):
        for args, want in ((["-p", "70000"], "for --port: want a port from 0 to 65535, or none"),
                           (["--port=-1"], "for --port: want a port from 0 to 65535, or none"),
                           (["--max-clients", "0"], "for --max-clients: want an integer from 1"),
                           (["--log-level", "loud"], "for --log-level: want debug, info, warn"),
                           (["-b", "localhost"], "for --bind: want a numeric IPv4 or IPv6")):
            r = self.run_daemon(["-d", os.path.join(self.dir, "d")] + args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("invalid value '%s' %s" % (args[-1].split("=")[-1], want), r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.dir, "d")), args)

    def test_an_empty_data_dir_is_a_usage_error(self):
        r = self.run_daemon(["-p", "0", "-d", ""])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("invalid value '' for --data-dir", r.stderr)

    def test_a_data_dir_is_created_with_its_parents(self):
        d = self.new_daemon(os.path.join(self.dir, "a", "b", "c"))
        d.start()
        with d.connect() as c:
            self.assertEqual(c.cmd("SET_CHECKPOINT k v"), "OK")
        self.assertEqual(d.stop(), 0)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "a", "b", "c", "statestored.log")))

    def test_a_port_in_use_is_found_before_the_data_dir_is_touched(self):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            data = os.path.join(self.dir, "never")
            r = self.run_daemon(["-p", str(s.getsockname()[1]), "-d", data])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("Address already in use", r.stderr)
            self.assertFalse(os.path.exists(data), "created and replayed before binding")
        finally:
            s.close()

    def test_the_listening_address_is_logged_at_every_level(self):
        d = self.new_daemon(args=("--log-level", "error")).start()  # waits for the line
        self.assertIsNotNone(d.port)
        self.assertNotIn("[info]", d.log())
        self.assertEqual(d.stop(), 0)
        self.assertIn("shut down cleanly", d.log())

    def test_a_daemon_started_with_stdio_closed_keeps_its_log_intact(self):
        """Started with descriptors 0-2 closed, the daemon's own files would
        get those numbers, and log lines written to "stderr" would land in
        the data log. They are filled with /dev/null first."""
        data = os.path.join(self.dir, "closed")
        port = free_port()
        p = subprocess.Popen([binary("statestored"), "-p", str(port), "-d", data,
                              "--log-level", "debug"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             preexec_fn=lambda: [os.close(fd) for fd in (0, 1, 2)])
        try:
            c = wait_until(lambda: connect_or_none(port), 30)
            self.assertIsNotNone(c, "the daemon did not listen")
            with c:
                self.assertEqual(c.cmd("SET_CHECKPOINT k v"), "OK")
                self.assertEqual(c.cmd("SET_CHECKPOINT k w"), "OK")
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(30), 0)
        d = self.new_daemon(data).start()
        with d.connect() as c:
            self.assertEqual(c.cmd("GET_CHECKPOINT k"), "w")
        self.assertEqual(d.stop(), 0)

    def new_daemon(self, data_dir=None, args=()):
        d = Daemon(data_dir or os.path.join(self.dir, "data"), args)
        self.addCleanup(d.cleanup)
        return d

    def test_port_in_use_exits_1(self):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            r = self.run_daemon(["-p", str(port), "-b", "127.0.0.1", "-d", self.dir])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertNotEqual(r.stderr.strip(), "")
        finally:
            s.close()


def free_port():
    """A port nothing listens on now (the kernel's pick for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_or_none(port):
    try:
        return Client(port, 30)
    except OSError:
        return None


if __name__ == "__main__":
    unittest.main()
