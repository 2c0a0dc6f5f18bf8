/*
 * options.h - the daemon's options as one table. Each row drives all four
 * views of an option: the command line (getopt_long), the config file
 * (--config FILE), --help and CONFIG GET. Adding an option is one row in
 * options.c and its field in struct ss_server_config.
 *
 * A row says where its value lives (an offset into the config), how text
 * becomes that value (parse, which validates: a range for integers, a
 * check for strings) and how the value becomes text again (text). The
 * default is text too, parsed by the same function before anything else,
 * so --help, the example config file and the daemon cannot disagree.
 */
#ifndef STATESTORED_OPTIONS_H
#define STATESTORED_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "server/server.h"

/* The longest text an integer value is printed as (text's buffer). */
#define SS_OPTION_TEXT_MAX 24

enum ss_option_flags {
	SS_OPT_FLAG = 1,         /* no argument on the command line (it sets "yes");
				  * yes or no in the config file */
	SS_OPT_CMDLINE_ONLY = 2, /* not settable in the config file (config) */
};

struct ss_option {
	const char *name;  /* the long option, the file's key, CONFIG GET's name */
	int short_flag;    /* 'p', or 0 */
	const char *arg;   /* the argument's name in --help; NULL for a flag */
	const char *def;   /* the default, as the file would write it */
	const char *help;  /* one line or more, '\n'-separated, for --help */
	const char *redis; /* also shown by CONFIG GET under Redis's name, or NULL */
	unsigned flags;    /* enum ss_option_flags */
	size_t offset;     /* the field in struct ss_server_config */
	size_t size;       /* its size (integers) */
	uint64_t lo, hi;   /* an integer's range */
	/* A string's check (NULL: any string), and what a string must be. */
	int (*valid)(const char *s);
	const char *want;
	/* Parses s into the field. Returns 0, or -1 with what the value must
	 * be written to want[0..wantlen). s must outlive the config: strings
	 * are kept as pointers. */
	int (*parse)(const struct ss_option *o, const char *s, void *field, char *want,
		     size_t wantlen);
	/* The field's value as text: into buf (SS_OPTION_TEXT_MAX bytes), or
	 * the string the field points to. */
	const char *(*text)(const struct ss_option *o, const void *field, char *buf);
};

/* The table, and how many rows it has. */
const struct ss_option *ss_options(size_t *n);

/* The row named name (a long name, not a Redis alias), or NULL. */
const struct ss_option *ss_option_find(const char *name);

/* Sets cfg's field of o from s. Returns 0, or -1 with want filled. */
int ss_option_set(const struct ss_option *o, struct ss_server_config *cfg, const char *s,
		  char *want, size_t wantlen);

/* cfg's value of o as text; buf holds SS_OPTION_TEXT_MAX bytes. */
const char *ss_option_text(const struct ss_option *o, const struct ss_server_config *cfg,
			   char *buf);

/* Checks what no single row can: options that need one another (a TLS
 * port needs a certificate and key; --port none needs --tls-port). 0, or
 * -1 with the reason in why[0..n). */
int ss_options_check(const struct ss_server_config *cfg, char *why, size_t n);

/* Fills cfg with every row's default. Returns 0, or -1 if a default does
 * not parse (a bug in the table, which a unit test catches). */
int ss_options_defaults(struct ss_server_config *cfg);

/* CONFIG GET's view of a config: a row for each option by its name, and
 * one by Redis's name where it has one (alias set), with its value as
 * text. The values are cfg's, which the caller makes the effective ones
 * (the port bound, the clients served). */
struct ss_options_view {
	struct ss_server_config cfg;
	struct ss_cmd_config *rows;
	char (*text)[SS_OPTION_TEXT_MAX];
	size_t n;
};

/* Fills v from cfg. Returns 0, or -1 (ENOMEM). */
int ss_options_view_init(struct ss_options_view *v, const struct ss_server_config *cfg);
void ss_options_view_free(struct ss_options_view *v);

/* Writes --help's option lines, one row after the other. */
void ss_options_usage(FILE *out);

/* Splits HOST:PORT (an IPv6 host in brackets) into host and port.
 * Returns 0, or -1 if it is not one. */
int ss_options_split_hostport(const char *s, char *host, size_t hn, char *port, size_t pn);

#endif
