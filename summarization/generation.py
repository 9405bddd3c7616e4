"""Summaries from a trained model: length-sorted batches, so little of each batch is padding, and
generate's KV cache; no loss pass beside generation, which the recipe's Trainer.predict adds. Generation
runs in fp32 on every device: on an H100, bf16 or fp16 autocast made it no faster for t5-small, and it
changed some greedy summaries (BENCHMARKS.md, GPU)."""

import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from summarization import data, modeling
from summarization.cli import progress


@torch.inference_mode()
def generate_summaries(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: pa.Array | pa.ChunkedArray,
    batch_size: int,
    max_length: int,
    num_beams: int,
) -> tuple[list[str], list[int]]:
    """Decoded summaries and their lengths in tokens (the recipe's gen_len), in the order of `sources`: the
    documents' token ids as an Arrow list array, of which one batch at a time becomes Python lists."""
    model.eval()
    order = longest_first(data.token_counts(sources).tolist())
    texts, lengths = [""] * len(sources), [0] * len(sources)
    batches = range(0, len(order), batch_size)
    with modeling.generating_attention(model):
        for start in progress(batches, "generate", total=len(batches)):
            rows = order[start : start + batch_size]
            batch = tokenizer.pad(
                {"input_ids": sources.take(rows).to_pylist()},
                pad_to_multiple_of=modeling.PAD_TO_MULTIPLE_OF,
                return_tensors="pt",
            )
            output = model.generate(**batch.to(model.device), max_length=max_length, num_beams=num_beams)
            decoded = tokenizer.batch_decode(output, skip_special_tokens=True)
            counts = generated_lengths(output, tokenizer.pad_token_id, tokenizer.eos_token_id)
            for row, text, count in zip(rows, decoded, counts, strict=True):
                texts[row], lengths[row] = text.strip(), count
    return texts, lengths


def generated_lengths(output: torch.Tensor, pad: int, eos: int) -> list[int]:
    """The recipe's gen_len of each generated row: its tokens but padding, up to its first EOS. Greedy search pads
    a finished row with PAD, but beam search with EOS, which the recipe's count (tokens but padding) would add."""
    eos_seen = (output == eos).int().cumsum(dim=1)
    after_first_eos = (eos_seen - (output == eos).int()) > 0
    return ((output != pad) & ~after_first_eos).sum(dim=1).tolist()


def longest_first(lengths: list[int]) -> list[int]:
    """Row numbers by decreasing length, ties in their order: batches of neighbours carry little padding,
    and an out-of-memory error shows at the first batch."""
    return sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
