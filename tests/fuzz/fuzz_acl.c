/*
 * fuzz_acl.c - libFuzzer target for the ACL file parser and the password
 * hash strings (acl.h, password.h): what the daemon reads from
 * --acl-file and --requirepass-file, and from SIGHUP reloads.
 *
 * Input layout, by the first byte b (the rest is r):
 *   b % 4 == 0  r is an ACL file's text: ss_acl_parse
 *   b % 4 == 1  r is a hash string: ss_password_parse; and, if r starts
 *               "$scrypt$", the --requirepass-file secret ss_acl_single
 *               takes as a hash (a password in the clear would run the KDF
 *               at the daemon's cost: 32 MiB, 0.2 s)
 *   b % 4 == 2  a hash string built from r: "$scrypt$ln=<r0>,r=<r1>,p=<r2>$"
 *               then the base64 of r[3..19) and r[19..51) (so that the
 *               parameters' bounds are reached without guessing base64)
 *   b % 4 == 3  r is an ACL file's text whose "@" bytes become a valid hash
 *               string (so lines get past their hash to roles and names)
 *
 * Oracles:
 *   - nothing crashes, leaks or reads out of bounds (ASan, UBSan); a
 *     refusal names a reason (a non-empty message, with "line N: " when
 *     it is about a line);
 *   - a hash string is accepted only with ln 1..20, r 1..32, p 1..16,
 *     r * p <= 64 and 128 * r * 2^ln <= 256 MiB, and then
 *     ss_password_format(parse(s)) == s, byte for byte (one spelling per
 *     hash: no leading zeros, no padding, no stray low bits), and parsing
 *     it again gives the same parameters, salt and key;
 *   - an accepted ACL has 1..SS_ACL_USERS_MAX users, distinct names of
 *     1..SS_ACL_USER_MAX printable bytes without '#' or ',', at least one
 *     role each, each user's hash text reformats from its parsed hash, and
 *     ss_acl_find finds each user by its name;
 *   - namespaces: a user may see each of its exact names and anything
 *     under each of its prefixes; ss_acl_may_prefix(u, p) implies
 *     ss_acl_may_name(u, p + s) for every probe s; a user with "*" may see
 *     and back up anything; one without sees no name outside what its
 *     namespaces list (probes of names that differ from one of them by a
 *     byte).
 * The KDF never runs here: a hostile ln=20 costs 256 MiB per check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "cmd/acl.h"
#include "cmd/cmd.h"
#include "cmd/password.h"
#include "statestored/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A valid hash string ("@" in mode 3 becomes it). */
static const char fa_valid_hash[] =
	"$scrypt$ln=1,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

static void check_hash(const char *s, size_t n)
{
	struct ss_password pw, again;
	char out[SS_PASSWORD_HASH_MAX];
	const char *why = NULL;

	if (ss_password_parse(&pw, s, n, &why) < 0) {
		fz_check(why && why[0], "a hash refused without a reason");
		return;
	}
	fz_check(pw.ln >= 1 && pw.ln <= 20 && pw.r >= 1 && pw.r <= 32 && pw.p >= 1 && pw.p <= 16 &&
			 pw.r * pw.p <= 64 && (UINT64_C(128) * pw.r << pw.ln) <= (UINT64_C(256) << 20),
		 "a hash accepted with ln=%u r=%u p=%u", pw.ln, pw.r, pw.p);
	fz_check(!pw.remembered, "a parsed hash remembers a password");
	ss_password_format(&pw, out);
	fz_check(strlen(out) == n && memcmp(out, s, n) == 0,
		 "the hash '%.*s' reformats as '%s': two spellings of one hash", (int)(n > 200 ? 200 : n),
		 s, out);
	fz_check(ss_password_parse(&again, out, strlen(out), &why) == 0, "a formatted hash refused: %s",
		 why);
	fz_check(again.ln == pw.ln && again.r == pw.r && again.p == pw.p &&
			 memcmp(again.salt, pw.salt, sizeof pw.salt) == 0 &&
			 memcmp(again.key, pw.key, sizeof pw.key) == 0,
		 "a formatted hash parses to another one");
}

/* Probes of the namespace ns of user u against may_name and may_prefix. */
static void check_ns(const struct ss_acl_user *u, const struct ss_acl_ns *ns, const char *extra,
		     size_t nextra)
{
	char buf[SS_NAME_MAX * 2 + 8];
	static const char *const tails[] = {"", "x", "/y", "\xff"};

	fz_check(ns->n <= SS_NAME_MAX && !memchr(ns->p, '*', ns->n) && ns->p[ns->n] == '\0',
		 "user %s: a namespace of %zu bytes with a star", u->name, ns->n);
	fz_check(ss_acl_may_name(u, ns->p, ns->n) || (ns->prefix && ns->n == 0),
		 "user %s may not see its own namespace '%s'", u->name, ns->p);
	if (ns->prefix)
		fz_check(ss_acl_may_prefix(u, ns->p, ns->n), "user %s may not back up its prefix '%s'",
			 u->name, ns->p);
	/* Probes: the namespace, one byte shorter, and with one byte changed. */
	for (int v = 0; v < 3; v++) {
		size_t n = ns->n;
		memcpy(buf, ns->p, n);
		if (v == 1 && n > 0)
			n--;
		if (v == 2 && n > 0)
			buf[n - 1] ^= 0x20;
		for (size_t t = 0; t < sizeof tails / sizeof tails[0] + 1; t++) {
			const char *tail = t < sizeof tails / sizeof tails[0] ? tails[t] : extra;
			size_t tn = t < sizeof tails / sizeof tails[0] ? strlen(tail) : nextra;
			if (tn > SS_NAME_MAX)
				tn = SS_NAME_MAX;
			memcpy(buf + n, tail, tn);
			if (ss_acl_may_prefix(u, buf, n))
				fz_check(ss_acl_may_name(u, buf, n + tn),
					 "user %s may back up the prefix '%.*s' but not see a name "
					 "under it",
					 u->name, (int)n, buf);
			if (ns->prefix && v == 0)
				fz_check(ss_acl_may_name(u, buf, n + tn),
					 "user %s may not see a name under its prefix '%s'", u->name,
					 ns->p);
			if (u->every_name)
				fz_check(ss_acl_may_name(u, buf, n + tn) && ss_acl_may_prefix(u, buf, n),
					 "user %s has '*' but may not see a name", u->name);
		}
	}
}

/* Whether some namespace of u explains that it may see name[0..n). */
static int listed(const struct ss_acl_user *u, const char *name, size_t n)
{
	for (size_t i = 0; i < u->nns; i++) {
		const struct ss_acl_ns *ns = &u->ns[i];
		if (n >= ns->n && memcmp(name, ns->p, ns->n) == 0 && (ns->prefix || n == ns->n))
			return 1;
	}
	return 0;
}

static void check_acl(const char *text, size_t n, const char *extra, size_t nextra)
{
	char err[300] = "";
	struct ss_acl *acl = ss_acl_parse(text, n, err, sizeof err);

	if (!acl) {
		fz_check(err[0] != '\0', "an ACL refused without a reason");
		return;
	}
	fz_check(acl->n >= 1 && acl->n <= SS_ACL_USERS_MAX, "an ACL of %zu users", acl->n);
	for (size_t i = 0; i < acl->n; i++) {
		const struct ss_acl_user *u = &acl->users[i];
		char out[SS_PASSWORD_HASH_MAX];
		fz_check(u->nlen >= 1 && u->nlen <= SS_ACL_USER_MAX && u->name[u->nlen] == '\0',
			 "a user name of %zu bytes", u->nlen);
		for (size_t k = 0; k < u->nlen; k++)
			fz_check(ss_is_token_char((unsigned char)u->name[k]) && u->name[k] != '#' &&
					 u->name[k] != ',',
				 "user %zu: byte 0x%02x in its name", i, (unsigned char)u->name[k]);
		fz_check(ss_acl_find(acl, u->name, u->nlen) == u, "user %s: found twice or not at all",
			 u->name);
		fz_check(u->roles != 0 &&
				 (u->roles & ~(unsigned)(SS_CMD_READ | SS_CMD_WRITE | SS_CMD_ADMIN)) == 0,
			 "user %s: roles %#x", u->name, u->roles);
		fz_check(u->every_name || u->nns > 0, "user %s: no namespace", u->name);
		fz_check(u->nns <= SS_ACL_NS_MAX, "user %s: %zu namespaces", u->name, u->nns);
		ss_password_format(&u->pw, out);
		fz_check(strcmp(out, u->hash) == 0, "user %s: the hash '%s' reformats as '%s'",
			 u->name, u->hash, out);
		check_hash(u->hash, strlen(u->hash));
		for (size_t k = 0; k < u->nns; k++)
			check_ns(u, &u->ns[k], extra, nextra);
		/* A name no namespace lists is refused to a user without '*'. */
		if (!u->every_name) {
			size_t m = nextra > SS_NAME_MAX ? SS_NAME_MAX : nextra;
			fz_check(listed(u, extra, m) == ss_acl_may_name(u, extra, m),
				 "user %s: may_name('%.*s') is %d", u->name, (int)m, extra,
				 ss_acl_may_name(u, extra, m));
		}
	}
	ss_acl_free(acl);
}

static size_t b64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = t[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = t[v & 63];
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *r = (const char *)data + 1;
	size_t n = size - 1;
	/* The probe name for the namespace checks: the input's last line. */
	const char *nl = n ? memrchr(r, '\n', n) : NULL;
	const char *extra = nl ? nl + 1 : r;
	size_t nextra = (size_t)(r + n - extra);

	switch (data[0] % 4) {
	case 0:
		check_acl(r, n, extra, nextra);
		break;
	case 1: {
		char copy[SS_PASSWORD_HASH_MAX * 2];
		check_hash(r, n);
		if (n >= 8 && n < sizeof copy && memcmp(r, "$scrypt$", 8) == 0) {
			char err[300] = "";
			struct ss_acl *acl = ss_acl_single(r, n, NULL, err, sizeof err);
			if (acl) {
				memcpy(copy, r, n);
				copy[n] = '\0';
				fz_check(acl->n == 1 && acl->users[0].every_name &&
						 strcmp(acl->users[0].name, SS_ACL_DEFAULT_USER) == 0 &&
						 strcmp(acl->users[0].hash, copy) == 0,
					 "--requirepass-file's hash made another user");
				ss_acl_free(acl);
			} else {
				fz_check(err[0], "a password file refused without a reason");
			}
		}
		break;
	}
	case 2: {
		char s[SS_PASSWORD_HASH_MAX * 2];
		uint8_t raw[51] = {0};
		memcpy(raw, r, n < sizeof raw ? n : sizeof raw);
		int at = snprintf(s, sizeof s, "$scrypt$ln=%u,r=%u,p=%u$", raw[0], raw[1], raw[2]);
		at += (int)b64(raw + 3, 16, s + at);
		s[at++] = '$';
		at += (int)b64(raw + 19, 32, s + at);
		struct ss_password pw;
		const char *why;
		int ok = ss_password_parse(&pw, s, (size_t)at, &why) == 0;
		int want = raw[0] >= 1 && raw[0] <= 20 && raw[1] >= 1 && raw[1] <= 32 && raw[2] >= 1 &&
			   raw[2] <= 16 && raw[1] * raw[2] <= 64 &&
			   (UINT64_C(128) * raw[1] << raw[0]) <= (UINT64_C(256) << 20);
		fz_check(ok == want, "'%.*s' %s", at, s, ok ? "accepted" : why);
		check_hash(s, (size_t)at);
		break;
	}
	default: {
		/* "@" becomes a valid hash: at most a few KiB more. */
		size_t ats = 0, o = 0;
		for (size_t i = 0; i < n; i++)
			ats += r[i] == '@';
		char *text = fz_alloc(n + ats * sizeof fa_valid_hash + 1);
		for (size_t i = 0; i < n; i++) {
			if (r[i] == '@') {
				memcpy(text + o, fa_valid_hash, sizeof fa_valid_hash - 1);
				o += sizeof fa_valid_hash - 1;
			} else {
				text[o++] = r[i];
			}
		}
		check_acl(text, o, extra, nextra);
		free(text);
		break;
	}
	}
	return 0;
}
