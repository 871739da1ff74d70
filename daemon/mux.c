/*
 * mux.c - the multiplexer: one FUSE server per mount, any number of
 * clients.
 *
 * Every client request gets a fresh server unique and the caller's real
 * credentials; the reply goes back under the client's own unique.  What
 * the server hands out is charged to the client that received it: lookup
 * references (LOOKUP, CREATE, MKNOD, MKDIR, SYMLINK, LINK, READDIRPLUS
 * entries) and file handles (OPEN, OPENDIR, CREATE).  When a client goes
 * away, perfused RELEASEs its handles and FORGETs its references, so the
 * server always sees balanced counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "frame.h"
#include "log.h"
#include "perfused.h"
#include "sock.h"
#include "trace.h"

#define DEFAULT_INIT_TIMEOUT 30
#define DEFAULT_TIMEOUT 60      /* seconds a request may take the server */
#define MAX_INFLIGHT 1024       /* requests in flight per client */
#define TERM_GRACE 10   /* seconds from DESTROY to SIGTERM */
#define KILL_GRACE 5    /* seconds from SIGTERM to SIGKILL */
#define DRAIN_GRACE 2   /* seconds from unmount to DESTROY, at most */

static void server_event(struct daemon *d, struct endpoint *ep, uint32_t events);
static void stderr_event(struct daemon *d, struct endpoint *ep, uint32_t events);
static void mount_dead(struct daemon *d, struct mount *m, const char *why);
static void maybe_destroy(struct daemon *d, struct mount *m, int force);
static void signal_fs(struct mount *m, int sig);

struct mount *
mount_find(struct daemon *d, const char *target)
{
	struct mount *m;

	for (m = d->mounts; m != NULL; m = m->next)
		if (strcmp(m->target, target) == 0 && m->state != M_DEAD)
			return m;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Sending to the server.                                                */

/* The request is answered (or will never be): its client may send more. */
static void
pend_settle(struct pend *p)
{
	if (p->c != NULL && !p->timed_out && p->c->inflight > 0)
		p->c->inflight--;
}

static void
pend_free(struct pend *p)
{
	if (p != NULL) {
		free(p->names);
		free(p->msg);
	}
	free(p);
}

static uint64_t
new_unique(struct mount *m)
{
	uint64_t u = m->next_unique;

	/* Even uniques: odd ones are interrupts of their even neighbour. */
	m->next_unique += 2;
	return u;
}

static int
to_server(struct daemon *d, struct mount *m, const void *buf, size_t len)
{
	int err = send_or_queue(d, &m->ep, &m->out, buf, len);

	if (err == -ENOBUFS)
		pf_warn("%s: the filesystem stopped reading its requests", m->target);
	return err;
}

/*
 * A request perfused makes itself.  Its reply is dropped, or with hold
 * (perm.c's checks) goes to perm_lookup_done; those carry the ids of the
 * client they are for, translated after a restart as a client's are.
 */
static int
request_of_own(struct daemon *d, struct mount *m, uint32_t opcode, uint64_t nodeid,
    const void *body, size_t blen, void *hold)
{
	char buf[PF_IN_HDR + 1024 + 1];
	struct fuse_in_header h;
	struct pend *p = NULL;
	struct u64slot *s;

	/* A permission check asks a ready server only (not in INIT or a restart). */
	if (blen > sizeof(buf) - PF_IN_HDR || m->ep.fd < 0 ||
	    (hold != NULL && m->state != M_READY))
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)(PF_IN_HDR + blen);
	h.opcode = opcode;
	h.unique = new_unique(m);
	h.nodeid = nodeid;
	if (pf_op(opcode)->out != PF_OUT_NOREPLY) {
		p = calloc(1, sizeof(*p));
		s = p ? map_put(&m->pending, h.unique) : NULL;
		if (s == NULL) {
			free(p);
			return -ENOMEM;
		}
		p->opcode = opcode;
		p->nodeid = nodeid;
		p->perm_hold = hold;
		if (hold != NULL)
			p->limit = pf_reply_limit(opcode, m->p.minor, body, blen);
		s->v1 = (uint64_t)(uintptr_t)p;
	}
	memcpy(buf, &h, sizeof(h));
	if (blen > 0)
		memcpy(buf + PF_IN_HDR, body, blen);
	dbg(d, DBG_OPS, "%s: -> %s node %llu (perfused)", m->target, pf_op_name(opcode),
	    (unsigned long long)nodeid);
	if (hold == NULL)
		return to_server(d, m, buf, h.len);  /* a lost reply times out */
	if ((m->rs != NULL && rs_xlate_request(m, buf, h.len) != 0) ||
	    to_server(d, m, buf, h.len) < 0) {
		/* The check's caller learns now; nothing waits for it. */
		map_del(&m->pending, map_get(&m->pending, h.unique));
		free(p);
		return -EIO;
	}
	return 0;
}

static int
internal_request(struct daemon *d, struct mount *m, uint32_t opcode, uint64_t nodeid,
    const void *body, size_t blen)
{
	return request_of_own(d, m, opcode, nodeid, body, blen, NULL);
}

/* FORGET a batch of the server's references, in BATCH_FORGETs from 7.16. */
void
mux_forget_raw(struct daemon *d, struct mount *m, const struct fuse_forget_one *v, size_t n)
{
	char buf[PF_IN_HDR + 8 + 256 * 16];
	size_t i, k;

	if (m->p.minor < 16) {
		for (i = 0; i < n; i++)
			internal_request(d, m, FUSE_FORGET, v[i].nodeid, &v[i].nlookup, 8);
		return;
	}
	for (i = 0; i < n; i += k) {
		struct fuse_in_header h;
		struct fuse_batch_forget_in b;

		k = n - i < 256 ? n - i : 256;
		memset(&h, 0, sizeof(h));
		h.len = (uint32_t)(PF_IN_HDR + sizeof(b) + k * 16);
		h.opcode = FUSE_BATCH_FORGET;
		h.unique = new_unique(m);
		b.count = (uint32_t)k;
		b.dummy = 0;
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + PF_IN_HDR, &b, sizeof(b));
		memcpy(buf + PF_IN_HDR + sizeof(b), v + i, k * 16);
		to_server(d, m, buf, h.len);
	}
	dbg(d, DBG_NODES, "%s: forgot %zu nodes", m->target, n);
}

/* Give back references the clients held (with -o restart, through its books). */
static void
forget_many(struct daemon *d, struct mount *m, const struct fuse_forget_one *v, size_t n)
{
	struct fuse_forget_one *w;
	size_t i, k = 0;

	if (m->rs == NULL) {
		mux_forget_raw(d, m, v, n);
		return;
	}
	w = calloc(n + 1, sizeof(*w));
	if (w == NULL)
		return;
	for (i = 0; i < n; i++) {
		uint64_t srv, send = rs_forget(m, v[i].nodeid, v[i].nlookup, &srv);

		if (send > 0 && srv != 0) {
			w[k].nodeid = srv;
			w[k++].nlookup = send;
		}
	}
	if (k > 0 && (m->state == M_READY || m->state == M_UNMOUNTING ||
	    m->state == M_RESTARTING))
		mux_forget_raw(d, m, w, k);
	free(w);
}

static void
forget_one(struct daemon *d, struct mount *m, uint64_t nodeid, uint64_t n)
{
	struct fuse_forget_one f = { nodeid, n };

	forget_many(d, m, &f, 1);
}

void
mux_release_raw(struct daemon *d, struct mount *m, uint64_t nodeid, uint64_t fh,
    uint32_t opcode)
{
	struct fuse_release_in in;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	internal_request(d, m, opcode, nodeid, &in, sizeof(in));
}

/* Release a handle a client held (with -o restart, through its books). */
static void
release_fh(struct daemon *d, struct mount *m, uint64_t nodeid, uint64_t fh,
    uint32_t opcode)
{
	if (m->rs != NULL) {
		uint64_t sfh, sn = nodeid;

		if (!rs_released(m, fh, &sfh))
			return;  /* the server never opened it */
		if (m->rs->xlate && nodeid != PF_ROOT_ID) {
			struct u64slot *x = map_get(&m->rs->n_c2s, nodeid);

			sn = x != NULL ? x->v1 : 0;
		}
		fh = sfh;
		nodeid = sn;
	}
	mux_release_raw(d, m, nodeid, fh, opcode);
}

/* ------------------------------------------------------------------ */
/* What clients hold.                                                    */

static void
credit_node(struct daemon *d, struct mount *m, struct conn *c, uint64_t nodeid)
{
	struct u64slot *s;

	if (nodeid == 0 || nodeid == PF_ROOT_ID)
		return;
	if (m->rs != NULL)
		rs_credit(m, nodeid);
	s = c != NULL ? map_put(&c->nodes, nodeid) : NULL;
	if (s == NULL) {
		forget_one(d, m, nodeid, 1);  /* nobody to hold it */
		return;
	}
	s->v1++;
}

static void
credit_fh(struct daemon *d, struct mount *m, struct conn *c, uint64_t nodeid,
    uint64_t fh, uint32_t opcode, uint32_t oflags)
{
	uint32_t rel = opcode == FUSE_OPENDIR ? FUSE_RELEASEDIR : FUSE_RELEASE;
	struct u64slot *s;

	if (m->rs != NULL)
		rs_opened(m, fh, nodeid, oflags, opcode);
	s = c != NULL ? map_put(&c->fhs, fh) : NULL;

	if (s == NULL) {
		release_fh(d, m, nodeid, fh, rel);
		return;
	}
	s->v1 = nodeid;
	s->v2 = rel;
	s->v3++;  /* a server may give the same handle to several opens */
}

/* Take up to n references back from c; returns how many it held. */
static uint64_t
debit_node(struct conn *c, uint64_t nodeid, uint64_t n)
{
	struct u64slot *s = map_get(&c->nodes, nodeid);

	if (s == NULL)
		return 0;
	if (n >= s->v1) {
		n = s->v1;
		map_del(&c->nodes, s);
	} else {
		s->v1 -= n;
	}
	return n;
}

struct plus_ctx {
	struct daemon *d;
	struct mount *m;
	struct conn *c;
	int forget;        /* give the references back instead */
	uint64_t parent;
};

static int
plus_entry(const struct pf_dirent_view *v, void *arg)
{
	struct plus_ctx *x = arg;
	uint64_t nodeid = v->entry->nodeid;

	/* Rule: "." and ".." and nodeid 0 carry no reference. */
	if (nodeid == 0 || (v->namelen == 1 && v->name[0] == '.') ||
	    (v->namelen == 2 && v->name[0] == '.' && v->name[1] == '.'))
		return 0;
	if (x->m->rs != NULL)
		rs_entry(x->m, x->parent, v->name, v->namelen, nodeid);
	if (x->forget)
		forget_one(x->d, x->m, nodeid, 1);
	else
		credit_node(x->d, x->m, x->c, nodeid);
	return 0;
}

void
mux_client_gone(struct daemon *d, struct conn *c)
{
	struct mount *m = c->m, *k;
	struct fuse_forget_one *v;
	size_t i, n = 0;

	for (k = d->mounts; k != NULL; k = k->next)
		if (k->waiter == c)
			k->waiter = NULL;
	for (struct deferred *f = d->deferred; f != NULL; f = f->next)
		if (f->c == c)
			f->c = NULL;
	if (m == NULL)
		return;
	c->m = NULL;
	if (m->kconn == c)
		m->kconn = NULL;
	if (!c->kernel && m->napi > 0)
		m->napi--;
	perm_client_gone(m, c);
	for (i = 0; i < m->pending.cap; i++) {
		struct pend *p = (struct pend *)(uintptr_t)m->pending.slots[i].v1;

		if (m->pending.slots[i].used && p->c == c)
			p->c = NULL;  /* its reply will be settled as orphaned */
	}
	if (m->state != M_READY && m->state != M_UNMOUNTING && m->state != M_RESTARTING)
		return;
	/* Handles first, as the kernel does: a handle may pin its node. */
	for (i = 0; i < c->fhs.cap; i++) {
		uint64_t r;

		if (!c->fhs.slots[i].used)
			continue;
		for (r = 0; r < c->fhs.slots[i].v3 || r == 0; r++)
			release_fh(d, m, c->fhs.slots[i].v1, c->fhs.slots[i].key,
			    (uint32_t)c->fhs.slots[i].v2);
	}
	v = calloc(c->nodes.used + 1, sizeof(*v));
	if (v == NULL)
		return;
	for (i = 0; i < c->nodes.cap; i++) {
		if (!c->nodes.slots[i].used)
			continue;
		v[n].nodeid = c->nodes.slots[i].key;
		v[n++].nlookup = c->nodes.slots[i].v1;
	}
	if (n > 0)
		forget_many(d, m, v, n);
	free(v);
	dbg(d, DBG_NODES, "%s: client pid %d left; released %zu handles, forgot %zu nodes",
	    m->target, (int)c->pid, c->fhs.used, n);
	/* The kernel lets go only when the target was unmounted: so do we. */
	if (c->kernel && (m->state == M_READY || m->state == M_RESTARTING)) {
		pf_info("%s: unmounted from the kernel", m->target);
		mount_unmount(d, m, NULL);
	}
}

/* ------------------------------------------------------------------ */
/* Client requests.                                                      */

static void
reply_err(struct daemon *d, struct conn *c, uint64_t unique, int err)
{
	struct fuse_out_header oh = { sizeof(oh), err, unique };

	if (send_or_queue(d, &c->ep, &c->out, &oh, sizeof(oh)) < 0)
		conn_close(d, c);
}

static void
client_init(struct daemon *d, struct conn *c, const struct fuse_in_header *h,
    const char *body, size_t blen)
{
	char buf[PF_OUT_HDR + sizeof(struct fuse_init_out)];
	struct fuse_out_header oh = { 0, 0, h->unique };
	const char *why;
	size_t olen = 0;
	int r;

	if (c->state != CONN_FUSE_INIT) {
		reply_err(d, c, h->unique, -EPROTO);
		return;
	}
	r = pf_init_answer(body, blen, &c->m->p, PF_INIT_OFFER, buf + PF_OUT_HDR,
	    &olen, &c->p, &why);
	if (r < 0) {
		pf_warn("%s: client pid %d: INIT: %s", c->m->target, (int)c->pid, why);
		reply_err(d, c, h->unique, r);
		return;
	}
	if (r == 0)
		c->state = CONN_FUSE;
	oh.len = (uint32_t)(PF_OUT_HDR + olen);
	memcpy(buf, &oh, sizeof(oh));
	dbg(d, DBG_INIT, "%s: client pid %d INIT 7.%u (asked 7.%u)", c->m->target,
	    (int)c->pid, c->p.minor, c->p.peer_minor);
	if (c->m->ntracers > 0) {
		/* A replay needs the minor the client agreed to. */
		struct pend p;
		char req[PF_IN_HDR + sizeof(struct fuse_init_in)];
		size_t rl = PF_IN_HDR + (blen < sizeof(struct fuse_init_in) ? blen :
		    sizeof(struct fuse_init_in));

		memcpy(req, h, PF_IN_HDR);
		memcpy(req + PF_IN_HDR, body, rl - PF_IN_HDR);
		memset(&p, 0, sizeof(p));
		p.opcode = FUSE_INIT;
		p.start_ns = now_ns();
		trace_msg(d, c->m, PF_TR_REQUEST, c, NULL, req, rl);
		trace_msg(d, c->m, PF_TR_REPLY, c, &p, buf, oh.len);
	}
	if (send_or_queue(d, &c->ep, &c->out, buf, oh.len) < 0)
		conn_close(d, c);
}

static void
client_forget(struct daemon *d, struct conn *c, const struct fuse_in_header *h,
    const char *body)
{
	struct mount *m = c->m;

	if (h->opcode == FUSE_FORGET) {
		struct fuse_forget_in f;
		uint64_t n;

		memcpy(&f, body, sizeof(f));
		n = debit_node(c, h->nodeid, f.nlookup);
		if (n > 0)
			forget_one(d, m, h->nodeid, n);
	} else {
		struct fuse_batch_forget_in b;
		struct fuse_forget_one *v;
		uint32_t i, k = 0;

		memcpy(&b, body, sizeof(b));
		v = calloc(b.count + 1, sizeof(*v));
		if (v == NULL)
			return;
		memcpy(v, body + sizeof(b), (size_t)b.count * sizeof(*v));
		for (i = 0; i < b.count; i++) {
			uint64_t n = debit_node(c, v[i].nodeid, v[i].nlookup);

			if (n > 0) {
				v[k].nodeid = v[i].nodeid;
				v[k++].nlookup = n;
			}
		}
		if (k > 0)
			forget_many(d, m, v, k);
		free(v);
	}
}

/* The pending request of c with a given client unique. */
static struct u64slot *
find_client_pending(struct mount *m, struct conn *c, uint64_t unique)
{
	size_t i;

	for (i = 0; i < m->pending.cap; i++) {
		struct u64slot *s = &m->pending.slots[i];
		struct pend *p = (struct pend *)(uintptr_t)s->v1;

		if (s->used && p->c == c && p->client_unique == unique)
			return s;
	}
	return NULL;
}

static void
client_interrupt(struct daemon *d, struct conn *c, struct fuse_in_header *h, char *buf)
{
	struct fuse_interrupt_in in;
	struct u64slot *s;

	memcpy(&in, buf + PF_IN_HDR, sizeof(in));
	s = find_client_pending(c->m, c, in.unique);
	if (s == NULL || ((struct pend *)(uintptr_t)s->v1)->parked)
		return;  /* already answered, or not sent yet: nothing to interrupt */
	in.unique = s->key;
	h->unique = s->key | 1;
	h->uid = c->uid;
	h->gid = c->gid;
	h->pid = (uint32_t)c->pid;
	memcpy(buf, h, sizeof(*h));
	memcpy(buf + PF_IN_HDR, &in, sizeof(in));
	to_server(d, c->m, buf, h->len);
}

/* A handle the client releases must be one it holds. */
static int
client_release(struct conn *c, const char *body)
{
	struct u64slot *s;
	uint64_t fh;

	memcpy(&fh, body, sizeof(fh));
	s = map_get(&c->fhs, fh);
	if (s == NULL)
		return -EBADF;
	if (s->v3 > 1)
		s->v3--;  /* another open got the same handle */
	else
		map_del(&c->fhs, s);
	return 0;
}

/*
 * Keep the names of a request about a directory entry: once it succeeds,
 * the kernel's cache of them is invalidated (for changes by perfuse's own
 * clients), and a request that times out is reported with its name.
 */
static void
remember_names(struct pend *p, const struct fuse_in_header *h, const char *body,
    size_t blen, unsigned minor)
{
	size_t fixed;

	switch (h->opcode) {
	case FUSE_CREATE: case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK:
	case FUSE_LINK: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME:
	case FUSE_RENAME2: case FUSE_LOOKUP:
		break;
	default:
		return;
	}
	fixed = pf_req_fixed(h->opcode, minor);
	if (blen <= fixed)
		return;
	if (h->opcode == FUSE_RENAME || h->opcode == FUSE_RENAME2)
		memcpy(&p->newdir, body, sizeof(p->newdir));
	p->names = malloc(blen - fixed);
	if (p->names != NULL)
		memcpy(p->names, body + fixed, blen - fixed);
}

/*
 * What a successful change by another client means to the kernel's cache.
 * Returns the ticket of the last notification queued, 0 for none.
 */
static uint64_t
invalidate_kernel(struct mount *m, const struct pend *p, const char *pl, size_t len)
{
	struct conn *k = m->kconn;
	const char *second;
	uint64_t t = 0;

	switch (p->opcode) {
	case FUSE_WRITE:
		if (len >= sizeof(struct fuse_write_out)) {
			struct fuse_write_out wo;

			memcpy(&wo, pl, sizeof(wo));
			kernel_inval_inode(k, p->nodeid);
			/* Only a whole write ends with the byte we kept. */
			if (wo.size == 0 || wo.size != p->wlen)
				return 0;
			return kernel_store_size(k, p->nodeid, p->offset + wo.size,
			    p->last_byte);
		}
		return kernel_inval_inode(k, p->nodeid);
	case FUSE_SETATTR: case FUSE_FALLOCATE:
	case FUSE_COPY_FILE_RANGE: case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
		return kernel_inval_inode(k, p->nodeid);
	case FUSE_OPEN:
		/* O_TRUNC with ATOMIC_O_TRUNC: the server truncated. */
		return (p->offset & O_TRUNC) ? kernel_inval_inode(k, p->nodeid) : 0;
	default:
		break;
	}
	if (p->names == NULL)
		return 0;
	second = p->names + strlen(p->names) + 1;
	switch (p->opcode) {
	case FUSE_SYMLINK:  /* linkname first, then the link's content */
	case FUSE_CREATE: case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_LINK:
	case FUSE_UNLINK: case FUSE_RMDIR:
		kernel_inval_entry(k, p->nodeid, p->names);
		break;
	case FUSE_RENAME: case FUSE_RENAME2:
		kernel_inval_entry(k, p->nodeid, p->names);
		t = kernel_inval_entry(k, p->newdir, second);
		if (p->newdir != p->nodeid)
			t = kernel_inval_inode(k, p->newdir);
		break;
	default:
		return 0;  /* LOOKUP changes nothing */
	}
	t = kernel_inval_inode(k, p->nodeid);
	return t;
}

/*
 * perfuse's own clients (libperfuse) cache names and attributes for as
 * long as the server allows, as the kernel does: a change one client made
 * is told to the others that know the node, as notifications, so that
 * their caches drop it at once (the kernel's is told by
 * invalidate_kernel).  Sent as is; a client whose socket is full misses
 * it and sees the change when its cache expires.
 */
static void
notify_clients(struct daemon *d, struct mount *m, const struct conn *except,
    const void *msg, size_t len, uint64_t node)
{
	struct fuse_out_header oh;
	struct conn *c;
	int32_t code;

	/* The common case on every change: nobody else to tell. */
	if (m->napi == 0 || (m->napi == 1 && except != NULL && !except->kernel))
		return;
	memcpy(&oh, msg, sizeof(oh));
	code = oh.error;
	for (c = d->conns; c != NULL; c = c->next) {
		if (c->m != m || c == except || c->kernel || c->dead ||
		    c->state != CONN_FUSE || c->p.peer_minor < pf_notify_since(code))
			continue;
		if (node != PF_ROOT_ID && map_get(&c->nodes, node) == NULL)
			continue;
		if (c->out.head == NULL)
			(void)ep_send(&c->ep, msg, len);
	}
}

static void
inval_inode_clients(struct daemon *d, struct mount *m, const struct conn *except,
    uint64_t node)
{
	char buf[NOTIFY_INVAL_MAX];

	notify_clients(d, m, except, buf, notify_inval_inode_msg(buf, node), node);
}

static void
inval_entry_clients(struct daemon *d, struct mount *m, const struct conn *except,
    uint64_t parent, const char *name)
{
	char buf[NOTIFY_INVAL_MAX];
	size_t len = notify_inval_entry_msg(buf, parent, name);

	if (len > 0)
		notify_clients(d, m, except, buf, len, parent);
}

/* A successful change by p->c, told to the other clients' caches. */
static void
invalidate_clients(struct daemon *d, struct mount *m, const struct pend *p)
{
	const char *second;

	switch (p->opcode) {
	case FUSE_WRITE: case FUSE_SETATTR: case FUSE_FALLOCATE:
	case FUSE_COPY_FILE_RANGE: case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
		inval_inode_clients(d, m, p->c, p->nodeid);
		return;
	case FUSE_OPEN:
		if (p->offset & O_TRUNC)
			inval_inode_clients(d, m, p->c, p->nodeid);
		return;
	case FUSE_CREATE: case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK:
	case FUSE_LINK: case FUSE_UNLINK: case FUSE_RMDIR:
		if (p->names != NULL)
			inval_entry_clients(d, m, p->c, p->nodeid, p->names);
		inval_inode_clients(d, m, p->c, p->nodeid);
		return;
	case FUSE_RENAME: case FUSE_RENAME2:
		if (p->names == NULL)
			return;
		second = p->names + strlen(p->names) + 1;
		inval_entry_clients(d, m, p->c, p->nodeid, p->names);
		inval_entry_clients(d, m, p->c, p->newdir, second);
		inval_inode_clients(d, m, p->c, p->nodeid);
		if (p->newdir != p->nodeid)
			inval_inode_clients(d, m, p->c, p->newdir);
		return;
	default:
		return;
	}
}

/*
 * Hold a reply back until the kernel heard the invalidations it causes,
 * so that what the API path changed is what the kernel mount shows as
 * soon as the client knows it is done.
 */
static int
defer_reply(struct daemon *d, struct conn *c, const void *buf, size_t len,
    uint64_t ticket)
{
	struct deferred *f = malloc(sizeof(*f) + len);

	if (f == NULL)
		return -ENOMEM;
	f->next = NULL;
	f->ticket = ticket;
	f->c = c;
	f->len = len;
	memcpy(f->data, buf, len);
	if (d->deferred_tail)
		d->deferred_tail->next = f;
	else
		d->deferred = f;
	d->deferred_tail = f;
	return 0;
}

/* The writer wrote notifications up to a ticket: their replies go. */
void
mux_notes_done(struct daemon *d, struct endpoint *ep, uint32_t events)
{
	uint64_t t[64], done = 0;
	ssize_t n;
	int i;

	(void)events;
	while ((n = read(ep->fd, t, sizeof(t))) > 0)
		for (i = 0; i < n / (ssize_t)sizeof(t[0]); i++)
			done = t[i] > done ? t[i] : done;
	while (d->deferred != NULL && d->deferred->ticket <= done) {
		struct deferred *f = d->deferred;

		d->deferred = f->next;
		if (d->deferred == NULL)
			d->deferred_tail = NULL;
		if (f->c != NULL && !f->c->dead &&
		    send_or_queue(d, &f->c->ep, &f->c->out, f->data, f->len) < 0)
			conn_close(d, f->c);
		free(f);
	}
}

static void
client_forward(struct daemon *d, struct conn *c, struct fuse_in_header *h,
    char *buf, size_t len)
{
	const struct pf_opinfo *op = pf_op(h->opcode);
	struct mount *m = c->m;
	struct u64slot *s;
	struct pend *p;
	int op_released = 0;  /* a RELEASE already in the server's ids */
	int err;

	if ((op->flags & PF_OPF_NODE) && h->nodeid != PF_ROOT_ID &&
	    map_get(&c->nodes, h->nodeid) == NULL) {
		dbg(d, DBG_NODES, "%s: pid %d used node %llu it does not hold",
		    m->target, (int)c->pid, (unsigned long long)h->nodeid);
		reply_err(d, c, h->unique, -ESTALE);
		return;
	}
	/* default_permissions: perfused checks its own clients, as the kernel. */
	if (perm_applies(m, c) && c->perm_skip != 1) {
		uint64_t dirs[2];
		const char *names[2];
		int r = perm_check(m, c, h, buf + PF_IN_HDR, len - PF_IN_HDR, dirs, names);

		if (r > 0 && (r = perm_hold(d, m, c, buf, len, r, dirs, names)) == 0)
			return;  /* held until perfused knows the entry's owner */
		if (r < 0) {
			reply_err(d, c, h->unique, r);
			return;
		}
	}
	if ((op->flags & PF_OPF_RELEASE) && client_release(c, buf + PF_IN_HDR) < 0) {
		reply_err(d, c, h->unique, -EBADF);
		return;
	}
	if ((op->flags & PF_OPF_RELEASE) && m->rs != NULL) {
		uint64_t fh, sfh;
		int opened;

		memcpy(&fh, buf + PF_IN_HDR, sizeof(fh));
		opened = rs_released(m, fh, &sfh);
		/* A handle the (new) server never opened: nothing to tell it. */
		if (m->rs->xlate && (!opened || m->state == M_RESTARTING)) {
			if (opened)
				mux_release_raw(d, m, 0, sfh, h->opcode);
			reply_err(d, c, h->unique, 0);
			return;
		}
		if (m->rs->xlate)
			memcpy(buf + PF_IN_HDR, &sfh, sizeof(sfh));
		if (m->rs->xlate && h->nodeid != PF_ROOT_ID) {
			struct u64slot *x = map_get(&m->rs->n_c2s, h->nodeid);

			h->nodeid = x != NULL ? x->v1 : 0;
		}
		op_released = 1;
	}
	/*
	 * Back pressure: a client that floods gets EAGAIN, not our memory.
	 * Not the kernel: EAGAIN would reach a program's read(2) or stat(2);
	 * its requests are bounded by the mount's high marks instead, past
	 * which /dev/fuse is not read (perfused.c, conn_paused).
	 */
	if (c->inflight >= MAX_INFLIGHT && !c->kernel) {
		pf_warn_ratelimit(&m->warned, 10, "%s: client pid %d has %u requests in "
		    "flight; EAGAIN", m->target, (int)c->pid, c->inflight);
		reply_err(d, c, h->unique, -EAGAIN);
		return;
	}
	p = calloc(1, sizeof(*p));
	s = p ? map_put(&m->pending, m->next_unique) : NULL;
	if (s == NULL) {
		free(p);
		reply_err(d, c, h->unique, -ENOMEM);
		return;
	}
	c->inflight++;
	p->start_ns = now_ns();
	if (m->timeout > 0)
		p->deadline = time(NULL) + m->timeout;
	if (m->ntracers > 0)
		trace_msg(d, m, PF_TR_REQUEST, c, NULL, buf, len);
	p->c = c;
	p->client_unique = h->unique;
	p->nodeid = h->nodeid;
	p->opcode = h->opcode;
	p->limit = pf_reply_limit(h->opcode, m->p.minor, buf + PF_IN_HDR, len - PF_IN_HDR);
	if (h->opcode == FUSE_READDIR || h->opcode == FUSE_READDIRPLUS)
		memcpy(&p->offset, buf + PF_IN_HDR + 8, sizeof(p->offset));
	else if (h->opcode == FUSE_WRITE) {
		size_t wfix = pf_req_fixed(FUSE_WRITE, c->p.minor);

		memcpy(&p->offset, buf + PF_IN_HDR + 8, sizeof(p->offset));
		if (len > PF_IN_HDR + wfix) {
			p->last_byte = (uint8_t)buf[len - 1];
			p->wlen = (uint32_t)(len - PF_IN_HDR - wfix);
		}
	}
	else if (h->opcode == FUSE_OPEN) {
		uint32_t oflags;

		memcpy(&oflags, buf + PF_IN_HDR, sizeof(oflags));
		p->offset = oflags;  /* OPEN's flags, for O_TRUNC */
	}
	if (h->opcode == FUSE_OPEN || h->opcode == FUSE_OPENDIR || h->opcode == FUSE_CREATE)
		memcpy(&p->oflags, buf + PF_IN_HDR, sizeof(p->oflags));
	else if (h->opcode == FUSE_RENAME2)
		memcpy(&p->rename_flags, buf + PF_IN_HDR + 8, sizeof(p->rename_flags));
	s->v1 = (uint64_t)(uintptr_t)p;
	remember_names(p, h, buf + PF_IN_HDR, len - PF_IN_HDR, c->p.minor);
	/*
	 * The server sees who really asks, whatever a client wrote; the
	 * kernel's requests carry the real caller already.
	 */
	h->unique = new_unique(m);
	if (!c->kernel) {
		h->uid = c->uid;
		h->gid = c->gid;
		h->pid = (uint32_t)c->pid;
	}
	memcpy(buf, h, sizeof(*h));
	if (m->rs != NULL && !op_released) {
		int r = rs_outgoing(m, p, buf, len);

		if (r == 1)
			return;  /* waits for the restarted server */
		if (r < 0) {
			map_del(&m->pending, map_get(&m->pending, h->unique));
			pend_settle(p);
			reply_err(d, c, p->client_unique, r);
			pend_free(p);
			return;
		}
	}
	dbg(d, DBG_OPS, "%s: -> %s unique %llu node %llu (pid %d)", m->target,
	    op->name, (unsigned long long)h->unique, (unsigned long long)h->nodeid,
	    (int)c->pid);
	if ((err = to_server(d, m, buf, len)) < 0) {
		/*
		 * With -o restart, a socket that fails is a server that died:
		 * a safe request waits for the next one, as if it had been in
		 * flight.
		 */
		if (m->rs != NULL && err == -EPIPE && p->msg != NULL) {
			mount_dead(d, m, "the filesystem's socket failed");
			return;
		}
		map_del(&m->pending, map_get(&m->pending, h->unique));
		pend_settle(p);
		reply_err(d, c, p->client_unique, m->rs != NULL && err == -EPIPE ? -EIO :
		    -ENOTCONN);
		pend_free(p);
		if (m->rs != NULL && err == -EPIPE)
			mount_dead(d, m, "the filesystem's socket failed");
	}
}

void
mux_client_msg(struct daemon *d, struct conn *c, char *buf, size_t len)
{
	struct fuse_in_header h;
	const char *why;
	int err;

	if (c->m == NULL || (c->m->state != M_READY && c->m->state != M_RESTARTING)) {
		conn_close(d, c);
		return;
	}
	if (len < PF_IN_HDR) {
		pf_warn("%s: client pid %d sent a truncated %zu-byte message; "
		    "connection closed", c->m->target, (int)c->pid, len);
		conn_close(d, c);
		return;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.len != len) {
		pf_warn_ratelimit(&c->m->warned, 10, "%s: client pid %d: message length "
		    "field %u for a %zu-byte message", c->m->target, (int)c->pid, h.len, len);
		reply_err(d, c, h.unique, -EINVAL);
		return;
	}
	if (h.opcode == FUSE_INIT) {
		client_init(d, c, &h, buf + PF_IN_HDR, len - PF_IN_HDR);
		return;
	}
	if (c->state != CONN_FUSE) {
		reply_err(d, c, h.unique, -EPROTO);
		return;
	}
	err = pf_check_request(h.opcode, c->p.minor, 0, buf + PF_IN_HDR, len - PF_IN_HDR,
	    &why);
	if (err != 0) {
		if (err != -ENOSYS)
			pf_warn_ratelimit(&c->m->warned, 10, "%s: client pid %d: %s: %s",
			    c->m->target, (int)c->pid, pf_op_name(h.opcode), why);
		if (h.opcode != FUSE_FORGET && h.opcode != FUSE_BATCH_FORGET)
			reply_err(d, c, h.unique, err);
		return;
	}
	if (c->m->ntracers > 0 && (h.opcode == FUSE_FORGET ||
	    h.opcode == FUSE_BATCH_FORGET || h.opcode == FUSE_INTERRUPT))
		trace_msg(d, c->m, PF_TR_REQUEST, c, NULL, buf, len);
	switch (h.opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		client_forget(d, c, &h, buf + PF_IN_HDR);
		break;
	case FUSE_DESTROY:
		/* The server is perfused's to destroy; the client just leaves. */
		reply_err(d, c, h.unique, 0);
		break;
	case FUSE_INTERRUPT:
		client_interrupt(d, c, &h, buf);
		break;
	case FUSE_NOTIFY_REPLY:
		/* The kernel's answer to a server's RETRIEVE goes back as is. */
		if (c->kernel && (c->m->rs == NULL || (c->m->state == M_READY &&
		    rs_xlate_request(c->m, buf, len) == 0)))
			to_server(d, c->m, buf, len);
		break;
	default:
		client_forward(d, c, &h, buf, len);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Replies from the server.                                              */

/*
 * The answer to perfused's LOOKUP for a sticky check: what it handed out
 * is given back at once (in the server's ids, as it came).
 */
static void
perm_lookup_reply(struct daemon *d, struct mount *m, struct pend *p, int32_t error,
    const char *pl, size_t len)
{
	const char *why;
	uint64_t node;

	if (error == 0 && pf_check_reply(p->opcode, m->p.minor, 0, len, p->limit,
	    &why) != 0)
		error = -EIO;
	if (error == 0 && p->opcode == FUSE_LOOKUP) {
		memcpy(&node, pl, sizeof(node));
		if (node != 0) {
			struct fuse_forget_one f = { node, 1 };

			mux_forget_raw(d, m, &f, 1);
		}
	}
	perm_lookup_done(d, m, p, error, pl, len);
}

/* Charge what a good reply hands out to its client. */
static void
account_reply(struct daemon *d, struct mount *m, struct pend *p, const char *pl,
    size_t len)
{
	const struct pf_opinfo *op = pf_op(p->opcode);
	size_t elen = pf_entry_out_size(m->p.minor);
	uint64_t nodeid = p->nodeid, fh;

	if (op->flags & PF_OPF_LOOKUP) {
		memcpy(&nodeid, pl, sizeof(nodeid));
		if (m->rs != NULL && p->names != NULL)
			rs_entry(m, p->nodeid, p->names, strlen(p->names), nodeid);
		credit_node(d, m, p->c, nodeid);
	}
	if (op->flags & PF_OPF_OPENFH) {
		size_t at = (op->flags & PF_OPF_LOOKUP) ? elen : 0;

		if (len >= at + 8) {
			memcpy(&fh, pl + at, sizeof(fh));
			credit_fh(d, m, p->c, nodeid, fh, p->opcode, p->oflags);
		}
	}
	if (p->opcode == FUSE_READDIRPLUS) {
		struct plus_ctx x = { d, m, p->c, p->c == NULL, p->nodeid };
		const char *why;

		pf_walk_dirents(pl, len, 1, m->p.minor, plus_entry, &x, &why);
	}
}

/*
 * The kernel front-end: mount the target on the kernel's FUSE, with the
 * kernel as one more client.  When that is not possible, knote says why
 * and the mount is served to perfuse's own clients only.
 */
static void
attach_kernel(struct daemon *d, struct mount *m)
{
	const char *why = NULL;
	struct conn *k;
	int fd;

	if (m->kflags & KOPT_NOKERNEL)
		return;
	fd = kernel_mount(d, m, &why);
	if (fd < 0) {
		snprintf(m->knote, sizeof(m->knote), "no kernel mount (%s: %s); "
		    "served through perfuse only", why ? why : "mount", strerror(-fd));
		pf_info("%s: %s", m->target, m->knote);
		return;
	}
	k = conn_add(d, fd, 1);
	if (k == NULL) {
		kernel_umount(m);
		close(fd);
		snprintf(m->knote, sizeof(m->knote), "no kernel mount (out of memory)");
		return;
	}
	k->uid = m->uid;
	k->gid = m->gid;
	k->m = m;
	k->state = CONN_FUSE_INIT;
	m->kconn = k;
	pf_info("%s: mounted on the kernel", m->target);
}

static void
init_done(struct daemon *d, struct mount *m, int32_t error, const char *pl, size_t len)
{
	const char *why, *strs[3] = { m->target, "", "" };
	int err;

	if (m->state == M_RESTARTING) {
		rs_init_done(d, m, error, pl, len);
		return;
	}
	err = pf_init_reply(pl, len, error, PF_MINOR_MAX, PF_INIT_OFFER, 128 * 1024,
	    &m->p, &why);
	if (err != 0) {
		char reason[256];

		snprintf(reason, sizeof(reason), "INIT failed: %s", why);
		pf_warn("%s: %s", m->target, reason);
		if (m->waiter != NULL) {
			strs[1] = m->errbuf;
			strs[2] = reason;
			ctl_reply(d, m->waiter, PF_CTL_REPLY, err == -EPROTO ? -EPROTO : -EIO,
			    strs, 3);
			m->waiter = NULL;
		}
		mount_unmount(d, m, NULL);
		return;
	}
	pf_init_limits(&m->p, m->msgmax, &m->max_read);
	m->state = M_READY;
	m->deadline = 0;
	if (m->exited && m->fs_pid == 0)
		m->fs_pid = spawn_socket_owner(m->fs_ino, m->pid);
	pf_info("%s: mounted: %s (FUSE 7.%u, server 7.%u, max_write %u)", m->target,
	    m->command, m->p.minor, m->p.peer_minor, m->p.max_write);
	attach_kernel(d, m);
	if (m->kflags & KOPT_DEFAULT_PERMISSIONS) {
		/* The root's attributes, for perm.c: no LOOKUP ever gives them. */
		struct fuse_getattr_in gin;

		memset(&gin, 0, sizeof(gin));
		(void)internal_request(d, m, FUSE_GETATTR, PF_ROOT_ID, &gin,
		    m->p.minor >= 9 ? sizeof(gin) : 0);
	}
	if (m->waiter != NULL) {
		strs[2] = m->knote[0] ? m->knote : "mounted";
		ctl_reply(d, m->waiter, PF_CTL_REPLY, 0, strs, 3);
		m->waiter = NULL;
	}
}

static void
finish_unmount(struct daemon *d, struct mount *m)
{
	const char *msg[1] = { "unmounted" };

	if (m->waiter != NULL) {
		ctl_reply(d, m->waiter, PF_CTL_REPLY, 0, msg, 1);
		m->waiter = NULL;
	}
	mount_dead(d, m, NULL);
}

/* DESTROY was answered: close our end so the server sees the end. */
static void
destroyed(struct daemon *d, struct mount *m)
{
	ep_forget(d, &m->ep);
	if ((m->fs_pid > 0 && kill(m->fs_pid, 0) == 0) || (!m->exited && m->pid > 0))
		return;  /* wait for the process to go; SIGTERM at the deadline */
	finish_unmount(d, m);
}

struct offset_check {
	const char *base;   /* the listing */
	size_t hdr;         /* bytes before an entry's name */
	size_t good;        /* bytes of whole, good entries so far */
	uint64_t asked;     /* the offset the request asked for */
	int stuck;
};

static int
check_offset(const struct pf_dirent_view *v, void *arg)
{
	struct offset_check *x = arg;

	if (v->off == x->asked) {
		x->stuck = 1;
		return 1;
	}
	x->good = (size_t)(v->name - x->base) - x->hdr +
	    FUSE_DIRENT_ALIGN(x->hdr + v->namelen);
	return 0;
}

/*
 * What the size table cannot see, in every build: entries with a nodeid
 * only LOOKUP may leave 0, impossible file modes, directory listings with
 * bad names or offsets that do not move on (the kernel would loop).
 */
static int
check_payload(struct mount *m, const struct pend *p, const char *pl, size_t *lenp,
    const char **why)
{
	size_t len = *lenp;
	const struct pf_opinfo *op = pf_op(p->opcode);
	struct fuse_entry_out e;
	struct fuse_attr_out a;

	if (op->flags & PF_OPF_LOOKUP) {
		memset(&e, 0, sizeof(e));
		memcpy(&e, pl, len < sizeof(e) ? len : sizeof(e));
		if (e.nodeid == 0 && p->opcode != FUSE_LOOKUP) {
			*why = "a new entry with nodeid 0";
			return -EIO;
		}
		if (e.nodeid != 0 && !pf_mode_valid(e.attr.mode)) {
			*why = "an entry with an impossible file mode";
			return -EIO;
		}
		if (e.nodeid == PF_ROOT_ID && e.generation != 0) {
			*why = "the root's generation changed";
			return -EIO;
		}
	}
	if (p->opcode == FUSE_GETATTR || p->opcode == FUSE_SETATTR) {
		memset(&a, 0, sizeof(a));
		memcpy(&a, pl, len < sizeof(a) ? len : sizeof(a));
		if (!pf_mode_valid(a.attr.mode)) {
			*why = "attributes with an impossible file mode";
			return -EIO;
		}
	}
	if (p->opcode == FUSE_READDIR || p->opcode == FUSE_READDIRPLUS) {
		int plus = p->opcode == FUSE_READDIRPLUS;
		struct offset_check x = { pl, plus ? FUSE_NAME_OFFSET_DIRENTPLUS :
			FUSE_NAME_OFFSET, 0, p->offset, 0 };

		if (pf_walk_dirents(pl, len, plus, m->p.minor, check_offset, &x, why) < 0) {
			/*
			 * As the kernel does: the entries before a bad one are
			 * the listing; a bad first entry is an error.
			 */
			if (x.good == 0 || x.stuck)
				return -EIO;
			pf_warn_ratelimit(&m->warned, 10, "%s: %s: listing cut before a "
			    "bad entry (%s)", m->target, pf_op_name(p->opcode), *why);
			*lenp = x.good;
			*why = NULL;
			return 0;
		}
		if (x.stuck) {
			*why = "a directory entry whose offset does not move on";
			return -EIO;
		}
	}
	return 0;
}

static void
server_reply(struct daemon *d, struct mount *m, const struct fuse_out_header *oh,
    char *buf, size_t n)
{
	uint64_t key = oh->unique & ~1ULL, ticket = 0;
	struct u64slot *s = map_get(&m->pending, key);
	struct fuse_out_header cut;  /* a listing cut before a bad entry */
	struct pend *p;
	const char *why = NULL;
	int err;

	if (s == NULL) {
		/*
		 * An answer to an INTERRUPT of a request already answered
		 * (odd unique) is normal, as the kernel's documentation says.
		 */
		if (oh->unique & 1)
			dbg(d, DBG_OPS, "%s: interrupt answer for a finished request",
			    m->target);
		else
			pf_warn_ratelimit(&m->warned, 10, "%s: reply with unique %llu "
			    "nobody asked for, dropped", m->target,
			    (unsigned long long)oh->unique);
		return;
	}
	p = (struct pend *)(uintptr_t)s->v1;
	if (oh->unique & 1) {
		/*
		 * An answer to an INTERRUPT: EAGAIN means "send it again
		 * later", which the client does when told under its own
		 * interrupt unique (the original's, odd).
		 */
		if (p->c != NULL && oh->error == -EAGAIN)
			reply_err(d, p->c, p->client_unique | 1, -EAGAIN);
		return;
	}
	map_del(&m->pending, s);
	pend_settle(p);
	dbg(d, DBG_OPS, "%s: <- %s unique %llu error %d len %zu", m->target,
	    pf_op_name(p->opcode), (unsigned long long)oh->unique, oh->error, n - PF_OUT_HDR);
	if (p->rs_kind != 0) {
		rs_reply(d, m, p, oh->error, buf + PF_OUT_HDR, n - PF_OUT_HDR);
	} else if (p->perm_hold != NULL) {
		perm_lookup_reply(d, m, p, oh->error, buf + PF_OUT_HDR, n - PF_OUT_HDR);
	} else if (p->timed_out) {
		/* Too late: its client heard ETIMEDOUT.  Give back what it carries. */
		dbg(d, DBG_OPS, "%s: late reply to %s dropped", m->target,
		    pf_op_name(p->opcode));
		if (oh->error == 0 && pf_check_reply(p->opcode, m->p.minor, 0,
		    n - PF_OUT_HDR, p->limit, &why) == 0) {
			if (m->rs != NULL)
				rs_xlate_reply(m, p->opcode, buf + PF_OUT_HDR, n - PF_OUT_HDR);
			account_reply(d, m, p, buf + PF_OUT_HDR, n - PF_OUT_HDR);
		}
		if (p->opcode == FUSE_DESTROY)
			destroyed(d, m);
	} else if (p->opcode == FUSE_INIT) {
		init_done(d, m, oh->error, buf + PF_OUT_HDR, n - PF_OUT_HDR);
	} else if (p->opcode == FUSE_DESTROY) {
		destroyed(d, m);
	} else {
		err = pf_check_reply(p->opcode, m->p.minor, oh->error, n - PF_OUT_HDR,
		    p->limit, &why);
		if (err == 0 && oh->error == 0) {
			size_t pl = n - PF_OUT_HDR;

			err = check_payload(m, p, buf + PF_OUT_HDR, &pl, &why);
			if (err == 0 && pl != n - PF_OUT_HDR) {
				cut = *oh;
				n = PF_OUT_HDR + pl;
				cut.len = (uint32_t)n;
				memcpy(buf, &cut, sizeof(cut));
				oh = &cut;
			}
		}
		trace_remember(m, p, err != 0 ? err : oh->error);
		if (err != 0) {
			pf_warn_ratelimit(&m->warned, 10, "%s: bad reply to %s: %s",
			    m->target, pf_op_name(p->opcode), why);
			if (p->c != NULL && m->ntracers > 0) {
				struct fuse_out_header eh = { sizeof(eh), -EIO, p->client_unique };

				trace_msg(d, m, PF_TR_REPLY, p->c, p, &eh, sizeof(eh));
			}
			if (p->c != NULL)
				reply_err(d, p->c, p->client_unique, -EIO);
		} else {
			if (oh->error == 0 && m->rs != NULL) {
				rs_xlate_reply(m, p->opcode, buf + PF_OUT_HDR, n - PF_OUT_HDR);
				rs_names_changed(m, p->opcode, p->nodeid, p->newdir, p->names,
				    p->rename_flags);
				if (p->opcode == FUSE_FSYNC)
					rs_synced(m, p);
			}
			if (oh->error == 0) {
				account_reply(d, m, p, buf + PF_OUT_HDR, n - PF_OUT_HDR);
				perm_reply(d, m, p, buf + PF_OUT_HDR, n - PF_OUT_HDR);
			}
			if (oh->error == 0 && m->kconn != NULL && p->c != NULL &&
			    !p->c->kernel)
				ticket = invalidate_kernel(m, p, buf + PF_OUT_HDR,
				    n - PF_OUT_HDR);
			if (oh->error == 0 && p->c != NULL)
				invalidate_clients(d, m, p);
			if (p->c != NULL) {
				struct fuse_out_header out = *oh;

				out.unique = p->client_unique;
				memcpy(buf, &out, sizeof(out));
				if (m->ntracers > 0)
					trace_msg(d, m, PF_TR_REPLY, p->c, p, buf, n);
				if (ticket != 0 && defer_reply(d, p->c, buf, n, ticket) == 0)
					err = 0;
				else
					err = send_or_queue(d, &p->c->ep, &p->c->out, buf, n);
				if (err == -EMSGSIZE) {
					pf_warn_ratelimit(&m->warned, 10, "%s: %zu-byte reply "
					    "too large for client pid %d's socket", m->target,
					    n, (int)p->c->pid);
					reply_err(d, p->c, p->client_unique, -EIO);
				} else if (err < 0) {
					conn_close(d, p->c);
				} else if (p->c->out.bytes > CONN_QUEUE_PAUSE) {
					conn_unread_check(d, p->c);
				}
			}
		}
	}
	pend_free(p);
	if (m->draining)
		maybe_destroy(d, m, 0);
}

/*
 * A notification from the server.  The kernel holds the caches they are
 * about, and perfuse's own clients cache names and attributes: those of
 * INVAL_INODE, INVAL_ENTRY and DELETE go to the clients that know the
 * node too (libperfuse has no page cache for the others).  RETRIEVE is
 * answered by the
 * kernel with NOTIFY_REPLY, which perfused passes back.
 */
static void
server_notify(struct daemon *d, struct mount *m, const struct fuse_out_header *oh,
    char *buf, size_t n)
{
	if (n - sizeof(*oh) < pf_notify_min(oh->error) || pf_notify_min(oh->error) == 0) {
		pf_warn_ratelimit(&m->warned, 10, "%s: malformed notification %s "
		    "(%zu bytes), dropped", m->target, pf_notify_name(oh->error), n);
		return;
	}
	/* After a restart: about a node the clients know, in their ids. */
	if (m->rs != NULL && rs_xlate_notify(m, oh->error, buf + PF_OUT_HDR,
	    n - PF_OUT_HDR) < 0)
		return;
	dbg(d, DBG_OPS, "%s: notification %s (%zu bytes)%s", m->target,
	    pf_notify_name(oh->error), n, m->kconn ? " to the kernel" : "");
	if (m->ntracers > 0)
		trace_msg(d, m, PF_TR_NOTIFY, NULL, NULL, buf, n);
	if (m->kconn != NULL && m->kconn->state == CONN_FUSE)
		kernel_notify(m->kconn, buf, n);
	if (oh->error == FUSE_NOTIFY_INVAL_INODE || oh->error == FUSE_NOTIFY_INVAL_ENTRY ||
	    oh->error == FUSE_NOTIFY_DELETE) {
		uint64_t node;

		memcpy(&node, buf + PF_OUT_HDR, sizeof(node));  /* ino, or parent */
		notify_clients(d, m, NULL, buf, n, node);
	}
}

static void
server_msg(struct daemon *d, struct mount *m, char *buf, size_t n)
{
	struct fuse_out_header oh;

	if (n < sizeof(oh)) {
		pf_warn_ratelimit(&m->warned, 10, "%s: %zu bytes of garbage from the "
		    "filesystem, dropped", m->target, n);
		return;
	}
	memcpy(&oh, buf, sizeof(oh));
	if (oh.len != n) {
		struct u64slot *s = map_get(&m->pending, oh.unique);

		pf_warn_ratelimit(&m->warned, 10, "%s: message length field %u for a "
		    "%zu-byte message, dropped", m->target, oh.len, n);
		/* If it names a request, that request fails rather than hangs. */
		if (s != NULL && !(oh.unique & 1)) {
			struct pend *p = (struct pend *)(uintptr_t)s->v1;

			map_del(&m->pending, s);
			pend_settle(p);
			if (p->c != NULL)
				reply_err(d, p->c, p->client_unique, -EIO);
			else if (p->opcode == FUSE_INIT)
				init_done(d, m, -EIO, NULL, 0);
			else if (p->opcode == FUSE_DESTROY)
				destroyed(d, m);
			else if (p->rs_kind != 0)
				rs_reply(d, m, p, -EIO, NULL, 0);
			else if (p->perm_hold != NULL)
				perm_lookup_done(d, m, p, -EIO, NULL, 0);
			pend_free(p);
			if (m->draining)
				maybe_destroy(d, m, 0);
		}
		return;
	}
	if (oh.unique == 0) {
		server_notify(d, m, &oh, buf, n);
		return;
	}
	server_reply(d, m, &oh, buf, n);
}

static void
server_event(struct daemon *d, struct endpoint *ep, uint32_t events)
{
	struct mount *m = (struct mount *)ep;
	int budget = 1;  /* one message per wake-up, as conn_event() */

	if (m->state == M_DEAD)
		return;
	if ((events & EPOLLOUT) && m->out.head != NULL) {
		while (m->out.head != NULL) {
			struct outmsg *o = m->out.head;
			ssize_t n = send(ep->fd, o->data, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0 && (errno == EAGAIN || errno == ENOBUFS))
				break;
			if (n < 0) {
				mount_dead(d, m, "the filesystem's socket failed");
				return;
			}
			m->out.head = o->next;
			m->out.bytes -= o->len;
			free(o);
		}
		if (m->out.head == NULL) {
			m->out.tail = NULL;
			ep_watch(d, ep, EPOLLIN);
		}
	}
	while ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && budget-- > 0 && ep->fd >= 0) {
		ssize_t n = ep_recv(d, ep);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			mount_dead(d, m, n == 0 ? "the filesystem closed its connection"
			    : strerror(errno));
			return;
		}
		if ((size_t)n > RBUF_SIZE) {
			pf_warn_ratelimit(&m->warned, 10, "%s: %zd-byte message from the "
			    "filesystem too large, dropped", m->target, n);
			continue;
		}
		server_msg(d, m, d->rbuf, (size_t)n);
		if (m->state == M_DEAD)
			return;
	}
}

/* ------------------------------------------------------------------ */
/* The filesystem's stderr.                                              */

static void
stderr_event(struct daemon *d, struct endpoint *ep, uint32_t events)
{
	struct mount *m = (struct mount *)(void *)((char *)ep - offsetof(struct mount, errp));
	char buf[4096];
	ssize_t n;

	(void)events;
	while ((n = read(ep->fd, buf, sizeof(buf) - 1)) > 0) {
		size_t room = sizeof(m->errbuf) - 1 - m->errlen;

		buf[n] = '\0';
		if (m->state == M_STARTING) {
			if ((size_t)n > room)
				n = (ssize_t)room;
			memcpy(m->errbuf + m->errlen, buf, (size_t)n);
			m->errlen += (size_t)n;
			m->errbuf[m->errlen] = '\0';
		} else {
			pf_info("%s: filesystem says: %.*s", m->target,
			    (int)(n > 0 && buf[n - 1] == '\n' ? n - 1 : n), buf);
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		ep_forget(d, ep);
}

/* ------------------------------------------------------------------ */
/* Mount life.                                                           */

static const char *const attach_names[] = { "auto", "fd", "preload", "fusermount" };

/* An option of the kernel mount; returns 1 if tok was one. */
static int
parse_kernel_opt(struct mount *m, const char *tok)
{
	static const struct { const char *name; unsigned bit; } flags[] = {
		{ "allow_other", KOPT_ALLOW_OTHER },
		{ "default_permissions", KOPT_DEFAULT_PERMISSIONS },
		{ "ro", KOPT_RO }, { "noatime", KOPT_NOATIME },
		{ "nokernel", KOPT_NOKERNEL }, { "keep", KOPT_KEEP },
		{ "suid", KOPT_SUID }, { "dev", KOPT_DEV },
	};
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strcmp(tok, flags[i].name) == 0) {
			m->kflags |= flags[i].bit;
			return 1;
		}
	}
	if (strncmp(tok, "fsname=", 7) == 0 && tok[7] != '\0' && !strchr(tok, ' ')) {
		free(m->fsname);
		m->fsname = strdup(tok + 7);
		return 1;
	}
	if (strncmp(tok, "subtype=", 8) == 0 && tok[8] != '\0' && !strchr(tok, '/')) {
		free(m->subtype);
		m->subtype = strdup(tok + 8);
		return 1;
	}
	if (strncmp(tok, "max_read=", 9) == 0 && atol(tok + 9) > 0) {
		snprintf(m->max_read_opt, sizeof(m->max_read_opt), "max_read=%ld",
		    atol(tok + 9));
		return 1;
	}
	return 0;
}

/*
 * The filesystem's own -o options that concern the kernel mount
 * (allow_other, default_permissions, ro, fsname=, subtype= ...): they
 * stay in its command line, and the kernel mount honours them as a direct
 * mount would.  Without fsname= and subtype=, libfuse names the mount
 * after the program; so does perfused.
 */
static void
fs_own_options(struct mount *m, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	int i;

	for (i = 1; argv[i] != NULL; i++) {
		const char *o = NULL;
		char *copy, *tok, *save = NULL;

		if (strcmp(argv[i], "-o") == 0 && argv[i + 1] != NULL)
			o = argv[++i];
		else if (strncmp(argv[i], "-o", 2) == 0)
			o = argv[i] + 2;
		if (o == NULL || (copy = strdup(o)) == NULL)
			continue;
		for (tok = strtok_r(copy, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if (strncmp(tok, "fsname=", 7) == 0 && m->fsname != NULL)
				continue;  /* perfuse's own -o fsname= wins */
			if (strncmp(tok, "subtype=", 8) == 0 && m->subtype != NULL)
				continue;
			if (strcmp(tok, "nokernel") != 0 && strcmp(tok, "keep") != 0)
				parse_kernel_opt(m, tok);
		}
		free(copy);
	}
	if (m->subtype == NULL && m->fsname == NULL)
		m->subtype = strdup(slash ? slash + 1 : argv[0]);
}

static int
parse_opts(struct mount *m, const char *opts, char **target, const char **why)
{
	char *copy = strdup(opts), *tok, *save = NULL;
	size_t i;

	if (copy == NULL)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "target=", 7) == 0 && tok[7] == '/') {
			free(*target);
			*target = strdup(tok + 7);
			continue;
		}
		if (strncmp(tok, "init_timeout=", 13) == 0 && atoi(tok + 13) > 0) {
			m->init_timeout = atoi(tok + 13);
			continue;
		}
		if (strncmp(tok, "timeout=", 8) == 0 && tok[8] >= '0' && tok[8] <= '9') {
			m->timeout = atoi(tok + 8);
			continue;
		}
		if (strcmp(tok, "restart") == 0) {
			m->want_restart = 1;
			continue;
		}
		if (parse_kernel_opt(m, tok))
			continue;
		for (i = 0; i < 4 && strncmp(tok, "attach=", 7) == 0; i++)
			if (strcmp(tok + 7, attach_names[i]) == 0)
				break;
		if (strncmp(tok, "attach=", 7) == 0 && i < 4) {
			m->attach = (int)i;
			continue;
		}
		*why = "unknown or malformed mount option (perfuse takes target=/ABS/PATH, "
		    "init_timeout=SECONDS, timeout=SECONDS, attach=auto|fd|preload|fusermount, "
		    "restart, nokernel, keep, "
		    "allow_other, default_permissions, ro, noatime, fsname=, subtype=, "
		    "max_read=)";
		free(copy);
		return -EINVAL;
	}
	free(copy);
	return 0;
}

/*
 * Rule of attach=auto: a program linking libfuse3 takes /dev/fd/N;
 * anything else (libfuse2, Go) gets the preload shim and the fusermount
 * stand-ins.
 */
static int
choose_attach(struct daemon *d, int attach, char **argv, char **envp, const char *cwd)
{
	char *prog;
	int fuse3;

	if (attach != ATTACH_AUTO)
		return attach;
	/* A relative program path is the caller's, not perfused's. */
	prog = strchr(argv[0], '/') ? spawn_abspath(cwd, argv[0]) : strdup(argv[0]);
	fuse3 = prog != NULL && spawn_links_libfuse3(prog, spawn_getenv(envp, "PATH"));
	free(prog);
	if (fuse3)
		return ATTACH_FD;
	if (d->preload != NULL)
		return ATTACH_PRELOAD;
	return d->fmdir != NULL ? ATTACH_FUSERMOUNT : ATTACH_FD;
}

/*
 * The environment of a filesystem that finds perfused by itself: our
 * socket, its mount token, the stand-ins first on PATH (and named for the
 * shim, which redirects libfuse's exec of /usr/bin/fusermount3), the
 * method, and the shim itself when there is one.
 */
#define ATTACH_ENV_MAX 7

static char **
attach_env(struct daemon *d, struct mount *m, char **envp, char **owned)
{
	const char *path = spawn_getenv(envp, "PATH"), *pre = spawn_getenv(envp, "LD_PRELOAD");
	const char *fmdir = d->fmdir ? d->fmdir : "/nonexistent";
	unsigned char rnd[16];
	char *set[ATTACH_ENV_MAX + 1];
	int n = 0, i;

	if (getentropy(rnd, sizeof(rnd)) < 0)
		return NULL;
	for (i = 0; i < 16; i++)
		snprintf(m->token + 2 * i, 3, "%02x", rnd[i]);
	if (asprintf(&owned[n++], "PERFUSE_SOCKET=%s", d->sockpath) < 0 ||
	    asprintf(&owned[n++], "PERFUSE_MOUNT_TOKEN=%s", m->token) < 0 ||
	    asprintf(&owned[n++], "PATH=%s:%s", fmdir, path ? path : "/usr/bin:/bin") < 0 ||
	    asprintf(&owned[n++], "PERFUSE_FUSERMOUNT_DIR=%s", fmdir) < 0 ||
	    asprintf(&owned[n++], "PERFUSE_ATTACH=%s", attach_names[m->attach]) < 0)
		return NULL;
	if (d->preload != NULL && asprintf(&owned[n++], "LD_PRELOAD=%s%s%s", d->preload,
	    pre ? ":" : "", pre ? pre : "") < 0)
		return NULL;
	for (i = 0; i < n; i++)
		set[i] = owned[i];
	set[n] = NULL;
	return spawn_env(envp, set);
}

static void
mount_free(struct mount *m)
{
	size_t i;

	for (i = 0; i < m->pending.cap; i++)
		if (m->pending.slots[i].used)
			pend_free((struct pend *)(uintptr_t)m->pending.slots[i].v1);
	map_free(&m->pending);
	while (m->out.head != NULL) {
		struct outmsg *o = m->out.head;

		m->out.head = o->next;
		free(o);
	}
	free(m->target);
	free(m->command);
	free(m->fsname);
	free(m->subtype);
	free(m->ktype);
	rs_free(m);
	perm_free_all(m);
	free(m);
}

static void
send_init(struct daemon *d, struct mount *m)
{
	struct fuse_init_in in;

	internal_request(d, m, FUSE_INIT, 0, &in,
	    pf_init_request(&in, PF_MINOR_MAX, PF_INIT_OFFER, 128 * 1024));
}

static int
spawn_with(struct daemon *d, struct mount *m, struct spawn *s, const char **why)
{
	char *owned[ATTACH_ENV_MAX] = { NULL };
	char **env = s->envp;
	int err, i;

	if (m->attach == ATTACH_PRELOAD && d->preload == NULL) {
		*why = "attach=preload: libperfuse_preload.so not found";
		return -ENOENT;
	}
	if (m->attach == ATTACH_FUSERMOUNT && d->fmdir == NULL) {
		*why = "attach=fusermount: the fusermount stand-ins were not found";
		return -ENOENT;
	}
	s->use_fd = m->attach == ATTACH_FD;
	if (!s->use_fd && (env = attach_env(d, m, s->envp, owned)) == NULL)
		err = -ENOMEM;
	else {
		s->envp = env;
		err = spawn_fs(s, &m->ep.fd, &m->errp.fd, &m->pid, &m->fs_ino);
	}
	if (env != s->envp || !s->use_fd)
		free(env);
	for (i = 0; i < ATTACH_ENV_MAX; i++)
		free(owned[i]);
	if (err != 0 && *why == NULL)
		*why = "cannot start the filesystem";
	return err;
}

int
mount_start(struct daemon *d, struct conn *c, const char *opts, const char *cwd,
    char **argv, char **envp, const char **why)
{
	struct spawn s;
	struct mount *m;
	char *target = NULL;
	int err;

	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->init_timeout = DEFAULT_INIT_TIMEOUT;
	m->timeout = DEFAULT_TIMEOUT;
	m->ep.fd = m->errp.fd = -1;
	memset(&s, 0, sizeof(s));
	s.mp_index = spawn_find_mountpoint(argv);
	if (s.mp_index < 1) {
		*why = "the filesystem's command line has no mountpoint argument";
		free(m);
		return -EINVAL;
	}
	err = parse_opts(m, opts, &target, why);
	if (err == 0 && target == NULL)
		target = spawn_abspath(cwd, argv[s.mp_index]);
	m->target = target;
	m->command = spawn_join(argv);
	if (err == 0 && (m->target == NULL || m->command == NULL))
		err = -ENOMEM;
	if (err == 0 && mount_find(d, m->target) != NULL) {
		*why = "already a perfuse mount";
		err = -EBUSY;
	}
	if (err == 0)
		fs_own_options(m, argv);
	if (err == 0) {
		m->attach = choose_attach(d, m->attach, argv, envp, cwd);
		s.argv = argv;
		s.envp = envp;
		s.cwd = cwd;
		s.uid = c->uid;
		s.gid = c->gid;
		if (m->want_restart && rs_setup(m, argv, envp, cwd) != 0)
			err = -ENOMEM;
		else
			err = spawn_with(d, m, &s, why);
	}
	if (err != 0) {
		mount_free(m);
		return err;
	}
	m->d = d;
	m->uid = c->uid;
	m->gid = c->gid;
	m->p.minor = PF_MINOR_MAX;
	m->next_unique = 2;
	m->ep.handler = server_event;
	m->errp.handler = stderr_event;
	m->state = M_STARTING;
	m->waiter = c;
	m->deadline = time(NULL) + m->init_timeout;
	m->next = d->mounts;
	d->mounts = m;
	ep_watch(d, &m->errp, EPOLLIN);
	pf_info("%s: starting %s (pid %d, attach=%s)", m->target, m->command,
	    (int)m->pid, attach_names[m->attach]);
	if (m->ep.fd >= 0) {
		m->msgmax = pf_sock_setbuf(m->ep.fd, PF_MAX_MAX_PAGES * 4096);
		ep_watch(d, &m->ep, EPOLLIN);
		send_init(d, m);
	}
	return 0;
}

/*
 * What the filesystem asked mount(2) for becomes the kernel mount's: its
 * type and source exactly, its flags, and the options that concern the
 * kernel (perfuse mount's own -o still adds to them).
 */
static void
frame_kernel_options(struct mount *m, const struct pf_frame *f)
{
	char *copy, *tok, *save = NULL;

	if (f->fstype != NULL && strncmp(f->fstype, "fuse", 4) == 0) {
		free(m->ktype);
		m->ktype = strdup(f->fstype);
	}
	if (f->source != NULL && m->fsname == NULL)
		m->fsname = strdup(f->source);
	m->msflags |= f->mountflags & (MS_RDONLY | MS_NOATIME | MS_NODIRATIME |
	    MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC);
	if (f->data == NULL || (copy = strdup(f->data)) == NULL)
		return;
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, "allow_other") == 0 || strcmp(tok, "default_permissions") == 0)
			parse_kernel_opt(m, tok);
		else if (strncmp(tok, "max_read=", 9) == 0)
			parse_kernel_opt(m, tok);
	free(copy);
}

/* The mount a frame belongs to: one we started and gave this token. */
static struct mount *
frame_owner(struct daemon *d, const char *data)
{
	char tok[64];
	struct mount *m;

	if (data == NULL || pf_opt_value(data, "perfuse_token", tok, sizeof(tok)) == NULL)
		return NULL;
	for (m = d->mounts; m != NULL; m = m->next)
		if ((m->state == M_STARTING || m->state == M_RESTARTING) && m->ep.fd < 0 &&
		    strcmp(m->token, tok) == 0)
			return m;
	return NULL;
}

static void
frame_ack(int fd, int err)
{
	struct fuse_out_header oh = { sizeof(oh), err, (uint64_t)-1 };

	(void)!send(fd, &oh, sizeof(oh), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The command line of a process, for a filesystem that came by itself. */
static char *
proc_cmdline(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n, i;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return strdup("?");
	for (i = 0; i < n - 1; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strdup(buf);
}

/*
 * The filesystem behind a frame: a fusermount stand-in sends it for its
 * parent, the filesystem that ran it.
 */
static pid_t
frame_sender(pid_t pid)
{
	char path[64], comm[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return pid;
	comm[n] = '\0';
	if (strncmp(comm, "fusermount", 10) != 0)
		return pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		char *close_paren;
		int ppid;

		comm[n] = '\0';
		close_paren = strrchr(comm, ')');
		if (close_paren != NULL && sscanf(close_paren, ") %*c %d", &ppid) == 1 &&
		    ppid > 1)
			return (pid_t)ppid;
	}
	return pid;
}

/*
 * A mount frame: the connection becomes the filesystem's FUSE socket,
 * for a mount perfused started (its token matches) or a new one.
 */
void
mux_frame(struct daemon *d, struct conn *c, const char *buf, size_t len)
{
	struct pf_frame f;
	struct mount *m;
	const char *why;
	char ino[32];
	int fd = c->ep.fd, err;

	err = pf_frame_decode(buf, len, &f, &why);
	if (err == 0 && (f.target == NULL || f.target[0] != '/')) {
		why = "mount frame without an absolute target";
		err = -EINVAL;
	}
	m = err == 0 ? frame_owner(d, f.data) : NULL;
	if (err == 0 && m == NULL && mount_find(d, f.target) != NULL) {
		why = "already a perfuse mount";
		err = -EBUSY;
	}
	if (err == 0 && m == NULL) {
		m = calloc(1, sizeof(*m));
		if (m == NULL || (m->target = strdup(f.target)) == NULL) {
			free(m);
			m = NULL;
			why = "out of memory";
			err = -ENOMEM;
		} else {
			pid_t owner = frame_sender(c->pid);

			m->command = proc_cmdline(owner);
			c->pid = owner;
			m->d = d;
			m->uid = c->uid;
			m->gid = c->gid;
			m->fs_pid = c->pid;
			m->exited = 1;  /* not our child: only the socket tells */
			m->errp.fd = -1;
			m->ep.handler = server_event;
			m->errp.handler = stderr_event;
			m->p.minor = PF_MINOR_MAX;
			m->next_unique = 2;
			m->state = M_STARTING;
			m->init_timeout = DEFAULT_INIT_TIMEOUT;
			m->timeout = DEFAULT_TIMEOUT;
			m->deadline = time(NULL) + m->init_timeout;
			m->next = d->mounts;
			d->mounts = m;
		}
	}
	if (err != 0) {
		pf_warn("mount frame from pid %d: %s", (int)c->pid, why);
		frame_ack(fd, err);
		conn_close(d, c);
		return;
	}
	if (f.data != NULL && pf_opt_value(f.data, "perfuse_ino", ino, sizeof(ino)) != NULL)
		m->fs_ino = strtoul(ino, NULL, 10);
	frame_kernel_options(m, &f);
	/* The socket moves from the client list to the mount. */
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
	c->ep.fd = -1;
	c->ep.events = 0;
	conn_close(d, c);
	m->ep.fd = fd;
	m->ep.events = 0;
	m->msgmax = pf_sock_setbuf(fd, PF_MAX_MAX_PAGES * 4096);
	pf_info("%s: mount frame from pid %d (%s, type %s)", m->target, (int)c->pid,
	    f.source ? f.source : "-", f.fstype ? f.fstype : "-");
	frame_ack(fd, 0);
	ep_watch(d, &m->ep, EPOLLIN);
	send_init(d, m);
}

/* The filesystem unmounts itself: end the mount now, no DESTROY. */
void
mount_detach(struct daemon *d, struct mount *m, struct conn *waiter)
{
	const char *msg[1] = { "detached" };

	if (waiter != NULL)
		ctl_reply(d, waiter, PF_CTL_REPLY, 0, msg, 1);
	/*
	 * Being unmounted already, the filesystem unmounts itself on its way
	 * out: the unmount finishes when its process is gone, not now.
	 */
	if (m->state == M_UNMOUNTING)
		return;
	pf_info("%s: the filesystem unmounts itself", m->target);
	mount_dead(d, m, NULL);
}

/* Fail a mount that never answered INIT; the reason reaches the waiter. */
static void
mount_fail(struct daemon *d, struct mount *m, int err, const char *reason)
{
	const char *strs[3] = { m->target, m->errbuf, reason };

	if (m->errp.fd >= 0)
		stderr_event(d, &m->errp, EPOLLIN);  /* collect what is left */
	pf_warn("%s: %s", m->target, reason);
	if (m->waiter != NULL) {
		ctl_reply(d, m->waiter, PF_CTL_REPLY, err, strs, 3);
		m->waiter = NULL;
	}
}

/*
 * The server is gone: requests the kernel queued and perfused has not read
 * yet get ENOTCONN too, as with a dead server on a direct mount, instead
 * of ECONNABORTED when /dev/fuse closes under them.
 */
static void
drain_kernel(struct daemon *d, struct conn *k)
{
	int budget = 4096;

	while (budget-- > 0) {
		struct fuse_in_header h;
		ssize_t n = read(k->ep.fd, d->rbuf, RBUF_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < (ssize_t)sizeof(h))
			break;
		memcpy(&h, d->rbuf, sizeof(h));
		if (h.opcode != FUSE_FORGET && h.opcode != FUSE_BATCH_FORGET &&
		    h.opcode != FUSE_INTERRUPT) {
			struct fuse_out_header oh = { sizeof(oh), -ENOTCONN, h.unique };

			(void)ep_send(&k->ep, &oh, sizeof(oh));
		}
	}
}

/*
 * The socket usually closes a moment before the process is reaped; wait
 * up to 100 ms for its status so that the user hears why it failed.
 */
static void
reap_briefly(struct mount *m)
{
	int i;

	for (i = 0; i < 20 && !m->exited && m->pid > 0; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		int status;

		if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
			m->exited = 1;
			m->exit_status = status;
			break;
		}
		nanosleep(&ts, NULL);
	}
	/* The daemon it became, if any: how it ended tells a crash (restart.c). */
	for (i = 0; i < 20 && m->fs_pid > 0 && m->fs_pid != m->pid; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		int status;

		if (waitpid(m->fs_pid, &status, WNOHANG) == m->fs_pid) {
			m->fs_pid = -1;
			m->fs_exited = 1;
			m->fs_status = status;
			break;
		}
		nanosleep(&ts, NULL);
	}
}

/* The server is gone: everyone waiting hears so, and the mount goes. */
static void
mount_dead(struct daemon *d, struct mount *m, const char *why)
{
	struct mount **pp;
	struct conn *c, *next;
	size_t i;

	if (m->state == M_DEAD)
		return;
	/* -o restart: a server that died is started again. */
	if (why != NULL && m->rs != NULL && rs_crashed(d, m, why) == 0)
		return;
	if (m->state == M_STARTING) {
		char reason[256];

		reap_briefly(m);
		if (m->errp.fd >= 0)
			stderr_event(d, &m->errp, EPOLLIN);
		if (m->exited && WIFEXITED(m->exit_status))
			snprintf(reason, sizeof(reason), "the filesystem exited with status "
			    "%d before answering INIT", WEXITSTATUS(m->exit_status));
		else if (m->exited && WIFSIGNALED(m->exit_status))
			snprintf(reason, sizeof(reason), "the filesystem was killed by "
			    "signal %d before answering INIT", WTERMSIG(m->exit_status));
		else
			snprintf(reason, sizeof(reason), "the filesystem closed its "
			    "connection before answering INIT");
		mount_fail(d, m, -ECONNABORTED, reason);
	} else if (why != NULL && (m->state == M_READY || m->state == M_RESTARTING)) {
		/* How libfuse unmounts itself, and how a crash looks: both end here. */
		pf_info("%s: %s; the mount ended", m->target, why);
	}
	if (m->kconn != NULL && !(d->stopping && (m->kflags & KOPT_KEEP)))
		kernel_umount(m);  /* a dead server leaves no dead mount behind */
	if (m->ntracers > 0)
		trace_end(d, m);
	m->state = M_DEAD;
	for (i = 0; i < m->pending.cap; i++) {
		struct pend *p = (struct pend *)(uintptr_t)m->pending.slots[i].v1;

		if (m->pending.slots[i].used && p->c != NULL)
			reply_err(d, p->c, p->client_unique, -ENOTCONN);
	}
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->m == m && c == m->kconn)
			drain_kernel(d, c);  /* right before /dev/fuse closes */
		if (c->m == m)
			conn_close(d, c);
	}
	if (m->waiter != NULL) {
		const char *msg[1] = { "unmounted" };

		ctl_reply(d, m->waiter, PF_CTL_REPLY, 0, msg, 1);
		m->waiter = NULL;
	}
	ep_forget(d, &m->ep);
	if (m->errp.fd >= 0)
		stderr_event(d, &m->errp, EPOLLIN);
	ep_forget(d, &m->errp);
	for (pp = &d->mounts; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	if (m->state == M_DEAD)
		pf_info("%s: mount ended", m->target);
	m->next = d->mgraveyard;
	d->mgraveyard = m;
}

void
mount_bury(struct daemon *d)
{
	while (d->mgraveyard != NULL) {
		struct mount *m = d->mgraveyard;

		d->mgraveyard = m->next;
		mount_free(m);
	}
}

void
mount_unmount(struct daemon *d, struct mount *m, struct conn *waiter)
{
	struct conn *c, *next;

	if (m->state == M_UNMOUNTING) {
		const char *msg[1] = { "already being unmounted" };

		if (waiter != NULL)
			ctl_reply(d, waiter, PF_CTL_REPLY, -EBUSY, msg, 1);
		return;
	}
	if (m->state == M_STARTING) {
		mount_fail(d, m, -ECONNABORTED, "unmounted before it answered INIT");
		if (m->pid > 0 && !m->exited)
			kill(m->pid, SIGTERM);
		m->waiter = waiter;
		mount_dead(d, m, NULL);
		return;
	}
	if (m->state == M_RESTARTING) {
		/* Half restarted: nothing to give back to a server that has nothing. */
		signal_fs(m, SIGTERM);
		m->waiter = waiter;
		mount_dead(d, m, NULL);
		return;
	}
	m->state = M_UNMOUNTING;
	m->waiter = waiter;
	/*
	 * Unmount before /dev/fuse closes: no ENOTCONN window.  With "keep",
	 * a stopping perfused leaves the mount to the kernel's abort.
	 */
	if (m->kconn != NULL && !(d->stopping && (m->kflags & KOPT_KEEP)))
		kernel_umount(m);
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->m == m)
			conn_close(d, c);  /* RELEASEs and FORGETs what it held */
	}
	/*
	 * DESTROY waits until the server has answered everything in flight,
	 * and a GETATTR of the root sent after the last FORGETs: a reply that
	 * hands out a reference after DESTROY could never be given back, and
	 * a multi-threaded libfuse drops a FORGET it dispatches after it saw
	 * DESTROY.  A server that does not catch up within DRAIN_GRACE gets
	 * DESTROY anyway.
	 */
	m->draining = 1;
	m->deadline = time(NULL) + DRAIN_GRACE;
	if (m->p.minor >= 9) {
		struct fuse_getattr_in in;

		memset(&in, 0, sizeof(in));
		(void)internal_request(d, m, FUSE_GETATTR, PF_ROOT_ID, &in, sizeof(in));
	} else {
		(void)internal_request(d, m, FUSE_GETATTR, PF_ROOT_ID, NULL, 0);
	}
	maybe_destroy(d, m, 0);
}

/* Requests still owed an answer (a timed-out one is not waited for). */
static size_t
pending_live(const struct mount *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->pending.cap; i++) {
		const struct pend *p = (const struct pend *)(uintptr_t)m->pending.slots[i].v1;

		if (m->pending.slots[i].used && !p->timed_out)
			n++;
	}
	return n;
}

/* Unmounting: send DESTROY once nothing is in flight, or when forced. */
static void
maybe_destroy(struct daemon *d, struct mount *m, int force)
{
	if (m->state != M_UNMOUNTING || !m->draining)
		return;
	if (!force && m->ep.fd >= 0 && pending_live(m) > 0)
		return;
	m->draining = 0;
	m->deadline = time(NULL) + TERM_GRACE;
	if (internal_request(d, m, FUSE_DESTROY, PF_ROOT_ID, NULL, 0) < 0)
		destroyed(d, m);
}

/*
 * Signal the filesystem: the process serving it and the process group we
 * started it in (its own session), so that no helper it forked is left.
 */
static void
signal_fs(struct mount *m, int sig)
{
	if (m->fs_pid > 0)
		kill(m->fs_pid, sig);
	if (m->pid > 0) {
		kill(-m->pid, sig);
		if (!m->exited)
			kill(m->pid, sig);
	}
}

/*
 * Requests that timed out while still queued for a server that stopped
 * reading never reach it: their client heard ETIMEDOUT, so the server
 * must not act on them later, and dropping them is what lets a throttled
 * mount take requests again (perfused(8), LIMITS).  A send on a
 * SOCK_SEQPACKET socket is all or nothing: no message in the queue was
 * partly sent.  FORGETs, INTERRUPTs and NOTIFY_REPLYs have no pending
 * entry of their own opcode and stay.
 */
static void
drop_expired_queued(struct daemon *d, struct mount *m)
{
	struct outmsg **pp = &m->out.head, *o, *prev = NULL;

	while ((o = *pp) != NULL) {
		struct fuse_in_header h;
		struct u64slot *s = NULL;
		struct pend *p = NULL;

		if (o->len >= sizeof(h)) {
			memcpy(&h, o->data, sizeof(h));
			s = (h.unique & 1) ? NULL : map_get(&m->pending, h.unique);
		}
		if (s != NULL)
			p = (struct pend *)(uintptr_t)s->v1;
		if (p == NULL || !p->timed_out || p->opcode != h.opcode) {
			prev = o;
			pp = &o->next;
			continue;
		}
		*pp = o->next;
		if (m->out.tail == o)
			m->out.tail = prev;
		m->out.bytes -= o->len;
		map_del(&m->pending, s);
		pend_free(p);
		free(o);
	}
	if (m->out.head == NULL && m->ep.fd >= 0)
		ep_watch(d, &m->ep, EPOLLIN);
}

/*
 * Requests the server has not answered in time: the client hears
 * ETIMEDOUT (the kernel, which knows no such error for a file, EIO).  The
 * request stays known so that a late reply is recognised and dropped.
 */
static void
expire_requests(struct daemon *d, struct mount *m, time_t now)
{
	size_t i;

	struct pend **late;
	size_t n = 0, k;

	if (m->timeout <= 0 || (m->state != M_READY && m->state != M_UNMOUNTING &&
	    m->state != M_RESTARTING) || m->pending.used == 0)
		return;
	/* Collect first: answering may send requests and grow the table. */
	late = calloc(m->pending.used, sizeof(*late));
	if (late == NULL)
		return;
	for (i = 0; i < m->pending.cap && n < m->pending.used; i++) {
		struct pend *p = (struct pend *)(uintptr_t)m->pending.slots[i].v1;

		if (m->pending.slots[i].used && !p->timed_out && p->deadline != 0 &&
		    now >= p->deadline)
			late[n++] = p;
	}
	for (k = 0; k < n; k++) {
		struct pend *p = late[k];

		pf_warn_ratelimit(&m->warned, 1, "%s: the filesystem did not answer %s "
		    "(node %llu%s%s) within %d s", m->target, pf_op_name(p->opcode),
		    (unsigned long long)p->nodeid, p->names ? ", name " : "",
		    p->names ? p->names : "", m->timeout);
		if (p->c != NULL) {
			pend_settle(p);
			reply_err(d, p->c, p->client_unique, p->c->kernel ? -EIO : -ETIMEDOUT);
		}
		p->timed_out = 1;
		p->c = NULL;
	}
	free(late);
	if (n > 0 && m->out.head != NULL)
		drop_expired_queued(d, m);
}

void
mount_tick(struct daemon *d, time_t now)
{
	struct mount *m, *next;

	for (m = d->mounts; m != NULL; m = next) {
		next = m->next;
		expire_requests(d, m, now);
		if (m->deadline == 0 || now < m->deadline)
			continue;
		if (m->state == M_STARTING) {
			char reason[128];

			snprintf(reason, sizeof(reason), "the filesystem did not answer INIT "
			    "within %d s", m->init_timeout);
			mount_fail(d, m, -ETIMEDOUT, reason);
			signal_fs(m, SIGKILL);
			mount_dead(d, m, NULL);
		} else if (m->state == M_RESTARTING) {
			pf_warn("%s: the restarted filesystem did not come back in time",
			    m->target);
			mux_restart_failed(d, m);
		} else if (m->state == M_UNMOUNTING && m->draining) {
			pf_warn("%s: the filesystem did not answer what was in flight "
			    "within %d s; sending DESTROY", m->target, DRAIN_GRACE);
			maybe_destroy(d, m, 1);
		} else if (m->state == M_UNMOUNTING && !m->termed) {
			pf_warn("%s: the filesystem did not exit %d s after DESTROY; "
			    "sending SIGTERM", m->target, TERM_GRACE);
			signal_fs(m, SIGTERM);
			ep_forget(d, &m->ep);
			m->termed = 1;
			m->deadline = now + KILL_GRACE;
		} else if (m->state == M_UNMOUNTING) {
			pf_warn("%s: the filesystem ignored SIGTERM; sending SIGKILL",
			    m->target);
			signal_fs(m, SIGKILL);
			finish_unmount(d, m);
		}
	}
}

void
mount_child_exited(struct daemon *d, pid_t pid, int status)
{
	struct mount *m;

	for (m = d->mounts; m != NULL; m = m->next) {
		if (m->pid == pid) {
			m->exited = 1;
			m->exit_status = status;
			dbg(d, DBG_FS, "%s: process %d exited (status 0x%x)", m->target,
			    (int)pid, status);
			/*
			 * A failed start: no need to wait for INIT's deadline.
			 * Exit status 0 may be a daemonizing parent, but only
			 * after the mount frame came: libfuse and go-fuse
			 * mount first and daemonize after.
			 */
			if (m->state == M_STARTING && (m->ep.fd < 0 ||
			    !(WIFEXITED(status) && WEXITSTATUS(status) == 0)))
				mount_dead(d, m, NULL);
			else if ((m->state == M_READY || (m->state == M_RESTARTING &&
			    m->ep.fd >= 0)) && m->fs_pid == 0)
				m->fs_pid = spawn_socket_owner(m->fs_ino, pid);
			else if (m->state == M_RESTARTING && m->ep.fd < 0 &&
			    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				mount_dead(d, m, "the restarted filesystem exited before "
				    "answering INIT");
			else if (m->state == M_UNMOUNTING && m->ep.fd < 0 &&
			    (m->fs_pid <= 0 || kill(m->fs_pid, 0) < 0))
				finish_unmount(d, m);
			return;
		}
		if (m->fs_pid == pid) {
			dbg(d, DBG_FS, "%s: filesystem process %d exited", m->target, (int)pid);
			m->fs_pid = -1;
			m->fs_exited = 1;
			m->fs_status = status;
			if (m->state == M_UNMOUNTING && m->ep.fd < 0)
				finish_unmount(d, m);
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* For restart.c.                                                        */

uint64_t
mux_new_unique(struct mount *m)
{
	return new_unique(m);
}

int
mux_to_server(struct daemon *d, struct mount *m, const void *buf, size_t len)
{
	if (m->ep.fd < 0)
		return -ENOTCONN;
	return to_server(d, m, buf, len);
}

void
mux_reap_briefly(struct mount *m)
{
	reap_briefly(m);
}

void
mux_signal_fs(struct mount *m, int sig)
{
	signal_fs(m, sig);
}

/* The dead server's socket and stderr go, and what was queued for it. */
void
mux_server_closed(struct daemon *d, struct mount *m)
{
	if (m->errp.fd >= 0)
		stderr_event(d, &m->errp, EPOLLIN);
	ep_forget(d, &m->errp);
	ep_forget(d, &m->ep);
	while (m->out.head != NULL) {
		struct outmsg *o = m->out.head;

		m->out.head = o->next;
		free(o);
	}
	m->out.tail = NULL;
	m->out.bytes = 0;
}

void
mux_pend_free(struct pend *p)
{
	pend_free(p);
}

void
mux_fail_pending(struct daemon *d, struct pend *p, int err)
{
	pend_settle(p);
	if (p->c != NULL && !p->timed_out)
		reply_err(d, p->c, p->client_unique, err);
}

/* Start the filesystem again, the way it was started. */
int
mux_spawn(struct daemon *d, struct mount *m, struct spawn *s, const char **why)
{
	int err = spawn_with(d, m, s, why);

	if (err != 0)
		return err;
	ep_watch(d, &m->errp, EPOLLIN);
	if (m->ep.fd >= 0) {
		m->msgmax = pf_sock_setbuf(m->ep.fd, PF_MAX_MAX_PAGES * 4096);
		ep_watch(d, &m->ep, EPOLLIN);
		send_init(d, m);
	}
	return 0;
}

/* The restart failed: the mount ends as it would have without -o restart. */
void
mux_restart_failed(struct daemon *d, struct mount *m)
{
	signal_fs(m, SIGKILL);
	mount_dead(d, m, NULL);
}

static int
cmp_key(const void *a, const void *b)
{
	const struct u64slot *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * The new server holds what the clients hold: the requests that waited
 * go to it, in the order they came, in its ids.
 */
void
mux_restart_done(struct daemon *d, struct mount *m)
{
	struct u64slot *v;
	size_t i, n = 0;

	m->state = M_READY;
	m->deadline = 0;
	/*
	 * The kernel's caches are of the old server: sizes, pages and names
	 * it had not written out are gone.  The kernel asks again.
	 */
	if (m->kconn != NULL && m->kconn->state == CONN_FUSE) {
		kernel_inval_inode(m->kconn, PF_ROOT_ID);
		for (i = 0; i < m->kconn->nodes.cap; i++)
			if (m->kconn->nodes.slots[i].used)
				kernel_inval_inode(m->kconn, m->kconn->nodes.slots[i].key);
	}
	v = calloc(m->pending.used + 1, sizeof(*v));
	if (v == NULL) {
		mux_restart_failed(d, m);
		return;
	}
	for (i = 0; i < m->pending.cap; i++) {
		struct pend *p = (struct pend *)(uintptr_t)m->pending.slots[i].v1;

		if (m->pending.slots[i].used && p->parked)
			v[n++] = m->pending.slots[i];
	}
	qsort(v, n, sizeof(*v), cmp_key);
	for (i = 0; i < n && m->state == M_READY; i++) {
		struct pend *p = (struct pend *)(uintptr_t)v[i].v1;
		int err;

		p->parked = 0;
		p->retried = 1;
		if (p->timed_out || p->c == NULL) {
			/* Its client heard already, or left. */
			map_del(&m->pending, map_get(&m->pending, v[i].key));
			pend_settle(p);
			pend_free(p);
			continue;
		}
		err = rs_xlate_request(m, p->msg, p->msglen);
		if (err == 0)
			err = to_server(d, m, p->msg, p->msglen);
		if (err != 0) {
			map_del(&m->pending, map_get(&m->pending, v[i].key));
			mux_fail_pending(d, p, err == -ESTALE ? -ESTALE : -EIO);
			pend_free(p);
		}
	}
	free(v);
}

/* ------------------------------------------------------------------ */
/* For perm.c.                                                           */

void
mux_reply_err(struct daemon *d, struct conn *c, uint64_t unique, int err)
{
	reply_err(d, c, unique, err);
}

/*
 * A request held for its permission check goes on: checked (how 1), or
 * to be checked now that its nodes' attributes were refreshed (how 2).
 */
void
mux_forward_checked(struct daemon *d, struct conn *c, char *msg, size_t len, int how)
{
	struct fuse_in_header h;

	if (c->dead || c->m == NULL || (c->m->state != M_READY &&
	    c->m->state != M_RESTARTING)) {
		memcpy(&h, msg, sizeof(h));
		if (!c->dead)
			reply_err(d, c, h.unique, -ENOTCONN);
		return;
	}
	memcpy(&h, msg, sizeof(h));
	c->perm_skip = how;
	client_forward(d, c, &h, msg, len);
	c->perm_skip = 0;
}

/* perfused's own LOOKUP of an entry, for a sticky directory's rule. */
int
mux_internal_lookup(struct daemon *d, struct mount *m, uint64_t dir, const char *name,
    void *hold)
{
	size_t nl = strlen(name);

	if (nl == 0 || nl > 1024)
		return -EINVAL;
	return request_of_own(d, m, FUSE_LOOKUP, dir, name, nl + 1, hold);
}

/* perfused's own GETATTR of a node whose attributes went stale. */
int
mux_internal_getattr(struct daemon *d, struct mount *m, uint64_t node, void *hold)
{
	struct fuse_getattr_in in;

	memset(&in, 0, sizeof(in));
	return request_of_own(d, m, FUSE_GETATTR, node, &in,
	    pf_req_fixed(FUSE_GETATTR, m->p.minor), hold);
}
