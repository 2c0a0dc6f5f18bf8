#!/usr/bin/env python3
"""A small Python client for statestored (standard library only).

    with StateClient("127.0.0.1", 7070) as store:
        store.set_checkpoint("orders", "1000", ttl=3600)
        store.get_checkpoint("orders")      # -> "1000", or None if missing

Committing safely (the read-CAS-commit loop):

    rev, value = store.get_with_rev("orders") or (0, None)
    ... process the records after value ...
    try:
        rev = store.cas("orders", rev, "1100")   # -> the new revision
    except Conflict as c:                         # c.revision: the current one
        ... someone else committed, or an operator rewound: do not commit ...

Also: multi_commit (MSET/MCAS: several pipelines, one revision, all or
nothing), history, rollback, list (an iterator that follows the cursor).

One TCP connection, one request at a time. A connection error (refused,
reset, closed, timed out) closes the connection and retries the request on a
new one, waiting backoff, 2*backoff, 4*backoff ... (capped at max_backoff)
between attempts; after `retries` retries it raises StateStoreUnavailable.
An ERR reply is not retried: it raises StateStoreError.

Why retrying is safe: when a connection breaks mid-request we cannot know
whether the server applied it. Every request here is safe to send twice:
reads change nothing; setting a checkpoint to a value is idempotent (the
second SET writes the same value); COMPACT rewrites the same state. DEL is
idempotent in effect too, but a retried DEL may report False although the
first attempt deleted the entry. MSET and an unconditional ROLLBACK are
idempotent in effect: a retry writes the same values again (as a new
revision).

Conditional commits (cas, multi_commit with expected revisions, rollback or
delete with expected_rev) are resent too: a condition can hold only once,
so a resend never applies twice. But if the first attempt's reply was lost
and the resend answers CONFLICT, that CONFLICT may be our own first attempt
(it applied, so the revision moved). The retry recipe tells them apart with
GETREV_CHECKPOINT:

  - the pipeline's revision is still the expected one: nothing applied (and
    the resend would have answered OK, not CONFLICT);
  - it is newer than the expected one and holds our value: our commit
    applied; cas returns that revision;
  - anything else: a real conflict, raised as Conflict.

"Newer", not "expected + 1": the revision counter is store-wide, so the
revision our commit took is expected + 1 only if no other pipeline committed
in between. Two cases stay ambiguous, and both are safe for a checkpoint:

  - another writer that held the same expected revision committed the same
    value (a zombie and its replacement computing the same checkpoint from
    the same input), or wrote our value on top of our commit: we report
    success, and the pipeline holds exactly the value we meant to write; the
    next CAS of either writer fences the other;
  - our commit applied and another writer then changed or deleted the
    pipeline before our GETREV: we raise Conflict although ours applied.
    Conflict means "someone else moved on: re-read before doing anything",
    which is true either way.

Put a writer identity in the value ("1000@run-7f3a") to remove the first.

Try it:  python3 demo/state_client.py --port 7070 set orders 5
         python3 demo/state_client.py --port 7070 get orders
         python3 demo/state_client.py --port 7070 getrev orders
         python3 demo/state_client.py --port 7070 cas orders <rev> 6
         python3 demo/state_client.py --port 7070 history orders
         python3 demo/state_client.py --port 7070 list
"""
import argparse
import socket
import sys
import time


class StateStoreError(Exception):
    """The server answered ERR; the message is the server's reason."""


class StateStoreUnavailable(ConnectionError):
    """The server could not be reached within the allowed retries."""


class Conflict(Exception):
    """A conditional commit (cas, multi_commit with expected revisions,
    rollback or delete with expected_rev) found another revision than the
    expected one, and nothing changed. revision: the pipeline's current
    revision (0: it does not exist). name: the pipeline whose condition
    failed (for a multi-commit, the first in argument order)."""

    def __init__(self, name, revision):
        super().__init__("CONFLICT: %s is at revision %d" % (name, revision))
        self.name = name
        self.revision = revision


def _revision(what, rev):
    if isinstance(rev, bool) or not isinstance(rev, int) or not 0 <= rev < 2 ** 64:
        raise ValueError("%s must be an int from 0 to 2^64-1: %r" % (what, rev))
    return rev


def _ttl(ttl):
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise TypeError("ttl must be an int or None")
    return ttl


def _ok_rev(reply, what):
    """The revision of an "OK <rev>" reply."""
    parts = reply.split(" ")
    if len(parts) == 2 and parts[0] == "OK" and parts[1].isdigit():
        return int(parts[1])
    raise StateStoreError("unexpected reply to %s: %r" % (what, reply))


def _conflict(reply, name=None):
    """The Conflict of a "CONFLICT [<name> ]<rev>" reply, or None."""
    parts = reply.split(" ")
    if parts[0] != "CONFLICT" or len(parts) not in (2, 3) or not parts[-1].isdigit():
        return None
    return Conflict(parts[1] if len(parts) == 3 else name, int(parts[-1]))


def _token(what, s):
    """Names and values are printable ASCII without whitespace (the
    README's Protocol section). Checked here only so that a value can never smuggle a
    second request onto the wire; the server enforces the length limits and
    answers ERR past them."""
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    if not s or any(not 0x21 <= ord(ch) <= 0x7E for ch in s):
        raise ValueError("%s must be non-empty printable ASCII without whitespace: %r"
                         % (what, s))
    return s


class StateClient:
    def __init__(self, host="127.0.0.1", port=7070, timeout=5.0, retries=5,
                 backoff=0.05, max_backoff=1.0, on_retry=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_retry = on_retry  # called as on_retry(attempt, delay_s, exc) before a retry
        self.reconnects = 0  # how many times a broken connection was replaced
        self._sock = None
        self._buf = b""

    # -- connection ---------------------------------------------------------

    def _connect(self):
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf = b""

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _readline(self):
        while b"\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("ascii")

    def _request(self, line, multi=False):
        """Sends one request line and returns its reply: a str, or for
        multi-line replies (STATS, HISTORY, LIST) the list of lines before
        END."""
        return self._exchange(line, multi)[0]

    def _exchange(self, line, multi=False):
        """_request, also saying whether an earlier attempt may have reached
        the server: (reply, lost), lost True if a connection broke after
        request bytes were handed to it, so the server may have run it."""
        attempt = 0
        lost = False
        while True:
            sent = False
            try:
                if self._sock is None:
                    self._connect()
                    if attempt > 0:
                        self.reconnects += 1
                sent = True
                self._sock.sendall(line.encode("ascii") + b"\n")
                first = self._readline()
                if not multi or first.startswith("ERR "):
                    reply = first
                else:
                    reply = [first] if first != "END" else []
                    while first != "END":
                        first = self._readline()
                        if first != "END":
                            reply.append(first)
                break
            except OSError as e:  # refused, reset, EOF, timeout: all OSError
                lost = lost or sent
                self.close()
                if attempt >= self.retries:
                    raise StateStoreUnavailable(
                        "statestored at %s:%d unreachable after %d attempts: %s"
                        % (self.host, self.port, attempt + 1, e)) from e
                delay = min(self.max_backoff, self.backoff * (2 ** attempt))
                attempt += 1
                if self.on_retry is not None:
                    self.on_retry(attempt, delay, e)
                time.sleep(delay)
        # An error is "ERR", a space and a reason; a value never holds a
        # space, so a checkpoint "ERR" is a value.
        first = reply if isinstance(reply, str) else (reply[0] if reply else "")
        if first.startswith("ERR "):
            raise StateStoreError(first[4:])
        return reply, lost

    # -- commands -----------------------------------------------------------

    def get_checkpoint(self, name):
        """Returns the checkpoint's value, or None if missing or expired."""
        reply = self._request("GET_CHECKPOINT " + _token("name", name))
        return None if reply == "NULL" else reply

    def set_checkpoint(self, name, value, ttl=None):
        """Sets name to value (durable when this returns). ttl: seconds until
        it expires; None clears any previous expiry."""
        line = "SET_CHECKPOINT %s %s" % (_token("name", name),
                                         _token("value", str(value)))
        if ttl is not None:
            line += " %d" % _ttl(ttl)
        reply = self._request(line)
        if reply != "OK":
            raise StateStoreError("unexpected reply to SET_CHECKPOINT: %r" % reply)

    def delete(self, name, expected_rev=None):
        """Deletes the checkpoint. Returns True if it existed. With
        expected_rev: only if its revision is that one, else Conflict."""
        line = "DEL_CHECKPOINT " + _token("name", name)
        if expected_rev is None:
            return self._request(line) == "1"
        reply, lost = self._exchange(line + " %d" % _revision("expected_rev", expected_rev))
        conflict = _conflict(reply, name)
        if conflict is None:
            return reply == "1"
        # A lost reply, then CONFLICT 0: our first attempt may have deleted
        # it (or another writer did). Either way it is gone, as we wanted.
        if lost and conflict.revision == 0:
            return True
        raise conflict

    # -- revisions ------------------------------------------------------------

    def get_with_rev(self, name):
        """Returns (revision, value), or None if missing or expired."""
        reply = self._request("GETREV_CHECKPOINT " + _token("name", name))
        if reply == "NULL":
            return None
        rev, _, value = reply.partition(" ")
        if not rev.isdigit() or not value:
            raise StateStoreError("unexpected reply to GETREV_CHECKPOINT: %r" % reply)
        return int(rev), value

    def _applied(self, name, expected_rev, value):
        """The retry recipe, after a lost reply and a CONFLICT: the
        revision our commit took if the pipeline holds our value at a
        revision newer than the expected one (see the module's text for
        the ambiguous cases), else None."""
        got = self.get_with_rev(name)
        if got is not None and got[0] > expected_rev and got[1] == value:
            return got[0]
        return None

    def cas(self, name, expected_rev, value, ttl=None):
        """Commits value only if the pipeline's revision is expected_rev
        (0: only if it does not exist). Returns the new revision; raises
        Conflict (with the current revision) if another revision is there,
        and then nothing changed. A lost reply is settled by the retry
        recipe (module text)."""
        value = _token("value", str(value))
        expected_rev = _revision("expected_rev", expected_rev)
        line = "CAS_CHECKPOINT %s %d %s" % (_token("name", name), expected_rev, value)
        if ttl is not None:
            line += " %d" % _ttl(ttl)
        reply, lost = self._exchange(line)
        conflict = _conflict(reply, name)
        if conflict is None:
            return _ok_rev(reply, "CAS_CHECKPOINT")
        if lost:
            rev = self._applied(name, expected_rev, value)
            if rev is not None:
                return rev
            got = self.get_with_rev(name)
            conflict = Conflict(name, got[0] if got else 0)
        raise conflict

    def multi_commit(self, items, expected=None):
        """Commits several pipelines at once, all or nothing, as one
        revision (returned). items: a dict {name: value} or a list of
        (name, value). expected: None (MSET_CHECKPOINT: unconditional), or
        the expected revision of every pipeline (MCAS_CHECKPOINT), as a
        dict {name: rev} or a list in the order of items; then Conflict
        names the first pipeline whose revision differs. Multi-commits
        carry no TTL and clear any TTL the pipelines had."""
        pairs = list(items.items()) if isinstance(items, dict) else [tuple(i) for i in items]
        if not pairs:
            raise ValueError("multi_commit needs at least one pipeline")
        pairs = [(_token("name", n), _token("value", str(v))) for n, v in pairs]
        if expected is None:
            line = "MSET_CHECKPOINT " + " ".join("%s %s" % p for p in pairs)
            return _ok_rev(self._request(line), "MSET_CHECKPOINT")
        if isinstance(expected, dict):
            try:
                revs = [expected[n] for n, _ in pairs]
            except KeyError as e:
                raise ValueError("no expected revision for %s" % e) from None
        else:
            revs = list(expected)
            if len(revs) != len(pairs):
                raise ValueError("%d expected revisions for %d pipelines"
                                 % (len(revs), len(pairs)))
        revs = [_revision("expected revision", r) for r in revs]
        line = "MCAS_CHECKPOINT " + " ".join(
            "%s %d %s" % (n, r, v) for (n, v), r in zip(pairs, revs))
        reply, lost = self._exchange(line)
        conflict = _conflict(reply)
        if conflict is None:
            return _ok_rev(reply, "MCAS_CHECKPOINT")
        if lost:
            # One revision for all: ours applied if every pipeline holds our
            # value at one same revision, newer than its expected one.
            got = [self.get_with_rev(n) for n, _ in pairs]
            if all(g is not None for g in got) and len({g[0] for g in got}) == 1 and all(
                    g[0] > r and g[1] == v for g, r, (_, v) in zip(got, revs, pairs)):
                return got[0][0]
        raise conflict

    def history(self, name, count=None):
        """The pipeline's last versions, newest (the current one) first:
        a list of (revision, commit_unix_ms, value); [] if it does not
        exist. count: at most this many (1..1001)."""
        line = "HISTORY_CHECKPOINT " + _token("name", name)
        if count is not None:
            line += " %d" % count
        out = []
        for row in self._request(line, multi=True):
            parts = row.split(" ")
            if len(parts) != 3 or not parts[0].isdigit():
                raise StateStoreError("unexpected HISTORY_CHECKPOINT line: %r" % row)
            out.append((int(parts[0]), int(parts[1]), parts[2]))
        return out

    def rollback(self, name, to_rev, expected_rev=None):
        """Makes the value the pipeline had at revision to_rev current
        again, as a new revision (returned), so that every run holding an
        older revision is fenced. to_rev must still be in its history
        (StateStoreError otherwise). With expected_rev: only if the
        current revision is that one, else Conflict."""
        line = "ROLLBACK_CHECKPOINT %s %d" % (_token("name", name), _revision("to_rev", to_rev))
        if expected_rev is None:
            return _ok_rev(self._request(line), "ROLLBACK_CHECKPOINT")
        expected_rev = _revision("expected_rev", expected_rev)
        reply, lost = self._exchange(line + " %d" % expected_rev)
        conflict = _conflict(reply, name)
        if conflict is None:
            return _ok_rev(reply, "ROLLBACK_CHECKPOINT")
        if lost:
            # The recipe, with to_rev's value as ours: it is still in the
            # history unless the rollback itself pushed it out.
            old = [v for r, _, v in self.history(name) if r == to_rev]
            rev = self._applied(name, expected_rev, old[0]) if old else None
            if rev is not None:
                return rev
        raise conflict

    def list(self, prefix=None, count=None):
        """Iterates over the pipelines (whose names start with prefix), as
        (name, revision, commit_unix_ms, value), following the cursor until
        the server returns 0. Each step is one bounded request of at most
        count rows (default 100). A pipeline that exists for the whole
        iteration is returned at least once; one created, deleted or
        changed meanwhile may be missed or returned twice."""
        tail = ""
        if prefix is not None:
            tail += " PREFIX " + _token("prefix", prefix)
        if count is not None:
            tail += " COUNT %d" % count
        cursor = 0
        while True:
            lines = self._request("LIST_CHECKPOINTS %d%s" % (cursor, tail), multi=True)
            head = lines[0].split(" ") if lines else []
            if len(head) != 2 or head[0] != "CURSOR" or not head[1].isdigit():
                raise StateStoreError("unexpected LIST_CHECKPOINTS reply: %r" % lines[:1])
            for row in lines[1:]:
                parts = row.split(" ")
                if len(parts) != 4:
                    raise StateStoreError("unexpected LIST_CHECKPOINTS line: %r" % row)
                yield parts[0], int(parts[1]), int(parts[2]), parts[3]
            cursor = int(head[1])
            if cursor == 0:
                return

    def ttl(self, name):
        """Seconds left (rounded up), -1 if no expiry, -2 if missing."""
        return int(self._request("TTL_CHECKPOINT " + _token("name", name)))

    def ping(self):
        return self._request("PING") == "PONG"

    def stats(self):
        """Returns the STAT lines as a dict; integer values become ints."""
        out = {}
        for line in self._request("STATS", multi=True):
            parts = line.split(" ", 2)
            if len(parts) != 3 or parts[0] != "STAT":
                raise StateStoreError("unexpected STATS line: %r" % line)
            try:
                out[parts[1]] = int(parts[2])
            except ValueError:
                out[parts[1]] = parts[2]
        return out

    def compact(self):
        reply = self._request("COMPACT")
        if reply != "OK":
            raise StateStoreError("unexpected reply to COMPACT: %r" % reply)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Talk to statestored.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7070)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--retries", type=int, default=3)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("get").add_argument("name")
    p = sub.add_parser("set")
    p.add_argument("name")
    p.add_argument("value")
    p.add_argument("ttl", type=int, nargs="?")
    sub.add_parser("del").add_argument("name")
    sub.add_parser("getrev").add_argument("name")
    p = sub.add_parser("cas")
    p.add_argument("name")
    p.add_argument("expected_rev", type=int)
    p.add_argument("value")
    p.add_argument("ttl", type=int, nargs="?")
    p = sub.add_parser("history")
    p.add_argument("name")
    p.add_argument("count", type=int, nargs="?")
    p = sub.add_parser("rollback")
    p.add_argument("name")
    p.add_argument("to_rev", type=int)
    p.add_argument("expected_rev", type=int, nargs="?")
    p = sub.add_parser("list")
    p.add_argument("prefix", nargs="?")
    sub.add_parser("ttl").add_argument("name")
    sub.add_parser("ping")
    sub.add_parser("stats")
    sub.add_parser("compact")
    args = ap.parse_args(argv)
    try:
        with StateClient(args.host, args.port, args.timeout, args.retries) as c:
            if args.cmd == "get":
                v = c.get_checkpoint(args.name)
                print("(none)" if v is None else v)
            elif args.cmd == "set":
                c.set_checkpoint(args.name, args.value, args.ttl)
                print("OK")
            elif args.cmd == "del":
                print("deleted" if c.delete(args.name) else "not found")
            elif args.cmd == "getrev":
                got = c.get_with_rev(args.name)
                print("(none)" if got is None else "%d %s" % got)
            elif args.cmd == "cas":
                print("OK %d" % c.cas(args.name, args.expected_rev, args.value, args.ttl))
            elif args.cmd == "history":
                for rev, ms, value in c.history(args.name, args.count):
                    print(rev, ms, value)
            elif args.cmd == "rollback":
                print("OK %d" % c.rollback(args.name, args.to_rev, args.expected_rev))
            elif args.cmd == "list":
                for row in c.list(args.prefix):
                    print(*row)
            elif args.cmd == "ttl":
                print(c.ttl(args.name))
            elif args.cmd == "ping":
                print("PONG" if c.ping() else "unexpected reply")
            elif args.cmd == "stats":
                for k, v in c.stats().items():
                    print(k, v)
            elif args.cmd == "compact":
                c.compact()
                print("OK")
    except StateStoreError as e:
        print("error from server: %s" % e, file=sys.stderr)
        return 1
    except Conflict as e:
        print(str(e), file=sys.stderr)
        return 6
    except StateStoreUnavailable as e:
        print(str(e), file=sys.stderr)
        return 3
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
