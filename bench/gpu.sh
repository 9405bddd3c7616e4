#!/usr/bin/env bash
# The GPU checks in one command that fits 9 minutes on an H200, on a GPU machine set up with the kit (README: "On
# a GPU"), from the project's root:
#   bash bench/gpu.sh [--smoke] [OUT]
# Writes everything under OUT (default bench/results/gpu), each part as it ends, and each part under its own time
# limit (seconds: the *_SECONDS variables), so one that hangs or overruns leaves the others' results:
#   machine.txt     the card, driver and torch
#   tests.log       the GPU tests (python -m pytest -m gpu)
#   train.json      bench.throughput: the recipe on sampled batches beside the train stage's defaults and each
#                   lever of the fast path, with a profile of both (train-profile-*.txt: host vs device time)
#   epoch*.json     bench.epoch: the train stage's whole XSum-sized epoch on the fast path, eager then compiled
#                   (time-boxed: a part cut short records the rows it did and its rate)
#   evaluate.json   all 11,332 evaluation rows as the evaluate stage generates them
# --smoke runs the same parts at toy sizes on a CPU (CHECKPOINT: a tiny T5 with a real tokenizer), so that CI runs
# this script and it cannot rot; GPU tests are skipped there.
set -uo pipefail
smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
out=${1:-bench/results/gpu}
checkpoint=${CHECKPOINT:-.gpukit/t5-small}
mkdir -p "$out"
part() {  # name, seconds, command...: the command's output to $out/name.log, cut at its time limit
  local name=$1 seconds=$2
  shift 2
  echo "== $name: up to ${seconds} s ($(date +%T))"
  timeout --signal=INT --kill-after=30 "$seconds" "$@" > "$out/$name.log" 2>&1
  echo "$name: exit $?"
}

if [ $smoke = 1 ]; then
  sizes=(--epoch-rows 400 --evaluation-rows 64 --train-batches 2)
  fast=(train.max_tokens_per_batch=8192 train.length_buckets=2)
  epoch=(--rows 400)
  evaluate=(--eval-batch-sizes 32)
  compiled=(train.compile=default)
  peak=0.001
else
  sizes=(--train-batches 12)
  fast=(train.max_tokens_per_batch=32768 train.length_buckets=8)
  epoch=()
  evaluate=(--eval-batch-sizes 512)
  compiled=(train.compile=reduce-overhead)
  peak=989  # an H100's or H200's dense bf16 TFLOP/s
fi

{ nvidia-smi || true; python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'transformers', transformers.__version__)"; } > "$out/machine.txt" 2>&1
[ $smoke = 1 ] || part tests "${TEST_SECONDS:-110}" python3 -m pytest -m gpu tests/test_gpu.py -v -s -p no:cacheprovider
part train "${TRAIN_SECONDS:-110}" python3 -m bench.throughput --checkpoint "$checkpoint" --tables train "${sizes[@]}" \
  --max-tokens "${fast[0]#*=}" --length-buckets "${fast[1]#*=}" --profile --peak-tflops $peak --output "$out/train.json"
part epoch "${EPOCH_SECONDS:-140}" python3 -m bench.epoch --checkpoint "$checkpoint" "${epoch[@]}" \
  --max-seconds $(( ${EPOCH_SECONDS:-140} - 40 )) --peak-tflops $peak --set "${fast[@]}" --output "$out/epoch.json"
[ $smoke = 1 ] || part epoch-compiled "${EPOCH_SECONDS:-140}" python3 -m bench.epoch --checkpoint "$checkpoint" \
  --max-seconds $(( ${EPOCH_SECONDS:-140} - 40 )) --peak-tflops $peak --set "${fast[@]}" "${compiled[@]}" \
  --output "$out/epoch-compiled.json"
part evaluate "${EVALUATE_SECONDS:-60}" python3 -m bench.throughput --checkpoint "$checkpoint" --tables evaluate \
  "${sizes[@]}" --eval-rows 0 "${evaluate[@]}" --output "$out/evaluate.json"
grep -hE "passed|failed|^E " "$out/tests.log" 2>/dev/null | tail -n 5
grep -h "^|" "$out/train.log" "$out/evaluate.log"
grep -hE '"(epoch|rows|seconds|samples_per_second|mfu|compile_seconds|peak_memory_mib)"' "$out"/epoch*.json
