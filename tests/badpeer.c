/*
 * badpeer.c - misbehaving FUSE peers for perfused's bad-input tests.
 *
 *   badpeer server /dev/fd/N
 *       A FUSE server started by perfused like any libfuse3 filesystem (the
 *       mountpoint argument is its socket).  It answers INIT and GETATTR
 *       correctly.  To every LOOKUP it first sends 5 bytes of garbage, then a
 *       reply with a unique nobody asked for, then a reply whose length
 *       field lies, then a well-formed reply that is one byte short: the
 *       client must get EIO and perfused must carry on.
 *
 *   badpeer frame SOCKET
 *       Sends perfused at SOCKET a mount frame whose lengths do not add up:
 *       perfused must answer EINVAL and close the connection.
 *
 *   badpeer client SOCKET TARGET
 *       Attaches to TARGET through perfused at SOCKET, performs INIT, then
 *       sends a truncated 10-byte FUSE message.  perfused must close the
 *       connection (we see EOF) and keep serving.  Exit 0 when it did.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "ctl.h"
#include "frame.h"

static int
die(const char *what)
{
	fprintf(stderr, "badpeer: %s: %s\n", what, strerror(errno));
	return 1;
}

static void
reply(int fd, uint64_t unique, int32_t error, const void *body, size_t len,
    size_t claim)
{
	char buf[4096];
	struct fuse_out_header oh = { (uint32_t)(claim ? claim : sizeof(oh) + len),
		error, unique };

	memcpy(buf, &oh, sizeof(oh));
	if (len > 0)
		memcpy(buf + sizeof(oh), body, len);
	(void)!send(fd, buf, sizeof(oh) + len, MSG_NOSIGNAL);
}

static void
root_attr(struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = 1;
	a->mode = 040755;
	a->nlink = 2;
	a->blksize = 4096;
}

static int
server(const char *mp)
{
	static char buf[(1 << 20) + 4096];
	int fd;

	if (sscanf(mp, "/dev/fd/%d", &fd) != 1) {
		fprintf(stderr, "badpeer: mountpoint must be /dev/fd/N\n");
		return 2;
	}
	for (;;) {
		struct fuse_in_header h;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			return n == 0 ? 0 : die("recv");
		if ((size_t)n < sizeof(h))
			continue;
		memcpy(&h, buf, sizeof(h));
		if (h.opcode == FUSE_INIT) {
			struct fuse_init_out o;

			memset(&o, 0, sizeof(o));
			o.major = 7;
			o.minor = 31;
			o.max_write = 65536;
			o.max_readahead = 65536;
			reply(fd, h.unique, 0, &o, sizeof(o), 0);
		} else if (h.opcode == FUSE_GETATTR) {
			struct fuse_attr_out o;

			memset(&o, 0, sizeof(o));
			root_attr(&o.attr);
			reply(fd, h.unique, 0, &o, sizeof(o), 0);
		} else if (h.opcode == FUSE_LOOKUP) {
			struct fuse_entry_out e;

			memset(&e, 0, sizeof(e));
			e.nodeid = 7;
			root_attr(&e.attr);
			(void)!send(fd, "\x01\x02\x03\x04\x05", 5, MSG_NOSIGNAL);
			reply(fd, h.unique + 1000, 0, &e, sizeof(e), 0);
			reply(fd, h.unique, 0, &e, sizeof(e), sizeof(e) + 99);
			reply(fd, h.unique, 0, &e, sizeof(e) - 1, 0);
		} else if (h.opcode == FUSE_DESTROY) {
			reply(fd, h.unique, 0, NULL, 0, 0);
		} else if (h.opcode != FUSE_FORGET && h.opcode != FUSE_BATCH_FORGET) {
			reply(fd, h.unique, -ENOSYS, NULL, 0, 0);
		}
	}
}

/*
 * Send perfused a mount frame whose lengths do not add up; perfused must
 * answer EINVAL and hang up.
 */
static int
bad_frame(const char *sock)
{
	struct pf_frame f = { "src", "/bad/frame", "fuse", "fd=3", NULL, 0 };
	struct sockaddr_un sa;
	struct pf_frame_hdr h;
	struct fuse_out_header ack;
	char buf[4096];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	long len = pf_frame_encode(buf, sizeof(buf), &f);
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || len < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die(sock);
	memcpy(&h, buf, sizeof(h));
	h.target_len += 7;
	memcpy(buf, &h, sizeof(h));
	if (send(fd, buf, (size_t)len, 0) != len)
		return die("send");
	n = recv(fd, &ack, sizeof(ack), 0);
	if (n != sizeof(ack) || ack.error != -EINVAL) {
		fprintf(stderr, "badpeer: no EINVAL answer to a bad frame (recv %zd)\n", n);
		return 1;
	}
	if (recv(fd, buf, sizeof(buf), 0) != 0) {
		fprintf(stderr, "badpeer: perfused kept the connection of a bad frame\n");
		return 1;
	}
	return 0;
}

static int
client(const char *sock, const char *target)
{
	const char *strs[1] = { target };
	struct sockaddr_un sa;
	struct fuse_in_header h;
	struct fuse_init_in in;
	char buf[PF_CTL_MAX];
	struct pf_ctl_hdr ch;
	const char *rs[4];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die(sock);
	if (pf_ctl_send(fd, PF_CTL_ATTACH, 0, strs, 1) < 0 ||
	    pf_ctl_recv(fd, buf, &ch, rs, 4) < 0 || ch.error != 0) {
		fprintf(stderr, "badpeer: attach to %s failed\n", target);
		return 1;
	}
	memset(&h, 0, sizeof(h));
	memset(&in, 0, sizeof(in));
	h.len = sizeof(h) + sizeof(in);
	h.opcode = FUSE_INIT;
	h.unique = 2;
	in.major = 7;
	in.minor = 38;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &in, sizeof(in));
	if (send(fd, buf, h.len, 0) < 0 || recv(fd, buf, sizeof(buf), 0) <= 0)
		return die("INIT");
	if (send(fd, "truncated!", 10, 0) < 0)
		return die("send");
	n = recv(fd, buf, sizeof(buf), 0);
	if (n != 0) {
		fprintf(stderr, "badpeer: perfused kept a connection that sent a "
		    "truncated message (recv returned %zd)\n", n);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return server(argv[2]);
	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return client(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "frame") == 0)
		return bad_frame(argv[2]);
	fprintf(stderr, "usage: badpeer server /dev/fd/N | badpeer client SOCKET TARGET | badpeer frame SOCKET\n");
	return 2;
}
