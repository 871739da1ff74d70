/*
 * proto.h - the FUSE wire protocol as libperfuse sees it: one table of
 * per-opcode facts, struct sizes by protocol minor, and the checks that
 * every request and reply goes through.
 *
 * The table is the single source of truth for the codec, the validator,
 * the tracer and the tests.  Sizes come from <linux/fuse.h> and the
 * compatibility sizes it documents (FUSE_COMPAT_*_SIZE).
 */
#ifndef PERFUSE_PROTO_H
#define PERFUSE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <linux/fuse.h>

/* Oldest and newest protocol minor we speak (major is always 7). */
#define PF_MINOR_MIN 8
#define PF_MINOR_MAX FUSE_KERNEL_MINOR_VERSION

/* Highest opcode we know; CUSE_INIT (4096) is handled apart. */
#define PF_OP_MAX 51

#define PF_IN_HDR  sizeof(struct fuse_in_header)   /* 40 */
#define PF_OUT_HDR sizeof(struct fuse_out_header)  /* 16 */

/* The FUSE root node never gets forgotten. */
#define PF_ROOT_ID FUSE_ROOT_ID

/* What follows the fixed part of a request. */
enum pf_in_tail {
	PF_TAIL_NONE,     /* exactly the fixed struct */
	PF_TAIL_NAME,     /* one NUL-terminated name */
	PF_TAIL_NAME2,    /* two NUL-terminated names */
	PF_TAIL_NAMEDATA, /* a name, then opaque bytes (SETXATTR) */
	PF_TAIL_DATA,     /* opaque bytes (WRITE, IOCTL, NOTIFY_REPLY) */
	PF_TAIL_ARRAY,    /* count records of 16 bytes (BATCH_FORGET) */
};

/* What a successful reply carries after the out header. */
enum pf_out_kind {
	PF_OUT_NOREPLY, /* the server never answers (FORGET, BATCH_FORGET) */
	PF_OUT_EMPTY,   /* nothing */
	PF_OUT_FIXED,   /* exactly the struct for the minor */
	PF_OUT_DATA,    /* 0..N bytes, N from the request (READ, READDIR) */
	PF_OUT_XATTR,   /* struct fuse_getxattr_out if size == 0, else data */
	PF_OUT_VAR,     /* fixed struct then up to N bytes (IOCTL) */
	PF_OUT_ERRONLY, /* only an error reply is possible (INTERRUPT) */
};

/* Flags of an opcode. */
#define PF_OPF_LOOKUP  0x01u /* a successful reply adds one lookup reference */
#define PF_OPF_LATCH   0x02u /* ENOSYS turns the operation off for the session */
#define PF_OPF_OPENFH  0x04u /* the reply carries a file handle to release */
#define PF_OPF_RELEASE 0x08u /* the request releases a file handle */
#define PF_OPF_FORGET  0x10u /* the request drops lookup references */
#define PF_OPF_NODE    0x20u /* nodeid in the header must name a live node */

/* A size that changes at one or two protocol minors. */
struct pf_size {
	uint16_t sz[3];   /* size below min[0], below min[1], from min[1] */
	uint8_t min[2];
};

struct pf_opinfo {
	const char *name;       /* "LOOKUP"; NULL for an unassigned opcode */
	uint8_t since;          /* first minor with this opcode */
	uint8_t tail;           /* enum pf_in_tail */
	uint8_t out;            /* enum pf_out_kind */
	uint8_t flags;          /* PF_OPF_* */
	struct pf_size in;      /* fixed request struct */
	struct pf_size outsz;   /* fixed reply struct */
};

/* The opinfo for an opcode, or NULL when the opcode is unknown. */
const struct pf_opinfo *pf_op(uint32_t opcode);

/* A printable name for any opcode ("OP#123" style for unknown ones). */
const char *pf_op_name(uint32_t opcode);

/* Size of a struct pf_size at a minor. */
size_t pf_size_at(const struct pf_size *s, unsigned minor);

/* Fixed request size of an opcode at a minor, 0 for unknown. */
size_t pf_req_fixed(uint32_t opcode, unsigned minor);

/* Fixed reply size of an opcode at a minor. */
size_t pf_reply_fixed(uint32_t opcode, unsigned minor);

/* Some sizes by minor that callers need by name. */
size_t pf_attr_size(unsigned minor);       /* struct fuse_attr: 80 or 88 */
size_t pf_entry_out_size(unsigned minor);  /* 120 or 128 */
size_t pf_attr_out_size(unsigned minor);   /* 96 or 104 */
size_t pf_init_out_size(unsigned minor);   /* 8, 24 or 64 */
size_t pf_init_in_size(unsigned minor);    /* 16 or 64 */

/*
 * Check a request body (after the in header) against the table:
 * fixed part present, names NUL-terminated, array length consistent.
 * setxattr_ext says whether FUSE_SETXATTR_EXT was negotiated.
 * Returns 0 or -EINVAL / -ENOSYS (unknown opcode), with *why set.
 */
int pf_check_request(uint32_t opcode, unsigned minor, int setxattr_ext,
    const void *body, size_t len, const char **why);

/*
 * The largest data payload a reply to this request may carry
 * (read_in.size, getxattr_in.size ...); 0 when the reply has no data.
 */
size_t pf_reply_limit(uint32_t opcode, unsigned minor,
    const void *reqbody, size_t reqlen);

/*
 * Check a reply to a request.  error is the out header's error field,
 * len the payload length after the out header, limit the value of
 * pf_reply_limit() for the request.  Returns 0 when the reply is
 * acceptable, -EIO with *why set when it must be rejected.
 */
int pf_check_reply(uint32_t opcode, unsigned minor, int32_t error,
    size_t len, size_t limit, const char **why);

/* Names and types of notifications, and their minimal body sizes. */
const char *pf_notify_name(int code);
size_t pf_notify_min(int code);
/* The minor that brought notification code (UINT_MAX: unknown here). */
unsigned pf_notify_since(int code);

/*
 * Walk a READDIR (plus == 0) or READDIRPLUS (plus != 0) reply.  Calls fn
 * for each entry; stops early if fn returns nonzero.  Returns the number
 * of entries, or -EIO when an entry is malformed (name with '/' or NUL,
 * empty or over-long name) with *why set.  An entry cut short at the end
 * of the buffer ends the walk, as in the kernel.
 */
struct pf_dirent_view {
	uint64_t ino;
	uint64_t off;
	uint32_t type;
	uint32_t namelen;
	const char *name;                     /* not NUL-terminated */
	const struct fuse_entry_out *entry;  /* READDIRPLUS only, else NULL */
};
typedef int (*pf_dirent_fn)(const struct pf_dirent_view *, void *);
int pf_walk_dirents(const void *buf, size_t len, int plus, unsigned minor,
    pf_dirent_fn fn, void *arg, const char **why);

/* A file type from a mode's type bits is plausible. */
int pf_mode_valid(uint32_t mode);

#endif
