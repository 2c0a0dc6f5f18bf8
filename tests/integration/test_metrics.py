"""--metrics: /metrics, /healthz and /readyz over HTTP, checked with the real
tools nobody here wrote, against the real daemon:

  TestExposition   promtool check metrics passes on a scrape taken after
                   commits, conflicts and errors; python3-prometheus-client's
                   parser reads every family, and the values match STATS
  TestHttpEdges    404, 405 (Allow), 431, 400, HEAD, keep-alive, pipelined
                   requests, a half request that blocks nobody, the
                   connection limit
  TestReadiness    /readyz: 200, 503 past --quota-bytes and 200 again after
                   DEL and COMPACT; a failed fdatasync (statestored-faulty)
                   ends readiness for good, the daemon exits 5
  TestPrometheus   a real prometheus server scrapes the daemon every second;
                   its HTTP API returns the commits and fsyncs we caused
  TestAlertRules   promtool check rules on scripts/statestored-alerts.yml,
                   and promtool test rules on its unit tests
                   (tests/fixtures/statestored-alerts-test.yml)

The tools come from scripts/deps.sh (SS_TEST_PACKAGES: prometheus, which
carries promtool, and python3-prometheus-client). A missing one fails its
test, saying what to install.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest
import urllib.parse
import urllib.request

from sstools import debian, harness
from sstools.harness import DaemonTestCase, wait_until

METRICS_RE = re.compile(r"metrics over HTTP at \S+, port (\d+)")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RULES = os.path.join(harness.SOURCE_DIR, "scripts", "statestored-alerts.yml")
RULES_TEST = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "statestored-alerts-test.yml")
HEAD_MAX = 8192
CONNS_MAX = 64


def import_parser():
    """prometheus_client's parser (Debian's python3-prometheus-client), or None."""
    m = debian.import_module("prometheus_client.parser")
    return m.text_string_to_metric_families if m else None


def metrics_port(d):
    m = METRICS_RE.search(d.log())
    if m is None:
        raise AssertionError("no metrics port in the log: " + d.log())
    return int(m.group(1))


def get(port, path, method="GET"):
    """(status, headers dict, body str) of one request on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def read_response(sock, buf=b""):
    """Reads one response from sock: (status, headers, body, the bytes after
    it). Raises EOFError if the connection closes first."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(headers["content-length"])
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(rest)
        rest += chunk
    return status, headers, rest[:n].decode(), rest[n:]


def closed_by_peer(sock):
    """True once the peer closed: recv returns b"" (or the reset)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def families(text):
    parse = import_parser()
    if parse is None:
        raise AssertionError("prometheus_client not found: install python3-prometheus-client "
                             "(scripts/deps.sh)")
    return {f.name: f for f in parse(text)}


def sample(fams, family, name=None, **labels):
    for s in fams[family].samples:
        if (name is None or s.name == name) and all(s.labels.get(k) == v
                                                    for k, v in labels.items()):
            return s.value
    return None


class MetricsCase(DaemonTestCase):
    DAEMON_ARGS = ("--metrics", "127.0.0.1:0")

    def setUp(self):
        super().setUp()
        if self.d is not None:
            self.mport = metrics_port(self.d)

    def raw(self):
        """A plain socket to the metrics port, closed after the test."""
        s = socket.create_connection(("127.0.0.1", self.mport), timeout=10)
        self.addCleanup(s.close)
        return s

    def scrape(self, port=None):
        status, headers, body = get(port or self.mport, "/metrics")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
        return body


class TestExposition(MetricsCase):
    def work(self):
        c = self.connect()
        for i in range(5):
            self.assertEqual(c.cmd("SET_CHECKPOINT k%d v%d" % (i, i)), "OK")
        self.assertEqual(c.cmd("CAS_CHECKPOINT k0 999 x"), "CONFLICT 1")
        self.assertTrue(c.cmd("NO_SUCH_COMMAND").startswith("ERR "))
        self.assertEqual(c.cmd("GET_CHECKPOINT k1"), "v1")
        r = self.connect()
        r.send("*3\r\n$3\r\nSET\r\n$1\r\nr\r\n$1\r\n1\r\n")
        self.assertEqual(r.readline(), "+OK\r")
        return c

    def test_config_get_shows_the_metrics_port_bound(self):
        # Asked for port 0: CONFIG_GET shows the port the scrapers must use.
        c = self.connect()
        c.send("CONFIG_GET metrics\n")
        self.assertEqual(c.readlines(2), ["STAT metrics 127.0.0.1:%d" % self.mport, "END"])

    def test_admin_commands_count_when_answered_and_text_commands_over_resp(self):
        tmp = tempfile.mkdtemp(prefix="ss-metrics-")
        self.addCleanup(shutil.rmtree, tmp, True)
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT k v"), "OK")
        self.assertEqual(c.cmd("COMPACT"), "OK")
        self.assertEqual(c.cmd("BACKUP %s/bk" % tmp), "OK 1")
        self.assertTrue(c.cmd("BACKUP %s/bk" % tmp).startswith("ERR backup failed"))
        r = self.connect()
        # A text command over RESP: counted under RESP, by its own name.
        r.send("*3\r\n$14\r\nSET_CHECKPOINT\r\n$1\r\nr\r\n$1\r\n1\r\n")
        self.assertEqual(r.readline(), "+OK\r")
        text = self.scrape()
        for series in ('protocol="text",command="COMPACT",result="ok"} 1',
                       'protocol="text",command="BACKUP",result="ok"} 1',
                       'protocol="text",command="BACKUP",result="error"} 1',
                       'protocol="resp",command="SET_CHECKPOINT",result="ok"} 1'):
            self.assertIn("statestored_commands_total{" + series + "\n", text)
        self.assertNotIn('command="unknown"', text)

    def test_promtool_accepts_a_scrape_with_data(self):
        self.work()
        text = self.scrape()
        self.assertIn("statestored_fsync_duration_seconds_count", text)
        promtool = debian.need("promtool", "prometheus")
        r = subprocess.run([promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), text)

    def test_the_parser_reads_every_family_and_the_values_match_stats(self):
        c = self.work()
        stats = c.stats()
        text = self.scrape()
        fams = families(text)
        # Every family once, with one HELP and one TYPE.
        helps = re.findall(r"^# HELP (\S+)", text, re.M)
        types = re.findall(r"^# TYPE (\S+)", text, re.M)
        self.assertEqual(len(helps), len(set(helps)))
        self.assertEqual(sorted(helps), sorted(types))
        self.assertEqual(len(fams), len(types))
        for name in ["commands", "commits", "batches", "fsyncs", "fsync_duration_seconds",
                     "commit_latency_seconds", "batch_size_records", "clients",
                     "refused_connections", "log_bytes", "entries", "revision", "compactions",
                     "compaction_failures", "last_compaction_duration_seconds",
                     "last_compaction_loop_max_seconds", "replay_duration_seconds",
                     "resident_memory_bytes", "build_info", "ready"]:
            self.assertIn("statestored_" + name, fams)
        for name, f in fams.items():
            if f.type == "counter":
                self.assertTrue(all(s.name.endswith("_total") for s in f.samples), name)
        # Figures no request changes between STATS and the scrape.
        same = {"commits": "commits", "batches": "batches", "fsyncs": "fsyncs",
                "entries": "entries", "revision": "revision", "log_bytes": "log_bytes",
                "write_errors": "write_errors", "compactions": "compactions",
                "connections": "connections"}
        for row, fam in same.items():
            self.assertEqual(sample(fams, "statestored_" + fam), float(stats[row]), row)
        self.assertEqual(sample(fams, "statestored_fsync_max_seconds"),
                         int(stats["fsync_us_max"]) / 1e6)
        self.assertEqual(sample(fams, "statestored_replay_duration_seconds"),
                         int(stats["replay_us"]) / 1e6)
        self.assertEqual(sample(fams, "statestored_build_info", version=stats["version"]), 1)
        self.assertEqual(sample(fams, "statestored_ready"), 1)
        self.assertGreater(sample(fams, "statestored_resident_memory_bytes"), 1 << 20)
        # The histograms: cumulative, +Inf equal to _count, which STATS shows.
        for fam, row, scale in [("fsync_duration_seconds", "fsync_us", 1e-6),
                                ("batch_size_records", "batch_records", 1)]:
            f = fams["statestored_" + fam]
            self.assertEqual(f.type, "histogram")
            buckets = [(s.labels["le"], s.value) for s in f.samples if s.name.endswith("_bucket")]
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), fam)
            self.assertEqual(buckets[-1][0], "+Inf")
            count = sample(fams, "statestored_" + fam, "statestored_%s_count" % fam)
            self.assertEqual(buckets[-1][1], count)
            self.assertEqual(count, float(stats[row + "_count"]))
            self.assertAlmostEqual(sample(fams, "statestored_" + fam, "statestored_%s_sum" % fam),
                                   int(stats[row + "_sum"]) * scale)
        self.assertEqual(sample(fams, "statestored_batch_size_records",
                                "statestored_batch_size_records_sum"), float(stats["commits"]))
        # Seven mutations were answered after a commit: five SETs, RESP's SET
        # and the CAS, whose CONFLICT waits for the batch it was decided in
        # (cmd.c) like any write.
        latency = sample(fams, "statestored_commit_latency_seconds",
                         "statestored_commit_latency_seconds_count")
        self.assertEqual(latency, 7)
        # Commands by protocol, name and result.
        cmd = lambda proto, name, result: sample(fams, "statestored_commands",
                                                 protocol=proto, command=name, result=result)
        self.assertEqual(cmd("text", "SET_CHECKPOINT", "ok"), 5)
        self.assertEqual(cmd("text", "CAS_CHECKPOINT", "conflict"), 1)
        self.assertEqual(cmd("text", "unknown", "error"), 1)
        self.assertEqual(cmd("text", "GET_CHECKPOINT", "ok"), 1)
        self.assertEqual(cmd("resp", "SET", "ok"), 1)


class TestHttpEdges(MetricsCase):
    def test_unknown_path_404_other_methods_405_head_has_no_body(self):
        status, _, body = get(self.mport, "/nope")
        self.assertEqual(status, 404, body)
        for method in ("POST", "PUT", "DELETE"):
            status, headers, _ = get(self.mport, "/metrics", method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers["Allow"], "GET, HEAD")
        status, headers, body = get(self.mport, "/healthz", "HEAD")
        self.assertEqual((status, body, headers["Content-Length"]), (200, "", "3"))
        self.assertEqual(get(self.mport, "/healthz")[::2], (200, "ok\n"))

    def test_a_head_past_8_KiB_gets_431_and_bad_bytes_400(self):
        s = self.raw()
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * HEAD_MAX + b"\r\n\r\n")
        status, headers, _, _ = read_response(s)
        self.assertEqual((status, headers["connection"]), (431, "close"))
        self.assertTrue(wait_until(lambda: closed_by_peer(s), 10))
        for bad in [b"NOT HTTP AT ALL\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                    b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]:
            s = self.raw()
            s.sendall(bad)
            status, headers, _, _ = read_response(s)
            self.assertEqual((status, headers["connection"]), (400, "close"), bad)
        # A head just under the bound is served.
        s = self.raw()
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * (HEAD_MAX - 200) + b"\r\n\r\n")
        self.assertEqual(read_response(s)[0], 200)

    def test_keep_alive_and_pipelined_requests_are_answered_in_order(self):
        s = self.raw()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body, rest = read_response(s)
        self.assertEqual((status, body, rest), (200, "ok\n", b""))
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body, rest = read_response(s)
        self.assertEqual((status, body), (200, "ready\n"))
        # Three at once, one of them unknown: three answers, in order.
        s.sendall(b"GET /healthz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
                  b"GET /metrics HTTP/1.1\r\n\r\n")
        got = []
        for _ in range(3):
            status, headers, body, rest = read_response(s, rest)
            got.append((status, headers["content-type"]))
        self.assertEqual(got, [(200, "text/plain; charset=utf-8"),
                               (404, "text/plain; charset=utf-8"), (200, CONTENT_TYPE)])
        # HTTP/1.0 without keep-alive: answered, then closed.
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        status, headers, _, _ = read_response(s, rest)
        self.assertEqual((status, headers.get("connection")), (200, "close"))
        self.assertTrue(wait_until(lambda: closed_by_peer(s), 10))

    def test_a_half_request_blocks_no_one(self):
        slow = self.raw()
        slow.sendall(b"GET /metr")
        # Meanwhile other HTTP clients and the store's own clients are served.
        self.assertEqual(get(self.mport, "/healthz")[0], 200)
        c = self.connect()
        self.assertEqual(c.cmd("SET_CHECKPOINT a 1"), "OK")
        self.assertEqual(get(self.mport, "/readyz")[0], 200)
        slow.sendall(b"ics HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body, _ = read_response(slow)
        self.assertEqual((status, headers["content-type"]), (200, CONTENT_TYPE))
        self.assertIn("statestored_commits_total 1\n", body)

    def test_connections_past_the_limit_get_503_and_a_freed_slot_is_reused(self):
        # Every slot held by a connection that has completed no request (half
        # a request sent): a new connection gets 503. (Each holds its slot
        # for SS_HTTP_TIMEOUT, 10 s: ample.)
        socks = []
        for _ in range(CONNS_MAX):
            s = self.raw()
            s.sendall(b"GET /heal")
            socks.append(s)
        self.assertEqual(get(self.mport, "/healthz")[0], 503)
        extra = self.raw()
        status, headers, body, _ = read_response(extra)
        self.assertEqual((status, headers["connection"], body), (503, "close",
                                                                  "too many connections\n"))
        # The store's port is not affected.
        self.assertEqual(self.connect().cmd("PING"), "PONG")
        socks.pop().close()
        self.assertTrue(wait_until(lambda: get(self.mport, "/healthz")[0] == 200, 10))
        for s in socks:
            s.close()

    def test_idle_connections_make_room_for_a_scraper_oldest_first(self):
        # Every slot held by a connection idle between requests: a new
        # connection is served, and the oldest idle one is closed for it.
        socks = []
        for _ in range(CONNS_MAX):
            s = self.raw()
            s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
            self.assertEqual(read_response(s)[0], 200)
            socks.append(s)
        self.assertEqual(get(self.mport, "/metrics")[0], 200)
        self.assertTrue(wait_until(lambda: closed_by_peer(socks[0]), 10))
        # The others are still open and served.
        socks[1].sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        self.assertEqual(read_response(socks[1])[0], 200)
        for s in socks:
            s.close()


class TestReadiness(MetricsCase):
    AUTOSTART = False
    VALUE = "v" * 2000

    def test_past_the_quota_readyz_is_503_until_del_and_compact(self):
        d = self.new_daemon(args=("--metrics", "127.0.0.1:0", "--quota-bytes", "20000",
                                  "--auto-compact-min", "0")).start()
        port = metrics_port(d)
        self.assertEqual(get(port, "/readyz")[::2], (200, "ready\n"))
        c = self.connect(d)
        n = 0
        while c.cmd("SET_CHECKPOINT q%d %s" % (n, self.VALUE)) == "OK":
            n += 1
        status, _, body = get(port, "/readyz")
        self.assertEqual(status, 503)
        self.assertRegex(body, r"^not ready: .*--quota-bytes.*\n$")
        self.assertIn("statestored_ready 0\n", self.scrape(port))
        self.assertEqual(get(port, "/healthz")[0], 200)  # alive all the same
        for i in range(n):
            self.assertEqual(c.cmd("DEL_CHECKPOINT q%d" % i), "1")
        self.assertEqual(c.cmd("COMPACT"), "OK")
        self.assertEqual(get(port, "/readyz")[::2], (200, "ready\n"))
        self.assertIn("statestored_ready 1\n", self.scrape(port))

    def test_a_failed_fdatasync_ends_readiness_for_good(self):
        d = self.new_daemon(program="statestored-faulty", env={"SS_FAULT": "fdatasync:EIO"},
                            args=("--metrics", "127.0.0.1:0")).start()
        port = metrics_port(d)
        c = self.connect(d)
        self.assertEqual(c.cmd("SET_CHECKPOINT a 1"), "OK")
        self.assertEqual(get(port, "/readyz")[0], 200)
        c.send("SET_CHECKPOINT a INJECT_FAULT\n")
        # The daemon drops its clients when the sync fails: from then on
        # /readyz never says ready again. It refuses to serve a store it
        # cannot trust and exits 5 (server.c's rule 6), and the probe's port
        # closes with it.
        for line in c.wait_eof():
            self.assertTrue(line.startswith("ERR"), line)
        answers = []

        def gone():
            try:
                answers.append(get(port, "/readyz")[0])
            except OSError:
                pass
            return not d.running()
        self.assertTrue(wait_until(gone, 30))
        self.assertNotIn(200, answers, "ready after a failed fdatasync")
        self.assertEqual(d.wait(30), 5, d.log())
        self.assertRaises(OSError, get, port, "/healthz")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestPrometheus(MetricsCase):
    def query(self, port, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=10) as r:
            data = json.load(r)
        self.assertEqual(data["status"], "success", data)
        return {json.dumps(v["metric"], sort_keys=True): float(v["value"][1])
                for v in data["data"]["result"]}

    def test_a_real_prometheus_scrapes_the_commits_and_fsyncs_we_caused(self):
        prom = debian.need("prometheus", "prometheus")
        c = self.connect()
        for i in range(7):
            self.assertEqual(c.cmd("SET_CHECKPOINT p%d %d" % (i, i)), "OK")
        fsyncs = int(c.stats()["fsyncs"])
        tmp = tempfile.mkdtemp(prefix="ss-it-prom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: statestored\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.mport)
        port = free_port()
        p = subprocess.Popen([prom, "--config.file=" + config,
                              "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                              "--web.listen-address=127.0.0.1:%d" % port],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stderr.close()
        self.addCleanup(stop)

        def scraped(q, want):
            if p.poll() is not None:
                raise AssertionError("prometheus exited: " + p.stderr.read().decode())
            try:
                return list(self.query(port, q).values()) == [want]
            except OSError:
                return False  # not up yet
        self.assertTrue(wait_until(lambda: scraped('up{job="statestored"}', 1), 60),
                        "prometheus never scraped the daemon")
        self.assertTrue(wait_until(lambda: scraped("statestored_commits_total", 7), 30))
        self.assertTrue(wait_until(
            lambda: scraped("statestored_fsync_duration_seconds_count", fsyncs), 30))
        self.assertTrue(wait_until(lambda: scraped(
            'statestored_commands_total{command="SET_CHECKPOINT",result="ok"}', 7), 30))
        # What the daemon's latest scrape says, Prometheus says.
        self.assertEqual(list(self.query(port, 'statestored_fsync_duration_seconds_bucket'
                                               '{le="+Inf"}').values()), [fsyncs])


class TestAlertRules(unittest.TestCase):
    def test_promtool_checks_the_rules_and_their_unit_tests_pass(self):
        promtool = debian.need("promtool", "prometheus")
        r = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(RULES) as f:
            alerts = re.findall(r"(?m)^\s*- alert: (\w+)$", f.read())
        self.assertIn("SUCCESS: %d rules found" % len(alerts), r.stdout)
        # Every alert has its unit test.
        with open(RULES_TEST) as f:
            tested = set(re.findall(r"(?m)^\s*alertname: (\w+)$", f.read()))
        self.assertEqual(sorted(set(alerts) - tested), [])
        r = subprocess.run([promtool, "test", "rules", RULES_TEST], capture_output=True,
                           text=True, timeout=60, cwd=os.path.dirname(RULES_TEST))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)


if __name__ == "__main__":
    unittest.main()
