"""docs/parameters.md, generated: each key's description is its field's docstring in summarization/config.py (where
it is validated), what it takes is read from that validation, and its default from params.yaml. A new field appears
once it has a docstring; one without is an error. tests/test_docs.py checks that the committed page is this output.

    python -m summarization.params_doc    # or: make docs
"""

import re

import yaml
from pydantic import BaseModel

from summarization.config import PARAMS_FILE, Params, read_yaml
from summarization.errors import UserError
from summarization.markup import markdown_table
from summarization.outputs import write_text

PAGE = PARAMS_FILE.parent / "docs" / "parameters.md"

INTRO = """# Parameters

What does each key of `params.yaml` do, and which values does it take?

Every key is required; an unknown key, a wrong type, an out-of-range or infinite value, or a name the library does
not take (`train.optim`, `train.lr_scheduler_type`) is an error that names it, raised when params are loaded, before
any stage does its work. Change `params.yaml` and run `dvc repro`, or run an experiment:
`dvc exp run -S train.learning_rate=3e-3` ([experiments-and-sharing.md](experiments-and-sharing.md)).
The defaults are the embedded corpus and model, which run offline on a CPU in minutes.

This page is generated from `summarization/config.py` (each field's docstring and validation) and `params.yaml`
(the defaults) by `python -m summarization.params_doc` (`make docs`); edit those, not this page.
"""


def described(model: type[BaseModel], key: str) -> dict[str, str]:
    """Each field of `model` under `key` (dotted) and its description, one line."""
    descriptions = {}
    for name, field in model.model_fields.items():
        dotted = f"{key}.{name}".lstrip(".")
        if not field.description:
            raise UserError(f"summarization/config.py: {dotted} has no description: put a docstring under its field")
        descriptions[dotted] = linked(" ".join(field.description.split()))
    return descriptions


def linked(text: str) -> str:
    """docs/page.md#anchor in a description (plain in the code) as a link from this page, which is in docs/."""
    return re.sub(r"\(docs/([\w-]+\.md)(#[\w-]+)?\)", r"([\1](\1\2))", text)


def takes(schema: dict, schemas: dict) -> str:
    """What a field's JSON schema (pydantic's) admits, in words: `integer > 0 or null`."""
    if "anyOf" in schema:
        return " or ".join(takes(option, schemas) for option in schema["anyOf"])
    if "enum" in schema or "const" in schema:
        return " or ".join(f"`{value}`" for value in schema.get("enum", [schema.get("const")]))
    kind = schema.get("type")
    if kind == "array":
        return f"list of {takes(schema['items'], schemas)}"
    if kind == "string":
        return "text" if not schema.get("minLength") else "non-empty text"
    if kind in ("integer", "number"):
        symbols = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}
        bounds = [f"{symbol} {schema[bound]}" for bound, symbol in symbols.items() if bound in schema]
        return " ".join([kind, ", ".join(bounds)]).strip()
    return {"boolean": "`true` or `false`", "null": "`null`"}.get(kind, kind or "any")


def default(value) -> str:
    return f"`{yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix('...').strip()}`"


def sections(model: type[BaseModel], key: str, values: dict, schemas: dict) -> list[str]:
    """`model`'s own keys in a table, then each section in it: a heading, its description, its keys."""
    descriptions = described(model, key)
    properties = schemas[model.__name__]["properties"]
    rows, nested = [], []
    for name, field in model.model_fields.items():
        dotted = f"{key}.{name}".lstrip(".")
        if name not in values:
            raise UserError(f"{PARAMS_FILE}: {dotted}: missing")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            intro = descriptions[dotted]
            nested += [
                f"## {dotted}\n\n{intro[0].upper()}{intro[1:]}.\n",
                *sections(field.annotation, dotted, values[name], schemas),
            ]
        else:
            rows.append([f"`{dotted}`", default(values[name]), takes(properties[name], schemas), descriptions[dotted]])
    return ([markdown_table(["param", "default", "takes", "meaning"], rows) + "\n"] if rows else []) + nested


def page() -> str:
    schema = Params.model_json_schema()
    return "\n".join([INTRO, *sections(Params, "", read_yaml(PARAMS_FILE), schema["$defs"] | {"Params": schema})])


if __name__ == "__main__":
    write_text(PAGE, page())
    print(f"wrote {PAGE}")
