/*
 * acl.c - users, roles and namespaces; see acl.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/acl.h"
#include "cmd/cmd.h"
#include "statestored/limits.h"

static const struct {
	const char *name;
	unsigned bit;
} roles[] = {
	{"read", SS_CMD_READ},
	{"write", SS_CMD_WRITE},
	{"admin", SS_CMD_ADMIN},
	{"replication", SS_CMD_REPLICATION},
};

static void user_free(struct ss_acl_user *u)
{
	for (size_t i = 0; i < u->nns; i++)
		free(u->ns[i].p);
	free(u->ns);
	ss_password_wipe(&u->pw, sizeof u->pw);
}

void ss_acl_free(struct ss_acl *acl)
{
	if (!acl)
		return;
	for (size_t i = 0; i < acl->n; i++)
		user_free(&acl->users[i]);
	free(acl->users);
	free(acl);
}

/* Users are sorted by name (bytes, then length), so a lookup is a binary
 * search: an AUTH and a reload's rebinding of every client stay cheap with
 * thousands of users. */
static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static int user_cmp(const void *x, const void *y)
{
	const struct ss_acl_user *a = x, *b = y;
	return name_cmp(a->name, a->nlen, b->name, b->nlen);
}

struct ss_acl_user *ss_acl_find(const struct ss_acl *acl, const char *name, size_t n)
{
	size_t lo = 0, hi = acl->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(acl->users[mid].name, acl->users[mid].nlen, name, n);
		if (c == 0)
			return &acl->users[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int ss_acl_may_name(const struct ss_acl_user *u, const char *name, size_t n)
{
	if (u->every_name)
		return 1;
	for (size_t i = 0; i < u->nns; i++) {
		const struct ss_acl_ns *ns = &u->ns[i];
		if (ns->prefix ? n >= ns->n && memcmp(name, ns->p, ns->n) == 0
			       : n == ns->n && memcmp(name, ns->p, n) == 0)
			return 1;
	}
	return 0;
}

int ss_acl_may_prefix(const struct ss_acl_user *u, const char *prefix, size_t n)
{
	if (u->every_name)
		return 1;
	/* Every name starting with prefix starts with one of u's prefixes
	 * only if prefix itself does. */
	for (size_t i = 0; i < u->nns; i++) {
		const struct ss_acl_ns *ns = &u->ns[i];
		if (ns->prefix && n >= ns->n && memcmp(prefix, ns->p, ns->n) == 0)
			return 1;
	}
	return 0;
}

const char *ss_acl_roles_str(unsigned bits, char *buf, size_t size)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		if (!(bits & roles[i].bit))
			continue;
		int w = snprintf(buf + at, size - at, "%s%s", at ? "," : "", roles[i].name);
		if (w < 0 || (size_t)w >= size - at)
			break;
		at += (size_t)w;
	}
	return buf;
}

/* ---- parsing ------------------------------------------------------------ */

struct parser {
	char *err;
	size_t errsize;
	unsigned line;
	size_t cap; /* users allocated */
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ps->line)
		snprintf(ps->err, ps->errsize, "line %u: %s", ps->line, msg);
	else
		snprintf(ps->err, ps->errsize, "%s", msg);
	return -1;
}

/* A field: the next run of bytes other than space and tab in [*p, end). */
static int field(const char **p, const char *end, const char **f, size_t *n)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	*f = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*n = (size_t)(*p - *f);
	return *n > 0;
}

/* Each comma-separated item of [f, f + n); empty items are refused. */
static int each_item(struct parser *ps, const char *f, size_t n, const char *what,
		     int (*fn)(struct parser *ps, struct ss_acl_user *u, const char *p, size_t n),
		     struct ss_acl_user *u)
{
	const char *end = f + n;

	while (f <= end) {
		const char *comma = memchr(f, ',', (size_t)(end - f));
		const char *stop = comma ? comma : end;
		if (stop == f)
			return fail(ps, "an empty item in the %s", what);
		if (fn(ps, u, f, (size_t)(stop - f)) < 0)
			return -1;
		f = stop + 1;
	}
	return 0;
}

static int add_role(struct parser *ps, struct ss_acl_user *u, const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (strlen(roles[i].name) == n && memcmp(roles[i].name, p, n) == 0) {
			u->roles |= roles[i].bit;
			return 0;
		}
	return fail(ps, "unknown role '%.*s': want read, write, admin or replication", (int)(n > 32 ? 32 : n), p);
}

static int add_ns(struct parser *ps, struct ss_acl_user *u, const char *p, size_t n)
{
	if (n == 1 && p[0] == '*') {
		u->every_name = 1;
		return 0;
	}
	int prefix = p[n - 1] == '*';
	size_t len = n - (size_t)prefix;
	if (len > SS_NAME_MAX || memchr(p, '*', len))
		return fail(ps, "bad namespace '%.*s': a name, or a prefix ending in '*'",
			    (int)(n > 64 ? 64 : n), p);
	if (u->nns == SS_ACL_NS_MAX)
		return fail(ps, "more than %d namespaces", SS_ACL_NS_MAX);
	struct ss_acl_ns *ns = realloc(u->ns, (u->nns + 1) * sizeof(*ns));
	if (!ns)
		return fail(ps, "out of memory");
	u->ns = ns;
	char *copy = malloc(len + 1);
	if (!copy)
		return fail(ps, "out of memory");
	memcpy(copy, p, len);
	copy[len] = '\0';
	u->ns[u->nns++] = (struct ss_acl_ns){.p = copy, .n = len, .prefix = prefix};
	return 0;
}

static int valid_user(const char *p, size_t n)
{
	if (n == 0 || n > SS_ACL_USER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!ss_is_token_char((unsigned char)p[i]) || p[i] == '#' || p[i] == ',')
			return 0;
	return 1;
}

static int set_hash(struct parser *ps, struct ss_acl_user *u, const char *p, size_t n)
{
	const char *why;

	if (n >= SS_PASSWORD_HASH_MAX || ss_password_parse(&u->pw, p, n, &why) < 0)
		return fail(ps, "%s", n >= SS_PASSWORD_HASH_MAX ? "password hash too long" : why);
	memcpy(u->hash, p, n);
	u->hash[n] = '\0';
	return 0;
}

/* One line of len bytes, comments already cut: a user, or nothing. */
static int parse_line(struct parser *ps, struct ss_acl *acl, const char *p, size_t len)
{
	const char *end = p + len, *f[4];
	size_t n[4], extra_n;
	const char *extra;

	if (!field(&p, end, &f[0], &n[0]))
		return 0; /* blank */
	for (int i = 1; i < 4; i++)
		if (!field(&p, end, &f[i], &n[i]))
			return fail(ps, "want: <user> <password-hash> <roles> <namespaces>");
	if (field(&p, end, &extra, &extra_n))
		return fail(ps, "more than four fields");
	if (!valid_user(f[0], n[0]))
		return fail(ps, "bad user name: 1 to %d printable bytes, no '#' or ','",
			    SS_ACL_USER_MAX);
	if (acl->n == SS_ACL_USERS_MAX)
		return fail(ps, "more than %d users", SS_ACL_USERS_MAX);
	if (acl->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct ss_acl_user *users = realloc(acl->users, cap * sizeof(*users));
		if (!users)
			return fail(ps, "out of memory");
		acl->users = users;
		ps->cap = cap;
	}
	struct ss_acl_user *u = &acl->users[acl->n++];
	memset(u, 0, sizeof(*u));
	memcpy(u->name, f[0], n[0]);
	u->nlen = n[0];
	u->line = ps->line;
	if (set_hash(ps, u, f[1], n[1]) < 0 || each_item(ps, f[2], n[2], "roles", add_role, u) < 0 ||
	    each_item(ps, f[3], n[3], "namespaces", add_ns, u) < 0)
		return -1;
	return 0;
}

struct ss_acl *ss_acl_parse(const char *text, size_t n, char *err, size_t errsize)
{
	struct parser ps = {.err = err, .errsize = errsize};
	struct ss_acl *acl = calloc(1, sizeof(*acl));
	const char *p = text, *end = text + n;

	if (!acl) {
		fail(&ps, "out of memory");
		return NULL;
	}
	if (n > SS_ACL_FILE_MAX) {
		fail(&ps, "the file is larger than %u bytes", SS_ACL_FILE_MAX);
		goto fail;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		ps.line++;
		if (memchr(p, '\0', (size_t)(stop - p))) {
			fail(&ps, "a NUL byte");
			goto fail;
		}
		const char *hash = memchr(p, '#', (size_t)(stop - p));
		size_t len = (size_t)((hash ? hash : stop) - p);
		if (len && p[len - 1] == '\r')
			len--;
		if (parse_line(&ps, acl, p, len) < 0)
			goto fail;
		p = nl ? nl + 1 : end;
	}
	if (acl->n == 0) {
		ps.line = 0;
		fail(&ps, "no users: every connection would be refused");
		goto fail;
	}
	qsort(acl->users, acl->n, sizeof acl->users[0], user_cmp);
	for (size_t i = 1; i < acl->n; i++) {
		const struct ss_acl_user *a = &acl->users[i - 1], *b = &acl->users[i];
		if (user_cmp(a, b) == 0) {
			ps.line = a->line > b->line ? a->line : b->line;
			fail(&ps, "user '%s' is defined twice", a->name);
			goto fail;
		}
	}
	return acl;
fail:
	ss_acl_free(acl);
	return NULL;
}

struct ss_acl *ss_acl_single(const char *secret, size_t n, const struct ss_acl *prev, char *err,
			     size_t errsize)
{
	struct parser ps = {.err = err, .errsize = errsize};
	struct ss_acl *acl = calloc(1, sizeof(*acl));
	struct ss_acl_user *u = acl ? calloc(1, sizeof(*u)) : NULL;

	if (!u) {
		free(acl);
		fail(&ps, "out of memory");
		return NULL;
	}
	acl->users = u;
	acl->n = 1;
	memcpy(u->name, SS_ACL_DEFAULT_USER, sizeof SS_ACL_DEFAULT_USER);
	u->nlen = sizeof SS_ACL_DEFAULT_USER - 1;
	u->roles = SS_CMD_READ | SS_CMD_WRITE | SS_CMD_ADMIN | SS_CMD_REPLICATION;
	u->every_name = 1;
	if (n == 0 || n > SS_PASSWORD_MAX) {
		fail(&ps, "the password must be 1 to %d bytes", SS_PASSWORD_MAX);
		goto fail;
	}
	if (n >= 8 && memcmp(secret, "$scrypt$", 8) == 0) {
		if (set_hash(&ps, u, secret, n) < 0)
			goto fail;
		return acl;
	}
	/* A password in the clear: hashed here, and remembered, so the file
	 * is the only place it stays. A reload of the same password keeps
	 * its hash, so the clients that gave it stay connected. */
	const struct ss_acl_user *old = prev ? ss_acl_find(prev, u->name, u->nlen) : NULL;
	if (old && ss_password_fast_check(&old->pw, secret, n)) {
		u->pw = old->pw;
		memcpy(u->hash, old->hash, sizeof u->hash);
		return acl;
	}
	if (ss_password_make(&u->pw, secret, n, SS_PASSWORD_LN, SS_PASSWORD_R, SS_PASSWORD_P) < 0) {
		fail(&ps, "could not hash the password (out of memory?)");
		goto fail;
	}
	ss_password_remember(&u->pw, secret, n);
	ss_password_format(&u->pw, u->hash);
	return acl;
fail:
	ss_acl_free(acl);
	return NULL;
}
