# Widget Factory: `make run` shows a living factory, `make test` checks it.
# Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration bench clean compose-check

# setuptools warns on every editable install that a folder named like the package may
# shadow it on import; here that folder IS the package, so the install step hides it.
$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/widget-factory run $(ARGS)

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -n 3 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check widget_factory tests $(wildcard benchmarks)
	$(BIN)/ruff format --check widget_factory tests $(wildcard benchmarks)

typecheck: $(STAMP)
	$(BIN)/mypy widget_factory/core widget_factory/kafka_io widget_factory/schemas.py \
		widget_factory/options.py widget_factory/cli.py widget_factory/processes/lifecycle.py \
		widget_factory/processes/children.py widget_factory/processes/service_args.py

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

bench: $(STAMP)
	$(BIN)/widget-factory bench $(ARGS)

# docker-compose.yml parses, for the default single broker and the 3-broker profile.
compose-check:
	docker-compose -f docker-compose.yml config -q
	docker-compose -f docker-compose.yml --profile cluster config -q
	@echo "docker-compose.yml: both profiles valid"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
