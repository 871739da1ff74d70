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

MESON ?= meson
NINJA ?= ninja
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=
ASAN_OPTS ?= -Db_sanitize=address,undefined -Db_lundef=false

DEBIAN_DEPS = meson ninja-build pkg-config gcc libfuse3-dev fuse3 squashfuse \
	squashfs-tools util-linux e2fsprogs attr

APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends

.PHONY: all build asan check deps test demo clean

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
	@PERFUSE_BUILDS="$(BUILD) $(ASAN_BUILD)" bash tests/run.sh

# Only run the tests, without installing or building anything.
test:
	@PERFUSE_BUILDS="$(BUILD) $(ASAN_BUILD)" bash tests/run.sh

demo: build
	@PERFUSE_BUILDS="$(BUILD)" bash tests/run.sh --demo

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
