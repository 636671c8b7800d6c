# The two set-up commands: `make run` and `make test`. Both create .venv on first use and reuse it.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# One install stamp per llama.cpp build key (version, flags, compiler, CPU features): the same
# checkout on a machine with another CPU installs again and builds llama.cpp for that CPU.
LLAMA_KEY := $(shell $(PY) src/askai/llm/native_build.py --print-key)
STAMP := $(VENV)/.askai-installed-$(LLAMA_KEY)
SAMPLE_QUESTION ?= Which firms are pioneering chiplet technology?

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install index run ask eval bench test test-fast lint clean-index

$(STAMP): pyproject.toml src/askai/llm/native_build.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# llama-cpp-python compiled for this CPU without AMX (ggml's AMX kernels segfault), cached in
	# ~/.cache/askai/llama-cpp-wheels/<key of version, flags, compiler and CPU features>.
	$(BIN)/python src/askai/llm/native_build.py --pip $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[model,dev,eval]'
	touch $(STAMP)

install: $(STAMP)

# Incremental: unchanged documents are skipped, so this is quick when the index is current.
index: install
	$(BIN)/askai ingest --prune

run: index
	$(BIN)/askai ui

ask: index
	$(BIN)/askai ask "$(SAMPLE_QUESTION)"

# The grounding benchmark on three corpora (the five articles; Debian's Python 3.11 HTML docs and
# R manuals, installed here), each in its own index, askai and the plain llama-index pipeline side
# by side (hours; resumable: a rerun answers only what is missing).
EVAL_PACKAGES := python3.11-doc r-doc-pdf
eval: install
	dpkg -s $(EVAL_PACKAGES) >/dev/null 2>&1 || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(EVAL_PACKAGES))
	$(BIN)/askai eval --corpus all --label latest --baseline

# Every benchmark, one after another: ingest throughput (corpus, and Debian's python3-doc beside
# the plain llama-index pipeline), retrieval latency at 1k-100k chunks (embedded and server
# Chroma), answer latency under 1/2/4 askers, five readers on the page. Results in bench/results/.
bench: index
	test -d /usr/share/doc/python3.11/html || apt-get install -y python3-doc
	$(BIN)/python bench/run_all.py

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests

clean-index:
	rm -rf index/chroma
