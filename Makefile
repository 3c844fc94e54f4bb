# Shortcuts for the project's commands; each target calls the script that does the work.
# `make test ARGS="-k sessions -x"` passes arguments through.
.PHONY: run test lint clean distclean

run:
	scripts/run $(ARGS)

test:
	scripts/test $(ARGS)

lint:
	scripts/lint

# Caches and build output; data/, logs/ and auth_sessions/ hold a running install's state and are kept.
clean:
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov build dist *.egg-info test-artifacts

# Also the virtualenv: the next run or test reinstalls it.
distclean: clean
	rm -rf .venv
