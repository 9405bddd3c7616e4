"""Stage inputs: record the sha256 of the local files fetch reads (fetch.source files) in data/inputs.json. It runs
at every `dvc repro` (always_changed): an edited file then re-runs fetch and everything after it."""

from summarization.cli import run_command
from summarization.config import INPUTS_FILE, load_params
from summarization.outputs import write_json
from summarization.sources import file_digests


def inputs() -> None:
    write_json(INPUTS_FILE, file_digests(load_params().fetch))


if __name__ == "__main__":
    run_command(inputs)
