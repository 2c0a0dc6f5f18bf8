/*
 * table.h - the in-memory map from pipeline name to checkpoint, with each
 * checkpoint's revision, commit time and last versions.
 *
 * An open-addressing hash table whose entries live in slabs: one small
 * allocation per entry is avoided so that memory per entry stays low at
 * 10M+ entries. Growth is incremental: when the table doubles, a few old
 * slots move to the new array on every operation, so no single call pays for
 * a full rehash.
 *
 * Expiry is an absolute unix time in milliseconds, 0 meaning "never". An
 * entry is expired when now_ms >= expire_ms. Expired entries are removed
 * lazily: by the lookup that finds them, or by ss_table_expire_some.
 * The table never reads a clock: callers pass now_ms.
 *
 * Every entry carries the revision of its last change (mod_revision) and
 * the unix ms of that commit. With a history depth N > 0 it also keeps up
 * to N earlier versions (revision, commit time, value), newest first: a
 * set over a live entry pushes the version it replaces; a del, an expiry
 * or a set over an expired entry drops them all. The table also holds the
 * store's revision counter, so a snapshot taken from it carries the
 * counter even when the entries that bumped it are gone.
 *
 * Names and values may hold any byte; their limits (limits.h) are the
 * caller's to check.
 *
 * The table does no I/O and knows nothing of the log.
 */
#ifndef STATESTORED_TABLE_H
#define STATESTORED_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct ss_table;

/* The most earlier versions an entry may keep (--history), and the
 * daemon's default: see the README's "Memory" for what a version costs. */
#define SS_HISTORY_MAX 1000
#define SS_HISTORY_DEFAULT 4

/* A read-only view of one entry. The pointers stay valid until the next call
 * that changes the table (set, del, get on an expired entry, expire_some).
 * value may point into buf (a value the table stores packed is unpacked
 * there), so a copy of the struct must not be read through its value. */
struct ss_entry {
	const char *name;
	size_t nlen;
	const char *value;
	size_t vlen;
	int64_t expire_ms; /* 0: no expiry */
	uint64_t rev;      /* revision of the last change */
	int64_t commit_ms; /* unix ms of that commit */
	char buf[48];
};

/* One version of an entry (ss_table_history); value as in ss_entry. */
struct ss_version {
	uint64_t rev;
	int64_t commit_ms;
	const char *value;
	size_t vlen;
	char buf[48];
};

/* Returns a new empty table that keeps `history` (0..SS_HISTORY_MAX)
 * earlier versions per entry, or NULL with errno ENOMEM (EINVAL for a
 * depth out of range). */
struct ss_table *ss_table_new(unsigned history);
void ss_table_free(struct ss_table *t);

/* The history depth the table was made with. */
unsigned ss_table_history_depth(const struct ss_table *t);

/* Inserts or replaces name with value, expiry, revision and commit time.
 * Over a live entry (unexpired at now_ms) the replaced version joins the
 * history (the oldest beyond the depth is dropped); over an expired one the
 * history is dropped. name and value are copied. Also raises the table's
 * revision to rev if it is lower. Returns 0, or -1 with errno ENOMEM, in
 * which case the table is unchanged. */
int ss_table_set(struct ss_table *t, const char *name, size_t nlen, const char *value,
		 size_t vlen, int64_t expire_ms, uint64_t rev, int64_t commit_ms, int64_t now_ms);

/* ss_table_set for a log's records (e's name, value, expiry, revision and
 * commit time; e->buf is not read): the same, except that if an entry
 * under the name - live or expired - already holds e->rev or a newer
 * revision, it is left as it is (the table's revision still rises to
 * e->rev) and 1 is returned. For replay: the daemon appends each name's
 * revisions strictly rising, so this only ever skips a record of a
 * compacted log that its fuzzy snapshot already holds (snapshot.h).
 * Returns 0, 1, or -1 with errno ENOMEM. */
int ss_table_set_newer(struct ss_table *t, const struct ss_entry *e, int64_t now_ms);

/* The store's revision: the highest revision ever given to the table by
 * set or ss_table_note_revision (0 for a new table). Never goes down. */
uint64_t ss_table_revision(const struct ss_table *t);
void ss_table_note_revision(struct ss_table *t, uint64_t rev);

/* Replication's epoch history (record.h, EPOCH): epoch `epoch` began after
 * revision `rev`. The table keeps it for the log's sake, as it keeps the
 * revision counter: a snapshot writes it all again. */
struct ss_epoch {
	uint64_t epoch, rev;
};

/* Adds epoch (>= 1) beginning after rev to the history, which stays sorted
 * by epoch. An epoch already in it is ignored, whatever its rev: replaying
 * a snapshot and then its tail may meet one twice, and the first is the
 * one written first. Does not touch the revision counter: an epoch takes
 * no revision. Returns 0, or -1 with errno ENOMEM (the table unchanged). */
int ss_table_note_epoch(struct ss_table *t, uint64_t epoch, uint64_t rev);

/* The highest epoch in the history, 0 if there is none. */
uint64_t ss_table_epoch(const struct ss_table *t);

/* The whole history, ascending by epoch: sets *out (valid until the next
 * ss_table_note_epoch or ss_table_free) and returns its length; *out is
 * NULL when it is 0. */
size_t ss_table_epochs(const struct ss_table *t, const struct ss_epoch **out);

/* The versions of name, live at now_ms, newest first: [0] is the current
 * one, then up to the depth earlier ones. Fills at most max of out and
 * returns how many it filled; 0 if name is missing or expired (an expired
 * entry is left for a mutating call to remove). The pointers in out stay
 * valid as ss_entry's do. */
size_t ss_table_history(const struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
			struct ss_version *out, size_t max);

/* Looks name up. Returns 1 and fills *out if it is present and unexpired at
 * now_ms; returns 0 if missing. An expired entry found here is removed.
 * Finding a live entry changes nothing (in particular it does not advance a
 * resize), so gets may be interleaved with an ss_table_next iteration. */
int ss_table_get(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
		 struct ss_entry *out);

/* Replay's hint, for a name it will set soon: stage 0 starts loading the
 * slot where its probe starts, stage 1 (once that slot is in cache) the
 * entry that slot refers to. Changes nothing and may be skipped. A replay
 * is bound by these cache misses: hinting a few records ahead lets them
 * overlap. */
void ss_table_prefetch(const struct ss_table *t, const char *name, size_t nlen, int stage);

/* Removes name. Returns 1 if it was present and unexpired at now_ms, else 0
 * (an expired entry is removed all the same). */
int ss_table_del(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms);

/* Number of entries held, including expired ones not yet removed. */
size_t ss_table_count(const struct ss_table *t);

/* Bytes of memory the table holds (arrays and slabs), for STATS. */
size_t ss_table_memory(const struct ss_table *t);

/* Returns 1 while an incremental resize is in progress (entries are being
 * moved from the old slot array to the doubled one), 0 otherwise. For STATS
 * and for tests that must exercise both arrays. */
int ss_table_resizing(const struct ss_table *t);

/* Background expiry: examines at most max_slots slots starting at *cursor,
 * removes the expired entries among them and advances *cursor (wrapping to
 * 0). Returns the number removed. Start with *cursor = 0. Calling it
 * repeatedly sweeps the whole table, so every entry expired at now_ms is
 * eventually removed. It also advances a resize in progress by a bounded
 * step, so a table that only sees gets still finishes resizing. */
size_t ss_table_expire_some(struct ss_table *t, int64_t now_ms, size_t max_slots,
			    size_t *cursor);

/* Home buckets per cursor position: the listing's (LIST_CHECKPOINTS and
 * SCAN, where a call may finish its block past COUNT, so a block stays
 * small) and the snapshot's (larger, for fewer names hashed at block
 * edges). */
#define SS_SCAN_BLOCK_LIST 16
#define SS_SCAN_BLOCK_SNAPSHOT 256
/* The position's bits in a cursor (ss_table_scan): 2^30 blocks, 2^34
 * home buckets at the listing's block, past any table of 32-bit entry
 * references. A cursor stays below 2^36, so a LIST or SCAN cursor (16
 * check bits above it, cmd/list.c) stays below 2^52: a JavaScript client
 * (node-redis, ioredis) parses it into a double without losing a bit. */
#define SS_SCAN_POS_BITS 30

/* Iteration in bounded steps (LIST_CHECKPOINTS, SCAN, compaction's walk),
 * with Redis SCAN's guarantee: an iteration that starts at cursor 0 and
 * follows the returned cursors until 0 comes back returns every entry that
 * is present (and live) for the whole iteration at least once, however the
 * table grows, shrinks or resizes between calls; an entry added or removed
 * meanwhile may or may not be returned, and an entry may be returned more
 * than once. A cursor position is a block of `block` home buckets (a power
 * of two, else the highest one below it; the whole array if that is
 * smaller): every call of one iteration must pass the same block. One call
 * visits whole positions from cursor, about `buckets` home buckets in all
 * and at least one position (bounded work), and calls fn for each live
 * entry whose name starts with prefix[0..plen); when fn returns nonzero
 * the call stops after the position it is in.
 * Returns the next cursor, 0 when the iteration is complete. A cursor is a
 * block number (the blocks go in order, table.c says why that is safe) in
 * its low SS_SCAN_POS_BITS bits, and above them 1 + log2 of the block
 * count it was issued for: a table with fewer blocks (rebuilt smaller by a
 * restart) starts the iteration over rather than miss what moved, and a
 * value without those bits is a bare position. Any 64-bit value is safe
 * to pass, and its validation is the caller's. Cursors stay below 2^36. */
uint64_t ss_table_scan(const struct ss_table *t, uint64_t cursor, size_t block, size_t buckets,
		       const char *prefix, size_t plen, int64_t now_ms,
		       int (*fn)(void *arg, const struct ss_entry *e), void *arg);

/* The largest block for ss_table_scan, a power of two up to max, whose
 * entries hold about `bytes` of memory or less on average: for a walk
 * that must bound the work of one cursor position (compaction's). */
size_t ss_table_scan_block_for(const struct ss_table *t, size_t bytes, size_t max);

/* Iteration in one go, for a caller that changes nothing meanwhile (KEYS,
 * FLUSHALL's list of names, tests): returns 1 and fills *out with the next
 * entry at or after *cursor, advancing *cursor; returns 0 at the end. Start
 * with *cursor = 0. Every entry present is returned once provided the
 * table is not changed during the iteration. Expired entries are returned
 * too: the caller decides. */
int ss_table_next(const struct ss_table *t, size_t *cursor, struct ss_entry *out);

#endif
