/*
 * cmd_mount.c - the subcommands about mounts: mount, umount, list, df.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

#define MOUNT_ERRSIZE 16384

/* Append one -o argument to the comma-separated list *opts. */
static int add_opts(char **opts, const char *more)
{
	size_t len = *opts ? strlen(*opts) : 0;
	char *grown = realloc(*opts, len + strlen(more) + 2);

	if (!grown)
		return -ENOMEM;
	if (len)
		grown[len++] = ',';
	strcpy(grown + len, more);
	*opts = grown;
	return 0;
}

/* The filesystem's own explanation, as it wrote it. */
static void print_fs_stderr(const char *text)
{
	size_t len = strlen(text);

	if (len == 0)
		return;
	fputs(text, stderr);
	if (text[len - 1] != '\n')
		fputc('\n', stderr);
}

int cmd_mount(int argc, char **argv)
{
	char target[4096], *errbuf, *cwd, *opts = NULL;
	int ch, rc;

	static const struct option lopts[] = {
		{ "attach", required_argument, NULL, 'A' },
		{ "no-kernel", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	char attach[64];

	while ((ch = cli_getopt(argc, argv, "+o:", lopts)) != -1) {
		const char *more = optarg;

		if (ch == 'A') {
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "fd") != 0 &&
			    strcmp(optarg, "preload") != 0 &&
			    strcmp(optarg, "fusermount") != 0) {
				free(opts);
				return cli_usage_error("--attach takes auto, fd, preload "
				    "or fusermount");
			}
			snprintf(attach, sizeof(attach), "attach=%s", optarg);
			more = attach;
		} else if (ch == 'K') {
			more = "nokernel";
		}
		if (add_opts(&opts, more) < 0) {
			cli_err("mount", -ENOMEM);
			free(opts);
			return 1;
		}
	}
	if (optind >= argc) {
		free(opts);
		return cli_usage_error("missing FS_COMMAND");
	}
	cwd = getcwd(NULL, 0);
	errbuf = calloc(1, MOUNT_ERRSIZE);
	if (!cwd || !errbuf) {
		cli_err(".", cwd ? -ENOMEM : -errno);
		free(cwd);
		free(opts);
		free(errbuf);
		return 1;
	}
	rc = perfuse_daemon_mount(cli_sock, argv + optind, opts, cwd, environ,
	    target, sizeof target, errbuf, MOUNT_ERRSIZE);
	if (rc == 0 && strncmp(errbuf, "no kernel mount", 15) == 0)
		fprintf(stderr, "perfuse: %s: %s\n", target, errbuf);
	if (rc < 0) {
		/*
		 * Our line first: every error of perfuse starts "perfuse: ".
		 * perfused's reason is the last line of errbuf; the lines
		 * before it are the filesystem's own stderr.
		 */
		char *reason;

		errbuf[MOUNT_ERRSIZE - 1] = '\0';
		reason = strrchr(errbuf, '\n');
		if (reason != NULL)
			*reason++ = '\0';
		else
			reason = errbuf;
		if (*reason != '\0')
			fprintf(stderr, "perfuse: %s: %s\n", argv[optind], reason);
		else
			cli_err(argv[optind], rc);
		if (reason != errbuf)
			print_fs_stderr(errbuf);
	}
	free(cwd);
	free(opts);
	free(errbuf);
	return rc < 0 ? 1 : 0;
}

int cmd_umount(int argc, char **argv)
{
	int status = 0;

	while (cli_getopt(argc, argv, "", NULL) != -1)
		;
	if (optind >= argc)
		return cli_usage_error("missing TARGET");
	for (int i = optind; i < argc; i++) {
		char *abs = path_absolute(argv[i]);
		int rc = abs ? perfuse_daemon_umount(cli_sock, abs) : -errno;

		/* -EINVAL: no perfused runs, so nothing is mounted. */
		if (rc == -ENOENT || rc == -ECONNREFUSED || rc == -EINVAL)
			cli_errmsg(argv[i], "not mounted");
		else if (rc < 0)
			cli_err(argv[i], rc);
		if (rc < 0)
			status = 1;
		free(abs);
	}
	return status;
}

/* The mounts as one JSON array, an object a line. */
static void list_json(const struct perfuse_mount_info *m, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		int first = 1;

		fputs(i ? ",\n {" : "\n {", stdout);
		json_key(stdout, &first, "target");
		json_string(stdout, m[i].target);
		json_key(stdout, &first, "command");
		json_string(stdout, m[i].command);
		json_key(stdout, &first, "pid");
		printf("%ld", m[i].pid);
		json_key(stdout, &first, "minor");
		printf("%u", m[i].minor);
		json_key(stdout, &first, "uid");
		printf("%u", m[i].uid);
		json_key(stdout, &first, "clients");
		printf("%u", m[i].clients);
		putchar('}');
	}
	puts(n ? "\n]" : "]");
}

int cmd_list(int argc, char **argv)
{
	const struct perfuse_mount_info *m;
	size_t n;
	int rc, json = 0;

	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};

	while (cli_getopt(argc, argv, "", lopts) != -1)
		json = 1;
	if (optind < argc)
		return cli_usage_error("extra operand '%s'", argv[optind]);
	rc = pp_mounts(&m, &n);
	if (rc < 0) {
		cli_err(cli_sock ? cli_sock : "perfused", rc);
		return 1;
	}
	if (json) {
		list_json(m, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\t%s\t%ld\t7.%u\n", m[i].target, m[i].command,
		    m[i].pid, m[i].minor);
	return 0;
}

/* ------------------------------------------------------------------ */
/* df                                                                   */

struct df_row {
	char fs[4096];
	char size[24], used[24], avail[24], pct[8];
	char target[4096];
};

struct df_table {
	struct df_row *rows;
	size_t n;
};

/* The first word of a command line. */
static void first_word(const char *cmd, char *out, size_t size)
{
	size_t len = strcspn(cmd, " \t");

	if (len >= size)
		len = size - 1;
	memcpy(out, cmd, len);
	out[len] = '\0';
}

static uint64_t kib_ceil(uint64_t count, uint64_t unit)
{
	unsigned __int128 bytes = (unsigned __int128)count * unit;

	return (uint64_t)((bytes + 1023) / 1024);
}

static void fill_row(struct df_row *r, const struct statvfs *sv)
{
	uint64_t unit = sv->f_frsize ? sv->f_frsize : sv->f_bsize;
	uint64_t used_blocks = sv->f_blocks >= sv->f_bfree ?
	    sv->f_blocks - sv->f_bfree : 0;
	uint64_t used = kib_ceil(used_blocks, unit);
	uint64_t avail = kib_ceil(sv->f_bavail, unit);
	uint64_t total = used + avail;

	snprintf(r->size, sizeof r->size, "%" PRIu64,
	    kib_ceil(sv->f_blocks, unit));
	snprintf(r->used, sizeof r->used, "%" PRIu64, used);
	snprintf(r->avail, sizeof r->avail, "%" PRIu64, avail);
	if (total == 0)
		strcpy(r->pct, "-");
	else
		snprintf(r->pct, sizeof r->pct, "%" PRIu64 "%%",
		    (used * 100 + total - 1) / total);
}

/* STATFS path in the mount m and add a row; 0 or -errno. */
static int df_add(struct df_table *t, const struct perfuse_mount_info *m,
    perfuse_conn *c, const char *path)
{
	struct statvfs sv;
	struct df_row *grown;
	int rc = perfuse_statfs(c, path, &sv);

	if (rc < 0)
		return rc;
	grown = realloc(t->rows, (t->n + 1) * sizeof *t->rows);
	if (!grown)
		return -ENOMEM;
	t->rows = grown;
	first_word(m->command, grown[t->n].fs, sizeof grown[t->n].fs);
	snprintf(grown[t->n].target, sizeof grown[t->n].target, "%s",
	    m->target);
	fill_row(&grown[t->n], &sv);
	t->n++;
	return 0;
}

static int width(int w, const char *s)
{
	int len = (int)strlen(s);

	return len > w ? len : w;
}

static void df_print(const struct df_table *t)
{
	int wfs = 14, wsize = 9, wused = 5, wavail = 9, wpct = 4;

	for (size_t i = 0; i < t->n; i++) {
		wfs = width(wfs, t->rows[i].fs);
		wsize = width(wsize, t->rows[i].size);
		wused = width(wused, t->rows[i].used);
		wavail = width(wavail, t->rows[i].avail);
		wpct = width(wpct, t->rows[i].pct);
	}
	printf("%-*s %*s %*s %*s %*s %s\n", wfs, "Filesystem", wsize,
	    "1K-blocks", wused, "Used", wavail, "Available", wpct, "Use%",
	    "Mounted on");
	for (size_t i = 0; i < t->n; i++) {
		const struct df_row *r = &t->rows[i];

		printf("%-*s %*s %*s %*s %*s %s\n", wfs, r->fs, wsize, r->size,
		    wused, r->used, wavail, r->avail, wpct, r->pct, r->target);
	}
}

static const struct perfuse_mount_info *mount_named(const char *target)
{
	const struct perfuse_mount_info *m;
	size_t n;

	if (pp_mounts(&m, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].target, target) == 0)
			return &m[i];
	return NULL;
}

/* A row for every mount; 0 or 1. */
static int df_all(struct df_table *t)
{
	const struct perfuse_mount_info *m;
	size_t n;
	int status = 0, rc;

	rc = pp_mounts(&m, &n);
	if (rc < 0) {
		cli_err(cli_sock ? cli_sock : "perfused", rc);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		perfuse_conn *c;

		rc = pp_conn(m[i].target, &c);
		if (rc == 0)
			rc = df_add(t, &m[i], c, "/");
		if (rc < 0) {
			cli_err(m[i].target, rc);
			status = 1;
		}
	}
	return status;
}

/* A row for the mount of each path; 0 or 1. */
static int df_paths(struct df_table *t, int argc, char **argv)
{
	int status = 0;

	for (int i = 0; i < argc; i++) {
		struct ppath p;
		int rc;

		if (pp_open(argv[i], &p) != 0) {
			status = 1;
			continue;
		}
		rc = df_add(t, mount_named(p.target), p.c, p.in);
		if (rc < 0) {
			cli_err(argv[i], rc);
			status = 1;
		}
		pp_free(&p);
	}
	return status;
}

int cmd_df(int argc, char **argv)
{
	struct df_table t = { NULL, 0 };
	int status;

	while (cli_getopt(argc, argv, "", NULL) != -1)
		;
	if (optind < argc)
		status = df_paths(&t, argc - optind, argv + optind);
	else
		status = df_all(&t);
	if (t.n > 0)
		df_print(&t);
	else if (status == 0) {
		cli_errmsg(NULL, "no file systems processed");
		status = 1;
	}
	free(t.rows);
	return status;
}
