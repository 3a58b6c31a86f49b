#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

struct failure g_fail;

int fail(int e, const char *fmt, ...)
{
	if (g_fail.msg[0]) /* keep the first (innermost) failure */
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(g_fail.msg, sizeof(g_fail.msg), fmt, ap);
	va_end(ap);
	if (e && n >= 0 && (size_t)n < sizeof(g_fail.msg))
		snprintf(g_fail.msg + n, sizeof(g_fail.msg) - (size_t)n, ": %s", strerror(e));
	g_fail.errnum = e;
	if (!g_fail.msg[0])
		strcpy(g_fail.msg, "unknown failure");
	return -1;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
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

int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EPIPE;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_u32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

int msg_send(int fd, uint32_t type, const void *payload, uint32_t len)
{
	uint8_t hdr[8];
	put_u32(hdr, type);
	put_u32(hdr + 4, len);
	if (write_all(fd, hdr, sizeof(hdr)) < 0 || (len && write_all(fd, payload, len) < 0))
		return -1;
	return 0;
}

int msg_recv(int fd, uint32_t *type, uint8_t **payload, uint32_t *len, uint32_t max)
{
	uint8_t hdr[8];
	if (read_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	*type = get_u32(hdr);
	*len = get_u32(hdr + 4);
	if (*len > max) {
		errno = EMSGSIZE;
		return -1;
	}
	*payload = malloc((size_t)*len + 1);
	if (!*payload)
		return -1;
	if (read_all(fd, *payload, *len) < 0) {
		int e = errno;
		free(*payload);
		*payload = NULL;
		errno = e;
		return -1;
	}
	(*payload)[*len] = 0;
	return 0;
}

void send_failure(int fd)
{
	uint8_t buf[4 + sizeof(g_fail.msg)];
	size_t n = strlen(g_fail.msg);
	put_u32(buf, (uint32_t)g_fail.errnum);
	memcpy(buf + 4, g_fail.msg, n);
	if (fd < 0 || msg_send(fd, MSG_ERROR, buf, (uint32_t)(4 + n)) < 0)
		dprintf(STDERR_FILENO, "berth-init: %s\n", g_fail.msg);
}

int write_file(const char *path, const char *data, size_t len, const char *what)
{
	_cleanup_fd_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return FAIL("%s: open %s", what, path);
	ssize_t n = write(fd, data, len);
	if (n < 0)
		return FAIL("%s: write %s", what, path);
	if ((size_t)n != len)
		return fail(EIO, "%s: short write to %s", what, path);
	return 0;
}

char *read_file(const char *path, size_t max)
{
	_cleanup_fd_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(max + 1);
	size_t got = 0;
	if (!buf)
		return NULL;
	for (;;) {
		ssize_t n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0 || got + (size_t)n == max) {
			got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	buf[got] = 0;
	return buf;
}

int send_fd(int sock, int fd, const void *data, size_t len)
{
	char one = 0;
	struct iovec iov = { .iov_base = len ? (void *)data : &one, .iov_len = len ? len : 1 };
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	memset(u.buf, 0, sizeof(u.buf));
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

int recv_fd(int sock)
{
	char data[256];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n == 0)
			errno = EPIPE;
		return -1;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
		errno = EBADMSG;
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int json_quote(char *buf, size_t cap, const char *s)
{
	size_t o = 0;
#define PUT(ch) do { if (o + 1 >= cap) return -1; buf[o++] = (char)(ch); } while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT(*p);
		} else if (*p < 0x20) {
			if (o + 7 >= cap)
				return -1;
			o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", *p);
		} else {
			PUT(*p);
		}
	}
	PUT('"');
#undef PUT
	buf[o] = 0;
	return (int)o;
}
