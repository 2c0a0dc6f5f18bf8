/*
 * daemon.c - the statestored command line: parses the options, sets up the
 * daemon's log and hands over to the server. main() is in src/bin.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statestored/daemon.h"
#include "statestored/limits.h"
#include "statestored/server.h"

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
		"      --log-level LEVEL  debug, info, warn or error (default info)\n"
		"  -h, --help             print this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit codes: 0 clean shutdown, 1 other error, 2 bad options, 3 data dir locked,\n"
		"            4 corrupt log, 5 fdatasync failed.\n",
		prog, SS_LINE_MAX_DEFAULT, SS_LINE_MAX_MIN, SS_LINE_MAX_MAX, SS_PREALLOC_DEFAULT,
		SS_AUTO_COMPACT_MIN_DEFAULT, SS_AUTO_COMPACT_GROWTH_DEFAULT);
}

/* Parses a decimal integer in [lo, hi]. Returns 0 or -1. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

enum {
	OPT_MAX_CLIENTS = 256,
	OPT_MAX_LINE,
	OPT_LOG_LEVEL,
	OPT_PREALLOC,
	OPT_AUTO_COMPACT_MIN,
	OPT_AUTO_COMPACT_GROWTH,
	OPT_SYNC_THREAD,
};

int ss_daemon_main(int argc, char **argv, const struct ss_io *io)
{
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
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct ss_diag diag = {.level = SS_INFO, .out = stderr};
	struct ss_server_config cfg = {
		.bind_addr = "127.0.0.1",
		.port = 7070,
		.data_dir = "./data",
		.max_clients = 10000,
		.max_line = SS_LINE_MAX_DEFAULT,
		.prealloc_bytes = SS_PREALLOC_DEFAULT,
		.auto_compact_min = SS_AUTO_COMPACT_MIN_DEFAULT,
		.auto_compact_growth = SS_AUTO_COMPACT_GROWTH_DEFAULT,
		.io = io,
		.diag = &diag,
	};
	const char *prog = argc > 0 ? argv[0] : "statestored";
	long v;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:d:b:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_long(optarg, 0, 65535, &v) < 0)
				goto bad_value;
			cfg.port = (int)v;
			break;
		case 'd':
			cfg.data_dir = optarg;
			break;
		case 'b':
			cfg.bind_addr = optarg;
			break;
		case OPT_MAX_CLIENTS:
			if (parse_long(optarg, 1, 1000000, &v) < 0)
				goto bad_value;
			cfg.max_clients = (int)v;
			break;
		case OPT_MAX_LINE:
			if (parse_long(optarg, SS_LINE_MAX_MIN, SS_LINE_MAX_MAX, &v) < 0)
				goto bad_value;
			cfg.max_line = (size_t)v;
			break;
		case OPT_PREALLOC:
			if (parse_long(optarg, 0, 1L << 30, &v) < 0)
				goto bad_value;
			cfg.prealloc_bytes = (size_t)v;
			break;
		case OPT_AUTO_COMPACT_MIN:
			if (parse_long(optarg, 0, LONG_MAX, &v) < 0)
				goto bad_value;
			cfg.auto_compact_min = (uint64_t)v;
			break;
		case OPT_AUTO_COMPACT_GROWTH:
			if (parse_long(optarg, 101, 100000, &v) < 0)
				goto bad_value;
			cfg.auto_compact_growth = (unsigned)v;
			break;
		case OPT_SYNC_THREAD:
			cfg.sync_thread = 1;
			break;
		case OPT_LOG_LEVEL:
			if (ss_diag_parse_level(optarg, &diag.level) < 0)
				goto bad_value;
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

bad_value:
	fprintf(stderr, "%s: invalid value '%s' for option '%s'\n", prog, optarg, argv[optind - 1]);
	usage(stderr, prog);
	return SS_EXIT_USAGE;
}
