"""TLS for the tests and scripts, with the openssl command.

Certificates made at test time (never committed): a CA, server and client
certificates it signs, expired ones. EC P-256 keys: fast to make.

    pki = tlstools.Pki(tmpdir)
    pki.server          # Cert(crt, key) for CN=localhost, SAN localhost, 127.0.0.1
    pki.issue("etl-a")  # a client certificate, CN etl-a, signed by the CA

And a renegotiation, which no Python client can ask for: openssl s_client's
"R" (renegotiate).
"""
import collections
import os
import subprocess

from . import debian

Cert = collections.namedtuple("Cert", "crt key")


def openssl(*args):
    """Runs the openssl command; raises with its stderr if it fails."""
    r = subprocess.run([debian.need("openssl", "openssl")] + list(args), capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))
    return r.stdout


class Pki:
    """A CA in dir, and the certificates it issues there."""

    def __init__(self, dir, name="ca"):
        self.dir = dir
        self.name = name
        self.ca = self._path(name)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.ca.key, "-out", self.ca.crt, "-days", "2",
                "-subj", "/CN=statestored test %s" % name)
        self.serial = 1
        self.server = self.issue("localhost", server=True)

    def _path(self, base):
        return Cert(os.path.join(self.dir, base + ".crt"), os.path.join(self.dir, base + ".key"))

    def issue(self, cn, server=False, days=2, base=None):
        """A certificate for cn signed by this CA (days -1: expired a day
        ago); a server one names localhost and 127.0.0.1."""
        base = base or "%s-%s-%d" % (self.name, cn.replace(" ", "_"), self.serial)
        cert = self._path(base)
        csr = os.path.join(self.dir, base + ".csr")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", cert.key, "-out", csr, "-subj", "/CN=" + cn)
        ext = os.path.join(self.dir, base + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write("extendedKeyUsage=%s\n" % ("serverAuth" if server else "clientAuth"))
            if server:
                f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca.crt, "-CAkey", self.ca.key,
                "-set_serial", str(self.serial), "-out", cert.crt, "-days", str(days),
                "-extfile", ext)
        self.serial += 1
        os.chmod(cert.key, 0o600)
        return cert


def serial_of(pem):
    """The serial number (hex text) of a PEM certificate, given as text."""
    r = subprocess.run([debian.need("openssl", "openssl"), "x509", "-noout", "-serial"],
                       input=pem, capture_output=True, text=True, timeout=60)
    return r.stdout.strip().split("=", 1)[1]


def renegotiate(port, ca, request, expect, timeout=20):
    """openssl s_client over TLS 1.2 (1.3 has no renegotiation): sends the
    request line, waits for the reply expect, then asks to renegotiate ("R"
    on a line, in a read of its own). Returns (whether expect came, what
    s_client printed after it, its exit code)."""
    p = subprocess.Popen([debian.need("openssl", "openssl"), "s_client", "-connect",
                          "127.0.0.1:%d" % port, "-CAfile", ca, "-tls1_2"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    replied = False
    try:
        p.stdin.write(request + "\n")
        p.stdin.flush()
        for line in p.stdout:  # the session's description, then the reply
            if line == expect + "\n":
                replied = True
                break
        p.stdin.write("R\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return replied, out, p.returncode
