/*
 * record.h - the log's on-disk format: one text record per line, records
 * framed in groups.
 *
 * A log file is a header line followed by groups. Every line ends in '\n'
 * and its fields are separated by one space. Format version 2:
 *
 *   statestored-log 2                                  header: format, version
 *   GROUP <count> <crc>                                a group of the next
 *                                                      <count> records
 *   SET_CHECKPOINT <name> <value> <expire_ms> <rev> <commit_ms> <crc>
 *                                                      set; expire_ms 0 = none
 *   DEL_CHECKPOINT <name> <rev> <commit_ms> <crc>      delete
 *   REVISION <rev> <crc>                               the store's revision
 *                                                      (snapshots only)
 *   EPOCH <epoch> <rev> <crc>                          replication: epoch
 *                                                      <epoch> begins after
 *                                                      revision <rev>
 *
 * After the header the log is a sequence of groups: a GROUP line followed by
 * exactly <count> SET, DEL, REVISION or EPOCH records. Every write to the log is
 * exactly one group - each batch the server commits, each chunk of a
 * snapshot - and replay applies a group all-or-nothing, only once all of
 * its records have been read and found valid. So a multi-commit, whose
 * records share one revision and sit in one batch, is all-or-nothing too.
 * A record outside a group, and a GROUP line inside one, are invalid.
 *
 * <rev> is the revision the command took (1 or more); the records of one
 * multi-commit carry the same one. <commit_ms> is the unix time in ms of
 * that commit. Replay sets each checkpoint's revision and commit time from
 * its record and the store's revision to the highest seen, REVISION
 * included: a snapshot starts with one, so a compaction that drops deleted
 * pipelines does not lower the counter (a revision is never reused). A
 * snapshot writes each checkpoint's history as SET records, oldest first,
 * before the current version: replaying them rebuilds the history exactly.
 *
 * EPOCH (replication, issue 18) takes no revision of its own: it says that
 * from revision <rev> + 1 on, the log's writes were made under primary epoch
 * <epoch> (1 or more). <rev> may be 0 - a store promoted before any write -
 * the only record whose revision may be 0. A log holds one EPOCH per
 * promotion it saw, in rising epoch order; replay keeps them all as the
 * table's epoch history (table.h), and a snapshot writes them all again
 * right after its REVISION record, so compaction, backup and a full sync
 * keep the history. The format version stays 2: an EPOCH record appears
 * only in the log of a store that was promoted (or that replicated from
 * one), and a build older than replication refuses such a log as corrupt
 * (an unknown line followed by a complete group) rather than misread it.
 *
 * <name> and <value> hold any bytes, escaped: a byte 0x21..0x7e other than
 * '\' stands for itself, '\' is written "\\", and every other byte
 * (space, newline, NUL, control bytes, 0x7f..0xff) as "\x" and two
 * lowercase hex digits. Nothing else is valid, so each byte string has
 * exactly one encoding, and a log of ordinary printable names and values
 * reads (and greps) as plain text. Decoded lengths obey limits.h.
 *
 * <crc> is the CRC-32C of every byte of the line before the space that
 * precedes it, written as 8 lowercase hex digits. <expire_ms> is an absolute
 * unix time in milliseconds, so replay never extends a TTL. Numbers are
 * decimal, no sign, no leading zeros. <count> is 1..SS_GROUP_MAX.
 *
 * Version 1, still read (a v1 log is rewritten as v2 when it is opened):
 * no REVISION records, no <rev> or <commit_ms> fields, and names and values
 * unescaped (0x21..0x7e only). Replay gives its records revisions 1, 2, ...
 * in log order and commit time 0 ("unknown").
 *
 * Past the last group the file may hold zeros (space preallocated ahead);
 * a zero byte where a GROUP line would start is the end of the log.
 *
 * The codec is pure: no I/O, no allocation.
 */
#ifndef STATESTORED_RECORD_H
#define STATESTORED_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

#define SS_LOG_MAGIC "statestored-log"
#define SS_LOG_VERSION 2
#define SS_LOG_HEADER "statestored-log 2\n"
#define SS_LOG_HEADER_V1 "statestored-log 1\n"
/* Most records in one group: a whole commit is one group, so this also
 * bounds the mutations of one batch. */
#define SS_GROUP_MAX 1000000

/* Longest possible GROUP line, newline included (7 count digits). */
#define SS_GROUP_LINE_MAX (sizeof("GROUP 1000000 01234567\n") - 1)

/* Longest possible record line, newline included: every byte of a name and
 * value escaped to 4, three 20-digit numbers. */
#define SS_RECORD_MAX                                                                      \
	(sizeof("SET_CHECKPOINT") + 4 * SS_NAME_MAX + 1 + 4 * SS_VALUE_MAX + 3 * (1 + 20) + 1 + \
	 8 + 1)

enum ss_rec_type {
	SS_REC_SET = 1,
	SS_REC_DEL = 2,
	SS_REC_GROUP = 3,
	SS_REC_REV = 4,
	SS_REC_EPOCH = 5,
};

/* Which fields of a decoded record are escaped (ss_record_unescape). */
#define SS_REC_NAME_ESC 1u
#define SS_REC_VALUE_ESC 2u

struct ss_record {
	enum ss_rec_type type;
	const char *name; /* SET, DEL */
	size_t nlen;
	const char *value; /* SET */
	size_t vlen;
	int64_t expire_ms; /* SET; 0 = none */
	uint64_t rev;      /* SET, DEL, REVISION; EPOCH: the revision the
			    * epoch begins after (may be 0) */
	uint64_t epoch;    /* EPOCH: 1 or more */
	int64_t commit_ms; /* SET, DEL: unix ms of the commit */
	uint32_t count;    /* GROUP */
	/* Decoded records only: name and value are the bytes as the line
	 * holds them, escaped where esc says so; nraw and vraw are their
	 * lengths once unescaped. A record to encode holds the raw bytes
	 * (esc 0); encode escapes them. */
	unsigned esc;
	size_t nraw, vraw;
};

/* Encodes r into buf, which must hold ss_record_size(r) bytes (at most
 * SS_RECORD_MAX; a GROUP: SS_GROUP_LINE_MAX). Returns the length written
 * (the newline included). r must be valid (see ss_record_check); an
 * invalid record is a programming error. */
size_t ss_record_encode(const struct ss_record *r, char *buf);

/* The length ss_record_encode will write for r. */
size_t ss_record_size(const struct ss_record *r);

/* The length of the raw bytes p[0..n) once escaped. */
size_t ss_record_escaped_len(const char *p, size_t n);

/* Unescapes p[0..n) (a field of a decoded record, escaped) into out, which
 * must hold the field's raw length; returns that length. */
size_t ss_record_unescape(const char *p, size_t n, char *out);

/* A decoded record as ss_batch_add takes it (esc 0): its escaped name and
 * value unescaped into scratch, which holds SS_NAME_MAX + SS_VALUE_MAX
 * bytes; the fields that were not escaped still point into the line. */
void ss_record_raw(const struct ss_record *rec, char *scratch, struct ss_record *raw);

/* Checks a record's fields against the limits. Returns NULL if valid, or a
 * static string naming the first problem ("name too long", ...). */
const char *ss_record_check(const struct ss_record *r);

enum ss_dec {
	SS_DEC_OK = 0,        /* *r filled, *used = bytes of the line */
	SS_DEC_PARTIAL = 1,   /* no newline within buf[0..len) and len < SS_RECORD_MAX */
	SS_DEC_BAD = 2,       /* a complete line (or SS_RECORD_MAX bytes) that is
			       * not a valid record; *used = up to its newline */
};

/* Decodes the record at the start of buf[0..len), in the current format.
 * On SS_DEC_OK the pointers in *r point into buf. On SS_DEC_BAD, *used is
 * the length of the bad line including its newline, or 0 if there is none
 * in reach. */
enum ss_dec ss_record_decode(const char *buf, size_t len, struct ss_record *r, size_t *used);

/* The same for a log of format version (1 or SS_LOG_VERSION). */
enum ss_dec ss_record_decode_version(long version, const char *buf, size_t len,
				     struct ss_record *r, size_t *used);

/* Checks the header line at the start of buf[0..len).
 * Returns the header's length (> 0) if it is the header of a version this
 * build reads (1 or SS_LOG_VERSION; *version set);
 * 0 if buf is a prefix of such a header but incomplete;
 * -1 if it is not a statestored log at all;
 * -2 if it is a statestored log of another version (*version set). */
long ss_record_header_check(const char *buf, size_t len, long *version);

#endif
