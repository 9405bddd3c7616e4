#!/usr/bin/env bash
# The GPU checks in one go, on a GPU machine set up with the kit (README: "On a GPU"), from the project's
# root: the machine, the GPU tests, then the throughput tables. Writes everything under $1 (default
# bench/results/gpu); each part has its own time limit, so one that hangs leaves the others' results.
set -uo pipefail
out=${1:-bench/results/gpu}
mkdir -p "$out"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } > "$out/machine.txt" 2>&1
timeout "${BENCH_SECONDS:-240}" python3 -m bench.throughput --checkpoint "${CHECKPOINT:-.gpukit/t5-small}" --tables train evaluate \
  --train-batches "${TRAIN_BATCHES:-30}" --eval-rows "${EVAL_ROWS:-512}" --max-tokens 32768 65536 --eval-batch-sizes 256 \
  --peak-tflops 989 --output "$out/throughput.json" > "$out/throughput.log" 2>&1
echo "throughput: exit $?"
timeout "${TEST_SECONDS:-270}" python3 -m pytest -m gpu tests/test_gpu.py -v -s -p no:cacheprovider > "$out/gpu-tests.log" 2>&1
echo "gpu tests: exit $?"
tail -n 30 "$out/throughput.log"
grep -E "PASSED|FAILED|ERROR|SKIPPED|passed|failed|autocast|losses|resumed|uninterrupted|t5-small shape|Error" "$out/gpu-tests.log" | tail -n 40
