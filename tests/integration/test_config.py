"""The config file (--config FILE) and CONFIG GET, against the real daemon
(src/server/options.c, conffile.c, daemon.c):

  TestConfigFile   the file sets options; the command line overrides it; a
                   flag takes yes/no; every error names FILE:LINE in the
                   exact words and exits 2, also for a value the command
                   line overrides; an unreadable or oversized file exits 2
  TestConfigGet    CONFIG GET with the real clients (redis-cli in RESP2
                   and RESP3, redis-py's config_get) and CONFIG_GET in the
                   text protocol show the same, effective, values: the
                   port bound for port 0, max-clients lowered by the
                   descriptor limit, the config file's path; CONFIG SET
                   answers an error that says why
  TestExample      scripts/statestored.conf parses, and every default it
                   lists is the daemon's own

The harness starts every daemon with -p 0 -d <temp dir> --log-level debug,
so those three always come from the command line.
"""
import os
import re
import resource
import shutil
import subprocess
import tempfile
import unittest

from sstools import debian, harness
from sstools.harness import DaemonTestCase

redis = debian.import_module("redis")
EXAMPLE = os.path.join(harness.SOURCE_DIR, "scripts", "statestored.conf")
PROG = harness.binary("statestored")


class ConfigCase(DaemonTestCase):
    AUTOSTART = False

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="ss-config-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, text, name="statestored.conf"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        return path

    def start(self, path, *args):
        """A daemon started with --config path (and args); it must serve."""
        return self.new_daemon(args=["--config", path] + list(args)).start()

    def refused(self, path, *args):
        """Runs the daemon with --config path; returns (exit code, stderr).
        It must not get as far as serving."""
        data = os.path.join(self.tmp, "data")
        r = harness.run_binary(["--config", path, "-p", "0", "-d", data] + list(args))
        self.assertNotIn("listening on", r.stderr)
        return r.returncode, r.stderr

    def cli(self, d, *args):
        tool = shutil.which("redis-cli")
        if tool is None:
            raise RuntimeError("redis-cli not found: install Debian's redis-tools "
                               "(scripts/deps.sh, SS_TEST_PACKAGES)")
        r = subprocess.run([tool, "-p", str(d.port)] + list(args), capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual((r.returncode, r.stderr), (0, ""), args)
        return r.stdout


class TestConfigFile(ConfigCase):
    def test_the_file_sets_options_and_the_command_line_overrides_it(self):
        path = self.write("# from the file\n"
                          "port 1\n"                      # -p 0 wins
                          "log-level error\n"             # --log-level debug wins
                          "history 7\n"
                          "max-line 4096   # a comment after the value\n"
                          "quota-bytes 1000000\n"
                          "auto-compact-min 100000\n"
                          "max-clients 50\n")
        d = self.start(path, "--max-clients", "60")
        conf = self.connect(d).config_get()
        self.assertEqual(conf["port"], str(d.port))
        self.assertEqual(conf["log-level"], "debug")
        self.assertEqual(conf["data-dir"], d.data_dir)
        self.assertEqual(conf["history"], "7")
        self.assertEqual(conf["max-line"], "4096")
        self.assertEqual(conf["quota-bytes"], "1000000")
        self.assertEqual(conf["auto-compact-min"], "100000")
        self.assertEqual(conf["max-clients"], "60")
        self.assertEqual(conf["config"], path)
        # The options shown are the ones in force: a 5000-byte line is
        # past the file's max-line.
        c = self.connect(d)
        self.assertEqual(c.cmd("SET_CHECKPOINT long " + "v" * 5000), "ERR line too long")

    def test_a_flag_takes_yes_or_no_in_the_file_and_the_command_line_says_yes(self):
        d = self.start(self.write("sync-thread yes\n"))
        self.assertEqual(self.connect(d).config_get("sync-thread"), {"sync-thread": "yes"})
        d = self.start(self.write("sync-thread no\n", "no.conf"), "--sync-thread")
        self.assertEqual(self.connect(d).config_get("sync-thread"), {"sync-thread": "yes"})
        d = self.start(self.write("sync-thread no\n", "no2.conf"))
        self.assertEqual(self.connect(d).config_get("sync-thread"), {"sync-thread": "no"})

    def test_quotes_crlf_blank_lines_and_comments(self):
        path = self.write(b"\r\n  \t\r\n# comment\r\n  history \"9\"  # nine\r\n"
                          b"bind \"127.0.0.1\"\r\nmax-line 2048 #\r\n")
        d = self.start(path)
        conf = self.connect(d).config_get()
        self.assertEqual((conf["history"], conf["bind"], conf["max-line"]),
                         ("9", "127.0.0.1", "2048"))

    def test_every_error_names_the_file_and_line_and_exits_2(self):
        cases = [
            ("port 7070\nnosuch 1\n", 2, 'unknown option "nosuch"'),
            ("\n# c\nhistory\n", 3, 'option "history" needs a value'),
            ("sync-thread   # no value\n", 1, 'option "sync-thread" needs a value (yes or no)'),
            ("history 1001\n", 1, 'invalid value "1001" for history: want an integer from 0 to 1000'),
            ("history -1\n", 1, 'invalid value "-1" for history: want an integer from 0 to 1000'),
            ("bind localhost\n", 1, 'invalid value "localhost" for bind: want a numeric IPv4 or '
                                    'IPv6 address, such as 127.0.0.1 or ::1'),
            ("sync-thread on\n", 1, 'invalid value "on" for sync-thread: want yes or no'),
            ("log-level loud\n", 1, 'invalid value "loud" for log-level: want debug, info, warn or '
                                    'error'),
            ("max-line 4096\nhistory 3\nmax-line 4096\n", 3,
             'duplicate option "max-line" (first set on line 1)'),
            ("config /etc/other.conf\n", 1, 'option "config" cannot be set in a config file'),
            ("--port 1\n", 1, 'unknown option "--port"'),
            ("max-line \"4096\n", 1, "the quoted value has no closing '\"'"),
            ("max-line \"4096\" 1\n", 1, "there is text after the quoted value"),
            ("history 1\nhistory\x002\n", 2, "the line holds a NUL byte"),
            ("history 1\n" + "#" * 4097 + "\n", 2, "the line is longer than 4096 bytes"),
            ("history 1\x1b[2J\n", 1, 'invalid value "1?[2J" for history: want an integer from 0 '
                                      'to 1000'),
        ]
        for text, line, msg in cases:
            path = self.write(text)
            code, err = self.refused(path)
            self.assertEqual((code, err), (2, "%s: %s:%d: %s\n" % (PROG, path, line, msg)), text)

    def test_a_bad_value_is_refused_even_where_the_command_line_overrides_it(self):
        path = self.write("port 70000\n")
        code, err = self.refused(path)
        self.assertEqual((code, err), (2, "%s: %s:1: invalid value \"70000\" for port: want a "
                                          "port from 0 to 65535, or none\n" % (PROG, path)))

    def test_a_line_of_exactly_the_bound_is_read(self):
        path = self.write("history 5" + " " * (4096 - 9) + "\n")
        d = self.start(path)
        self.assertEqual(self.connect(d).config_get("history"), {"history": "5"})

    def test_unreadable_and_oversized_files_exit_2(self):
        missing = os.path.join(self.tmp, "missing.conf")
        self.assertEqual(self.refused(missing),
                         (2, "%s: cannot read the config file %s: No such file or directory\n"
                          % (PROG, missing)))
        self.assertEqual(self.refused(self.tmp),
                         (2, "%s: cannot read the config file %s: Is a directory\n"
                          % (PROG, self.tmp)))
        big = self.write("# " + "x" * (1 << 20) + "\n")
        self.assertEqual(self.refused(big),
                         (2, "%s: %s: the config file is larger than 1048576 bytes\n"
                          % (PROG, big)))
        # 1 MiB exactly is read.
        comment = "#" * 1023 + "\n"
        rest = (1 << 20) - len("history 6\n")
        limit = self.write("history 6\n" + comment * (rest // 1024) + "#" * (rest % 1024 - 1)
                           + "\n", "limit.conf")
        self.assertEqual(os.path.getsize(limit), 1 << 20)
        d = self.start(limit)
        self.assertEqual(self.connect(d).config_get("history"), {"history": "6"})

    def test_help_lists_every_option_of_the_table_with_its_default(self):
        r = harness.run_binary(["--help"])
        self.assertEqual(r.returncode, 0)
        d = self.start(self.write(""))
        conf = self.connect(d).config_get()
        for name in conf:
            self.assertRegex(r.stdout, r"--%s\b" % re.escape(name))
        self.assertIn("(default 7070, 0..65535)", r.stdout)
        self.assertIn("(default no; a config file says sync-thread yes|no)", r.stdout)


class TestConfigGet(ConfigCase):
    def test_redis_cli_and_redis_py_see_what_the_text_protocol_shows(self):
        if redis is None:
            raise RuntimeError("redis-py not importable: install Debian's python3-redis "
                               "(scripts/deps.sh, SS_TEST_PACKAGES)")
        path = self.write("history 3\nquota-bytes 123456789\n")
        d = self.start(path)
        text = self.connect(d).config_get()
        # Every option of the table, and nothing else.
        self.assertEqual(sorted(text), sorted(
            ["port", "data-dir", "bind", "max-clients", "max-line", "timeout",
             "request-timeout", "prealloc",
             "auto-compact-min", "auto-compact-growth", "sync-thread", "history",
             "quota-bytes", "metrics", "acl-file", "requirepass-file", "insecure-no-auth",
             "tls-port", "tls-cert-file", "tls-key-file", "tls-ca-cert-file",
             "tls-auth-clients", "metrics-tls", "replica-of", "primary-auth-file",
             "sync-replicas", "sync-timeout", "repl-buffer", "repl-timeout", "log-level",
             "config"]))
        # RESP adds Redis's own settings and its names for two of ours.
        # The text protocol shows an empty value as "" (a line cannot carry
        # an empty token); RESP sends the empty string itself.
        want = dict({k: "" if v == '""' else v for k, v in text.items()},
                    dir=text["data-dir"], maxclients=text["max-clients"],
                    appendonly="yes", appendfsync="always", save="", databases="1")

        r = redis.Redis(port=d.port, socket_timeout=30, decode_responses=True)
        self.addCleanup(r.close)
        self.assertEqual(r.config_get("*"), want)
        self.assertEqual(r.config_get("quota*"), {"quota-bytes": "123456789"})

        # RESP2: a flat array, name then value; raw output is one a line.
        lines = self.cli(d, "CONFIG", "GET", "*").split("\n")[:-1]
        self.assertEqual(dict(zip(lines[0::2], lines[1::2])), want)
        self.assertEqual(self.cli(d, "--no-raw", "CONFIG", "GET", "history"),
                         '1) "history"\n2) "3"\n')
        # RESP3 (HELLO 3): a map.
        self.assertEqual(self.cli(d, "-3", "--no-raw", "CONFIG", "GET", "h*"),
                         '1# "history" => "3"\n')
        three = self.cli(d, "-3", "--no-raw", "CONFIG", "GET", "*").splitlines()
        got = dict(re.fullmatch(r'\d+# "([^"]*)" => "([^"]*)"', l.strip()).groups()
                   for l in three)
        self.assertEqual(got, want)

    def test_the_text_protocol_shape_is_stats_shape(self):
        d = self.start(self.write("history 2\n"))
        c = self.connect(d)
        c.send("CONFIG_GET hist*\nCONFIG_GET nosuch\nconfig_get\n")
        self.assertEqual([c.readline() for _ in range(4)],
                         ["STAT history 2", "END", "END", "STAT port %d" % d.port])
        c.readlines(30)
        self.assertEqual(c.readline(), "END")
        self.assertEqual(c.cmd("CONFIG_GET a b"),
                         "ERR wrong number of arguments for 'CONFIG_GET'")
        # statestore-cli reads the rows through END, one-shot and in a batch.
        r = harness.run_binary(["-p", str(d.port), "CONFIG_GET", "hist*"],
                               program="statestore-cli")
        self.assertEqual((r.returncode, r.stdout), (0, "STAT history 2\nEND\n"))
        r = subprocess.run([harness.binary("statestore-cli"), "-p", str(d.port)],
                           input="CONFIG_GET hist*\nPING\n", capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "STAT history 2\nEND\nPONG\n"))

    def test_values_are_the_effective_ones(self):
        # The descriptor limit lowers max-clients: 64 descriptors, of which
        # the daemon keeps 32 for itself.
        def low_nofile():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        d = self.new_daemon(args=["--max-clients", "1000"])
        d.preexec_fn = low_nofile
        d.start()
        c = self.connect(d)
        conf = c.config_get()
        self.assertEqual(conf["max-clients"], "32")
        self.assertEqual(conf["max-clients"], c.stats()["max_clients"])
        self.assertEqual(conf["port"], str(d.port))  # asked for 0
        self.assertNotEqual(d.port, 0)
        # No file: the text protocol writes "" as a file would; RESP an
        # empty string.
        self.assertEqual(conf["config"], '""')
        self.assertEqual(self.cli(d, "--no-raw", "CONFIG", "GET", "config"),
                         '1) "config"\n2) ""\n')

    def test_config_set_is_refused_and_says_why(self):
        d = self.start(self.write(""))
        out = self.cli(d, "CONFIG", "SET", "history", "9")
        self.assertEqual(out, "ERR CONFIG SET is not supported: statestored reads its settings "
                              "once, at start (the command line and --config FILE); change "
                              "them there and restart\n\n")  # redis-cli adds a line
        self.assertEqual(self.connect(d).config_get("history"), {"history": "4"})


class TestExample(ConfigCase):
    def test_the_example_config_parses_and_lists_every_default(self):
        # As installed: its data-dir and bind, overridden here as a
        # packaged daemon's test would.
        with open(EXAMPLE) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^data-dir /var/lib/statestored$")
        self.assertRegex(text, r"(?m)^bind 127\.0\.0\.1$")
        d = self.start(EXAMPLE)
        conf = self.connect(d).config_get()
        self.assertEqual(conf["config"], EXAMPLE)
        self.assertEqual(conf["bind"], "127.0.0.1")
        self.assertEqual(conf["data-dir"], d.data_dir)  # -d wins

        # Every option but config is listed, commented out with its
        # default or set; uncommented, they are what a daemon without a
        # config file runs with.
        listed = re.findall(r"(?m)^(?:# )?([a-z-]+) (\S+)$", text)
        names = [n for n, _ in listed]
        self.assertEqual(sorted(names), sorted(n for n in conf if n != "config"))
        plain = self.new_daemon().start()
        defaults = self.connect(plain).config_get()
        uncommented = self.write("\n".join("%s %s" % kv for kv in listed) + "\n", "all.conf")
        d = self.start(uncommented)
        got = self.connect(d).config_get()
        for name, value in listed:
            if name in ("port", "data-dir", "log-level"):
                continue  # the harness's command line
            self.assertEqual(got[name], value, name)
            self.assertEqual(defaults[name], value, name)


if __name__ == "__main__":
    unittest.main()
