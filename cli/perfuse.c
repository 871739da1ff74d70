/*
 * perfuse.c - the perfuse command: global options, the table of
 * subcommands, dispatch, usage and messages.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_sock;

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;  /* the usage after "perfuse NAME" */
	const char *help;  /* what --help adds under the usage line */
};

static const struct command commands[] = {
	{ "mount", cmd_mount, "[-o OPTS] [--attach=METHOD] [--no-kernel] [--] FS_COMMAND [ARGS...]",
	  "Run the FUSE filesystem FS_COMMAND under perfused; return once it\n"
	  "answered INIT.  The mount is named by its mountpoint argument.  Where\n"
	  "kernel FUSE is usable and the target an existing directory, the\n"
	  "target is also mounted on the kernel; else a line says why not.\n"
	  "  -o OPTS           perfuse's mount options, comma-separated:\n"
	  "                    target=/ABS/PATH (the mount's name),\n"
	  "                    init_timeout=SECONDS (default 30),\n"
	  "                    timeout=SECONDS per request (default 60, 0: none),\n"
	  "                    attach=METHOD (as --attach),\n"
	  "                    nokernel (no kernel mount), keep (left on the\n"
	  "                    kernel when perfused stops), and for the kernel\n"
	  "                    mount: allow_other, default_permissions, ro,\n"
	  "                    noatime, fsname=NAME, subtype=TYPE, max_read=BYTES\n"
	  "  --attach=METHOD   how the filesystem gets its socket: auto (the\n"
	  "                    default: fd for libfuse3 programs, else preload),\n"
	  "                    fd (/dev/fd/N mountpoint), preload (LD_PRELOAD shim\n"
	  "                    and fusermount stand-ins), fusermount (stand-ins)\n"
	  "  --no-kernel       no kernel mount, the API path only (-o nokernel)\n" },
	{ "umount", cmd_umount, "TARGET...",
	  "Unmount the perfuse mounts TARGET.\n" },
	{ "list", cmd_list, "[--json]",
	  "List the mounts: TARGET, COMMAND, PID and protocol version,\n"
	  "separated by tabs.\n"
	  "  --json  one JSON array of objects with target, command, pid,\n"
	  "          minor, uid and clients\n" },
	{ "trace", cmd_trace, "[--json] [-o FILE] [-q] TARGET",
	  "Show the live FUSE traffic of the mount TARGET, one line per\n"
	  "request and reply: time, client, unique, opcode, node, the\n"
	  "arguments that matter, error or reply size, latency.  Runs until\n"
	  "interrupted or the mount ends.\n"
	  "  --json     one JSON object per line instead\n"
	  "  -o FILE    also record every message whole, with its timing, in\n"
	  "             FILE (the format of lib/trace.h), for perfuse replay\n"
	  "  -q         print nothing (with -o)\n" },
	{ "check", cmd_check, "[--json] [--attach=METHOD] [--timeout=SECONDS] [--]"
	  " FS_COMMAND [ARGS...]",
	  "Start the FUSE filesystem FS_COMMAND and run a conformance battery\n"
	  "against it, one line per check: PASS, FAIL or SKIP and why.  INIT at\n"
	  "7.8, 7.12, 7.19, 7.23, 7.31 and 7.38 (a fresh filesystem each time),\n"
	  "lookup counts and FORGET, READDIR offsets, '.' and '..', errno values,\n"
	  "rename, writes and truncation past EOF, reply sizes, INTERRUPT and\n"
	  "ENOSYS.  Writes go to a scratch directory under the root, removed at\n"
	  "the end; a read-only filesystem gets SKIP for the write checks.  The\n"
	  "mountpoint argument (the last non-option one) is replaced and need\n"
	  "not exist.  Exit status 0 only when no check failed.\n"
	  "  --json             one JSON object per check (check, result, detail)\n"
	  "  --attach=METHOD    fd: the filesystem gets a socket as fd 3 and the\n"
	  "                     mountpoint /dev/fd/3 (libfuse3 >= 3.3 only);\n"
	  "                     preload: a private perfused starts it with the\n"
	  "                     preload shim (libfuse2 and others; INIT is then\n"
	  "                     perfused's and the INIT checks are skipped);\n"
	  "                     auto (default): fd for libfuse3 programs, else\n"
	  "                     preload\n"
	  "  --timeout=SECONDS  wait at most this long for each reply (default 5)\n" },
	{ "replay", cmd_replay, "[--json] [--attach=METHOD] [--minor=N]"
	  " [--timeout=SECONDS] FILE [--] FS_COMMAND [ARGS...]",
	  "Start the FUSE filesystem FS_COMMAND, INIT, and send it the client\n"
	  "requests recorded in FILE (perfuse trace -o) one at a time, node ids\n"
	  "and file handles mapped to the ones the new server gives.  Print one\n"
	  "line per reply that differs from the recording:\n"
	  "  DIFF #UNIQUE OPCODE: recorded X, got Y\n"
	  "Compared: the error; the payload size; entries and attributes but\n"
	  "for node ids, handles, generations, inode numbers and times;\n"
	  "directory entries by name, type and offset; data byte for byte.\n"
	  "Exit status 0 when nothing differed, 1 otherwise.\n"
	  "  --json             one JSON object per difference\n"
	  "  --attach=METHOD    as for perfuse check (default auto)\n"
	  "  --minor=N          offer 7.N at INIT (default 38); the recorded\n"
	  "                     requests must be of the minor the server agrees\n"
	  "  --timeout=SECONDS  wait at most this long for each reply (default 5)\n" },
	{ "df", cmd_df, "[PATH...]",
	  "Show the space used on the mounts holding PATH (default: all).\n" },
	{ "ls", cmd_ls, "[-l] [-a] [-d] [-p] [PATH...]",
	  "List directory contents, one name a line.\n"
	  "  -l  long format\n"
	  "  -a  include entries whose names begin with '.'\n"
	  "  -d  list directories themselves, not their contents\n"
	  "  -p  append / to the names of directories\n"
	  "  -1  one name a line (always so; accepted for habit's sake)\n" },
	{ "stat", cmd_stat, "[--json] PATH...",
	  "Show the attributes of PATH (a final symbolic link is not"
	  " followed).\n"
	  "  --json  one JSON object a line, one per PATH\n" },
	{ "cat", cmd_cat, "PATH...",
	  "Write the contents of the files PATH to standard output.\n" },
	{ "get", cmd_get, "[-r] [-q] SRC DST",
	  "Copy SRC from a mount to the local file or directory DST.\n"
	  "A file over 4 MiB shows a progress bar when stderr is a terminal.\n"
	  "  -r  copy directories recursively\n"
	  "  -q  quiet: no progress bar\n" },
	{ "put", cmd_put, "[-r] [-q] SRC DST",
	  "Copy the local SRC to the file or directory DST in a mount.\n"
	  "A file over 4 MiB shows a progress bar when stderr is a terminal.\n"
	  "  -r  copy directories recursively\n"
	  "  -q  quiet: no progress bar\n" },
	{ "mkdir", cmd_mkdir, "[-p] [-m MODE] PATH...",
	  "Create directories.\n"
	  "  -p       no error if existing, make parents as needed\n"
	  "  -m MODE  set the mode (as in chmod), not 0777 & ~umask\n" },
	{ "rm", cmd_rm, "[-r] [-f] PATH...",
	  "Remove files.\n"
	  "  -r  remove directories and their contents recursively\n"
	  "  -f  ignore nonexistent files, never fail for them\n" },
	{ "rmdir", cmd_rmdir, "PATH...",
	  "Remove empty directories.\n" },
	{ "mv", cmd_mv, "SRC DST",
	  "Rename SRC to DST, or move it into the directory DST (same"
	  " mount).\n" },
	{ "ln", cmd_ln, "[-s] TARGET LINKNAME",
	  "Make LINKNAME a hard link to TARGET (same mount).\n"
	  "  -s  make a symbolic link containing the string TARGET\n" },
	{ "readlink", cmd_readlink, "PATH...",
	  "Print the target of the symbolic links PATH.\n" },
	{ "chmod", cmd_chmod, "MODE PATH...",
	  "Change the mode of PATH.  MODE is octal or symbolic, such as\n"
	  "u+x,go-w or a=r.\n" },
	{ "chown", cmd_chown, "[OWNER][:GROUP] PATH...",
	  "Change the owner and/or group of PATH (names or numbers).\n" },
	{ "truncate", cmd_truncate, "[-c] -s SIZE PATH...",
	  "Shrink or extend files to SIZE, creating missing ones.\n"
	  "  -s SIZE  bytes, with an optional K, M, G, T, P or E suffix\n"
	  "           (powers of 1024; KB, MB... powers of 1000); a leading\n"
	  "           +, -, <, >, / or % adjusts the current size as in\n"
	  "           coreutils\n"
	  "  -c       do not create missing files\n" },
	{ "touch", cmd_touch, "[-c] PATH...",
	  "Set the access and modification times of PATH to now, creating"
	  " missing\nfiles.\n"
	  "  -c  do not create missing files\n" },
	{ "xattr", cmd_xattr,
	  "get PATH NAME | set PATH NAME VALUE | list PATH | rm PATH NAME",
	  "Read, write, list or remove extended attributes.\n" },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command *cur_cmd;

static void print_usage_line(FILE *f, const struct command *cmd)
{
	fprintf(f, "usage: perfuse %s%s%s\n", cmd->name,
	    cmd->args[0] ? " " : "", cmd->args);
}

static void print_main_usage(FILE *f)
{
	fputs("usage: perfuse [-S SOCKET] COMMAND [ARGS...]\n"
	    "       perfuse --help | --version\n", f);
}

static void print_main_help(void)
{
	print_main_usage(stdout);
	fputs("\nReach the files of FUSE filesystems served by perfused.\n\n"
	    "Options:\n"
	    "  -S, --socket=SOCKET  perfused's socket (default:"
	    " $PERFUSE_SOCKET, else\n"
	    "                       the per-user default)\n"
	    "  -h, --help           show this help and exit\n"
	    "      --version        show the version and exit\n\n"
	    "Commands:\n", stdout);
	for (size_t i = 0; i < NCOMMANDS; i++)
		printf("  %s%s%s\n", commands[i].name,
		    commands[i].args[0] ? " " : "", commands[i].args);
	fputs("\nRun 'perfuse COMMAND --help' for a command's usage.\n",
	    stdout);
}

void cli_err(const char *what, int err)
{
	if (err < 0)
		err = -err;
	fprintf(stderr, "perfuse: %s: %s\n", what, strerror(err));
}

void cli_errmsg(const char *what, const char *fmt, ...)
{
	va_list ap;

	fputs("perfuse: ", stderr);
	if (what)
		fprintf(stderr, "%s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs("perfuse: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	if (cur_cmd)
		print_usage_line(stderr, cur_cmd);
	else
		print_main_usage(stderr);
	return 2;
}

static void cli_help_exit(void)
{
	print_usage_line(stdout, cur_cmd);
	fputs(cur_cmd->help, stdout);
	exit(fflush(stdout) == 0 ? 0 : 1);
}

/* optstring for getopt_long: ordering prefix, ':' (report missing
 * arguments apart), the caller's options and 'h'. */
static void build_optstring(const char *in, char *out, size_t size)
{
	const char *order = "";

	if (*in == '+' || *in == '-') {
		order = *in == '+' ? "+" : "-";
		in++;
	}
	snprintf(out, size, "%s:%sh", order, in);
}

static struct option *build_longopts(const struct option *in)
{
	static struct option all[32];
	size_t n = 0;

	for (; in && in->name && n < 30; in++)
		all[n++] = *in;
	all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	all[n] = (struct option){ NULL, 0, NULL, 0 };
	return all;
}

int cli_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts)
{
	static char **last_argv;
	static char opts[128];
	static struct option *lopts;
	int ch;

	if (argv != last_argv) {
		last_argv = argv;
		optind = 0;
		opterr = 0;
		build_optstring(optstring, opts, sizeof opts);
		lopts = build_longopts(longopts);
	}
	ch = getopt_long(argc, argv, opts, lopts, NULL);
	if (ch == 'h')
		cli_help_exit();
	if (ch == ':') {
		if (optopt && argv[optind - 1][1] != '-')
			exit(cli_usage_error("option requires an argument"
			    " -- '%c'", optopt));
		exit(cli_usage_error("option '%s' requires an argument",
		    argv[optind - 1]));
	}
	if (ch == '?') {
		if (optopt)
			exit(cli_usage_error("invalid option -- '%c'",
			    optopt));
		exit(cli_usage_error("unrecognized option '%s'",
		    argv[optind - 1]));
	}
	return ch;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Global options; returns the index of the subcommand, or exits. */
static int parse_global(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:S:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			cli_sock = optarg;
			break;
		case 'h':
			print_main_help();
			exit(fflush(stdout) == 0 ? 0 : 1);
		case 'V':
			printf("perfuse %s\n", PERFUSE_VERSION);
			exit(fflush(stdout) == 0 ? 0 : 1);
		case ':':
			fprintf(stderr, "perfuse: option '%s' requires an"
			    " argument\n", argv[optind - 1]);
			exit(cli_usage_error(NULL));
		default:
			if (optopt)
				fprintf(stderr, "perfuse: invalid option --"
				    " '%c'\n", optopt);
			else
				fprintf(stderr, "perfuse: unrecognized option"
				    " '%s'\n", argv[optind - 1]);
			exit(cli_usage_error(NULL));
		}
	}
	return optind;
}

static int finish(int rc)
{
	pp_cleanup();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_errmsg(NULL, "write error: %s", strerror(errno));
		return 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *env = getenv("PERFUSE_SOCKET");
	const struct command *cmd;
	int first;

	cli_sock = env && *env ? env : NULL;
	first = parse_global(argc, argv);
	if (first >= argc) {
		fputs("perfuse: missing command\n", stderr);
		return cli_usage_error(NULL);
	}
	cmd = find_command(argv[first]);
	if (!cmd) {
		fprintf(stderr, "perfuse: unknown command '%s'\n",
		    argv[first]);
		return cli_usage_error(NULL);
	}
	cur_cmd = cmd;
	return finish(cmd->fn(argc - first, argv + first));
}
