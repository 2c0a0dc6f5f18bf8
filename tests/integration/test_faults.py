"""I/O failures on the write path.

Injected ones use statestored-faulty (tests/progs/statestored-faulty.c):
the real daemon whose I/O table fails the log writes that carry the marker
INJECT_FAULT, as SS_FAULT says (pwrite:ENOSPC, pwrite:EIO, short:ENOSPC,
fdatasync:EIO). A test puts the marker in one value to choose the request
that fails.

A real one: a small tmpfs filled up to ENOSPC (needs root for mount; the
test is skipped, saying why, where mount is not allowed).

Rules checked: a failed log write gets "ERR log write failed: <strerror>"
for every SET of its batch, applies nothing, and later writes work; a
failed fdatasync acknowledges nothing and the daemon exits 5; after a
restart every acknowledged value is there and no refused one is.
"""
import errno
import os
import shutil
import subprocess
import tempfile
import unittest

from sstools.harness import Daemon, DaemonTestCase, binary, wait_until

MARK = "INJECT_FAULT"


def write_failed(err):
    return "ERR log write failed: " + os.strerror(err)


class FaultCase(DaemonTestCase):
    AUTOSTART = False

    def start_faulty(self, fault, data_dir=None):
        self.assertTrue(os.path.exists(binary("statestored-faulty")),
                        "statestored-faulty not built (tests/progs/statestored-faulty.c)")
        return self.new_daemon(data_dir=data_dir, program="statestored-faulty",
                               env={"SS_FAULT": fault}).start()

    def start_plain(self, data_dir):
        return self.new_daemon(data_dir=data_dir, program="statestored").start()


class TestLogWriteFailure(FaultCase):
    def check_refused_batch(self, fault, err):
        d = self.start_faulty(fault)
        c = self.connect(d)
        for line in ["SET_CHECKPOINT a a1", "SET_CHECKPOINT b b1 100000", "SET_CHECKPOINT c c1"]:
            self.assertEqual(c.cmd(line), "OK")
        # One send: the three SETs are one batch (one write), the GETs wait
        # for it and then see what it left.
        c.send("SET_CHECKPOINT a a2\nSET_CHECKPOINT b %s-b2\nSET_CHECKPOINT new n2\n"
               "GET_CHECKPOINT a\nGET_CHECKPOINT b\nGET_CHECKPOINT new\nTTL_CHECKPOINT b\n" % MARK)
        replies = c.readlines(7)
        self.assertEqual(replies[:3], [write_failed(err)] * 3)
        self.assertEqual(replies[3:6], ["a1", "b1", "NULL"])
        self.assertTrue(1 <= int(replies[6]) <= 100000, replies)
        other = self.connect(d)
        self.assertEqual(other.cmd("GET_CHECKPOINT b"), "b1")
        self.assertEqual(int(other.stats()["entries"]), 3)
        # A kill right now replays the log as the refused write left it: a
        # record of that batch that reached the file before the failure and
        # was not cut back would come back as a value that got ERR.
        d.kill()
        d = self.start_faulty(fault, d.data_dir)
        c = self.connect(d)
        self.assertEqual([c.cmd("GET_CHECKPOINT " + n) for n in ["a", "b", "c", "new"]],
                         ["a1", "b1", "c1", "NULL"], "refused writes visible after restart")
        # The daemon goes on: later writes (without the marker) succeed.
        self.assertEqual(c.cmd("SET_CHECKPOINT a a3"), "OK")
        self.assertEqual(c.cmd("DEL_CHECKPOINT c"), "1")
        self.assertEqual(c.cmd("SET_CHECKPOINT b %s-again" % MARK), write_failed(err))
        self.assertEqual(c.cmd("SET_CHECKPOINT d d3"), "OK")
        # The stderr reader may lag behind the reply: wait for the line.
        self.assertIsNotNone(d.wait_log(r"(?i)%s" % os.strerror(err), 10),
                             "the refused write was not logged: " + d.log())
        expected = {"a": "a3", "b": "b1", "c": "NULL", "d": "d3", "new": "NULL"}
        for name, value in expected.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, name)
        # kill -9 and replay the log: the refused writes left nothing in it
        # (a partial record there would make the later ones unreadable).
        d.kill()
        d2 = self.start_plain(d.data_dir)
        c = self.connect(d2)
        for name, value in expected.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, "after restart: " + name)
        return d2

    def test_enospc_on_log_write_refuses_the_batch_only(self):
        self.check_refused_batch("pwrite:ENOSPC", errno.ENOSPC)

    def test_eio_on_log_write_refuses_the_batch_only(self):
        self.check_refused_batch("pwrite:EIO", errno.EIO)

    def test_short_write_then_enospc_is_cut_back(self):
        """Half the batch reaches the file before ENOSPC: the daemon must cut
        those bytes back before the next append goes after them."""
        self.check_refused_batch("short:ENOSPC", errno.ENOSPC)

    def test_refused_write_during_compaction_churn(self):
        d = self.start_faulty("pwrite:EIO")
        c = self.connect(d)
        for i in range(30):
            self.assertEqual(c.cmd("SET_CHECKPOINT k%d v%d" % (i % 6, i)), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT k0 %s" % MARK), write_failed(errno.EIO))
        self.assertEqual(c.cmd("COMPACT"), "OK")
        self.assertEqual(c.cmd("SET_CHECKPOINT k1 after"), "OK")
        d.kill()
        c = self.connect(self.start_plain(d.data_dir))
        self.assertEqual(c.cmd("GET_CHECKPOINT k0"), "v24")
        self.assertEqual(c.cmd("GET_CHECKPOINT k1"), "after")


class TestSyncFailure(FaultCase):
    def test_fdatasync_failure_acknowledges_nothing_and_exits_5(self):
        d = self.start_faulty("fdatasync:EIO")
        c = self.connect(d)
        acked = {}
        for i in range(10):
            self.assertEqual(c.cmd("SET_CHECKPOINT k%d v%d" % (i, i)), "OK")
            acked["k%d" % i] = "v%d" % i
        self.assertEqual(c.cmd("DEL_CHECKPOINT k9"), "1")
        acked["k9"] = "NULL"
        reader = self.connect(d)
        c.send("SET_CHECKPOINT k0 %s\nGET_CHECKPOINT k0\nSET_CHECKPOINT k1 later\n" % MARK)
        reader.send("GET_CHECKPOINT k0\n")
        lines = c.wait_eof()
        for line in lines:
            self.assertTrue(line.startswith("ERR"), "reply after a failed fdatasync: %r" % lines)
        seen = reader.wait_eof()
        self.assertIn(seen, ([], ["v0"]), "a reader saw a value whose sync failed")
        self.assertEqual(d.wait(60), 5, d.log())
        self.assertRegex(d.log(), r"(?i)(fdatasync|fsync|sync)")
        self.assertIn(os.strerror(errno.EIO), d.log())
        c = self.connect(self.start_plain(d.data_dir))
        for name, value in acked.items():
            got = c.cmd("GET_CHECKPOINT " + name)
            if name == "k0":  # written, never acknowledged: either is allowed
                self.assertIn(got, ("v0", MARK), name)
            else:
                self.assertEqual(got, value, name)


def mount_small_tmpfs(test, size="4m"):
    """Mounts a tmpfs of size on a temp dir, unmounted after the test's
    daemons are stopped. Returns its path, or None with the reason in
    test.no_tmpfs (mounting needs root)."""
    mnt = tempfile.mkdtemp(prefix="ss-it-tmpfs-")
    test.addCleanup(shutil.rmtree, mnt, True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        test.no_tmpfs = r.stderr.strip()
        return None
    # Cleanups run after tearDown has stopped the daemons.
    test.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
    return mnt


class TestFullDisk(DaemonTestCase):
    """A real ENOSPC: the data dir on a 4 MiB tmpfs with a 1 MiB filler
    file beside it, so the test can free space again."""

    AUTOSTART = False
    VALUE = 60 * 1024

    def setUp(self):
        super().setUp()
        self.mnt = mount_small_tmpfs(self)
        if self.mnt is None:
            self.skipTest("cannot mount a tmpfs for the full-disk test (needs root): %s"
                          % self.no_tmpfs)
        self.filler = os.path.join(self.mnt, "filler")
        with open(self.filler, "wb") as f:
            f.write(b"\xaa" * (1024 * 1024))
        self.dir = os.path.join(self.mnt, "data")

    def value(self, i):
        return ("%06d" % i) * (self.VALUE // 6)

    def test_full_disk_refuses_writes_keeps_reads_and_recovers(self):
        d = self.new_daemon(data_dir=self.dir).start()
        c = self.connect(d)
        acked = {}
        reply = None
        for i in range(200):
            reply = c.cmd("SET_CHECKPOINT f%d %s" % (i, self.value(i)))
            if reply != "OK":
                break
            acked["f%d" % i] = self.value(i)
        self.assertEqual(reply, write_failed(errno.ENOSPC))
        failed = "f%d" % len(acked)
        self.assertGreater(len(acked), 10)
        # Reads work on a full disk, and show nothing of the refused write.
        self.assertEqual(c.cmd("GET_CHECKPOINT " + failed), "NULL")
        for name, value in acked.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, name)
        self.assertEqual(int(c.stats()["entries"]), len(acked))
        # An overwrite is refused just the same and keeps the old value.
        self.assertEqual(c.cmd("SET_CHECKPOINT f0 %s" % self.value(999)), write_failed(errno.ENOSPC))
        self.assertEqual(c.cmd("GET_CHECKPOINT f0"), acked["f0"])
        # COMPACT needs room for a second copy: it may fail, but cleanly.
        reply = c.cmd("COMPACT")
        self.assertTrue(reply == "OK" or reply.startswith("ERR "), reply)
        self.assertEqual(c.cmd("PING"), "PONG")
        # Free space: writes work again.
        os.unlink(self.filler)
        for i in range(3):
            name = "after%d" % i
            self.assertEqual(c.cmd("SET_CHECKPOINT %s %s" % (name, self.value(500 + i))), "OK")
            acked[name] = self.value(500 + i)
        self.assertEqual(c.cmd("DEL_CHECKPOINT f1"), "1")
        acked["f1"] = "NULL"
        d.kill()
        c = self.connect(self.new_daemon(data_dir=self.dir).start())
        for name, value in acked.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, "after restart: " + name)
        self.assertEqual(c.cmd("GET_CHECKPOINT " + failed), "NULL")
        self.assertEqual(c.cmd("SET_CHECKPOINT more x"), "OK")

    def test_restart_on_a_full_disk_serves_reads(self):
        """A daemon killed on a full disk comes back (replay needs no new
        space) and serves what was acknowledged."""
        d = self.new_daemon(data_dir=self.dir).start()
        c = self.connect(d)
        acked = {}
        for i in range(200):
            reply = c.cmd("SET_CHECKPOINT f%d %s" % (i, self.value(i)))
            if reply != "OK":
                self.assertEqual(reply, write_failed(errno.ENOSPC))
                break
            acked["f%d" % i] = self.value(i)
        d.kill()
        d2 = self.new_daemon(data_dir=self.dir).start()
        c = self.connect(d2)
        for name, value in acked.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, name)
        self.assertTrue(c.cmd("SET_CHECKPOINT x y") in ("OK", write_failed(errno.ENOSPC)))


class TestQuota(DaemonTestCase):
    """--quota-bytes, the way out of a disk that the log itself filled:
    past the quota SETs are refused while reads, DELs and COMPACT go on, so
    there is always room to compact. On a 4 MiB tmpfs (3 MiB free beside a
    filler) with a 1 MiB quota; where no tmpfs can be mounted, on a plain
    temp dir, since the quota does not depend on the disk."""

    AUTOSTART = False
    QUOTA = 1024 * 1024
    VALUE = 30 * 1024
    REFUSED = ("ERR quota exceeded: the log has passed --quota-bytes; delete checkpoints "
               "and COMPACT to make room")

    def value(self, i):
        return ("%05d" % i) * (self.VALUE // 5)

    def test_past_the_quota_sets_are_refused_and_del_then_compact_recovers(self):
        mnt = mount_small_tmpfs(self)
        if mnt is not None:
            with open(os.path.join(mnt, "filler"), "wb") as f:
                f.write(b"\xaa" * (1024 * 1024))
        base = mnt or tempfile.mkdtemp(prefix="ss-it-quota-")
        if mnt is None:
            self.addCleanup(shutil.rmtree, base, True)
        d = self.new_daemon(os.path.join(base, "data"),
                            args=("--quota-bytes", str(self.QUOTA), "--auto-compact-min", "0"))
        d.start()
        self.assertIn("automatic compaction (--auto-compact-min 0) cannot run", d.log())
        c = self.connect(d)
        acked, reply = {}, None
        for i in range(200):
            reply = c.cmd("SET_CHECKPOINT q%d %s" % (i, self.value(i)))
            if reply != "OK":
                break
            acked["q%d" % i] = self.value(i)
        self.assertEqual(reply, self.REFUSED)
        n = len(acked)
        stats = c.stats()
        self.assertEqual((stats["quota_exceeded"], stats["quota_bytes"]), ("1", str(self.QUOTA)))
        # The SET that took the log past the quota was the last accepted.
        self.assertGreaterEqual(int(stats["log_bytes"]), self.QUOTA)
        self.assertLess(int(stats["log_bytes"]) - self.QUOTA, self.VALUE + 100)
        self.assertTrue(d.wait_log(r"\[warn\] quota alarm: the log is \d+ bytes, past "
                                   r"--quota-bytes %d" % self.QUOTA), d.log())
        # Overwrites are refused too; reads go on.
        self.assertEqual(c.cmd("SET_CHECKPOINT q0 %s" % self.value(999)), self.REFUSED)
        for name, value in acked.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, name)
        # The way out: delete what is not needed, compact.
        for i in range(0, n, 2):
            self.assertEqual(c.cmd("DEL_CHECKPOINT q%d" % i), "1")
            acked["q%d" % i] = "NULL"
        self.assertEqual(c.stats()["quota_exceeded"], "1")
        self.assertEqual(c.cmd("COMPACT"), "OK")
        stats = c.stats()
        self.assertEqual(stats["quota_exceeded"], "0")
        self.assertLess(int(stats["log_bytes"]), self.QUOTA)
        self.assertTrue(d.wait_log(r"\[notice\] quota alarm cleared"), d.log())
        self.assertEqual(c.cmd("SET_CHECKPOINT after %s" % self.value(7)), "OK")
        acked["after"] = self.value(7)
        d.kill()
        c = self.connect(self.new_daemon(d.data_dir, args=("--quota-bytes", str(self.QUOTA)))
                         .start())
        for name, value in acked.items():
            self.assertEqual(c.cmd("GET_CHECKPOINT " + name), value, "after restart: " + name)

    def test_a_log_already_past_the_quota_at_start_raises_the_alarm(self):
        d = self.new_daemon().start()
        c = self.connect(d)
        for i in range(40):
            self.assertEqual(c.cmd("SET_CHECKPOINT s%d %s" % (i, self.value(i))), "OK")
        self.assertEqual(d.stop(), 0)
        d.args = ["--quota-bytes", str(self.QUOTA)]
        d.start()
        self.assertIn("quota alarm: the log is", d.log())
        c = self.connect(d)
        self.assertEqual(c.cmd("SET_CHECKPOINT s0 x"), self.REFUSED)
        self.assertEqual(c.cmd("DEL_CHECKPOINT s0"), "1")
        self.assertEqual(c.stats()["quota_exceeded"], "1")


if __name__ == "__main__":
    unittest.main()
