/*
 * client.c - the path-based client API of perfuse.h on top of a session:
 * what the kernel's VFS would do with a FUSE mount, done in userspace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

#define NAME_MAX_FUSE 255
#define SYMLOOP_MAX_PF 40
#define READDIR_BUF (32 * 1024)

/* ------------------------------------------------------------------ */
/* Path walking.                                                         */

/*
 * The outcome of a walk: the walk is a user of every node it went
 * through (session.h) until walk_done(), so that no nodeid it hands out
 * is forgotten under it, whatever the cache evicts meanwhile.
 */
struct walk {
	perfuse_conn *c;
	uint64_t parent;          /* directory holding the last component */
	uint64_t node;            /* the node itself, 0 when it does not exist */
	struct fuse_entry_out e;  /* its entry (nodeid, generation, attr) */
	int fresh;                /* e.attr is valid: from a reply just now or
	                             the cache within attr_valid */
	char name[NAME_MAX_FUSE + 1];  /* last component, "" for the root */
	uint64_t *held;
	size_t nheld, capheld;
	uint64_t inl[8];          /* held, while it fits: no malloc per walk */
};

/* Flags of walk_path(). */
#define WALK_FOLLOW 0x1   /* follow a symlink as last component */
#define WALK_NOLAST 0x2   /* stop before the last component: w->node 0 */

/* Return value of walk_step() with cached_only for a name not cached. */
#define WALK_MISS 1

static uint64_t
cache_snap(perfuse_conn *c)
{
	uint64_t v;

	pthread_mutex_lock(&c->lock);
	v = c->cache_ver;
	pthread_mutex_unlock(&c->lock);
	return v;
}

/* The walk at the root, with the root's attributes when cached. */
static void
walk_root(struct walk *w)
{
	perfuse_conn *c = w->c;

	w->parent = PF_ROOT_ID;
	w->node = PF_ROOT_ID;
	w->name[0] = '\0';
	memset(&w->e, 0, sizeof(w->e));
	w->e.nodeid = PF_ROOT_ID;
	pthread_mutex_lock(&c->lock);
	pf_take_notifications_locked(c);  /* once a walk, before the cache answers */
	/* A dead connection answers nothing, cached or not. */
	w->fresh = !c->dead && pf_attr_get_locked(c, PF_ROOT_ID, pf_now(), &w->e.attr);
	pthread_mutex_unlock(&c->lock);
}

static void
walk_init(struct walk *w, perfuse_conn *c)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	w->held = w->inl;
	w->capheld = sizeof(w->inl) / sizeof(w->inl[0]);
	walk_root(w);
}

static void
walk_done(struct walk *w)
{
	perfuse_conn *c = w->c;
	size_t i;

	if (w->nheld > 0) {
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < w->nheld; i++)
			pf_node_put_locked(c, w->held[i], 1);
		pf_unlock_flush(c);
	}
	if (w->held != w->inl)
		free(w->held);
	w->held = w->inl;
	w->nheld = 0;
	w->capheld = sizeof(w->inl) / sizeof(w->inl[0]);
}

/* The walk takes over one user of nodeid. */
static int
walk_hold(struct walk *w, uint64_t nodeid)
{
	if (w->nheld == w->capheld) {
		size_t ncap = w->capheld * 2;
		uint64_t *h = malloc(ncap * sizeof(*h));

		if (h == NULL) {
			pf_node_put(w->c, nodeid, 1);
			return -ENOMEM;
		}
		memcpy(h, w->held, w->nheld * sizeof(*h));
		if (w->held != w->inl)
			free(w->held);
		w->held = h;
		w->capheld = ncap;
	}
	w->held[w->nheld++] = nodeid;
	return 0;
}

/*
 * Keep the walk's reference to its final node past walk_done(): the
 * caller now owns it (an open handle does).
 */
static void
walk_keep(struct walk *w)
{
	size_t i;

	for (i = w->nheld; i > 0; i--) {
		if (w->held[i - 1] == w->node) {
			w->held[i - 1] = w->held[--w->nheld];
			return;
		}
	}
}

/* Record an entry reply: the server counted a lookup reference. */
static int
take_entry(perfuse_conn *c, struct walk *w, const struct fuse_entry_out *e)
{
	int err;

	if (e->nodeid == 0)
		return -ENOENT; /* a negative entry */
	if (!pf_mode_valid(e->attr.mode)) {
		pf_warn("%s: entry with an impossible mode 0%o", c->name, e->attr.mode);
		if (pf_node_got(c, e->nodeid, e->generation) == 0)
			pf_node_put(c, e->nodeid, 1);
		return -EIO;
	}
	if ((err = pf_node_got(c, e->nodeid, e->generation)) != 0)
		return err;
	return w != NULL ? walk_hold(w, e->nodeid) : 0;
}

/*
 * Cache what an entry reply to a request sent at snap says: the node's
 * attributes and the name parent/name (until entry_valid).  modified:
 * the request made the name (CREATE, MKDIR ...), which changed parent.
 * The caller is a user of the node.
 */
static void
cache_entry(perfuse_conn *c, uint64_t parent, const char *name,
    const struct fuse_entry_out *e, uint64_t snap, int modified)
{
	int64_t now = pf_now();

	pthread_mutex_lock(&c->lock);
	pf_attr_set_locked(c, e->nodeid, &e->attr, e->attr_valid,
	    e->attr_valid_nsec, snap, modified);
	pf_dc_set_locked(c, parent, name, e->nodeid,
	    pf_expiry(now, e->entry_valid, e->entry_valid_nsec), snap);
	if (modified)
		pf_dir_changed_locked(c, parent);
	pf_unlock_flush(c);
}

/* Entries arrive with the agreed minor's size: widen into a full struct. */
static int
call_entry(perfuse_conn *c, uint32_t opcode, uint64_t nodeid,
    const struct iovec *in, int nin, struct fuse_entry_out *e)
{
	char buf[sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out)];
	size_t len = 0;
	int err;

	memset(e, 0, sizeof(*e));
	err = pf_call(c, opcode, nodeid, in, nin, buf, pf_entry_out_size(c->p.minor),
	    &len);
	if (err == 0)
		memcpy(e, buf, len);
	return err;
}

static int
lookup(perfuse_conn *c, uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	struct iovec iov = { (void *)(uintptr_t)name, strlen(name) + 1 };

	return call_entry(c, FUSE_LOOKUP, parent, &iov, 1, e);
}

/*
 * One component: name in dir, from the dentry cache while its entry is
 * valid (fuse_dentry_revalidate()'s rule), else by LOOKUP, whose reply
 * is cached for entry_valid (a nodeid 0 with a validity as a negative
 * entry).  On success w is a user of the node, w->e is its entry and
 * w->fresh says whether w->e.attr may be used as it is; -ENOENT for a
 * missing name.  cached_only: WALK_MISS instead of a LOOKUP.
 */
static int
walk_step(perfuse_conn *c, struct walk *w, uint64_t dir, const char *name,
    int cached_only)
{
	struct fuse_entry_out *e = &w->e;
	uint64_t node, stale, snap;
	int64_t now = pf_now();
	enum pf_dc_hit hit;
	int err;

	pthread_mutex_lock(&c->lock);
	if (c->dead) {
		/* The server is gone: what it said before is no answer now. */
		pthread_mutex_unlock(&c->lock);
		return -ENOTCONN;
	}
	hit = pf_dc_get_locked(c, dir, name, now, &node, &stale);
	if (hit == PF_DC_POSITIVE) {
		struct pf_inode *ino = pf_inode_locked(c, node);

		memset(e, 0, sizeof(*e));
		e->nodeid = node;
		e->generation = ino->generation;
		e->attr = ino->attr;  /* the type at least, whatever the age */
		w->fresh = now < ino->attr_expire;
		pthread_mutex_unlock(&c->lock);
		return walk_hold(w, node);
	}
	snap = c->cache_ver;
	pf_unlock_flush(c);
	if (stale != 0 && (err = walk_hold(w, stale)) != 0)
		return err;
	if (hit == PF_DC_NEGATIVE)
		return -ENOENT;
	if (cached_only)
		return WALK_MISS;
	err = lookup(c, dir, name, e);
	if (err == 0 && e->nodeid == 0) {
		/* Rule: nodeid 0 is a negative entry, cached for entry_valid. */
		pthread_mutex_lock(&c->lock);
		pf_dc_set_locked(c, dir, name, 0, pf_expiry(pf_now(), e->entry_valid,
		    e->entry_valid_nsec), snap);
		pf_unlock_flush(c);
		return -ENOENT;
	}
	if (err != 0)
		return err;  /* -ENOENT itself is a negative entry of no validity */
	if ((err = take_entry(c, w, e)) != 0)
		return err;
	cache_entry(c, dir, name, e, snap, 0);
	w->fresh = 1;
	return 0;
}

/* Split path into components, resolving "." and ".." textually. */
static int
split_path(const char *path, char ***compsp, size_t *np)
{
	char *copy = strdup(path), *tok, *save = NULL, **comps;
	size_t n = 0;

	if (copy == NULL)
		return -ENOMEM;
	comps = calloc(strlen(path) / 2 + 2, sizeof(*comps));
	if (comps == NULL) {
		free(copy);
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, "/", &save); tok != NULL;
	    tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			if (n > 0)
				free(comps[--n]);
			continue;
		}
		if (strlen(tok) > NAME_MAX_FUSE) {
			while (n > 0)
				free(comps[--n]);
			free(comps);
			free(copy);
			return -ENAMETOOLONG;
		}
		comps[n++] = strdup(tok);
		if (comps[n - 1] == NULL) {
			while (n > 0)
				free(comps[--n]);
			free(comps);
			free(copy);
			return -ENOMEM;
		}
	}
	free(copy);
	*compsp = comps;
	*np = n;
	return 0;
}

static void
free_comps(char **comps, size_t n)
{
	while (n > 0)
		free(comps[--n]);
	free(comps);
}

/*
 * The path a symlink at comps[0..i] leads to, with the components after
 * it appended.  Absolute targets count only under the mount's target.
 */
static char *
splice_link(perfuse_conn *c, char **comps, size_t i, size_t n, const char *target)
{
	size_t len = strlen(target) + 2, j, tl = strlen(c->name);
	const char *t = target;
	char *p;

	for (j = 0; j < n; j++)
		len += strlen(comps[j]) + 1;
	if (target[0] == '/') {
		if (c->name[0] != '/' || strncmp(target, c->name, tl) != 0 ||
		    (target[tl] != '/' && target[tl] != '\0'))
			return NULL;
		t = target + tl;
	}
	p = calloc(1, len);
	if (p == NULL)
		return NULL;
	if (target[0] != '/')
		for (j = 0; j < i; j++) {
			strcat(p, "/");
			strcat(p, comps[j]);
		}
	strcat(p, "/");
	strcat(p, t);
	for (j = i + 1; j < n; j++) {
		strcat(p, "/");
		strcat(p, comps[j]);
	}
	return p;
}

static int
read_link(perfuse_conn *c, uint64_t node, char *buf, size_t size)
{
	char tmp[4096];
	size_t len = 0;
	int err;

	err = pf_call(c, FUSE_READLINK, node, NULL, 0, tmp, sizeof(tmp), &len);
	if (err != 0)
		return err;
	if (len == 0 || memchr(tmp, '\0', len) != NULL)
		return -EIO;
	if (len >= size)
		len = size - 1;
	memcpy(buf, tmp, len);
	buf[len] = '\0';
	return (int)len;
}

/*
 * Walk path.  flags: WALK_FOLLOW follows a symlink as last component;
 * WALK_NOLAST stops before the last component (w->node 0, w->name its
 * name) for the caller to look it up or not.  Otherwise w->node is the
 * node, 0 when the last component does not exist (w->name its name).
 */
static int
walk_path(perfuse_conn *c, const char *path, int flags, struct walk *w)
{
	char **comps = NULL, *next = NULL;
	int loops = 0, err, follow = flags & WALK_FOLLOW;
	size_t n = 0, i;

	walk_init(w, c);
	err = split_path(path, &comps, &n);
	while (err == 0) {
		uint64_t dir = PF_ROOT_ID;
		int restarted = 0;

		walk_root(w);
		for (i = 0; i < n && err == 0; i++) {
			int last = i + 1 == n;

			w->parent = dir;
			strcpy(w->name, comps[i]);
			if (last && (flags & WALK_NOLAST)) {
				w->node = 0;
				memset(&w->e, 0, sizeof(w->e));
				w->fresh = 0;
				break;
			}
			err = walk_step(c, w, dir, comps[i], 0);
			if (err == -ENOENT && last) {
				w->node = 0;
				err = 0;
				break;
			}
			if (err != 0)
				break;
			w->node = w->e.nodeid;
			if (S_ISLNK(w->e.attr.mode) && (!last || follow)) {
				char target[4096];

				if (++loops > SYMLOOP_MAX_PF) {
					err = -ELOOP;
					break;
				}
				err = read_link(c, w->node, target, sizeof(target));
				if (err < 0)
					break;
				next = splice_link(c, comps, i, n, target);
				if (next == NULL) {
					err = -EXDEV;
					break;
				}
				free_comps(comps, n);
				comps = NULL;
				err = split_path(next, &comps, &n);
				free(next);
				next = NULL;
				restarted = 1;
				break;
			}
			if (!last && !S_ISDIR(w->e.attr.mode))
				err = -ENOTDIR;
			dir = w->node;
		}
		if (!restarted || err != 0)
			break;
	}
	free_comps(comps, n);
	if (err != 0)
		walk_done(w);
	return err;
}

/* Walk to an existing node. */
static int
walk_node(perfuse_conn *c, const char *path, int follow, struct walk *w)
{
	int err = walk_path(c, path, follow ? WALK_FOLLOW : 0, w);

	if (err == 0 && w->node == 0) {
		walk_done(w);
		return -ENOENT;
	}
	return err;
}

/*
 * Walk to the parent of a name to create or remove (looked up too unless
 * WALK_NOLAST is in flags).
 */
static int
walk_parent(perfuse_conn *c, const char *path, struct walk *w, int root_err,
    int flags)
{
	int err = walk_path(c, path, flags & WALK_NOLAST, w);

	if (err != 0)
		return err;
	if (w->name[0] == '\0') {
		walk_done(w);
		return root_err; /* the operation names the root itself */
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Attributes.                                                           */

/* Store the attributes of a GETATTR or SETATTR reply sent at snap. */
static void
cache_attr_out(perfuse_conn *c, uint64_t node, const struct fuse_attr_out *out,
    uint64_t snap, int modified)
{
	pthread_mutex_lock(&c->lock);
	pf_attr_set_locked(c, node, &out->attr, out->attr_valid,
	    out->attr_valid_nsec, snap, modified);
	pthread_mutex_unlock(&c->lock);
}

/* The node's attributes changed (or may have): ask the server next time. */
static void
attr_inval(perfuse_conn *c, uint64_t node)
{
	pthread_mutex_lock(&c->lock);
	pf_attr_inval_locked(c, node);
	pthread_mutex_unlock(&c->lock);
}

/* GETATTR, always sent; its reply refreshes the attribute cache. */
static int
getattr_raw(perfuse_conn *c, uint64_t node, const uint64_t *fh, struct fuse_attr *a)
{
	struct fuse_getattr_in in;
	struct fuse_attr_out out;
	struct iovec iov = { &in, pf_req_fixed(FUSE_GETATTR, c->p.minor) };
	uint64_t snap = cache_snap(c);
	size_t len = 0;
	int err;

	memset(&in, 0, sizeof(in));
	if (fh != NULL) {
		in.getattr_flags = FUSE_GETATTR_FH;
		in.fh = *fh;
	}
	memset(&out, 0, sizeof(out));
	err = pf_call(c, FUSE_GETATTR, node, &iov, iov.iov_len ? 1 : 0, &out,
	    pf_attr_out_size(c->p.minor), &len);
	if (err == 0 && !pf_mode_valid(out.attr.mode))
		err = -EIO;
	if (err == 0) {
		cache_attr_out(c, node, &out, snap, 0);
		*a = out.attr;
	}
	return err;
}

static int
getattr(perfuse_conn *c, uint64_t node, const uint64_t *fh, struct stat *st)
{
	struct fuse_attr a;
	int err = getattr_raw(c, node, fh, &a);

	if (err == 0)
		pf_attr_to_stat(c, &a, st);
	return err;
}

/*
 * The attributes of a walk's node: those it has when still valid, else
 * a GETATTR (fuse_update_get_attr(): the kernel asks once attr_valid has
 * run out).  With the attributes of a LOOKUP just answered no GETATTR
 * follows, whatever their validity, as before there was a cache.
 */
static int
walk_attr(perfuse_conn *c, struct walk *w, struct fuse_attr *a)
{
	if (w->fresh) {
		*a = w->e.attr;
		return 0;
	}
	return getattr_raw(c, w->node, NULL, a);
}

int
perfuse_stat(perfuse_conn *c, const char *path, struct stat *st)
{
	struct fuse_attr a;
	struct walk w;
	int err = walk_node(c, path, 0, &w);

	if (err != 0)
		return err;
	err = walk_attr(c, &w, &a);
	if (err == 0)
		pf_attr_to_stat(c, &a, st);
	walk_done(&w);
	return err;
}

/* SETATTR; the attributes of its reply are the new ones, cached. */
static int
setattr(perfuse_conn *c, uint64_t node, struct fuse_setattr_in *in)
{
	struct fuse_attr_out out;
	struct iovec iov = { in, sizeof(*in) };
	uint64_t snap = cache_snap(c);
	int err;

	memset(&out, 0, sizeof(out));
	err = pf_call(c, FUSE_SETATTR, node, &iov, 1, &out,
	    pf_attr_out_size(c->p.minor), NULL);
	if (err == 0 && pf_mode_valid(out.attr.mode))
		cache_attr_out(c, node, &out, snap, 1);
	else
		attr_inval(c, node);  /* a failed SETATTR may have done half */
	return err;
}

static int
setattr_path(perfuse_conn *c, const char *path, struct fuse_setattr_in *in)
{
	struct walk w;
	int err = walk_node(c, path, 1, &w);

	if (err != 0)
		return err;
	err = setattr(c, w.node, in);
	walk_done(&w);
	return err;
}

int
perfuse_chmod(perfuse_conn *c, const char *path, mode_t mode)
{
	struct fuse_setattr_in in;

	memset(&in, 0, sizeof(in));
	in.valid = FATTR_MODE;
	in.mode = mode & 07777;
	return setattr_path(c, path, &in);
}

int
perfuse_chown(perfuse_conn *c, const char *path, uid_t uid, gid_t gid)
{
	struct fuse_setattr_in in;

	memset(&in, 0, sizeof(in));
	if (uid != (uid_t)-1) {
		in.valid |= FATTR_UID;
		in.uid = uid;
	}
	if (gid != (gid_t)-1) {
		in.valid |= FATTR_GID;
		in.gid = gid;
	}
	if (in.valid == 0)
		return 0;
	return setattr_path(c, path, &in);
}

int
perfuse_truncate(perfuse_conn *c, const char *path, off_t size)
{
	struct fuse_setattr_in in;

	if (size < 0)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_SIZE;
	in.size = (uint64_t)size;
	return setattr_path(c, path, &in);
}

/* One timestamp of utimensat(2) into SETATTR fields. */
static void
set_time(const struct timespec *ts, uint32_t valid, uint32_t now, uint32_t *v,
    uint64_t *sec, uint32_t *nsec)
{
	if (ts == NULL || ts->tv_nsec == UTIME_NOW) {
		*v |= valid | now;
		return;
	}
	if (ts->tv_nsec == UTIME_OMIT)
		return;
	*v |= valid;
	*sec = (uint64_t)ts->tv_sec;
	*nsec = (uint32_t)ts->tv_nsec;
}

int
perfuse_utimens(perfuse_conn *c, const char *path, const struct timespec ts[2])
{
	struct fuse_setattr_in in;

	memset(&in, 0, sizeof(in));
	if (ts != NULL && ((ts[0].tv_nsec != UTIME_NOW && ts[0].tv_nsec != UTIME_OMIT &&
	    (ts[0].tv_nsec < 0 || ts[0].tv_nsec >= 1000000000)) ||
	    (ts[1].tv_nsec != UTIME_NOW && ts[1].tv_nsec != UTIME_OMIT &&
	    (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000))))
		return -EINVAL;
	set_time(ts ? &ts[0] : NULL, FATTR_ATIME, FATTR_ATIME_NOW, &in.valid,
	    &in.atime, &in.atimensec);
	set_time(ts ? &ts[1] : NULL, FATTR_MTIME, FATTR_MTIME_NOW, &in.valid,
	    &in.mtime, &in.mtimensec);
	/* Rule: ATIME_NOW and MTIME_NOW exist from 7.9; send the time before. */
	if (c->p.minor < 9 && (in.valid & (FATTR_ATIME_NOW | FATTR_MTIME_NOW))) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		if (in.valid & FATTR_ATIME_NOW) {
			in.atime = (uint64_t)now.tv_sec;
			in.atimensec = (uint32_t)now.tv_nsec;
		}
		if (in.valid & FATTR_MTIME_NOW) {
			in.mtime = (uint64_t)now.tv_sec;
			in.mtimensec = (uint32_t)now.tv_nsec;
		}
		in.valid &= ~(FATTR_ATIME_NOW | FATTR_MTIME_NOW);
	}
	if (in.valid == 0)
		return 0;
	return setattr_path(c, path, &in);
}

/* access(2) from the mode bits, as the seed does without ACCESS. */
static int
access_emulated(const struct fuse_attr *a, int mask)
{
	uid_t uid = geteuid();
	unsigned bits;

	if (mask == F_OK)
		return 0;
	if (uid == 0) {
		if ((mask & X_OK) && !S_ISDIR(a->mode) && !(a->mode & 0111))
			return -EACCES;
		return 0;
	}
	if (a->uid == uid)
		bits = (a->mode >> 6) & 7;
	else if (a->gid == getegid())
		bits = (a->mode >> 3) & 7;
	else
		bits = a->mode & 7;
	return ((unsigned)mask & ~bits) ? -EACCES : 0;
}

int
perfuse_access(perfuse_conn *c, const char *path, int mask)
{
	struct fuse_access_in in = { (uint32_t)mask, 0 };
	struct iovec iov = { &in, sizeof(in) };
	struct fuse_attr a;
	struct walk w;
	int err;

	if (mask & ~(R_OK | W_OK | X_OK))
		return -EINVAL;
	err = walk_node(c, path, 1, &w);
	if (err != 0)
		return err;
	if (c->enable_access && !pf_latched(c, FUSE_ACCESS)) {
		err = pf_call(c, FUSE_ACCESS, w.node, &iov, 1, NULL, 0, NULL);
		if (err != -ENOSYS) {
			walk_done(&w);
			return err;
		}
	}
	err = walk_attr(c, &w, &a);
	if (err == 0)
		err = access_emulated(&a, mask);
	walk_done(&w);
	return err;
}

int
perfuse_statfs(perfuse_conn *c, const char *path, struct statvfs *sv)
{
	struct fuse_statfs_out out;
	struct walk w;
	int err = walk_node(c, path, 1, &w);

	if (err != 0)
		return err;
	memset(&out, 0, sizeof(out));
	err = pf_call(c, FUSE_STATFS, w.node, NULL, 0, &out, sizeof(out), NULL);
	walk_done(&w);
	memset(sv, 0, sizeof(*sv));
	if (err == -ENOSYS) {
		/* Rule: without STATFS the kernel reports an empty fs. */
		sv->f_bsize = sv->f_frsize = 512;
		sv->f_namemax = 255;
		return 0;
	}
	if (err != 0)
		return err;
	sv->f_bsize = out.st.bsize;
	sv->f_frsize = out.st.frsize ? out.st.frsize : out.st.bsize;
	sv->f_blocks = out.st.blocks;
	sv->f_bfree = out.st.bfree;
	sv->f_bavail = out.st.bavail;
	sv->f_files = out.st.files;
	sv->f_ffree = out.st.ffree;
	sv->f_favail = out.st.ffree;
	sv->f_namemax = out.st.namelen;
	return 0;
}

ssize_t
perfuse_readlink(perfuse_conn *c, const char *path, char *buf, size_t size)
{
	struct walk w;
	int err;

	if (size == 0)
		return -EINVAL;
	err = walk_node(c, path, 0, &w);
	if (err != 0)
		return err;
	err = S_ISLNK(w.e.attr.mode) && w.node != PF_ROOT_ID ?
	    read_link(c, w.node, buf, size) : -EINVAL;
	walk_done(&w);
	return err;
}

/* ------------------------------------------------------------------ */
/* Namespace.                                                            */

/*
 * A creating call (MKDIR, MKNOD, SYMLINK, LINK) of name in parent: the new
 * entry is cached (it holds the reference the server handed out, as the
 * kernel's new dentry does) or let go.  keep != NULL: the caller gets
 * the entry and stays a user of its node.
 */
static int
make_node(perfuse_conn *c, uint32_t opcode, uint64_t parent, const char *name,
    const struct iovec *in, int nin, struct fuse_entry_out *keep)
{
	struct fuse_entry_out e;
	uint64_t snap = cache_snap(c);
	int err = call_entry(c, opcode, parent, in, nin, &e);

	if (err == 0 && (err = take_entry(c, NULL, &e)) == 0) {
		cache_entry(c, parent, name, &e, snap, 1);
		if (keep != NULL)
			*keep = e;
		else
			pf_node_put(c, e.nodeid, 1);
	}
	return err;
}

/* name in dir was removed (or found missing): forget it and what changed. */
static void
name_gone(perfuse_conn *c, uint64_t dir, const char *name, uint64_t node)
{
	pthread_mutex_lock(&c->lock);
	pf_dc_drop_locked(c, dir, name, strlen(name));
	pf_dir_changed_locked(c, dir);
	if (node != 0)
		pf_attr_inval_locked(c, node);  /* nlink, ctime */
	pf_unlock_flush(c);
}

int
perfuse_mkdir(perfuse_conn *c, const char *path, mode_t mode)
{
	struct fuse_mkdir_in in = { mode & 07777, 0 };
	struct walk w;
	int err = walk_parent(c, path, &w, -EEXIST, 0);

	if (err != 0)
		return err;
	if (w.node != 0) {
		err = -EEXIST;
	} else {
		struct iovec iov[2] = { { &in, sizeof(in) },
			{ w.name, strlen(w.name) + 1 } };
		err = make_node(c, FUSE_MKDIR, w.parent, w.name, iov, 2, NULL);
	}
	walk_done(&w);
	return err;
}

static int
mknod_at(perfuse_conn *c, uint64_t parent, const char *name, mode_t mode, dev_t dev,
    struct fuse_entry_out *keep)
{
	struct fuse_mknod_in in = { mode, (uint32_t)dev, 0, 0 };
	struct iovec iov[2] = { { &in, pf_req_fixed(FUSE_MKNOD, c->p.minor) },
		{ (void *)(uintptr_t)name, strlen(name) + 1 } };

	return make_node(c, FUSE_MKNOD, parent, name, iov, 2, keep);
}

int
perfuse_mknod(perfuse_conn *c, const char *path, mode_t mode, dev_t dev)
{
	struct walk w;
	int err;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	if (!pf_mode_valid(mode) || S_ISDIR(mode) || S_ISLNK(mode))
		return -EINVAL;
	err = walk_parent(c, path, &w, -EEXIST, 0);
	if (err != 0)
		return err;
	err = w.node != 0 ? -EEXIST : mknod_at(c, w.parent, w.name, mode, dev, NULL);
	walk_done(&w);
	return err;
}

static int
remove_name(perfuse_conn *c, uint32_t opcode, const char *path, int root_err)
{
	struct walk w;
	int err = walk_parent(c, path, &w, root_err, 0);

	if (err != 0)
		return err;
	if (w.node == 0) {
		err = -ENOENT;
	} else {
		struct iovec iov = { w.name, strlen(w.name) + 1 };
		err = pf_call(c, opcode, w.parent, &iov, 1, NULL, 0, NULL);
		/* As fuse_unlink(): a name the server says is gone is gone. */
		if (err == 0 || err == -ENOENT)
			name_gone(c, w.parent, w.name, err == 0 ? w.node : 0);
	}
	walk_done(&w);
	return err;
}

int
perfuse_rmdir(perfuse_conn *c, const char *path)
{
	return remove_name(c, FUSE_RMDIR, path, -EBUSY);
}

int
perfuse_unlink(perfuse_conn *c, const char *path)
{
	return remove_name(c, FUSE_UNLINK, path, -EISDIR);
}

int
perfuse_symlink(perfuse_conn *c, const char *target, const char *linkpath)
{
	struct walk w;
	int err;

	if (target[0] == '\0')
		return -ENOENT;
	err = walk_parent(c, linkpath, &w, -EEXIST, 0);
	if (err != 0)
		return err;
	if (w.node != 0) {
		err = -EEXIST;
	} else {
		struct iovec iov[2] = { { w.name, strlen(w.name) + 1 },
			{ (void *)(uintptr_t)target, strlen(target) + 1 } };
		err = make_node(c, FUSE_SYMLINK, w.parent, w.name, iov, 2, NULL);
	}
	walk_done(&w);
	return err;
}

int
perfuse_link(perfuse_conn *c, const char *oldpath, const char *newpath)
{
	struct walk wo, wn;
	int err = walk_node(c, oldpath, 0, &wo);

	if (err != 0)
		return err;
	if (S_ISDIR(wo.e.attr.mode) || wo.node == PF_ROOT_ID) {
		walk_done(&wo);
		return -EPERM;
	}
	err = walk_parent(c, newpath, &wn, -EEXIST, 0);
	if (err == 0) {
		if (wn.node != 0) {
			err = -EEXIST;
		} else {
			struct fuse_link_in in = { wo.node };
			struct iovec iov[2] = { { &in, sizeof(in) },
				{ wn.name, strlen(wn.name) + 1 } };
			err = make_node(c, FUSE_LINK, wn.parent, wn.name, iov, 2,
			    NULL);
			if (err == 0)
				attr_inval(c, wo.node);  /* its nlink */
		}
		walk_done(&wn);
	}
	walk_done(&wo);
	return err;
}

int
perfuse_rename(perfuse_conn *c, const char *oldpath, const char *newpath,
    unsigned flags)
{
	struct walk wo, wn;
	int err = walk_parent(c, oldpath, &wo, -EBUSY, 0);

	if (err != 0)
		return err;
	if (wo.node == 0) {
		walk_done(&wo);
		return -ENOENT;
	}
	err = walk_parent(c, newpath, &wn, -EBUSY, 0);
	if (err == 0) {
		struct iovec iov[3];

		iov[1].iov_base = wo.name;
		iov[1].iov_len = strlen(wo.name) + 1;
		iov[2].iov_base = wn.name;
		iov[2].iov_len = strlen(wn.name) + 1;
		if (flags == 0) {
			struct fuse_rename_in in = { wn.parent };

			iov[0].iov_base = &in;
			iov[0].iov_len = sizeof(in);
			err = pf_call(c, FUSE_RENAME, wo.parent, iov, 3, NULL, 0, NULL);
		} else {
			struct fuse_rename2_in in = { wn.parent, flags, 0 };

			iov[0].iov_base = &in;
			iov[0].iov_len = sizeof(in);
			err = pf_call(c, FUSE_RENAME2, wo.parent, iov, 3, NULL, 0, NULL);
			/* Rule: without RENAME2, flags cannot be honoured. */
			if (err == -ENOSYS)
				err = -EINVAL;
		}
		/*
		 * Both names changed (the kernel moves the dentry; dropping
		 * both is simpler and as right): the moved node's ctime, the
		 * replaced one's nlink and the directories' times too.
		 */
		if (err == 0) {
			name_gone(c, wo.parent, wo.name, wo.node);
			name_gone(c, wn.parent, wn.name, wn.node);
		} else if (err == -ENOENT) {
			name_gone(c, wo.parent, wo.name, 0);
		}
		walk_done(&wn);
	}
	walk_done(&wo);
	return err;
}

/* ------------------------------------------------------------------ */
/* Open handles.                                                         */

/* OPEN or OPENDIR; a latched-off one means "no handle needed" (fh 0). */
static int
open_node(perfuse_conn *c, uint32_t opcode, uint64_t node, int flags,
    struct fuse_open_out *out)
{
	struct fuse_open_in in = { (uint32_t)flags & ~(uint32_t)(O_CREAT | O_EXCL |
	    O_NOCTTY), 0 };
	struct iovec iov = { &in, sizeof(in) };
	int err;

	memset(out, 0, sizeof(*out));
	err = pf_call(c, opcode, node, &iov, 1, out, sizeof(*out), NULL);
	return err == -ENOSYS ? 0 : err;
}

/*
 * RELEASE or RELEASEDIR, sent without waiting for the reply, as the
 * kernel sends them in the background (fuse_file_put()): a close costs
 * the FLUSH's round trip only.  The handle's user of node goes with it
 * and is let go when the reply is in, so the node's FORGET cannot pass
 * its RELEASE (the kernel keeps the inode until then too).
 */
static void
release_node(perfuse_conn *c, uint32_t opcode, uint64_t node, uint64_t fh,
    int flags)
{
	struct fuse_release_in in;
	struct iovec iov = { &in, sizeof(in) };
	uint32_t openop = opcode == FUSE_RELEASEDIR ? FUSE_OPENDIR : FUSE_OPEN;

	if (pf_latched(c, openop)) {
		pf_node_put(c, node, 1);
		return; /* the server never handed a handle out */
	}
	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.flags = (uint32_t)flags;
	pf_call_async(c, opcode, node, &iov, 1, node);
}

struct perfuse_dir {
	perfuse_conn *c;
	uint64_t node;
	uint64_t fh;
	uint64_t off;       /* offset to ask for next */
	char *buf;
	size_t len, pos;
	int eof;
};

int
perfuse_opendir(perfuse_conn *c, const char *path, perfuse_dir **out)
{
	struct fuse_open_out oo;
	perfuse_dir *d;
	struct walk w;
	int err = walk_node(c, path, 1, &w);

	if (err != 0)
		return err;
	if (!S_ISDIR(w.e.attr.mode) && w.node != PF_ROOT_ID) {
		walk_done(&w);
		return -ENOTDIR;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->buf = malloc(READDIR_BUF)) == NULL) {
		free(d);
		walk_done(&w);
		return -ENOMEM;
	}
	err = open_node(c, FUSE_OPENDIR, w.node, O_RDONLY | O_DIRECTORY, &oo);
	if (err != 0) {
		free(d->buf);
		free(d);
		walk_done(&w);
		return err;
	}
	d->c = c;
	d->node = w.node;
	d->fh = oo.fh;
	walk_keep(&w);  /* the handle holds the directory's reference */
	walk_done(&w);
	*out = d;
	return 0;
}

static int
readdir_fill(perfuse_dir *d)
{
	struct fuse_read_in in;
	struct iovec iov = { &in, pf_req_fixed(FUSE_READDIR, d->c->p.minor) };
	const char *why;
	size_t len = 0;
	int err;

	memset(&in, 0, sizeof(in));
	in.fh = d->fh;
	in.offset = d->off;
	in.size = READDIR_BUF;
	err = pf_call(d->c, FUSE_READDIR, d->node, &iov, 1, d->buf, READDIR_BUF, &len);
	if (err != 0)
		return err;
	err = pf_walk_dirents(d->buf, len, 0, d->c->p.minor, NULL, NULL, &why);
	if (err < 0) {
		pf_warn("%s: READDIR: %s", d->c->name, why);
		return err;
	}
	d->len = len;
	d->pos = 0;
	d->eof = len == 0;
	return 0;
}

/* Take the entry at d->pos (already validated). */
static int
take_dirent(const struct pf_dirent_view *v, void *arg)
{
	struct perfuse_dirent *ent = arg;

	ent->ino = v->ino;
	ent->off = v->off;
	ent->type = v->type;
	memcpy(ent->name, v->name, v->namelen > 255 ? 255 : v->namelen);
	ent->name[v->namelen > 255 ? 255 : v->namelen] = '\0';
	return 1;
}

int
perfuse_readdir(perfuse_dir *d, struct perfuse_dirent *ent)
{
	const char *why;
	int err;

	for (;;) {
		if (d->pos >= d->len) {
			if (d->eof)
				return 0;
			err = readdir_fill(d);
			if (err != 0)
				return err;
			if (d->eof)
				return 0;
		}
		err = pf_walk_dirents(d->buf + d->pos, d->len - d->pos, 0, d->c->p.minor,
		    take_dirent, ent, &why);
		if (err < 0)
			return err;
		if (err > 0)
			break;
		/*
		 * Only an entry cut short was left: ask again from the last
		 * offset; a fresh reply with nothing whole in it is the end,
		 * as the kernel takes it.
		 */
		if (d->pos == 0) {
			d->eof = 1;
			return 0;
		}
		d->pos = d->len;
	}
	/* Rule: an offset must move forward or the listing never ends. */
	if (ent->off == d->off) {
		pf_warn("%s: READDIR: entry offsets do not advance", d->c->name);
		return -EIO;
	}
	d->pos += FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + strlen(ent->name));
	d->off = ent->off;
	return 1;
}

int
perfuse_seekdir(perfuse_dir *d, uint64_t off)
{
	d->off = off;
	d->len = d->pos = 0;
	d->eof = 0;
	return 0;
}

int
perfuse_closedir(perfuse_dir *d)
{
	if (d == NULL)
		return 0;
	release_node(d->c, FUSE_RELEASEDIR, d->node, d->fh, O_RDONLY | O_DIRECTORY);
	free(d->buf);
	free(d);
	return 0;
}

struct perfuse_file {
	perfuse_conn *c;
	uint64_t node;
	uint64_t fh;
	int flags;
	uint32_t open_flags;   /* FOPEN_* from the server */
};

/* A handle; it takes over one node reference the caller holds. */
static int
file_new(perfuse_conn *c, uint64_t node, const struct fuse_open_out *oo,
    int flags, perfuse_file **out)
{
	perfuse_file *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		release_node(c, FUSE_RELEASE, node, oo->fh, flags);
		return -ENOMEM;
	}
	f->c = c;
	f->node = node;
	f->fh = oo->fh;
	f->flags = flags;
	f->open_flags = oo->open_flags;
	*out = f;
	return 0;
}

/* Rule: without ATOMIC_O_TRUNC the client truncates after OPEN. */
static int
trunc_after_open(perfuse_file *f)
{
	if ((f->c->p.flags & FUSE_ATOMIC_O_TRUNC) || !(f->flags & O_TRUNC))
		return 0;
	return perfuse_ftruncate(f, 0);
}

/*
 * CREATE of w->name in w->parent.  0 with *out, -EEXIST when the name
 * turned out to exist as something other than a regular file (see below),
 * or the server's error (-ENOSYS latches CREATE off).
 */
static int
create_call(perfuse_conn *c, struct walk *w, int flags, mode_t mode,
    perfuse_file **out)
{
	char buf[sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out)];
	struct fuse_create_in in = { (uint32_t)flags, mode | S_IFREG, 0, 0 };
	struct iovec iov[2] = { { &in, pf_req_fixed(FUSE_CREATE, c->p.minor) },
		{ w->name, strlen(w->name) + 1 } };
	struct fuse_entry_out e;
	struct fuse_open_out oo;
	size_t elen = pf_entry_out_size(c->p.minor), len = 0;
	uint64_t snap = cache_snap(c);
	int err;

	if (c->p.minor < 12)
		in.mode = (uint32_t)mode | S_IFREG; /* fuse_open_in: flags, mode */
	err = pf_call(c, FUSE_CREATE, w->parent, iov, 2, buf, elen + sizeof(oo), &len);
	if (err != 0)
		return err;
	memset(&e, 0, sizeof(e));
	memcpy(&e, buf, elen);
	memcpy(&oo, buf + elen, sizeof(oo));
	err = take_entry(c, NULL, &e);
	if (err != 0)
		return err;
	cache_entry(c, w->parent, w->name, &e, snap, 1);
	if (!S_ISREG(e.attr.mode)) {
		/*
		 * Without O_EXCL a server may open what is there (libfuse's
		 * passthrough does, through a symlink too).  A symlink or a
		 * directory is not opened that way by open(2): give the
		 * handle back and open the name as an existing one.
		 */
		release_node(c, FUSE_RELEASE, e.nodeid, oo.fh, flags);
		return -EEXIST;
	}
	return file_new(c, e.nodeid, &oo, flags, out);
}

/* Without CREATE: MKNOD, then OPEN of the entry it returned. */
static int
mknod_open(perfuse_conn *c, struct walk *w, int flags, mode_t mode,
    perfuse_file **out)
{
	struct fuse_entry_out e;
	struct fuse_open_out oo;
	int err = mknod_at(c, w->parent, w->name, (mode & 07777) | S_IFREG, 0, &e);

	if (err != 0)
		return err;
	err = open_node(c, FUSE_OPEN, e.nodeid, flags & ~O_TRUNC, &oo);
	if (err == 0)
		return file_new(c, e.nodeid, &oo, flags, out);
	pf_node_put(c, e.nodeid, 1);
	return err;
}

/* Open the existing node a walk found; ends the walk. */
static int
open_walked(perfuse_conn *c, struct walk *w, const char *path, int flags,
    mode_t mode, perfuse_file **out)
{
	struct fuse_open_out oo;
	int err, acc = flags & O_ACCMODE;

	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		walk_done(w);
		return -EEXIST;
	}
	if ((flags & O_CREAT) && S_ISLNK(w->e.attr.mode)) {
		walk_done(w); /* follow the final link after all */
		return perfuse_file_open(c, path, flags & ~O_CREAT, mode, out);
	}
	if (w->node != PF_ROOT_ID && S_ISDIR(w->e.attr.mode) && acc != O_RDONLY)
		err = -EISDIR;
	else if (w->node == PF_ROOT_ID && acc != O_RDONLY)
		err = -EISDIR;
	else
		err = open_node(c, FUSE_OPEN, w->node, flags, &oo);
	if (err == 0) {
		walk_keep(w);
		err = file_new(c, w->node, &oo, flags, out);
		/* An O_TRUNC open changed the size: fuse_finish_open() too. */
		if (err == 0 && (flags & O_TRUNC))
			attr_inval(c, w->node);
	}
	walk_done(w);
	if (err == 0 && (err = trunc_after_open(*out)) != 0) {
		perfuse_file_close(*out);
		*out = NULL;
	}
	return err;
}

int
perfuse_file_open(perfuse_conn *c, const char *path, int flags, mode_t mode,
    perfuse_file **out)
{
	struct walk w;
	int err, tries;

	*out = NULL;
	if (!(flags & O_CREAT)) {
		err = walk_node(c, path, 1, &w);
		return err != 0 ? err : open_walked(c, &w, path, flags, mode, out);
	}
	err = walk_parent(c, path, &w, -EISDIR, WALK_NOLAST);
	if (err != 0)
		return err;
	/*
	 * O_CREAT.  The kernel's fuse_atomic_open() sends CREATE at once
	 * for a name its dcache knows to be missing, and LOOKUP first for
	 * one it does not know; with O_EXCL it trusts no cached entry
	 * (LOOKUP_EXCL).  We send CREATE at once in both cases: the server
	 * decides anyway (a name may appear between a LOOKUP and a CREATE),
	 * and a new file costs one round trip instead of two.  Only a valid
	 * positive entry, without O_EXCL, opens what is there.  A CREATE
	 * refused with EEXIST without O_EXCL means the name exists: LOOKUP
	 * and open it, as open(2) does (the kernel, which looked up first,
	 * returns EEXIST only after a race); a name gone again by then is
	 * created again.  ENOSYS: MKNOD then OPEN from then on.
	 *
	 * Some servers count on the kernel's LOOKUP and create a duplicate
	 * name on a CREATE O_EXCL of an existing one (fuse2fs 1.47):
	 * PERFUSE_OPTIONS=lookup_creat restores the LOOKUP for them.
	 */
	if (!(flags & O_EXCL) || c->lookup_creat) {
		err = walk_step(c, &w, w.parent, w.name, !c->lookup_creat);
		if (err == 0) {
			w.node = w.e.nodeid;
			return open_walked(c, &w, path, flags, mode, out);
		}
		if (err != WALK_MISS && err != -ENOENT)
			goto out;
	}
	for (tries = 0; tries < 8; tries++) {
		if (!pf_latched(c, FUSE_CREATE)) {
			err = create_call(c, &w, flags, mode & 07777, out);
			if (err != -ENOSYS && (err != -EEXIST || (flags & O_EXCL)))
				goto out;
		}
		err = walk_step(c, &w, w.parent, w.name, 0);
		if (err == 0) {
			w.node = w.e.nodeid;
			return open_walked(c, &w, path, flags, mode, out);
		}
		if (err != -ENOENT)
			goto out;
		if (pf_latched(c, FUSE_CREATE)) {
			err = mknod_open(c, &w, flags, mode & 07777, out);
			goto out;
		}
	}
out:
	walk_done(&w);
	return err;
}

ssize_t
perfuse_pread(perfuse_file *f, void *buf, size_t size, off_t off)
{
	perfuse_conn *c = f->c;
	size_t done = 0;

	if (off < 0)
		return -EINVAL;
	if ((f->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	while (done < size) {
		struct fuse_read_in in;
		struct iovec iov = { &in, pf_req_fixed(FUSE_READ, c->p.minor) };
		size_t want = size - done, len = 0;
		int err;

		if (want > c->max_read)
			want = c->max_read;
		memset(&in, 0, sizeof(in));
		in.fh = f->fh;
		in.offset = (uint64_t)off + done;
		in.size = (uint32_t)want;
		in.flags = (uint32_t)f->flags;
		err = pf_call(c, FUSE_READ, f->node, &iov, 1, (char *)buf + done,
		    want, &len);
		if (err != 0) {
			attr_inval(c, f->node);
			return done > 0 ? (ssize_t)done : err;
		}
		done += len;
		if (len < want)
			break;  /* end of file */
	}
	/* The server may have updated atime: fuse_invalidate_atime(). */
	attr_inval(c, f->node);
	return (ssize_t)done;
}

ssize_t
perfuse_pwrite(perfuse_file *f, const void *buf, size_t size, off_t off)
{
	perfuse_conn *c = f->c;
	size_t done = 0;

	if (off < 0)
		return -EINVAL;
	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (f->flags & O_APPEND) {
		struct stat st;
		int err = perfuse_fstat(f, &st);

		if (err != 0)
			return err;
		off = st.st_size;
	}
	while (done < size) {
		struct fuse_write_in in;
		struct fuse_write_out wo;
		struct iovec iov[2];
		size_t want = size - done;
		int err;

		if (want > c->p.max_write)
			want = c->p.max_write;
		memset(&in, 0, sizeof(in));
		in.fh = f->fh;
		in.offset = (uint64_t)off + done;
		in.size = (uint32_t)want;
		in.flags = (uint32_t)f->flags;
		iov[0].iov_base = &in;
		iov[0].iov_len = pf_req_fixed(FUSE_WRITE, c->p.minor);
		iov[1].iov_base = (char *)(uintptr_t)buf + done;
		iov[1].iov_len = want;
		err = pf_call(c, FUSE_WRITE, f->node, iov, 2, &wo, sizeof(wo), NULL);
		/* Size, mtime, ctime changed (or may have): ask next time. */
		attr_inval(c, f->node);
		if (err != 0)
			return done > 0 ? (ssize_t)done : err;
		if (wo.size > want) {
			pf_warn("%s: WRITE: server claims more written than sent", c->name);
			return done > 0 ? (ssize_t)done : -EIO;
		}
		done += wo.size;
		if (wo.size < want)
			break;
	}
	return (ssize_t)done;
}

int
perfuse_fstat(perfuse_file *f, struct stat *st)
{
	return getattr(f->c, f->node, &f->fh, st);
}

int
perfuse_ftruncate(perfuse_file *f, off_t size)
{
	struct fuse_setattr_in in;

	if (size < 0)
		return -EINVAL;
	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_SIZE | FATTR_FH;
	in.size = (uint64_t)size;
	in.fh = f->fh;
	return setattr(f->c, f->node, &in);
}

int
perfuse_fsync(perfuse_file *f, int datasync)
{
	struct fuse_fsync_in in = { f->fh, datasync ? FUSE_FSYNC_FDATASYNC : 0, 0 };
	struct iovec iov = { &in, sizeof(in) };
	int err = pf_call(f->c, FUSE_FSYNC, f->node, &iov, 1, NULL, 0, NULL);

	return err == -ENOSYS ? 0 : err; /* Rule: no FSYNC means nothing to do */
}

int
perfuse_file_close(perfuse_file *f)
{
	struct fuse_flush_in in;
	struct iovec iov = { &in, sizeof(in) };
	int err;

	if (f == NULL)
		return 0;
	memset(&in, 0, sizeof(in));
	in.fh = f->fh;
	err = pf_call(f->c, FUSE_FLUSH, f->node, &iov, 1, NULL, 0, NULL);
	if (err == -ENOSYS)
		err = 0;
	release_node(f->c, FUSE_RELEASE, f->node, f->fh, f->flags);
	free(f);
	return err;
}

/* ------------------------------------------------------------------ */
/* Extended attributes.                                                  */

/* Rule: the kernel turns ENOSYS of an xattr call into EOPNOTSUPP. */
static int
xattr_err(int err)
{
	return err == -ENOSYS ? -EOPNOTSUPP : err;
}

/* GETXATTR and LISTXATTR share their shape. */
static ssize_t
xattr_read(perfuse_conn *c, uint32_t opcode, const char *path, const char *name,
    void *buf, size_t size)
{
	struct fuse_getxattr_in in = { (uint32_t)size, 0 };
	struct fuse_getxattr_out go;
	struct iovec iov[2] = { { &in, sizeof(in) },
		{ (void *)(uintptr_t)name, name ? strlen(name) + 1 : 0 } };
	struct walk w;
	size_t len = 0;
	int err;

	if (size > 65536)
		in.size = 65536;
	err = walk_node(c, path, 0, &w);
	if (err != 0)
		return err;
	if (size == 0)
		err = pf_call(c, opcode, w.node, iov, name ? 2 : 1, &go, sizeof(go), &len);
	else
		err = pf_call(c, opcode, w.node, iov, name ? 2 : 1, buf, in.size, &len);
	walk_done(&w);
	if (err != 0)
		return xattr_err(err);
	return size == 0 ? (ssize_t)go.size : (ssize_t)len;
}

ssize_t
perfuse_getxattr(perfuse_conn *c, const char *path, const char *name, void *buf,
    size_t size)
{
	if (strlen(name) > 255 || name[0] == '\0')
		return name[0] ? -ERANGE : -EINVAL;
	return xattr_read(c, FUSE_GETXATTR, path, name, buf, size);
}

ssize_t
perfuse_listxattr(perfuse_conn *c, const char *path, char *buf, size_t size)
{
	return xattr_read(c, FUSE_LISTXATTR, path, NULL, buf, size);
}

int
perfuse_setxattr(perfuse_conn *c, const char *path, const char *name,
    const void *value, size_t size, int flags)
{
	struct fuse_setxattr_in in = { (uint32_t)size, (uint32_t)flags, 0, 0 };
	struct iovec iov[3] = { { &in, FUSE_COMPAT_SETXATTR_IN_SIZE },
		{ (void *)(uintptr_t)name, strlen(name) + 1 },
		{ (void *)(uintptr_t)value, size } };
	struct walk w;
	int err;

	if (strlen(name) > 255 || name[0] == '\0')
		return name[0] ? -ERANGE : -EINVAL;
	if (size > 65536)
		return -E2BIG;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	err = walk_node(c, path, 0, &w);
	if (err != 0)
		return err;
	err = pf_call(c, FUSE_SETXATTR, w.node, iov, 3, NULL, 0, NULL);
	if (err == 0)
		attr_inval(c, w.node);  /* its ctime */
	walk_done(&w);
	return xattr_err(err);
}

int
perfuse_removexattr(perfuse_conn *c, const char *path, const char *name)
{
	struct iovec iov = { (void *)(uintptr_t)name, strlen(name) + 1 };
	struct walk w;
	int err = walk_node(c, path, 0, &w);

	if (err != 0)
		return err;
	err = pf_call(c, FUSE_REMOVEXATTR, w.node, &iov, 1, NULL, 0, NULL);
	if (err == 0)
		attr_inval(c, w.node);  /* its ctime */
	walk_done(&w);
	return xattr_err(err);
}
