# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
DEMO   ?= demo
# Optional extras installed with the package (.ci/run adds ray).
EXTRAS ?= test,onnx

.PHONY: install demo test accuracy industry-accuracy bench bench-heads clean

# One stamp per set of extras: a change of EXTRAS (make demo, then .ci/run adding ray) installs again.
comma := ,
INSTALLED := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

$(INSTALLED): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first; the project's range accepts it, so no CUDA packages follow.
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

install: $(INSTALLED)

demo: install
	$(BIN)/extractor demo --workdir $(DEMO)

test: install
	$(BIN)/python -m pytest -q tests

# Accuracy on Chinese Resume NER (train from scratch on train, select on dev), every encoder x head.
# The data stays in ../shared; converted copies go to $(BENCH_DIR), outside the repository.
RESUME_NER ?= ../shared/data/resume_ner
BENCH_DIR  ?= /tmp/extractor-accuracy
BUDGET     ?= 19.5
ENCODERS   ?= bilstm bert-scratch
HEADS      ?= gp egp
accuracy: install
	mkdir -p $(BENCH_DIR)
	for split in train dev; do $(BIN)/python ../shared/tools/resume_ner_docs.py $(RESUME_NER)/$$split.char.bmes > $(BENCH_DIR)/$$split.jsonl; done
	for enc in $(ENCODERS); do for head in $(HEADS); do \
	  $(BIN)/extractor $(if $(THREADS),--threads $(THREADS)) train --schema schemas/resume_ner.yaml \
	    --train $(BENCH_DIR)/train.jsonl --dev $(BENCH_DIR)/dev.jsonl --out $(BENCH_DIR)/$$enc-$$head \
	    --encoder $$enc --head $$head --epochs 40 --patience 40 --max-minutes $(BUDGET) && \
	  $(BIN)/extractor evaluate --model $(BENCH_DIR)/$$enc-$$head --gold $(BENCH_DIR)/dev.jsonl \
	    --output $(BENCH_DIR)/$$enc-$$head.metrics.json || exit 1; done; done

# Prediction speed: naive vs batched fp32 vs the optimised runtimes, on a random 4-layer 768-hidden BERT
# and the default BiLSTM. Run it alone on the machine: other processes on the cores distort every figure.
bench: install
	mkdir -p $(BENCH_DIR)
	$(BIN)/extractor $(if $(THREADS),--threads $(THREADS)) bench speed --json $(BENCH_DIR)/speed.json

# GlobalPointer vs the CRF head on Chinese Resume NER: same encoder, data, seed and epochs (issue 4).
# Converted data goes to $(HEADS_DIR), outside the repository; figures to stdout and $(HEADS_DIR)/heads.json.
HEADS_DIR     ?= /tmp/extractor-bench-heads
HEADS_ENCODER ?= bilstm
HEADS_EPOCHS  ?= 6
bench-heads: install
	mkdir -p $(HEADS_DIR)
	for split in train dev; do $(BIN)/python ../shared/tools/resume_ner_docs.py $(RESUME_NER)/$$split.char.bmes > $(HEADS_DIR)/$$split.jsonl; done
	$(BIN)/extractor $(if $(THREADS),--threads $(THREADS)) bench heads --schema schemas/resume_ner.yaml \
	  --train $(HEADS_DIR)/train.jsonl --dev $(HEADS_DIR)/dev.jsonl --encoder $(HEADS_ENCODER) --heads gp,crf \
	  --epochs $(HEADS_EPOCHS) --json $(HEADS_DIR)/heads.json

# Industry accuracy and document exact match on the Resume NER dev bios with an industry label (issue 10):
# resolvers fitted on the listed-company table, on that table without the dev bios' companies, and none.
# INDUSTRY_MODEL: a model trained on Resume NER train (`make accuracy ENCODERS=bilstm HEADS=gp` writes one);
# INDUSTRY_SPANS=gold scores the gold entities instead. Fitted resolvers go to $(BENCH_DIR)/industry.
COMPANIES      ?= ../shared/data/companies/listed_companies.csv
INDUSTRY_MODEL ?= $(BENCH_DIR)/bilstm-gp
INDUSTRY_SPANS ?= model
industry-accuracy: install
	mkdir -p $(BENCH_DIR)/industry
	$(BIN)/python ../shared/tools/resume_ner_docs.py $(RESUME_NER)/dev.char.bmes > $(BENCH_DIR)/dev.jsonl
	$(BIN)/python benchmarks/industry_accuracy.py $(if $(filter gold,$(INDUSTRY_SPANS)),--gold-spans,--model $(INDUSTRY_MODEL)) \
	  --dev-docs $(BENCH_DIR)/dev.jsonl --labels $(RESUME_NER)/industry_dev.jsonl --companies $(COMPANIES) \
	  --work $(BENCH_DIR)/industry --json $(BENCH_DIR)/industry/accuracy-$(INDUSTRY_SPANS).json

clean:
	rm -rf $(VENV) $(DEMO) *.egg-info
