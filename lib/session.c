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

/* ------------------------------------------------------------------ */
/* Node references: c->nodes maps a nodeid to nlookup (v1), the part of  */
/* it released and waiting for a FORGET (v2) and its generation (v3).    */

void
pf_node_got(perfuse_conn *c, uint64_t nodeid, uint64_t generation)
{
	struct u64slot *n;

	if (nodeid == PF_ROOT_ID || nodeid == 0)
		return;
	pthread_mutex_lock(&c->lock);
	n = map_put(&c->nodes, nodeid);
	if (n == NULL) {
		pthread_mutex_unlock(&c->lock);
		/* Without memory we cannot keep it: give it back at once. */
		struct fuse_forget_in f = { 1 };
		struct iovec iov = { &f, sizeof(f) };
		pf_send_noreply(c, FUSE_FORGET, nodeid, &iov, 1);
		return;
	}
	if (n->v1 > n->v2 && n->v3 != generation)
		pf_warn("%s: node %llu changed generation while referenced",
		    c->name, (unsigned long long)nodeid);
	n->v3 = generation;
	n->v1++;
	pthread_mutex_unlock(&c->lock);
}

void
pf_node_put(perfuse_conn *c, uint64_t nodeid, uint64_t count)
{
	struct u64slot *n;
	int flush = 0;

	if (nodeid == PF_ROOT_ID || nodeid == 0 || count == 0)
		return;
	pthread_mutex_lock(&c->lock);
	n = map_get(&c->nodes, nodeid);
	if (n == NULL || n->v1 - n->v2 < count) {
		pthread_mutex_unlock(&c->lock);
		pf_warn("%s: internal: releasing node %llu more than held",
		    c->name, (unsigned long long)nodeid);
		return;
	}
	if (n->v2 == 0) {
		if (c->nforget == c->forget_cap) {
			size_t ncap = c->forget_cap ? c->forget_cap * 2 : 64;
			uint64_t *ids = realloc(c->forget_ids, ncap * sizeof(*ids));

			if (ids == NULL) {
				pthread_mutex_unlock(&c->lock);
				return; /* kept; forgotten at disconnect */
			}
			c->forget_ids = ids;
			c->forget_cap = ncap;
		}
		c->forget_ids[c->nforget++] = nodeid;
	}
	n->v2 += count;
	flush = c->nforget >= FORGET_BATCH;
	pthread_mutex_unlock(&c->lock);
	if (flush)
		pf_forget_flush(c);
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
		map_free(&c->nodes);
	} else {
		for (i = 0; i < c->nforget; i++) {
			struct u64slot *nd = map_get(&c->nodes, c->forget_ids[i]);

			if (nd == NULL || nd->v2 == 0)
				continue;
			v[n].nodeid = nd->key;
			v[n++].nlookup = nd->v2;
			nd->v1 -= nd->v2;
			nd->v2 = 0;
			if (nd->v1 == 0)
				map_del(&c->nodes, nd);
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
	h->uid = geteuid();
	h->gid = getegid();
	h->pid = (uint32_t)getpid();
	(void)c;
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

/* Receive and drop one datagram we have no use for. */
static void
discard_msg(perfuse_conn *c)
{
	char scratch[64];

	while (recv(c->fd, scratch, sizeof(scratch), MSG_TRUNC) < 0 && errno == EINTR)
		;
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
 * Receive one message as the reader.  Called unlocked, with c->reading
 * set by the caller.  Returns with the lock held.
 */
static void
read_one(perfuse_conn *c)
{
	struct fuse_out_header oh;
	struct pf_req *r;
	struct iovec iov[2];
	struct msghdr mh;
	ssize_t n;

	do
		n = recv(c->fd, &oh, sizeof(oh), MSG_PEEK | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	pthread_mutex_lock(&c->lock);
	if (n <= 0) {
		if (n < 0)
			pf_warn("%s: receive: %s", c->name, strerror(errno));
		mark_dead(c);
		return;
	}
	if ((size_t)n < sizeof(oh)) {
		pthread_mutex_unlock(&c->lock);
		discard_msg(c);
		pthread_mutex_lock(&c->lock);
		pf_warn_ratelimit(&c->warned, 10, "%s: dropped a %zd-byte message "
		    "shorter than a reply header", c->name, n);
		return;
	}
	r = oh.unique != 0 ? find_req(c, oh.unique) : NULL;
	if (r == NULL) {
		pthread_mutex_unlock(&c->lock);
		discard_msg(c);
		pthread_mutex_lock(&c->lock);
		if (oh.unique != 0)
			pf_warn_ratelimit(&c->warned, 10, "%s: dropped a reply "
			    "with unique %llu nobody asked for", c->name,
			    (unsigned long long)oh.unique);
		else
			pf_debug("%s: notification %s ignored", c->name,
			    pf_notify_name(oh.error));
		return;
	}
	pthread_mutex_unlock(&c->lock);
	/* The owner waits for done: its buffer is ours until then. */
	iov[0].iov_base = &oh;
	iov[0].iov_len = sizeof(oh);
	iov[1].iov_base = r->out;
	iov[1].iov_len = r->outcap;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = r->outcap ? 2 : 1;
	do
		n = recvmsg(c->fd, &mh, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	pthread_mutex_lock(&c->lock);
	if (n <= 0) {
		mark_dead(c);
		return;
	}
	settle(c, r, &oh, (size_t)n);
	r->done = 1;
	pthread_cond_broadcast(&c->cv);
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
			read_one(c);
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

/* ------------------------------------------------------------------ */
/* Set-up and tear-down.                                                 */

static void
parse_options(perfuse_conn *c)
{
	const char *env = getenv("PERFUSE_OPTIONS");
	char *copy, *tok, *save = NULL;

	c->enable_access = 0;  /* as the seed: access checks are emulated */
	if (env == NULL || (copy = strdup(env)) == NULL)
		return;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "enable_access") == 0)
			c->enable_access = 1;
		else if (strcmp(tok, "disable_access") == 0)
			c->enable_access = 0;
		else if (strcmp(tok, "enable_creat") == 0)
			c->latched &= ~(1ULL << FUSE_CREATE);
		else if (strcmp(tok, "disable_creat") == 0)
			c->latched |= 1ULL << FUSE_CREATE;
		else if (*tok != '\0')
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
	c->flags = flags;
	c->next_unique = 2;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->msgmax = pf_sock_setbuf(fd, PF_MAX_MAX_PAGES * 4096);
	parse_options(c);
	if (minor < PF_MINOR_MIN || minor > PF_MINOR_MAX) {
		close(fd);
		free(c->name);
		free(c);
		return -EINVAL;
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
	map_free(&c->nodes);
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
