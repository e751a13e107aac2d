# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Reinstalls when the lock (exact versions) or pyproject.toml (the package itself) changes.
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml 2>/dev/null | sha256sum | cut -c1-12)
# Test processes: two more than the cores, at most 8 (the integration session and the API contract run, handed
# out first, hold a process each for minutes while mostly waiting on servers and workers); 0 runs the suite
# serially in one process.
TEST_WORKERS ?= $(shell n=$$(( $$(nproc) + 2 )); [ $$n -gt 8 ] && n=8; echo $$n)
HOST ?= 127.0.0.1
PORT ?= 8000

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install lock run test lint clean browser-deps

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build. Then every dependency at the exact
# version in requirements.lock (`make lock`), so a fresh install does not take whatever is newest that day.
# --no-compile, then one parallel compileall: pip byte-compiles file by file (over half of the install), and
# the bytecode must be there before the first run: where PYTHONDONTWRITEBYTECODE is set (CI machines set it),
# Python keeps nothing it compiles, and every process (test workers, Celery workers, benches) would compile
# torch and diffusers again, about 8 s of CPU each. (Files that are not Python 3.11, a few templates in
# dependencies, fail to compile; they are never imported.)
$(STAMP): requirements.lock pyproject.toml | $(PY)
	$(PIP) install -q --no-compile torch==2.13.0
	$(PIP) install -q --no-compile -r requirements.lock
	$(PIP) install -q --no-compile --no-deps -e .
	# --no-deps: it declares opencv-python (clashes with the headless build) and an unpinned torch.
	$(PIP) install -q --no-compile --no-deps invisible-watermark==0.2.0
	$(PY) -m compileall -qq -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" || true
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Re-resolve pyproject.toml's ranges to the newest releases in a throw-away venv and pin what it got. Only
# pyproject.toml is copied there (an empty package with the same dependencies), so no build output lands here.
# Local version labels (torch's +cpu) are dropped so the pin names the release, whichever wheel provides it.
# invisible-watermark is not in pyproject (installed above with --no-deps), so its deps never reach the lock.
lock:
	@set -e; tmp=$$(mktemp -d -t persona-studio-lock-XXXXXX); trap 'rm -rf "$$tmp"' EXIT; \
	mkdir "$$tmp/src"; cp pyproject.toml "$$tmp/src/"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install -q torch==2.13.0; \
	"$$tmp/venv/bin/pip" install -q "$$tmp/src[test]"; \
	{ echo "# Exact versions for make install; regenerate with make lock (from pyproject.toml's ranges)."; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable | grep -viE '^(persona-studio|invisible-watermark)[=@ ]' \
	    | sed -E 's/^([^=]+==[^+;]+)\+[^; ]+/\1/'; } > "$$tmp/requirements.lock"; \
	mv "$$tmp/requirements.lock" requirements.lock; \
	echo "requirements.lock: $$(grep -c '==' requirements.lock) pinned packages"

# The real CLIP BPE vocab ships inside the open-clip-torch wheel; fetch the wheel alone, never its deps.
VOCAB_WHEEL := var/vendor/open_clip_torch-3.3.0-py3-none-any.whl
$(VOCAB_WHEEL): | $(PY)
	mkdir -p var/vendor
	$(PIP) download -q --no-deps open-clip-torch==3.3.0 -d var/vendor

install: $(STAMP) $(VOCAB_WHEEL)

run: install
	DJANGO_DEBUG=1 $(PY) manage.py run_studio --host $(HOST) --port $(PORT)

# Browser tests (tests/browser) drive Debian's Chromium through Playwright; install it when missing (root in CI).
browser-deps:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# loadgroup: tests marked xdist_group (shared PostgreSQL/Redis) stay together on one worker. Handed out in the
# order tests/conftest.py sorts them (longest waits first), not xdist's biggest-group-first.
test: install browser-deps
	@# The project's own bytecode too, once, rather than in each of the suite's processes (see install).
	$(PY) -m compileall -qq -j 0 config core personas generation scheduler provenance publishing web bench tests \
		manage.py || true
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/test .pytest_cache
