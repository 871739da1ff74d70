/*
 * frame.h - the mount frame: what perfuse_mount() sends perfused before
 * INIT on a filesystem's socket, as NetBSD's libperfuse does.
 *
 * Layout (little-endian, as struct perfuse_mount_out of the seed): a
 * header whose first 16 bytes have the shape of a fuse_out_header (len,
 * error 0, unique (uint64_t)-1), the magic "noFuseRq", then the lengths
 * of five strings that follow in this order, each NUL-terminated and
 * counted with its NUL, or absent with length 0: source, target,
 * filesystem type, mount options (data), socket path.
 *
 * perfused answers with one fuse_out_header: error 0 or -errno, unique
 * (uint64_t)-1.  Only then does the filesystem start reading FUSE.
 */
#ifndef PERFUSE_FRAME_H
#define PERFUSE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PF_FRAME_MAGIC "noFuseRq"
#define PF_FRAME_MAX (128 * 1024)    /* the largest frame perfused takes */

struct pf_frame_hdr {
	uint32_t len;
	int32_t error;
	uint64_t unique;
	char magic[12];      /* "noFuseRq" and padding, as the seed's char[9] */
	uint32_t source_len;
	uint32_t target_len;
	uint32_t fstype_len;
	uint32_t mountflags;
	uint32_t data_len;
	uint32_t sock_len;
};

struct pf_frame {
	const char *source;  /* NULL when absent */
	const char *target;
	const char *fstype;
	const char *data;
	const char *sock;
	uint32_t mountflags;
};

/* Encode into buf (cap bytes).  Returns the length or -EMSGSIZE. */
long pf_frame_encode(void *buf, size_t cap, const struct pf_frame *f);

/*
 * Check and decode a frame of len bytes; the strings point into buf.
 * Returns 0, or -EINVAL with *why set: lengths that do not add up, a
 * string without its NUL or with one inside, a frame over PF_FRAME_MAX.
 */
int pf_frame_decode(const void *buf, size_t len, struct pf_frame *f,
    const char **why);

/* Does this datagram start like a mount frame (by its magic)? */
int pf_frame_is_frame(const void *buf, size_t len);

/* The value of option key (e.g. "fd") in a comma-separated list, or NULL. */
const char *pf_opt_value(const char *opts, const char *key, char *buf, size_t size);

#endif
