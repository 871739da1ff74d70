/*
 * cmd_replay.c - perfuse replay: send a FUSE server the client requests
 * of a trace file (perfuse trace -o, the format of lib/trace.h) and report
 * every reply that differs from the recording.
 *
 * The filesystem is started as perfuse check starts it (fsrun_start():
 * its own socket as /dev/fd/3, or a private perfused for libfuse2), INIT
 * is performed (offering --minor, default 7.38), then the recorded
 * requests go out in the order they were recorded, one at a time, each
 * waiting for its reply (at most --timeout seconds).  Records of INIT and
 * DESTROY are not sent (the session has its own), nor INTERRUPTs (they
 * were about requests in flight; nothing is in flight here), nor requests
 * whose recorded message was cut short.  FORGET and BATCH_FORGET, which
 * take no reply, are sent as they come.
 *
 * Node ids and file handles belong to the server that gave them: a
 * recorded entry's node id (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, CREATE,
 * READDIRPLUS entries) maps to the node id the new server gives in its
 * reply to the same request, a recorded handle (OPEN, OPENDIR, CREATE) to
 * the new one; requests are rewritten with the new values: the header's
 * node id, the handles of READ, WRITE, RELEASE, FLUSH, FSYNC, READDIR,
 * locks, FALLOCATE, LSEEK, IOCTL, POLL, GETATTR and SETATTR with a handle,
 * RENAME's new directory, LINK's old node, COPY_FILE_RANGE's handles and
 * node, BATCH_FORGET's nodes.  The uid, gid and pid of each request are
 * the recorded ones.
 *
 * What is compared, for each reply (see compare()):
 *  - the error, always;
 *  - for successes, the payload size, then by opcode:
 *    entries: the node id only as zero or not, entry_valid, attr_valid
 *      (and their nsec), and the attributes;
 *    attributes (fuse_attr): size, blocks, mode, nlink, uid, gid, rdev,
 *      blksize, flags; not ino, atime, mtime, ctime;
 *    OPEN, OPENDIR, CREATE: open_flags, not fh;
 *    READDIR, READDIRPLUS: the entries in order, by name, type and offset
 *      (not ino), and for READDIRPLUS their entries as above;
 *    STATFS: blocks, files, bsize, namelen, frsize; not bfree, bavail,
 *      ffree (free space depends on more than this session);
 *    WRITE: the size written; LSEEK: the offset; BMAP: the block;
 *    GETLK: type, start, end (not pid); GETXATTR, LISTXATTR with size 0:
 *      the size;
 *    everything else (READ, READLINK, xattr data, IOCTL, POLL ...): the
 *      bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "map.h"
#include "session.h"
#include "trace.h"

/* One record of the file, its header copied out aligned. */
struct rec {
	struct pf_trace_rec h;
	const char *msg;      /* h.msglen bytes */
	long reply;           /* REQUEST: index of its reply record, or -1 */
};

struct rp {
	perfuse_conn *c;
	unsigned minor;
	int timeout_ms;
	int json;
	struct u64map nodes;  /* recorded nodeid -> v1: new nodeid */
	struct u64map fhs;    /* recorded fh -> v1: new fh */
	struct u64map unknown; /* recorded nodeids warned about */
	char *rbuf;
	size_t rcap;
	const char *rp;       /* payload of the new reply */
	size_t rlen;
	char why[256];
	long sent, diffs, skipped, unanswered;
};

/* ------------------------------------------------------------------ */
/* Reading the file                                                     */

static int
load(const char *path, char **data, struct rec **recs, size_t *nrec)
{
	struct stat st;
	size_t pos = 8, n = 0, cap = 0;
	struct rec *v = NULL;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	got = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (got != st.st_size || got < 8 || memcmp(buf, PF_TRACE_MAGIC, 8) != 0) {
		free(buf);
		return -EINVAL;
	}
	while (pos < (size_t)got) {
		uint32_t len;

		if ((size_t)got - pos < sizeof(struct pf_trace_rec))
			break;  /* a record cut short at the end: the trace was stopped */
		memcpy(&len, buf + pos, sizeof(len));
		if (len > (size_t)got - pos)
			break;
		if (pf_trace_check(buf + pos, len) < 0) {
			free(v);
			free(buf);
			return -EBADMSG;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct rec *nv = realloc(v, ncap * sizeof(*nv));

			if (nv == NULL) {
				free(v);
				free(buf);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		memcpy(&v[n].h, buf + pos, sizeof(v[n].h));
		v[n].msg = buf + pos + sizeof(struct pf_trace_rec);
		v[n].reply = -1;
		n++;
		pos += len;
	}
	*data = buf;
	*recs = v;
	*nrec = n;
	return 0;
}

/* Give each request the reply recorded for it: same client, same unique. */
static void
pair(struct rec *v, size_t n)
{
	size_t *pend = calloc(n + 1, sizeof(*pend)), np = 0, i, j;

	if (pend == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (v[i].h.kind == PF_TR_REQUEST) {
			pend[np++] = i;
			continue;
		}
		if (v[i].h.kind != PF_TR_REPLY)
			continue;
		for (j = np; j-- > 0;) {
			const struct pf_trace_rec *q = &v[pend[j]].h;

			if (q->unique == v[i].h.unique && q->pid == v[i].h.pid &&
			    (q->flags & PF_TRF_KERNEL) == (v[i].h.flags & PF_TRF_KERNEL)) {
				v[pend[j]].reply = (long)i;
				memmove(pend + j, pend + j + 1, (np - j - 1) * sizeof(*pend));
				np--;
				break;
			}
		}
	}
	free(pend);
}

/* ------------------------------------------------------------------ */
/* Reporting                                                            */

static void
diff(struct rp *r, const struct rec *q, const char *recorded, const char *got)
{
	r->diffs++;
	if (r->json) {
		int first = 1;

		fputc('{', stdout);
		json_key(stdout, &first, "unique");
		printf("%llu", (unsigned long long)q->h.unique);
		json_key(stdout, &first, "pid");
		printf("%u", q->h.pid);
		json_key(stdout, &first, "opcode");
		json_string(stdout, pf_op_name(q->h.opcode));
		json_key(stdout, &first, "recorded");
		json_string(stdout, recorded);
		json_key(stdout, &first, "got");
		json_string(stdout, got);
		fputs("}\n", stdout);
	} else {
		printf("DIFF #%llu %s: recorded %s, got %s\n",
		    (unsigned long long)q->h.unique, pf_op_name(q->h.opcode), recorded, got);
	}
	fflush(stdout);
}

static void
note(const char *fmt, ...)
{
	va_list ap;

	fputs("perfuse replay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *
errname(int32_t e)
{
	static char buf[4][32];
	static int i;
	const char *n = e < 0 ? strerrorname_np(-e) : NULL;

	if (n != NULL)
		return n;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "error %d", e);
	return buf[i];
}

/* A reply in a few words: "ENOENT" or "success, 128 bytes". */
static void
describe(int32_t error, size_t len, char *out, size_t size)
{
	if (error != 0)
		snprintf(out, size, "%s", errname(error));
	else
		snprintf(out, size, "success, %zu bytes", len);
}

/* ------------------------------------------------------------------ */
/* Remapping                                                            */

static uint64_t
map_node(struct rp *r, uint64_t id, const struct rec *q)
{
	struct u64slot *s;

	if (id == 0 || id == PF_ROOT_ID)
		return id;
	s = map_get(&r->nodes, id);
	if (s != NULL)
		return s->v1;
	if (map_get(&r->unknown, id) == NULL) {
		map_put(&r->unknown, id);
		note("#%llu %s: node %llu was never handed out in the recording (looked "
		    "up before it began?); sent as is", (unsigned long long)q->h.unique,
		    pf_op_name(q->h.opcode), (unsigned long long)id);
	}
	return id;
}

static uint64_t
map_fh(struct rp *r, uint64_t fh)
{
	struct u64slot *s = map_get(&r->fhs, fh);

	return s != NULL ? s->v1 : fh;
}

static void
remap_u64(char *body, size_t blen, size_t at, uint64_t (*fn)(struct rp *, uint64_t),
    struct rp *r)
{
	uint64_t v;

	if (blen < at + 8)
		return;
	memcpy(&v, body + at, 8);
	v = fn(r, v);
	memcpy(body + at, &v, 8);
}

static const struct rec *cur_rec;  /* for the messages of map_node */

static uint64_t
map_node_cur(struct rp *r, uint64_t id)
{
	return map_node(r, id, cur_rec);
}

/* Rewrite the node ids and handles of a request body for the new server. */
static void
remap_request(struct rp *r, uint32_t op, char *body, size_t blen)
{
	uint32_t u32;

	switch (op) {
	case FUSE_READ: case FUSE_WRITE: case FUSE_READDIR: case FUSE_READDIRPLUS:
	case FUSE_RELEASE: case FUSE_RELEASEDIR: case FUSE_FLUSH: case FUSE_FSYNC:
	case FUSE_FSYNCDIR: case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW:
	case FUSE_FALLOCATE: case FUSE_LSEEK: case FUSE_IOCTL: case FUSE_POLL:
		remap_u64(body, blen, 0, map_fh, r);
		break;
	case FUSE_GETATTR:
		if (blen >= 16) {
			memcpy(&u32, body, 4);
			if (u32 & FUSE_GETATTR_FH)
				remap_u64(body, blen, 8, map_fh, r);
		}
		break;
	case FUSE_SETATTR:
		if (blen >= 16) {
			memcpy(&u32, body, 4);
			if (u32 & FATTR_FH)
				remap_u64(body, blen, 8, map_fh, r);
		}
		break;
	case FUSE_RENAME: case FUSE_RENAME2: case FUSE_LINK:
		remap_u64(body, blen, 0, map_node_cur, r);
		break;
	case FUSE_COPY_FILE_RANGE:
		remap_u64(body, blen, 0, map_fh, r);
		remap_u64(body, blen, 16, map_node_cur, r);
		remap_u64(body, blen, 24, map_fh, r);
		break;
	case FUSE_BATCH_FORGET:
		if (blen >= 8) {
			uint32_t count, i;

			memcpy(&count, body, 4);
			for (i = 0; i < count && 8 + (size_t)(i + 1) * 16 <= blen; i++)
				remap_u64(body, blen, 8 + (size_t)i * 16, map_node_cur, r);
		}
		break;
	default:
		break;
	}
}

static void
learn_node(struct rp *r, uint64_t recorded, uint64_t now)
{
	struct u64slot *s;

	if (recorded == 0 || now == 0 || recorded == PF_ROOT_ID)
		return;
	s = map_put(&r->nodes, recorded);
	if (s != NULL)
		s->v1 = now;
	s = map_get(&r->unknown, recorded);
	if (s != NULL)
		map_del(&r->unknown, s);
}

static void
learn_fh(struct rp *r, uint64_t recorded, uint64_t now)
{
	struct u64slot *s = map_put(&r->fhs, recorded);

	if (s != NULL)
		s->v1 = now;
}

/* ------------------------------------------------------------------ */
/* Comparing                                                            */

/* The entries of a READDIR reply (pointing into it). */
struct dlist {
	struct pf_dirent_view *v;
	size_t n, cap;
};

static int
dl_cb(const struct pf_dirent_view *dv, void *arg)
{
	struct dlist *l = arg;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		struct pf_dirent_view *nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return 1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = *dv;
	return 0;
}

/* Compare field of *A and *B: describe both and return 1 if they differ. */
#define CMP(A, B, field, fmt, cast) \
	if ((A)->field != (B)->field) { \
		snprintf(x, xs, "%s" #field " " fmt, pre, (cast)(A)->field); \
		snprintf(y, ys, "%s" #field " " fmt, pre, (cast)(B)->field); \
		return 1; \
	}

static int
cmp_attr(const struct fuse_attr *a, const struct fuse_attr *b, const char *pre,
    char *x, size_t xs, char *y, size_t ys)
{
	CMP(a, b, size, "%llu", unsigned long long)
	CMP(a, b, blocks, "%llu", unsigned long long)
	CMP(a, b, mode, "0%o", unsigned)
	CMP(a, b, nlink, "%u", unsigned)
	CMP(a, b, uid, "%u", unsigned)
	CMP(a, b, gid, "%u", unsigned)
	CMP(a, b, rdev, "%u", unsigned)
	CMP(a, b, blksize, "%u", unsigned)
	CMP(a, b, flags, "0x%x", unsigned)
	return 0;
}

static int
cmp_entry(const struct fuse_entry_out *a, const struct fuse_entry_out *b,
    const char *pre, char *x, size_t xs, char *y, size_t ys)
{
	char p2[64];

	if ((a->nodeid == 0) != (b->nodeid == 0)) {
		snprintf(x, xs, "%s%s", pre, a->nodeid ? "an entry" : "a negative entry");
		snprintf(y, ys, "%s%s", pre, b->nodeid ? "an entry" : "a negative entry");
		return 1;
	}
	CMP(a, b, entry_valid, "%llu", unsigned long long)
	CMP(a, b, entry_valid_nsec, "%u", unsigned)
	CMP(a, b, attr_valid, "%llu", unsigned long long)
	CMP(a, b, attr_valid_nsec, "%u", unsigned)
	snprintf(p2, sizeof(p2), "%sattr.", pre);
	return cmp_attr(&a->attr, &b->attr, p2, x, xs, y, ys);
}

static void
copy_in(void *dst, size_t dsize, const char *src, size_t len)
{
	memset(dst, 0, dsize);
	memcpy(dst, src, len < dsize ? len : dsize);
}

/* Byte for byte: the first difference. */
static int
cmp_bytes(const char *a, const char *b, size_t len, char *x, size_t xs, char *y,
    size_t ys)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i] != b[i]) {
			snprintf(x, xs, "byte %zu 0x%02x", i, (unsigned char)a[i]);
			snprintf(y, ys, "byte %zu 0x%02x", i, (unsigned char)b[i]);
			return 1;
		}
	}
	return 0;
}

static int
cmp_dirents(struct rp *r, int plus, const char *a, size_t alen, const char *b,
    size_t blen, char *x, size_t xs, char *y, size_t ys)
{
	static struct dlist la, lb;  /* kept for the next reply */
	const char *why;
	size_t i;

	la.n = lb.n = 0;
	pf_walk_dirents(a, alen, plus, r->minor, dl_cb, &la, &why);
	pf_walk_dirents(b, blen, plus, r->minor, dl_cb, &lb, &why);
	for (i = 0; i < la.n && i < lb.n; i++) {
		const struct pf_dirent_view *p = &la.v[i], *q = &lb.v[i];

		if (p->namelen != q->namelen || memcmp(p->name, q->name, p->namelen) != 0 ||
		    p->type != q->type || p->off != q->off) {
			snprintf(x, xs, "entry %zu '%.*s' (type %u, offset %llu)", i + 1,
			    (int)p->namelen, p->name, p->type, (unsigned long long)p->off);
			snprintf(y, ys, "entry %zu '%.*s' (type %u, offset %llu)", i + 1,
			    (int)q->namelen, q->name, q->type, (unsigned long long)q->off);
			return 1;
		}
		if (plus && p->entry != NULL && q->entry != NULL) {
			struct fuse_entry_out ea, eb;
			char pre[300];

			copy_in(&ea, sizeof(ea), (const char *)p->entry, pf_entry_out_size(r->minor));
			copy_in(&eb, sizeof(eb), (const char *)q->entry, pf_entry_out_size(r->minor));
			snprintf(pre, sizeof(pre), "entry '%.*s' ", (int)p->namelen, p->name);
			if (cmp_entry(&ea, &eb, pre, x, xs, y, ys))
				return 1;
		}
	}
	if (la.n != lb.n) {
		snprintf(x, xs, "%zu entries", la.n);
		snprintf(y, ys, "%zu entries", lb.n);
		return 1;
	}
	return 0;
}

/*
 * Compare two successful replies of the same size to the request of
 * opcode op with body body.  1 and descriptions of both when they differ.
 */
static int
compare(struct rp *r, uint32_t op, const char *body, size_t blen, const char *a,
    const char *b, size_t len, char *x, size_t xs, char *y, size_t ys)
{
	size_t esz = pf_entry_out_size(r->minor);

	switch (op) {
	case FUSE_LOOKUP: case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK:
	case FUSE_LINK: case FUSE_CREATE: {
		struct fuse_entry_out ea, eb;

		copy_in(&ea, sizeof(ea), a, len < esz ? len : esz);
		copy_in(&eb, sizeof(eb), b, len < esz ? len : esz);
		if (cmp_entry(&ea, &eb, "", x, xs, y, ys))
			return 1;
		if (op == FUSE_CREATE && len >= esz + sizeof(struct fuse_open_out)) {
			struct fuse_open_out oa, ob;

			copy_in(&oa, sizeof(oa), a + esz, len - esz);
			copy_in(&ob, sizeof(ob), b + esz, len - esz);
			if (oa.open_flags != ob.open_flags) {
				snprintf(x, xs, "open_flags 0x%x", oa.open_flags);
				snprintf(y, ys, "open_flags 0x%x", ob.open_flags);
				return 1;
			}
		}
		return 0;
	}
	case FUSE_GETATTR: case FUSE_SETATTR: {
		struct fuse_attr_out aa, ab;
		const struct fuse_attr_out *pa = &aa, *pb = &ab;

		const char *pre = "";

		copy_in(&aa, sizeof(aa), a, len);
		copy_in(&ab, sizeof(ab), b, len);
		CMP(pa, pb, attr_valid, "%llu", unsigned long long)
		CMP(pa, pb, attr_valid_nsec, "%u", unsigned)
		return cmp_attr(&aa.attr, &ab.attr, "attr.", x, xs, y, ys);
	}
	case FUSE_OPEN: case FUSE_OPENDIR: {
		struct fuse_open_out oa, ob;

		copy_in(&oa, sizeof(oa), a, len);
		copy_in(&ob, sizeof(ob), b, len);
		if (oa.open_flags != ob.open_flags) {
			snprintf(x, xs, "open_flags 0x%x", oa.open_flags);
			snprintf(y, ys, "open_flags 0x%x", ob.open_flags);
			return 1;
		}
		return 0;
	}
	case FUSE_READDIR: case FUSE_READDIRPLUS:
		return cmp_dirents(r, op == FUSE_READDIRPLUS, a, len, b, len, x, xs, y, ys);
	case FUSE_STATFS: {
		struct fuse_statfs_out sa, sb;
		const char *pre = "";

		copy_in(&sa, sizeof(sa), a, len);
		copy_in(&sb, sizeof(sb), b, len);
		CMP(&sa.st, &sb.st, blocks, "%llu", unsigned long long)
		CMP(&sa.st, &sb.st, files, "%llu", unsigned long long)
		CMP(&sa.st, &sb.st, bsize, "%u", unsigned)
		CMP(&sa.st, &sb.st, namelen, "%u", unsigned)
		CMP(&sa.st, &sb.st, frsize, "%u", unsigned)
		return 0;
	}
	case FUSE_GETLK: {
		struct fuse_lk_out la, lb;
		const char *pre = "lk.";

		copy_in(&la, sizeof(la), a, len);
		copy_in(&lb, sizeof(lb), b, len);
		CMP(&la.lk, &lb.lk, type, "%u", unsigned)
		CMP(&la.lk, &lb.lk, start, "%llu", unsigned long long)
		CMP(&la.lk, &lb.lk, end, "%llu", unsigned long long)
		return 0;
	}
	case FUSE_GETXATTR: case FUSE_LISTXATTR: {
		uint32_t want = 0;

		if (blen >= 4)
			memcpy(&want, body, 4);
		if (want == 0 && len >= 4) {
			uint32_t sa, sb;

			memcpy(&sa, a, 4);
			memcpy(&sb, b, 4);
			if (sa != sb) {
				snprintf(x, xs, "size %u", sa);
				snprintf(y, ys, "size %u", sb);
				return 1;
			}
			return 0;
		}
		return cmp_bytes(a, b, len, x, xs, y, ys);
	}
	case FUSE_WRITE: case FUSE_LSEEK: case FUSE_BMAP:
	default:
		/* write_out.size, lseek_out.offset, bmap_out.block, data: bytes. */
		return cmp_bytes(a, b, len, x, xs, y, ys);
	}
}

/* Map what the new server handed out to what the recording had. */
static void
learn(struct rp *r, uint32_t op, const char *a, size_t alen, const char *b, size_t blen)
{
	const struct pf_opinfo *info = pf_op(op);
	size_t esz = pf_entry_out_size(r->minor);

	if (info == NULL)
		return;
	if ((info->flags & PF_OPF_LOOKUP) && alen >= 8 && blen >= 8) {
		uint64_t na, nb;

		memcpy(&na, a, 8);
		memcpy(&nb, b, 8);
		learn_node(r, na, nb);
	}
	if (info->flags & PF_OPF_OPENFH) {
		size_t at = (info->flags & PF_OPF_LOOKUP) ? esz : 0;

		if (alen >= at + 8 && blen >= at + 8) {
			uint64_t fa, fb;

			memcpy(&fa, a + at, 8);
			memcpy(&fb, b + at, 8);
			learn_fh(r, fa, fb);
		}
	}
	if (op == FUSE_READDIRPLUS) {
		static struct dlist la, lb;  /* kept for the next reply */
		const char *why;

		la.n = lb.n = 0;
		pf_walk_dirents(a, alen, 1, r->minor, dl_cb, &la, &why);
		pf_walk_dirents(b, blen, 1, r->minor, dl_cb, &lb, &why);
		for (size_t i = 0; i < la.n && i < lb.n; i++) {
			if (la.v[i].entry == NULL || lb.v[i].entry == NULL ||
			    la.v[i].namelen != lb.v[i].namelen ||
			    memcmp(la.v[i].name, lb.v[i].name, la.v[i].namelen) != 0)
				continue;
			learn_node(r, la.v[i].entry->nodeid, lb.v[i].entry->nodeid);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait for the reply to unique; check it.  Returns its error, or
 * -ETIMEDOUT, -ENOTCONN, -EIO (malformed) with r->why.
 */
static int
await(struct rp *r, uint32_t op, uint64_t unique, size_t limit)
{
	long end = mono_ms() + r->timeout_ms;
	struct fuse_out_header oh;
	const char *why;

	for (;;) {
		long left = end - mono_ms();
		ssize_t n = pf_raw_recv(r->c, r->rbuf, r->rcap, left > 0 ? (int)left : 0);

		if (n == -ETIMEDOUT) {
			snprintf(r->why, sizeof(r->why), "no reply within %d s",
			    r->timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		if (n < 0) {
			snprintf(r->why, sizeof(r->why), "no reply (%s)", n == -ENOTCONN ?
			    "the filesystem closed its connection" : strerror((int)-n));
			return -ENOTCONN;
		}
		if ((size_t)n < sizeof(oh))
			continue;
		memcpy(&oh, r->rbuf, sizeof(oh));
		if (oh.unique != unique)
			continue;  /* notifications, answers to nothing we sent */
		if ((size_t)n > r->rcap || oh.len != (size_t)n) {
			snprintf(r->why, sizeof(r->why), "a malformed reply (its length "
			    "field says %u bytes, it has %zd)", oh.len, n);
			return -EIO;
		}
		if (pf_check_reply(op, r->minor, oh.error, (size_t)n - sizeof(oh), limit,
		    &why) != 0) {
			snprintf(r->why, sizeof(r->why), "a malformed reply (%s)", why);
			return -EIO;
		}
		r->rp = r->rbuf + sizeof(oh);
		r->rlen = (size_t)n - sizeof(oh);
		return oh.error;
	}
}

/* Replay one request record.  Returns -ENOTCONN when the server is gone. */
static int
replay_one(struct rp *r, const struct rec *v, const struct rec *q, char *msg)
{
	const struct pf_opinfo *info = pf_op(q->h.opcode);
	struct fuse_in_header h;
	struct iovec iov;
	char *body = msg + sizeof(h);
	size_t blen = q->h.msglen - sizeof(h), limit;
	const char *why;
	char x[600], y[600];
	int err;

	memcpy(msg, q->msg, q->h.msglen);
	memcpy(&h, msg, sizeof(h));
	if (pf_check_request(h.opcode, r->minor, 0, body, blen, &why) != 0) {
		note("#%llu %s: not a valid request at 7.%u (%s); not sent",
		    (unsigned long long)q->h.unique, pf_op_name(h.opcode), r->minor, why);
		r->skipped++;
		return 0;
	}
	cur_rec = q;
	h.nodeid = map_node(r, h.nodeid, q);
	remap_request(r, h.opcode, body, blen);
	h.unique = pf_raw_unique(r->c);
	iov.iov_base = body;
	iov.iov_len = blen;
	limit = pf_reply_limit(h.opcode, r->minor, body, blen);
	err = pf_raw_send(r->c, &h, &iov, 1);
	if (err != 0) {
		snprintf(r->why, sizeof(r->why), "nothing: sending failed (%s)",
		    err == -ENOTCONN ? "the filesystem closed its connection" :
		    strerror(-err));
		if (q->reply >= 0) {
			describe(v[q->reply].h.error, v[q->reply].h.origlen - PF_OUT_HDR, x,
			    sizeof(x));
			diff(r, q, x, r->why);
		}
		return err == -ENOTCONN ? err : 0;
	}
	r->sent++;
	if (info != NULL && info->out == PF_OUT_NOREPLY)
		return 0;
	err = await(r, h.opcode, h.unique, limit);
	if (q->reply < 0) {
		r->unanswered++;
		return err == -ENOTCONN ? err : 0;
	}
	{
		const struct rec *a = &v[q->reply];
		size_t alen = a->h.msglen >= PF_OUT_HDR ? a->h.msglen - PF_OUT_HDR : 0;
		size_t aorig = a->h.origlen >= PF_OUT_HDR ? a->h.origlen - PF_OUT_HDR : 0;
		const char *apl = a->msg + PF_OUT_HDR;

		describe(a->h.error, aorig, x, sizeof(x));
		if (err == -ETIMEDOUT || err == -ENOTCONN || (err == -EIO && r->why[0])) {
			diff(r, q, x, r->why);
			r->why[0] = '\0';
			return err == -ENOTCONN ? err : 0;
		}
		if (err != a->h.error || (err == 0 && r->rlen != aorig)) {
			const struct pf_opinfo *oi = pf_op(h.opcode);

			describe(err, r->rlen, y, sizeof(y));
			diff(r, q, x, y);
			/* The node the recording got is not to be had: said here. */
			if (a->h.error == 0 && err != 0 && oi != NULL &&
			    (oi->flags & PF_OPF_LOOKUP) && alen >= 8) {
				uint64_t id;

				memcpy(&id, apl, 8);
				if (id != 0 && map_get(&r->nodes, id) == NULL)
					map_put(&r->unknown, id);
			}
			return 0;
		}
		if (err != 0)
			return 0;
		if (alen < aorig) {
			/* The recording kept only the start: compare that much. */
			if (cmp_bytes(apl, r->rp, alen, x, sizeof(x), y, sizeof(y)))
				diff(r, q, x, y);
			return 0;
		}
		if (compare(r, h.opcode, body, blen, apl, r->rp, alen, x, sizeof(x), y,
		    sizeof(y)))
			diff(r, q, x, y);
		learn(r, h.opcode, apl, alen, r->rp, r->rlen);
	}
	return 0;
}

int
cmd_replay(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "attach", required_argument, NULL, 'A' },
		{ "minor", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct rp r;
	struct rec *v = NULL;
	struct fsrun *run;
	struct perfuse_conn_info info;
	const char *file;
	char *data = NULL, *msg = NULL, why[2048];
	size_t n = 0, i;
	long lost = 0, notsent = 0;
	int ch, attach = FSRUN_AUTO, err, rc;
	unsigned minor = PF_MINOR_MAX;

	memset(&r, 0, sizeof(r));
	r.timeout_ms = 5000;
	while ((ch = cli_getopt(argc, argv, "+", lopts)) != -1) {
		char *end;
		long t;

		switch (ch) {
		case 'j':
			r.json = 1;
			break;
		case 'A':
			attach = fsrun_attach_parse(optarg);
			if (attach < 0)
				return cli_usage_error("--attach takes auto, fd or preload");
			break;
		case 'm':
			t = strtol(optarg, &end, 10);
			if (*end != '\0' || t < PF_MINOR_MIN || t > PF_MINOR_MAX)
				return cli_usage_error("--minor takes %d to %d", PF_MINOR_MIN,
				    PF_MINOR_MAX);
			minor = (unsigned)t;
			break;
		case 't':
			t = strtol(optarg, &end, 10);
			if (*end != '\0' || t < 1 || t > 3600)
				return cli_usage_error("--timeout takes seconds, 1 to 3600");
			r.timeout_ms = (int)t * 1000;
			break;
		}
	}
	if (optind >= argc)
		return cli_usage_error("missing FILE");
	file = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return cli_usage_error("missing FS_COMMAND");
	if (fsrun_mountpoint(argv + optind) < 0)
		return cli_usage_error("%s has no mountpoint argument (its last "
		    "non-option argument)", argv[optind]);
	err = load(file, &data, &v, &n);
	if (err != 0) {
		if (err == -EINVAL)
			cli_errmsg(file, "not a perfuse trace file (no %s header)",
			    PF_TRACE_MAGIC);
		else if (err == -EBADMSG)
			cli_errmsg(file, "malformed trace record");
		else
			cli_err(file, err);
		return 1;
	}
	pair(v, n);
	r.rcap = 4u * 1024 * 1024 + 4096;
	r.rbuf = malloc(r.rcap);
	msg = malloc(r.rcap);
	if (r.rbuf == NULL || msg == NULL) {
		cli_err("replay", -ENOMEM);
		rc = 1;
		goto out;
	}
	err = fsrun_start(argv + optind, (enum fsrun_attach)attach, minor, &run, &r.c,
	    why, sizeof(why));
	if (err != 0) {
		cli_errmsg(argv[optind], "%s", why);
		rc = 1;
		goto out;
	}
	perfuse_conn_get_info(r.c, &info);
	r.minor = info.minor;
	for (i = 0; i < n; i++) {
		const struct rec *q = &v[i];

		if (q->h.kind == PF_TR_LOST) {
			lost += q->h.error;
			continue;
		}
		if (q->h.kind != PF_TR_REQUEST)
			continue;
		if (q->h.opcode == FUSE_INIT || q->h.opcode == FUSE_DESTROY ||
		    q->h.opcode == FUSE_INTERRUPT || q->h.opcode == FUSE_NOTIFY_REPLY) {
			r.skipped++;
			continue;
		}
		if ((q->h.flags & PF_TRF_TRUNC) || q->h.msglen < PF_IN_HDR ||
		    q->h.msglen > r.rcap) {
			note("#%llu %s: the recorded request was cut short; not sent",
			    (unsigned long long)q->h.unique, pf_op_name(q->h.opcode));
			r.skipped++;
			continue;
		}
		if (replay_one(&r, v, q, msg) == -ENOTCONN) {
			for (size_t j = i + 1; j < n; j++)
				notsent += v[j].h.kind == PF_TR_REQUEST;
			note("the filesystem went away; %ld recorded requests not sent",
			    notsent);
			break;
		}
	}
	err = fsrun_stop(run, r.c, why, sizeof(why));
	r.c = NULL;
	if (err != 0) {
		note("%s", why);
		rc = 1;
	} else {
		rc = 0;
	}
	if (lost > 0)
		note("the recording lost %ld records (its tracer did not keep up): "
		    "differences may follow from that", lost);
	note("%ld requests sent (at FUSE 7.%u), %ld not sent, %ld without a recorded "
	    "reply; %ld difference%s", r.sent, r.minor, r.skipped + notsent,
	    r.unanswered, r.diffs, r.diffs == 1 ? "" : "s");
	if (r.diffs > 0 || notsent > 0)
		rc = 1;
out:
	map_free(&r.nodes);
	map_free(&r.fhs);
	map_free(&r.unknown);
	free(r.rbuf);
	free(msg);
	free(v);
	free(data);
	return rc;
}
