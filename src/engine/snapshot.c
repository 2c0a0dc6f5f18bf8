/*
 * snapshot.c - a table's live state written out as a complete log file.
 *
 * The snapshot is an ordinary log (record.h): the header, a REVISION record
 * with the table's revision, then for each live entry its history as
 * SET_CHECKPOINT records, oldest first and without expiry, and last the
 * current version with its expiry (the same absolute time as before). Each
 * record keeps its revision and commit time, and replaying a version over
 * the one before pushes that one into the history, so a compacted log
 * replays to exactly the state it was taken from, histories included.
 * Expired entries are left out.
 *
 * Records are framed in groups as every log write is: a group closes at
 * SS_SNAPSHOT_GROUP_MAX records or at about 1 MB, and each group is one
 * write. So a table of millions of small entries costs a few hundred writes,
 * not millions, and replay's per-group array stays small. A group is built
 * with the same ss_batch code as a commit, so there is one framing, not two.
 * The file is fdatasync'd before this returns: a caller may rename it over
 * the log only once its contents are durable, or a crash after the rename
 * could leave a log with holes.
 *
 * Nothing here touches the store, so it can run in a forked child over the
 * parent's copy-on-write table while the parent keeps serving (store.h).
 */
#include "statestored/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "statestored/batch.h"
#include "statestored/io.h"
#include "statestored/record.h"
#include "statestored/table.h"

#define SNAPSHOT_GROUP_BYTES (1024 * 1024) /* a group closes past this size */

typedef unsigned long long ull;

static void write_failed(struct ss_error *err, const char *path, off_t off)
{
	ss_error_set(err, SS_ERR_IO, errno, "cannot write %s at byte offset %llu: %s", path,
		     (ull)off, strerror(errno));
}

/* Writes b's group at *off and empties b. */
static int flush(const struct ss_io *io, int fd, struct ss_batch *b, off_t *off)
{
	size_t n;
	const char *p = ss_batch_seal(b, &n);

	if (n > 0 && ss_io_pwrite_all(io, fd, p, n, *off) < 0)
		return -1;
	*off += (off_t)n;
	ss_batch_reset(b);
	return 0;
}

/* Adds r to b, flushing b first when it is full. */
static int add(const struct ss_io *io, int fd, struct ss_batch *b, const struct ss_record *r,
	       off_t *off, const char *path, struct ss_error *err)
{
	if ((b->nops == SS_SNAPSHOT_GROUP_MAX || b->len >= SNAPSHOT_GROUP_BYTES) &&
	    flush(io, fd, b, off) < 0) {
		write_failed(err, path, *off);
		return -1;
	}
	if (ss_batch_add(b, r, NULL) < 0) {
		ss_error_set(err, errno == ENOMEM ? SS_ERR_NOMEM : SS_ERR_IO, errno,
			     "cannot add the entry %.*s to %s: %s", (int)(r->nlen < 64 ? r->nlen : 64),
			     r->name, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Adds the versions of e, oldest first, the current one with its expiry. */
static int add_entry(const struct ss_io *io, int fd, struct ss_batch *b, const struct ss_table *t,
		     const struct ss_entry *e, int64_t now_ms, struct ss_version *v, size_t nv,
		     off_t *off, const char *path, struct ss_error *err)
{
	size_t n = nv > 1 ? ss_table_history(t, e->name, e->nlen, now_ms, v, nv) : 0;

	for (size_t i = n; i-- > 1;) {
		struct ss_record r = {.type = SS_REC_SET, .name = e->name, .nlen = e->nlen,
				      .value = v[i].value, .vlen = v[i].vlen, .rev = v[i].rev,
				      .commit_ms = v[i].commit_ms};
		if (add(io, fd, b, &r, off, path, err) < 0)
			return -1;
	}
	struct ss_record r = {.type = SS_REC_SET, .name = e->name, .nlen = e->nlen,
			      .value = e->value, .vlen = e->vlen, .expire_ms = e->expire_ms,
			      .rev = e->rev, .commit_ms = e->commit_ms};
	return add(io, fd, b, &r, off, path, err);
}

int ss_snapshot_write(const struct ss_table *t, int64_t now_ms, const char *path,
		      const struct ss_io *io, struct ss_error *err)
{
	struct ss_batch b;
	size_t cursor = 0;
	off_t off = 0;
	struct ss_entry e;
	size_t nv = (size_t)ss_table_history_depth(t) + 1;
	struct ss_version *v = NULL;
	int fd = -1, created = 0, ret = -1;

	ss_batch_init(&b);
	if (nv > 1 && !(v = malloc(nv * sizeof(*v)))) {
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory writing %s", path);
		goto out;
	}
	fd = ss_io_open(io, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	created = 1;
	if (ss_io_pwrite_all(io, fd, SS_LOG_HEADER, sizeof(SS_LOG_HEADER) - 1, 0) < 0) {
		write_failed(err, path, off);
		goto out;
	}
	off = sizeof(SS_LOG_HEADER) - 1;
	/* The counter first: the entries that raised it may all be gone. */
	if (ss_table_revision(t) > 0) {
		struct ss_record rev = {.type = SS_REC_REV, .rev = ss_table_revision(t)};
		if (add(io, fd, &b, &rev, &off, path, err) < 0)
			goto out;
	}
	while (ss_table_next(t, &cursor, &e)) {
		if (e.expire_ms != 0 && e.expire_ms <= now_ms)
			continue;
		if (add_entry(io, fd, &b, t, &e, now_ms, v, nv, &off, path, err) < 0)
			goto out;
	}
	if (flush(io, fd, &b, &off) < 0) {
		write_failed(err, path, off);
		goto out;
	}
	if (ss_io_fdatasync(io, fd) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot fdatasync %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0 && io->close(io->ctx, fd) < 0 && ret == 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot close %s: %s", path, strerror(errno));
		ret = -1;
	}
	if (ret < 0 && created)
		(void)ss_io_unlink(io, path);
	free(v);
	ss_batch_free(&b);
	return ret;
}
