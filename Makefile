# deployq: `make run` starts the demo, `make test` runs the whole suite.
export PATH := /usr/local/go/bin:$(PATH)
GO       ?= go
# make build builds the server and its kubernetes runner, which it starts
# for deploys to Kubernetes from the directory it is in, into BINDIR;
# make install copies them to PREFIX/bin.
BINDIR   ?= ./bin
CMDS     := deployq deployq-kubernetes
PREFIX   ?= /usr/local
FUZZTIME ?= 15s
# ARGS go to `deployq serve`: make run ARGS=--listen=127.0.0.1:9090
ARGS     ?=

# What `deployq version` says: set from git at build time.
VERSION    := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     := $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS    := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILD_DATE)

.PHONY: bench-scale image build install run test deps test-deps kube-tools fuzz lint bench bench-ssh bench-kube chaos screenshots clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BINDIR)/ $(addprefix ./cmd/,$(CMDS))

# make build && sudo make install: nothing is built as root.
install:
	@for c in $(CMDS); do test -x $(BINDIR)/$$c || { echo "make install: no $(BINDIR)/$$c: run make build first" >&2; exit 1; }; done
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(addprefix $(BINDIR)/,$(CMDS)) $(DESTDIR)$(PREFIX)/bin/

run: deps build
	$(BINDIR)/deployq serve $(ARGS)

# install: apt-get installs the packages (command:package) whose command
# is missing.
install = missing=""; \
	for p in $(1); do cmd=$${p%%:*}; pkg=$${p\#\#*:}; \
		command -v $$cmd >/dev/null 2>&1 || test -x /usr/sbin/$$cmd || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# What the demo needs: git (refs, checkouts), gcc (cgo for SQLite).
deps:
	@$(call install,git:git gcc:gcc)

# What the tests need besides: sshd (the SSH runner's test fleet), chromium
# (the dashboard's tests), zsh and fish (the completion scripts' tests),
# systemd-analyze (the systemd unit's tests), PostgreSQL (the postgres
# store's tests start private servers of their own; none is left running),
# Prometheus (the verification's tests start private ones the same way).
test-deps: deps
	@$(call install,sshd:openssh-server chromium:chromium zsh:zsh fish:fish systemd-analyze:systemd pg_ctlcluster:postgresql prometheus:prometheus)

# The Kubernetes control plane, etcd and kwok the kubernetes runner's
# tests run against, built from the Go module proxy into ~/.cache (several
# minutes the first time, a moment after).
kube-tools:
	$(GO) run ./internal/kubetest/build

# DEPLOYQ_*_REQUIRED: the kubernetes, browser, full-disk (a real tmpfs,
# mounted as root), shell completion, systemd unit, PostgreSQL and
# Prometheus tests fail, never skip, without their real parts.
test: test-deps kube-tools
	$(GO) vet ./...
	DEPLOYQ_KUBE_REQUIRED=1 DEPLOYQ_BROWSER_REQUIRED=1 DEPLOYQ_MOUNT_REQUIRED=1 DEPLOYQ_SHELLS_REQUIRED=1 DEPLOYQ_SYSTEMD_REQUIRED=1 DEPLOYQ_PG_REQUIRED=1 DEPLOYQ_PROM_REQUIRED=1 $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz

# The container image from the Dockerfile, stamped like make build. Needs a
# Docker engine. IMAGE names it: make image IMAGE=registry.example.com/deployq:1.2.0
IMAGE ?= deployq:$(VERSION)

image:
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine answers (docker info failed)" >&2; exit 1; }
	docker build -t $(IMAGE) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(BUILD_DATE) .

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./bot

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./queue ./api ./cmd/deployq ./bot/slack ./github ./store/postgres

# A year of history for a thousand services: the pages, bytes per log
# byte, and an idle server on it.
bench-scale: deps
	$(GO) run ./bench/scale

# The ssh runner against parallel-ssh and Ansible over 200 local sshd servers.
bench-ssh: test-deps
	@for p in parallel-ssh:pssh ansible-playbook:ansible-core; do cmd=$${p%%:*}; pkg=$${p##*:}; \
		command -v $$cmd >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkg; }; done
	$(GO) run ./bench/sshbench -hosts 200 -parallel 50 -runs 3

# How soon deployq marks a Kubernetes deploy succeeded, against kubectl
# rollout status on the same rollout.
bench-kube: kube-tools
	$(GO) run ./bench/kubebench -runs 15

# Three deployq servers on one PostgreSQL (lease 2s), killed, stopped past
# their lease, cut off from the database, and the database restarted,
# while 300 deploys go through 5 lanes: nothing lost, run twice, run at
# once in a lane or out of order; a dead server's deploys interrupted by
# another within lease + one poll. A few minutes; exits 1 on a violation.
chaos: deps
	@$(call install,pg_ctlcluster:postgresql)
	$(GO) run ./bench/chaos

# The dashboard's screenshots in docs/screenshots (1280px and 390px),
# taken by its browser test.
screenshots: test-deps build
	DEPLOYQ_SCREENSHOTS=$(CURDIR)/docs/screenshots DEPLOYQ_BROWSER_REQUIRED=1 $(GO) test -count=1 -run '^TestDashboard$$' ./cmd/deployq

clean:
	rm -rf bin data
