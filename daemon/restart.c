/*
 * restart.c - crash-restart of a filesystem (perfuse mount -o restart).
 *
 * When the server process of a mount dies, perfused starts the same
 * command again, performs INIT, and brings back what the clients still
 * hold, so that the kernel mount and the API sessions carry on:
 *
 *  - every node a client holds a lookup reference to, by LOOKUP again of
 *    the name it had in its parent (recorded from the LOOKUP, CREATE,
 *    MKNOD, MKDIR, SYMLINK, LINK and READDIRPLUS replies that handed it
 *    out, and kept up to date on RENAME, UNLINK and RMDIR), parents first;
 *  - every open handle, by OPEN or OPENDIR again of its node with the
 *    flags it was opened with (less O_CREAT, O_EXCL and O_TRUNC).
 *
 * Clients keep the node ids and handles they had: from the first restart
 * on, perfused translates at the server's edge (ids of its clients to the
 * new server's, and back), so nothing inside perfused (the clients'
 * tables, the kernel's cache, traces) sees the change.  The new server
 * hands out one reference per node we look up again, where the clients
 * may hold many: a node's "server references" are counted apart from the
 * clients' and FORGETs are sized so that both reach zero together.
 *
 * Requests in flight at the crash are sent again once where that is safe
 * (lookups, reads, getattr ...; their bytes are kept while they are in
 * flight, only with -o restart) and fail with EIO otherwise; requests that
 * arrive during the restart wait for it.  A node or handle that cannot be
 * brought back (renamed away, unlinked while open) is lost: requests on it
 * fail with ESTALE (a node) or EIO (a handle).
 *
 * Nothing here runs for a mount without -o restart (m->rs == NULL).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "perfused.h"
#include "proto.h"
#include "sock.h"

#define RS_MAX_RESTARTS 5       /* in RS_WINDOW seconds, then give up */
#define RS_WINDOW 60
#define RS_FRESH_IDS (1ULL << 56) /* ids given when a new server's collide */
#define RS_NAME_MAX 1024        /* the kernel's FUSE_NAME_MAX */
#define RS_RENAME_EXCHANGE 2    /* RENAME_EXCHANGE of <linux/fs.h> */

/* A node's record: paths (v1 parent, v2 name, v3 client references). */
struct rs_name {
	size_t len;
	char s[];
};

static uint64_t
name_key(uint64_t parent, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ parent;
	size_t i;

	for (i = 0; i < 8; i++)
		h = (h ^ ((parent >> (8 * i)) & 0xff)) * 1099511628211ULL;
	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
	return h | 1;  /* never 0 */
}

static struct rs_name *
rec_name(const struct u64slot *s)
{
	return (struct rs_name *)(uintptr_t)s->v2;
}

static int
rec_is(const struct u64slot *s, uint64_t parent, const char *name, size_t len)
{
	const struct rs_name *n = rec_name(s);

	return s->v1 == parent && n != NULL && n->len == len && memcmp(n->s, name, len) == 0;
}

/* The node a (parent, name) was recorded for, 0 if none. */
static uint64_t
rs_child(struct restart *rs, uint64_t parent, const char *name, size_t len)
{
	struct u64slot *b = map_get(&rs->byname, name_key(parent, name, len)), *s;

	if (b == NULL)
		return 0;
	s = map_get(&rs->paths, b->v1);
	return s != NULL && rec_is(s, parent, name, len) ? b->v1 : 0;
}

/* Forget where a node is: it keeps its references but has no name. */
static void
unname(struct restart *rs, struct u64slot *s)
{
	struct rs_name *n = rec_name(s);
	struct u64slot *b;

	if (n != NULL) {
		b = map_get(&rs->byname, name_key(s->v1, n->s, n->len));
		if (b != NULL && b->v1 == s->key)
			map_del(&rs->byname, b);
		free(n);
	}
	s->v1 = 0;
	s->v2 = 0;
}

static void
set_name(struct restart *rs, uint64_t node, uint64_t parent, const char *name, size_t len)
{
	struct u64slot *s, *b;
	struct rs_name *n;

	if (node == 0 || node == PF_ROOT_ID || parent == 0 || len == 0 ||
	    (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return;
	s = map_get(&rs->paths, node);
	if (s != NULL && rec_is(s, parent, name, len))
		return;
	n = malloc(sizeof(*n) + len);
	if (n == NULL)
		return;
	n->len = len;
	memcpy(n->s, name, len);
	if (s == NULL && (s = map_put(&rs->paths, node)) == NULL) {
		free(n);
		return;
	}
	unname(rs, s);
	s->v1 = parent;
	s->v2 = (uint64_t)(uintptr_t)n;
	b = map_put(&rs->byname, name_key(parent, name, len));
	if (b != NULL)
		b->v1 = node;
	/* map_put may have moved the slots: s is not used after it. */
}

int
rs_setup(struct mount *m, char **argv, char **envp, const char *cwd)
{
	struct restart *rs = calloc(1, sizeof(*rs));
	size_t n, i;

	if (rs == NULL)
		return -ENOMEM;
	for (n = 0; argv[n] != NULL; n++)
		;
	rs->argv = calloc(n + 1, sizeof(char *));
	for (i = 0; rs->argv != NULL && i < n; i++)
		if ((rs->argv[i] = strdup(argv[i])) == NULL)
			goto fail;
	for (n = 0; envp[n] != NULL; n++)
		;
	rs->envp = calloc(n + 1, sizeof(char *));
	for (i = 0; rs->envp != NULL && i < n; i++)
		if ((rs->envp[i] = strdup(envp[i])) == NULL)
			goto fail;
	rs->cwd = strdup(cwd);
	if (rs->argv == NULL || rs->envp == NULL || rs->cwd == NULL)
		goto fail;
	rs->next_id = RS_FRESH_IDS;
	m->rs = rs;
	return 0;
fail:
	m->rs = rs;
	rs_free(m);
	return -ENOMEM;
}

static void
free_strv(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
rs_free(struct mount *m)
{
	struct restart *rs = m->rs;
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->paths.cap; i++)
		if (rs->paths.slots[i].used)
			free(rec_name(&rs->paths.slots[i]));
	map_free(&rs->paths);
	map_free(&rs->byname);
	map_free(&rs->handles);
	map_free(&rs->dirty);
	map_free(&rs->n_c2s);
	map_free(&rs->n_s2c);
	map_free(&rs->f_c2s);
	map_free(&rs->f_s2c);
	if (rs->tmpmp != NULL)
		(void)rmdir(rs->tmpmp);
	free(rs->tmpmp);
	free(rs->argv_tmp);
	free_strv(rs->argv);
	free_strv(rs->envp);
	free(rs->cwd);
	free(rs);
	m->rs = NULL;
}

/* ------------------------------------------------------------------ */
/* What clients hold, in their ids.                                      */

void
rs_entry(struct mount *m, uint64_t parent, const char *name, size_t len, uint64_t node)
{
	struct u64slot *s;

	if (node == 0 || node == PF_ROOT_ID)
		return;
	s = map_get(&m->rs->paths, node);
	if (s == NULL || s->v2 == 0)  /* a hard link keeps the name it had */
		set_name(m->rs, node, parent, name, len);
}

void
rs_credit(struct mount *m, uint64_t node)
{
	struct u64slot *s;

	if (node == 0 || node == PF_ROOT_ID)
		return;
	s = map_put(&m->rs->paths, node);
	if (s != NULL)
		s->v3++;
}

/*
 * A client gives n references to node back.  Returns how many the server
 * is to be told of, and in *srv the server's id for it (0: nothing to tell
 * the server, which never handed it out).
 */
uint64_t
rs_forget(struct mount *m, uint64_t node, uint64_t n, uint64_t *srv)
{
	struct restart *rs = m->rs;
	struct u64slot *s = map_get(&rs->paths, node), *x;
	uint64_t refs = 0, send;

	if (s != NULL) {
		refs = s->v3 > n ? s->v3 - n : 0;
		s->v3 = refs;
		if (refs == 0) {
			unname(rs, s);
			map_del(&rs->paths, map_get(&rs->paths, node));
		}
	}
	*srv = node;
	if (!rs->xlate)
		return n;
	x = map_get(&rs->n_c2s, node);
	if (x == NULL) {
		*srv = 0;
		return 0;
	}
	*srv = x->v1;
	send = x->v2 > refs ? x->v2 - refs : 0;
	x->v2 -= send;
	if (refs == 0) {
		struct u64slot *y = map_get(&rs->n_s2c, x->v1);

		if (y != NULL && y->v1 == node)
			map_del(&rs->n_s2c, y);
		map_del(&rs->n_c2s, map_get(&rs->n_c2s, node));
	}
	return send;
}

#define RS_FH_DIR (1ULL << 32)  /* handles: v2 bit of an OPENDIR handle */

/*
 * A handle handed out: a server may give the same value to several opens
 * (memfs gives the open flags), so handles are counted like references.
 */
void
rs_opened(struct mount *m, uint64_t fh, uint64_t node, uint32_t flags, uint32_t opcode)
{
	struct u64slot *s = map_put(&m->rs->handles, fh);

	if (s != NULL) {
		s->v1 = node;
		s->v2 = (flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC)) |
		    (opcode == FUSE_OPENDIR ? RS_FH_DIR : 0);
		s->v3++;
	}
}

/*
 * A client releases a handle.  Returns 1 when the server is to be told,
 * with its handle in *srv; 0 when it has nothing to release (the handle
 * was lost in a restart, or the restarted server opened it once for
 * several of the clients' opens and one of those is still open).
 */
int
rs_released(struct mount *m, uint64_t fh, uint64_t *srv)
{
	struct restart *rs = m->rs;
	struct u64slot *s = map_get(&rs->handles, fh), *x, *y;
	uint64_t left = 0;

	if (s != NULL && s->v3 > 1)
		left = --s->v3;
	else if (s != NULL)
		map_del(&rs->handles, s);
	if (left == 0 && (x = map_get(&rs->dirty, fh)) != NULL)
		map_del(&rs->dirty, x);
	*srv = fh;
	if (!rs->xlate)
		return 1;
	x = map_get(&rs->f_c2s, fh);
	if (x == NULL)
		return 0;
	*srv = x->v1;
	if (x->v2 <= left)
		return 0;
	x->v2--;
	if (left == 0) {
		y = map_get(&rs->f_s2c, x->v1);
		if (y != NULL && y->v1 == fh)
			map_del(&rs->f_s2c, y);
		map_del(&rs->f_c2s, map_get(&rs->f_c2s, fh));
	}
	return 1;
}

/* An FSYNC succeeded: what was written before it is safe. */
void
rs_synced(struct mount *m, const struct pend *p)
{
	struct u64slot *w = map_get(&m->rs->dirty, p->fh);

	if (w != NULL && p->opcode == FUSE_FSYNC && w->v2 < p->fh_seq)
		w->v2 = p->fh_seq;
}

/* A successful change of names (names: the request's, NUL-separated). */
void
rs_names_changed(struct mount *m, uint32_t opcode, uint64_t dir, uint64_t newdir,
    const char *names, uint32_t rename_flags)
{
	struct restart *rs = m->rs;
	const char *second;
	uint64_t a, b;
	struct u64slot *s;

	if (names == NULL)
		return;
	switch (opcode) {
	case FUSE_UNLINK: case FUSE_RMDIR:
		a = rs_child(rs, dir, names, strlen(names));
		if (a != 0 && (s = map_get(&rs->paths, a)) != NULL)
			unname(rs, s);
		break;
	case FUSE_RENAME: case FUSE_RENAME2:
		second = names + strlen(names) + 1;
		a = rs_child(rs, dir, names, strlen(names));
		b = rs_child(rs, newdir, second, strlen(second));
		if (b != 0 && (s = map_get(&rs->paths, b)) != NULL) {
			unname(rs, s);
			if (rename_flags & RS_RENAME_EXCHANGE)
				set_name(rs, b, dir, names, strlen(names));
		}
		if (a != 0 && (s = map_get(&rs->paths, a)) != NULL) {
			unname(rs, s);
			set_name(rs, a, newdir, second, strlen(second));
		}
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Translation at the server's edge.                                     */

/* The server's id for a client's; 0 when it has none (a handle may be 0). */
static int
c2s_found(struct u64map *map, uint64_t id, uint64_t *out)
{
	struct u64slot *s = map_get(map, id);

	if (s == NULL)
		return 0;
	*out = s->v1;
	return 1;
}

static uint64_t
c2s(struct u64map *map, uint64_t id)
{
	uint64_t v = 0;

	return c2s_found(map, id, &v) ? v : 0;  /* node ids are never 0 */
}

/*
 * The clients' id for a server's: the one it has, else the same number
 * when no client uses it, else a fresh one.  0 when out of memory.
 */
static uint64_t
s2c(struct restart *rs, struct u64map *fwd, struct u64map *back, uint64_t sid)
{
	struct u64slot *s = map_get(back, sid), *f;
	uint64_t cid = sid;

	if (s != NULL)
		return s->v1;
	while (map_get(fwd, cid) != NULL || (fwd == &rs->n_c2s &&
	    map_get(&rs->paths, cid) != NULL) || (fwd == &rs->f_c2s &&
	    map_get(&rs->handles, cid) != NULL))
		cid = rs->next_id++;
	if ((f = map_put(fwd, cid)) == NULL)
		return 0;
	f->v1 = sid;
	f->v2 = 0;
	if ((s = map_put(back, sid)) == NULL) {
		map_del(fwd, map_get(fwd, cid));
		return 0;
	}
	s->v1 = cid;
	return cid;
}

static int
xl_node(struct restart *rs, char *at)
{
	uint64_t id, sid;

	memcpy(&id, at, sizeof(id));
	if (id == 0 || id == PF_ROOT_ID)
		return 0;
	if ((sid = c2s(&rs->n_c2s, id)) == 0)
		return -ESTALE;
	memcpy(at, &sid, sizeof(sid));
	return 0;
}

static int
xl_fh(struct restart *rs, char *at)
{
	uint64_t id, sid;

	memcpy(&id, at, sizeof(id));
	if (!c2s_found(&rs->f_c2s, id, &sid))
		return -EIO;  /* a handle that could not be opened again */
	memcpy(at, &sid, sizeof(sid));
	return 0;
}

/*
 * A request, in the clients' ids, to the new server's: the header's node
 * and the ids in its body.  0, or the error its client is to hear.
 */
int
rs_xlate_request(struct mount *m, char *buf, size_t len)
{
	struct restart *rs = m->rs;
	struct fuse_in_header h;
	char *b = buf + PF_IN_HDR;
	size_t blen = len - PF_IN_HDR;
	uint32_t w;
	int err;

	if (!rs->xlate)
		return 0;
	memcpy(&h, buf, sizeof(h));
	if ((err = xl_node(rs, buf + offsetof(struct fuse_in_header, nodeid))) != 0)
		return err;
	switch (h.opcode) {
	case FUSE_RENAME: case FUSE_RENAME2: case FUSE_LINK:
		return blen >= 8 ? xl_node(rs, b) : 0;
	case FUSE_READ: case FUSE_WRITE: case FUSE_RELEASE: case FUSE_RELEASEDIR:
	case FUSE_FLUSH: case FUSE_FSYNC: case FUSE_FSYNCDIR: case FUSE_READDIR:
	case FUSE_READDIRPLUS: case FUSE_LSEEK: case FUSE_FALLOCATE: case FUSE_IOCTL:
	case FUSE_POLL: case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW:
		return blen >= 8 ? xl_fh(rs, b) : 0;
	case FUSE_COPY_FILE_RANGE:
		if (blen < 32)
			return 0;
		if ((err = xl_fh(rs, b)) != 0 || (err = xl_node(rs, b + 16)) != 0)
			return err;
		return xl_fh(rs, b + 24);
	case FUSE_GETATTR:
		memcpy(&w, b, sizeof(w));
		return blen >= 16 && (w & FUSE_GETATTR_FH) ? xl_fh(rs, b + 8) : 0;
	case FUSE_SETATTR:
		memcpy(&w, b, sizeof(w));
		return blen >= 16 && (w & FATTR_FH) ? xl_fh(rs, b + 8) : 0;
	default:
		return 0;
	}
}

struct plus_xl {
	struct restart *rs;
	char *base;
	const char *cbase;
};

static int
plus_xl(const struct pf_dirent_view *v, void *arg)
{
	struct plus_xl *x = arg;
	char *at = x->base + ((const char *)v->entry - x->cbase);
	uint64_t sid, cid;
	struct u64slot *s;

	memcpy(&sid, at, sizeof(sid));
	if (sid == 0 || sid == PF_ROOT_ID || (v->namelen == 1 && v->name[0] == '.') ||
	    (v->namelen == 2 && v->name[0] == '.' && v->name[1] == '.'))
		return 0;
	cid = s2c(x->rs, &x->rs->n_c2s, &x->rs->n_s2c, sid);
	if ((s = map_get(&x->rs->n_c2s, cid)) != NULL)
		s->v2++;  /* the server handed out one more */
	memcpy(at, &cid, sizeof(cid));
	return 0;
}

/*
 * A good reply from the new server, to the clients' ids: the node of an
 * entry (one more server reference), the handle of an open.
 */
void
rs_xlate_reply(struct mount *m, uint32_t opcode, char *pl, size_t len)
{
	struct restart *rs = m->rs;
	const struct pf_opinfo *op = pf_op(opcode);
	size_t at = 0;
	uint64_t sid, cid;
	struct u64slot *s;
	const char *why;

	if (!rs->xlate)
		return;
	if ((op->flags & PF_OPF_LOOKUP) && len >= 8) {
		memcpy(&sid, pl, sizeof(sid));
		if (sid != 0 && sid != PF_ROOT_ID) {
			cid = s2c(rs, &rs->n_c2s, &rs->n_s2c, sid);
			if ((s = map_get(&rs->n_c2s, cid)) != NULL)
				s->v2++;
			memcpy(pl, &cid, sizeof(cid));
		}
		at = pf_entry_out_size(m->p.minor);
	}
	if ((op->flags & PF_OPF_OPENFH) && len >= at + 8) {
		memcpy(&sid, pl + at, sizeof(sid));
		cid = s2c(rs, &rs->f_c2s, &rs->f_s2c, sid);
		if ((s = map_get(&rs->f_c2s, cid)) != NULL)
			s->v2++;  /* one more for the server to be told of */
		memcpy(pl + at, &cid, sizeof(cid));
	}
	if (opcode == FUSE_READDIRPLUS) {
		struct plus_xl x = { rs, pl, pl };

		pf_walk_dirents(pl, len, 1, m->p.minor, plus_xl, &x, &why);
	}
}

/* A notification's node ids to the clients'; -1: about nothing they hold. */
int
rs_xlate_notify(struct mount *m, int code, char *pl, size_t len)
{
	struct restart *rs = m->rs;
	uint64_t sid;
	struct u64slot *s;
	size_t at;

	if (!rs->xlate)
		return 0;
	switch (code) {
	case FUSE_NOTIFY_INVAL_INODE: case FUSE_NOTIFY_INVAL_ENTRY: case FUSE_NOTIFY_DELETE:
		at = 0;
		break;
	case FUSE_NOTIFY_STORE: case FUSE_NOTIFY_RETRIEVE:
		at = code == FUSE_NOTIFY_STORE ? 0 : 8;
		break;
	default:
		return 0;
	}
	for (;;) {
		if (len < at + 8)
			return 0;
		memcpy(&sid, pl + at, sizeof(sid));
		if (sid != PF_ROOT_ID) {
			s = map_get(&rs->n_s2c, sid);
			if (s == NULL)
				return -1;
			memcpy(pl + at, &s->v1, sizeof(s->v1));
		}
		if (code != FUSE_NOTIFY_DELETE || at != 0)
			return 0;
		at = 8;  /* DELETE: the child too */
	}
}

/* ------------------------------------------------------------------ */
/* Requests in flight.                                                   */

/* What may be sent again to a new server without changing anything. */
static int
retry_safe(uint32_t opcode, const struct pend *p)
{
	switch (opcode) {
	case FUSE_LOOKUP: case FUSE_GETATTR: case FUSE_READ: case FUSE_READDIR:
	case FUSE_READDIRPLUS: case FUSE_READLINK: case FUSE_STATFS: case FUSE_GETXATTR:
	case FUSE_LISTXATTR: case FUSE_ACCESS: case FUSE_OPENDIR: case FUSE_LSEEK:
	case FUSE_GETLK:
		return 1;
	/*
	 * Not FSYNC nor FLUSH: the new server may have lost what the old one
	 * had not written out; "done" from it would be a lie.
	 */
	case FUSE_OPEN:
		return !(p->oflags & (O_TRUNC | O_CREAT));
	default:
		return 0;
	}
}

/*
 * A request going to the server: during a restart it waits (its bytes
 * kept, 1 returned); otherwise a safe one's bytes are kept in case the
 * server dies before answering.  Then its ids are translated.
 * Returns 1 when parked, 0 to send, or the error its client is to hear.
 */
int
rs_outgoing(struct mount *m, struct pend *p, char *buf, size_t len)
{
	const char *b = buf + PF_IN_HDR;
	size_t blen = len - PF_IN_HDR;
	uint64_t fh;
	uint32_t valid;
	struct u64slot *w;

	/*
	 * What was written through a handle and not fsynced may be lost in a
	 * crash: the next FSYNC or FLUSH of that handle after a restart says
	 * EIO, once, as Linux reports a writeback error to fsync.
	 */
	switch (p->opcode) {
	case FUSE_WRITE: case FUSE_FALLOCATE:
		if (blen >= 8 && (memcpy(&fh, b, 8), (w = map_put(&m->rs->dirty, fh)) != NULL))
			w->v1++;
		break;
	case FUSE_COPY_FILE_RANGE:
		if (blen >= 32 && (memcpy(&fh, b + 24, 8),
		    (w = map_put(&m->rs->dirty, fh)) != NULL))
			w->v1++;
		break;
	case FUSE_SETATTR:
		memcpy(&valid, b, sizeof(valid));
		if (blen >= 16 && (valid & FATTR_FH) && (valid & FATTR_SIZE) &&
		    (memcpy(&fh, b + 8, 8), (w = map_put(&m->rs->dirty, fh)) != NULL))
			w->v1++;
		break;
	case FUSE_FSYNC: case FUSE_FLUSH:
		memcpy(&fh, b, 8);
		w = map_get(&m->rs->dirty, fh);
		if (w != NULL && w->v3) {
			w->v3 = 0;
			w->v2 = w->v1;
			return -EIO;
		}
		p->fh = fh;
		p->fh_seq = w != NULL ? w->v1 : 0;
		break;
	default:
		break;
	}
	if (m->state == M_RESTARTING || retry_safe(p->opcode, p)) {
		p->msg = malloc(len);
		if (p->msg == NULL) {
			if (m->state == M_RESTARTING)
				return -ENOMEM;
		} else {
			memcpy(p->msg, buf, len);
			p->msglen = len;
		}
	}
	if (m->state == M_RESTARTING) {
		p->parked = 1;
		return 1;
	}
	return rs_xlate_request(m, buf, len);
}

/* ------------------------------------------------------------------ */
/* The restart.                                                          */

static int
rs_send(struct daemon *d, struct mount *m, uint32_t opcode, uint64_t nodeid,
    const void *body, size_t blen, const void *tail, size_t tlen, int kind, uint64_t id)
{
	char buf[PF_IN_HDR + 64 + RS_NAME_MAX + 1];
	struct fuse_in_header h;
	struct pend *p;
	struct u64slot *s;

	if (blen + tlen > sizeof(buf) - PF_IN_HDR)
		return -ENAMETOOLONG;
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)(PF_IN_HDR + blen + tlen);
	h.opcode = opcode;
	h.unique = mux_new_unique(m);
	h.nodeid = nodeid;
	p = calloc(1, sizeof(*p));
	s = p != NULL ? map_put(&m->pending, h.unique) : NULL;
	if (s == NULL) {
		free(p);
		return -ENOMEM;
	}
	p->opcode = opcode;
	p->nodeid = nodeid;
	p->rs_kind = kind;
	p->rs_id = id;
	p->limit = pf_reply_limit(opcode, m->p.minor, body, blen);
	s->v1 = (uint64_t)(uintptr_t)p;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + PF_IN_HDR, body, blen);
	if (tlen > 0)
		memcpy(buf + PF_IN_HDR + blen, tail, tlen);
	if (mux_to_server(d, m, buf, h.len) < 0) {
		map_del(&m->pending, map_get(&m->pending, h.unique));
		free(p);
		return -ENOTCONN;
	}
	m->rs->outstanding++;
	return 0;
}

static void rs_next(struct daemon *d, struct mount *m);

/*
 * The server died.  Returns 0 when a new one is on its way (the mount
 * stays), -1 when the mount is to end.
 */
int
rs_crashed(struct daemon *d, struct mount *m, const char *why)
{
	struct restart *rs = m->rs;
	time_t now = time(NULL);
	const char *serr = NULL;
	struct spawn sp;
	uint64_t *v;
	size_t i, k = 0, n;
	int err, daemonized, clean;

	if (rs == NULL || d->stopping || (m->state != M_READY && m->state != M_RESTARTING))
		return -1;
	/*
	 * Whether it ended by itself (exit status 0, not a crash): the status
	 * of the daemon it became, when it did (fs_pid, or -1 once reaped,
	 * maybe before its socket's end was seen), else of our child.
	 */
	daemonized = m->fs_pid != 0 && m->fs_pid != m->pid;
	mux_reap_briefly(m);
	if (daemonized)
		clean = m->fs_exited && WIFEXITED(m->fs_status) && WEXITSTATUS(m->fs_status) == 0;
	else
		clean = m->exited && WIFEXITED(m->exit_status) && WEXITSTATUS(m->exit_status) == 0;
	if (clean && m->state == M_READY)
		return -1;  /* it ended by itself: not a crash */
	while (rs->nrecent > 0 && now - rs->recent[0] >= RS_WINDOW) {
		memmove(rs->recent, rs->recent + 1, --rs->nrecent * sizeof(rs->recent[0]));
	}
	if (rs->nrecent >= RS_MAX_RESTARTS) {
		pf_warn("%s: %s; not restarting it again (%d restarts in %d s)",
		    m->target, why, RS_MAX_RESTARTS, RS_WINDOW);
		return -1;
	}
	rs->recent[rs->nrecent++] = now;
	pf_warn("%s: %s; starting it again (-o restart)", m->target, why);
	mux_signal_fs(m, SIGKILL);  /* whatever is left of it */
	mux_server_closed(d, m);
	/*
	 * The dead server's ids mean nothing now; until the walk maps them
	 * again, FORGETs and RELEASEs of the clients only settle the books.
	 */
	map_free(&rs->n_c2s);
	map_free(&rs->n_s2c);
	map_free(&rs->f_c2s);
	map_free(&rs->f_s2c);
	rs->xlate = 1;
	rs->outstanding = 0;
	rs->old_p = m->p;
	for (i = 0; i < rs->dirty.cap; i++)
		if (rs->dirty.slots[i].used && rs->dirty.slots[i].v1 != rs->dirty.slots[i].v2)
			rs->dirty.slots[i].v3 = 1;  /* unsynced writes may be lost */
	m->state = M_RESTARTING;
	rs->phase = RS_INIT;
	/*
	 * In flight: what is safe waits for the new server, the rest fails.
	 * Collected first: failing one may close its client, which changes
	 * the table.
	 */
	n = m->pending.used;
	v = calloc(n + 1, sizeof(*v));
	for (i = 0, k = 0; v != NULL && i < m->pending.cap; i++)
		if (m->pending.slots[i].used)
			v[k++] = m->pending.slots[i].key;
	for (i = 0; i < k; i++) {
		struct u64slot *s = map_get(&m->pending, v[i]);
		struct pend *p;

		if (s == NULL)
			continue;
		p = (struct pend *)(uintptr_t)s->v1;
		if (p->c != NULL && p->msg != NULL && !p->timed_out &&
		    (p->parked || !p->retried)) {
			p->parked = 1;
			continue;
		}
		map_del(&m->pending, s);
		if (p->c != NULL)
			mux_fail_pending(d, p, -EIO);
		mux_pend_free(p);
		if (m->state != M_RESTARTING)
			break;  /* the kernel's connection went, and the mount */
	}
	free(v);
	if (m->state != M_RESTARTING)
		return 0;
	memset(&sp, 0, sizeof(sp));
	sp.argv = rs->argv;
	sp.mp_index = spawn_find_mountpoint(rs->argv);
	/*
	 * libfuse2 and Go look at their mountpoint before they mount (stat,
	 * "is it empty"): the target is our own kernel mount, which waits for
	 * this very restart.  They get an empty directory of their own
	 * instead; the mount frame is matched by its token, not its target.
	 */
	if (m->attach != ATTACH_FD && sp.mp_index > 0 && rs->tmpmp == NULL) {
		char t[] = "/tmp/perfuse-restart-XXXXXX";

		if (mkdtemp(t) != NULL) {
			rs->tmpmp = strdup(t);
			if (geteuid() == 0 && chown(t, m->uid, m->gid) < 0)
				pf_warn("%s: chown %s: %s", m->target, t, strerror(errno));
		}
	}
	if (m->attach != ATTACH_FD && sp.mp_index > 0 && rs->tmpmp != NULL) {
		free(rs->argv_tmp);
		for (n = 0; rs->argv[n] != NULL; n++)
			;
		rs->argv_tmp = calloc(n + 1, sizeof(char *));
		if (rs->argv_tmp != NULL) {
			memcpy(rs->argv_tmp, rs->argv, n * sizeof(char *));
			rs->argv_tmp[sp.mp_index] = rs->tmpmp;
			sp.argv = rs->argv_tmp;
		}
	}
	sp.envp = rs->envp;
	sp.cwd = rs->cwd;
	sp.uid = m->uid;
	sp.gid = m->gid;
	m->pid = 0;
	m->fs_pid = 0;
	m->exited = 0;
	m->fs_exited = 0;
	m->termed = 0;
	err = mux_spawn(d, m, &sp, &serr);
	if (err != 0) {
		pf_warn("%s: cannot start the filesystem again: %s", m->target,
		    serr ? serr : strerror(-err));
		mux_restart_failed(d, m);
		return 0;
	}
	m->deadline = now + m->init_timeout;
	pf_info("%s: started again: %s (pid %d)", m->target, m->command, (int)m->pid);
	return 0;
}

/* The new server answered INIT. */
void
rs_init_done(struct daemon *d, struct mount *m, int32_t error, const char *pl, size_t len)
{
	struct restart *rs = m->rs;
	struct pf_init_params np;
	const char *why = NULL;
	int err;

	err = pf_init_reply(pl, len, error, PF_MINOR_MAX, PF_INIT_OFFER, 128 * 1024,
	    &np, &why);
	if (err == 0 && (np.minor != rs->old_p.minor || np.max_write < rs->old_p.max_write)) {
		why = "it agreed to another protocol minor or a smaller max_write";
		err = -EPROTO;
	}
	if (err != 0) {
		pf_warn("%s: the restarted filesystem's INIT failed: %s", m->target, why);
		mux_restart_failed(d, m);
		return;
	}
	m->p = rs->old_p;
	if (m->exited && m->fs_pid == 0)
		m->fs_pid = spawn_socket_owner(m->fs_ino, m->pid);
	/* The new server's ids start from nothing: every one is mapped. */
	map_free(&rs->n_c2s);
	map_free(&rs->n_s2c);
	map_free(&rs->f_c2s);
	map_free(&rs->f_s2c);
	rs->xlate = 1;
	rs->nodes_back = rs->nodes_lost = rs->fhs_back = rs->fhs_lost = 0;
	rs->phase = RS_WALK;
	m->deadline = time(NULL) + (m->timeout > 0 ? m->timeout : 60);
	rs_next(d, m);
}

/*
 * One round of the walk: LOOKUP again every held node whose parent is
 * back and that is not yet.  Then the handles.  Then the mount goes on.
 */
static void
rs_next(struct daemon *d, struct mount *m)
{
	struct restart *rs = m->rs;
	size_t i;

	while (rs->outstanding == 0 && m->state == M_RESTARTING) {
		if (rs->phase == RS_WALK) {
			for (i = 0; i < rs->paths.cap; i++) {
				struct u64slot *s = &rs->paths.slots[i];
				struct rs_name *n;
				uint64_t sp;

				if (!s->used || s->v3 == 0 || s->v2 == 0 ||
				    map_get(&rs->n_c2s, s->key) != NULL)
					continue;
				sp = s->v1 == PF_ROOT_ID ? PF_ROOT_ID : c2s(&rs->n_c2s, s->v1);
				if (sp == 0)
					continue;
				n = rec_name(s);
				{
					char nm[RS_NAME_MAX + 1];

					if (n->len > RS_NAME_MAX)
						continue;
					memcpy(nm, n->s, n->len);
					nm[n->len] = '\0';
					/* rs_send may grow m->pending, not rs->paths. */
					rs_send(d, m, FUSE_LOOKUP, sp, nm, n->len + 1, NULL, 0,
					    RS_LOOKUP, s->key);
				}
				if (m->state != M_RESTARTING)
					return;
			}
			if (rs->outstanding > 0)
				return;
			/* No progress: what is left cannot come back. */
			for (i = 0; i < rs->paths.cap; i++)
				if (rs->paths.slots[i].used && rs->paths.slots[i].v3 > 0 &&
				    map_get(&rs->n_c2s, rs->paths.slots[i].key) == NULL)
					rs->nodes_lost++;
			rs->phase = RS_OPEN;
			for (i = 0; i < rs->handles.cap; i++) {
				struct u64slot *s = &rs->handles.slots[i];
				struct fuse_open_in in;
				uint64_t sn;

				if (!s->used)
					continue;
				sn = s->v1 == PF_ROOT_ID ? PF_ROOT_ID : c2s(&rs->n_c2s, s->v1);
				if (sn == 0) {
					rs->fhs_lost++;
					continue;
				}
				memset(&in, 0, sizeof(in));
				in.flags = (uint32_t)s->v2;
				rs_send(d, m, (s->v2 & RS_FH_DIR) ? FUSE_OPENDIR : FUSE_OPEN, sn,
				    &in, sizeof(in), NULL, 0, RS_OPEN, s->key);
				if (m->state != M_RESTARTING)
					return;
			}
			continue;
		}
		if (rs->phase == RS_OPEN) {
			rs->phase = RS_NONE;
			pf_info("%s: restarted: %zu nodes and %zu handles back, %zu nodes "
			    "and %zu handles lost", m->target, rs->nodes_back, rs->fhs_back,
			    rs->nodes_lost, rs->fhs_lost);
			mux_restart_done(d, m);
		}
		return;
	}
}

/* The answer to a LOOKUP or OPEN of the walk. */
void
rs_reply(struct daemon *d, struct mount *m, struct pend *p, int32_t error,
    const char *pl, size_t len)
{
	struct restart *rs = m->rs;
	const char *why;
	uint64_t sid;
	struct u64slot *s, *y;

	if (rs->outstanding > 0)
		rs->outstanding--;
	if (m->state != M_RESTARTING)
		return;
	if (error == 0 && pf_check_reply(p->opcode, m->p.minor, 0, len, p->limit, &why) != 0)
		error = -EIO;
	sid = 0;
	if (error == 0 && len >= sizeof(sid))
		memcpy(&sid, pl, sizeof(sid));
	if (p->rs_kind == RS_LOOKUP) {
		if (error != 0 || sid == 0) {
			/* Lost: requests on it get ESTALE (its children are lost too). */
		} else if (map_get(&rs->n_s2c, sid) != NULL ||
		    (s = map_get(&rs->paths, p->rs_id)) == NULL || s->v3 == 0) {
			/* Already some other node's, or let go meanwhile: give it back. */
			struct fuse_forget_one f = { sid, 1 };

			mux_forget_raw(d, m, &f, 1);
		} else if ((s = map_put(&rs->n_c2s, p->rs_id)) != NULL &&
		    (y = map_put(&rs->n_s2c, sid)) != NULL) {
			y->v1 = p->rs_id;
			s = map_get(&rs->n_c2s, p->rs_id);
			s->v1 = sid;
			s->v2 = 1;
			rs->nodes_back++;
		}
	} else if (error == 0 && map_get(&rs->handles, p->rs_id) == NULL) {
		mux_release_raw(d, m, p->nodeid, sid, p->opcode == FUSE_OPENDIR ?
		    FUSE_RELEASEDIR : FUSE_RELEASE);  /* released meanwhile */
	} else {
		if (error == 0) {
			if ((s = map_put(&rs->f_c2s, p->rs_id)) != NULL &&
			    (y = map_put(&rs->f_s2c, sid)) != NULL) {
				y->v1 = p->rs_id;
				s = map_get(&rs->f_c2s, p->rs_id);
				s->v1 = sid;
				s->v2 = 1;  /* one open, for all the clients' of that handle */
				rs->fhs_back++;
			}
		} else {
			rs->fhs_lost++;
			pf_warn_ratelimit(&m->warned, 10, "%s: a handle of node %llu could "
			    "not be opened again (%s)", m->target,
			    (unsigned long long)p->nodeid, strerror(error ? -error : EIO));
		}
	}
	rs_next(d, m);
}
