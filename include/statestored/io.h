/*
 * io.h - the table of file-system calls the engine makes.
 *
 * Every call on a write path goes through one of these pointers, so a test
 * can swap in a version that fails (EIO, ENOSPC, EINTR, short writes) or that
 * records the call for crash-state exploration. Each function has the
 * contract of the POSIX call it is named after (return value and errno), with
 * an extra first argument, ctx, which is the struct's own ctx field.
 *
 * Reads (replay) map the file with plain mmap(2): they do not change what
 * is on disk.
 */
#ifndef STATESTORED_IO_H
#define STATESTORED_IO_H

#include <sys/types.h>

struct ss_io {
	void *ctx;
	int (*open)(void *ctx, const char *path, int flags, mode_t mode);
	int (*close)(void *ctx, int fd);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, off_t off);
	int (*fdatasync)(void *ctx, int fd);
	int (*fsync)(void *ctx, int fd); /* used for directories */
	int (*ftruncate)(void *ctx, int fd, off_t len);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
};

/* The real calls. */
extern const struct ss_io ss_io_posix;

/* Writes all n bytes at off, retrying EINTR and short writes. Returns 0, or
 * -1 with errno set (a short write that makes no progress is EIO). */
int ss_io_pwrite_all(const struct ss_io *io, int fd, const void *buf, size_t n, off_t off);

/* fdatasync/fsync that retry EINTR only. Return 0 or -1 with errno. A
 * failure must not be retried on the same data by callers: see store.h. */
int ss_io_fdatasync(const struct ss_io *io, int fd);
int ss_io_fsync_dir(const struct ss_io *io, const char *dir);

/* open, ftruncate, rename and unlink through io, retried on EINTR (an
 * interrupted call did nothing), with the POSIX call's contract otherwise.
 * The engine makes these calls only through these helpers. */
int ss_io_open(const struct ss_io *io, const char *path, int flags, mode_t mode);
int ss_io_ftruncate(const struct ss_io *io, int fd, off_t len);
int ss_io_rename(const struct ss_io *io, const char *from, const char *to);
int ss_io_unlink(const struct ss_io *io, const char *path);

/* The directory that holds path ("." for a bare name), malloc'd; NULL when
 * out of memory. */
char *ss_io_dir_of(const char *path);

#endif
