/* Process attributes: hooks, console, rlimits, scheduling, LSM labels, user, capabilities, seccomp. */
#define _GNU_SOURCE
#include "init.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/ioprio.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* struct sched_attr of sched_setattr(2) (glibc 2.36 has no wrapper; the uapi header clashes). */
struct sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

static int run_hook(struct ctx *c, const struct plan_hook *h, const char *kind, uint32_t idx)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return FAIL("%s hook %u (%s): pipe", kind, idx, h->path);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return FAIL("%s hook %u (%s): fork", kind, idx, h->path);
	}
	if (pid == 0) {
		if (dup2(pfd[0], STDIN_FILENO) < 0)
			_exit(127);
		/* a seccomp filter loaded before startContainer hooks may deny close_range: fds above the
		   sync fd are gone by then (close_extra_fds), so mark the ones below it one by one */
		if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
			for (int fd = 3; fd <= c->sync_fd; fd++)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &c->saved_sigmask, NULL);
		umask(c->initial_umask);
		execve(h->path, h->args.n ? h->args.items : (char *[]){ h->path, NULL }, h->env.items);
		dprintf(STDERR_FILENO, "berth-init: %s hook %s: exec: %s\n", kind, h->path, strerror(errno));
		_exit(127);
	}
	close(pfd[0]);
	/* the hook may not read its stdin: EPIPE is fine */
	if (c->state_len)
		(void)write_all(pfd[1], c->state, c->state_len);
	close(pfd[1]);
	int status = 0;
	if (h->timeout) {
		_cleanup_fd_ int pidfd = pidfd_open(pid, 0);
		if (pidfd >= 0) {
			struct pollfd pf = { .fd = pidfd, .events = POLLIN };
			int r;
			do
				r = poll(&pf, 1, (int)(h->timeout > INT_MAX / 1000 ? INT_MAX : h->timeout * 1000));
			while (r < 0 && errno == EINTR);
			if (r == 0) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				return fail(ETIMEDOUT, "%s hook %u (%s): timed out after %us", kind, idx, h->path,
					    h->timeout);
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return FAIL("%s hook %u (%s): wait", kind, idx, h->path);
	if (WIFSIGNALED(status))
		return fail(0, "%s hook %u (%s): killed by signal %d", kind, idx, h->path, WTERMSIG(status));
	if (WEXITSTATUS(status))
		return fail(0, "%s hook %u (%s): exit status %d", kind, idx, h->path, WEXITSTATUS(status));
	return 0;
}

int run_hooks(struct ctx *c, const struct plan_hook *hooks, uint32_t n, const char *kind)
{
	for (uint32_t i = 0; i < n; i++)
		if (run_hook(c, &hooks[i], kind, i) < 0)
			return -1;
	return 0;
}

int setup_console(struct ctx *c)
{
	const struct plan_process *pr = &c->p->process;
	if (!pr->terminal)
		return 0;
	_cleanup_fd_ int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 && (errno == ENOENT || errno == ENODEV))
		master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return FAIL("console: open /dev/pts/ptmx");
	int unlock = 0, ptn = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &ptn) < 0)
		return FAIL("console: unlock pty");
	_cleanup_fd_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return FAIL("console: open /dev/pts/%d", ptn);
	if (pr->console_height || pr->console_width) {
		struct winsize ws = { .ws_row = (unsigned short)pr->console_height,
				      .ws_col = (unsigned short)pr->console_width };
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			return FAIL("console: set size");
	}
	char name[32];
	int n = snprintf(name, sizeof(name), "/dev/pts/%d", ptn);
	if (c->console_fd >= 0) {
		if (send_fd(c->console_fd, master, name, (size_t)n) < 0)
			return FAIL("console: send pty master to %s", pr->console_socket);
		close(c->console_fd);
		c->console_fd = -1;
	} else if (c->p->foreground) {
		if (send_fd(c->inner_fd, master, name, (size_t)n) < 0)
			return FAIL("console: send pty master to the executor");
	} else {
		return fail(EINVAL, "console: a terminal needs a console socket or foreground mode");
	}
	if (setsid() < 0)
		return FAIL("console: setsid");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return FAIL("console: set controlling terminal %s", name);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			return FAIL("console: dup2 %s", name);
	return 0;
}

int set_rlimits(const struct plan_process *pr)
{
	for (uint32_t i = 0; i < pr->n_rlimits; i++) {
		const struct plan_rlimit *l = &pr->rlimits[i];
		struct rlimit r = { .rlim_cur = l->soft, .rlim_max = l->hard };
		if (setrlimit((__rlimit_resource_t)l->resource, &r) < 0)
			return FAIL("setrlimit %u (soft %llu, hard %llu)", l->resource,
				    (unsigned long long)l->soft, (unsigned long long)l->hard);
	}
	return 0;
}

int set_scheduling(const struct plan_process *pr)
{
	if (pr->has_scheduler) {
		const struct plan_scheduler *s = &pr->scheduler;
		struct sched_attr a = { .size = sizeof(a), .sched_policy = s->policy, .sched_flags = s->flags,
					.sched_nice = s->nice, .sched_priority = s->priority,
					.sched_runtime = s->runtime, .sched_deadline = s->deadline,
					.sched_period = s->period };
		if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
			return FAIL("sched_setattr policy %u", s->policy);
	}
	if (pr->has_ioprio &&
	    syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(pr->ioprio_class, pr->ioprio_prio)) < 0)
		return FAIL("ioprio_set class %u priority %u", pr->ioprio_class, pr->ioprio_prio);
	if (pr->personality != -1 && personality((unsigned long)pr->personality) < 0)
		return FAIL("personality 0x%x", pr->personality);
	return 0;
}

int set_affinity(const struct u32list *cpus, const char *which)
{
	if (cpus->n == 0)
		return 0;
	cpu_set_t *set = CPU_ALLOC(PLAN_MAX_CPU);
	size_t size = CPU_ALLOC_SIZE(PLAN_MAX_CPU);
	if (!set)
		return FAIL("%s cpu affinity", which);
	CPU_ZERO_S(size, set);
	for (uint32_t i = 0; i < cpus->n; i++)
		CPU_SET_S(cpus->items[i], size, set);
	int r = sched_setaffinity(0, size, set);
	CPU_FREE(set);
	return r < 0 ? FAIL("%s cpu affinity", which) : 0;
}

int set_lsm_labels(const struct plan_process *pr)
{
	char buf[PLAN_MAX_STR + 8];
	if (*pr->apparmor_profile) {
		const char *f = "/proc/self/attr/apparmor/exec";
		if (access(f, F_OK) < 0)
			return fail(errno, "apparmor profile %s: %s is missing (AppArmor not enabled?)",
				    pr->apparmor_profile, f);
		int n = snprintf(buf, sizeof(buf), "exec %s", pr->apparmor_profile);
		if (write_file(f, buf, (size_t)n, "apparmor profile") < 0)
			return -1;
	}
	if (*pr->selinux_label) {
		const char *f = "/proc/self/attr/exec";
		if (access(f, F_OK) < 0)
			return fail(errno, "selinux label %s: %s is missing", pr->selinux_label, f);
		if (write_file(f, pr->selinux_label, strlen(pr->selinux_label), "selinux label") < 0)
			return -1;
	}
	return 0;
}

int drop_bounding(const struct plan_process *pr)
{
	for (int cap = 0; cap < 64; cap++) {
		if (pr->cap_bounding & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL) /* past the kernel's last capability */
				break;
			return FAIL("drop capability %d from the bounding set", cap);
		}
	}
	return 0;
}

int set_user(const struct plan_process *pr)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return FAIL("prctl PR_SET_KEEPCAPS");
	if (setgroups(pr->additional_gids.n, pr->additional_gids.items) < 0 &&
	    !(errno == EPERM && pr->additional_gids.n == 0))
		return FAIL("setgroups (%u groups)", pr->additional_gids.n);
	if (setresgid(pr->gid, pr->gid, pr->gid) < 0)
		return FAIL("setresgid %u", pr->gid);
	if (setresuid(pr->uid, pr->uid, pr->uid) < 0)
		return FAIL("setresuid %u", pr->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return FAIL("prctl PR_SET_KEEPCAPS");
	return 0;
}

int set_capabilities(const struct plan_process *pr)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(pr->cap_effective >> (32 * i));
		data[i].permitted = (uint32_t)(pr->cap_permitted >> (32 * i));
		data[i].inheritable = (uint32_t)(pr->cap_inheritable >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return FAIL("capset (effective 0x%llx, permitted 0x%llx, inheritable 0x%llx)",
			    (unsigned long long)pr->cap_effective, (unsigned long long)pr->cap_permitted,
			    (unsigned long long)pr->cap_inheritable);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return FAIL("clear ambient capabilities");
	for (int cap = 0; cap < 64; cap++)
		if ((pr->cap_ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return FAIL("raise ambient capability %d", cap);
	return 0;
}

int raise_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return FAIL("capget");
	data[CAP_SYS_ADMIN / 32].effective |= data[CAP_SYS_ADMIN / 32].permitted & (1U << (CAP_SYS_ADMIN % 32));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return FAIL("capset (raise CAP_SYS_ADMIN to load the seccomp filter)");
	return 0;
}

int load_seccomp(struct ctx *c)
{
	const struct plan_seccomp *s = &c->p->process.seccomp;
	struct sock_fprog prog = { .len = (unsigned short)(s->program_len / 8),
				   .filter = (struct sock_filter *)s->program };
	int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->flags, &prog);
	if (fd < 0)
		return FAIL("seccomp: load filter (%u instructions, flags 0x%x)", prog.len, s->flags);
	if (!(s->flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
		return 0;
	_cleanup_fd_ int listener = fd;
	if (c->listener_fd < 0)
		return fail(EINVAL, "seccomp: the filter has a listener but the plan has no listenerPath");
	size_t cap = 256 + 6 * strlen(s->listener_metadata) + c->state_len;
	char *json = malloc(cap);
	if (!json)
		return fail(ENOMEM, "seccomp: listener state");
	int n = snprintf(json, cap, "{\"ociVersion\":\"1.0.2\",\"fds\":[\"seccompFd\"],\"pid\":%d,\"metadata\":",
			 (int)c->host_pid);
	int q = json_quote(json + n, cap - (size_t)n, s->listener_metadata);
	n += q < 0 ? 0 : q;
	n += snprintf(json + n, cap - (size_t)n, ",\"state\":%s}", c->state_len ? c->state : "{}");
	int r = send_fd(c->listener_fd, listener, json, (size_t)n);
	free(json);
	if (r < 0)
		return FAIL("seccomp: send listener fd to %s", s->listener_path);
	close(c->listener_fd);
	c->listener_fd = -1;
	return 0;
}

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

char *find_executable(const struct plan_process *pr)
{
	const char *a0 = pr->args.items[0];
	if (strchr(a0, '/')) {
		if (!is_executable(a0)) {
			fail(errno ? errno : EACCES, "exec %s", a0);
			return NULL;
		}
		return strdup(a0);
	}
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (uint32_t i = 0; i < pr->env.n; i++)
		if (!strncmp(pr->env.items[i], "PATH=", 5))
			path = pr->env.items[i] + 5;
	char buf[PATH_MAX];
	for (const char *d = path;;) {
		const char *e = strchrnul(d, ':');
		int dl = (int)(e - d);
		if (snprintf(buf, sizeof(buf), "%.*s%s%s", dl, d, dl ? "/" : "", a0) < (int)sizeof(buf) &&
		    is_executable(buf))
			return strdup(buf);
		if (!*e)
			break;
		d = e + 1;
	}
	fail(ENOENT, "exec %s: not found in PATH %s", a0, path);
	return NULL;
}
