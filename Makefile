# Two commands a new user types: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all check setup data browser lint format bench clean reproduce-sulyok2026 reproduce-sulyok2026-inputs reproduce-pesce2026 reproduce-pham2025 reproduce-bresciano2026

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,ray]'
	touch $(STAMP)

# Compile every numba kernel (or load it from the cache) now, not inside a first timed epoch.
setup: $(STAMP)
	$(BIN)/python -m prunelab.cli.warm

# Fashion-MNIST: the Debian package when apt is usable, else prunelab downloads it on first use.
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || echo "apt install of dataset-fashion-mnist failed; prunelab will download Fashion-MNIST"; \
	fi

# Chromium for the report test in a real browser (tests/test_reports_browser.py): Debian's package
# when apt is usable as root; Playwright drives it, it never downloads a browser of its own.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) || echo "apt install of chromium failed; the browser test will fail in CI"; \
	fi

demo: setup data
	$(BIN)/prunelab run configs/demo.yaml
	$(BIN)/prunelab robustness demo --strengths 0,0.05,0.1,0.2,0.3,0.5,0.7,0.9,1
	$(BIN)/prunelab report demo
	$(BIN)/prunelab phase configs/pesce2026_quick.yaml --workers 2
	@echo "Reports: runs/reports/demo/index.html (DST + robustness), runs/reports/pesce2026-quick/index.html (phase transition)"

# The README's test command: lint, format check, doctests and the fast test suite.
test: check

check: setup data browser
	$(BIN)/ruff check prunelab tests benchmarks reproductions
	$(BIN)/ruff format --check prunelab tests benchmarks reproductions
	$(BIN)/python -m pytest -q --doctest-modules prunelab
	$(BIN)/python -m pytest -q

test-all: setup data browser
	$(BIN)/python -m pytest -q -m ''

lint: setup
	$(BIN)/ruff check prunelab tests benchmarks reproductions

format: setup
	$(BIN)/ruff format prunelab tests benchmarks reproductions

bench: setup
	$(BIN)/python benchmarks/epoch_time.py

# Removes the environment and caches only; runs/ holds your results and is never deleted here.
clean:
	rm -rf $(VENV) .pytest_cache

# Reproduction of Sulyok et al. (2026): DST sweep, robustness study, docs/reproductions/sulyok2026.md.
REPRO_RUNS ?= runs
reproduce-sulyok2026: setup data
	$(BIN)/prunelab run configs/sulyok2026.yaml --workers 2 --runs-dir $(REPRO_RUNS) $(REPRO_ARGS)
	$(BIN)/prunelab robustness sulyok2026 --draws 5 --runs-dir $(REPRO_RUNS)
	$(BIN)/python reproductions/sulyok2026.py --runs-dir $(REPRO_RUNS) --out docs/reproductions

# Input-space robustness of the same networks (FGSM, PGD, transfer, corruptions) against dense
# and magnitude-pruned controls: docs/reproductions/sulyok2026_inputs.md. Needs the DST sweep above.
reproduce-sulyok2026-inputs: setup data
	$(BIN)/prunelab run configs/sulyok2026.yaml --workers 2 --runs-dir $(REPRO_RUNS) $(REPRO_ARGS)
	$(BIN)/prunelab run configs/sulyok2026_inputs_dense.yaml --workers 2 --runs-dir $(REPRO_RUNS)
	$(BIN)/prunelab run configs/sulyok2026_inputs_pruned.yaml --workers 2 --runs-dir $(REPRO_RUNS)
	$(BIN)/prunelab run configs/sulyok2026_inputs_robustness.yaml --runs-dir $(REPRO_RUNS)
	$(BIN)/python reproductions/sulyok2026_inputs.py --runs-dir $(REPRO_RUNS) --out docs/reproductions

# Pruning phase-transition study (Pesce et al. 2026): report and figures into docs/reproductions/figures/pesce2026.
reproduce-pesce2026: setup data
	$(BIN)/prunelab phase configs/pesce2026.yaml --workers 2 --runs-dir $(REPRO_RUNS) --out docs/reproductions/figures/pesce2026

# Graphon limits of PaI masks and the Graphon NTK (Pham et al. 2025): both studies, then docs/reproductions/pham2025.md.
reproduce-pham2025: setup data
	$(BIN)/prunelab run configs/pham2025_convergence.yaml --runs-dir $(REPRO_RUNS) $(REPRO_ARGS)
	$(BIN)/prunelab run configs/pham2025_ntk.yaml --runs-dir $(REPRO_RUNS) $(REPRO_ARGS)
	$(BIN)/python reproductions/pham2025.py --runs-dir $(REPRO_RUNS) --out docs/reproductions

# Minimal structural sufficiency (Bresciano 2026): Fashion-MNIST and digits studies, then the page
# docs/reproductions/bresciano2026.md with figures in docs/reproductions/figures/bresciano2026/.
reproduce-bresciano2026: setup data
	$(BIN)/prunelab run configs/bresciano2026.yaml --workers 2 --runs-dir $(REPRO_RUNS) $(REPRO_ARGS)
	$(BIN)/prunelab run configs/bresciano2026_digits.yaml --workers 2 --runs-dir $(REPRO_RUNS)
	$(BIN)/python reproductions/bresciano2026.py --runs-dir $(REPRO_RUNS) --out docs/reproductions
