/*
 * fuzz_conn.c - libFuzzer target for the whole request path: client bytes ->
 * ss_session_execute (the daemon's own request loop: ss_text_parse ->
 * ss_cmd_execute -> the open batch) -> ss_store_write / sync / apply ->
 * ss_session_answer, driven the way the server (clients.c, commit.c)
 * drives it, on a real store in this process's scratch directory (tmpfs
 * when available).
 *
 * The input is what clients send, with escapes that stand for events. Plain
 * protocol text is a valid input: it is all sent on connection 1, and read,
 * executed and committed when the input ends.
 *
 *   0xff 0xff       a literal 0xff byte
 *   0xff 'r'        the current connection becomes readable: one read (what
 *                   fits in its input buffer), then its requests execute
 *   0xff 'c'        the loop is about to block: commit the open batch
 *   0xff 'l'        one loop iteration: every connection reads, then commit
 *   0xff '1'..'3'   later bytes are sent on connection 1, 2 or 3
 *   0xff 'e'        the current connection's client shuts its side (EOF)
 *   0xff 't' b      the clock advances: b*10 ms if b < 128, else (b-127) min
 *   0xff 'x'        background expiry (ss_table_expire_some, a few slots)
 *   0xff 'f' b      arm a one-shot I/O fault on the ((b>>3)&7)+1-th next call:
 *                   b&7 = pwrite EIO, pwrite ENOSPC, short pwrite, fdatasync
 *                   EIO, ftruncate EIO, rename EIO, fsync EIO, open EMFILE
 *   0xff other      same as 'l'
 * and, only at the very start (configuration; defaults in brackets):
 *   0xff 'M' b      max_line: 1024, 1100, 4096, 70000 or 128 KiB [1024]
 *   0xff 'P' b      preallocation: 0, 64, 4096 or 65536 bytes [0]
 *   0xff 'N' b*5    the clock's start, unix ms, 40 bits big-endian [1.7e12]
 *   0xff 'B' b      the open batch's cap: 4096, 1, 100 or 1000 bytes [4096]
 *   0xff 'R' b      catch-up rounds before a compaction's finish: b&3 [1]
 *
 * The harness plays the server's part (clients.c, commit.c, conn.c) around
 * session.c: a read takes what ss_session_room allows; process_input runs ss_session_execute,
 * lets the client read everything when it reports the output's high mark
 * (so backpressure never holds a connection back) and parks a connection
 * that found the batch full until the next commit; commit() writes, syncs
 * and applies the batch, answers its ops in order, resumes the connections
 * it answered and those that found the batch full, then advances a
 * compaction: a requested COMPACT writes its snapshot at once (the forked
 * child's work, of the table as it is then), and each later commit runs a
 * catch-up round over the tail that commits left in the old log - the job
 * here, not on a thread - until the round budget is spent, then the
 * finish, which answers the COMPACTs of that run. A failed sync stops
 * everything, as the daemon exits; so does a store left refusing writes (a failed write whose cut-back failed, a
 * compaction whose directory fsync failed), after the replies owed are
 * sent. The batch cap is small (the daemon's is 8 MiB) so that inputs
 * reach it.
 *
 * Oracles:
 *   - every request's result (seen through ss_session_env.observe) matches
 *     a reference dispatcher written from the protocol (status; exact reply
 *     for reads, checked against a reference model of the durable state;
 *     the staged record for writes);
 *   - every reply is one well-formed line (or STAT lines then END), and each
 *     connection gets exactly one reply per request, in order;
 *   - every connection finishes: once all clients have shut, every request
 *     is answered and every connection closes;
 *   - the in-memory table equals the model; after closing and reopening the
 *     store, the replayed table equals it too (or, if a sync failed, the
 *     model plus that unacknowledged batch), with no error, and with nothing
 *     torn unless a fault was injected;
 *   - no write, sync or compaction fails unless a fault was injected.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzsupport.h"
#include "statestored/batch.h"
#include "common/buf.h"
#include "cmd/cmd.h"
#include "cmd/session.h"
#include "statestored/snapshot.h"
#include "proto/proto.h"
#include "statestored/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONN 3
#define ESC 0xff
/* The daemon's batch cap is 8 MiB, far beyond a fuzz input: by default the
 * harness uses a cap that inputs reach, so that SS_SESSION_FULL runs. */
#define SS_FUZZ_BATCH_MAX 4096

struct fconn {
	struct ss_session s; /* the server's side; first, so an op's owner is the fconn */
	int id;
	char *q;             /* bytes sent by the client, not yet read */
	size_t qlen, qoff, qcap;
	int shut; /* the client shut its side */
	/* the client's view */
	int in_stats;           /* inside a STATS reply */
	uint64_t requests;      /* requests that owe a reply */
	uint64_t replies;       /* replies received */
};

struct fz {
	struct fz_io fio;
	struct ss_store *store;
	struct ss_batch batch;
	struct fz_map model; /* the durable state, as the protocol defines it */
	struct fz_map doubt; /* model + a batch whose sync failed */
	int have_doubt;
	struct fconn conns[NCONN];
	struct fconn *touched[NCONN];
	int cur;
	int64_t now;
	size_t max_line, prealloc, batch_max, expire_cursor;
	int compact_requested;
	int compacting;   /* a snapshot is written; the tail grows until the finish */
	unsigned rounds, round_budget; /* catch-up rounds done, and before the finish */
	int stopped; /* a sync failed: the daemon would exit */
	uint64_t rejected, commit_seq;
};

static struct fz Z;

/* ---- the reference dispatcher ---- */

enum ref { R_ERR, R_SET, R_DEL, R_GET, R_TTL, R_PING, R_QUIT, R_STATS, R_COMPACT };

static int word_is(const struct ss_token *t, const char *w)
{
	size_t n = strlen(w);

	if (t->n != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->p[i];
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 32);
		if (c != (unsigned char)w[i])
			return 0;
	}
	return 1;
}

static int valid_token(const struct ss_token *t, size_t max)
{
	if (t->n < 1 || t->n > max)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		unsigned char c = (unsigned char)t->p[i];
		if (c < 0x21 || c > 0x7e)
			return 0;
	}
	return 1;
}

/* What the protocol says req is; for SET, *expire gets its expiry. */
static enum ref reference(const struct ss_request *req, int64_t now, int64_t *expire)
{
	static const struct {
		const char *name;
		enum ref kind;
		int nargs_min, nargs_max;
	} cmds[] = {
		{"SET_CHECKPOINT", R_SET, 2, 3}, {"GET_CHECKPOINT", R_GET, 1, 1},
		{"DEL_CHECKPOINT", R_DEL, 1, 1}, {"TTL_CHECKPOINT", R_TTL, 1, 1},
		{"PING", R_PING, 0, 0},          {"QUIT", R_QUIT, 0, 0},
		{"STATS", R_STATS, 0, 0},        {"COMPACT", R_COMPACT, 0, 0},
	};
	int nargs = req->argc - 1;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!word_is(&req->argv[0], cmds[i].name))
			continue;
		if (req->too_many || nargs < cmds[i].nargs_min || nargs > cmds[i].nargs_max)
			return R_ERR;
		if (cmds[i].kind == R_SET || cmds[i].kind == R_GET || cmds[i].kind == R_DEL ||
		    cmds[i].kind == R_TTL) {
			if (!valid_token(&req->argv[1], SS_NAME_MAX))
				return R_ERR;
		}
		if (cmds[i].kind != R_SET)
			return cmds[i].kind;
		if (!valid_token(&req->argv[2], SS_VALUE_MAX))
			return R_ERR;
		/* GET answers NULL for a missing checkpoint: the value is taken. */
		if (req->argv[2].n == 4 && memcmp(req->argv[2].p, "NULL", 4) == 0)
			return R_ERR;
		*expire = 0;
		if (nargs == 3) {
			const struct ss_token *t = &req->argv[3];
			int64_t ttl = 0;
			if (t->n == 0)
				return R_ERR;
			for (size_t k = 0; k < t->n; k++) {
				if (t->p[k] < '0' || t->p[k] > '9')
					return R_ERR;
				/* Any number of leading zeros; past the maximum it
				 * stays past it. */
				ttl = ttl * 10 + (t->p[k] - '0');
				if (ttl > SS_TTL_MAX_S)
					ttl = SS_TTL_MAX_S + 1;
			}
			if (ttl < 1 || ttl > SS_TTL_MAX_S)
				return R_ERR;
			*expire = now + ttl * 1000;
		}
		return R_SET;
	}
	return R_ERR;
}

/* ---- reply checks ---- */

/* out's bytes appended since before must be exactly want. */
static void expect_reply(const struct fconn *c, size_t before, const char *want, size_t wlen,
			 const char *what)
{
	size_t got = ss_buf_size(&c->s.out) - before;
	const char *p = ss_buf_head(&c->s.out) + before;

	if (got != wlen || memcmp(p, want, wlen) != 0)
		fz_fail("conn %d: %s: replied '%.*s', expected '%.*s'", c->id, what,
			(int)(got < 300 ? got : 300), p, (int)(wlen < 300 ? wlen : 300), want);
}

/* out's bytes appended since before must be one line starting with prefix. */
static void expect_line(const struct fconn *c, size_t before, const char *prefix,
			const char *what)
{
	size_t got = ss_buf_size(&c->s.out) - before;
	const char *p = ss_buf_head(&c->s.out) + before;
	const char *nl = memchr(p, '\n', got);

	if (got < strlen(prefix) || memcmp(p, prefix, strlen(prefix)) != 0 || !nl ||
	    (size_t)(nl - p) != got - 1)
		fz_fail("conn %d: %s: replied '%.*s', expected one line starting '%s'", c->id, what,
			(int)(got < 300 ? got : 300), p, prefix);
}

static int stats(void *arg, const struct ss_proto *proto, struct ss_buf *out)
{
	struct fz *z = arg;
	char entries[24], rejected[24];

	snprintf(entries, sizeof(entries), "%zu", ss_table_count(ss_store_table(z->store)));
	snprintf(rejected, sizeof(rejected), "%llu", (unsigned long long)z->rejected);
	if (proto->row(out, "entries", entries) < 0 || proto->row(out, "rejected", rejected) < 0)
		return -1;
	return 0;
}

static void check_execute(struct fz *z, struct fconn *c, const struct ss_request *req,
			  enum ss_cmd_status st, int may_reply, size_t before, size_t nops0)
{
	int64_t expire = 0;
	enum ref want = reference(req, z->now, &expire);
	size_t added = ss_buf_size(&c->s.out) - before;
	static char line[SS_VALUE_MAX + 64];

	fz_check(st != SS_CMD_NOMEM, "conn %d: out of memory executing a request", c->id);
	if (want != R_SET && want != R_DEL)
		fz_check(z->batch.nops == nops0, "conn %d: a non-write staged an op", c->id);
	if (st == SS_CMD_WAIT) {
		fz_check(!may_reply && want != R_SET && want != R_DEL,
			 "conn %d: '%.*s' waited (may_reply %d)", c->id, (int)req->argv[0].n,
			 req->argv[0].p, may_reply);
		fz_check(added == 0, "conn %d: a waiting command appended a reply", c->id);
		return;
	}
	/* Rule 3 of server.c: with replies owed, only writes go ahead. */
	if (!may_reply)
		fz_check(st == SS_CMD_STAGED, "conn %d: replied out of order (status %d)", c->id,
			 (int)st);
	switch (want) {
	case R_ERR:
		fz_check(st == SS_CMD_REPLIED, "conn %d: an invalid request got status %d", c->id,
			 (int)st);
		expect_line(c, before, "ERR ", "an invalid request");
		return;
	case R_SET:
	case R_DEL: {
		fz_check(st == SS_CMD_STAGED, "conn %d: a valid %s got status %d", c->id,
			 want == R_SET ? "SET" : "DEL", (int)st);
		fz_check(added == 0 && z->batch.nops == nops0 + 1, "conn %d: staging went wrong",
			 c->id);
		const struct ss_op *op = &z->batch.ops[nops0];
		const char *buf = z->batch.buf;
		fz_check(op->type == (want == R_SET ? SS_REC_SET : SS_REC_DEL) && op->owner == c &&
				 op->nlen == req->argv[1].n &&
				 memcmp(buf + op->name_off, req->argv[1].p, op->nlen) == 0,
			 "conn %d: the staged op is not the request", c->id);
		if (want == R_SET)
			fz_check(op->vlen == req->argv[2].n &&
					 memcmp(buf + op->value_off, req->argv[2].p, op->vlen) == 0 &&
					 op->expire_ms == expire,
				 "conn %d: the staged SET has the wrong value or expiry (%lld, want "
				 "%lld)",
				 c->id, (long long)op->expire_ms, (long long)expire);
		return;
	}
	case R_GET:
	case R_TTL: {
		const struct fz_kv *kv = fz_map_find(&z->model, req->argv[1].p, req->argv[1].n);
		int live = kv && fz_live(kv->expire_ms, z->now);
		int n;
		fz_check(st == SS_CMD_REPLIED, "conn %d: a read got status %d", c->id, (int)st);
		if (want == R_GET && live) {
			memcpy(line, kv->value, kv->vlen);
			line[kv->vlen] = '\n';
			n = (int)kv->vlen + 1;
		} else if (want == R_GET) {
			n = snprintf(line, sizeof(line), "NULL\n");
		} else {
			long long secs = !live ? -2
				       : kv->expire_ms == 0
					       ? -1
					       : (long long)((kv->expire_ms - z->now + 999) / 1000);
			n = snprintf(line, sizeof(line), "%lld\n", secs);
		}
		expect_reply(c, before, line, (size_t)n, want == R_GET ? "GET" : "TTL");
		return;
	}
	case R_PING:
		fz_check(st == SS_CMD_REPLIED, "conn %d: PING got status %d", c->id, (int)st);
		expect_reply(c, before, "PONG\n", 5, "PING");
		return;
	case R_QUIT:
		fz_check(st == SS_CMD_QUIT, "conn %d: QUIT got status %d", c->id, (int)st);
		expect_reply(c, before, "OK\n", 3, "QUIT");
		return;
	case R_STATS: {
		fz_check(st == SS_CMD_REPLIED, "conn %d: STATS got status %d", c->id, (int)st);
		int n = snprintf(line, sizeof(line), "STAT entries %zu\nSTAT rejected %llu\nEND\n",
				 ss_table_count(ss_store_table(z->store)),
				 (unsigned long long)z->rejected);
		expect_reply(c, before, line, (size_t)n, "STATS");
		return;
	}
	case R_COMPACT:
		fz_check(st == SS_CMD_COMPACT && added == 0, "conn %d: COMPACT got status %d",
			 c->id, (int)st);
		return;
	}
}

/* The client reads every reply: checks the framing and counts replies. */
static void client_receive(struct fconn *c)
{
	size_t n = ss_buf_size(&c->s.out);
	if (n == 0)
		return;
	const char *p = ss_buf_head(&c->s.out);

	fz_check(n == 0 || p[n - 1] == '\n', "conn %d: output ends in a partial line", c->id);
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = (size_t)(nl - p);
		int stat = len > 5 && memcmp(p, "STAT ", 5) == 0;

		fz_check(len > 0, "conn %d: an empty reply line", c->id);
		if (c->in_stats && !stat)
			fz_check(len == 3 && memcmp(p, "END", 3) == 0,
				 "conn %d: STAT lines not ended by END: '%.*s'", c->id, (int)len, p);
		if (stat) {
			/* STAT <name> <value> */
			const char *sp1 = memchr(p + 5, ' ', len - 5);
			fz_check(sp1 && sp1 > p + 5 && sp1 < p + len - 1 &&
					 !memchr(sp1 + 1, ' ', (size_t)(p + len - sp1 - 1)),
				 "conn %d: malformed STAT line '%.*s'", c->id, (int)len, p);
			c->in_stats = 1;
		} else if (len > 4 && memcmp(p, "ERR ", 4) == 0) {
			for (size_t i = 0; i < len; i++)
				fz_check(p[i] >= 0x20 && p[i] <= 0x7e,
					 "conn %d: byte 0x%02x in an ERR line", c->id,
					 (unsigned char)p[i]);
		} else {
			/* OK PONG NULL END 1 0, an integer, or a value: all
			 * token bytes (an integer may start with '-'). */
			fz_check(len <= SS_VALUE_MAX, "conn %d: a reply of %zu bytes", c->id, len);
			for (size_t i = 0; i < len; i++)
				fz_check(ss_is_token_char((unsigned char)p[i]),
					 "conn %d: byte 0x%02x in a reply line", c->id,
					 (unsigned char)p[i]);
		}
		if (!stat) {
			c->in_stats = 0;
			c->replies++;
		}
		p += len + 1;
		n -= len + 1;
	}
	ss_buf_consume(&c->s.out, ss_buf_size(&c->s.out));
}

/* ---- the server, mirrored ---- */

/* ss_session_env.observe: every request the session runs is checked, and
 * counted as owing a reply unless it waits to run again. */
static void observe(void *arg, const struct ss_session *s, const struct ss_request *req,
		    enum ss_cmd_status st, size_t before, size_t nops0)
{
	struct fz *z = arg;
	struct fconn *c = (struct fconn *)(uintptr_t)s;

	if (!req) {
		fz_check(c->s.pending == 0, "conn %d: a long line answered before earlier replies",
			 c->id);
		expect_reply(c, before, "ERR line too long\n", 18, "an over-long line");
		c->requests++;
		return;
	}
	/* The rule is the harness's, not the session's: with replies owed,
	 * nothing may reply at once. */
	check_execute(z, c, req, st, c->s.pending == 0, before, nops0);
	if (st != SS_CMD_WAIT)
		c->requests++;
}

/* ss_conn_flush: the client reads everything sent; then, as conn.c does,
 * empty buffers larger than a read step are freed. */
static void flush(struct fconn *c)
{
	client_receive(c);
	if (!c->s.closed)
		ss_session_trim(&c->s);
}

static void settle(struct fconn *c)
{
	flush(c);
	if (!c->s.closed && ss_session_done(&c->s))
		c->s.closed = 1;
}

/* clients.c's run(). */
static void process_input(struct fz *z, struct fconn *c)
{
	struct ss_session_env env = {
		.table = ss_store_table(z->store),
		.batch = &z->batch,
		.now_ms = z->now,
		.max_line = z->max_line,
		.batch_max_bytes = z->batch_max,
		.stopping = z->stopped,
		.rejected = &z->rejected,
		.compact_requested = &z->compact_requested,
		.stats = stats,
		.stats_arg = z,
		.observe = observe,
		.observe_arg = z,
	};

	for (;;) {
		enum ss_session_result r = ss_session_execute(&c->s, &env);
		fz_check(r != SS_SESSION_NOMEM, "conn %d: out of memory", c->id);
		if (r == SS_SESSION_HIGH) {
			fz_check(ss_buf_size(&c->s.out) >= SS_SESSION_OUT_HIGH,
				 "conn %d: HIGH below the mark", c->id);
			flush(c); /* the client reads it all, so the output drains */
			continue;
		}
		if (r == SS_SESSION_FULL) {
			fz_check(z->batch.nops > 0 && (z->batch.len >= z->batch_max ||
							z->batch.nops >= SS_GROUP_MAX),
				 "conn %d: FULL with room in the batch", c->id);
			c->s.batch_wait = 1; /* resumed after the next commit */
		}
		break;
	}
	settle(c);
}

/* One readable event: reads what fits and what the client has sent. */
static void conn_read(struct fz *z, struct fconn *c)
{
	size_t room = ss_session_room(&c->s, z->max_line);
	size_t avail = c->qlen - c->qoff;

	if (c->s.closed || c->s.eof || c->s.close_after || room == 0)
		return;
	/* conn.c makes room before read(2), so the buffer is allocated even
	 * when the read finds EOF. */
	fz_check(ss_buf_space(&c->s.in, room), "out of memory");
	if (avail == 0) {
		if (!c->shut)
			return; /* not readable */
		c->s.eof = 1;
	} else {
		size_t n = avail < room ? avail : room;
		fz_check(ss_buf_append(&c->s.in, c->q + c->qoff, n) == 0, "out of memory");
		c->qoff += n;
	}
	process_input(z, c);
}

/* Applies a committed op to the model; returns the reply it should get. */
static const char *model_apply(struct fz *z, struct fz_map *m, const struct ss_op *op)
{
	const char *name = z->batch.buf + op->name_off;

	if (op->type == SS_REC_DEL)
		return fz_map_del(m, name, op->nlen, z->now) ? "1\n" : "0\n";
	if (op->expire_ms != 0 && op->expire_ms <= z->now)
		(void)fz_map_del(m, name, op->nlen, z->now);
	else
		fz_map_set(m, name, op->nlen, z->batch.buf + op->value_off, op->vlen, op->expire_ms);
	return "OK\n";
}

/* Answers every COMPACT in the wait state: queued, or in the run that ended. */
static void compact_answer(struct fz *z, enum ss_compact_wait state, int rc, const char *msg)
{
	for (int i = 0; i < NCONN; i++) {
		struct fconn *c = &z->conns[i];
		if (c->s.compact_wait != state)
			continue;
		c->s.compact_wait = SS_COMPACT_NONE;
		size_t before = ss_buf_size(&c->s.out);
		fz_check(ss_cmd_reply_compact(c->s.proto, rc == 0 ? NULL : msg, &c->s.out) == 0,
			 "out of memory");
		if (rc == 0) {
			expect_reply(c, before, "OK\n", 3, "COMPACT");
		} else {
			expect_line(c, before, "ERR compaction failed: ", "a failed COMPACT");
			z->rejected++;
		}
		process_input(z, c);
	}
}

/* Starts a compaction as server.c and compactor.c do, the forked child's
 * part done at once: its image of the table is the table as it is now.
 * The tail then grows in the old log with every commit, until the rounds
 * and the finish (compact_step) copy it across. */
static void compact_start(struct fz *z)
{
	struct ss_error err;
	const char *tmp;
	unsigned long injected = z->fio.injected;
	int rc = ss_store_compact_begin(z->store, 0, &tmp, &err);

	z->compact_requested = 0;
	if (rc == 0 && ss_snapshot_write(ss_store_table(z->store), z->now, tmp, &z->fio.io,
					 &err) < 0) {
		ss_store_compact_abort(z->store);
		rc = -1;
	}
	fz_check(rc == 0 || z->fio.injected > injected,
		 "COMPACT failed with no fault injected during it: %s", err.msg);
	if (rc < 0) {
		compact_answer(z, SS_COMPACT_QUEUED, rc, err.msg);
		return;
	}
	z->compacting = 1;
	z->rounds = 0;
	for (int i = 0; i < NCONN; i++)
		if (z->conns[i].s.compact_wait == SS_COMPACT_QUEUED)
			z->conns[i].s.compact_wait = SS_COMPACT_RUNNING;
}

/* The next step of a running compaction: a catch-up round (the job run
 * here rather than on a thread), or, after round_budget of them, the
 * finish. */
static void compact_step(struct fz *z)
{
	struct ss_compact_job job;
	struct ss_error err;
	unsigned long injected = z->fio.injected;
	int rc = 0;

	if (z->rounds < z->round_budget) {
		rc = ss_store_compact_round(z->store, 0, &job, &err);
		if (rc == 1) {
			z->rounds++;
			ss_compact_job_run(&job);
			rc = ss_store_compact_round_end(z->store, &job, &err);
			if (rc == 0)
				goto checked;
		}
	}
	if (rc == 0) {
		rc = ss_store_compact_finish(z->store, &err);
		int old = ss_store_take_retired_fd(z->store);
		if (old >= 0)
			z->fio.io.close(z->fio.io.ctx, old);
	}
	z->compacting = 0;
	/* A failed directory fsync after the rename poisons the store: the
	 * daemon answers COMPACT, executes nothing more and exits. */
	if (rc != 0 && ss_store_state(z->store) != SS_STORE_OK)
		z->stopped = 1;
	compact_answer(z, SS_COMPACT_RUNNING, rc, err.msg);
checked:
	fz_check(rc == 0 || z->fio.injected > injected,
		 "a compaction step failed with no fault injected during it: %s", err.msg);
}

static void commit(struct fz *z)
{
	struct ss_batch *b = &z->batch;
	int ntouched = 0;

	if (b->nops > 0) {
		struct ss_error err;
		/* The store stops the daemon as soon as it refuses writes, so
		 * every failure must come from a fault injected during the
		 * call that failed. */
		unsigned long injected = z->fio.injected;
		int written = ss_store_write(z->store, b, &err) == 0;

		z->commit_seq++;
		if (!written) {
			fz_check(z->fio.injected > injected,
				 "a batch write failed with no fault injected during it: %s", err.msg);
		} else {
			injected = z->fio.injected;
			if (ss_store_sync(z->store, &err) < 0) {
				fz_check(z->fio.injected > injected,
					 "a sync failed with no fault injected during it: %s", err.msg);
				/* The daemon exits answering nothing; the batch
				 * may or may not survive. */
				z->stopped = 1;
				z->have_doubt = 1;
				fz_map_live(&z->doubt, &z->model, INT64_MIN);
				for (size_t i = 0; i < b->nops; i++)
					(void)model_apply(z, &z->doubt, &b->ops[i]);
				return;
			}
			fz_check(ss_store_apply(z->store, b, z->now) == 0, "ss_store_apply failed");
		}
		for (size_t i = 0; i < b->nops; i++) {
			struct ss_op *op = &b->ops[i];
			struct fconn *c = op->owner;
			size_t before = ss_buf_size(&c->s.out);
			const char *want = written ? model_apply(z, &z->model, op) : NULL;
			fz_check(c->s.pending > 0, "conn %d: an op answered with nothing pending",
				 c->id);
			int r = ss_session_answer(op, written, written ? 0 : err.sys_errno,
						  z->commit_seq);
			fz_check(!(r & SS_ANSWER_NOMEM), "out of memory");
			if (written) {
				expect_reply(c, before, want, 2 + (want[0] == 'O'), "a committed op");
				fz_check(op->result == (want[0] == '1'),
					 "op %zu result %d, the model says '%c'", i, op->result, want[0]);
			} else {
				expect_line(c, before, "ERR log write failed: ", "a failed write");
				z->rejected++;
			}
			if (r & SS_ANSWER_FIRST)
				z->touched[ntouched++] = c;
		}
		/* A write whose cut-back failed too leaves the store broken:
		 * the daemon sends the ERRs, executes nothing more and exits. */
		int refusing = !written && ss_store_state(z->store) != SS_STORE_OK;
		if (refusing)
			z->stopped = 1;
		ss_batch_reset(b);
		for (int i = 0; i < ntouched; i++)
			process_input(z, z->touched[i]);
		if (refusing)
			return;
	}
	/* server.c's after_commit: the connections that found the batch
	 * full, then a requested compaction. */
	for (int i = 0; i < NCONN; i++) {
		struct fconn *c = &z->conns[i];
		if (c->s.batch_wait) {
			c->s.batch_wait = 0;
			process_input(z, c);
		}
	}
	if (z->compacting && !z->stopped)
		compact_step(z);
	else if (z->compact_requested && !z->stopped)
		compact_start(z);
}

static void loop_iteration(struct fz *z)
{
	for (int i = 0; i < NCONN && !z->stopped; i++)
		conn_read(z, &z->conns[i]);
	if (!z->stopped && (z->batch.nops > 0 || z->compact_requested || z->compacting))
		commit(z);
}

/* ---- the run ---- */

/* The client sends p[0..n) (dropped once it has shut its side). */
static void send_bytes(struct fconn *c, const uint8_t *p, size_t n)
{
	if (c->shut)
		return;
	if (c->qcap - c->qlen < n) {
		while (c->qcap - c->qlen < n)
			c->qcap = c->qcap ? c->qcap * 2 : 256;
		c->q = fz_realloc(c->q, c->qcap);
	}
	memcpy(c->q + c->qlen, p, n);
	c->qlen += n;
}

static void arm_fault(struct fz *z, uint8_t b)
{
	static const struct {
		enum fz_op op;
		int err;
	} kinds[8] = {
		{FZ_OP_PWRITE, EIO},     {FZ_OP_PWRITE, ENOSPC},   {FZ_OP_PWRITE, FZ_SHORT_WRITE},
		{FZ_OP_FDATASYNC, EIO},  {FZ_OP_FTRUNCATE, EIO},   {FZ_OP_RENAME, EIO},
		{FZ_OP_FSYNC, EIO},      {FZ_OP_OPEN, EMFILE},
	};
	(void)fz_io_arm(&z->fio, kinds[b & 7].op, 1 + ((b >> 3) & 7), kinds[b & 7].err);
}

static struct ss_store *open_store(struct fz *z, struct ss_open_report *rep, struct ss_error *err)
{
	struct ss_store_options opt = {.dir = fz_scratch_dir(), .io = &z->fio.io,
				       .prealloc_bytes = z->prealloc};
	struct ss_store *s;

	return ss_store_open(&s, &opt, z->now, rep, err) == 0 ? s : NULL;
}

static size_t configure(struct fz *z, const uint8_t *d, size_t size)
{
	static const size_t lines[] = {1024, 1100, 4096, 70000, SS_LINE_MAX_DEFAULT};
	static const size_t prealloc[] = {0, 64, 4096, 65536};
	static const size_t batch_max[] = {SS_FUZZ_BATCH_MAX, 1, 100, 1000};
	size_t i = 0;

	z->max_line = 1024;
	z->prealloc = 0;
	z->batch_max = SS_FUZZ_BATCH_MAX;
	z->round_budget = 1;
	z->now = INT64_C(1700000000000);
	while (i + 2 < size && d[i] == ESC) {
		if (d[i + 1] == 'M') {
			z->max_line = lines[d[i + 2] % 5];
			i += 3;
		} else if (d[i + 1] == 'P') {
			z->prealloc = prealloc[d[i + 2] & 3];
			i += 3;
		} else if (d[i + 1] == 'B') {
			z->batch_max = batch_max[d[i + 2] & 3];
			i += 3;
		} else if (d[i + 1] == 'R') {
			z->round_budget = d[i + 2] & 3;
			i += 3;
		} else if (d[i + 1] == 'N' && i + 7 <= size) {
			int64_t t = 0;
			for (int k = 2; k < 7; k++)
				t = t << 8 | d[i + k];
			z->now = t;
			i += 7;
		} else {
			break;
		}
	}
	return i;
}

static void oracle(struct fz *z)
{
	struct fz_map mem = {0}, want = {0}, disk = {0}, alt = {0};
	struct ss_open_report rep;
	struct ss_error err;
	const char *why;

	fz_map_from_table(&mem, ss_store_table(z->store), z->now);
	fz_map_live(&want, &z->model, z->now);
	if ((why = fz_map_diff(&want, &mem)))
		fz_fail("the in-memory table differs from the model: %s", why);
	ss_store_close(z->store);
	z->store = NULL;

	fz_io_disarm(&z->fio);
	struct ss_store *s = open_store(z, &rep, &err);
	if (!s)
		fz_fail("reopening the store failed: %s", err.msg);
	fz_map_from_table(&disk, ss_store_table(s), z->now);
	why = fz_map_diff(&want, &disk);
	if (why && z->have_doubt) {
		fz_map_live(&alt, &z->doubt, z->now);
		if (!fz_map_diff(&alt, &disk))
			why = NULL; /* the unacknowledged batch survived: allowed */
	}
	if (why)
		fz_fail("the replayed table differs from the model%s: %s",
			z->fio.injected ? " (after injected faults)" : "", why);
	if (z->fio.injected == 0)
		fz_check(rep.torn_bytes == 0, "%llu torn bytes at reopen with no fault injected",
			 (unsigned long long)rep.torn_bytes);
	ss_store_close(s);
	fz_map_free(&mem);
	fz_map_free(&want);
	fz_map_free(&disk);
	fz_map_free(&alt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *z = &Z;
	struct ss_error err;
	size_t i;

	/* The batch keeps its memory from one input to the next (as the
	 * server's does from one commit to the next): allocating its 128 KiB
	 * afresh for every input costs more than the rest of a run. */
	struct ss_batch keep = z->batch;
	memset(z, 0, sizeof(*z));
	z->batch = keep;
	ss_batch_reset(&z->batch);
	fz_io_init(&z->fio);
	i = configure(z, data, size);
	(void)unlink(fz_path(0, SS_LOG_FILE));
	(void)unlink(fz_path(1, SS_LOG_TMP_FILE));
	z->store = open_store(z, NULL, &err);
	if (!z->store)
		fz_fail("opening a fresh store failed: %s", err.msg);
	for (int k = 0; k < NCONN; k++) {
		ss_session_init(&z->conns[k].s, &ss_proto_text);
		z->conns[k].id = k + 1;
	}

	for (; i < size && !z->stopped; i++) {
		struct fconn *c = &z->conns[z->cur];
		if (data[i] != ESC) {
			const uint8_t *esc = memchr(data + i, ESC, size - i);
			size_t n = esc ? (size_t)(esc - data) - i : size - i;
			send_bytes(c, data + i, n);
			i += n - 1;
			continue;
		}
		if (++i == size)
			break;
		switch (data[i]) {
		case ESC:
			send_bytes(c, &data[i], 1);
			break;
		case 'r':
			conn_read(z, c);
			break;
		case 'c':
			commit(z);
			break;
		case '1':
		case '2':
		case '3':
			z->cur = data[i] - '1';
			break;
		case 'e':
			c->shut = 1;
			break;
		case 't':
			if (i + 1 < size) {
				uint8_t b = data[++i];
				z->now += b < 128 ? b * 10 : (int64_t)(b - 127) * 60000;
			}
			break;
		case 'x':
			(void)ss_table_expire_some(ss_store_table(z->store), z->now, 8,
						   &z->expire_cursor);
			break;
		case 'f':
			if (i + 1 < size)
				arm_fault(z, data[++i]);
			break;
		default:
			loop_iteration(z);
			break;
		}
	}

	/* Every client shuts; the loop runs until everyone is answered. */
	size_t total = 0;
	for (int k = 0; k < NCONN; k++) {
		z->conns[k].shut = 1;
		total += z->conns[k].qlen;
	}
	for (size_t n = 0; n < 4 * total + 64 && !z->stopped; n++) {
		int done = 1;
		for (int k = 0; k < NCONN; k++)
			done &= z->conns[k].s.closed;
		if (done)
			break;
		loop_iteration(z);
	}
	for (int k = 0; k < NCONN && !z->stopped; k++) {
		struct fconn *c = &z->conns[k];
		fz_check(c->s.closed, "conn %d never finished: pending %zu, %zu bytes unread, %zu "
				      "buffered, compact_wait %d",
			 c->id, c->s.pending, c->qlen - c->qoff, ss_buf_size(&c->s.in),
			 (int)c->s.compact_wait);
		fz_check(c->replies == c->requests, "conn %d: %llu requests but %llu replies", c->id,
			 (unsigned long long)c->requests, (unsigned long long)c->replies);
	}

	oracle(z);

	fz_map_free(&z->model);
	fz_map_free(&z->doubt);
	for (int k = 0; k < NCONN; k++) {
		ss_session_free(&z->conns[k].s);
		free(z->conns[k].q);
	}
	return 0;
}
