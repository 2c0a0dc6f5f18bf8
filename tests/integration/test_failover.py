"""The failover checker (tests/pylib/sstools/failover.py) in its short form:
ten failovers of a primary with two replicas and --sync-replicas 1, each a
kill -9 or (with network namespaces) a cut link under writers, CAS writers
and readers; every acknowledged write checked on the new primary. The long
form is `scripts/failover.sh --cycles 100`. Then the catch-up measurement
at 20k writes (the long form: `scripts/failover.sh --catch-up 1000000`).

The checker itself is tested too, without a daemon: one that did not flag
a lost write, a phantom, a dirty read, a stale epoch's acknowledgement or
an acknowledged write in a discarded tail would pass vacuously.
"""
import sys
import unittest

from sstools import failover
from sstools.cluster import available
from sstools.failover import Config, Failover, Key, Node

SEED = 20261207


class FailoverShortForm(unittest.TestCase):
    def test_ten_failovers_lose_no_acknowledged_write(self):
        cfg = Config(cycles=10, seed=SEED)
        res = failover.run(cfg)
        shown = [v for kind in sorted(res.kinds)
                 for v in [v for v in res.violations if v.startswith(kind + ":")][:5]]
        report = "%s\n%s\noperator:\n%s\n%s" % (res.summary(), "\n".join(shown),
                                             "\n".join(res.decisions), res.logs)
        print("\n" + res.summary(), file=sys.stderr)
        self.assertEqual(res.violations, [], report)
        self.assertEqual(res.cycles, cfg.cycles, report)
        # The run tested something: writes of both kinds were acknowledged
        # and checked, readers read, the monitor sampled, and both faults
        # happened where namespaces allow a partition.
        self.assertGreater(res.acked, 0, report)
        self.assertGreater(res.cas_acked, 0, report)
        self.assertEqual(res.checked_exact + res.checked_superseded, res.acked + res.cas_acked, report)
        self.assertGreater(res.reads, 0, report)
        self.assertGreater(res.samples, 0, report)
        self.assertGreater(res.faults["kill"], 0, report)
        if available():
            self.assertGreater(res.faults["partition"], 0, report)


class CatchUpShortForm(unittest.TestCase):
    def test_a_replica_catches_up_20k_writes_by_partial_then_full_sync(self):
        lines = []
        res = failover.catch_up(20000, keys=5000, out=lines.append)
        print("\n" + "\n".join(lines), file=sys.stderr)
        self.assertIn("partial sync from revision", res["partial_line"])
        self.assertIn("full sync of", res["full_line"])
        self.assertEqual(res["revision"], 40000)


class FakeClient:
    """HISTORY_CHECKPOINT replies from a dict: name -> [(rev, value)]."""

    def __init__(self, hist):
        self.hist, self.lines = hist, []

    def send(self, data):
        name = data.decode().split()[1]
        self.lines = ["%d 0 %s" % rv for rv in self.hist.get(name, [])] + ["END"]

    def readline(self):
        return self.lines.pop(0)

    def close(self):
        pass


class CheckerFindsViolations(unittest.TestCase):
    def checker(self):
        f = Failover(Config())
        k = Key("w0k0")
        f.keys[k.name] = k
        return f, k

    def sent(self, k, *seqs):
        k.sent.update(seqs)

    def kinds(self, f):
        return sorted(f.res.kinds)

    def test_an_acknowledged_write_missing_is_lost(self):
        f, k = self.checker()
        self.sent(k, 1, 2)
        k.acked = [(1, 5), (2, 6)]
        f.check_key(0, FakeClient({"w0k0": [(5, "w0.1")]}), k)
        self.assertEqual(self.kinds(f), ["lost"])

    def test_an_acknowledged_write_at_another_revision_is_lost(self):
        f, k = self.checker()
        self.sent(k, 1)
        k.acked = [(1, 5)]
        f.check_key(0, FakeClient({"w0k0": [(7, "w0.1")]}), k)
        self.assertEqual(self.kinds(f), ["lost"])

    def test_all_acknowledged_in_history_passes_and_counts(self):
        f, k = self.checker()
        self.sent(k, 1, 2, 3)
        k.acked = [(1, 5), (2, 6)]  # 3's outcome unknown, and durable
        f.check_key(0, FakeClient({"w0k0": [(9, "w0.3"), (6, "w0.2"), (5, "w0.1")]}), k)
        self.assertEqual(f.res.violations, [])
        self.assertEqual(f.res.checked_exact, 2)
        self.assertEqual(k.floor, 3)
        # ... and what was shown must stay.
        f.check_key(1, FakeClient({"w0k0": [(6, "w0.2")]}), k)
        self.assertEqual(self.kinds(f), ["lost"])

    def test_a_value_never_sent_or_another_writers_is_a_phantom(self):
        for value in ("w0.9", "w1.1", "x"):
            f, k = self.checker()
            self.sent(k, 1)
            f.check_key(0, FakeClient({"w0k0": [(3, value)]}), k)
            self.assertEqual(self.kinds(f), ["phantom"], value)

    def test_a_value_read_then_gone_is_a_dirty_read(self):
        f, k = self.checker()
        self.sent(k, 1, 2)
        k.acked = [(1, 5)]
        k.seen = [(2, "n1")]  # read, never acknowledged, not on the new primary
        f.check_key(0, FakeClient({"w0k0": [(5, "w0.1")]}), k)
        self.assertEqual(self.kinds(f), ["dirty"])

    def test_an_ack_after_a_newer_epoch_was_promoted_is_stale(self):
        f, _ = self.checker()
        f.nodes = []
        f.promoted_at = {2: 100.0}
        f.acks = [("w0k0", 1, 5, "n0", 1, 99.0), ("w0k0", 2, 6, "n0", 1, 101.0),
                  ("w0k0", 3, 7, "n1", 2, 102.0)]
        # check()'s epoch part only: no keys, no nodes to list.
        f.keys = {}
        f.check(0, None, FakeNode())
        self.assertEqual(self.kinds(f), ["stale_epoch"])
        self.assertIn("rev 6", f.res.violations[0])

    def test_an_acknowledged_write_in_a_discarded_tail_is_reported(self):
        f, _ = self.checker()
        old = Node("n0", FakeDaemon([b"replica: discarded 2 records after revision 6\n"]))
        f.owned = {"n0": [(5, "w0k0"), (6, "w0k0"), (7, "w0k1")]}
        f.tail_check(old, 0, 0, old)
        self.assertEqual(self.kinds(f), ["tail"])
        self.assertEqual((f.res.truncations, f.res.discarded), (1, 2))
        f2, _ = self.checker()
        f2.owned = {"n0": [(5, "w0k0"), (6, "w0k0")]}
        f2.tail_check(old, 0, 0, old)
        self.assertEqual(f2.res.violations, [])

    def test_two_cas_from_one_revision_are_a_double_success(self):
        f, _ = self.checker()
        f.cas = {"cas0": {}}
        f.cas_revs, f.cas_sent = {"cas0": {}}, {"cas0": set()}
        f.open, f.stop = True, failover.threading.Event()
        replies = iter(["3 c0.1", "OK 4", "3 c0.1", "OK 5"])

        class C:
            def cmd(self, line):
                return next(replies)
        node = Node("n0", None)
        conn = (C(), node, 1)
        rng = failover.random.Random(1)
        conn, seq = f.cas_one(0, rng, conn, 0)
        f.cas_one(0, rng, conn, seq)
        self.assertEqual(self.kinds(f), ["double"])


class FakeDaemon:
    def __init__(self, lines):
        self.stderr_lines = lines
        self.addr = "fake"


class FakeNode:
    class d:
        @staticmethod
        def connect(timeout):
            return FakeClient({})


if __name__ == "__main__":
    unittest.main()
