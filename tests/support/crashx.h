/*
 * crashx.h - crash-state exploration of the engine: a workload drives a store
 * through the recording io of crashfs.h while a model notes what it wrote
 * and when each write was acknowledged; the explorer then opens every crash
 * state of the recording (or a deterministic sample) and checks it against
 * the model.
 *
 * A state at crash point k, opened at now_ms, must
 *   (a) hold every mutation acknowledged before k - its batch's
 *       ss_store_sync returned 0 within the first k calls - with its value
 *       and expiry (or not hold the name, if that mutation was a DEL or a
 *       SET expired at now_ms);
 *   (b) hold only values the workload wrote to that name, none older than
 *       the last acknowledged one, none of a write not yet made at k, none
 *       expired at now_ms, and no name never written;
 *   (c) open at all: a refusal (SS_ERR_CORRUPT, ...) of a state that a crash
 *       can produce is a violation too, of availability;
 *   (d) as a whole equal the state after some prefix of the records written
 *       (or, with atomic_batches, of whole batches) - so nothing was applied
 *       out of order and, with atomic_batches, no batch only in part; a
 *       prefix never ends inside a multi-commit (its records share one
 *       revision), whatever atomic_batches says;
 *   (e) give every name the revision and commit time of the record that
 *       put its value there, and, with a history depth N > 0, exactly the
 *       history that prefix leaves (up to N earlier versions, newest first:
 *       a SET over a live version pushes it, a DEL, an expiry or a SET
 *       over an expired version drops them all);
 *   (f) hold a store revision equal to the highest revision of that prefix
 *       (or of the run's start) - never below the last acknowledged one,
 *       even once the names that took it are deleted and compacted away.
 *
 * A run that made an online backup (crashx_run_backup_begin) is checked
 * further: in every crash state, the backup's directory, if it is there,
 * must open and hold exactly the state as of the revision its finish
 * returned - (a) to (f) with every record up to that revision acknowledged
 * and none after it written - however much of its DIR.partial or of the
 * live log persisted; DIR.partial may be there (nothing reads it).
 *
 * The engine is driven directly: ss_batch_add, ss_store_write,
 * ss_store_sync, ss_store_apply, ss_store_compact, and a background
 * compaction's steps (ss_store_compact_begin, ss_snapshot_step over the
 * live table, the rounds, the finish). Values are unique per write, so a
 * value found names the write it came from.
 */
#ifndef STATESTORED_CRASHX_H
#define STATESTORED_CRASHX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crashfs.h"
#include "statestored/batch.h"
#include "statestored/snapshot.h"
#include "statestored/store.h"

/* One mutation written, in log order. */
struct crashx_rec {
	size_t name;         /* index into the model's names */
	int del;             /* DEL, else SET */
	char *value;         /* SET */
	size_t vlen;
	int64_t expire_ms;   /* SET; 0: none */
	uint64_t rev;        /* the revision its command took */
	int64_t commit_ms;   /* that command's commit time */
	int multi;           /* one of a multi-commit's records (same rev) */
	size_t batch;        /* 0-based */
	size_t done_at;      /* crash points >= done_at follow its write */
	size_t ack_at;       /* ... and its acknowledgement; SIZE_MAX: never */
	size_t gone_at;      /* ... and a cut that discarded it, made durable
			      * (crashx_run_open_truncate); SIZE_MAX: never */
};

/* One EPOCH record written, in log order (replication): a state must hold
 * a prefix of them as its epoch history (ss_table_epochs), every one
 * acknowledged and none not yet written or discarded - the same rules as
 * records, checked on their own. */
struct crashx_epoch {
	uint64_t epoch, rev;
	size_t batch;
	size_t done_at, ack_at, gone_at;
};

/* One version of a name: current or in its history. */
struct crashx_version {
	char *value;
	size_t vlen;
	uint64_t rev;
	int64_t commit_ms;
};

/* What a name held before the first record (a run may start from an
 * existing data directory). */
struct crashx_base {
	int present;
	char *value;
	size_t vlen;
	int64_t expire_ms;
	uint64_t rev;
	int64_t commit_ms;
	struct crashx_version *hist; /* newest first */
	size_t nhist;
};

struct crashx_model {
	char **names;
	struct crashx_base *base; /* parallel to names */
	size_t nnames;
	uint64_t base_rev;        /* the store's revision at the run's start */
	unsigned history;         /* the depth the store keeps (and is checked) */
	struct crashx_rec *recs;
	size_t nrecs, reccap;
	size_t nbatches;
	struct crashx_epoch *epochs;
	size_t nepochs;
};

#define CRASHX_TIMES_MAX 4

/* One workload run: a store in a fresh temp directory, recorded. */
struct crashx_run {
	char workload[64];
	size_t prealloc;
	char *tmp;              /* the temp directory holding everything */
	char *dir;              /* tmp/data: the store's data directory */
	struct crashfs fs;
	struct ss_store *s;
	struct crashx_model m;
	struct ss_batch b;      /* the batch being built */
	int64_t times[CRASHX_TIMES_MAX]; /* clocks to check states at */
	size_t ntimes;
	int opened;
	unsigned history; /* --history: set before the first open */
	uint64_t rev;     /* the last revision handed out */
	int64_t clock;    /* the last clock the workload used: commit times */
	size_t in_batch;  /* revisions taken by the batch being built */
	int multi;        /* inside crashx_run_multi_begin/_end */
	int split_sync;  /* commit with ss_store_sync_begin, the fdatasync
			  * through the io, ss_store_sync_end (as the server's
			  * syncer thread does), not ss_store_sync */
	/* A background compaction in progress (crashx_run_compact_begin). */
	struct ss_snapshot walk;   /* the walk over the live table */
	struct ss_snapshot_out walk_out;
	int walk_fd;               /* the temp file while the walk writes it, else -1 */
	uint64_t walk_len;         /* the snapshot bytes written to it */
	const char *tmp_path;
	struct ss_compact_job job; /* a catch-up round between start and end */
	/* Over the run's finished compactions: SETs of their tails that
	 * replay skipped because the snapshot already held that revision of
	 * the name, or a newer one (the walk took the name after the change),
	 * and changes of their tails to names the snapshot held older
	 * versions of (the walk had passed them). */
	size_t tail_overlaps, tail_newer;
	/* An online backup (crashx_run_backup_begin): its directory's name in
	 * the data directory, and the revision its finish returned. */
	char backup[32];
	uint64_t backup_rev;
	int backed_up; /* the finish returned */
	/* Replication (crashrepl.c): groups received and made durable, not
	 * yet applied (a replica applies what the primary's COMMIT covers). */
	struct ss_batch recv[4];
	size_t nrecv;
	char *violation; /* one the workload found itself, as crashx_check says
			  * it, with where in describing the state; or NULL */
	char *where;
};

/* Starts a run of workload with prealloc_bytes = prealloc. initial, if not
 * NULL, is written into the data directory first and is its durable
 * initial state; its contents become the model's base at the first open. */
void crashx_run_init(struct crashx_run *r, const char *workload, size_t prealloc,
		     const struct crashfs_image *initial);
void crashx_run_free(struct crashx_run *r);
/* Opens the store (must succeed). */
void crashx_run_open(struct crashx_run *r, int64_t now_ms);
void crashx_run_close(struct crashx_run *r);
/* Adds a SET of a fresh, unique value of vlen bytes (at least 24) to the
 * batch being built; or a DEL. */
void crashx_run_set(struct crashx_run *r, const char *name, size_t vlen, int64_t expire_ms);
void crashx_run_del(struct crashx_run *r, const char *name);
/* A multi-commit: the SETs between begin and end share one revision and
 * commit time, and must sit in one batch (end checks). */
void crashx_run_multi_begin(struct crashx_run *r);
void crashx_run_multi_end(struct crashx_run *r);
/* A compare-and-set as the server stages it: name's revision in the
 * store's table (the state committed so far; 0: absent) must be expected,
 * and must be what the model says (else the run fails: the live store lost
 * track); then a SET of a fresh value as crashx_run_set. Returns the new
 * revision. Names the open batch already changed are not allowed. */
uint64_t crashx_run_cas(struct crashx_run *r, const char *name, uint64_t expected, size_t vlen);
/* name's revision in the store's table (0: absent), checked against the
 * model as crashx_run_cas does. */
uint64_t crashx_run_rev(struct crashx_run *r, const char *name);
/* A rollback as the server stages it: the value of to_rev, read from the
 * store's history of name (which must hold it, as the model must), becomes
 * current as a new revision, keeping the current expiry. */
uint64_t crashx_run_rollback(struct crashx_run *r, const char *name, uint64_t to_rev);
/* Commits the batch: write, sync, apply at now_ms (all must succeed). */
void crashx_run_commit(struct crashx_run *r, int64_t now_ms);
/* Writes the batch but neither syncs nor applies it: the last thing before
 * a crash. */
void crashx_run_write_only(struct crashx_run *r);
/* ss_store_compact at now_ms (must succeed). */
void crashx_run_compact(struct crashx_run *r, int64_t now_ms);
/* Background compaction as the server runs it (compactor.c), in one
 * thread: begin calls ss_store_compact_begin, creates the temp file through
 * the recording io and starts a walk of the live table at now_ms
 * (ss_snapshot_init); step walks at most `buckets` cursor positions
 * (ss_snapshot_step) and writes what that produced to the temp file at
 * once, returning 1 while there is more to walk, 0 once the walk is over;
 * snapshot walks the rest, fdatasyncs and closes the temp file, as the
 * helper thread's last write does. Commits made between any of these go
 * to the old log (the tail), and the walk may find them applied: the
 * snapshot is fuzzy, and replay of the compacted log must make it exact.
 * walked says whether the walk has written name yet (the walks of the
 * workloads fill one group; walked fails if one was sealed). round_start
 * prepares a catch-up round (ss_store_compact_round, which must have work)
 * and round_end runs its job and takes its result - commits between the
 * two are those made while the thread copied; finish calls
 * ss_store_compact_finish and counts the tail's overlaps with the snapshot
 * (tail_overlaps, tail_newer); abort ends the walk if it is on and calls
 * ss_store_compact_abort. */
void crashx_run_compact_begin(struct crashx_run *r, int64_t now_ms);
int crashx_run_compact_step(struct crashx_run *r, size_t buckets);
int crashx_run_compact_walked(const struct crashx_run *r, const char *name);
void crashx_run_compact_snapshot(struct crashx_run *r);
void crashx_run_compact_round_start(struct crashx_run *r);
void crashx_run_compact_round_end(struct crashx_run *r);
void crashx_run_compact_finish(struct crashx_run *r);
void crashx_run_compact_abort(struct crashx_run *r);
/* Online backup as the server runs it: a background compaction whose
 * target is the data directory's subdirectory name (ss_store_backup_begin;
 * DIR.partial is created there): the walk, the rounds and their commits as
 * crashx_run_compact_*, then backup_finish calls ss_store_backup_finish and
 * keeps the revision it returns for the checks. The whole store, no
 * prefix. */
void crashx_run_backup_begin(struct crashx_run *r, const char *name, int64_t now_ms);
void crashx_run_backup_finish(struct crashx_run *r);
/* Replication (crashrepl.c). epoch adds an EPOCH record (epoch began
 * after rev) to the batch being built, and to the model. receive treats
 * the batch being built as a group the primary streamed: its bytes are
 * decoded record by record as a replica decodes them from the wire
 * (ss_record_decode, the fields unescaped to raw bytes), added to a batch
 * of the replica's own (ss_batch_add; its group must be the primary's
 * bytes exactly), written and synced (acknowledged: the replica's ACK);
 * apply_received applies every group received so far, in order, as the
 * primary's COMMIT makes the replica do. */
void crashx_run_epoch(struct crashx_run *r, uint64_t epoch, uint64_t rev);
void crashx_run_receive(struct crashx_run *r, int64_t now_ms);
void crashx_run_apply_received(struct crashx_run *r, int64_t now_ms);
/* A full sync: the batch being built holds the primary's writes this store
 * has not seen. A primary is made from a copy of this store's log plus
 * that batch, compacted; its log is written to SS_LOG_SYNC_FILE through the
 * recording io in 4 KB pieces (as received), fdatasync'd, and
 * ss_store_install makes it the log (must succeed). The batch's records
 * are written from the rename on and acknowledged once install returns:
 * one batch, so every state holds the old log or the new one, whole. */
void crashx_run_install(struct crashx_run *r, int64_t now_ms);
/* A full sync whose file is the store's own log cut `short_by` bytes
 * before its end (a download cut off inside its last group): install must
 * refuse it (SS_ERR_CORRUPT), remove it and leave the store open. */
void crashx_run_install_torn(struct crashx_run *r, int64_t now_ms, size_t short_by);
/* The first open of r (whose data directory is the image a first run
 * `from` left, every record durable) with truncate at cut: r's model is
 * from's records and epochs, those up to cut acknowledged, those past it
 * one batch never acknowledged and, once the open returned, discarded.
 * So every state is the old log or the cut one. */
void crashx_run_open_truncate(struct crashx_run *r, const struct crashx_model *from,
			      int64_t now_ms, uint64_t cut);
/* Marks the records and epochs of the batch being built as written (ack
 * 0) or acknowledged (ack 1) from crash point at on. */
void crashx_run_mark(struct crashx_run *r, size_t at, int ack);

/* Adds a clock at which crash states are checked; it must not be earlier
 * than any clock the workload used. */
void crashx_run_check_at(struct crashx_run *r, int64_t now_ms);

/* Opens the crash state in dir (modifying it: a torn tail is cut) at now_ms
 * with prealloc and checks it against m at crash point k. Returns NULL if
 * every rule holds, or a malloc'd sentence naming the first broken one. */
char *crashx_check(const struct crashx_model *m, size_t k, const char *dir, size_t prealloc,
		   int64_t now_ms, int atomic_batches);

struct crashx_opts {
	size_t max_states;  /* per crash point: enumerate up to this, else sample */
	uint64_t seed;
	size_t chunk;       /* torn-write granularity: 512 or 4096 */
	int atomic_batches; /* (d) at batch, not record, granularity */
	FILE *out;          /* violations are described here; NULL: silent */
	size_t max_reports; /* ... at most this many per run */
	int trace;          /* print each run's recorded calls to out */
};

/* Kinds of violation: the word a check's sentence starts with. */
enum crashx_class {
	CRASHX_REFUSED,   /* (c) the state does not open */
	CRASHX_LOST,      /* (a) an acknowledged value is missing */
	CRASHX_STALE,     /* (b) a value older than the acknowledged one */
	CRASHX_PHANTOM,   /* (b) a value or name never written */
	CRASHX_EARLY,     /* (b) a value of a write not yet made */
	CRASHX_EXPIRED,   /* (b) a value expired at now_ms */
	CRASHX_EXPIRY,    /* (b) the right value with another expiry */
	CRASHX_NO_PREFIX, /* (d) no prefix of the records (batches) */
	CRASHX_TORN_MULTI, /* (d) a multi-commit applied in part */
	CRASHX_REVISION,  /* (e) (f) a name's revision or commit time, or the
			   * store's revision, is not the acknowledged one */
	CRASHX_HISTORY,   /* (e) a name's history differs */
	CRASHX_NCLASSES
};

extern const char *const crashx_class_names[CRASHX_NCLASSES];

struct crashx_result {
	size_t points;            /* crash points explored */
	size_t exhaustive_points; /* ... of which every state was enumerated */
	size_t generated;         /* states generated */
	size_t states;            /* distinct states checked */
	size_t opens;             /* states x clocks */
	size_t violations;        /* distinct states with a violation */
	size_t by_class[CRASHX_NCLASSES];
	char *first;              /* the first violation, malloc'd; NULL if none */
};

/* Prints r's recorded calls, numbered as crash points count them, with
 * where each batch's write ended and where it was acknowledged. */
void crashx_run_print(const struct crashx_run *r, FILE *out);

/* Explores every crash point of r's recording (the store must be closed).
 * Adds to *res, which starts zeroed. */
void crashx_explore(const struct crashx_run *r, const struct crashx_opts *o,
		    struct crashx_result *res);
void crashx_result_free(struct crashx_result *res);

/* The workloads (crashwl.c). run drives r, which crashx_run_init prepared;
 * it may use o (to choose a crash state to continue from). */
struct crashx_workload {
	const char *name;
	const char *what;
	void (*run)(struct crashx_run *r, const struct crashx_opts *o);
};

extern const struct crashx_workload crashx_workloads[];
extern const size_t crashx_nworkloads;

/* Runs workload w with prealloc and explores it: the whole pipeline. */
void crashx_run_workload(const struct crashx_workload *w, size_t prealloc,
			 const struct crashx_opts *o, struct crashx_result *res);

#endif
