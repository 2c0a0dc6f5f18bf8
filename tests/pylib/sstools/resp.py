"""A raw RESP client for the conformance tests: it sends a command as an
array of bulk strings (or any bytes at all) and reads back exactly one
complete reply of any RESP2 or RESP3 type, returning both its bytes as they
came off the wire and a parsed form.

client.Client's redis mode is for the benchmark: it reads a status, an
integer or a bulk. This one reads everything (arrays, maps, sets, doubles,
verbatim strings, pushes, attributes), so two servers' replies can be
compared byte for byte and, where the bytes may legitimately differ, by
the shape of what they hold.

Parsed forms, chosen so that the RESP type stays visible:
  +simple       Simple (a str)          -error    Err (a str)
  :integer      int                     (bignum   BigNum (an int)
  $bulk         bytes                   =verbatim Verbatim (bytes; .format)
  ,double       float                   #boolean  bool
  $-1 *-1 _     None                    *array    list
  %map          Map (a dict)            ~set      Set (a list)
  >push         Push (a list)           |attribute: skipped, the reply after it
"""
from .client import HOST, connect


class Simple(str):
    pass


class Err(str):
    pass


class BigNum(int):
    pass


class Verbatim(bytes):
    format = b"txt"


class Map(dict):
    pass


class Set(list):
    pass


class Push(list):
    pass


class ProtocolError(Exception):
    """The server sent bytes that are not RESP."""


def encode(*args):
    """One command as RESP: an array of bulk strings. Arguments may be str
    (UTF-8), bytes or int."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def _hashable(k):
    if isinstance(k, list):
        return tuple(_hashable(x) for x in k)
    if isinstance(k, dict):
        return tuple((_hashable(a), _hashable(b)) for a, b in k.items())
    return k


class Conn:
    """One blocking TCP connection that speaks RESP. Not thread-safe."""

    def __init__(self, port, timeout=10.0, host=HOST):
        self.sock = connect(port, timeout, host)
        self.buf = b""
        self.pos = 0

    # ---- sending ----------------------------------------------------------

    def send(self, data):
        self.sock.sendall(data)

    def call(self, *args):
        """Sends one command; returns (raw bytes, parsed) of its reply."""
        self.send(encode(*args))
        return self.read_reply()

    # ---- reading ----------------------------------------------------------

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        """The bytes from pos to the next CRLF (without it); pos past it."""
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i]
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < self.pos + n:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def _value(self):
        line = self._line()
        if not line:
            raise ProtocolError("empty line where a reply was expected")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return Simple(rest.decode("utf-8", "surrogateescape"))
        if t == b"-":
            return Err(rest.decode("utf-8", "surrogateescape"))
        if t == b":":
            return int(rest)
        if t == b"(":
            return BigNum(int(rest))
        if t == b",":
            return float(rest.replace(b"inf", b"Infinity"))
        if t == b"#":
            if rest not in (b"t", b"f"):
                raise ProtocolError("bad boolean %r" % line)
            return rest == b"t"
        if t == b"_":
            if rest:
                raise ProtocolError("bad null %r" % line)
            return None
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                if t != b"$" or n != -1:
                    raise ProtocolError("bad length %r" % line)
                return None
            data = self._exact(n)
            if self._exact(2) != b"\r\n":
                raise ProtocolError("bulk of %d bytes not ended by CRLF" % n)
            if t == b"!":
                return Err(data.decode("utf-8", "surrogateescape"))
            if t == b"=":
                v = Verbatim(data[4:])
                v.format = data[:3]
                return v
            return data
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                if t != b"*" or n != -1:
                    raise ProtocolError("bad count %r" % line)
                return None
            items = [self._value() for _ in range(n)]
            return items if t == b"*" else Set(items) if t == b"~" else Push(items)
        if t == b"%":
            m = Map()
            for _ in range(int(rest)):
                k = self._value()
                m[_hashable(k)] = self._value()
            return m
        if t == b"|":
            for _ in range(int(rest)):  # attributes: read and dropped
                self._value()
                self._value()
            return self._value()
        raise ProtocolError("unknown reply type %r" % line[:40])

    def read_reply(self):
        """Reads exactly one complete reply; returns (raw bytes, parsed).
        Raises ConnectionError if the server closes first."""
        start = self.pos
        value = self._value()
        raw = self.buf[start:self.pos]
        self.buf, self.pos = self.buf[self.pos:], 0
        return raw, value

    def read_line(self):
        """The next line with its CRLF, raw (for a protocol error the
        server sends before it closes); what is left without a CRLF if the
        server closes first; b"" at EOF."""
        start = self.pos
        try:
            self._line()
        except (ConnectionError, OSError):
            rest, self.buf, self.pos = self.buf[start:], b"", 0
            return rest
        raw = self.buf[start:self.pos]
        self.buf, self.pos = self.buf[self.pos:], 0
        return raw

    def read_to_eof(self):
        """Everything the server sends until it closes the connection
        (what is buffered first). Raises socket.timeout if it keeps the
        connection open past the socket's timeout."""
        data, self.buf, self.pos = self.buf[self.pos:], b"", 0
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data  # closed with some of our bytes unread: RST
            if not chunk:
                return data
            data += chunk

    def closed_by_peer(self):
        """True if the server has closed the connection: a read returns EOF
        (or a reset) with nothing further sent. Blocks up to the socket's
        timeout (raises socket.timeout if the connection stays open)."""
        if self.pos < len(self.buf):
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def shape(v):
    """The type structure of a parsed reply, values left out: what two
    servers must agree on where the values themselves may differ."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    for cls, name in ((Simple, "simple"), (Err, "error"), (BigNum, "bignum"),
                      (Verbatim, "verbatim")):
        if isinstance(v, cls):
            return name
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    if isinstance(v, bytes):
        return "bulk"
    if isinstance(v, Map):
        return ("map", tuple((k, shape(x)) for k, x in v.items()))
    for cls, name in ((Set, "set"), (Push, "push"), (list, "array")):
        if isinstance(v, cls):
            return (name, tuple(shape(x) for x in v))
    raise TypeError("not a parsed reply: %r" % (v,))


__all__ = ["Conn", "encode", "shape", "Simple", "Err", "BigNum", "Verbatim", "Map", "Set",
           "Push", "ProtocolError"]
