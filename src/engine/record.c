/*
 * record.c - encoding and strict decoding of log records (format: record.h).
 *
 * The decoder reads bytes that may come from a torn write, a flipped bit or a
 * hostile hand, so it trusts nothing: a line is a record only if every field
 * is exactly where the format puts it - one space between fields, names and
 * values of allowed bytes and lengths, numbers in canonical decimal that fit,
 * and a CRC-32C that matches. Everything else is SS_DEC_BAD; there is no
 * "close enough". Strictness is what lets replay tell a torn tail from
 * corruption: random bytes almost never form a valid record.
 *
 * Both directions are pure: no I/O, no allocation; decoded records point into
 * the caller's buffer.
 */
#include "statestored/record.h"

#include <string.h>

#include "engine/crc32c.h"

#define SET_TAG "SET_CHECKPOINT "
#define DEL_TAG "DEL_CHECKPOINT "
#define GROUP_TAG "GROUP "
#define TAG_LEN(tag) (sizeof(tag) - 1)
#define CRC_FIELD 9 /* " xxxxxxxx" */
#define HEADER_MAGIC SS_LOG_MAGIC " "

_Static_assert(SS_GROUP_MAX >= 1 && SS_GROUP_MAX <= 9999999,
	       "SS_GROUP_LINE_MAX assumes a count of at most 7 digits");

static const char hexdigits[] = "0123456789abcdef";

static char *put_bytes(char *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_dec(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

size_t ss_record_encode(const struct ss_record *r, char *buf)
{
	char *p = buf;
	uint32_t crc;

	switch (r->type) {
	case SS_REC_SET:
		p = put_bytes(p, SET_TAG, TAG_LEN(SET_TAG));
		p = put_bytes(p, r->name, r->nlen);
		*p++ = ' ';
		p = put_bytes(p, r->value, r->vlen);
		*p++ = ' ';
		p = put_dec(p, (uint64_t)r->expire_ms);
		break;
	case SS_REC_DEL:
		p = put_bytes(p, DEL_TAG, TAG_LEN(DEL_TAG));
		p = put_bytes(p, r->name, r->nlen);
		break;
	case SS_REC_GROUP:
		p = put_bytes(p, GROUP_TAG, TAG_LEN(GROUP_TAG));
		p = put_dec(p, r->count);
		break;
	}
	crc = ss_crc32c(0, buf, (size_t)(p - buf));
	*p++ = ' ';
	for (int i = 7; i >= 0; i--) {
		p[i] = hexdigits[crc & 0xf];
		crc >>= 4;
	}
	p += 8;
	*p++ = '\n';
	return (size_t)(p - buf);
}

static const char *check_token(const char *p, size_t n, size_t max, const char *empty,
			       const char *toolong, const char *badbyte)
{
	if (n == 0)
		return empty;
	if (n > max)
		return toolong;
	for (size_t i = 0; i < n; i++) {
		if (!ss_is_token_char((unsigned char)p[i]))
			return badbyte;
	}
	return NULL;
}

const char *ss_record_check(const struct ss_record *r)
{
	const char *why;

	switch (r->type) {
	case SS_REC_SET:
		why = check_token(r->name, r->nlen, SS_NAME_MAX, "name is empty", "name too long",
				  "name has a byte outside 0x21..0x7e");
		if (why)
			return why;
		why = check_token(r->value, r->vlen, SS_VALUE_MAX, "value is empty",
				  "value too long", "value has a byte outside 0x21..0x7e");
		if (why)
			return why;
		return r->expire_ms < 0 ? "expire_ms is negative" : NULL;
	case SS_REC_DEL:
		return check_token(r->name, r->nlen, SS_NAME_MAX, "name is empty", "name too long",
				   "name has a byte outside 0x21..0x7e");
	case SS_REC_GROUP:
		if (r->count < 1 || r->count > SS_GROUP_MAX)
			return "group count out of range";
		return NULL;
	}
	return "unknown record type";
}

/* Length of the run of token bytes at the start of p[0..n). */
static size_t token_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && ss_is_token_char((unsigned char)p[i]))
		i++;
	return i;
}

/* Parses p[0..n) as canonical decimal (no sign, no leading zero except "0")
 * not above max. Returns 0 and *out, or -1. */
static int parse_dec(const char *p, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (p[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - (unsigned)'0';

		if (d > 9 || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Lowercase hex digit value, or -1: uppercase is not canonical. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses the fields of body[0..n) (the line before " <crc>"). Returns 0 and
 * fills *r, or -1. */
static int parse_body(const char *body, size_t n, struct ss_record *r)
{
	size_t p, k;
	uint64_t v;

	if (n > TAG_LEN(SET_TAG) && memcmp(body, SET_TAG, TAG_LEN(SET_TAG)) == 0) {
		p = TAG_LEN(SET_TAG);
		k = token_len(body + p, n - p);
		if (k == 0 || k > SS_NAME_MAX || p + k >= n || body[p + k] != ' ')
			return -1;
		r->name = body + p;
		r->nlen = k;
		p += k + 1;
		k = token_len(body + p, n - p);
		if (k == 0 || k > SS_VALUE_MAX || p + k >= n || body[p + k] != ' ')
			return -1;
		r->value = body + p;
		r->vlen = k;
		p += k + 1;
		if (parse_dec(body + p, n - p, INT64_MAX, &v) < 0)
			return -1;
		r->type = SS_REC_SET;
		r->expire_ms = (int64_t)v;
		return 0;
	}
	if (n > TAG_LEN(DEL_TAG) && memcmp(body, DEL_TAG, TAG_LEN(DEL_TAG)) == 0) {
		p = TAG_LEN(DEL_TAG);
		k = token_len(body + p, n - p);
		if (k == 0 || k > SS_NAME_MAX || p + k != n)
			return -1;
		r->type = SS_REC_DEL;
		r->name = body + p;
		r->nlen = k;
		return 0;
	}
	if (n > TAG_LEN(GROUP_TAG) && memcmp(body, GROUP_TAG, TAG_LEN(GROUP_TAG)) == 0) {
		p = TAG_LEN(GROUP_TAG);
		if (parse_dec(body + p, n - p, SS_GROUP_MAX, &v) < 0 || v == 0)
			return -1;
		r->type = SS_REC_GROUP;
		r->count = (uint32_t)v;
		return 0;
	}
	return -1;
}

enum ss_dec ss_record_decode(const char *buf, size_t len, struct ss_record *r, size_t *used)
{
	size_t reach = len < SS_RECORD_MAX ? len : SS_RECORD_MAX;
	const char *nl = memchr(buf, '\n', reach);
	struct ss_record rec = {0};
	uint32_t crc = 0;
	size_t n, body;

	*used = 0;
	if (!nl)
		return len < SS_RECORD_MAX ? SS_DEC_PARTIAL : SS_DEC_BAD;
	n = (size_t)(nl - buf);
	*used = n + 1;
	if (n < CRC_FIELD + 1 || buf[n - CRC_FIELD] != ' ')
		return SS_DEC_BAD;
	for (size_t i = n - 8; i < n; i++) {
		int d = hex_value(buf[i]);

		if (d < 0)
			return SS_DEC_BAD;
		crc = (crc << 4) | (uint32_t)d;
	}
	body = n - CRC_FIELD;
	if (parse_body(buf, body, &rec) < 0)
		return SS_DEC_BAD;
	if (ss_crc32c(0, buf, body) != crc)
		return SS_DEC_BAD;
	*r = rec;
	return SS_DEC_OK;
}

long ss_record_header_check(const char *buf, size_t len, long *version)
{
	const size_t hlen = sizeof(SS_LOG_HEADER) - 1;
	const size_t mlen = sizeof(HEADER_MAGIC) - 1;
	size_t i, ndig = 0;
	long v = 0;

	if (memcmp(buf, SS_LOG_HEADER, len < hlen ? len : hlen) == 0)
		return len >= hlen ? (long)hlen : 0;
	if (len < mlen || memcmp(buf, HEADER_MAGIC, mlen) != 0)
		return -1;
	/* "statestored-log <version>\n" of a version we do not read. Up to 18
	 * digits so that v cannot overflow; no leading zeros. */
	for (i = mlen; i < len && buf[i] >= '0' && buf[i] <= '9' && ndig < 18; i++, ndig++)
		v = v * 10 + (buf[i] - '0');
	if (ndig == 0 || (buf[mlen] == '0' && ndig > 1))
		return -1;
	if (i < len && buf[i] != '\n')
		return -1;
	if (version)
		*version = v;
	return -2;
}
