/* Strict decoder for the plan wire format (native/PROTOCOL.md "Plan encoding").
 * Every read is bounds-checked; any violation stops decoding with a message naming the field. */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const uint8_t *buf;
	size_t len, pos;
	const char *field; /* what is being read, for the error message */
	char *err;
	size_t errlen;
	bool failed;
};

static int bad(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct reader *r, const char *fmt, ...)
{
	if (!r->failed) {
		int n = snprintf(r->err, r->errlen, "plan: %s at byte %zu: ", r->field, r->pos);
		if (n >= 0 && (size_t)n < r->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	r->failed = true;
	return -1;
}

static size_t left(const struct reader *r) { return r->len - r->pos; }

static int take(struct reader *r, size_t n, const uint8_t **out)
{
	if (r->failed)
		return -1;
	if (n > left(r))
		return bad(r, "truncated (need %zu bytes, %zu left)", n, left(r));
	*out = r->buf + r->pos;
	r->pos += n;
	return 0;
}

static uint64_t le(const uint8_t *b, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static int rd_u8(struct reader *r, uint8_t *v)
{
	const uint8_t *b = NULL;
	if (take(r, 1, &b) < 0)
		return -1;
	*v = b[0];
	return 0;
}

static int rd_bool(struct reader *r, bool *v)
{
	uint8_t b;
	if (rd_u8(r, &b) < 0)
		return -1;
	if (b > 1)
		return bad(r, "boolean is %u", b);
	*v = b == 1;
	return 0;
}

static int rd_u32(struct reader *r, uint32_t *v)
{
	const uint8_t *b = NULL;
	if (take(r, 4, &b) < 0)
		return -1;
	*v = (uint32_t)le(b, 4);
	return 0;
}

static int rd_i32(struct reader *r, int32_t *v)
{
	uint32_t u;
	if (rd_u32(r, &u) < 0)
		return -1;
	memcpy(v, &u, sizeof(u));
	return 0;
}

static int rd_u64(struct reader *r, uint64_t *v)
{
	const uint8_t *b = NULL;
	if (take(r, 8, &b) < 0)
		return -1;
	*v = le(b, 8);
	return 0;
}

static int rd_i64(struct reader *r, int64_t *v)
{
	uint64_t u;
	if (rd_u64(r, &u) < 0)
		return -1;
	memcpy(v, &u, sizeof(u));
	return 0;
}

static int rd_str(struct reader *r, char **out)
{
	uint32_t n;
	const uint8_t *b = NULL;
	if (rd_u32(r, &n) < 0)
		return -1;
	if (n > PLAN_MAX_STR)
		return bad(r, "string of %u bytes is too long", n);
	if (take(r, n, &b) < 0)
		return -1;
	if (memchr(b, 0, n))
		return bad(r, "string contains a NUL byte");
	char *s = malloc((size_t)n + 1);
	if (!s)
		return bad(r, "out of memory");
	memcpy(s, b, n);
	s[n] = 0;
	*out = s;
	return 0;
}

/* Reads a list count and allocates count items of size sz (plus one NULL slot when terminate). */
static int rd_count(struct reader *r, uint32_t *n, size_t min_item, size_t sz, void **items, bool terminate)
{
	if (rd_u32(r, n) < 0)
		return -1;
	if (*n > PLAN_MAX_LIST)
		return bad(r, "list of %u items is too long", *n);
	if ((size_t)*n * min_item > left(r))
		return bad(r, "list of %u items does not fit in %zu bytes", *n, left(r));
	*items = NULL;
	if (*n == 0 && !terminate)
		return 0;
	*items = calloc((size_t)*n + (terminate ? 1 : 0), sz);
	if (!*items)
		return bad(r, "out of memory");
	return 0;
}

static int rd_strlist(struct reader *r, struct strlist *l)
{
	void *items;
	if (rd_count(r, &l->n, 4, sizeof(char *), &items, true) < 0)
		return -1;
	l->items = items;
	for (uint32_t i = 0; i < l->n; i++)
		if (rd_str(r, &l->items[i]) < 0)
			return -1;
	return 0;
}

static int rd_u32list(struct reader *r, struct u32list *l, uint32_t max_value)
{
	void *items;
	if (rd_count(r, &l->n, 4, sizeof(uint32_t), &items, false) < 0)
		return -1;
	l->items = items;
	for (uint32_t i = 0; i < l->n; i++) {
		if (rd_u32(r, &l->items[i]) < 0)
			return -1;
		if (l->items[i] > max_value)
			return bad(r, "value %u is out of range", l->items[i]);
	}
	return 0;
}

#define LIST(r, count, arr, min_item) \
	rd_count(r, &(count), min_item, sizeof(*(arr)), (void **)&(arr), false)

static int rd_idmaps(struct reader *r, uint32_t *n, struct id_map **maps)
{
	if (LIST(r, *n, *maps, 12) < 0)
		return -1;
	for (uint32_t i = 0; i < *n; i++) {
		struct id_map *m = &(*maps)[i];
		if (rd_u32(r, &m->container_id) < 0 || rd_u32(r, &m->host_id) < 0 || rd_u32(r, &m->size) < 0)
			return -1;
	}
	return 0;
}

static int rd_hooks(struct reader *r, uint32_t *n, struct plan_hook **hooks)
{
	if (LIST(r, *n, *hooks, 16) < 0)
		return -1;
	for (uint32_t i = 0; i < *n; i++) {
		struct plan_hook *h = &(*hooks)[i];
		if (rd_str(r, &h->path) < 0 || rd_strlist(r, &h->args) < 0 || rd_strlist(r, &h->env) < 0 ||
		    rd_u32(r, &h->timeout) < 0)
			return -1;
	}
	return 0;
}

static int rd_process(struct reader *r, struct plan_process *pr)
{
	r->field = "process.args";
	if (rd_strlist(r, &pr->args) < 0)
		return -1;
	if (pr->args.n == 0)
		return bad(r, "no arguments");
	r->field = "process.env";
	if (rd_strlist(r, &pr->env) < 0)
		return -1;
	r->field = "process.cwd";
	if (rd_str(r, &pr->cwd) < 0)
		return -1;
	r->field = "process.user";
	if (rd_u32(r, &pr->uid) < 0 || rd_u32(r, &pr->gid) < 0 ||
	    rd_u32list(r, &pr->additional_gids, UINT32_MAX) < 0 || rd_i32(r, &pr->umask) < 0)
		return -1;
	if (pr->umask < -1 || pr->umask > 0777)
		return bad(r, "umask %d is out of range", pr->umask);
	r->field = "process.terminal";
	if (rd_bool(r, &pr->terminal) < 0 || rd_str(r, &pr->console_socket) < 0 ||
	    rd_u32(r, &pr->console_height) < 0 || rd_u32(r, &pr->console_width) < 0)
		return -1;
	if (pr->console_height > 0xffff || pr->console_width > 0xffff)
		return bad(r, "console size is out of range");
	r->field = "process.rlimits";
	if (LIST(r, pr->n_rlimits, pr->rlimits, 20) < 0)
		return -1;
	for (uint32_t i = 0; i < pr->n_rlimits; i++) {
		struct plan_rlimit *l = &pr->rlimits[i];
		if (rd_u32(r, &l->resource) < 0 || rd_u64(r, &l->soft) < 0 || rd_u64(r, &l->hard) < 0)
			return -1;
	}
	r->field = "process.capabilities";
	if (rd_u64(r, &pr->cap_bounding) < 0 || rd_u64(r, &pr->cap_effective) < 0 ||
	    rd_u64(r, &pr->cap_permitted) < 0 || rd_u64(r, &pr->cap_inheritable) < 0 ||
	    rd_u64(r, &pr->cap_ambient) < 0)
		return -1;
	r->field = "process.noNewPrivileges";
	if (rd_bool(r, &pr->no_new_privileges) < 0)
		return -1;
	r->field = "process.scheduler";
	if (rd_bool(r, &pr->has_scheduler) < 0)
		return -1;
	if (pr->has_scheduler) {
		struct plan_scheduler *s = &pr->scheduler;
		if (rd_u32(r, &s->policy) < 0 || rd_i32(r, &s->nice) < 0 || rd_u32(r, &s->priority) < 0 ||
		    rd_u64(r, &s->flags) < 0 || rd_u64(r, &s->runtime) < 0 || rd_u64(r, &s->deadline) < 0 ||
		    rd_u64(r, &s->period) < 0)
			return -1;
	}
	r->field = "process.ioPriority";
	if (rd_bool(r, &pr->has_ioprio) < 0)
		return -1;
	if (pr->has_ioprio && (rd_u32(r, &pr->ioprio_class) < 0 || rd_u32(r, &pr->ioprio_prio) < 0))
		return -1;
	r->field = "process.cpuAffinity";
	if (rd_u32list(r, &pr->cpu_initial, PLAN_MAX_CPU - 1) < 0 ||
	    rd_u32list(r, &pr->cpu_final, PLAN_MAX_CPU - 1) < 0)
		return -1;
	r->field = "process.personality";
	if (rd_i32(r, &pr->personality) < 0)
		return -1;
	r->field = "process.apparmorProfile";
	if (rd_str(r, &pr->apparmor_profile) < 0)
		return -1;
	r->field = "process.selinuxLabel";
	if (rd_str(r, &pr->selinux_label) < 0)
		return -1;
	r->field = "process.seccomp";
	if (rd_bool(r, &pr->has_seccomp) < 0)
		return -1;
	if (pr->has_seccomp) {
		struct plan_seccomp *s = &pr->seccomp;
		const uint8_t *b = NULL;
		if (rd_u32(r, &s->program_len) < 0)
			return -1;
		if (s->program_len == 0 || s->program_len % 8 || s->program_len / 8 > PLAN_MAX_BPF_INSNS)
			return bad(r, "program of %u bytes is not 1..%u instructions", s->program_len,
				   PLAN_MAX_BPF_INSNS);
		if (take(r, s->program_len, &b) < 0)
			return -1;
		s->program = malloc(s->program_len);
		if (!s->program)
			return bad(r, "out of memory");
		memcpy(s->program, b, s->program_len);
		if (rd_u32(r, &s->flags) < 0 || rd_str(r, &s->listener_path) < 0 ||
		    rd_str(r, &s->listener_metadata) < 0)
			return -1;
	}
	return 0;
}

static int rd_plan(struct reader *r, struct plan *p)
{
	uint32_t magic, version;
	r->field = "header";
	if (rd_u32(r, &magic) < 0 || rd_u32(r, &version) < 0)
		return -1;
	if (magic != PLAN_MAGIC)
		return bad(r, "bad magic 0x%08x", magic);
	if (version != PLAN_VERSION)
		return bad(r, "unsupported version %u", version);
	r->field = "mode";
	if (rd_u8(r, &p->mode) < 0)
		return -1;
	if (p->mode != PLAN_CREATE && p->mode != PLAN_EXEC)
		return bad(r, "unknown mode %u", p->mode);
	r->field = "foreground";
	if (rd_bool(r, &p->foreground) < 0)
		return -1;
	r->field = "cloneFlags";
	if (rd_u32(r, &p->clone_flags) < 0)
		return -1;
	r->field = "joinNamespaces";
	if (LIST(r, p->n_joins, p->joins, 8) < 0)
		return -1;
	for (uint32_t i = 0; i < p->n_joins; i++)
		if (rd_u32(r, &p->joins[i].flag) < 0 || rd_str(r, &p->joins[i].path) < 0)
			return -1;
	r->field = "userNamespaceMapped";
	if (rd_bool(r, &p->userns_mapped) < 0)
		return -1;
	r->field = "uidMappings";
	if (rd_idmaps(r, &p->n_uid_maps, &p->uid_maps) < 0)
		return -1;
	r->field = "gidMappings";
	if (rd_idmaps(r, &p->n_gid_maps, &p->gid_maps) < 0)
		return -1;
	r->field = "timeOffsets";
	if (LIST(r, p->n_time_offsets, p->time_offsets, 16) < 0)
		return -1;
	for (uint32_t i = 0; i < p->n_time_offsets; i++) {
		struct time_offset *t = &p->time_offsets[i];
		if (rd_u32(r, &t->clock_id) < 0 || rd_i64(r, &t->secs) < 0 || rd_u32(r, &t->nsecs) < 0)
			return -1;
		if (t->nsecs >= 1000000000u)
			return bad(r, "nanosecs %u out of range", t->nsecs);
	}
	r->field = "hostname";
	if (rd_str(r, &p->hostname) < 0)
		return -1;
	r->field = "domainname";
	if (rd_str(r, &p->domainname) < 0)
		return -1;
	r->field = "rootfs";
	if (rd_str(r, &p->rootfs) < 0)
		return -1;
	r->field = "rootReadonly";
	if (rd_bool(r, &p->root_readonly) < 0)
		return -1;
	r->field = "rootfsPropagation";
	if (rd_u32(r, &p->rootfs_propagation) < 0)
		return -1;
	r->field = "noPivot";
	if (rd_bool(r, &p->no_pivot) < 0)
		return -1;
	r->field = "mounts";
	if (LIST(r, p->n_mounts, p->mounts, 34) < 0)
		return -1;
	for (uint32_t i = 0; i < p->n_mounts; i++) {
		struct plan_mount *m = &p->mounts[i];
		uint8_t dest_type;
		if (rd_str(r, &m->source) < 0 || rd_str(r, &m->destination) < 0 || rd_str(r, &m->fstype) < 0 ||
		    rd_u32(r, &m->flags) < 0 || rd_u32list(r, &m->propagation, UINT32_MAX) < 0 ||
		    rd_str(r, &m->data) < 0 || rd_u32(r, &m->attr_set) < 0 || rd_u32(r, &m->attr_clr) < 0 ||
		    rd_u8(r, &dest_type) < 0 || rd_u8(r, &m->kind) < 0)
			return -1;
		if (dest_type > 1)
			return bad(r, "unknown destType %u", dest_type);
		if (m->kind > MOUNT_CGROUP)
			return bad(r, "unknown kind %u", m->kind);
		m->dest_is_file = dest_type == 1;
	}
	r->field = "devices";
	if (LIST(r, p->n_devices, p->devices, 25) < 0)
		return -1;
	for (uint32_t i = 0; i < p->n_devices; i++) {
		struct plan_device *d = &p->devices[i];
		if (rd_str(r, &d->path) < 0 || rd_u32(r, &d->mode) < 0 || rd_u32(r, &d->major) < 0 ||
		    rd_u32(r, &d->minor) < 0 || rd_u32(r, &d->uid) < 0 || rd_u32(r, &d->gid) < 0 ||
		    rd_bool(r, &d->bind) < 0)
			return -1;
	}
	r->field = "symlinks";
	if (LIST(r, p->n_symlinks, p->symlinks, 8) < 0)
		return -1;
	for (uint32_t i = 0; i < p->n_symlinks; i++)
		if (rd_str(r, &p->symlinks[i].target) < 0 || rd_str(r, &p->symlinks[i].path) < 0)
			return -1;
	r->field = "maskedPaths";
	if (rd_strlist(r, &p->masked_paths) < 0)
		return -1;
	r->field = "readonlyPaths";
	if (rd_strlist(r, &p->readonly_paths) < 0)
		return -1;
	r->field = "sysctls";
	if (LIST(r, p->n_sysctls, p->sysctls, 8) < 0)
		return -1;
	for (uint32_t i = 0; i < p->n_sysctls; i++)
		if (rd_str(r, &p->sysctls[i].path) < 0 || rd_str(r, &p->sysctls[i].value) < 0)
			return -1;
	r->field = "execFifo";
	if (rd_str(r, &p->exec_fifo) < 0)
		return -1;
	r->field = "execFifoCreate";
	if (rd_bool(r, &p->has_fifo_create) < 0)
		return -1;
	if (p->has_fifo_create) {
		if (rd_u32(r, &p->fifo_mode) < 0 || rd_u32(r, &p->fifo_uid) < 0 || rd_u32(r, &p->fifo_gid) < 0)
			return -1;
		if (p->fifo_mode > 0777)
			return bad(r, "mode 0%o is not a permission mode", p->fifo_mode);
	}
	r->field = "preserveFds";
	if (rd_u32(r, &p->preserve_fds) < 0)
		return -1;
	if (p->preserve_fds > PLAN_MAX_LIST)
		return bad(r, "%u is too many", p->preserve_fds);
	r->field = "newKeyring";
	if (rd_bool(r, &p->new_keyring) < 0)
		return -1;
	r->field = "createContainerHooks";
	if (rd_hooks(r, &p->n_create_hooks, &p->create_hooks) < 0)
		return -1;
	r->field = "startContainerHooks";
	if (rd_hooks(r, &p->n_start_hooks, &p->start_hooks) < 0)
		return -1;
	if (rd_process(r, &p->process) < 0)
		return -1;
	r->field = "end";
	if (left(r) != 0)
		return bad(r, "%zu trailing bytes", left(r));
	return 0;
}

int plan_decode(const uint8_t *buf, size_t len, struct plan *p, char *err, size_t errlen)
{
	struct reader r = { .buf = buf, .len = len, .field = "plan", .err = err, .errlen = errlen };
	memset(p, 0, sizeof(*p));
	if (len > PLAN_MAX_SIZE) {
		snprintf(err, errlen, "plan: %zu bytes is too large", len);
		return -1;
	}
	if (rd_plan(&r, p) < 0) {
		plan_free(p);
		return -1;
	}
	return 0;
}

static void free_strlist(struct strlist *l)
{
	if (l->items)
		for (uint32_t i = 0; i < l->n; i++)
			free(l->items[i]);
	free(l->items);
}

static void free_hooks(struct plan_hook *h, uint32_t n)
{
	if (h)
		for (uint32_t i = 0; i < n; i++) {
			free(h[i].path);
			free_strlist(&h[i].args);
			free_strlist(&h[i].env);
		}
	free(h);
}

/* Safe on a partially decoded plan: lists are allocated zeroed, so unread items hold NULLs. */
void plan_free(struct plan *p)
{
	struct plan_process *pr = &p->process;
	if (p->joins)
		for (uint32_t i = 0; i < p->n_joins; i++)
			free(p->joins[i].path);
	free(p->joins);
	free(p->uid_maps);
	free(p->gid_maps);
	free(p->time_offsets);
	free(p->hostname);
	free(p->domainname);
	free(p->rootfs);
	if (p->mounts)
		for (uint32_t i = 0; i < p->n_mounts; i++) {
			struct plan_mount *m = &p->mounts[i];
			free(m->source);
			free(m->destination);
			free(m->fstype);
			free(m->data);
			free(m->propagation.items);
		}
	free(p->mounts);
	if (p->devices)
		for (uint32_t i = 0; i < p->n_devices; i++)
			free(p->devices[i].path);
	free(p->devices);
	if (p->symlinks)
		for (uint32_t i = 0; i < p->n_symlinks; i++) {
			free(p->symlinks[i].target);
			free(p->symlinks[i].path);
		}
	free(p->symlinks);
	free_strlist(&p->masked_paths);
	free_strlist(&p->readonly_paths);
	if (p->sysctls)
		for (uint32_t i = 0; i < p->n_sysctls; i++) {
			free(p->sysctls[i].path);
			free(p->sysctls[i].value);
		}
	free(p->sysctls);
	free(p->exec_fifo);
	free_hooks(p->create_hooks, p->n_create_hooks);
	free_hooks(p->start_hooks, p->n_start_hooks);
	free_strlist(&pr->args);
	free_strlist(&pr->env);
	free(pr->cwd);
	free(pr->additional_gids.items);
	free(pr->console_socket);
	free(pr->rlimits);
	free(pr->cpu_initial.items);
	free(pr->cpu_final.items);
	free(pr->apparmor_profile);
	free(pr->selinux_label);
	free(pr->seccomp.program);
	free(pr->seccomp.listener_path);
	free(pr->seccomp.listener_metadata);
	memset(p, 0, sizeof(*p));
}
