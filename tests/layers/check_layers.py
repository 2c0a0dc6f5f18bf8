"""The layering, checked on the built libraries' symbol tables.

Each layer is a static library (CMakeLists.txt), and each may call only
the layers below it in this table. For every library, every symbol it
uses but does not define must be defined by a layer it may call, or be a
system symbol it may use: no libev, no socket call, no thread and no HTTP
parsing outside the layers that own them, and no libssl call outside net/tls.c. A failure names the library, the object file,
the symbol and the layer it belongs to.

Usage: check_layers.py NM NAME=LIBRARY.a ...
"""
import re
import subprocess
import sys

# Which project layers each layer may call.
MAY_CALL = {
    "sscommon": set(),
    "ssengine": set(),
    "ssproto": {"sscommon"},
    "sscmd": {"ssengine", "ssproto", "sscommon"},
    "ssnet": {"sscommon"},
    "ssserver": {"sscmd", "ssnet", "ssengine", "ssproto", "sscommon"},
    "sscli": {"ssproto", "sscommon"},
    "ssbench": {"ssproto", "sscommon"},
    "sscheck": {"ssengine", "sscommon"},
}
# System calls only some layers may make.
LIBEV = re.compile(r"^ev_")
SOCKETS = re.compile(r"^(socket|connect|accept|accept4|bind|listen|send|sendto|sendmsg|recv|"
                     r"recvfrom|recvmsg|setsockopt|getsockopt|getsockname|getaddrinfo|"
                     r"shutdown|poll|epoll_\w+)$")
THREADS = re.compile(r"^pthread_")
# nodejs/http-parser: only the HTTP server in net (net/http.c) parses HTTP.
HTTP = re.compile(r"^http_(parser_\w+|should_keep_alive|errno_\w+|method_str|body_is_final)$")
# OpenSSL's libssl: only the TLS transport (net/tls.c) speaks TLS. (libcrypto
# is not a network library, and is not limited here.)
TLS = re.compile(r"^(SSL_\w+|TLS_\w+|DTLS_\w+|OPENSSL_init_ssl)$")
# File and process calls: the pure layers (wire formats, commands) make none.
IO = re.compile(r"^(open|open64|openat|read|write|pread|pread64|pwrite|pwrite64|close|"
                r"fsync|fdatasync|ftruncate|ftruncate64|rename|unlink|mmap|mmap64|fork|"
                r"kill|waitpid)$")
FORBIDDEN = {
    "sscommon": [LIBEV, SOCKETS, THREADS, HTTP, TLS],
    "ssengine": [LIBEV, SOCKETS, THREADS, HTTP, TLS],
    "ssproto": [LIBEV, SOCKETS, THREADS, IO, HTTP, TLS],
    "sscmd": [LIBEV, SOCKETS, THREADS, IO, HTTP, TLS],
    "ssnet": [THREADS, TLS],
    "ssserver": [HTTP, TLS],
    "sscli": [LIBEV, THREADS, HTTP, TLS],
    "ssbench": [THREADS, HTTP, TLS],
    "sscheck": [LIBEV, SOCKETS, THREADS, HTTP, TLS],
}
# Exceptions by object file: the tools' one connect path lives in common;
# a replay decodes on a second thread that starts and ends inside the one
# call (logscan.c), so the engine stays a library of one caller's thread.
ALLOWED = {("sscommon", "connect.c.o"): [SOCKETS],
           ("ssengine", "logscan.c.o"): [THREADS],
           ("ssengine", "thread.c.o"): [THREADS],
           ("ssnet", "tls.c.o"): [TLS]}


def symbols(nm, lib):
    """[(object, 'U' or 'D', symbol)] of lib's global symbols. A weak
    undefined symbol (w, v) is a use, not a definition."""
    out = subprocess.run([nm, "-g", lib], capture_output=True, text=True, check=True).stdout
    rows, obj = [], "?"
    for line in out.splitlines():
        if line.endswith(":"):
            obj = line[:-1]
            continue
        parts = line.split()
        if len(parts) >= 2:
            kind, sym = parts[-2], parts[-1]
            rows.append((obj, "U" if kind in ("U", "w", "v") else "D", sym))
    return rows


def main(argv):
    nm, libs = argv[0], dict(a.split("=", 1) for a in argv[1:])
    if set(libs) != set(MAY_CALL):
        sys.exit("check_layers: libraries %s, expected %s" % (sorted(libs), sorted(MAY_CALL)))
    table = {name: symbols(nm, path) for name, path in libs.items()}
    owner = {}
    for name, rows in table.items():
        for _, kind, sym in rows:
            if kind == "D":
                owner[sym] = name
    problems = []
    for name, rows in sorted(table.items()):
        for obj, kind, sym in rows:
            if kind != "U" or owner.get(sym) == name:
                continue
            if sym in owner:
                if owner[sym] not in MAY_CALL[name]:
                    problems.append("%s (%s) calls %s of %s, a layer it may not call"
                                    % (name, obj, sym, owner[sym]))
            elif any(rx.match(sym) for rx in FORBIDDEN[name]) and \
                    not any(rx.match(sym) for rx in ALLOWED.get((name, obj), [])):
                problems.append("%s (%s) uses %s, which only other layers may use"
                                % (name, obj, sym))
    for p in problems:
        print(p)
    print("layers: %d libraries, %d problems" % (len(table), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
