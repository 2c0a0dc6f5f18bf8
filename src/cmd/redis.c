/*
 * redis.c - the commands a RESP connection has beside the checkpoint ones:
 * Redis's own, with its semantics, reply types and error texts, on the
 * same store and under the same durability rules.
 *
 * Every key is a checkpoint: GET and GET_CHECKPOINT read the same entry,
 * and every write takes a revision, as SET_CHECKPOINT does. So the rules of
 * cmd.c hold here too: a read sees only the table (durable state), a
 * decision (NX, XX, INCR's new value, EXPIRE's GT) is taken against
 * everything staged before it, and its reply - a value, a nil, a count -
 * waits for the batch it joined to be durable, like the write it goes with.
 *
 * A write whose reply is not OK stages a reply-only op first and then its
 * records with no reply of their own (write_reply): one reply, after the
 * fdatasync, in order with the rest.
 *
 * The connection and server commands (HELLO, CLIENT, INFO, COMMAND,
 * CONFIG ...) are in redis_conn.c, glob patterns in glob.c; what they share
 * with this file is in redis.h.
 *
 * The differences from Redis are deliberate and listed in the README:
 * strings only, names 1..512 bytes, values 1..64 KiB, TTLs up to 10 years,
 * every write durable before its reply.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "cmd/redis.h"
#include "common/numparse.h"
#include "proto/resp.h"
#include "statestored/limits.h"


enum ss_cmd_status ss_redis_finish(struct ss_buf *out, size_t before, int rc)
{
	if (rc < 0) {
		out->len = out->off + before;
		return SS_CMD_NOMEM;
	}
	return SS_CMD_REPLIED;
}

enum ss_cmd_status ss_cmd_fail(struct ss_cmd_env *env, struct ss_buf *out, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (env->rejected)
		(*env->rejected)++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return ss_cmd_replied(ss_resp_err(out, msg));
}

/* No reply is built past SS_OUTBUF_MAX: a request of 27 KB (MGET of one
 * 64 KiB key 3,000 times) would otherwise make the daemon allocate
 * hundreds of megabytes. */
#define TOO_BIG "ERR the reply would pass 64 MiB: ask for fewer keys"

int ss_redis_parse_ll(const char *p, size_t n, long long *out)
{
	unsigned long long v = 0, lim;
	size_t i = 0;
	int neg = 0;

	if (n == 0 || n > 20)
		return -1;
	if (p[0] == '-') {
		neg = 1;
		i = 1;
		if (n == 1)
			return -1;
	}
	if (p[i] == '0' && (n > i + 1 || neg)) /* "007", "-0" */
		return -1;
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}


static const char *check_key(const struct ss_token *t)
{
	if (t->n == 0)
		return "ERR empty keys are not supported";
	if (t->n > SS_NAME_MAX)
		return "ERR key is longer than 512 bytes";
	return NULL;
}

static const char *check_val(const struct ss_token *t)
{
	if (t->n == 0)
		return "ERR empty values are not supported";
	if (t->n > SS_VALUE_MAX)
		return "ERR value is longer than 65536 bytes";
	if (t->n == 4 && memcmp(t->p, "NULL", 4) == 0)
		return "ERR the value 'NULL' is reserved: GET_CHECKPOINT answers it for a missing key";
	return NULL;
}

/* Checks argv[first], argv[first + step], ... as keys and, with values,
 * the token after each as a value. Returns NULL or the error. */
static const char *check_pairs(const struct ss_request *req, int first, int step, int values)
{
	const char *why = NULL;

	for (int i = first; i < req->argc && !why; i += step) {
		why = check_key(&req->argv[i]);
		if (!why && values)
			why = check_val(&req->argv[i + 1]);
	}
	return why;
}


static struct ss_record del_rec(const struct ss_token *k)
{
	return (struct ss_record){.type = SS_REC_DEL, .name = k->p, .nlen = k->n};
}

/* Stages rs[0..n) (one revision) and, ahead of them, the one reply they
 * owe: kind with num and p[0..len). All or nothing. */
static enum ss_cmd_status write_reply(struct ss_cmd_env *env, struct ss_record *rs, size_t n,
				      int kind, long long num, const char *p, size_t len)
{
	struct ss_batch_mark m;
	enum ss_cmd_status st;

	ss_batch_mark(env->batch, &m);
	st = ss_cmd_stage_reply(env, kind, (uint64_t)num, p, len);
	if (st != SS_CMD_STAGED)
		return st;
	st = ss_cmd_stage(env, rs, n, 0);
	if (st != SS_CMD_STAGED)
		ss_batch_rewind(env->batch, &m);
	return st;
}

/* An error decided against the staged state (INCR of a value another
 * connection staged): like a CONFLICT, it waits for that state to be
 * durable, since a failed write could take the value back. (One decided
 * against the table's durable value answers at once.) */
static enum ss_cmd_status staged_error(struct ss_cmd_env *env, const char *msg)
{
	char line[256];
	int n = snprintf(line, sizeof line, "-%s\r\n", msg);

	if (env->rejected)
		(*env->rejected)++;
	return ss_cmd_stage_reply(env, SS_REPLY_RAW, 0, line, (size_t)n);
}

/* An answer decided now that writes nothing: an integer. */
static enum ss_cmd_status answer_int(struct ss_cmd_env *env, long long v)
{
	return ss_cmd_stage_reply(env, SS_REPLY_INT, (uint64_t)v, NULL, 0);
}

/* ---- expiry --------------------------------------------------------------- */

/* The most a TTL may be, in ms: the store's 10 years. */
#define TTL_MAX_MS ((int64_t)SS_TTL_MAX_S * 1000)

enum unit { SECONDS, MILLIS, UNIX_SECONDS, UNIX_MILLIS };

/* The absolute expiry of v in unit u, or -1 if out of range. A time
 * already past is allowed: it deletes (at or before now). */
static int64_t when(const struct ss_cmd_env *env, long long v, enum unit u)
{
	long long ms;

	switch (u) {
	case SECONDS:
	case UNIX_SECONDS:
		if (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000)
			return -1;
		ms = v * 1000;
		break;
	default:
		ms = v;
	}
	if (u == SECONDS || u == MILLIS) {
		if (ms > TTL_MAX_MS)
			return -1;
		if (ms < 0)
			return 1; /* already past, however far */
		ms += env->now_ms;
	}
	if (ms > env->now_ms + TTL_MAX_MS)
		return -1;
	return ms < 1 ? 1 : ms;
}

/* ---- strings ---------------------------------------------------------------- */

/* A key's value and expiry as a reply now may show them: the table's
 * (durable state), or inside EXEC the staged state - which EXEC's reply
 * waits for, so it is durable by the time anyone sees it (its value is
 * read into EXEC's scratch buffer). Returns 1 if the key exists. */
static int lookup(struct ss_cmd_env *env, const struct ss_token *k, struct ss_entry *e)
{
	struct ss_cmd_cur c;

	if (!env->exec)
		return ss_table_get(env->table, k->p, k->n, env->now_ms, e);
	ss_cmd_current(env, k->p, k->n, &c);
	if (!c.rev)
		return 0;
	e->vlen = ss_cmd_cur_value(&c, env->scratch);
	e->value = env->scratch;
	e->expire_ms = c.expire_ms;
	e->rev = c.rev;
	return 1;
}

/* Looks a key up for a reply now. Returns 1 with *found set, or 0 with
 * *st to return (an error, or WAIT). */
static int read_key(const struct ss_token *k, struct ss_cmd_env *env, struct ss_buf *out,
		    struct ss_entry *e, int *found, enum ss_cmd_status *st)
{
	const char *why = check_key(k);

	if (why) {
		*st = ss_cmd_fail(env, out, "%s", why);
		return 0;
	}
	if (!env->may_reply) {
		*st = SS_CMD_WAIT;
		return 0;
	}
	*found = lookup(env, k, e);
	return 1;
}

static enum ss_cmd_status r_get(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out)
{
	struct ss_entry e;
	enum ss_cmd_status st;
	int found = 0;

	if (!read_key(&req->argv[1], env, out, &e, &found, &st))
		return st;
	return ss_cmd_replied(found ? ss_resp_bulk(out, e.value, e.vlen) : ss_resp_nil(out, ver(env)));
}

/* SET's options, also for the commands that are SET with fixed ones. */
struct set_opts {
	int nx, xx, get, keepttl;
	int64_t expire_ms; /* 0: none */
};

/* Stages SET key value under o (both checked already), answering OK (or,
 * with o->get, the old value), or nil when NX or XX refuses. reply_int:
 * answer 1 (set) or 0 (refused) instead, as SETNX does. */
static enum ss_cmd_status do_set(struct ss_cmd_env *env, const struct ss_token *k,
				 const struct ss_token *v, const struct set_opts *o, int reply_int)
{
	char old[SS_VALUE_MAX];
	struct ss_cmd_cur c;

	ss_cmd_current(env, k->p, k->n, &c);
	size_t olen = c.rev && o->get ? ss_cmd_cur_value(&c, old) : 0;
	if ((o->nx && c.rev) || (o->xx && !c.rev)) {
		if (reply_int)
			return answer_int(env, 0);
		if (o->get && c.rev)
			return ss_cmd_stage_reply(env, SS_REPLY_BULK, 0, old, olen);
		return ss_cmd_stage_reply(env, SS_REPLY_NIL, 0, NULL, 0);
	}
	struct ss_record r = ss_cmd_set_record(k, v->p, v->n, o->keepttl ? c.expire_ms : o->expire_ms);
	if (reply_int)
		return write_reply(env, &r, 1, SS_REPLY_INT, 1, NULL, 0);
	if (o->get)
		return write_reply(env, &r, 1, c.rev ? SS_REPLY_BULK : SS_REPLY_NIL, 0, old, olen);
	return ss_cmd_stage(env, &r, 1, SS_REPLY_OK);
}

/* The checks every write of a key and a value makes before it decides. */
static const char *check_write(const struct ss_cmd_env *env, const struct ss_token *k,
			       const struct ss_token *v)
{
	const char *why = check_key(k);

	if (!why && v)
		why = check_val(v);
	if (!why && ss_cmd_check_quota(env))
		why = "OOM command not allowed: the log has passed --quota-bytes";
	return why;
}

/* Parses an expiry option's argument (EX, PX, EXAT, PXAT). Returns NULL
 * or the error (cmd names the command in it). */
static const char *parse_expiry(const struct ss_cmd_env *env, const struct ss_token *t,
				enum unit u, int64_t *expire_ms, char *msg, size_t msz,
				const char *cmd)
{
	long long v;

	if (tok_ll(t, &v) < 0)
		return NOT_INT;
	int64_t w = v > 0 ? when(env, v, u) : -1;
	if (w < 0) {
		snprintf(msg, msz, "ERR invalid expire time in '%s' command", cmd);
		return msg;
	}
	*expire_ms = w;
	return NULL;
}

/* SET's and GETEX's options, parsed as Redis parses them
 * (parseExtendedStringArgumentsOrReply): an option may repeat (the last
 * expiry counts) but not meet one it excludes; NX, XX, GET and KEEPTTL are
 * SET's, PERSIST is GETEX's. Returns NULL or the error; msg (64 bytes)
 * holds a formatted one. */
enum { O_NX = 1, O_XX = 2, O_GET = 4, O_KEEPTTL = 8, O_PERSIST = 16, O_EX = 32, O_PX = 64,
       O_EXAT = 128, O_PXAT = 256 };
#define O_EXPIRY (O_EX | O_PX | O_EXAT | O_PXAT)

static const char *parse_string_opts(const struct ss_cmd_env *env, const struct ss_request *req,
				     int first, int getex, struct set_opts *o, int *flags,
				     char *msg)
{
	const struct ss_token *when_t = NULL;
	enum unit u = SECONDS;

	*flags = 0;
	for (int j = first; j < req->argc; j++) {
		const struct ss_token *t = &req->argv[j];
		int next = j + 1 < req->argc, f = *flags, bit = 0;
		if (!getex && ss_token_is(t, "NX") && !(f & O_XX))
			bit = O_NX;
		else if (!getex && ss_token_is(t, "XX") && !(f & O_NX))
			bit = O_XX;
		else if (!getex && ss_token_is(t, "GET"))
			bit = O_GET;
		else if (!getex && ss_token_is(t, "KEEPTTL") && !(f & (O_PERSIST | O_EXPIRY)))
			bit = O_KEEPTTL;
		else if (getex && ss_token_is(t, "PERSIST") && !(f & (O_KEEPTTL | O_EXPIRY)))
			bit = O_PERSIST;
		else if (ss_token_is(t, "EX") && next && !(f & (O_KEEPTTL | O_PERSIST | (O_EXPIRY & ~O_EX))))
			bit = O_EX, u = SECONDS;
		else if (ss_token_is(t, "PX") && next && !(f & (O_KEEPTTL | O_PERSIST | (O_EXPIRY & ~O_PX))))
			bit = O_PX, u = MILLIS;
		else if (ss_token_is(t, "EXAT") && next &&
			 !(f & (O_KEEPTTL | O_PERSIST | (O_EXPIRY & ~O_EXAT))))
			bit = O_EXAT, u = UNIX_SECONDS;
		else if (ss_token_is(t, "PXAT") && next &&
			 !(f & (O_KEEPTTL | O_PERSIST | (O_EXPIRY & ~O_PXAT))))
			bit = O_PXAT, u = UNIX_MILLIS;
		else
			return SYNTAX;
		*flags |= bit;
		if (bit & O_EXPIRY)
			when_t = &req->argv[++j];
	}
	o->nx = !!(*flags & O_NX);
	o->xx = !!(*flags & O_XX);
	o->get = !!(*flags & O_GET);
	o->keepttl = !!(*flags & O_KEEPTTL);
	o->expire_ms = 0;
	if (when_t)
		return parse_expiry(env, when_t, u, &o->expire_ms, msg, 64, getex ? "getex" : "set");
	return NULL;
}

static enum ss_cmd_status r_set(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out)
{
	struct set_opts o;
	char msg[64];
	int flags;
	const char *why = parse_string_opts(env, req, 3, 0, &o, &flags, msg);

	if (!why)
		why = check_write(env, &req->argv[1], &req->argv[2]);
	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	return do_set(env, &req->argv[1], &req->argv[2], &o, 0);
}

static enum ss_cmd_status r_setnx(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const struct set_opts o = {.nx = 1};
	const char *why = check_write(env, &req->argv[1], &req->argv[2]);

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	return do_set(env, &req->argv[1], &req->argv[2], &o, 1);
}

/* SETEX key seconds value, PSETEX key ms value. */
static enum ss_cmd_status setex(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out, enum unit u, const char *cmd)
{
	struct set_opts o = {0};
	char msg[64];
	const char *why = check_write(env, &req->argv[1], &req->argv[3]);

	if (!why)
		why = parse_expiry(env, &req->argv[2], u, &o.expire_ms, msg, sizeof msg, cmd);
	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	return do_set(env, &req->argv[1], &req->argv[3], &o, 0);
}

static enum ss_cmd_status r_setex(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	return setex(req, env, out, SECONDS, "setex");
}

static enum ss_cmd_status r_psetex(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	return setex(req, env, out, MILLIS, "psetex");
}

static enum ss_cmd_status r_getset(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	const struct set_opts o = {.get = 1};
	const char *why = check_write(env, &req->argv[1], &req->argv[2]);

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	return do_set(env, &req->argv[1], &req->argv[2], &o, 0);
}

static enum ss_cmd_status r_getdel(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	char old[SS_VALUE_MAX];
	struct ss_cmd_cur c;
	const char *why = check_key(&req->argv[1]);

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (!c.rev)
		return ss_cmd_stage_reply(env, SS_REPLY_NIL, 0, NULL, 0);
	size_t olen = ss_cmd_cur_value(&c, old);
	struct ss_record r = del_rec(&req->argv[1]);
	return write_reply(env, &r, 1, SS_REPLY_BULK, 0, old, olen);
}

/* GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]: with an option, a
 * write (the value again, with the new expiry) whose reply is the value. */
static enum ss_cmd_status r_getex(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	char old[SS_VALUE_MAX], msg[64];
	struct ss_cmd_cur c;
	struct set_opts o;
	int flags;
	const char *why = check_key(&req->argv[1]);

	if (!why)
		why = parse_string_opts(env, req, 2, 1, &o, &flags, msg);
	if (!why && flags && ss_cmd_check_quota(env))
		why = "OOM command not allowed: the log has passed --quota-bytes";
	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	if (!flags)
		return r_get(req, env, out);
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (!c.rev)
		return ss_cmd_stage_reply(env, SS_REPLY_NIL, 0, NULL, 0);
	size_t olen = ss_cmd_cur_value(&c, old);
	struct ss_record r = ss_cmd_set_record(&req->argv[1], old, olen, o.expire_ms);
	return write_reply(env, &r, 1, SS_REPLY_BULK, 0, old, olen);
}

static enum ss_cmd_status r_mget(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	const char *why = check_pairs(req, 1, 1, 0);

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	if (!env->may_reply)
		return SS_CMD_WAIT;
	size_t before = ss_buf_size(out);
	int rc = ss_resp_array(out, req->argc - 1);
	for (int i = 1; i < req->argc && rc == 0; i++) {
		struct ss_entry e;
		rc = lookup(env, &req->argv[i], &e) ? ss_resp_bulk(out, e.value, e.vlen)
							  : ss_resp_nil(out, ver(env));
		if (ss_buf_size(out) - before > SS_OUTBUF_MAX) {
			out->len = out->off + before;
			return ss_cmd_fail(env, out, TOO_BIG);
		}
	}
	return ss_redis_finish(out, before, rc);
}

/* MSET (nx 0) and MSETNX (nx 1): one group, one revision, atomic. */
static enum ss_cmd_status mset(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out, int nx)
{
	const char *why = NULL;
	const struct ss_token **keys;
	struct ss_record *rs;
	enum ss_cmd_status st;
	size_t n;

	if ((req->argc - 1) % 2 != 0)
		return ss_cmd_fail(env, out, "ERR wrong number of arguments for '%s' command",
			    nx ? "msetnx" : "mset");
	why = check_pairs(req, 1, 2, 1);
	if (!why && ss_cmd_check_quota(env))
		why = "OOM command not allowed: the log has passed --quota-bytes";
	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	if (!(keys = ss_cmd_distinct(req, 1, 2, &n)))
		return SS_CMD_NOMEM;
	if (nx) {
		for (size_t i = 0; i < n; i++) {
			struct ss_cmd_cur c;
			ss_cmd_current(env, keys[i]->p, keys[i]->n, &c);
			if (c.rev) {
				free(keys);
				return answer_int(env, 0);
			}
		}
	}
	if (!(rs = malloc(n * sizeof(*rs)))) {
		free(keys);
		return SS_CMD_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		rs[i] = ss_cmd_set_record(keys[i], keys[i][1].p, keys[i][1].n, 0); /* its value follows it */
	st = nx ? write_reply(env, rs, n, SS_REPLY_INT, 1, NULL, 0)
		: ss_cmd_stage(env, rs, n, SS_REPLY_OK);
	free(rs);
	free(keys);
	return st;
}

static enum ss_cmd_status r_mset(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	return mset(req, env, out, 0);
}

static enum ss_cmd_status r_msetnx(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	return mset(req, env, out, 1);
}

/* DEL and UNLINK: every named key that exists goes, in one group with one
 * revision; the answer is how many. */
static enum ss_cmd_status r_del(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out)
{
	const struct ss_token **keys;
	struct ss_record *rs;
	enum ss_cmd_status st;
	size_t n, k = 0;
	const char *why = check_pairs(req, 1, 1, 0);

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	if (!(keys = ss_cmd_distinct(req, 1, 1, &n)))
		return SS_CMD_NOMEM;
	if (!(rs = malloc(n * sizeof(*rs)))) {
		free(keys);
		return SS_CMD_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct ss_cmd_cur c;
		ss_cmd_current(env, keys[i]->p, keys[i]->n, &c);
		if (c.rev)
			rs[k++] = del_rec(keys[i]);
	}
	st = k ? write_reply(env, rs, k, SS_REPLY_INT, (long long)k, NULL, 0) : answer_int(env, 0);
	free(rs);
	free(keys);
	return st;
}

static enum ss_cmd_status r_exists(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	const char *why = check_pairs(req, 1, 1, 0);
	long long n = 0;

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	if (!env->may_reply)
		return SS_CMD_WAIT;
	for (int i = 1; i < req->argc; i++) {
		struct ss_entry e;
		n += lookup(env, &req->argv[i], &e);
	}
	return ss_cmd_replied(ss_resp_int(out, n));
}

/* INCR, DECR, INCRBY, DECRBY: by is the step, or 0 to read it from argv[2]
 * (negated when neg). The value, kept as decimal text, keeps its TTL. */
static enum ss_cmd_status incr(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out, long long by, int neg)
{
	char old[SS_VALUE_MAX], num[24];
	struct ss_cmd_cur c;
	long long v = 0;
	const char *why = check_write(env, &req->argv[1], NULL);

	if (!why && req->argc == 3) {
		if (tok_ll(&req->argv[2], &by) < 0)
			why = NOT_INT;
		else if (neg && by == LLONG_MIN)
			why = "ERR decrement would overflow";
		else if (neg)
			by = -by;
	}
	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (c.rev) {
		size_t olen = ss_cmd_cur_value(&c, old);
		if (ss_redis_parse_ll(old, olen, &v) < 0)
			why = NOT_INT;
	}
	if (!why && ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by)))
		why = "ERR increment or decrement would overflow";
	if (why)
		return c.staged ? staged_error(env, why) : ss_cmd_fail(env, out, "%s", why);
	v += by;
	int len = snprintf(num, sizeof num, "%lld", v);
	struct ss_record r = ss_cmd_set_record(&req->argv[1], num, (size_t)len, c.expire_ms);
	return write_reply(env, &r, 1, SS_REPLY_INT, v, NULL, 0);
}

static enum ss_cmd_status r_incr(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	return incr(req, env, out, 1, 0);
}

static enum ss_cmd_status r_decr(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	return incr(req, env, out, -1, 0);
}

static enum ss_cmd_status r_incrby(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	return incr(req, env, out, 0, 0);
}

static enum ss_cmd_status r_decrby(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	return incr(req, env, out, 0, 1);
}

/* ---- expiry commands ---------------------------------------------------------- */

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT]. A time
 * already past deletes the key, as in Redis. Setting one rewrites the
 * entry with its value and the new expiry: a new revision. */
static enum ss_cmd_status expire(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out, enum unit u, const char *cmd)
{
	char old[SS_VALUE_MAX];
	int nx = 0, xx = 0, gt = 0, lt = 0;
	struct ss_cmd_cur c;
	long long v;
	const char *why = check_key(&req->argv[1]);

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	if (tok_ll(&req->argv[2], &v) < 0)
		return ss_cmd_fail(env, out, NOT_INT);
	for (int i = 3; i < req->argc; i++) {
		const struct ss_token *t = &req->argv[i];
		char word[901];
		if (ss_token_is(t, "NX"))
			nx = 1;
		else if (ss_token_is(t, "XX"))
			xx = 1;
		else if (ss_token_is(t, "GT"))
			gt = 1;
		else if (ss_token_is(t, "LT"))
			lt = 1;
		else
			return ss_cmd_fail(env, out, "ERR Unsupported option %s",
				    ss_cmd_echo_any(t, word, 900));
	}
	if (nx && (xx || gt || lt))
		return ss_cmd_fail(env, out, "ERR NX and XX, GT or LT options at the same time are not "
				      "compatible");
	if (gt && lt)
		return ss_cmd_fail(env, out, "ERR GT and LT options at the same time are not compatible");
	int64_t w = when(env, v, u);
	if (w < 0)
		return ss_cmd_fail(env, out, "ERR invalid expire time in '%s' command", cmd);
	/* Past the quota a delete still goes (it is how the log shrinks). */
	if (w > env->now_ms && ss_cmd_check_quota(env))
		return ss_cmd_fail(env, out, "OOM command not allowed: the log has passed --quota-bytes");
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (!c.rev || (nx && c.expire_ms) || (xx && !c.expire_ms) ||
	    (gt && (!c.expire_ms || w <= c.expire_ms)) || (lt && c.expire_ms && w >= c.expire_ms))
		return answer_int(env, 0);
	if (w <= env->now_ms) {
		struct ss_record r = del_rec(&req->argv[1]);
		return write_reply(env, &r, 1, SS_REPLY_INT, 1, NULL, 0);
	}
	size_t olen = ss_cmd_cur_value(&c, old);
	struct ss_record r = ss_cmd_set_record(&req->argv[1], old, olen, w);
	return write_reply(env, &r, 1, SS_REPLY_INT, 1, NULL, 0);
}

static enum ss_cmd_status r_expire(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	return expire(req, env, out, SECONDS, "expire");
}

static enum ss_cmd_status r_pexpire(const struct ss_request *req, struct ss_cmd_env *env,
				    struct ss_buf *out)
{
	return expire(req, env, out, MILLIS, "pexpire");
}

static enum ss_cmd_status r_expireat(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out)
{
	return expire(req, env, out, UNIX_SECONDS, "expireat");
}

static enum ss_cmd_status r_pexpireat(const struct ss_request *req, struct ss_cmd_env *env,
				      struct ss_buf *out)
{
	return expire(req, env, out, UNIX_MILLIS, "pexpireat");
}

static enum ss_cmd_status r_persist(const struct ss_request *req, struct ss_cmd_env *env,
				    struct ss_buf *out)
{
	char old[SS_VALUE_MAX];
	struct ss_cmd_cur c;
	const char *why = check_write(env, &req->argv[1], NULL);

	if (why)
		return ss_cmd_fail(env, out, "%s", why);
	ss_cmd_current(env, req->argv[1].p, req->argv[1].n, &c);
	if (!c.rev || !c.expire_ms)
		return answer_int(env, 0);
	size_t olen = ss_cmd_cur_value(&c, old);
	struct ss_record r = ss_cmd_set_record(&req->argv[1], old, olen, 0);
	return write_reply(env, &r, 1, SS_REPLY_INT, 1, NULL, 0);
}

/* TTL (0), PTTL (1), EXPIRETIME (2), PEXPIRETIME (3). */
static enum ss_cmd_status ttl(const struct ss_request *req, struct ss_cmd_env *env,
			      struct ss_buf *out, int kind)
{
	struct ss_entry e;
	enum ss_cmd_status st;
	int found = 0;
	long long v;

	if (!read_key(&req->argv[1], env, out, &e, &found, &st))
		return st;
	if (!found)
		v = -2;
	else if (!e.expire_ms)
		v = -1;
	else if (kind == 0)
		v = (e.expire_ms - env->now_ms + 500) / 1000; /* Redis rounds */
	else if (kind == 1)
		v = e.expire_ms - env->now_ms;
	else
		v = kind == 2 ? e.expire_ms / 1000 : e.expire_ms;
	return ss_cmd_replied(ss_resp_int(out, v));
}

static enum ss_cmd_status r_ttl(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out)
{
	return ttl(req, env, out, 0);
}

static enum ss_cmd_status r_pttl(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	return ttl(req, env, out, 1);
}

static enum ss_cmd_status r_expiretime(const struct ss_request *req, struct ss_cmd_env *env,
				       struct ss_buf *out)
{
	return ttl(req, env, out, 2);
}

static enum ss_cmd_status r_pexpiretime(const struct ss_request *req, struct ss_cmd_env *env,
					struct ss_buf *out)
{
	return ttl(req, env, out, 3);
}

static enum ss_cmd_status r_type(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	struct ss_entry e;
	enum ss_cmd_status st;
	int found = 0;

	if (!read_key(&req->argv[1], env, out, &e, &found, &st))
		return st;
	return ss_cmd_replied(ss_resp_simple(out, found ? "string" : "none"));
}

/* ---- iteration ------------------------------------------------------------------ */

struct keys {
	const struct ss_cmd_env *env; /* whose user's namespaces filter them */
	struct ss_buf *out;
	const struct ss_token *match; /* or NULL */
	size_t n, want;
	int rc;
};

static int key_one(void *arg, const struct ss_entry *e)
{
	struct keys *k = arg;

	if (k->match && !ss_glob_match(k->match->p, k->match->n, e->name, e->nlen, 0))
		return 0;
	if (!ss_cmd_visible(k->env, e->name, e->nlen))
		return 0;
	if (k->rc == 0)
		k->rc = ss_resp_bulk(k->out, e->name, e->nlen);
	k->n++;
	return k->rc < 0 || k->n >= k->want;
}

static int skip_key(void *arg, const struct ss_entry *e)
{
	(void)arg;
	(void)e;
	return 0;
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]: LIST_CHECKPOINTS'
 * cursors and guarantee, Redis's reply: [cursor, [key, ...]]. */
static enum ss_cmd_status r_scan(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	uint64_t cursor, pos;
	long long count = 10;
	const struct ss_token *match = NULL;
	int strings = 1;

	if (ss_parse_u64(req->argv[1].p, req->argv[1].n, &cursor) < 0 ||
	    ss_cmd_cursor_decode(cursor, &pos) < 0)
		return ss_cmd_fail(env, out, "ERR invalid cursor");
	for (int i = 2; i < req->argc; i += 2) {
		if (i + 1 >= req->argc)
			return ss_cmd_fail(env, out, SYNTAX);
		if (ss_token_is(&req->argv[i], "MATCH")) {
			match = &req->argv[i + 1];
		} else if (ss_token_is(&req->argv[i], "COUNT")) {
			if (tok_ll(&req->argv[i + 1], &count) < 0)
				return ss_cmd_fail(env, out, NOT_INT);
			if (count < 1)
				return ss_cmd_fail(env, out, SYNTAX);
			if (count > SS_LIST_COUNT_MAX)
				count = SS_LIST_COUNT_MAX;
		} else if (ss_token_is(&req->argv[i], "TYPE")) {
			strings = ss_token_is(&req->argv[i + 1], "STRING");
		} else {
			return ss_cmd_fail(env, out, SYNTAX);
		}
	}
	if (!env->may_reply)
		return SS_CMD_WAIT;
	size_t plen = match ? ss_glob_literal_prefix(match->p, match->n) : 0;
	struct ss_buf keys;
	ss_buf_init(&keys);
	struct keys k = {.env = env, .out = &keys, .match = match, .want = strings ? (size_t)count : 0};
	/* A TYPE other than string matches nothing, but the cursor still
	 * walks: a client loops to 0 as with Redis. */
	uint64_t next = ss_table_scan(env->table, pos, SS_SCAN_BLOCK_LIST, 10 * (size_t)count,
				      match ? match->p : NULL,
				      plen, env->now_ms, strings ? key_one : skip_key, &k);
	char num[24];
	int nn = snprintf(num, sizeof num, "%llu", (unsigned long long)ss_cmd_cursor_encode(next));
	size_t before = ss_buf_size(out);
	int rc = k.rc | ss_resp_array(out, 2) | ss_resp_bulk(out, num, (size_t)nn) |
		 ss_resp_array(out, (long long)k.n) |
		 ss_buf_append(out, ss_buf_head(&keys), ss_buf_size(&keys));
	ss_buf_free(&keys);
	return ss_redis_finish(out, before, rc);
}

/* KEYS pattern: every key, in one reply - O(N), as in Redis; SCAN is the
 * bounded way. */
static enum ss_cmd_status r_keys(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	if (!env->may_reply)
		return SS_CMD_WAIT;
	const struct ss_token *match = &req->argv[1];
	struct ss_buf keys;
	struct ss_entry e;
	size_t cur = 0;
	struct keys k = {.env = env, .out = &keys, .match = match, .want = SIZE_MAX};

	ss_buf_init(&keys);
	while (k.rc == 0 && ss_table_next(env->table, &cur, &e)) {
		if (!(e.expire_ms && e.expire_ms <= env->now_ms))
			(void)key_one(&k, &e);
		if (ss_buf_size(&keys) > SS_OUTBUF_MAX) {
			ss_buf_free(&keys);
			return ss_cmd_fail(env, out, "ERR the reply would pass 64 MiB: use SCAN");
		}
	}
	size_t before = ss_buf_size(out);
	int rc = k.rc | ss_resp_array(out, (long long)k.n) |
		 ss_buf_append(out, ss_buf_head(&keys), ss_buf_size(&keys));
	ss_buf_free(&keys);
	return ss_redis_finish(out, before, rc);
}

static int first_key(void *arg, const struct ss_entry *e)
{
	struct keys *k = arg;

	/* The scan finishes the bucket it is in after a stop: one key only. */
	if (k->n)
		return 1;
	if (!ss_cmd_visible(k->env, e->name, e->nlen))
		return 0;
	k->rc = ss_resp_bulk(k->out, e->name, e->nlen);
	k->n = 1;
	return 1;
}

/* RANDOMKEY: the first key at or after a random position (xorshift64,
 * per connection). */
static enum ss_cmd_status r_randomkey(const struct ss_request *req, struct ss_cmd_env *env,
				      struct ss_buf *out)
{
	uint64_t seed = env->client->rand;

	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (!seed)
		seed = (uint64_t)env->now_ms * 0x9e3779b97f4a7c15u ^ env->client->id;
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	env->client->rand = seed;
	size_t before = ss_buf_size(out);
	struct keys k = {.env = env, .out = out, .want = 1};
	uint64_t pos = (seed & ((UINT64_C(1) << SS_SCAN_POS_BITS) - 1)) | 1;
	/* From the random position to the end, then from the start. A user
	 * held to namespaces may see few of the keys: its search is bounded
	 * (64 steps of 1024 buckets), and may answer nil where a key of its
	 * own hides far from where it looked. */
	const struct ss_acl_user *u = env->acl ? env->client->user : NULL;
	int steps = u && !u->every_name ? 64 : -1;
	while (k.n == 0 && pos != 0 && steps-- != 0)
		pos = ss_table_scan(env->table, pos, SS_SCAN_BLOCK_LIST, 1024, NULL, 0, env->now_ms,
				    first_key, &k);
	for (pos = 0; k.n == 0 && steps-- != 0;) {
		pos = ss_table_scan(env->table, pos, SS_SCAN_BLOCK_LIST, 1024, NULL, 0, env->now_ms,
				    first_key, &k);
		if (pos == 0)
			break;
	}
	if (k.n == 0)
		return ss_cmd_replied(ss_resp_nil(out, ver(env)));
	return ss_redis_finish(out, before, k.rc);
}

/* ---- FLUSHALL, FLUSHDB -----------------------------------------------------------
 *
 * A flush is a DEL of every key - those in the table and those only staged
 * - in one group at one revision: durable and atomic like MSET, through the
 * same log records, so no new record type and no new replay path. One group
 * holds at most SS_GROUP_MAX records, which bounds a flush: a store of more
 * keys is refused (delete with SCAN and DEL), and a flush that does not fit
 * beside what the open batch holds waits for the next batch. */

struct name_list {
	struct ss_buf bytes;        /* the names, one after the other */
	struct { size_t off, n; } *v;
	size_t n, cap;
};

static int add_name(void *arg, const char *name, size_t nlen)
{
	struct name_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].off = ss_buf_size(&l->bytes);
	l->v[l->n].n = nlen;
	if (ss_buf_append(&l->bytes, name, nlen) < 0)
		return -1;
	l->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b, void *base)
{
	const struct { size_t off, n; } *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp((const char *)base + x->off, (const char *)base + y->off, n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static enum ss_cmd_status r_flush(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	struct name_list l = {0};
	struct ss_record *rs = NULL;
	enum ss_cmd_status st = SS_CMD_NOMEM;
	struct ss_entry e;
	size_t cur = 0, k = 0;

	if (req->argc == 2 && !ss_token_is(&req->argv[1], "ASYNC") &&
	    !ss_token_is(&req->argv[1], "SYNC"))
		return ss_cmd_fail(env, out, SYNTAX);
	size_t most = ss_table_count(env->table) + env->pending->count;
	if (ss_table_count(env->table) + 1 > SS_GROUP_MAX)
		return ss_cmd_fail(env, out, "ERR a flush of more than %d keys is not supported yet: delete "
				      "them with SCAN and DEL", SS_GROUP_MAX - 1);
	if (env->batch->nops + most + 1 > SS_GROUP_MAX)
		return SS_CMD_FULL;
	ss_buf_init(&l.bytes);
	while (ss_table_next(env->table, &cur, &e))
		if (add_name(&l, e.name, e.nlen) < 0)
			goto out;
	if (ss_pending_each_name(env->pending, add_name, &l) < 0)
		goto out;
	if (l.n > 1)
		qsort_r(l.v, l.n, sizeof(*l.v), cmp_name, ss_buf_head(&l.bytes));
	if (l.n && !(rs = malloc(l.n * sizeof(*rs))))
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		const char *name = ss_buf_head(&l.bytes) + l.v[i].off;
		struct ss_cmd_cur c;
		if (i > 0 && cmp_name(&l.v[i - 1], &l.v[i], ss_buf_head(&l.bytes)) == 0)
			continue; /* in the table and staged, or staged twice */
		ss_cmd_current(env, name, l.v[i].n, &c);
		if (c.rev)
			rs[k++] = (struct ss_record){.type = SS_REC_DEL, .name = name, .nlen = l.v[i].n};
	}
	/* Nothing to delete still answers after what it was decided against. */
	st = k ? ss_cmd_stage(env, rs, k, SS_REPLY_OK)
	       : ss_cmd_stage_reply(env, SS_REPLY_OK, 0, NULL, 0);
out:
	free(rs);
	free(l.v);
	ss_buf_free(&l.bytes);
	return st;
}

/* ---- the table --------------------------------------------------------------------- */

#define RCMD(name, min, max, role, run, first, last, step, summary, multi)                       \
	{name, min, max, SS_CMD_##role, run, first, last, step, summary, SS_MULTI_##multi}
#define MANY (SS_ARGS_MAX - 1)

static const struct ss_cmd redis_commands[] = {
	/* The most frequent first: lookup is a scan of this table. */
	RCMD("GET", 1, 1, READ, r_get, 1, 1, 1, "Reads a key.", QUEUE),
	RCMD("SET", 2, MANY, WRITE, r_set, 1, 1, 1, "Writes a key, durably.", QUEUE),
	RCMD("PING", 0, 1, OPEN, ss_redis_ping, 0, 0, 0, "Answers PONG, or the message.", QUEUE),
	RCMD("ECHO", 1, 1, CONN, ss_redis_echo, 0, 0, 0, "Answers the message.", QUEUE),
	RCMD("HELLO", 0, 6, OPEN, ss_redis_hello, 0, 0, 0, "Chooses RESP2 or RESP3.", REFUSE),
	RCMD("AUTH", 1, 2, OPEN, ss_cmd_auth, 0, 0, 0, "Authenticates the connection.", REFUSE),
	RCMD("SELECT", 1, 1, CONN, ss_redis_select, 0, 0, 0, "Database 0 is the only one.", REFUSE),
	RCMD("CLIENT", 1, 7, CONN, ss_redis_client, 0, 0, 0, "The connection's identity.", REFUSE),
	RCMD("RESET", 0, 0, CONN, ss_redis_reset, 0, 0, 0, "Resets the connection's state.", NOW),
	RCMD("INFO", 0, MANY, READ, ss_redis_info, 0, 0, 0, "The server's state, by section.", REFUSE),
	RCMD("DBSIZE", 0, 0, READ, ss_redis_dbsize, 0, 0, 0, "The number of keys.", REFUSE),
	RCMD("TIME", 0, 0, CONN, ss_redis_time, 0, 0, 0, "The server's clock.", QUEUE),
	RCMD("COMMAND", 0, MANY, CONN, ss_redis_command, 0, 0, 0, "The commands, from their table.", REFUSE),
	RCMD("CONFIG", 1, MANY, ADMIN, ss_redis_config, 0, 0, 0, "CONFIG GET: the settings.", REFUSE),
	RCMD("WAIT", 2, 2, CONN, ss_redis_wait, 0, 0, 0,
	     "At once: the replicas holding every acknowledged write.", REFUSE),
	RCMD("WAITAOF", 3, 3, CONN, ss_redis_wait, 0, 0, 0,
	     "At once: [1, replicas holding every acknowledged write].", REFUSE),
	RCMD("SETNX", 2, 2, WRITE, r_setnx, 1, 1, 1, "Writes a key if it does not exist.", QUEUE),
	RCMD("SETEX", 3, 3, WRITE, r_setex, 1, 1, 1, "Writes a key with a TTL in seconds.", QUEUE),
	RCMD("PSETEX", 3, 3, WRITE, r_psetex, 1, 1, 1, "Writes a key with a TTL in ms.", QUEUE),
	RCMD("GETSET", 2, 2, RW, r_getset, 1, 1, 1, "Writes a key, answering the old value.", QUEUE),
	RCMD("GETDEL", 1, 1, RW, r_getdel, 1, 1, 1, "Deletes a key, answering its value.", QUEUE),
	RCMD("GETEX", 1, MANY, RW, r_getex, 1, 1, 1, "Reads a key and sets its TTL.", QUEUE),
	RCMD("MGET", 1, MANY, READ, r_mget, 1, -1, 1, "Reads several keys.", QUEUE),
	RCMD("MSET", 2, MANY, WRITE, r_mset, 1, -1, 2, "Writes several keys atomically.", QUEUE),
	RCMD("MSETNX", 2, MANY, WRITE, r_msetnx, 1, -1, 2,
	     "Writes several keys atomically if none exists.", QUEUE),
	RCMD("DEL", 1, MANY, WRITE, r_del, 1, -1, 1, "Deletes keys atomically.", QUEUE),
	RCMD("UNLINK", 1, MANY, WRITE, r_del, 1, -1, 1, "Deletes keys atomically (as DEL).", QUEUE),
	RCMD("EXISTS", 1, MANY, READ, r_exists, 1, -1, 1, "Counts the keys that exist.", QUEUE),
	RCMD("EXPIRE", 2, MANY, WRITE, r_expire, 1, 1, 1, "Sets a TTL in seconds.", QUEUE),
	RCMD("PEXPIRE", 2, MANY, WRITE, r_pexpire, 1, 1, 1, "Sets a TTL in ms.", QUEUE),
	RCMD("EXPIREAT", 2, MANY, WRITE, r_expireat, 1, 1, 1, "Sets an expiry in unix seconds.", QUEUE),
	RCMD("PEXPIREAT", 2, MANY, WRITE, r_pexpireat, 1, 1, 1, "Sets an expiry in unix ms.", QUEUE),
	RCMD("PERSIST", 1, 1, WRITE, r_persist, 1, 1, 1, "Removes a TTL.", QUEUE),
	RCMD("TTL", 1, 1, READ, r_ttl, 1, 1, 1, "Seconds a key has left.", QUEUE),
	RCMD("PTTL", 1, 1, READ, r_pttl, 1, 1, 1, "Milliseconds a key has left.", QUEUE),
	RCMD("EXPIRETIME", 1, 1, READ, r_expiretime, 1, 1, 1, "A key's expiry in unix seconds.", QUEUE),
	RCMD("PEXPIRETIME", 1, 1, READ, r_pexpiretime, 1, 1, 1, "A key's expiry in unix ms.", QUEUE),
	RCMD("TYPE", 1, 1, READ, r_type, 1, 1, 1, "string, or none.", QUEUE),
	RCMD("SCAN", 1, 7, READ, r_scan, 0, 0, 0, "Iterates the keys with a cursor.", REFUSE),
	RCMD("KEYS", 1, 1, READ, r_keys, 0, 0, 0, "Every key matching a pattern.", REFUSE),
	RCMD("RANDOMKEY", 0, 0, READ, r_randomkey, 0, 0, 0, "A random key.", REFUSE),
	RCMD("FLUSHALL", 0, 1, ADMIN, r_flush, 0, 0, 0,
	     "Deletes every key, durably, in one group at one revision.", REFUSE),
	RCMD("FLUSHDB", 0, 1, ADMIN, r_flush, 0, 0, 0, "As FLUSHALL: there is one database.",
	     REFUSE),
	RCMD("MULTI", 0, 0, CONN, ss_cmd_multi, 0, 0, 0, "Starts a transaction.", NOW),
	RCMD("EXEC", 0, 0, CONN, ss_cmd_exec, 0, 0, 0,
	     "Commits the queued commands as one log group, durably.", NOW),
	RCMD("DISCARD", 0, 0, CONN, ss_cmd_discard, 0, 0, 0, "Drops the queued commands.", NOW),
	RCMD("WATCH", 1, MANY, CONN, ss_cmd_watch, 1, -1, 1,
	     "EXEC answers nil if any of these keys changes.", NOW),
	RCMD("UNWATCH", 0, 0, CONN, ss_cmd_unwatch, 0, 0, 0, "Forgets the watched keys.", QUEUE),
	RCMD("INCR", 1, 1, RW, r_incr, 1, 1, 1, "Adds 1 to a counter.", QUEUE),
	RCMD("DECR", 1, 1, RW, r_decr, 1, 1, 1, "Takes 1 from a counter.", QUEUE),
	RCMD("INCRBY", 2, 2, RW, r_incrby, 1, 1, 1, "Adds to a counter.", QUEUE),
	RCMD("DECRBY", 2, 2, RW, r_decrby, 1, 1, 1, "Takes from a counter.", QUEUE),
};

static const size_t redis_ncommands = sizeof redis_commands / sizeof redis_commands[0];

const struct ss_cmd *ss_redis_table(size_t *n)
{
	*n = redis_ncommands;
	return redis_commands;
}

const struct ss_cmd *ss_redis_lookup(const struct ss_token *name)
{
	for (size_t i = 0; i < redis_ncommands; i++)
		if (ss_token_is(name, redis_commands[i].name))
			return &redis_commands[i];
	return NULL;
}
