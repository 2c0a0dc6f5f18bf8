/*
 * fuzz_auth.c - libFuzzer target for authentication and authorization on
 * the request path: client bytes -> ss_session_execute with an ACL
 * (ss_session_env.acl) -> AUTH / HELLO AUTH, NOAUTH, NOPERM and the
 * namespace filters -> the open batch -> a commit on a real store in this
 * process's scratch directory. It is a property fuzzer, not a reference
 * model: fuzz_conn.c checks what every command answers; this target checks
 * only who may do and see what.
 *
 * The users (made once per process with cheap scrypt costs, ln 1 and 2, so
 * one check takes microseconds; the ACL is parsed afresh for each input
 * from a file text that holds their hash strings, so that no password is
 * remembered from one input to the next):
 *
 *   user     roles             namespaces (a trailing star: a prefix)
 *   admin    read,write,admin  every name
 *   w        read,write        prefix team-a/, and exact-name
 *   r        read              every name
 *   ops      admin             prefix team-a/ (ROLLBACK and BACKUP there)
 *   nobody   read              void           (a name that does not exist)
 *   default  read,write        prefix team-b/ (the text AUTH <pw>)
 *
 * and a second version of the file (the 'h' escape swaps them, as SIGHUP
 * reloads): w sees prefix team-b/ and exact-name, r only prefix team-b/
 * (both keep their hashes), ops has a new password, nobody is gone.
 *
 * The store starts with names inside and outside those namespaces (two
 * versions each), each name's values carrying a marker of its own,
 * "SECRET<nn>zQ".
 *
 * The input is what three clients send, with escapes, as in fuzz_conn.c:
 *
 *   0xff 0xff       a literal 0xff byte
 *   0xff 'r'        the current connection becomes readable: one read, then
 *                   its requests execute
 *   0xff 'c'        commit the open batch
 *   0xff 'k'        the password checks queued so far finish (as the
 *                   server's helper thread and its on_done): each session
 *                   waiting in auth_wait gets its answer and runs again
 *   0xff 'b'        the next password check is refused as busy (the
 *                   server's queue of 64 checks is full)
 *   0xff 'h'        SIGHUP: the other version of the ACL file takes effect
 *                   (see the users above)
 *   0xff '1'..'3'   later bytes are sent on connection 1, 2 or 3
 *   0xff 'e'        the current connection's client shuts its side (EOF)
 *   0xff '*' a c args...
 *                   one RESP request, an array of bulk strings: command c
 *                   (an index into fa_cmds, else the name is an argument),
 *                   lower-cased if a & 0x10, then a & 15 arguments, each a
 *                   byte L and then L raw bytes (L < 0x80), or (L >= 0x80)
 *                   the pooled argument L & 0x7f (fa_pool: the users, their
 *                   passwords and wrong ones, names inside and outside the
 *                   namespaces, options)
 *   0xff other      one loop iteration: the password checks finish, every
 *                   connection reads, then a commit
 *
 * The harness plays the server (clients.c, auth.c, commit.c): a session
 * that returns with auth_wait set takes its user's hash, as ss_auth_submit
 * does, and waits until the checks finish; then, as auth.c's on_done: an
 * unknown user fails (the server runs the KDF on a decoy; here that would
 * only cost time); a password the KDF accepts is remembered in its user
 * (ss_password_remember) if the user still has the hash checked, so the
 * rerun of the AUTH passes the fast check; any other gets
 * client.auth_denied = 1 (2 for busy); the password is wiped and freed;
 * auth_wait is cleared and the session runs again. A reload does what
 * ss_auth_reload and ss_clients_rebind do: remembered passwords carry over
 * where the hash is unchanged, ss_auth_rebind moves each session to its
 * user in the new ACL or says to disconnect it, and the old ACL is freed. A COMPACT is answered OK at once, a BACKUP is
 * answered with a failure (neither is what this target is about, but who
 * may queue one is).
 *
 * Properties (each a fuzz oracle failure, which aborts):
 *   - before a successful AUTH, every request but AUTH, PING, QUIT (and
 *     HELLO over RESP) is answered exactly NOAUTH (RESP "-NOAUTH
 *     Authentication required.", text "ERR NOAUTH ..."), stages nothing
 *     and changes nothing;
 *   - AUTH and HELLO ... AUTH succeed exactly for a right user and
 *     password: a right pair is never WRONGPASS (busy only when the
 *     harness said so), a wrong one never authenticates; a session's user
 *     changes only by a successful AUTH or HELLO AUTH (to that user) or by
 *     RESET (to none). A failed AUTH (WRONGPASS, busy) leaves the session
 *     as it was: unauthenticated, or still its previous user, as in Redis
 *     (ss_cmd_authenticate sets the user only on success);
 *   - no password is left in the session (client.auth_pass) once its AUTH
 *     is answered, and auth_denied is consumed by the rerun;
 *   - a password accepted is the user's, or (before cbe1c0a) the user's
 *     followed by NUL bytes up to 64 in all: scrypt keys HMAC-SHA-256
 *     with the password, and HMAC pads a short key with zeros (opens());
 *   - a session never receives a value marker of a name outside the
 *     namespaces of the user it runs as (an unauthenticated one receives
 *     none), nor such a name where it is not part of a name the user may
 *     see; nor a password it did not send itself - unless some client sent
 *     that marker or name itself in this input (ECHO, an admin's SET);
 *   - every record a request stages (SET, DEL, REV) is by a user with the
 *     write role (or, for ROLLBACK_CHECKPOINT, admin), on a name in its
 *     namespaces; COMPACT and BACKUP are queued only by admin, BACKUP of
 *     the whole store only by a user with "*", of a prefix only inside one
 *     of its prefix namespaces; the user does not change while its staged
 *     writes owe replies;
 *   - on a reload, ss_auth_rebind disconnects exactly the sessions whose
 *     user is gone or has a new hash, and moves the others into the new
 *     ACL; from then on the properties above hold for the new rights
 *     (replies owed from before are judged by the rights they were staged
 *     under);
 *   - at the end, the table's entry for each name that no user able to
 *     change it ever authenticated as is as preloaded (value and revision),
 *     and the revision is unchanged if no user able to write authenticated;
 *   - and, from the build, no crash, no leak, no undefined behaviour.
 *
 * FZ_AUTH_TRACE=1 prints each request's name, who ran it and its
 * immediate reply, to read what an input does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzsupport.h"
#include "cmd/acl.h"
#include "cmd/cmd.h"
#include "cmd/password.h"
#include "cmd/pending.h"
#include "cmd/session.h"
#include "common/buf.h"
#include "proto/proto.h"
#include "server/auth.h"
#include "statestored/batch.h"
#include "statestored/record.h"
#include "statestored/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define NCONN 3
#define ESC 0xff
#define FA_NOW INT64_C(1700000000000)
#define FA_MAX_LINE 4096
#define FA_BATCH_MAX 4096

/* ---- the users ---- */

enum { U_ADMIN, U_W, U_R, U_OPS, U_NOBODY, U_DEFAULT, NUSERS };

/* Two versions of the ACL file; the 'h' escape (SIGHUP) swaps them. In
 * the second, w and r keep their hashes but see other namespaces, ops has a
 * new password and nobody is gone: sessions as ops or nobody are
 * disconnected, the others keep their users with the new rights. */
static const struct fa_user {
	const char *name, *password[2], *roles[2], *ns[2]; /* roles NULL: absent */
	unsigned ln, r, p;
	unsigned bits[2]; /* enum ss_cmd_role: SS_CMD_READ ... */
} fa_users[NUSERS] = {
#define RWA (SS_CMD_READ | SS_CMD_WRITE | SS_CMD_ADMIN)
#define RW (SS_CMD_READ | SS_CMD_WRITE)
	{"admin", {"pw-admin-7Kq", "pw-admin-7Kq"}, {"read,write,admin", "read,write,admin"},
	 {"*", "*"}, 1, 8, 1, {RWA, RWA}},
	{"w", {"pw-w-3Jx", "pw-w-3Jx"}, {"read,write", "write,read"},
	 {"team-a/*,exact-name", "exact-name,team-b/*"}, 2, 1, 2, {RW, RW}},
	{"r", {"pw-r-9Lm", "pw-r-9Lm"}, {"read", "read"}, {"*", "team-b/*"}, 1, 2, 1,
	 {SS_CMD_READ, SS_CMD_READ}},
	{"ops", {"pw-ops-5Tz", "pw-ops-6Uy"}, {"admin", "admin"}, {"team-a/*", "team-a/*"}, 1, 1,
	 1, {SS_CMD_ADMIN, SS_CMD_ADMIN}},
	{"nobody", {"pw-nobody-2Wd", NULL}, {"read", NULL}, {"void", NULL}, 2, 2, 2,
	 {SS_CMD_READ, 0}},
	{"default", {"pw-default-8Hc", "pw-default-8Hc"}, {"read,write", "read,write"},
	 {"team-b/*", "team-b/*"}, 1, 4, 1, {RW, RW}},
#undef RW
#undef RWA
};

static int starts(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(p, prefix, k) == 0;
}

static int equals(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* Whether user u may see and change the name p[0..n) in version v of the
 * file: written from the table above, not with ss_acl_may_name. */
static int fa_visible(int v, int u, const char *p, size_t n)
{
	switch (u) {
	case U_ADMIN:
		return 1;
	case U_R:
		return v == 0 || starts(p, n, "team-b/");
	case U_W:
		return starts(p, n, v ? "team-b/" : "team-a/") || equals(p, n, "exact-name");
	case U_OPS:
		return starts(p, n, "team-a/");
	case U_NOBODY:
		return v == 0 && equals(p, n, "void");
	case U_DEFAULT:
		return starts(p, n, "team-b/");
	}
	return 0;
}

/* Whether every name under the prefix p[0..n) is u's (BACKUP <dir> <prefix>). */
static int fa_prefix_ok(int v, int u, const char *p, size_t n)
{
	switch (u) {
	case U_ADMIN:
		return 1;
	case U_R:
		return v == 0 || starts(p, n, "team-b/");
	case U_W:
		return starts(p, n, v ? "team-b/" : "team-a/");
	case U_OPS:
		return starts(p, n, "team-a/");
	case U_DEFAULT:
		return starts(p, n, "team-b/");
	}
	return 0;
}

static int fa_every_name(int v, int u)
{
	return u == U_ADMIN || (u == U_R && v == 0);
}

/* ---- the preloaded names ---- */

static const char *const fa_names[] = {
	"team-a/job1", "team-a/job2", "team-a/", "team-a", "team-ab/x", "Team-a/x",
	"exact-name", "exact-name2", "exact-nam", "secret/db", "secret/key", "team-b/job",
	"void", "team-a/secret/db",
};
#define NNAMES (sizeof fa_names / sizeof fa_names[0])

static char fa_marker[NNAMES][16];
/* Per user (and, last, for no user): which names' markers and which names
 * themselves it must never receive. A name is checked only where it is
 * no part of a name the user may see. */
static unsigned char fa_no_marker[2][NUSERS + 1][NNAMES], fa_no_name[2][NUSERS + 1][NNAMES];
static char fa_hash[2][NUSERS][SS_PASSWORD_HASH_MAX];
static char fa_acl_text[2][2048];
static size_t fa_acl_len[2];

/* ---- the harness's state ---- */

struct aconn {
	struct ss_session s; /* first, so an op's owner is the aconn */
	int id;
	char *q; /* every byte its client sent (read up to qoff) */
	size_t qlen, qoff, qcap;
	int shut;
	int user;        /* who it runs as, in the harness's view: -1 none */
	int busy_given;  /* its last slow check was answered busy */
	int reloaded;    /* the file was reloaded while its check waited */
	/* Its slow check, as ss_auth_submit takes it: the user's hash and
	 * password at the time (known 0: an unknown user). */
	int job, job_known;
	struct ss_password job_pw;
	char job_hash[SS_PASSWORD_HASH_MAX];
};

struct fa {
	struct aconn conns[NCONN];
	int cur;
	struct ss_store *store;
	struct fz_io fio; /* no fsyncs: the scratch directory is tmpfs */
	struct ss_batch batch;
	struct ss_pending pending;
	struct ss_acl *acl;
	uint64_t rejected, denied, backups_queued, backup_seq, commit_seq, rev0;
	int compact_requested;
	int busy_next;
	int variant;      /* which version of the file is in force */
	unsigned reloads; /* 'h' escapes so far */
	unsigned char *op_variant; /* per op of the batch: the version it was staged under */
	size_t op_cap;
	int trace; /* FZ_AUTH_TRACE=1: each request and its reply on stderr */
	unsigned seen; /* bit u: some session ran as user u */
	struct fz_map before;
};

static struct fa Z;

static int user_index(const struct ss_acl_user *u)
{
	if (!u)
		return -1;
	for (int i = 0; i < NUSERS; i++)
		if (equals(u->name, u->nlen, fa_users[i].name))
			return i;
	fz_fail("a session runs as '%s', who is no user of the harness", u->name);
}

static const char *show(const char *p, size_t n)
{
	static char buf[4 * 200 + 1];
	size_t o = 0;

	for (size_t i = 0; i < n && i < 200; i++) {
		unsigned char b = (unsigned char)p[i];
		if (b >= 0x20 && b < 0x7f && b != '\\')
			buf[o++] = (char)b;
		else
			o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", b);
	}
	buf[o] = '\0';
	return buf;
}

/* Whether s[0..sn) occurs in p[0..n). Not memmem: libFuzzer hooks that
 * and would learn the markers, and inputs that send a marker turn its
 * check off (check_leaks). */
static int contains(const char *p, size_t n, const char *s, size_t sn)
{
	if (sn == 0 || n < sn)
		return sn == 0;
	const char *end = p + n; /* p is not NULL: n > 0 */

	while ((size_t)(end - p) >= sn && (p = memchr(p, s[0], (size_t)(end - p) - sn + 1))) {
		size_t k = 1;
		while (k < sn && p[k] == s[k])
			k++;
		if (k == sn)
			return 1;
		p++;
	}
	return 0;
}

/* Whether some client sent s in this input. */
static int sent_by_anyone(const struct fa *z, const char *s)
{
	for (int i = 0; i < NCONN; i++)
		if (contains(z->conns[i].q, z->conns[i].qlen, s, strlen(s)))
			return 1;
	return 0;
}

/* Output p[0..n) that connection c received while it ran as user u (-1:
 * none): no marker, name or password it must not see. */
static void check_leaks(const struct fa *z, const struct aconn *c, int u, int v, const char *p,
			size_t n)
{
	int k = u < 0 ? NUSERS : u;

	if (n == 0 || c->s.closed)
		return; /* nobody reads a closed connection's output */
	for (size_t i = 0; i < NNAMES; i++) {
		if (fa_no_marker[v][k][i] && contains(p, n, fa_marker[i], strlen(fa_marker[i])) &&
		    !sent_by_anyone(z, fa_marker[i]))
			fz_fail("conn %d, as %s: the value of '%s' leaked: '%s'", c->id,
				u < 0 ? "nobody authenticated" : fa_users[u].name, fa_names[i],
				show(p, n));
		if (fa_no_name[v][k][i] && contains(p, n, fa_names[i], strlen(fa_names[i])) &&
		    !sent_by_anyone(z, fa_names[i]))
			fz_fail("conn %d, as %s: the name '%s' leaked: '%s'", c->id,
				u < 0 ? "nobody authenticated" : fa_users[u].name, fa_names[i],
				show(p, n));
	}
	for (int i = 0; i < 2 * NUSERS; i++) {
		const char *pw = fa_users[i / 2].password[i % 2];
		if (pw && contains(p, n, pw, strlen(pw)) && !contains(c->q, c->qlen, pw, strlen(pw)))
			fz_fail("conn %d: the password of '%s' leaked: '%s'", c->id,
				fa_users[i / 2].name, show(p, n));
	}
}

/* ---- the requests, as the properties see them ---- */

static int tok_is(const struct ss_token *t, const char *w)
{
	size_t n = strlen(w);

	if (t->n != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = t->p[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c != w[i])
			return 0;
	}
	return 1;
}

/* The credentials a request offers: AUTH <pw> (the default user), AUTH
 * <user> <pw>, or the last AUTH clause of a HELLO (Redis's syntax: HELLO
 * [protover [AUTH user pw] [SETNAME name]], a later clause replacing an
 * earlier one). 1 and them, or 0. */
static int credentials(const struct ss_request *req, int resp, const struct ss_token **user,
		       const struct ss_token **pass)
{
	static const struct ss_token def = {SS_ACL_DEFAULT_USER, sizeof SS_ACL_DEFAULT_USER - 1};

	if (tok_is(&req->argv[0], "AUTH")) {
		if (req->argc == 2 || req->argc == 3) {
			*user = req->argc == 3 ? &req->argv[1] : &def;
			*pass = &req->argv[req->argc - 1];
			return 1;
		}
		return 0;
	}
	if (!resp || !tok_is(&req->argv[0], "HELLO"))
		return 0;
	int found = 0;
	for (int i = 2; i < req->argc; i++) {
		int more = req->argc - i - 1;
		if (tok_is(&req->argv[i], "AUTH") && more >= 2) {
			*user = &req->argv[i + 1];
			*pass = &req->argv[i + 2];
			found = 1;
			i += 2;
		} else if (tok_is(&req->argv[i], "SETNAME") && more >= 1) {
			i++;
		} else {
			break;
		}
	}
	return found;
}

/* Whether pass opens the password pw: 1 (it is pw), 0 (it is not), or -1
 * (pw followed by NUL bytes, 64 in all at most: scrypt keys HMAC-SHA-256
 * with the password, and HMAC pads a key shorter than its 64-byte block
 * with zeros, so the KDF takes it for pw - Python's hashlib.scrypt too).
 * Since cbe1c0a the server refuses any password holding a NUL before the
 * KDF; before it, such a password passed. Either is allowed for -1, but it
 * never authenticates as anyone else. */
static int opens(const struct ss_token *pass, const char *pw)
{
	size_t n = strlen(pw);

	if (pass->n < n || memcmp(pass->p, pw, n) != 0)
		return 0;
	if (pass->n == n)
		return 1;
	if (pass->n > 64)
		return 0;
	for (size_t i = n; i < pass->n; i++)
		if (pass->p[i] != '\0')
			return 0;
	return -1;
}

/* The user (index) whose name and password these are, or -1; *padded
 * says the password is that user's padded with NULs (opens()). */
static int right_pair(int v, const struct ss_token *user, const struct ss_token *pass,
		      int *padded)
{
	*padded = 0;
	for (int i = 0; i < NUSERS; i++) {
		if (!equals(user->p, user->n, fa_users[i].name))
			continue;
		int o = fa_users[i].password[v] ? opens(pass, fa_users[i].password[v]) : 0;
		*padded = o < 0;
		return o ? i : -1;
	}
	return -1;
}

static int has(const char *p, size_t n, const char *s)
{
	return contains(p, n, s, strlen(s));
}

static int is_noauth(const char *p, size_t n, int resp)
{
	static const char r[] = "-NOAUTH Authentication required.\r\n";
	static const char t[] = "ERR NOAUTH authentication required: AUTH <user> <password> first\n";
	return resp ? n == sizeof r - 1 && memcmp(p, r, n) == 0
		    : n == sizeof t - 1 && memcmp(p, t, n) == 0;
}

/* A successful AUTH's or HELLO's reply. */
static int is_success(const struct ss_request *req, const char *p, size_t n, int resp)
{
	if (tok_is(&req->argv[0], "HELLO"))
		return n > 0 && (p[0] == '*' || p[0] == '%');
	return resp ? n == 5 && memcmp(p, "+OK\r\n", 5) == 0 : n == 3 && memcmp(p, "OK\n", 3) == 0;
}

/* What the request staged: records only for a user who may write them. */
static void check_staged(const struct fa *z, const struct aconn *c, int u,
			 const struct ss_request *req, size_t nops0)
{
	for (size_t i = nops0; i < z->batch.nops; i++) {
		const struct ss_op *op = &z->batch.ops[i];
		size_t n;
		if (op->type == SS_OP_REPLY)
			continue;
		const char *name = fz_op_name(&z->batch, op, &n);
		fz_check(u >= 0, "conn %d: '%s' staged a change of '%s' before any AUTH", c->id,
			 show(req->argv[0].p, req->argv[0].n), show(name, n));
		unsigned bits = fa_users[u].bits[z->variant];
		int by_rollback = tok_is(&req->argv[0], "ROLLBACK_CHECKPOINT") ||
				  tok_is(&req->argv[0], "EXEC");
		fz_check((bits & SS_CMD_WRITE) || ((bits & SS_CMD_ADMIN) && by_rollback),
			 "conn %d: user %s (no write role) staged a change of '%s' by '%s'", c->id,
			 fa_users[u].name, show(name, n), show(req->argv[0].p, req->argv[0].n));
		fz_check(fa_visible(z->variant, u, name, n),
			 "conn %d: user %s staged a change of '%s', outside its namespaces, by '%s'",
			 c->id, fa_users[u].name, show(name, n), show(req->argv[0].p, req->argv[0].n));
	}
}

/* The AUTH and HELLO properties: who the session runs as after it. */
static void check_auth(const struct fa *z, struct aconn *c, int was, int now,
		       const struct ss_request *req, enum ss_cmd_status st, const char *p, size_t n,
		       int resp)
{
	const struct ss_token *user, *pass;
	int cred = credentials(req, resp, &user, &pass);
	int padded = 0;
	int right = cred ? right_pair(z->variant, user, pass, &padded) : -1;
	/* A reload while the check waited may refuse a password that is
	 * right now (it was checked against the old hash). */
	int relax = c->reloaded;
	int wrongpass = has(p, n, "WRONGPASS"), busy = has(p, n, "too many password checks");

	if (st == SS_CMD_AUTH) {
		/* The password is left for the check (none if no user could
		 * have one of its length: refused by the server all the same). */
		int impossible = cred && (pass->n == 0 || pass->n > SS_PASSWORD_MAX ||
					  memchr(pass->p, '\0', pass->n) || user->n == 0 ||
					  user->n > SS_ACL_USER_MAX);
		fz_check(cred && n == 0 && now == was && (c->s.client.auth_pass || impossible),
			 "conn %d: an AUTH waiting for the slow check answered or changed the user",
			 c->id);
		return;
	}
	fz_check(!c->s.client.auth_pass && !c->s.client.auth_denied,
		 "conn %d: a password (or a refusal) left in the session after its AUTH", c->id);
	if (st == SS_CMD_WAIT)
		return;
	if (busy)
		fz_check(c->busy_given, "conn %d: a password check answered busy unasked", c->id);
	if (wrongpass && !relax && !padded)
		fz_check(right < 0, "conn %d: the right password of '%s' refused: '%s'",
			 c->id, fa_users[right < 0 ? 0 : right].name, show(p, n));
	if (wrongpass || busy || right < 0 || (padded && !is_success(req, p, n, resp)))
		fz_check(now == was, "conn %d: a failed AUTH changed the user from %s to %s", c->id,
			 was < 0 ? "none" : fa_users[was].name, now < 0 ? "none" : fa_users[now].name);
	/* Inside MULTI, AUTH is refused (it would not be queued). */
	if (right >= 0 && tok_is(&req->argv[0], "AUTH") && !c->s.client.multi && !relax &&
	    !padded)
		fz_check(busy || is_success(req, p, n, resp),
			 "conn %d: AUTH with the right password of '%s' answered '%s'", c->id,
			 fa_users[right].name, show(p, n));
	if (right >= 0 && is_success(req, p, n, resp))
		fz_check(now == right, "conn %d: a successful AUTH as %s left the session as %s",
			 c->id, fa_users[right].name, now < 0 ? "none" : fa_users[now].name);
	c->busy_given = 0;
	c->reloaded = 0;
}

/* ss_session_env.observe: after each request has run. */
static void observe(void *arg, const struct ss_session *s, const struct ss_request *req,
		    enum ss_cmd_status st, size_t before, size_t nops0)
{
	struct fa *z = arg;
	struct aconn *c = (struct aconn *)(uintptr_t)s;
	int was = c->user, now = user_index(s->client.user);
	const char *p = ss_buf_head(&s->out) + before;
	size_t n = ss_buf_size(&s->out) - before;
	int resp = s->proto->resp != 0;

	if (z->trace)
		fprintf(stderr, "conn %d as %s: %.*s -> %d '%s'\n", c->id,
			was < 0 ? "-" : fa_users[was].name, req ? (int)req->argv[0].n : 16,
			req ? req->argv[0].p : "(protocol error)", (int)st, show(p, n));
	check_leaks(z, c, was, z->variant, p, n);
	if (!req) {
		fz_check(now == was, "conn %d: a protocol error changed the user", c->id);
		fz_check(z->batch.nops == nops0, "conn %d: a protocol error staged", c->id);
		return;
	}
	const struct ss_token *name = &req->argv[0];
	int is_auth = tok_is(name, "AUTH") || (resp && tok_is(name, "HELLO"));
	int open = is_auth || tok_is(name, "PING") || tok_is(name, "QUIT");
	if (was < 0 && !open)
		fz_check(st == SS_CMD_WAIT ? n == 0 : is_noauth(p, n, resp),
			 "conn %d: '%s' before AUTH answered '%s', not NOAUTH", c->id,
			 show(name->p, name->n), show(p, n));
	fz_check(was >= 0 || z->batch.nops == nops0, "conn %d: '%s' staged before AUTH", c->id,
		 show(name->p, name->n));
	check_staged(z, c, was, req, nops0);
	if (z->batch.nops > z->op_cap) {
		z->op_cap = z->batch.nops * 2;
		z->op_variant = fz_realloc(z->op_variant, z->op_cap);
	}
	for (size_t i = nops0; i < z->batch.nops; i++)
		z->op_variant[i] = (unsigned char)z->variant;
	if (is_auth)
		check_auth(z, c, was, now, req, st, p, n, resp);
	else
		fz_check(!c->s.client.auth_pass && !s->auth_wait,
			 "conn %d: '%s' left a password for the slow check", c->id,
			 show(name->p, name->n));
	if (now != was) {
		fz_check(s->pending == 0, "conn %d: the user changed with %zu writes owing replies",
			 c->id, s->pending);
		fz_check(now >= 0 ? is_auth && is_success(req, p, n, resp) : tok_is(name, "RESET"),
			 "conn %d: '%s' answered '%s' and changed the user from %s to %s", c->id,
			 show(name->p, name->n), show(p, n), was < 0 ? "none" : fa_users[was].name,
			 now < 0 ? "none" : fa_users[now].name);
		if (now >= 0) {
			const struct ss_token *user, *pass;
			int padded;
			fz_check(credentials(req, resp, &user, &pass) &&
					 right_pair(z->variant, user, pass, &padded) == now,
				 "conn %d: '%s' authenticated as %s without its password", c->id,
				 show(name->p, name->n), fa_users[now].name);
			z->seen |= 1u << now;
		}
	}
	c->user = now;
}

/* ---- the server, mirrored ---- */

static int stats(void *arg, const struct ss_proto *proto, struct ss_buf *out)
{
	struct fa *z = arg;
	char entries[24];

	snprintf(entries, sizeof(entries), "%zu", ss_table_count(ss_store_table(z->store)));
	return proto->row(out, "entries", entries) < 0 ? -1 : 1;
}

/* CLIENT LIST's lines: what the server's show of each connection that
 * matters here (its name and user). */
static int clients(void *arg, struct ss_buf *out)
{
	struct fa *z = arg;

	for (int i = 0; i < NCONN; i++) {
		const struct ss_client_state *c = &z->conns[i].s.client;
		if (!z->conns[i].s.closed &&
		    ss_buf_printf(out, "id=%llu name=%s user=%s\n", (unsigned long long)c->id,
				  c->name ? c->name : "", c->user ? c->user->name : "") < 0)
			return -1;
	}
	return 0;
}

/* The client reads everything sent. */
static void flush(struct aconn *c)
{
	ss_buf_consume(&c->s.out, ss_buf_size(&c->s.out));
	if (!c->s.closed)
		ss_session_trim(&c->s);
}

/* COMPACT and BACKUP, queued by admins only, answered at once. */
static int answer_queued(struct fa *z, struct aconn *c)
{
	struct ss_session *s = &c->s;
	int u = c->user;
	size_t before = ss_buf_size(&s->out);

	if (s->compact_wait == SS_COMPACT_QUEUED) {
		fz_check(u >= 0 && (fa_users[u].bits[z->variant] & SS_CMD_ADMIN),
			 "conn %d: a COMPACT queued by %s", c->id, u < 0 ? "nobody" : fa_users[u].name);
		z->compact_requested = 0;
		fz_check(ss_cmd_reply_compact(s->proto, NULL, &s->out) == 0, "out of memory");
	} else if (s->compact_wait == SS_BACKUP_QUEUED) {
		fz_check(u >= 0 && (fa_users[u].bits[z->variant] & SS_CMD_ADMIN),
			 "conn %d: a BACKUP queued by %s", c->id, u < 0 ? "nobody" : fa_users[u].name);
		fz_check(s->backup.prefix
				 ? fa_prefix_ok(z->variant, u, s->backup.prefix, s->backup.plen)
				 : fa_every_name(z->variant, u),
			 "conn %d: %s may not back up '%s'", c->id, fa_users[u].name,
			 s->backup.prefix ? show(s->backup.prefix, s->backup.plen) : "(every name)");
		z->backups_queued--;
		ss_session_backup_clear(s);
		fz_check(ss_cmd_reply_backup(s->proto, "not run by the fuzz harness", 0, &s->out) == 0,
			 "out of memory");
	} else {
		return 0;
	}
	s->compact_wait = SS_COMPACT_NONE;
	check_leaks(z, c, u, z->variant, ss_buf_head(&s->out) + before,
		    ss_buf_size(&s->out) - before);
	return 1;
}

/* clients.c's run(). */
static void process_input(struct fa *z, struct aconn *c)
{
	struct ss_session_env env = {
		.table = ss_store_table(z->store),
		.batch = &z->batch,
		.pending = &z->pending,
		.now_ms = FA_NOW,
		.max_line = FA_MAX_LINE,
		.batch_max_bytes = FA_BATCH_MAX,
		.rejected = &z->rejected,
		.compact_requested = &z->compact_requested,
		.backups_queued = &z->backups_queued,
		.backup_seq = &z->backup_seq,
		.stats = stats,
		.clients = clients,
		.stats_arg = z,
		.acl = z->acl,
		.denied = &z->denied,
		.observe = observe,
		.observe_arg = z,
	};

	if (c->s.closed)
		return;
	for (;;) {
		enum ss_session_result r = ss_session_execute(&c->s, &env);
		fz_check(r != SS_SESSION_NOMEM, "conn %d: out of memory", c->id);
		if (r == SS_SESSION_HIGH) {
			flush(c);
			continue;
		}
		if (r == SS_SESSION_FULL) {
			c->s.batch_wait = 1; /* resumed after the next commit */
			break;
		}
		if (answer_queued(z, c))
			continue;
		break;
	}
	if (c->s.auth_wait && !c->job) {
		/* ss_auth_submit: the job takes the user's hash and password
		 * as they are now. */
		struct ss_client_state *cl = &c->s.client;
		const struct ss_acl_user *u = ss_acl_find(z->acl, cl->auth_user, cl->auth_ulen);
		c->job = 1;
		c->job_known = u != NULL;
		if (u) {
			c->job_pw = u->pw;
			memcpy(c->job_hash, u->hash, sizeof c->job_hash);
		}
	}
	flush(c);
	if (ss_session_done(&c->s))
		c->s.closed = 1;
}

/* auth.c's worker and on_done, for every session waiting for its check:
 * the KDF against the hash the job took (an unknown user fails; the server
 * runs it on a decoy), then the password is remembered only in a user whose
 * hash is still the one checked (a reload may have changed it). */
static void finish_checks(struct fa *z)
{
	for (int i = 0; i < NCONN; i++) {
		struct aconn *c = &z->conns[i];
		struct ss_client_state *cl = &c->s.client;
		if (!c->s.auth_wait)
			continue;
		fz_check(c->job && cl->auth_ulen <= SS_ACL_USER_MAX &&
				 cl->auth_user[cl->auth_ulen] == '\0',
			 "conn %d: auth_wait without a user name", c->id);
		struct ss_acl_user *u = ss_acl_find(z->acl, cl->auth_user, cl->auth_ulen);
		if (z->busy_next) {
			z->busy_next = 0;
			cl->auth_denied = 2;
			c->busy_given = 1;
		} else if (c->job_known && cl->auth_pass &&
			   ss_password_kdf_check(&c->job_pw, cl->auth_pass, cl->auth_plen) == 1 && u &&
			   strcmp(u->hash, c->job_hash) == 0) {
			ss_password_remember(&u->pw, cl->auth_pass, cl->auth_plen);
			fz_check(u->pw.remembered, "ss_password_remember failed");
		} else {
			cl->auth_denied = 1;
		}
		ss_cmd_auth_clear(cl);
		ss_password_wipe(&c->job_pw, sizeof c->job_pw);
		c->job = 0;
		c->s.auth_wait = 0;
		process_input(z, c);
	}
}

/* SIGHUP: the other version of the file, as ss_auth_reload and
 * ss_clients_rebind do: passwords checked already stay remembered where
 * the hash is unchanged; a session whose user is gone or has a new
 * password is disconnected (its user cleared, its output dropped), the
 * others move to their user in the new ACL. The old ACL is freed, so a
 * session left pointing into it is a use after free. */
static void reload(struct fa *z)
{
	int v = !z->variant;
	char err[300];
	struct ss_acl *next = ss_acl_parse(fa_acl_text[v], fa_acl_len[v], err, sizeof err);

	fz_check(next, "the ACL, version %d: %s", v, err);
	for (size_t i = 0; i < next->n; i++) {
		struct ss_acl_user *u = &next->users[i];
		const struct ss_acl_user *old = ss_acl_find(z->acl, u->name, u->nlen);
		if (old && old->pw.remembered && strcmp(old->hash, u->hash) == 0)
			u->pw = old->pw;
	}
	for (int i = 0; i < NCONN; i++) {
		struct aconn *c = &z->conns[i];
		int u = user_index(c->s.client.user);
		int want = u >= 0 && (!fa_users[u].password[v] ||
				      strcmp(fa_hash[v][u], fa_hash[z->variant][u]) != 0);
		int gone = ss_auth_rebind(&c->s.client, next);
		fz_check(gone == want, "conn %d, as %s: ss_auth_rebind says %d, not %d", c->id,
			 u < 0 ? "nobody" : fa_users[u].name, gone, want);
		if (c->s.auth_wait)
			c->reloaded = 1;
		if (gone) {
			c->s.client.user = NULL;
			c->user = -1;
			ss_buf_consume(&c->s.out, ss_buf_size(&c->s.out));
			c->s.closed = 1;
		} else if (u >= 0) {
			const struct ss_acl_user *now = c->s.client.user;
			fz_check(now >= next->users && now < next->users + next->n &&
					 equals(now->name, now->nlen, fa_users[u].name),
				 "conn %d: rebound to another user, or not into the new ACL", c->id);
		}
	}
	ss_acl_free(z->acl);
	z->acl = next;
	z->variant = v;
	z->reloads++;
}

static void conn_read(struct fa *z, struct aconn *c)
{
	size_t room = ss_session_room(&c->s, FA_MAX_LINE);
	size_t avail = c->qlen - c->qoff;

	if (c->s.closed || c->s.eof || c->s.close_after || room == 0)
		return;
	if (avail == 0) {
		if (!c->shut)
			return;
		c->s.eof = 1;
	} else {
		size_t n = avail < room ? avail : room;
		fz_check(ss_buf_append(&c->s.in, c->q + c->qoff, n) == 0, "out of memory");
		c->qoff += n;
	}
	process_input(z, c);
}

static void commit(struct fa *z)
{
	struct ss_batch *b = &z->batch;
	struct aconn *touched[NCONN];
	int ntouched = 0;
	struct ss_error err;

	if (b->nops > 0) {
		if (b->nrecs > 0) {
			fz_check(ss_store_write(z->store, b, &err) == 0, "write: %s", err.msg);
			fz_check(ss_store_sync(z->store, &err) == 0, "sync: %s", err.msg);
			fz_check(ss_store_apply(z->store, b, FA_NOW) == 0, "apply failed");
		}
		z->commit_seq++;
		for (size_t i = 0; i < b->nops; i++) {
			struct ss_op *op = &b->ops[i];
			struct aconn *c = op->owner;
			size_t before = ss_buf_size(&c->s.out);
			int r = ss_session_answer(b, op, 1, 0, z->commit_seq);
			fz_check(!(r & SS_ANSWER_NOMEM), "out of memory");
			/* The user cannot have changed while this reply was owed. */
			check_leaks(z, c, c->user, z->op_variant[i], ss_buf_head(&c->s.out) + before,
				    ss_buf_size(&c->s.out) - before);
			if ((r & SS_ANSWER_FIRST) && ntouched < NCONN)
				touched[ntouched++] = c;
		}
		ss_pending_done(&z->pending, b, 1);
		ss_batch_reset(b);
		for (int i = 0; i < ntouched; i++)
			process_input(z, touched[i]);
	}
	for (int i = 0; i < NCONN; i++) {
		struct aconn *c = &z->conns[i];
		if (c->s.batch_wait) {
			c->s.batch_wait = 0;
			process_input(z, c);
		}
	}
}

static void loop_iteration(struct fa *z)
{
	finish_checks(z);
	for (int i = 0; i < NCONN; i++)
		conn_read(z, &z->conns[i]);
	commit(z);
}

/* ---- the input ---- */

static void send_bytes(struct aconn *c, const void *p, size_t n)
{
	if (c->shut || n == 0)
		return;
	if (c->qcap - c->qlen < n) {
		while (c->qcap - c->qlen < n)
			c->qcap = c->qcap ? c->qcap * 2 : 256;
		c->q = fz_realloc(c->q, c->qcap);
	}
	memcpy(c->q + c->qlen, p, n);
	c->qlen += n;
}

static const char *const fa_cmds[] = {
	"AUTH", "HELLO", "PING", "QUIT", "GET", "SET", "DEL", "MGET", "MSET", "GETSET", "GETDEL",
	"INCR", "EXISTS", "TYPE", "TTL", "EXPIRE", "KEYS", "SCAN", "RANDOMKEY", "DBSIZE", "INFO",
	"CLIENT", "MULTI", "EXEC", "DISCARD", "WATCH", "RESET", "FLUSHALL", "FLUSHDB", "ECHO",
	"COMMAND", "CONFIG", "SELECT", "GET_CHECKPOINT", "SET_CHECKPOINT", "DEL_CHECKPOINT",
	"GETREV_CHECKPOINT", "CAS_CHECKPOINT", "MSET_CHECKPOINT", "MCAS_CHECKPOINT",
	"HISTORY_CHECKPOINT", "ROLLBACK_CHECKPOINT", "LIST_CHECKPOINTS", "STATS", "COMPACT",
	"BACKUP", "CONFIG_GET", "GETEX", "MSETNX", "SETNX", "TTL_CHECKPOINT", "NOSUCH", "UNLINK",
	"PERSIST",
};
#define FA_NCMDS (sizeof fa_cmds / sizeof fa_cmds[0])

#define S(s) {s, sizeof(s) - 1}
static const struct {
	const char *p;
	size_t n;
} fa_pool[] = {
	/* 0: the users and their passwords */
	S("admin"), S("pw-admin-7Kq"), S("w"), S("pw-w-3Jx"), S("r"), S("pw-r-9Lm"), S("ops"),
	S("pw-ops-5Tz"), S("nobody"), S("pw-nobody-2Wd"), S("default"), S("pw-default-8Hc"),
	/* 12: wrong ones, and an unknown user */
	S("pw-admin-7KQ"), S("pw-w-3Jx "), S(""), S("ghost"), S("pw-r-9Lm\0"), S("ADMIN"),
	/* 18: names */
	S("team-a/job1"), S("team-a/job2"), S("team-a/"), S("team-a"), S("team-ab/x"),
	S("exact-name"), S("exact-name2"), S("secret/db"), S("team-b/job"), S("void"),
	S("team-a/new"), S("team-b/new"), S("team-a/secret/db"), S("Team-a/x"),
	/* 32: options and numbers */
	S("AUTH"), S("SETNAME"), S("2"), S("3"), S("0"), S("1"), S("*"), S("MATCH"), S("COUNT"),
	S("PREFIX"), S("LIST"), S("INFO"), S("KILL"), S("USER"), S("ID"), S("GET"), S("100"),
	S("team-a/*"), S("/tmp/bk"), S("v"), S("10"), S("-1"), S("ALL"), S("team-"), S("secret/"),
	/* 57: the password ops has in the second version of the file */
	S("pw-ops-6Uy"),
};
#undef S
#define FA_NPOOL (sizeof fa_pool / sizeof fa_pool[0])

static int next_arg(const uint8_t *d, size_t size, size_t *i, const char **p, size_t *n)
{
	if (*i + 1 >= size)
		return 0;
	uint8_t l = d[++*i];
	if (l >= 0x80) {
		size_t k = (size_t)(l & 0x7f) % FA_NPOOL;
		*p = fa_pool[k].p;
		*n = fa_pool[k].n;
		return 1;
	}
	if (*i + l >= size)
		return 0;
	*p = (const char *)d + *i + 1;
	*n = l;
	*i += l;
	return 1;
}

/* The '*' escape at d[i]: encodes and sends one RESP request. Returns the
 * index of its last byte. */
static size_t send_resp(struct aconn *c, const uint8_t *d, size_t size, size_t i)
{
	const char *p[16];
	size_t n[16];
	char name[64], head[32];

	if (i + 2 >= size)
		return size - 1;
	uint8_t a = d[++i], cmd = d[++i];
	int argc = 1 + (a & 15);
	if (cmd < FA_NCMDS) {
		p[0] = fa_cmds[cmd];
		n[0] = strlen(fa_cmds[cmd]);
	} else if (!next_arg(d, size, &i, &p[0], &n[0])) {
		return size - 1;
	}
	for (int k = 1; k < argc; k++)
		if (!next_arg(d, size, &i, &p[k], &n[k]))
			return size - 1;
	if (a & 0x10) {
		size_t m = n[0] < sizeof name ? n[0] : sizeof name;
		for (size_t k = 0; k < m; k++)
			name[k] = p[0][k] >= 'A' && p[0][k] <= 'Z' ? (char)(p[0][k] + 32) : p[0][k];
		p[0] = name;
		n[0] = m;
	}
	send_bytes(c, head, (size_t)snprintf(head, sizeof head, "*%d\r\n", argc));
	for (int k = 0; k < argc; k++) {
		send_bytes(c, head, (size_t)snprintf(head, sizeof head, "$%zu\r\n", n[k]));
		send_bytes(c, p[k], n[k]);
		send_bytes(c, "\r\n", 2);
	}
	return i;
}

/* ---- the run ---- */

/* Builds the hashes and the ACL text once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[300];
	(void)argc;
	(void)argv;

	for (int i = 0; i < NUSERS; i++) {
		const struct fa_user *u = &fa_users[i];
		struct ss_password pw;
		for (int v = 0; v < 2; v++) {
			if (!u->password[v] || (v == 1 && strcmp(u->password[0], u->password[1]) == 0))
				continue;
			fz_check(ss_password_make(&pw, u->password[v], strlen(u->password[v]), u->ln,
						  u->r, u->p) == 0,
				 "ss_password_make failed");
			ss_password_format(&pw, fa_hash[v][i]);
		}
		if (u->password[1] && strcmp(u->password[0], u->password[1]) == 0)
			memcpy(fa_hash[1][i], fa_hash[0][i], sizeof fa_hash[0][i]);
	}
	for (int v = 0; v < 2; v++) {
		size_t at = (size_t)snprintf(fa_acl_text[v], sizeof fa_acl_text[v],
					     "# fuzz_auth's users, version %d (cheap scrypt costs)\n\n",
					     v);
		for (int i = 0; i < NUSERS; i++) {
			const struct fa_user *u = &fa_users[i];
			if (!u->password[v])
				continue;
			at += (size_t)snprintf(fa_acl_text[v] + at, sizeof fa_acl_text[v] - at,
					       "%s%s %s\t%s %s  # user %d\r\n", i % 2 ? "  " : "",
					       u->name, fa_hash[v][i], u->roles[v], u->ns[v], i);
			fz_check(at < sizeof fa_acl_text[v], "the ACL text is too long");
		}
		fa_acl_len[v] = at;
		struct ss_acl *acl = ss_acl_parse(fa_acl_text[v], at, err, sizeof err);
		fz_check(acl, "the harness's ACL is refused: %s", err);
		for (int i = 0; i < NUSERS; i++) {
			const char *pw = fa_users[i].password[v];
			const struct ss_acl_user *u = ss_acl_find(acl, fa_users[i].name,
								  strlen(fa_users[i].name));
			fz_check(!pw == !u, "user %s: present %d", fa_users[i].name, u != NULL);
			if (!u)
				continue;
			fz_check(u->roles == fa_users[i].bits[v] && strcmp(u->hash, fa_hash[v][i]) == 0,
				 "user %s parsed wrong", fa_users[i].name);
			fz_check(ss_password_kdf_check(&u->pw, pw, strlen(pw)) == 1,
				 "the password of %s does not check", fa_users[i].name);
		}
		ss_acl_free(acl);
	}

	for (size_t i = 0; i < NNAMES; i++)
		snprintf(fa_marker[i], sizeof fa_marker[i], "SECRET%02zuzQ", i);
	for (int v = 0; v < 2; v++) {
		for (int u = 0; u <= NUSERS; u++) {
			for (size_t i = 0; i < NNAMES; i++) {
				int vis = u < NUSERS && fa_visible(v, u, fa_names[i], strlen(fa_names[i]));
				fa_no_marker[v][u][i] = !vis;
				fa_no_name[v][u][i] = !vis;
				for (size_t j = 0; j < NNAMES && fa_no_name[v][u][i]; j++)
					if (u < NUSERS &&
					    fa_visible(v, u, fa_names[j], strlen(fa_names[j])) &&
					    strstr(fa_names[j], fa_names[i]))
						fa_no_name[v][u][i] = 0;
			}
		}
	}
	return 0;
}

static void preload(struct fa *z)
{
	struct ss_error err;
	char value[2][32];
	uint64_t rev = ss_table_revision(ss_store_table(z->store));

	for (int v = 0; v < 2; v++) {
		for (size_t i = 0; i < NNAMES; i++) {
			snprintf(value[v], sizeof value[v], "%s-v%d", fa_marker[i], v + 1);
			struct ss_record r = {.type = SS_REC_SET, .name = fa_names[i],
					      .nlen = strlen(fa_names[i]), .value = value[v],
					      .vlen = strlen(value[v]), .rev = ++rev,
					      .commit_ms = FA_NOW - 1000};
			fz_check(ss_batch_add(&z->batch, &r, NULL) == 0, "ss_batch_add: %s",
				 strerror(errno));
		}
		fz_check(fz_commit(z->store, &z->batch, FA_NOW - 1000, &err) == 0, "preload: %s",
			 err.msg);
	}
	z->rev0 = rev;
}

/* The end: names no one able to change them ran as are as preloaded. */
static void check_table(struct fa *z)
{
	struct fz_map after = {0};
	unsigned writers = 0;

	for (int u = 0; u < NUSERS; u++)
		if ((z->seen >> u & 1) &&
		    ((fa_users[u].bits[0] | fa_users[u].bits[z->reloads ? 1 : 0]) &
		     (SS_CMD_WRITE | SS_CMD_ADMIN)))
			writers |= 1u << u;
	if (!writers)
		fz_check(ss_table_revision(ss_store_table(z->store)) == z->rev0,
			 "the revision moved from %llu to %llu with no user able to write",
			 (unsigned long long)z->rev0,
			 (unsigned long long)ss_table_revision(ss_store_table(z->store)));
	fz_map_from_table(&after, ss_store_table(z->store), FA_NOW);
	for (size_t i = 0; i < NNAMES; i++) {
		size_t n = strlen(fa_names[i]);
		int may = 0;
		for (int u = 0; u < NUSERS; u++)
			may |= (writers >> u & 1) &&
			       (fa_visible(0, u, fa_names[i], n) ||
				(z->reloads && fa_visible(1, u, fa_names[i], n)));
		if (may)
			continue;
		const struct fz_kv *a = fz_map_find(&z->before, fa_names[i], n);
		const struct fz_kv *b = fz_map_find(&after, fa_names[i], n);
		fz_check(a && b && a->rev == b->rev && a->vlen == b->vlen &&
				 memcmp(a->value, b->value, a->vlen) == 0,
			 "'%s' changed, though no user who may change it authenticated", fa_names[i]);
	}
	fz_map_free(&after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fa *z = &Z;
	struct ss_store_options opt = {.dir = fz_scratch_dir(), .io = &z->fio.io, .history = 2};
	struct ss_error err;
	char aerr[300];

	struct ss_batch keep = z->batch; /* its memory, from one input to the next */
	memset(z, 0, sizeof(*z));
	z->batch = keep;
	ss_batch_reset(&z->batch);
	fz_io_init(&z->fio);
	z->trace = getenv("FZ_AUTH_TRACE") && getenv("FZ_AUTH_TRACE")[0] == '1';
	(void)unlink(fz_path(0, SS_LOG_FILE));
	(void)unlink(fz_path(1, SS_LOG_TMP_FILE));
	fz_check(ss_store_open(&z->store, &opt, FA_NOW, NULL, &err) == 0, "open: %s", err.msg);
	preload(z);
	fz_map_from_table(&z->before, ss_store_table(z->store), FA_NOW);
	ss_pending_init(&z->pending, ss_table_revision(ss_store_table(z->store)));
	z->acl = ss_acl_parse(fa_acl_text[0], fa_acl_len[0], aerr, sizeof aerr);
	fz_check(z->acl, "the ACL: %s", aerr);
	for (int k = 0; k < NCONN; k++) {
		ss_session_init(&z->conns[k].s, (uint64_t)k + 1);
		z->conns[k].id = k + 1;
		z->conns[k].user = -1;
	}

	for (size_t i = 0; i < size; i++) {
		struct aconn *c = &z->conns[z->cur];
		if (data[i] != ESC) {
			const uint8_t *esc = memchr(data + i, ESC, size - i);
			size_t n = esc ? (size_t)(esc - data) - i : size - i;
			send_bytes(c, data + i, n);
			i += n - 1;
			continue;
		}
		if (++i == size)
			break;
		switch (data[i]) {
		case ESC:
			send_bytes(c, &data[i], 1);
			break;
		case 'r':
			conn_read(z, c);
			break;
		case 'c':
			commit(z);
			break;
		case 'k':
			finish_checks(z);
			break;
		case 'b':
			z->busy_next = 1;
			break;
		case 'h':
			reload(z);
			break;
		case '1':
		case '2':
		case '3':
			z->cur = data[i] - '1';
			break;
		case 'e':
			c->shut = 1;
			break;
		case '*':
			i = send_resp(c, data, size, i);
			break;
		default:
			loop_iteration(z);
			break;
		}
	}

	/* Every client shuts; the loop runs until everyone is answered. */
	size_t total = 0;
	for (int k = 0; k < NCONN; k++) {
		z->conns[k].shut = 1;
		total += z->conns[k].qlen;
	}
	for (size_t n = 0; n < 4 * total + 64; n++) {
		int done = 1;
		for (int k = 0; k < NCONN; k++)
			done &= z->conns[k].s.closed;
		if (done)
			break;
		loop_iteration(z);
	}
	for (int k = 0; k < NCONN; k++) {
		struct aconn *c = &z->conns[k];
		fz_check(c->s.closed, "conn %d never finished: pending %zu, auth_wait %d, %zu buffered",
			 c->id, c->s.pending, (int)c->s.auth_wait, ss_buf_size(&c->s.in));
	}
	check_table(z);

	for (int k = 0; k < NCONN; k++) {
		ss_session_free(&z->conns[k].s);
		free(z->conns[k].q);
	}
	ss_pending_free(&z->pending);
	ss_acl_free(z->acl);
	free(z->op_variant);
	ss_store_close(z->store);
	fz_map_free(&z->before);
	return 0;
}
