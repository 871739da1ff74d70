/*
 * map.c - the open-addressing hash map.  See map.h.
 *
 * Linear probing at a load of at most 3/4; deletion shifts the rest of
 * a probe run back instead of leaving tombstones.
 */
#include <stdlib.h>
#include <string.h>

#include "map.h"

static size_t
map_hash(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
}

struct u64slot *
map_get(struct u64map *m, uint64_t key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	for (i = map_hash(key, m->cap); m->slots[i].used; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].key == key)
			return &m->slots[i];
	return NULL;
}

static int
map_grow(struct u64map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16, i;
	struct u64slot *ns = calloc(ncap, sizeof(*ns));

	if (ns == NULL)
		return -1;
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->slots[i].used)
			continue;
		for (j = map_hash(m->slots[i].key, ncap); ns[j].used; j = (j + 1) & (ncap - 1))
			;
		ns[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

struct u64slot *
map_put(struct u64map *m, uint64_t key)
{
	struct u64slot *s = map_get(m, key);
	size_t i;

	if (s != NULL)
		return s;
	if ((m->used + 1) * 4 > m->cap * 3 && map_grow(m) < 0)
		return NULL;
	for (i = map_hash(key, m->cap); m->slots[i].used; i = (i + 1) & (m->cap - 1))
		;
	s = &m->slots[i];
	memset(s, 0, sizeof(*s));
	s->used = 1;
	s->key = key;
	m->used++;
	return s;
}

void
map_del(struct u64map *m, struct u64slot *s)
{
	size_t i = (size_t)(s - m->slots), j = i;

	memset(s, 0, sizeof(*s));
	m->used--;
	for (;;) {
		size_t k;

		j = (j + 1) & (m->cap - 1);
		if (!m->slots[j].used)
			return;
		k = map_hash(m->slots[j].key, m->cap);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->slots[i] = m->slots[j];
		memset(&m->slots[j], 0, sizeof(m->slots[j]));
		i = j;
	}
}

void
map_free(struct u64map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
