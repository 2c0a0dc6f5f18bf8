"""kill -9 torture, short enough for every test run: the real daemon is
SIGKILLed at random moments (many of them during COMPACT) while writers
commit, CAS writers contend on shared pipelines and RESP writers commit
MULTI/EXEC transactions, restarted on the same data dir, and every key,
every transaction, every shared pipeline's history and the store's revision
are checked; so is every BACKUP directory a kill left (sent now and then,
some killed inside). The full run is scripts/torture.sh; this is the same
code with fewer cycles.

The checker itself is tested too, without a daemon: a model that did not
flag a lost write or a phantom would make the torture pass vacuously.
"""
import re
import shutil
import sys
import unittest
from contextlib import closing

from sstools import torture
from sstools.torture_model import (Key, Op, SharedPipeline, Status, TxnModel, Violation,
                                   parse_txn_value)

SEED = 20240917  # fixes the plan (triggers, ops); thread timing still varies


class KillNineTorture(unittest.TestCase):
    def test_no_acked_write_lost_and_no_phantom_across_kills_during_writes_and_compact(self):
        # About 12 s in the Release build under ctest (2 vCPUs).
        cfg = torture.Config(cycles=100, max_delay=0.1, max_acks=500, seed=SEED)
        res = torture.run(cfg)
        report = "%s\n%s\n%s" % (res.summary(), "\n".join(res.violations[:20]), res.daemon_log)
        print("\n" + res.summary(), file=sys.stderr)
        self.assertEqual(res.violations, [], report)
        self.assertEqual(res.cycles, cfg.cycles, report)
        self.assertEqual(res.lost, 0, report)
        self.assertEqual(res.phantoms, 0, report)
        # The cycles whose trigger is "kill right after sending COMPACT"
        # make this all but certain; a run without one tested too little.
        self.assertGreater(res.kills_during_compact, 0, report)
        # Kills inside a compaction (its temp file left), each restarted at
        # once (the run fails if a restart does not start), and some of
        # them during the walk of the table (the temp file still empty).
        # With the snapshot's sync slowed, a compaction runs most of the
        # time: about 85 of 100 kills land inside one, 15-25 in the walk.
        self.assertGreater(res.kills_mid_compaction, 0, report)
        self.assertGreater(res.kills_mid_walk, 0, report)
        self.assertGreater(res.acked, 0, report)
        # The CAS writers contended (CONFLICTs retried) and committed, and
        # every restart's histories were checked.
        self.assertEqual(res.double, 0, report)
        self.assertGreater(res.cas_acked, 0, report)
        self.assertGreater(res.cas_conflicts, 0, report)
        self.assertEqual(res.history_checks, cfg.cycles * cfg.shared_pipelines, report)
        self.assertGreaterEqual(res.revision, res.cas_acked, report)
        # MULTI/EXEC: transactions committed and were read (MGET) while
        # others were written; at the kills some were in flight, and each of
        # those was found whole or absent, never in part.
        self.assertEqual(res.partial, 0, report)
        self.assertGreater(res.txn_acked, 0, report)
        self.assertGreater(res.txn_reads, 0, report)
        self.assertGreater(res.txn_in_flight, 0, report)
        self.assertEqual(res.txn_whole + res.txn_absent, res.txn_in_flight, report)
        # Both outcomes, at a hundred kills all but certain: a run without
        # one of them checked that branch too little.
        self.assertGreater(res.txn_whole, 0, report)
        self.assertGreater(res.txn_absent, 0, report)
        # BACKUP: some completed and were restored and checked after their
        # kill, and some kills landed inside one (its DIR.partial left, no
        # DIR). About 25 sent, 6 checked and 13 mid-backup here.
        self.assertGreater(res.kills["backup"], 0, report)
        self.assertGreater(res.backups_checked, 0, report)
        self.assertGreater(res.kills_mid_backup, 0, report)


class PartialTransactionInjected(torture.Torture):
    """The torture with one transaction cut in part after a restart, by
    hand: the newest transaction a RESP writer's keys show is deleted from
    one of them (through the text protocol) before the keys are checked."""

    injected = None
    injected_key = None

    def verify(self):
        if self.injected is None:
            m = self.txns[0]
            with closing(self.daemon.connect(torture.IO_TIMEOUT)) as c:
                shown = [c.cmd("GET_CHECKPOINT %s" % n) for n in m.names]
                tids = [0 if v == "NULL" else parse_txn_value(v)[0] for v in shown]
                top = max(tids)
                if top:  # on 2 or more keys: the newest shown, so shown whole
                    k = tids.index(top)
                    self.assertEqual(c.cmd("DEL_CHECKPOINT %s" % m.names[k]), "1")
                    self.injected = top
                    self.injected_key = k
        super().verify()

    def assertEqual(self, got, want):
        if got != want:
            raise AssertionError("%r != %r" % (got, want))


class TortureReportsAPartialTransaction(unittest.TestCase):
    def test_a_transaction_cut_in_part_after_a_restart_is_reported(self):
        cfg = torture.Config(cycles=20, writers=1, cas_writers=0, ballast=0, max_delay=0.05,
                             max_acks=50, snapshot_delay=0, seed=SEED)
        t = PartialTransactionInjected(cfg)
        res = t.run()
        try:
            self.assertIsNotNone(t.injected, res.summary())
            self.assertEqual(res.partial, 1, "%s\n%s" % (res.summary(), res.violations))
            self.assertEqual(len(res.violations), 1, res.violations)
            # The cut shows on the newest transaction, and on any older one
            # still shown elsewhere that also wrote the deleted key; the
            # checker names the oldest such (torture_model._partial), with
            # that key absent.
            m = re.search(r"partial: torture-txn0: after the restart txn (\d+) on keys \[[0-9, ]*\] "
                          r"but older on keys \[[0-9, ]*\] \((?:[^)]*, )?k%d: absent\b" % t.injected_key,
                          res.violations[0])
            self.assertIsNotNone(m, res.violations[0])
            self.assertLessEqual(int(m.group(1)), t.injected, res.violations[0])
            self.assertLess(res.cycles, cfg.cycles)  # the run stopped there
        finally:
            shutil.rmtree(res.data_dir, ignore_errors=True)
            if res.backup_dir:
                shutil.rmtree(res.backup_dir, ignore_errors=True)


def set_op(value, ttl=None):
    return Op("SET", value, ttl, sent_at=0.0)


class TortureChecker(unittest.TestCase):
    """The per-key check against what a restart shows."""

    def acked(self, key, op, reply="OK"):
        key.send(op)
        key.ack(op, reply)

    def assertViolation(self, kind, call, *args, **kw):
        """call(*args, **kw) raises a Violation of that kind."""
        with self.assertRaises(Violation) as cm:
            call(*args, **kw)
        self.assertEqual(cm.exception.kind, kind)

    def test_a_value_older_than_the_acked_one_is_a_lost_write(self):
        k = Key("k")
        self.acked(k, set_op(1))
        self.acked(k, set_op(2))
        self.assertViolation("lost", k.check, "1", "-1", now=1.0)

    def test_absence_after_an_acked_set_is_a_lost_write(self):
        k = Key("k")
        self.acked(k, set_op(5))
        self.assertViolation("lost", k.check, "NULL", "-2", now=1.0)

    def test_a_value_back_after_an_acked_del_is_a_lost_write(self):
        k = Key("k")
        self.acked(k, set_op(5))
        self.acked(k, Op("DEL"), reply="1")
        self.assertViolation("lost", k.check, "5", "-1", now=1.0)

    def test_a_value_never_sent_is_a_phantom(self):
        k = Key("k")
        self.acked(k, set_op(5))
        self.assertViolation("phantom", k.check, "6", "-1", now=1.0)

    def test_an_in_flight_value_found_not_durable_must_not_come_back(self):
        k = Key("k")
        self.acked(k, set_op(5))
        k.send(set_op(6))  # killed before the reply
        self.assertEqual(k.check("5", "-1", now=1.0), 0)
        self.assertViolation("phantom", k.check, "6", "-1", now=2.0)

    def test_any_prefix_of_the_in_flight_ops_is_accepted(self):
        for shown, durable in (("5", 0), ("6", 1), ("NULL", 2), ("7", 3)):
            k = Key("k")
            self.acked(k, set_op(5))
            for op in (set_op(6), Op("DEL"), set_op(7, ttl=3600)):
                k.send(op)
            ttl = {"5": "-1", "6": "-1", "NULL": "-2", "7": "3600"}[shown]
            self.assertEqual(k.check(shown, ttl, now=1.0), durable, shown)
            self.assertEqual(k.pending, [])

    def test_a_state_seen_after_a_restart_must_survive_the_next_one(self):
        k = Key("k")
        self.acked(k, set_op(5))
        k.send(set_op(6))
        k.check("6", "-1", now=1.0)  # durable though never acknowledged
        self.assertViolation("lost", k.check, "5", "-1", now=2.0)

    def test_ttl_must_be_kept_not_extended_and_cleared_by_a_plain_set(self):
        k = Key("k")
        self.acked(k, set_op(5, ttl=3600))
        for ttl in ("-1", "3601", "100"):
            with self.assertRaises(Violation, msg=ttl):
                k.check("5", ttl, now=10.0)
        self.assertEqual(k.check("5", "3591", now=10.0), 0)
        self.acked(k, set_op(6))
        with self.assertRaises(Violation):
            k.check("6", "3000", now=10.0)

    def test_a_large_value_must_come_back_whole(self):
        k = Key("k")
        op = Op("SET", 5, sent_at=0.0, pad=5000)
        self.acked(k, op)
        for damaged in (op.text()[:-1], op.text()[:-1] + "x", "5"):
            self.assertViolation("phantom", k.check, damaged, "-1", now=1.0)
        self.assertEqual(k.check(op.text(), "-1", now=1.0), 0)

    def test_a_value_a_reader_saw_must_survive_the_restart(self):
        k = Key("k")
        self.acked(k, set_op(5))
        k.send(set_op(6))  # in flight at the kill, yet a reader saw it
        k.saw("6", k.read_floor())
        self.assertViolation("dirty", k.check, "5", "-1", now=1.0)

    def test_a_reader_must_not_see_a_value_older_than_an_acked_write(self):
        k = Key("k")
        self.acked(k, set_op(5))
        floor = k.read_floor()
        self.acked(k, set_op(6))
        k.saw("5", floor)  # GET sent before the newer ack: fine
        with self.assertRaises(Violation):
            k.saw("5", k.read_floor())
        self.assertViolation("phantom", k.saw, "7", k.read_floor())

    def test_a_wrong_del_reply_is_a_violation(self):
        k = Key("k")
        op = Op("DEL")
        k.send(op)
        with self.assertRaises(Violation):
            k.ack(op, "1")  # nothing existed


class TransactionChecker(unittest.TestCase):
    """The RESP writers' transactions: replies, reads, and what a restart
    shows. Keys are numbered 0..3, a transaction by its number (0: absent)."""

    def model(self):
        return TxnModel("t", 4)

    def shown(self, m, tids):
        return [m.value(tid, k) for k, tid in enumerate(tids)]

    def acked(self, m, keys, **kw):
        t = m.send(keys, **kw)
        get = [] if t.get is None else [t.get[2]]
        m.ack(t, [Status("OK")] * (t.watch + 1) + [Status("QUEUED")] * t.ncommands(),
              [Status("OK")] * len(keys) + get)
        return t

    def assertViolation(self, kind, call, *args):
        with self.assertRaises(Violation) as cm:
            call(*args)
        self.assertEqual(cm.exception.kind, kind, cm.exception.text)

    def test_an_in_flight_transaction_found_in_part_is_reported(self):
        m = self.model()
        self.acked(m, [0, 1, 2, 3])  # txn 1
        m.send([0, 1, 2])            # txn 2, in flight at the kill
        self.assertViolation("partial", m.check, self.shown(m, [2, 2, 1, 1]))
        self.assertViolation("partial", m.check, self.shown(m, [1, 1, 2, 1]))

    def test_an_acked_transaction_found_in_part_is_reported(self):
        m = self.model()
        self.acked(m, [1, 3])
        self.assertViolation("partial", m.check, self.shown(m, [0, 1, 0, 0]))

    def test_an_in_flight_transaction_whole_or_absent_is_accepted(self):
        for tids, counts in (([2, 2, 2, 1], (1, 0)), ([1, 1, 1, 1], (0, 1))):
            m = self.model()
            self.acked(m, [0, 1, 2, 3])
            m.send([2, 0, 1])
            self.assertEqual(m.check(self.shown(m, tids)), counts)
            self.assertEqual(m.pending, [])

    def test_an_absent_transaction_must_not_come_back(self):
        m = self.model()
        self.acked(m, [0, 1])
        m.send([0, 1])
        self.assertEqual(m.check(self.shown(m, [1, 1, 0, 0])), (0, 1))
        self.assertViolation("phantom", m.check, self.shown(m, [2, 2, 0, 0]))

    def test_an_acked_transaction_lost_whole_is_a_lost_write(self):
        m = self.model()
        self.acked(m, [0, 1])
        self.acked(m, [0, 1])
        self.assertViolation("lost", m.check, self.shown(m, [1, 1, 0, 0]))
        self.assertViolation("lost", m.check, self.shown(m, [0, 0, 0, 0]))

    def test_pipelined_transactions_durable_as_a_prefix_only(self):
        def model():
            m = self.model()
            self.acked(m, [0, 1, 2])  # txn 1
            m.send([0, 1])            # txn 2
            m.send([1, 2])            # txn 3
            return m
        for tids, counts in (([1, 1, 1, 0], (0, 2)), ([2, 2, 1, 0], (1, 1)),
                             ([2, 3, 3, 0], (2, 0))):
            m = model()
            self.assertEqual(m.check(self.shown(m, tids)), counts, tids)
        # Txn 3 durable, txn 2 before it not: not in part, but out of order.
        m = model()
        self.assertViolation("other", m.check, self.shown(m, [1, 3, 3, 0]))
        # Overwritten on every key by a later durable one: whole all the same.
        m = self.model()
        m.send([0, 1])
        m.send([1, 0])
        self.assertEqual(m.check(self.shown(m, [2, 2, 0, 0])), (2, 0))

    def test_a_value_never_sent_to_the_key_is_a_phantom(self):
        m = self.model()
        self.acked(m, [0, 1], pad=3000)
        good = self.shown(m, [1, 1, 0, 0])
        for k, bad in ((2, m.value(1, 0)),                     # txn 1 never wrote key 2
                       (0, m.value(1, 1)),                     # key 1's value on key 0
                       (0, good[0][:-1]), (0, "2.0"), (0, "x")):
            shown = list(good)
            shown[k] = bad
            self.assertViolation("phantom", m.check, shown)
        self.assertEqual(m.check(good), (0, 0))

    def test_a_reader_must_never_see_a_transaction_in_part(self):
        m = self.model()
        self.acked(m, [0, 1])
        floor = m.read_floor()
        m.send([0, 1, 2])
        m.saw(self.shown(m, [1, 1, 0, 0]), floor)
        m.saw(self.shown(m, [2, 2, 2, 0]), floor)
        self.assertViolation("partial", m.saw, self.shown(m, [2, 1, 2, 0]), floor)
        self.assertViolation("partial", m.saw, self.shown(m, [2, 2, 0, 0]), floor)
        self.assertViolation("other", m.saw, self.shown(m, [0, 0, 0, 0]), floor)  # stale

    def test_a_transaction_a_reader_saw_must_survive_the_restart(self):
        m = self.model()
        self.acked(m, [0, 1])
        m.send([0, 1])
        m.saw(self.shown(m, [2, 2, 0, 0]), m.read_floor())
        self.assertViolation("dirty", m.check, self.shown(m, [1, 1, 0, 0]))

    def test_exec_must_answer_ok_per_set(self):
        ok, queued = Status("OK"), Status("QUEUED")
        for before, after in (([ok, queued], None),              # WATCH-broken nil
                              ([ok, queued], [ok, ok]),          # one reply too many
                              ([ok, queued], ["OK"]),            # a bulk, not +OK
                              ([ok, Status("ERR")], [ok]),       # not QUEUED
                              ([ok], [ok])):                     # a QUEUED missing
            m = TxnModel("t", 1)
            t = m.send([0])
            self.assertViolation("other", m.ack, t, before, after)
        m = TxnModel("t", 1)
        m.ack(m.send([0]), [ok, queued], [ok])
        self.assertEqual(m.base, [1])

    def test_a_queued_get_must_answer_the_staged_state(self):
        m = self.model()
        self.acked(m, [0, 1])                     # txn 1
        t = m.send([1, 2], get=(0, 1))            # GET k1 before txn 2's SET k1
        self.assertEqual(t.get[2], m.value(1, 1))
        u = m.send([1, 2], get=(1, 1))            # after txn 3's own SET k1
        self.assertEqual(u.get[2], m.value(3, 1))
        v = m.send([0, 1], get=(2, 3))            # a key never written
        self.assertIsNone(v.get[2])
        w = m.send([0, 1], get=(0, 2))            # txn 3's, still in flight
        self.assertEqual(w.get[2], m.value(3, 2))
        replies = [Status("OK")] + [Status("QUEUED")] * 3
        self.assertViolation("other", m.ack, t, replies, [m.value(0, 1), Status("OK"),
                                                          Status("OK")])


class SharedPipelineChecker(unittest.TestCase):
    """The CAS writers' checks, on replies and on what a restart shows."""

    def pipeline(self, revs=None):
        return SharedPipeline("p", {} if revs is None else revs)

    def acked(self, p, value, exp, rev):
        p.send(value, exp)
        p.ack(value, exp, rev)

    def assertViolation(self, kind, call, *args):
        with self.assertRaises(Violation) as cm:
            call(*args)
        self.assertEqual(cm.exception.kind, kind)

    def test_two_acked_cas_from_one_expected_revision_are_a_double_success(self):
        p = self.pipeline()
        self.acked(p, "a", 0, 1)
        p.send("b", 0)
        self.assertViolation("double", p.ack, "b", 0, 2)

    def test_a_revision_acked_twice_across_pipelines_is_a_double_success(self):
        revs = {}
        p, q = self.pipeline(revs), SharedPipeline("q", revs)
        self.acked(p, "a", 0, 1)
        q.send("b", 0)
        self.assertViolation("double", q.ack, "b", 0, 1)

    def test_a_conflict_naming_the_expected_revision_is_wrong(self):
        self.assertViolation("other", self.pipeline().conflict, 3, 3)

    def test_every_acked_revision_within_the_depth_must_be_in_the_history(self):
        p = self.pipeline()
        for rev, value in ((1, "a"), (2, "b"), (3, "c")):
            self.acked(p, value, rev - 1, rev)
        full = [(3, 9, "c"), (2, 8, "b"), (1, 7, "a")]
        self.assertEqual(p.check(full, 2), 0)
        self.assertViolation("lost", p.check, [(3, 9, "c"), (1, 7, "a")], 2)
        self.assertViolation("lost", p.check, [(2, 8, "b"), (1, 7, "a")], 2)
        # Depth 1: revision 1 is beyond it, the other two must be there.
        self.assertEqual(p.check([(3, 9, "c"), (2, 8, "b")], 1), 0)

    def test_a_version_not_written_from_the_one_below_it_is_a_double_success(self):
        p = self.pipeline()
        self.acked(p, "a", 0, 1)
        p.send("b", 0)  # in flight at the kill, from absent: it must have failed
        self.assertViolation("double", p.check, [(2, 9, "b"), (1, 8, "a")], 4)

    def test_an_unacked_version_shown_after_a_restart_must_stay(self):
        p = self.pipeline()
        self.acked(p, "a", 0, 1)
        p.send("b", 1)  # in flight at the kill, durable all the same
        self.assertEqual(p.check([(2, 9, "b"), (1, 8, "a")], 4), 1)
        self.assertViolation("lost", p.check, [(1, 8, "a")], 4)

    def test_a_value_never_sent_or_another_value_for_a_revision_is_caught(self):
        p = self.pipeline()
        self.acked(p, "a", 0, 1)
        self.assertViolation("phantom", p.check, [(1, 8, "zz")], 4)
        p.send("b", 0)
        self.assertViolation("lost", p.check, [(1, 8, "b")], 4)


if __name__ == "__main__":
    unittest.main()
