/* test_session.c - one client's requests: order, waiting, the batch cap,
 * backpressure, over-long lines, answering, and when a session is done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/session.h"

struct fixture {
	struct ss_table *t;
	struct ss_batch b;
	struct ss_pending p;
	struct ss_session s;
	uint64_t rejected;
	int compact_requested;
	struct ss_session_env env;
	uint64_t seq;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	f.t = ss_table_new(4);
	assert_non_null(f.t);
	ss_batch_init(&f.b);
	ss_pending_init(&f.p, ss_table_revision(f.t));
	ss_session_init(&f.s, 1);
	f.env = (struct ss_session_env){.table = f.t,
					.batch = &f.b,
					.pending = &f.p,
					.now_ms = 1000000,
					.max_line = 64,
					.batch_max_bytes = 1 << 20,
					.rejected = &f.rejected,
					.compact_requested = &f.compact_requested};
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ss_table_free(f->t);
	ss_batch_free(&f->b);
	ss_pending_free(&f->p);
	ss_session_free(&f->s);
	return 0;
}

static void send_text(struct fixture *f, const char *text)
{
	assert_int_equal(ss_buf_append(&f->s.in, text, strlen(text)), 0);
}

/* The client reads everything sent so far; returns it (static buffer). */
static const char *receive(struct fixture *f)
{
	static char got[1024];
	size_t n = ss_buf_size(&f->s.out);
	assert_true(n < sizeof(got));
	memcpy(got, ss_buf_head(&f->s.out), n);
	got[n] = '\0';
	ss_buf_consume(&f->s.out, n);
	return got;
}

/* What the server does after a write: apply the batch, answer every op,
 * end the batch for the staged state. Returns how many answers said
 * "resume this session". */
static int commit(struct fixture *f)
{
	int first = 0;
	f->seq++;
	for (size_t i = 0; i < f->b.nops; i++) {
		struct ss_op *op = &f->b.ops[i];
		const char *name = f->b.buf + op->name_off;
		if (op->type == SS_OP_REPLY)
			continue;
		assert_int_equal(op->esc, 0);
		if (op->type == SS_REC_DEL) {
			op->result = ss_table_del(f->t, name, op->nlen, f->env.now_ms);
			continue;
		}
		assert_int_equal(op->type, SS_REC_SET);
		assert_int_equal(ss_table_set(f->t, name, op->nlen, f->b.buf + op->value_off,
					      op->vlen, op->expire_ms, op->rev, op->commit_ms,
					      f->env.now_ms),
				 0);
	}
	for (size_t i = 0; i < f->b.nops; i++) {
		assert_ptr_equal(f->b.ops[i].owner, &f->s);
		int r = ss_session_answer(&f->b, &f->b.ops[i], 1, 0, f->seq);
		assert_false(r & SS_ANSWER_NOMEM);
		first += r & SS_ANSWER_FIRST;
	}
	ss_pending_done(&f->p, &f->b, 1);
	ss_batch_reset(&f->b);
	return first;
}

static void test_reads_wait_behind_own_writes(void **state)
{
	struct fixture *f = *state;
	send_text(f, "SET_CHECKPOINT a 1\nSET_CHECKPOINT a 2\nGET_CHECKPOINT a\nPING\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	/* Both writes staged, the GET not run: it would read ahead of them. */
	assert_int_equal(f->b.nops, 2);
	assert_int_equal(f->s.pending, 2);
	assert_string_equal(receive(f), "");
	assert_int_equal(commit(f), 1); /* one resume for two answers */
	assert_int_equal(f->s.pending, 0);
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "OK\nOK\n2\nPONG\n");
	assert_int_equal(ss_buf_size(&f->s.in), 0);
}

static void test_partial_line_waits_for_more(void **state)
{
	struct fixture *f = *state;
	send_text(f, "PING\nPI");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "PONG\n");
	assert_int_equal(ss_buf_size(&f->s.in), 2);
	send_text(f, "NG\r\n\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "PONG\n"); /* the empty line gets nothing */
}

static void test_long_line_answered_after_pending_then_closes(void **state)
{
	struct fixture *f = *state;
	char line[200];
	memset(line, 'x', sizeof(line));
	send_text(f, "SET_CHECKPOINT a 1\n");
	assert_int_equal(ss_buf_append(&f->s.in, line, sizeof(line)), 0);
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), ""); /* the SET's OK must come first */
	assert_int_equal(f->rejected, 0);
	commit(f);
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "OK\nERR line too long\n");
	assert_int_equal(f->rejected, 1);
	assert_true(f->s.close_after);
	assert_int_equal(ss_buf_size(&f->s.in), 0);
	assert_true(ss_session_done(&f->s));
}

static void test_full_batch_stops_everything(void **state)
{
	struct fixture *f = *state;
	f->env.batch_max_bytes = 1; /* full after one op */
	send_text(f, "SET_CHECKPOINT a 1\nSET_CHECKPOINT b 2\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_FULL);
	assert_int_equal(f->b.nops, 1);
	commit(f);
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_int_equal(f->b.nops, 1);
	commit(f);
	assert_string_equal(receive(f), "OK\nOK\n");
}

static void test_output_high_mark_pauses(void **state)
{
	struct fixture *f = *state;
	/* 256 KiB of PONGs and a few more requests. */
	size_t pings = SS_SESSION_OUT_HIGH / 5 + 10;
	for (size_t i = 0; i < pings; i++)
		send_text(f, "PING\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_HIGH);
	assert_int_equal(ss_buf_size(&f->s.out), ((SS_SESSION_OUT_HIGH + 4) / 5) * 5);
	assert_true(ss_buf_size(&f->s.in) > 0);
	ss_buf_consume(&f->s.out, ss_buf_size(&f->s.out)); /* the client read it */
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_int_equal(ss_buf_size(&f->s.in), 0);
	assert_int_equal(ss_buf_size(&f->s.out), pings * 5 - ((SS_SESSION_OUT_HIGH + 4) / 5) * 5);
}

static void test_compact_and_quit_stop_execution(void **state)
{
	struct fixture *f = *state;
	send_text(f, "COMPACT\nPING\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_int_equal(f->compact_requested, 1);
	assert_int_equal(f->s.compact_wait, SS_COMPACT_QUEUED);
	assert_false(ss_session_done(&f->s));
	assert_string_equal(receive(f), "");
	f->s.compact_wait = SS_COMPACT_NONE; /* the server ran it */
	send_text(f, "QUIT\nPING\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "PONG\nOK\n");
	assert_true(f->s.close_after);
	assert_true(ss_session_done(&f->s));
}

static void test_a_stopping_session_executes_nothing(void **state)
{
	struct fixture *f = *state;
	f->env.stopping = 1;
	send_text(f, "PING\nSET_CHECKPOINT a 1\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "");
	assert_int_equal(f->b.nops, 0);
	assert_int_equal(f->s.pending, 0);
	assert_int_equal(ss_buf_size(&f->s.in), strlen("PING\nSET_CHECKPOINT a 1\n"));
}

/* A write behind a read that waits for earlier replies is not staged
 * either: staging it would answer it before the read that came first. */
static void test_a_set_behind_a_waiting_read_stages_nothing(void **state)
{
	struct fixture *f = *state;
	send_text(f, "SET_CHECKPOINT a 1\nGET_CHECKPOINT a\nSET_CHECKPOINT a 2\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_int_equal(f->b.nops, 1); /* the first SET only */
	assert_int_equal(f->s.pending, 1);
	assert_string_equal(receive(f), "");
	commit(f);
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	/* The GET saw the first SET; the second is staged only now. */
	assert_string_equal(receive(f), "OK\n1\n");
	assert_int_equal(f->b.nops, 1);
	commit(f);
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "OK\n");
}

static void test_failed_write_answers_err(void **state)
{
	struct fixture *f = *state;
	send_text(f, "SET_CHECKPOINT a 1\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	send_text(f, "CAS_CHECKPOINT b 3 x\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_int_equal(f->s.pending, 2);
	int r = ss_session_answer(&f->b, &f->b.ops[0], 0, 28 /* ENOSPC */, 7);
	assert_int_equal(r, SS_ANSWER_FIRST);
	/* The CONFLICT decided against the refused batch is not sent: the
	 * write's error is, as to the writer. */
	assert_int_equal(ss_session_answer(&f->b, &f->b.ops[1], 0, 28, 7) & SS_ANSWER_FIRST, 0);
	assert_int_equal(f->s.pending, 0);
	ss_pending_done(&f->p, &f->b, 0);
	assert_string_equal(receive(f), "ERR log write failed: No space left on device\n"
					"ERR log write failed: No space left on device\n");
}

static void test_a_session_at_eof_is_done_once_its_last_line_is_answered(void **state)
{
	struct fixture *f = *state;
	assert_false(ss_session_done(&f->s));
	f->s.eof = 1;
	send_text(f, "PING"); /* no newline: never a request */
	assert_true(ss_session_done(&f->s));
	send_text(f, "\n");
	assert_false(ss_session_done(&f->s)); /* a complete line to answer */
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_false(ss_session_done(&f->s)); /* PONG not sent yet */
	assert_string_equal(receive(f), "PONG\n");
	assert_true(ss_session_done(&f->s));
}

/* A multi-commit is one reply owed, answered by its last op only. */
static void test_a_multi_commit_owes_one_reply(void **state)
{
	struct fixture *f = *state;
	send_text(f, "MSET_CHECKPOINT a 1 b 2 c 3\nGETREV_CHECKPOINT b\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_int_equal(f->b.nops, 3);
	assert_int_equal(f->s.pending, 1);
	assert_int_equal(commit(f), 1);
	assert_int_equal(f->s.pending, 0);
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "OK 1\n1 2\n");
}

/* A CONFLICT is decided at staging but answered after the batch, in order
 * with the session's other replies; a read behind it waits. */
static void test_a_conflict_answers_in_order_after_the_batch(void **state)
{
	struct fixture *f = *state;
	send_text(f, "SET_CHECKPOINT a 1\nCAS_CHECKPOINT a 0 x\nCAS_CHECKPOINT a 1 y\nPING\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_int_equal(f->s.pending, 3);
	assert_string_equal(receive(f), "");
	commit(f);
	assert_string_equal(receive(f), "OK\nCONFLICT 1\nOK 2\n");
	assert_int_equal(ss_session_execute(&f->s, &f->env), SS_SESSION_IDLE);
	assert_string_equal(receive(f), "PONG\n");
}

static void test_room_is_what_fits_under_the_line_limit_in_read_steps(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(ss_session_room(&f->s, 64), 66);
	assert_int_equal(ss_session_room(&f->s, 1 << 20), SS_SESSION_READ_STEP);
	send_text(f, "0123456789");
	assert_int_equal(ss_session_room(&f->s, 64), 56);
	assert_int_equal(ss_session_room(&f->s, 5), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_wait_behind_own_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_line_waits_for_more, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_answered_after_pending_then_closes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_batch_stops_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_high_mark_pauses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_and_quit_stop_execution, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_stopping_session_executes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_set_behind_a_waiting_read_stages_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_answers_err, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_session_at_eof_is_done_once_its_last_line_is_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_is_what_fits_under_the_line_limit_in_read_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_multi_commit_owes_one_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_conflict_answers_in_order_after_the_batch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
