/*
 * cache.c - the dentry and attribute caches of a session, as the kernel
 * keeps them for a FUSE mount (fs/fuse/dir.c).  See session.h.
 *
 * The server says in every entry how long the name (entry_valid) and the
 * attributes (attr_valid) may be trusted without asking again; a LOOKUP
 * answered with nodeid 0 and an entry_valid is a negative entry, a name
 * known to be missing for that long.  The kernel keeps these in its
 * dcache and inodes; the API's path walk keeps them here:
 *
 *  - A cached positive entry is a user of its node (session.c), so the
 *    node's lookup references stay with the server while the entry lives:
 *    the kernel's dentry pins its inode in the same way, and the FORGET
 *    goes when the entry is evicted (expired on its next use, pushed out
 *    of the LRU list past cache_max entries, or at disconnect).
 *  - Every entry, positive or negative, is also a user of its parent: a
 *    nodeid the server recycles for another directory would otherwise
 *    find our names for the old one.
 *  - Replies race with changes made by other threads of the connection
 *    (the kernel serializes them with the directory's i_rwsem; we do not
 *    lock directories).  So a change to a directory's names or a node's
 *    attributes bumps c->cache_ver into the directory's dir_ver or the
 *    node's attr_ver, and a reply is cached only when the version it was
 *    sent at (snap) is not older: the kernel's attr_version rule.
 *
 * Everything here runs under c->lock: one lock for the node table and both
 * caches, held for a hash lookup at a time.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "session.h"

struct pf_dentry {
	struct pf_dentry *hnext;       /* hash chain */
	struct pf_dentry *prev, *next; /* LRU list */
	uint64_t parent;
	uint64_t nodeid;               /* 0: a negative entry */
	int64_t expire;                /* CLOCK_MONOTONIC ns */
	uint32_t hash;
	uint32_t len;
	char name[];
};

/* A validity longer than this is "for ever" (the kernel caps it too). */
#define MAX_VALID_SEC (100ULL * 365 * 24 * 3600)

int64_t
pf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * As fuse_time_to_jiffies(): a zero validity is none at all; nsec is
 * clamped below a second, sec to what the clock can hold.
 */
int64_t
pf_expiry(int64_t now, uint64_t sec, uint32_t nsec)
{
	if (sec == 0 && nsec == 0)
		return 0;
	if (sec > MAX_VALID_SEC)
		sec = MAX_VALID_SEC;
	if (nsec > 999999999)
		nsec = 999999999;
	return now + (int64_t)sec * 1000000000 + (int64_t)nsec;
}

static uint32_t
dc_hash(uint64_t parent, const char *name, size_t len)
{
	uint64_t h = parent * 0x9e3779b97f4a7c15ULL ^ 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
	return (uint32_t)(h ^ (h >> 32));
}

static struct pf_dentry **
dc_slot(struct pf_dcache *dc, uint64_t parent, const char *name, size_t len,
    uint32_t hash)
{
	struct pf_dentry **pp;

	if (dc->nbuckets == 0)
		return NULL;
	for (pp = &dc->buckets[hash & (dc->nbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		struct pf_dentry *d = *pp;

		if (d->hash == hash && d->parent == parent && d->len == len &&
		    memcmp(d->name, name, len) == 0)
			return pp;
	}
	return pp;
}

static void
lru_unlink(struct pf_dcache *dc, struct pf_dentry *d)
{
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		dc->lru_head = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	else
		dc->lru_tail = d->prev;
	d->prev = d->next = NULL;
}

static void
lru_push(struct pf_dcache *dc, struct pf_dentry *d)
{
	d->prev = NULL;
	d->next = dc->lru_head;
	if (dc->lru_head != NULL)
		dc->lru_head->prev = d;
	else
		dc->lru_tail = d;
	dc->lru_head = d;
}

/* Take d out of the table (pp is its hash link); the caller frees it. */
static void
dc_unhash(struct pf_dcache *dc, struct pf_dentry **pp)
{
	struct pf_dentry *d = *pp;

	*pp = d->hnext;
	lru_unlink(dc, d);
	dc->n--;
}

/* Remove the entry at *pp and let go of what it held. */
static void
dc_remove(perfuse_conn *c, struct pf_dentry **pp)
{
	struct pf_dentry *d = *pp;

	dc_unhash(&c->dc, pp);
	pf_node_put_locked(c, d->nodeid, 1);
	pf_node_put_locked(c, d->parent, 1);
	free(d);
}

static int
dc_grow(struct pf_dcache *dc)
{
	size_t nb = dc->nbuckets ? dc->nbuckets * 2 : 64, i;
	struct pf_dentry **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	for (i = 0; i < dc->nbuckets; i++) {
		struct pf_dentry *d = dc->buckets[i], *next;

		for (; d != NULL; d = next) {
			next = d->hnext;
			d->hnext = b[d->hash & (nb - 1)];
			b[d->hash & (nb - 1)] = d;
		}
	}
	free(dc->buckets);
	dc->buckets = b;
	dc->nbuckets = nb;
	return 0;
}

enum pf_dc_hit
pf_dc_get_locked(perfuse_conn *c, uint64_t parent, const char *name,
    int64_t now, uint64_t *nodeid, uint64_t *stale)
{
	size_t len = strlen(name);
	struct pf_dentry **pp = dc_slot(&c->dc, parent, name, len,
	    dc_hash(parent, name, len));
	struct pf_dentry *d;

	*nodeid = 0;
	*stale = 0;
	if (pp == NULL || (d = *pp) == NULL)
		return PF_DC_MISS;
	if (now < d->expire) {
		lru_unlink(&c->dc, d);
		lru_push(&c->dc, d);
		if (d->nodeid == 0)
			return PF_DC_NEGATIVE;
		pf_node_hold_locked(c, d->nodeid);
		*nodeid = d->nodeid;
		return PF_DC_POSITIVE;
	}
	/*
	 * Expired: the caller looks the name up again.  It takes over the
	 * entry's hold on the node so that the server keeps the node (and
	 * the caller may compare nodeids) until the new reply is in, as the
	 * kernel's revalidation LOOKUP does with the dentry still in place.
	 */
	dc_unhash(&c->dc, pp);
	*stale = d->nodeid;
	pf_node_put_locked(c, d->parent, 1);
	free(d);
	return PF_DC_MISS;
}

void
pf_dc_set_locked(perfuse_conn *c, uint64_t parent, const char *name,
    uint64_t nodeid, int64_t expire, uint64_t snap)
{
	struct pf_inode *dir = pf_inode_locked(c, parent);
	size_t len = strlen(name);
	uint32_t hash = dc_hash(parent, name, len);
	struct pf_dentry **pp, *d;

	pp = dc_slot(&c->dc, parent, name, len, hash);
	if (pp != NULL && *pp != NULL)
		dc_remove(c, pp);
	if (c->cache_max == 0 || expire == 0 || dir == NULL || dir->dir_ver > snap)
		return;
	if (c->dc.n + 1 > c->dc.nbuckets && dc_grow(&c->dc) != 0)
		return;
	d = malloc(sizeof(*d) + len + 1);
	if (d == NULL)
		return;
	d->parent = parent;
	d->nodeid = nodeid;
	d->expire = expire;
	d->hash = hash;
	d->len = (uint32_t)len;
	memcpy(d->name, name, len + 1);
	pf_node_hold_locked(c, nodeid);
	pf_node_hold_locked(c, parent);
	pp = dc_slot(&c->dc, parent, name, len, hash);
	d->hnext = NULL;
	*pp = d;
	lru_push(&c->dc, d);
	c->dc.n++;
	/* The bound: the least recently used go, with their references. */
	while (c->dc.n > c->cache_max) {
		struct pf_dentry *old = c->dc.lru_tail;

		pp = dc_slot(&c->dc, old->parent, old->name, old->len, old->hash);
		dc_remove(c, pp);
	}
}

void
pf_dc_drop_locked(perfuse_conn *c, uint64_t parent, const char *name,
    size_t len)
{
	struct pf_dentry **pp = dc_slot(&c->dc, parent, name, len,
	    dc_hash(parent, name, len));
	struct pf_inode *dir = pf_inode_locked(c, parent);

	if (pp != NULL && *pp != NULL)
		dc_remove(c, pp);
	/* Replies to LOOKUPs sent before this change must not be cached. */
	if (dir != NULL)
		dir->dir_ver = ++c->cache_ver;
}

void
pf_dc_free(perfuse_conn *c)
{
	size_t i;

	for (i = 0; i < c->dc.nbuckets; i++) {
		struct pf_dentry *d = c->dc.buckets[i], *next;

		for (; d != NULL; d = next) {
			next = d->hnext;
			free(d);
		}
	}
	free(c->dc.buckets);
	memset(&c->dc, 0, sizeof(c->dc));
}

void
pf_attr_set_locked(perfuse_conn *c, uint64_t nodeid, const struct fuse_attr *a,
    uint64_t sec, uint32_t nsec, uint64_t snap, int modified)
{
	struct pf_inode *ino = pf_inode_locked(c, nodeid);

	if (ino == NULL)
		return;
	if (ino->attr_ver <= snap) {
		ino->attr = *a;
		ino->attr_expire = c->cache_max != 0 ? pf_expiry(pf_now(), sec, nsec) : 0;
	} else if (ino->attr.mode == 0) {
		ino->attr = *a;    /* stale, but the file type never changes */
		ino->attr_expire = 0;
	}
	if (modified)
		ino->attr_ver = ++c->cache_ver;
}

void
pf_attr_inval_locked(perfuse_conn *c, uint64_t nodeid)
{
	struct pf_inode *ino = pf_inode_locked(c, nodeid);

	if (ino == NULL)
		return;
	ino->attr_expire = 0;
	ino->attr_ver = ++c->cache_ver;
}

int
pf_attr_get_locked(perfuse_conn *c, uint64_t nodeid, int64_t now,
    struct fuse_attr *a)
{
	struct pf_inode *ino = pf_inode_locked(c, nodeid);

	if (ino == NULL || now >= ino->attr_expire)
		return 0;
	*a = ino->attr;
	return 1;
}

/*
 * What the kernel does with them (fuse_reverse_inval_inode(),
 * fuse_reverse_inval_entry()): INVAL_INODE drops the attributes (we have
 * no page cache to drop); INVAL_ENTRY drops the name and the directory's
 * attributes; DELETE also the child's.  A node or name we do not hold is
 * nothing to invalidate.  The others (POLL, STORE, RETRIEVE) concern
 * caches we do not keep.
 */
void
pf_notify_locked(perfuse_conn *c, int code, const void *body, size_t len)
{
	switch (code) {
	case FUSE_NOTIFY_INVAL_INODE: {
		struct fuse_notify_inval_inode_out in;

		if (len < sizeof(in))
			break;
		memcpy(&in, body, sizeof(in));
		pf_attr_inval_locked(c, in.ino);
		return;
	}
	case FUSE_NOTIFY_INVAL_ENTRY: case FUSE_NOTIFY_DELETE: {
		/* Both: parent, then namelen, then the name after the struct. */
		struct fuse_notify_delete_out in;
		size_t fixed = code == FUSE_NOTIFY_DELETE ? sizeof(in) :
		    sizeof(struct fuse_notify_inval_entry_out);

		memset(&in, 0, sizeof(in));
		if (len < fixed)
			break;
		memcpy(&in.parent, body, sizeof(in.parent));
		if (code == FUSE_NOTIFY_DELETE)
			memcpy(&in, body, sizeof(in));
		else
			memcpy(&in.namelen, (const char *)body + offsetof(struct
			    fuse_notify_inval_entry_out, namelen), sizeof(in.namelen));
		if (in.namelen == 0 || in.namelen > 255 || len < fixed + in.namelen)
			break;
		pf_dc_drop_locked(c, in.parent, (const char *)body + fixed, in.namelen);
		pf_attr_inval_locked(c, in.parent);
		if (code == FUSE_NOTIFY_DELETE)
			pf_attr_inval_locked(c, in.child);
		return;
	}
	default:
		return;
	}
	pf_warn_ratelimit(&c->warned, 10, "%s: malformed notification %s dropped",
	    c->name, pf_notify_name(code));
}

void
pf_dir_changed_locked(perfuse_conn *c, uint64_t dir)
{
	struct pf_inode *ino = pf_inode_locked(c, dir);

	if (ino == NULL)
		return;
	/* Its mtime, ctime (and nlink for a subdirectory) changed too. */
	ino->attr_expire = 0;
	ino->attr_ver = ino->dir_ver = ++c->cache_ver;
}
