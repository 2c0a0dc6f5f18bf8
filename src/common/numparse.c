/*
 * numparse.c - strict decimal number parsing; see numparse.h.
 *
 * strtol and friends accept leading spaces, a '+', and (with base 0) hex,
 * and report overflow only through errno; a token from the network must be
 * all digits and fit, or be refused. So the digits are checked and the
 * overflow is caught before it happens.
 */
#include "common/numparse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ss_parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int ss_parse_urange(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;

	if (ss_parse_u64(s, strlen(s), &v) < 0 || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int ss_parse_drange(const char *s, double lo, double hi, double *out)
{
	char *end;

	/* strtod takes leading spaces, hex, inf and nan: none is a number here. */
	if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '.' && s[1] >= '0' && s[1] <= '9')))
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi || strpbrk(s, "xX"))
		return -1;
	*out = v;
	return 0;
}
