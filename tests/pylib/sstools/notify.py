"""The systemd side of the notify protocol, for tests that play systemd: a
bound unix datagram socket whose address goes in NOTIFY_SOCKET, and the
messages that arrive on it (src/server/notify.c sends them).
"""
import os
import shutil
import socket
import tempfile
import time
import uuid


class Manager:
    """The systemd side: a bound unix datagram socket and what arrived on
    it, each message as a dict of its KEY=VALUE lines, in order."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="ss-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "ss-notify-test-" + uuid.uuid4().hex
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self.dir, "notify")
            self.sock.bind(self.address)
        self.messages = []

    def receive(self, timeout):
        """The next message, or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        msg = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        self.messages.append(msg)
        return msg

    def until(self, key, timeout=30.0):
        """Receives until a message carries key; returns that message."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.receive(max(0.01, deadline - time.monotonic()))
            if msg is not None and key in msg:
                return msg
        raise AssertionError("no %s within %.0f s; got %r" % (key, timeout, self.messages))

    def drain(self, seconds):
        """Every message that arrives within the next seconds."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            msg = self.receive(left)
            if msg is not None:
                got.append(msg)

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
