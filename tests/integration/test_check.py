"""statestore-check, the offline log tool, against the daemon itself: on the
same damaged logs as replay (test_restart.py's TestDamagedLog, the v1
fixture), its verdict, byte counts, offsets and messages must be the ones
the daemon logs when it starts on that log; verify and stats never write;
repair cuts what a start would cut, keeps a synced copy, and refuses while
a daemon holds the lock or when the damage is corruption (unless told).
"""
import glob
import json
import os
import re
import shutil
import tempfile
import unittest

from sstools.harness import DaemonTestCase, SOURCE_DIR, run_binary, zero_line_with

LOG = "statestored.log"
CUT_RE = re.compile(r"cut (\d+) bytes after the last valid record")


def check(*args):
    return run_binary(list(args), program="statestore-check", timeout=30)


def stats_of(out):
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


class CheckCase(DaemonTestCase):
    def log_path(self, d=None):
        return os.path.join((d or self.d).data_dir, LOG)

    def read_log(self, d=None):
        with open(self.log_path(d), "rb") as f:
            return f.read()

    def write_log(self, data, d=None):
        with open(self.log_path(d), "wb") as f:
            f.write(data)

    def write_records(self, n=10):
        c = self.connect()
        for i in range(n):
            self.assertEqual(c.cmd("SET_CHECKPOINT r%d marker%d-%s" % (i, i, "q" * 40)), "OK")
        return c

    def start_expecting_exit(self, d=None):
        d = d or self.d
        d.start(expect_ready=False)
        return d.wait(60)

    def daemon_cut(self, d=None):
        """Starts the daemon on its damaged log, stops it, and returns the
        bytes its log line says it cut (0 if it logged no cut)."""
        d = d or self.d
        d.start()
        cuts = [int(n) for n in CUT_RE.findall(d.log())]
        self.assertEqual(d.stop(), 0, d.log())
        self.assertLessEqual(len(cuts), 1, d.log())
        return cuts[0] if cuts else 0

    def copy_dir(self, src):
        dst = tempfile.mkdtemp(prefix="ss-it-check-")
        self.addCleanup(shutil.rmtree, dst, True)
        for name in os.listdir(src):
            if name != "LOCK":
                shutil.copy(os.path.join(src, name), dst)
        return dst

    def backups(self, d=None):
        return glob.glob(self.log_path(d) + ".bak-*")


class TestVerifyAndStats(CheckCase):
    def test_clean_log_stats_match_what_the_daemon_loads(self):
        c = self.connect()
        for i in range(30):
            self.assertEqual(c.cmd("SET_CHECKPOINT p%d v%d" % (i % 7, i)), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT ttl x 100000"), "OK")
        self.assertEqual(c.cmd("MSET_CHECKPOINT m/a 1 m/b 2").split()[0], "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT p3"), "1")
        # Read-only while the daemon runs: the log is not changed by it.
        before = self.read_log()
        r = check("verify", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("clean", r.stdout)
        self.assertEqual(self.read_log(), before)
        self.d.kill()  # leaves the preallocated zeros: still clean
        r = check("stats", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        s = stats_of(r.stdout)
        self.d.start()
        m = re.search(r"replayed (\d+) records in (\d+) groups", self.d.log())
        self.assertEqual((s["records"], s["groups"]), m.groups(), self.d.log())
        st = self.connect().stats()
        self.assertEqual(s["entries"], st["entries"])
        self.assertEqual(s["revision"], st["revision"])
        self.assertEqual(s["revision_min"], "1")
        self.assertEqual(s["log_bytes"], st["log_bytes"])
        # History: the earlier versions HISTORY_CHECKPOINT shows (its first
        # row is the current version).
        c = self.connect()
        earlier = 0
        for name in ["p%d" % i for i in range(7)] + ["ttl", "m/a", "m/b"]:
            c.send("HISTORY_CHECKPOINT %s\n" % name)
            rows = list(iter(c.readline, "END"))
            earlier += max(len(rows) - 1, 0)
        self.assertEqual(int(s["history_entries"]), earlier)
        self.assertGreater(earlier, 0)
        self.assertLess(int(s["oldest_commit_ms"]), int(s["newest_commit_ms"]) + 1)
        self.assertRegex(s["newest_commit"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # Dead bytes: what a compaction drops. After COMPACT the log is the
        # snapshot stats encoded in memory, byte for byte the same size.
        self.assertEqual(self.connect().cmd("COMPACT"), "OK")
        compacted = int(self.connect().stats()["log_bytes"])
        self.assertEqual(int(s["compacted_bytes"]), compacted)
        self.assertEqual(int(s["dead_bytes"]), int(s["log_bytes"]) - compacted)

    def test_torn_tail_at_every_offset_of_the_last_group_is_what_a_start_cuts(self):
        self.write_records()
        self.d.kill()
        data = self.read_log().rstrip(b"\0")
        last = data.rfind(b"GROUP ")
        for k in range(last + 1, len(data)):
            self.write_log(data[:k])
            r = check("verify", self.d.data_dir)
            self.assertEqual(r.returncode, 1, "offset %d: %s" % (k, r.stdout + r.stderr))
            self.assertEqual([int(n) for n in CUT_RE.findall(r.stdout)], [k - last],
                             "offset %d: %s" % (k, r.stdout))
        # The daemon agrees, at a few of those offsets, and with
        # preallocated zeros after the torn bytes (not counted).
        for k in (last + 1, (last + len(data)) // 2, len(data) - 1):
            self.write_log(data[:k])
            r = check("verify", self.d.data_dir)
            self.assertEqual(self.daemon_cut(), k - last, r.stdout)
            self.assertEqual(CUT_RE.findall(r.stdout), [str(k - last)])
        self.write_log(data + b"SET_CHECKPOINT tornkey tornval" + bytes(4096))
        r = check("verify", self.d.data_dir)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(CUT_RE.findall(r.stdout), ["30"])
        self.assertEqual(self.daemon_cut(), 30)

    def test_zero_tail_is_clean_and_a_start_cuts_nothing(self):
        self.write_records(3)
        self.d.kill()
        data = self.read_log().rstrip(b"\0")
        self.write_log(data + bytes(10000))
        r = check("verify", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("then 10000 bytes of preallocated zeros", r.stdout)
        self.assertEqual(self.daemon_cut(), 0)

    def test_torn_header_is_what_a_start_cuts_and_repair_writes_the_header(self):
        self.d.kill()
        self.write_log(b"statestored-lo")
        r = check("verify", self.d.data_dir)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("torn header: a start would cut 14 bytes", r.stdout)
        twin = self.new_daemon(data_dir=self.copy_dir(self.d.data_dir))
        self.assertEqual(self.daemon_cut(twin), 14)
        r = check("repair", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.read_log(), self.read_log(twin))
        self.assertEqual(self.read_log(), b"statestored-log 2\n")

    def assert_same_refusal(self, data):
        """verify exits 2 with the daemon's own refusal, word for word, and
        neither changes the log."""
        self.write_log(data)
        r = check("verify", self.d.data_dir)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertEqual(self.start_expecting_exit(), 4, self.d.log())
        self.assertIn("cannot open the data directory: " + r.stdout.strip(), self.d.log())
        self.assertEqual(self.read_log(), data, "the log was changed")
        return r.stdout

    def test_mid_log_flip_is_corruption_with_the_daemons_offset_and_record(self):
        self.write_records()
        self.d.kill()
        data = bytearray(self.read_log())
        pos = data.find(b"marker4-")
        line_start = data.rfind(b"\n", 0, pos) + 1
        data[pos + 10] = ord("r") if data[pos + 10] != ord("r") else ord("s")
        out = self.assert_same_refusal(bytes(data))
        # Record 10: the 5th group's GROUP line is record 9, its SET 10.
        self.assertIn("byte offset %d (record 10)" % line_start, out)

    def test_zeroed_record_in_the_middle_is_corruption(self):
        self.write_records()
        self.d.kill()
        data = bytearray(self.read_log())
        start = zero_line_with(data, b"marker4-")
        self.assertIn("byte offset %d" % start, self.assert_same_refusal(bytes(data)))

    def test_unknown_version_and_not_a_log_are_refused(self):
        self.write_records(3)
        self.d.kill()
        data = self.read_log()
        out = self.assert_same_refusal(b"statestored-log 3\n" + data[len(b"statestored-log 2\n"):])
        self.assertIn("format version 3", out)
        self.assertIn("not a statestored log",
                      self.assert_same_refusal(b"PK\x03\x04 this is a zip file, not a log\n"))

    def test_version_1_log_is_clean_and_loads_what_the_daemon_loads(self):
        d = self.new_daemon(data_dir=self.copy_dir(os.path.join(SOURCE_DIR, "tests/fixtures/v1")))
        r = check("verify", d.data_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("format version 1", r.stdout)
        r = check("stats", self.log_path(d))  # a file works as well as its directory
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        s = stats_of(r.stdout)
        self.assertEqual((s["format_version"], s["oldest_commit"]), ("1", "unknown"))
        d.start()
        m = re.search(r"replayed (\d+) records in (\d+) groups", d.log())
        self.assertEqual((s["records"], s["groups"]), m.groups())
        st = self.connect(d).stats()
        self.assertEqual((s["entries"], s["revision"]), (st["entries"], st["revision"]))

    def test_unreadable_logs_are_io_errors(self):
        empty = tempfile.mkdtemp(prefix="ss-it-check-")
        self.addCleanup(shutil.rmtree, empty, True)
        r = check("verify", empty)  # a directory without a log
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("No such file or directory", r.stderr)
        self.assertEqual(os.listdir(empty), [], "verify created something")
        self.assertEqual(check("verify", os.path.join(empty, "missing")).returncode, 3)
        os.mkdir(os.path.join(empty, LOG))  # a log that is a directory
        r = check("stats", empty)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        if os.geteuid() != 0:  # root reads through permissions
            self.d.kill()
            os.chmod(self.d.data_dir, 0)
            self.addCleanup(os.chmod, self.d.data_dir, 0o755)
            self.assertEqual(check("verify", self.d.data_dir).returncode, 3)

    def test_usage_errors_exit_5_and_help_documents_the_exit_codes(self):
        self.assertEqual(check().returncode, 5)
        self.assertEqual(check("frobnicate", self.d.data_dir).returncode, 5)
        self.assertEqual(check("repair", "--force", self.d.data_dir).returncode, 5)
        r = check("--help")
        self.assertEqual(r.returncode, 0)
        for code in range(6):
            self.assertRegex(r.stdout, r"\n  %d  " % code)


class TestDump(CheckCase):
    def test_text_dump_of_a_clean_log_is_its_record_lines(self):
        c = self.connect()
        for i in range(5):
            self.assertEqual(c.cmd("SET_CHECKPOINT a\\b/%d v%d 100000" % (i, i)), "OK")
        self.assertEqual(c.cmd("MSET_CHECKPOINT x 1 y 2").split()[0], "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT x"), "1")
        self.assertEqual(c.cmd("COMPACT"), "OK")  # a REVISION record too
        self.assertEqual(c.cmd("SET_CHECKPOINT z 3"), "OK")
        log = self.read_log().rstrip(b"\0").decode()
        r = check("dump", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = [ln for ln in log.splitlines()[1:] if not ln.startswith("GROUP ")]
        self.assertEqual(r.stdout.splitlines(), want)
        self.assertIn("REVISION", r.stdout)

    def test_jsonl_dump_with_a_prefix(self):
        c = self.connect()
        for n in ["a\\b/1", "a\\b/2", "other"]:
            self.assertEqual(c.cmd("SET_CHECKPOINT %s v" % n), "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT a\\b/1"), "1")
        r = check("dump", "--format", "jsonl", "--prefix", "a\\b/", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(ln) for ln in r.stdout.splitlines()]
        self.assertEqual([(o["type"], o["name"], o["rev"]) for o in rows],
                         [("set", "a\\b/1", 1), ("set", "a\\b/2", 2), ("del", "a\\b/1", 4)])

    def test_dump_of_a_torn_log_prints_what_a_start_keeps(self):
        self.write_records(3)
        self.d.kill()
        self.write_log(self.read_log().rstrip(b"\0") + b"GROUP 1 00000000\nSET_CH")
        r = check("dump", self.d.data_dir)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stdout.splitlines()), 3)
        self.assertIn("torn tail", r.stderr)


class TestRepair(CheckCase):
    def torn(self):
        """Kills the daemon, leaves a torn tail; returns (log bytes, the
        offset a start cuts back to)."""
        self.write_records()
        self.d.kill()
        clean = self.read_log().rstrip(b"\0")
        data = clean + b"GROUP 2 00000000\nSET_CHECKPOINT half"
        self.write_log(data)
        return data, len(clean)

    def test_dry_run_changes_nothing(self):
        data, _ = self.torn()
        before = sorted(os.listdir(self.d.data_dir))
        r = check("repair", "--dry-run", self.d.data_dir)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("nothing written", r.stdout)
        self.assertEqual(self.read_log(), data)
        self.assertEqual(sorted(os.listdir(self.d.data_dir)), before)

    def test_repair_cuts_exactly_what_a_start_cuts_and_keeps_a_copy(self):
        data, end = self.torn()
        twin = self.new_daemon(data_dir=self.copy_dir(self.d.data_dir))
        r = check("repair", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        (bak,) = self.backups()
        self.assertIn(bak, r.stdout)
        with open(bak, "rb") as f:
            self.assertEqual(f.read(), data, "the copy is not the original")
        self.assertEqual(self.read_log(), data[:end])
        self.assertEqual(self.daemon_cut(twin), len(data) - end)
        self.assertEqual(self.read_log(twin), self.read_log(), "the daemon cut differently")
        self.assertEqual(check("verify", self.d.data_dir).returncode, 0)
        self.assertEqual(self.daemon_cut(), 0)

    def test_repair_refuses_while_a_daemon_holds_the_lock(self):
        self.write_records(3)
        before = self.read_log()
        for args in (["--dry-run"], []):
            r = check("repair", *args, self.d.data_dir)
            self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
            self.assertIn("pid %d" % self.d.proc.pid, r.stderr)
        self.assertEqual(self.read_log(), before)
        self.assertEqual(self.backups(), [])
        self.assertEqual(self.connect().cmd("GET_CHECKPOINT r2"), "marker2-" + "q" * 40)

    def test_corruption_is_cut_only_when_asked(self):
        self.write_records()
        self.d.kill()
        data = bytearray(self.read_log())
        pos = data.find(b"marker4-")
        group = data.rfind(b"GROUP", 0, pos)
        data[pos + 10] = ord("r") if data[pos + 10] != ord("r") else ord("s")
        data = bytes(data)
        self.write_log(data)
        r = check("repair", self.d.data_dir)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--truncate-at-corruption", r.stdout)
        self.assertEqual(self.read_log(), data)
        self.assertEqual(self.backups(), [])
        r = check("repair", "--truncate-at-corruption", self.d.data_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.read_log(), data[:group])
        (bak,) = self.backups()
        with open(bak, "rb") as f:
            self.assertEqual(f.read(), data)
        self.d.start()
        c = self.connect()
        self.assertEqual(c.cmd("GET_CHECKPOINT r3"), "marker3-" + "q" * 40)
        self.assertEqual(c.cmd("GET_CHECKPOINT r4"), "NULL")


if __name__ == "__main__":
    unittest.main()
