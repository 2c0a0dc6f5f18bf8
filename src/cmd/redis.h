/*
 * redis.h - what the files of Redis's commands share; internal to cmd.
 * redis.c holds the keyspace commands and the command table, redis_conn.c
 * the connection and server commands.
 */
#ifndef STATESTORED_CMD_REDIS_H
#define STATESTORED_CMD_REDIS_H

#include "cmd/cmd.h"

/* The version HELLO and INFO claim: the Redis whose commands and replies
 * these follow. */
#define REDIS_COMPAT_VERSION "7.2.0"

#define NOT_INT "ERR value is not an integer or out of range"
#define SYNTAX "ERR syntax error"

/* The RESP version of the connection's replies: 2 or 3. */
static inline int ver(const struct ss_cmd_env *env) { return env->proto->resp; }

/* A reply built from several appends, rc their ORed results: on a failure
 * everything after before goes, so no partial reply is ever sent. */
enum ss_cmd_status ss_redis_finish(struct ss_buf *out, size_t before, int rc);

/* Redis's integers: an optional '-', then digits without a leading zero
 * (but "0"), within a long long. Returns 0 or -1. */
int ss_redis_parse_ll(const char *p, size_t n, long long *out);

static inline int tok_ll(const struct ss_token *t, long long *out)
{
	return ss_redis_parse_ll(t->p, t->n, out);
}

/* The handlers of redis_conn.c, for the table in redis.c. */
enum ss_cmd_status ss_redis_ping(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_echo(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_hello(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_select(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_client(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_reset(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_dbsize(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_time(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_wait(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_config(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_info(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);
enum ss_cmd_status ss_redis_command(const struct ss_request *req, struct ss_cmd_env *env,
				     struct ss_buf *out);

#endif
