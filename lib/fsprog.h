/*
 * fsprog.h - facts about a filesystem's command line that perfused and
 * the perfuse command both need.  Internal.
 */
#ifndef PERFUSE_FSPROG_H
#define PERFUSE_FSPROG_H

/*
 * Index in argv of the filesystem's mountpoint: its last non-option
 * argument ("-o" takes the next argument unless glued on; "--" ends the
 * options).  -1 when there is none.
 */
int pf_fs_mountpoint(char *const argv[]);

/*
 * Does the program (a path, or a name looked up on path, which may be
 * NULL for /usr/bin:/bin) link libfuse3?  Only those take /dev/fd/N as
 * their mountpoint; a look for the library's soname in the file is
 * enough to choose how to attach it.
 */
int pf_links_libfuse3(const char *prog, const char *path);

#endif
