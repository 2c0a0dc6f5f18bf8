/*
 * resp.h - RESP, the Redis serialization protocol, in its versions 2 and 3.
 *
 * Framing: a request is an array of bulk strings ("*<n>\r\n" then n times
 * "$<len>\r\n<bytes>\r\n"), binary-safe. A request is bounded like a text
 * line: at most max_line + 2 bytes, framing included; a count or a length
 * that cannot fit is refused as soon as its header is read. A malformed
 * request sets req->error to Redis's "Protocol error: ..." text and parse
 * returns -1: the caller answers it and closes, as Redis does. "*0\r\n" is
 * an empty request (no reply); a negative count is malformed.
 *
 * ss_proto_resp2 and ss_proto_resp3 are the seam's replies (proto.h) in
 * each version; they differ in null (RESP2 "$-1", RESP3 "_") and in maps
 * (RESP3 "%", RESP2 a flat array). The functions below write RESP values
 * directly, for the commands that exist only in RESP (cmd/redis.c); ver is
 * 2 or 3. Each appends one whole value (a header, for arrays and maps) and
 * returns 0, or -1 with errno ENOMEM having appended nothing.
 */
#ifndef STATESTORED_PROTO_RESP_H
#define STATESTORED_PROTO_RESP_H

#include "proto/proto.h"

extern const struct ss_proto ss_proto_resp2;
extern const struct ss_proto ss_proto_resp3;

long ss_resp_parse(const char *buf, size_t len, size_t max_line, struct ss_request *req);

int ss_resp_simple(struct ss_buf *out, const char *s); /* +s; CR, LF become spaces */
int ss_resp_err(struct ss_buf *out, const char *msg);  /* -msg: msg starts with its code */
int ss_resp_errf(struct ss_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ss_resp_int(struct ss_buf *out, long long v);
int ss_resp_bulk(struct ss_buf *out, const void *p, size_t n);
int ss_resp_bulk_str(struct ss_buf *out, const char *s);
int ss_resp_array(struct ss_buf *out, long long n);
int ss_resp_map(struct ss_buf *out, int ver, long long n); /* n pairs follow */
int ss_resp_set(struct ss_buf *out, int ver, long long n); /* RESP3 "~n"; RESP2 "*n" */
/* Text for people (INFO, CLIENT LIST): RESP3 a verbatim "txt" string,
 * RESP2 a bulk string. */
int ss_resp_verbatim(struct ss_buf *out, int ver, const void *p, size_t n);
int ss_resp_nil(struct ss_buf *out, int ver);              /* a missing value */
int ss_resp_nil_array(struct ss_buf *out, int ver);        /* EXEC aborted by WATCH */

#endif
