/*
 * proto.c - per-opcode facts of the FUSE protocol and the checks built on
 * them.  See proto.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proto.h"

/* A size that never changes. */
#define SZ(n) { { (n), (n), (n) }, { 0, 0 } }
/* A size that is a below minor m, b from m on. */
#define SZ2(a, m, b) { { (a), (a), (b) }, { (m), (m) } }
/* Three sizes: a below m1, b below m2, c from m2. */
#define SZ3(a, m1, b, m2, c) { { (a), (b), (c) }, { (m1), (m2) } }

#define ENTRY_OUT SZ2(FUSE_COMPAT_ENTRY_OUT_SIZE, 9, sizeof(struct fuse_entry_out))
#define ATTR_OUT SZ2(FUSE_COMPAT_ATTR_OUT_SIZE, 9, sizeof(struct fuse_attr_out))
#define CREATE_OUT SZ2(FUSE_COMPAT_ENTRY_OUT_SIZE + sizeof(struct fuse_open_out), \
    9, sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out))
#define CREATE_IN SZ2(sizeof(struct fuse_open_in), 12, sizeof(struct fuse_create_in))
#define RW_IN(s) SZ2(24, 9, sizeof(s))

static const struct pf_opinfo ops[PF_OP_MAX + 1] = {
	[FUSE_LOOKUP] = { "LOOKUP", 1, PF_TAIL_NAME, PF_OUT_FIXED,
	    PF_OPF_LOOKUP | PF_OPF_NODE, SZ(0), ENTRY_OUT },
	[FUSE_FORGET] = { "FORGET", 1, PF_TAIL_NONE, PF_OUT_NOREPLY,
	    PF_OPF_FORGET, SZ(sizeof(struct fuse_forget_in)), SZ(0) },
	[FUSE_GETATTR] = { "GETATTR", 1, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_NODE, SZ2(0, 9, sizeof(struct fuse_getattr_in)), ATTR_OUT },
	[FUSE_SETATTR] = { "SETATTR", 1, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_NODE, SZ(sizeof(struct fuse_setattr_in)), ATTR_OUT },
	[FUSE_READLINK] = { "READLINK", 1, PF_TAIL_NONE, PF_OUT_DATA,
	    PF_OPF_NODE, SZ(0), SZ(0) },
	[FUSE_SYMLINK] = { "SYMLINK", 1, PF_TAIL_NAME2, PF_OUT_FIXED,
	    PF_OPF_LOOKUP | PF_OPF_NODE, SZ(0), ENTRY_OUT },
	[FUSE_MKNOD] = { "MKNOD", 1, PF_TAIL_NAME, PF_OUT_FIXED,
	    PF_OPF_LOOKUP | PF_OPF_NODE,
	    SZ2(FUSE_COMPAT_MKNOD_IN_SIZE, 12, sizeof(struct fuse_mknod_in)), ENTRY_OUT },
	[FUSE_MKDIR] = { "MKDIR", 1, PF_TAIL_NAME, PF_OUT_FIXED,
	    PF_OPF_LOOKUP | PF_OPF_NODE, SZ(sizeof(struct fuse_mkdir_in)), ENTRY_OUT },
	[FUSE_UNLINK] = { "UNLINK", 1, PF_TAIL_NAME, PF_OUT_EMPTY,
	    PF_OPF_NODE, SZ(0), SZ(0) },
	[FUSE_RMDIR] = { "RMDIR", 1, PF_TAIL_NAME, PF_OUT_EMPTY,
	    PF_OPF_NODE, SZ(0), SZ(0) },
	[FUSE_RENAME] = { "RENAME", 1, PF_TAIL_NAME2, PF_OUT_EMPTY,
	    PF_OPF_NODE, SZ(sizeof(struct fuse_rename_in)), SZ(0) },
	[FUSE_LINK] = { "LINK", 1, PF_TAIL_NAME, PF_OUT_FIXED,
	    PF_OPF_LOOKUP | PF_OPF_NODE, SZ(sizeof(struct fuse_link_in)), ENTRY_OUT },
	[FUSE_OPEN] = { "OPEN", 1, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_OPENFH | PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_open_in)),
	    SZ(sizeof(struct fuse_open_out)) },
	[FUSE_READ] = { "READ", 1, PF_TAIL_NONE, PF_OUT_DATA,
	    PF_OPF_NODE, RW_IN(struct fuse_read_in), SZ(0) },
	[FUSE_WRITE] = { "WRITE", 1, PF_TAIL_DATA, PF_OUT_FIXED,
	    PF_OPF_NODE, SZ2(FUSE_COMPAT_WRITE_IN_SIZE, 9, sizeof(struct fuse_write_in)),
	    SZ(sizeof(struct fuse_write_out)) },
	[FUSE_STATFS] = { "STATFS", 1, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_LATCH, SZ(0), SZ2(FUSE_COMPAT_STATFS_SIZE, 4, sizeof(struct fuse_statfs_out)) },
	[FUSE_RELEASE] = { "RELEASE", 1, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_RELEASE | PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_release_in)), SZ(0) },
	[FUSE_FSYNC] = { "FSYNC", 1, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_fsync_in)), SZ(0) },
	[FUSE_SETXATTR] = { "SETXATTR", 1, PF_TAIL_NAMEDATA, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(FUSE_COMPAT_SETXATTR_IN_SIZE), SZ(0) },
	[FUSE_GETXATTR] = { "GETXATTR", 1, PF_TAIL_NAME, PF_OUT_XATTR,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_getxattr_in)),
	    SZ(sizeof(struct fuse_getxattr_out)) },
	[FUSE_LISTXATTR] = { "LISTXATTR", 1, PF_TAIL_NONE, PF_OUT_XATTR,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_getxattr_in)),
	    SZ(sizeof(struct fuse_getxattr_out)) },
	[FUSE_REMOVEXATTR] = { "REMOVEXATTR", 1, PF_TAIL_NAME, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(0), SZ(0) },
	[FUSE_FLUSH] = { "FLUSH", 1, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_flush_in)), SZ(0) },
	[FUSE_INIT] = { "INIT", 1, PF_TAIL_NONE, PF_OUT_FIXED, 0,
	    SZ2(16, 36, sizeof(struct fuse_init_in)),
	    SZ3(FUSE_COMPAT_INIT_OUT_SIZE, 5, FUSE_COMPAT_22_INIT_OUT_SIZE, 23,
		sizeof(struct fuse_init_out)) },
	[FUSE_OPENDIR] = { "OPENDIR", 1, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_OPENFH | PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_open_in)),
	    SZ(sizeof(struct fuse_open_out)) },
	[FUSE_READDIR] = { "READDIR", 1, PF_TAIL_NONE, PF_OUT_DATA,
	    PF_OPF_NODE, RW_IN(struct fuse_read_in), SZ(0) },
	[FUSE_RELEASEDIR] = { "RELEASEDIR", 1, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_RELEASE | PF_OPF_LATCH | PF_OPF_NODE,
	    SZ(sizeof(struct fuse_release_in)), SZ(0) },
	[FUSE_FSYNCDIR] = { "FSYNCDIR", 2, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_fsync_in)), SZ(0) },
	[FUSE_GETLK] = { "GETLK", 7, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_lk_in)),
	    SZ(sizeof(struct fuse_lk_out)) },
	[FUSE_SETLK] = { "SETLK", 7, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_lk_in)), SZ(0) },
	[FUSE_SETLKW] = { "SETLKW", 7, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_lk_in)), SZ(0) },
	[FUSE_ACCESS] = { "ACCESS", 3, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_access_in)), SZ(0) },
	[FUSE_CREATE] = { "CREATE", 3, PF_TAIL_NAME, PF_OUT_FIXED,
	    PF_OPF_LOOKUP | PF_OPF_OPENFH | PF_OPF_LATCH | PF_OPF_NODE, CREATE_IN,
	    CREATE_OUT },
	[FUSE_INTERRUPT] = { "INTERRUPT", 7, PF_TAIL_NONE, PF_OUT_ERRONLY,
	    PF_OPF_LATCH, SZ(sizeof(struct fuse_interrupt_in)), SZ(0) },
	[FUSE_BMAP] = { "BMAP", 7, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_bmap_in)),
	    SZ(sizeof(struct fuse_bmap_out)) },
	[FUSE_DESTROY] = { "DESTROY", 8, PF_TAIL_NONE, PF_OUT_EMPTY, 0, SZ(0), SZ(0) },
	[FUSE_IOCTL] = { "IOCTL", 11, PF_TAIL_DATA, PF_OUT_VAR,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_ioctl_in)),
	    SZ(sizeof(struct fuse_ioctl_out)) },
	[FUSE_POLL] = { "POLL", 11, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_poll_in)),
	    SZ(sizeof(struct fuse_poll_out)) },
	[FUSE_NOTIFY_REPLY] = { "NOTIFY_REPLY", 15, PF_TAIL_DATA, PF_OUT_NOREPLY, 0,
	    SZ(sizeof(struct fuse_notify_retrieve_in)), SZ(0) },
	[FUSE_BATCH_FORGET] = { "BATCH_FORGET", 16, PF_TAIL_ARRAY, PF_OUT_NOREPLY,
	    PF_OPF_FORGET, SZ(sizeof(struct fuse_batch_forget_in)), SZ(0) },
	[FUSE_FALLOCATE] = { "FALLOCATE", 19, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_fallocate_in)), SZ(0) },
	[FUSE_READDIRPLUS] = { "READDIRPLUS", 21, PF_TAIL_NONE, PF_OUT_DATA,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_read_in)), SZ(0) },
	[FUSE_RENAME2] = { "RENAME2", 23, PF_TAIL_NAME2, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_rename2_in)), SZ(0) },
	[FUSE_LSEEK] = { "LSEEK", 24, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_lseek_in)),
	    SZ(sizeof(struct fuse_lseek_out)) },
	[FUSE_COPY_FILE_RANGE] = { "COPY_FILE_RANGE", 28, PF_TAIL_NONE, PF_OUT_FIXED,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_copy_file_range_in)),
	    SZ(sizeof(struct fuse_write_out)) },
	[FUSE_SETUPMAPPING] = { "SETUPMAPPING", 31, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_setupmapping_in)), SZ(0) },
	[FUSE_REMOVEMAPPING] = { "REMOVEMAPPING", 31, PF_TAIL_ARRAY, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_removemapping_in)), SZ(0) },
	[FUSE_SYNCFS] = { "SYNCFS", 34, PF_TAIL_NONE, PF_OUT_EMPTY,
	    PF_OPF_LATCH | PF_OPF_NODE, SZ(sizeof(struct fuse_syncfs_in)), SZ(0) },
	[FUSE_TMPFILE] = { "TMPFILE", 37, PF_TAIL_NAME, PF_OUT_FIXED,
	    PF_OPF_LOOKUP | PF_OPF_OPENFH | PF_OPF_LATCH | PF_OPF_NODE,
	    SZ(sizeof(struct fuse_create_in)), CREATE_OUT },
};

static const struct pf_opinfo cuse_init = { "CUSE_INIT", 11, PF_TAIL_NONE,
	PF_OUT_VAR, 0, SZ(sizeof(struct cuse_init_in)), SZ(sizeof(struct cuse_init_out)) };

const struct pf_opinfo *
pf_op(uint32_t opcode)
{
	if (opcode == CUSE_INIT)
		return &cuse_init;
	if (opcode > PF_OP_MAX || ops[opcode].name == NULL)
		return NULL;
	return &ops[opcode];
}

const char *
pf_op_name(uint32_t opcode)
{
	/* Enough distinct buffers for a few names in one printf. */
	static _Thread_local char buf[4][24];
	static _Thread_local unsigned next;
	const struct pf_opinfo *op = pf_op(opcode);
	char *b;

	if (op != NULL)
		return op->name;
	b = buf[next++ % 4];
	snprintf(b, sizeof(buf[0]), "OP#%u", opcode);
	return b;
}

size_t
pf_size_at(const struct pf_size *s, unsigned minor)
{
	if (minor < s->min[0])
		return s->sz[0];
	if (minor < s->min[1])
		return s->sz[1];
	return s->sz[2];
}

size_t
pf_req_fixed(uint32_t opcode, unsigned minor)
{
	const struct pf_opinfo *op = pf_op(opcode);

	return op != NULL ? pf_size_at(&op->in, minor) : 0;
}

size_t
pf_reply_fixed(uint32_t opcode, unsigned minor)
{
	const struct pf_opinfo *op = pf_op(opcode);

	return op != NULL ? pf_size_at(&op->outsz, minor) : 0;
}

size_t
pf_attr_size(unsigned minor)
{
	return minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE - 16 : sizeof(struct fuse_attr);
}

size_t
pf_entry_out_size(unsigned minor)
{
	return pf_reply_fixed(FUSE_LOOKUP, minor);
}

size_t
pf_attr_out_size(unsigned minor)
{
	return pf_reply_fixed(FUSE_GETATTR, minor);
}

size_t
pf_init_out_size(unsigned minor)
{
	return pf_reply_fixed(FUSE_INIT, minor);
}

size_t
pf_init_in_size(unsigned minor)
{
	return pf_req_fixed(FUSE_INIT, minor);
}

/* Length of a NUL-terminated string within [p, p+len), or -1. */
static long
name_len(const char *p, size_t len)
{
	const char *nul = memchr(p, '\0', len);

	return nul != NULL ? nul - p : -1;
}

static int
check_tail(const struct pf_opinfo *op, const char *p, size_t len,
    const char **why)
{
	long n;

	switch (op->tail) {
	case PF_TAIL_NONE:
		if (len != 0) {
			*why = "request longer than its struct";
			return -EINVAL;
		}
		return 0;
	case PF_TAIL_NAME:
	case PF_TAIL_NAMEDATA:
		n = name_len(p, len);
		if (n < 0) {
			*why = "name not NUL-terminated";
			return -EINVAL;
		}
		if (op->tail == PF_TAIL_NAME && (size_t)n + 1 != len) {
			*why = "bytes after the name";
			return -EINVAL;
		}
		return 0;
	case PF_TAIL_NAME2:
		n = name_len(p, len);
		if (n < 0 || name_len(p + n + 1, len - n - 1) < 0) {
			*why = "names not NUL-terminated";
			return -EINVAL;
		}
		if ((size_t)n + 1 + (size_t)name_len(p + n + 1, len - n - 1) + 1 != len) {
			*why = "bytes after the second name";
			return -EINVAL;
		}
		return 0;
	case PF_TAIL_DATA:
	case PF_TAIL_ARRAY:
		return 0;
	}
	*why = "bad table entry";
	return -EINVAL;
}

int
pf_check_request(uint32_t opcode, unsigned minor, int setxattr_ext,
    const void *body, size_t len, const char **why)
{
	const struct pf_opinfo *op = pf_op(opcode);
	const char *p = body;
	size_t fixed;

	*why = NULL;
	if (op == NULL) {
		*why = "unknown opcode";
		return -ENOSYS;
	}
	fixed = pf_size_at(&op->in, minor);
	if (opcode == FUSE_SETXATTR && setxattr_ext)
		fixed = sizeof(struct fuse_setxattr_in);
	if (opcode == FUSE_INIT && len >= 16 && len < fixed)
		fixed = 16; /* an old client's short INIT */
	if (len < fixed) {
		*why = "request shorter than its struct";
		return -EINVAL;
	}
	if (op->tail == PF_TAIL_ARRAY) {
		uint32_t count;

		memcpy(&count, p, sizeof(count));
		if ((len - fixed) / 16 != count || (len - fixed) % 16 != 0) {
			*why = "record count does not match the length";
			return -EINVAL;
		}
	}
	if (opcode == FUSE_INIT)
		return 0; /* newer clients may send a longer INIT */
	return check_tail(op, p + fixed, len - fixed, why);
}

size_t
pf_reply_limit(uint32_t opcode, unsigned minor, const void *reqbody,
    size_t reqlen)
{
	const struct pf_opinfo *op = pf_op(opcode);
	uint32_t size;

	if (op == NULL)
		return 0;
	switch (opcode) {
	case FUSE_READ:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		if (reqlen < 24)
			return 0;
		memcpy(&size, (const char *)reqbody + 16, sizeof(size));
		return size;
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
		if (reqlen < 4)
			return 0;
		memcpy(&size, reqbody, sizeof(size));
		return size;
	case FUSE_IOCTL:
		if (reqlen < sizeof(struct fuse_ioctl_in))
			return 0;
		memcpy(&size, (const char *)reqbody + 28, sizeof(size));
		return size;
	case FUSE_READLINK:
		return 4096; /* PATH_MAX: the kernel's page */
	default:
		(void)minor;
		return 0;
	}
}

int
pf_check_reply(uint32_t opcode, unsigned minor, int32_t error, size_t len,
    size_t limit, const char **why)
{
	const struct pf_opinfo *op = pf_op(opcode);
	size_t fixed;

	*why = NULL;
	if (op == NULL) {
		*why = "reply to an unknown opcode";
		return -EIO;
	}
	if (op->out == PF_OUT_NOREPLY) {
		*why = "reply to a request that takes none";
		return -EIO;
	}
	if (error > 0 || error < -4095) {
		*why = "error value out of range";
		return -EIO;
	}
	if (error != 0) {
		if (len != 0) {
			*why = "error reply with a payload";
			return -EIO;
		}
		return 0;
	}
	fixed = pf_size_at(&op->outsz, minor);
	switch (op->out) {
	case PF_OUT_ERRONLY:
		*why = "success reply to a request that only takes errors";
		return -EIO;
	case PF_OUT_EMPTY:
		if (len != 0) {
			*why = "payload in a reply that takes none";
			return -EIO;
		}
		return 0;
	case PF_OUT_FIXED:
		if (len != fixed) {
			*why = len < fixed ? "reply shorter than its struct"
			    : "reply longer than its struct";
			return -EIO;
		}
		return 0;
	case PF_OUT_DATA:
		if (len > limit) {
			*why = "more data than asked for";
			return -EIO;
		}
		return 0;
	case PF_OUT_XATTR:
		if (limit == 0 ? len != fixed : len > limit) {
			*why = limit == 0 ? "xattr size reply of the wrong size"
			    : "more xattr data than asked for";
			return -EIO;
		}
		return 0;
	case PF_OUT_VAR:
		if (len < fixed || len - fixed > limit) {
			*why = "variable reply of the wrong size";
			return -EIO;
		}
		return 0;
	}
	*why = "bad table entry";
	return -EIO;
}

static const struct {
	const char *name;
	size_t min;
	unsigned since;             /* the minor that brought it */
} notifies[] = {
	[FUSE_NOTIFY_POLL] = { "POLL", sizeof(struct fuse_notify_poll_wakeup_out), 11 },
	[FUSE_NOTIFY_INVAL_INODE] = { "INVAL_INODE",
		sizeof(struct fuse_notify_inval_inode_out), 12 },
	[FUSE_NOTIFY_INVAL_ENTRY] = { "INVAL_ENTRY",
		sizeof(struct fuse_notify_inval_entry_out), 12 },
	[FUSE_NOTIFY_STORE] = { "STORE", sizeof(struct fuse_notify_store_out), 15 },
	[FUSE_NOTIFY_RETRIEVE] = { "RETRIEVE", sizeof(struct fuse_notify_retrieve_out), 15 },
	[FUSE_NOTIFY_DELETE] = { "DELETE", sizeof(struct fuse_notify_delete_out), 18 },
};

/* Codes newer than the table (a newer <linux/fuse.h>) are unknown here. */
static int
notify_known(int code)
{
	return code > 0 && (size_t)code < sizeof(notifies) / sizeof(notifies[0]) &&
	    notifies[code].name != NULL;
}

const char *
pf_notify_name(int code)
{
	return notify_known(code) ? notifies[code].name : "NOTIFY_UNKNOWN";
}

size_t
pf_notify_min(int code)
{
	return notify_known(code) ? notifies[code].min : 0;
}

unsigned
pf_notify_since(int code)
{
	return notify_known(code) ? notifies[code].since : UINT_MAX;
}

int
pf_walk_dirents(const void *buf, size_t len, int plus, unsigned minor,
    pf_dirent_fn fn, void *arg, const char **why)
{
	const char *p = buf;
	size_t hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	size_t pos = 0;
	int count = 0;

	(void)minor;
	*why = NULL;
	while (pos < len) {
		struct pf_dirent_view v;
		struct fuse_dirent d;
		size_t reclen;

		/*
		 * Rule, as the kernel has it: an entry cut short at the end of
		 * the reply is not an error but the end of what this reply
		 * says (libfuse2 fills the buffer to the last byte).
		 */
		if (len - pos < hdr)
			break;
		memcpy(&d, p + pos + hdr - FUSE_NAME_OFFSET, FUSE_NAME_OFFSET);
		if (d.namelen == 0 || d.namelen > 1024) {
			*why = "directory entry with a bad name length";
			return -EIO;
		}
		reclen = FUSE_DIRENT_ALIGN(hdr + d.namelen);
		if (hdr + d.namelen > len - pos)
			break;
		v.ino = d.ino;
		v.off = d.off;
		v.type = d.type;
		v.namelen = d.namelen;
		v.name = p + pos + hdr;
		v.entry = plus ? (const struct fuse_entry_out *)(const void *)(p + pos) : NULL;
		if (memchr(v.name, '/', v.namelen) != NULL ||
		    memchr(v.name, '\0', v.namelen) != NULL) {
			*why = "directory entry name with '/' or NUL";
			return -EIO;
		}
		count++;
		if (fn != NULL && fn(&v, arg) != 0)
			break;
		pos += reclen;
	}
	return count;
}

int
pf_mode_valid(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFIFO:
	case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		return 1;
	default:
		return 0;
	}
}
