/*
 * io.c - the real file-system calls behind struct ss_io, and the loops every
 * caller needs around them.
 *
 * The engine never calls open/pwrite/fdatasync/... directly on a write path:
 * it calls through a struct ss_io, so a test can hand it a table whose calls
 * fail on cue (tests/support/sstest.c). ss_io_posix is the production table;
 * its functions ignore ctx and keep the POSIX contract exactly.
 *
 * The helpers below are where the retry policy lives, in one place:
 *   - pwrite is retried on EINTR and after a short write, from where it
 *     stopped; a call that makes no progress is EIO, so a device that keeps
 *     returning 0 cannot spin us forever;
 *   - fdatasync/fsync are retried on EINTR only. Any other failure is final:
 *     after a failed fsync the kernel may have dropped the dirty pages and
 *     marked them clean, so a second fsync that "succeeds" proves nothing.
 *     The store turns such a failure into a poisoned state (store.h).
 *   - open, ftruncate, rename and unlink are retried on EINTR, which means
 *     the call did nothing. It is rare on local file systems, less so on
 *     network and FUSE ones; without the retry one interrupted call failed
 *     a startup or a compaction - and after the compaction's rename, where
 *     the directory is opened to be fsync'd, poisoned the store until a
 *     restart.
 *   - close is never retried: on Linux the descriptor is gone even when
 *     close reports EINTR, and a retry could close someone else's.
 */
#include "statestored/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int posix_open(void *ctx, const char *path, int flags, mode_t mode)
{
	(void)ctx;
	return open(path, flags, mode);
}

static int posix_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

static ssize_t posix_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	(void)ctx;
	return pwrite(fd, buf, n, off);
}

static int posix_fdatasync(void *ctx, int fd)
{
	(void)ctx;
#ifdef SS_BENCH_NOSYNC
	/* Bench-only builds measure everything but the disk flush. NOT
	 * durable; never ship one. */
	(void)fd;
	return 0;
#else
	return fdatasync(fd);
#endif
}

static int posix_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd);
}

static int posix_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ftruncate(fd, len);
}

static int posix_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to);
}

static int posix_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path);
}

const struct ss_io ss_io_posix = {
	.ctx = NULL,
	.open = posix_open,
	.close = posix_close,
	.pwrite = posix_pwrite,
	.fdatasync = posix_fdatasync,
	.fsync = posix_fsync,
	.ftruncate = posix_ftruncate,
	.rename = posix_rename,
	.unlink = posix_unlink,
};

int ss_io_pwrite_all(const struct ss_io *io, int fd, const void *buf, size_t n, off_t off)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = io->pwrite(io->ctx, fd, p, n, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int ss_io_fdatasync(const struct ss_io *io, int fd)
{
	int r;

	do
		r = io->fdatasync(io->ctx, fd);
	while (r < 0 && errno == EINTR);
	return r;
}

int ss_io_open(const struct ss_io *io, const char *path, int flags, mode_t mode)
{
	int fd;

	do
		fd = io->open(io->ctx, path, flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

int ss_io_ftruncate(const struct ss_io *io, int fd, off_t len)
{
	int r;

	do
		r = io->ftruncate(io->ctx, fd, len);
	while (r < 0 && errno == EINTR);
	return r;
}

int ss_io_rename(const struct ss_io *io, const char *from, const char *to)
{
	int r;

	do
		r = io->rename(io->ctx, from, to);
	while (r < 0 && errno == EINTR);
	return r;
}

int ss_io_unlink(const struct ss_io *io, const char *path)
{
	int r;

	do
		r = io->unlink(io->ctx, path);
	while (r < 0 && errno == EINTR);
	return r;
}

int ss_io_fsync_dir(const struct ss_io *io, const char *dir)
{
	int fd = ss_io_open(io, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int r, saved;

	if (fd < 0)
		return -1;
	do
		r = io->fsync(io->ctx, fd);
	while (r < 0 && errno == EINTR);
	saved = errno;
	io->close(io->ctx, fd);
	errno = saved;
	return r;
}

char *ss_io_dir_of(const char *path)
{
	char *p = strdup(path);
	size_t n;
	char *slash;

	if (!p)
		return NULL;
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		free(p);
		return strdup(".");
	}
	slash[slash == p ? 1 : 0] = '\0';
	return p;
}
