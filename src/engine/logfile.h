/*
 * logfile.h - one log file: open and replay it, append to it, sync it,
 * replace it with a compacted one. Internal to the engine; store.c drives it.
 *
 * The log file knows the format (record.h) and the file system, not the
 * table: replay hands each SET or DEL record to a callback, in order, a
 * group's records only once the whole group has been read and found valid.
 */
#ifndef STATESTORED_SRC_LOGFILE_H
#define STATESTORED_SRC_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/logscan.h"
#include "statestored/io.h"
#include "statestored/record.h"
#include "statestored/store.h"

struct ss_logfile {
	const struct ss_io *io;
	const char *path; /* borrowed: must outlive the logfile */
	const char *dir;  /* borrowed: the directory holding path, for fsync */
	size_t prealloc;  /* zero-fill ahead in chunks of this size; 0: never */
	int fd;           /* -1 when closed */
	int retired_fd;   /* the log a compaction replaced, still open; -1 if none */
	uint64_t end;     /* logical end: the header and whole groups */
	uint64_t size;    /* file size as far as we know; [end, size) is zeros */
	uint64_t synced;  /* end as of the last successful sync (or open) */
	int poisoned;     /* an fdatasync (or a directory fsync) failed */
	int broken;       /* a cut-back failed: bytes past end are unknown */
	long version;     /* the format of the file open (record.h); a new
			   * file is always SS_LOG_VERSION */
	size_t replay_thread_min; /* see ss_logscan_replay; 0: its default */
	ss_logscan_group_fn replay_group; /* see ss_logscan_replay; NULL: none */
	/* While a replay runs: the mapped file its records point into, so
	 * that progress can be told in bytes; NULL otherwise. */
	const char *replay_map;
	size_t replay_len;
};

/* What a log needs before it can be appended to. */
enum ss_logfile_fix {
	SS_LOGFILE_FIX_NONE,   /* nothing: clean, maybe with preallocated zeros */
	SS_LOGFILE_FIX_HEADER, /* a header written over it: empty, or a torn header */
	SS_LOGFILE_FIX_CUT,    /* a cut back to lf->end: a torn tail */
};

struct ss_logfile_report {
	uint64_t records;    /* SET, DEL and REVISION records replayed */
	uint64_t groups;     /* the complete groups they came in */
	uint64_t torn_bytes; /* torn data cut (up to its last non-zero byte), or a torn header */
	uint64_t file_bytes; /* the file's size as read, preallocated zeros included */
	enum ss_logfile_fix fix; /* what open did (inspect: would do) to the file */
};

/* Prepares lf (closed) for path in dir. Does no I/O. */
void ss_logfile_init(struct ss_logfile *lf, const char *path, const char *dir,
		     const struct ss_io *io, size_t prealloc);

/* Opens (creating with a synced header if missing or empty) and replays the
 * log, calling apply for each record of each complete group, cuts a torn
 * tail back to the end of the last complete group, syncing the cut, and
 * fsyncs the log's directory (whether or not it created the file).
 * Returns 0, or -1 with *err: SS_ERR_IO, SS_ERR_CORRUPT (damage with a
 * complete group after it, or not a log), SS_ERR_VERSION, SS_ERR_NOMEM. On
 * -1, lf is closed. */
int ss_logfile_open(struct ss_logfile *lf, ss_logscan_apply_fn apply,
		    ss_logscan_prefetch_fn prefetch, void *arg, struct ss_logfile_report *rep,
		    struct ss_error *err);

/* Reads the log as ss_logfile_open does - the same header check, replay
 * and verdict, calling apply and prefetch the same way - but opens it
 * read-only, writes nothing and closes it again: rep->fix says what open
 * would do, and lf->end where it would cut (on SS_ERR_CORRUPT: the end of
 * the last complete group before the damage). Returns 0 (clean or torn),
 * or -1 with *err as ss_logfile_open would fail, with the same message;
 * SS_ERR_IO (ENOENT) where open would create the file. */
int ss_logfile_inspect(struct ss_logfile *lf, ss_logscan_apply_fn apply,
		       ss_logscan_prefetch_fn prefetch, void *arg, struct ss_logfile_report *rep,
		       struct ss_error *err);

/* Writes buf[0..n) - one whole group - at the logical end with one pwrite
 * (after zero-filling ahead if preallocation is on). Returns 0, or -1 with *err (SS_ERR_IO) after
 * cutting the file back so that it holds nothing of buf; if the cut-back
 * fails, lf becomes broken and refuses every later append and sync. */
int ss_logfile_append(struct ss_logfile *lf, const void *buf, size_t n, struct ss_error *err);

/* fdatasync. Returns 0, or -1 with *err; after -1 lf is poisoned: every
 * later append and sync fails with EIO, and the file is cut back (best
 * effort) to where the last successful sync left it, so that a restart does
 * not replay records that were never acknowledged. */
int ss_logfile_sync(struct ss_logfile *lf, struct ss_error *err);

/* ss_logfile_sync in two halves, for a caller that runs the fdatasync
 * elsewhere: begin returns the descriptor to sync (or -1 with *err if the
 * log refuses), end takes that fdatasync's result (rc 0, or -1 and errnum). */
int ss_logfile_sync_begin(struct ss_logfile *lf, struct ss_error *err);
int ss_logfile_sync_end(struct ss_logfile *lf, int rc, int errnum, struct ss_error *err);

/* Returns 0 if lf accepts writes, or -1 with *err (EIO) if it is poisoned
 * or broken. */
int ss_logfile_writable(const struct ss_logfile *lf, struct ss_error *err);

/* Copies bytes [from, to) of the file src (read with pread) to dst at
 * dst_off (written through io). Returns 0, or -1 with errno (EIO if src
 * ends before to). Touches nothing else, so it may run on any thread. */
int ss_logfile_copy(const struct ss_io *io, int src, uint64_t from, uint64_t to, int dst,
		    uint64_t dst_off);

/* Makes tmp (in lf's directory), open as tmp_fd and len bytes long, the
 * log: fdatasyncs it if unsynced (bytes were written to it since its last
 * fdatasync), renames it over path, fsyncs the directory and switches lf
 * to it. Takes tmp_fd in every case. Returns 0; -1 with *err if it failed
 * before the rename (tmp is removed; lf is untouched and still appendable);
 * -2 with *err if the directory fsync after the rename failed (lf is
 * switched to the new file, which is now the log, but poisoned: the rename
 * may not be durable, so nothing more may be acknowledged until a
 * restart). */
int ss_logfile_replace(struct ss_logfile *lf, const char *tmp, int tmp_fd, uint64_t len,
		       int unsynced, struct ss_error *err);

/* The replaced log's descriptor after a successful replace, or -1; the
 * caller now owns it. Closing it frees the old file's blocks, which can take
 * tens of milliseconds: a caller with an event loop closes it elsewhere. */
int ss_logfile_take_retired(struct ss_logfile *lf);

/* Closes the file (and a retired one). Does not sync. Safe on a closed lf. */
void ss_logfile_close(struct ss_logfile *lf);

#endif
