# Shoal's two commands for a newcomer: `make run` (start Shoal) and `make test` (every test).
# Both install and build what they need first, on a machine with only Node.js and npm.

NPM_STAMP := node_modules/.package-lock.json
BUILD_STAMP := dist/.built
SOURCES := $(shell find src cli test bench -name '*.ts' 2>/dev/null) tsconfig.json

.PHONY: install build run test bench lint format clean

install:
	npm ci --no-audit --no-fund

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

$(BUILD_STAMP): $(NPM_STAMP) $(SOURCES)
	npx tsc -p tsconfig.json
	@touch $(BUILD_STAMP)

build: $(BUILD_STAMP)

run: build
	node bin/shoal.js up

# Type-checking is the build (tsc, strict); then the linter/formatter check; then every test.
# T=pattern runs only the test files whose path contains it.
test: build lint
	node --enable-source-maps dist/test/run.js $(T)

bench: build
	node --enable-source-maps dist/bench/run.js $(B)

lint: $(NPM_STAMP)
	npx biome check --error-on-warnings .

format: $(NPM_STAMP)
	npx biome check --write .

clean:
	rm -rf dist .shoal
