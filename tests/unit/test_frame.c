/*
 * test_frame.c - the mount frame (lib/frame.c): the seed's layout, round
 * trips, and every way a frame can be wrong: truncated, oversized,
 * lengths that do not add up, strings without their NUL or with one
 * inside; and the fd= option lookup perfuse_mount() relies on.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "perfuse.h"
#include "unit.h"

static void
quiet(enum perfuse_log_level level, const char *msg, void *arg)
{
	(void)level;
	(void)msg;
	(void)arg;
}

static char buf[PF_FRAME_MAX + 4096];

static const struct pf_frame sample = {
	"bindfs", "/mnt/data", "fuse.bindfs",
	"allow_other,default_permissions,fd=5,rootmode=40000,user_id=0,group_id=0",
	NULL, 6
};

static long
encode(const struct pf_frame *f)
{
	return pf_frame_encode(buf, sizeof(buf), f);
}

static void
test_layout(void)
{
	struct pf_frame_hdr h;
	long len;

	group("the seed's layout");
	check_eq(sizeof(struct pf_frame_hdr), 56, "header size", __LINE__);
	check_eq(offsetof(struct pf_frame_hdr, magic), 16, "magic offset", __LINE__);
	check_eq(offsetof(struct pf_frame_hdr, source_len), 28, "first length", __LINE__);
	len = encode(&sample);
	memcpy(&h, buf, sizeof(h));
	check_eq(h.len, len, "len field", __LINE__);
	check_eq(h.error, 0, "error field", __LINE__);
	check_eqx(h.unique, UINT64_MAX, "unique field", __LINE__);
	check_str(h.magic, "noFuseRq", "magic", __LINE__);
	check_eq(h.source_len, 7, "source length counts the NUL", __LINE__);
	check_eq(h.sock_len, 0, "absent socket path", __LINE__);
	check_eq(h.mountflags, 6, "mount flags", __LINE__);
	check_str(buf + 56, "bindfs", "source first", __LINE__);
	check_str(buf + 56 + 7, "/mnt/data", "then target", __LINE__);
	check(pf_frame_is_frame(buf, (size_t)len), "seen as a frame", __LINE__);
	check(!pf_frame_is_frame(buf, 20), "20 bytes are no frame", __LINE__);
	memcpy(buf + 16, "pfCtlMsg", 8);
	check(!pf_frame_is_frame(buf, (size_t)len), "other magic is no frame", __LINE__);
}

static void
test_round_trip(void)
{
	struct pf_frame f, none = { NULL, NULL, NULL, NULL, NULL, 0 };
	const char *why;
	long len;

	group("round trip");
	len = encode(&sample);
	check_eq(pf_frame_decode(buf, (size_t)len, &f, &why), 0, "decode", __LINE__);
	check_str(f.source, sample.source, "source", __LINE__);
	check_str(f.target, sample.target, "target", __LINE__);
	check_str(f.fstype, sample.fstype, "type", __LINE__);
	check_str(f.data, sample.data, "data", __LINE__);
	check(f.sock == NULL, "absent sock stays absent", __LINE__);
	check_eq(f.mountflags, 6, "flags", __LINE__);
	len = encode(&none);
	check_eq(len, 56, "an empty frame is its header", __LINE__);
	check_eq(pf_frame_decode(buf, (size_t)len, &f, &why), 0, "empty decode", __LINE__);
	check(f.target == NULL, "no target", __LINE__);
}

static void
expect_bad(size_t len, const char *what, int line)
{
	struct pf_frame f;
	const char *why = NULL;

	checkf(pf_frame_decode(buf, len, &f, &why) == -EINVAL && why != NULL, line,
	    "%s: accepted", what);
}

static void
test_bad(void)
{
	struct pf_frame big = sample;
	struct pf_frame_hdr h;
	char *huge;
	long len;

	group("bad frames");
	len = encode(&sample);
	expect_bad(55, "shorter than its header", __LINE__);
	expect_bad((size_t)len - 1, "truncated by one byte", __LINE__);
	expect_bad((size_t)len / 2, "truncated in the middle", __LINE__);
	memcpy(&h, buf, sizeof(h));
	h.len += 1;
	memcpy(buf, &h, sizeof(h));
	expect_bad((size_t)len + 1, "a trailing byte", __LINE__);
	len = encode(&sample);
	memcpy(&h, buf, sizeof(h));
	h.target_len += 1;
	h.data_len -= 1;
	memcpy(buf, &h, sizeof(h));
	expect_bad((size_t)len, "lengths shifted: target loses its NUL", __LINE__);
	len = encode(&sample);
	memcpy(&h, buf, sizeof(h));
	h.source_len = 0xffffffffu;
	memcpy(buf, &h, sizeof(h));
	expect_bad((size_t)len, "a length that wraps", __LINE__);
	len = encode(&sample);
	buf[56 + 3] = '\0';
	expect_bad((size_t)len, "a NUL inside the source", __LINE__);
	len = encode(&sample);
	memcpy(buf + 16, "xxxxxxxx", 8);
	expect_bad((size_t)len, "bad magic", __LINE__);
	huge = malloc(PF_FRAME_MAX);
	memset(huge, 'a', PF_FRAME_MAX - 1);
	huge[PF_FRAME_MAX - 1] = '\0';
	big.data = huge;
	check_eq(encode(&big), -EMSGSIZE, "an oversized frame is not encoded", __LINE__);
	len = encode(&sample);
	memcpy(&h, buf, sizeof(h));
	h.len = PF_FRAME_MAX + 1;
	memcpy(buf, &h, sizeof(h));
	expect_bad(PF_FRAME_MAX + 1, "an oversized frame", __LINE__);
	free(huge);
}

static void
test_opt_value(void)
{
	char v[16];

	group("fd= in mount options");
	check_str(pf_opt_value(sample.data, "fd", v, sizeof(v)), "5", "fd=5", __LINE__);
	check_str(pf_opt_value("fd=12", "fd", v, sizeof(v)), "12", "alone", __LINE__);
	check(pf_opt_value("allow_other,kfd=3", "fd", v, sizeof(v)) == NULL,
	    "kfd= is not fd=", __LINE__);
	check(pf_opt_value("rw,fd", "fd", v, sizeof(v)) == NULL, "fd without value", __LINE__);
	check(pf_opt_value("fd=12345678901234567890", "fd", v, sizeof(v)) == NULL,
	    "too long for the buffer", __LINE__);
	check(pf_opt_value("", "fd", v, sizeof(v)) == NULL, "empty options", __LINE__);
}

/* perfuse_mount() refuses what is no perfuse socket, before sending anything. */
static void
test_mount_refusals(void)
{
	char data[64];
	int fd, sv[2];

	group("perfuse_mount refusals");
	perfuse_set_log(quiet, NULL);
	errno = 0;
	check(perfuse_mount("src", "/mnt/x", "fuse", 0, "rw,allow_other") == -1 &&
	    errno == EINVAL, "no fd= in the options: EINVAL", __LINE__);
	errno = 0;
	check(perfuse_mount("src", "/mnt/x", "fuse", 0, NULL) == -1 && errno == EINVAL,
	    "no options at all: EINVAL", __LINE__);
	fd = open("/dev/null", O_RDONLY);
	snprintf(data, sizeof(data), "fd=%d,rootmode=40000", fd);
	errno = 0;
	check(perfuse_mount("src", "/mnt/x", "fuse", 0, data) == -1 && errno == EINVAL,
	    "fd= naming a character device: EINVAL", __LINE__);
	close(fd);
	errno = 0;
	check(perfuse_mount("src", "/mnt/x", "fuse", 0, "fd=99999") == -1 &&
	    errno == EINVAL, "fd= naming no open file: EINVAL", __LINE__);
	errno = 0;
	check(perfuse_mount("src", "/mnt/x", "fuse", 0, "fd=3x") == -1 && errno == EINVAL,
	    "fd= that is no number: EINVAL", __LINE__);
	/* A socket whose peer refuses the frame: its error comes back. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0) {
		struct { uint32_t len; int32_t error; uint64_t unique; } ack =
		    { 16, -EBUSY, UINT64_MAX };

		(void)!send(sv[1], &ack, sizeof(ack), 0);
		snprintf(data, sizeof(data), "fd=%d", sv[0]);
		errno = 0;
		check(perfuse_mount("src", "/mnt/x", "fuse", 0, data) == -1 &&
		    errno == EBUSY, "perfused's refusal (EBUSY) reaches the caller", __LINE__);
		close(sv[0]);
		close(sv[1]);
	}
	perfuse_set_log(NULL, NULL);
}

int
main(void)
{
	test_mount_refusals();
	test_layout();
	test_round_trip();
	test_bad();
	test_opt_value();
	return unit_done("test_frame");
}
