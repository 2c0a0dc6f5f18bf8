/*
 * cmd.c - the command table and the command handlers; see cmd.h.
 *
 * Each command is one row: its canonical name, its argument counts, its
 * role, and a handler. The dispatcher checks the argument count, so
 * handlers start from a request of the right shape; they validate each
 * argument, then read the table or stage a record. Reads see only the
 * table, which holds nothing that is not durable: staged mutations become
 * visible when the server applies their batch after the fdatasync.
 *
 * Handlers reply only through the connection's protocol (env->proto): they
 * say "ok", "this value", "no such checkpoint", never which bytes.
 *
 * Revisions and conditions. Every mutating command takes the next revision
 * (pending.h) when it stages. A condition - an expected revision - is
 * decided at staging against the state the name will have once everything
 * staged before is applied (pending.h), else the table. Its decision is
 * answered only when the open batch is durable, CONFLICT included: the
 * revision a CONFLICT names may be one still in flight, and a crash could
 * take it back. So a command that writes nothing stages a reply-only op
 * (ss_batch_add_reply), answered in order with the batch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/numparse.h"
#include "proto/resp.h"
#include "statestored/limits.h"


enum ss_cmd_status ss_cmd_error(struct ss_cmd_env *env, struct ss_buf *out, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (env->rejected)
		(*env->rejected)++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ss_cmd_replied(env->proto->error(out, msg));
}

const char *ss_cmd_echo(const struct ss_token *t, char *buf, size_t max)
{
	size_t n = t->n < max ? t->n : max;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->p[i];
		buf[i] = ss_is_token_char(c) ? (char)c : '?';
	}
	buf[n] = '\0';
	return buf;
}

int ss_cmd_text_safe(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ss_is_token_char((unsigned char)p[i]))
			return 0;
	return 1;
}

/* Checks a name or value token. Over RESP any byte goes; the text
 * protocol's tokens hold none of its separators anyway, and a control byte
 * in one is refused. Returns NULL or the reason it is refused. */
static const char *check_token(const struct ss_cmd_env *env, const struct ss_token *t, size_t max,
			       const char *empty, const char *too_long, const char *invalid)
{
	if (t->n == 0)
		return empty;
	if (t->n > max)
		return too_long;
	if (!env->proto->resp && !ss_cmd_text_safe(t->p, t->n))
		return invalid;
	return NULL;
}

const char *ss_cmd_check_name(const struct ss_cmd_env *env, const struct ss_token *t)
{
	return check_token(env, t, SS_NAME_MAX, "empty name", "name too long", "invalid name");
}

/* Parses a TTL in seconds: decimal digits (leading zeros allowed),
 * 1..SS_TTL_MAX_S. */
static int parse_ttl(const struct ss_token *t, int64_t *out)
{
	uint64_t v;

	if (ss_parse_u64(t->p, t->n, &v) < 0 || v < 1 || v > SS_TTL_MAX_S)
		return -1;
	*out = (int64_t)v;
	return 0;
}

void ss_cmd_current(struct ss_cmd_env *env, const char *name, size_t nlen, struct ss_cmd_cur *c)
{
	struct ss_pending_state st;

	c->rev = 0;
	c->expire_ms = 0;
	c->value = NULL;
	c->vlen = 0;
	c->esc = 0;
	c->staged = 0;
	if (ss_pending_get(env->pending, name, nlen, &st)) {
		c->staged = 1;
		/* A staged SET may expire before it is applied; then it acts
		 * as a DEL (store.h), and so it counts as absent now. */
		if (st.rev && !(st.expire_ms && st.expire_ms <= env->now_ms)) {
			c->rev = st.rev;
			c->expire_ms = st.expire_ms;
			c->value = st.value;
			c->vlen = st.vlen;
			c->esc = st.value_esc;
		}
		return;
	}
	if (ss_table_get(env->table, name, nlen, env->now_ms, &c->e)) {
		c->rev = c->e.rev;
		c->expire_ms = c->e.expire_ms;
		c->value = c->e.value;
		c->vlen = c->e.vlen;
	}
}

size_t ss_cmd_cur_value(const struct ss_cmd_cur *c, char *buf)
{
	if (c->esc)
		return ss_record_unescape(c->value, c->vlen, buf);
	memcpy(buf, c->value, c->vlen);
	return c->vlen;
}

/* Stages n records that take one new revision, with the reply kind of the
 * last; all or none. Records how each leaves its name. */
enum ss_cmd_status ss_cmd_stage(struct ss_cmd_env *env, struct ss_record *rs, size_t n, int reply)
{
	uint64_t rev = ss_pending_next(env->pending);
	struct ss_batch_mark mark;
	size_t i;

	ss_batch_mark(env->batch, &mark);
	for (i = 0; i < n; i++) {
		rs[i].rev = rev;
		rs[i].commit_ms = env->now_ms;
	}
	if ((n == 1 ? ss_batch_add(env->batch, rs, env->owner)
		    : ss_batch_add_group(env->batch, rs, n, env->owner)) < 0)
		return SS_CMD_NOMEM;
	for (i = 0; i < n; i++)
		if (ss_pending_put(env->pending, env->batch, mark.nops + i, rs[i].name, rs[i].nlen) <
		    0)
			break;
	if (i < n) {
		/* Take it all back: the batch's ops (the last ones) and the
		 * states already recorded. */
		while (i-- > 0)
			ss_pending_pop(env->pending, rs[i].name, rs[i].nlen);
		ss_batch_rewind(env->batch, &mark);
		return SS_CMD_NOMEM;
	}
	ss_pending_take(env->pending, env->batch);
	if (env->exec) {
		/* Inside EXEC: answered now, in EXEC's array. */
		env->batch->ops[env->batch->nops - 1].reply = 0;
		if (reply && ss_cmd_render(env->proto, reply, rev, NULL, 0, env->exec) < 0)
			return SS_CMD_NOMEM;
		return SS_CMD_STAGED;
	}
	env->batch->ops[env->batch->nops - 1].reply = (uint8_t)reply;
	return SS_CMD_STAGED;
}

static enum ss_cmd_status stage(struct ss_cmd_env *env, struct ss_record *r, int reply)
{
	return ss_cmd_stage(env, r, 1, reply);
}

/* A reply that waits for the open batch to be durable, writing nothing. */
enum ss_cmd_status ss_cmd_stage_reply(struct ss_cmd_env *env, int reply, uint64_t rev,
				      const char *p, size_t n)
{
	if (env->exec)
		return ss_cmd_render(env->proto, reply, rev, p, n, env->exec) < 0 ? SS_CMD_NOMEM
										    : SS_CMD_STAGED;
	if (ss_batch_add_reply(env->batch, env->owner, reply, rev, p, n) < 0)
		return SS_CMD_NOMEM;
	return SS_CMD_STAGED;
}

/* The error for a revision parse_rev refuses. */
#define BAD_REV "invalid revision: want a decimal from 0 to 2^64-1"

/* Parses a revision: decimal digits (leading zeros allowed), a u64. */
static int parse_rev(const struct ss_token *t, uint64_t *out)
{
	return ss_parse_u64(t->p, t->n, out);
}

/* The one value the text protocol cannot tell apart from an answer: GET
 * replies NULL for a missing checkpoint. (An error reply is "ERR" and a
 * space and a reason, and no value holds a space, so no value can pass
 * for an error.) */
static int reserved_value(const char *p, size_t n)
{
	return n == 4 && memcmp(p, "NULL", 4) == 0;
}

/* Checks a value to store. Returns NULL or the reason it is refused. */
static const char *check_value(const struct ss_cmd_env *env, const struct ss_token *t)
{
	const char *why =
		check_token(env, t, SS_VALUE_MAX, "empty value", "value too long", "invalid value");

	/* RESP has a nil of its own, but the value must read back over text
	 * too. */
	if (!why && reserved_value(t->p, t->n))
		why = "reserved value 'NULL': GET_CHECKPOINT answers NULL for a missing checkpoint";
	return why;
}

/* Past the quota a write that adds is refused, but a DEL and COMPACT go
 * on: they are how the log gets back under it. */
const char *ss_cmd_check_quota(const struct ss_cmd_env *env)
{
	return env->quota_exceeded ? "quota exceeded: the log has passed --quota-bytes; delete "
				     "checkpoints and COMPACT to make room"
				   : NULL;
}

/* The expiry of an optional ttl token (NULL: none). Returns 0, or -1. */
static int expiry(const struct ss_cmd_env *env, const struct ss_token *t, int64_t *expire_ms)
{
	int64_t ttl;

	*expire_ms = 0;
	if (!t)
		return 0;
	if (parse_ttl(t, &ttl) < 0)
		return -1;
	*expire_ms = env->now_ms + ttl * 1000;
	return 0;
}

struct ss_record ss_cmd_set_record(const struct ss_token *name, const char *value, size_t vlen,
				   int64_t expire_ms)
{
	struct ss_record r = {
		.type = SS_REC_SET,
		.name = name->p,
		.nlen = name->n,
		.value = value,
		.vlen = vlen,
		.expire_ms = expire_ms,
	};
	return r;
}

static enum ss_cmd_status cmd_set(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const char *why = ss_cmd_check_name(env, &req->argv[1]);
	int64_t expire_ms;

	if (!why)
		why = check_value(env, &req->argv[2]);
	if (!why)
		why = ss_cmd_check_quota(env);
	if (why)
		return ss_cmd_error(env, out, "%s", why);
	if (expiry(env, req->argc == 4 ? &req->argv[3] : NULL, &expire_ms) < 0)
		return ss_cmd_error(env, out, "invalid ttl");
	struct ss_record r = ss_cmd_set_record(&req->argv[1], req->argv[2].p, req->argv[2].n, expire_ms);
	return stage(env, &r, SS_REPLY_OK);
}

static enum ss_cmd_status cmd_del(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const char *why = ss_cmd_check_name(env, &req->argv[1]);
	struct ss_cmd_cur c;
	uint64_t want;

	if (why)
		return ss_cmd_error(env, out, "%s", why);
	if (req->argc == 3 && parse_rev(&req->argv[2], &want) < 0)
		return ss_cmd_error(env, out, BAD_REV);
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (req->argc == 3 && c.rev != want)
		return ss_cmd_stage_reply(env, SS_REPLY_CONFLICT, c.rev, NULL, 0);
	/* Deleting nothing changes nothing: no record, no revision. */
	if (c.rev == 0)
		return ss_cmd_stage_reply(env, SS_REPLY_INT, 0, NULL, 0);
	struct ss_record r = {.type = SS_REC_DEL, .name = req->argv[1].p, .nlen = req->argv[1].n};
	return stage(env, &r, SS_REPLY_DELETED);
}

static enum ss_cmd_status cmd_cas(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const char *why = ss_cmd_check_name(env, &req->argv[1]);
	struct ss_cmd_cur c;
	uint64_t want;
	int64_t expire_ms;

	if (!why)
		why = check_value(env, &req->argv[3]);
	if (!why && parse_rev(&req->argv[2], &want) < 0)
		why = BAD_REV;
	if (!why)
		why = ss_cmd_check_quota(env);
	if (why)
		return ss_cmd_error(env, out, "%s", why);
	if (expiry(env, req->argc == 5 ? &req->argv[4] : NULL, &expire_ms) < 0)
		return ss_cmd_error(env, out, "invalid ttl");
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (c.rev != want)
		return ss_cmd_stage_reply(env, SS_REPLY_CONFLICT, c.rev, NULL, 0);
	struct ss_record r = ss_cmd_set_record(&req->argv[1], req->argv[3].p, req->argv[3].n, expire_ms);
	return stage(env, &r, SS_REPLY_OK_REV);
}

/* Orders token pointers by their bytes; equal names with the later
 * argument first, so that ss_cmd_distinct keeps it. */
static int cmp_tokens(const void *a, const void *b)
{
	const struct ss_token *x = *(const struct ss_token *const *)a;
	const struct ss_token *y = *(const struct ss_token *const *)b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);

	if (c == 0)
		c = (x->n > y->n) - (x->n < y->n);
	return c ? c : (x > y ? -1 : 1);
}

const struct ss_token **ss_cmd_distinct(const struct ss_request *req, int first, int step,
					size_t *n)
{
	size_t m = (size_t)(req->argc - first + step - 1) / (size_t)step, k = 0;
	const struct ss_token **v = malloc((m ? m : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < m; i++)
		v[i] = &req->argv[first + (int)i * step];
	qsort(v, m, sizeof(*v), cmp_tokens);
	for (size_t i = 0; i < m; i++)
		if (k == 0 || v[k - 1]->n != v[i]->n || memcmp(v[k - 1]->p, v[i]->p, v[i]->n) != 0)
			v[k++] = v[i];
	*n = k;
	return v;
}

/* Whether the names argv[first], argv[first + step], ... (n of them) hold
 * one twice. -1 if the check ran out of memory. */
static int duplicate_name(const struct ss_request *req, int first, int step, size_t n)
{
	size_t k;
	const struct ss_token **v = ss_cmd_distinct(req, first, step, &k);

	if (!v)
		return -1;
	free(v);
	return k < n;
}

/* MSET_CHECKPOINT p1 v1 ... and MCAS_CHECKPOINT p1 r1 v1 ...: step is 2 or
 * 3 tokens per pipeline. Checks every token, then (MCAS) every condition in
 * order, then stages them all as one group with one revision. */
static enum ss_cmd_status multi_commit(const struct ss_request *req, struct ss_cmd_env *env,
				       struct ss_buf *out, int step)
{
	int nargs = req->argc - 1;
	size_t n = (size_t)nargs / (size_t)step;
	const char *why = NULL;
	struct ss_record *rs;
	enum ss_cmd_status st;

	if (nargs % step != 0)
		return ss_cmd_error(env, out, "wrong number of arguments for '%s': want %s",
				 step == 2 ? "MSET_CHECKPOINT" : "MCAS_CHECKPOINT",
				 step == 2 ? "pairs of <name> <value>"
					   : "triples of <name> <expected_rev> <value>");
	for (int i = 1; i < req->argc && !why; i += step) {
		uint64_t want;
		why = ss_cmd_check_name(env, &req->argv[i]);
		if (!why && step == 3 && parse_rev(&req->argv[i + 1], &want) < 0)
			why = BAD_REV;
		if (!why)
			why = check_value(env, &req->argv[i + step - 1]);
	}
	if (!why)
		why = ss_cmd_check_quota(env);
	if (why)
		return ss_cmd_error(env, out, "%s", why);
	int dup = duplicate_name(req, 1, step, n);
	if (dup < 0)
		return SS_CMD_NOMEM;
	if (dup)
		return ss_cmd_error(env, out, "the same pipeline twice in one multi-commit");
	for (int i = 1; step == 3 && i < req->argc; i += step) {
		struct ss_cmd_cur c;
		uint64_t want;
		(void)parse_rev(&req->argv[i + 1], &want);
		ss_cmd_current(env, req->argv[i].p, req->argv[i].n, &c);
		if (c.rev != want)
			return ss_cmd_stage_reply(env, SS_REPLY_CONFLICT_AT, c.rev, req->argv[i].p,
					   req->argv[i].n);
	}
	rs = malloc(n * sizeof(*rs));
	if (!rs)
		return SS_CMD_NOMEM;
	for (size_t k = 0; k < n; k++) {
		const struct ss_token *v = &req->argv[1 + (int)k * step + step - 1];
		rs[k] = ss_cmd_set_record(&req->argv[1 + (int)k * step], v->p, v->n, 0);
	}
	st = ss_cmd_stage(env, rs, n, SS_REPLY_OK_REV);
	free(rs);
	return st;
}

static enum ss_cmd_status cmd_mset(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	return multi_commit(req, env, out, 2);
}

static enum ss_cmd_status cmd_mcas(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	return multi_commit(req, env, out, 3);
}

/* Copies p[0..n) into a new buffer for the caller to free. */
static int copy_value(const char *p, size_t n, char **buf, size_t *vlen)
{
	if (!(*buf = malloc(n)))
		return -1;
	memcpy(*buf, p, n);
	*vlen = n;
	return 1;
}

/* The value name had at revision to_rev, as the versions stand once
 * everything staged is applied: the staged versions of name, newest first,
 * then the table's, and no further back than the history depth or a staged
 * DEL (which drops the history). Returns 1 and the value (copied into buf,
 * which the caller frees), 0 if there is none, -1 on ENOMEM. */
static int value_at(struct ss_cmd_env *env, const struct ss_token *name, uint64_t to_rev,
		    char **buf, size_t *vlen)
{
	size_t depth = ss_table_history_depth(env->table), pos = 0, k;
	struct ss_pending_state st;
	struct ss_version *v;
	int found = 0;

	*buf = NULL;
	for (; ss_pending_nth(env->pending, name->p, name->n, pos, &st); pos++) {
		if (st.rev == 0 || pos > depth)
			return 0;
		if (st.rev != to_rev)
			continue;
		if (!st.value_esc)
			return copy_value(st.value, st.vlen, buf, vlen);
		if (!(*buf = malloc(st.vlen)))
			return -1;
		*vlen = ss_record_unescape(st.value, st.vlen, *buf);
		return 1;
	}
	if (pos > depth)
		return 0;
	v = malloc((depth + 1 - pos) * sizeof(*v));
	if (!v)
		return -1;
	k = ss_table_history(env->table, name->p, name->n, env->now_ms, v, depth + 1 - pos);
	for (size_t i = 0; i < k && !found; i++)
		if (v[i].rev == to_rev)
			found = copy_value(v[i].value, v[i].vlen, buf, vlen);
	free(v);
	return found;
}

static enum ss_cmd_status cmd_rollback(const struct ss_request *req, struct ss_cmd_env *env,
				       struct ss_buf *out)
{
	const char *why = ss_cmd_check_name(env, &req->argv[1]);
	uint64_t to_rev, want = 0;
	struct ss_cmd_cur c;
	char *value;
	size_t vlen = 0;

	if (!why && (parse_rev(&req->argv[2], &to_rev) < 0 ||
		     (req->argc == 4 && parse_rev(&req->argv[3], &want) < 0)))
		why = BAD_REV;
	if (!why)
		why = ss_cmd_check_quota(env);
	if (why)
		return ss_cmd_error(env, out, "%s", why);
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (req->argc == 4 && c.rev != want)
		return ss_cmd_stage_reply(env, SS_REPLY_CONFLICT, c.rev, NULL, 0);
	int found = c.rev ? value_at(env, &req->argv[1], to_rev, &value, &vlen) : 0;
	if (found < 0)
		return SS_CMD_NOMEM;
	if (!found)
		return ss_cmd_stage_reply(env, SS_REPLY_NO_REV, to_rev, NULL, 0);
	/* The old value comes back as a new revision, keeping the expiry
	 * the checkpoint has now: every holder of an older revision is
	 * fenced. */
	struct ss_record r = ss_cmd_set_record(&req->argv[1], value, vlen, c.expire_ms);
	enum ss_cmd_status st = stage(env, &r, SS_REPLY_OK_REV);
	free(value);
	return st;
}

/* The read commands' common start: checks the name, then looks it up.
 * Returns 1 with *found set when the caller goes on to answer, or 0 with
 * *st the status to return (an error was answered, or WAIT). */
static int read_entry(const struct ss_request *req, struct ss_cmd_env *env, struct ss_buf *out,
		      struct ss_entry *e, int *found, enum ss_cmd_status *st)
{
	const char *why = ss_cmd_check_name(env, &req->argv[1]);
	if (why) {
		*st = ss_cmd_error(env, out, "%s", why);
		return 0;
	}
	if (!env->may_reply) {
		*st = SS_CMD_WAIT;
		return 0;
	}
	*found = ss_table_get(env->table, req->argv[1].p, req->argv[1].n, env->now_ms, e);
	return 1;
}

static enum ss_cmd_status cmd_get(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	struct ss_entry e;
	int found = 0;
	enum ss_cmd_status st;

	if (!read_entry(req, env, out, &e, &found, &st))
		return st;
	if (!found)
		return ss_cmd_replied(env->proto->null(out));
	/* Only a log written before NULL was refused can hold it: say so,
	 * rather than let the checkpoint read back as missing. */
	if (reserved_value(e.value, e.vlen))
		return ss_cmd_error(env, out,
				 "the stored value is 'NULL', which reads as missing; set it again");
	if (!env->proto->resp && !ss_cmd_text_safe(e.value, e.vlen))
		return ss_cmd_error(env, out, "%s", SS_NOT_TEXT);
	return ss_cmd_replied(env->proto->value(out, e.value, e.vlen));
}

static enum ss_cmd_status cmd_ttl(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	struct ss_entry e;
	int found = 0;
	enum ss_cmd_status st;
	long long secs;

	if (!read_entry(req, env, out, &e, &found, &st))
		return st;
	if (!found)
		secs = -2;
	else if (e.expire_ms == 0)
		secs = -1;
	else /* rounded up: an entry with 1 ms left still has "1" second */
		secs = (e.expire_ms - env->now_ms + 999) / 1000;
	return ss_cmd_replied(env->proto->integer(out, secs));
}

static enum ss_cmd_status cmd_getrev(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out)
{
	struct ss_entry e;
	int found = 0;
	enum ss_cmd_status st;

	if (!read_entry(req, env, out, &e, &found, &st))
		return st;
	if (!found)
		return ss_cmd_replied(env->proto->null(out));
	if (!env->proto->resp && !ss_cmd_text_safe(e.value, e.vlen))
		return ss_cmd_error(env, out, "%s", SS_NOT_TEXT);
	return ss_cmd_replied(env->proto->rev_value(out, e.rev, e.value, e.vlen));
}

int ss_cmd_parse_count(const struct ss_token *t, uint64_t max, uint64_t *out)
{
	return ss_parse_u64(t->p, t->n, out) < 0 || *out < 1 || *out > max ? -1 : 0;
}

static enum ss_cmd_status cmd_history(const struct ss_request *req, struct ss_cmd_env *env,
				      struct ss_buf *out)
{
	const char *why = ss_cmd_check_name(env, &req->argv[1]);
	uint64_t count = SS_HISTORY_MAX + 1;
	struct ss_version *v;
	size_t n, before = ss_buf_size(out);
	int rc;

	if (!why && req->argc == 3 && ss_cmd_parse_count(&req->argv[2], SS_HISTORY_MAX + 1, &count) < 0)
		why = "invalid count: want 1 to 1001";
	if (why)
		return ss_cmd_error(env, out, "%s", why);
	if (!env->may_reply)
		return SS_CMD_WAIT;
	size_t depth = ss_table_history_depth(env->table) + 1;
	if (count > depth)
		count = depth;
	v = malloc(count * sizeof(*v));
	if (!v)
		return SS_CMD_NOMEM;
	n = ss_table_history(env->table, req->argv[1].p, req->argv[1].n, env->now_ms, v, count);
	for (size_t i = 0; i < n && !env->proto->resp; i++) {
		if (!ss_cmd_text_safe(v[i].value, v[i].vlen)) {
			free(v);
			return ss_cmd_error(env, out, "%s", SS_NOT_TEXT);
		}
	}
	rc = env->proto->rows_begin(out);
	size_t at = ss_buf_size(out);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = env->proto->version(out, v[i].rev, v[i].commit_ms, v[i].value, v[i].vlen);
	if (rc == 0)
		rc = env->proto->rows_end(out, at, n, 0);
	free(v);
	if (rc < 0) {
		out->len = out->off + before;
		return SS_CMD_NOMEM;
	}
	return SS_CMD_REPLIED;
}

static enum ss_cmd_status cmd_ping(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return ss_cmd_replied(env->proto->status(out, "PONG"));
}

static enum ss_cmd_status cmd_quit(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return env->proto->ok(out) < 0 ? SS_CMD_NOMEM : SS_CMD_QUIT;
}

static enum ss_cmd_status cmd_compact(const struct ss_request *req, struct ss_cmd_env *env,
				      struct ss_buf *out)
{
	(void)req;
	(void)out;
	return env->may_reply ? SS_CMD_COMPACT : SS_CMD_WAIT;
}

/* BACKUP <dir> [prefix]: checked here, queued by the session
 * (SS_CMD_BACKUP), run by the server as a compaction that writes to dir,
 * and answered with ss_cmd_reply_backup. */
static enum ss_cmd_status cmd_backup(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out)
{
	const struct ss_token *dir = &req->argv[1];

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (dir->n == 0 || dir->n > SS_BACKUP_PATH_MAX || memchr(dir->p, '\0', dir->n))
		return ss_cmd_error(env, out,
				    "backup failed: the directory must be a path of 1 to %d bytes "
				    "without NUL",
				    SS_BACKUP_PATH_MAX);
	if (req->argc > 2) {
		const char *why = ss_cmd_check_name(env, &req->argv[2]);
		if (why)
			return ss_cmd_error(env, out, "backup failed: the prefix is not a valid "
						      "pipeline name: %s", why);
	}
	return SS_CMD_BACKUP;
}

static enum ss_cmd_status cmd_stats(const struct ss_request *req, struct ss_cmd_env *env,
				    struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	size_t before = ss_buf_size(out), at;
	int rc = env->proto->rows_begin(out), n = 0;
	at = ss_buf_size(out);
	if (rc == 0 && env->stats)
		rc = n = env->stats(env->stats_arg, env->proto, out);
	if (rc >= 0)
		rc = env->proto->rows_end(out, at, (size_t)n, 1);
	if (rc < 0) {
		/* Drop a partial reply rather than send it unframed. */
		out->len = out->off + before;
		return SS_CMD_NOMEM;
	}
	return SS_CMD_REPLIED;
}

/* CONFIG_GET [pattern]: the settings whose names match the glob pattern
 * (all of them without one), in STATS' shape: rows, then END. The same
 * options RESP's CONFIG GET shows, by their own names only. */
static enum ss_cmd_status cmd_config_get(const struct ss_request *req, struct ss_cmd_env *env,
					 struct ss_buf *out)
{
	const char *pat = "*";
	size_t plen = 1, n = 0;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (req->argc == 2) {
		pat = req->argv[1].p;
		plen = req->argv[1].n;
	}
	size_t before = ss_buf_size(out), at;
	int rc = env->proto->rows_begin(out);
	at = ss_buf_size(out);
	for (size_t i = 0; i < env->nconfig && rc == 0; i++) {
		const struct ss_cmd_config *c = &env->config[i];
		if (c->alias || !ss_glob_match(pat, plen, c->name, strlen(c->name), 1))
			continue;
		/* A text line cannot show an empty value: "" is how the config
		 * file writes one. */
		rc = env->proto->row(out, c->name, c->value[0] || env->proto->resp ? c->value : "\"\"");
		n++;
	}
	if (rc == 0)
		rc = env->proto->rows_end(out, at, n, 1);
	if (rc < 0) {
		out->len = out->off + before;
		return SS_CMD_NOMEM;
	}
	return SS_CMD_REPLIED;
}

/* A row of the table. The role must be one of READ, WRITE, RW, ADMIN,
 * CONN or OPEN:
 * anything else, or none, does not compile. */
#define CMD(name, min, max, role, run, first, last, step, summary, multi)                        \
	{name, min, max, SS_CMD_##role, run, first, last, step, summary, SS_MULTI_##multi}

static const struct ss_cmd commands[] = {
	CMD("SET_CHECKPOINT", 2, 3, WRITE, cmd_set, 1, 1, 1, "Commits a checkpoint.", QUEUE),
	CMD("GET_CHECKPOINT", 1, 1, READ, cmd_get, 1, 1, 1, "Reads a checkpoint.", REFUSE),
	CMD("DEL_CHECKPOINT", 1, 2, WRITE, cmd_del, 1, 1, 1,
	    "Deletes a checkpoint, if at the expected revision.", QUEUE),
	CMD("TTL_CHECKPOINT", 1, 1, READ, cmd_ttl, 1, 1, 1, "Seconds a checkpoint has left.", REFUSE),
	CMD("COMPACT", 0, 0, ADMIN, cmd_compact, 0, 0, 0, "Rewrites the log as a snapshot.", REFUSE),
	CMD("BACKUP", 1, 2, ADMIN, cmd_backup, 0, 0, 0,
	    "Writes a consistent copy of the store, or of a prefix, as a new data directory.",
	    REFUSE),
	CMD("PING", 0, 0, OPEN, cmd_ping, 0, 0, 0, "Answers PONG.", QUEUE),
	CMD("QUIT", 0, 0, OPEN, cmd_quit, 0, 0, 0, "Closes the connection.", NOW),
	CMD("AUTH", 1, 2, OPEN, ss_cmd_auth, 0, 0, 0,
	    "Authenticates the connection: AUTH <password>, or AUTH <user> <password>.", REFUSE),
	CMD("STATS", 0, 0, READ, cmd_stats, 0, 0, 0, "The server's counters.", REFUSE),
	CMD("CONFIG_GET", 0, 1, ADMIN, cmd_config_get, 0, 0, 0,
	    "The settings the daemon runs with, by option name.", REFUSE),
	CMD("GETREV_CHECKPOINT", 1, 1, READ, cmd_getrev, 1, 1, 1,
	    "Reads a checkpoint with its revision.", REFUSE),
	CMD("CAS_CHECKPOINT", 3, 4, WRITE, cmd_cas, 1, 1, 1,
	    "Commits a checkpoint if it is at the expected revision.", QUEUE),
	CMD("MSET_CHECKPOINT", 2, SS_ARGS_MAX - 1, WRITE, cmd_mset, 1, -1, 2,
	    "Commits several checkpoints atomically.", QUEUE),
	CMD("MCAS_CHECKPOINT", 3, SS_ARGS_MAX - 1, WRITE, cmd_mcas, 1, -1, 3,
	    "Commits several checkpoints atomically if each is at its expected revision.", QUEUE),
	CMD("HISTORY_CHECKPOINT", 1, 2, READ, cmd_history, 1, 1, 1,
	    "A checkpoint's versions, newest first.", REFUSE),
	CMD("ROLLBACK_CHECKPOINT", 2, 3, ADMIN, cmd_rollback, 1, 1, 1,
	    "Makes an earlier version current as a new revision.", QUEUE),
	CMD("LIST_CHECKPOINTS", 1, 5, READ, ss_cmd_list, 0, 0, 0,
	    "Lists checkpoints with a cursor.", REFUSE),
	CMD("REPLICAOF", 2, 2, ADMIN, ss_cmd_replicaof, 0, 0, 0,
	    "Follows the primary HOST PORT, or becomes a primary (NO ONE).", REFUSE),
	CMD("REPLSYNC", 3, 4, REPLICATION, ss_cmd_replsync, 0, 0, 0,
	    "A replica's request to follow this node (its epoch, revision and port).", REFUSE),
};

const struct ss_cmd *ss_cmd_table(size_t *n)
{
	*n = sizeof(commands) / sizeof(commands[0]);
	return commands;
}

const struct ss_cmd *ss_cmd_lookup(const struct ss_token *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (ss_token_is(name, commands[i].name))
			return &commands[i];
	return NULL;
}

/* Redis's error for a command it does not know, with the arguments it
 * echoes (as Redis: the bytes as they are; the writer makes CR and LF
 * spaces). */
static enum ss_cmd_status unknown_resp(const struct ss_request *req, struct ss_cmd_env *env,
				       struct ss_buf *out)
{
	char args[160], name[130];
	size_t n = 0;

	args[0] = '\0';
	for (int i = 1; i < req->argc && n < 128; i++) {
		char one[130];
		size_t room = 128 - n;
		int w = snprintf(args + n, sizeof args - n, "'%s' ",
				 ss_cmd_echo_any(&req->argv[i], one, room < 128 ? room : 128));
		if (w < 0)
			break;
		n += (size_t)w;
		if (n >= sizeof args)
			n = sizeof args - 1;
	}
	return ss_cmd_error(env, out, "unknown command '%s', with args beginning with: %s",
			    ss_cmd_echo_any(&req->argv[0], name, 128), args);
}

enum ss_cmd_status ss_cmd_execute(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const struct ss_cmd *cmd = env->proto->resp ? ss_redis_lookup(&req->argv[0]) : NULL;

	if (!cmd)
		cmd = ss_cmd_lookup(&req->argv[0]);
	int queueing = env->proto->resp && env->client && env->client->multi && !env->exec;
	if (!env->proto->resp && env->client && env->client->multi && !env->exec) {
		/* A text request cannot be queued (its replies would be text
		 * inside a RESP array): refused, and the EXEC aborts. */
		env->client->multi_error = 1;
		return ss_cmd_error(env, out, "a text request inside a RESP MULTI: EXEC or DISCARD "
					      "first");
	}
	enum ss_cmd_status denied;
	if (ss_cmd_access(cmd, req, env, out, &denied)) {
		if (queueing)
			env->client->multi_error = 1; /* EXEC will abort */
		return denied;
	}
	if (!cmd) {
		char name[65];
		if (queueing)
			env->client->multi_error = 1; /* EXEC will abort */
		if (env->proto->resp)
			return unknown_resp(req, env, out);
		return ss_cmd_error(env, out, "unknown command '%s'",
				    ss_cmd_echo(&req->argv[0], name, 64));
	}
	if (req->nomem)
		return SS_CMD_NOMEM;
	if (req->too_many)
		return ss_cmd_error(env, out, "too many arguments");
	int nargs = req->argc - 1;
	if (nargs < cmd->min_args || nargs > cmd->max_args) {
		if (queueing)
			env->client->multi_error = 1;
		if (env->proto->resp) {
			char lower[40];
			return ss_cmd_error(env, out, "wrong number of arguments for '%s' command",
					    ss_cmd_lower(cmd->name, lower, sizeof lower));
		}
		return ss_cmd_error(env, out, "wrong number of arguments for '%s'", cmd->name);
	}
	if (ss_cmd_refuse_write(cmd, req, env, out, &denied))
		return denied;
	if (queueing && cmd->multi != SS_MULTI_NOW)
		return ss_multi_queue(req, cmd, env, out);
	return cmd->run(req, env, out);
}

const char *ss_cmd_lower(const char *name, char *buf, size_t size)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < size; i++)
		buf[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
	buf[i] = '\0';
	return buf;
}

const char *ss_cmd_echo_any(const struct ss_token *t, char *buf, size_t max)
{
	size_t n = t->n < max ? t->n : max;
	const char *nul = memchr(t->p, '\0', n);

	if (nul)
		n = (size_t)(nul - t->p); /* Redis prints arguments as C strings */
	memcpy(buf, t->p, n);
	buf[n] = '\0';
	return buf;
}

void ss_client_init(struct ss_client_state *c, uint64_t id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->resp = 2;
}

void ss_client_free(struct ss_client_state *c)
{
	ss_multi_reset(c);
	ss_cmd_auth_clear(c);
	free(c->name);
	free(c->lib_name);
	free(c->lib_ver);
	memset(c, 0, sizeof(*c));
}

int ss_cmd_render(const struct ss_proto *proto, int kind, uint64_t num, const char *p, size_t n,
		  struct ss_buf *out)
{
	switch (kind) {
	case SS_REPLY_INT:
		return proto->integer(out, (long long)num);
	case SS_REPLY_DELETED:
		return proto->integer(out, 1);
	case SS_REPLY_OK_REV:
		return proto->ok_rev(out, num);
	case SS_REPLY_CONFLICT:
		return proto->conflict(out, NULL, 0, num);
	case SS_REPLY_CONFLICT_AT:
		return proto->conflict(out, p, n, num);
	case SS_REPLY_NO_REV:
		return ss_proto_errorf(proto, out, "no revision %llu in history",
				       (unsigned long long)num);
	case SS_REPLY_NIL:
		return proto->null(out);
	case SS_REPLY_BULK:
		return proto->value(out, p, n);
	case SS_REPLY_NIL_ARRAY:
		return ss_resp_nil_array(out, proto->resp);
	case SS_REPLY_RAW:
		return ss_buf_append(out, p, n);
	default:
		return proto->ok(out);
	}
}

int ss_cmd_reply_op(const struct ss_proto *proto, const struct ss_batch *b, const struct ss_op *op,
		    struct ss_buf *out)
{
	/* Only a reply-only op has bytes, in aux (which may be unallocated
	 * when none has any); a record's name is in buf. */
	if (op->type != SS_OP_REPLY || op->nlen == 0)
		return ss_cmd_render(proto, op->reply, op->rev, NULL, 0, out);
	return ss_cmd_render(proto, op->reply, op->rev, b->aux + op->name_off, op->nlen, out);
}

int ss_cmd_reply_write_failed(const struct ss_proto *proto, int errnum, struct ss_buf *out)
{
	return ss_proto_errorf(proto, out, "log write failed: %s", strerror(errnum));
}

int ss_cmd_reply_backup(const struct ss_proto *proto, const char *failure, uint64_t rev,
			struct ss_buf *out)
{
	if (!failure)
		return ss_cmd_render(proto, SS_REPLY_OK_REV, rev, NULL, 0, out);
	return ss_proto_errorf(proto, out, "backup failed: %s", failure);
}

int ss_cmd_reply_compact(const struct ss_proto *proto, const char *failure, struct ss_buf *out)
{
	if (!failure)
		return proto->ok(out);
	return ss_proto_errorf(proto, out, "compaction failed: %s", failure);
}
