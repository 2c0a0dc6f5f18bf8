/*
 * backup.h - the file-system half of an online backup: the target
 * directory's checks, the directory it is built in, publishing it, and the
 * copy of the log's tail that keeps only a prefix's names. Internal to the
 * engine; store.c drives it (store.h: ss_store_backup_begin).
 */
#ifndef STATESTORED_ENGINE_BACKUP_H
#define STATESTORED_ENGINE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/io.h"
#include "statestored/store.h"

/* A backup in progress. It is built in `partial` (the target's name with
 * ".partial" appended) and becomes `dir` by one rename, once complete and
 * durable: a backup cut short by a crash is never found under dir. */
struct ss_backup {
	char *dir;     /* the target, as the caller named it */
	char *partial; /* DIR.partial */
	char *parent;  /* the directory holding both, fsync'd after the rename */
	char *log;     /* DIR.partial/statestored.log */
	char *prefix;  /* only names that start with it; NULL: every name */
	size_t plen;
	int existed;   /* dir was there (empty) before: a failed publish puts it back */
};

/* Checks the target and creates DIR.partial. Refuses (SS_ERR_IO, with
 * EEXIST or ENOTEMPTY) a dir that exists and is not an empty directory, and
 * a DIR.partial that exists: what an interrupted backup left, for an
 * operator to look at and remove; and (EINVAL) a dir directly in data_dir,
 * if given, whose name is one the store uses: its log,
 * what starts with the log's name (the compaction's temp file), LOCK.
 * Returns 0 and *out, or -1 with *err. */
int ss_backup_prepare(const struct ss_io *io, const char *dir, const char *data_dir,
		      const char *prefix, size_t plen, struct ss_backup **out,
		      struct ss_error *err);

/* Makes the complete backup the target: fsyncs DIR.partial (the log's
 * entry in it), renames it to DIR (over an empty directory, if one was
 * there) and fsyncs the parent. The log must be fdatasync'd already.
 * Returns 0, or -1 with *err; after a failed parent fsync the backup is
 * removed again, since its reply will say it failed. */
int ss_backup_publish(const struct ss_io *io, const struct ss_backup *b, struct ss_error *err);

/* Removes what the backup created (its log and DIR.partial) and frees it. */
void ss_backup_discard(const struct ss_io *io, struct ss_backup *b);
void ss_backup_free(struct ss_backup *b);

/* Copies the groups in bytes [from, to) of the log src to dst at dst_off,
 * keeping only the SET and DEL records whose name starts with
 * prefix[0..plen) and every EPOCH record (an epoch belongs to no name),
 * re-framed in groups of the current format (a REVISION record is left
 * out: the finish writes the one that counts). The range
 * must be whole groups. Sets *written to the bytes written. Returns 0, or
 * -1 with errno (EIO: the range is not whole valid groups). */
int ss_backup_copy(const struct ss_io *io, int src, uint64_t from, uint64_t to, int dst,
		   uint64_t dst_off, const char *prefix, size_t plen, uint64_t *written);

/* Appends a group holding one REVISION record for rev to fd at off (none
 * for rev 0: a store never written); sets *written. Returns 0, or -1 with
 * errno. */
int ss_backup_write_revision(const struct ss_io *io, int fd, uint64_t off, uint64_t rev,
			     uint64_t *written);

#endif
