# deepkb — the two commands a new machine needs:  make run  ·  make test
BUILD    ?= build
JOBS     ?= $(shell nproc)
LISTEN   ?= 127.0.0.1:8080
DATA_DIR ?= ./data
# CI (CI=true) treats warnings as errors.
ifeq ($(CI),true)
CMAKE_FLAGS += -DDEEPKB_WERROR=ON
endif

# The model behind the `docs` knowledge alias of `make run`: extractive, or an --upstream model.
CHAT_MODEL ?= extractive

.PHONY: deps configure build run test test-asan test-tsan test-fuzz bench clean

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# Installs, builds and starts the server with the embedded default: KB node + gateway on
# 127.0.0.1:8080, data in ./data, sample collection "docs" made from this repository's docs/.
# The sample collection `docs` is also a knowledge alias `docs` for OpenAI clients (extractive
# answers until an --upstream is added: `make run SERVE_FLAGS="--upstream ..."`; see docs/gateway.md).
run: build
	./$(BUILD)/deepkb --data-dir $(DATA_DIR) serve --listen $(LISTEN) --sample-collection docs=docs \
	  --knowledge-alias docs=$(CHAT_MODEL),collection=docs $(SERVE_FLAGS)

# Installs, builds and runs every test.
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900

# Debug build with AddressSanitizer + UBSan running the unit tests (CI runs it after `make test`).
test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDEEPKB_SANITIZE=ON -DDEEPKB_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest -L unit --output-on-failure -j$(JOBS) --timeout 900

# ThreadSanitizer over the concurrency stress tests (HNSW searches alongside inserts/deletes,
# dynamic batching of embedder calls, the LLM router's queues/limiter/breaker). Builds only
# those test targets.
test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPKB_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread $(CMAKE_FLAGS)
	cmake --build build-tsan -j$(JOBS) --target hnsw_test embed_test llm_test gateway_test kb_test storage_test
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/src/index/hnsw/hnsw_test --gtest_filter='*Concurren*:*Stress*:*Thread*'
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/src/embed/embed_test --gtest_filter='Batching*'
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/src/llm/llm_test
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/src/gateway/gateway_test --gtest_filter='*Stream*:*Retry*:*Queue*:*Remote*'
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/src/kb/kb_test --gtest_filter='VectorSearch*:*Rebuild*:KeywordSet*'
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/src/storage/storage_test --gtest_filter='WalCheckpointer*'

# libFuzzer targets (clang): request body, filter and query-builder parsing, 20 s each.
test-fuzz: deps
	bash fuzz/run.sh

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD) build-asan
