# Common tasks. `make demo` and `make test` are the two commands of the README; both set up first.
SHELL := /bin/bash
VENV := .venv/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: services setup demo test test-pg lint typecheck pytest bench lock fixtures clean airflow coverage mutation

setup:            ## install Debian packages, .venv from requirements.lock, and lienthong itself
	@bash scripts/setup.sh

demo: setup       ## the main job on the embedded default (SQLite under ./var)
	@bash scripts/demo.sh

test: setup services lint typecheck pytest   ## everything CI checks on SQLite

services:         ## start Redis and PostgreSQL on 127.0.0.1 if they are not answering (the Celery test, test-pg)
	@bash scripts/services.sh

lint:
	$(VENV)/ruff check gateway tests bench dags adapters certs.example scripts

typecheck:
	$(VENV)/mypy

# pytest exits 5 when it collected nothing: report it as the failure it is.
pytest:
	@$(VENV)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make: pytest collected no tests" >&2; fi; exit $$rc

test-pg: setup services    ## the database tests again, against PostgreSQL ($(PG_URL))
	@LIENTHONG_TEST_DATABASE_URL=$(PG_URL) $(VENV)/python -m pytest -q -p no:cacheprovider -m db; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make: no database tests were collected" >&2; fi; exit $$rc

# Branch coverage of gateway/ with the subprocesses the tests start (docs/testing.md).
CRITICAL := gateway/signing/verify.py gateway/signing/xmldsig.py gateway/transport/hmac_auth.py \
  gateway/ledger/intake.py gateway/ledger/audit.py gateway/blobstore.py gateway/server/hub.py gateway/edxml/build.py \
  gateway/signing/verify_checks.py gateway/signing/revisions.py gateway/signing/verify_finish.py gateway/signing/visual.py
coverage: setup   ## pytest with branch coverage (subprocesses included); report for gateway/ and the critical modules
	@rm -rf var/coverage && mkdir -p var/coverage
	@COVERAGE_FILE=$(CURDIR)/var/coverage/.coverage $(VENV)/python -m pytest -q -p no:cacheprovider --cov --cov-branch --cov-report= $(COV_ARGS); rc=$$?; \
	  echo "== security-critical modules (goal >= 95 % of branches)"; \
	  $(VENV)/python scripts/coverage_report.py var/coverage/.coverage --combine $(CRITICAL) \
	    $(if $(COV_ARGS),,--require-measured gateway/cli/hub.py:cmd_serve) || { [ $$rc -ne 0 ] || rc=1; }; \
	  if [ -s var/coverage/.coverage ]; then \
	    echo "== gateway/ (all modules)"; $(VENV)/coverage report --data-file=var/coverage/.coverage | tail -1; \
	    $(VENV)/coverage html -q --data-file=var/coverage/.coverage -d var/coverage/html; \
	    echo "HTML report: var/coverage/html/index.html"; fi; exit $$rc

mutation: setup   ## mutmut over the security-critical modules, one at a time; prints the score per module
	@$(VENV)/python scripts/mutation.py --max-children $${MUTATION_CHILDREN:-2} $(MODULES)

bench: setup      ## every benchmark; each prints its figures and its ratio to a baseline
	@failed=""; for b in bench/bench_*.py; do echo "== $$b"; $(VENV)/python $$b || failed="$$failed $$b"; done; \
	  if [ -n "$$failed" ]; then echo "make bench: goal missed or error in:$$failed" >&2; exit 1; fi

airflow: setup    ## Airflow standalone with the lienthong DAGs on 127.0.0.1:$${AIRFLOW_PORT:-8080} (Ctrl-C stops it)
	@bash scripts/airflow-standalone.sh run

lock:             ## recompile requirements.lock from requirements.in
	uv pip compile --python-version 3.11 requirements.in -o requirements.lock

fixtures: setup   ## regenerate tests/fixtures/edxml from the samples
	$(VENV)/python tests/fixtures/edxml/make_fixtures.py

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
