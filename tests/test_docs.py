"""README.md and docs/ stay true: the parameters page is what the code generates, every link resolves, nothing the
README showed before it became a map is lost, and every command shown is run by a test or says it is not."""

import re

import pytest
import yaml

from conftest import PROJECT
from summarization import params_doc
from summarization.config import Params, Section
from summarization.errors import UserError

PAGES = [PROJECT / "README.md", PROJECT / "BENCHMARKS.md", *sorted((PROJECT / "docs").glob("*.md"))]
# The pages a user reads for commands: README and docs/ (BENCHMARKS.md's are the benches', tests/test_bench.py's)
GUIDES = [page for page in PAGES if page.name != "BENCHMARKS.md"]
GUIDE_TEXT = "\n".join(page.read_text() for page in GUIDES)

# Every -S and every make/dvc/summarize/significance command of README.md at 0813c80, before it became a map (a
# literal list: CI's clone may be shallow; fetch.files' examples have since moved to data/files/, which DVC
# hashes). Each must still be shown somewhere in README.md or docs/.
SETTINGS_BEFORE = """
fetch.columns.document=article fetch.columns.summary=highlights fetch.files.test=data/files/test.jsonl
fetch.files.train=data/files/train.jsonl fetch.files.validation=data/files/val.jsonl fetch.source=files
model.checkpoint=google/flan-t5-large model.checkpoint=path/to/bart model.checkpoint=path/to/local-t5
model.revision=<its preprocess.prefix="" train.compile=reduce-overhead train.devices=2 train.eval_strategy=no
train.fsdp=true train.learning_rate=0.0005,0.002 train.learning_rate=0.002 train.learning_rate=3e-3
train.length_buckets=8 train.load_best_model_at_end=false train.lora.r=16 train.max_tokens_per_batch=32768
""".split()
COMMANDS_BEFORE = [
    "MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=2 dvc repro --force",
    "dvc artifacts get https://github.com/you/this-repository summarizer -o summarizer",
    "dvc cache dir /srv/dvc-cache",
    "dvc checkout",
    "dvc config cache.shared group",
    "dvc config cache.type reflink,hardlink,symlink",
    "dvc exp run --queue -S train.learning_rate=0.0005,0.002",
    "dvc exp run -S fetch.source=files -S fetch.files.train=data/files/train.jsonl "
    "-S fetch.files.validation=data/files/val.jsonl -S fetch.files.test=data/files/test.jsonl "
    "-S fetch.columns.document=article -S fetch.columns.summary=highlights "
    "-S model.checkpoint=path/to/local-t5",
    "dvc exp run -S model.checkpoint=google/flan-t5-large -S model.revision=<its commit> -S train.lora.r=16",
    "dvc exp run -S train.devices=2",
    "dvc exp run -S train.fsdp=true -S train.eval_strategy=no -S train.load_best_model_at_end=false",
    "dvc exp run -S train.learning_rate=0.002",
    "dvc exp run -S train.learning_rate=3e-3",
    "dvc exp run -S train.max_tokens_per_batch=32768 -S train.length_buckets=8 -S train.compile=reduce-overhead",
    "dvc exp show --only-changed",
    "dvc get . reports/environment.json --rev higher-lr -o /tmp/higher-lr.json",
    "dvc metrics diff main higher-lr",
    "dvc metrics show",
    "dvc plots diff main",
    "dvc plots show",
    "dvc pull",
    "dvc push --run-cache",
    "dvc push train",
    "dvc queue start",
    "dvc remote add -d s3store s3://my-bucket/dvc",
    "dvc remote add -d storage /mnt/team/dvc-storage",
    "dvc remote modify --local s3store access_key_id AKIA...",
    "dvc remote modify --local s3store secret_access_key ...",
    "dvc remote modify s3store endpointurl https://s3.example.com",
    "dvc repro --pull --allow-missing",
    "dvc repro -f -s <stage>",
    "dvc unprotect",
    "make repro",
    "make test",
    "make xsum-recipe",
    "make xsum-recommended",
    "significance main higher-lr --examples 3",
    "significance main higher-lr --md",
    "summarize --model path/to/model article.txt",
    "summarize --model summarizer article.txt",
    "summarize < article.txt",
    "summarize article.txt other.txt",
    "summarize news.csv -o summaries.txt",
    "summarize news.jsonl --column text -o summaries.jsonl",
]
# A shown command is run by a test when a test runs its first two words (its program, for the project's commands,
# which the tests call in-process); the rest say on their page, before the block or on the line, why they are not.
NOT_RUN = "not run by the tests"
IN_PROCESS = ("summarize", "significance")


def test_parameters_page_is_what_the_code_generates():
    assert params_doc.PAGE.read_text() == params_doc.page(), "run `make docs` and commit docs/parameters.md"


def test_every_param_is_on_the_page_and_nothing_else():
    def leaf_keys(mapping: dict, prefix: str = "") -> list[str]:
        keys = []
        for key, value in mapping.items():
            keys += leaf_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
        return keys

    params = leaf_keys(yaml.safe_load((PROJECT / "params.yaml").read_text()))
    documented = re.findall(r"^\| `([a-z_.]+)` \|", params_doc.PAGE.read_text(), flags=re.MULTILINE)
    assert sorted(documented) == sorted(params)


def test_a_field_without_a_description_is_an_error():
    class Undescribed(Section):
        size: int
        """described"""
        rate: float

    with pytest.raises(UserError, match=r"train\.rate has no description"):
        params_doc.described(Undescribed, "train")
    assert all(field.description for field in Params.model_fields.values())


@pytest.mark.parametrize("page", sorted((PROJECT / "docs").glob("*.md")), ids=lambda page: page.name)
def test_every_page_opens_with_the_question_it_answers(page):
    title, question = page.read_text().split("\n\n")[:2]
    assert title.startswith("# ") and question.endswith("?") and "\n" not in title
    assert f"(docs/{page.name})" in (PROJECT / "README.md").read_text(), f"README's table of pages lacks {page.name}"


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def prose(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https: and the like
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", prose(linked.read_text()), flags=re.MULTILINE)
            assert anchor in {slug(heading) for heading in headings}, f"{page.name}: no heading for {target}"


def test_nothing_shown_before_the_map_is_lost():
    shown = " ".join(re.sub(r"\\\n", " ", GUIDE_TEXT).split())  # commands continued on the next line, joined
    settings = re.findall(r"-S ([\w.]+=[^\s`]*)", shown)
    assert [setting for setting in SETTINGS_BEFORE if setting not in settings] == []
    assert [command for command in COMMANDS_BEFORE if command not in shown] == []


def shown_commands(text: str) -> list[tuple[str, str]]:
    """(command, what its page says before it) for each command line of the bash blocks."""
    commands = []
    for before, block in re.findall(r"(?:^|```\n)(.*?)^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            for command in line.split("#")[0].split("&&"):
                if command.strip():
                    commands.append((command.strip(), before.strip().split("\n\n")[-1] + line))
    return commands


def test_every_command_shown_is_run_by_a_test_or_says_it_is_not():
    tests = "\n".join(path.read_text() for path in (PROJECT / "tests").glob("*.py") if path.name != "test_docs.py")
    tests += (PROJECT / "bench/gpu.sh").read_text()  # tests/test_bench.py runs it
    unrun = []
    for page in GUIDES:
        for command, context in shown_commands(page.read_text()):
            words = [word for word in command.split() if "=" not in word or word.startswith("-")]  # no VAR=value
            ran = " ".join(words[: 1 if words[0] in IN_PROCESS else 2]) in tests or words[0] == "cd"
            if not ran and NOT_RUN not in context:
                unrun.append(f"{page.name}: {command}")
    assert unrun == []
