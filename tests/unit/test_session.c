/*
 * test_session.c - the client session (lib/session.c, lib/client.c) against
 * a scripted FUSE peer.
 *
 * The peer is a thread on one end of a SOCK_SEQPACKET socketpair playing a
 * FUSE server: it checks every request it gets (sizes for the agreed minor,
 * names, parent nodeids, that nodes are still referenced), answers from a
 * small in-memory tree, counts the lookup references it hands out and the
 * FORGETs it receives, and can misbehave on demand (wrong unique, short
 * reply, bad error values, ENOSYS, answering out of order, hanging up).
 * The session under test runs on the other end through perfuse_conn_fd().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "perfuse.h"
#include "proto.h"
#include "unit.h"

#define MAXN 1024              /* nodes of the peer's tree, index = nodeid */
#define NFILES 300             /* "/n0" .. "/n299" */
#define RBUF (2 << 20)         /* the peer's receive buffer */
#define BIG_SIZE 150000        /* size of "/big" */
#define FH_BASE 1000           /* file handle = FH_BASE + nodeid */

enum ga_mode {                 /* how the peer answers the next GETATTR of "/" */
	GA_NORMAL,
	GA_WRONG_UNIQUE,           /* a reply with another unique first */
	GA_NOTIFY,                 /* a notification (unique 0) first */
	GA_SHORT,                  /* one byte short */
	GA_LONG,                   /* one byte long */
	GA_POS_ERR,                /* error +5 */
	GA_BIG_ERR,                /* error -5000 */
	GA_ERR_PAYLOAD,            /* -ENOENT with 8 bytes of payload */
	GA_ENOENT,                 /* a plain -ENOENT */
	GA_HDRLEN,                 /* out header len 4 more than the datagram */
	GA_DUPLICATE,              /* the reply twice */
	GA_RUNT,                   /* an 8-byte datagram first */
};

struct pnode {
	uint64_t parent;
	char name[64];
	uint32_t mode;
	uint64_t size;
};

struct msg {
	unsigned char *b;
	size_t len;
};

struct peer {
	int fd;
	unsigned minor;            /* the server's announced minor */
	unsigned agreed;           /* min(38, minor) */
	uint32_t init_major;
	uint32_t max_write;
	uint16_t max_pages;        /* with MAX_PAGES (from 7.28) when nonzero */
	int init_close;            /* hang up instead of answering INIT */
	int init_bad_size;         /* answer INIT with 4 bytes too many */
	int32_t init_error;        /* answer INIT with this error */
	pthread_t th;

	pthread_mutex_t lock;      /* everything below */
	struct pnode node[MAXN];
	int nnodes;                /* nodeids 1 .. nnodes */
	uint64_t refs[MAXN];       /* lookup references handed out */
	uint64_t forgot[MAXN];     /* references forgotten */
	int ops[64];               /* requests per opcode */
	int destroyed, after_destroy;
	int forget_msgs, batch_msgs;
	uint32_t last_mknod_mode, last_create_mode;

	/* script */
	uint64_t ev_sec, av_sec;   /* entry_valid, attr_valid (0 by default: */
	uint32_t ev_nsec, av_nsec; /*  a server that lets nothing be cached) */
	int negative;              /* a missing name: nodeid 0 with entry_valid */
	int release_hold;          /* keep RELEASE replies until wakefd is written */
	int wakefd[2];
	struct msg held[8];
	int nheld, releases_answered;
	int32_t flush_err;         /* answer FLUSH with this */
	int notify_code;           /* send this notification before the next reply */
	uint64_t notify_parent, notify_child;
	char notify_name[64];
	int create_enosys;
	int getattr_mode;          /* enum ga_mode, reset after use */
	uint64_t root_size;
	int batch;                 /* answer in reversed batches of up to 4 */
	int max_batch;
	int eof_on;                /* hang up on this opcode (0: never) */
	uint32_t expect_max_read;

	/* logs */
	struct { uint64_t parent; char name[64]; } lk[64];
	int nlk;
	struct { uint64_t off; uint32_t size; } rd[64];
	int nrd;
	int nfail;
	char fail[256];
};

static uint8_t
pattern(uint64_t off)
{
	return (uint8_t)(((off + 17) * 2654435761u) >> 13);
}

static void
pfail(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A failure seen by the peer; called with p->lock held. */
static void
pfail(struct peer *p, const char *fmt, ...)
{
	va_list ap;

	if (p->nfail++ == 0) {
		va_start(ap, fmt);
		vsnprintf(p->fail, sizeof(p->fail), fmt, ap);
		va_end(ap);
	} else if (getenv("UNIT_VERBOSE") != NULL) {
		va_start(ap, fmt);
		fprintf(stderr, "  peer: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
}

static int
add_node(struct peer *p, uint64_t parent, const char *name, uint32_t mode,
    uint64_t size)
{
	int n = ++p->nnodes;

	p->node[n].parent = parent;
	snprintf(p->node[n].name, sizeof(p->node[n].name), "%s", name);
	p->node[n].mode = mode;
	p->node[n].size = size;
	return n;
}

static uint64_t
nfile_size(int i)
{
	return 1000 + 7919 * (uint64_t)i;
}

/* nodeid of "/n<i>" */
static uint64_t
nfile_id(int i)
{
	return 5 + (uint64_t)i;
}

static struct peer *
peer_new(unsigned minor)
{
	struct peer *p = calloc(1, sizeof(*p));
	int i;

	p->fd = -1;
	p->minor = minor;
	p->agreed = minor < 38 ? minor : 38;
	p->init_major = 7;
	p->max_write = 128 * 1024;
	pthread_mutex_init(&p->lock, NULL);
	p->root_size = 4096;
	if (pipe(p->wakefd) != 0) {
		perror("pipe");
		exit(1);
	}
	add_node(p, 0, "", S_IFDIR | 0755, 4096);                 /* 1 */
	add_node(p, 1, "a", S_IFDIR | 0750, 4096);                /* 2 */
	add_node(p, 2, "b", S_IFREG | 0640, 12345);               /* 3 */
	add_node(p, 1, "big", S_IFREG | 0644, BIG_SIZE);          /* 4 */
	for (i = 0; i < NFILES; i++) {
		char name[16];

		snprintf(name, sizeof(name), "n%d", i);
		add_node(p, 1, name, S_IFREG | 0600, nfile_size(i));  /* 5 + i */
	}
	return p;
}

static void
fill_attr(const struct peer *p, uint64_t id, struct fuse_attr *a)
{
	const struct pnode *n = &p->node[id];

	memset(a, 0, sizeof(*a));
	a->ino = id;
	a->size = id == 1 ? p->root_size : n->size;
	a->blocks = (a->size + 511) / 512;
	a->atime = 1600000000 + id;
	a->mtime = 1600000100 + id;
	a->ctime = 1600000200 + id;
	a->atimensec = 111;
	a->mtimensec = 222 + (uint32_t)id;
	a->ctimensec = 333;
	a->mode = n->mode;
	a->nlink = S_ISDIR(n->mode) ? 2 : 1;
	a->uid = 1234;
	a->gid = 5678;
	a->blksize = 8192;
}

static void
put_msg(struct msg *q, int *nq, uint64_t unique, int32_t error, const void *data,
    size_t len, size_t lenfield)
{
	struct fuse_out_header oh;
	struct msg *m = &q[(*nq)++];

	oh.len = (uint32_t)(lenfield ? lenfield : sizeof(oh) + len);
	oh.error = error;
	oh.unique = unique;
	m->len = sizeof(oh) + len;
	m->b = malloc(m->len);
	memcpy(m->b, &oh, sizeof(oh));
	if (len)
		memcpy(m->b + sizeof(oh), data, len);
}

static void
reply(struct msg *q, int *nq, uint64_t unique, int32_t error, const void *data,
    size_t len)
{
	put_msg(q, nq, unique, error, data, len, 0);
}

static int
live(const struct peer *p, uint64_t id)
{
	return id == 1 || (id > 1 && id <= (uint64_t)p->nnodes && p->refs[id] > p->forgot[id]);
}

static int
find_child(const struct peer *p, uint64_t parent, const char *name)
{
	int i;

	for (i = 1; i <= p->nnodes; i++)
		if (p->node[i].parent == parent && strcmp(p->node[i].name, name) == 0)
			return i;
	return 0;
}

/* An entry for nodeid id, with the reference it hands out. */
static size_t
entry(struct peer *p, uint64_t id, unsigned char *out)
{
	struct fuse_entry_out e;
	size_t esz = p->agreed < 9 ? 120 : 128;

	memset(&e, 0, sizeof(e));
	e.nodeid = id;
	e.generation = 1;
	e.entry_valid = p->ev_sec;
	e.entry_valid_nsec = p->ev_nsec;
	e.attr_valid = p->av_sec;
	e.attr_valid_nsec = p->av_nsec;
	if (id != 0)
		fill_attr(p, id, &e.attr);
	memcpy(out, &e, esz);
	if (id != 0)
		p->refs[id]++;
	return esz;
}

/* A name in body[0..len), NUL-terminated and filling it exactly. */
static const char *
one_name(struct peer *p, const char *what, const unsigned char *body, size_t len)
{
	if (len == 0 || body[len - 1] != '\0' || strlen((const char *)body) + 1 != len) {
		pfail(p, "%s: name not NUL-terminated or with trailing bytes", what);
		return NULL;
	}
	return (const char *)body;
}

/*
 * Handle one request; queue its replies.  Returns 1 when the peer must hang
 * up now.  Called with p->lock held.
 */
static int
handle(struct peer *p, const unsigned char *rq, size_t n, struct msg *q, int *nq)
{
	struct fuse_in_header h;
	const unsigned char *body = rq + sizeof(h);
	size_t blen;
	unsigned char out[512];
	const char *name;
	uint64_t id;

	if (n < sizeof(h)) {
		pfail(p, "a %zu-byte request", n);
		return 0;
	}
	memcpy(&h, rq, sizeof(h));
	blen = n - sizeof(h);
	if (h.len != n)
		pfail(p, "%s: header len %u, datagram %zu", pf_op_name(h.opcode), h.len, n);
	if (h.unique == 0)
		pfail(p, "%s: unique 0", pf_op_name(h.opcode));
	if (h.opcode < 64)
		p->ops[h.opcode]++;
	if (p->destroyed)
		p->after_destroy++;
	if (p->eof_on != 0 && h.opcode == (uint32_t)p->eof_on)
		return 1;
	id = h.nodeid;
	if (p->notify_code != 0) {
		unsigned char nb[128];
		size_t nl = strlen(p->notify_name), len = 0;

		memset(nb, 0, sizeof(nb));
		if (p->notify_code == FUSE_NOTIFY_INVAL_INODE) {
			struct fuse_notify_inval_inode_out ii = { p->notify_child, 0, 0 };

			memcpy(nb, &ii, sizeof(ii));
			len = sizeof(ii);
		} else if (p->notify_code == FUSE_NOTIFY_INVAL_ENTRY) {
			struct fuse_notify_inval_entry_out ie = { p->notify_parent,
				(uint32_t)nl, 0 };

			memcpy(nb, &ie, sizeof(ie));
			memcpy(nb + sizeof(ie), p->notify_name, nl + 1);
			len = sizeof(ie) + nl + 1;
		} else if (p->notify_code == FUSE_NOTIFY_DELETE) {
			struct fuse_notify_delete_out de = { p->notify_parent,
				p->notify_child, (uint32_t)nl, 0 };

			memcpy(nb, &de, sizeof(de));
			memcpy(nb + sizeof(de), p->notify_name, nl + 1);
			len = sizeof(de) + nl + 1;
		}
		reply(q, nq, 0, p->notify_code, nb, len);
		p->notify_code = 0;
	}

	switch (h.opcode) {
	case FUSE_INIT: {
		struct fuse_init_in in;
		struct fuse_init_out o;
		uint64_t offered, want;

		memset(&in, 0, sizeof(in));
		memcpy(&in, body, blen < sizeof(in) ? blen : sizeof(in));
		if (blen != 64)
			pfail(p, "INIT of %zu bytes, want 64 at 7.38", blen);
		if (in.major != 7 || in.minor != 38)
			pfail(p, "INIT offers %u.%u, want 7.38", in.major, in.minor);
		offered = in.flags;
		if (in.flags & FUSE_INIT_EXT)
			offered |= (uint64_t)in.flags2 << 32;
		if (offered & (FUSE_SPLICE_READ | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE |
		    FUSE_MAP_ALIGNMENT | FUSE_WRITEBACK_CACHE | (1ULL << 37) | (1ULL << 41)))
			pfail(p, "INIT offers a never-offered flag: 0x%llx",
			    (unsigned long long)offered);
		if (h.nodeid != 0)
			pfail(p, "INIT with nodeid %llu", (unsigned long long)h.nodeid);
		if (p->init_close)
			return 1;
		if (p->init_error != 0) {
			reply(q, nq, h.unique, p->init_error, NULL, 0);
			return 0;
		}
		memset(&o, 0, sizeof(o));
		o.major = p->init_major;
		o.minor = p->minor;
		o.max_readahead = in.max_readahead;
		want = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC |
		    FUSE_EXPORT_SUPPORT;
		if (p->minor >= 9)
			want |= FUSE_BIG_WRITES;
		if (p->minor >= 28 && p->max_pages != 0)
			want |= FUSE_MAX_PAGES;
		o.flags = (uint32_t)(in.flags & want);
		o.max_background = 12;
		o.congestion_threshold = 9;
		o.max_write = p->max_write;
		o.time_gran = 1;
		o.max_pages = p->max_pages;
		memset(out, 0, sizeof(o) + 8);
		memcpy(out, &o, sizeof(o));
		reply(q, nq, h.unique, 0, out, (p->agreed < 23 ? 24 : 64) +
		    (p->init_bad_size ? 4 : 0));
		return 0;
	}
	case FUSE_LOOKUP: {
		int child;

		if ((name = one_name(p, "LOOKUP", body, blen)) == NULL) {
			reply(q, nq, h.unique, -EINVAL, NULL, 0);
			return 0;
		}
		if (!live(p, id) || !S_ISDIR(p->node[id].mode))
			pfail(p, "LOOKUP \"%s\" in node %llu, not a referenced directory",
			    name, (unsigned long long)id);
		if (p->nlk < 64) {
			p->lk[p->nlk].parent = id;
			snprintf(p->lk[p->nlk].name, sizeof(p->lk[0].name), "%s", name);
			p->nlk++;
		}
		child = find_child(p, id, name);
		if (child == 0 && p->negative) {
			reply(q, nq, h.unique, 0, out, entry(p, 0, out));
			return 0;
		}
		if (child == 0) {
			reply(q, nq, h.unique, -ENOENT, NULL, 0);
			return 0;
		}
		reply(q, nq, h.unique, 0, out, entry(p, (uint64_t)child, out));
		return 0;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out ao;
		size_t asz = p->agreed < 9 ? 96 : 104;
		int mode = id == 1 ? p->getattr_mode : GA_NORMAL;

		if (blen != (p->agreed < 9 ? 0u : 16u))
			pfail(p, "GETATTR body of %zu bytes at 7.%u", blen, p->agreed);
		if (!live(p, id))
			pfail(p, "GETATTR of unreferenced node %llu", (unsigned long long)id);
		memset(&ao, 0, sizeof(ao));
		ao.attr_valid = p->av_sec;
		ao.attr_valid_nsec = p->av_nsec;
		fill_attr(p, id, &ao.attr);
		p->getattr_mode = GA_NORMAL;
		switch (mode) {
		case GA_WRONG_UNIQUE: {
			struct fuse_attr_out bad = ao;

			bad.attr.size = 111;
			reply(q, nq, h.unique + 1000, 0, &bad, asz);
			reply(q, nq, h.unique, 0, &ao, asz);
			break;
		}
		case GA_NOTIFY: {
			struct fuse_notify_inval_inode_out ii = { 1, 0, 0 };

			reply(q, nq, 0, FUSE_NOTIFY_INVAL_INODE, &ii, sizeof(ii));
			reply(q, nq, h.unique, 0, &ao, asz);
			break;
		}
		case GA_SHORT:
			reply(q, nq, h.unique, 0, &ao, asz - 1);
			break;
		case GA_LONG: {
			unsigned char longer[sizeof(ao) + 8];

			memset(longer, 0, sizeof(longer));
			memcpy(longer, &ao, sizeof(ao));
			reply(q, nq, h.unique, 0, longer, asz + 1);
			break;
		}
		case GA_POS_ERR:
			reply(q, nq, h.unique, 5, NULL, 0);
			break;
		case GA_BIG_ERR:
			reply(q, nq, h.unique, -5000, NULL, 0);
			break;
		case GA_ERR_PAYLOAD:
			reply(q, nq, h.unique, -ENOENT, &ao, 8);
			break;
		case GA_ENOENT:
			reply(q, nq, h.unique, -ENOENT, NULL, 0);
			break;
		case GA_HDRLEN:
			put_msg(q, nq, h.unique, 0, &ao, asz, 16 + asz + 4);
			break;
		case GA_DUPLICATE:
			reply(q, nq, h.unique, 0, &ao, asz);
			reply(q, nq, h.unique, 0, &ao, asz);
			break;
		case GA_RUNT: {
			struct msg *m = &q[(*nq)++];

			m->len = 8;
			m->b = calloc(1, 8);
			reply(q, nq, h.unique, 0, &ao, asz);
			break;
		}
		default:
			reply(q, nq, h.unique, 0, &ao, asz);
			break;
		}
		return 0;
	}
	case FUSE_FORGET: {
		struct fuse_forget_in f;

		p->forget_msgs++;
		if (p->agreed >= 16)
			pfail(p, "FORGET at 7.%u: BATCH_FORGET expected", p->agreed);
		if (blen != sizeof(f)) {
			pfail(p, "FORGET body of %zu bytes", blen);
			return 0;
		}
		memcpy(&f, body, sizeof(f));
		if (id <= 1 || id > (uint64_t)p->nnodes) {
			pfail(p, "FORGET of node %llu", (unsigned long long)id);
			return 0;
		}
		p->forgot[id] += f.nlookup;
		if (p->forgot[id] > p->refs[id])
			pfail(p, "node %llu forgotten %llu times, handed out %llu",
			    (unsigned long long)id, (unsigned long long)p->forgot[id],
			    (unsigned long long)p->refs[id]);
		return 0;
	}
	case FUSE_BATCH_FORGET: {
		struct fuse_batch_forget_in b;
		struct fuse_forget_one one;
		uint32_t i;

		p->batch_msgs++;
		if (p->agreed < 16)
			pfail(p, "BATCH_FORGET at 7.%u", p->agreed);
		if (blen < sizeof(b)) {
			pfail(p, "BATCH_FORGET of %zu bytes", blen);
			return 0;
		}
		memcpy(&b, body, sizeof(b));
		if (b.count == 0 || blen != sizeof(b) + (size_t)b.count * sizeof(one)) {
			pfail(p, "BATCH_FORGET count %u in %zu bytes", b.count, blen);
			return 0;
		}
		for (i = 0; i < b.count; i++) {
			memcpy(&one, body + sizeof(b) + i * sizeof(one), sizeof(one));
			if (one.nodeid <= 1 || one.nodeid > (uint64_t)p->nnodes) {
				pfail(p, "BATCH_FORGET of node %llu",
				    (unsigned long long)one.nodeid);
				continue;
			}
			if (one.nlookup == 0)
				pfail(p, "BATCH_FORGET record with nlookup 0");
			p->forgot[one.nodeid] += one.nlookup;
			if (p->forgot[one.nodeid] > p->refs[one.nodeid])
				pfail(p, "node %llu forgotten %llu times, handed out %llu",
				    (unsigned long long)one.nodeid,
				    (unsigned long long)p->forgot[one.nodeid],
				    (unsigned long long)p->refs[one.nodeid]);
		}
		return 0;
	}
	case FUSE_DESTROY:
		if (blen != 0)
			pfail(p, "DESTROY with %zu bytes", blen);
		p->destroyed = 1;
		reply(q, nq, h.unique, 0, NULL, 0);
		return 0;
	case FUSE_CREATE:
	case FUSE_MKNOD: {
		size_t fixed = p->agreed < 12 ? 8 : 16, len;
		uint32_t mode;
		int child;

		if (h.opcode == FUSE_CREATE && p->create_enosys) {
			reply(q, nq, h.unique, -ENOSYS, NULL, 0);
			return 0;
		}
		if (blen <= fixed || (name = one_name(p, pf_op_name(h.opcode),
		    body + fixed, blen - fixed)) == NULL) {
			pfail(p, "%s of %zu bytes at 7.%u", pf_op_name(h.opcode), blen,
			    p->agreed);
			reply(q, nq, h.unique, -EINVAL, NULL, 0);
			return 0;
		}
		/* mknod_in: mode first; create_in (and 7.8's open_in): mode second. */
		memcpy(&mode, body + (h.opcode == FUSE_MKNOD ? 0 : 4), sizeof(mode));
		if (h.opcode == FUSE_MKNOD)
			p->last_mknod_mode = mode;
		else
			p->last_create_mode = mode;
		if (!live(p, id) || !S_ISDIR(p->node[id].mode))
			pfail(p, "%s in node %llu", pf_op_name(h.opcode),
			    (unsigned long long)id);
		if (find_child(p, id, name) != 0) {
			reply(q, nq, h.unique, -EEXIST, NULL, 0);
			return 0;
		}
		if (p->nnodes + 1 >= MAXN) {
			reply(q, nq, h.unique, -ENOSPC, NULL, 0);
			return 0;
		}
		child = add_node(p, id, name, mode, 0);
		len = entry(p, (uint64_t)child, out);
		if (h.opcode == FUSE_CREATE) {
			struct fuse_open_out oo;

			memset(&oo, 0, sizeof(oo));
			oo.fh = FH_BASE + (uint64_t)child;
			memcpy(out + len, &oo, sizeof(oo));
			len += sizeof(oo);
		}
		reply(q, nq, h.unique, 0, out, len);
		return 0;
	}
	case FUSE_OPEN: {
		struct fuse_open_out oo;

		if (blen != sizeof(struct fuse_open_in))
			pfail(p, "OPEN of %zu bytes", blen);
		if (!live(p, id))
			pfail(p, "OPEN of unreferenced node %llu", (unsigned long long)id);
		memset(&oo, 0, sizeof(oo));
		oo.fh = FH_BASE + id;
		reply(q, nq, h.unique, 0, &oo, sizeof(oo));
		return 0;
	}
	case FUSE_READ: {
		struct fuse_read_in in;
		size_t fixed = p->agreed < 9 ? 24 : 40, len = 0, i;
		uint64_t fsize;
		unsigned char *data;

		memset(&in, 0, sizeof(in));
		memcpy(&in, body, blen < sizeof(in) ? blen : sizeof(in));
		if (blen != fixed)
			pfail(p, "READ of %zu bytes at 7.%u", blen, p->agreed);
		if (!live(p, id))
			pfail(p, "READ of unreferenced node %llu", (unsigned long long)id);
		if (in.fh != FH_BASE + id)
			pfail(p, "READ with fh %llu", (unsigned long long)in.fh);
		if (p->expect_max_read != 0 && in.size > p->expect_max_read)
			pfail(p, "READ of %u bytes, more than max_read %u", in.size,
			    p->expect_max_read);
		if (p->nrd < 64) {
			p->rd[p->nrd].off = in.offset;
			p->rd[p->nrd].size = in.size;
			p->nrd++;
		}
		fsize = id <= (uint64_t)p->nnodes ? p->node[id].size : 0;
		if (in.offset < fsize)
			len = fsize - in.offset < in.size ? fsize - in.offset : in.size;
		data = malloc(len + 1);
		for (i = 0; i < len; i++)
			data[i] = pattern(in.offset + i);
		reply(q, nq, h.unique, 0, data, len);
		free(data);
		return 0;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE: {
		uint64_t fh;

		if (blen != 24)
			pfail(p, "%s of %zu bytes", pf_op_name(h.opcode), blen);
		memcpy(&fh, body, sizeof(fh));
		if (fh != FH_BASE + id)
			pfail(p, "%s with fh %llu for node %llu", pf_op_name(h.opcode),
			    (unsigned long long)fh, (unsigned long long)id);
		if (!live(p, id))
			pfail(p, "%s of unreferenced node %llu", pf_op_name(h.opcode),
			    (unsigned long long)id);
		if (h.opcode == FUSE_FLUSH) {
			reply(q, nq, h.unique, p->flush_err, NULL, 0);
		} else if (p->release_hold && p->nheld < 8) {
			reply(p->held, &p->nheld, h.unique, 0, NULL, 0);
		} else {
			reply(q, nq, h.unique, 0, NULL, 0);
			p->releases_answered++;
		}
		return 0;
	}
	case FUSE_STATFS: {
		struct fuse_statfs_out so;

		memset(&so, 0, sizeof(so));
		so.st.bsize = 4096;
		so.st.namelen = 255;
		reply(q, nq, h.unique, 0, &so, p->agreed < 4 ? 48 : sizeof(so));
		return 0;
	}
	case FUSE_UNLINK: {
		int child;

		if ((name = one_name(p, "UNLINK", body, blen)) == NULL) {
			reply(q, nq, h.unique, -EINVAL, NULL, 0);
			return 0;
		}
		if (!live(p, id))
			pfail(p, "UNLINK in unreferenced node %llu", (unsigned long long)id);
		child = find_child(p, id, name);
		if (child == 0) {
			reply(q, nq, h.unique, -ENOENT, NULL, 0);
			return 0;
		}
		p->node[child].parent = 0;       /* gone from the tree */
		p->node[child].name[0] = '\0';
		reply(q, nq, h.unique, 0, NULL, 0);
		return 0;
	}
	case FUSE_RENAME: {
		struct fuse_rename_in ri;
		const char *newname;
		int child, target;

		if (blen < sizeof(ri) + 4) {
			pfail(p, "RENAME of %zu bytes", blen);
			reply(q, nq, h.unique, -EINVAL, NULL, 0);
			return 0;
		}
		memcpy(&ri, body, sizeof(ri));
		name = (const char *)body + sizeof(ri);
		newname = name + strlen(name) + 1;
		if (!live(p, id) || !live(p, ri.newdir))
			pfail(p, "RENAME between unreferenced nodes");
		child = find_child(p, id, name);
		if (child == 0) {
			reply(q, nq, h.unique, -ENOENT, NULL, 0);
			return 0;
		}
		target = find_child(p, ri.newdir, newname);
		if (target != 0) {
			p->node[target].parent = 0;
			p->node[target].name[0] = '\0';
		}
		p->node[child].parent = ri.newdir;
		snprintf(p->node[child].name, sizeof(p->node[child].name), "%s", newname);
		reply(q, nq, h.unique, 0, NULL, 0);
		return 0;
	}
	default:
		pfail(p, "unexpected request %s", pf_op_name(h.opcode));
		reply(q, nq, h.unique, -ENOSYS, NULL, 0);
		return 0;
	}
}

static void
flush_msgs(struct peer *p, struct msg *q, int *nq, int reverse)
{
	int i;

	if (*nq > p->max_batch)
		p->max_batch = *nq;
	for (i = 0; i < *nq; i++) {
		struct msg *m = &q[reverse ? *nq - 1 - i : i];
		ssize_t n = send(p->fd, m->b, m->len, MSG_NOSIGNAL);

		if (n != (ssize_t)m->len)
			pfail(p, "send of a %zu-byte reply: %zd (%s)", m->len, n,
			    n < 0 ? strerror(errno) : "short");
		free(m->b);
	}
	*nq = 0;
}

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	unsigned char *rb = malloc(RBUF);
	struct msg q[16];
	int nq = 0;

	for (;;) {
		ssize_t n;
		int hang;
		struct pollfd pw[2] = { { p->fd, POLLIN, 0 }, { p->wakefd[0], POLLIN, 0 } };
		int pr = poll(pw, 2, p->batch && nq > 0 ? 5 : -1);

		if (pr == 0) {
			/* A batch waited long enough for more requests. */
			pthread_mutex_lock(&p->lock);
			flush_msgs(p, q, &nq, 1);
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		/* Held RELEASE replies go when the test writes to wakefd. */
		if (pr > 0 && (pw[1].revents & POLLIN)) {
			char ch;

			if (read(p->wakefd[0], &ch, 1) == 1) {
				pthread_mutex_lock(&p->lock);
				p->release_hold = 0;
				p->releases_answered += p->nheld;
				flush_msgs(p, p->held, &p->nheld, 0);
				pthread_mutex_unlock(&p->lock);
			}
			if (!(pw[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		n = recv(p->fd, rb, RBUF, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pthread_mutex_lock(&p->lock);
		if (n > RBUF) {
			pfail(p, "a %zd-byte request", n);
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		hang = handle(p, rb, (size_t)n, q, &nq);
		if (hang) {
			pthread_mutex_unlock(&p->lock);
			/* Let the requests of other threads pile up, then hang up. */
			usleep(100 * 1000);
			break;
		}
		if (!p->batch || nq >= 4)
			flush_msgs(p, q, &nq, p->batch);
		pthread_mutex_unlock(&p->lock);
	}
	while (nq > 0)
		free(q[--nq].b);
	while (p->nheld > 0)
		free(p->held[--p->nheld].b);
	close(p->fd);
	free(rb);
	return NULL;
}

/* Start the peer; returns the client's end of the socket. */
static int
peer_run(struct peer *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
		perror("socketpair");
		exit(1);
	}
	p->fd = sv[1];
	if (pthread_create(&p->th, NULL, peer_main, p) != 0) {
		perror("pthread_create");
		exit(1);
	}
	return sv[0];
}

/* Wait for the peer to see EOF; report what it found wrong. */
static void
peer_join(struct peer *p, int line)
{
	pthread_join(p->th, NULL);
	checkf(p->nfail == 0, line, "the peer found %d problems, first: %s", p->nfail,
	    p->fail);
}

/* Every reference handed out was forgotten, then DESTROY came last. */
static void
check_forgets(struct peer *p, int want_destroy, int line)
{
	uint64_t handed = 0, back = 0;
	int i, bad = 0;

	for (i = 2; i <= p->nnodes; i++) {
		handed += p->refs[i];
		back += p->forgot[i];
		if (p->refs[i] != p->forgot[i] && bad++ == 0)
			checkf(0, line, "node %d (%s): %llu references handed out, %llu "
			    "forgotten", i, p->node[i].name, (unsigned long long)p->refs[i],
			    (unsigned long long)p->forgot[i]);
	}
	checkf(bad == 0 && handed == back, line, "%d nodes with unbalanced references "
	    "(%llu handed out, %llu forgotten)", bad, (unsigned long long)handed,
	    (unsigned long long)back);
	check_eq(p->destroyed, want_destroy, "DESTROY received", line);
	check_eq(p->after_destroy, 0, "requests after DESTROY", line);
	if (p->agreed < 16)
		check_eq(p->batch_msgs, 0, "BATCH_FORGET messages below 7.16", line);
	else
		check_eq(p->forget_msgs, 0, "single FORGET messages from 7.16", line);
}

static uint64_t
peer_refs(struct peer *p)
{
	uint64_t s = 0;
	int i;

	pthread_mutex_lock(&p->lock);
	for (i = 2; i <= p->nnodes; i++)
		s += p->refs[i] - p->forgot[i];
	pthread_mutex_unlock(&p->lock);
	return s;
}

static int
peer_ops(struct peer *p, uint32_t op)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = p->ops[op];
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void
peer_free(struct peer *p)
{
	close(p->wakefd[0]);
	close(p->wakefd[1]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ------------------------------------------------------------------ */
/* Test plumbing.                                                        */

static char gnames[64][128];
static int ngnames;

static const char *
gname(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
gname(const char *fmt, ...)
{
	va_list ap;
	char *s = gnames[ngnames++ % 64];

	va_start(ap, fmt);
	vsnprintf(s, sizeof(gnames[0]), fmt, ap);
	va_end(ap);
	return s;
}

static long nwarn;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void
quiet_log(enum perfuse_log_level level, const char *msg, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&log_lock);
	if (level <= PERFUSE_LOG_WARN)
		nwarn++;
	pthread_mutex_unlock(&log_lock);
	if (getenv("UNIT_VERBOSE") != NULL)
		fprintf(stderr, "  lib: %s\n", msg);
}

static void
on_alarm(int sig)
{
	static const char m1[] = "FAIL timeout (a call hung) in group: ";
	const char *g = unit_group_name();

	(void)sig;
	if (write(1, m1, sizeof(m1) - 1) < 0 || write(1, g, strlen(g)) < 0 ||
	    write(1, "\n", 1) < 0)
		_exit(2);
	_exit(1);
}

/* Start a session with a fresh peer at minor; NULL (and a failed check) if not. */
static perfuse_conn *
start(struct peer *p, int line)
{
	perfuse_conn *c = NULL;
	int fd = peer_run(p);
	int r = perfuse_conn_fd(fd, "test", PERFUSE_CONN_DESTROY, &c);

	if (!checkf(r == 0 && c != NULL, line, "perfuse_conn_fd at 7.%u: %d", p->minor,
	    r)) {
		peer_join(p, line);
		return NULL;
	}
	return c;
}

static void
finish(perfuse_conn *c, struct peer *p, int line)
{
	int r = perfuse_disconnect(c);

	checkf(r == 0, line, "perfuse_disconnect: %d", r);
	peer_join(p, line);
	check_forgets(p, 1, line);
}

/* ------------------------------------------------------------------ */
/* (a) INIT at several minors, a path walk, FORGET and DESTROY.          */

static void
test_minor(unsigned minor)
{
	struct peer *p = peer_new(minor);
	struct perfuse_conn_info info;
	unsigned ag = p->agreed;
	perfuse_conn *c;
	struct stat st;
	int r;

	group(gname("INIT, stat and FORGET at server minor 7.%u", minor));
	alarm(30);
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	perfuse_conn_get_info(c, &info);
	check_eq(info.major, 7, "major", __LINE__);
	check_eq(info.minor, ag, "agreed minor", __LINE__);
	check_eq(info.server_minor, minor, "server minor", __LINE__);
	/* BIG_WRITES exists from 7.9: before, a WRITE carries one page. */
	check_eq(info.max_write, ag >= 9 ? 128 * 1024 : 4096, "max_write", __LINE__);
	check_eq(info.time_gran, 1, "time_gran", __LINE__);

	memset(&st, 0, sizeof(st));
	r = perfuse_stat(c, "/a/b", &st);
	check_eq(r, 0, "stat /a/b", __LINE__);
	pthread_mutex_lock(&p->lock);
	check_eq(p->nlk, 2, "LOOKUPs for /a/b", __LINE__);
	if (p->nlk >= 2) {
		check_eq((long long)p->lk[0].parent, 1, "LOOKUP \"a\" in the root", __LINE__);
		check_str(p->lk[0].name, "a", "first name looked up", __LINE__);
		check_eq((long long)p->lk[1].parent, 2, "LOOKUP \"b\" in a's nodeid", __LINE__);
		check_str(p->lk[1].name, "b", "second name looked up", __LINE__);
	}
	pthread_mutex_unlock(&p->lock);
	check_eq((long long)st.st_ino, 3, "st_ino", __LINE__);
	check_eqx(st.st_mode, S_IFREG | 0640, "st_mode", __LINE__);
	check_eq((long long)st.st_nlink, 1, "st_nlink", __LINE__);
	check_eq(st.st_uid, 1234, "st_uid", __LINE__);
	check_eq(st.st_gid, 5678, "st_gid", __LINE__);
	check_eq((long long)st.st_size, 12345, "st_size", __LINE__);
	check_eq((long long)st.st_blocks, (12345 + 511) / 512, "st_blocks", __LINE__);
	check_eq((long long)st.st_atim.tv_sec, 1600000003, "atime", __LINE__);
	check_eq((long long)st.st_mtim.tv_sec, 1600000103, "mtime", __LINE__);
	check_eq((long long)st.st_mtim.tv_nsec, 225, "mtime ns", __LINE__);
	check_eq((long long)st.st_ctim.tv_nsec, 333, "ctime ns", __LINE__);
	/* blksize exists from 7.9 (the 7.8 entry is 8 bytes shorter). */
	check_eq((long long)st.st_blksize, ag >= 9 ? 8192 : 4096, "st_blksize", __LINE__);

	/* More references: /a/b again, /a, a missing name under /a. */
	r = perfuse_stat(c, "/a/b", &st);
	check(r == 0 && st.st_size == 12345, "stat /a/b again", __LINE__);
	r = perfuse_stat(c, "a", &st);
	check(r == 0 && S_ISDIR(st.st_mode) && st.st_ino == 2, "stat a", __LINE__);
	r = perfuse_stat(c, "/a/missing", &st);
	check_eq(r, -ENOENT, "stat /a/missing", __LINE__);
	/* The root itself: GETATTR (no getattr_in before 7.9). */
	r = perfuse_stat(c, "/", &st);
	check(r == 0 && S_ISDIR(st.st_mode) && st.st_ino == 1 && st.st_size == 4096,
	    "stat / (GETATTR)", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 1, "GETATTRs", __LINE__);
	check_eq((long long)perfuse_conn_lookups(c), (long long)peer_refs(p),
	    "perfuse_conn_lookups = references the peer handed out", __LINE__);
	check_eq((long long)peer_refs(p), 6, "references handed out", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

/* Many distinct nodes: FORGETs go out during the session, sums still match. */
static void
test_forget_batches(unsigned minor)
{
	struct peer *p = peer_new(minor);
	perfuse_conn *c;
	struct stat st;
	char path[32];
	int i, pass, bad = 0, fmsgs;

	group(gname("FORGET during the session at 7.%u (300 nodes, twice)", minor));
	alarm(60);
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < NFILES; i++) {
			snprintf(path, sizeof(path), "/n%d", i);
			if (perfuse_stat(c, path, &st) != 0 ||
			    st.st_size != (off_t)nfile_size(i) || st.st_ino != nfile_id(i))
				bad++;
		}
	}
	check_eq(bad, 0, "stats with wrong results", __LINE__);
	/* A round trip, so that the peer has seen all that was sent before. */
	check_eq(perfuse_stat(c, "/", &st), 0, "stat /", __LINE__);
	pthread_mutex_lock(&p->lock);
	fmsgs = minor < 16 ? p->forget_msgs : p->batch_msgs;
	pthread_mutex_unlock(&p->lock);
	checkf(fmsgs >= 1, __LINE__, "no %s before disconnect after 600 lookups of "
	    "300 nodes", minor < 16 ? "FORGET" : "BATCH_FORGET");
	check_eq((long long)perfuse_conn_lookups(c), (long long)peer_refs(p),
	    "perfuse_conn_lookups = references still held by the peer's count", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

/* ------------------------------------------------------------------ */
/* (b) CREATE without a LOOKUP before it; ENOSYS latching of CREATE.   */

/* A round trip: the peer has handled everything sent before it. */
static void
sync_peer(perfuse_conn *c, int line)
{
	struct statvfs sv;

	check_eq(perfuse_statfs(c, "/", &sv), 0, "statfs (a round trip)", line);
}

static void
test_create(unsigned minor, int enosys, int disable_env, int ttl)
{
	struct peer *p = peer_new(minor);
	perfuse_file *f = NULL, *g = NULL, *x = NULL;
	int nocreate = enosys || disable_env;
	perfuse_conn *c;
	int r;

	group(gname("CREATE at 7.%u: %s, %s", minor, disable_env ?
	    "PERFUSE_OPTIONS=disable_creat" : enosys ? "ENOSYS, then MKNOD+OPEN" :
	    "the server has it", ttl ? "entries cached" : "nothing cached"));
	alarm(30);
	p->create_enosys = enosys;
	p->ev_sec = p->av_sec = ttl ? 1000 : 0;
	if (disable_env)
		setenv("PERFUSE_OPTIONS", "disable_creat", 1);
	c = start(p, __LINE__);
	if (disable_env)
		unsetenv("PERFUSE_OPTIONS");
	if (c == NULL) {
		peer_free(p);
		return;
	}
	r = perfuse_file_open(c, "/f", O_CREAT | O_WRONLY, 0644, &f);
	check_eq(r, 0, "open /f with O_CREAT", __LINE__);
	check(r != 0 || f != NULL, "a file handle", __LINE__);
	check_eq(peer_ops(p, FUSE_CREATE), disable_env ? 0 : 1, "CREATEs after one create",
	    __LINE__);
	if (nocreate) {
		check_eq(peer_ops(p, FUSE_LOOKUP), 1, "a LOOKUP before MKNOD", __LINE__);
		check_eq(peer_ops(p, FUSE_MKNOD), 1, "MKNOD as the fallback", __LINE__);
		check_eq(peer_ops(p, FUSE_OPEN), 1, "OPEN after MKNOD", __LINE__);
		check_eqx(p->last_mknod_mode, S_IFREG | 0644, "MKNOD mode", __LINE__);
	} else {
		/* The point: a new file costs one CREATE, no LOOKUP. */
		check_eq(peer_ops(p, FUSE_LOOKUP), 0, "no LOOKUP before CREATE", __LINE__);
		check_eq(peer_ops(p, FUSE_MKNOD), 0, "no MKNOD", __LINE__);
		check_eq(peer_ops(p, FUSE_OPEN), 0, "no OPEN", __LINE__);
		check_eqx(p->last_create_mode, S_IFREG | 0644, "CREATE mode", __LINE__);
	}
	r = perfuse_file_open(c, "/g", O_CREAT | O_WRONLY, 0644, &g);
	check_eq(r, 0, "open /g with O_CREAT", __LINE__);
	check_eq(peer_ops(p, FUSE_CREATE), disable_env ? 0 : enosys ? 1 : 2,
	    "CREATEs after two creates", __LINE__);
	check_eq(peer_ops(p, FUSE_MKNOD), nocreate ? 2 : 0, "MKNODs", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), nocreate ? 2 : 0, "LOOKUPs", __LINE__);
	/*
	 * An existing file is opened, not created: from its cached entry
	 * when there is one; else a CREATE refused with EEXIST, then LOOKUP
	 * and OPEN (or, without CREATE, LOOKUP and OPEN).
	 */
	if (f != NULL)
		check_eq(perfuse_file_close(f), 0, "close /f", __LINE__);
	f = NULL;
	r = perfuse_file_open(c, "/f", O_CREAT | O_WRONLY, 0644, &f);
	check_eq(r, 0, "open the existing /f with O_CREAT", __LINE__);
	check_eq(peer_ops(p, FUSE_CREATE), disable_env ? 0 : enosys ? 1 : ttl ? 2 : 3,
	    "CREATEs after opening an existing file", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), nocreate ? (ttl ? 2 : 3) : (ttl ? 0 : 1),
	    "LOOKUPs after opening an existing file", __LINE__);
	check_eq(peer_ops(p, FUSE_OPEN), nocreate ? 3 : 1, "OPENs", __LINE__);
	/* O_EXCL: the server's EEXIST is the answer, nothing cached counts. */
	r = perfuse_file_open(c, "/f", O_CREAT | O_EXCL | O_WRONLY, 0644, &x);
	check_eq(r, -EEXIST, "O_EXCL open of the existing /f", __LINE__);
	check(x == NULL, "no handle", __LINE__);
	check_eq(peer_ops(p, FUSE_CREATE), disable_env ? 0 : enosys ? 1 : ttl ? 3 : 4,
	    "CREATEs after an O_EXCL open of an existing file", __LINE__);
	if (f != NULL)
		check_eq(perfuse_file_close(f), 0, "close /f", __LINE__);
	if (g != NULL)
		check_eq(perfuse_file_close(g), 0, "close /g", __LINE__);
	sync_peer(c, __LINE__);
	check_eq(peer_ops(p, FUSE_RELEASE), 3, "RELEASEs", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

static void
test_lookup_creat(void)
{
	struct peer *p = peer_new(38);
	perfuse_file *f = NULL;
	perfuse_conn *c;
	int r;

	group("CREATE: PERFUSE_OPTIONS=lookup_creat looks the name up first");
	alarm(30);
	setenv("PERFUSE_OPTIONS", "lookup_creat", 1);
	c = start(p, __LINE__);
	unsetenv("PERFUSE_OPTIONS");
	if (c == NULL) {
		peer_free(p);
		return;
	}
	r = perfuse_file_open(c, "/f", O_CREAT | O_EXCL | O_WRONLY, 0644, &f);
	check_eq(r, 0, "create /f", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), 1, "LOOKUP before CREATE", __LINE__);
	check_eq(peer_ops(p, FUSE_CREATE), 1, "CREATE", __LINE__);
	if (f != NULL)
		check_eq(perfuse_file_close(f), 0, "close", __LINE__);
	f = NULL;
	r = perfuse_file_open(c, "/f", O_CREAT | O_EXCL | O_WRONLY, 0644, &f);
	check_eq(r, -EEXIST, "O_EXCL create of the existing /f", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), 2, "found by LOOKUP", __LINE__);
	check_eq(peer_ops(p, FUSE_CREATE), 1, "no CREATE sent for it", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

/* ------------------------------------------------------------------ */
/* (c) Bad replies.                                                      */

static void
test_bad_replies(void)
{
	static const struct {
		int mode;
		int want;
		const char *what;
	} cases[] = {
		{ GA_WRONG_UNIQUE, 0, "a reply with a wrong unique first" },
		{ GA_NOTIFY, 0, "a notification first" },
		{ GA_SHORT, -EIO, "a reply one byte short" },
		{ GA_LONG, -EIO, "a reply one byte long" },
		{ GA_POS_ERR, -EIO, "error +5" },
		{ GA_BIG_ERR, -EIO, "error -5000" },
		{ GA_ERR_PAYLOAD, -EIO, "an error with a payload" },
		{ GA_HDRLEN, -EIO, "an out header len that is not the datagram's" },
		{ GA_ENOENT, -ENOENT, "a plain -ENOENT" },
		{ GA_DUPLICATE, 0, "the reply twice" },
		{ GA_RUNT, 0, "an 8-byte datagram first" },
	};
	struct peer *p = peer_new(38);
	perfuse_conn *c;
	struct stat st;
	size_t i;
	long warned;
	int r;

	group("bad replies: dropped or -EIO, the session goes on");
	alarm(30);
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	pthread_mutex_lock(&log_lock);
	warned = nwarn;
	pthread_mutex_unlock(&log_lock);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pthread_mutex_lock(&p->lock);
		p->getattr_mode = cases[i].mode;
		p->root_size = 4242 + i;
		pthread_mutex_unlock(&p->lock);
		memset(&st, 0, sizeof(st));
		r = perfuse_stat(c, "/", &st);
		checkf(r == cases[i].want, __LINE__, "%s: stat / = %d, want %d",
		    cases[i].what, r, cases[i].want);
		if (cases[i].want == 0)
			checkf(st.st_size == (off_t)(4242 + i), __LINE__,
			    "%s: size %lld, want %zu (the real reply's)", cases[i].what,
			    (long long)st.st_size, 4242 + i);
		/* The next call works. */
		pthread_mutex_lock(&p->lock);
		p->root_size = 777 + i;
		pthread_mutex_unlock(&p->lock);
		r = perfuse_stat(c, "/", &st);
		checkf(r == 0 && st.st_size == (off_t)(777 + i), __LINE__,
		    "after %s: stat / = %d, size %lld", cases[i].what, r,
		    (long long)st.st_size);
	}
	/* Paths still walk. */
	r = perfuse_stat(c, "/a/b", &st);
	check(r == 0 && st.st_size == 12345, "stat /a/b at the end", __LINE__);
	pthread_mutex_lock(&log_lock);
	check(nwarn > warned, "bad replies reported through the log hook", __LINE__);
	pthread_mutex_unlock(&log_lock);
	finish(c, p, __LINE__);
	peer_free(p);
}

/* ------------------------------------------------------------------ */
/* (d) Many requests in flight, answered out of order.                   */

struct worker {
	perfuse_conn *c;
	int idx;
	int calls, errors, wrong, lookups;
	char first[160];
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct stat st;
	char path[32];
	int j;

	for (j = 0; j < 200; j++) {
		int k = (w->idx * 37 + j * 11) % 80, r;
		uint64_t want_size, want_ino;

		if (j % 10 == 9) {
			snprintf(path, sizeof(path), "/a/b");
			want_size = 12345;
			want_ino = 3;
			w->lookups += 2;
		} else {
			snprintf(path, sizeof(path), "/n%d", k);
			want_size = nfile_size(k);
			want_ino = nfile_id(k);
			w->lookups++;
		}
		memset(&st, 0, sizeof(st));
		r = perfuse_stat(w->c, path, &st);
		w->calls++;
		if (r != 0) {
			if (w->errors++ == 0)
				snprintf(w->first, sizeof(w->first), "stat %s: %d", path, r);
		} else if ((uint64_t)st.st_size != want_size || st.st_ino != want_ino ||
		    st.st_mtim.tv_nsec != (long)(222 + want_ino)) {
			if (w->wrong++ == 0 && w->errors == 0)
				snprintf(w->first, sizeof(w->first), "stat %s: size %lld ino "
				    "%llu, want %llu and %llu", path, (long long)st.st_size,
				    (unsigned long long)st.st_ino,
				    (unsigned long long)want_size,
				    (unsigned long long)want_ino);
		}
	}
	return NULL;
}

static void
test_concurrent(int ttl)
{
	struct peer *p = peer_new(38);
	struct worker w[8];
	pthread_t th[8];
	perfuse_conn *c;
	int i, calls = 0, errors = 0, wrong = 0, lookups = 0;
	const char *first = "";

	group(ttl ? "8 threads x 200 stats, answered last-first in batches of 4, "
	    "entries cached for 0.01 s" :
	    "8 threads x 200 stats, answered last-first in batches of 4");
	alarm(120);
	p->batch = 1;
	/* Short: entries expire and are looked up again while others use them. */
	p->ev_nsec = p->av_nsec = ttl ? 10000000 : 0;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	for (i = 0; i < 8; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = c;
		w[i].idx = i;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		calls += w[i].calls;
		errors += w[i].errors;
		wrong += w[i].wrong;
		lookups += w[i].lookups;
		if (*first == '\0' && w[i].first[0] != '\0')
			first = w[i].first;
	}
	check_eq(calls, 1600, "calls made", __LINE__);
	checkf(errors == 0, __LINE__, "%d calls failed; first: %s", errors, first);
	checkf(wrong == 0, __LINE__, "%d calls got another call's attributes; first: %s",
	    wrong, first);
	if (ttl)
		checkf(peer_ops(p, FUSE_LOOKUP) < lookups, __LINE__, "LOOKUPs the peer "
		    "answered: %d of %d", peer_ops(p, FUSE_LOOKUP), lookups);
	else
		check_eq(peer_ops(p, FUSE_LOOKUP), lookups, "LOOKUPs the peer answered",
		    __LINE__);
	pthread_mutex_lock(&p->lock);
	checkf(p->max_batch >= 2, __LINE__, "largest batch answered out of order: %d",
	    p->max_batch);
	pthread_mutex_unlock(&p->lock);
	check_eq((long long)perfuse_conn_lookups(c), (long long)peer_refs(p),
	    "perfuse_conn_lookups = the peer's count", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

/* ------------------------------------------------------------------ */
/* (e) The server goes away.                                             */

struct eofw {
	perfuse_conn *c;
	int r;
};

static void *
eof_main(void *arg)
{
	struct eofw *e = arg;
	struct stat st;

	e->r = perfuse_stat(e->c, "/", &st);
	return NULL;
}

static void
test_eof(void)
{
	struct peer *p;
	perfuse_conn *c;
	perfuse_file *f = NULL;
	struct stat st;
	struct eofw e[4];
	pthread_t th[4];
	int i, r;

	group("server EOF during INIT");
	alarm(30);
	p = peer_new(38);
	p->init_close = 1;
	c = (perfuse_conn *)1;
	r = perfuse_conn_fd(peer_run(p), "test", PERFUSE_CONN_DESTROY, &c);
	check_eq(r, -ENOTCONN, "perfuse_conn_fd", __LINE__);
	check(c == NULL, "no connection returned", __LINE__);
	peer_join(p, __LINE__);
	peer_free(p);

	group("INIT: a reply of the wrong size, major 8, an error");
	p = peer_new(31);
	p->init_bad_size = 1;
	r = perfuse_conn_fd(peer_run(p), "test", PERFUSE_CONN_DESTROY, &c);
	check_eq(r, -EIO, "a 68-byte INIT reply at 7.31", __LINE__);
	check(c == NULL, "no connection returned", __LINE__);
	peer_join(p, __LINE__);
	check_eq(p->destroyed, 0, "no DESTROY after a failed INIT", __LINE__);
	peer_free(p);
	p = peer_new(38);
	p->init_major = 8;
	r = perfuse_conn_fd(peer_run(p), "test", PERFUSE_CONN_DESTROY, &c);
	check_eq(r, -EPROTO, "major 8", __LINE__);
	peer_join(p, __LINE__);
	peer_free(p);
	p = peer_new(38);
	p->init_error = -ENOSYS;
	r = perfuse_conn_fd(peer_run(p), "test", PERFUSE_CONN_DESTROY, &c);
	check_eq(r, -ENOSYS, "INIT refused with -ENOSYS", __LINE__);
	peer_join(p, __LINE__);
	peer_free(p);

	group("server EOF with one call in flight");
	p = peer_new(38);
	if ((c = start(p, __LINE__)) != NULL) {
		r = perfuse_stat(c, "/a/b", &st);
		check_eq(r, 0, "stat /a/b before", __LINE__);
		pthread_mutex_lock(&p->lock);
		p->eof_on = FUSE_GETATTR;
		pthread_mutex_unlock(&p->lock);
		r = perfuse_stat(c, "/", &st);
		check_eq(r, -ENOTCONN, "stat / as the server hangs up", __LINE__);
		r = perfuse_stat(c, "/a/b", &st);
		check_eq(r, -ENOTCONN, "stat /a/b afterwards", __LINE__);
		r = perfuse_file_open(c, "/big", O_RDONLY, 0, &f);
		check_eq(r, -ENOTCONN, "open afterwards", __LINE__);
		perfuse_disconnect(c);
		peer_join(p, __LINE__);
	}
	peer_free(p);

	group("server EOF with four threads waiting");
	p = peer_new(38);
	if ((c = start(p, __LINE__)) != NULL) {
		pthread_mutex_lock(&p->lock);
		p->eof_on = FUSE_GETATTR;
		pthread_mutex_unlock(&p->lock);
		for (i = 0; i < 4; i++) {
			e[i].c = c;
			e[i].r = 1;
			pthread_create(&th[i], NULL, eof_main, &e[i]);
		}
		for (i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			checkf(e[i].r == -ENOTCONN, __LINE__, "thread %d: %d, want -ENOTCONN",
			    i, e[i].r);
		}
		r = perfuse_stat(c, "/n1", &st);
		check_eq(r, -ENOTCONN, "a later call", __LINE__);
		perfuse_disconnect(c);
		peer_join(p, __LINE__);
	}
	peer_free(p);
}

/* ------------------------------------------------------------------ */
/* (f) pread larger than max_read.                                       */

static void
test_pread(unsigned minor, uint16_t max_pages)
{
	struct peer *p = peer_new(minor);
	struct perfuse_conn_info info;
	perfuse_file *f = NULL;
	perfuse_conn *c;
	unsigned char *buf = malloc(BIG_SIZE + 4096);
	uint32_t mr;
	ssize_t n;
	size_t i, bad;
	int k, r;

	group(gname("pread across several READs at 7.%u (max_pages %u)", minor, max_pages));
	alarm(30);
	p->max_pages = max_pages;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		free(buf);
		return;
	}
	perfuse_conn_get_info(c, &info);
	mr = max_pages != 0 && minor >= 28 ? max_pages * 4096u : 32 * 4096u;
	check_eq(info.max_read, mr, "max_read", __LINE__);
	pthread_mutex_lock(&p->lock);
	p->expect_max_read = info.max_read;
	pthread_mutex_unlock(&p->lock);
	r = perfuse_file_open(c, "/big", O_RDONLY, 0, &f);
	if (!check_eq(r, 0, "open /big", __LINE__) || f == NULL) {
		perfuse_disconnect(c);
		peer_join(p, __LINE__);
		peer_free(p);
		free(buf);
		return;
	}

	/* 100000 bytes from offset 5. */
	memset(buf, 0, BIG_SIZE);
	n = perfuse_pread(f, buf, 100000, 5);
	check_eq(n, 100000, "pread 100000 at 5", __LINE__);
	for (i = 0, bad = (size_t)-1; n > 0 && i < (size_t)n; i++)
		if (buf[i] != pattern(5 + i)) {
			bad = i;
			break;
		}
	checkf(bad == (size_t)-1, __LINE__, "byte %zu differs", bad);
	pthread_mutex_lock(&p->lock);
	check_eq(p->nrd, (int)((100000 + mr - 1) / mr), "READs", __LINE__);
	for (k = 0, i = 5; k < p->nrd; k++) {
		checkf(p->rd[k].off == i, __LINE__, "READ %d at %llu, want %zu", k,
		    (unsigned long long)p->rd[k].off, i);
		checkf(p->rd[k].size <= mr && p->rd[k].size > 0, __LINE__,
		    "READ %d of %u bytes", k, p->rd[k].size);
		i += p->rd[k].size;
	}
	check_eq((long long)i, 100005, "READs cover the range", __LINE__);
	p->nrd = 0;
	pthread_mutex_unlock(&p->lock);

	/* Across the end of the file: short. */
	n = perfuse_pread(f, buf, 50000, 120000);
	check_eq(n, BIG_SIZE - 120000, "pread across EOF", __LINE__);
	for (i = 0, bad = (size_t)-1; n > 0 && i < (size_t)n; i++)
		if (buf[i] != pattern(120000 + i)) {
			bad = i;
			break;
		}
	checkf(bad == (size_t)-1, __LINE__, "byte %zu differs across EOF", bad);
	/* The whole file at once. */
	n = perfuse_pread(f, buf, BIG_SIZE + 4096, 0);
	check_eq(n, BIG_SIZE, "pread of the whole file", __LINE__);
	for (i = 0, bad = (size_t)-1; n > 0 && i < (size_t)n; i++)
		if (buf[i] != pattern(i)) {
			bad = i;
			break;
		}
	checkf(bad == (size_t)-1, __LINE__, "byte %zu of the whole file differs", bad);
	n = perfuse_pread(f, buf, 100, BIG_SIZE);
	check_eq(n, 0, "pread at EOF", __LINE__);
	n = perfuse_pread(f, buf, 100, BIG_SIZE + 100000);
	check_eq(n, 0, "pread past EOF", __LINE__);
	check_eq(perfuse_file_close(f), 0, "close", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* (g) The dentry and attribute caches.                                  */

static int
lookups_of(struct peer *p, const char *name)
{
	int i, n = 0;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->nlk; i++)
		if (strcmp(p->lk[i].name, name) == 0)
			n++;
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void
test_cache_hits(void)
{
	struct peer *p = peer_new(38);
	perfuse_conn *c;
	struct stat st;
	int r, lk;

	group("cache: a hit within entry_valid and attr_valid asks nothing");
	alarm(30);
	p->ev_sec = p->av_sec = 1000;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	r = perfuse_stat(c, "/a/b", &st);
	check(r == 0 && st.st_size == 12345 && st.st_ino == 3, "stat /a/b", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), 2, "LOOKUPs of a and b", __LINE__);
	r = perfuse_stat(c, "/a/b", &st);
	check(r == 0 && st.st_size == 12345 && st.st_ino == 3 &&
	    st.st_mtim.tv_nsec == 225, "stat /a/b again: the same attributes", __LINE__);
	r = perfuse_stat(c, "a", &st);
	check(r == 0 && st.st_ino == 2 && S_ISDIR(st.st_mode), "stat a", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), 2, "no more LOOKUPs", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 0, "no GETATTR", __LINE__);
	/* The root: one GETATTR, then its attributes are cached too. */
	r = perfuse_stat(c, "/", &st);
	check(r == 0 && st.st_ino == 1, "stat /", __LINE__);
	r = perfuse_stat(c, "/", &st);
	check(r == 0 && st.st_ino == 1, "stat / again", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 1, "one GETATTR of the root", __LINE__);
	/* perfuse_fstat always asks (the benchmark's GETATTR round trip). */
	{
		perfuse_file *f = NULL;

		r = perfuse_file_open(c, "/a/b", O_RDONLY, 0, &f);
		check_eq(r, 0, "open /a/b", __LINE__);
		check_eq(peer_ops(p, FUSE_LOOKUP), 2, "open: no LOOKUP", __LINE__);
		if (f != NULL) {
			check_eq(perfuse_fstat(f, &st), 0, "fstat", __LINE__);
			check_eq(peer_ops(p, FUSE_GETATTR), 2, "fstat sends GETATTR",
			    __LINE__);
			check_eq(perfuse_file_close(f), 0, "close", __LINE__);
		}
	}
	/* A reference for each cached entry, no more. */
	sync_peer(c, __LINE__);
	check_eq((long long)peer_refs(p), 2, "references held by the cache", __LINE__);
	check_eq((long long)perfuse_conn_lookups(c), 2, "perfuse_conn_lookups", __LINE__);
	lk = lookups_of(p, "b");
	check_eq(lk, 1, "LOOKUPs of b", __LINE__);
	/* Disconnect forgets what the cache held, before DESTROY. */
	finish(c, p, __LINE__);
	peer_free(p);
}

static void
test_cache_expiry(void)
{
	struct peer *p = peer_new(38);
	perfuse_conn *c;
	struct stat st;
	int r;

	group("cache: expiry of entry_valid_nsec and attr_valid_nsec");
	alarm(30);
	/* 0.2 s, in the nsec fields alone. */
	p->ev_nsec = p->av_nsec = 200000000;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	r = perfuse_stat(c, "/n1", &st);
	check(r == 0 && st.st_ino == nfile_id(1), "stat /n1", __LINE__);
	r = perfuse_stat(c, "/n1", &st);
	check(r == 0 && st.st_ino == nfile_id(1), "stat /n1 at once", __LINE__);
	check_eq(lookups_of(p, "n1"), 1, "one LOOKUP within 0.2 s", __LINE__);
	usleep(300 * 1000);
	r = perfuse_stat(c, "/n1", &st);
	check(r == 0 && st.st_ino == nfile_id(1), "stat /n1 0.3 s later", __LINE__);
	check_eq(lookups_of(p, "n1"), 2, "a LOOKUP once the entry expired", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 0, "no GETATTR (the LOOKUP's attributes)",
	    __LINE__);
	sync_peer(c, __LINE__);
	check_eq((long long)perfuse_conn_lookups(c), (long long)peer_refs(p),
	    "perfuse_conn_lookups = the peer's count", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);

	group("cache: attributes expire before the entry: GETATTR, no LOOKUP");
	p = peer_new(38);
	p->ev_sec = 1000;
	p->av_nsec = 200000000;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	r = perfuse_stat(c, "/n2", &st);
	check(r == 0 && st.st_size == (off_t)nfile_size(2), "stat /n2", __LINE__);
	usleep(300 * 1000);
	pthread_mutex_lock(&p->lock);
	p->node[nfile_id(2)].size = 4242;
	pthread_mutex_unlock(&p->lock);
	r = perfuse_stat(c, "/n2", &st);
	check(r == 0 && st.st_size == 4242, "stat /n2 0.3 s later: new attributes",
	    __LINE__);
	check_eq(lookups_of(p, "n2"), 1, "one LOOKUP", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 1, "one GETATTR", __LINE__);
	r = perfuse_stat(c, "/n2", &st);
	check(r == 0 && st.st_size == 4242, "stat /n2 again", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 1, "the GETATTR's attributes cached", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

static void
test_cache_negative(void)
{
	struct peer *p = peer_new(38);
	perfuse_file *f = NULL;
	perfuse_conn *c;
	struct stat st;
	int r;

	group("cache: negative entries (nodeid 0 with entry_valid), not -ENOENT");
	alarm(30);
	p->ev_sec = p->av_sec = 1000;
	p->negative = 1;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	check_eq(perfuse_stat(c, "/nothing", &st), -ENOENT, "stat /nothing", __LINE__);
	check_eq(perfuse_stat(c, "/nothing", &st), -ENOENT, "stat /nothing again",
	    __LINE__);
	check_eq(perfuse_stat(c, "/nothing/x", &st), -ENOENT, "stat /nothing/x", __LINE__);
	check_eq(lookups_of(p, "nothing"), 1, "one LOOKUP: the negative entry cached",
	    __LINE__);
	/* Created here: the negative entry gives way to the new file. */
	r = perfuse_file_open(c, "/nothing", O_CREAT | O_RDWR, 0600, &f);
	check_eq(r, 0, "create /nothing", __LINE__);
	check_eq(lookups_of(p, "nothing"), 1, "CREATE without a LOOKUP", __LINE__);
	if (f != NULL)
		check_eq(perfuse_file_close(f), 0, "close", __LINE__);
	r = perfuse_stat(c, "/nothing", &st);
	check(r == 0 && S_ISREG(st.st_mode), "stat /nothing after the create", __LINE__);
	check_eq(lookups_of(p, "nothing"), 1, "from the entry CREATE returned", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);

	group("cache: -ENOENT is no negative entry");
	p = peer_new(38);
	p->ev_sec = p->av_sec = 1000;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	check_eq(perfuse_stat(c, "/nothing", &st), -ENOENT, "stat /nothing", __LINE__);
	check_eq(perfuse_stat(c, "/nothing", &st), -ENOENT, "stat /nothing again",
	    __LINE__);
	check_eq(lookups_of(p, "nothing"), 2, "a LOOKUP each time", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

static void
test_cache_inval(void)
{
	struct peer *p = peer_new(38);
	perfuse_conn *c;
	struct stat st;
	int r;

	group("cache: unlink and rename through the connection invalidate");
	alarm(30);
	p->ev_sec = p->av_sec = 1000;
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	check_eq(perfuse_stat(c, "/n1", &st), 0, "stat /n1", __LINE__);
	check_eq(perfuse_unlink(c, "/n1"), 0, "unlink /n1", __LINE__);
	check_eq(lookups_of(p, "n1"), 1, "unlink of a cached name: no LOOKUP", __LINE__);
	check_eq(perfuse_stat(c, "/n1", &st), -ENOENT, "stat /n1 after unlink", __LINE__);
	check_eq(lookups_of(p, "n1"), 2, "the entry went with the unlink", __LINE__);

	check_eq(perfuse_stat(c, "/n2", &st), 0, "stat /n2", __LINE__);
	check_eq(perfuse_stat(c, "/n3", &st), 0, "stat /n3", __LINE__);
	check_eq(perfuse_rename(c, "/n2", "/n3", 0), 0, "rename /n2 over /n3", __LINE__);
	check_eq(perfuse_stat(c, "/n2", &st), -ENOENT, "stat /n2 after rename", __LINE__);
	r = perfuse_stat(c, "/n3", &st);
	check(r == 0 && st.st_ino == nfile_id(2), "stat /n3: the file that was /n2",
	    __LINE__);

	/* Notifications from the server. */
	check_eq(perfuse_stat(c, "/n4", &st), 0, "stat /n4", __LINE__);
	check_eq(perfuse_stat(c, "/n5", &st), 0, "stat /n5", __LINE__);
	check_eq(perfuse_stat(c, "/n6", &st), 0, "stat /n6", __LINE__);
	pthread_mutex_lock(&p->lock);
	p->notify_code = FUSE_NOTIFY_INVAL_ENTRY;
	p->notify_parent = 1;
	snprintf(p->notify_name, sizeof(p->notify_name), "n4");
	pthread_mutex_unlock(&p->lock);
	sync_peer(c, __LINE__);
	check_eq(perfuse_stat(c, "/n4", &st), 0, "stat /n4 after INVAL_ENTRY", __LINE__);
	check_eq(lookups_of(p, "n4"), 2, "INVAL_ENTRY: a new LOOKUP", __LINE__);
	pthread_mutex_lock(&p->lock);
	p->notify_code = FUSE_NOTIFY_INVAL_INODE;
	p->notify_child = nfile_id(5);
	p->node[nfile_id(5)].size = 777;
	pthread_mutex_unlock(&p->lock);
	sync_peer(c, __LINE__);
	r = perfuse_stat(c, "/n5", &st);
	check(r == 0 && st.st_size == 777, "stat /n5 after INVAL_INODE: new size",
	    __LINE__);
	check_eq(lookups_of(p, "n5"), 1, "INVAL_INODE: no LOOKUP", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 1, "INVAL_INODE: a GETATTR", __LINE__);
	pthread_mutex_lock(&p->lock);
	p->notify_code = FUSE_NOTIFY_DELETE;
	p->notify_parent = 1;
	p->notify_child = nfile_id(6);
	snprintf(p->notify_name, sizeof(p->notify_name), "n6");
	p->node[nfile_id(6)].parent = 0;
	pthread_mutex_unlock(&p->lock);
	sync_peer(c, __LINE__);
	check_eq(perfuse_stat(c, "/n6", &st), -ENOENT, "stat /n6 after DELETE", __LINE__);
	check_eq(lookups_of(p, "n6"), 2, "DELETE: a new LOOKUP", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

static void
test_cache_lru(void)
{
	struct peer *p = peer_new(38);
	perfuse_conn *c;
	struct stat st;
	char path[32];
	int i, bad = 0, fmsgs;

	group("cache: cache_entries=16 bounds the entries and their references");
	alarm(30);
	p->ev_sec = p->av_sec = 1000;
	setenv("PERFUSE_OPTIONS", "cache_entries=16", 1);
	c = start(p, __LINE__);
	unsetenv("PERFUSE_OPTIONS");
	if (c == NULL) {
		peer_free(p);
		return;
	}
	for (i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "/n%d", i);
		if (perfuse_stat(c, path, &st) != 0 || st.st_ino != nfile_id(i))
			bad++;
	}
	check_eq(bad, 0, "stats with wrong results", __LINE__);
	check_eq((long long)perfuse_conn_lookups(c), (long long)peer_refs(p),
	    "perfuse_conn_lookups = the peer's count", __LINE__);
	sync_peer(c, __LINE__);
	pthread_mutex_lock(&p->lock);
	fmsgs = p->batch_msgs;
	pthread_mutex_unlock(&p->lock);
	checkf(fmsgs >= 1, __LINE__, "evicted entries forgotten during the session");
	/* The last 16 are cached, the first ones not. */
	check_eq(peer_ops(p, FUSE_LOOKUP), NFILES, "one LOOKUP each", __LINE__);
	check_eq(perfuse_stat(c, "/n299", &st), 0, "stat /n299", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), NFILES, "the last one still cached", __LINE__);
	check_eq(perfuse_stat(c, "/n0", &st), 0, "stat /n0", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), NFILES + 1, "the first one evicted", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);

	group("cache: cache_entries=0 caches nothing");
	p = peer_new(38);
	p->ev_sec = p->av_sec = 1000;
	setenv("PERFUSE_OPTIONS", "cache_entries=0", 1);
	c = start(p, __LINE__);
	unsetenv("PERFUSE_OPTIONS");
	if (c == NULL) {
		peer_free(p);
		return;
	}
	check_eq(perfuse_stat(c, "/a/b", &st), 0, "stat /a/b", __LINE__);
	check_eq(perfuse_stat(c, "/a/b", &st), 0, "stat /a/b again", __LINE__);
	check_eq(peer_ops(p, FUSE_LOOKUP), 4, "LOOKUPs", __LINE__);
	check_eq(perfuse_stat(c, "/", &st), 0, "stat /", __LINE__);
	check_eq(perfuse_stat(c, "/", &st), 0, "stat / again", __LINE__);
	check_eq(peer_ops(p, FUSE_GETATTR), 2, "GETATTRs", __LINE__);
	finish(c, p, __LINE__);
	peer_free(p);
}

/* ------------------------------------------------------------------ */
/* PERFUSE_OPTIONS spin=US: replies found by polling or by sleeping.      */

static void
test_spin(void)
{
	static const char *const opts[] = { "spin=0", "spin=1", "spin=1000", "spin=abc",
		"spin=-5", "spin=1001" };
	static const int warns[] = { 0, 0, 0, 1, 1, 1 };
	unsigned k;

	for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		struct peer *p = peer_new(38);
		perfuse_conn *c;
		struct stat st;
		static char titles[sizeof(opts) / sizeof(opts[0])][96];  /* group keeps it */
		int i, bad = 0, w0;

		snprintf(titles[k], sizeof(titles[k]), "PERFUSE_OPTIONS %s: 200 GETATTRs, "
		    "each answered", opts[k]);
		group(titles[k]);
		alarm(30);
		pthread_mutex_lock(&log_lock);
		w0 = nwarn;
		pthread_mutex_unlock(&log_lock);
		setenv("PERFUSE_OPTIONS", opts[k], 1);
		c = start(p, __LINE__);
		unsetenv("PERFUSE_OPTIONS");
		if (c == NULL) {
			peer_free(p);
			continue;
		}
		pthread_mutex_lock(&log_lock);
		check_eq(nwarn - w0, warns[k], "warnings about the option", __LINE__);
		pthread_mutex_unlock(&log_lock);
		/* No attribute cache (the peer's attr_valid is 0): a GETATTR each. */
		for (i = 0; i < 200; i++)
			if (perfuse_stat(c, "/", &st) != 0 || st.st_ino != 1)
				bad++;
		check_eq(bad, 0, "stats that failed or were wrong", __LINE__);
		check_eq(peer_ops(p, FUSE_GETATTR), 200, "GETATTRs", __LINE__);
		finish(c, p, __LINE__);
		peer_free(p);
	}
}

/* ------------------------------------------------------------------ */
/* (h) RELEASE without waiting for its reply.                             */

struct discw {
	perfuse_conn *c;
	int r, done;
};

static void *
disconnect_main(void *arg)
{
	struct discw *d = arg;

	d->r = perfuse_disconnect(d->c);
	__atomic_store_n(&d->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void
test_async_release(void)
{
	struct peer *p = peer_new(38);
	perfuse_file *f = NULL;
	perfuse_dir *d = NULL;
	struct discw dw;
	pthread_t th;
	perfuse_conn *c;
	long warned;
	int r;

	group("RELEASE: close returns after FLUSH, the reply is dropped when it comes");
	alarm(30);
	if ((c = start(p, __LINE__)) == NULL) {
		peer_free(p);
		return;
	}
	pthread_mutex_lock(&log_lock);
	warned = nwarn;
	pthread_mutex_unlock(&log_lock);
	/* The peer keeps RELEASE replies: a close that waited would hang. */
	pthread_mutex_lock(&p->lock);
	p->release_hold = 1;
	pthread_mutex_unlock(&p->lock);
	r = perfuse_file_open(c, "/big", O_RDONLY, 0, &f);
	check_eq(r, 0, "open /big", __LINE__);
	if (f != NULL)
		check_eq(perfuse_file_close(f), 0, "close while RELEASE is unanswered",
		    __LINE__);
	sync_peer(c, __LINE__);
	check_eq(peer_ops(p, FUSE_RELEASE), 1, "RELEASE sent", __LINE__);
	pthread_mutex_lock(&p->lock);
	check_eq(p->releases_answered, 0, "and not answered yet", __LINE__);
	/* The handle's node is not forgotten before its RELEASE is answered. */
	check_eq((long long)p->forgot[4], 0, "no FORGET of /big yet", __LINE__);
	pthread_mutex_unlock(&p->lock);
	/* FLUSH errors are still close's. */
	pthread_mutex_lock(&p->lock);
	p->flush_err = -EIO;
	pthread_mutex_unlock(&p->lock);
	f = NULL;
	r = perfuse_file_open(c, "/n1", O_RDONLY, 0, &f);
	check_eq(r, 0, "open /n1", __LINE__);
	if (f != NULL)
		check_eq(perfuse_file_close(f), -EIO, "close returns FLUSH's -EIO",
		    __LINE__);
	/* Disconnect waits for the RELEASE replies before FORGET and DESTROY. */
	dw.c = c;
	dw.r = 1;
	dw.done = 0;
	pthread_create(&th, NULL, disconnect_main, &dw);
	usleep(100 * 1000);
	check_eq(__atomic_load_n(&dw.done, __ATOMIC_SEQ_CST), 0,
	    "disconnect waits for the RELEASE replies", __LINE__);
	pthread_mutex_lock(&p->lock);
	check_eq(p->destroyed, 0, "no DESTROY before the RELEASE replies", __LINE__);
	check_eq((long long)p->forgot[4], 0, "no FORGET of /big before its RELEASE reply",
	    __LINE__);
	pthread_mutex_unlock(&p->lock);
	if (write(p->wakefd[1], "x", 1) != 1)
		check(0, "write to the peer's wakefd", __LINE__);
	pthread_join(th, NULL);
	check_eq(dw.r, 0, "perfuse_disconnect", __LINE__);
	peer_join(p, __LINE__);
	check_forgets(p, 1, __LINE__);
	check_eq(p->releases_answered, 2, "both RELEASEs answered", __LINE__);
	pthread_mutex_lock(&log_lock);
	check_eq(nwarn, warned, "no warning for the replies nobody waited for", __LINE__);
	pthread_mutex_unlock(&log_lock);
	peer_free(p);
	(void)d;
}

int
main(void)
{
	static const unsigned minors[] = { 8, 12, 16, 19, 23, 31, 38, 45 };
	size_t i;

	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	perfuse_set_log(quiet_log, NULL);
	unsetenv("PERFUSE_OPTIONS");
	unsetenv("PERFUSE_BUFSIZE");

	for (i = 0; i < sizeof(minors) / sizeof(minors[0]); i++)
		test_minor(minors[i]);
	test_forget_batches(12);
	test_forget_batches(38);
	test_create(38, 0, 0, 0);
	test_create(38, 1, 0, 0);
	test_create(8, 1, 0, 0);
	test_create(12, 0, 0, 0);
	test_create(38, 0, 1, 0);
	test_create(38, 0, 0, 1);
	test_create(38, 1, 0, 1);
	test_lookup_creat();
	test_bad_replies();
	test_concurrent(0);
	test_concurrent(1);
	test_eof();
	test_pread(38, 8);
	test_pread(31, 0);
	test_pread(8, 0);
	test_cache_hits();
	test_cache_expiry();
	test_cache_negative();
	test_cache_inval();
	test_cache_lru();
	test_async_release();
	test_spin();
	alarm(0);
	return unit_done("test_session");
}
