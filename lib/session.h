/*
 * session.h - a client session with one FUSE server: the life of a
 * request (send, wait, match by unique, validate), node references and
 * their FORGETs, and operations latched off by ENOSYS.
 */
#ifndef PERFUSE_SESSION_H
#define PERFUSE_SESSION_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "perfuse.h"
#include "init.h"
#include "map.h"
#include "proto.h"

struct pf_req;

struct perfuse_conn {
	int fd;
	char *name;            /* for messages: the mount's target */
	unsigned flags;        /* PERFUSE_CONN_* */
	struct pf_init_params p;
	uint32_t max_read;
	size_t msgmax;         /* largest datagram we send or receive */

	pthread_mutex_t lock;  /* everything below */
	pthread_cond_t cv;     /* a reply arrived or the reader changed */
	uint64_t next_unique;
	struct pf_req *inflight;
	int reading;           /* a thread is receiving for everybody */
	int dead;              /* the server is gone: -ENOTCONN from now on */
	uint64_t latched;      /* bit per opcode < 64: ENOSYS seen */
	struct u64map nodes;   /* nodeid -> nlookup, to forget, generation */
	uint64_t *forget_ids;  /* nodes with to_forget > 0 */
	size_t nforget, forget_cap;
	int enable_access;     /* PERFUSE_OPTIONS */
	long warned;           /* rate limit of reply warnings */
};

/* Input pieces of a request after its in header. */
struct pf_in {
	const struct iovec *iov;
	int n;
};

/*
 * Send a request and wait for its reply.  The payload of the reply goes to
 * out (at most outcap bytes; *outlen gets its length if outlen != NULL).
 * Returns 0, the server's -errno, or a local -errno (-ENOTCONN when the
 * server is gone, -EIO for a reply that fails validation, -ENOSYS for an
 * operation latched off).
 */
int pf_call(perfuse_conn *c, uint32_t opcode, uint64_t nodeid,
    const struct iovec *in, int nin, void *out, size_t outcap, size_t *outlen);

/*
 * perfuse_conn_fd() offering a chosen minor (PF_MINOR_MIN..PF_MINOR_MAX)
 * in INIT, for tools that test servers at old protocol levels.
 */
int pf_conn_open(int fd, const char *name, unsigned flags, unsigned minor,
    perfuse_conn **out);

/* Send a request that takes no reply (FORGET, BATCH_FORGET). */
int pf_send_noreply(perfuse_conn *c, uint32_t opcode, uint64_t nodeid,
    const struct iovec *in, int nin);

/* Operation latched off by an earlier ENOSYS? */
int pf_latched(perfuse_conn *c, uint32_t opcode);
void pf_latch(perfuse_conn *c, uint32_t opcode);

/*
 * Record a reference the server handed out with an entry (LOOKUP, CREATE,
 * MKNOD ...).  Never fails: the reference is what the server counts.
 */
void pf_node_got(perfuse_conn *c, uint64_t nodeid, uint64_t generation);

/* Give back n references to nodeid; FORGETs go out in batches. */
void pf_node_put(perfuse_conn *c, uint64_t nodeid, uint64_t n);

/* Send every FORGET still owed.  Returns 0 or -errno. */
int pf_forget_flush(perfuse_conn *c);

/* Convert attributes at the session's minor into a struct stat. */
void pf_attr_to_stat(const perfuse_conn *c, const struct fuse_attr *a,
    struct stat *st);

/* ------------------------------------------------------------------ */
/* raw.c: requests built and replies seen whole, for the tools that     */
/* test servers (perfuse check, perfuse replay).  Nothing is matched,   */
/* validated or latched: the caller checks replies (pf_check_reply()).  */
/* A session uses these or pf_call() at a time, not both at once.       */

/* A fresh unique (even) from the session's counter.  An INTERRUPT for a
 * request goes with its unique | 1, as the kernel sends it. */
uint64_t pf_raw_unique(perfuse_conn *c);

/* The largest message the session sends or receives. */
size_t pf_raw_msgmax(const perfuse_conn *c);

/*
 * Send h followed by in[0..nin) (nin <= 7) as one message, h as the
 * caller filled it; h->len is set here.  No reply is awaited.  Returns 0,
 * -ENOTCONN when the server is gone, -EMSGSIZE, or -errno.
 */
int pf_raw_send(perfuse_conn *c, struct fuse_in_header *h,
    const struct iovec *in, int nin);

/*
 * Receive the next message from the server (a reply or a notification)
 * into buf, at most size bytes, waiting at most timeout_ms (-1: no
 * limit).  Returns the message's whole length (more than size when it was
 * cut short), -ETIMEDOUT, -ENOTCONN when the server closed the connection
 * (the session is dead from then on), or -errno.
 */
ssize_t pf_raw_recv(perfuse_conn *c, void *buf, size_t size, int timeout_ms);

#endif
