/*
 * cli.h - declarations shared by the files of the perfuse command.
 */
#ifndef PERFUSE_CLI_H
#define PERFUSE_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "perfuse.h"

/* ------------------------------------------------------------------ */
/* perfuse.c: global state, messages and option parsing                 */

/* perfused's socket (-S, $PERFUSE_SOCKET), NULL for the library's default. */
extern const char *cli_sock;

/* Print "perfuse: WHAT: strerror(-err)" on stderr. */
void cli_err(const char *what, int err);
/* Print "perfuse: WHAT: MSG" on stderr (what may be NULL). */
void cli_errmsg(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Report a usage error of the current subcommand: the message (may be
 * NULL), then its usage line, on stderr.  Returns 2, the exit status.
 */
int cli_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * getopt_long() for subcommands: argv[0] is the subcommand's name and
 * optstring is used as given (prefix it with '+' to stop at the first
 * operand).  -h and --help print the subcommand's usage on stdout and exit
 * 0; an unknown option or a missing argument is a usage error (exit 2).
 * Call it with a fresh argv: the first call resets getopt's state.
 * Returns the option character, or -1 after the last option (optind is
 * then the first operand).
 */
int cli_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts);

/* The subcommands. */
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_df(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_mkdir(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_rmdir(int argc, char **argv);
int cmd_mv(int argc, char **argv);
int cmd_ln(int argc, char **argv);
int cmd_readlink(int argc, char **argv);
int cmd_chmod(int argc, char **argv);
int cmd_chown(int argc, char **argv);
int cmd_truncate(int argc, char **argv);
int cmd_touch(int argc, char **argv);
int cmd_xattr(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_replay(int argc, char **argv);

/* ------------------------------------------------------------------ */
/* cmd_check.c: filesystems that check and replay start themselves      */

/* How the filesystem gets its socket: auto (fd for libfuse3 programs,
 * else preload), fd (/dev/fd/3 mountpoint), preload (private perfused). */
enum fsrun_attach { FSRUN_AUTO, FSRUN_FD, FSRUN_PRELOAD };
struct fsrun;

/* "auto", "fd" or "preload"; -1 for anything else. */
int fsrun_attach_parse(const char *s);
/* Index of the mountpoint argument (the last non-option one), or -1. */
int fsrun_mountpoint(char *const argv[]);
/*
 * Start the filesystem argv with a session on it: INIT offering minor
 * with fd, perfuse_connect() through a private perfused with preload.
 * Returns 0 or -errno with the reason (its stderr included) in why.
 */
int fsrun_start(char *const argv[], enum fsrun_attach attach, unsigned minor,
    struct fsrun **out, perfuse_conn **c, char *why, size_t whysize);
/* Reached through perfused (preload)? */
int fsrun_via_daemon(const struct fsrun *r);
/* The end of what the filesystem (preload: perfused) wrote on stderr. */
void fsrun_stderr(struct fsrun *r, char *buf, size_t size);
/*
 * End the session c (its FORGETs, DESTROY) and the filesystem; free r.
 * Returns 0 when it exited cleanly, else -errno and why.
 */
int fsrun_stop(struct fsrun *r, perfuse_conn *c, char *why, size_t whysize);

/* ------------------------------------------------------------------ */
/* json.c: JSON output                                                  */

/*
 * Write str as a JSON string, quotes included: control characters
 * escaped, bytes that are not well-formed UTF-8 replaced by U+FFFD.
 */
void json_string(FILE *f, const char *str);
/* Write ", " unless *first (then clear it), then "key": . */
void json_key(FILE *f, int *first, const char *key);

/* ------------------------------------------------------------------ */
/* progress.c: the progress bar of get and put                          */

/* Files larger than this get a progress bar (when stderr is a terminal). */
#define PROGRESS_MIN (4u * 1024 * 1024)

/* -q: never show a progress bar. */
extern int progress_quiet;

struct progress {
	const char *name;   /* shown at the left of the bar */
	uint64_t total, done;
	double start, last; /* CLOCK_MONOTONIC seconds */
	int active;         /* drawing (large file, terminal, not -q) */
	int drawn;          /* columns of the last line drawn, 0: none yet */
};

/* Begin a copy of total bytes; draws only if the bar is wanted. */
void progress_start(struct progress *p, const char *name, uint64_t total);
/* done bytes copied so far; redraws at most ten times a second. */
void progress_update(struct progress *p, uint64_t done);
/* End the bar's line before an error message; no more drawing. */
void progress_break(struct progress *p);
/* The copy is complete: final line (100%, rate, time taken). */
void progress_done(struct progress *p);

/* ------------------------------------------------------------------ */
/* paths.c: user paths, the mount table and connections                 */

/* An error code of pp_resolve(): the path is under no perfuse mount. */
#define PP_NOMOUNT 1

/* A user path mapped onto a mount. */
struct ppath {
	const char *arg;    /* the path as the user wrote it (for messages) */
	char *argbuf;       /* arg when this structure owns it, else NULL */
	char *abs;          /* absolute, normalized local form */
	const char *target; /* the mount's target */
	char *in;           /* the path inside the mount, starting with '/' */
	perfuse_conn *c;    /* the mount's connection */
};

/*
 * Make path absolute against the current directory and normalize it
 * textually ("//", ".", ".." and a trailing '/' go).  Returns a malloc'ed
 * string, or NULL with errno set.
 */
char *path_absolute(const char *path);
/* a + "/" + b with exactly one '/' between them (malloc'ed; NULL: ENOMEM). */
char *path_join(const char *a, const char *b);
/* The last component of an absolute normalized path ("/" for "/"). */
const char *path_base(const char *abs);

/*
 * The mounts perfused lists (an empty list when no perfused runs).
 * Returns 0 or -errno.
 */
int pp_mounts(const struct perfuse_mount_info **out, size_t *n);

/* Connection to the mount named target, made once and cached. */
int pp_conn(const char *target, perfuse_conn **out);

/*
 * Map the user path arg onto its mount and connect to it.  Returns 0,
 * PP_NOMOUNT, or -errno; on failure nothing needs freeing.  arg must
 * outlive p.
 */
int pp_resolve(const char *arg, struct ppath *p);
/* As pp_resolve() then, on failure, print the error (see pp_err()). */
int pp_open(const char *arg, struct ppath *p);
/* Print the message for a pp_*() or perfuse_*() error about p->arg. */
void pp_err(const char *arg, int err);
/* The entry name inside directory parent, as a new ppath.  0 or -ENOMEM. */
int pp_child(const struct ppath *parent, const char *name, struct ppath *out);
void pp_free(struct ppath *p);

/*
 * perfuse_stat() of p, then, while it is a symbolic link, its target
 * (which may lie on another mount), updating p as the links lead.
 * Returns 0, PP_NOMOUNT (a link leads out of every mount), or -errno.
 */
int pp_follow(struct ppath *p, struct stat *st);

/* Disconnect every cached connection and free the mount table. */
void pp_cleanup(void);

#endif
