"""load.py - drives the real statestored daemon with hostile and heavy
traffic on 127.0.0.1 and checks that it stays correct.

Every scenario runs while a few well-behaved "probe" clients (a separate
process) do SET then GET on fresh keys and check each reply. For each
scenario the tool reports the probes' latency (p50/p99) and error count, the
daemon's peak RSS against a stated bound, and whether any acknowledged write
was lost (checked with GETs after the scenario, and once more after a final
kill -9 and restart). It exits 1 on any violation: a crash, a lost write, a
wrong reply, a hang, or RSS beyond the bound.

Scenarios (full size; --quick is the CI size used by test_load.py):
  baseline     probes alone, for reference
  idle+write   10,000 idle connections plus 1,000 writers doing SET/OK loops;
               at the end every idle connection must still answer PING
  slowloris    many connections dripping one byte per second of a SET line,
               which they finish at the end and must see acknowledged (under
               --request-timeout, 30 s by default); then, on a daemon of its
               own with --max-clients small and --request-timeout short,
               drip connections fill every slot, a new client is refused,
               and after the timeout every drip is closed (request_timeouts
               counts them) and a new client is served
  no-read      clients pipelining GETs of a 64 KiB value (and PINGs) and never
               reading: the daemon must stop reading them (the client stalls)
               and its RSS must stay within connections x buffer caps
  random       1 GiB of random bytes over a few connections: every reply must
               be an ERR line; plus newline-free bytes that must end in
               "ERR line too long" and a close
  half-open    requests then shutdown(SHUT_WR): all replies then EOF; peers
               that vanish without FIN (never read, never close); peers that
               reset with writes in flight
  pipeline     100,000 commands in one write: every reply, in order; the SETs
               all durable; then 64 GETs of a 64 KiB value in one write (each
               reply larger than a read's worth of requests)
  auth-storm   on a daemon of its own with an ACL: 1,000 connections sending
               right and wrong AUTHs while 100 writers commit; each AUTH
               answered right, counted once, every acknowledged write kept
               over kill -9; the loop's longest iteration and the longest
               password check are reported
  tls-storm    threads doing a full TLS handshake (Python's ssl), one SET and a
               close, over and over, with every tenth connection dropped
               before its handshake: every SET acknowledged and durable, and
               the daemon's handshake counters match what the clients did
  tls-many     1,000 TLS connections open at once, each then SETs and PINGs
  tls-reneg    renegotiations asked for by openssl s_client (TLS 1.2): each
               refused and counted, the SET sent before it acknowledged

The RSS bound of a scenario (all figures in the table are MiB):
  RSS at the scenario's start (which holds what the allocator kept from
  earlier scenarios) + the table's growth (STATS table_bytes + 32 B per
  entry) + 32 MiB (the open batch: 2 x its 8 MiB soft cap, and its op array)
  + per connection: 4 KiB (struct, watchers, libev slots)
                    + TLS if it speaks TLS: OpenSSL's SSL object and its
                          record buffers, 48 KiB
                    + IN  if it ever sent a byte: the input buffer,
                          pow2(max_line + 2) = 256 KiB at the load runs'
                          --max-line of 128 KiB
                    + OUT if it may leave replies unread: the output buffer,
                          pow2(256 KiB backpressure mark + largest reply)
                          = 512 KiB
  then + 10 % + 16 MiB for allocator slack. Under ASan the growth counts
  twice (redzones, shadow, freed blocks) plus the quarantine, set to 64 MiB.
This is what conn.c promises (input capped at max_line + 2; reading stops at
256 KiB of unsent output); a daemon that buffered up to the 64 MiB disconnect
mark, or without limit, overshoots it by far.

Usage: scripts/load.sh [--quick] [--only NAME,...] [--json FILE]
"""
import argparse
import json
import multiprocessing
import os
import random
import selectors
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time

from . import harness, tlstools
from .acl import acl_text, password, write_file
from .client import Client, reset_close
from .load_util import (ASAN_QUARANTINE_MB, HOST, KIB, LOAD_MAX_LINE, MIB, NO_PROGRESS,
                        LoadDaemon, Probes, RssMonitor, connect_many, percentile, raise_nofile,
                        run_workers, verify, _worker_entry)

MAX_LINE = LOAD_MAX_LINE  # the load runs' --max-line (load_util.LoadDaemon)
OUT_HIGH = 256 * KIB      # SS_SESSION_OUT_HIGH
VALUE_MAX = 65536         # SS_VALUE_MAX
BIG_VALUE = b"B" * VALUE_MAX


def pow2(n):
    p = 256
    while p < n:
        p *= 2
    return p


CONN_BASE = 4 * KIB
CONN_IN = pow2(MAX_LINE + 2)                  # 256 KiB
CONN_OUT = pow2(OUT_HIGH + VALUE_MAX + 64)    # 512 KiB
# An SSL object (SSL_MODE_RELEASE_BUFFERS gives back its 2 x 17 KiB of
# record buffers when idle) and the allocator's share. The full tls-many run
# (1,000 connections, a SET and a PING each) grew the RSS by 26 MiB in all,
# input buffers included: 26 KiB a connection.
CONN_TLS = 48 * KIB
BATCH_ALLOWANCE = 32 * MIB


# Sizes: "full" is the tool's default, "quick" what CI runs.
SIZES = {
    "full": dict(probes=4, baseline_s=3.0, idle=10000, writers=1000, write_s=20.0, procs=2,
                 slow_conns=2000, slow_s=15.0, slot_conns=1000, slot_timeout_s=2,
                 noread_conns=200, noread_s=20.0,
                 random_bytes=1024 * MIB, random_conns=4, toolong_conns=8, toolong_bytes=1 * MIB,
                 halfopen=200, vanish=100, resets=100, hold_s=5.0,
                 pipeline=100000, big_gets=64,
                 tls_threads=16, tls_storm_s=10.0, tls_conns=1000, tls_reneg=100),
    "quick": dict(probes=2, baseline_s=0.5, idle=1000, writers=100, write_s=1.5, procs=1,
                  slow_conns=100, slow_s=1.5, slot_conns=100, slot_timeout_s=1,
                  noread_conns=8, noread_s=10.0,
                  random_bytes=16 * MIB, random_conns=2, toolong_conns=2, toolong_bytes=1 * MIB,
                  halfopen=20, vanish=10, resets=10, hold_s=1.0,
                  pipeline=100000, big_gets=64,
                  tls_threads=4, tls_storm_s=1.0, tls_conns=200, tls_reneg=8),
}


# ---------------------------------------------------------------- scenarios
# Each scenario function takes (ctx, size) and returns a dict:
#   summary     what was done, one short line
#   violations  list of strings
#   acked       key -> value of writes the daemon acknowledged
#   conns       list of (count, sent_bytes?, leaves_replies_unread?) for the
#               RSS bound
#   notes       list of strings (observations that are not violations)

def sc_baseline(ctx, z):
    time.sleep(z["baseline_s"])
    return {"summary": "probes only, %.0f s" % z["baseline_s"], "conns": []}


def send_blocking(s, data):
    """Makes s blocking with the no-progress timeout and sends all of data.
    Returns None, or the OSError that stopped it."""
    s.setblocking(True)
    s.settimeout(NO_PROGRESS)
    try:
        s.sendall(data)
    except OSError as e:
        return e
    return None


def read_reply(s):
    """Reads s up to the first newline or EOF. Returns (the bytes read,
    None), or (the bytes read before it, the OSError that stopped it)."""
    buf = b""
    try:
        while b"\n" not in buf:
            d = s.recv(64)
            if not d:
                break
            buf += d
    except OSError as e:
        return buf, e
    return buf, None


def recv_line(sel, live, s, x, v, who):
    """The next reply line on s (x its state: "buf" holds what came before
    a line end), or None: no complete line yet, or the connection is gone,
    which is noted in v and dropped from sel and live."""
    try:
        data = s.recv(4096)
    except OSError as e:
        data = b""
        v.append("%s: recv: %r" % (who, e))
    if not data:
        v.append("%s: connection closed by the daemon" % who)
        sel.unregister(s)
        del live[s]
        return None
    x["buf"] += data
    if b"\n" not in x["buf"]:
        return None
    line, x["buf"] = x["buf"].split(b"\n", 1)
    return line


def _idle_writers_worker(port, tag, wid, nidle, nwriters, duration, go_r, ready_w):
    raise_nofile(nidle + nwriters + 256)
    v, notes = [], []
    sel = selectors.DefaultSelector()
    idle, f1 = connect_many(port, nidle)
    writers, f2 = connect_many(port, nwriters)
    if f1 or f2:
        v.append("%d connections failed to open" % (f1 + f2))
    ready_w.send(len(idle) + len(writers))
    if not go_r.poll(120) or not go_r.recv():
        return {"violations": v + ["never told to go"]}
    acked, ops, t_end = {}, 0, time.monotonic() + duration
    st = {}
    for i, s in enumerate(writers):
        st[s] = {"i": i, "seq": 0, "buf": b"", "key": None, "val": None, "t0": 0.0}
        sel.register(s, selectors.EVENT_READ)

    def issue(s, x):
        x["seq"] += 1
        x["key"] = "w-%s-%d-%d-%d" % (tag, wid, x["i"], x["seq"])
        x["val"] = "x%d" % x["seq"]
        x["t0"] = time.monotonic()
        s.send(("SET_CHECKPOINT %s %s\n" % (x["key"], x["val"])).encode())

    for s, x in st.items():
        issue(s, x)
    live = dict(st)
    while live:
        now = time.monotonic()
        for key, _ in sel.select(0.5):
            s = key.fileobj
            x = live.get(s)
            if x is None:
                continue
            line = recv_line(sel, live, s, x, v, "writer %d" % x["i"])
            if line is None:
                continue
            if line != b"OK" or x["buf"]:
                v.append("writer %d: reply %r to SET %s" % (x["i"], line[:60], x["key"]))
                sel.unregister(s)
                del live[s]
                continue
            acked[x["key"]] = x["val"]
            ops += 1
            if now >= t_end:
                sel.unregister(s)
                del live[s]
            else:
                issue(s, x)
        now = time.monotonic()
        for s, x in list(live.items()):
            if now - x["t0"] > NO_PROGRESS:
                v.append("writer %d: no reply in %.0f s (hang)" % (x["i"], NO_PROGRESS))
                sel.unregister(s)
                del live[s]
    # Every idle connection must still be served: one PING each.
    ok = 0
    for start in range(0, len(idle), 1000):
        part = idle[start:start + 1000]
        for s in part:
            send_blocking(s, b"PING\n")
        for s in part:
            buf, _ = read_reply(s)
            if buf == b"PONG\n":
                ok += 1
    if ok != len(idle):
        v.append("%d of %d idle connections did not answer PING" % (len(idle) - ok, len(idle)))
    for s in idle + writers:
        s.close()
    sel.close()
    return {"violations": v, "acked": acked, "ops": ops, "idle_ok": ok, "notes": notes}


def sc_idle_writers(ctx, z):
    procs = z["procs"]
    ctxm = multiprocessing.get_context("fork")
    go, ready, workers = [], [], []
    for w in range(procs):
        gr, gw = ctxm.Pipe(duplex=False)
        rr, rw = ctxm.Pipe(duplex=False)
        nidle = z["idle"] // procs + (1 if w < z["idle"] % procs else 0)
        nwr = z["writers"] // procs + (1 if w < z["writers"] % procs else 0)
        r, w_ = ctxm.Pipe(duplex=False)
        p = ctxm.Process(target=_worker_entry, daemon=True,
                         args=(_idle_writers_worker,
                               (ctx.port, ctx.tag, w, nidle, nwr, z["write_s"], gr, rw), w_))
        p.start()
        w_.close()
        go.append(gw)
        ready.append(rr)
        workers.append((p, r))
    v = []
    opened = 0
    for rr in ready:
        if rr.poll(300):
            opened += rr.recv()
    want = z["idle"] + z["writers"]
    # The daemon has accepted them all (not just the kernel's backlog).
    clients = harness.wait_until(
        lambda: int(ctx.d.stats()["clients"]) >= want + ctx.base_clients, timeout=60)
    peak_clients = int(ctx.d.stats()["clients"]) - ctx.base_clients
    if not clients:
        v.append("daemon reports %d load clients, expected %d" % (peak_clients, want))
    for gw in go:
        gw.send(True)
    acked, ops, idle_ok = {}, 0, 0
    for p, r in workers:
        res = r.recv() if r.poll(z["write_s"] + 4 * NO_PROGRESS + 60) else {
            "violations": ["load worker timed out"]}
        p.join(10)
        v += res.get("violations", [])
        acked.update(res.get("acked", {}))
        ops += res.get("ops", 0)
        idle_ok += res.get("idle_ok", 0)
    return {"summary": "%d idle + %d writers x %.0f s: %d SETs acked (%.0f/s), %d/%d idle PING ok, "
                       "peak %d clients" % (z["idle"], z["writers"], z["write_s"], ops,
                                             ops / z["write_s"], idle_ok, z["idle"], peak_clients),
            "violations": v, "acked": acked,
            "conns": [(z["idle"], True, False), (z["writers"], True, False)]}


def _slowloris_worker(port, tag, wid, n, duration):
    raise_nofile(n + 256)
    v = []
    socks, fails = connect_many(port, n)
    if fails:
        v.append("%d slowloris connections failed to open" % fails)
    pad = "s" * (int(duration) + 8)
    lines = [("SET_CHECKPOINT slow-%s-%d-%d %s%d\n" % (tag, wid, i, pad, i)).encode()
             for i in range(len(socks))]
    sent = [0] * len(socks)
    t0 = time.monotonic()
    # Spread the connections over each second so the drip is even.
    offset = [random.random() for _ in socks]
    while time.monotonic() - t0 < duration:
        now = time.monotonic() - t0
        for i, s in enumerate(socks):
            due = int(now - offset[i]) + 1 if now >= offset[i] else 0
            if sent[i] < due and sent[i] < len(lines[i]) - 1:
                try:
                    sent[i] += s.send(lines[i][sent[i]:sent[i] + 1])
                except OSError as e:
                    v.append("slowloris %d: send: %r" % (i, e))
                    sent[i] = len(lines[i])
        time.sleep(0.05)
    # Finish every line; each must be acknowledged.
    acked = {}
    for i, s in enumerate(socks):
        e = send_blocking(s, lines[i][sent[i]:])
        if e is not None:
            v.append("slowloris %d: final send: %r" % (i, e))
    for i, s in enumerate(socks):
        buf, e = read_reply(s)
        if e is not None:
            buf += b" (%r)" % e
        if buf == b"OK\n":
            k, val = lines[i].decode().split()[1:3]
            acked[k] = val
        elif len(v) < 20:
            v.append("slowloris %d: reply %r" % (i, buf[:60]))
        s.close()
    return {"violations": v, "acked": acked, "dripped": sum(sent)}


def _closed_by_server(s):
    """True if the server has closed s (EOF, or a reset for bytes it never
    read); False if s is open with nothing to read."""
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _slowloris_slots(z):
    """Drip connections fill every slot of a daemon with --max-clients n + 1
    (one for the probe reading STATS) and --request-timeout short: a new
    client is refused; after the timeout the drips are closed and counted,
    and a new client is served. Returns (summary, violations). n is more
    than the daemon closes in one timer callback (64, clients.c), so the
    rest closing on the next callbacks is part of it."""
    n, tmo = z["slot_conns"], z["slot_timeout_s"]
    v = []
    d = LoadDaemon(nofile=n + 1024, max_clients=n + 1,
                   extra_args=["--request-timeout", str(tmo)]).start()
    socks = []
    try:
        probe = Client(d.port, timeout=NO_PROGRESS)
        socks, fails = connect_many(d.port, n)
        if fails:
            v.append("%d slot connections failed to open" % fails)
        for i, s in enumerate(socks):
            s.send(("SET_CHECKPOINT slot-%d " % i).encode())
        if not harness.wait_until(lambda: int(probe.stats()["clients"]) == n + 1, NO_PROGRESS):
            v.append("the daemon never held %d clients: %s" % (n + 1, probe.stats()["clients"]))
        with Client(d.port, timeout=NO_PROGRESS) as extra:
            got = extra.wait_eof()
        if got != ["ERR max clients reached"]:
            v.append("with every slot taken a new client got %r" % got[:2])
        t0 = time.monotonic()
        # Dripping a byte every 0.25 s does not keep the clock from running.
        open_socks = list(socks)

        def drip_and_count():
            for s in list(open_socks):
                try:
                    s.send(b"x")
                except OSError:
                    open_socks.remove(s)
            return int(probe.stats()["request_timeouts"]) >= len(socks)

        harness.wait_until(drip_and_count, tmo + NO_PROGRESS, interval=0.25)
        closed_s = time.monotonic() - t0
        counted = int(probe.stats()["request_timeouts"])
        if counted != len(socks):
            v.append("request_timeouts %d after %.0f s, want %d" % (counted, closed_s, len(socks)))
        still = [s for s in socks if not harness.wait_until(lambda s=s: _closed_by_server(s), 5.0)]
        if still:
            v.append("%d drip connections still open after the request timeout" % len(still))
        with Client(d.port, timeout=NO_PROGRESS) as fresh:
            try:
                pong = fresh.cmd("PING")
            except OSError as e:
                pong = repr(e)
        if pong != "PONG":
            v.append("after the request timeout a new client got %r" % pong)
        probe.close()
        summary = ("%d drips filled --max-clients %d: a new client refused; after "
                   "--request-timeout %d s all were closed in %.1f s (request_timeouts %d), "
                   "and a new client was served" % (len(socks), n + 1, tmo, closed_s, counted))
    finally:
        for s in socks:
            s.close()
        code = d.stop()
        if code != 0:
            v.append("the slots daemon exited %r on SIGTERM: %s" % (code, d.log()[-1000:]))
        d.cleanup()
    return summary, v


def sc_slowloris(ctx, z):
    n, procs = z["slow_conns"], z["procs"]
    args = [(ctx.port, ctx.tag, w, n // procs + (1 if w < n % procs else 0), z["slow_s"])
            for w in range(procs)]
    res = run_workers(_slowloris_worker, args)
    v, acked, dripped = [], {}, 0
    for r in res:
        v += r.get("violations", [])
        acked.update(r.get("acked", {}))
        dripped += r.get("dripped", 0)
    slots, sv = _slowloris_slots(z)
    return {"summary": "%d conns x 1 byte/s for %.0f s (%d bytes), then each SET finished: "
                       "%d acked; then %s" % (n, z["slow_s"], dripped, len(acked), slots),
            "violations": v + sv, "acked": acked, "conns": [(n, True, False)]}


def _sysctl_max(name):
    try:
        with open("/proc/sys/net/ipv4/" + name) as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError):
        return 32 * MIB


def noread_cap():
    """The most a client that never reads can get accepted when the daemon
    stops reading at its output mark: the daemon's receive buffer (up to
    tcp_rmem's max), the input it consumed to make its output (1:1 for
    PING): the output buffer (256 KiB mark + a reply) plus its send buffer
    (up to tcp_wmem's max), its input buffer, the client's own small
    buffers, and 8 MiB of slack."""
    return (_sysctl_max("tcp_rmem") + _sysctl_max("tcp_wmem") + OUT_HIGH + VALUE_MAX +
            CONN_IN + 4 * 64 * KIB + 8 * MIB)


def sc_no_read(ctx, z):
    """Pipelines without reading. The daemon must stop reading each client
    (so the client's sends stall) or drop it; never buffer without bound."""
    n = z["noread_conns"]
    c = Client(ctx.port, timeout=NO_PROGRESS)
    if c.cmd("SET_CHECKPOINT nr-big " + BIG_VALUE.decode()) != "OK":
        return {"summary": "setup failed", "violations": ["cannot store the 64 KiB value"]}
    c.close()
    socks, fails = connect_many(ctx.port, n, bufsize=64 * KIB)
    v = ["%d connections failed to open" % fails] if fails else []
    gets = b"GET_CHECKPOINT nr-big\n" * 3000
    pings = b"PING\n" * 13000
    payload = [gets if i % 4 else pings for i in range(len(socks))]
    sent = [0] * len(socks)
    last_progress = [time.monotonic()] * len(socks)
    closed = [False] * len(socks)
    cap = noread_cap()
    t0 = time.monotonic()
    stall = 2.0
    while time.monotonic() - t0 < z["noread_s"]:
        now = time.monotonic()
        for i, s in enumerate(socks):
            if closed[i]:
                continue
            try:
                k = s.send(payload[i])
                if k > 0:
                    sent[i] += k
                    last_progress[i] = now
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = True  # dropped by the daemon: allowed
        if all(closed[i] or now - last_progress[i] > stall for i in range(len(socks))):
            break
        if max(sent) > cap:
            break
        time.sleep(0.01)
    now = time.monotonic()
    # Still moving at the end is no violation by itself: the kernel can
    # reopen a full receive window a little at a time by collapsing its
    # queue. Passing what the buffers on the way can hold is one.
    still = [i for i in range(len(socks)) if not closed[i] and now - last_progress[i] <= stall]
    over = [i for i in range(len(socks)) if sent[i] > cap]
    if over:
        v.append("daemon kept reading %d never-reading clients: up to %.1f MiB accepted, more "
                 "than the %.1f MiB kernel and daemon buffers hold" %
                 (len(over), max(sent) / MIB, cap / MIB))
    stalled_clients = int(ctx.d.stats()["clients"]) - ctx.base_clients
    # Peers gone with replies unread: the daemon must free them.
    for s in socks:
        reset_close(s)
    gone = harness.wait_until(lambda: int(ctx.d.stats()["clients"]) <= ctx.base_clients, 30)
    if not gone:
        v.append("daemon still holds %d clients after they reset" %
                 (int(ctx.d.stats()["clients"]) - ctx.base_clients))
    return {"summary": "%d clients pipelining GET 64 KiB / PING, never reading: %.1f-%.1f MiB "
                       "accepted each (bound %.0f MiB), %d still trickling at the end; "
                       "%d dropped, %d held" %
                       (n, min(sent) / MIB, max(sent) / MIB, cap / MIB, len(still), sum(closed),
                        stalled_clients),
            "violations": v, "conns": [(n, True, True)], "max_sent": max(sent)}


def _random_worker(port, pool_seed, nbytes, conn_id):
    """Sends nbytes of random bytes on one connection while reading; every
    reply must be an ERR line. Reconnects if the daemon closes."""
    v, errs, reconnects = [], 0, 0
    rnd = random.Random(pool_seed)
    pool = rnd.randbytes(8 * MIB)
    mv = memoryview(pool)
    s = None
    left = nbytes
    carry = b""
    while True:
        if s is None:
            s = socket.create_connection((HOST, port), timeout=NO_PROGRESS)
            s.setblocking(False)
            carry = b""
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        off = rnd.randrange(len(pool) // 2)
        tail = b"\nPING\n"
        tail_sent = 0
        last = time.monotonic()
        broke = False
        done = False
        while not done:
            evs = sel.select(1.0)
            if not evs and time.monotonic() - last > NO_PROGRESS:
                v.append("random conn %d: no progress for %.0f s (hang)" % (conn_id, NO_PROGRESS))
                return {"violations": v, "err_lines": errs, "reconnects": reconnects}
            for _, ev in evs:
                if ev & selectors.EVENT_READ:
                    try:
                        d = s.recv(256 * KIB)
                    except ConnectionResetError:
                        d = b""
                    if not d:
                        broke = True
                        break
                    last = time.monotonic()
                    data = carry + d
                    cut = data.rfind(b"\n") + 1
                    block, carry = data[:cut], data[cut:]
                    nl = block.count(b"\n")
                    # A line of random bytes that starts with '*' is RESP:
                    # Redis's "-ERR Protocol error: ...", and the server
                    # closes (we reconnect).
                    nerr = block.count(b"\nERR ") + (1 if block.startswith(b"ERR ") else 0) + \
                        block.count(b"\n-ERR ") + (1 if block.startswith(b"-ERR ") else 0)
                    if nerr != nl:
                        if block.endswith(b"PONG\n") and nerr == nl - 1 and left == 0 and \
                                tail_sent == len(tail):
                            errs += nerr
                            done = True
                            break
                        bad = [ln for ln in block.split(b"\n")[:-1]
                               if not ln.startswith((b"ERR ", b"-ERR "))]
                        v.append("random conn %d: non-ERR replies, e.g. %r" % (conn_id, bad[:3]))
                        return {"violations": v, "err_lines": errs, "reconnects": reconnects}
                    errs += nerr
                if ev & selectors.EVENT_WRITE:
                    try:
                        if left > 0:
                            k = min(left, 1 * MIB, len(pool) - off)
                            k = s.send(mv[off:off + k])
                            left -= k
                            off += k
                            if off >= len(pool) - 1 * MIB:
                                off = rnd.randrange(len(pool) // 2)
                        elif tail_sent < len(tail):
                            tail_sent += s.send(tail[tail_sent:])
                        else:
                            sel.modify(s, selectors.EVENT_READ)
                        last = time.monotonic()
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        broke = True
                        break
            if broke:
                break
        sel.close()
        s.close()
        s = None
        if done:
            break
        reconnects += 1  # closed on us: allowed (line too long), go on
        if reconnects > 1000:
            v.append("random conn %d: closed more than 1000 times" % conn_id)
            break
    return {"violations": v, "err_lines": errs, "reconnects": reconnects}


def _toolong_worker(port, seed, nbytes, n):
    """n connections each send nbytes with no newline: each must see
    "ERR line too long" (or a reset that raced it) and be closed."""
    v, closed_ok = [], 0
    data = random.Random(seed).randbytes(nbytes).replace(b"\n", b"x")
    for i in range(n):
        s = socket.create_connection((HOST, port), timeout=NO_PROGRESS)
        got = b""
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except socket.timeout:
            v.append("toolong %d: daemon stopped reading but did not close" % i)
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            pass
        except socket.timeout:
            v.append("toolong %d: still open %.0f s after the line limit" % (i, NO_PROGRESS))
        s.close()
        if got in (b"", b"ERR line too long\n"):
            closed_ok += 1
        else:
            v.append("toolong %d: replies %r" % (i, got[:80]))
    return {"violations": v, "closed_ok": closed_ok}


def sc_random(ctx, z):
    n, total = z["random_conns"], z["random_bytes"]
    args = [(ctx.port, 1000 + i, total // n, i) for i in range(n)]
    args_tl = [(ctx.port, 7, z["toolong_bytes"], z["toolong_conns"])]
    t0 = time.monotonic()
    res = run_workers(_random_worker, args)
    dt = time.monotonic() - t0
    res_tl = run_workers(_toolong_worker, args_tl)
    v, errs, rec = [], 0, 0
    for r in res:
        v += r.get("violations", [])
        errs += r.get("err_lines", 0)
        rec += r.get("reconnects", 0)
    closed_ok = 0
    for r in res_tl:
        v += r.get("violations", [])
        closed_ok += r.get("closed_ok", 0)
    return {"summary": "%d MiB random over %d conns in %.1f s: %d ERR replies, %d closes; "
                       "%d x %d KiB without newline: %d closed with ERR line too long" %
                       (total // MIB, n, dt, errs, rec, z["toolong_conns"],
                        z["toolong_bytes"] // KIB, closed_ok),
            "violations": v, "conns": [(n + 1, True, True)]}


def sc_half_open(ctx, z):
    v, acked = [], {}
    tag = ctx.tag
    # Peers that vanish: a SET, then silence (never read, never closed).
    vanished, f1 = connect_many(ctx.port, z["vanish"])
    for i, s in enumerate(vanished):
        try:
            s.send(("SET_CHECKPOINT gone-%s-%d g%d\nGET_CHECKPOINT nr-big\n" % (tag, i, i)).encode())
        except OSError as e:
            v.append("vanish %d: %r" % (i, e))
    # Peers that reset with writes in flight (their SETs are never acked).
    resets, f2 = connect_many(ctx.port, z["resets"])
    for i, s in enumerate(resets):
        try:
            s.send(("SET_CHECKPOINT rst-%s-%d r%d\nGET_CHECKPOINT rst-%s-%d\n" %
                    (tag, i, i, tag, i)).encode() * 8)
        except OSError:
            pass
        reset_close(s)
    # Half-open: requests, then SHUT_WR; all replies must come, then EOF.
    half, f3 = connect_many(ctx.port, z["halfopen"])
    if f1 + f2 + f3:
        v.append("%d connections failed to open" % (f1 + f2 + f3))
    for i, s in enumerate(half):
        s.setblocking(True)
        s.settimeout(NO_PROGRESS)
        s.sendall(("SET_CHECKPOINT ho-%s-%d h%d\nGET_CHECKPOINT ho-%s-%d\nPING\nPIN" %
                   (tag, i, i, tag, i)).encode())
        s.shutdown(socket.SHUT_WR)
    ok = 0
    for i, s in enumerate(half):
        buf = b""
        why = None
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
        except (ConnectionResetError, socket.timeout) as e:
            why = repr(e)
        want = b"OK\nh%d\nPONG\n" % i
        if buf == want and why is None:
            ok += 1
            acked["ho-%s-%d" % (tag, i)] = "h%d" % i
        elif len(v) < 20:
            v.append("half-open %d: got %r then %s, want %r then EOF" % (i, buf, why or "EOF", want))
        s.close()
    time.sleep(z["hold_s"])  # the vanished peers stay while probes run
    held = int(ctx.d.stats()["clients"]) - ctx.base_clients
    if held < len(vanished):
        v.append("daemon dropped vanished peers: holds %d of %d" % (held, len(vanished)))
    for s in vanished:
        reset_close(s)
    gone = harness.wait_until(lambda: int(ctx.d.stats()["clients"]) <= ctx.base_clients, 30)
    if not gone:
        v.append("daemon still holds %d clients after all reset" %
                 (int(ctx.d.stats()["clients"]) - ctx.base_clients))
    return {"summary": "%d half-open: %d got all replies then EOF; %d vanished held %.0f s; "
                       "%d reset with writes in flight" %
                       (len(half), ok, len(vanished), z["hold_s"], len(resets)),
            "violations": v, "acked": acked,
            "conns": [(z["halfopen"] + z["resets"], True, False), (z["vanish"], True, True)]}


def read_lines_checked(sock, expected, what):
    """Reads len(expected) reply lines from a blocking socket and compares
    them, in order. Returns (received, violations)."""
    v, buf, got, i = [], b"", 0, 0
    sock.settimeout(NO_PROGRESS)
    while i < len(expected):
        try:
            d = sock.recv(1 * MIB)
        except socket.timeout:
            v.append("%s: %d of %d replies, then none for %.0f s (hang)" %
                     (what, i, len(expected), NO_PROGRESS))
            break
        if not d:
            v.append("%s: connection closed after %d of %d replies" % (what, i, len(expected)))
            break
        buf += d
        lines = buf.split(b"\n")
        buf = lines.pop()
        for ln in lines:
            if i < len(expected) and ln != expected[i]:
                if len(v) < 5:
                    v.append("%s: reply %d is %r, want %r" % (what, i, ln[:60], expected[i][:60]))
            i += 1
            got += 1
    return got, v


def sc_pipeline(ctx, z):
    n, tag, v, acked = z["pipeline"], ctx.tag, [], {}
    cmds, expect = [], []
    for i in range(n):
        if i % 1000 == 999:
            j = i - 500 - (i - 500) % 1000 + 1  # a SET earlier in this batch
            cmds.append(b"GET_CHECKPOINT pl-%s-%d\n" % (tag.encode(), j))
            expect.append(b"val%d" % j)
        elif i % 1000 == 500:
            cmds.append(b"PING\n")
            expect.append(b"PONG")
        else:
            cmds.append(b"SET_CHECKPOINT pl-%s-%d val%d\n" % (tag.encode(), i, i))
            expect.append(b"OK")
            acked["pl-%s-%d" % (tag, i)] = "val%d" % i
    payload = b"".join(cmds)
    s = socket.create_connection((HOST, ctx.port), timeout=NO_PROGRESS)
    err = []
    t = threading.Thread(target=lambda: _sendall_catch(s, payload, err), daemon=True)
    t0 = time.monotonic()
    t.start()
    got, v1 = read_lines_checked(s, expect, "pipeline")
    dt = time.monotonic() - t0
    t.join(NO_PROGRESS)
    s.close()
    v += v1 + err
    if got != n:
        acked = {}  # not all answered: no claim on durability
    # Replies bigger than a read of requests: 64 KiB values, pipelined.
    c = Client(ctx.port, timeout=NO_PROGRESS)
    if c.cmd("SET_CHECKPOINT pl-big " + BIG_VALUE.decode()) != "OK":
        v.append("cannot store the 64 KiB value")
    c.send(b"GET_CHECKPOINT pl-big\n" * z["big_gets"] + b"PING\n")
    got_big, v2 = read_lines_checked(c.sock, [BIG_VALUE] * z["big_gets"] + [b"PONG"],
                                     "pipelined 64 KiB GETs")
    c.close()
    v += v2
    return {"summary": "%d commands in one write: %d replies in order in %.1f s; %d x 64 KiB GETs "
                       "in one write: %d of %d replies" %
                       (n, got, dt, z["big_gets"], got_big, z["big_gets"] + 1),
            "violations": v, "acked": acked, "conns": [(2, True, True)]}


def _sendall_catch(s, data, err):
    try:
        s.sendall(data)
    except OSError as e:
        err.append("pipeline send: %r" % e)


# ------------------------------------------------------------- auth storm

STORM_SIZES = {"full": dict(storm_conns=1000, storm_writers=100, storm_s=15.0),
               "quick": dict(storm_conns=100, storm_writers=10, storm_s=1.5)}
for _size, _extra in STORM_SIZES.items():
    SIZES[_size].update(_extra)
STORM_LN = 10  # the storm user's scrypt cost: a real KDF run (1 MiB, ~3 ms here), not a free one
STORM_WRONG = b"ERR WRONGPASS invalid username-password pair"
STORM_BUSY = b"ERR busy: too many password checks in progress; retry the AUTH"


def _auth_storm_worker(port, tag, wid, nstorm, nwriters, duration, users):
    """nstorm connections AUTH as "storm", right or wrong at random, each
    waiting for its answer ("busy" is retried as it is); the first also
    tries an unknown user. nwriters connections AUTH as "writer", then
    commit SETs. All until duration has passed and each has its answer."""
    raise_nofile(nstorm + nwriters + 256)
    v, acked = [], {}
    n = {"ok": 0, "wrongpass": 0, "busy": 0, "unknown": 0, "sets": 0}
    socks, fails = connect_many(port, nstorm + nwriters)
    if fails:
        v.append("%d connections failed to open" % fails)
    sel = selectors.DefaultSelector()
    st = {}
    t_end = time.monotonic() + duration

    def send(s, x, line, want):
        x["line"], x["want"], x["t0"] = line, want, time.monotonic()
        s.send(line)

    def next_request(s, x):
        if x["writer"]:
            x["seq"] += 1
            x["key"] = "as-%s-%d-%d-%d" % (tag, wid, x["i"], x["seq"])
            send(s, x, ("SET_CHECKPOINT %s v%d\n" % (x["key"], x["seq"])).encode(), b"OK")
        elif random.random() < 0.5:
            send(s, x, ("AUTH storm %s\n" % users["storm"]).encode(), b"OK")
        else:
            send(s, x, ("AUTH storm wrong-%d-%s\n" % (x["seq"], users["storm"])).encode(),
                 STORM_WRONG)

    for i, s in enumerate(socks):
        x = {"i": i, "writer": i >= nstorm, "seq": 0, "buf": b"", "key": None, "auth": False}
        st[s] = x
        sel.register(s, selectors.EVENT_READ)
        if x["writer"]:
            send(s, x, ("AUTH writer %s\n" % users["writer"]).encode(), b"OK")
        elif i == 0:
            send(s, x, ("AUTH nobody-%s-%d %s\n" % (tag, wid, users["storm"])).encode(),
                 STORM_WRONG)
            n["unknown"] += 1
        else:
            next_request(s, x)
    live = dict(st)
    while live:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            x = live.get(s)
            line = recv_line(sel, live, s, x, v, "connection %d" % x["i"])
            if line is None:
                continue
            if line == STORM_BUSY and x["line"].startswith(b"AUTH "):
                n["busy"] += 1
                send(s, x, x["line"], x["want"])  # retried, as the reply says
                continue
            if line != x["want"] or x["buf"]:
                if len(v) < 20:
                    v.append("connection %d: %r to %r, want %r" % (x["i"], line[:80],
                                                                  x["line"][:40], x["want"]))
                sel.unregister(s)
                del live[s]
                continue
            if x["writer"] and x["key"]:
                acked[x["key"]] = "v%d" % x["seq"]
                n["sets"] += 1
            elif not x["writer"]:
                n["ok" if line == b"OK" else "wrongpass"] += 1
            if time.monotonic() >= t_end:
                sel.unregister(s)
                del live[s]
            else:
                next_request(s, x)
        now = time.monotonic()
        for s, x in list(live.items()):
            if now - x["t0"] > NO_PROGRESS:
                v.append("connection %d: no reply in %.0f s (hang)" % (x["i"], NO_PROGRESS))
                sel.unregister(s)
                del live[s]
    for s in socks:
        s.close()
    sel.close()
    return {"violations": v, "acked": acked, "counts": n}


def sc_auth_storm(ctx, z):
    """An AUTH storm, on a daemon of its own started with an ACL file (the
    shared one serves the probes, which do not AUTH). Many connections
    send right and wrong passwords for a user whose hash costs a real KDF
    run, and a few for unknown users (the decoy, at the default cost),
    while writers who logged in commit. Every wrong AUTH must get
    WRONGPASS and every right one OK, after any "busy" answers (more than
    64 checks queued), which the clients retry; STATS must count each
    failure and each busy answer once; RSS must stay within the bound;
    every acknowledged write must survive kill -9. The loop's longest
    iteration and the longest password check are reported beside each
    other (the KDF runs off the loop), not asserted: timings are figures."""
    users = {u: password(u) for u in ("root", "writer", "storm")}
    tmp = tempfile.mkdtemp(prefix="ss-storm-")
    path = write_file(os.path.join(tmp, "users.acl"),
                      acl_text({"storm": (users["storm"], "read", "as-*")}, STORM_LN) +
                      acl_text({"root": (users["root"], "read,write,admin", "*"),
                                "writer": (users["writer"], "read,write", "as-*")}))
    d = LoadDaemon(nofile=ctx.d.nofile, max_clients=ctx.d.nofile - 1024,
                   extra_args=["--acl-file", path])
    d.auth = ("root", users["root"])
    v, acked, n, summary = [], {}, {}, "did not run"
    procs, nstorm, nwr = z["procs"], z["storm_conns"], z["storm_writers"]
    monitor = RssMonitor(d)
    try:
        d.start()
        monitor.start()
        monitor.reset()
        start_rss, before = monitor.peak, d.stats()
        res = run_workers(_auth_storm_worker,
                          [(d.port, ctx.tag, w, nstorm // procs + (w < nstorm % procs),
                            nwr // procs + (w < nwr % procs), z["storm_s"], users)
                           for w in range(procs)])
        for r in res:
            v += r.get("violations", [])
            acked.update(r.get("acked", {}))
            for k, c in r.get("counts", {}).items():
                n[k] = n.get(k, 0) + c
        after = d.stats()
        delta = {k: int(after[k]) - int(before[k]) for k in ("auth_failures", "auth_busy",
                                                              "auth_checks")}
        if delta["auth_failures"] != n.get("wrongpass", 0):
            v.append("STATS auth_failures grew by %d; the clients saw %d WRONGPASS"
                     % (delta["auth_failures"], n.get("wrongpass", 0)))
        if delta["auth_busy"] != n.get("busy", 0):
            v.append("STATS auth_busy grew by %d; the clients saw %d busy answers"
                     % (delta["auth_busy"], n.get("busy", 0)))
        # Reported, not asserted: a timing is a figure (the summary), and on
        # a shared machine any one loop iteration may be as long as a check.
        loop_us, kdf_us = int(after["loop_max_us"]), int(after["auth_check_us_max"])
        peak = monitor.peak_kib()
        bound = rss_bound_kib(start_rss, before, after, [(nstorm + nwr, True, False)], 0, d.asan)
        if peak > bound:
            v.append("storm daemon: peak RSS %.0f MiB beyond the bound %.0f MiB"
                     % (peak / KIB, bound / KIB))
        monitor.stop_evt.set()
        lost, samples = verify(d.port, acked, auth=d.auth)
        d.kill()
        d.start()
        lost2, samples2 = verify(d.port, acked, auth=d.auth)
        if lost or lost2:
            v.append("%d / %d acknowledged writes lost before / after kill -9, e.g. %s"
                     % (lost, lost2, (samples + samples2)[:3]))
        code = d.stop()
        if code != 0:
            v.append("storm daemon exited %r on SIGTERM" % code)
        summary = ("%d conns x %.1f s of AUTH (KDF ln=%d): %d OK, %d WRONGPASS (%d for unknown "
                   "users), %d busy retried, %d KDF runs (longest %.1f ms); %d writers: %d SETs acked; "
                   "loop max %.1f ms; RSS %.0f of %.0f MiB"
                   % (nstorm, z["storm_s"], STORM_LN, n.get("ok", 0), n.get("wrongpass", 0),
                      n.get("unknown", 0), n.get("busy", 0), delta["auth_checks"], kdf_us / 1000,
                      nwr, len(acked), loop_us / 1000, peak / KIB, bound / KIB))
    finally:
        monitor.stop_evt.set()
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    # Its writes are on its own daemon, checked above: nothing for the
    # shared one's checks.
    return {"summary": summary, "violations": v, "acked": {}, "conns": []}
# ---------------------------------------------------------------- TLS

def _tls_storm_worker(port, ca, tag, wid, threads, duration):
    """threads clients, each until duration passes: a new connection, a full
    handshake (Python's ssl resumes no session unless told), one SET, a
    close; every tenth connection closes before its handshake instead."""
    v, acked, lock = [], {}, threading.Lock()
    count = {"done": 0, "dropped": 0}
    tls = ssl.create_default_context(cafile=ca)

    def client(t):
        seq, end = 0, time.monotonic() + duration
        while time.monotonic() < end:
            seq += 1
            if seq % 10 == 0:
                socket.create_connection((HOST, port), timeout=NO_PROGRESS).close()
                with lock:
                    count["dropped"] += 1
                continue
            key, val = "tls-%s-%d-%d-%d" % (tag, wid, t, seq), "v%d" % seq
            try:
                with Client(port, timeout=NO_PROGRESS, tls=tls) as c:
                    with lock:
                        count["done"] += 1
                    reply = c.cmd("SET_CHECKPOINT %s %s" % (key, val))
            except (OSError, ssl.SSLError) as e:
                reply = repr(e)
            with lock:
                if reply == "OK":
                    acked[key] = val
                elif len(v) < 20:
                    v.append("tls-storm client %d: %r" % (t, reply))

    ts = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"violations": v, "acked": acked, "handshakes": count["done"],
            "dropped": count["dropped"]}


def tls_counters(ctx):
    st = ctx.d.stats()
    return {k: int(st[k]) for k in ("tls_handshakes", "tls_handshake_failures",
                                     "tls_renegotiations_refused")}


def sc_tls_storm(ctx, z):
    before = tls_counters(ctx)
    args = [(ctx.d.tls_port, ctx.d.pki.ca.crt, ctx.tag, w, z["tls_threads"], z["tls_storm_s"])
            for w in range(z["procs"])]
    res = run_workers(_tls_storm_worker, args)
    v, acked, done, dropped = [], {}, 0, 0
    for r in res:
        v += r.get("violations", [])
        acked.update(r.get("acked", {}))
        done += r.get("handshakes", 0)
        dropped += r.get("dropped", 0)
    # Every handshake the clients completed, and every connection they
    # dropped before one, counted by the daemon (once it has read their
    # last bytes: the counters may lag the clients by a loop iteration).
    want = {"tls_handshakes": before["tls_handshakes"] + done,
            "tls_handshake_failures": before["tls_handshake_failures"] + dropped}
    got = harness.wait_until(lambda: all(tls_counters(ctx)[k] == n for k, n in want.items()),
                             timeout=NO_PROGRESS)
    if not got:
        v.append("the daemon counted %r, the clients %r" % (tls_counters(ctx), want))
    secs = z["tls_storm_s"]
    return {"summary": "%d x %d TLS clients x %.0f s: %d handshakes (%.0f/s), %d dropped "
                       "before one, %d SETs acked" % (
                           z["procs"], z["tls_threads"], secs, done, done / secs, dropped,
                           len(acked)),
            "violations": v, "acked": acked,
            "conns": [(z["procs"] * z["tls_threads"], True, False, True)]}


def _tls_many_worker(port, tls_port, ca, tag, n):
    """n TLS connections open at once; then a SET on each, then a PING."""
    raise_nofile(n + 256)
    v, acked, conns = [], {}, []
    tls = ssl.create_default_context(cafile=ca)
    for i in range(n):
        try:
            conns.append(Client(tls_port, timeout=NO_PROGRESS, tls=tls))
        except (OSError, ssl.SSLError) as e:
            if len(v) < 10:
                v.append("TLS connection %d: %r" % (i, e))
    with Client(port, timeout=NO_PROGRESS) as c:
        clients = int(c.stats()["clients"])
    for step in ("SET", "PING"):
        for i, c in enumerate(conns):
            c.send("SET_CHECKPOINT many-%s-%d %d\n" % (tag, i, i) if step == "SET" else "PING\n")
        for i, c in enumerate(conns):
            try:
                reply = c.readline()
            except (OSError, ssl.SSLError) as e:
                reply = repr(e)
            want = "OK" if step == "SET" else "PONG"
            if reply == want and step == "SET":
                acked["many-%s-%d" % (tag, i)] = str(i)
            elif reply != want and len(v) < 20:
                v.append("TLS connection %d: %s got %r" % (i, step, reply))
    for c in conns:
        c.close()
    return {"violations": v, "acked": acked, "opened": len(conns), "clients": clients}


def sc_tls_many(ctx, z):
    n = z["tls_conns"]
    res = run_workers(_tls_many_worker,
                      [(ctx.port, ctx.d.tls_port, ctx.d.pki.ca.crt, ctx.tag, n)])[0]
    v = list(res.get("violations", []))
    if res.get("clients", 0) < n + ctx.base_clients:
        v.append("the daemon served %d clients with the %d TLS ones open" %
                 (res.get("clients", 0), n))
    return {"summary": "%d TLS connections open at once (the daemon saw %d clients), each "
                       "SET and PING: %d acked" % (res.get("opened", 0), res.get("clients", 0),
                                                   len(res.get("acked", {}))),
            "violations": v, "acked": res.get("acked", {}), "conns": [(n, True, False, True)]}


def sc_tls_reneg(ctx, z):
    n = z["tls_reneg"]
    before = tls_counters(ctx)["tls_renegotiations_refused"]
    v, acked, lock = [], {}, threading.Lock()

    def attempt(i):
        key = "reneg-%s-%d" % (ctx.tag, i)
        replied, out, code = tlstools.renegotiate(ctx.d.tls_port, ctx.d.pki.ca.crt,
                                                  "SET_CHECKPOINT %s r%d" % (key, i), "OK")
        with lock:
            if replied:
                acked[key] = "r%d" % i
            if not replied or "no renegotiation" not in out or code == 0:
                v.append("renegotiation %d: not refused as it should be (exit %r): %r" %
                         (i, code, out[-300:]))

    for start in range(0, n, 8):  # 8 s_client processes at a time
        ts = [threading.Thread(target=attempt, args=(i,)) for i in range(start, min(n, start + 8))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    got = harness.wait_until(
        lambda: tls_counters(ctx)["tls_renegotiations_refused"] == before + n, timeout=NO_PROGRESS)
    if not got:
        v.append("tls_renegotiations_refused grew by %d, not %d" %
                 (tls_counters(ctx)["tls_renegotiations_refused"] - before, n))
    return {"summary": "%d renegotiations asked for (openssl s_client R): %d refused, %d SETs "
                       "before them acked" % (
                           n, tls_counters(ctx)["tls_renegotiations_refused"] - before,
                           len(acked)),
            "violations": v, "acked": acked, "conns": [(8, True, False, True)]}


SCENARIOS = [
    ("baseline", sc_baseline),
    ("idle+write", sc_idle_writers),
    ("slowloris", sc_slowloris),
    ("no-read", sc_no_read),
    ("random", sc_random),
    ("half-open", sc_half_open),
    ("pipeline", sc_pipeline),
    ("auth-storm", sc_auth_storm),
    ("tls-storm", sc_tls_storm),
    ("tls-many", sc_tls_many),
    ("tls-reneg", sc_tls_reneg),
]


# ------------------------------------------------------------------- runner

class Context:
    def __init__(self, d, monitor):
        self.d = d
        self.monitor = monitor
        self.port = d.port
        self.tag = ""
        self.base_clients = 0
        self.start_rss = 0      # KiB, at the start of the current scenario
        self.start_stats = {}   # STATS at the start of the current scenario
        self.log_lines = []     # the daemon's stderr, over its restarts


def rss_bound_kib(start_rss_kib, start_stats, stats, conns, probes, asan=False):
    """The RSS bound of a scenario (see the top of this file), in KiB. It
    starts from the RSS at the scenario's start, which holds what the
    allocator kept from earlier scenarios, and adds the table's growth."""
    def table(st):
        return int(st.get("table_bytes", 0)) + 32 * int(st.get("entries", 0))
    table = max(0, table(stats) - table(start_stats))
    per = 0
    for count, sent, unread, *tls in list(conns) + [(probes + 1, True, False)]:
        per += count * (CONN_BASE + (CONN_IN if sent else 0) + (CONN_OUT if unread else 0) +
                        (CONN_TLS if tls and tls[0] else 0))
    grow = table + BATCH_ALLOWANCE + per
    if asan:
        # Redzones, shadow bytes and the blocks freed while buffers grew
        # (held in the quarantine): twice the bytes, plus the quarantine.
        grow = 2 * grow + ASAN_QUARANTINE_MB * MIB
    return int(((start_rss_kib * KIB + grow) * 1.10 + 16 * MIB) / KIB)


def run_scenario(ctx, name, fn, z, all_acked):
    """Runs one scenario with probes alongside; returns its table row."""
    row = {"scenario": name, "violations": []}
    if not ctx.d.alive():
        row["violations"].append("daemon not running before the scenario")
        return row
    ctx.tag = "%s%d" % (name.replace("+", "").replace("-", "")[:6], int(time.time() * 1000) % 100000)
    ctx.base_clients = int(ctx.d.stats()["clients"])
    ctx.monitor.reset()
    ctx.start_rss = ctx.monitor.peak
    ctx.start_stats = ctx.d.stats()
    probes = Probes(ctx.port, ctx.tag, z["probes"])
    ctx.base_clients = int(ctx.d.stats()["clients"])
    t0 = time.monotonic()
    try:
        res = fn(ctx, z)
    except Exception as e:  # a scenario bug must not hide the others
        import traceback
        res = {"summary": "scenario failed", "violations": ["%r\n%s" % (e, traceback.format_exc())]}
    pr = probes.finish()
    row["seconds"] = time.monotonic() - t0
    row["summary"] = res.get("summary", "")
    row["violations"] += res.get("violations", [])
    alive = ctx.d.alive()
    row["crashed"] = not alive
    if not alive:
        row["violations"].append("daemon died (exit %r): %s" %
                                 (ctx.d.proc.returncode, ctx.d.log()[-2000:]))
    lat_all = pr["lat"]["set"] + pr["lat"]["get"]
    row.update({
        "probe_ops": len(lat_all),
        "set_p50": percentile(pr["lat"]["set"], 0.50) * 1000,
        "set_p99": percentile(pr["lat"]["set"], 0.99) * 1000,
        "get_p50": percentile(pr["lat"]["get"], 0.50) * 1000,
        "get_p99": percentile(pr["lat"]["get"], 0.99) * 1000,
        "probe_errors": pr["errors"],
    })
    if pr["errors"]:
        row["violations"].append("probes: %d errors, e.g. %s" % (pr["errors"], pr["samples"][:3]))
    row["peak_rss_mib"] = ctx.monitor.peak_kib() / 1024
    acked = dict(res.get("acked", {}))
    acked.update(pr["acked"])
    row["acked"] = len(acked)
    if alive:
        stats = ctx.d.stats()
        row["rss_bound_mib"] = rss_bound_kib(ctx.start_rss, ctx.start_stats, stats,
                                             res.get("conns", []), z["probes"],
                                             ctx.d.asan) / 1024
        if row["peak_rss_mib"] > row["rss_bound_mib"]:
            row["violations"].append("peak RSS %.0f MiB beyond the bound %.0f MiB" %
                                     (row["peak_rss_mib"], row["rss_bound_mib"]))
        lost, samples = verify(ctx.port, acked)
        row["lost"] = lost
        if lost:
            row["violations"].append("%d acknowledged writes lost or wrong, e.g. %s" % (lost, samples))
    else:
        row["rss_bound_mib"] = float("nan")
        row["lost"] = None
    all_acked.update(acked)
    return row


def final_restart(ctx, all_acked):
    """kill -9, restart on the same data dir, check every acknowledged write."""
    row = {"scenario": "kill -9 + restart", "violations": [], "summary": "", "seconds": 0.0}
    t0 = time.monotonic()
    was_alive = ctx.d.alive()
    if not was_alive:
        row["violations"].append("daemon was not running before the final kill")
    ctx.log_lines += ctx.d.log().splitlines()
    ctx.d.kill()
    ctx.d.start()
    ctx.port = ctx.d.port
    ctx.monitor.reset()
    lost, samples = verify(ctx.port, all_acked)
    row["summary"] = "replayed; %d acknowledged writes of all scenarios checked" % len(all_acked)
    row["lost"] = lost
    row["acked"] = len(all_acked)
    row["crashed"] = not ctx.d.alive()
    row["peak_rss_mib"] = ctx.monitor.peak_kib() / 1024
    if lost:
        row["violations"].append("%d acknowledged writes lost after restart, e.g. %s" % (lost, samples))
    code = ctx.d.stop()
    ctx.log_lines += ctx.d.log().splitlines()
    if code != 0:
        row["violations"].append("daemon exited %r on SIGTERM" % code)
    row["seconds"] = time.monotonic() - t0
    return row


def fmt(x, spec="%.1f"):
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return spec % x


def print_table(rows, out=sys.stdout):
    hdr = ["scenario", "secs", "probe ops", "SET p50/p99 ms", "GET p50/p99 ms", "probe errs",
           "peak RSS MiB", "RSS bound MiB", "acked writes", "lost", "crashed", "result"]
    table = [hdr]
    for r in rows:
        table.append([
            r["scenario"], fmt(r.get("seconds"), "%.0f"), fmt(r.get("probe_ops"), "%d"),
            "%s / %s" % (fmt(r.get("set_p50")), fmt(r.get("set_p99"))),
            "%s / %s" % (fmt(r.get("get_p50"), "%.2f"), fmt(r.get("get_p99"), "%.2f")),
            fmt(r.get("probe_errors"), "%d"), fmt(r.get("peak_rss_mib"), "%.0f"),
            fmt(r.get("rss_bound_mib"), "%.0f"), fmt(r.get("acked"), "%d"), fmt(r.get("lost"), "%d"),
            "yes" if r.get("crashed") else "no", "FAIL" if r["violations"] else "ok"])
    widths = [max(len(str(row[i])) for row in table) for i in range(len(hdr))]
    lines = []
    for k, row in enumerate(table):
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
        if k == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines), file=out)
    print("", file=out)
    for r in rows:
        print("%-18s %s" % (r["scenario"] + ":", r.get("summary", "")), file=out)
    for r in rows:
        for msg in r["violations"]:
            print("VIOLATION %s: %s" % (r["scenario"], msg), file=out)


def nofile_needed(z):
    return max(z["idle"] + z["writers"], z["slow_conns"]) + 4096


def run(size="full", only=None, log=print):
    """Starts a daemon, runs the scenarios, kills -9 and restarts it, and
    returns the rows. Every scenario is bounded; none needs a human."""
    z = SIZES[size]
    need = nofile_needed(z)
    have = raise_nofile(need)
    if have < need:
        raise SystemExit("RLIMIT_NOFILE is %d, %d needed (run as root, or raise the hard limit)"
                         % (have, need))
    d = LoadDaemon(nofile=need, max_clients=need - 1024, tls=True)
    d.start()
    monitor = RssMonitor(d)
    monitor.start()
    ctx = Context(d, monitor)
    rows, all_acked = [], {}
    try:
        for name, fn in SCENARIOS:
            if only and name not in only:
                continue
            log("== %s" % name)
            row = run_scenario(ctx, name, fn, z, all_acked)
            log("   %s%s" % (row.get("summary", ""),
                             "" if not row["violations"] else "  [%d violations]" % len(row["violations"])))
            rows.append(row)
            if row.get("crashed"):
                break
        log("== kill -9 + restart")
        rows.append(final_restart(ctx, all_acked))
    finally:
        monitor.stop_evt.set()
        d.cleanup()
    # What the daemon complained about: not violations by themselves.
    for level in ("warn", "error"):
        lines = [ln for ln in ctx.log_lines if "[%s]" % level in ln]
        if lines:
            log("daemon logged %d %s lines, e.g. %s" % (len(lines), level, lines[0]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized counts")
    ap.add_argument("--only", help="comma-separated scenario names (%s)" %
                    ", ".join(n for n, _ in SCENARIOS))
    ap.add_argument("--build-dir", help="where statestored was built (default ./build)")
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    a = ap.parse_args()
    if a.build_dir:
        harness.BUILD_DIR = a.build_dir
    only = set(a.only.split(",")) if a.only else None
    t0 = time.monotonic()
    rows = run("quick" if a.quick else "full", only,
               log=lambda m: print(m, file=sys.stderr, flush=True))
    print("statestored load run: %s size, %d cores, %.0f s" %
          ("quick" if a.quick else "full", os.cpu_count(), time.monotonic() - t0))
    print_table(rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1, default=str)
    bad = sum(len(r["violations"]) for r in rows)
    print("\n%s" % ("OK: no violations" if not bad else "FAILED: %d violations" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
