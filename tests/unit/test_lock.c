/*
 * test_lock.c - one store per data directory: a second open, from this
 * process or another, is refused before it touches anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sstest.h"

#define NOW 1000000

static struct ss_error second_open_fails(const char *dir)
{
	struct ss_store_options opt = {.dir = dir};
	struct ss_error err = {0};
	struct ss_store *s = NULL;

	assert_int_equal(ss_store_open(&s, &opt, NOW, NULL, &err), -1);
	assert_null(s);
	return err;
}

static void test_second_open_in_the_same_process_is_refused(void **state)
{
	char *dir = sstest_tmpdir();
	struct ss_store *a = sstest_open(dir, NULL, 0, NOW, NULL);
	struct ss_store *b;
	struct ss_error err;

	(void)state;
	err = second_open_fails(dir);
	assert_int_equal(err.kind, SS_ERR_LOCKED);
	assert_non_null(strstr(err.msg, dir));
	/* The holder is undisturbed. */
	assert_int_equal(sstest_set(a, "k", "v", 0, NOW, NULL), 0);
	ss_store_close(a);
	b = sstest_open(dir, NULL, 0, NOW, NULL);
	sstest_assert_value(b, "k", "v", NOW);
	ss_store_close(b);
	sstest_rmdir(dir);
	free(dir);
}

static void test_refused_open_touches_nothing(void **state)
{
	char *dir = sstest_tmpdir();
	char *tmp = sstest_path(dir, SS_LOG_TMP_FILE);
	char *log = sstest_path(dir, SS_LOG_FILE);
	struct ss_store *a = sstest_open(dir, NULL, 0, NOW, NULL);
	long long size;

	(void)state;
	/* The holder is compacting, and its log ends in an unsynced,
	 * partial-looking write: a second opener must not "fix" either. */
	sstest_write_file(tmp, SS_LOG_HEADER, 18);
	assert_int_equal(sstest_set(a, "k", "v", 0, NOW, NULL), 0);
	size = sstest_file_size(log);
	assert_int_equal(second_open_fails(dir).kind, SS_ERR_LOCKED);
	assert_int_equal(sstest_file_size(tmp), 18);
	assert_int_equal(sstest_file_size(log), size);
	ss_store_close(a);
	sstest_rmdir(dir);
	free(tmp);
	free(log);
	free(dir);
}

static void test_another_process_is_refused_until_close(void **state)
{
	char *dir = sstest_tmpdir();
	struct ss_store *a = sstest_open(dir, NULL, 0, NOW, NULL);
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ss_store_options opt = {.dir = dir};
		struct ss_error err = {0};
		struct ss_store *s = NULL;
		int r = ss_store_open(&s, &opt, NOW, NULL, &err);

		_exit(r == -1 && err.kind == SS_ERR_LOCKED ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ss_store_close(a);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ss_store_options opt = {.dir = dir};
		struct ss_store *s = NULL;
		int r = ss_store_open(&s, &opt, NOW, NULL, NULL);

		_exit(r == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sstest_rmdir(dir);
	free(dir);
}

static void test_a_refused_open_reports_the_pid_recorded_in_lock(void **state)
{
	char *dir = sstest_tmpdir();
	char *lock = sstest_path(dir, SS_LOCK_FILE);
	struct ss_store *a = sstest_open(dir, NULL, 0, NOW, NULL);
	struct ss_store_options opt = {.dir = dir};
	struct ss_open_report rep;
	struct ss_error err = {0};
	struct ss_store *s = NULL;
	char want[32];
	size_t len;

	(void)state;
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_int_equal(ss_store_open(&s, &opt, NOW, &rep, &err), -1);
	assert_int_equal(err.kind, SS_ERR_LOCKED);
	assert_int_equal(rep.lock_pid, (long)getpid());
	/* The refused open left the holder's record as it was. */
	char *text = sstest_read_file(lock, &len);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(text, want, len);
	free(text);
	ss_store_close(a);
	sstest_rmdir(dir);
	free(lock);
	free(dir);
}

static void test_an_open_that_cannot_record_its_pid_still_opens(void **state)
{
	char *dir = sstest_tmpdir();
	struct sstest_fault_io f;
	struct ss_open_report rep;

	(void)state;
	sstest_fault_io_init(&f);
	/* The first pwrite of an open is the pid record in LOCK. */
	sstest_fault_io_arm(&f, SSTEST_OP_PWRITE, 1, ENOSPC, 0);
	struct ss_store *s = sstest_open(dir, &f.io, 0, NOW, &rep);
	assert_int_equal(f.injected, 1);
	assert_int_equal(rep.lock_pid_errno, ENOSPC);
	assert_int_equal(sstest_set(s, "k", "v", 0, NOW, NULL), 0);
	ss_store_close(s);
	sstest_rmdir(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_open_in_the_same_process_is_refused),
		cmocka_unit_test(test_refused_open_touches_nothing),
		cmocka_unit_test(test_another_process_is_refused_until_close),
		cmocka_unit_test(test_a_refused_open_reports_the_pid_recorded_in_lock),
		cmocka_unit_test(test_an_open_that_cannot_record_its_pid_still_opens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
