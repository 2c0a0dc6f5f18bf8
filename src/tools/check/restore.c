/*
 * restore.c - statestore-check restore: a backup (or any clean log) copied
 * into a new data directory, for a statestored to start on.
 *
 * Starting statestored on the backup's directory itself is a restore too
 * (README: Backup and restore). This one leaves the backup untouched, so it
 * can be restored again, and checks it first with the daemon's own replay:
 * a torn or corrupt log is refused with the verify verdict, never copied.
 * The copy has a backup's guarantee (ss_store_restore): DEST appears only
 * complete and synced.
 */
#include "tools/check/check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "statestored/table.h"

typedef unsigned long long ull;

int ss_check_restore(int argc, char **argv, int64_t now_ms)
{
	struct ss_check_log l;
	struct ss_error err;

	if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		fputs("statestore-check: restore takes a backup (DIR_OR_FILE) and a new data "
		      "directory: restore SRC DEST\n",
		      stderr);
		return SS_CHECK_USAGE;
	}
	int code = ss_check_read(&l, argv[1], SS_HISTORY_DEFAULT, now_ms);
	if (code != SS_CHECK_CLEAN) {
		ss_check_print_verdict(stderr, &l, code);
		fprintf(stderr, "statestore-check: %s is not a clean log: nothing restored\n",
			argv[1]);
		ss_check_log_free(&l);
		return code;
	}
	/* A data directory a daemon serves from changes under the copy:
	 * refused (a BACKUP is the way to copy a live store). Its LOCK is held
	 * meanwhile, so none starts on it either. A backup has no LOCK. */
	long holder = 0;
	int lock = -1;
	if (l.dir && (lock = ss_store_lock(&ss_io_posix, l.dir, 0, &holder, &err)) < 0 &&
	    !(err.kind == SS_ERR_IO && err.sys_errno == ENOENT)) {
		fprintf(stderr, "statestore-check: %s\n", err.msg);
		ss_check_log_free(&l);
		return err.kind == SS_ERR_LOCKED ? SS_CHECK_LOCKED : SS_CHECK_IOERR;
	}
	ull rev = (ull)ss_table_revision(l.table), n = (ull)ss_table_count(l.table);
	/* Only what was checked: up to the end of its last complete group. */
	int rc = ss_store_restore(&ss_io_posix, l.path, l.rep.end, argv[2], &err);
	if (lock >= 0)
		close(lock);
	if (rc < 0) {
		fprintf(stderr, "statestore-check: %s\n", err.msg);
		ss_check_log_free(&l);
		return err.sys_errno == EEXIST || err.sys_errno == ENOTEMPTY ? SS_CHECK_LOCKED
									    : SS_CHECK_IOERR;
	}
	printf("restored %s to %s: revision %llu, %llu live pipelines\n", argv[1], argv[2], rev, n);
	ss_check_log_free(&l);
	return SS_CHECK_CLEAN;
}
