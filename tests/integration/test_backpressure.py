"""Output backpressure: a connection whose replies pass the 256 KiB
high-water mark pauses, and resumes - without new input to wake it - once
the client reads. Regression test for a stall where 100 pipelined GETs of a
64 KiB value got only 16 replies."""
import socket
import unittest

from sstools import harness


class BackpressureTest(unittest.TestCase):
    def setUp(self):
        self.d = harness.Daemon().start()

    def tearDown(self):
        self.d.cleanup()

    def test_pipelined_large_replies_all_arrive(self):
        c = self.d.connect()
        value = "v" * 65536
        c.send("SET_CHECKPOINT big %s\n" % value + "GET_CHECKPOINT big\n" * 100 + "PING\n")
        self.assertEqual(c.readline(), "OK")
        for _ in range(100):
            self.assertEqual(c.readline(), value)
        self.assertEqual(c.readline(), "PONG")

    def test_a_client_that_shut_its_side_still_gets_every_paused_reply(self):
        """The peer sends its requests and shuts its side at once: the
        session pauses at the output mark with the rest of its input
        buffered and the read side closed, so only the output draining can
        wake it - and must."""
        c = self.d.connect(timeout=20)
        value = "v" * 65536
        self.assertEqual(c.cmd("SET_CHECKPOINT big %s" % value), "OK")
        # The SET makes the GETs wait for its commit, meanwhile the daemon
        # reads the end of the input; then 400 replies of 64 KiB, far more
        # than the socket buffers hold, pause the session at the mark with
        # its read side already closed.
        c.send("SET_CHECKPOINT other 1\n" + "GET_CHECKPOINT big\n" * 400 + "PING\n")
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(c.readline(), "OK")
        for _ in range(400):
            self.assertEqual(c.readline(), value)
        self.assertEqual(c.readline(), "PONG")
        self.assertEqual(c.wait_eof(), [])

    def test_many_writes_then_reads_in_one_stream(self):
        c = self.d.connect()
        value = "x" * 4096
        n = 2000
        c.send("".join("SET_CHECKPOINT k%d %s\n" % (i, value) for i in range(n)) +
               "".join("GET_CHECKPOINT k%d\n" % i for i in range(n)))
        for _ in range(n):
            self.assertEqual(c.readline(), "OK")
        for _ in range(n):
            self.assertEqual(c.readline(), value)


if __name__ == "__main__":
    unittest.main()
