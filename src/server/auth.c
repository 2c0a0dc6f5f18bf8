/*
 * auth.c - loading users, the password-check thread and reloads; see
 * auth.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "engine/thread.h"
#include "server/auth.h"

struct ss_auth_job {
	struct ss_auth_job *next;
	struct ss_session *s;
	char user[SS_ACL_USER_MAX + 1];
	size_t ulen;
	char hash[SS_PASSWORD_HASH_MAX]; /* the user's, as checked; "" if unknown */
	struct ss_password pw;
	char *pass;
	size_t plen;
	char peer[64];
	int result; /* 1: the password matches; 0: not (or the KDF failed) */
	uint64_t us;
	double due; /* a failure's answer is sent then */
};

/* ---- loading ------------------------------------------------------------ */

/* Reads path whole into a new NUL-terminated buffer; refuses a file others
 * may write, warns about one they may read. */
static char *read_secret_file(const char *path, const struct ss_diag *diag, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		ss_log_error(diag, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		ss_log_error(diag, "cannot stat %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ss_log_error(diag, "%s is not a regular file", path);
		goto fail;
	}
	if (st.st_mode & S_IWOTH) {
		ss_log_error(diag, "%s is writable by others, who could make themselves users: "
				   "chmod o-w %s",
			     path, path);
		goto fail;
	}
	if (st.st_mode & S_IROTH)
		ss_log_warn(diag, "%s is readable by others, who can read its password hashes: "
				  "chmod o-r %s",
			    path, path);
	if ((uint64_t)st.st_size > SS_ACL_FILE_MAX) {
		ss_log_error(diag, "%s is larger than %u bytes", path, SS_ACL_FILE_MAX);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ss_log_error(diag, "out of memory reading %s", path);
		goto fail;
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ss_log_error(diag, "cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break; /* shrank as we read: take what is there */
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	*len = n;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* The password file's one line, without its line end; anything else in
 * the file but blank lines is refused. */
static int password_line(char *buf, size_t n, size_t *len)
{
	char *nl = memchr(buf, '\n', n);
	size_t l = nl ? (size_t)(nl - buf) : n;

	for (size_t i = l; i < n; i++)
		if (buf[i] != '\n' && buf[i] != '\r' && buf[i] != ' ' && buf[i] != '\t')
			return -1;
	if (l && buf[l - 1] == '\r')
		l--;
	*len = l;
	return memchr(buf, '\0', l) ? -1 : 0;
}

int ss_auth_load(const char *acl_file, const char *pass_file, const struct ss_acl *prev,
		 const struct ss_diag *diag, struct ss_acl **acl)
{
	const char *path = acl_file && acl_file[0] ? acl_file : pass_file;
	char err[300];
	size_t n;

	*acl = NULL;
	if (!path || !path[0])
		return 0;
	char *text = read_secret_file(path, diag, &n);
	if (!text)
		return -1;
	if (path == acl_file) {
		*acl = ss_acl_parse(text, n, err, sizeof err);
	} else if (password_line(text, n, &n) < 0) {
		snprintf(err, sizeof err, "want one line: the password, or its hash");
	} else {
		*acl = ss_acl_single(text, n, prev, err, sizeof err);
	}
	ss_password_wipe(text, n);
	free(text);
	if (!*acl) {
		ss_log_error(diag, "%s: %s", path, err);
		return -1;
	}
	return 0;
}

/* ---- the thread --------------------------------------------------------- */

static void push(struct ss_auth_job **head, struct ss_auth_job **tail, struct ss_auth_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static struct ss_auth_job *pop(struct ss_auth_job **head, struct ss_auth_job **tail)
{
	struct ss_auth_job *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
	}
	return j;
}

static void *worker(void *arg)
{
	struct ss_auth *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->todo && !a->stopping)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stopping)
			break;
		struct ss_auth_job *j = pop(&a->todo, &a->todo_tail);
		pthread_mutex_unlock(&a->mu);
		uint64_t t0 = ss_clock_ns();
		j->result = ss_password_kdf_check(&j->pw, j->pass, j->plen) == 1 && j->hash[0];
		j->us = (ss_clock_ns() - t0) / 1000;
		pthread_mutex_lock(&a->mu);
		push(&a->done, &a->done_tail, j);
		ev_async_send(a->loop, &a->done_w);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void job_free(struct ss_auth_job *j)
{
	ss_password_wipe(j->pass, j->plen);
	free(j->pass);
	ss_password_wipe(j, sizeof *j);
	free(j);
}

/* A user name from the client, for the log: printable bytes only. */
static const char *printable(const char *p, size_t n, char *buf)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = p[i] > ' ' && p[i] < 0x7f ? p[i] : '?';
	buf[n] = '\0';
	return buf;
}

static void answer(struct ss_auth *a, struct ss_auth_job *j)
{
	struct ss_session *s = j->s;

	job_free(j);
	a->resume(a->resume_arg, s);
}

/* Answers j's session a refusal after the delay: every failure waits the
 * same, so the list is in due order and one timer serves it. */
static void refuse_late(struct ss_auth *a, struct ss_auth_job *j, int why)
{
	j->s->client.auth_denied = why;
	j->due = ev_now(a->loop) + SS_AUTH_FAIL_DELAY;
	push(&a->late, &a->late_tail, j);
	if (!ev_is_active(&a->late_w)) {
		ev_timer_set(&a->late_w, a->late->due - ev_now(a->loop), 0.);
		ev_timer_start(a->loop, &a->late_w);
	}
}

static void on_done(struct ev_loop *loop, ev_async *w, int revents)
{
	struct ss_auth *a = w->data;
	struct ss_auth_job *list, *j;
	(void)loop;
	(void)revents;

	pthread_mutex_lock(&a->mu);
	list = a->done;
	a->done = a->done_tail = NULL;
	pthread_mutex_unlock(&a->mu);
	while ((j = list)) {
		list = j->next;
		a->checks--;
		a->st.kdf_runs++;
		if (j->us > a->st.kdf_us_max)
			a->st.kdf_us_max = j->us;
		struct ss_acl_user *u = j->result && a->acl ? ss_acl_find(a->acl, j->user, j->ulen)
							      : NULL;
		/* Remembered only in the user that was checked: a reload in
		 * between may have changed the password. */
		if (u && strcmp(u->hash, j->hash) == 0) {
			ss_password_remember(&u->pw, j->pass, j->plen);
			if (u->pw.remembered) {
				answer(a, j); /* the rerun passes the fast check */
				continue;
			}
		}
		char name[SS_ACL_USER_MAX + 1];
		a->st.failures++;
		ss_log_notice(a->diag, "authentication failed for user '%s' from %s",
			      printable(j->user, j->ulen, name), j->peer);
		refuse_late(a, j, 1);
	}
}

/* The refusals' delay, due in order. */
static void on_late(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ss_auth *a = w->data;
	(void)revents;

	while (a->late && a->late->due <= ev_now(loop) + 1e-3)
		answer(a, pop(&a->late, &a->late_tail));
	if (a->late) {
		ev_timer_set(&a->late_w, a->late->due - ev_now(loop), 0.);
		ev_timer_start(loop, &a->late_w);
	}
}

/* A password for unknown users, so their check costs what a real one
 * does. */
static void decoy(struct ss_password *pw)
{
	memset(pw, 0, sizeof *pw);
	pw->ln = SS_PASSWORD_LN;
	pw->r = SS_PASSWORD_R;
	pw->p = SS_PASSWORD_P;
}

void ss_auth_submit(struct ss_auth *a, struct ss_session *s, const char *peer)
{
	struct ss_client_state *c = &s->client;
	struct ss_auth_job *j = calloc(1, sizeof *j);

	if (!j) {
		ss_log_error(a->diag, "out of memory for a password check: refusing the AUTH");
		ss_cmd_auth_clear(c);
		c->auth_denied = 2;
		a->resume(a->resume_arg, s);
		return;
	}
	j->s = s;
	if (a->checks >= SS_AUTH_JOBS_MAX) {
		/* Too many checks queued: refused with a reason the client can
		 * act on, after the same delay as a wrong password, so that a
		 * client retrying at once does not spin the loop. */
		a->st.busy++;
		ss_cmd_auth_clear(c);
		refuse_late(a, j, 2);
		return;
	}
	memcpy(j->user, c->auth_user, c->auth_ulen + 1);
	j->ulen = c->auth_ulen;
	j->pass = c->auth_pass; /* taken */
	j->plen = c->auth_plen;
	c->auth_pass = NULL;
	c->auth_plen = 0;
	snprintf(j->peer, sizeof j->peer, "%s", peer);
	const struct ss_acl_user *u = ss_acl_find(a->acl, j->user, j->ulen);
	if (u) {
		j->pw = u->pw;
		memcpy(j->hash, u->hash, sizeof j->hash);
	} else {
		decoy(&j->pw);
	}
	a->checks++;
	pthread_mutex_lock(&a->mu);
	push(&a->todo, &a->todo_tail, j);
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

void ss_auth_cancel(struct ss_auth *a, struct ss_session *s)
{
	struct ss_auth_job *j, *prev = NULL;

	pthread_mutex_lock(&a->mu);
	for (j = a->todo; j && j->s != s; j = j->next)
		prev = j;
	if (j) {
		if (prev)
			prev->next = j->next;
		else
			a->todo = j->next;
		if (a->todo_tail == j)
			a->todo_tail = prev;
	}
	pthread_mutex_unlock(&a->mu);
	if (!j)
		return; /* running, or answered already: it ends as usual */
	a->checks--;
	/* Answered like a refusal, on the timer: the session is gone, and its
	 * client is freed by the registry once resumed, never from inside
	 * the close that called us. */
	refuse_late(a, j, 1);
}

int ss_auth_init(struct ss_auth *a, struct ev_loop *loop, const struct ss_diag *diag,
		 const char *acl_file, const char *pass_file, struct ss_acl *acl,
		 void (*resume)(void *arg, struct ss_session *s), void *arg)
{
	int rc;

	memset(a, 0, sizeof *a);
	a->loop = loop;
	a->diag = diag;
	a->acl_file = acl_file;
	a->pass_file = pass_file;
	a->acl = acl;
	a->resume = resume;
	a->resume_arg = arg;
	if (!acl)
		return 0;
	ev_async_init(&a->done_w, on_done);
	a->done_w.data = a;
	ev_async_start(loop, &a->done_w);
	ev_init(&a->late_w, on_late);
	a->late_w.data = a;
	if ((rc = pthread_mutex_init(&a->mu, NULL)) != 0 ||
	    (rc = pthread_cond_init(&a->cv, NULL)) != 0 ||
	    (rc = ss_thread_start(&a->thread, worker, a)) != 0) {
		ss_log_error(diag, "cannot start the password-check thread: %s", strerror(rc));
		return -1;
	}
	a->started = 1;
	return 0;
}

void ss_auth_free(struct ss_auth *a)
{
	struct ss_auth_job *j;

	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stopping = 1;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
		while ((j = pop(&a->todo, &a->todo_tail)))
			job_free(j);
		while ((j = pop(&a->done, &a->done_tail)))
			job_free(j);
		while ((j = pop(&a->late, &a->late_tail)))
			job_free(j);
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
		ev_async_stop(a->loop, &a->done_w);
		ev_timer_stop(a->loop, &a->late_w);
	}
	ss_acl_free(a->acl);
	a->acl = NULL;
}

/* ---- reloading ---------------------------------------------------------- */

int ss_auth_rebind(struct ss_client_state *c, struct ss_acl *next)
{
	if (!c->user)
		return 0;
	struct ss_acl_user *u = ss_acl_find(next, c->user->name, c->user->nlen);
	if (!u || strcmp(u->hash, c->user->hash) != 0)
		return 1;
	c->user = u;
	return 0;
}

int ss_auth_reload(struct ss_auth *a, void (*each)(void *arg, struct ss_acl *next), void *arg)
{
	struct ss_acl *next;

	if (ss_auth_load(a->acl_file, a->pass_file, a->acl, a->diag, &next) < 0) {
		a->st.reload_failures++;
		ss_log_error(a->diag, "SIGHUP: keeping the users in force");
		return -1;
	}
	/* A password already checked stays remembered while its hash is
	 * unchanged: a reload does not make every client pay the KDF again. */
	for (size_t i = 0; i < next->n; i++) {
		struct ss_acl_user *u = &next->users[i];
		const struct ss_acl_user *old = ss_acl_find(a->acl, u->name, u->nlen);
		if (old && old->pw.remembered && strcmp(old->hash, u->hash) == 0)
			u->pw = old->pw;
	}
	each(arg, next);
	ss_acl_free(a->acl);
	a->acl = next;
	a->st.reloads++;
	ss_log_notice(a->diag, "SIGHUP: %zu users loaded from %s", next->n,
		      a->acl_file && a->acl_file[0] ? a->acl_file : a->pass_file);
	return 0;
}
