/*
 * fuzz_proto.c - libFuzzer target for the request parser (proto.h).
 *
 * Input layout:
 *   byte 0        max_line: 0..63 for values below 0xc0 (so that "line too
 *                 long" is common), else one of a few realistic limits
 *   byte 1        number of split points k (0..15)
 *   bytes 2..2+k  chunk lengths: the stream arrives in chunks of these sizes
 *                 (the rest in one last chunk)
 *   the rest      the byte stream a client sends
 *
 * The stream is parsed twice:
 *   flat   - all of it in one buffer: parse, advance by the bytes consumed,
 *            until "need more" or "too long";
 *   split  - chunk by chunk into an accumulating buffer exactly as a
 *            connection does (conn.c): the buffer holds at most max_line + 2
 *            bytes, a read takes what fits, and the server parses until
 *            "need more" before the next read.
 * Both must give the same requests (tokens, argc, too_many, bytes consumed)
 * and end the same way. One ss_request serves every parse, as a session's
 * does, so a request past SS_ARGS_INLINE tokens moves to the heap array and
 * later ones reuse it (ASan sees any stale pointer into it). Every result is also checked against the contract
 * in proto.h and against a reference tokenizer written from that contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "common/buf.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One parsed request, tokens as offsets from the start of its line (a
 * request may hold up to SS_ARGS_MAX tokens: the arrays are malloc'd). */
struct parsed {
	long consumed;
	int argc, too_many;
	size_t *off, *len;
};

static int is_sep(char c) { return c == ' ' || c == '\t'; }

/* The content bytes of a line that ends at eol (the offset of its '\n'):
 * without the one '\r' right before the '\n', which does not count toward
 * max_line. */
static size_t content_len(const char *buf, size_t eol)
{
	return eol > 0 && buf[eol - 1] == '\r' ? eol - 1 : eol;
}

/* Whether len bytes with no newline among them could still become a line
 * within max_line: at most max_line bytes, or max_line bytes and a '\r'. */
static int may_fit(const char *buf, size_t len, size_t max_line)
{
	return len <= max_line || (len == max_line + 1 && buf[max_line] == '\r');
}

/* Checks one ss_text_parse result on buf[0..len) against proto.h and the
 * reference tokenizer. */
static void check_result(const char *buf, size_t len, size_t max_line, long r,
			 const struct ss_request *req)
{
	const char *nl = memchr(buf, '\n', len);

	if (r == 0) {
		fz_check(!nl, "need-more (0) but a newline is at offset %td", nl - buf);
		fz_check(may_fit(buf, len, max_line),
			 "need-more (0) with %zu bytes buffered > max_line %zu", len, max_line);
		return;
	}
	if (r < 0) {
		fz_check(r == -1, "parse returned %ld", r);
		if (nl)
			fz_check(content_len(buf, (size_t)(nl - buf)) > max_line,
				 "too long (-1) but the line ends at %td within max_line %zu",
				 nl - buf, max_line);
		else
			fz_check(!may_fit(buf, len, max_line),
				 "too long (-1) with only %zu bytes <= max_line %zu", len, max_line);
		return;
	}
	fz_check((size_t)r <= len, "consumed %ld > len %zu", r, len);
	fz_check(nl && nl - buf == r - 1, "consumed %ld but the first newline is at %td", r,
		 nl ? nl - buf : (ptrdiff_t)-1);
	fz_check(content_len(buf, (size_t)r - 1) <= max_line,
		 "accepted a line of %ld bytes > max_line %zu", r - 1, max_line);
	fz_check(req->argc >= 0 && req->argc <= SS_ARGS_MAX, "argc %d", req->argc);

	/* Reference tokenizer: maximal runs of non-separators in the line
	 * without its newline and one '\r' before it. */
	size_t end = (size_t)r - 1, i = 0;
	int k = 0;
	if (end > 0 && buf[end - 1] == '\r')
		end--;
	while (i < end) {
		while (i < end && is_sep(buf[i]))
			i++;
		if (i == end)
			break;
		size_t start = i;
		while (i < end && !is_sep(buf[i]))
			i++;
		if (k < SS_ARGS_MAX) {
			const struct ss_token *t = &req->argv[k];
			fz_check(t->p == buf + start && t->n == i - start,
				 "token %d is [%td, +%zu), expected [%zu, +%zu)", k, t->p - buf, t->n,
				 start, i - start);
		}
		k++;
	}
	fz_check(req->argc == (k < SS_ARGS_MAX ? k : SS_ARGS_MAX), "argc %d for %d tokens",
		 req->argc, k);
	fz_check(req->too_many == (k > SS_ARGS_MAX), "too_many %d for %d tokens", req->too_many,
		 k);
	for (int j = 0; j < req->argc; j++) {
		const struct ss_token *t = &req->argv[j];
		fz_check(t->n > 0, "empty token %d", j);
		fz_check(t->p >= buf && t->p + t->n <= buf + r - 1, "token %d outside its line", j);
		for (size_t b = 0; b < t->n; b++)
			fz_check(t->p[b] != ' ' && t->p[b] != '\t' && t->p[b] != '\n',
				 "token %d holds a separator at %zu", j, b);
	}
}

/* ss_token_is against a plain case-insensitive comparison. */
static void check_token_is(const struct ss_token *t)
{
	static const char *const words[] = {"SET_CHECKPOINT", "GET_CHECKPOINT", "PING", "QUIT", "",
					    "SET", "CAS_CHECKPOINT", "MCAS_CHECKPOINT",
					    "MSET_CHECKPOINT", "LIST_CHECKPOINTS", "PREFIX", "COUNT"};
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t n = strlen(words[w]);
		int want = t->n == n;
		for (size_t i = 0; want && i < n; i++) {
			char c = t->p[i];
			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			want = c == words[w][i];
		}
		fz_check(ss_token_is(t, words[w]) == want, "ss_token_is('%.*s', %s) != %d",
			 (int)t->n, t->p, words[w], want);
	}
}

static void record(struct parsed *p, const char *line, long r, const struct ss_request *req)
{
	p->consumed = r;
	p->argc = req->argc;
	p->too_many = req->too_many;
	p->off = fz_alloc((size_t)(req->argc + 1) * sizeof(*p->off));
	p->len = fz_alloc((size_t)(req->argc + 1) * sizeof(*p->len));
	for (int j = 0; j < req->argc; j++) {
		p->off[j] = (size_t)(req->argv[j].p - line);
		p->len[j] = req->argv[j].n;
	}
}

static int same(const struct parsed *a, const struct parsed *b)
{
	if (a->consumed != b->consumed || a->argc != b->argc || a->too_many != b->too_many)
		return 0;
	for (int j = 0; j < a->argc; j++) {
		if (a->off[j] != b->off[j] || a->len[j] != b->len[j])
			return 0;
	}
	return 1;
}

static size_t pick_max_line(uint8_t b)
{
	static const size_t big[] = {SS_LINE_MAX_MIN, 4096, SS_LINE_MAX_DEFAULT, 100};
	return b < 0xc0 ? (size_t)(b & 63) : big[b & 3];
}

/* Parses buf[0..len) copied into an allocation of exactly len bytes, so
 * that AddressSanitizer catches a read past len. */
static long parse_exact(const char *buf, size_t len, size_t max_line, struct ss_request *req,
			char **copy)
{
	*copy = fz_alloc(len);
	memcpy(*copy, buf, len);
	long r = ss_text_parse(*copy, len, max_line, req);
	check_result(*copy, len, max_line, r, req);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max_line = pick_max_line(data[0]);
	size_t nsplit = data[1] & 15;
	if (size < 2 + nsplit)
		return 0;
	const uint8_t *splits = data + 2;
	const char *s = (const char *)data + 2 + nsplit;
	size_t len = size - 2 - nsplit;

	/* Flat: the whole stream at once. */
	size_t cap = 1, n = 0, off = 0;
	for (size_t k = 0; k < len; k++)
		cap += s[k] == '\n';
	struct parsed *flat = fz_alloc(cap * sizeof(*flat));
	struct ss_request req;
	long r;

	ss_request_init(&req);
	for (;;) {
		r = ss_text_parse(s + off, len - off, max_line, &req);
		check_result(s + off, len - off, max_line, r, &req);
		if (r <= 0)
			break;
		for (int j = 0; j < req.argc; j++)
			check_token_is(&req.argv[j]);
		record(&flat[n++], s + off, r, &req);
		off += (size_t)r;
	}
	long flat_end = r;
	size_t flat_off = off;

	/* Split: chunk by chunk, as a connection reads. */
	struct ss_buf in;
	size_t in_cap = max_line + 2, fed = 0, i = 0, got = 0, split = 0;
	size_t chunk_left = nsplit ? splits[0] : len;
	ss_buf_init(&in);
	/* conn.c makes room for a whole read before its first read(2). */
	fz_check(ss_buf_space(&in, 1), "out of memory");
	for (;;) {
		char *copy;
		r = parse_exact(ss_buf_head(&in), ss_buf_size(&in), max_line, &req, &copy);
		if (r > 0) {
			struct parsed p;
			record(&p, copy, r, &req);
			fz_check(i < n && same(&p, &flat[i]),
				 "request %zu (at stream offset %zu) differs between the split and "
				 "the one-chunk feed",
				 i, got);
			free(p.off);
			free(p.len);
			i++;
			got += (size_t)r;
			ss_buf_consume(&in, (size_t)r);
			free(copy);
			continue;
		}
		free(copy);
		if (r < 0 || fed == len)
			break;
		/* Need more: one read of what fits and is available. */
		size_t room = in_cap - ss_buf_size(&in);
		fz_check(room > 0, "need-more with a full input buffer (%zu bytes)", in_cap);
		while (chunk_left == 0) {
			split++;
			chunk_left = split < nsplit ? splits[split] : len - fed;
		}
		size_t take = chunk_left < room ? chunk_left : room;
		if (take > len - fed)
			take = len - fed;
		char *dst = ss_buf_space(&in, take);
		fz_check(dst, "out of memory");
		memcpy(dst, s + fed, take);
		ss_buf_commit(&in, take);
		fed += take;
		chunk_left -= take;
	}
	fz_check(i == n, "the split feed gave %zu requests, the one-chunk feed %zu", i, n);
	fz_check(r == flat_end, "the split feed ended with %ld, the one-chunk feed with %ld", r,
		 flat_end);
	fz_check(got == flat_off, "the split feed stopped at offset %zu, the one-chunk feed at %zu",
		 got, flat_off);
	if (r == 0)
		fz_check(ss_buf_size(&in) == len - flat_off && fed == len,
			 "the split feed left %zu bytes, the one-chunk feed %zu",
			 ss_buf_size(&in) + (len - fed), len - flat_off);
	ss_buf_free(&in);
	for (size_t k = 0; k < n; k++) {
		free(flat[k].off);
		free(flat[k].len);
	}
	free(flat);
	ss_request_free(&req);
	return 0;
}
