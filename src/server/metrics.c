/*
 * metrics.c - /metrics, /healthz and /readyz; see metrics.h.
 *
 * In order: counting commands (the observe callback and the commit hook),
 * the exposition writer (the Prometheus text format 0.0.4), the HTTP
 * handler, and setup.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmdutil.h"
#include "common/numparse.h"
#include "server/metrics.h"

#define PREFIX "statestored_"
#define CT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
#define UNTRACKED UINT16_MAX

enum { RES_OK, RES_ERROR, RES_CONFLICT };
static const char *const results[] = {"ok", "error", "conflict"};

/* ---- counting commands ---------------------------------------------- */

/* A request's command: its row in the text table; or, over RESP, its row
 * in RESP's table after that, or else the text table's row again in a
 * third block (RESP falls back to the text commands: COMPACT, BACKUP,
 * SET_CHECKPOINT...); or one of the two "unknown" slots at the end. */
static size_t command_id(const struct ss_metrics *m, const struct ss_session *s,
			 const struct ss_request *req)
{
	size_t ntext, nresp;
	const struct ss_cmd *text = ss_cmd_table(&ntext), *resp = ss_redis_table(&nresp);
	int is_resp = s->proto && s->proto->resp;

	if (req && req->argc > 0) {
		const struct ss_cmd *c = is_resp ? ss_redis_lookup(&req->argv[0])
						 : ss_cmd_lookup(&req->argv[0]);
		if (c && !is_resp && c >= text && c < text + ntext)
			return (size_t)(c - text);
		if (c && is_resp && c >= resp && c < resp + nresp)
			return ntext + (size_t)(c - resp);
		if (!c && is_resp && (c = ss_cmd_lookup(&req->argv[0])) != NULL && c >= text &&
		    c < text + ntext)
			return ntext + nresp + (size_t)(c - text);
	}
	return m->ncmds - 2 + (size_t)is_resp;
}

/* Whether the reply at out[at..] is an error in the session's protocol. */
static int replied_error(const struct ss_session *s, size_t at)
{
	const char *p = ss_buf_head(&s->out) + at;
	size_t n = ss_buf_size(&s->out) - at;

	if (n == 0)
		return 0;
	if (s->proto && s->proto->resp)
		return p[0] == '-' || p[0] == '!';
	const char *nl = memchr(p, '\n', n);
	return ss_text_is_error(p, nl ? (size_t)(nl - p) : n);
}

static struct ss_metrics_track *track_of(struct ss_metrics *m, const struct ss_batch *b)
{
	for (int i = 0; i < 2; i++)
		if (m->track[i].b == b)
			return &m->track[i];
	for (int i = 0; i < 2; i++)
		if (!m->track[i].b) {
			m->track[i].b = b;
			return &m->track[i];
		}
	return NULL; /* the cycle has two batches: not reached */
}

/* Notes ops [from, to) of the open batch as command id, arrived now. An op
 * that cannot be noted (out of memory) is not counted. */
static void track_ops(struct ss_metrics *m, size_t id, size_t from, size_t to)
{
	struct ss_metrics_track *t = track_of(m, ss_commit_open(m->commit));

	if (!t)
		return;
	if (to > t->cap) {
		size_t cap = t->cap ? t->cap : 64;
		while (cap < to)
			cap *= 2;
		uint16_t *cmd = realloc(t->cmd, cap * sizeof(*cmd));
		if (cmd)
			t->cmd = cmd;
		double *tm = cmd ? realloc(t->t, cap * sizeof(*tm)) : NULL;
		if (tm)
			t->t = tm;
		if (!cmd || !tm)
			return;
		t->cap = cap;
	}
	for (size_t i = t->n; i < from; i++)
		t->cmd[i] = UNTRACKED; /* staged unseen: not counted */
	for (size_t i = from; i < to; i++) {
		t->cmd[i] = (uint16_t)id;
		t->t[i] = ev_now(m->loop);
	}
	t->n = to;
}

void ss_metrics_observe(void *arg, const struct ss_session *s, const struct ss_request *req,
			enum ss_cmd_status st, size_t out_before, size_t nops_before)
{
	struct ss_metrics *m = arg;

	if (!req)
		return; /* a request that could not be parsed is no command */
	size_t id = command_id(m, s, req);
	switch (st) {
	case SS_CMD_STAGED:
		track_ops(m, id, nops_before, ss_commit_open(m->commit)->nops);
		break;
	case SS_CMD_REPLIED:
	case SS_CMD_QUIT:
		m->counts[id][replied_error(s, out_before) ? RES_ERROR : RES_OK]++;
		break;
	case SS_CMD_COMPACT:
	case SS_CMD_BACKUP:
		break; /* counted when answered: ss_metrics_answered */
	case SS_CMD_NOMEM:
		m->counts[id][RES_ERROR]++;
		break;
	default:
		break; /* WAIT, FULL: it runs again, and counts then */
	}
}

void ss_metrics_answered(void *arg, const struct ss_session *s, const char *cmd, int failed)
{
	struct ss_metrics *m = arg;
	struct ss_token t = {cmd, strlen(cmd)};
	struct ss_request req = {.argc = 1, .argv = &t};

	m->counts[command_id(m, s, &req)][failed ? RES_ERROR : RES_OK]++;
}

/* The commit hook: each staged command's result and latency. */
static void batch_done(void *arg, struct ss_batch *b, int written, int errnum, uint64_t seq)
{
	struct ss_metrics *m = arg;
	struct ss_metrics_track *t = track_of(m, b);
	double now = ev_time();
	(void)errnum;
	(void)seq;

	if (!t)
		return;
	for (size_t i = 0; i < b->nops && i < t->n; i++) {
		const struct ss_op *op = &b->ops[i];
		if (!op->reply || t->cmd[i] == UNTRACKED)
			continue;
		int res = !written ? RES_ERROR
			  : op->reply == SS_REPLY_CONFLICT || op->reply == SS_REPLY_CONFLICT_AT
			      ? RES_CONFLICT
			  : op->reply == SS_REPLY_NO_REV ? RES_ERROR
							 : RES_OK;
		m->counts[t->cmd[i]][res]++;
		if (written) {
			double us = (now - t->t[i]) * 1e6;
			ss_stat_hist_observe(&m->latency, us > 0 && us < 1e12 ? (uint64_t)us : 0);
		}
	}
	t->n = 0;
}

/* ---- the exposition ------------------------------------------------- */

/* Appends v * scale in decimal, exactly when scale is a power of ten at
 * most 1 (the table's factors), with no trailing zeros after the point. */
static int put_scaled(struct ss_buf *out, unsigned long long v, double scale)
{
	int digits = scale >= 1 ? 0 : (int)lround(-log10(scale));
	unsigned long long div = 1;

	if (digits == 0 || digits > 18)
		return ss_buf_printf(out, "%llu", v);
	for (int i = 0; i < digits; i++)
		div *= 10;
	char frac[24];
	int n = snprintf(frac, sizeof(frac), "%0*llu", digits, v % div);
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	return n > 0 ? ss_buf_printf(out, "%llu.%s", v / div, frac)
		     : ss_buf_printf(out, "%llu", v / div);
}

/* The escape of c in HELP text (quote 0: a backslash and a newline) or
 * in a label value (quote 1: a double quote too); NULL if it has none. */
static const char *escape(char c, int quote)
{
	switch (c) {
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '"':
		return quote ? "\\\"" : NULL;
	default:
		return NULL;
	}
}

static int put_escaped(struct ss_buf *out, const char *v, int quote)
{
	for (const char *p = v; *p; p++) {
		const char *esc = escape(*p, quote);
		if (esc ? ss_buf_puts(out, esc) < 0 : ss_buf_append(out, p, 1) < 0)
			return -1;
	}
	return 0;
}

static int put_help(struct ss_buf *out, const char *name, const char *suffix, const char *help,
		    double scale)
{
	if (ss_buf_printf(out, "# HELP " PREFIX "%s%s ", name, suffix) < 0 ||
	    put_escaped(out, help, 0) < 0)
		return -1;
	if (scale != 1 && ss_buf_puts(out, " (exported in seconds)") < 0)
		return -1;
	return ss_buf_puts(out, "\n");
}

static int put_label(struct ss_buf *out, const char *v) { return put_escaped(out, v, 1); }

static int put_histogram(struct ss_buf *out, const struct ss_stat *row)
{
	const struct ss_stat_hist *h = row->hist;
	uint64_t cum = 0;

	for (int k = 0; k < h->n; k++) {
		cum += h->buckets[k];
		if (ss_buf_printf(out, PREFIX "%s_bucket{le=\"", row->prom) < 0 ||
		    put_scaled(out, h->base << k, row->scale) < 0 ||
		    ss_buf_printf(out, "\"} %llu\n", (unsigned long long)cum) < 0)
			return -1;
	}
	if (ss_buf_printf(out, PREFIX "%s_bucket{le=\"+Inf\"} %llu\n" PREFIX "%s_sum ", row->prom,
			  (unsigned long long)h->count, row->prom) < 0 ||
	    put_scaled(out, h->sum, row->scale) < 0 ||
	    ss_buf_printf(out, "\n" PREFIX "%s_count %llu\n", row->prom,
			  (unsigned long long)h->count) < 0)
		return -1;
	return 0;
}

static int write_row(void *arg, const struct ss_stat *row)
{
	struct ss_buf *out = arg;

	if (!row->prom)
		return 0;
	switch (row->kind) {
	case SS_STAT_TEXT: /* the version: an info gauge */
		if (put_help(out, row->prom, "", row->help, 1) < 0 ||
		    ss_buf_printf(out, "# TYPE " PREFIX "%s gauge\n" PREFIX "%s{version=\"",
				  row->prom, row->prom) < 0 ||
		    put_label(out, row->text) < 0 || ss_buf_puts(out, "\"} 1\n") < 0)
			return -1;
		return 0;
	case SS_STAT_COUNTER:
		if (put_help(out, row->prom, "_total", row->help, row->scale) < 0 ||
		    ss_buf_printf(out, "# TYPE " PREFIX "%s_total counter\n" PREFIX "%s_total ",
				  row->prom, row->prom) < 0)
			return -1;
		break;
	case SS_STAT_GAUGE:
		if (put_help(out, row->prom, "", row->help, row->scale) < 0 ||
		    ss_buf_printf(out, "# TYPE " PREFIX "%s gauge\n" PREFIX "%s ", row->prom,
				  row->prom) < 0)
			return -1;
		break;
	case SS_STAT_HISTOGRAM:
		if (put_help(out, row->prom, "", row->help, row->scale) < 0 ||
		    ss_buf_printf(out, "# TYPE " PREFIX "%s histogram\n", row->prom) < 0)
			return -1;
		return put_histogram(out, row);
	}
	if (put_scaled(out, row->value, row->scale) < 0)
		return -1;
	return ss_buf_puts(out, "\n");
}

/* statestored_commands_total{protocol, command, result}: the series that
 * are not 0. */
static int write_commands(const struct ss_metrics *m, struct ss_buf *out)
{
	size_t ntext, nresp;
	const struct ss_cmd *text = ss_cmd_table(&ntext), *resp = ss_redis_table(&nresp);

	if (ss_buf_puts(out, "# HELP " PREFIX "commands_total requests executed, by protocol, "
			     "command and result (ok, error, conflict)\n"
			     "# TYPE " PREFIX "commands_total counter\n") < 0)
		return -1;
	for (size_t id = 0; id < m->ncmds; id++) {
		int is_resp = id >= ntext && id != m->ncmds - 2;
		const char *name = id < ntext		      ? text[id].name
				   : id < ntext + nresp	      ? resp[id - ntext].name
				   : id < 2 * ntext + nresp ? text[id - ntext - nresp].name
							      : "unknown";
		for (int r = 0; r < 3; r++) {
			if (m->counts[id][r] == 0)
				continue;
			if (ss_buf_printf(out, PREFIX "commands_total{protocol=\"%s\",command=\"",
					  is_resp ? "resp" : "text") < 0 ||
			    put_label(out, name) < 0 ||
			    ss_buf_printf(out, "\",result=\"%s\"} %llu\n", results[r],
					  (unsigned long long)m->counts[id][r]) < 0)
				return -1;
		}
	}
	return 0;
}

int ss_metrics_write(const struct ss_metrics *m, const struct ss_stats_sources *src,
		     struct ss_buf *out)
{
	if (ss_stats_each(src, write_row, out) < 0)
		return -1;
	return write_commands(m, out);
}

/* ---- the endpoints -------------------------------------------------- */

static int path_is(const char *path, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(path, want, len) == 0;
}

int ss_metrics_handle(void *arg, const char *path, size_t len, struct ss_http_reply *r)
{
	struct ss_metrics *m = arg;

	if (path_is(path, len, "/metrics")) {
		struct ss_stats_sources src;
		m->ops.sources(m->ops.arg, &src);
		src.commit_latency = &m->latency;
		r->type = CT_PROMETHEUS;
		return ss_metrics_write(m, &src, r->body);
	}
	if (path_is(path, len, "/healthz"))
		return ss_buf_puts(r->body, "ok\n");
	if (path_is(path, len, "/readyz")) {
		const char *why = m->ops.unready(m->ops.arg);
		if (!why)
			return ss_buf_puts(r->body, "ready\n");
		r->status = 503;
		return ss_buf_printf(r->body, "not ready: %s\n", why);
	}
	r->status = 404;
	return ss_buf_puts(r->body,
			   "404 not found: the paths are /metrics, /healthz and /readyz\n");
}

/* ---- setup ---------------------------------------------------------- */

int ss_metrics_parse_addr(const char *s, char *addr, size_t addrsz, int *port)
{
	const char *colon = strrchr(s, ':');
	uint64_t v;

	if (!colon || colon == s)
		return -1;
	const char *a = s;
	size_t alen = (size_t)(colon - s);
	if (a[0] == '[') { /* [v6]:port */
		if (alen < 3 || a[alen - 1] != ']')
			return -1;
		a++;
		alen -= 2;
	}
	if (alen >= addrsz || ss_parse_urange(colon + 1, 0, 65535, &v) < 0)
		return -1;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (!ss_listener_address_ok(addr))
		return -1;
	*port = (int)v;
	return 0;
}

int ss_metrics_addr_ok(const char *s)
{
	char addr[64];
	int port;

	return ss_metrics_parse_addr(s, addr, sizeof(addr), &port) == 0;
}

int ss_metrics_init(struct ss_metrics *m, struct ss_commit *commit,
		    const struct ss_metrics_ops *ops)
{
	size_t ntext, nresp;

	memset(m, 0, sizeof(*m));
	m->http.listener.fd = m->http.listener.spare_fd = -1;
	m->commit = commit;
	m->ops = *ops;
	ss_cmd_table(&ntext);
	ss_redis_table(&nresp);
	m->ntext = ntext;
	m->ncmds = 2 * ntext + nresp + 2;
	m->counts = calloc(m->ncmds, sizeof(*m->counts));
	if (!m->counts)
		return -1;
	ss_stat_hist_latency(&m->latency);
	m->hook = (struct ss_commit_hook){.done = batch_done, .arg = m};
	return 0;
}

int ss_metrics_bind(struct ss_metrics *m, const char *addr, int port,
		    const struct ss_diag *diag)
{
	return ss_http_bind(&m->http, addr, port, diag);
}

int ss_metrics_start(struct ss_metrics *m, struct ev_loop *loop)
{
	m->loop = loop;
	if (ss_http_start(&m->http, loop, ss_metrics_handle, m) < 0)
		return -1;
	m->listening = 1;
	return 0;
}

void ss_metrics_free(struct ss_metrics *m)
{
	ss_http_close(&m->http);
	for (int i = 0; i < 2; i++) {
		free(m->track[i].cmd);
		free(m->track[i].t);
	}
	free(m->counts);
}
