"""The benchmarks run end to end and write their reports; speed and memory are measured by running them,
never here (BENCHMARKS.md)."""

import json
import platform
import shutil

import pytest

from conftest import PROJECT, T5_TOKENIZER, needs_fixtures, run, set_params
from summarization import modeling


def project_with_tiny_t5(path):
    """The project's code in `path`, and a one-layer t5 checkpoint with the real tokenizer: a benchmark's
    whole path in seconds."""
    for name in ("params.yaml", "stages", "summarization", "bench"):
        copy = shutil.copytree if (PROJECT / name).is_dir() else shutil.copy
        copy(PROJECT / name, path / name)
    checkpoint = shutil.copytree(T5_TOKENIZER, path / "tiny-t5")
    config = json.loads((checkpoint / "config.json").read_text())
    config |= {"d_model": 16, "d_ff": 32, "d_kv": 4, "num_heads": 4, "num_layers": 1, "num_decoder_layers": 1}
    (checkpoint / "config.json").write_text(json.dumps(config))
    return checkpoint


@pytest.mark.slow
@needs_fixtures
def test_gpu_script_runs_every_part_at_toy_sizes(tmp_path):
    """bash bench/gpu.sh --smoke: what the GPU run does (its GPU tests aside), on the CPU, so that it cannot rot."""
    checkpoint = project_with_tiny_t5(tmp_path)
    shutil.copy(PROJECT / "bench/gpu.sh", tmp_path / "bench/gpu.sh")
    set_params(
        tmp_path,
        {
            "preprocess.max_source_length": 256,
            "preprocess.max_target_length": 16,
            "evaluate.generation_max_length": 8,
            "evaluate.per_device_eval_batch_size": 32,
        },
    )
    result = run(f"CHECKPOINT={checkpoint} bash bench/gpu.sh --smoke out", tmp_path)
    assert "train: exit 0" in result.stdout and "epoch: exit 0" in result.stdout and "evaluate: exit 0" in result.stdout

    train = json.loads((tmp_path / "out/train.json").read_text())["train"]
    assert train[0]["setup"]["name"].startswith("recipe") and train[0]["speedup"] == 1.0
    defaults, by_tokens, bucketed = train[-3:]
    assert defaults["setup"] | {"name": ""} == {
        "name": "",
        "sampling": "group_by_length",
        "collator": "buckets",
        "attention": "eager",
        "optim": "adamw_torch_fused",
        "precision": modeling.resolve_precision("auto"),
        "compile": "none",
        "lora_r": None,
        "gradient_checkpointing": False,
        "max_tokens": None,
        "length_buckets": None,
        "workers": False,
    }
    assert all(
        row["rows"] == 32
        and row["steps"] == 2
        and row["samples_per_second"] > 0
        and row["peak_memory_mib"] > 0
        and row["mfu"] > 0
        for row in train[:-2]
    )
    assert defaults["epoch_padding_share"] < train[0]["epoch_padding_share"]
    # up to 8,192 tokens a batch (sources here are cut to 256): more rows in a batch than 16, so fewer steps in an epoch
    assert by_tokens["setup"]["max_tokens"] == 8192 and by_tokens["steps"] == 2 and by_tokens["rows"] > 32
    assert by_tokens["epoch_steps"] < defaults["epoch_steps"] == 25
    assert bucketed["setup"]["length_buckets"] == 2 and bucketed["epoch_shapes"] <= min(4, by_tokens["epoch_shapes"])
    for profiled in (defaults, bucketed):  # the train stage's defaults and the whole fast path
        assert profiled["step_ms"] > 0 and "Self CPU" in (tmp_path / "out" / profiled["profile"]).read_text()

    epoch = json.loads((tmp_path / "out/epoch.json").read_text())
    assert epoch["finished"] and epoch["rows"] == epoch["epoch_rows"] == 400 and epoch["samples_per_second"] > 0
    assert "batches an epoch in" in epoch["epoch"] and epoch["steps"] < 400 / 16

    evaluate = json.loads((tmp_path / "out/evaluate.json").read_text())["evaluate"]
    assert evaluate[0]["setup"]["trainer_predict"] and not evaluate[-2]["setup"]["trainer_predict"]
    assert evaluate[-2]["setup"]["batch_size"] == 32 and evaluate[-1]["setup"]["batch_size"] == 32
    assert all(row["rows"] == 64 for row in evaluate)
    assert "| recipe: random batches" in result.stdout


@pytest.mark.slow
@needs_fixtures
def test_memory_table_sets_lora_and_memory_savers_beside_full_fine_tuning(tmp_path):
    checkpoint = project_with_tiny_t5(tmp_path)
    set_params(tmp_path, {"preprocess.max_source_length": 256, "preprocess.max_target_length": 16})
    result = run(
        f"python -m bench.memory --checkpoint {checkpoint} --epoch-rows 400 --train-batches 1 --output report.json",
        tmp_path,
    )
    full, checkpointed, lora = json.loads((tmp_path / "report.json").read_text())["memory"][:3]
    assert (
        full["setup"]["name"] == "the train stage: full fine-tuning" and checkpointed["setup"]["gradient_checkpointing"]
    )
    assert lora["trainable_parameters"] < full["trainable_parameters"] and lora["saved_mib"] < full["saved_mib"]
    assert "| LoRA r=16 instead" in result.stdout and "wrote report.json" in result.stdout


@pytest.mark.slow
@needs_fixtures
def test_data_stages_benchmark_runs_ours_and_the_recipes_on_one_corpus(tmp_path):
    checkpoint = project_with_tiny_t5(tmp_path)
    result = run(
        f"python -m bench.data_stages --scale 0.0005 --checkpoint {checkpoint} --scratch {tmp_path} "
        "--output report.json",
        tmp_path,
    )

    [scale] = json.loads((tmp_path / "report.json").read_text())["scales"]
    rows = {row["path"]: row for row in scale["data_stages"]}
    assert list(rows) == [
        'recipe: load_dataset("json")',
        "recipe: map(preprocess_function, batched=True)",
        "recipe: the whole process",
        "ours: python -m stages.fetch",
        "ours: python -m stages.preprocess",
        "ours: fetch + preprocess",
    ]
    assert all(
        row["rows"] == 102 + 6 + 6 and row["peak_rss_mib"] > 0 and row["speedup"] is not None for row in rows.values()
    )
    train, evaluate = scale["start_up"]
    assert (
        train["rows"] == 102
        and train["sampler_seconds"] >= 0
        and evaluate["rows"] == 6
        and evaluate["document_characters"] > 0
    )
    assert "| ours: python -m stages.preprocess | 114 |" in result.stdout and "wrote report.json" in result.stdout
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("data-stages-")] == []  # scratch removed


def test_each_bench_file_stays_short():
    """A bench a file, each file one table (BENCHMARKS.md lists them): none grows past ~300 lines."""
    lengths = {path.name: len(path.read_text().splitlines()) for path in (PROJECT / "bench").glob("*.py")}
    assert {name: length for name, length in lengths.items() if length > 300} == {}


@pytest.mark.slow
def test_private_hooks_benchmark_times_the_step_with_each_hook_put_back(tmp_path):
    result = run(f"python -m bench.private_hooks --smoke --output {tmp_path}/report.json", PROJECT)
    report = json.loads((tmp_path / "report.json").read_text())
    assert all(setting["ms"] > 0 for setting in report["step"].values()) and len(report["step"]) == 4
    assert all(ms > 0 for ms in report["spared"].values()) and "with _clip_grad_norm" in result.stdout


@pytest.mark.slow
def test_host_benchmark_times_the_trainers_host_work_and_counts_page_faults(tmp_path):
    result = run(f"python -m bench.host --smoke --output {tmp_path}/report.json", PROJECT)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["compile"] == []  # a minute a compile: tests/test_compile.py compiles through the train stage
    assert report["host_step"]["trainer_ms"] > 0 and report["host_step"]["bare_ms"] > 0
    glibc, kept = report["allocator"]["glibc"], report["allocator"]["kept"]
    if platform.libc_ver()[0] == "glibc":
        assert kept["faults"] < glibc["faults"] / 2
    assert "| ms a step (embedded model)" in result.stdout


@pytest.mark.slow
@needs_fixtures
def test_scoring_benchmark_times_the_recipes_rouge_ours_and_lead1(tmp_path):
    result = run(f"python -m bench.scoring --rows 40 --output {tmp_path / 'report.json'}", PROJECT)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rows"] == 40 and 0 < report["distinct_words"] < report["tokens"]
    paths = [row["path"] for row in report["table"]]
    assert paths[0].startswith("recipe: evaluate's rouge") and paths[1].startswith("ours, 1 process")
    assert all(row["seconds"] > 0 for row in report["table"][:6]) and report["table"][6]["seconds"] == 0
    assert report["table"][0]["speedup"] == 1.0 and all(row["cpu_seconds"] > 0 for row in report["table"][:6])
    assert report["idle_cores_estimate"].keys() == {"2", "16"}
    assert "| lead-1 now: the baseline stage" in result.stdout


@pytest.mark.slow
@needs_fixtures
def test_abstractiveness_benchmark_times_a_pair_and_each_stages_share():
    lines = run("python -m bench.abstractiveness --scale 0.0005 --repeats 1", PROJECT).stdout.splitlines()
    assert lines[0].startswith("ms a pair: abstractiveness ") and ", ROUGE " in lines[0]
    assert lines[1].startswith("preprocess, train's 102 references: ") and lines[1].endswith(" in 1 process(es)")
    assert lines[-1].startswith("evaluate, validation's 6 rows x 3 summaries: ")
