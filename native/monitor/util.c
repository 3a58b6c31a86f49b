/* berth-monitor helpers: time format, atomic files, the sync fd, exit JSON, unix sockets. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

void fmt_time(char *buf, size_t cap, const struct timespec *ts)
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%09ldZ", (long)ts->tv_nsec);
}

void mlog(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(2, "berth-monitor: ", 15);
	(void)!write(2, buf, (size_t)n);
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

void sync_send(uint32_t type, const void *payload, uint32_t len)
{
	if (g_opt.sync_fd < 0)
		return;
	uint8_t hdr[8];
	for (int i = 0; i < 4; i++) {
		hdr[i] = (uint8_t)(type >> (8 * i));
		hdr[4 + i] = (uint8_t)(len >> (8 * i));
	}
	if (write_all(g_opt.sync_fd, hdr, 8) < 0 || (len && write_all(g_opt.sync_fd, payload, len) < 0))
		sync_close(); /* the caller went away: readiness is still in the pid/exit files */
}

void sync_close(void)
{
	if (g_opt.sync_fd >= 0)
		close(g_opt.sync_fd);
	g_opt.sync_fd = -1;
}

int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int exit_json(char *buf, size_t cap, pid_t pid, int status, const struct timespec *at, bool create_failed)
{
	char when[64], sig[32];
	fmt_time(when, sizeof(when), at);
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		if (abbrev)
			snprintf(sig, sizeof(sig), "\"SIG%s\"", abbrev);
		else
			snprintf(sig, sizeof(sig), "\"SIG%d\"", WTERMSIG(status));
	} else {
		strcpy(sig, "null");
	}
	int n = snprintf(buf, cap,
			 "{\"pid\":%d,\"exitCode\":%d,\"signal\":%s,\"coreDumped\":%s,\"exitedAt\":\"%s\","
			 "\"createFailed\":%s}",
			 (int)pid, status_code(status), sig,
			 WIFSIGNALED(status) && WCOREDUMP(status) ? "true" : "false", when,
			 create_failed ? "true" : "false");
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int unix_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int recv_fd(int sock)
{
	char data[256];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
		errno = n == 0 ? EPIPE : EBADMSG;
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
