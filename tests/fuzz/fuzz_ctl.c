/*
 * fuzz_ctl.c - libFuzzer target for perfused's control protocol
 * (lib/ctl.c): pf_ctl_decode, pf_ctl_encode and pf_ctl_is_ctl.
 *
 * Input: the bytes of a datagram, as perfused receives it on a
 * connection in control mode (perfused takes up to 4 MiB; the seed corpus
 * keeps to small messages, run with -max_len to go further).
 *
 * pf_ctl_decode runs on the input (an exact-size heap copy) with room for
 * PF_CTL_MAXSTR strings, as perfused calls it.  When it accepts, the
 * strings must lie inside the input, one after another, each with its
 * NUL, filling the message; pf_ctl_is_ctl must agree; pf_ctl_encode of
 * the decoded header and strings must give back the input byte for byte
 * (and refuse a buffer one byte short); and a decode with room for fewer
 * strings must refuse exactly when there are more.  A rejection is
 * -EPROTO exactly when the magic is wrong (of a message within PF_CTL_MAX).
 *
 * The same input also goes the other way: its first byte is a type, the
 * rest NUL-separated strings; encoded and decoded, they come back equal.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ctl.h"
#include "fuzz.h"

static const char *strs[PF_CTL_MAXSTR];
static const char *strs2[PF_CTL_MAXSTR];

static void
decode(const uint8_t *data, size_t size)
{
	char *buf = fz_dup(data, size), *enc;
	const char *end = buf + size, *p, *why = "unset";
	struct pf_ctl_hdr h, h2;
	size_t small;
	long n;
	int r, r2;
	uint32_t i;

	FZ_CHECK(size >= sizeof(h) || !pf_ctl_is_ctl(buf, size));
	memset(&h, 0x5a, sizeof(h));
	r = pf_ctl_decode(buf, size, &h, strs, PF_CTL_MAXSTR, &why);
	FZ_CHECK(r >= 0 || ((r == -EINVAL || r == -EPROTO) && why != NULL));
	/* A bad magic is -EPROTO, unless the length is refused first. */
	if (r == -EPROTO)
		FZ_CHECK(size >= sizeof(h) && !pf_ctl_is_ctl(buf, size));
	if (size >= sizeof(h) && size <= PF_CTL_MAX && !pf_ctl_is_ctl(buf, size))
		FZ_CHECK(r == -EPROTO);
	if (r < 0) {
		free(buf);
		return;
	}
	FZ_CHECK(pf_ctl_is_ctl(buf, size));
	FZ_CHECK((uint32_t)r == h.nstr && h.len == size && h.magic == PF_CTL_MAGIC);
	p = buf + sizeof(h);
	for (i = 0; i < h.nstr; i++) {
		FZ_CHECK(strs[i] == p && p < end);
		p = memchr(p, '\0', (size_t)(end - p));
		FZ_CHECK(p != NULL);
		p++;
	}
	FZ_CHECK(p == end);

	/* One encoding per message: the round trip gives the input back. */
	enc = fz_alloc(size);
	n = pf_ctl_encode(enc, size, h.type, h.error, strs, h.nstr);
	FZ_CHECK(n == (long)size);
	FZ_CHECK(memcmp(enc, buf, size) == 0);
	FZ_CHECK(pf_ctl_encode(enc, size - 1, h.type, h.error, strs, h.nstr) ==
	    -EMSGSIZE);
	free(enc);

	/* Less room for strings than the message has: refused. */
	small = h.nstr > 0 ? (size_t)(h.nstr - 1) : 0;
	r2 = pf_ctl_decode(buf, size, &h2, strs2, small, &why);
	if (h.nstr > 0)
		FZ_CHECK(r2 == -EINVAL);
	else
		FZ_CHECK(r2 == 0);
	r2 = pf_ctl_decode(buf, size, &h2, strs2, h.nstr, &why);
	FZ_CHECK(r2 == r && memcmp(&h, &h2, sizeof(h)) == 0);
	free(buf);
}

/* The input as a type and strings, encoded, then decoded. */
static void
encode(const uint8_t *data, size_t size)
{
	struct pf_ctl_hdr h;
	char *copy, *p, *end, *buf;
	const char *why = "unset";
	uint32_t nstr = 0, i, type;
	size_t rest, cap;
	long n;
	int r;

	if (size == 0)
		return;
	type = data[0] < 128 ? data[0] % 8u : 0x100u + data[0] % 4u;
	rest = size - 1;
	copy = fz_alloc(rest + 1);
	memcpy(copy, data + 1, rest);
	copy[rest] = '\0';
	end = copy + rest;
	for (p = copy; p < end && nstr < PF_CTL_MAXSTR; p += strlen(p) + 1)
		strs2[nstr++] = p;
	cap = sizeof(h) + rest + 1;
	buf = fz_alloc(cap);
	n = pf_ctl_encode(buf, cap, type, -(int32_t)data[0], strs2, nstr);
	FZ_CHECK(n >= (long)sizeof(h) && (size_t)n <= cap);
	r = pf_ctl_decode(buf, (size_t)n, &h, strs, PF_CTL_MAXSTR, &why);
	FZ_CHECK(r >= 0 && (uint32_t)r == nstr);
	FZ_CHECK(h.type == type && h.error == -(int32_t)data[0] && h.nstr == nstr);
	for (i = 0; i < nstr; i++)
		FZ_CHECK(strcmp(strs[i], strs2[i]) == 0);
	free(buf);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size);
	if (size < PF_CTL_MAX - 64)
		encode(data, size);
	return 0;
}
