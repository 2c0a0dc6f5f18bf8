"""torture.py - kill -9 torture of the real statestored daemon.

The promise under test: a mutation acknowledged with OK survives kill -9 and
restarts, and nothing that was never sent ever appears.

One cycle: the daemon runs on a data directory while writer threads commit
to it, a compactor thread asks for COMPACT over and over and a reader thread
reads the writers' keys; the daemon is SIGKILLed at a random moment; it is
restarted on the same directory; every key is read back and checked against
what the writers know. Then the threads reconnect and carry on from their
state.

The model (torture_model.py). Each writer owns a few keys and speaks on its
own connection, so the daemon answers each key's operations in the order
they were sent, and every SET value is an integer unique in the run (a few
padded to tens of KB, which must come back whole). After a restart a key
must hold the last acknowledged state or the state after some prefix of the
operations then in flight:

  - a value older than the last acknowledged one, or absence where no DEL
    can explain it, is a LOST write;
  - a value never sent to the key, or one that an earlier restart showed was
    not durable, is a PHANTOM;
  - TTL_CHECKPOINT must match the operation that wrote the value: -1 for a
    plain SET, at most the TTL sent (replay must not extend it) and no less
    than the elapsed time leaves; -2 when absent.

Replies are checked as they arrive too: OK for every SET, and DEL's 1/0 must
match the key's state. A value the reader saw must not be older than a write
acknowledged before its GET, and must survive the next restart: readers see
only durable values, so losing one is a DIRTY read.

CAS writers contend on a few shared pipelines with the read-CAS loop the
README recommends: GETREV_CHECKPOINT, then CAS_CHECKPOINT from the revision
read, again on CONFLICT; every OK <rev> is recorded with its value and its
expected revision (SharedPipeline in torture_model.py). As replies arrive:
no two acknowledged CAS commits from one expected revision of a pipeline,
no revision acknowledged twice, and a CONFLICT never names the revision the
CAS expected. After every restart: HISTORY_CHECKPOINT of each shared
pipeline holds every acknowledged revision (and every one an earlier
restart showed) that is within the history depth, with its value, and each
version it shows was written by a CAS from the version below it; STATS
revision never goes backwards across restarts and is at least every
revision acknowledged.

RESP writers (--txn-writers) commit MULTI/EXEC transactions on keys of
their own (TxnModel in torture_model.py), pipelining a few: each SETs its
number, unique per writer, on 2 to all of the writer's keys (some padded to
tens of KB), some after a WATCH of them, some with a GET queued among the
SETs. As replies arrive: +OK and a +QUEUED per command, an EXEC array of +OK
per SET (never nil: nothing else touches a watched key), and the GET's
answer the newest value the connection sent to the key. A reader MGETs all
of a writer's keys at once: never a transaction in part, nothing older than
acknowledged. After every restart: no transaction shows on one of its keys
and older on another (PARTIAL), no key older than its newest acknowledged
transaction (LOST) or than a reader saw (DIRTY), and the state is exactly
the acknowledged one with some prefix of the transactions then in flight
applied: those were found whole, the rest absent (never to appear later).

Ballast keys, written once before the first cycle, make the table big
enough that a compaction's walk of it takes several slices (of about
SS_COMPACT_SLICE_US, one per loop iteration): commits land between its
slices, so the snapshot is fuzzy and the replay of its tail must make it
exact, and kills land in the middle of the walk. The ballast must survive
every restart and compaction unchanged. STATS entries must equal the number
of keys we expect to exist: one more would be a key that was never written.

The daemon must die only by our SIGKILL: if it exits by itself, closes a
connection we did not expect to lose, logs an error or a sanitizer report,
or fails to start on the data directory, the run fails and its stderr is
printed. The run stops at the first cycle with a violation and keeps the
data directory for a post-mortem.

Kill triggers, drawn per cycle from the seed: a random delay after the
writers are released; a random number of acknowledgements (the writer that
receives the n-th OK kills); or the compactor's n-th COMPACT, killed right
after the request is sent, mostly after a short random delay, so the kill
lands while the daemon compacts; or "backup" (above). A kill "during COMPACT" is one with a
COMPACT sent and its reply never received. The data directory then tells
where any kill landed: the compaction temp file left behind means inside a
compaction, between its start and its rename (startup removes a stale one,
so this run made it); if that file is still empty, no byte of the snapshot
had reached it, so the kill landed during the walk (the walk hands its bytes
to the writing thread in chunks of SS_COMPACT_CHUNK, and a snapshot smaller
than that all at its end: the moment between the walk's end and that one
write landing counts too). A log with a new inode means after the rename
(only a compaction renames over the log); for a kill during COMPACT, neither
means before the compaction began, perhaps before the daemon even read the
request.

Online backups (BACKUP, issue 16): in some cycles a backup client sends one
BACKUP to a fresh directory while the writers write, having first noted
what every writer key and transaction key had acknowledged (their floors).
In some of those ("backup" trigger) the daemon is killed once the backup's
DIR.partial appears, after a random delay up to compact_kill_delay, so the
kill lands mid-backup (the snapshot's sync is slowed as a compaction's is),
or as long after its reply.
After each kill, before the restart: DIR and DIR.partial never both exist;
a BACKUP that replied OK <rev> left DIR; and every DIR that exists (replied
or renamed just before the kill) is a complete backup: a plain statestored
started on it cuts no torn tail, serves every ballast key exactly, every
writer and transaction key a value that was sent to it (never a phantom,
nor a transaction in part), none older than its floor (a LOST write:
acknowledged before the BACKUP was sent), STATS revision the replied one,
and STATS entries the keys it shows. Its values were durable in the live
store (a backup copies applied state), so they count as a reader's: the
live store must not show anything older after the restart (DIRTY), and its
revision is at least the backup's. A DIR.partial left by a kill is a "kill
mid-backup". Each checked backup is then removed.

A crash in the middle of a compaction must not keep the daemon down: the
restart, made at once, must start, remove the temp file and replay the old
log. To make that case common, the daemon is statestored-faulty with
SS_FAULT_SNAPSHOT_DELAY_US (--snapshot-delay): each compaction's snapshot
sync sleeps that long, as the snapshot of a table of millions of entries
takes seconds, while the loop commits the tail; so a kill after a COMPACT
mostly finds the compaction running.

Timing (which thread runs when) is not deterministic, so the seed fixes the
plan (kill triggers, operations, keys, TTLs), not the exact interleaving.

Usage: scripts/torture.py [--cycles N] [--writers N] [--cas-writers N]
                          [--txn-writers N] [--seed S]
                          [--build-dir DIR] [--data-dir DIR] [--ballast N]
                          [--max-delay SECONDS] [--progress N]
                          [--snapshot-delay SECONDS] [--history N]
Exit status: 0 if every check passed, 1 on any violation, 2 on bad options.
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field

from . import harness  # the shared daemon helpers
from .client import Client
from .torture_model import Key, Op, RespError, SharedPipeline, Status, TxnModel, Violation

LOG_FILE = "statestored.log"  # SS_LOG_FILE and SS_LOG_TMP_FILE,
LOG_TMP_FILE = "statestored.log.tmp"  # include/statestored/store.h
IO_TIMEOUT = 120.0     # a reply slower than this means the daemon is stuck
STALL_TIMEOUT = 120.0  # a kill trigger not reached in this long: no progress
TTL_MIN, TTL_MAX = 3600, 7 * 86400  # far longer than any run
BIG_VALUE_MAX = 60000  # padding: the value stays under SS_VALUE_MAX (65536)
SHOW_VIOLATIONS = 50  # printed in full; the rest are counted
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


@dataclass
class Config:
    cycles: int = 1000
    writers: int = 8
    cas_writers: int = 3     # threads running the read-CAS loop on the shared pipelines
    shared_pipelines: int = 2
    history: int = 4         # the daemon's --history
    keys_per_writer: int = 4
    txn_writers: int = 2     # threads committing MULTI/EXEC transactions over RESP
    txn_keys: int = 6        # keys each of them owns; a transaction SETs 2 to all of them
    txn_pipeline: int = 3    # most transactions a RESP writer sends before reading replies
    pipeline: int = 4        # most requests a writer sends before reading replies
    big_values: float = 0.03  # share of SETs whose value is padded to 1..60 KB
    ballast: int = 4000      # keys written once, checked every cycle: a compaction's
    ballast_bytes: int = 50  # walk of them takes 4-8 slices (2 vCPUs, Release)
    max_delay: float = 0.25  # "delay" trigger: uniform in [0, max_delay] seconds
    max_acks: int = 1500     # "acks" trigger: uniform in [1, max_acks]
    max_compacts: int = 3    # "compact" trigger: the n-th COMPACT, n in [1, max_compacts]
    compact_pause: float = 0.02  # compactor waits uniform in [0, this] between COMPACTs
    compact_kill_delay: float = 0.02  # "compact" trigger: kill up to this long after sending
    backups: float = 0.2     # share of the other cycles with a BACKUP, sent within max_delay
    snapshot_delay: float = 0.05  # each snapshot's sync sleeps this long (0: plain daemon)
    seed: int = 1
    build_dir: str = None
    data_dir: str = None
    progress: int = 0        # print a line every N cycles (0: never)
    out: object = sys.stdout


@dataclass
class Result:
    cycles: int = 0
    acked_sets: int = 0
    acked_dels: int = 0
    in_flight: int = 0           # ops sent but unacknowledged at the kills
    in_flight_durable: int = 0   # of those, found durable after the restart
    lost: int = 0
    phantoms: int = 0
    dirty_reads: int = 0         # values a reader saw that a restart then lost
    other: int = 0               # wrong replies, stale reads, TTLs, crashes, stalls
    reads: int = 0               # GETs answered to the reader while writers wrote
    cas_acked: int = 0           # CAS_CHECKPOINT OK replies
    cas_conflicts: int = 0       # ... and CONFLICT replies (each retried)
    cas_unacked_durable: int = 0  # versions a restart showed that were never acknowledged
    history_checks: int = 0      # shared pipelines' histories checked after restarts
    revision: int = 0            # STATS revision after the last restart
    txn_acked: int = 0           # MULTI/EXEC transactions acknowledged (their EXEC array read)
    txn_in_flight: int = 0       # ... sent, their EXEC unanswered at the kills
    txn_whole: int = 0           # of those, found whole after the restart
    txn_absent: int = 0          # ... and found absent
    partial: int = 0             # transactions found in part: durable or seen (must be 0)
    txn_reads: int = 0           # MGETs of a RESP writer's keys while it wrote
    double: int = 0              # two CAS from one expected revision, a revision twice
    kills: dict = field(default_factory=lambda: {"delay": 0, "acks": 0, "compact": 0,
                                                 "backup": 0})
    kills_during_compact: int = 0
    kills_after_rename: int = 0  # ... after the new log was in place, before the reply
    kills_before_compaction: int = 0  # ... before the compaction began (no temp file)
    kills_mid_compaction: int = 0  # kills inside a compaction: its temp file left
    kills_mid_walk: int = 0      # ... and that file empty: during the walk of the table
    compactions: int = 0         # COMPACTs acknowledged
    torn_tails: int = 0          # restarts that cut a torn tail
    backups_sent: int = 0        # BACKUPs sent
    backups_acked: int = 0       # ... answered OK <rev>
    backups_checked: int = 0     # backup directories restored and read back
    backups_unanswered: int = 0  # ... of those, renamed before a kill that cut the reply off
    kills_mid_backup: int = 0    # kills that left a DIR.partial (and no DIR)
    elapsed: float = 0.0
    violations: list = field(default_factory=list)
    daemon_log: str = ""         # stderr of the last two daemon runs, on failure
    data_dir: str = None
    backup_dir: str = None       # where the BACKUPs went, kept after a failure

    @property
    def acked(self):
        return self.acked_sets + self.acked_dels

    @property
    def ok(self):
        return not self.violations

    def summary(self):
        k = self.kills
        return "\n".join([
            "cycles                 %d" % self.cycles,
            "acknowledged writes    %d (SET %d, DEL %d)" % (self.acked, self.acked_sets,
                                                           self.acked_dels),
            "lost writes            %d" % self.lost,
            "phantoms               %d" % self.phantoms,
            "dirty reads            %d (of %d concurrent reads)" % (self.dirty_reads, self.reads),
            "CAS commits acked      %d (%d CONFLICTs retried); %d histories checked, "
            "%d unacknowledged versions found durable; store revision %d"
            % (self.cas_acked, self.cas_conflicts, self.history_checks,
               self.cas_unacked_durable, self.revision),
            "double CAS successes   %d" % self.double,
            "transactions acked     %d (MULTI/EXEC over RESP); in flight at kills %d: "
            "%d found whole, %d found absent; %d MGETs concurrent with them"
            % (self.txn_acked, self.txn_in_flight, self.txn_whole, self.txn_absent,
               self.txn_reads),
            "partial transactions   %d" % self.partial,
            "other violations       %d" % self.other,
            "kills during COMPACT   %d (COMPACT sent, no reply): %d inside the compaction, "
            "%d after the rename, %d before the compaction began"
            % (self.kills_during_compact, self.kills_during_compact - self.kills_after_rename -
               self.kills_before_compaction, self.kills_after_rename,
               self.kills_before_compaction),
            "kills by trigger       delay %d, acks %d, compact %d, backup %d"
            % (k["delay"], k["acks"], k["compact"], k["backup"]),
            "backups                %d sent, %d acked; %d restored and checked (%d renamed "
            "before a kill cut the reply off); kills mid-backup %d (DIR.partial left, no DIR)"
            % (self.backups_sent, self.backups_acked, self.backups_checked,
               self.backups_unanswered, self.kills_mid_backup),
            "kills mid-compaction   %d (its temp file left; each restarted at once): %d during "
            "the walk (the file still empty)" % (self.kills_mid_compaction, self.kills_mid_walk),
            "in flight at kills     %d (%d found durable)" % (self.in_flight,
                                                          self.in_flight_durable),
            "compactions acked      %d" % self.compactions,
            "torn tails cut         %d" % self.torn_tails,
            "elapsed                %.1f s" % self.elapsed,
        ])


class Control:
    """What the controller and the worker threads share for one epoch (the
    life of one daemon process)."""

    def __init__(self, nthreads):
        self.cond = threading.Condition()
        self.nthreads = nthreads
        self.epoch = 0
        self.port = None
        self.stop = False
        self.daemon = None
        self.killed = threading.Event()
        self.parked = 0
        self.acks = 0
        self.ack_target = None
        self.compact_target = None  # (n-th COMPACT, delay after sending it)
        self.backup_target = None   # (delay before BACKUP, kill delay or None, after what)
        self.problems = []          # Violations reported by the threads

    def begin(self, daemon, ack_target=None, compact_target=None, backup_target=None):
        with self.cond:
            self.epoch += 1
            self.port = daemon.port
            self.daemon = daemon
            self.killed = threading.Event()
            self.parked = 0
            self.acks = 0
            self.ack_target = ack_target
            self.compact_target = compact_target
            self.backup_target = backup_target
            self.cond.notify_all()

    def wait_epoch(self, seen):
        """Blocks until an epoch after seen starts; returns (epoch, port,
        killed event), or None when the run is over."""
        with self.cond:
            self.cond.wait_for(lambda: self.stop or self.epoch > seen)
            return None if self.stop else (self.epoch, self.port, self.killed)

    def kill(self):
        """SIGKILLs the daemon once per epoch, from any thread."""
        with self.cond:
            if self.killed.is_set():
                return
            self.killed.set()  # before the signal: whoever sees EOF sees this
            self.daemon.proc.send_signal(signal.SIGKILL)
            self.cond.notify_all()

    def ack(self):
        with self.cond:
            self.acks += 1
            hit = self.ack_target is not None and self.acks >= self.ack_target
        if hit:
            self.kill()

    def report(self, violation):
        with self.cond:
            self.problems.append(violation)
            self.cond.notify_all()

    def park(self):
        with self.cond:
            self.parked += 1
            self.cond.notify_all()


class EpochThread(threading.Thread):
    """A worker: for each epoch, one session(port, killed) that runs until
    the connection dies, then ended() with what it returned (None if it
    raised a Violation, which goes to the controller), then park."""

    def run(self):
        seen = 0
        while True:
            got = self.ctl.wait_epoch(seen)
            if got is None:
                return
            seen, port, killed = got
            violation = None
            try:
                result = self.session(port, killed)
            except Violation as v:
                result, violation = None, v
            self.ended(result)
            if violation is not None:
                self.ctl.report(violation)
            self.ctl.park()

    def ended(self, result):
        pass


class Writer(EpochThread):
    def __init__(self, wid, cfg, ctl):
        super().__init__(name="writer-%d" % wid, daemon=True)
        self.wid, self.cfg, self.ctl = wid, cfg, ctl
        self.rng = random.Random("%d/writer/%d" % (cfg.seed, wid))
        self.keys = [Key("torture-w%d-k%d" % (wid, k)) for k in range(cfg.keys_per_writer)]
        self.seq = 0
        self.acked_sets = self.acked_dels = 0

    def next_value(self):
        self.seq += 1
        return self.seq * self.cfg.writers + self.wid  # unique in the run

    def next_ops(self):
        ops = []
        for _ in range(self.rng.randint(1, self.cfg.pipeline)):
            key = self.rng.choice(self.keys)
            r = self.rng.random()
            if r < 0.10:
                op = Op("DEL")
            else:
                ttl = self.rng.randint(TTL_MIN, TTL_MAX) if r < 0.25 else None
                pad = 0
                if self.rng.random() < self.cfg.big_values:
                    pad = self.rng.randint(1000, BIG_VALUE_MAX)
                op = Op("SET", self.next_value(), ttl, pad=pad)
            ops.append((key, op))
        return ops

    def session(self, port, killed):
        """Writes until the connection dies; raises Violation if it died
        without our kill."""
        client = None
        try:
            client = Client(port, IO_TIMEOUT)
            while True:
                if self.rng.random() < 0.01:  # now and then, a fresh connection
                    if client.cmd("QUIT") != "OK":
                        raise EOFError
                    client.close()
                    client = Client(port, IO_TIMEOUT)
                ops = self.next_ops()
                now = time.monotonic()
                for key, op in ops:
                    op.sent_at = now
                    key.send(op)
                client.send("".join(op.line(key.name) for key, op in ops))
                for key, op in ops:
                    reply = client.readline()
                    if reply is None:
                        raise EOFError
                    key.ack(op, reply)
                    if op.kind == "SET":
                        self.acked_sets += 1
                    else:
                        self.acked_dels += 1
                    self.ctl.ack()
        except (OSError, EOFError) as e:
            if not killed.is_set():
                raise Violation("other", "%s lost its connection without a kill: %r"
                                % (self.name, e))
        finally:
            if client:
                client.close()


class CasWriter(EpochThread):
    """The read-CAS-retry loop on the shared pipelines, as a pipeline worker
    commits: GETREV_CHECKPOINT, then CAS_CHECKPOINT from the revision read;
    on CONFLICT read again. Every reply is checked as it arrives."""

    def __init__(self, wid, cfg, ctl, shared, lock):
        super().__init__(name="cas-writer-%d" % wid, daemon=True)
        self.wid, self.cfg, self.ctl = wid, cfg, ctl
        self.shared, self.lock = shared, lock
        self.rng = random.Random("%d/cas-writer/%d" % (cfg.seed, wid))
        self.seq = 0
        self.acked = self.conflicts = 0

    def session(self, port, killed):
        client = None
        try:
            client = Client(port, IO_TIMEOUT)
            while True:
                p = self.rng.choice(self.shared)
                reply = client.cmd("GETREV_CHECKPOINT %s" % p.name)
                if reply is None:
                    raise EOFError
                exp = 0 if reply == "NULL" else int(reply.split(" ", 1)[0])
                self.seq += 1
                value = "c%d.%d" % (self.wid, self.seq)  # unique in the run
                with self.lock:
                    p.send(value, exp)
                reply = client.cmd("CAS_CHECKPOINT %s %d %s" % (p.name, exp, value))
                if reply is None:
                    raise EOFError
                word, _, rev = reply.partition(" ")
                if word not in ("OK", "CONFLICT") or not rev.isdigit():
                    raise Violation("other", "%s: CAS %s %d got %r" % (self.name, p.name, exp,
                                                                      reply))
                with self.lock:
                    if word == "OK":
                        p.ack(value, exp, int(rev))
                        self.acked += 1
                    else:
                        p.conflict(exp, int(rev))
                        self.conflicts += 1
                if word == "OK":
                    self.ctl.ack()
        except (OSError, EOFError, ConnectionError) as e:
            if not killed.is_set():
                raise Violation("other", "%s lost its connection without a kill: %r"
                                % (self.name, e))
        finally:
            if client:
                client.close()


def resp(*args):
    """One RESP request: an array of bulk strings (str or int arguments)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_resp(client):
    """One RESP2 reply from client (a Client): Status for +, RespError for
    -, int, str for a bulk, None for a nil bulk or array, list for an array.
    Raises EOFError at EOF, Violation for bytes that are not RESP2."""
    line = client.readline()
    if line is None:
        raise EOFError
    if not line.endswith("\r"):
        raise Violation("other", "a RESP reply line without CRLF: %r" % line[:80])
    t, rest = line[:1], line[1:-1]
    if t == "+":
        return Status(rest)
    if t == "-":
        return RespError(rest)
    if t in (":", "$", "*") and rest.lstrip("-").isdigit():
        n = int(rest)
        if t == ":":
            return n
        if n == -1:
            return None
        if n >= 0 and t == "*":
            return [read_resp(client) for _ in range(n)]
        if n >= 0:
            data = client.read_exactly(n + 2)
            if data is None:
                raise EOFError
            if data[n:] != b"\r\n":
                raise Violation("other", "a RESP bulk of %d bytes not ended by CRLF" % n)
            return data[:n].decode("utf-8", "surrogateescape")
    raise Violation("other", "not a RESP2 reply: %r" % line[:80])


class TxnWriter(EpochThread):
    """Commits MULTI/EXEC transactions over RESP on its own keys (a
    TxnModel), pipelining a few: each SETs its number on 2 to all of the
    keys, some after a WATCH of them (which nothing else touches, so EXEC
    must not answer nil), some with a GET queued among the SETs (EXEC
    decides against the staged state: the GET answers the newest value this
    connection sent to the key, this transaction's own if it SET it before).
    Each reply is checked as it arrives: +OK, a +QUEUED per command, and an
    EXEC array of +OK per SET."""

    def __init__(self, wid, cfg, ctl):
        super().__init__(name="txn-writer-%d" % wid, daemon=True)
        self.wid, self.cfg, self.ctl = wid, cfg, ctl
        self.rng = random.Random("%d/txn-writer/%d" % (cfg.seed, wid))
        self.model = TxnModel("torture-txn%d" % wid, cfg.txn_keys)

    def next_txn(self):
        rng, n = self.rng, self.cfg.txn_keys
        keys = rng.sample(range(n), rng.randint(2, n))
        pad = rng.randint(1000, BIG_VALUE_MAX) if rng.random() < self.cfg.big_values else 0
        get = (rng.randint(0, len(keys)), rng.randrange(n)) if rng.random() < 0.3 else None
        return self.model.send(keys, pad, get, watch=rng.random() < 0.2)

    def request(self, t):
        m = self.model
        out = [resp("WATCH", *(m.names[k] for k in t.keys))] if t.watch else []
        out.append(resp("MULTI"))
        sets = [resp("SET", m.names[k], m.value(t.tid, k)) for k in t.keys]
        if t.get is not None:
            sets.insert(t.get[0], resp("GET", m.names[t.get[1]]))
        return b"".join(out + sets + [resp("EXEC")])

    def session(self, port, killed):
        client = None
        try:
            client = Client(port, IO_TIMEOUT)
            while True:
                if self.rng.random() < 0.01:  # now and then, a fresh connection
                    client.send(resp("QUIT"))
                    if read_resp(client) != "OK":
                        raise EOFError
                    client.close()
                    client = Client(port, IO_TIMEOUT)
                # Recorded as sent before any byte goes out.
                txns = [self.next_txn() for _ in range(self.rng.randint(1, self.cfg.txn_pipeline))]
                client.send(b"".join(self.request(t) for t in txns))
                for t in txns:
                    replies = [read_resp(client) for _ in range(t.nreplies())]
                    self.model.ack(t, replies, read_resp(client))
                    self.ctl.ack()
        except (OSError, EOFError) as e:
            if not killed.is_set():
                raise Violation("other", "%s lost its connection without a kill: %r"
                                % (self.name, e))
        finally:
            if client:
                client.close()


class Compactor(EpochThread):
    def __init__(self, cfg, ctl):
        super().__init__(name="compactor", daemon=True)
        self.cfg, self.ctl = cfg, ctl
        self.rng = random.Random("%d/compactor" % cfg.seed)
        self.acked = 0
        # Per epoch: None, or the log's inode when the COMPACT that was
        # outstanding at the kill (sent, no reply) was sent.
        self.outstanding = []

    def ended(self, result):
        self.outstanding.append(result)

    def session(self, port, killed):
        """COMPACTs until the connection dies. Returns None, or if it died
        with a COMPACT sent and unanswered, the log's inode before it."""
        target = self.ctl.compact_target
        log = os.path.join(self.ctl.daemon.data_dir, LOG_FILE)
        client, sent, outstanding = None, 0, None
        try:
            client = Client(port, IO_TIMEOUT)
            while not killed.is_set():
                ino = os.stat(log).st_ino  # only a compaction renames over the log
                client.send("COMPACT\n")
                outstanding = ino
                sent += 1
                if target and sent == target[0]:
                    if target[1]:
                        killed.wait(target[1])
                    self.ctl.kill()
                reply = client.readline()
                if reply is None:
                    raise EOFError
                outstanding = None
                if reply != "OK":
                    raise Violation("other", "COMPACT got %r" % reply)
                self.acked += 1
                killed.wait(self.rng.uniform(0, self.cfg.compact_pause))
            return None
        except (OSError, EOFError) as e:
            if not killed.is_set():
                raise Violation("other", "the compactor lost its connection without a "
                                "kill: %r" % e)
            return outstanding
        finally:
            if client:
                client.close()


class BackupRequest:
    """One BACKUP sent: its directory, the floors noted before it was sent
    (per writer key its read_floor(), per transaction model its
    read_floor()), and the revision its reply named, if one came."""

    def __init__(self, path, key_floors, txn_floors):
        self.path, self.key_floors, self.txn_floors = path, key_floors, txn_floors
        self.rev = None


class Backupper(EpochThread):
    """Sends one BACKUP, to a fresh directory under root, in the epochs the
    controller gives a backup_target: after its delay, having noted the
    floors; with a kill delay, kills the daemon that long after the
    backup's DIR.partial appears, or after its reply. It reads the reply
    (OK <rev>, or the connection's end at the kill) and idles until the
    kill. The requests of
    the epoch are checked by the controller after it (Torture.check_backups)."""

    def __init__(self, cfg, ctl, root, keys, txns):
        super().__init__(name="backupper", daemon=True)
        self.cfg, self.ctl, self.root, self.keys, self.txns = cfg, ctl, root, keys, txns
        self.n = 0
        self.requests = []  # this epoch's, taken by the controller after it

    def session(self, port, killed):
        target = self.ctl.backup_target
        if target is None or killed.wait(target[0]):
            return
        client = None
        try:
            client = Client(port, IO_TIMEOUT)
            self.n += 1
            b = BackupRequest(os.path.join(self.root, "b%d" % self.n),
                              [k.read_floor() for k in self.keys],
                              [m.read_floor() for m in self.txns])
            self.requests.append(b)
            client.send("BACKUP %s\n" % b.path)
            if target[1] is not None and target[2] == "partial":
                # An event we can see: the backup began (or it ended, or
                # the daemon is gone); then the kill, inside the backup.
                harness.wait_until(lambda: killed.is_set() or client.buf or
                                   os.path.exists(b.path + ".partial") or
                                   os.path.exists(b.path), IO_TIMEOUT, interval=0.001)
                killed.wait(target[1])
                self.ctl.kill()
            reply = client.readline()
            if reply is None:
                raise EOFError
            m = re.fullmatch(r"OK (\d+)", reply)
            if not m:
                raise Violation("other", "BACKUP %s got %r" % (b.path, reply))
            b.rev = int(m.group(1))
            if target[1] is not None and target[2] == "reply":
                killed.wait(target[1])
                self.ctl.kill()
            killed.wait()
        except (OSError, EOFError) as e:
            if not killed.is_set():
                raise Violation("other", "the backupper lost its connection without a kill: "
                                "%r" % e)
        finally:
            if client:
                client.close()


class Reader(EpochThread):
    """GETs the writers' keys while they write: every value seen must be
    one that was sent, no older than what was acknowledged before the GET,
    and - since readers see only durable values - still there after the
    next restart. On a second connection, over RESP, it MGETs all of a
    RESP writer's keys at once (txns: their TxnModels): the same, and no
    transaction in part."""

    def __init__(self, cfg, ctl, keys, txns):
        super().__init__(name="reader", daemon=True)
        self.cfg, self.ctl, self.keys, self.txns = cfg, ctl, keys, txns
        self.rng = random.Random("%d/reader" % cfg.seed)
        self.reads = self.txn_reads = 0

    def session(self, port, killed):
        client = rclient = None
        try:
            client = Client(port, IO_TIMEOUT)
            rclient = Client(port, IO_TIMEOUT) if self.txns else None
            while True:
                if self.txns and self.rng.random() < 0.3:
                    # All of a RESP writer's keys at once: no transaction in part.
                    m = self.rng.choice(self.txns)
                    floor = m.read_floor()
                    rclient.send(resp("MGET", *m.names))
                    reply = read_resp(rclient)
                    if not isinstance(reply, list) or len(reply) != len(m.names) or \
                            not all(r is None or type(r) is str for r in reply):
                        raise Violation("other", "MGET of %s got %r" % (m.prefix, reply))
                    m.saw(reply, floor)
                    self.txn_reads += 1
                keys = [self.rng.choice(self.keys) for _ in range(self.rng.randint(1, 8))]
                floors = [k.read_floor() for k in keys]
                client.send("".join("GET_CHECKPOINT %s\n" % k.name for k in keys))
                for k, floor in zip(keys, floors):
                    reply = client.readline()
                    if reply is None:
                        raise EOFError
                    k.saw(reply, floor)
                    self.reads += 1
        except (OSError, EOFError) as e:
            if not killed.is_set():
                raise Violation("other", "the reader lost its connection without a kill: %r"
                                % e)
        finally:
            for c in (client, rclient):
                if c:
                    c.close()


class Torture:
    def __init__(self, cfg):
        self.cfg = cfg
        self.rng = random.Random("%d/controller" % cfg.seed)
        self.res = Result()
        self.ctl = Control(cfg.writers + cfg.cas_writers + cfg.txn_writers + 3)
        self.writers = [Writer(w, cfg, self.ctl) for w in range(cfg.writers)]
        self.txn_writers = [TxnWriter(w, cfg, self.ctl) for w in range(cfg.txn_writers)]
        self.txns = [w.model for w in self.txn_writers]
        self.compactor = Compactor(cfg, self.ctl)
        self.reader = Reader(cfg, self.ctl, [k for w in self.writers for k in w.keys],
                             self.txns)
        revs = {}  # every revision a CAS was acknowledged with, in the run
        self.shared = [SharedPipeline("torture-shared-%d" % i, revs)
                       for i in range(cfg.shared_pipelines)]
        self.shared_lock = threading.Lock()
        self.cas_writers = [CasWriter(w, cfg, self.ctl, self.shared, self.shared_lock)
                            for w in range(cfg.cas_writers)]
        self.backup_root = tempfile.mkdtemp(prefix="ss-torture-backups-")
        self.backupper = Backupper(cfg, self.ctl, self.backup_root,
                                   [k for w in self.writers for k in w.keys], self.txns)
        self.backup_rev = 0  # the newest revision a backup showed: durable in the live store
        self.threads = (self.writers + self.cas_writers + self.txn_writers +
                        [self.compactor, self.reader, self.backupper])
        self.ballast = {}
        self.prev_log = ""
        self.daemon = None

    def run(self):
        cfg = self.cfg
        if cfg.build_dir:
            harness.BUILD_DIR = cfg.build_dir
        own_dir = cfg.data_dir is None
        data_dir = cfg.data_dir or tempfile.mkdtemp(prefix="ss-torture-")
        if os.path.isdir(data_dir) and os.listdir(data_dir):
            raise ValueError("%s is not empty; the checks need a fresh data dir" % data_dir)
        self.res.data_dir = data_dir
        args = ["--history", str(cfg.history)]
        if cfg.snapshot_delay > 0:
            self.daemon = harness.Daemon(data_dir=data_dir, args=args,
                                         program="statestored-faulty", env={
                                             "SS_FAULT_SNAPSHOT_DELAY_US":
                                             str(int(cfg.snapshot_delay * 1e6))})
        else:
            self.daemon = harness.Daemon(data_dir=data_dir, args=args)
        t0 = time.monotonic()
        for t in self.threads:
            t.start()
        try:
            self.start_daemon()
            self.write_ballast()
            for cycle in range(1, cfg.cycles + 1):
                self.cycle(cycle)
                self.res.cycles = cycle
                if cfg.progress and cycle % cfg.progress == 0:
                    print("cycle %d: %d acked, %d kills during COMPACT, %.0f s"
                          % (cycle, self.acked(), self.res.kills_during_compact,
                             time.monotonic() - t0), file=cfg.out, flush=True)
            self.clean_shutdown()
        except Violation as v:
            self.record(v)
        finally:
            with self.ctl.cond:
                self.ctl.stop = True
                self.ctl.cond.notify_all()
            if self.daemon.proc and self.daemon.proc.poll() is None:
                self.daemon.kill()
            for t in self.threads:
                t.join(IO_TIMEOUT)
        self.res.acked_sets = sum(w.acked_sets for w in self.writers)
        self.res.acked_dels = sum(w.acked_dels for w in self.writers)
        self.res.compactions = self.compactor.acked
        self.res.reads = self.reader.reads
        self.res.cas_acked = sum(w.acked for w in self.cas_writers)
        self.res.cas_conflicts = sum(w.conflicts for w in self.cas_writers)
        self.res.txn_acked = sum(m.acked for m in self.txns)
        self.res.txn_reads = self.reader.txn_reads
        self.res.elapsed = time.monotonic() - t0
        if self.res.ok and own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        if self.res.ok:
            shutil.rmtree(self.backup_root, ignore_errors=True)
        else:
            self.res.backup_dir = self.backup_root
        return self.res

    def acked(self):
        return (sum(w.acked_sets + w.acked_dels for w in self.writers) +
                sum(w.acked for w in self.cas_writers) + sum(m.acked for m in self.txns))

    def record(self, v, cycle=None):
        if v.kind == "lost":
            self.res.lost += 1
        elif v.kind == "phantom":
            self.res.phantoms += 1
        elif v.kind == "dirty":
            self.res.dirty_reads += 1
        elif v.kind == "double":
            self.res.double += 1
        elif v.kind == "partial":
            self.res.partial += 1
        else:
            self.res.other += 1
        self.res.violations.append("cycle %d: %s: %s" % (cycle or self.res.cycles + 1,
                                                         v.kind, v.text))

    def fail(self, kind, text, also=()):
        """Ends the run: records the violations in also, keeps the daemon's
        stderr (this run's and the one before) and raises Violation."""
        for v in also:
            self.record(v)
        self.res.daemon_log = ("--- daemon stderr, previous run ---\n%s"
                               "--- daemon stderr, last run ---\n%s"
                               % (self.prev_log, self.daemon.log()))
        raise Violation(kind, text)

    def start_daemon(self):
        try:
            self.daemon.start()
        except RuntimeError:
            self.fail("other", "the daemon did not start on the data directory (%s)"
                      % exit_status(self.daemon.wait()))
        if "torn tail" in self.daemon.log():
            self.res.torn_tails += 1
        self.check_log()

    def check_log(self):
        bad = [ln for ln in self.daemon.log().splitlines()
               if "[error]" in ln or any(m in ln for m in SANITIZER_MARKS)]
        if bad:
            self.fail("other", "the daemon logged errors: %s" % bad[:5])

    def write_ballast(self):
        for i in range(self.cfg.ballast):
            self.ballast["torture-ballast-%d" % i] = ("b%d-" % i).ljust(self.cfg.ballast_bytes,
                                                                        "x")
        names = list(self.ballast)
        try:
            with closing(self.daemon.connect(IO_TIMEOUT)) as c:
                for chunk in windows(names):
                    c.send("".join("SET_CHECKPOINT %s %s\n" % (n, self.ballast[n])
                                   for n in chunk))
                    for n in chunk:
                        reply = c.readline()
                        if reply is None:
                            self.closed("writing the ballast")
                        if reply != "OK":
                            self.fail("other", "ballast SET %s got %r" % (n, reply))
        except OSError as e:
            self.closed("writing the ballast: %r" % e)

    def closed(self, what):
        """Ends the run after the daemon closed a connection while no kill
        was planned, saying whether it died by itself (and how)."""
        try:
            code = self.daemon.wait(10)  # an exit closes the connection first
        except subprocess.TimeoutExpired:
            self.fail("other", "%s: the daemon closed the connection" % what)
        self.fail("other", "%s: the daemon died by itself (%s)" % (what, exit_status(code)))

    def plan(self):
        """Draws this cycle's kill trigger, (kind, argument), and its backup
        target (None, or the delay before the BACKUP and the kill delay
        after its DIR.partial appears or its reply comes, None for no kill, and
        which of the two)."""
        r = self.rng.random()
        backup = self.rng.uniform(0, self.cfg.max_delay)
        if r < 0.85 and self.rng.random() >= self.cfg.backups:
            backup = None
        else:
            backup = (backup, None, None)
        if r < 0.33:
            return "delay", self.rng.uniform(0, self.cfg.max_delay), backup
        if r < 0.6:
            return "acks", self.rng.randint(1, self.cfg.max_acks), backup
        if r < 0.85:
            # Right after the request, or a little later: inside the compaction.
            delay = 0 if self.rng.random() < 0.25 else \
                self.rng.uniform(0, self.cfg.compact_kill_delay)
            return "compact", (self.rng.randint(1, self.cfg.max_compacts), delay), backup
        # Inside the backup, or just after its reply (its DIR renamed,
        # the parent perhaps not yet durable on a real power loss).
        return "backup", None, (backup[0], self.rng.uniform(0, self.cfg.compact_kill_delay),
                                "partial" if self.rng.random() < 0.5 else "reply")

    def cycle(self, cycle):
        """Runs the writers against the daemon until the kill, then restarts
        it and checks every key."""
        ctl = self.ctl
        mode, arg, backup = self.plan()
        ctl.begin(self.daemon, ack_target=arg if mode == "acks" else None,
                  compact_target=arg if mode == "compact" else None, backup_target=backup)
        killed = ctl.killed
        with ctl.cond:
            ctl.cond.wait_for(lambda: killed.is_set() or ctl.problems,
                              arg if mode == "delay" else STALL_TIMEOUT)
            stalled = not killed.is_set() and not ctl.problems and mode != "delay"
        if not killed.is_set():
            ctl.kill()
        self.res.kills[mode] += 1
        self.end_epoch(stalled)
        self.prev_log = self.daemon.log()
        self.check_backups()
        # At once: a supervisor (systemd's Restart=always) does not wait.
        self.start_daemon()
        self.verify()

    def end_epoch(self, stalled):
        """After the kill: waits for the process and every thread, notes
        where the kill landed, then checks how the daemon died and what the
        threads saw."""
        ctl = self.ctl
        code = self.daemon.wait(IO_TIMEOUT)
        with ctl.cond:
            parked = ctl.cond.wait_for(lambda: ctl.parked == ctl.nthreads, IO_TIMEOUT)
            problems = list(ctl.problems)
            ctl.problems.clear()
        d = self.daemon.data_dir
        try:  # made by this daemon's compaction: startup removes a stale one
            mid = os.path.getsize(os.path.join(d, LOG_TMP_FILE))
        except FileNotFoundError:
            mid = None
        if mid is not None:
            self.res.kills_mid_compaction += 1
            self.res.kills_mid_walk += mid == 0
        ino = self.compactor.outstanding[-1] if self.compactor.outstanding else None
        if ino is not None:
            self.res.kills_during_compact += 1
            if mid is None and os.stat(os.path.join(d, LOG_FILE)).st_ino != ino:
                self.res.kills_after_rename += 1
            elif mid is None:
                self.res.kills_before_compaction += 1
        if code != -signal.SIGKILL:
            self.fail("other", "the daemon died by itself (%s), not by our SIGKILL"
                      % exit_status(code), problems)
        self.check_log()
        if not parked:
            self.fail("other", "threads did not notice the kill in %d s" % IO_TIMEOUT, problems)
        if stalled:
            self.fail("other", "no kill trigger in %d s: the daemon made no progress"
                      % STALL_TIMEOUT, problems)
        if problems:
            self.fail(problems[0].kind, problems[0].text, problems[1:])

    def verify(self):
        """Reads every key back and checks it; all threads are parked."""
        keys = [k for w in self.writers for k in w.keys]
        names = list(self.ballast)
        try:
            with closing(self.daemon.connect(IO_TIMEOUT)) as c:
                c.send("".join("GET_CHECKPOINT %s\nTTL_CHECKPOINT %s\n" % (k.name, k.name)
                               for k in keys))
                seen = [(c.readline(), c.readline()) for _ in keys]
                # The RESP writers' keys through the text protocol: the one store.
                tnames = [n for m in self.txns for n in m.names]
                c.send("".join("GET_CHECKPOINT %s\nTTL_CHECKPOINT %s\n" % (n, n)
                               for n in tnames))
                tseen = [(c.readline(), c.readline()) for _ in tnames]
                ballast = []
                for chunk in windows(names):
                    c.send("".join("GET_CHECKPOINT %s\n" % n for n in chunk))
                    ballast += [c.readline() for _ in chunk]
                histories = []
                for p in self.shared:
                    c.send("HISTORY_CHECKPOINT %s %d\n" % (p.name, self.cfg.history + 1))
                    histories.append(read_history(c))
                stats = c.stats()
        except OSError as e:
            self.closed("reading the keys back after the restart: %r" % e)
        if any(r is None for pair in seen + tseen for r in pair) or None in ballast or \
                not stats:
            self.closed("reading the keys back after the restart")
        now = time.monotonic()
        problems = []
        present = 0
        for k, (value, ttl) in zip(keys, seen):
            inflight = len(k.pending)
            try:
                durable = k.check(value, ttl, now)
            except Violation as e:
                problems.append(e)
                continue
            present += k.base is not None
            self.res.in_flight += inflight
            self.res.in_flight_durable += durable
        for name, got in zip(names, ballast):
            if got != self.ballast[name]:
                problems.append(Violation("lost" if got == "NULL" else "phantom",
                                          "ballast %s holds %r, not its value"
                                          % (name, got[:40])))
        problems += self.verify_txns(tseen)
        present += sum(1 for value, _ in tseen if value != "NULL")
        problems += self.verify_shared(histories, stats)
        present += sum(1 for h in histories if h)
        expect = present + len(names)
        entries = int(stats.get("entries", -1))
        if entries != expect and not problems:
            problems.append(Violation("phantom" if entries > expect else "other",
                                      "STATS entries %d, but %d keys exist" % (entries, expect)))
        if problems:
            self.fail(problems[0].kind, problems[0].text, problems[1:])

    def verify_txns(self, seen):
        """The RESP writers' keys after a restart: seen is (GET_CHECKPOINT,
        TTL_CHECKPOINT) of each, writer by writer. Returns the Violations."""
        problems = []
        for m in self.txns:
            mine, seen = seen[:len(m.names)], seen[len(m.names):]
            for name, (value, ttl) in zip(m.names, mine):
                want = "-2" if value == "NULL" else "-1"  # no TTL is ever set on them
                if ttl != want:
                    problems.append(Violation("other", "%s: TTL_CHECKPOINT %r after the "
                                              "restart, expected %s" % (name, ttl, want)))
            inflight = len(m.pending)
            try:
                whole, absent = m.check([None if v == "NULL" else v for v, _ in mine])
            except Violation as e:
                problems.append(e)
                continue
            self.res.txn_in_flight += inflight
            self.res.txn_whole += whole
            self.res.txn_absent += absent
        return problems

    def verify_shared(self, histories, stats):
        """The shared pipelines' histories and the store's revision after a
        restart; returns the Violations found."""
        problems = []
        if None in histories:
            self.closed("reading the shared pipelines' histories after the restart")
        if int(stats.get("history", -1)) != self.cfg.history:
            problems.append(Violation("other", "STATS history %s, but the daemon runs with "
                                      "--history %d" % (stats.get("history"), self.cfg.history)))
        for p, history in zip(self.shared, histories):
            try:
                self.res.cas_unacked_durable += p.check(history, self.cfg.history)
                self.res.history_checks += 1
            except Violation as e:
                problems.append(e)
        rev = int(stats.get("revision", -1))
        acked = max((p.newest_acked() for p in self.shared), default=0)
        if rev < self.res.revision:
            problems.append(Violation("lost", "STATS revision %d after the restart, below %d "
                                      "after the one before" % (rev, self.res.revision)))
        if rev < acked:
            problems.append(Violation("lost", "STATS revision %d after the restart, below %d, "
                                      "acknowledged to a CAS" % (rev, acked)))
        if rev < self.backup_rev:
            problems.append(Violation("lost", "STATS revision %d after the restart, below %d, "
                                      "which a backup holds" % (rev, self.backup_rev)))
        self.res.revision = max(rev, self.res.revision)
        return problems

    def check_backups(self):
        """After a kill, before the restart: what this epoch's BACKUPs left
        (Backupper; the module's docstring says what must hold). Each
        checked backup is removed."""
        requests, self.backupper.requests = self.backupper.requests, []
        for b in requests:
            self.res.backups_sent += 1
            self.res.backups_acked += b.rev is not None
            partial = b.path + ".partial"
            if os.path.exists(partial):
                self.res.kills_mid_backup += 1
                if os.path.exists(b.path):
                    self.fail("other", "backup %s: both it and its .partial exist" % b.path)
            elif b.rev is not None and not os.path.isdir(b.path):
                self.fail("lost", "BACKUP %s replied OK %d, but there is no such directory"
                          % (b.path, b.rev))
            if os.path.isdir(b.path):
                self.check_backup(b)
                self.res.backups_checked += 1
                self.res.backups_unanswered += b.rev is None
            shutil.rmtree(b.path, ignore_errors=True)
            shutil.rmtree(partial, ignore_errors=True)

    def check_backup(self, b):
        """Restores the backup b (a plain statestored on its directory),
        reads every key back and checks it against the floors and the
        models; its values then count as seen, durable."""
        d = harness.Daemon(b.path, ["--history", str(self.cfg.history)])
        what = "backup %s" % os.path.basename(b.path)
        try:
            try:
                d.start()
            except RuntimeError:
                self.fail("other", "%s: statestored does not start on it (%s):\n%s"
                          % (what, exit_status(d.wait()), d.log()))
            m = re.search(r"(\d+) torn bytes cut", d.log())
            if not m or m.group(1) != "0":
                self.fail("other", "%s: its start cut a torn tail: %s"
                          % (what, m.group(0) if m else "no replay summary"))
            names = list(self.ballast)
            keys = self.backupper.keys
            tnames = [n for m in self.txns for n in m.names]
            with closing(d.connect(IO_TIMEOUT)) as c:
                got = []
                for chunk in windows([k.name for k in keys] + tnames +
                                     [p.name for p in self.shared] + names):
                    c.send("".join("GET_CHECKPOINT %s\n" % n for n in chunk))
                    got += [c.readline() for _ in chunk]
                stats = c.stats()
            code = d.stop()
        finally:
            if d.proc and d.proc.poll() is None:
                d.kill()
        if None in got or not stats:
            self.fail("other", "%s: its statestored closed the connection" % what)
        if code != 0:
            self.fail("other", "%s: its statestored exited with %s on SIGTERM"
                      % (what, exit_status(code)))
        kvals, got = got[:len(keys)], got[len(keys):]
        tvals, got = got[:len(tnames)], got[len(tnames):]
        svals, bvals = got[:len(self.shared)], got[len(self.shared):]
        tshown = list(tvals)
        try:
            for k, value, floor in zip(keys, kvals, b.key_floors):
                k.saw(value, floor)
            for m, floor in zip(self.txns, b.txn_floors):
                mine, tvals = tvals[:len(m.names)], tvals[len(m.names):]
                m.saw([None if v == "NULL" else v for v in mine], floor)
        except Violation as e:
            # Older than a floor: a write acknowledged before the BACKUP
            # was sent is not in it.
            kind = "lost" if "stale read" in e.text else e.kind
            self.fail(kind, "%s: %s" % (what, e.text.replace("a reader saw", "holds").replace(
                "a stale read", "older than acknowledged before the BACKUP was sent")))
        for p, value in zip(self.shared, svals):
            if value != "NULL" and value not in p.sent:
                self.fail("phantom", "%s: %s holds %r, never sent to it" % (what, p.name, value))
        for name, value in zip(names, bvals):
            if value != self.ballast[name]:
                self.fail("lost" if value == "NULL" else "phantom",
                          "%s: ballast %s holds %r, not its value" % (what, name, value[:40]))
        rev = int(stats.get("revision", -1))
        if b.rev is not None and rev != b.rev:
            self.fail("other", "%s: its STATS revision is %d, but BACKUP replied OK %d"
                      % (what, rev, b.rev))
        present = len(names) + sum(v != "NULL" for v in kvals + tshown + svals)
        if int(stats.get("entries", -1)) != present:
            self.fail("phantom", "%s: STATS entries %s, but %d keys exist"
                      % (what, stats.get("entries"), present))
        self.backup_rev = max(self.backup_rev, rev)

    def clean_shutdown(self):
        """The last restart's state was verified; SIGTERM must end it cleanly."""
        code = self.daemon.stop()
        self.check_log()
        if code != 0:
            self.fail("other", "SIGTERM: the daemon exited with %s, expected 0"
                      % exit_status(code))


def read_history(c):
    """HISTORY_CHECKPOINT's lines up to END as [(rev, commit_ms, value)];
    None if the connection closed."""
    out = []
    while True:
        line = c.readline()
        if line is None:
            return None
        if line == "END":
            return out
        rev, commit_ms, value = line.split(" ", 2)
        out.append((int(rev), int(commit_ms), value))


def windows(items, n=256):
    """items in slices of n: a pipelined window the socket buffers hold."""
    return [items[i:i + n] for i in range(0, len(items), n)]


def exit_status(code):
    if code is not None and code < 0:
        return "killed by %s" % signal.Signals(-code).name
    return "exit code %s" % code


def run(cfg):
    return Torture(cfg).run()


def parse_args(argv):
    p = argparse.ArgumentParser(description="kill -9 torture of statestored")
    d = Config()
    p.add_argument("--cycles", type=int, default=d.cycles, help="kill/restart cycles (%(default)s)")
    p.add_argument("--writers", type=int, default=d.writers, help="writer threads (%(default)s)")
    p.add_argument("--cas-writers", type=int, default=d.cas_writers,
                   help="threads running the read-CAS loop on shared pipelines (%(default)s)")
    p.add_argument("--txn-writers", type=int, default=d.txn_writers,
                   help="threads committing MULTI/EXEC transactions over RESP (%(default)s)")
    p.add_argument("--history", type=int, default=d.history,
                   help="the daemon's --history, checked after every restart (%(default)s)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: drawn, printed)")
    p.add_argument("--build-dir", default=None,
                   help="where statestored is built (default: $SS_BUILD_DIR or ./build)")
    p.add_argument("--data-dir", default=None,
                   help="an empty or new data dir (default: a temp dir, removed on success)")
    p.add_argument("--ballast", type=int, default=d.ballast,
                   help="keys written once and checked every cycle (%(default)s)")
    p.add_argument("--max-delay", type=float, default=d.max_delay,
                   help="longest random kill delay, seconds (%(default)s)")
    p.add_argument("--progress", type=int, default=50,
                   help="print progress every N cycles, 0 for never (%(default)s)")
    p.add_argument("--snapshot-delay", type=float, default=d.snapshot_delay,
                   help="seconds each compaction's snapshot sync sleeps, so that kills "
                   "find a compaction running; 0 runs the plain daemon (%(default)s)")
    a = p.parse_args(argv)
    if a.cycles < 1 or a.writers < 1 or a.ballast < 0 or a.max_delay < 0 or \
            a.snapshot_delay < 0 or a.cas_writers < 0 or a.txn_writers < 0 or \
            not 0 <= a.history <= 1000:
        p.error("--cycles and --writers must be positive, --ballast, --max-delay, "
                "--cas-writers and --txn-writers not negative, --history 0 to 1000")
    if a.build_dir:
        a.build_dir = os.path.abspath(a.build_dir)
        harness.BUILD_DIR = a.build_dir
    for prog in ["statestored"] + (["statestored-faulty"] if a.snapshot_delay > 0 else []):
        if not os.path.exists(harness.binary(prog)):
            p.error("no %s in %s: build it (with tests), or pass --build-dir"
                    % (prog, harness.BUILD_DIR))
    if a.data_dir and os.path.isdir(a.data_dir) and os.listdir(a.data_dir):
        p.error("--data-dir %s is not empty; the checks need a fresh data dir" % a.data_dir)
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    return Config(cycles=a.cycles, writers=a.writers, cas_writers=a.cas_writers,
                  txn_writers=a.txn_writers,
                  history=a.history, seed=seed, build_dir=a.build_dir,
                  data_dir=a.data_dir, ballast=a.ballast, max_delay=a.max_delay,
                  progress=a.progress, snapshot_delay=a.snapshot_delay)


def main(argv=None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    print("torture: %d cycles, %d writers, %d CAS writers, %d transaction writers, "
          "--history %d, seed %d" % (cfg.cycles, cfg.writers, cfg.cas_writers,
                                     cfg.txn_writers, cfg.history, cfg.seed), flush=True)
    res = run(cfg)
    print(res.summary())
    if res.ok:
        print("PASS")
        return 0
    print("FAIL: %d violation(s); data dir kept at %s, backups at %s"
          % (len(res.violations), res.data_dir, res.backup_dir))
    for v in res.violations[:SHOW_VIOLATIONS]:
        print("  " + v)
    if len(res.violations) > SHOW_VIOLATIONS:
        print("  ... and %d more" % (len(res.violations) - SHOW_VIOLATIONS))
    print(res.daemon_log, end="")
    return 1


if __name__ == "__main__":
    sys.exit(main())
