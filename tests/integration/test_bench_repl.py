"""scripts/bench.sh's replication mode (BENCH_REPL=1), its quick run: one
round of each system (statestored alone, statestored primary + sync replica,
Redis primary + replica with SET + WAIT 1 0, and the statestored pair
with SET + WAIT 1 0 too), each load once, and the lag
prober. It runs the script once, on the suite's build (BENCH_BUILD_DIR:
nothing is built), and checks what it wrote: every row has its numbers, no
request failed, the lag was measured, and after every statestored pair run
the replica held durably what the primary had acknowledged. The figures
themselves are the benchmark's business, never a test's."""
import os
import random
import re
import shutil
import socket
import tempfile
import unittest

from sstools.bench import markdown_table, run_bench_script
from sstools.harness import BUILD_DIR, SOURCE_DIR, binary
from sstools.load_util import sanitized

TIMEOUT = 120
PORTS = 4  # statestored, Redis, and their replicas (bench_repl.sh)


def free_ports(n):
    """A port p with p + 1 .. p + n - 1 free too, below the kernel's
    ephemeral range (the benchmark's client connections take ports from
    that range, and one could take a port found there before a server
    binds it)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        port = random.randrange(max(1024, low - 10000), low - n)
        socks = []
        try:
            for p in range(port, port + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d consecutive free ports below %d" % (n, low))


def skip_reason():
    if not os.path.exists(binary("statestored")):
        return "the daemon is not built"
    if sanitized():
        return "a sanitized build: its figures and its speed mean nothing here"
    for prog, pkg in (("redis-server", "redis-server"), ("redis-benchmark", "redis-tools")):
        if not shutil.which(prog):
            return "%s is missing (package %s; scripts/deps.sh installs it)" % (prog, pkg)
    return None


class BenchReplTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = skip_reason()
        if why:
            raise unittest.SkipTest(why)
        cls.tmp = tempfile.mkdtemp(prefix="ss-bench-repl-")
        cls.out = os.path.join(cls.tmp, "repl.md")
        env = dict(os.environ, BENCH_QUICK="1", BENCH_REPL="1", BENCH_OUT=cls.out,
                   BENCH_BUILD_DIR=BUILD_DIR, BENCH_PORT=str(free_ports(PORTS)))
        for k in ("BENCH_SECONDS", "BENCH_WARMUP", "BENCH_ROUNDS", "BENCH_RESP_SECONDS",
                  "BENCH_REPL_SYSTEMS", "BENCH_KEEP", "BENCH_NICE", "BENCH_TLS",
                  "BENCH_SCALE"):
            env.pop(k, None)
        # The script's smoke test: half-second runs are enough to see every
        # row filled and every check made (the figures are the full run's).
        env.update(BENCH_SECONDS="0.5", BENCH_WARMUP="0.2")
        script = os.path.join(SOURCE_DIR, "scripts", "bench.sh")
        try:
            cls.proc = run_bench_script(script, env, TIMEOUT)
        except AssertionError:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.proc.returncode, 0,
                         "bench.sh failed:\n" + self.proc.stderr.decode(errors="replace"))
        with open(self.out) as f:
            self.report = f.read()

    def test_every_system_and_load_has_a_row_without_errors(self):
        rows = markdown_table(self.report, "Load | System")
        seen = {(r[0], r[1]) for r in rows}
        for load in ("statestore-bench --redis", "redis-benchmark -t set"):
            for system in ("statestored, one node", "statestored primary + 1 sync replica",
                           "Redis primary + 1 replica"):
                self.assertIn((load, system), seen)
        self.assertIn(("statestore-bench --redis, with the lag prober",
                       "statestored primary + 1 sync replica"), seen)
        for r in rows:
            self.assertEqual(len(r), 9, r)
            self.assertGreater(float(r[3]), 0, r)  # ops/s
            for cell in r[4:7]:  # p50, p99, max
                self.assertGreater(float(cell), 0, r)
            self.assertEqual(r[7], "0", r)  # errors: a WAIT that counted no replica is one
        sb = [r for r in rows if r[0] == "statestore-bench --redis"]
        self.assertIn("then WAIT 1 0", next(r[2] for r in sb if r[1].startswith("Redis")))
        # The sync pair twice: SET alone, and SET + WAIT 1 0 as Redis's clients.
        self.assertEqual(sorted(r[2] for r in sb if r[1].startswith("statestored primary")),
                         ["RESP SET", "RESP SET, then WAIT 1 0, as Redis's clients"])
        # The stdout is the same report.
        self.assertEqual(self.proc.stdout.decode(), self.report)

    def test_target_rows_have_ratios(self):
        rows = markdown_table(self.report, "Target | Goal")
        self.assertEqual(len(rows), 7, rows)
        for r in rows[:5]:
            self.assertRegex(r[2], r"^[0-9.]+x \([0-9]+ vs [0-9]+ ops/s; p99 ", r)
        self.assertIn(rows[0][3], ("**pass**", "**FAIL**"))  # a verdict, either way

    def test_replica_lag_was_measured(self):
        rows = {r[0]: r for r in markdown_table(self.report, "figure | how")}
        for what in ("acknowledged to visible, ms", "revisions behind"):
            self.assertIn(what, rows)
            self.assertGreater(int(rows[what][2]), 0, rows[what])  # samples
            for cell in rows[what][3:]:
                self.assertGreaterEqual(float(cell), 0)
        lags = []
        with open(self.out[:-3] + "-lag.txt") as f:
            for line in f:
                rnd, kind, value = line.split()
                lags.append(kind)
        self.assertIn("probe_ms", lags)

    def test_sync_replica_held_every_acknowledged_write(self):
        m = re.search(r"the replica's durable_revision was (at least|NOT always at least) the "
                      r"primary's revision \((\d+) runs", self.report)
        self.assertIsNotNone(m, self.report)
        self.assertEqual(m.group(1), "at least")
        # The pair's runs: repl-set50 with and without WAIT, redis-benchmark, lag.
        self.assertEqual(int(m.group(2)), 4)


if __name__ == "__main__":
    unittest.main()
