/*
 * redis_conn.c - Redis's connection and server commands over RESP: PING,
 * ECHO, HELLO, AUTH, SELECT, CLIENT, RESET, DBSIZE, TIME, WAIT and
 * WAITAOF, CONFIG GET, INFO (from the stats rows) and COMMAND (from the
 * command tables). They concern the connection or the server, not the
 * keyspace (redis.c), and none of them writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "cmd/redis.h"
#include "proto/resp.h"
#include "statestored/limits.h"

/* ---- connection ------------------------------------------------------------ */

enum ss_cmd_status ss_redis_ping(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (req->argc == 2)
		return ss_cmd_replied(ss_resp_bulk(out, req->argv[1].p, req->argv[1].n));
	return ss_cmd_replied(ss_resp_simple(out, "PONG"));
}

enum ss_cmd_status ss_redis_echo(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return ss_cmd_replied(ss_resp_bulk(out, req->argv[1].p, req->argv[1].n));
}

/* Client names: Redis allows no spaces, newlines or other special bytes. */
static int valid_client_name(const struct ss_token *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i] <= ' ' || t->p[i] > '~')
			return 0;
	return 1;
}

static int set_str(char **dst, const struct ss_token *t)
{
	char *s = NULL;

	if (t && t->n) {
		if (!(s = malloc(t->n + 1)))
			return -1;
		memcpy(s, t->p, t->n);
		s[t->n] = '\0';
	}
	free(*dst);
	*dst = s;
	return 0;
}

enum ss_cmd_status ss_redis_hello(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	struct ss_client_state *c = env->client;
	const struct ss_token *name = NULL, *auth_user = NULL, *auth_pass = NULL;
	long long proto = c->resp;
	int i = 1;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (req->argc > 1) {
		if (tok_ll(&req->argv[1], &proto) < 0)
			return ss_cmd_fail(env, out, "ERR Protocol version is not an integer or out of range");
		/* The version first, as Redis: HELLO 4 AUTH ... is NOPROTO. */
		if (proto != 2 && proto != 3)
			return ss_cmd_fail(env, out, "NOPROTO unsupported protocol version");
		i = 2;
	}
	for (; i < req->argc; i++) {
		int more = req->argc - i - 1;
		if (ss_token_is(&req->argv[i], "AUTH") && more >= 2) {
			/* Without users, the default user takes any password. */
			auth_user = &req->argv[i + 1];
			auth_pass = &req->argv[i + 2];
			if (!env->acl && !ss_cmd_is_default_user(auth_user))
				return ss_cmd_wrongpass(env, out);
			i += 2;
		} else if (ss_token_is(&req->argv[i], "SETNAME") && more >= 1) {
			name = &req->argv[++i];
			if (!valid_client_name(name))
				return ss_cmd_fail(env, out, "ERR Client names cannot contain spaces, "
						      "newlines or special characters.");
		} else {
			char word[901];
			return ss_cmd_fail(env, out, "ERR Syntax error in HELLO option '%s'",
				    ss_cmd_echo_any(&req->argv[i], word, 900));
		}
	}
	/* As Redis: with users, an unauthenticated HELLO must carry AUTH, so
	 * that nothing (a name, the protocol) is set before it. */
	if (env->acl && !c->user && !auth_user)
		return ss_cmd_fail(env, out, "NOAUTH HELLO must be called with the client already "
					     "authenticated, otherwise the HELLO <proto> AUTH <user> "
					     "<pass> option can be used to authenticate the client and "
					     "select the RESP protocol version at the same time");
	/* Authentication last, once the request is known to be valid: a slow
	 * check reruns the whole HELLO afterwards. */
	if (auth_user && env->acl) {
		enum ss_auth r = ss_cmd_authenticate(env, auth_user, auth_pass);
		if (r == SS_AUTH_SLOW)
			return SS_CMD_AUTH;
		if (r != SS_AUTH_OK)
			return ss_cmd_auth_refused(env, out, r);
	}
	if (name && set_str(&c->name, name) < 0)
		return SS_CMD_NOMEM;
	c->resp = (int)proto;
	/* The reply is already in the version asked for. */
	size_t before = ss_buf_size(out);
	int v = c->resp, rc = ss_resp_map(out, v, 7);
	rc |= ss_resp_bulk_str(out, "server") | ss_resp_bulk_str(out, "redis") |
		     ss_resp_bulk_str(out, "version") | ss_resp_bulk_str(out, REDIS_COMPAT_VERSION) |
		     ss_resp_bulk_str(out, "proto") | ss_resp_int(out, v) |
		     ss_resp_bulk_str(out, "id") | ss_resp_int(out, (long long)c->id) |
		     ss_resp_bulk_str(out, "mode") | ss_resp_bulk_str(out, "standalone") |
		     ss_resp_bulk_str(out, "role") | ss_resp_bulk_str(out, "master") |
		     ss_resp_bulk_str(out, "modules") | ss_resp_array(out, 0);
	return ss_redis_finish(out, before, rc);
}

enum ss_cmd_status ss_redis_select(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	long long db;

	if (tok_ll(&req->argv[1], &db) < 0)
		return ss_cmd_fail(env, out, NOT_INT);
	if (db != 0)
		return ss_cmd_fail(env, out, "ERR DB index is out of range");
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return ss_cmd_replied(ss_resp_simple(out, "OK"));
}

/* The user a connection is, for CLIENT LIST: "default" where there are
 * no users (as Redis), "" before AUTH. */
static const char *user_of(const struct ss_client_state *c, int acl)
{
	return c->user ? c->user->name : acl ? "" : SS_ACL_DEFAULT_USER;
}

int ss_cmd_client_info(const struct ss_client_state *c, int acl, struct ss_buf *out)
{
	return ss_buf_printf(out,
			     "id=%llu addr=%s name=%s db=0 multi=-1 resp=%d user=%s lib-name=%s "
			     "lib-ver=%s\n",
			     (unsigned long long)c->id, c->addr[0] ? c->addr : "?",
			     c->name ? c->name : "", c->resp, user_of(c, acl),
			     c->lib_name ? c->lib_name : "", c->lib_ver ? c->lib_ver : "");
}

int ss_cmd_client_match(const struct ss_client_state *c, const struct ss_client_filter *f)
{
	if (c == f->skip || (f->id && c->id != f->id))
		return 0;
	if (f->addr && !(f->addr->n == strlen(c->addr) && memcmp(f->addr->p, c->addr, f->addr->n) == 0))
		return 0;
	if (!f->user)
		return 1;
	const char *u = user_of(c, f->acl);
	return f->user->n == strlen(u) && memcmp(f->user->p, u, f->user->n) == 0 && u[0];
}

/* CLIENT KILL <filter value>... [SKIPME yes|no]: the filters ID, USER and
 * ADDR (Redis's new form), at least one of them; the count of connections
 * closed. Their replies already owed are dropped with them. */
static enum ss_cmd_status client_kill(const struct ss_request *req, struct ss_cmd_env *env,
				      struct ss_buf *out)
{
	struct ss_client_filter f = {.skip = env->client, .acl = env->acl != NULL};
	char word[130];
	long long id;

	for (int i = 2; i + 1 < req->argc; i += 2) {
		const struct ss_token *k = &req->argv[i], *v = &req->argv[i + 1];
		if (ss_token_is(k, "ID")) {
			if (tok_ll(v, &id) < 0 || id < 1)
				return ss_cmd_fail(env, out, "ERR client-id should be greater than 0");
			f.id = (uint64_t)id;
		} else if (ss_token_is(k, "USER")) {
			f.user = v;
		} else if (ss_token_is(k, "ADDR")) {
			f.addr = v;
		} else if (ss_token_is(k, "SKIPME") &&
			   (ss_token_is(v, "YES") || ss_token_is(v, "NO"))) {
			f.skip = ss_token_is(v, "YES") ? env->client : NULL;
		} else {
			return ss_cmd_fail(env, out, "ERR syntax error: unknown filter '%s'",
					   ss_cmd_echo_any(k, word, 128));
		}
	}
	if (req->argc < 4 || (req->argc - 2) % 2 || (!f.id && !f.user && !f.addr))
		return ss_cmd_fail(env, out, "ERR syntax error: CLIENT KILL ID id | USER name | "
					     "ADDR ip:port [SKIPME yes|no]");
	if (!env->may_reply)
		return SS_CMD_WAIT;
	struct ss_client_filter self = f;
	self.skip = NULL;
	if (!f.skip && ss_cmd_client_match(env->client, &self))
		return ss_cmd_fail(env, out, "ERR CLIENT KILL of this connection: use QUIT");
	return ss_cmd_replied(ss_resp_int(out, env->kill ? env->kill(env->stats_arg, &f) : 0));
}

enum ss_cmd_status ss_redis_client(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	struct ss_client_state *c = env->client;
	const struct ss_token *sub = &req->argv[1];
	int n = req->argc - 2;
	char word[130];

	if (ss_token_is(sub, "SETNAME") && n == 1 && !valid_client_name(&req->argv[2]))
		return ss_cmd_fail(env, out, "ERR Client names cannot contain spaces, newlines or special "
				      "characters.");
	if (ss_token_is(sub, "SETINFO") && n == 2 && !ss_token_is(&req->argv[2], "LIB-NAME") &&
	    !ss_token_is(&req->argv[2], "LIB-VER"))
		return ss_cmd_fail(env, out, "ERR Unrecognized option '%s'",
			    ss_cmd_echo_any(&req->argv[2], word, 128));
	/* A value goes into CLIENT LIST's lines: no space or newline may
	 * forge a field or a line there. */
	if (ss_token_is(sub, "SETINFO") && n == 2 && !valid_client_name(&req->argv[3]))
		return ss_cmd_fail(env, out, "ERR %s cannot contain spaces, newlines or special "
					     "characters.",
				   ss_token_is(&req->argv[2], "LIB-NAME") ? "lib-name" : "lib-ver");
	if (ss_token_is(sub, "KILL"))
		return client_kill(req, env, out);
	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (ss_token_is(sub, "ID") && n == 0)
		return ss_cmd_replied(ss_resp_int(out, (long long)c->id));
	if (ss_token_is(sub, "GETNAME") && n == 0)
		return ss_cmd_replied(c->name ? ss_resp_bulk_str(out, c->name) : ss_resp_nil(out, ver(env)));
	if (ss_token_is(sub, "SETNAME") && n == 1) {
		if (set_str(&c->name, &req->argv[2]) < 0)
			return SS_CMD_NOMEM;
		return ss_cmd_replied(ss_resp_simple(out, "OK"));
	}
	if (ss_token_is(sub, "SETINFO") && n == 2) {
		char **dst = ss_token_is(&req->argv[2], "LIB-NAME") ? &c->lib_name : &c->lib_ver;
		if (set_str(dst, &req->argv[3]) < 0)
			return SS_CMD_NOMEM;
		return ss_cmd_replied(ss_resp_simple(out, "OK"));
	}
	if ((ss_token_is(sub, "INFO") && n == 0) || (ss_token_is(sub, "LIST") && n == 0)) {
		struct ss_buf text;
		int rc;
		ss_buf_init(&text);
		rc = ss_token_is(sub, "INFO") || !env->clients
			     ? ss_cmd_client_info(c, env->acl != NULL, &text)
			     : env->clients(env->stats_arg, &text);
		if (rc == 0)
			rc = ss_resp_verbatim(out, ver(env), ss_buf_head(&text), ss_buf_size(&text));
		ss_buf_free(&text);
		return ss_cmd_replied(rc);
	}
	if (!ss_token_is(sub, "ID") && !ss_token_is(sub, "GETNAME") && !ss_token_is(sub, "SETNAME") &&
	    !ss_token_is(sub, "SETINFO") && !ss_token_is(sub, "INFO") && !ss_token_is(sub, "LIST"))
		return ss_cmd_fail(env, out, "ERR unknown subcommand '%s'. Try CLIENT HELP.",
			    ss_cmd_echo_any(sub, word, 128));
	char lower[16];
	return ss_cmd_fail(env, out, "ERR wrong number of arguments for 'client|%s' command",
		    ss_cmd_lower(ss_cmd_echo_any(sub, word, 12), lower, sizeof lower));
}

enum ss_cmd_status ss_redis_reset(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	/* Everything but the identity of the socket: the connection is
	 * unauthenticated again, as a new one (Redis returns to the default
	 * user, which with users configured must AUTH too). */
	uint64_t id = env->client->id;
	char addr[sizeof env->client->addr];
	memcpy(addr, env->client->addr, sizeof addr);
	ss_client_free(env->client);
	ss_client_init(env->client, id);
	memcpy(env->client->addr, addr, sizeof addr);
	return ss_cmd_replied(ss_resp_simple(out, "RESET"));
}

/* ---- server ---------------------------------------------------------------- */

enum ss_cmd_status ss_redis_dbsize(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return ss_cmd_replied(ss_resp_int(out, (long long)ss_table_count(env->table)));
}

enum ss_cmd_status ss_redis_time(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	char s[24], us[24];

	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	snprintf(s, sizeof s, "%lld", (long long)(env->now_ms / 1000));
	snprintf(us, sizeof us, "%lld", (long long)(env->now_ms % 1000 * 1000));
	size_t before = ss_buf_size(out);
	return ss_redis_finish(out, before,
		      ss_resp_array(out, 2) | ss_resp_bulk_str(out, s) | ss_resp_bulk_str(out, us));
}

enum ss_cmd_status ss_redis_wait(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	long long a, b, t;

	/* WAIT numreplicas timeout; WAITAOF numlocal numreplicas timeout. */
	int aof = req->argc == 4;
	if (tok_ll(&req->argv[1], &a) < 0 || tok_ll(&req->argv[2], &b) < 0 ||
	    (aof && tok_ll(&req->argv[3], &t) < 0))
		return ss_cmd_fail(env, out, NOT_INT);
	if ((aof ? t : b) < 0)
		return ss_cmd_fail(env, out, "ERR timeout is negative");
	/* Held until every earlier reply is out: each was a durable write. */
	if (!env->may_reply)
		return SS_CMD_WAIT;
	/* At once, never blocking: the replicas that hold every write
	 * acknowledged so far. With --sync-replicas N, every acknowledged
	 * write is already durable on N of them (README: Replication). */
	long long n = env->repl && env->repl->holding ? env->repl->holding(env->repl->arg) : 0;
	if (!aof)
		return ss_cmd_replied(ss_resp_int(out, n));
	size_t before = ss_buf_size(out);
	return ss_redis_finish(out, before, ss_resp_array(out, 2) | ss_resp_int(out, 1) | ss_resp_int(out, n));
}

/* ---- CONFIG GET ------------------------------------------------------------- */

enum ss_cmd_status ss_redis_config(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	static const struct ss_cmd_config fixed[] = {
		/* Redis's own, as an alias of nothing: RESP only. */
		{"appendonly", "yes", 1},
		{"appendfsync", "always", 1},
		{"save", "", 1},
		{"databases", "1", 1},
	};
	char word[130];

	/* The settings are read once, at start: nothing changes them live. */
	static const char *const fixed_at_start[] = {"SET", "RESETSTAT", "REWRITE"};
	for (size_t i = 0; i < sizeof fixed_at_start / sizeof fixed_at_start[0]; i++)
		if (ss_token_is(&req->argv[1], fixed_at_start[i]))
			return ss_cmd_fail(env, out,
					   "ERR CONFIG %s is not supported: statestored reads its "
					   "settings once, at start (the command line and --config "
					   "FILE); change them there and restart",
					   fixed_at_start[i]);
	if (!ss_token_is(&req->argv[1], "GET"))
		return ss_cmd_fail(env, out, "ERR unknown subcommand '%s'. Try CONFIG HELP.",
			    ss_cmd_echo_any(&req->argv[1], word, 128));
	if (req->argc < 3)
		return ss_cmd_fail(env, out, "ERR wrong number of arguments for 'config|get' command");
	if (!env->may_reply)
		return SS_CMD_WAIT;
	size_t before = ss_buf_size(out), at, n = 0;
	int rc = 0;
	at = before;
	for (size_t k = 0; k < sizeof fixed / sizeof fixed[0] + env->nconfig && rc == 0; k++) {
		const struct ss_cmd_config *c =
			k < sizeof fixed / sizeof fixed[0] ? &fixed[k]
							   : &env->config[k - sizeof fixed / sizeof fixed[0]];
		for (int i = 2; i < req->argc; i++) {
			const struct ss_token *pat = &req->argv[i];
			if (ss_glob_match(pat->p, pat->n, c->name, strlen(c->name), 1)) {
				/* A name asked for without a pattern is answered as
				 * spelled, as Redis does. */
				rc = (ss_glob_literal_prefix(pat->p, pat->n) == pat->n
					      ? ss_resp_bulk(out, pat->p, pat->n)
					      : ss_resp_bulk_str(out, c->name)) |
				     ss_resp_bulk_str(out, c->value);
				n++;
				break;
			}
		}
	}
	/* The map header goes before its pairs, now that n is known. */
	if (rc == 0)
		rc = env->proto->rows_end(out, at, n, 1);
	return ss_redis_finish(out, before, rc);
}

/* ---- INFO ----------------------------------------------------------------------- */

/* STATS rows captured as "name\0value\0" pairs, to be looked up by name. */
static int cap_row(struct ss_buf *out, const char *name, const char *value)
{
	return ss_buf_append(out, name, strlen(name) + 1) | ss_buf_append(out, value, strlen(value) + 1);
}

static const char *stat(const struct ss_buf *rows, const char *name)
{
	const char *p = ss_buf_head(rows), *end = p + ss_buf_size(rows);

	while (p < end) {
		const char *v = p + strlen(p) + 1;
		if (strcmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return "0";
}

static const char *config_value(const struct ss_cmd_env *env, const char *name)
{
	for (size_t i = 0; i < env->nconfig; i++)
		if (strcmp(env->config[i].name, name) == 0)
			return env->config[i].value;
	return "";
}

/* A Redis field and the STATS row it shows (a row name), or a fixed value
 * (a string starting with '='). */
struct info_field {
	const char *section, *name, *from;
};

static const struct info_field info_fields[] = {
	{"server", "redis_version", "=" REDIS_COMPAT_VERSION},
	{"server", "statestored_version", "=" SS_VERSION},
	{"server", "redis_mode", "=standalone"},
	{"server", "arch_bits", "=64"},
	{"server", "process_id", "pid"},
	{"server", "tcp_port", "@port"},
	{"server", "uptime_in_seconds", "uptime_s"},
	{"clients", "connected_clients", "clients"},
	{"clients", "maxclients", "max_clients"},
	{"clients", "blocked_clients", "=0"},
	{"memory", "used_memory", "table_bytes"},
	{"memory", "maxmemory", "=0"},
	{"memory", "maxmemory_policy", "=noeviction"},
	{"persistence", "loading", "=0"},
	{"persistence", "async_loading", "=0"},
	{"persistence", "rdb_changes_since_last_save", "=0"},
	{"persistence", "rdb_bgsave_in_progress", "=0"},
	{"persistence", "aof_enabled", "=1"},
	{"persistence", "aof_rewrite_in_progress", "compacting"},
	{"persistence", "aof_rewrite_scheduled", "=0"},
	{"persistence", "aof_rewrites", "compactions"},
	{"persistence", "aof_current_size", "log_bytes"},
	{"persistence", "aof_base_size", "log_bytes_compacted"},
	{"stats", "total_connections_received", "connections"},
	{"stats", "rejected_connections", "refused_connections"},
	{"stats", "expired_keys", "expired"},
	{"stats", "evicted_keys", "=0"},
	{"stats", "total_error_replies", "rejected"},
	/* Redis's words first (role master or slave, a replica's master_*
	 * rows: Redis tools read them), then ours (README: Replication); a
	 * row of one role only is left out on the other. */
	{"replication", "role", "role"},
	{"replication", "master_host", "?primary_host"},
	{"replication", "master_port", "?primary_port"},
	{"replication", "master_link_status", "?primary_host"},
	{"replication", "replica_role", "role"},
	{"replication", "epoch", "epoch"},
	{"replication", "fenced", "fenced"},
	{"replication", "durable_revision", "durable_revision"},
	{"replication", "applied_revision", "revision"},
	{"replication", "sync_replicas", "sync_replicas"},
	{"replication", "sync_set", "sync_set"},
	{"replication", "in_sync_set", "?in_sync_set"},
	{"replication", "connected_replicas", "connected_replicas"},
	{"replication", "connected_slaves", "connected_replicas"},
	{"replication", "master_repl_offset", "durable_revision"},
	{"replication", "writes_waiting", "writes_waiting"},
	{"replication", "sync_wait", "?sync_wait"},
	{"replication", "sync_waits", "sync_waits"},
	{"replication", "sync_timeouts", "sync_timeouts"},
	{"replication", "full_syncs", "full_syncs"},
	{"replication", "partial_syncs", "partial_syncs"},
	{"replication", "truncated_records", "truncated_records"},
	{"replication", "primary_host", "?primary_host"},
	{"replication", "primary_port", "?primary_port"},
	{"replication", "primary_link", "?primary_link"},
	{"replication", "primary_epoch", "primary_epoch"},
	{"replication", "primary_commit", "primary_commit"},
	{"replication", "lag_revisions", "lag_revisions"},
	{"replication", "lag_ms", "lag_ms"},
};

/* Whether STATS' rows hold name. */
static int has_stat(const struct ss_buf *rows, const char *name)
{
	const char *p = ss_buf_head(rows), *end = p + ss_buf_size(rows);

	while (p < end) {
		const char *v = p + strlen(p) + 1;
		if (strcmp(p, name) == 0)
			return 1;
		p = v + strlen(v) + 1;
	}
	return 0;
}

static const char *const info_sections[] = {"server",	   "clients",	  "memory", "persistence",
					    "stats",	   "replication", "keyspace", "statestored"};

/* Whether INFO's arguments ask for section sec (none: all of them). */
static int wants(const struct ss_request *req, const char *sec)
{
	if (req->argc == 1)
		return 1;
	for (int i = 1; i < req->argc; i++) {
		const struct ss_token *t = &req->argv[i];
		if ((t->n == strlen(sec) && strncasecmp(t->p, sec, t->n) == 0) ||
		    ss_token_is(t, "ALL") ||
		    ss_token_is(t, "EVERYTHING") || ss_token_is(t, "DEFAULT"))
			return 1;
	}
	return 0;
}

enum ss_cmd_status ss_redis_info(const struct ss_request *req, struct ss_cmd_env *env,
				 struct ss_buf *out)
{
	const struct ss_proto cap = {.name = "info", .row = cap_row};
	struct ss_buf rows, text;
	int rc = 0;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	ss_buf_init(&rows);
	ss_buf_init(&text);
	if (env->stats && env->stats(env->stats_arg, &cap, &rows) < 0)
		rc = -1;
	for (size_t s = 0; s < sizeof info_sections / sizeof info_sections[0] && rc == 0; s++) {
		const char *sec = info_sections[s];
		if (!wants(req, sec))
			continue;
		char title[32];
		snprintf(title, sizeof title, "%s", sec);
		title[0] = (char)(title[0] - 'a' + 'A');
		rc |= ss_buf_printf(&text, "%s# %s\r\n", ss_buf_size(&text) ? "\r\n" : "", title);
		for (size_t f = 0; f < sizeof info_fields / sizeof info_fields[0]; f++) {
			const struct info_field *fi = &info_fields[f];
			if (strcmp(fi->section, sec) != 0)
				continue;
			/* '?': a row only one role has; left out on the other. */
			if (fi->from[0] == '?' && !has_stat(&rows, fi->from + 1))
				continue;
			const char *v = fi->from[0] == '=' ? fi->from + 1 :
					fi->from[0] == '@' ? config_value(env, fi->from + 1) :
					fi->from[0] == '?' ? stat(&rows, fi->from + 1) :
							     stat(&rows, fi->from);
			if (strcmp(fi->name, "role") == 0)
				v = strcmp(v, "replica") == 0 ? "slave" : "master";
			else if (strcmp(fi->name, "master_link_status") == 0)
				v = strcmp(stat(&rows, "primary_link"), "1") == 0 ? "up" : "down";
			rc |= ss_buf_printf(&text, "%s:%s\r\n", fi->name, v);
		}
		if (strcmp(sec, "replication") == 0) {
			/* replica0, replica1, ...: each connected replica. */
			char name[24];
			for (int i = 0; rc == 0; i++) {
				snprintf(name, sizeof name, "replica%d", i);
				if (!has_stat(&rows, name))
					break;
				rc |= ss_buf_printf(&text, "%s:%s\r\n", name, stat(&rows, name));
			}
		}
		if (strcmp(sec, "keyspace") == 0 && strcmp(stat(&rows, "entries"), "0") != 0)
			rc |= ss_buf_printf(&text, "db0:keys=%s\r\n",
					    stat(&rows, "entries"));
		if (strcmp(sec, "statestored") == 0) {
			/* Every STATS row as it is. */
			const char *p = ss_buf_head(&rows), *end = p + ss_buf_size(&rows);
			while (p < end && rc == 0) {
				const char *v = p + strlen(p) + 1;
				rc |= ss_buf_printf(&text, "%s:%s\r\n", p, v);
				p = v + strlen(v) + 1;
			}
		}
	}
	if (rc == 0)
		rc = ss_resp_verbatim(out, ver(env), ss_buf_head(&text), ss_buf_size(&text));
	ss_buf_free(&rows);
	ss_buf_free(&text);
	return ss_cmd_replied(rc);
}

/* ---- COMMAND --------------------------------------------------------------------- */

/* The command at index i of both tables: Redis's own, then the
 * checkpoint ones (those RESP has too). */
static const struct ss_cmd *nth_command(size_t i)
{
	size_t n, nr;
	const struct ss_cmd *t = ss_cmd_table(&n), *r = ss_redis_table(&nr);

	if (i < nr)
		return &r[i];
	i -= nr;
	return i < n ? &t[i] : NULL;
}

static size_t ncommands(void)
{
	size_t n, nr;

	ss_cmd_table(&n);
	ss_redis_table(&nr);
	return nr + n;
}

/* Whether c is a checkpoint table row hidden by a Redis row of its name
 * (PING): listed once. */
static int shadowed(const struct ss_cmd *c)
{
	const struct ss_cmd *r = ss_redis_lookup(&(struct ss_token){c->name, strlen(c->name)});

	return r && r != c;
}

static const char *role_flag(enum ss_cmd_role r)
{
	/* A write that answers a value (RW) is a write to Redis too. */
	return r == SS_CMD_READ    ? "readonly"
	       : r & SS_CMD_WRITE  ? "write"
	       : r == SS_CMD_ADMIN || r == SS_CMD_REPLICATION ? "admin"
	       : r == SS_CMD_OPEN  ? "no-auth"
				   : "fast";
}

static const char *role_acl(enum ss_cmd_role r)
{
	return r == SS_CMD_READ		       ? "@read"
	       : r & SS_CMD_WRITE	       ? "@write"
	       : r == SS_CMD_ADMIN || r == SS_CMD_REPLICATION ? "@admin"
						       : "@connection";
}

/* COMMAND INFO's reply for c: Redis 7's ten fields (RESP3: the flags,
 * categories, tips, key specs and subcommands as sets, as Redis sends). */
static int command_info(struct ss_buf *out, int v, const struct ss_cmd *c)
{
	char lower[40];
	int arity = c->min_args == c->max_args ? c->min_args + 1 : -(c->min_args + 1);

	return ss_resp_array(out, 10) | ss_resp_bulk_str(out, ss_cmd_lower(c->name, lower, sizeof lower)) |
	       ss_resp_int(out, arity) | ss_resp_set(out, v, 1) | ss_resp_simple(out, role_flag(c->role)) |
	       ss_resp_int(out, c->first_key) | ss_resp_int(out, c->last_key) |
	       ss_resp_int(out, c->key_step) | ss_resp_set(out, v, 1) |
	       ss_resp_simple(out, role_acl(c->role)) | ss_resp_set(out, v, 0) | ss_resp_set(out, v, 0) |
	       ss_resp_set(out, v, 0);
}

static int command_doc(struct ss_buf *out, int v, const struct ss_cmd *c)
{
	char lower[40];

	return ss_resp_bulk_str(out, ss_cmd_lower(c->name, lower, sizeof lower)) | ss_resp_map(out, v, 3) |
	       ss_resp_bulk_str(out, "summary") | ss_resp_bulk_str(out, c->summary ? c->summary : "") |
	       ss_resp_bulk_str(out, "since") | ss_resp_bulk_str(out, "0.1.0") |
	       ss_resp_bulk_str(out, "group") |
	       ss_resp_bulk_str(out, c->role == SS_CMD_CONN ? "connection" : c->role == SS_CMD_ADMIN ? "server" : "string");
}

enum ss_cmd_status ss_redis_command(const struct ss_request *req, struct ss_cmd_env *env,
				    struct ss_buf *out)
{
	size_t before = ss_buf_size(out), n = 0, at;
	int rc = 0, v = ver(env);
	char word[130];

	if (req->argc > 1 && !ss_token_is(&req->argv[1], "COUNT") &&
	    !ss_token_is(&req->argv[1], "INFO") && !ss_token_is(&req->argv[1], "DOCS") &&
	    !ss_token_is(&req->argv[1], "LIST"))
		return ss_cmd_fail(env, out, "ERR unknown subcommand '%s'. Try COMMAND HELP.",
			    ss_cmd_echo_any(&req->argv[1], word, 128));
	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (req->argc > 1 && ss_token_is(&req->argv[1], "COUNT")) {
		for (size_t i = 0; i < ncommands(); i++)
			n += !shadowed(nth_command(i));
		return ss_cmd_replied(ss_resp_int(out, (long long)n));
	}
	int docs = req->argc > 1 && ss_token_is(&req->argv[1], "DOCS");
	int list = req->argc > 1 && ss_token_is(&req->argv[1], "LIST");
	at = ss_buf_size(out);
	if (req->argc > 2 && !list) {
		/* COMMAND INFO|DOCS name ...: in the order asked. */
		for (int i = 2; i < req->argc && rc == 0; i++) {
			const struct ss_cmd *c = ss_redis_lookup(&req->argv[i]);
			if (!c)
				c = ss_cmd_lookup(&req->argv[i]);
			if (docs && !c)
				continue;
			rc = !c ? ss_resp_nil(out, v) : docs ? command_doc(out, v, c) : command_info(out, v, c);
			n++;
		}
	} else {
		for (size_t i = 0; i < ncommands() && rc == 0; i++) {
			const struct ss_cmd *c = nth_command(i);
			char lower[40];
			if (shadowed(c))
				continue;
			rc = list ? ss_resp_bulk_str(out, ss_cmd_lower(c->name, lower, sizeof lower))
			     : docs ? command_doc(out, v, c)
				    : command_info(out, v, c);
			n++;
		}
	}
	if (rc == 0)
		rc = docs ? env->proto->rows_end(out, at, n, 1)
			  : ss_buf_insert(out, at, word,
					  (size_t)snprintf(word, sizeof word, "*%zu\r\n", n));
	return ss_redis_finish(out, before, rc);
}
