#!/usr/bin/env python3
"""Checks the demo's invariants after a step; exits 1 naming the first one
broken.

  1. The checkpoint never moves backwards (each value is appended to
     --history and compared with the previous one). An operator's rewind
     (run_demo.sh scenario F) is the one deliberate move backwards: the
     script starts --history again from the rewound value.
  2. The output never lags the checkpoint: it reflects every record up to
     at least the checkpoint (it is written before the commit).
  3. No record is skipped and none applied wrongly: the output equals what a
     clean run of the pipeline's own logic produces from scratch over the
     records it covers (1..W, W = the newest updated_at in the output). That
     reference is written to --reference so you can diff it yourself.
  4. With --caught-up: the checkpoint is the last record's updated_at and the
     output covers exactly everything produced.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline  # noqa: E402
from state_client import StateClient  # noqa: E402


def fail(msg):
    print("INVARIANT VIOLATED: " + msg, flush=True)
    sys.exit(1)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--history", required=True)
    ap.add_argument("--name", default="orders")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--caught-up", action="store_true")
    args = ap.parse_args(argv)

    with StateClient(args.host, args.port, timeout=5.0, retries=3) as store:
        cp = pipeline.parse_checkpoint(store.get_checkpoint(args.name), args.name)

    history = []
    if os.path.exists(args.history):
        with open(args.history) as f:
            history = [int(x) for x in f.read().split()]
    if history and cp < history[-1]:
        fail("checkpoint moved backwards: %d after %d" % (cp, history[-1]))
    with open(args.history, "a") as f:
        f.write("%d\n" % cp)

    records = pipeline.read_records(args.orders, 0)
    out = pipeline.load_output(args.output)
    covered = max((o["updated_at"] for o in out.values()), default=0)
    if covered < cp:
        fail("output covers records up to %d but the checkpoint is %d" % (covered, cp))

    upto_cp = [r for r in records if r["updated_at"] <= cp]
    for r in upto_cp:
        got = out.get(r["order_id"])
        if got is None or got["updated_at"] < r["updated_at"]:
            fail("record updated_at %d (order %s) is behind the checkpoint but not "
                 "in the output" % (r["updated_at"], r["order_id"]))

    ref = {}
    pipeline.apply_records(ref, [r for r in records if r["updated_at"] <= covered])
    pipeline.write_output(args.reference, ref)
    if pipeline.load_output(args.reference) != out:
        diff = sorted(k for k in set(ref) | set(out) if ref.get(k) != out.get(k))
        fail("output differs from a clean run over records 1..%d (orders %s)"
             % (covered, ", ".join(diff[:5])))

    last = records[-1]["updated_at"] if records else 0
    if args.caught_up and (cp != last or covered != last):
        fail("not caught up: produced up to %d, checkpoint %d, output up to %d"
             % (last, cp, covered))

    seen = [h for i, h in enumerate(history + [cp]) if i == 0 or h != history[i - 1]]
    print("  invariants hold: checkpoint %d (seen so far: %s), all %d records up to it "
          "processed, output = clean run over 1..%d (%d orders)%s"
          % (cp, " -> ".join(str(h) for h in seen[-6:]), len(upto_cp),
             covered, len(out), ", caught up" if args.caught_up else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
