/*
 * ctl.h - perfused's control protocol: small framed messages on its
 * SOCK_SEQPACKET socket, one message per datagram, every length checked.
 *
 * A message is a header followed by nstr NUL-terminated strings that
 * fill the rest of the datagram exactly.  A connection starts in control
 * mode; after a successful ATTACH it carries FUSE messages instead.
 */
#ifndef PERFUSE_CTL_H
#define PERFUSE_CTL_H

#include <stddef.h>
#include <stdint.h>

#define PF_CTL_MAGIC 0x67734d6c74436670ULL  /* "pfCtlMsg" little-endian */
#define PF_CTL_MAX (256 * 1024)              /* largest control message */
#define PF_CTL_MAXSTR 4096                   /* most strings in a message */

enum pf_ctl_type {
	PF_CTL_PING = 1,    /* -> REPLY */
	PF_CTL_MOUNT,       /* opts, cwd, argc, argv..., env... -> REPLY target, message */
	PF_CTL_UMOUNT,      /* target -> REPLY message */
	PF_CTL_LIST,        /* -> ENTRY* then END */
	PF_CTL_ATTACH,      /* target -> REPLY message; FUSE from then on */
	PF_CTL_DETACH,      /* target -> REPLY message: the filesystem unmounts itself */
	PF_CTL_TRACE,       /* target, "full"|"summary" -> REPLY; trace records follow */
	PF_CTL_REPLY = 0x100,
	PF_CTL_ENTRY,       /* target, command, pid, minor, uid, clients */
	PF_CTL_END,
};

struct pf_ctl_hdr {
	uint32_t len;      /* whole message */
	uint32_t type;     /* enum pf_ctl_type */
	uint64_t magic;    /* PF_CTL_MAGIC */
	int32_t error;     /* 0 or -errno, in replies */
	uint32_t nstr;     /* strings that follow */
};

/*
 * Encode a message into buf (cap bytes).  Returns its length, or
 * -EMSGSIZE when it does not fit.
 */
long pf_ctl_encode(void *buf, size_t cap, uint32_t type, int32_t error,
    const char *const *strs, uint32_t nstr);

/*
 * Decode and check a received message of len bytes.  On success, fills
 * *hdr and points strs[0..nstr-1] into buf (at most maxstr).  Returns
 * nstr, or -EINVAL / -EPROTO with *why set.
 */
int pf_ctl_decode(const void *buf, size_t len, struct pf_ctl_hdr *hdr,
    const char **strs, size_t maxstr, const char **why);

/* Is this datagram a control message (by its magic)? */
int pf_ctl_is_ctl(const void *buf, size_t len);

/* Blocking helpers for clients of perfused. */
int pf_ctl_send(int fd, uint32_t type, int32_t error, const char *const *strs,
    uint32_t nstr);
/* Receive one message into buf (PF_CTL_MAX bytes). Returns nstr or -errno. */
int pf_ctl_recv(int fd, void *buf, struct pf_ctl_hdr *hdr, const char **strs,
    size_t maxstr);

#endif
