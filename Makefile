# Set-up and entry points. `make book` and `make test` are the README's Quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= demo

.PHONY: setup browser photos book test lint clean

# A fresh virtual environment with the pinned requirements and hrcam itself (editable).
# torch's CUDA build (the CPU-only wheel here cannot load PyPI's torchvision) makes the venv about
# 6.6 GB: a new one checks the space first, so a full disk is one clear line, not a pip OSError midway.
SETUP_FREE_GB ?= 7

$(VENV)/.installed: pyproject.toml requirements.txt
	@test -d $(VENV) || $(PYTHON) -c 'import shutil, sys, pathlib; \
	  d = next(p for p in pathlib.Path("$(VENV)").absolute().parents if p.is_dir()); \
	  free = shutil.disk_usage(d).free / 1e9; need = float("$(SETUP_FREE_GB)"); \
	  free >= need or sys.exit(f"make setup: the virtual environment needs about {need:g} GB free, " \
	  f"but {d} has {free:.1f} GB. Free some space, or put it elsewhere with VENV=/path/.venv.")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# Both OpenCV wheels write cv2/: the contrib build (cv2.ximgproc) must be the one on disk.
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall \
	  $$(grep '^opencv-contrib-python-headless==' requirements.txt)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed

# Headless Chromium screenshots the rendered book in the tests (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the screenshot tests will be skipped"; \
	  else \
	    echo "note: chromium is not installed (sudo apt-get install chromium); the screenshot tests will be skipped"; \
	  fi; }

# Real photographs for the real cut-out chapter (notebook 10): Debian's Tux Paint animal stamps
# and natural photos without animals (hrcam/data/cutouts.py lists the files); and for the
# photo-faithfulness chapter (notebook 12): gcompris' animal photos plus palapeli's and
# opencv-doc's (hrcam/resources/animal_photos.tsv). Without root, `hrcam book` names the
# packages and how to skip each chapter before anything runs.
PHOTO_PACKAGES := tuxpaint-stamps-default plasma-workspace-wallpapers mate-backgrounds palapeli-data opencv-doc gcompris-qt-data
photos:
	@missing=$$(for p in $(PHOTO_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "warning: could not install $$missing; hrcam book will say how to skip the real cut-out chapter, and the real-photo tests are skipped"; \
	  else \
	    echo "note: missing Debian packages $$missing (sudo apt-get install $$missing); hrcam book will say how to skip the real cut-out chapter, and the real-photo tests are skipped"; \
	  fi; \
	fi

# The main job: every notebook through papermill, then `jupyter-book build book/`.
book: setup photos
	$(BIN)/hrcam book --profile $(PROFILE)

# The photo packages too: the real-photo tests read them (without root they are named, and
# those tests are skipped with the reason listed), so `make test` and `make book` each work on
# a fresh machine in either order.
test: setup browser photos
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check hrcam tests benchmarks notebooks
	$(BIN)/ruff format --check hrcam tests benchmarks

clean:
	rm -rf book/_build runs .pytest_cache
