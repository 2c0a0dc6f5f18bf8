/*
 * snapshot.c - a table's live state written out as a complete log file.
 *
 * The snapshot is an ordinary log (record.h): the header, then one
 * SET_CHECKPOINT record per live entry, its expiry the same absolute time as
 * before, so a compacted log replays to exactly the state it was taken from.
 * Expired entries are left out.
 *
 * Records are encoded into one large buffer and written a buffer at a time,
 * so a table of millions of small entries costs a few hundred writes, not
 * millions. The file is fdatasync'd before this returns: a caller may rename
 * it over the log only once its contents are durable, or a crash after the
 * rename could leave a log with holes.
 *
 * Nothing here touches the store, so a later version can run it in a forked
 * child over the parent's copy-on-write table while the parent keeps
 * serving.
 */
#include "statestored/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "statestored/io.h"
#include "statestored/record.h"
#include "statestored/table.h"

#define SNAPSHOT_BUF (1024 * 1024) /* must exceed SS_RECORD_MAX */

typedef unsigned long long ull;

/* Writes buf[0..*len) at *off and empties the buffer. */
static int flush(const struct ss_io *io, int fd, const char *buf, size_t *len, off_t *off)
{
	if (ss_io_pwrite_all(io, fd, buf, *len, *off) < 0)
		return -1;
	*off += (off_t)*len;
	*len = 0;
	return 0;
}

int ss_snapshot_write(const struct ss_table *t, int64_t now_ms, const char *path,
		      const struct ss_io *io, struct ss_error *err)
{
	char *buf = NULL;
	size_t len = 0, cursor = 0;
	off_t off = 0;
	struct ss_entry e;
	int fd = -1, created = 0, failed = 0, ret = -1;

	buf = malloc(SNAPSHOT_BUF);
	if (!buf) {
		ss_error_set(err, SS_ERR_NOMEM, ENOMEM, "out of memory compacting into %s", path);
		goto out;
	}
	fd = ss_io_open(io, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	created = 1;
	memcpy(buf, SS_LOG_HEADER, sizeof(SS_LOG_HEADER) - 1);
	len = sizeof(SS_LOG_HEADER) - 1;
	while (ss_table_next(t, &cursor, &e)) {
		struct ss_record r = {.type = SS_REC_SET,
				      .name = e.name,
				      .nlen = e.nlen,
				      .value = e.value,
				      .vlen = e.vlen,
				      .expire_ms = e.expire_ms};

		if (e.expire_ms != 0 && e.expire_ms <= now_ms)
			continue;
		if (SNAPSHOT_BUF - len < SS_RECORD_MAX && (failed = flush(io, fd, buf, &len, &off)))
			break;
		len += ss_record_encode(&r, buf + len);
	}
	if (failed || flush(io, fd, buf, &len, &off) < 0) {
		ss_error_set(err, SS_ERR_IO, errno, "cannot write %s at byte offset %llu: %s", path,
			     (ull)off, strerror(errno));
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
	free(buf);
	return ret;
}
