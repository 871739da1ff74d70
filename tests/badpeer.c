/*
 * badpeer.c - misbehaving FUSE peers for perfused's bad-input tests.
 *
 *   badpeer server [CASE] /dev/fd/N
 *       A FUSE server started by perfused like any libfuse3 filesystem (the
 *       mountpoint argument is its socket).  It answers INIT and GETATTR of
 *       the root correctly and misbehaves as CASE says (see cases[] below;
 *       the default, "garbage", sends 5 bytes of garbage, a reply with a
 *       unique nobody asked for, a reply whose length field lies and one
 *       that is one byte short to every LOOKUP).
 *
 *   badpeer frame SOCKET
 *       Sends perfused at SOCKET a mount frame whose lengths do not add up:
 *       perfused must answer EINVAL and close the connection.
 *
 *   badpeer client SOCKET TARGET
 *       Attaches to TARGET through perfused at SOCKET, performs INIT, then
 *       sends a truncated 10-byte FUSE message.  perfused must close the
 *       connection (we see EOF) and keep serving.  Exit 0 when it did.
 *
 *   badpeer oldclient SOCKET TARGET MINOR NAME
 *       A client of FUSE 7.MINOR (its INIT, and its struct sizes) attached
 *       to TARGET reads the file NAME in the root: LOOKUP, OPEN, GETATTR,
 *       READs of 4 KiB to the end.  The data goes to stdout; exit 0 when
 *       INIT was answered at MINOR and the size read is GETATTR's.
 *
 *   badpeer flood SOCKET TARGET CONNS SECONDS write|getattr|read=NAME [deaf]
 *                 [max=N]
 *       A client that floods: CONNS connections attached to TARGET, each
 *       sending requests as fast as perfused takes them, without waiting
 *       for answers, for SECONDS: WRITEs of max_write bytes (at most 1 MiB)
 *       to the root's node, GETATTRs of the root, or READs of 1 MiB from
 *       the start of the file NAME in the root (looked up and opened by
 *       each connection first); at most N requests a connection with
 *       max=N.  Replies are read as they come, and for
 *       SECONDS more at the end, unless "deaf" (never read).  Prints one
 *       line: "sent=N replies=N ok=N eagain=N etimedout=N enotconn=N
 *       other=N closed=N" (closed: connections perfused hung up on).  Exit
 *       status 0 unless something could not be set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "ctl.h"
#include "frame.h"
#include "sock.h"

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

/*
 * The hostile cases, by name.  Each misbehaves in one way, and only when
 * a LOOKUP (or INIT) comes: GETATTR of the root always works, so the
 * mount stays usable and the test can see perfused carry on.
 */
static const char *const cases[] = {
	"garbage",        /* 5 bytes, a wrong unique, a lying length, a short reply */
	"short",          /* an entry one byte short */
	"oversized",      /* an entry one byte long */
	"wrong-unique",   /* the reply under another unique, then nothing */
	"duplicate",      /* the right reply twice */
	"forget-reply",   /* answers FORGETs too */
	"error-range",    /* error +5, then -5000, then the real reply */
	"never",          /* never answers LOOKUP */
	"late",           /* answers LOOKUP after 3 s */
	"exit",           /* exits when LOOKUP comes */
	"init-close",     /* closes during INIT */
	"notify-unknown", /* notifications about nodes nobody knows, and a bad one */
	"bad-mode",       /* an entry whose file mode is no file type */
	"readdir-slash",  /* a directory entry named "a/b" */
	"readdir-stuck",  /* directory entries whose offsets never move on */
	"notify-kernel",  /* not hostile: file "f" grows at each lookup of "bump" and
	                     the server says so with INVAL_INODE (attributes cached 1 h) */
	"stuck",          /* answers INIT (max_write 1 MiB), then never reads again */
	"mute",           /* reads everything, answers only INIT and DESTROY */
	"minor99",        /* claims FUSE 7.99 */
	"major6",         /* claims FUSE 6.x */
	NULL
};

static int
case_index(const char *name)
{
	int i;

	for (i = 0; cases[i] != NULL; i++)
		if (strcmp(cases[i], name) == 0)
			return i;
	return -1;
}

static void
init_reply(int fd, const char *c, uint64_t unique)
{
	struct fuse_init_out o;

	memset(&o, 0, sizeof(o));
	o.major = strcmp(c, "major6") == 0 ? 6 : 7;
	o.minor = strcmp(c, "minor99") == 0 ? 99 : 31;
	o.max_write = 65536;
	o.max_readahead = 65536;
	if (strcmp(c, "stuck") == 0) {
		/* The largest requests there are, to fill perfused's queue. */
		o.flags = FUSE_BIG_WRITES | FUSE_MAX_PAGES;
		o.max_pages = 256;
		o.max_write = 1 << 20;
	}
	reply(fd, unique, 0, &o, sizeof(o), 0);
}

static void
notify_unknown(int fd)
{
	struct fuse_notify_inval_inode_out ii = { 12345, 0, 0 };
	struct fuse_notify_inval_entry_out ie = { 54321, 1, 0 };
	char buf[64];

	reply(fd, 0, FUSE_NOTIFY_INVAL_INODE, &ii, sizeof(ii), 0);
	memcpy(buf, &ie, sizeof(ie));
	memcpy(buf + sizeof(ie), "x", 2);
	reply(fd, 0, FUSE_NOTIFY_INVAL_ENTRY, buf, sizeof(ie) + 2, 0);
	reply(fd, 0, FUSE_NOTIFY_INVAL_INODE, &ii, 3, 0);  /* too short */
	reply(fd, 0, 99, &ii, sizeof(ii), 0);              /* unknown code */
}

/* notify-kernel: the size of file "f" (node 7). */
static uint64_t f_size = 1;

static void
f_attr(struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = 7;
	a->mode = 0100644;
	a->nlink = 1;
	a->size = f_size;
	a->blksize = 4096;
}

static void
notify_kernel_lookup(int fd, const struct fuse_in_header *h, const char *name)
{
	struct fuse_entry_out e;

	if (strcmp(name, "f") == 0) {
		memset(&e, 0, sizeof(e));
		e.nodeid = 7;
		e.entry_valid = e.attr_valid = 3600;
		f_attr(&e.attr);
		reply(fd, h->unique, 0, &e, sizeof(e), 0);
		return;
	}
	if (strcmp(name, "bump") == 0) {
		struct fuse_notify_inval_inode_out ii = { 7, 0, 0 };

		f_size++;
		reply(fd, 0, FUSE_NOTIFY_INVAL_INODE, &ii, sizeof(ii), 0);
	}
	reply(fd, h->unique, -ENOENT, NULL, 0, 0);
}

/* Answer a LOOKUP the way the case says; 1 when the server must exit. */
static int
lookup_reply(int fd, const char *c, const struct fuse_in_header *h, const char *name)
{
	struct fuse_entry_out e;

	if (strcmp(c, "notify-kernel") == 0) {
		notify_kernel_lookup(fd, h, name);
		return 0;
	}

	memset(&e, 0, sizeof(e));
	e.nodeid = 7;
	root_attr(&e.attr);
	e.attr.ino = 7;
	if (strcmp(c, "garbage") == 0) {
		(void)!send(fd, "\x01\x02\x03\x04\x05", 5, MSG_NOSIGNAL);
		reply(fd, h->unique + 1000, 0, &e, sizeof(e), 0);
		reply(fd, h->unique, 0, &e, sizeof(e), sizeof(e) + 99);
		reply(fd, h->unique, 0, &e, sizeof(e) - 1, 0);
	} else if (strcmp(c, "short") == 0) {
		reply(fd, h->unique, 0, &e, sizeof(e) - 1, 0);
	} else if (strcmp(c, "oversized") == 0) {
		char big[sizeof(e) + 1] = { 0 };

		memcpy(big, &e, sizeof(e));
		reply(fd, h->unique, 0, big, sizeof(big), 0);
	} else if (strcmp(c, "wrong-unique") == 0) {
		reply(fd, h->unique + 2, 0, &e, sizeof(e), 0);
	} else if (strcmp(c, "duplicate") == 0) {
		reply(fd, h->unique, 0, &e, sizeof(e), 0);
		reply(fd, h->unique, 0, &e, sizeof(e), 0);
	} else if (strcmp(c, "error-range") == 0) {
		reply(fd, h->unique, 5, NULL, 0, 0);
		reply(fd, h->unique, -5000, NULL, 0, 0);
	} else if (strcmp(c, "never") == 0) {
		return 0;
	} else if (strcmp(c, "late") == 0) {
		sleep(3);
		reply(fd, h->unique, 0, &e, sizeof(e), 0);
	} else if (strcmp(c, "exit") == 0) {
		return 1;
	} else if (strcmp(c, "bad-mode") == 0) {
		e.attr.mode = 0777;  /* no S_IFMT bits */
		reply(fd, h->unique, 0, &e, sizeof(e), 0);
	} else if (strcmp(c, "notify-unknown") == 0) {
		notify_unknown(fd);
		reply(fd, h->unique, -ENOENT, NULL, 0, 0);
	} else {
		reply(fd, h->unique, 0, &e, sizeof(e), 0);
	}
	return 0;
}

/* One directory entry at *pos of buf. */
static size_t
add_dirent(char *buf, size_t pos, const char *name, uint64_t off)
{
	struct fuse_dirent d;
	size_t nl = strlen(name);

	memset(&d, 0, sizeof(d));
	d.ino = 7;
	d.off = off;
	d.namelen = (uint32_t)nl;
	d.type = 8;
	memset(buf + pos, 0, FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl));
	memcpy(buf + pos, &d, FUSE_NAME_OFFSET);
	memcpy(buf + pos + FUSE_NAME_OFFSET, name, nl);
	return pos + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);
}

static void
readdir_reply(int fd, const char *c, const struct fuse_in_header *h, const char *body)
{
	struct fuse_read_in in;
	char buf[512];
	size_t len = 0;

	memcpy(&in, body, sizeof(in));
	if (strcmp(c, "readdir-slash") == 0 && in.offset == 0) {
		len = add_dirent(buf, len, "ok", 1);
		len = add_dirent(buf, len, "a/b", 2);
	} else if (strcmp(c, "readdir-slash") == 0 && in.offset == 1) {
		len = add_dirent(buf, len, "a/b", 2);  /* asked again: still bad */
	} else if (strcmp(c, "readdir-stuck") == 0) {
		len = add_dirent(buf, len, "same", in.offset);
	}
	reply(fd, h->unique, 0, buf, len, 0);
}

static int
server(const char *c, const char *mp)
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
		if (h.opcode == FUSE_INIT && strcmp(c, "init-close") == 0) {
			return 0;
		} else if (h.opcode == FUSE_INIT) {
			init_reply(fd, c, h.unique);
			if (strcmp(c, "stuck") == 0)
				for (;;)
					pause();  /* until perfused's SIGTERM at unmount */
		} else if (h.opcode == FUSE_DESTROY) {
			reply(fd, h.unique, 0, NULL, 0, 0);
		} else if (strcmp(c, "mute") == 0) {
			continue;
		} else if (h.opcode == FUSE_GETATTR) {
			struct fuse_attr_out o;

			memset(&o, 0, sizeof(o));
			if (h.nodeid == 7)
				f_attr(&o.attr);
			else
				root_attr(&o.attr);
			o.attr_valid = strcmp(c, "notify-kernel") == 0 ? 3600 : 0;
			reply(fd, h.unique, 0, &o, sizeof(o), 0);
		} else if (h.opcode == FUSE_LOOKUP) {
			buf[n < (ssize_t)sizeof(buf) ? n : n - 1] = '\0';
			if (lookup_reply(fd, c, &h, buf + sizeof(h)))
				return 3;
		} else if (h.opcode == FUSE_READDIR) {
			readdir_reply(fd, c, &h, buf + sizeof(h));
		} else if (h.opcode == FUSE_FORGET || h.opcode == FUSE_BATCH_FORGET) {
			if (strcmp(c, "forget-reply") == 0)
				reply(fd, h.unique, 0, NULL, 0, 0);
		} else {
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

/*
 * Attach to target and perform INIT offering minor; the socket, or -1.
 * *max_write, and the minor of the answer in *got.
 */
static int
attach_init_minor(const char *sock, const char *target, unsigned minor,
    uint32_t *max_write, unsigned *got)
{
	const char *strs[1] = { target };
	struct sockaddr_un sa;
	struct fuse_in_header h;
	struct fuse_init_in in;
	struct fuse_init_out out;
	struct fuse_out_header oh;
	static char buf[PF_CTL_MAX];
	struct pf_ctl_hdr ch;
	const char *rs[4];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		die(sock);
		goto fail;
	}
	if (pf_ctl_send(fd, PF_CTL_ATTACH, 0, strs, 1) < 0 ||
	    pf_ctl_recv(fd, buf, &ch, rs, 4) < 0 || ch.error != 0) {
		fprintf(stderr, "badpeer: attach to %s failed (%s)\n", target,
		    strerror(-ch.error));
		goto fail;
	}
	memset(&h, 0, sizeof(h));
	memset(&in, 0, sizeof(in));
	/* As a kernel of that minor: fuse_init_in is 16 bytes before 7.36. */
	h.len = (uint32_t)(sizeof(h) + (minor < 36 ? 16 : sizeof(in)));
	h.opcode = FUSE_INIT;
	h.unique = 2;
	in.major = 7;
	in.minor = minor;
	in.max_readahead = 1 << 20;
	in.flags = FUSE_BIG_WRITES | FUSE_ASYNC_READ | (minor >= 28 ? FUSE_MAX_PAGES : 0);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &in, sizeof(in));
	if (send(fd, buf, h.len, 0) < 0 || (n = recv(fd, buf, sizeof(buf), 0)) <
	    (ssize_t)sizeof(struct fuse_out_header)) {
		die("INIT");
		goto fail;
	}
	memcpy(&oh, buf, sizeof(oh));
	if (oh.error != 0 || n < (ssize_t)(sizeof(struct fuse_out_header) + 24)) {
		fprintf(stderr, "badpeer: INIT at 7.%u: %s\n", minor, oh.error != 0 ?
		    strerror(-oh.error) : "a short reply");
		goto fail;
	}
	memset(&out, 0, sizeof(out));
	memcpy(&out, buf + sizeof(struct fuse_out_header),
	    (size_t)n - sizeof(struct fuse_out_header) < sizeof(out) ?
	    (size_t)n - sizeof(struct fuse_out_header) : sizeof(out));
	*max_write = out.max_write;
	*got = out.minor;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * One request on fd, waiting for its reply (during set-up, before the
 * flood): the reply's body into out (at most olen bytes); the body's
 * length, or -errno.
 */
static int
call(int fd, uint32_t opcode, uint64_t nodeid, const void *in, size_t ilen,
    void *out, size_t olen)
{
	static char buf[8192];
	struct fuse_in_header h;
	struct fuse_out_header oh;
	ssize_t n;

	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)(sizeof(h) + ilen);
	h.opcode = opcode;
	h.unique = 2;
	h.nodeid = nodeid;
	h.uid = getuid();
	h.gid = getgid();
	h.pid = (uint32_t)getpid();
	if (sizeof(h) + ilen > sizeof(buf))
		return -EINVAL;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), in, ilen);
	if (send(fd, buf, h.len, 0) != (ssize_t)h.len ||
	    (n = recv(fd, buf, sizeof(buf), 0)) < (ssize_t)sizeof(oh))
		return -EIO;
	memcpy(&oh, buf, sizeof(oh));
	if (oh.error != 0)
		return oh.error;
	memset(out, 0, olen);
	memcpy(out, buf + sizeof(oh), (size_t)n - sizeof(oh) < olen ?
	    (size_t)n - sizeof(oh) : olen);
	return (int)((size_t)n - sizeof(oh));
}

/* LOOKUP name in the root and OPEN it for reading: its fh, in *fh. */
static int
open_in_root(int fd, const char *name, uint64_t *nodeid, uint64_t *fh)
{
	struct fuse_entry_out e;
	struct fuse_open_in oi;
	struct fuse_open_out oo;
	int r = call(fd, FUSE_LOOKUP, 1, name, strlen(name) + 1, &e, sizeof(e));

	if (r >= 0) {
		memset(&oi, 0, sizeof(oi));
		oi.flags = O_RDONLY;
		r = call(fd, FUSE_OPEN, e.nodeid, &oi, sizeof(oi), &oo, sizeof(oo));
	}
	if (r < 0) {
		fprintf(stderr, "badpeer: %s: %s\n", name, strerror(-r));
		return -1;
	}
	*nodeid = e.nodeid;
	*fh = oo.fh;
	return 0;
}

static int
attach_init(const char *sock, const char *target, uint32_t *max_write)
{
	unsigned got;

	return attach_init_minor(sock, target, 38, max_write, &got);
}

/*
 * badpeer oldclient: a client of an older minor reads NAME in the root:
 * INIT at minor, LOOKUP, GETATTR, OPEN, READs; the data to stdout, the
 * minor answered and the size to stderr.
 */
static int
old_client(const char *sock, const char *target, unsigned minor, const char *name)
{
	static char data[1 << 16];
	struct fuse_attr_out ao;
	struct fuse_getattr_in gi;
	struct fuse_read_in ri;
	uint64_t nodeid, fh, off = 0;
	uint32_t max_write;
	unsigned got;
	int fd = attach_init_minor(sock, target, minor, &max_write, &got);
	int r;

	if (fd < 0)
		return 1;
	if (got != minor) {
		fprintf(stderr, "badpeer: INIT at 7.%u answered at 7.%u\n", minor, got);
		return 1;
	}
	if (open_in_root(fd, name, &nodeid, &fh) < 0)
		return 1;
	memset(&gi, 0, sizeof(gi));
	/* GETATTR has no body before 7.9; the reply is 96 bytes before 7.9. */
	r = call(fd, FUSE_GETATTR, nodeid, &gi, minor < 9 ? 0 : sizeof(gi), &ao, sizeof(ao));
	if (r < 0) {
		fprintf(stderr, "badpeer: GETATTR: %s\n", strerror(-r));
		return 1;
	}
	for (;;) {
		memset(&ri, 0, sizeof(ri));
		ri.fh = fh;
		ri.offset = off;
		ri.size = 4096;
		/* fuse_read_in is 24 bytes before 7.9. */
		r = off + 4096 <= sizeof(data) ? call(fd, FUSE_READ, nodeid, &ri,
		    minor < 9 ? 24 : sizeof(ri), data + off, 4096) : 0;
		if (r < 0 || r > 4096) {
			fprintf(stderr, "badpeer: READ: %s\n", r < 0 ? strerror(-r) :
			    "more than asked for");
			return 1;
		}
		if (r == 0)
			break;
		off += (uint64_t)r;
	}
	fwrite(data, 1, (size_t)off, stdout);
	fprintf(stderr, "badpeer: 7.%u: size %llu, %llu bytes read\n", got,
	    (unsigned long long)ao.attr.size, (unsigned long long)off);
	close(fd);
	return ao.attr.size == off ? 0 : 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct flood_stats {
	unsigned long sent, replies, ok, eagain, etimedout, enotconn, other, closed;
};

/* Read what replies there are on fd; -1 when perfused hung up. */
static int
flood_read(int fd, char *buf, size_t size, struct flood_stats *st)
{
	for (;;) {
		struct fuse_out_header oh;
		ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		if ((size_t)n < sizeof(oh))
			continue;
		memcpy(&oh, buf, sizeof(oh));
		st->replies++;
		if (oh.error == 0)
			st->ok++;
		else if (oh.error == -EAGAIN)
			st->eagain++;
		else if (oh.error == -ETIMEDOUT)
			st->etimedout++;
		else if (oh.error == -ENOTCONN)
			st->enotconn++;
		else
			st->other++;
	}
}

static int
flood(const char *sock, const char *target, int nconn, double secs, const char *op,
    int deaf, unsigned long max)
{
	static char req[(1 << 20) + 4096], rbuf[(1 << 20) + 4096];
	struct flood_stats st = { 0, 0, 0, 0, 0, 0, 0, 0 };
	struct pollfd *pfd = calloc((size_t)nconn, sizeof(*pfd));
	unsigned long *count = calloc((size_t)nconn, sizeof(*count));
	uint64_t *unique = calloc((size_t)nconn, sizeof(*unique));
	uint64_t *fh = calloc((size_t)nconn, sizeof(*fh)), nodeid = 1;
	const char *rname = strncmp(op, "read=", 5) == 0 ? op + 5 : NULL;
	struct fuse_in_header h;
	uint32_t max_write = 0, wlen;
	size_t len;
	double end, stop;
	int i, live = nconn;

	if (pfd == NULL || count == NULL || unique == NULL || fh == NULL)
		return die("calloc");
	for (i = 0; i < nconn; i++) {
		pfd[i].fd = attach_init(sock, target, &max_write);
		if (pfd[i].fd < 0)
			return 1;
		/* Room for a whole 1 MiB WRITE: SEQPACKET sends it in one piece. */
		pf_sock_setbuf(pfd[i].fd, 2u << 20);
		if (rname != NULL && open_in_root(pfd[i].fd, rname, &nodeid, &fh[i]) < 0)
			return 1;
		fcntl(pfd[i].fd, F_SETFL, O_NONBLOCK);
		unique[i] = 4;
	}
	memset(&h, 0, sizeof(h));
	h.nodeid = nodeid;
	h.uid = getuid();
	h.gid = getgid();
	h.pid = (uint32_t)getpid();
	if (strcmp(op, "write") == 0) {
		struct fuse_write_in w;

		wlen = max_write < (1u << 20) ? max_write : 1u << 20;
		memset(&w, 0, sizeof(w));
		w.size = wlen;
		h.opcode = FUSE_WRITE;
		len = sizeof(h) + sizeof(w) + wlen;
		memcpy(req + sizeof(h), &w, sizeof(w));
		memset(req + sizeof(h) + sizeof(w), 'w', wlen);
	} else if (strcmp(op, "getattr") == 0) {
		struct fuse_getattr_in g;

		memset(&g, 0, sizeof(g));
		h.opcode = FUSE_GETATTR;
		len = sizeof(h) + sizeof(g);
		memcpy(req + sizeof(h), &g, sizeof(g));
	} else if (rname != NULL) {
		struct fuse_read_in r;

		memset(&r, 0, sizeof(r));
		r.size = 1u << 20;
		h.opcode = FUSE_READ;
		len = sizeof(h) + sizeof(r);
		memcpy(req + sizeof(h), &r, sizeof(r));
	} else {
		fprintf(stderr, "badpeer: flood: unknown request '%s'\n", op);
		return 2;
	}
	h.len = (uint32_t)len;
	end = now_s() + secs;
	while (live > 0 && now_s() < end) {
		for (i = 0; i < nconn; i++) {
			pfd[i].events = (short)((deaf ? 0 : POLLIN) |
			    (max == 0 || count[i] < max ? POLLOUT : 0));
			if (pfd[i].fd < 0)
				pfd[i].events = 0;
		}
		if (poll(pfd, (nfds_t)nconn, 100) < 0 && errno != EINTR)
			return die("poll");
		for (i = 0; i < nconn; i++) {
			if (pfd[i].fd < 0)
				continue;
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    (deaf ? recv(pfd[i].fd, rbuf, 1, MSG_PEEK | MSG_DONTWAIT) == 0 :
			    flood_read(pfd[i].fd, rbuf, sizeof(rbuf), &st) < 0)) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				st.closed++;
				live--;
				continue;
			}
			if (!(pfd[i].revents & POLLOUT))
				continue;
			h.unique = unique[i];
			memcpy(req, &h, sizeof(h));
			if (rname != NULL)   /* fuse_read_in starts with the fh */
				memcpy(req + sizeof(h), &fh[i], sizeof(fh[i]));
			if (send(pfd[i].fd, req, len, MSG_DONTWAIT | MSG_NOSIGNAL) ==
			    (ssize_t)len) {
				unique[i] += 2;
				count[i]++;
				st.sent++;
			}
		}
	}
	/*
	 * A deaf client listens at last, to tell the connections perfused
	 * hung up on (their replies are counted, the rest is dropped).
	 */
	for (i = 0; deaf && i < nconn; i++) {
		ssize_t n = -1;

		while (pfd[i].fd >= 0 &&
		    (n = recv(pfd[i].fd, rbuf, sizeof(rbuf), MSG_DONTWAIT)) != 0) {
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0 && errno != EINTR) {
				n = 0;
				break;
			}
			if (n > 0)
				st.replies++;
		}
		if (pfd[i].fd >= 0 && n == 0) {
			close(pfd[i].fd);
			pfd[i].fd = -1;
			st.closed++;
		}
	}
	/* What is still owed comes now, or times out in perfused meanwhile. */
	stop = now_s() + (deaf ? 0 : secs);
	while (!deaf && live > 0 && st.replies < st.sent && now_s() < stop) {
		for (i = 0; i < nconn; i++)
			pfd[i].events = pfd[i].fd >= 0 ? POLLIN : 0;
		if (poll(pfd, (nfds_t)nconn, 100) < 0 && errno != EINTR)
			return die("poll");
		for (i = 0; i < nconn; i++) {
			if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    flood_read(pfd[i].fd, rbuf, sizeof(rbuf), &st) < 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				st.closed++;
				live--;
			}
		}
	}
	printf("sent=%lu replies=%lu ok=%lu eagain=%lu etimedout=%lu enotconn=%lu "
	    "other=%lu closed=%lu\n", st.sent, st.replies, st.ok, st.eagain,
	    st.etimedout, st.enotconn, st.other, st.closed);
	for (i = 0; i < nconn; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	free(pfd);
	free(count);
	free(unique);
	free(fh);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return server("garbage", argv[2]);
	if (argc == 4 && strcmp(argv[1], "server") == 0 && case_index(argv[2]) >= 0)
		return server(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return client(argv[2], argv[3]);
	if (argc >= 7 && argc <= 9 && strcmp(argv[1], "flood") == 0) {
		unsigned long max = 0;
		int deaf = 0, i;

		for (i = 7; i < argc; i++) {
			if (strcmp(argv[i], "deaf") == 0)
				deaf = 1;
			else if (strncmp(argv[i], "max=", 4) == 0 && atol(argv[i] + 4) > 0)
				max = (unsigned long)atol(argv[i] + 4);
			else
				break;
		}
		if (i == argc && atoi(argv[4]) > 0 && atof(argv[5]) > 0)
			return flood(argv[2], argv[3], atoi(argv[4]), atof(argv[5]),
			    argv[6], deaf, max);
	}
	if (argc == 3 && strcmp(argv[1], "frame") == 0)
		return bad_frame(argv[2]);
	if (argc == 6 && strcmp(argv[1], "oldclient") == 0)
		return old_client(argv[2], argv[3], (unsigned)atoi(argv[4]), argv[5]);
	fprintf(stderr, "usage: badpeer server [CASE] /dev/fd/N | badpeer client SOCKET TARGET | "
	    "badpeer frame SOCKET |\n       badpeer flood SOCKET TARGET CONNS SECONDS "
	    "write|getattr|read=NAME [deaf] [max=N] |\n"
	    "       badpeer oldclient SOCKET TARGET MINOR NAME\n");
	return 2;
}
