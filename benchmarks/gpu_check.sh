#!/usr/bin/env bash
# The GPU checks of issue #13, as one prepared command for a lent device machine (the `device` tool's `run`).
# The machine has torch, torchvision, numpy, scipy, scikit-learn, pandas, seaborn, safetensors, pytest; the rest
# travels as wheels in .whl/ (ignored by git), fetched here once, in the repository's root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl torch-fidelity torchattacks filelock
# then:  run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=480)
# What it runs (about 5 minutes on an H200): the CUDA tests (tests/gpu: every sampler lever, bf16 autocast,
# torch.compile, the suites and training on CUDA) and the sampler benchmark on CUDA (ours against the textbook
# loop). Not covered: nccl data parallelism needs two GPUs. Everything it prints lands in $OUT.
set -uo pipefail
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT" /tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 2
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit 2
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -m pytest -p no:cacheprovider -m gpu tests/gpu -q 2>&1 | tee "$OUT/tests_gpu.log"
status=${PIPESTATUS[0]}
python3 benchmarks/bench_sampler.py --device cuda 2>&1 | tee "$OUT/bench_sampler_cuda.log"
exit "$status"
