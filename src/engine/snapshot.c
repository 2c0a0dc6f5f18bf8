/*
 * snapshot.c - a table's live state written out as a complete log file.
 *
 * The snapshot is an ordinary log (record.h): the header, then one
 * SET_CHECKPOINT record per live entry, its expiry the same absolute time as
 * before, so a compacted log replays to exactly the state it was taken from.
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

int ss_snapshot_write(const struct ss_table *t, int64_t now_ms, const char *path,
		      const struct ss_io *io, struct ss_error *err)
{
	struct ss_batch b;
	size_t cursor = 0;
	off_t off = 0;
	struct ss_entry e;
	int fd = -1, created = 0, ret = -1;

	ss_batch_init(&b);
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
	while (ss_table_next(t, &cursor, &e)) {
		struct ss_record r = {.type = SS_REC_SET,
				      .name = e.name,
				      .nlen = e.nlen,
				      .value = e.value,
				      .vlen = e.vlen,
				      .expire_ms = e.expire_ms};

		if (e.expire_ms != 0 && e.expire_ms <= now_ms)
			continue;
		if (ss_batch_add(&b, &r, NULL) < 0) {
			ss_error_set(err, errno == ENOMEM ? SS_ERR_NOMEM : SS_ERR_IO, errno,
				     "cannot add the entry %.*s to %s: %s", (int)(e.nlen < 64 ? e.nlen : 64),
				     e.name, path, strerror(errno));
			goto out;
		}
		if ((b.nops == SS_SNAPSHOT_GROUP_MAX || b.len >= SNAPSHOT_GROUP_BYTES) &&
		    flush(io, fd, &b, &off) < 0) {
			write_failed(err, path, off);
			goto out;
		}
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
	ss_batch_free(&b);
	return ret;
}
