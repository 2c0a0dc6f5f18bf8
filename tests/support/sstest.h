/*
 * sstest.h - helpers shared by the unit tests: temp directories, whole-file
 * reads and writes, a fault-injecting ss_io, and one-call commits.
 *
 * Helpers that cannot fail in a healthy test environment fail the current
 * cmocka test themselves instead of returning an error.
 */
#ifndef STATESTORED_SSTEST_H
#define STATESTORED_SSTEST_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/batch.h"
#include "statestored/io.h"
#include "statestored/snapshot.h"
#include "statestored/store.h"

/* A new empty directory under $TMPDIR (or /tmp), malloc'd: free it after
 * sstest_rmdir. */
char *sstest_tmpdir(void);
/* Removes path and everything under it. Missing is fine. */
void sstest_rmdir(const char *path);

/* dir + "/" + name, malloc'd. */
char *sstest_path(const char *dir, const char *name);
/* Replaces path's contents with buf[0..len). */
void sstest_write_file(const char *path, const void *buf, size_t len);
/* Returns path's contents, malloc'd with a NUL after them, and *len; or
 * NULL if path does not exist. */
char *sstest_read_file(const char *path, size_t *len);
/* Size of path in bytes, or -1 if it does not exist. */
long long sstest_file_size(const char *path);
/* Truncates path to len bytes. */
void sstest_truncate(const char *path, long long len);

/* Fault injection. Wraps ss_io_posix and counts every call per op. Up to
 * SSTEST_FAULTS_MAX faults can be armed at once: the nth call of op counted
 * from the arming fails with err - an errno (EIO, ENOSPC, EINTR, ...), or
 * for pwrite SSTEST_SHORT_WRITE, which writes half the bytes and returns
 * that short count. A fault fires once and is then disarmed; a persistent
 * one also fails every later call of op. Faults on one op combine, e.g. a
 * short write on call 1 and EIO on call 2 (the retry). */
enum sstest_op {
	SSTEST_OP_OPEN,
	SSTEST_OP_CLOSE,
	SSTEST_OP_PWRITE,
	SSTEST_OP_FDATASYNC,
	SSTEST_OP_FSYNC,
	SSTEST_OP_FTRUNCATE,
	SSTEST_OP_RENAME,
	SSTEST_OP_UNLINK,
	SSTEST_OP_COUNT
};

#define SSTEST_SHORT_WRITE (-1)
#define SSTEST_FAULTS_MAX 4

struct sstest_fault {
	int armed;
	enum sstest_op op;
	unsigned long at; /* the failing call's number in calls[op] */
	int err;
	int persistent;
};

struct sstest_fault_io {
	struct ss_io io; /* hand &f->io to the engine; io.ctx is f */
	unsigned long calls[SSTEST_OP_COUNT];
	unsigned long injected; /* faults injected so far */
	struct sstest_fault faults[SSTEST_FAULTS_MAX];
};

void sstest_fault_io_init(struct sstest_fault_io *f);
/* Arms one more fault. */
void sstest_fault_io_arm(struct sstest_fault_io *f, enum sstest_op op, unsigned long nth, int err,
			 int persistent);
/* Disarms every fault; the counts stay. */
void sstest_fault_io_disarm(struct sstest_fault_io *f);

/* Opens a store on dir that must open. io may be NULL; rep may be NULL. */
/* The replay_thread_min the sstest_open functions pass (store.h): 0, the
 * default; a test sets 1 to put every replay through the decoder thread. */
extern size_t sstest_replay_thread_min;

struct ss_store *sstest_open(const char *dir, const struct ss_io *io, size_t prealloc,
			     int64_t now_ms, struct ss_open_report *rep);
/* The same, keeping history earlier versions per entry (sstest_open: 0). */
struct ss_store *sstest_open_history(const char *dir, const struct ss_io *io, size_t prealloc,
				     unsigned history, int64_t now_ms, struct ss_open_report *rep);
/* One whole commit of b: write, sync, apply. Returns 0, or -1 with *err
 * filled (err may be NULL). */
int sstest_commit(struct ss_store *s, struct ss_batch *b, int64_t now_ms, struct ss_error *err);
/* One whole commit of one SET (expire_ms 0: none) or DEL. Same return. */
int sstest_set(struct ss_store *s, const char *name, const char *value, int64_t expire_ms,
	       int64_t now_ms, struct ss_error *err);
int sstest_del(struct ss_store *s, const char *name, int64_t now_ms, struct ss_error *err);
/* Each commit takes the revision after the store's and commit time now_ms.
 * sstest_set_bytes: a SET of any bytes. sstest_multi_set: n SETs in one
 * group, all of one revision, as a multi-commit (no expiry). */
int sstest_set_bytes(struct ss_store *s, const void *name, size_t nlen, const void *value,
		     size_t vlen, int64_t expire_ms, int64_t now_ms, struct ss_error *err);
int sstest_multi_set(struct ss_store *s, const char *const *names, const char *const *values,
		     size_t n, int64_t now_ms, struct ss_error *err);
/* One whole commit of an EPOCH record (epoch began after rev). */
int sstest_epoch(struct ss_store *s, uint64_t epoch, uint64_t rev, int64_t now_ms,
		 struct ss_error *err);
/* The value of name at now_ms, malloc'd, or NULL if absent. */
char *sstest_get(struct ss_store *s, const char *name, int64_t now_ms);
/* The live entries of t at now_ms as sorted lines "name value expire\n",
 * malloc'd: two tables hold the same state iff their dumps are equal. */
char *sstest_dump(struct ss_table *t, int64_t now_ms);
/* The same with everything a restart or a compaction must keep: a first
 * line "revision <store revision>",
 * then, if there are epochs, "epochs <epoch>@<rev> ..." (table.h's
 * history, ascending), then per live entry, sorted,
 * "<name> expire <ms>: <rev>@<commit_ms>=<value> ..." for every version,
 * newest first (names and values with bytes outside 0x21..0x7e and
 * backslashes as \xhh). */
char *sstest_dump_full(struct ss_table *t, int64_t now_ms);

/* A compaction's snapshot walked as the server walks it (compactor.c), in
 * this thread: ss_store_compact_begin, the temp file created, ss_snapshot_init
 * over the store's live table; then steps, between which the caller commits
 * as it likes (the table changes under the walk); each step's bytes are
 * written to the temp file at once. The end fdatasyncs and closes the file:
 * the catch-up rounds and the finish (store.h) take it from there. Every
 * call must succeed. */
struct sstest_walk {
	struct ss_snapshot snap;
	struct ss_snapshot_out out;
	const struct ss_io *io;
	int fd;
	uint64_t len;            /* bytes written to the temp file */
	unsigned steps;          /* steps taken */
	unsigned steps_resizing; /* ... that began while the table was resizing */
};
/* unapplied as for ss_store_compact_begin; io NULL: ss_io_posix. */
void sstest_walk_begin(struct sstest_walk *w, struct ss_store *s, size_t unapplied,
		       int64_t now_ms, const struct ss_io *io);
/* One step of at most `buckets` cursor positions. Returns 1 while there
 * is more to walk, 0 once the walk is over (its last group written). */
int sstest_walk_step(struct sstest_walk *w, size_t buckets);
/* Walks what is left, fdatasyncs and closes the temp file, frees the
 * walk. Returns the snapshot's length in bytes: where the tail will start
 * in the compacted log. */
uint64_t sstest_walk_end(struct sstest_walk *w);

/* Hand-made logs. A builder starts with the header; each line added is
 * encoded with the real codec and its start offset recorded in off[]: off[i]
 * is line i after the header (0-based, GROUP lines included), which replay's
 * messages call record i + 1. A SET or DEL added while no group is open is a
 * group of its own - a "GROUP 1" line, then the record - as a commit of one
 * mutation is. sstest_log_group(l, n) writes a GROUP n line and opens a
 * group: the next n records go in it without lines of their own. */
#define SSTEST_LOG_RECORDS_MAX 24000
/* The commit time sstest_log_set and _del give the record of revision rev. */
#define SSTEST_LOG_COMMIT_MS(rev) (1700000000000 + (int64_t)(rev))
struct sstest_log {
	char *buf;
	size_t len, cap;
	size_t nrec;
	uint64_t rev; /* the highest revision added: sstest_log_set and _del
		       * take the next one */
	uint32_t open; /* records still to come in the open group */
	size_t off[SSTEST_LOG_RECORDS_MAX + 1]; /* start of line i (0-based) */
};
void sstest_log_init(struct sstest_log *l);
void sstest_log_free(struct sstest_log *l);
void sstest_log_set(struct sstest_log *l, const char *name, const char *value, int64_t expire_ms);
void sstest_log_del(struct sstest_log *l, const char *name);
void sstest_log_group(struct sstest_log *l, uint32_t count);
/* Records with their revision and commit time given (any bytes in name and
 * value), and a REVISION record; in the open group or a group of their own. */
void sstest_log_set_at(struct sstest_log *l, const void *name, size_t nlen, const void *value,
		       size_t vlen, int64_t expire_ms, uint64_t rev, int64_t commit_ms);
void sstest_log_del_at(struct sstest_log *l, const void *name, size_t nlen, uint64_t rev,
		       int64_t commit_ms);
void sstest_log_revision(struct sstest_log *l, uint64_t rev);
/* An EPOCH record (epoch began after rev), as a REVISION is added. */
void sstest_log_epoch(struct sstest_log *l, uint64_t epoch, uint64_t rev);
/* A SET record outside any group: invalid, replay reads it as damage. */
void sstest_log_bare_set(struct sstest_log *l, const char *name, const char *value,
			 int64_t expire_ms);
/* Appends raw bytes (not a record). */
void sstest_log_raw(struct sstest_log *l, const void *p, size_t n);
/* Writes the first len bytes of the log to path. */
void sstest_log_write(const struct sstest_log *l, const char *path, size_t len);

/* A cmocka fixture for tests of one data directory: sstest_setup makes a
 * fresh empty dir, the paths of its log and compaction temp file in it, a
 * fault io with nothing armed and an empty log builder, and sets *state to
 * the struct sstest_fixture; sstest_teardown removes the dir and frees it
 * all. Pass both to cmocka_unit_test_setup_teardown. */
struct sstest_fixture {
	char *dir;
	char *log; /* dir/SS_LOG_FILE */
	char *tmp; /* dir/SS_LOG_TMP_FILE */
	struct sstest_fault_io f;
	struct sstest_log l;
};
int sstest_setup(void **state);
int sstest_teardown(void **state);
/* For a check run several times in one test: empties fx->dir, resets fx->f
 * (counts and faults) and opens a store on the dir through fx->f. */
struct ss_store *sstest_reset(struct sstest_fixture *fx, size_t prealloc, int64_t now_ms);

/* Asserts the live entries of s at now_ms are want, a sstest_dump. */
void sstest_assert_state(struct ss_store *s, const char *want, int64_t now_ms);
/* Asserts path holds exactly want[0..wlen). */
void sstest_assert_file_equals(const char *path, const void *want, size_t wlen);

/* Asserts name's value at now_ms is value (NULL: absent). */
#define sstest_assert_value(s, name, value, now_ms) \
	sstest_assert_value_at((s), (name), (value), (now_ms), __FILE__, __LINE__)
void sstest_assert_value_at(struct ss_store *s, const char *name, const char *value,
			    int64_t now_ms, const char *file, int line);

#endif
