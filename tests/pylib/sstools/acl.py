"""ACL files for the tests and the load run: scrypt password hashes in the
PHC form the daemon reads ($scrypt$ln=..,r=..,p=..$salt$key, unpadded
base64; src/cmd/password.c), made with Python's hashlib.scrypt, and whole
ACL files written the way an operator should (mode 0600, by a rename).

The tests make CHEAP hashes (ln=4: N=16, microseconds) so that a password
check costs nothing; the daemon checks a hash at the cost it names.
"""
import base64
import hashlib
import os

CHEAP_LN = 4


def b64(data):
    return base64.b64encode(data).decode().rstrip("=")


def unb64(text):
    return base64.b64decode(text + "=" * (-len(text) % 4))


def scrypt_hash(password, ln=CHEAP_LN, r=8, p=1):
    """password's hash, freshly salted: N = 2**ln, r, p, a 32-byte key."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=1 << ln, r=r, p=p, dklen=32,
                         maxmem=256 * r * (1 << ln) + (1 << 20))
    return "$scrypt$ln=%d,r=%d,p=%d$%s$%s" % (ln, r, p, b64(salt), b64(key))


def write_file(path, text, mode=0o600):
    """Writes path whole through a rename, so a reload never reads half a
    file; mode is set before the rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return path


_hashes = {}


def acl_text(users, ln=CHEAP_LN):
    """users: {name: (password, roles, namespaces)} as an ACL file's text.
    A password keeps its hash from one file to the next (a reload closes
    the connections of a user whose hash changed)."""
    for pw, _, _ in users.values():
        _hashes.setdefault((pw, ln), scrypt_hash(pw, ln))
    return "# made by sstools/acl.py\n" + "".join(
        "%s %s %s %s\n" % (u, _hashes[(pw, ln)], roles, ns)
        for u, (pw, roles, ns) in users.items())


def password(user):
    """A password that no other text of a test or the daemon's log holds."""
    return "%s-pw-%s" % (user, os.urandom(6).hex())
