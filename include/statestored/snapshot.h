/*
 * snapshot.h - writing a table's live state as a complete log file.
 *
 * Compaction is "write a snapshot to a temp file, then make it the log"
 * (store.h). This is the first half, kept free of store state so that it
 * runs in a forked child that has only a copy of the table and a path.
 */
#ifndef STATESTORED_SNAPSHOT_H
#define STATESTORED_SNAPSHOT_H

#include <stdint.h>

/* Most records in one group of a snapshot (a group also closes at about
 * 1 MB of records). */
#define SS_SNAPSHOT_GROUP_MAX 4096

struct ss_error;
struct ss_io;
struct ss_table;

/* Writes path (created or truncated) as a log: the header and one SET record
 * per entry of t unexpired at now_ms (expiry kept absolute), framed in
 * groups of at most SS_SNAPSHOT_GROUP_MAX records, one write per group
 * through io, then fdatasyncs and closes it. Does not touch t. Returns 0,
 * or -1 with *err (SS_ERR_IO, SS_ERR_NOMEM), in which case path has been
 * unlinked. The caller makes the file the log (ss_store_compact_finish). */
int ss_snapshot_write(const struct ss_table *t, int64_t now_ms, const char *path,
		      const struct ss_io *io, struct ss_error *err);

#endif
