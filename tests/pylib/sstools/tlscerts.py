"""Test certificates, made at test time with the openssl command (never
committed): a CA, server and client certificates it signs, expired ones,
and a second CA that nobody trusts. EC P-256 keys: fast to make.

    pki = tlscerts.Pki(tmpdir)
    pki.server          # Cert(crt, key) for CN=localhost, SAN localhost, 127.0.0.1
    pki.issue("etl-a")  # a client certificate, CN etl-a, signed by the CA
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
