/*
 * cmd_trace.c - perfuse trace: the live traffic of a mount, one line per
 * request and reply, or one JSON object per line, and optionally every
 * message recorded in a trace file (lib/trace.h) for perfuse replay.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"
#include "daemon.h"
#include "proto.h"
#include "trace.h"

/* The largest record: a header and a whole message. */
#define RECV_MAX (sizeof(struct pf_trace_rec) + 4u * 1024 * 1024)

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Attach a trace subscriber to target; the socket then carries records. */
static int
trace_open(const char *target, int full)
{
	const char *strs[2] = { target, full ? "full" : "summary" }, *rs[2];
	struct pf_ctl_hdr h;
	char *buf = malloc(PF_CTL_MAX);
	int fd, err, n;

	if (buf == NULL)
		return -ENOMEM;
	fd = pf_ctl_connect(cli_sock);
	if (fd < 0) {
		free(buf);
		return fd == -ECONNREFUSED ? -ENOENT : fd;
	}
	err = pf_ctl_send(fd, PF_CTL_TRACE, 0, strs, 2);
	if (err == 0) {
		n = pf_ctl_recv(fd, buf, &h, rs, 2);
		err = n < 0 ? n : h.error;
	}
	free(buf);
	if (err != 0) {
		close(fd);
		return err;
	}
	return fd;
}

static void
when(uint64_t ns, char *out, size_t size)
{
	time_t sec = (time_t)(ns / 1000000000ULL);
	struct tm tm;
	char hms[16];

	localtime_r(&sec, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	snprintf(out, size, "%s.%06llu", hms, (unsigned long long)(ns % 1000000000ULL) / 1000);
}

static const char *
who(const struct pf_trace_rec *r, char *buf, size_t size)
{
	snprintf(buf, size, "%s %u", (r->flags & PF_TRF_KERNEL) ? "kernel pid" : "pid", r->pid);
	return buf;
}

static const char *
errname(int32_t error)
{
	static char buf[32];
	const char *n = error < 0 ? strerrorname_np(-error) : NULL;

	if (error == 0)
		return "ok";
	if (n != NULL)
		return n;
	snprintf(buf, sizeof(buf), "error %d", error);
	return buf;
}

/* The request's arguments that matter, from its message. */
static void
args(const struct pf_trace_rec *r, const char *msg, char *out, size_t size)
{
	out[0] = '\0';
	if (r->kind == PF_TR_REQUEST && r->msglen >= PF_IN_HDR)
		pf_trace_describe(r->opcode, msg + PF_IN_HDR, r->msglen - PF_IN_HDR, out, size);
}

static void
print_line(const struct pf_trace_rec *r, const char *msg)
{
	char t[32], w[48], a[700];

	when(r->time_ns, t, sizeof(t));
	switch (r->kind) {
	case PF_TR_REQUEST:
		args(r, msg, a, sizeof(a));
		printf("%s %s #%llu %s node %llu%s%s\n", t, who(r, w, sizeof(w)),
		    (unsigned long long)r->unique, pf_op_name(r->opcode),
		    (unsigned long long)r->nodeid, a[0] ? " " : "", a);
		break;
	case PF_TR_REPLY:
		printf("%s %s #%llu %s -> %s, %u bytes, %u us\n", t, who(r, w, sizeof(w)),
		    (unsigned long long)r->unique, pf_op_name(r->opcode), errname(r->error),
		    r->origlen > PF_OUT_HDR ? r->origlen - (unsigned)PF_OUT_HDR : 0,
		    r->latency_us);
		break;
	case PF_TR_NOTIFY:
		printf("%s server NOTIFY %s, %u bytes\n", t, pf_notify_name(r->error),
		    r->origlen);
		break;
	case PF_TR_LOST:
		printf("%s (%d records lost: this trace did not keep up)\n", t, r->error);
		break;
	case PF_TR_END:
		printf("%s (the mount ended)\n", t);
		break;
	}
}

static void
print_json(const struct pf_trace_rec *r, const char *msg)
{
	static const char *kinds[] = { "", "request", "reply", "notify", "lost", "end" };
	char a[700];
	int first = 1;

	printf("{");
	json_key(stdout, &first, "time_ns");
	printf("%llu", (unsigned long long)r->time_ns);
	json_key(stdout, &first, "kind");
	json_string(stdout, kinds[r->kind]);
	if (r->kind == PF_TR_REQUEST || r->kind == PF_TR_REPLY) {
		json_key(stdout, &first, "client");
		json_string(stdout, (r->flags & PF_TRF_KERNEL) ? "kernel" : "api");
		json_key(stdout, &first, "pid");
		printf("%u", r->pid);
		json_key(stdout, &first, "unique");
		printf("%llu", (unsigned long long)r->unique);
		json_key(stdout, &first, "opcode");
		json_string(stdout, pf_op_name(r->opcode));
		json_key(stdout, &first, "nodeid");
		printf("%llu", (unsigned long long)r->nodeid);
	}
	if (r->kind == PF_TR_REQUEST) {
		args(r, msg, a, sizeof(a));
		json_key(stdout, &first, "args");
		json_string(stdout, a);
	} else if (r->kind == PF_TR_REPLY) {
		json_key(stdout, &first, "error");
		printf("%d", r->error);
		json_key(stdout, &first, "errno");
		json_string(stdout, errname(r->error));
		json_key(stdout, &first, "size");
		printf("%u", r->origlen > PF_OUT_HDR ? r->origlen - (unsigned)PF_OUT_HDR : 0);
		json_key(stdout, &first, "latency_us");
		printf("%u", r->latency_us);
	} else if (r->kind == PF_TR_NOTIFY) {
		json_key(stdout, &first, "notification");
		json_string(stdout, pf_notify_name(r->error));
	} else if (r->kind == PF_TR_LOST) {
		json_key(stdout, &first, "lost");
		printf("%d", r->error);
	}
	printf("}\n");
}

int
cmd_trace(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	char *target, *buf;
	int ch, json = 0, quiet = 0, fd, rc = 0;
	FILE *out = NULL;

	while ((ch = cli_getopt(argc, argv, "+o:q", lopts)) != -1) {
		if (ch == 'j')
			json = 1;
		else if (ch == 'o')
			file = optarg;
		else if (ch == 'q')
			quiet = 1;
	}
	if (optind + 1 != argc)
		return cli_usage_error(optind == argc ? "missing TARGET" : "one TARGET only");
	target = path_absolute(argv[optind]);
	if (target == NULL) {
		cli_err(argv[optind], -ENOMEM);
		return 1;
	}
	if (file != NULL && (out = fopen(file, "we")) == NULL) {
		cli_err(file, -errno);
		free(target);
		return 1;
	}
	fd = trace_open(target, file != NULL);
	if (fd < 0) {
		if (fd == -ENOENT)
			cli_errmsg(target, "no such perfuse mount");
		else
			cli_err(target, fd);
		if (out)
			fclose(out);
		free(target);
		return 1;
	}
	if (out != NULL)
		fwrite(PF_TRACE_MAGIC, 1, 8, out);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	buf = malloc(RECV_MAX);
	while (!stop && buf != NULL) {
		struct pf_trace_rec r;
		ssize_t n = recv(fd, buf, RECV_MAX, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (pf_trace_check(buf, (size_t)n) < 0) {
			cli_errmsg(target, "malformed trace record ignored");
			continue;
		}
		memcpy(&r, buf, sizeof(r));
		if (out != NULL && fwrite(buf, 1, (size_t)n, out) != (size_t)n) {
			cli_err(file, -errno);
			rc = 1;
			break;
		}
		if (!quiet && json)
			print_json(&r, buf + sizeof(r));
		else if (!quiet)
			print_line(&r, buf + sizeof(r));
		if (!quiet)
			fflush(stdout);
		if (r.kind == PF_TR_END)
			break;
	}
	free(buf);
	close(fd);
	if (out != NULL && fclose(out) != 0) {
		cli_err(file, -errno);
		rc = 1;
	}
	free(target);
	return rc;
}
