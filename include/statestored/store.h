/*
 * store.h - the storage engine: a data directory, its log and its table.
 *
 * The engine has no sockets and no event loop, reads no clock (callers pass
 * now_ms, unix milliseconds) and does all file-system writes through an
 * ss_io table. It can be linked alone into a tool or a test.
 *
 * Data directory layout:
 *   LOCK                 flock(LOCK_EX) held while the store is open
 *   statestored.log      the log (format: record.h)
 *   statestored.log.tmp  a compaction in progress; removed at open
 *
 * Commit protocol, as the server drives it:
 *   1. ss_store_write(batch)  - the batch's records go to the log in one
 *                               write. On failure nothing of it stays in the
 *                               log and the table is untouched: reply ERR.
 *   2. ss_store_sync()        - fdatasync. On failure the process must not
 *                               retry and must not acknowledge: the kernel
 *                               may have dropped the dirty pages. Exit, and
 *                               let the next start replay the log.
 *   3. ss_store_apply(batch)  - only now does the table (and so any reader)
 *                               see the batch.
 */
#ifndef STATESTORED_STORE_H
#define STATESTORED_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "io.h"
#include "table.h"

#define SS_LOG_FILE "statestored.log"
#define SS_LOG_TMP_FILE "statestored.log.tmp"
#define SS_LOCK_FILE "LOCK"

/* Kinds of failure, so the daemon can choose its exit code. */
enum ss_err_kind {
	SS_ERR_NONE = 0,
	SS_ERR_IO,      /* a system call failed; sys_errno says which way */
	SS_ERR_LOCKED,  /* another process holds the data directory */
	SS_ERR_CORRUPT, /* a bad record followed by good ones, or a bad header */
	SS_ERR_VERSION, /* a log of a format version this build does not read */
	SS_ERR_NOMEM,
};

struct ss_error {
	enum ss_err_kind kind;
	int sys_errno;
	char msg[512]; /* a sentence naming the file (and offset, record) */
};

struct ss_store_options {
	const char *dir;          /* created if missing */
	const struct ss_io *io;   /* NULL: ss_io_posix */
	size_t prealloc_bytes;    /* zero-fill the log ahead in chunks of this
				   * size (0: never); see log.h */
};

/* What opening found, for the startup log line. */
struct ss_open_report {
	uint64_t records;       /* valid records replayed */
	uint64_t expired;       /* entries dropped at replay as already expired */
	uint64_t torn_bytes;    /* bytes cut from a torn tail */
	uint64_t log_bytes;     /* log size after opening */
	int removed_tmp;        /* 1 if a stale compaction temp file was removed */
};

struct ss_store;

/* Opens (creating if needed) the data directory, takes its lock, removes a
 * stale temp file, replays the log into a new table (dropping entries
 * expired at now_ms) and cuts a torn tail back to the last valid record,
 * syncing the cut. Returns 0 and *out, or -1 with *err filled (*out NULL). */
int ss_store_open(struct ss_store **out, const struct ss_store_options *opt, int64_t now_ms,
		  struct ss_open_report *rep, struct ss_error *err);

/* Closes the log, releases the lock, frees everything. NULL is a no-op. */
void ss_store_close(struct ss_store *s);

/* The table, for reads. Readers only ever see applied (durable) state. */
struct ss_table *ss_store_table(struct ss_store *s);

/* Step 1: appends b's records to the log. Returns 0, or -1 with *err
 * (SS_ERR_IO; sys_errno ENOSPC, EIO, ...). After -1 the log holds nothing of
 * b (it was cut back) and later writes may succeed. If even the cut-back
 * fails, the store refuses further writes (returns -1 EIO) until reopened. */
int ss_store_write(struct ss_store *s, const struct ss_batch *b, struct ss_error *err);

/* Step 2: makes everything written so far durable. Returns 0, or -1 with
 * *err. After -1 the store is poisoned: every later write fails. */
int ss_store_sync(struct ss_store *s, struct ss_error *err);

/* Step 3: applies b's ops to the table in order and sets each op's result.
 * Returns 0, or -1 with errno ENOMEM (the table then lacks part of b while
 * the log has all of it: the caller must exit; a restart replays). */
int ss_store_apply(struct ss_store *s, struct ss_batch *b, int64_t now_ms);

/* Rewrites the log as the table's live state at now_ms: a temp file, fsync,
 * rename over the log, fsync of the directory. A crash at any point leaves
 * the old log or the new one, complete. Must be called between commits
 * (nothing written and not yet applied). Returns 0, or -1 with *err, in which
 * case the old log is still the log and still appendable. */
int ss_store_compact(struct ss_store *s, int64_t now_ms, struct ss_error *err);

/* Logical size of the log in bytes (records end; preallocated zeros not
 * counted), and that size right after the last compaction or open. */
uint64_t ss_store_log_bytes(const struct ss_store *s);
uint64_t ss_store_log_bytes_compacted(const struct ss_store *s);

#endif
