/*
 * fsyncer.c - FSYNC and FSYNCDIR through libperfuse, which the perfuse
 * command never sends, for the integration tests of filesystems that
 * persist on fsync (tests/integration/memfs_store.sh).
 *
 *   fsyncer MOUNTPOINT write PATH SRC
 *       Create or truncate PATH, write the bytes of the local file SRC to
 *       it, FSYNC, close.
 *   fsyncer MOUNTPOINT fsync PATH
 *       Open PATH read-only, FSYNC, close.
 *   fsyncer MOUNTPOINT fsyncdir
 *       OPENDIR the root, FSYNCDIR, RELEASEDIR.
 *
 * It reaches the mount through perfused ($PERFUSE_SOCKET or the default
 * socket).  Exit status 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "perfuse.h"
#include "session.h"

static int
fail(const char *what, int err)
{
	fprintf(stderr, "fsyncer: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return 1;
}

static int
do_write(perfuse_conn *c, const char *path, const char *src)
{
	char buf[65536];
	perfuse_file *f;
	off_t off = 0;
	ssize_t n, w;
	int fd, err;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(src, errno);
	err = perfuse_file_open(c, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &f);
	if (err != 0) {
		close(fd);
		return fail(path, err);
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		w = perfuse_pwrite(f, buf, (size_t)n, off);
		if (w != n) {
			err = w < 0 ? (int)w : -EIO;
			break;
		}
		off += n;
	}
	if (n < 0 && err == 0)
		err = -errno;
	close(fd);
	if (err == 0)
		err = perfuse_fsync(f, 0);
	if (perfuse_file_close(f) != 0 && err == 0)
		err = -EIO;
	return err ? fail(path, err) : 0;
}

static int
do_fsync(perfuse_conn *c, const char *path)
{
	perfuse_file *f;
	int err;

	err = perfuse_file_open(c, path, O_RDONLY, 0, &f);
	if (err != 0)
		return fail(path, err);
	err = perfuse_fsync(f, 0);
	perfuse_file_close(f);
	return err ? fail(path, err) : 0;
}

/* The public API has no FSYNCDIR: raw requests on the root (node 1). */
static int
do_fsyncdir(perfuse_conn *c)
{
	struct fuse_open_in oi = { O_RDONLY | O_DIRECTORY, 0 };
	struct fuse_open_out oo;
	struct fuse_fsync_in fi;
	struct fuse_release_in ri;
	struct iovec iov;
	int err;

	iov.iov_base = &oi;
	iov.iov_len = sizeof(oi);
	err = pf_call(c, FUSE_OPENDIR, FUSE_ROOT_ID, &iov, 1, &oo, sizeof(oo), NULL);
	if (err != 0)
		return fail("OPENDIR /", err);
	memset(&fi, 0, sizeof(fi));
	fi.fh = oo.fh;
	iov.iov_base = &fi;
	iov.iov_len = sizeof(fi);
	err = pf_call(c, FUSE_FSYNCDIR, FUSE_ROOT_ID, &iov, 1, NULL, 0, NULL);
	memset(&ri, 0, sizeof(ri));
	ri.fh = oo.fh;
	ri.flags = O_RDONLY | O_DIRECTORY;
	iov.iov_base = &ri;
	iov.iov_len = sizeof(ri);
	(void)pf_call(c, FUSE_RELEASEDIR, FUSE_ROOT_ID, &iov, 1, NULL, 0, NULL);
	return err ? fail("FSYNCDIR /", err) : 0;
}

int
main(int argc, char *argv[])
{
	perfuse_conn *c;
	int err, ret;

	if (argc < 3 || (!strcmp(argv[2], "write") && argc != 5) ||
	    (!strcmp(argv[2], "fsync") && argc != 4) ||
	    (!strcmp(argv[2], "fsyncdir") && argc != 3) ||
	    (strcmp(argv[2], "write") && strcmp(argv[2], "fsync") &&
	     strcmp(argv[2], "fsyncdir"))) {
		fprintf(stderr, "usage: fsyncer MOUNTPOINT write PATH SRC | "
		    "fsync PATH | fsyncdir\n");
		return 2;
	}
	err = perfuse_connect(NULL, argv[1], &c);
	if (err != 0)
		return fail(argv[1], err);
	if (!strcmp(argv[2], "write"))
		ret = do_write(c, argv[3], argv[4]);
	else if (!strcmp(argv[2], "fsync"))
		ret = do_fsync(c, argv[3]);
	else
		ret = do_fsyncdir(c);
	if (perfuse_disconnect(c) != 0 && ret == 0)
		ret = fail("disconnect", EIO);
	return ret;
}
