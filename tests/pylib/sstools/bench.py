"""Small helpers for scripts/bench.sh; everything heavy is statestore-bench.

  bench_util.py fsync DIR N          mean fdatasync latency of DIR's disk (us):
                                     appending, and overwriting pre-zeroed space
  bench_util.py wait PORT [--redis] [TIMEOUT]
                                     until the server answers PING
  bench_util.py cmd PORT LINE [--redis]
                                     send one command; print "<ms> <reply>"
  bench_util.py restart PORT KEY VALUE [--redis] -- CMD...
                                     start CMD, time until GET KEY returns VALUE,
                                     print seconds, then SIGTERM CMD and wait
  bench_util.py stats PORT           statestored's STATS as "name value" lines
  bench_util.py watch-compactions PORT SECONDS
                                     poll STATS; for the compactions that finish,
                                     print "<n> <loop max: median> <max>
                                     <fork + finish: median> <max>" (us)
  bench_util.py report FACTS RESULTS [STATS]
                                     print the markdown report of a bench.sh run
"""
import math
import os
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


def wait_ping(port, redis, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = Client(port, timeout=5.0, redis=redis)
            try:
                if c.call("PING") == "PONG":
                    return True
            finally:
                c.close()
        except OSError:
            pass
        time.sleep(0.01)
    return False


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
]
NAMES = {"ss": "statestored", "redis": "Redis", "ss-nosync": "statestored nosync",
         "ss-cas": "statestored CAS", "ss-resp": "statestored RESP"}
MSET_PAIRS = 100  # pipelines per multi-commit in bench.sh's mset workloads
TODAY_BYTES_PER_ENTRY = 42  # before revisions and history (issue 13)


def watch_compactions(port, seconds):
    """Polls STATS every 50 ms for seconds; for every compaction that
    finished meanwhile, its longest loop iteration and its own stall (fork
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
        # The ratio is the median of each round's A/B: the two runs of a
        # round are back to back, so slow drift in the machine (other work
        # on the disk) cancels better than in a ratio of medians.
        # p99: show both sides' median p99 too, and pass only without error
        # replies (redis-benchmark counts an error as a request done).
        # optional: no row when the run has no such workload (an older run).
        ra, rb = runs.get((wl, a), []), runs.get((wl, b), [])
        if optional and not (ra and rb):
            return
        x, y = med(ra, "ops_per_sec"), med(rb, "ops_per_sec")
        pairs = [p["ops_per_sec"] / q["ops_per_sec"] for p, q in zip(ra, rb)
                 if q["ops_per_sec"] > 0]
        r = statistics.median(pairs) if pairs else float("nan")
        ok = r >= need
        more = ""
        if p99:
            errs = int(sum(p["errors"] for p in ra + rb))
            ok = ok and errs == 0
            more = "; p99 %.2f vs %.2f ms%s" % (
                med(ra, "p99_us") / 1000, med(rb, "p99_us") / 1000,
                "; %d error replies" % errs if errs else "")
        out.append("| %s | %s | %.2fx (%.0f vs %.0f ops/s%s) | %s |" % (
            label, goal, r, x, y, more, verdict(ok)))

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
               "continue, none lost | loop %.1f ms (fork + finish %.1f ms); a GET client "
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
                   "max %.1f ms over %d compactions; fork + finish median %.1f ms, max %.1f ms; "
                   "writers %.0f ops/s | - |" % (
                       f("churn_min_bytes") / 2**20, f("churn_loop_med_us") / 1000,
                       f("churn_loop_max_us") / 1000, int(f("churn_n")),
                       f("churn_stall_med_us") / 1000, f("churn_stall_max_us") / 1000,
                       f("churn_ops")))
    cms = f("compact_ms")
    out.append("| COMPACT at %s entries: total time | <= 0.5 s | %.3f s (reply %s) | %s |" % (
        n, cms / 1000, facts.get("compact_reply"), verdict(cms <= 500)))
    out.append("")
    out.append("Throughput runs (medians; latency in us, per request, measured by the client):")
    out.append("")
    out.append("| Workload | System | ops/s | p50 | p99 | p99.9 | max | errors | runs (ops/s) |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for wl, a, b, label in WORKLOADS:
        for sysname in (a, b):
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
        for sysname in (a, b):
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
    elif what == "wait":
        timeout = float(args[2]) if len(args) > 2 else 60.0
        if not wait_ping(int(args[1]), redis, timeout):
            raise SystemExit("no PONG from port %s" % args[1])
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
    elif what == "stats":
        c = Client(int(args[1]), timeout=60.0)
        for k, v in c.stats().items():
            print(k, v)
        c.close()
    elif what == "report":
        stats = read_stats(args[3]) if len(args) > 3 else {}
        print(report(read_facts(args[1]), read_results(args[2]), stats), end="")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
