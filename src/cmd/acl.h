/*
 * acl.h - who may run what on which pipelines: users, their roles and
 * their namespaces, read from the ACL file (--acl-file) or made from one
 * shared secret (--requirepass-file).
 *
 * The file has one user a line:
 *
 *   <user> <password-hash> <roles> <namespaces>    # a comment
 *
 * roles is a comma-separated list of read, write and admin; namespaces a
 * comma-separated list of names, where one ending in '*' is a prefix
 * ("team-a/" then a star) and a star alone is every name. A command's role in the
 * command table (cmd.h) decides which role it needs; a request's names
 * (the table's key positions, and what LIST, SCAN, KEYS and RANDOMKEY
 * show) must lie in the user's namespaces.
 *
 * An ACL is read whole; a reload builds a new one and the server swaps it
 * in (server/auth.c). Only a user's remembered password (password.h)
 * changes in place. Parsing does no I/O, so a fuzz target drives exactly
 * what the daemon runs.
 */
#ifndef STATESTORED_CMD_ACL_H
#define STATESTORED_CMD_ACL_H

#include <stddef.h>
#include <stdint.h>

#include "cmd/password.h"

/* The longest user name, and the most users and namespaces. */
#define SS_ACL_USER_MAX 64
#define SS_ACL_USERS_MAX 10000
#define SS_ACL_NS_MAX 256
/* The longest ACL file read. */
#define SS_ACL_FILE_MAX (4u << 20)
/* The user AUTH <password> and --requirepass-file name. */
#define SS_ACL_DEFAULT_USER "default"

struct ss_acl_ns {
	char *p;
	size_t n;
	int prefix; /* p is a prefix (written with a trailing '*'), else a name */
};

struct ss_acl_user {
	char name[SS_ACL_USER_MAX + 1];
	size_t nlen;
	char hash[SS_PASSWORD_HASH_MAX]; /* as written: a changed one is a new password */
	struct ss_password pw;
	unsigned roles; /* enum ss_cmd_role bits */
	int every_name; /* its namespaces include "*" */
	struct ss_acl_ns *ns;
	size_t nns;
	unsigned line; /* where the file defines it */
};

/* Sorted by name (ss_acl_find is a binary search). */
struct ss_acl {
	struct ss_acl_user *users;
	size_t n;
};

/* Parses an ACL file's text. Returns a new ACL, or NULL with a message in
 * err ("line 3: unknown role 'wrte'"; "out of memory"). */
struct ss_acl *ss_acl_parse(const char *text, size_t n, char *err, size_t errsize);

/* The ACL of --requirepass-file: the user "default" with every role and
 * every name, whose password is secret (or, if secret is a hash string,
 * whose hash it is). NULL with a message in err. Runs the KDF once, unless
 * prev (the ACL it replaces, or NULL) has the same password. */
struct ss_acl *ss_acl_single(const char *secret, size_t n, const struct ss_acl *prev, char *err,
			     size_t errsize);

void ss_acl_free(struct ss_acl *acl);

/* The user called name, or NULL. */
struct ss_acl_user *ss_acl_find(const struct ss_acl *acl, const char *name, size_t n);

/* 1 if u may see and change the pipeline name[0..n), 0 if not. */
int ss_acl_may_name(const struct ss_acl_user *u, const char *name, size_t n);

/* 1 if every name under prefix[0..n) lies in u's namespaces. */
int ss_acl_may_prefix(const struct ss_acl_user *u, const char *prefix, size_t n);

/* The names of roles (a comma list, "read,write"), into buf. */
const char *ss_acl_roles_str(unsigned roles, char *buf, size_t size);

#endif
