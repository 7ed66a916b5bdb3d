# cxrview build. Users need two targets: `make run` and `make test`.
#
# Every target exports the same CGO_* values: they are part of Go's build-cache
# key, and any difference recompiles llama.cpp (about 3.5 minutes).

SHELL := /bin/bash
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

GO_MIN       := 1.26
CACHE        := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cxrview
# Go from the module proxy, used only when no Go >= $(GO_MIN) is installed.
GO_LOCAL     := $(CACHE)/go1.26.8/go/bin/go
GO           ?= $(shell v=$$(go env GOVERSION 2>/dev/null | sed 's/^go//'); \
                  if [ -n "$$v" ] && printf '%s\n%s\n' $(GO_MIN) "$$v" | sort -V -C; then echo go; else echo $(GO_LOCAL); fi)
INC          := $(CACHE)/llama-include
OLLAMA_VER   := v0.17.4
MALGO        := github.com/gen2brain/malgo@v0.11.24
CPU_BUILD    := $(CACHE)/cmake-cpu-$(OLLAMA_VER)
CUDA_PRESET  ?= CUDA 12
CUDA_BUILD    = $(CACHE)/cmake-$(subst $() ,-,$(CUDA_PRESET))-$(OLLAMA_VER)
CUDA_ARCHS   ?=
NPROC        := $(shell nproc 2>/dev/null || echo 2)
VERSION      := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
FILM          = $$($(GO) list -m -f '{{.Dir}}' github.com/suyashkumar/dicom)/testdata/4.dcm

export CGO_ENABLED  := 1
export CGO_CPPFLAGS := -I$(INC)
unexport CGO_CFLAGS CGO_CXXFLAGS CGO_LDFLAGS CGO_FFLAGS
export GOFLAGS      := -buildvcs=false

LDFLAGS := -s -w -X main.version=$(VERSION)

# Debian/Ubuntu packages: to build, and in addition to run the test suite.
BUILD_PKGS := gcc g++ libc6-dev make pkg-config cmake curl unzip ca-certificates git \
	libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev \
	libgtk-3-dev nlohmann-json3-dev libstb-dev
TEST_PKGS  := xvfb xauth imagemagick xdotool dcmtk libgdcm-tools dicom3tools python3-pydicom poppler-utils \
	python3-sentencepiece

.PHONY: build run test deps test-deps go headers cpu cuda vet bench screenshot clean

## build: bin/cxrview, bin/cxrview-engine and the CPU backends in lib/ollama
build: deps headers cpu
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/cxrview .
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/cxrview-engine ./engine/cmd/cxrview-engine

## run: set up, build and open the viewer on a real chest film
run: build
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then echo "make run: no display (DISPLAY is unset); run it from a desktop session" >&2; exit 1; fi
	bin/cxrview "$(FILM)"

## test: set up and run every test
test: test-deps build
	$(GO) vet ./...
	CXRVIEW_BIN=$(CURDIR)/bin $(GO) test -count=1 -timeout 40m ./...
	CXRVIEW_BIN=$(CURDIR)/bin $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...

## bench: run the benchmarks for real (numbers for docs/benchmarks.md)
bench: build
	CXRVIEW_BIN=$(CURDIR)/bin $(GO) test -run '^$$' -bench . -benchmem ./...

vet: headers
	$(GO) vet ./...

# System packages: installed with apt-get when we are root or have sudo,
# otherwise the exact command is printed and the build stops.
deps: go
	@$(call apt_install,$(BUILD_PKGS))

test-deps: deps
	@$(call apt_install,$(TEST_PKGS))

define apt_install
missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
if [ -n "$$missing" ]; then \
  if ! command -v apt-get >/dev/null; then echo "missing packages: $$missing (install them with your package manager)" >&2; exit 1; fi; \
  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=sudo; \
  else echo "Please install the missing packages, then run make again:" >&2; \
       echo "  sudo apt-get install -y --no-install-recommends" $$missing >&2; exit 1; fi; \
  echo "installing:" $$missing; \
  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
fi
endef

# Go: the installed one if new enough, else the official toolchain zip from the
# Go module proxy (the same source `GOTOOLCHAIN=auto` uses).
go:
	@if [ "$(GO)" = "$(GO_LOCAL)" ] && [ ! -x "$(GO_LOCAL)" ]; then \
	  command -v curl >/dev/null && command -v unzip >/dev/null || { echo "need curl and unzip to fetch Go $(GO_MIN): apt-get install curl unzip" >&2; exit 1; }; \
	  arch=$$(uname -m); case $$arch in x86_64) arch=amd64;; aarch64) arch=arm64;; esac; \
	  echo "fetching Go 1.26.8 from the Go module proxy"; \
	  mkdir -p $(CACHE)/go1.26.8 && curl -fsSL -o $(CACHE)/go.zip \
	    "$${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/v0.0.1-go1.26.8.linux-$$arch.zip" && \
	  unzip -q -o $(CACHE)/go.zip -d $(CACHE)/go1.26.8.tmp && rm -rf $(CACHE)/go1.26.8/go && \
	  mv $(CACHE)/go1.26.8.tmp/golang.org/toolchain@v0.0.1-go1.26.8.linux-$$arch $(CACHE)/go1.26.8/go && \
	  rm -rf $(CACHE)/go.zip $(CACHE)/go1.26.8.tmp && chmod +x $(CACHE)/go1.26.8/go/bin/* $(CACHE)/go1.26.8/go/pkg/tool/*/*; \
	fi

# The ollama module zip lacks llama.cpp's vendor/ headers (Go drops vendor/
# folders from module zips). nlohmann/json and stb_image come from Debian's
# default include path; miniaudio.h comes from the malgo Go module. The
# engine's own cgo shim includes llama.cpp's public headers from a copy under
# ollama/ here, so no path into the module cache appears in the source.
headers: $(INC)/.stamp-$(OLLAMA_VER)

$(INC)/.stamp-$(OLLAMA_VER): go.mod | deps
	@$(GO) mod download
	@test -f /usr/include/nlohmann/json.hpp && test -f /usr/include/stb/stb_image.h || { echo "missing nlohmann-json3-dev or libstb-dev" >&2; exit 1; }
	@mkdir -p $(INC)/miniaudio $(INC)/ollama
	@dir=$$($(GO) mod download -json $(MALGO) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  test -f "$$dir/miniaudio.h" && install -m 644 "$$dir/miniaudio.h" $(INC)/miniaudio/
	@src=$$($(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama) && test -n "$$src" && \
	  install -m 644 $$src/llama/llama.cpp/include/llama.h $$src/llama/llama.cpp/tools/mtmd/mtmd.h \
	    $$src/ml/backend/ggml/ggml/include/*.h $(INC)/ollama/
	@rm -f $(INC)/.stamp-* && touch $@

# ollama's CMake CPU backends: one shared library per instruction-set level,
# chosen at run time; the plain cgo build targets baseline x86-64 and is about
# five times slower at prompt processing.
cpu: lib/ollama/.cpu-$(OLLAMA_VER)

# The preset's install prefix points into the (read-only) module cache, and
# the install paths are fixed at configure time: install into the build
# folder, then copy.
lib/ollama/.cpu-$(OLLAMA_VER): | headers
	@echo "building ggml's CPU backends (a few minutes the first time)"
	@src=$$($(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama) && \
	  cmake -S "$$src" --preset CPU -B $(CPU_BUILD) -DCMAKE_INSTALL_PREFIX=$(CPU_BUILD)/dist \
	    -DCMAKE_INSTALL_RPATH='$$ORIGIN' -DGGML_CCACHE=OFF >$(CPU_BUILD).log 2>&1 && \
	  cmake --build $(CPU_BUILD) --target ggml-cpu --parallel $(NPROC) >>$(CPU_BUILD).log 2>&1 && \
	  cmake --install $(CPU_BUILD) --component CPU --strip >>$(CPU_BUILD).log 2>&1 \
	  || { tail -20 $(CPU_BUILD).log >&2; exit 1; }
	@mkdir -p lib/ollama && cp -a $(CPU_BUILD)/dist/lib/ollama/. lib/ollama/ && \
	  test -n "$$(ls lib/ollama/libggml-cpu-*.so 2>/dev/null)" && touch $@

## cuda: the CUDA backend in lib/ollama/cuda_vNN (needs nvcc and cmake >= 3.21)
cuda: | deps
	@command -v nvcc >/dev/null || { echo "make cuda: nvcc not found; install the CUDA toolkit" >&2; exit 1; }
	src=$$($(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama) && \
	  cmake -S "$$src" --preset "$(CUDA_PRESET)" -B "$(CUDA_BUILD)" -DCMAKE_INSTALL_PREFIX="$(CUDA_BUILD)/dist" \
	    -DCMAKE_INSTALL_RPATH='$$ORIGIN:$$ORIGIN/..' -DGGML_CCACHE=OFF \
	    $(if $(CUDA_ARCHS),-DCMAKE_CUDA_ARCHITECTURES='$(CUDA_ARCHS)') && \
	  cmake --build "$(CUDA_BUILD)" --target ggml-cuda --parallel $(NPROC) && \
	  cmake --install "$(CUDA_BUILD)" --component CUDA --strip
	mkdir -p lib/ollama && cp -a "$(CUDA_BUILD)/dist/lib/ollama/." lib/ollama/

clean:
	rm -rf bin lib
