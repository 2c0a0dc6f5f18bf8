/*
 * tls.c - TLS with OpenSSL 3, as a transport; see tls.h.
 *
 * In order: making a context from the files (and the checks that give a
 * clear reason for each way the files can be wrong), what a handshake
 * learns (the client certificate's CN), the transport's functions, and
 * the struct ss_tls itself with its reload.
 *
 * Every SSL_read, SSL_write and SSL_do_handshake starts with an empty error
 * queue (ERR_clear_error), as SSL_get_error needs; and every failure path
 * empties it again, so that one connection's error never shows up as
 * another's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"

struct ss_tls {
	struct ss_transport tp; /* tls_transport, with arg pointing here */
	SSL_CTX *ctx;           /* for new connections */
	struct ss_tls_files files;
	const struct ss_diag *diag;
	struct ss_tls_stats st;
	double failure_logged; /* when a handshake failure was last logged at info */
};

/* The last OpenSSL error's reason ("wrong version number"), and an empty
 * queue. */
static const char *ssl_reason(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r)
		snprintf(buf, n, "%s", r);
	else if (e)
		ERR_error_string_n(e, buf, n);
	else
		snprintf(buf, n, "no reason given");
	ERR_clear_error();
	return buf;
}

/* ---- a context from the files ----------------------------------------- */

/* Whether path can be read, with its own reason: "No such file or
 * directory" says more than OpenSSL's "system library". 0, or -1 after
 * logging. */
static int readable(const char *what, const char *path, const struct ss_diag *diag)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		ss_log_error(diag, "cannot read %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* A private key others may read is worth a line, not a refusal: the
 * certificate's own tools make keys 0600, but a deploy may not. */
static void check_key_mode(const char *path, const struct ss_diag *diag)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		ss_log_warn(diag, "the TLS key %s can be read by any user (mode %03o): "
				  "chmod o-r it", path, (unsigned)(st.st_mode & 0777));
}

/* The certificate's notAfter as Unix time, and a warning if it has passed
 * (or is not a time at all). */
static int64_t expiry(SSL_CTX *ctx, const char *path, const struct ss_diag *diag)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	const ASN1_TIME *na = x ? X509_get0_notAfter(x) : NULL;
	struct tm tm;

	if (!na || ASN1_TIME_to_tm(na, &tm) != 1) {
		ss_log_warn(diag, "cannot read the expiry of the certificate in %s", path);
		return 0;
	}
	int64_t t = (int64_t)timegm(&tm);
	if (X509_cmp_current_time(na) < 0)
		ss_log_warn(diag, "the certificate in %s expired at %04d-%02d-%02dT%02d:%02d:%02dZ: "
				  "clients will refuse it", path, tm.tm_year + 1900, tm.tm_mon + 1,
			    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return t;
}

/* The session-resumption context: OpenSSL refuses to resume a session
 * that verified a client certificate without one. */
static const unsigned char session_ctx[] = "statestored";

static int setup_ctx(SSL_CTX *ctx, const struct ss_tls_files *f, const struct ss_diag *diag)
{
	char why[256];

	/* TLS 1.2 and 1.3, OpenSSL's default ciphers; no renegotiation, no
	 * compression. A peer that closes without close_notify is a peer
	 * that closed: each request is framed, so a truncated one is just
	 * incomplete. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		ss_log_error(diag, "cannot require TLS 1.2: %s", ssl_reason(why, sizeof(why)));
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Writes behave as write(2): partial counts, and a retried write may
	 * come from a buffer that moved (ss_buf grows and compacts). Idle
	 * connections give back their 34 KiB of record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	/* One read(2) takes what the socket has, not a record's header and
	 * then its body: half the reads of a pipelined client (strace: 0.065
	 * reads a request at -P 16, not 0.13). What it takes beyond a record
	 * waits inside OpenSSL, which tls_pending reports. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_session_id_context(ctx, session_ctx, sizeof(session_ctx) - 1) != 1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert_file) != 1) {
		ss_log_error(diag, "cannot load the TLS certificate from %s: %s", f->cert_file,
			     ssl_reason(why, sizeof(why)));
		return -1;
	}
	/* OpenSSL checks the key against the certificate as it loads it. */
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key_file, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			ss_log_error(diag, "the key in %s does not match the certificate in %s",
				     f->key_file, f->cert_file);
		} else {
			ss_log_error(diag, "cannot load the TLS key from %s: %s", f->key_file,
				     ssl_reason(why, sizeof(why)));
		}
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ss_log_error(diag, "the key in %s does not match the certificate in %s: %s",
			     f->key_file, f->cert_file, ssl_reason(why, sizeof(why)));
		return -1;
	}
	if (f->ca_file && f->ca_file[0]) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->ca_file);
		if (SSL_CTX_load_verify_locations(ctx, f->ca_file, NULL) != 1 || !names) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			ss_log_error(diag, "cannot load the CA certificates from %s: %s", f->ca_file,
				     ssl_reason(why, sizeof(why)));
			return -1;
		}
		/* Tells clients which CAs their certificate must chain to. */
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	int mode = f->auth == SS_TLS_AUTH_YES	   ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
		   : f->auth == SS_TLS_AUTH_OPTIONAL ? SSL_VERIFY_PEER
						     : SSL_VERIFY_NONE;
	SSL_CTX_set_verify(ctx, mode, NULL);
	return 0;
fail:
	ss_log_error(diag, "cannot set up TLS: %s", ssl_reason(why, sizeof(why)));
	return -1;
}

/* A new context from the files, or NULL after logging why. */
static SSL_CTX *make_ctx(const struct ss_tls_files *f, const struct ss_diag *diag,
			 int64_t *not_after)
{
	char why[256];

	if (readable("--tls-cert-file", f->cert_file, diag) < 0 ||
	    readable("--tls-key-file", f->key_file, diag) < 0 ||
	    (f->ca_file && f->ca_file[0] && readable("--tls-ca-cert-file", f->ca_file, diag) < 0))
		return NULL;
	check_key_mode(f->key_file, diag);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ss_log_error(diag, "cannot set up TLS: %s", ssl_reason(why, sizeof(why)));
		return NULL;
	}
	if (setup_ctx(ctx, f, diag) < 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	*not_after = expiry(ctx, f->cert_file, diag);
	ERR_clear_error();
	return ctx;
}

/* ---- what a handshake learns ------------------------------------------ */

/* The verified client certificate's subject CN into c->peer_cn, or "". A
 * CN that is not one UTF-8 string of at most 64 bytes without NUL (RFC
 * 5280's bound), or a subject with several CNs, gives "": a name the ACL
 * could read two ways is no name. */
static void learn_peer(struct ss_tls *t, struct ss_conn *c, SSL *ssl)
{
	X509 *x = SSL_get0_peer_certificate(ssl);

	c->peer_cn[0] = '\0';
	if (!x || SSL_get_verify_result(ssl) != X509_V_OK)
		return;
	X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0)
		return;
	if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0) {
		ss_log_info(t->diag, "a client certificate names several CNs: no CN taken");
		return;
	}
	unsigned char *utf8 = NULL;
	int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (len < 0) {
		ERR_clear_error();
		return;
	}
	if ((size_t)len < sizeof(c->peer_cn) && !memchr(utf8, 0, (size_t)len)) {
		memcpy(c->peer_cn, utf8, (size_t)len);
		c->peer_cn[len] = '\0';
	} else {
		ss_log_info(t->diag, "a client certificate's CN is longer than 64 bytes or holds "
				     "a NUL: no CN taken");
	}
	OPENSSL_free(utf8);
}

/* ---- the transport ---------------------------------------------------- */

/* What SSL_get_error says about a call that returned rc <= 0, as the
 * POSIX contract: -1 with EAGAIN and *on the socket event to wait for; 0
 * when the peer closed; -1 with another errno when the connection failed
 * (it is then closed without a close_notify, which OpenSSL forbids after a
 * fatal error). */
static ssize_t failed(struct ss_conn *c, SSL *ssl, int rc, short *on)
{
	int sys = errno; /* the socket call's, for SSL_ERROR_SYSCALL */
	struct ss_tls *t = c->tp->arg;
	int err = SSL_get_error(ssl, rc);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		*on = EV_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*on = EV_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (!c->handshaking)
			return 0;
		break;
	case SSL_ERROR_SYSCALL:
		if (sys == EINTR) {
			errno = EINTR;
			return -1;
		}
		break;
	default:
		break;
	}
	SSL_set_quiet_shutdown(ssl, 1);
	if (c->handshaking) {
		t->st.handshake_failures++;
		/* At info once a second at most, so a scan cannot flood the
		 * log; every one at debug. */
		double now = ev_now(c->loop);
		enum ss_level lvl = now - t->failure_logged >= 1.0 ? SS_INFO : SS_DEBUG;
		if (lvl == SS_INFO)
			t->failure_logged = now;
		if (lvl >= t->diag->level) {
			char why[256], addr[64];
			ss_peer_name(c->fd, addr, sizeof(addr));
			if (err == SSL_ERROR_SSL)
				ssl_reason(why, sizeof(why));
			else
				snprintf(why, sizeof(why), "%s",
					 err == SSL_ERROR_SYSCALL && sys ? strerror(sys)
									 : "the client closed the connection");
			ss_diag_log(t->diag, lvl, NULL, 0, "TLS handshake with %s failed: %s", addr, why);
		}
	}
	ERR_clear_error();
	errno = err == SSL_ERROR_SYSCALL && sys ? sys : ECONNRESET;
	return -1;
}

/* Goes on with the handshake. 1 once it is complete, else failed()'s
 * answer. */
static ssize_t handshake(struct ss_conn *c, SSL *ssl, short *on)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(ssl);
	if (rc != 1)
		return failed(c, ssl, rc, on);
	struct ss_tls *t = c->tp->arg;
	c->handshaking = 0;
	c->read_on = EV_READ;
	c->write_on = EV_WRITE;
	t->st.handshakes++;
	learn_peer(t, c, ssl);
	return 1;
}

/* OpenSSL's info callback, which sees each alert we send: a no_renegotiation
 * alert is a client's renegotiation refused (SSL_OP_NO_RENEGOTIATION). */
static void on_info(const SSL *ssl, int where, int ret)
{
	if ((where & SSL_CB_WRITE_ALERT) && (ret & 0xff) == SSL_AD_NO_RENEGOTIATION) {
		struct ss_tls *t = SSL_get_app_data(ssl);
		t->st.renegotiations_refused++;
		ss_log_debug(t->diag, "a TLS client asked to renegotiate: refused");
	}
}

static int tls_open(const struct ss_transport *tp, struct ss_conn *c)
{
	struct ss_tls *t = tp->arg;
	SSL *ssl = SSL_new(t->ctx);

	if (!ssl || SSL_set_fd(ssl, c->fd) != 1 || SSL_set_app_data(ssl, t) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		errno = ENOMEM;
		return -1;
	}
	SSL_set_info_callback(ssl, on_info);
	SSL_set_accept_state(ssl);
	c->tp_state = ssl;
	c->handshaking = 1;
	c->peer_cn[0] = '\0';
	return 0;
}

static int clamp(size_t n) { return n > INT_MAX ? INT_MAX : (int)n; }

static ssize_t tls_read(struct ss_conn *c, void *buf, size_t n)
{
	SSL *ssl = c->tp_state;
	ssize_t rc;

	if (c->handshaking && (rc = handshake(c, ssl, &c->read_on)) != 1)
		return rc;
	ERR_clear_error();
	int got = SSL_read(ssl, buf, clamp(n));
	if (got > 0) {
		c->read_on = EV_READ;
		return got;
	}
	return failed(c, ssl, got, &c->read_on);
}

static ssize_t tls_write(struct ss_conn *c, const void *buf, size_t n)
{
	SSL *ssl = c->tp_state;
	ssize_t rc;

	if (c->handshaking && (rc = handshake(c, ssl, &c->write_on)) != 1)
		return rc;
	ERR_clear_error();
	int put = SSL_write(ssl, buf, clamp(n));
	if (put > 0) {
		c->write_on = EV_WRITE;
		return put;
	}
	return failed(c, ssl, put, &c->write_on);
}

/* Decrypted bytes not yet read (SSL_pending), or, with read-ahead, bytes
 * read from the socket and not yet decrypted (SSL_has_pending: a whole
 * record, or part of one; a read then finds out which, at the cost of one
 * read(2) that returns EAGAIN). */
static size_t tls_pending(const struct ss_conn *c)
{
	SSL *ssl = c->tp_state;

	if (!ssl || !SSL_has_pending(ssl))
		return 0;
	int n = SSL_pending(ssl);
	return n > 0 ? (size_t)n : 1;
}

static void tls_close(struct ss_conn *c)
{
	SSL *ssl = c->tp_state;

	if (ssl) {
		/* One non-blocking close_notify, best effort; none after a
		 * failure or before the handshake completed. */
		if (!c->handshaking) {
			ERR_clear_error();
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		ERR_clear_error();
	}
	close(c->fd);
}

/* A TLS client can be told nothing before a handshake, and a handshake
 * is the cost an overload must not pay: the connection is just closed. */
static int tls_refuse(int fd, const char *msg, size_t n)
{
	(void)msg;
	(void)n;
	close(fd);
	return 0;
}

static const struct ss_transport tls_transport = {
	.name = "tls",
	.open = tls_open,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.close = tls_close,
	.refuse = tls_refuse,
};

/* ---- the TLS side ----------------------------------------------------- */

struct ss_tls *ss_tls_new(const struct ss_tls_files *files, const struct ss_diag *diag)
{
	struct ss_tls *t = calloc(1, sizeof(*t));

	if (!t) {
		ss_log_error(diag, "out of memory setting up TLS");
		return NULL;
	}
	t->files = *files;
	t->diag = diag;
	t->tp = tls_transport;
	t->tp.arg = t;
	t->failure_logged = -1e9;
	t->ctx = make_ctx(files, diag, &t->st.not_after);
	if (!t->ctx) {
		free(t);
		return NULL;
	}
	return t;
}

void ss_tls_free(struct ss_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

const struct ss_transport *ss_tls_transport(const struct ss_tls *t) { return &t->tp; }

const struct ss_tls_stats *ss_tls_stats(const struct ss_tls *t) { return &t->st; }

int ss_tls_reload(struct ss_tls *t)
{
	int64_t not_after = 0;
	SSL_CTX *ctx = make_ctx(&t->files, t->diag, &not_after);

	if (!ctx) {
		t->st.reload_failures++;
		ss_log_error(t->diag, "TLS reload failed: new connections keep the certificate "
				      "from before");
		return -1;
	}
	/* Connections open now hold a reference to the old context and keep
	 * it until they close. */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	t->st.not_after = not_after;
	t->st.reloads++;
	ss_log_notice(t->diag, "TLS certificate reloaded from %s: new connections use it; "
			       "those open keep theirs", t->files.cert_file);
	return 0;
}
