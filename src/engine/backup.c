/*
 * backup.c - an online backup's directory and its prefix filter; see
 * backup.h. The backup itself is a compaction that writes elsewhere
 * (store.h: ss_store_backup_begin).
 *
 * Why a directory rename. A backup is a data directory an operator may
 * start statestored on, so a half-written one must never look like one: a
 * daemon started on it would serve an empty or partial store as if it were
 * the backup. It is built under DIR.partial and renamed to DIR only once
 * its log is complete and fdatasync'd and DIR.partial's entry for it is
 * fsync'd; the parent's fsync then makes the rename durable. Killed at any
 * point before the rename, DIR does not exist; after it, DIR is complete.
 * rename(2) replaces an empty directory atomically, so an empty DIR made
 * beforehand (a mount point's subdirectory, say) is a valid target too.
 */
#include "engine/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"
#include "engine/logscan.h"
#include "statestored/batch.h"
#include "statestored/limits.h"
#include "statestored/snapshot.h"

#define LOG_NAME "statestored.log"

void ss_backup_free(struct ss_backup *b)
{
	if (!b)
		return;
	free(b->dir);
	free(b->partial);
	free(b->parent);
	free(b->log);
	free(b->prefix);
	free(b);
}

/* 1 if dir is a directory with no entries, 0 if it has some, -1 with errno. */
static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -1;
	errno = 0;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	int saved = errno;
	closedir(d);
	if (empty && saved) {
		errno = saved;
		return -1;
	}
	return empty;
}

/* Whether the target may be written: 0, or -1 with *err. */
static int check_target(const char *dir, struct ss_error *err)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		ss_error_set(err, SS_ERR_IO, errno, "cannot stat %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		ss_error_set(err, SS_ERR_IO, EEXIST, "%s exists and is not a directory", dir);
		return -1;
	}
	int empty = dir_empty(dir);
	if (empty < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot read the directory %s: %s", dir,
			     strerror(errno));
		return -1;
	}
	if (!empty) {
		ss_error_set(err, SS_ERR_IO, ENOTEMPTY,
			     "%s is not empty: a backup goes to a new or empty directory", dir);
		return -1;
	}
	return 0;
}

/* Whether path (an existing directory) is data_dir itself: 1, 0, or -1
 * with *err. */
static int same_dir(const char *path, const char *data_dir, struct ss_error *err)
{
	char *p = realpath(path, NULL), *d = realpath(data_dir, NULL);
	int r = -1;

	if (!p || !d)
		ss_error_set(err, SS_ERR_IO, errno, "cannot resolve %s: %s", p ? data_dir : path,
			     strerror(errno));
	else
		r = strcmp(p, d) == 0;
	free(p);
	free(d);
	return r;
}

/* Whether name (no slash) is one the store uses in its data directory, now
 * or later: its log and what starts with the log's name (the compaction's
 * temp file, statestore-check repair's copies), and LOCK. */
static int store_name(const char *name)
{
	return strncmp(name, SS_LOG_FILE, strlen(SS_LOG_FILE)) == 0 ||
	       strcmp(name, SS_LOCK_FILE) == 0;
}

int ss_backup_prepare(const struct ss_io *io, const char *dir, const char *data_dir,
		      const char *prefix, size_t plen, struct ss_backup **out,
		      struct ss_error *err)
{
	struct ss_backup *b = calloc(1, sizeof(*b));
	size_t n = strlen(dir);

	(void)io;
	while (n > 1 && dir[n - 1] == '/')
		n--; /* "DIR/" names DIR: DIR.partial, not DIR/.partial */
	if (!b || !(b->dir = strndup(dir, n)) ||
	    asprintf(&b->partial, "%s.partial", b->dir) < 0 || !(b->parent = ss_io_dir_of(b->dir)) ||
	    asprintf(&b->log, "%s/%s", b->partial, LOG_NAME) < 0 ||
	    (plen > 0 && !(b->prefix = strndup(prefix, plen)))) {
		ss_backup_free(b);
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory for a backup to %s", dir);
		return -1;
	}
	b->plen = plen;
	if (check_target(b->dir, err) < 0)
		goto failed;
	b->existed = access(b->dir, F_OK) == 0;
	/* A missing parent is left to mkdir below, which names it. DIR.partial
	 * takes a store's name only if DIR does: DIR's name is what counts. */
	const char *slash = strrchr(b->dir, '/');
	if (data_dir && access(b->parent, F_OK) == 0 && store_name(slash ? slash + 1 : b->dir)) {
		int same = same_dir(b->parent, data_dir, err);
		if (same < 0)
			goto failed;
		if (same) {
			ss_error_set(err, SS_ERR_IO, EINVAL,
				     "%s is a name the store uses in its data directory %s",
				     b->dir, data_dir);
			goto failed;
		}
	}
	if (mkdir(b->partial, 0700) < 0) {
		if (errno == EEXIST)
			ss_error_set(err, SS_ERR_IO, EEXIST,
				     "%s exists: an interrupted backup left it; remove it and retry",
				     b->partial);
		else
			ss_error_set(err, SS_ERR_IO, errno, "cannot create %s: %s", b->partial,
				     strerror(errno));
		goto failed;
	}
	*out = b;
	return 0;
failed:
	ss_backup_free(b);
	return -1;
}

int ss_backup_publish(const struct ss_io *io, const struct ss_backup *b, struct ss_error *err)
{
	if (ss_io_fsync_dir(io, b->partial) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot fsync the directory %s: %s", b->partial,
			     strerror(errno));
		return -1;
	}
	if (ss_io_rename(io, b->partial, b->dir) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot rename %s to %s: %s", b->partial, b->dir,
			     strerror(errno));
		return -1;
	}
	if (ss_io_fsync_dir(io, b->parent) < 0) {
		int saved = errno;
		/* Not durable, and its reply will say it failed: no complete
		 * looking backup may stay behind such a reply. */
		char *log;
		if (asprintf(&log, "%s/%s", b->dir, LOG_NAME) >= 0) {
			(void)ss_io_unlink(io, log);
			free(log);
		}
		(void)rmdir(b->dir);
		/* The empty directory the rename replaced goes back (its mode
		 * and owner are not known any more), best effort. */
		if (b->existed)
			(void)mkdir(b->dir, 0755);
		(void)ss_io_fsync_dir(io, b->parent);
		ss_error_set(err, SS_ERR_IO, saved, "cannot fsync the directory %s after renaming "
			     "the backup to %s: %s", b->parent, b->dir, strerror(saved));
		return -1;
	}
	return 0;
}

void ss_backup_discard(const struct ss_io *io, struct ss_backup *b)
{
	if (!b)
		return;
	(void)ss_io_unlink(io, b->log);
	(void)rmdir(b->partial);
	ss_backup_free(b);
}

/* The prefix filter's state: records kept go to group, which is written to
 * dst whenever it fills. */
struct filter {
	const struct ss_io *io;
	int dst;
	uint64_t off, written;
	const char *prefix;
	size_t plen;
	struct ss_batch group;
	char *scratch; /* a record's fields unescaped */
};

static int flush(struct filter *f)
{
	size_t n;
	const char *p = ss_batch_seal(&f->group, &n);

	if (n > 0 && ss_io_pwrite_all(f->io, f->dst, p, n, (off_t)f->off) < 0)
		return -1;
	f->off += n;
	f->written += n;
	ss_batch_reset(&f->group);
	return 0;
}

/* Whether the tail's record r goes to a backup of the prefix; when it
 * does, *raw is r with its name and value unescaped (into f's scratch). */
static int wanted(struct filter *f, const struct ss_record *r, struct ss_record *raw)
{
	*raw = *r;
	if (r->type == SS_REC_REV)
		return 0; /* ss_backup_write_revision writes the counter at the end */
	if (r->type == SS_REC_EPOCH)
		return 1; /* an epoch belongs to no name: every backup keeps it */
	if (r->esc & SS_REC_NAME_ESC) {
		ss_record_unescape(r->name, r->nlen, f->scratch);
		raw->name = f->scratch;
	}
	raw->nlen = r->nraw;
	if (raw->nlen < f->plen || memcmp(raw->name, f->prefix, f->plen) != 0)
		return 0;
	if (r->type == SS_REC_SET && (r->esc & SS_REC_VALUE_ESC)) {
		ss_record_unescape(r->value, r->vlen, f->scratch + SS_NAME_MAX);
		raw->value = f->scratch + SS_NAME_MAX;
	}
	raw->vlen = r->type == SS_REC_SET ? r->vraw : 0;
	raw->esc = 0;
	return 1;
}

static int keep(void *arg, const struct ss_record *r)
{
	struct filter *f = arg;
	struct ss_record raw;

	if (!wanted(f, r, &raw))
		return 0;
	if ((f->group.nops >= SS_SNAPSHOT_GROUP_MAX || f->group.len >= SS_SNAPSHOT_GROUP_BYTES) &&
	    flush(f) < 0)
		return -1;
	if (ss_batch_add(&f->group, &raw, NULL) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Reads n bytes at off into buf: 0, or -1 with errno (EIO: the file is
 * shorter). */
static int read_at(int fd, char *buf, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		buf += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int ss_backup_copy(const struct ss_io *io, int src, uint64_t from, uint64_t to, int dst,
		   uint64_t dst_off, const char *prefix, size_t plen, uint64_t *written)
{
	struct filter f = {.io = io, .dst = dst, .off = dst_off, .prefix = prefix, .plen = plen};
	size_t cap = 1024 * 1024;
	char *buf = malloc(cap);
	int ret = -1;

	ss_batch_init(&f.group);
	f.scratch = malloc(SS_NAME_MAX + SS_VALUE_MAX);
	if (!buf || !f.scratch) {
		errno = ENOMEM;
		goto out;
	}
	while (from < to) {
		size_t want = to - from < cap ? (size_t)(to - from) : cap;
		struct ss_logscan re;

		if (read_at(src, buf, want, from) < 0)
			goto out;
		/* No second thread: a round's range is small. */
		if (ss_logscan_replay(SS_LOG_VERSION, buf, want, 0, SIZE_MAX, keep, NULL, NULL, &f, &re) <
		    0)
			goto out;
		if (re.good_end == 0 || (re.good_end < want && from + want == to)) {
			/* A group longer than the buffer, or damage. */
			if (from + want == to) {
				errno = EIO;
				goto out;
			}
			char *q = realloc(buf, cap * 2);
			if (!q) {
				errno = ENOMEM;
				goto out;
			}
			buf = q;
			cap *= 2;
			continue;
		}
		from += re.good_end;
	}
	if (flush(&f) < 0)
		goto out;
	ret = 0;
out:
	*written = f.written;
	ss_batch_free(&f.group);
	free(f.scratch);
	free(buf);
	return ret;
}

int ss_backup_write_revision(const struct ss_io *io, int fd, uint64_t off, uint64_t rev,
			     uint64_t *written)
{
	struct ss_batch b;
	struct ss_record r = {.type = SS_REC_REV, .rev = rev};
	size_t n;
	int ret = -1;

	*written = 0;
	/* A store never written is at revision 0, which no REVISION record
	 * may hold (ss_record_check): its backup replays to 0 without one. */
	if (rev == 0)
		return 0;
	ss_batch_init(&b);
	if (ss_batch_add(&b, &r, NULL) < 0)
		goto out; /* errno set: ENOMEM, or EINVAL for a bad record */
	const char *p = ss_batch_seal(&b, &n);
	if (ss_io_pwrite_all(io, fd, p, n, (off_t)off) < 0)
		goto out;
	*written = n;
	ret = 0;
out:
	ss_batch_free(&b);
	return ret;
}
