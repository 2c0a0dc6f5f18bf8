/*
 * auth.c - who may run a request: the check every request passes before
 * its command runs (NOAUTH, NOPERM), and AUTH itself, shared by the text
 * AUTH, RESP's AUTH and HELLO ... AUTH; see acl.h.
 *
 * The check reads the command table: a command's role (cmd.h) names the
 * role a user needs, and its key positions name the pipelines it touches,
 * each of which must lie in the user's namespaces. The commands that see
 * every name (LIST_CHECKPOINTS, SCAN, KEYS, RANDOMKEY) filter what they
 * show through ss_cmd_visible instead, and the two that act on the whole
 * store (FLUSHALL, and BACKUP without a prefix) need every name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/cmdutil.h"

/* A refusal: RESP's own code ("-NOPERM ..."), the text protocol's ERR
 * with the code as its first word ("ERR NOPERM ..."). */
static enum ss_cmd_status deny(struct ss_cmd_env *env, struct ss_buf *out, const char *code,
			       const char *resp_msg, const char *text_msg)
{
	if (env->denied && env->may_reply)
		(*env->denied)++;
	if (env->proto->resp)
		return ss_cmd_fail(env, out, "%s %s", code, resp_msg);
	return ss_cmd_error(env, out, "%s %s", code, text_msg);
}

/* Not counted as denied: the server counts it among auth_failures. */
enum ss_cmd_status ss_cmd_wrongpass(struct ss_cmd_env *env, struct ss_buf *out)
{
	if (env->proto->resp)
		return ss_cmd_fail(env, out,
				   "WRONGPASS invalid username-password pair or user is disabled.");
	return ss_cmd_error(env, out, "WRONGPASS invalid username-password pair");
}

enum ss_cmd_status ss_cmd_auth_refused(struct ss_cmd_env *env, struct ss_buf *out, enum ss_auth r)
{
	if (r == SS_AUTH_NOMEM)
		return SS_CMD_NOMEM;
	if (r == SS_AUTH_BUSY)
		return env->proto->resp
			       ? ss_cmd_fail(env, out, "ERR busy: too many password checks "
						       "in progress; retry the AUTH")
			       : ss_cmd_error(env, out, "busy: too many password checks in "
							"progress; retry the AUTH");
	return ss_cmd_wrongpass(env, out);
}

int ss_cmd_is_default_user(const struct ss_token *t)
{
	return t->n == sizeof SS_ACL_DEFAULT_USER - 1 &&
	       memcmp(t->p, SS_ACL_DEFAULT_USER, t->n) == 0;
}

unsigned ss_cmd_request_role(const struct ss_cmd *cmd, const struct ss_request *req)
{
	if (strcmp(cmd->name, "CLIENT") == 0 && req->argc > 1 &&
	    (ss_token_is(&req->argv[1], "LIST") || ss_token_is(&req->argv[1], "KILL")))
		return SS_CMD_ADMIN;
	/* SET's GET option answers the old value, as GETSET does. Options
	 * start after the key and the value. */
	if (strcmp(cmd->name, "SET") == 0)
		for (int i = 3; i < req->argc; i++)
			if (ss_token_is(&req->argv[i], "GET"))
				return SS_CMD_RW;
	return cmd->role;
}

int ss_cmd_visible(const struct ss_cmd_env *env, const char *name, size_t n)
{
	if (!env->acl)
		return 1;
	const struct ss_acl_user *u = env->client ? env->client->user : NULL;
	return u && ss_acl_may_name(u, name, n); /* no user: nothing (fail closed) */
}

/* Whether u may run cmd's request on the whole store: FLUSHALL and BACKUP
 * act on every name, BACKUP <dir> <prefix> on the names under prefix. */
static int may_whole_store(const struct ss_acl_user *u, const struct ss_cmd *cmd,
			   const struct ss_request *req)
{
	if (strcmp(cmd->name, "BACKUP") == 0)
		return req->argc > 2 ? ss_acl_may_prefix(u, req->argv[2].p, req->argv[2].n)
				     : u->every_name;
	if (strcmp(cmd->name, "FLUSHALL") == 0 || strcmp(cmd->name, "FLUSHDB") == 0)
		return u->every_name;
	return 1;
}

int ss_cmd_access(const struct ss_cmd *cmd, const struct ss_request *req, struct ss_cmd_env *env,
		  struct ss_buf *out, enum ss_cmd_status *st)
{
	const struct ss_acl_user *u = env->client ? env->client->user : NULL;
	char lower[40];

	if (!env->acl || (cmd && cmd->role == SS_CMD_OPEN))
		return 0;
	if (!u) {
		*st = deny(env, out, "NOAUTH", "Authentication required.",
			   "authentication required: AUTH <user> <password> first");
		return 1;
	}
	if (!cmd)
		return 0; /* the dispatcher answers "unknown command" */
	unsigned need = ss_cmd_request_role(cmd, req) &
			(SS_CMD_READ | SS_CMD_WRITE | SS_CMD_ADMIN | SS_CMD_REPLICATION);
	if ((need & u->roles) != need) {
		char msg[160];
		snprintf(msg, sizeof msg, "User %s has no permissions to run the '%s' command", u->name,
			 ss_cmd_lower(cmd->name, lower, sizeof lower));
		*st = deny(env, out, "NOPERM", msg, msg);
		return 1;
	}
	if (!may_whole_store(u, cmd, req)) {
		*st = deny(env, out, "NOPERM", "No permissions to access a key",
			   "this command needs every namespace (or a prefix inside yours)");
		return 1;
	}
	if (cmd->first_key <= 0 || u->every_name)
		return 0;
	int last = cmd->last_key < 0 ? req->argc - 1 : cmd->last_key;
	for (int i = cmd->first_key; i <= last && i < req->argc; i += cmd->key_step) {
		if (!ss_acl_may_name(u, req->argv[i].p, req->argv[i].n)) {
			*st = deny(env, out, "NOPERM", "No permissions to access a key",
				   "no permissions to access a name outside your namespaces");
			return 1;
		}
	}
	return 0;
}

enum ss_auth ss_cmd_authenticate(struct ss_cmd_env *env, const struct ss_token *user,
				 const struct ss_token *pass)
{
	struct ss_client_state *c = env->client;

	if (c->auth_denied) {
		/* The rerun of an AUTH the slow check refused, or could not
		 * take (2: too many checks queued). */
		int busy = c->auth_denied == 2;
		c->auth_denied = 0;
		return busy ? SS_AUTH_BUSY : SS_AUTH_WRONG;
	}
	/* No user has a name or password of such a length: refused like an
	 * unknown user, by the server, so that it is counted, logged and
	 * answered as late as any other failure. */
	/* Nor a password holding a NUL (none can be hashed: --hash-password
	 * and the password file refuse them), which scrypt's HMAC would
	 * otherwise take for the password without its trailing NULs. */
	int possible = user->n > 0 && user->n <= SS_ACL_USER_MAX && pass->n > 0 &&
		       pass->n <= SS_PASSWORD_MAX && !memchr(pass->p, '\0', pass->n);
	struct ss_acl_user *u = possible ? ss_acl_find(env->acl, user->p, user->n) : NULL;
	if (u && ss_password_fast_check(&u->pw, pass->p, pass->n)) {
		c->user = u;
		return SS_AUTH_OK;
	}
	/* The slow check, by the server, off the loop. */
	ss_cmd_auth_clear(c);
	if (possible) {
		if (!(c->auth_pass = malloc(pass->n)))
			return SS_AUTH_NOMEM;
		memcpy(c->auth_pass, pass->p, pass->n);
		c->auth_plen = pass->n;
	}
	size_t un = user->n < SS_ACL_USER_MAX ? user->n : SS_ACL_USER_MAX;
	memcpy(c->auth_user, user->p, un); /* for the log; unknown if cut */
	c->auth_user[un] = '\0';
	c->auth_ulen = un;
	return SS_AUTH_SLOW;
}

void ss_cmd_auth_clear(struct ss_client_state *c)
{
	if (c->auth_pass) {
		ss_password_wipe(c->auth_pass, c->auth_plen);
		free(c->auth_pass);
	}
	c->auth_pass = NULL;
	c->auth_plen = 0;
}

/* AUTH <password> (the default user) or AUTH <user> <password>: OK, or
 * ERR WRONGPASS. Shared by both protocols: RESP answers +OK and its own
 * codes, as Redis. */
enum ss_cmd_status ss_cmd_auth(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out)
{
	static const struct ss_token def = {SS_ACL_DEFAULT_USER, sizeof SS_ACL_DEFAULT_USER - 1};

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (!env->acl) {
		if (env->proto->resp && req->argc == 3 && ss_cmd_is_default_user(&req->argv[1]))
			return ss_cmd_replied(env->proto->ok(out)); /* as Redis without a password */
		if (env->proto->resp && req->argc == 3)
			return ss_cmd_wrongpass(env, out);
		return ss_cmd_error(env, out, "AUTH <password> called without any password configured "
					      "for the default user. Are you sure your configuration "
					      "is correct?");
	}
	const struct ss_token *user = req->argc == 3 ? &req->argv[1] : &def;
	enum ss_auth r = ss_cmd_authenticate(env, user, &req->argv[req->argc - 1]);
	switch (r) {
	case SS_AUTH_OK:
		return ss_cmd_replied(env->proto->ok(out));
	case SS_AUTH_SLOW:
		return SS_CMD_AUTH;
	default:
		return ss_cmd_auth_refused(env, out, r);
	}
}
