"""Transcribe the Avro schemas of one Apache Fineract release into the adapter, and record the test data
that proves the transcription right.

Reads Fineract's own ``.avsc`` files from a git checkout (``fineract-avro-schemas/src/main/avro`` at a
tag or commit), applies the substitution its build makes before generating code (``"bigdecimal"``
becomes ``decimal(20, 8)`` bytes), and writes

- ``services/fineract/avro/<release>/<full name>.avsc``: every named type the adapter decodes, with
  what parsing needs (names, types, defaults) and nothing else: no docs, no license text;
- ``tests/unit/fineract/canonical/<release>.json``: the Parsing Canonical Form and CRC-64-AVRO
  fingerprint of each top-level type, computed from Fineract's definition, for the fingerprint test.

    python -m devtools.fineract_schemas --git-dir ../fineract/.git --rev 1.10.1 --release 1.10.1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastavro.repository.base import AbstractSchemaRepository
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

from services.fineract.avro import SCHEMA_DIR, TOP_LEVEL

REPO_ROOT = Path(__file__).resolve().parents[1]
CANONICAL_DIR = REPO_ROOT / "tests" / "unit" / "fineract" / "canonical"
_AVRO = "fineract-avro-schemas/src/main/avro/"
_BIGDECIMAL = "fineract-avro-schemas/src/main/resources/avro-templates/bigdecimal.avsc"
# What Avro needs to read data (and the defaults a reader resolving another version would use).
_KEEP = ("name", "namespace", "type", "fields", "items", "values", "symbols", "size", "default")
_DECIMAL_KEYS = ("logicalType", "precision", "scale")
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def fineract_definitions(git_dir: Path, rev: str) -> dict[str, dict[str, Any]]:
    """Every named type of the release by full name, after the build's ``bigdecimal`` substitution."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
        ).stdout

    decimal = git("show", f"{rev}:{_BIGDECIMAL}")
    found: dict[str, dict[str, Any]] = {}
    for path in git("ls-tree", "-r", "--name-only", rev, _AVRO).split():
        if path.endswith(".avsc"):
            # The build replaces the quoted word line by line before parsing; do exactly that.
            text = "\n".join(
                line.replace('"bigdecimal"', decimal) for line in git("show", f"{rev}:{path}").splitlines()
            )
            schema = json.loads(text)
            found[f"{schema['namespace']}.{schema['name']}"] = schema
    return found


def closure(definitions: dict[str, dict[str, Any]], roots: tuple[str, ...]) -> list[str]:
    """The full names of ``roots`` and of every named type they refer to."""
    seen: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            if node not in _PRIMITIVES and node not in seen:
                seen.append(node)
                walk(definitions[node])
        elif isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, dict):
            for field in node.get("fields", []):
                walk(field["type"])
            for key in ("items", "values"):
                if key in node:
                    walk(node[key])
            if isinstance(node.get("type"), str | list | dict) and node.get("type") not in (
                "record",
                "array",
                "map",
                "enum",
                "fixed",
            ):
                walk(node["type"])

    for root in roots:
        walk(root)
    return seen


def transcribe(node: Any) -> Any:
    """``node`` with only what parsing and resolution use (docs, aliases and properties dropped)."""
    if isinstance(node, list):
        return [transcribe(branch) for branch in node]
    if not isinstance(node, dict):
        return node
    keep = _KEEP[:3] + (_DECIMAL_KEYS if node.get("logicalType") == "decimal" else ()) + _KEEP[3:]
    out: dict[str, Any] = {}
    for key in keep:
        if key in node:
            value = node[key]
            if key == "fields":
                value = [transcribe(field) for field in value]
            elif key in ("type", "items", "values"):
                value = transcribe(value)
            out[key] = value
    return out


def render(schema: dict[str, Any]) -> str:
    """One field per line: a schema reads like the table of fields it is."""
    head = {k: v for k, v in schema.items() if k != "fields"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "fields": [']
    fields = [json.dumps(field, ensure_ascii=False) for field in schema.get("fields", [])]
    lines += [f"  {field}," for field in fields[:-1]] + ([f"  {fields[-1]}"] if fields else [])
    lines.append("]}")
    return "\n".join(lines) + "\n"


class _Definitions(AbstractSchemaRepository):
    def __init__(self, definitions: dict[str, dict[str, Any]]) -> None:
        self.definitions = definitions

    def load(self, name: str) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(
            json.dumps(self.definitions[name])
        )  # fastavro annotates what it parses
        return copy


def canonical_forms(definitions: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    repo = _Definitions(definitions)
    out = {}
    for name in TOP_LEVEL:
        form = to_parsing_canonical_form(load_schema(name, repo=repo, _write_hint=False))
        out[name] = {"fingerprint": fingerprint(form, "CRC-64-AVRO"), "canonical_form": form}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-dir", type=Path, required=True, help="Fineract's .git directory")
    parser.add_argument("--rev", required=True, help="tag or commit of the release")
    parser.add_argument("--release", required=True, help="the release's directory name in the adapter")
    args = parser.parse_args(argv)
    definitions = fineract_definitions(args.git_dir, args.rev)
    target = SCHEMA_DIR / args.release
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.avsc"):
        old.unlink()
    names = closure(definitions, TOP_LEVEL)
    for name in names:
        (target / f"{name}.avsc").write_text(render(transcribe(definitions[name])), encoding="utf-8")
    CANONICAL_DIR.mkdir(parents=True, exist_ok=True)
    forms = canonical_forms(definitions)
    (CANONICAL_DIR / f"{args.release}.json").write_text(json.dumps(forms, indent=1) + "\n", encoding="utf-8")
    for name, entry in forms.items():
        print(f"{entry['fingerprint']}  {name}")
    print(f"{len(names)} named types written to {target.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
