# The two commands of the README.
.PHONY: demo test ui

# Run the bundled demo end to end: three communes harvested, normalised and exported to ./data/export.
demo:
	scripts/bootstrap.sh
	.venv/bin/omv demo

# Set up everything the tests need (system packages, .venv with the dev extra) and run the whole suite.
test:
	scripts/bootstrap.sh --dev
	scripts/services.sh
	.venv/bin/python -m pytest

# Open the Dagster UI on the demo's instance (http://127.0.0.1:3000).
ui:
	.venv/bin/omv ui
