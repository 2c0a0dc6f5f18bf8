"""statestore-bench against the real daemon: a short timed run, the
load / sequential-writer / check modes that scripts/bench.sh relies on to
prove that no acknowledged write is lost, and the CAS and multi-commit
workloads, checked against the store's revision counter (one revision per
acknowledged commit). Short runs only: the figures are bench.sh's."""
import os
import subprocess
import unittest

from sstools.harness import Daemon, binary

COLUMNS = ("mode requests seconds ops_per_sec p50_us p99_us p999_us max_us mean_us errors "
           "misses lost max_gap_us next_seq").split()


def bench_cmd(port, *args):
    return [binary("statestore-bench"), "-p", str(port), "--csv"] + list(args)


def parse_row(line, stderr=b""):
    values = line.split(",")
    if len(values) != len(COLUMNS):
        raise AssertionError("unexpected output: %r (stderr %r)" % (line, stderr))
    row = dict(zip(COLUMNS, values))
    for k in COLUMNS[1:]:
        row[k] = float(row[k])
    return row


def bench(port, *args):
    """Runs statestore-bench with --csv; returns its one line as a dict."""
    out = subprocess.run(bench_cmd(port, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=120, check=True)
    return parse_row(out.stdout.decode().strip(), out.stderr)


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

    def revision(self):
        with self.daemon.connect() as c:
            return int(c.stats()["revision"])

    def test_cas_run_succeeds_every_time_one_revision_each(self):
        # 4 connections x 2 in flight own pipelines 0..7; every CAS expects
        # the revision its predecessor's OK returned.
        r = bench(self.daemon.port, "--cas", "-c", "4", "-P", "2", "-n", "1000")
        self.assertEqual(r["requests"], 1000)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(self.revision(), 1000)
        with self.daemon.connect() as c:
            revs = [int(c.call("GETREV_CHECKPOINT", "pipeline%08d" % k).split()[0])
                    for k in range(8)]
            self.assertIsNone(c.call("GETREV_CHECKPOINT", "pipeline00000008"))
        self.assertEqual(max(revs), 1000)
        # A second run starts from the revisions the first one left.
        r = bench(self.daemon.port, "--cas", "-c", "4", "-P", "2", "-n", "100")
        self.assertEqual(r["errors"], 0)
        self.assertEqual(self.revision(), 1100)

    def test_cas_runs_sharing_pipelines_count_conflicts_as_errors(self):
        # Two runs on the same 2 pipelines fence each other: every CONFLICT
        # is an error, and only the OKs took a revision.
        cmd = bench_cmd(self.daemon.port, "--cas", "-c", "2", "-n", "3000")
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
        rows = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            rows.append(parse_row(out.decode().strip(), err))
        oks = sum(r["requests"] - r["errors"] for r in rows)
        self.assertGreater(sum(r["errors"] for r in rows), 0)
        self.assertEqual(self.revision(), oks)

    def test_own_keys_set_run_writes_only_its_pipelines(self):
        r = bench(self.daemon.port, "--own-keys", "-c", "3", "-P", "2", "-n", "600")
        self.assertEqual(r["errors"], 0)
        self.assertEqual(self.revision(), 600)
        with self.daemon.connect() as c:
            for k in range(6):
                self.assertIsNotNone(c.call("GET_CHECKPOINT", "pipeline%08d" % k))
            self.assertIsNone(c.call("GET_CHECKPOINT", "pipeline00000006"))

    def test_multi_commit_run_takes_one_revision_per_commit(self):
        r = bench(self.daemon.port, "--mset", "100", "-c", "2", "-k", "1000", "-n", "30")
        self.assertEqual(r["requests"], 30)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(self.revision(), 30)
        with self.daemon.connect() as c:
            # Each commit wrote 100 consecutive pipelines with one value and
            # one revision: the pipelines that still hold a revision all hold
            # the value of that commit.
            by_rev = {}
            for k in range(1000):
                got = c.call("GETREV_CHECKPOINT", "pipeline%08d" % k)
                if got is not None:
                    rev, value = got.split(" ", 1)
                    by_rev.setdefault(int(rev), set()).add(value)
        self.assertTrue(by_rev)
        for rev, values in by_rev.items():
            self.assertTrue(1 <= rev <= 30)
            self.assertEqual(len(values), 1)

    def test_bad_write_workloads_are_refused(self):
        for args in (["--cas", "--redis"], ["--mset", "10", "-k", "5"],
                     ["--mset", "2", "--ttl", "5"]):
            out = subprocess.run(bench_cmd(self.daemon.port, *args), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(out.returncode, 2, args)


if __name__ == "__main__":
    unittest.main()
