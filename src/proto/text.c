/*
 * proto.c - the text protocol's request parser; see proto.h.
 *
 * The parser looks at each byte once: memchr finds the newline, then one
 * pass splits tokens. It never reads past len and never writes to buf.
 */
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

long ss_proto_parse(const char *buf, size_t len, size_t max_line, struct ss_request *req)
{
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
	size_t i = 0;
	while (i < end) {
		while (i < end && is_sep(buf[i]))
			i++;
		if (i == end)
			break;
		size_t start = i;
		while (i < end && !is_sep(buf[i]))
			i++;
		if (req->argc == SS_ARGS_MAX) {
			req->too_many = 1;
			continue;
		}
		req->argv[req->argc].p = buf + start;
		req->argv[req->argc].n = i - start;
		req->argc++;
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
