#!/usr/bin/env bash
# One call on a lent GPU machine (no network there): environment, CUDA tests, speed,
# a paper-preset run and the report, everything written under $OUT.
# Not yet run on a GPU: no task so far has been lent one (see issue 7's note).
#
# Prepare here, once (both paths are ignored by git and travel with `carry`):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       torch-fidelity==0.4.0 typer rich shellingham pytest-benchmark py-cpuinfo hypothesis
#   GAN_BENCH_DATA=data .venv/bin/gan-bench fetch        # MNIST raw files, 55 MB
# Then: run(command="bash scripts/gpu_check.sh", carry=[".whl", "data"])
# The Inception weights (96 MB) do not fit the 64 MiB a call may carry: fid_inception is
# computed afterwards from the checkpoints, where the weights are (gan-bench eval).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
export GAN_BENCH_DATA=$PWD/data PYTHONUNBUFFERED=1
gb() { python3 -m bench.cli "$@"; }
{
  nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"
} > "$OUT/env.txt" 2>&1
python3 -m pytest -q -x tests/test_variants.py tests/test_compile.py tests/benchmarks \
    --benchmark-enable --benchmark-only --benchmark-json="$OUT/bench.json" > "$OUT/tests.txt" 2>&1
gb speed --variants all --device cuda --batch-sizes 64,256 --out "$OUT/results" > "$OUT/speed.txt" 2>&1
timeout 300 gb run --variants all --device cuda --preset paper --seeds 1 --out "$OUT/results" > "$OUT/run.txt" 2>&1
gb report "$OUT/results" --out "$OUT/results/report" > "$OUT/report.txt" 2>&1
tar czf "$OUT/results.tgz" -C "$OUT" results --exclude checkpoints
