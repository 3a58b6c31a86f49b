/*
 * berth-netns-connect: port-forward's way into a pod.
 *
 *   berth-netns-connect NETNS_PATH PORT
 *
 * Enters the network namespace whose file is NETNS_PATH ("-": stay in the caller's), connects to
 * 127.0.0.1:PORT, else to [::1]:PORT, then relays stdin -> socket and socket -> stdout until both
 * directions have ended. A half-close is passed on: EOF on stdin shuts down the socket's write side
 * (after the queued bytes), EOF from the socket closes stdout (after the queued bytes).
 *
 * Exit status: 0 relayed to the end; 1 usage or setup error (e.g. setns); 2 the connection failed on
 * both addresses (the reason on stderr, one line); 3 an I/O error while relaying.
 * Node cannot setns (one process, many threads), so this small program does it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536

struct pipe_dir {
	int in;       /* read from */
	int out;      /* write to */
	char buf[BUF_SIZE];
	size_t len;   /* queued bytes */
	size_t off;   /* already written of them */
	int eof;      /* the reader ended */
	int done;     /* EOF passed on to out */
};

static int parse_port(const char *s)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

static int try_connect(int family, int port, int *err)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (family == AF_INET) {
		struct sockaddr_in a;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((unsigned short)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		do
			rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		while (rc < 0 && errno == EINTR);
	} else {
		struct sockaddr_in6 a;
		memset(&a, 0, sizeof(a));
		a.sin6_family = AF_INET6;
		a.sin6_port = htons((unsigned short)port);
		a.sin6_addr = in6addr_loopback;
		do
			rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		while (rc < 0 && errno == EINTR);
	}
	if (rc < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Pass the end on: shut down the socket's write side, or close stdout. */
static void finish(struct pipe_dir *d, int sock)
{
	if (d->done)
		return;
	d->done = 1;
	if (d->out == sock)
		shutdown(sock, SHUT_WR);
	else
		close(d->out);
}

/* One step of a direction after poll said it can go on; -1 on an I/O error. */
static int step(struct pipe_dir *d, short in_ev, short out_ev, int sock)
{
	if (d->len == 0 && !d->eof && (in_ev & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(d->in, d->buf, sizeof(d->buf));
		if (n > 0) {
			d->len = (size_t)n;
			d->off = 0;
		} else if (n == 0) {
			d->eof = 1;
		} else if (errno == ECONNRESET) {
			d->eof = 1;
			return -1;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (d->len > d->off && (out_ev & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = write(d->out, d->buf + d->off, d->len - d->off);
		if (n > 0) {
			d->off += (size_t)n;
			if (d->off == d->len)
				d->len = d->off = 0;
		} else if (n < 0 && (errno == EPIPE || errno == ECONNRESET) && d->out == sock) {
			/* the pod's side closed: what the client still sends has nowhere to go */
			d->eof = d->done = 1;
			d->len = d->off = 0;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (d->eof && d->len == 0)
		finish(d, sock);
	return 0;
}

int main(int argc, char **argv)
{
	static struct pipe_dir up, down; /* up: stdin -> socket; down: socket -> stdout */
	int port, sock, err4 = 0, err6 = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s NETNS_PATH PORT\n", argv[0]);
		return 1;
	}
	port = parse_port(argv[2]);
	if (port < 0) {
		fprintf(stderr, "berth-netns-connect: invalid port %s\n", argv[2]);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "-") != 0) {
		int ns = open(argv[1], O_RDONLY | O_CLOEXEC);
		if (ns < 0) {
			fprintf(stderr, "berth-netns-connect: open network namespace %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		if (setns(ns, CLONE_NEWNET) < 0) {
			fprintf(stderr, "berth-netns-connect: setns %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		close(ns);
	}
	sock = try_connect(AF_INET, port, &err4);
	if (sock < 0)
		sock = try_connect(AF_INET6, port, &err6);
	if (sock < 0) {
		fprintf(stderr, "failed to connect to localhost:%d inside namespace %s, IPv4: connect 127.0.0.1:%d: %s, IPv6: connect [::1]:%d: %s\n",
			port, argv[1], port, strerror(err4), port, strerror(err6));
		return 2;
	}
	if (set_nonblock(0) < 0 || set_nonblock(1) < 0 || set_nonblock(sock) < 0) {
		fprintf(stderr, "berth-netns-connect: O_NONBLOCK: %s\n", strerror(errno));
		return 1;
	}
	up.in = 0;
	up.out = sock;
	down.in = sock;
	down.out = 1;

	while (!(up.done && down.done)) {
		struct pollfd p[3];
		short sock_ev = 0;
		int rc;

		/* stdin: readable when up's buffer is empty */
		p[0].fd = (!up.eof && up.len == 0) ? 0 : -1;
		p[0].events = POLLIN;
		/* stdout: writable when down has bytes queued */
		p[1].fd = (down.len > down.off) ? 1 : -1;
		p[1].events = POLLOUT;
		if (!down.eof && down.len == 0)
			sock_ev |= POLLIN;
		if (up.len > up.off)
			sock_ev |= POLLOUT;
		p[2].fd = sock_ev != 0 ? sock : -1;
		p[2].events = sock_ev;
		p[0].revents = p[1].revents = p[2].revents = 0;
		rc = poll(p, 3, -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "berth-netns-connect: poll: %s\n", strerror(errno));
			return 3;
		}
		if (step(&up, p[0].revents, p[2].revents, sock) < 0) {
			fprintf(stderr, "berth-netns-connect: relaying to the pod: %s\n", strerror(errno));
			return 3;
		}
		if (step(&down, p[2].revents, p[1].revents, sock) < 0) {
			if (errno == EPIPE) /* the caller went away: nothing left to tell */
				return 3;
			fprintf(stderr, "berth-netns-connect: relaying from the pod: %s\n", strerror(errno));
			return 3;
		}
	}
	close(sock);
	return 0;
}
