/*
 * bench_opts.c - statestore-bench's command line and its report formats.
 *
 * The parser is hand-written rather than getopt_long so that it keeps no
 * state between calls (getopt's optind is a global) and the tests can run it
 * many times.
 */
#include "common/numparse.h"
#include "tools/bench/bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	return s ? ss_parse_urange(s, lo, hi, out) : -1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	return s ? ss_parse_drange(s, lo, hi, out) : -1;
}

static void defaults(struct ss_bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->conns = 50;
	o->set_ratio = 1.0;
	o->keys = 100000;
	o->value_size = 10;
	o->duration = 5.0;
	o->pipeline = 1;
	o->format = SS_BENCH_TEXT;
}

/* --cas, --own-keys and --mset replace the timed run's SETs; each is its
 * own workload. */
static int check_write_modes(struct ss_bench_opts *o, int saw_k, char *err, size_t errlen)
{
	const char *m = o->cas ? "--cas" : o->own_keys ? "--own-keys" : o->mset ? "--mset" : NULL;
	if (!m)
		return 0;
	if (o->own_keys && o->mset) {
		set_err(err, errlen, "--mset and %s are separate workloads", m);
		return -1;
	}
	if (o->sequential || o->load_keys || o->check || o->probe || o->set_ratio < 1.0) {
		set_err(err, errlen, "%s writes only: no --sequential, --load-keys, --check-seq, "
			"--probe or --set-ratio below 1", m);
		return -1;
	}
	if (o->cas && o->redis) {
		set_err(err, errlen, "--cas needs statestored: Redis has no CAS_CHECKPOINT");
		return -1;
	}
	if (o->mset && o->ttl) {
		set_err(err, errlen, "--mset takes no --ttl: a multi-commit carries none");
		return -1;
	}
	if (o->own_keys) {
		/* One pipeline per request slot: a connection's CAS on a pipeline
		 * waits for the reply to its previous one. */
		uint64_t owned = (uint64_t)o->conns * o->pipeline;
		if (saw_k && o->keys != owned) {
			set_err(err, errlen, "%s uses keys 0..connections x depth - 1 (%llu); -k "
				"disagrees", m, (unsigned long long)owned);
			return -1;
		}
		o->keys = owned;
	}
	if (o->mset && o->mset > o->keys) {
		set_err(err, errlen, "--mset %u needs at least that many keys (-k)", o->mset);
		return -1;
	}
	return 0;
}

int ss_bench_parse_args(int argc, char **argv, struct ss_bench_opts *o, char *err, size_t errlen)
{
	uint64_t u = 0;
	int saw_c = 0, saw_p = 0, saw_ratio = 0, saw_k = 0, saw_d = 0;
	defaults(o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1; /* consumes v */
		int bad = 0;
		if (!strcmp(a, "--help")) {
			return 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--host")) {
			bad = !v || !*v;
			o->host = v;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--port")) {
			bad = parse_u64(v, 1, 65535, &u) != 0;
			o->port = v;
		} else if (!strcmp(a, "-c")) {
			bad = parse_u64(v, 1, SS_BENCH_CONNS_MAX, &u) != 0;
			o->conns = (unsigned)u;
			saw_c = 1;
		} else if (!strcmp(a, "--set-ratio")) {
			bad = parse_double(v, 0.0, 1.0, &o->set_ratio) != 0;
			saw_ratio = 1;
		} else if (!strcmp(a, "-k")) {
			bad = parse_u64(v, 1, SS_BENCH_KEYS_MAX, &o->keys) != 0;
			saw_k = 1;
		} else if (!strcmp(a, "-v")) {
			bad = parse_u64(v, 1, SS_BENCH_VALUE_MAX, &u) != 0;
			o->value_size = (size_t)u;
		} else if (!strcmp(a, "-d")) {
			bad = parse_double(v, 0.001, 1e6, &o->duration) != 0;
			saw_d = 1;
		} else if (!strcmp(a, "-n")) {
			bad = parse_u64(v, 1, UINT64_MAX / 2, &o->requests) != 0;
		} else if (!strcmp(a, "-P")) {
			bad = parse_u64(v, 1, SS_BENCH_PIPELINE_MAX, &u) != 0;
			o->pipeline = (unsigned)u;
			saw_p = 1;
		} else if (!strcmp(a, "--warmup")) {
			bad = parse_double(v, 0.0, 1e6, &o->warmup) != 0;
		} else if (!strcmp(a, "--ttl")) {
			bad = parse_u64(v, 1, 315360000, &u) != 0;
			o->ttl = (unsigned)u;
		} else if (!strcmp(a, "--load-keys")) {
			bad = parse_u64(v, 1, SS_BENCH_KEYS_MAX, &o->load_keys) != 0;
		} else if (!strcmp(a, "--seq-base")) {
			bad = parse_u64(v, 0, UINT64_MAX / 4, &o->seq_base) != 0;
		} else if (!strcmp(a, "--mset")) {
			bad = parse_u64(v, 1, SS_BENCH_MSET_MAX, &u) != 0;
			o->mset = (unsigned)u;
		} else if (!strcmp(a, "--wait")) {
			bad = parse_u64(v, 1, SS_BENCH_WAIT_MAX, &u) != 0;
			o->wait = (unsigned)u;
		} else if (!strcmp(a, "--check-seq")) {
			bad = parse_u64(v, 0, UINT64_MAX / 2, &o->check_seq) != 0;
			o->check = 1;
		} else {
			takes = 0;
			if (!strcmp(a, "--redis"))
				o->redis = 1;
			else if (!strcmp(a, "--prefill"))
				o->prefill = 1;
			else if (!strcmp(a, "--sequential"))
				o->sequential = 1;
			else if (!strcmp(a, "--probe"))
				o->probe = 1;
			else if (!strcmp(a, "--cas"))
				o->cas = o->own_keys = 1;
			else if (!strcmp(a, "--own-keys"))
				o->own_keys = 1;
			else if (!strcmp(a, "--csv"))
				o->format = SS_BENCH_CSV;
			else if (!strcmp(a, "--json"))
				o->format = SS_BENCH_JSON;
			else {
				set_err(err, errlen, "unknown option '%s'", a);
				return -1;
			}
		}
		if (bad) {
			set_err(err, errlen, "bad or missing value for '%s'", a);
			return -1;
		}
		i += takes;
	}
	if (!o->port)
		o->port = o->redis ? "6379" : "7070";
	if (o->load_keys && o->check) {
		set_err(err, errlen, "--load-keys and --check-seq are separate runs");
		return -1;
	}
	if (o->load_keys) {
		if (saw_k && o->keys != o->load_keys) {
			set_err(err, errlen, "--load-keys sets the key space; -k disagrees");
			return -1;
		}
		o->keys = o->load_keys;
	}
	if (o->probe) {
		/* One client asking back to back: every gap between its replies
		 * is time the server spent not answering. */
		if (!saw_c)
			o->conns = 1;
		if (!saw_p)
			o->pipeline = 1;
		if (!saw_ratio)
			o->set_ratio = 0.0;
	}
	if (o->seq_base && !o->sequential) {
		set_err(err, errlen, "--seq-base needs --sequential");
		return -1;
	}
	if (o->requests && saw_d) {
		set_err(err, errlen, "give -d or -n, not both");
		return -1;
	}
	if (o->wait) {
		/* The WAIT follows a write: only the timed run of SETs has one
		 * after every request. */
		if (!o->redis) {
			set_err(err, errlen, "--wait needs --redis: statestored's own "
				"acknowledgement already waits for its sync replicas");
			return -1;
		}
		if (o->mset || o->load_keys || o->check || o->probe || o->prefill ||
		    o->set_ratio < 1.0) {
			set_err(err, errlen, "--wait follows SETs only: no --mset, --load-keys, "
				"--check-seq, --probe, --prefill or --set-ratio below 1");
			return -1;
		}
	}
	return check_write_modes(o, saw_k, err, errlen);
}

int ss_bench_format_result(const struct ss_bench_result *r, enum ss_bench_format f, char *buf,
			   size_t len)
{
	double ops = r->seconds > 0 ? (double)r->requests / r->seconds : 0.0;
	double us = 1e-3;
	/* One argument list for the three layouts: each format names the same
	 * fields in the same order. The formats stay literals (in a ?:) so the
	 * compiler still checks them against the arguments. */
	return snprintf(
		buf, len,
		f == SS_BENCH_CSV
			? "%s,%llu,%.3f,%.0f,%.1f,%.1f,%.1f,%.1f,%.1f,%llu,%llu,%llu,%.1f,%llu\n"
		: f == SS_BENCH_JSON
			? "{\"mode\":\"%s\",\"requests\":%llu,\"seconds\":%.3f,"
			  "\"ops_per_sec\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
			  "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,\"errors\":%llu,"
			  "\"misses\":%llu,\"lost\":%llu,\"max_gap_us\":%.1f,\"next_seq\":%llu}\n"
			: "%s: %llu requests in %.3f s = %.0f ops/s\n"
			  "latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n"
			  "errors %llu  misses %llu  lost %llu  longest reply gap %.1f us  "
			  "next_seq %llu\n",
		r->mode, (unsigned long long)r->requests, r->seconds, ops, (double)r->p50_ns * us,
		(double)r->p99_ns * us, (double)r->p999_ns * us, (double)r->max_ns * us,
		r->mean_ns * us, (unsigned long long)r->errors, (unsigned long long)r->misses,
		(unsigned long long)r->lost, (double)r->max_gap_ns * us,
		(unsigned long long)r->next_seq);
}
