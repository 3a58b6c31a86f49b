/* Rootfs setup: mounts with destinations resolved inside the rootfs, devices, symlinks, pivot_root,
 * sysctls, masked and read-only paths, read-only root. */
#define _GNU_SOURCE
#include "init.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

static int openat2_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

static const char *fdpath(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* Creates the missing parts of path under rootfd (dirs, and the last one as a file when is_file),
 * following dangling symlinks inside the root. Returns an O_PATH fd of the result. */
static int mkpath_in_root(int rootfd, const char *path, bool is_file, const char *what)
{
	char cur[PATH_MAX], next[PATH_MAX], link[PATH_MAX];
	if (snprintf(cur, sizeof(cur), "%s", path) >= (int)sizeof(cur))
		return fail(ENAMETOOLONG, "%s: %s", what, path);
	for (int hops = 0; hops < 40; hops++) {
		int dir = openat2_in_root(rootfd, "/", O_PATH);
		if (dir < 0)
			return FAIL("%s: open rootfs", what);
		size_t i = 0, len = strlen(cur);
		bool restart = false;
		while (i < len && !restart) {
			while (i < len && cur[i] == '/')
				i++;
			if (i == len)
				break;
			size_t s = i;
			while (i < len && cur[i] != '/')
				i++;
			char save = cur[i];
			cur[i] = 0; /* cur is now the prefix up to and including this component */
			int fd = openat2_in_root(rootfd, cur, O_PATH);
			if (fd < 0 && errno != ENOENT) {
				int e = errno;
				close(dir);
				return fail(e, "%s: resolve %s", what, cur);
			}
			if (fd < 0) {
				const char *name = cur + s;
				bool last = true;
				for (size_t j = i + (save ? 1 : 0); j < len; j++)
					if (cur[j] != '/')
						last = false;
				int r;
				if (last && is_file) {
					r = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
					if (r >= 0)
						close(r);
				} else {
					r = mkdirat(dir, name, 0755);
				}
				if (r < 0 && errno == EEXIST) {
					/* a dangling symlink: continue with its target, resolved in the root */
					ssize_t n = readlinkat(dir, name, link, sizeof(link) - 1);
					if (n < 0) {
						int e = errno;
						close(dir);
						return fail(e, "%s: create %s", what, cur);
					}
					link[n] = 0;
					cur[s] = 0;
					const char *rest = save ? cur + i + 1 : "";
					int m = link[0] == '/' ? snprintf(next, sizeof(next), "%s/%s", link, rest)
							       : snprintf(next, sizeof(next), "%s/%s/%s", cur, link, rest);
					if (m < 0 || m >= (int)sizeof(next)) {
						close(dir);
						return fail(ENAMETOOLONG, "%s: %s", what, path);
					}
					memcpy(cur, next, (size_t)m + 1);
					restart = true;
					break;
				}
				if (r < 0) {
					int e = errno;
					close(dir);
					return fail(e, "%s: create %s", what, cur);
				}
				fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
				if (fd < 0) {
					int e = errno;
					close(dir);
					return fail(e, "%s: open %s", what, cur);
				}
			}
			close(dir);
			dir = fd;
			cur[i] = save;
		}
		if (!restart)
			return dir;
		close(dir);
	}
	return fail(ELOOP, "%s: %s", what, path);
}

/* O_PATH fd of path resolved inside the root; created (as dir, or file when is_file) when create. */
static int open_in_root(int rootfd, const char *path, bool create, bool is_file, const char *what)
{
	int fd = openat2_in_root(rootfd, path, O_PATH);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT || !create)
		return FAIL("%s: resolve %s", what, path);
	return mkpath_in_root(rootfd, path, is_file, what);
}

/* Splits path into the O_PATH fd of its parent (created if missing) and its last component (copied
 * into name, PATH_MAX bytes). */
static int open_parent_in_root(int rootfd, const char *path, char *name, const char *what)
{
	char parent[PATH_MAX];
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len >= PATH_MAX)
		return fail(ENAMETOOLONG, "%s: %s", what, path);
	memcpy(parent, path, len);
	parent[len] = 0;
	char *slash = strrchr(parent, '/');
	const char *base = slash ? slash + 1 : parent;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return fail(EINVAL, "%s: %s has no file name", what, path);
	strcpy(name, base);
	if (slash)
		slash[1] = 0;
	else
		parent[0] = 0;
	return open_in_root(rootfd, parent[0] ? parent : "/", true, false, what);
}

static unsigned long locked_flags(const char *target)
{
	struct statvfs sv;
	unsigned long f = 0;
	if (statvfs(target, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
	if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
	return f;
}

/* Bind remount with flags; in a user namespace flags inherited from the source may be locked, so on
 * EPERM retry keeping them. */
static int remount_bind(const char *target, unsigned long flags, const char *what, const char *dest)
{
	flags &= ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT | PROPAGATION);
	if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0)
		return 0;
	if (errno == EPERM &&
	    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags | locked_flags(target), NULL) == 0)
		return 0;
	return FAIL("remount %s on %s", what, dest);
}

static int set_attrs(int fd, uint32_t set, uint32_t clr, const char *dest)
{
	struct mount_attr attr = { .attr_set = set, .attr_clr = clr };
	if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return FAIL("mount_setattr on %s", dest);
	return 0;
}

/* ---- cgroup mounts ---- */

/* Unescapes mountinfo octal escapes (\040) in place. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* Whether every comma-separated item of `items` is an item of `opts`. */
static bool all_in(const char *items, const char *opts)
{
	char buf[512];
	if (snprintf(buf, sizeof(buf), "%s", items) >= (int)sizeof(buf))
		return false;
	char *save = NULL;
	for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(it);
		bool found = false;
		for (const char *o = opts; *o;) {
			const char *e = strchrnul(o, ',');
			if ((size_t)(e - o) == n && !strncmp(o, it, n))
				found = true;
			o = *e ? e + 1 : e;
		}
		if (!found)
			return false;
	}
	return true;
}

/* The container's cgroup path for a hierarchy: v1 by controllers/super options, v2 by "0::". */
static const char *cgroup_path_for(const char *proc_cgroup, bool v2, const char *super_opts, char *out,
				   size_t outlen)
{
	const char *line = proc_cgroup;
	while (line && *line) {
		const char *end = strchrnul(line, '\n');
		char buf[1024];
		size_t n = (size_t)(end - line);
		if (n < sizeof(buf)) {
			memcpy(buf, line, n);
			buf[n] = 0;
			char *c1 = strchr(buf, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (c2) {
				*c2 = 0;
				const char *ctrls = c1 + 1, *path = c2 + 1;
				bool match = v2 ? *ctrls == 0 : (*ctrls && all_in(ctrls, super_opts));
				if (match) {
					snprintf(out, outlen, "%s", path);
					return out;
				}
			}
		}
		line = *end ? end + 1 : NULL;
	}
	return NULL;
}

static int bind_hierarchy(int dirfd, const char *name, const char *src, const struct plan_mount *m)
{
	char p[32], dest[PATH_MAX];
	if (snprintf(dest, sizeof(dest), "%s/%s", m->destination, name) >= (int)sizeof(dest))
		return fail(ENAMETOOLONG, "mount cgroup on %s", m->destination);
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return FAIL("mount cgroup: mkdir %s", dest);
	_cleanup_fd_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return FAIL("mount cgroup: open %s", dest);
	if (mount(src, fdpath(p, fd), NULL, MS_BIND | MS_REC, NULL) < 0)
		return FAIL("mount %s on %s", src, dest);
	unsigned long flags = m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	if (flags) {
		_cleanup_fd_ int top = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		if (top < 0)
			return FAIL("mount cgroup: open %s", dest);
		return remount_bind(fdpath(p, top), flags, src, dest);
	}
	return 0;
}

static int mount_cgroup(struct ctx *c, int rootfd, const struct plan_mount *m)
{
	char p[32];
	struct statfs sfs;
	_cleanup_fd_ int dst = open_in_root(rootfd, m->destination, true, false, "mount cgroup");
	if (dst < 0)
		return -1;
	unsigned long flags = m->flags & ~(unsigned long)(MS_BIND | MS_REC | PROPAGATION);
	if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC) {
		if (c->p->clone_flags & CLONE_NEWCGROUP) {
			if (mount("cgroup", fdpath(p, dst), "cgroup2", flags, *m->data ? m->data : NULL) < 0)
				return FAIL("mount cgroup2 on %s", m->destination);
			return 0;
		}
		char path[PATH_MAX], src[PATH_MAX];
		if (!cgroup_path_for(c->proc_cgroup, true, "", path, sizeof(path)))
			return fail(ENOENT, "mount cgroup on %s: no cgroup2 path in /proc/self/cgroup", m->destination);
		if (snprintf(src, sizeof(src), "/sys/fs/cgroup%s", path) >= (int)sizeof(src))
			return fail(ENAMETOOLONG, "mount cgroup on %s", m->destination);
		if (mount(src, fdpath(p, dst), NULL, MS_BIND | MS_REC, NULL) < 0)
			return FAIL("mount %s on %s", src, m->destination);
		_cleanup_fd_ int top = open_in_root(rootfd, m->destination, false, false, "mount cgroup");
		return top < 0 ? -1 : remount_bind(fdpath(p, top), flags, src, m->destination);
	}
	/* v1: a tmpfs holding one bind mount per hierarchy of this container's cgroups */
	if (mount("cgroup", fdpath(p, dst), "tmpfs", flags & ~(unsigned long)MS_RDONLY, "mode=755") < 0)
		return FAIL("mount tmpfs on %s", m->destination);
	_cleanup_fd_ int dir = open_in_root(rootfd, m->destination, false, false, "mount cgroup");
	if (dir < 0)
		return -1;
	char *info = read_file("/proc/self/mountinfo", 1 << 20);
	if (!info)
		return FAIL("mount cgroup: read /proc/self/mountinfo");
	int ret = 0;
	char *save = NULL;
	for (char *line = strtok_r(info, "\n", &save); line && ret == 0; line = strtok_r(NULL, "\n", &save)) {
		char *f[6] = { 0 }, *sep = strstr(line, " - "), *s2 = NULL;
		if (!sep)
			continue;
		*sep = 0;
		int nf = 0;
		for (char *t = strtok_r(line, " ", &s2); t && nf < 6; t = strtok_r(NULL, " ", &s2))
			f[nf++] = t;
		char *fstype = strtok_r(sep + 3, " ", &s2), *source = strtok_r(NULL, " ", &s2);
		char *opts = strtok_r(NULL, " ", &s2);
		if (nf < 5 || !fstype || !source || !opts)
			continue;
		bool v2 = !strcmp(fstype, "cgroup2");
		if (!v2 && strcmp(fstype, "cgroup"))
			continue;
		char *root = f[3], *mnt = f[4];
		unescape(root);
		unescape(mnt);
		if (strncmp(mnt, "/sys/fs/cgroup/", 15) || strchr(mnt + 15, '/'))
			continue;
		char path[PATH_MAX], src[PATH_MAX * 2];
		if (!cgroup_path_for(c->proc_cgroup, v2, opts, path, sizeof(path)))
			continue;
		const char *rel = path;
		size_t rl = strlen(root);
		if (strcmp(root, "/") && !strncmp(path, root, rl) && (path[rl] == '/' || !path[rl]))
			rel = path + rl;
		snprintf(src, sizeof(src), "%s%s", mnt, rel);
		const char *name = mnt + 15;
		ret = bind_hierarchy(dir, name, src, m);
		/* co-mounted controllers (cpu,cpuacct) get one symlink per controller */
		if (ret == 0 && strchr(name, ',')) {
			char names[256], *s3 = NULL;
			snprintf(names, sizeof(names), "%s", name);
			for (char *n = strtok_r(names, ",", &s3); n; n = strtok_r(NULL, ",", &s3))
				if (symlinkat(name, dir, n) < 0 && errno != EEXIST)
					ret = FAIL("mount cgroup: symlink %s/%s", m->destination, n);
		}
	}
	free(info);
	if (ret == 0 && (m->flags & MS_RDONLY)) {
		_cleanup_fd_ int top = open_in_root(rootfd, m->destination, false, false, "mount cgroup");
		if (top < 0)
			return -1;
		ret = remount_bind(fdpath(p, top), flags, "tmpfs", m->destination);
	}
	return ret;
}

/* ---- one mount ---- */

static int do_mount(struct ctx *c, int rootfd, const struct plan_mount *m)
{
	char p[32];
	if (m->kind == MOUNT_CGROUP)
		return mount_cgroup(c, rootfd, m);
	bool bind = (m->flags & MS_BIND) || m->kind == MOUNT_BIND;
	_cleanup_fd_ int dst = open_in_root(rootfd, m->destination, true, bind && m->dest_is_file, "mount");
	if (dst < 0)
		return -1;
	const char *data = *m->data ? m->data : NULL;
	unsigned long flags = m->flags & ~(unsigned long)PROPAGATION;
	if (bind) {
		if (mount(m->source, fdpath(p, dst), NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
			return FAIL("mount %s on %s", m->source, m->destination);
	} else {
		if (mount(m->source, fdpath(p, dst), m->fstype, flags, data) < 0)
			return FAIL("mount %s on %s", *m->source ? m->source : m->fstype, m->destination);
	}
	unsigned long rest = flags & ~(unsigned long)(MS_BIND | MS_REC);
	bool remount = bind && (rest || data);
	if (!remount && m->propagation.n == 0 && !m->attr_set && !m->attr_clr)
		return 0;
	/* the fd still names the covered directory: reopen to reach the new mount */
	_cleanup_fd_ int top = open_in_root(rootfd, m->destination, false, false, "mount");
	if (top < 0)
		return -1;
	if (remount && remount_bind(fdpath(p, top), rest, m->source, m->destination) < 0)
		return -1;
	for (uint32_t i = 0; i < m->propagation.n; i++)
		if (mount(NULL, fdpath(p, top), NULL, m->propagation.items[i], NULL) < 0)
			return FAIL("set propagation 0x%x on %s", m->propagation.items[i], m->destination);
	if ((m->attr_set || m->attr_clr) && set_attrs(top, m->attr_set, m->attr_clr, m->destination) < 0)
		return -1;
	return 0;
}

static int make_device(int rootfd, const struct plan_device *d)
{
	char p[32], name[PATH_MAX];
	if (d->bind) {
		_cleanup_fd_ int dst = open_in_root(rootfd, d->path, true, true, "device");
		if (dst < 0)
			return -1;
		if (mount(d->path, fdpath(p, dst), NULL, MS_BIND, NULL) < 0)
			return FAIL("device: bind %s", d->path);
		return 0;
	}
	_cleanup_fd_ int dir = open_parent_in_root(rootfd, d->path, name, "device");
	if (dir < 0)
		return -1;
	dev_t dev = makedev(d->major, d->minor);
	if (mknodat(dir, name, d->mode, dev) < 0) {
		if (errno != EEXIST || unlinkat(dir, name, 0) < 0 || mknodat(dir, name, d->mode, dev) < 0)
			return FAIL("device: mknod %s", d->path);
	}
	if (fchownat(dir, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return FAIL("device: chown %s", d->path);
	return 0;
}

static int make_symlink(int rootfd, const struct plan_symlink *s)
{
	char name[PATH_MAX];
	_cleanup_fd_ int dir = open_parent_in_root(rootfd, s->path, name, "symlink");
	if (dir < 0)
		return -1;
	if (symlinkat(s->target, dir, name) < 0 && errno != EEXIST)
		return FAIL("symlink %s -> %s", s->path, s->target);
	return 0;
}

/* The mount that holds the rootfs (the one mounted at it, or the one its directory lives in) is made
   private when it is shared: then neither the rootfs bind below nor pivot_root propagates to its peers
   (the host), and pivot_root does not refuse a shared parent. Only that one mount changes: other
   shared mounts, e.g. sources of rshared binds, stay in their peer groups. */
static int rootfs_parent_private(const char *rootfs)
{
	struct statx stx;
	if (statx(AT_FDCWD, rootfs, 0, STATX_MNT_ID, &stx) < 0)
		return FAIL("rootfs %s", rootfs);
	if (!(stx.stx_mask & STATX_MNT_ID))
		return fail(ENOSYS, "rootfs parent mount: no mount id for %s", rootfs);
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return FAIL("rootfs parent mount: open /proc/self/mountinfo");
	char *line = NULL, *mountpoint = NULL;
	size_t cap = 0;
	bool found = false, shared = false;
	while (getline(&line, &cap, f) >= 0) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER" */
		char *save = NULL, *tok = strtok_r(line, " \n", &save);
		if (!tok || strtoull(tok, NULL, 10) != stx.stx_mnt_id)
			continue;
		found = true;
		for (int i = 1; (tok = strtok_r(NULL, " \n", &save)) && strcmp(tok, "-") != 0; i++) {
			if (i == 4)
				mountpoint = strdup(tok);
			else if (i >= 6 && strncmp(tok, "shared:", 7) == 0)
				shared = true;
		}
		break;
	}
	int err = ferror(f) ? errno : 0;
	free(line);
	fclose(f);
	int rc = 0;
	if (err)
		rc = fail(err, "rootfs parent mount: read /proc/self/mountinfo");
	else if (!found || !mountpoint)
		rc = fail(ENOENT, "rootfs parent mount: mount %llu of %s not in /proc/self/mountinfo",
			  (unsigned long long)stx.stx_mnt_id, rootfs);
	else if (shared) {
		unescape(mountpoint);
		if (mount(NULL, mountpoint, NULL, MS_PRIVATE, NULL) < 0)
			rc = FAIL("rootfs parent mount: make %s private", mountpoint);
	}
	free(mountpoint);
	return rc;
}

int rootfs_prepare(struct ctx *c)
{
	struct plan *p = c->p;
	/* "/" of our namespace gets the asked propagation (rslave when unset), recursively, so that
	   rshared binds stay peers of the host's mounts and rslave ones keep receiving from it;
	   unbindable waits until after pivot_root (the rootfs and bind sources must stay bindable) and is
	   private until then. The rootfs's own parent mount is then made private if it is shared, so that
	   the rootfs bind and pivot_root never reach the host. */
	unsigned long prop = p->rootfs_propagation & PROPAGATION;
	if (!prop)
		prop = MS_SLAVE;
	else if (prop & MS_UNBINDABLE)
		prop = MS_PRIVATE;
	if (mount(NULL, "/", NULL, prop | MS_REC, NULL) < 0)
		return FAIL("rootfs propagation on /");
	if (rootfs_parent_private(p->rootfs) < 0)
		return -1;
	if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return FAIL("bind rootfs %s", p->rootfs);
	_cleanup_fd_ int rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return FAIL("open rootfs %s", p->rootfs);
	for (uint32_t i = 0; i < p->n_mounts; i++)
		if (do_mount(c, rootfd, &p->mounts[i]) < 0)
			return -1;
	for (uint32_t i = 0; i < p->n_devices; i++)
		if (make_device(rootfd, &p->devices[i]) < 0)
			return -1;
	for (uint32_t i = 0; i < p->n_symlinks; i++)
		if (make_symlink(rootfd, &p->symlinks[i]) < 0)
			return -1;
	return 0;
}

int rootfs_pivot(struct ctx *c)
{
	const char *rootfs = c->p->rootfs;
	if (c->p->no_pivot) {
		/* moving onto a shared "/" would copy the rootfs to its peers (the host): it is covered
		   by the rootfs anyway */
		if (mount(NULL, "/", NULL, MS_PRIVATE, NULL) < 0)
			return FAIL("make / private before moving %s onto it", rootfs);
		if (chdir(rootfs) < 0)
			return FAIL("chdir %s", rootfs);
		if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
			return FAIL("move rootfs %s to /", rootfs);
		if (chroot(".") < 0)
			return FAIL("chroot %s", rootfs);
		if (chdir("/") < 0)
			return FAIL("chdir /");
		return 0;
	}
	_cleanup_fd_ int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		return FAIL("pivot_root: open /");
	_cleanup_fd_ int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		return FAIL("pivot_root: open %s", rootfs);
	if (fchdir(newroot) < 0)
		return FAIL("pivot_root: chdir %s", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return FAIL("pivot_root %s", rootfs);
	/* the old root is now stacked under "."; detach it without telling the host */
	if (fchdir(oldroot) < 0)
		return FAIL("pivot_root: chdir old root");
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return FAIL("pivot_root: make old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		return FAIL("pivot_root: unmount old root");
	if (chdir("/") < 0)
		return FAIL("chdir /");
	return 0;
}

static int mask_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return FAIL("mask %s", path);
	}
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
			return FAIL("mask %s: mount tmpfs", path);
	} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
		return FAIL("mask %s: bind /dev/null", path);
	}
	return 0;
}

static int readonly_path(const char *path)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return FAIL("read-only path %s: bind", path);
	}
	_cleanup_fd_ int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return FAIL("read-only path %s: open", path);
	return set_attrs(fd, MOUNT_ATTR_RDONLY, 0, path);
}

int rootfs_finalize(struct ctx *c)
{
	struct plan *p = c->p;
	char path[PATH_MAX];
	for (uint32_t i = 0; i < p->n_sysctls; i++) {
		const struct plan_sysctl *s = &p->sysctls[i];
		if (snprintf(path, sizeof(path), "/proc/sys/%s", s->path) >= (int)sizeof(path))
			return fail(ENAMETOOLONG, "sysctl %s", s->path);
		if (strstr(s->path, ".."))
			return fail(EINVAL, "sysctl %s", s->path);
		char what[PATH_MAX + 16];
		snprintf(what, sizeof(what), "sysctl %s", s->path);
		if (write_file(path, s->value, strlen(s->value), what) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < p->masked_paths.n; i++)
		if (mask_path(p->masked_paths.items[i]) < 0)
			return -1;
	for (uint32_t i = 0; i < p->readonly_paths.n; i++)
		if (readonly_path(p->readonly_paths.items[i]) < 0)
			return -1;
	if (p->rootfs_propagation & (MS_SHARED | MS_SLAVE | MS_UNBINDABLE))
		if (mount(NULL, "/", NULL, p->rootfs_propagation, NULL) < 0)
			return FAIL("rootfs propagation 0x%x on /", p->rootfs_propagation);
	if (p->root_readonly) {
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
		if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof(attr)) < 0)
			return FAIL("remount / read-only");
	}
	return 0;
}
