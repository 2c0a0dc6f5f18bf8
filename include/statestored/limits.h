/*
 * limits.h - every size and range limit statestored enforces, in one place.
 *
 * In the text protocol names and values share one alphabet: printable ASCII
 * (0x21..0x7e), so no whitespace and no control bytes, and a request is one
 * line that needs no quoting. The log and the table carry any bytes (the
 * log escapes them, record.h), for wire formats that can send them.
 */
#ifndef STATESTORED_LIMITS_H
#define STATESTORED_LIMITS_H

#define SS_NAME_MAX 512         /* pipeline name: 1..512 bytes */
#define SS_VALUE_MAX 65536      /* checkpoint value: 1..65536 bytes */
#define SS_TTL_MAX_S 315360000L /* ttl_seconds: 1..10 years of 365 days */

/* Default and bounds of --max-line, the longest request line accepted. The
 * default takes a multi-commit of 1 MiB of names and values with room for
 * its separators; a connection's buffer grows to it only for a client that
 * sends such lines. */
#define SS_LINE_MAX_DEFAULT (2 * 1024 * 1024)
#define SS_LINE_MAX_MIN 1024
#define SS_LINE_MAX_MAX (64 * 1024 * 1024)

/* A connection whose unread replies pass this is disconnected. */
#define SS_OUTBUF_MAX (64u * 1024 * 1024)

/* Most tokens in one request (command name included): a multi-commit of
 * SS_MULTI_MAX pipelines with expected revisions, and its name. */
#define SS_MULTI_MAX 100000
#define SS_ARGS_MAX (3 * SS_MULTI_MAX + 1)

/* Returns 1 if c may appear in a name or value, 0 otherwise. */
static inline int ss_is_token_char(unsigned char c) { return c > 0x20 && c < 0x7f; }

#endif
