/*
 * paths.c - user paths to (mount, path in the mount), the mount table and
 * the connections, one per mount, kept for the life of the command.
 *
 * Paths are handled as text only: the mountpoints of perfuse mounts
 * usually do not exist on the local filesystem, so nothing here calls
 * realpath() or stat().
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_SYMLINKS 40

static struct perfuse_mount_info *mounts;
static size_t nmounts;
static int mounts_loaded;

struct conn_entry {
	char *target;
	perfuse_conn *c;
};
static struct conn_entry *conns;
static size_t nconns;

/* Append the components of path to out (len bytes used, out holds at
 * least strlen(out) + strlen(path) + 2 bytes), resolving "." and "..". */
static void normalize_into(char *out, size_t *len, const char *path)
{
	while (*path) {
		const char *end = strchr(path, '/');
		size_t n = end ? (size_t)(end - path) : strlen(path);

		if (n == 0 || (n == 1 && path[0] == '.')) {
			/* nothing */
		} else if (n == 2 && path[0] == '.' && path[1] == '.') {
			while (*len > 0 && out[*len - 1] != '/')
				(*len)--;
			if (*len > 0)
				(*len)--;   /* the '/' before the component */
		} else {
			out[(*len)++] = '/';
			memcpy(out + *len, path, n);
			*len += n;
		}
		path += n;
		if (*path == '/')
			path++;
	}
	out[*len] = '\0';
}

/* Normalize the absolute path dir + "/" + path (dir may be NULL). */
static char *normalize(const char *dir, const char *path)
{
	size_t size = (dir ? strlen(dir) : 0) + strlen(path) + 3;
	char *out = malloc(size);
	size_t len = 0;

	if (!out)
		return NULL;
	out[0] = '\0';
	if (dir)
		normalize_into(out, &len, dir);
	normalize_into(out, &len, path);
	if (len == 0) {
		out[0] = '/';
		out[1] = '\0';
	}
	return out;
}

char *path_absolute(const char *path)
{
	char *cwd, *abs;

	if (!*path) {
		errno = ENOENT;
		return NULL;
	}
	if (path[0] == '/')
		return normalize(NULL, path);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	abs = normalize(cwd, path);
	free(cwd);
	return abs;
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	char *out;

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	out = malloc(la + strlen(b) + 2);
	if (!out)
		return NULL;
	memcpy(out, a, la);
	out[la] = '/';
	strcpy(out + la + 1, b);
	return out;
}

const char *path_base(const char *abs)
{
	const char *slash = strrchr(abs, '/');

	if (!slash || slash[1] == '\0')
		return abs;
	return slash + 1;
}

static int no_daemon(int err)
{
	return err == -ECONNREFUSED || err == -ENOENT || err == -ENOTDIR;
}

int pp_mounts(const struct perfuse_mount_info **out, size_t *n)
{
	if (!mounts_loaded) {
		int rc = perfuse_daemon_list(cli_sock, &mounts, &nmounts);

		if (rc < 0) {
			mounts = NULL;
			nmounts = 0;
			if (!no_daemon(rc))
				return rc;
		}
		/* Targets should come normalized; make sure they are. */
		for (size_t i = 0; i < nmounts; i++) {
			char *t = normalize(NULL, mounts[i].target);

			if (t && strlen(t) < sizeof mounts[i].target)
				strcpy(mounts[i].target, t);
			free(t);
		}
		mounts_loaded = 1;
	}
	*out = mounts;
	*n = nmounts;
	return 0;
}

/* Length of target when it is a prefix of abs on a component boundary,
 * else 0 ("/" matches everything with length 1). */
static size_t prefix_len(const char *target, const char *abs)
{
	size_t len = strlen(target);

	if (strcmp(target, "/") == 0)
		return 1;
	if (strncmp(target, abs, len) != 0)
		return 0;
	if (abs[len] != '\0' && abs[len] != '/')
		return 0;
	return len;
}

/* The mount holding the absolute path abs, or NULL. */
static const struct perfuse_mount_info *find_mount(const char *abs, int *err)
{
	const struct perfuse_mount_info *list, *best = NULL;
	size_t n, bestlen = 0;

	*err = pp_mounts(&list, &n);
	if (*err < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = prefix_len(list[i].target, abs);

		if (len > bestlen) {
			best = &list[i];
			bestlen = len;
		}
	}
	*err = best ? 0 : PP_NOMOUNT;
	return best;
}

int pp_conn(const char *target, perfuse_conn **out)
{
	struct conn_entry *grown;
	perfuse_conn *c;
	char *copy;
	int rc;

	for (size_t i = 0; i < nconns; i++) {
		if (strcmp(conns[i].target, target) == 0) {
			*out = conns[i].c;
			return 0;
		}
	}
	rc = perfuse_connect(cli_sock, target, &c);
	if (rc < 0)
		return rc;
	copy = strdup(target);
	grown = realloc(conns, (nconns + 1) * sizeof *conns);
	if (!copy || !grown) {
		free(copy);
		if (grown)
			conns = grown;
		perfuse_disconnect(c);
		return -ENOMEM;
	}
	conns = grown;
	conns[nconns].target = copy;
	conns[nconns].c = c;
	nconns++;
	*out = c;
	return 0;
}

/*
 * perfused lists only the mounts the caller may use.  A path under none
 * of them may still be under another user's: perfused says so (EACCES)
 * when asked for each of its directories, deepest first, which is only
 * done on this error path.
 */
static int unlisted_mount(const char *abs)
{
	char *dir = strdup(abs), *slash;
	int rc = PP_NOMOUNT;

	if (!dir)
		return PP_NOMOUNT;
	for (;;) {
		perfuse_conn *c;
		int err = perfuse_connect(cli_sock, dir[0] ? dir : "/", &c);

		if (err == 0)
			perfuse_disconnect(c);
		if (err == -EACCES) {
			rc = -EACCES;
			break;
		}
		if (err == -ECONNREFUSED || !dir[0])
			break;
		slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	free(dir);
	return rc;
}

/* Fill p's mount fields from p->abs (which p owns). */
static int map_abs(struct ppath *p)
{
	const struct perfuse_mount_info *m;
	size_t len;
	int rc;

	m = find_mount(p->abs, &rc);
	if (!m && rc == PP_NOMOUNT)
		rc = unlisted_mount(p->abs);
	if (!m)
		return rc;
	len = prefix_len(m->target, p->abs);
	free(p->in);
	if (strcmp(m->target, "/") == 0)
		p->in = strdup(p->abs);
	else
		p->in = strdup(p->abs[len] ? p->abs + len : "/");
	if (!p->in)
		return -ENOMEM;
	p->target = m->target;
	return pp_conn(m->target, &p->c);
}

static int trailing_slash(const char *arg)
{
	size_t len = strlen(arg);

	return len > 1 && arg[len - 1] == '/';
}

/*
 * "link/" names the directory link leads to, as in path resolution: follow
 * it.  A path that does not exist is left for the command to create or
 * report; one that is not a directory is an error.
 */
static int follow_dir(struct ppath *p)
{
	struct stat st;
	int rc = pp_follow(p, &st);

	if (rc == 0 && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return rc == PP_NOMOUNT ? rc : 0;
}

int pp_resolve(const char *arg, struct ppath *p)
{
	int rc;

	memset(p, 0, sizeof *p);
	p->arg = arg;
	p->abs = path_absolute(arg);
	if (!p->abs)
		return -errno;
	rc = map_abs(p);
	if (rc == 0 && trailing_slash(arg))
		rc = follow_dir(p);
	if (rc != 0)
		pp_free(p);
	p->arg = arg;
	return rc;
}

void pp_err(const char *arg, int err)
{
	if (err == PP_NOMOUNT)
		cli_errmsg(arg, "not under any perfuse mount");
	else
		cli_err(arg, err);
}

int pp_open(const char *arg, struct ppath *p)
{
	int rc = pp_resolve(arg, p);

	if (rc != 0)
		pp_err(arg, rc);
	return rc;
}

int pp_child(const struct ppath *parent, const char *name, struct ppath *out)
{
	memset(out, 0, sizeof *out);
	out->argbuf = path_join(parent->arg, name);
	out->abs = path_join(parent->abs, name);
	out->in = path_join(parent->in, name);
	out->target = parent->target;
	out->c = parent->c;
	out->arg = out->argbuf;
	if (!out->argbuf || !out->abs || !out->in) {
		pp_free(out);
		return -ENOMEM;
	}
	return 0;
}

void pp_free(struct ppath *p)
{
	free(p->argbuf);
	free(p->abs);
	free(p->in);
	memset(p, 0, sizeof *p);
}

/* Replace p->abs by the target of the symbolic link it names, link. */
static int follow_once(struct ppath *p, const char *link)
{
	char *dir, *slash, *abs;

	if (link[0] == '/') {
		abs = normalize(NULL, link);
	} else {
		dir = strdup(p->abs);
		if (!dir)
			return -ENOMEM;
		slash = strrchr(dir, '/');
		slash[slash == dir ? 1 : 0] = '\0';
		abs = normalize(dir, link);
		free(dir);
	}
	if (!abs)
		return -ENOMEM;
	free(p->abs);
	p->abs = abs;
	return map_abs(p);
}

int pp_follow(struct ppath *p, struct stat *st)
{
	char link[PATH_MAX + 1];
	int rc;

	for (int hops = 0;; hops++) {
		ssize_t len;

		rc = perfuse_stat(p->c, p->in, st);
		if (rc < 0 || !S_ISLNK(st->st_mode))
			return rc;
		if (hops == MAX_SYMLINKS)
			return -ELOOP;
		len = perfuse_readlink(p->c, p->in, link, sizeof link);
		if (len < 0)
			return (int)len;
		if ((size_t)len >= sizeof link)
			return -ENAMETOOLONG;
		link[len] = '\0';
		if (len == 0)
			return -ENOENT;
		rc = follow_once(p, link);
		if (rc != 0)
			return rc;
	}
}

void pp_cleanup(void)
{
	for (size_t i = 0; i < nconns; i++) {
		perfuse_disconnect(conns[i].c);
		free(conns[i].target);
	}
	free(conns);
	conns = NULL;
	nconns = 0;
	free(mounts);
	mounts = NULL;
	nmounts = 0;
	mounts_loaded = 0;
}
