/* Attach and ctl clients: typed frames in, output frames out; the container's stdin with flow control. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

struct client {
	int fd; /* -1: free slot */
	bool attach, stdin_user;
	uint8_t hdr[5];
	size_t hdr_got;
	uint8_t type;
	uint32_t body_len, body_got;
	uint8_t body[16];
	char *out;
	size_t out_len, out_cap;
	long long progress_ms; /* when the queue last became non-empty or shrank */
};

static struct client clients[MAX_CLIENTS];
static int epfd = -1;

/* container stdin: a pipe's write end or the pty master */
static int stdin_fd = -1;
static bool stdin_is_pty;
static char *pend;
static size_t pend_len, pend_cap;
static bool stdin_close_req, stdin_once_done, inputs_paused;

static void client_drop(struct client *c);

void clients_init(int ep)
{
	epfd = ep;
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
}

int attach_client_count(void)
{
	int n = 0;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].attach)
			n++;
	return n;
}

static void client_update(struct client *c)
{
	struct epoll_event ev = { .events = EPOLLRDHUP, .data.u64 = EV_TAG(EV_CLIENT, c - clients) };
	if (!inputs_paused)
		ev.events |= EPOLLIN;
	if (c->out_len > 0)
		ev.events |= EPOLLOUT;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void set_inputs_paused(bool paused)
{
	if (inputs_paused == paused)
		return;
	inputs_paused = paused;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_update(&clients[i]);
}

/* ---- container stdin ---- */

static void stdin_watch(bool want_out)
{
	if (stdin_fd < 0)
		return;
	if (stdin_is_pty) {
		pty_watch(want_out);
	} else if (want_out) {
		struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = EV_TAG(EV_STDIN, 0) };
		epoll_ctl(epfd, EPOLL_CTL_ADD, stdin_fd, &ev);
	} else {
		epoll_ctl(epfd, EPOLL_CTL_DEL, stdin_fd, NULL);
	}
}

static int stdin_flush(void);

static void stdin_do_close(void)
{
	pend_len = 0;
	if (stdin_fd >= 0 && !stdin_is_pty) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, stdin_fd, NULL);
		close(stdin_fd);
		stdin_fd = -1;
	}
	stdin_close_req = false;
	set_inputs_paused(false);
}

/* --terminal with --stdin: input that comes before the pty master is queued (at most 1 MiB) */
static bool stdin_awaiting_pty;
/* --terminal: the last RESIZE that came before the pty master, applied when it arrives */
static struct winsize saved_ws;
static bool have_saved_ws;

void stdin_await_pty(void)
{
	stdin_awaiting_pty = true;
	stdin_is_pty = true;
}

void pty_arrived(int fd)
{
	if (have_saved_ws)
		ioctl(fd, TIOCSWINSZ, &saved_ws);
	have_saved_ws = false;
}

void stdin_set(int fd, bool is_pty)
{
	stdin_fd = fd;
	stdin_is_pty = is_pty;
	stdin_awaiting_pty = false;
	if (fd < 0 || pend_len == 0)
		return;
	int r = stdin_flush(); /* what was queued while the pty was awaited */
	if (r < 0) {
		stdin_do_close();
	} else if (r == 0) {
		stdin_watch(true);
		set_inputs_paused(true);
	}
}

static void stdin_request_close(void)
{
	if (stdin_is_pty)
		return; /* a pty has no stdin of its own to close */
	stdin_close_req = true;
	if (pend_len == 0)
		stdin_do_close();
}

/* Writes what it can; 1 when everything queued was written, 0 when some is left, -1 on error. */
static int stdin_flush(void)
{
	while (pend_len > 0) {
		ssize_t n = write(stdin_fd, pend, pend_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		memmove(pend, pend + n, pend_len - (size_t)n);
		pend_len -= (size_t)n;
	}
	return 1;
}

static void stdin_write(const uint8_t *data, size_t n)
{
	if ((stdin_fd < 0 && !stdin_awaiting_pty) || stdin_close_req || n == 0)
		return;
	if (stdin_fd < 0 && pend_len + n > FRAME_DATA_MAX)
		return; /* no pty yet and already 1 MiB queued */
	if (pend_len + n > pend_cap) {
		size_t cap = pend_len + n;
		char *p = realloc(pend, cap);
		if (!p)
			return; /* drop the input rather than the monitor */
		pend = p;
		pend_cap = cap;
	}
	bool was_empty = pend_len == 0;
	memcpy(pend + pend_len, data, n);
	pend_len += n;
	if (!was_empty || stdin_fd < 0)
		return;
	int r = stdin_flush();
	if (r < 0) {
		stdin_do_close(); /* the reader is gone */
	} else if (r == 0) {
		stdin_watch(true);
		set_inputs_paused(true);
	}
}

void stdin_event(uint32_t events)
{
	int r = stdin_flush();
	if (r == 0 && !(events & (EPOLLERR | EPOLLHUP)))
		return;
	stdin_watch(false);
	if (r < 0 || (events & EPOLLERR)) {
		stdin_do_close();
		return;
	}
	if (pend_len == 0 && pend_cap > 64 * 1024) {
		free(pend);
		pend = NULL;
		pend_cap = 0;
	}
	set_inputs_paused(false);
	if (stdin_close_req)
		stdin_do_close();
}

/* ---- frames out ---- */

static void client_send(struct client *c, uint8_t type, const char *data, size_t n)
{
	uint8_t hdr[5] = { type, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
	size_t sent = 0, total = 5 + n;
	if (c->out_len == 0) {
		struct iovec iov[2] = { { hdr, 5 }, { (void *)data, n } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			client_drop(c);
			return;
		}
		sent = r > 0 ? (size_t)r : 0;
		if (sent == total)
			return;
	}
	size_t rest = total - sent;
	if (c->out_len == 0)
		c->progress_ms = now_ms();
	if (c->out_len + rest > CLIENT_OUT_MAX) {
		client_drop(c); /* too slow: the log and the container never wait for a client */
		return;
	}
	if (c->out_len + rest > c->out_cap) {
		size_t cap = c->out_len + rest;
		char *p = realloc(c->out, cap);
		if (!p) {
			client_drop(c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	if (sent < 5) {
		memcpy(c->out + c->out_len, hdr + sent, 5 - sent);
		c->out_len += 5 - sent;
		sent = 5;
	}
	memcpy(c->out + c->out_len, data + (sent - 5), total - sent);
	c->out_len += total - sent;
	client_update(c);
}

bool clients_backlogged(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].out_len > CLIENT_OUT_HIGH)
			return true;
	return false;
}

void clients_drop_stalled(long long now)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].out_len > 0 && now - clients[i].progress_ms > CLIENT_STALL_MS)
			client_drop(&clients[i]);
}

void clients_broadcast(uint8_t type, const char *data, size_t n)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].attach)
			client_send(&clients[i], type, data, n);
}

static int client_flush(struct client *c)
{
	while (c->out_len > 0) {
		ssize_t r = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		memmove(c->out, c->out + r, c->out_len - (size_t)r);
		c->out_len -= (size_t)r;
		c->progress_ms = now_ms();
	}
	if (c->out_cap > 64 * 1024) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 1;
}

/* ---- frames in ---- */

static void dispatch(struct client *c)
{
	switch (c->type) {
	case F_RESIZE:
		if (c->body_len == 4) {
			struct winsize ws = {
				.ws_row = (unsigned short)(c->body[0] | c->body[1] << 8),
				.ws_col = (unsigned short)(c->body[2] | c->body[3] << 8),
			};
			if (monitor_pty_fd() >= 0) {
				ioctl(monitor_pty_fd(), TIOCSWINSZ, &ws);
			} else {
				saved_ws = ws;
				have_saved_ws = true;
			}
		}
		break;
	case F_CLOSE_STDIN:
		stdin_request_close();
		break;
	case F_USE_STDIN:
		c->stdin_user = true;
		break;
	case F_REOPEN_LOG: {
		int32_t e = log_reopen() < 0 ? errno : 0;
		char r[4] = { (char)e, (char)(e >> 8), (char)(e >> 16), (char)(e >> 24) };
		client_send(c, F_REOPEN_LOG, r, 4);
		break;
	}
	case F_STATUS: {
		char js[192];
		int n = snprintf(js, sizeof(js),
				 "{\"monitorPid\":%d,\"containerPid\":%d,\"running\":%s,\"attachClients\":%d}",
				 (int)getpid(), (int)monitor_container_pid(), monitor_running() ? "true" : "false",
				 attach_client_count());
		client_send(c, F_STATUS, js, (size_t)n);
		break;
	}
	default:
		break; /* unknown frames are ignored */
	}
}

static void client_input(struct client *c, const uint8_t *p, size_t n)
{
	int fd = c->fd;
	while (n > 0 && c->fd == fd) {
		if (c->hdr_got < 5) {
			size_t k = 5 - c->hdr_got < n ? 5 - c->hdr_got : n;
			memcpy(c->hdr + c->hdr_got, p, k);
			c->hdr_got += k;
			p += k;
			n -= k;
			if (c->hdr_got < 5)
				return;
			c->type = c->hdr[0];
			c->body_len = (uint32_t)c->hdr[1] | (uint32_t)c->hdr[2] << 8 | (uint32_t)c->hdr[3] << 16 |
				      (uint32_t)c->hdr[4] << 24;
			c->body_got = 0;
			if (c->type == F_STDIN)
				c->stdin_user = true;
			if (c->body_len > (c->type == F_STDIN ? FRAME_DATA_MAX : sizeof(c->body))) {
				client_drop(c);
				return;
			}
			if (c->body_len == 0) {
				c->hdr_got = 0;
				dispatch(c);
			}
			continue;
		}
		size_t k = c->body_len - c->body_got < n ? c->body_len - c->body_got : n;
		if (c->type == F_STDIN)
			stdin_write(p, k);
		else
			memcpy(c->body + c->body_got, p, k);
		c->body_got += (uint32_t)k;
		p += k;
		n -= k;
		if (c->body_got == c->body_len) {
			c->hdr_got = 0;
			if (c->type != F_STDIN)
				dispatch(c);
		}
	}
}

void clients_accept(int listen_fd, bool attach)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct client *c = NULL;
		for (int i = 0; i < MAX_CLIENTS && !c; i++)
			if (clients[i].fd < 0)
				c = &clients[i];
		if (!c) {
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->attach = attach;
		struct epoll_event ev = { .events = EPOLLRDHUP | (inputs_paused ? 0 : EPOLLIN),
					  .data.u64 = EV_TAG(EV_CLIENT, c - clients) };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			c->fd = -1;
		}
	}
}

static void client_drop(struct client *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
	if (g_opt.stdin_once && c->attach && c->stdin_user && !stdin_once_done) {
		stdin_once_done = true;
		stdin_request_close();
	}
}

void client_event(int idx, uint32_t events)
{
	if (idx < 0 || idx >= MAX_CLIENTS || clients[idx].fd < 0)
		return;
	struct client *c = &clients[idx];
	if (events & EPOLLOUT) {
		int r = client_flush(c);
		if (r < 0) {
			client_drop(c);
			return;
		}
		if (r > 0)
			client_update(c);
	}
	if (events & EPOLLIN) {
		uint8_t buf[16384];
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n > 0) {
			client_input(c, buf, (size_t)n);
			return;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_drop(c);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		client_drop(c);
}

void clients_finish(const char *exit_json_text)
{
	size_t n = strlen(exit_json_text);
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &clients[i];
		if (c->fd < 0)
			continue;
		if (c->attach)
			client_send(c, F_EXIT, exit_json_text, n);
		if (c->fd < 0)
			continue;
		if (c->out_len > 0) {
			/* a last, bounded wait for slow clients */
			struct timeval tv = { .tv_sec = 2 };
			fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
			setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			size_t off = 0;
			while (off < c->out_len) {
				ssize_t r = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
				if (r <= 0)
					break;
				off += (size_t)r;
			}
			c->out_len = 0;
		}
		bool once = g_opt.stdin_once;
		g_opt.stdin_once = false; /* no stdin-once effects while shutting down */
		client_drop(c);
		g_opt.stdin_once = once;
	}
}
