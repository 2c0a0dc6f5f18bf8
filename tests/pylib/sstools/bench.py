"""Small helpers for scripts/bench.sh; everything heavy is statestore-bench.

  bench_util.py fsync DIR N          mean fdatasync latency of DIR's disk (us):
                                     appending, and overwriting pre-zeroed space
  bench_util.py cmd PORT LINE [--redis]
                                     send one command; print "<ms> <reply>"
  bench_util.py restart PORT KEY VALUE [--redis] -- CMD...
                                     start CMD, time until GET KEY returns VALUE,
                                     print seconds, then SIGTERM CMD and wait
  bench_util.py watch-compactions PORT SECONDS
                                     poll STATS; for the compactions that finish,
                                     print "<n> <loop max: median> <max>
                                     <start + finish: median> <max>" (us)
  bench_util.py report FACTS RESULTS [STATS]
                                     print the markdown report of a bench.sh run
  bench_util.py report-tls FACTS RESULTS
                                     the same for a BENCH_TLS=1 run: the TLS rows
  bench_util.py report-repl FACTS RESULTS LAG [STATS]
                                     the same for a BENCH_REPL=1 run: the
                                     replication rows and the replica's lag
  bench_util.py repl-lag PRIMARY_PORT REPLICA_PORT OUT WARMUP SECONDS
                                     connect, create OUT.ready, wait for OUT.go
                                     to exist (the load starts), then from
                                     WARMUP s on for SECONDS s measure a
                                     statestored replica's lag behind its
                                     primary (see repl_lag); write the samples
                                     to OUT as "<kind> <value>" lines
  bench_util.py list PORT N          walk LIST_CHECKPOINTS from cursor 0 at the
                                     default COUNT; print "<total s> <entries seen>
                                     <calls> <longest call's round trip, us>
                                     <loop iterations over 1 ms> <over 2 ms>";
                                     fail unless exactly N entries were seen
  bench_util.py watch-disk DIR SECONDS [STOP_FILE]
                                     sum the sizes of DIR's files every 50 ms for
                                     SECONDS or until STOP_FILE exists; print
                                     "<peak bytes> <samples>"
  bench_util.py scale-report FACTS RUNS OUT.md
                                     the report of a BENCH_SCALE=1 run: write
                                     OUT.md (and print it), OUT.csv (the growth
                                     table's figures), and beside them
                                     scale-growth.png and latency.png
  bench_util.py plot-scale CSV PNG   gnuplot: the growth curves of a scale.csv
  bench_util.py plot-latency RESULTS PNG [WORKLOAD...]
                                     gnuplot: p50/p99/p99.9/max of statestored
                                     and Redis (medians over the rounds) for each
                                     WORKLOAD of a bench.sh CSV (set50 get50)
"""
import csv
import io
import math
import os
import random
import threading
import signal
import statistics
import subprocess
import sys
import time

from .client import Client


def fsync_latency(directory, n):
    """Returns (append_us, prezeroed_us): the mean time of one small write +
    fdatasync, first growing a file (each sync also commits the new size),
    then overwriting space that was zero-filled and synced beforehand (the
    case a log with preallocation hits)."""
    rec = b"x" * 63 + b"\n"
    path = os.path.join(directory, "fsync-probe")
    out = []
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            t0 = time.perf_counter()
            for _ in range(n):
                os.write(fd, rec)
                os.fdatasync(fd)
            out.append((time.perf_counter() - t0) / n * 1e6)
            # Pre-zeroed: fill well past what the loop will touch, sync it.
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"\0" * (n * len(rec) + 4096), 0)
            os.fsync(fd)
            t0 = time.perf_counter()
            for i in range(n):
                os.pwrite(fd, rec, i * len(rec))
                os.fdatasync(fd)
            out.append((time.perf_counter() - t0) / n * 1e6)
        finally:
            os.close(fd)
    finally:
        os.unlink(path)
    return out


def try_get(port, redis, key):
    try:
        c = Client(port, timeout=5.0, redis=redis)
    except OSError:
        return None
    try:
        return c.call("GET" if redis else "GET_CHECKPOINT", key)
    except OSError:
        return None
    finally:
        c.close()


def restart_time(port, redis, key, value, cmd):
    """Starts cmd and returns the seconds until GET key answers value. A Redis
    still loading its AOF answers -LOADING, which does not count."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while True:
            got = try_get(port, redis, key)
            if got == value:
                return time.monotonic() - t0
            if proc.poll() is not None:
                raise SystemExit("server exited with %d while starting" % proc.returncode)
            if time.monotonic() - t0 > 600:
                raise SystemExit("server not serving %s after 600 s" % key)
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# Columns of statestore-bench --csv (see SS_BENCH_CSV_HEADER in bench.h).
CSV_COLUMNS = ("mode requests seconds ops_per_sec p50_us p99_us p999_us max_us mean_us errors "
               "misses lost max_gap_us next_seq").split()

WORKLOADS = [
    ("set50", "ss", "redis", "SET, 50 connections"),
    ("set1", "ss", "redis", "SET, 1 connection"),
    ("get50", "ss", "redis", "GET, 50 connections (after prefill)"),
    ("nosync50", "ss", "ss-nosync", "SET, 50 connections, durable vs no-fdatasync build"),
    ("cas50", "ss", "ss-cas", "SET vs CAS, 50 connections, one pipeline each"),
    ("mset1", "ss", "redis", "multi-commit of 100 pipelines, 1 connection (Redis: MSET)"),
    ("mset50", "ss", "redis", "multi-commit of 100 pipelines, 50 connections (Redis: MSET)"),
    ("resp50", "ss", "ss-resp", "SET, 50 connections, text protocol vs RESP"),
    ("rb-set50", "ss", "redis", "redis-benchmark SET, 50 connections"),
    ("rb-set50p16", "ss", "redis", "redis-benchmark SET, 50 connections, -P 16"),
    ("rb-get50", "ss", "redis", "redis-benchmark GET, 50 connections (after prefill)"),
    # One run of three systems: statestored over TLS and in plaintext, Redis
    # over TLS.
    ("rb-tls-set50", "ss-tls", "redis-tls", "redis-benchmark SET, 50 connections, over TLS"),
    ("rb-tls-set50", "ss", "ss", "redis-benchmark SET, 50 connections, plaintext beside TLS"),
    ("rb-tls-set50p16", "ss-tls", "redis-tls",
     "redis-benchmark SET, 50 connections, -P 16, over TLS"),
    ("rb-tls-set50p16", "ss", "ss",
     "redis-benchmark SET, 50 connections, -P 16, plaintext beside TLS"),
]
NAMES = {"ss": "statestored", "redis": "Redis", "ss-nosync": "statestored nosync",
         "ss-cas": "statestored CAS", "ss-resp": "statestored RESP",
         "ss-tls": "statestored TLS", "redis-tls": "Redis TLS"}
MSET_PAIRS = 100  # pipelines per multi-commit in bench.sh's mset workloads
TODAY_BYTES_PER_ENTRY = 42  # before revisions and history (issue 13)


def watch_compactions(port, seconds):
    """Polls STATS every 50 ms for seconds; for every compaction that
    finished meanwhile, its longest loop iteration and its own stall (start
    + finish), both in us. Returns (loop_max list, stall list)."""
    c = Client(port, timeout=60.0)
    loops, stalls, seen = [], [], None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st = c.stats()
        n = st["compactions"]
        if seen is not None and n != seen:
            loops.append(int(st["last_compaction_loop_max_us"]))
            stalls.append(int(st["last_compaction_stall_us"]))
        seen = n
        time.sleep(0.05)
    c.close()
    return loops, stalls


def read_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            facts[k] = v
    return facts


def read_results(path):
    """Returns {(workload, system): [row dict, ...]} from bench.sh's CSV."""
    runs = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 3 + len(CSV_COLUMNS):
                continue
            row = dict(zip(CSV_COLUMNS, parts[3:]))
            for k in CSV_COLUMNS[1:]:
                row[k] = float(row[k])
            runs.setdefault((parts[0], parts[1]), []).append(row)
    return runs


def read_stats(path):
    """Returns {(workload, system): [{stat: float}, ...]} from bench.sh's
    stats file: lines "workload system round name=value ..."."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            row = {}
            for kv in parts[3:]:
                k, _, v = kv.partition("=")
                try:
                    row[k] = float(v)
                except ValueError:
                    pass
            out.setdefault((parts[0], parts[1]), []).append(row)
    return out


def med(rows, key):
    return statistics.median(r[key] for r in rows) if rows else float("nan")


def verdict(ok):
    return "**pass**" if ok else "**FAIL**"


def us(v):
    """A latency cell: redis-benchmark reports no p99.9 (nan in the CSV)."""
    return "-" if math.isnan(v) else "%.0f" % v


def ratio_cell(runs, wl, a, b, need, p99=False):
    """(measured cell, verdict cell) of A against B in workload wl, or None
    when the run has no such rows. The ratio is the median of each round's
    A/B: the two runs of a round are back to back, so slow drift in the
    machine (other work on the disk) cancels better than in a ratio of
    medians. p99: show both sides' median p99 too, and pass only without
    error replies (redis-benchmark counts an error as a request done).
    need None: a figure to report, with no goal."""
    ra, rb = runs.get((wl, a), []), runs.get((wl, b), [])
    if not (ra and rb):
        return None
    x, y = med(ra, "ops_per_sec"), med(rb, "ops_per_sec")
    pairs = [p["ops_per_sec"] / q["ops_per_sec"] for p, q in zip(ra, rb)
             if q["ops_per_sec"] > 0]
    r = statistics.median(pairs) if pairs else float("nan")
    ok = need is None or r >= need
    more = ""
    if p99:
        errs = int(sum(p["errors"] for p in ra + rb))
        ok = ok and errs == 0
        more = "; p99 %.2f vs %.2f ms%s" % (
            med(ra, "p99_us") / 1000, med(rb, "p99_us") / 1000,
            "; %d error replies" % errs if errs else "")
    return ("%.2fx (%.0f vs %.0f ops/s%s)" % (r, x, y, more),
            "-" if need is None and ok else verdict(ok))


def cpu_ns(facts, wl, sysname):
    """The median of the server's CPU time per request over a workload's
    rounds (bench.sh's cpu_ns facts), in ns; nan if none."""
    vals = [float(v) for k, v in facts.items()
            if k.startswith("cpu_ns.%s.%s." % (wl, sysname))]
    return statistics.median(vals) if vals else float("nan")


# ---- the replication mode (BENCH_REPL=1) ----

PROBE_KEY = "bench-repl-probe"  # outside the load's key space (pipelineNNNNNNNN)


def replica_rows(stats):
    """The primary's STATS rows replica<i>: {id: {field: value}}, parsed from
    "id=<ip:port>,state=online,acked=<rev>,lag_revisions=<n>,lag_ms=<ms>,..."."""
    out = {}
    for k, v in stats.items():
        if k.startswith("replica") and k[7:].isdigit():
            row = dict(kv.partition("=")[::2] for kv in v.split(","))
            out[row.get("id", k)] = row
    return out


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def repl_lag(pport, rport, out, warmup, seconds):
    """Measures a statestored replica's lag behind its primary while a load
    runs on the primary: connects, creates out + ".ready", waits for out +
    ".go" (bench.sh starts the load as it creates it), then measures from
    warmup seconds on for seconds. Two threads, each with its own
    connections:

    - The prober writes PROBE_KEY on the primary (SET_CHECKPOINT, a new
      value each time), notes when the primary's OK arrives (the write is
      acknowledged: in sync mode, durable on both nodes), then asks the
      replica for the key (GETREV_CHECKPOINT) back to back until the new
      value is there, and notes when that reply arrives. probe_ms is the
      difference: an upper bound of the time from acknowledgement to
      visibility on the replica, over by at most one replica round trip
      (poll_us, also recorded). Then it waits 2-8 ms (random, so as not to
      fall into step with the group commits) and writes again.
    - The sampler, every 10 ms, reads STATS revision on the primary, on the
      replica, and on the primary again: rev is the replica's applied
      revision behind the mean of the two primary readings (the two
      bracket the instant the replica answered; rev_bracket, their
      difference, is the reading's uncertainty). It also keeps the daemon's
      own figures: the replica's lag_revisions and lag_ms (d_rev, d_ms) and
      the primary's replica row's (p_rev, p_ms).

    Returns [(kind, value)]."""
    samples = []
    errors = []
    lock = threading.Lock()
    conns = [Client(pport, timeout=60.0), Client(rport, timeout=60.0),
             Client(pport, timeout=60.0), Client(rport, timeout=60.0)]

    def add(kind, v):
        with lock:
            samples.append((kind, v))

    def prober():
        p, r = conns[0], conns[1]
        try:
            v = 0
            while time.time() < end:
                v += 1
                want = "%010d" % v
                t0 = time.perf_counter()
                reply = p.call("SET_CHECKPOINT", PROBE_KEY, want)
                ta = time.perf_counter()
                if reply != "OK":
                    raise RuntimeError("the probe's SET_CHECKPOINT replied %r" % reply)
                add("probe_ack_ms", (ta - t0) * 1e3)
                while True:
                    t1 = time.perf_counter()
                    got = r.call("GETREV_CHECKPOINT", PROBE_KEY)
                    t2 = time.perf_counter()
                    add("poll_us", (t2 - t1) * 1e6)
                    if got is not None and got.partition(" ")[2] == want:
                        add("probe_ms", (t2 - ta) * 1e3)
                        break
                    if t2 - ta > 30:
                        raise RuntimeError("probe value %s not on the replica after 30 s" % want)
                time.sleep(random.uniform(0.002, 0.008))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append("prober: %s" % e)
        finally:
            p.close()
            r.close()

    def sampler():
        p, r = conns[2], conns[3]
        try:
            while time.time() < end:
                a = p.stats()
                b = r.stats()
                c = p.stats()
                ra, rb, rc = num(a.get("revision")), num(b.get("revision")), num(c.get("revision"))
                if None in (ra, rb, rc):
                    raise RuntimeError("no revision in STATS")
                add("rev", max(0.0, (ra + rc) / 2 - rb))
                add("rev_bracket", rc - ra)
                for kind, key in (("d_rev", "lag_revisions"), ("d_ms", "lag_ms")):
                    x = num(b.get(key))
                    if x is not None:
                        add(kind, x)
                for row in replica_rows(c).values():
                    for kind, key in (("p_rev", "lag_revisions"), ("p_ms", "lag_ms")):
                        x = num(row.get(key))
                        if x is not None:
                            add(kind, x)
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001
            errors.append("sampler: %s" % e)
        finally:
            p.close()
            r.close()

    with open(out + ".ready", "w"):
        pass
    deadline = time.monotonic() + 60
    while not os.path.exists(out + ".go"):
        if time.monotonic() > deadline:
            raise SystemExit("repl-lag: no %s.go after 60 s" % out)
        time.sleep(0.002)
    end = time.time() + warmup + seconds
    time.sleep(warmup)
    threads = [threading.Thread(target=f) for f in (prober, sampler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("repl-lag: " + "; ".join(errors))
    for kind in ("probe_ms", "rev"):
        if not any(k == kind for k, _ in samples):
            raise SystemExit("repl-lag: no %s sample in %.1f s" % (kind, seconds))
    return samples


def read_lag(path):
    """{kind: [values]} from bench.sh's lag file: "<round> <kind> <value>"."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                out.setdefault(parts[1], []).append(float(parts[2]))
    return out


def pct(values, q):
    """The q-th percentile (nearest rank) of values, or nan."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


REPL_NAMES = {"ss": "statestored, one node", "ss-pair": "statestored primary + 1 sync replica",
              "ss-pair-wait": "statestored primary + 1 sync replica",
              "redis-pair": "Redis primary + 1 replica"}

WAIT_NOTE = (
    "Redis runs `WAIT 1 0` after each SET, not the issue's `WAITAOF 1 1 0`: the installed "
    "redis-server is %s, and WAITAOF came in 7.2 (Debian's candidate is the same 7.0). With "
    "`appendfsync always` on both nodes, WAIT 1 gives the same guarantee on 7.0: the primary "
    "writes the SET's reply only after its own AOF fdatasync (beforeSleep calls "
    "flushAppendOnlyFile before handleClientsWithPendingWritesUsingThreads), and WAIT answers "
    "only once the replica's REPLCONF ACK covers the SET's offset; the replica queues that ACK "
    "(replicationSendAck, on the primary's REPLCONF GETACK or its once-a-second cron) as a "
    "reply in its pending-write queue, and its beforeSleep fsyncs the AOF, which holds every "
    "command the ACK's offset covers, before it writes any pending reply (src/server.c and "
    "src/replication.c of Redis 7.0.15). One gap that WAITAOF closes: an ACK queued behind a "
    "reply the socket had not taken yet goes out from the write handler, which can run before "
    "that fsync; on loopback with 40-byte ACKs this does not occur in practice.")


def report_repl(facts, runs, lag, stats):
    """BENCH_REPL=1's table."""
    out = ["Measured %s on %s, %s cores (load average at start %s); data directories under "
           "build/ on %s (%s; fdatasync of a small append %s us). statestored %s (Release), "
           "redis-server %s with appendonly yes, appendfsync always on both nodes; every run on "
           "fresh servers and empty directories, the systems alternating in each round; median "
           "of %s rounds of %s s (after %s s warmup; redis-benchmark runs about %s s). SET on "
           "%s random keys, %s-byte values, 50 connections, one request in flight each. "
           "Command: `%s`" % (
               facts.get("date"), facts.get("cpu"), facts.get("cores"), facts.get("loadavg"),
               facts.get("disk"), facts.get("fs"), facts.get("fsync_append_us"),
               facts.get("commit"), facts.get("redis"), facts.get("rounds"),
               facts.get("seconds"), facts.get("warmup"), facts.get("resp_seconds"),
               facts.get("rb_keys"), facts.get("rb_value"), facts.get("command", "").strip()),
           "", "| Target | Goal | Measured | |", "|---|---|---|---|"]
    for label, goal, wl, a, b, need in (
            ("SET at 50 connections: statestored primary + 1 sync replica vs Redis primary + 1 "
             "replica, SET + WAIT 1 0 (statestore-bench --redis, both)",
             ">= 1.5x", "repl-set50", "ss-pair", "redis-pair", 1.5),
            ("the same, statestored's clients sending Redis's bytes: SET + WAIT 1 0",
             "report", "repl-set50", "ss-pair-wait", "redis-pair", None),
            ("the same, statestored one node vs the Redis pair", "report", "repl-set50", "ss",
             "redis-pair", None),
            ("what the sync replica costs statestored (statestore-bench --redis)",
             "report: pair vs one node", "repl-set50", "ss-pair", "ss", None),
            ("what the sync replica costs statestored (redis-benchmark -t set -c 50)",
             "report: pair vs one node", "repl-rb-set50", "ss-pair", "ss", None)):
        cell = ratio_cell(runs, wl, a, b, need, p99=True)
        if cell:
            ra, rb = runs.get((wl, a), []), runs.get((wl, b), [])
            rounds = " ".join("%.2f" % (p["ops_per_sec"] / q["ops_per_sec"])
                              for p, q in zip(ra, rb) if q["ops_per_sec"] > 0)
            out.append("| %s | %s | %s%s | %s |" % (
                label, goal, cell[0], "; rounds %s" % rounds if len(ra) > 1 else "",
                cell[1]))
    probe, rev = lag.get("probe_ms", []), lag.get("rev", [])
    if probe:
        out.append("| replica lag under the sync pair's load: acknowledgement on the primary to "
                   "visible on the replica | report, p50 / p99 | %.2f / %.2f ms (%d probes; "
                   "max %.2f ms) | - |" % (pct(probe, 50), pct(probe, 99), len(probe),
                                           max(probe)))
    if rev:
        out.append("| replica lag under the sync pair's load, in revisions (applied on the "
                   "primary minus applied on the replica) | report, p50 / p99 | %.1f / %.1f "
                   "(%d samples; max %.1f) | - |" % (pct(rev, 50), pct(rev, 99), len(rev),
                                                     max(rev)))
    out += ["", "| Load | System | each client sends | ops/s | p50 us | p99 us | max us | "
            "errors | runs (ops/s) |", "|---|---|---|---|---|---|---|---|---|"]
    sends = {("repl-set50", "redis-pair"): "RESP SET, then WAIT 1 0 (one request, done at "
                                           "WAIT's reply)",
             ("repl-set50", "ss-pair-wait"): "RESP SET, then WAIT 1 0, as Redis's clients",
             ("repl-rb-set50", "redis-pair"): "RESP SET only: asynchronous replica, a weaker "
                                              "guarantee, for scale"}
    for wl, gen in (("repl-set50", "statestore-bench --redis"),
                    ("repl-rb-set50", "redis-benchmark -t set"),
                    ("repl-lag", "statestore-bench --redis, with the lag prober")):
        for sysname in ("ss", "ss-pair", "ss-pair-wait", "redis-pair"):
            rows = runs.get((wl, sysname), [])
            if not rows:
                continue
            out.append("| %s | %s | %s | %.0f | %s | %s | %s | %d | %s |" % (
                gen, REPL_NAMES[sysname], sends.get((wl, sysname), "RESP SET"),
                med(rows, "ops_per_sec"), us(med(rows, "p50_us")), us(med(rows, "p99_us")),
                us(med(rows, "max_us")), sum(r["errors"] for r in rows),
                " ".join("%.0f" % r["ops_per_sec"] for r in rows)))
    if lag:
        out += ["", "Replica lag (ss-pair, during the runs of the last block above):", "",
                "| figure | how | samples | p50 | p99 | max |", "|---|---|---|---|---|---|"]
        for kind, what, how in (
                ("probe_ms", "acknowledged to visible, ms",
                 "a probe write's OK from the primary, then GETREV on the replica until it "
                 "shows it; upper bound, over by at most one poll"),
                ("poll_us", "one replica poll's round trip, us", "the probe's resolution"),
                ("probe_ack_ms", "the probe write's own acknowledgement, ms",
                 "SET_CHECKPOINT on the primary, text protocol"),
                ("rev", "revisions behind",
                 "STATS revision: the mean of two primary readings around one replica reading"),
                ("rev_bracket", "revisions between those two primary readings",
                 "the revision figure's uncertainty"),
                ("d_rev", "revisions behind, the replica's lag_revisions", "the daemon's own"),
                ("d_ms", "ms behind, the replica's lag_ms", "the daemon's own"),
                ("p_rev", "revisions behind, the primary's replica row", "the daemon's own"),
                ("p_ms", "ms behind, the primary's replica row", "the daemon's own")):
            v = lag.get(kind, [])
            if v:
                out.append("| %s | %s | %d | %.2f | %.2f | %.2f |" % (
                    what, how, len(v), pct(v, 50), pct(v, 99), max(v)))
            elif kind[0] in "dp":
                out.append("| %s | %s | 0 | - | - | - |" % (what, "not in this daemon's STATS"))
    durable = sorted((k, v) for k, v in facts.items() if k.startswith("durable_at_stop."))
    if durable:
        bad = [(k, v) for k, v in durable if int(v.split()[0]) < int(v.split()[1])]
        out += ["", "After each statestored pair run the replica's durable_revision was %s the "
                "primary's revision (%d runs%s)." % (
                    "at least" if not bad else "NOT always at least", len(durable),
                    "; behind in: " + ", ".join("%s (%s)" % (k.split(".", 1)[1], v)
                                                for k, v in bad) if bad else "")]
    prim = stats.get(("repl-set50", "ss-pair-primary"), [])
    rep = stats.get(("repl-set50", "ss-pair-replica"), [])
    single = stats.get(("repl-set50", "ss"), [])

    def sm(rows, key):
        vals = [r[key] for r in rows if key in r]
        return statistics.median(vals) if vals else float("nan")

    if prim and single:
        out += ["", "The daemons' own counters after the statestore-bench runs (medians): "
                "records per group commit %.1f on one node, %.1f on the primary; longest loop "
                "iteration %.1f ms on one node, %.1f ms on the primary, %.1f ms on the "
                "replica; fdatasync mean %.0f us on one node, %.0f on the primary, %s; "
                "sync_waits %.0f, sync_timeouts %.0f." % (
                    sm(single, "batch_records_sum") / sm(single, "batch_records_count")
                    if sm(single, "batch_records_count") else float("nan"),
                    sm(prim, "batch_records_sum") / sm(prim, "batch_records_count")
                    if sm(prim, "batch_records_count") else float("nan"),
                    sm(single, "loop_max_us") / 1000, sm(prim, "loop_max_us") / 1000,
                    sm(rep, "loop_max_us") / 1000, sm(single, "fsync_us_mean"),
                    sm(prim, "fsync_us_mean"),
                    "%.0f on the replica" % sm(rep, "fsync_us_mean") if sm(rep, "fsyncs") > 0
                    else "the replica's STATS count none of its own (fsyncs 0 with "
                    "durable_revision %.0f)" % sm(rep, "durable_revision"),
                    sm(prim, "sync_waits"), sm(prim, "sync_timeouts"))]
    out += ["", "What each side runs. statestored: the client's RESP SET is acknowledged once "
            "the write is durable on the primary (fdatasync) and the sync replica has "
            "acknowledged it durably (its own fdatasync; --sync-replicas 1); the client sends "
            "nothing else; in the SET + WAIT row they send Redis's clients' bytes, and "
            "statestored's WAIT answers at once the replicas holding every acknowledged write "
            "(a count below 1 would be an error). Redis: "
            "SET, then WAIT 1 0 in the same write, the pair counted as one request and timed "
            "to WAIT's reply; a WAIT that counts no replica is an error. " +
            WAIT_NOTE % facts.get("redis", "?"),
            "",
            "Replica lag: the lag rows' load is the statestore-bench load above plus one "
            "prober connection writing one key and a sampler reading STATS every 10 ms (see "
            "repl_lag in tests/pylib/sstools/bench.py); their throughput row is for "
            "comparison with the same system's unprobed runs."]
    return "\n".join(out) + "\n"


def tls_rows(runs, facts):
    """The TLS trios' rows of the target table (none without their runs)."""
    out = []
    for wl, what in (("rb-tls-set50", "50 connections"),
                     ("rb-tls-set50p16", "50 connections, pipelined -P 16")):
        for label, goal, a, b, need in (
                ("RESP SET over TLS, %s (redis-benchmark --tls)" % what,
                 ">= 1.5x Redis over TLS, appendfsync always", "ss-tls", "redis-tls", 1.5),
                ("RESP SET over TLS vs plaintext, %s, same run (redis-benchmark)" % what,
                 "report: what TLS costs", "ss-tls", "ss", None)):
            cell = ratio_cell(runs, wl, a, b, need, p99=True)
            if cell:
                out.append("| %s | %s | %s | %s |" % (label, goal, cell[0], cell[1]))
        x, y, z = (cpu_ns(facts, wl, s) for s in ("ss-tls", "redis-tls", "ss"))
        if not math.isnan(x) and not math.isnan(y):
            out.append("| the servers' own CPU time per request over TLS, %s | report: less "
                       "than Redis over TLS | %.1f us vs %.1f us (%.2fx; statestored in "
                       "plaintext %.1f us) | - |" % (what, x / 1000, y / 1000, x / y, z / 1000))
    return out


def report_tls(facts, runs):
    """BENCH_TLS=1's table: the TLS trios' rows and their runs."""
    out = ["Measured %s on %s, %s cores; statestored %s (Release) vs redis-server %s with "
           "appendonly yes, appendfsync always, both serving TLS with the same EC P-256 "
           "certificate (OpenSSL's defaults: TLS 1.3). Load from redis-benchmark %s: SET on %s "
           "random keys, %s-byte values, 50 connections, unpipelined and -P 16; median of %s "
           "rounds of about %s s, "
           "the three systems alternating in each round. Command: `%s`" % (
               facts.get("date"), facts.get("cpu"), facts.get("cores"), facts.get("commit"),
               facts.get("redis"), facts.get("redis_benchmark"), facts.get("rb_keys"),
               facts.get("rb_value"), facts.get("rounds"), facts.get("resp_seconds"),
               facts.get("command", "").strip()), "",
           "| Target | Goal | Measured | |", "|---|---|---|---|"]
    out.extend(tls_rows(runs, facts))
    out += ["", "| Pipeline | System | ops/s | p50 | p99 | max | server CPU us/request | "
            "errors | runs (ops/s) |", "|---|---|---|---|---|---|---|---|---|"]
    for wl in ("rb-tls-set50", "rb-tls-set50p16"):
        for sysname in ("ss-tls", "ss", "redis-tls"):
            rows = runs.get((wl, sysname), [])
            if not rows:
                continue
            out.append("| %s | %s | %.0f | %s | %s | %s | %.1f | %d | %s |" % (
                "-P 16" if wl.endswith("p16") else "-P 1",
                NAMES[sysname], med(rows, "ops_per_sec"), us(med(rows, "p50_us")),
                us(med(rows, "p99_us")), us(med(rows, "max_us")),
                cpu_ns(facts, wl, sysname) / 1000, sum(r["errors"] for r in rows),
                " ".join("%.0f" % r["ops_per_sec"] for r in rows)))
    return "\n".join(out) + "\n"


def report(facts, runs, stats):
    def f(key, default=float("nan")):
        try:
            return float(facts[key])
        except (KeyError, ValueError):
            return default

    entries = int(f("entries", 0))
    n = "%gM" % (entries / 1e6) if entries >= 1000000 else "%dk" % (entries // 1000)
    out = []
    out.append("Measured %s on %s, %s cores, kernel %s (load average at start %s%s); "
               "data on %s." % (facts.get("date"), facts.get("cpu"), facts.get("cores"),
                                facts.get("kernel"), facts.get("loadavg"),
                                "" if facts.get("nice", "0") == "0"
                                else ", servers and clients at nice %s" % facts["nice"],
                                facts.get("disk")))
    out.append("fdatasync of a 64-byte write on that disk: %s us appending, %s us over "
               "pre-zeroed space (mean of %s)." % (
                   facts.get("fsync_append_us"), facts.get("fsync_zeroed_us"),
                   facts.get("fsync_n")))
    out.append("statestored %s (Release) vs redis-server %s with appendonly yes, appendfsync "
               "always, no RDB; neither compacts by itself. Throughput: median of %s runs of "
               "%s s (after %s s warmup), each on a fresh server, systems alternating; a ratio is "
               "the median of the rounds' ratios. "
               "Command: `%s`" % (
                   facts.get("commit"), facts.get("redis"), facts.get("rounds"),
                   facts.get("seconds"), facts.get("warmup"), facts.get("command", "").strip()))
    if "redis_benchmark" in facts:
        rsecs = facts.get("resp_seconds", facts.get("seconds"))
        out.append("RESP rows: runs of %s s, alternating as above. Those of redis-benchmark take "
                   "their load from redis-benchmark %s (not ours), RESP SET/GET on %s random "
                   "keys (-r) with %s-byte values (-d), on statestored's one port and on Redis; "
                   "requests/s and p99 from its --csv. It stops after -n requests, so an "
                   "unmeasured warmup run of about %s s on the same fresh server sets -n to last "
                   "about %s s. Errors are the server's INFO total_error_replies." % (
                       rsecs, facts["redis_benchmark"], facts.get("rb_keys"),
                       facts.get("rb_value"), facts.get("warmup"), rsecs))
    out = ["\n\n".join(out), ""]
    out.append("| Target | Goal | Measured | |")
    out.append("|---|---|---|---|")

    def ratio_row(label, goal, wl, a, b, need, p99=False, optional=False):
        # optional: no row when the run has no such workload (an older run).
        cell = ratio_cell(runs, wl, a, b, need, p99)
        if cell is None:
            if optional:
                return
            cell = ("nan (no runs)", verdict(False))
        out.append("| %s | %s | %s | %s |" % (label, goal, cell[0], cell[1]))

    ratio_row("durable SET_CHECKPOINT, 50 connections", ">= 1.5x Redis appendfsync always",
              "set50", "ss", "redis", 1.5)
    ratio_row("durable SET_CHECKPOINT, 1 connection", ">= 1.2x Redis", "set1", "ss", "redis",
              1.2)
    ratio_row("durable SET 50 conns vs statestored nosync build", ">= 0.85x", "nosync50", "ss",
              "ss-nosync", 0.85)
    ratio_row("GET_CHECKPOINT 50 conns", ">= 1.0x Redis GET", "get50", "ss", "redis", 1.0)
    ratio_row("CAS_CHECKPOINT 50 conns, distinct pipelines", ">= 0.9x SET_CHECKPOINT on the "
              "same pipelines, same run", "cas50", "ss-cas", "ss", 0.9)
    ratio_row("RESP SET, 50 connections (redis-benchmark)", ">= 1.5x Redis appendfsync always",
              "rb-set50", "ss", "redis", 1.5, p99=True, optional=True)
    ratio_row("RESP SET, 50 connections, pipelined -P 16 (redis-benchmark)", ">= 1.5x Redis",
              "rb-set50p16", "ss", "redis", 1.5, p99=True, optional=True)
    ratio_row("RESP GET, 50 connections, after prefill (redis-benchmark)", ">= 1.0x Redis",
              "rb-get50", "ss", "redis", 1.0, p99=True, optional=True)
    ratio_row("RESP SET vs text SET_CHECKPOINT, 50 connections (statestore-bench)",
              ">= 0.9x text, same run", "resp50", "ss-resp", "ss", 0.9, p99=True, optional=True)
    out.extend(tls_rows(runs, facts))
    for wl, conns in (("mset1", "1 connection"), ("mset50", "50 connections")):
        ra, rb = runs.get((wl, "ss"), []), runs.get((wl, "redis"), [])
        if not ra:
            continue
        out.append("| multi-commit of %d pipelines, %s | report commits/s and p99 | "
                   "%.0f commits/s (%.0f pipelines/s), p99 %.1f ms; Redis MSET of %d keys: "
                   "%.0f/s, p99 %.1f ms | - |" % (
                       MSET_PAIRS, conns, med(ra, "ops_per_sec"),
                       med(ra, "ops_per_sec") * MSET_PAIRS, med(ra, "p99_us") / 1000,
                       MSET_PAIRS, med(rb, "ops_per_sec"), med(rb, "p99_us") / 1000))

    rs, rr = f("restart_ss_s"), f("restart_redis_s")
    out.append("| restart with %s log records over %s pipelines | >= 3x faster than Redis "
               "loading the same data from its AOF | %.2fx (%.2f s vs %.2f s) | %s |" % (
                   "%gM" % (2 * entries / 1e6) if entries >= 500000 else "%dk" % (
                       2 * entries // 1000), n, rr / rs, rs, rr, verdict(rr / rs >= 3)))
    per = {}
    for sysname in ("ss", "redis"):
        per[sysname] = (f("rss_%s_full_kb" % sysname) - f("rss_%s_empty_kb" % sysname)) \
            * 1024 / entries if entries else float("nan")
    r = per["ss"] / per["redis"]
    out.append("| resident memory per entry at %s entries (16-byte names, 10-digit values; "
               "default --history 4, each key written once) | "
               "<= 0.6x Redis | %.2fx (%.0f vs %.0f bytes) | %s |" % (
                   n, r, per["ss"], per["redis"], verdict(r <= 0.6)))
    if "rss_ss_h0_full_kb" in facts:
        for sysname in ("ss_h0", "ss_full"):
            per[sysname] = (f("rss_%s_full_kb" % sysname) - f("rss_%s_empty_kb" % sysname)) \
                * 1024 / entries if entries else float("nan")
        out.append("| the same with --history 0 | <= %d bytes (before revisions and history) | "
                   "%.1f bytes (default depth %.1f, Redis %.1f) | %s |" % (
                       TODAY_BYTES_PER_ENTRY, per["ss_h0"], per["ss"], per["redis"],
                       verdict(per["ss_h0"] <= TODAY_BYTES_PER_ENTRY)))
        out.append("| the same at the default depth (4), every key overwritten 4 times (a full "
                   "history) | report | %.1f bytes (%.2fx Redis) | - |" % (
                       per["ss_full"], per["ss_full"] / per["redis"]))
    gap_ms = f("compact_gap_us") / 1000
    loop_ms = f("compact_loop_max_us") / 1000
    lost = int(f("compact_lost_live", -1)) + int(f("compact_lost_restart", -1))
    errs = int(f("compact_writer_errors", -1))
    # Two views of the stall: the loop's longest iteration, timed inside the
    # daemon (STATS last_compaction_loop_max_us), which is what the target
    # names; and the longest wait of a client issuing GETs, which adds the
    # machine's scheduling and network delays to it.
    out.append("| COMPACT at %s entries: longest event-loop stall | <= 5 ms while writes "
               "continue, none lost | loop %.1f ms (start + finish %.1f ms); a GET client "
               "waited up to %.1f ms (%.1f ms without COMPACT); %d lost of %d acknowledged "
               "writes, %d refused | %s |" % (
                   n, loop_ms, f("compact_own_stall_us") / 1000, gap_ms,
                   f("compact_base_gap_us") / 1000, max(lost, 0),
                   int(f("compact_writes", 0)), max(errs, 0),
                   verdict(loop_ms <= 5 and lost == 0 and errs == 0)))
    if "churn_n" in facts:
        out.append("| COMPACT over and over (automatic, every %.0f MiB of log) while 8 "
                   "connections x 8 pipelined write 50 KB values | the loop never stalls long "
                   "(issue 11, item 21) | longest loop iteration per compaction: median %.1f ms, "
                   "max %.1f ms over %d compactions; start + finish median %.1f ms, max %.1f ms; "
                   "writers %.0f ops/s | - |" % (
                       f("churn_min_bytes") / 2**20, f("churn_loop_med_us") / 1000,
                       f("churn_loop_max_us") / 1000, int(f("churn_n")),
                       f("churn_stall_med_us") / 1000, f("churn_stall_max_us") / 1000,
                       f("churn_ops")))
    cms = f("compact_ms")
    out.append("| COMPACT at %s entries: total time | <= 0.5 s | %.3f s (reply %s) | %s |" % (
        n, cms / 1000, facts.get("compact_reply"), verdict(cms <= 500)))
    if "backup_ms" in facts:
        bloop = f("backup_loop_max_us") / 1000
        berrs = int(f("backup_writer_errors", -1))
        out.append("| BACKUP at %s entries while a 4-connection writer runs | the loop stalls "
                   "no more than for COMPACT (<= 5 ms), no write refused | %.3f s (reply %s); "
                   "loop %.1f ms; %d refused; the copy verifies clean | %s |" % (
                       n, f("backup_ms") / 1000, facts.get("backup_reply"), bloop,
                       max(berrs, 0), verdict(bloop <= 5 and berrs == 0)))
    out.append("")
    out.append("Throughput runs (medians; latency in us, per request, measured by the client):")
    out.append("")
    out.append("| Workload | System | ops/s | p50 | p99 | p99.9 | max | errors | runs (ops/s) |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for wl, a, b, label in WORKLOADS:
        for sysname in dict.fromkeys((a, b)):
            rows = runs.get((wl, sysname), [])
            if not rows:
                continue
            out.append("| %s | %s | %.0f | %s | %s | %s | %s | %d | %s |" % (
                label, NAMES[sysname], med(rows, "ops_per_sec"), us(med(rows, "p50_us")),
                us(med(rows, "p99_us")), us(med(rows, "p999_us")), us(med(rows, "max_us")),
                sum(r["errors"] for r in rows),
                " ".join("%.0f" % r["ops_per_sec"] for r in rows)))
    out.append("")
    out.append("Loading %s keys with 50 connections x 64 pipelined: statestored %.0f ops/s, "
               "Redis %.0f ops/s. Data directory after %s writes: statestored %.1f MB, "
               "Redis %.1f MB." % (n, f("load_ss_ops"), f("load_redis_ops"),
                                   "%d" % (2 * entries), f("logbytes_ss") / 1e6,
                                   f("logbytes_redis") / 1e6))
    out.append("COMPACT: a 4-connection writer ran at %.0f ops/s throughout (its slowest write "
               "%.1f ms); the GET prober's slowest reply took %.1f ms." % (
                   f("compact_writer_ops"), f("compact_writer_max_us") / 1000,
                   f("compact_probe_max_us") / 1000))
    lines = []
    for wl, a, b, label in WORKLOADS:
        for sysname in dict.fromkeys((a, b)):
            rows = [r for r in stats.get((wl, sysname), []) if r.get("fsyncs")]
            if not rows:
                continue
            per = statistics.median(r["commits"] / r["fsyncs"] for r in rows
                                    if "commits" in r)
            lines.append("| %s | %s | %.1f | %.0f | %.0f |" % (
                label, NAMES[sysname], per, med(rows, "fsync_us_mean"),
                med(rows, "fsync_us_max")))
    if lines:
        out.append("")
        out.append("Group commit, from the daemon's STATS after each run (medians; in the "
                   "nosync build the fdatasync is a no-op):")
        out.append("")
        out.append("| Workload | System | writes per fdatasync | fdatasync mean us | max us |")
        out.append("|---|---|---|---|---|")
        out.extend(lines)
    return "\n".join(out) + "\n"


# ---- scale mode (BENCH_SCALE=1) ---------------------------------------------

def list_all(port, timeout=600.0):
    """Walks LIST_CHECKPOINTS from cursor 0 to cursor 0 at the default COUNT,
    one call in flight. Returns (seconds, rows, calls, longest call in us,
    loop iterations over 1 ms, over 2 ms): a call's time runs from sending
    it to the end of its reply, so it holds a loopback round trip as well as
    the server's work; the iteration counts are the daemon's own
    (STATS loop_slow_1ms and loop_slow_2ms, read before and after), so on a
    daemon serving only this walk they count its slow calls exactly. The
    reply is not parsed row by row: a row is one line, and the reply is
    whole once it ends in a line END (a row has four fields, so never reads
    as END)."""
    c = Client(port, timeout=timeout)
    sock = c.sock
    cursor, rows, calls, longest = b"0", 0, 0, 0.0
    st0 = c.stats()
    t0 = time.perf_counter()
    try:
        while True:
            t = time.perf_counter()
            sock.sendall(b"LIST_CHECKPOINTS " + cursor + b"\n")
            data = bytearray()
            while not data.endswith(b"\nEND\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise SystemExit("list: the server closed the connection")
                data += chunk
                if data.startswith(b"ERR") and data.endswith(b"\n"):
                    raise SystemExit("list: LIST_CHECKPOINTS %s: %s" % (
                        cursor.decode(), data.decode(errors="replace").strip()))
            longest = max(longest, time.perf_counter() - t)
            head = bytes(data[:data.index(b"\n")])
            if not head.startswith(b"CURSOR "):
                raise SystemExit("list: a reply that does not start with CURSOR: %r" % head)
            cursor = head[7:]
            rows += data.count(b"\n") - 2
            calls += 1
            if cursor == b"0":
                break
        secs = time.perf_counter() - t0
        st1 = c.stats()
    finally:
        c.close()
    slow = [int(st1[k]) - int(st0[k]) for k in ("loop_slow_1ms", "loop_slow_2ms")]
    return secs, rows, calls, longest * 1e6, slow[0], slow[1]


def dir_bytes(directory):
    """The sum of st_size over the files in directory (not recursive); a file
    renamed or removed while we look is skipped."""
    total = 0
    with os.scandir(directory) as it:
        for e in it:
            try:
                if e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                pass
    return total


def watch_disk(directory, seconds, stop_file=None, interval=0.05):
    """Samples dir_bytes every interval for seconds, or until stop_file
    exists (then once more); returns (peak, samples)."""
    peak, n = 0, 0
    end = time.monotonic() + seconds
    while True:
        peak = max(peak, dir_bytes(directory))
        n += 1
        if time.monotonic() >= end or (stop_file and os.path.exists(stop_file)):
            return peak, n
        time.sleep(interval)


# The growth table of a scale run: (csv column, fact of each size, scale).
# Bytes per entry come from VmRSS in kB; times stay in their units.
SCALE_COLUMNS = [
    ("entries", None, None),
    ("rss_h0_bytes_per_entry", None, None),
    ("rss_default_bytes_per_entry", None, None),
    ("restart_s", "restart_s", 1),
    ("restart_records", "restart_records", 1),
    ("restart_records_per_s", None, None),
    ("restart_log_bytes", "restart_log_bytes", 1),
    ("compact_s", "compact_ms", 1e-3),
    ("compact_loop_max_ms", "compact_loop_max_us", 1e-3),
    ("compact_stall_ms", "compact_own_stall_us", 1e-3),
    ("compact_slices", "compact_slices", 1),
    ("compact_slice_max_ms", "compact_slice_max_us", 1e-3),
    ("probe_max_wait_ms", "compact_gap_us", 1e-3),
    ("probe_base_max_wait_ms", "compact_base_gap_us", 1e-3),
    ("compact_writer_ops", "compact_writer_ops", 1),
    ("compact_writer_errors", "compact_writer_errors", 1),
    ("compact_writes", "compact_writes", 1),
    ("lost_live", "compact_lost_live", 1),
    ("lost_restart", "compact_lost_restart", 1),
    ("set_ops", "set_ops", 1),
    ("set_p99_us", "set_p99_us", 1),
    ("get_ops", "get_ops", 1),
    ("get_p99_us", "get_p99_us", 1),
    ("list_s", "list_s", 1),
    ("list_seen", "list_seen", 1),
    ("list_calls", "list_calls", 1),
    ("list_max_call_ms", "list_max_call_us", 1e-3),
    ("list_slow_1ms", "list_slow_1ms", 1),
    ("list_slow_2ms", "list_slow_2ms", 1),
    ("load_ops", "load_ops", 1),
]


def fact_float(facts, key):
    try:
        return float(facts[key])
    except (KeyError, ValueError):
        return float("nan")


def scale_rows(facts):
    """One dict per measured size (facts "sizes"), columns SCALE_COLUMNS."""
    out = []
    for n in facts.get("sizes", "").split():
        n = int(n)

        def f(key):
            return fact_float(facts, "%d.%s" % (n, key))

        row = {"entries": n}
        for sys_, col in (("h0_", "rss_h0_bytes_per_entry"), ("", "rss_default_bytes_per_entry")):
            row[col] = (f("rss_%sfull_kb" % sys_) - f("rss_%sempty_kb" % sys_)) * 1024 / n
        for col, key, scale in SCALE_COLUMNS:
            if key:
                row[col] = f(key) * scale
        row["restart_records_per_s"] = row["restart_records"] / row["restart_s"] \
            if row["restart_s"] > 0 else float("nan")
        out.append(row)
    return out


def scale_csv(rows):
    def cell(v):
        return "%.0f" % v if abs(v) >= 1000 else "%.6g" % v

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c for c, _, _ in SCALE_COLUMNS])
    for r in rows:
        w.writerow([r["entries"]] + [cell(r[c]) for c, _, _ in SCALE_COLUMNS[1:]])
    return buf.getvalue()


def read_scale_csv(path):
    with open(path) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def count(n):
    """100000 -> 100k, 10000000 -> 10M."""
    for div, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= div and n % (div // 10) == 0:
            return "%g%s" % (n / div, unit)
    return "%d" % n


def scale_report(facts):
    rows = scale_rows(facts)

    def f(key):
        return fact_float(facts, key)

    out = []
    out.append("Measured %s on %s, %s cores, %s GiB RAM, kernel %s (load average at start %s); "
               "data on %s; fdatasync of a 64-byte write %s us appending, %s us over "
               "pre-zeroed space. statestored %s (Release; servers with --auto-compact-min 0 "
               "--log-level warn, except the disk row's). Command: `%s`" % (
                   facts.get("date"), facts.get("cpu"), facts.get("cores"),
                   facts.get("mem_gib"), facts.get("kernel"), facts.get("loadavg"),
                   facts.get("disk"), facts.get("fsync_append_us"),
                   facts.get("fsync_zeroed_us"), facts.get("commit"),
                   facts.get("command", "").strip()))
    out.append("")
    out.append("Per size: 16-byte names, 10-digit values, loaded with `statestore-bench "
               "--load-keys N -c 50 -P 64`. Throughput runs of %s s (after %s s warmup), 50 "
               "connections over the N keys. COMPACT while a 4-connection sequential writer "
               "and a GET prober run; restart after kill -9, until a GET of the writer's last "
               "key answers its value." % (facts.get("seconds"), facts.get("warmup")))
    out.append("")
    out.append("| entries | RSS/entry h0 (B) | RSS/entry default (B) | restart s (records/s) | "
               "COMPACT total s | COMPACT loop max ms | probe max wait ms (baseline) | "
               "SET ops/s | GET ops/s | listing total s (longest call ms; loop iterations "
               "over 2 ms) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        out.append("| %s | %.1f | %.1f | %.3f (%.0f) | %.3f | %.1f | %.1f (%.1f) | %.0f | %.0f | "
                   "%.3f (%.2f; %.0f) |" % (
                       count(r["entries"]), r["rss_h0_bytes_per_entry"],
                       r["rss_default_bytes_per_entry"], r["restart_s"],
                       r["restart_records_per_s"], r["compact_s"], r["compact_loop_max_ms"],
                       r["probe_max_wait_ms"], r["probe_base_max_wait_ms"], r["set_ops"],
                       r["get_ops"], r["list_s"], r["list_max_call_ms"],
                       r["list_slow_2ms"]))
    out.append("")
    out.append("Details: restart records are the daemon's own count (its startup line "
               "\"replayed N records\", at --log-level info); lost = values that differ from "
               "what the acknowledged writes left, read live after COMPACT and again after a "
               "kill -9 and restart. A listing call's time is the client's round trip; the "
               "loop iterations over 2 ms during the listing are the daemon's own count "
               "(STATS loop_slow_2ms), with nothing else running.")
    out.append("")
    out.append("| entries | records replayed (log bytes) | COMPACT start + finish ms (walk: "
               "slices, longest ms) | writer "
               "ops/s (writes, refused) | lost live / after restart | SET p99 us | GET p99 us "
               "| listing: entries seen, calls | load ops/s |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        out.append("| %s | %.0f (%.1f MB) | %.1f (%.0f, %.2f) | %.0f (%.0f, %.0f) | "
                   "%.0f / %.0f | %.0f | %.0f | %.0f, %.0f | %.0f |" % (
                       count(r["entries"]), r["restart_records"],
                       r["restart_log_bytes"] / 1e6, r["compact_stall_ms"],
                       r["compact_slices"], r["compact_slice_max_ms"],
                       r["compact_writer_ops"], r["compact_writes"],
                       r["compact_writer_errors"], r["lost_live"], r["lost_restart"],
                       r["set_p99_us"], r["get_p99_us"], r["list_seen"], r["list_calls"],
                       r["load_ops"]))
    out.append("")
    if "disk_entries" in facts:
        live, peak = f("disk_live_bytes"), f("disk_peak_bytes")
        amin, growth = f("disk_auto_min"), f("disk_auto_growth")
        bound = (max(amin, growth / 100 * live) + live) / live if live > 0 else float("nan")
        out.append("Disk bound at %s entries (default --auto-compact-min %.0f MiB, "
                   "--auto-compact-growth %.0f%%): %.0f s of SETs over the %s keys at 50 "
                   "connections (%.0f ops/s), the data directory's bytes sampled every 50 ms "
                   "(%d samples): peak %.1f MB, live %.1f MB (log_bytes after a final COMPACT): "
                   "**peak/live %.2f**, %d automatic compactions. The rule: the log compacts "
                   "once it passes max(min, growth x its size after the last compaction), and "
                   "the old log stays until the new one is written, so peak/live stays under "
                   "about (max(min, growth x live) + live) / live = %.2f here (plus the "
                   "preallocated chunk)." % (
                       count(int(f("disk_entries"))), amin / 2**20, growth,
                       f("disk_secs"), count(int(f("disk_entries"))), f("disk_ops"),
                       int(f("disk_samples")), peak / 1e6, live / 1e6, peak / live,
                       int(f("disk_auto_compactions")), bound))
        out.append("")
    lat = [(s, facts.get("lat_%s" % s)) for s in ("ss", "redis")]
    if all(v for _, v in lat):
        out.append("Latency, SET at 50 connections over %s keys, %s s each, fresh servers "
                   "(Redis: appendonly yes, appendfsync always), in us:" % (
                       count(int(f("lat_entries"))), facts.get("seconds")))
        out.append("")
        out.append("| system | ops/s | p50 | p99 | p99.9 | max |")
        out.append("|---|---|---|---|---|---|")
        for s, line in lat:
            row = dict(zip(CSV_COLUMNS, line.split(",")))
            out.append("| %s | %.0f | %s | %s | %s | %s |" % (
                NAMES[s], float(row["ops_per_sec"]), us(float(row["p50_us"])),
                us(float(row["p99_us"])), us(float(row["p999_us"])), us(float(row["max_us"]))))
        out.append("")
    skipped = sorted((int(k.split(".", 1)[1]), v) for k, v in facts.items()
                     if k.startswith("skip."))
    if skipped:
        out.append("Skipped: " + "; ".join("%s: %s" % (count(n), why) for n, why in skipped)
                   + ".")
    else:
        out.append("Skipped: none.")
    return "\n".join(out) + "\n", rows


def gnuplot(script):
    """Runs gnuplot on script; fails with its message."""
    p = subprocess.run(["gnuplot"], input=script.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode(errors="replace").strip()
    if p.returncode != 0:
        raise SystemExit("gnuplot failed (%d): %s" % (p.returncode, err))
    if err:  # warnings
        print("gnuplot: %s" % err, file=sys.stderr)


def gp_quote(s):
    return "'%s'" % s.replace("'", "''")


def plot_scale(rows, png):
    """Three panels against the number of pipelines (log x): RSS per entry
    at both history depths; restart seconds; COMPACT's longest loop
    iteration and the GET prober's longest wait, with its baseline."""
    if not rows:
        raise SystemExit("plot-scale: no rows")
    ns = [r["entries"] for r in rows]
    data = "\n".join("%d %g %g %g %g %g %g" % (
        r["entries"], r["rss_h0_bytes_per_entry"], r["rss_default_bytes_per_entry"],
        r["restart_s"], r["compact_loop_max_ms"], r["probe_max_wait_ms"],
        r["probe_base_max_wait_ms"]) for r in rows)
    script = """
set terminal png size 900,1200
set output %s
$d << EOD
%s
EOD
set multiplot layout 3,1 title "statestored: costs against the number of pipelines"
set logscale x 10
set xrange [%g:%g]
set format x "%%.0s%%c"
set xlabel "pipelines (log scale)"
set grid
set key top left
set yrange [0:*]
set ylabel "RSS bytes per entry"
set key bottom left
set title "Resident memory per entry"
plot $d using 1:2 with linespoints lw 2 pt 7 title "--history 0", \\
     $d using 1:3 with linespoints lw 2 pt 5 title "default --history"
set key top left
set ylabel "seconds"
set title "Restart: replay until serving"
plot $d using 1:4 with linespoints lw 2 pt 7 title "restart"
set ylabel "ms"
set title "COMPACT with a writer and a GET prober running"
plot $d using 1:5 with linespoints lw 2 pt 7 title "longest loop iteration", \\
     $d using 1:6 with linespoints lw 2 pt 5 title "longest probe wait", \\
     $d using 1:7 with linespoints lw 1 dt 2 pt 4 title "longest probe wait, no COMPACT"
unset multiplot
""" % (gp_quote(png), data, min(ns) / 2, max(ns) * 2)
    gnuplot(script)


LATENCY_LABELS = {"lat-set50": "SET, 50 connections"}


def plot_latency(runs, png, workloads, labels=None):
    """Grouped bars, one panel per workload: p50, p99, p99.9 and max (ms,
    log y) of statestored and Redis, medians over the rounds. A workload
    neither system ran is left out; none at all is an error."""
    panels = []
    for wl in workloads:
        ss, rd = runs.get((wl, "ss"), []), runs.get((wl, "redis"), [])
        if not (ss and rd):
            continue
        lines = ["pct statestored Redis"]
        for key, name in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"),
                          ("max_us", "max")):
            a, b = med(ss, key), med(rd, key)
            if math.isnan(a) or math.isnan(b):
                continue
            lines.append("%s %g %g" % (name, a / 1000, b / 1000))
        label = (labels or {}).get(wl) or next(
            (w[3] for w in WORKLOADS if w[0] == wl), wl)
        panels.append((label, "\n".join(lines)))
    if not panels:
        raise SystemExit("plot-latency: no statestored and Redis rows for %s" % " ".join(workloads))
    parts = ["set terminal png size %d,600" % (560 * len(panels)), "set output %s" % gp_quote(png)]
    for i, (_, data) in enumerate(panels):
        parts.append("$d%d << EOD\n%s\nEOD" % (i, data))
    parts.append("""set multiplot layout 1,%d \
    title "Latency per request, client side (ms, log scale; medians over the rounds)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y 10
set grid ytics
set key top left
set ylabel "ms"
""" % len(panels))
    for i, (label, _) in enumerate(panels):
        parts.append("set title %s\nplot $d%d using 2:xtic(1) title columnhead, "
                     "'' using 3 title columnhead" % (gp_quote(label), i))
    parts.append("unset multiplot")
    gnuplot("\n".join(parts) + "\n")


def main(argv):
    # Let bench.sh's trap end us the normal way, running the finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cmd = []
    if "--" in argv:
        sep = argv.index("--")
        argv, cmd = argv[:sep], argv[sep + 1:]
    redis = "--redis" in argv
    args = [a for a in argv if a != "--redis"]
    if not args:
        raise SystemExit(__doc__)
    what = args[0]
    if what == "fsync":
        append_us, zeroed_us = fsync_latency(args[1], int(args[2]))
        print("%.0f %.0f" % (append_us, zeroed_us))
    elif what == "cmd":
        c = Client(int(args[1]), timeout=600.0, redis=redis)
        t0 = time.monotonic()
        reply = c.call(*args[2].split())
        print("%.1f %s" % ((time.monotonic() - t0) * 1e3, reply))
        c.close()
    elif what == "restart":
        port, key, value = int(args[1]), args[2], args[3]
        print("%.3f" % restart_time(port, redis, key, value, cmd))
    elif what == "watch-compactions":
        loops, stalls = watch_compactions(int(args[1]), float(args[2]))
        if not loops:
            raise SystemExit("no compaction finished while watching")
        print("%d %d %d %d %d" % (len(loops), statistics.median(loops), max(loops),
                                  statistics.median(stalls), max(stalls)))
    elif what == "report-repl":
        stats = read_stats(args[4]) if len(args) > 4 else {}
        print(report_repl(read_facts(args[1]), read_results(args[2]), read_lag(args[3]), stats),
              end="")
    elif what == "repl-lag":
        samples = repl_lag(int(args[1]), int(args[2]), args[3], float(args[4]), float(args[5]))
        with open(args[3], "w") as f:
            for kind, v in samples:
                f.write("%s %.3f\n" % (kind, v))
    elif what == "report-tls":
        print(report_tls(read_facts(args[1]), read_results(args[2])), end="")
    elif what == "report":
        stats = read_stats(args[3]) if len(args) > 3 else {}
        print(report(read_facts(args[1]), read_results(args[2]), stats), end="")
    elif what == "list":
        secs, rows, calls, longest, slow1, slow2 = list_all(int(args[1]))
        print("%.3f %d %d %.0f %d %d" % (secs, rows, calls, longest, slow1, slow2))
        if rows != int(args[2]):
            raise SystemExit("list: %d entries seen, not %s" % (rows, args[2]))
    elif what == "watch-disk":
        peak, n = watch_disk(args[1], float(args[2]), args[3] if len(args) > 3 else None)
        print("%d %d" % (peak, n))
    elif what == "scale-report":
        text, rows = scale_report(read_facts(args[1]))
        out = args[3]
        base = out[:-3] if out.endswith(".md") else out
        outdir = os.path.dirname(os.path.abspath(out))
        with open(out, "w") as f:
            f.write(text)
        with open(base + ".csv", "w") as f:
            f.write(scale_csv(rows))
        plot_scale(rows, os.path.join(outdir, "scale-growth.png"))
        facts = read_facts(args[1])
        plot_latency(read_results(args[2]), os.path.join(outdir, "latency.png"), ["lat-set50"],
                     {"lat-set50": "SET, 50 connections, %s keys" % count(
                         int(fact_float(facts, "lat_entries")))})
        print(text, end="")
    elif what == "plot-scale":
        plot_scale(read_scale_csv(args[1]), args[2])
    elif what == "plot-latency":
        plot_latency(read_results(args[1]), args[2], args[3:] or ["set50", "get50"],
                     LATENCY_LABELS)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])


def markdown_table(text, first_header):
    """The rows (lists of cells) of the markdown table in text whose header
    starts with first_header."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| " + first_header):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError("no table starting with %r in:\n%s" % (first_header, text))


def run_bench_script(script, env, timeout):
    """Runs scripts/bench.sh (script) with env, in a process group of its
    own: on a timeout SIGTERM reaches the script (whose trap stops its
    servers) and every client it started, then SIGKILL. Returns the
    CompletedProcess; raises AssertionError with its log on a timeout."""
    proc = subprocess.Popen([script], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        raise AssertionError("bench.sh took more than %d s; its log:\n%s" % (
            timeout, err.decode(errors="replace")))
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
