"""Every private name of another package that the project relies on: what it is, why no public API does the same,
and what it buys. A minor release may rename, re-sign or stop calling any of them, silently; tests/test_private_hooks.py
fails with one line naming the hook and the installed version when one does. Where a hook bought less than ~2% of a
step, the project uses the public API instead (BENCHMARKS.md, "Private hooks")."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Hook:
    name: str  # importable dotted path: package.module.Object.attribute
    use: str  # override (the project's method replaces it), call, read (and write)
    parameters: tuple[str, ...] | None  # the signature the project's code was written against (None: not callable)
    where: str  # the project's code that uses it
    why: str  # why no public API does it
    buys: str  # what it measurably buys


HOOKS = (
    Hook(
        "transformers.Trainer._save_checkpoint",
        "override",
        ("self", "model", "trial"),
        "training.SummarizationTrainer._save_checkpoint",
        "the record of a checkpoint's files (resume.record_files) must be written once every process has written its "
        "part and before Trainer rotates the older checkpoints out, which it does inside this method; the on_save "
        "callback runs after the rotation. A full disk while saving is reported in one line.",
        "a run killed at any moment resumes from a whole checkpoint (tests/test_resume.py); without it, a kill "
        "between the rotation and the record leaves none and the run starts over",
    ),
    Hook(
        "transformers.Trainer._issue_warnings_after_load",
        "override",
        ("self", "load_result"),
        "training.SummarizationTrainer._issue_warnings_after_load",
        "Trainer reports tied weights (T5's embeddings and head, saved once) as missing keys when it loads the best "
        "checkpoint; no public setting or callback sees the load result",
        "no false 'missing keys' warning at the end of every load_best_model_at_end run",
    ),
    Hook(
        "transformers.AttentionMaskInterface._global_mapping",
        "read and write",
        None,
        "modeling.registry_entry",
        "transformers decides whether an attention has a mask function from this class-wide mapping alone "
        "(masking_utils._preprocess_mask_arguments), so FlexAttention's block masks must be registered there, and "
        "register() has no inverse to take an entry out again after the run",
        "FlexAttention's masks in training (tests/test_modeling.py: flex equals eager on padded rows), with "
        "nothing left registered after the run (tests/test_imports.py)",
    ),
    Hook(
        "transformers.AttentionInterface._global_mapping",
        "read and write",
        None,
        "modeling.registry_entry",
        "as AttentionMaskInterface's: register() writes here and has no inverse",
        "FLEX_ATTENTION registered for the run only",
    ),
    Hook(
        "transformers.PretrainedConfig._attn_implementation",
        "read",
        None,
        "modeling.generating_attention",
        "the attention a model was set to; transformers has a public setter (set_attn_implementation) but no getter",
        "a model fine-tuned with FlexAttention generates with eager attention and gets its own back after",
    ),
    Hook(
        "torch._dynamo.config.patch",
        "call",
        ("arg1", "arg2", "kwargs"),
        "training.compiling_each_shape",
        "torch.compile has no public option for dynamic shapes from the first batch on (assume_static_by_default), "
        "for constant floats beside them (specialize_float) nor for how many recompiles it allows "
        "(recompile_limit); torch's docs point to torch._dynamo.config",
        "every batch shape of a run served by one graph: 16 shapes compile in about the time one does; the step "
        "traced once, not twice: a re-run compiles from the cache in half the time (BENCHMARKS.md, the host's side "
        "of a training run)",
    ),
    Hook(
        "torch._dynamo.utils.counters",
        "read",
        None,
        "training.compilation",
        "the number of graphs dynamo made has no public counter",
        "metrics/train.json's compiled_graphs (1 for every shape: tests/test_compile.py)",
    ),
    Hook(
        "torch._dynamo.utils.get_compilation_metrics",
        "call",
        (),
        "training.compilation",
        "the seconds spent compiling have no public measure",
        "metrics/train.json's compile_seconds",
    ),
    Hook(
        "torch._inductor.runtime.cache_dir_utils.default_cache_dir",
        "call",
        (),
        "training.compile_cache",
        "torch writes its default cache directory into TORCHINDUCTOR_CACHE_DIR as torch._dynamo is imported: only its "
        "default tells that value from a directory the user chose",
        "Inductor's caches in ~/.cache/summarization/torchinductor, kept across reboots, unless the user chose "
        "another (a warm re-run compiles in 11-42% of a cold one's time: BENCHMARKS.md)",
    ),
)
