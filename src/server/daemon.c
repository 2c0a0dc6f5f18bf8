/*
 * daemon.c - the statestored command line and config file: fills the
 * server's config from the option table (options.c), sets up the daemon's
 * log and hands over to the server. main() is in src/bin.
 *
 * The order: every option takes its default; the command line is read
 * (and remembered, option by option); then the config file, if --config
 * names one, sets what the command line did not. A value the command line
 * overrides is still checked, so that a file with a bad line never starts,
 * whatever the command line says.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/password.h"

#include "common/stdfds.h"
#include "server/conffile.h"
#include "server/daemon.h"
#include "server/options.h"
#include "server/server.h"

/* Rows the daemon can track (set[] below); the table has 20. */
#define OPTIONS_MAX 64
/* getopt_long's values for rows without a short flag: OPT_ROW + index. */
#define OPT_ROW 256

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s [options]\n"
		"A durable checkpoint store for data pipelines.\n"
		"\n",
		prog);
	ss_options_usage(out);
	fprintf(out,
		"      --hash-password    read a password on stdin, print its hash for an ACL\n"
		"                         file or --requirepass-file, and exit\n"
		"  -h, --help             print this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"A config file holds one 'option value' a line, with the long names above\n"
		"(port 7070); '#' starts a comment. The command line overrides it.\n"
		"\n"
		"Exit codes: 0 clean shutdown, 1 other error, 2 bad options, 3 data dir locked,\n"
		"            4 corrupt log, 5 fdatasync failed.\n");
}

/* What the parse knows besides the config itself. */
struct parse {
	const char *prog;
	struct ss_server_config *cfg;
	const struct ss_option *opts;
	size_t nopts;
	unsigned char cmdline[OPTIONS_MAX]; /* the row was set on the command line */
	unsigned file_line[OPTIONS_MAX];    /* the line of the file that set it, or 0 */
	const char *file;
};

/* s, cut to fit buf and with bytes other than printable ASCII shown as
 * '?': a file's text goes to a terminal only so. */
static const char *shown(const char *s, char *buf, size_t n)
{
	size_t i = 0;

	for (; s[i] && i + 4 < n; i++)
		buf[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* --hash-password: one line from stdin (not echoed on a terminal) in, its
 * scrypt hash out. The password never goes on a command line, where ps
 * would show it. */
static int hash_password(const char *prog)
{
	char line[SS_PASSWORD_MAX + 3], out[SS_PASSWORD_HASH_MAX];
	struct termios was, quiet;
	struct ss_password pw;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &was) == 0;

	if (tty) {
		fprintf(stderr, "Password: ");
		quiet = was;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
			tty = 0;
	}
	/* Unbuffered: the password goes into line only, not into stdio's
	 * buffer as well. */
	(void)setvbuf(stdin, NULL, _IONBF, 0);
	char *got = fgets(line, sizeof line, stdin);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &was);
		fprintf(stderr, "\n");
	}
	size_t n = got ? strcspn(line, "\r\n") : 0;
	int whole = got && (line[n] == '\r' || line[n] == '\n' || feof(stdin));
	int rc = SS_EXIT_USAGE;
	if (!got || n == 0 || !whole || n > SS_PASSWORD_MAX || memchr(line, '\0', n))
		fprintf(stderr, "%s: want a password of 1 to %d bytes on one line of stdin\n", prog,
			SS_PASSWORD_MAX);
	else if (ss_password_make(&pw, line, n, SS_PASSWORD_LN, SS_PASSWORD_R, SS_PASSWORD_P) < 0)
		fprintf(stderr, "%s: could not hash the password (out of memory?)\n", prog), rc = 1;
	else {
		ss_password_format(&pw, out);
		rc = printf("%s\n", out) < 0 || fflush(stdout) != 0 ? SS_EXIT_ERROR : SS_EXIT_OK;
	}
	ss_password_wipe(line, sizeof line);
	ss_password_wipe(&pw, sizeof pw);
	return rc;
}

/* Parses the command line into p->cfg. Returns -1 to go on, or the exit
 * code to return now (help, version, a bad option). */
static int parse_cmdline(struct parse *p, int argc, char **argv)
{
	struct option longopts[OPTIONS_MAX + 4];
	char shorts[2 * OPTIONS_MAX + 3], want[128];
	size_t k = 0, ns = 0;
	int opt;

	for (size_t i = 0; i < p->nopts; i++) {
		const struct ss_option *o = &p->opts[i];
		int flag = (o->flags & SS_OPT_FLAG) != 0;
		longopts[k++] = (struct option){o->name, flag ? no_argument : required_argument, NULL,
						o->short_flag ? o->short_flag : OPT_ROW + (int)i};
		if (o->short_flag) {
			shorts[ns++] = (char)o->short_flag;
			if (!flag)
				shorts[ns++] = ':';
		}
	}
	longopts[k++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[k++] = (struct option){"hash-password", no_argument, NULL, 'H'};
	longopts[k++] = (struct option){"version", no_argument, NULL, 'V'};
	longopts[k] = (struct option){NULL, 0, NULL, 0};
	memcpy(shorts + ns, "hV", 3);

	optind = 1;
	while ((opt = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		const struct ss_option *o = NULL;
		if (opt >= OPT_ROW)
			o = &p->opts[opt - OPT_ROW];
		for (size_t i = 0; !o && i < p->nopts; i++)
			if (p->opts[i].short_flag == opt)
				o = &p->opts[i];
		if (o) {
			/* A flag on the command line is always "yes". */
			const char *v = (o->flags & SS_OPT_FLAG) ? "yes" : optarg;
			if (ss_option_set(o, p->cfg, v, want, sizeof want) < 0) {
				fprintf(stderr, "%s: invalid value '%s' for --%s: %s\n", p->prog, v,
					o->name, want);
				fprintf(stderr, "Try '%s --help' for more information.\n", p->prog);
				return SS_EXIT_USAGE;
			}
			p->cmdline[o - p->opts] = 1;
			continue;
		}
		if (opt == 'h') {
			usage(stdout, p->prog);
			return SS_EXIT_OK;
		}
		if (opt == 'V') {
			printf("statestored %s\n", SS_VERSION);
			return SS_EXIT_OK;
		}
		if (opt == 'H')
			return hash_password(p->prog);
		usage(stderr, p->prog);
		return SS_EXIT_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", p->prog, argv[optind]);
		usage(stderr, p->prog);
		return SS_EXIT_USAGE;
	}
	return -1;
}

/* One option line of the config file (conffile.h's callback). Returns 0,
 * or SS_EXIT_USAGE after saying what is wrong, naming the file and line. */
static int file_option(void *arg, unsigned line, const char *name, const char *value)
{
	struct parse *p = arg;
	const struct ss_option *o = ss_option_find(name);
	char want[128], a[80], b[80];

	if (!o) {
		fprintf(stderr, "%s: %s:%u: unknown option \"%s\"\n", p->prog, p->file, line,
			shown(name, a, sizeof a));
		return SS_EXIT_USAGE;
	}
	size_t i = (size_t)(o - p->opts);
	if (o->flags & SS_OPT_CMDLINE_ONLY) {
		fprintf(stderr, "%s: %s:%u: option \"%s\" cannot be set in a config file\n", p->prog,
			p->file, line, o->name);
		return SS_EXIT_USAGE;
	}
	if (p->file_line[i]) {
		fprintf(stderr, "%s: %s:%u: duplicate option \"%s\" (first set on line %u)\n",
			p->prog, p->file, line, o->name, p->file_line[i]);
		return SS_EXIT_USAGE;
	}
	p->file_line[i] = line;
	if (!value) {
		fprintf(stderr, "%s: %s:%u: option \"%s\" needs a value%s\n", p->prog, p->file, line,
			o->name, (o->flags & SS_OPT_FLAG) ? " (yes or no)" : "");
		return SS_EXIT_USAGE;
	}
	/* Checked even where the command line wins, into a copy. */
	struct ss_server_config scratch = *p->cfg;
	if (ss_option_set(o, p->cmdline[i] ? &scratch : p->cfg, value, want, sizeof want) < 0) {
		fprintf(stderr, "%s: %s:%u: invalid value \"%s\" for %s: %s\n", p->prog, p->file,
			line, shown(value, b, sizeof b), o->name, want);
		return SS_EXIT_USAGE;
	}
	return 0;
}

/* Reads and applies the config file p->file. *text keeps its bytes, which
 * the config's strings point into. Returns -1 to go on, or an exit code. */
static int parse_file(struct parse *p, char **text)
{
	size_t n;
	unsigned line = 0;
	const char *why = NULL;

	if (ss_conffile_read(p->file, SS_CONFFILE_MAX, NULL, text, &n) < 0) {
		if (errno == EFBIG)
			fprintf(stderr, "%s: %s: the config file is larger than %u bytes\n", p->prog,
				p->file, SS_CONFFILE_MAX);
		else
			fprintf(stderr, "%s: cannot read the config file %s: %s\n", p->prog, p->file,
				strerror(errno));
		return SS_EXIT_USAGE;
	}
	int rc = ss_conffile_parse(*text, n, file_option, p, &line, &why);
	if (rc < 0) {
		fprintf(stderr, "%s: %s:%u: %s\n", p->prog, p->file, line, why);
		return SS_EXIT_USAGE;
	}
	return rc ? rc : -1;
}

int ss_daemon_main(int argc, char **argv, const struct ss_daemon_env *env)
{
	struct ss_diag diag = {.level = SS_INFO, .out = stderr};
	struct ss_server_config cfg = {
		.io = env->io,
		.diag = &diag,
		.replay_hook = env->replay_hook,
		.replay_hook_arg = env->replay_hook_arg,
	};
	struct parse p = {.prog = argc > 0 ? argv[0] : "statestored", .cfg = &cfg};
	char *text = NULL;
	const char *what;
	int code;

	/* Before anything opens a descriptor: with stderr closed, the log
	 * file could become descriptor 2, and log lines would land in it.
	 * And a write to a closed socket must fail with EPIPE, not kill us. */
	if (ss_program_start(&what) < 0) {
		fprintf(stderr, "%s: %s: %s\n", p.prog, what, strerror(errno));
		return SS_EXIT_ERROR;
	}
	p.opts = ss_options(&p.nopts);
	if (p.nopts > OPTIONS_MAX || ss_options_defaults(&cfg) < 0) {
		fprintf(stderr, "%s: the option table is broken\n", p.prog);
		return SS_EXIT_ERROR;
	}
	if ((code = parse_cmdline(&p, argc, argv)) >= 0)
		return code;
	p.file = cfg.config_file;
	if (p.file[0] && (code = parse_file(&p, &text)) >= 0)
		goto out;
	char why[160];
	if (ss_options_check(&cfg, why, sizeof why) < 0) {
		fprintf(stderr, "%s: %s\n", p.prog, why);
		code = SS_EXIT_USAGE;
		goto out;
	}
	diag.level = (enum ss_level)cfg.log_level;
	code = ss_server_run(&cfg);
out:
	free(text);
	return code;
}
