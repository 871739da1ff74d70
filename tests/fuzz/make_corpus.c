/*
 * make_corpus.c - write the seed corpus of the fuzz targets:
 *
 *   make_corpus DIR      writes DIR/fuzz_reply/..., DIR/fuzz_init/...,
 *                        DIR/fuzz_frame/..., DIR/fuzz_ctl/...
 *
 * Valid inputs, built from <linux/fuse.h> structs and the library's own
 * encoders, in each target's input layout (see the comment at the top of
 * each tests/fuzz/fuzz_*.c); and, named regress-*, inputs that made a
 * target fail, kept so every run replays them (tests/fuzz/README.md,
 * Findings).  The output is the same on every run; files of other names
 * in DIR are left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "frame.h"
#include "init.h"
#include "proto.h"

static const char *outdir;

struct buf {
	unsigned char b[8192];
	size_t n;
};

static void
put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > sizeof(b->b)) {
		fprintf(stderr, "make_corpus: seed too large\n");
		exit(1);
	}
	if (n > 0)
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void
put_u8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put_u32(struct buf *b, uint32_t v)
{
	unsigned char le[4] = { v, v >> 8, v >> 16, v >> 24 };

	put(b, le, 4);
}

static void
put_u64(struct buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static void
emit(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	mkdir(outdir, 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* ------------------------------------------------------------------ */
/* fuzz_reply: op, minor, flags, reqlen, error, limit, request, reply.  */

#define LIMIT_FROM_REQ 2

static void
reply_seed(const char *name, uint32_t op, unsigned minor, uint8_t flags,
    int32_t error, uint32_t limit, const void *req, size_t reqlen,
    const void *rep, size_t replen)
{
	struct buf b = { .n = 0 };

	put_u8(&b, op == CUSE_INIT ? 255 : (uint8_t)op);
	put_u8(&b, (uint8_t)minor);
	put_u8(&b, flags);
	put_u8(&b, (uint8_t)reqlen);
	put_u32(&b, (uint32_t)error);
	put_u32(&b, limit);
	put(&b, req, reqlen);
	put(&b, rep, replen);
	emit("fuzz_reply", name, b.b, b.n);
}

static void
fill_attr(struct fuse_attr *a, uint64_t ino, uint32_t mode)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->size = 4096;
	a->blocks = 8;
	a->atime = a->mtime = a->ctime = 1700000000;
	a->mode = mode;
	a->nlink = 1;
	a->uid = a->gid = 1000;
	a->blksize = 4096;
}

static void
fill_entry(struct fuse_entry_out *e, uint64_t ino, uint32_t mode)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = ino;
	e->generation = 1;
	e->entry_valid = 1;
	e->attr_valid = 1;
	fill_attr(&e->attr, ino, mode);
}

/* Append a READDIR (plus == 0) or READDIRPLUS record. */
static void
put_dirent(struct buf *b, int plus, uint64_t ino, uint64_t off, uint32_t type,
    const char *name, uint32_t mode)
{
	static const unsigned char zeros[8];
	struct fuse_entry_out e;
	struct fuse_dirent d;
	size_t hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	size_t n = strlen(name);

	if (plus) {
		fill_entry(&e, ino, mode);
		put(b, &e, sizeof(e));
	}
	memset(&d, 0, sizeof(d));
	d.ino = ino;
	d.off = off;
	d.namelen = (uint32_t)n;
	d.type = type;
	put(b, &d, FUSE_NAME_OFFSET);
	put(b, name, n);
	put(b, zeros, FUSE_DIRENT_ALIGN(hdr + n) - (hdr + n));
}

static void
reply_seeds(void)
{
	struct fuse_entry_out entry;
	struct fuse_attr_out attr;
	struct fuse_getattr_in gin;
	struct fuse_read_in rin;
	struct fuse_getxattr_in xin;
	struct fuse_getxattr_out xout;
	struct fuse_open_in oin;
	struct fuse_open_out oout;
	struct fuse_write_in win;
	struct fuse_write_out wout;
	struct fuse_ioctl_in iin;
	struct fuse_ioctl_out iout;
	struct fuse_statfs_out sout;
	struct fuse_init_out initout;
	struct fuse_batch_forget_in bf;
	struct fuse_forget_one one[2];
	struct fuse_rename2_in r2;
	struct fuse_setxattr_in sx;
	struct fuse_mkdir_in mk;
	struct fuse_create_in cin;
	unsigned char data[256];
	struct buf req, rep;
	int plus;

	memset(data, 'x', sizeof(data));

	fill_entry(&entry, 2, S_IFREG | 0644);
	reply_seed("lookup-7.38", FUSE_LOOKUP, 38, 0, 0, 0, "hello.txt", 10,
	    &entry, sizeof(entry));
	reply_seed("lookup-7.8-compat", FUSE_LOOKUP, 8, 0, 0, 0, "hello.txt", 10,
	    &entry, FUSE_COMPAT_ENTRY_OUT_SIZE);
	reply_seed("lookup-enoent", FUSE_LOOKUP, 31, 0, -ENOENT, 0, "nope", 5,
	    NULL, 0);

	memset(&gin, 0, sizeof(gin));
	memset(&attr, 0, sizeof(attr));
	attr.attr_valid = 1;
	fill_attr(&attr.attr, 1, S_IFDIR | 0755);
	reply_seed("getattr-7.31", FUSE_GETATTR, 31, 0, 0, 0, &gin, sizeof(gin),
	    &attr, sizeof(attr));

	memset(&mk, 0, sizeof(mk));
	mk.mode = 0755;
	memset(&req, 0, sizeof(req));
	put(&req, &mk, sizeof(mk));
	put(&req, "dir", 4);
	fill_entry(&entry, 3, S_IFDIR | 0755);
	reply_seed("mkdir-7.38", FUSE_MKDIR, 38, 0, 0, 0, req.b, req.n, &entry,
	    sizeof(entry));

	memset(&cin, 0, sizeof(cin));
	cin.flags = 0101;
	cin.mode = 0644;
	memset(&req, 0, sizeof(req));
	put(&req, &cin, sizeof(cin));
	put(&req, "new.txt", 8);
	memset(&rep, 0, sizeof(rep));
	fill_entry(&entry, 4, S_IFREG | 0644);
	put(&rep, &entry, sizeof(entry));
	memset(&oout, 0, sizeof(oout));
	oout.fh = 7;
	put(&rep, &oout, sizeof(oout));
	reply_seed("create-7.38", FUSE_CREATE, 38, 0, 0, 0, req.b, req.n, rep.b,
	    rep.n);

	memset(&rin, 0, sizeof(rin));
	rin.size = 4096;
	reply_seed("read-100-of-4096", FUSE_READ, 38, LIMIT_FROM_REQ, 0, 0, &rin,
	    sizeof(rin), data, 100);
	reply_seed("read-raw-limit", FUSE_READ, 38, 0, 0, 200, &rin, sizeof(rin),
	    data, 200);

	for (plus = 0; plus <= 1; plus++) {
		uint32_t op = plus ? FUSE_READDIRPLUS : FUSE_READDIR;

		memset(&rep, 0, sizeof(rep));
		put_dirent(&rep, plus, 1, 1, DT_DIR, ".", S_IFDIR | 0755);
		put_dirent(&rep, plus, 1, 2, DT_DIR, "..", S_IFDIR | 0755);
		put_dirent(&rep, plus, 2, 3, DT_REG, "hello.txt", S_IFREG | 0644);
		put_dirent(&rep, plus, 5, 4, DT_LNK, "a-longer-symlink-name",
		    S_IFLNK | 0777);
		reply_seed(plus ? "readdirplus-4" : "readdir-4", op, 38,
		    LIMIT_FROM_REQ, 0, 0, &rin, sizeof(rin), rep.b, rep.n);
		/* The callback stops after the second entry. */
		reply_seed(plus ? "readdirplus-stop-2" : "readdir-stop-2", op, 38,
		    LIMIT_FROM_REQ | 0x20, 0, 0, &rin, sizeof(rin), rep.b, rep.n);
		reply_seed(plus ? "readdirplus-empty" : "readdir-empty", op, 38,
		    LIMIT_FROM_REQ, 0, 0, &rin, sizeof(rin), NULL, 0);
	}

	memset(&req, 0, sizeof(req));
	memset(&xin, 0, sizeof(xin));
	put(&req, &xin, sizeof(xin));
	put(&req, "user.comment", 13);
	memset(&xout, 0, sizeof(xout));
	xout.size = 11;
	reply_seed("getxattr-size", FUSE_GETXATTR, 38, LIMIT_FROM_REQ, 0, 0, req.b,
	    req.n, &xout, sizeof(xout));
	memset(&req, 0, sizeof(req));
	xin.size = 64;
	put(&req, &xin, sizeof(xin));
	put(&req, "user.comment", 13);
	reply_seed("getxattr-data", FUSE_GETXATTR, 38, LIMIT_FROM_REQ, 0, 0, req.b,
	    req.n, "hello world", 11);
	reply_seed("listxattr-data", FUSE_LISTXATTR, 38, LIMIT_FROM_REQ, 0, 0, &xin,
	    sizeof(xin), "user.a\0user.b", 14);

	memset(&sx, 0, sizeof(sx));
	sx.size = 3;
	memset(&req, 0, sizeof(req));
	put(&req, &sx, sizeof(sx));
	put(&req, "user.x", 7);
	put(&req, "val", 3);
	reply_seed("setxattr-ext", FUSE_SETXATTR, 38, 1, 0, 0, req.b, req.n, NULL, 0);
	memset(&req, 0, sizeof(req));
	put(&req, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE);
	put(&req, "user.x", 7);
	put(&req, "val", 3);
	reply_seed("setxattr-compat", FUSE_SETXATTR, 31, 0, 0, 0, req.b, req.n,
	    NULL, 0);

	memset(&oin, 0, sizeof(oin));
	reply_seed("open-enoent", FUSE_OPEN, 38, 0, -ENOENT, 0, &oin, sizeof(oin),
	    NULL, 0);
	memset(&oout, 0, sizeof(oout));
	oout.fh = 1;
	reply_seed("opendir", FUSE_OPENDIR, 38, 0, 0, 0, &oin, sizeof(oin), &oout,
	    sizeof(oout));

	memset(&win, 0, sizeof(win));
	win.size = 16;
	memset(&req, 0, sizeof(req));
	put(&req, &win, sizeof(win));
	put(&req, data, 16);
	memset(&wout, 0, sizeof(wout));
	wout.size = 16;
	reply_seed("write-16", FUSE_WRITE, 38, 0, 0, 0, req.b, req.n, &wout,
	    sizeof(wout));

	memset(&iin, 0, sizeof(iin));
	iin.out_size = 64;
	memset(&rep, 0, sizeof(rep));
	memset(&iout, 0, sizeof(iout));
	put(&rep, &iout, sizeof(iout));
	put(&rep, data, 8);
	reply_seed("ioctl-var", FUSE_IOCTL, 38, LIMIT_FROM_REQ, 0, 0, &iin,
	    sizeof(iin), rep.b, rep.n);

	memset(&sout, 0, sizeof(sout));
	sout.st.blocks = 100;
	sout.st.bsize = 4096;
	sout.st.namelen = 255;
	reply_seed("statfs", FUSE_STATFS, 38, 0, 0, 0, NULL, 0, &sout, sizeof(sout));

	reply_seed("readlink", FUSE_READLINK, 38, LIMIT_FROM_REQ, 0, 0, NULL, 0,
	    "target/of/link", 14);

	memset(&bf, 0, sizeof(bf));
	bf.count = 2;
	memset(one, 0, sizeof(one));
	one[0].nodeid = 2;
	one[0].nlookup = 1;
	one[1].nodeid = 3;
	one[1].nlookup = 5;
	memset(&req, 0, sizeof(req));
	put(&req, &bf, sizeof(bf));
	put(&req, one, sizeof(one));
	reply_seed("batch-forget", FUSE_BATCH_FORGET, 38, 0, 0, 0, req.b, req.n,
	    NULL, 0);

	memset(&r2, 0, sizeof(r2));
	r2.newdir = 1;
	memset(&req, 0, sizeof(req));
	put(&req, &r2, sizeof(r2));
	put(&req, "old\0new", 8);
	reply_seed("rename2", FUSE_RENAME2, 38, 0, 0, 0, req.b, req.n, NULL, 0);
	reply_seed("symlink", FUSE_SYMLINK, 38, 0, 0, 0, "link\0target", 12,
	    &entry, sizeof(entry));

	reply_seed("interrupt-eagain", FUSE_INTERRUPT, 38, 0, -EAGAIN, 0, data, 8,
	    NULL, 0);

	memset(&initout, 0, sizeof(initout));
	initout.major = 7;
	initout.minor = 8;
	reply_seed("init-7.8", FUSE_INIT, 8, 0, 0, 0, data, 16, &initout,
	    FUSE_COMPAT_22_INIT_OUT_SIZE);
	reply_seed("cuse-init", CUSE_INIT, 38, 0, 0, 0, data, 16, data,
	    sizeof(struct cuse_init_out));
}

/* ------------------------------------------------------------------ */
/* fuzz_init: our_minor, flags, replylen, -, error, offered, readahead, */
/* msgmax, supported, the server's reply, the client's request.         */

#define SERVER_SET(n) ((n) << 2)

static void
init_seed(const char *name, unsigned our_minor, uint8_t flags, int32_t error,
    uint64_t offered, uint32_t ra, uint32_t msgmax, uint64_t supported,
    const void *reply, size_t replylen, const void *creq, size_t creqlen)
{
	struct buf b = { .n = 0 };

	put_u8(&b, (uint8_t)our_minor);
	put_u8(&b, flags);
	put_u8(&b, (uint8_t)replylen);
	put_u8(&b, 0);
	put_u32(&b, (uint32_t)error);
	put_u64(&b, offered);
	put_u32(&b, ra);
	put_u32(&b, msgmax);
	put_u64(&b, supported);
	put(&b, reply, replylen);
	put(&b, creq, creqlen);
	emit("fuzz_init", name, b.b, b.n);
}

/* A server's reply: flags are those it accepts. */
static size_t
server_reply(struct fuse_init_out *o, unsigned minor, uint64_t flags,
    uint32_t max_write, uint16_t max_pages, uint32_t time_gran)
{
	memset(o, 0, sizeof(*o));
	o->major = 7;
	o->minor = minor;
	o->max_readahead = 131072;
	o->flags = (uint32_t)flags;
	o->flags2 = (uint32_t)(flags >> 32);
	o->max_background = 12;
	o->congestion_threshold = 9;
	o->max_write = max_write;
	o->time_gran = time_gran;
	o->max_pages = max_pages;
	return pf_reply_fixed(FUSE_INIT, minor);
}

/* A client's (the kernel's) INIT request. */
static size_t
client_request(struct fuse_init_in *in, unsigned major, unsigned minor,
    uint64_t flags)
{
	memset(in, 0, sizeof(*in));
	in->major = major;
	in->minor = minor;
	in->max_readahead = 131072;
	in->flags = (uint32_t)flags;
	in->flags2 = (uint32_t)(flags >> 32);
	return pf_req_fixed(FUSE_INIT, minor);
}

static void
init_seeds(void)
{
	/* What a 6.1 kernel offers. */
	const uint64_t kernel = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS |
	    FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES |
	    FUSE_DONT_MASK | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE |
	    FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR |
	    FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO |
	    FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE | FUSE_NO_OPEN_SUPPORT |
	    FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL |
	    FUSE_ABORT_ERROR | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS |
	    FUSE_NO_OPENDIR_SUPPORT | FUSE_EXPLICIT_INVAL_DATA | FUSE_INIT_EXT |
	    ((uint64_t)FUSE_SECURITY_CTX) | FUSE_HAS_INODE_DAX;
	const uint64_t libfuse3 = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS |
	    FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES |
	    FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO |
	    FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS;
	struct fuse_init_out o;
	struct fuse_init_in in;
	size_t olen, ilen;

	olen = server_reply(&o, 31, libfuse3, 1 << 20, 256, 1);
	ilen = client_request(&in, 7, 38, kernel);
	init_seed("libfuse3-7.31-kernel-7.38", 38, SERVER_SET(2), 0, 0, 131072,
	    (256 + 1) * 4096, 0, &o, olen, &in, ilen);
	init_seed("small-datagrams", 38, SERVER_SET(2), 0, 0, 131072, 64 * 1024,
	    0, &o, olen, &in, ilen);
	init_seed("offered-as-is", 38, 1 | SERVER_SET(2), 0, PF_INIT_OFFER, 65536,
	    1 << 20, 0, &o, olen, &in, ilen);
	init_seed("supported-as-is", 38, 2 | SERVER_SET(2), 0, 0, 65536, 1 << 20,
	    FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES, &o, olen, &in, ilen);

	olen = server_reply(&o, 19, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS |
	    FUSE_BIG_WRITES, 131072, 0, 0);
	ilen = client_request(&in, 7, 19, FUSE_ASYNC_READ | FUSE_BIG_WRITES);
	init_seed("libfuse2.9-7.19", 38, SERVER_SET(1), 0, 0, 131072, 1 << 20, 0,
	    &o, olen, &in, ilen);

	olen = server_reply(&o, 8, FUSE_ASYNC_READ, 4096, 0, 0);
	ilen = client_request(&in, 7, 8, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS);
	init_seed("old-7.8", 38, SERVER_SET(0), 0, 0, 131072, 1 << 20, 0, &o,
	    olen, &in, ilen);

	olen = server_reply(&o, 38, FUSE_INIT_EXT | FUSE_BIG_WRITES |
	    FUSE_MAX_PAGES | ((uint64_t)FUSE_SECURITY_CTX), 65536, 16, 1000);
	ilen = client_request(&in, 7, 38, kernel);
	init_seed("init-ext-7.38", 38, SERVER_SET(3), 0, 0, 131072, 1 << 20, 0,
	    &o, olen, &in, ilen);

	olen = server_reply(&o, 40, libfuse3, 1 << 20, 256, 1);
	init_seed("newer-server-7.40", 38, SERVER_SET(2), 0, 0, 131072, 1 << 20,
	    0, &o, pf_reply_fixed(FUSE_INIT, 38), &in, ilen);

	ilen = client_request(&in, 8, 0, 0);
	init_seed("enosys-newer-major-client", 38, SERVER_SET(2), -ENOSYS, 0,
	    131072, 1 << 20, 0, NULL, 0, &in, ilen);

	/*
	 * Finding: offered taken as is (bit 0) with bits of PF_INIT_NEVER,
	 * the same flags a caller gave pf_init_request(), which dropped them
	 * from the request; the server claims them and pf_init_reply()
	 * grants them.
	 */
	olen = server_reply(&o, 31, libfuse3 | FUSE_WRITEBACK_CACHE |
	    FUSE_SPLICE_READ, 1 << 20, 256, 1);
	ilen = client_request(&in, 7, 38, kernel);
	init_seed("regress-never-bits-granted", 38, 1 | SERVER_SET(2), 0,
	    PF_INIT_OFFER | FUSE_WRITEBACK_CACHE | FUSE_SPLICE_READ, 131072,
	    1 << 20, 0, &o, olen, &in, ilen);
}

/* ------------------------------------------------------------------ */
/* fuzz_frame: a mount frame.                                          */

static void
frame_seed(const char *name, const char *source, const char *target,
    const char *fstype, const char *data, const char *sock, uint32_t mountflags)
{
	struct pf_frame f = { source, target, fstype, data, sock, mountflags };
	static char buf[PF_FRAME_MAX];
	long n = pf_frame_encode(buf, sizeof(buf), &f);

	if (n < 0) {
		fprintf(stderr, "make_corpus: %s: pf_frame_encode failed\n", name);
		exit(1);
	}
	emit("fuzz_frame", name, buf, (size_t)n);
}

static void
frame_seeds(void)
{
	frame_seed("squashfuse", "/home/u/demo.sqfs", "/demo", "fuse.squashfuse",
	    "ro,fd=5,rootmode=40000,user_id=1000,group_id=1000,perfuse_ino=1234567",
	    "/run/user/1000/perfuse/fs.sock", 1);
	frame_seed("memfs-token", "memfs", "/mem", "fuse.memfs",
	    "perfuse_token=0123456789abcdef,default_permissions", NULL, 0);
	frame_seed("preload-fd", "bindfs", "/mnt/b", "fuse",
	    "fd=7,rootmode=40000,user_id=0,group_id=0,allow_other", NULL, 0);
	frame_seed("absent", NULL, "/t", NULL, NULL, NULL, 0);
	frame_seed("all-absent", NULL, NULL, NULL, NULL, NULL, 0);
	frame_seed("empty-strings", "", "", "", "", "", 0xffffffffu);
	frame_seed("option-edges", "src", "/x", "fuse", "fd,fd=,=,,fd=1,,x=y=z",
	    "s", 0);
}

/*
 * Finding: pf_frame_decode() accepts a frame whose header bytes frame.h
 * fixes are something else (error 0, unique (uint64_t)-1, zero padding
 * after the magic and at the end of the 56-byte header), so it does not
 * re-encode to the same bytes.
 */
static void
frame_regress(void)
{
	struct pf_frame f = { NULL, "/t", NULL, NULL, NULL, 0 };
	struct pf_frame_hdr h;
	char buf[256];
	long n = pf_frame_encode(buf, sizeof(buf), &f);
	size_t tail = offsetof(struct pf_frame_hdr, sock_len) + sizeof(h.sock_len);

	if (n < 0)
		exit(1);
	memcpy(&h, buf, sizeof(h));
	h.error = -ENOENT;
	memcpy(buf, &h, sizeof(h));
	emit("fuzz_frame", "regress-error-not-zero", buf, (size_t)n);
	h.error = 0;
	h.unique = 2;
	memcpy(buf, &h, sizeof(h));
	emit("fuzz_frame", "regress-unique-not-all-ones", buf, (size_t)n);
	h.unique = (uint64_t)-1;
	memcpy(buf, &h, sizeof(h));
	buf[offsetof(struct pf_frame_hdr, magic) + sizeof(PF_FRAME_MAGIC)] = 'x';
	emit("fuzz_frame", "regress-magic-padding", buf, (size_t)n);
	memcpy(buf, &h, sizeof(h));
	buf[tail] = 'x';
	emit("fuzz_frame", "regress-tail-padding", buf, (size_t)n);
}

/* ------------------------------------------------------------------ */
/* fuzz_ctl: a control message.                                        */

static void
ctl_seed(const char *name, uint32_t type, int32_t error, const char *const *strs,
    uint32_t nstr)
{
	static char buf[PF_CTL_MAX];
	long n = pf_ctl_encode(buf, sizeof(buf), type, error, strs, nstr);

	if (n < 0) {
		fprintf(stderr, "make_corpus: %s: pf_ctl_encode failed\n", name);
		exit(1);
	}
	emit("fuzz_ctl", name, buf, (size_t)n);
}

static void
ctl_seeds(void)
{
	static const char *const mount[] = { "ro,allow_other,timeout=30",
	    "/home/u", "2", "squashfuse", "demo.sqfs", "HOME=/home/u",
	    "PATH=/usr/bin:/bin" };
	static const char *const target[] = { "/demo" };
	static const char *const reply[] = { "/demo", "mounted" };
	static const char *const err[] = { "", "no such mount" };
	static const char *const entry[] = { "/demo", "squashfuse demo.sqfs",
	    "4242", "31", "1000", "2" };

	ctl_seed("ping", PF_CTL_PING, 0, NULL, 0);
	ctl_seed("mount", PF_CTL_MOUNT, 0, mount, 7);
	ctl_seed("umount", PF_CTL_UMOUNT, 0, target, 1);
	ctl_seed("list", PF_CTL_LIST, 0, NULL, 0);
	ctl_seed("attach", PF_CTL_ATTACH, 0, target, 1);
	ctl_seed("detach", PF_CTL_DETACH, 0, target, 1);
	ctl_seed("reply", PF_CTL_REPLY, 0, reply, 2);
	ctl_seed("reply-error", PF_CTL_REPLY, -ENOENT, err, 2);
	ctl_seed("entry", PF_CTL_ENTRY, 0, entry, 6);
	ctl_seed("end", PF_CTL_END, 0, NULL, 0);
}

/*
 * Finding: pf_ctl_decode() accepts a message longer than PF_CTL_MAX (one
 * string filling it), which pf_ctl_encode() refuses to make; perfused
 * decodes whatever fits its 4 MiB receive buffer.
 */
static void
ctl_regress(void)
{
	size_t len = sizeof(struct pf_ctl_hdr) + PF_CTL_MAX + 1;
	struct pf_ctl_hdr h;
	char *buf = malloc(len);

	if (buf == NULL)
		exit(1);
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.type = PF_CTL_MOUNT;
	h.magic = PF_CTL_MAGIC;
	h.nstr = 1;
	memcpy(buf, &h, sizeof(h));
	memset(buf + sizeof(h), 'a', len - sizeof(h) - 1);
	buf[len - 1] = '\0';
	emit("fuzz_ctl", "regress-over-ctl-max", buf, len);
	free(buf);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];
	reply_seeds();
	init_seeds();
	frame_seeds();
	frame_regress();
	ctl_seeds();
	ctl_regress();
	return 0;
}
