/*
 * buf.h - a growable byte buffer with a read offset.
 *
 * The live bytes are data[off..len). Appends go at len; consumers advance
 * off. Space before off is reclaimed (by moving the live bytes down) when an
 * append needs room, so a buffer used as a queue does not grow without end.
 */
#ifndef STATESTORED_BUF_H
#define STATESTORED_BUF_H

#include <stddef.h>
#include <stdint.h>

struct ss_buf {
	char *data;
	size_t off, len, cap;
};

void ss_buf_init(struct ss_buf *b);
void ss_buf_free(struct ss_buf *b);

/* Number of live bytes, and a pointer to the first. The pointer is never
 * NULL, even for a buffer whose memory was never allocated or was freed
 * (ss_buf_shrink): callers pass it to memchr and the parser with a size of 0,
 * and NULL + 0 or memchr(NULL, c, 0) is undefined behaviour. */
static inline size_t ss_buf_size(const struct ss_buf *b) { return b->len - b->off; }
static inline char *ss_buf_head(const struct ss_buf *b)
{
	static char empty[1];
	return b->data ? b->data + b->off : empty;
}

/* Makes room for at least n more bytes after the live ones. Returns a
 * pointer to that room (write into it, then ss_buf_commit), or NULL with
 * errno ENOMEM. */
char *ss_buf_space(struct ss_buf *b, size_t n);
/* Marks n bytes written into the room from ss_buf_space as live. */
void ss_buf_commit(struct ss_buf *b, size_t n);

/* Appends bytes; returns 0 or -1 with errno ENOMEM (b unchanged). */
int ss_buf_append(struct ss_buf *b, const void *p, size_t n);
int ss_buf_puts(struct ss_buf *b, const char *s);
/* printf-style append; same return convention. */
int ss_buf_printf(struct ss_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the n bytes of file fd at offset off, read with pread (EINTR
 * retried). Returns 0, or -1 with errno: pread's, ENOMEM, or EIO if the
 * file ends before them; b is unchanged then. */
int ss_buf_pread(struct ss_buf *b, int fd, uint64_t off, size_t n);

/* Inserts p[0..n) before the live byte at (at <= size); same return
 * convention. */
int ss_buf_insert(struct ss_buf *b, size_t at, const void *p, size_t n);

/* Drops the first n live bytes (n <= size). */
void ss_buf_consume(struct ss_buf *b, size_t n);

/* Frees the memory if the buffer is empty and holds more than keep bytes,
 * so an idle connection does not pin a large buffer. */
void ss_buf_shrink(struct ss_buf *b, size_t keep);

#endif
