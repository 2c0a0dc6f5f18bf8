/*
 * snapshot.h - writing a table's live state as a complete log file.
 *
 * Compaction is "write a snapshot to a temp file, then make it the log"
 * (store.h). This is the first half, kept free of store state so that it can
 * run in a forked child that has only a copy of the table and a path.
 */
#ifndef STATESTORED_SNAPSHOT_H
#define STATESTORED_SNAPSHOT_H

#include <stdint.h>

struct ss_error;
struct ss_io;
struct ss_table;

/* Writes path (created or truncated) as a log: the header and one SET record
 * per entry of t unexpired at now_ms (expiry kept absolute), in large
 * buffered writes through io, then fdatasyncs and closes it. Does not touch
 * t. Returns 0, or -1 with *err (SS_ERR_IO, SS_ERR_NOMEM), in which case path
 * has been unlinked. The caller makes the file the log (rename, fsync of the
 * directory). */
int ss_snapshot_write(const struct ss_table *t, int64_t now_ms, const char *path,
		      const struct ss_io *io, struct ss_error *err);

#endif
