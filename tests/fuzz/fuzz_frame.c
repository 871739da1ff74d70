/*
 * fuzz_frame.c - libFuzzer target for the mount frame codec (lib/frame.c):
 * pf_frame_decode, pf_frame_encode, pf_frame_is_frame and pf_opt_value.
 *
 * Input: the bytes of a datagram, as perfused receives it on a
 * connection in control mode.
 *
 * pf_frame_decode runs on the input (an exact-size heap copy).  When it
 * accepts, the decoded strings must lie inside the input with their
 * NULs, pf_frame_is_frame must agree, and pf_frame_encode of the decoded
 * frame must give back the input byte for byte (a frame has one
 * encoding: frame.h fixes error 0, unique (uint64_t)-1 and the magic's
 * padding); it must refuse a buffer one byte short.  pf_opt_value then
 * looks up the keys perfused and the preload shim use, and the input's
 * own first option name, in the options string (and the other strings)
 * with output buffers of several sizes.
 *
 * The same input also goes the other way: split at its NUL bytes into
 * five strings (the first byte's low bits make some absent), encoded with
 * pf_frame_encode and decoded again, the strings must come back equal.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"

static volatile uint64_t sink;

/* s is NULL, or a NUL-terminated string of n - 1 bytes inside [buf, end). */
static void
check_str(const char *s, uint32_t n, const char *buf, const char *end)
{
	if (n == 0) {
		FZ_CHECK(s == NULL);
		return;
	}
	FZ_CHECK(s != NULL && s >= buf && s < end && n <= (size_t)(end - s));
	FZ_CHECK(s[n - 1] == '\0' && memchr(s, '\0', n - 1) == NULL);
}

static void
opt_lookup(const char *opts, const char *key)
{
	static const size_t sizes[] = { 0, 1, 2, 8, 32, 4096 };
	char buf[4096];
	const char *v;
	size_t i, klen = strlen(key);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		v = pf_opt_value(opts, key, buf, sizes[i]);
		if (v == NULL)
			continue;
		/* The value of an option "key=value" of the list, copied. */
		FZ_CHECK(v == buf);
		FZ_CHECK(strlen(v) < sizes[i]);
		FZ_CHECK(strchr(v, ',') == NULL);
		{
			const char *p = opts;
			int found = 0;

			while (!found && p != NULL) {
				if (strncmp(p, key, klen) == 0 && p[klen] == '=' &&
				    strncmp(p + klen + 1, v, strlen(v)) == 0 &&
				    (p[klen + 1 + strlen(v)] == ',' ||
				    p[klen + 1 + strlen(v)] == '\0'))
					found = 1;
				p = strchr(p, ',');
				if (p != NULL)
					p++;
			}
			FZ_CHECK(found);
		}
		sink += strlen(v);
	}
}

static void
opt_lookups(const char *opts)
{
	char key[64];
	size_t n;

	if (opts == NULL)
		return;
	opt_lookup(opts, "fd");
	opt_lookup(opts, "perfuse_ino");
	opt_lookup(opts, "perfuse_token");
	opt_lookup(opts, "");
	/* The first option's name, whatever it is. */
	n = strcspn(opts, "=,");
	if (n < sizeof(key)) {
		memcpy(key, opts, n);
		key[n] = '\0';
		opt_lookup(opts, key);
	}
}

static int
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
decode(const uint8_t *data, size_t size)
{
	char *buf = fz_dup(data, size), *enc;
	const char *end = buf + size;
	struct pf_frame f;
	struct pf_frame_hdr h;
	const char *why = "unset";
	long n;
	int r;

	memset(&f, 0x5a, sizeof(f));
	r = pf_frame_decode(buf, size, &f, &why);
	FZ_CHECK(r == 0 || (r == -EINVAL && why != NULL));
	if (r != 0) {
		free(buf);
		return;
	}
	FZ_CHECK(size >= sizeof(h) && size <= PF_FRAME_MAX);
	FZ_CHECK(pf_frame_is_frame(buf, size));
	memcpy(&h, buf, sizeof(h));
	check_str(f.source, h.source_len, buf, end);
	check_str(f.target, h.target_len, buf, end);
	check_str(f.fstype, h.fstype_len, buf, end);
	check_str(f.data, h.data_len, buf, end);
	check_str(f.sock, h.sock_len, buf, end);
	FZ_CHECK(f.mountflags == h.mountflags);

	/* One encoding per frame: the round trip gives the input back. */
	enc = fz_alloc(size);
	n = pf_frame_encode(enc, size, &f);
	FZ_CHECK(n == (long)size);
	FZ_CHECK(memcmp(enc, buf, size) == 0);
	FZ_CHECK(pf_frame_encode(enc, size - 1, &f) == -EMSGSIZE);
	free(enc);

	opt_lookups(f.data);
	opt_lookups(f.source);
	opt_lookups(f.sock);

	free(buf);
}

/* The input as five strings, encoded, then decoded. */
static void
encode(const uint8_t *data, size_t size)
{
	struct pf_frame f, g;
	const char *s[5] = { NULL };
	char *copy, *p, *end, *buf;
	size_t rest, cap;
	const char *why = "unset";
	uint8_t mask;
	long n;
	int i, r;

	if (size == 0)
		return;
	mask = data[0];
	rest = size - 1;
	/* NUL-terminated in a copy: the last string ends at the input's end. */
	copy = fz_alloc(rest + 1);
	memcpy(copy, data + 1, rest);
	copy[rest] = '\0';
	p = copy;
	end = copy + rest;
	for (i = 0; i < 5; i++) {
		if (!(mask & (1u << i)))
			s[i] = p;
		/* Past the last string's NUL, the rest are empty. */
		if (p < end)
			p += strlen(p) + 1;
		if (p > end)
			p = end;
	}
	f.source = s[0];
	f.target = s[1];
	f.fstype = s[2];
	f.data = s[3];
	f.sock = s[4];
	f.mountflags = (uint32_t)mask * 0x01010101u;

	/* The strings take at most the copy's bytes and five empty ones. */
	cap = sizeof(struct pf_frame_hdr) + rest + 1 + 5;
	buf = fz_alloc(cap);
	n = pf_frame_encode(buf, cap, &f);
	FZ_CHECK(n >= (long)sizeof(struct pf_frame_hdr) && (size_t)n <= cap);
	FZ_CHECK(pf_frame_is_frame(buf, (size_t)n));
	memset(&g, 0x5a, sizeof(g));
	r = pf_frame_decode(buf, (size_t)n, &g, &why);
	FZ_CHECK(r == 0);
	FZ_CHECK(same(f.source, g.source) && same(f.target, g.target) &&
	    same(f.fstype, g.fstype) && same(f.data, g.data) &&
	    same(f.sock, g.sock) && f.mountflags == g.mountflags);
	free(buf);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size);
	/* Strings whose frame fits in PF_FRAME_MAX. */
	if (size <= PF_FRAME_MAX / 2)
		encode(data, size);
	return 0;
}
