# The two commands of the README: `make demo` runs the product, `make test` runs the tests.
# Both install what is missing first (scripts/setup.sh). `make test` runs the integration
# tests once per containerd (Debian's, then the built 2.x: scripts/test.sh). With
# CONVERGE_TEST_CONTAINERD=DIR (a built containerd, scripts/build-tools.sh), `make demo`
# and `make bench` run that containerd, the demo with a state dir of its own.

NODE_ENV_SH = eval "$$(scripts/node-env.sh)"
STATE ?= $(CURDIR)/.state$(if $(CONVERGE_TEST_CONTAINERD),-$(notdir $(patsubst %/,%,$(dir $(abspath $(CONVERGE_TEST_CONTAINERD))))))

.PHONY: setup build test unit demo stop demo-clean bench

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

demo-clean: build
	@$(NODE_ENV_SH) && STATE=$(STATE) scripts/demo.sh clean

bench: build
	@$(NODE_ENV_SH) && npm run --silent bench
