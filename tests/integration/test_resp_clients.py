"""RESP compatibility with real clients nobody here wrote, each against the
real daemon on its own port:

  TestRedisCli        redis-cli one-shot commands (formatted replies: types,
                      nil, errors, the checkpoint commands), --scan --pattern,
                      --latency, and -3 (HELLO 3: nil and map replies)
  TestRedisCliPipe    redis-cli --pipe mass insertion of 100,000 commands:
                      no error, every reply, then DBSIZE and the values
  TestRedisBenchmark  redis-benchmark -t set,get,incr -P 16 -c 50: no error,
                      and INCR's counter holds exactly -n afterwards
  TestRedisPy         redis-py (Debian's python3-redis): strings, expiry,
                      SCAN, binary-safe keys and values, the checkpoint
                      commands and CONFLICT, pipelines, MULTI/EXEC and WATCH
                      with redis-py's retrying transaction()
  TestNodeClients     tests/node/clients.js: ioredis 5, ioredis 6 (RESP3 by
                      HELLO 3, and RESP2), node-redis 4 and 5 (RESP2, RESP3)

Each class starts one daemon (setUpClass) on an ephemeral port with a temp
data dir; tearDownClass checks that it still runs and exits 0 on SIGTERM.
Tests in a class share the daemon, so each uses keys of its own prefix.

The tools come from scripts/deps.sh (SS_TEST_PACKAGES: redis-tools,
python3-redis, nodejs; ss_node_deps: npm ci in tests/node). A missing tool
fails its class, saying what to install; only a missing `node` skips.
"""
import subprocess
import unittest

from sstools import debian, harness, node

redis = debian.import_module("redis")
need = debian.need


class ServerCase(unittest.TestCase):
    """One daemon for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = harness.Daemon().start()

    @classmethod
    def tearDownClass(cls):
        harness.stop_shared(cls.daemon)


def resp_command(*args):
    """One request as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RedisCliCase(ServerCase):
    @classmethod
    def setUpClass(cls):
        cls.redis_cli = need("redis-cli", "redis-tools")
        super().setUpClass()

    def cli(self, *args, stdin=None, timeout=60):
        """redis-cli against the daemon; stdout as text. Its stdout is not a
        terminal, so replies are raw unless --no-raw asks for the
        formatted ones ((integer) 1, (nil), (error) ...)."""
        r = subprocess.run([self.redis_cli, "-p", str(self.daemon.port)] + [str(a) for a in args],
                           input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    def formatted(self, *args):
        code, out, err = self.cli("--no-raw", *args)
        self.assertEqual((code, err), (0, ""), args)
        return out


class TestRedisCli(RedisCliCase):
    def test_one_shot_strings_with_their_reply_types(self):
        self.assertEqual(self.formatted("SET", "cli:s", "hello world"), "OK\n")
        self.assertEqual(self.formatted("GET", "cli:s"), '"hello world"\n')
        self.assertEqual(self.formatted("INCR", "cli:n"), "(integer) 1\n")
        self.assertEqual(self.formatted("INCR", "cli:n"), "(integer) 2\n")
        self.assertEqual(self.formatted("DEL", "cli:s", "cli:n", "cli:never"), "(integer) 2\n")
        self.assertEqual(self.formatted("GET", "cli:s"), "(nil)\n")
        # Raw (the default off a terminal): the bare value; nil is an empty line.
        self.assertEqual(self.cli("SET", "cli:raw", "v"), (0, "OK\n", ""))
        self.assertEqual(self.cli("GET", "cli:raw"), (0, "v\n", ""))
        self.assertEqual(self.cli("GET", "cli:missing"), (0, "\n", ""))

    def test_one_shot_checkpoint_commands_and_conflict(self):
        out = self.formatted("CAS_CHECKPOINT", "cli:cp", "0", "v1")
        self.assertRegex(out, r"^\(integer\) [1-9][0-9]*\n$")
        rev = int(out.split()[1])
        self.assertEqual(self.formatted("CAS_CHECKPOINT", "cli:cp", "0", "v2"),
                         "(error) CONFLICT %d\n" % rev)
        self.assertEqual(self.formatted("GETREV_CHECKPOINT", "cli:cp"),
                         '1) (integer) %d\n2) "v1"\n' % rev)
        self.assertEqual(self.formatted("GETREV_CHECKPOINT", "cli:cp-missing"), "(nil)\n")
        self.assertEqual(self.formatted("GET_CHECKPOINT", "cli:cp"), '"v1"\n')

    def test_one_shot_error_replies(self):
        self.assertEqual(self.formatted("GET"),
                         "(error) ERR wrong number of arguments for 'get' command\n")
        self.assertEqual(self.formatted("NOSUCHCMD", "a", "b"),
                         "(error) ERR unknown command 'NOSUCHCMD', with args beginning with: "
                         "'a' 'b' \n")

    def test_scan_pattern_returns_exactly_the_matching_keys(self):
        want = ["user:%d" % i for i in range(150)] + ["user:"]
        others = ["user", "users:1", "xuser:1", "User:1", "usr:1"]
        args = ["MSET"]
        for k in want + others:
            args += [k, "v"]
        self.assertEqual(self.cli(*args), (0, "OK\n", ""))
        # More keys than one SCAN call returns (COUNT 10 by default), so
        # redis-cli follows the cursor through several calls to 0.
        code, out, err = self.cli("--scan", "--pattern", "user:*")
        self.assertEqual((code, err), (0, ""))
        got = out.splitlines()
        self.assertEqual(len(got), len(set(got)), "a key came twice: %r" % got)
        self.assertEqual(sorted(got), sorted(want))

    def test_latency_samples_pings_and_reports_them(self):
        # Off a terminal --latency samples for one interval (-i) and prints
        # "min max avg samples" once, then exits.
        code, out, err = self.cli("--latency", "-i", "0.5", timeout=30)
        self.assertEqual((code, err), (0, ""))
        fields = out.split()
        self.assertEqual(len(fields), 4, out)
        lo, hi, avg, samples = float(fields[0]), float(fields[1]), float(fields[2]), int(fields[3])
        self.assertGreater(samples, 0)
        self.assertTrue(0 <= lo <= avg <= hi, out)

    def test_resp3_nil_and_map_replies(self):
        # -3 makes redis-cli say HELLO 3 first; the replies are then RESP3's.
        self.assertEqual(self.formatted("-3", "GET", "cli:resp3-missing"), "(nil)\n")
        self.assertEqual(self.formatted("-3", "CONFIG", "GET", "appendonly"),
                         '1# "appendonly" => "yes"\n')
        self.assertEqual(self.formatted("CONFIG", "GET", "appendonly"),
                         '1) "appendonly"\n2) "yes"\n')
        hello = self.formatted("-3", "HELLO", "3").splitlines()
        self.assertEqual(hello[:3], ['1# "server" => "redis"', '2# "version" => "7.2.0"',
                                     '3# "proto" => (integer) 3'])
        self.assertIn('5# "mode" => "standalone"', hello)
        self.assertIn('6# "role" => "master"', hello)
        self.assertEqual(self.formatted("-3", "SET", "cli:resp3", "x"), "OK\n")
        self.assertEqual(self.formatted("-3", "GET", "cli:resp3"), '"x"\n')


class TestRedisCliPipe(RedisCliCase):
    COMMANDS = 100000
    COUNTERS = 100
    INCRS = 100  # per counter

    def test_pipe_mass_insertion_of_100000_commands(self):
        sets = self.COMMANDS - self.COUNTERS * self.INCRS
        stream = [resp_command("SET", "pipe:%d" % i, "value-%d" % i) for i in range(sets)]
        # INCRs interleaved with the SETs' tail: each counter must end at
        # exactly INCRS, which only in-order execution of every one gives.
        for n in range(self.INCRS):
            for c in range(self.COUNTERS):
                stream.append(resp_command("INCR", "pipe:ctr:%d" % c))
        self.assertEqual(len(stream), self.COMMANDS)
        code, out, err = self.cli("--pipe", stdin=b"".join(stream), timeout=120)
        self.assertEqual(code, 0, out + err)
        self.assertIn("errors: 0, replies: %d" % self.COMMANDS, out)
        self.assertEqual(self.cli("DBSIZE"), (0, "%d\n" % (sets + self.COUNTERS), ""))
        sample = list(range(0, sets, 997)) + [sets - 1]
        code, out, err = self.cli("MGET", *["pipe:%d" % i for i in sample])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out.splitlines(), ["value-%d" % i for i in sample])
        code, out, err = self.cli("MGET", *["pipe:ctr:%d" % c for c in range(self.COUNTERS)])
        self.assertEqual(out.splitlines(), [str(self.INCRS)] * self.COUNTERS)


class TestRedisBenchmark(ServerCase):
    N = 100000

    @classmethod
    def setUpClass(cls):
        cls.bench = need("redis-benchmark", "redis-tools")
        cls.redis_cli = need("redis-cli", "redis-tools")
        super().setUpClass()

    def test_set_get_incr_pipelined_with_no_error(self):
        # Without -r the keys are fixed: key:__rand_int__ for SET/GET and
        # counter:__rand_int__ for INCR. redis-benchmark exits 1 at the
        # first error reply ("Error from server: ...").
        r = subprocess.run([self.bench, "-p", str(self.daemon.port), "-t", "set,get,incr",
                            "-n", str(self.N), "-c", "50", "-P", "16", "--csv"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("Error", r.stdout + r.stderr)
        # Its first requests are CONFIG GET save / appendonly; a failure
        # there is a warning.
        self.assertNotIn("WARNING", r.stdout + r.stderr)
        rows = [line.split(",") for line in r.stdout.splitlines()]
        self.assertEqual(rows[0][:2], ['"test"', '"rps"'])
        self.assertEqual([row[0] for row in rows[1:]], ['"SET"', '"GET"', '"INCR"'])
        for row in rows[1:]:
            self.assertGreater(float(row[1].strip('"')), 0, row)

        def cli(*args):
            out = subprocess.run([self.redis_cli, "-p", str(self.daemon.port)] + list(args),
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual((out.returncode, out.stderr), (0, ""))
            return out.stdout

        self.assertEqual(cli("GET", "counter:__rand_int__"), "%d\n" % self.N)
        # SET's value: -d's default, 3 bytes.
        self.assertEqual(len(cli("GET", "key:__rand_int__").rstrip("\n")), 3)
        self.assertEqual(cli("DBSIZE"), "2\n")


class TestRedisPy(ServerCase):
    @classmethod
    def setUpClass(cls):
        if redis is None:
            raise RuntimeError("redis-py not importable: install Debian's python3-redis "
                               "(scripts/deps.sh, SS_TEST_PACKAGES)")
        super().setUpClass()
        cls.r = redis.Redis(port=cls.daemon.port, socket_timeout=30)
        cls.other = redis.Redis(port=cls.daemon.port, socket_timeout=30)

    @classmethod
    def tearDownClass(cls):
        for c in (cls.r, cls.other):
            c.close()
        super().tearDownClass()

    def test_set_nx_ex_get_ttl(self):
        r = self.r
        self.assertIs(r.set("py:nx", "first", nx=True, ex=100), True)
        self.assertIsNone(r.set("py:nx", "second", nx=True, ex=100))
        self.assertEqual(r.get("py:nx"), b"first")
        self.assertTrue(0 < r.ttl("py:nx") <= 100)
        self.assertIs(r.set("py:nx", "third", xx=True), True)
        self.assertEqual(r.get("py:nx"), b"third")
        self.assertEqual(r.ttl("py:nx"), -1)  # a SET without KEEPTTL drops it
        self.assertEqual(r.ttl("py:missing"), -2)
        self.assertIsNone(r.get("py:missing"))

    def test_mset_mget_exists(self):
        r = self.r
        self.assertIs(r.mset({"py:m1": "a", "py:m2": b"b"}), True)
        self.assertEqual(r.mget(["py:m1", "py:m2", "py:m3"]), [b"a", b"b", None])
        self.assertEqual(r.exists("py:m1", "py:m2", "py:m3"), 2)

    def test_expire_ttl_persist(self):
        r = self.r
        r.set("py:exp", "v")
        self.assertEqual(r.ttl("py:exp"), -1)
        self.assertIs(r.expire("py:exp", 50), True)
        self.assertTrue(0 < r.ttl("py:exp") <= 50)
        self.assertIs(r.persist("py:exp"), True)
        self.assertEqual(r.ttl("py:exp"), -1)
        self.assertIs(r.expire("py:exp-missing", 50), False)

    def test_incr_getdel(self):
        r = self.r
        self.assertEqual(r.incr("py:ctr"), 1)
        self.assertEqual(r.incr("py:ctr", 41), 42)
        self.assertEqual(r.decr("py:ctr"), 41)
        self.assertEqual(r.getdel("py:ctr"), b"41")
        self.assertIsNone(r.get("py:ctr"))
        self.assertIsNone(r.getdel("py:ctr"))

    def test_scan_iter_match(self):
        want = {("py:scan:%d" % i).encode() for i in range(60)}
        self.r.mset({k: "x" for k in want})
        self.r.mset({"py:scanx:1": "x", "py:sca:1": "x"})
        got = list(self.r.scan_iter(match="py:scan:*", count=7))
        self.assertEqual(len(got), len(set(got)))
        self.assertEqual(set(got), want)

    def test_binary_safe_keys_and_values(self):
        r = self.r
        key = b"py:bin\x00\r\n key \xff"
        value = b"\x00\r\n$3\r\n*1\r\n \xff\xfe value\r\n"
        self.assertIs(r.set(key, value), True)
        self.assertEqual(r.get(key), value)
        self.assertEqual(r.mget([key, b"py:bin\x00"]), [value, None])
        rev, got = r.execute_command("GETREV_CHECKPOINT", key)
        self.assertEqual(got, value)
        self.assertIsInstance(rev, int)
        self.assertEqual(r.getdel(key), value)
        self.assertEqual(r.exists(key), 0)

    def test_checkpoint_commands(self):
        r = self.r
        self.assertIsNone(r.execute_command("GETREV_CHECKPOINT", "py:cp"))
        rev1 = r.execute_command("CAS_CHECKPOINT", "py:cp", 0, "v1")
        self.assertIsInstance(rev1, int)
        with self.assertRaises(redis.ResponseError) as ctx:
            r.execute_command("CAS_CHECKPOINT", "py:cp", 0, "v2")
        self.assertEqual(str(ctx.exception), "CONFLICT %d" % rev1)
        self.assertEqual(r.execute_command("GETREV_CHECKPOINT", "py:cp"), [rev1, b"v1"])
        rev2 = r.execute_command("CAS_CHECKPOINT", "py:cp", rev1, "v2")
        self.assertGreater(rev2, rev1)
        with self.assertRaises(redis.ResponseError) as ctx:
            r.execute_command("CAS_CHECKPOINT", "py:cp", rev1, "v3")
        self.assertTrue(str(ctx.exception).startswith("CONFLICT"), str(ctx.exception))
        hist = r.execute_command("HISTORY_CHECKPOINT", "py:cp")
        self.assertEqual([(h[0], h[2]) for h in hist], [(rev2, b"v2"), (rev1, b"v1")])
        self.assertTrue(all(isinstance(h[1], int) and h[1] > 0 for h in hist))
        # LIST_CHECKPOINTS: follow the cursor to 0; PREFIX keeps other
        # tests' keys out.
        rows, cursor = [], b"0"
        for _ in range(10000):
            cursor, page = r.execute_command("LIST_CHECKPOINTS", cursor, "PREFIX", "py:cp", "COUNT", 3)
            rows.extend(page)
            if cursor == b"0":
                break
        self.assertEqual(cursor, b"0")
        self.assertEqual(len(rows), 1, rows)
        name, rev, ms, value = rows[0]
        self.assertEqual((name, rev, value), (b"py:cp", rev2, b"v2"))
        self.assertEqual(ms, hist[0][1])

    def test_error_replies_raise_response_error(self):
        with self.assertRaises(redis.ResponseError) as ctx:
            self.r.execute_command("NOSUCHCMD", "a")
        self.assertEqual(str(ctx.exception),
                         "unknown command 'NOSUCHCMD', with args beginning with: 'a' ")
        with self.assertRaises(redis.ResponseError) as ctx:
            self.r.execute_command("GET")
        self.assertEqual(str(ctx.exception), "wrong number of arguments for 'get' command")
        self.assertIs(self.r.ping(), True)  # the connection is still usable

    def test_pipeline_without_transaction(self):
        p = self.r.pipeline(transaction=False)
        p.set("py:pl", "1").incr("py:pl").get("py:pl").get("py:pl-missing")
        self.assertEqual(p.execute(), [True, 2, b"2", None])

    # MULTI/EXEC/WATCH: Redis's semantics.

    def test_pipeline_transaction_multi_exec(self):
        p = self.r.pipeline(transaction=True)
        p.set("py:tx", "1").incr("py:tx").incrby("py:tx", 10).get("py:tx")
        self.assertEqual(p.execute(), [True, 2, 12, b"12"])
        self.assertEqual(self.r.get("py:tx"), b"12")

    def test_watch_aborts_exec_when_another_client_writes(self):
        self.r.set("py:w", "before")
        with self.r.pipeline() as p:
            p.watch("py:w")
            self.assertEqual(p.get("py:w"), b"before")  # immediate mode after WATCH
            self.other.set("py:w", "changed")
            p.multi()
            p.set("py:w", "mine")
            with self.assertRaises(redis.WatchError):
                p.execute()
        self.assertEqual(self.r.get("py:w"), b"changed")

    def test_transaction_retries_on_conflict(self):
        r = self.r
        r.set("py:tctr", "10")
        calls = []

        def bump(pipe):
            value = int(pipe.get("py:tctr"))
            calls.append(value)
            if len(calls) == 1:
                self.other.incr("py:tctr")  # the watched key changes under us
            pipe.multi()
            pipe.set("py:tctr", value + 1)

        self.assertEqual(r.transaction(bump, "py:tctr"), [True])
        self.assertEqual(calls, [10, 11])  # the first EXEC was aborted, then retried
        self.assertEqual(r.get("py:tctr"), b"12")


class TestNodeClients(ServerCase):
    """The Node.js clients of tests/node, pinned by its package-lock.json."""

    @classmethod
    def setUpClass(cls):
        cls.node = node.find()
        super().setUpClass()

    def run_clients(self, mode):
        summary = node.run_script(self, self.node, "clients.js", self.daemon.port, mode)
        self.assertEqual(summary["failed"], 0)
        majors = {c["client"]: int(c["version"].split(".")[0]) for c in summary["clients"]}
        self.assertEqual(majors, {"ioredis5": 5, "ioredis6-resp3": 6, "ioredis6-resp3-maps": 6,
                                  "ioredis6-resp2": 6, "node-redis4": 4,
                                  "node-redis5-resp2": 5, "node-redis5-resp3": 5})
        for c in summary["clients"]:
            self.assertGreater(c["checks"], 0, c["client"])
        return summary

    def test_ioredis_and_node_redis_resp2_and_resp3(self):
        self.run_clients("basic")

    def test_ioredis_and_node_redis_transactions(self):
        self.run_clients("tx")


if __name__ == "__main__":
    unittest.main()
