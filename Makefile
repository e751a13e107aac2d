# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint clean browser-deps

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test]"
	# --no-deps: it declares opencv-python (clashes with the headless build) and an unpinned torch.
	$(PIP) install -q --no-deps invisible-watermark==0.2.0
	touch $(STAMP)

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

test: install browser-deps
	$(PY) -m pytest -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/test .pytest_cache
