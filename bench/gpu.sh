#!/usr/bin/env bash
# The GPU checks in one go, on a GPU machine set up with the kit (README: "On a GPU"), from the project's
# root: the machine, the GPU tests, then the throughput tables. Writes everything under $1 (default
# bench/results/gpu); arguments after it go to bench.throughput and override its options here. Each part
# has its own time limit, so one that hangs leaves the others' results (the bench saves each row as it lands).
set -uo pipefail
out=${1:-bench/results/gpu}
shift $(( $# > 0 ))
mkdir -p "$out"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } > "$out/machine.txt" 2>&1
timeout "${TEST_SECONDS:-270}" python3 -m pytest -m gpu tests/test_gpu.py -v -s -p no:cacheprovider > "$out/gpu-tests.log" 2>&1
echo "gpu tests: exit $?"
timeout "${BENCH_SECONDS:-240}" python3 -m bench.throughput --checkpoint "${CHECKPOINT:-.gpukit/t5-small}" --tables train evaluate \
  --train-batches 30 --eval-rows 512 --max-tokens 32768 65536 --eval-batch-sizes 256 \
  --peak-tflops 989 --output "$out/throughput.json" "$@" > "$out/throughput.log" 2>&1
echo "throughput: exit $?"
grep -E "PASSED|FAILED|ERROR|SKIPPED|passed|failed|losses|resumed|uninterrupted|t5-small shape|Error" "$out/gpu-tests.log" | tail -n 40
tail -n 30 "$out/throughput.log"
