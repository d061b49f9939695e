# image_filter_rs: build, run, test.
#   make run    nginx with the module and the sample media on 127.0.0.1:$(PORT)
#   make test   unit tests, integration tests against a real nginx (the
#               vendored build, then Debian's nginx with the package), fmt, clippy
#   make deb    the Debian package, built against the installed nginx-dev

PORT ?= 8080
export PORT

MODULE := build/modules/ngx_http_image_filter_rs_module.so
NGINX := build/sbin/nginx

.PHONY: all deps build run stop test unit integration lint clean test-python
.PHONY: debian-deps deb build-debian test-debian lint-debian

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

# Chromium opens the demo page in t/tests/demo_page.rs.
test: build
	@tools/deps.sh chromium
	cargo test --release --workspace
	cargo test --release -p thumbnailer --features heic --lib heic
	$(MAKE) test-python
	$(MAKE) test-debian
	$(MAKE) lint

unit: deps
	cargo test --release -p thumbnailer

integration: build
	cargo build --release -p image-filter-rs-cli
	cargo test --release -p image-filter-rs-tests

# The Django companion package (python/) against the staged nginx and module
# (`make build` first; `make test` does).
test-python: deps
	tools/test-python.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	cargo clippy --release -p thumbnailer --features heic --all-targets -- -D warnings
	$(MAKE) lint-debian

# Debian's nginx (nginx-dev's /usr/share/nginx/src, nginx 1.22 on Debian 12).
# The cargo route has its own target directory, and `make deb` another one
# (dpkg-buildpackage's compiler flags), so no route rebuilds another's nginx-sys.
DEBIAN_TARGET := target/debian-nginx/cargo
DEBIAN_CARGO = NGINX_SOURCE_DIR="$$(tools/debian-nginx-tree.sh)" && \
	NGINX_SOURCE_DIR="$$NGINX_SOURCE_DIR" NGINX_BUILD_DIR="$$NGINX_SOURCE_DIR/objs" \
	cargo

debian-deps:
	@tools/debian-deps.sh

# The Debian package, by dpkg-buildpackage and nginx's configure route, into target/deb/.
deb:
	tools/deb.sh

# The cargo route against Debian's nginx source: $(DEBIAN_TARGET)/release/libngx_http_image_filter_rs.so.
build-debian: debian-deps
	$(DEBIAN_CARGO) build --release -p image-filter-rs \
		--no-default-features --features export-modules --target-dir $(DEBIAN_TARGET)

# As root: builds the package, installs it and runs the integration suite
# against /usr/sbin/nginx (skipped with a message when not root, outside CI).
test-debian:
	tools/test-debian.sh

# Compile-checks (clippy) the module against Debian's nginx, besides the vendored one.
lint-debian:
	tools/lint-debian.sh

clean:
	cargo clean
	rm -rf build

# Benchmarks (bench/README.md): release builds, each compared with a
# reference measured in the same run. PHOTOS=DIR overrides ../shared/photos;
# BENCH_TARGET_DIR=DIR builds the bench tools outside target/.
.PHONY: bench-pipeline bench-hit bench-load bench-warm bench-peers bench-cluster bench-animation

bench-pipeline: deps
	bench/pipeline.sh

bench-hit: build
	bench/hit.sh

bench-load: build
	bench/load.sh

bench-warm: build
	bench/warm.sh

# Against thumbor (PyPI, in a venv under build/bench/) and libvips (pyvips)
# on imgproxy's benchmark workload; ROUNDS=N SECONDS=N scale it.
bench-peers: build
	bench/peers.sh

# A 100-frame animated GIF resized: against gifsicle --resize and vips
# thumbnail, time and bytes; ROUNDS=N scales it.
bench-animation: build
	bench/animation.sh

# The cluster recipe (nginx-conf/cluster/) on this machine: one node against
# three behind the front, cold and hit, and the front's hit path against a
# static file; ROUNDS=N CONNECTIONS=N DURATION=S scale it.
bench-cluster: build
	bench/cluster.sh
