#!/usr/bin/env bash
# tests/nsrun.sh CMD [ARGS...]
#
# Run CMD as an unprivileged user in a private mount (and pid) namespace in
# which /dev/fuse cannot be opened.  This is what proves perfuse's headline:
# a FUSE filesystem served with no kernel FUSE and no privileges.
#
#  - As root: a new mount + pid namespace; an inaccessible empty file (mode
#    000) is bind-mounted over /dev/fuse; then privileges are dropped with
#    setpriv to the user perfuse-test (created when missing) or nobody.
#  - As another user: a new user namespace maps that user to root so that it
#    may make the same bind mount; then setpriv drops every capability and
#    sets the securebits that stop uid 0 from regaining them at exec.  The
#    user is then "root" by number inside the namespace, but that root owns
#    nothing outside it and holds no capability at all, not even in the
#    namespace: it cannot open the mode-000 file, mount or unmount anything.
#
# HOME, XDG_RUNTIME_DIR and TMPDIR point into a fresh temporary directory
# (mode 0700) owned by that user, removed afterwards.  Other variables of the
# caller's environment (BUILD, ASAN_OPTIONS, ...) are kept.  Before CMD runs,
# the script checks that /dev/fuse cannot be opened and that the process has
# no capability, and fails loudly (exit 125) if either check does not hold.
#
# The pid namespace makes sure nothing CMD started (perfused, filesystems)
# outlives it: when CMD exits, the namespace's processes are killed.  CMD and
# whatever it reads must be readable by the unprivileged user (tests/run.sh
# copies the test scripts and build outputs to a world-readable directory).
set -euo pipefail

if [ $# -eq 0 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

TEST_USER=${PERFUSE_TEST_USER:-perfuse-test}

die() {
	echo "nsrun: $*" >&2
	exit 125
}

# Runs as the unprivileged user, inside the namespaces, right before CMD.
read -r -d '' CHECK <<'EOF' || true
set -eu
fail() { echo "nsrun: FATAL: $*" >&2; exit 125; }
if (exec 3<>/dev/fuse) 2>/dev/null; then
	fail "/dev/fuse can be opened read-write inside the test namespace"
fi
if (exec 3</dev/fuse) 2>/dev/null; then
	fail "/dev/fuse can be opened read-only inside the test namespace"
fi
while read -r key val; do
	case $key in
	CapEff:|CapPrm:|CapAmb:)
		[ "$val" = 0000000000000000 ] ||
			fail "process still holds capabilities ($key $val)";;
	esac
done </proc/self/status
if [ "$NSRUN_MODE" = root ]; then
	while read -r key r e s f; do
		[ "$key" = Uid: ] || continue
		[ "$r" != 0 ] && [ "$e" != 0 ] && [ "$s" != 0 ] && [ "$f" != 0 ] ||
			fail "still root: Uid: $r $e $s $f"
	done </proc/self/status
fi
cd "$HOME"
# Not exec: CMD must not be the pid namespace's init, which ignores the
# signals it has no handler for (abort() of a sanitizer, SIGTERM ...).
st=0
"$@" || st=$?
exit "$st"
EOF

if [ "$(id -u)" = 0 ]; then tmpbase=/tmp; else tmpbase=${TMPDIR:-/tmp}; fi
HOMEDIR=$(mktemp -d "$tmpbase/perfuse-ns.XXXXXX")
BLOCKER=$HOMEDIR.blocker
cleanup() {
	rm -rf -- "$HOMEDIR" "$BLOCKER"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# An empty file nobody may open, to cover /dev/fuse.
: >"$BLOCKER"
chmod 000 "$BLOCKER"

if [ "$(id -u)" = 0 ]; then
	mode=root
	if ! id -u "$TEST_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin \
		    --home-dir /nonexistent "$TEST_USER" >/dev/null 2>&1 ||
		    TEST_USER=nobody
	fi
	uid=$(id -u "$TEST_USER") || die "no user $TEST_USER"
	gid=$(id -g "$TEST_USER")
	[ "$uid" != 0 ] || die "test user $TEST_USER is root"
	chmod 0711 "$HOMEDIR"
	chown "$uid:$gid" "$HOMEDIR"
	chmod 0700 "$HOMEDIR"
	drop=(setpriv --reuid="$uid" --regid="$gid" --clear-groups
	    --inh-caps=-all --bounding-set=-all --no-new-privs)
	ns=(unshare --mount --propagation private --pid --fork --kill-child
	    --mount-proc)
	user=$TEST_USER
else
	mode=userns
	chmod 0700 "$HOMEDIR"
	# Mapped to root inside the new user namespace, which is what lets us
	# bind-mount over /dev/fuse there; setpriv then throws away every
	# capability and locks "noroot" so that exec does not bring them back.
	# shellcheck disable=SC2054 # the commas belong to --securebits
	drop=(setpriv --inh-caps=-all --bounding-set=-all --no-new-privs
	    --securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked)
	ns=(unshare --user --map-root-user --mount --propagation private
	    --pid --fork --kill-child --mount-proc)
	user=$(id -un 2>/dev/null || id -u)
fi
mkdir -p "$HOMEDIR/tmp"
[ "$mode" = userns ] || chown "$uid:$gid" "$HOMEDIR/tmp"
chmod 0700 "$HOMEDIR/tmp"

# Runs as (namespace) root inside the new namespaces: cover /dev/fuse, then
# drop privileges and run the checks, then CMD.
read -r -d '' SETUP <<'EOF' || true
set -eu
if [ -e /dev/fuse ]; then
	mount --bind "$NSRUN_BLOCKER" /dev/fuse
fi
drop=()
while [ "$1" != -- ]; do drop+=("$1"); shift; done
shift
exec "${drop[@]}" bash -c "$NSRUN_CHECK" nsrun "$@"
EOF

status=0
env NSRUN_MODE="$mode" NSRUN_BLOCKER="$BLOCKER" NSRUN_CHECK="$CHECK" \
    HOME="$HOMEDIR" XDG_RUNTIME_DIR="$HOMEDIR" TMPDIR="$HOMEDIR/tmp" \
    USER="$user" LOGNAME="$user" \
    "${ns[@]}" bash -c "$SETUP" nsrun-setup "${drop[@]}" -- "$@" ||
    status=$?
exit "$status"
