"""What the replication tests and the failover checker share: reading a
node's replication rows (STATS, RESP INFO replication), waiting for one of
them to say something, writing with a revision in the reply, and the
operator's moves (promote, follow). The rows are those of the spec (issue
18, shared_brief/repl_spec.md): role, epoch, fenced, revision,
durable_revision, sync_set, in_sync_set, connected_replicas,
replica<i>:id=..,state=..,acked=.., primary_link, lag_revisions, ...
"""
import re
import time
from contextlib import closing

from .harness import wait_until

READONLY_TEXT = "ERR readonly replica"
READONLY_RESP = b"-READONLY You can't write against a read only replica.\r\n"
SYNC_TIMEOUT_TEXT = ("ERR sync timeout: durable here but not on %d replicas; the outcome is "
                     "unknown, GETREV_CHECKPOINT resolves it")
# ... and for a write behind the held one, not yet written when it timed out.
SYNC_WAITING_TEXT = ("ERR sync timeout: not yet written, waiting behind a write not on %d "
                     "replicas; the outcome is unknown, GETREV_CHECKPOINT resolves it")
FENCED_TEXT = "ERR fenced: epoch %d exists, newer than this primary's epoch %d"
DISCARDED_RE = r"replica: discarded (\d+) records after revision (\d+)"
PROMOTED_RE = r"promoted: epoch (\d+) from revision (\d+)"
PARTIAL_RE = r"replica: partial sync from revision (\d+)"
FULL_RE = r"replica: full sync of (\d+) bytes at revision (\d+)"
FOLLOWING_RE = r"replica: following ([0-9.]+):(\d+)"
FENCED_RE = r"fenced: epoch (\d+) exists"


def auth(c, creds):
    """AUTH on a fresh connection when creds (user, password) is given."""
    if creds:
        reply = c.cmd("AUTH %s %s" % creds)
        if reply != "OK":
            raise AssertionError("AUTH %s: %r" % (creds[0], reply))
    return c


def stats_of(d, creds=None, timeout=10):
    """The STATS rows of daemon d, from a client on d's host."""
    with closing(auth(d.connect(timeout), creds)) as c:
        return c.stats()


def num(st, name, default=None):
    v = st.get(name)
    if v is None:
        if default is not None:
            return default
        raise AssertionError("STATS has no %r row: %r" % (name, sorted(st)))
    return int(v)


def replica_rows(st):
    """The replica<i> rows: [{id, state, acked, lag_revisions, ...}], in i's
    order, values as text."""
    rows = []
    for name in sorted((n for n in st if re.fullmatch(r"replica\d+", n)), key=lambda n: int(n[7:])):
        rows.append(dict(kv.split("=", 1) for kv in st[name].split(",") if "=" in kv))
    return rows


def parse_info(text):
    """RESP INFO's bulk: {name: value} of its name:value lines."""
    out = {}
    for line in text.replace("\r", "").split("\n"):
        if line and not line.startswith("#") and ":" in line:
            k, v = line.split(":", 1)
            out[k] = v
    return out


def wait_stats(d, pred, timeout=20.0, what="the condition", creds=None):
    """Polls d's STATS until pred(stats) is true; returns those stats, or
    raises AssertionError with the last ones and the daemon's log tail."""
    last = {}

    def check():
        nonlocal last
        try:
            last = stats_of(d, creds)
        except OSError as e:
            last = {"(error)": str(e)}
            return False
        try:
            return pred(last)
        except (KeyError, ValueError):
            return False

    if wait_until(check, timeout, interval=0.05):
        return last
    raise AssertionError("%s: not within %.0f s on %s; last STATS (replication rows): %r\n"
                         "log tail:\n%s" % (what, timeout, d.addr, replication_rows(last),
                                            d.log()[-3000:]))


REPL_ROWS = ("role", "epoch", "fenced", "revision", "durable_revision", "sync_replicas",
             "sync_set", "in_sync_set", "connected_replicas", "primary_host", "primary_port",
             "primary_link", "primary_epoch", "primary_commit", "lag_revisions", "lag_ms",
             "writes_waiting", "sync_wait", "sync_waits", "sync_timeouts", "full_syncs",
             "partial_syncs", "truncated_records")


def replication_rows(st):
    return {k: v for k, v in st.items() if k in REPL_ROWS or re.fullmatch(r"replica\d+", k)
            or k.startswith("(")}


def link_up(st):
    """primary_link: the spec's up|down, or 1|0 as the stats table (and
    /metrics) has it since main's 1cdac76 (cluster_findings.md)."""
    return st.get("primary_link") in ("up", "1")


def link_down(st):
    return st.get("primary_link") in ("down", "0")


def caught_up(primary_stats):
    """A predicate on a replica's STATS: applied everything primary_stats
    shows as its revision."""
    rev = num(primary_stats, "revision")
    return lambda st: st.get("role") == "replica" and num(st, "revision") >= rev


def set_rev(c, name, value):
    """A blind write whose reply carries its revision: MSET_CHECKPOINT of
    one pipeline answers OK <rev> (SET_CHECKPOINT answers a bare OK).
    Returns the revision, or the reply line when it is not OK <rev>."""
    reply = c.cmd("MSET_CHECKPOINT %s %s" % (name, value))
    m = re.fullmatch(r"OK (\d+)", reply or "")
    return int(m.group(1)) if m else reply


def promote(d, creds=None):
    with closing(auth(d.connect(10), creds)) as c:
        return c.cmd("REPLICAOF NO ONE")


def follow(d, primary, creds=None):
    with closing(auth(d.connect(10), creds)) as c:
        return c.cmd("REPLICAOF %s %d" % (primary.host.ip, primary.port))


def contents(d, prefix="", creds=None):
    """{name: (rev, value)} of every pipeline (under prefix) of d, by
    LIST_CHECKPOINTS."""
    with closing(auth(d.connect(30), creds)) as c:
        return c.listing(prefix or None)


def elapsed(t0):
    return time.monotonic() - t0


def sync_timeout_arg(seconds):
    """--sync-timeout's value for a timeout of `seconds`: it is in
    milliseconds, as Redis's WAIT timeout (the lead's decision; the first
    spec said seconds)."""
    return str(int(seconds * 1000))
