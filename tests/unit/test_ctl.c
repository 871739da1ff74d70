/*
 * test_ctl.c - perfused's control messages (lib/ctl.c): encoding, every
 * check of the decoder, the magic test and a round trip over a socket.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "unit.h"

#define HDR sizeof(struct pf_ctl_hdr)

static char *buf;      /* PF_CTL_MAX + some bytes */
static const char *strs[PF_CTL_MAXSTR + 8];

/* Encode then decode strings in[0..n-1]; checks the whole round trip. */
static void
round_trip(const char *const *in, uint32_t n, uint32_t type, int32_t error, int line)
{
	struct pf_ctl_hdr h;
	const char *why = "untouched";
	size_t want = HDR, i;
	long len;
	int r;

	for (i = 0; i < n; i++)
		want += strlen(in[i]) + 1;
	len = pf_ctl_encode(buf, PF_CTL_MAX, type, error, in, n);
	checkf(len == (long)want, line, "%u strings: encoded %ld bytes, want %zu", n,
	    len, want);
	if (len < 0)
		return;
	checkf(pf_ctl_is_ctl(buf, (size_t)len) == 1, line,
	    "%u strings: not seen as a control message", n);
	memset(&h, 0, sizeof(h));
	r = pf_ctl_decode(buf, (size_t)len, &h, strs, n, &why);
	checkf(r == (int)n, line, "%u strings: decoded %d (%s)", n, r,
	    why ? why : "no reason");
	if (r != (int)n)
		return;
	checkf(h.len == (uint32_t)len, line, "len field %u", h.len);
	checkf(h.type == type, line, "type %u, want %u", h.type, type);
	checkf(h.error == error, line, "error %d, want %d", h.error, error);
	checkf(h.nstr == n, line, "nstr %u, want %u", h.nstr, n);
	checkf(h.magic == PF_CTL_MAGIC, line, "magic 0x%llx", (unsigned long long)h.magic);
	for (i = 0; i < n; i++) {
		if (!checkf(strcmp(strs[i], in[i]) == 0, line,
		    "string %zu: \"%s\", want \"%s\"", i, strs[i], in[i]))
			break;
		/* The strings point into the message, not elsewhere. */
		checkf(strs[i] >= buf + HDR && strs[i] < buf + len, line,
		    "string %zu points outside the message", i);
	}
}

/* Decode len bytes of buf, expecting the error want. */
static void
bad_case(size_t len, size_t maxstr, int want, const char *what, int line)
{
	struct pf_ctl_hdr h;
	const char *why = NULL;
	int r = pf_ctl_decode(buf, len, &h, strs, maxstr, &why);

	checkf(r == want, line, "%s: decode = %d, want %d (%s)", what, r, want,
	    why ? why : "no reason");
	checkf(why != NULL && why[0] != '\0', line, "%s: rejected without a reason", what);
}

/* A header with arbitrary fields, then body bytes; returns the length. */
static size_t
craft(uint32_t len_field, uint64_t magic, uint32_t nstr, const void *body,
    size_t blen)
{
	struct pf_ctl_hdr h;

	memset(&h, 0, sizeof(h));
	h.len = len_field;
	h.type = PF_CTL_PING;
	h.magic = magic;
	h.nstr = nstr;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + HDR, body, blen);
	return HDR + blen;
}

static void
test_round_trips(void)
{
	static const char *one[] = { "/mnt/target" };
	char (*many)[48] = malloc(100 * sizeof(*many));
	const char *mp[100];
	int i;

	group("pf_ctl header layout");
	check_eq((long long)HDR, 24, "header size", __LINE__);
	{
		/* "pfCtlMsg" little-endian at offset 8. */
		long len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_PING, 0, NULL, 0);

		check_eq(len, 24, "empty message length", __LINE__);
		check(memcmp(buf + 8, "pfCtlMsg", 8) == 0, "magic bytes \"pfCtlMsg\"",
		    __LINE__);
		check(buf[0] == 24 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0,
		    "length field little-endian at offset 0", __LINE__);
		check(buf[4] == PF_CTL_PING, "type at offset 4", __LINE__);
	}

	group("pf_ctl round trip: 0 strings");
	round_trip(NULL, 0, PF_CTL_PING, 0, __LINE__);
	round_trip(NULL, 0, PF_CTL_END, -ENOENT, __LINE__);

	group("pf_ctl round trip: 1 string");
	round_trip(one, 1, PF_CTL_UMOUNT, 0, __LINE__);
	{
		static const char *empty[] = { "" };

		round_trip(empty, 1, PF_CTL_REPLY, -EACCES, __LINE__);
	}

	group("pf_ctl round trip: 100 strings");
	for (i = 0; i < 100; i++) {
		if (i % 10 == 3)
			many[i][0] = '\0';  /* some empty strings among them */
		else
			snprintf(many[i], sizeof(many[i]), "arg-%d-%.*s", i, i % 17,
			    "xxxxxxxxxxxxxxxxxxxx");
		mp[i] = many[i];
	}
	round_trip(mp, 100, PF_CTL_MOUNT, 0, __LINE__);
	/* Decoding with room for fewer strings than sent is refused. */
	{
		struct pf_ctl_hdr h;
		const char *why = NULL;
		long len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_MOUNT, 0, mp, 100);
		int r = pf_ctl_decode(buf, (size_t)len, &h, strs, 99, &why);

		check_eq(r, -EINVAL, "100 strings, room for 99", __LINE__);
	}
	free(many);

	group("pf_ctl_encode: limits");
	{
		static const char *s[] = { "abcdef" };
		char small[64];
		long len;

		len = pf_ctl_encode(small, 24 + 6, PF_CTL_UMOUNT, 0, s, 1);
		check_eq(len, -EMSGSIZE, "no room for the NUL", __LINE__);
		len = pf_ctl_encode(small, 24 + 7, PF_CTL_UMOUNT, 0, s, 1);
		check_eq(len, 31, "exactly enough room", __LINE__);
		len = pf_ctl_encode(small, 23, PF_CTL_PING, 0, NULL, 0);
		check_eq(len, -EMSGSIZE, "no room for the header", __LINE__);
	}
	{
		/* More strings than a message may carry. */
		const char **lots = calloc(PF_CTL_MAXSTR + 1, sizeof(*lots));
		long len;

		for (i = 0; i <= PF_CTL_MAXSTR; i++)
			lots[i] = "";
		len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_MOUNT, 0, lots, PF_CTL_MAXSTR + 1);
		check_eq(len, -EMSGSIZE, "PF_CTL_MAXSTR + 1 strings", __LINE__);
		len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_MOUNT, 0, lots, PF_CTL_MAXSTR);
		check_eq(len, 24 + PF_CTL_MAXSTR, "PF_CTL_MAXSTR strings", __LINE__);
		free(lots);
	}
	{
		/* A message larger than PF_CTL_MAX even with room in the buffer. */
		char *big = malloc(PF_CTL_MAX);
		char *bigbuf = malloc(2 * PF_CTL_MAX);
		const char *s[1];
		long len;

		memset(big, 'x', PF_CTL_MAX - 1);
		big[PF_CTL_MAX - 1] = '\0';
		s[0] = big;
		len = pf_ctl_encode(bigbuf, 2 * PF_CTL_MAX, PF_CTL_MOUNT, 0, s, 1);
		check_eq(len, -EMSGSIZE, "a message over PF_CTL_MAX", __LINE__);
		big[PF_CTL_MAX - 24 - 1] = '\0';
		len = pf_ctl_encode(bigbuf, 2 * PF_CTL_MAX, PF_CTL_MOUNT, 0, s, 1);
		check_eq(len, PF_CTL_MAX, "a message of exactly PF_CTL_MAX", __LINE__);
		free(big);
		free(bigbuf);
	}
}

static void
test_bad(void)
{
	static const char *two[] = { "alpha", "beta" };
	long len;
	size_t n;

	group("pf_ctl_decode: truncated");
	len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_UMOUNT, 0, two, 2);
	check_eq(len, 24 + 6 + 5, "valid message", __LINE__);
	bad_case(0, 8, -EINVAL, "empty", __LINE__);
	bad_case(23, 8, -EINVAL, "23 bytes", __LINE__);
	bad_case(10, 8, -EINVAL, "10 bytes", __LINE__);
	bad_case((size_t)len - 1, 8, -EINVAL, "last byte cut", __LINE__);
	bad_case(24, 8, -EINVAL, "header only", __LINE__);

	group("pf_ctl_decode: wrong length field");
	len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_UMOUNT, 0, two, 2);
	buf[0]++;  /* len field one more than the datagram */
	bad_case((size_t)len, 8, -EINVAL, "length field + 1", __LINE__);
	buf[0] -= 2;
	bad_case((size_t)len, 8, -EINVAL, "length field - 1", __LINE__);
	buf[0]++;
	buf[3] = 1;
	bad_case((size_t)len, 8, -EINVAL, "length field + 16 MiB", __LINE__);

	group("pf_ctl_decode: missing NUL");
	n = craft(24 + 5, PF_CTL_MAGIC, 1, "abcde", 5);
	bad_case(n, 8, -EINVAL, "one string without NUL", __LINE__);
	n = craft(24 + 9, PF_CTL_MAGIC, 2, "abcd\0efgh", 9);
	bad_case(n, 8, -EINVAL, "second string without NUL", __LINE__);
	/* More strings announced than there are. */
	n = craft(24 + 4, PF_CTL_MAGIC, 3, "a\0b\0", 4);
	bad_case(n, 8, -EINVAL, "nstr 3, two strings", __LINE__);
	n = craft(24, PF_CTL_MAGIC, 1, "", 0);
	bad_case(n, 8, -EINVAL, "nstr 1, no bytes", __LINE__);

	group("pf_ctl_decode: trailing bytes");
	n = craft(24 + 6, PF_CTL_MAGIC, 1, "a\0b\0c\0", 6);
	bad_case(n, 8, -EINVAL, "nstr 1, three strings", __LINE__);
	n = craft(24 + 1, PF_CTL_MAGIC, 0, "\0", 1);
	bad_case(n, 8, -EINVAL, "nstr 0, one NUL byte", __LINE__);
	n = craft(24 + 3, PF_CTL_MAGIC, 1, "a\0x", 3);
	bad_case(n, 8, -EINVAL, "a byte after the last NUL", __LINE__);

	group("pf_ctl_decode: bad magic");
	len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_UMOUNT, 0, two, 2);
	buf[8] ^= 0x20;
	bad_case((size_t)len, 8, -EPROTO, "magic with one bit flipped", __LINE__);
	check(!pf_ctl_is_ctl(buf, (size_t)len), "is_ctl false for a bad magic", __LINE__);
	n = craft(24, 0, 0, "", 0);
	bad_case(n, 8, -EPROTO, "magic 0", __LINE__);

	group("pf_ctl_decode: too many strings");
	n = craft(24 + 10, PF_CTL_MAGIC, 5, "a\0b\0c\0d\0e\0", 10);
	{
		struct pf_ctl_hdr h;
		const char *why = NULL;

		check_eq(pf_ctl_decode(buf, n, &h, strs, 5, &why), 5, "5 strings, room 5",
		    __LINE__);
	}
	bad_case(n, 4, -EINVAL, "5 strings, room 4", __LINE__);
	bad_case(n, 0, -EINVAL, "5 strings, room 0", __LINE__);
	/* More than PF_CTL_MAXSTR even when the caller has room. */
	{
		char *nuls = calloc(PF_CTL_MAXSTR + 1, 1);

		n = craft(24 + PF_CTL_MAXSTR + 1, PF_CTL_MAGIC, PF_CTL_MAXSTR + 1, nuls,
		    PF_CTL_MAXSTR + 1);
		bad_case(n, PF_CTL_MAXSTR + 8, -EINVAL, "PF_CTL_MAXSTR + 1 strings",
		    __LINE__);
		n = craft(24 + PF_CTL_MAXSTR, PF_CTL_MAGIC, PF_CTL_MAXSTR, nuls,
		    PF_CTL_MAXSTR);
		{
			struct pf_ctl_hdr h;
			const char *why = NULL;

			check_eq(pf_ctl_decode(buf, n, &h, strs, PF_CTL_MAXSTR + 8, &why),
			    PF_CTL_MAXSTR, "PF_CTL_MAXSTR empty strings", __LINE__);
		}
		n = craft(24, PF_CTL_MAGIC, 0xffffffffu, "", 0);
		bad_case(n, PF_CTL_MAXSTR + 8, -EINVAL, "nstr 2^32-1", __LINE__);
		free(nuls);
	}
}

static void
test_is_ctl(void)
{
	struct fuse_hdr_like {
		uint32_t len, opcode;
		uint64_t unique, nodeid;
		uint32_t uid, gid, pid, padding;
	} fh;
	long len;

	group("pf_ctl_is_ctl");
	len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_LIST, 0, NULL, 0);
	check_eq(pf_ctl_is_ctl(buf, (size_t)len), 1, "an encoded message", __LINE__);
	check_eq(pf_ctl_is_ctl(buf, 23), 0, "23 bytes of a message", __LINE__);
	check_eq(pf_ctl_is_ctl(buf, 0), 0, "nothing", __LINE__);
	/* A FUSE INIT request (in header) is not a control message. */
	memset(&fh, 0, sizeof(fh));
	fh.len = 40 + 64;
	fh.opcode = 26;
	fh.unique = 2;
	check_eq(pf_ctl_is_ctl(&fh, sizeof(fh)), 0, "a FUSE in header", __LINE__);
	/* Decided by the magic only: a bad length is still "control". */
	len = pf_ctl_encode(buf, PF_CTL_MAX, PF_CTL_LIST, 0, NULL, 0);
	buf[0] = 99;
	check_eq(pf_ctl_is_ctl(buf, (size_t)len), 1, "magic with a bad length field",
	    __LINE__);
	buf[15] ^= 1;
	check_eq(pf_ctl_is_ctl(buf, (size_t)len), 0, "last magic byte changed", __LINE__);
}

static void
test_socket(void)
{
	static const char *s3[] = { "/mnt/a", "", "message with spaces" };
	struct pf_ctl_hdr h;
	const char *got[8];
	char *rbuf = malloc(PF_CTL_MAX);
	int sv[2], r;

	group("pf_ctl_send / pf_ctl_recv over SOCK_SEQPACKET");
	if (!check(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "socketpair",
	    __LINE__)) {
		free(rbuf);
		return;
	}
	r = pf_ctl_send(sv[0], PF_CTL_REPLY, -ENOENT, s3, 3);
	check_eq(r, 0, "send", __LINE__);
	r = pf_ctl_recv(sv[1], rbuf, &h, got, 8);
	check_eq(r, 3, "received strings", __LINE__);
	if (r == 3) {
		check_eq(h.type, PF_CTL_REPLY, "type", __LINE__);
		check_eq(h.error, -ENOENT, "error", __LINE__);
		check_str(got[0], "/mnt/a", "string 0", __LINE__);
		check_str(got[1], "", "string 1", __LINE__);
		check_str(got[2], "message with spaces", "string 2", __LINE__);
	}
	/* A datagram that is not a control message. */
	check(send(sv[0], "not a control message, far too plain", 36, 0) == 36,
	    "send junk", __LINE__);
	r = pf_ctl_recv(sv[1], rbuf, &h, got, 8);
	check(r < 0, "junk refused", __LINE__);
	/* Room for fewer strings than sent. */
	r = pf_ctl_send(sv[0], PF_CTL_REPLY, 0, s3, 3);
	check_eq(r, 0, "send", __LINE__);
	r = pf_ctl_recv(sv[1], rbuf, &h, got, 2);
	check(r < 0, "3 strings into room for 2 refused", __LINE__);
	/* The peer gone. */
	close(sv[0]);
	r = pf_ctl_recv(sv[1], rbuf, &h, got, 8);
	check(r < 0, "EOF is an error", __LINE__);
	close(sv[1]);
	free(rbuf);
}

int
main(void)
{
	buf = calloc(1, PF_CTL_MAX + 4096);
	if (buf == NULL)
		return 1;
	test_round_trips();
	test_bad();
	test_is_ctl();
	test_socket();
	free(buf);
	return unit_done("test_ctl");
}
