/*
 * conffile.h - the config file's format (--config FILE): one option a
 * line, "name value", with the names of the long options.
 *
 * The rules, in the order a line is read:
 *   - A line ends at '\n'; one '\r' before it is dropped (a file written
 *     on Windows reads the same). A line holds at most SS_CONFFILE_LINE_MAX
 *     bytes, and the file at most SS_CONFFILE_MAX.
 *   - Spaces and tabs around the name and the value are ignored. A line
 *     that is blank, or whose first other character is '#', is skipped.
 *   - The name runs to the first space or tab; the value is the rest of
 *     the line, up to a '#' that follows a space or tab (a comment after
 *     the value). A '#' inside a value ("/srv/a#1") is part of it, and a
 *     value may hold inner spaces ("/srv/my data").
 *   - A value in double quotes is taken as it is between them, '#' and
 *     spaces included; "" is the empty string. There are no escapes, so it
 *     cannot hold a '"'. Only spaces and a comment may follow the closing
 *     quote.
 * Nothing here knows the option names: the caller decides what a name
 * and its value mean.
 */
#ifndef STATESTORED_CONFFILE_H
#define STATESTORED_CONFFILE_H

#include <stddef.h>
#include <sys/stat.h>

#define SS_CONFFILE_MAX (1u << 20)
#define SS_CONFFILE_LINE_MAX 4096

/* Called for each line that names an option: the line's number (from 1),
 * the name, and the value (NULL if the line has none). A non-zero return
 * stops the parse and is returned. */
typedef int (*ss_conffile_fn)(void *arg, unsigned line, const char *name, const char *value);

/* Parses text[0..n), writing NULs into it to end names and values (which
 * point into it, so it must outlive their use). Returns 0; fn's non-zero
 * return; or -1 with *line and *why (a sentence) for a line that breaks
 * the rules above. */
int ss_conffile_parse(char *text, size_t n, ss_conffile_fn fn, void *arg, unsigned *line,
		      const char **why);

/* Reads the file at path whole, into a malloc'd buffer (NUL-terminated,
 * *n bytes before the NUL), and, if st is not NULL, the opened file's
 * status (the ACL file's owner checks read the file they judge). Returns 0,
 * or -1 with errno: the open's, fstat's or read's, EFBIG past max bytes,
 * ENOMEM. */
int ss_conffile_read(const char *path, size_t max, struct stat *st, char **text, size_t *n);

#endif
