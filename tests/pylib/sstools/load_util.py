"""load_util.py - the client-side machinery of load.py: the daemon with
raised file limits, an RSS monitor, many non-blocking connections, reading
back acknowledged writes, worker processes, and the well-behaved probe
clients whose latency and errors the load run reports."""
import multiprocessing
import os
import random
import resource
import selectors
import shutil
import socket
import tempfile
import threading
import time

from . import harness, tlstools
from .client import HOST, Client, connect

KIB = 1024
MIB = 1024 * 1024
NO_PROGRESS = 30.0  # seconds without a reply that we call a hang


# ---------------------------------------------------------------- utilities

def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE to want (the hard limit too, which
    needs root). Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


ASAN_QUARANTINE_MB = 64


def sanitized(path=None):
    """True if the daemon binary was built with AddressSanitizer."""
    try:
        with open(path or harness.binary("statestored"), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


LOAD_MAX_LINE = 128 * 1024  # --max-line of the load runs


class LoadDaemon(harness.Daemon):
    """The harness's Daemon, started with RLIMIT_NOFILE raised in the child
    (preexec_fn) and a --max-clients large enough for the load; with
    tls=True, also a --tls-port with certificates made for it (pki)."""

    def __init__(self, nofile, max_clients, data_dir=None, extra_args=(), tls=False):
        # The line limit the scenarios' sizes and memory bounds assume
        # (load.py's MAX_LINE), given explicitly: the default is 2 MiB,
        # for multi-commits, and would make the bound 16x looser.
        args = ["--max-clients", str(max_clients), "--log-level", "info",
                "--max-line", str(LOAD_MAX_LINE)] + list(extra_args)
        self.pki = None
        if tls:
            self.tls_dir = tempfile.mkdtemp(prefix="ss-load-tls-")
            self.pki = tlstools.Pki(self.tls_dir)
            args += ["--tls-port", "0", "--tls-cert-file", self.pki.server.crt,
                     "--tls-key-file", self.pki.server.key]
        env = None
        self.asan = sanitized()
        if self.asan:
            # ASan keeps freed blocks in a quarantine (256 MiB by default),
            # which RSS shows; a known, smaller one keeps the bound useful.
            opts = os.environ.get("ASAN_OPTIONS", "")
            env = {"ASAN_OPTIONS": (opts + ":" if opts else "") +
                   "quarantine_size_mb=%d" % ASAN_QUARANTINE_MB}
        super().__init__(data_dir, args, env=env, preexec_fn=self._preexec)
        self.nofile = nofile

    def _preexec(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    auth = None  # (user, password) for a daemon started with an ACL

    def cleanup(self):
        super().cleanup()
        if self.pki:
            shutil.rmtree(self.tls_dir, ignore_errors=True)

    def stats(self):
        c = Client(self.port, timeout=NO_PROGRESS)
        try:
            login(c, self.auth)
            return c.stats()
        finally:
            c.close()


def proc_status(pid):
    """VmRSS and VmHWM of pid in KiB (0 when gone)."""
    out = {"VmRSS": 0, "VmHWM": 0}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in out:
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


class RssMonitor(threading.Thread):
    """Polls the daemon's VmRSS; reset() starts a new peak (and resets the
    kernel's VmHWM through clear_refs where allowed)."""

    def __init__(self, daemon, interval=0.02):
        super().__init__(daemon=True)
        self.d = daemon
        self.interval = interval
        self.peak = 0
        self.stop_evt = threading.Event()

    def run(self):
        while not self.stop_evt.is_set():
            if self.d.alive():
                rss = proc_status(self.d.proc.pid)["VmRSS"]
                self.peak = max(self.peak, rss)
            self.stop_evt.wait(self.interval)

    def reset(self):
        try:
            with open("/proc/%d/clear_refs" % self.d.proc.pid, "w") as f:
                f.write("5")
        except OSError:
            pass
        self.peak = proc_status(self.d.proc.pid)["VmRSS"]

    def peak_kib(self):
        st = proc_status(self.d.proc.pid) if self.d.alive() else {"VmHWM": 0}
        return max(self.peak, st["VmHWM"])


def connect_many(port, n, sel=None, wave=256, bufsize=None):
    """Opens n non-blocking connections in waves (so the listen backlog is
    never flooded). Returns (sockets, failures)."""
    socks, failures = [], 0
    own = sel is None
    sel = sel or selectors.DefaultSelector()
    for start in range(0, n, wave):
        pending = {}
        for _ in range(min(wave, n - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if bufsize:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = s.connect_ex((HOST, port))
            if rc not in (0, 115):  # EINPROGRESS
                s.close()
                failures += 1
                continue
            pending[s.fileno()] = s
            sel.register(s, selectors.EVENT_WRITE)
        deadline = time.monotonic() + NO_PROGRESS
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                s = key.fileobj
                sel.unregister(s)
                del pending[s.fileno()]
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    s.close()
                    failures += 1
                else:
                    socks.append(s)
        for s in pending.values():
            sel.unregister(s)
            s.close()
            failures += 1
    if own:
        sel.close()
    return socks, failures


def login(c, auth):
    """AUTH user password on Client c, if auth is such a pair."""
    if auth and c.cmd("AUTH %s %s" % auth) != "OK":
        raise RuntimeError("AUTH as %r refused" % auth[0])


def verify(port, items, chunk=2000, auth=None):
    """GETs every key of items (a dict key -> value, as str) over pipelined
    batches, as the user auth (user, password) names if given. Returns
    (missing_or_wrong, samples)."""
    keys = list(items)
    bad, samples = 0, []
    c = Client(port, timeout=NO_PROGRESS)
    try:
        login(c, auth)
        for i in range(0, len(keys), chunk):
            part = keys[i:i + chunk]
            c.send("".join("GET_CHECKPOINT %s\n" % k for k in part))
            for k in part:
                got = c.readline()
                if got != items[k]:
                    bad += 1
                    if len(samples) < 5:
                        samples.append("%s: want %r got %r" % (k, items[k][:40], (got or "")[:40]))
    finally:
        c.close()
    return bad, samples


def percentile(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def run_workers(target, arglists):
    """Runs target(*args, conn) in one forked process per arglist; returns
    their results (what each sent through conn), in order."""
    ctx = multiprocessing.get_context("fork")
    procs, pipes = [], []
    for args in arglists:
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker_entry, args=(target, args, w), daemon=True)
        p.start()
        w.close()
        procs.append(p)
        pipes.append(r)
    results = []
    for p, r in zip(procs, pipes):
        try:
            results.append(r.recv())
        except EOFError:
            results.append({"violations": ["load worker died (exit %r)" % p.exitcode]})
        p.join(60)
    return results


def _worker_entry(target, args, conn):
    try:
        res = target(*args)
    except Exception as e:  # report, do not hang the parent
        import traceback
        res = {"violations": ["load worker failed: %r\n%s" % (e, traceback.format_exc())]}
    conn.send(res)
    conn.close()


# ------------------------------------------------------------------- probes

def _probe_main(port, tag, nconns, stop_evt, ready_evt, conn):
    """Well-behaved clients: each connection does SET k v (expects OK) then
    GET k (expects v), one request at a time, on fresh keys."""
    lat = {"set": [], "get": []}
    errors, samples, acked = 0, [], {}
    sel = selectors.DefaultSelector()
    state = {}

    def open_conn(i):
        s = connect(port, NO_PROGRESS)
        st = {"i": i, "s": s, "buf": b"", "seq": 0, "op": None, "t0": 0.0, "key": "", "val": ""}
        state[s] = st
        sel.register(s, selectors.EVENT_READ)
        return st

    def issue(st):
        if st["op"] in (None, "get"):
            st["seq"] += 1
            st["key"] = "p-%s-%d-%d" % (tag, st["i"], st["seq"])
            st["val"] = "v%d.%d" % (st["seq"], random.randrange(1 << 30))
            st["op"] = "set"
            line = "SET_CHECKPOINT %s %s\n" % (st["key"], st["val"])
        else:
            st["op"] = "get"
            line = "GET_CHECKPOINT %s\n" % st["key"]
        st["t0"] = time.monotonic()
        st["s"].sendall(line.encode())

    def fail(st, why):
        nonlocal errors
        errors += 1
        if len(samples) < 5:
            samples.append(why)
        sel.unregister(st["s"])
        del state[st["s"]]
        st["s"].close()
        try:
            issue(open_conn(st["i"]))
        except OSError as e:
            samples.append("reconnect failed: %r" % e)

    try:
        for i in range(nconns):
            open_conn(i)
    except OSError as e:
        conn.send({"lat": lat, "errors": 1, "samples": ["connect: %r" % e], "acked": {}})
        return
    ready_evt.set()
    for st in list(state.values()):
        issue(st)
    stopping = False
    while state:
        if stop_evt.is_set():
            stopping = True
        for key, _ in sel.select(0.05):
            st = state.get(key.fileobj)
            if st is None:
                continue
            try:
                data = st["s"].recv(65536)
            except OSError as e:
                fail(st, "recv: %r" % e)
                continue
            if not data:
                fail(st, "server closed the connection")
                continue
            st["buf"] += data
            while b"\n" in st["buf"]:
                line, st["buf"] = st["buf"].split(b"\n", 1)
                dt = time.monotonic() - st["t0"]
                want = "OK" if st["op"] == "set" else st["val"]
                if line.decode("latin-1") != want:
                    fail(st, "%s %s: got %r want %r" % (st["op"], st["key"], line[:60], want))
                    break
                lat[st["op"]].append(dt)
                if st["op"] == "set":
                    acked[st["key"]] = st["val"]
                if stopping and st["op"] == "get":
                    sel.unregister(st["s"])
                    del state[st["s"]]
                    st["s"].close()
                    break
                try:
                    issue(st)
                except OSError as e:
                    fail(st, "send: %r" % e)
                    break
        now = time.monotonic()
        for st in list(state.values()):
            if now - st["t0"] > NO_PROGRESS:
                # Waited too long: a hang as far as this client can tell.
                fail(st, "no reply to %s %s in %.0f s" % (st["op"], st["key"], NO_PROGRESS))
                if stopping:
                    for s2 in list(state):
                        sel.unregister(s2)
                        s2.close()
                    state.clear()
    conn.send({"lat": lat, "errors": errors, "samples": samples, "acked": acked})


class Probes:
    def __init__(self, port, tag, nconns):
        ctx = multiprocessing.get_context("fork")
        self.stop_evt = ctx.Event()
        self.ready_evt = ctx.Event()
        self.r, w = ctx.Pipe(duplex=False)
        self.p = ctx.Process(target=_probe_main,
                             args=(port, tag, nconns, self.stop_evt, self.ready_evt, w), daemon=True)
        self.p.start()
        w.close()
        self.ready_evt.wait(NO_PROGRESS)

    def finish(self):
        self.stop_evt.set()
        if self.r.poll(2 * NO_PROGRESS + 10):
            res = self.r.recv()
        else:
            res = {"lat": {"set": [], "get": []}, "errors": 1,
                   "samples": ["probe process did not finish"], "acked": {}}
            self.p.kill()
        self.p.join(10)
        return res
