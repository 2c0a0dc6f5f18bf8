"""failover.py - the failover checker of replication (issue 18), and the
catch-up measurement. scripts/failover.sh runs it; test_failover.py runs
its short forms.

The promise under test, with --sync-replicas 1 and two replicas: a write
acknowledged to a client is never lost by a failover that promotes the
replica with the highest durable_revision among those reporting
in_sync_set:1 (the operator rule of the spec), and nothing unacknowledged
is ever visible.

The cluster: three nodes, each on a host of its own (network namespaces,
sstools/cluster.py; loopback addresses where namespaces cannot be made, and
then only the kill fault). Every node runs with --sync-replicas 1
--sync-timeout 1 --repl-timeout 1, so whichever is primary waits for one
replica. n0 starts as the primary, n1 and n2 as its replicas.

Clients, all threads of this process, each on its own connection:
  - writers: each owns a few pipelines and writes unique values (w<i>.<seq>,
    seq rising per writer) with MSET_CHECKPOINT of one pipeline, whose reply
    is OK <rev>; every acknowledgement is recorded with its pipeline,
    value, revision, the node and that node's epoch (STATS on the same
    connection, read when it connected: it must say role primary), and
    when it arrived. An error reply (sync timeout, fenced, readonly) or a
    lost connection leaves the write's outcome unknown.
  - CAS writers contend on shared pipelines with the read-CAS loop
    (GETREV_CHECKPOINT, CAS_CHECKPOINT from that revision, again on
    CONFLICT); every OK <rev> is recorded with its expected revision.
  - readers GET the writers' pipelines from every node, primary and
    replicas, all the time (failovers included), recording what they saw.
  - a monitor samples STATS revision of every running node every 50 ms.

One cycle: the clients run for a random while (from the seed); the fault
hits the primary under that load: kill -9, or (with namespaces) its link
cut (the switch's end of its veth down), its local clients still talking to
it. The writers are then held (each finishes the request it has in flight:
an error or a dead connection), and the operator (operate()) does what the
spec asks of one: waits until both replicas report primary_link:down,
promotes the one with the highest durable_revision among those reporting
in_sync_set:1 (REPLICAOF NO ONE), points the other at it (REPLICAOF host
port) and brings the old primary back as a replica of the new one (a kill:
restarted with --replica-of; a partition: the link healed and REPLICAOF
sent at run time). Once all three agree, the checks run and the writers go
on against the new primary.

The checks, per cycle:
  - every write acknowledged so far is on the new primary with its value
    and revision: the pipeline's current version is the newest one
    acknowledged or newer (one whose outcome was unknown), and
    HISTORY_CHECKPOINT (--history 1000) holds every acknowledged version
    newer than the oldest it shows, with that revision and value (LOST);
  - no value shown that was never sent (PHANTOM);
  - no write acknowledged by a primary after a newer epoch existed: an
    acknowledgement from a node of epoch E that arrived after the
    promotion to an epoch above E had replied (STALE_EPOCH);
  - revisions never go backwards on any node: the monitor's samples, per
    node, across restarts, truncations and promotions (BACKWARDS);
  - no reader saw a value later lost: a value read on any node is, on the
    new primary, the current one or older than it (DIRTY);
  - no two CAS acknowledged from one expected revision (DOUBLE);
  - the deposed primary's discarded tail held only unacknowledged writes:
    its log line `replica: discarded N records after revision R` has no
    write it acknowledged above R (TAIL);
  - all three nodes list the same pipelines, revisions and values
    (DIVERGED).

Catch-up (catch_up()): a replica is stopped, the primary takes N writes
(pipelined, on several connections), the replica restarts and the time
until it has applied the primary's revision is measured: a partial sync.
Then the same after a COMPACT on the primary: a full sync. The log lines
say which sync it was, and the replica's contents are compared.

Timing is not deterministic; the seed fixes the plan (fault kinds, load
durations), not the interleaving.
"""
import argparse
import random
import re
import sys
import threading
import time
from contextlib import closing

from . import repl
from .cluster import Cluster, available
from .repl import (DISCARDED_RE, FULL_RE, PARTIAL_RE, link_down, link_up, num, stats_of,
                   wait_stats)

SHOW_PER_KIND = 5
CONNECT_TIMEOUT = 5


class Config:
    def __init__(self, cycles=10, writers=3, cas_writers=2, readers=2, keys_per_writer=4,
                 cas_keys=2, seed=1, load_min=0.3, load_max=1.0, faults=("kill", "partition"),
                 repl_timeout=1, sync_timeout=1, history=1000, loopback=None):
        self.__dict__.update(locals())
        del self.__dict__["self"]


class Stop(Exception):
    """The run cannot go on (a node that will not start, a wait that never
    ends): a violation of its own, reported with the logs."""


class Node:
    def __init__(self, name, daemon):
        self.name, self.d = name, daemon
        self.max_rev = 0  # the last STATS revision sampled

    def __repr__(self):
        return "%s(%s)" % (self.name, self.d.addr)


class Key:
    """One writer pipeline: what was sent and acknowledged."""

    def __init__(self, name):
        self.name = name
        self.sent = set()        # seqs sent
        self.acked = []          # (seq, rev)
        self.floor = 0           # a seq the cluster showed as durable: never less again
        self.seen = []           # seqs readers saw (unchecked yet)
        self.lock = threading.Lock()


class Result:
    def __init__(self, cfg):
        self.cfg = cfg
        self.violations = []
        self.cycles = 0
        self.faults = {"kill": 0, "partition": 0}
        self.acked = self.cas_acked = self.checked_exact = self.checked_superseded = 0
        self.unknown = self.reads = self.samples = self.cas_conflicts = 0
        self.discarded = self.truncations = 0
        self.kinds = {}
        self.decisions = []  # the operator's view at each promotion
        self.logs = ""
        self.mode = ""

    def add(self, kind, text):
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.violations.append("%s: %s" % (kind, text))

    @property
    def ok(self):
        return not self.violations

    def count(self, kind):
        return self.kinds.get(kind, 0)

    def summary(self):
        return ("failover: %d cycles (%d kill -9, %d partition) on %s, --sync-replicas 1; "
                "writes acknowledged %d (+%d CAS, %d CAS conflicts), checked %d (%d exact in "
                "history, %d superseded), outcome unknown %d; reads %d; revision samples %d; "
                "truncations %d discarding %d records; lost=%d phantom=%d dirty=%d double=%d "
                "stale_epoch=%d backwards=%d tail=%d diverged=%d epoch=%d; violations %d" % (
                    self.cycles, self.faults["kill"], self.faults["partition"], self.mode,
                    self.acked, self.cas_acked, self.cas_conflicts,
                    self.checked_exact + self.checked_superseded, self.checked_exact,
                    self.checked_superseded, self.unknown, self.reads, self.samples,
                    self.truncations, self.discarded, self.count("lost"), self.count("phantom"),
                    self.count("dirty"), self.count("double"), self.count("stale_epoch"),
                    self.count("backwards"), self.count("tail"), self.count("diverged"),
                    self.count("epoch"), len(self.violations)))


def parse_value(v):
    """w<i>.<seq> -> seq (per writer, rising); None for anything else."""
    m = re.fullmatch(r"[wc]\d+\.(\d+)", v or "")
    return int(m.group(1)) if m else None


class Failover:
    def __init__(self, cfg):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.res = Result(cfg)
        self.lock = threading.Lock()
        # The writers' gate: they write only while it is open; busy counts
        # those with a request under way, so the operator knows when none is.
        self.cv = threading.Condition()
        self.open = False
        self.busy = 0
        self.stop = threading.Event()
        self.primary = None
        self.promoted_at = {}              # epoch -> monotonic time its promotion replied
        self.acks = []                     # (key, seq, rev, node, epoch, t)
        self.owned = {}                    # node name -> [(rev, key)] acked by it, since its last epoch
        self.keys = {}
        self.cas = {}                      # name -> {expected_rev: (newrev, value)}
        self.cas_revs = {}                 # name -> {rev: value} acked
        self.cas_sent = {}                 # name -> set of values sent

    # ------------------------------------------------------------ setup

    def node_args(self):
        c = self.cfg
        return ("--sync-replicas", "1", "--sync-timeout", repl.sync_timeout_arg(c.sync_timeout),
                "--repl-timeout", str(c.repl_timeout), "--history", str(c.history))

    def violation(self, kind, text):
        with self.lock:
            self.res.add(kind, text)

    def run(self):
        with Cluster(3, loopback=self.cfg.loopback) as cl:
            self.cl = cl
            self.res.mode = ("loopback (%s)" % cl.why) if cl.loopback else "3 network namespaces"
            faults = [f for f in self.cfg.faults if f == "kill" or not cl.loopback]
            self.nodes = [Node("n%d" % i, cl.daemon(i, self.node_args())) for i in range(3)]
            threads = []
            try:
                self.nodes[0].d.start()
                for n in self.nodes[1:]:
                    n.d.start(["--replica-of", self.nodes[0].d.addr])
                self.primary = self.nodes[0]
                for n in self.nodes[1:]:
                    self.wait(n, lambda s: link_up(s), "%s following n0" % n.name)
                threads = self.start_clients()
                for cycle in range(self.cfg.cycles):
                    # Violations do not stop the run (each kind is counted);
                    # a Stop, or a client thread's death, does.
                    if self.stop.is_set():
                        break
                    self.cycle(cycle, self.rng.choice(faults))
                    self.res.cycles += 1
            except Stop as e:
                self.violation("stuck", str(e))
            finally:
                self.stop.set()
                self.set_gate(True)
                for t in threads:
                    t.join(30)
                self.res.logs = "".join("---- %s %s log tail:\n%s\n" % (n.name, n.d.addr, n.d.log()[-6000:])
                                        for n in self.nodes)
        return self.res

    def wait(self, node, pred, what, timeout=20.0):
        try:
            return wait_stats(node.d, pred, timeout, what)
        except AssertionError as e:
            raise Stop(str(e))

    # ------------------------------------------------------------ clients

    def start_clients(self):
        ts = []
        for i in range(self.cfg.writers):
            keys = [Key("w%dk%d" % (i, j)) for j in range(self.cfg.keys_per_writer)]
            for k in keys:
                self.keys[k.name] = k
            ts.append(self.thread("writer%d" % i, self.writer, i, keys))
        for j in range(self.cfg.cas_keys):
            name = "cas%d" % j
            self.cas[name], self.cas_revs[name], self.cas_sent[name] = {}, {}, set()
        for i in range(self.cfg.cas_writers):
            ts.append(self.thread("cas%d" % i, self.cas_writer, i))
        for i in range(self.cfg.readers):
            ts.append(self.thread("reader%d" % i, self.reader, i))
        ts.append(self.thread("monitor", self.monitor))
        return ts

    def thread(self, name, fn, *args):
        def body():
            try:
                fn(*args)
            except Exception as e:  # a bug here must fail the run, not hide
                self.violation("checker", "%s died: %r" % (name, e))
                self.stop.set()
        t = threading.Thread(target=body, name=name, daemon=True)
        t.start()
        return t

    def connect_primary(self):
        """(client, node, epoch) on the node believed primary, if it says
        it is one; else None."""
        node = self.primary
        try:
            c = node.d.connect(CONNECT_TIMEOUT)
        except OSError:
            return None
        try:
            st = c.stats()
            if st.get("role") != "primary" or st.get("fenced") != "0":
                c.close()
                return None
            c.sock.settimeout(self.cfg.sync_timeout * 10 + 5)
            return c, node, int(st["epoch"])
        except (OSError, KeyError, ValueError):
            c.close()
            return None

    def enter(self):
        """A writer's request may start: waits while the gate is shut."""
        with self.cv:
            while not self.open and not self.stop.is_set():
                self.cv.wait(0.1)
            self.busy += 1

    def leave(self):
        with self.cv:
            self.busy -= 1
            self.cv.notify_all()

    def set_gate(self, open_):
        with self.cv:
            self.open = open_
            self.cv.notify_all()

    def drain(self, timeout):
        """Shuts the gate and waits until no writer has a request under way."""
        with self.cv:
            self.open = False
            return self.cv.wait_for(lambda: self.busy == 0, timeout)

    def writer(self, i, keys):
        rng = random.Random(self.cfg.seed * 1000 + i)
        conn, seq = None, 0
        while True:
            self.enter()
            try:
                if self.stop.is_set():
                    break
                conn, seq = self.write_one(i, keys, rng, conn, seq)
            finally:
                self.leave()

    def write_one(self, i, keys, rng, conn, seq):
        if conn is None:
            conn = self.connect_primary()
            if conn is None:
                time.sleep(0.02)
                return None, seq
        c, node, epoch = conn
        k = rng.choice(keys)
        seq += 1
        value = "w%d.%d" % (i, seq)
        with k.lock:
            k.sent.add(seq)
        try:
            reply = c.cmd("MSET_CHECKPOINT %s %s" % (k.name, value))
        except OSError:
            reply = None
        t = time.monotonic()
        m = re.fullmatch(r"OK (\d+)", reply or "")
        if m:
            rev = int(m.group(1))
            with k.lock:
                k.acked.append((seq, rev))
            with self.lock:
                self.acks.append((k.name, seq, rev, node.name, epoch, t))
                self.owned.setdefault(node.name, []).append((rev, k.name))
                self.res.acked += 1
        else:
            with self.lock:
                self.res.unknown += 1
            if reply is not None and not reply.startswith("ERR"):
                self.violation("other", "%s: MSET_CHECKPOINT %s %s answered %r"
                               % (node.name, k.name, value, reply))
            c.close()
            conn = None
        return conn, seq

    def cas_writer(self, i):
        rng = random.Random(self.cfg.seed * 2000 + i)
        conn, seq = None, 0
        while True:
            self.enter()
            try:
                if self.stop.is_set():
                    break
                conn, seq = self.cas_one(i, rng, conn, seq)
            finally:
                self.leave()

    def cas_one(self, i, rng, conn, seq):
        if conn is None:
            conn = self.connect_primary()
            if conn is None:
                time.sleep(0.02)
                return None, seq
        c, node, epoch = conn
        key = rng.choice(sorted(self.cas))
        try:
            got = c.cmd("GETREV_CHECKPOINT %s" % key)
            expected = 0 if got == "NULL" else int(got.split()[0])
            seq += 1
            value = "c%d.%d" % (i, seq)
            with self.lock:
                self.cas_sent[key].add(value)
            reply = c.cmd("CAS_CHECKPOINT %s %d %s" % (key, expected, value))
        except (OSError, AttributeError, ValueError):
            reply = None
        t = time.monotonic()
        m = re.fullmatch(r"OK (\d+)", reply or "")
        if m:
            rev = int(m.group(1))
            with self.lock:
                prev = self.cas[key].get(expected)
                if prev is not None:
                    self.res.add("double", "%s: CAS from revision %d acknowledged twice: %r and "
                                 "%r (rev %d, by %s in epoch %d)" % (key, expected, prev,
                                                                    value, rev, node.name, epoch))
                self.cas[key][expected] = (rev, value)
                self.cas_revs[key][rev] = value
                self.acks.append((key, None, rev, node.name, epoch, t))
                self.owned.setdefault(node.name, []).append((rev, key))
                self.res.cas_acked += 1
        elif reply and reply.startswith("CONFLICT"):
            with self.lock:
                self.res.cas_conflicts += 1
        else:
            with self.lock:
                self.res.unknown += 1
            c.close()
            conn = None
        return conn, seq

    def reader(self, i):
        rng = random.Random(self.cfg.seed * 3000 + i)
        conns = {}
        names = sorted(self.keys)
        while not self.stop.is_set():
            node = rng.choice(self.nodes)
            c = conns.get(node.name)
            try:
                if c is None:
                    c = conns[node.name] = node.d.connect(CONNECT_TIMEOUT)
                name = rng.choice(names)
                v = c.cmd("GET_CHECKPOINT %s" % name)
                if v is None:
                    raise OSError("closed")
            except (OSError, TypeError):
                if c is not None:
                    c.close()
                conns.pop(node.name, None)
                time.sleep(0.01)
                continue
            if v == "NULL":
                continue
            seq = parse_value(v)
            k = self.keys[name]
            with k.lock:
                if seq is None or seq not in k.sent:
                    self.violation("phantom", "reader saw %s=%r on %s, never sent" % (name, v, node.name))
                else:
                    k.seen.append((seq, node.name))
            with self.lock:
                self.res.reads += 1
        for c in conns.values():
            c.close()

    def monitor(self):
        conns = {}
        while not self.stop.is_set():
            for n in self.nodes:
                c = conns.get(n.name)
                try:
                    if c is None:
                        if not n.d.running():
                            continue
                        c = conns[n.name] = n.d.connect(CONNECT_TIMEOUT)
                    rev = int(c.stats()["revision"])
                except (OSError, KeyError, ValueError):
                    if c is not None:
                        c.close()
                    conns.pop(n.name, None)
                    continue
                with self.lock:
                    self.res.samples += 1
                    if rev < n.max_rev:  # one violation per move back, not per sample after
                        self.res.add("backwards", "%s: STATS revision %d after %d" % (n.name, rev, n.max_rev))
                    n.max_rev = rev
            self.stop.wait(0.05)
        for c in conns.values():
            c.close()

    # ------------------------------------------------------------ a cycle

    def cycle(self, cycle, fault):
        self.set_gate(True)
        self.stop.wait(self.rng.uniform(self.cfg.load_min, self.cfg.load_max))
        old = self.primary
        mark = len(old.d.stderr_lines)
        if fault == "kill":
            old.d.kill()
        else:
            self.cl.isolate(old.d.host)
        self.res.faults[fault] += 1
        if not self.drain(self.cfg.sync_timeout * 10 + 10):
            raise Stop("cycle %d: writers still busy long after the fault" % cycle)
        new = self.operate(old, fault, mark, cycle)
        self.check(cycle, old, new)

    def operate(self, old, fault, mark, cycle):
        """The operator: promote the in-sync replica with the highest
        durable revision, point the other at it, bring the old primary
        back as its replica. Returns the new primary."""
        others = [n for n in self.nodes if n is not old]
        for n in others:
            self.wait(n, lambda s: link_down(s), "cycle %d: %s seeing %s gone"
                      % (cycle, n.name, old.name), timeout=self.cfg.repl_timeout * 10 + 5)
        cands = []
        for n in others:
            st = stats_of(n.d)
            self.res.decisions.append("cycle %d (%s of %s): %s in_sync_set:%s durable_revision:%s "
                                      "revision:%s epoch:%s" % (cycle, fault, old.name, n.name,
                                                                st.get("in_sync_set"),
                                                                st.get("durable_revision"),
                                                                st.get("revision"), st.get("epoch")))
            if st.get("in_sync_set") == "1":
                cands.append((num(st, "durable_revision"), n.name, n))
        if not cands:
            raise Stop("cycle %d: no replica reports in_sync_set:1: %r" % (
                cycle, [repl.replication_rows(stats_of(n.d)) for n in others]))
        new = max(cands)[2]
        other = [n for n in others if n is not new][0]
        reply = repl.promote(new.d)
        t = time.monotonic()
        if reply != "OK":
            raise Stop("cycle %d: REPLICAOF NO ONE on %s: %r" % (cycle, new.name, reply))
        epoch = num(stats_of(new.d), "epoch")
        with self.lock:
            self.promoted_at[epoch] = t
        self.primary = new
        other_mark = len(other.d.stderr_lines)
        if repl.follow(other.d, new.d) != "OK":
            raise Stop("cycle %d: REPLICAOF on %s refused" % (cycle, other.name))
        if fault == "kill":
            old.d.restart(["--replica-of", new.d.addr])
            mark = 0
        else:
            self.cl.heal(old.d.host)
            if repl.follow(old.d, new.d) != "OK":
                raise Stop("cycle %d: REPLICAOF on the old primary %s refused" % (cycle, old.name))
        top = num(stats_of(new.d), "revision")
        for n in (old, other):
            st = self.wait(n, lambda s: s.get("role") == "replica" and link_up(s)
                           and num(s, "primary_epoch") == epoch and num(s, "revision") >= top,
                           "cycle %d: %s following %s in epoch %d" % (cycle, n.name, new.name, epoch))
            # Its log holds the new epoch's EPOCH record once it follows
            # (the spec's epoch row: "the epoch of this node's log").
            if num(st, "epoch") != epoch:
                self.violation("epoch", "cycle %d: %s follows %s of epoch %d but its log's epoch "
                               "is %s" % (cycle, n.name, new.name, epoch, st["epoch"]))
        self.tail_check(other, other_mark, cycle, old)
        self.tail_check(old, mark, cycle, old)
        with self.lock:
            self.owned.pop(old.name, None)
        return new

    def tail_check(self, node, mark, cycle, owner):
        """The discarded line, if any: nothing the deposed primary (owner)
        acknowledged lay above the cut."""
        for line in node.d.stderr_lines[mark:]:
            m = re.search(DISCARDED_RE.encode(), line)
            if not m:
                continue
            n, after = int(m.group(1)), int(m.group(2))
            with self.lock:
                self.res.truncations += 1
                self.res.discarded += n
                bad = [(rev, k) for rev, k in self.owned.get(owner.name, []) if rev > after]
                if bad:
                    self.res.add("tail", "cycle %d: %s discarded %d records after revision %d, "
                                 "among them writes %s acknowledged: %r"
                                 % (cycle, node.name, n, after, owner.name, bad[:5]))

    # ------------------------------------------------------------ checks

    def history(self, c, name):
        c.send(("HISTORY_CHECKPOINT %s 1001\n" % name).encode())
        out = []
        while True:
            line = c.readline()
            if line is None:
                raise Stop("HISTORY_CHECKPOINT %s: connection closed" % name)
            if line == "END":
                return out
            rev, _ms, value = line.split(" ", 2)
            out.append((int(rev), value))

    def check(self, cycle, old, new):
        with closing(new.d.connect(30)) as c:
            for name, k in sorted(self.keys.items()):
                self.check_key(cycle, c, k)
            for name in sorted(self.cas):
                self.check_cas(cycle, c, name)
        # No write acknowledged by a primary after a newer epoch existed.
        with self.lock:
            for key, seq, rev, node, epoch, t in self.acks:
                newer = [e for e, at in self.promoted_at.items() if e > epoch and at < t]
                if newer:
                    self.res.add("stale_epoch", "cycle %d: %s acknowledged %s rev %d in epoch %d "
                                 "after epoch %d was promoted" % (cycle, node, key, rev, epoch, min(newer)))
            self.acks = []
        lists = [(n.name, repl.contents(n.d)) for n in self.nodes]
        for name, cont in lists[1:]:
            if cont != lists[0][1]:
                diff = sorted(k for k in set(cont) | set(lists[0][1]) if cont.get(k) != lists[0][1].get(k))
                self.violation("diverged", "cycle %d: %s and %s differ on %r" % (cycle, lists[0][0], name, diff[:5]))

    def check_key(self, cycle, c, k):
        hist = self.history(c, k.name)
        with k.lock:
            if not hist:
                if k.acked or k.floor:
                    self.violation("lost", "cycle %d: %s absent; acknowledged %r" % (cycle, k.name, k.acked[-1:]))
                return
            shown = {}
            for rev, value in hist:
                seq = parse_value(value) if value.startswith(k.name.split("k")[0] + ".") else None
                if seq is None or seq not in k.sent:
                    self.violation("phantom", "cycle %d: %s shows %r (rev %d), never sent" % (cycle, k.name, value, rev))
                    return
                shown[seq] = rev
            cur = parse_value(hist[0][1])
            oldest = hist[-1][0]
            for seq, rev in k.acked:
                if seq in shown:
                    if shown[seq] != rev:
                        self.violation("lost", "cycle %d: %s value seq %d at rev %d, acknowledged at %d"
                                       % (cycle, k.name, seq, shown[seq], rev))
                    self.res.checked_exact += 1
                elif rev >= oldest or seq > cur:
                    self.violation("lost", "cycle %d: %s: acknowledged seq %d rev %d missing; shown %r"
                                   % (cycle, k.name, seq, rev, hist[:4]))
                else:
                    self.res.checked_superseded += 1
            if cur < k.floor:
                self.violation("lost", "cycle %d: %s shows seq %d, earlier shown %d" % (cycle, k.name, cur, k.floor))
            for seq, node in sorted(set(k.seen)):  # each value once, however often read
                if seq > cur:
                    self.violation("dirty", "cycle %d: %s seq %d was read on %s, now %d on the new primary"
                                   % (cycle, k.name, seq, node, cur))
            k.floor = max(k.floor, cur)
            k.acked, k.seen = [], []

    def check_cas(self, cycle, c, name):
        hist = self.history(c, name)
        with self.lock:
            revs, sent = self.cas_revs[name], self.cas_sent[name]
            shown = dict(hist)
            for rev, value in hist:
                if value not in sent:
                    self.res.add("phantom", "cycle %d: %s shows %r, never sent" % (cycle, name, value))
            oldest = hist[-1][0] if hist else 0
            top = hist[0][0] if hist else 0
            for rev, value in revs.items():
                if rev in shown:
                    if shown[rev] != value:
                        self.res.add("lost", "cycle %d: %s rev %d holds %r, acknowledged %r"
                                     % (cycle, name, rev, shown[rev], value))
                    self.res.checked_exact += 1
                elif rev >= oldest or rev > top:
                    self.res.add("lost", "cycle %d: %s acknowledged rev %d (%r) missing" % (cycle, name, rev, value))
                else:
                    self.res.checked_superseded += 1
            self.cas_revs[name] = {}


def run(cfg):
    return Failover(cfg).run()


# ---------------------------------------------------------------- catch-up

def pump(d, host, n, prefix, keys, conns=4, window=2000):
    """n SET_CHECKPOINTs on `keys` pipelines, pipelined `window` deep on
    `conns` connections from host; returns the seconds taken."""
    per = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    errors = []

    def one(i, count):
        try:
            with closing(host.connect_to(d.host.ip, d.port, 60)) as c:
                done = 0
                while done < count:
                    m = min(window, count - done)
                    c.send("".join("SET_CHECKPOINT %s%d v%d.%d\n" % (
                        prefix, ((done + j) * conns + i) % keys, i, done + j) for j in range(m)).encode())
                    for _ in range(m):
                        r = c.readline()
                        if r != "OK":
                            raise RuntimeError("SET_CHECKPOINT: %r" % r)
                    done += m
        except Exception as e:
            errors.append(e)
    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(i, per[i])) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return time.monotonic() - t0


def catch_up(writes=1000000, keys=100000, loopback=None, out=print):
    """The catch-up measurement; returns {partial_s, full_s, ...}."""
    res = {}
    with Cluster(2, loopback=loopback) as cl:
        p = cl.daemon(0, ("--repl-timeout", "10"))
        r = cl.daemon(1, ("--repl-timeout", "10"))
        p.start()
        r.start(["--replica-of", p.addr])
        res["where"] = "loopback" if cl.loopback else "2 network namespaces"
        wait_stats(r, repl.caught_up(stats_of(p)), 60, "replica following")
        for phase in ("partial", "full"):
            if r.stop() != 0:
                raise RuntimeError("replica did not exit 0 on SIGTERM:\n" + r.log()[-3000:])
            took = pump(p, cl[0], writes, "c", keys)
            out("catch-up (%s): %d writes while the replica was down, in %.1f s (%.0f/s)"
                % (phase, writes, took, writes / took))
            if phase == "full":
                with closing(p.connect(600)) as c:
                    if c.cmd("COMPACT") != "OK":
                        raise RuntimeError("COMPACT failed")
            target = num(stats_of(p), "revision")
            t0 = time.monotonic()
            r.start(["--replica-of", p.addr])
            # Generous (a 1M-write catch-up takes seconds), yet bounded: a
            # sync that never starts fails the run rather than hang it.
            wait_stats(r, lambda s: num(s, "revision") >= target, 30 + writes / 10000,
                       "replica caught up by a %s sync" % phase)
            took = time.monotonic() - t0
            rx = PARTIAL_RE if phase == "partial" else FULL_RE
            m = r.wait_log(rx, 0)
            if m is None:
                raise RuntimeError("expected a %s sync; replica log:\n%s" % (phase, r.log()[-3000:]))
            res[phase + "_s"] = took
            res[phase + "_line"] = m.group(0).decode()
            out("catch-up (%s): replica restarted and applied revision %d in %.2f s (%s)"
                % (phase, target, took, m.group(0).decode()))
        if repl.contents(r) != repl.contents(p):
            raise RuntimeError("replica's contents differ from the primary's after catch-up")
        res["revision"] = target
        for d in (r, p):
            if d.stop() != 0:
                raise RuntimeError("%s did not exit 0 on SIGTERM" % d.addr)
    return res


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="failover.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=10, help="failovers (default 10; the long form: 100)")
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--cas-writers", type=int, default=2)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faults", default="kill,partition",
                    help="comma-separated: kill, partition (partition needs namespaces)")
    ap.add_argument("--loopback", action="store_true", help="hosts on loopback, not namespaces")
    ap.add_argument("--catch-up", type=int, metavar="WRITES", default=0,
                    help="instead: the catch-up measurement with WRITES writes (e.g. 1000000)")
    ap.add_argument("--catch-up-keys", type=int, default=100000)
    ap.add_argument("--build-dir", help="ignored here: the harness reads SS_BUILD_DIR")
    return ap.parse_args(argv)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    loopback = True if a.loopback else None
    if not a.loopback and not available():
        print("failover: no network namespaces (%s): loopback, kill faults only" % available().reason)
    if a.catch_up:
        res = catch_up(a.catch_up, a.catch_up_keys, loopback)
        print("catch-up on %s: %d writes; partial sync %.2f s, full sync (after COMPACT) %.2f s"
              % (res["where"], a.catch_up, res["partial_s"], res["full_s"]))
        return 0
    cfg = Config(cycles=a.cycles, writers=a.writers, cas_writers=a.cas_writers, readers=a.readers,
                 seed=a.seed, faults=tuple(a.faults.split(",")), loopback=loopback)
    print("failover: %d cycles, %d writers, %d CAS writers, %d readers, seed %d"
          % (cfg.cycles, cfg.writers, cfg.cas_writers, cfg.readers, cfg.seed), flush=True)
    res = run(cfg)
    print(res.summary())
    if res.ok and res.cycles == cfg.cycles:
        print("PASS")
        return 0
    print("FAIL: %d violation(s)" % len(res.violations))
    for kind in sorted(res.kinds):
        these = [v for v in res.violations if v.startswith(kind + ":")]
        for v in these[:SHOW_PER_KIND]:
            print("  " + v)
        if len(these) > SHOW_PER_KIND:
            print("  ... and %d more %s" % (len(these) - SHOW_PER_KIND, kind))
    print("the operator's view at each promotion:")
    for d in res.decisions:
        print("  " + d)
    print(res.logs, end="")
    return 1
