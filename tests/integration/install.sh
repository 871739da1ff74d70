#!/usr/bin/env bash
# make install into a temporary DESTDIR: every piece is there (programs,
# library with its soname, header, perfuse.pc, preload shim, fusermount
# stand-ins in their private directory, man pages, systemd user units, bash
# completion); a small program builds against the installed perfuse.pc and
# runs; the man pages render without warnings and document every function
# of the installed header and every command and option of the installed
# programs; then make uninstall's logic removes exactly what was installed.
#
# The install itself is made by tests/run.sh (stage_install) as the caller,
# because meson install writes into the build directory: it leaves the tree
# in $BUILD/install/dest and meson's list in $BUILD/install/install-log.txt.
# Run by hand on a build directory you may write, the test installs itself.
PERFUSE_LIB_NO_DAEMON=1
. "$(dirname "$0")/../lib.sh"

I=$BUILD/install
if [ -f "$I/install-log.txt" ]; then
	DEST=$I/dest
	LOG=$I/install-log.txt
	MAKEFILE=$I/Makefile
elif [ -d "$I" ]; then
	show "meson install output" "$I/meson-install.log"
	fail "tests/run.sh could not install $BUILD (is the build up to date? make)"
elif [ -w "$BUILD/meson-logs" ] && [ -f "$BUILD/build.ninja" ]; then
	log "meson install -C $BUILD --destdir $T/staged"
	meson install -C "$BUILD" --no-rebuild --destdir "$T/staged" \
	    >"$T/meson-install.log" 2>&1 || {
		show "meson install" "$T/meson-install.log"
		fail "meson install failed"
	}
	DEST=$T/staged
	cp "$BUILD/meson-logs/install-log.txt" "$T/install-log.txt"
	LOG=$T/install-log.txt
	MAKEFILE=$TESTS_DIR/../Makefile
else
	fail "$BUILD/install is missing: run this test through tests/run.sh"
fi

# Where things went: the prefix and libdir as perfuse.pc says.
PC=$(find "$DEST" -name perfuse.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$PC" ] || fail "no pkgconfig/perfuse.pc installed under $DEST"
PREFIX=$(sed -n 's/^prefix=//p' "$PC")
LIBDIR=${PC%/pkgconfig/perfuse.pc}
LIBDIR=${LIBDIR#"$DEST"}
P=$DEST$PREFIX
log "prefix $PREFIX, libdir $LIBDIR"
case $LIBDIR in
"$PREFIX"/*) ;;
*) fail "libdir $LIBDIR is not under the prefix $PREFIX";;
esac

# ---------------------------------------------------------------------------
log "every piece is installed"
expect_file() {
	[ -e "$1" ] || [ -L "$1" ] || fail "not installed: ${1#"$DEST"}"
}
expect_exec() {
	expect_file "$1"
	[ -x "$1" ] || fail "not executable: ${1#"$DEST"}"
}
expect_exec "$P/bin/perfuse"
expect_exec "$P/sbin/perfused"
expect_exec "$P/libexec/perfuse/fusermount"
expect_exec "$P/libexec/perfuse/fusermount3"
expect_file "$DEST$LIBDIR/perfuse/libperfuse_preload.so"
expect_file "$DEST$LIBDIR/libperfuse.so"
expect_file "$DEST$LIBDIR/libperfuse.so.0"
expect_file "$P/include/perfuse.h"
expect_file "$PC"
expect_file "$P/share/man/man1/perfuse.1"
expect_file "$P/share/man/man8/perfused.8"
expect_file "$P/share/man/man3/libperfuse.3"
expect_file "$P/lib/systemd/user/perfused.socket"
expect_file "$P/lib/systemd/user/perfused.service"
expect_file "$P/share/bash-completion/completions/perfuse"

# The library: a real file behind the two links, soname libperfuse.so.0.
real=$(readlink -f "$DEST$LIBDIR/libperfuse.so")
assert_eq "$(readlink -f "$DEST$LIBDIR/libperfuse.so.0")" "$real" \
    "what libperfuse.so and libperfuse.so.0 point to"
assert_match "$(basename "$real")" '^libperfuse\.so\.0\.[0-9]+\.[0-9]+$' \
    "the file behind libperfuse.so"
assert_match "$(readelf -d "$real")" 'SONAME.*\[libperfuse\.so\.0\]' \
    "readelf -d $(basename "$real")"

# Nothing called fusermount goes anywhere but the private directory.
bad=$(grep -E '/fusermount3?$' "$LOG" | grep -v "$PREFIX/libexec/perfuse/" || true)
assert_eq "" "$bad" "fusermount files installed outside libexec/perfuse"

# Every line of meson's list is in the tree, and the tree holds nothing else.
grep -v '^#' "$LOG" | sed "s|^$I/dest||; s|^$T/staged||" | sort >"$T/listed"
(cd "$DEST" && find . -mindepth 1 | sed 's|^\.||') | sort >"$T/found"
assert_eq "$(cat "$T/listed" | sed '/^$/d')" "$(cat "$T/found")" \
    "meson's install log vs the files under DESTDIR"

# ---------------------------------------------------------------------------
log "the installed programs run"
export LD_LIBRARY_PATH=$DEST$LIBDIR
version=$("$P/bin/perfuse" --version)
assert_match "$version" '^perfuse [0-9]+\.[0-9]+\.[0-9]+$' "perfuse --version"
version=${version#perfuse }
assert_contains "$(cat "$P/include/perfuse.h")" "#define PERFUSE_VERSION \"$version\"" \
    "the installed perfuse.h"
assert_contains "$("$P/sbin/perfused" --help)" "usage: perfused" "perfused --help"
assert_contains "$("$P/libexec/perfuse/fusermount3" --version)" "perfuse" \
    "fusermount3 --version (the stand-in)"
# The installed programs know their installed paths.
assert_contains "$(strings "$real")" "$PREFIX/sbin/perfused" \
    "the perfused path compiled into libperfuse"

# ---------------------------------------------------------------------------
log "a program builds against the installed perfuse.pc"
pkgc() {
	PKG_CONFIG_PATH=$DEST$LIBDIR/pkgconfig PKG_CONFIG_SYSROOT_DIR=$DEST \
	    pkg-config "$@"
}
assert_eq "$version" "$(pkgc --modversion perfuse)" "pkg-config --modversion perfuse"
flags=$(pkgc --cflags --libs perfuse) || fail "pkg-config --cflags --libs perfuse failed"
log "pkg-config: $flags"
assert_contains "$flags" "-lperfuse" "pkg-config --libs perfuse"
assert_contains "$flags" "-I$P/include" "pkg-config --cflags perfuse"
cat >"$T/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <perfuse.h>

int main(void)
{
	char path[256];
	int rc = perfuse_default_socket(path, sizeof path);

	if (rc != 0) {
		fprintf(stderr, "perfuse_default_socket: %s\n", strerror(-rc));
		return 1;
	}
	printf("%s\n%s\n", path, PERFUSE_VERSION);
	return 0;
}
EOF
san=()
if readelf -d "$real" | grep -q 'libasan'; then
	# The sanitizer tree's library needs the ASan runtime first.
	san=(-fsanitize=address,undefined)
fi
# shellcheck disable=SC2086 # pkg-config's flags are words
cc "${san[@]}" -o "$T/prog" "$T/prog.c" $flags 2>"$T/cc.err" || {
	show "cc" "$T/cc.err"
	fail "the program does not build against the installed perfuse.pc"
}
assert_contains "$(readelf -d "$T/prog")" "[libperfuse.so.0]" "the program's NEEDED"
out=$("$T/prog") || fail "the program failed"
if [ "$(id -u)" = 0 ]; then
	want=/run/perfuse/perfused.sock
elif [ "${XDG_RUNTIME_DIR:-}" = "${XDG_RUNTIME_DIR#/}" ]; then
	want=/tmp/perfuse-$(id -u)/perfused.sock
else
	want=$XDG_RUNTIME_DIR/perfuse/perfused.sock
fi
assert_eq "$want
$version" "$out" "the program's output (perfuse_default_socket, PERFUSE_VERSION)"
out=$(env -u XDG_RUNTIME_DIR "$T/prog" | head -n 1)
[ "$(id -u)" = 0 ] || assert_eq "/tmp/perfuse-$(id -u)/perfused.sock" "$out" \
    "perfuse_default_socket() without XDG_RUNTIME_DIR"

# ---------------------------------------------------------------------------
log "the man pages render without warnings"
M=$P/share/man
for page in man1/perfuse.1 man8/perfused.8 man3/libperfuse.3 man3/perfuse_connect.3; do
	MANWIDTH=80 man -l "$M/$page" >"$T/man.out" 2>"$T/man.err" ||
	    { show "man -l stderr" "$T/man.err"; fail "man -l $page failed"; }
	[ ! -s "$T/man.err" ] || { show "man -l stderr" "$T/man.err"; fail "man -l $page warns"; }
	assert_contains "$(cat "$T/man.out")" "NAME" "man -l $page"
	assert_contains "$(cat "$T/man.out")" "SEE ALSO" "man -l $page"
	groff -ww -z -man "$M/$page" 2>"$T/groff.err" || true
	[ ! -s "$T/groff.err" ] || { show "groff -ww" "$T/groff.err"; fail "groff warns about $page"; }
	if command -v mandoc >/dev/null; then
		mandoc -T lint -W warning "$M/$page" >"$T/lint" 2>&1 || true
		[ ! -s "$T/lint" ] || { show "mandoc -T lint" "$T/lint"; fail "mandoc -T lint: $page"; }
	fi
	assert_match "$(head -n 20 "$M/$page")" "^\.TH .* \"perfuse $version\"" \
	    "the .TH line of $page (the version)"
done

# Every function of the header has its section in libperfuse.3 and a page.
# (Matched in the shell: a fork per check would take seconds.)
fns=$(grep -oE '\bperfuse_[a-z_]+\(' "$P/include/perfuse.h" | tr -d '(' | sort -u)
[ "$(wc -l <<<"$fns")" -ge 40 ] || fail "too few functions found in perfuse.h: $fns"
page=$'\n'$(<"$M/man3/libperfuse.3")$'\n'
links=$'\n'$(find "$M/man3" -type l -printf '%f -> %l\n')$'\n'
for fn in $fns; do
	[[ $page == *$'\n'".SS $fn"$'\n'* ]] ||
	    fail "libperfuse.3 has no section .SS $fn"
	[[ $links == *$'\n'"$fn.3 -> libperfuse.3"$'\n'* ]] ||
	    fail "man3/$fn.3 is not a link to libperfuse.3"
done
n=$(grep -c '^\.SS perfuse_' "$M/man3/libperfuse.3")
assert_eq "$(wc -l <<<"$fns")" "$n" "sections of libperfuse.3 vs functions of perfuse.h"

# Every command of perfuse has its section in perfuse.1, with its options.
cmds=$("$P/bin/perfuse" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ "$(wc -l <<<"$cmds")" -ge 15 ] || fail "too few commands in perfuse --help: $cmds"
page=$'\n'$(<"$M/man1/perfuse.1")
for c in $cmds; do
	[[ $page == *$'\n'".SS \"$c"[\ \"]* ]] ||
	    fail "perfuse.1 has no section for the command $c"
	for o in $("$P/bin/perfuse" "$c" --help | grep -oE '(^| )-(-[a-z][a-z-]*|[a-zA-Z0-9])\b'); do
		[ "$o" = -h ] && continue
		[[ $page == *"${o//-/\\-}"* ]] ||
		    fail "perfuse.1 does not mention $o of perfuse $c"
	done
done
page=$'\n'$(<"$M/man8/perfused.8")
for o in $("$P/sbin/perfused" --help | grep -oE '^  -[a-z]'); do
	# An entry: .TP, then the option in bold.
	[[ $page == *$'\n'.TP$'\n'.B[IR]\ "${o//-/\\-}"[\ $'\n']* ||
	    $page == *$'\n'.TP$'\n'.B\ "${o//-/\\-}"[\ $'\n']* ]] ||
	    fail "perfused.8 has no entry for $o"
done

# ---------------------------------------------------------------------------
log "the systemd user units and bash completion"
sock=$(cat "$P/lib/systemd/user/perfused.socket")
assert_contains "$sock" "ListenSequentialPacket=%t/perfuse/perfused.sock" "perfused.socket"
svc=$(cat "$P/lib/systemd/user/perfused.service")
assert_match "$svc" "^ExecStart=$PREFIX/sbin/perfused -f( |\$)" "perfused.service"
assert_contains "$svc" "Requires=perfused.socket" "perfused.service"
assert_not_contains "$svc" "@" "perfused.service (a placeholder left)"
COMP=$P/share/bash-completion/completions/perfuse
bash -n "$COMP" || fail "bash -n $COMP"
if [ -r /usr/share/bash-completion/bash_completion ]; then
	# Completions of the installed perfuse (it lists no mounts: none runs).
	cat >"$T/comp.sh" <<'EOF'
source /usr/share/bash-completion/bash_completion
source "$COMP"
complete_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_perfuse "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
	echo
}
complete_line "$PERFUSE_BIN" ""
complete_line "$PERFUSE_BIN" mo
complete_line "$PERFUSE_BIN" mount --attach=
complete_line "$PERFUSE_BIN" list --j
complete_line "$PERFUSE_BIN" get -
complete_line "$PERFUSE_BIN" xattr ""
EOF
	out=$(COMP=$COMP PERFUSE_BIN=$P/bin/perfuse PERFUSE_SOCKET=$T/none.sock \
	    bash "$T/comp.sh") || fail "bash completion script failed"
	mapfile -t lines <<<"$out"
	for c in $cmds; do
		assert_contains " ${lines[0]}" " $c " "completion of perfuse ''"
	done
	assert_eq "mount " "${lines[1]}" "completion of 'perfuse mo'"
	assert_eq "auto fd fusermount preload " "${lines[2]}" "completion of --attach="
	assert_eq "--json " "${lines[3]}" "completion of 'perfuse list --j'"
	assert_contains "${lines[4]}" "--quiet" "completion of 'perfuse get -'"
	assert_eq "get list rm set " "${lines[5]}" "completion of 'perfuse xattr '"
else
	log "no /usr/share/bash-completion/bash_completion: completion only syntax-checked"
fi

# ---------------------------------------------------------------------------
log "make uninstall removes exactly what was installed"
# A copy of the tree this user may change, and meson's list rewritten to it.
cp -a "$DEST" "$T/dest"
sed "s|^$DEST|$T/dest|" "$LOG" >"$T/manifest"
# Something of someone else's in a directory install made keeps it.
touch "$T/dest$PREFIX/share/man/man1/other.1"
make -s -f "$MAKEFILE" uninstall INSTALL_MANIFEST="$T/manifest" \
    >"$T/uninstall.out" 2>&1 || { show "make uninstall" "$T/uninstall.out"; fail "make uninstall failed"; }
left=$(cd "$T/dest" && find . -mindepth 1 | sed 's|^\.||' | sort)
expect="$PREFIX/share/man/man1/other.1"
d=$PREFIX/share/man/man1
while [ -n "$d" ] && [ "$d" != / ]; do
	expect="$d
$expect"
	d=$(dirname "$d")
done
assert_eq "$(sort <<<"$expect")" "$left" "what make uninstall left (only other.1 and its directories)"
[ ! -e "$T/manifest" ] || fail "make uninstall left its manifest"
rm -f "$T/dest$PREFIX/share/man/man1/other.1"
log "ok"
