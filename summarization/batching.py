"""How training rows become batches: rows of similar length together, padded to one of a few lengths, and
batches of a token budget rather than a fixed number of rows.

A GPU step of 16 rows is bound by the host's per-step work, not by the arithmetic (BENCHMARKS.md), so the
fast path takes far fewer, larger steps (token budgets), each of one of a few shapes (length buckets), which
torch.compile compiles once per shape and CUDA graphs replay."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Sampler
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from summarization.config import Train
from summarization.errors import UserError
from summarization.modeling import PAD_TO_MULTIPLE_OF

# Summaries are short and of one kind, and the decoder the lesser part of a step's work: two target lengths
# keep the number of batch shapes at twice the source buckets.
TARGET_BUCKETS = 2
LABEL_PAD = -100  # ignored by the loss


def round_up(length: int | np.ndarray, multiple: int = PAD_TO_MULTIPLE_OF):
    return -(-length // multiple) * multiple


def length_buckets(lengths: np.ndarray, count: int | None) -> np.ndarray:
    """The `count` padded lengths (multiples of 8, ascending, the last the longest row's) that pad these rows
    least in all, each row padded to the first that holds it; with count None, every multiple of 8.

    Optimal 1-D bucketing: a dynamic programme over the histogram of the rows' rounded lengths."""
    rounded, rows = np.unique(round_up(lengths), return_counts=True)
    if count is None or count >= len(rounded):
        return rounded
    rows_before = np.concatenate([[0], np.cumsum(rows)])
    # cost[k, j]: least padded tokens for the rows of the first j lengths in k buckets, the last ending at j - 1
    cost = np.full((count + 1, len(rounded) + 1), np.inf)
    choice = np.zeros((count + 1, len(rounded) + 1), dtype=int)
    cost[0, 0] = 0
    for k in range(1, count + 1):
        for j in range(1, len(rounded) + 1):
            options = cost[k - 1, :j] + rounded[j - 1] * (rows_before[j] - rows_before[:j])
            choice[k, j] = int(np.argmin(options))
            cost[k, j] = options[choice[k, j]]
    ends, j = [], len(rounded)
    for k in range(count, 0, -1):
        ends.append(rounded[j - 1])
        j = choice[k, j]
    return np.array(sorted(set(ends)))


@dataclass(frozen=True)
class Shapes:
    """The lengths a batch's sources and targets are padded to, and the rows of a token budget's batch."""

    source: np.ndarray | None  # ascending; None: the longest row's length, rounded up to a multiple of 8
    target: np.ndarray | None
    max_tokens: int | None  # padded source tokens a batch holds at most; None: the Trainer's fixed rows

    @classmethod
    def of(cls, cfg: Train, source_lengths: np.ndarray, target_lengths: np.ndarray) -> "Shapes":
        if cfg.length_buckets is None:
            shapes = cls(None, None, cfg.max_tokens_per_batch)
        else:
            shapes = cls(
                length_buckets(source_lengths, cfg.length_buckets),
                length_buckets(target_lengths, TARGET_BUCKETS),
                cfg.max_tokens_per_batch,
            )
        longest = shapes.padded_source(int(source_lengths.max()))
        if shapes.max_tokens is not None and shapes.max_tokens < longest:
            raise UserError(
                f"train.max_tokens_per_batch ({shapes.max_tokens}) must hold the longest training row, "
                f"{longest} tokens padded: raise it (or lower preprocess.max_source_length)"
            )
        return shapes

    def padded_source(self, length: int) -> int:
        return padded(length, self.source)

    def padded_target(self, length: int) -> int:
        return padded(length, self.target)

    def budget_rows(self, source: int) -> int:
        """The rows of a token budget's batch whose sources are padded to `source` tokens."""
        return self.max_tokens // source

    def rows(self, source: int, batch: int) -> int:
        """The rows of a batch of `batch` rows whose sources are padded to `source` tokens: with a token budget and
        length buckets, as many as the budget holds (empty ones fill a bucket's last batch), so that shapes repeat."""
        return batch if self.max_tokens is None or self.source is None else self.budget_rows(source)

    def of_batch(self, source_lengths: np.ndarray, target_lengths: np.ndarray) -> tuple[int, int, int]:
        """(rows, source, target) of the batch of rows of these lengths, as padded."""
        source = self.padded_source(int(source_lengths.max()))
        return self.rows(source, len(source_lengths)), source, self.padded_target(int(target_lengths.max()))


def padded(length: int, buckets: np.ndarray | None) -> int:
    """The first bucket that holds `length` (beyond the last, or without buckets: a multiple of 8)."""
    if buckets is None or length > buckets[-1]:  # validation rows can be longer than any training row
        return int(round_up(length))
    return int(buckets[np.searchsorted(buckets, length)])


class TokenBudgetSampler(Sampler[list[int]]):
    """Batches of up to `max_tokens` padded source tokens: the rows ordered by padded source length, then by target
    length (ties at random), cut into batches as long as the budget allows; the batches in random order. The order
    is drawn for each epoch from (seed, epoch), so a run resumed mid-epoch replays the same batches; the cuts depend
    on the lengths alone, so every epoch has as many. Under DDP, accelerate deals the batches out to the processes
    in turn and repeats the first ones to give each as many."""

    def __init__(self, shapes: Shapes, source_lengths: np.ndarray, target_lengths: np.ndarray, seed: int):
        self.budget, self.target_lengths, self.seed, self.epoch = shapes.max_tokens, target_lengths, seed, 0
        self.padded = (
            round_up(source_lengths)
            if shapes.source is None
            else shapes.source[np.searchsorted(shapes.source, source_lengths)]
        )
        self.batches = len(batch_starts(np.sort(self.padded), self.budget))

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it as each epoch begins
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        shuffled = torch.randperm(len(self.padded), generator=generator).numpy()
        order = shuffled[
            np.lexsort((self.target_lengths[shuffled], self.padded[shuffled]))
        ]  # stable: ties stay shuffled
        batches = np.split(order, batch_starts(self.padded[order], self.budget)[1:])
        for index in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[index].tolist()


def batch_starts(padded: np.ndarray, budget: int) -> list[int]:
    """Where batches of rows of these ascending padded lengths start, each batch holding as many rows as the budget
    allows at its last (longest) row's length."""
    starts, start = [0], 0
    for index, length in enumerate(padded.tolist()):
        if (index - start + 1) * length > budget:
            starts.append(index)
            start = index
    return starts


class BucketCollator:
    """Pads a batch's sources and targets to their buckets' lengths (without buckets, each to its longest row, a
    multiple of 8, as DataCollatorForSeq2Seq pads them), and under a token budget with buckets its rows to the
    bucket's count with empty rows (no attention, no labels: they add nothing to the loss), so that shapes repeat.
    DataCollatorForSeq2Seq pads sources and labels to one multiple, and never adds rows."""

    def __init__(self, shapes: Shapes, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel):
        self.shapes, self.pad, self.model = shapes, tokenizer.pad_token_id, model

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        source_lengths = np.array([len(row["input_ids"]) for row in features])
        rows, source, target = self.shapes.of_batch(source_lengths, np.array([len(row["labels"]) for row in features]))
        input_ids = np.full((rows, source), self.pad, dtype=np.int64)
        labels = np.full((rows, target), LABEL_PAD, dtype=np.int64)
        for row, feature in enumerate(features):
            input_ids[row, : len(feature["input_ids"])] = feature["input_ids"]
            labels[row, : len(feature["labels"])] = feature["labels"]
        attention_mask = np.arange(source) < np.pad(source_lengths, (0, rows - len(features)))[:, None]
        labels = torch.from_numpy(labels)
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask).long(),
            "labels": labels,
            "decoder_input_ids": self.model.prepare_decoder_input_ids_from_labels(labels=labels),
        }


def epoch_shapes(
    batches: list[list[int]], shapes: Shapes, source_lengths: np.ndarray, target_lengths: np.ndarray
) -> tuple[Counter, float, float]:
    """How many batches of each shape (rows, source, target) an epoch has, and the share of its padded source
    tokens, and of its padded target tokens, that are padding."""
    counts = Counter(shapes.of_batch(source_lengths[batch], target_lengths[batch]) for batch in batches)
    source = sum(count * rows * length for (rows, length, _), count in counts.items())
    target = sum(count * rows * length for (rows, _, length), count in counts.items())
    return counts, 1 - float(source_lengths.sum()) / source, 1 - float(target_lengths.sum()) / target
