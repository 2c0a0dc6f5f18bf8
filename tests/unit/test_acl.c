/*
 * test_acl.c - users and password hashes (cmd/acl.h, cmd/password.h): the
 * ACL file's syntax and its refusals, namespaces as names and prefixes,
 * the PHC hash strings, the slow and the fast check, and the access check
 * every request passes (cmd/auth.c) read from the command table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/acl.h"
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "cmd/password.h"

/* A hash at a cost small enough for tests (ln 4: 16 KiB, microseconds). */
static void cheap_hash(const char *password, char out[SS_PASSWORD_HASH_MAX])
{
	struct ss_password pw;

	assert_int_equal(ss_password_make(&pw, password, strlen(password), 4, 8, 1), 0);
	ss_password_format(&pw, out);
}

static struct ss_acl *parse(const char *fmt, char *err, ...)
{
	char text[4096];
	va_list ap;

	va_start(ap, err);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	return ss_acl_parse(text, strlen(text), err, 256);
}

static void a_hash_verifies_its_password_only_and_reads_back_as_written(void **state)
{
	char h[SS_PASSWORD_HASH_MAX];
	struct ss_password pw;
	const char *why;
	(void)state;

	cheap_hash("s3cret", h);
	assert_int_equal(strncmp(h, "$scrypt$ln=4,r=8,p=1$", 21), 0);
	assert_int_equal(ss_password_parse(&pw, h, strlen(h), &why), 0);
	assert_int_equal(ss_password_kdf_check(&pw, "s3cret", 6), 1);
	assert_int_equal(ss_password_kdf_check(&pw, "s3cre", 5), 0);
	assert_int_equal(ss_password_kdf_check(&pw, "s3cret!", 7), 0);
	char again[SS_PASSWORD_HASH_MAX];
	ss_password_format(&pw, again);
	assert_string_equal(again, h);
}

/* A hash made elsewhere - Python's hashlib.scrypt, salt bytes 0..15, N=32,
 * r=8, p=1 - verifies here: the file format is the PHC string others
 * write. */
static void a_hash_made_by_another_tool_verifies(void **state)
{
	static const char h[] = "$scrypt$ln=5,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$"
				"MgBRi5YTMlkyhC8s6/7QvtVLdpsjtf8PcjjVOLyYhHQ";
	struct ss_password pw;
	const char *why;
	(void)state;

	assert_int_equal(ss_password_parse(&pw, h, strlen(h), &why), 0);
	assert_int_equal(pw.ln, 5);
	assert_int_equal(pw.salt[15], 15);
	assert_int_equal(ss_password_kdf_check(&pw, "correct horse", 13), 1);
	assert_int_equal(ss_password_kdf_check(&pw, "correct horsE", 13), 0);
}

static void bad_hash_strings_are_refused_with_a_reason(void **state)
{
	static const char *const bad[] = {
		"",
		"scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$ln=0,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$ln=21,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$ln=20,r=32,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAB$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAA*A$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$ln=04,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$scrypt$r=8,ln=4,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	static const char good[] =
		"$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	struct ss_password pw;
	const char *why;
	(void)state;

	assert_int_equal(ss_password_parse(&pw, good, strlen(good), &why), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		assert_int_equal(ss_password_parse(&pw, bad[i], strlen(bad[i]), &why), -1);
		assert_non_null(why);
	}
}

static void the_fast_check_knows_only_a_remembered_password(void **state)
{
	struct ss_password pw;
	(void)state;

	assert_int_equal(ss_password_make(&pw, "pw", 2, 4, 8, 1), 0);
	assert_int_equal(ss_password_fast_check(&pw, "pw", 2), 0); /* not yet remembered */
	ss_password_remember(&pw, "pw", 2);
	assert_int_equal(ss_password_fast_check(&pw, "pw", 2), 1);
	assert_int_equal(ss_password_fast_check(&pw, "pW", 2), 0);
	assert_int_equal(ss_password_fast_check(&pw, "pw\0", 3), 0);
}

static void users_roles_and_namespaces_are_read(void **state)
{
	char h1[SS_PASSWORD_HASH_MAX], h2[SS_PASSWORD_HASH_MAX], err[256];
	(void)state;

	cheap_hash("a", h1);
	cheap_hash("b", h2);
	struct ss_acl *acl = parse("# users\n"
				   "\n"
				   "etl-a %s read,write team-a/*,shared/config   # trailing\r\n"
				   "  ops\t%s admin,read *\n",
				   err, h1, h2);
	assert_non_null(acl);
	assert_int_equal(acl->n, 2);
	struct ss_acl_user *u = ss_acl_find(acl, "etl-a", 5);
	assert_non_null(u);
	assert_int_equal(u->roles, SS_CMD_READ | SS_CMD_WRITE);
	assert_string_equal(u->hash, h1);
	assert_int_equal(ss_acl_may_name(u, "team-a/x", 8), 1);
	assert_int_equal(ss_acl_may_name(u, "team-a/", 7), 1);
	assert_int_equal(ss_acl_may_name(u, "team-a", 6), 0);
	assert_int_equal(ss_acl_may_name(u, "team-b/x", 8), 0);
	assert_int_equal(ss_acl_may_name(u, "shared/config", 13), 1); /* an exact name */
	assert_int_equal(ss_acl_may_name(u, "shared/config2", 14), 0);
	assert_int_equal(ss_acl_may_prefix(u, "team-a/x", 8), 1);
	assert_int_equal(ss_acl_may_prefix(u, "team", 4), 0);
	assert_int_equal(ss_acl_may_prefix(u, "shared/config", 13), 0); /* a name, not a prefix */
	struct ss_acl_user *ops = ss_acl_find(acl, "ops", 3);
	assert_non_null(ops);
	assert_int_equal(ops->every_name, 1);
	assert_int_equal(ss_acl_may_prefix(ops, "", 0), 1);
	assert_null(ss_acl_find(acl, "etl", 3));
	char roles[64];
	assert_string_equal(ss_acl_roles_str(ops->roles, roles, sizeof roles), "read,admin");
	ss_acl_free(acl);
}

static void bad_lines_are_refused_naming_their_number(void **state)
{
	char h[SS_PASSWORD_HASH_MAX], err[256];
	static const struct {
		const char *line; /* %s: a good hash */
		const char *why;
	} bad[] = {
		{"u %s read", "line 2: want: <user> <password-hash> <roles> <namespaces>"},
		{"u %s read * extra", "line 2: more than four fields"},
		{"u %s wrte *", "line 2: unknown role 'wrte': want read, write, admin or replication"},
		{"u %s read, *", "line 2: an empty item in the roles"},
		{"u %s read a*b", "line 2: bad namespace 'a*b': a name, or a prefix ending in '*'"},
		{"u %s read a,,b", "line 2: an empty item in the namespaces"},
		{"u,v %s read *", "line 2: bad user name: 1 to 64 printable bytes, no '#' or ','"},
		{"u nothash read *",
		 "line 2: not a password hash: want $scrypt$ln=N,r=N,p=N$salt$key (statestored "
		 "--hash-password)"},
		{"ok %s read *", "line 2: user 'ok' is defined twice"},
	};
	(void)state;

	cheap_hash("x", h);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char fmt[256];
		snprintf(fmt, sizeof fmt, "ok %%s read *\n%s\n", bad[i].line);
		err[0] = '\0';
		assert_null(parse(fmt, err, h, h));
		assert_string_equal(err, bad[i].why);
	}
	assert_null(ss_acl_parse("# nobody\n", 9, err, sizeof err));
	assert_string_equal(err, "no users: every connection would be refused");
	char nul[] = "u x read *\n";
	nul[1] = '\0';
	assert_null(ss_acl_parse(nul, sizeof nul - 1, err, sizeof err));
	assert_string_equal(err, "line 1: a NUL byte");
}

static void a_single_password_makes_the_default_user_and_survives_a_reload(void **state)
{
	char err[256];
	(void)state;

	/* The daemon's cost (ln 15): one KDF here, none on the reload. */
	struct ss_acl *one = ss_acl_single("hunter2", 7, NULL, err, sizeof err);
	assert_non_null(one);
	struct ss_acl_user *u = ss_acl_find(one, "default", 7);
	assert_non_null(u);
	assert_int_equal(u->every_name, 1);
	assert_int_equal(u->roles, SS_CMD_READ | SS_CMD_WRITE | SS_CMD_ADMIN | SS_CMD_REPLICATION);
	assert_int_equal(ss_password_fast_check(&u->pw, "hunter2", 7), 1);
	struct ss_acl *again = ss_acl_single("hunter2", 7, one, err, sizeof err);
	assert_non_null(again);
	assert_string_equal(ss_acl_find(again, "default", 7)->hash, u->hash);
	struct ss_acl *hashed = ss_acl_single(u->hash, strlen(u->hash), NULL, err, sizeof err);
	assert_non_null(hashed);
	assert_int_equal(ss_password_kdf_check(&ss_acl_find(hashed, "default", 7)->pw, "hunter2", 7),
			 1);
	assert_null(ss_acl_single("", 0, NULL, err, sizeof err));
	ss_acl_free(one);
	ss_acl_free(again);
	ss_acl_free(hashed);
}

/* The access check of a request, as the dispatcher runs it. */
static int refused(const struct ss_acl *acl, struct ss_client_state *c, const char *line,
		   char *reply, size_t size)
{
	struct ss_request req;
	struct ss_buf out;
	struct ss_cmd_env env = {.proto = &ss_proto_text, .client = c, .acl = acl, .may_reply = 1};
	enum ss_cmd_status st;

	ss_request_init(&req);
	ss_buf_init(&out);
	assert_true(ss_proto_text.parse(line, strlen(line), 4096, &req) > 0);
	const struct ss_cmd *cmd = ss_cmd_lookup(&req.argv[0]);
	int r = ss_cmd_access(cmd, &req, &env, &out, &st);
	snprintf(reply, size, "%.*s", (int)ss_buf_size(&out), ss_buf_head(&out));
	ss_buf_free(&out);
	ss_request_free(&req);
	return r;
}

static void the_access_check_reads_roles_and_key_positions_from_the_table(void **state)
{
	char h[SS_PASSWORD_HASH_MAX], err[256], reply[256];
	struct ss_client_state c;
	(void)state;

	cheap_hash("x", h);
	struct ss_acl *acl = parse("w %s read,write team-a/*\n", err, h);
	assert_non_null(acl);
	ss_client_init(&c, 1);
	assert_int_equal(refused(acl, &c, "PING\n", reply, sizeof reply), 0);
	assert_int_equal(refused(acl, &c, "GET_CHECKPOINT team-a/x\n", reply, sizeof reply), 1);
	assert_string_equal(reply, "ERR NOAUTH authentication required: AUTH <user> <password> "
				   "first\n");
	c.user = ss_acl_find(acl, "w", 1);
	assert_int_equal(refused(acl, &c, "GET_CHECKPOINT team-a/x\n", reply, sizeof reply), 0);
	assert_int_equal(refused(acl, &c, "GET_CHECKPOINT team-b/x\n", reply, sizeof reply), 1);
	assert_string_equal(reply, "ERR NOPERM no permissions to access a name outside your "
				   "namespaces\n");
	/* Every name of a multi-name command: the second pair's. */
	assert_int_equal(refused(acl, &c, "MSET_CHECKPOINT team-a/x 1 team-a/y 2\n", reply,
				 sizeof reply),
			 0);
	assert_int_equal(refused(acl, &c, "MSET_CHECKPOINT team-a/x 1 other 2\n", reply,
				 sizeof reply),
			 1);
	/* A value is not a name. */
	assert_int_equal(refused(acl, &c, "MSET_CHECKPOINT team-a/x other\n", reply, sizeof reply),
			 0);
	assert_int_equal(refused(acl, &c, "COMPACT\n", reply, sizeof reply), 1);
	assert_string_equal(reply, "ERR NOPERM User w has no permissions to run the 'compact' "
				   "command\n");
	assert_int_equal(refused(acl, &c, "ROLLBACK_CHECKPOINT team-a/x 1\n", reply, sizeof reply),
			 1);
	ss_client_free(&c);
	ss_acl_free(acl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_hash_verifies_its_password_only_and_reads_back_as_written),
		cmocka_unit_test(a_hash_made_by_another_tool_verifies),
		cmocka_unit_test(bad_hash_strings_are_refused_with_a_reason),
		cmocka_unit_test(the_fast_check_knows_only_a_remembered_password),
		cmocka_unit_test(users_roles_and_namespaces_are_read),
		cmocka_unit_test(bad_lines_are_refused_naming_their_number),
		cmocka_unit_test(a_single_password_makes_the_default_user_and_survives_a_reload),
		cmocka_unit_test(the_access_check_reads_roles_and_key_positions_from_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
