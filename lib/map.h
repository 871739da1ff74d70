/*
 * map.h - an open-addressing hash map from 64-bit keys to three 64-bit
 * values: the node tables of libperfuse and perfused, perfused's handle
 * tables and its requests in flight.
 *
 * Slot pointers stay valid until the next map_put() or map_del().
 */
#ifndef PERFUSE_MAP_H
#define PERFUSE_MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64slot {
	uint64_t key;
	uint64_t v1, v2, v3;
	uint8_t used;
};

struct u64map {
	struct u64slot *slots;
	size_t cap, used;
};

/* The slot of key, or NULL. */
struct u64slot *map_get(struct u64map *m, uint64_t key);
/* The slot of key, added zeroed when new; NULL when out of memory. */
struct u64slot *map_put(struct u64map *m, uint64_t key);
/* Remove a slot map_get() or map_put() returned. */
void map_del(struct u64map *m, struct u64slot *s);
void map_free(struct u64map *m);

#endif
