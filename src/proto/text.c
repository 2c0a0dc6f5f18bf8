/*
 * text.c - the text protocol: its request parser and its replies; see
 * proto.h.
 *
 * The parser looks at each byte once: memchr finds the newline, then one
 * pass splits tokens. It never reads past len and never writes to buf.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static int is_sep(char c) { return c == ' ' || c == '\t'; }

/* Whether buf[0..len), a line's bytes so far with no newline among them,
 * already holds more than max_line bytes of content. The '\r' that may end
 * the line is not content, so one byte past max_line is still in bounds if
 * it is a '\r' (its '\n' may be next). */
static int over_limit(const char *buf, size_t len, size_t max_line)
{
	return len > max_line + 1 || (len == max_line + 1 && buf[max_line] != '\r');
}

void ss_request_init(struct ss_request *req)
{
	memset(req, 0, sizeof(*req));
	req->argv = req->inline_argv;
}

void ss_request_free(struct ss_request *req)
{
	free(req->heap);
	ss_request_init(req);
}

int ss_request_add(struct ss_request *req, const char *p, size_t n)
{
	size_t argc = (size_t)req->argc;
	int on_heap = req->heap && req->argv == req->heap;

	if (req->argc == SS_ARGS_MAX) {
		req->too_many = 1;
		return -1;
	}
	/* The inline array, then a heap one that doubles (a multi-commit may
	 * hold many thousands). */
	if (argc >= SS_ARGS_INLINE) {
		if (argc >= req->heap_cap) {
			size_t cap = req->heap_cap ? 2 * req->heap_cap : 4 * SS_ARGS_INLINE;
			struct ss_token *t = realloc(req->heap, cap * sizeof(*t));
			if (!t) {
				req->nomem = 1;
				return -1;
			}
			req->heap = t;
			req->heap_cap = cap;
			if (on_heap)
				req->argv = t;
		}
		if (req->argv != req->heap) {
			memcpy(req->heap, req->inline_argv, sizeof(req->inline_argv));
			req->argv = req->heap;
		}
	}
	req->argv[req->argc].p = p;
	req->argv[req->argc].n = n;
	req->argc++;
	return 0;
}

long ss_text_parse(const char *buf, size_t len, size_t max_line, struct ss_request *req)
{
	req->error = NULL;
	size_t scan = len < max_line + 2 ? len : max_line + 2;
	const char *nl = scan ? memchr(buf, '\n', scan) : NULL; /* buf may be NULL when len is 0 */

	if (!nl)
		return over_limit(buf, len, max_line) ? -1 : 0;
	if (over_limit(buf, (size_t)(nl - buf), max_line))
		return -1;

	size_t end = (size_t)(nl - buf);
	if (end > 0 && buf[end - 1] == '\r')
		end--;

	req->argc = 0;
	req->too_many = 0;
	req->nomem = 0;
	req->argv = req->inline_argv;
	size_t i = 0;
	while (i < end) {
		while (i < end && is_sep(buf[i]))
			i++;
		if (i == end)
			break;
		size_t start = i;
		while (i < end && !is_sep(buf[i]))
			i++;
		if (!req->nomem)
			(void)ss_request_add(req, buf + start, i - start);
	}
	return (long)(nl - buf) + 1;
}

int ss_token_is(const struct ss_token *t, const char *w)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		char c = t->p[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (w[i] == '\0' || c != w[i])
			return 0;
	}
	return w[i] == '\0';
}

int ss_text_is_error(const char *line, size_t len)
{
	return len >= 5 && memcmp(line, "ERR ", 4) == 0 && line[4] != '\n' && line[4] != '\r';
}

/* Appends a and then b (either may be empty) and a newline, or nothing. */
static int line(struct ss_buf *out, const char *a, const char *b, size_t blen)
{
	size_t alen = strlen(a);
	char *p = ss_buf_space(out, alen + blen + 1);

	if (!p)
		return -1;
	memcpy(p, a, alen);
	if (blen)
		memcpy(p + alen, b, blen);
	p[alen + blen] = '\n';
	ss_buf_commit(out, alen + blen + 1);
	return 0;
}

static int text_ok(struct ss_buf *out) { return line(out, "OK", "", 0); }
static int text_null(struct ss_buf *out) { return line(out, "NULL", "", 0); }
static int text_status(struct ss_buf *out, const char *word) { return line(out, word, "", 0); }
static int text_error(struct ss_buf *out, const char *msg)
{
	return line(out, "ERR ", msg, strlen(msg));
}
static int text_value(struct ss_buf *out, const char *p, size_t n) { return line(out, "", p, n); }

static int text_integer(struct ss_buf *out, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	return line(out, "", num, (size_t)n);
}

static int text_rows_begin(struct ss_buf *out)
{
	(void)out;
	return 0;
}

static int text_row(struct ss_buf *out, const char *name, const char *value)
{
	return ss_buf_printf(out, "STAT %s %s\n", name, value);
}

static int text_rows_end(struct ss_buf *out, size_t at, size_t n, int pairs)
{
	(void)at;
	(void)n;
	(void)pairs;
	return line(out, "END", "", 0);
}

static int text_ok_rev(struct ss_buf *out, uint64_t rev)
{
	return ss_buf_printf(out, "OK %llu\n", (unsigned long long)rev);
}

static int text_conflict(struct ss_buf *out, const char *name, size_t nlen, uint64_t rev)
{
	if (!name)
		return ss_buf_printf(out, "CONFLICT %llu\n", (unsigned long long)rev);
	return ss_buf_printf(out, "CONFLICT %.*s %llu\n", (int)nlen, name, (unsigned long long)rev);
}

static int text_rev_value(struct ss_buf *out, uint64_t rev, const char *p, size_t n)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu ", (unsigned long long)rev);
	return line(out, num, p, n);
}

static int text_version(struct ss_buf *out, uint64_t rev, int64_t commit_ms, const char *p,
			size_t n)
{
	char nums[48];

	snprintf(nums, sizeof(nums), "%llu %lld ", (unsigned long long)rev, (long long)commit_ms);
	return line(out, nums, p, n);
}

static int text_cursor(struct ss_buf *out, uint64_t next)
{
	return ss_buf_printf(out, "CURSOR %llu\n", (unsigned long long)next);
}

static int text_listed(struct ss_buf *out, const char *name, size_t nlen, uint64_t rev,
		       int64_t commit_ms, const char *p, size_t n)
{
	return ss_buf_printf(out, "%.*s %llu %lld %.*s\n", (int)nlen, name, (unsigned long long)rev,
			     (long long)commit_ms, (int)n, p);
}

const struct ss_proto ss_proto_text = {
	.name = "text",
	.parse = ss_text_parse,
	.ok = text_ok,
	.status = text_status,
	.error = text_error,
	.integer = text_integer,
	.value = text_value,
	.null = text_null,
	.rows_begin = text_rows_begin,
	.row = text_row,
	.rows_end = text_rows_end,
	.ok_rev = text_ok_rev,
	.conflict = text_conflict,
	.rev_value = text_rev_value,
	.version = text_version,
	.cursor = text_cursor,
	.listed = text_listed,
};

int ss_proto_errorf(const struct ss_proto *p, struct ss_buf *out, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return p->error(out, msg);
}
