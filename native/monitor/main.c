/*
 * berth-monitor: detaches, becomes subreaper, runs CMD (the program that creates the container) with
 * stdio it owns, learns the container pid, then logs its output, serves attach, and records its exit.
 * Contract: native/MONITOR.md.
 */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

struct opts g_opt = { .sync_fd = -1, .pid_file_timeout_ms = 10000, .log_format = LOG_CRI };

static pid_t cmd_pid, container_pid;
static bool cmd_done;
static int out_r = -1, err_r = -1, pty_fd = -1;
static int attach_l = -1, ctl_l = -1, console_l = -1;
static int epfd = -1, sig_fd = -1, timer_fd = -1;
static struct timespec pid_deadline;
static bool output_paused, pty_want_out;

/* children reaped before the container pid was known */
struct reaped { pid_t pid; int status; struct timespec at; };
static struct reaped ring[64];
static unsigned ring_next;

pid_t monitor_container_pid(void) { return container_pid; }
bool monitor_running(void) { return container_pid > 0; }
int monitor_pty_fd(void) { return pty_fd; }

static void output_events(void)
{
	uint32_t in = output_paused ? 0 : EPOLLIN;
	struct epoll_event ev = { .events = in, .data.u64 = EV_TAG(EV_STDOUT, 0) };
	if (out_r >= 0)
		epoll_ctl(epfd, EPOLL_CTL_MOD, out_r, &ev);
	ev.data.u64 = EV_TAG(EV_STDERR, 0);
	if (err_r >= 0)
		epoll_ctl(epfd, EPOLL_CTL_MOD, err_r, &ev);
	ev.events = in | (pty_want_out ? EPOLLOUT : 0);
	ev.data.u64 = EV_TAG(EV_PTY, 0);
	if (pty_fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_MOD, pty_fd, &ev);
}

void pty_watch(bool want_out)
{
	pty_want_out = want_out;
	output_events();
}

/* Backpressure: while a client is far behind, stop reading the container's output (it blocks on a
 * full pipe, as on a slow terminal); a client that makes no progress for CLIENT_STALL_MS is dropped. */
static void update_backpressure(void)
{
	if (output_paused)
		clients_drop_stalled(now_ms());
	bool want = clients_backlogged();
	if (want != output_paused) {
		output_paused = want;
		output_events();
	}
}

static void unlink_sockets(void)
{
	if (g_opt.attach_socket && attach_l >= 0)
		unlink(g_opt.attach_socket);
	if (g_opt.ctl_socket && ctl_l >= 0)
		unlink(g_opt.ctl_socket);
	if (g_opt.console_socket && console_l >= 0)
		unlink(g_opt.console_socket);
}

/* A failure of the monitor itself (not of the container). */
static __attribute__((noreturn, format(printf, 1, 2))) void fatal(const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mlog("%s", msg);
	size_t n = strlen(msg);
	char buf[4 + sizeof(msg)];
	int32_t st = -1;
	memcpy(buf, &st, 4);
	memcpy(buf + 4, msg, n);
	sync_send(SYNC_FAILED, buf, (uint32_t)(4 + n));
	unlink_sockets();
	exit(1);
}

static __attribute__((noreturn)) void usage(const char *msg, const char *arg)
{
	fprintf(stderr, "berth-monitor: %s%s%s\nusage: berth-monitor [options] -- CMD ARGS... (see native/MONITOR.md)\n",
		msg, arg ? ": " : "", arg ? arg : "");
	char buf[300];
	int n = snprintf(buf + 4, sizeof(buf) - 4, "%s%s%s", msg, arg ? ": " : "", arg ? arg : "");
	int32_t st = -1;
	memcpy(buf, &st, 4);
	if (n > (int)sizeof(buf) - 4)
		n = (int)sizeof(buf) - 4;
	sync_send(SYNC_FAILED, buf, (uint32_t)(4 + n));
	exit(2);
}

static long long num(const char *flag, const char *s, long long lo, long long hi)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage("bad number for", flag);
	return v;
}

static void parse_args(int argc, char **argv)
{
	int i = 1;
	/* the sync fd first, so that usage errors can be reported on it */
	for (int j = 1; j + 1 < argc && strcmp(argv[j], "--"); j++)
		if (!strcmp(argv[j], "--sync-fd"))
			g_opt.sync_fd = (int)num("--sync-fd", argv[j + 1], 3, INT_MAX);
	for (; i < argc && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL() (v && strcmp(v, "--") ? (i++, v) : (usage("missing value for", a), ""))
		if (!strcmp(a, "--sync-fd")) VAL();
		else if (!strcmp(a, "--monitor-pid-file")) g_opt.monitor_pid_file = VAL();
		else if (!strcmp(a, "--pid-file")) g_opt.pid_file = VAL();
		else if (!strcmp(a, "--pid-file-timeout")) g_opt.pid_file_timeout_ms = (long)num(a, VAL(), 0, 3600000);
		else if (!strcmp(a, "--cmd-is-container")) g_opt.cmd_is_container = true;
		else if (!strcmp(a, "--exit-file")) g_opt.exit_file = VAL();
		else if (!strcmp(a, "--log-path")) g_opt.log_path = VAL();
		else if (!strcmp(a, "--log-format")) {
			const char *f = VAL();
			if (!strcmp(f, "cri")) g_opt.log_format = LOG_CRI;
			else if (!strcmp(f, "plain")) g_opt.log_format = LOG_PLAIN;
			else usage("unknown log format", f);
		}
		else if (!strcmp(a, "--log-size-max")) g_opt.log_size_max = num(a, VAL(), 0, LLONG_MAX);
		else if (!strcmp(a, "--attach-socket")) g_opt.attach_socket = VAL();
		else if (!strcmp(a, "--ctl-socket")) g_opt.ctl_socket = VAL();
		else if (!strcmp(a, "--stdin")) g_opt.use_stdin = true;
		else if (!strcmp(a, "--stdin-once")) g_opt.stdin_once = true;
		else if (!strcmp(a, "--terminal")) g_opt.terminal = true;
		else if (!strcmp(a, "--console-socket")) g_opt.console_socket = VAL();
		else if (!strcmp(a, "--pass-fd")) {
			if (g_opt.n_pass_fds == MAX_PASS_FDS)
				usage("too many", a);
			g_opt.pass_fds[g_opt.n_pass_fds++] = (int)num(a, VAL(), 3, INT_MAX);
		}
		else if (!strcmp(a, "--exit-command")) g_opt.exit_command = VAL();
		else if (!strcmp(a, "--exit-command-arg")) {
			if (g_opt.n_exit_command_args == MAX_EXIT_CMD_ARGS)
				usage("too many", a);
			g_opt.exit_command_args[1 + g_opt.n_exit_command_args++] = VAL();
		}
		else usage("unknown option", a);
#undef VAL
	}
	if (i >= argc - 1)
		usage("no command after --", NULL);
	g_opt.cmd = argv + i + 1;
	if (!g_opt.pid_file && !g_opt.cmd_is_container)
		usage("one of --pid-file and --cmd-is-container is needed", NULL);
	if (g_opt.pid_file && g_opt.cmd_is_container)
		usage("--pid-file and --cmd-is-container exclude each other", NULL);
	if (g_opt.terminal != (g_opt.console_socket != NULL))
		usage("--terminal and --console-socket go together", NULL);
	if (g_opt.stdin_once && !g_opt.use_stdin)
		usage("--stdin-once needs --stdin", NULL);
	if (g_opt.n_exit_command_args > 0 && !g_opt.exit_command)
		usage("--exit-command-arg needs --exit-command", NULL);
	if (g_opt.exit_command && g_opt.exit_command[0] != '/')
		usage("--exit-command must be an absolute path", g_opt.exit_command);
	g_opt.exit_command_args[0] = g_opt.exit_command;
	g_opt.exit_command_args[1 + g_opt.n_exit_command_args] = NULL;
	for (int k = 0; k < g_opt.n_pass_fds; k++) {
		if (g_opt.pass_fds[k] == g_opt.sync_fd)
			usage("--pass-fd names the sync fd", NULL);
		if (fcntl(g_opt.pass_fds[k], F_GETFD) < 0)
			usage("--pass-fd is not open", NULL);
	}
	if (g_opt.sync_fd >= 0 && fcntl(g_opt.sync_fd, F_GETFD) < 0) {
		g_opt.sync_fd = -1;
		usage("--sync-fd is not open", NULL);
	}
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Closes every fd >= 3 except the sorted `keep` ones. */
static void close_others(const int *keep, int n)
{
	unsigned lo = 3;
	for (int k = 0; k < n; k++) {
		if ((unsigned)keep[k] > lo)
			close_range(lo, (unsigned)keep[k] - 1, 0);
		if ((unsigned)keep[k] + 1 > lo)
			lo = (unsigned)keep[k] + 1;
	}
	close_range(lo, ~0U, 0);
}

static void detach(void)
{
	pid_t b = fork();
	if (b < 0)
		usage("fork failed", strerror(errno));
	if (b > 0) {
		int st;
		while (waitpid(b, &st, 0) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	setsid();
	pid_t c = fork();
	if (c != 0)
		_exit(c < 0 ? 1 : 0);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
}

static __attribute__((noreturn)) void exec_cmd(int in, int out, int err)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(127);
	int keep[MAX_PASS_FDS];
	memcpy(keep, g_opt.pass_fds, sizeof(keep));
	qsort(keep, (size_t)g_opt.n_pass_fds, sizeof(int), cmp_int);
	for (int k = 0; k < g_opt.n_pass_fds; k++)
		fcntl(keep[k], F_SETFD, 0);
	close_others(keep, g_opt.n_pass_fds);
	execvp(g_opt.cmd[0], g_opt.cmd);
	dprintf(2, "berth-monitor: exec %s: %s\n", g_opt.cmd[0], strerror(errno));
	_exit(127);
}

static void ep_add(int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		fatal("epoll_ctl: %s", strerror(errno));
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, *fd, NULL);
		close(*fd);
	}
	*fd = -1;
}

/* One read from an output fd; false at EOF (the fd was closed). */
static bool pump(int *fd, enum stream s)
{
	char buf[16384];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n > 0) {
		log_output(s, buf, (size_t)n);
		clients_broadcast(s == STREAM_STDOUT ? F_STDOUT : F_STDERR, buf, (size_t)n);
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return errno == EINTR;
	if (fd == &pty_fd)
		stdin_set(-1, true);
	close_fd(fd);
	return false;
}

static void drain_all(void)
{
	/* what is readable now; a pipe another process still holds ends at EAGAIN, and a writer that
	 * outlived the container cannot keep the monitor here: at most 4 MiB per stream */
	for (int i = 0; i < 256 && out_r >= 0 && pump(&out_r, STREAM_STDOUT); i++)
		;
	for (int i = 0; i < 256 && err_r >= 0 && pump(&err_r, STREAM_STDERR); i++)
		;
	for (int i = 0; i < 256 && pty_fd >= 0 && pump(&pty_fd, STREAM_STDOUT); i++)
		;
	log_flush_partial();
}

static void write_exit(pid_t pid, int status, const struct timespec *at, bool failed_create, char *js, size_t cap)
{
	if (exit_json(js, cap, pid, status, at, failed_create) < 0)
		js[0] = 0;
	if (g_opt.exit_file && js[0]) {
		size_t n = strlen(js);
		js[n] = '\n';
		if (write_file_atomic(g_opt.exit_file, js, n + 1) < 0)
			mlog("write %s: %s", g_opt.exit_file, strerror(errno));
		js[n] = 0;
	}
}

/* --exit-command: started once the exit file is written and the clients are told; detached (own
 * session, not our child once we exit), stdio on /dev/null, default signal mask, no other fds. */
static void run_exit_command(void)
{
	if (!g_opt.exit_command)
		return;
	pid_t a = fork();
	if (a < 0) {
		mlog("exit command: fork: %s", strerror(errno));
		return;
	}
	if (a == 0) {
		setsid();
		pid_t b = fork();
		if (b != 0)
			_exit(b < 0 ? 1 : 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int null = open("/dev/null", O_RDWR);
		if (null < 0)
			_exit(127);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close_range(3, ~0U, 0);
		execv(g_opt.exit_command, (char *const *)g_opt.exit_command_args);
		_exit(127);
	}
	int st;
	while (waitpid(a, &st, 0) < 0 && errno == EINTR)
		;
}

static void on_console(void);

static __attribute__((noreturn)) void container_exited(int status, const struct timespec *at)
{
	char js[512];
	/* a short-lived process may exit before its pty master was taken from the console socket's
	   backlog (the exit's SIGCHLD came first): take it now, so that its output is drained too */
	if (console_l >= 0 && pty_fd < 0) {
		struct pollfd cp = { .fd = console_l, .events = POLLIN };
		if (poll(&cp, 1, 0) == 1)
			on_console();
	}
	if (attach_l >= 0) /* clients that connected before the exit get its output and EXIT */
		clients_accept(attach_l, true);
	drain_all();
	write_exit(container_pid, status, at, false, js, sizeof(js));
	unlink_sockets();
	clients_finish(js);
	run_exit_command();
	exit(0);
}

static __attribute__((noreturn)) void create_failed(int status, const struct timespec *at, const char *why)
{
	char js[512];
	drain_all();
	write_exit(cmd_pid, status, at, true, js, sizeof(js));
	char buf[600], last[300];
	int32_t code = status_code(status);
	memcpy(buf, &code, 4);
	log_last_stderr_line(last, sizeof(last));
	int n = snprintf(buf + 4, sizeof(buf) - 4, "%s%s%s", why, last[0] ? ": " : "", last);
	sync_send(SYNC_FAILED, buf, (uint32_t)(4 + (n < (int)sizeof(buf) - 4 ? n : (int)sizeof(buf) - 5)));
	unlink_sockets();
	clients_finish(js);
	exit(0);
}

static void send_ready(void)
{
	uint32_t p = (uint32_t)container_pid;
	uint8_t b[4] = { (uint8_t)p, (uint8_t)(p >> 8), (uint8_t)(p >> 16), (uint8_t)(p >> 24) };
	sync_send(SYNC_READY, b, 4);
	sync_close();
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	int ppid;
	char state;
	if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

/* Reads the pid file; true once the container pid is known (and READY sent). */
static bool try_pid_file(void)
{
	char buf[32];
	int fd = open(g_opt.pid_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return false;
		char why[300];
		snprintf(why, sizeof(why), "open pid file %s: %s", g_opt.pid_file, strerror(errno));
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		create_failed(255 << 8, &now, why);
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false; /* not written yet */
	buf[n] = 0;
	char *end;
	long v = strtol(buf, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (v <= 0 || v > INT_MAX || *end) {
		char why[300];
		snprintf(why, sizeof(why), "pid file %s: not a pid", g_opt.pid_file);
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		create_failed(255 << 8, &now, why);
	}
	container_pid = (pid_t)v;
	close_fd(&timer_fd);
	for (unsigned k = 0; k < 64; k++) {
		if (ring[k].pid == container_pid) {
			send_ready();
			container_exited(ring[k].status, &ring[k].at);
		}
	}
	if (parent_of(container_pid) != getpid()) {
		pid_t p = container_pid;
		container_pid = 0;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		char why[160];
		if (kill(p, 0) < 0 && errno == ESRCH)
			snprintf(why, sizeof(why), "container pid %d (from %s) is gone: it exited and was reaped before CMD exited",
				 (int)p, g_opt.pid_file);
		else
			snprintf(why, sizeof(why), "container pid %d (from %s) is not a child of the monitor", (int)p,
				 g_opt.pid_file);
		create_failed(255 << 8, &now, why);
	}
	send_ready();
	return true;
}

static void cmd_exited(int status, const struct timespec *at)
{
	if (g_opt.cmd_is_container)
		container_exited(status, at);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char why[128];
		snprintf(why, sizeof(why), "%s exited with status %d", g_opt.cmd[0], status_code(status));
		create_failed(status, at, why);
	}
	if (try_pid_file())
		return;
	clock_gettime(CLOCK_MONOTONIC, &pid_deadline);
	pid_deadline.tv_sec += g_opt.pid_file_timeout_ms / 1000;
	pid_deadline.tv_nsec += (g_opt.pid_file_timeout_ms % 1000) * 1000000L;
	if (pid_deadline.tv_nsec >= 1000000000L) {
		pid_deadline.tv_sec++;
		pid_deadline.tv_nsec -= 1000000000L;
	}
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (timer_fd < 0)
		fatal("timerfd_create: %s", strerror(errno));
	struct itimerspec it = { .it_interval = { 0, 20000000L }, .it_value = { 0, 20000000L } };
	timerfd_settime(timer_fd, 0, &it, NULL);
	ep_add(timer_fd, EPOLLIN, EV_TAG(EV_TIMER, 0));
}

static void on_timer(void)
{
	uint64_t ticks;
	(void)!read(timer_fd, &ticks, sizeof(ticks));
	if (try_pid_file())
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > pid_deadline.tv_sec || (now.tv_sec == pid_deadline.tv_sec && now.tv_nsec >= pid_deadline.tv_nsec)) {
		char why[300];
		snprintf(why, sizeof(why), "pid file %s did not appear within %ld ms", g_opt.pid_file,
			 g_opt.pid_file_timeout_ms);
		clock_gettime(CLOCK_REALTIME, &now);
		create_failed(255 << 8, &now, why);
	}
}

static void reap(void)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0)
			return;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (p == cmd_pid && !cmd_done) {
			cmd_done = true;
			cmd_exited(st, &now);
		} else if (container_pid > 0 && p == container_pid) {
			container_exited(st, &now);
		} else if (container_pid == 0) {
			ring[ring_next % 64] = (struct reaped){ p, st, now };
			ring_next++;
		}
	}
}

static void on_signal(void)
{
	struct signalfd_siginfo si;
	while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGUSR1:
			if (log_reopen() < 0)
				mlog("reopen %s: %s", g_opt.log_path, strerror(errno));
			break;
		default: { /* SIGTERM, SIGINT, SIGHUP: to the container, or to CMD while it creates */
			pid_t to = container_pid > 0 ? container_pid : (!cmd_done ? cmd_pid : 0);
			if (to > 0)
				kill(to, (int)si.ssi_signo);
		}
		}
	}
}

static void on_console(void)
{
	int conn = accept4(console_l, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return;
	struct pollfd pfd = { .fd = conn, .events = POLLIN };
	int fd = -1;
	if (poll(&pfd, 1, 5000) == 1)
		fd = recv_fd(conn);
	close(conn);
	if (fd < 0)
		return; /* a connection without a master: keep listening */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pty_fd = fd;
	ep_add(pty_fd, EPOLLIN, EV_TAG(EV_PTY, 0));
	pty_arrived(pty_fd);
	if (g_opt.use_stdin)
		stdin_set(pty_fd, true);
	close_fd(&console_l);
	unlink(g_opt.console_socket);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	{
		int keep[MAX_PASS_FDS + 1];
		int n = 0;
		for (int k = 0; k < g_opt.n_pass_fds; k++)
			keep[n++] = g_opt.pass_fds[k];
		if (g_opt.sync_fd >= 0)
			keep[n++] = g_opt.sync_fd;
		qsort(keep, (size_t)n, sizeof(int), cmp_int);
		close_others(keep, n);
		if (g_opt.sync_fd >= 0)
			fcntl(g_opt.sync_fd, F_SETFD, FD_CLOEXEC);
	}
	detach();

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		fatal("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sig_fd < 0 || epfd < 0)
		fatal("signalfd/epoll: %s", strerror(errno));
	clients_init(epfd);

	uint32_t me = (uint32_t)getpid();
	uint8_t mb[4] = { (uint8_t)me, (uint8_t)(me >> 8), (uint8_t)(me >> 16), (uint8_t)(me >> 24) };
	sync_send(SYNC_MONITOR, mb, 4);
	if (g_opt.monitor_pid_file) {
		char s[16];
		int n = snprintf(s, sizeof(s), "%u", me);
		if (write_file_atomic(g_opt.monitor_pid_file, s, (size_t)n) < 0)
			fatal("write %s: %s", g_opt.monitor_pid_file, strerror(errno));
	}
	if (log_open() < 0)
		fatal("open log %s: %s", g_opt.log_path, strerror(errno));

	int outp[2], errp[2], inp[2] = { -1, -1 };
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
	if (g_opt.use_stdin && !g_opt.terminal) {
		if (pipe2(inp, O_CLOEXEC) < 0)
			fatal("pipe: %s", strerror(errno));
	} else {
		inp[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (inp[0] < 0)
			fatal("open /dev/null: %s", strerror(errno));
	}
	if (g_opt.terminal && (console_l = unix_listen(g_opt.console_socket)) < 0)
		fatal("console socket %s: %s", g_opt.console_socket, strerror(errno));
	if (g_opt.terminal && g_opt.use_stdin)
		stdin_await_pty();
	if (g_opt.attach_socket && (attach_l = unix_listen(g_opt.attach_socket)) < 0)
		fatal("attach socket %s: %s", g_opt.attach_socket, strerror(errno));
	if (g_opt.ctl_socket && (ctl_l = unix_listen(g_opt.ctl_socket)) < 0)
		fatal("ctl socket %s: %s", g_opt.ctl_socket, strerror(errno));

	cmd_pid = fork();
	if (cmd_pid < 0)
		fatal("fork: %s", strerror(errno));
	if (cmd_pid == 0)
		exec_cmd(inp[0], outp[1], errp[1]);
	for (int k = 0; k < g_opt.n_pass_fds; k++)
		close(g_opt.pass_fds[k]);
	close(outp[1]);
	close(errp[1]);
	close(inp[0]);
	out_r = outp[0];
	err_r = errp[0];
	fcntl(out_r, F_SETFL, O_NONBLOCK);
	fcntl(err_r, F_SETFL, O_NONBLOCK);
	if (inp[1] >= 0) {
		fcntl(inp[1], F_SETFL, O_NONBLOCK);
		stdin_set(inp[1], false);
	}
	ep_add(sig_fd, EPOLLIN, EV_TAG(EV_SIGNAL, 0));
	ep_add(out_r, EPOLLIN, EV_TAG(EV_STDOUT, 0));
	ep_add(err_r, EPOLLIN, EV_TAG(EV_STDERR, 0));
	if (console_l >= 0)
		ep_add(console_l, EPOLLIN, EV_TAG(EV_CONSOLE_LISTEN, 0));
	if (attach_l >= 0)
		ep_add(attach_l, EPOLLIN, EV_TAG(EV_ATTACH_LISTEN, 0));
	if (ctl_l >= 0)
		ep_add(ctl_l, EPOLLIN, EV_TAG(EV_CTL_LISTEN, 0));
	if (g_opt.cmd_is_container) {
		container_pid = cmd_pid;
		send_ready();
	}

	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(epfd, evs, 16, output_paused ? 500 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait: %s", strerror(errno));
		}
		/* new attach clients first: one that connected before output was produced gets all of it */
		for (int k = 0; k < n; k++)
			if ((uint32_t)(evs[k].data.u64 >> 32) == EV_ATTACH_LISTEN && attach_l >= 0)
				clients_accept(attach_l, true);
		for (int k = 0; k < n; k++) {
			uint32_t kind = (uint32_t)(evs[k].data.u64 >> 32), idx = (uint32_t)evs[k].data.u64;
			uint32_t e = evs[k].events;
			switch (kind) {
			case EV_SIGNAL: on_signal(); break;
			/* while paused only a hangup wakes these; then read on (bounded by the client cap) */
			case EV_STDOUT: if (out_r >= 0) pump(&out_r, STREAM_STDOUT); break;
			case EV_STDERR: if (err_r >= 0) pump(&err_r, STREAM_STDERR); break;
			case EV_PTY:
				if ((e & EPOLLOUT) && pty_fd >= 0)
					stdin_event(e & ~(uint32_t)(EPOLLHUP | EPOLLERR));
				if ((e & (EPOLLHUP | EPOLLERR) || ((e & EPOLLIN) && !output_paused)) && pty_fd >= 0)
					pump(&pty_fd, STREAM_STDOUT);
				break;
			case EV_STDIN: stdin_event(e); break;
			case EV_ATTACH_LISTEN: clients_accept(attach_l, true); break;
			case EV_CTL_LISTEN: clients_accept(ctl_l, false); break;
			case EV_CONSOLE_LISTEN: if (console_l >= 0) on_console(); break;
			case EV_CLIENT: client_event((int)idx, e); break;
			case EV_TIMER: if (timer_fd >= 0) on_timer(); break;
			default: break;
			}
		}
		update_backpressure();
	}
}
