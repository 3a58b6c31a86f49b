/* berth-monitor: shared state and helpers (native/MONITOR.md is the contract). */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define LOG_LINE_MAX (16 * 1024) /* CRI partial-line limit, as containerd's default */
#define MAX_CLIENTS 64
#define MAX_PASS_FDS 16
#define CLIENT_OUT_MAX (1024 * 1024) /* a client's queue past this: dropped */
#define CLIENT_OUT_HIGH (256 * 1024) /* a client's queue past this: output reading pauses */
#define CLIENT_STALL_MS 5000         /* a paused client making no progress this long: dropped */
#define FRAME_DATA_MAX (1024 * 1024)
#define MAX_EXIT_CMD_ARGS 32

enum stream { STREAM_STDOUT = 1, STREAM_STDERR = 2 };

enum frame_type {
	F_STDIN = 0, F_STDOUT = 1, F_STDERR = 2, F_RESIZE = 3, F_CLOSE_STDIN = 4,
	F_REOPEN_LOG = 5, F_STATUS = 6, F_EXIT = 7, F_USE_STDIN = 8,
};

enum sync_type { SYNC_MONITOR = 1, SYNC_READY = 2, SYNC_FAILED = 3 };

enum log_format { LOG_CRI, LOG_PLAIN };

struct opts {
	int sync_fd;
	const char *monitor_pid_file;
	const char *pid_file;
	long pid_file_timeout_ms;
	bool cmd_is_container;
	const char *exit_file;
	const char *log_path;
	enum log_format log_format;
	long long log_size_max;
	const char *attach_socket;
	const char *ctl_socket;
	bool use_stdin;
	bool stdin_once;
	bool terminal;
	const char *console_socket;
	int pass_fds[MAX_PASS_FDS];
	int n_pass_fds;
	const char *exit_command; /* run detached after the container exited (restart policies) */
	const char *exit_command_args[MAX_EXIT_CMD_ARGS + 2]; /* argv: [0] = exit_command, NULL-terminated */
	int n_exit_command_args;
	char **cmd;
};
extern struct opts g_opt;

/* log.c: the container log */
int log_open(void);          /* -1 with errno */
int log_reopen(void);        /* -1 with errno; the old fd stays closed on failure */
void log_output(enum stream s, const char *data, size_t n);
void log_flush_partial(void); /* at the end: unterminated lines become P records */
void log_last_stderr_line(char *buf, size_t cap); /* the last non-empty stderr line seen */

/* util.c */
void fmt_time(char *buf, size_t cap, const struct timespec *ts); /* RFC3339Nano, UTC */
int write_all(int fd, const void *buf, size_t len);
int write_file_atomic(const char *path, const char *data, size_t len); /* temp + fsync + rename */
void sync_send(uint32_t type, const void *payload, uint32_t len);       /* best effort */
void sync_close(void);
/* Exit JSON for a wait status into buf (one line, no newline). */
int exit_json(char *buf, size_t cap, pid_t pid, int status, const struct timespec *at, bool create_failed);
int status_code(int status); /* exit code, 128+signal */
int unix_listen(const char *path); /* SOCK_STREAM, mode 0600, nonblocking, CLOEXEC */
int recv_fd(int sock);             /* SCM_RIGHTS, MSG_DONTWAIT; -1 with errno */
void mlog(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* diagnostics, stderr */

/* clients.c: attach and ctl sockets, container stdin */
void clients_init(int epfd);
void clients_accept(int listen_fd, bool attach);
void client_event(int idx, uint32_t events);
void clients_broadcast(uint8_t type, const char *data, size_t n);
void clients_finish(const char *exit_json_text);
void stdin_set(int fd, bool is_pty); /* the fd input goes to; -1 for none */
void stdin_await_pty(void); /* queue input until stdin_set gives the pty master */
void pty_arrived(int fd); /* apply a RESIZE that came before the pty master */
void stdin_event(uint32_t events);
int attach_client_count(void);
bool clients_backlogged(void);        /* some client's queue is past CLIENT_OUT_HIGH */
void clients_drop_stalled(long long now_ms);
long long now_ms(void);               /* CLOCK_MONOTONIC */

/* main.c: queries for the STATUS frame */
pid_t monitor_container_pid(void);
bool monitor_running(void);
int monitor_pty_fd(void);
void pty_watch(bool want_out); /* EPOLLOUT on the pty master for queued input */

/* epoll tags: kind in the high 32 bits, index in the low */
enum ev_kind {
	EV_SIGNAL = 1, EV_STDOUT, EV_STDERR, EV_PTY, EV_STDIN, EV_ATTACH_LISTEN, EV_CTL_LISTEN,
	EV_CONSOLE_LISTEN, EV_CLIENT, EV_TIMER,
};
#define EV_TAG(kind, idx) (((uint64_t)(kind) << 32) | (uint32_t)(idx))

#endif
