"""kill -9 under concurrent writers, over and over.

Writer threads, each on its own connection, SET their own name to
increasing integers, with a few requests in flight. The test SIGKILLs the
daemon after a random number of acknowledgements, restarts it on the same
data dir, and checks every writer's name: its value is at least the last
one acknowledged with OK (nothing acknowledged lost) and at most the last
one sent (no phantom value). Then the next cycle continues from there.

SS_TEST_SEED reproduces a run's kill points; SS_CRASH_CYCLES changes the
number of cycles (default 30 for plain kills, 15 with compaction).
"""
import os
import random
import socket
import threading
import unittest

from sstools.harness import DaemonTestCase

SEED = int(os.environ.get("SS_TEST_SEED") or random.randrange(1 << 30))
CYCLES = int(os.environ.get("SS_CRASH_CYCLES") or 30)
WRITERS = 8
WINDOW = 4  # requests each writer keeps in flight


class Writer(threading.Thread):
    """SETs name to next, next+1, ... with up to WINDOW requests in flight,
    until the connection breaks. last_sent is raised before the bytes go
    out, so it bounds anything the daemon can have received."""

    def __init__(self, port, name, first, acks, acks_cond):
        super().__init__(daemon=True)
        self.port, self.name, self.next = port, name, first
        self.last_acked = None
        self.last_sent = None
        self.error = None
        self.acks, self.acks_cond = acks, acks_cond
        self.sock = None

    def run(self):
        try:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = []
            buf = b""
            while True:
                while len(pending) < WINDOW:
                    v = self.next
                    self.next += 1
                    pending.append(v)
                    self.last_sent = v
                    self.sock.sendall(b"SET_CHECKPOINT %s %d\n" % (self.name.encode(), v))
                while b"\n" not in buf:
                    chunk = self.sock.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    v = pending.pop(0)
                    if line != b"OK":
                        self.error = "SET %s %d got %r" % (self.name, v, line)
                        return
                    self.last_acked = v
                    with self.acks_cond:
                        self.acks[0] += 1
                        self.acks_cond.notify_all()
        except ConnectionError:  # reset, broken pipe, refused: the kill
            return
        except Exception as e:  # reported by the test
            self.error = repr(e)
        finally:
            if self.sock:
                self.sock.close()


class Compactor(threading.Thread):
    """Issues COMPACT over and over on its own connection until the
    connection breaks, so kills land before, during and after compactions."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.done = 0
        self.error = None

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
                f = s.makefile("rb")
                while True:
                    s.sendall(b"COMPACT\n")
                    line = f.readline()
                    if not line:
                        return
                    if line != b"OK\n":
                        self.error = "COMPACT got %r" % line
                        return
                    self.done += 1
        except ConnectionError:
            return
        except Exception as e:
            self.error = repr(e)


class TestKill9UnderLoad(DaemonTestCase):
    def run_cycles(self, cycles, compact):
        rng = random.Random(SEED)
        names = ["writer-%d" % i for i in range(WRITERS)]
        floor = {n: None for n in names}  # value seen after the last restart
        next_value = {n: 1 for n in names}
        compactions = 0
        for cycle in range(cycles):
            acks, cond = [0], threading.Condition()
            writers = [Writer(self.d.port, n, next_value[n], acks, cond) for n in names]
            threads = writers + ([Compactor(self.d.port)] if compact else [])
            for t in threads:
                t.start()
            target = rng.randrange(1, 300)
            with cond:
                reached = cond.wait_for(lambda: acks[0] >= target or not any(w.is_alive() for w in writers),
                                        60)
            self.assertTrue(reached, "cycle %d: writers stalled at %d acks (seed %d)" % (cycle, acks[0], SEED))
            self.d.kill()
            for t in threads:
                t.join(60)
                self.assertFalse(t.is_alive(), "client thread hung after kill -9")
                self.assertIsNone(t.error, "cycle %d: %s (seed %d)" % (cycle, t.error, SEED))
            if compact:
                compactions += threads[-1].done
            self.assertGreaterEqual(acks[0], target, "cycle %d (seed %d)" % (cycle, SEED))
            self.d.start()
            c = self.connect()
            for w in writers:
                got = c.cmd("GET_CHECKPOINT " + w.name)
                where = "cycle %d %s: acked %s, sent %s, stored %s (seed %d)" % (
                    cycle, w.name, w.last_acked, w.last_sent, got, SEED)
                if w.last_sent is None:  # sent nothing this cycle
                    self.assertEqual(got, "NULL" if floor[w.name] is None else str(floor[w.name]), where)
                    continue
                if got == "NULL" and w.last_acked is None and floor[w.name] is None:
                    # Sent, but killed before any of it was committed.
                    next_value[w.name] = w.last_sent + 1
                    continue
                self.assertRegex(got, r"^[0-9]+$", where)
                v = int(got)
                if w.last_acked is not None:
                    self.assertGreaterEqual(v, w.last_acked, "acknowledged SET lost: " + where)
                elif floor[w.name] is not None:
                    self.assertGreaterEqual(v, floor[w.name], "older value came back: " + where)
                self.assertLessEqual(v, w.last_sent, "value never sent: " + where)
                floor[w.name] = v
                next_value[w.name] = w.last_sent + 1
            c.close()
        self.assertTrue(all(floor.values()), "some writer never got a value stored (seed %d)" % SEED)
        if compact:
            # The test's own sanity: compactions did run around the kills.
            # How many fit in a cycle depends on the machine, so no rate.
            self.assertGreater(compactions, 0, "no compaction completed (seed %d)" % SEED)

    def test_acknowledged_sets_survive_kill9_and_nothing_unsent_appears(self):
        self.run_cycles(CYCLES, compact=False)

    def test_kill9_during_compactions_loses_nothing(self):
        """The same, with COMPACT running all the time: a kill during a
        compaction leaves the old log or the new one, complete, and appends
        made after a compaction went to the log that replay reads."""
        self.run_cycles(max(1, CYCLES // 2), compact=True)


class TestKill9UnderLoadWithSyncThread(TestKill9UnderLoad):
    """The same, with each batch's fdatasync on the helper thread and the
    next batch gathered meanwhile (--sync-thread)."""
    DAEMON_ARGS = ("--sync-thread",)


if __name__ == "__main__":
    unittest.main()
