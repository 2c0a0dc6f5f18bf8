/*
 * replication.c - the commands of replication, in both protocols:
 * REPLICAOF (admin), REPLSYNC (the replication role: a replica asking to
 * follow), and the refusal every write meets on a node that does not take
 * them (a replica: READONLY; a fenced primary: FENCED).
 */
#include <string.h>

#include "cmd/cmdutil.h"
#include "common/numparse.h"

/* Whether req changes the store: a write role, or an admin command that
 * stages records (ROLLBACK, FLUSHALL). */
static int writes(const struct ss_cmd *cmd, const struct ss_request *req)
{
	return (ss_cmd_request_role(cmd, req) & SS_CMD_WRITE) ||
	       strcmp(cmd->name, "ROLLBACK_CHECKPOINT") == 0 || strcmp(cmd->name, "FLUSHALL") == 0 ||
	       strcmp(cmd->name, "FLUSHDB") == 0;
}

int ss_cmd_refuse_write(const struct ss_cmd *cmd, const struct ss_request *req,
			struct ss_cmd_env *env, struct ss_buf *out, enum ss_cmd_status *st)
{
	const struct ss_cmd_repl *r = env->repl;

	if (!r || r->readonly == SS_CMD_WRITABLE || !writes(cmd, req))
		return 0;
	if (env->client && env->client->multi && !env->exec)
		env->client->multi_error = 1; /* EXEC will abort */
	if (r->readonly == SS_CMD_RO_REPLICA)
		*st = env->proto->resp
			      ? ss_cmd_fail(env, out, "READONLY You can't write against a read only "
						      "replica.")
			      : ss_cmd_error(env, out, "readonly replica");
	else
		*st = env->proto->resp
			      ? ss_cmd_fail(env, out, "FENCED epoch %llu exists, newer than this "
						      "primary's epoch %llu",
					    (unsigned long long)r->fenced_epoch,
					    (unsigned long long)r->epoch)
			      : ss_cmd_error(env, out, "fenced: epoch %llu exists, newer than this "
						       "primary's epoch %llu",
					     (unsigned long long)r->fenced_epoch,
					     (unsigned long long)r->epoch);
	return 1;
}

/* REPLICAOF HOST PORT | REPLICAOF NO ONE */
enum ss_cmd_status ss_cmd_replicaof(const struct ss_request *req, struct ss_cmd_env *env,
				    struct ss_buf *out)
{
	const struct ss_token *h = &req->argv[1], *p = &req->argv[2];
	char host[256], port[8];
	uint64_t v;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (!env->repl || !env->repl->replicaof)
		return ss_cmd_error(env, out, "replication is not available here");
	const char *why;
	if (ss_token_is(h, "NO") && ss_token_is(p, "ONE")) {
		why = env->repl->replicaof(env->repl->arg, NULL, NULL);
	} else {
		if (h->n == 0 || h->n >= sizeof host || memchr(h->p, '\0', h->n) ||
		    memchr(h->p, ' ', h->n))
			return ss_cmd_error(env, out, "invalid host");
		if (p->n >= sizeof port || ss_parse_u64(p->p, p->n, &v) < 0 || v == 0 || v > 65535)
			return ss_cmd_error(env, out, "invalid port: want 1 to 65535");
		memcpy(host, h->p, h->n);
		host[h->n] = '\0';
		memcpy(port, p->p, p->n);
		port[p->n] = '\0';
		why = env->repl->replicaof(env->repl->arg, host, port);
	}
	if (why)
		return ss_cmd_error(env, out, "%s", why);
	return ss_cmd_replied(env->proto->ok(out));
}

/* REPLSYNC <epoch> <rev> <port> [FULL]: checked here, taken by the server. */
enum ss_cmd_status ss_cmd_replsync(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	uint64_t epoch, rev, port;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (!env->repl || env->proto->resp || !env->client)
		return ss_cmd_error(env, out, "REPLSYNC is for a statestored replica, over the text "
					      "protocol");
	if (ss_parse_u64(req->argv[1].p, req->argv[1].n, &epoch) < 0 ||
	    ss_parse_u64(req->argv[2].p, req->argv[2].n, &rev) < 0 ||
	    ss_parse_u64(req->argv[3].p, req->argv[3].n, &port) < 0 || port == 0 || port > 65535)
		return ss_cmd_error(env, out, "REPLSYNC wants <epoch> <revision> <port> [FULL]");
	if (req->argc == 5 && !ss_token_is(&req->argv[4], "FULL"))
		return ss_cmd_error(env, out, "REPLSYNC wants <epoch> <revision> <port> [FULL]");
	env->client->repl_epoch = epoch;
	env->client->repl_rev = rev;
	env->client->repl_port = (int)port;
	env->client->repl_full = req->argc == 5;
	return SS_CMD_REPL;
}
