/*
 * password.h - password hashes: scrypt (RFC 7914) from OpenSSL 3, written
 * as a PHC string, checked in constant time.
 *
 * The ACL file stores a hash per user, never a password:
 *
 *   $scrypt$ln=15,r=8,p=1$<salt>$<key>
 *
 * where N = 2^ln, salt is 16 random bytes and key 32, both in unpadded
 * standard base64 (the PHC string format; Python's hashlib.scrypt or
 * passlib make the same). ln=15, r=8 costs 32 MiB and about 0.2 s of one
 * core here (README: Security): slow on purpose, so a stolen ACL file
 * cannot be searched quickly. Parameters read from a file are bounded
 * (ln 1..20, r*p <= 64, at most 256 MiB), so a hostile file cannot make one
 * check take the machine.
 *
 * Because the KDF is slow, it never runs on the event loop: the server
 * runs it on a helper thread (server/auth.c). What the loop checks is a
 * digest, SHA-256(salt || password), remembered once a password has passed
 * the KDF (ss_password_remember), so a pipeline that reconnects pays the
 * KDF once per process lifetime, not once per connection.
 */
#ifndef STATESTORED_CMD_PASSWORD_H
#define STATESTORED_CMD_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#define SS_PASSWORD_SALT 16
#define SS_PASSWORD_KEY 32
#define SS_PASSWORD_DIGEST 32
/* The longest password AUTH takes, in bytes. */
#define SS_PASSWORD_MAX 1024
/* The cost --hash-password writes. */
#define SS_PASSWORD_LN 15
#define SS_PASSWORD_R 8
#define SS_PASSWORD_P 1
/* The longest hash string (with generous room for the parameters). */
#define SS_PASSWORD_HASH_MAX 128

struct ss_password {
	unsigned ln, r, p;
	unsigned char salt[SS_PASSWORD_SALT];
	unsigned char key[SS_PASSWORD_KEY];
	/* SHA-256(salt || password) once a password passed the KDF. */
	unsigned char digest[SS_PASSWORD_DIGEST];
	int remembered;
};

/* Parses a hash string of n bytes. 0, or -1 with *why saying what is
 * wrong with it. */
int ss_password_parse(struct ss_password *pw, const char *s, size_t n, const char **why);

/* Writes pw's hash string (NUL-terminated) into out. */
void ss_password_format(const struct ss_password *pw, char out[SS_PASSWORD_HASH_MAX]);

/* A new hash of password at the cost given, with a random salt. 0, or -1
 * (OpenSSL failed: out of memory, no randomness). */
int ss_password_make(struct ss_password *pw, const char *password, size_t n, unsigned ln,
		     unsigned r, unsigned p);

/* The slow check: runs the KDF. 1 if password matches, 0 if not, -1 if the
 * KDF could not run (out of memory). Safe on any thread. */
int ss_password_kdf_check(const struct ss_password *pw, const char *password, size_t n);

/* The fast check: 1 if pw remembers this password, 0 if not (or if it
 * remembers none). Constant time in the password's contents. */
int ss_password_fast_check(const struct ss_password *pw, const char *password, size_t n);

/* Remembers password (which passed ss_password_kdf_check) for the fast
 * check. */
void ss_password_remember(struct ss_password *pw, const char *password, size_t n);

/* Wipes n bytes where a password was, in a way the compiler keeps. */
void ss_password_wipe(void *p, size_t n);

#endif
