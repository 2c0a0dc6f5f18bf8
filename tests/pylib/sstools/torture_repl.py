"""torture_repl.py - kill -9 torture of a replica (issue 18).

The promise under test: a replica acknowledges only what its log holds
durably, so with --sync-replicas 1 every write the primary acknowledged is
on its replicas once they have caught up, whatever moment a replica was
killed at; and revisions on a node never go backwards, across restarts too.

The cluster: a plain statestored primary with --sync-replicas 1; replica A,
SIGKILLed and restarted on its data directory over and over; and (unless
--no-second-replica) replica B, never killed, so that writes keep flowing
while A is down (B joins the sync set when A leaves it, and A, back, is a
replica outside it until B goes). Writer threads commit to the primary
(MSET_CHECKPOINT of one key of their own, so each reply names its
revision: OK <rev>) one request at a time on their own connections; values
are unique per key. A reader thread reads A (GETREV_CHECKPOINT of random
keys, and STATS) whenever A is up.

One cycle, its plan drawn from the seed:
  1. the kill trigger: a random number of acknowledgements (1..max_acks)
     or a random delay (0..max_delay), from the writers' view;
  2. A is SIGKILLed; statestore-check verify reads its log (the replay a
     start would do: clean, or a torn tail it would cut - never corrupt);
  3. while A is down (with B, writes go on): sometimes the primary is
     compacted (COMPACT), so that A, behind the new log's start, needs a
     full sync (with no B the compaction waits for the batch the gate
     holds for A, and ends once A is back);
  4. A is restarted; its first STATS must show revision and
     durable_revision no lower than any it showed before the kill, and
     durable_revision no lower than what the primary's replica row said A
     had acknowledged just before the kill (its log holds what it acked);
  5. sometimes A is killed again during its catch-up (a random delay after
     the start, often inside a full sync's transfer), checked and
     restarted as in 2 and 4;
  6. the writers pause (each finishes the request it is in, whose reply
     may wait for A); the primary's revision is then what was acknowledged
     last; A must catch up to it within the deadline (polled: its STATS
     revision and durable_revision equal the primary's, its link up), and
     then LIST_CHECKPOINTS of A, of B and of the primary must equal each
     other and the writers' model - each key's last acknowledged (revision,
     value) - exactly, and so must each key's HISTORY_CHECKPOINT (its last
     five acknowledged versions: a write skipped, then overwritten, shows);
     the writers resume.
The reader checks as it goes: every value A shows was sent to that key
(never a phantom), each key's revision on A never goes down - nor does a
key A showed disappear - across A's restarts, nor does A's STATS revision;
and nothing A shows is past what the primary had committed when asked
after (a restarted replica holds back what its log has past the commit
point: nothing unacknowledged is visible).
At the end every daemon stops on SIGTERM with exit 0; the primary and B
never die, log an error or a sanitizer report; A's logs neither.

Usage: scripts/torture.py --replica [--cycles N] [--writers N] [--seed S]
                          [--no-second-replica] [--max-delay SECONDS]
                          [--max-acks N] [--compact SHARE]
                          [--catchup-kills SHARE] [--build-dir DIR]
Exit status: 0 if every check passed, 1 on any violation, 2 on bad options.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from . import harness
from .client import Client

HISTORY_SHOWN = 5   # HISTORY_CHECKPOINT with the daemon's default --history 4
IO_TIMEOUT = 60.0   # a reply slower than this means a daemon is stuck
CATCH_UP = 60.0     # bound on a replica's catch-up (and on every other wait)
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


@dataclass
class Config:
    cycles: int = 100
    writers: int = 4
    keys_per_writer: int = 4
    second_replica: bool = True
    max_acks: int = 300        # "acks" trigger: uniform in [1, max_acks]
    max_delay: float = 0.2     # "delay" trigger: uniform in [0, max_delay] seconds
    compact: float = 0.25      # share of cycles that compact the primary while A is down
    catchup_kills: float = 0.3  # share of cycles that kill A again during its catch-up
    catchup_kill_delay: float = 0.05  # ... up to this long after its restart
    seed: int = 1
    build_dir: str = None
    progress: int = 0
    out: object = sys.stdout


@dataclass
class Result:
    cycles: int = 0
    kills: int = 0
    catchup_kills: int = 0
    compactions: int = 0
    acked: int = 0
    reads: int = 0
    full_syncs: int = 0
    partial_syncs: int = 0
    torn_tails: int = 0       # kills that left a torn tail for the restart to cut
    checks: int = 0           # cycles whose catch-up and contents were checked
    max_catch_up: float = 0.0
    violations: list = field(default_factory=list)
    logs: str = ""
    data_dir: str = ""

    @property
    def ok(self):
        return not self.violations

    def summary(self):
        return ("replica torture: %d cycles, %d kills (%d during a catch-up), %d compactions; "
                "%d writes acknowledged, %d reads on the replica; its restarts: %d partial "
                "syncs, %d full syncs, %d torn tails cut; %d catch-ups checked, longest %.2f s; "
                "%d violations" % (self.cycles, self.kills, self.catchup_kills, self.compactions,
                                   self.acked, self.reads, self.partial_syncs, self.full_syncs,
                                   self.torn_tails, self.checks, self.max_catch_up,
                                   len(self.violations)))


class Model:
    """What the writers sent and the primary acknowledged, per key; and
    what the reader saw on A."""

    def __init__(self, keys):
        self.mu = threading.Lock()
        self.sent = {k: set() for k in keys}
        self.acked = {}                      # key -> (rev, value)
        self.versions = {k: [] for k in keys}  # key -> every (rev, value) acked, oldest first
        self.seen = {k: 0 for k in keys}     # key -> highest revision A showed
        self.acks = 0


class Writer(threading.Thread):
    def __init__(self, t, i):
        super().__init__(daemon=True, name="writer%d" % i)
        self.t, self.i = t, i
        self.keys = ["tr-w%d-k%d" % (i, j) for j in range(t.cfg.keys_per_writer)]
        self.rng = random.Random(t.cfg.seed * 1000 + i)
        self.idle = threading.Event()
        self.seq = 0

    def run(self):
        t = self.t
        try:
            with Client(t.primary.port, IO_TIMEOUT) as c:
                while not t.done.is_set():
                    if not t.go.is_set():
                        self.idle.set()
                        t.go.wait()
                        self.idle.clear()
                        continue
                    key = self.rng.choice(self.keys)
                    self.seq += 1
                    value = "w%d-%d" % (self.i, self.seq)
                    with t.model.mu:
                        t.model.sent[key].add(value)
                    reply = c.cmd("MSET_CHECKPOINT %s %s" % (key, value))
                    m = re.fullmatch(r"OK (\d+)", reply or "")
                    if not m:
                        t.violation("writer%d: MSET_CHECKPOINT %s %s answered %r" % (
                            self.i, key, value, reply))
                        return
                    with t.model.mu:
                        old = t.model.acked.get(key, (0, None))
                        if int(m.group(1)) <= old[0]:
                            t.violation("%s: revision %s acknowledged after %d" % (
                                key, m.group(1), old[0]))
                        t.model.acked[key] = (int(m.group(1)), value)
                        t.model.versions[key].append((int(m.group(1)), value))
                        t.model.acks += 1
        except Exception as e:  # a lost connection or a stuck reply
            if not t.done.is_set():
                t.violation("writer%d: %r" % (self.i, e))
        finally:
            self.idle.set()


class Reader(threading.Thread):
    """Reads A while it is up; checks what it shows (see the top)."""

    def __init__(self, t):
        super().__init__(daemon=True, name="reader")
        self.t = t
        self.rng = random.Random(t.cfg.seed * 1000 + 999)
        self.max_rev = 0
        self.committed = 0  # the highest revision the primary showed applied
        self.p = None       # a connection to the primary

    def run(self):
        t = self.t
        while not t.done.is_set():
            port = t.a_port
            if port is None:
                t.a_up.wait(1.0)
                continue
            try:
                with Client(port, IO_TIMEOUT) as c:
                    while not t.done.is_set() and t.a_port == port:
                        self.read_one(c)
            except OSError:
                continue  # A was killed: wait for the next one

    def check_committed(self, rev, what):
        """A showed rev: the primary must have applied it (committed: it
        applies a batch only once acknowledged, and only then sends the
        COMMIT that lets A apply it). Asked after A answered."""
        if rev <= self.committed:
            return
        if self.p is None:
            self.p = Client(self.t.primary.port, IO_TIMEOUT)
        self.committed = max(self.committed, int(self.p.stats().get("revision", 0)))
        if rev > self.committed:
            self.t.violation("%s: A shows revision %d, which the primary has not committed "
                             "(it is at %d): visible before acknowledged" % (
                                 what, rev, self.committed))

    def read_one(self, c):
        t = self.t
        if self.rng.random() < 0.1:
            st = c.stats()
            if not st:
                raise OSError("closed")
            self.check_revision(st, "the reader's STATS")
            self.check_committed(int(st.get("revision", 0)), "STATS")
            return
        key = self.rng.choice(t.keys)
        reply = c.cmd("GETREV_CHECKPOINT " + key)
        if reply is None:
            raise OSError("closed")
        t.res.reads += 1
        with t.model.mu:
            seen = t.model.seen[key]
            if reply == "NULL":
                if seen:
                    t.violation("%s: A showed revision %d of it, now NULL" % (key, seen))
                return
            rev, value = reply.split(" ", 1)
            rev = int(rev)
            if value not in t.model.sent[key]:
                t.violation("%s: A shows %r, never sent to it (phantom)" % (key, value))
            if rev < seen:
                t.violation("%s: A shows revision %d after %d (backwards)" % (key, rev, seen))
            t.model.seen[key] = max(seen, rev)
        self.check_committed(rev, key)

    def check_revision(self, st, what):
        """The reader's STATS of A, in the order A answered them (one
        connection at a time, one request at a time)."""
        rev = int(st.get("revision", -1))
        if rev < self.max_rev:
            self.t.violation("%s: A's revision %d after %d (backwards)" % (what, rev,
                                                                              self.max_rev))
        self.max_rev = max(self.max_rev, rev)


def stats(port):
    try:
        with Client(port, IO_TIMEOUT) as c:
            return c.stats()
    except OSError:
        return {}


def histories(port, keys):
    """{key: [(rev, value), ...] newest first} by HISTORY_CHECKPOINT."""
    out = {}
    with Client(port, IO_TIMEOUT) as c:
        c.send("".join("HISTORY_CHECKPOINT %s\n" % k for k in keys))
        for k in keys:
            versions = []
            while True:
                line = c.readline()
                if line is None or line == "END":
                    break
                rev, _ms, value = line.split(" ", 2)
                versions.append((int(rev), value))
            out[k] = versions
        return out


def listing(port):
    """{name: (rev, value)} by LIST_CHECKPOINTS, every page."""
    with Client(port, IO_TIMEOUT) as c:
        return c.listing()


class ReplicaTorture:
    def __init__(self, cfg):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.res = Result()
        self.keys = ["tr-w%d-k%d" % (i, j) for i in range(cfg.writers)
                     for j in range(cfg.keys_per_writer)]
        self.model = Model(self.keys)
        self.mu = threading.Lock()
        self.go = threading.Event()
        self.done = threading.Event()
        self.a_up = threading.Event()
        self.a_port = None
        self.a_logs = []
        self.durable = 0  # the highest durable_revision A showed
        self.max_rev = 0  # the highest revision A showed this thread
        self.floor = 0    # ... or anyone, before its last kill

    def violation(self, msg):
        with self.mu:
            self.res.violations.append(msg)

    # ---- A's life ---------------------------------------------------------

    def start_a(self):
        self.a.start(expect_ready=False)
        if not harness.wait_until(lambda: self.a.port is not None or self.a._reader_done(),
                                  CATCH_UP) or self.a.port is None:
            raise AssertionError("A did not start on its data directory:\n" + self.a.log())
        st = stats(self.a.port)
        self.check_revision(st, "A's first STATS after a restart", self.floor)
        durable = int(st.get("durable_revision", -1))
        if durable < self.durable:
            self.violation("A's durable_revision %d after a restart: before the kill it showed "
                           "or acknowledged %d" % (durable, self.durable))
        self.durable = max(self.durable, durable)
        self.a_port = self.a.port
        self.a_up.set()

    def acked_by_a(self):
        """What the primary says A acknowledged (its replica row), or 0."""
        for k, v in stats(self.primary.port).items():
            if re.fullmatch(r"replica\d+", k) and ("id=127.0.0.1:%d," % self.a.port) in v:
                return int(dict(kv.split("=", 1) for kv in v.split(",") if "=" in kv)["acked"])
        return 0

    def check_revision(self, st, what, floor):
        """This thread's STATS of A, in the order it asked them."""
        rev = int(st.get("revision", -1))
        if rev < floor:
            self.violation("%s: A's revision %d after %d (backwards)" % (what, rev, floor))
        self.max_rev = max(self.max_rev, rev)

    def kill_a(self):
        st = stats(self.a.port)
        if st:
            self.check_revision(st, "A's STATS before the kill", self.max_rev)
            self.durable = max(self.durable, int(st.get("durable_revision", 0)))
        # A acknowledged this much: its log must hold it after any kill.
        self.durable = max(self.durable, self.acked_by_a())
        self.a_port = None
        self.a_up.clear()
        self.a.kill()
        # Whatever A showed anyone, it showed before now: the floor of
        # what it may show after its restart.
        self.floor = max(self.max_rev, self.reader.max_rev)
        self.res.kills += 1
        self.a_logs.append(self.a.log())
        self.check_log()

    def check_log(self):
        """statestore-check verify on A's dead log: what a start will read."""
        out = subprocess.run([harness.binary("statestore-check"), "verify", self.a.data_dir],
                             capture_output=True, text=True, timeout=CATCH_UP)
        if out.returncode != 0:
            self.violation("statestore-check verify on A's log after a kill: exit %d: %s%s" % (
                out.returncode, out.stdout, out.stderr))
        elif "torn" in out.stdout:
            self.res.torn_tails += 1

    # ---- the cycle ------------------------------------------------------

    def wait_acks(self, n):
        with self.model.mu:
            target = self.model.acks + n
        if not harness.wait_until(lambda: self.model.acks >= target or self.res.violations,
                                  CATCH_UP):
            self.violation("no progress: %d acknowledgements not reached in %.0f s" % (
                n, CATCH_UP))

    def trigger(self):
        if self.rng.random() < 0.5:
            self.wait_acks(self.rng.randint(1, self.cfg.max_acks))
        else:
            time.sleep(self.rng.uniform(0, self.cfg.max_delay))  # a random kill moment

    def pause_writers(self):
        self.go.clear()
        if not harness.wait_until(lambda: all(w.idle.is_set() for w in self.writers), CATCH_UP):
            self.violation("the writers did not pause: a write unanswered for %.0f s" % CATCH_UP)

    def caught_up(self, target):
        st = stats(self.a.port)
        return st.get("primary_link") in ("up", "1") and \
            st.get("revision") == str(target) and st.get("durable_revision") == str(target)

    def check_contents(self):
        t0 = time.monotonic()
        target = int(stats(self.primary.port).get("revision", -1))
        if not harness.wait_until(lambda: self.caught_up(target), CATCH_UP, interval=0.02):
            self.violation("A did not catch up to revision %d within %.0f s: %r" % (
                target, CATCH_UP, {k: v for k, v in stats(self.a.port).items() if k in (
                    "revision", "durable_revision", "primary_link", "lag_revisions")}))
            return
        self.res.max_catch_up = max(self.res.max_catch_up, time.monotonic() - t0)
        with self.model.mu:
            want = dict(self.model.acked)
        nodes = [("primary", self.primary), ("A", self.a)] + (
            [("B", self.b)] if self.b else [])
        for name, d in nodes:
            if d is self.b and not harness.wait_until(
                    lambda: stats(d.port).get("revision") == str(target), CATCH_UP):
                self.violation("B did not catch up to revision %d" % target)
                continue
            # Every acknowledged version the history keeps (the default
            # --history: the current one and 4 before it), so that a write
            # skipped and then overwritten shows too.
            hist = histories(d.port, self.keys)
            for k in self.keys:
                acked = self.model.versions[k][::-1][:HISTORY_SHOWN]
                if hist[k] != acked:
                    self.violation("%s after A's restart: %s's history %r, acknowledged %r" % (
                        name, k, hist[k], acked))
                    break
            got = {k: v for k, v in listing(d.port).items() if k.startswith("tr-")}
            if got != want:
                lost = sorted(k for k in want if got.get(k) != want[k])
                extra = sorted(k for k in got if k not in want)
                self.violation("%s after A's restart: %d keys differ from the acknowledged "
                               "state (first: %r), %d never acknowledged: %r" % (
                                   name, len(lost), [(k, got.get(k), want[k]) for k in lost[:3]],
                                   len(extra), extra[:3]))
        self.res.checks += 1

    def cycle(self):
        cfg = self.cfg
        self.go.set()
        self.trigger()
        self.kill_a()
        if self.b:  # writes go on without A: it has some catching up to do
            self.wait_acks(self.rng.randint(0, cfg.max_acks // 4))
        compacting = None
        if self.rng.random() < cfg.compact:
            # A compaction waits for a batch the gate holds (server.c,
            # may_finish): with no B that batch waits for A, so its reply
            # is read once A is back. With B it ends now, and A, behind the
            # new log's start, needs a full sync.
            compacting = Client(self.primary.port, IO_TIMEOUT)
            compacting.send("COMPACT\n")
            self.res.compactions += 1
            if self.b:
                self.compacted(compacting)
                compacting = None
        self.start_a()
        if self.rng.random() < cfg.catchup_kills:
            time.sleep(self.rng.uniform(0, cfg.catchup_kill_delay))  # a random kill moment
            self.kill_a()
            self.res.catchup_kills += 1
            self.start_a()
        self.pause_writers()
        if compacting:
            self.compacted(compacting)
        self.check_contents()
        self.res.cycles += 1

    def compacted(self, c):
        with c:
            reply = c.readline()
        if reply != "OK":
            self.violation("COMPACT on the primary: %r" % reply)

    # ---- the run ----------------------------------------------------------

    def run(self):
        cfg = self.cfg
        if cfg.build_dir:
            harness.BUILD_DIR = cfg.build_dir
        tmp = tempfile.mkdtemp(prefix="ss-torture-repl-")
        self.res.data_dir = tmp
        self.primary = harness.Daemon(os.path.join(tmp, "primary"), ("--sync-replicas", "1"))
        self.primary.start()
        of = ("--replica-of", "127.0.0.1:%d" % self.primary.port)
        self.a = harness.Daemon(os.path.join(tmp, "a"), of)
        self.b = harness.Daemon(os.path.join(tmp, "b"), of) if cfg.second_replica else None
        self.reader = Reader(self)
        self.writers = [Writer(self, i) for i in range(cfg.writers)]
        try:
            self.start_a()
            if self.b:
                self.b.start()
            for th in self.writers + [self.reader]:
                th.start()
            for i in range(cfg.cycles):
                self.cycle()
                if cfg.progress and (i + 1) % cfg.progress == 0:
                    self.tally(self.a_logs + [self.a.log()])
                    print("cycle %d: %s" % (i + 1, self.res.summary()), file=cfg.out, flush=True)
                if self.res.violations:
                    break
                for name, d in (("primary", self.primary), ("B", self.b)):
                    if d and not d.running():
                        self.violation("%s died: exit %r" % (name, d.proc.returncode))
        except AssertionError as e:
            self.violation(str(e))
        finally:
            self.done.set()
            self.go.set()
            self.a_up.set()
            self.finish()
        if self.res.ok:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.res

    def tally(self, a_logs):
        """The counts the summary takes from the writers and A's logs."""
        a_log = "".join(a_logs)
        self.res.acked = self.model.acks
        self.res.partial_syncs = len(re.findall(r"replica: partial sync from", a_log))
        self.res.full_syncs = len(re.findall(r"replica: full sync of", a_log))

    def finish(self):
        for th in self.writers + [self.reader]:
            if th.is_alive():
                th.join(IO_TIMEOUT)
        self.a_logs.append(self.a.log())
        for name, d in (("A", self.a), ("B", self.b), ("primary", self.primary)):
            if d is None or d.proc is None:
                continue
            if d.running():
                try:
                    code = d.stop()
                except subprocess.TimeoutExpired:
                    d.kill()
                    code = None
                if code != 0:
                    self.violation("%s exited %r on SIGTERM" % (name, code))
            elif d is not self.a:
                self.violation("%s was not running at the end: exit %r" % (
                    name, d.proc.returncode))
        a_log = "".join(self.a_logs)
        self.tally(self.a_logs)
        for name, log in (("A", a_log), ("B", self.b.log() if self.b else ""),
                          ("primary", self.primary.log())):
            if any(m in log for m in SANITIZER_MARKS):
                self.violation("%s: a sanitizer report in its log" % name)
            if name != "A" and "[error]" in log:
                self.violation("%s logged an error" % name)
        self.res.logs = "--- primary ---\n%s--- B ---\n%s--- A (every run) ---\n%s" % (
            self.primary.log()[-4000:], (self.b.log() if self.b else "")[-2000:],
            a_log[-6000:])


def run(cfg):
    return ReplicaTorture(cfg).run()


def parse_args(argv):
    p = argparse.ArgumentParser(prog="torture.py --replica",
                                description="kill -9 torture of a replica (issue 18)")
    d = Config()
    p.add_argument("--cycles", type=int, default=d.cycles)
    p.add_argument("--writers", type=int, default=d.writers)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-second-replica", action="store_true")
    p.add_argument("--max-acks", type=int, default=d.max_acks)
    p.add_argument("--max-delay", type=float, default=d.max_delay)
    p.add_argument("--compact", type=float, default=d.compact)
    p.add_argument("--catchup-kills", type=float, default=d.catchup_kills)
    p.add_argument("--build-dir")
    p.add_argument("--progress", type=int, default=10)
    a = p.parse_args(argv)
    if a.cycles < 1 or a.writers < 1 or a.max_acks < 1:
        p.error("--cycles, --writers and --max-acks must be at least 1")
    return Config(cycles=a.cycles, writers=a.writers, seed=a.seed,
                  second_replica=not a.no_second_replica, max_acks=a.max_acks,
                  max_delay=a.max_delay, compact=a.compact, catchup_kills=a.catchup_kills,
                  build_dir=a.build_dir, progress=a.progress)


def main(argv):
    cfg = parse_args(argv)
    print("replica torture: %d cycles, %d writers, %s, seed %d" % (
        cfg.cycles, cfg.writers, "two replicas" if cfg.second_replica else "one replica",
        cfg.seed), flush=True)
    res = run(cfg)
    print(res.summary())
    if res.ok:
        print("PASS")
        return 0
    print("FAIL: %d violation(s); data dirs kept at %s" % (len(res.violations), res.data_dir))
    for v in res.violations[:50]:
        print("  " + v)
    print(res.logs, end="")
    return 1
