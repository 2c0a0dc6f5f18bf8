/*
 * options.c - the table of the daemon's options; see options.h.
 *
 * The row kinds: integers in a range (UINT), strings with an optional
 * check (STR), yes/no flags (FLAG), and one of its own (the log level).
 * A string option with its own validator, such as an ADDR:PORT, is a STR
 * row naming that validator and what it wants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/numparse.h"
#include "net/listener.h"
#include "net/tls.h"
#include "server/metrics.h"
#include "server/options.h"
#include "statestored/limits.h"
#include "statestored/table.h"

#define FIELD(f)                                                                                  \
	.offset = offsetof(struct ss_server_config, f),                                           \
	.size = sizeof(((struct ss_server_config *)0)->f)
#define UINT(f, min, max) FIELD(f), .lo = (min), .hi = (max), .parse = parse_uint, .text = text_uint
#define STR(f, check, wants) FIELD(f), .valid = (check), .want = (wants), .parse = parse_str,      \
			     .text = text_str
#define FLAG(f) FIELD(f), .parse = parse_flag, .text = text_flag
/* The longest --timeout and --request-timeout: ten years. A larger
 * number is a typo, and this one still fits the timer's arithmetic. */
#define SS_TIMEOUT_MAX_S 315360000u

static int parse_uint(const struct ss_option *o, const char *s, void *field, char *want,
		      size_t wantlen)
{
	uint64_t v;

	if (ss_parse_urange(s, o->lo, o->hi, &v) < 0) {
		snprintf(want, wantlen, "want an integer from %llu to %llu", (unsigned long long)o->lo,
			 (unsigned long long)o->hi);
		return -1;
	}
	/* The fields are int, unsigned, size_t or uint64_t; the range keeps
	 * an int's value non-negative and in range. */
	if (o->size == sizeof(uint32_t)) {
		uint32_t v32 = (uint32_t)v;
		memcpy(field, &v32, sizeof v32);
	} else {
		memcpy(field, &v, sizeof v);
	}
	return 0;
}

static const char *text_uint(const struct ss_option *o, const void *field, char *buf)
{
	uint64_t v = 0;

	if (o->size == sizeof(uint32_t)) {
		uint32_t v32;
		memcpy(&v32, field, sizeof v32);
		v = v32;
	} else {
		memcpy(&v, field, sizeof v);
	}
	snprintf(buf, SS_OPTION_TEXT_MAX, "%llu", (unsigned long long)v);
	return buf;
}

static int parse_str(const struct ss_option *o, const char *s, void *field, char *want,
		     size_t wantlen)
{
	if (o->valid && !o->valid(s)) {
		snprintf(want, wantlen, "%s", o->want);
		return -1;
	}
	memcpy(field, &s, sizeof s);
	return 0;
}

static const char *text_str(const struct ss_option *o, const void *field, char *buf)
{
	const char *s;

	(void)o;
	(void)buf;
	memcpy(&s, field, sizeof s);
	return s ? s : "";
}

static int parse_flag(const struct ss_option *o, const char *s, void *field, char *want,
		      size_t wantlen)
{
	int v;

	(void)o;
	if (strcmp(s, "yes") == 0) {
		v = 1;
	} else if (strcmp(s, "no") == 0) {
		v = 0;
	} else {
		snprintf(want, wantlen, "want yes or no");
		return -1;
	}
	memcpy(field, &v, sizeof v);
	return 0;
}

static const char *text_flag(const struct ss_option *o, const void *field, char *buf)
{
	int v;

	(void)o;
	(void)buf;
	memcpy(&v, field, sizeof v);
	return v ? "yes" : "no";
}

static int parse_level(const struct ss_option *o, const char *s, void *field, char *want,
		       size_t wantlen)
{
	enum ss_level lvl;
	int v;

	(void)o;
	if (ss_diag_parse_level(s, &lvl) < 0) {
		snprintf(want, wantlen, "want debug, info, warn or error");
		return -1;
	}
	v = (int)lvl;
	memcpy(field, &v, sizeof v);
	return 0;
}

static const char *text_level(const struct ss_option *o, const void *field, char *buf)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	int v;

	(void)o;
	(void)buf;
	memcpy(&v, field, sizeof v);
	return v >= 0 && v < 4 ? names[v] : "?";
}

/* A port: from lo to hi (0 to 65535), or "none" (-1): no listener. Not
 * "0", which already means an ephemeral port, nor "off", which reads as a
 * flag. */
static int parse_port(const struct ss_option *o, const char *s, void *field, char *want,
		      size_t wantlen)
{
	int v = -1;

	if (strcmp(s, "none") != 0) {
		uint64_t u;
		if (ss_parse_urange(s, o->lo, o->hi, &u) < 0) {
			snprintf(want, wantlen, "want a port from %llu to %llu, or none",
				 (unsigned long long)o->lo, (unsigned long long)o->hi);
			return -1;
		}
		v = (int)u;
	}
	memcpy(field, &v, sizeof v);
	return 0;
}

static const char *text_port(const struct ss_option *o, const void *field, char *buf)
{
	int v;

	(void)o;
	memcpy(&v, field, sizeof v);
	if (v < 0)
		return "none";
	snprintf(buf, SS_OPTION_TEXT_MAX, "%d", v);
	return buf;
}

static const char *const tls_auth_names[] = {"no", "optional", "yes"};

static int parse_tls_auth(const struct ss_option *o, const char *s, void *field, char *want,
			  size_t wantlen)
{
	(void)o;
	for (int v = SS_TLS_AUTH_NO; v <= SS_TLS_AUTH_YES; v++)
		if (strcmp(s, tls_auth_names[v]) == 0) {
			memcpy(field, &v, sizeof v);
			return 0;
		}
	snprintf(want, wantlen, "want no, optional or yes");
	return -1;
}

static const char *text_tls_auth(const struct ss_option *o, const void *field, char *buf)
{
	int v;

	(void)o;
	(void)buf;
	memcpy(&v, field, sizeof v);
	return v >= SS_TLS_AUTH_NO && v <= SS_TLS_AUTH_YES ? tls_auth_names[v] : "?";
}

static int nonempty(const char *s) { return s[0] != '\0'; }

/* --metrics: off ("") or an ADDR:PORT. */
static int metrics_addr_ok(const char *s) { return s[0] == '\0' || ss_metrics_addr_ok(s); }

/* --replica-of: off ("") or HOST:PORT (an IPv6 host in brackets). */
static int replica_of_ok(const char *s)
{
	char host[256], port[16];
	return s[0] == '\0' || ss_options_split_hostport(s, host, sizeof host, port, sizeof port) == 0;
}

int ss_options_split_hostport(const char *s, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon = strrchr(s, ':');
	uint64_t v;

	if (!colon || colon == s || ss_parse_urange(colon + 1, 1, 65535, &v) < 0)
		return -1;
	const char *h = s;
	size_t n = (size_t)(colon - s);
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return -1;
		h++;
		n -= 2;
	}
	if (n >= hn || memchr(h, ' ', n))
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, pn, "%llu", (unsigned long long)v);
	return 0;
}

static const struct ss_option options[] = {
	{"port", 'p', "PORT", "7070",
	 "TCP port to listen on (0 = any free port,\n"
	 "none = no plaintext port: TLS only)",
	 NULL, 0, FIELD(port), .lo = 0, .hi = 65535, .parse = parse_port, .text = text_port},
	{"data-dir", 'd', "DIR", "./data", "data directory, created if missing", "dir", 0,
	 STR(data_dir, nonempty, "want a directory path")},
	{"bind", 'b', "ADDR", "127.0.0.1", "numeric address to bind", NULL, 0,
	 STR(bind_addr, ss_listener_address_ok,
	     "want a numeric IPv4 or IPv6 address, such as 127.0.0.1 or ::1")},
	{"max-clients", 0, "N", "10000", "connections served at once", "maxclients", 0,
	 UINT(max_clients, 1, 1000000)},
	{"max-line", 0, "BYTES", "2097152", "longest request line", NULL, 0,
	 UINT(max_line, SS_LINE_MAX_MIN, SS_LINE_MAX_MAX)},
	{"timeout", 0, "SECONDS", "0",
	 "close a client idle this long: no request under way,\n"
	 "nothing owed to it (0 = never)",
	 NULL, 0, UINT(timeout_s, 0, SS_TIMEOUT_MAX_S)}, /* Redis's name too */
	{"request-timeout", 0, "SECONDS", "30",
	 "close a client holding an incomplete request (a partial\n"
	 "line or RESP frame, a TLS handshake) this long (0 = never)",
	 NULL, 0, UINT(request_timeout_s, 0, SS_TIMEOUT_MAX_S)},
	{"prealloc", 0, "BYTES", "1048576", "zero-fill the log ahead in chunks of BYTES (0 = off)",
	 NULL, 0, UINT(prealloc_bytes, 0, 1u << 30)},
	{"auto-compact-min", 0, "BYTES", "67108864",
	 "compact by itself once the log passes BYTES (0 = never)", NULL, 0,
	 UINT(auto_compact_min, 0, INT64_MAX)},
	{"auto-compact-growth", 0, "PERCENT", "200",
	 "... and PERCENT of its size after the last compaction", NULL, 0,
	 UINT(auto_compact_growth, 101, 100000)},
	{"sync-thread", 0, NULL, "no",
	 "run fdatasync on a helper thread whenever several clients wait\n"
	 "(no: only while the disk is slow)",
	 NULL, SS_OPT_FLAG, FLAG(sync_thread)},
	{"history", 0, "N", "4",
	 "earlier versions kept per checkpoint, for HISTORY_CHECKPOINT\n"
	 "and ROLLBACK_CHECKPOINT",
	 NULL, 0, UINT(history, 0, SS_HISTORY_MAX)},
	{"quota-bytes", 0, "BYTES", "0",
	 "refuse SETs while the log is past BYTES; DEL and COMPACT\n"
	 "still work (0 = no quota)",
	 NULL, 0, UINT(quota_bytes, 0, INT64_MAX)},
	{"metrics", 0, "ADDR:PORT", "",
	 "serve /metrics, /healthz and /readyz over HTTP there\n"
	 "(\"\": off)",
	 NULL, 0,
	 STR(metrics, metrics_addr_ok, "want ADDR:PORT, such as 127.0.0.1:9464 or [::1]:9464")},
	{"acl-file", 0, "FILE", "",
	 "users, their password hashes, roles and namespaces;\n"
	 "reloaded on SIGHUP (\"\": none)",
	 NULL, 0, STR(acl_file, NULL, NULL)},
	{"requirepass-file", 0, "FILE", "",
	 "one password (or its hash) for the user 'default',\n"
	 "who may do everything (\"\": none)",
	 NULL, 0, STR(requirepass_file, NULL, NULL)},
	{"insecure-no-auth", 0, NULL, "no",
	 "serve a non-loopback --bind without authentication", NULL, SS_OPT_FLAG,
	 FLAG(insecure_no_auth)},
	{"tls-port", 0, "PORT", "none",
	 "also serve clients over TLS on PORT (0 = any free port)", NULL, 0, FIELD(tls_port),
	 .lo = 0, .hi = 65535, .parse = parse_port, .text = text_port},
	{"tls-cert-file", 0, "FILE", "", "PEM: the server's certificate, then its chain", NULL, 0,
	 STR(tls_cert_file, NULL, NULL)},
	{"tls-key-file", 0, "FILE", "", "PEM: the certificate's private key", NULL, 0,
	 STR(tls_key_file, NULL, NULL)},
	{"tls-ca-cert-file", 0, "FILE", "",
	 "PEM: the CAs client certificates must chain to", NULL, 0,
	 STR(tls_ca_cert_file, NULL, NULL)},
	{"tls-auth-clients", 0, "MODE", "no",
	 "no, optional or yes: whether TLS clients must present\n"
	 "a certificate the CA signed (mutual TLS)",
	 NULL, 0, FIELD(tls_auth_clients), .parse = parse_tls_auth, .text = text_tls_auth},
	{"metrics-tls", 0, NULL, "no", "serve --metrics over HTTPS with the --tls-* files", NULL,
	 SS_OPT_FLAG, FLAG(metrics_tls)},
	{"replica-of", 0, "HOST:PORT", "",
	 "start as a replica of the primary there (\"\": a primary);\n"
	 "REPLICAOF changes it at run time",
	 NULL, 0, STR(replica_of, replica_of_ok, "want HOST:PORT, such as 10.0.0.1:7070")},
	{"primary-auth-file", 0, "FILE", "",
	 "one line 'USER PASSWORD': how a replica authenticates to\n"
	 "its primary (a user with the replication role)",
	 NULL, 0, STR(primary_auth_file, NULL, NULL)},
	{"sync-replicas", 0, "N", "0",
	 "acknowledge a write only once N replicas hold it durably\n"
	 "(0 = asynchronous replication)",
	 NULL, 0, UINT(sync_replicas, 0, 16)},
	{"sync-timeout", 0, "MS", "0",
	 "answer a write still waiting for replicas after MS with an\n"
	 "error saying its outcome is unknown (0 = wait)",
	 NULL, 0, UINT(sync_timeout_ms, 0, SS_TIMEOUT_MAX_S)},
	{"repl-buffer", 0, "BYTES", "16777216",
	 "most bytes read ahead for one replica", NULL, 0,
	 UINT(repl_buffer, 65536, 32u << 20)},
	{"repl-timeout", 0, "SECONDS", "10",
	 "drop a replication link silent this long (0 = never)", NULL, 0,
	 UINT(repl_timeout_s, 0, 3600)},
	{"log-level", 0, "LEVEL", "info", "debug, info, warn or error", NULL, 0, FIELD(log_level),
	 .parse = parse_level, .text = text_level},
	{"config", 0, "FILE", "",
	 "read options from FILE, one 'option value' a line;\n"
	 "the command line overrides it",
	 NULL, SS_OPT_CMDLINE_ONLY, STR(config_file, NULL, NULL)},
};

int ss_options_check(const struct ss_server_config *cfg, char *why, size_t n)
{
	int tls = cfg->tls_port >= 0 || cfg->metrics_tls;

	if (cfg->port < 0 && cfg->tls_port < 0)
		snprintf(why, n, "--port none needs --tls-port: there would be nothing to listen on");
	else if (cfg->port > 0 && cfg->tls_port == cfg->port)
		snprintf(why, n, "--tls-port and --port are both %d: they need a port each", cfg->port);
	else if (cfg->metrics_tls && !cfg->metrics[0])
		snprintf(why, n, "--metrics-tls needs --metrics ADDR:PORT");
	else if (tls && (!cfg->tls_cert_file[0] || !cfg->tls_key_file[0]))
		snprintf(why, n, "%s needs --tls-cert-file and --tls-key-file",
			 cfg->tls_port >= 0 ? "--tls-port" : "--metrics-tls");
	else if (tls && cfg->tls_auth_clients != SS_TLS_AUTH_NO && !cfg->tls_ca_cert_file[0])
		snprintf(why, n, "--tls-auth-clients %s needs --tls-ca-cert-file: the CA that "
				 "client certificates must chain to",
			 tls_auth_names[cfg->tls_auth_clients]);
	else if (cfg->sync_timeout_ms > 0 && cfg->sync_replicas == 0)
		snprintf(why, n, "--sync-timeout needs --sync-replicas: only then does a write wait");
	else
		return 0;
	return -1;
}

const struct ss_option *ss_options(size_t *n)
{
	*n = sizeof options / sizeof options[0];
	return options;
}

const struct ss_option *ss_option_find(const char *name)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

int ss_option_set(const struct ss_option *o, struct ss_server_config *cfg, const char *s,
		  char *want, size_t wantlen)
{
	return o->parse(o, s, (char *)cfg + o->offset, want, wantlen);
}

const char *ss_option_text(const struct ss_option *o, const struct ss_server_config *cfg,
			   char *buf)
{
	return o->text(o, (const char *)cfg + o->offset, buf);
}

int ss_options_defaults(struct ss_server_config *cfg)
{
	char want[128];

	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (ss_option_set(&options[i], cfg, options[i].def, want, sizeof want) < 0)
			return -1;
	return 0;
}

int ss_options_view_init(struct ss_options_view *v, const struct ss_server_config *cfg)
{
	size_t n = sizeof options / sizeof options[0];

	memset(v, 0, sizeof *v);
	v->cfg = *cfg;
	v->rows = calloc(2 * n, sizeof *v->rows);
	v->text = calloc(n, sizeof *v->text);
	if (!v->rows || !v->text) {
		ss_options_view_free(v);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *t = ss_option_text(&options[i], &v->cfg, v->text[i]);
		v->rows[v->n++] = (struct ss_cmd_config){options[i].name, t, 0};
		if (options[i].redis)
			v->rows[v->n++] = (struct ss_cmd_config){options[i].redis, t, 1};
	}
	return 0;
}

void ss_options_view_free(struct ss_options_view *v)
{
	free(v->rows);
	free(v->text);
	memset(v, 0, sizeof *v);
}

/* The help column starts here, as in GNU tools' --help. */
#define HELP_COL 25

void ss_options_usage(FILE *out)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
		const struct ss_option *o = &options[i];
		char head[64], range[64] = "";

		int n;

		if (o->short_flag)
			n = snprintf(head, sizeof head, "  -%c, --%s", o->short_flag, o->name);
		else
			n = snprintf(head, sizeof head, "      --%s", o->name);
		if (o->arg)
			n += snprintf(head + n, sizeof head - (size_t)n, " %s", o->arg);
		/* A head too long for its column gets a line of its own. */
		if (n + 2 > HELP_COL)
			fprintf(out, "%s\n%*s", head, HELP_COL, "");
		else
			fprintf(out, "%-*s", HELP_COL, head);
		size_t last = 0; /* the length of the help's last line */
		for (const char *p = o->help; *p;) {
			const char *nl = strchr(p, '\n');
			last = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(out, "%.*s", (int)last, p);
			if (!nl)
				break;
			fprintf(out, "\n%*s", HELP_COL, "");
			p = nl + 1;
		}
		char tail[128];
		if ((o->parse == parse_uint || o->parse == parse_port) && o->hi != INT64_MAX)
			snprintf(range, sizeof range, ", %llu..%llu", (unsigned long long)o->lo,
				 (unsigned long long)o->hi);
		if (o->flags & SS_OPT_FLAG)
			snprintf(tail, sizeof tail, "(default %s; a config file says %s yes|no)", o->def,
				 o->name);
		else if (o->def[0])
			snprintf(tail, sizeof tail, "(default %s%s)", o->def, range);
		else
			tail[0] = '\0';
		/* The default on the same line if it fits in 80 columns. */
		if (!tail[0])
			fprintf(out, "\n");
		else if (HELP_COL + last + 1 + strlen(tail) < 80)
			fprintf(out, " %s\n", tail);
		else
			fprintf(out, "\n%*s%s\n", HELP_COL, "", tail);
	}
}
