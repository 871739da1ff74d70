/*
 * tracing.c - live traces of a mount's traffic for "perfuse trace", and
 * the ring of last requests that SIGUSR1 dumps to the log.
 *
 * Tracing must never slow the mount: a subscriber that does not keep up
 * loses records (it is told how many), nothing is queued for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "perfused.h"
#include "trace.h"

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
send_rec(struct conn *t, const struct pf_trace_rec *r, const void *msg)
{
	struct iovec iov[2] = { { (void *)(uintptr_t)r, sizeof(*r) },
		{ (void *)(uintptr_t)msg, r->msglen } };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = r->msglen ? 2 : 1;
	return sendmsg(t->ep.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

/* Tell a subscriber how many records it missed, before the next one. */
static int
send_lost(struct conn *t)
{
	struct pf_trace_rec r;

	memset(&r, 0, sizeof(r));
	r.len = sizeof(r);
	r.kind = PF_TR_LOST;
	r.time_ns = now_ns();
	r.error = (int32_t)t->trace_lost;
	if (send_rec(t, &r, NULL) != 0)
		return -1;
	t->trace_lost = 0;
	return 0;
}

void
trace_msg(struct daemon *d, struct mount *m, unsigned kind, const struct conn *c,
    const struct pend *p, const void *msg, size_t len)
{
	struct pf_trace_rec r;
	struct conn *t;

	memset(&r, 0, sizeof(r));
	r.kind = (uint16_t)kind;
	r.time_ns = now_ns();
	r.origlen = (uint32_t)len;
	if (c != NULL) {
		r.flags = c->kernel ? PF_TRF_KERNEL : 0;
		r.pid = (uint32_t)c->pid;
	}
	if (kind == PF_TR_REQUEST && len >= sizeof(struct fuse_in_header)) {
		struct fuse_in_header h;

		memcpy(&h, msg, sizeof(h));
		r.unique = h.unique;
		r.nodeid = h.nodeid;
		r.opcode = h.opcode;
		if (c != NULL && c->kernel)
			r.pid = h.pid;
	} else if (len >= sizeof(struct fuse_out_header)) {
		struct fuse_out_header oh;

		memcpy(&oh, msg, sizeof(oh));
		r.error = oh.error;
		r.unique = oh.unique;
	}
	if (p != NULL) {
		r.opcode = p->opcode;
		r.nodeid = p->nodeid;
		r.latency_us = (uint32_t)((r.time_ns - p->start_ns) / 1000);
	}
	for (t = d->conns; t != NULL; t = t->next) {
		if (t->state != CONN_TRACE || t->traced != m || t->dead)
			continue;
		r.msglen = (uint32_t)(t->trace_full || len < PF_TRACE_SUMMARY ? len :
		    PF_TRACE_SUMMARY);
		r.flags = (uint16_t)((r.flags & ~PF_TRF_TRUNC) |
		    (r.msglen < len ? PF_TRF_TRUNC : 0));
		r.len = (uint32_t)(sizeof(r) + r.msglen);
		if ((t->trace_lost > 0 && send_lost(t) != 0) || send_rec(t, &r, msg) != 0)
			t->trace_lost++;
	}
}

/* The mount ended: subscribers hear so and are let go. */
void
trace_end(struct daemon *d, struct mount *m)
{
	struct pf_trace_rec r;
	struct conn *t, *next;

	memset(&r, 0, sizeof(r));
	r.len = sizeof(r);
	r.kind = PF_TR_END;
	r.time_ns = now_ns();
	for (t = d->conns; t != NULL; t = next) {
		next = t->next;
		if (t->state != CONN_TRACE || t->traced != m)
			continue;
		(void)send_rec(t, &r, NULL);
		t->traced = NULL;
		conn_close(d, t);
	}
	m->ntracers = 0;
}

void
trace_remember(struct mount *m, const struct pend *p, int32_t error)
{
	struct ring_ent *e = &m->ring[m->ring_next++ % 64];

	e->start_ns = p->start_ns;
	e->unique = p->client_unique;
	e->nodeid = p->nodeid;
	e->opcode = p->opcode;
	e->pid = p->c != NULL ? (uint32_t)p->c->pid : 0;
	e->latency_us = p->start_ns ? (uint32_t)((now_ns() - p->start_ns) / 1000) : 0;
	e->error = error;
}

/* SIGUSR1, as in the seed: the last requests of each mount to the log. */
void
trace_dump(struct daemon *d)
{
	struct mount *m;

	for (m = d->mounts; m != NULL; m = m->next) {
		unsigned i, n = m->ring_next < 64 ? m->ring_next : 64;

		pf_info("%s: the last %u requests (state %d, %zu in flight):", m->target, n,
		    (int)m->state, m->pending.used);
		for (i = 0; i < n; i++) {
			const struct ring_ent *e = &m->ring[(m->ring_next - n + i) % 64];
			time_t sec = (time_t)(e->start_ns / 1000000000ULL);
			struct tm tm;
			char when[16];

			localtime_r(&sec, &tm);
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
			pf_info("%s:   %s.%06llu pid %u %s node %llu -> %d in %u us", m->target,
			    when, (unsigned long long)(e->start_ns % 1000000000ULL) / 1000,
			    e->pid, pf_op_name(e->opcode), (unsigned long long)e->nodeid,
			    e->error, e->latency_us);
		}
	}
}
