/*
 * error.h - filling a struct ss_error (store.h). Internal to the engine.
 */
#ifndef STATESTORED_SRC_ERROR_H
#define STATESTORED_SRC_ERROR_H

#include "statestored/store.h"

/* Sets err's kind and sys_errno and formats its message (truncated to fit).
 * err may be NULL. Leaves errno unchanged. */
void ss_error_set(struct ss_error *err, enum ss_err_kind kind, int sys_errno, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));

#endif
