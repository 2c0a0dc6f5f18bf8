"""RESP conformance: statestored's replies against a real redis-server's,
byte for byte, for every Redis command statestored has, in RESP2 and in
RESP3 (a connection that sent HELLO 3), errors included.

Each test starts its own statestored (DaemonTestCase) and its own
redis-server (appendonly, appendfsync always, no RDB, one database - the
settings statestored's CONFIG GET claims) on free ports, and stops both.

  TestCommandsResp2 / TestCommandsResp3
                      the CASES table: for each case, fresh connections to
                      both servers, the same setup commands, then one
                      command whose two replies are compared as the case
                      says: exact bytes (most), a tolerance (TTLs), as a
                      set or a map (order free), the shape where values
                      legitimately differ (HELLO, TIME, INFO, COMMAND,
                      CLIENT ID...), or a documented difference (limits of
                      the brief: ours is asserted exactly, Redis's too)
  TestKeyspaceResp2 / TestKeyspaceResp3
                      DBSIZE, KEYS and a full SCAN iteration (as sets),
                      RANDOMKEY, INFO keyspace on a small keyspace
  TestFraming         malformed frames: the same error line and a closed
                      connection on both; the framing differences that are
                      ours by design; QUIT; an empty request

Cases that differ from Redis without being a documented difference are
server bugs: they are listed in KNOWN_BUGS with the reason. Such a case
still runs; while it differs it is reported as skipped ("known server bug:
..."), and once it conforms the test fails, asking for its entry to go.

Keys are distinct per case (statestored has no FLUSHALL yet); a case never
creates the key "nokey". "{T}" in a case is an absolute unix time an hour
from now, "{TMS}" the same in ms (plus 123), fixed per test.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from sstools.harness import DaemonTestCase, limit, wait_until
from sstools.resp import Conn, Err, Map, Simple, Verbatim, shape

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
NAME_MAX = limit("SS_NAME_MAX")
VALUE_MAX = limit("SS_VALUE_MAX")
TTL_MAX = limit("SS_TTL_MAX_S")
LINE_MIN = limit("SS_LINE_MAX_MIN")
TIMEOUT = 10.0


# ---- redis-server -----------------------------------------------------------

def free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def answers_ping(port):
    try:
        with Conn(port, timeout=2.0) as c:
            return c.call("PING")[0] == b"+PONG\r\n"
    except OSError:
        return False


class RedisServer:
    """One redis-server with statestored's durability settings, on a free
    port, in its own temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ss-redis-")
        self.proc = None
        self.port = None

    def start(self):
        for _ in range(5):  # another process may take the free port first
            port = free_port()
            self.proc = subprocess.Popen(
                [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir,
                 "--databases", "1", "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: self.proc.poll() is not None or answers_ping(port), 30)
            if self.proc.poll() is None and answers_ping(port):
                self.port = port
                with Conn(port) as c:
                    m = re.search(rb"redis_version:(\d+)\.(\d+)", c.call("INFO", "server")[1])
                self.version = (int(m.group(1)), int(m.group(2)))
                return self
            self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ConformanceCase(DaemonTestCase):
    """A statestored (self.d) and a redis-server (self.redis)."""

    def setUp(self):
        if not os.path.exists(REDIS):
            self.skipTest("redis-server is not installed")
        super().setUp()
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        try:
            self.redis.start()
        except BaseException:
            self.tearDown()  # tearDown does not run when setUp fails
            raise
        now = int(time.time())
        self.vars = {"T": str(now + 3600), "TMS": str((now + 3600) * 1000 + 123)}

    def pair(self, proto):
        """Fresh connections to (statestored, Redis), in RESP proto; closed
        at the end of the test."""
        ours, redis = self.connect_pair(proto)
        self.addCleanup(ours.close)
        self.addCleanup(redis.close)
        return ours, redis

    def connect_pair(self, proto):
        ours, redis = Conn(self.d.port, TIMEOUT), Conn(self.redis.port, TIMEOUT)
        try:
            if proto == 3:
                a, b = ours.call("HELLO", "3"), redis.call("HELLO", "3")
                check_hello(self, a, b, 3)
        except BaseException:
            ours.close()
            redis.close()
            raise
        return ours, redis


# ---- the checks ---------------------------------------------------------------
#
# A check is f(test, ours, redis, proto); ours and redis are (raw, parsed).


def show(reply):
    raw = reply[0]
    return repr(raw if len(raw) <= 300 else raw[:300] + b"...")


def exact(t, ours, redis, proto):
    t.assertEqual(ours[0], redis[0], "\n  ours:  %s\n  redis: %s" % (show(ours), show(redis)))


def tolerance(n):
    """Both integers, neither -1 nor -2, at most n apart (a TTL read a few
    ms apart on the two servers)."""
    def check(t, ours, redis, proto):
        a, b = ours[1], redis[1]
        t.assertIs(type(a), int, show(ours))
        t.assertIs(type(b), int, show(redis))
        t.assertGreaterEqual(min(a, b), 0, "%s / %s" % (show(ours), show(redis)))
        t.assertLessEqual(abs(a - b), n, "%s / %s" % (show(ours), show(redis)))
    check.__name__ = "tolerance(%d)" % n
    return check


def as_set(t, ours, redis, proto):
    """The same elements, in any order, none twice (KEYS)."""
    t.assertEqual(shape(ours[1])[0], shape(redis[1])[0])
    a, b = ours[1], redis[1]
    t.assertEqual(len(set(a)), len(a), "ours has duplicates: %s" % show(ours))
    t.assertEqual(sorted(a), sorted(b), "\n  ours:  %s\n  redis: %s" % (show(ours), show(redis)))


def pairs(v):
    """A map reply as [(key, value)]: RESP3's map or RESP2's flat array."""
    if isinstance(v, Map):
        return list(v.items())
    assert isinstance(v, list) and len(v) % 2 == 0, v
    return list(zip(v[::2], v[1::2]))


def as_map(t, ours, redis, proto):
    """The same pairs in any order, in the same kind of reply (CONFIG GET)."""
    t.assertIs(type(ours[1]), type(redis[1]), "%s / %s" % (show(ours), show(redis)))
    t.assertEqual(sorted(pairs(ours[1])), sorted(pairs(redis[1])))


def documented(ours_reply, redis_reply=None):
    """A deliberate difference (the brief's limits): ours must be exactly
    ours_reply, Redis's exactly redis_reply (None: any reply that is not
    an error - Redis accepts it)."""
    def check(t, ours, redis, proto):
        t.assertEqual(ours[0], ours_reply)
        if redis_reply is None:
            t.assertNotIsInstance(redis[1], Err, "Redis refuses it too: %s" % show(redis))
        else:
            t.assertEqual(redis[0], redis_reply)
        t.assertNotEqual(ours[0], redis[0])
    check.__name__ = "documented"
    return check


def since_redis(version, ours_reply):
    """A command newer than the Redis at hand: compared exactly when Redis
    has it; otherwise ours must be ours_reply (the brief's) and Redis must
    not know the command."""
    def check(t, ours, redis, proto):
        if t.redis.version >= version:
            exact(t, ours, redis, proto)
            return
        t.assertEqual(ours[0], ours_reply)
        t.assertIsInstance(redis[1], Err)
        t.assertTrue(redis[1].startswith("ERR unknown command"), show(redis))
    return check


def check_hello(t, ours, redis, proto):
    """HELLO's reply, in RESP proto: the same keys in the same order and
    the same values, but for the version (ours claims Redis 7.2.0) and the
    connection id."""
    t.assertEqual(shape(ours[1]), shape(redis[1]), "%s / %s" % (show(ours), show(redis)))
    t.assertIsInstance(ours[1], Map if proto == 3 else list)
    a, b = pairs(ours[1]), pairs(redis[1])
    t.assertEqual([k for k, _ in a], [k for k, _ in b])
    t.assertEqual([k for k, _ in a], [b"server", b"version", b"proto", b"id", b"mode", b"role",
                                      b"modules"])
    for (k, x), (_, y) in zip(a, b):
        if k == b"version":
            t.assertRegex(x, rb"^\d+\.\d+\.\d+$")
        elif k == b"id":
            t.assertGreater(x, 0)
        else:
            t.assertEqual(x, y, k)
    t.assertEqual(dict(a)[b"proto"], proto)


def hello(version=None):
    """The check of a HELLO case: its reply comes in the version it asks
    for (None: the connection's)."""
    def check(t, ours, redis, proto):
        check_hello(t, ours, redis, version or proto)
    return check


def check_positive_int(t, ours, redis, proto):
    for r in (ours, redis):
        t.assertIs(type(r[1]), int, show(r))
        t.assertGreater(r[1], 0)


def check_time(t, ours, redis, proto):
    t.assertEqual(shape(ours[1]), shape(redis[1]))
    t.assertEqual(shape(ours[1]), ("array", ("bulk", "bulk")))
    for r in (ours, redis):
        t.assertRegex(r[1][0], rb"^[1-9][0-9]*$")
        t.assertRegex(r[1][1], rb"^(0|[1-9][0-9]{0,5})$")
    t.assertLessEqual(abs(int(ours[1][0]) - int(redis[1][0])), 5)


def text_of(v):
    return bytes(v).decode()


def same_text_type(t, ours, redis, proto):
    """INFO and CLIENT INFO|LIST: a bulk in RESP2; Redis 7 sends a verbatim
    string (=..txt:) in RESP3."""
    t.assertEqual(shape(ours[1]), shape(redis[1]), "%s / %s" % (show(ours), show(redis)))
    if isinstance(redis[1], Verbatim):
        t.assertEqual(ours[1].format, redis[1].format)


def info_sections(text):
    """{section: {field: value}} of an INFO text."""
    out, sec = {}, None
    for line in text.split("\r\n"):
        if line.startswith("# "):
            sec = out.setdefault(line[2:].lower(), {})
        elif line:
            k, _, v = line.partition(":")
            sec[k] = v
    return out


# INFO fields whose values are the same on both (Redis here: standalone,
# no replicas, no RDB, nothing loading or rewriting).
INFO_FIXED = ("redis_mode", "arch_bits", "blocked_clients", "maxmemory", "maxmemory_policy",
              "loading", "async_loading", "rdb_bgsave_in_progress", "aof_enabled",
              "aof_rewrite_in_progress", "aof_rewrite_scheduled", "evicted_keys", "role",
              "connected_slaves", "master_repl_offset")


# INFO replication's fields of ours (README: Replication), after Redis's:
# the issue asks for the epoch, the sync set and the lag there, which Redis
# has no words for.
OURS_REPLICATION = {
    "replica_role", "epoch", "fenced", "durable_revision", "applied_revision",
    "sync_replicas", "sync_set", "in_sync_set", "connected_replicas", "writes_waiting",
    "sync_wait", "sync_waits", "sync_timeouts", "full_syncs", "partial_syncs",
    "truncated_records", "primary_host", "primary_port", "primary_link", "primary_epoch",
    "primary_commit", "lag_revisions", "lag_ms"}


def check_info(sections):
    """INFO [sections]: the same section headers (statestored's own
    section aside), every field ours shows exists in Redis's section of the
    same name (replication's own fields aside: OURS_REPLICATION), and the
    fixed ones have the same value."""
    def check(t, ours, redis, proto):
        for r in (ours, redis):
            t.assertIsInstance(r[1], bytes, show(r))
        a, b = info_sections(text_of(ours[1])), info_sections(text_of(redis[1]))
        if sections is not None:
            t.assertEqual(sorted(a), sorted(sections))
            t.assertEqual(sorted(b), sorted(sections))
        for sec, fields in a.items():
            if sec == "statestored":
                continue
            t.assertIn(sec, b)
            for k, v in fields.items():
                if k == "statestored_version" or (sec == "replication" and
                                                   (k in OURS_REPLICATION or
                                                    re.fullmatch(r"replica\d+", k))):
                    continue
                t.assertIn(k, b[sec], "INFO %s: Redis has no field %r" % (sec, k))
                if k in INFO_FIXED:
                    t.assertEqual(v, b[sec][k], k)
        if "server" in a:
            t.assertEqual(a["server"]["tcp_port"], str(t.d.port))
            t.assertEqual(b["server"]["tcp_port"], str(t.redis.port))
    return check


def check_client_info(lines):
    """CLIENT INFO (lines 1) / CLIENT LIST: "k=v ..." lines, every field
    ours shows exists in Redis's, and the shared ones agree."""
    def check(t, ours, redis, proto):
        for r in (ours, redis):
            t.assertIsInstance(r[1], bytes, show(r))
            t.assertTrue(r[1].endswith(b"\n"), show(r))
        a = [dict(f.split("=", 1) for f in l.split(" ")) for l in text_of(ours[1]).splitlines()]
        b = [dict(f.split("=", 1) for f in l.split(" ")) for l in text_of(redis[1]).splitlines()]
        if lines:
            t.assertEqual(len(a), lines)
            t.assertEqual(len(b), lines)
        for x in a:
            for k in x:
                if k not in ("lib-name", "lib-ver"):  # Redis 7.2's
                    t.assertIn(k, b[0], "CLIENT INFO: Redis has no field %r" % k)
        if lines:
            for k in ("name", "db", "multi", "resp"):
                t.assertEqual(a[0][k], b[0][k], k)
            t.assertEqual(a[0]["resp"], str(proto))
    return check


def command_entry(t, v, name):
    """COMMAND INFO's entry for name in a COMMAND / COMMAND INFO reply."""
    for e in v:
        if isinstance(e, list) and e and e[0] == name:
            return e
    t.fail("no COMMAND entry for %r" % name)


def check_get_entry(t, ours, redis):
    """COMMAND INFO get: ten fields, name get, arity 2, keys 1 1 1; ours'
    flags and ACL categories are among Redis's."""
    for e in (ours, redis):
        t.assertEqual(len(e), 10)
        t.assertEqual(e[0], b"get")
        t.assertEqual(e[1], 2)
        t.assertEqual(e[3:6], [1, 1, 1])
        for i in (2, 6):
            t.assertTrue(all(isinstance(x, Simple) for x in e[i]), e[i])
        t.assertIn("readonly", e[2])
        t.assertIn("@read", e[6])
    t.assertLessEqual(set(ours[2]), set(redis[2]))
    t.assertLessEqual(set(ours[6]), set(redis[6]))


def check_command_info(names):
    def check(t, ours, redis, proto):
        for r in (ours, redis):
            t.assertIsInstance(r[1], list, show(r))
            t.assertEqual(len(r[1]), len(names))
        for i, n in enumerate(names):
            if n is None:
                t.assertIsNone(ours[1][i])
                t.assertIsNone(redis[1][i])
            else:
                check_get_entry(t, ours[1][i], redis[1][i])
    return check


def check_command_all(t, ours, redis, proto):
    for r in (ours, redis):
        t.assertIsInstance(r[1], list)
        t.assertTrue(all(isinstance(e, list) and len(e) == 10 for e in r[1]))
    check_get_entry(t, command_entry(t, ours[1], b"get"), command_entry(t, redis[1], b"get"))


def aggregate_kinds(e):
    return [shape(e[i])[0] for i in (2, 6, 7, 8, 9)]


def check_command_info_types(t, ours, redis, proto):
    """The kinds of COMMAND INFO's aggregates: arrays in RESP2, sets (~) for
    flags, ACL categories, tips, key specs and subcommands in RESP3."""
    a, b = ours[1][0], redis[1][0]
    t.assertEqual(aggregate_kinds(a), aggregate_kinds(b), "%s / %s" % (show(ours), show(redis)))


def check_command_docs(t, ours, redis, proto):
    t.assertIs(type(ours[1]), type(redis[1]))
    a, b = pairs(ours[1]), pairs(redis[1])
    t.assertEqual([k for k, _ in a], [b"get"])
    t.assertEqual([k for k, _ in b], [b"get"])
    t.assertIs(type(a[0][1]), type(b[0][1]))
    x, y = dict(pairs(a[0][1])), dict(pairs(b[0][1]))
    for k in (b"summary", b"since", b"group"):
        t.assertIsInstance(x[k], bytes)
        t.assertIsInstance(y[k], bytes)
    t.assertEqual(x[b"group"], y[b"group"])


# The Redis commands the brief lists (WAITAOF only from Redis 7.2).
BRIEF_COMMANDS = ("ping echo quit hello auth select client reset info dbsize time command config "
                  "wait get set setnx setex psetex getset getdel getex mget mset msetnx del unlink "
                  "exists expire pexpire expireat pexpireat ttl pttl expiretime pexpiretime "
                  "persist type scan keys randomkey incr incrby decr decrby").split()


def check_command_list(t, ours, redis, proto):
    for r in (ours, redis):
        t.assertIsInstance(r[1], list)
        t.assertTrue(all(isinstance(x, bytes) for x in r[1]))
    for name in BRIEF_COMMANDS:
        t.assertIn(name.encode(), ours[1])
        t.assertIn(name.encode(), redis[1])
    if t.redis.version >= (7, 2):
        t.assertIn(b"waitaof", redis[1])
    t.assertIn(b"waitaof", ours[1])


# ---- the cases -------------------------------------------------------------------

class Case:
    def __init__(self, cmd, setup=(), check=exact, name=None):
        self.cmd = args(cmd)
        self.setup = [args(s) for s in setup]
        self.check = check
        self.name = name or " ".join(self.cmd)[:80]


def args(c):
    return c.split(" ") if isinstance(c, str) else list(c)


def C(cmd, *setup, check=exact, name=None):
    return Case(cmd, setup, check, name)


LONG = "x" * 200
BIG_VALUE = "v" * (VALUE_MAX + 1)
MAX_VALUE = "v" * VALUE_MAX
BIG_KEY = "k" * (NAME_MAX + 1)
MAX_KEY = "k" * NAME_MAX
ERR_EMPTY_KEY = b"-ERR empty keys are not supported\r\n"
ERR_EMPTY_VALUE = b"-ERR empty values are not supported\r\n"


def ERR_EXPIRE(cmd):
    return b"-ERR invalid expire time in '%s' command\r\n" % cmd.encode()


CASES = [
    # -- connection
    C("PING"),
    C("PING hello"),
    C("PING a b"),
    C(["PING", ""]),
    C("ECHO hi"),
    C(["ECHO", ""]),
    C("ECHO"),
    C("ECHO a b"),
    C("SELECT 0"),
    C("SELECT 1"),  # Redis runs with --databases 1, as CONFIG GET databases says
    C("SELECT x"),
    C("SELECT -1"),
    C("SELECT 00"),
    C("SELECT -0"),
    C("SELECT"),
    C("HELLO", check=hello()),
    C("HELLO 2", check=hello(2)),
    C("HELLO 3", check=hello(3)),
    C("HELLO 4"),
    C("HELLO 1"),
    C("HELLO x"),
    C("HELLO 2 foo"),
    C("HELLO 2 AUTH default pw", check=hello(2)),
    C("HELLO 2 AUTH bob pw"),
    C("HELLO 3 AUTH default"),
    C("HELLO 2 SETNAME"),
    C(["HELLO", "3", "SETNAME", "a b"]),
    C("CLIENT GETNAME", "HELLO 3 SETNAME hname", name="HELLO SETNAME, then CLIENT GETNAME"),
    C(["HELLO", "3", LONG], name="HELLO 3 <200-byte option>"),
    C("AUTH pw"),
    C("AUTH bob pw"),
    C("AUTH"),
    C("CLIENT GETNAME"),
    C("CLIENT SETNAME cname"),
    C("CLIENT GETNAME", "CLIENT SETNAME cname2", name="CLIENT SETNAME, then GETNAME"),
    C("CLIENT GETNAME", "CLIENT SETNAME cname3", ["CLIENT", "SETNAME", ""],
      name="CLIENT SETNAME '' clears the name"),
    C(["CLIENT", "SETNAME", "a b"], name="CLIENT SETNAME 'a b'"),
    C(["CLIENT", "SETNAME", "a\x01"]),
    C("CLIENT SETNAME a b"),
    C("CLIENT SETNAME"),
    C("CLIENT GETNAME x"),
    C("CLIENT ID", check=check_positive_int),
    C("CLIENT ID x"),
    C("CLIENT FOO"),
    C("CLIENT FOO bar"),
    C(["CLIENT", "a\nb"]),
    C("CLIENT"),
    C("CLIENT INFO", check=check_client_info(1)),
    C("CLIENT INFO", check=same_text_type, name="CLIENT INFO: reply type"),
    C("CLIENT LIST", check=check_client_info(0)),
    C("CLIENT LIST", check=same_text_type, name="CLIENT LIST: reply type"),
    C("RESET"),
    C("RESET x"),
    C("CLIENT GETNAME", "CLIENT SETNAME rname", "RESET", name="RESET clears the name"),
    C("GET nokey", "RESET", name="RESET, then GET (RESP2 again)"),
    # -- server
    C("DBSIZE x"),
    C("TIME", check=check_time),
    C("TIME x"),
    C("INFO", check=check_info(None)),
    C("INFO", check=same_text_type, name="INFO: reply type"),
    C("INFO persistence", check=check_info(["persistence"])),
    C("INFO server clients", check=check_info(["server", "clients"])),
    C("INFO nosuchsection", check=check_info([])),
    C("COMMAND COUNT", check=check_positive_int),
    C("COMMAND INFO get", check=check_command_info([b"get"])),
    C("COMMAND INFO GET", check=check_command_info([b"get"])),
    C("COMMAND INFO nosuch get", check=check_command_info([None, b"get"])),
    C("COMMAND INFO get", check=check_command_info_types, name="COMMAND INFO get: reply types"),
    C("COMMAND", check=check_command_all),
    C("COMMAND DOCS get", check=check_command_docs),
    C("COMMAND LIST", check=check_command_list),
    C("COMMAND FOO"),
    C("CONFIG GET appendonly"),
    C("CONFIG GET appendfsync"),
    C("CONFIG GET save"),
    C("CONFIG GET databases"),
    C("CONFIG GET APPENDONLY"),
    C("CONFIG GET appendonly save databases", check=as_map),
    C("CONFIG GET nosuchparameter"),
    C("CONFIG GET"),
    C("CONFIG FOO"),
    C("CONFIG"),
    C("WAIT 0 0"),
    C("WAIT 0 -1"),
    C("WAIT x 0"),
    C("WAIT 0"),
    C("WAITAOF 1 0 0", check=since_redis((7, 2), b"*2\r\n:1\r\n:0\r\n")),
    C("FOO"),
    C("FOO a b"),
    C("foo bar"),
    C("FOO a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff gg hh ii jj kk "
      "ll mm nn oo pp qq rr ss tt"),
    C(["FOO", LONG], name="FOO <200-byte arg>"),
    C([LONG, "a"], name="<200-byte command name> a"),
    C(["FOO", "a\nb", "c\rd"], name="FOO with CR and LF in args"),
    C(["FOO", "e\x01f", "\xff"], name="FOO with control and non-ASCII bytes in args"),
    C("GET"),
    C("GET a b"),
    C("SET"),
    C("SET k"),
    C("TTL a b"),
    # -- GET / SET
    C("GET nokey"),
    C("SET s1 v"),
    C("GET s2", "SET s2 v2"),
    C("SET s3 w NX", "SET s3 v"),
    C("SET s4 w NX"),
    C("GET s4b", "SET s4b w NX", name="SET NX on a missing key, then GET"),
    C("SET s5 w XX"),
    C("SET s6 w XX", "SET s6 v"),
    C("GET s6b", "SET s6b v", "SET s6b w XX", name="SET XX on a key, then GET"),
    C("SET s7 w GET", "SET s7 v"),
    C("SET s8 w GET"),
    C("SET s9 w NX GET", "SET s9 v"),
    C("SET s10 w NX GET"),
    C("SET s11 w XX GET"),
    C("SET s12 w XX GET", "SET s12 v"),
    C("SET s13 v NX NX"),
    C("SET s14 v GET GET"),
    C("SET s15 v nx"),
    C("set s16 v ex 100"),
    C("SET s17 v NX XX"),
    C("SET s17 v XX NX"),
    C("SET s17 v EX 0"),
    C("SET s17 v EX -1"),
    C("SET s17 v EX abc"),
    C("SET s17 v EX 01"),
    C("SET s17 v EX 1.5"),
    C("SET s17 v EX 99999999999999999999"),
    C("SET s17 v EX 9223372036854775807"),
    C("SET s17 v PX 9223372036854775807"),
    C("SET s17 v PX 0"),
    C("SET s17 v PX -5"),
    C("SET s17 v EXAT 0"),
    C("SET s17 v PXAT 0"),
    C("SET s17 v EXAT -1"),
    C("SET s17 v EX"),
    C("SET s17 v PX"),
    C("SET s17 v EXAT"),
    C("SET s17 v PXAT"),
    C("SET s17 v EX 10 PX 10"),
    C("SET s17 v EX 10 EXAT 10"),
    C("SET s17 v EX 10 KEEPTTL"),
    C("SET s17 v KEEPTTL EX 10"),
    C("SET s17 v PXAT 10 KEEPTTL"),
    C("SET s17 v FOO"),
    C("SET s17 v EX 10 FOO"),
    C("SET s18 v EX 10 EX 20"),
    C("TTL s19", "SET s19 v EX 10 EX 2000", name="SET EX EX: the last one counts"),
    C("SET s20 v NX GET EX 100 GET NX GET", name="SET with 7 options (repeats allowed)"),
    C("SET s21 v EX 1000"),
    C("TTL s22", "SET s22 v EX 1000", check=tolerance(1)),
    C("PTTL s23", "SET s23 v PX 1000000", check=tolerance(1000)),
    C("EXPIRETIME s24", "SET s24 v EXAT {T}"),
    C("PEXPIRETIME s25", "SET s25 v PXAT {TMS}"),
    C("PEXPIRETIME s26", "SET s26 v PXAT {TMS}", "SET s26 w KEEPTTL", name="SET KEEPTTL keeps it"),
    C("TTL s27", "SET s27 v EX 1000", "SET s27 w", name="SET without KEEPTTL clears the TTL"),
    C("EXISTS s28", "SET s28 v EXAT 1", name="SET EXAT in the past"),
    C("EXISTS s29", "SET s29 v PXAT 1", name="SET PXAT in the past"),
    C("SET s30 v KEEPTTL"),
    C("SET s31 12345"),
    # -- SETNX / SETEX / PSETEX / GETSET / GETDEL / GETEX
    C("SETNX n1 v"),
    C("SETNX n2 w", "SET n2 v"),
    C("GET n3", "SET n3 v", "SETNX n3 w", name="SETNX leaves the old value"),
    C("SETNX n4"),
    C("SETEX x1 100 v"),
    C("SETEX x2 0 v"),
    C("SETEX x2 -5 v"),
    C("SETEX x2 abc v"),
    C("SETEX x2 100"),
    C("TTL x3", "SETEX x3 1000 v", check=tolerance(1)),
    C("PSETEX x4 100000 v"),
    C("PSETEX x5 0 v"),
    C("PSETEX x5 -5 v"),
    C("PSETEX x5 abc v"),
    C("PTTL x6", "PSETEX x6 1000000 v", check=tolerance(1000)),
    C("GETSET g1 w", "SET g1 v"),
    C("GETSET g2 w"),
    C("GET g3", "SET g3 v", "GETSET g3 w", name="GETSET writes"),
    C("TTL g4", "SET g4 v EX 1000", "GETSET g4 w", name="GETSET clears the TTL"),
    C("GETSET g5"),
    C("GETDEL d1", "SET d1 v"),
    C("GETDEL d2"),
    C("GET d3", "SET d3 v", "GETDEL d3", name="GETDEL deletes"),
    C("GETDEL d4 d5"),
    C("GETEX e1", "SET e1 v"),
    C("GETEX e2"),
    C("GETEX e3 EX 100", "SET e3 v"),
    C("TTL e4", "SET e4 v", "GETEX e4 EX 1000", check=tolerance(1)),
    C("PTTL e5", "SET e5 v", "GETEX e5 PX 1000000", check=tolerance(1000)),
    C("EXPIRETIME e6", "SET e6 v", "GETEX e6 EXAT {T}"),
    C("PEXPIRETIME e7", "SET e7 v", "GETEX e7 PXAT {TMS}"),
    C("GETEX e8 PERSIST", "SET e8 v EX 1000"),
    C("TTL e9", "SET e9 v EX 1000", "GETEX e9 PERSIST", name="GETEX PERSIST clears the TTL"),
    C("GETEX e10 EX 10"),
    C("GETEX e11 PERSIST x", "SET e11 v"),
    C("GETEX e11 EX", "SET e11 v", name="GETEX EX without a time"),
    C("GETEX e11 EX 0"),
    C("GETEX e11 EX -1"),
    C("GETEX e11 EX abc"),
    C("GETEX e11 PX 0"),
    C("GETEX e11 FOO"),
    C("GETEX e11 EX 10 PX 10"),
    C("GETEX e11 EX 10 PERSIST"),
    C("GETEX e12 PERSIST PERSIST", "SET e12 v"),
    C("GETEX e13 EX 10 EX 20", "SET e13 v"),
    C("GETEX"),
    # -- MGET / MSET / MSETNX
    C("MGET m1 nokey m2 nokey", "MSET m1 a m2 b"),
    C("MGET nokey"),
    C("MGET"),
    C("MSET m3 a m4"),
    C("MSET m3"),
    C("MSET"),
    C("MSET m5 a m6 b"),
    C("MGET m7", "MSET m7 1 m7 2", name="MSET with a key twice: the last wins"),
    C("MSETNX m8 a m9 b"),
    C("MSETNX m10 a m11 b", "SET m11 v"),
    C("MGET m12 m13", "SET m13 v", "MSETNX m12 a m13 b", name="MSETNX refused writes nothing"),
    C("MSETNX m14 1 m14 2"),
    C("MSETNX m15 a m16"),
    C("MSETNX"),
    # -- DEL / UNLINK / EXISTS
    C("DEL k1 k1 k2 nokey", "SET k1 v", "SET k2 v"),
    C("UNLINK k3 k3 k4 nokey", "SET k3 v", "SET k4 v"),
    C("EXISTS k5 k5 k6 nokey", "SET k5 v", "SET k6 v"),
    C("EXISTS k7 k8", "MSET k7 v k8 v", "DEL k7 k8", name="DEL deletes"),
    C("DEL nokey"),
    C("DEL"),
    C("UNLINK"),
    C("EXISTS"),
    # -- the EXPIRE family, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST
    C("EXPIRE x10 100", "SET x10 v"),
    C("EXPIRE nokey 100"),
    C("EXPIRE x11 100 NX", "SET x11 v"),
    C("EXPIRE x12 100 NX", "SET x12 v EX 1000"),
    C("EXPIRE x13 100 XX", "SET x13 v"),
    C("EXPIRE x14 100 XX", "SET x14 v EX 1000"),
    C("EXPIRE x15 100 GT", "SET x15 v"),
    C("EXPIRE x16 2000 GT", "SET x16 v EX 1000"),
    C("EXPIRE x17 100 GT", "SET x17 v EX 1000"),
    C("EXPIRE x18 100 LT", "SET x18 v"),
    C("EXPIRE x19 100 LT", "SET x19 v EX 1000"),
    C("EXPIRE x20 2000 LT", "SET x20 v EX 1000"),
    C("EXPIRE x21 100 nx", "SET x21 v"),
    C("TTL x22", "SET x22 v EX 1000", "EXPIRE x22 2000 GT", check=tolerance(1),
      name="EXPIRE GT sets the TTL"),
    C("EXPIRE x23 100 NX XX", "SET x23 v"),
    C("EXPIRE x23 100 NX GT", "SET x23 v", name="EXPIRE NX GT"),
    C("EXPIRE x23 100 NX LT", "SET x23 v", name="EXPIRE NX LT"),
    C("EXPIRE x23 100 GT LT", "SET x23 v", name="EXPIRE GT LT"),
    C("PEXPIRE x23 100000 GT LT", "SET x23 v", name="PEXPIRE GT LT"),
    C("EXPIRE x24 2000 XX GT", "SET x24 v EX 1000"),
    C("EXPIRE x25 100 NX NX", "SET x25 v"),
    C("EXPIRE x26 100 FOO", "SET x26 v"),
    C(["EXPIRE", "x26", "100", LONG], name="EXPIRE with a 200-byte bad option"),
    C("EXPIRE x26 abc"),
    C("EXPIRE x26 1.5"),
    C("EXPIRE x26"),
    C("EXPIRE"),
    C("EXISTS x27", "SET x27 v", "EXPIRE x27 0", name="EXPIRE 0 deletes"),
    C("EXPIRE x28 -1", "SET x28 v"),
    C("EXISTS x29", "SET x29 v", "EXPIRE x29 -1", name="EXPIRE -1 deletes"),
    C("PEXPIRE x30 100000", "SET x30 v"),
    C("PEXPIRE x31 -100", "SET x31 v"),
    C("PTTL x32", "SET x32 v", "PEXPIRE x32 1000000", check=tolerance(1000)),
    C("EXPIREAT x33 {T}", "SET x33 v"),
    C("EXPIRETIME x34", "SET x34 v", "EXPIREAT x34 {T}"),
    C("EXPIREAT x35 1", "SET x35 v"),
    C("EXISTS x36", "SET x36 v", "EXPIREAT x36 1", name="EXPIREAT in the past deletes"),
    C("PEXPIREAT x37 {TMS}", "SET x37 v"),
    C("PEXPIRETIME x38", "SET x38 v", "PEXPIREAT x38 {TMS}"),
    C("EXPIRETIME x39", "SET x39 v", "PEXPIREAT x39 {TMS}"),
    C("EXPIREAT x40 {T} LT", "SET x40 v PXAT {TMS}"),
    C("PEXPIREAT nokey 1 NX"),
    C("EXPIRE x41 9223372036854775807", "SET x41 v"),
    C("PEXPIRE x41 9223372036854775807", "SET x41 v", name="PEXPIRE LLONG_MAX"),
    C("EXPIREAT x41 9223372036854775807", "SET x41 v", name="EXPIREAT LLONG_MAX"),
    C("TTL nokey"),
    C("PTTL nokey"),
    C("TTL t1", "SET t1 v"),
    C("PTTL t2", "SET t2 v"),
    C("EXPIRETIME nokey"),
    C("PEXPIRETIME nokey"),
    C("EXPIRETIME t3", "SET t3 v"),
    C("PEXPIRETIME t4", "SET t4 v"),
    C("TTL"),
    C("PERSIST p1", "SET p1 v EX 1000"),
    C("PERSIST p2", "SET p2 v"),
    C("PERSIST nokey"),
    C("TTL p3", "SET p3 v EX 1000", "PERSIST p3", name="PERSIST clears the TTL"),
    C("PERSIST"),
    # -- TYPE
    C("TYPE y1", "SET y1 v"),
    C("TYPE nokey"),
    C("TYPE"),
    # -- INCR / DECR / INCRBY / DECRBY
    C("INCR i1"),
    C("INCR i2", "SET i2 41"),
    C("INCRBY i3 10", "SET i3 5"),
    C("DECR i4", "SET i4 5"),
    C("DECR i5"),
    C("DECRBY i6 5", "SET i6 5"),
    C("INCRBY i7 -3"),
    C("DECRBY i8 -3"),
    C("INCRBY i9 abc"),
    C("INCRBY i9 1.5"),
    C("INCRBY i9 9223372036854775808"),
    C("INCR i10", "SET i10 v"),
    C("INCR i11", "SET i11 1.5"),
    C("INCR i12", "SET i12 007"),
    C("INCR i13", ["SET", "i13", "1 "]),
    C("INCR i14", "SET i14 +5"),
    C("INCR i15", "SET i15 12345678901234567890"),
    C("INCR i16", "SET i16 9223372036854775807"),
    C("INCRBY i17 1", "SET i17 9223372036854775807"),
    C("DECR i18", "SET i18 -9223372036854775808"),
    C("DECRBY i19 1", "SET i19 -9223372036854775808"),
    C("DECRBY i20 -9223372036854775808"),
    C("INCRBY i21 -9223372036854775808"),
    C("DECRBY i22 9223372036854775807", "DECRBY i22 9223372036854775807",
      name="DECRBY to -LLONG_MAX, and again"),
    C("GET i23", "SET i23 5", "INCRBY i23 -7", name="INCRBY writes the decimal"),
    C("TTL i24", "SET i24 5 EX 1000", "INCR i24", check=tolerance(1), name="INCR keeps the TTL"),
    C("INCR i25", "SET i25 -0"),
    C("INCRBY i26 -0"),
    C("INCRBY i27 01"),
    C("INCR"),
    C("INCRBY i28"),
    C("INCRBY i28 1 2"),
    C("DECR"),
    C("DECRBY"),
    # -- the brief's deliberate differences: ours exactly, Redis's too
    C(["SET", "", "v"], check=documented(ERR_EMPTY_KEY, b"+OK\r\n"), name="SET '' v"),
    C(["SET", "z1", ""], check=documented(ERR_EMPTY_VALUE, b"+OK\r\n"), name="SET z1 ''"),
    C(["GET", ""], check=documented(ERR_EMPTY_KEY), name="GET ''"),
    C(["MSET", "z2", "v", "", "v"], check=documented(ERR_EMPTY_KEY, b"+OK\r\n"),
      name="MSET with an empty key"),
    C(["MSET", "z3", ""], check=documented(ERR_EMPTY_VALUE, b"+OK\r\n"),
      name="MSET with an empty value"),
    C(["DEL", ""], check=documented(ERR_EMPTY_KEY), name="DEL ''"),
    C(["EXISTS", ""], check=documented(ERR_EMPTY_KEY), name="EXISTS ''"),
    C(["SET", "z4", BIG_VALUE], name="SET a value of 64 KiB + 1",
      check=documented(b"-ERR value is longer than 65536 bytes\r\n", b"+OK\r\n")),
    C(["SET", "z5", MAX_VALUE], name="SET a value of 64 KiB"),
    C("GET z6", ["SET", "z6", MAX_VALUE], name="GET a value of 64 KiB"),
    C(["SET", BIG_KEY, "v"], name="SET a key of 513 bytes",
      check=documented(b"-ERR key is longer than 512 bytes\r\n", b"+OK\r\n")),
    C(["SET", MAX_KEY, "v"], name="SET a key of 512 bytes"),
    C("SET z7 NULL", check=documented(
        b"-ERR the value 'NULL' is reserved: GET_CHECKPOINT answers it for a missing key\r\n",
        b"+OK\r\n")),
    C("SET z8 v EX %d" % TTL_MAX),
    C("SET z9 v EX %d" % (TTL_MAX + 1), check=documented(ERR_EXPIRE("set"), b"+OK\r\n")),
    C("SET z9 v PX %d" % ((TTL_MAX + 1) * 1000), check=documented(ERR_EXPIRE("set"), b"+OK\r\n")),
    C("SETEX z10 %d v" % (TTL_MAX + 1), check=documented(ERR_EXPIRE("setex"), b"+OK\r\n")),
    C("PSETEX z11 %d v" % ((TTL_MAX + 1) * 1000),
      check=documented(ERR_EXPIRE("psetex"), b"+OK\r\n")),
    C("EXPIRE z12 %d" % (TTL_MAX + 1), "SET z12 v", check=documented(ERR_EXPIRE("expire"),
                                                                    b":1\r\n")),
    C("GETEX z13 EX %d" % (TTL_MAX + 1), "SET z13 v",
      check=documented(ERR_EXPIRE("getex"), b"$1\r\nv\r\n")),
    C("SET z14 v EXAT 9999999999", check=documented(ERR_EXPIRE("set"), b"+OK\r\n")),
]

# Cases that differ from Redis without a documented reason: server bugs.
# name -> (protocols, reason). Each still runs (see the module's doc).
BOTH = (2, 3)
# Differences from Redis that are bugs of ours, not documented choices:
# (protocols, reason) by case name. Empty since the fixes of the first run
# (SET/GETEX/EXPIRE option parsing, "-0", echoed bytes, CONFIG GET's
# names, RESP3 verbatim strings and sets).
KNOWN_BUGS = {
}


def fill(a, variables):
    return a.format(**variables) if "{" in a else a


class CommandsCase(ConformanceCase):
    PROTO = None

    def run_case(self, case):
        ours, redis = self.connect_pair(self.PROTO)
        try:
            self.run_on(case, ours, redis)
        finally:
            ours.close()
            redis.close()

    def run_on(self, case, ours, redis):
        for s in case.setup:
            s = [fill(a, self.vars) for a in s]
            a, b = ours.call(*s), redis.call(*s)
            if s[0].upper() == "HELLO":
                check_hello(self, a, b, 3 if s[1:2] == ["3"] else self.PROTO)
            else:
                self.assertEqual(a[0], b[0], "setup %r:\n  ours:  %s\n  redis: %s" % (
                    " ".join(s)[:80], show(a), show(b)))
        cmd = [fill(a, self.vars) for a in case.cmd]
        case.check(self, ours.call(*cmd), redis.call(*cmd), self.PROTO)

    def run_cases(self):
        for case in CASES:
            bug = KNOWN_BUGS.get(case.name)
            expect_bug = bug is not None and self.PROTO in bug[0]
            with self.subTest(case=case.name):
                if not expect_bug:
                    self.run_case(case)
                    continue
                try:
                    self.run_case(case)
                except AssertionError:
                    self.skipTest("known server bug: %s" % bug[1])
                self.fail("%r now conforms in RESP%d: remove it from KNOWN_BUGS" % (
                    case.name, self.PROTO))


class TestCommandsResp2(CommandsCase):
    PROTO = 2

    def test_every_case_matches_redis(self):
        self.run_cases()


class TestCommandsResp3(CommandsCase):
    PROTO = 3

    def test_every_case_matches_redis(self):
        self.run_cases()


class TestCaseTable(unittest.TestCase):
    def test_names_are_unique_and_known_bugs_exist(self):
        names = [c.name for c in CASES]
        self.assertEqual(len(names), len(set(names)),
                         [n for n in names if names.count(n) > 1])
        self.assertLessEqual(set(KNOWN_BUGS), set(names))


# ---- the keyspace ----------------------------------------------------------------

KEYSPACE = ["ks:a:%d" % i for i in range(12)] + ["ks:b:%d" % i for i in range(10)] + ["other"]


class TestKeyspaceResp2(ConformanceCase):
    PROTO = 2

    def setUp(self):
        super().setUp()
        self.ours, self.red = self.pair(self.PROTO)
        mset = ["MSET"] + [x for k in KEYSPACE for x in (k, "v")]
        exact(self, self.ours.call(*mset), self.red.call(*mset), self.PROTO)
        exact(self, self.ours.call("SET", "ks:ttl", "v", "EX", "1000"),
              self.red.call("SET", "ks:ttl", "v", "EX", "1000"), self.PROTO)
        exact(self, self.ours.call("SET", "ks:gone", "v"), self.red.call("SET", "ks:gone", "v"),
              self.PROTO)
        exact(self, self.ours.call("DEL", "ks:gone"), self.red.call("DEL", "ks:gone"), self.PROTO)
        self.keys = set(k.encode() for k in KEYSPACE) | {b"ks:ttl"}

    def both(self, *cmd):
        return self.ours.call(*cmd), self.red.call(*cmd)

    def scan_all(self, conn, *opts):
        """Every key a full SCAN iteration returns, and how many times."""
        seen, cursor, rounds = [], b"0", 0
        while True:
            raw, v = conn.call("SCAN", cursor, *opts)
            self.assertEqual(shape(v)[0], "array", raw)
            self.assertEqual(len(v), 2)
            cursor, keys = v
            self.assertIsInstance(cursor, bytes)
            seen += keys
            rounds += 1
            self.assertLess(rounds, 1000, "SCAN does not end")
            if cursor == b"0":
                return seen

    def test_dbsize(self):
        exact(self, *self.both("DBSIZE"), self.PROTO)
        self.assertEqual(self.ours.call("DBSIZE")[1], len(self.keys))

    def test_keys_as_sets(self):
        for pattern in ("*", "ks:a:*", "ks:?:1", "ks:[ab]:1?", "ks:[^a]:*", "*ttl", "nomatch*",
                        "ks:\\a:1"):
            with self.subTest(pattern=pattern):
                ours, redis = self.both("KEYS", pattern)
                as_set(self, ours, redis, self.PROTO)
        self.assertEqual(set(self.ours.call("KEYS", "*")[1]), self.keys)

    def test_full_scan_as_sets(self):
        for opts in ((), ("COUNT", "5"), ("COUNT", "1000"), ("MATCH", "ks:b:*"),
                     ("MATCH", "ks:b:*", "COUNT", "3"), ("TYPE", "string"), ("TYPE", "list"),
                     ("MATCH", "nomatch*")):
            with self.subTest(opts=opts):
                a, b = self.scan_all(self.ours, *opts), self.scan_all(self.red, *opts)
                self.assertEqual(len(a), len(set(a)), "ours returned a key twice")
                self.assertEqual(sorted(a), sorted(set(b)))

    def test_scan_errors(self):
        for cmd in (("SCAN", "0", "COUNT", "0"), ("SCAN", "0", "COUNT", "x"), ("SCAN", "x"),
                    ("SCAN", "0", "FOO", "bar"), ("SCAN", "0", "MATCH"), ("SCAN",),
                    ("KEYS",), ("KEYS", "a", "b"), ("RANDOMKEY", "x"), ("DBSIZE", "x")):
            with self.subTest(cmd=cmd):
                exact(self, *self.both(*cmd), self.PROTO)

    def test_randomkey_is_a_key(self):
        for conn in (self.ours, self.red):
            raw, v = conn.call("RANDOMKEY")
            self.assertIsInstance(v, bytes, raw)
            self.assertIn(v, self.keys)

    def test_exists_counts(self):
        exact(self, *self.both("EXISTS", *(sorted(KEYSPACE) + ["nokey", "other", "ks:gone"])),
              self.PROTO)

    def test_info_keyspace(self):
        ours, redis = self.both("INFO", "keyspace")
        a = info_sections(text_of(ours[1]))["keyspace"]
        b = info_sections(text_of(redis[1]))["keyspace"]
        self.assertEqual(list(a), ["db0"])
        self.assertEqual(list(b), ["db0"])
        self.assertEqual(a["db0"], "keys=%d" % len(self.keys))  # ours has keys= only
        self.assertEqual(b["db0"].split(",")[0], a["db0"])


class TestKeyspaceResp3(TestKeyspaceResp2):
    PROTO = 3


# ---- framing -------------------------------------------------------------------

PING = b"*1\r\n$4\r\nPING\r\n"

# Malformed requests: both servers answer the same protocol error, and
# close. (Each is sent in one write and read whole by the server, so the
# close is a FIN, not a reset.)
MALFORMED = [
    ("bad bulk length", b"*1\r\n$abc\r\n"),
    ("bulk length -1", b"*1\r\n$-1\r\n"),
    ("negative bulk length", b"*1\r\n$-5\r\n"),
    ("empty bulk length", b"*1\r\n$\r\n"),
    ("bulk length with a tail", b"*1\r\n$4x\r\nPING\r\n"),
    ("bulk length past every limit", b"*1\r\n$99999999999\r\n"),
    ("$x", b"*1\r\n$x\r\n"),
    ("bad count", b"*abc\r\n"),
    ("empty count", b"*\r\n"),
    ("count with a tail", b"*1x\r\n"),
    ("nested array", b"*1\r\n*1\r\n$4\r\nPING\r\n"),
    ("integer argument", b"*1\r\n:1\r\n"),
    ("simple string argument", b"*2\r\n$4\r\nPING\r\n+x\r\n"),
    ("after a good request", PING + b"*1\r\n$x\r\n"),
]


class TestFraming(ConformanceCase):
    def raw_pair(self):
        return self.pair(2)

    def test_malformed_requests(self):
        for name, frame in MALFORMED:
            with self.subTest(frame=name):
                ours, redis = self.raw_pair()
                ours.send(frame)
                redis.send(frame)
                # Everything each sends until it closes (a timeout fails).
                a, b = ours.read_to_eof(), redis.read_to_eof()
                self.assertEqual(a, b)
                self.assertIn(b"-ERR Protocol error: ", a)

    def test_empty_request_has_no_reply(self):
        ours, redis = self.raw_pair()
        for c in (ours, redis):
            c.send(b"*0\r\n" + PING)
        exact(self, ours.read_reply(), redis.read_reply(), 2)
        self.assertEqual(ours.call("ECHO", "next")[0], b"$4\r\nnext\r\n")

    def test_quit(self):
        ours, redis = self.raw_pair()
        for c in (ours, redis):
            c.send(b"*1\r\n$4\r\nQUIT\r\n" + PING)
        self.assertEqual(ours.read_to_eof(), b"+OK\r\n")
        self.assertEqual(redis.read_to_eof(), b"+OK\r\n")

    # The framing differences that are ours by design (the brief): ours is
    # asserted exactly, and that Redis does otherwise.

    def test_bulk_not_ended_by_crlf(self):
        """Redis skips the two bytes after a bulk without looking at them
        (PINGxx is PING); ours refuses a bulk not ended by CRLF."""
        ours, redis = self.raw_pair()
        frame = b"*1\r\n$4\r\nPINGxx" + PING
        ours.send(frame)
        redis.send(frame)
        self.assertEqual(ours.read_to_eof(),
                         b"-ERR Protocol error: bulk string not ended by CRLF\r\n")
        self.assertEqual(redis.read_reply()[0], b"+PONG\r\n")
        self.assertEqual(redis.read_reply()[0], b"+PONG\r\n")

    def test_negative_count(self):
        """Redis takes a count <= 0 as an empty request; ours refuses a
        negative one (*0 is empty on both, above)."""
        for count in (b"-1", b"-5"):
            with self.subTest(count=count):
                ours, redis = self.raw_pair()
                frame = b"*" + count + b"\r\n" + PING
                ours.send(frame)
                redis.send(frame)
                self.assertEqual(ours.read_to_eof(),
                                 b"-ERR Protocol error: invalid multibulk length\r\n")
                self.assertEqual(redis.read_reply()[0], b"+PONG\r\n")

    def test_request_longer_than_max_line(self):
        """A request over --max-line + 2 bytes: ours refuses it; Redis has no
        such bound (MGET of two missing keys)."""
        small = self.new_daemon(args=("--max-line", str(LINE_MIN))).start()
        key = "k" * (LINE_MIN // 2 + 16)
        frame = b"*3\r\n$4\r\nMGET\r\n" + (b"$%d\r\n%s\r\n" % (len(key), key.encode())) * 2
        ours, redis = Conn(small.port, TIMEOUT), Conn(self.redis.port, TIMEOUT)
        self.addCleanup(ours.close)
        self.addCleanup(redis.close)
        ours.send(frame)
        redis.send(frame)
        self.assertEqual(ours.read_to_eof(),
                         b"-ERR Protocol error: request longer than --max-line\r\n")
        self.assertEqual(redis.read_reply()[0], b"*2\r\n$-1\r\n$-1\r\n")


if __name__ == "__main__":
    unittest.main()
