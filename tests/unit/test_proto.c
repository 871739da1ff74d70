/*
 * test_proto.c - the opcode table, sizes by minor, the request and reply
 * checks and the directory entry walker of lib/proto.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto.h"
#include "unit.h"

/* Every opcode of <linux/fuse.h> up to PF_OP_MAX, by its enum name. */
static const struct {
	uint32_t op;
	const char *name;
	unsigned since;
} known[] = {
	{ FUSE_LOOKUP, "LOOKUP", 1 }, { FUSE_FORGET, "FORGET", 1 },
	{ FUSE_GETATTR, "GETATTR", 1 }, { FUSE_SETATTR, "SETATTR", 1 },
	{ FUSE_READLINK, "READLINK", 1 }, { FUSE_SYMLINK, "SYMLINK", 1 },
	{ FUSE_MKNOD, "MKNOD", 1 }, { FUSE_MKDIR, "MKDIR", 1 },
	{ FUSE_UNLINK, "UNLINK", 1 }, { FUSE_RMDIR, "RMDIR", 1 },
	{ FUSE_RENAME, "RENAME", 1 }, { FUSE_LINK, "LINK", 1 },
	{ FUSE_OPEN, "OPEN", 1 }, { FUSE_READ, "READ", 1 },
	{ FUSE_WRITE, "WRITE", 1 }, { FUSE_STATFS, "STATFS", 1 },
	{ FUSE_RELEASE, "RELEASE", 1 }, { FUSE_FSYNC, "FSYNC", 1 },
	{ FUSE_SETXATTR, "SETXATTR", 1 }, { FUSE_GETXATTR, "GETXATTR", 1 },
	{ FUSE_LISTXATTR, "LISTXATTR", 1 }, { FUSE_REMOVEXATTR, "REMOVEXATTR", 1 },
	{ FUSE_FLUSH, "FLUSH", 1 }, { FUSE_INIT, "INIT", 1 },
	{ FUSE_OPENDIR, "OPENDIR", 1 }, { FUSE_READDIR, "READDIR", 1 },
	{ FUSE_RELEASEDIR, "RELEASEDIR", 1 }, { FUSE_FSYNCDIR, "FSYNCDIR", 0 },
	{ FUSE_GETLK, "GETLK", 0 }, { FUSE_SETLK, "SETLK", 0 },
	{ FUSE_SETLKW, "SETLKW", 0 }, { FUSE_ACCESS, "ACCESS", 0 },
	{ FUSE_CREATE, "CREATE", 0 }, { FUSE_INTERRUPT, "INTERRUPT", 0 },
	{ FUSE_BMAP, "BMAP", 0 }, { FUSE_DESTROY, "DESTROY", 8 },
	{ FUSE_IOCTL, "IOCTL", 11 }, { FUSE_POLL, "POLL", 11 },
	{ FUSE_NOTIFY_REPLY, "NOTIFY_REPLY", 15 },
	{ FUSE_BATCH_FORGET, "BATCH_FORGET", 16 },
	{ FUSE_FALLOCATE, "FALLOCATE", 19 }, { FUSE_READDIRPLUS, "READDIRPLUS", 21 },
	{ FUSE_RENAME2, "RENAME2", 23 }, { FUSE_LSEEK, "LSEEK", 24 },
	{ FUSE_COPY_FILE_RANGE, "COPY_FILE_RANGE", 28 },
	{ FUSE_SETUPMAPPING, "SETUPMAPPING", 31 },
	{ FUSE_REMOVEMAPPING, "REMOVEMAPPING", 31 },
	{ FUSE_SYNCFS, "SYNCFS", 34 }, { FUSE_TMPFILE, "TMPFILE", 37 },
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

static void
test_table(void)
{
	char want[32];
	size_t i;
	uint32_t op;

	group("opcode table: every opcode of <linux/fuse.h> named");
	check_eq((long long)NKNOWN, 49, "opcodes 1..51 less the two holes", __LINE__);
	for (i = 0; i < NKNOWN; i++) {
		const struct pf_opinfo *o = pf_op(known[i].op);

		if (!checkf(o != NULL, __LINE__, "pf_op(%u) is NULL", known[i].op))
			continue;
		checkf(o->name != NULL && strcmp(o->name, known[i].name) == 0, __LINE__,
		    "pf_op(%u)->name \"%s\", want \"%s\"", known[i].op,
		    o->name ? o->name : "(null)", known[i].name);
		check_str(pf_op_name(known[i].op), known[i].name, "pf_op_name", __LINE__);
		/* "since" given only where we are sure of it (0: not checked). */
		if (known[i].since != 0)
			checkf(o->since == known[i].since, __LINE__,
			    "%s since 7.%u, want 7.%u", known[i].name, o->since,
			    known[i].since);
		checkf(o->since <= PF_MINOR_MAX, __LINE__, "%s since 7.%u beyond 7.%u",
		    known[i].name, o->since, PF_MINOR_MAX);
	}

	group("opcode table: unknown opcodes");
	{
		static const uint32_t unknown[] = { 0, 7, 19, 52, 53, 100, 4095, 4097,
			0xffffffffu };

		for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
			op = unknown[i];
			checkf(pf_op(op) == NULL, __LINE__, "pf_op(%u) not NULL", op);
			snprintf(want, sizeof(want), "OP#%u", op);
			check_str(pf_op_name(op), want, "pf_op_name of an unknown opcode",
			    __LINE__);
			check_eq((long long)pf_req_fixed(op, 38), 0, "pf_req_fixed unknown",
			    __LINE__);
		}
	}
	/* Several unknown names alive at once (as in one printf). */
	{
		const char *a = pf_op_name(7), *b = pf_op_name(19), *c = pf_op_name(99);

		check_str(a, "OP#7", "first of three names in a row", __LINE__);
		check_str(b, "OP#19", "second of three names in a row", __LINE__);
		check_str(c, "OP#99", "third of three names in a row", __LINE__);
	}
	check(pf_op(CUSE_INIT) != NULL, "CUSE_INIT has an entry", __LINE__);
	check_str(pf_op_name(CUSE_INIT), "CUSE_INIT", "CUSE_INIT name", __LINE__);

	group("opcode table: kinds and flags");
	check(pf_op(FUSE_FORGET)->out == PF_OUT_NOREPLY, "FORGET takes no reply", __LINE__);
	check(pf_op(FUSE_BATCH_FORGET)->out == PF_OUT_NOREPLY,
	    "BATCH_FORGET takes no reply", __LINE__);
	check(pf_op(FUSE_BATCH_FORGET)->tail == PF_TAIL_ARRAY,
	    "BATCH_FORGET carries an array", __LINE__);
	check(pf_op(FUSE_SYMLINK)->tail == PF_TAIL_NAME2, "SYMLINK two names", __LINE__);
	check(pf_op(FUSE_RENAME)->tail == PF_TAIL_NAME2, "RENAME two names", __LINE__);
	check(pf_op(FUSE_RENAME2)->tail == PF_TAIL_NAME2, "RENAME2 two names", __LINE__);
	check(pf_op(FUSE_LOOKUP)->tail == PF_TAIL_NAME, "LOOKUP one name", __LINE__);
	check(pf_op(FUSE_READ)->out == PF_OUT_DATA, "READ replies with data", __LINE__);
	check(pf_op(FUSE_GETXATTR)->out == PF_OUT_XATTR, "GETXATTR xattr reply", __LINE__);
	check((pf_op(FUSE_LOOKUP)->flags & PF_OPF_LOOKUP) != 0,
	    "LOOKUP adds a reference", __LINE__);
	check((pf_op(FUSE_CREATE)->flags & (PF_OPF_LOOKUP | PF_OPF_OPENFH | PF_OPF_LATCH))
	    == (PF_OPF_LOOKUP | PF_OPF_OPENFH | PF_OPF_LATCH),
	    "CREATE: reference, handle, latch", __LINE__);
	check((pf_op(FUSE_MKNOD)->flags & PF_OPF_LOOKUP) != 0, "MKNOD adds a reference",
	    __LINE__);
	check((pf_op(FUSE_GETATTR)->flags & PF_OPF_LOOKUP) == 0,
	    "GETATTR adds no reference", __LINE__);
	check((pf_op(FUSE_FORGET)->flags & PF_OPF_FORGET) != 0, "FORGET forgets", __LINE__);
}

static void
test_sizes(void)
{
	unsigned m;

	group("sizes by minor: entry_out, attr_out, attr");
	check_eq((long long)pf_entry_out_size(8), 120, "entry_out at 7.8", __LINE__);
	for (m = 9; m <= PF_MINOR_MAX; m++)
		checkf(pf_entry_out_size(m) == 128, __LINE__, "entry_out at 7.%u: %zu", m,
		    pf_entry_out_size(m));
	check_eq((long long)pf_attr_out_size(8), 96, "attr_out at 7.8", __LINE__);
	for (m = 9; m <= PF_MINOR_MAX; m++)
		checkf(pf_attr_out_size(m) == 104, __LINE__, "attr_out at 7.%u: %zu", m,
		    pf_attr_out_size(m));
	check_eq((long long)pf_attr_size(8), 80, "fuse_attr at 7.8", __LINE__);
	check_eq((long long)pf_attr_size(9), 88, "fuse_attr at 7.9", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_LOOKUP, 8), 120, "LOOKUP reply 7.8", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_MKDIR, 9), 128, "MKDIR reply 7.9", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_SETATTR, 8), 96, "SETATTR reply 7.8", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_CREATE, 8), 120 + 16, "CREATE reply 7.8",
	    __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_CREATE, 9), 128 + 16, "CREATE reply 7.9",
	    __LINE__);

	group("sizes by minor: init_out and init_in");
	for (m = 0; m < 5; m++)
		checkf(pf_init_out_size(m) == 8, __LINE__, "init_out at 7.%u: %zu", m,
		    pf_init_out_size(m));
	for (m = 5; m <= 22; m++)
		checkf(pf_init_out_size(m) == 24, __LINE__, "init_out at 7.%u: %zu", m,
		    pf_init_out_size(m));
	for (m = 23; m <= 45; m++)
		checkf(pf_init_out_size(m) == 64, __LINE__, "init_out at 7.%u: %zu", m,
		    pf_init_out_size(m));
	check_eq((long long)pf_init_in_size(8), 16, "init_in at 7.8", __LINE__);
	check_eq((long long)pf_init_in_size(20), 16, "init_in at 7.20", __LINE__);
	check_eq((long long)pf_init_in_size(35), 16, "init_in at 7.35", __LINE__);
	check_eq((long long)pf_init_in_size(36), 64, "init_in at 7.36", __LINE__);
	check_eq((long long)pf_init_in_size(38), 64, "init_in at 7.38", __LINE__);

	group("sizes by minor: request structs");
	check_eq((long long)pf_req_fixed(FUSE_WRITE, 8), 24, "write_in at 7.8", __LINE__);
	for (m = 9; m <= PF_MINOR_MAX; m++)
		checkf(pf_req_fixed(FUSE_WRITE, m) == 40, __LINE__, "write_in at 7.%u: %zu",
		    m, pf_req_fixed(FUSE_WRITE, m));
	check_eq((long long)pf_req_fixed(FUSE_READ, 8), 24, "read_in at 7.8", __LINE__);
	check_eq((long long)pf_req_fixed(FUSE_READ, 9), 40, "read_in at 7.9", __LINE__);
	check_eq((long long)pf_req_fixed(FUSE_GETATTR, 8), 0, "getattr_in at 7.8", __LINE__);
	for (m = 9; m <= PF_MINOR_MAX; m++)
		checkf(pf_req_fixed(FUSE_GETATTR, m) == 16, __LINE__,
		    "getattr_in at 7.%u: %zu", m, pf_req_fixed(FUSE_GETATTR, m));
	for (m = 8; m < 12; m++) {
		checkf(pf_req_fixed(FUSE_MKNOD, m) == 8, __LINE__, "mknod_in at 7.%u: %zu",
		    m, pf_req_fixed(FUSE_MKNOD, m));
		checkf(pf_req_fixed(FUSE_CREATE, m) == 8, __LINE__,
		    "create_in at 7.%u: %zu", m, pf_req_fixed(FUSE_CREATE, m));
	}
	for (m = 12; m <= PF_MINOR_MAX; m++) {
		checkf(pf_req_fixed(FUSE_MKNOD, m) == 16, __LINE__, "mknod_in at 7.%u: %zu",
		    m, pf_req_fixed(FUSE_MKNOD, m));
		checkf(pf_req_fixed(FUSE_CREATE, m) == 16, __LINE__,
		    "create_in at 7.%u: %zu", m, pf_req_fixed(FUSE_CREATE, m));
	}
	check_eq((long long)pf_req_fixed(FUSE_LOOKUP, 38), 0, "lookup fixed part", __LINE__);
	check_eq((long long)pf_req_fixed(FUSE_RENAME, 38), 8, "rename_in", __LINE__);
	check_eq((long long)pf_req_fixed(FUSE_BATCH_FORGET, 38), 8, "batch_forget_in",
	    __LINE__);
	check_eq((long long)pf_req_fixed(FUSE_FORGET, 8), 8, "forget_in", __LINE__);
	check_eq((long long)pf_req_fixed(FUSE_SETXATTR, 38), 8, "setxattr_in (no EXT)",
	    __LINE__);

	group("sizes by minor: reply structs");
	for (m = 8; m <= PF_MINOR_MAX; m++)
		checkf(pf_reply_fixed(FUSE_STATFS, m) == 80, __LINE__,
		    "statfs_out at 7.%u: %zu", m, pf_reply_fixed(FUSE_STATFS, m));
	check_eq((long long)pf_reply_fixed(FUSE_OPEN, 8), 16, "open_out", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_WRITE, 8), 8, "write_out", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_GETXATTR, 38), 8, "getxattr_out", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_LSEEK, 38), 8, "lseek_out", __LINE__);
	check_eq((long long)pf_reply_fixed(FUSE_UNLINK, 38), 0, "unlink: no struct", __LINE__);
}

/* One reply check with its expected outcome. */
static void
reply_case(uint32_t op, unsigned minor, int32_t error, size_t len, size_t limit,
    int want, int line)
{
	const char *why = "untouched";
	int r = pf_check_reply(op, minor, error, len, limit, &why);

	checkf(r == want, line, "pf_check_reply(%s, 7.%u, error %d, len %zu, limit %zu)"
	    " = %d, want %d (%s)", pf_op_name(op), minor, (int)error, len, limit, r,
	    want, why ? why : "no reason");
	if (want != 0)
		checkf(r != want || (why != NULL && why[0] != '\0'), line,
		    "pf_check_reply(%s, len %zu) rejected without a reason",
		    pf_op_name(op), len);
}

static void
test_check_reply(void)
{
	struct fuse_read_in rd;
	struct fuse_getxattr_in gx;
	size_t lim;
	unsigned m;

	group("pf_check_reply: exact fixed sizes");
	for (m = 8; m <= PF_MINOR_MAX; m++) {
		size_t e = m < 9 ? 120 : 128, a = m < 9 ? 96 : 104;

		reply_case(FUSE_LOOKUP, m, 0, e, 0, 0, __LINE__);
		reply_case(FUSE_LOOKUP, m, 0, e - 1, 0, -EIO, __LINE__);
		reply_case(FUSE_LOOKUP, m, 0, e + 1, 0, -EIO, __LINE__);
		reply_case(FUSE_GETATTR, m, 0, a, 0, 0, __LINE__);
		reply_case(FUSE_GETATTR, m, 0, a - 1, 0, -EIO, __LINE__);
		reply_case(FUSE_GETATTR, m, 0, a + 1, 0, -EIO, __LINE__);
		reply_case(FUSE_CREATE, m, 0, e + 16, 0, 0, __LINE__);
		reply_case(FUSE_CREATE, m, 0, e + 15, 0, -EIO, __LINE__);
		reply_case(FUSE_STATFS, m, 0, 80, 0, 0, __LINE__);
		reply_case(FUSE_STATFS, m, 0, 79, 0, -EIO, __LINE__);
		reply_case(FUSE_STATFS, m, 0, 48, 0, -EIO, __LINE__);
	}
	/* The other minor's size is wrong too. */
	reply_case(FUSE_LOOKUP, 8, 0, 128, 0, -EIO, __LINE__);
	reply_case(FUSE_LOOKUP, 9, 0, 120, 0, -EIO, __LINE__);
	reply_case(FUSE_GETATTR, 8, 0, 104, 0, -EIO, __LINE__);
	reply_case(FUSE_INIT, 19, 0, 24, 0, 0, __LINE__);
	reply_case(FUSE_INIT, 19, 0, 64, 0, -EIO, __LINE__);
	reply_case(FUSE_INIT, 23, 0, 64, 0, 0, __LINE__);
	reply_case(FUSE_INIT, 23, 0, 24, 0, -EIO, __LINE__);
	reply_case(FUSE_OPEN, 38, 0, 16, 0, 0, __LINE__);
	reply_case(FUSE_OPEN, 38, 0, 15, 0, -EIO, __LINE__);
	reply_case(FUSE_OPEN, 38, 0, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_WRITE, 38, 0, 8, 0, 0, __LINE__);
	reply_case(FUSE_WRITE, 38, 0, 9, 0, -EIO, __LINE__);
	reply_case(FUSE_UNLINK, 38, 0, 0, 0, 0, __LINE__);
	reply_case(FUSE_UNLINK, 38, 0, 1, 0, -EIO, __LINE__);
	reply_case(FUSE_DESTROY, 38, 0, 0, 0, 0, __LINE__);
	reply_case(FUSE_DESTROY, 38, 0, 8, 0, -EIO, __LINE__);

	group("pf_check_reply: error values");
	reply_case(FUSE_LOOKUP, 38, -ENOENT, 0, 0, 0, __LINE__);
	reply_case(FUSE_LOOKUP, 38, -1, 0, 0, 0, __LINE__);
	reply_case(FUSE_LOOKUP, 38, -4095, 0, 0, 0, __LINE__);
	reply_case(FUSE_LOOKUP, 38, -4096, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_LOOKUP, 38, -5000, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_LOOKUP, 38, INT32_MIN, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_LOOKUP, 38, 1, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_LOOKUP, 38, 5, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_GETATTR, 38, 5, 104, 0, -EIO, __LINE__);
	/* An error carries nothing. */
	reply_case(FUSE_LOOKUP, 38, -ENOENT, 128, 0, -EIO, __LINE__);
	reply_case(FUSE_READ, 38, -EIO, 1, 4096, -EIO, __LINE__);
	reply_case(FUSE_UNLINK, 38, -EACCES, 4, 0, -EIO, __LINE__);
	/* INTERRUPT only ever gets an error. */
	reply_case(FUSE_INTERRUPT, 38, -EAGAIN, 0, 0, 0, __LINE__);
	reply_case(FUSE_INTERRUPT, 38, 0, 0, 0, -EIO, __LINE__);

	group("pf_check_reply: no reply to FORGET and BATCH_FORGET");
	reply_case(FUSE_FORGET, 38, 0, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_FORGET, 8, -ENOENT, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_BATCH_FORGET, 38, 0, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_BATCH_FORGET, 38, -ENOSYS, 0, 0, -EIO, __LINE__);
	reply_case(FUSE_NOTIFY_REPLY, 38, 0, 0, 0, -EIO, __LINE__);
	reply_case(7, 38, 0, 0, 0, -EIO, __LINE__);
	reply_case(52, 38, -ENOSYS, 0, 0, -EIO, __LINE__);

	group("pf_check_reply: READ data against pf_reply_limit");
	memset(&rd, 0, sizeof(rd));
	rd.fh = 5;
	rd.offset = 1 << 20;
	rd.size = 8192;
	lim = pf_reply_limit(FUSE_READ, 38, &rd, sizeof(rd));
	check_eq((long long)lim, 8192, "limit of a 7.38 fuse_read_in", __LINE__);
	reply_case(FUSE_READ, 38, 0, 0, lim, 0, __LINE__);
	reply_case(FUSE_READ, 38, 0, 100, lim, 0, __LINE__);
	reply_case(FUSE_READ, 38, 0, 8192, lim, 0, __LINE__);
	reply_case(FUSE_READ, 38, 0, 8193, lim, -EIO, __LINE__);
	/* The 24-byte read_in of 7.8 has size at the same place. */
	rd.size = 300;
	lim = pf_reply_limit(FUSE_READ, 8, &rd, 24);
	check_eq((long long)lim, 300, "limit of a 7.8 (24-byte) fuse_read_in", __LINE__);
	reply_case(FUSE_READ, 8, 0, 300, lim, 0, __LINE__);
	reply_case(FUSE_READ, 8, 0, 301, lim, -EIO, __LINE__);
	rd.size = 4096;
	lim = pf_reply_limit(FUSE_READDIR, 38, &rd, sizeof(rd));
	check_eq((long long)lim, 4096, "READDIR limit", __LINE__);
	reply_case(FUSE_READDIR, 38, 0, 4097, lim, -EIO, __LINE__);
	lim = pf_reply_limit(FUSE_READDIRPLUS, 38, &rd, sizeof(rd));
	check_eq((long long)lim, 4096, "READDIRPLUS limit", __LINE__);
	check_eq((long long)pf_reply_limit(FUSE_READ, 38, &rd, 10), 0,
	    "limit of a truncated read_in", __LINE__);
	check_eq((long long)pf_reply_limit(FUSE_GETATTR, 38, &rd, sizeof(rd)), 0,
	    "no data limit for GETATTR", __LINE__);
	lim = pf_reply_limit(FUSE_READLINK, 38, NULL, 0);
	check(lim >= 1024, "READLINK has a data limit", __LINE__);
	reply_case(FUSE_READLINK, 38, 0, lim, lim, 0, __LINE__);
	reply_case(FUSE_READLINK, 38, 0, lim + 1, lim, -EIO, __LINE__);

	group("pf_check_reply: GETXATTR size query vs data");
	memset(&gx, 0, sizeof(gx));
	gx.size = 0;
	lim = pf_reply_limit(FUSE_GETXATTR, 38, &gx, sizeof(gx));
	check_eq((long long)lim, 0, "limit of a size query", __LINE__);
	reply_case(FUSE_GETXATTR, 38, 0, sizeof(struct fuse_getxattr_out), lim, 0, __LINE__);
	reply_case(FUSE_GETXATTR, 38, 0, 0, lim, -EIO, __LINE__);
	reply_case(FUSE_GETXATTR, 38, 0, 7, lim, -EIO, __LINE__);
	reply_case(FUSE_GETXATTR, 38, 0, 9, lim, -EIO, __LINE__);
	reply_case(FUSE_GETXATTR, 38, -ERANGE, 0, lim, 0, __LINE__);
	gx.size = 100;
	lim = pf_reply_limit(FUSE_GETXATTR, 38, &gx, sizeof(gx));
	check_eq((long long)lim, 100, "limit of a data request", __LINE__);
	reply_case(FUSE_GETXATTR, 38, 0, 100, lim, 0, __LINE__);
	reply_case(FUSE_GETXATTR, 38, 0, 8, lim, 0, __LINE__);
	reply_case(FUSE_GETXATTR, 38, 0, 101, lim, -EIO, __LINE__);
	reply_case(FUSE_GETXATTR, 38, -ERANGE, 0, lim, 0, __LINE__);
	lim = pf_reply_limit(FUSE_LISTXATTR, 38, &gx, sizeof(gx));
	reply_case(FUSE_LISTXATTR, 38, 0, 100, lim, 0, __LINE__);
	reply_case(FUSE_LISTXATTR, 38, 0, 101, lim, -EIO, __LINE__);
	reply_case(FUSE_LISTXATTR, 38, 0, 8, 0, 0, __LINE__);
	reply_case(FUSE_LISTXATTR, 38, 0, 100, 0, -EIO, __LINE__);
}

/* One request check with its expected outcome. */
static void
req_case(uint32_t op, unsigned minor, int ext, const void *body, size_t len,
    int want, int line)
{
	const char *why = "untouched";
	int r = pf_check_request(op, minor, ext, body, len, &why);

	checkf(r == want, line, "pf_check_request(%s, 7.%u, len %zu) = %d, want %d (%s)",
	    pf_op_name(op), minor, len, r, want, why ? why : "no reason");
	if (want != 0)
		checkf(r != want || (why != NULL && why[0] != '\0'), line,
		    "pf_check_request(%s, len %zu) rejected without a reason",
		    pf_op_name(op), len);
}

static void
test_check_request(void)
{
	unsigned char b[512];
	struct fuse_rename_in rn;
	struct fuse_batch_forget_in bf;
	struct fuse_forget_one one[3];
	struct fuse_mknod_in mk;

	group("pf_check_request: names");
	req_case(FUSE_LOOKUP, 38, 0, "abc", 4, 0, __LINE__);
	req_case(FUSE_LOOKUP, 38, 0, "abc", 3, -EINVAL, __LINE__);
	req_case(FUSE_LOOKUP, 38, 0, "abc\0x", 5, -EINVAL, __LINE__);
	req_case(FUSE_LOOKUP, 38, 0, "", 0, -EINVAL, __LINE__);
	req_case(FUSE_UNLINK, 38, 0, "f", 2, 0, __LINE__);
	req_case(FUSE_UNLINK, 38, 0, "ff", 2, -EINVAL, __LINE__);
	req_case(FUSE_GETXATTR, 38, 0, "\144\0\0\0\0\0\0\0user.x", 15, 0, __LINE__);
	req_case(FUSE_GETXATTR, 38, 0, "\144\0\0\0\0\0\0\0user.x", 14, -EINVAL, __LINE__);

	group("pf_check_request: two names (SYMLINK, RENAME)");
	req_case(FUSE_SYMLINK, 38, 0, "target\0link", 12, 0, __LINE__);
	req_case(FUSE_SYMLINK, 38, 0, "target\0link", 11, -EINVAL, __LINE__);
	req_case(FUSE_SYMLINK, 38, 0, "target", 7, -EINVAL, __LINE__);
	req_case(FUSE_SYMLINK, 38, 0, "target", 6, -EINVAL, __LINE__);
	memset(&rn, 0, sizeof(rn));
	rn.newdir = 7;
	memcpy(b, &rn, sizeof(rn));
	memcpy(b + sizeof(rn), "old\0new", 8);
	req_case(FUSE_RENAME, 38, 0, b, sizeof(rn) + 8, 0, __LINE__);
	req_case(FUSE_RENAME, 38, 0, b, sizeof(rn) + 4, -EINVAL, __LINE__);
	req_case(FUSE_RENAME, 38, 0, b, sizeof(rn) + 7, -EINVAL, __LINE__);
	req_case(FUSE_RENAME, 38, 0, b, sizeof(rn), -EINVAL, __LINE__);
	/* The fixed part is not a name: a short rename_in is refused. */
	req_case(FUSE_RENAME, 38, 0, "a\0b\0", 4, -EINVAL, __LINE__);

	group("pf_check_request: BATCH_FORGET count vs length");
	memset(&bf, 0, sizeof(bf));
	memset(one, 0, sizeof(one));
	one[0].nodeid = 2; one[0].nlookup = 1;
	one[1].nodeid = 3; one[1].nlookup = 5;
	one[2].nodeid = 4; one[2].nlookup = 2;
	bf.count = 2;
	memcpy(b, &bf, sizeof(bf));
	memcpy(b + sizeof(bf), one, sizeof(one));
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8 + 2 * 16, 0, __LINE__);
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8 + 3 * 16, -EINVAL, __LINE__);
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8 + 1 * 16, -EINVAL, __LINE__);
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8 + 2 * 16 + 8, -EINVAL, __LINE__);
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8 + 2 * 16 - 1, -EINVAL, __LINE__);
	bf.count = 3;
	memcpy(b, &bf, sizeof(bf));
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8 + 3 * 16, 0, __LINE__);
	bf.count = 0;
	memcpy(b, &bf, sizeof(bf));
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8, 0, __LINE__);
	bf.count = 0x10000001u; /* 16 * count wraps in 32 bits */
	memcpy(b, &bf, sizeof(bf));
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 8 + 16, -EINVAL, __LINE__);
	req_case(FUSE_BATCH_FORGET, 38, 0, b, 4, -EINVAL, __LINE__);

	group("pf_check_request: fixed parts");
	memset(b, 0, sizeof(b));
	req_case(FUSE_READ, 38, 0, b, 40, 0, __LINE__);
	req_case(FUSE_READ, 38, 0, b, 39, -EINVAL, __LINE__);
	req_case(FUSE_READ, 38, 0, b, 41, -EINVAL, __LINE__);
	req_case(FUSE_READ, 8, 0, b, 24, 0, __LINE__);
	req_case(FUSE_READ, 8, 0, b, 23, -EINVAL, __LINE__);
	req_case(FUSE_WRITE, 38, 0, b, 40 + 100, 0, __LINE__);
	req_case(FUSE_WRITE, 38, 0, b, 24, -EINVAL, __LINE__);
	req_case(FUSE_WRITE, 8, 0, b, 24, 0, __LINE__);
	req_case(FUSE_WRITE, 8, 0, b, 23, -EINVAL, __LINE__);
	req_case(FUSE_GETATTR, 8, 0, b, 0, 0, __LINE__);
	req_case(FUSE_GETATTR, 38, 0, b, 16, 0, __LINE__);
	req_case(FUSE_GETATTR, 38, 0, b, 0, -EINVAL, __LINE__);
	req_case(FUSE_GETATTR, 38, 0, b, 15, -EINVAL, __LINE__);
	req_case(FUSE_GETATTR, 38, 0, b, 17, -EINVAL, __LINE__);
	req_case(FUSE_OPEN, 38, 0, b, 7, -EINVAL, __LINE__);
	req_case(FUSE_SETATTR, 38, 0, b, sizeof(struct fuse_setattr_in) - 1, -EINVAL,
	    __LINE__);
	req_case(FUSE_FORGET, 38, 0, b, 8, 0, __LINE__);
	req_case(FUSE_FORGET, 38, 0, b, 4, -EINVAL, __LINE__);
	req_case(FUSE_DESTROY, 38, 0, b, 0, 0, __LINE__);
	req_case(FUSE_DESTROY, 38, 0, b, 1, -EINVAL, __LINE__);
	req_case(FUSE_INIT, 38, 0, b, 8, -EINVAL, __LINE__);
	req_case(FUSE_INIT, 38, 0, b, 64, 0, __LINE__);
	/* MKNOD: 8 bytes before 7.12, 16 from it, then the name. */
	memset(&mk, 0, sizeof(mk));
	mk.mode = S_IFREG | 0644;
	memcpy(b, &mk, sizeof(mk));
	memcpy(b + 16, "node", 5);
	req_case(FUSE_MKNOD, 38, 0, b, 16 + 5, 0, __LINE__);
	memcpy(b + 8, "node", 5);
	req_case(FUSE_MKNOD, 11, 0, b, 8 + 5, 0, __LINE__);
	req_case(FUSE_MKNOD, 12, 0, b, 8 + 5, -EINVAL, __LINE__);
	/* CREATE likewise. */
	memset(b, 0, 16);
	memcpy(b + 16, "new", 4);
	req_case(FUSE_CREATE, 38, 0, b, 16 + 4, 0, __LINE__);
	req_case(FUSE_CREATE, 38, 0, b, 8, -EINVAL, __LINE__);
	/* SETXATTR: 8 bytes, 16 with SETXATTR_EXT; name then value. */
	memset(b, 0, 16);
	memcpy(b + 8, "user.a\0val", 10);
	req_case(FUSE_SETXATTR, 38, 0, b, 8 + 10, 0, __LINE__);
	req_case(FUSE_SETXATTR, 38, 0, b, 8 + 6, -EINVAL, __LINE__);
	memcpy(b + 16, "user.a\0val", 10);
	req_case(FUSE_SETXATTR, 38, 1, b, 16 + 10, 0, __LINE__);
	req_case(FUSE_SETXATTR, 38, 1, b, 12, -EINVAL, __LINE__);
	/* Unknown opcodes. */
	req_case(7, 38, 0, b, 0, -ENOSYS, __LINE__);
	req_case(52, 38, 0, b, 0, -ENOSYS, __LINE__);
}

/* ------------------------------------------------------------------ */
/* Directory entries.                                                    */

struct dbuf {
	uint64_t words[512];  /* 8-byte aligned, as the walker's entry pointer needs */
	size_t len;
};

static void
add_dirent(struct dbuf *d, int plus, uint64_t ino, uint64_t off, uint32_t type,
    const char *name, size_t namelen, uint64_t size)
{
	char *p = (char *)d->words + d->len;
	size_t hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	size_t rec = FUSE_DIRENT_ALIGN(hdr + namelen);
	struct fuse_dirent de;

	memset(p, 0, rec);
	if (plus) {
		struct fuse_entry_out e;

		memset(&e, 0, sizeof(e));
		e.nodeid = ino + 1000;
		e.generation = 1;
		e.attr.ino = ino;
		e.attr.size = size;
		e.attr.mode = S_IFREG | 0644;
		memcpy(p, &e, sizeof(e));
	}
	de.ino = ino;
	de.off = off;
	de.namelen = (uint32_t)namelen;
	de.type = type;
	memcpy(p + hdr - FUSE_NAME_OFFSET, &de, FUSE_NAME_OFFSET);
	memcpy(p + hdr, name, namelen);
	d->len += rec;
}

struct seen {
	int n;
	int stop_after;   /* fn returns 1 after this many calls (0: never) */
	uint64_t ino[8], off[8], nodeid[8], size[8];
	uint32_t type[8];
	char name[8][64];
	int has_entry[8];
};

static int
collect(const struct pf_dirent_view *v, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8) {
		size_t k = v->namelen < 63 ? v->namelen : 63;

		s->ino[s->n] = v->ino;
		s->off[s->n] = v->off;
		s->type[s->n] = v->type;
		memcpy(s->name[s->n], v->name, k);
		s->name[s->n][k] = '\0';
		s->has_entry[s->n] = v->entry != NULL;
		if (v->entry != NULL) {
			s->nodeid[s->n] = v->entry->nodeid;
			s->size[s->n] = v->entry->attr.size;
		}
	}
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static void
walk_case(const struct dbuf *d, int plus, int want, const char *what, int line)
{
	struct seen s;
	const char *why = "untouched";
	int r;

	memset(&s, 0, sizeof(s));
	r = pf_walk_dirents(d->words, d->len, plus, 38, collect, &s, &why);
	checkf(r == want, line, "%s: pf_walk_dirents = %d, want %d (%s)", what, r, want,
	    why ? why : "no reason");
	if (want < 0)
		checkf(why != NULL && why[0] != '\0', line, "%s: rejected without reason",
		    what);
}

static void
test_dirents(void)
{
	static const char *names[3] = { ".", "hello", "a-longer-name.txt" };
	static const uint32_t types[3] = { DT_DIR, DT_REG, DT_LNK };
	struct dbuf d;
	struct seen s;
	const char *why;
	int plus, i, r;

	for (plus = 0; plus <= 1; plus++) {
		group(plus ? "pf_walk_dirents: READDIRPLUS buffer"
		    : "pf_walk_dirents: READDIR buffer");
		memset(&d, 0, sizeof(d));
		for (i = 0; i < 3; i++)
			add_dirent(&d, plus, 10 + (uint64_t)i, 100 + (uint64_t)i, types[i],
			    names[i], strlen(names[i]), 5000 + (uint64_t)i);
		check_eq((long long)d.len, plus ? (152 + 8) + (152 + 8) + (152 + 24)
		    : 32 + 32 + 48, "hand-built buffer length", __LINE__);
		memset(&s, 0, sizeof(s));
		why = NULL;
		r = pf_walk_dirents(d.words, d.len, plus, 38, collect, &s, &why);
		check_eq(r, 3, "entries walked", __LINE__);
		check_eq(s.n, 3, "callbacks made", __LINE__);
		for (i = 0; i < 3 && i < s.n; i++) {
			check_str(s.name[i], names[i], "entry name", __LINE__);
			check_eq((long long)s.ino[i], 10 + i, "entry ino", __LINE__);
			check_eq((long long)s.off[i], 100 + i, "entry off", __LINE__);
			check_eq((long long)s.type[i], types[i], "entry type", __LINE__);
			check_eq(s.has_entry[i], plus, "entry_out only with plus", __LINE__);
			if (plus) {
				check_eq((long long)s.nodeid[i], 1010 + i, "entry nodeid",
				    __LINE__);
				check_eq((long long)s.size[i], 5000 + i, "entry size",
				    __LINE__);
			}
		}
		/* An empty reply is the end of the directory. */
		r = pf_walk_dirents(d.words, 0, plus, 38, collect, &s, &why);
		check_eq(r, 0, "empty reply", __LINE__);
		/* Early stop. */
		memset(&s, 0, sizeof(s));
		s.stop_after = 2;
		r = pf_walk_dirents(d.words, d.len, plus, 38, collect, &s, &why);
		check_eq(s.n, 2, "callbacks after an early stop", __LINE__);
		check(r >= 0, "early stop is not an error", __LINE__);

		/* Malformed entries. */
		memset(&d, 0, sizeof(d));
		add_dirent(&d, plus, 10, 1, DT_REG, "ok", 2, 1);
		add_dirent(&d, plus, 11, 2, DT_REG, "a/b", 3, 1);
		walk_case(&d, plus, -EIO, "name with '/'", __LINE__);

		memset(&d, 0, sizeof(d));
		add_dirent(&d, plus, 10, 1, DT_REG, "ok", 2, 1);
		add_dirent(&d, plus, 11, 2, DT_REG, "", 0, 1);
		walk_case(&d, plus, -EIO, "zero-length name", __LINE__);

		memset(&d, 0, sizeof(d));
		add_dirent(&d, plus, 10, 1, DT_REG, "a\0b", 3, 1);
		walk_case(&d, plus, -EIO, "name with a NUL", __LINE__);

		/* The last entry claims a name longer than what is left. */
		memset(&d, 0, sizeof(d));
		add_dirent(&d, plus, 10, 1, DT_REG, "first", 5, 1);
		add_dirent(&d, plus, 11, 2, DT_REG, "second", 6, 1);
		{
			size_t hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
			size_t at = FUSE_DIRENT_ALIGN(hdr + 5) + hdr - FUSE_NAME_OFFSET;
			struct fuse_dirent de;

			memcpy(&de, (char *)d.words + at, sizeof(de));
			de.namelen = 200;
			memcpy((char *)d.words + at, &de, sizeof(de));
		}
		/* Rule, as the kernel: a cut-short last entry ends the walk. */
		walk_case(&d, plus, 1, "entry running past the buffer", __LINE__);

		/* A buffer cut inside the second entry's header. */
		memset(&d, 0, sizeof(d));
		add_dirent(&d, plus, 10, 1, DT_REG, "first", 5, 1);
		add_dirent(&d, plus, 11, 2, DT_REG, "second", 6, 1);
		d.len = FUSE_DIRENT_ALIGN((plus ? FUSE_NAME_OFFSET_DIRENTPLUS
		    : FUSE_NAME_OFFSET) + 5) + 10;
		walk_case(&d, plus, 1, "buffer ends inside an entry header", __LINE__);

		/* A buffer cut inside the second entry's name. */
		memset(&d, 0, sizeof(d));
		add_dirent(&d, plus, 10, 1, DT_REG, "first", 5, 1);
		add_dirent(&d, plus, 11, 2, DT_REG, "second", 6, 1);
		d.len -= 8;
		walk_case(&d, plus, 1, "buffer ends inside a name", __LINE__);
	}

	group("pf_walk_dirents: READDIRPLUS record is not a READDIR record");
	/* A READDIRPLUS buffer read as plain READDIR must not yield its names. */
	memset(&d, 0, sizeof(d));
	add_dirent(&d, 1, 10, 1, DT_REG, "x", 1, 1);
	memset(&s, 0, sizeof(s));
	why = NULL;
	r = pf_walk_dirents(d.words, d.len, 1, 38, collect, &s, &why);
	check_eq(r, 1, "as READDIRPLUS", __LINE__);
	memset(&s, 0, sizeof(s));
	r = pf_walk_dirents(d.words, d.len, 0, 38, collect, &s, &why);
	check(r < 0 || s.n == 0 || strcmp(s.name[0], "x") != 0,
	    "as READDIR the same bytes are not the entry \"x\"", __LINE__);
}

static void
test_modes(void)
{
	static const uint32_t good[] = { S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK,
		S_IFCHR, S_IFBLK };
	static const uint32_t bad[] = { 0, 0030000, 0050000, 0070000, 0110000, 0130000,
		0150000, 0160000, 0170000 };
	size_t i;

	group("pf_mode_valid");
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		checkf(pf_mode_valid(good[i] | 0644) == 1, __LINE__, "mode 0%o valid",
		    good[i] | 0644);
		checkf(pf_mode_valid(good[i] | 07777) == 1, __LINE__, "mode 0%o valid",
		    good[i] | 07777);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		checkf(pf_mode_valid(bad[i] | 0644) == 0, __LINE__, "mode 0%o invalid",
		    bad[i] | 0644);
	check(pf_mode_valid(0644) == 0, "permission bits alone are no file type", __LINE__);
}

static void
test_notify(void)
{
	group("notification names and sizes");
	check_str(pf_notify_name(FUSE_NOTIFY_INVAL_INODE), "INVAL_INODE", "INVAL_INODE",
	    __LINE__);
	check_str(pf_notify_name(FUSE_NOTIFY_DELETE), "DELETE", "DELETE", __LINE__);
	check_str(pf_notify_name(0), "NOTIFY_UNKNOWN", "code 0", __LINE__);
	check_str(pf_notify_name(-3), "NOTIFY_UNKNOWN", "negative code", __LINE__);
	check_str(pf_notify_name(1000), "NOTIFY_UNKNOWN", "code 1000", __LINE__);
	check_eq((long long)pf_notify_min(FUSE_NOTIFY_INVAL_ENTRY),
	    (long long)sizeof(struct fuse_notify_inval_entry_out), "INVAL_ENTRY size",
	    __LINE__);
	check_eq((long long)pf_notify_min(1000), 0, "unknown notification size", __LINE__);
}

int
main(void)
{
	test_table();
	test_sizes();
	test_check_reply();
	test_check_request();
	test_dirents();
	test_modes();
	test_notify();
	return unit_done("test_proto");
}
