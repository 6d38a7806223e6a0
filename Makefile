# The README's two commands: `make demo` and `make test`. Both install what is
# missing (Debian packages via apt-get, npm packages via npm) and build what
# they need. CMake is the source of truth; this file only drives it.

JOBS ?= 2
CMAKE ?= cmake
CTEST ?= ctest
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all deps build build-asan build-tsan demo test test-plain test-asan \
        test-tsan checks bench install clean

all: build

deps:
	@scripts/install-deps.sh

build/CMakeCache.txt:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLP_WERROR=ON
build-asan/CMakeCache.txt:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLP_WERROR=ON \
	    -DLP_SANITIZE=address -DLP_BUILD_BENCH=OFF
build-tsan/CMakeCache.txt:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLP_WERROR=ON \
	    -DLP_SANITIZE=thread -DLP_BUILD_BENCH=OFF

build: deps build/CMakeCache.txt
	$(CMAKE) --build build -j$(JOBS)
build-asan: deps build-asan/CMakeCache.txt
	$(CMAKE) --build build-asan -j$(JOBS)
build-tsan: deps build-tsan/CMakeCache.txt
	$(CMAKE) --build build-tsan -j$(JOBS)

# The main job (scripts/demo.sh): two examples (seeds 000 and 001), then
# lp-tune on seed 000's experiment: --io-delay 100 at 128-2048 MB, C and
# Python, 3 repetitions.
demo: build
	@scripts/demo.sh build

# Everything, three times: -Werror build, ASan+UBSan, TSan; then the source
# checks (format, banned calls, exported symbols).
test: test-plain test-asan test-tsan checks
	@echo "make test: all suites passed"

test-plain: build
	cd build && $(CTEST) $(CTEST_FLAGS)
test-asan: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CTEST) $(CTEST_FLAGS)
test-tsan: build-tsan
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    $(CTEST) $(CTEST_FLAGS)

checks: build
	@scripts/check-source.sh build

bench: build
	@scripts/bench.sh build

install: build
	$(CMAKE) --install build

clean:
	rm -rf build build-asan build-tsan

# Lambda: package a handler as ./function.zip for provided.al2023, or invoke
# it locally through the emulator (@vercel/fun). FN is an executable target
# registered with lp_add_lambda_zip (examples/lambda.cmake); see docs/lambda.md.
FN ?= lambda-seed000
EVENT ?= {}
.PHONY: lambda-zip lambda-invoke
lambda-zip: build
	$(CMAKE) --build build --target $(FN)-zip
	cp build/lambda/$(FN)/function.zip function.zip
	@echo "function.zip: $(FN) for provided.al2023"
lambda-invoke: build
	node tools/lambda/lp-invoke.js -e '$(EVENT)' $$(find build -type f -name $(FN) -perm -u+x | head -1)
