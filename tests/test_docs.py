"""The repository's citations of the feature document resolve: every `docs/features.md §N` (or the older
`FEATURES_SPEC §N`) in a .py, .md or .ipynb file names a heading, numbered item, (roman) step or D-number that
docs/features.md has, and the document's own § references do too.

Citation grammar (what `cited_refs` reads after the prefix, in any sequence, separated by spaces, commas,
semicolons, colons, parentheses, "and" or "'s"):
    §N, §N.M            a heading; §N.M is also item M of section N when N.M is not a heading (§6.9)
    §A-§B, §A-B         a range: both ends must exist
    item(s) K[-L], step(s) K[-L]    numbered items of the section named last
    (iv)                the roman-numbered step of the section named last
    decision(s), preamble           words that carry no reference
    Dn, Dn-Dm           rows of the decision table
Anything else ends the citation.
"""
from __future__ import annotations

import json
import pathlib
import re
import subprocess
from typing import NamedTuple

import pytest
from paper_spec import check_yaml_block

REPO = pathlib.Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "features.md"
SUFFIXES = (".py", ".md", ".ipynb")

# Built by concatenation so that the examples in this file are not themselves read as citations.
_NEW, _OLD = "docs/" + "features\\.md", "FEATURES" + "_SPEC(?:\\.md)?"
PREFIX = re.compile(f"(?:{_NEW}|{_OLD})")

_ROMAN = "(?:viii|vii|iii|ix|iv|vi|ii|v|x|i)"
_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)?)\.?\s")
_ITEM = re.compile(r"^\s*(\d+)\.\s")
_ROMAN_ITEM = re.compile(rf"^\s*(?:[-*]\s+)?\(({_ROMAN})\)\s")
_DECISION_ROW = re.compile(r"^\|\s*(D\d+)\s*\|")

_SECTION = re.compile(r"§(\d+(?:\.\d+)?)(?:\s*[-–]\s*§?(\d+(?:\.\d+)?))?")
_ITEMS = re.compile(r"(?:items?|steps?)\s+(\d+)(?:\s*[-–]\s*(\d+))?\b")
_ROMAN_REF = re.compile(rf"\(({_ROMAN})\)")
_D_REF = re.compile(r"D(\d+)(?:\s*[-–]\s*D(\d+))?\b")
_WORD = re.compile(r"(?:decisions?|preamble)\b")
# One unit per match, so that a "(" is only skipped after "(iv)" had its chance.
_SEPARATOR = re.compile(r"\s+|[,;:()]|\band\b|'s")


class Anchors(NamedTuple):
    sections: frozenset  # "0", "1", "1.7", ...
    items: frozenset  # ("6", "9"), ("1.6", "3"), ("1.7", "iv"), ...
    decisions: frozenset  # "D1", ...


def parse_anchors(text: str) -> Anchors:
    """Headings, numbered and roman items (per innermost heading) and decision rows of a Markdown document."""
    sections, items, decisions = set(), set(), set()
    current, fenced = None, False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if m := _HEADING.match(line):
            current = m[1]
            sections.add(current)
        elif current is not None and (m := _ITEM.match(line) or _ROMAN_ITEM.match(line)):
            items.add((current, m[1]))
        if m := _DECISION_ROW.match(line):
            decisions.add(m[1])
    return Anchors(frozenset(sections), frozenset(items), frozenset(decisions))


def cited_refs(text: str, start: int) -> list[tuple]:
    """The references of the citation that starts at `start` (just after its prefix or at its first §).

    Returns tuples ("section", id), ("item", section, id) and ("decision", "Dn"), in reading order.
    """
    refs, current, p = [], None, start
    while p < len(text):
        if m := _SECTION.match(text, p):
            for end in filter(None, (m[1], m[2])):
                refs.append(("section", end))
            current = m[2] or m[1]
        elif m := _ITEMS.match(text, p):
            lo, hi = int(m[1]), int(m[2] or m[1])
            refs += [("item", current, str(k)) for k in range(lo, hi + 1)]
        elif m := _ROMAN_REF.match(text, p):
            refs.append(("item", current, m[1]))
        elif m := _D_REF.match(text, p):
            lo, hi = int(m[1]), int(m[2] or m[1])
            refs += [("decision", f"D{k}") for k in range(lo, hi + 1)]
        elif not (m := _WORD.match(text, p) or _SEPARATOR.match(text, p)):
            break
        p = m.end()
    return refs


def unresolved(refs: list[tuple], anchors: Anchors) -> list[tuple]:
    bad = []
    for ref in refs:
        if ref[0] == "section":
            sec = ref[1]
            head, _, tail = sec.partition(".")
            ok = sec in anchors.sections or (tail and head in anchors.sections and (head, tail) in anchors.items)
        elif ref[0] == "item":
            ok = ref[1] is not None and (ref[1], ref[2]) in anchors.items
        else:
            ok = ref[1] in anchors.decisions
        if not ok:
            bad.append(ref)
    return bad


def citations(text: str) -> list[tuple[int, list[tuple]]]:
    """(line number, references) of every prefixed citation in a text."""
    return [(text.count("\n", 0, m.start()) + 1, cited_refs(text, m.end())) for m in PREFIX.finditer(text)]


def _repo_files() -> list[pathlib.Path]:
    """Tracked and untracked-but-not-ignored files (a workdir's outputs are not the repository's text)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
        paths = [REPO / p for p in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an sdist): walk the tree
        paths = [p for p in REPO.rglob("*") if not any(part.startswith(".") or part in ("workspace", "build")
                                                       for part in p.relative_to(REPO).parts)]
    return sorted(p for p in paths if p.suffix in SUFFIXES and p.is_file())


def _text(path: pathlib.Path) -> str:
    raw = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return raw
    cells = json.loads(raw).get("cells", [])  # the cells' own text, unescaped (JSON may write § as \u00a7)
    return "\n".join("".join(c.get("source", [])) for c in cells)


@pytest.fixture(scope="module")
def anchors() -> Anchors:
    assert DOC.is_file(), f"{DOC} is missing: the code's feature citations point to it"
    return parse_anchors(DOC.read_text(encoding="utf-8"))


def test_every_citation_in_the_repository_resolves(anchors):
    bad, n = [], 0
    for path in _repo_files():
        for line, refs in citations(_text(path)):
            n += len(refs)
            bad += [f"{path.relative_to(REPO)}:{line}: {' '.join(r[1:])} not in docs/features.md"
                    for r in unresolved(refs, anchors)]
    assert not bad, "\n".join(bad)
    assert n > 0, "no citation found: the scan or the prefix pattern is broken"


def test_the_documents_own_section_references_resolve(anchors):
    text = DOC.read_text(encoding="utf-8")
    bad = [f"docs/features.md:{text.count(chr(10), 0, m.start()) + 1}: {' '.join(r[1:])}"
           for m in re.finditer("§", text) for r in unresolved(cited_refs(text, m.start()), anchors)]
    assert not bad, "\n".join(bad)


def test_numbering_the_code_relies_on(anchors):
    """Identifiers kept from the earlier spec, which the code cites.

    Sections 0-6, §1.1-§1.9, §3.1-§3.4, §4.1-§4.3; D1-D16; §6 items 1-9; §1.6 steps 1-4; §1.7 steps (i)-(v).
    """
    want = {str(k) for k in range(7)} | {f"1.{k}" for k in range(1, 10)} | {f"3.{k}" for k in range(1, 5)} \
        | {f"4.{k}" for k in range(1, 4)}
    assert want <= anchors.sections, sorted(want - anchors.sections)
    assert {f"D{k}" for k in range(1, 17)} <= anchors.decisions
    assert {("6", str(k)) for k in range(1, 10)} <= anchors.items
    assert {("1.6", str(k)) for k in range(1, 5)} <= anchors.items
    assert {("1.7", r) for r in ("i", "ii", "iii", "iv", "v")} <= anchors.items


def test_the_papers_numbers_in_the_document_equal_mgc_jax_paper():
    pytest.importorskip("yaml")
    check_yaml_block(DOC.read_text(encoding="utf-8"), "docs/features.md §4.2")


# --- the parser itself, on a small document ----------------------------------------------------------------

TOY = """\
## 1. Features
### 1.6 Roughness
1. normalise
2. candidates
### 1.7 Key
- (iv) band
## 6. Ratified
1. first
2. second
| D1 | a |
| D2 | b |
"""
P = "docs/" + "features.md "  # a citation prefix, split so the repository scan does not read it


@pytest.mark.parametrize("cite, bad", [
    ("§1.6 step 2", []),
    ("§1.6, steps 1-3", [("item", "1.6", "3")]),
    ("§1.7 (iv), §1.6", []),
    ("§1.7 (v)", [("item", "1.7", "v")]),
    ("§6.2", []),  # item 2 of section 6
    ("§6.3", [("section", "6.3")]),
    ("§6 item 2", []),
    ("§1.6-§1.8", [("section", "1.8")]),
    ("§1.9, decision D2", [("section", "1.9")]),
    ("decisions D1, D3", [("decision", "D3")]),
    ("D1-D2", []),
    ("§6 preamble", []),
    ("§1.6's rule: see §9", []),  # the citation ends at "rule"
])
def test_parser_flags_exactly_the_missing_anchors(cite, bad):
    anchors = parse_anchors(TOY)
    [(line, refs)] = citations("x\n" + P + cite + " tail")
    assert line == 2
    assert unresolved(refs, anchors) == bad


def test_parser_ignores_fenced_code_and_reads_notebook_cells(tmp_path):
    anchors = parse_anchors("## 2. A\n```\n## 3. not a heading\n1. not an item\n```\n")
    assert anchors.sections == {"2"} and not anchors.items
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [{"source": [P + "\u00a73.1 x"]}]}), encoding="utf-8")
    [(_, refs)] = citations(_text(nb))
    assert refs == [("section", "3.1")]
