/*
 * diag.h - the daemon's own log: one line per event on stderr, with a UTC
 * timestamp and a level. Errors also name the source file and line.
 *
 * The level lives in a struct the caller owns and passes around; nothing
 * here is global.
 */
#ifndef STATESTORED_DIAG_H
#define STATESTORED_DIAG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* SS_NOTICE lines are printed at every level: the few events an operator
 * must always see (the address the daemon listens on, its start and clean
 * shutdown), whatever --log-level says. It is not a level one can choose. */
enum ss_level { SS_DEBUG = 0, SS_INFO = 1, SS_WARN = 2, SS_ERROR = 3, SS_NOTICE = 4 };

struct ss_diag {
	enum ss_level level; /* lines below this level are dropped */
	FILE *out;           /* stderr unless a test says otherwise */
};

/* Writes unix time ms as the log lines' UTC timestamp,
 * 2026-12-07T10:14:45.302Z, into out (SS_ISO_TIME_LEN bytes or more). */
#define SS_ISO_TIME_LEN 32
void ss_iso_time(char *out, size_t n, int64_t ms);

/* Parses "debug", "info", "warn" or "error" (not "notice"). Returns 0 or -1. */
int ss_diag_parse_level(const char *s, enum ss_level *out);

void ss_diag_log(const struct ss_diag *d, enum ss_level lvl, const char *file, int line,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define ss_log_debug(d, ...) ss_diag_log((d), SS_DEBUG, NULL, 0, __VA_ARGS__)
#define ss_log_info(d, ...) ss_diag_log((d), SS_INFO, NULL, 0, __VA_ARGS__)
#define ss_log_notice(d, ...) ss_diag_log((d), SS_NOTICE, NULL, 0, __VA_ARGS__)
#define ss_log_warn(d, ...) ss_diag_log((d), SS_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define ss_log_error(d, ...) ss_diag_log((d), SS_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
