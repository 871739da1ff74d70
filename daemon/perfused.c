/*
 * perfused.c - the daemon: command line, its socket, the event loop and
 * the control protocol.  The FUSE relay itself is in mux.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "frame.h"
#include "log.h"
#include "perfused.h"
#include "sock.h"

static const struct {
	const char *name;
	unsigned bit;
} categories[] = {
	{ "init", DBG_INIT }, { "ops", DBG_OPS }, { "nodes", DBG_NODES },
	{ "ctl", DBG_CTL }, { "fs", DBG_FS },
	{ "all", DBG_INIT | DBG_OPS | DBG_NODES | DBG_CTL | DBG_FS },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: perfused [-f] [-d CATEGORIES] [-s SOCKET] [-i FD]\n"
	    "  -f             stay in the foreground, log to stderr\n"
	    "  -d CATEGORIES  trace: init,ops,nodes,ctl,fs or all\n"
	    "  -s SOCKET      listen on SOCKET instead of the default\n"
	    "  -i FD          serve the filesystem on inherited socket FD (as\n"
	    "                 perfuse_open() starts it); listen too if SOCKET is free\n");
}

/* ------------------------------------------------------------------ */
/* Logging.                                                              */

static void
log_hook(enum perfuse_log_level level, const char *msg, void *arg)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	struct timespec ts;
	struct tm tm;
	char when[32];

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld perfused: %s: %s\n", when, ts.tv_nsec / 1000000,
	    names[level], msg);
}

void
dbg(struct daemon *d, unsigned cat, const char *fmt, ...)
{
	va_list ap;

	if (!(d->debug & cat))
		return;
	va_start(ap, fmt);
	pf_vlog(PERFUSE_LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static int
parse_debug(const char *arg, unsigned *out)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	size_t i;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
			if (strcmp(tok, categories[i].name) == 0)
				break;
		if (i == sizeof(categories) / sizeof(categories[0])) {
			fprintf(stderr, "perfused: -d: unknown trace category '%s' "
			    "(init, ops, nodes, ctl, fs, all)\n", tok);
			free(copy);
			return -1;
		}
		*out |= categories[i].bit;
	}
	free(copy);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Endpoints and output queues.                                          */

void
ep_watch(struct daemon *d, struct endpoint *ep, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };

	if (ep->events == events)
		return;
	if (epoll_ctl(d->epfd, ep->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    ep->fd, &ev) < 0)
		pf_warn("epoll_ctl: %s", strerror(errno));
	ep->events = events;
}

void
ep_forget(struct daemon *d, struct endpoint *ep)
{
	if (ep->fd < 0)
		return;
	if (ep->events)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, ep->fd, NULL);
	close(ep->fd);
	ep->fd = -1;
	ep->events = 0;
}

static void
outq_free(struct outq *q)
{
	while (q->head != NULL) {
		struct outmsg *m = q->head;

		q->head = m->next;
		free(m);
	}
	q->tail = NULL;
	q->bytes = 0;
}

/*
 * One message out.  /dev/fuse takes a reply with write(2), and refuses
 * one whose request the kernel gave up on with ENOENT: nothing to resend.
 */
ssize_t
ep_send(struct endpoint *ep, const void *buf, size_t len)
{
	ssize_t n;

	if (!ep->dev)
		return send(ep->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	n = write(ep->fd, buf, len);
	return n < 0 && errno == ENOENT ? (ssize_t)len : n;
}

/*
 * One message in, into d->rbuf, without waiting.  Returns its length (for
 * a socket its real length, which may exceed RBUF_SIZE: MSG_TRUNC), or -1
 * with errno.
 */
ssize_t
ep_recv(struct daemon *d, struct endpoint *ep)
{
	return ep->dev ? read(ep->fd, d->rbuf, RBUF_SIZE) :
	    recv(ep->fd, d->rbuf, RBUF_SIZE, MSG_TRUNC | MSG_DONTWAIT);
}

/*
 * Send one datagram, or queue it behind those already waiting.
 * Returns 0, or -EPIPE when the peer is gone, -ENOBUFS when the peer has
 * stopped reading for too long.
 */
int
send_or_queue(struct daemon *d, struct endpoint *ep, struct outq *q,
    const void *buf, size_t len)
{
	struct outmsg *m;

	if (ep->fd < 0)
		return -EPIPE;
	if (q->head == NULL) {
		ssize_t n = ep_send(ep, buf, len);

		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EIO;
		if (errno == EMSGSIZE)
			return -EMSGSIZE;
		if (errno != EAGAIN && errno != ENOBUFS)
			return -EPIPE;
	}
	if (q->bytes + len > OUTQ_MAX)
		return -ENOBUFS;
	m = malloc(sizeof(*m) + len);
	if (m == NULL)
		return -ENOBUFS;
	m->next = NULL;
	m->len = len;
	memcpy(m->data, buf, len);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += len;
	ep_watch(d, ep, ep->events | EPOLLOUT);
	return 0;
}

/* Send what is queued; stop watching EPOLLOUT once empty. */
static int
outq_flush(struct daemon *d, struct endpoint *ep, struct outq *q)
{
	while (q->head != NULL) {
		struct outmsg *m = q->head;
		ssize_t n = ep_send(ep, m->data, m->len);

		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS))
			return 0;
		if (n < 0)
			return -EPIPE;
		q->head = m->next;
		q->bytes -= m->len;
		free(m);
	}
	q->tail = NULL;
	ep_watch(d, ep, ep->events & ~(uint32_t)EPOLLOUT);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Client connections and the control protocol.                          */

int
ctl_reply(struct daemon *d, struct conn *c, uint32_t type, int32_t error,
    const char *const *strs, uint32_t n)
{
	char buf[PF_CTL_MAX];
	long len = pf_ctl_encode(buf, sizeof(buf), type, error, strs, n);

	if (len < 0)
		return (int)len;
	dbg(d, DBG_CTL, "ctl: reply type %u error %d to pid %d", type, error, (int)c->pid);
	return send_or_queue(d, &c->ep, &c->out, buf, (size_t)len);
}

void
conn_close(struct daemon *d, struct conn *c)
{
	struct conn **pp;

	if (c->dead)
		return;
	c->dead = 1;
	if (c->traced != NULL && c->traced->ntracers > 0)
		c->traced->ntracers--;
	mux_client_gone(d, c);
	ep_forget(d, &c->ep);
	outq_free(&c->out);
	map_free(&c->nodes);
	map_free(&c->fhs);
	for (pp = &d->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	/* Events of this round may still name c: free it after the round. */
	c->next = d->graveyard;
	d->graveyard = c;
}

/* A mount is its owner's, and root's; with allow_other, everybody's. */
static int
may_use(const struct conn *c, const struct mount *m)
{
	return c->uid == 0 || c->uid == m->uid || (m->kflags & KOPT_ALLOW_OTHER);
}

/* Unmounting stays the owner's (and root's) business. */
static int
may_unmount(const struct conn *c, const struct mount *m)
{
	return c->uid == 0 || c->uid == m->uid;
}

static void
ctl_list(struct daemon *d, struct conn *c)
{
	struct mount *m;

	for (m = d->mounts; m != NULL; m = m->next) {
		char pid[24], minor[16], uid[16], clients[16];
		const char *strs[6] = { m->target, m->command, pid, minor, uid, clients };
		struct conn *k;
		unsigned n = 0;

		if (!may_use(c, m) || (m->state != M_READY && m->state != M_RESTARTING))
			continue;
		for (k = d->conns; k != NULL; k = k->next)
			n += k->m == m;
		snprintf(pid, sizeof(pid), "%ld", (long)(m->fs_pid ? m->fs_pid : m->pid));
		snprintf(minor, sizeof(minor), "%u", m->p.minor);
		snprintf(uid, sizeof(uid), "%u", (unsigned)m->uid);
		snprintf(clients, sizeof(clients), "%u", n);
		ctl_reply(d, c, PF_CTL_ENTRY, 0, strs, 6);
	}
	ctl_reply(d, c, PF_CTL_END, 0, NULL, 0);
}

/* Find a mount the client may use; replies with the error itself. */
static struct mount *
ctl_mount_arg(struct daemon *d, struct conn *c, const char *target)
{
	struct mount *m = mount_find(d, target);
	const char *msg[1];

	if (m == NULL || m->state == M_DEAD || m->state == M_STARTING) {
		msg[0] = "no such perfuse mount";
		ctl_reply(d, c, PF_CTL_REPLY, -ENOENT, msg, 1);
		return NULL;
	}
	if (!may_use(c, m)) {
		msg[0] = "the mount belongs to another user";
		ctl_reply(d, c, PF_CTL_REPLY, -EACCES, msg, 1);
		return NULL;
	}
	return m;
}

static void
ctl_attach(struct daemon *d, struct conn *c, const char *target)
{
	struct mount *m = ctl_mount_arg(d, c, target);
	const char *ok[1] = { "attached" };

	if (m == NULL)
		return;
	if (m->state != M_READY && m->state != M_RESTARTING) {
		const char *msg[1] = { "the mount is being unmounted" };

		ctl_reply(d, c, PF_CTL_REPLY, -ENOENT, msg, 1);
		return;
	}
	c->m = m;
	m->napi++;
	c->state = CONN_FUSE_INIT;
	dbg(d, DBG_CTL, "ctl: pid %d attached to %s", (int)c->pid, m->target);
	ctl_reply(d, c, PF_CTL_REPLY, 0, ok, 1);
}

/* A trace subscriber: records of the mount's traffic from now on. */
static void
ctl_trace(struct daemon *d, struct conn *c, const char **strs, int n)
{
	struct mount *m = ctl_mount_arg(d, c, strs[0]);
	const char *ok[1] = { "tracing" };

	if (m == NULL)
		return;
	/* A trace shows every client's requests and data: the owner's and root's. */
	if (!may_unmount(c, m)) {
		const char *msg[1] = { "only the owner of the mount and root may trace it" };

		ctl_reply(d, c, PF_CTL_REPLY, -EPERM, msg, 1);
		return;
	}
	if (ctl_reply(d, c, PF_CTL_REPLY, 0, ok, 1) != 0)
		return;
	c->state = CONN_TRACE;
	c->traced = m;
	c->trace_full = n > 1 && strcmp(strs[1], "full") == 0;
	m->ntracers++;
	dbg(d, DBG_CTL, "ctl: pid %d traces %s", (int)c->pid, m->target);
}

static void
ctl_mount(struct daemon *d, struct conn *c, const char **strs, int n)
{
	const char *why = NULL;
	char **argv, **envp;
	long argc;
	char *end;
	int err, i;

	argc = n >= 3 ? strtol(strs[2], &end, 10) : -1;
	if (argc < 1 || *end != '\0' || argc > n - 3) {
		const char *msg[2] = { "", "malformed MOUNT request" };

		ctl_reply(d, c, PF_CTL_REPLY, -EINVAL, msg, 2);
		return;
	}
	argv = calloc((size_t)argc + 1, sizeof(*argv));
	envp = calloc((size_t)(n - 3 - argc) + 1, sizeof(*envp));
	if (argv == NULL || envp == NULL) {
		free(argv);
		free(envp);
		return;
	}
	for (i = 0; i < argc; i++)
		argv[i] = (char *)(uintptr_t)strs[3 + i];
	for (i = 0; i < n - 3 - argc; i++)
		envp[i] = (char *)(uintptr_t)strs[3 + argc + i];
	err = mount_start(d, c, strs[0], strs[1], argv, envp, &why);
	if (err != 0) {
		const char *msg[2] = { "", why ? why : strerror(-err) };

		ctl_reply(d, c, PF_CTL_REPLY, err, msg, 2);
	}
	free(argv);
	free(envp);
}

static void
ctl_message(struct daemon *d, struct conn *c, const char *buf, size_t len)
{
	const char **strs = calloc(PF_CTL_MAXSTR, sizeof(*strs));
	struct pf_ctl_hdr h;
	const char *why;
	int n;

	if (strs == NULL)
		return;
	n = pf_ctl_decode(buf, len, &h, strs, PF_CTL_MAXSTR, &why);
	if (n < 0) {
		pf_warn("client pid %d: %s; connection closed", (int)c->pid, why);
		conn_close(d, c);
		free(strs);
		return;
	}
	dbg(d, DBG_CTL, "ctl: request type %u from pid %d uid %u", h.type,
	    (int)c->pid, (unsigned)c->uid);
	switch (h.type) {
	case PF_CTL_PING:
		ctl_reply(d, c, PF_CTL_REPLY, 0, NULL, 0);
		break;
	case PF_CTL_MOUNT:
		ctl_mount(d, c, strs, n);
		break;
	case PF_CTL_UMOUNT:
		if (n == 1) {
			struct mount *m = ctl_mount_arg(d, c, strs[0]);

			if (m != NULL && !may_unmount(c, m)) {
				const char *msg[1] = { "the mount belongs to another user" };

				ctl_reply(d, c, PF_CTL_REPLY, -EPERM, msg, 1);
			} else if (m != NULL) {
				mount_unmount(d, m, c);
			}
			break;
		}
		/* FALLTHROUGH */
	case PF_CTL_ATTACH:
		if (h.type == PF_CTL_ATTACH && n == 1) {
			ctl_attach(d, c, strs[0]);
			break;
		}
		/* FALLTHROUGH */
	case PF_CTL_DETACH:
		if (h.type == PF_CTL_DETACH && n == 1) {
			struct mount *m = ctl_mount_arg(d, c, strs[0]);

			if (m != NULL && !may_unmount(c, m)) {
				const char *msg[1] = { "the mount belongs to another user" };

				ctl_reply(d, c, PF_CTL_REPLY, -EPERM, msg, 1);
			} else if (m != NULL) {
				mount_detach(d, m, c);
			}
			break;
		}
		/* FALLTHROUGH */
	default: {
		const char *msg[1] = { "malformed control request" };

		ctl_reply(d, c, PF_CTL_REPLY, -EINVAL, msg, 1);
		break;
	}
	case PF_CTL_LIST:
		ctl_list(d, c);
		break;
	case PF_CTL_TRACE:
		if (n >= 1 && n <= 2)
			ctl_trace(d, c, strs, n);
		else
			ctl_reply(d, c, PF_CTL_REPLY, -EINVAL, NULL, 0);
		break;
	}
	free(strs);
}

/* ------------------------------------------------------------------ */
/* Back pressure (the limits are in perfused.h).                         */

/*
 * Whether perfused reads no request from c for now: its mount's server is
 * behind (and the mount becomes throttled here, before the message that
 * would add to it is read), or c itself left its replies unread.  Only
 * FUSE traffic is held back; control requests are few and small.
 */
static int
conn_paused(struct daemon *d, struct conn *c)
{
	struct mount *m = c->m;

	if (c->state != CONN_FUSE_INIT && c->state != CONN_FUSE)
		return 0;
	if (c->out.bytes > CONN_QUEUE_PAUSE)
		return 1;
	if (m == NULL)
		return 0;
	if (!m->throttled && (m->out.bytes > MOUNT_QUEUE_HIGH ||
	    m->pending.used >= MOUNT_PENDING_HIGH)) {
		m->throttled = 1;
		pf_warn_ratelimit(&m->warned, 10, "%s: the filesystem is behind (%zu "
		    "bytes queued, %zu requests unanswered); its clients wait",
		    m->target, m->out.bytes, m->pending.used);
	}
	if (m->throttled)
		dbg(d, DBG_OPS, "%s: client pid %d paused", m->target, (int)c->pid);
	return m->throttled;
}

/*
 * After c's queue grew past CONN_QUEUE_PAUSE: when all the clients of its
 * mount together leave more than MOUNT_UNREAD_MAX reply bytes unread, the
 * one that holds the most is cut off (its requests in flight are
 * forgotten as for any client that leaves).  Each alone is held to
 * OUTQ_MAX by send_or_queue; this bounds them together, and it costs a
 * walk over the connections only when some client lags that far.
 */
void
conn_unread_check(struct daemon *d, struct conn *c)
{
	struct conn *x, *worst = NULL;
	size_t total = 0;

	if (c->m == NULL || c->out.bytes <= CONN_QUEUE_PAUSE)
		return;
	for (x = d->conns; x != NULL; x = x->next) {
		if (x->m != c->m || x->dead || x->kernel)
			continue;
		total += x->out.bytes;
		if (worst == NULL || x->out.bytes > worst->out.bytes)
			worst = x;
	}
	if (total <= MOUNT_UNREAD_MAX)
		return;
	pf_warn_ratelimit(&c->m->warned_unread, 10, "%s: clients leave %zu reply bytes "
	    "unread; client pid %d, which holds %zu of them, is cut off",
	    c->m->target, total, (int)worst->pid, worst->out.bytes);
	conn_close(d, worst);
}

/*
 * Watch c for what it may do now.  A paused client is still watched for
 * EPOLLRDHUP (and epoll always reports EPOLLHUP and EPOLLERR): its going
 * away must free what it holds even while nothing of it is read, and a
 * non-zero mask is what keeps it registered for ep_watch.
 */
static void
conn_rewatch(struct daemon *d, struct conn *c)
{
	uint32_t ev = c->out.head != NULL ? EPOLLOUT : 0;

	ev |= conn_paused(d, c) ? EPOLLRDHUP : EPOLLIN;
	ep_watch(d, &c->ep, ev);
}

/* After each round: mounts whose server caught up take requests again. */
void
mount_resume(struct daemon *d)
{
	struct mount *m;
	struct conn *c;

	for (m = d->mounts; m != NULL; m = m->next) {
		if (!m->throttled || m->out.bytes > MOUNT_QUEUE_LOW ||
		    m->pending.used > MOUNT_PENDING_LOW)
			continue;
		m->throttled = 0;
		dbg(d, DBG_OPS, "%s: the filesystem caught up; clients read again",
		    m->target);
		for (c = d->conns; c != NULL; c = c->next)
			if (c->m == m && !c->dead)
				conn_rewatch(d, c);
	}
}

static void
conn_event(struct daemon *d, struct endpoint *ep, uint32_t events)
{
	struct conn *c = (struct conn *)ep;

	if (c->dead)
		return;
	if ((events & EPOLLOUT) && outq_flush(d, ep, &c->out) < 0) {
		conn_close(d, c);
		return;
	}
	if (events & EPOLLOUT)
		conn_rewatch(d, c);  /* its replies went out: it may send again */
	/*
	 * One message per wake-up: epoll is level-triggered and reports the
	 * descriptor again while more wait, and reading on until EAGAIN
	 * would cost a system call per wake-up that usually finds nothing
	 * (one request in flight is the common case).
	 */
	while (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
		ssize_t n;

		if (conn_paused(d, c)) {
			/*
			 * Gone while paused: what it still had queued could
			 * not be answered anyway (the kernel's EPOLLERR is
			 * its unmount).
			 */
			if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
				conn_close(d, c);
			else
				conn_rewatch(d, c);
			return;
		}
		n = ep_recv(d, ep);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0 && errno == ENOENT)
			continue;  /* the kernel withdrew the request */
		if (n <= 0) {
			/* ENODEV from /dev/fuse: the kernel mount is gone. */
			conn_close(d, c);
			return;
		}
		if ((size_t)n > RBUF_SIZE) {
			pf_warn("client pid %d: %zd-byte message too large; "
			    "connection closed", (int)c->pid, n);
			conn_close(d, c);
			return;
		}
		if (c->state == CONN_TRACE)
			continue;  /* a subscriber has nothing to say */
		if (c->state == CONN_CTL && pf_frame_is_frame(d->rbuf, (size_t)n))
			mux_frame(d, c, d->rbuf, (size_t)n);
		else if (c->state == CONN_CTL)
			ctl_message(d, c, d->rbuf, (size_t)n);
		else
			mux_client_msg(d, c, d->rbuf, (size_t)n);
		return;
	}
}

/*
 * A new client connection: a socket in control mode, or the kernel's
 * /dev/fuse (its caller attaches it to a mount).
 */
struct conn *
conn_add(struct daemon *d, int fd, int kernel)
{
	struct ucred cred = { 0, 0, 0 };
	socklen_t len = sizeof(cred);
	struct conn *c;

	/* Every peer is known by its credentials, never by what it says. */
	if ((!kernel && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* Room for the largest reply perfused relays to it. */
	if (!kernel)
		pf_sock_setbuf(fd, PF_MAX_MAX_PAGES * 4096);
	else
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->ep.fd = fd;
	c->ep.dev = kernel;
	c->ep.handler = conn_event;
	c->kernel = kernel;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->state = CONN_CTL;
	c->next = d->conns;
	d->conns = c;
	ep_watch(d, &c->ep, EPOLLIN);
	dbg(d, DBG_CTL, "ctl: connection from %s pid %d uid %u", kernel ? "the kernel" :
	    "a client", (int)c->pid, (unsigned)c->uid);
	return c;
}

static int
conn_new(struct daemon *d, int fd)
{
	return conn_add(d, fd, 0) != NULL ? 0 : -1;
}

/* Connections uid holds now (control, FUSE and trace alike). */
static unsigned
conns_of_uid(struct daemon *d, uid_t uid)
{
	struct conn *c;
	unsigned n = 0;

	for (c = d->conns; c != NULL; c = c->next)
		if (!c->kernel && !c->dead && c->uid == uid)
			n++;
	return n;
}

/*
 * Out of descriptors (EMFILE, ENFILE): the connection waiting would make
 * the listening socket readable for ever, and the loop spin.  Give up the
 * spare descriptor for a moment to accept it and close it at once: the
 * client sees its connection closed, not a hang.  Without a spare (it
 * could not be taken back), stop listening for a second or so.
 */
static void
accept_shed(struct daemon *d, struct endpoint *ep, int err)
{
	int fd;

	pf_warn_ratelimit(&d->warned_accept, 10, "accept: %s; new connections are "
	    "closed until some end (the limit: ulimit -n)", strerror(err));
	if (d->spare_fd >= 0) {
		close(d->spare_fd);
		fd = accept4(ep->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && d->spare_fd >= 0)
			return;
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, ep->fd, NULL);
	ep->events = 0;
	d->listen_off = time(NULL);
}

static void
accept_event(struct daemon *d, struct endpoint *ep, uint32_t events)
{
	(void)events;
	for (;;) {
		int fd = accept4(ep->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				accept_shed(d, ep, errno);
			else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				pf_warn_ratelimit(&d->warned_accept, 10, "accept: %s",
				    strerror(errno));
			return;
		}
		c = conn_add(d, fd, 0);
		if (c == NULL) {
			close(fd);
		} else if (c->uid != 0 && conns_of_uid(d, c->uid) > CONN_PER_UID_MAX) {
			pf_warn_ratelimit(&d->warned_accept, 10, "uid %u has %u "
			    "connections open; closing the next (pid %d)",
			    (unsigned)c->uid, CONN_PER_UID_MAX, (int)c->pid);
			conn_close(d, c);
		}
	}
}

/* The listening socket, set aside by accept_shed, is watched again. */
static void
listen_resume(struct daemon *d, time_t now)
{
	if (d->listen_off == 0 || now <= d->listen_off)
		return;
	if (d->spare_fd < 0)
		d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (d->spare_fd < 0)
		return;
	d->listen_off = 0;
	ep_watch(d, &d->listen, EPOLLIN);
}

/* ------------------------------------------------------------------ */
/* Signals.                                                              */

static void
sig_event(struct daemon *d, struct endpoint *ep, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	while (read(ep->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int status;
			pid_t pid;

			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				mount_child_exited(d, pid, status);
		} else if (si.ssi_signo == SIGUSR1) {
			trace_dump(d);
		} else if (!d->stopping) {
			struct mount *m;

			pf_info("signal %d: unmounting everything and exiting",
			    (int)si.ssi_signo);
			d->stopping = 1;
			for (m = d->mounts; m != NULL; m = m->next)
				if (m->state == M_READY || m->state == M_STARTING ||
				    m->state == M_RESTARTING)
					mount_unmount(d, m, NULL);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Set-up.                                                               */

/* The socket's directory: ours, 0700, and never a symlink. */
static int
make_sockdir(const char *sockpath)
{
	char *dir = strdup(sockpath), *slash;
	struct stat st;

	if (dir == NULL)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = '\0';
	/* A user's directory is private; root's serves every user. */
	if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "perfused: %s: %s\n", dir, strerror(errno));
		free(dir);
		return -1;
	}
	if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
		fprintf(stderr, "perfused: %s: is a symbolic link; the socket's "
		    "directory must be a real directory (refusing to follow it)\n", dir);
		free(dir);
		return -1;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		fprintf(stderr, "perfused: %s: not a directory owned by uid %u\n", dir,
		    (unsigned)geteuid());
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

/* One perfused per socket: a lock beside it says who owns the path. */
static int
take_lock(const char *sockpath)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int fd;

	snprintf(path, sizeof(path), "%s.lock", sockpath);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "perfused: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -2;
	}
	return fd;
}

static int
open_listen(const char *sockpath)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(sockpath) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "perfused: %s: socket path too long\n", sockpath);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "perfused: socket: %s\n", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, sockpath);
	unlink(sockpath);  /* stale: we hold the lock */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sockpath, 0666) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "perfused: %s: %s\n", sockpath, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
open_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/*
 * Detach from the terminal.  The parent waits on a pipe until the daemon
 * listens, so that whoever started us can connect as soon as we return.
 */
static int
daemonize(const char *sockpath, int *ready_fd)
{
	char logpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int p[2], fd;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	(void)!chdir("/");
	snprintf(logpath, sizeof(logpath), "%s.log", sockpath);
	fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	*ready_fd = p[1];
	return 0;
}

/* Free what was closed during the last round of events. */
static void
bury(struct daemon *d)
{
	while (d->graveyard != NULL) {
		struct conn *c = d->graveyard;

		d->graveyard = c->next;
		free(c);
	}
	mount_bury(d);
}

/*
 * systemd socket activation: LISTEN_PID names us and LISTEN_FDS is 1, so
 * fd 3 is our listening socket, bound by systemd.  Returns it or -1.
 */
static int
activated_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int fd = 3;

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() ||
	    strcmp(fds, "1") != 0)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pf_info("using the socket systemd passed (fd %d)", fd);
	return fd;
}

/* The notification writer tells the loop what it wrote through a pipe. */
static int
open_done_pipe(struct daemon *d)
{
	int p[2];

	/* Only our end is non-blocking: the writer must never lose a ticket. */
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	d->done.fd = p[0];
	d->done.handler = mux_notes_done;
	kernel_set_done_fd(p[1]);
	return 0;
}

static int
is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static char *
absolute(const char *path)
{
	char cwd[4096];
	char *out;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/* -i: our stderr is the filesystem's terminal; log beside the socket. */
static void
redirect_log(const char *sockpath, int own)
{
	char path[4200];
	int fd;

	if (!own)
		return;
	snprintf(path, sizeof(path), "%s.log", sockpath);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
}

/*
 * The preload shim and the fusermount stand-ins: $PERFUSE_PRELOAD and
 * $PERFUSE_FUSERMOUNT_DIR, else beside perfused in a build tree, else
 * where make install put them.
 */
static char *
find_helper(const char *env, const char *rel, const char *installed, const char *probe)
{
	char self[4096], path[4300];
	const char *e = getenv(env);
	ssize_t n;

	if (e != NULL && *e != '\0')
		return strdup(e);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(path, sizeof(path), "%s/%s%s", self, rel, probe);
		if (access(path, R_OK) == 0) {
			snprintf(path, sizeof(path), "%s/%s", self, rel);
			return strdup(path);
		}
	}
	snprintf(path, sizeof(path), "%s%s", installed, probe);
	return access(path, R_OK) == 0 ? strdup(installed) : NULL;
}

static void
find_helpers(struct daemon *d)
{
	d->preload = find_helper("PERFUSE_PRELOAD", "preload/libperfuse_preload.so",
	    PERFUSE_PRELOAD_PATH, "");
	d->fmdir = find_helper("PERFUSE_FUSERMOUNT_DIR", "fusermount",
	    PERFUSE_FUSERMOUNT_DIR, "/fusermount3");
	dbg(d, DBG_FS, "preload shim: %s; fusermount stand-ins: %s",
	    d->preload ? d->preload : "none", d->fmdir ? d->fmdir : "none");
}

static int
next_timeout(struct daemon *d)
{
	struct mount *m;

	if (d->listen_off)
		return 1000;
	for (m = d->mounts; m != NULL; m = m->next)
		if (m->deadline != 0)
			return 250;
	/* Requests in flight may time out: look once a second. */
	for (m = d->mounts; m != NULL; m = m->next)
		if (m->pending.used > 0 && m->timeout > 0)
			return 1000;
	return d->stopping ? 250 : -1;
}

static void
run(struct daemon *d)
{
	struct epoll_event evs[64];

	while (!d->stopping || d->mounts != NULL) {
		/* -i without our own socket: done when nothing is left to serve. */
		if (d->inherited && d->listen.fd < 0 && d->mounts == NULL &&
		    d->conns == NULL)
			break;
		int i, n = epoll_wait(d->epfd, evs, 64, next_timeout(d));

		if (n < 0 && errno != EINTR) {
			pf_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct endpoint *ep = evs[i].data.ptr;

			ep->handler(d, ep, evs[i].events);
		}
		time_t now = time(NULL);

		mount_tick(d, now);
		mount_resume(d);
		bury(d);
		listen_resume(d, now);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	char defsock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct daemon d;
	int opt, lockfd, ready = -1, ifd = -1;
	char *end;

	memset(&d, 0, sizeof(d));
	d.spare_fd = -1;
	while ((opt = getopt_long(argc, argv, "hfd:s:i:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'f':
			d.foreground = 1;
			break;
		case 'd':
			if (parse_debug(optarg, &d.debug) < 0)
				return 2;
			break;
		case 's':
			d.sockpath = optarg;
			break;
		case 'i':
			ifd = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || ifd < 0 || !is_socket(ifd)) {
				fprintf(stderr, "perfused: -i %s: not an inherited socket\n",
				    optarg);
				return 2;
			}
			d.inherited = 1;
			d.foreground = 1;  /* the caller already detached us */
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (d.sockpath == NULL) {
		if (perfuse_default_socket(defsock, sizeof(defsock)) < 0) {
			fprintf(stderr, "perfused: default socket path too long\n");
			return 1;
		}
		d.sockpath = defsock;
	}
	d.sockpath = absolute(d.sockpath);
	if (d.sockpath == NULL || make_sockdir(d.sockpath) < 0) {
		free(d.sockpath);
		return 1;
	}
	lockfd = take_lock(d.sockpath);
	if (lockfd == -2 && !d.inherited) {
		fprintf(stderr, "perfused: %s: another perfused serves this socket\n",
		    d.sockpath);
		free(d.sockpath);
		return 0;
	}
	if (lockfd < 0 && !d.inherited) {
		free(d.sockpath);
		return 1;
	}
	perfuse_set_log(log_hook, NULL);
	/* With -i, listening is a bonus: clients can then reach the mount. */
	d.listen.fd = activated_socket();
	d.activated = d.listen.fd >= 0;
	if (d.listen.fd < 0)
		d.listen.fd = lockfd >= 0 ? open_listen(d.sockpath) : -1;
	if (d.listen.fd < 0 && !d.inherited) {
		free(d.sockpath);
		return 1;
	}
	if (d.inherited)
		redirect_log(d.sockpath, lockfd >= 0);
	find_helpers(&d);
	spawn_raise_nofile();
	d.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	d.listen.handler = accept_event;
	d.sig.fd = open_signals();
	d.sig.handler = sig_event;
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	d.rbuf = malloc(RBUF_SIZE);
	if (d.sig.fd < 0 || d.epfd < 0 || d.rbuf == NULL) {
		fprintf(stderr, "perfused: cannot set up: %s\n", strerror(errno));
		return 1;
	}
	if (open_done_pipe(&d) < 0) {
		fprintf(stderr, "perfused: cannot set up: %s\n", strerror(errno));
		return 1;
	}
	if (!d.foreground && daemonize(d.sockpath, &ready) < 0) {
		fprintf(stderr, "perfused: fork: %s\n", strerror(errno));
		return 1;
	}
	/*
	 * Filesystems that daemonize become our children again.  After
	 * daemonize(): fork(2) does not pass the attribute on.
	 */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (d.listen.fd >= 0) {
		ep_watch(&d, &d.listen, EPOLLIN);
		pf_info("listening on %s", d.sockpath);
	}
	ep_watch(&d, &d.sig, EPOLLIN);
	ep_watch(&d, &d.done, EPOLLIN);
	if (ifd >= 0 && conn_new(&d, ifd) < 0) {
		pf_err("-i %d: cannot serve the inherited socket", ifd);
		return 1;
	}
	if (ready >= 0) {
		(void)!write(ready, "", 1);
		close(ready);
	}
	run(&d);
	if (d.listen.fd >= 0 && !d.activated)
		unlink(d.sockpath);  /* systemd's socket stays for the next start */
	while (d.conns != NULL)
		conn_close(&d, d.conns);
	bury(&d);
	kernel_writer_stop();
	while (d.deferred != NULL) {
		struct deferred *f = d.deferred;

		d.deferred = f->next;
		free(f);
	}
	free(d.rbuf);
	if (d.spare_fd >= 0)
		close(d.spare_fd);
	if (d.listen.fd >= 0)
		close(d.listen.fd);
	close(d.sig.fd);
	close(d.epfd);
	if (lockfd >= 0)
		close(lockfd);
	free(d.preload);
	free(d.fmdir);
	free(d.sockpath);
	pf_info("exiting");
	return 0;
}
