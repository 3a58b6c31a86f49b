/* berth-init <sync-fd>: executes a plan (native/PROTOCOL.md). This file: the first process. It
 * re-executes itself from a sealed memfd, reads the plan, joins namespaces, clones the container
 * process, reports its pid, and in foreground mode stays to reap it and relay signals and the pty. */
#define _GNU_SOURCE
#include "init.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALED_ENV "_BERTH_INIT_SEALED"
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static bool self_is_sealed(void)
{
	_cleanup_fd_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	int seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & SEALS) == SEALS;
}

/* Copies the running binary into a sealed memfd and executes that: nothing in a container can then
 * reach the on-disk binary through /proc/PID/exe. Returns only on failure. */
static int reexec_sealed(char **argv)
{
	_cleanup_fd_ int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return FAIL("re-exec: open /proc/self/exe");
	struct stat st;
	if (fstat(self, &st) < 0)
		return FAIL("re-exec: stat /proc/self/exe");
	_cleanup_fd_ int mfd = memfd_create("berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (mfd < 0 && errno == EINVAL)
		mfd = memfd_create("berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return FAIL("re-exec: memfd_create");
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = sendfile(mfd, self, NULL, (size_t)(st.st_size - done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? FAIL("re-exec: copy binary") : fail(EIO, "re-exec: binary shrank");
		done += n;
	}
	if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
		return FAIL("re-exec: seal memfd");
	if (setenv(SEALED_ENV, "1", 1) < 0)
		return FAIL("re-exec: setenv");
	fexecve(mfd, argv, environ);
	return FAIL("re-exec: execveat memfd");
}

static int read_plan(struct ctx *c, struct plan *p)
{
	uint32_t type, len;
	uint8_t *buf;
	char err[512];
	if (msg_recv(c->sync_fd, &type, &buf, &len, PLAN_MAX_SIZE) < 0)
		return FAIL("read PLAN");
	if (type != MSG_PLAN) {
		free(buf);
		return fail(EPROTO, "read PLAN: got message type %u", type);
	}
	int r = plan_decode(buf, len, p, err, sizeof(err));
	free(buf);
	if (r < 0)
		return fail(EINVAL, "%s", err);
	return 0;
}

static int join_namespaces(const struct plan *p)
{
	int fds[32];
	uint32_t n = p->n_joins;
	if (n > 32)
		return fail(E2BIG, "join namespaces: %u is too many", n);
	for (uint32_t i = 0; i < n; i++) {
		fds[i] = open(p->joins[i].path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int e = errno;
			while (i-- > 0)
				close(fds[i]);
			return fail(e, "join namespace: open %s", p->joins[i].path);
		}
	}
	int ret = 0;
	/* the user namespace first: it grants the rights to join the others */
	for (int pass = 0; pass < 2 && ret == 0; pass++)
		for (uint32_t i = 0; i < n && ret == 0; i++) {
			bool user = p->joins[i].flag == CLONE_NEWUSER;
			if (user != (pass == 0))
				continue;
			if (setns(fds[i], (int)p->joins[i].flag) < 0)
				ret = FAIL("join namespace %s", p->joins[i].path);
		}
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	return ret;
}

static int set_time_offsets(const struct plan *p)
{
	if (p->clone_flags & CLONE_NEWTIME && unshare(CLONE_NEWTIME) < 0)
		return FAIL("unshare time namespace");
	if (p->n_time_offsets == 0)
		return 0;
	char buf[64 * 16];
	size_t o = 0;
	if (p->n_time_offsets > 16)
		return fail(E2BIG, "time offsets: %u is too many", p->n_time_offsets);
	for (uint32_t i = 0; i < p->n_time_offsets; i++) {
		const struct time_offset *t = &p->time_offsets[i];
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%u %lld %u\n", t->clock_id, (long long)t->secs,
				      t->nsecs);
	}
	return write_file("/proc/self/timens_offsets", buf, o, "time offsets");
}

static int open_host_fds(struct ctx *c)
{
	const struct plan *p = c->p;
	const struct plan_process *pr = &p->process;
	/* execFifoCreate: made here with no permission bits, then owned, then given its mode. */
	if (*p->exec_fifo && p->has_fifo_create &&
	    (mknod(p->exec_fifo, S_IFIFO, 0) < 0 || chown(p->exec_fifo, p->fifo_uid, p->fifo_gid) < 0 ||
	     chmod(p->exec_fifo, p->fifo_mode) < 0))
		return FAIL("exec fifo: create %s", p->exec_fifo);
	if (*p->exec_fifo && (c->fifo_fd = open(p->exec_fifo, O_PATH | O_CLOEXEC)) < 0)
		return FAIL("exec fifo: open %s", p->exec_fifo);
	if (pr->terminal && *pr->console_socket && (c->console_fd = unix_connect(pr->console_socket)) < 0)
		return FAIL("console socket: connect %s", pr->console_socket);
	if (pr->has_seccomp && *pr->seccomp.listener_path &&
	    (c->listener_fd = unix_connect(pr->seccomp.listener_path)) < 0)
		return FAIL("seccomp listener: connect %s", pr->seccomp.listener_path);
	return 0;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

/* Copies what is readable from `from` to `to`; returns false at EOF or error. */
static bool relay(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	return write_all(to, buf, (size_t)n) == 0;
}

/* Foreground: forward signals, relay the pty when asked, reap, return the exit code. */
static int foreground(struct ctx *c, pid_t pid, int pidfd)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	_cleanup_fd_ int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	_cleanup_fd_ int master = -1;
	if (c->p->process.terminal && !*c->p->process.console_socket) {
		master = recv_fd(c->inner_fd); /* -1 when the container process failed first */
		if (master >= 0 && isatty(STDIN_FILENO))
			copy_winsize(STDIN_FILENO, master);
	}
	bool in_open = master >= 0, out_open = master >= 0;
	for (;;) {
		struct pollfd pf[4] = { { .fd = pidfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
					{ .fd = out_open ? master : -1, .events = POLLIN },
					{ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN } };
		if (poll(pf, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH && master >= 0)
					copy_winsize(STDIN_FILENO, master);
				else
					pidfd_send_signal(pidfd, (int)si.ssi_signo, NULL, 0);
			}
		}
		if (pf[2].revents & (POLLIN | POLLHUP | POLLERR))
			out_open = relay(master, STDOUT_FILENO);
		if (pf[3].revents & (POLLIN | POLLHUP | POLLERR))
			in_open = relay(STDIN_FILENO, master);
		if (pf[0].revents & POLLIN) {
			if (out_open) { /* drain what the process wrote before it exited */
				fcntl(master, F_SETFL, O_NONBLOCK);
				char buf[16384];
				ssize_t n;
				while ((n = read(master, buf, sizeof(buf))) > 0)
					if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
						break;
			}
			break;
		}
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The rootfs steps change mount propagation and mount over the rootfs: never in the host's namespace. */
static int check_mount_ns(const struct plan *p)
{
	if (!*p->rootfs || (p->clone_flags & CLONE_NEWNS))
		return 0;
	for (uint32_t i = 0; i < p->n_joins; i++)
		if (p->joins[i].flag == CLONE_NEWNS)
			return 0;
	return fail(EINVAL, "rootfs %s: setting up a rootfs needs a new or joined mount namespace", p->rootfs);
}

static int run(struct ctx *c)
{
	struct plan *p = c->p;
	if (check_mount_ns(p) < 0)
		return -1;
	if (open_host_fds(c) < 0 || set_affinity(&p->process.cpu_initial, "initial") < 0)
		return -1;
	if (join_namespaces(p) < 0 || set_time_offsets(p) < 0)
		return -1;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return FAIL("socketpair");
	sigset_t block;
	sigemptyset(&block);
	if (p->foreground)
		for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
			sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &c->saved_sigmask);

	int pidfd = -1;
	struct clone_args ca = {
		.flags = (p->clone_flags & ~(uint64_t)(CLONE_NEWCGROUP | CLONE_NEWTIME)) | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return FAIL("clone container process (flags 0x%x)", p->clone_flags);
	if (pid == 0) {
		close(sp[0]);
		c->inner_fd = sp[1];
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		container_main(c);
		send_failure(c->sync_fd);
		_exit(1);
	}
	close(sp[1]);
	c->inner_fd = sp[0];
	uint32_t hp = (uint32_t)pid;
	if (write_all(c->inner_fd, &hp, sizeof(hp)) < 0 || msg_send(c->sync_fd, MSG_PID, &hp, sizeof(hp)) < 0) {
		int e = errno;
		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
		waitpid((pid_t)pid, NULL, 0);
		return fail(e, "send PID");
	}
	/* from here the container process talks to TypeScript itself */
	close(c->sync_fd);
	c->sync_fd = -1;
	if (c->fifo_fd >= 0)
		close(c->fifo_fd);
	if (c->console_fd >= 0)
		close(c->console_fd);
	if (c->listener_fd >= 0)
		close(c->listener_fd);
	c->fifo_fd = c->console_fd = c->listener_fd = -1;
	if (!p->foreground)
		exit(0);
	exit(foreground(c, (pid_t)pid, pidfd));
}

int main(int argc, char **argv)
{
	char *end = NULL;
	long fd = argc == 2 ? strtol(argv[1], &end, 10) : -1;
	if (argc != 2 || !end || *end || fd < 3 || fd > 65536 + 3) {
		fprintf(stderr, "usage: berth-init <sync-fd>  (run by berth; see native/PROTOCOL.md)\n");
		return 2;
	}
	struct ctx c = { .sync_fd = (int)fd, .inner_fd = -1, .fifo_fd = -1, .console_fd = -1, .listener_fd = -1 };
	if (!self_is_sealed()) {
		if (getenv(SEALED_ENV)) /* a re-exec that did not land in a sealed memfd: do not loop */
			fail(ELOOP, "re-exec: /proc/self/exe is not a sealed memfd");
		else
			reexec_sealed(argv);
		send_failure(c.sync_fd);
		return 1;
	}
	unsetenv(SEALED_ENV);
	/* only now: the re-exec above must keep the sync fd open */
	if (fcntl(c.sync_fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "berth-init: sync fd %ld: %s\n", fd, strerror(errno));
		return 1;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	c.initial_umask = umask(0);
	struct plan p;
	c.p = &p;
	if (read_plan(&c, &p) < 0) {
		if (g_fail.errnum != EPIPE) /* EPIPE: berth gave up before sending a plan, and says why */
			send_failure(c.sync_fd);
		return 1;
	}
	if ((uint32_t)fd != 3 + p.preserve_fds) {
		fail(EINVAL, "sync fd is %ld but the plan preserves %u fds (expected %u)", fd, p.preserve_fds,
		     3 + p.preserve_fds);
	} else {
		run(&c);
	}
	send_failure(c.sync_fd);
	return 1;
}
