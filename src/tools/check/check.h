/*
 * check.h - statestore-check: the offline log tool (verify, stats, repair,
 * dump).
 *
 * It reads a log with the engine's own replay (ss_store_check), so its
 * verdicts - clean, torn tail, corruption - and their messages are the
 * daemon's; it is not a second parser. verify, stats and dump never write;
 * repair writes only when asked, only with the data directory's LOCK held,
 * and only after a synced copy of the log is in place.
 */
#ifndef STATESTORED_TOOLS_CHECK_H
#define STATESTORED_TOOLS_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "statestored/store.h"

/* Exit codes: the verdict on the log as the tool leaves it. */
enum {
	SS_CHECK_CLEAN = 0,   /* a start would open it as it is */
	SS_CHECK_TORN = 1,    /* a start would cut a torn tail (or a torn header) */
	SS_CHECK_CORRUPT = 2, /* a start would refuse it: corrupt, not a log, unknown version */
	SS_CHECK_IOERR = 3,   /* it could not be read (or repaired): I/O, missing, memory */
	SS_CHECK_LOCKED = 4,  /* refused: repair's directory is locked by a running
			       * statestored; restore's DEST is not new or empty */
	SS_CHECK_USAGE = 5,   /* bad command line */
};

/* One log, located and read. */
struct ss_check_log {
	char *path;           /* the log file (DIR/statestored.log, or FILE) */
	char *dir;            /* the directory named, or NULL if a file was */
	struct ss_table *table; /* what a start would load; NULL if it would fail */
	struct ss_check_report rep;
	struct ss_error err;  /* why it would fail */
	int rc;               /* ss_store_check's return */
	/* Seen while replaying (observe). */
	uint64_t rev_min;     /* lowest revision of a SET or DEL record; 0: none */
	int64_t commit_min, commit_max; /* commit times, 0 (unknown) left out */
};

/* Locates the log for `target` (a data directory or a log file) and
 * reads it (ss_store_check at now_ms with history depth `history`).
 * Returns the exit code its verdict means; on SS_CHECK_IOERR a message
 * has been printed. */
int ss_check_read(struct ss_check_log *l, const char *target, unsigned history, int64_t now_ms);
/* The same, with fn(arg, record) told of each record replay applies
 * instead of the counting into l's rev_min and commit times. */
int ss_check_read_with(struct ss_check_log *l, const char *target, unsigned history,
		       int64_t now_ms, ss_store_check_fn fn, void *arg);
void ss_check_log_free(struct ss_check_log *l);

/* Prints the verdict for code (ss_check_read's) to f; an I/O error was
 * printed already. */
void ss_check_print_verdict(FILE *f, const struct ss_check_log *l, int code);

/* statestore-check repair: argv[0] is "repair". Returns the exit code. */
int ss_check_repair(int argc, char **argv, int64_t now_ms);

/* statestore-check dump: argv[0] is "dump". Returns the exit code. */
int ss_check_dump(int argc, char **argv, int64_t now_ms);

/* statestore-check restore: argv[0] is "restore". Returns the exit code. */
int ss_check_restore(int argc, char **argv, int64_t now_ms);

/* The program. */
int ss_check_main(int argc, char **argv);

#endif
