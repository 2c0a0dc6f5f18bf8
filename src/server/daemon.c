/*
 * daemon.c - the statestored command line: parses the options, sets up the
 * daemon's log and hands over to the server. main() is in src/bin.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "net/listener.h"
#include "server/daemon.h"
#include "server/metrics.h"
#include "statestored/limits.h"
#include "statestored/table.h"
#include "common/numparse.h"
#include "server/server.h"
#include "common/stdfds.h"

#define SS_PREALLOC_DEFAULT (1u * 1024 * 1024)
#define SS_AUTO_COMPACT_MIN_DEFAULT (64u * 1024 * 1024)
#define SS_AUTO_COMPACT_GROWTH_DEFAULT 200

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s [options]\n"
		"A durable checkpoint store for data pipelines.\n"
		"\n"
		"  -p, --port PORT        TCP port to listen on (default 7070; 0 = any free port)\n"
		"  -d, --data-dir DIR     data directory, created if missing (default ./data)\n"
		"  -b, --bind ADDR        numeric address to bind (default 127.0.0.1)\n"
		"      --max-clients N    connections served at once (default 10000)\n"
		"      --max-line BYTES   longest request line (default %d, %d..%d)\n"
		"      --prealloc BYTES   zero-fill the log ahead in chunks of BYTES (default %u, 0 = off)\n"
		"      --auto-compact-min BYTES\n"
		"                         compact by itself once the log passes BYTES (default %u, 0 = never)\n"
		"      --auto-compact-growth PERCENT\n"
		"                         ... and PERCENT of its size after the last compaction (default %u)\n"
		"      --sync-thread      run fdatasync on a helper thread whenever several clients wait\n"
		"                         (default: only while the disk is slow)\n"
		"      --history N        earlier versions kept per checkpoint, for HISTORY_CHECKPOINT\n"
		"                         and ROLLBACK_CHECKPOINT (default %u, 0..%u)\n"
		"      --quota-bytes BYTES\n"
		"                         refuse SETs while the log is past BYTES; DEL and COMPACT\n"
		"                         still work (default 0 = no quota)\n"
		"      --metrics ADDR:PORT\n"
		"                         serve /metrics, /healthz and /readyz over HTTP (default off)\n"
		"      --log-level LEVEL  debug, info, warn or error (default info)\n"
		"  -h, --help             print this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit codes: 0 clean shutdown, 1 other error, 2 bad options, 3 data dir locked,\n"
		"            4 corrupt log, 5 fdatasync failed.\n",
		prog, SS_LINE_MAX_DEFAULT, SS_LINE_MAX_MIN, SS_LINE_MAX_MAX, SS_PREALLOC_DEFAULT,
		SS_AUTO_COMPACT_MIN_DEFAULT, SS_AUTO_COMPACT_GROWTH_DEFAULT, SS_HISTORY_DEFAULT,
		SS_HISTORY_MAX);
}

enum {
	OPT_MAX_CLIENTS = 256,
	OPT_MAX_LINE,
	OPT_LOG_LEVEL,
	OPT_PREALLOC,
	OPT_AUTO_COMPACT_MIN,
	OPT_AUTO_COMPACT_GROWTH,
	OPT_SYNC_THREAD,
	OPT_QUOTA_BYTES,
	OPT_HISTORY,
	OPT_METRICS,
};

static const struct option longopts[] = {
	{"port", required_argument, NULL, 'p'},
	{"data-dir", required_argument, NULL, 'd'},
	{"bind", required_argument, NULL, 'b'},
	{"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
	{"max-line", required_argument, NULL, OPT_MAX_LINE},
	{"prealloc", required_argument, NULL, OPT_PREALLOC},
	{"auto-compact-min", required_argument, NULL, OPT_AUTO_COMPACT_MIN},
	{"auto-compact-growth", required_argument, NULL, OPT_AUTO_COMPACT_GROWTH},
	{"sync-thread", no_argument, NULL, OPT_SYNC_THREAD},
	{"quota-bytes", required_argument, NULL, OPT_QUOTA_BYTES},
	{"history", required_argument, NULL, OPT_HISTORY},
	{"metrics", required_argument, NULL, OPT_METRICS},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* The numeric options and their ranges, so that an error can name both. */
static const struct {
	int opt;
	uint64_t lo, hi;
} ranges[] = {
	{'p', 0, 65535},
	{OPT_MAX_CLIENTS, 1, 1000000},
	{OPT_MAX_LINE, SS_LINE_MAX_MIN, SS_LINE_MAX_MAX},
	{OPT_PREALLOC, 0, 1LL << 30},
	{OPT_AUTO_COMPACT_MIN, 0, INT64_MAX},
	{OPT_AUTO_COMPACT_GROWTH, 101, 100000},
	{OPT_QUOTA_BYTES, 0, INT64_MAX},
	{OPT_HISTORY, 0, SS_HISTORY_MAX},
};

/* The long name of option opt, for messages. */
static const char *opt_name(int opt)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* Reports a bad value for option opt: names the option, the value and what
 * it must be. Returns SS_EXIT_USAGE. */
static int bad_value(const char *prog, int opt, const char *value, const char *want)
{
	fprintf(stderr, "%s: invalid value '%s' for --%s: %s\n", prog, value, opt_name(opt), want);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return SS_EXIT_USAGE;
}

/* Parses optarg if opt is a numeric option. Returns 0 and *out; 1 if opt
 * takes no number (nothing done); or SS_EXIT_USAGE after saying why. */
static int number_opt(const char *prog, int opt, uint64_t *out)
{
	char want[96];

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if (ranges[i].opt != opt)
			continue;
		if (ss_parse_urange(optarg, ranges[i].lo, ranges[i].hi, out) == 0)
			return 0;
		snprintf(want, sizeof(want), "want an integer from %llu to %llu",
			 (unsigned long long)ranges[i].lo, (unsigned long long)ranges[i].hi);
		return bad_value(prog, opt, optarg, want);
	}
	return 1;
}

int ss_daemon_main(int argc, char **argv, const struct ss_io *io)
{
	struct ss_diag diag = {.level = SS_INFO, .out = stderr};
	struct ss_server_config cfg = {
		.bind_addr = "127.0.0.1",
		.port = 7070,
		.data_dir = "./data",
		.max_clients = 10000,
		.max_line = SS_LINE_MAX_DEFAULT,
		.prealloc_bytes = SS_PREALLOC_DEFAULT,
		.history = SS_HISTORY_DEFAULT,
		.auto_compact_min = SS_AUTO_COMPACT_MIN_DEFAULT,
		.auto_compact_growth = SS_AUTO_COMPACT_GROWTH_DEFAULT,
		.io = io,
		.diag = &diag,
	};
	const char *prog = argc > 0 ? argv[0] : "statestored";
	const char *what;
	int opt;

	/* Before anything opens a descriptor: with stderr closed, the log
	 * file could become descriptor 2, and log lines would land in it.
	 * And a write to a closed socket must fail with EPIPE, not kill us. */
	if (ss_program_start(&what) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
		return SS_EXIT_ERROR;
	}

	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:d:b:hV", longopts, NULL)) != -1) {
		uint64_t v = 0;
		if (number_opt(prog, opt, &v) == SS_EXIT_USAGE)
			return SS_EXIT_USAGE;
		switch (opt) {
		case 'p':
			cfg.port = (int)v;
			break;
		case 'd':
			if (optarg[0] == '\0')
				return bad_value(prog, opt, optarg, "want a directory path");
			cfg.data_dir = optarg;
			break;
		case 'b':
			if (!ss_listener_address_ok(optarg))
				return bad_value(prog, opt, optarg,
						 "want a numeric IPv4 or IPv6 address, such as 127.0.0.1 or ::1");
			cfg.bind_addr = optarg;
			break;
		case OPT_MAX_CLIENTS:
			cfg.max_clients = (int)v;
			break;
		case OPT_MAX_LINE:
			cfg.max_line = (size_t)v;
			break;
		case OPT_PREALLOC:
			cfg.prealloc_bytes = (size_t)v;
			break;
		case OPT_AUTO_COMPACT_MIN:
			cfg.auto_compact_min = (uint64_t)v;
			break;
		case OPT_AUTO_COMPACT_GROWTH:
			cfg.auto_compact_growth = (unsigned)v;
			break;
		case OPT_SYNC_THREAD:
			cfg.sync_thread = 1;
			break;
		case OPT_HISTORY:
			cfg.history = (unsigned)v;
			break;
		case OPT_QUOTA_BYTES:
			cfg.quota_bytes = (uint64_t)v;
			break;
		case OPT_METRICS:
			if (!ss_metrics_addr_ok(optarg))
				return bad_value(prog, opt, optarg,
						 "want ADDR:PORT, such as 127.0.0.1:9464 or [::1]:9464");
			cfg.metrics = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (ss_diag_parse_level(optarg, &diag.level) < 0)
				return bad_value(prog, opt, optarg, "want debug, info, warn or error");
			break;
		case 'h':
			usage(stdout, prog);
			return SS_EXIT_OK;
		case 'V':
			printf("statestored %s\n", SS_VERSION);
			return SS_EXIT_OK;
		default:
			usage(stderr, prog);
			return SS_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		usage(stderr, prog);
		return SS_EXIT_USAGE;
	}
	return ss_server_run(&cfg);
}
