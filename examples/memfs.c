/*
 * memfs.c - an in-memory filesystem for libfuse3's low-level API
 *
 * perfuse serves unmodified FUSE filesystems over a SOCK_SEQPACKET socket
 * instead of /dev/fuse.  This is the filesystem its demo and its tests
 * serve: a complete, POSIX-behaved filesystem held entirely in memory whose
 * real job is to keep exact books on the FUSE lookup protocol, so a test can
 * check that every reference the kernel side was given was also forgotten.
 *
 * Every node id handed to the kernel (by lookup, mknod, mkdir, symlink,
 * link, create and each readdirplus entry other than "." and "..") adds one
 * to that inode's lookup count and to the global `lookups`; FORGET and
 * BATCH_FORGET take references back and add them to `forgets`.  A forget
 * for a node id memfs does not know, or for more references than it holds,
 * is counted in `bad_forgets` and logged instead of crashing.  An inode is
 * freed only when it has no links, no lookup references and no open
 * handles, and node ids are never reused, so a kernel side that forgets too
 * early shows up as requests for stale ids (logged, answered with ESTALE)
 * and one that forgets too little shows up as `outstanding` references.
 *
 *	memfs [FUSE options] MOUNTPOINT [--report=FILE | -o report=FILE]
 *	      [--store=FILE | -o store=FILE]
 *
 * MOUNTPOINT may be /dev/fd/N, an already open FUSE file descriptor (such
 * as perfuse's socket); memfs itself never stats or opens it.  With a
 * report file, memfs writes it at destroy time and again at exit (which
 * also covers a destroy that never came, and forgets that raced with
 * destroy in the multi-threaded loop), atomically through FILE.tmp:
 *
 *	lookups=N	references handed to the kernel
 *	forgets=N	references given back (valid ones only)
 *	outstanding=N	references still held, summed over all inodes but the root
 *	bad_forgets=N	forgets for unknown nodes or for too many references
 *	destroyed=0|1	whether the destroy callback ran
 *
 * The Linux kernel does not send FORGET at unmount, so after a kernel mount
 * `outstanding` is normally nonzero.  The root's implicit reference (which
 * the kernel never looked up) may be forgotten without counting as bad.
 *
 * With --store=FILE the tree also lives on disk, so that the filesystem
 * survives kill -9 and a restart (as a server does that its client sees
 * crash and come back):
 *  - At start, if FILE exists, memfs loads the whole tree from it: every
 *    inode with its number, mode, uid, gid, rdev, link count, times, size,
 *    preallocated size, file data, symlink target and xattrs, and every
 *    directory entry by name (in readdir order; readdir cookies restart).
 *    Inode numbers are kept, the root stays 1, and new inodes are numbered
 *    from the stored next id, which is above every id any earlier run
 *    handed out, so node ids never collide with ones a client may still
 *    hold.  No FILE: memfs starts empty and creates it at the first save.
 *    A FILE that cannot be read, is truncated or is inconsistent in any
 *    way makes memfs print "memfs: cannot load store FILE: why" and exit
 *    with status 1 before mounting (never an empty filesystem instead).
 *  - memfs saves the whole tree at every FSYNC and FSYNCDIR (of any file
 *    or directory; an fsync that cannot save answers EIO), at destroy and
 *    at exit, atomically: FILE.tmp is written and fsync'ed, renamed over
 *    FILE, and FILE's directory is fsync'ed.  Saving holds memfs's lock.
 *    So data written and then fsync'ed survive kill -9; what was written
 *    after the last save is lost.  Lookup counts, open handles and locks
 *    are not stored (a new process starts with none), nor are inodes
 *    without a name (unlinked but still open): they vanish, as on a crash.
 *    The report counts only the current process.
 *
 * Store format, version 1; integers little-endian (u32, u64; times are
 * an i64 of seconds and a u32 of nanoseconds):
 *	"MEMFS-STORE 1\n"			14 bytes
 *	u64 next_id  u64 ninodes  u64 nentries
 *	ninodes inode records:
 *	    u64 ino  u32 mode  u32 uid  u32 gid  u64 rdev  u64 nlink
 *	    atime  mtime  ctime  u64 size  u64 prealloc
 *	    u64 datalen  datalen bytes	(file data [0, datalen), bytes past
 *					 it up to size are zeros; symlink
 *					 target, datalen == size)
 *	    u32 nxattrs, each: u32 namelen  name  u32 valuelen  value
 *	nentries entry records:
 *	    u64 dir ino  u64 ino  u32 namelen  name
 *	u64 FNV-1a 64 hash of every byte before it; then the end of the file.
 * Loading checks every length against what is left of the file, the
 * hash, that nothing follows it, and that the tree is whole: unique
 * inode numbers below next_id, a root directory, names valid and unique
 * per directory, link counts equal to the entries found, every inode
 * named, every directory named once and under the root.
 *
 * Build:
 *	gcc -Wall -Wextra -Werror -Wshadow -std=gnu11 -D_GNU_SOURCE \
 *	    -o memfs memfs.c $(pkg-config --cflags --libs fuse3) -pthread
 *
 * memfs checks permissions itself (the kernel only does so with
 * -o default_permissions).  Blocking lock requests (F_SETLKW, flock
 * without LOCK_NB) really wait, until granted or interrupted.  File data
 * is one contiguous buffer per file: extending by truncate costs nothing,
 * but writing at offset N allocates N bytes.
 *
 * Not implemented: bmap, ioctl (ENOSYS), POSIX ACLs and system.* xattrs
 * (EOPNOTSUPP), deadlock detection for blocking locks (no EDEADLK), and
 * fallocate modes other than 0 and FALLOC_FL_KEEP_SIZE (EOPNOTSUPP).
 * SEEK_DATA/SEEK_HOLE treat the whole file as data.  See README.md.
 */

#define FUSE_USE_VERSION 34

#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef XATTR_NAME_MAX
#define XATTR_NAME_MAX	255
#endif
#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX	65536
#endif

#define TIMEOUT		1.0		/* attribute and entry validity (s) */
#define DIRENT_BYTES	20		/* st_size per directory entry, as tmpfs */
#define MAX_LINKS	65000		/* hard links per file (EMLINK) */
#define LOCK_EOF	INT64_MAX	/* end of a lock that runs to EOF */
#define FIRST_COOKIE	3		/* readdir offsets 1 and 2: "." and ".." */
#define FS_BLOCK	4096		/* statfs block size */

/* ------------------------------------------------------------------ */
/* Data structures                                                     */
/* ------------------------------------------------------------------ */

/* Intrusive hash-table link; must be the first member of its item. */
struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **b;
	size_t nb;		/* number of buckets, a power of two */
	size_t n;		/* number of items */
};

struct xattr {
	struct xattr *next;
	char *name;
	char *value;
	size_t size;
};

/* Byte range lock [start, end] of F_RDLCK or F_WRLCK (F_UNLCK in requests). */
struct rlock {
	struct rlock *next;
	uint64_t owner;
	int64_t start, end;
	int type;
	pid_t pid;
};

struct dentry;

/* A readdir position; d is NULL once its entry is gone. */
struct slot {
	uint64_t cookie;
	struct dentry *d;
};

struct inode {
	struct hnode h;		/* in memfs.inodes, hash = ino */
	fuse_ino_t ino;
	mode_t mode;
	nlink_t nlink;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	struct timespec atime, mtime, ctime;
	uint64_t nlookup;	/* references held by the kernel */
	unsigned nopen;		/* open file and directory handles */
	uint64_t blocks;	/* 512-byte blocks charged to this inode */
	off_t size;		/* regular files and symlinks */
	struct xattr *xattrs;

	/* Regular files: bytes [len, size) read as zeros and use no memory. */
	char *data;
	size_t len, cap;
	off_t prealloc;		/* end of the space fallocate reserved */
	struct rlock *plocks;	/* POSIX record locks */
	struct rlock *flocks;	/* BSD flock() locks */

	char *target;		/* symlinks */

	/* Directories: entries in cookie order, tombstones included. */
	fuse_ino_t parent;
	struct slot *slots;
	size_t nslots, slotcap, nentries;
	uint64_t next_cookie;
};

struct dentry {
	struct hnode h;		/* in memfs.dentries, hash of (dir, name) */
	struct inode *dir;
	struct inode *node;
	uint64_t cookie;
	size_t namelen;
	char name[];
};

/* A blocking lock request parked until the conflicting lock goes away. */
struct waiter {
	struct waiter *next;
	fuse_req_t req;
	struct inode *node;
	int is_flock;
	struct rlock want;
};

struct memfs {
	pthread_mutex_t mutex;		/* protects everything below */
	struct htab inodes;
	struct htab dentries;
	struct inode *root;
	fuse_ino_t next_ino;		/* node ids are never reused */
	uint64_t ninodes, max_inodes;
	uint64_t used_blocks, max_blocks;
	struct waiter *waiters;
	uint64_t lookups, forgets, bad_forgets;
	int destroyed;
	char *report;			/* set by option parsing */
	char *store;			/* likewise */
};

static struct memfs *fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fs_lock(struct memfs *m)
{
	pthread_mutex_lock(&m->mutex);
}

static void fs_unlock(struct memfs *m)
{
	pthread_mutex_unlock(&m->mutex);
}

static struct timespec now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ------------------------------------------------------------------ */
/* Hash tables                                                         */
/* ------------------------------------------------------------------ */

static int ht_init(struct htab *t, size_t nb)
{
	t->b = calloc(nb, sizeof(*t->b));
	t->nb = nb;
	t->n = 0;
	return t->b ? 0 : -1;
}

/* Double the buckets; if memory is short, live with longer chains. */
static void ht_grow(struct htab *t)
{
	size_t nb = t->nb * 2, i;
	struct hnode **b = calloc(nb, sizeof(*b));
	struct hnode *h, *next;

	if (!b)
		return;
	for (i = 0; i < t->nb; i++) {
		for (h = t->b[i]; h; h = next) {
			next = h->next;
			h->next = b[h->hash & (nb - 1)];
			b[h->hash & (nb - 1)] = h;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void ht_add(struct htab *t, struct hnode *h)
{
	size_t i;

	if (t->n >= t->nb)
		ht_grow(t);
	i = h->hash & (t->nb - 1);
	h->next = t->b[i];
	t->b[i] = h;
	t->n++;
}

static void ht_del(struct htab *t, struct hnode *h)
{
	struct hnode **p = &t->b[h->hash & (t->nb - 1)];

	while (*p != h)
		p = &(*p)->next;
	*p = h->next;
	t->n--;
}

static struct hnode *ht_first(const struct htab *t, uint64_t hash)
{
	return t->b[hash & (t->nb - 1)];
}

static uint64_t name_hash(fuse_ino_t dir, const char *name, size_t len)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ULL;
	}
	h ^= dir * 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 32);
}

/* ------------------------------------------------------------------ */
/* Inodes                                                              */
/* ------------------------------------------------------------------ */

static struct inode *get_inode(struct memfs *m, fuse_ino_t ino)
{
	struct hnode *h;

	for (h = ht_first(&m->inodes, ino); h; h = h->next)
		if (h->hash == ino)
			return (struct inode *)h;
	return NULL;
}

/*
 * Resolve a node id from a request.  The kernel holds a lookup reference
 * on every id it uses, so a miss means the kernel side used an id it had
 * already forgotten (or never got): say so loudly.
 */
static struct inode *use_inode(struct memfs *m, fuse_ino_t ino)
{
	struct inode *n = get_inode(m, ino);

	if (!n)
		fprintf(stderr, "memfs: request for unknown node id %" PRIu64
			"\n", (uint64_t)ino);
	return n;
}

/* A new inode numbered ino (the caller makes sure it is unused). */
static struct inode *insert_inode(struct memfs *m, fuse_ino_t ino,
				  mode_t mode, uid_t uid, gid_t gid)
{
	struct inode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->ino = ino;
	n->h.hash = n->ino;
	n->mode = mode;
	n->nlink = S_ISDIR(mode) ? 2 : 1;
	n->uid = uid;
	n->gid = gid;
	n->atime = n->mtime = n->ctime = now();
	n->parent = n->ino;
	n->next_cookie = FIRST_COOKIE;
	ht_add(&m->inodes, &n->h);
	m->ninodes++;
	return n;
}

static struct inode *alloc_inode(struct memfs *m, mode_t mode,
				 uid_t uid, gid_t gid)
{
	struct inode *n = insert_inode(m, m->next_ino, mode, uid, gid);

	if (n)
		m->next_ino++;
	return n;
}

static void free_list_rlock(struct rlock *l)
{
	struct rlock *next;

	for (; l; l = next) {
		next = l->next;
		free(l);
	}
}

static void free_inode_memory(struct inode *n)
{
	struct xattr *x, *next;

	for (x = n->xattrs; x; x = next) {
		next = x->next;
		free(x->name);
		free(x->value);
		free(x);
	}
	free_list_rlock(n->plocks);
	free_list_rlock(n->flocks);
	free(n->data);
	free(n->target);
	free(n->slots);
	free(n);
}

static void free_inode(struct memfs *m, struct inode *n)
{
	ht_del(&m->inodes, &n->h);
	m->ninodes--;
	m->used_blocks -= n->blocks;
	free_inode_memory(n);
}

static int has_waiters(const struct memfs *m, const struct inode *n)
{
	const struct waiter *w;

	for (w = m->waiters; w; w = w->next)
		if (w->node == n)
			return 1;
	return 0;
}

/* Free n once nothing can reach it any more: no link, reference or handle. */
static void maybe_free(struct memfs *m, struct inode *n)
{
	if (n == m->root || n->nlink || n->nlookup || n->nopen ||
	    has_waiters(m, n))
		return;
	free_inode(m, n);
}

static off_t node_size(const struct inode *n)
{
	if (S_ISDIR(n->mode))
		return (off_t)(n->nentries + 2) * DIRENT_BYTES;
	if (S_ISREG(n->mode) || S_ISLNK(n->mode))
		return n->size;
	return 0;
}

static void fill_stat(const struct inode *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_size = node_size(n);
	st->st_blksize = FS_BLOCK;
	st->st_blocks = n->blocks;
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

static void touch_dir(struct inode *dir, struct timespec t)
{
	dir->mtime = dir->ctime = t;
}

/* One directory entry for n went away; a directory loses its "." too. */
static void drop_link(struct inode *n, struct timespec t)
{
	if (S_ISDIR(n->mode))
		n->nlink = 0;
	else
		n->nlink--;
	n->ctime = t;
}

/* ------------------------------------------------------------------ */
/* Lookup accounting                                                   */
/* ------------------------------------------------------------------ */

static void entry_param(const struct inode *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;	/* node ids are never reused */
	fill_stat(n, &e->attr);
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
}

/* Count the reference a reply is about to hand to the kernel. */
static void grant_ref(struct memfs *m, struct inode *n)
{
	n->nlookup++;
	m->lookups++;
}

static void grant_entry(struct memfs *m, struct inode *n,
			struct fuse_entry_param *e)
{
	entry_param(n, e);
	grant_ref(m, n);
}

/*
 * Take back what a reply failed to deliver: `refs` lookup references and
 * `opens` handles.  A reply fails e.g. when the request was interrupted,
 * and then the kernel never learns about them.  Called unlocked.
 */
static void take_back(struct memfs *m, fuse_ino_t ino, uint64_t refs,
		   unsigned opens)
{
	struct inode *n;

	fs_lock(m);
	n = get_inode(m, ino);
	if (n) {
		n->nlookup -= refs;
		m->lookups -= refs;
		n->nopen -= opens;
		maybe_free(m, n);
	}
	fs_unlock(m);
}

static void send_entry(fuse_req_t req, struct memfs *m,
		       const struct fuse_entry_param *e)
{
	if (fuse_reply_entry(req, e) != 0)
		take_back(m, e->ino, 1, 0);
}

static void forget_one(struct memfs *m, fuse_ino_t ino, uint64_t nlookup)
{
	struct inode *n = get_inode(m, ino);

	if (!n) {
		m->bad_forgets++;
		fprintf(stderr, "memfs: forget(%" PRIu64 ", %" PRIu64
			") for unknown node id\n", (uint64_t)ino, nlookup);
		return;
	}
	if (nlookup > n->nlookup) {
		/* The root's implicit reference is the kernel's to drop. */
		if (n != m->root) {
			m->bad_forgets++;
			fprintf(stderr, "memfs: forget(%" PRIu64 ", %" PRIu64
				") but only %" PRIu64 " references held\n",
				(uint64_t)ino, nlookup, n->nlookup);
		}
		nlookup = n->nlookup;
	}
	n->nlookup -= nlookup;
	m->forgets += nlookup;
	maybe_free(m, n);
}

/* ------------------------------------------------------------------ */
/* Permissions                                                         */
/* ------------------------------------------------------------------ */

/*
 * Is the caller in group gid?  Supplementary groups come from /proc via
 * libfuse and may be unavailable (e.g. over perfuse, or when the caller's
 * pid is not in our namespace); then only the primary group counts.
 */
static int in_group(fuse_req_t req, gid_t gid)
{
	gid_t small[32], *list = small;
	int n, i, found = 0, cap = 32;

	if (fuse_req_ctx(req)->gid == gid)
		return 1;
	n = fuse_req_getgroups(req, cap, small);
	if (n > cap) {
		list = malloc(n * sizeof(*list));
		if (!list)
			return 0;
		cap = n;
		n = fuse_req_getgroups(req, cap, list);
	}
	for (i = 0; i < n && i < cap; i++)
		if (list[i] == gid)
			found = 1;
	if (list != small)
		free(list);
	return found;
}

/* Check R_OK/W_OK/X_OK bits against n's mode; root passes except for
 * executing a file that has no x bit at all. */
static int may(fuse_req_t req, const struct inode *n, int mask)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	mode_t bits;

	if (uid == 0) {
		if ((mask & X_OK) && !S_ISDIR(n->mode) && !(n->mode & 0111))
			return EACCES;
		return 0;
	}
	if (uid == n->uid)
		bits = n->mode >> 6;
	else if (in_group(req, n->gid))
		bits = n->mode >> 3;
	else
		bits = n->mode;
	return ((int)(bits & 7) & mask) == mask ? 0 : EACCES;
}

static int is_owner(fuse_req_t req, const struct inode *n)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	return uid == 0 || uid == n->uid;
}

/* In a sticky directory only root or the owner of the entry or of the
 * directory may remove or rename an entry. */
static int sticky(fuse_req_t req, const struct inode *dir,
		  const struct inode *n)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	if (!(dir->mode & S_ISVTX) || uid == 0 || uid == dir->uid ||
	    uid == n->uid)
		return 0;
	return EPERM;
}

/* Resolve a directory node id and check that the caller may search it. */
static int get_dir(fuse_req_t req, struct memfs *m, fuse_ino_t ino,
		   struct inode **out)
{
	struct inode *dir = use_inode(m, ino);

	if (!dir)
		return ESTALE;
	if (!S_ISDIR(dir->mode))
		return ENOTDIR;
	*out = dir;
	return may(req, dir, X_OK);
}

/* May the caller add or remove entries in dir (which must still exist)? */
static int may_modify(fuse_req_t req, const struct inode *dir)
{
	if (dir->nlink == 0)
		return ENOENT;
	return may(req, dir, W_OK | X_OK);
}

/* ------------------------------------------------------------------ */
/* Directory entries                                                   */
/* ------------------------------------------------------------------ */

static int is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

static int check_name(const char *name)
{
	size_t len = strnlen(name, NAME_MAX + 1);

	if (len == 0)
		return ENOENT;
	if (len > NAME_MAX)
		return ENAMETOOLONG;
	if (strchr(name, '/'))
		return EINVAL;
	return 0;
}

static struct dentry *find_dentry(struct memfs *m, const struct inode *dir,
				  const char *name)
{
	size_t len = strlen(name);
	uint64_t hash = name_hash(dir->ino, name, len);
	struct hnode *h;

	for (h = ht_first(&m->dentries, hash); h; h = h->next) {
		struct dentry *d = (struct dentry *)h;

		if (h->hash == hash && d->dir == dir && d->namelen == len &&
		    !memcmp(d->name, name, len))
			return d;
	}
	return NULL;
}

/* May name be created in dir?  "." and ".." always exist. */
static int check_new_name(struct memfs *m, const struct inode *dir,
			  const char *name)
{
	int err;

	if (is_dot(name))
		return EEXIST;
	err = check_name(name);
	if (err)
		return err;
	return find_dentry(m, dir, name) ? EEXIST : 0;
}

/* Index of the first slot whose cookie is greater than off. */
static size_t slot_seek(const struct inode *dir, uint64_t off)
{
	size_t lo = 0, hi = dir->nslots;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dir->slots[mid].cookie <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Squeeze out tombstones; cookies stay, so readdir offsets stay valid. */
static void slots_compact(struct inode *dir)
{
	size_t i, j = 0;

	for (i = 0; i < dir->nslots; i++)
		if (dir->slots[i].d)
			dir->slots[j++] = dir->slots[i];
	dir->nslots = j;
}

/* Make room for one more slot, so that inserting cannot fail. */
static int slots_reserve(struct inode *dir)
{
	size_t cap;
	struct slot *s;

	if (dir->nslots < dir->slotcap)
		return 0;
	slots_compact(dir);
	if (dir->nslots < dir->slotcap)
		return 0;
	cap = dir->slotcap ? dir->slotcap * 2 : 8;
	s = realloc(dir->slots, cap * sizeof(*s));
	if (!s)
		return ENOMEM;
	dir->slots = s;
	dir->slotcap = cap;
	return 0;
}

static void slots_remove(struct inode *dir, const struct dentry *d)
{
	size_t i = slot_seek(dir, d->cookie - 1);
	size_t dead;

	dir->slots[i].d = NULL;
	dir->nentries--;
	dead = dir->nslots - dir->nentries;
	if (dead > 16 && dead > dir->nentries)
		slots_compact(dir);
}

static struct dentry *dentry_new(const char *name)
{
	size_t len = strlen(name);
	struct dentry *d = malloc(sizeof(*d) + len + 1);

	if (d) {
		memcpy(d->name, name, len + 1);
		d->namelen = len;
	}
	return d;
}

/* Insert d (a slot must be reserved) naming node in dir.  New entries go
 * last with a fresh cookie, so readdir never sees a cookie go backwards. */
static void dentry_insert(struct memfs *m, struct inode *dir,
			  struct dentry *d, struct inode *node)
{
	d->dir = dir;
	d->node = node;
	d->cookie = dir->next_cookie++;
	d->h.hash = name_hash(dir->ino, d->name, d->namelen);
	dir->slots[dir->nslots].cookie = d->cookie;
	dir->slots[dir->nslots].d = d;
	dir->nslots++;
	dir->nentries++;
	ht_add(&m->dentries, &d->h);
	if (S_ISDIR(node->mode)) {	/* the child's ".." */
		dir->nlink++;
		node->parent = dir->ino;
	}
}

/* Add an entry; the caller adjusts node->nlink. */
static int link_entry(struct memfs *m, struct inode *dir, const char *name,
		      struct inode *node)
{
	struct dentry *d = dentry_new(name);

	if (!d || slots_reserve(dir)) {
		free(d);
		return ENOMEM;
	}
	dentry_insert(m, dir, d, node);
	return 0;
}

/* Remove an entry; the caller adjusts d->node->nlink. */
static void unlink_entry(struct memfs *m, struct dentry *d)
{
	ht_del(&m->dentries, &d->h);
	slots_remove(d->dir, d);
	if (S_ISDIR(d->node->mode))
		d->dir->nlink--;
	free(d);
}

/* ------------------------------------------------------------------ */
/* File data                                                           */
/* ------------------------------------------------------------------ */

static uint64_t blocks_for(uint64_t bytes)
{
	return (bytes + 511) / 512;
}

/* Would charging n for `bytes` bytes of storage fit in the filesystem? */
static int can_charge(const struct memfs *m, const struct inode *n,
		      uint64_t bytes)
{
	uint64_t want = blocks_for(bytes);

	return want <= n->blocks ||
	       want - n->blocks <= m->max_blocks - m->used_blocks;
}

/* Recompute n's blocks after len or prealloc changed. */
static void charge(struct memfs *m, struct inode *n)
{
	uint64_t b = blocks_for(max_u64(n->len, (uint64_t)n->prealloc));

	m->used_blocks = m->used_blocks - n->blocks + b;
	n->blocks = b;
}

/* Make bytes [0, end) of n->data addressable, zero-filling new bytes. */
static int grow_data(struct memfs *m, struct inode *n, uint64_t end)
{
	size_t cap;
	char *p;

	if (end <= n->len)
		return 0;
	if (end > SIZE_MAX / 2)
		return EFBIG;
	if (!can_charge(m, n, max_u64(end, (uint64_t)n->prealloc)))
		return ENOSPC;
	if (end > n->cap) {
		cap = (size_t)max_u64(end, n->cap + n->cap / 2);
		p = realloc(n->data, cap);
		if (!p)
			return ENOMEM;
		n->data = p;
		n->cap = cap;
	}
	memset(n->data + n->len, 0, end - n->len);
	n->len = end;
	charge(m, n);
	return 0;
}

/* Give memory back after a large shrink. */
static void shrink_data(struct inode *n)
{
	char *p;

	if (n->len == 0) {
		free(n->data);
		n->data = NULL;
		n->cap = 0;
	} else if (n->cap > 65536 && n->cap / 2 > n->len) {
		p = realloc(n->data, n->len);
		if (p) {
			n->data = p;
			n->cap = n->len;
		}
	}
}

/* Truncate or extend; extending costs nothing until written. */
static void set_size(struct memfs *m, struct inode *n, off_t size)
{
	if ((uint64_t)size < n->len) {
		n->len = size;
		shrink_data(n);
	}
	if (n->prealloc > size)
		n->prealloc = size;
	n->size = size;
	charge(m, n);
}

/* Copy bytes [off, off + c) of n (within n->size) to buf. */
static void copy_out(const struct inode *n, uint64_t off, size_t c, char *buf)
{
	size_t have = off < n->len ? (size_t)min_u64(c, n->len - off) : 0;

	if (have)
		memcpy(buf, n->data + off, have);
	memset(buf + have, 0, c - have);
}

static int write_data(struct memfs *m, struct inode *n, const char *buf,
		      size_t size, off_t off)
{
	uint64_t end;
	int err;

	if (off < 0)
		return EINVAL;
	if (size == 0)
		return 0;
	if ((uint64_t)off > (uint64_t)INT64_MAX - size)
		return EFBIG;
	end = (uint64_t)off + size;
	err = grow_data(m, n, end);
	if (err)
		return err;
	memcpy(n->data + off, buf, size);
	if ((off_t)end > n->size)
		n->size = end;
	n->mtime = n->ctime = now();
	return 0;
}

/*
 * Checks shared by read-like and write-like operations: n must be a
 * regular file and the handle must not have been opened with access mode
 * `bad` (O_WRONLY for reads, O_RDONLY for writes).  fi->fh holds the open
 * flags (see open_node).
 */
static int check_io(const struct inode *n, const struct fuse_file_info *fi,
		    int bad)
{
	if (!n)
		return ESTALE;
	if (S_ISDIR(n->mode))
		return EISDIR;
	if (!S_ISREG(n->mode))
		return EINVAL;
	if (fi && (int)(fi->fh & O_ACCMODE) == bad)
		return EBADF;
	return 0;
}

/* ------------------------------------------------------------------ */
/* init, destroy, report                                               */
/* ------------------------------------------------------------------ */

static void write_report(struct memfs *m)
{
	uint64_t outstanding = 0, lookups, forgets, bad;
	int destroyed, ok;
	struct hnode *h;
	char *tmp;
	FILE *f;
	size_t i;

	if (!m->report)
		return;
	fs_lock(m);
	for (i = 0; i < m->inodes.nb; i++)
		for (h = m->inodes.b[i]; h; h = h->next)
			if ((struct inode *)h != m->root)
				outstanding += ((struct inode *)h)->nlookup;
	lookups = m->lookups;
	forgets = m->forgets;
	bad = m->bad_forgets;
	destroyed = m->destroyed;
	fs_unlock(m);

	if (asprintf(&tmp, "%s.tmp", m->report) < 0)
		return;
	f = fopen(tmp, "w");
	ok = f && fprintf(f, "lookups=%" PRIu64 "\nforgets=%" PRIu64
			  "\noutstanding=%" PRIu64 "\nbad_forgets=%" PRIu64
			  "\ndestroyed=%d\n", lookups, forgets, outstanding,
			  bad, destroyed) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, m->report) != 0)
		fprintf(stderr, "memfs: cannot write report %s: %s\n",
			m->report, strerror(errno));
	free(tmp);
}

/* ------------------------------------------------------------------ */
/* The store (--store=FILE): the whole tree on disk                    */
/* ------------------------------------------------------------------ */

/*
 * The format is described at the top of this file.  Saving and loading
 * both run with the lock held (loading runs before the session exists).
 */

static int set_xattr(struct inode *n, const char *name, const char *value,
		     size_t size, int flags);

#define STORE_MAGIC	"MEMFS-STORE 1\n"
#define STORE_MAGIC_LEN	(sizeof(STORE_MAGIC) - 1)
#define FNV_BASIS	14695981039346656037ULL
#define FNV_PRIME	1099511628211ULL

static uint64_t fnv_add(uint64_t h, const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* Buffered output to FILE.tmp; the first error sticks in err. */
struct wbuf {
	int fd;
	int err;
	uint64_t sum;		/* FNV-1a of every byte put so far */
	size_t n;
	unsigned char b[65536];
};

static void w_flush(struct wbuf *w)
{
	size_t off = 0;
	ssize_t r;

	while (!w->err && off < w->n) {
		r = write(w->fd, w->b + off, w->n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			w->err = r < 0 ? errno : EIO;
		else
			off += r;
	}
	w->n = 0;
}

static void w_raw(struct wbuf *w, const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t c;

	while (len > 0 && !w->err) {
		if (w->n == sizeof(w->b))
			w_flush(w);
		c = (size_t)min_u64(len, sizeof(w->b) - w->n);
		memcpy(w->b + w->n, s, c);
		w->n += c;
		s += c;
		len -= c;
	}
}

static void w_bytes(struct wbuf *w, const void *p, size_t len)
{
	w->sum = fnv_add(w->sum, p, len);
	w_raw(w, p, len);
}

static void w_u64(struct wbuf *w, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	w_bytes(w, b, 8);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
	unsigned char b[4];
	int i;

	for (i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	w_bytes(w, b, 4);
}

static void w_time(struct wbuf *w, struct timespec t)
{
	w_u64(w, (uint64_t)(int64_t)t.tv_sec);
	w_u32(w, (uint32_t)t.tv_nsec);
}

/* Saved inodes: the root and everything that still has a name. */
static int saved(const struct memfs *m, const struct inode *n)
{
	return n == m->root || n->nlink > 0;
}

static void w_inode(struct wbuf *w, const struct inode *n)
{
	const struct xattr *x;
	uint64_t datalen = 0;
	uint32_t nx = 0;

	if (S_ISREG(n->mode))
		datalen = min_u64(n->len, (uint64_t)n->size);
	else if (S_ISLNK(n->mode))
		datalen = (uint64_t)n->size;
	w_u64(w, n->ino);
	w_u32(w, n->mode);
	w_u32(w, n->uid);
	w_u32(w, n->gid);
	w_u64(w, n->rdev);
	w_u64(w, n->nlink);
	w_time(w, n->atime);
	w_time(w, n->mtime);
	w_time(w, n->ctime);
	w_u64(w, S_ISREG(n->mode) || S_ISLNK(n->mode) ? (uint64_t)n->size : 0);
	w_u64(w, S_ISREG(n->mode) ? (uint64_t)n->prealloc : 0);
	w_u64(w, datalen);
	if (datalen)
		w_bytes(w, S_ISREG(n->mode) ? n->data : n->target, datalen);
	for (x = n->xattrs; x; x = x->next)
		nx++;
	w_u32(w, nx);
	for (x = n->xattrs; x; x = x->next) {
		w_u32(w, (uint32_t)strlen(x->name));
		w_bytes(w, x->name, strlen(x->name));
		w_u32(w, (uint32_t)x->size);
		w_bytes(w, x->value, x->size);
	}
}

/* Write the whole tree to w (the lock is held). */
static void w_tree(struct memfs *m, struct wbuf *w)
{
	uint64_t ninodes = 0, nentries = 0;
	struct inode *n;
	struct hnode *h;
	size_t i, j;

	for (i = 0; i < m->inodes.nb; i++)
		for (h = m->inodes.b[i]; h; h = h->next) {
			n = (struct inode *)h;
			if (!saved(m, n))
				continue;
			ninodes++;
			if (S_ISDIR(n->mode))
				nentries += n->nentries;
		}
	w_bytes(w, STORE_MAGIC, STORE_MAGIC_LEN);
	w_u64(w, m->next_ino);
	w_u64(w, ninodes);
	w_u64(w, nentries);
	for (i = 0; i < m->inodes.nb; i++)
		for (h = m->inodes.b[i]; h; h = h->next)
			if (saved(m, (struct inode *)h))
				w_inode(w, (struct inode *)h);
	/* Entries, each directory's in readdir order.  A directory with
	 * entries always has a name, so it was saved above. */
	for (i = 0; i < m->inodes.nb; i++)
		for (h = m->inodes.b[i]; h; h = h->next) {
			n = (struct inode *)h;
			if (!saved(m, n) || !S_ISDIR(n->mode))
				continue;
			for (j = 0; j < n->nslots; j++) {
				const struct dentry *d = n->slots[j].d;

				if (!d)
					continue;
				w_u64(w, n->ino);
				w_u64(w, d->node->ino);
				w_u32(w, (uint32_t)d->namelen);
				w_bytes(w, d->name, d->namelen);
			}
		}
	w_u64(w, w->sum);	/* the trailer is not part of its own sum */
}

/* fsync the directory holding path (an absolute path). */
static int sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, err = 0;

	dir = slash == path ? strdup("/") : strndup(path, slash - path);
	if (!dir)
		return ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return err;
}

/*
 * Save the tree to m->store atomically: FILE.tmp, fsync, rename over FILE,
 * fsync of the directory.  The lock must be held.  0 or an errno value
 * (already logged).
 */
static int save_store_locked(struct memfs *m)
{
	struct wbuf *w;
	char *tmp = NULL;
	int err = 0;

	if (!m->store)
		return 0;
	w = malloc(sizeof(*w));
	if (!w || asprintf(&tmp, "%s.tmp", m->store) < 0) {
		free(w);
		fprintf(stderr, "memfs: cannot save store %s: %s\n", m->store,
			strerror(ENOMEM));
		return ENOMEM;
	}
	w->err = 0;
	w->n = 0;
	w->sum = FNV_BASIS;
	w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		err = errno;
	} else {
		w_tree(m, w);
		w_flush(w);
		err = w->err;
		if (!err && fsync(w->fd) != 0)
			err = errno;
		if (close(w->fd) != 0 && !err)
			err = errno;
		if (!err && rename(tmp, m->store) != 0)
			err = errno;
		if (err)
			unlink(tmp);
	}
	if (!err)
		err = sync_parent(m->store);
	if (err)
		fprintf(stderr, "memfs: cannot save store %s: %s\n", m->store,
			strerror(err));
	free(tmp);
	free(w);
	return err;
}

static int save_store(struct memfs *m)
{
	int err;

	fs_lock(m);
	err = save_store_locked(m);
	fs_unlock(m);
	return err;
}

/* Input from the store; the first problem found is kept in msg. */
struct rbuf {
	FILE *f;
	uint64_t pos, size;	/* bytes read so far, size of the file */
	uint64_t sum;		/* FNV-1a of the bytes read so far */
	char msg[256];
};

static int r_fail(struct rbuf *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int r_fail(struct rbuf *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->msg[0]) {
		va_start(ap, fmt);
		vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int r_bytes(struct rbuf *r, void *p, uint64_t len)
{
	if (len > r->size - r->pos)
		return r_fail(r, "truncated or corrupt: %" PRIu64 " bytes "
			      "wanted at offset %" PRIu64 ", only %" PRIu64
			      " left", len, r->pos, r->size - r->pos);
	if (len && fread(p, 1, len, r->f) != len)
		return r_fail(r, "read error at offset %" PRIu64 ": %s",
			      r->pos, ferror(r->f) ? strerror(errno) :
			      "unexpected end of file");
	r->sum = fnv_add(r->sum, p, len);
	r->pos += len;
	return 0;
}

static int r_u64(struct rbuf *r, uint64_t *v)
{
	unsigned char b[8];
	int i;

	if (r_bytes(r, b, 8))
		return -1;
	*v = 0;
	for (i = 7; i >= 0; i--)
		*v = *v << 8 | b[i];
	return 0;
}

static int r_u32(struct rbuf *r, uint32_t *v)
{
	unsigned char b[4];
	int i;

	if (r_bytes(r, b, 4))
		return -1;
	*v = 0;
	for (i = 3; i >= 0; i--)
		*v = *v << 8 | b[i];
	return 0;
}

static int r_time(struct rbuf *r, struct timespec *t)
{
	uint64_t sec;
	uint32_t nsec;

	if (r_u64(r, &sec) || r_u32(r, &nsec))
		return -1;
	if (nsec >= 1000000000)
		return r_fail(r, "corrupt: nanoseconds %" PRIu32 " at offset "
			      "%" PRIu64, nsec, r->pos - 4);
	t->tv_sec = (time_t)(int64_t)sec;
	t->tv_nsec = nsec;
	return 0;
}

/* A length-prefixed name of 1..max bytes without NUL, into buf[max + 1]. */
static int r_name(struct rbuf *r, char *buf, uint32_t max, const char *what)
{
	uint32_t len;

	if (r_u32(r, &len))
		return -1;
	if (len == 0 || len > max)
		return r_fail(r, "corrupt: %s of length %" PRIu32 " at offset "
			      "%" PRIu64, what, len, r->pos - 4);
	if (r_bytes(r, buf, len))
		return -1;
	buf[len] = '\0';
	if (strlen(buf) != len)
		return r_fail(r, "corrupt: %s with a NUL byte at offset %"
			      PRIu64, what, r->pos - len);
	return 0;
}

static int valid_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return !(mode & ~(S_IFMT | 07777));
	}
	return 0;
}

/*
 * One inode record.  Its stored link count goes to nlookup for now (no
 * reference exists during the load) and nlink is recounted from the
 * entries; load_check() compares the two.
 */
static int r_inode(struct memfs *m, struct rbuf *r, uint64_t next_ino)
{
	char name[XATTR_NAME_MAX + 1];
	uint64_t ino, rdev, nlink, size, prealloc, datalen;
	struct timespec at, mt, ct;
	uint32_t mode, uid, gid, nx, vlen, i;
	uint64_t at_off = r->pos;
	struct inode *n;
	char *value;
	int err;

	if (r_u64(r, &ino) || r_u32(r, &mode) || r_u32(r, &uid) ||
	    r_u32(r, &gid) || r_u64(r, &rdev) || r_u64(r, &nlink) ||
	    r_time(r, &at) || r_time(r, &mt) || r_time(r, &ct) ||
	    r_u64(r, &size) || r_u64(r, &prealloc) || r_u64(r, &datalen))
		return -1;
	if (ino == 0 || ino >= next_ino)
		return r_fail(r, "corrupt: inode %" PRIu64 " (offset %" PRIu64
			      ") not below the next id %" PRIu64, ino, at_off,
			      next_ino);
	if (!valid_type(mode))
		return r_fail(r, "corrupt: inode %" PRIu64 " has mode 0%" PRIo32,
			      ino, mode);
	if (ino == FUSE_ROOT_ID ? !S_ISDIR(mode) || m->root->nlookup :
	    get_inode(m, ino) != NULL)
		return r_fail(r, "corrupt: inode %" PRIu64 " twice, or a root "
			      "that is not a directory", ino);
	if (size > INT64_MAX || prealloc > INT64_MAX ||
	    (S_ISREG(mode) && datalen > size) ||
	    (S_ISLNK(mode) && (datalen != size || size == 0 ||
			       size > PATH_MAX)) ||
	    (!S_ISREG(mode) && (prealloc || (!S_ISLNK(mode) && size))) ||
	    nlink == 0 || nlink > UINT32_MAX)
		return r_fail(r, "corrupt: inode %" PRIu64 " (offset %" PRIu64
			      ") has size %" PRIu64 ", %" PRIu64 " bytes of "
			      "data, links %" PRIu64, ino, at_off, size,
			      datalen, nlink);
	if (datalen > r->size - r->pos)
		return r_fail(r, "truncated or corrupt: inode %" PRIu64 " has "
			      "%" PRIu64 " bytes of data at offset %" PRIu64
			      ", only %" PRIu64 " left", ino, datalen, r->pos,
			      r->size - r->pos);
	if (ino == FUSE_ROOT_ID) {
		n = m->root;
		n->mode = mode;
		n->uid = uid;
		n->gid = gid;
	} else {
		if (m->ninodes >= m->max_inodes)
			return r_fail(r, "more inodes than this machine allows "
				      "(%" PRIu64 ")", m->max_inodes);
		n = insert_inode(m, ino, mode, uid, gid);
		if (!n)
			return r_fail(r, "out of memory");
	}
	n->rdev = rdev;
	n->nlink = S_ISDIR(mode) ? 2 : 0;	/* recounted from entries */
	n->nlookup = nlink;			/* checked in load_check() */
	if (S_ISREG(mode)) {
		if (datalen > SIZE_MAX / 2 || !can_charge(m, n, max_u64(datalen,
								 prealloc)))
			return r_fail(r, "inode %" PRIu64 ": %" PRIu64 " bytes "
				      "do not fit in memory here", ino,
				      max_u64(datalen, prealloc));
		if (datalen) {
			n->data = malloc(datalen);
			if (!n->data)
				return r_fail(r, "out of memory");
			n->len = n->cap = datalen;
			if (r_bytes(r, n->data, datalen))
				return -1;
		}
		n->size = size;
		n->prealloc = prealloc;
		charge(m, n);
	} else if (S_ISLNK(mode)) {
		n->target = malloc(size + 1);
		if (!n->target)
			return r_fail(r, "out of memory");
		if (r_bytes(r, n->target, size))
			return -1;
		n->target[size] = '\0';
		if (strlen(n->target) != size)
			return r_fail(r, "corrupt: symlink %" PRIu64 " has a NUL "
				      "byte", ino);
		n->size = size;
	}
	if (r_u32(r, &nx))
		return -1;
	for (i = 0; i < nx; i++) {
		if (r_name(r, name, XATTR_NAME_MAX, "xattr name") ||
		    r_u32(r, &vlen))
			return -1;
		if (vlen > XATTR_SIZE_MAX)
			return r_fail(r, "corrupt: xattr value of %" PRIu32
				      " bytes at offset %" PRIu64, vlen,
				      r->pos - 4);
		value = malloc(vlen ? vlen : 1);
		if (!value)
			return r_fail(r, "out of memory");
		if (r_bytes(r, value, vlen)) {
			free(value);
			return -1;
		}
		err = set_xattr(n, name, value, vlen, XATTR_CREATE);
		free(value);
		if (err)
			return r_fail(r, "%s: xattr %s of inode %" PRIu64,
				      err == EEXIST ? "corrupt: duplicate" :
				      strerror(err), name, ino);
	}
	n->atime = at;
	n->mtime = mt;
	n->ctime = ct;
	return 0;
}

static int r_entry(struct memfs *m, struct rbuf *r)
{
	char name[NAME_MAX + 1];
	uint64_t dino, nino;
	struct inode *dir, *node;

	if (r_u64(r, &dino) || r_u64(r, &nino) ||
	    r_name(r, name, NAME_MAX, "entry name"))
		return -1;
	dir = get_inode(m, dino);
	node = get_inode(m, nino);
	if (!dir || !S_ISDIR(dir->mode) || !node || node == m->root ||
	    is_dot(name) || strchr(name, '/'))
		return r_fail(r, "corrupt: entry \"%s\" in %" PRIu64 " for %"
			      PRIu64 " (offset %" PRIu64 ")", name, dino,
			      nino, r->pos);
	if (find_dentry(m, dir, name))
		return r_fail(r, "corrupt: \"%s\" twice in directory %" PRIu64,
			      name, dino);
	if (S_ISDIR(node->mode) && node->parent != node->ino)
		return r_fail(r, "corrupt: directory %" PRIu64 " has two "
			      "names", nino);
	if (link_entry(m, dir, name, node))
		return r_fail(r, "out of memory");
	if (!S_ISDIR(node->mode))
		node->nlink++;
	return 0;
}

/* The tree is whole: link counts agree, every directory hangs from the
 * root, every inode has a name. */
static int load_check(struct memfs *m, struct rbuf *r)
{
	struct inode *n, *p;
	struct hnode *h;
	uint64_t steps;
	size_t i;

	for (i = 0; i < m->inodes.nb; i++)
		for (h = m->inodes.b[i]; h; h = h->next) {
			n = (struct inode *)h;
			if (n->nlink != n->nlookup)
				return r_fail(r, "corrupt: inode %" PRIu64
					      " has %" PRIu64 " links stored "
					      "but %" PRIu64 " found", n->ino,
					      n->nlookup, (uint64_t)n->nlink);
			n->nlookup = 0;
			if (n == m->root || !S_ISDIR(n->mode))
				continue;	/* nlink > 0: it has a name */
			for (p = n, steps = 0; p != m->root;
			     p = get_inode(m, p->parent), steps++)
				if (p->parent == p->ino || steps > m->ninodes)
					return r_fail(r, "corrupt: directory %"
						      PRIu64 " is not under "
						      "the root", n->ino);
		}
	return 0;
}

static int load_tree(struct memfs *m, struct rbuf *r)
{
	char magic[STORE_MAGIC_LEN];
	uint64_t next_ino, ninodes, nentries, i, sum, trailer;

	if (r->size < sizeof(magic) || r_bytes(r, magic, sizeof(magic)) ||
	    memcmp(magic, STORE_MAGIC, sizeof(magic)))
		return r_fail(r, "%s", r->size >= sizeof(magic) &&
			      !memcmp(magic, STORE_MAGIC, 12) ?
			      "a memfs store of another version (this is "
			      "version 1)" : "not a memfs store (its first "
			      "line is not \"MEMFS-STORE 1\")");
	if (r_u64(r, &next_ino) || r_u64(r, &ninodes) || r_u64(r, &nentries))
		return -1;
	if (next_ino <= FUSE_ROOT_ID || ninodes == 0 || ninodes >= next_ino)
		return r_fail(r, "corrupt header: next id %" PRIu64 ", %"
			      PRIu64 " inodes", next_ino, ninodes);
	for (i = 0; i < ninodes; i++)
		if (r_inode(m, r, next_ino))
			return -1;
	if (m->root->nlookup == 0)
		return r_fail(r, "corrupt: no root directory (inode 1)");
	for (i = 0; i < nentries; i++)
		if (r_entry(m, r))
			return -1;
	sum = r->sum;
	if (r_u64(r, &trailer))
		return -1;
	if (trailer != sum)
		return r_fail(r, "corrupt: checksum %016" PRIx64 " stored, %016"
			      PRIx64 " computed", trailer, sum);
	if (r->pos != r->size)
		return r_fail(r, "corrupt: %" PRIu64 " bytes of garbage after "
			      "the end", r->size - r->pos);
	if (load_check(m, r))
		return -1;
	m->next_ino = next_ino;
	return 0;
}

/*
 * At start: load m->store if it exists (into the fresh tree of
 * memfs_setup).  -1 after printing why the store cannot be used.
 */
static int load_store(struct memfs *m)
{
	struct rbuf r;
	struct stat st;
	int ret;

	if (!m->store)
		return 0;
	memset(&r, 0, sizeof(r));
	r.f = fopen(m->store, "re");
	if (!r.f) {
		if (errno == ENOENT)
			return 0;	/* a new store: created at first save */
		fprintf(stderr, "memfs: cannot open store %s: %s\n", m->store,
			strerror(errno));
		return -1;
	}
	if (fstat(fileno(r.f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "memfs: store %s: not a regular file\n",
			m->store);
		fclose(r.f);
		return -1;
	}
	r.size = st.st_size;
	r.sum = FNV_BASIS;
	fs_lock(m);
	ret = load_tree(m, &r);
	fs_unlock(m);
	fclose(r.f);
	if (ret)
		fprintf(stderr, "memfs: cannot load store %s: %s\n", m->store,
			r.msg);
	return ret;
}

static void mf_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/*
	 * DONT_MASK: the kernel leaves the umask to us (ctx->umask), which
	 * mknod, mkdir and create apply.  ATOMIC_O_TRUNC: open sees O_TRUNC.
	 * EXPORT_SUPPORT: lookup of "." and ".." works.
	 */
	conn->want |= conn->capable & (FUSE_CAP_DONT_MASK |
				       FUSE_CAP_ATOMIC_O_TRUNC |
				       FUSE_CAP_EXPORT_SUPPORT);
}

static void mf_destroy(void *userdata)
{
	struct memfs *m = userdata;
	struct waiter *w, *next;

	fs_lock(m);
	m->destroyed = 1;
	w = m->waiters;
	m->waiters = NULL;
	fs_unlock(m);
	for (; w; w = next) {	/* nobody will unlock for them now */
		next = w->next;
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
	save_store(m);
	write_report(m);
}

/* ------------------------------------------------------------------ */
/* lookup, forget, getattr, setattr, readlink, access                  */
/* ------------------------------------------------------------------ */

static int resolve(struct memfs *m, struct inode *dir, const char *name,
		   struct inode **out)
{
	struct dentry *d;
	int err;

	if (!strcmp(name, ".")) {
		*out = dir;
		return 0;
	}
	if (!strcmp(name, "..")) {
		*out = get_inode(m, dir->parent);
		return *out ? 0 : ENOENT;
	}
	err = check_name(name);
	if (err)
		return err;
	d = find_dentry(m, dir, name);
	if (!d)
		return ENOENT;
	*out = d->node;
	return 0;
}

static void mf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct memfs *m = fs(req);
	struct fuse_entry_param e;
	struct inode *dir, *n = NULL;
	int err;

	fs_lock(m);
	err = get_dir(req, m, parent, &dir);
	if (!err)
		err = resolve(m, dir, name, &n);
	if (!err)
		grant_entry(m, n, &e);
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		send_entry(req, m, &e);
}

static void mf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct memfs *m = fs(req);

	fs_lock(m);
	forget_one(m, ino, nlookup);
	fs_unlock(m);
	fuse_reply_none(req);
}

static void mf_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct memfs *m = fs(req);
	size_t i;

	fs_lock(m);
	for (i = 0; i < count; i++)
		forget_one(m, forgets[i].ino, forgets[i].nlookup);
	fs_unlock(m);
	fuse_reply_none(req);
}

static void mf_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	struct stat st;

	(void)fi;
	fs_lock(m);
	n = use_inode(m, ino);
	if (n)
		fill_stat(n, &st);
	fs_unlock(m);
	if (n)
		fuse_reply_attr(req, &st, TIMEOUT);
	else
		fuse_reply_err(req, ESTALE);
}

/* Only root or the owner may chmod/chown/set explicit times; a non-owner
 * with write permission may set times to "now". */
static int setattr_check(fuse_req_t req, const struct inode *n,
			 const struct stat *a, int to_set,
			 const struct fuse_file_info *fi)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	int owner = is_owner(req, n);
	int given = ((to_set & FUSE_SET_ATTR_ATIME) &&
		     !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
		    ((to_set & FUSE_SET_ATTR_MTIME) &&
		     !(to_set & FUSE_SET_ATTR_MTIME_NOW));
	int touch = to_set & (FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW);

	if ((to_set & FUSE_SET_ATTR_MODE) && !owner)
		return EPERM;
	if ((to_set & FUSE_SET_ATTR_UID) && uid != 0 &&
	    (!owner || a->st_uid != n->uid))
		return EPERM;
	if ((to_set & FUSE_SET_ATTR_GID) && uid != 0 &&
	    (!owner || (a->st_gid != n->gid && !in_group(req, a->st_gid))))
		return EPERM;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(n->mode))
			return EISDIR;
		if (!S_ISREG(n->mode) || a->st_size < 0)
			return EINVAL;
		if (!fi && may(req, n, W_OK))
			return EACCES;
	}
	if (given && !owner)
		return EPERM;
	/* A truncate's "mtime = now" was checked by the truncate itself. */
	if (touch && !owner && !(to_set & FUSE_SET_ATTR_SIZE) &&
	    may(req, n, W_OK))
		return EACCES;
	return 0;
}

static void set_mode(fuse_req_t req, struct inode *n, mode_t mode)
{
	n->mode = (n->mode & S_IFMT) | (mode & 07777);
	/* POSIX: setgid is dropped if the caller is not in the file's group */
	if (fuse_req_ctx(req)->uid != 0 && !S_ISDIR(n->mode) &&
	    (n->mode & S_ISGID) && !in_group(req, n->gid))
		n->mode &= ~S_ISGID;
}

/* chown of a non-directory, or an explicit kill request, drops set-id
 * bits (setgid only when it means "setgid", i.e. with group exec). */
static void kill_suid(struct inode *n, int to_set)
{
	int chowned = (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
		      !(to_set & FUSE_SET_ATTR_MODE) && !S_ISDIR(n->mode);

	if (chowned || (to_set & FUSE_SET_ATTR_KILL_SUID))
		n->mode &= ~S_ISUID;
	if ((chowned || (to_set & FUSE_SET_ATTR_KILL_SGID)) &&
	    (n->mode & S_IXGRP))
		n->mode &= ~S_ISGID;
}

static void setattr_apply(fuse_req_t req, struct memfs *m, struct inode *n,
			  const struct stat *a, int to_set)
{
	struct timespec t = now();

	if (to_set & FUSE_SET_ATTR_MODE)
		set_mode(req, n, a->st_mode);
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = a->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = a->st_gid;
	kill_suid(n, to_set);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		set_size(m, n, a->st_size);
		n->mtime = t;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		n->atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? t : a->st_atim;
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		n->mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? t : a->st_mtim;
	n->ctime = (to_set & FUSE_SET_ATTR_CTIME) ? a->st_ctim : t;
}

static void mf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	struct stat st;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = n ? setattr_check(req, n, attr, to_set, fi) : ESTALE;
	if (!err) {
		setattr_apply(req, m, n, attr, to_set);
		fill_stat(n, &st);
	}
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, TIMEOUT);
}

static void mf_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct memfs *m = fs(req);
	struct inode *n;
	char *target = NULL;
	int err = 0;

	fs_lock(m);
	n = use_inode(m, ino);
	if (!n)
		err = ESTALE;
	else if (!S_ISLNK(n->mode))
		err = EINVAL;
	else if (!(target = strdup(n->target)))
		err = ENOMEM;
	else
		n->atime = now();
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static void mf_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct memfs *m = fs(req);
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	if (!n)
		err = ESTALE;
	else if (mask == F_OK)
		err = 0;
	else
		err = may(req, n, mask & (R_OK | W_OK | X_OK));
	fs_unlock(m);
	fuse_reply_err(req, err);
}

/* ------------------------------------------------------------------ */
/* Creating and removing names                                         */
/* ------------------------------------------------------------------ */

/* A new inode owned by the caller; a setgid dir passes on its group. */
static int new_inode(fuse_req_t req, struct memfs *m, const struct inode *dir,
		     mode_t mode, struct inode **out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct inode *n;

	if (m->ninodes >= m->max_inodes)
		return ENOSPC;
	n = alloc_inode(m, mode, ctx->uid, ctx->gid);
	if (!n)
		return ENOMEM;
	if (dir->mode & S_ISGID) {
		n->gid = dir->gid;
		if (S_ISDIR(mode))
			n->mode |= S_ISGID;
		else if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
			 ctx->uid != 0 && !in_group(req, n->gid))
			n->mode &= ~S_ISGID;
	}
	*out = n;
	return 0;
}

/* The shared body of mknod, mkdir, symlink and create. */
static int make_node(fuse_req_t req, struct memfs *m, fuse_ino_t parent,
		     const char *name, mode_t mode, dev_t rdev,
		     const char *target, struct inode **out)
{
	struct inode *dir, *n;
	int err;

	err = get_dir(req, m, parent, &dir);
	if (!err)
		err = check_new_name(m, dir, name);
	if (!err)
		err = may_modify(req, dir);
	if (!err)
		err = new_inode(req, m, dir, mode, &n);
	if (err)
		return err;
	n->rdev = rdev;
	if (target) {
		n->target = strdup(target);
		n->size = strlen(target);
		if (!n->target)
			err = ENOMEM;
	}
	if (!err)
		err = link_entry(m, dir, name, n);
	if (err) {
		free_inode(m, n);
		return err;
	}
	touch_dir(dir, n->ctime);
	*out = n;
	return 0;
}

static void new_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *target)
{
	struct memfs *m = fs(req);
	struct fuse_entry_param e;
	struct inode *n;
	int err;

	fs_lock(m);
	err = make_node(req, m, parent, name, mode, rdev, target, &n);
	if (!err)
		grant_entry(m, n, &e);
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		send_entry(req, m, &e);
}

static void mf_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	mode_t type = mode & S_IFMT;
	mode_t perm = mode & 07777 & ~fuse_req_ctx(req)->umask;

	switch (type) {
	case 0:
		type = S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		rdev = 0;
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (fuse_req_ctx(req)->uid != 0) {
			fuse_reply_err(req, EPERM);
			return;
		}
		break;
	case S_IFDIR:
		fuse_reply_err(req, EPERM);	/* as mknod(2) on Linux */
		return;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	new_entry(req, parent, name, type | perm, rdev, NULL);
}

static void mf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	mode_t perm = mode & 07777 & ~fuse_req_ctx(req)->umask;

	new_entry(req, parent, name, S_IFDIR | perm, 0, NULL);
}

static void mf_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		       const char *name)
{
	size_t len = strnlen(target, PATH_MAX);

	if (len == 0)
		fuse_reply_err(req, ENOENT);
	else if (len >= PATH_MAX)
		fuse_reply_err(req, ENAMETOOLONG);
	else
		new_entry(req, parent, name, S_IFLNK | 0777, 0, target);
}

static int link_node(fuse_req_t req, struct memfs *m, fuse_ino_t ino,
		     fuse_ino_t newparent, const char *newname,
		     struct inode **out)
{
	struct inode *n = use_inode(m, ino), *dir;
	struct timespec t;
	int err;

	if (!n)
		return ESTALE;
	err = get_dir(req, m, newparent, &dir);
	if (!err)
		err = check_new_name(m, dir, newname);
	if (!err)
		err = may_modify(req, dir);
	if (err)
		return err;
	if (S_ISDIR(n->mode))
		return EPERM;
	if (n->nlink == 0)
		return ENOENT;
	if (n->nlink >= MAX_LINKS)
		return EMLINK;
	err = link_entry(m, dir, newname, n);
	if (err)
		return err;
	n->nlink++;
	t = now();
	n->ctime = t;
	touch_dir(dir, t);
	*out = n;
	return 0;
}

static void mf_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct memfs *m = fs(req);
	struct fuse_entry_param e;
	struct inode *n;
	int err;

	fs_lock(m);
	err = link_node(req, m, ino, newparent, newname, &n);
	if (!err)
		grant_entry(m, n, &e);
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		send_entry(req, m, &e);
}

/* The shared body of unlink and rmdir. */
static int remove_entry(fuse_req_t req, struct memfs *m, fuse_ino_t parent,
			const char *name, int want_dir)
{
	struct inode *dir, *n;
	struct dentry *d;
	struct timespec t;
	int err;

	err = get_dir(req, m, parent, &dir);
	if (err)
		return err;
	if (is_dot(name))	/* what Linux answers for these */
		return !want_dir ? EISDIR : name[1] ? ENOTEMPTY : EINVAL;
	err = check_name(name);
	if (err)
		return err;
	d = find_dentry(m, dir, name);
	if (!d)
		return ENOENT;
	n = d->node;
	err = may_modify(req, dir);
	if (!err)
		err = sticky(req, dir, n);
	if (err)
		return err;
	if (want_dir && !S_ISDIR(n->mode))
		return ENOTDIR;
	if (!want_dir && S_ISDIR(n->mode))
		return EISDIR;
	if (want_dir && n->nentries)
		return ENOTEMPTY;
	unlink_entry(m, d);
	t = now();
	drop_link(n, t);
	touch_dir(dir, t);
	maybe_free(m, n);
	return 0;
}

static void mf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct memfs *m = fs(req);
	int err;

	fs_lock(m);
	err = remove_entry(req, m, parent, name, 0);
	fs_unlock(m);
	fuse_reply_err(req, err);
}

static void mf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct memfs *m = fs(req);
	int err;

	fs_lock(m);
	err = remove_entry(req, m, parent, name, 1);
	fs_unlock(m);
	fuse_reply_err(req, err);
}

/* ------------------------------------------------------------------ */
/* rename                                                              */
/* ------------------------------------------------------------------ */

struct rename_op {
	unsigned flags;
	struct inode *odir, *ndir;
	struct dentry *od;
	struct dentry *nd;	/* NULL if the target does not exist */
};

/* Is directory a the directory d or one of d's ancestors? */
static int is_ancestor(struct memfs *m, const struct inode *a,
		       const struct inode *d)
{
	while (d != a) {
		if (d == m->root)
			return 0;
		d = get_inode(m, d->parent);
		if (!d)
			return 0;
	}
	return 1;
}

static int rename_lookup(fuse_req_t req, struct memfs *m, fuse_ino_t parent,
			 const char *name, fuse_ino_t newparent,
			 const char *newname, struct rename_op *r)
{
	unsigned both = RENAME_NOREPLACE | RENAME_EXCHANGE;
	int err;

	if ((r->flags & ~both) || (r->flags & both) == both)
		return EINVAL;
	err = get_dir(req, m, parent, &r->odir);
	if (!err)
		err = get_dir(req, m, newparent, &r->ndir);
	if (!err && (is_dot(name) || is_dot(newname)))
		err = EBUSY;
	if (!err)
		err = check_name(name);
	if (!err)
		err = check_name(newname);
	if (err)
		return err;
	r->od = find_dentry(m, r->odir, name);
	if (!r->od)
		return ENOENT;
	r->nd = find_dentry(m, r->ndir, newname);
	if (!r->nd && (r->flags & RENAME_EXCHANGE))
		return ENOENT;
	if (r->nd && (r->flags & RENAME_NOREPLACE))
		return EEXIST;
	return 0;
}

/* POSIX rules on what may replace what; exchange swaps any two. */
static int rename_types(struct memfs *m, const struct rename_op *r)
{
	const struct inode *src = r->od->node;
	const struct inode *dst = r->nd ? r->nd->node : NULL;

	/* Moving a directory below itself would cut it off from the root. */
	if (S_ISDIR(src->mode) && is_ancestor(m, src, r->ndir))
		return EINVAL;
	if (r->flags & RENAME_EXCHANGE)
		return S_ISDIR(dst->mode) && is_ancestor(m, dst, r->odir) ?
		       EINVAL : 0;
	if (!dst)
		return 0;
	if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
		return ENOTDIR;
	if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
		return EISDIR;
	if (S_ISDIR(dst->mode) && dst->nentries)
		return ENOTEMPTY;
	return 0;
}

static int rename_allowed(fuse_req_t req, struct memfs *m,
			  const struct rename_op *r)
{
	struct inode *src = r->od->node;
	struct inode *dst = r->nd ? r->nd->node : NULL;
	int err;

	err = may_modify(req, r->odir);
	if (!err)
		err = may_modify(req, r->ndir);
	if (!err)
		err = sticky(req, r->odir, src);
	if (!err && dst)
		err = sticky(req, r->ndir, dst);
	if (err || src == dst)	/* two names of one file: nothing to do */
		return err;
	err = rename_types(m, r);
	if (err || r->odir == r->ndir)
		return err;
	/* A directory that changes parent gets its ".." rewritten. */
	if (S_ISDIR(src->mode))
		err = may(req, src, W_OK);
	if (!err && dst && (r->flags & RENAME_EXCHANGE) && S_ISDIR(dst->mode))
		err = may(req, dst, W_OK);
	return err;
}

/* Swap the nodes of two entries; cookies stay where they are. */
static void rename_exchange(struct rename_op *r)
{
	struct inode *a = r->od->node, *b = r->nd->node;

	r->od->node = b;
	r->nd->node = a;
	if (r->odir == r->ndir)
		return;
	if (S_ISDIR(a->mode)) {
		a->parent = r->ndir->ino;
		r->odir->nlink--;
		r->ndir->nlink++;
	}
	if (S_ISDIR(b->mode)) {
		b->parent = r->odir->ino;
		r->ndir->nlink--;
		r->odir->nlink++;
	}
}

/* Move src to its new name, replacing the target if there is one.  All
 * allocation happens first so that a failure leaves everything as it was. */
static int rename_move(struct memfs *m, struct rename_op *r,
		       const char *newname, struct timespec t)
{
	struct inode *src = r->od->node;
	struct inode *dst = r->nd ? r->nd->node : NULL;
	struct dentry *d = dentry_new(newname);

	if (!d || slots_reserve(r->ndir)) {
		free(d);
		return ENOMEM;
	}
	if (dst) {
		unlink_entry(m, r->nd);
		drop_link(dst, t);
	}
	unlink_entry(m, r->od);
	dentry_insert(m, r->ndir, d, src);
	if (dst)
		maybe_free(m, dst);
	return 0;
}

static void mf_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct memfs *m = fs(req);
	struct rename_op r = { .flags = flags };
	struct timespec t = now();
	struct inode *src;
	int err;

	fs_lock(m);
	err = rename_lookup(req, m, parent, name, newparent, newname, &r);
	if (!err)
		err = rename_allowed(req, m, &r);
	if (!err && !(r.nd && r.nd->node == r.od->node)) {
		src = r.od->node;
		if (flags & RENAME_EXCHANGE) {
			r.nd->node->ctime = t;
			rename_exchange(&r);
		} else {
			err = rename_move(m, &r, newname, t);
		}
		if (!err) {
			src->ctime = t;
			touch_dir(r.odir, t);
			touch_dir(r.ndir, t);
		}
	}
	fs_unlock(m);
	fuse_reply_err(req, err);
}

/* ------------------------------------------------------------------ */
/* open, create, read, write, flush, release, fsync                    */
/* ------------------------------------------------------------------ */

/* Check access for fi->flags, honour O_TRUNC and count the handle.
 * fi->fh keeps the open flags so read and write can check the mode. */
static int open_node(fuse_req_t req, struct memfs *m, struct inode *n,
		     struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	int mask = acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK :
		   R_OK | W_OK;
	int err;

	if (S_ISDIR(n->mode))
		return EISDIR;
	if (fi->flags & O_TRUNC)
		mask |= W_OK;
	err = may(req, n, mask);
	if (err)
		return err;
	if ((fi->flags & O_TRUNC) && S_ISREG(n->mode)) {
		set_size(m, n, 0);
		n->mtime = n->ctime = now();
	}
	n->nopen++;
	fi->fh = (unsigned)fi->flags;
	return 0;
}

static void mf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = n ? open_node(req, m, n, fi) : ESTALE;
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_open(req, fi) != 0)
		take_back(m, ino, 0, 1);	/* no release will come */
}

/* create without O_EXCL on an existing name opens what is there. */
static int open_existing(fuse_req_t req, struct memfs *m, fuse_ino_t parent,
			 const char *name, struct fuse_file_info *fi,
			 struct inode **out)
{
	struct inode *dir = get_inode(m, parent);
	struct dentry *d = dir ? find_dentry(m, dir, name) : NULL;

	if (!d)
		return EEXIST;	/* "." or ".." */
	*out = d->node;
	return open_node(req, m, d->node, fi);
}

static void mf_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	mode_t perm = mode & 07777 & ~fuse_req_ctx(req)->umask;
	struct fuse_entry_param e;
	struct inode *n = NULL;
	int err;

	fs_lock(m);
	err = make_node(req, m, parent, name, S_IFREG | perm, 0, NULL, &n);
	if (err == EEXIST && !(fi->flags & O_EXCL)) {
		err = open_existing(req, m, parent, name, fi, &n);
	} else if (!err) {
		n->nopen++;
		fi->fh = (unsigned)fi->flags;
	}
	if (!err)
		grant_entry(m, n, &e);
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_create(req, &e, fi) != 0)
		take_back(m, e.ino, 1, 1);
}

static void mf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	char *buf = NULL;
	size_t count = 0;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = check_io(n, fi, O_WRONLY);
	if (!err && off < 0)
		err = EINVAL;
	if (!err && off < n->size) {
		count = (size_t)min_u64(size, (uint64_t)(n->size - off));
		buf = malloc(count ? count : 1);
		if (buf)
			copy_out(n, off, count, buf);
		else
			err = ENOMEM;
	}
	if (!err)
		n->atime = now();
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, count);
	free(buf);
}

static void mf_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = check_io(n, fi, O_RDONLY);
	if (!err)
		err = write_data(m, n, buf, size, off);
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

static void mf_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	int err = ESTALE;

	(void)datasync;
	(void)fi;
	fs_lock(m);
	if (use_inode(m, ino))	/* with --store, the whole tree goes out */
		err = save_store_locked(m) ? EIO : 0;
	fs_unlock(m);
	fuse_reply_err(req, err);
}

/* ------------------------------------------------------------------ */
/* Locks                                                               */
/* ------------------------------------------------------------------ */

static int overlaps(const struct rlock *l, int64_t start, int64_t end)
{
	return l->start <= end && start <= l->end;
}

/* Overlapping or adjacent, so that two locks could be merged. */
static int touches(const struct rlock *l, int64_t start, int64_t end)
{
	return overlaps(l, start, end) ||
	       (start > 0 && l->end == start - 1) ||
	       (end < LOCK_EOF && l->start == end + 1);
}

static const struct rlock *find_conflict(const struct rlock *l,
					 const struct rlock *w)
{
	for (; l; l = l->next)
		if (l->owner != w->owner && overlaps(l, w->start, w->end) &&
		    (l->type == F_WRLCK || w->type == F_WRLCK))
			return l;
	return NULL;
}

static struct rlock *take_spare(struct rlock **spare)
{
	struct rlock *l = spare[0] ? spare[0] : spare[1];

	if (l == spare[0])
		spare[0] = NULL;
	else
		spare[1] = NULL;
	return l;
}

/*
 * Apply w (which may be F_UNLCK) for w->owner, with POSIX semantics: the
 * owner's locks inside [start, end] are replaced, locks that stick out are
 * trimmed or split, and touching locks of the same type are merged.  An
 * owner's locks never overlap each other, so at most one lock is split
 * and one inserted: two spare nodes are allocated up front so that the
 * table is either fully updated or (ENOLCK) untouched.
 */
static int apply_lock(struct rlock **table, const struct rlock *w)
{
	struct rlock *spare[2] = { malloc(sizeof(**table)),
				   malloc(sizeof(**table)) };
	int64_t s = w->start, e = w->end;
	struct rlock **pp = table, *l, *r;

	if (!spare[0] || !spare[1]) {
		free(spare[0]);
		free(spare[1]);
		return ENOLCK;
	}
	while ((l = *pp)) {
		if (l->owner != w->owner ||
		    (l->type != w->type && !overlaps(l, s, e)) ||
		    (l->type == w->type && !touches(l, s, e))) {
			pp = &l->next;
		} else if (l->type == w->type) {	/* merge into w */
			s = l->start < s ? l->start : s;
			e = l->end > e ? l->end : e;
			*pp = l->next;
			free(l);
		} else if (l->start < s && l->end > e) {	/* split */
			r = take_spare(spare);
			*r = *l;
			r->start = e + 1;
			l->end = s - 1;
			l->next = r;
			pp = &r->next;
		} else if (l->start < s) {
			l->end = s - 1;
			pp = &l->next;
		} else if (l->end > e) {
			l->start = e + 1;
			pp = &l->next;
		} else {				/* covered */
			*pp = l->next;
			free(l);
		}
	}
	if (w->type != F_UNLCK) {
		r = take_spare(spare);
		*r = *w;
		r->start = s;
		r->end = e;
		r->next = *table;
		*table = r;
	}
	free(spare[0]);
	free(spare[1]);
	return 0;
}

/* Drop all of owner's locks; returns whether there were any. */
static int drop_owner(struct rlock **table, uint64_t owner)
{
	struct rlock **pp = table, *l;
	int dropped = 0;

	while ((l = *pp)) {
		if (l->owner == owner) {
			*pp = l->next;
			free(l);
			dropped = 1;
		} else {
			pp = &l->next;
		}
	}
	return dropped;
}

static struct rlock **lock_table(struct inode *n, int is_flock)
{
	return is_flock ? &n->flocks : &n->plocks;
}

/* Grant what has become grantable on n; the granted waiters are moved to
 * *granted, to be answered once the mutex is released. */
static void wake_waiters(struct memfs *m, struct inode *n,
			 struct waiter **granted)
{
	struct waiter **pp = &m->waiters, *w;
	struct rlock **table;

	while ((w = *pp)) {
		table = lock_table(w->node, w->is_flock);
		if (w->node != n || find_conflict(*table, &w->want) ||
		    apply_lock(table, &w->want)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = *granted;
		*granted = w;
	}
}

static void reply_granted(struct waiter *w)
{
	struct waiter *next;

	for (; w; w = next) {
		next = w->next;
		fuse_reply_err(w->req, 0);
		free(w);
	}
}

/* Apply w on n unless another owner's lock is in the way (EAGAIN). */
static int try_lock(struct memfs *m, struct inode *n, const struct rlock *w,
		    int is_flock, struct waiter **granted)
{
	struct rlock **table = lock_table(n, is_flock);
	int err;

	if (w->type != F_UNLCK && find_conflict(*table, w)) {
		/* Like Linux, a flock() conversion drops the old lock before
		 * it waits, so two holders upgrading at once cannot deadlock. */
		if (is_flock && drop_owner(table, w->owner))
			wake_waiters(m, n, granted);
		return EAGAIN;
	}
	err = apply_lock(table, w);
	if (!err)
		wake_waiters(m, n, granted);
	return err;
}

/* An interrupted waiter gives up with EINTR.  libfuse calls this with the
 * request's own lock held, possibly from another thread. */
static void lock_interrupted(fuse_req_t req, void *data)
{
	struct memfs *m = data;
	struct waiter **pp, *w = NULL;

	fs_lock(m);
	for (pp = &m->waiters; *pp; pp = &(*pp)->next) {
		if ((*pp)->req == req) {
			w = *pp;
			*pp = w->next;
			break;
		}
	}
	fs_unlock(m);
	if (w) {
		fuse_reply_err(req, EINTR);
		free(w);
	}
}

/*
 * Park a blocking request (F_SETLKW, flock without LOCK_NB).  The
 * interrupt callback is registered before the waiter becomes visible:
 * once it is on the list another thread may answer req at any time.  If
 * the interrupt came already, the callback runs right away, finds nothing,
 * and fuse_req_interrupted() below answers EINTR instead.
 */
static void wait_for_lock(fuse_req_t req, struct memfs *m, fuse_ino_t ino,
			  const struct rlock *want, int is_flock)
{
	struct waiter *w = calloc(1, sizeof(*w)), *granted = NULL, **pp;
	struct inode *n;
	int err;

	if (!w) {
		fuse_reply_err(req, ENOLCK);
		return;
	}
	w->req = req;
	w->want = *want;
	w->is_flock = is_flock;
	fuse_req_interrupt_func(req, lock_interrupted, m);
	fs_lock(m);
	n = get_inode(m, ino);
	if (fuse_req_interrupted(req))
		err = EINTR;
	else if (!n)
		err = ESTALE;
	else	/* the lock may have been released meanwhile */
		err = try_lock(m, n, want, is_flock, &granted);
	if (err == EAGAIN) {	/* queue last: first come, first served */
		for (pp = &m->waiters; *pp; pp = &(*pp)->next)
			;
		w->node = n;
		*pp = w;
		w = NULL;
	}
	fs_unlock(m);
	reply_granted(granted);
	if (w) {
		fuse_reply_err(req, err);
		free(w);
	}
}

static void set_lock(fuse_req_t req, fuse_ino_t ino, const struct rlock *w,
		     int is_flock, int block)
{
	struct memfs *m = fs(req);
	struct waiter *granted = NULL;
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = n ? try_lock(m, n, w, is_flock, &granted) : ESTALE;
	fs_unlock(m);
	reply_granted(granted);
	if (err == EAGAIN && block)
		wait_for_lock(req, m, ino, w, is_flock);
	else
		fuse_reply_err(req, err);
}

/* libfuse hands us l_whence == SEEK_SET; l_len 0 means "to EOF". */
static int to_rlock(const struct flock *fl, uint64_t owner, struct rlock *w)
{
	int64_t start = fl->l_start, end;

	if (fl->l_len == 0) {
		end = LOCK_EOF;
	} else if (fl->l_len > 0) {
		if (start < 0)
			return EINVAL;
		end = fl->l_len - 1 > LOCK_EOF - start ? LOCK_EOF :
		      start + fl->l_len - 1;
	} else {
		end = start - 1;
		start += fl->l_len;
	}
	if (start < 0 || end < start)
		return EINVAL;
	memset(w, 0, sizeof(*w));
	w->owner = owner;
	w->start = start;
	w->end = end;
	w->type = fl->l_type;
	w->pid = fl->l_pid;
	if (w->type != F_RDLCK && w->type != F_WRLCK && w->type != F_UNLCK)
		return EINVAL;
	return 0;
}

static void mf_getlk(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct flock *lock)
{
	struct memfs *m = fs(req);
	struct flock out = *lock;
	const struct rlock *c;
	struct inode *n;
	struct rlock w;
	int err;

	err = to_rlock(lock, fi->lock_owner, &w);
	if (!err && w.type == F_UNLCK)
		err = EINVAL;
	fs_lock(m);
	n = use_inode(m, ino);
	if (!err && !n)
		err = ESTALE;
	if (!err) {
		c = find_conflict(n->plocks, &w);
		out.l_type = c ? c->type : F_UNLCK;
		if (c) {
			out.l_whence = SEEK_SET;
			out.l_start = c->start;
			out.l_len = c->end == LOCK_EOF ? 0 :
				    c->end - c->start + 1;
			out.l_pid = c->pid;
		}
	}
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lock(req, &out);
}

static void mf_setlk(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct flock *lock, int block)
{
	struct rlock w;
	int err = to_rlock(lock, fi->lock_owner, &w);

	if (err)
		fuse_reply_err(req, err);
	else
		set_lock(req, ino, &w, 0, block);
}

/* flock() locks are whole-file locks owned by the open file description
 * (fi->lock_owner), kept in a table of their own. */
static void mf_flock(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi, int op)
{
	struct rlock w = {
		.owner = fi->lock_owner, .start = 0, .end = LOCK_EOF,
		.pid = fuse_req_ctx(req)->pid,
	};

	switch (op & ~LOCK_NB) {
	case LOCK_SH:
		w.type = F_RDLCK;
		break;
	case LOCK_EX:
		w.type = F_WRLCK;
		break;
	case LOCK_UN:
		w.type = F_UNLCK;
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	set_lock(req, ino, &w, 1, !(op & LOCK_NB));
}

/* close() releases the closing process's POSIX locks on the file. */
static void mf_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct waiter *granted = NULL;
	struct inode *n;

	fs_lock(m);
	n = use_inode(m, ino);
	if (n && drop_owner(&n->plocks, fi->lock_owner))
		wake_waiters(m, n, &granted);
	fs_unlock(m);
	reply_granted(granted);
	fuse_reply_err(req, n ? 0 : ESTALE);
}

/* The shared body of release and releasedir. */
static void release_handle(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct waiter *granted = NULL;
	struct inode *n;
	int err = 0;

	fs_lock(m);
	n = use_inode(m, ino);
	if (!n || n->nopen == 0) {
		err = n ? EBADF : ESTALE;
	} else {
		n->nopen--;
		if (fi->flock_release &&
		    drop_owner(&n->flocks, fi->lock_owner))
			wake_waiters(m, n, &granted);
		maybe_free(m, n);
	}
	fs_unlock(m);
	reply_granted(granted);
	fuse_reply_err(req, err);
}

static void mf_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	release_handle(req, ino, fi);
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */
/* ------------------------------------------------------------------ */

static void mf_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	if (!n)
		err = ESTALE;
	else if (!S_ISDIR(n->mode))
		err = ENOTDIR;
	else
		err = may(req, n, R_OK);
	if (!err) {
		n->nopen++;
		fi->fh = 0;
	}
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_open(req, fi) != 0)
		take_back(m, ino, 0, 1);
}

/* A reply being assembled by readdir or readdirplus. */
struct dirbuf {
	char *buf;
	size_t size, pos;
	int plus;
	fuse_ino_t *granted;	/* readdirplus: refs this reply carries */
	size_t ngranted, maxgranted;
};

/* "." and ".." never count as lookups (the kernel ignores their node
 * ids), so readdirplus sends them with node id 0 and only st_ino set. */
static int add_dot(fuse_req_t req, struct dirbuf *db, const char *name,
		   fuse_ino_t ino, uint64_t cookie)
{
	size_t room = db->size - db->pos, need;
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = ino;
	e.attr.st_mode = S_IFDIR;
	if (db->plus)
		need = fuse_add_direntry_plus(req, db->buf + db->pos, room,
					      name, &e, cookie);
	else
		need = fuse_add_direntry(req, db->buf + db->pos, room, name,
					 &e.attr, cookie);
	if (need > room)
		return 0;
	db->pos += need;
	return 1;
}

/* Add one entry if it fits; a readdirplus entry hands out a reference. */
static int add_entry(fuse_req_t req, struct memfs *m, struct dirbuf *db,
		     const struct dentry *d)
{
	size_t room = db->size - db->pos, need;
	struct fuse_entry_param e;

	if (db->plus && db->ngranted == db->maxgranted)
		return 0;
	entry_param(d->node, &e);
	if (db->plus)
		need = fuse_add_direntry_plus(req, db->buf + db->pos, room,
					      d->name, &e, d->cookie);
	else
		need = fuse_add_direntry(req, db->buf + db->pos, room,
					 d->name, &e.attr, d->cookie);
	if (need > room)
		return 0;
	db->pos += need;
	if (db->plus) {
		grant_ref(m, d->node);
		db->granted[db->ngranted++] = d->node->ino;
	}
	return 1;
}

/*
 * Entries come in cookie order and the offset of each is its cookie, so
 * continuing at `off` means starting at the first cookie greater than off
 * whatever was added or removed in between.
 */
static void fill_dir(fuse_req_t req, struct memfs *m, struct inode *dir,
		     uint64_t off, struct dirbuf *db)
{
	size_t i;

	if (off < 1 && !add_dot(req, db, ".", dir->ino, 1))
		return;
	if (off < 2 && !add_dot(req, db, "..", dir->parent, 2))
		return;
	for (i = slot_seek(dir, off); i < dir->nslots; i++)
		if (dir->slots[i].d && !add_entry(req, m, db, dir->slots[i].d))
			return;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, int plus)
{
	struct memfs *m = fs(req);
	struct dirbuf db = { .size = size, .plus = plus };
	struct inode *dir;
	int err = 0;
	size_t i;

	db.buf = malloc(size ? size : 1);
	db.maxgranted = plus ? size / 64 + 1 : 0;  /* entries are larger */
	db.granted = malloc((db.maxgranted + 1) * sizeof(*db.granted));
	fs_lock(m);
	dir = use_inode(m, ino);
	if (!db.buf || !db.granted)
		err = ENOMEM;
	else if (!dir)
		err = ESTALE;
	else if (!S_ISDIR(dir->mode))
		err = ENOTDIR;
	else if (dir->nlink == 0)
		err = ENOENT;	/* like Linux for a removed directory */
	if (!err) {
		fill_dir(req, m, dir, (uint64_t)off, &db);
		dir->atime = now();
	}
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_buf(req, db.buf, db.pos) != 0)
		for (i = 0; i < db.ngranted; i++)
			take_back(m, db.granted[i], 1, 0);
	free(db.buf);
	free(db.granted);
}

static void mf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void mf_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void mf_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	release_handle(req, ino, fi);
}

static void mf_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	mf_fsync(req, ino, datasync, fi);
}

static void mf_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct memfs *m = fs(req);
	struct statvfs st;
	uint64_t per = FS_BLOCK / 512;

	(void)ino;
	memset(&st, 0, sizeof(st));
	fs_lock(m);
	st.f_bsize = FS_BLOCK;
	st.f_frsize = FS_BLOCK;
	st.f_blocks = m->max_blocks / per;
	if (m->used_blocks < m->max_blocks)
		st.f_bfree = (m->max_blocks - m->used_blocks) / per;
	st.f_bavail = st.f_bfree;
	st.f_files = m->max_inodes;
	st.f_ffree = m->max_inodes - m->ninodes;
	st.f_favail = st.f_ffree;
	st.f_namemax = NAME_MAX;
	fs_unlock(m);
	fuse_reply_statfs(req, &st);
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                 */
/* ------------------------------------------------------------------ */

static int has_prefix(const char *name, const char *prefix)
{
	return !strncmp(name, prefix, strlen(prefix)) &&
	       name[strlen(prefix)] != '\0';
}

/* Namespace rules as Linux applies them; system.* (ACLs) is not kept. */
static int xattr_check(fuse_req_t req, const struct inode *n,
		       const char *name, int write)
{
	if (strlen(name) > XATTR_NAME_MAX)
		return ERANGE;
	if (has_prefix(name, "user.")) {
		if (!S_ISREG(n->mode) && !S_ISDIR(n->mode))
			return write ? EPERM : ENODATA;
		return may(req, n, write ? W_OK : R_OK);
	}
	if (has_prefix(name, "trusted."))
		return fuse_req_ctx(req)->uid == 0 ? 0 :
		       write ? EPERM : ENODATA;
	if (has_prefix(name, "security."))
		return !write || is_owner(req, n) ? 0 : EPERM;
	return EOPNOTSUPP;
}

static struct xattr **find_xattr(struct inode *n, const char *name)
{
	struct xattr **pp;

	for (pp = &n->xattrs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			break;
	return pp;
}

static int set_xattr(struct inode *n, const char *name, const char *value,
		     size_t size, int flags)
{
	struct xattr **pp = find_xattr(n, name), *x = *pp;
	char *copy;

	if (x && (flags & XATTR_CREATE))
		return EEXIST;
	if (!x && (flags & XATTR_REPLACE))
		return ENODATA;
	copy = malloc(size ? size : 1);
	if (!copy)
		return ENOMEM;
	memcpy(copy, value, size);
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x || !(x->name = strdup(name))) {
			free(x);
			free(copy);
			return ENOMEM;
		}
		*pp = x;
	}
	free(x->value);
	x->value = copy;
	x->size = size;
	n->ctime = now();
	return 0;
}

static void mf_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct memfs *m = fs(req);
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	if (!n)
		err = ESTALE;
	else if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		err = EINVAL;
	else if (size > XATTR_SIZE_MAX)
		err = E2BIG;
	else if (!(err = xattr_check(req, n, name, 1)))
		err = set_xattr(n, name, value, size, flags);
	fs_unlock(m);
	fuse_reply_err(req, err);
}

/* Reply to a get/list request for `len` bytes: size 0 asks for the size. */
static void reply_sized(fuse_req_t req, const char *buf, size_t len,
			size_t size, int err)
{
	if (err)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

static void mf_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct memfs *m = fs(req);
	struct xattr *x = NULL;
	struct inode *n;
	char *copy = NULL;
	size_t len = 0;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = n ? xattr_check(req, n, name, 0) : ESTALE;
	if (!err && !(x = *find_xattr(n, name)))
		err = ENODATA;
	if (!err) {
		len = x->size;
		copy = malloc(len ? len : 1);
		if (copy)
			memcpy(copy, x->value, len);
		else
			err = ENOMEM;
	}
	fs_unlock(m);
	reply_sized(req, copy, len, size, err);
	free(copy);
}

/* trusted.* names are listed to root only, as Linux does. */
static int xattr_visible(fuse_req_t req, const struct xattr *x)
{
	return fuse_req_ctx(req)->uid == 0 || strncmp(x->name, "trusted.", 8);
}

static void mf_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct memfs *m = fs(req);
	struct inode *n;
	struct xattr *x;
	char *buf = NULL;
	size_t len = 0, l;
	int err = 0;

	fs_lock(m);
	n = use_inode(m, ino);
	if (!n)
		err = ESTALE;
	for (x = n ? n->xattrs : NULL; x; x = x->next)
		if (xattr_visible(req, x))
			len += strlen(x->name) + 1;
	if (!err && !(buf = malloc(len ? len : 1)))
		err = ENOMEM;
	len = 0;
	for (x = buf ? n->xattrs : NULL; x; x = x->next) {
		if (xattr_visible(req, x)) {
			l = strlen(x->name) + 1;
			memcpy(buf + len, x->name, l);
			len += l;
		}
	}
	fs_unlock(m);
	reply_sized(req, buf, len, size, err);
	free(buf);
}

static void mf_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct memfs *m = fs(req);
	struct xattr **pp, *x;
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = n ? xattr_check(req, n, name, 1) : ESTALE;
	if (!err && !*(pp = find_xattr(n, name)))
		err = ENODATA;
	if (!err) {
		x = *pp;
		*pp = x->next;
		free(x->name);
		free(x->value);
		free(x);
		n->ctime = now();
	}
	fs_unlock(m);
	fuse_reply_err(req, err);
}

/* ------------------------------------------------------------------ */
/* poll, fallocate, lseek, copy_file_range                             */
/* ------------------------------------------------------------------ */

static void mf_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct memfs *m = fs(req);
	int known;

	(void)fi;
	fs_lock(m);
	known = use_inode(m, ino) != NULL;
	fs_unlock(m);
	if (ph)		/* always ready: never any need to notify */
		fuse_pollhandle_destroy(ph);
	if (known)
		fuse_reply_poll(req, POLLIN | POLLOUT);
	else
		fuse_reply_err(req, ESTALE);
}

/* Space is reserved (charged) but memory is only allocated on write. */
static int do_fallocate(struct memfs *m, struct inode *n, int mode,
			off_t off, off_t len)
{
	struct timespec t = now();
	uint64_t end;

	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return EOPNOTSUPP;
	if (off < 0 || len <= 0)
		return EINVAL;
	if (off > INT64_MAX - len)
		return EFBIG;
	end = (uint64_t)off + len;
	if (!can_charge(m, n, max_u64(max_u64(end, (uint64_t)n->prealloc),
				      n->len)))
		return ENOSPC;
	if ((off_t)end > n->prealloc)
		n->prealloc = end;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && (off_t)end > n->size) {
		n->size = end;
		n->mtime = t;
	}
	n->ctime = t;
	charge(m, n);
	return 0;
}

static void mf_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = check_io(n, fi, O_RDONLY);
	if (err == EINVAL)
		err = ENODEV;	/* what fallocate(2) says for non-files */
	if (!err)
		err = do_fallocate(m, n, mode, offset, length);
	fs_unlock(m);
	fuse_reply_err(req, err);
}

/* The whole file is data: SEEK_DATA stays put, SEEK_HOLE goes to EOF. */
static void mf_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct memfs *m = fs(req);
	struct inode *n;
	off_t res = 0;
	int err;

	fs_lock(m);
	n = use_inode(m, ino);
	err = check_io(n, fi, -1);
	if (!err && whence != SEEK_DATA && whence != SEEK_HOLE)
		err = EINVAL;
	if (!err && (off < 0 || off >= n->size))
		err = ENXIO;
	if (!err)
		res = whence == SEEK_DATA ? off : n->size;
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, res);
}

static int copy_range(struct memfs *m, struct inode *in, off_t off_in,
		      struct inode *out, off_t off_out, size_t len,
		      size_t *done)
{
	uint64_t c, have;
	int err;

	*done = 0;
	if (off_in < 0 || off_out < 0)
		return EINVAL;
	if (off_in >= in->size || len == 0)
		return 0;
	c = min_u64(len, (uint64_t)(in->size - off_in));
	if ((uint64_t)off_out > (uint64_t)INT64_MAX - c)
		return EFBIG;
	if (in == out && off_in < off_out + (off_t)c &&
	    off_out < off_in + (off_t)c)
		return EINVAL;	/* overlapping ranges in one file */
	/* measured before growing: if in == out, growing may move data */
	have = (uint64_t)off_in < in->len ? min_u64(c, in->len - off_in) : 0;
	err = grow_data(m, out, off_out + c);
	if (err)
		return err;
	memmove(out->data + off_out, in->data + off_in, have);
	memset(out->data + off_out + have, 0, c - have);
	if (off_out + (off_t)c > out->size)
		out->size = off_out + c;
	out->mtime = out->ctime = now();
	in->atime = out->mtime;
	*done = c;
	return 0;
}

static void mf_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			       off_t off_in, struct fuse_file_info *fi_in,
			       fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len,
			       int flags)
{
	struct memfs *m = fs(req);
	struct inode *in, *out;
	size_t done = 0;
	int err;

	fs_lock(m);
	in = use_inode(m, ino_in);
	out = use_inode(m, ino_out);
	err = check_io(in, fi_in, O_WRONLY);
	if (!err)
		err = check_io(out, fi_out, O_RDONLY);
	if (!err && flags)
		err = EINVAL;
	if (!err && fi_out && (fi_out->fh & O_APPEND))
		err = EBADF;
	if (!err)
		err = copy_range(m, in, off_in, out, off_out, len, &done);
	fs_unlock(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, done);
}

/* ------------------------------------------------------------------ */
/* Setup and main                                                      */
/* ------------------------------------------------------------------ */

static const struct fuse_lowlevel_ops memfs_ops = {
	.init		= mf_init,
	.destroy	= mf_destroy,
	.lookup		= mf_lookup,
	.forget		= mf_forget,
	.forget_multi	= mf_forget_multi,
	.getattr	= mf_getattr,
	.setattr	= mf_setattr,
	.readlink	= mf_readlink,
	.mknod		= mf_mknod,
	.mkdir		= mf_mkdir,
	.unlink		= mf_unlink,
	.rmdir		= mf_rmdir,
	.symlink	= mf_symlink,
	.rename		= mf_rename,
	.link		= mf_link,
	.open		= mf_open,
	.read		= mf_read,
	.write		= mf_write,
	.flush		= mf_flush,
	.release	= mf_release,
	.fsync		= mf_fsync,
	.opendir	= mf_opendir,
	.readdir	= mf_readdir,
	.readdirplus	= mf_readdirplus,
	.releasedir	= mf_releasedir,
	.fsyncdir	= mf_fsyncdir,
	.statfs		= mf_statfs,
	.setxattr	= mf_setxattr,
	.getxattr	= mf_getxattr,
	.listxattr	= mf_listxattr,
	.removexattr	= mf_removexattr,
	.access		= mf_access,
	.create		= mf_create,
	.getlk		= mf_getlk,
	.setlk		= mf_setlk,
	.flock		= mf_flock,
	.fallocate	= mf_fallocate,
	.lseek		= mf_lseek,
	.copy_file_range = mf_copy_file_range,
	.poll		= mf_poll,
};

static const struct fuse_opt memfs_opts[] = {
	{ "--report=%s", offsetof(struct memfs, report), 0 },
	{ "report=%s", offsetof(struct memfs, report), 0 },
	{ "--store=%s", offsetof(struct memfs, store), 0 },
	{ "store=%s", offsetof(struct memfs, store), 0 },
	FUSE_OPT_END
};

/* Capacity: half of physical memory, and one inode per 4 KiB of it. */
static int memfs_setup(struct memfs *m)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t bytes = pages > 0 && psize > 0 ?
			 (uint64_t)pages * psize / 2 : (uint64_t)1 << 30;

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->mutex, NULL);
	m->max_blocks = bytes / 512;
	m->max_inodes = bytes / 4096;
	m->next_ino = FUSE_ROOT_ID;
	if (ht_init(&m->inodes, 1024) || ht_init(&m->dentries, 1024))
		return -1;
	m->root = alloc_inode(m, S_IFDIR | 0755, getuid(), getgid());
	return m->root ? 0 : -1;
}

static void memfs_teardown(struct memfs *m)
{
	struct hnode *h, *next;
	struct waiter *w, *wnext;
	size_t i;

	for (i = 0; i < m->dentries.nb; i++)
		for (h = m->dentries.b ? m->dentries.b[i] : NULL; h; h = next) {
			next = h->next;
			free(h);
		}
	for (i = 0; i < m->inodes.nb; i++)
		for (h = m->inodes.b ? m->inodes.b[i] : NULL; h; h = next) {
			next = h->next;
			free_inode_memory((struct inode *)h);
		}
	for (w = m->waiters; w; w = wnext) {
		wnext = w->next;
		free(w);
	}
	free(m->dentries.b);
	free(m->inodes.b);
	free(m->report);
	free(m->store);
	pthread_mutex_destroy(&m->mutex);
}

/* fuse_daemonize() changes to "/", so relative report and store paths
 * must be made absolute first. */
static int absolute_path(char **p)
{
	char *cwd, *path;

	if (!*p || (*p)[0] == '/')
		return 0;
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(&path, "%s/%s", cwd, *p) < 0) {
		free(cwd);
		return -1;
	}
	free(cwd);
	free(*p);
	*p = path;
	return 0;
}

/*
 * With FUSE_USE_VERSION 34, fuse_session_loop_mt() takes the old public
 * struct fuse_loop_config (clone_fd, max_idle_threads); the opaque
 * fuse_loop_cfg_*() objects belong to API 3.12 and must not be passed
 * here.  UINT_MAX means -o max_idle_threads was not given; libfuse would
 * log it as invalid, so use 10 instead, which with libfuse's default of at
 * most 10 workers likewise means "never retire idle threads".
 */
static int run_loop(struct fuse_session *se,
		    const struct fuse_cmdline_opts *opts)
{
	struct fuse_loop_config cfg;

	if (opts->singlethread)
		return fuse_session_loop(se);
	memset(&cfg, 0, sizeof(cfg));
	cfg.clone_fd = opts->clone_fd;
	cfg.max_idle_threads = opts->max_idle_threads == UINT_MAX ?
			       10 : opts->max_idle_threads;
	return fuse_session_loop_mt(se, &cfg);
}

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT [--report=FILE] "
	       "[--store=FILE]\n\n"
	       "memfs options:\n"
	       "    --report=FILE, -o report=FILE\n"
	       "                           write lookup/forget counts to FILE"
	       " at destroy or exit\n"
	       "    --store=FILE, -o store=FILE\n"
	       "                           load the tree from FILE at start,"
	       " save it there\n"
	       "                           at fsync, fsyncdir, destroy and"
	       " exit\n\n", prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* Mount, serve until unmounted or signalled, clean up.  Returns 0 on a
 * normal end (unmount, signal, or the transport closing after destroy:
 * libfuse reports EOF on a socket as an I/O error), 1 on error. */
static int serve(struct memfs *m, struct fuse_args *args,
		 const struct fuse_cmdline_opts *opts)
{
	struct fuse_session *se;
	int ret = -1;

	se = fuse_session_new(args, &memfs_ops, sizeof(memfs_ops), m);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, opts->mountpoint) == 0) {
			if (fuse_daemonize(opts->foreground) == 0)
				ret = run_loop(se, opts);
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);	/* calls destroy if it did not come */
	/* Again at exit: in the multi-threaded loop, forgets still being
	 * processed by other threads may have raced with destroy. */
	save_store(m);
	write_report(m);
	return ret < 0 && !m->destroyed ? 1 : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct memfs m;
	int ret = 1;

	memset(&opts, 0, sizeof(opts));
	if (memfs_setup(&m) != 0) {
		fprintf(stderr, "memfs: out of memory\n");
		return 1;
	}
	if (fuse_opt_parse(&args, &m, memfs_opts, NULL) != 0 ||
	    fuse_parse_cmdline(&args, &opts) != 0)
		goto out;
	if (opts.show_help) {
		usage(argv[0]);
		ret = 0;
	} else if (opts.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
	} else if (!opts.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT "
			"[--report=FILE] [--store=FILE]\n", argv[0]);
	} else if (absolute_path(&m.report) != 0 ||
		   absolute_path(&m.store) != 0) {
		fprintf(stderr, "memfs: cannot resolve report or store path\n");
	} else if (load_store(&m) != 0) {
		ret = 1;
	} else {
		ret = serve(&m, &args, &opts);
	}
out:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	memfs_teardown(&m);
	return ret;
}
