"""Compaction driven by the daemon: automatic compaction when the log
outgrows its thresholds, COMPACTs that overlap a running one, the stall
figures STATS reports, and syncing off the loop while the disk is slow."""
import os
import threading
import unittest

from sstools import harness


def fill(test, c, prefix, n):
    """Pipelines n SETs (<prefix><i> = i) and checks every one is acknowledged."""
    for i in range(n):
        c.send("SET_CHECKPOINT %s%d %d\n" % (prefix, i, i))
    for _ in range(n):
        test.assertEqual(c.readline(), "OK")


class AutoCompactionTest(harness.DaemonTestCase):
    DAEMON_ARGS = ("--auto-compact-min", "8192", "--auto-compact-growth", "150")

    def test_log_growth_triggers_a_compaction_that_keeps_every_value(self):
        c = self.connect()
        # Overwrite a few keys until the log passes both thresholds.
        for i in range(400):
            self.assertEqual(c.cmd("SET_CHECKPOINT key%d %d" % (i % 4, i)), "OK")
        stats = harness.wait_until(
            lambda: (lambda s: s if int(s["auto_compactions"]) >= 1 and
                     s["compacting"] == "0" and int(s["compactions"]) >= 1 else None)(c.stats()),
            timeout=30)
        self.assertTrue(stats, "no automatic compaction happened")
        # The log was rewritten: four live keys take far less than 400 writes.
        self.assertLess(int(stats["log_bytes_compacted"]), 8192)
        self.d.kill()
        self.d.restart()
        c = self.connect()
        for k in range(4):
            self.assertEqual(c.cmd("GET_CHECKPOINT key%d" % k), str(396 + k))

    def test_below_the_minimum_nothing_is_compacted(self):
        c = self.connect()
        for i in range(20):
            self.assertEqual(c.cmd("SET_CHECKPOINT k %d" % i), "OK")
        self.assertEqual(c.stats()["auto_compactions"], "0")


class OverlappingCompactTest(harness.DaemonTestCase):
    def test_concurrent_compacts_all_answer_ok_and_lose_nothing(self):
        c = self.connect()
        fill(self, c, "p", 2000)
        results = []

        def compactor():
            cc = self.d.connect()
            for _ in range(5):
                results.append(cc.cmd("COMPACT"))
            cc.close()

        threads = [threading.Thread(target=compactor) for _ in range(3)]
        for t in threads:
            t.start()
        # Writes go on while the compactions run.
        for i in range(300):
            self.assertEqual(c.cmd("SET_CHECKPOINT p%d %d" % (i, i + 100000)), "OK")
        for t in threads:
            t.join(60)
        self.assertEqual(results, ["OK"] * 15)
        self.d.kill()
        self.d.restart()
        c = self.connect()
        for i in range(0, 2000, 97):
            want = i + 100000 if i < 300 else i
            self.assertEqual(c.cmd("GET_CHECKPOINT p%d" % i), str(want))
        self.assertEqual(c.stats()["entries"], "2000")


class CompactionStatsTest(harness.DaemonTestCase):
    def test_a_compaction_that_cannot_start_counts_as_failed(self):
        """A directory where the temp file goes: the stale-file removal
        fails before the fork. Such a COMPACT is a failure like any other."""
        c = self.connect()
        fill(self, c, "f", 10)
        tmp = os.path.join(self.d.data_dir, "statestored.log.tmp")
        os.mkdir(tmp)
        reply = c.cmd("COMPACT")
        self.assertTrue(reply.startswith("ERR compaction failed: cannot remove the stale "
                                         "compaction file"), reply)
        self.assertIn("Is a directory", reply)
        stats = c.stats()
        self.assertEqual((stats["compaction_failures"], stats["compactions"]), ("1", "0"))
        os.rmdir(tmp)
        self.assertEqual(c.cmd("COMPACT"), "OK")
        stats = c.stats()
        self.assertEqual((stats["compaction_failures"], stats["compactions"]), ("1", "1"))

    def test_a_compaction_reports_its_loop_stall(self):
        c = self.connect()
        fill(self, c, "s", 500)
        self.assertEqual(c.stats()["last_compaction_loop_max_us"], "0")
        self.assertEqual(c.cmd("COMPACT"), "OK")
        s = c.stats()
        # Both are timed while the compaction runs: nonzero after one.
        self.assertGreater(int(s["last_compaction_loop_max_us"]), 0)
        self.assertGreater(int(s["last_compaction_stall_us"]), 0)


class SlowDiskTest(harness.DaemonTestCase):
    """A disk whose fdatasync takes 3 ms: after the first slow sync (on the
    loop), the daemon syncs on its helper thread, so one slow sync does not
    stall every reader. Everything stays durable."""
    PROGRAM = "statestored-faulty"
    DAEMON_ENV = {"SS_FAULT_SYNC_DELAY_US": "3000"}

    def test_slow_syncs_move_off_the_loop_and_stay_durable(self):
        c = self.connect()
        for i in range(20):
            self.assertEqual(c.cmd("SET_CHECKPOINT slow%d %d" % (i, i)), "OK")
        s = c.stats()
        self.assertEqual(s["fsyncs"], "20")
        # The first sync ran inline and found the disk slow; every later
        # one found it slow again, so all of them ran on the thread.
        self.assertEqual(s["fsyncs_background"], "19")
        self.d.kill()
        self.d.restart()
        c = self.connect()
        for i in range(20):
            self.assertEqual(c.cmd("GET_CHECKPOINT slow%d" % i), str(i))


if __name__ == "__main__":
    unittest.main()
