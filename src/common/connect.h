/*
 * connect.h - the client side's one way to open a TCP connection, for
 * statestore-cli and statestore-bench (the daemon only accepts).
 */
#ifndef STATESTORED_COMMON_CONNECT_H
#define STATESTORED_COMMON_CONNECT_H

#include <stddef.h>

/* Resolves host and port (numeric) and connects to the first address that
 * answers, all within timeout_ms. Returns a connected socket that is
 * non-blocking, close-on-exec and has TCP_NODELAY (requests are small and
 * the callers batch them: Nagle would only hold them back); or -1 after
 * writing why into err (a sentence naming the host and port), with -2
 * instead when the time ran out. */
int ss_connect(const char *host, const char *port, int timeout_ms, char *err, size_t errlen);

#endif
