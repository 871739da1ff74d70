# Top-level driver over meson + ninja.
#
#   make            build into build/ (meson setup on first use)
#   make asan       build into build-asan/ with AddressSanitizer + UBSan
#   make check      (as root: install the Debian build and test dependencies
#                   first) build both, then run tests/run.sh; its last line is
#                   "N passed, N failed", and make fails if any failed
#   make demo       build, then mount a squashfs image and the memfs example
#                   under perfused with /dev/fuse unusable, as an unprivileged
#                   user, and show the perfuse commands that read them
#   make clean      remove both build directories
#   make install    build/ configured for PREFIX (default /usr/local), built,
#                   then installed under DESTDIR (default: none) with meson
#                   install: perfuse, perfused, libperfuse.so, perfuse.h,
#                   perfuse.pc, the preload shim, the fusermount stand-ins
#                   (in LIBEXECDIR/perfuse), the man pages, the systemd user
#                   units and bash completion; the list of what was put
#                   where is kept in $(BUILD)/install-manifest.txt
#   make uninstall  remove exactly what that manifest lists (directories
#                   only when install made them and they are empty again)

MESON ?= meson
NINJA ?= ninja
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=
ASAN_OPTS ?= -Db_sanitize=address,undefined -Db_lundef=false

DEBIAN_DEPS = meson ninja-build pkg-config gcc libfuse3-dev fuse3 squashfuse \
	squashfs-tools util-linux e2fsprogs attr
# Real filesystems of the attach_* integration tests.
DEBIAN_DEPS += bindfs fuse2fs gocryptfs
# Load generators of tests/kernel/stress.sh.
DEBIAN_DEPS += fio stress-ng
# Rendering and checking the man pages and the completion (tests/integration/install.sh).
DEBIAN_DEPS += man-db groff-base bash-completion

APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends

PREFIX ?= /usr/local
DESTDIR ?=
# meson install writes its log to $(BUILD)/meson-logs/install-log.txt, and
# any later meson install (tests/run.sh makes one) overwrites it: make
# install keeps a copy for make uninstall.
INSTALL_MANIFEST ?= $(BUILD)/install-manifest.txt

.PHONY: all build asan check deps test demo clean install uninstall

all: build

# (Re)configure only when there is no usable build tree; after that ninja
# re-runs meson by itself whenever meson.build changes.
build:
	@if [ ! -f $(BUILD)/build.ninja ]; then \
		rm -rf $(BUILD); \
		echo "$(MESON) setup $(MESON_OPTS) $(BUILD)"; \
		$(MESON) setup $(MESON_OPTS) $(BUILD) || exit 1; \
	fi
	$(NINJA) -C $(BUILD)

asan:
	@if [ ! -f $(ASAN_BUILD)/build.ninja ]; then \
		rm -rf $(ASAN_BUILD); \
		echo "$(MESON) setup $(MESON_OPTS) $(ASAN_OPTS) $(ASAN_BUILD)"; \
		$(MESON) setup $(MESON_OPTS) $(ASAN_OPTS) $(ASAN_BUILD) || exit 1; \
	fi
	$(NINJA) -C $(ASAN_BUILD)

# Only as root, and only where apt-get exists; apt-get update only when the
# install fails (stale or missing package lists).
deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "apt-get install $(DEBIAN_DEPS)"; \
		$(APT_INSTALL) $(DEBIAN_DEPS) </dev/null >/tmp/perfuse-apt.log 2>&1 || { \
			DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null && \
			$(APT_INSTALL) $(DEBIAN_DEPS) </dev/null; \
		} || { cat /tmp/perfuse-apt.log; exit 1; }; \
		rm -f /tmp/perfuse-apt.log; \
	fi

check: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory asan
	-@$(MAKE) --no-print-directory fuzz-build
	@PERFUSE_BUILDS="$(BUILD) $(ASAN_BUILD)" bash tests/run.sh

# Only run the tests, without installing or building anything.
test:
	@PERFUSE_BUILDS="$(BUILD) $(ASAN_BUILD)" bash tests/run.sh

# make fuzz       build the libFuzzer targets of tests/fuzz into $(FUZZ_BUILD)
#                 (clang -fsanitize=fuzzer,address,undefined; as root, clang
#                 and libclang-rt-14-dev are apt-get installed when missing),
#                 then run each for FUZZ_SECONDS (default 60) on a fresh copy
#                 of its seed corpus, FUZZ_JOBS (2) at a time; FUZZ_TARGETS
#                 picks some; fails on any crash, whose input is kept in
#                 $(FUZZ_BUILD)/crashes/ (see tests/fuzz/README.md)
# make fuzz-build only the build; make check makes it (a failed build shows
#                 as failed fuzz tests), and tests/run.sh runs each target
#                 for 30 s
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2
FUZZ_TARGETS ?=
export PERFUSE_FUZZ_BUILD := $(FUZZ_BUILD)

.PHONY: fuzz fuzz-build
fuzz-build:
	@bash tests/fuzz/run.sh build $(FUZZ_BUILD)

fuzz: fuzz-build
	@bash tests/fuzz/run.sh run -t $(FUZZ_SECONDS) -j $(FUZZ_JOBS) -d $(FUZZ_BUILD) $(FUZZ_TARGETS)

demo: build
	@PERFUSE_BUILDS="$(BUILD)" bash tests/run.sh --demo

# The benchmark (bench/README.md): memfs and bindfs on kernel FUSE, through
# perfused and with libperfuse embedded; a table with ratios, and
# bench/results-DATE.json.  Best as root; BENCH_OPTS=--quick for a short run.
.PHONY: bench
bench: build
	@PERFUSE_BUILD="$(BUILD)" bash bench/run.sh $(BENCH_OPTS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# Reconfigure only when the prefix changes (perfuse, perfused and the shim
# have installed paths compiled in, so ninja then rebuilds what needs it).
install: build
	@case "$(PREFIX)" in /*) ;; *) echo "PREFIX must be an absolute path" >&2; exit 2;; esac
	@cur=$$($(MESON) introspect $(BUILD) --buildoptions | python3 -c \
	    'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])'); \
	if [ "$$cur" != "$(PREFIX)" ]; then \
		echo "$(MESON) configure -Dprefix=$(PREFIX) $(BUILD)"; \
		$(MESON) configure -Dprefix=$(PREFIX) $(BUILD) >/dev/null || exit 1; \
	fi
	$(NINJA) -C $(BUILD)
	$(MESON) install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir "$(abspath $(DESTDIR))")
	@cp $(BUILD)/meson-logs/install-log.txt $(INSTALL_MANIFEST)
	@echo "installed; make uninstall removes what $(INSTALL_MANIFEST) lists"

# Files and links first, then the directories install made, deepest first,
# each only if empty.
uninstall:
	@if [ ! -f "$(INSTALL_MANIFEST)" ]; then \
		echo "$(INSTALL_MANIFEST) is missing: nothing was installed from $(BUILD) (make install)" >&2; \
		exit 1; \
	fi
	@grep -v '^#' "$(INSTALL_MANIFEST)" | while IFS= read -r f; do \
		if [ -L "$$f" ] || { [ -e "$$f" ] && [ ! -d "$$f" ]; }; then \
			rm -f -- "$$f" && echo "removed $$f"; \
		fi; \
	done
	@grep -v '^#' "$(INSTALL_MANIFEST)" | awk '{ print length($$0) "\t" $$0 }' | \
	    sort -rn | cut -f2- | while IFS= read -r f; do \
		if [ -d "$$f" ] && [ ! -L "$$f" ]; then \
			if rmdir -- "$$f" 2>/dev/null; then echo "removed $$f/"; \
			else echo "kept $$f/ (not empty)"; fi; \
		fi; \
	done
	@rm -f "$(INSTALL_MANIFEST)"
