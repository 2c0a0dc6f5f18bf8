/*
 * statestored-faulty: the real daemon with failures injected through its I/O
 * table, for integration tests. Never installed; not built into statestored.
 *
 * SS_FAULT selects the failure; it fires on log writes whose bytes contain
 * the marker SS_FAULT_MARK (default "INJECT_FAULT"), so a test chooses
 * exactly which request fails by putting the marker in its value:
 *
 *   pwrite:ENOSPC   a write containing the marker fails with ENOSPC
 *   pwrite:EIO      ... with EIO
 *   short:ENOSPC    such a write stores half its bytes, returns that short
 *                   count, and the retry for the rest fails with ENOSPC
 *   fdatasync:EIO   the first fdatasync after such a write fails with EIO
 *
 * Without SS_FAULT it behaves exactly like statestored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statestored/daemon.h"

struct fault {
	enum { F_NONE, F_PWRITE, F_SHORT, F_FDATASYNC } kind;
	int err;
	const char *mark;
	int armed;     /* fdatasync: a marked write happened */
	int short_due; /* short: the retry of a short write must fail */
};

static int f_open(void *ctx, const char *path, int flags, mode_t mode)
{
	(void)ctx;
	return ss_io_posix.open(ss_io_posix.ctx, path, flags, mode);
}

static int f_close(void *ctx, int fd)
{
	(void)ctx;
	return ss_io_posix.close(ss_io_posix.ctx, fd);
}

static ssize_t f_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	struct fault *f = ctx;
	int marked = memmem(buf, n, f->mark, strlen(f->mark)) != NULL;

	if (f->short_due) {
		f->short_due = 0;
		errno = f->err;
		return -1;
	}
	if (marked && f->kind == F_PWRITE) {
		errno = f->err;
		return -1;
	}
	if (marked && f->kind == F_SHORT && n > 1) {
		ssize_t w = ss_io_posix.pwrite(ss_io_posix.ctx, fd, buf, n / 2, off);
		if (w > 0)
			f->short_due = 1;
		return w;
	}
	if (marked && f->kind == F_FDATASYNC)
		f->armed = 1;
	return ss_io_posix.pwrite(ss_io_posix.ctx, fd, buf, n, off);
}

static int f_fdatasync(void *ctx, int fd)
{
	struct fault *f = ctx;
	if (f->armed) {
		f->armed = 0;
		errno = f->err;
		return -1;
	}
	return ss_io_posix.fdatasync(ss_io_posix.ctx, fd);
}

static int f_fsync(void *ctx, int fd)
{
	(void)ctx;
	return ss_io_posix.fsync(ss_io_posix.ctx, fd);
}

static int f_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ss_io_posix.ftruncate(ss_io_posix.ctx, fd, len);
}

static int f_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return ss_io_posix.rename(ss_io_posix.ctx, from, to);
}

static int f_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return ss_io_posix.unlink(ss_io_posix.ctx, path);
}

static int parse_fault(const char *spec, struct fault *f)
{
	static const struct {
		const char *name;
		int err;
	} errs[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EINTR", EINTR}, {"EDQUOT", EDQUOT}};
	const char *colon = strchr(spec, ':');

	if (!colon)
		return -1;
	size_t kl = (size_t)(colon - spec);
	if (kl == 6 && !strncmp(spec, "pwrite", kl))
		f->kind = F_PWRITE;
	else if (kl == 5 && !strncmp(spec, "short", kl))
		f->kind = F_SHORT;
	else if (kl == 9 && !strncmp(spec, "fdatasync", kl))
		f->kind = F_FDATASYNC;
	else
		return -1;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		if (!strcmp(colon + 1, errs[i].name)) {
			f->err = errs[i].err;
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct fault f = {.kind = F_NONE, .mark = getenv("SS_FAULT_MARK")};
	const char *spec = getenv("SS_FAULT");

	if (!f.mark || !*f.mark)
		f.mark = "INJECT_FAULT";
	if (spec && *spec && parse_fault(spec, &f) < 0) {
		fprintf(stderr, "statestored-faulty: bad SS_FAULT '%s'\n", spec);
		return 2;
	}
	struct ss_io io = {
		.ctx = &f,
		.open = f_open,
		.close = f_close,
		.pwrite = f_pwrite,
		.fdatasync = f_fdatasync,
		.fsync = f_fsync,
		.ftruncate = f_ftruncate,
		.rename = f_rename,
		.unlink = f_unlink,
	};
	return ss_daemon_main(argc, argv, &io);
}
