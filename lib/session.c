/*
 * session.c - a client session with a FUSE server: INIT, the life of a
 * request, node references and FORGET.  See session.h.
 *
 * Requests of several threads are in flight together.  There is no reader
 * thread: whichever waiting caller finds nobody receiving becomes the
 * reader, receives one reply, hands it to its owner and looks again.  A
 * single-threaded caller therefore sends and receives on its own thread,
 * with no cross-CPU wake-up in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "session.h"
#include "sock.h"

struct pf_req {
	struct pf_req *next;
	uint64_t unique;
	uint32_t opcode;
	void *out;
	size_t outcap;
	size_t limit;      /* pf_reply_limit() of the request */
	size_t outlen;
	int status;        /* 0 or -errno once done */
	int done;
};

/* Nodes to collect before a BATCH_FORGET goes out on its own. */
#define FORGET_BATCH 128
/* Records in one BATCH_FORGET message. */
#define FORGET_PER_MSG 512
/* Asynchronous requests (RELEASE) in flight at most. */
#define PF_ASYNC_MAX 128
/* Peeks for notifications while idle, at most one in (ns). */
#define PEEK_EVERY_NS (100 * 1000)
/* Entries of the dentry cache by default (PERFUSE_OPTIONS cache_entries=N). */
#define PF_CACHE_DEFAULT 16384
/*
 * Microseconds a reader polls for a reply before it sleeps, by default
 * (PERFUSE_OPTIONS spin=US; 0: never), where there is more than one CPU.
 * A reply that comes from another CPU to a sleeping reader costs a
 * cross-CPU wake-up (tens of microseconds on a virtual machine); one that
 * comes while the reader polls costs none.  A poll in vain makes the next
 * 1, 2, 4 ... 256 waits skip it, so that a slow filesystem costs a poll
 * in 256 requests at most.
 */
#define PF_SPIN_DEFAULT_US 20
#define PF_SPIN_BACKOFF_MAX 256

/* ------------------------------------------------------------------ */
/* Node references: c->nodes maps a nodeid to nlookup (v1), the part of  */
/* it released and waiting for a FORGET (v2) and its struct pf_inode     */
/* (v3), which counts the node's users.  Invariant: a node with users    */
/* has v1 > v2 (a reference not yet forgotten).                          */

static struct pf_inode *
slot_inode(const struct u64slot *s)
{
	return (struct pf_inode *)(uintptr_t)s->v3;
}

struct pf_inode *
pf_inode_locked(perfuse_conn *c, uint64_t nodeid)
{
	struct u64slot *s;

	if (nodeid == PF_ROOT_ID)
		return &c->root;
	s = map_get(&c->nodes, nodeid);
	return s != NULL ? slot_inode(s) : NULL;
}

int
pf_node_got(perfuse_conn *c, uint64_t nodeid, uint64_t generation)
{
	struct pf_inode *ino;
	struct u64slot *n;

	if (nodeid == PF_ROOT_ID || nodeid == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = map_put(&c->nodes, nodeid);
	if (n != NULL && n->v3 == 0) {
		ino = calloc(1, sizeof(*ino));
		if (ino == NULL) {
			map_del(&c->nodes, n);
			n = NULL;
		} else {
			ino->generation = generation;
			n->v3 = (uint64_t)(uintptr_t)ino;
		}
	}
	if (n == NULL) {
		pthread_mutex_unlock(&c->lock);
		/* Without memory we cannot keep it: give it back at once. */
		struct fuse_forget_in f = { 1 };
		struct iovec iov = { &f, sizeof(f) };
		pf_send_noreply(c, FUSE_FORGET, nodeid, &iov, 1);
		return -ENOMEM;
	}
	ino = slot_inode(n);
	if (ino->users > 0 && ino->generation != generation)
		pf_warn("%s: node %llu changed generation while referenced",
		    c->name, (unsigned long long)nodeid);
	if (ino->generation != generation) {
		/* Another file under a recycled nodeid: nothing cached holds. */
		ino->generation = generation;
		ino->attr_expire = 0;
		ino->attr_ver = ++c->cache_ver;
	}
	n->v1++;
	ino->users++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void
pf_node_hold_locked(perfuse_conn *c, uint64_t nodeid)
{
	struct pf_inode *ino;

	if (nodeid == PF_ROOT_ID || nodeid == 0)
		return;
	ino = pf_inode_locked(c, nodeid);
	if (ino == NULL || ino->users == 0) {
		pf_warn("%s: internal: holding node %llu nobody holds", c->name,
		    (unsigned long long)nodeid);
		return;
	}
	ino->users++;
}

void
pf_node_put_locked(perfuse_conn *c, uint64_t nodeid, uint64_t count)
{
	struct u64slot *n;
	struct pf_inode *ino;

	if (nodeid == PF_ROOT_ID || nodeid == 0 || count == 0)
		return;
	n = map_get(&c->nodes, nodeid);
	ino = n != NULL ? slot_inode(n) : NULL;
	if (ino == NULL || ino->users < count) {
		pf_warn("%s: internal: releasing node %llu more than held",
		    c->name, (unsigned long long)nodeid);
		return;
	}
	ino->users -= count;
	if (ino->users > 0)
		return;
	/* The last user: every reference not yet forgotten goes. */
	if (n->v2 == 0) {
		if (c->nforget == c->forget_cap) {
			size_t ncap = c->forget_cap ? c->forget_cap * 2 : 64;
			uint64_t *ids = realloc(c->forget_ids, ncap * sizeof(*ids));

			if (ids == NULL)
				return; /* kept; forgotten at disconnect */
			c->forget_ids = ids;
			c->forget_cap = ncap;
		}
		c->forget_ids[c->nforget++] = nodeid;
	}
	n->v2 = n->v1;
}

void
pf_unlock_flush(perfuse_conn *c)
{
	int flush = c->nforget >= FORGET_BATCH;

	pthread_mutex_unlock(&c->lock);
	if (flush)
		pf_forget_flush(c);
}

void
pf_node_put(perfuse_conn *c, uint64_t nodeid, uint64_t count)
{
	if (nodeid == PF_ROOT_ID || nodeid == 0 || count == 0)
		return;
	pthread_mutex_lock(&c->lock);
	pf_node_put_locked(c, nodeid, count);
	pf_unlock_flush(c);
}

/* Free the inodes of the node table, then the table. */
static void
nodes_free(perfuse_conn *c)
{
	size_t i;

	for (i = 0; i < c->nodes.cap; i++)
		if (c->nodes.slots[i].used)
			free(slot_inode(&c->nodes.slots[i]));
	map_free(&c->nodes);
}

/* Take the owed FORGETs out of the table; *out is malloc'ed. */
static size_t
forget_collect(perfuse_conn *c, struct fuse_forget_one **out, int all)
{
	struct fuse_forget_one *v;
	size_t i, n = 0, cap;

	pthread_mutex_lock(&c->lock);
	cap = all ? c->nodes.used : c->nforget;
	v = cap ? calloc(cap, sizeof(*v)) : NULL;
	if (v == NULL) {
		pthread_mutex_unlock(&c->lock);
		*out = NULL;
		return 0;
	}
	if (all) {
		for (i = 0; i < c->nodes.cap; i++) {
			struct u64slot *nd = &c->nodes.slots[i];

			if (!nd->used)
				continue;
			v[n].nodeid = nd->key;
			v[n++].nlookup = nd->v1;
		}
		nodes_free(c);
	} else {
		for (i = 0; i < c->nforget; i++) {
			struct u64slot *nd = map_get(&c->nodes, c->forget_ids[i]);

			if (nd == NULL || nd->v2 == 0)
				continue;
			v[n].nodeid = nd->key;
			v[n++].nlookup = nd->v2;
			nd->v1 -= nd->v2;
			nd->v2 = 0;
			if (nd->v1 == 0) {
				free(slot_inode(nd));
				map_del(&c->nodes, nd);
			}
		}
	}
	c->nforget = 0;
	pthread_mutex_unlock(&c->lock);
	*out = v;
	return n;
}

static int
forget_send(perfuse_conn *c, const struct fuse_forget_one *v, size_t n)
{
	size_t i, per = FORGET_PER_MSG;
	int err = 0;

	if ((c->msgmax - PF_IN_HDR - 8) / 16 < per)
		per = (c->msgmax - PF_IN_HDR - 8) / 16;
	/* Rule: BATCH_FORGET exists from 7.16; before, one FORGET a node. */
	if (c->p.minor < 16) {
		for (i = 0; i < n && err == 0; i++) {
			struct fuse_forget_in f = { v[i].nlookup };
			struct iovec iov = { &f, sizeof(f) };

			err = pf_send_noreply(c, FUSE_FORGET, v[i].nodeid, &iov, 1);
		}
		return err;
	}
	for (i = 0; i < n && err == 0; i += per) {
		size_t k = n - i < per ? n - i : per;
		struct fuse_batch_forget_in b = { (uint32_t)k, 0 };
		struct iovec iov[2] = { { &b, sizeof(b) },
			{ (void *)(uintptr_t)(v + i), k * sizeof(*v) } };

		err = pf_send_noreply(c, FUSE_BATCH_FORGET, 0, iov, 2);
	}
	return err;
}

int
pf_forget_flush(perfuse_conn *c)
{
	struct fuse_forget_one *v;
	size_t n = forget_collect(c, &v, 0);
	int err = n ? forget_send(c, v, n) : 0;

	free(v);
	return err;
}

uint64_t
perfuse_conn_lookups(const perfuse_conn *cc)
{
	perfuse_conn *c = (perfuse_conn *)(uintptr_t)cc;
	uint64_t sum = 0;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nodes.cap; i++)
		sum += c->nodes.slots[i].v1;
	pthread_mutex_unlock(&c->lock);
	return sum;
}

/* ------------------------------------------------------------------ */
/* Requests.                                                             */

int
pf_latched(perfuse_conn *c, uint32_t opcode)
{
	int r;

	if (opcode >= 64)
		return 0;
	pthread_mutex_lock(&c->lock);
	r = (c->latched >> opcode) & 1;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void
pf_latch(perfuse_conn *c, uint32_t opcode)
{
	if (opcode >= 64)
		return;
	pthread_mutex_lock(&c->lock);
	c->latched |= 1ULL << opcode;
	pthread_mutex_unlock(&c->lock);
}

static void
fill_header(perfuse_conn *c, struct fuse_in_header *h, uint32_t opcode,
    uint64_t nodeid, uint64_t unique, size_t len)
{
	memset(h, 0, sizeof(*h));
	h->len = (uint32_t)len;
	h->opcode = opcode;
	h->unique = unique;
	h->nodeid = nodeid;
	h->uid = c->cred_uid;
	h->gid = c->cred_gid;
	h->pid = c->cred_pid;
}

static size_t
iov_total(const struct iovec *in, int nin)
{
	size_t len = 0;
	int i;

	for (i = 0; i < nin; i++)
		len += in[i].iov_len;
	return len;
}

static int
send_msg(perfuse_conn *c, struct fuse_in_header *h, const struct iovec *in, int nin)
{
	struct iovec iov[8];
	struct msghdr mh;
	ssize_t n;
	int i;

	if (nin > 7)
		return -EINVAL;
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof(*h);
	for (i = 0; i < nin; i++)
		iov[i + 1] = in[i];
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)nin + 1;
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? -ENOTCONN : -errno;
	return n == (ssize_t)h->len ? 0 : -EIO;
}

int
pf_send_noreply(perfuse_conn *c, uint32_t opcode, uint64_t nodeid,
    const struct iovec *in, int nin)
{
	struct fuse_in_header h;
	uint64_t unique;

	pthread_mutex_lock(&c->lock);
	unique = c->next_unique;
	c->next_unique += 2;
	pthread_mutex_unlock(&c->lock);
	fill_header(c, &h, opcode, nodeid, unique, PF_IN_HDR + iov_total(in, nin));
	return send_msg(c, &h, in, nin);
}

/* Fail every request in flight: the server is gone.  Called locked. */
static void
mark_dead(perfuse_conn *c)
{
	struct pf_req *r;

	c->dead = 1;
	for (r = c->inflight; r != NULL; r = r->next) {
		if (!r->done) {
			r->status = -ENOTCONN;
			r->done = 1;
		}
	}
	pthread_cond_broadcast(&c->cv);
}

static struct pf_req *
find_req(perfuse_conn *c, uint64_t unique)
{
	struct pf_req *r;

	for (r = c->inflight; r != NULL; r = r->next)
		if (r->unique == unique && !r->done)
			return r;
	return NULL;
}

/* Check a received reply and settle its request's status. */
static void
settle(perfuse_conn *c, struct pf_req *r, const struct fuse_out_header *oh,
    size_t got)
{
	const char *why;
	size_t len = got - sizeof(*oh);

	if (got < sizeof(*oh) || oh->len != got) {
		why = "reply length field does not match the message";
		r->status = -EIO;
	} else if (len > r->outcap) {
		why = "reply larger than the request allows";
		r->status = -EIO;
	} else if (r->opcode == FUSE_INIT) {
		r->status = oh->error;  /* checked by pf_init_reply() */
		r->outlen = len;
		return;
	} else {
		r->status = pf_check_reply(r->opcode, c->p.minor, oh->error, len,
		    r->limit, &why);
		if (r->status == 0) {
			r->status = oh->error;
			r->outlen = len;
		}
	}
	if (r->status == -EIO && why != NULL)
		pf_warn_ratelimit(&c->warned, 10, "%s: bad reply to %s: %s",
		    c->name, pf_op_name(r->opcode), why);
}

/*
 * Receive a notification (unique 0) of n bytes as the reader, and let the
 * caches forget what it names.  Called and returns with the lock held.
 */
static void
read_notification(perfuse_conn *c, size_t n)
{
	/* INVAL_ENTRY and DELETE carry a name of at most 255 bytes; longer
	 * ones (STORE with its data) concern a page cache we do not have. */
	char buf[PF_OUT_HDR + sizeof(struct fuse_notify_delete_out) + 256 + 8];
	struct fuse_out_header oh;
	ssize_t got;

	pthread_mutex_unlock(&c->lock);
	do
		got = recv(c->fd, buf, sizeof(buf), MSG_TRUNC);
	while (got < 0 && errno == EINTR);
	pthread_mutex_lock(&c->lock);
	if (got < (ssize_t)sizeof(oh))
		return;
	memcpy(&oh, buf, sizeof(oh));
	pf_debug("%s: notification %s (%zu bytes)", c->name,
	    pf_notify_name(oh.error), n);
	if ((size_t)got > sizeof(buf) || oh.len != (size_t)got)
		return;
	pf_notify_locked(c, oh.error, buf + sizeof(oh), (size_t)got - sizeof(oh));
}

/*
 * Notifications are read by whichever thread reads the socket, that is
 * while a request waits for its reply.  One that came while nothing was
 * in flight waits in the socket: a cache hit takes it first (one
 * non-blocking peek), so that the cache never answers with what the
 * server, or perfused for another client's change, said was stale.
 */
void
pf_take_notifications_locked(perfuse_conn *c)
{
	struct fuse_out_header oh;
	int64_t now = pf_now();

	/*
	 * At most one peek every PEEK_EVERY_NS: a notification is then taken
	 * no later than that after it came (sooner by any request), and a
	 * run of cached answers costs no system call each.
	 */
	if (now - c->last_peek < PEEK_EVERY_NS && now >= c->last_peek)
		return;
	c->last_peek = now;
	while (!c->reading && !c->dead) {
		ssize_t n = recv(c->fd, &oh, sizeof(oh), MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);

		if (n < (ssize_t)sizeof(oh) || oh.unique != 0)
			return;  /* nothing, or a reply its waiter will read */
		c->reading = 1;
		read_notification(c, (size_t)n);
		c->reading = 0;
		pthread_cond_broadcast(&c->cv);
	}
}

/*
 * Copy the part [off, off + len) of a message body received into two
 * pieces, a (alen bytes) then b, to dst.
 */
static void
gather(void *dst, const char *a, size_t alen, const char *b, size_t off, size_t len)
{
	char *d = dst;

	if (off < alen) {
		size_t k = alen - off < len ? alen - off : len;

		memcpy(d, a + off, k);
		d += k;
		off += k;
		len -= k;
	}
	if (len > 0)
		memcpy(d, b + (off - alen), len);
}

/*
 * Receive one message as the reader, mine being the request this thread
 * waits for (NULL: none).  Called unlocked, with c->reading set by the
 * caller.  Returns with the lock held.
 *
 * One system call: the message is received into mine's buffer, spilling
 * into the connection's scratch buffer (as large as any message), so that
 * the reply this thread waits for, the common case, needs no copy and no
 * MSG_PEEK before it.  Another request's reply is copied to its buffer
 * from there, and a notification is read from there.
 */
static void
read_one(perfuse_conn *c, struct pf_req *mine)
{
	struct fuse_out_header oh;
	struct pf_req *r;
	struct iovec iov[3];
	struct msghdr mh;
	size_t cap0 = mine != NULL ? mine->outcap : 0, body, have;
	char *a = mine != NULL ? mine->out : NULL;
	ssize_t n;
	int k = 0;

	iov[k].iov_base = &oh;
	iov[k++].iov_len = sizeof(oh);
	if (cap0 > 0) {
		iov[k].iov_base = a;
		iov[k++].iov_len = cap0;
	}
	iov[k].iov_base = c->scratch;
	iov[k++].iov_len = c->msgmax;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)k;
	n = -1;
	if (c->spin_us > 0 && c->spin_skip > 0) {
		c->spin_skip--;
	} else if (c->spin_us > 0) {
		/* Poll a little first (PF_SPIN_DEFAULT_US). */
		struct timespec t0, t;
		long lim = (long)c->spin_us * 1000, spent;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			n = recvmsg(c->fd, &mh, MSG_TRUNC | MSG_DONTWAIT);
			if (n >= 0 || errno != EAGAIN)
				break;
			clock_gettime(CLOCK_MONOTONIC, &t);
			spent = (t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec;
			if (spent >= lim)
				break;
			/* The filesystem may be waiting for this very CPU. */
			sched_yield();
		}
		if (n < 0 && errno == EAGAIN) {
			c->spin_backoff = c->spin_backoff == 0 ? 1 :
			    c->spin_backoff < PF_SPIN_BACKOFF_MAX ? 2 * c->spin_backoff :
			    PF_SPIN_BACKOFF_MAX;
			c->spin_skip = c->spin_backoff;
		} else {
			c->spin_backoff = 0;
		}
	}
	if (n < 0)
		do
			n = recvmsg(c->fd, &mh, MSG_TRUNC);
		while (n < 0 && errno == EINTR);
	pthread_mutex_lock(&c->lock);
	if (n <= 0) {
		if (n < 0)
			pf_warn("%s: receive: %s", c->name, strerror(errno));
		mark_dead(c);
		return;
	}
	if ((size_t)n < sizeof(oh)) {
		pf_warn_ratelimit(&c->warned, 10, "%s: dropped a %zd-byte message "
		    "shorter than a reply header", c->name, n);
		return;
	}
	body = (size_t)n - sizeof(oh);
	have = body < cap0 + c->msgmax ? body : cap0 + c->msgmax;
	if (mine != NULL && oh.unique == mine->unique && !mine->done) {
		settle(c, mine, &oh, (size_t)n);  /* too large for it: EIO there */
		mine->done = 1;
		pthread_cond_broadcast(&c->cv);
		return;
	}
	r = oh.unique != 0 ? find_req(c, oh.unique) : NULL;
	if (r != NULL) {
		/* Its owner waits for done: its buffer is ours until then. */
		gather(r->out, a, cap0, c->scratch, 0, have < r->outcap ? have : r->outcap);
		settle(c, r, &oh, (size_t)n);
		r->done = 1;
		pthread_cond_broadcast(&c->cv);
	} else if (oh.unique == 0) {
		/* INVAL_ENTRY and DELETE carry a name of at most 255 bytes; longer
		 * ones (STORE with its data) concern a page cache we do not have. */
		char nb[sizeof(struct fuse_notify_delete_out) + 256 + 8];

		pf_debug("%s: notification %s (%zu bytes)", c->name,
		    pf_notify_name(oh.error), (size_t)n);
		if (oh.len == (size_t)n && body <= sizeof(nb)) {
			gather(nb, a, cap0, c->scratch, 0, body);
			pf_notify_locked(c, oh.error, nb, body);
		}
	} else {
		struct u64slot *as = map_get(&c->async, oh.unique);

		if (as != NULL) {
			/*
			 * A RELEASE's reply: nobody waits for it (its error
			 * could not be reported anyway, as in the kernel).
			 * Only now may its node be forgotten.
			 */
			uint64_t node = as->v1;

			map_del(&c->async, as);
			pf_node_put_locked(c, node, 1);
			pthread_cond_broadcast(&c->cv);
		} else {
			pf_warn_ratelimit(&c->warned, 10, "%s: dropped a reply "
			    "with unique %llu nobody asked for", c->name,
			    (unsigned long long)oh.unique);
		}
	}
	/* What landed in mine's buffer was not its reply: leave it as it was given. */
	if (cap0 > 0 && body > 0)
		memset(a, 0, body < cap0 ? body : cap0);
}

static void
unlink_req(perfuse_conn *c, struct pf_req *req)
{
	struct pf_req **pp;

	for (pp = &c->inflight; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			return;
		}
	}
}

/* Wait until req is done, taking the reader's role when it is free. */
static void
wait_reply(perfuse_conn *c, struct pf_req *req)
{
	while (!req->done) {
		if (!c->reading) {
			c->reading = 1;
			pthread_mutex_unlock(&c->lock);
			read_one(c, req);
			c->reading = 0;
			pthread_cond_broadcast(&c->cv);
		} else {
			pthread_cond_wait(&c->cv, &c->lock);
		}
	}
}

int
pf_call(perfuse_conn *c, uint32_t opcode, uint64_t nodeid,
    const struct iovec *in, int nin, void *out, size_t outcap, size_t *outlen)
{
	const struct pf_opinfo *op = pf_op(opcode);
	struct fuse_in_header h;
	struct pf_req req;
	size_t len = PF_IN_HDR + iov_total(in, nin);
	int err;

	if (op == NULL || (op->since > c->p.minor && opcode != FUSE_INIT))
		return -ENOSYS;
	if (len > c->msgmax)
		return -EMSGSIZE;
	memset(&req, 0, sizeof(req));
	req.opcode = opcode;
	req.out = out;
	req.outcap = outcap;
	req.limit = pf_reply_limit(opcode, c->p.minor, nin > 0 ? in[0].iov_base : NULL,
	    nin > 0 ? in[0].iov_len : 0);
	pthread_mutex_lock(&c->lock);
	if (c->dead) {
		pthread_mutex_unlock(&c->lock);
		return -ENOTCONN;
	}
	if (opcode < 64 && ((c->latched >> opcode) & 1)) {
		pthread_mutex_unlock(&c->lock);
		return -ENOSYS;
	}
	req.unique = c->next_unique;
	c->next_unique += 2;
	req.next = c->inflight;
	c->inflight = &req;
	pthread_mutex_unlock(&c->lock);

	fill_header(c, &h, opcode, nodeid, req.unique, len);
	err = send_msg(c, &h, in, nin);

	pthread_mutex_lock(&c->lock);
	if (err == 0)
		wait_reply(c, &req);
	else
		req.status = err;
	unlink_req(c, &req);
	if (req.status == -ENOSYS && (op->flags & PF_OPF_LATCH) && opcode < 64)
		c->latched |= 1ULL << opcode;
	pthread_mutex_unlock(&c->lock);
	if (outlen != NULL)
		*outlen = req.outlen;
	return req.status;
}

/*
 * As the reader when nobody reads, or waiting for one, until at most
 * limit replies to asynchronous requests are outstanding or the server
 * is gone.  Called locked.
 */
static void
wait_async(perfuse_conn *c, size_t limit)
{
	while (c->async.used > limit && !c->dead) {
		if (!c->reading) {
			c->reading = 1;
			pthread_mutex_unlock(&c->lock);
			read_one(c, NULL);
			c->reading = 0;
			pthread_cond_broadcast(&c->cv);
		} else {
			pthread_cond_wait(&c->cv, &c->lock);
		}
	}
}

int
pf_call_async(perfuse_conn *c, uint32_t opcode, uint64_t nodeid,
    const struct iovec *in, int nin, uint64_t put_node)
{
	struct fuse_in_header h;
	struct u64slot *a;
	uint64_t unique;
	size_t len = PF_IN_HDR + iov_total(in, nin);
	int err;

	if (len > c->msgmax) {
		pf_node_put(c, put_node, 1);
		return -EMSGSIZE;
	}
	pthread_mutex_lock(&c->lock);
	/* Like the kernel's max_background: do not let replies pile up. */
	wait_async(c, PF_ASYNC_MAX - 1);
	if (c->dead) {
		pf_node_put_locked(c, put_node, 1);
		pf_unlock_flush(c);
		return -ENOTCONN;
	}
	unique = c->next_unique;
	c->next_unique += 2;
	a = map_put(&c->async, unique);
	if (a == NULL) {
		/* No memory to remember it: wait for the reply instead. */
		pthread_mutex_unlock(&c->lock);
		err = pf_call(c, opcode, nodeid, in, nin, NULL, 0, NULL);
		pf_node_put(c, put_node, 1);
		return err;
	}
	a->v1 = put_node;
	pthread_mutex_unlock(&c->lock);

	fill_header(c, &h, opcode, nodeid, unique, len);
	err = send_msg(c, &h, in, nin);
	if (err != 0) {
		pthread_mutex_lock(&c->lock);
		a = map_get(&c->async, unique);
		if (a != NULL) {
			map_del(&c->async, a);
			pf_node_put_locked(c, put_node, 1);
		}
		pf_unlock_flush(c);
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* Set-up and tear-down.                                                 */

static void
parse_options(perfuse_conn *c)
{
	const char *env = getenv("PERFUSE_OPTIONS");
	char *copy, *tok, *save = NULL;

	c->enable_access = 0;  /* as the seed: access checks are emulated */
	c->cache_max = PF_CACHE_DEFAULT;
	c->spin_us = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? PF_SPIN_DEFAULT_US : 0;
	if (env == NULL || (copy = strdup(env)) == NULL)
		return;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "enable_access") == 0)
			c->enable_access = 1;
		else if (strcmp(tok, "disable_access") == 0)
			c->enable_access = 0;
		else if (strcmp(tok, "lookup_creat") == 0)
			c->lookup_creat = 1;
		else if (strcmp(tok, "enable_creat") == 0)
			c->latched &= ~(1ULL << FUSE_CREATE);
		else if (strcmp(tok, "disable_creat") == 0)
			c->latched |= 1ULL << FUSE_CREATE;
		else if (strncmp(tok, "cache_entries=", 14) == 0) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(tok + 14, &end, 10);
			if (errno != 0 || end == tok + 14 || *end != '\0' ||
			    tok[14] == '-' || v > (1ULL << 24))
				pf_warn("PERFUSE_OPTIONS: bad value in '%s' ignored "
				    "(0 to %llu)", tok, 1ULL << 24);
			else
				c->cache_max = (size_t)v;
		} else if (strncmp(tok, "spin=", 5) == 0) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(tok + 5, &end, 10);
			if (errno != 0 || end == tok + 5 || *end != '\0' ||
			    tok[5] == '-' || v > 1000)
				pf_warn("PERFUSE_OPTIONS: bad value in '%s' ignored "
				    "(0 to 1000 microseconds)", tok);
			else
				c->spin_us = (unsigned)v;
		} else if (*tok != '\0')
			pf_warn("PERFUSE_OPTIONS: unknown option '%s' ignored", tok);
	}
	free(copy);
}

static int
do_init(perfuse_conn *c, unsigned minor)
{
	char req[sizeof(struct fuse_init_in)];
	char rep[sizeof(struct fuse_init_out)];
	struct iovec iov;
	const char *why;
	size_t rlen = 0;
	int err;

	c->p.minor = minor;
	iov.iov_base = req;
	iov.iov_len = pf_init_request(req, minor, PF_INIT_OFFER, 128 * 1024);
	err = pf_call(c, FUSE_INIT, 0, &iov, 1, rep, sizeof(rep), &rlen);
	if (err == -ENOTCONN || err == -EIO) {
		pf_warn("%s: INIT: %s", c->name, err == -EIO ?
		    "bad reply" : "the server closed the connection");
		return err;
	}
	err = pf_init_reply(rep, rlen, err, minor, PF_INIT_OFFER,
	    128 * 1024, &c->p, &why);
	if (err != 0) {
		pf_warn("%s: INIT: %s", c->name, why);
		return err;
	}
	pf_init_limits(&c->p, c->msgmax, &c->max_read);
	return 0;
}

int
perfuse_conn_fd(int fd, const char *name, unsigned flags, perfuse_conn **out)
{
	return pf_conn_open(fd, name, flags, PF_MINOR_MAX, out);
}

int
pf_conn_open(int fd, const char *name, unsigned flags, unsigned minor,
    perfuse_conn **out)
{
	perfuse_conn *c;
	int err;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->name = strdup(name ? name : "fuse")) == NULL) {
		free(c);
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->cred_uid = (uint32_t)geteuid();
	c->cred_gid = (uint32_t)getegid();
	c->cred_pid = (uint32_t)getpid();
	c->flags = flags;
	c->next_unique = 2;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->msgmax = pf_sock_setbuf(fd, PF_MAX_MAX_PAGES * 4096);
	c->scratch = malloc(c->msgmax);
	parse_options(c);
	if (minor < PF_MINOR_MIN || minor > PF_MINOR_MAX || c->scratch == NULL) {
		err = c->scratch == NULL ? -ENOMEM : -EINVAL;
		close(fd);
		free(c->scratch);
		free(c->name);
		free(c);
		return err;
	}
	err = do_init(c, minor);
	if (err != 0) {
		c->flags &= ~PERFUSE_CONN_DESTROY;
		perfuse_disconnect(c);
		return err;
	}
	*out = c;
	return 0;
}

int
perfuse_disconnect(perfuse_conn *c)
{
	struct fuse_forget_one *v;
	size_t n;
	int err = 0;

	if (c == NULL)
		return 0;
	/*
	 * RELEASEs still in flight are answered first: the server sees every
	 * handle released before the FORGETs and DESTROY, as from the kernel.
	 * Then the cached entries go (their references are in the table).
	 */
	pthread_mutex_lock(&c->lock);
	wait_async(c, 0);
	pf_dc_free(c);
	pthread_mutex_unlock(&c->lock);
	n = forget_collect(c, &v, 1);
	if (n > 0 && !c->dead)
		err = forget_send(c, v, n);
	free(v);
	if ((c->flags & PERFUSE_CONN_DESTROY) && !c->dead) {
		int e = pf_call(c, FUSE_DESTROY, 0, NULL, 0, NULL, 0, NULL);

		if (err == 0 && e != -ENOSYS)
			err = e;
	}
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cv);
	free(c->forget_ids);
	nodes_free(c);
	map_free(&c->async);
	free(c->scratch);
	free(c->name);
	free(c);
	return err;
}

void
perfuse_conn_get_info(const perfuse_conn *c, struct perfuse_conn_info *i)
{
	memset(i, 0, sizeof(*i));
	i->major = c->p.major;
	i->minor = c->p.minor;
	i->server_minor = c->p.peer_minor;
	i->flags = c->p.flags;
	i->max_write = c->p.max_write;
	i->max_read = c->max_read;
	i->max_readahead = c->p.max_readahead;
	i->time_gran = c->p.time_gran;
}

void
pf_attr_to_stat(const perfuse_conn *c, const struct fuse_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	/* Rule: blksize exists from 7.9; 0 means the page size. */
	st->st_blksize = c->p.minor >= 9 && a->blksize != 0 ? a->blksize : 4096;
	st->st_atim.tv_sec = (time_t)a->atime;
	st->st_atim.tv_nsec = a->atimensec;
	st->st_mtim.tv_sec = (time_t)a->mtime;
	st->st_mtim.tv_nsec = a->mtimensec;
	st->st_ctim.tv_sec = (time_t)a->ctime;
	st->st_ctim.tv_nsec = a->ctimensec;
}
