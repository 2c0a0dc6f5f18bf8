"""Progress on long work, on a log of 200,000 records made once by the real
daemon:

  TestReplayProgress  the daemon logs a long replay's progress once a
                      second (records, percent of the file, rate) and sends
                      the same as a STATUS= line to systemd (this test
                      plays the manager), before READY=1
  TestCheckerBar      statestore-check draws a progress bar on stderr when
                      it is a terminal (a real pty), erases it at the end,
                      and writes nothing of it to a pipe

Replay runs at millions of records a second, so a log that replays for more
than the one second a progress line waits for would take longer to make
than this whole file may. statestored-faulty's SS_FAULT_REPLAY_DELAY_US
slows the replay instead: it sleeps at each of the engine's progress points
(every 65,536 records), and the daemon's own once-a-second pacing decides
what is logged. No interval is shortened for the test.
"""
import os
import pty
import re
import shutil
import subprocess
import tempfile
import unittest

from sstools import harness
from sstools.harness import DaemonTestCase
from sstools.notify import Manager

RECORDS = 200000
EVERY = 65536  # SS_STORE_PROGRESS_RECORDS
LOG = "statestored.log"
PROGRESS_RE = re.compile(r"replaying the log: (\d+) records, ([0-9.]+)% of (\d+) bytes, "
                         r"(\d+) records/s")


def setUpModule():
    global TEMPLATE
    TEMPLATE = tempfile.mkdtemp(prefix="ss-progress-")
    d = harness.Daemon(data_dir=TEMPLATE).start()
    try:
        c = d.connect()
        for k in range(RECORDS // 100000):
            line = "MSET_CHECKPOINT " + " ".join("p%d-%d v%d" % (k, i, i) for i in range(100000))
            if not c.cmd(line).startswith("OK "):
                raise RuntimeError("MSET_CHECKPOINT failed")
        c.close()
    finally:
        if d.stop() != 0:
            raise RuntimeError("daemon failed: %s" % d.log())


def tearDownModule():
    shutil.rmtree(TEMPLATE, ignore_errors=True)


def copy_of_the_log():
    path = tempfile.mkdtemp(prefix="ss-progress-")
    shutil.copy(os.path.join(TEMPLATE, LOG), os.path.join(path, LOG))
    return path


class TestReplayProgress(DaemonTestCase):
    AUTOSTART = False
    PROGRAM = "statestored-faulty"

    def test_a_long_replay_logs_its_progress_once_a_second_and_tells_systemd(self):
        data = copy_of_the_log()
        self.addCleanup(shutil.rmtree, data, True)
        with open(os.path.join(data, LOG), "rb") as f:
            log = f.read()
        size = len(log)
        data_end = len(log.rstrip(b"\0"))  # the preallocated zeros hold no records
        m = Manager()
        self.addCleanup(m.close)
        # 3 progress points, 0.5 s apart: the replay lasts over 1.5 s.
        d = self.new_daemon(data_dir=data, env={"NOTIFY_SOCKET": m.address,
                                               "SS_FAULT_REPLAY_DELAY_US": "500000"}).start()
        m.until("READY")
        lines = [PROGRESS_RE.search(l) for l in d.log().splitlines()]
        lines = [x for x in lines if x]
        self.assertTrue(lines, d.log())
        # Paced by the clock, not by the progress points: a line for
        # every point would be 3.
        self.assertLess(len(lines), RECORDS // EVERY)
        for x in lines:
            records, pct, total, rate = (int(x.group(1)), float(x.group(2)), int(x.group(3)),
                                         int(x.group(4)))
            self.assertEqual(records % EVERY, 0)
            self.assertTrue(0 < records < RECORDS, x.group(0))
            self.assertEqual(total, size)
            # Every record is about the same size: the percent of the file
            # follows them.
            self.assertAlmostEqual(pct, 100.0 * records / RECORDS * data_end / size, delta=1.0)
            self.assertGreater(rate, 0)
        # The same, as STATUS lines between the first one and READY=1.
        statuses = [msg.get("STATUS", "") for msg in m.messages]
        self.assertTrue(statuses[0].startswith("replaying the log in "), statuses)
        self.assertTrue(statuses[-1].startswith("ready: %d entries" % RECORDS), statuses)
        self.assertEqual([PROGRESS_RE.fullmatch(s).group(0) for s in statuses[1:-1]],
                         [x.group(0) for x in lines])
        self.assertEqual(self.connect(d).call("GET_CHECKPOINT", "p1-99999"), "v99999")


def run_on_pty(args, stdout_too=False):
    """Runs statestore-check with stderr on a new pty (and stdout too, if
    asked; otherwise a pipe). Returns (exit code, what the pty got, stdout)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([harness.binary("statestore-check")] + args,
                             stdin=subprocess.DEVNULL, stderr=slave,
                             stdout=slave if stdout_too else subprocess.PIPE)
    finally:
        os.close(slave)
    out = b""
    if p.stdout:
        out = p.stdout.read()
        p.stdout.close()
    got = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the pty
            break
        if not chunk:
            break
        got += chunk
    os.close(master)
    return p.wait(30), got.decode(), out.decode()


class TestCheckerBar(unittest.TestCase):
    BAR_RE = re.compile(r"\rreading the log \[[#.]{30}\] +(\d+)%  (\d+) records")

    def setUp(self):
        self.data = copy_of_the_log()
        self.addCleanup(shutil.rmtree, self.data, True)

    def assert_bar_drawn_and_erased(self, tty):
        frames = self.BAR_RE.findall(tty)
        self.assertTrue(frames, repr(tty))
        for pct, records in frames:
            self.assertTrue(0 < int(pct) <= 100 and 0 < int(records) <= RECORDS, frames)
        # Erased: blanks over the longest frame, the cursor back at the start.
        m = re.search(r"\r( +)\r$", tty)
        self.assertIsNotNone(m, repr(tty[-200:]))
        longest = max(len(f.group(0)) - 1 for f in self.BAR_RE.finditer(tty))
        self.assertGreaterEqual(len(m.group(1)), longest)

    def test_long_operations_draw_a_bar_on_a_terminal_and_nothing_in_a_pipe(self):
        # Each reads the log through ss_check_read_with, with an observer
        # of its own (dump) or not: a pipe is tried for one of each.
        for args, pipe in ((["verify", self.data], True), (["stats", self.data], False),
                           (["repair", "--dry-run", self.data], False),
                           (["dump", "--format", "jsonl", "--prefix", "p1-", self.data], True)):
            code, tty, out = run_on_pty(args)
            self.assertEqual(code, 0, args)
            self.assert_bar_drawn_and_erased(tty)
            if pipe:
                piped = harness.run_binary(args, program="statestore-check")
                self.assertEqual((piped.returncode, piped.stderr, piped.stdout), (code, "", out),
                                 args)

    def test_no_bar_while_a_dump_prints_to_the_same_terminal(self):
        code, tty, _ = run_on_pty(["dump", "--prefix", "none-such", self.data], stdout_too=True)
        self.assertEqual((code, tty), (0, ""))


if __name__ == "__main__":
    unittest.main()
