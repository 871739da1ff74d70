/*
 * cmd_file.c - the subcommands about files in mounts: ls, stat, cat, get,
 * put, mkdir, rm, rmdir, mv, ln, readlink, chmod, chown, truncate, touch
 * and xattr.
 *
 * Each subcommand returns its exit status: 0, 1 when an operand failed
 * (after going on with the others), 2 for a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define CHUNK (1024 * 1024)
#define MAX_CHUNK (16 * 1024 * 1024)

/* A subcommand helper's result: the error was already reported. */
#define FAILED 1000

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

static mode_t current_umask(void)
{
	mode_t um = umask(0);

	umask(um);
	return um;
}

/* Report rc (0, PP_NOMOUNT, FAILED or -errno) about arg; 0 or 1. */
static int report(const char *arg, int rc)
{
	if (rc == 0)
		return 0;
	if (rc != FAILED)
		pp_err(arg, rc);
	return 1;
}

/* The last component of a path as written ("" when it ends in "/"). */
static const char *last_component(const char *arg)
{
	const char *slash = strrchr(arg, '/');

	return slash ? slash + 1 : arg;
}

/* Whether the last component of arg, trailing slashes aside, is . or .. */
static int dot_or_dotdot(const char *arg)
{
	size_t len = strlen(arg);
	size_t start;

	while (len > 1 && arg[len - 1] == '/')
		len--;
	start = len;
	while (start > 0 && arg[start - 1] != '/')
		start--;
	len -= start;
	return (len == 1 && arg[start] == '.') ||
	    (len == 2 && arg[start] == '.' && arg[start + 1] == '.');
}

static int write_all(int fd, const void *buf, size_t size)
{
	const char *p = buf;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Read up to size bytes, short only at end of file. */
static ssize_t read_full(int fd, void *buf, size_t size)
{
	char *p = buf;
	size_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, p + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* The target of the symbolic link path, NUL-terminated; 0 or -errno. */
static int get_link(perfuse_conn *c, const char *path, char *buf,
    size_t size)
{
	ssize_t len = perfuse_readlink(c, path, buf, size);

	if (len < 0)
		return (int)len;
	if ((size_t)len >= size)
		return -ENAMETOOLONG;
	buf[len] = '\0';
	return 0;
}

/* The entry names of a directory, "." and ".." included if served. */
struct names {
	char **v;
	size_t n;
};

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int names_add(struct names *l, const char *name)
{
	char **grown = realloc(l->v, (l->n + 1) * sizeof *l->v);

	if (!grown)
		return -ENOMEM;
	l->v = grown;
	l->v[l->n] = strdup(name);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Names in the mount directory p, sorted; 0 or -errno. */
static int read_names(const struct ppath *p, struct names *out)
{
	struct perfuse_dirent ent;
	perfuse_dir *d;
	int rc;

	memset(out, 0, sizeof *out);
	rc = perfuse_opendir(p->c, p->in, &d);
	if (rc < 0)
		return rc;
	while ((rc = perfuse_readdir(d, &ent)) == 1) {
		rc = names_add(out, ent.name);
		if (rc < 0)
			break;
	}
	perfuse_closedir(d);
	if (rc < 0) {
		names_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, cmp_str);
	return 0;
}

/* Names in the local directory path, sorted, without . and .. */
static int read_local_names(const char *path, struct names *out)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (!d)
		return -errno;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		rc = names_add(out, de->d_name);
		if (rc < 0)
			break;
	}
	if (rc == 0 && errno != 0)
		rc = -errno;
	closedir(d);
	if (rc < 0) {
		names_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, cmp_str);
	return 0;
}

/* ppath of dst, or of dst/base when dst is a directory (a symbolic link
 * to one counts).  base NULL or "/" means dst itself.  0 or as
 * pp_resolve(); prints nothing. */
static int resolve_dest(const char *dst, const char *base, struct ppath *out)
{
	struct ppath dir;
	struct stat st;
	int rc;

	rc = pp_resolve(dst, &dir);
	if (rc != 0)
		return rc;
	if (base && strcmp(base, "/") != 0 && *base &&
	    pp_follow(&dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = pp_child(&dir, base, out);
		pp_free(&dir);
		return rc;
	}
	pp_free(&dir);
	return pp_resolve(dst, out);
}

/* For the commands that act on every operand: fn(p, arg) returns 0,
 * FAILED or an error to report about p->arg. */
typedef int (*path_fn)(struct ppath *p, void *arg);

static int for_each_path(int argc, char **argv, path_fn fn, void *arg)
{
	int status = 0;

	for (int i = 0; i < argc; i++) {
		struct ppath p;

		if (pp_open(argv[i], &p) != 0) {
			status = 1;
			continue;
		}
		status |= report(argv[i], fn(&p, arg));
		pp_free(&p);
	}
	return status;
}

/* Exactly two operands; returns optind or exits with a usage error. */
static int two_operands(int argc, char **argv, int first)
{
	if (argc - first < 2)
		exit(cli_usage_error("missing operand"));
	if (argc - first > 2)
		exit(cli_usage_error("extra operand '%s'", argv[first + 2]));
	return first;
}

/* Parse no options but --help; returns optind or exits. */
static int no_options(int argc, char **argv)
{
	while (cli_getopt(argc, argv, "", NULL) != -1)
		;
	return optind;
}

/* ------------------------------------------------------------------ */
/* Modes                                                                */

/* "drwxr-xr-x" for mode: 10 characters and a NUL into buf. */
static void mode_string(mode_t mode, char buf[11])
{
	static const char rwx[] = "rwxrwxrwx";
	char type;

	switch (mode & S_IFMT) {
	case S_IFDIR: type = 'd'; break;
	case S_IFLNK: type = 'l'; break;
	case S_IFCHR: type = 'c'; break;
	case S_IFBLK: type = 'b'; break;
	case S_IFIFO: type = 'p'; break;
	case S_IFSOCK: type = 's'; break;
	case S_IFREG: type = '-'; break;
	default: type = '?'; break;
	}
	buf[0] = type;
	for (int i = 0; i < 9; i++)
		buf[1 + i] = mode & (0400 >> i) ? rwx[i] : '-';
	if (mode & S_ISUID)
		buf[3] = mode & S_IXUSR ? 's' : 'S';
	if (mode & S_ISGID)
		buf[6] = mode & S_IXGRP ? 's' : 'S';
	if (mode & S_ISVTX)
		buf[9] = mode & S_IXOTH ? 't' : 'T';
	buf[10] = '\0';
}

/* An octal mode: its value and number of digits, or -1. */
static int parse_octal(const char *s, mode_t *out, int *digits)
{
	unsigned long v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '7'; p++) {
		v = v * 8 + (unsigned long)(*p - '0');
		if (v > 07777)
			return -1;
	}
	if (p == s || *p)
		return -1;
	*out = (mode_t)v;
	*digits = (int)(p - s);
	return 0;
}

static mode_t who_bits(char c)
{
	switch (c) {
	case 'u': return S_ISUID | S_IRWXU;
	case 'g': return S_ISGID | S_IRWXG;
	case 'o': return S_ISVTX | S_IRWXO;
	default: return 07777;
	}
}

/* The permissions after an operator: letters, or a class to copy. */
static const char *parse_perms(const char *s, mode_t mode, int is_dir,
    mode_t *perms)
{
	*perms = 0;
	if (*s == 'u' || *s == 'g' || *s == 'o') {
		int shift = *s == 'u' ? 6 : *s == 'g' ? 3 : 0;

		*perms = ((mode >> shift) & 7) * 0111;
		return s + 1;
	}
	for (;; s++) {
		switch (*s) {
		case 'r': *perms |= 0444; break;
		case 'w': *perms |= 0222; break;
		case 'x': *perms |= 0111; break;
		case 'X':
			if (is_dir || (mode & 0111))
				*perms |= 0111;
			break;
		case 's': *perms |= S_ISUID | S_ISGID; break;
		case 't': *perms |= S_ISVTX; break;
		default: return s;
		}
	}
}

/* One operator and its permissions applied to *mode. */
static const char *apply_op(const char *s, mode_t who, mode_t um, int is_dir,
    mode_t *mode)
{
	char op = *s++;
	mode_t perms, value, keep;

	s = parse_perms(s, *mode, is_dir, &perms);
	/* A directory keeps its set-id bits unless they are named. */
	keep = is_dir && !(perms & S_ISUID) ? S_ISUID | S_ISGID : 0;
	value = perms & (who ? who : ~um) & ~keep & 07777;
	if (op == '+')
		*mode |= value;
	else if (op == '-')
		*mode &= ~value;
	else
		*mode = (*mode & ((who ? ~who : 0) | keep)) | value;
	return s;
}

/*
 * Apply the chmod(1) mode spec (octal, or symbolic like u+x,go-w) to old,
 * the mode of a file (a directory if is_dir).  0 or -1 if spec is invalid.
 */
static int mode_apply(const char *spec, mode_t old, int is_dir, mode_t *out)
{
	mode_t mode = old & 07777, um = current_umask();
	const char *s = spec;
	int digits;

	if (parse_octal(spec, &mode, &digits) == 0) {
		if (is_dir && digits < 5)
			mode |= old & (S_ISUID | S_ISGID);
		*out = mode;
		return 0;
	}
	for (;;) {
		mode_t who = 0;

		for (; *s && strchr("ugoa", *s); s++)
			who |= who_bits(*s);
		if (*s != '+' && *s != '-' && *s != '=')
			return -1;
		while (*s == '+' || *s == '-' || *s == '=')
			s = apply_op(s, who, um, is_dir, &mode);
		if (*s == '\0')
			break;
		if (*s++ != ',')
			return -1;
	}
	*out = mode;
	return 0;
}

static int mode_valid(const char *spec)
{
	mode_t m;

	return *spec && mode_apply(spec, 0, 0, &m) == 0;
}

/* ------------------------------------------------------------------ */
/* Owners and times                                                     */

/* The name of a user or group into buf; 1 if a name, 0 if a number. */
static int id_lookup(unsigned id, int group, char *buf, size_t size)
{
	if (group) {
		struct group *gr = getgrgid((gid_t)id);

		if (gr) {
			snprintf(buf, size, "%s", gr->gr_name);
			return 1;
		}
	} else {
		struct passwd *pw = getpwuid((uid_t)id);

		if (pw) {
			snprintf(buf, size, "%s", pw->pw_name);
			return 1;
		}
	}
	snprintf(buf, size, "%u", id);
	return 0;
}

/* id_lookup() with a memory of the last answers (ls -l asks a lot). */
static int id_name(unsigned id, int group, char *buf, size_t size)
{
	static struct {
		int valid, named;
		unsigned id;
		char name[256];
	} cache[2];
	int i = group ? 1 : 0;

	if (!cache[i].valid || cache[i].id != id) {
		cache[i].named = id_lookup(id, group, cache[i].name,
		    sizeof cache[i].name);
		cache[i].id = id;
		cache[i].valid = 1;
	}
	snprintf(buf, size, "%s", cache[i].name);
	return cache[i].named;
}

static const char *file_type(const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		return st->st_size == 0 ? "regular empty file" : "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symbolic link";
	case S_IFCHR: return "character special file";
	case S_IFBLK: return "block special file";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "weird file";
	}
}

/* ------------------------------------------------------------------ */
/* ls                                                                   */

struct lsopts {
	int l, a, d, p;
	time_t now;
};

struct lsent {
	char *name;  /* as displayed */
	char *link;  /* -l: the target of a symbolic link */
	struct stat st;
};

struct lslist {
	struct lsent *v;
	size_t n;
};

struct lsdir {
	struct ppath p;
	struct stat st;  /* for the widths of the file operands, as ls does */
};

/* Column widths of a -l listing. */
struct lswidth {
	int nlink, owner, group, size, major, minor;
};

static int lslist_add(struct lslist *l, const char *name,
    const struct stat *st, const char *link)
{
	struct lsent *grown = realloc(l->v, (l->n + 1) * sizeof *l->v);
	struct lsent *e;

	if (!grown)
		return -ENOMEM;
	l->v = grown;
	e = &l->v[l->n];
	e->name = strdup(name);
	e->link = link ? strdup(link) : NULL;
	e->st = *st;
	if (!e->name || (link && !e->link)) {
		free(e->name);
		free(e->link);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static void lslist_free(struct lslist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].link);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int cmp_lsent(const void *a, const void *b)
{
	return strcmp(((const struct lsent *)a)->name,
	    ((const struct lsent *)b)->name);
}

static int cmp_lsdir(const void *a, const void *b)
{
	return strcmp(((const struct lsdir *)a)->p.arg,
	    ((const struct lsdir *)b)->p.arg);
}

static int digits_of(uintmax_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static void widen(int *w, int v)
{
	if (v > *w)
		*w = v;
}

static void ls_widen(const struct stat *st, struct lswidth *w)
{
	char buf[256];

	widen(&w->nlink, digits_of(st->st_nlink));
	id_name(st->st_uid, 0, buf, sizeof buf);
	widen(&w->owner, (int)strlen(buf));
	id_name(st->st_gid, 1, buf, sizeof buf);
	widen(&w->group, (int)strlen(buf));
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		widen(&w->major, digits_of(major(st->st_rdev)));
		widen(&w->minor, digits_of(minor(st->st_rdev)));
	} else {
		widen(&w->size, digits_of((uintmax_t)st->st_size));
	}
}

/* The widths of a -l listing of l and, for the file operands, of the
 * directory operands too (coreutils sizes them all together). */
static void ls_widths(const struct lslist *l, const struct lsdir *dirs,
    size_t ndirs, struct lswidth *w)
{
	memset(w, 0, sizeof *w);
	for (size_t i = 0; i < l->n; i++)
		ls_widen(&l->v[i].st, w);
	for (size_t i = 0; i < ndirs; i++)
		ls_widen(&dirs[i].st, w);
	if (w->major)
		widen(&w->size, w->major + 2 + w->minor);
}

static void print_id(unsigned id, int group, int width)
{
	char buf[256];

	if (id_name(id, group, buf, sizeof buf))
		printf("%-*s ", width, buf);
	else
		printf("%*s ", width, buf);
}

static void ls_time(const struct lsopts *o, time_t t, char *buf, size_t size)
{
	struct tm tm;
	int recent = t > o->now - 31556952 / 2 && t <= o->now;

	if (!localtime_r(&t, &tm)) {
		snprintf(buf, size, "%jd", (intmax_t)t);
		return;
	}
	strftime(buf, size, recent ? "%b %e %H:%M" : "%b %e  %Y", &tm);
}

static void ls_long(const struct lsopts *o, const struct lsent *e,
    const struct lswidth *w)
{
	const struct stat *st = &e->st;
	char mode[11], date[64];

	mode_string(st->st_mode, mode);
	ls_time(o, st->st_mtim.tv_sec, date, sizeof date);
	printf("%s %*ju ", mode, w->nlink, (uintmax_t)st->st_nlink);
	print_id(st->st_uid, 0, w->owner);
	print_id(st->st_gid, 1, w->group);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf("%*u, %*u ", w->size - 2 - w->minor,
		    major(st->st_rdev), w->minor, minor(st->st_rdev));
	else
		printf("%*jd ", w->size, (intmax_t)st->st_size);
	printf("%s %s", date, e->name);
	if (o->p && S_ISDIR(st->st_mode))
		putchar('/');
	if (e->link)
		printf(" -> %s", e->link);
	putchar('\n');
}

static void ls_print(const struct lsopts *o, const struct lslist *l,
    const struct lsdir *dirs, size_t ndirs)
{
	struct lswidth w;

	if (!o->l) {
		for (size_t i = 0; i < l->n; i++)
			printf("%s%s\n", l->v[i].name, o->p &&
			    S_ISDIR(l->v[i].st.st_mode) ? "/" : "");
		return;
	}
	ls_widths(l, dirs, ndirs, &w);
	for (size_t i = 0; i < l->n; i++)
		ls_long(o, &l->v[i], &w);
}

/* Add the entry name of the directory dir (mount path in) to l. */
static int ls_add_entry(const struct lsopts *o, const struct ppath *dir,
    const char *name, struct lslist *l)
{
	char link[PATH_MAX + 1];
	struct stat st;
	char *path, *label;
	int rc = 0;

	memset(&st, 0, sizeof st);
	if (!o->l && !o->p)
		return lslist_add(l, name, &st, NULL);
	path = path_join(dir->in, name);
	label = path_join(dir->arg, name);
	if (!path || !label)
		rc = -ENOMEM;
	if (rc == 0)
		rc = perfuse_stat(dir->c, path, &st);
	if (rc == 0 && o->l && S_ISLNK(st.st_mode))
		rc = get_link(dir->c, path, link, sizeof link);
	if (rc == 0)
		rc = lslist_add(l, name, &st,
		    o->l && S_ISLNK(st.st_mode) ? link : NULL);
	if (rc < 0) {
		cli_err(label ? label : name, rc);
		rc = FAILED;
	}
	free(path);
	free(label);
	return rc;
}

/* Read the directory dir into l; 0 or 1. */
static int ls_read_dir(const struct lsopts *o, const struct ppath *dir,
    struct lslist *l)
{
	int status = 0, dot = 0, dotdot = 0, rc;
	struct names names;

	rc = read_names(dir, &names);
	if (rc < 0) {
		cli_err(dir->arg, rc);
		return 1;
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];

		dot |= strcmp(name, ".") == 0;
		dotdot |= strcmp(name, "..") == 0;
		if (name[0] == '.' && !o->a)
			continue;
		if (ls_add_entry(o, dir, name, l) != 0)
			status = 1;
	}
	if (o->a && !dot && ls_add_entry(o, dir, ".", l) != 0)
		status = 1;
	if (o->a && !dotdot && ls_add_entry(o, dir, "..", l) != 0)
		status = 1;
	names_free(&names);
	return status;
}

static int ls_dir(const struct lsopts *o, const struct ppath *dir)
{
	struct lslist l = { NULL, 0 };
	uintmax_t blocks = 0;
	int status;

	status = ls_read_dir(o, dir, &l);
	if (l.n > 1)
		qsort(l.v, l.n, sizeof *l.v, cmp_lsent);
	if (o->l) {
		for (size_t i = 0; i < l.n; i++)
			blocks += (uintmax_t)l.v[i].st.st_blocks;
		printf("total %ju\n", (blocks + 1) / 2);
	}
	ls_print(o, &l, NULL, 0);
	lslist_free(&l);
	return status;
}

/* Without -l and -d, a symbolic link operand to a directory lists it. */
static void ls_follow_operand(const char *arg, struct ppath *p,
    struct stat *st)
{
	struct ppath q;
	struct stat qst;

	if (pp_resolve(arg, &q) != 0)
		return;
	if (pp_follow(&q, &qst) == 0 && S_ISDIR(qst.st_mode)) {
		pp_free(p);
		*p = q;
		*st = qst;
		return;
	}
	pp_free(&q);
}

/* Sort one operand into files or dirs; 0 or 1. */
static int ls_operand(const struct lsopts *o, const char *arg,
    struct lslist *files, struct lsdir *dirs, size_t *ndirs)
{
	char link[PATH_MAX + 1];
	struct ppath p;
	struct stat st;
	int rc;

	if (pp_open(arg, &p) != 0)
		return 1;
	rc = perfuse_stat(p.c, p.in, &st);
	if (rc == 0 && S_ISLNK(st.st_mode) && !o->l && !o->d)
		ls_follow_operand(arg, &p, &st);
	if (rc == 0 && S_ISDIR(st.st_mode) && !o->d) {
		dirs[*ndirs].p = p;
		dirs[*ndirs].st = st;
		(*ndirs)++;
		return 0;
	}
	if (rc == 0 && o->l && S_ISLNK(st.st_mode))
		rc = get_link(p.c, p.in, link, sizeof link);
	if (rc == 0)
		rc = lslist_add(files, arg, &st,
		    o->l && S_ISLNK(st.st_mode) ? link : NULL);
	pp_free(&p);
	return report(arg, rc);
}

static int ls_options(int argc, char **argv, struct lsopts *o)
{
	static const struct option lopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "directory", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof *o);
	while ((ch = cli_getopt(argc, argv, "ladp1", lopts)) != -1) {
		if (ch == 'l')
			o->l = 1;
		else if (ch == 'p')
			o->p = 1;
		else if (ch == 'a')
			o->a = 1;
		else if (ch == 'd')
			o->d = 1;
	}
	o->now = time(NULL);
	return optind;
}

int cmd_ls(int argc, char **argv)
{
	static char *dot[] = { ".", NULL };
	struct lslist files = { NULL, 0 };
	struct lsdir *dirs;
	struct lsopts o;
	size_t ndirs = 0;
	int first = ls_options(argc, argv, &o), status = 0, nargs;
	char **args = argv + first;

	nargs = argc - first;
	if (nargs == 0) {
		args = dot;
		nargs = 1;
	}
	dirs = calloc((size_t)nargs, sizeof *dirs);
	if (!dirs) {
		cli_err("ls", -ENOMEM);
		return 1;
	}
	for (int i = 0; i < nargs; i++)
		status |= ls_operand(&o, args[i], &files, dirs, &ndirs);
	if (files.n > 1)
		qsort(files.v, files.n, sizeof *files.v, cmp_lsent);
	if (ndirs > 1)
		qsort(dirs, ndirs, sizeof *dirs, cmp_lsdir);
	ls_print(&o, &files, dirs, ndirs);
	for (size_t i = 0; i < ndirs; i++) {
		if (nargs > 1)
			printf("%s%s:\n", i > 0 || files.n > 0 ? "\n" : "",
			    dirs[i].p.arg);
		status |= ls_dir(&o, &dirs[i].p);
		pp_free(&dirs[i].p);
	}
	lslist_free(&files);
	free(dirs);
	return status;
}

/* ------------------------------------------------------------------ */
/* stat                                                                 */

static void print_time(const char *label, const struct timespec *ts)
{
	char date[64], zone[16];
	struct tm tm;

	if (!localtime_r(&ts->tv_sec, &tm)) {
		printf("%s: %jd.%09ld\n", label, (intmax_t)ts->tv_sec,
		    ts->tv_nsec);
		return;
	}
	strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
	strftime(zone, sizeof zone, "%z", &tm);
	printf("%s: %s.%09ld %s\n", label, date, ts->tv_nsec, zone);
}

static void print_stat(const char *name, const struct stat *st,
    const char *link)
{
	char mode[11], user[256], group[256];

	mode_string(st->st_mode, mode);
	if (!id_name(st->st_uid, 0, user, sizeof user))
		strcpy(user, "UNKNOWN");
	if (!id_name(st->st_gid, 1, group, sizeof group))
		strcpy(group, "UNKNOWN");
	printf("  File: %s%s%s\n", name, link ? " -> " : "", link ? link : "");
	printf("  Size: %-10jd\tBlocks: %-10jd IO Block: %-6jd %s\n",
	    (intmax_t)st->st_size, (intmax_t)st->st_blocks,
	    (intmax_t)st->st_blksize, file_type(st));
	printf("Device: %u,%u\tInode: %-11ju Links: ", major(st->st_dev),
	    minor(st->st_dev), (uintmax_t)st->st_ino);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf("%-5ju Device type: %u,%u\n", (uintmax_t)st->st_nlink,
		    major(st->st_rdev), minor(st->st_rdev));
	else
		printf("%ju\n", (uintmax_t)st->st_nlink);
	printf("Access: (%04o/%s)  Uid: (%5u/%8s)   Gid: (%5u/%8s)\n",
	    (unsigned)(st->st_mode & 07777), mode, (unsigned)st->st_uid, user,
	    (unsigned)st->st_gid, group);
	print_time("Access", &st->st_atim);
	print_time("Modify", &st->st_mtim);
	print_time("Change", &st->st_ctim);
	printf(" Birth: -\n");
}

/* The type of a file as one word, for JSON. */
static const char *type_word(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char";
	case S_IFBLK: return "block";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

/* "name": the user or group name, or null when the id has none. */
static void json_id_name(FILE *f, int *first, const char *key, unsigned id,
    int group)
{
	char name[256];

	json_key(f, first, key);
	if (id_name(id, group, name, sizeof name))
		json_string(f, name);
	else
		fputs("null", f);
}

/* Three members for a time: "K" (UTC, ISO 8601), "K_sec", "K_nsec". */
static void json_time(FILE *f, int *first, const char *key,
    const struct timespec *ts)
{
	char k[32], date[64];
	struct tm tm;

	json_key(f, first, key);
	if (gmtime_r(&ts->tv_sec, &tm) &&
	    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm)) {
		char iso[96];

		snprintf(iso, sizeof iso, "%s.%09ldZ", date, ts->tv_nsec);
		json_string(f, iso);
	} else {
		fputs("null", f);
	}
	snprintf(k, sizeof k, "%s_sec", key);
	json_key(f, first, k);
	printf("%jd", (intmax_t)ts->tv_sec);
	snprintf(k, sizeof k, "%s_nsec", key);
	json_key(f, first, k);
	printf("%ld", ts->tv_nsec);
}

/*
 * One JSON object on one line: every field of struct stat, and the
 * type, permissions, owner names and link target spelled out.
 */
static void print_stat_json(const struct ppath *p, const struct stat *st,
    const char *link)
{
	char mode[11], perm[8];
	int first = 1;

	mode_string(st->st_mode, mode);
	snprintf(perm, sizeof perm, "%04o", (unsigned)(st->st_mode & 07777));
	putchar('{');
	json_key(stdout, &first, "path");
	json_string(stdout, p->arg);
	json_key(stdout, &first, "mount");
	json_string(stdout, p->target);
	json_key(stdout, &first, "path_in_mount");
	json_string(stdout, p->in);
	json_key(stdout, &first, "type");
	json_string(stdout, type_word(st->st_mode));
	json_key(stdout, &first, "mode");
	printf("%u", (unsigned)st->st_mode);
	json_key(stdout, &first, "permissions");
	json_string(stdout, perm);
	json_key(stdout, &first, "mode_string");
	json_string(stdout, mode);
	json_key(stdout, &first, "size");
	printf("%jd", (intmax_t)st->st_size);
	json_key(stdout, &first, "blocks");
	printf("%jd", (intmax_t)st->st_blocks);
	json_key(stdout, &first, "blksize");
	printf("%jd", (intmax_t)st->st_blksize);
	json_key(stdout, &first, "dev");
	printf("%ju", (uintmax_t)st->st_dev);
	json_key(stdout, &first, "ino");
	printf("%ju", (uintmax_t)st->st_ino);
	json_key(stdout, &first, "nlink");
	printf("%ju", (uintmax_t)st->st_nlink);
	json_key(stdout, &first, "uid");
	printf("%u", (unsigned)st->st_uid);
	json_id_name(stdout, &first, "user", st->st_uid, 0);
	json_key(stdout, &first, "gid");
	printf("%u", (unsigned)st->st_gid);
	json_id_name(stdout, &first, "group", st->st_gid, 1);
	json_key(stdout, &first, "rdev");
	printf("%ju", (uintmax_t)st->st_rdev);
	json_key(stdout, &first, "rdev_major");
	printf("%u", major(st->st_rdev));
	json_key(stdout, &first, "rdev_minor");
	printf("%u", minor(st->st_rdev));
	json_time(stdout, &first, "atime", &st->st_atim);
	json_time(stdout, &first, "mtime", &st->st_mtim);
	json_time(stdout, &first, "ctime", &st->st_ctim);
	json_key(stdout, &first, "link");
	if (link)
		json_string(stdout, link);
	else
		fputs("null", stdout);
	puts("}");
}

static int stat_one(struct ppath *p, void *arg)
{
	const int *json = arg;
	char link[PATH_MAX + 1];
	struct stat st;
	int rc;

	rc = perfuse_stat(p->c, p->in, &st);
	if (rc == 0 && S_ISLNK(st.st_mode))
		rc = get_link(p->c, p->in, link, sizeof link);
	if (rc < 0)
		return rc;
	if (*json)
		print_stat_json(p, &st, S_ISLNK(st.st_mode) ? link : NULL);
	else
		print_stat(p->arg, &st, S_ISLNK(st.st_mode) ? link : NULL);
	return 0;
}

int cmd_stat(int argc, char **argv)
{
	int json = 0;

	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};

	while (cli_getopt(argc, argv, "", lopts) != -1)
		json = 1;
	if (optind >= argc)
		return cli_usage_error("missing operand");
	return for_each_path(argc - optind, argv + optind, stat_one, &json);
}

/* ------------------------------------------------------------------ */
/* cat and get: reading files of a mount                                */

/*
 * Copy the open file f to the local descriptor fd.  Errors are reported
 * about src (reading) or dst (writing; NULL: standard output).  pg (may
 * be NULL) is the progress bar to advance.
 */
static int copy_out(perfuse_file *f, int fd, const char *src, const char *dst,
    struct progress *pg)
{
	char *buf = malloc(CHUNK);
	off_t off = 0;
	int rc = 0;

	if (!buf) {
		cli_err(src, -ENOMEM);
		return FAILED;
	}
	for (;;) {
		ssize_t n = perfuse_pread(f, buf, CHUNK, off);

		if (n < 0) {
			if (pg)
				progress_break(pg);
			cli_err(src, (int)n);
			rc = FAILED;
			break;
		}
		if (n == 0)
			break;
		rc = write_all(fd, buf, (size_t)n);
		if (rc < 0) {
			if (pg)
				progress_break(pg);
			if (dst)
				cli_err(dst, rc);
			else
				cli_errmsg(NULL, "write error: %s",
				    strerror(-rc));
			rc = FAILED;
			break;
		}
		off += n;
		if (pg)
			progress_update(pg, (uint64_t)off);
	}
	free(buf);
	return rc;
}

/* Open the file p for reading: 0 or an error to report. */
static int open_read(struct ppath *p, perfuse_file **f, struct stat *st)
{
	int rc = perfuse_file_open(p->c, p->in, O_RDONLY, 0, f);

	if (rc < 0)
		return rc;
	rc = perfuse_fstat(*f, st);
	if (rc == 0 && S_ISDIR(st->st_mode))
		rc = -EISDIR;
	if (rc < 0)
		perfuse_file_close(*f);
	return rc;
}

static int cat_one(struct ppath *p, void *arg)
{
	perfuse_file *f;
	struct stat st;
	int rc;

	(void)arg;
	rc = open_read(p, &f, &st);
	if (rc < 0)
		return rc;
	rc = copy_out(f, STDOUT_FILENO, p->arg, NULL, NULL);
	if (perfuse_file_close(f) < 0 && rc == 0)
		rc = FAILED;
	return rc;
}

int cmd_cat(int argc, char **argv)
{
	int first = no_options(argc, argv);

	if (first >= argc)
		return cli_usage_error("missing operand");
	if (fflush(stdout) != 0)
		return 1;
	return for_each_path(argc - first, argv + first, cat_one, NULL);
}

/* Copy the file src of a mount to the local path dst. */
static int get_file(struct ppath *src, const char *dst)
{
	struct progress pg;
	perfuse_file *f;
	struct stat st;
	int fd, rc;

	rc = open_read(src, &f, &st);
	if (rc < 0)
		return rc;
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    st.st_mode & 07777);
	if (fd < 0) {
		cli_err(dst, -errno);
		perfuse_file_close(f);
		return FAILED;
	}
	progress_start(&pg, src->arg, (uint64_t)st.st_size);
	rc = copy_out(f, fd, src->arg, dst, &pg);
	if (rc == 0)
		progress_done(&pg);
	if (rc == 0 && fchmod(fd, st.st_mode & 07777) < 0) {
		cli_err(dst, -errno);
		rc = FAILED;
	}
	if (close(fd) < 0 && rc == 0) {
		cli_err(dst, -errno);
		rc = FAILED;
	}
	fd = perfuse_file_close(f);
	return rc == 0 ? fd : rc;
}

static int get_tree(struct ppath *src, const struct stat *st,
    const char *dst);

/* Recreate the symbolic link src at dst. */
static int get_symlink(struct ppath *src, const char *dst)
{
	char link[PATH_MAX + 1];
	int rc = get_link(src->c, src->in, link, sizeof link);

	if (rc < 0)
		return rc;
	if (symlink(link, dst) == 0)
		return 0;
	if (errno == EEXIST && unlink(dst) == 0 && symlink(link, dst) == 0)
		return 0;
	cli_err(dst, -errno);
	return FAILED;
}

/* Copy the contents of the directory src into the local directory dst. */
static int get_entries(struct ppath *src, const char *dst)
{
	struct names names;
	int status = 0, rc;

	rc = read_names(src, &names);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < names.n; i++) {
		struct ppath child;
		struct stat st;
		char *to;

		if (is_dot(names.v[i]))
			continue;
		to = path_join(dst, names.v[i]);
		rc = to ? pp_child(src, names.v[i], &child) : -ENOMEM;
		if (rc < 0) {
			status |= report(src->arg, rc);
			free(to);
			continue;
		}
		rc = perfuse_stat(child.c, child.in, &st);
		if (rc == 0)
			rc = get_tree(&child, &st, to);
		status |= report(child.arg, rc);
		pp_free(&child);
		free(to);
	}
	names_free(&names);
	return status ? FAILED : 0;
}

/* Copy the directory src to the local path dst, made if missing. */
static int get_dir(struct ppath *src, const struct stat *st, const char *dst)
{
	struct stat lst;
	int made = 1, rc;

	if (mkdir(dst, 0700) < 0) {
		if (errno != EEXIST || stat(dst, &lst) < 0 ||
		    !S_ISDIR(lst.st_mode)) {
			cli_err(dst, errno == EEXIST ? -ENOTDIR : -errno);
			return FAILED;
		}
		made = 0;
	}
	rc = get_entries(src, dst);
	if (made && chmod(dst, st->st_mode & 07777) < 0) {
		cli_err(dst, -errno);
		rc = FAILED;
	}
	return rc;
}

static int get_tree(struct ppath *src, const struct stat *st,
    const char *dst)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		return get_dir(src, st, dst);
	case S_IFREG:
		return get_file(src, dst);
	case S_IFLNK:
		return get_symlink(src, dst);
	case S_IFIFO:
		if (mkfifo(dst, st->st_mode & 07777) == 0)
			return 0;
		cli_err(dst, -errno);
		return FAILED;
	default:
		cli_errmsg(src->arg, "cannot copy special file");
		return FAILED;
	}
}

static int get_options(int argc, char **argv, int *recursive)
{
	int ch;

	static const struct option lopts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};

	*recursive = 0;
	while ((ch = cli_getopt(argc, argv, "rRq", lopts)) != -1) {
		if (ch == 'q')
			progress_quiet = 1;
		else
			*recursive = 1;
	}
	return two_operands(argc, argv, optind);
}

/* The local destination: dst, or dst/base when dst is a directory. */
static char *local_dest(const char *dst, const char *base)
{
	struct stat st;

	if (strcmp(base, "/") != 0 && stat(dst, &st) == 0 && S_ISDIR(st.st_mode))
		return path_join(dst, base);
	return strdup(dst);
}

int cmd_get(int argc, char **argv)
{
	struct ppath src;
	struct stat st;
	char *dst;
	int recursive, first, rc;

	first = get_options(argc, argv, &recursive);
	if (pp_open(argv[first], &src) != 0)
		return 1;
	dst = local_dest(argv[first + 1], path_base(src.abs));
	rc = dst ? perfuse_stat(src.c, src.in, &st) : -ENOMEM;
	if (rc == 0 && !recursive && S_ISLNK(st.st_mode))
		rc = pp_follow(&src, &st);
	if (rc == 0 && !recursive && S_ISDIR(st.st_mode))
		rc = -EISDIR;
	if (rc == 0)
		rc = get_tree(&src, &st, dst);
	rc = report(argv[first], rc);
	pp_free(&src);
	free(dst);
	return rc;
}

/* ------------------------------------------------------------------ */
/* put: writing files into a mount                                      */

static size_t write_chunk(perfuse_conn *c)
{
	struct perfuse_conn_info info;

	perfuse_conn_get_info(c, &info);
	if (info.max_write == 0 || info.max_write > MAX_CHUNK)
		return CHUNK;
	return info.max_write;
}

/* Write size bytes of buf at off, all of them. */
static int pwrite_all(perfuse_file *f, const char *buf, size_t size, off_t off)
{
	while (size > 0) {
		ssize_t n = perfuse_pwrite(f, buf, size, off);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		buf += n;
		size -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Copy the local descriptor fd (labelled src) into the open file f,
 * advancing the progress bar pg.
 */
static int copy_in(int fd, const char *src, perfuse_file *f, size_t chunk,
    struct progress *pg)
{
	char *buf = malloc(chunk);
	off_t off = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read_full(fd, buf, chunk);

		if (n < 0) {
			progress_break(pg);
			cli_err(src, (int)n);
			rc = FAILED;
			break;
		}
		if (n == 0)
			break;
		rc = pwrite_all(f, buf, (size_t)n, off);
		if (rc < 0)
			break;
		off += n;
		progress_update(pg, (uint64_t)off);
	}
	free(buf);
	/* The caller reports a write error: start it on a line of its own. */
	if (rc == 0)
		progress_done(pg);
	else
		progress_break(pg);
	return rc;
}

/* Give the file f, opened as dst, the permission bits of mode, as get
 * does the other way. */
static int keep_mode(struct ppath *dst, perfuse_file *f, mode_t mode)
{
	struct stat st;
	int rc = perfuse_fstat(f, &st);

	if (rc == 0 && (st.st_mode & 07777) != (mode & 07777))
		rc = perfuse_chmod(dst->c, dst->in, mode & 07777);
	return rc;
}

/* Copy the local file src to dst in a mount; errors to report are about
 * dst. */
static int put_file(const char *src, struct ppath *dst)
{
	struct progress pg;
	perfuse_file *f;
	struct stat st;
	int fd, rc;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		cli_err(src, -errno);
		if (fd >= 0)
			close(fd);
		return FAILED;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_err(src, -EISDIR);
		close(fd);
		return FAILED;
	}
	rc = perfuse_file_open(dst->c, dst->in, O_WRONLY | O_CREAT | O_TRUNC,
	    st.st_mode & 07777, &f);
	if (rc == 0) {
		progress_start(&pg, src, (uint64_t)st.st_size);
		rc = copy_in(fd, src, f, write_chunk(dst->c), &pg);
		if (rc == 0)
			rc = keep_mode(dst, f, st.st_mode);
		int crc = perfuse_file_close(f);

		if (rc == 0)
			rc = crc;
	}
	close(fd);
	return rc;
}

static int put_tree(const char *src, const struct stat *st,
    struct ppath *dst);

static int put_symlink(const char *src, struct ppath *dst)
{
	char link[PATH_MAX + 1];
	ssize_t len = readlink(src, link, sizeof link - 1);
	int rc;

	if (len < 0) {
		cli_err(src, -errno);
		return FAILED;
	}
	link[len] = '\0';
	rc = perfuse_symlink(dst->c, link, dst->in);
	if (rc == -EEXIST && perfuse_unlink(dst->c, dst->in) == 0)
		rc = perfuse_symlink(dst->c, link, dst->in);
	return rc;
}

/* Copy the contents of the local directory src into dst. */
static int put_entries(const char *src, struct ppath *dst)
{
	struct names names;
	int status = 0, rc;

	rc = read_local_names(src, &names);
	if (rc < 0) {
		cli_err(src, rc);
		return FAILED;
	}
	for (size_t i = 0; i < names.n; i++) {
		struct ppath child;
		struct stat st;
		char *from = path_join(src, names.v[i]);

		rc = from ? pp_child(dst, names.v[i], &child) : -ENOMEM;
		if (rc < 0) {
			status |= report(dst->arg, rc);
			free(from);
			continue;
		}
		if (lstat(from, &st) < 0) {
			cli_err(from, -errno);
			status = 1;
		} else {
			status |= report(child.arg, put_tree(from, &st, &child));
		}
		pp_free(&child);
		free(from);
	}
	names_free(&names);
	return status ? FAILED : 0;
}

static int put_dir(const char *src, const struct stat *st, struct ppath *dst)
{
	mode_t mode = st->st_mode & 07777;
	struct stat mst;
	int rc, made = 1;

	rc = perfuse_mkdir(dst->c, dst->in, mode | S_IRWXU);
	if (rc == -EEXIST) {
		rc = perfuse_stat(dst->c, dst->in, &mst);
		if (rc == 0 && !S_ISDIR(mst.st_mode))
			rc = -ENOTDIR;
		made = 0;
	}
	if (rc < 0)
		return rc;
	rc = put_entries(src, dst);
	if (made) {
		int crc = perfuse_chmod(dst->c, dst->in, mode);

		if (rc == 0)
			rc = crc;
	}
	return rc;
}

static int put_tree(const char *src, const struct stat *st,
    struct ppath *dst)
{
	int rc;

	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		return put_dir(src, st, dst);
	case S_IFREG:
		return put_file(src, dst);
	case S_IFLNK:
		return put_symlink(src, dst);
	case S_IFIFO:
		rc = perfuse_mknod(dst->c, dst->in,
		    S_IFIFO | (st->st_mode & 07777), 0);
		return rc;
	default:
		cli_errmsg(src, "cannot copy special file");
		return FAILED;
	}
}

/* The name a local path goes by in a directory it is copied into. */
static char *local_base(const char *src)
{
	char *abs = path_absolute(src);
	char *base;

	if (!abs)
		return NULL;
	base = dot_or_dotdot(src) ? strdup("/") : strdup(path_base(abs));
	free(abs);
	return base;
}

int cmd_put(int argc, char **argv)
{
	struct ppath dst;
	struct stat st;
	const char *src;
	char *base;
	int recursive, first, rc;

	first = get_options(argc, argv, &recursive);
	src = argv[first];
	if ((recursive ? lstat(src, &st) : stat(src, &st)) < 0) {
		cli_err(src, -errno);
		return 1;
	}
	if (S_ISDIR(st.st_mode) && !recursive) {
		cli_err(src, -EISDIR);
		return 1;
	}
	base = local_base(src);
	rc = base ? resolve_dest(argv[first + 1], base, &dst) : -errno;
	free(base);
	if (rc != 0)
		return report(argv[first + 1], rc);
	rc = report(dst.arg, put_tree(src, &st, &dst));
	pp_free(&dst);
	return rc;
}

/* ------------------------------------------------------------------ */
/* mkdir, rmdir, rm                                                     */

struct mkdir_opts {
	int parents;
	int has_mode;
	mode_t mode;
};

/* Make the missing parents of p. */
static int make_parents(struct ppath *p)
{
	mode_t mode = ((0777 & ~current_umask()) | S_IWUSR | S_IXUSR);
	char *path = strdup(p->in);
	int rc = 0;

	if (!path)
		return -ENOMEM;
	for (char *s = strchr(path + 1, '/'); s && rc == 0;
	    s = strchr(s + 1, '/')) {
		struct stat st;

		*s = '\0';
		rc = perfuse_stat(p->c, path, &st);
		if (rc == -ENOENT) {
			rc = perfuse_mkdir(p->c, path, mode);
			if (rc == -EEXIST)
				rc = 0;
		} else if (rc == 0 && !S_ISDIR(st.st_mode)) {
			rc = -ENOTDIR;
		}
		*s = '/';
	}
	free(path);
	return rc;
}

static int mkdir_one(struct ppath *p, void *arg)
{
	const struct mkdir_opts *o = arg;
	mode_t mode = o->has_mode ? o->mode : 0777 & ~current_umask();
	struct stat st;
	int rc = 0;

	if (o->parents)
		rc = make_parents(p);
	if (rc == 0)
		rc = perfuse_mkdir(p->c, p->in, mode & 0777);
	if (rc == -EEXIST && o->parents &&
	    perfuse_stat(p->c, p->in, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (rc == 0 && o->has_mode)
		rc = perfuse_chmod(p->c, p->in, mode);
	return rc;
}

int cmd_mkdir(int argc, char **argv)
{
	struct mkdir_opts o = { 0, 0, 0 };
	const char *spec = NULL;
	int ch;

	static const struct option lopts[] = {
		{ "parents", no_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = cli_getopt(argc, argv, "pm:", lopts)) != -1) {
		if (ch == 'p')
			o.parents = 1;
		else
			spec = optarg;
	}
	if (spec) {
		if (mode_apply(spec, 0777, 1, &o.mode) < 0) {
			cli_errmsg(spec, "invalid mode");
			return 1;
		}
		o.has_mode = 1;
	}
	if (optind >= argc)
		return cli_usage_error("missing operand");
	return for_each_path(argc - optind, argv + optind, mkdir_one, &o);
}

static int rmdir_one(struct ppath *p, void *arg)
{
	(void)arg;
	if (dot_or_dotdot(p->arg))
		return -EINVAL;
	return perfuse_rmdir(p->c, p->in);
}

int cmd_rmdir(int argc, char **argv)
{
	int first = no_options(argc, argv);

	if (first >= argc)
		return cli_usage_error("missing operand");
	return for_each_path(argc - first, argv + first, rmdir_one, NULL);
}

struct rm_opts {
	int recursive, force;
};

static int rm_tree(struct ppath *p, const struct rm_opts *o);

/* Remove the contents of the directory p, then p. */
static int rm_dir(struct ppath *p, const struct rm_opts *o)
{
	struct names names;
	int status = 0, rc;

	rc = read_names(p, &names);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < names.n; i++) {
		struct ppath child;

		if (is_dot(names.v[i]))
			continue;
		rc = pp_child(p, names.v[i], &child);
		if (rc < 0) {
			status |= report(p->arg, rc);
			continue;
		}
		status |= report(child.arg, rm_tree(&child, o));
		pp_free(&child);
	}
	names_free(&names);
	if (status)
		return FAILED;
	return perfuse_rmdir(p->c, p->in);
}

static int rm_tree(struct ppath *p, const struct rm_opts *o)
{
	struct stat st;
	int rc = perfuse_stat(p->c, p->in, &st);

	if (rc == 0 && S_ISDIR(st.st_mode))
		rc = o->recursive ? rm_dir(p, o) : -EISDIR;
	else if (rc == 0)
		rc = perfuse_unlink(p->c, p->in);
	if (rc == -ENOENT && o->force)
		return 0;
	return rc;
}

static int rm_one(struct ppath *p, void *arg)
{
	if (dot_or_dotdot(p->arg)) {
		cli_errmsg(p->arg, "refusing to remove '.' or '..' directory");
		return FAILED;
	}
	if (strcmp(p->in, "/") == 0) {
		cli_errmsg(p->arg, "refusing to remove the root of a mount");
		return FAILED;
	}
	return rm_tree(p, arg);
}

int cmd_rm(int argc, char **argv)
{
	struct rm_opts o = { 0, 0 };
	int ch;

	static const struct option lopts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = cli_getopt(argc, argv, "rRf", lopts)) != -1) {
		if (ch == 'f')
			o.force = 1;
		else
			o.recursive = 1;
	}
	if (optind >= argc)
		return o.force ? 0 : cli_usage_error("missing operand");
	return for_each_path(argc - optind, argv + optind, rm_one, &o);
}

/* ------------------------------------------------------------------ */
/* mv, ln, readlink                                                     */

int cmd_mv(int argc, char **argv)
{
	int first = two_operands(argc, argv, no_options(argc, argv));
	struct ppath src, dst;
	const char *label;
	int rc;

	if (pp_open(argv[first], &src) != 0)
		return 1;
	rc = resolve_dest(argv[first + 1], path_base(src.abs), &dst);
	if (rc != 0) {
		pp_free(&src);
		return report(argv[first + 1], rc);
	}
	if (strcmp(src.target, dst.target) != 0)
		rc = -EXDEV;
	else
		rc = perfuse_rename(src.c, src.in, dst.in, 0);
	label = rc == -EXDEV || rc == -EEXIST || rc == -ENOTEMPTY ||
	    rc == -EISDIR ? argv[first + 1] : argv[first];
	rc = report(label, rc);
	pp_free(&src);
	pp_free(&dst);
	return rc;
}

static int ln_hard(const char *target, struct ppath *link)
{
	struct ppath src;
	struct stat st;
	int rc;

	if (pp_open(target, &src) != 0)
		return FAILED;
	rc = perfuse_stat(src.c, src.in, &st);
	if (rc < 0) {
		pp_err(target, rc);
		rc = FAILED;
	} else if (strcmp(src.target, link->target) != 0) {
		rc = -EXDEV;
	} else {
		rc = perfuse_link(src.c, src.in, link->in);
	}
	pp_free(&src);
	return rc;
}

int cmd_ln(int argc, char **argv)
{
	struct ppath link;
	const char *target;
	char *base;
	int ch, sym = 0, rc, first;

	static const struct option lopts[] = {
		{ "symbolic", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = cli_getopt(argc, argv, "s", lopts)) != -1)
		sym = 1;
	first = two_operands(argc, argv, optind);
	target = argv[first];
	base = strdup(last_component(target));
	if (!base) {
		cli_err(target, -ENOMEM);
		return 1;
	}
	rc = resolve_dest(argv[first + 1], dot_or_dotdot(target) ? NULL : base,
	    &link);
	free(base);
	if (rc != 0)
		return report(argv[first + 1], rc);
	if (sym)
		rc = perfuse_symlink(link.c, target, link.in);
	else
		rc = ln_hard(target, &link);
	rc = report(link.arg, rc);
	pp_free(&link);
	return rc;
}

static int readlink_one(struct ppath *p, void *arg)
{
	char link[PATH_MAX + 1];
	int rc = get_link(p->c, p->in, link, sizeof link);

	(void)arg;
	if (rc == 0)
		printf("%s\n", link);
	return rc;
}

int cmd_readlink(int argc, char **argv)
{
	int first = no_options(argc, argv);

	if (first >= argc)
		return cli_usage_error("missing operand");
	return for_each_path(argc - first, argv + first, readlink_one, NULL);
}

/* ------------------------------------------------------------------ */
/* chmod, chown                                                         */

static int chmod_one(struct ppath *p, void *arg)
{
	struct stat st;
	mode_t mode;
	int rc = pp_follow(p, &st);

	if (rc != 0)
		return rc;
	if (mode_apply(arg, st.st_mode, S_ISDIR(st.st_mode), &mode) < 0)
		return -EINVAL;
	return perfuse_chmod(p->c, p->in, mode & 07777);
}

int cmd_chmod(int argc, char **argv)
{
	int first = 1;

	/* A mode such as -w looks like an option: take it as the mode. */
	if (argc < 2 || argv[1][0] != '-' || strcmp(argv[1], "--") == 0 ||
	    !mode_valid(argv[1]))
		first = no_options(argc, argv);
	if (first >= argc)
		return cli_usage_error("missing operand");
	if (!mode_valid(argv[first])) {
		cli_errmsg(argv[first], "invalid mode");
		return 1;
	}
	if (first + 1 >= argc)
		return cli_usage_error("missing operand after '%s'",
		    argv[first]);
	return for_each_path(argc - first - 1, argv + first + 1, chmod_one,
	    argv[first]);
}

struct owner {
	uid_t uid;
	gid_t gid;
};

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int parse_user(const char *name, uid_t *uid, gid_t *login_gid)
{
	struct passwd *pw = getpwnam(name);

	if (!pw && all_digits(name)) {
		unsigned long v = strtoul(name, NULL, 10);

		if (v >= (uid_t)-1)
			return -1;
		*uid = (uid_t)v;
		pw = getpwuid(*uid);
		*login_gid = pw ? pw->pw_gid : (gid_t)-1;
		return 0;
	}
	if (!pw)
		return -1;
	*uid = pw->pw_uid;
	*login_gid = pw->pw_gid;
	return 0;
}

static int parse_group(const char *name, gid_t *gid)
{
	struct group *gr = getgrnam(name);

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (!all_digits(name) || strtoul(name, NULL, 10) >= (gid_t)-1)
		return -1;
	*gid = (gid_t)strtoul(name, NULL, 10);
	return 0;
}

/* OWNER[:GROUP], OWNER:, :GROUP.  0, or -1 after a message. */
static int parse_owner(const char *spec, struct owner *o)
{
	char *user = strdup(spec), *colon;
	gid_t login_gid = (gid_t)-1;
	int rc = 0;

	o->uid = (uid_t)-1;
	o->gid = (gid_t)-1;
	if (!user)
		return -1;
	colon = strchr(user, ':');
	if (colon)
		*colon = '\0';
	if (*user && parse_user(user, &o->uid, &login_gid) < 0) {
		cli_errmsg(user, "invalid user");
		rc = -1;
	} else if (colon && colon[1] && parse_group(colon + 1, &o->gid) < 0) {
		cli_errmsg(colon + 1, "invalid group");
		rc = -1;
	} else if (colon && !colon[1] && *user) {
		o->gid = login_gid;
		if (login_gid == (gid_t)-1) {
			cli_errmsg(spec, "invalid spec");
			rc = -1;
		}
	}
	free(user);
	return rc;
}

static int chown_one(struct ppath *p, void *arg)
{
	const struct owner *o = arg;
	struct stat st;
	int rc = pp_follow(p, &st);

	if (rc != 0)
		return rc;
	return perfuse_chown(p->c, p->in, o->uid, o->gid);
}

int cmd_chown(int argc, char **argv)
{
	int first = no_options(argc, argv);
	struct owner o;

	if (first >= argc)
		return cli_usage_error("missing operand");
	if (first + 1 >= argc)
		return cli_usage_error("missing operand after '%s'",
		    argv[first]);
	if (parse_owner(argv[first], &o) < 0)
		return 1;
	return for_each_path(argc - first - 1, argv + first + 1, chown_one,
	    &o);
}

/* ------------------------------------------------------------------ */
/* truncate, touch                                                      */

struct size_spec {
	char op;        /* 0 (set), '+', '-', '<', '>', '/', '%' */
	uint64_t size;
	int no_create;
};

/* The multiplier of a size suffix, 0 if invalid. */
static uint64_t size_suffix(const char *s)
{
	static const char units[] = "KMGTPE";
	const char *u;
	uint64_t base = 1024, mult = 1;

	if (!*s)
		return 1;
	u = strchr(units, s[0] >= 'a' ? s[0] - 'a' + 'A' : s[0]);
	if (!u || !*u)
		return 0;
	if (strcmp(s + 1, "B") == 0)
		base = 1000;
	else if (s[1] && strcmp(s + 1, "iB") != 0)
		return 0;
	for (const char *p = units; p <= u; p++)
		mult *= base;
	return mult;
}

static int parse_size(const char *s, struct size_spec *out)
{
	uint64_t v = 0, mult;
	const char *p;

	out->op = 0;
	if (*s && strchr("+-<>/%", *s))
		out->op = *s++;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -1;
	mult = size_suffix(p);
	if (mult == 0 || (v != 0 && mult > UINT64_MAX / v) ||
	    v * mult > INT64_MAX)
		return -1;
	out->size = v * mult;
	if ((out->op == '/' || out->op == '%') && out->size == 0)
		return -1;
	return 0;
}

static int new_size(const struct size_spec *s, off_t cur, off_t *out)
{
	uint64_t c = (uint64_t)cur, n = s->size, r;

	switch (s->op) {
	case '+':
		if (c + n > INT64_MAX)
			return -EFBIG;
		r = c + n;
		break;
	case '-': r = c > n ? c - n : 0; break;
	case '<': r = c > n ? n : c; break;
	case '>': r = c < n ? n : c; break;
	case '/': r = c / n * n; break;
	case '%':
		r = (c + n - 1) / n * n;
		if (r > INT64_MAX)
			return -EFBIG;
		break;
	default: r = n; break;
	}
	*out = (off_t)r;
	return 0;
}

/* Create the missing file p and give it size bytes. */
static int create_sized(struct ppath *p, const struct size_spec *s)
{
	perfuse_file *f;
	off_t size;
	int rc = new_size(s, 0, &size);

	if (rc == 0)
		rc = perfuse_file_open(p->c, p->in, O_WRONLY | O_CREAT,
		    0666 & ~current_umask(), &f);
	if (rc < 0)
		return rc;
	if (size > 0)
		rc = perfuse_ftruncate(f, size);
	int crc = perfuse_file_close(f);

	return rc < 0 ? rc : crc;
}

static int truncate_one(struct ppath *p, void *arg)
{
	const struct size_spec *s = arg;
	struct stat st;
	off_t size;
	int rc = pp_follow(p, &st);

	if (rc == -ENOENT)
		return s->no_create ? 0 : create_sized(p, s);
	if (rc != 0)
		return rc;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	rc = new_size(s, st.st_size, &size);
	if (rc == 0)
		rc = perfuse_truncate(p->c, p->in, size);
	return rc;
}

int cmd_truncate(int argc, char **argv)
{
	struct size_spec s = { 0, 0, 0 };
	const char *size = NULL;
	int ch;

	static const struct option lopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "no-create", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = cli_getopt(argc, argv, "cs:", lopts)) != -1) {
		if (ch == 'c')
			s.no_create = 1;
		else
			size = optarg;
	}
	if (!size)
		return cli_usage_error("you must specify '-s SIZE'");
	if (parse_size(size, &s) < 0) {
		cli_errmsg(size, "invalid size");
		return 1;
	}
	if (optind >= argc)
		return cli_usage_error("missing operand");
	return for_each_path(argc - optind, argv + optind, truncate_one, &s);
}

static int touch_one(struct ppath *p, void *arg)
{
	const int *no_create = arg;
	perfuse_file *f;
	struct stat st;
	int rc = pp_follow(p, &st);

	if (rc == -ENOENT && !*no_create) {
		rc = perfuse_file_open(p->c, p->in, O_WRONLY | O_CREAT,
		    0666 & ~current_umask(), &f);
		return rc < 0 ? rc : perfuse_file_close(f);
	}
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	return perfuse_utimens(p->c, p->in, NULL);
}

int cmd_touch(int argc, char **argv)
{
	int no_create = 0;

	static const struct option lopts[] = {
		{ "no-create", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};

	while (cli_getopt(argc, argv, "c", lopts) != -1)
		no_create = 1;
	if (optind >= argc)
		return cli_usage_error("missing file operand");
	return for_each_path(argc - optind, argv + optind, touch_one,
	    &no_create);
}

/* ------------------------------------------------------------------ */
/* xattr                                                                */

/* Size query then read, as getxattr/listxattr want; 0 or -errno. */
static int xattr_fetch(struct ppath *p, const char *name, char **buf,
    ssize_t *len)
{
	for (int tries = 0; tries < 5; tries++) {
		ssize_t size = name ?
		    perfuse_getxattr(p->c, p->in, name, NULL, 0) :
		    perfuse_listxattr(p->c, p->in, NULL, 0);

		if (size < 0)
			return (int)size;
		*buf = malloc((size_t)size + 1);
		if (!*buf)
			return -ENOMEM;
		*len = name ?
		    perfuse_getxattr(p->c, p->in, name, *buf, (size_t)size + 1) :
		    perfuse_listxattr(p->c, p->in, *buf, (size_t)size + 1);
		if (*len >= 0)
			return 0;
		free(*buf);
		*buf = NULL;
		if (*len != -ERANGE)
			return (int)*len;
	}
	return -ERANGE;
}

static int xattr_get(struct ppath *p, const char *name)
{
	char *buf;
	ssize_t len;
	int rc = xattr_fetch(p, name, &buf, &len);

	if (rc < 0)
		return rc;
	fwrite(buf, 1, (size_t)len, stdout);
	putchar('\n');
	free(buf);
	return 0;
}

static int xattr_list(struct ppath *p)
{
	char *buf;
	ssize_t len;
	int rc = xattr_fetch(p, NULL, &buf, &len);

	if (rc < 0)
		return rc;
	buf[len] = '\0';
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1) {
		if (buf[i])
			printf("%s\n", buf + i);
	}
	free(buf);
	return 0;
}

struct xattr_sub {
	const char *name;
	int nargs;  /* operands after the subcommand */
};

static const struct xattr_sub xattr_subs[] = {
	{ "get", 2 }, { "set", 3 }, { "list", 1 }, { "rm", 2 },
};

static int xattr_run(const char *sub, struct ppath *p, char **args)
{
	if (strcmp(sub, "get") == 0)
		return xattr_get(p, args[1]);
	if (strcmp(sub, "set") == 0)
		return perfuse_setxattr(p->c, p->in, args[1], args[2],
		    strlen(args[2]), 0);
	if (strcmp(sub, "list") == 0)
		return xattr_list(p);
	return perfuse_removexattr(p->c, p->in, args[1]);
}

int cmd_xattr(int argc, char **argv)
{
	const struct xattr_sub *sub = NULL;
	struct ppath p;
	int first = 0, rc;

	while (cli_getopt(argc, argv, "+", NULL) != -1)
		;
	first = optind;
	if (first >= argc)
		return cli_usage_error("missing subcommand");
	for (size_t i = 0; i < sizeof xattr_subs / sizeof *xattr_subs; i++)
		if (strcmp(argv[first], xattr_subs[i].name) == 0)
			sub = &xattr_subs[i];
	if (!sub)
		return cli_usage_error("unknown subcommand '%s'", argv[first]);
	if (argc - first - 1 != sub->nargs)
		return cli_usage_error("%s takes %d operand%s", sub->name,
		    sub->nargs, sub->nargs > 1 ? "s" : "");
	if (pp_open(argv[first + 1], &p) != 0)
		return 1;
	rc = report(argv[first + 1], xattr_run(sub->name, &p,
	    argv + first + 1));
	pp_free(&p);
	return rc;
}
