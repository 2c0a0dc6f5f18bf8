"""The limits a daemon sets itself, and what a client sees at them: the
descriptor limit behind --max-clients (raised towards the hard limit, or
--max-clients lowered, and every refused client told why and counted)."""
import os
import resource
import socket
import unittest

from sstools.client import Client
from sstools.harness import DaemonTestCase

RESERVED = 32  # SS_RESERVED_FDS in src/server/server.c


def nofile(soft, hard):
    """A preexec_fn that sets RLIMIT_NOFILE in the daemon's process."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class DescriptorLimit(DaemonTestCase):
    AUTOSTART = False

    def start(self, soft, hard, max_clients=10000):
        d = self.new_daemon(args=("--max-clients", str(max_clients)))
        d.preexec_fn = nofile(soft, hard)
        return d.start()

    def clients_until_refused(self, d, n):
        """Opens n connections; returns (served, refused): a served one
        answers PING, a refused one reads the reason and then EOF."""
        served, refused = [], 0
        for _ in range(n):
            c = Client(d.port, 30)
            c.send("PING\n")
            line = c.readline()
            if line == "PONG":
                served.append(c)
                continue
            self.assertEqual([line] + c.wait_eof(), ["ERR max clients reached"])
            c.close()
            refused += 1
        self.clients += served
        return served, refused

    def test_a_low_hard_limit_lowers_max_clients_and_every_refusal_is_told_and_counted(self):
        d = self.start(128, 128)
        fit = 128 - RESERVED
        self.assertIn("--max-clients 10000 lowered to %d: the descriptor limit is 128 (hard "
                      "limit 128)" % fit, d.log())
        with d.connect() as probe:
            self.assertEqual(probe.stats()["max_clients"], str(fit))
            served, refused = self.clients_until_refused(d, 300)
            # The probe is one of the fit.
            self.assertEqual(len(served), fit - 1)
            self.assertEqual(refused, 300 - (fit - 1))
            self.assertEqual(probe.stats()["refused_connections"], str(refused))

    def soft_limit(self, pid):
        with open("/proc/%d/limits" % pid) as f:
            return int(next(l for l in f if l.startswith("Max open files")).split()[3])

    def test_the_soft_limit_is_raised_towards_the_hard_one(self):
        d = self.start(128, 20000)
        self.assertNotIn("lowered", d.log())
        self.assertEqual(self.soft_limit(d.proc.pid), 10000 + RESERVED)
        with d.connect() as probe:
            self.assertEqual(probe.stats()["max_clients"], "10000")
            served, refused = self.clients_until_refused(d, 300)
            self.assertEqual((len(served), refused), (300, 0))
        # Up to the hard limit when that is lower, and --max-clients fits in it.
        d = self.start(128, 4096)
        self.assertEqual(self.soft_limit(d.proc.pid), 4096)
        self.assertIn("--max-clients 10000 lowered to %d" % (4096 - RESERVED), d.log())

    def test_a_client_shed_for_want_of_descriptors_is_told_and_counted(self):
        """accept() failing with EMFILE: the connection is taken with the
        spare descriptor and refused with the same reply, not dropped."""
        d = self.new_daemon().start()
        probe = self.connect(d)
        self.assertEqual(probe.cmd("PING"), "PONG")
        # No descriptor left for a new connection (the spare is open).
        used = open_fds(d.proc.pid)
        hard = resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (used, hard))
        for _ in range(3):
            c = Client(d.port, 30)
            self.assertEqual(c.wait_eof(), ["ERR max clients reached"])
            c.close()
        stats = probe.stats()
        self.assertEqual(stats["refused_connections"], "3")
        self.assertEqual(stats["clients"], "1")
        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (used + 1, hard))
        self.assertEqual(self.connect(d).cmd("PING"), "PONG")


if __name__ == "__main__":
    unittest.main()
