# The two commands of the README: `make demo` runs the product, `make test` runs the tests.
# Both install what is missing first (scripts/setup.sh).

NODE_ENV_SH = eval "$$(scripts/node-env.sh)"
STATE ?= $(CURDIR)/.state

.PHONY: setup build test unit demo stop bench

setup:
	@scripts/setup.sh

build: setup
	@$(NODE_ENV_SH) && npm run --silent build

test: setup
	@$(NODE_ENV_SH) && npm test

unit: setup
	@$(NODE_ENV_SH) && npm run test:unit

demo: build
	@$(NODE_ENV_SH) && STATE=$(STATE) scripts/demo.sh

stop:
	@if [ -f $(STATE)/converge.pid ]; then kill $$(cat $(STATE)/converge.pid) && rm -f $(STATE)/converge.pid && echo "converge stopped; containers keep running"; fi

bench: build
	@$(NODE_ENV_SH) && npm run --silent bench
