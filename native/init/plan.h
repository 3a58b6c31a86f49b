/* The decoded plan (src/runtime/plan/types.ts); wire format in native/PROTOCOL.md "Plan encoding". */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define PLAN_MAGIC 0x50545242u
#define PLAN_VERSION 1u
#define PLAN_MAX_SIZE (16u << 20)
#define PLAN_MAX_STR 131072u
#define PLAN_MAX_LIST 65536u
#define PLAN_MAX_CPU 8192u
#define PLAN_MAX_BPF_INSNS 4096u

enum plan_mode { PLAN_CREATE = 0, PLAN_EXEC = 1 };
enum mount_kind { MOUNT_NORMAL = 0, MOUNT_BIND = 1, MOUNT_CGROUP = 2 };

/* A list of NUL-terminated strings; items[n] is NULL so it can be an argv/envp. */
struct strlist { uint32_t n; char **items; };
struct u32list { uint32_t n; uint32_t *items; };

struct ns_join { uint32_t flag; char *path; };
struct id_map { uint32_t container_id, host_id, size; };
struct time_offset { uint32_t clock_id; int64_t secs; uint32_t nsecs; };

struct plan_mount {
	char *source, *destination, *fstype, *data;
	uint32_t flags;
	struct u32list propagation;
	uint32_t attr_set, attr_clr;
	bool dest_is_file;
	uint8_t kind;
};

struct plan_device { char *path; uint32_t mode, major, minor, uid, gid; bool bind; };
struct plan_symlink { char *target, *path; };
struct plan_sysctl { char *path, *value; };
struct plan_rlimit { uint32_t resource; uint64_t soft, hard; };
struct plan_hook { char *path; struct strlist args, env; uint32_t timeout; };

struct plan_scheduler {
	uint32_t policy; int32_t nice; uint32_t priority;
	uint64_t flags, runtime, deadline, period;
};

struct plan_seccomp {
	uint8_t *program; uint32_t program_len; /* bytes, a multiple of 8 */
	uint32_t flags;
	char *listener_path, *listener_metadata;
};

struct plan_process {
	struct strlist args, env;
	char *cwd;
	uint32_t uid, gid;
	struct u32list additional_gids;
	int32_t umask; /* -1 = unset */
	bool terminal;
	char *console_socket;
	uint32_t console_height, console_width;
	uint32_t n_rlimits; struct plan_rlimit *rlimits;
	uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
	bool no_new_privileges;
	bool has_scheduler; struct plan_scheduler scheduler;
	bool has_ioprio; uint32_t ioprio_class, ioprio_prio;
	struct u32list cpu_initial, cpu_final;
	int32_t personality; /* -1 = unset */
	char *apparmor_profile, *selinux_label;
	bool has_seccomp; struct plan_seccomp seccomp;
};

struct plan {
	uint8_t mode;
	bool foreground;
	uint32_t clone_flags;
	uint32_t n_joins; struct ns_join *joins;
	bool userns_mapped;
	uint32_t n_uid_maps; struct id_map *uid_maps;
	uint32_t n_gid_maps; struct id_map *gid_maps;
	uint32_t n_time_offsets; struct time_offset *time_offsets;
	char *hostname, *domainname, *rootfs;
	bool root_readonly;
	uint32_t rootfs_propagation;
	bool no_pivot;
	uint32_t n_mounts; struct plan_mount *mounts;
	uint32_t n_devices; struct plan_device *devices;
	uint32_t n_symlinks; struct plan_symlink *symlinks;
	struct strlist masked_paths, readonly_paths;
	uint32_t n_sysctls; struct plan_sysctl *sysctls;
	char *exec_fifo;
	bool has_fifo_create; uint32_t fifo_mode, fifo_uid, fifo_gid; /* executor makes the fifo */
	uint32_t preserve_fds;
	bool new_keyring;
	uint32_t n_create_hooks; struct plan_hook *create_hooks;
	uint32_t n_start_hooks; struct plan_hook *start_hooks;
	struct plan_process process;
};

/* Decodes buf[0..len) into *p (zeroed first). Returns 0, or -1 with a reason in err (and *p freed). */
int plan_decode(const uint8_t *buf, size_t len, struct plan *p, char *err, size_t errlen);
void plan_free(struct plan *p);

#endif
