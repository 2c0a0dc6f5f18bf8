/*
 * replica.c - the replica's side of replication; see replica.h.
 *
 * Divisions: connecting; the handshake; the stream (groups, control
 * lines); writing and applying; a full sync's file; the timers; INFO.
 */
#include "server/replica.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/numparse.h"
#include "server/conffile.h"
#include "server/server.h"
#include "statestored/record.h"
#include "statestored/table.h"

/* A group in progress is kept whole in the input until it is complete:
 * the largest the primary can send is one batch (commit.h: 8 MiB, plus
 * one request's records). Past this the link fails. */
#define REPLICA_IN_MAX (512u * 1024 * 1024)
/* Complete groups gathered into one write stop here. */
#define REPLICA_WRITE_MAX (8u * 1024 * 1024)
/* A handshake or control line is short (SYNCSET: 16 members of at most
 * 64 bytes each). */
#define REPLICA_LINE_MAX 2048
/* The largest full sync's file taken: 1 TiB. */
#define REPLICA_FILE_MAX (1ull << 40)

enum rstate {
	R_IDLE,       /* not following */
	R_CONNECTING, /* the connect is under way */
	R_AUTH,       /* AUTH sent, OK awaited */
	R_HELLO,      /* REPLSYNC sent, its answer awaited */
	R_FILE,       /* a full sync's bytes arrive */
	R_STREAM,     /* groups and control lines */
	R_WAIT,       /* disconnected: the retry timer runs */
};

static double now(const struct ss_replica *rp) { return ev_now(rp->loop); }

/* The primary's revision as last heard (its PINGs, its COMMITs) less what
 * this replica applied: how far its readers are behind. */
static uint64_t behind(const struct ss_replica *rp)
{
	uint64_t known = rp->primary_rev > rp->primary_commit ? rp->primary_rev : rp->primary_commit;
	uint64_t applied = ss_table_revision(ss_store_table(rp->store));

	return known > applied ? known - applied : 0;
}


/* The server must stop (our disk failed, or memory): what follows is not
 * the primary's fault, and nothing more is read. */
static void stop_server(struct ss_replica *rp, int code)
{
	rp->stopping = 1;
	rp->ops.fatal(rp->ops.arg, code);
}
static int64_t now_ms(const struct ss_replica *rp) { return (int64_t)(now(rp) * 1000.0); }

static void drop(struct ss_replica *rp, const char *why);
static void connect_now(struct ss_replica *rp);

/* ---- writing and applying ---------------------------------------------- */

static void free_batch(struct ss_batch *b)
{
	ss_batch_free(b);
	free(b);
}

static void clear_queue(struct ss_replica *rp)
{
	for (size_t i = 0; i < rp->nqueue; i++)
		free_batch(rp->queue[i]);
	rp->nqueue = 0;
}

/* Applies the written batches the primary's COMMIT covers, in order. */
static int apply_committed(struct ss_replica *rp, uint64_t upto)
{
	size_t i = 0;

	for (; i < rp->nqueue && rp->queue_rev[i] <= upto; i++) {
		if (ss_store_apply(rp->store, rp->queue[i], now_ms(rp)) < 0) {
			ss_log_error(rp->diag, "replica: out of memory applying a durable group; "
					       "exiting so that a restart replays the log");
			stop_server(rp, SS_EXIT_ERROR);
			return -1;
		}
		free_batch(rp->queue[i]);
	}
	if (i == 0)
		return 0; /* queue may be NULL: no arithmetic on it (UB) */
	memmove(rp->queue, rp->queue + i, (rp->nqueue - i) * sizeof(*rp->queue));
	memmove(rp->queue_rev, rp->queue_rev + i, (rp->nqueue - i) * sizeof(*rp->queue_rev));
	rp->nqueue -= i;
	if (behind(rp) == 0)
		rp->caught_up = now(rp);
	return 0;
}

static int send_ack(struct ss_replica *rp)
{
	if (!rp->conn_up || rp->state != R_STREAM)
		return 0;
	if (ss_buf_printf(&rp->out, "ACK %" PRIu64 "\n", rp->durable_rev) < 0)
		return -1;
	return ss_conn_flush(&rp->conn);
}

/* done's records are durable in the log, up to revision rev: they wait in
 * the queue for a COMMIT. Returns 0, or -1 (out of memory: the server is
 * told to stop; a restart replays the log). */
static int queue_done(struct ss_replica *rp, uint64_t rev)
{
	if (rp->nqueue == rp->capqueue) {
		size_t cap = rp->capqueue ? rp->capqueue * 2 : 16;
		struct ss_batch **q = realloc(rp->queue, cap * sizeof(*q));
		uint64_t *qr = q ? realloc(rp->queue_rev, cap * sizeof(*qr)) : NULL;
		if (q)
			rp->queue = q;
		if (!qr)
			goto nomem;
		rp->queue_rev = qr;
		rp->capqueue = cap;
	}
	struct ss_batch *b = malloc(sizeof(*b));
	if (!b)
		goto nomem;
	*b = rp->done; /* the queue takes its buffers */
	ss_batch_init(&rp->done);
	rp->queue[rp->nqueue] = b;
	rp->queue_rev[rp->nqueue++] = rev;
	rp->durable_rev = rev;
	return 0;
nomem:
	/* Durable but not queued: a restart replays it; until then, stop. */
	ss_log_error(rp->diag, "replica: out of memory; exiting so that a restart replays the log");
	stop_server(rp, SS_EXIT_ERROR);
	return -1;
}

/* Writes the complete groups gathered (one group, one write, one
 * fdatasync), queues them for COMMIT and acknowledges them. A group in
 * progress is taken back out first and decoded again later. Returns 0,
 * or -1 if the link must drop (the server may have been told to stop). */
static int write_done(struct ss_replica *rp)
{
	struct ss_error err;

	if (rp->group_left) {
		ss_batch_rewind(&rp->done, &rp->mark);
		rp->group_left = 0;
		rp->parse_off = 0;
	}
	if (rp->done.nrecs == 0)
		return 0;
	uint64_t rev = rp->last_rev;
	for (size_t i = 0; i < rp->done.nops; i++)
		rev = rp->done.ops[i].rev > rev ? rp->done.ops[i].rev : rev;
	if (ss_store_write(rp->store, &rp->done, &err) < 0) {
		ss_log_warn(rp->diag, "replica: %s", err.msg);
		ss_batch_reset(&rp->done);
		if (ss_store_state(rp->store) != SS_STORE_OK) {
			stop_server(rp, SS_EXIT_ERROR);
			return -1;
		}
		drop(rp, "the log write failed; nothing of it was acknowledged");
		return -1;
	}
	if (ss_store_sync(rp->store, &err) < 0) {
		ss_log_error(rp->diag, "replica: %s; nothing of it was acknowledged; exiting so that "
				       "a restart replays the log",
			     err.msg);
		stop_server(rp, SS_EXIT_FSYNC);
		return -1;
	}
	rp->st.fsyncs++;
	ss_repl_note_group(rp->repl, rev, ss_store_log_bytes(rp->store));
	if (queue_done(rp, rev) < 0)
		return -1;
	if (apply_committed(rp, rp->primary_commit) < 0)
		return -1;
	/* A COMMIT that came before the groups it covers applied them only
	 * now: the commit point moves with them, or a restart would show
	 * less than was shown (revisions going back). */
	ss_repl_commit_note(rp->repl, rp->primary_commit < rp->durable_rev ? rp->primary_commit
									   : rp->durable_rev);
	return send_ack(rp) < 0 ? -1 : 0;
}

/* ---- the stream ---------------------------------------------------------- */

/* One record of the group in progress, as the primary logged it: decoded
 * (its CRC checked), raw again, added to done and compared byte for byte. */
static int take_record(struct ss_replica *rp, const char *line, size_t used,
		       const struct ss_record *rec)
{
	struct ss_record raw;

	if (rec->type == SS_REC_GROUP)
		return -1;
	/* The stream goes forward only: past what the log holds and every
	 * group before it (one revision is one command, in one group), and
	 * never below a record before it in its group (a multi-commit's
	 * records share one revision). */
	if ((rec->type == SS_REC_SET || rec->type == SS_REC_DEL) &&
	    (rec->rev <= rp->durable_rev || rec->rev <= rp->group_floor ||
	     rec->rev < rp->last_rev))
		return -1;
	if (rec->type == SS_REC_EPOCH && rec->epoch <= rp->last_epoch)
		return 0; /* held already: a stream from a point two epochs share */
	ss_record_raw(rec, rp->scratch, &raw);
	size_t at = rp->done.len ? rp->done.len : SS_BATCH_PREFIX;
	if (ss_batch_add(&rp->done, &raw, NULL) < 0)
		return -1;
	if (rp->done.len - at != used || memcmp(rp->done.buf + at, line, used) != 0)
		return -1; /* not the bytes a log of ours would hold */
	if (rec->type == SS_REC_EPOCH)
		rp->last_epoch = rec->epoch;
	if (rec->rev > rp->last_rev)
		rp->last_rev = rec->rev;
	rp->st.records++;
	return 0;
}

int ss_replica_load_held(struct ss_replica *rp, struct ss_store *store, uint64_t from)
{
	rp->store = store;
	uint64_t end = ss_store_log_bytes(rp->store);
	struct ss_buf tail;
	int rc = -1;

	if (from >= end)
		return 0;
	ss_buf_init(&tail);
	size_t n = (size_t)(end - from);
	if (ss_buf_pread(&tail, ss_store_log_fd(rp->store), from, n) < 0) {
		ss_log_error(rp->diag, "replica: cannot read back the log's uncommitted tail: %s",
			     strerror(errno));
		goto out;
	}
	const char *p = ss_buf_head(&tail);
	/* Our own log, whole groups: each becomes one queued batch; what the
	 * replay applied already (the first group's records up to the
	 * table's revision) is skipped. */
	uint64_t applied = ss_table_revision(ss_store_table(rp->store));
	rp->durable_rev = rp->last_rev = applied;
	/* The index (for a promotion) learns these groups as they go by. */
	ss_repl_rebase(rp->repl, applied, from);
	for (size_t at = 0; at < n;) {
		struct ss_record rec;
		size_t used;
		if (ss_record_decode(p + at, n - at, &rec, &used) != SS_DEC_OK)
			goto out;
		if (rec.type == SS_REC_GROUP) {
			if (at > 0)
				ss_repl_note_group(rp->repl, rp->last_rev, from + at);
			if (rp->done.nrecs && queue_done(rp, rp->last_rev) < 0)
				goto out;
		} else if ((rec.type == SS_REC_EPOCH ? rec.rev >= applied : rec.rev > applied) &&
			   rec.type != SS_REC_REV && take_record(rp, p + at, used, &rec) < 0) {
			goto out;
		}
		at += used;
	}
	ss_repl_note_group(rp->repl, rp->last_rev, end);
	if (rp->done.nrecs && queue_done(rp, rp->last_rev) < 0)
		goto out;
	rp->durable_rev = rp->last_rev;
	if (rp->nqueue)
		ss_log_notice(rp->diag, "replica: %zu groups past the commit point (revision %" PRIu64
					") wait for the primary's COMMIT, up to revision %" PRIu64,
			      rp->nqueue, applied, rp->durable_rev);
	rc = 0;
out:
	if (rc < 0)
		ss_batch_reset(&rp->done);
	ss_buf_free(&tail);
	return rc;
}

static int control_line(struct ss_replica *rp, const char *p, size_t n)
{
	uint64_t a, b;
	const char *sp;

	if (n > 7 && memcmp(p, "COMMIT ", 7) == 0 && ss_parse_u64(p + 7, n - 7, &a) == 0) {
		if (a > rp->primary_commit)
			rp->primary_commit = a;
		if (apply_committed(rp, rp->primary_commit) < 0)
			return -1;
		/* What this log holds of it is committed. */
		ss_repl_commit_note(rp->repl, a < rp->durable_rev ? a : rp->durable_rev);
		return 0;
	}
	if (n > 5 && memcmp(p, "PING ", 5) == 0 && (sp = memchr(p + 5, ' ', n - 5)) != NULL &&
	    ss_parse_u64(p + 5, (size_t)(sp - p - 5), &a) == 0 &&
	    ss_parse_u64(sp + 1, (size_t)(p + n - sp - 1), &b) == 0) {
		rp->primary_rev = b;
		return 0;
	}
	/* SYNCSET <member> <ids>: whether this replica is in the set, and
	 * the set ("-" for none). */
	if (n > 10 && memcmp(p, "SYNCSET ", 8) == 0 && (p[8] == '0' || p[8] == '1') &&
	    p[9] == ' ' && n - 10 < sizeof rp->syncset) {
		rp->in_set = p[8] == '1';
		memcpy(rp->syncset, p + 10, n - 10);
		rp->syncset[n - 10] = '\0';
		return 0;
	}
	return -1;
}

/* Decodes what arrived: whole groups into done, control lines at once.
 * Consumes only whole groups and lines. Returns 0, or -1 (protocol error:
 * the link drops). */
static int parse_stream(struct ss_replica *rp)
{
	for (;;) {
		const char *head = ss_buf_head(&rp->in);
		size_t size = ss_buf_size(&rp->in);
		const char *p = head + rp->parse_off;
		size_t left = size - rp->parse_off;
		struct ss_record rec;
		size_t used;

		if (left == 0)
			return 0;
		if (rp->group_left) {
			enum ss_dec d = ss_record_decode(p, left, &rec, &used);
			if (d == SS_DEC_PARTIAL)
				return 0;
			if (d != SS_DEC_OK || take_record(rp, p, used, &rec) < 0)
				return -1;
			rp->parse_off += used;
			if (--rp->group_left == 0) {
				ss_buf_consume(&rp->in, rp->parse_off);
				rp->parse_off = 0;
				rp->st.groups++;
				if (rp->done.len >= REPLICA_WRITE_MAX && write_done(rp) < 0)
					return -1;
			}
			continue;
		}
		if (p[0] == 'G') {
			enum ss_dec d = ss_record_decode(p, left, &rec, &used);
			if (d == SS_DEC_PARTIAL)
				return 0;
			if (d != SS_DEC_OK || rec.type != SS_REC_GROUP)
				return -1;
			if (rp->done.nops + rec.count > SS_GROUP_MAX && write_done(rp) < 0)
				return -1;
			ss_batch_mark(&rp->done, &rp->mark);
			rp->group_floor = rp->last_rev;
			rp->group_left = rec.count;
			rp->parse_off = used;
			continue;
		}
		const char *nl = memchr(p, '\n', left < REPLICA_LINE_MAX ? left : REPLICA_LINE_MAX);
		if (!nl)
			return left < REPLICA_LINE_MAX ? 0 : -1;
		/* A COMMIT may cover what this read brought: write it first. */
		if (rp->done.nrecs && write_done(rp) < 0)
			return -1;
		if (control_line(rp, p, (size_t)(nl - p)) < 0)
			return -1;
		ss_buf_consume(&rp->in, (size_t)(nl - p) + 1);
	}
}

/* The store was replaced (a full sync installed) or cut: what it holds is
 * all this replica has, applied and committed; nothing stays queued. */
static void restart_from_store(struct ss_replica *rp)
{
	struct ss_table *t = ss_store_table(rp->store);

	clear_queue(rp);
	rp->durable_rev = rp->last_rev = ss_table_revision(t);
	rp->last_epoch = ss_table_epoch(t);
	rp->primary_commit = rp->durable_rev;
	ss_repl_commit_note(rp->repl, rp->durable_rev);
}

/* ---- a full sync's file --------------------------------------------------- */

static char *sync_path(const struct ss_replica *rp)
{
	size_t n = strlen(rp->data_dir) + sizeof(SS_LOG_SYNC_FILE) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", rp->data_dir, SS_LOG_SYNC_FILE);
	return p;
}

static int file_begin(struct ss_replica *rp, uint64_t rev, uint64_t len)
{
	char *path = sync_path(rp);

	if (!path)
		return -1;
	rp->sync_fd = ss_io_open(rp->io, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (rp->sync_fd < 0)
		ss_log_error(rp->diag, "replica: cannot create %s: %s", path, strerror(errno));
	free(path);
	if (rp->sync_fd < 0)
		return -1;
	rp->sync_len = len;
	rp->sync_got = 0;
	rp->state = R_FILE;
	ss_log_notice(rp->diag, "replica: full sync of %" PRIu64 " bytes at revision %" PRIu64, len,
		      rev);
	return 0;
}

/* The file is whole: sync it, make it the log, go on streaming. */
static int file_end(struct ss_replica *rp)
{
	int rc = ss_io_fdatasync(rp->io, rp->sync_fd);
	int e = errno;

	rp->io->close(rp->io->ctx, rp->sync_fd);
	rp->sync_fd = -1;
	if (rc < 0) {
		ss_log_error(rp->diag, "replica: fdatasync of the full sync's file failed: %s",
			     strerror(e));
		return -1;
	}
	clear_queue(rp);
	ss_batch_reset(&rp->done);
	rp->group_left = 0;
	rp->parse_off = 0;
	if (rp->ops.install(rp->ops.arg) < 0)
		return -1;
	rp->st.full_syncs++;
	restart_from_store(rp); /* a backup holds only what its primary committed */
	rp->force_full = 0;
	rp->state = R_STREAM;
	return send_ack(rp);
}

static int file_bytes(struct ss_replica *rp)
{
	size_t n = ss_buf_size(&rp->in);
	uint64_t want = rp->sync_len - rp->sync_got;

	if (n > want)
		n = (size_t)want;
	if (n && ss_io_pwrite_all(rp->io, rp->sync_fd, ss_buf_head(&rp->in), n,
				  (off_t)rp->sync_got) < 0) {
		ss_log_error(rp->diag, "replica: writing the full sync's file failed: %s",
			     strerror(errno));
		return -1;
	}
	ss_buf_consume(&rp->in, n);
	rp->sync_got += n;
	return rp->sync_got == rp->sync_len ? file_end(rp) : 0;
}

/* ---- the handshake --------------------------------------------------------- */

static int send_hello(struct ss_replica *rp)
{
	rp->state = R_HELLO;
	return ss_buf_printf(&rp->out, "REPLSYNC %" PRIu64 " %" PRIu64 " %d%s\n", rp->last_epoch,
			     rp->durable_rev, rp->my_port, rp->force_full ? " FULL" : "");
}

/* p is "<word> <n1> [<n2> [<n3>]]" with exactly n decimal numbers (no
 * sign, no leading zeros: ss_parse_u64). Returns 0 and the numbers, or -1. */
static int words(const char *p, const char *word, int n, uint64_t *a, uint64_t *b, uint64_t *c)
{
	uint64_t *out[3] = {a, b, c};
	size_t wl = strlen(word);

	if (strncmp(p, word, wl) != 0)
		return -1;
	p += wl;
	for (int i = 0; i < n; i++) {
		if (*p++ != ' ')
			return -1;
		size_t len = strcspn(p, " ");
		if (ss_parse_u64(p, len, out[i]) < 0)
			return -1;
		p += len;
	}
	return *p == '\0' ? 0 : -1;
}

/* One handshake line. Returns 0, 1 to reconnect at once, -1 to drop. */
static int hello_line(struct ss_replica *rp, char *p, size_t n)
{
	uint64_t a, b, c;

	p[n] = '\0';
	if (rp->state == R_HELLO && strncmp(p, "PING ", 5) == 0)
		return 0; /* the primary prepares a full sync: it is alive */
	if (rp->state == R_AUTH) {
		if (strcmp(p, "OK") != 0) {
			ss_log_error(rp->diag, "replica: the primary refused our AUTH: %s", p);
			return -1;
		}
		return send_hello(rp);
	}
	if (words(p, "CONTINUE", 2, &a, &b, NULL) == 0) {
		if (a < rp->last_epoch) {
			ss_log_error(rp->diag, "replica: the primary is at epoch %" PRIu64
					       ", older than ours (%" PRIu64 "): refused", a, rp->last_epoch);
			return -1;
		}
		rp->primary_epoch = a;
		rp->just_cut = 0;
		rp->st.partial_syncs++;
		rp->state = R_STREAM;
		ss_log_notice(rp->diag, "replica: partial sync from revision %" PRIu64, b);
		return send_ack(rp) < 0 ? -1 : 0;
	}
	if (words(p, "FULLSYNC", 3, &a, &b, &c) == 0) {
		if (c > REPLICA_FILE_MAX) {
			ss_log_error(rp->diag, "replica: a full sync of %" PRIu64 " bytes: refused", c);
			return -1;
		}
		if (a < rp->last_epoch) {
			ss_log_error(rp->diag, "replica: the primary is at epoch %" PRIu64
					       ", older than ours (%" PRIu64 "): refused", a, rp->last_epoch);
			return -1;
		}
		rp->primary_epoch = a;
		rp->just_cut = 0;
		return file_begin(rp, b, c);
	}
	if (words(p, "TRUNCATE", 1, &a, NULL, NULL) == 0) {
		uint64_t discarded = 0;
		if (rp->just_cut) {
			/* Cut once already: a primary that asks again is not
			 * seeing what we hold now. Back off. */
			ss_log_warn(rp->diag, "replica: asked to cut back to revision %" PRIu64
					      " again after cutting", a);
			return -1;
		}
		int rc = rp->ops.cut(rp->ops.arg, a, &discarded);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			ss_log_notice(rp->diag, "replica: cannot cut back to revision %" PRIu64
						" (the log's snapshot is past it): a full sync", a);
			rp->force_full = 1;
		} else {
			rp->st.truncated_records += discarded;
			ss_log_notice(rp->diag, "replica: discarded %" PRIu64 " records after revision %"
						PRIu64, discarded, a);
		}
		/* The old history's commit point means nothing in the new one:
		 * what the cut kept is shared (the new primary holds it), what
		 * comes next waits for the new primary's COMMIT. */
		restart_from_store(rp);
		rp->just_cut = 1;
		return 1;
	}
	ss_log_error(rp->diag, "replica: the primary answered: %s", p);
	return -1;
}

static void on_input(struct ss_conn *c, void *arg)
{
	struct ss_replica *rp = arg;
	(void)c;

	rp->heard = now(rp);
	while (ss_buf_size(&rp->in) > 0 && !rp->stopping) {
		if (rp->state == R_STREAM) {
			if (parse_stream(rp) < 0) {
				/* not dropped by a failed write, nor stopping */
				if (rp->state == R_STREAM && !rp->stopping) {
					rp->st.protocol_errors++;
					drop(rp, "the primary sent what is not a valid stream");
				}
				return;
			}
			/* What this read completed: one write, one fdatasync. */
			if (rp->done.nrecs && !rp->group_left && write_done(rp) < 0)
				return;
			break;
		}
		if (rp->state == R_FILE) {
			if (file_bytes(rp) < 0) {
				drop(rp, "the full sync failed");
				return;
			}
			continue;
		}
		char *p = ss_buf_head(&rp->in);
		size_t n = ss_buf_size(&rp->in);
		char *nl = memchr(p, '\n', n);
		if (!nl) {
			if (n > REPLICA_LINE_MAX)
				drop(rp, "the primary's answer is too long");
			return;
		}
		size_t len = (size_t)(nl - p);
		if (len && p[len - 1] == '\r')
			len--;
		int rc = hello_line(rp, p, len);
		ss_buf_consume(&rp->in, (size_t)(nl - p) + 1);
		if (rc > 0 && rp->testing) {
			rp->state = R_HELLO; /* as if reconnected, REPLSYNC sent */
			continue;
		}
		if (rc != 0) {
			drop(rp, rc > 0 ? NULL : "the handshake failed");
			if (rc > 0)
				connect_now(rp);
			return;
		}
	}
	if (rp->conn_up && ss_conn_flush(&rp->conn) < 0)
		drop(rp, "the connection failed");
	else if (rp->conn_up)
		ss_conn_update(&rp->conn);
}

/* ---- the connection -------------------------------------------------------- */

static size_t room(void *arg)
{
	struct ss_replica *rp = arg;
	size_t n = ss_buf_size(&rp->in);

	return n >= REPLICA_IN_MAX ? 0 : REPLICA_IN_MAX - n;
}

static void hangup(void *arg, int error)
{
	struct ss_replica *rp = arg;
	(void)error;
	drop(rp, "the primary closed the connection");
}

static int done_fn(void *arg)
{
	(void)arg;
	return 0;
}

static void sent(void *arg) { (void)arg; }

static void closed(void *arg)
{
	struct ss_replica *rp = arg;
	rp->conn_up = 0;
}

static const struct ss_conn_owner replica_owner = {
	.out_high = 1u << 30,
	.room = room,
	.input = on_input,
	.hangup = hangup,
	.done = done_fn,
	.sent = sent,
	.closed = closed,
};

static void retry_later(struct ss_replica *rp)
{
	rp->state = R_WAIT;
	ev_timer_stop(rp->loop, &rp->retry_w);
	ev_timer_set(&rp->retry_w, 1.0, 0.);
	ev_timer_start(rp->loop, &rp->retry_w);
}

/* Closes the link; retries in a second (why NULL: at once, said already). */
static void drop(struct ss_replica *rp, const char *why)
{
	if (why)
		ss_log_warn(rp->diag, "replica: link to %s:%s down: %s", rp->host, rp->port, why);
	ev_io_stop(rp->loop, &rp->connect_w);
	if (rp->conn_up) {
		ss_buf_consume(&rp->out, ss_buf_size(&rp->out));
		ss_conn_close(&rp->conn);
	} else if (rp->fd >= 0) {
		close(rp->fd);
	}
	rp->fd = -1;
	rp->conn_up = 0;
	/* in_set stays as last heard from this primary (the spec's
	 * in_sync_set): the operator reads it once the primary is gone, to
	 * choose whom to promote. A new primary clears it (ss_replica_start). */
	if (rp->sync_fd >= 0) {
		rp->io->close(rp->io->ctx, rp->sync_fd);
		rp->sync_fd = -1;
	}
	ss_buf_consume(&rp->in, ss_buf_size(&rp->in));
	/* A group in progress is taken back; complete ones are not written:
	 * the next sync sends them again. */
	ss_batch_reset(&rp->done);
	rp->group_left = 0;
	rp->parse_off = 0;
	rp->last_rev = rp->durable_rev;
	if (rp->active)
		retry_later(rp);
	else
		rp->state = R_IDLE;
}

static void connected(struct ss_replica *rp)
{
	int one = 1;

	(void)setsockopt(rp->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (ss_conn_init(&rp->conn, rp->loop, rp->fd, &ss_transport_tcp, &rp->in, &rp->out,
			 &replica_owner, rp) < 0) {
		drop(rp, "out of memory");
		return;
	}
	rp->conn_up = 1;
	ss_log_notice(rp->diag, "replica: following %s:%s", rp->host, rp->port);
	int rc;
	if (rp->user[0]) {
		rp->state = R_AUTH;
		rc = ss_buf_printf(&rp->out, "AUTH %s %s\n", rp->user, rp->pass);
	} else {
		rc = send_hello(rp);
	}
	if (rc < 0 || ss_conn_flush(&rp->conn) < 0)
		drop(rp, "cannot send the handshake");
	else
		ss_conn_update(&rp->conn);
}

static void on_connect(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_replica *rp = w->data;
	int err = 0;
	socklen_t len = sizeof err;

	ev_io_stop(rp->loop, w);
	if (getsockopt(rp->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		char why[160];
		snprintf(why, sizeof why, "cannot connect: %s", strerror(err));
		drop(rp, why);
		return;
	}
	connected(rp);
}

static void connect_now(struct ss_replica *rp)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(rp->host, rp->port, &hints, &res);

	if (rc != 0) {
		char why[400];
		snprintf(why, sizeof why, "cannot resolve %s: %s", rp->host, gai_strerror(rc));
		drop(rp, why);
		return;
	}
	rp->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (rp->fd < 0) {
		freeaddrinfo(res);
		drop(rp, strerror(errno));
		return;
	}
	rp->state = R_CONNECTING;
	rp->heard = now(rp);
	rc = connect(rp->fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc == 0) {
		connected(rp);
		return;
	}
	if (errno != EINPROGRESS) {
		char why[160];
		snprintf(why, sizeof why, "cannot connect: %s", strerror(errno));
		drop(rp, why);
		return;
	}
	ev_io_set(&rp->connect_w, rp->fd, EV_WRITE);
	ev_io_start(rp->loop, &rp->connect_w);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_replica *rp = w->data;

	if (rp->active && rp->state == R_WAIT)
		connect_now(rp);
}

/* Every second: an ACK (the primary's liveness check), and the lag. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_replica *rp = w->data;

	if (behind(rp) == 0)
		rp->caught_up = now(rp);
	/* The primary PINGs every second: silence past --repl-timeout is a
	 * dead primary or a cut network, which TCP may not report for
	 * minutes. The link drops, and the lag shows from then on. */
	if (rp->timeout > 0 && rp->state != R_WAIT && rp->state != R_IDLE &&
	    now(rp) - rp->heard > rp->timeout) {
		char why[80];
		snprintf(why, sizeof why, "silent for %.0f s (--repl-timeout)", rp->timeout);
		drop(rp, why);
		return;
	}
	if (rp->state == R_STREAM && send_ack(rp) < 0) {
		drop(rp, "the connection failed");
	} else if ((rp->state == R_HELLO || rp->state == R_FILE) && rp->conn_up) {
		/* A heartbeat while the handshake or a full sync's file is
		 * under way (ACK 0 acknowledges nothing): the primary must not
		 * take a long transfer for a dead replica. */
		if (ss_buf_puts(&rp->out, "ACK 0\n") < 0 || ss_conn_flush(&rp->conn) < 0)
			drop(rp, "the connection failed");
	}
}

/* ---- the role ------------------------------------------------------------- */

void ss_replica_set_store(struct ss_replica *rp, struct ss_store *store) { rp->store = store; }

void ss_replica_start(struct ss_replica *rp, struct ss_store *store, const char *host,
		      const char *port)
{
	if (rp->active)
		drop(rp, NULL);
	rp->store = store;
	snprintf(rp->host, sizeof rp->host, "%s", host);
	snprintf(rp->port, sizeof rp->port, "%s", port);
	struct ss_table *t = ss_store_table(store);
	/* What the log holds past what is applied (queued: written and not
	 * committed, or held back at a restart) is reported as held. */
	if (rp->nqueue == 0)
		rp->durable_rev = rp->last_rev = ss_table_revision(t);
	if (ss_table_epoch(t) > rp->last_epoch)
		rp->last_epoch = ss_table_epoch(t);
	rp->primary_commit = ss_table_revision(t);
	rp->primary_rev = rp->durable_rev;
	rp->caught_up = now(rp);
	/* A new primary: what the last one said of its sync set is void. */
	rp->in_set = 0;
	rp->syncset[0] = '\0';
	rp->active = 1;
	ev_timer_again(rp->loop, &rp->tick_w);
	connect_now(rp);
}

int ss_replica_stop(struct ss_replica *rp)
{
	if (!rp->active)
		return 0;
	rp->active = 0;
	drop(rp, NULL);
	ev_timer_stop(rp->loop, &rp->retry_w);
	ev_timer_stop(rp->loop, &rp->tick_w);
	/* What this node's log holds is its history now. */
	return apply_committed(rp, UINT64_MAX);
}

size_t ss_replica_unapplied(const struct ss_replica *rp)
{
	size_t n = 0;

	for (size_t i = 0; i < rp->nqueue; i++) {
		size_t len;
		(void)ss_batch_seal(rp->queue[i], &len);
		n += len;
	}
	return n;
}

static int read_auth_file(struct ss_replica *rp, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;

	if (ss_conffile_read(path, 4096, &st, &text, &len) < 0) {
		ss_log_error(rp->diag, "--primary-auth-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		ss_log_error(rp->diag, "--primary-auth-file %s is writable by others: refused", path);
		explicit_bzero(text, len);
		free(text);
		return -1;
	}
	char *sp = memchr(text, ' ', len);
	char *end = memchr(text, '\n', len);
	size_t n = end ? (size_t)(end - text) : len;
	if (!sp || (size_t)(sp - text) >= sizeof rp->user || (size_t)(sp - text) == 0 ||
	    (size_t)(sp - text) + 1 >= n) {
		ss_log_error(rp->diag, "--primary-auth-file %s: want one line: USER PASSWORD", path);
		free(text);
		return -1;
	}
	memcpy(rp->user, text, (size_t)(sp - text));
	rp->user[sp - text] = '\0';
	rp->pass = strndup(sp + 1, n - (size_t)(sp - text) - 1);
	explicit_bzero(text, len);
	free(text);
	return rp->pass ? 0 : -1;
}

int ss_replica_init(struct ss_replica *rp, struct ev_loop *loop, const struct ss_diag *diag,
		    const struct ss_io *io, struct ss_repl *repl, const char *data_dir, int my_port,
		    const char *auth_file, double timeout, const struct ss_replica_ops *ops)
{
	memset(rp, 0, sizeof(*rp));
	rp->timeout = timeout;
	rp->loop = loop;
	rp->diag = diag;
	rp->io = io ? io : &ss_io_posix;
	rp->repl = repl;
	rp->data_dir = data_dir;
	rp->my_port = my_port;
	rp->ops = *ops;
	rp->fd = rp->sync_fd = -1;
	ss_buf_init(&rp->in);
	ss_buf_init(&rp->out);
	ss_batch_init(&rp->done);
	ev_io_init(&rp->connect_w, on_connect, -1, EV_WRITE);
	rp->connect_w.data = rp;
	ev_timer_init(&rp->retry_w, on_retry, 1., 0.);
	rp->retry_w.data = rp;
	ev_timer_init(&rp->tick_w, on_tick, 0., 1.);
	rp->tick_w.data = rp;
	rp->scratch = malloc(SS_NAME_MAX + SS_VALUE_MAX);
	if (!rp->scratch)
		return -1;
	if (auth_file && auth_file[0] && read_auth_file(rp, auth_file) < 0)
		return -1;
	return 0;
}

void ss_replica_free(struct ss_replica *rp)
{
	if (rp->loop) {
		rp->active = 0;
		drop(rp, NULL);
		ev_timer_stop(rp->loop, &rp->retry_w);
		ev_timer_stop(rp->loop, &rp->tick_w);
	}
	clear_queue(rp);
	free(rp->queue);
	free(rp->queue_rev);
	ss_batch_free(&rp->done);
	ss_buf_free(&rp->in);
	ss_buf_free(&rp->out);
	free(rp->scratch);
	if (rp->pass) {
		explicit_bzero(rp->pass, strlen(rp->pass));
		free(rp->pass);
	}
}

/* ---- tests and fuzzers ----------------------------------------------------- */

void ss_replica_test_begin(struct ss_replica *rp, struct ss_store *store)
{
	struct ss_table *t = ss_store_table(store);

	rp->store = store;
	rp->testing = 1;
	rp->active = 1;
	rp->durable_rev = rp->last_rev = rp->primary_commit = ss_table_revision(t);
	rp->last_epoch = ss_table_epoch(t);
	rp->state = R_HELLO;
}

int ss_replica_test_feed(struct ss_replica *rp, const void *p, size_t n)
{
	if (rp->state == R_WAIT || rp->state == R_IDLE)
		return -1;
	if (ss_buf_append(&rp->in, p, n) < 0)
		return -1;
	on_input(NULL, rp);
	return rp->state == R_WAIT || rp->state == R_IDLE ? -1 : 0;
}

/* ---- INFO ------------------------------------------------------------------ */

uint64_t ss_replica_lag(const struct ss_replica *rp, uint64_t *ms)
{
	uint64_t lag = behind(rp);

	*ms = lag ? (uint64_t)((now(rp) - rp->caught_up) * 1000.0) : 0;
	return lag;
}

int ss_replica_link_up(const struct ss_replica *rp)
{
	return rp->conn_up && (rp->state == R_STREAM || rp->state == R_FILE);
}

int ss_replica_rows(struct ss_replica *rp, ss_replica_row_fn row, void *arg)
{
	char v[32];

	if (row(arg, "primary_host", rp->host[0] ? rp->host : "-") < 0 ||
	    row(arg, "primary_port", rp->port[0] ? rp->port : "-") < 0 ||
	    row(arg, "sync_set", rp->syncset[0] ? rp->syncset : "-") < 0)
		return -1;
	snprintf(v, sizeof v, "%d", rp->in_set);
	return row(arg, "in_sync_set", v);
}
