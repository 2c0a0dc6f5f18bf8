/*
 * bar.h - statestore-check's progress bar: one line on a terminal, redrawn
 * in place as a replay goes, erased at the end. A pipe or a file never
 * sees it (the caller asks isatty first).
 */
#ifndef STATESTORED_TOOLS_CHECK_BAR_H
#define STATESTORED_TOOLS_CHECK_BAR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "statestored/store.h"

/* Redraws at most this often: a terminal gains nothing from more. */
#define SS_CHECK_BAR_PERIOD_NS 100000000u

struct ss_check_bar {
	FILE *out;        /* the terminal (stderr) */
	uint64_t last_ns; /* when it was last drawn; 0: never */
	size_t width;     /* the length of the line on the screen */
};

/* An ss_store_progress_fn: arg is a struct ss_check_bar. Draws the first
 * time it is called, then at most every SS_CHECK_BAR_PERIOD_NS. */
void ss_check_bar_update(void *arg, const struct ss_replay_progress *p);

/* Erases the line, if one was drawn, so the report starts on a clean one. */
void ss_check_bar_end(struct ss_check_bar *b);

#endif
