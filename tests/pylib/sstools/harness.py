"""Shared helpers for the integration tests and the scripts: start the real
daemon on an ephemeral port with a temp data dir, talk to it over real
sockets (client.py), kill it, restart it on the same directory.

The daemon is found through SS_BUILD_DIR (set by ctest). It is started with
-p 0; it logs "listening on HOST:PORT" once replay is done, which is how the
harness learns the port and knows the daemon is ready.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from .client import Client

# This file is tests/pylib/sstools/harness.py: the source tree is three up.
SOURCE_DIR = os.environ.get("SS_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
BUILD_DIR = os.environ.get("SS_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
LISTEN_RE = re.compile(rb"listening on ([0-9.]+):(\d+)")
# The same line with --tls-port: ", TLS on port N", or ", TLS only" when the
# port above is the TLS one (--port none).
TLS_RE = re.compile(rb"listening on [0-9.]+:(\d+)(?:, TLS on port (\d+)|(, TLS only))")
START_TIMEOUT = 60.0


def binary(name):
    path = os.path.join(BUILD_DIR, name)
    if not os.path.exists(path):
        path = os.path.join(BUILD_DIR, "tests", name)
    return path


class Daemon:
    """One statestored process. Use start() / stop() / kill(); the data dir
    survives restarts and is removed by cleanup()."""

    def __init__(self, data_dir=None, args=(), program="statestored", env=None,
                 preexec_fn=None, argv=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ss-it-")
        self.args = list(args)
        self.program = program
        self.env = env
        self.preexec_fn = preexec_fn  # run in the child before exec (set limits, say)
        # The whole command line, instead of the build's program with -p, -d
        # and --log-level: an installed daemon with its own config, say.
        self.argv = list(argv) if argv else None
        self.proc = None
        self.waited = False
        self.port = None
        self.tls_port = None  # with --tls-port
        self.stderr_lines = []
        self._reader = None

    def start(self, extra_args=(), expect_ready=True, port=0):
        """port: 0 for an ephemeral one, or a fixed one (e.g. the previous
        run's, for clients that must find the daemon again after a restart)."""
        if self.argv:
            cmd = self.argv + list(extra_args)
        else:
            cmd = [binary(self.program), "-p", str(port), "-d", self.data_dir,
                   "--log-level", "debug"] + self.args + list(extra_args)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.port = self.tls_port = None  # a failed start must not report the last run's
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env, preexec_fn=self.preexec_fn)
        self.stderr_lines = []
        self.waited = False
        ready = threading.Event()

        def read_stderr(proc=self.proc, lines=self.stderr_lines):
            for line in proc.stderr:
                lines.append(line)
                m = LISTEN_RE.search(line)
                if m:
                    t = TLS_RE.search(line)
                    if t:
                        self.tls_port = int(t.group(2) or t.group(1))
                    self.port = int(m.group(2))
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read_stderr, daemon=True)
        self._reader.start()
        if expect_ready:
            if not ready.wait(START_TIMEOUT) or self.port is None:
                raise RuntimeError("daemon did not start: %r" % self.log())
        return self

    def log(self):
        return b"".join(self.stderr_lines).decode("utf-8", "replace")

    def wait(self, timeout=60):
        """Waits for the process to exit and its stderr to be read to the
        end; returns its exit code."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        if not self._reader.is_alive():
            self.proc.stderr.close()
        self.waited = True
        return code

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout) if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_log(self, pattern, timeout=30.0, start=0):
        """Waits until a stderr line from index start on matches the regex
        pattern (str); returns the match, or None if the process exited or
        the timeout passed first."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)

        def find():
            for line in list(self.stderr_lines[start:]):
                m = rx.search(line)
                if m:
                    return m
            return None

        wait_until(lambda: find() is not None or self._reader_done(), timeout)
        return find()

    def _reader_done(self):
        return self._reader is not None and not self._reader.is_alive()

    def restart(self, extra_args=(), port=0):
        if self.proc and self.proc.poll() is None:
            self.kill()
        return self.start(extra_args, port=port)

    def connect(self, timeout=30):
        return Client(self.port, timeout)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.kill()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def wait_until(predicate, timeout=30.0, interval=0.01):
    """Polls predicate until it is true; returns its last value. This is for
    waiting on an event we can observe (a process exiting, a file appearing),
    never for hoping that time has passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def zero_line_with(data, marker):
    """Zeroes, in place, the log line of bytearray data that holds marker
    (bytes): a record damaged in the middle of a log. Returns the line's
    byte offset."""
    pos = data.find(marker)
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos) + 1
    data[start:end] = bytes(end - start)
    return start


def run_binary(args, program="statestored", timeout=60, env=None):
    """Runs a program from the build to completion; returns the
    CompletedProcess with stdout and stderr as text."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([binary(program)] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace",
                          timeout=timeout, env=e)


def project_version():
    """The version CMakeLists.txt declares, which the daemon reports."""
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*statestored\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1)


def limit(name, header="include/statestored/limits.h"):
    """A #define from a header (limits.h unless told), so tests follow the
    contract rather than copy its numbers. The value may be an integer
    expression of + - * / and parentheses over numbers and the header's
    other defines, as in SS_ARGS_MAX (3 * SS_MULTI_MAX + 1)."""
    with open(os.path.join(SOURCE_DIR, header)) as f:
        text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", f.read(), flags=re.S)
    defines = dict(re.findall(r"^#define[ \t]+(SS_\w+)[ \t]+([^\n]+)", text, re.M))

    def value(n, depth=0):
        expr = re.sub(r"\b([0-9]+)[uUlL]*\b", r"\1", defines[n].strip())
        expr = re.sub(r"\bSS_\w+\b", lambda m: "(%d)" % value(m.group(0), depth + 1), expr)
        if depth > 8 or not re.fullmatch(r"[0-9()+\-*/ ]+", expr):
            raise ValueError("%s is not an integer expression: %r" % (n, defines[n]))
        return int(eval(expr.replace("/", "//"), {"__builtins__": {}}))

    return value(name)


class DaemonTestCase(unittest.TestCase):
    """A test case with a fresh daemon (own temp data dir) per test.
    tearDown checks that a daemon the test left running still runs (no
    crash), then stops it with SIGTERM and expects exit code 0 (which under
    ASan also means no leak report); it is killed if that fails."""

    DAEMON_ARGS = ()
    PROGRAM = "statestored"
    DAEMON_ENV = None
    AUTOSTART = True  # False: the test makes its daemons with new_daemon()

    def setUp(self):
        self.daemons = []
        self.clients = []
        self.d = self.new_daemon().start() if self.AUTOSTART else None

    def new_daemon(self, data_dir=None, args=None, program=None, env=None):
        d = Daemon(data_dir, self.DAEMON_ARGS if args is None else args,
                   program or self.PROGRAM, self.DAEMON_ENV if env is None else env)
        self.daemons.append(d)
        return d

    def connect(self, d=None, timeout=30):
        c = (d or self.d).connect(timeout)
        self.clients.append(c)
        return c

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except OSError:
                pass
        problems = []
        for d in self.daemons:
            if d.proc is None:
                continue
            if d.proc.poll() is None:
                try:
                    code = d.stop(signal.SIGTERM, timeout=60)
                    if code != 0:
                        problems.append("daemon exited %r on SIGTERM:\n%s" % (code, d.log()[-4000:]))
                except subprocess.TimeoutExpired:
                    problems.append("daemon ignored SIGTERM for 60 s")
            elif not d.waited:
                problems.append("daemon died on its own with %r:\n%s" % (d.proc.returncode, d.log()[-4000:]))
        for d in self.daemons:
            d.cleanup()
        if problems:
            self.fail("\n".join(problems))


def stop_shared(d):
    """Stops a daemon a whole TestCase class shared (its tearDownClass):
    fails if it died during the tests or did not exit 0 on SIGTERM, and
    cleans up either way."""
    try:
        if not d.running():
            raise AssertionError("daemon died during the tests with %r:\n%s"
                                 % (d.proc.returncode, d.log()[-4000:]))
        code = d.stop(signal.SIGTERM, timeout=60)
        if code != 0:
            raise AssertionError("daemon exited %r on SIGTERM:\n%s" % (code, d.log()[-4000:]))
    finally:
        d.cleanup()
