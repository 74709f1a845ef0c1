# vaezip developer targets. Quick start: `make demo`, then `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where MNIST lives for `make weights` and `make bench` (torchvision's layout: DIR/MNIST/raw).
DATA_DIR ?= ../shared/data

.PHONY: install test test-foreign lint demo weights bench figures your-images clean

install: $(STAMP)

# Reinstall only when the packaging changes. torch/torchvision come from PyPI through
# the ranges in pyproject.toml.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check vaezip tests bench examples docs

# The tests whose expectations must not depend on the CPU (the golden files, exact
# arithmetic, the codecs and archives, encoding included), under the settings of other machines: other OpenBLAS
# kernels, one thread, NumPy without AVX-512. CI runs this after `make test`.
FOREIGN_TESTS := tests/test_golden.py tests/test_exact.py tests/test_lossless.py \
	tests/test_nearlossless.py tests/test_groups.py tests/test_codec.py tests/test_entropy.py \
	tests/test_encode_decode.py tests/test_archive.py tests/test_coded_cli.py tests/test_guard.py \
	tests/test_your_images.py
# test_exact's own subprocess test already tries each setting; no need to nest them.
FOREIGN_PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider $(FOREIGN_TESTS) \
	--deselect "tests/test_exact.py::test_files_decode_and_encode_identically_under_foreign_cpu_settings"
test-foreign: $(STAMP)
	OPENBLAS_CORETYPE=Prescott $(FOREIGN_PYTEST)
	OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 $(FOREIGN_PYTEST)
	NPY_DISABLE_CPU_FEATURES=X86_V4,AVX512_ICL,AVX512_SPR $(FOREIGN_PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check vaezip tests bench examples docs

# The main job on the shipped default model: no network, no ../shared needed.
demo: $(STAMP)
	@$(BIN)/python examples/demo.py

# Retrain the shipped models from the recipes in vaezip/models/recipes.py (MODELS="a b" for some).
weights: $(STAMP)
	$(BIN)/python -m vaezip.models.recipes $(MODELS) --data-dir $(DATA_DIR)

# Every figure in docs/figures/, from the shipped models (needs the MNIST test set).
figures: $(STAMP)
	$(BIN)/python docs/make_figures.py --data-dir $(DATA_DIR)

bench: $(STAMP)
	$(BIN)/python bench/train_speed.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/roundtrip.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/speed.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/cvae_digits.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/compress.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/identity_guard.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/lossless.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/archive.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/random_access.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/portability.py --data-dir $(DATA_DIR)
	$(BIN)/python bench/ood.py --data-dir $(DATA_DIR)

# The "Your images" benchmark (docs/benchmarks.md#your-images), by hand: it trains four
# models (about an hour here, one at a time). Needs Debian's data and codecs:
# apt-get install dataset-fashion-mnist oxygen-icon-theme optipng webp
YOUR_IMAGES := $(BIN)/python bench/your_images.py
your-images: $(STAMP)
	$(YOUR_IMAGES) prepare
	$(BIN)/vaezip train --name oxygen-lossless --data-dir bench/data/oxygen --lossless-model --force
	$(BIN)/vaezip train --name oxygen --data-dir bench/data/oxygen --force
	$(BIN)/vaezip train --name fashion-lossless --data-dir bench/data/fashion --lossless-model --epochs 4 --force
	$(BIN)/vaezip train --name fashion --data-dir bench/data/fashion --epochs 10 --force
	$(YOUR_IMAGES) measure oxygen bench/data/oxygen/test --lossless-model oxygen-lossless --lossy-model oxygen --max-error 2 4 8 16 --visible 8 16
	$(YOUR_IMAGES) measure fashion bench/data/fashion/test --lossless-model fashion-lossless --lossy-model fashion --max-error 2 4 6
	$(YOUR_IMAGES) warned oxygen bench/data/oxygen/test
	$(YOUR_IMAGES) warned oxygen bench/data/fashion/test
	$(YOUR_IMAGES) warned fashion bench/data/fashion/test
	$(YOUR_IMAGES) warned fashion bench/data/oxygen/test

clean:
	rm -rf build dist .pytest_cache .ruff_cache demo-out
