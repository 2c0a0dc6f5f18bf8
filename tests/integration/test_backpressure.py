"""Output backpressure: a connection whose replies pass the 1 MiB high-water
mark pauses, and resumes - without new input to wake it - once the client
reads. Regression test for a stall where 100 pipelined GETs of a 64 KiB value
got only 16 replies."""
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
