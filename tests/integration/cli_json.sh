#!/usr/bin/env bash
# perfuse list --json and perfuse stat --json against memfs: the output is
# valid JSON (strict UTF-8), has exactly the documented members, agrees
# with the text output, and escapes what it must: quotes, backslashes,
# control characters, U+2028, and bytes that are not UTF-8 (as U+FFFD).
. "$(dirname "$0")/../lib.sh"

[ -x "$MEMFS" ] || fail "$MEMFS is missing (meson builds it only when fuse3 is found)"
command -v python3 >/dev/null || fail "python3 is needed to check the JSON"

# json_check PYTHON_CODE ARGS...: run the code with the JSON text (strictly
# UTF-8) in the variable raw and the arguments in sys.argv; it asserts.
json_check() {
	local code=$1
	shift
	python3 -c "import json, sys
raw = sys.stdin.buffer.read().decode('utf-8')   # strict: JSON is UTF-8
$code" "$@" || fail "JSON check failed (python traceback above)"
}

log "list --json without perfused, and with no mount"
assert_eq "[]" "$(PERFUSE_SOCKET=$T/none.sock "$PERFUSE" list --json)" \
    "perfuse list --json with no perfused"
assert_eq "[]" "$(pf_ok list --json)" "perfuse list --json with no mount"
expect_fail 2 pf list --json extra
expect_fail 2 pf list -j
expect_fail 2 pf stat --json

log "mount memfs twice, the second under a name that needs escaping"
M=$T/mnt/mem
pf_ok mount -- "$MEMFS" "$M"
# A quote, a backslash, a tab, a control character, DEL, a lone byte that
# is no UTF-8 (\xff), a truncated sequence (\xe2\x80 then 'x'), U+2028, and
# an ordinary non-ASCII letter.
W=$'/w"e\\ird\t\x01\x7f\xffq\xe2\x80x\xe2\x80\xa8\xc3\xbc/m'
pf_ok mount -o "target=$W" -- "$MEMFS" "$T/mnt/m2"

log "list --json"
pf_ok list --json >"$T/list.json"
python3 -m json.tool <"$T/list.json" >/dev/null ||
    { show "list --json" "$T/list.json"; fail "perfuse list --json is not valid JSON"; }
text=$(pf_ok list)
pid=$(mount_field "$M" 3)
minor=$(mount_field "$M" 4)
json_check '
import os
v = json.loads(raw)
m, w, uid, pid, minor = sys.argv[1:6]
assert isinstance(v, list) and len(v) == 2, v
keys = {"target", "command", "pid", "minor", "uid", "clients"}
for e in v:
    assert set(e) == keys, sorted(e)
    for k in ("pid", "minor", "uid", "clients"):
        assert isinstance(e[k], int) and not isinstance(e[k], bool), (k, e[k])
    assert e["uid"] == int(uid), e
    assert e["clients"] >= 0, e
    assert e["pid"] > 0, e
    assert "memfs" in e["command"], e
byt = {e["target"]: e for e in v}
assert m in byt, (m, list(byt))
assert byt[m]["pid"] == int(pid), (byt[m], pid)
assert "7.%d" % byt[m]["minor"] == minor, (byt[m], minor)
# The escaped name: every byte that is no UTF-8 is one U+FFFD.
want = (w.encode("utf-8", "surrogateescape")
        .replace(b"\xff", "\ufffd".encode())
        .replace(b"\xe2\x80x", "\ufffd\ufffdx".encode())
        .decode("utf-8"))
assert want in byt, (want, list(byt))
' "$M" "$W" "$(id -u)" "$pid" "$minor" <"$T/list.json"
# The escapes themselves, as written.
assert_contains "$(cat "$T/list.json")" '"/w\"e\\ird\t\u0001\u007f\ufffdq\ufffd\ufffdx\u2028'"$(printf '\xc3\xbc')"'/m"' \
    "the escaped target in list --json"
assert_contains "$text" "$M" "perfuse list"

log "stat --json"
mkdir -p "$T/src"
printf 'hello, json\n' >"$T/src/file"
chmod 640 "$T/src/file"
mkfifo "$T/src/fifo"
ln -s $'odd "target"\n\\' "$T/src/link"
pf_ok put -r "$T/src" "$M/src"
N=$'name "q" \\ \t\n\x01\xff end'
pf_ok touch "$M/src/$N"
paths=("$M/src/file" "$M/src" "$M/src/fifo" "$M/src/link" "$M/src/$N" "$M")
pf_ok stat --json "${paths[@]}" >"$T/stat.json"
assert_eq 6 "$(wc -l <"$T/stat.json")" "lines of stat --json for 6 paths"
python3 -m json.tool --json-lines <"$T/stat.json" >/dev/null ||
    { show "stat --json" "$T/stat.json"; fail "perfuse stat --json is not JSON lines"; }
# What the text output says, for comparison.
size_txt=$(pf_ok stat "$M/src/file" | sed -n 's/^ *Size: \([0-9]*\).*/\1/p')
ino_txt=$(pf_ok stat "$M/src/file" | sed -n 's/.*Inode: \([0-9]*\).*/\1/p')
json_check '
import datetime, grp, pwd, stat as S
m, uid, gid, size_txt, ino_txt = sys.argv[1:6]
paths = sys.argv[6:]
objs = [json.loads(l) for l in raw.splitlines()]
keys = {"path", "mount", "path_in_mount", "type", "mode", "permissions",
        "mode_string", "size", "blocks", "blksize", "dev", "ino", "nlink",
        "uid", "user", "gid", "group", "rdev", "rdev_major", "rdev_minor",
        "atime", "atime_sec", "atime_nsec", "mtime", "mtime_sec",
        "mtime_nsec", "ctime", "ctime_sec", "ctime_nsec", "link"}
def dec(s):
    return (s.encode("utf-8", "surrogateescape")
            .replace(b"\xff", "\ufffd".encode()).decode("utf-8"))
for o, p in zip(objs, paths):
    assert set(o) == keys, sorted(set(o) ^ keys)
    assert o["path"] == dec(p), (o["path"], p)
    assert o["mount"] == m, o
    assert o["path_in_mount"] == dec(p[len(m):] or "/"), o
    assert o["uid"] == int(uid) and o["gid"] == int(gid), o
    for k in ("mode", "size", "blocks", "blksize", "dev", "ino", "nlink",
              "uid", "gid", "rdev", "rdev_major", "rdev_minor"):
        assert isinstance(o[k], int), (k, o)
    assert o["permissions"] == "%04o" % (o["mode"] & 0o7777), o
    assert len(o["mode_string"]) == 10, o
    try:
        assert o["user"] == pwd.getpwuid(o["uid"]).pw_name, o
    except KeyError:
        assert o["user"] is None, o
    try:
        assert o["group"] == grp.getgrgid(o["gid"]).gr_name, o
    except KeyError:
        assert o["group"] is None, o
    for t in ("atime", "mtime", "ctime"):
        sec, ns = o[t + "_sec"], o[t + "_nsec"]
        assert 0 <= ns < 10**9, o
        d = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
        assert o[t] == d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % ns, (t, o)
f, d, fifo, link, odd, root = objs
assert f["type"] == "regular" and S.S_ISREG(f["mode"]), f
assert f["permissions"] == "0640" and f["mode_string"] == "-rw-r-----", f
assert f["size"] == 12 == int(size_txt), f
assert f["ino"] == int(ino_txt), f
assert f["link"] is None, f
assert d["type"] == "directory" and d["mode_string"][0] == "d", d
assert fifo["type"] == "fifo" and S.S_ISFIFO(fifo["mode"]), fifo
assert link["type"] == "symlink" and link["link"] == "odd \"target\"\n\\", link
assert odd["type"] == "regular" and odd["size"] == 0, odd
assert root["path_in_mount"] == "/" and root["type"] == "directory", root
' "$M" "$(id -u)" "$(id -g)" "$size_txt" "$ino_txt" "${paths[@]}" <"$T/stat.json"
# Escapes as written: every object on one line, however odd the name.
assert_contains "$(sed -n 5p "$T/stat.json")" '"path_in_mount": "/src/name \"q\" \\ \t\n\u0001\ufffd end"' \
    "the escaped name in stat --json"
assert_contains "$(sed -n 4p "$T/stat.json")" '"link": "odd \"target\"\n\\"}' \
    "the escaped link target in stat --json"

log "stat --json with a missing path: an error, no object, the others go on"
rc=0
"$PERFUSE" stat --json "$M/src/file" "$M/missing" "$M/src" >"$T/stat2.json" \
    2>"$T/stat2.err" || rc=$?
assert_eq 1 "$rc" "exit status of stat --json with a missing path"
assert_eq 2 "$(wc -l <"$T/stat2.json")" "objects printed"
python3 -m json.tool --json-lines <"$T/stat2.json" >/dev/null ||
    fail "stat --json with an error is not JSON lines"
assert_eq "perfuse: $M/missing: No such file or directory" "$(cat "$T/stat2.err")" \
    "stderr of stat --json with a missing path"

log "unmount"
pf_ok umount "$M" "$W"
assert_eq "[]" "$(pf_ok list --json)" "perfuse list --json after umount"
