/*
 * repair.c - statestore-check repair: cut what a start would cut, with the
 * daemon kept out and a copy of the log kept.
 *
 * The order is what makes it safe to run by hand:
 *   1. take DIR/LOCK with the engine's ss_store_lock (flock, non-blocking), and hold it
 *      to the end, so no daemon replays or appends while we cut - and
 *      refuse if one holds it;
 *   2. read the log with the daemon's replay (ss_check_read), under the lock;
 *   3. copy the whole file aside, fsync the copy and the directory: the
 *      copy must be durable before the original loses a byte;
 *   4. cut: ftruncate to the end of the last complete group and fdatasync,
 *      as logfile.c does at open (a torn header: a fresh header, synced);
 *   5. read the log again and report that verdict.
 * Corruption is acknowledged data: it is cut only when asked
 * (--truncate-at-corruption), back to the end of the last complete group
 * before the damage, and everything after it is then only in the copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statestored/io.h"
#include "statestored/record.h"
#include "tools/check/check.h"

typedef unsigned long long ull;

struct repair {
	const char *dir;
	int dry_run, at_corruption;
	int64_t now_ms;
	int lock_fd;
	struct ss_check_log log;
	uint64_t cut_to; /* where the log is cut back to */
	char *bak;       /* the copy's path */
};

/* Takes DIR/LOCK (ss_store_lock). A dry run does not create a missing
 * LOCK (nothing holds it then). Returns 0 or an exit code. */
static int take_lock(struct repair *rp)
{
	struct ss_error err;
	long holder = 0;

	rp->lock_fd = ss_store_lock(&ss_io_posix, rp->dir, !rp->dry_run, &holder, &err);
	if (rp->lock_fd >= 0 || (rp->dry_run && err.kind == SS_ERR_IO && err.sys_errno == ENOENT))
		return 0;
	if (err.kind == SS_ERR_LOCKED) {
		fprintf(stderr, "statestore-check: %s; stop it first (repair touches nothing while "
				"it runs)\n", err.msg);
		return SS_CHECK_LOCKED;
	}
	fprintf(stderr, "statestore-check: %s\n", err.msg);
	return SS_CHECK_IOERR;
}

/* Copies the log to rp->bak (a new file), fsyncs it and the directory.
 * Returns 0 or an exit code. */
static int backup(struct repair *rp, int src)
{
	char buf[64 * 1024];
	int fd = -1, code = SS_CHECK_IOERR;
	long long t = rp->now_ms / 1000;
	off_t off = 0;

	/* Two repairs in one second must not overwrite the first copy. */
	for (int k = 0; fd < 0 && k < 100; k++) {
		free(rp->bak);
		if ((k ? asprintf(&rp->bak, "%s.bak-%lld.%d", rp->log.path, t, k)
		       : asprintf(&rp->bak, "%s.bak-%lld", rp->log.path, t)) < 0) {
			rp->bak = NULL;
			fputs("statestore-check: out of memory\n", stderr);
			return SS_CHECK_IOERR;
		}
		fd = open(rp->bak, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		fprintf(stderr, "statestore-check: cannot create the copy %s: %s\n", rp->bak,
			strerror(errno));
		return SS_CHECK_IOERR;
	}
	for (;;) {
		ssize_t n = pread(src, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "statestore-check: cannot read %s: %s\n", rp->log.path,
				strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (ss_io_pwrite_all(&ss_io_posix, fd, buf, (size_t)n, off) < 0) {
			fprintf(stderr, "statestore-check: cannot write the copy %s: %s\n", rp->bak,
				strerror(errno));
			goto out;
		}
		off += n;
	}
	/* The copy is the only place what we cut survives: durable first. */
	if (fsync(fd) < 0 || ss_io_fsync_dir(&ss_io_posix, rp->dir) < 0) {
		fprintf(stderr, "statestore-check: cannot fsync the copy %s: %s\n", rp->bak,
			strerror(errno));
		goto out;
	}
	code = 0;
out:
	if (close(fd) < 0 && code == 0) {
		fprintf(stderr, "statestore-check: cannot close the copy %s: %s\n", rp->bak,
			strerror(errno));
		code = SS_CHECK_IOERR;
	}
	if (code != 0)
		(void)unlink(rp->bak);
	return code;
}

/* Copies the log aside, then cuts it back to rp->cut_to as a start would
 * (a torn header: a fresh header). Returns 0 or an exit code. */
static int cut(struct repair *rp)
{
	const struct ss_check_report *r = &rp->log.rep;
	struct stat st;
	int fd, code = SS_CHECK_IOERR;

	fd = open(rp->log.path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "statestore-check: cannot open the log %s: %s\n", rp->log.path,
			strerror(errno));
		return SS_CHECK_IOERR;
	}
	/* We hold the lock, so nothing should have written it since we read it. */
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != r->file_bytes) {
		fprintf(stderr, "statestore-check: the log %s changed while it was being read; "
				"nothing done\n",
			rp->log.path);
		goto out;
	}
	code = backup(rp, fd);
	if (code != 0)
		goto out;
	code = SS_CHECK_IOERR;
	if (ss_io_ftruncate(&ss_io_posix, fd, (off_t)rp->cut_to) < 0 ||
	    (r->new_header && ss_io_pwrite_all(&ss_io_posix, fd, SS_LOG_HEADER,
					       sizeof(SS_LOG_HEADER) - 1, 0) < 0) ||
	    ss_io_fdatasync(&ss_io_posix, fd) < 0 || ss_io_fsync_dir(&ss_io_posix, rp->dir) < 0) {
		fprintf(stderr,
			"statestore-check: cannot cut the log %s back to byte offset %llu: %s (the "
			"original is in %s)\n",
			rp->log.path, (ull)rp->cut_to, strerror(errno), rp->bak);
		goto out;
	}
	code = 0;
out:
	close(fd);
	return code;
}

/* What repair will do to a log read as `code`; sets rp->cut_to. Returns -1
 * to go on and cut, or the exit code to stop with (after saying why). */
static int decide(struct repair *rp, int code)
{
	const struct ss_check_report *r = &rp->log.rep;

	switch (code) {
	case SS_CHECK_CLEAN:
		ss_check_print_verdict(stdout, &rp->log, code);
		printf("nothing to repair\n");
		return SS_CHECK_CLEAN;
	case SS_CHECK_TORN:
		ss_check_print_verdict(stdout, &rp->log, code);
		rp->cut_to = r->new_header ? 0 : r->end;
		return -1;
	case SS_CHECK_CORRUPT:
		ss_check_print_verdict(stdout, &rp->log, code);
		if (rp->log.err.kind != SS_ERR_CORRUPT || r->version == 0) {
			printf("repair leaves it alone: it is not a log this build reads\n");
			return SS_CHECK_CORRUPT;
		}
		if (!rp->at_corruption) {
			printf("repair leaves corruption alone: with --truncate-at-corruption it "
			       "would cut the log back to byte offset %llu, the end of the last "
			       "complete group before the damage, dropping the %llu bytes after it "
			       "(acknowledged data among them)\n",
			       (ull)r->end, (ull)(r->file_bytes - r->end));
			return SS_CHECK_CORRUPT;
		}
		rp->cut_to = r->end;
		return -1;
	default:
		return code;
	}
}

/* What the cut takes off the file: the torn bytes a start reports, and
 * the preallocated zeros after them, which no report counts. */
static void print_lost(const struct repair *rp)
{
	const struct ss_check_report *r = &rp->log.rep;
	uint64_t lost = r->file_bytes - rp->cut_to;

	if (rp->log.rc == 0 && lost > r->torn_bytes)
		printf("%llu bytes: %llu torn, then %llu of preallocated zeros", (ull)lost,
		       (ull)r->torn_bytes, (ull)(lost - r->torn_bytes));
	else
		printf("%llu bytes", (ull)lost);
}

int ss_check_repair(int argc, char **argv, int64_t now_ms)
{
	struct repair rp = {.now_ms = now_ms, .lock_fd = -1};
	struct stat st;
	int code, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--dry-run"))
			rp.dry_run = 1;
		else if (!strcmp(argv[i], "--truncate-at-corruption"))
			rp.at_corruption = 1;
		else {
			fprintf(stderr, "statestore-check: unknown option '%s' for repair\n"
					"(statestore-check --help for usage)\n",
				argv[i]);
			return SS_CHECK_USAGE;
		}
	}
	if (argc - i != 1) {
		fputs("statestore-check: repair takes one DIR\n(statestore-check --help for "
		      "usage)\n",
		      stderr);
		return SS_CHECK_USAGE;
	}
	rp.dir = argv[i];
	if (stat(rp.dir, &st) < 0) {
		fprintf(stderr, "statestore-check: cannot read %s: %s\n", rp.dir, strerror(errno));
		return SS_CHECK_IOERR;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "statestore-check: repair takes the data directory (for its %s), "
				"and %s is not a directory\n",
			SS_LOCK_FILE, rp.dir);
		return SS_CHECK_USAGE;
	}
	code = take_lock(&rp);
	if (code != 0)
		goto out;
	code = ss_check_read(&rp.log, rp.dir, 0, now_ms);
	code = decide(&rp, code);
	if (code >= 0)
		goto out;
	if (rp.dry_run) {
		printf("dry run: would copy %s to %s.bak-%lld and cut it back to byte offset "
		       "%llu (",
		       rp.log.path, rp.log.path, (long long)(now_ms / 1000), (ull)rp.cut_to);
		print_lost(&rp);
		printf("); nothing written\n");
		code = rp.log.rc < 0 ? SS_CHECK_CORRUPT : SS_CHECK_TORN;
		goto out;
	}
	code = cut(&rp);
	if (code != 0)
		goto out;
	printf("copied the original log to %s\n", rp.bak);
	printf("cut %s back to byte offset %llu (", rp.log.path, (ull)rp.cut_to);
	print_lost(&rp);
	printf(")\n");
	ss_check_log_free(&rp.log);
	code = ss_check_read(&rp.log, rp.dir, 0, now_ms);
	ss_check_print_verdict(stdout, &rp.log, code);
out:
	ss_check_log_free(&rp.log);
	free(rp.bak);
	if (rp.lock_fd >= 0)
		close(rp.lock_fd); /* releases the flock */
	return code;
}
