"""Users, roles and namespaces (issue 17), against the real daemon with an
ACL file (src/cmd/acl.c, auth.c, src/server/auth.c):

  TestCommandTable  generated from the daemon's own RESP COMMAND (both
                    tables: Redis's and the text protocol's): every command
                    but AUTH/HELLO/PING/QUIT is NOAUTH before AUTH, in RESP
                    and in the text protocol; every command is NOPERM for a
                    user without a role its flags name; every key position
                    of every command with keys is NOPERM for a name outside
                    the user's namespaces, and not refused for names inside.
                    A new command is exercised without editing this file.
  TestNamespaces    LIST_CHECKPOINTS, SCAN, KEYS and RANDOMKEY show no name
                    outside; MSET/MCAS/DEL with one outside name and MULTI
                    with one outside command fail whole; BACKUP and FLUSHALL
                    need every name (or a prefix inside); exact names vs
                    prefixes
  TestAuth          AUTH in both protocols and HELLO 3 AUTH (a refused one
                    leaves RESP2; RESET forgets the user); WRONGPASS for a
                    wrong password and an unknown user, counted (STATS and
                    /metrics) and logged with the peer, never the password;
                    clients that leave while their AUTH is checked; a
                    remembered password costs no KDF; redis-cli, redis-py
                    and ioredis (tests/node/acl.js)
  TestRequirePass   --requirepass-file with a password in the clear and with
                    a hash from `statestored --hash-password` (which Python's
                    hashlib.scrypt verifies)
  TestReload        SIGHUP: new roles seen by connected clients (an EXEC
                    queued before too); a removed user's and a changed
                    password's connections closed, others kept; a bad or
                    o+w file keeps the old users
  TestStartup       exit 2 with a clear message: a bad ACL file (its line),
                    an o+w file, a missing file, both options; an o+r file
                    warns; protected mode and --insecure-no-auth

The ACL files hold scrypt hashes made here with hashlib.scrypt at a cheap
cost (ln=4), so a password check takes microseconds; only the
--hash-password test pays the default cost. Each class starts its daemons
once (setUpClass); tearDownClass checks that they still run and exit 0 on
SIGTERM.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.request

from sstools import debian, harness, node, resp
from sstools.acl import acl_text, password, scrypt_hash, unb64, write_file
from sstools.client import Client

redis = debian.import_module("redis")
need = debian.need
PROG = harness.binary("statestored")

NOAUTH_RESP = b"-NOAUTH Authentication required.\r\n"
NOAUTH_TEXT = "ERR NOAUTH authentication required: AUTH <user> <password> first"
KEY_RESP = b"-NOPERM No permissions to access a key\r\n"
KEY_TEXT = "ERR NOPERM no permissions to access a name outside your namespaces"
WHOLE_TEXT = "ERR NOPERM this command needs every namespace (or a prefix inside yours)"
WRONGPASS_RESP = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
WRONGPASS_TEXT = "ERR WRONGPASS invalid username-password pair"
EXECABORT_RESP = b"-EXECABORT Transaction discarded because of previous errors.\r\n"


def role_refusal(user, cmd):
    """NOPERM for a missing role: RESP's bytes, the text protocol's line."""
    msg = "NOPERM User %s has no permissions to run the '%s' command" % (user, cmd)
    return ("-%s\r\n" % msg).encode(), "ERR " + msg


def unknown_text(cmd):
    return "ERR unknown command '%s'" % cmd.upper()


# ---------------------------------------------------------------- the table

ROLE_OF_FLAG = {"readonly": "read", "write": "write", "admin": "admin"}
ROLE_OF_CATEGORY = {"@read": "read", "@write": "write", "@admin": "admin"}
# The writes that answer a value need read as well (docs: acl.md);
# COMMAND's flags and categories show only write for them. Checked below:
# each is a write, and a user with write alone is refused it.
READ_TOO = {"getset", "getdel", "getex", "incr", "decr", "incrby", "decrby"}
OPEN = {"auth", "hello", "ping", "quit"}  # the no-auth flag, checked
# Subcommands whose role is not the command's (acl.md).
SUBCOMMAND_ROLES = {("client", "list"): "admin", ("client", "kill"): "admin"}


class Command:
    """One row of COMMAND's reply (Redis 7's fields)."""

    def __init__(self, row):
        self.name = row[0].decode()
        self.arity = row[1]
        self.flags = set(row[2])
        self.first, self.last, self.step = row[3], row[4], row[5]
        self.categories = set(row[6])

    def roles(self):
        need = {ROLE_OF_FLAG[f] for f in self.flags if f in ROLE_OF_FLAG}
        need |= {ROLE_OF_CATEGORY[c] for c in self.categories if c in ROLE_OF_CATEGORY}
        if self.name in READ_TOO:
            need.add("read")
        return need

    def positions(self, argc):
        """The key positions of a request of argc words (the name included)."""
        if self.first <= 0:
            return []
        last = self.last if self.last >= 0 else argc + self.last
        return list(range(self.first, last + 1, self.step))

    def argv(self, names):
        """The shortest request its arity allows (two keys' worth for a
        command of any number of keys), every argument "1" but the key
        positions, which take names[0], names[1], ... (cycled)."""
        n = self.arity - 1 if self.arity > 0 else -self.arity - 1
        if self.first > 0 and self.last < 0:
            n = max(n, self.first - 1 + 2 * self.step)
        argv = [self.name.upper()] + ["1"] * n
        for i, pos in enumerate(self.positions(len(argv))):
            argv[pos] = names[i % len(names)]
        return argv


def pipeline_resp(conn, requests):
    """Sends every request (a list of words each) at once; returns the raw
    bytes of each reply, in order."""
    conn.send(b"".join(resp.encode(*r) for r in requests))
    return [conn.read_reply()[0] for _ in requests]


def pipeline_text(client, requests):
    """The same in the text protocol: one reply line each (every reply
    expected here is one line; a longer one shows as a mismatch)."""
    client.send("".join(" ".join(r) + "\n" for r in requests))
    return [client.readline() for _ in requests]


# ---------------------------------------------------------------- servers

class AclServer(unittest.TestCase):
    """One daemon for the class, started with an ACL file of USERS."""

    USERS = {}
    EXTRA_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ss-acl-")
        cls.acl_file = write_file(os.path.join(cls.tmp, "users.acl"), acl_text(cls.USERS))
        cls.daemon = harness.Daemon(args=["--acl-file", cls.acl_file] + list(cls.EXTRA_ARGS))
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        try:
            harness.stop_shared(cls.daemon)
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()

    def resp_as(self, user=None):
        """A RESP connection, authenticated as user (None: not at all)."""
        c = resp.Conn(self.daemon.port, timeout=30)
        self.conns.append(c)
        if user:
            self.assertEqual(c.call("AUTH", user, self.USERS[user][0])[0], b"+OK\r\n")
        return c

    def text_as(self, user=None):
        c = Client(self.daemon.port, timeout=30)
        self.conns.append(c)
        if user:
            self.assertEqual(c.cmd("AUTH %s %s" % (user, self.USERS[user][0])), "OK")
        return c

    def stats(self):
        """STATS, read as root on a connection of its own (counted in
        clients), numbers as int."""
        with Client(self.daemon.port, timeout=30) as c:
            self.assertEqual(c.cmd("AUTH root %s" % self.USERS["root"][0]), "OK")
            return {k: int(v) if v.lstrip("-").isdigit() else v for k, v in c.stats().items()}


INSIDE = "t/*,solo"  # a prefix and an exact name
USERS = {
    "root": (password("root"), "read,write,admin", "*"),
    "default": (password("default"), "read", "d/*"),
    "noread": (password("noread"), "write,admin", INSIDE),
    "nowrite": (password("nowrite"), "read,admin", INSIDE),
    "noadmin": (password("noadmin"), "read,write", INSIDE),
    "readonly": (password("readonly"), "read", INSIDE),
    "writeonly": (password("writeonly"), "write", INSIDE),
    "adminonly": (password("adminonly"), "admin", INSIDE),
    "ns": (password("ns"), "read,write,admin", INSIDE),
    "empty": (password("empty"), "read,write,admin", "z/*"),
    "fresh": (password("fresh"), "read", "t/*"),
}
# The user with exactly these roles.
EXACTLY = {frozenset(["read"]): "readonly", frozenset(["write"]): "writeonly",
           frozenset(["admin"]): "adminonly", frozenset(["read", "write"]): "noadmin"}
# Names outside INSIDE of every kind: another prefix, the exact name's
# longer and shorter neighbours, the prefix without its slash.
OUTSIDE = ["u/x", "solo2", "sol", "t"]


class TestCommandTable(AclServer):
    USERS = USERS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = resp.Conn(cls.daemon.port, timeout=30)
        try:
            c.call("AUTH", "root", USERS["root"][0])
            cls.count = c.call("COMMAND", "COUNT")[1]
            cls.table = [Command(row) for row in c.call("COMMAND")[1]]
        finally:
            c.close()

    def test_the_table_is_whole_and_its_flags_are_known(self):
        self.assertEqual(len(self.table), self.count)
        names = [c.name for c in self.table]
        self.assertEqual(len(names), len(set(names)))
        # The text protocol's commands are listed too.
        self.assertIn("set_checkpoint", names)
        self.assertIn("list_checkpoints", names)
        for c in self.table:
            # Every command names exactly one of the roles, the
            # connection commands' fast or the no-auth few.
            self.assertEqual(len(c.flags & {"readonly", "write", "admin", "fast", "no-auth"}), 1,
                             (c.name, c.flags))
        self.assertEqual({c.name for c in self.table if "no-auth" in c.flags}, OPEN)
        by_name = {c.name: c for c in self.table}
        for name in READ_TOO:
            self.assertIn("write", by_name[name].flags, name)

    def test_before_auth_every_command_but_four_is_noauth(self):
        root = self.resp_as("root")
        before = root.call("DBSIZE")[1]
        names = ["t/noauth1", "t/noauth2"]
        refused = [c for c in self.table if c.name not in OPEN]
        requests = [c.argv(names) for c in refused]
        requests.append(["NOSUCHCOMMAND", "t/noauth1"])  # unknown: NOAUTH too
        got = pipeline_resp(self.resp_as(), requests)
        self.assertEqual(dict(zip([r[0] for r in requests], got)),
                         {r[0]: NOAUTH_RESP for r in requests})
        # The text protocol: every name, the text commands' and the others'
        # (a command the text protocol lacks is NOAUTH there too).
        got = pipeline_text(self.text_as(), requests)
        self.assertEqual(dict(zip([r[0] for r in requests], got)),
                         {r[0]: NOAUTH_TEXT for r in requests})
        self.assertEqual(len(refused) + len(OPEN), self.count)
        # Nothing ran: no name was written, nothing was flushed.
        self.assertEqual(root.call("DBSIZE")[1], before)
        self.assertEqual(root.call("EXISTS", *names)[1], 0)

        # The four run before AUTH, in both protocols.
        c = self.resp_as()
        self.assertEqual(c.call("PING")[0], b"+PONG\r\n")
        # HELLO runs, but without AUTH it is refused, as Redis refuses it:
        # nothing (a name, the protocol) is set by a stranger.
        raw, hello = c.call("HELLO", "2", "SETNAME", "posing")
        self.assertTrue(raw.startswith(b"-NOAUTH HELLO must be called with the client already "
                                       b"authenticated"), raw)
        self.assertEqual(c.call("AUTH", "root", "not-the-password")[0], WRONGPASS_RESP)
        self.assertEqual(c.call("QUIT")[0], b"+OK\r\n")
        self.assertTrue(c.closed_by_peer())
        t = self.text_as()
        self.assertEqual(t.cmd("PING"), "PONG")
        self.assertEqual(t.cmd("AUTH root not-the-password"), WRONGPASS_TEXT)
        self.assertEqual(t.cmd("QUIT"), "OK")
        self.assertTrue(t.at_eof())

    def test_a_user_without_a_role_is_refused_every_command_that_needs_it(self):
        covered = {}
        text_known, text_unknown = set(), set()
        for role, user in (("read", "noread"), ("write", "nowrite"), ("admin", "noadmin")):
            cmds = [c for c in self.table if role in c.roles()]
            requests = [c.argv(["t/r1", "solo"]) for c in cmds]
            want = [role_refusal(user, c.name) for c in cmds]
            got = pipeline_resp(self.resp_as(user), requests)
            self.assertEqual(dict(zip([c.name for c in cmds], got)),
                             {c.name: w[0] for c, w in zip(cmds, want)}, user)
            # The text protocol: NOPERM for its commands; the others are
            # not its commands.
            got = pipeline_text(self.text_as(user), requests)
            for c, w, line in zip(cmds, want, got):
                if line == unknown_text(c.name):
                    text_unknown.add(c.name)
                else:
                    self.assertEqual(line, w[1], (user, c.name))
                    text_known.add(c.name)
            covered[role] = {c.name for c in cmds}
        for role, names in covered.items():
            self.assertTrue(names, role)
        self.assertFalse(text_known & text_unknown)
        self.assertTrue({n for n in covered["read"] | covered["write"] | covered["admin"]
                         if "checkpoint" in n} <= text_known)

        # CLIENT LIST and CLIENT KILL need admin; CLIENT's others do not.
        c = self.resp_as("noadmin")
        for (cmd, sub), role in SUBCOMMAND_ROLES.items():
            self.assertEqual(role, "admin")
            self.assertEqual(c.call(cmd.upper(), sub.upper(), *(["1"] if sub == "kill" else []))[0],
                             role_refusal("noadmin", cmd)[0])
        self.assertEqual(c.call("CLIENT", "SETNAME", "me")[0], b"+OK\r\n")
        self.assertEqual(c.call("CLIENT", "GETNAME")[1], b"me")
        self.assertIn(b"name=me", self.resp_as("nowrite").call("CLIENT", "LIST")[1])

        # A user with exactly the roles the table names for a command is
        # not refused it for a role: the table says all a user needs (a
        # write that also reads is in READ_TOO, and refused to a user
        # with write alone). Run are the commands with keys, which act on
        # the user's names alone, and the reads.
        runnable = [c for c in self.table
                    if c.roles() and (c.first > 0 or c.roles() == {"read"})]
        by_user = {}
        for c in runnable:
            by_user.setdefault(EXACTLY[frozenset(c.roles())], []).append(c)
        self.assertIn("readonly", by_user)
        for user, cmds in by_user.items():
            got = pipeline_resp(self.resp_as(user), [c.argv(["t/w1", "t/w2"]) for c in cmds])
            for c, raw in zip(cmds, got):
                self.assertFalse(raw.startswith(b"-NOPERM User"), (user, c.name, raw))
        rw = [c for c in self.table if c.roles() == {"read", "write"}]
        self.assertEqual({c.name for c in rw}, READ_TOO)
        got = pipeline_resp(self.resp_as("writeonly"), [c.argv(["t/w1"]) for c in rw])
        self.assertEqual(dict(zip([c.name for c in rw], got)),
                         {c.name: role_refusal("writeonly", c.name)[0] for c in rw})

    def test_every_key_position_outside_the_namespaces_is_refused(self):
        keyed = [c for c in self.table if c.first > 0]
        self.assertTrue(keyed)
        requests, where = [], []
        for c in keyed:
            inside = c.argv(["t/k1", "solo", "t/k2"])
            for i, pos in enumerate(c.positions(len(inside))):
                r = list(inside)
                r[pos] = OUTSIDE[(len(requests) + i) % len(OUTSIDE)]
                requests.append(r)
                where.append((c.name, pos))
        self.assertGreater(len(requests), len(keyed))  # the multi-key ones count twice
        got = pipeline_resp(self.resp_as("ns"), requests)
        self.assertEqual(dict(zip(where, got)), {w: KEY_RESP for w in where})
        # The text protocol: its commands refused the same way.
        got = pipeline_text(self.text_as("ns"), requests)
        text_cmds = set()
        for (name, pos), line in zip(where, got):
            if line != unknown_text(name):
                self.assertEqual(line, KEY_TEXT, (name, pos))
                text_cmds.add(name)
        self.assertTrue({c.name for c in keyed if "checkpoint" in c.name} <= text_cmds)

        # Names inside: run, and refused for nothing the ACL decides.
        root = self.resp_as("root")
        self.assertEqual(root.call("MSET", "t/k1", "1", "solo", "1", "t/k2", "1")[0], b"+OK\r\n")
        c = self.resp_as("ns")
        for cmd in keyed:
            raw, _ = c.call(*cmd.argv(["t/k1", "solo", "t/k2"]))
            self.assertFalse(raw.startswith((b"-NOPERM", b"-NOAUTH")), (cmd.name, raw))
        t = self.text_as("ns")
        for cmd in keyed:
            if cmd.name not in text_cmds:
                continue
            t.send(" ".join(cmd.argv(["t/k1", "solo", "t/k2"])) + "\nPING\n")
            lines = []
            while not lines or lines[-1] != "PONG":
                lines.append(t.readline())
            self.assertFalse(any(l.startswith("ERR NOPERM") for l in lines), (cmd.name, lines))
        self.assertEqual(c.call("UNWATCH")[0], b"+OK\r\n")


class TestNamespaces(AclServer):
    USERS = USERS
    IN = ["t/%02d" % i for i in range(30)] + ["solo", "t/"]
    OUT = ["u/%02d" % i for i in range(40)] + ["solo2", "sol", "t", "s/olo", "T/01"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = resp.Conn(cls.daemon.port, timeout=30)
        try:
            c.call("AUTH", "root", USERS["root"][0])
            args = []
            for n in cls.IN + cls.OUT:
                args += [n, "v-" + n]
            assert c.call("MSET", *args)[0] == b"+OK\r\n"
        finally:
            c.close()

    def get(self, name):
        return self.resp_as("root").call("GET", name)[1]

    def test_listings_show_only_names_inside(self):
        want = {n.encode() for n in self.IN}
        c = self.resp_as("ns")
        # SCAN, every cursor to 0.
        seen, cursor = [], b"0"
        for _ in range(1000):
            cursor, page = c.call("SCAN", cursor, "COUNT", "5")[1]
            seen += page
            if cursor == b"0":
                break
        self.assertEqual(cursor, b"0")
        self.assertEqual(set(seen), want)
        seen, cursor = [], b"0"
        while True:  # MATCH of a pattern that outside names match too
            cursor, page = c.call("SCAN", cursor, "MATCH", "*o*", "COUNT", "7")[1]
            seen += page
            if cursor == b"0":
                break
        self.assertEqual(set(seen), {b"solo"})
        self.assertEqual(set(c.call("KEYS", "*")[1]), want)
        self.assertEqual(c.call("KEYS", "u/*")[1], [])
        # LIST_CHECKPOINTS in RESP, and with a PREFIX outside.
        seen, cursor = [], b"0"
        while True:
            cursor, rows = c.call("LIST_CHECKPOINTS", cursor, "COUNT", "4")[1]
            seen += [r[0] for r in rows]
            if cursor == b"0":
                break
        self.assertEqual(set(seen), want)
        self.assertEqual(c.call("LIST_CHECKPOINTS", "0", "PREFIX", "u/", "COUNT", "1000")[1][1], [])
        # RANDOMKEY: 60 draws, each inside (the outside names outnumber
        # the inside ones); a user whose namespace holds nothing gets nil.
        draws = pipeline_resp(c, [["RANDOMKEY"]] * 60)
        self.assertTrue(all(d in {b"$%d\r\n%s\r\n" % (len(n), n) for n in want} for d in draws),
                        draws)
        self.assertEqual(set(pipeline_resp(self.resp_as("empty"), [["RANDOMKEY"]] * 20)),
                         {b"$-1\r\n"})
        self.assertEqual(self.resp_as("empty").call("SCAN", "0", "COUNT", "1000")[1], [b"0", []])
        # LIST_CHECKPOINTS in the text protocol.
        t = self.text_as("ns")
        seen, cursor = [], "0"
        while True:
            t.send("LIST_CHECKPOINTS %s COUNT 3\n" % cursor)
            first = t.readline()
            self.assertTrue(first.startswith("CURSOR "), first)
            cursor = first.split()[1]
            while True:
                line = t.readline()
                if line == "END":
                    break
                seen.append(line.split()[0])
            if cursor == "0":
                break
        self.assertEqual(set(seen), set(self.IN))

    def test_multi_name_writes_with_one_name_outside_fail_whole(self):
        c = self.resp_as("ns")
        before = self.resp_as("root").call("GET", "u/00")[1]
        self.assertEqual(c.call("MSET", "t/m1", "new", "u/00", "new")[0], KEY_RESP)
        self.assertEqual(c.call("MSETNX", "t/m1", "new", "solo2", "new")[0], KEY_RESP)
        self.assertEqual(c.call("DEL", "t/00", "solo", "sol")[0], KEY_RESP)
        self.assertEqual(c.call("MSET_CHECKPOINT", "t/m1", "new", "t", "new")[0], KEY_RESP)
        rev = self.resp_as("root").call("GETREV_CHECKPOINT", "u/01")[1][0]
        self.assertEqual(c.call("MCAS_CHECKPOINT", "t/m1", "0", "new", "u/01", str(rev),
                                "new")[0], KEY_RESP)
        t = self.text_as("ns")
        self.assertEqual(t.cmd("MSET_CHECKPOINT t/m1 new u/00 new"), KEY_TEXT)
        self.assertEqual(t.cmd("MCAS_CHECKPOINT t/m1 0 new u/01 %d new" % rev), KEY_TEXT)
        self.assertEqual(t.cmd("DEL_CHECKPOINT sol"), KEY_TEXT)
        # Nothing changed: not the name inside, not the ones outside.
        self.assertIsNone(self.get("t/m1"))
        self.assertEqual(self.get("t/00"), b"v-t/00")
        self.assertEqual(self.get("solo"), b"v-solo")
        self.assertEqual(self.get("u/00"), before)
        self.assertEqual(self.resp_as("root").call("GETREV_CHECKPOINT", "u/01")[1][0], rev)
        # MULTI with one command outside: EXECABORT, nothing applied.
        got = pipeline_resp(c, [["MULTI"], ["SET", "t/q", "1"], ["SET", "u/q", "1"],
                                ["INCR", "t/q2"], ["EXEC"]])
        self.assertEqual(got, [b"+OK\r\n", b"+QUEUED\r\n", KEY_RESP, b"+QUEUED\r\n",
                               EXECABORT_RESP])
        root = self.resp_as("root")
        self.assertEqual(root.call("EXISTS", "t/q", "u/q", "t/q2")[1], 0)
        # The same names inside: applied.
        self.assertEqual(c.call("MSET", "t/m1", "new", "solo", "new")[0], b"+OK\r\n")
        self.assertEqual(root.call("MGET", "t/m1", "solo")[1], [b"new", b"new"])
        self.assertEqual(root.call("SET", "solo", "v-solo")[0], b"+OK\r\n")

    def test_backup_and_flushall_need_every_name(self):
        c, t = self.resp_as("ns"), self.text_as("ns")
        root = self.resp_as("root")
        before = root.call("DBSIZE")[1]
        dirs = [os.path.join(self.tmp, "backup-%d" % i) for i in range(7)]
        self.assertEqual(c.call("BACKUP", dirs[0])[0], KEY_RESP)
        self.assertEqual(t.cmd("BACKUP %s" % dirs[1]), WHOLE_TEXT)
        # A prefix is inside only if every name it covers is.
        self.assertEqual(c.call("BACKUP", dirs[2], "u/")[0], KEY_RESP)
        self.assertEqual(c.call("BACKUP", dirs[2], "t")[0], KEY_RESP)  # "t" covers "tx" too
        # An exact name is no prefix.
        self.assertEqual(c.call("BACKUP", dirs[2], "solo")[0], KEY_RESP)
        self.assertEqual(t.cmd("BACKUP %s u/" % dirs[3]), WHOLE_TEXT)
        self.assertEqual(c.call("FLUSHALL")[0], KEY_RESP)
        self.assertEqual(c.call("FLUSHDB", "ASYNC")[0], KEY_RESP)
        for d in dirs[:4]:
            self.assertFalse(os.path.exists(d), d)
        self.assertEqual(root.call("DBSIZE")[1], before)
        # A prefix inside: done.
        raw, rev = c.call("BACKUP", dirs[4], "t/")
        self.assertIsInstance(rev, int, raw)
        self.assertRegex(t.cmd("BACKUP %s t/0" % dirs[5]), r"^OK \d+$")
        self.assertTrue(os.path.isdir(dirs[4]) and os.path.isdir(dirs[5]))
        # root (every name) may back up everything.
        self.assertRegex(self.text_as("root").cmd("BACKUP %s" % dirs[6]), r"^OK \d+$")

    def test_exact_names_and_prefixes(self):
        c = self.resp_as("ns")
        for name in ("solo", "t/", "t/00", "t/new/deeper"):
            self.assertFalse(c.call("GET", name)[0].startswith(b"-NOPERM"), name)
        for name in ("solo2", "sol", "Solo", "t", "T/00", "u/00", "solo/x"):
            self.assertEqual(c.call("GET", name)[0], KEY_RESP, name)
        t = self.text_as("ns")
        self.assertEqual(t.cmd("GET_CHECKPOINT solo"), "v-solo")
        self.assertEqual(t.cmd("GET_CHECKPOINT solo2"), KEY_TEXT)
        self.assertEqual(t.cmd("GET_CHECKPOINT t/05"), "v-t/05")
        self.assertEqual(t.cmd("GET_CHECKPOINT t"), KEY_TEXT)


class TestAuth(AclServer):
    USERS = USERS
    EXTRA_ARGS = ("--metrics", "127.0.0.1:0")

    def metric(self, name):
        m = self.daemon.wait_log(r"metrics over HTTP at \S+, port (\d+)", timeout=10)
        with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % m.group(1).decode(),
                                    timeout=30) as r:
            text = r.read().decode()
        found = re.search(r"(?m)^%s (\d+)$" % name, text)
        self.assertTrue(found, "%s not in /metrics" % name)
        return int(found.group(1))

    def auth_log(self, user, sock, start):
        port = sock.getsockname()[1]
        return self.daemon.wait_log(r"authentication failed for user '%s' from 127\.0\.0\.1:%d$"
                                    % (re.escape(user), port), timeout=10, start=start)

    def test_auth_in_both_protocols_and_hello(self):
        t = self.text_as()
        self.assertEqual(t.cmd("GET_CHECKPOINT d/x"), NOAUTH_TEXT)
        self.assertEqual(t.cmd("AUTH %s" % USERS["default"][0]), "OK")  # the user default
        self.assertEqual(t.cmd("GET_CHECKPOINT d/x"), "NULL")
        self.assertEqual(t.cmd("GET_CHECKPOINT t/x"), KEY_TEXT)  # default's namespace: d/*
        self.assertEqual(t.cmd("SET_CHECKPOINT d/x 1"),
                         role_refusal("default", "set_checkpoint")[1])
        # Another user, on the same connection.
        self.assertEqual(t.cmd("AUTH ns %s" % USERS["ns"][0]), "OK")
        self.assertEqual(t.cmd("SET_CHECKPOINT t/auth 1"), "OK")

        c = self.resp_as()
        self.assertEqual(c.call("AUTH", USERS["default"][0])[0], b"+OK\r\n")
        self.assertEqual(c.call("GET", "d/x")[0], b"$-1\r\n")
        self.assertEqual(c.call("AUTH", "ns", USERS["ns"][0])[0], b"+OK\r\n")
        self.assertEqual(c.call("GET", "t/auth")[1], b"1")

        h = self.resp_as()
        _, hello = h.call("HELLO", "3", "AUTH", "ns", USERS["ns"][0], "SETNAME", "acl-test")
        self.assertEqual((hello[b"proto"], hello[b"server"]), (3, b"redis"))
        self.assertEqual(h.call("CLIENT", "GETNAME")[1], b"acl-test")
        self.assertEqual(h.call("GET", "t/auth")[1], b"1")
        h2 = self.resp_as()
        self.assertEqual(h2.call("HELLO", "3", "AUTH", "ns", "wrong-" + USERS["ns"][0])[0],
                         WRONGPASS_RESP)
        self.assertEqual(h2.call("GET", "t/auth")[0], NOAUTH_RESP)
        # A refused HELLO changes nothing: still RESP2 (an array, not a map)
        # once authenticated.
        self.assertEqual(h2.call("AUTH", "ns", USERS["ns"][0])[0], b"+OK\r\n")
        self.assertIsInstance(h2.call("HELLO")[1], list)
        # RESET forgets the user, as Redis's does when default needs a password.
        self.assertEqual(h.call("RESET")[0], b"+RESET\r\n")
        self.assertEqual(h.call("GET", "t/auth")[0], NOAUTH_RESP)

    def test_wrong_passwords_are_refused_counted_and_logged_without_the_password(self):
        wrong = "Wr0ng-%s" % os.urandom(6).hex()
        start = len(self.daemon.stderr_lines)
        before = self.stats()
        t, c = self.text_as(), self.resp_as()
        self.assertEqual(t.cmd("AUTH ns %s" % wrong), WRONGPASS_TEXT)
        self.assertEqual(t.cmd("GET_CHECKPOINT t/x"), NOAUTH_TEXT)  # still nobody
        self.assertEqual(c.call("AUTH", "ns", wrong)[0], WRONGPASS_RESP)
        self.assertEqual(c.call("GET", "t/x")[0], NOAUTH_RESP)
        self.assertTrue(self.auth_log("ns", t.sock, start))
        self.assertTrue(self.auth_log("ns", c.sock, start))
        # An unknown user: the same answer, counted and logged, but no KDF
        # is spent on it (the answer waits as long as a check would).
        self.assertEqual(c.call("AUTH", "nobody-here", wrong)[0], WRONGPASS_RESP)
        self.assertTrue(self.auth_log("nobody-here", c.sock, start))
        # Credentials no user can have (a name past 64 bytes): the same.
        self.assertEqual(c.call("AUTH", "n" * 65, wrong)[0], WRONGPASS_RESP)
        after = self.stats()
        self.assertEqual(after["auth_failures"] - before["auth_failures"], 4)
        self.assertEqual(after["auth_checks"] - before["auth_checks"], 2)
        # WRONGPASS is a failure, not a denial: only the two NOAUTHs.
        self.assertEqual(after["auth_denied"] - before["auth_denied"], 2)
        # A user name with control bytes is logged as printable bytes, on
        # one line.
        self.assertEqual(c.call("AUTH", "ev\nil\x1b[2J", wrong)[0], WRONGPASS_RESP)
        self.assertTrue(self.auth_log("ev?il?[2J", c.sock, start))
        # A refused AUTH after a good one keeps the connection's user.
        self.assertEqual(t.cmd("AUTH ns %s" % USERS["ns"][0]), "OK")
        self.assertEqual(t.cmd("AUTH ns %s" % wrong), WRONGPASS_TEXT)
        self.assertEqual(t.cmd("GET_CHECKPOINT t/x"), "NULL")
        # /metrics counts them as STATS does.
        self.assertEqual(self.metric("statestored_auth_failures_total"),
                         self.stats()["auth_failures"])
        log = b"".join(self.daemon.stderr_lines)
        for secret in [wrong] + [pw for pw, _, _ in USERS.values()]:
            self.assertNotIn(secret.encode(), log)

    def test_clients_gone_while_their_password_is_checked_do_no_harm(self):
        # A wrong password is answered after the KDF and a delay: clients
        # that close (FIN or RST) before then must leave no session behind
        # for the answer to reach (ASan: no use after free), and pipelined
        # requests behind an AUTH wait for its answer.
        base = self.stats()
        for i in range(30):
            c = Client(self.daemon.port, timeout=30)
            c.send("AUTH ns wrong-%d\nGET_CHECKPOINT t/x\n" % i if i % 3 else
                   resp.encode("AUTH", "ns", "wrong-%d" % i))
            c.reset() if i % 2 else c.close()
        t = self.text_as()
        t.send("AUTH ns wrong\nGET_CHECKPOINT t/x\nAUTH ns %s\nGET_CHECKPOINT t/x\n"
               % USERS["ns"][0])
        self.assertEqual(t.readlines(4), [WRONGPASS_TEXT, NOAUTH_TEXT, "OK", "NULL"])
        self.assertTrue(harness.wait_until(
            lambda: self.stats()["clients"] == base["clients"] + 1, timeout=30))

    def test_set_with_get_needs_read_too(self):
        """SET's GET option answers the old value, as GETSET does: a
        write-only user must not read through it."""
        w = self.resp_as("writeonly")
        self.assertEqual(w.call("SET", "t/sg", "v1")[0], b"+OK\r\n")
        self.assertEqual(w.call("SET", "t/sg", "v2", "GET")[0], role_refusal("writeonly", "set")[0])
        self.assertEqual(w.call("SET", "t/sg", "GET")[0], b"+OK\r\n")  # GET as the value
        self.assertEqual(self.resp_as("noadmin").call("SET", "t/sg", "v3", "GET")[1], b"GET")

    def test_a_long_request_before_auth_is_refused(self):
        """Before AUTH a request may be 16 KiB at most: a stranger cannot
        make the daemon buffer megabytes."""
        c = self.resp_as()
        raw, _ = c.call("PING", "x" * 20000)
        # A bulk declared longer than the bound is refused at its header.
        self.assertTrue(raw.startswith(b"-ERR Protocol error: invalid bulk length"), raw)
        self.assertTrue(c.closed_by_peer())
        ok = self.resp_as("root")
        self.assertEqual(ok.call("PING", "x" * 20000)[1], b"x" * 20000)

    def test_client_kill_rerun_inside_a_walk_of_the_clients(self):
        """CLIENT KILL waits behind a COMPACT, so it reruns from the loop
        that answers the COMPACTs: the client it closes must not be freed
        under that loop (it was, and the daemon died)."""
        victim = self.resp_as("root")
        vid = victim.call("CLIENT", "ID")[1]
        killer = self.resp_as("root")
        got = pipeline_resp(killer, [["COMPACT"], ["CLIENT", "KILL", "ID", str(vid)]])
        self.assertEqual(got, [b"+OK\r\n", b":1\r\n"])
        self.assertTrue(victim.closed_by_peer())
        self.assertEqual(killer.call("PING")[0], b"+PONG\r\n")
        # And behind a write in the same batch.
        victim = self.resp_as("root")
        vid = victim.call("CLIENT", "ID")[1]
        victim.sock.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nt/v\r\n$1\r\n1\r\n")
        got = pipeline_resp(killer, [["SET", "t/k", "1"], ["CLIENT", "KILL", "ID", str(vid)]])
        self.assertEqual(got[0], b"+OK\r\n")
        self.assertIn(got[1], (b":1\r\n", b":0\r\n"))
        self.assertTrue(self.daemon.running())
        self.assertEqual(killer.call("CLIENT", "KILL", "USER", "nobody")[0], b":0\r\n")
        self.assertTrue(killer.call("CLIENT", "KILL", "SKIPME", "yes")[0].startswith(b"-ERR syntax"))

    def test_a_remembered_password_costs_no_kdf(self):
        before = self.stats()["auth_checks"]
        self.text_as("fresh")  # never checked before: one KDF run
        first = self.stats()["auth_checks"]
        self.assertEqual(first, before + 1)
        for _ in range(3):  # the same password again, new connections
            self.text_as("fresh")
            self.resp_as("fresh")
        self.assertEqual(self.stats()["auth_checks"], first)

    def test_redis_cli_authenticates_and_is_refused_correctly(self):
        cli = need("redis-cli", "redis-tools")

        def run(*args):
            r = subprocess.run([cli, "-p", str(self.daemon.port), "--no-auth-warning"] + list(args),
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            return r.returncode, r.stdout, r.stderr

        user = ["--user", "ns", "--pass", USERS["ns"][0]]
        self.assertEqual(run(*user, "SET", "t/cli", "v"), (0, "OK\n", ""))
        self.assertEqual(run(*user, "GET", "t/cli"), (0, "v\n", ""))
        self.assertEqual(run(*user, "GET", "u/cli"),
                         (0, "NOPERM No permissions to access a key\n\n", ""))
        self.assertEqual(run("-a", USERS["default"][0], "GET", "d/cli"), (0, "\n", ""))
        code, out, err = run("--user", "ns", "--pass", "wrong", "GET", "t/cli")
        self.assertEqual(err, "AUTH failed: WRONGPASS invalid username-password pair or user "
                              "is disabled.\n")
        self.assertEqual(out, "NOAUTH Authentication required.\n\n")
        self.assertEqual(run("GET", "t/cli")[1], "NOAUTH Authentication required.\n\n")

    def test_redis_py_authenticates_and_is_refused_correctly(self):
        if redis is None:
            raise RuntimeError("redis-py not importable: install Debian's python3-redis "
                               "(scripts/deps.sh, SS_TEST_PACKAGES)")
        r = redis.Redis(port=self.daemon.port, username="ns", password=USERS["ns"][0],
                        socket_timeout=30)
        self.addCleanup(r.close)
        self.assertIs(r.set("t/py", "v"), True)
        self.assertEqual(r.get("t/py"), b"v")
        with self.assertRaises(redis.exceptions.NoPermissionError) as ctx:
            r.get("u/py")
        self.assertEqual(str(ctx.exception), "No permissions to access a key")
        with self.assertRaises(redis.exceptions.NoPermissionError):
            r.mset({"t/py": "v", "solo2": "v"})
        self.assertEqual(set(r.scan_iter(match="*py*")), {b"t/py"})
        bad = redis.Redis(port=self.daemon.port, username="ns", password="wrong", socket_timeout=30)
        self.addCleanup(bad.close)
        # redis-py raises WRONGPASS as a ResponseError (as from Redis).
        with self.assertRaises(redis.exceptions.ResponseError) as ctx:
            bad.get("t/py")
        self.assertEqual(str(ctx.exception),
                         "WRONGPASS invalid username-password pair or user is disabled.")
        anon = redis.Redis(port=self.daemon.port, socket_timeout=30)
        self.addCleanup(anon.close)
        with self.assertRaises(redis.exceptions.AuthenticationError) as ctx:
            anon.get("t/py")
        self.assertEqual(str(ctx.exception), "Authentication required.")

    def test_ioredis_authenticates_and_is_refused_correctly(self):
        summary = node.run_script(self, node.find(), "acl.js", self.daemon.port, "ns",
                                  USERS["ns"][0], "t/node", "u/node")
        self.assertEqual({c["client"]: int(c["version"].split(".")[0]) for c in summary["clients"]},
                         {"ioredis5": 5, "ioredis6-resp3": 6, "ioredis6-resp2": 6})
        self.assertTrue(all(c["checks"] == 3 for c in summary["clients"]))


class TestRequirePass(unittest.TestCase):
    """--requirepass-file: the user default, every role, every name."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ss-acl-")
        cls.daemons = []

    @classmethod
    def tearDownClass(cls):
        try:
            for d in cls.daemons:
                if d.running():
                    code = d.stop(signal.SIGTERM, timeout=60)
                    if code != 0:
                        raise AssertionError("daemon exited %r:\n%s" % (code, d.log()[-4000:]))
        finally:
            for d in cls.daemons:
                d.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def start(self, secret, name):
        path = write_file(os.path.join(self.tmp, name), secret + "\n")
        d = harness.Daemon(args=["--requirepass-file", path]).start()
        self.daemons.append(d)
        return d

    def check_password(self, d, pw, wrong=True, other=False):
        """pw logs in as the user default, with every role and name; a
        wrong password (and another user) do not. Each wrong one costs a
        KDF run at the hash's cost, or the default for another user."""
        t = Client(d.port, timeout=30)
        self.addCleanup(t.close)
        self.assertEqual(t.cmd("SET_CHECKPOINT x 1"), NOAUTH_TEXT)
        if wrong:
            self.assertEqual(t.cmd("AUTH wrong-%s" % pw), WRONGPASS_TEXT)
        self.assertEqual(t.cmd("AUTH %s" % pw), "OK")
        self.assertEqual(t.cmd("SET_CHECKPOINT x 1"), "OK")
        self.assertEqual(t.config_get("history"), {"history": "4"})  # admin
        c = resp.Conn(d.port, timeout=30)
        self.addCleanup(c.close)
        self.assertEqual(c.call("AUTH", pw)[0], b"+OK\r\n")
        self.assertEqual(c.call("AUTH", "default", pw)[0], b"+OK\r\n")
        if other:
            self.assertEqual(c.call("AUTH", "other", pw)[0], WRONGPASS_RESP)
        self.assertEqual(c.call("GET", "x")[1], b"1")  # the earlier AUTH still holds
        self.assertIn(b"x", c.call("KEYS", "*")[1])
        self.assertNotIn(pw.encode(), b"".join(d.stderr_lines))

    def test_a_password_in_the_clear(self):
        pw = password("requirepass")
        self.check_password(self.start(pw, "clear.pass"), pw)

    def test_a_hash_from_hash_password_which_hashlib_verifies(self):
        pw = password("hashed")
        r = subprocess.run([PROG, "--hash-password"], input=pw + "\n", capture_output=True,
                           text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        m = re.fullmatch(r"\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)"
                         r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)\n", r.stdout)
        self.assertTrue(m, r.stdout)
        ln, rr, p = int(m.group(1)), int(m.group(2)), int(m.group(3))
        self.assertEqual((ln, rr, p), (15, 8, 1))
        salt, key = unb64(m.group(4)), unb64(m.group(5))
        self.assertEqual((len(salt), len(key)), (16, 32))
        self.assertNotIn("=", m.group(4) + m.group(5))  # unpadded
        self.assertEqual(hashlib.scrypt(pw.encode(), salt=salt, n=1 << ln, r=rr, p=p, dklen=32,
                                        maxmem=1 << 26), key)
        # The daemon takes it (one KDF run at the default cost, ~0.2 s).
        self.check_password(self.start(r.stdout.strip(), "hashed.pass"), pw, wrong=False)
        # A cheap hash made here works the same.
        pw2 = password("cheap")
        self.check_password(self.start(scrypt_hash(pw2), "cheap.pass"), pw2, other=True)


class TestReload(AclServer):
    USERS = {
        "root": (password("root"), "read,write,admin", "*"),
        "a": (password("a"), "read,write", "a/*"),
        "b": (password("b"), "read,write", "b/*"),
        "c": (password("c"), "read", "*"),
    }

    def reload(self, users, mode=0o600, ok=True):
        """Rewrites the file, sends SIGHUP, waits for the verdict in the log;
        returns the log lines since."""
        start = len(self.daemon.stderr_lines)
        write_file(self.acl_file, acl_text(users) if isinstance(users, dict) else users, mode)
        self.daemon.proc.send_signal(signal.SIGHUP)
        verdict = (r"SIGHUP: %d users loaded from " % len(users) if ok
                   else r"SIGHUP: keeping the users in force")
        self.assertTrue(self.daemon.wait_log(verdict, timeout=10, start=start),
                        self.daemon.log()[-2000:])
        return b"".join(self.daemon.stderr_lines[start:]).decode()

    def test_sighup_applies_roles_drops_removed_users_and_changed_passwords(self):
        users = dict(self.USERS)
        ca, cb, cc = self.resp_as("a"), self.resp_as("b"), self.text_as("c")
        cb2 = self.resp_as("b")
        self.assertEqual(ca.call("SET", "a/1", "x")[0], b"+OK\r\n")
        before = self.stats()

        # a loses write and gains the b/ names.
        users["a"] = (users["a"][0], "read", "a/*,b/*")
        self.reload(users)
        self.assertEqual(ca.call("SET", "a/1", "y")[0], role_refusal("a", "set")[0])
        self.assertEqual(ca.call("GET", "a/1")[1], b"x")
        self.assertEqual(ca.call("GET", "b/1")[0], b"$-1\r\n")
        self.assertEqual(cb.call("SET", "b/1", "x")[0], b"+OK\r\n")  # b unchanged

        # c removed: its connection closed.
        del users["c"]
        self.reload(users)
        self.assertTrue(cc.at_eof())
        self.assertEqual(self.text_as().cmd("AUTH c %s" % self.USERS["c"][0]), WRONGPASS_TEXT)

        # b's password changed: b's connections closed, a's kept.
        old_b = users["b"][0]
        users["b"] = (password("b2"), "read,write", "b/*")
        log = self.reload(users)
        self.assertTrue(cb.closed_by_peer())
        self.assertTrue(cb2.closed_by_peer())
        self.assertEqual(ca.call("GET", "a/1")[1], b"x")
        self.assertEqual(self.resp_as().call("AUTH", "b", old_b)[0], WRONGPASS_RESP)
        type(self).USERS = users  # what is in force now
        self.assertEqual(self.resp_as("b").call("GET", "b/1")[1], b"x")  # the new one
        self.assertNotIn(users["b"][0], log)
        # A transaction open across a reload is refused whole at EXEC
        # (EXECABORT): half of it may no longer be allowed, and half a
        # transaction must never apply.
        self.assertEqual(pipeline_resp(ca, [["MULTI"], ["GET", "a/1"], ["GET", "b/1"]]),
                         [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n"])
        users["a"] = (users["a"][0], "read", "a/*")
        self.reload(users)
        raw, got = ca.call("EXEC")
        self.assertTrue(raw.startswith(b"-EXECABORT"), raw)
        self.assertEqual(ca.call("GET", "a/1")[1], b"x")  # the connection goes on
        after = self.stats()
        self.assertEqual(after["acl_reloads"] - before["acl_reloads"], 4)
        self.assertEqual(after["acl_reload_failures"], before["acl_reload_failures"])

    def test_a_bad_or_writable_file_keeps_the_users_in_force(self):
        users = dict(self.USERS)
        ca = self.resp_as("a")
        before = self.stats()
        text = acl_text(users) + "dave %s read,fly *\n" % scrypt_hash("x")
        log = self.reload(text, ok=False)
        line = len(text.splitlines())
        self.assertIn("%s: line %d: unknown role 'fly': want read, write, admin or replication"
                      % (self.acl_file, line), log)
        # Everyone in force stays, connected and able to log in.
        self.assertEqual(ca.call("PING")[0], b"+PONG\r\n")
        self.resp_as("a")
        self.assertEqual(self.resp_as().call("AUTH", "dave", "x")[0], WRONGPASS_RESP)

        # o+w: refused however good the file is (a user added by anyone).
        users["eve"] = (password("eve"), "read,write,admin", "*")
        log = self.reload(users, mode=0o602, ok=False)
        self.assertIn("%s is writable by others" % self.acl_file, log)
        self.assertEqual(self.resp_as().call("AUTH", "eve", users["eve"][0])[0], WRONGPASS_RESP)
        self.assertEqual(ca.call("PING")[0], b"+PONG\r\n")
        after = self.stats()
        self.assertEqual(after["acl_reload_failures"] - before["acl_reload_failures"], 2)
        self.assertEqual(after["acl_reloads"], before["acl_reloads"])
        # Fixed: loaded.
        self.reload(users)
        self.assertEqual(self.resp_as().call("AUTH", "eve", users["eve"][0])[0], b"+OK\r\n")


class TestStartup(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ss-acl-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data = os.path.join(self.tmp, "data")

    def refused(self, *args):
        """Runs the daemon; it must exit 2 before serving. Returns stderr."""
        r = harness.run_binary(["-p", "0", "-d", self.data] + list(args))
        self.assertNotIn("listening on", r.stderr)
        self.assertEqual(r.returncode, 2, r.stderr)
        return r.stderr

    def served(self, *args):
        d = harness.Daemon(args=list(args))
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(lambda: self.assertEqual(d.stop(), 0))
        return d

    def acl(self, text, mode=0o600, name="users.acl"):
        return write_file(os.path.join(self.tmp, name), text, mode)

    def test_bad_files_are_refused_with_their_line(self):
        good = "root %s read,write,admin *\n" % scrypt_hash("pw")
        cases = [
            ("# users\n\n" + good + "bob %s read\n" % scrypt_hash("pw"), 4,
             "want: <user> <password-hash> <roles> <namespaces>"),
            (good + "bob $scrypt$ln=4$nope read *\n", 2, None),
            (good + "root %s read *\n" % scrypt_hash("pw"), 2, "user 'root' is defined twice"),
            (good + "bob %s read,,write *\n" % scrypt_hash("pw"), 2, "an empty item in the roles"),
            (good + "bob %s read a*b\n" % scrypt_hash("pw"), 2,
             "bad namespace 'a*b': a name, or a prefix ending in '*'"),
        ]
        for text, line, why in cases:
            path = self.acl(text)
            err = self.refused("--acl-file", path)
            self.assertIn("%s: line %d: %s" % (path, line, why or ""), err)
        err = self.refused("--acl-file", self.acl("# nobody\n"))
        self.assertIn("no users: every connection would be refused", err)

    def test_file_permissions_and_a_missing_file(self):
        good = "root %s read,write,admin *\n" % scrypt_hash("pw")
        path = self.acl(good, 0o602)
        self.assertIn("%s is writable by others, who could make themselves users: chmod o-w %s"
                      % (path, path), self.refused("--acl-file", path))
        pw = write_file(os.path.join(self.tmp, "pass"), "secret\n", 0o666)
        self.assertIn("%s is writable by others" % pw, self.refused("--requirepass-file", pw))
        missing = os.path.join(self.tmp, "missing.acl")
        self.assertIn("cannot open %s: No such file or directory" % missing,
                      self.refused("--acl-file", missing))
        self.assertIn("cannot open %s: No such file or directory" % missing,
                      self.refused("--requirepass-file", missing))
        both = self.refused("--acl-file", self.acl(good), "--requirepass-file",
                            write_file(os.path.join(self.tmp, "pass2"), "secret\n"))
        self.assertIn("--acl-file and --requirepass-file: give one", both)
        # o+r: served, with a warning.
        readable = self.acl(good, 0o604, "readable.acl")
        d = self.served("--acl-file", readable)
        self.assertIn("%s is readable by others, who can read its password hashes: chmod o-r %s"
                      % (readable, readable), d.log())

    def test_protected_mode(self):
        err = self.refused("--bind", "0.0.0.0")
        for words in ("protected mode", "0.0.0.0", "--acl-file", "--requirepass-file",
                      "127.0.0.1", "--insecure-no-auth"):
            self.assertIn(words, err)
        d = self.served("--bind", "0.0.0.0", "--insecure-no-auth")
        self.assertTrue(d.wait_log(r"\[warn\].*without authentication \(--insecure-no-auth\)",
                                   timeout=5))
        with Client(d.port) as c:
            self.assertEqual(c.cmd("PING"), "PONG")
        acl = self.acl("root %s read,write,admin *\n" % scrypt_hash("pw"))
        d = self.served("--bind", "0.0.0.0", "--acl-file", acl)
        with Client(d.port) as c:
            self.assertEqual(c.cmd("STATS"), NOAUTH_TEXT)
        self.assertNotIn("insecure", d.log())
        # Loopback is judged by the address the bind makes of it: 127.1 is
        # 127.0.0.1; ::ffff:0.0.0.0 reaches as far as 0.0.0.0.
        self.served("--bind", "127.1")
        self.assertIn("protected mode", self.refused("--bind", "::ffff:0.0.0.0"))


if __name__ == "__main__":
    unittest.main()
