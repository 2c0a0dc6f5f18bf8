/*
 * bench_reply.c - the bench's reply parsers and request-text helpers: pure
 * functions over bytes, so the tests can feed them split and malformed input.
 */
#include "common/numparse.h"
#include "proto/proto.h"
#include "tools/bench/bench.h"

#include <stdio.h>
#include <string.h>

void ss_bench_digits(char *dst, size_t width, uint64_t v)
{
	size_t i = width;
	while (i > 0 && v > 0) {
		dst[--i] = (char)('0' + v % 10);
		v /= 10;
	}
	if (i > 0)
		memset(dst, '0', i);
}

void ss_bench_key(char *dst, uint64_t id)
{
	memcpy(dst, "pipeline", 8);
	ss_bench_digits(dst + 8, SS_BENCH_KEY_LEN - 8, id);
}

size_t ss_bench_u64(char *dst, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (size_t i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

size_t ss_bench_mset_len(unsigned n, size_t vsize)
{
	/* The RESP form is the longer one: "*<2n+1>\r\n$4\r\nMSET\r\n", then
	 * per pair "$16\r\n<key>\r\n$<vsize>\r\n<value>\r\n" (vsize has at
	 * most 20 digits). */
	return 48 + (size_t)n * (SS_BENCH_KEY_LEN + vsize + 40);
}

char *ss_bench_format_mset(char *p, int redis, uint64_t first, unsigned n, uint64_t keys,
			   size_t vsize, uint64_t vseq)
{
	char vlen[24];
	size_t vlen_len = redis ? (size_t)snprintf(vlen, sizeof(vlen), "%zu", vsize) : 0;
	if (redis) {
		*p++ = '*';
		p += ss_bench_u64(p, 2 * (uint64_t)n + 1);
		p = PUTS(p, "\r\n$4\r\nMSET\r\n");
	} else {
		p = PUTS(p, "MSET_CHECKPOINT");
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t key = (first + i) % keys;
		p = redis ? PUTS(p, "$16\r\n") : PUTS(p, " ");
		ss_bench_key(p, key);
		p += SS_BENCH_KEY_LEN;
		if (redis) {
			p = PUTS(p, "\r\n$");
			p = put(p, vlen, vlen_len);
			p = PUTS(p, "\r\n");
		} else {
			*p++ = ' ';
		}
		ss_bench_digits(p, vsize, vseq);
		p += vsize;
		if (redis)
			p = PUTS(p, "\r\n");
	}
	if (!redis)
		*p++ = '\n';
	return p;
}

int ss_bench_cas_reply(const char *val, size_t vlen, uint64_t *rev)
{
	if (vlen > 3 && memcmp(val, "OK ", 3) == 0)
		return ss_parse_u64(val + 3, vlen - 3, rev) == 0 ? 1 : -1;
	if (vlen > 9 && memcmp(val, "CONFLICT ", 9) == 0)
		return ss_parse_u64(val + 9, vlen - 9, rev) == 0 ? 0 : -1;
	return -1;
}

int ss_bench_getrev_reply(const char *val, size_t vlen, uint64_t *rev)
{
	if (vlen == 4 && memcmp(val, "NULL", 4) == 0) {
		*rev = 0;
		return 0;
	}
	const char *sp = memchr(val, ' ', vlen);
	if (!sp)
		return -1;
	return ss_parse_u64(val, (size_t)(sp - val), rev);
}

int64_t ss_bench_seq_expected(uint64_t key, uint64_t seq, uint64_t keys)
{
	if (keys == 0 || key >= keys || key >= seq)
		return -1;
	return (int64_t)(key + (seq - 1 - key) / keys * keys);
}

long ss_bench_parse_line(const char *buf, size_t len, size_t max, enum ss_bench_reply *kind,
			 const char **val, size_t *vlen)
{
	size_t reach = len < max ? len : max;
	const char *nl = memchr(buf, '\n', reach);
	if (!nl)
		return len < max ? 0 : -1;
	size_t n = (size_t)(nl - buf);
	size_t used = n + 1;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	*val = buf;
	*vlen = n;
	if (n == 2 && memcmp(buf, "OK", 2) == 0)
		*kind = SS_BENCH_OK;
	else if (n == 4 && memcmp(buf, "NULL", 4) == 0)
		*kind = SS_BENCH_NULL;
	else if (ss_text_is_error(buf, n))
		*kind = SS_BENCH_ERR;
	else
		*kind = SS_BENCH_VALUE;
	return (long)used;
}

/* Parses the decimal after a RESP type byte, up to "\r\n". Returns the
 * offset just past "\r\n", 0 if incomplete, -1 if malformed. */
static long resp_int(const char *buf, size_t len, size_t max, long long *out)
{
	size_t i = 1;
	int neg = 0;
	long long v = 0;
	if (i < len && buf[i] == '-') {
		neg = 1;
		i++;
	}
	size_t start = i;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (i - start >= 18)
			return -1;
		v = v * 10 + (buf[i] - '0');
	}
	if (i == len || (i + 1 == len && buf[i] == '\r'))
		return len >= max ? -1 : 0;
	if (i == start || buf[i] != '\r' || buf[i + 1] != '\n')
		return -1;
	*out = neg ? -v : v;
	return (long)(i + 2);
}

long ss_bench_parse_resp(const char *buf, size_t len, size_t max, enum ss_bench_reply *kind,
			 const char **val, size_t *vlen)
{
	if (len == 0)
		return 0;
	long long n;
	long hdr;
	const char *cr;
	size_t reach = len < max ? len : max;
	switch (buf[0]) {
	case '+':
	case '-':
		cr = memchr(buf, '\r', reach);
		if (!cr) {
			if (len >= max)
				return -1;
			return 0;
		}
		if ((size_t)(cr - buf) + 2 > len)
			return len >= max ? -1 : 0;
		if (cr[1] != '\n')
			return -1;
		*val = buf + 1;
		*vlen = (size_t)(cr - buf) - 1;
		if (buf[0] == '-')
			*kind = SS_BENCH_ERR;
		else if (*vlen == 2 && memcmp(*val, "OK", 2) == 0)
			*kind = SS_BENCH_OK;
		else
			*kind = SS_BENCH_VALUE;
		return (long)(cr - buf) + 2;
	case ':':
		hdr = resp_int(buf, len, max, &n);
		if (hdr <= 0)
			return hdr;
		*kind = SS_BENCH_VALUE;
		*val = buf + 1;
		*vlen = (size_t)hdr - 3;
		return hdr;
	case '$':
		hdr = resp_int(buf, len, max, &n);
		if (hdr <= 0)
			return hdr;
		if (n == -1) {
			*kind = SS_BENCH_NULL;
			*val = buf + hdr;
			*vlen = 0;
			return hdr;
		}
		if (n < 0 || (unsigned long long)n + (unsigned long long)hdr + 2 > max)
			return -1;
		if ((size_t)hdr + (size_t)n + 2 > len)
			return 0;
		if (buf[hdr + n] != '\r' || buf[hdr + n + 1] != '\n')
			return -1;
		*kind = SS_BENCH_VALUE;
		*val = buf + hdr;
		*vlen = (size_t)n;
		return hdr + (long)n + 2;
	default:
		return -1;
	}
}

int ss_bench_wait_reply(enum ss_bench_reply kind, const char *val, size_t vlen, unsigned n)
{
	uint64_t got = 0;
	if (kind != SS_BENCH_VALUE || vlen == 0 || vlen > 19)
		return -1;
	for (size_t i = 0; i < vlen; i++) {
		if (val[i] < '0' || val[i] > '9')
			return -1;
		got = got * 10 + (uint64_t)(val[i] - '0');
	}
	return got >= n;
}
