"""torture_model.py - what the torture knows about each key, and the checks
of what the daemon shows against it. No sockets, no threads of its own.

Each SET value is an integer unique in the whole run, so a value names the
one operation that wrote it. Every operation on a key gets the next number
in the key's sequence (seq). Per key:

  base     the state known durable: what the last acknowledged operation
           left (a value, or absent after a DEL), or what a restart showed;
           base_seq is the seq of the operation that left it;
  pending  the operations sent after base and not acknowledged yet, in
           send order (in flight when the daemon was killed);
  sent     every SET value ever sent to the key, in send order, with seqs;
  dropped  values that were in flight at a kill and that the next restart
           showed were not durable: they must never appear later;
  seen_seq the newest operation whose value a reader saw since the last
           restart: readers see only durable values, so it must survive.

The daemon answers one connection's requests in order and a commit makes a
prefix of each connection's operations durable, so after a restart a key
must hold base, or the state after some prefix of pending. That state
becomes the new base; the rest of pending was lost for good, legitimately,
since it was never acknowledged.

Threads: the key's writer calls send and ack; a reader thread calls
read_floor and saw, which only read what the writer appends and raise
seen_seq; the controller calls check while writers and readers are parked.
"""
import bisect
from array import array

TTL_SLACK_S = 5  # the daemon's loop clock may lag a send by one loop iteration


class Violation(Exception):
    # kind: "lost", "phantom", "dirty" (a value seen, then gone after a
    # restart: visible before durable) or "other"
    def __init__(self, kind, text):
        super().__init__(text)
        self.kind = kind
        self.text = text


def value_text(value, pad):
    """The bytes sent for value: the integer, then with pad > 0 a dash and
    pad bytes that depend on the value, so a large record that is torn,
    mixed up or partly replayed cannot pass for a whole one."""
    if not pad:
        return str(value)
    unit = "%x." % value
    return "%d-%s" % (value, (unit * (pad // len(unit) + 1))[:pad])


def parse_value(text):
    """The integer a value's text starts with, or None if it is none of ours."""
    head = text.split("-", 1)[0]
    return int(head) if head.isdigit() else None


class Op:
    """One mutation of one key: kind "SET" (value an int, ttl seconds or
    None, pad the bytes added to its text) or "DEL". sent_at is
    time.monotonic() when it was sent; Key.send numbers it (seq)."""
    __slots__ = ("kind", "value", "ttl", "pad", "sent_at", "seq")

    def __init__(self, kind, value=None, ttl=None, sent_at=None, pad=0):
        self.kind, self.value, self.ttl, self.pad = kind, value, ttl, pad
        self.sent_at, self.seq = sent_at, -1

    def text(self):
        return value_text(self.value, self.pad)

    def line(self, name):
        if self.kind == "DEL":
            return "DEL_CHECKPOINT %s\n" % name
        if self.ttl is None:
            return "SET_CHECKPOINT %s %s\n" % (name, self.text())
        return "SET_CHECKPOINT %s %s %d\n" % (name, self.text(), self.ttl)

    def __repr__(self):
        if self.kind == "DEL":
            return "DEL"
        return "SET %d%s%s" % (self.value, "" if self.pad == 0 else " (+%d bytes)" % self.pad,
                               "" if self.ttl is None else " ttl %d" % self.ttl)


class Key:
    def __init__(self, name):
        self.name = name
        self.nops = 0
        self.base = None        # the SET Op whose value is durable, or None: absent
        self.base_seq = -1
        self.base_how = "never written"  # how base became known, for messages
        self.pending = []
        self.sent = array("q")
        self.sent_seq = array("q")
        self.sent_pad = array("l")
        self.dropped = set()
        self.seen_seq = -1

    def send(self, op):
        """Call before the op's bytes go out: the daemon may commit it at once."""
        op.seq = self.nops
        self.nops += 1
        self.pending.append(op)
        if op.kind == "SET":
            if self.sent and op.value <= self.sent[-1]:
                raise ValueError("values must increase per key")
            self.sent_seq.append(op.seq)
            self.sent_pad.append(op.pad)
            self.sent.append(op.value)  # last: a reader finds a value with its seq

    def ack(self, op, reply):
        """The reply to the oldest pending op. Folds it into base if it is
        the right one; raises Violation if not."""
        assert self.pending and self.pending[0] is op
        if op.kind == "SET":
            if reply != "OK":
                raise Violation("other", "%s: %r got %r, expected OK" % (self.name, op, reply))
        else:
            expect = "0" if self.base is None else "1"
            if reply != expect:
                raise Violation("other", "%s: DEL got %r, expected %s (state before: %s)"
                                % (self.name, reply, expect, self.describe()))
        self.pending.pop(0)
        self._set_base(op, "acknowledged " + op.kind)

    def _set_base(self, op, how):
        """op: the operation that left the durable state, or None: unchanged."""
        self.base = op if op.kind == "SET" else None
        self.base_how = how
        self.base_seq = op.seq

    def describe(self):
        return "%s (%s)" % ("absent" if self.base is None else self.base.value, self.base_how)

    def _lookup(self, text):
        """The seq of the SET that sent exactly this value text, or None."""
        v = parse_value(text)
        pos = bisect.bisect_left(self.sent, v) if v is not None else len(self.sent)
        if pos < len(self.sent) and self.sent[pos] == v and \
                value_text(v, self.sent_pad[pos]) == text:
            return self.sent_seq[pos]
        return None

    def read_floor(self):
        """Call before sending a GET: the seq its answer may not be older than."""
        return self.base_seq

    def saw(self, reply, floor):
        """A reader's GET_CHECKPOINT reply, sent when read_floor() was floor.
        Raises Violation for a value never sent, one older than what was
        acknowledged before the GET, or one a restart showed not durable."""
        if reply == "NULL":
            return  # absence fits too many prefixes to check cheaply
        seq = self._lookup(reply)
        if seq is None:
            raise Violation("phantom", "%s: a reader saw %r, never sent to it"
                            % (self.name, reply[:80]))
        v = parse_value(reply)
        if v in self.dropped:
            raise Violation("phantom", "%s: a reader saw %d, which a restart showed was not "
                            "durable" % (self.name, v))
        if seq < floor:
            raise Violation("other", "%s: a reader saw %d after a newer write was acknowledged: "
                            "a stale read" % (self.name, v))
        if seq > self.seen_seq:
            self.seen_seq = seq

    def check(self, value, ttl, now):
        """Checks the replies to GET_CHECKPOINT and TTL_CHECKPOINT after a
        restart at time.monotonic() now, and makes that state the new base.
        Returns how many of the pending ops were durable. Raises Violation."""
        if value == "NULL":
            v = None
        else:
            v = parse_value(value)
            if v is None:
                raise Violation("phantom", "%s: holds %r, not a value we send"
                                % (self.name, value[:80]))
        # (seq, state) after base and after each prefix of pending
        candidates = [(self.base_seq, self.base)] + [
            (op.seq, op if op.kind == "SET" else None) for op in self.pending]
        shown = None if v is None else value
        match = None
        for i, (_, state) in enumerate(candidates):
            if (None if state is None else state.text()) == shown:
                match = i  # the latest: absence may fit several prefixes
        if match is None:
            raise self._classify(v, value)
        seq, state = candidates[match]
        if seq < self.seen_seq:
            raise Violation("dirty", "%s: shows %s after the restart, but a reader saw the "
                            "newer write #%d before the kill: visible before durable; %s"
                            % (self.name, "absent" if v is None else v, self.seen_seq,
                               self.history()))
        self._check_ttl(state, ttl, now)
        for op in self.pending[match:]:
            if op.kind == "SET":
                self.dropped.add(op.value)
        if match > 0:
            self._set_base(self.pending[match - 1], "seen after a restart, in flight at the kill")
        self.pending = []
        self.seen_seq = -1
        return match

    def history(self):
        return "durable state %s, in flight %r" % (self.describe(), self.pending)

    def _classify(self, v, text):
        if v is None:
            return Violation("lost", "%s: absent after the restart; %s"
                             % (self.name, self.history()))
        seq = self._lookup(text)
        if seq is None:
            return Violation("phantom", "%s: holds %r, never sent to it; %s"
                             % (self.name, text[:80], self.history()))
        if v in self.dropped:
            return Violation("phantom", "%s: holds %d, which an earlier restart showed was "
                             "not durable; %s" % (self.name, v, self.history()))
        if seq < self.base_seq:
            return Violation("lost", "%s: holds %d, older than the durable state; %s"
                             % (self.name, v, self.history()))
        return Violation("other", "%s: holds %d, which the model cannot place; %s"
                         % (self.name, v, self.history()))

    def _check_ttl(self, state, ttl, now):
        """ttl is TTL_CHECKPOINT's reply for state: -2 absent, -1 no expiry,
        else at most the TTL sent (replay must not extend it) and at least
        what the time since sending leaves."""
        try:
            t = int(ttl)
        except ValueError:
            t = None
        if state is None:
            ok, want = t == -2, "-2"
        elif state.ttl is None:
            ok, want = t == -1, "-1"
        else:
            low = state.ttl - int(now - state.sent_at) - TTL_SLACK_S
            ok, want = t is not None and low <= t <= state.ttl, "%d..%d" % (low, state.ttl)
        if not ok:
            raise Violation("other", "%s: TTL_CHECKPOINT %r after the restart, expected %s for %s"
                            % (self.name, ttl, want, "absent" if state is None else state))


class SharedPipeline:
    """A pipeline that several CAS writers contend on, each committing with
    the read-CAS loop: GETREV_CHECKPOINT, then CAS_CHECKPOINT from the
    revision read, again on CONFLICT. Values are unique in the run, and the
    shared pipelines are never deleted and carry no TTL, so their versions
    are exactly the CAS commits that succeeded, and each holds the revision
    it was written from.

      sent     value -> the expected revision of the CAS that sent it;
      acked    revision -> value, for every OK <rev> received;
      known    revision -> value, acked, or shown by a restart (durable
               though unacknowledged): must stay, within the history depth;
      by_exp   expected revision -> the revision its acknowledged CAS took.

    Checks: no two acknowledged CAS commits from one expected revision (the
    fencing promise: a zombie's stale CAS must fail), and no revision
    acknowledged twice in the run (shared with the other pipelines through
    revs); after a restart, HISTORY_CHECKPOINT must show every known
    revision that is within the depth with its value, only values sent to
    this pipeline, newest first, each version written from the one below it.

    Threads: the CAS writers call send and ack under the pipeline's lock;
    the controller calls check while they are parked."""

    def __init__(self, name, revs):
        self.name = name
        self.revs = revs  # {rev: (pipeline name, value)}, shared
        self.sent = {}
        self.acked = {}
        self.known = {}
        self.by_exp = {}

    def send(self, value, exp):
        self.sent[value] = exp

    def ack(self, value, exp, rev):
        """An OK <rev> for the CAS of value from exp."""
        if rev <= exp:
            raise Violation("other", "%s: CAS from %d acknowledged as OK %d, not above it"
                            % (self.name, exp, rev))
        if exp in self.by_exp:
            raise Violation("double", "%s: two CAS commits from revision %d acknowledged: "
                            "OK %d and OK %d" % (self.name, exp, self.by_exp[exp], rev))
        if rev in self.revs:
            raise Violation("double", "revision %d acknowledged twice: %s and %s"
                            % (rev, self.revs[rev], (self.name, value)))
        self.by_exp[exp] = rev
        self.revs[rev] = (self.name, value)
        self.acked[rev] = value
        self.known[rev] = value

    def conflict(self, exp, cur):
        if cur == exp:
            raise Violation("other", "%s: CAS from %d got CONFLICT %d, its own revision"
                            % (self.name, exp, cur))

    def newest_acked(self):
        return max(self.acked, default=0)

    def check(self, history, depth):
        """history: [(rev, commit_ms, value)] as HISTORY_CHECKPOINT showed
        it after a restart, asked for depth + 1 versions. Raises Violation;
        else notes what it showed as known (durable) and returns the number
        of versions it showed that were never acknowledged."""
        where = "%s after the restart" % self.name
        revs = [rev for rev, _, _ in history]
        if len(history) > depth + 1:
            raise Violation("other", "%s: %d versions, more than the depth %d allows"
                            % (where, len(history), depth + 1))
        if any(a <= b for a, b in zip(revs, revs[1:])):
            raise Violation("other", "%s: the history is not newest first: %s" % (where, revs))
        for rev, commit_ms, value in history:
            if value not in self.sent:
                raise Violation("phantom", "%s: revision %d holds %r, never sent to it"
                                % (where, rev, value[:40]))
            if rev in self.known and self.known[rev] != value:
                raise Violation("lost", "%s: revision %d holds %r, but %r was %s"
                                % (where, rev, value[:40], self.known[rev][:40],
                                   "acknowledged" if rev in self.acked else "shown before"))
            if commit_ms <= 0:
                raise Violation("other", "%s: revision %d has commit time %d"
                                % (where, rev, commit_ms))
        # Every known revision the depth still covers is there: all of them
        # when the history is not full, else those at or above its oldest.
        floor = revs[-1] if len(history) == depth + 1 else 0
        shown = set(revs)
        for rev in sorted(self.known, reverse=True):
            if rev < floor:
                break
            if rev not in shown:
                raise Violation("lost", "%s: revision %d (%s) is missing from the history %s"
                                % (where, rev, "acknowledged" if rev in self.acked
                                   else "shown by an earlier restart", revs))
        if self.known and (not revs or revs[0] < max(self.known)):
            raise Violation("lost", "%s: the current revision is %s, below %d, known durable"
                            % (where, revs[0] if revs else "none", max(self.known)))
        for (rev, _, value), (older, _, _) in zip(history, history[1:]):
            if self.sent[value] != older:
                raise Violation("double", "%s: revision %d was written by a CAS from %d, "
                                "but the version before it is %d"
                                % (where, rev, self.sent[value], older))
        unacked = 0
        for rev, _, value in history:
            unacked += rev not in self.acked
            self.known[rev] = value
        return unacked


def txn_value(tid, k, pad):
    """The text transaction tid writes to its writer's key k: "<tid>.<k>",
    then with pad > 0 a dash and pad bytes that depend on both, so a value
    on the wrong key, torn or from a partly replayed record cannot pass."""
    if not pad:
        return "%d.%d" % (tid, k)
    unit = "%x.%x;" % (tid, k)
    return "%d.%d-%s" % (tid, k, (unit * (pad // len(unit) + 1))[:pad])


def parse_txn_value(text):
    """(tid, k) from a transaction value's text, or None if it is none of ours."""
    head = text.split("-", 1)[0].split(".")
    if len(head) != 2 or not all(h.isdigit() for h in head):
        return None
    return int(head[0]), int(head[1])


class Status(str):
    """A RESP simple string (+OK), told apart from a bulk string."""


class RespError(str):
    """A RESP error reply, without its "-"."""


class Txn:
    """One MULTI/EXEC of a TxnModel's writer. keys: the key indexes SET, in
    the order sent; get: None, or (position among the queued commands, key
    index, the value text the GET must answer or None); watch: whether a
    WATCH of its keys precedes the MULTI."""
    __slots__ = ("tid", "keys", "pad", "get", "watch")

    def __init__(self, tid, keys, pad, get, watch):
        self.tid, self.keys, self.pad, self.get, self.watch = tid, keys, pad, get, watch

    def ncommands(self):
        return len(self.keys) + (self.get is not None)

    def nreplies(self):
        """Replies before the EXEC's: WATCH's, MULTI's and one QUEUED each."""
        return self.watch + 1 + self.ncommands()

    def __repr__(self):
        return "txn %d (keys %s%s)" % (self.tid, list(self.keys),
                                       "" if not self.pad else ", +%d bytes each" % self.pad)


class TxnModel:
    """What a RESP writer's MULTI/EXEC transactions on its own keys left.

    The writer owns nkeys keys, speaks on one connection, and numbers its
    transactions 1, 2, ...: each SETs the value txn_value(tid, k, pad) on a
    random subset of 2..nkeys of the keys, in one MULTI ... EXEC, sometimes
    after a WATCH of them, sometimes with a GET among the queued commands.
    Nothing else writes these keys and nothing deletes them, so a value
    names the transaction that wrote it, and a key's state is the newest
    transaction that wrote it (0: never written, absent).

      base     per key, the newest acknowledged transaction that wrote it
               (or what a restart showed);
      pending  the transactions sent and not acknowledged, in send order;
      latest   per key, the newest transaction sent that wrote it: the
               state EXEC stages against, so what a queued GET must answer;
      masks    per tid, the keys it wrote (bit k), and pads its padding;
      dropped  tids in flight at a kill that the restart showed were not
               durable: they must never appear;
      seen     per key, the newest tid a reader saw since the last restart.

    After a restart (check): every value shown must be one a transaction
    sent to that key (not dropped); no transaction shown on one of its keys
    may show older on another (PARTIAL: a transaction that is not whole);
    no key older than base (LOST) or than what a reader saw (DIRTY). The
    daemon runs one connection's requests in order and a group is durable
    whole or not at all, each one only after those before it, so the state
    must then be exactly base with some prefix of pending applied; anything
    else is reported too. That prefix was found whole, the rest absent.

    Threads: the writer calls send and ack; a reader calls read_floor and
    saw (MGET snapshots), which read only what send appends; the controller
    calls check while all are parked."""

    def __init__(self, prefix, nkeys):
        self.prefix = prefix
        self.names = ["%s-k%d" % (prefix, k) for k in range(nkeys)]
        self.base = [0] * nkeys
        self.latest = [0] * nkeys
        self.seen = [0] * nkeys
        self.masks = array("q", [0])  # tid 0: absent
        self.pads = array("l", [0])
        self.pending = []
        self.dropped = set()
        self.acked = 0

    def value(self, tid, k):
        return None if tid == 0 else txn_value(tid, k, self.pads[tid])

    def keys_of(self, tid):
        m = self.masks[tid]
        return [k for k in range(len(self.names)) if m >> k & 1]

    def send(self, keys, pad=0, get=None, watch=False):
        """Numbers the next transaction and records it as sent; call before
        its bytes go out. keys: indexes in SET order; get: None or
        (position among the queued commands, key index). Returns the Txn."""
        if len(set(keys)) != len(keys) or not keys:
            raise ValueError("a transaction SETs distinct keys")
        tid = len(self.masks)
        if get is not None:
            pos, k = get
            before = keys[:pos] if pos <= len(keys) else keys
            expect = txn_value(tid, k, pad) if k in before else self.value(self.latest[k], k)
            get = (pos, k, expect)
        t = Txn(tid, tuple(keys), pad, get, watch)
        self.pads.append(pad)
        self.masks.append(sum(1 << k for k in keys))  # last: a reader finds it whole
        for k in keys:
            self.latest[k] = tid
        self.pending.append(t)
        return t

    def ack(self, t, replies, exec_reply):
        """The replies to t (WATCH's if any, MULTI's, the QUEUEDs) and to its
        EXEC, parsed (Status, RespError, str for a bulk, None, list). Folds
        t into base if they are right; raises Violation if not."""
        assert self.pending and self.pending[0] is t
        name = "%s: %r" % (self.prefix, t)
        want = ["OK"] * (1 + t.watch) + ["QUEUED"] * t.ncommands()
        if len(replies) != len(want) or not all(
                type(r) is Status and r == w for r, w in zip(replies, want)):
            raise Violation("other", "%s: got %r before EXEC, expected %s"
                            % (name, replies, " ".join("+" + w for w in want)))
        want = [Status("OK")] * len(t.keys)
        if t.get is not None:
            want.insert(t.get[0], t.get[2])
        if not isinstance(exec_reply, list) or len(exec_reply) != len(want) or any(
                type(r) is not type(w) or r != w for r, w in zip(exec_reply, want)):
            raise Violation("other", "%s: EXEC answered %r, expected %r"
                            % (name, _short(exec_reply), _short(want)))
        self.pending.pop(0)
        for k in t.keys:
            self.base[k] = t.tid
        self.acked += 1

    def read_floor(self):
        """Call before sending an MGET: per key, the tid its answer may not
        be older than."""
        return list(self.base)

    def _parse(self, k, text, where):
        """The tid of text shown on key k; Violation if no transaction sent it."""
        if text is None:
            return 0
        p = parse_txn_value(text)
        tid = p[0] if p else -1
        if p is None or p[1] != k or not 0 < tid < len(self.masks) or \
                not self.masks[tid] >> k & 1 or txn_value(tid, k, self.pads[tid]) != text:
            raise Violation("phantom", "%s: %s %r, never sent to it"
                            % (self.names[k], where, text[:80]))
        if tid in self.dropped:
            raise Violation("phantom", "%s: %s %d, which a restart showed was not durable"
                            % (self.names[k], where, tid))
        return tid

    def _partial(self, obs, where):
        """Raises Violation("partial") if a transaction shown on one of its
        keys shows older on another. obs: the tid per key."""
        for tid in sorted(set(obs) - {0}):
            older = [k for k in self.keys_of(tid) if obs[k] < tid]
            if older:
                raise Violation("partial", "%s: %s txn %d on keys %s but older on keys %s "
                                "(%s): a transaction in part"
                                % (self.prefix, where, tid,
                                   [k for k in self.keys_of(tid) if obs[k] == tid], older,
                                   ", ".join("k%d: %s" % (k, obs[k] or "absent")
                                             for k in older)))

    def saw(self, shown, floor):
        """A reader's MGET of all the keys, sent when read_floor() was floor:
        the values must have been sent, no transaction may show in part,
        and none may be older than what was acknowledged before the MGET.
        Raises Violation."""
        obs = [self._parse(k, text, "a reader saw") for k, text in enumerate(shown)]
        self._partial(obs, "a reader saw")
        for k, tid in enumerate(obs):
            if tid < floor[k]:
                raise Violation("other", "%s: a reader saw %s after txn %d was acknowledged: "
                                "a stale read" % (self.names[k], tid or "absent", floor[k]))
        for k, tid in enumerate(obs):
            self.seen[k] = max(self.seen[k], tid)

    def check(self, shown):
        """shown: each key's value after a restart (None: absent). Makes it
        the new base; returns (in-flight transactions found whole, found
        absent). Raises Violation."""
        obs = [self._parse(k, text, "holds") for k, text in enumerate(shown)]
        where = "after the restart"
        self._partial(obs, where)
        for k, tid in enumerate(obs):
            if tid < self.base[k]:
                raise Violation("lost", "%s: %s %s, older than txn %d, acknowledged; %s"
                                % (self.names[k], where, tid or "absent", self.base[k],
                                   self.history()))
            if tid < self.seen[k]:
                raise Violation("dirty", "%s: %s %s, but a reader saw txn %d before the kill: "
                                "visible before durable" % (self.names[k], where,
                                                            tid or "absent", self.seen[k]))
        index = {t.tid: i for i, t in enumerate(self.pending)}
        durable = 1 + max((index[tid] for tid in obs if tid in index), default=-1)
        expect = list(self.base)
        for t in self.pending[:durable]:
            for k in t.keys:
                expect[k] = t.tid
        if obs != expect:
            k = next(k for k in range(len(obs)) if obs[k] != expect[k])
            raise Violation("other", "%s: %s %s, but txn %d, sent after it and before txn %d, "
                            "which is durable: not a prefix of the connection's "
                            "transactions; shown %s; %s"
                            % (self.names[k], where, obs[k] or "absent", expect[k],
                               self.pending[durable - 1].tid if durable else 0, obs,
                               self.history()))
        for t in self.pending[durable:]:
            self.dropped.add(t.tid)
        whole, absent = durable, len(self.pending) - durable
        self.base = obs
        self.latest = list(obs)
        self.seen = [0] * len(obs)
        self.pending = []
        return whole, absent

    def history(self):
        return "acknowledged state %s, in flight %r" % (self.base, self.pending)


def _short(reply):
    """A reply for a message: long values cut."""
    if isinstance(reply, list):
        return [_short(r) for r in reply]
    if isinstance(reply, str) and len(reply) > 40:
        return type(reply)(reply[:40] + "...")
    return reply
