/*
 * record.h - the log's on-disk format: one text record per line, records
 * framed in groups.
 *
 * A log file is a header line followed by groups. Every line ends in '\n'
 * and its fields are separated by one space:
 *
 *   statestored-log 1                                   header: format, version
 *   GROUP <count> <crc>                                 a group of the next
 *                                                       <count> records
 *   SET_CHECKPOINT <name> <value> <expire_ms> <crc>     set; expire_ms 0 = none
 *   DEL_CHECKPOINT <name> <crc>                         delete
 *
 * After the header the log is a sequence of groups: a GROUP line followed by
 * exactly <count> SET/DEL records. Every write to the log is exactly one
 * group - each batch the server commits, each chunk of a snapshot - and
 * replay applies a group all-or-nothing, only once all of its records have
 * been read and found valid. A SET or DEL record outside a group, and a
 * GROUP line inside one, are invalid.
 *
 * <crc> is the CRC-32C of every byte of the line before the space that
 * precedes it, written as 8 lowercase hex digits. <expire_ms> is an absolute
 * unix time in milliseconds (decimal, no sign, no leading zeros), so replay
 * never extends a TTL. <count> is 1..SS_GROUP_MAX (decimal, no leading
 * zeros). Names and values obey limits.h, which is what lets a record be a
 * line.
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
#define SS_LOG_VERSION 1
#define SS_LOG_HEADER "statestored-log 1\n"
/* Most records in one group: a whole commit is one group, so this also
 * bounds the mutations of one batch. */
#define SS_GROUP_MAX 1000000

/* Longest possible GROUP line, newline included (7 count digits). */
#define SS_GROUP_LINE_MAX (sizeof("GROUP 1000000 01234567\n") - 1)

/* Longest possible record line, newline included. */
#define SS_RECORD_MAX (sizeof("SET_CHECKPOINT") + SS_NAME_MAX + 1 + SS_VALUE_MAX + 1 + 20 + 1 + 8 + 1)

enum ss_rec_type { SS_REC_SET = 1, SS_REC_DEL = 2, SS_REC_GROUP = 3 };

struct ss_record {
	enum ss_rec_type type;
	const char *name; /* SET, DEL */
	size_t nlen;
	const char *value; /* SET */
	size_t vlen;
	int64_t expire_ms; /* SET; 0 = none */
	uint32_t count;    /* GROUP */
};

/* Encodes r into buf, which must hold SS_RECORD_MAX bytes (a GROUP:
 * SS_GROUP_LINE_MAX). Returns the
 * length written (the newline included). r must be valid (see
 * ss_record_check); an invalid record is a programming error. */
size_t ss_record_encode(const struct ss_record *r, char *buf);

/* Checks a record's fields against the limits. Returns NULL if valid, or a
 * static string naming the first problem ("name too long", ...). */
const char *ss_record_check(const struct ss_record *r);

enum ss_dec {
	SS_DEC_OK = 0,        /* *r filled, *used = bytes of the line */
	SS_DEC_PARTIAL = 1,   /* no newline within buf[0..len) and len < SS_RECORD_MAX */
	SS_DEC_BAD = 2,       /* a complete line (or SS_RECORD_MAX bytes) that is
			       * not a valid record; *used = up to its newline */
};

/* Decodes the record at the start of buf[0..len). On SS_DEC_OK the pointers
 * in *r point into buf. On SS_DEC_BAD, *used is the length of the bad line
 * including its newline, or 0 if there is none in reach. */
enum ss_dec ss_record_decode(const char *buf, size_t len, struct ss_record *r, size_t *used);

/* Checks the header line at the start of buf[0..len).
 * Returns the header's length (> 0) if it is "statestored-log 1\n";
 * 0 if buf is a prefix of a header but incomplete;
 * -1 if it is not a statestored log at all;
 * -2 if it is a statestored log of another version (*version set). */
long ss_record_header_check(const char *buf, size_t len, long *version);

#endif
