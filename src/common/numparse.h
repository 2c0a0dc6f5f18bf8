/*
 * numparse.h - strict decimal number parsing, for every number that comes
 * from a user: request tokens (TTLs) and command-line options.
 *
 * Strict means: digits only (an option may start with '-' when its range
 * allows it), no spaces, no '+', no hex, nothing after the number, and no
 * silent wrap-around: a number past the type's range is refused, not cut.
 * Leading zeros are allowed ("0000000000001" is 1).
 */
#ifndef STATESTORED_NUMPARSE_H
#define STATESTORED_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parses s[0..n) as a decimal unsigned 64-bit integer. Returns 0 and *out,
 * or -1 if s is empty, holds anything but digits, or exceeds UINT64_MAX. */
int ss_parse_u64(const char *s, size_t n, uint64_t *out);

/* Parses the NUL-terminated s as a decimal integer in [lo, hi]. Returns 0
 * and *out, or -1 (not a number, or out of range). */
int ss_parse_range(const char *s, long long lo, long long hi, long long *out);

#endif
