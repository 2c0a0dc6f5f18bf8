#!/usr/bin/env python3
"""One incremental batch run of an order pipeline that keeps its checkpoint
in statestored.

    python3 demo/pipeline.py --name orders --orders demo/orders.log \\
        --output demo/output.json --batch-size 100 --port 7070

The order of the steps is the whole point:

  1. read the checkpoint (the largest updated_at already committed; none: 0)
     with its revision (GETREV_CHECKPOINT);
  2. read the records with updated_at > checkpoint, in file order, at most
     --batch-size of them, and process them;
  3. merge them into the output, an idempotent store keyed by order_id: an
     order's entry is replaced only by a record with a larger updated_at, so
     applying a record twice, or late, changes nothing;
  4. write the output durably (temp file, fsync, rename, fsync directory);
  5. only then commit the new checkpoint = the largest updated_at processed,
     with CAS_CHECKPOINT: only if the revision is still the one read in 1.

Fencing (step 5): a run that stalled (a GC pause, a partition, an
orchestrator that started another run) and wakes up after another run
committed, or after an operator rewound the pipeline with
ROLLBACK_CHECKPOINT, holds an old revision: its CAS gets CONFLICT and it
exits (status 6) without committing, so the checkpoint never moves
backwards behind another run's back and a rewind is never undone by a
zombie. A run that goes on for several batches carries the revision of its
own last commit into the next one, so any foreign change fences it too.

The output cannot be fenced by the store (it is a file), so step 3 makes a
late write harmless instead: the merge runs under an exclusive lock on the
output (<output>.lock), re-reading the file each time, and only ever
replaces an order with a newer record. A zombie that writes after a newer
run merges records that are already there, and changes nothing. (Loading
the output before the stall and writing it after would instead put back an
older file and drop the newer run's records.)

A crash between 4 and 5 (try --crash-before-commit) leaves output ahead of
the checkpoint: the next run reads the same records again and re-applies
them, which changes nothing (at-least-once processing, exactly-once effect).
A crash after 5 (--crash-after-commit) loses nothing: the next run starts
after the committed records. Committing before writing the output would be
the bug: a crash in between would skip records forever.

If statestored cannot be reached the client retries with backoff and then
this run fails (exit 3): it never processes without knowing its checkpoint.

--stall-until FILE makes a run stop after processing (before merging its
output and committing) until FILE exists: a deterministic zombie for the
demo's scenarios E and F.

Exit status: 0 done; 1 simulated crash; 3 statestored unreachable;
4 bad input (orders log, output file or checkpoint); 5 ERR from statestored;
6 fenced: the commit got CONFLICT (another run committed, or an operator
rewound the pipeline), nothing committed.
"""
import argparse
import fcntl
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from state_client import (Conflict, StateClient, StateStoreError,  # noqa: E402
                          StateStoreUnavailable)

HERE = os.path.dirname(os.path.abspath(__file__))
TAX_RATE = 0.2


class BadInput(Exception):
    pass


def read_records(path, after, limit=None):
    """Returns the records of the orders log with updated_at > after, in file
    order, at most limit of them. A last line without a newline is being
    written (or was torn by a crash) and is left for a later run."""
    out = []
    last = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return out
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                at = r["updated_at"]
                if not isinstance(at, int) or not isinstance(r["order_id"], str):
                    raise ValueError("bad field types")
                float(r["amount"])
            except (ValueError, KeyError, TypeError) as e:
                raise BadInput("%s line %d: not an order record (%s)" % (path, lineno, e))
            if at <= last:
                raise BadInput("%s line %d: updated_at %d does not increase (previous %d)"
                               % (path, lineno, at, last))
            last = at
            if at > after:
                out.append(r)
                if limit is not None and len(out) >= limit:
                    break
    return out


def process(record):
    """The pipeline's transformation of one order record."""
    amount = float(record["amount"])
    return {"amount": amount, "amount_with_tax": round(amount * (1 + TAX_RATE), 2),
            "updated_at": record["updated_at"]}


def apply_records(orders, records):
    """Applies records to orders (order_id -> processed entry) in place.
    Idempotent: a record whose order already holds an entry at least as new
    changes nothing. Returns (changed, unchanged) counts."""
    changed = unchanged = 0
    for r in records:
        cur = orders.get(r["order_id"])
        if cur is not None and cur["updated_at"] >= r["updated_at"]:
            unchanged += 1
            continue
        orders[r["order_id"]] = process(r)
        changed += 1
    return changed, unchanged


def load_output(path):
    """Returns the output's orders map ({} if the file does not exist)."""
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise BadInput("%s: not a pipeline output file (%s)" % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("orders"), dict):
        raise BadInput("%s: not a pipeline output file (no orders map)" % path)
    return doc["orders"]


def write_output(path, orders):
    """Replaces path with the output for orders, atomically and durably: a
    crash leaves either the old file or the new one, complete."""
    doc = {"orders": dict(sorted(orders.items())),
           "summary": {"orders": len(orders),
                       "amount_total": round(sum(o["amount"] for o in orders.values()), 2)}}
    data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    d = os.path.dirname(os.path.abspath(path))
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)  # makes the rename itself durable
    finally:
        os.close(dfd)


def merge_output(path, records):
    """Merges records into the output at path under an exclusive lock:
    re-reads the file, applies the records (newer wins), writes it durably.
    Returns (changed, unchanged, orders in the output). Two runs merging at
    once, or one late, cannot drop each other's records."""
    lock = os.open(path + ".lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        orders = load_output(path)
        changed, unchanged = apply_records(orders, records)
        write_output(path, orders)
        return changed, unchanged, len(orders)
    finally:
        os.close(lock)  # releases the lock


def stall(path, say):
    """Waits until path exists (the demo's deterministic zombie)."""
    say("STALLED after processing, before writing and committing "
        "(waiting for %s)" % os.path.basename(path))
    while not os.path.exists(path):
        time.sleep(0.02)
    say("woke up")


def parse_checkpoint(value, name):
    if value is None:
        return 0
    try:
        cp = int(value)
    except ValueError:
        cp = -1
    if cp < 0:
        raise BadInput("checkpoint of %r is %r, not an updated_at" % (name, value))
    return cp


def read_checkpoint(store, name):
    """Returns (checkpoint, revision); (0, 0) if the pipeline has none."""
    got = store.get_with_rev(name)
    if got is None:
        return 0, 0
    return parse_checkpoint(got[1], name), got[0]


def run_batch(store, args, say, held):
    """One read-process-write-commit cycle. held: None for the first batch
    (read the checkpoint), else the (checkpoint, revision) of this run's
    last commit. Returns (records read, (checkpoint, revision) now held);
    0 records: caught up. Raises Conflict if fenced."""
    if held is None:
        cp, rev = read_checkpoint(store, args.name)
        say("read checkpoint %d (revision %d)" % (cp, rev))
    else:
        cp, rev = held
    records = read_records(args.orders, cp, args.batch_size)
    if not records:
        say("no records after %d: caught up" % cp)
        return 0, (cp, rev)
    new_cp = records[-1]["updated_at"]
    say("processed %d records (updated_at %d..%d)"
        % (len(records), records[0]["updated_at"], new_cp))
    if args.stall_until:
        stall(args.stall_until, say)
    changed, unchanged, norders = merge_output(args.output, records)
    say("wrote %s durably (%d orders): %d records changed it, %d were already in it"
        % (os.path.basename(args.output), norders, changed, unchanged))
    if args.crash_before_commit:
        say("CRASH (simulated) before committing checkpoint %d" % new_cp)
        sys.stdout.flush()
        os._exit(1)
    # Committing last is what makes a crash anywhere above harmless; the
    # CAS is what makes a stall anywhere above harmless.
    new_rev = store.cas(args.name, rev, str(new_cp))
    say("committed checkpoint %d (revision %d -> %d)" % (new_cp, rev, new_rev))
    if args.crash_after_commit:
        say("CRASH (simulated) right after committing %d" % new_cp)
        sys.stdout.flush()
        os._exit(1)
    return len(records), (new_cp, new_rev)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the order pipeline incrementally.")
    ap.add_argument("--name", default="orders", help="pipeline name: the checkpoint's key")
    ap.add_argument("--orders", default=os.path.join(HERE, "orders.log"))
    ap.add_argument("--output", default=os.path.join(HERE, "output.json"))
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7070)
    ap.add_argument("--timeout", type=float, default=2.0, help="per request, seconds")
    ap.add_argument("--retries", type=int, default=8,
                    help="reconnect attempts per request (backoff 0.05 s doubling, max 1 s)")
    ap.add_argument("--until-caught-up", action="store_true",
                    help="repeat batches until no new records are left")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds to sleep between batches (lets you watch or disturb a run)")
    ap.add_argument("--stall-until", metavar="FILE",
                    help="after processing, wait until FILE exists before writing and "
                         "committing (a deterministic zombie)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--crash-before-commit", action="store_true",
                   help="exit after writing the output, before committing")
    g.add_argument("--crash-after-commit", action="store_true",
                   help="exit right after committing")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be >= 1")

    def say(msg):
        print("pipeline %s: %s" % (args.name, msg), flush=True)

    try:
        def on_retry(attempt, delay, exc):
            say("statestored unreachable (%s); retry %d/%d in %.2f s"
                % (exc, attempt, args.retries, delay))

        with StateClient(args.host, args.port, args.timeout, args.retries,
                         on_retry=on_retry) as store:
            n, held = run_batch(store, args, say, None)
            while n and args.until_caught_up:
                time.sleep(args.pause)
                n, held = run_batch(store, args, say, held)
            if store.reconnects:
                say("(reconnected to statestored %d time(s) along the way)" % store.reconnects)
    except StateStoreUnavailable as e:
        say("FAILED: %s; nothing committed, rerun when statestored is back" % e)
        return 3
    except BadInput as e:
        say("FAILED: %s" % e)
        return 4
    except StateStoreError as e:
        say("FAILED: statestored said ERR %s" % e)
        return 5
    except Conflict as e:
        say("FENCED: CONFLICT, %s is now at revision %d: another run committed or an "
            "operator rewound it; exiting without committing" % (e.name, e.revision))
        return 6
    return 0


if __name__ == "__main__":
    sys.exit(main())
