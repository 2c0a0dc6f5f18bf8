/*
 * store.h - the storage engine: a data directory, its log and its table.
 *
 * The engine has no sockets and no event loop, reads no clock (callers pass
 * now_ms, unix milliseconds) and does all file-system writes through an
 * ss_io table. It can be linked alone into a tool or a test.
 *
 * Data directory layout:
 *   LOCK                 flock(LOCK_EX) held while the store is open; holds
 *                        the pid of the process that opened it
 *   statestored.log      the log (format: record.h); a log of an older
 *                        format version is rewritten in the current one
 *                        when it is opened
 *   statestored.log.tmp  a compaction in progress; removed at open
 *   statestored.log.sync a full sync in progress (replication): a complete
 *                        log received from the primary, which
 *                        ss_store_install renames over the log; removed at
 *                        open
 *
 * Commit protocol, as the server drives it:
 *   1. ss_store_write(batch)  - the batch goes to the log as one group in
 *                               one write. On failure nothing of it stays in
 *                               the log and the table is untouched: reply ERR.
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
#include "record.h"
#include "table.h"

#define SS_LOG_FILE "statestored.log"
#define SS_LOG_TMP_FILE "statestored.log.tmp"
#define SS_LOG_SYNC_FILE "statestored.log.sync"
#define SS_LOCK_FILE "LOCK"

/* Kinds of failure, so the daemon can choose its exit code. */
enum ss_err_kind {
	SS_ERR_NONE = 0,
	SS_ERR_IO,      /* a system call failed; sys_errno says which way */
	SS_ERR_LOCKED,  /* another process holds the data directory */
	SS_ERR_CORRUPT, /* damage followed by a complete group, or a bad header */
	SS_ERR_VERSION, /* a log of a format version this build does not read */
	SS_ERR_NOMEM,
	SS_ERR_TRUNCATE, /* open with truncate: the log's snapshot (a REVISION
			  * record) is past the cut, so the records before it
			  * are gone; the caller full-syncs instead */
};

struct ss_error {
	enum ss_err_kind kind;
	int sys_errno;
	char msg[512]; /* a sentence naming the file (and offset, record) */
};

/* Replay's progress, for a caller that shows it (the daemon's log, the
 * checker's progress bar). */
struct ss_replay_progress {
	uint64_t records; /* records applied so far */
	uint64_t bytes;   /* how far into the log file they reach */
	uint64_t total;   /* the log file's size */
};

/* Called on the caller's thread every SS_STORE_PROGRESS_RECORDS records a
 * replay applies. The engine has no clock: a caller that wants a line a
 * second reads its own clock here, which at this spacing costs nothing a
 * replay could measure (about 5 M records/s: one call every ~13 ms). */
typedef void (*ss_store_progress_fn)(void *arg, const struct ss_replay_progress *p);
#define SS_STORE_PROGRESS_RECORDS 65536

struct ss_store_options {
	const char *dir;          /* created if missing, with its parents */
	const struct ss_io *io;   /* NULL: ss_io_posix */
	size_t prealloc_bytes;    /* zero-fill the log ahead in chunks of this
				   * size (0: never), so most fdatasyncs need
				   * not update the file size; on ENOSPC the
				   * log is appended to without it */
	unsigned history;         /* earlier versions kept per checkpoint
				   * (table.h), 0..SS_HISTORY_MAX */
	/* Replay decodes on a second thread when the log holds at least
	 * this many bytes (0: the default, 4 MiB; SIZE_MAX: never). Tests set
	 * 1 to put every replay through the thread. */
	size_t replay_thread_min;
	ss_store_progress_fn progress; /* may be NULL */
	void *progress_arg;
	/* Replication: cut the log back to revision truncate_rev (a deposed
	 * primary's unreplicated tail). Replay skips every SET, DEL and EPOCH
	 * record whose rev is above truncate_rev, without noting its
	 * revision: the table is the state as of truncate_rev. An EPOCH is
	 * kept when its rev is truncate_rev or below - an epoch that began
	 * after a revision the cut keeps is history the new primary shares
	 * (it may have no write of its own yet); one that began past the cut
	 * is not. A REVISION record above truncate_rev means the log was
	 * compacted past the cut - the versions the cut needs are gone - and
	 * the open fails with SS_ERR_TRUNCATE. If anything was skipped the
	 * log is then rewritten (ss_store_compact) before open returns, so
	 * the cut is durable; a crash before that rename leaves the old log,
	 * which a retry cuts again. */
	int truncate;
	uint64_t truncate_rev;
	/* Replication: hold back what the primary had not committed - a
	 * replica's restart, where the log's tail past hold_rev is durable
	 * and acknowledged by this replica but must not be seen until the
	 * primary commits it (and is history if this node is promoted).
	 * Replay applies the SET, DEL and EPOCH records whose rev is
	 * hold_rev or below and skips the rest, without noting their
	 * revision (the EPOCH rule is truncate's). Unlike truncate nothing is
	 * discarded: the log is not rewritten, not compacted, not touched
	 * (but for the torn-tail cut every open makes); the report says where
	 * the held records are (ss_open_report: held, held_from, hold_rev).
	 * A REVISION record above hold_rev raises hold_rev to its rev (a
	 * snapshot's or backup's state was applied, so committed, before the
	 * record was written), and every record before it in the log is
	 * applied too, those skipped before it included (their groups are
	 * replayed again): a REVISION record ends a snapshot or a backup,
	 * whose records all come before it and hold no higher revision. So
	 * records are held only past a log's last REVISION record, where
	 * revisions only grow.
	 * With truncate too, or on a log of an older format version that
	 * holds something back (its upgrade would rewrite the log, and the
	 * held records with it), the open fails with SS_ERR_IO, EINVAL. */
	int hold;
	uint64_t hold_rev;
};

/* What opening found, for the startup log line. */
struct ss_open_report {
	uint64_t records;       /* SET and DEL records replayed */
	uint64_t groups;        /* the complete groups they came in */
	uint64_t expired;       /* SET records already expired at replay: each
				 * acted as a DEL of its name */
	uint64_t torn_bytes;    /* bytes of torn data cut (or a torn header); the
				 * preallocated zeros cut after them not counted */
	uint64_t log_bytes;     /* logical log size after opening */
	int removed_tmp;        /* 1 if a stale compaction temp file was removed */
	int removed_sync;       /* 1 if a stale full-sync file was removed */
	uint64_t discarded;     /* truncate: SET and DEL records cut (skipped
				 * EPOCH records are not counted); not in
				 * records */
	/* hold (ss_store_options): SET and DEL records held back (skipped
	 * EPOCH records not counted; not in records), and the byte offset in
	 * the log of the GROUP line of the first complete group that holds a
	 * skipped record (SET, DEL or EPOCH) - log_bytes if none. A caller
	 * that later learns a commit preads [held_from, log_bytes) and parses
	 * its groups: records of rev hold_rev or below were applied - only
	 * the first group can hold any, as revisions grow where records are
	 * held (above) - and the rest were not. hold_rev is opt->hold_rev as
	 * REVISION records raised it. All three are 0 without hold. */
	uint64_t held;
	uint64_t held_from;
	uint64_t hold_rev;
	int upgraded_from;      /* the format version of a log rewritten in the
				 * current one at this open (record.h), or 0 */
	/* LOCK holds the pid of the process that opened the store, so that a
	 * start that finds it locked can tell whether that process still
	 * runs. On success, lock_pid_errno is 0, or the errno of a failure to
	 * record it (not fatal: only that diagnosis is lost). On SS_ERR_LOCKED,
	 * lock_pid is the pid the holder recorded (0 if unknown). */
	int lock_pid_errno;
	long lock_pid;
};

struct ss_store;

/* Opens (creating if needed) the data directory, takes its lock, removes a
 * stale temp file and a stale full-sync file, replays the log into a new table (dropping entries
 * expired at now_ms) and cuts a torn tail back to the end of the last
 * complete group, syncing the cut. The entries of the data directory and
 * of the log are made durable (fsync of their directories) at every open,
 * not only when they are created. Returns 0 and *out, or -1 with *err
 * filled (*out NULL): SS_ERR_LOCKED if another store (in this process or
 * another) has the directory open; SS_ERR_CORRUPT for damage followed by a
 * complete group (the message names the file, byte offset and record
 * number) or a file that is not a log; SS_ERR_VERSION; SS_ERR_IO;
 * SS_ERR_NOMEM; SS_ERR_TRUNCATE (opt->truncate, above); SS_ERR_IO EINVAL
 * for opt->hold with opt->truncate (or on an older log, above). rep may be NULL;
 * it is filled on SS_ERR_LOCKED too. */
int ss_store_open(struct ss_store **out, const struct ss_store_options *opt, int64_t now_ms,
		  struct ss_open_report *rep, struct ss_error *err);

/* Closes the log, releases the lock, frees everything. NULL is a no-op. */
void ss_store_close(struct ss_store *s);

/* The table, for reads. Readers only ever see applied (durable) state. */
struct ss_table *ss_store_table(struct ss_store *s);

/* Step 1: seals b (ss_batch_seal) and appends its group to the log in one
 * write; an empty batch writes nothing. The bytes written are exactly what
 * ss_batch_seal(b) returns until b changes: a caller running a non-blocking
 * compaction appends them to its tail (see below). Returns 0, or -1 with
 * *err (SS_ERR_IO; sys_errno ENOSPC, EIO, ...). After -1 the log holds
 * nothing of b (it was cut back) and later writes may succeed. If even the
 * cut-back fails, the store is broken: it refuses further writes, syncs and
 * compactions (returns -1 EIO) until reopened, and the caller should exit. */
int ss_store_write(struct ss_store *s, struct ss_batch *b, struct ss_error *err);

/* Step 2: makes everything written so far durable. Returns 0, or -1 with
 * *err. After -1 the store is poisoned: every later write, sync and
 * compaction fails with EIO. The log is also cut back (best effort) to its
 * end at the last successful sync, so a restart does not replay what was
 * written since; a power loss (or a failed cut-back) may still keep it: the
 * outcome of a batch whose sync failed is unknown. It was never answered -
 * the server exits without replying - and never applied, so it is not
 * visible while the process runs; a restart may replay it, whole. */
int ss_store_sync(struct ss_store *s, struct ss_error *err);

/* Step 2 in two halves, for a caller that runs the fdatasync on another
 * thread (syncer.h): ss_store_sync_begin returns the descriptor to pass to
 * ss_io_fdatasync, or -1 with *err if the store refuses (poisoned, broken);
 * ss_store_sync_end takes that call's result - rc 0, or -1 and its errno -
 * and does what ss_store_sync does after it, with the same return. Between
 * the two the caller must not write, sync, compact or close the store. */
int ss_store_sync_begin(struct ss_store *s, struct ss_error *err);
int ss_store_sync_end(struct ss_store *s, int rc, int errnum, struct ss_error *err);

/* Step 3: applies b's ops to the table in order and sets each op's result.
 * A SET whose expire_ms is not 0 and <= now_ms acts as a DEL. Returns 0, or
 * -1 with errno ENOMEM (the table then lacks part of b while the log has
 * all of it: the caller must exit; a restart replays). */
int ss_store_apply(struct ss_store *s, struct ss_batch *b, int64_t now_ms);

/* Rewrites the log as the table's live state at now_ms: a temp file, fsync,
 * rename over the log, fsync of the directory. A crash at any point leaves
 * the old log or the new one, complete. Must be called between commits
 * (nothing written and not yet applied). Returns 0, or -1 with *err, in which
 * case the old log is still the log and still appendable - with one
 * exception: if only the directory fsync after the rename fails, the new
 * file is the log (the store appends to it) but the store is poisoned as
 * after a failed sync, since the rename may not survive a crash and nothing
 * more may be acknowledged until a restart. Fails with EIO on a poisoned or
 * broken store. This is ss_store_compact_begin, ss_snapshot_write and
 * ss_store_compact_finish (with no tail) in a row. */
int ss_store_compact(struct ss_store *s, int64_t now_ms, struct ss_error *err);

/* Whether the store still takes writes. After a failed sync, or a failed
 * directory fsync after a compaction's rename, it is POISONED; after a
 * failed write whose cut-back failed too, BROKEN. Both last until the store
 * is reopened: every write, sync and compaction fails with EIO, so the
 * caller should exit and let the next start replay the log. */
enum ss_store_state { SS_STORE_OK, SS_STORE_POISONED, SS_STORE_BROKEN };
enum ss_store_state ss_store_state(const struct ss_store *s);

/* Non-blocking compaction, in steps, so that the snapshot is walked while
 * the caller keeps committing, and the loop never copies more than a
 * little:
 *
 * 1. ss_store_compact_begin(s, unapplied, &tmp_path, err), between
 *    commits, right before the walk begins: removes any stale temp file,
 *    returns the temp path in *tmp_path (owned by the store, valid until it
 *    is closed) and marks where the tail starts - the log's end, less the
 *    `unapplied` bytes of a batch written but not yet applied (its sync in
 *    flight), which the table the walk begins on lacks. Returns 0, or -1
 *    with *err (EIO on a poisoned or broken store; SS_ERR_IO if the stale
 *    file cannot be removed).
 * 2. The caller creates tmp_path and writes a snapshot of ss_store_table(s)
 *    to it (snapshot.h: ss_snapshot_init, then ss_snapshot_step between
 *    commits, the bytes written wherever the caller likes), fdatasyncs and
 *    closes it. It must not touch the log or the store otherwise.
 * 3. Meanwhile the caller commits as usual, to the old log. Every batch it
 *    writes there from the mark on is the tail: the old log's bytes from
 *    the mark to its end (whole groups; a batch whose write failed was cut
 *    back and is not in it). Nothing of it is kept in memory.
 * 4. Once the snapshot is written: catch-up rounds append the tail to the
 *    snapshot off the caller's thread. ss_store_compact_round(s, min, &job,
 *    err) returns 1 and fills job when more than min bytes of the tail are
 *    not yet in the temp file; ss_compact_job_run(&job), on any thread,
 *    copies them and fdatasyncs the temp file, touching nothing but the two
 *    descriptors; ss_store_compact_round_end(s, &job, err), back on the
 *    caller's thread, takes its result. Commits may go on during a job
 *    (they append past what it copies); the store must not be compacted,
 *    finished, aborted or closed until round_end. round returns 0 when at
 *    most min bytes are left (time to finish), -1 with *err when the store
 *    refuses or the temp file cannot be opened; round_end returns 0, or -1
 *    with *err if the job failed. After -1 the compaction is over: the temp
 *    file was removed, and the old log is the log.
 * 5. ss_store_compact_finish(s, err), between commits (nothing written and
 *    not yet applied): copies the rest of the tail, fdatasyncs the temp file
 *    (if that copied anything), renames it over the log, fsyncs the
 *    directory and switches appends to the new file (preallocation starts
 *    afresh). Same return and failure contract as ss_store_compact: on
 *    failure before the rename the temp file is removed and the old log
 *    stays the log, appendable.
 *    Or, if the snapshot failed or compaction is given up,
 *    ss_store_compact_abort(s) removes the temp file; the old log was the
 *    log all along.
 *
 * Only finish makes the snapshot the log, so nothing acknowledged is ever
 * missing from the log: it is in the snapshot (applied before the walk
 * began, so in the table it walks, snapshot.h) or in the tail (written
 * after the mark), and replay skips what the tail repeats of the
 * snapshot. */
int ss_store_compact_begin(struct ss_store *s, size_t unapplied, const char **tmp_path,
			   struct ss_error *err);

/* One catch-up round's work: bytes [from, to) of the old log (src_fd) go to
 * the temp file (dst_fd) at dst_off, which is then fdatasync'd. errnum is
 * 0, or why it failed. */
struct ss_compact_job {
	const struct ss_io *io;
	int src_fd, dst_fd;
	uint64_t from, to, dst_off;
	const char *prefix; /* a backup of a prefix: only its records are copied */
	size_t plen;
	uint64_t written;   /* bytes the job appended */
	int errnum;
};

int ss_store_compact_round(struct ss_store *s, uint64_t min_bytes, struct ss_compact_job *job,
			   struct ss_error *err);
void ss_compact_job_run(struct ss_compact_job *job);
int ss_store_compact_round_end(struct ss_store *s, const struct ss_compact_job *job,
			       struct ss_error *err);
int ss_store_compact_finish(struct ss_store *s, struct ss_error *err);
void ss_store_compact_abort(struct ss_store *s);

/* Online backup: a consistent copy of the store, or of the names that
 * start with a prefix, as a new data directory that statestored can be
 * started on. It is a compaction that writes elsewhere - the same walk, the
 * same tail, the same rounds - so it never stalls the caller either:
 *
 * 1. ss_store_backup_begin(s, unapplied, dir, prefix, plen, &log_path,
 *    err), in place of ss_store_compact_begin: refuses (SS_ERR_IO) a dir
 *    that exists and is not an empty directory, and a DIR.partial that
 *    exists (what an interrupted backup left, for an operator to remove);
 *    creates DIR.partial and returns in *log_path the log to write the
 *    snapshot to (walking only the prefix: ss_snapshot's prefix, plen 0
 *    for every name).
 * 2.-4. As a compaction's. With a prefix the rounds copy only the tail's
 *    records under it, re-framed in groups.
 * 5. ss_store_backup_finish(s, &rev, err), between commits: appends the
 *    rest of the tail and a REVISION record for the store's revision,
 *    returned in *rev - the backup holds exactly the state as of it -
 *    fdatasyncs the log, fsyncs DIR.partial, renames it to DIR and fsyncs
 *    the parent. A kill before the rename leaves no DIR; the caller replies
 *    only after this returns 0. On failure everything the backup created
 *    is removed, and -1 with *err.
 * ss_store_compact_abort gives either up. The live log is never touched:
 * a failed backup does not poison the store. */
int ss_store_backup_begin(struct ss_store *s, size_t unapplied, const char *dir,
			  const char *prefix, size_t plen, const char **log_path,
			  struct ss_error *err);
int ss_store_backup_finish(struct ss_store *s, uint64_t *rev, struct ss_error *err);

/* A backup's tail stops at the log offset end (0: at the log's end, the
 * default). For a caller that writes batches before they may be seen -
 * replication's gate holds a durable batch until replicas have it - and
 * takes a backup for a replica: the backup must hold only what was
 * applied, and its REVISION record says exactly that. Set it to the end of
 * the last applied group whenever that moves. A compaction ignores it: its
 * tail must hold every byte written. */
void ss_store_limit_backup_tail(struct ss_store *s, uint64_t end);

/* Offline restore: copies the first len bytes of the log file `log` (a
 * backup's, checked by the caller: len is where its check ended) into a
 * new data directory dir, with a backup's guarantee: built in DIR.partial,
 * synced, renamed to dir, the parent fsync'd, so that an interrupted
 * restore leaves no dir to start on. Refuses (SS_ERR_IO) a dir that exists
 * and is not empty, and an existing DIR.partial. Returns 0, or -1 with
 * *err. */
int ss_store_restore(const struct ss_io *io, const char *log, uint64_t len, const char *dir,
		     struct ss_error *err);

/* After a compaction that renamed (finish returned 0, or failed only at the
 * directory fsync): the replaced log's descriptor, which the caller now owns
 * and must close; -1 if there is none. Closing it frees the old file's
 * blocks - tens of milliseconds on some file systems - so a server closes it
 * off its event loop. Not taken, it is closed by the next compaction or by
 * ss_store_close. */
int ss_store_take_retired_fd(struct ss_store *s);

/* The log's descriptor, for a caller that reads its durable bytes with
 * pread (a primary streams its log to replicas): bytes below the end as of
 * the last successful sync are whole groups. Read only: never write,
 * truncate or close it. It changes when a compaction's finish (or
 * ss_store_compact) renames a new log in - the old one becomes the retired
 * descriptor - so a reader takes it afresh after every compaction, and
 * its offsets do not carry over to the new file. */
int ss_store_log_fd(const struct ss_store *s);

/* Logical size of the log in bytes (records end; preallocated zeros not
 * counted), and that size right after the last compaction or open. */
uint64_t ss_store_log_bytes(const struct ss_store *s);
uint64_t ss_store_log_bytes_compacted(const struct ss_store *s);

/* Full sync (replication): makes the log the caller received from the
 * primary this store's log. The caller has written it whole to
 * DIR/SS_LOG_SYNC_FILE (opt->dir's) and fdatasync'd it; *sp is the store
 * open on opt->dir, between commits, with no compaction or backup in
 * progress. install checks the file as ss_store_check does (the same
 * replay, the same verdicts): a file that is corrupt, torn (a start would
 * cut it, or it has no complete header) or of another version is
 * refused - -1, SS_ERR_CORRUPT (SS_ERR_VERSION for a version), the file
 * removed, *sp untouched and still open. Otherwise it renames the file
 * over the log, fsyncs the directory, closes *sp and opens the store again
 * with opt (*sp is then the new store, rep its open's report). Returns 0;
 * or -1 with *err, and the sync file removed: *sp untouched if the failure
 * came before the rename (the check, SS_ERR_IO, SS_ERR_NOMEM); *sp NULL if
 * it came after (the directory fsync or the open): the caller exits, and
 * a start finds the old log or the new one. A crash at any point leaves
 * the old log or the new one, whole: the rename is the switch, and the
 * file was durable before it. The new log is replayed twice (the check,
 * then the open): a full sync is rare, and only the check may refuse it
 * with the old store still open. */
int ss_store_install(struct ss_store **sp, const struct ss_store_options *opt, int64_t now_ms,
		     struct ss_open_report *rep, struct ss_error *err);

/* The pid a holder of the data directory's LOCK (open as fd) recorded in
 * it; 0 if there is none or it cannot be read. */
long ss_store_lock_pid(int fd);

/* Takes the data directory dir's LOCK as ss_store_open does: opens
 * DIR/LOCK (created if create, else read-only) through io and takes a
 * non-blocking exclusive flock on it, recording nothing. Returns the
 * descriptor, whose close releases the lock; or -1 with *err: SS_ERR_LOCKED
 * with *holder the pid recorded in LOCK, SS_ERR_IO (ENOENT if !create and
 * there is no LOCK), SS_ERR_NOMEM. For tools that must not touch a
 * directory a daemon serves from (statestore-check repair). */
int ss_store_lock(const struct ss_io *io, const char *dir, int create, long *holder,
		  struct ss_error *err);

/* What ss_store_check found: what ss_store_open would replay and report,
 * and what it would do to the file first. */
struct ss_check_report {
	uint64_t records, groups, expired; /* as in ss_open_report */
	uint64_t torn_bytes; /* as in ss_open_report: what a start would cut and
			      * log (torn data, or a torn header) */
	uint64_t file_bytes; /* the file's size, preallocated zeros included */
	uint64_t end;        /* the end of the last complete group: where a
			      * start cuts a torn tail (on SS_ERR_CORRUPT: the
			      * end of the last complete group before the damage) */
	long version;        /* the log's format version (record.h); 0 if it
			      * has no complete header */
	int cut;             /* a start would cut the file back to end */
	int new_header;      /* a start would write a fresh header over the file
			      * (it is empty, or holds a torn header) */
};

/* Called with each record replay applies (after a version-1 log's records
 * are given their revisions), before it is applied. */
typedef void (*ss_store_check_fn)(void *arg, const struct ss_record *r);

/* Reads the log file at path exactly as ss_store_open replays it - the
 * same scanner, the same torn-tail and corruption verdicts, the same
 * messages - into a new table of `history` depth, dropping what expired at
 * now_ms, but writes nothing: the file is opened read-only, no lock is
 * taken, nothing is cut, and the directory is neither created nor
 * touched, so it is safe on the log of a running daemon (whose last write
 * may then look torn). observe (may be NULL) sees every record applied;
 * progress (may be NULL) is told of the replay's progress as in
 * struct ss_store_options.
 * Returns 0 and *table (the caller's to free) when a start would open the
 * log, clean or after a cut (rep says); -1 with *err (and *table NULL)
 * when it would fail: SS_ERR_CORRUPT (the message ss_store_open gives),
 * SS_ERR_VERSION, SS_ERR_IO (ENOENT for a missing file, which a start
 * would create), SS_ERR_NOMEM. rep is filled in every case. */
int ss_store_check(const char *path, unsigned history, int64_t now_ms, ss_store_check_fn observe,
		   void *arg, ss_store_progress_fn progress, void *progress_arg,
		   struct ss_table **table, struct ss_check_report *rep, struct ss_error *err);

#endif
