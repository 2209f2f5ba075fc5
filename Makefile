# The two commands of the README, and the checks CI runs before the tests.
.PHONY: demo test ui lint format lock

# Run the bundled demo end to end: three communes harvested, normalised and exported to ./data/export.
demo:
	scripts/bootstrap.sh
	.venv/bin/omv demo

# Set up everything the tests need (system packages, .venv with the dev extra) and run the whole suite.
test:
	scripts/bootstrap.sh --dev
	scripts/services.sh
	.venv/bin/python -m pytest

# Lint (ruff), formatting (ruff format) and types (mypy), as configured in pyproject.toml.
lint:
	.venv/bin/ruff check omv_pipelines omv_pipelines_tests benchmarks scripts
	.venv/bin/ruff format --check omv_pipelines omv_pipelines_tests benchmarks scripts
	.venv/bin/mypy

# Rewrite the code in the project's format.
format:
	.venv/bin/ruff check --fix omv_pipelines omv_pipelines_tests benchmarks scripts
	.venv/bin/ruff format omv_pipelines omv_pipelines_tests benchmarks scripts

# Pin the dependency set the tests ran with: bootstrap installs with these constraints.
lock:
	.venv/bin/python -m pip freeze --exclude-editable | grep -v '^omv.pipelines' > constraints.txt

# Open the Dagster UI on the demo's instance (http://127.0.0.1:3000).
ui:
	.venv/bin/omv ui
