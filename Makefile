.PHONY: up test bench lint

up:  ## run web, worker and Flower (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set)
	scripts/up.sh

test:  ## the whole test suite
	scripts/test.sh

bench:  ## benchmarks; figures go to benchmarks/README.md
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python -m benchmarks

lint:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/lint-imports
