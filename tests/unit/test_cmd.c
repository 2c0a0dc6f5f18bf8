/* test_cmd.c - the dispatcher: replies, staging, waiting, every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cmd.h"

struct fixture {
	struct ss_table *t;
	struct ss_batch b;
	struct ss_buf out;
	uint64_t rejected;
	struct ss_cmd_env env;
	int owner;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	f.t = ss_table_new();
	assert_non_null(f.t);
	ss_batch_init(&f.b);
	ss_buf_init(&f.out);
	f.env = (struct ss_cmd_env){.proto = &ss_proto_text,
				    .table = f.t,
				    .batch = &f.b,
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
	ss_buf_free(&f->out);
	return 0;
}

/* Runs one request line; returns the status and leaves the reply in f->out. */
static enum ss_cmd_status run(struct fixture *f, const char *line)
{
	struct ss_request req;
	ss_buf_consume(&f->out, ss_buf_size(&f->out));
	long n = ss_text_parse(line, strlen(line), 1 << 20, &req);
	assert_true(n > 0);
	return ss_cmd_execute(&req, &f->env, &f->out);
}

static void assert_reply(struct fixture *f, const char *want)
{
	assert_int_equal(ss_buf_size(&f->out), strlen(want));
	assert_memory_equal(ss_buf_head(&f->out), want, strlen(want));
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
	assert_int_equal(ss_table_set(f->t, "a", 1, "0/16B3748", 9, 0), 0);
	assert_int_equal(ss_table_set(f->t, "b", 1, "7", 1, 1000000 + 1500), 0);
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
		{"DEL_CHECKPOINT a b\n", "ERR wrong number of arguments for 'DEL_CHECKPOINT'\n"},
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
	assert_int_equal(run(f, "SET_CHECKPOINT p NULL\n"), SS_CMD_REPLIED);
	assert_reply(f, "ERR reserved value 'NULL': GET_CHECKPOINT answers NULL for a missing "
			"checkpoint\n");
	assert_int_equal(f->b.nops, 0);
	/* Other spellings are ordinary values. */
	assert_int_equal(run(f, "SET_CHECKPOINT p null\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "SET_CHECKPOINT p NULLS\n"), SS_CMD_STAGED);
	assert_int_equal(run(f, "SET_CHECKPOINT p ERR\n"), SS_CMD_STAGED);
	/* A NULL stored by an older version reads as an error, not as missing. */
	assert_int_equal(ss_table_set(f->t, "old", 3, "NULL", 4, 0), 0);
	assert_int_equal(run(f, "GET_CHECKPOINT old\n"), SS_CMD_REPLIED);
	assert_reply(f, "ERR the stored value is 'NULL', which reads as missing; set it again\n");
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

static void test_too_many_arguments_are_refused(void **state)
{
	struct fixture *f = *state;
	char line[1024];
	int n = snprintf(line, sizeof(line), "SET_CHECKPOINT");
	for (int i = 0; i < SS_ARGS_MAX + 1; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " x");
	snprintf(line + n, sizeof(line) - (size_t)n, "\n");
	assert_int_equal(run(f, line), SS_CMD_REPLIED);
	assert_reply(f, "ERR too many arguments\n");
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
	ss_buf_init(&out);
	struct ss_op set = {.type = SS_REC_SET}, del1 = {.type = SS_REC_DEL, .result = 1},
		     del0 = {.type = SS_REC_DEL, .result = 0};
	const struct ss_proto *p = &ss_proto_text;
	assert_int_equal(ss_cmd_reply_op(p, &set, &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &del1, &out), 0);
	assert_int_equal(ss_cmd_reply_op(p, &del0, &out), 0);
	assert_int_equal(ss_cmd_reply_write_failed(p, 28 /* ENOSPC */, &out), 0);
	assert_int_equal(ss_cmd_reply_compact(p, NULL, &out), 0);
	assert_int_equal(ss_cmd_reply_compact(p, "disk on fire", &out), 0);
	const char *want = "OK\n1\n0\nERR log write failed: No space left on device\nOK\n"
			   "ERR compaction failed: disk on fire\n";
	assert_int_equal(ss_buf_size(&out), strlen(want));
	assert_memory_equal(ss_buf_head(&out), want, strlen(want));
	ss_buf_free(&out);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
