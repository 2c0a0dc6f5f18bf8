/* test_pending.c - the staged state (cmd/pending.c): what conditions see
 * before a batch is durable, how revisions are handed out, and what a
 * batch's end - applied or refused - gives back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cmd.h"
#include "cmd/pending.h"
#include "statestored/batch.h"

/* Stages a SET of name to value (a DEL if value is NULL) at rev into b,
 * and indexes it, as the command layer does. */
static void stage(struct ss_pending *p, struct ss_batch *b, const char *name, uint64_t rev,
		  const char *value)
{
	struct ss_record r = {.type = value ? SS_REC_SET : SS_REC_DEL,
			      .name = name,
			      .nlen = strlen(name),
			      .value = value,
			      .vlen = value ? strlen(value) : 0,
			      .rev = rev,
			      .commit_ms = 1000};
	assert_int_equal(ss_batch_add(b, &r, NULL), 0);
	assert_int_equal(ss_pending_put(p, b, b->nops - 1, name, strlen(name)), 0);
}

static void assert_staged(const struct ss_pending *p, const char *name, uint64_t rev,
			  const char *value)
{
	struct ss_pending_state st;
	assert_int_equal(ss_pending_get(p, name, strlen(name), &st), 1);
	assert_int_equal(st.rev, rev);
	if (value) {
		assert_int_equal(st.value_esc, 0);
		assert_int_equal(st.vlen, strlen(value));
		assert_memory_equal(st.value, value, st.vlen);
	}
}

static void assert_not_staged(const struct ss_pending *p, const char *name)
{
	struct ss_pending_state st;
	assert_int_equal(ss_pending_get(p, name, strlen(name), &st), 0);
}

static void test_revisions_follow_the_durable_one_and_are_taken_only_when_staged(void **state)
{
	(void)state;
	struct ss_pending p;
	struct ss_batch b;
	ss_batch_init(&b);
	ss_pending_init(&p, 41);
	assert_int_equal(ss_pending_next(&p), 42);
	assert_int_equal(ss_pending_next(&p), 42); /* asking takes nothing */
	ss_pending_take(&p, &b);
	assert_int_equal(ss_pending_next(&p), 43);
	ss_pending_take(&p, &b);
	assert_int_equal(ss_pending_next(&p), 44);
	ss_pending_done(&p, &b, 1);
	assert_int_equal(ss_pending_next(&p), 44);
	ss_pending_free(&p);
	ss_batch_free(&b);
}

static void test_the_newest_put_shows_and_a_pop_uncovers_the_one_before(void **state)
{
	(void)state;
	struct ss_pending p;
	struct ss_batch b;
	char value[] = "v1";
	ss_batch_init(&b);
	ss_pending_init(&p, 0);
	assert_not_staged(&p, "a");
	stage(&p, &b, "a", 1, value);
	value[1] = 'X'; /* the index reads the batch's copy */
	assert_staged(&p, "a", 1, "v1");
	stage(&p, &b, "a", 2, NULL); /* a staged DEL */
	assert_staged(&p, "a", 0, NULL);
	assert_not_staged(&p, "ab");
	assert_not_staged(&p, "");
	ss_pending_pop(&p, "a", 1);
	assert_staged(&p, "a", 1, "v1");
	ss_pending_pop(&p, "a", 1);
	assert_not_staged(&p, "a");
	ss_pending_pop(&p, "a", 1); /* nothing to pop: harmless */
	assert_int_equal(p.count, 0);
	ss_pending_free(&p);
	ss_batch_free(&b);
}

/* The index reads names and values as the batch holds them, escaped: a
 * name with a backslash is found by its raw bytes, and an escaped value
 * says so. */
static void test_escaped_names_are_found_by_their_raw_bytes(void **state)
{
	(void)state;
	struct ss_pending p;
	struct ss_batch b;
	struct ss_pending_state st;
	ss_batch_init(&b);
	ss_pending_init(&p, 0);
	stage(&p, &b, "team\\job", 1, "a\\b");
	assert_int_equal(ss_pending_get(&p, "team\\job", 8, &st), 1);
	assert_int_equal(st.rev, 1);
	assert_int_equal(st.value_esc, 1);
	assert_int_equal(st.vlen, 4); /* a\\b as the log writes it */
	assert_memory_equal(st.value, "a\\\\b", 4);
	assert_not_staged(&p, "team\\\\job");
	assert_not_staged(&p, "teamXjob");
	ss_pending_free(&p);
	ss_batch_free(&b);
}

/* Two unapplied batches: the older applied leaves the newer's states. */
static void test_an_applied_batch_leaves_what_a_later_batch_staged(void **state)
{
	(void)state;
	struct ss_pending p;
	struct ss_batch inflight, open;
	ss_batch_init(&inflight);
	ss_batch_init(&open);
	ss_pending_init(&p, 10);
	stage(&p, &inflight, "a", 11, "x");
	stage(&p, &inflight, "b", 11, "x");
	ss_pending_take(&p, &inflight);
	stage(&p, &open, "a", 12, "y");
	ss_pending_take(&p, &open);
	assert_staged(&p, "a", 12, "y");
	struct ss_pending_state st;
	assert_int_equal(ss_pending_nth(&p, "a", 1, 1, &st), 1);
	assert_int_equal(st.rev, 11);
	assert_int_equal(ss_pending_nth(&p, "a", 1, 2, &st), 0);
	ss_pending_done(&p, &inflight, 1);
	assert_staged(&p, "a", 12, "y");
	assert_not_staged(&p, "b");
	assert_int_equal(ss_pending_next(&p), 13);
	ss_pending_done(&p, &open, 1);
	assert_not_staged(&p, "a");
	assert_int_equal(p.count, 0);
	ss_pending_free(&p);
	ss_batch_free(&inflight);
	ss_batch_free(&open);
}

/* A refused batch: none of its revisions was acknowledged, so they are
 * handed out again, and its states no longer shadow the table. The batch
 * before it (applied) keeps its revisions. */
static void test_a_refused_batch_gives_its_revisions_back(void **state)
{
	(void)state;
	struct ss_pending p;
	struct ss_batch inflight, open;
	ss_batch_init(&inflight);
	ss_batch_init(&open);
	ss_pending_init(&p, 5);
	stage(&p, &inflight, "a", 6, "x");
	ss_pending_take(&p, &inflight); /* 6 */
	stage(&p, &open, "a", 7, "y");
	ss_pending_take(&p, &open); /* 7 */
	stage(&p, &open, "c", 8, "z");
	ss_pending_take(&p, &open); /* 8 */
	ss_pending_done(&p, &inflight, 1);
	ss_pending_done(&p, &open, 0);
	assert_int_equal(ss_pending_next(&p), 7);
	assert_not_staged(&p, "a");
	assert_not_staged(&p, "c");
	/* The slots are free again: a new batch starts from 6. */
	ss_pending_take(&p, &open);
	ss_pending_done(&p, &open, 0);
	assert_int_equal(ss_pending_next(&p), 7);
	ss_pending_free(&p);
	ss_batch_free(&inflight);
	ss_batch_free(&open);
}

/* Many names, past several doublings of the bucket array (with the nodes
 * of two batches linked again in order): each keeps its newest state, and
 * a batch's end removes exactly its own. */
static void test_many_names_survive_growth_newest_first(void **state)
{
	(void)state;
	struct ss_pending p;
	struct ss_batch b1, b2;
	char name[32], value[32];
	enum { N = 1000 };
	ss_batch_init(&b1);
	ss_batch_init(&b2);
	ss_pending_init(&p, 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			snprintf(name, sizeof(name), "p%d", i);
			snprintf(value, sizeof(value), "r%d-%d", round, i);
			stage(&p, round ? &b2 : &b1, name, (uint64_t)(round * N + i + 1), value);
		}
	}
	assert_int_equal(p.count, 2 * N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(value, sizeof(value), "r1-%d", i);
		assert_staged(&p, name, (uint64_t)(N + i + 1), value);
	}
	ss_pending_done(&p, &b2, 0);
	assert_int_equal(p.count, N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(value, sizeof(value), "r0-%d", i);
		assert_staged(&p, name, (uint64_t)(i + 1), value);
	}
	ss_pending_free(&p); /* frees what b1 still holds */
	ss_batch_free(&b1);
	ss_batch_free(&b2);
}

/* ---- through the commands -------------------------------------------- */

static enum ss_cmd_status run(struct ss_cmd_env *env, struct ss_buf *out, const char *line)
{
	struct ss_request req;
	ss_request_init(&req);
	long n = ss_text_parse(line, strlen(line), 1024, &req);
	assert_true(n > 0);
	enum ss_cmd_status st = ss_cmd_execute(&req, env, out);
	ss_request_free(&req);
	return st;
}

static void apply(struct ss_table *t, struct ss_batch *b, int64_t now_ms)
{
	for (size_t i = 0; i < b->nops; i++) {
		struct ss_op *op = &b->ops[i];
		if (op->type == SS_OP_REPLY)
			continue;
		assert_int_equal(op->type, SS_REC_SET);
		assert_int_equal(ss_table_set(t, b->buf + op->name_off, op->nlen,
					      b->buf + op->value_off, op->vlen, op->expire_ms,
					      op->rev, op->commit_ms, now_ms),
				 0);
	}
}

static void replies(struct ss_batch *b, struct ss_buf *out)
{
	for (size_t i = 0; i < b->nops; i++)
		if (b->ops[i].reply)
			assert_int_equal(ss_cmd_reply_op(&ss_proto_text, b, &b->ops[i], out), 0);
}

static void assert_out(struct ss_buf *out, const char *want)
{
	size_t n = ss_buf_size(out);
	if (n != strlen(want) || memcmp(ss_buf_head(out), want, n) != 0)
		fail_msg("got\n%.*s\nwant\n%s", (int)n, ss_buf_head(out), want);
	ss_buf_consume(out, n);
}

/* A batch whose write failed: the CAS decided against it are decided again
 * against the table, and the revisions it took are taken again. */
static void test_after_a_refused_write_commands_see_the_table_again(void **state)
{
	(void)state;
	struct ss_table *t = ss_table_new(2);
	struct ss_batch b;
	struct ss_pending p;
	struct ss_buf out;
	int owner;
	assert_non_null(t);
	ss_batch_init(&b);
	ss_buf_init(&out);
	ss_pending_init(&p, ss_table_revision(t));
	struct ss_cmd_env env = {.proto = &ss_proto_text, .table = t, .batch = &b,
				 .pending = &p, .owner = &owner, .now_ms = 5000, .may_reply = 1};

	assert_int_equal(run(&env, &out, "SET_CHECKPOINT a 1\n"), SS_CMD_STAGED);
	apply(t, &b, env.now_ms);
	replies(&b, &out);
	ss_pending_done(&p, &b, 1);
	ss_batch_reset(&b);
	assert_out(&out, "OK\n");

	assert_int_equal(run(&env, &out, "CAS_CHECKPOINT a 1 2\n"), SS_CMD_STAGED);     /* rev 2 */
	assert_int_equal(run(&env, &out, "MSET_CHECKPOINT a 3 b 3\n"), SS_CMD_STAGED);  /* rev 3 */
	assert_int_equal(run(&env, &out, "CAS_CHECKPOINT a 1 lost\n"), SS_CMD_STAGED); /* CONFLICT 3 */
	assert_int_equal(ss_pending_next(&p), 4);
	/* The write fails: every op answers the error, nothing is applied. */
	ss_pending_done(&p, &b, 0);
	ss_batch_reset(&b);
	assert_int_equal(ss_pending_next(&p), 2);
	assert_int_equal(p.count, 0);

	assert_int_equal(run(&env, &out, "CAS_CHECKPOINT a 3 no\n"), SS_CMD_STAGED);
	assert_int_equal(run(&env, &out, "CAS_CHECKPOINT b 0 yes\n"), SS_CMD_STAGED);
	assert_int_equal(run(&env, &out, "CAS_CHECKPOINT a 1 yes\n"), SS_CMD_STAGED);
	apply(t, &b, env.now_ms);
	replies(&b, &out);
	ss_pending_done(&p, &b, 1);
	ss_batch_reset(&b);
	assert_out(&out, "CONFLICT 1\nOK 2\nOK 3\n");
	assert_int_equal(ss_table_revision(t), 3);

	ss_pending_free(&p);
	ss_buf_free(&out);
	ss_batch_free(&b);
	ss_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_revisions_follow_the_durable_one_and_are_taken_only_when_staged),
		cmocka_unit_test(test_the_newest_put_shows_and_a_pop_uncovers_the_one_before),
		cmocka_unit_test(test_escaped_names_are_found_by_their_raw_bytes),
		cmocka_unit_test(test_an_applied_batch_leaves_what_a_later_batch_staged),
		cmocka_unit_test(test_a_refused_batch_gives_its_revisions_back),
		cmocka_unit_test(test_many_names_survive_growth_newest_first),
		cmocka_unit_test(test_after_a_refused_write_commands_see_the_table_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
