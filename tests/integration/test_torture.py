"""kill -9 torture, short enough for every test run: the real daemon is
SIGKILLed at random moments (many of them during COMPACT) while writers
commit and CAS writers contend on shared pipelines, restarted on the same
data dir, and every key, every shared pipeline's history and the store's
revision are checked. The full run is scripts/torture.sh; this is the same
code with fewer cycles.

The checker itself is tested too, without a daemon: a model that did not
flag a lost write or a phantom would make the torture pass vacuously.
"""
import sys
import unittest

from sstools import torture
from sstools.torture_model import Key, Op, SharedPipeline, Violation

SEED = 20240917  # fixes the plan (triggers, ops); thread timing still varies


class KillNineTorture(unittest.TestCase):
    def test_no_acked_write_lost_and_no_phantom_across_kills_during_writes_and_compact(self):
        # About 10 s in the Release build under ctest, 20 s under ASan.
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
        # Kills that left a snapshot writer running, each restarted at once
        # (the run fails if a restart refuses the data directory).
        self.assertGreater(res.kills_with_writer, 0, report)
        self.assertGreater(res.acked, 0, report)
        # The CAS writers contended (CONFLICTs retried) and committed, and
        # every restart's histories were checked.
        self.assertEqual(res.double, 0, report)
        self.assertGreater(res.cas_acked, 0, report)
        self.assertGreater(res.cas_conflicts, 0, report)
        self.assertEqual(res.history_checks, cfg.cycles * cfg.shared_pipelines, report)
        self.assertGreaterEqual(res.revision, res.cas_acked, report)


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
