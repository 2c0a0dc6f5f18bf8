"""Separate hosts on one machine, for the replication tests and the failover
checker (issue 18): each host is a network namespace of its own, with its
own loopback, its own port space and its own firewall, joined to the others
by a veth pair into a bridge that lives in one more namespace (the switch).
Nothing is added to the root namespace: its routes, addresses and firewall
are untouched, and two runs at once cannot collide.

    switch ns  ss<pid>s<k>sw:  br0 --+-- h0  <veth>  eth0  ss<pid>s<k>h0  10.X.Y.1/24
                                     +-- h1  <veth>  eth0  ss<pid>s<k>h1  10.X.Y.2/24
                                     +-- ...

The test process stays in the root namespace. It reaches a host the way a
program on that host would: Host.connect() makes its socket inside the
host's namespace (setns(2) on the calling thread only, for the socket's
creation and connect), so a host cut off from the others is still reachable
by its own local clients, as a real partitioned primary is by the clients
on its side. Host.run() runs a command there (ip netns exec), redis-cli say.

Daemons start inside their host's namespace (`ip netns exec NS statestored
... --bind IP`, which execs: the pid Popen knows is the daemon's), on an
ephemeral port of that namespace, through harness.Daemon's argv mechanism,
so wait_log, kill and restart work as for any daemon. A non-loopback bind
needs authentication or --insecure-no-auth (protected mode): each host is
a private network no one else can reach, so NsDaemon adds
--insecure-no-auth unless the test gives --acl-file or --requirepass-file.

Partitions:
  isolate(h) / heal(h)   `ip link set h<i> down/up` on the switch's end of
                         h's veth: h's eth0 loses its carrier, every packet
                         to and from the others is gone (no RST, no FIN:
                         what a pulled cable does), while h's own address
                         still answers h's own clients
  drop(a, b) / undrop    iptables DROP rules inside a's namespace: a and b
                         stop hearing each other (or one direction only),
                         the rest of the cluster is unaffected
  flap(h, period, count) isolate and heal h count times, period seconds
                         per down+up, on a thread (join() it)
  netem(h, "loss 30%")   tc qdisc netem on h's eth0: h's outgoing packets
                         only, so asymmetric; raises NetemUnavailable (the
                         test skips, saying why) where the kernel has no
                         sch_netem

Cleanup: close() (also run by `with`, by atexit, and for namespaces left by
a run that was killed before it could clean: any ss<pid>... whose pid is
gone is deleted by the next Cluster) kills the daemons it started and
deletes the namespaces, which takes their veths, the bridge and every
iptables rule and qdisc with them.

Where namespaces cannot be made (not root, no CAP_NET_ADMIN, no ip),
Cluster.available() is false with the reason, and Cluster(n) gives hosts on
loopback instead (127.0.0.2, .3, ...: distinct addresses, ephemeral ports);
the partition helpers then raise NoNamespaces, and the tests run the cases
that need no partition. SS_CLUSTER_LOOPBACK=1 forces that mode (to test it).
"""
import atexit
import contextlib
import ctypes
import itertools
import os
import re
import shutil
import subprocess
import threading
import unittest
import weakref

from .client import Client
from .harness import Daemon, binary

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)
_serial = itertools.count()
_live = weakref.WeakSet()
NS_RE = re.compile(r"^ss(\d+)s\d+(?:h\d+|sw)$")


class ClusterError(RuntimeError):
    pass


class NoNamespaces(unittest.SkipTest):
    """A partition helper on a loopback cluster: a unittest skip, saying why."""


class NetemUnavailable(unittest.SkipTest):
    """tc netem could not be set up (no sch_netem in the kernel, say)."""


class Verdict:
    """available()'s answer: true or false, with the reason when false."""

    def __init__(self, ok, reason=""):
        self.ok, self.reason = ok, reason

    def __bool__(self):
        return self.ok

    def __str__(self):
        return "network namespaces available" if self.ok else self.reason


def run(*argv, check=True, timeout=30):
    """Runs a command (ip, iptables, tc); raises ClusterError with its
    stderr if it fails and check is set. Returns the CompletedProcess."""
    p = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise ClusterError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                 (p.stderr or p.stdout).strip()))
    return p


@contextlib.contextmanager
def entered(ns):
    """Runs the with-block's socket creations inside namespace ns (None:
    where we are). setns(2) moves the calling thread only; a socket keeps
    the namespace it was made in, so it may be used from anywhere after."""
    if ns is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, "setns(%s): %s" % (ns, os.strerror(e)))
        finally:
            os.close(target)
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                # This thread would make every later socket in the wrong
                # network: nothing after it could be trusted.
                os.write(2, b"cluster.py: cannot return to the root network namespace\n")
                os._exit(70)
    finally:
        os.close(own)


_verdict = None


def available():
    """Whether this machine lets us make network namespaces, veths and a
    bridge: a Verdict, false with the reason. Probed once per process."""
    global _verdict
    if _verdict is not None:
        return _verdict
    if os.environ.get("SS_CLUSTER_LOOPBACK"):
        _verdict = Verdict(False, "SS_CLUSTER_LOOPBACK is set")
    elif shutil.which("ip") is None:
        _verdict = Verdict(False, "no 'ip' command (install iproute2: scripts/deps.sh)")
    elif os.geteuid() != 0:
        _verdict = Verdict(False, "not root: network namespaces need CAP_NET_ADMIN")
    else:
        name = "ss%ds%dsw" % (os.getpid(), next(_serial))
        try:
            run("ip", "netns", "add", name)
            try:
                run("ip", "-n", name, "link", "add", "br0", "type", "bridge")
                with entered(name):
                    pass
            finally:
                run("ip", "netns", "del", name, check=False)
            _verdict = Verdict(True)
        except (ClusterError, OSError) as e:
            _verdict = Verdict(False, "cannot make a network namespace: %s" % e)
    return _verdict


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale():
    """Deletes the namespaces of earlier runs whose process is gone (killed
    by a timeout before its cleanup ran). Returns their names."""
    gone = []
    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        return gone
    for name in names:
        m = NS_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            run("ip", "netns", "del", name, check=False)
            gone.append(name)
    return gone


class Host:
    """One host: its index, address, and namespace (None on loopback)."""

    def __init__(self, cluster, index, ip, ns):
        self.cluster, self.index, self.ip, self.ns = cluster, index, ip, ns
        self.link = "h%d" % index  # the switch's end of its veth

    def __repr__(self):
        return "host%d(%s)" % (self.index, self.ip)

    def connect(self, port, timeout=30):
        """A statestored client on this host to ip:port (another host's
        address reaches that host through the switch)."""
        return self.connect_to(self.ip, port, timeout)

    def connect_to(self, ip, port, timeout=30, redis=False):
        with entered(self.ns):
            return Client(port, timeout, host=ip, redis=redis)

    def resp_to(self, ip, port, timeout=10):
        """A raw RESP connection (sstools.resp.Conn) from this host."""
        from .resp import Conn
        with entered(self.ns):
            return Conn(port, timeout, host=ip)

    def argv(self, argv):
        """argv run on this host."""
        return (["ip", "netns", "exec", self.ns] if self.ns else []) + list(argv)

    def run(self, argv, timeout=30, **kw):
        """Runs argv on this host; returns the CompletedProcess (text)."""
        return subprocess.run(self.argv(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, **kw)


class NsDaemon(Daemon):
    """A statestored on a Host, bound to the host's address."""

    def __init__(self, host, data_dir=None, args=(), program="statestored", env=None):
        super().__init__(data_dir, args, program, env)
        self.host = host

    def start(self, extra_args=(), expect_ready=True, port=0):
        cmd = [binary(self.program), "-p", str(port), "-d", self.data_dir, "--log-level", "debug",
               "--bind", self.host.ip]
        authed = any(a in ("--acl-file", "--requirepass-file") for a in self.args)
        if self.host.ns and not authed:
            cmd.append("--insecure-no-auth")
        self.argv = self.host.argv(cmd + self.args)
        try:
            return super().start(extra_args, expect_ready)
        except RuntimeError:
            # Reported here, not again by a tearDown as a death or an exit
            # code: a daemon that logged no "listening on" is exiting.
            try:
                self.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            raise

    def restart(self, extra_args=(), port=0):
        """Kills (if running) and starts again; port 0 reuses the last one,
        so the others find this host where they knew it."""
        last = self.port
        if self.proc and self.proc.poll() is None:
            self.kill()
        return self.start(extra_args, port=port or last or 0)

    @property
    def addr(self):
        return "%s:%s" % (self.host.ip, self.port if self.port is not None else "?")

    def connect(self, timeout=30):
        return self.host.connect(self.port, timeout)


class Cluster:
    """n hosts, on namespaces where available() allows, else on loopback
    (then .loopback is true and .why says why). Use as a context manager,
    or call close()."""

    available = staticmethod(available)

    def __init__(self, n, loopback=None):
        verdict = available()
        self.loopback = (not verdict) if loopback is None else loopback
        self.why = verdict.reason if not verdict else ("loopback asked for" if self.loopback else "")
        self.hosts, self.daemons, self._rules, self._namespaces = [], [], set(), []
        self._closed = False
        self.serial = next(_serial)
        pid = os.getpid()
        # 10.X.Y.0/24 from the pid: readable in logs (which run a line came
        # from); the switch is private, so two runs cannot clash anyway.
        self.prefix = "10.%d.%d." % ((pid >> 8) & 0xff, pid & 0xff)
        _live.add(self)
        try:
            if self.loopback:
                self.hosts = [Host(self, i, "127.0.0.%d" % (i + 2), None) for i in range(n)]
            else:
                remove_stale()
                self._build(n, "ss%ds%d" % (pid, self.serial))
        except BaseException:
            self.close()
            raise

    def _ns(self, name):
        run("ip", "netns", "add", name)
        self._namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def _build(self, n, base):
        self.switch = self._ns(base + "sw")
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i in range(n):
            h = Host(self, i, self.prefix + str(i + 1), self._ns("%sh%d" % (base, i)))
            run("ip", "link", "add", h.link, "netns", self.switch, "type", "veth",
                "peer", "name", "eth0", "netns", h.ns)
            run("ip", "-n", self.switch, "link", "set", h.link, "master", "br0", "up")
            run("ip", "-n", h.ns, "addr", "add", h.ip + "/24", "dev", "eth0")
            run("ip", "-n", h.ns, "link", "set", "eth0", "up")
            self.hosts.append(h)

    def __getitem__(self, i):
        return self.hosts[i]

    def __len__(self):
        return len(self.hosts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self):
        if self.loopback:
            return "%d hosts on loopback (%s): %s; partition cases skipped" % (
                len(self.hosts), self.why, ", ".join(h.ip for h in self.hosts))
        return "%d hosts in network namespaces %s..%s behind a bridge in %s: %s" % (
            len(self.hosts), self.hosts[0].ns, self.hosts[-1].ns, self.switch,
            ", ".join(h.ip for h in self.hosts))

    # ---------------------------------------------------------- daemons

    def daemon(self, host, args=(), data_dir=None, program="statestored", env=None):
        """A daemon (not yet started) on host (a Host or an index), stopped
        by close()."""
        if isinstance(host, int):
            host = self.hosts[host]
        d = NsDaemon(host, data_dir, args, program, env)
        self.daemons.append(d)
        return d

    # ---------------------------------------------------------- partitions

    def _need_ns(self, what):
        if self.loopback:
            raise NoNamespaces("%s needs network namespaces: %s" % (what, self.why))

    def _host(self, h):
        return self.hosts[h] if isinstance(h, int) else h

    def isolate(self, host):
        """Cuts host off from every other host (its veth's switch end down)."""
        self._need_ns("isolate")
        run("ip", "-n", self.switch, "link", "set", self._host(host).link, "down")

    def heal(self, host):
        self._need_ns("heal")
        run("ip", "-n", self.switch, "link", "set", self._host(host).link, "up")

    def drop(self, a, b, direction="both"):
        """DROP rules in a's namespace: packets from b ("in"), to b ("out"),
        or both."""
        self._need_ns("drop")
        a, b = self._host(a), self._host(b)
        for rule in self._drop_rules(a, b, direction):
            run("ip", "netns", "exec", a.ns, "iptables", "-w", "-A", *rule)
            self._rules.add((a.ns, rule))

    def undrop(self, a, b, direction="both"):
        self._need_ns("undrop")
        a, b = self._host(a), self._host(b)
        for rule in self._drop_rules(a, b, direction):
            if (a.ns, rule) in self._rules:
                run("ip", "netns", "exec", a.ns, "iptables", "-w", "-D", *rule)
                self._rules.discard((a.ns, rule))

    @staticmethod
    def _drop_rules(a, b, direction):
        rules = []
        if direction in ("both", "in"):
            rules.append(("INPUT", "-s", b.ip, "-j", "DROP"))
        if direction in ("both", "out"):
            rules.append(("OUTPUT", "-d", b.ip, "-j", "DROP"))
        if not rules:
            raise ValueError("direction: both, in or out, not %r" % direction)
        return rules

    def flap(self, host, period, count):
        """Isolates and heals host count times, each cycle period seconds
        (half down, half up), on a thread; returns it, started. The link
        is up when it ends. The thread's error, if any, is in .error."""
        self._need_ns("flap")
        host = self._host(host)
        stop = threading.Event()

        def body():
            try:
                for _ in range(count):
                    self.isolate(host)
                    stop.wait(period / 2)
                    self.heal(host)
                    if stop.wait(period / 2):
                        break
            except BaseException as e:  # reported to the test by join()
                t.error = e
            finally:
                run("ip", "-n", self.switch, "link", "set", host.link, "up", check=False)

        t = threading.Thread(target=body, daemon=True, name="flap-%s" % host.ip)
        t.error, t.stop = None, stop
        t.start()
        return t

    def netem(self, host, spec):
        """tc netem on host's outgoing packets, e.g. "loss 30%"."""
        self._need_ns("netem")
        host = self._host(host)
        p = run("ip", "netns", "exec", host.ns, "tc", "qdisc", "replace", "dev", "eth0", "root",
                "netem", *spec.split(), check=False)
        if p.returncode != 0:
            raise NetemUnavailable("tc netem is not available here (%s): the lossy-link case "
                                   "needs the kernel's sch_netem" % (p.stderr.strip() or
                                                                      "exit %d" % p.returncode))

    def clear_netem(self, host):
        self._need_ns("netem")
        run("ip", "netns", "exec", self._host(host).ns, "tc", "qdisc", "del", "dev", "eth0", "root",
            check=False)

    # ---------------------------------------------------------- cleanup

    def close(self):
        """Kills the daemons still running, removes their data directories
        and deletes the namespaces (with the veths, the bridge, the rules
        and the qdiscs in them). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for d in self.daemons:
            try:
                d.cleanup()
            except Exception:  # cleanup must go on with the rest
                pass
        errors = []
        for name in reversed(self._namespaces):
            p = run("ip", "netns", "del", name, check=False)
            if p.returncode != 0 and os.path.exists(os.path.join(NETNS_DIR, name)):
                errors.append("%s: %s" % (name, p.stderr.strip()))
        self._namespaces = []
        _live.discard(self)
        if errors:
            raise ClusterError("cannot delete namespaces: " + "; ".join(errors))

    def leftovers(self):
        """What close() should have removed and has not: this cluster's
        namespace names still in /run/netns. (Empty after close().)"""
        base = "ss%ds%d" % (os.getpid(), self.serial)
        try:
            return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(base))
        except OSError:
            return []


@atexit.register
def _close_all():
    for c in list(_live):
        try:
            c.close()
        except Exception:
            pass
