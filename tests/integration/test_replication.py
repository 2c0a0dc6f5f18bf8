"""Replication (issue 18; the spec is shared_brief/repl_spec.md) against the
real daemons, each on a host of its own: a network namespace with its own
address, joined to the others through a bridge (sstools/cluster.py), so a
partition is a link going down or a DROP rule, as between real machines.
Where namespaces cannot be made, the hosts are loopback addresses and the
partition cases skip, saying so (the first line of the output says which).

  TestStream      a replica follows by partial sync (from an empty log, and
                  after a restart from the revision it held) and serves
                  reads; it refuses every write (text ERR readonly replica,
                  RESP -READONLY, redis-cli); the STATS and INFO replication
                  rows on both sides; a full sync after the primary
                  compacted past the replica's point
  TestSyncMode    --sync-replicas 1 with no replica: a write waits (INFO
                  says why, GET does not see it) until a replica comes;
                  --sync-timeout's error text
  TestFailover    REPLICAOF NO ONE: the epoch goes up, revisions continue,
                  the other replica follows; the deposed primary (async)
                  rejoins and truncates the tail nobody else has (its log
                  line and count); a replica of a newer epoch fences the
                  old primary (its waiting writes and new ones get FENCED)
  TestPartitions  the primary isolated from its replicas (DROP rules): its
                  writes time out and stay invisible there, the in-sync
                  replica is promoted, nothing acknowledged is lost, the old
                  primary discards exactly its durable tail (the first of
                  its timed-out writes: those queued behind it were never
                  written); a replica
                  isolated (link down): writes go on through the other one,
                  it catches up after; a flapping link; a lossy link (netem)
  TestAcl         a replica whose user has the `replication` role follows;
                  one whose user lacks it gets NOPERM and never follows;
                  REPLICAOF needs admin

Every daemon is started by the test on an ephemeral port and stopped by it:
tearDown expects each one still running to exit 0 on SIGTERM, and the
cluster's namespaces to be gone after.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from contextlib import closing

from sstools import debian, repl
from sstools.acl import acl_text, password, write_file
from sstools.cluster import Cluster, available
from sstools.repl import (DISCARDED_RE, FENCED_RE, FOLLOWING_RE, FULL_RE, PARTIAL_RE,
                          PROMOTED_RE, READONLY_RESP, READONLY_TEXT, SYNC_TIMEOUT_TEXT, SYNC_WAITING_TEXT,
                          caught_up, contents, follow, num, promote, replica_rows, set_rev,
                          link_down, link_up, stats_of, sync_timeout_arg, wait_stats)

# A link silent this long is dropped: short, so that partitions show fast.
REPL_TIMEOUT = 2
LOG_WAIT = 15.0


def setUpModule():
    v = available()
    if v:
        print("\nreplication: hosts are network namespaces behind a bridge", file=sys.stderr)
    else:
        print("\nreplication: NO network namespaces (%s): the cases run on loopback addresses "
              "127.0.0.x, and the partition cases are skipped" % v.reason, file=sys.stderr)


class ReplicationCase(unittest.TestCase):
    HOSTS = 3

    def setUp(self):
        self.cl = Cluster(self.HOSTS)
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        problems = []
        try:
            for d in self.cl.daemons:
                if d.proc is None:
                    continue
                if d.proc.poll() is None:
                    try:
                        code = d.stop(signal.SIGTERM, timeout=30)
                        if code != 0:
                            problems.append("%s exited %r on SIGTERM:\n%s"
                                            % (d.addr, code, d.log()[-3000:]))
                    except subprocess.TimeoutExpired:
                        problems.append("%s ignored SIGTERM for 30 s" % d.addr)
                elif not d.waited:
                    problems.append("%s died on its own with %r:\n%s"
                                    % (d.addr, d.proc.returncode, d.log()[-3000:]))
        finally:
            self.cl.close()
        self.assertEqual(self.cl.leftovers(), [], "namespaces left after close()")
        if problems:
            self.fail("\n".join(problems))

    # ------------------------------------------------------------ helpers

    def primary(self, host, *args, repl_timeout=REPL_TIMEOUT):
        return self.cl.daemon(host, ("--repl-timeout", str(repl_timeout)) + args).start()

    def replica(self, host, primary, *args, wait=True, repl_timeout=REPL_TIMEOUT):
        d = self.cl.daemon(host, ("--repl-timeout", str(repl_timeout),
                                  "--replica-of", primary.addr) + args).start()
        if wait:
            self.wait_log(d, FOLLOWING_RE)
        return d

    def wait_log(self, d, pattern, timeout=LOG_WAIT, start=0):
        m = d.wait_log(pattern, timeout, start)
        self.assertIsNotNone(m, "%s never logged %r; log:\n%s" % (d.addr, pattern, d.log()[-4000:]))
        return m

    def client(self, d, host=None):
        """A client of d from host (d's own host unless told)."""
        h = d.host if host is None else self.cl[host]
        c = h.connect_to(d.host.ip, d.port, 30)
        self.conns.append(c)
        return c

    def caught_up(self, r, p, timeout=20.0):
        """Waits until replica r has applied everything primary p shows."""
        return wait_stats(r, caught_up(stats_of(p)), timeout, "%s caught up with %s" % (r.addr, p.addr))

    def write(self, c, name, value):
        rev = set_rev(c, name, value)
        self.assertIsInstance(rev, int, "MSET_CHECKPOINT %s %s: %r" % (name, value, rev))
        return rev

    def assertSameContents(self, a, b):
        ca, cb = contents(a), contents(b)
        self.assertEqual(len(ca), len(cb), "%s has %d pipelines, %s %d" % (a.addr, len(ca), b.addr, len(cb)))
        self.assertEqual(ca, cb)
        return ca


class TestStream(ReplicationCase):
    def test_a_replica_follows_by_partial_sync_serves_reads_and_resumes_from_its_revision(self):
        p = self.primary(0)
        c = self.client(p)
        acked = {}
        for i in range(50):
            acked["k%d" % i] = (self.write(c, "k%d" % i, "v%d" % i), "v%d" % i)
        r = self.replica(1, p)
        # An empty replica of a primary whose log still starts at revision
        # 0: the log groups after 0 are streamed, no snapshot.
        self.assertEqual(self.wait_log(r, PARTIAL_RE).group(1), b"0")
        for i in range(50, 80):
            acked["k%d" % i] = (self.write(c, "k%d" % i, "v%d" % i), "v%d" % i)
        self.caught_up(r, p)
        self.assertEqual(contents(r), acked)
        self.assertEqual(self.assertSameContents(r, p), acked)
        # Reads on the replica, every kind.
        rc = self.client(r)
        self.assertEqual(rc.cmd("GET_CHECKPOINT k7"), "v7")
        self.assertEqual(rc.cmd("GETREV_CHECKPOINT k7"), "%d v7" % acked["k7"][0])
        self.assertEqual(rc.cmd("GET_CHECKPOINT nosuch"), "NULL")
        self.assertEqual(self.write(c, "k7", "w7"), acked["k79"][0] + 1)
        self.caught_up(r, p)
        for d in (p, r):
            h = self.client(d)
            h.send(b"HISTORY_CHECKPOINT k7\n")
            lines = []
            while True:
                line = h.readline()
                if line in (None, "END"):
                    break
                lines.append(line.split(" ", 2)[0::2])  # rev and value, not the time
            self.assertEqual(lines, [[str(acked["k79"][0] + 1), "w7"], [str(acked["k7"][0]), "v7"]],
                             d.addr)
        # The replica goes down; the primary goes on; the replica comes back
        # and asks for the groups after the revision it holds durably.
        held = num(stats_of(r), "durable_revision")
        self.assertEqual(held, num(stats_of(p), "revision"))
        r.kill()
        for i in range(30):
            self.write(c, "later%d" % i, "x%d" % i)
        r.restart()
        self.assertEqual(int(self.wait_log(r, PARTIAL_RE).group(1)), held)
        self.caught_up(r, p)
        self.assertSameContents(r, p)
        st = stats_of(p)
        self.assertEqual(num(st, "partial_syncs"), 2, repl.replication_rows(st))
        self.assertEqual(num(st, "full_syncs"), 0, repl.replication_rows(st))
        self.assertIsNone(r.wait_log(FULL_RE, 0), r.log())

    def test_a_replica_refuses_every_write_readonly_and_serves_reads(self):
        p = self.primary(0)
        c = self.client(p)
        rev = self.write(c, "k", "v1")
        r = self.replica(1, p)
        self.caught_up(r, p)
        rc = self.client(r)
        for req in ("SET_CHECKPOINT k v2", "SET_CHECKPOINT new v", "CAS_CHECKPOINT k %d v2" % rev,
                    "DEL_CHECKPOINT k", "MSET_CHECKPOINT k v2 j w", "MCAS_CHECKPOINT k %d v2" % rev,
                    "ROLLBACK_CHECKPOINT k %d" % rev):
            self.assertEqual(rc.cmd(req), READONLY_TEXT, req)
        self.assertEqual(rc.cmd("GETREV_CHECKPOINT k"), "%d v1" % rev)
        # RESP, byte for byte, and redis-cli (a client nobody here wrote).
        conn = r.host.resp_to(r.host.ip, r.port)
        try:
            for cmd in (("SET", "k", "v2"), ("DEL", "k"), ("INCR", "n"), ("SETNX", "z", "1"),
                        ("EXPIRE", "k", "100"), ("MSET", "a", "1", "b", "2")):
                raw, _ = conn.call(*cmd)
                self.assertEqual(raw, READONLY_RESP, cmd)
            raw, _ = conn.call("GET", "k")
            self.assertEqual(raw, b"$2\r\nv1\r\n")
        finally:
            conn.sock.close()
        cli = debian.need("redis-cli", "redis-tools")
        base = [cli, "-h", r.host.ip, "-p", str(r.port)]
        out = r.host.run(base + ["SET", "k", "v3"])
        self.assertIn("READONLY You can't write against a read only replica.", out.stdout + out.stderr)
        self.assertEqual(r.host.run(base + ["GET", "k"]).stdout.strip(), "v1")
        # Nothing changed anywhere.
        self.assertEqual(num(stats_of(r), "revision"), rev)
        self.assertEqual(num(stats_of(p), "revision"), rev)
        self.assertEqual(contents(p), {"k": (rev, "v1")})

    def test_stats_and_info_replication_show_both_sides(self):
        p = self.primary(0, "--sync-replicas", "1")
        r1, r2 = self.replica(1, p), self.replica(2, p)
        c = self.client(p)
        for i in range(10):
            self.write(c, "k%d" % i, "v")  # needs one replica's ack
        st = wait_stats(p, lambda s: num(s, "connected_replicas") == 2 and all(
            int(row["acked"]) == num(s, "revision") and row["state"] == "online"
            for row in replica_rows(s)), what="both replicas online and acked")
        rev = num(st, "revision")
        self.assertEqual(st["role"], "primary")
        self.assertEqual(st["fenced"], "0")
        self.assertEqual(num(st, "durable_revision"), rev)
        self.assertEqual(st["sync_replicas"], "1")
        self.assertEqual(st["writes_waiting"], "0")
        self.assertEqual(st["sync_wait"], "none")
        rows = replica_rows(st)
        ids = sorted(row["id"] for row in rows)
        if self.cl.loopback:  # the address the primary sees may be 127.0.0.1
            self.assertEqual(sorted(i.rsplit(":", 1)[1] for i in ids), sorted([str(r1.port), str(r2.port)]))
        else:
            self.assertEqual(ids, sorted([r1.addr, r2.addr]))
        for row in rows:
            self.assertEqual(row["lag_revisions"], "0", row)
            self.assertGreaterEqual(int(row["lag_ms"]), 0, row)
        sync_set = [s for s in st["sync_set"].split(",") if s]
        self.assertTrue(sync_set and set(sync_set) <= set(ids), (sync_set, ids))
        for r in (r1, r2):
            rs = wait_stats(r, lambda s: num(s, "revision") == rev and link_up(s),
                            what="replica applied %d" % rev)
            self.assertEqual(rs["role"], "replica")
            self.assertEqual(rs["primary_host"], p.host.ip)
            self.assertEqual(rs["primary_port"], str(p.port))
            self.assertEqual(rs["primary_epoch"], st["epoch"])
            self.assertEqual(rs["epoch"], st["epoch"])
            self.assertGreaterEqual(num(rs, "durable_revision"), rev)
            self.assertEqual(rs["lag_revisions"], "0")
            mine = [row["id"] for row in rows if row["id"].endswith(":%d" % r.port)]
            self.assertEqual(rs["in_sync_set"], "1" if mine[0] in sync_set else "0")
            # RESP INFO replication: the same rows.
            conn = r.host.resp_to(r.host.ip, r.port)
            try:
                _, text = conn.call("INFO", "replication")
            finally:
                conn.sock.close()
            info = repl.parse_info(text.decode())
            # Redis's words first (tools read them), then ours.
            self.assertEqual((info.get("role"), info.get("master_host"), info.get("master_port"),
                              info.get("master_link_status")),
                             ("slave", p.host.ip, str(p.port), "up"))
            self.assertEqual(info.get("replica_role"), rs["role"])
            for k in ("epoch", "primary_host", "primary_port", "primary_link",
                      "in_sync_set", "durable_revision"):
                self.assertEqual(info.get(k), rs[k], k)
            self.assertEqual(info.get("applied_revision", info.get("revision")), rs["revision"])
        conn = p.host.resp_to(p.host.ip, p.port)
        try:
            _, text = conn.call("INFO", "replication")
        finally:
            conn.sock.close()
        info = repl.parse_info(text.decode())
        self.assertEqual((info.get("role"), info.get("connected_slaves")),
                         ("master", st["connected_replicas"]))
        self.assertEqual(info.get("replica_role"), st["role"])
        for k in ("epoch", "connected_replicas", "sync_replicas", "sync_set"):
            self.assertEqual(info.get(k), st[k], k)
        self.assertEqual(info.get("applied_revision", info.get("revision")), st["revision"])
        self.assertEqual(sorted(row["id"] for row in replica_rows(info)), ids)

    def test_full_sync_after_the_primary_compacted_past_the_replica(self):
        p = self.primary(0)
        c = self.client(p)
        for i in range(40):
            self.write(c, "k%d" % (i % 20), "a%d" % i)
        r = self.replica(1, p)
        self.caught_up(r, p)
        r.kill()
        for i in range(300):
            self.write(c, "k%d" % (i % 20), "b%d" % i)
        self.assertEqual(c.cmd("COMPACT"), "OK")
        rev = num(stats_of(p), "revision")
        r.restart()
        m = self.wait_log(r, FULL_RE)
        self.assertGreater(int(m.group(1)), 0)
        self.assertEqual(int(m.group(2)), rev)
        self.caught_up(r, p)
        self.assertSameContents(r, p)
        st = stats_of(p)
        self.assertEqual(num(st, "full_syncs"), 1, repl.replication_rows(st))
        self.assertFalse(os.path.exists(os.path.join(r.data_dir, "statestored.log.sync")))
        # The stream goes on after the snapshot.
        after = self.write(c, "after", "x")
        self.assertEqual(after, rev + 1)
        self.caught_up(r, p)
        self.assertEqual(self.client(r).cmd("GETREV_CHECKPOINT after"), "%d x" % after)
        # A replica restarted now holds the snapshot's revision and more:
        # a partial sync again.
        r.kill()
        r.restart()
        self.assertEqual(int(self.wait_log(r, PARTIAL_RE).group(1)), after)


class TestSyncMode(ReplicationCase):
    def test_with_no_replica_a_write_waits_invisible_until_one_acks(self):
        p = self.primary(0, "--sync-replicas", "1")
        w = self.client(p)
        w.send(b"SET_CHECKPOINT k v1\n")
        st = wait_stats(p, lambda s: num(s, "writes_waiting") >= 1, what="the write waiting")
        self.assertEqual(st["sync_wait"], "replicas")
        self.assertGreaterEqual(num(st, "sync_waits"), 1)
        self.assertEqual(num(st, "connected_replicas"), 0)
        # Durable here, but not acknowledged: nobody may read it.
        self.assertEqual(self.client(p).cmd("GET_CHECKPOINT k"), "NULL")
        self.assertEqual(num(st, "revision"), 0)
        self.assertEqual(num(st, "durable_revision"), 1)
        r = self.replica(1, p)
        w.sock.settimeout(20)
        self.assertEqual(w.readline(), "OK")
        self.assertEqual(self.client(p).cmd("GETREV_CHECKPOINT k"), "1 v1")
        self.caught_up(r, p)
        self.assertEqual(self.client(r).cmd("GETREV_CHECKPOINT k"), "1 v1")
        st = stats_of(p)
        self.assertEqual(st["writes_waiting"], "0")
        self.assertEqual(st["sync_wait"], "none")
        if self.cl.loopback:  # the address the primary sees may be 127.0.0.1
            self.assertTrue(st["sync_set"].endswith(":%d" % r.port), st["sync_set"])
        else:
            self.assertEqual(st["sync_set"], r.addr)
        self.assertEqual(stats_of(r)["in_sync_set"], "1")

    def test_sync_timeout_answers_the_documented_error(self):
        # --sync-timeout is in milliseconds, as Redis's WAIT timeout.
        p = self.primary(0, "--sync-replicas", "1", "--sync-timeout", "1000")
        w = self.client(p)
        t0 = time.monotonic()
        self.assertEqual(w.cmd("SET_CHECKPOINT k v1"), SYNC_TIMEOUT_TEXT % 1)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5.0)
        st = stats_of(p)
        self.assertEqual(num(st, "sync_timeouts"), 1)
        # Its outcome is unknown to its client, not settled: the write is
        # durable here and still waits, to be applied if a replica comes.
        self.assertEqual(num(st, "writes_waiting"), 1)
        # RESP: the same words after '-' (as every ERR of ours: -ERR ...).
        # This write waits behind the held one, unwritten: it times out
        # after one to two periods, never sooner, with the text that says so.
        conn = p.host.resp_to(p.host.ip, p.port)
        t0 = time.monotonic()
        try:
            raw, _ = conn.call("SET", "k2", "v")
        finally:
            conn.sock.close()
        took = time.monotonic() - t0
        self.assertEqual(raw, ("-%s\r\n" % (SYNC_WAITING_TEXT % 1)).encode())
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5.0)
        self.assertGreaterEqual(num(stats_of(p), "sync_timeouts"), 2)


class TestFailover(ReplicationCase):
    def test_promotion_bumps_the_epoch_and_revisions_continue(self):
        p = self.primary(0)
        r1, r2 = self.replica(1, p), self.replica(2, p)
        c = self.client(p)
        acked = {"k%d" % i: (self.write(c, "k%d" % i, "v%d" % i), "v%d" % i) for i in range(20)}
        self.caught_up(r1, p)
        self.caught_up(r2, p)
        st = stats_of(p)
        epoch, rev = num(st, "epoch"), num(st, "revision")
        p.kill()
        self.assertEqual(promote(r1), "OK")
        m = self.wait_log(r1, PROMOTED_RE)
        self.assertEqual((int(m.group(1)), int(m.group(2))), (epoch + 1, rev))
        s1 = stats_of(r1)
        self.assertEqual((s1["role"], num(s1, "epoch"), s1["fenced"]), ("primary", epoch + 1, "0"))
        self.assertEqual(follow(r2, r1), "OK")
        wait_stats(r2, lambda s: num(s, "epoch") == epoch + 1 and link_up(s),
                   what="r2 following r1 in epoch %d" % (epoch + 1))
        c1 = self.client(r1)
        self.assertEqual(self.write(c1, "after", "x"), rev + 1)
        acked["after"] = (rev + 1, "x")
        self.caught_up(r2, r1)
        self.assertEqual(contents(r2), acked)
        # The old primary comes back as a replica of the new one: it holds
        # nothing the new one lacks, so nothing is discarded.
        p.restart(["--replica-of", r1.addr])
        self.caught_up(p, r1)
        self.assertEqual(contents(p), acked)
        self.assertIsNone(p.wait_log(DISCARDED_RE, 0), p.log())
        sp = stats_of(p)
        self.assertEqual((sp["role"], num(sp, "epoch")), ("replica", epoch + 1))
        # The epoch survives a restart of the promoted node (an EPOCH record
        # in its log).
        r1.stop()
        r1.restart()
        self.assertEqual(num(stats_of(r1), "epoch"), epoch + 1)

    def test_a_deposed_primary_rejoins_and_discards_its_unreplicated_tail(self):
        # Asynchronous mode: the primary acknowledges what only it holds.
        p = self.primary(0)
        r = self.replica(1, p)
        c = self.client(p)
        for i in range(10):
            self.write(c, "k%d" % i, "v%d" % i)
        self.caught_up(r, p)
        common = num(stats_of(p), "revision")
        self.assertEqual(r.stop(), 0)
        tail = [self.write(c, "tail%d" % i, "t%d" % i) for i in range(7)]
        self.assertEqual(tail, list(range(common + 1, common + 8)))
        p.kill()
        r.restart()
        self.assertEqual(promote(r), "OK")
        rc = self.client(r)
        new = [self.write(rc, "new%d" % i, "n%d" % i) for i in range(3)]
        self.assertEqual(new, list(range(common + 1, common + 4)))
        p.restart(["--replica-of", r.addr])
        m = self.wait_log(p, DISCARDED_RE)
        self.assertEqual((int(m.group(1)), int(m.group(2))), (7, common))
        self.caught_up(p, r)
        have = self.assertSameContents(p, r)
        self.assertFalse([n for n in have if n.startswith("tail")])
        self.assertEqual(num(stats_of(p), "truncated_records"), 7)

    def test_a_replica_of_a_newer_epoch_fences_the_old_primary(self):
        if self.cl.loopback:
            self.skipTest("needs a partition: %s" % self.cl.why)
        p = self.primary(0, "--sync-replicas", "1")
        r1, r2 = self.replica(1, p), self.replica(2, p)
        c = self.client(p)
        for i in range(5):
            self.write(c, "k%d" % i, "v%d" % i)
        self.caught_up(r1, p)
        self.caught_up(r2, p)
        st = stats_of(p)
        epoch, rev = num(st, "epoch"), num(st, "revision")
        self.cl.isolate(p.host)
        c.send(b"SET_CHECKPOINT waiting lost\n")  # durable on p only: waits
        wait_stats(p, lambda s: num(s, "writes_waiting") >= 1, what="the write waiting")
        # (That the replicas see the primary gone is the primary-isolated
        # case's; here the operator promotes at once.)
        self.assertEqual(promote(r1), "OK")
        self.assertEqual(follow(r2, r1), "OK")
        wait_stats(r2, lambda s: num(s, "epoch") == epoch + 1, what="r2 in the new epoch")
        self.cl.heal(p.host)
        # An operator's mistake: r2, of epoch E+1, pointed at the old
        # primary. Its REPLSYNC names the newer epoch: p fences itself.
        self.assertEqual(follow(r2, p), "OK")
        self.wait_log(p, FENCED_RE)
        c.sock.settimeout(20)
        fenced = repl.FENCED_TEXT % (epoch + 1, epoch)
        self.assertEqual(c.readline(), fenced)  # the waiting write
        self.assertEqual(c.cmd("SET_CHECKPOINT other x"), fenced)
        conn = p.host.resp_to(p.host.ip, p.port)
        try:
            raw, _ = conn.call("SET", "other", "x")
        finally:
            conn.sock.close()
        self.assertTrue(raw.startswith(b"-FENCED ") and
                        ("epoch %d exists, newer than this primary's epoch %d" % (epoch + 1, epoch)
                         ).encode() in raw, raw)
        self.assertEqual(stats_of(p)["fenced"], "1")
        # r2 refused the older epoch's stream: it is still of epoch E+1.
        self.assertEqual(num(stats_of(r2), "epoch"), epoch + 1)
        self.assertEqual(follow(r2, r1), "OK")
        rc = self.client(r1)
        self.assertEqual(self.write(rc, "new", "n"), rev + 1)
        self.caught_up(r2, r1)
        # The old primary rejoins: its one unacknowledged record goes.
        self.assertEqual(follow(p, r1), "OK")
        m = self.wait_log(p, DISCARDED_RE)
        self.assertEqual((int(m.group(1)), int(m.group(2))), (1, rev))
        self.caught_up(p, r1)
        for d in (p, r1, r2):
            self.assertEqual(self.client(d).cmd("GET_CHECKPOINT waiting"), "NULL", d.addr)
        self.assertSameContents(p, r1)
        self.assertSameContents(r2, r1)


class TestPartitions(ReplicationCase):
    def setUp(self):
        super().setUp()
        if self.cl.loopback:
            self.skipTest("partitions need network namespaces: %s" % self.cl.why)

    def test_primary_isolated_its_writes_time_out_and_the_in_sync_replica_takes_over(self):
        p = self.primary(0, "--sync-replicas", "1", "--sync-timeout", sync_timeout_arg(1))
        r1, r2 = self.replica(1, p), self.replica(2, p)
        c = self.client(p)
        acked = {}
        for i in range(20):
            acked["k%d" % i] = (self.write(c, "k%d" % i, "v%d" % i), "v%d" % i)
        for r in (r1, r2):
            self.caught_up(r, p)
        epoch = num(stats_of(p), "epoch")
        # DROP rules in the primary's namespace: it hears neither replica.
        self.cl.drop(p.host, r1.host)
        self.cl.drop(p.host, r2.host)
        timed_out = 0
        for i in range(3):
            reply = set_rev(c, "cut%d" % i, "x")
            # The first is held (durable here); the next wait behind it.
            self.assertIn(reply, (SYNC_TIMEOUT_TEXT % 1, SYNC_WAITING_TEXT % 1),
                          "a write with no replica reachable")
            timed_out += 1
        # Nothing unacknowledged is visible: not even on the primary that
        # holds it, to its own local clients.
        look = self.client(p)
        seen = [look.cmd("GET_CHECKPOINT cut%d" % i) for i in range(timed_out)]
        sp = stats_of(p)
        self.assertEqual(seen, ["NULL"] * timed_out, "timed-out writes visible on the old primary")
        self.assertEqual(num(sp, "revision"), acked["k19"][0], repl.replication_rows(sp))
        tail = num(sp, "durable_revision") - acked["k19"][0]
        for r in (r1, r2):
            wait_stats(r, lambda s: link_down(s), timeout=REPL_TIMEOUT * 5,
                       what="%s seeing its primary gone" % r.addr)
        # The primary has dropped both (its sync set is empty now): still
        # nothing of the tail is visible there.
        wait_stats(p, lambda s: num(s, "connected_replicas") == 0, timeout=REPL_TIMEOUT * 5,
                   what="the primary dropping its replicas")
        seen = [look.cmd("GET_CHECKPOINT cut%d" % i) for i in range(timed_out)]
        sp = stats_of(p)
        self.assertEqual(seen, ["NULL"] * timed_out, "timed-out writes visible on the old primary "
                         "once it dropped its replicas")
        self.assertEqual(num(sp, "revision"), acked["k19"][0], repl.replication_rows(sp))
        # The operator's rule: among the replicas in the sync set, the one
        # with the highest durable revision.
        cands = [(num(s, "durable_revision"), r) for r in (r1, r2)
                 for s in [stats_of(r)] if s["in_sync_set"] == "1"]
        self.assertTrue(cands, "no replica reports in_sync_set:1")
        new = max(cands, key=lambda t: t[0])[1]
        other = r2 if new is r1 else r1
        self.assertEqual(promote(new), "OK")
        self.assertEqual(follow(other, new), "OK")
        nc = self.client(new)
        acked["post"] = (self.write(nc, "post", "y"), "y")  # acked by `other`
        # Everything acknowledged before the partition is on the new primary.
        self.assertEqual(contents(new), acked)
        self.cl.undrop(p.host, r1.host)
        self.cl.undrop(p.host, r2.host)
        self.assertEqual(follow(p, new), "OK")
        # Only the first timed-out write reached the log: it was held, and
        # the ones after it waited, unwritten, in the open batch behind it
        # (answered with the same "outcome unknown"), until the demotion
        # refused them. Whatever was cut is among what timed out.
        m = self.wait_log(p, DISCARDED_RE)
        # What it discards is exactly its durable tail past the common
        # point, and only that; whatever was cut is among what timed out.
        self.assertEqual((int(m.group(1)), int(m.group(2))), (tail, acked["k19"][0]))
        self.caught_up(p, new)
        self.caught_up(other, new)
        self.assertEqual(contents(p), acked)
        self.assertEqual(contents(other), acked)
        self.assertEqual(num(stats_of(p), "epoch"), epoch + 1)
        # The tail is among what timed out (only the first reached the log).
        self.assertGreaterEqual(tail, 1)
        self.assertLessEqual(tail, timed_out)

    def test_a_replica_isolated_writes_go_on_and_it_catches_up_after(self):
        p = self.primary(0, "--sync-replicas", "1")
        r1, r2 = self.replica(1, p), self.replica(2, p)
        c = self.client(p)
        c.sock.settimeout(REPL_TIMEOUT * 10)
        for i in range(10):
            self.write(c, "k%d" % i, "a")
        self.caught_up(r1, p)
        self.cl.isolate(r1.host)
        t0 = time.monotonic()
        for i in range(40):
            self.write(c, "k%d" % (i % 10), "b%d" % i)  # r2's ack suffices
        writing = time.monotonic() - t0
        wait_stats(p, lambda s: num(s, "connected_replicas") == 1, timeout=REPL_TIMEOUT * 5,
                   what="the primary dropping the silent replica")
        self.assertLess(writing, REPL_TIMEOUT * 3, "writes stalled behind the isolated replica")
        held = num(stats_of(r1), "durable_revision")
        mark = len(r1.stderr_lines)
        self.cl.heal(r1.host)
        # It asks again from what it holds, and the primary still has that
        # (held, or more: what the primary had sent before it dropped the
        # link may arrive once the link is back, before the replica sees
        # the old connection reset).
        m = self.wait_log(r1, PARTIAL_RE, timeout=REPL_TIMEOUT * 10, start=mark)
        self.assertGreaterEqual(int(m.group(1)), held)
        self.caught_up(r1, p, timeout=REPL_TIMEOUT * 10)
        self.assertSameContents(r1, p)
        self.assertSameContents(r2, p)
        wait_stats(p, lambda s: num(s, "connected_replicas") == 2, what="both replicas back")
        self.assertGreaterEqual(num(stats_of(p), "partial_syncs"), 3)

    def test_a_flapping_link_costs_no_acknowledged_write_and_converges(self):
        # --repl-timeout 1 here (a spurious drop under load is one more
        # flap), so that two flaps fit in 7 s.
        p = self.primary(0, "--sync-replicas", "1", repl_timeout=1)
        r1, r2 = self.replica(1, p, repl_timeout=1), self.replica(2, p, repl_timeout=1)
        c = self.client(p)
        c.sock.settimeout(REPL_TIMEOUT * 10)
        self.caught_up(r1, p)
        before = num(stats_of(p), "partial_syncs")
        # Down longer than --repl-timeout each time, so the link is dropped
        # and made again, not merely delayed.
        flap = self.cl.flap(r1.host, period=2 * (1 + 0.75), count=2)
        acked, i = {}, 0
        while flap.is_alive():
            acked["k%d" % (i % 25)] = (self.write(c, "k%d" % (i % 25), "v%d" % i), "v%d" % i)
            i += 1
        flap.join()
        self.assertIsNone(flap.error)
        self.assertGreater(i, 50)
        self.caught_up(r1, p, timeout=REPL_TIMEOUT * 10)
        self.caught_up(r2, p)
        self.assertEqual(contents(p), acked)
        self.assertSameContents(r1, p)
        self.assertSameContents(r2, p)
        self.assertGreaterEqual(num(stats_of(p), "partial_syncs") - before, 1,
                                "the link was never dropped and made again")

    def test_a_lossy_link_still_converges(self):
        p = self.primary(0, "--sync-replicas", "1")
        r = self.replica(1, p)
        self.caught_up(r, p)
        self.cl.netem(r.host, "loss 30%")  # skips, saying why, without sch_netem
        c = self.client(p)
        c.sock.settimeout(60)
        acked = {"k%d" % i: (self.write(c, "k%d" % i, "v%d" % i), "v%d" % i) for i in range(100)}
        self.caught_up(r, p, timeout=60)
        self.assertEqual(contents(r), acked)
        self.cl.clear_netem(r.host)


class TestAcl(ReplicationCase):
    HOSTS = 3

    def test_the_replication_role_is_needed_to_follow(self):
        tmp = tempfile.mkdtemp(prefix="ss-repl-acl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        users = {"admin": (password("admin"), "read,write,admin", "*"),
                 "repl": (password("repl"), "replication", "*"),
                 "rw": (password("rw"), "read,write", "*")}
        acl = write_file(os.path.join(tmp, "users.acl"), acl_text(users))
        good = write_file(os.path.join(tmp, "good.auth"), "repl %s\n" % users["repl"][0])
        bad = write_file(os.path.join(tmp, "bad.auth"), "rw %s\n" % users["rw"][0])
        p = self.primary(0, "--acl-file", acl)
        admin = ("admin", users["admin"][0])
        c = repl.auth(self.client(p), admin)
        self.write(c, "k", "v")
        r1 = self.replica(1, p, "--primary-auth-file", good)
        r2 = self.replica(2, p, "--primary-auth-file", bad, wait=False)
        wait_stats(r1, lambda s: num(s, "revision") == 1,
                   what="r1 following with the replication role")
        # The user without the role: NOPERM on REPLSYNC, in its log, and
        # it never follows.
        self.wait_log(r2, r"NOPERM")
        rw = repl.auth(self.client(p), ("rw", users["rw"][0]))
        self.assertEqual(rw.cmd("REPLSYNC 0 0 7000"),
                         "ERR NOPERM User rw has no permissions to run the 'replsync' command")
        self.assertEqual(rw.cmd("REPLICAOF NO ONE"),
                         "ERR NOPERM User rw has no permissions to run the 'replicaof' command")
        st = stats_of(p, admin)
        self.assertEqual(num(st, "connected_replicas"), 1, repl.replication_rows(st))
        s2 = stats_of(r2)
        self.assertTrue(link_down(s2), repl.replication_rows(s2))
        self.assertEqual(num(s2, "revision"), 0)


if __name__ == "__main__":
    unittest.main()
