"""The trained model in models/summarizer/: full weights, or a LoRA adapter (peft) over a pretrained base.

An adapter holds only the low-rank updates, megabytes where the model is hundreds, so DVC pushes and
pulls little. Its adapter_config.json names the base checkpoint and revision it was trained on, from
which every reader rebuilds the model: a local directory offline, a Hub id at that pinned commit. Both
kinds are read and written as safetensors; remote code is never run."""
from pathlib import Path

from peft import LoraConfig, PeftConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoModelForSeq2SeqLM, PreTrainedModel, PreTrainedTokenizerBase, Trainer

from summarization import modeling
from summarization.cli import UserError
from summarization.config import Lora, Model
from summarization.outputs import atomic_dir

ADAPTER_WEIGHTS = "adapter_model.safetensors"  # without it peft would read a pickled adapter_model.bin
MERGED_DIR = "merged"  # train.lora.merge: the adapter folded into its base, a model that needs nothing else


def with_lora(model: PreTrainedModel, cfg: Lora, base: Model) -> PreTrainedModel:
    """The model to train: itself (full fine-tuning), or its weights frozen with LoRA adapters that alone train."""
    if cfg.r is None:
        return model
    config = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                        target_modules=cfg.target_modules)
    try:  # peft records the checkpoint the model was loaded from; the revision pins a Hub id
        return get_peft_model(model, config, revision=base.revision)
    except ValueError as error:  # no layer of that name, or a model type peft has no default for
        raise UserError(f"train.lora.target_modules: {str(error).splitlines()[0]}") from None


def save_trained(trainer: Trainer, tokenizer: PreTrainedTokenizerBase, directory: Path, merge: bool) -> None:
    """Write the trained weights (the adapter alone with LoRA) and the tokenizer to `directory`; with `merge`,
    also the merged model to directory/merged/. Every process calls it: under FSDP the weights are gathered
    from all of them; process 0 writes."""
    weights = trainer.accelerator.get_state_dict(trainer.model)
    if not trainer.is_world_process_zero():
        return
    with atomic_dir(directory) as staging:
        # safetensors; Trainer.save_model would add a pickled training_args.bin
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(staging, state_dict=weights)
        tokenizer.save_pretrained(staging)
        if merge:
            load_trained(staging).save_pretrained(staging / MERGED_DIR)
            tokenizer.save_pretrained(staging / MERGED_DIR)


def load_trained(directory: Path) -> PreTrainedModel:
    """The model in `directory`: full weights as they are, or an adapter merged into the base its config names."""
    if (directory / ADAPTER_WEIGHTS).is_file():
        adapter = PeftConfig.from_pretrained(directory)
        base = Model.model_construct(checkpoint=adapter.base_model_name_or_path, revision=adapter.revision)
        model = modeling.from_checkpoint(AutoModelForSeq2SeqLM.from_pretrained, base, "model", use_safetensors=True)
        return PeftModel.from_pretrained(model, directory).merge_and_unload()  # merged: generation at full speed
    if (directory / "config.json").is_file():
        return AutoModelForSeq2SeqLM.from_pretrained(directory, use_safetensors=True, trust_remote_code=False)
    raise UserError(f"{directory} holds no trained model: run the train stage (dvc repro)")
