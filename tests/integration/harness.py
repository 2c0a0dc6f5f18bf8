"""Shared helpers for the integration tests: start the real daemon on an
ephemeral port with a temp data dir, talk to it over real sockets, kill it,
restart it on the same directory.

The daemon is found through SS_BUILD_DIR (set by ctest). It is started with
-p 0; it logs "listening on HOST:PORT" once replay is done, which is how the
harness learns the port and knows the daemon is ready.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

BUILD_DIR = os.environ.get("SS_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
SOURCE_DIR = os.environ.get("SS_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
LISTEN_RE = re.compile(rb"listening on ([0-9.]+):(\d+)")
START_TIMEOUT = 60.0


def binary(name):
    path = os.path.join(BUILD_DIR, name)
    if not os.path.exists(path):
        path = os.path.join(BUILD_DIR, "tests", name)
    return path


class Daemon:
    """One statestored process. Use start() / stop() / kill(); the data dir
    survives restarts and is removed by cleanup()."""

    def __init__(self, data_dir=None, args=(), program="statestored", env=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ss-it-")
        self.args = list(args)
        self.program = program
        self.env = env
        self.proc = None
        self.port = None
        self.stderr_lines = []
        self._reader = None

    def start(self, extra_args=(), expect_ready=True, port=0):
        """port: 0 for an ephemeral one, or a fixed one (e.g. the previous
        run's, for clients that must find the daemon again after a restart)."""
        cmd = [binary(self.program), "-p", str(port), "-d", self.data_dir,
               "--log-level", "debug"] + self.args + list(extra_args)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self.stderr_lines = []
        ready = threading.Event()

        def read_stderr(proc=self.proc, lines=self.stderr_lines):
            for line in proc.stderr:
                lines.append(line)
                m = LISTEN_RE.search(line)
                if m:
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
        """Waits for the process to exit; returns its exit code."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout) if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

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


class Client:
    """A line-oriented client over one TCP connection."""

    def __init__(self, port, timeout=30, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        """Returns the next reply line without its newline, or None at EOF."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, line):
        self.send(line + "\n")
        return self.readline()

    def stats(self):
        self.send("STATS\n")
        out = {}
        while True:
            line = self.readline()
            if line is None or line == "END":
                return out
            _, name, value = line.split(" ", 2)
            out[name] = value

    def at_eof(self):
        """True if the server closed the connection (after any buffered lines)."""
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        if chunk:
            self.buf += chunk
            return False
        return True

    def close(self):
        self.sock.close()


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
