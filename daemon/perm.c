/*
 * perm.c - default_permissions for perfuse's own clients.
 *
 * A filesystem mounted with default_permissions leaves permission checks
 * to the kernel: it answers whoever asks.  The kernel mount checks its
 * callers; perfused checks its own clients the same way, from the
 * attributes the server gave (generic_permission(): owner, group or other
 * bits, root passing all but execution without any x bit), before a
 * request reaches the server:
 *
 *	LOOKUP			x on the directory
 *	OPEN, OPENDIR		r and/or w as the flags ask, w for O_TRUNC
 *	CREATE MKNOD MKDIR SYMLINK LINK TMPFILE	w and x on the directory
 *	UNLINK RMDIR RENAME	w and x on the directories, and in a sticky
 *				one, ownership of the directory or the entry
 *	SETATTR			mode and times: ownership; uid: root; gid:
 *				ownership and membership; size: w
 *	ACCESS			what it asks
 *	GETXATTR SETXATTR REMOVEXATTR	r or w for "user.", root for
 *				"trusted."
 *
 * The attributes are the last ones a reply carried for the node, kept in
 * the client's node table (the root's in the mount) for as long as the
 * reply's attr_valid says, and every client's copy is updated when a
 * SETATTR changes them.  A check that needs attributes the client does not
 * have or that went stale waits for a GETATTR of perfused's own first, as
 * the kernel refreshes them before it checks (fuse_permission()).  The
 * sticky rule needs the attributes of the entry: perfused LOOKUPs it
 * first, holding the request (and FORGETs what that LOOKUP handed out).
 *
 * Only for mounts with default_permissions, only for clients other than
 * the kernel (which checks itself) and root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "perfused.h"
#include "proto.h"

#define MAY_X 1
#define MAY_W 2
#define MAY_R 4
/*
 * A node's attributes in its u64slot: v2 = mode | uid << 32; v3 = gid |
 * expiry << 32 | PERM_KNOWN, the expiry in seconds of CLOCK_MONOTONIC.
 */
#define PERM_KNOWN (1ULL << 63)
#define PERM_EXP_MASK 0x7fffffffULL
#define PERM_VALID_MAX (1ULL << 30)  /* longer than any uptime */
#define PERM_MAX_HOLDS 1024     /* requests waiting for a check */

/* What a request held for a sticky check waits for. */
struct perm_hold {
	struct perm_hold *next;
	struct conn *c;             /* NULL once it left */
	unsigned waiting;           /* LOOKUPs not answered */
	uint64_t owner[2];          /* the entries' owners, or ~0: none */
	int nowner;
	int failed;                 /* a LOOKUP failed otherwise than ENOENT */
	int refresh;                /* waits for GETATTRs, not sticky LOOKUPs */
	size_t len;
	char msg[];                 /* the request, as the client sent it */
};

int
perm_applies(const struct mount *m, const struct conn *c)
{
	return (m->kflags & KOPT_DEFAULT_PERMISSIONS) && c != NULL && !c->kernel &&
	    c->uid != 0;
}

/* The client's supplementary groups, from /proc, once. */
static void
load_groups(struct conn *c)
{
	char path[64], line[1024];
	FILE *f;

	c->ngroups = 0;
	c->groups_loaded = 1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line + 7, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		while (c->ngroups < PERM_MAX_GROUPS) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			c->groups[c->ngroups++] = (gid_t)g;
			p = end;
		}
		break;
	}
	fclose(f);
}

static int
in_group(struct conn *c, uint32_t gid)
{
	int i;

	if (gid == c->gid)
		return 1;
	if (!c->groups_loaded)
		load_groups(c);
	for (i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return 1;
	return 0;
}

/* Now, in the seconds of the attributes' expiry. */
static uint64_t
perm_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec & PERM_EXP_MASK;
}

/*
 * Whether a check on node needs its attributes fetched first: the client
 * holds it and has none, or stale ones.
 */
static int
stale(const struct mount *m, struct conn *c, uint64_t node)
{
	uint64_t b;

	if (node == PF_ROOT_ID) {
		b = m->root_perm[1];
	} else {
		struct u64slot *s = map_get(&c->nodes, node);

		if (s == NULL)
			return 0;  /* not the client's: nothing to refresh */
		b = s->v3;
	}
	return !(b & PERM_KNOWN) || ((b >> 32) & PERM_EXP_MASK) <= perm_clock();
}

/* Attributes of a node as the client last heard them: 0, or -1 unknown. */
static int
attrs(const struct mount *m, struct conn *c, uint64_t node, uint32_t *mode,
    uint32_t *uid, uint32_t *gid)
{
	uint64_t a, b;

	if (node == PF_ROOT_ID) {
		a = m->root_perm[0];
		b = m->root_perm[1];
	} else {
		struct u64slot *s = map_get(&c->nodes, node);

		if (s == NULL)
			return -1;
		a = s->v2;
		b = s->v3;
	}
	if (!(b & PERM_KNOWN))
		return -1;
	*mode = (uint32_t)a;
	*uid = (uint32_t)(a >> 32);
	*gid = (uint32_t)b;
	return 0;
}

/* generic_permission(): 0 or -EACCES. */
static int
may(const struct mount *m, struct conn *c, uint64_t node, int mask)
{
	uint32_t mode, uid, gid, bits;

	if (attrs(m, c, node, &mode, &uid, &gid) < 0) {
		pf_warn_ratelimit((long *)&m->warned, 10, "%s: no attributes known for node "
		    "%llu; access refused (default_permissions)", m->target,
		    (unsigned long long)node);
		return -EACCES;
	}
	if (uid == c->uid)
		bits = mode >> 6;
	else if (in_group(c, gid))
		bits = mode >> 3;
	else
		bits = mode;
	return (mask & ~(int)bits & 7) ? -EACCES : 0;
}

static int
sticky(const struct mount *m, struct conn *c, uint64_t dir)
{
	uint32_t mode, uid, gid;

	return attrs(m, c, dir, &mode, &uid, &gid) == 0 && (mode & S_ISVTX) &&
	    uid != c->uid;
}

/* A struct fuse_attr of this minor's size at p, of at most avail bytes. */
static int
get_attr(const struct mount *m, struct fuse_attr *a, const char *p, size_t avail)
{
	size_t n = pf_attr_size(m->p.minor);

	memset(a, 0, sizeof(*a));
	if (avail < n)
		return -1;
	memcpy(a, p, n < sizeof(*a) ? n : sizeof(*a));
	return 0;
}

/*
 * The attributes a reply gives for node, valid for valid seconds (its
 * attr_valid; the nanoseconds are dropped, so they go stale early rather
 * than late), into the client's table.
 */
static void
note(struct mount *m, struct conn *c, uint64_t node, const struct fuse_attr *a,
    uint64_t valid)
{
	uint64_t exp = (perm_clock() + (valid < PERM_VALID_MAX ? valid : PERM_VALID_MAX)) &
	    PERM_EXP_MASK;
	uint64_t v2 = (uint64_t)a->mode | ((uint64_t)a->uid << 32);
	uint64_t v3 = (uint64_t)a->gid | exp << 32 | PERM_KNOWN;
	struct u64slot *s;

	if (node == PF_ROOT_ID) {
		m->root_perm[0] = v2;
		m->root_perm[1] = v3;
		return;
	}
	if (c != NULL && (s = map_get(&c->nodes, node)) != NULL) {
		s->v2 = v2;
		s->v3 = v3;
	}
}

struct plus_note {
	struct mount *m;
	struct conn *c;
};

static int
plus_note(const struct pf_dirent_view *v, void *arg)
{
	struct plus_note *x = arg;
	struct fuse_attr a;

	if (v->entry->nodeid == 0 || get_attr(x->m, &a, (const char *)v->entry +
	    offsetof(struct fuse_entry_out, attr), pf_attr_size(x->m->p.minor)) < 0)
		return 0;
	note(x->m, x->c, v->entry->nodeid, &a, v->entry->attr_valid);
	return 0;
}

/* attr_valid of the fuse_entry_out at p (whose size was checked). */
static uint64_t
entry_attr_valid(const char *p)
{
	uint64_t v;

	memcpy(&v, p + offsetof(struct fuse_entry_out, attr_valid), sizeof(v));
	return v;
}

/* A good reply: what it says of attributes (after it was accounted). */
void
perm_reply(struct daemon *d, struct mount *m, const struct pend *p, const char *pl,
    size_t len)
{
	const struct pf_opinfo *op = pf_op(p->opcode);
	struct fuse_attr a;
	const char *why;
	uint64_t node;

	if (!(m->kflags & KOPT_DEFAULT_PERMISSIONS))
		return;
	if ((op->flags & PF_OPF_LOOKUP) && len >= 8) {
		const size_t at = offsetof(struct fuse_entry_out, attr);

		memcpy(&node, pl, sizeof(node));
		if (node != 0 && len > at && get_attr(m, &a, pl + at, len - at) == 0)
			note(m, p->c, node, &a, entry_attr_valid(pl));
	} else if ((p->opcode == FUSE_GETATTR || p->opcode == FUSE_SETATTR) &&
	    len > offsetof(struct fuse_attr_out, attr) &&
	    get_attr(m, &a, pl + offsetof(struct fuse_attr_out, attr),
	    len - offsetof(struct fuse_attr_out, attr)) == 0) {
		uint64_t valid;

		memcpy(&valid, pl, sizeof(valid));  /* fuse_attr_out.attr_valid */
		note(m, p->c, p->nodeid, &a, valid);
		if (p->opcode == FUSE_SETATTR) {
			/* Everybody's copy: the mode or owner may have changed. */
			struct conn *c;

			for (c = d->conns; c != NULL; c = c->next)
				if (c->m == m && c != p->c)
					note(m, c, p->nodeid, &a, valid);
		}
	} else if (p->opcode == FUSE_READDIRPLUS) {
		struct plus_note x = { m, p->c };

		pf_walk_dirents(pl, len, 1, m->p.minor, plus_note, &x, &why);
	}
}

static int
setattr_check(const struct mount *m, struct conn *c, uint64_t node, const char *b,
    size_t blen)
{
	struct fuse_setattr_in in;
	uint32_t mode, uid, gid;

	memset(&in, 0, sizeof(in));
	memcpy(&in, b, blen < sizeof(in) ? blen : sizeof(in));
	if (attrs(m, c, node, &mode, &uid, &gid) < 0)
		return -EACCES;
	if ((in.valid & FATTR_UID) && in.uid != uid)
		return -EPERM;  /* chown: root only */
	if ((in.valid & FATTR_GID) && in.gid != gid &&
	    (uid != c->uid || !in_group(c, in.gid)))
		return -EPERM;
	if ((in.valid & FATTR_MODE) && uid != c->uid)
		return -EPERM;
	if ((in.valid & (FATTR_ATIME | FATTR_MTIME)) && uid != c->uid) {
		/* Setting both to "now" needs write access; other times, ownership. */
		uint32_t now = FATTR_ATIME_NOW | FATTR_MTIME_NOW;

		if ((in.valid & now) != now ||
		    (in.valid & (FATTR_ATIME | FATTR_MTIME)) != (FATTR_ATIME | FATTR_MTIME))
			return -EPERM;
		if (may(m, c, node, MAY_W) < 0)
			return -EACCES;
	}
	if ((in.valid & FATTR_SIZE) && !(in.valid & FATTR_FH))
		return may(m, c, node, MAY_W);
	return 0;
}

static int
xattr_check(const struct mount *m, struct conn *c, uint64_t node, const char *name,
    int write)
{
	if (strncmp(name, "trusted.", 8) == 0)
		return write ? -EPERM : -ENODATA;
	if (strncmp(name, "user.", 5) == 0)
		return may(m, c, node, write ? MAY_W : MAY_R);
	return 0;
}

/*
 * The nodes whose attributes the check of this request reads and that
 * are stale for c, into nodes[]: how many (0 to 2).
 */
static int
stale_nodes(const struct mount *m, struct conn *c, const struct fuse_in_header *h,
    const char *b, const char *name, uint64_t nodes[2])
{
	uint64_t newdir;
	int n = 0;

	switch (h->opcode) {
	case FUSE_RENAME: case FUSE_RENAME2:
		memcpy(&newdir, b, sizeof(newdir));
		if (newdir != h->nodeid && stale(m, c, newdir))
			nodes[n++] = newdir;
		break;
	case FUSE_GETXATTR: case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
		if (strncmp(h->opcode == FUSE_REMOVEXATTR ? b : name, "user.", 5) != 0)
			return 0;
		break;
	case FUSE_LOOKUP: case FUSE_OPEN: case FUSE_OPENDIR: case FUSE_CREATE:
	case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK: case FUSE_LINK:
	case FUSE_TMPFILE: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_SETATTR:
	case FUSE_ACCESS:
		break;
	default:
		return 0;
	}
	if (stale(m, c, h->nodeid))
		nodes[n++] = h->nodeid;
	return n;
}

/*
 * The check of one request from client c.  Returns 0 to send it, a
 * negative errno for the client, or the number (1 or 2) of nodes to ask
 * about first, in dirs[]: with names[] NULL, nodes whose attributes are
 * to be fetched (GETATTR; then the check is made again, with
 * c->perm_skip 2), else the directories of the entries whose owner the
 * sticky rule needs, named in names[].
 */
int
perm_check(const struct mount *m, struct conn *c, const struct fuse_in_header *h,
    const char *b, size_t blen, uint64_t dirs[2], const char *names[2])
{
	size_t fixed = pf_req_fixed(h->opcode, c->p.minor);
	const char *name = blen > fixed ? b + fixed : "";
	uint64_t node = h->nodeid, newdir;
	uint32_t flags, mask;
	int err, n = 0;

	if (c->perm_skip != 2 && (n = stale_nodes(m, c, h, b, name, dirs)) > 0) {
		names[0] = names[1] = NULL;
		return n;
	}
	switch (h->opcode) {
	case FUSE_LOOKUP:
		return may(m, c, node, MAY_X);
	case FUSE_OPEN: case FUSE_OPENDIR:
		memcpy(&flags, b, sizeof(flags));
		mask = (flags & O_ACCMODE) == O_RDONLY ? MAY_R :
		    (flags & O_ACCMODE) == O_WRONLY ? MAY_W : MAY_R | MAY_W;
		if (flags & O_TRUNC)
			mask |= MAY_W;
		return may(m, c, node, (int)mask);
	case FUSE_CREATE: case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK:
	case FUSE_LINK: case FUSE_TMPFILE:
		return may(m, c, node, MAY_W | MAY_X);
	case FUSE_UNLINK: case FUSE_RMDIR:
		if ((err = may(m, c, node, MAY_W | MAY_X)) != 0)
			return err;
		if (sticky(m, c, node)) {
			dirs[0] = node;
			names[0] = name;
			return 1;
		}
		return 0;
	case FUSE_RENAME: case FUSE_RENAME2:
		memcpy(&newdir, b, sizeof(newdir));
		if ((err = may(m, c, node, MAY_W | MAY_X)) != 0 ||
		    (err = may(m, c, newdir, MAY_W | MAY_X)) != 0)
			return err;
		if (sticky(m, c, node)) {
			dirs[n] = node;
			names[n++] = name;
		}
		if (sticky(m, c, newdir)) {
			dirs[n] = newdir;
			names[n++] = name + strlen(name) + 1;
		}
		return n;
	case FUSE_SETATTR:
		return setattr_check(m, c, node, b, blen);
	case FUSE_ACCESS:
		memcpy(&mask, b, sizeof(mask));
		return may(m, c, node, (int)(mask & 7));
	case FUSE_GETXATTR:
		return xattr_check(m, c, node, name, 0);
	case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
		return xattr_check(m, c, node, h->opcode == FUSE_REMOVEXATTR ? b : name, 1);
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* Requests held for a check: perfused's GETATTRs for fresh attributes,   */
/* or its LOOKUPs for the sticky rule's entry owner.                     */

int
perm_hold(struct daemon *d, struct mount *m, struct conn *c, char *msg, size_t len,
    int n, const uint64_t dirs[2], const char *names[2])
{
	struct perm_hold *ph;
	int i;

	if (m->nperm_holds >= PERM_MAX_HOLDS)
		return -EAGAIN;
	if ((ph = malloc(sizeof(*ph) + len)) == NULL)
		return -ENOMEM;
	ph->c = c;
	ph->len = len;
	ph->nowner = 0;
	ph->waiting = 0;
	ph->failed = 0;
	ph->refresh = names[0] == NULL;
	memcpy(ph->msg, msg, len);
	ph->next = m->perm_holds;
	m->perm_holds = ph;
	for (i = 0; i < n; i++) {
		if ((ph->refresh ? mux_internal_getattr(d, m, dirs[i], ph) :
		    mux_internal_lookup(d, m, dirs[i], names[i], ph)) == 0)
			ph->waiting++;
	}
	if (ph->waiting == 0) {
		int refresh = ph->refresh;

		m->perm_holds = ph->next;
		free(ph);
		/*
		 * Nothing could be asked (a server restarting, say): check
		 * with the attributes there are; but refuse rather than
		 * guess an owner.
		 */
		if (!refresh)
			return -EIO;
		mux_forward_checked(d, c, msg, len, 2);
	}
	m->nperm_holds++;
	return 0;
}

/* A client left: what it held waits for nobody. */
void
perm_client_gone(struct mount *m, const struct conn *c)
{
	struct perm_hold *ph;

	for (ph = m->perm_holds; ph != NULL; ph = ph->next)
		if (ph->c == c)
			ph->c = NULL;
}

void
perm_free_all(struct mount *m)
{
	while (m->perm_holds != NULL) {
		struct perm_hold *ph = m->perm_holds;

		m->perm_holds = ph->next;
		free(ph);
	}
	m->nperm_holds = 0;
}

/*
 * The answer to one of those requests (the reply's size checked).  A
 * GETATTR's attributes go into the client's table; a LOOKUP gives the
 * entry's owner (or none).  Once all came, the request is checked again
 * (after GETATTRs: whatever they said, the check uses what is known), or
 * goes on, or its client hears EPERM (after LOOKUPs).
 */
void
perm_lookup_done(struct daemon *d, struct mount *m, const struct pend *p,
    int32_t error, const char *pl, size_t len)
{
	const size_t at = p->opcode == FUSE_GETATTR ? offsetof(struct fuse_attr_out, attr) :
	    offsetof(struct fuse_entry_out, attr);
	struct perm_hold *ph = p->perm_hold, **pp;
	struct fuse_attr a;
	uint64_t node = 0;
	int i, ok = 1;

	if (ph->refresh) {
		if (error == 0 && ph->c != NULL && len > at &&
		    get_attr(m, &a, pl + at, len - at) == 0) {
			uint64_t valid;

			memcpy(&valid, pl, sizeof(valid));  /* fuse_attr_out.attr_valid */
			note(m, ph->c, p->nodeid, &a, valid);
		}
	} else {
		if (error == 0 && len > at && get_attr(m, &a, pl + at, len - at) == 0)
			memcpy(&node, pl, sizeof(node));
		if (error != 0 && error != -ENOENT)
			ph->failed = 1;  /* cannot tell: refuse */
		else if (ph->nowner < 2)
			ph->owner[ph->nowner++] = node != 0 ? a.uid : ~0ULL;
	}
	if (--ph->waiting > 0)
		return;
	for (pp = &m->perm_holds; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ph) {
			*pp = ph->next;
			m->nperm_holds--;
			break;
		}
	}
	if (ph->c != NULL) {
		struct fuse_in_header h;

		memcpy(&h, ph->msg, sizeof(h));
		/* Not the directory's owner (or it would not be here): the entry's? */
		for (i = 0; i < ph->nowner; i++)
			if (ph->owner[i] != ~0ULL && ph->owner[i] != ph->c->uid)
				ok = 0;
		if (ph->refresh)
			mux_forward_checked(d, ph->c, ph->msg, ph->len, 2);
		else if (ph->failed)
			mux_reply_err(d, ph->c, h.unique, -EIO);
		else if (!ok)
			mux_reply_err(d, ph->c, h.unique, -EPERM);
		else
			mux_forward_checked(d, ph->c, ph->msg, ph->len, 1);
	}
	free(ph);
}
