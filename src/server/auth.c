/*
 * auth.c - loading users, the password-check thread and reloads; see
 * auth.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "engine/thread.h"
#include "server/auth.h"
#include "server/conffile.h"

/* One piece of the thread's work: a password check for a session, the
 * warm-up check that measures the KDF (no session), or a reload. */
enum job_kind { JOB_CHECK, JOB_WARMUP, JOB_RELOAD };

struct ss_auth_job {
	struct ss_auth_job *next;
	enum job_kind kind;
	struct ss_session *s;
	char user[SS_ACL_USER_MAX + 1];
	size_t ulen;
	char hash[SS_PASSWORD_HASH_MAX]; /* the user's, as checked */
	struct ss_password pw;
	char *pass;
	size_t plen;
	char peer[64];
	int result; /* 1: the password matches; 0: not (or the KDF failed) */
	uint64_t us;
	double due; /* a refusal is answered then */
	/* JOB_RELOAD: the users read (NULL: the file was refused), and the
	 * user "default" they replace, for --requirepass-file's same-password
	 * shortcut (the thread must not read the live users). */
	struct ss_acl *acl;
	struct ss_acl_user prev_user;
	struct ss_acl prev;
};

/* ---- loading ------------------------------------------------------------ */

/* Reads path whole into a new NUL-terminated buffer; refuses a file others
 * may write, warns about one they may read. */
static char *read_secret_file(const char *path, const struct ss_diag *diag, size_t *len)
{
	struct stat st;
	char *buf;

	if (ss_conffile_read(path, SS_ACL_FILE_MAX, &st, &buf, len) < 0) {
		if (errno == EFBIG)
			ss_log_error(diag, "%s is larger than %u bytes", path, SS_ACL_FILE_MAX);
		else
			ss_log_error(diag, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & S_IWOTH)) {
		if (!S_ISREG(st.st_mode))
			ss_log_error(diag, "%s is not a regular file", path);
		else
			ss_log_error(diag, "%s is writable by others, who could make themselves "
					   "users: chmod o-w %s",
				     path, path);
		ss_password_wipe(buf, *len);
		free(buf);
		return NULL;
	}
	if (st.st_mode & S_IROTH)
		ss_log_warn(diag, "%s is readable by others, who can read its password hashes: "
				  "chmod o-r %s",
			    path, path);
	return buf;
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

static void run_job(struct ss_auth *a, struct ss_auth_job *j)
{
	uint64_t t0 = ss_clock_ns();

	if (j->kind == JOB_RELOAD) {
		/* The file's I/O, its parse and a plaintext password's KDF,
		 * all off the loop. */
		(void)ss_auth_load(a->acl_file, a->pass_file, j->prev.n ? &j->prev : NULL, a->diag,
				   &j->acl);
		return;
	}
	j->result = ss_password_kdf_check(&j->pw, j->pass ? j->pass : "", j->plen) == 1 &&
		    j->kind == JOB_CHECK;
	j->us = (ss_clock_ns() - t0) / 1000;
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
		a->running = j;
		pthread_mutex_unlock(&a->mu);
		run_job(a, j);
		pthread_mutex_lock(&a->mu);
		a->running = NULL;
		push(&a->done, &a->done_tail, j);
		ev_async_send(a->loop, &a->done_w);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void job_free(struct ss_auth_job *j)
{
	if (j->pass) {
		ss_password_wipe(j->pass, j->plen);
		free(j->pass);
	}
	ss_acl_free(j->acl);
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

/* Answers j's session a refusal (1: wrong, 2: busy) after delay seconds.
 * The list is kept in due order (a refusal is usually due last, so the
 * walk from the head is short in the common case of equal delays: it is
 * done from the tail end by keeping the tail) and one timer serves it. */
static void refuse_at(struct ss_auth *a, struct ss_auth_job *j, int why, double delay)
{
	j->s->client.auth_denied = why;
	j->due = ev_now(a->loop) + delay;
	if (!a->late_tail || a->late_tail->due <= j->due) {
		push(&a->late, &a->late_tail, j);
	} else {
		struct ss_auth_job **pp = &a->late;
		while ((*pp)->due <= j->due)
			pp = &(*pp)->next;
		j->next = *pp;
		*pp = j;
	}
	if (ev_is_active(&a->late_w))
		ev_timer_stop(a->loop, &a->late_w);
	ev_timer_set(&a->late_w, a->late->due - ev_now(a->loop), 0.);
	ev_timer_start(a->loop, &a->late_w);
}

/* A wrong or unknown user's refusal: counted, logged, and answered as late
 * as a check of a real user's password would be (kdf_s: the time it
 * took, or the typical time for one that never ran). */
static void refuse_wrong(struct ss_auth *a, struct ss_auth_job *j, double kdf_s)
{
	char name[SS_ACL_USER_MAX + 1];

	a->st.failures++;
	ss_log_notice(a->diag, "authentication failed for user '%s' from %s",
		      printable(j->user, j->ulen, name), j->peer);
	refuse_at(a, j, 1, kdf_s + SS_AUTH_FAIL_DELAY);
}

static void reloaded(struct ss_auth *a, struct ss_auth_job *j);

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
		if (j->kind == JOB_RELOAD) {
			reloaded(a, j);
			continue;
		}
		a->checks--;
		a->st.kdf_runs++;
		if (j->us > a->st.kdf_us_max)
			a->st.kdf_us_max = j->us;
		/* The typical check, for unknown users' answers: a moving
		 * average, weight 1/4 to the newest. */
		a->kdf_s = a->kdf_s > 0 ? a->kdf_s * 0.75 + (double)j->us * 0.25e-6 : (double)j->us * 1e-6;
		if (j->kind == JOB_WARMUP) {
			job_free(j);
			continue;
		}
		struct ss_acl_user *u = j->result ? ss_acl_find(a->acl, j->user, j->ulen) : NULL;
		/* Remembered only in the user that was checked: a reload in
		 * between may have changed the password. A password that
		 * passed but cannot be remembered (out of memory for the
		 * digest) is refused: the client may try again. */
		if (u && strcmp(u->hash, j->hash) == 0) {
			ss_password_remember(&u->pw, j->pass, j->plen);
			if (u->pw.remembered) {
				answer(a, j); /* the rerun passes the fast check */
				continue;
			}
		}
		refuse_wrong(a, j, 0);
	}
}

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

/* "addr" of "addr:port" (or "[v6]:port"): its length. */
static size_t host_len(const char *peer)
{
	const char *colon = strrchr(peer, ':');
	return colon ? (size_t)(colon - peer) : strlen(peer);
}

/* Checks from peer's host queued or running now. */
static unsigned host_checks(struct ss_auth *a, const char *peer)
{
	size_t n = host_len(peer);
	unsigned k = 0;

	pthread_mutex_lock(&a->mu);
	for (const struct ss_auth_job *j = a->todo; j; j = j->next)
		k += host_len(j->peer) == n && memcmp(j->peer, peer, n) == 0;
	if (a->running && a->running->kind == JOB_CHECK)
		k += host_len(a->running->peer) == n && memcmp(a->running->peer, peer, n) == 0;
	pthread_mutex_unlock(&a->mu);
	return k;
}

static void queue(struct ss_auth *a, struct ss_auth_job *j, int first)
{
	pthread_mutex_lock(&a->mu);
	if (first && a->todo) {
		j->next = a->todo;
		a->todo = j;
	} else {
		push(&a->todo, &a->todo_tail, j);
	}
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
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
	j->kind = JOB_CHECK;
	j->s = s;
	memcpy(j->user, c->auth_user, c->auth_ulen + 1);
	j->ulen = c->auth_ulen;
	j->pass = c->auth_pass; /* taken */
	j->plen = c->auth_plen;
	c->auth_pass = NULL;
	c->auth_plen = 0;
	snprintf(j->peer, sizeof j->peer, "%s", peer);
	const struct ss_acl_user *u = j->pass ? ss_acl_find(a->acl, j->user, j->ulen) : NULL;
	if (!u) {
		/* No such user: nothing to check, and no KDF spent on it. The
		 * answer comes as late as a real check's would. */
		refuse_wrong(a, j, a->kdf_s);
		return;
	}
	if (a->checks >= SS_AUTH_JOBS_MAX || host_checks(a, peer) >= SS_AUTH_HOST_MAX) {
		/* Too many checks queued, or from this host: refused with a
		 * reason the client can act on, after the failure delay, so
		 * that a client retrying at once cannot spin the loop, and one
		 * host cannot take every slot. */
		a->st.busy++;
		refuse_at(a, j, 2, SS_AUTH_FAIL_DELAY);
		return;
	}
	j->pw = u->pw;
	memcpy(j->hash, u->hash, sizeof j->hash);
	a->checks++;
	queue(a, j, 0);
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
	refuse_at(a, j, 1, SS_AUTH_FAIL_DELAY);
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
	if ((rc = pthread_mutex_init(&a->mu, NULL)) != 0) {
		ss_log_error(diag, "cannot set up the password checks: %s", strerror(rc));
		return -1;
	}
	if ((rc = pthread_cond_init(&a->cv, NULL)) != 0) {
		pthread_mutex_destroy(&a->mu);
		ss_log_error(diag, "cannot set up the password checks: %s", strerror(rc));
		return -1;
	}
	a->sync_ready = 1;
	if ((rc = ss_thread_start(&a->thread, worker, a)) != 0) {
		ss_log_error(diag, "cannot start the password-check thread: %s", strerror(rc));
		return -1;
	}
	a->started = 1;
	ev_async_init(&a->done_w, on_done);
	a->done_w.data = a;
	ev_async_start(loop, &a->done_w);
	ev_init(&a->late_w, on_late);
	a->late_w.data = a;
	/* The first check measures the KDF at the first user's cost, so that
	 * an unknown user's refusal takes as long as a real one's from the
	 * start. */
	struct ss_auth_job *j = calloc(1, sizeof *j);
	if (j) {
		j->kind = JOB_WARMUP;
		j->pw = acl->users[0].pw;
		a->checks++;
		queue(a, j, 0);
	}
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
		ev_async_stop(a->loop, &a->done_w);
		ev_timer_stop(a->loop, &a->late_w);
	}
	if (a->sync_ready) {
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
	}
	ss_acl_free(a->acl);
	a->acl = NULL;
}

/* ---- reloading ---------------------------------------------------------- */

int ss_auth_rebind(struct ss_client_state *c, struct ss_acl *next)
{
	/* A transaction queued under the old rules is refused whole at EXEC
	 * (EXECABORT): half of it may no longer be allowed. */
	if (c->multi)
		c->multi_error = 1;
	if (!c->user)
		return 0;
	struct ss_acl_user *u = ss_acl_find(next, c->user->name, c->user->nlen);
	if (!u || strcmp(u->hash, c->user->hash) != 0)
		return 1;
	c->user = u;
	return 0;
}

/* The thread has read the file again: the new users take effect, or the
 * old stay. */
static void reloaded(struct ss_auth *a, struct ss_auth_job *j)
{
	struct ss_acl *next = j->acl;

	a->reloading = 0;
	if (!next) {
		a->st.reload_failures++;
		ss_log_error(a->diag, "SIGHUP: keeping the users in force");
	} else {
		j->acl = NULL;
		/* A password already checked stays remembered while its hash
		 * is unchanged: a reload does not make every client pay the
		 * KDF again. */
		for (size_t i = 0; i < next->n; i++) {
			struct ss_acl_user *u = &next->users[i];
			const struct ss_acl_user *old = ss_acl_find(a->acl, u->name, u->nlen);
			if (old && old->pw.remembered && strcmp(old->hash, u->hash) == 0)
				u->pw = old->pw;
		}
		a->rebind(a->rebind_arg, next);
		ss_acl_free(a->acl);
		a->acl = next;
		a->st.reloads++;
		ss_log_notice(a->diag, "SIGHUP: %zu users loaded from %s", next->n,
			      a->acl_file && a->acl_file[0] ? a->acl_file : a->pass_file);
	}
	job_free(j);
	if (a->reload_again) {
		a->reload_again = 0;
		ss_auth_reload(a, a->rebind, a->rebind_arg);
	}
}

void ss_auth_reload(struct ss_auth *a, void (*each)(void *arg, struct ss_acl *next), void *arg)
{
	a->rebind = each;
	a->rebind_arg = arg;
	if (a->reloading) {
		a->reload_again = 1; /* the file may have changed since that read */
		return;
	}
	struct ss_auth_job *j = calloc(1, sizeof *j);
	if (!j) {
		a->st.reload_failures++;
		ss_log_error(a->diag, "SIGHUP: out of memory: keeping the users in force");
		return;
	}
	j->kind = JOB_RELOAD;
	const struct ss_acl_user *def =
		ss_acl_find(a->acl, SS_ACL_DEFAULT_USER, sizeof SS_ACL_DEFAULT_USER - 1);
	if (def && a->pass_file && a->pass_file[0]) {
		j->prev_user = *def;
		j->prev_user.ns = NULL;
		j->prev_user.nns = 0;
		j->prev = (struct ss_acl){.users = &j->prev_user, .n = 1};
	}
	a->reloading = 1;
	queue(a, j, 1); /* ahead of the password checks */
}
