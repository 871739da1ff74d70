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
struct pf_dentry;

/*
 * What libperfuse knows of a node it holds references to (slot v3 of
 * perfuse_conn.nodes; the root's is perfuse_conn.root).  The attribute
 * cache lives here; see cache.c.
 */
struct pf_inode {
	uint64_t users;        /* holders: cached entries, walks, open handles */
	uint64_t generation;
	uint64_t attr_ver;     /* cache_ver when its attributes last changed */
	uint64_t dir_ver;      /* cache_ver when names in it last changed */
	int64_t attr_expire;   /* CLOCK_MONOTONIC ns until attr is valid; 0: not */
	struct fuse_attr attr;
};

/* The dentry cache: (parent nodeid, name) -> nodeid, with an LRU list. */
struct pf_dcache {
	struct pf_dentry **buckets;
	size_t nbuckets;       /* a power of two, or 0 */
	size_t n;              /* entries */
	struct pf_dentry *lru_head, *lru_tail;  /* most recently used first */
};

struct perfuse_conn {
	int fd;
	char *name;            /* for messages: the mount's target */
	unsigned flags;        /* PERFUSE_CONN_* */
	struct pf_init_params p;
	uint32_t max_read;
	size_t msgmax;         /* largest datagram we send or receive */
	/*
	 * The credentials requests carry: the process's when it connected,
	 * as SO_PEERCRED gives perfused (three system calls a request, on
	 * a machine where one costs more than a cached stat, otherwise).
	 */
	uint32_t cred_uid, cred_gid, cred_pid;
	int64_t last_peek;     /* pf_take_notifications_locked() */
	char *scratch;         /* msgmax bytes: the reader receives into it */

	pthread_mutex_t lock;  /* everything below */
	pthread_cond_t cv;     /* a reply arrived or the reader changed */
	uint64_t next_unique;
	struct pf_req *inflight;
	int reading;           /* a thread is receiving for everybody */
	int dead;              /* the server is gone: -ENOTCONN from now on */
	uint64_t latched;      /* bit per opcode < 64: ENOSYS seen */
	/*
	 * nodeid -> nlookup (v1: references the server handed out and we
	 * have not forgotten yet), the part of it waiting for a FORGET (v2)
	 * and its struct pf_inode (v3).
	 */
	struct u64map nodes;
	uint64_t *forget_ids;  /* nodes with to_forget > 0 */
	size_t nforget, forget_cap;
	struct u64map async;   /* unique -> node to let go (v1): replies nobody waits for */
	struct pf_inode root;  /* the root's attributes (never forgotten) */
	struct pf_dcache dc;
	uint64_t cache_ver;    /* bumped by every change to a name or attributes */
	size_t cache_max;      /* PERFUSE_OPTIONS cache_entries; 0: no caching */
	unsigned spin_us;      /* PERFUSE_OPTIONS spin=US: poll for a reply first */
	unsigned spin_skip;    /* replies still to wait for without polling */
	unsigned spin_backoff; /* spin_skip after the next poll in vain */
	int enable_access;     /* PERFUSE_OPTIONS */
	int lookup_creat;      /* PERFUSE_OPTIONS: LOOKUP before CREATE */
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
 * Node references.  The server counts lookup references (nlookup); here
 * a node also counts its users: whoever needs the nodeid to stay valid (a
 * cached entry, a path walk in progress, an open handle, a RELEASE in
 * flight).  When the last user goes, every reference the node still has
 * is forgotten, as the kernel forgets an inode's nlookup when it evicts it.
 *
 * pf_node_got() records a reference the server handed out with an entry
 * (LOOKUP, CREATE, MKNOD ...) and makes the caller a user.  Returns 0, or
 * -ENOMEM when it could not be recorded (then it was forgotten at once and
 * the caller is no user).
 */
int pf_node_got(perfuse_conn *c, uint64_t nodeid, uint64_t generation);

/* The caller stops being a user n times; FORGETs go out in batches. */
void pf_node_put(perfuse_conn *c, uint64_t nodeid, uint64_t n);

/* Send every FORGET still owed.  Returns 0 or -errno. */
int pf_forget_flush(perfuse_conn *c);

/* With c->lock held: the inode of a node in the table (or the root), NULL if none. */
struct pf_inode *pf_inode_locked(perfuse_conn *c, uint64_t nodeid);
/* With c->lock held: one more user of a node known to be held. */
void pf_node_hold_locked(perfuse_conn *c, uint64_t nodeid);
/* With c->lock held: pf_node_put() without the flush. */
void pf_node_put_locked(perfuse_conn *c, uint64_t nodeid, uint64_t n);
/* Unlock c->lock and send the FORGETs collected if a batch is full. */
void pf_unlock_flush(perfuse_conn *c);

/*
 * Send a request whose reply nobody waits for (RELEASE, RELEASEDIR, as the
 * kernel sends them in the background): whoever reads the reply drops it
 * and then lets go of one user of put_node (0: none), so that the node's
 * FORGET comes after the RELEASE, as in the kernel.  At most PF_ASYNC_MAX
 * are in flight; the caller waits (reading replies) beyond.
 */
int pf_call_async(perfuse_conn *c, uint32_t opcode, uint64_t nodeid,
    const struct iovec *in, int nin, uint64_t put_node);

/* ------------------------------------------------------------------ */
/* cache.c: the dentry and attribute caches.  Functions named _locked     */
/* are called with c->lock held.                                         */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t pf_now(void);
/* When a validity of sec.nsec given at now ends; 0 for a zero validity. */
int64_t pf_expiry(int64_t now, uint64_t sec, uint32_t nsec);

/* Outcome of pf_dc_get_locked(). */
enum pf_dc_hit { PF_DC_MISS, PF_DC_POSITIVE, PF_DC_NEGATIVE };

/*
 * Look (parent, name) up in the dentry cache.  A valid positive entry
 * gives its nodeid in *nodeid and the caller becomes a user of it; an
 * expired one is removed, and then *stale gets its nodeid with the
 * entry's user handed over to the caller (0 if none), so that the node
 * stays valid while it is looked up again.
 */
enum pf_dc_hit pf_dc_get_locked(perfuse_conn *c, uint64_t parent,
    const char *name, int64_t now, uint64_t *nodeid, uint64_t *stale);
/*
 * Cache (parent, name) -> nodeid (0: a negative entry) until expire,
 * replacing an entry there.  The entry is a user of nodeid and of
 * parent.  Nothing is cached when the cache is off, expire is 0, or the
 * names in parent changed since snap (a reply older than that change).
 */
void pf_dc_set_locked(perfuse_conn *c, uint64_t parent, const char *name,
    uint64_t nodeid, int64_t expire, uint64_t snap);
/* Forget (parent, name): a name in parent changed. */
void pf_dc_drop_locked(perfuse_conn *c, uint64_t parent, const char *name,
    size_t len);
/* Names in dir changed (made, removed): its attributes and LOOKUPs in
 * flight in it are stale. */
void pf_dir_changed_locked(perfuse_conn *c, uint64_t dir);
/* Free every entry without touching the node table (disconnect). */
void pf_dc_free(perfuse_conn *c);

/*
 * Store attributes from a reply sent at snap, valid for sec.nsec; stale
 * when the node's attributes changed since snap.  modified: the request
 * changed them (SETATTR, CREATE ...), so replies sent before it are stale.
 */
void pf_attr_set_locked(perfuse_conn *c, uint64_t nodeid,
    const struct fuse_attr *a, uint64_t sec, uint32_t nsec, uint64_t snap,
    int modified);
/* The node's attributes changed in a way we cannot know: ask next time. */
void pf_attr_inval_locked(perfuse_conn *c, uint64_t nodeid);
/* Cached attributes of nodeid when still valid: 1 and *a, else 0. */
int pf_attr_get_locked(perfuse_conn *c, uint64_t nodeid, int64_t now,
    struct fuse_attr *a);
/* A notification from the server (unique 0): invalidate what it names. */
void pf_notify_locked(perfuse_conn *c, int code, const void *body, size_t len);
/*
 * Take the notifications that came while no thread was reading, before
 * answering from the cache.  Called and returns with the lock held.
 */
void pf_take_notifications_locked(perfuse_conn *c);

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
