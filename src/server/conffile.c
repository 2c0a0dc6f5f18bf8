/*
 * conffile.c - reading and splitting the config file; see conffile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/conffile.h"

static int blank(char c) { return c == ' ' || c == '\t'; }

/* Splits one line, s[0..len) with its newline gone, into name and value.
 * Returns 1 with *name and *value (NULL: none), 0 for a line without an
 * option, or -1 with *why. */
static int split(char *s, size_t len, char **name, char **value, const char **why)
{
	char *p = s, *end = s + len;

	if (memchr(s, '\0', len)) {
		*why = "the line holds a NUL byte";
		return -1;
	}
	while (p < end && blank(*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	*name = p;
	while (p < end && !blank(*p))
		p++;
	char *name_end = p;
	while (p < end && blank(*p))
		p++;
	*name_end = '\0';
	*value = NULL;
	if (p == end || *p == '#')
		return 1;
	if (*p == '"') {
		char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (!q) {
			*why = "the quoted value has no closing '\"'";
			return -1;
		}
		*value = p + 1;
		*q = '\0';
		for (q++; q < end && blank(*q); q++)
			;
		if (q < end && *q != '#') {
			*why = "there is text after the quoted value";
			return -1;
		}
		return 1;
	}
	/* A comment starts at a '#' after a space or tab. */
	char *v = p;
	for (p = v + 1; p < end && !(*p == '#' && blank(p[-1])); p++)
		;
	while (p > v && blank(p[-1]))
		p--;
	*p = '\0';
	*value = v;
	return 1;
}

int ss_conffile_parse(char *text, size_t n, ss_conffile_fn fn, void *arg, unsigned *line,
		      const char **why)
{
	size_t pos = 0;

	for (unsigned no = 1; pos < n; no++) {
		char *nl = memchr(text + pos, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - (text + pos)) : n - pos;
		char *s = text + pos, *name, *value;
		pos += len + (nl != NULL);
		if (len > 0 && s[len - 1] == '\r')
			len--;
		*line = no;
		if (len > SS_CONFFILE_LINE_MAX) {
			*why = "the line is longer than 4096 bytes";
			return -1;
		}
		int r = split(s, len, &name, &value, why);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if ((r = fn(arg, no, name, value)) != 0)
			return r;
	}
	return 0;
}

int ss_conffile_read(const char *path, size_t max, struct stat *st, char **text, size_t *n)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, e;

	*text = NULL;
	*n = 0;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	if (st && fstat(fd, st) < 0) {
		e = errno;
		goto fail;
	}
	for (;;) {
		if (len + 1 >= cap) {
			/* One byte past the limit tells a file too large. */
			size_t want = cap ? cap * 2 : 4096;
			if (want > max + 2)
				want = max + 2;
			char *p = realloc(buf, want);
			if (!p) {
				e = ENOMEM;
				goto fail;
			}
			buf = p;
			cap = want;
		}
		ssize_t got = read(fd, buf + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			e = errno;
			goto fail;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > max) {
			e = EFBIG;
			goto fail;
		}
	}
	if (close(fd) < 0) {
		e = errno;
		fd = -1;
		goto fail;
	}
	buf[len] = '\0';
	*text = buf;
	*n = len;
	return 0;
fail:
	if (fd >= 0)
		(void)close(fd);
	free(buf);
	errno = e;
	return -1;
}
