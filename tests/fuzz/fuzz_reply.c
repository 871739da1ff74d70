/*
 * fuzz_reply.c - libFuzzer target for the reply and request checks of
 * lib/proto.c: pf_check_reply, pf_reply_limit, pf_walk_dirents and
 * pf_check_request.
 *
 * Input (little-endian; fields past the end of the input read as 0):
 *
 *   0  u8   opcode: 0..191 -> value % 64 (known and unknown opcodes),
 *           192..254 -> 0x80000000 + value (far out of the table),
 *           255 -> CUSE_INIT
 *   1  u8   protocol minor
 *   2  u8   bit 0: FUSE_SETXATTR_EXT negotiated (pf_check_request)
 *           bit 1: the reply limit is pf_reply_limit() of the request
 *                  body below, not the limit field
 *           bits 4-7: the dirent callback stops the walk after this
 *                  many entries (0: never)
 *   3  u8   length of the request body that follows
 *   4  i32  the out header's error
 *   8  u32  the reply limit (unless bit 1)
 *  12       request body (byte 3 bytes), then the reply payload (the rest)
 *
 * For that opcode and minor the target runs pf_check_request on the
 * request body and on the reply payload taken as a request body,
 * pf_check_reply on the payload's length, and for READDIR and READDIRPLUS
 * pf_walk_dirents on the payload with a callback that reads every field
 * of every entry.  Each buffer is an exact-size heap copy, so a read past
 * its end is an AddressSanitizer report; the results are checked against
 * what proto.h promises (FZ_CHECK traps when one is not): among them, a
 * walk ends only at the end of the reply, at an entry cut short by it,
 * at a malformed entry (-EIO), or where the callback stopped it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

static volatile uint64_t sink;

/* Is the request check's verdict one proto.h allows? */
static void
check_request(uint32_t opcode, unsigned minor, int ext, const uint8_t *data,
    size_t len)
{
	const struct pf_opinfo *op = pf_op(opcode);
	char *body = fz_dup(data, len);
	const char *why = "unset";
	size_t fixed, tail, nuls = 0, i;
	int r;

	r = pf_check_request(opcode, minor, ext, body, len, &why);
	FZ_CHECK(r == 0 || r == -EINVAL || r == -ENOSYS);
	FZ_CHECK(r == 0 || why != NULL);
	FZ_CHECK((r == -ENOSYS) == (op == NULL));
	if (r == 0) {
		fixed = pf_size_at(&op->in, minor);
		if (opcode == FUSE_SETXATTR && ext)
			fixed = sizeof(struct fuse_setxattr_in);
		if (opcode == FUSE_INIT) {
			FZ_CHECK(len >= 16);
			goto out;
		}
		FZ_CHECK(len >= fixed);
		tail = len - fixed;
		for (i = fixed; i < len; i++)
			nuls += body[i] == '\0';
		switch (op->tail) {
		case PF_TAIL_NONE:
			FZ_CHECK(tail == 0);
			break;
		case PF_TAIL_NAME:
			FZ_CHECK(tail >= 1 && nuls == 1 && body[len - 1] == '\0');
			break;
		case PF_TAIL_NAME2:
			FZ_CHECK(tail >= 2 && nuls == 2 && body[len - 1] == '\0');
			break;
		case PF_TAIL_NAMEDATA:
			FZ_CHECK(nuls >= 1);
			break;
		case PF_TAIL_ARRAY: {
			uint32_t count;

			memcpy(&count, body, sizeof(count));
			FZ_CHECK(tail % 16 == 0 && tail / 16 == count);
			break;
		}
		}
	}
out:
	free(body);
}

/* Does an accepted reply have the shape proto.h describes? */
static void
check_reply(uint32_t opcode, unsigned minor, int32_t error, size_t len,
    size_t limit)
{
	const struct pf_opinfo *op = pf_op(opcode);
	const char *why = "unset";
	size_t fixed;
	int r;

	r = pf_check_reply(opcode, minor, error, len, limit, &why);
	FZ_CHECK(r == 0 || r == -EIO);
	FZ_CHECK(r == 0 || why != NULL);
	if (r != 0)
		return;
	FZ_CHECK(op != NULL && op->out != PF_OUT_NOREPLY);
	FZ_CHECK(error <= 0 && error >= -4095);
	if (error != 0) {
		FZ_CHECK(len == 0);
		return;
	}
	fixed = pf_reply_fixed(opcode, minor);
	switch (op->out) {
	case PF_OUT_EMPTY:
		FZ_CHECK(len == 0);
		break;
	case PF_OUT_FIXED:
		FZ_CHECK(len == fixed);
		break;
	case PF_OUT_DATA:
		FZ_CHECK(len <= limit);
		break;
	case PF_OUT_XATTR:
		FZ_CHECK(limit == 0 ? len == fixed : len <= limit);
		break;
	case PF_OUT_VAR:
		FZ_CHECK(len >= fixed && len - fixed <= limit);
		break;
	default:
		FZ_CHECK(!"success accepted for an error-only or no-reply opcode");
	}
}

struct walk {
	const char *buf;
	size_t len;
	int plus;
	unsigned calls;
	unsigned stop_after;
	const char *next;      /* entries come in order: none starts before */
};

/* Read every field of the entry, and check it lies inside the reply. */
static int
dirent_cb(const struct pf_dirent_view *v, void *arg)
{
	struct walk *w = arg;
	uint64_t s = 0;
	uint32_t i;

	w->calls++;
	FZ_CHECK(v->namelen >= 1 && v->namelen <= 1024);
	FZ_CHECK(v->name >= w->next && v->name <= w->buf + w->len &&
	    v->namelen <= (size_t)(w->buf + w->len - v->name));
	s += v->ino + v->off + v->type + v->namelen;
	for (i = 0; i < v->namelen; i++) {
		FZ_CHECK(v->name[i] != '/' && v->name[i] != '\0');
		s += (unsigned char)v->name[i];
	}
	if (w->plus) {
		const struct fuse_entry_out *e = v->entry;

		FZ_CHECK(e != NULL);
		FZ_CHECK((const char *)e >= w->next &&
		    (const char *)(e + 1) <= v->name);
		s += e->nodeid + e->generation + e->entry_valid + e->attr_valid +
		    e->entry_valid_nsec + e->attr_valid_nsec;
		s += e->attr.ino + e->attr.size + e->attr.blocks + e->attr.atime +
		    e->attr.mtime + e->attr.ctime + e->attr.atimensec +
		    e->attr.mtimensec + e->attr.ctimensec + e->attr.mode +
		    e->attr.nlink + e->attr.uid + e->attr.gid + e->attr.rdev +
		    e->attr.blksize + e->attr.flags;
		s += (uint64_t)pf_mode_valid(e->attr.mode);
	} else {
		FZ_CHECK(v->entry == NULL);
	}
	w->next = v->name + v->namelen;
	sink += s;
	return w->stop_after != 0 && w->calls >= w->stop_after;
}

static void
walk(const uint8_t *data, size_t len, int plus, unsigned minor,
    unsigned stop_after)
{
	char *buf = fz_dup(data, len);
	struct walk w = { buf, len, plus, 0, stop_after, buf };
	const char *why = "unset";
	int r, r0;

	r = pf_walk_dirents(buf, len, plus, minor, dirent_cb, &w, &why);
	FZ_CHECK(r >= 0 || (r == -EIO && why != NULL));
	if (r >= 0)
		FZ_CHECK((unsigned)r == w.calls);
	/*
	 * A walk that was not stopped ends at the end of the reply or at an
	 * entry cut short by it, never before a whole entry.
	 */
	if (r >= 0 && (stop_after == 0 || w.calls < stop_after)) {
		size_t hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
		size_t pos = w.calls > 0 ? FUSE_DIRENT_ALIGN((size_t)(w.next - buf)) : 0;
		uint32_t namelen;

		if (pos < len && len - pos >= hdr) {
			memcpy(&namelen, buf + pos + hdr - FUSE_NAME_OFFSET +
			    offsetof(struct fuse_dirent, namelen), sizeof(namelen));
			FZ_CHECK(hdr + namelen > len - pos);
		}
	}
	/* Without a callback, the same walk to the end. */
	r0 = pf_walk_dirents(buf, len, plus, minor, NULL, NULL, &why);
	if (stop_after == 0 || w.calls < stop_after)
		FZ_CHECK(r0 == r);
	else
		FZ_CHECK(r0 < 0 || r0 >= r);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	uint8_t b = fz_u8(&z);
	uint32_t opcode = b == 255 ? CUSE_INIT : b < 192 ? b % 64u : 0x80000000u + b;
	unsigned minor = fz_u8(&z);
	uint8_t flags = fz_u8(&z);
	uint8_t reqlen = fz_u8(&z);
	int32_t error = (int32_t)fz_u32(&z);
	size_t limit = fz_u32(&z);
	const uint8_t *req, *reply;
	size_t rlen, plen;
	char *reqcopy;

	req = fz_take(&z, reqlen, &rlen);
	reply = fz_take(&z, z.n, &plen);

	/* The table's accessors, for any opcode and minor. */
	FZ_CHECK(pf_op_name(opcode) != NULL);
	sink += pf_req_fixed(opcode, minor) + pf_reply_fixed(opcode, minor) +
	    pf_attr_size(minor) + pf_entry_out_size(minor) +
	    pf_attr_out_size(minor) + pf_init_out_size(minor) +
	    pf_init_in_size(minor) + pf_notify_min(error) +
	    (uintptr_t)pf_notify_name(error);

	check_request(opcode, minor, flags & 1, req, rlen);
	check_request(opcode, minor, flags & 1, reply, plen);

	if (flags & 2) {
		reqcopy = fz_dup(req, rlen);
		limit = pf_reply_limit(opcode, minor, reqcopy, rlen);
		free(reqcopy);
	}
	check_reply(opcode, minor, error, plen, limit);

	if (opcode == FUSE_READDIR || opcode == FUSE_READDIRPLUS)
		walk(reply, plen, opcode == FUSE_READDIRPLUS, minor, flags >> 4);
	return 0;
}
