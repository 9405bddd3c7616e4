"""Trainer arguments that trade compute for memory, for models that do not fit a device as they are:
activation checkpointing, and FSDP sharding across the processes of torchrun."""

from summarization.cli import UserError
from summarization.config import Train


def trainer_arguments(cfg: Train, cpu: bool) -> dict:
    """transformers' activation checkpointing, or FSDP (which then checkpoints activations its own way)."""
    if not cfg.fsdp:
        return {"activation_checkpointing": cfg.gradient_checkpointing}
    if cpu:  # accelerate shards only across accelerators; on CPUs it would quietly run DDP instead
        raise UserError("train.fsdp needs CUDA GPUs: accelerate does not shard across CPU processes")
    # FSDP2; the saved model holds whole weights. FSDP's own checkpointing spares the all-gather that the
    # Trainer's would repeat in the backward pass.
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            "state_dict_type": "FULL_STATE_DICT",
            "activation_checkpointing": cfg.gradient_checkpointing,
        },
    }
