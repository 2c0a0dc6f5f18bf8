"""The install and the Debian package, checked with the real tools: groff
and man render the man pages, `cmake --install` lays out a prefix, and
cpack's .deb passes lintian, installs with dpkg, serves, and purges clean.

  TestManPages    groff -ww -z and man --warnings print nothing for each
                  page in scripts/man, lexgrog finds its NAME line, and its
                  .TH line names the project's version
  TestInstall     cmake --install into a temp prefix: the three programs,
                  the man pages, the unit, the example config, the rules
                  and the docs, and nothing else (no bench, no test program)
  TestPackage     cpack builds the .deb from this build; lintian reports no
                  error; dpkg -i; the statestored user, /var/lib/statestored
                  (0700, its own), the conffile, the man pages, Depends
                  (the package of every library a program links);
                  the installed daemon, run as that user with the installed
                  config, takes a SET and a GET from the installed CLI;
                  dpkg --purge leaves nothing of the package behind

TestPackage changes the machine: it needs root, and it skips (saying why)
when run as another user, in a sanitizer build (its binaries would need
libasan, which the package does not depend on), or when the machine holds
a statestored package, user or directory already, which the purge would
take away. Runs of it from several build trees wait for each other on a
lock file. It purges in a cleanup, so a failure leaves nothing installed.
"""
import fcntl
import glob
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from sstools import debian, harness
from sstools.harness import wait_until

MAN_DIR = os.path.join(harness.SOURCE_DIR, "scripts", "man")
MAN_PAGES = ["statestored.1", "statestore-cli.1", "statestore-check.1", "statestored.conf.5"]
PROGRAMS = ["statestored", "statestore-cli", "statestore-check"]
PACKAGE = "statestored"
USER = "statestored"
DATA_DIR = "/var/lib/statestored"
CONFIG = "/etc/statestored/statestored.conf"
UNIT = "/lib/systemd/system/statestored.service"
# What postinst's deb-systemd-helper enable leaves (the link systemd reads,
# and the helper's own state), which purge must remove.
UNIT_TRACES = ["/etc/systemd/system/multi-user.target.wants/statestored.service",
               "/var/lib/systemd/deb-systemd-helper-enabled/statestored.service.dsh-also",
               "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/"
               "statestored.service"]
MULTIARCH = "x86_64-linux-gnu"
LOCK_FILE = "/run/lock/statestored-test-package.lock"
# man-db's trigger re-indexes /usr/share/man after each install and purge:
# 4 s of CPU each here, for an index `man -w` does not need. The test runs it
# once, at the end (run_man_db_trigger).
DPKG = ["dpkg", "--no-triggers"]
need = debian.need


def run(args, timeout=120, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def cache_value(name):
    """A variable from the build tree's CMakeCache.txt, or None."""
    with open(os.path.join(harness.BUILD_DIR, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"%s:\w+=(.*)$" % re.escape(name), line.rstrip("\n"))
            if m:
                return m.group(1)
    return None


def sanitized_build():
    return (cache_value("SS_SANITIZE") or "OFF").upper() in ("ON", "1", "TRUE", "YES")


def package_status(name):
    """dpkg's state of a package ("installed", "config-files",
    "triggers-pending", ...), or "" when dpkg does not know it."""
    r = run(["dpkg-query", "-W", "-f=${Status}", name])
    return r.stdout.split()[-1] if r.returncode == 0 and r.stdout.split() else ""


def needed(binary):
    """The shared libraries a program names (its DT_NEEDED entries)."""
    r = run([need("readelf", "binutils"), "-d", binary])
    if r.returncode != 0:
        raise AssertionError("readelf -d %s: %s" % (binary, r.stderr))
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)


def library_packages(soname):
    """The packages that ship a library of this machine's architecture."""
    r = run(["dpkg", "-S", "*/%s/%s" % (MULTIARCH, soname)])
    return {line.split(":")[0] for line in r.stdout.splitlines()}


def deb_paths(deb):
    """Every path in the package's data archive, as dpkg will place it."""
    r = run(["dpkg-deb", "-c", deb])
    if r.returncode != 0:
        raise AssertionError("dpkg-deb -c: %s" % r.stderr)
    paths = []
    for line in r.stdout.splitlines():
        name = line.split(None, 5)[5].split(" -> ")[0]
        name = name[1:] if name.startswith("./") else "/" + name
        name = name.rstrip("/")
        if name:
            paths.append(name)
    return paths


class TestManPages(unittest.TestCase):

    def test_every_page_renders_without_a_warning(self):
        groff = need("groff", "groff-base")
        man = need("man", "man-db")
        self.assertEqual(sorted(os.listdir(MAN_DIR)), sorted(MAN_PAGES))
        for page in MAN_PAGES:
            path = os.path.join(MAN_DIR, page)
            with self.subTest(page=page):
                r = run([groff, "-ww", "-z", "-man", path])
                self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
                # man's own run: preprocessors, the terminal device, and
                # the line breaking a reader gets.
                r = run([man, "--warnings", "-l", path], env=dict(os.environ, MANWIDTH="80"))
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                # Piped, man keeps grotty's overstrikes: "S\bSY\bY..." is a bold "SY".
                self.assertIn("SYNOPSIS", re.sub(".\b", "", r.stdout))

    def test_each_page_names_the_project_version(self):
        # The footer a reader sees: a version bump must touch the pages.
        for page in MAN_PAGES:
            with open(os.path.join(MAN_DIR, page)) as f:
                th = [line for line in f if line.startswith(".TH ")]
            with self.subTest(page=page):
                self.assertEqual(len(th), 1)
                self.assertIn('"statestored %s"' % harness.project_version(), th[0])

    def test_lexgrog_reads_each_name_line(self):
        lexgrog = need("lexgrog", "man-db")
        for page in MAN_PAGES:
            name = page.rsplit(".", 1)[0]
            with self.subTest(page=page):
                r = run([lexgrog, os.path.join(MAN_DIR, page)])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertRegex(r.stdout, r': "%s - \S' % re.escape(name))


class TestInstall(unittest.TestCase):

    def test_cmake_install_places_the_product_and_nothing_else(self):
        cmake = need("cmake", "cmake")
        with tempfile.TemporaryDirectory(prefix="ss-install-") as prefix:
            r = run([cmake, "--install", harness.BUILD_DIR, "--prefix", prefix])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            got = sorted(os.path.relpath(os.path.join(d, f), prefix)
                         for d, _, files in os.walk(prefix) for f in files)
            # Not /etc and /lib/systemd: those are for prefix /usr only.
            self.assertEqual(got, sorted(
                ["bin/" + p for p in PROGRAMS] +
                ["share/man/man1/%s.gz" % p for p in MAN_PAGES if p.endswith(".1")] +
                ["share/man/man5/statestored.conf.5.gz",
                 "lib/systemd/system/statestored.service",
                 "etc/statestored/statestored.conf",
                 "share/statestored/statestored-alerts.yml",
                 "share/doc/statestored/copyright",
                 "share/doc/statestored/changelog.gz"]))
            for p in PROGRAMS:
                self.assertTrue(os.access(os.path.join(prefix, "bin", p), os.X_OK))
            for src, dst in [("scripts/statestored.conf", "etc/statestored/statestored.conf"),
                             ("scripts/statestored.service",
                              "lib/systemd/system/statestored.service"),
                             ("scripts/statestored-alerts.yml",
                              "share/statestored/statestored-alerts.yml"),
                             ("LICENSE", "share/doc/statestored/copyright")]:
                with open(os.path.join(harness.SOURCE_DIR, src), "rb") as a, \
                        open(os.path.join(prefix, dst), "rb") as b:
                    self.assertEqual(a.read(), b.read(), dst)


class TestPackage(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("not root: installing a .deb with dpkg -i needs root")
        if sanitized_build():
            raise unittest.SkipTest("SS_SANITIZE build: its binaries link libasan, which a "
                                    "package must not need; the Release run tests the package")
        for tool, package in [("cpack", "cmake"), ("dpkg-shlibdeps", "dpkg-dev"),
                              ("lintian", "lintian"), ("man", "man-db"),
                              ("setpriv", "util-linux")]:
            need(tool, package)
        # One run at a time on this machine: two would install and purge
        # the same package under each other.
        cls.lock = open(LOCK_FILE, "w")
        if not wait_until(lambda: cls._try_lock(), timeout=300, interval=0.2):
            cls.lock.close()
            raise RuntimeError("another test_package run held %s for 300 s" % LOCK_FILE)
        try:
            cls._refuse_to_touch_a_real_install()
        except unittest.SkipTest:
            cls.lock.close()
            raise

    @classmethod
    def _try_lock(cls):
        try:
            fcntl.flock(cls.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    @classmethod
    def tearDownClass(cls):
        cls.lock.close()

    @classmethod
    def _refuse_to_touch_a_real_install(cls):
        status = package_status(PACKAGE)
        if status not in ("", "not-installed"):
            raise unittest.SkipTest("package %s is on this machine (%s): the test's purge "
                                    "would remove it" % (PACKAGE, status))
        for path in [DATA_DIR, os.path.dirname(CONFIG)]:
            if os.path.lexists(path):
                raise unittest.SkipTest("%s exists: the test's purge would delete it" % path)
        for lookup in (pwd.getpwnam, grp.getgrnam):
            try:
                lookup(USER)
            except KeyError:
                continue
            raise unittest.SkipTest("a %s user or group exists: the test's purge would "
                                    "delete it" % USER)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ss-package-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.daemon = None

    def build_package(self):
        # For a Makefiles tree cpack first runs `make preinstall`, which here
        # only walks the up-to-date build: 5 s of CPU, a fifth of the test. A
        # generator without a preinstall target skips that walk and nothing
        # else: the same install script, staging, strip, dpkg-shlibdeps and
        # archive (the .deb's files and control came out identical).
        r = run(["cpack", "-G", "DEB", "-B", self.tmp,
                 "--config", os.path.join(harness.BUILD_DIR, "CPackConfig.cmake"),
                 "-D", "CPACK_CMAKE_GENERATOR=Ninja"], timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        debs = glob.glob(os.path.join(self.tmp, "*.deb"))
        self.assertEqual([os.path.basename(d) for d in debs],
                         ["statestored_%s_amd64.deb" % harness.project_version()])
        return debs[0]

    def start_lintian(self, deb):
        """lintian takes 4-7 s here: it reads the .deb while the rest of the
        test installs and purges it."""
        proc = subprocess.Popen(["lintian", "--no-tag-display-limit", deb], text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def check_lintian(self, proc):
        out, err = proc.communicate(timeout=300)
        errors = [line for line in out.splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [], out)
        # lintian exits non-zero on an error (and on its own failure).
        self.assertEqual(proc.returncode, 0, out + err)

    def purge(self):
        if self.daemon is not None:
            self.daemon.cleanup()
        return run(DPKG + ["--purge", PACKAGE])

    def run_man_db_trigger(self):
        """The index update that --no-triggers put off, so that dpkg's state
        is left as the test found it: once, after the purge (or in a cleanup
        when the test stopped before)."""
        if self.man_db_pending:
            self.man_db_pending = False
            r = run(["dpkg", "--triggers-only", "man-db"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_the_package_installs_serves_and_purges_clean(self):
        deb = self.build_package()
        lintian = self.start_lintian(deb)
        paths = deb_paths(deb)
        existed = {p for p in paths if os.path.lexists(p)}

        self.man_db_pending = package_status("man-db") == "installed"
        self.addCleanup(self.run_man_db_trigger)
        self.addCleanup(self.purge)
        r = run(DPKG + ["-i", deb])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        self.check_installed(paths)
        self.check_user_and_data_dir()
        self.serve_as_the_user()

        r = self.purge()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.check_nothing_left(paths, existed)
        self.run_man_db_trigger()
        self.check_lintian(lintian)

    def check_installed(self, paths):
        self.assertEqual(package_status(PACKAGE), "installed")
        for p in PROGRAMS:
            self.assertIn("/usr/bin/" + p, paths)
        self.assertNotIn("/usr/bin/statestore-bench", paths)
        self.assertEqual([p for p in paths if "/tests/" in p or "test_" in p], [])
        self.assertIn(UNIT, paths)
        self.assertIn("/usr/share/statestored/statestored-alerts.yml", paths)
        # Enabled, as a Debian daemon is on install (started only where
        # systemd runs, which a container does not).
        for trace in UNIT_TRACES:
            self.assertTrue(os.path.lexists(trace), trace)

        depends = run(["dpkg-query", "-W", "-f=${Depends}", PACKAGE]).stdout
        names = {d.strip().split()[0] for d in depends.split(",")}
        self.assertLessEqual({"libc6", "libev4"}, names, depends)
        # Every library a program links is Depends'd: its package is named.
        for program in PROGRAMS:
            sonames = needed("/usr/bin/" + program)
            self.assertIn("libc.so.6", sonames)
            for soname in sonames:
                with self.subTest(program=program, library=soname):
                    self.assertTrue(library_packages(soname) & names, depends)

        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", PACKAGE]).stdout.split()
        self.assertIn(CONFIG, conffiles)
        with open(os.path.join(harness.SOURCE_DIR, "scripts", "statestored.conf"), "rb") as a, \
                open(CONFIG, "rb") as b:
            self.assertEqual(a.read(), b.read())

        for section, page in [("1", "statestored"), ("1", "statestore-cli"),
                              ("1", "statestore-check"), ("5", "statestored.conf")]:
            r = run(["man", "-w", section, page])
            self.assertEqual((r.returncode, r.stdout.strip()),
                             (0, "/usr/share/man/man%s/%s.%s.gz" % (section, page, section)),
                             r.stderr)

    def check_user_and_data_dir(self):
        user = pwd.getpwnam(USER)
        group = grp.getgrnam(USER)
        self.assertEqual(user.pw_gid, group.gr_gid)
        self.assertLess(user.pw_uid, 1000, "not a system user")
        self.assertIn(user.pw_shell, ("/usr/sbin/nologin", "/bin/false"))
        st = os.stat(DATA_DIR)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (user.pw_uid, group.gr_gid, 0o700))

    def serve_as_the_user(self):
        user = pwd.getpwnam(USER)
        # The installed config, with a free port instead of its 7070.
        self.daemon = harness.Daemon(
            data_dir=DATA_DIR,
            argv=["setpriv", "--reuid", USER, "--regid", USER, "--init-groups",
                  "/usr/bin/statestored", "--config", CONFIG, "-p", "0"])
        self.daemon.start()
        with open("/proc/%d/status" % self.daemon.proc.pid) as f:
            uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", f.read(), re.M).groups()
        self.assertEqual(uids, (str(user.pw_uid),) * 2)

        cli = ["/usr/bin/statestore-cli", "-p", str(self.daemon.port)]
        # It runs with the installed file, and its data directory is the
        # file's (nothing on the command line names one).
        for name, value in [("config", CONFIG), ("data-dir", DATA_DIR)]:
            r = run(cli + ["CONFIG_GET", name])
            self.assertEqual((r.returncode, r.stdout), (0, "STAT %s %s\nEND\n" % (name, value)),
                             r.stderr)
        r = run(cli + ["SET_CHECKPOINT", "package-test", "4242"])
        self.assertEqual((r.returncode, r.stdout), (0, "OK\n"), r.stderr)
        r = run(cli + ["GET_CHECKPOINT", "package-test"])
        self.assertEqual((r.returncode, r.stdout), (0, "4242\n"), r.stderr)
        # The write went to the config's data directory, as the user.
        log = os.path.join(DATA_DIR, "statestored.log")
        with open(log, "rb") as f:
            self.assertIn(b" package-test 4242 ", f.read())
        self.assertEqual(os.stat(log).st_uid, user.pw_uid)

        self.assertEqual(self.daemon.stop(), 0, self.daemon.log())

    def check_nothing_left(self, paths, existed):
        self.assertIn(package_status(PACKAGE), ("", "not-installed"))
        left = [p for p in paths + [DATA_DIR, os.path.dirname(CONFIG)] + UNIT_TRACES
                if p not in existed and os.path.lexists(p)]
        self.assertEqual(left, [])
        for lookup in (pwd.getpwnam, grp.getgrnam):
            with self.assertRaises(KeyError):
                lookup(USER)


if __name__ == "__main__":
    unittest.main()
