/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: a cursor that
 * takes little-endian fields off the front of the input (zeros once the
 * input runs out, so every input means something), exact-size heap copies
 * (AddressSanitizer then sees a read one byte past the end), and the
 * invariant check.
 */
#ifndef PERFUSE_FUZZ_H
#define PERFUSE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * An invariant of the library that an input broke: say which, then
 * __builtin_trap() so libFuzzer keeps the input as a crash.
 */
#define FZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, \
		    __LINE__, #cond); \
		__builtin_trap(); \
	} \
} while (0)

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline void
fz_bytes(struct fz *z, void *out, size_t n)
{
	size_t k = n < z->n ? n : z->n;

	memset(out, 0, n);
	if (k > 0)
		memcpy(out, z->p, k);
	z->p += k;
	z->n -= k;
}

static inline uint8_t
fz_u8(struct fz *z)
{
	uint8_t v;

	fz_bytes(z, &v, 1);
	return v;
}

static inline uint16_t
fz_u16(struct fz *z)
{
	uint8_t b[2];

	fz_bytes(z, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t
fz_u32(struct fz *z)
{
	uint8_t b[4];

	fz_bytes(z, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

static inline uint64_t
fz_u64(struct fz *z)
{
	uint64_t lo = fz_u32(z);

	return lo | (uint64_t)fz_u32(z) << 32;
}

/* Up to n bytes off the front; *got says how many there were. */
static inline const uint8_t *
fz_take(struct fz *z, size_t n, size_t *got)
{
	const uint8_t *p = z->p;

	*got = n < z->n ? n : z->n;
	z->p += *got;
	z->n -= *got;
	return p;
}

/*
 * A heap copy of exactly n bytes (malloc's alignment, as a receive
 * buffer has), never NULL.  Under AddressSanitizer even a zero-length
 * copy is a real allocation of size 0, so any read of it is reported.
 */
static inline void *
fz_dup(const void *p, size_t n)
{
	void *q = malloc(n);

	if (q == NULL && (q = malloc(1)) == NULL)
		abort();
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

/* n bytes of uninitialised heap, never NULL. */
static inline void *
fz_alloc(size_t n)
{
	void *q = malloc(n);

	if (q == NULL && (q = malloc(1)) == NULL)
		abort();
	return q;
}

#endif
