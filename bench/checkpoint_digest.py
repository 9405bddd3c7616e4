"""What checking checkpoints by content costs: a t5-small-sized checkpoint (t5-small's config, random weights, AdamW's
state after one step) written as Trainer writes one, then recorded (resume.record_files: a sha256 per file) and checked
before a resume (resume.damage: sizes, digests, and each file loaded as Trainer loads it). Prints seconds as JSON.

    python -m bench.checkpoint_digest
"""

import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoConfig, T5ForConditionalGeneration

from bench.common import DEFAULT_CHECKPOINT
from summarization import resume, tokenizing


def main() -> None:
    model = T5ForConditionalGeneration(tokenizing.pretrained(AutoConfig, DEFAULT_CHECKPOINT))
    optimizer = torch.optim.AdamW(model.parameters())
    ids = torch.ones(1, 8, dtype=torch.long)
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()  # its two moments per weight: optimizer.pt twice the weights' size
    with tempfile.TemporaryDirectory(dir=".") as directory:
        checkpoint = Path(directory) / "checkpoint-1"
        clock = time.perf_counter()
        model.save_pretrained(checkpoint)
        torch.save(optimizer.state_dict(), checkpoint / "optimizer.pt")
        (checkpoint / "trainer_state.json").write_text("{}")
        seconds = {"written": time.perf_counter() - clock}
        clock = time.perf_counter()
        resume.record_files(checkpoint)
        seconds["recorded"] = time.perf_counter() - clock
        clock = time.perf_counter()
        assert resume.damage(checkpoint) is None
        seconds["checked"] = time.perf_counter() - clock
        megabytes = {path.name: path.stat().st_size / 1e6 for path in checkpoint.iterdir()}
    print(json.dumps({"megabytes": megabytes} | {key: round(value, 2) for key, value in seconds.items()}, indent=1))


if __name__ == "__main__":
    main()
