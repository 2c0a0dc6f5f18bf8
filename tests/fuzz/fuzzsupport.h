/*
 * fuzzsupport.h - helpers shared by the libFuzzer targets in tests/fuzz:
 * failing loudly, a per-process scratch directory, a simple reference map of
 * checkpoints, and a fault-injecting ss_io.
 *
 * Nothing here uses cmocka: the targets link only the core library, so a
 * crash file reproduces with nothing but the target binary.
 */
#ifndef STATESTORED_FUZZSUPPORT_H
#define STATESTORED_FUZZSUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/batch.h"
#include "statestored/io.h"
#include "statestored/store.h"
#include "statestored/table.h"

/* An oracle failed: prints "fuzz oracle failure at file:line: <msg>" to
 * stderr and aborts, so libFuzzer keeps the input as a crash file. */
#define fz_fail(...) fz_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define fz_check(cond, ...)                  \
	do {                                 \
		if (!(cond))                 \
			fz_fail(__VA_ARGS__); \
	} while (0)
void fz_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

/* malloc/realloc that abort on failure (a fuzz input is small). */
void *fz_alloc(size_t n);
void *fz_realloc(void *p, size_t n);

/* Creates this process's scratch directory, on /dev/shm when it is usable
 * (the engine fsyncs a lot; tmpfs makes that free), else under $TMPDIR or
 * /tmp, and arranges for it to be removed at exit. Returns its path (static
 * storage). Idempotent. */
const char *fz_scratch_dir(void);
/* Removes path and everything under it, as far as it can. */
void fz_remove_tree(const char *path);
/* dir + "/" + name, in a static buffer per call slot (0..3). */
const char *fz_path(int slot, const char *name);
/* Replaces path's contents with buf[0..len). Aborts on failure. */
void fz_write_file(const char *path, const void *buf, size_t len);
/* path's contents, malloc'd (NULL if missing), and *len. */
char *fz_read_file(const char *path, size_t *len);

/* A reference map: name -> (value, expiry, revision, commit time), sorted
 * by name. */
struct fz_kv {
	char *name, *value;
	size_t nlen, vlen;
	int64_t expire_ms; /* 0: none */
	uint64_t rev;      /* the revision of its last change */
	int64_t commit_ms; /* and that commit's time */
};
struct fz_map {
	struct fz_kv *kv;
	size_t n, cap;
};
void fz_map_free(struct fz_map *m);
/* Returns the entry for name, or NULL. */
struct fz_kv *fz_map_find(const struct fz_map *m, const char *name, size_t nlen);
void fz_map_set(struct fz_map *m, const char *name, size_t nlen, const char *value, size_t vlen,
		int64_t expire_ms);
/* The same, with the entry's revision and commit time (fz_map_set: 0). */
void fz_map_set_rev(struct fz_map *m, const char *name, size_t nlen, const char *value,
		    size_t vlen, int64_t expire_ms, uint64_t rev, int64_t commit_ms);
/* Removes name; returns 1 if it was present and live at now_ms, else 0. */
int fz_map_del(struct fz_map *m, const char *name, size_t nlen, int64_t now_ms);
static inline int fz_live(int64_t expire_ms, int64_t now_ms)
{
	return expire_ms == 0 || now_ms < expire_ms;
}
/* Builds m (empty on entry) from the entries of t live at now_ms. */
void fz_map_from_table(struct fz_map *m, const struct ss_table *t, int64_t now_ms);
/* Copies src's entries live at now_ms into dst (empty on entry). */
void fz_map_live(struct fz_map *dst, const struct fz_map *src, int64_t now_ms);
/* Returns NULL if a and b hold the same entries (values, expiries,
 * revisions and commit times), else a static sentence naming the first
 * difference. */
const char *fz_map_diff(const struct fz_map *a, const struct fz_map *b);

/* The clock of the log target and its seeds: expiries in the seeds are set
 * around it so that replay finds some entries expired and some live. */
#define FZ_LOG_NOW_MS INT64_C(1700000000000)

/* Commits b to s as the server does (write, sync, apply) and empties it.
 * Returns 0, or -1 with *err (the write or the sync failed). */
int fz_commit(struct ss_store *s, struct ss_batch *b, int64_t now_ms, struct ss_error *err);

/* The name of a record op of b (op->type is not SS_OP_REPLY), unescaped
 * into a static buffer if the record holds it escaped, and its length. */
const char *fz_op_name(const struct ss_batch *b, const struct ss_op *op, size_t *n);

/* Fault injection: wraps ss_io_posix; fdatasync and fsync are not issued
 * (the scratch directory is on tmpfs, where they do nothing, and skipping
 * them keeps the fuzzer fast) but can still be made to fail. */
enum fz_op {
	FZ_OP_OPEN,
	FZ_OP_PWRITE,
	FZ_OP_FDATASYNC,
	FZ_OP_FSYNC,
	FZ_OP_FTRUNCATE,
	FZ_OP_RENAME,
	FZ_OP_UNLINK,
	FZ_OP_COUNT
};
#define FZ_SHORT_WRITE (-1) /* pwrite fault: write half, return the short count */
#define FZ_FAULTS_MAX 8

struct fz_io {
	struct ss_io io; /* hand &f->io to the engine; io.ctx is f */
	unsigned long calls[FZ_OP_COUNT];
	unsigned long injected; /* faults fired since init */
	struct {
		int armed;
		enum fz_op op;
		unsigned long at; /* fires on this value of calls[op] */
		int err;
	} faults[FZ_FAULTS_MAX];
};
void fz_io_init(struct fz_io *f);
/* Arms a one-shot fault: the nth call of op from now (n >= 1) fails with err.
 * Returns 0, or -1 if FZ_FAULTS_MAX are armed already. */
int fz_io_arm(struct fz_io *f, enum fz_op op, unsigned long nth, int err);
void fz_io_disarm(struct fz_io *f);

#endif
