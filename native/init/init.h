/* berth-init: state shared by the executor's steps. */
#ifndef BERTH_INIT_H
#define BERTH_INIT_H

#include <signal.h>
#include <sys/types.h>
#include "plan.h"

struct ctx {
	struct plan *p;
	int sync_fd;      /* to TypeScript; close-on-exec */
	int inner_fd;     /* socketpair end between the first process and the container process */
	int fifo_fd;      /* O_PATH exec fifo, opened before namespaces are joined; -1 when none */
	int console_fd;   /* connected console socket; -1 when none */
	int listener_fd;  /* connected seccomp listener socket; -1 when none */
	pid_t host_pid;   /* the container process's pid in the executor's pid namespace */
	char *state;      /* state JSON from GO (NUL-terminated) */
	uint32_t state_len;
	char *proc_cgroup; /* /proc/self/cgroup read before the cgroup namespace, for cgroup mounts */
	mode_t initial_umask;
	sigset_t saved_sigmask;
};

/* container.c: the container process. Returns only on failure (g_fail set). */
int container_main(struct ctx *c);

/* rootfs.c */
int rootfs_prepare(struct ctx *c);   /* propagation, rootfs bind, mounts, devices, symlinks */
int rootfs_pivot(struct ctx *c);     /* pivot_root or MS_MOVE+chroot */
int rootfs_finalize(struct ctx *c);  /* sysctls, masked and read-only paths, propagation, ro root */

/* process.c */
int run_hooks(struct ctx *c, const struct plan_hook *hooks, uint32_t n, const char *kind);
int setup_console(struct ctx *c);
int set_rlimits(const struct plan_process *pr);
int set_scheduling(const struct plan_process *pr);
int set_affinity(const struct u32list *cpus, const char *which);
int set_lsm_labels(const struct plan_process *pr);
int set_user(const struct plan_process *pr);
int drop_bounding(const struct plan_process *pr);
int set_capabilities(const struct plan_process *pr);
/* Makes CAP_SYS_ADMIN effective again if permitted (a filter without no_new_privs needs it). */
int raise_sys_admin(void);
int load_seccomp(struct ctx *c);
/* Finds process.args[0] on the PATH of process.env; returns a malloc'd path. */
char *find_executable(const struct plan_process *pr);

#endif
