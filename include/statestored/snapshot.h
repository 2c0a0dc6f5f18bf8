/*
 * snapshot.h - a table's live state as the bytes of a complete log file,
 * produced in steps while the table keeps changing.
 *
 * Compaction is "write a snapshot to a temp file, then make it the log"
 * (store.h). This is the first half. It does no I/O: each step walks a
 * bounded part of the table and appends sealed groups to an output buffer,
 * which the caller writes where and when it likes (the server hands it to
 * a helper thread; ss_snapshot_write writes it in one go).
 *
 * The walk is fuzzy: the table may change between steps, and the walk is
 * ss_table_scan's, so an entry present for the whole walk is written at
 * least once (however the table resizes), and one changed meanwhile may be
 * written as it was before the change, after it, or twice. That is safe
 * because the compacted log is this snapshot followed by the tail - every
 * batch logged since the walk began (store.h) - and replay skips a record
 * whose name already holds its revision or a newer one
 * (ss_table_set_newer): a version the walk already took is not applied
 * twice, and everything after it is. A name deleted meanwhile has its DEL
 * in the tail. The REVISION record comes first, with the store's revision
 * as the walk began: the counter survives even if every entry that raised
 * it is gone. The table's epoch history (table.h) follows it, one EPOCH
 * record per epoch. If commits raised the revision during the walk, a
 * second REVISION record ends the snapshot with the revision as the walk
 * ended: the walk may have taken versions up to it, so a cut of the log
 * (store.h: truncate) to any revision below it is refused, not made
 * wrong.
 */
#ifndef STATESTORED_SNAPSHOT_H
#define STATESTORED_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/batch.h"

/* Most records in one group of a snapshot; a group also closes once its
 * records pass SS_SNAPSHOT_GROUP_BYTES (so a group is at most that plus
 * one record). */
#define SS_SNAPSHOT_GROUP_MAX 4096
#define SS_SNAPSHOT_GROUP_BYTES (1024 * 1024)
/* The walk's cursor positions are blocks of home buckets
 * (ss_table_scan) whose entries hold about this much memory on average,
 * at most SS_SCAN_BLOCK_SNAPSHOT buckets: a step's work stays small
 * whether values are 10 bytes or 64 KB. */
#define SS_SNAPSHOT_BLOCK_BYTES (64 * 1024)

struct ss_error;
struct ss_io;
struct ss_table;
struct ss_version;

/* Bytes produced and not yet taken by the caller. */
struct ss_snapshot_out {
	char *p;
	size_t len, cap;
};

struct ss_snapshot {
	struct ss_table *t;
	int64_t now_ms;   /* entries expired at this time are left out */
	const char *prefix; /* set after init to walk only the names that start */
	size_t plen;        /* with prefix[0..plen) (a backup's); 0: every name */
	uint64_t cursor;  /* ss_table_scan's */
	size_t block;     /* ... and its block, chosen at init */
	int done;         /* the walk is over and its last group is in out */
	struct ss_batch group;     /* the group being filled */
	struct ss_snapshot_out out;
	struct ss_version *v;      /* room for an entry's versions */
	size_t nv;
	uint64_t entries, records; /* written so far */
	uint64_t rev_begin;        /* the table's revision as the walk began */
	struct ss_error *err;      /* where a step's failure goes */
	int failed;
};

/* Starts a snapshot of t, leaving out entries expired at now_ms, and puts
 * the log header, the REVISION record and the table's EPOCH records (all
 * of them, whatever the prefix) in the output, whose buffer is
 * given `reserve` bytes up front (so that it need not grow while the walk
 * fills it). Returns 0, or -1 with *err (SS_ERR_NOMEM); ss_snapshot_free
 * in either case. */
int ss_snapshot_init(struct ss_snapshot *s, struct ss_table *t, int64_t now_ms, size_t reserve,
		     struct ss_error *err);

/* Makes o's buffer hold at least cap bytes. Returns 0, or -1 (ENOMEM). */
int ss_snapshot_out_reserve(struct ss_snapshot_out *o, size_t cap);

/* Walks about `buckets` home buckets of the table, at least one cursor
 * position (ss_table_scan: 1 walks exactly one position),
 * appending one SET record per version of each live entry found - its
 * history oldest first, then the current version with its expiry - to the
 * open group, and each group that fills to the output. When the walk ends
 * the last group is sealed too. Returns 1 while there is more to walk, 0
 * once done, -1 with *err (SS_ERR_NOMEM: the snapshot is unusable). */
int ss_snapshot_step(struct ss_snapshot *s, size_t buckets, struct ss_error *err);

/* Hands the output over: swaps s's output buffer with *o, which should be
 * empty (len 0; its memory is reused). */
void ss_snapshot_take(struct ss_snapshot *s, struct ss_snapshot_out *o);

void ss_snapshot_free(struct ss_snapshot *s);
void ss_snapshot_out_free(struct ss_snapshot_out *o);

/* The whole snapshot in one call, for a table nothing changes meanwhile:
 * writes path (created or truncated) through io, fdatasyncs and closes it.
 * Returns 0, or -1 with *err (SS_ERR_IO, SS_ERR_NOMEM), in which case path
 * has been unlinked. The caller makes the file the log
 * (ss_store_compact_finish). */
int ss_snapshot_write(struct ss_table *t, int64_t now_ms, const char *path, const struct ss_io *io,
		      struct ss_error *err);

#endif
