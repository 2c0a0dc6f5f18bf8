/*
 * check.c - statestore-check: the command line, reading a log, verify and
 * stats (see check.h; repair is repair.c).
 *
 * Every verdict comes from ss_store_check, which is the daemon's replay
 * with the writes left out: the same scanner, the same rule for a torn
 * tail versus corruption, the same message naming the byte offset and the
 * record number. This file only words what it found, and counts.
 */
#include "tools/check/check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/diag.h"
#include "tools/check/bar.h"
#include "common/numparse.h"
#include "common/stdfds.h"
#include "statestored/snapshot.h"
#include "statestored/table.h"

typedef unsigned long long ull;

static const char usage_text[] =
	"usage: statestore-check verify DIR_OR_FILE\n"
	"       statestore-check stats [--history N] DIR_OR_FILE\n"
	"       statestore-check repair [--dry-run] [--truncate-at-corruption] DIR\n"
	"       statestore-check dump [--format text|jsonl] [--prefix P] DIR_OR_FILE\n"
	"       statestore-check restore DIR_OR_FILE DEST\n"
	"       statestore-check --help | -V\n"
	"\n"
	"Reads a statestored log (DIR/" SS_LOG_FILE ", or the FILE named) with the\n"
	"daemon's own replay, and says what a start of statestored would do with it.\n"
	"\n"
	"  verify   Read-only, takes no lock: safe while the daemon runs (its write in\n"
	"           progress may then look like a torn tail). Prints the verdict: clean;\n"
	"           a torn tail and how many bytes a start would cut; or corruption, in\n"
	"           the words the daemon refuses to start with (byte offset and record\n"
	"           number: lines after the header, GROUP lines included, from 1).\n"
	"  stats    Read-only too. What a start would load: records and groups\n"
	"           replayed, live pipelines (entries), history entries (with the\n"
	"           daemon's --history, default 4), the revision range, the oldest and\n"
	"           newest commit times, and dead bytes: the log's bytes less what a\n"
	"           compaction would write now (the snapshot is encoded in memory only).\n"
	"  repair   Cuts a torn tail exactly as a start would. Refuses while a daemon\n"
	"           holds DIR/" SS_LOCK_FILE " (and holds that lock itself meanwhile).\n"
	"           Leaves corruption alone unless --truncate-at-corruption: then cuts\n"
	"           the log back to the end of the last complete group before the damage,\n"
	"           dropping everything after it. Before writing, copies the log to\n"
	"           DIR/" SS_LOG_FILE ".bak-<unix time> (synced, and the directory synced)\n"
	"           and says where. --dry-run says what it would do and writes nothing.\n"
	"  dump     Read-only too. The records a start would replay, in log order, one\n"
	"           a line: text, each as the current format writes it (CRC included);\n"
	"           or jsonl, one object each, a name or value one code point per byte\n"
	"           (printable ASCII as itself, any other byte as \\u00XX). --prefix P:\n"
	"           only the records of names starting with P. On a torn or corrupt log\n"
	"           it prints the records before the damage, then the verdict on stderr.\n"
	"  restore  Copies a clean log (a BACKUP's directory, say) into DEST, a new\n"
	"           or empty data directory, for statestored to start on: built in\n"
	"           DEST.partial and renamed once synced, so an interrupted restore\n"
	"           leaves no DEST. A torn or corrupt log is refused with its verdict.\n"
	"\n"
	"exit status (the state of the log as the tool leaves it):\n"
	"  0  clean: a start opens it as it is (repair: it is clean now)\n"
	"  1  torn: a start would cut a torn tail or a torn header (repair --dry-run)\n"
	"  2  corrupt: a start would refuse it (corruption, not a log, unknown format\n"
	"     version); repair without --truncate-at-corruption leaves it so\n"
	"  3  I/O error: the log cannot be read (missing, a directory without a log,\n"
	"     no permission), or repair could not write; also out of memory\n"
	"  4  refused: a running statestored holds repair's directory's lock, or\n"
	"     restore's DEST exists and is not empty (or DEST.partial exists)\n"
	"  5  usage error\n";

static void usage_error(const char *what, const char *arg, const char *want)
{
	fprintf(stderr, "statestore-check: %s '%s'%s\n(statestore-check --help for usage)\n", what,
		arg, want);
}

static void observe(void *arg, const struct ss_record *r)
{
	struct ss_check_log *l = arg;

	if (r->type == SS_REC_REV || r->type == SS_REC_EPOCH)
		return;
	if (r->rev > 0 && (l->rev_min == 0 || r->rev < l->rev_min))
		l->rev_min = r->rev;
	if (r->commit_ms > 0) {
		if (l->commit_min == 0 || r->commit_ms < l->commit_min)
			l->commit_min = r->commit_ms;
		if (r->commit_ms > l->commit_max)
			l->commit_max = r->commit_ms;
	}
}

int ss_check_read(struct ss_check_log *l, const char *target, unsigned history, int64_t now_ms)
{
	return ss_check_read_with(l, target, history, now_ms, NULL, NULL);
}

int ss_check_read_with(struct ss_check_log *l, const char *target, unsigned history,
		       int64_t now_ms, ss_store_check_fn fn, void *arg)
{
	struct stat st;

	memset(l, 0, sizeof(*l));
	if (stat(target, &st) < 0) {
		fprintf(stderr, "statestore-check: cannot read %s: %s\n", target, strerror(errno));
		return SS_CHECK_IOERR;
	}
	if (S_ISDIR(st.st_mode)) {
		/* The path the daemon builds (store.c), so messages name the
		 * same file in the same words. */
		if (asprintf(&l->path, "%s/%s", target, SS_LOG_FILE) < 0)
			l->path = NULL;
		l->dir = strdup(target);
	} else {
		l->path = strdup(target);
	}
	if (!l->path || (S_ISDIR(st.st_mode) && !l->dir)) {
		fputs("statestore-check: out of memory\n", stderr);
		return SS_CHECK_IOERR;
	}
	/* A bar only on a terminal, and not while records are printed to the
	 * same terminal (a dump to the screen): they would tangle. */
	struct ss_check_bar bar = {.out = stderr};
	int show = isatty(STDERR_FILENO) && !(fn && isatty(STDOUT_FILENO));
	l->rc = ss_store_check(l->path, history, now_ms, fn ? fn : observe, fn ? arg : l,
			       show ? ss_check_bar_update : NULL, &bar, &l->table, &l->rep,
			       &l->err);
	ss_check_bar_end(&bar);
	if (l->rc < 0) {
		if (l->err.kind == SS_ERR_CORRUPT || l->err.kind == SS_ERR_VERSION)
			return SS_CHECK_CORRUPT;
		fprintf(stderr, "statestore-check: %s\n", l->err.msg);
		return SS_CHECK_IOERR;
	}
	return l->rep.cut || (l->rep.new_header && l->rep.torn_bytes > 0) ? SS_CHECK_TORN
									   : SS_CHECK_CLEAN;
}

void ss_check_log_free(struct ss_check_log *l)
{
	ss_table_free(l->table);
	free(l->path);
	free(l->dir);
	memset(l, 0, sizeof(*l));
}

void ss_check_print_verdict(FILE *f, const struct ss_check_log *l, int code)
{
	const struct ss_check_report *r = &l->rep;

	switch (code) {
	case SS_CHECK_CLEAN:
		if (r->new_header) {
			fprintf(f, "%s: empty: a start writes its header\n", l->path);
			break;
		}
		fprintf(f, "%s: clean: %llu records in %llu groups, log %llu bytes", l->path,
		       (ull)r->records, (ull)r->groups, (ull)r->end);
		if (r->file_bytes > r->end)
			fprintf(f, ", then %llu bytes of preallocated zeros", (ull)(r->file_bytes - r->end));
		if (r->version != SS_LOG_VERSION)
			fprintf(f, "; format version %ld: a start rewrites it in version %d", r->version,
			       SS_LOG_VERSION);
		fputc('\n', f);
		break;
	case SS_CHECK_TORN:
		if (r->new_header)
			fprintf(f, "%s: the log has a torn header: a start would cut %llu bytes and write "
			       "a fresh header\n",
			       l->path, (ull)r->torn_bytes);
		else
			fprintf(f, "%s: the log has a torn tail: a start would cut %llu bytes after the "
			       "last valid record (the file, %llu bytes, back to byte offset %llu; "
			       "%llu records in %llu groups stay)\n",
			       l->path, (ull)r->torn_bytes, (ull)r->file_bytes, (ull)r->end,
			       (ull)r->records, (ull)r->groups);
		break;
	case SS_CHECK_CORRUPT:
		/* Word for word what the daemon logs when it refuses to start. */
		fprintf(f, "%s\n", l->err.msg);
		break;
	default:
		break; /* ss_check_read printed it */
	}
}

/* The bytes a compaction would write for t now: the snapshot encoded in
 * memory, a group's worth at a time, and counted. Returns 0 and fills
 * *bytes and *versions (SET records: entries plus history), or -1 with *err. */
static int snapshot_size(struct ss_table *t, int64_t now_ms, uint64_t *bytes,
			 uint64_t *versions, uint64_t *entries, struct ss_error *err)
{
	struct ss_snapshot s;
	struct ss_snapshot_out o = {0};
	int more, ret = -1;

	*bytes = 0;
	if (ss_snapshot_init(&s, t, now_ms, 0, err) < 0)
		goto out;
	do {
		more = ss_snapshot_step(&s, 4096, err);
		if (more < 0)
			goto out;
		ss_snapshot_take(&s, &o);
		*bytes += o.len;
		o.len = 0;
	} while (more);
	*entries = s.entries;
	*versions = s.records - (ss_table_revision(t) > 0); /* less the REVISION record */
	ret = 0;
out:
	ss_snapshot_out_free(&o);
	ss_snapshot_free(&s);
	return ret;
}

static void print_time(const char *name, int64_t ms)
{
	char iso[SS_ISO_TIME_LEN] = "unknown";

	if (ms > 0)
		ss_iso_time(iso, sizeof(iso), ms);
	printf("%s_ms %lld\n%s %s\n", name, (long long)ms, name, iso);
}

static int run_stats(const char *target, unsigned history, int64_t now_ms)
{
	struct ss_check_log l;
	struct ss_error err;
	uint64_t snap = 0, versions = 0, entries = 0;
	int code = ss_check_read(&l, target, history, now_ms);

	if (code == SS_CHECK_IOERR || code == SS_CHECK_CORRUPT) {
		ss_check_print_verdict(stdout, &l, code);
		goto out;
	}
	if (snapshot_size(l.table, now_ms, &snap, &versions, &entries, &err) < 0) {
		fprintf(stderr, "statestore-check: %s\n", err.msg);
		code = SS_CHECK_IOERR;
		goto out;
	}
	const struct ss_check_report *r = &l.rep;
	uint64_t log_bytes = r->new_header ? 0 : r->end;
	printf("log %s\n", l.path);
	printf("format_version %ld\n", r->version);
	printf("file_bytes %llu\n", (ull)r->file_bytes);
	printf("log_bytes %llu\n", (ull)log_bytes);
	printf("torn_bytes %llu\n", (ull)r->torn_bytes);
	printf("records %llu\n", (ull)r->records);
	printf("groups %llu\n", (ull)r->groups);
	printf("entries %llu\n", (ull)entries);
	printf("history_entries %llu\n", (ull)(versions - entries));
	printf("history_depth %u\n", history);
	printf("expired %llu\n", (ull)r->expired);
	printf("revision_min %llu\n", (ull)l.rev_min);
	printf("revision %llu\n", (ull)ss_table_revision(l.table));
	print_time("oldest_commit", l.commit_min);
	print_time("newest_commit", l.commit_max);
	printf("compacted_bytes %llu\n", (ull)snap);
	printf("dead_bytes %llu\n", (ull)(log_bytes > snap ? log_bytes - snap : 0));
	if (code != SS_CHECK_CLEAN)
		ss_check_print_verdict(stderr, &l, code); /* stdout is the table above */
out:
	ss_check_log_free(&l);
	return code;
}

static int run_verify(const char *target, int64_t now_ms)
{
	struct ss_check_log l;
	int code = ss_check_read(&l, target, SS_HISTORY_DEFAULT, now_ms);

	ss_check_print_verdict(stdout, &l, code);
	ss_check_log_free(&l);
	return code;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ss_check_main(int argc, char **argv)
{
	const char *what;
	unsigned history = SS_HISTORY_DEFAULT;
	int code;

	if (ss_program_start(&what) < 0) {
		fprintf(stderr, "statestore-check: %s: %s\n", what, strerror(errno));
		return SS_CHECK_IOERR;
	}
	if (argc < 2) {
		fputs(usage_text, stderr);
		return SS_CHECK_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(usage_text, stdout);
		return fflush(stdout) == 0 ? 0 : SS_CHECK_IOERR;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("statestore-check %s\n", SS_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "repair"))
		code = ss_check_repair(argc - 1, argv + 1, wall_ms());
	else if (!strcmp(cmd, "dump"))
		code = ss_check_dump(argc - 1, argv + 1, wall_ms());
	else if (!strcmp(cmd, "restore"))
		code = ss_check_restore(argc - 1, argv + 1, wall_ms());
	else if (!strcmp(cmd, "verify") || !strcmp(cmd, "stats")) {
		int i = 2;
		if (!strcmp(cmd, "stats") && i + 1 < argc && !strcmp(argv[i], "--history")) {
			uint64_t v;
			if (ss_parse_urange(argv[i + 1], 0, SS_HISTORY_MAX, &v) < 0) {
				usage_error("invalid value", argv[i + 1],
					    " for --history: want an integer from 0 to 1000");
				return SS_CHECK_USAGE;
			}
			history = (unsigned)v;
			i += 2;
		}
		if (argc - i != 1 || argv[i][0] == '-') {
			usage_error("command", cmd, " takes one DIR_OR_FILE");
			return SS_CHECK_USAGE;
		}
		code = cmd[0] == 'v' ? run_verify(argv[i], wall_ms())
				     : run_stats(argv[i], history, wall_ms());
	} else {
		usage_error("unknown command", cmd, "");
		return SS_CHECK_USAGE;
	}
	if (fflush(stdout) != 0 && code == SS_CHECK_CLEAN) {
		fprintf(stderr, "statestore-check: cannot write the output: %s\n", strerror(errno));
		code = SS_CHECK_IOERR;
	}
	return code;
}
