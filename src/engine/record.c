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
#define REV_TAG "REVISION "
#define EPOCH_TAG "EPOCH "
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

/* Whether byte c stands for itself in an escaped field. */
static int plain_byte(unsigned char c)
{
	return ss_is_token_char(c) && c != '\\';
}

size_t ss_record_escaped_len(const char *p, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		k += plain_byte(c) ? 1 : c == '\\' ? 2 : 4;
	}
	return k;
}

static char *put_escaped(char *out, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (plain_byte(c)) {
			*out++ = (char)c;
		} else if (c == '\\') {
			*out++ = '\\';
			*out++ = '\\';
		} else {
			*out++ = '\\';
			*out++ = 'x';
			*out++ = hexdigits[c >> 4];
			*out++ = hexdigits[c & 0xf];
		}
	}
	return out;
}

static size_t dec_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

size_t ss_record_size(const struct ss_record *r)
{
	size_t n = 0;

	switch (r->type) {
	case SS_REC_SET:
		n = TAG_LEN(SET_TAG) + ss_record_escaped_len(r->name, r->nlen) + 1 +
		    ss_record_escaped_len(r->value, r->vlen) + 1 + dec_len((uint64_t)r->expire_ms) + 1 +
		    dec_len(r->rev) + 1 + dec_len((uint64_t)r->commit_ms);
		break;
	case SS_REC_DEL:
		n = TAG_LEN(DEL_TAG) + ss_record_escaped_len(r->name, r->nlen) + 1 + dec_len(r->rev) + 1 +
		    dec_len((uint64_t)r->commit_ms);
		break;
	case SS_REC_REV:
		n = TAG_LEN(REV_TAG) + dec_len(r->rev);
		break;
	case SS_REC_EPOCH:
		n = TAG_LEN(EPOCH_TAG) + dec_len(r->epoch) + 1 + dec_len(r->rev);
		break;
	case SS_REC_GROUP:
		n = TAG_LEN(GROUP_TAG) + dec_len(r->count);
		break;
	}
	return n + CRC_FIELD + 1;
}

size_t ss_record_encode(const struct ss_record *r, char *buf)
{
	char *p = buf;
	uint32_t crc;

	switch (r->type) {
	case SS_REC_SET:
		p = put_bytes(p, SET_TAG, TAG_LEN(SET_TAG));
		p = put_escaped(p, r->name, r->nlen);
		*p++ = ' ';
		p = put_escaped(p, r->value, r->vlen);
		*p++ = ' ';
		p = put_dec(p, (uint64_t)r->expire_ms);
		*p++ = ' ';
		p = put_dec(p, r->rev);
		*p++ = ' ';
		p = put_dec(p, (uint64_t)r->commit_ms);
		break;
	case SS_REC_DEL:
		p = put_bytes(p, DEL_TAG, TAG_LEN(DEL_TAG));
		p = put_escaped(p, r->name, r->nlen);
		*p++ = ' ';
		p = put_dec(p, r->rev);
		*p++ = ' ';
		p = put_dec(p, (uint64_t)r->commit_ms);
		break;
	case SS_REC_REV:
		p = put_bytes(p, REV_TAG, TAG_LEN(REV_TAG));
		p = put_dec(p, r->rev);
		break;
	case SS_REC_EPOCH:
		p = put_bytes(p, EPOCH_TAG, TAG_LEN(EPOCH_TAG));
		p = put_dec(p, r->epoch);
		*p++ = ' ';
		p = put_dec(p, r->rev);
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

static const char *check_len(size_t n, size_t max, const char *empty, const char *toolong)
{
	if (n == 0)
		return empty;
	return n > max ? toolong : NULL;
}

static const char *check_name_len(size_t n)
{
	return check_len(n, SS_NAME_MAX, "name is empty", "name too long");
}

const char *ss_record_check(const struct ss_record *r)
{
	const char *why;

	switch (r->type) {
	case SS_REC_SET:
		why = check_name_len(r->nlen);
		if (!why)
			why = check_len(r->vlen, SS_VALUE_MAX, "value is empty", "value too long");
		if (!why && r->expire_ms < 0)
			why = "expire_ms is negative";
		break;
	case SS_REC_DEL:
		why = check_name_len(r->nlen);
		break;
	case SS_REC_REV:
		why = NULL;
		break;
	case SS_REC_EPOCH:
		/* The one record whose revision may be 0: an epoch begun by a
		 * promotion before any write. */
		return r->epoch == 0 ? "epoch is 0" : NULL;
	case SS_REC_GROUP:
		return r->count < 1 || r->count > SS_GROUP_MAX ? "group count out of range" : NULL;
	default:
		return "unknown record type";
	}
	if (!why && r->rev == 0)
		why = "revision is 0";
	if (!why && r->type != SS_REC_REV && r->commit_ms < 0)
		why = "commit_ms is negative";
	return why;
}

/* Length of the run of token bytes at the start of p[0..n). */
static size_t token_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && ss_is_token_char((unsigned char)p[i]))
		i++;
	return i;
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

/* Checks the escaped field p[0..n) (token bytes only) and returns its raw
 * length, or (size_t)-1 if an escape is not canonical: "\\" for a
 * backslash, "\xhh" (lowercase) only for a byte that cannot stand for
 * itself. *esc is set if the field holds any escape. */
static size_t escaped_field(const char *p, size_t n, int *esc)
{
	size_t raw = 0;

	*esc = 0;
	for (size_t i = 0; i < n; raw++) {
		if (p[i] != '\\') {
			i++;
			continue;
		}
		*esc = 1;
		if (i + 1 < n && p[i + 1] == '\\') {
			i += 2;
			continue;
		}
		if (i + 4 > n || p[i + 1] != 'x')
			return (size_t)-1;
		int hi = hex_value(p[i + 2]), lo = hex_value(p[i + 3]);
		if (hi < 0 || lo < 0 || plain_byte((unsigned char)(hi << 4 | lo)) ||
		    (hi << 4 | lo) == '\\')
			return (size_t)-1;
		i += 4;
	}
	return raw;
}

size_t ss_record_unescape(const char *p, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n;) {
		if (p[i] != '\\') {
			out[k++] = p[i++];
		} else if (p[i + 1] == '\\') {
			out[k++] = '\\';
			i += 2;
		} else {
			out[k++] = (char)(hex_value(p[i + 2]) << 4 | hex_value(p[i + 3]));
			i += 4;
		}
	}
	return k;
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

/* The next field of body[*p..n): a run of token bytes ended by a space
 * (last 0) or by the end of the body (last 1). Returns its length, or 0 if
 * it is empty or not ended so. */
static size_t field(const char *body, size_t n, size_t *p, int last, const char **start)
{
	size_t k = token_len(body + *p, n - *p);

	if (k == 0 || (last ? *p + k != n : (*p + k >= n || body[*p + k] != ' ')))
		return 0;
	*start = body + *p;
	*p += k + (last ? 0 : 1);
	return k;
}

/* A name or value field of a v2 record: escaped, raw length 1..max. */
static int text_field(const char *body, size_t n, size_t *p, size_t max, const char **f,
		      size_t *flen, size_t *raw, unsigned *esc, unsigned flag)
{
	int e;

	*flen = field(body, n, p, 0, f);
	if (*flen == 0 || *flen > 4 * max)
		return -1;
	*raw = escaped_field(*f, *flen, &e);
	if (*raw == (size_t)-1 || *raw > max)
		return -1;
	if (e)
		*esc |= flag;
	return 0;
}

/* A number field: canonical decimal up to max, 1..max if positive. */
static int num_field(const char *body, size_t n, size_t *p, int last, uint64_t max,
		     int positive, uint64_t *v)
{
	const char *f;
	size_t k = field(body, n, p, last, &f);

	return k == 0 || parse_dec(f, k, max, v) < 0 || (positive && *v == 0) ? -1 : 0;
}

static int parse_group(const char *body, size_t n, struct ss_record *r)
{
	uint64_t v;

	if (n <= TAG_LEN(GROUP_TAG) || memcmp(body, GROUP_TAG, TAG_LEN(GROUP_TAG)) != 0)
		return -1;
	if (parse_dec(body + TAG_LEN(GROUP_TAG), n - TAG_LEN(GROUP_TAG), SS_GROUP_MAX, &v) < 0 ||
	    v == 0)
		return -1;
	r->type = SS_REC_GROUP;
	r->count = (uint32_t)v;
	return 0;
}

static int has_tag(const char *body, size_t n, const char *tag, size_t tlen)
{
	return n > tlen && memcmp(body, tag, tlen) == 0;
}

/* Parses the fields of a v2 body[0..n) (the line before " <crc>").
 * Returns 0 and fills *r, or -1. */
static int parse_body(const char *body, size_t n, struct ss_record *r)
{
	size_t p;
	uint64_t v, rev, ms;

	if (has_tag(body, n, SET_TAG, TAG_LEN(SET_TAG))) {
		p = TAG_LEN(SET_TAG);
		if (text_field(body, n, &p, SS_NAME_MAX, &r->name, &r->nlen, &r->nraw, &r->esc,
			       SS_REC_NAME_ESC) < 0 ||
		    text_field(body, n, &p, SS_VALUE_MAX, &r->value, &r->vlen, &r->vraw, &r->esc,
			       SS_REC_VALUE_ESC) < 0 ||
		    num_field(body, n, &p, 0, INT64_MAX, 0, &v) < 0 ||
		    num_field(body, n, &p, 0, UINT64_MAX, 1, &rev) < 0 ||
		    num_field(body, n, &p, 1, INT64_MAX, 0, &ms) < 0)
			return -1;
		r->type = SS_REC_SET;
		r->expire_ms = (int64_t)v;
		r->rev = rev;
		r->commit_ms = (int64_t)ms;
		return 0;
	}
	if (has_tag(body, n, DEL_TAG, TAG_LEN(DEL_TAG))) {
		p = TAG_LEN(DEL_TAG);
		if (text_field(body, n, &p, SS_NAME_MAX, &r->name, &r->nlen, &r->nraw, &r->esc,
			       SS_REC_NAME_ESC) < 0 ||
		    num_field(body, n, &p, 0, UINT64_MAX, 1, &rev) < 0 ||
		    num_field(body, n, &p, 1, INT64_MAX, 0, &ms) < 0)
			return -1;
		r->type = SS_REC_DEL;
		r->rev = rev;
		r->commit_ms = (int64_t)ms;
		return 0;
	}
	if (has_tag(body, n, REV_TAG, TAG_LEN(REV_TAG))) {
		p = TAG_LEN(REV_TAG);
		if (num_field(body, n, &p, 1, UINT64_MAX, 1, &rev) < 0)
			return -1;
		r->type = SS_REC_REV;
		r->rev = rev;
		return 0;
	}
	if (has_tag(body, n, EPOCH_TAG, TAG_LEN(EPOCH_TAG))) {
		p = TAG_LEN(EPOCH_TAG);
		if (num_field(body, n, &p, 0, UINT64_MAX, 1, &v) < 0 ||
		    num_field(body, n, &p, 1, UINT64_MAX, 0, &rev) < 0)
			return -1;
		r->type = SS_REC_EPOCH;
		r->epoch = v;
		r->rev = rev;
		return 0;
	}
	return parse_group(body, n, r);
}

/* Version 1: no revisions, no escapes (names and values are token bytes,
 * a backslash included). */
static int parse_body_v1(const char *body, size_t n, struct ss_record *r)
{
	size_t p;
	uint64_t v;

	if (has_tag(body, n, SET_TAG, TAG_LEN(SET_TAG))) {
		p = TAG_LEN(SET_TAG);
		r->nlen = field(body, n, &p, 0, &r->name);
		if (r->nlen == 0 || r->nlen > SS_NAME_MAX)
			return -1;
		r->vlen = field(body, n, &p, 0, &r->value);
		if (r->vlen == 0 || r->vlen > SS_VALUE_MAX ||
		    num_field(body, n, &p, 1, INT64_MAX, 0, &v) < 0)
			return -1;
		r->type = SS_REC_SET;
		r->expire_ms = (int64_t)v;
		r->nraw = r->nlen;
		r->vraw = r->vlen;
		return 0;
	}
	if (has_tag(body, n, DEL_TAG, TAG_LEN(DEL_TAG))) {
		p = TAG_LEN(DEL_TAG);
		r->nlen = field(body, n, &p, 1, &r->name);
		if (r->nlen == 0 || r->nlen > SS_NAME_MAX)
			return -1;
		r->type = SS_REC_DEL;
		r->nraw = r->nlen;
		return 0;
	}
	return parse_group(body, n, r);
}

enum ss_dec ss_record_decode_version(long version, const char *buf, size_t len,
				     struct ss_record *r, size_t *used)
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
	if ((version == 1 ? parse_body_v1(buf, body, &rec) : parse_body(buf, body, &rec)) < 0)
		return SS_DEC_BAD;
	if (ss_crc32c(0, buf, body) != crc)
		return SS_DEC_BAD;
	*r = rec;
	return SS_DEC_OK;
}

enum ss_dec ss_record_decode(const char *buf, size_t len, struct ss_record *r, size_t *used)
{
	return ss_record_decode_version(SS_LOG_VERSION, buf, len, r, used);
}

long ss_record_header_check(const char *buf, size_t len, long *version)
{
	static const char *const readable[] = {SS_LOG_HEADER, SS_LOG_HEADER_V1};
	static const long versions[] = {SS_LOG_VERSION, 1};
	const size_t hlen = sizeof(SS_LOG_HEADER) - 1;
	const size_t mlen = sizeof(HEADER_MAGIC) - 1;
	size_t i, ndig = 0;
	long v = 0;

	_Static_assert(sizeof(SS_LOG_HEADER) == sizeof(SS_LOG_HEADER_V1), "headers of one length");
	for (size_t k = 0; k < 2; k++) {
		if (memcmp(buf, readable[k], len < hlen ? len : hlen) != 0)
			continue;
		if (len < hlen)
			return 0;
		if (version)
			*version = versions[k];
		return (long)hlen;
	}
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

void ss_record_raw(const struct ss_record *rec, char *scratch, struct ss_record *raw)
{
	*raw = *rec;
	if (rec->esc & SS_REC_NAME_ESC) {
		raw->nlen = ss_record_unescape(rec->name, rec->nlen, scratch);
		raw->name = scratch;
	}
	if (rec->type == SS_REC_SET && (rec->esc & SS_REC_VALUE_ESC)) {
		raw->vlen = ss_record_unescape(rec->value, rec->vlen, scratch + SS_NAME_MAX);
		raw->value = scratch + SS_NAME_MAX;
	}
	raw->esc = 0;
}
