/*
 * fuzz_resp.c - libFuzzer target for the RESP request parser (resp.h).
 *
 * Input layout:
 *   byte 0        max_line: 64..191 for values below 0x80 (so that the
 *                 length bounds are easy to reach), 64..4096 in steps of 64
 *                 below 0xc0, else one of a few fixed limits
 *   byte 1        seeds the choice of prefixes for the split feed
 *   the rest      the byte stream a client sends
 *
 * The stream is parsed as a session does: request after request, each from
 * where the last ended, until "need more" or an error, with one ss_request
 * for all (so a request past SS_ARGS_INLINE arguments moves to the heap
 * array and later ones reuse it; ASan sees a stale pointer into it). Each
 * parse gets a copy of its bytes in an allocation of exactly that size, so
 * ASan catches a read past len. Every result is checked against the
 * contract of proto.h and resp.h:
 *   - the return value is -1, 0, or a length in 1..len, and at most
 *     max_line + 2 (a request is bounded like a text line);
 *   - 0 ("need more") only while fewer than max_line + 2 bytes are held:
 *     a full buffer never waits forever;
 *   - -1 sets req->error to one of Redis's "Protocol error: ..." texts,
 *     a single line;
 *   - > 0: the bytes taken are exactly "*<argc>\r\n" and, for each token,
 *     "$<n>\r\n<token>\r\n" (a reference walk, with leading zeros and "-0"
 *     as the parser takes them), so every token lies inside buf[0..ret);
 *     argc <= SS_ARGS_MAX.
 * And the split feed: for prefixes of the request's bytes (every prefix for
 * a short one, else a few, near the request's end and the limit among
 * them), the parse of the first k bytes returns 0, or what the whole input
 * returned (the same length and the same tokens) when the request is
 * complete within k; -1 only if the whole input gives -1. Over every prefix
 * the results are 0s and then one constant result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prefixes up to this long are all tried. */
#define ALL_PREFIXES_MAX 512
/* Otherwise this many, chosen. */
#define SOME_PREFIXES 12

struct result {
	long r;
	int argc;
	size_t *off, *n; /* tokens as offsets from the request's start */
};

static size_t pick_max_line(uint8_t b)
{
	static const size_t fixed[] = {SS_LINE_MAX_MIN, 4096, 100, 66};
	if (b < 0x80)
		return 64 + (size_t)b;
	if (b < 0xc0)
		return 64 * (size_t)(1 + (b & 0x3f));
	return fixed[b & 3];
}

/* Reference: the header at buf[pos] whose type byte is c: c, an optional
 * '-', 1..18 digits, "\r\n", within buf[0..end). Returns 1 with its value
 * and the offset past it, else 0. */
static int ref_header(const char *buf, size_t end, size_t pos, char c, long long *v,
		      size_t *next)
{
	size_t i = pos;
	int neg = 0, digits = 0;
	long long n = 0;

	if (i >= end || buf[i++] != c)
		return 0;
	if (i < end && buf[i] == '-') {
		neg = 1;
		i++;
	}
	while (i < end && buf[i] >= '0' && buf[i] <= '9') {
		if (++digits > 18)
			return 0;
		n = n * 10 + (buf[i++] - '0');
	}
	if (digits == 0 || i + 2 > end || buf[i] != '\r' || buf[i + 1] != '\n')
		return 0;
	*v = neg ? -n : n;
	*next = i + 2;
	return 1;
}

static const char *const errors[] = {
	"Protocol error: expected '*'",
	"Protocol error: invalid multibulk length",
	"Protocol error: invalid bulk length",
	"Protocol error: bulk string not ended by CRLF",
	"Protocol error: request longer than --max-line",
};

static void check_error(const char *e)
{
	static const char dollar[] = "Protocol error: expected '$', got '";

	fz_check(e != NULL, "parse returned -1 with no error");
	size_t n = strnlen(e, 256);
	fz_check(n < 64, "error text of %zu bytes", n);
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
		if (strcmp(e, errors[i]) == 0)
			return;
	fz_check(n == sizeof dollar - 1 + 2 && memcmp(e, dollar, sizeof dollar - 1) == 0 &&
			 e[n - 1] == '\'' && e[n - 2] >= 0x20 && e[n - 2] < 0x7f,
		 "unknown error text \"%.*s\"", (int)n, e);
}

/* Checks one ss_resp_parse result on buf[0..len) against the contract. */
static void check_result(const char *buf, size_t len, size_t max_line, long r,
			 const struct ss_request *req)
{
	fz_check(r >= -1 && r <= (long)len, "parse returned %ld for %zu bytes", r, len);
	fz_check(req->too_many == 0 && req->nomem == 0, "too_many %d nomem %d", req->too_many,
		 req->nomem);
	fz_check(req->argc >= 0 && req->argc <= SS_ARGS_MAX, "argc %d", req->argc);
	if (r == -1) {
		check_error(req->error);
		return;
	}
	fz_check(req->error == NULL, "parse returned %ld with error \"%s\"", r, req->error);
	if (r == 0) {
		fz_check(len < max_line + 2,
			 "need-more (0) with %zu bytes held >= max_line + 2 (%zu)", len,
			 max_line + 2);
		return;
	}
	fz_check((size_t)r <= max_line + 2, "took a request of %ld bytes > max_line + 2 (%zu)", r,
		 max_line + 2);

	/* Reference walk over buf[0..r). */
	size_t end = (size_t)r, pos;
	long long v;
	fz_check(ref_header(buf, end, 0, '*', &v, &pos), "the request does not start with a count");
	fz_check(v == req->argc, "count %lld but argc %d", v, req->argc);
	for (int j = 0; j < req->argc; j++) {
		const struct ss_token *t = &req->argv[j];
		fz_check(ref_header(buf, end, pos, '$', &v, &pos), "token %d: no bulk header at %zu",
			 j, pos);
		fz_check(t->p == buf + pos, "token %d at offset %td, its bulk's bytes at %zu", j,
			 t->p - buf, pos);
		fz_check(v >= 0 && (size_t)v == t->n, "token %d of %zu bytes, its header says %lld",
			 j, t->n, v);
		fz_check(t->n <= max_line, "token %d of %zu bytes > max_line", j, t->n);
		fz_check(pos + t->n + 2 <= end, "token %d [%zu, +%zu) ends past the request (%zu)",
			 j, pos, t->n, end);
		fz_check(buf[pos + t->n] == '\r' && buf[pos + t->n + 1] == '\n',
			 "token %d not followed by CRLF", j);
		pos += t->n + 2;
	}
	fz_check(pos == end, "the request's arguments end at %zu, parse took %ld", pos, r);
}

/* Parses buf[0..len) copied into an allocation of exactly len bytes (NULL
 * for 0, which the contract allows), and checks the result. *copy is the
 * copy (free it). */
static long parse_exact(const char *buf, size_t len, size_t max_line, struct ss_request *req,
			char **copy)
{
	*copy = len ? fz_alloc(len) : NULL;
	if (len)
		memcpy(*copy, buf, len);
	long r = ss_resp_parse(*copy, len, max_line, req);
	check_result(*copy ? *copy : "", len, max_line, r, req);
	return r;
}

static void record(struct result *res, const char *buf, long r, const struct ss_request *req)
{
	res->r = r;
	res->argc = r > 0 ? req->argc : 0;
	res->off = fz_alloc((size_t)(res->argc + 1) * sizeof(*res->off));
	res->n = fz_alloc((size_t)(res->argc + 1) * sizeof(*res->n));
	for (int j = 0; j < res->argc; j++) {
		res->off[j] = (size_t)(req->argv[j].p - buf);
		res->n[j] = req->argv[j].n;
	}
}

static void release(struct result *res)
{
	free(res->off);
	free(res->n);
}

/* The request at buf[0..len), whose whole parse gave *whole: its prefix of
 * k bytes must give 0, or the same result. Returns what it gave. */
static long check_prefix(const char *buf, size_t len, size_t k, size_t max_line,
			 struct ss_request *req, const struct result *whole)
{
	char *copy;
	long r = parse_exact(buf, k, max_line, req, &copy);

	if (whole->r > 0 && k >= (size_t)whole->r)
		fz_check(r == whole->r,
			 "the first %zu bytes gave %ld, the whole %zu bytes a request of %ld", k, r,
			 len, whole->r);
	if (r == -1)
		fz_check(whole->r == -1, "the first %zu bytes gave -1 (%s), the whole %zu bytes %ld",
			 k, req->error, len, whole->r);
	if (r > 0) {
		fz_check(r == whole->r && req->argc == whole->argc,
			 "the first %zu bytes gave %ld (argc %d), the whole %zu bytes %ld (argc %d)",
			 k, r, req->argc, len, whole->r, whole->argc);
		for (int j = 0; j < req->argc; j++)
			fz_check((size_t)(req->argv[j].p - copy) == whole->off[j] &&
					 req->argv[j].n == whole->n[j],
				 "the first %zu bytes gave token %d [%td, +%zu), the whole [%zu, +%zu)",
				 k, j, req->argv[j].p - copy, req->argv[j].n, whole->off[j],
				 whole->n[j]);
	}
	free(copy);
	return r;
}

/* The split feed of the request at buf[0..len). */
static void check_split(const char *buf, size_t len, size_t max_line, struct ss_request *req,
			const struct result *whole, uint32_t seed, int all)
{
	if (all && len <= ALL_PREFIXES_MAX) {
		long prev = 0;
		for (size_t k = 0; k < len; k++) {
			long r = check_prefix(buf, len, k, max_line, req, whole);
			fz_check(prev == 0 || r == prev,
				 "the first %zu bytes gave %ld, the first %zu gave %ld", k - 1, prev, k,
				 r);
			prev = r;
		}
		fz_check(prev == 0 || prev == whole->r, "the last prefix gave %ld, the whole %ld",
			 prev, whole->r);
		return;
	}
	/* A few: near the request's end, near the limit, and some at random. */
	size_t ks[SOME_PREFIXES], nk = 0;
	if (whole->r > 0) {
		ks[nk++] = (size_t)whole->r - 1;
		ks[nk++] = (size_t)whole->r;
		ks[nk++] = (size_t)whole->r + 1;
	}
	ks[nk++] = max_line + 1;
	ks[nk++] = max_line + 2;
	ks[nk++] = 1;
	while (nk < SOME_PREFIXES) {
		seed = seed * 1103515245u + 12345u;
		ks[nk++] = (seed >> 8) % (len + 1);
	}
	for (size_t i = 0; i < nk; i++)
		if (ks[i] < len)
			check_prefix(buf, len, ks[i], max_line, req, whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max_line = pick_max_line(data[0]);
	uint32_t seed = data[1];
	size_t len = size - 2;
	/* The stream, in an allocation of exactly its size. */
	char *s = len ? fz_alloc(len) : NULL;
	if (len)
		memcpy(s, data + 2, len);

	struct ss_request req;
	size_t off = 0;
	int nreq = 0;

	ss_request_init(&req);
	for (;;) {
		const char *buf = s ? s + off : NULL;
		size_t rem = len - off;
		struct result whole;
		long r = ss_resp_parse(buf, rem, max_line, &req);

		check_result(buf ? buf : "", rem, max_line, r, &req);
		record(&whole, buf, r, &req);
		check_split(buf, rem, max_line, &req, &whole, seed + (uint32_t)off, nreq == 0);
		release(&whole);
		if (r <= 0)
			break;
		/* The next request, from where this one ended. */
		off += (size_t)r;
		nreq++;
	}
	ss_request_free(&req);
	free(s);
	return 0;
}
