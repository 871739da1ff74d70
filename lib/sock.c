/*
 * sock.c - socket buffer sizing.  See sock.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "proto.h"
#include "sock.h"

/* Headers and the largest fixed request struct ride with the payload. */
#define MSG_OVERHEAD 4096

size_t
pf_sock_bufsize(size_t payload)
{
	const char *env = getenv("PERFUSE_BUFSIZE");
	unsigned long long v;
	char *end;

	if (env != NULL && *env != '\0') {
		errno = 0;
		v = strtoull(env, &end, 0);
		if (errno == 0 && *end == '\0' && v > 0 && v <= UINT32_MAX)
			return (size_t)v;
		pf_warn("PERFUSE_BUFSIZE=%s: not a size in 1..%u, using the default",
		    env, UINT32_MAX);
	}
	return 16 * (payload + MSG_OVERHEAD);
}

size_t
pf_sock_setbuf(int fd, size_t payload)
{
	size_t want = pf_sock_bufsize(payload);
	int v = want > INT_MAX / 2 ? INT_MAX / 2 : (int)want;
	int snd = 0, rcv = 0;
	socklen_t sl = sizeof(snd);
	size_t msgmax;

	/* Only root may pass net.core.wmem_max; others get the cap. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &sl) < 0 || snd <= 0)
		snd = 212992;
	sl = sizeof(rcv);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &sl) < 0 || rcv <= 0)
		rcv = snd;
	/*
	 * The kernel reports twice what it grants, half of it for its own
	 * bookkeeping; a datagram needs its payload to fit in that half.
	 */
	msgmax = (size_t)(snd < rcv ? snd : rcv) / 2;
	if (msgmax > payload + MSG_OVERHEAD)
		msgmax = payload + MSG_OVERHEAD;
	if (msgmax < 4096 + MSG_OVERHEAD)
		msgmax = 4096 + MSG_OVERHEAD;
	return msgmax;
}
