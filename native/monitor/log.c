/* The container log: CRI lines (`<time> <stream> <F|P> <msg>`) or plain bytes; reopen; size cap. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int log_fd = -1;
static long long log_bytes;

struct line { size_t len; char buf[LOG_LINE_MAX]; };
static struct line lines[2]; /* stdout, stderr */
static char err_tail[256];    /* the last bytes of stderr, for CMD's failure message */
static size_t err_tail_len;

static void keep_tail(const char *data, size_t n)
{
	if (n >= sizeof(err_tail)) {
		memcpy(err_tail, data + n - sizeof(err_tail), sizeof(err_tail));
		err_tail_len = sizeof(err_tail);
		return;
	}
	size_t keep = err_tail_len + n > sizeof(err_tail) ? sizeof(err_tail) - n : err_tail_len;
	memmove(err_tail, err_tail + err_tail_len - keep, keep);
	memcpy(err_tail + keep, data, n);
	err_tail_len = keep + n;
}

void log_last_stderr_line(char *buf, size_t cap)
{
	size_t end = err_tail_len;
	while (end > 0 && (err_tail[end - 1] == '\n' || err_tail[end - 1] == '\r'))
		end--;
	size_t start = end;
	while (start > 0 && err_tail[start - 1] != '\n')
		start--;
	size_t n = end - start < cap - 1 ? end - start : cap - 1;
	memcpy(buf, err_tail + start, n);
	buf[n] = 0;
}

int log_open(void)
{
	if (!g_opt.log_path)
		return 0;
	int fd = open(g_opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -1;
	struct stat st;
	log_bytes = fstat(fd, &st) == 0 ? st.st_size : 0;
	log_fd = fd;
	return 0;
}

int log_reopen(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	return log_open();
}

static void log_write(const struct iovec *iov, int cnt)
{
	if (log_fd < 0)
		return;
	size_t total = 0;
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	if (g_opt.log_size_max > 0 && log_bytes + (long long)total > g_opt.log_size_max && log_bytes > 0) {
		/* past the cap: start over (O_APPEND keeps writing at the new end) */
		if (ftruncate(log_fd, 0) == 0)
			log_bytes = 0;
	}
	ssize_t n;
	do
		n = writev(log_fd, iov, cnt);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		log_bytes += n;
}

static void emit(enum stream s, char tag, const char *msg, size_t len)
{
	char hdr[96];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	fmt_time(hdr, sizeof(hdr), &now);
	size_t h = strlen(hdr);
	const char *name = s == STREAM_STDOUT ? " stdout " : " stderr ";
	memcpy(hdr + h, name, 8);
	h += 8;
	hdr[h++] = tag;
	hdr[h++] = ' ';
	struct iovec iov[3] = {
		{ .iov_base = hdr, .iov_len = h },
		{ .iov_base = (void *)msg, .iov_len = len },
		{ .iov_base = (void *)"\n", .iov_len = 1 },
	};
	log_write(iov, 3);
}

void log_output(enum stream s, const char *data, size_t n)
{
	if (s == STREAM_STDERR)
		keep_tail(data, n);
	if (g_opt.log_format == LOG_PLAIN) {
		struct iovec iov = { .iov_base = (void *)data, .iov_len = n };
		log_write(&iov, 1);
		return;
	}
	struct line *l = &lines[s == STREAM_STDOUT ? 0 : 1];
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		size_t room = LOG_LINE_MAX - l->len;
		if (take > room) {
			/* the line is longer than the limit: a P record of a full buffer */
			memcpy(l->buf + l->len, data, room);
			emit(s, 'P', l->buf, LOG_LINE_MAX);
			l->len = 0;
			data += room;
			n -= room;
			continue;
		}
		memcpy(l->buf + l->len, data, take);
		l->len += take;
		data += take;
		n -= take;
		if (nl) {
			emit(s, 'F', l->buf, l->len);
			l->len = 0;
			data++;
			n--;
		}
	}
}

void log_flush_partial(void)
{
	if (g_opt.log_format != LOG_CRI)
		return;
	for (int i = 0; i < 2; i++) {
		if (lines[i].len > 0)
			emit(i == 0 ? STREAM_STDOUT : STREAM_STDERR, 'P', lines[i].buf, lines[i].len);
		lines[i].len = 0;
	}
}
