"""The private hooks the Trainer gave up for the public API (summarization/private_hooks.py lists those kept), on the
CPU, with t5-small's topology at width 8 (a near-free step: what is left is the host's work): the Trainer's CPU time
a step as it is and with each hook put back, the settings taking turns; and the work each hook spared a step.
CPU time of the training thread, not wall-clock time: a loaded machine stretches the latter.

    python -m bench.private_hooks [--smoke]
"""

import argparse
import functools
import os
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from bench.common import save
from bench.host import NEAR_FREE, batch_rows, near_free_model, shape_lengths, trainer_run
from summarization import environment, training
from summarization.cli import run_command
from summarization.markup import markdown_table


class ClipThroughList(training.SummarizationTrainer):
    """The private hook the Trainer had: _clip_grad_norm over a list of the parameters made once, not walked for."""

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.parameter_list = getattr(self, "parameter_list", None) or list(model.parameters())
        return super().training_step(model, inputs, num_items_in_batch)

    def _clip_grad_norm(self, model):
        return self.accelerator.clip_grad_norm_(self.parameter_list, self.args.max_grad_norm)


class NoModuleWalks(training.SummarizationTrainer):
    """The instance patch the Trainer had: model.train() walks the modules only when one is in eval mode, and
    model.zero_grad() is the optimizer's (its list of every parameter)."""

    def training_step(self, model, inputs, num_items_in_batch=None):
        if "train" not in vars(model):
            modules, walk = list(model.modules()), model.train

            def train(mode: bool = True):
                if any(module.training != mode for module in modules):
                    walk(mode)
                return model

            model.train = train
            model.zero_grad = lambda set_to_none=True: self.optimizer.zero_grad(set_to_none=set_to_none)
        return super().training_step(model, inputs, num_items_in_batch)


class LomoLookedUpOnce(training.SummarizationTrainer):
    """The process-wide patch the Trainer's module made at import: accelerate's is_lomo_available cached."""

    def train(self, *args, **kwargs):
        import accelerate.optimizer

        looked_up = accelerate.optimizer.is_lomo_available
        accelerate.optimizer.is_lomo_available = functools.cache(looked_up)
        try:
            return super().train(*args, **kwargs)
        finally:
            accelerate.optimizer.is_lomo_available = looked_up


HOOKS = {
    "_clip_grad_norm over a list": ClipThroughList,
    "model.train / model.zero_grad replaced": NoModuleWalks,
    "is_lomo_available cached": LomoLookedUpOnce,
}


class ThreadClock(TrainerCallback):
    """CPU seconds of the training thread from the end of the warm-up steps to the end of the last: the host's work a
    step, which the other jobs on a loaded machine do not stretch as they stretch wall-clock time."""

    def __init__(self, warmup: int):
        self.warmup = warmup

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            self.start = time.thread_time()
        if state.global_step == state.max_steps:
            self.seconds = time.thread_time() - self.start


def hook_shares(steps: int, layers: int, rounds: int) -> dict:
    """The Trainer's CPU ms a step (its thread's, one torch thread) as it is and with each private hook it gave up,
    eager, one shape, in this process; the settings take turns, `rounds` times."""
    torch.set_num_threads(1)  # the step's arithmetic on the thread measured
    warmup = min(10, steps // 2)
    dataset = batch_rows(shape_lengths(1), steps, NEAR_FREE["vocab_size"])
    times = {name: [] for name in ("public API", *HOOKS)}
    for _ in range(rounds):
        for name in times:
            clock = ThreadClock(warmup)
            with tempfile.TemporaryDirectory() as output_dir:
                trainer_run(
                    near_free_model(layers), dataset, "none", warmup, output_dir, clock, trainer_class=HOOKS.get(name)
                )
            times[name].append(1000 * clock.seconds / (steps - warmup))
    public = float(np.median(times["public API"]))
    return {
        name: {"ms": round(float(np.median(ms)), 2), "saves": round(1 - float(np.median(ms)) / public, 4)}
        for name, ms in times.items()
    }


def hook_work(layers: int) -> dict:
    """The CPU ms of the work each given-up hook spared a step, on the near-free model's modules (best of 7 runs of 300
    calls, the thread's CPU time): the Trainer's calls beside what the hook did instead."""
    import accelerate.utils

    torch.set_num_threads(1)
    model = near_free_model(layers).train()
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer = torch.optim.AdamW(model.parameters())
    modules = list(model.modules())

    def ms(call) -> float:
        return round(1000 * min(timeit.repeat(call, number=300, repeat=7, timer=time.thread_time)) / 300, 3)

    return {
        "model.train() walk": ms(model.train),
        "model.train() replaced: a check of each module's mode": ms(lambda: any(not m.training for m in modules)),
        "model.zero_grad() walk": ms(model.zero_grad),
        "model.zero_grad() replaced: the optimizer's list": ms(optimizer.zero_grad),
        "_clip_grad_norm: the parameters walked for": ms(lambda: list(model.parameters())),
        "is_lomo_available, twice a step": ms(lambda: [accelerate.utils.is_lomo_available() for _ in range(2)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes: the whole path in seconds (tests)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/private-hooks-cpu.json"))
    options = parser.parse_args()
    steps, layers, rounds = (4, 1, 1) if options.smoke else (30, NEAR_FREE["num_layers"], 3)
    report = {"machine": environment.describe("fp32", 1), "load_average": os.getloadavg(), "layers": layers}
    report["step"] = hook_shares(steps, layers, rounds)
    report["spared"] = hook_work(layers)
    report["load_average_after"] = os.getloadavg()
    save(report, options.output)
    public = report["step"]["public API"]["ms"]
    rows = [
        [f"Trainer CPU ms a step: public API / with {name}", public, hook["ms"], f"{hook['saves']:.1%}"]
        for name, hook in report["step"].items()
        if name != "public API"
    ]
    rows += [
        [f"CPU ms a call: {name}", ms, "", f"{ms / public:.1%} of a step"] for name, ms in report["spared"].items()
    ]
    print(markdown_table(["measure", "A", "B", "share"], rows))
    print(f"wrote {options.output}")


if __name__ == "__main__":
    run_command(main)
