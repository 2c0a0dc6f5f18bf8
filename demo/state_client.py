#!/usr/bin/env python3
"""A small Python client for statestored (standard library only).

    with StateClient("127.0.0.1", 7070) as store:
        store.set_checkpoint("orders", "1000", ttl=3600)
        store.get_checkpoint("orders")      # -> "1000", or None if missing

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
first attempt deleted the entry.

Try it:  python3 demo/state_client.py --port 7070 set orders 5
         python3 demo/state_client.py --port 7070 get orders
"""
import argparse
import socket
import sys
import time


class StateStoreError(Exception):
    """The server answered ERR; the message is the server's reason."""


class StateStoreUnavailable(ConnectionError):
    """The server could not be reached within the allowed retries."""


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
        multi-line replies (STATS) the list of lines before END."""
        attempt = 0
        while True:
            try:
                if self._sock is None:
                    self._connect()
                    if attempt > 0:
                        self.reconnects += 1
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
        if isinstance(reply, str) and reply.startswith("ERR "):
            raise StateStoreError(reply[4:])
        return reply

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
            if isinstance(ttl, bool) or not isinstance(ttl, int):
                raise TypeError("ttl must be an int or None")
            line += " %d" % ttl
        reply = self._request(line)
        if reply != "OK":
            raise StateStoreError("unexpected reply to SET_CHECKPOINT: %r" % reply)

    def delete(self, name):
        """Deletes the checkpoint. Returns True if it existed."""
        return self._request("DEL_CHECKPOINT " + _token("name", name)) == "1"

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
    except StateStoreUnavailable as e:
        print(str(e), file=sys.stderr)
        return 3
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
