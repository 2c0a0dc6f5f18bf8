/*
 * error.c - filling a struct ss_error.
 *
 * Each failure is described once, where it is understood, as one sentence
 * naming the file and (for the log) the byte offset and record number, with
 * strerror where a system call failed. The caller decides whether to log it.
 */
#include "engine/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void ss_error_set(struct ss_error *err, enum ss_err_kind kind, int sys_errno, const char *fmt,
		  ...)
{
	int saved = errno;
	va_list ap;

	if (!err)
		return;
	err->kind = kind;
	err->sys_errno = sys_errno;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	errno = saved;
}
