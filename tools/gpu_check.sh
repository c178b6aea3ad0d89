#!/usr/bin/env bash
# The GPU check: one call on a CUDA machine that has no package index, every stage writing
# its own output under $OUT as it finishes, so a stage that dies or runs out of time still
# leaves the others. Stages, in order of priority:
#   1. environment, CUDA tests, pytest-benchmark step timings, CPU-vs-GPU classifier features
#   2. gan-bench speed at batch 64 and 256, every variant, fast path against the tutorial loop
#   3. gan-bench run --preset paper, every variant, 1 seed; stopped by SIGTERM at its time
#      limit, it still checkpoints (gan-bench run --resume continues it)
#   4. the report of whatever ran
#
# Prepare on a machine with a package index (both paths are ignored by git):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       torch-fidelity==0.4.0 typer rich shellingham pytest-benchmark py-cpuinfo hypothesis
#   GAN_BENCH_DATA=data .venv/bin/gan-bench fetch        # MNIST raw files, 55 MB
# then carry .whl and data to the GPU machine and run: bash tools/gpu_check.sh
# The Inception weights (96 MB) are computed into fid_inception afterwards from the
# checkpoints, where the weights are (gan-bench eval CHECKPOINT --inception-samples 10000).
#
# RUN_SECONDS (default 240) bounds stage 3.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
RUN_SECONDS=${RUN_SECONDS:-240}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
fi
export GAN_BENCH_DATA=${GAN_BENCH_DATA:-$PWD/data} PYTHONUNBUFFERED=1
gb() { python3 -m bench.cli "$@"; }
stage() { echo "$(date -u +%H:%M:%S) $1" >> "$OUT/stages.txt"; }

stage "1 environment, tests, step timings, features"
{ nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"; } \
    > "$OUT/env.txt" 2>&1
python3 -m pytest -q -x tests/test_variants.py tests/test_compile.py tests/test_figures.py tests/benchmarks \
    --benchmark-enable --benchmark-json="$OUT/bench.json" > "$OUT/tests.txt" 2>&1
python3 tools/compare_features.py "$OUT/features.json" > "$OUT/features.txt" 2>&1

stage "2 speed"
gb speed --variants all --device cuda --batch-sizes 64,256 --out "$OUT/results" > "$OUT/speed.txt" 2>&1

stage "3 paper-preset runs"
timeout -s TERM "$RUN_SECONDS" gb run --variants all --device cuda --preset paper --seeds 1 --out "$OUT/results" \
    --format json > "$OUT/run.json" 2> "$OUT/run.txt"
echo "exit $?" >> "$OUT/run.txt"

stage "4 report"
gb report "$OUT/results" --out "$OUT/results/report" > "$OUT/report.txt" 2>&1
tar czf "$OUT/results.tgz" -C "$OUT" --exclude checkpoints results
stage "done"
