/*
 * logscan.h - reading a log's bytes: which groups are complete, where the
 * first damage is, and whether a complete group follows it. Internal to
 * the engine.
 *
 * Pure: a buffer in (the mapped log), a verdict out; no file, no table.
 * logfile.c decides what the verdict means - the log's end, a torn tail
 * to cut, or corruption to refuse - and that decision is the on-disk essay
 * at its top.
 */
#ifndef STATESTORED_ENGINE_LOGSCAN_H
#define STATESTORED_ENGINE_LOGSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/record.h"

/* Called for every SET, DEL or REVISION record of a complete group, in order.
 * Returns 0, or -1 with errno (ENOMEM), which stops the scan. */
typedef int (*ss_logscan_apply_fn)(void *arg, const struct ss_record *r);

/* Optional: told of each record of a complete group a few records before
 * apply is (stage 0 further ahead, stage 1 nearer), so that the memory the
 * apply will touch can be loaded meanwhile. */
typedef void (*ss_logscan_prefetch_fn)(void *arg, const struct ss_record *r, int stage);

/* Optional: told of each complete group right before its records are
 * applied - the byte offset of its GROUP line in buf, and its n records
 * (rs, valid during the call) - for a caller that must know where a
 * record's group starts (records of a REVISION or EPOCH point nowhere into
 * buf). Returns 0, or -1 with errno, which stops the scan as apply's -1
 * does. Without it a scan keeps no per-group state: the per-record path
 * is the same. */
typedef int (*ss_logscan_group_fn)(void *arg, size_t off, const struct ss_record *rs, size_t n);

/* Where a scan stopped. */
struct ss_logscan {
	size_t good_end;    /* end of the last complete group applied */
	size_t bad;         /* the first damage: where a line is not what the
			     * format needs there, or the end of a group cut short */
	uint64_t good_nrec; /* records (lines) applied, up to good_end */
	uint64_t groups;    /* complete groups applied */
	uint64_t data;      /* SET/DEL/REVISION records applied */
	uint64_t nrec;      /* valid records (lines) before bad */
	const char *why;    /* what is wrong at bad */
	size_t group;       /* bad is inside the group whose GROUP line is here */
};

/* Decodes buf[pos..size), a log of format version (record.h), group by
 * group and applies each complete group (a group's records only once all
 * of them were read and found valid). Stops at the end or at the first
 * damage; *re says where. Returns 0, or -1 with errno if apply, group
 * or the group array's allocation failed. group (may be NULL) is called
 * before each complete group's records, on the same thread as apply.
 *
 * When at least thread_min bytes (0: SS_LOGSCAN_THREAD_MIN) are left to
 * read, a second thread decodes ahead while apply runs on the caller's
 * thread; apply and prefetch are only ever called on the caller's thread,
 * in log order. A thread that cannot start means a scan on one thread,
 * not an error. */
/* The default size from which a replay decodes on a second thread. */
#define SS_LOGSCAN_THREAD_MIN (4u << 20)

int ss_logscan_replay(long version, const char *buf, size_t size, size_t pos,
		      size_t thread_min, ss_logscan_apply_fn apply, ss_logscan_prefetch_fn prefetch,
		      ss_logscan_group_fn group, void *arg, struct ss_logscan *re);

/* The offset of the first complete valid group (a valid GROUP k line and k
 * valid records) that starts at or after pos, or -1. Candidate starts, per
 * line: its start, and the byte after the last byte in it that no record
 * can contain - a group written after a zero-filled gap, or after a line
 * whose newline was damaged into such a byte. Linear: a candidate's valid
 * records are skipped, not read again as candidates. */
long long ss_logscan_find_group(long version, const char *buf, size_t size, size_t pos);

#endif
