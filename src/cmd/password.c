/*
 * password.c - scrypt password hashes as PHC strings; see password.h.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "cmd/password.h"

/* A hostile file's bound on one check's memory: 128 * r * N bytes. */
#define SS_PASSWORD_MAXMEM (UINT64_C(256) << 20)

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Unpadded standard base64 of n bytes into out (room for 4n/3 + 2). */
static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = b64[v & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* Decodes exactly want bytes from the n characters at s. 0 or -1. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t want)
{
	if (n != want / 3 * 4 + (want % 3 ? want % 3 + 1 : 0))
		return -1;
	uint32_t v = 0;
	size_t o = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int d = b64_value(s[i]);
		if (d < 0)
			return -1;
		v = v << 6 | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	/* The unused low bits of the last character must be zero, so each
	 * hash has one spelling. */
	return o == want && (v & ((1u << bits) - 1)) == 0 ? 0 : -1;
}

/* Reads "<name>=<1..max>" at *s (up to end), then the separator sep. */
static int param(const char **s, const char *end, const char *name, unsigned max, char sep,
		 unsigned *out)
{
	const char *p = *s;
	size_t len = strlen(name);
	unsigned v = 0;

	if ((size_t)(end - p) < len + 2 || memcmp(p, name, len) != 0 || p[len] != '=')
		return -1;
	p += len + 1;
	if (*p < '1' || *p > '9')
		return -1;
	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned)(*p++ - '0');
		if (v > max)
			return -1;
	}
	if (p >= end || *p != sep)
		return -1;
	*s = p + 1;
	*out = v;
	return 0;
}

int ss_password_parse(struct ss_password *pw, const char *s, size_t n, const char **why)
{
	static const char head[] = "$scrypt$";
	const char *end = s + n, *p = s;

	memset(pw, 0, sizeof(*pw));
	*why = "not a password hash: want $scrypt$ln=N,r=N,p=N$salt$key (statestored --hash-password)";
	if (n < sizeof head - 1 || memcmp(s, head, sizeof head - 1) != 0)
		return -1;
	p += sizeof head - 1;
	if (param(&p, end, "ln", 20, ',', &pw->ln) < 0 || param(&p, end, "r", 32, ',', &pw->r) < 0 ||
	    param(&p, end, "p", 16, '$', &pw->p) < 0) {
		*why = "bad scrypt parameters: want ln 1-20, r 1-32, p 1-16";
		return -1;
	}
	if ((uint64_t)pw->r * pw->p > 64 ||
	    (UINT64_C(128) * pw->r << pw->ln) > SS_PASSWORD_MAXMEM) {
		*why = "scrypt parameters too costly: at most r*p 64 and 256 MiB";
		return -1;
	}
	const char *dollar = memchr(p, '$', (size_t)(end - p));
	if (!dollar || b64_decode(p, (size_t)(dollar - p), pw->salt, SS_PASSWORD_SALT) < 0 ||
	    b64_decode(dollar + 1, (size_t)(end - dollar - 1), pw->key, SS_PASSWORD_KEY) < 0) {
		*why = "bad salt or key: want 16 and 32 bytes in unpadded base64";
		return -1;
	}
	return 0;
}

void ss_password_format(const struct ss_password *pw, char out[SS_PASSWORD_HASH_MAX])
{
	char salt[SS_PASSWORD_SALT * 2], key[SS_PASSWORD_KEY * 2];

	b64_encode(pw->salt, SS_PASSWORD_SALT, salt);
	b64_encode(pw->key, SS_PASSWORD_KEY, key);
	snprintf(out, SS_PASSWORD_HASH_MAX, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", pw->ln, pw->r, pw->p,
		 salt, key);
}

/* scrypt of password with pw's salt and cost into key. 0 or -1. */
static int derive(const struct ss_password *pw, const char *password, size_t n,
		  unsigned char key[SS_PASSWORD_KEY])
{
	return EVP_PBE_scrypt(password, n, pw->salt, SS_PASSWORD_SALT, UINT64_C(1) << pw->ln, pw->r,
			      pw->p, SS_PASSWORD_MAXMEM + (UINT64_C(1) << 20), key,
			      SS_PASSWORD_KEY) == 1
		       ? 0
		       : -1;
}

int ss_password_make(struct ss_password *pw, const char *password, size_t n, unsigned ln,
		     unsigned r, unsigned p)
{
	memset(pw, 0, sizeof(*pw));
	pw->ln = ln;
	pw->r = r;
	pw->p = p;
	if (RAND_bytes(pw->salt, SS_PASSWORD_SALT) != 1)
		return -1;
	return derive(pw, password, n, pw->key);
}

int ss_password_kdf_check(const struct ss_password *pw, const char *password, size_t n)
{
	unsigned char key[SS_PASSWORD_KEY];

	if (derive(pw, password, n, key) < 0)
		return -1;
	int same = CRYPTO_memcmp(key, pw->key, SS_PASSWORD_KEY) == 0;
	OPENSSL_cleanse(key, sizeof key);
	return same;
}

/* SHA-256(salt || password). 0 or -1. */
static int digest(const struct ss_password *pw, const char *password, size_t n,
		  unsigned char out[SS_PASSWORD_DIGEST])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, pw->salt, SS_PASSWORD_SALT) == 1 &&
		 EVP_DigestUpdate(ctx, password, n) == 1 && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

int ss_password_fast_check(const struct ss_password *pw, const char *password, size_t n)
{
	unsigned char d[SS_PASSWORD_DIGEST];

	if (!pw->remembered || digest(pw, password, n, d) < 0)
		return 0;
	return CRYPTO_memcmp(d, pw->digest, SS_PASSWORD_DIGEST) == 0;
}

void ss_password_remember(struct ss_password *pw, const char *password, size_t n)
{
	pw->remembered = digest(pw, password, n, pw->digest) == 0;
}

void ss_password_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}
