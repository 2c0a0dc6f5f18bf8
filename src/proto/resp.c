/*
 * resp.c - RESP, the Redis protocol: its request parser and its replies in
 * RESP2 and RESP3; see proto.h and resp.h.
 *
 * A request is an array of bulk strings: "*<n>\r\n", then n times
 * "$<len>\r\n<len bytes>\r\n". The parser is stateless, like the text one:
 * each call parses from the start of the buffer. That costs little, because
 * a header tells the length of what follows: a bulk's bytes are skipped,
 * never scanned, so a call is linear in the number of arguments, not bytes.
 *
 * Bounds come before anything is stored: a count or a length is checked
 * against the limits as soon as its header is read, so a peer that
 * announces a billion arguments or a gigabyte bulk is refused at once, with
 * Redis's own error text, and nothing is allocated for it. The whole
 * request, framing included, is bounded like a text line (max_line + 2
 * bytes), so a session's input buffer never holds more than one request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/resp.h"

/* The longest header line: '*' or '$', a sign, 18 digits, "\r\n". */
#define HEADER_MAX 22

/* Parses the header whose type byte is buf[pos]: a decimal as Redis
 * writes one (a '-' allowed before it; no leading zero, no "-0") and
 * "\r\n". Returns 1 with *v and *next (past the CRLF), 0 if it is
 * incomplete, -1 if it is malformed. */
static int header(const char *buf, size_t len, size_t pos, long long *v, size_t *next)
{
	size_t i = pos + 1, end = len < pos + HEADER_MAX ? len : pos + HEADER_MAX;
	const char *cr = memchr(buf + i, '\r', end - i);
	long long n = 0;
	int neg = 0;

	if (!cr)
		return len < pos + HEADER_MAX ? 0 : -1;
	size_t e = (size_t)(cr - buf);
	if (e + 1 >= len)
		return 0; /* its '\n' may be next */
	if (buf[e + 1] != '\n')
		return -1;
	if (i < e && buf[i] == '-') {
		neg = 1;
		i++;
	}
	if (i == e || e - i > 18 || (buf[i] == '0' && (e - i > 1 || neg)))
		return -1;
	for (; i < e; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		n = n * 10 + (buf[i] - '0');
	}
	*v = neg ? -n : n;
	*next = e + 2;
	return 1;
}

/* Sets the request's protocol error and returns -1. */
static long refuse(struct ss_request *req, const char *why)
{
	req->error = why;
	return -1;
}

/* A request not complete yet: more bytes are needed, unless the buffer
 * already holds as many as a request may have. */
static long more(struct ss_request *req, size_t len, size_t limit)
{
	return len >= limit ? refuse(req, "Protocol error: request longer than --max-line") : 0;
}

long ss_resp_parse(const char *buf, size_t len, size_t max_line, struct ss_request *req)
{
	size_t limit = max_line + 2, pos;
	long long count, blen;
	int h;

	req->argc = 0;
	req->too_many = 0;
	req->nomem = 0;
	req->error = NULL;
	req->argv = req->inline_argv;
	if (len == 0)
		return 0;
	if (buf[0] != '*')
		return refuse(req, "Protocol error: expected '*'");
	h = header(buf, len, 0, &count, &pos);
	if (h == 0)
		return more(req, len, limit);
	/* At least "$0\r\n\r\n" per argument must fit in the request. */
	if (h < 0 || count < 0 || count > SS_ARGS_MAX || pos + (size_t)count * 6 > limit)
		return refuse(req, "Protocol error: invalid multibulk length");
	for (long long k = 0; k < count; k++) {
		if (pos >= len)
			return more(req, len, limit);
		if (buf[pos] != '$') {
			unsigned char c = (unsigned char)buf[pos];
			snprintf(req->errbuf, sizeof req->errbuf,
				 "Protocol error: expected '$', got '%c'",
				 c >= 0x20 && c < 0x7f ? c : '?');
			return refuse(req, req->errbuf);
		}
		h = header(buf, len, pos, &blen, &pos);
		if (h == 0)
			return more(req, len, limit);
		if (h < 0 || blen < 0 || (size_t)blen > max_line)
			return refuse(req, "Protocol error: invalid bulk length");
		if (pos + (size_t)blen + 2 > limit)
			return refuse(req, "Protocol error: request longer than --max-line");
		if (len < pos + (size_t)blen + 2)
			return more(req, len, limit);
		if (buf[pos + blen] != '\r' || buf[pos + blen + 1] != '\n')
			return refuse(req, "Protocol error: bulk string not ended by CRLF");
		if (!req->nomem)
			(void)ss_request_add(req, buf + pos, (size_t)blen); /* sets nomem */
		pos += (size_t)blen + 2;
	}
	return (long)pos;
}

/* ---- writing RESP --------------------------------------------------------- */

/* Appends c, the decimal v and "\r\n". */
static int number(struct ss_buf *out, char c, long long v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%c%lld\r\n", c, v);

	return ss_buf_append(out, tmp, (size_t)n);
}

int ss_resp_int(struct ss_buf *out, long long v) { return number(out, ':', v); }
int ss_resp_array(struct ss_buf *out, long long n) { return number(out, '*', n); }

int ss_resp_map(struct ss_buf *out, int ver, long long n)
{
	return ver == 3 ? number(out, '%', n) : number(out, '*', 2 * n);
}

/* Appends hdr, then p[0..n) and "\r\n". */
static int framed(struct ss_buf *out, const char *hdr, size_t h, const void *p, size_t n)
{
	char *w = ss_buf_space(out, h + n + 2);

	if (!w)
		return -1;
	memcpy(w, hdr, h);
	if (n)
		memcpy(w + h, p, n);
	memcpy(w + h + n, "\r\n", 2);
	ss_buf_commit(out, h + n + 2);
	return 0;
}

int ss_resp_bulk(struct ss_buf *out, const void *p, size_t n)
{
	char tmp[32];
	int h = snprintf(tmp, sizeof tmp, "$%zu\r\n", n);

	return framed(out, tmp, (size_t)h, p, n);
}

int ss_resp_bulk_str(struct ss_buf *out, const char *s) { return ss_resp_bulk(out, s, strlen(s)); }

int ss_resp_set(struct ss_buf *out, int ver, long long n) { return number(out, ver == 3 ? '~' : '*', n); }

int ss_resp_verbatim(struct ss_buf *out, int ver, const void *p, size_t n)
{
	if (ver != 3)
		return ss_resp_bulk(out, p, n);
	char tmp[32];
	int h = snprintf(tmp, sizeof tmp, "=%zu\r\ntxt:", n + 4);
	return framed(out, tmp, (size_t)h, p, n);
}

int ss_resp_nil(struct ss_buf *out, int ver)
{
	return ss_buf_puts(out, ver == 3 ? "_\r\n" : "$-1\r\n");
}

int ss_resp_nil_array(struct ss_buf *out, int ver)
{
	return ss_buf_puts(out, ver == 3 ? "_\r\n" : "*-1\r\n");
}

/* Appends c, then s with CR and LF made spaces (a simple string or an
 * error is one line), then "\r\n". */
static int line(struct ss_buf *out, char c, const char *s, size_t n)
{
	char *w = ss_buf_space(out, n + 3);

	if (!w)
		return -1;
	w[0] = c;
	for (size_t i = 0; i < n; i++)
		w[1 + i] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
	memcpy(w + 1 + n, "\r\n", 2);
	ss_buf_commit(out, n + 3);
	return 0;
}

int ss_resp_simple(struct ss_buf *out, const char *s) { return line(out, '+', s, strlen(s)); }
int ss_resp_err(struct ss_buf *out, const char *msg) { return line(out, '-', msg, strlen(msg)); }

int ss_resp_errf(struct ss_buf *out, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	return line(out, '-', msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* ---- the seam's replies ----------------------------------------------------
 *
 * STATS is a map (RESP2: a flat array of names and values, as HELLO and
 * CONFIG GET are); GETREV_CHECKPOINT is [rev, value]; a version is [rev,
 * commit_ms, value]; a listing is [cursor, [[name, rev, commit_ms, value],
 * ...]], the shape of SCAN; a revision is an integer; a conflict is the
 * error "-CONFLICT [<name> ]<rev>".
 */

static int resp_ok(struct ss_buf *out) { return ss_buf_puts(out, "+OK\r\n"); }
static int resp_status(struct ss_buf *out, const char *word) { return ss_resp_simple(out, word); }
static int resp_error(struct ss_buf *out, const char *msg) { return ss_resp_errf(out, "ERR %s", msg); }
static int resp_value(struct ss_buf *out, const char *p, size_t n) { return ss_resp_bulk(out, p, n); }
static int resp2_null(struct ss_buf *out) { return ss_resp_nil(out, 2); }
static int resp3_null(struct ss_buf *out) { return ss_resp_nil(out, 3); }

static int resp_rows_begin(struct ss_buf *out)
{
	(void)out;
	return 0;
}

static int resp_row(struct ss_buf *out, const char *name, const char *value)
{
	return ss_resp_bulk_str(out, name) < 0 ? -1 : ss_resp_bulk_str(out, value);
}

/* Inserts the header of what was appended since at: n rows (pairs: n
 * name-value pairs). */
static int rows_end(struct ss_buf *out, int ver, size_t at, size_t n, int pairs)
{
	char tmp[32];
	int h = pairs && ver == 3 ? snprintf(tmp, sizeof tmp, "%%%zu\r\n", n)
				  : snprintf(tmp, sizeof tmp, "*%zu\r\n", pairs ? 2 * n : n);

	return ss_buf_insert(out, at, tmp, (size_t)h);
}

static int resp2_rows_end(struct ss_buf *out, size_t at, size_t n, int pairs)
{
	return rows_end(out, 2, at, n, pairs);
}

static int resp3_rows_end(struct ss_buf *out, size_t at, size_t n, int pairs)
{
	return rows_end(out, 3, at, n, pairs);
}

static int resp_ok_rev(struct ss_buf *out, uint64_t rev) { return ss_resp_int(out, (long long)rev); }

static int resp_conflict(struct ss_buf *out, const char *name, size_t nlen, uint64_t rev)
{
	if (!name)
		return ss_resp_errf(out, "CONFLICT %llu", (unsigned long long)rev);
	return ss_resp_errf(out, "CONFLICT %.*s %llu", (int)nlen, name, (unsigned long long)rev);
}

static int resp_rev_value(struct ss_buf *out, uint64_t rev, const char *p, size_t n)
{
	size_t before = ss_buf_size(out);

	if (ss_resp_array(out, 2) == 0 && ss_resp_int(out, (long long)rev) == 0 &&
	    ss_resp_bulk(out, p, n) == 0)
		return 0;
	out->len = out->off + before;
	return -1;
}

static int resp_version(struct ss_buf *out, uint64_t rev, int64_t commit_ms, const char *p,
			size_t n)
{
	size_t before = ss_buf_size(out);

	if (ss_resp_array(out, 3) == 0 && ss_resp_int(out, (long long)rev) == 0 &&
	    ss_resp_int(out, commit_ms) == 0 && ss_resp_bulk(out, p, n) == 0)
		return 0;
	out->len = out->off + before;
	return -1;
}

static int resp_cursor(struct ss_buf *out, uint64_t next)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%llu", (unsigned long long)next);

	return ss_resp_array(out, 2) < 0 ? -1 : ss_resp_bulk(out, num, (size_t)n);
}

static int resp_listed(struct ss_buf *out, const char *name, size_t nlen, uint64_t rev,
		       int64_t commit_ms, const char *p, size_t n)
{
	size_t before = ss_buf_size(out);

	if (ss_resp_array(out, 4) == 0 && ss_resp_bulk(out, name, nlen) == 0 &&
	    ss_resp_int(out, (long long)rev) == 0 && ss_resp_int(out, commit_ms) == 0 &&
	    ss_resp_bulk(out, p, n) == 0)
		return 0;
	out->len = out->off + before;
	return -1;
}

#define RESP_COMMON                                                                        \
	.parse = ss_resp_parse, .ok = resp_ok, .status = resp_status, .error = resp_error,  \
	.integer = ss_resp_int, .value = resp_value, .rows_begin = resp_rows_begin,         \
	.row = resp_row, .ok_rev = resp_ok_rev, .conflict = resp_conflict,                  \
	.rev_value = resp_rev_value, .version = resp_version, .cursor = resp_cursor,        \
	.listed = resp_listed

const struct ss_proto ss_proto_resp2 = {
	.name = "resp2",
	.resp = 2,
	.null = resp2_null,
	.rows_end = resp2_rows_end,
	RESP_COMMON,
};

const struct ss_proto ss_proto_resp3 = {
	.name = "resp3",
	.resp = 3,
	.null = resp3_null,
	.rows_end = resp3_rows_end,
	RESP_COMMON,
};
