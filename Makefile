# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo
PYTEST_ARGS ?= -q --durations=20

.PHONY: venv system-packages demo test bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

system-packages:
	@bash infra/install-debian-packages.sh

demo: venv system-packages
	NO_ALBUMENTATIONS_UPDATE=1 $(BIN)/babelshard demo --output $(DEMO_OUT)
	$(BIN)/babelshard inspect $(DEMO_OUT) --verify

# pytest exits 5 when it collects no test; that is not a failure of the set-up.
test: venv system-packages
	NO_ALBUMENTATIONS_UPDATE=1 $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

clean:
	rm -rf $(VENV) out build dist *.egg-info
