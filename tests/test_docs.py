"""The docs have one source per fact: config keys are described once, in the schema.

config/README.md's key table is generated from the schema's descriptions
(docs/config_docs.py); these tests fail when a key lacks a description, when the
committed table is stale, or when a page documents a config key the schema lacks. They
also check that every relative link of the Markdown pages reaches a file and, where it
names one, a heading.
"""
import os
import re
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "docs"))

import config_docs  # noqa: E402

PAGES = ["README.md", "config/README.md"] + sorted(
    os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def test_every_schema_key_has_a_description():
    missing = [k.path for k in config_docs.keys() if not k.description]
    assert not missing, f"schema keys without a description (workflow/schemas/config.schema.yaml): {missing}"


def test_config_readme_table_is_generated_from_the_schema():
    current = read("config/README.md")
    assert current == config_docs.render(current), (
        "config/README.md's key table differs from the schema's descriptions: run python docs/config_docs.py")


def test_config_readme_documents_only_schema_keys():
    schema_keys = {k.path for k in config_docs.keys()}
    documented = config_docs.documented_keys(read("config/README.md"))
    assert documented, "config/README.md has no generated key table between its markers"
    unknown = [k for k in documented if k not in schema_keys]
    assert not unknown, f"config/README.md documents keys the schema lacks: {unknown}"
    assert len(documented) == len(set(documented)), "a key is documented twice"


def _schema_paths():
    """Every dotted key path of the schema, down to the leaves (units' sub-keys included)."""
    schema = config_docs.load_schema()
    paths = set()

    def walk(node, prefix, parent):
        node = config_docs._resolve(node, schema)
        for name, child in node.get("properties", {}).items():
            paths.add(prefix + name)
            walk(child, f"{prefix}{name}.", name)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            placeholder = config_docs.PLACEHOLDERS.get(parent, "<name>")
            paths.add(prefix + placeholder)
            walk(extra, f"{prefix}{placeholder}.", placeholder)

    walk(schema, "", "")
    return paths


def _python_names():
    """Names defined in the repository's Python files (``stats.bootstrap_components`` is a
    function, not a config key)."""
    pattern = re.compile(r"^\s*(?:def|class)\s+(\w+)|^(\w+)\s*=", flags=re.M)
    names = set()
    for base in ("scripts", "benchmarks", "tests"):
        for folder, _, files in os.walk(os.path.join(ROOT, base)):
            for f in files:
                if f.endswith(".py"):
                    with open(os.path.join(folder, f)) as fh:
                        names |= {n for pair in pattern.findall(fh.read()) for n in pair if n}
    return names


@pytest.mark.parametrize("page", PAGES)
def test_pages_name_only_config_keys_the_schema_has(page):
    """A backticked `section.key` whose section is a config section must be a schema key."""
    schema = config_docs.load_schema()
    sections = {k for k, v in schema["properties"].items() if "properties" in v}
    paths = _schema_paths()
    python = _python_names()
    text = read(page)
    bad = []
    for token in re.findall(r"`([A-Za-z_][\w<>.-]*\.[\w<>.-]+)(?::[^`]*)?`", text):
        token = re.sub(r"<(?!layer>)[^>]+>", "<name>", token)
        first, _, rest = token.partition(".")
        if token.endswith((".py", ".md", ".h5", ".smk", ".yaml", ".tsv", ".png", ".html")):
            continue
        if first not in sections or token in paths:
            continue
        if rest.split(".")[0] in python:        # module.function, e.g. `stats.bootstrap_components`
            continue
        bad.append(token)
    assert not bad, f"{page} names config keys the schema lacks: {bad}"


def _slug(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(rel):
    return {_slug(h) for h in re.findall(r"^#+\s+(.*)$", read(rel), flags=re.M)}


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_reach_files_and_headings(page):
    text = read(page)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        rel = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(os.path.join(ROOT, rel)):
            broken.append(target)
        elif anchor and rel.endswith(".md") and anchor not in _anchors(rel):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


def test_generator_documents_keys_added_later():
    """Keys added to the schema (a section, user-named entries, a nested key) become rows
    without changing the generator; a new key without a description is reported."""
    schema = config_docs.load_schema()
    schema["properties"]["group"] = {
        "type": "object", "default": {}, "description": "group level",
        "properties": {"enabled": {"type": "boolean", "default": False, "description": "on"},
                       "subjects": {"type": "array"}}}
    schema["properties"]["extractors"] = {
        "type": "object", "default": {},
        "additionalProperties": {"type": "object", "properties": {"model": {"type": "string", "description": "m"}}}}
    schema["properties"]["split"]["properties"]["validation"] = {"type": "string", "description": "v"}
    rows = {k.path: k for k in config_docs.keys(schema)}
    for path in ("group", "group.enabled", "group.subjects", "extractors.<name>.model", "split.validation"):
        assert path in rows
    assert [p for p, k in rows.items() if not k.description] == ["group.subjects"]
    assert "| `group.enabled` | `false` | on |" in config_docs.table(schema)
