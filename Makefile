# image_filter_rs: build, run, test.
#   make run    nginx with the module and the sample media on 127.0.0.1:$(PORT)
#   make test   unit tests, integration tests against a real nginx, fmt, clippy

PORT ?= 8080
export PORT

MODULE := build/modules/ngx_http_image_filter_rs_module.so
NGINX := build/sbin/nginx

.PHONY: all deps build run stop test unit integration lint clean

all: build

deps:
	@tools/deps.sh

build: deps
	tools/stage-build.sh

run: build
	tools/run-demo.sh

stop:
	@if [ -f build/demo/logs/nginx.pid ]; then \
		kill -QUIT "$$(cat build/demo/logs/nginx.pid)" && echo "stopping nginx"; \
	else echo "not running"; fi

test: build
	cargo test --release --workspace
	$(MAKE) lint

unit: deps
	cargo test --release -p thumbnailer

integration: build
	cargo test --release -p image-filter-rs-tests

lint:
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf build

# Benchmarks (bench/README.md): release builds, each compared with a
# reference measured in the same run. PHOTOS=DIR overrides ../shared/photos;
# BENCH_TARGET_DIR=DIR builds the bench tools outside target/.
.PHONY: bench-pipeline bench-hit bench-load

bench-pipeline: deps
	bench/pipeline.sh

bench-hit: build
	bench/hit.sh

bench-load: build
	bench/load.sh
