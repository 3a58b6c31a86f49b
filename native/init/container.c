/* The container process: everything from GO to execve, in the order of native/PROTOCOL.md. */
#define _GNU_SOURCE
#include "init.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int wait_go(struct ctx *c)
{
	uint32_t type, len;
	uint8_t *payload;
	if (msg_recv(c->sync_fd, &type, &payload, &len, PLAN_MAX_SIZE) < 0)
		return FAIL("wait for GO");
	if (type != MSG_GO) {
		free(payload);
		return fail(EPROTO, "wait for GO: got message type %u", type);
	}
	c->state = (char *)payload;
	c->state_len = len;
	uint32_t pid;
	if (read_all(c->inner_fd, &pid, sizeof(pid)) < 0)
		return FAIL("read own pid from the executor");
	c->host_pid = (pid_t)pid;
	return 0;
}

static bool has_cgroup_mount(const struct plan *p)
{
	for (uint32_t i = 0; i < p->n_mounts; i++)
		if (p->mounts[i].kind == MOUNT_CGROUP)
			return true;
	return false;
}

/* Opens the exec fifo for writing (blocks until `start` opens it for reading) and writes one byte. */
static int exec_fifo_wait(struct ctx *c)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->fifo_fd);
	_cleanup_fd_ int fd = -1;
	do
		fd = open(path, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return FAIL("exec fifo %s: open for writing", c->p->exec_fifo);
	if (write_all(fd, "0", 1) < 0)
		return FAIL("exec fifo %s: write", c->p->exec_fifo);
	close(c->fifo_fd);
	c->fifo_fd = -1;
	return 0;
}

/* Closes every fd above the sync fd but the exec fifo and the seccomp listener (both closed once used). */
static int close_extra_fds(struct ctx *c)
{
	int keep[2] = { c->fifo_fd < c->listener_fd ? c->fifo_fd : c->listener_fd,
			c->fifo_fd < c->listener_fd ? c->listener_fd : c->fifo_fd };
	unsigned lo = (unsigned)c->sync_fd + 1;
	for (int i = 0; i < 2; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < lo)
			continue;
		if ((unsigned)keep[i] > lo && close_range(lo, (unsigned)keep[i] - 1, 0) < 0)
			return FAIL("close_range");
		lo = (unsigned)keep[i] + 1;
	}
	if (close_range(lo, ~0U, 0) < 0)
		return FAIL("close_range");
	return 0;
}

int container_main(struct ctx *c)
{
	struct plan *p = c->p;
	struct plan_process *pr = &p->process;

	if (wait_go(c) < 0)
		return -1;
	if ((p->clone_flags & CLONE_NEWUSER) && p->userns_mapped) {
		if (setresgid(0, 0, 0) < 0)
			return FAIL("setresgid 0 in the new user namespace");
		if (setresuid(0, 0, 0) < 0)
			return FAIL("setresuid 0 in the new user namespace");
	}
	if (set_affinity(&pr->cpu_final, "final") < 0)
		return -1;
	if (p->clone_flags & CLONE_NEWCGROUP) {
		if (has_cgroup_mount(p) && !(c->proc_cgroup = read_file("/proc/self/cgroup", 65536)))
			return FAIL("read /proc/self/cgroup");
		if (unshare(CLONE_NEWCGROUP) < 0)
			return FAIL("unshare cgroup namespace");
	} else if (has_cgroup_mount(p) && !(c->proc_cgroup = read_file("/proc/self/cgroup", 65536))) {
		return FAIL("read /proc/self/cgroup");
	}
	if (*p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
		return FAIL("sethostname %s", p->hostname);
	if (*p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
		return FAIL("setdomainname %s", p->domainname);
	if (*p->rootfs && rootfs_prepare(c) < 0)
		return -1;
	if (run_hooks(c, p->create_hooks, p->n_create_hooks, "createContainer") < 0)
		return -1;
	if (*p->rootfs && rootfs_pivot(c) < 0)
		return -1;
	if (setup_console(c) < 0)
		return -1;
	if (*p->rootfs && rootfs_finalize(c) < 0)
		return -1;
	if (p->new_keyring && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		return FAIL("join a new session keyring");
	if (set_rlimits(pr) < 0 || set_scheduling(pr) < 0)
		return -1;
	bool cwd_later = false;
	if (*pr->cwd && chdir(pr->cwd) < 0) {
		if (errno != EACCES) /* may be reachable only as the process user */
			return FAIL("chdir %s", pr->cwd);
		cwd_later = true;
	}
	if (set_lsm_labels(pr) < 0)
		return -1;
	if (drop_bounding(pr) < 0 || set_user(pr) < 0)
		return -1;
	if (cwd_later && chdir(pr->cwd) < 0)
		return FAIL("chdir %s", pr->cwd);
	/* Resolved as the process user and before any filter: an old allow-list profile may lack what
	   a PATH search needs (glibc's faccessat uses faccessat2). execve gets the absolute path. */
	char *exe = find_executable(pr);
	if (!exe)
		return -1;
	if (close_extra_fds(c) < 0)
		return -1;
	/* without no_new_privs the filter needs CAP_SYS_ADMIN, which the process may not keep */
	if (pr->has_seccomp && !pr->no_new_privileges && (raise_sys_admin() < 0 || load_seccomp(c) < 0))
		return -1;
	if (set_capabilities(pr) < 0)
		return -1;
	umask(pr->umask >= 0 ? (mode_t)pr->umask : c->initial_umask);
	if (pr->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return FAIL("prctl PR_SET_NO_NEW_PRIVS");
	if (msg_send(c->sync_fd, MSG_READY, NULL, 0) < 0)
		return FAIL("send READY");
	if (p->mode == PLAN_CREATE && c->fifo_fd >= 0 && exec_fifo_wait(c) < 0)
		return -1;
	if (run_hooks(c, p->start_hooks, p->n_start_hooks, "startContainer") < 0)
		return -1;
	if (pr->has_seccomp && pr->no_new_privileges && load_seccomp(c) < 0)
		return -1;
	if (c->fifo_fd >= 0)
		close(c->fifo_fd);
	if (c->listener_fd >= 0)
		close(c->listener_fd);
	c->fifo_fd = c->listener_fd = -1;
	/* nothing but stdio, the preserved fds and the close-on-exec sync fd may reach the process;
	   close_extra_fds did the work before the filter (which may deny close_range: only
	   close-on-exec fds were opened since), so a failure here matters only without one */
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &c->saved_sigmask, NULL);
	if (close_range((unsigned)c->sync_fd + 1, ~0U, 0) < 0 && !pr->has_seccomp)
		return FAIL("close_range");
	execve(exe, pr->args.items, pr->env.items);
	return FAIL("exec %s", exe);
}
