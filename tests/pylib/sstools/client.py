"""The one protocol client of the tests and scripts: a blocking connection
that speaks statestored's newline-delimited protocol or, for the benchmark's
baseline, Redis's RESP. Both framings share the socket and the buffered
reading below.

demo/state_client.py is not this: it is the seed client users copy, kept
standalone on purpose (reconnection, backoff, errors as exceptions).
"""
import socket
import struct

HOST = "127.0.0.1"


def connect(port, timeout=30, host=HOST):
    """A blocking TCP connection with Nagle off, so a request goes out at once."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def reset_close(sock):
    """Closes with a TCP RST (SO_LINGER 0) instead of a FIN, as a peer that
    vanished would leave it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Client:
    """A line-oriented client over one TCP connection. redis=True makes
    call() speak RESP (for Redis, the benchmark's baseline); everything else
    is statestored's protocol, where a request and a reply are each a line."""

    def __init__(self, port, timeout=30, host=HOST, redis=False, tls=None):
        """tls: an ssl.SSLContext to speak TLS with (Python's ssl module,
        checking the name localhost), or None for plain TCP."""
        self.sock = connect(port, timeout, host)
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
            except BaseException:
                self.sock.close()
                raise
        self.redis = redis
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        """Appends what the server sent next to buf; False at EOF."""
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def _line(self):
        """The next line as bytes without its newline, or None at EOF."""
        while b"\n" not in self.buf:
            if not self._fill():
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read_exactly(self, n):
        """The next n bytes, or None if the server closes first."""
        while len(self.buf) < n:
            if not self._fill():
                return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def readline(self):
        """Returns the next reply line without its newline, or None at EOF."""
        line = self._line()
        # surrogateescape: a reply that echoes non-UTF-8 input must not make
        # the test crash in decode; it compares as its own string.
        return None if line is None else line.decode("utf-8", "surrogateescape")

    def readlines(self, n):
        return [self.readline() for _ in range(n)]

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        self.send(line + b"\n")
        return self.readline()

    def call(self, *words):
        """Sends one command, given as words; returns its reply as text: None
        for a null (NULL, or RESP's $-1), a RESP status or integer without
        its type byte. Raises ConnectionError if the server closes first."""
        if not self.redis:
            line = self.cmd(" ".join(words))
            if line is None:
                raise ConnectionError("server closed the connection")
            return None if line == "NULL" else line
        msg = b"*%d\r\n" % len(words)
        for w in words:
            w = w.encode()
            msg += b"$%d\r\n%s\r\n" % (len(w), w)
        self.send(msg)
        line = self._line()
        if line is None:
            raise ConnectionError("server closed the connection")
        line = line.rstrip(b"\r")
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            data = self.read_exactly(n + 2)
            if data is None:
                raise ConnectionError("server closed the connection")
            return data[:n].decode()
        return line[1:].decode() if line[:1] in b"+:" else line.decode()

    def stats(self):
        """statestored's STATS: {name: value}, values as text."""
        return self.rows("STATS")

    def config_get(self, pattern=None):
        """statestored's CONFIG_GET [pattern]: {name: value}, as text."""
        return self.rows("CONFIG_GET" + (" " + pattern if pattern is not None else ""))

    def rows(self, request):
        """A request answered as STATS is: "STAT <name> <value>" lines, then
        END. Returns {name: value}."""
        self.send(request.encode() + b"\n")
        out = {}
        while True:
            line = self.readline()
            if line is None or line == "END":
                return out
            _, name, value = line.split(" ", 2)
            out[name] = value

    def listing(self, prefix=None):
        """Every pipeline (under prefix) by LIST_CHECKPOINTS, page after
        page: {name: (rev, value)}."""
        out, cursor = {}, "0"
        while True:
            self.send(("LIST_CHECKPOINTS %s%s COUNT 1000\n" % (
                cursor, " PREFIX " + prefix if prefix else "")).encode())
            head = self.readline()
            if not head or not head.startswith("CURSOR "):
                raise AssertionError("LIST_CHECKPOINTS: %r" % head)
            cursor = head.split()[1]
            while True:
                line = self.readline()
                if line is None or line == "END":
                    break
                name, rev, _ms, value = line.split(" ", 3)
                out[name] = (int(rev), value)
            if cursor == "0":
                return out

    def at_eof(self):
        """True if the server closed the connection (after any buffered lines)."""
        try:
            return not self._fill()
        except ConnectionResetError:
            return True

    def wait_eof(self):
        """Reads until the server closes; returns the lines received first
        (a trailing partial line counts as one). Raises socket.timeout if
        the server keeps the connection open past the client's timeout."""
        lines = []
        while True:
            try:
                line = self.readline()
            except ConnectionResetError:
                # Closed with some of our bytes unread: the kernel sends RST
                # instead of FIN. The replies before it were read above.
                line = None
            if line is None:
                if self.buf:
                    lines.append(self.buf.decode("utf-8", "surrogateescape"))
                    self.buf = b""
                return lines
            lines.append(line)

    def reset(self):
        """Closes with a TCP RST (SO_LINGER 0) instead of a FIN."""
        reset_close(self.sock)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
