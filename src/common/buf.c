/*
 * buf.c - growable byte buffer; see buf.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "common/buf.h"

void ss_buf_init(struct ss_buf *b) { memset(b, 0, sizeof(*b)); }

void ss_buf_free(struct ss_buf *b)
{
	free(b->data);
	ss_buf_init(b);
}

char *ss_buf_space(struct ss_buf *b, size_t n)
{
	size_t live = ss_buf_size(b);

	if (b->cap - b->len >= n)
		return b->data + b->len;
	/* Reclaim consumed space first when that is enough. */
	if (b->off > 0 && b->cap - live >= n) {
		memmove(b->data, b->data + b->off, live);
		b->off = 0;
		b->len = live;
		return b->data + b->len;
	}
	if (n > (size_t)-1 / 2 - live) {
		errno = ENOMEM;
		return NULL;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < live + n)
		cap *= 2;
	char *p = malloc(cap);
	if (!p)
		return NULL;
	if (live)
		memcpy(p, b->data + b->off, live);
	free(b->data);
	b->data = p;
	b->off = 0;
	b->len = live;
	b->cap = cap;
	return b->data + b->len;
}

void ss_buf_commit(struct ss_buf *b, size_t n) { b->len += n; }

int ss_buf_append(struct ss_buf *b, const void *p, size_t n)
{
	char *dst = ss_buf_space(b, n);

	if (!dst)
		return -1;
	if (n)
		memcpy(dst, p, n);
	b->len += n;
	return 0;
}

int ss_buf_insert(struct ss_buf *b, size_t at, const void *p, size_t n)
{
	if (!ss_buf_space(b, n))
		return -1;
	char *head = b->data + b->off;
	memmove(head + at + n, head + at, ss_buf_size(b) - at);
	memcpy(head + at, p, n);
	b->len += n;
	return 0;
}

int ss_buf_puts(struct ss_buf *b, const char *s) { return ss_buf_append(b, s, strlen(s)); }

int ss_buf_printf(struct ss_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return ss_buf_append(b, small, (size_t)n);
	char *dst = ss_buf_space(b, (size_t)n + 1);
	if (!dst)
		return -1;
	va_start(ap, fmt);
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void ss_buf_consume(struct ss_buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void ss_buf_shrink(struct ss_buf *b, size_t keep)
{
	if (ss_buf_size(b) == 0 && b->cap > keep)
		ss_buf_free(b);
}

int ss_buf_pread(struct ss_buf *b, int fd, uint64_t off, size_t n)
{
	char *p = ss_buf_space(b, n);
	size_t got = 0;

	if (!p)
		return -1;
	while (got < n) {
		ssize_t k = pread(fd, p + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO; /* the file ends before what it should hold */
			return -1;
		}
		got += (size_t)k;
	}
	ss_buf_commit(b, n);
	return 0;
}
