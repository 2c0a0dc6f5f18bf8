/*
 * list.c - LIST_CHECKPOINTS: a cursor over every pipeline, in bounded
 * steps, with Redis SCAN's guarantee (the table's ss_table_scan gives it;
 * this file turns its positions into cursors a client can hold and checks
 * them when they come back).
 */
#include <stdint.h>

#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/numparse.h"

/* LIST_CHECKPOINTS cursors. The table's cursor is a position; the client
 * gets it with a 16-bit check beside it, so that a cursor the server never
 * issued (a typo, a number from elsewhere) is an error, not a silent skip
 * to some place in the table. */
#define CURSOR_CHECK_BITS 16

static uint64_t cursor_check(uint64_t pos)
{
	uint64_t h = (pos + 1) * 0x9e3779b97f4a7c15u;

	return (h ^ (h >> 29)) >> (64 - CURSOR_CHECK_BITS);
}

uint64_t ss_cmd_cursor_encode(uint64_t pos)
{
	return pos == 0 ? 0 : pos << CURSOR_CHECK_BITS | cursor_check(pos);
}

int ss_cmd_cursor_decode(uint64_t c, uint64_t *pos)
{
	*pos = c >> CURSOR_CHECK_BITS;
	if (c == 0)
		return 0;
	return *pos != 0 && (c & ((1u << CURSOR_CHECK_BITS) - 1)) == cursor_check(*pos) ? 0 : -1;
}

struct listing {
	const struct ss_cmd_env *env; /* whose user's namespaces filter them */
	const struct ss_proto *proto;
	struct ss_buf *out;
	size_t rows, want;
	int rc;
};

/* Replies past this stop a call early (the cursor resumes): 10,000 rows
 * of 64 KiB values would be 640 MB in one reply. */
#define LIST_REPLY_BYTES (1024 * 1024)

static int list_one(void *arg, const struct ss_entry *e)
{
	struct listing *l = arg;

	/* The text protocol cannot show a name or value holding a space or a
	 * control byte, which only RESP can write: it lists what it can. */
	if (!l->proto->resp &&
	    (!ss_cmd_text_safe(e->name, e->nlen) || !ss_cmd_text_safe(e->value, e->vlen)))
		return 0;
	if (!ss_cmd_visible(l->env, e->name, e->nlen))
		return 0;
	if (l->rc == 0)
		l->rc = l->proto->listed(l->out, e->name, e->nlen, e->rev, e->commit_ms, e->value,
					 e->vlen);
	l->rows++;
	return l->rc < 0 || l->rows >= l->want || ss_buf_size(l->out) >= LIST_REPLY_BYTES;
}

enum ss_cmd_status ss_cmd_list(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out)
{
	uint64_t cursor, pos, count = SS_LIST_COUNT_DEFAULT;
	const struct ss_token *prefix = NULL;
	struct ss_buf rows;
	char word[33];

	if (ss_parse_u64(req->argv[1].p, req->argv[1].n, &cursor) < 0 ||
	    ss_cmd_cursor_decode(cursor, &pos) < 0)
		return ss_cmd_error(env, out, "invalid cursor: use 0 or a cursor LIST_CHECKPOINTS returned");
	for (int i = 2; i < req->argc; i += 2) {
		if (i + 1 >= req->argc)
			return ss_cmd_error(env, out, "syntax error: '%s' wants a value",
					 ss_cmd_echo(&req->argv[i], word, sizeof(word) - 1));
		if (ss_token_is(&req->argv[i], "PREFIX")) {
			const char *why = ss_cmd_check_name(env, &req->argv[i + 1]);
			if (why)
				return ss_cmd_error(env, out, "invalid prefix: %s", why);
			prefix = &req->argv[i + 1];
		} else if (ss_token_is(&req->argv[i], "COUNT")) {
			if (ss_cmd_parse_count(&req->argv[i + 1], SS_LIST_COUNT_MAX, &count) < 0)
				return ss_cmd_error(env, out, "invalid count: want 1 to %d",
						 SS_LIST_COUNT_MAX);
		} else {
			return ss_cmd_error(env, out,
					 "syntax error: unknown keyword '%s': want PREFIX or COUNT",
					 ss_cmd_echo(&req->argv[i], word, sizeof(word) - 1));
		}
	}
	if (!env->may_reply)
		return SS_CMD_WAIT;
	/* Rows go to their own buffer: the CURSOR line leads the reply but
	 * is known only once the scan has run. Each call visits at most 10
	 * home buckets per row asked for, so a sparse PREFIX may return few
	 * rows (or none) with a cursor to go on: bounded work per call is the
	 * point. */
	ss_buf_init(&rows);
	struct listing l = {.env = env, .proto = env->proto, .out = &rows, .want = count};
	uint64_t next = ss_table_scan(env->table, pos, SS_SCAN_BLOCK_LIST, 10 * count,
				      prefix ? prefix->p : NULL,
				      prefix ? prefix->n : 0, env->now_ms, list_one, &l);
	size_t before = ss_buf_size(out);
	int rc = l.rc;
	if (rc == 0)
		rc = env->proto->cursor(out, ss_cmd_cursor_encode(next));
	size_t at = ss_buf_size(out);
	if (rc == 0)
		rc = ss_buf_append(out, ss_buf_head(&rows), ss_buf_size(&rows));
	if (rc == 0)
		rc = env->proto->rows_end(out, at, l.rows, 0);
	ss_buf_free(&rows);
	if (rc < 0) {
		out->len = out->off + before;
		return SS_CMD_NOMEM;
	}
	return SS_CMD_REPLIED;
}
