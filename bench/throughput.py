"""Training and evaluation throughput, and the memory savers: the tables of bench.train_speed, bench.memory and
bench.evaluation in one run, on the same data, with all their options (`--tables` chooses among them). Each
table's own module says what it measures; BENCHMARKS.md has their results.

    python -m bench.throughput                                  # CPU-sized: ~30 minutes on 2 cores
    python -m bench.throughput --train-batches 0 --eval-rows 0  # a whole epoch and evaluation, on a GPU
    python -m bench.throughput --tables memory                  # only LoRA and the memory savers
    python -m bench.throughput --max-tokens 32768 --compile --profile --eval-batch-sizes 256 --peak-tflops 989  # GPU
"""

from bench import evaluation, memory, train_speed
from bench.common import run_tables

if __name__ == "__main__":
    run_tables(__doc__, [train_speed, memory, evaluation], "")
