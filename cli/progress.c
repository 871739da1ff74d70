/*
 * progress.c - the progress bar of perfuse get and put.
 *
 * Shown for a file larger than PROGRESS_MIN bytes, when standard error is
 * a terminal and -q was not given; never otherwise.  One line, redrawn in
 * place with a carriage return at most every PROGRESS_INTERVAL_MS:
 *
 *   big.iso  [#########--------]  48%    96 MiB/200 MiB     41 MiB/s  ETA 0:03
 *
 * At the end the line shows 100%, the average rate and the time taken,
 * and a newline follows.  Before an error message, the line is ended so
 * that the message starts on a line of its own.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define PROGRESS_INTERVAL_MS 100
#define BAR_MIN 10

int progress_quiet;

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* 1536 -> "1.5 KiB"; below 10 of a unit one decimal, else none. */
static void human(double v, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
	    "PiB", "EiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%.0f %s", v, units[u]);
	else
		snprintf(buf, size, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Seconds as M:SS or H:MM:SS. */
static void duration(double secs, char *buf, size_t size)
{
	unsigned long s = secs < 0 ? 0 : secs > 359999999.0 ? 359999999 :
	    (unsigned long)(secs + 0.5);

	if (s >= 3600)
		snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
}

static void draw(struct progress *p, int final)
{
	char done[24], total[24], rate[24], eta[24], right[128], line[1024];
	double elapsed = now_sec() - p->start;
	double speed = elapsed > 0 ? (double)p->done / elapsed : 0;
	int width = term_width(), pct, namew, barw, fill, n;
	uint64_t shown = p->done > p->total ? p->total : p->done;

	if (width > (int)sizeof line - 1)
		width = (int)sizeof line - 1;
	pct = p->total ? (int)(shown * 100 / p->total) : 100;
	human((double)shown, done, sizeof done);
	human((double)p->total, total, sizeof total);
	human(speed, rate, sizeof rate);
	if (final)
		duration(elapsed, eta, sizeof eta);
	else if (speed > 0 && p->done > 0)
		duration((double)(p->total - shown) / speed, eta, sizeof eta);
	else
		snprintf(eta, sizeof eta, "-:--");
	/* Fixed widths, so that the bar does not jump about. */
	snprintf(right, sizeof right, " %3d%%  %8s/%-8s  %8s/s  %s %-7s", pct,
	    done, total, rate, final ? "in " : "ETA", eta);
	/* The name gets what is left once the bar has BAR_MIN columns. */
	namew = width - 1 - (int)strlen(right) - BAR_MIN - 4;
	/* ... but no more than a third of the line: the bar is the point. */
	if (namew > width / 3)
		namew = width / 3;
	if (namew < 0) {
		/* A narrow terminal: only the numbers, packed. */
		snprintf(right, sizeof right, "%d%% %s/%s %s/s %s %s", pct, done,
		    total, rate, final ? "in" : "ETA", eta);
		n = snprintf(line, sizeof line, "%.*s", width - 1, right);
		if (n > width - 1)
			n = width - 1;
	} else {
		const char *name = p->name, *dots = "";
		int len = (int)strlen(name);

		/* A long path: its last component, and the end of that. */
		if (len > namew && strrchr(name, '/') && strrchr(name, '/')[1]) {
			name = strrchr(name, '/') + 1;
			len = (int)strlen(name);
		}
		if (len > namew) {
			dots = namew > 3 ? "..." : "";
			name += len - (namew - (int)strlen(dots));
			len = namew - (int)strlen(dots);
		}
		barw = width - 1 - (int)strlen(right) - (int)strlen(dots) - len - 4;
		if (barw > 50)
			barw = 50;
		fill = p->total ? (int)((double)shown / (double)p->total * barw) :
		    barw;
		n = snprintf(line, sizeof line, "%s%.*s  [", dots, len, name);
		for (int i = 0; i < barw && n < (int)sizeof line - 2; i++)
			line[n++] = i < fill ? '#' : '-';
		line[n++] = ']';
		line[n] = '\0';
		n += snprintf(line + n, sizeof line - (size_t)n, "%s", right);
	}
	/* Spaces over what a longer previous line left. */
	fprintf(stderr, "\r%s%*s", line, p->drawn > n ? p->drawn - n : 0, "");
	p->drawn = n;
	fflush(stderr);
}

void progress_start(struct progress *p, const char *name, uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	p->total = total;
	p->active = !progress_quiet && total > PROGRESS_MIN &&
	    isatty(STDERR_FILENO);
	p->start = now_sec();
	p->last = p->start;
}

void progress_update(struct progress *p, uint64_t done)
{
	double t;

	if (!p->active)
		return;
	p->done = done;
	t = now_sec();
	if (p->drawn && t - p->last < PROGRESS_INTERVAL_MS / 1000.0)
		return;
	p->last = t;
	draw(p, 0);
}

void progress_break(struct progress *p)
{
	if (p->active && p->drawn)
		fputc('\n', stderr);
	p->active = 0;
}

void progress_done(struct progress *p)
{
	if (!p->active)
		return;
	draw(p, 1);
	fputc('\n', stderr);
	p->active = 0;
}
