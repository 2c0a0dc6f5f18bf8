/*
 * test_io.c - the retry loops of io.c: short writes and EINTR are retried,
 * everything else is reported once, and nothing spins forever.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sstest.h"

struct fixture {
	char *dir;
	char *path;
	int fd;
	struct sstest_fault_io f;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->dir = sstest_tmpdir();
	fx->path = sstest_path(fx->dir, "file");
	fx->fd = open(fx->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fx->fd >= 0);
	sstest_fault_io_init(&fx->f);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	close(fx->fd);
	sstest_rmdir(fx->dir);
	free(fx->path);
	free(fx->dir);
	free(fx);
	return 0;
}

static void assert_file_is(const char *path, const char *want)
{
	size_t len;
	char *got = sstest_read_file(path, &len);

	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
}

static void test_pwrite_all_finishes_after_a_short_write(void **state)
{
	struct fixture *fx = *state;
	const char *data = "0123456789abcdefghij";

	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, SSTEST_SHORT_WRITE, 0);
	assert_int_equal(ss_io_pwrite_all(&fx->f.io, fx->fd, data, strlen(data), 0), 0);
	assert_int_equal(fx->f.calls[SSTEST_OP_PWRITE], 2);
	assert_file_is(fx->path, data);
}

static void test_pwrite_all_retries_eintr(void **state)
{
	struct fixture *fx = *state;

	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, EINTR, 0);
	assert_int_equal(ss_io_pwrite_all(&fx->f.io, fx->fd, "abc", 3, 0), 0);
	assert_int_equal(fx->f.calls[SSTEST_OP_PWRITE], 2);
	assert_file_is(fx->path, "abc");
}

static void test_pwrite_all_writes_at_the_offset(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(ss_io_pwrite_all(&ss_io_posix, fx->fd, "abcdef", 6, 0), 0);
	assert_int_equal(ss_io_pwrite_all(&ss_io_posix, fx->fd, "XY", 2, 2), 0);
	assert_file_is(fx->path, "abXYef");
}

static void test_pwrite_all_reports_enospc_without_retrying(void **state)
{
	struct fixture *fx = *state;

	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, ENOSPC, 0);
	errno = 0;
	assert_int_equal(ss_io_pwrite_all(&fx->f.io, fx->fd, "abc", 3, 0), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(fx->f.calls[SSTEST_OP_PWRITE], 1);
}

static void test_pwrite_all_zero_progress_is_eio(void **state)
{
	struct fixture *fx = *state;

	/* Every write is short: the remainder halves until a write of one
	 * byte writes nothing, which must end the loop with EIO. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, SSTEST_SHORT_WRITE, 1);
	errno = 0;
	assert_int_equal(ss_io_pwrite_all(&fx->f.io, fx->fd, "0123456789", 10, 0), -1);
	assert_int_equal(errno, EIO);
}

static void test_fdatasync_retries_eintr_only(void **state)
{
	struct fixture *fx = *state;

	sstest_fault_io_arm(&fx->f, SSTEST_OP_FDATASYNC, 1, EINTR, 0);
	assert_int_equal(ss_io_fdatasync(&fx->f.io, fx->fd), 0);
	assert_int_equal(fx->f.calls[SSTEST_OP_FDATASYNC], 2);

	sstest_fault_io_arm(&fx->f, SSTEST_OP_FDATASYNC, 1, EIO, 0);
	errno = 0;
	assert_int_equal(ss_io_fdatasync(&fx->f.io, fx->fd), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(fx->f.calls[SSTEST_OP_FDATASYNC], 3);
}

static void test_fsync_dir_closes_the_directory_on_failure(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(ss_io_fsync_dir(&fx->f.io, fx->dir), 0);
	assert_int_equal(fx->f.calls[SSTEST_OP_FSYNC], 1);
	assert_int_equal(fx->f.calls[SSTEST_OP_CLOSE], 1);

	sstest_fault_io_arm(&fx->f, SSTEST_OP_FSYNC, 1, EIO, 0);
	errno = 0;
	assert_int_equal(ss_io_fsync_dir(&fx->f.io, fx->dir), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(fx->f.calls[SSTEST_OP_CLOSE], 2);
}

static void test_fsync_dir_of_a_missing_directory_fails(void **state)
{
	struct fixture *fx = *state;
	char *missing = sstest_path(fx->dir, "nope");

	errno = 0;
	assert_int_equal(ss_io_fsync_dir(&ss_io_posix, missing), -1);
	assert_int_equal(errno, ENOENT);
	free(missing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pwrite_all_finishes_after_a_short_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pwrite_all_retries_eintr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pwrite_all_writes_at_the_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pwrite_all_reports_enospc_without_retrying, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pwrite_all_zero_progress_is_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fdatasync_retries_eintr_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_dir_closes_the_directory_on_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_dir_of_a_missing_directory_fails, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
