/*
 * berth-spawner: runs programs for berthd so that berthd's Node process never forks.
 *
 * Forking a Node process of 100 MB costs milliseconds of its one thread (page tables copied,
 * every writable page then copy-on-write-faulted again) for each mount, umount, unshare and CNI
 * plugin it runs. This small helper, started once, runs them with posix_spawn (vfork semantics)
 * instead, several at a time, and sends back each one's status and output.
 *
 * Protocol on stdin/stdout, frames of: u32 length (host byte order), then that many bytes.
 *   request  spawn: u32 type=1, u32 id, u32 argc, argc NUL-terminated strings (argv[0] is the
 *                   program: searched in PATH when it has no slash), i32 envc (-1: this helper's
 *                   environment), envc strings, a NUL-terminated cwd ("" = this helper's), u32
 *                   input length, the input (written to the program's stdin, then closed).
 *   request  kill:  u32 type=2, u32 id, i32 signal (to the process of spawn request id).
 *   response:       u32 id, i32 kind (0 exited: value = status; 1 killed: value = signal;
 *                   2 not started: value = errno), u32 stdout length, stdout, u32 stderr length,
 *                   stderr (each kept up to 4 MiB).
 * A response is sent once the process has exited and its stdout and stderr are closed (or 500 ms
 * after the exit, for output pipes a grandchild keeps open). End of stdin: the helper exits once its
 * running programs have (they are not killed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_KEEP (4u << 20)
#define MAX_FRAME (64u << 20)
#define LINGER_MS 500

struct buf {
	char *p;
	size_t len, cap;
};

struct job {
	uint32_t id;
	pid_t pid;
	int in, out, err; /* our ends; -1 when closed */
	char *input;
	size_t input_len, input_off;
	struct buf o, e;
	int exited;
	int status;
	long long exit_ms;
};

static struct job *jobs;
static size_t njobs, capjobs;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	fprintf(stderr, "berth-spawner: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };
				poll(&pf, 1, -1);
				continue;
			}
			exit(0); /* the reader is gone */
		}
		c += w;
		n -= (size_t)w;
	}
}

static void respond(uint32_t id, int32_t kind, int32_t value, const struct buf *o, const struct buf *e)
{
	uint32_t olen = o ? (uint32_t)o->len : 0, elen = e ? (uint32_t)e->len : 0;
	uint32_t len = 4 + 4 + 4 + 4 + olen + 4 + elen;
	struct buf r = { 0 };
	if (buf_add(&r, &len, 4) || buf_add(&r, &id, 4) || buf_add(&r, &kind, 4) || buf_add(&r, &value, 4) || buf_add(&r, &olen, 4) ||
	    (olen && buf_add(&r, o->p, olen)) || buf_add(&r, &elen, 4) || (elen && buf_add(&r, e->p, elen)))
		die("out of memory");
	write_all(1, r.p, r.len);
	free(r.p);
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* A cursor over a request payload. */
struct cur {
	const char *p;
	size_t left;
	int bad;
};

static uint32_t get_u32(struct cur *c)
{
	uint32_t v = 0;
	if (c->left < 4) {
		c->bad = 1;
		return 0;
	}
	memcpy(&v, c->p, 4);
	c->p += 4;
	c->left -= 4;
	return v;
}

static const char *get_str(struct cur *c)
{
	const char *s = c->p;
	const char *nul = memchr(c->p, 0, c->left);
	if (!nul) {
		c->bad = 1;
		return "";
	}
	c->left -= (size_t)(nul - s) + 1;
	c->p = nul + 1;
	return s;
}

static struct job *find_job(uint32_t id)
{
	for (size_t i = 0; i < njobs; i++)
		if (jobs[i].id == id && jobs[i].pid > 0)
			return &jobs[i];
	return NULL;
}

static void start_job(struct cur *c)
{
	uint32_t id = get_u32(c);
	uint32_t argc = get_u32(c);
	if (c->bad || argc == 0 || argc > c->left) {
		respond(id, 2, EINVAL, NULL, NULL);
		return;
	}
	char **argv = calloc(argc + 1, sizeof(char *));
	if (!argv)
		die("out of memory");
	for (uint32_t i = 0; i < argc; i++)
		argv[i] = (char *)get_str(c);
	int32_t envc = (int32_t)get_u32(c);
	char **envp = environ;
	char **own_env = NULL;
	if (!c->bad && envc >= 0) {
		if ((size_t)envc > c->left) {
			c->bad = 1;
		} else {
			own_env = calloc((size_t)envc + 1, sizeof(char *));
			if (!own_env)
				die("out of memory");
			for (int32_t i = 0; i < envc; i++)
				own_env[i] = (char *)get_str(c);
			envp = own_env;
		}
	}
	const char *cwd = get_str(c);
	uint32_t input_len = get_u32(c);
	if (c->bad || input_len > c->left) {
		free(argv);
		free(own_env);
		respond(id, 2, EINVAL, NULL, NULL);
		return;
	}
	const char *input = c->p;

	int pin[2], pout[2], perr[2];
	if (pipe2(pin, O_CLOEXEC) < 0)
		die("pipe");
	if (pipe2(pout, O_CLOEXEC) < 0)
		die("pipe");
	if (pipe2(perr, O_CLOEXEC) < 0)
		die("pipe");
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	if (cwd[0] != '\0')
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid = 0;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(argv);
	free(own_env);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (rc != 0) {
		close(pin[1]);
		close(pout[0]);
		close(perr[0]);
		respond(id, 2, rc, NULL, NULL);
		return;
	}
	if (njobs == capjobs) {
		capjobs = capjobs ? capjobs * 2 : 16;
		jobs = realloc(jobs, capjobs * sizeof(*jobs));
		if (!jobs)
			die("out of memory");
	}
	struct job *j = &jobs[njobs++];
	memset(j, 0, sizeof(*j));
	j->id = id;
	j->pid = pid;
	j->in = pin[1];
	j->out = pout[0];
	j->err = perr[0];
	fcntl(j->in, F_SETFL, O_NONBLOCK);
	fcntl(j->out, F_SETFL, O_NONBLOCK);
	fcntl(j->err, F_SETFL, O_NONBLOCK);
	if (input_len > 0) {
		j->input = malloc(input_len);
		if (!j->input)
			die("out of memory");
		memcpy(j->input, input, input_len);
		j->input_len = input_len;
	} else {
		close_fd(&j->in);
	}
}

static void handle_frame(const char *p, size_t n)
{
	struct cur c = { p, n, 0 };
	uint32_t type = get_u32(&c);
	if (type == 1) {
		start_job(&c);
	} else if (type == 2) {
		uint32_t id = get_u32(&c);
		int32_t sig = (int32_t)get_u32(&c);
		struct job *j = find_job(id);
		if (!c.bad && j && !j->exited)
			kill(j->pid, sig);
	}
}

static void drain(int *fd, struct buf *b)
{
	char tmp[65536];
	for (;;) {
		ssize_t r = read(*fd, tmp, sizeof tmp);
		if (r > 0) {
			size_t keep = b->len < MAX_KEEP ? MAX_KEEP - b->len : 0;
			if (keep > (size_t)r)
				keep = (size_t)r;
			if (keep && buf_add(b, tmp, keep))
				die("out of memory");
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		close_fd(fd); /* EOF or error */
		return;
	}
}

static void feed(struct job *j)
{
	while (j->input_off < j->input_len) {
		ssize_t w = write(j->in, j->input + j->input_off, j->input_len - j->input_off);
		if (w > 0) {
			j->input_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		break; /* EPIPE: the program does not read its stdin */
	}
	close_fd(&j->in);
}

static void reap(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		for (size_t i = 0; i < njobs; i++) {
			if (jobs[i].pid == pid) {
				jobs[i].exited = 1;
				jobs[i].status = status;
				jobs[i].exit_ms = now_ms();
			}
		}
	}
}

/* Sends the responses of finished jobs and drops them. */
static void finish(void)
{
	long long now = now_ms();
	size_t k = 0;
	for (size_t i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		int done = j->exited && ((j->out < 0 && j->err < 0) || now - j->exit_ms >= LINGER_MS);
		if (!done) {
			jobs[k++] = *j;
			continue;
		}
		if (j->out >= 0)
			drain(&j->out, &j->o);
		if (j->err >= 0)
			drain(&j->err, &j->e);
		close_fd(&j->in);
		close_fd(&j->out);
		close_fd(&j->err);
		if (WIFSIGNALED(j->status))
			respond(j->id, 1, WTERMSIG(j->status), &j->o, &j->e);
		else
			respond(j->id, 0, WEXITSTATUS(j->status), &j->o, &j->e);
		free(j->o.p);
		free(j->e.p);
		free(j->input);
	}
	njobs = k;
}

int main(void)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		die("sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");
	fcntl(0, F_SETFD, FD_CLOEXEC);
	fcntl(1, F_SETFD, FD_CLOEXEC);

	struct buf in = { 0 };
	int in_open = 1;
	struct pollfd *pfds = NULL;
	size_t cappfds = 0;
	for (;;) {
		if (!in_open && njobs == 0)
			return 0;
		size_t need = 2 + njobs * 3;
		if (need > cappfds) {
			cappfds = need * 2;
			pfds = realloc(pfds, cappfds * sizeof(*pfds));
			if (!pfds)
				die("out of memory");
		}
		size_t n = 0;
		pfds[n++] = (struct pollfd){ .fd = in_open ? 0 : -1, .events = POLLIN };
		pfds[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		int timeout = -1;
		long long now = now_ms();
		for (size_t i = 0; i < njobs; i++) {
			struct job *j = &jobs[i];
			pfds[n++] = (struct pollfd){ .fd = j->in, .events = POLLOUT };
			pfds[n++] = (struct pollfd){ .fd = j->out, .events = POLLIN };
			pfds[n++] = (struct pollfd){ .fd = j->err, .events = POLLIN };
			if (j->exited) {
				long long left = j->exit_ms + LINGER_MS - now;
				int t = left < 0 ? 0 : (int)left;
				if (timeout < 0 || t < timeout)
					timeout = t;
			}
		}
		if (poll(pfds, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfds[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0) {
			}
			reap();
		}
		for (size_t i = 0; i < njobs; i++) {
			struct job *j = &jobs[i];
			struct pollfd *pf = &pfds[2 + i * 3];
			if (j->in >= 0 && pf[0].revents)
				feed(j);
			if (j->out >= 0 && pf[1].revents)
				drain(&j->out, &j->o);
			if (j->err >= 0 && pf[2].revents)
				drain(&j->err, &j->e);
		}
		reap();
		if (pfds[0].revents) {
			char tmp[65536];
			ssize_t r = read(0, tmp, sizeof tmp);
			if (r > 0) {
				if (buf_add(&in, tmp, (size_t)r))
					die("out of memory");
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				in_open = 0;
			}
			size_t off = 0;
			while (in.len - off >= 4) {
				uint32_t len;
				memcpy(&len, in.p + off, 4);
				if (len > MAX_FRAME) {
					fprintf(stderr, "berth-spawner: frame of %u bytes\n", len);
					return 1;
				}
				if (in.len - off - 4 < len)
					break;
				handle_frame(in.p + off + 4, len);
				off += 4 + (size_t)len;
			}
			if (off > 0) {
				memmove(in.p, in.p + off, in.len - off);
				in.len -= off;
			}
		}
		finish();
	}
}
