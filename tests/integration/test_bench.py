"""statestore-bench against the real daemon: a short timed run, and the
load / sequential-writer / check modes that scripts/bench.sh relies on to
prove that no acknowledged write is lost."""
import os
import subprocess
import unittest

from sstools.harness import Daemon, binary

COLUMNS = ("mode requests seconds ops_per_sec p50_us p99_us p999_us max_us mean_us errors "
           "misses lost max_gap_us next_seq").split()


def bench(port, *args):
    """Runs statestore-bench with --csv; returns its one line as a dict."""
    out = subprocess.run([binary("statestore-bench"), "-p", str(port), "--csv"] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=True)
    line = out.stdout.decode().strip()
    values = line.split(",")
    if len(values) != len(COLUMNS):
        raise AssertionError("unexpected output: %r (stderr %r)" % (line, out.stderr))
    row = dict(zip(COLUMNS, values))
    for k in COLUMNS[1:]:
        row[k] = float(row[k])
    return row


@unittest.skipUnless(os.path.exists(binary("statestored")), "the daemon is not built")
class BenchTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon().start()

    def tearDown(self):
        self.daemon.cleanup()

    def test_timed_set_run_has_throughput_and_no_errors(self):
        r = bench(self.daemon.port, "-d", "1", "-c", "8", "-k", "1000")
        self.assertEqual(r["mode"], "run")
        self.assertGreater(r["requests"], 0)
        self.assertGreater(r["ops_per_sec"], 0)
        self.assertEqual(r["errors"], 0)
        self.assertGreater(r["p50_us"], 0)
        self.assertLessEqual(r["p50_us"], r["p99_us"])
        self.assertLessEqual(r["p99_us"], r["max_us"])

    def test_get_run_after_prefill_finds_every_key(self):
        r = bench(self.daemon.port, "-d", "1", "-c", "4", "-k", "500", "--set-ratio", "0",
                  "--prefill")
        self.assertGreater(r["ops_per_sec"], 0)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["misses"], 0)

    def test_mixed_pipelined_run_with_ttl(self):
        r = bench(self.daemon.port, "-n", "2000", "-c", "4", "-P", "8", "--set-ratio", "0.5",
                  "--ttl", "60", "-v", "100")
        self.assertEqual(r["requests"], 2000)
        self.assertEqual(r["errors"], 0)

    def test_acknowledged_sequential_writes_survive_kill_and_restart(self):
        keys = "2000"
        load = bench(self.daemon.port, "--load-keys", keys, "-c", "4", "-P", "16")
        self.assertEqual(load["requests"], 2000)
        self.assertEqual(load["errors"], 0)
        writer = bench(self.daemon.port, "--sequential", "--seq-base", keys, "-k", keys,
                       "-c", "4", "-P", "4", "-d", "0.5")
        self.assertEqual(writer["errors"], 0)
        seq = str(int(writer["next_seq"]))
        self.assertEqual(bench(self.daemon.port, "--check-seq", seq, "-k", keys)["lost"], 0)
        self.daemon.restart()
        check = bench(self.daemon.port, "--check-seq", seq, "-k", keys, "-P", "16")
        self.assertEqual(check["requests"], 2000)
        self.assertEqual(check["lost"], 0)
        self.assertEqual(check["errors"], 0)
        # The check itself notices a difference: one write further on, the
        # state it expects is not the one the server holds.
        off = bench(self.daemon.port, "--check-seq", str(int(seq) + 1), "-k", keys)
        self.assertEqual(off["lost"], 1)


if __name__ == "__main__":
    unittest.main()
