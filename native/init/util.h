/* Shared helpers for berth-init: the error slot, sync messages, fd and file helpers. */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <unistd.h>

enum msg_type { MSG_PLAN = 1, MSG_PID = 2, MSG_GO = 3, MSG_READY = 4, MSG_ERROR = 5 };

/* The first failure of this process: errno and "step path: strerror". */
struct failure { int errnum; char msg[1024]; };
extern struct failure g_fail;

/* Records a failure (errno e, 0 for none) with a printf-style step description; returns -1. */
int fail(int e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with the current errno. */
#define FAIL(...) fail(errno, __VA_ARGS__)

/* Close an fd on scope exit: `_cleanup_fd_ int fd = -1;` */
static inline void close_fdp(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_fd_ __attribute__((cleanup(close_fdp)))

int write_all(int fd, const void *buf, size_t len);
int read_all(int fd, void *buf, size_t len); /* -1 with errno, or 0; EOF before len is EPIPE */

int msg_send(int fd, uint32_t type, const void *payload, uint32_t len);
/* Reads one message; *payload is malloc'd (NUL-terminated for convenience), max bytes of payload. */
int msg_recv(int fd, uint32_t *type, uint8_t **payload, uint32_t *len, uint32_t max);
/* Sends the recorded failure as ERROR (best effort). */
void send_failure(int fd);

/* Writes a string to a file (O_WRONLY|O_CLOEXEC, no create). Errors name `what`. */
int write_file(const char *path, const char *data, size_t len, const char *what);
/* Reads a small file into a malloc'd NUL-terminated buffer. */
char *read_file(const char *path, size_t max);

/* Sends fd (and data) over a connected unix socket with SCM_RIGHTS. */
int send_fd(int sock, int fd, const void *data, size_t len);
int recv_fd(int sock);
/* Connects a SOCK_STREAM unix socket to path. */
int unix_connect(const char *path);

/* Appends s to buf as a JSON string literal (with quotes). Returns bytes written or -1 if no room. */
int json_quote(char *buf, size_t cap, const char *s);

#endif
