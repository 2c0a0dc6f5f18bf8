#!/usr/bin/env python3
"""Appends order records to an append-only JSON-lines log.

Each record is {"order_id": ..., "amount": ..., "updated_at": ...}. An order
can appear again later (an update); the newest record of an order wins.

updated_at is a logical clock: an integer that increases strictly from one
record to the next across the whole file, continuing from the last record
already there. That is what lets a pipeline use "the largest updated_at I
have processed" as its checkpoint. (Wall-clock milliseconds would work too
as long as they never repeat or go backwards; a counter makes the demo's
transcript readable and cannot be broken by a clock step.)

Every batch is written with one write, then flushed and fsynced, so a record
a pipeline has seen is on disk. A crash mid-write can leave a last line
without its newline; readers ignore such a line (pipeline.py does), and the
next producer run cuts it off before appending.

    python3 demo/producer.py --count 100
    python3 demo/producer.py --rate 50 --duration 10 --path /tmp/orders.log
"""
import argparse
import json
import os
import random
import sys
import time

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "orders.log")


def last_updated_at(path):
    """Returns the updated_at of the last complete record in path (0 if the
    file is missing or empty). A torn last line (no newline: a crash
    mid-append) is cut off first, with a warning, as nothing can have
    processed it."""
    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        return 0
    with f:
        size = f.seek(0, os.SEEK_END)
        step = 4096
        while size > 0:
            start = max(0, size - step)
            f.seek(start)
            tail = f.read(size - start)
            end = tail.rfind(b"\n") + 1  # complete lines are tail[:end]
            if end < len(tail) and (end > 0 or start == 0):
                print("producer: cutting a torn last line (%d bytes) from %s"
                      % (len(tail) - end, path), file=sys.stderr)
                f.truncate(start + end)
                os.fsync(f.fileno())
                size = start + end
                continue
            lines = tail[:end].split(b"\n")[:-1]
            if start > 0:
                lines = lines[1:]  # the first may be cut by our seek
            for line in reversed(lines):
                if line.strip():
                    return int(json.loads(line)["updated_at"])
            if start == 0:
                return 0
            step *= 2
        return 0


def make_records(start_at, count, rng):
    """count records with updated_at start_at+1 .. start_at+count."""
    out = []
    for i in range(1, count + 1):
        at = start_at + i
        # Order ids come from a pool that grows with the clock, so about a
        # third of the records update an order seen before.
        order_id = "o%05d" % rng.randrange(1, max(10, int(at * 0.7)) + 1)
        out.append({"order_id": order_id, "amount": round(rng.uniform(5, 500), 2),
                    "updated_at": at})
    return out


def append(path, records):
    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Append order records to a JSON-lines log.")
    ap.add_argument("--path", default=DEFAULT_PATH)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--count", type=int, help="append this many records at once (default 100)")
    g.add_argument("--rate", type=float, help="records per second (with --duration)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds, with --rate")
    ap.add_argument("--seed", type=int, default=None,
                    help="random seed (default: derived from the log's last updated_at)")
    args = ap.parse_args(argv)
    if args.count is not None and args.count < 0:
        ap.error("--count must be >= 0")
    if args.rate is not None and (args.rate <= 0 or args.duration <= 0):
        ap.error("--rate and --duration must be > 0")

    last = last_updated_at(args.path)
    rng = random.Random(args.seed if args.seed is not None else last)
    first = last
    if args.rate is None:
        records = make_records(last, 100 if args.count is None else args.count, rng)
        if records:
            append(args.path, records)
            last = records[-1]["updated_at"]
    else:
        # One batch (one write + fsync) every tick of 0.1 s.
        t0 = time.monotonic()
        made = 0
        while True:
            elapsed = time.monotonic() - t0
            due = min(int(args.rate * elapsed), int(args.rate * args.duration)) - made
            if due > 0:
                records = make_records(last, due, rng)
                append(args.path, records)
                last = records[-1]["updated_at"]
                made += due
            if elapsed >= args.duration:
                break
            time.sleep(0.1)
    print("producer: appended %d orders (updated_at %d..%d) to %s"
          % (last - first, first + 1 if last > first else first, last, args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
