/*
 * tls.h - TLS as a transport (transport.h), with OpenSSL 3: the one file
 * of the daemon that includes OpenSSL's TLS headers (tests/layers checks
 * that no other calls its SSL_ functions).
 *
 * A struct ss_tls is the server's side of TLS: its certificate and key,
 * the CA that client certificates must chain to, whether clients must
 * present one, and the counters. Its transport serves any listener (the
 * clients' --tls-port, the metrics endpoint): each connection gets an SSL
 * object of its own, made from the context in force when it was accepted.
 *
 * What a connection gets: TLS 1.2 or 1.3 with OpenSSL's default ciphers
 * and groups; no renegotiation (a client's attempt is refused with an
 * alert: it has been the way to several attacks and a handshake-cost
 * lever, and TLS 1.3 removed it); no compression (CRIME); a handshake that
 * runs non-blocking inside the first reads and writes (the connection's
 * handshaking flag is set until it completes); and, when a client
 * certificate was asked for and verified, its subject's CN in peer_cn.
 * A handshake that fails closes the connection and is counted.
 *
 * ss_tls_reload (SIGHUP) reads the files again into a new context: on
 * success new connections use it, and the connections already open keep
 * the one they were made with (OpenSSL counts its references); a file that
 * cannot be read, or a key that does not match its certificate, keeps the
 * old context and logs why.
 */
#ifndef STATESTORED_NET_TLS_H
#define STATESTORED_NET_TLS_H

#include <stdint.h>

#include "common/diag.h"
#include "net/transport.h"

/* --tls-auth-clients */
enum ss_tls_auth {
	SS_TLS_AUTH_NO,       /* no client certificate is asked for */
	SS_TLS_AUTH_OPTIONAL, /* asked for; one presented must verify */
	SS_TLS_AUTH_YES,      /* a client without a verified one is refused */
};

/* The files, as the options name them; the strings must outlive the
 * struct ss_tls, which reads them again on each reload. */
struct ss_tls_files {
	const char *cert_file; /* PEM: the certificate, then its chain */
	const char *key_file;  /* PEM: its private key */
	const char *ca_file;   /* PEM: the CAs client certificates chain to; "" for none */
	int auth;              /* enum ss_tls_auth; optional and yes need ca_file */
};

struct ss_tls_stats {
	uint64_t handshakes;         /* completed */
	uint64_t handshake_failures; /* connections that closed or failed before completing one */
	uint64_t renegotiations_refused;
	uint64_t reloads;            /* SIGHUPs that put a new certificate in force */
	uint64_t reload_failures;    /* ... that kept the old one */
	int64_t not_after;           /* the certificate in force expires then (Unix time) */
};

struct ss_tls;

/* Reads the files and makes the context. Returns the TLS side, or NULL
 * after logging why (a file missing or unreadable, not PEM, a key that
 * does not match the certificate, out of memory). An expired certificate
 * is served, with a warning: clients refuse it, and the operator sees why. */
struct ss_tls *ss_tls_new(const struct ss_tls_files *files, const struct ss_diag *diag);
void ss_tls_free(struct ss_tls *t);

/* The transport for connections accepted on a TLS port. */
const struct ss_transport *ss_tls_transport(const struct ss_tls *t);

/* Reads the files again: 0 when the new certificate is in force for new
 * connections, -1 (the old one stays, and the reason is logged). */
int ss_tls_reload(struct ss_tls *t);

const struct ss_tls_stats *ss_tls_stats(const struct ss_tls *t);

#endif
