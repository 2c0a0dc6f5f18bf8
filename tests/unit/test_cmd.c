/* test_cmd.c - the dispatcher: replies, staging, waiting, every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cmd.h"

struct fixture {
	struct ss_table *t;
	struct ss_batch b;
	struct ss_pending p;
	struct ss_buf out;
	uint64_t rejected;
	struct ss_cmd_env env;
	int owner, other;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	f.t = ss_table_new(4);
	assert_non_null(f.t);
	ss_batch_init(&f.b);
	ss_pending_init(&f.p, ss_table_revision(f.t));
	ss_buf_init(&f.out);
	f.env = (struct ss_cmd_env){.proto = &ss_proto_text,
				    .table = f.t,
				    .batch = &f.b,
				    .pending = &f.p,
				    .owner = &f.owner,
				    .now_ms = 1000000,
				    .may_reply = 1,
				    .rejected = &f.rejected};
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ss_table_free(f->t);
	ss_batch_free(&f->b);
	ss_pending_free(&f->p);
	ss_buf_free(&f->out);
	return 0;
}

/* Runs one request line; returns the status and leaves the reply in f->out. */
static enum ss_cmd_status run(struct fixture *f, const char *line)
{
	struct ss_request req;
	ss_request_init(&req);
	ss_buf_consume(&f->out, ss_buf_size(&f->out));
	long n = ss_text_parse(line, strlen(line), SS_LINE_MAX_DEFAULT, &req);
	assert_true(n > 0);
	enum ss_cmd_status st = ss_cmd_execute(&req, &f->env, &f->out);
	ss_request_free(&req);
	return st;
}

static void assert_reply(struct fixture *f, const char *want)
{
	size_t n = ss_buf_size(&f->out);
	if (n != strlen(want) || memcmp(ss_buf_head(&f->out), want, n) != 0)
		fail_msg("reply\n%.*s\nwant\n%s", (int)n, ss_buf_head(&f->out), want);
}

/* Applies batch b to the table as ss_store_apply does (names and values
 * here need no escaping). */
static void apply(struct fixture *f, struct ss_batch *b)
{
	for (size_t i = 0; i < b->nops; i++) {
		struct ss_op *op = &b->ops[i];
		const char *name = b->buf + op->name_off, *value = b->buf + op->value_off;
		if (op->type == SS_OP_REPLY)
			continue;
		assert_int_equal(op->esc, 0);
		ss_table_note_revision(f->t, op->rev);
		if (op->type == SS_REC_DEL) {
			op->result = ss_table_del(f->t, name, op->nlen, f->env.now_ms);
		} else if (op->expire_ms && op->expire_ms <= f->env.now_ms) {
			(void)ss_table_del(f->t, name, op->nlen, f->env.now_ms);
		} else {
			assert_int_equal(ss_table_set(f->t, name, op->nlen, value, op->vlen,
						      op->expire_ms, op->rev, op->commit_ms,
						      f->env.now_ms),
					 0);
			op->result = 0;
		}
	}
}

/* What the server does once batch b is durable: apply it, answer every op
 * that owes a reply (into f->out, replacing what it held), end it for the
 * staged state, and empty it. */
static void commit_batch(struct fixture *f, struct ss_batch *b)
{
	ss_buf_consume(&f->out, ss_buf_size(&f->out));
	apply(f, b);
	for (size_t i = 0; i < b->nops; i++)
		if (b->ops[i].reply)
			assert_int_equal(ss_cmd_reply_op(&ss_proto_text, b, &b->ops[i], &f->out), 0);
	ss_pending_done(&f->p, b, 1);
	ss_batch_reset(b);
}

static void commit(struct fixture *f)
{
	commit_batch(f, &f->b);
}

/* Puts name in the table as if committed: the next revision. Only while
 * nothing is staged, so the revision counter follows. */
static void seed(struct fixture *f, const char *name, const char *value, int64_t expire_ms)
{
	assert_int_equal(f->p.count, 0);
	uint64_t rev = ss_table_revision(f->t) + 1;
	assert_int_equal(ss_table_set(f->t, name, strlen(name), value, strlen(value), expire_ms,
				      rev, f->env.now_ms, f->env.now_ms),
			 0);
	ss_pending_init(&f->p, ss_table_revision(f->t));
}

static void test_set_is_staged_not_visible(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "SET_CHECKPOINT orders 1000\n"), SS_CMD_STAGED);
	assert_int_equal(ss_buf_size(&f->out), 0);
	assert_int_equal(f->b.nops, 1);
	assert_ptr_equal(f->b.ops[0].owner, &f->owner);
	/* Not in the table until the server applies the batch. */
	assert_int_equal(run(f, "GET_CHECKPOINT orders\n"), SS_CMD_REPLIED);
	assert_reply(f, "NULL\n");
}

static void test_a_set_ttl_is_stored_as_an_absolute_time(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "SET_CHECKPOINT p v 30\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.ops[0].expire_ms, 1000000 + 30000);
	assert_int_equal(run(f, "SET_CHECKPOINT p v\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.ops[1].expire_ms, 0);
}

static void test_get_ttl_and_del_reply_from_the_table(void **state)
{
	struct fixture *f = *state;
	seed(f, "a", "0/16B3748", 0);
	seed(f, "b", "7", 1000000 + 1500);
	run(f, "GET_CHECKPOINT a\n");
	assert_reply(f, "0/16B3748\n");
	run(f, "TTL_CHECKPOINT a\n");
	assert_reply(f, "-1\n");
	run(f, "TTL_CHECKPOINT b\n");
	assert_reply(f, "2\n"); /* 1.5 s left, rounded up */
	run(f, "TTL_CHECKPOINT nope\n");
	assert_reply(f, "-2\n");
	assert_int_equal(run(f, "DEL_CHECKPOINT a\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.ops[0].type, SS_REC_DEL);
}

static void test_commands_without_arguments_answer_in_any_case(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "ping\n"), SS_CMD_REPLIED);
	assert_reply(f, "PONG\n");
	assert_int_equal(run(f, "QUIT\n"), SS_CMD_QUIT);
	assert_reply(f, "OK\n");
	assert_int_equal(run(f, "Compact\n"), SS_CMD_COMPACT);
	assert_int_equal(run(f, "STATS\n"), SS_CMD_REPLIED);
	assert_reply(f, "END\n");
}

static void test_errors_change_nothing(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *line, *reply;
	} cases[] = {
		{"FOO bar\n", "ERR unknown command 'FOO'\n"},
		{"SET_CHECKPOINT a\n", "ERR wrong number of arguments for 'SET_CHECKPOINT'\n"},
		{"SET_CHECKPOINT a b 1 2\n", "ERR wrong number of arguments for 'SET_CHECKPOINT'\n"},
		{"GET_CHECKPOINT\n", "ERR wrong number of arguments for 'GET_CHECKPOINT'\n"},
		{"DEL_CHECKPOINT a 1 2\n", "ERR wrong number of arguments for 'DEL_CHECKPOINT'\n"},
		{"DEL_CHECKPOINT a b\n", "ERR invalid revision: want a decimal from 0 to 2^64-1\n"},
		{"TTL_CHECKPOINT\n", "ERR wrong number of arguments for 'TTL_CHECKPOINT'\n"},
		{"PING x\n", "ERR wrong number of arguments for 'PING'\n"},
		{"SET_CHECKPOINT a b 0\n", "ERR invalid ttl\n"},
		{"SET_CHECKPOINT a b -1\n", "ERR invalid ttl\n"},
		{"SET_CHECKPOINT a b 1.5\n", "ERR invalid ttl\n"},
		{"SET_CHECKPOINT a b x\n", "ERR invalid ttl\n"},
		{"SET_CHECKPOINT a b 315360001\n", "ERR invalid ttl\n"},
		{"SET_CHECKPOINT a b 99999999999999999999\n", "ERR invalid ttl\n"},
		{"SET_CHECKPOINT a\x7f b\n", "ERR invalid name\n"},
		{"SET_CHECKPOINT a b\x01\n", "ERR invalid value\n"},
		{"GET_CHECKPOINT \xc3\xa9\n", "ERR invalid name\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(run(f, cases[i].line), SS_CMD_REPLIED);
		assert_reply(f, cases[i].reply);
	}
	assert_int_equal(f->b.nops, 0);
	assert_int_equal(f->b.len, 0);
	assert_int_equal(f->rejected, sizeof(cases) / sizeof(cases[0]));
}

static void test_a_ttl_at_the_upper_bound_expires_ten_years_on(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "SET_CHECKPOINT a b 315360000\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.nops, 1);
	assert_int_equal(f->b.ops[0].expire_ms, f->env.now_ms + SS_TTL_MAX_S * 1000);
	/* And one more second is refused, staging nothing. */
	assert_int_equal(run(f, "SET_CHECKPOINT a b 315360001\n"), SS_CMD_REPLIED);
	assert_reply(f, "ERR invalid ttl\n");
	assert_int_equal(f->b.nops, 1);
}

static void test_a_ttl_with_leading_zeros_is_its_number(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "SET_CHECKPOINT a b 0000000000001\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "SET_CHECKPOINT c d 000000000000000000000000000315360000\n"),
			 SS_CMD_STAGED);
	assert_int_equal(f->b.nops, 2);
	assert_int_equal(f->b.ops[0].expire_ms, f->env.now_ms + 1000);
	assert_int_equal(f->b.ops[1].expire_ms, f->env.now_ms + 315360000LL * 1000);
}

static void test_the_value_NULL_is_refused_and_never_reads_as_missing(void **state)
{
	struct fixture *f = *state;
	/* A NULL stored by an older version reads as an error, not as missing. */
	seed(f, "old", "NULL", 0);
	assert_int_equal(run(f, "GET_CHECKPOINT old\n"), SS_CMD_REPLIED);
	assert_reply(f, "ERR the stored value is 'NULL', which reads as missing; set it again\n");
	assert_int_equal(run(f, "SET_CHECKPOINT p NULL\n"), SS_CMD_REPLIED);
	assert_reply(f, "ERR reserved value 'NULL': GET_CHECKPOINT answers NULL for a missing "
			"checkpoint\n");
	assert_int_equal(f->b.nops, 0);
	/* Other spellings are ordinary values. */
	assert_int_equal(run(f, "SET_CHECKPOINT p null\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "SET_CHECKPOINT p NULLS\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "SET_CHECKPOINT p ERR\n"), SS_CMD_STAGED);
}

static void test_past_the_quota_sets_are_refused_and_dels_staged(void **state)
{
	struct fixture *f = *state;
	f->env.quota_exceeded = 1;
	assert_int_equal(run(f, "SET_CHECKPOINT p v\n"), SS_CMD_REPLIED);
	assert_reply(f, "ERR quota exceeded: the log has passed --quota-bytes; delete checkpoints "
			"and COMPACT to make room\n");
	assert_int_equal(f->b.nops, 0);
	assert_int_equal(run(f, "DEL_CHECKPOINT p\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "GET_CHECKPOINT p\n"), SS_CMD_REPLIED);
	assert_reply(f, "NULL\n");
	assert_int_equal(run(f, "COMPACT\n"), SS_CMD_COMPACT);
	f->env.quota_exceeded = 0;
	assert_int_equal(run(f, "SET_CHECKPOINT p v\n"), SS_CMD_STAGED);
}

static void test_name_and_value_limits(void **state)
{
	struct fixture *f = *state;
	static char line[SS_VALUE_MAX + SS_NAME_MAX + 64];

	for (int extra = 0; extra <= 1; extra++) {
		int n = snprintf(line, sizeof(line), "SET_CHECKPOINT ");
		memset(line + n, 'n', SS_NAME_MAX + extra);
		n += SS_NAME_MAX + extra;
		n += snprintf(line + n, sizeof(line) - (size_t)n, " v\n");
		assert_int_equal(run(f, line), extra ? SS_CMD_REPLIED : SS_CMD_STAGED);
		if (extra)
			assert_reply(f, "ERR name too long\n");
	}
	for (int extra = 0; extra <= 1; extra++) {
		int n = snprintf(line, sizeof(line), "SET_CHECKPOINT k ");
		memset(line + n, '9', SS_VALUE_MAX + extra);
		n += SS_VALUE_MAX + extra;
		line[n++] = '\n';
		line[n] = '\0';
		assert_int_equal(run(f, line), extra ? SS_CMD_REPLIED : SS_CMD_STAGED);
		if (extra)
			assert_reply(f, "ERR value too long\n");
	}
}

/* Builds "<cmd>" and n tokens "x" and a newline (malloc'd). */
static char *line_of_tokens(const char *cmd, size_t n)
{
	size_t len = strlen(cmd);
	char *line = malloc(len + 2 * n + 2);
	assert_non_null(line);
	memcpy(line, cmd, len);
	for (size_t i = 0; i < n; i++)
		memcpy(line + len + 2 * i, " x", 2);
	memcpy(line + len + 2 * n, "\n", 2);
	return line;
}

static void test_too_many_arguments_are_refused(void **state)
{
	struct fixture *f = *state;
	/* The name and SS_ARGS_MAX arguments: one token past the limit. */
	char *line = line_of_tokens("MSET_CHECKPOINT", SS_ARGS_MAX);
	assert_int_equal(run(f, line), SS_CMD_REPLIED);
	assert_reply(f, "ERR too many arguments\n");
	free(line);
	line = line_of_tokens("SET_CHECKPOINT", SS_ARGS_MAX);
	assert_int_equal(run(f, line), SS_CMD_REPLIED);
	assert_reply(f, "ERR too many arguments\n");
	free(line);
	/* Exactly SS_ARGS_MAX tokens reach the handler: an odd count for
	 * MSET (SS_ARGS_MAX - 1 arguments is even: x x ... pairs, but every
	 * name is "x", so it is the duplicate that is refused). */
	line = line_of_tokens("MSET_CHECKPOINT", SS_ARGS_MAX - 1);
	assert_int_equal(run(f, line), SS_CMD_REPLIED);
	assert_reply(f, "ERR the same pipeline twice in one multi-commit\n");
	free(line);
	assert_int_equal(f->b.nops, 0);
}

/* With replies owed, anything that answers at once must wait; valid writes
 * still stage (their replies follow the owed ones in batch order). */
static void test_only_writes_run_while_replies_are_owed(void **state)
{
	struct fixture *f = *state;
	f->env.may_reply = 0;
	const char *waiting[] = {"GET_CHECKPOINT a\n", "PING\n", "STATS\n", "QUIT\n",
				 "COMPACT\n", "FOO\n", "SET_CHECKPOINT a\n", "SET_CHECKPOINT a b 0\n",
				 "TTL_CHECKPOINT a\n"};
	for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++) {
		assert_int_equal(run(f, waiting[i]), SS_CMD_WAIT);
		assert_int_equal(ss_buf_size(&f->out), 0);
	}
	assert_int_equal(f->rejected, 0);
	assert_int_equal(run(f, "SET_CHECKPOINT a b\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "DEL_CHECKPOINT a\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.nops, 2);
}

static void test_committed_ops_and_failures_reply_through_the_protocol(void **state)
{
	(void)state;
	struct ss_buf out;
	struct ss_batch b;
	ss_buf_init(&out);
	ss_batch_init(&b);
	assert_int_equal(ss_batch_add_reply(&b, NULL, SS_REPLY_CONFLICT_AT, 12, "orders/p3", 9), 0);
	struct ss_op set = {.type = SS_REC_SET, .reply = SS_REPLY_OK},
		     del1 = {.type = SS_REC_DEL, .reply = SS_REPLY_DELETED, .rev = 4},
		     del0 = {.type = SS_OP_REPLY, .reply = SS_REPLY_INT, .rev = 0},
		     cas = {.type = SS_REC_SET, .reply = SS_REPLY_OK_REV, .rev = 8},
		     conflict = {.type = SS_OP_REPLY, .reply = SS_REPLY_CONFLICT, .rev = 8},
		     norev = {.type = SS_OP_REPLY, .reply = SS_REPLY_NO_REV, .rev = 3};
	const struct ss_proto *p = &ss_proto_text;
	assert_int_equal(ss_cmd_reply_op(p, &b, &set, &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &b, &del1, &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &b, &del0, &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &b, &cas, &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &b, &conflict, &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &b, &b.ops[0], &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &b, &norev, &out), 0);
	assert_int_equal(ss_cmd_reply_write_failed(p, 28 /* ENOSPC */, &out), 0);
	assert_int_equal(ss_cmd_reply_compact(p, NULL, &out), 0);
	assert_int_equal(ss_cmd_reply_compact(p, "disk on fire", &out), 0);
	const char *want = "OK\n1\n0\nOK 8\nCONFLICT 8\nCONFLICT orders/p3 12\n"
			   "ERR no revision 3 in history\n"
			   "ERR log write failed: No space left on device\nOK\n"
			   "ERR compaction failed: disk on fire\n";
	assert_int_equal(ss_buf_size(&out), strlen(want));
	assert_memory_equal(ss_buf_head(&out), want, strlen(want));
	ss_buf_free(&out);
	ss_batch_free(&b);
}

/* ---- revisions and conditions ---------------------------------------- */

/* Commits SETs of name until it is at revision rev. */
static void set_until(struct fixture *f, const char *name, uint64_t rev)
{
	char line[128];
	while (ss_table_revision(f->t) < rev) {
		snprintf(line, sizeof(line), "SET_CHECKPOINT %s v%llu\n", name,
			 (unsigned long long)ss_table_revision(f->t) + 1);
		assert_int_equal(run(f, line), SS_CMD_STAGED);
		commit(f);
	}
}

static void test_two_cas_from_one_revision_in_one_batch_one_wins(void **state)
{
	struct fixture *f = *state;
	set_until(f, "p", 7);
	assert_int_equal(run(f, "CAS_CHECKPOINT p 7 a\n"), SS_CMD_STAGED);
	f->env.owner = &f->other; /* another connection, same batch */
	assert_int_equal(run(f, "CAS_CHECKPOINT p 7 b\n"), SS_CMD_STAGED);
	assert_int_equal(ss_buf_size(&f->out), 0);
	assert_int_equal(f->b.nops, 2);
	assert_ptr_equal(f->b.ops[0].owner, &f->owner);
	assert_ptr_equal(f->b.ops[1].owner, &f->other);
	assert_int_equal(f->b.ops[1].type, SS_OP_REPLY); /* the loser writes nothing */
	assert_int_equal(f->b.nrecs, 1);
	commit(f);
	assert_reply(f, "OK 8\nCONFLICT 8\n");
	assert_int_equal(run(f, "GETREV_CHECKPOINT p\n"), SS_CMD_REPLIED);
	assert_reply(f, "8 a\n");
	assert_int_equal(ss_table_revision(f->t), 8);
}

/* The batch whose fdatasync runs on the syncer is not in the table yet;
 * a CAS staged into the next batch must see it all the same. */
static void test_a_cas_sees_a_set_in_the_batch_in_flight(void **state)
{
	struct fixture *f = *state;
	struct ss_batch next;
	set_until(f, "p", 3);
	assert_int_equal(run(f, "SET_CHECKPOINT p mine\n"), SS_CMD_STAGED); /* rev 4 */
	ss_batch_init(&next);
	f->env.batch = &next; /* f->b is in flight */
	assert_int_equal(run(f, "GETREV_CHECKPOINT p\n"), SS_CMD_REPLIED);
	assert_reply(f, "3 v3\n"); /* reads see durable state only */
	assert_int_equal(run(f, "CAS_CHECKPOINT p 3 stale\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "CAS_CHECKPOINT p 4 fresh\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "CAS_CHECKPOINT p 5 fresher\n"), SS_CMD_STAGED);
	assert_int_equal(ss_buf_size(&f->out), 0);
	commit_batch(f, &f->b);
	assert_reply(f, "OK\n");
	commit_batch(f, &next);
	assert_reply(f, "CONFLICT 4\nOK 5\nOK 6\n");
	f->env.batch = &f->b;
	assert_int_equal(run(f, "GETREV_CHECKPOINT p\n"), SS_CMD_REPLIED);
	assert_reply(f, "6 fresher\n");
	ss_batch_free(&next);
}

static void test_a_del_with_an_expected_revision_sees_staged_state(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "SET_CHECKPOINT p v\n"), SS_CMD_STAGED);  /* rev 1 */
	assert_int_equal(run(f, "DEL_CHECKPOINT p 0\n"), SS_CMD_STAGED);  /* CONFLICT 1 */
	assert_int_equal(run(f, "DEL_CHECKPOINT p 1\n"), SS_CMD_STAGED);  /* 1, rev 2 */
	assert_int_equal(run(f, "DEL_CHECKPOINT p 1\n"), SS_CMD_STAGED);  /* CONFLICT 0 */
	assert_int_equal(run(f, "DEL_CHECKPOINT p\n"), SS_CMD_STAGED);    /* 0, no rev */
	assert_int_equal(run(f, "CAS_CHECKPOINT p 0 w\n"), SS_CMD_STAGED); /* OK 3 */
	assert_int_equal(ss_buf_size(&f->out), 0);
	assert_int_equal(f->b.nrecs, 3);
	commit(f);
	assert_reply(f, "OK\nCONFLICT 1\n1\nCONFLICT 0\n0\nOK 3\n");
	assert_int_equal(ss_table_revision(f->t), 3);
}

static void test_a_del_of_a_missing_name_takes_no_revision(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "DEL_CHECKPOINT nope\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.nrecs, 0);
	assert_int_equal(run(f, "SET_CHECKPOINT p v\n"), SS_CMD_STAGED);
	commit(f);
	assert_reply(f, "0\nOK\n");
	assert_int_equal(run(f, "GETREV_CHECKPOINT p\n"), SS_CMD_REPLIED);
	assert_reply(f, "1 v\n");
}

static void test_mcas_reports_the_first_conflict_in_argument_order_and_stages_nothing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "MSET_CHECKPOINT a 1 b 2 c 3\n"), SS_CMD_STAGED); /* rev 1 */
	commit(f);
	assert_reply(f, "OK 1\n");
	assert_int_equal(run(f, "SET_CHECKPOINT c 4\n"), SS_CMD_STAGED); /* rev 2, staged */
	/* b and c both differ: b is named, being first in argument order. */
	assert_int_equal(run(f, "MCAS_CHECKPOINT a 1 x b 9 y c 1 z\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "MCAS_CHECKPOINT a 1 x c 1 z b 1 y\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.nrecs, 1); /* the SET only */
	assert_int_equal(ss_pending_next(&f->p), 3);
	assert_int_equal(run(f, "MCAS_CHECKPOINT c 2 z a 1 x\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.nrecs, 3);
	assert_int_equal(f->b.ops[3].rev, 3);
	assert_int_equal(f->b.ops[4].rev, 3);
	assert_int_equal(f->b.ops[3].reply, 0);
	assert_int_equal(f->b.ops[4].reply, SS_REPLY_OK_REV);
	commit(f);
	assert_reply(f, "OK\nCONFLICT b 1\nCONFLICT c 2\nOK 3\n");
	assert_int_equal(run(f, "GETREV_CHECKPOINT b\n"), SS_CMD_REPLIED);
	assert_reply(f, "1 2\n");
	assert_int_equal(run(f, "GETREV_CHECKPOINT a\n"), SS_CMD_REPLIED);
	assert_reply(f, "3 x\n");
}

/* Every decision of a conditional command waits for the batch: it comes
 * only through ss_cmd_reply_op, never at once, even with nothing owed. */
static void test_conditional_replies_are_reply_ops_answered_after_the_batch(void **state)
{
	struct fixture *f = *state;
	static const char *lines[] = {
		"CAS_CHECKPOINT p 5 v\n",        "DEL_CHECKPOINT p 5\n",
		"DEL_CHECKPOINT p\n",            "ROLLBACK_CHECKPOINT p 1\n",
		"ROLLBACK_CHECKPOINT p 1 3\n",   "MCAS_CHECKPOINT p 2 v q 0 w\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(run(f, lines[i]), SS_CMD_STAGED);
		assert_int_equal(ss_buf_size(&f->out), 0);
		assert_int_equal(f->b.ops[i].type, SS_OP_REPLY);
	}
	assert_int_equal(f->b.nrecs, 0);
	assert_int_equal(f->rejected, 0);
	commit(f);
	assert_reply(f, "CONFLICT 0\nCONFLICT 0\n0\nERR no revision 1 in history\n"
			"CONFLICT 0\nCONFLICT p 0\n");
	assert_int_equal(ss_table_revision(f->t), 0);
}

static void test_a_multi_commit_takes_one_revision_and_replies_once(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(run(f, "SET_CHECKPOINT a old 30\n"), SS_CMD_STAGED); /* rev 1 */
	assert_int_equal(run(f, "MSET_CHECKPOINT a 1 b 2 c 3\n"), SS_CMD_STAGED);
	assert_int_equal(f->b.nops, 4);
	for (size_t i = 1; i < 4; i++) {
		assert_int_equal(f->b.ops[i].rev, 2);
		assert_int_equal(f->b.ops[i].expire_ms, 0);
		assert_int_equal(f->b.ops[i].reply, i == 3 ? SS_REPLY_OK_REV : 0);
	}
	commit(f);
	assert_reply(f, "OK\nOK 2\n");
	assert_int_equal(ss_table_revision(f->t), 2);
	run(f, "GETREV_CHECKPOINT c\n");
	assert_reply(f, "2 3\n");
	/* A multi-commit carries no TTL and clears the one a name had. */
	run(f, "TTL_CHECKPOINT a\n");
	assert_reply(f, "-1\n");
	run(f, "HISTORY_CHECKPOINT a\n");
	assert_reply(f, "2 1000000 1\n1 1000000 old\nEND\n");
}

static void test_bad_multi_commits_are_refused_and_stage_nothing(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *line, *reply;
	} cases[] = {
		{"MSET_CHECKPOINT a 1 b\n",
		 "ERR wrong number of arguments for 'MSET_CHECKPOINT': want pairs of <name> <value>\n"},
		{"MSET_CHECKPOINT a\n", "ERR wrong number of arguments for 'MSET_CHECKPOINT'\n"},
		{"MSET_CHECKPOINT a 1 b 2 a 3\n", "ERR the same pipeline twice in one multi-commit\n"},
		{"MSET_CHECKPOINT a 1 b NULL\n",
		 "ERR reserved value 'NULL': GET_CHECKPOINT answers NULL for a missing checkpoint\n"},
		{"MSET_CHECKPOINT a 1 b\x01 2\n", "ERR invalid name\n"},
		{"MCAS_CHECKPOINT a 0\n", "ERR wrong number of arguments for 'MCAS_CHECKPOINT'\n"},
		{"MCAS_CHECKPOINT a 0 x b 0\n",
		 "ERR wrong number of arguments for 'MCAS_CHECKPOINT': want triples of <name> "
		 "<expected_rev> <value>\n"},
		{"MCAS_CHECKPOINT a 0 x b -1 y\n",
		 "ERR invalid revision: want a decimal from 0 to 2^64-1\n"},
		{"MCAS_CHECKPOINT a 0 x a 0 y\n", "ERR the same pipeline twice in one multi-commit\n"},
		{"MCAS_CHECKPOINT a 0 NULL\n",
		 "ERR reserved value 'NULL': GET_CHECKPOINT answers NULL for a missing checkpoint\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(run(f, cases[i].line), SS_CMD_REPLIED);
		assert_reply(f, cases[i].reply);
	}
	assert_int_equal(f->b.nops, 0);
	assert_int_equal(f->p.count, 0);
	assert_int_equal(ss_pending_next(&f->p), 1);
	assert_int_equal(f->rejected, sizeof(cases) / sizeof(cases[0]));
}

static void test_bad_revisions_counts_keywords_and_cursors_are_refused(void **state)
{
	struct fixture *f = *state;
	const char *rev = "ERR invalid revision: want a decimal from 0 to 2^64-1\n";
	const char *list_count = "ERR invalid count: want 1 to 10000\n";
	const char *cursor = "ERR invalid cursor: use 0 or a cursor LIST_CHECKPOINTS returned\n";
	static const char *hist_count = "ERR invalid count: want 1 to 1001\n";
	const struct {
		const char *line, *reply;
	} cases[] = {
		{"CAS_CHECKPOINT p -1 v\n", rev},
		{"CAS_CHECKPOINT p 18446744073709551616 v\n", rev},
		{"CAS_CHECKPOINT p x v\n", rev},
		{"CAS_CHECKPOINT p 1.0 v\n", rev},
		{"CAS_CHECKPOINT p 1 v 0\n", "ERR invalid ttl\n"},
		{"DEL_CHECKPOINT p -1\n", rev},
		{"DEL_CHECKPOINT p 18446744073709551616\n", rev},
		{"ROLLBACK_CHECKPOINT p x\n", rev},
		{"ROLLBACK_CHECKPOINT p 1 -1\n", rev},
		{"ROLLBACK_CHECKPOINT p 99999999999999999999 1\n", rev},
		{"LIST_CHECKPOINTS 0 COUNT 0\n", list_count},
		{"LIST_CHECKPOINTS 0 COUNT 10001\n", list_count},
		{"LIST_CHECKPOINTS 0 COUNT -5\n", list_count},
		{"LIST_CHECKPOINTS 0 LIMIT 5\n",
		 "ERR syntax error: unknown keyword 'LIMIT': want PREFIX or COUNT\n"},
		{"LIST_CHECKPOINTS 0 PREFIX\n", "ERR syntax error: 'PREFIX' wants a value\n"},
		/* A keyword is echoed printable only: no control byte reaches a reply. */
		{"LIST_CHECKPOINTS 0 CO\xff\rUNT 5\n",
		 "ERR syntax error: unknown keyword 'CO??UNT': want PREFIX or COUNT\n"},
		{"LIST_CHECKPOINTS 0 COUNT 5 \x01\n", "ERR syntax error: '?' wants a value\n"},
		{"LIST_CHECKPOINTS 0 PREFIX a COUNT\n", "ERR syntax error: 'COUNT' wants a value\n"},
		{"LIST_CHECKPOINTS 12345\n", cursor},
		{"LIST_CHECKPOINTS 1\n", cursor},
		{"LIST_CHECKPOINTS x\n", cursor},
		{"LIST_CHECKPOINTS -1\n", cursor},
		{"LIST_CHECKPOINTS 0 PREFIX a COUNT 5 COUNT 6\n",
		 "ERR wrong number of arguments for 'LIST_CHECKPOINTS'\n"},
		{"HISTORY_CHECKPOINT p 0\n", hist_count},
		{"HISTORY_CHECKPOINT p 1002\n", hist_count},
		{"HISTORY_CHECKPOINT p x\n", hist_count},
		{"GETREV_CHECKPOINT\n", "ERR wrong number of arguments for 'GETREV_CHECKPOINT'\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(run(f, cases[i].line), SS_CMD_REPLIED);
		assert_reply(f, cases[i].reply);
	}
	assert_int_equal(f->b.nops, 0);
	assert_int_equal(f->rejected, sizeof(cases) / sizeof(cases[0]));
	/* The largest u64 is a revision: nothing holds it, so a conflict. */
	assert_int_equal(run(f, "CAS_CHECKPOINT p 18446744073709551615 v\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "CAS_CHECKPOINT p 00000 v\n"), SS_CMD_STAGED);
	commit(f);
	assert_reply(f, "CONFLICT 0\nOK 1\n");
}

/* GETREV, HISTORY, ROLLBACK and LIST in the text protocol, byte for byte. */
static void test_revision_commands_reply_in_text_byte_for_byte(void **state)
{
	struct fixture *f = *state;
	run(f, "GETREV_CHECKPOINT orders/p0\n");
	assert_reply(f, "NULL\n");
	run(f, "HISTORY_CHECKPOINT orders/p0\n");
	assert_reply(f, "END\n");
	for (int i = 1; i <= 3; i++) {
		char line[64];
		snprintf(line, sizeof(line), "SET_CHECKPOINT orders/p0 %d00\n", i);
		assert_int_equal(run(f, line), SS_CMD_STAGED);
		commit(f);
		f->env.now_ms += 1000;
	}
	assert_int_equal(run(f, "SET_CHECKPOINT users offset=42 60\n"), SS_CMD_STAGED); /* 4 */
	commit(f);
	run(f, "GETREV_CHECKPOINT orders/p0\n");
	assert_reply(f, "3 300\n");
	run(f, "HISTORY_CHECKPOINT orders/p0\n");
	assert_reply(f, "3 1002000 300\n2 1001000 200\n1 1000000 100\nEND\n");
	run(f, "HISTORY_CHECKPOINT orders/p0 2\n");
	assert_reply(f, "3 1002000 300\n2 1001000 200\nEND\n");
	assert_int_equal(run(f, "ROLLBACK_CHECKPOINT orders/p0 1\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "ROLLBACK_CHECKPOINT orders/p0 2 3\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "ROLLBACK_CHECKPOINT orders/p0 2 5\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "ROLLBACK_CHECKPOINT orders/p0 99\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "ROLLBACK_CHECKPOINT users 4\n"), SS_CMD_STAGED);
	assert_int_equal(ss_buf_size(&f->out), 0);
	commit(f);
	assert_reply(f, "OK 5\nCONFLICT 5\nOK 6\nERR no revision 99 in history\nOK 7\n");
	run(f, "HISTORY_CHECKPOINT orders/p0 1001\n");
	assert_reply(f, "6 1003000 200\n5 1003000 100\n3 1002000 300\n2 1001000 200\n"
			"1 1000000 100\nEND\n");
	/* A rollback keeps the TTL the checkpoint has. */
	run(f, "TTL_CHECKPOINT users\n");
	assert_reply(f, "60\n");
	run(f, "LIST_CHECKPOINTS 0 PREFIX users\n");
	assert_reply(f, "CURSOR 0\nusers 7 1003000 offset=42\nEND\n");
	run(f, "LIST_CHECKPOINTS 0 PREFIX orders/ COUNT 10\n");
	assert_reply(f, "CURSOR 0\norders/p0 6 1003000 200\nEND\n");
	run(f, "LIST_CHECKPOINTS 0 PREFIX nothing\n");
	assert_reply(f, "CURSOR 0\nEND\n");
	run(f, "list_checkpoints 0 count 10 prefix orders\n");
	assert_reply(f, "CURSOR 0\norders/p0 6 1003000 200\nEND\n");
}

/* A whole listing, COUNT 1 at a time, follows the cursors to 0 and sees
 * every pipeline. */
static void test_a_listing_follows_its_cursors_to_every_pipeline(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	char line[64];
	int seen[N] = {0};
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "SET_CHECKPOINT p%03d %d\n", i, i);
		assert_int_equal(run(f, line), SS_CMD_STAGED);
	}
	commit(f);
	unsigned long long cursor = 0;
	int calls = 0, max_rows = 0;
	do {
		snprintf(line, sizeof(line), "LIST_CHECKPOINTS %llu COUNT 7\n", cursor);
		assert_int_equal(run(f, line), SS_CMD_REPLIED);
		const char *p = ss_buf_head(&f->out), *end = p + ss_buf_size(&f->out);
		assert_int_equal(sscanf(p, "CURSOR %llu\n", &cursor), 1);
		p = memchr(p, '\n', (size_t)(end - p)) + 1;
		int rows = 0;
		while (p < end && strncmp(p, "END\n", 4) != 0) {
			int k, v;
			unsigned long long rev;
			long long ms;
			assert_int_equal(sscanf(p, "p%d %llu %lld %d", &k, &rev, &ms, &v), 4);
			assert_int_equal(k, v);
			assert_int_equal(rev, k + 1); /* one revision per SET, in order */
			assert_int_equal(ms, 1000000);
			seen[k] = 1;
			rows++;
			p = memchr(p, '\n', (size_t)(end - p)) + 1;
		}
		/* COUNT is a bound on work, as in Redis's SCAN: the call ends
		 * the block of home buckets it is in, whose entries are about
		 * half as many as its buckets, so a few rows more may come. */
		assert_true(rows <= 7 + 2 * SS_SCAN_BLOCK_LIST);
		max_rows = rows > max_rows ? rows : max_rows;
		assert_true(end - p == 4 && memcmp(p, "END\n", 4) == 0);
		assert_true(++calls < 100000);
	} while (cursor != 0);
	for (int i = 0; i < N; i++)
		assert_true(seen[i]);
	print_message("%d calls, at most %d rows in one\n", calls, max_rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_is_staged_not_visible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_set_ttl_is_stored_as_an_absolute_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_ttl_and_del_reply_from_the_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_without_arguments_answer_in_any_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_ttl_at_the_upper_bound_expires_ten_years_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_ttl_with_leading_zeros_is_its_number, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_value_NULL_is_refused_and_never_reads_as_missing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_past_the_quota_sets_are_refused_and_dels_staged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_and_value_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_arguments_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_writes_run_while_replies_are_owed, setup, teardown),
		cmocka_unit_test(test_committed_ops_and_failures_reply_through_the_protocol),
		cmocka_unit_test_setup_teardown(test_two_cas_from_one_revision_in_one_batch_one_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_cas_sees_a_set_in_the_batch_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_del_with_an_expected_revision_sees_staged_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_del_of_a_missing_name_takes_no_revision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mcas_reports_the_first_conflict_in_argument_order_and_stages_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conditional_replies_are_reply_ops_answered_after_the_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_multi_commit_takes_one_revision_and_replies_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_multi_commits_are_refused_and_stage_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_revisions_counts_keywords_and_cursors_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revision_commands_reply_in_text_byte_for_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_listing_follows_its_cursors_to_every_pipeline, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
