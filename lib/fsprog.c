/*
 * fsprog.c - a filesystem's command line.  See fsprog.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsprog.h"

int
pf_fs_mountpoint(char *const argv[])
{
	int i, last = -1, opts_done = 0;

	for (i = 1; argv[i] != NULL; i++) {
		if (!opts_done && strcmp(argv[i], "--") == 0) {
			opts_done = 1;
			continue;
		}
		if (!opts_done && argv[i][0] == '-' && argv[i][1] != '\0') {
			if (strcmp(argv[i], "-o") == 0 && argv[i + 1] != NULL)
				i++;
			continue;
		}
		last = i;
	}
	return last;
}

static int
open_prog(const char *prog, const char *path)
{
	char file[4096];
	const char *p = path ? path : "/usr/bin:/bin";
	int fd = -1;

	if (strchr(prog, '/') != NULL)
		return open(prog, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && *p != '\0') {
		size_t l = strcspn(p, ":");

		snprintf(file, sizeof(file), "%.*s/%s", (int)l, p, prog);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		p += l + (p[l] == ':');
	}
	return fd;
}

int
pf_links_libfuse3(const char *prog, const char *path)
{
	static const char soname[] = "libfuse3.so.3";
	char *buf, *found = NULL;
	struct stat st;
	ssize_t n;
	int fd = open_prog(prog, path);

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 256 * 1024 * 1024) {
		close(fd);
		return 0;
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n > 0)
		found = memmem(buf, (size_t)n, soname, sizeof(soname) - 1);
	free(buf);
	return found != NULL;
}
