/*
 * glob.c - Redis's glob-style patterns, for SCAN MATCH, KEYS and CONFIG
 * GET; see cmdutil.h.
 */
#include <stddef.h>

#include "cmd/cmdutil.h"

/* ---- glob-style patterns (SCAN MATCH, KEYS, CONFIG GET) ------------------------
 *
 * Redis's rules: '*' any run, '?' any byte, "[abc]", "[^a]", "[a-z]" a
 * class, '\' quotes the next byte. Backtracking goes only to the latest
 * '*', so a match is O(pattern x string), never exponential. */

/* Matches one class starting after '[' at p; *pl is advanced past ']'. */
static int class_match(const char *p, size_t plen, size_t *pi, unsigned char c, int nocase)
{
	size_t i = *pi;
	int neg = 0, hit = 0;

	if (i < plen && p[i] == '^') {
		neg = 1;
		i++;
	}
	for (; i < plen && p[i] != ']'; i++) {
		unsigned char a = (unsigned char)p[i], b;
		if (a == '\\' && i + 1 < plen)
			a = (unsigned char)p[++i];
		if (i + 2 < plen && p[i + 1] == '-' && p[i + 2] != ']') {
			b = (unsigned char)p[i + 2];
			i += 2;
			if (a > b) {
				unsigned char x = a;
				a = b;
				b = x;
			}
			unsigned char cc = c;
			if (nocase && cc >= 'A' && cc <= 'Z')
				cc = (unsigned char)(cc - 'A' + 'a');
			hit |= (c >= a && c <= b) || (nocase && cc >= a && cc <= b);
		} else {
			hit |= a == c || (nocase && (a | 0x20) == (c | 0x20) && ((a | 0x20) >= 'a') &&
					  ((a | 0x20) <= 'z'));
		}
	}
	*pi = i < plen ? i + 1 : i;
	return neg ? !hit : hit;
}

int ss_glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase)
{
	size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < plen) {
			unsigned char c = (unsigned char)s[si], q = (unsigned char)p[pi];
			size_t next = pi + 1;
			int ok;
			if (q == '?') {
				ok = 1;
			} else if (q == '[') {
				ok = class_match(p, plen, &next, c, nocase);
			} else {
				if (q == '\\' && pi + 1 < plen)
					q = (unsigned char)p[++next - 1];
				ok = q == c || (nocase && (q | 0x20) == (c | 0x20) && (q | 0x20) >= 'a' &&
						(q | 0x20) <= 'z');
			}
			if (ok) {
				pi = next;
				si++;
				continue;
			}
		}
		if (star_p == (size_t)-1)
			return 0;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

size_t ss_glob_literal_prefix(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != '*' && p[i] != '?' && p[i] != '[' && p[i] != '\\')
		i++;
	return i;
}
