/*
 * diag.c - timestamped, levelled log lines on stderr; see diag.h.
 *
 * Each line is formatted whole and written with one fputs, so lines from
 * two threads or processes sharing stderr do not interleave mid-line.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/diag.h"

static const char *const level_names[] = {"debug", "info", "warn", "error", "notice"};

int ss_diag_parse_level(const char *s, enum ss_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum ss_level)i;
			return 0;
		}
	}
	return -1;
}

void ss_iso_time(char *out, size_t n, int64_t ms)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	size_t k;

	if (!gmtime_r(&sec, &tm) || (k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(out, n, "%lld", (long long)ms);
		return;
	}
	snprintf(out + k, n - k, ".%03dZ", (int)(ms % 1000));
}

void ss_diag_log(const struct ss_diag *d, enum ss_level lvl, const char *file, int line,
		 const char *fmt, ...)
{
	char msg[1024], stamp[SS_ISO_TIME_LEN];
	struct timeval tv;
	va_list ap;

	if (lvl < d->level)
		return;
	gettimeofday(&tv, NULL);
	ss_iso_time(stamp, sizeof(stamp), (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	FILE *out = d->out ? d->out : stderr;
	char full[1200];
	if (file)
		snprintf(full, sizeof(full), "%s [%s] %s (%s:%d)\n", stamp, level_names[lvl], msg,
			 file, line);
	else
		snprintf(full, sizeof(full), "%s [%s] %s\n", stamp, level_names[lvl], msg);
	fputs(full, out);
	fflush(out);
}
