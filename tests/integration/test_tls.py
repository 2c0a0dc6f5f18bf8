"""TLS (--tls-port and friends, net/tls.c) with real clients nobody here
wrote, and its failures, each a clean refusal after which the daemon still
serves:

  TestClients     openssl s_client and Python's ssl module speaking the text
                  protocol; redis-cli --tls (--cacert; --cert/--key for
                  mutual TLS); redis-py with ssl=True; TLS 1.1 refused
  TestRefusals    an expired server certificate, a server the client's CA
                  did not sign, an expired client certificate, one from an
                  unknown CA, none when --tls-auth-clients yes, a plaintext
                  client on the TLS port, a TLS client on the plain port, a
                  renegotiation
  TestRotation    SIGHUP: a new connection gets the new certificate while an
                  open one goes on; a key that does not match keeps the old
  TestStartup     what is checked before serving: exit 2 for options that
                  need one another, exit 1 for files that are wrong;
                  --port none serves TLS only; both ports count in
                  --max-clients
  TestMetricsTls  --metrics-tls: /metrics over HTTPS, read with urllib

The certificates are made once for the module by openssl (sstools.tlstools)
in a temp dir, removed at the end.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest
import urllib.request

from sstools import debian, harness, tlstools
from sstools.client import Client
from sstools.harness import DaemonTestCase, wait_until

redis = debian.import_module("redis")
PKI = None      # the CA the daemon trusts, its server and client certificates
OTHER = None    # a CA nobody trusts
TMP = None


def setUpModule():
    global PKI, OTHER, TMP
    TMP = tempfile.mkdtemp(prefix="ss-tls-")
    PKI = tlstools.Pki(TMP, "ca")
    OTHER = tlstools.Pki(TMP, "other")


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def tls_args(server=None, auth="no", ca=True):
    server = server or PKI.server
    args = ["--tls-port", "0", "--tls-cert-file", server.crt, "--tls-key-file", server.key,
            "--tls-auth-clients", auth]
    return args + (["--tls-ca-cert-file", PKI.ca.crt] if ca else [])


def tls_port(d):
    if d.tls_port is None:
        raise AssertionError("no TLS port in the log: " + d.log())
    return d.tls_port


def context(ca=None, cert=None, maximum=None):
    """Python's ssl client context: trusting ca (ours by default), with a
    client certificate if given."""
    ctx = ssl.create_default_context(cafile=(ca or PKI.ca).crt)
    if cert:
        ctx.load_cert_chain(cert.crt, cert.key)
    if maximum:
        ctx.maximum_version = maximum
    return ctx


class TlsCase(DaemonTestCase):
    AUTH = "optional"

    @property
    def DAEMON_ARGS(self):
        return tls_args(auth=self.AUTH)

    def setUp(self):
        super().setUp()
        if self.d is not None:
            self.tport = tls_port(self.d)

    def tls(self, ctx=None, port=None, d=None):
        c = Client(port or self.tport, timeout=10, tls=ctx or context())
        self.clients.append(c)
        return c

    def stats(self):
        """STATS over the plain port."""
        with Client(self.d.port, timeout=10) as c:
            return {k: int(v) for k, v in c.stats().items() if k.startswith("tls_")}

    def assert_serves(self, port=None):
        """The daemon still answers, over TLS and in plain."""
        self.assertEqual(self.tls(port=port).cmd("SET_CHECKPOINT ok:after v"), "OK")
        with Client(self.d.port, timeout=10) as c:
            self.assertEqual(c.cmd("GET_CHECKPOINT ok:after"), "v")

    def plain_stats(self):
        with Client(self.d.port, timeout=10) as c:
            return {k: int(v) for k, v in c.stats().items() if v.isdigit()}

    def s_client(self, *args, stdin="", port=None):
        openssl = debian.need("openssl", "openssl")
        return subprocess.run([openssl, "s_client", "-connect", "127.0.0.1:%d" % (port or self.tport),
                               "-servername", "localhost", "-verify_return_error"] + list(args),
                              input=stdin, capture_output=True, text=True, timeout=20)


class TestClients(TlsCase):
    def test_openssl_s_client_speaks_the_text_protocol(self):
        r = self.s_client("-CAfile", PKI.ca.crt, "-quiet", "-verify_hostname", "localhost",
                          stdin="SET_CHECKPOINT s:a hello\nGET_CHECKPOINT s:a\nQUIT\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), ["OK", "hello", "OK"])

    def test_python_ssl_text_protocol_at_tls_1_2_or_later(self):
        c = self.tls()
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(c.cmd("SET_CHECKPOINT py:a 1"), "OK")
        self.assertEqual(c.cmd("GET_CHECKPOINT py:a"), "1")
        c12 = self.tls(context(maximum=ssl.TLSVersion.TLSv1_2))
        self.assertEqual(c12.sock.version(), "TLSv1.2")
        self.assertEqual(c12.cmd("GET_CHECKPOINT py:a"), "1")
        # TLS 1.1 is refused by the server (a client that allows it: the
        # refusal is ours, not the client's default).
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(PKI.ca.crt)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
        with self.assertRaises(ssl.SSLError):
            self.tls(old)
        self.assert_serves()

    def test_records_larger_than_the_room_for_them_are_read_to_the_end(self):
        # With --max-line 1024 a connection takes at most 1 KiB at a time,
        # and a TLS record holds up to 16 KiB: the rest waits decrypted
        # inside OpenSSL, where the socket does not announce it. 300
        # requests in one write are about 20 records; the last one's bytes
        # arrive with nothing after them to wake the loop.
        d = self.new_daemon(args=tls_args() + ["--max-line", "1024"]).start()
        c = self.tls(port=tls_port(d))
        c.send("".join("SET_CHECKPOINT room:%d %s\n" % (i, "v" * 900) for i in range(300)))
        self.assertEqual(c.readlines(300), ["OK"] * 300)
        c.send("".join("GET_CHECKPOINT room:%d\n" % i for i in range(300)))
        self.assertEqual(c.readlines(300), ["v" * 900] * 300)

    def test_redis_cli_tls_with_cacert_and_with_a_client_certificate(self):
        cli = debian.need("redis-cli", "redis-tools")
        base = [cli, "--tls", "--cacert", PKI.ca.crt, "-p", str(self.tport)]
        r = subprocess.run(base + ["SET", "rc:a", "v"], capture_output=True, text=True, timeout=20)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "OK\n", ""))
        client = PKI.issue("etl-a")
        r = subprocess.run(base + ["--cert", client.crt, "--key", client.key, "GET", "rc:a"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "v\n", ""))

    def test_redis_py_with_ssl(self):
        if redis is None:
            raise AssertionError("redis-py not found: install python3-redis (scripts/deps.sh)")
        client = PKI.issue("etl-b")
        for extra in ({}, {"ssl_certfile": client.crt, "ssl_keyfile": client.key}):
            r = redis.Redis(host="127.0.0.1", port=self.tport, ssl=True,
                            ssl_ca_certs=PKI.ca.crt, ssl_cert_reqs="required",
                            socket_timeout=10, **extra)
            try:
                self.assertTrue(r.set("py:k", b"\x00\xffbinary"))
                self.assertEqual(r.get("py:k"), b"\x00\xffbinary")
                pipe = r.pipeline(transaction=False)
                for i in range(100):
                    pipe.set("py:p%d" % i, i)
                self.assertEqual(pipe.execute(), [True] * 100)
            finally:
                r.close()
        self.assertGreaterEqual(self.stats()["tls_handshakes"], 2)


class TestRefusals(TlsCase):
    def assert_refused_by_server(self, ctx, port=None):
        """The server ends the handshake (TLS 1.3 tells the client after its
        Finished: the refusal shows at the first read)."""
        try:
            c = self.tls(ctx, port=port)
            c.send("GET_CHECKPOINT x\n")
            reply = c.readline()
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            reply = None
        self.assertIsNone(reply)

    def test_an_expired_server_certificate_is_refused_by_the_client(self):
        expired = PKI.issue("localhost", server=True, days=-1)
        d = self.new_daemon(args=tls_args(expired)).start()
        self.assertIn("expired", d.log())
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            self.tls(port=tls_port(d))
        self.assertIn("certificate has expired", str(cm.exception))
        r = self.s_client("-CAfile", PKI.ca.crt, port=tls_port(d))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate has expired", r.stdout + r.stderr)
        with Client(d.port, timeout=10) as c:  # the client refused; the daemon serves on
            self.assertEqual(c.cmd("SET_CHECKPOINT exp:a 1"), "OK")

    def test_a_server_the_clients_ca_did_not_sign_is_refused_by_the_client(self):
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            self.tls(context(ca=OTHER.ca))
        self.assertIn("certificate verify failed", str(cm.exception))
        self.assert_serves()

    def test_client_certificates_expired_or_from_another_ca_are_refused(self):
        before = self.stats()["tls_handshake_failures"]
        self.assert_refused_by_server(context(cert=PKI.issue("old", days=-1)))
        self.assert_refused_by_server(context(cert=OTHER.issue("stranger")))
        self.assertEqual(self.stats()["tls_handshake_failures"], before + 2)
        self.assertTrue(self.d.wait_log(r"TLS handshake with 127\.0\.0\.1:\d+ failed: "
                                        r"certificate verify failed", timeout=10))
        self.assert_serves()

    def test_no_client_certificate_when_one_is_required(self):
        d = self.new_daemon(args=tls_args(auth="yes")).start()
        port = tls_port(d)
        self.assert_refused_by_server(context(), port=port)
        self.assertTrue(d.wait_log(r"failed: peer did not return a certificate", timeout=10))
        cli = debian.need("redis-cli", "redis-tools")
        r = subprocess.run([cli, "--tls", "--cacert", PKI.ca.crt, "-p", str(port), "PING"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.stdout, "PONG\n")
        c = self.tls(context(cert=PKI.issue("etl-a")), port=port)
        self.assertEqual(c.cmd("SET_CHECKPOINT mtls:a 1"), "OK")

    def test_a_plaintext_client_on_the_tls_port_is_closed_without_a_reply(self):
        with socket.create_connection(("127.0.0.1", self.tport), timeout=10) as s:
            s.sendall(b"GET_CHECKPOINT x\n" * 100)
            got = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionResetError:
                pass
        # At most a TLS alert record (content type 21), never a reply.
        self.assertTrue(got == b"" or got[0] == 21, got[:64])
        self.assertTrue(self.d.wait_log(r"TLS handshake with .* failed: "
                                        r"(http request|wrong version number|"
                                        r"unsupported protocol|packet length too long)",
                                        timeout=10), self.d.log())
        self.assert_serves()

    def test_a_tls_client_on_the_plain_port_fails_its_handshake(self):
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            self.tls(port=self.d.port)
        # Closed at its first byte, not answered with error lines: counted
        # and logged.
        wait_until(lambda: self.plain_stats()["tls_on_plain_port"] == 1, timeout=10)
        self.assertTrue(self.d.wait_log(r"a TLS handshake on the plain port; closed", timeout=10))
        self.assert_serves()

    def test_a_renegotiation_is_refused(self):
        replied, out, code = tlstools.renegotiate(self.tport, PKI.ca.crt,
                                                  "SET_CHECKPOINT reneg:a 1", "OK")
        self.assertTrue(replied, out)
        self.assertIn("RENEGOTIATING", out)
        self.assertIn("no renegotiation", out)
        self.assertNotEqual(code, 0)
        self.assertEqual(self.stats()["tls_renegotiations_refused"], 1)
        self.assert_serves()


class TestRotation(TlsCase):
    AUTH = "no"

    def setUp(self):
        # The daemon reads the files at these paths again on SIGHUP.
        self.dir = tempfile.mkdtemp(prefix="ss-tls-rot-", dir=TMP)
        self.cert = tlstools.Cert(os.path.join(self.dir, "s.crt"), os.path.join(self.dir, "s.key"))
        self.install(PKI.server)
        super().setUp()

    @property
    def DAEMON_ARGS(self):
        return tls_args(self.cert, auth="no", ca=False)

    def install(self, cert):
        for src, dst in zip(cert, self.cert):
            shutil.copyfile(src, dst + ".new")
            os.chmod(dst + ".new", 0o600)
            os.replace(dst + ".new", dst)  # as a deploy would: never half a file

    def serial(self, c):
        return tlstools.serial_of(ssl.DER_cert_to_PEM_cert(c.sock.getpeercert(binary_form=True)))

    def sighup(self, pattern):
        start = len(self.d.stderr_lines)
        self.d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.d.wait_log(pattern, timeout=10, start=start), self.d.log())

    def test_sighup_gives_new_connections_the_new_certificate_and_old_ones_go_on(self):
        old = self.tls()
        self.assertEqual(old.cmd("SET_CHECKPOINT rot:a 1"), "OK")
        first = self.serial(old)
        fresh = PKI.issue("localhost", server=True)
        self.install(fresh)
        self.sighup(r"TLS certificate reloaded")
        new = self.tls()
        self.assertNotEqual(self.serial(new), first)
        with open(fresh.crt) as f:
            self.assertEqual(self.serial(new), tlstools.serial_of(f.read()))
        self.assertEqual(new.cmd("GET_CHECKPOINT rot:a"), "1")
        self.assertEqual(old.cmd("SET_CHECKPOINT rot:a 2"), "OK")  # the old session goes on
        self.assertEqual(self.serial(old), first)
        self.assertEqual(self.stats()["tls_reloads"], 1)

    def test_a_bad_pair_on_sighup_keeps_the_old_certificate(self):
        first = self.serial(self.tls())
        other = PKI.issue("localhost", server=True)
        shutil.copyfile(other.key, self.cert.key)  # the key of another certificate
        self.sighup(r"does not match the certificate")
        self.assertTrue(self.d.wait_log(r"TLS reload failed: new connections keep", timeout=10))
        c = self.tls()
        self.assertEqual(self.serial(c), first)
        self.assertEqual(c.cmd("SET_CHECKPOINT rot:b 1"), "OK")
        os.unlink(self.cert.crt)  # a missing file: the same
        self.sighup(r"cannot read --tls-cert-file .*No such file")
        self.assertEqual(self.serial(self.tls()), first)
        st = self.stats()
        self.assertEqual((st["tls_reloads"], st["tls_reload_failures"]), (0, 2))


class TestStartup(TlsCase):
    AUTOSTART = False

    def run_daemon(self, *args):
        d = tempfile.mkdtemp(dir=TMP)
        return harness.run_binary(["-p", "0", "-d", d] + list(args), timeout=30)

    def test_options_that_need_one_another_exit_2(self):
        cases = [
            (["--tls-port", "0"], "--tls-port needs --tls-cert-file and --tls-key-file"),
            (["--port", "none"], "--port none needs --tls-port"),
            (tls_args(auth="yes", ca=False), "--tls-auth-clients yes needs --tls-ca-cert-file"),
            (["--metrics-tls"], "--metrics-tls needs --metrics"),
            (["--tls-port", "zero"], "want a port from 0 to 65535, or none"),
            (["--tls-auth-clients", "maybe"], "want no, optional or yes"),
        ]
        for args, why in cases:
            r = self.run_daemon(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(why, r.stderr)

    def test_files_that_are_wrong_exit_1_and_say_which(self):
        other = PKI.issue("localhost", server=True)
        garbage = os.path.join(TMP, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        cases = [
            (tls_args(tlstools.Cert("/nonexistent/s.crt", PKI.server.key)),
             "cannot read --tls-cert-file /nonexistent/s.crt: No such file or directory"),
            (tls_args(tlstools.Cert(PKI.server.crt, other.key)),
             "the key in %s does not match the certificate in %s" % (other.key, PKI.server.crt)),
            (tls_args(tlstools.Cert(garbage, PKI.server.key)),
             "cannot load the TLS certificate from %s" % garbage),
        ]
        for args, why in cases:
            r = self.run_daemon(*args)
            self.assertEqual(r.returncode, 1, (args, r.stderr))
            self.assertIn(why, r.stderr)
            self.assertNotIn("listening on", r.stderr)

    def test_port_none_serves_tls_only(self):
        d = self.new_daemon(args=["--port", "none"] + tls_args()).start(port=0)
        # -p 0 comes first on the harness's command line; --port none wins.
        self.assertIn("TLS only", d.log())
        port = tls_port(d)
        c = self.tls(port=port)
        self.assertEqual(c.config_get("port"), {"port": "none"})
        self.assertEqual(c.config_get("tls-port"), {"tls-port": str(port)})

    def test_both_ports_count_in_max_clients(self):
        d = self.new_daemon(args=["--max-clients", "2"] + tls_args()).start()
        self.d = d
        port = tls_port(d)
        a = self.tls(port=port)
        b = self.connect(d)
        self.assertEqual(a.cmd("GET_CHECKPOINT none"), "NULL")
        self.assertEqual(b.cmd("GET_CHECKPOINT none"), "NULL")
        # The third, on either port, is turned away: a plain one is told.
        with Client(d.port, timeout=10) as c:
            self.assertEqual(c.readline(), "ERR max clients reached")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)):
            t = self.tls(port=port)
            t.send("GET_CHECKPOINT none\n")
            if t.readline() is None:
                raise ConnectionResetError("closed")
        a.close()
        wait_until(lambda: b.stats()["clients"] == "1", timeout=10)
        self.assertEqual(self.tls(port=port).cmd("GET_CHECKPOINT none"), "NULL")


class TestCertificateUsers(TlsCase):
    """With users (--acl-file), a verified client certificate whose CN
    names a user authenticates the connection as that user; any other
    connection must AUTH."""
    AUTOSTART = False

    def test_a_certificate_whose_cn_names_a_user_is_that_user(self):
        from sstools import acl
        users = os.path.join(TMP, "cn.acl")
        acl.write_file(users, "etl-a %s read,write a/*\nroot %s read,write,admin *\n"
                       % (acl.scrypt_hash("pa"), acl.scrypt_hash("pr")))
        self.d = self.new_daemon(args=tls_args(auth="optional") + ["--acl-file", users]).start()
        port = tls_port(self.d)
        named = self.tls(ctx=context(cert=PKI.issue("etl-a")), port=port)
        self.assertEqual(named.cmd("SET_CHECKPOINT a/x 1"), "OK")
        self.assertEqual(named.cmd("SET_CHECKPOINT b/x 1"),
                         "ERR NOPERM no permissions to access a name outside your namespaces")
        # RESET (a RESP command) ends it, as it ends an AUTH.
        named.send("*1\r\n$5\r\nRESET\r\n")
        self.assertEqual(named.readline().rstrip("\r"), "+RESET")
        self.assertTrue(named.cmd("GET_CHECKPOINT a/x").startswith("ERR NOAUTH"))
        # A CN that names nobody, and no certificate: AUTH first.
        stranger = self.tls(ctx=context(cert=PKI.issue("nobody")), port=port)
        self.assertTrue(stranger.cmd("GET_CHECKPOINT a/x").startswith("ERR NOAUTH"))
        plain = self.tls(port=port)
        self.assertTrue(plain.cmd("GET_CHECKPOINT a/x").startswith("ERR NOAUTH"))
        self.assertEqual(plain.cmd("AUTH root pr"), "OK")
        self.assertEqual(plain.cmd("GET_CHECKPOINT a/x"), "1")

    def test_protected_mode_counts_client_certificates_on_a_tls_only_port(self):
        args = ["--bind", "0.0.0.0", "--port", "none"] + tls_args(auth="yes")
        self.d = self.new_daemon(args=args).start(port=0)
        c = self.tls(ctx=context(cert=PKI.issue("anyone")), port=tls_port(self.d))
        self.assertEqual(c.cmd("PING"), "PONG")
        d = tempfile.mkdtemp(dir=TMP)
        r = harness.run_binary(["-p", "0", "-d", d, "--bind", "0.0.0.0"] + tls_args(auth="yes"),
                               timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)  # the plain port would be open
        self.assertIn("protected mode", r.stderr)


class TestMetricsTls(TlsCase):
    AUTOSTART = False

    def test_metrics_over_https(self):
        d = self.new_daemon(args=["--metrics", "127.0.0.1:0", "--metrics-tls"] +
                            tls_args(auth="no")).start()
        m = re.search(r"metrics over HTTPS at \S+, port (\d+)", d.log())
        self.assertIsNotNone(m, d.log())
        url = "https://localhost:%s/metrics" % m.group(1)
        with urllib.request.urlopen(url, context=context(), timeout=10) as r:
            body = r.read().decode()
        self.assertEqual(r.status, 200)
        self.assertRegex(body, r"(?m)^statestored_tls_handshakes_total [1-9]")
        self.assertRegex(body, r"(?m)^statestored_tls_certificate_expiry_timestamp_seconds \d")
        promtool = debian.need("promtool", "prometheus")
        chk = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)
        # Plain HTTP on the HTTPS port gets no metrics.
        with self.assertRaises(Exception):
            urllib.request.urlopen(url.replace("https", "http"), timeout=10).read()


if __name__ == "__main__":
    unittest.main()
