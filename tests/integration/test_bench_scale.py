"""scripts/bench.sh's scale mode (BENCH_SCALE=1), its quick run: the growth
table at 20k and 50k entries, the disk-bound line, the latency pair against
Redis, and the two plots. It runs the script once, on the suite's build
(BENCH_BUILD_DIR: nothing is built), and checks what it wrote: the table
has a row of numbers per size, the listing saw every entry, COMPACT lost
nothing, scale.csv parses, and both PNGs are real images. The figures
themselves are the benchmark's business, never a test's."""
import csv
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

QUICK_SIZES = (20000, 50000)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 3000  # a 900x1200 plot that drew nothing is 1.4 KB; ours are 6-17 KB
TIMEOUT = 120


def free_port_pair():
    """A port p with p + 1 free too (bench.sh puts Redis on the next one),
    below the kernel's ephemeral range: the benchmark's own client
    connections take ports from that range, and one of them could take
    a free port found there before the server binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        port = random.randrange(max(1024, low - 10000), low - 2)
        socks = []
        try:
            for p in (port, port + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no two consecutive free ports below %d" % low)


def number(cell):
    """A table cell's leading number: "0.029 (1698034)" -> 0.029, "20k" ->
    20000."""
    m = re.match(r"^\s*([0-9.]+)([kMG]?)", cell)
    if not m:
        raise ValueError("not a number: %r" % cell)
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]


def skip_reason():
    if not os.path.exists(binary("statestored")):
        return "the daemon is not built"
    if sanitized():
        return "a sanitized build: its figures and its speed mean nothing here"
    for prog, pkg in (("gnuplot", "gnuplot-nox"), ("redis-server", "redis-server")):
        if not shutil.which(prog):
            return "%s is missing (package %s; scripts/deps.sh installs it)" % (prog, pkg)
    return None


class BenchScaleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = skip_reason()
        if why:
            raise unittest.SkipTest(why)
        cls.tmp = tempfile.mkdtemp(prefix="ss-bench-scale-")
        cls.out = os.path.join(cls.tmp, "scale.md")
        env = dict(os.environ, BENCH_QUICK="1", BENCH_SCALE="1", BENCH_OUT=cls.out,
                   BENCH_BUILD_DIR=BUILD_DIR, BENCH_PORT=str(free_port_pair()))
        for k in ("BENCH_SECONDS", "BENCH_WARMUP", "BENCH_SCALE_SIZES", "BENCH_KEEP",
                  "BENCH_NICE"):
            env.pop(k, None)
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

    def test_growth_table_has_a_row_of_numbers_per_size(self):
        rows = markdown_table(self.report, "entries | RSS/entry h0")
        self.assertEqual([int(number(r[0])) for r in rows], list(QUICK_SIZES))
        for r in rows:
            self.assertEqual(len(r), 10, r)
            for cell in r:
                number(cell)  # raises if a cell is not a number ("nan" is not)
        # RSS per entry, restart, COMPACT, SET and GET: all measured, > 0.
        for r in rows:
            for i in (1, 2, 3, 4, 7, 8, 9):
                self.assertGreater(number(r[i]), 0, (i, r))
        # The stdout is the same report.
        self.assertEqual(self.proc.stdout.decode(), self.report)

    def test_listing_saw_every_entry_and_compact_lost_nothing(self):
        rows = markdown_table(self.report, "entries | records replayed")
        self.assertEqual(len(rows), len(QUICK_SIZES))
        for n, r in zip(QUICK_SIZES, rows):
            self.assertEqual(r[4], "0 / 0", r)  # lost live / after restart
            seen, calls = (int(x) for x in r[7].split(","))
            self.assertEqual(seen, n)
            self.assertGreater(calls, 1)
            # The walk took slices.
            walk = re.match(r"[\d.]+ \((\d+), [\d.]+\)", r[2])
            self.assertIsNotNone(walk, r)
            self.assertGreaterEqual(int(walk.group(1)), 1)
            writes_refused = re.match(r"\d+ \((\d+), (\d+)\)", r[3])
            self.assertIsNotNone(writes_refused, r)
            self.assertGreater(int(writes_refused.group(1)), 0)  # the writer wrote
            self.assertEqual(writes_refused.group(2), "0")
            self.assertGreaterEqual(int(r[1].split()[0]), n)  # replayed every entry

    def test_scale_csv_parses(self):
        with open(os.path.join(self.tmp, "scale.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([int(r["entries"]) for r in rows], list(QUICK_SIZES))
        for n, r in zip(QUICK_SIZES, rows):
            values = {k: float(v) for k, v in r.items()}
            self.assertEqual(values["list_seen"], n)
            # The daemon's own count of slow iterations during the walk:
            # present, and nested (over 2 ms is over 1 ms too).
            self.assertGreaterEqual(values["list_slow_1ms"], values["list_slow_2ms"])
            self.assertGreaterEqual(values["list_slow_2ms"], 0)
            self.assertEqual(values["lost_live"] + values["lost_restart"], 0)
            self.assertEqual(values["compact_writer_errors"], 0)
            self.assertGreater(values["rss_h0_bytes_per_entry"], 0)
            self.assertGreater(values["restart_records"], 0)

    def test_disk_latency_and_skipped_lines(self):
        m = re.search(r"\*\*peak/live ([0-9.]+)\*\*", self.report)
        self.assertIsNotNone(m, self.report)
        self.assertGreaterEqual(float(m.group(1)), 1.0)
        self.assertIn("Disk bound at 50k entries", self.report)
        rows = markdown_table(self.report, "system | ops/s")
        self.assertEqual([r[0] for r in rows], ["statestored", "Redis"])
        for r in rows:
            self.assertEqual(len(r), 6)
            for cell in r[1:]:
                self.assertGreater(number(cell), 0)
        self.assertIn("Skipped: none.", self.report)

    def test_both_plots_are_png_images(self):
        for name in ("scale-growth.png", "latency.png"):
            path = os.path.join(self.tmp, name)
            with open(path, "rb") as f:
                data = f.read()
            self.assertTrue(data.startswith(PNG_SIGNATURE), name)
            self.assertGreater(len(data), MIN_PNG_BYTES, name)


if __name__ == "__main__":
    unittest.main()
