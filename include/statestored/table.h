/*
 * table.h - the in-memory map from pipeline name to checkpoint.
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
 * The table does no I/O and knows nothing of the log.
 */
#ifndef STATESTORED_TABLE_H
#define STATESTORED_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct ss_table;

/* A read-only view of one entry. The pointers stay valid until the next call
 * that changes the table (set, del, get on an expired entry, expire_some). */
struct ss_entry {
	const char *name;
	size_t nlen;
	const char *value;
	size_t vlen;
	int64_t expire_ms; /* 0: no expiry */
};

/* Returns a new empty table, or NULL with errno ENOMEM. */
struct ss_table *ss_table_new(void);
void ss_table_free(struct ss_table *t);

/* Inserts or replaces name with value and expiry. name and value are copied;
 * their limits are the caller's to check (limits.h). Returns 0, or -1 with
 * errno ENOMEM, in which case the table is unchanged. */
int ss_table_set(struct ss_table *t, const char *name, size_t nlen, const char *value,
		 size_t vlen, int64_t expire_ms);

/* Looks name up. Returns 1 and fills *out if it is present and unexpired at
 * now_ms; returns 0 if missing. An expired entry found here is removed.
 * Finding a live entry changes nothing (in particular it does not advance a
 * resize), so gets may be interleaved with an ss_table_next iteration. */
int ss_table_get(struct ss_table *t, const char *name, size_t nlen, int64_t now_ms,
		 struct ss_entry *out);

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

/* Iteration for snapshots: returns 1 and fills *out with the next entry at or
 * after *cursor, advancing *cursor; returns 0 at the end. Start with
 * *cursor = 0. Every entry present is returned once provided the table is
 * not changed during the iteration. Expired entries are returned too: the
 * caller decides. */
int ss_table_next(const struct ss_table *t, size_t *cursor, struct ss_entry *out);

#endif
