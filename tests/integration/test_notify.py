"""systemd's notify protocol, with this test playing systemd: it binds a
unix datagram socket, starts the real daemon with NOTIFY_SOCKET pointing at
it, and reads what arrives (src/server/notify.c).

The order is the contract a Type=notify unit relies on: STATUS=replaying
first, READY=1 only once the log is replayed and the port accepts, WATCHDOG=1
every WATCHDOG_USEC/2 while the loop runs, STOPPING=1 when a shutdown
begins. And a manager that is absent or unreachable changes nothing: the
daemon serves.

The last test runs `systemd-analyze verify` on scripts/statestored.service
where that command exists.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from sstools import harness
from sstools.harness import DaemonTestCase, wait_until
from sstools.notify import Manager

MANAGER_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def setUpModule():
    # The harness starts daemons with this process's environment: a test
    # run that is itself a systemd service must not hand its own manager's
    # socket to them.
    for name in MANAGER_VARS:
        os.environ.pop(name, None)


class NotifyTest(DaemonTestCase):
    AUTOSTART = False

    def setUp(self):
        super().setUp()
        self.managers = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for m in self.managers:
                m.close()

    def manager(self, abstract=False):
        m = Manager(abstract)
        self.managers.append(m)
        return m

    def start(self, env, data_dir=None):
        """Starts a daemon without waiting for its log: READY=1 is what the
        tests wait for."""
        return self.new_daemon(data_dir=data_dir, env=env).start(expect_ready=False)

    def ping(self, d):
        self.assertTrue(wait_until(lambda: d.port is not None, 30), d.log())
        self.assertEqual(self.connect(d).call("PING"), "PONG")

    def test_status_replaying_then_ready_once_the_port_accepts(self):
        m = self.manager()
        d = self.start({"NOTIFY_SOCKET": m.address})
        ready = m.until("READY")
        self.assertEqual(ready["READY"], "1")
        self.assertEqual(ready["MAINPID"], str(d.proc.pid))
        self.assertEqual(ready["STATUS"], "ready: 0 entries, revision 0")
        # The listener was started before READY=1 was sent: connecting
        # now must work (the port comes from the log line printed before).
        self.ping(d)
        self.assertEqual(len(m.messages), 2, m.messages)
        self.assertTrue(m.messages[0]["STATUS"].startswith("replaying the log in "), m.messages)

    def test_ready_comes_only_after_a_long_replay(self):
        n = 200000
        m = self.manager()
        d = self.new_daemon().start()
        lines = "".join("SET_CHECKPOINT p%d %d\n" % (i, i) for i in range(n))
        r = subprocess.run([harness.binary("statestore-cli"), "-p", str(d.port)],
                           input=lines.encode(), capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(d.stop(), 0)

        d.env = {"NOTIFY_SOCKET": m.address}
        d.start(expect_ready=False)
        status = m.until("STATUS")
        self.assertTrue(status["STATUS"].startswith("replaying the log in "), status)
        self.assertNotIn("READY", status)
        ready = m.until("READY")
        # What READY=1 reports is the replayed state, so the replay was
        # over when it was sent.
        self.assertEqual(ready["STATUS"], "ready: %d entries, revision %d" % (n, n))
        replayed = d.wait_log(r"replayed (\d+) records", timeout=10)
        self.assertIsNotNone(replayed, d.log())
        self.assertEqual(int(replayed.group(1)), n)
        self.ping(d)

    def test_stopping_on_sigterm_before_the_exit(self):
        m = self.manager()
        d = self.start({"NOTIFY_SOCKET": m.address})
        m.until("READY")
        d.proc.send_signal(signal.SIGTERM)
        stopping = m.until("STOPPING", timeout=10)
        self.assertEqual(stopping["STOPPING"], "1")
        self.assertIn("SIGTERM", stopping["STATUS"])
        self.assertEqual(d.wait(), 0)
        # Sent once, and nothing after it.
        self.assertEqual(m.drain(0.1), [])
        self.assertEqual(sum("STOPPING" in x for x in m.messages), 1, m.messages)

    def test_stopping_when_a_failed_fdatasync_stops_the_daemon(self):
        # statestored-faulty (tests/progs) fails the fdatasync of the write
        # that carries the marker: the daemon stops itself and exits 5.
        m = self.manager()
        d = self.new_daemon(program="statestored-faulty",
                            env={"NOTIFY_SOCKET": m.address, "SS_FAULT": "fdatasync:EIO"})
        d.start(expect_ready=False)
        m.until("READY")
        self.ping(d)
        self.connect(d).send(b"SET_CHECKPOINT k INJECT_FAULT\n")
        stopping = m.until("STOPPING", timeout=30)
        self.assertEqual(stopping["STATUS"], "stopping after a failure (exit 5)")
        self.assertEqual(d.wait(60), 5, d.log())
        self.assertEqual(sum("STOPPING" in x for x in m.messages + m.drain(0.1)), 1,
                         m.messages)

    def test_watchdog_pings_every_half_of_watchdog_usec(self):
        m = self.manager()
        d = self.start({"NOTIFY_SOCKET": m.address, "WATCHDOG_USEC": "200000"})
        m.until("READY")
        pings = [x for x in m.drain(1.0) if x.get("WATCHDOG") == "1"]
        # Every 100 ms: about 10 in a second. The bounds are loose on
        # purpose (a loaded machine delays timers); below 3 or above 20 the
        # interval is wrong, not late.
        self.assertGreaterEqual(len(pings), 3, m.messages)
        self.assertLessEqual(len(pings), 20, m.messages)
        self.ping(d)

    def test_no_watchdog_for_another_pid_or_a_bad_value(self):
        for env, warning in (({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}, None),
                             ({"WATCHDOG_USEC": "0.2s"}, "WATCHDOG_USEC '0.2s'"),
                             ({"WATCHDOG_USEC": "0"}, "WATCHDOG_USEC '0'")):
            with self.subTest(env=env):
                m = self.manager()
                env = dict(env, NOTIFY_SOCKET=m.address)
                d = self.start(env)
                m.until("READY")
                self.assertEqual([x for x in m.drain(0.5) if "WATCHDOG" in x], [])
                self.ping(d)
                if warning:
                    self.assertIn(warning, d.log())
                self.assertEqual(d.stop(), 0)

    def test_nothing_is_sent_without_notify_socket(self):
        m = self.manager()  # bound, but nobody tells the daemon
        d = self.start(None)
        self.ping(d)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(m.drain(0.1), [])
        self.assertNotIn("notify", d.log().lower())
        self.assertNotIn("[warn", d.log().lower())

    def test_an_abstract_socket_works(self):
        m = self.manager(abstract=True)
        d = self.start({"NOTIFY_SOCKET": m.address})
        self.assertEqual(m.until("READY")["READY"], "1")
        self.ping(d)

    def test_a_socket_nobody_listens_on_is_logged_and_the_daemon_serves(self):
        missing = os.path.join(tempfile.mkdtemp(prefix="ss-notify-"), "nobody")
        self.addCleanup(shutil.rmtree, os.path.dirname(missing), True)
        d = self.start({"NOTIFY_SOCKET": missing, "WATCHDOG_USEC": "100000"})
        self.ping(d)
        self.assertIsNotNone(d.wait_log(r"cannot notify the service manager", timeout=10),
                             d.log())
        time.sleep(0.3)  # a few failed watchdog pings: logged once only
        self.ping(d)
        self.assertEqual(d.log().count("cannot notify the service manager at %s (" % missing), 1,
                         d.log())

    def test_an_address_that_is_not_absolute_is_refused_and_the_daemon_serves(self):
        d = self.start({"NOTIFY_SOCKET": "relative/notify"})
        self.ping(d)
        self.assertIn("NOTIFY_SOCKET 'relative/notify' is neither", d.log())


class UnitFileTest(unittest.TestCase):
    UNIT = os.path.join(harness.SOURCE_DIR, "scripts", "statestored.service")

    def test_systemd_analyze_verify_passes(self):
        tool = shutil.which("systemd-analyze")
        if tool is None:
            self.skipTest("systemd-analyze is not installed: the unit file is not verified")
        # verify also checks that ExecStart's binary exists: point it at
        # the build's, which is what an install places at /usr/bin.
        with open(self.UNIT) as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/bin/statestored ", text)
        text = text.replace("ExecStart=/usr/bin/statestored ",
                            "ExecStart=%s " % os.path.abspath(harness.binary("statestored")))
        with tempfile.TemporaryDirectory() as tmp:
            unit = os.path.join(tmp, "statestored.service")
            with open(unit, "w") as f:
                f.write(text)
            r = subprocess.run([tool, "verify", unit], capture_output=True, text=True,
                               timeout=60)
        # verify exits 0 on an unknown key and only says so on stderr.
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", r.stderr)

    def test_the_descriptor_limit_fits_the_default_max_clients(self):
        with open(self.UNIT) as f:
            limit = [line for line in f if line.startswith("LimitNOFILE=")]
        reserved = harness.limit("SS_RESERVED_FDS", "src/server/server.c")
        self.assertEqual(limit, ["LimitNOFILE=%d\n" % (10000 + reserved)])


if __name__ == "__main__":
    unittest.main()
