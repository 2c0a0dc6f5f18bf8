/*
 * auth.h - authentication in the daemon: loading the users (--acl-file or
 * --requirepass-file), checking passwords off the loop, and reloading on
 * SIGHUP.
 *
 * The password check that matters is slow on purpose (scrypt, about 0.2 s
 * of a core, cmd/password.h), so it runs on a helper thread: an AUTH whose
 * password the user's hash does not yet remember pauses its session
 * (auth_wait) and becomes a job here. The loop never runs the KDF, so a
 * burst of AUTHs delays no commit; the checks are bounded (SS_AUTH_JOBS_MAX:
 * past it, AUTH is refused with "busy"). A password that passes is
 * remembered in its user, so the session's rerun of the AUTH, and every
 * later AUTH with it, passes the fast check (one SHA-256). A wrong one is
 * answered WRONGPASS only after SS_AUTH_FAIL_DELAY more, a timer, which
 * costs the server nothing. An unknown user costs no KDF: its refusal comes
 * as late as a check would (the typical check time, measured, plus the
 * delay), so the time taken does not tell which users exist. One host may
 * have SS_AUTH_HOST_MAX checks under way, so no one host can take every
 * slot from the others.
 */
#ifndef STATESTORED_SERVER_AUTH_H
#define STATESTORED_SERVER_AUTH_H

#include <ev.h>
#include <pthread.h>
#include <stdint.h>

#include "cmd/acl.h"
#include "cmd/session.h"
#include "common/diag.h"

#define SS_AUTH_JOBS_MAX 64
#define SS_AUTH_HOST_MAX 4       /* ... of them from one host */
#define SS_AUTH_FAIL_DELAY 0.1 /* seconds */
/* The longest request before AUTH (Redis allows 16 KiB bulks too). */
#define SS_AUTH_PREAUTH_LINE (16 * 1024)

struct ss_auth_stats {
	uint64_t failures;        /* wrong user or password */
	uint64_t denied;          /* NOAUTH and NOPERM replies */
	uint64_t busy;            /* AUTHs refused: too many checks queued */
	uint64_t kdf_runs;        /* slow checks run on the helper thread */
	uint64_t kdf_us_max;      /* the longest */
	uint64_t reloads;         /* SIGHUP reloads that took effect */
	uint64_t reload_failures; /* ... that kept the old users */
};

struct ss_auth_job;

struct ss_auth {
	struct ev_loop *loop;
	const struct ss_diag *diag;
	const char *acl_file, *pass_file;
	struct ss_acl *acl; /* NULL: no authentication */
	/* Reruns a session whose check was answered (the registry's). */
	void (*resume)(void *arg, struct ss_session *s);
	void *resume_arg;
	pthread_t thread;
	int sync_ready, started, stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ss_auth_job *todo, *todo_tail; /* for the thread */
	struct ss_auth_job *running;          /* the thread's now */
	struct ss_auth_job *done, *done_tail; /* back to the loop */
	struct ss_auth_job *late, *late_tail; /* failures waiting out the delay */
	size_t checks; /* KDF jobs queued or running (at most SS_AUTH_JOBS_MAX) */
	double kdf_s;  /* a check's typical time, seconds (a moving average) */
	int reloading, reload_again; /* a reload is with the thread; another asked */
	void (*rebind)(void *arg, struct ss_acl *next);
	void *rebind_arg;
	ev_async done_w;
	ev_timer late_w;
	struct ss_auth_stats st;
};

/* Reads the users from the file named, if any (acl_file or pass_file, not
 * both; prev: the users they replace, or NULL). Refuses a file others may
 * write, warns about one they may read. Returns 0 with *acl (NULL when
 * neither is set), or -1 after logging why. */
int ss_auth_load(const char *acl_file, const char *pass_file, const struct ss_acl *prev,
		 const struct ss_diag *diag, struct ss_acl **acl);

/* Sets a up around acl (taken; NULL: no authentication) and starts the
 * helper thread if there is an ACL. 0, or -1 after logging why. */
int ss_auth_init(struct ss_auth *a, struct ev_loop *loop, const struct ss_diag *diag,
		 const char *acl_file, const char *pass_file, struct ss_acl *acl,
		 void (*resume)(void *arg, struct ss_session *s), void *arg);

/* Stops the thread and drops the jobs (their sessions are being freed). */
void ss_auth_free(struct ss_auth *a);

/* Takes the credentials s's AUTH left (s->client.auth_*) and checks them
 * off the loop; a->resume is called with s once answered. If too many
 * checks are queued, s->client.auth_denied says "busy" and s is resumed
 * after the failure delay. peer names the client in the log. */
void ss_auth_submit(struct ss_auth *a, struct ss_session *s, const char *peer);

/* s's connection closed while its check waits: the check is dropped if it
 * has not started, so a flood of AUTHs from clients that leave does not
 * hold the queue. s is still resumed (after the failure delay). */
void ss_auth_cancel(struct ss_auth *a, struct ss_session *s);

/* Re-reads the file on the thread (its I/O, parse and a plaintext
 * password's KDF stay off the loop). When it is read, the new users take
 * effect and each is called to move every client to them (ss_auth_rebind);
 * a bad file keeps the old users and logs why. A reload asked while one is
 * under way runs again after it. */
void ss_auth_reload(struct ss_auth *a, void (*each)(void *arg, struct ss_acl *next), void *arg);

/* Moves c to its user in next: 0, or 1 if c must be disconnected (its user
 * is gone, or has a new password). An open transaction will be refused at
 * EXEC. */
int ss_auth_rebind(struct ss_client_state *c, struct ss_acl *next);

#endif
