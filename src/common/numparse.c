/*
 * numparse.c - strict decimal number parsing; see numparse.h.
 *
 * strtol and friends accept leading spaces, a '+', and (with base 0) hex,
 * and report overflow only through errno; a token from the network must be
 * all digits and fit, or be refused. So the digits are checked and the
 * overflow is caught before it happens.
 */
#include "common/numparse.h"

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

int ss_parse_range(const char *s, long long lo, long long hi, long long *out)
{
	int neg = s[0] == '-';
	uint64_t mag;

	if (ss_parse_u64(s + neg, strlen(s + neg), &mag) < 0)
		return -1;
	/* Every range used fits in a long long; anything larger is out of it. */
	if (mag > (uint64_t)INT64_MAX)
		return -1;
	long long v = neg ? -(long long)mag : (long long)mag;
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
