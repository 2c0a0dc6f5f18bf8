/*
 * test_commit.c - the commit cycle (server/commit.c) on a real store and a
 * real loop: the order in which its hooks see a batch, and that once a sync
 * failure stopped the server nothing more is written, not even by the
 * shutdown's drain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/commit.h"
#include "server/server.h"
#include "sstest.h"

#define NOW 1000000

struct probe {
	struct ss_commit *c;
	int fatal_calls, fatal_code, afters;
	char trace[64]; /* one letter per hook call, in order */
	size_t ntrace;
};

static void note(struct probe *p, char what)
{
	assert_true(p->ntrace + 1 < sizeof(p->trace));
	p->trace[p->ntrace++] = what;
	p->trace[p->ntrace] = '\0';
}

static void on_after(void *arg)
{
	struct probe *p = arg;
	p->afters++;
}

static void on_fatal(void *arg, int code, int keep_replies)
{
	struct probe *p = arg;
	(void)keep_replies;
	p->fatal_calls++;
	p->fatal_code = code;
}

static void stage(struct ss_commit *c, const char *name)
{
	struct ss_record r = {.type = SS_REC_SET, .name = name, .nlen = strlen(name), .value = "v",
			      .vlen = 1, .rev = 1};
	assert_int_equal(ss_batch_add(ss_commit_open(c), &r, NULL), 0);
}

/* Two hooks: each done sees the whole batch; only after both have, and
 * the batch is emptied, does either resume - and what a resume stages
 * goes into the next batch. */
struct hook_probe {
	struct probe *p;
	char done_letter, resume_letter;
	struct ss_batch *seen;
};

static void hook_done(void *arg, struct ss_batch *b, int written, int errnum, uint64_t seq)
{
	struct hook_probe *h = arg;
	assert_int_equal(written, 1);
	assert_int_equal(errnum, 0);
	assert_int_equal(seq, 1);
	assert_int_equal(b->nops, 1);
	assert_int_equal(b->ops[0].result, 0);
	h->seen = b;
	note(h->p, h->done_letter);
}

static void hook_resume(void *arg)
{
	struct hook_probe *h = arg;
	assert_int_equal(h->seen->nops, 0); /* emptied before any resume */
	assert_ptr_not_equal(ss_commit_open(h->p->c), h->seen);
	stage(h->p->c, h->resume_letter == 'x' ? "next-x" : "next-y");
	note(h->p, h->resume_letter);
}

static void test_every_hook_sees_the_batch_before_any_resumes(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_diag diag = {.level = SS_ERROR, .out = stderr};
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct ss_commit c;
	struct probe p = {.c = &c};
	struct ss_commit_ops ops = {.after = on_after, .fatal = on_fatal, .arg = &p};
	struct hook_probe h1 = {&p, 'A', 'x', NULL}, h2 = {&p, 'B', 'y', NULL};
	struct ss_commit_hook k1 = {hook_done, hook_resume, &h1, NULL};
	struct ss_commit_hook k2 = {hook_done, hook_resume, &h2, NULL};

	ss_commit_init(&c, loop, s, NULL, &diag, 0, &ops);
	ss_commit_add_hook(&c, &k1);
	ss_commit_add_hook(&c, &k2);
	stage(&c, "a");
	assert_true(ss_commit_ready(&c));
	ss_commit_run(&c);
	assert_string_equal(p.trace, "ABxy");
	assert_int_equal(p.afters, 1);
	assert_int_equal(p.fatal_calls, 0);
	assert_int_equal(c.st.commits, 1);
	assert_int_equal(ss_commit_open(&c)->nops, 2); /* what the resumes staged */
	sstest_assert_value(s, "a", "v", NOW);
	ss_commit_free(&c);
	ev_loop_destroy(loop);
	ss_store_close(s);
}

/* SIGTERM while a background fdatasync runs that will fail: the drain
 * delivers the failure, which stops the server with exit code 5, and then
 * writes nothing more - the open batch stays unwritten, and the exit code
 * is not replaced by the refused write's 1. */
static void test_a_drain_after_a_failed_background_sync_writes_nothing_more(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_diag diag = {.level = SS_ERROR + 1, .out = stderr}; /* quiet */
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct ss_commit c;
	struct probe p = {.c = &c};
	struct ss_commit_ops ops = {.after = on_after, .fatal = on_fatal, .arg = &p};

	ss_commit_init(&c, loop, s, &fx->f.io, &diag, 0, &ops);
	assert_true(c.syncer.started);
	ss_commit_set_disk_busy(&c, 1); /* a compaction runs: sync off the loop */
	stage(&c, "a");
	sstest_fault_io_arm(&fx->f, SSTEST_OP_FDATASYNC, 1, EIO, 0);
	ss_commit_run(&c);
	assert_true(ss_commit_in_flight(&c));
	stage(&c, "b"); /* gathered meanwhile */
	uint64_t log_bytes = ss_store_log_bytes(s);
	ss_commit_drain(&c);
	assert_int_equal(p.fatal_calls, 1);
	assert_int_equal(p.fatal_code, SS_EXIT_FSYNC);
	assert_int_equal(fx->f.injected, 1);
	assert_int_equal(ss_commit_open(&c)->nops, 1);       /* b: never written */
	assert_true(ss_store_log_bytes(s) <= log_bytes);    /* a was cut back */
	assert_int_equal(c.st.commits, 0);
	ss_commit_free(&c);
	ev_loop_destroy(loop);
	ss_store_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sstest_setup, sstest_teardown)
	const struct CMUnitTest tests[] = {
		T(test_every_hook_sees_the_batch_before_any_resumes),
		T(test_a_drain_after_a_failed_background_sync_writes_nothing_more),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
