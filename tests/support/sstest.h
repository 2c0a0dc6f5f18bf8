/*
 * sstest.h - small helpers shared by the unit tests.
 */
#ifndef SSTEST_H
#define SSTEST_H

/* Creates a fresh empty directory under $TMPDIR (or /tmp) and returns its
 * path, to be freed by the caller. Fails the running test if it cannot. */
char *sstest_tmpdir(void);

/* Removes dir and everything under it. Missing is not an error. */
void sstest_rmdir(const char *dir);

#endif
