/*
 * multi.c - MULTI, EXEC, DISCARD, WATCH, UNWATCH: Redis transactions on the
 * group commit.
 *
 * A batch is written as one log group, so anything staged into one batch
 * reaches the log - and replay - whole or not at all. EXEC therefore runs
 * its queued commands one after the other into the open batch, each
 * deciding against the staged state the ones before it left (so a GET sees
 * the SET queued before it), and stages one reply-only op that carries the
 * whole array of their replies: sent once the batch is durable, like any
 * write's reply. If the batch lacks room for the transaction, EXEC waits
 * for the next one; if anything fails midway, the batch and the staged
 * state are taken back to where EXEC found them, so a transaction is
 * never staged in part.
 *
 * WATCH records the revision each key has (staged state, as CAS decides)
 * and registers the key with the staged state (pending.h), which notes
 * every write staged to a watched name. EXEC answers nil if any watched
 * key was written since, or its revision moved (an expiry), or a batch
 * failed meanwhile (see watch_broken): like Redis, never a missed change;
 * unlike Redis, a rare false alarm after a failed write.
 *
 * The queue is the requests' bytes, serialized: u32 argc, then u32 length
 * and the bytes of each argument. It is bounded: a transaction of more
 * than SS_MULTI_MAX commands or SS_OUTBUF_MAX bytes aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "proto/resp.h"
#include "statestored/limits.h"

#define EXECABORT "EXECABORT Transaction discarded because of previous errors."
/* Keys one connection may watch at once. */
#define SS_WATCH_MAX 10000

static void clear_multi(struct ss_client_state *c)
{
	c->multi = 0;
	c->multi_error = 0;
	c->nqueued = 0;
	c->queued_args = 0;
	ss_buf_consume(&c->queue, ss_buf_size(&c->queue));
	ss_buf_shrink(&c->queue, 4096);
}

/* A watched key: its revision and the store's at WATCH, its name. */
#define WATCH_HDR 20

static void clear_watch(struct ss_client_state *c)
{
	const char *p = ss_buf_head(&c->watched), *end = p + ss_buf_size(&c->watched);

	while (p < end) {
		uint32_t n;
		memcpy(&n, p + 16, 4);
		ss_pending_unwatch(c->watch_registry, p + WATCH_HDR, n);
		p += WATCH_HDR + n;
	}
	ss_buf_consume(&c->watched, ss_buf_size(&c->watched));
	ss_buf_shrink(&c->watched, 4096);
	c->nwatched = 0;
}

/* Whether c watches name already. Linear: a connection watches at most
 * SS_WATCH_MAX keys. */
static int watching(const struct ss_client_state *c, const char *name, uint32_t nlen)
{
	const char *p = ss_buf_head(&c->watched), *end = p + ss_buf_size(&c->watched);

	while (p < end) {
		uint32_t n;
		memcpy(&n, p + 16, 4);
		if (n == nlen && memcmp(p + WATCH_HDR, name, n) == 0)
			return 1;
		p += WATCH_HDR + n;
	}
	return 0;
}

/* A transaction is over (EXEC, DISCARD, an abort): its queue and its
 * watches go. */
static void end_multi(struct ss_client_state *c)
{
	clear_multi(c);
	clear_watch(c);
}

void ss_multi_reset(struct ss_client_state *c)
{
	end_multi(c);
	ss_buf_free(&c->queue);
	ss_buf_free(&c->watched);
}

/* An immediate reply that no queued write stands behind. */
static enum ss_cmd_status simple(struct ss_cmd_env *env, struct ss_buf *out, const char *s)
{
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return ss_resp_simple(out, s) < 0 ? SS_CMD_NOMEM : SS_CMD_REPLIED;
}

enum ss_cmd_status ss_multi_queue(const struct ss_request *req, const struct ss_cmd *cmd,
				  struct ss_cmd_env *env, struct ss_buf *out)
{
	struct ss_client_state *c = env->client;
	size_t bytes = 4;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	for (int i = 0; i < req->argc; i++)
		bytes += 4 + req->argv[i].n;
	if (cmd->multi == SS_MULTI_REFUSE) {
		char lower[40];
		c->multi_error = 1;
		if (cmd->role != SS_CMD_READ)
			return ss_cmd_error(env, out, "'%s' is not allowed in a transaction",
					    ss_cmd_lower(cmd->name, lower, sizeof lower));
		return ss_cmd_error(env, out,
				    "'%s' is not allowed in a transaction: it reads the durable state, "
				    "which would not show the transaction's own writes",
				    ss_cmd_lower(cmd->name, lower, sizeof lower));
	}
	if (c->nqueued >= SS_MULTI_MAX || ss_buf_size(&c->queue) + bytes > SS_OUTBUF_MAX) {
		c->multi_error = 1;
		return ss_cmd_error(env, out, "transaction too large: at most %d commands and %u bytes",
				    SS_MULTI_MAX, SS_OUTBUF_MAX);
	}
	char *w = ss_buf_space(&c->queue, bytes);
	if (!w)
		return SS_CMD_NOMEM;
	uint32_t u = (uint32_t)req->argc;
	memcpy(w, &u, 4);
	w += 4;
	for (int i = 0; i < req->argc; i++) {
		u = (uint32_t)req->argv[i].n;
		memcpy(w, &u, 4);
		memcpy(w + 4, req->argv[i].p, req->argv[i].n);
		w += 4 + req->argv[i].n;
	}
	ss_buf_commit(&c->queue, bytes);
	c->nqueued++;
	c->queued_args += (size_t)req->argc;
	return ss_resp_simple(out, "QUEUED") < 0 ? SS_CMD_NOMEM : SS_CMD_REPLIED;
}

/* Reads the next queued request at *pos into req. */
static void next_queued(const struct ss_client_state *c, size_t *pos, struct ss_request *req)
{
	const char *p = ss_buf_head(&c->queue) + *pos;
	uint32_t argc, n;

	memcpy(&argc, p, 4);
	p += 4;
	req->argc = 0;
	req->too_many = req->nomem = 0;
	req->argv = req->inline_argv;
	for (uint32_t i = 0; i < argc; i++) {
		memcpy(&n, p, 4);
		(void)ss_request_add(req, p + 4, n);
		p += 4 + n;
	}
	*pos = (size_t)(p - ss_buf_head(&c->queue));
}

enum ss_cmd_status ss_cmd_multi(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out)
{
	(void)req;
	if (env->client->multi)
		return ss_cmd_fail(env, out, "%s", "ERR MULTI calls can not be nested");
	enum ss_cmd_status st = simple(env, out, "OK");
	if (st == SS_CMD_REPLIED)
		env->client->multi = 1;
	return st;
}

enum ss_cmd_status ss_cmd_discard(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	(void)req;
	if (!env->client->multi)
		return ss_cmd_fail(env, out, "%s", "ERR DISCARD without MULTI");
	enum ss_cmd_status st = simple(env, out, "OK");
	if (st == SS_CMD_REPLIED) {
		end_multi(env->client);
	}
	return st;
}

enum ss_cmd_status ss_cmd_watch(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out)
{
	struct ss_client_state *c = env->client;

	if (c->multi)
		return ss_cmd_fail(env, out, "%s", "ERR WATCH inside MULTI is not allowed");
	for (int i = 1; i < req->argc; i++)
		if (req->argv[i].n == 0 || req->argv[i].n > SS_NAME_MAX)
			return ss_cmd_fail(env, out, "%s", req->argv[i].n ? "ERR key is longer than 512 bytes"
							       : "ERR empty keys are not supported");
	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (ss_buf_size(&c->watched) == 0) {
		c->watch_registry = env->pending;
		c->watch_failures = env->pending->failures;
	}
	for (int i = 1; i < req->argc; i++) {
		struct ss_cmd_cur cur;
		uint32_t n = (uint32_t)req->argv[i].n;
		if (watching(c, req->argv[i].p, n))
			continue; /* as Redis: a key is watched once */
		if (c->nwatched >= SS_WATCH_MAX)
			return ss_cmd_fail(env, out, "%s",
					   "ERR too many watched keys: at most 10000 per connection");
		char *w = ss_buf_space(&c->watched, WATCH_HDR + n);
		if (!w || ss_pending_watch(env->pending, req->argv[i].p, n) < 0)
			return SS_CMD_NOMEM; /* the keys watched so far stay watched */
		ss_cmd_current(env, req->argv[i].p, n, &cur);
		memcpy(w, &cur.rev, 8);
		memcpy(w + 8, &env->pending->rev, 8);
		memcpy(w + 16, &n, 4);
		memcpy(w + WATCH_HDR, req->argv[i].p, n);
		ss_buf_commit(&c->watched, WATCH_HDR + n);
		c->nwatched++;
	}
	return ss_resp_simple(out, "OK") < 0 ? SS_CMD_NOMEM : SS_CMD_REPLIED;
}

enum ss_cmd_status ss_cmd_unwatch(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	(void)req;
	if (env->exec) /* queued: EXEC unwatches anyway */
		return ss_resp_simple(out, "OK") < 0 ? SS_CMD_NOMEM : SS_CMD_REPLIED;
	enum ss_cmd_status st = simple(env, out, "OK");
	if (st == SS_CMD_REPLIED)
		clear_watch(env->client);
	return st;
}

/* Whether a watched key may have changed since WATCH: a write was staged
 * to it (any write, even one that left it as it was: created and deleted),
 * or its revision moved (an expiry), or a batch failed meanwhile (its
 * revisions are handed out again, so a revision seen at WATCH may now name
 * another write: the EXEC is refused rather than risk it). */
static int watch_broken(struct ss_cmd_env *env)
{
	const struct ss_client_state *c = env->client;
	const char *p = ss_buf_head(&c->watched), *end = p + ss_buf_size(&c->watched);

	if (p < end && env->pending->failures != c->watch_failures)
		return 1;
	while (p < end) {
		struct ss_cmd_cur cur;
		uint64_t rev, at;
		uint32_t n;
		memcpy(&rev, p, 8);
		memcpy(&at, p + 8, 8);
		memcpy(&n, p + 16, 4);
		ss_cmd_current(env, p + WATCH_HDR, n, &cur);
		if (cur.rev != rev || ss_pending_touched(env->pending, p + WATCH_HDR, n) > at)
			return 1;
		p += WATCH_HDR + n;
	}
	return 0;
}

/* The most ops a queued transaction may stage: a record per argument at
 * most, plus the reply op. */
static size_t ops_needed(const struct ss_client_state *c) { return c->queued_args + 1; }

enum ss_cmd_status ss_cmd_exec(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out)
{
	struct ss_client_state *c = env->client;
	struct ss_batch_mark bm;
	struct ss_pending_mark pm;
	struct ss_request q;
	struct ss_buf xb;
	enum ss_cmd_status st = SS_CMD_STAGED;

	(void)req;
	if (!c->multi)
		return ss_cmd_fail(env, out, "%s", "ERR EXEC without MULTI");
	if (c->multi_error) {
		enum ss_cmd_status r = ss_cmd_fail(env, out, "%s", EXECABORT);
		if (r == SS_CMD_REPLIED) {
			end_multi(c);
		}
		return r;
	}
	if (ops_needed(c) > SS_GROUP_MAX) {
		enum ss_cmd_status r = ss_cmd_fail(env, out, "%s", "ERR transaction too large for one log group");
		if (r == SS_CMD_REPLIED) {
			end_multi(c);
		}
		return r;
	}
	if (env->batch->nops + ops_needed(c) > SS_GROUP_MAX)
		return SS_CMD_FULL; /* the next batch will have room */
	if (watch_broken(env)) {
		st = ss_cmd_stage_reply(env, SS_REPLY_NIL_ARRAY, 0, NULL, 0);
		if (st == SS_CMD_STAGED) {
			end_multi(c);
		}
		return st;
	}
	ss_batch_mark(env->batch, &bm);
	ss_pending_mark(env->pending, env->batch, &pm);
	ss_buf_init(&xb);
	ss_request_init(&q);
	struct ss_cmd_env x = *env;
	x.exec = &xb;
	x.may_reply = 1;
	if (!(x.scratch = malloc(SS_VALUE_MAX))) {
		ss_request_free(&q);
		ss_buf_free(&xb);
		return SS_CMD_NOMEM; /* nothing staged yet */
	}
	size_t pos = 0;
	int too_big = 0;
	for (size_t i = 0; i < c->nqueued && st != SS_CMD_NOMEM && !too_big; i++) {
		next_queued(c, &pos, &q);
		enum ss_cmd_status r = q.nomem ? SS_CMD_NOMEM : ss_cmd_execute(&q, &x, &xb);
		if (r == SS_CMD_NOMEM)
			st = r;
		too_big = ss_buf_size(&xb) > SS_OUTBUF_MAX;
	}
	if (st != SS_CMD_NOMEM && !too_big) {
		char hdr[24];
		int h = snprintf(hdr, sizeof hdr, "*%zu\r\n", c->nqueued);
		if (ss_buf_insert(&xb, 0, hdr, (size_t)h) < 0 ||
		    ss_batch_add_reply(env->batch, env->owner, SS_REPLY_RAW, 0, ss_buf_head(&xb),
				       ss_buf_size(&xb)) < 0)
			st = SS_CMD_NOMEM;
	}
	if (st == SS_CMD_NOMEM || too_big) {
		/* Nothing of it stays: not a record, not a revision. */
		ss_pending_rewind(env->pending, env->batch, &pm);
		ss_batch_rewind(env->batch, &bm);
	}
	if (st != SS_CMD_NOMEM)
		end_multi(c);
	free(x.scratch);
	ss_request_free(&q);
	ss_buf_free(&xb);
	if (too_big) /* its replies would pass 64 MiB */
		return ss_cmd_fail(env, out, "%s",
				   "ERR the transaction's reply would pass 64 MiB: nothing was applied");
	return st;
}
