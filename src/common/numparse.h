/*
 * numparse.h - strict decimal number parsing, for every number that comes
 * from a user: request tokens (TTLs) and command-line options.
 *
 * Strict means: digits only, no sign, no spaces, no hex, nothing after the
 * number, and no silent wrap-around: a number past the type's range is
 * refused, not cut. Leading zeros are allowed ("0000000000001" is 1). The
 * daemon, statestore-cli and statestore-bench all parse their options
 * here.
 */
#ifndef STATESTORED_NUMPARSE_H
#define STATESTORED_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parses s[0..n) as a decimal unsigned 64-bit integer. Returns 0 and *out,
 * or -1 if s is empty, holds anything but digits, or exceeds UINT64_MAX. */
int ss_parse_u64(const char *s, size_t n, uint64_t *out);

/* For command-line options: parses the NUL-terminated s as a decimal
 * integer in [lo, hi], or as a decimal number (fractions and exponents
 * allowed, never inf or nan) in [lo, hi]. Return 0 and *out, or -1 (not a
 * number, or out of range). */
int ss_parse_urange(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int ss_parse_drange(const char *s, double lo, double hi, double *out);

#endif
