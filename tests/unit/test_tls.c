/*
 * test_tls.c - the TLS transport (net/tls.h) under a connection (net/conn.h),
 * on a real loop over a socketpair, against an OpenSSL client driven step by
 * step in the same thread. The certificates are made in memory here (EC
 * P-256), written to a temp dir as the daemon's files would be.
 *
 * What only a unit test can see: the handshaking flag and peer_cn, exactly
 * when they change; bytes OpenSSL holds decrypted when the owner's room is
 * smaller than a record (the socket will not announce them again); a reply
 * larger than the socket buffer written in parts from a buffer that moves.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/diag.h"
#include "net/conn.h"
#include "net/tls.h"
#include "sstest.h"

/* ---- certificates in memory ------------------------------------------- */

struct pem {
	X509 *crt;
	EVP_PKEY *key;
};

static long serial = 1;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for the CNs (one or two), signed by ca (NULL: self-signed,
 * a CA). */
static struct pem make_cert(const struct pem *ca, const char *cn, const char *cn2)
{
	struct pem p = {X509_new(), EVP_EC_gen("P-256")};

	assert_non_null(p.crt);
	assert_non_null(p.key);
	X509_set_version(p.crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(p.crt), serial++);
	X509_gmtime_adj(X509_getm_notBefore(p.crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(p.crt), 86400);
	X509_set_pubkey(p.crt, p.key);
	X509_NAME *n = X509_get_subject_name(p.crt);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	if (cn2)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn2, -1,
					   -1, 0);
	X509_set_issuer_name(p.crt, ca ? X509_get_subject_name(ca->crt) : n);
	add_ext(p.crt, ca ? ca->crt : p.crt, NID_basic_constraints, ca ? "CA:FALSE" : "critical,CA:TRUE");
	assert_true(X509_sign(p.crt, ca ? ca->key : p.key, EVP_sha256()) > 0);
	return p;
}

static void pem_free(struct pem *p)
{
	X509_free(p->crt);
	EVP_PKEY_free(p->key);
}

static char *write_pem(const char *dir, const char *name, X509 *crt, EVP_PKEY *key)
{
	char *path = sstest_path(dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(crt ? PEM_write_X509(f, crt)
			     : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL),
			 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* ---- a connection and its owner ---------------------------------------- */

struct fixture {
	char *dir;
	struct pem ca, server, client, twice;
	char *ca_file, *crt_file, *key_file;
	struct ss_diag diag;
	struct ss_tls *tls;
	struct ev_loop *loop;
	int sv[2];
	struct ss_buf in, out;
	struct ss_conn conn;
	size_t room; /* what the owner takes at a time */
	int hangups, errors;
	SSL_CTX *cctx;
	SSL *cl;
};

static size_t owner_room(void *arg)
{
	struct fixture *f = arg;
	return f->hangups ? 0 : f->room;
}

/* As the server's owners do: run, then flush (which updates the watchers). */
static void owner_input(struct ss_conn *c, void *arg)
{
	(void)arg;
	ss_conn_flush(c);
}

static void owner_hangup(void *arg, int error)
{
	struct fixture *f = arg;
	f->hangups++;
	f->errors += error;
}

static int owner_done(void *arg)
{
	(void)arg;
	return 0;
}

static void owner_nothing(void *arg) { (void)arg; }

static const struct ss_conn_owner owner = {
	.out_high = 1u << 30,
	.room = owner_room,
	.input = owner_input,
	.hangup = owner_hangup,
	.done = owner_done,
	.sent = owner_nothing,
	.closed = owner_nothing,
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.dir = sstest_tmpdir();
	f.ca = make_cert(NULL, "test CA", NULL);
	f.server = make_cert(&f.ca, "localhost", NULL);
	f.client = make_cert(&f.ca, "etl-a", NULL);
	f.twice = make_cert(&f.ca, "etl-a", "admin");
	f.ca_file = write_pem(f.dir, "ca.crt", f.ca.crt, NULL);
	f.crt_file = write_pem(f.dir, "s.crt", f.server.crt, NULL);
	f.key_file = write_pem(f.dir, "s.key", NULL, f.server.key);
	f.diag = (struct ss_diag){.level = SS_ERROR, .out = stderr};
	struct ss_tls_files files = {.cert_file = f.crt_file, .key_file = f.key_file,
				     .ca_file = f.ca_file, .auth = SS_TLS_AUTH_OPTIONAL};
	f.tls = ss_tls_new(&files, &f.diag);
	assert_non_null(f.tls);
	f.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f.loop);
	f.room = 65536;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ss_conn_close(&f->conn);
	SSL_free(f->cl);
	SSL_CTX_free(f->cctx);
	close(f->sv[1]);
	ss_buf_free(&f->in);
	ss_buf_free(&f->out);
	ss_tls_free(f->tls);
	ev_loop_destroy(f->loop);
	pem_free(&f->ca);
	pem_free(&f->server);
	pem_free(&f->client);
	pem_free(&f->twice);
	sstest_rmdir(f->dir);
	free(f->dir);
	free(f->ca_file);
	free(f->crt_file);
	free(f->key_file);
	return 0;
}

/* A connection over a socketpair, and a client on its other end that
 * trusts the CA and presents cert (NULL: none). */
static void connect_client(struct fixture *f, const struct pem *cert)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->sv), 0);
	ss_buf_init(&f->in);
	ss_buf_init(&f->out);
	assert_int_equal(ss_conn_init(&f->conn, f->loop, f->sv[0], ss_tls_transport(f->tls), &f->in,
				      &f->out, &owner, f),
			 0);
	f->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(f->cctx);
	assert_int_equal(SSL_CTX_load_verify_locations(f->cctx, f->ca_file, NULL), 1);
	SSL_CTX_set_verify(f->cctx, SSL_VERIFY_PEER, NULL);
	if (cert) {
		assert_int_equal(SSL_CTX_use_certificate(f->cctx, cert->crt), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(f->cctx, cert->key), 1);
	}
	f->cl = SSL_new(f->cctx);
	assert_non_null(f->cl);
	SSL_set_fd(f->cl, f->sv[1]);
	SSL_set_connect_state(f->cl);
}

/* Runs the client's handshake and the server's loop in turns until both
 * are done. */
static void handshake(struct fixture *f)
{
	int done = 0;

	assert_true(f->conn.handshaking);
	for (int i = 0; i < 1000 && !(done && !f->conn.handshaking); i++) {
		if (!done) {
			int rc = SSL_do_handshake(f->cl);
			if (rc == 1)
				done = 1;
			else
				assert_true(SSL_get_error(f->cl, rc) == SSL_ERROR_WANT_READ ||
					    SSL_get_error(f->cl, rc) == SSL_ERROR_WANT_WRITE);
		}
		/* TLS 1.3: the client is done before the server has read its
		 * Finished; the flag clears only then. */
		ev_run(f->loop, EVRUN_NOWAIT);
	}
	assert_true(done);
	assert_false(f->conn.handshaking);
	assert_int_equal(f->errors, 0);
}

/* ---- tests ------------------------------------------------------------ */

static void a_verified_client_certificate_gives_its_cn_once_the_handshake_is_done(void **state)
{
	struct fixture *f = *state;

	connect_client(f, &f->client);
	assert_string_equal(f->conn.peer_cn, "");
	handshake(f);
	assert_string_equal(f->conn.peer_cn, "etl-a");
	assert_int_equal(ss_tls_stats(f->tls)->handshakes, 1);
	assert_int_equal(ss_tls_stats(f->tls)->handshake_failures, 0);
}

static void no_client_certificate_gives_no_cn(void **state)
{
	struct fixture *f = *state;

	connect_client(f, NULL);
	handshake(f);
	assert_string_equal(f->conn.peer_cn, "");
}

static void a_subject_with_two_cns_gives_no_cn(void **state)
{
	struct fixture *f = *state;

	connect_client(f, &f->twice);
	handshake(f);
	assert_string_equal(f->conn.peer_cn, "");
}

/* The owner takes 7 bytes at a time and the client sends 5000 in one
 * record: OpenSSL reads the whole record from the socket at the first
 * read, and the socket says nothing more. Every byte must still come. */
static void bytes_held_decrypted_are_read_as_the_owner_makes_room(void **state)
{
	struct fixture *f = *state;
	char msg[5000];

	connect_client(f, NULL);
	handshake(f);
	f->room = 7;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 26);
	assert_int_equal(SSL_write(f->cl, msg, sizeof(msg)), (int)sizeof(msg));
	for (int i = 0; i < 10000 && ss_buf_size(&f->in) < sizeof(msg); i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	assert_int_equal(ss_buf_size(&f->in), sizeof(msg));
	assert_memory_equal(ss_buf_head(&f->in), msg, sizeof(msg));
	assert_int_equal(f->hangups, 0);
}

/* Three records sent at once: read-ahead takes them all from the socket
 * at the first read, and the second and third wait in OpenSSL undecrypted
 * (SSL_pending says 0 for them). */
static void records_read_ahead_are_read_as_the_owner_makes_room(void **state)
{
	struct fixture *f = *state;
	char msg[3][3000];

	connect_client(f, NULL);
	handshake(f);
	f->room = 1000;
	for (int r = 0; r < 3; r++) {
		memset(msg[r], 'a' + r, sizeof(msg[r]));
		assert_int_equal(SSL_write(f->cl, msg[r], sizeof(msg[r])), (int)sizeof(msg[r]));
	}
	for (int i = 0; i < 10000 && ss_buf_size(&f->in) < sizeof(msg); i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	assert_int_equal(ss_buf_size(&f->in), sizeof(msg));
	assert_memory_equal(ss_buf_head(&f->in), msg, sizeof(msg));
}

/* 4 MiB of output: far more than the socket buffer, so the writes are
 * partial and wait for EV_WRITE, and the buffer moves as the test appends
 * to it between them. */
static void output_larger_than_the_socket_buffer_arrives_whole(void **state)
{
	struct fixture *f = *state;
	size_t total = 4u << 20, got = 0, sent = 0;
	char chunk[65536];
	static char rbuf[1 << 16];
	unsigned long sum_out = 0, sum_in = 0;

	connect_client(f, NULL);
	handshake(f);
	while (got < total) {
		if (sent < total) {
			for (size_t i = 0; i < sizeof(chunk); i++)
				chunk[i] = (char)((sent + i) * 31 % 251);
			for (size_t i = 0; i < sizeof(chunk); i++)
				sum_out += (unsigned char)chunk[i] * ((sent + i) % 7 + 1);
			assert_int_equal(ss_buf_append(&f->out, chunk, sizeof(chunk)), 0);
			sent += sizeof(chunk);
			assert_int_equal(ss_conn_flush(&f->conn), 0);
		}
		ev_run(f->loop, EVRUN_NOWAIT);
		int n = SSL_read(f->cl, rbuf, sizeof(rbuf));
		if (n <= 0) {
			assert_int_equal(SSL_get_error(f->cl, n), SSL_ERROR_WANT_READ);
			continue;
		}
		for (int i = 0; i < n; i++)
			sum_in += (unsigned char)rbuf[i] * ((got + (size_t)i) % 7 + 1);
		got += (size_t)n;
	}
	assert_int_equal(got, total);
	assert_int_equal(sum_in, sum_out);
	assert_int_equal(ss_buf_size(&f->out), 0);
	assert_int_equal(f->errors, 0);
}

static void plaintext_fails_the_handshake_and_is_counted(void **state)
{
	struct fixture *f = *state;

	connect_client(f, NULL);
	assert_int_equal(write(f->sv[1], "GET_CHECKPOINT x\n", 17), 17);
	for (int i = 0; i < 100 && !f->errors; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	assert_int_equal(f->errors, 1);
	assert_true(f->conn.handshaking); /* it never completed */
	assert_int_equal(ss_tls_stats(f->tls)->handshake_failures, 1);
	ERR_clear_error();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_verified_client_certificate_gives_its_cn_once_the_handshake_is_done, setup,
			teardown),
		cmocka_unit_test_setup_teardown(no_client_certificate_gives_no_cn, setup, teardown),
		cmocka_unit_test_setup_teardown(a_subject_with_two_cns_gives_no_cn, setup, teardown),
		cmocka_unit_test_setup_teardown(bytes_held_decrypted_are_read_as_the_owner_makes_room,
						setup, teardown),
		cmocka_unit_test_setup_teardown(records_read_ahead_are_read_as_the_owner_makes_room,
						setup, teardown),
		cmocka_unit_test_setup_teardown(output_larger_than_the_socket_buffer_arrives_whole,
						setup, teardown),
		cmocka_unit_test_setup_teardown(plaintext_fails_the_handshake_and_is_counted, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
