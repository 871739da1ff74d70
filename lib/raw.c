/*
 * raw.c - requests the caller builds whole and replies it sees whole, for
 * the tools that test servers ("perfuse check", "perfuse replay").  See
 * the end of session.h.
 *
 * These bypass the request table of session.c: nothing is matched,
 * validated or latched here.  The caller sends with pf_raw_send(),
 * receives with pf_raw_recv() and checks replies itself (pf_check_reply()
 * and friends).  A session uses either these or pf_call() at a time; the
 * uniques come from the same counter, so a pf_call() afterwards (the
 * DESTROY of perfuse_disconnect(), say) never collides with them.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "session.h"

uint64_t
pf_raw_unique(perfuse_conn *c)
{
	uint64_t u;

	pthread_mutex_lock(&c->lock);
	u = c->next_unique;
	c->next_unique += 2;
	pthread_mutex_unlock(&c->lock);
	return u;
}

size_t
pf_raw_msgmax(const perfuse_conn *c)
{
	return c->msgmax;
}

/* The server is gone: nothing more will be sent or received. */
static void
raw_dead(perfuse_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->dead = 1;
	pthread_mutex_unlock(&c->lock);
}

int
pf_raw_send(perfuse_conn *c, struct fuse_in_header *h, const struct iovec *in,
    int nin)
{
	struct iovec iov[8];
	struct msghdr mh;
	size_t len = sizeof(*h);
	ssize_t n;
	int i, dead;

	if (nin < 0 || nin > 7)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	dead = c->dead;
	pthread_mutex_unlock(&c->lock);
	if (dead)
		return -ENOTCONN;
	for (i = 0; i < nin; i++) {
		iov[i + 1] = in[i];
		len += in[i].iov_len;
	}
	if (len > c->msgmax)
		return -EMSGSIZE;
	h->len = (uint32_t)len;
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof(*h);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)nin + 1;
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		if (e == EPIPE || e == ECONNRESET) {
			raw_dead(c);
			return -ENOTCONN;
		}
		return -e;
	}
	return n == (ssize_t)len ? 0 : -EIO;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ssize_t
pf_raw_recv(perfuse_conn *c, void *buf, size_t size, int timeout_ms)
{
	long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
	struct pollfd pfd = { c->fd, POLLIN, 0 };
	ssize_t n;
	int dead, r;

	pthread_mutex_lock(&c->lock);
	dead = c->dead;
	pthread_mutex_unlock(&c->lock);
	if (dead)
		return -ENOTCONN;
	for (;;) {
		int wait = -1;

		if (timeout_ms >= 0) {
			long left = deadline - now_ms();

			wait = left > 0 ? (int)left : 0;
		}
		r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(c->fd, buf, size, MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			int e = n == 0 || errno == ECONNRESET ? ENOTCONN : errno;

			raw_dead(c);
			return -e;
		}
		return n;
	}
}
