"""The README and docs/ link to files that exist, and to headings that exist: every relative markdown link
``[text](path)`` or ``[text](path#anchor)`` resolves from the file that holds it. Text only, no imports of the
harness: fast."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code, where brackets are code, not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path):
    """Every heading anchor of ``page``, with GitHub's -1, -2 ... for repeated headings."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        yield base if count == 0 else f"{base}-{count}"


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text())) if not EXTERNAL.match(target)]


def test_the_scan_finds_links_and_anchors():
    """The checks below look at something: the README links to docs/, and slugs are GitHub's."""
    assert any(target.startswith("docs/") for target in links(ROOT / "README.md"))
    assert slug("Detection transfer (Table 10, Table 1's Det row)") == "detection-transfer-table-10-table-1s-det-row"
    assert slug("Multi-GPU jobs (data-parallel)") == "multi-gpu-jobs-data-parallel"
    assert slug("`--candidate`: a *new* method") == "--candidate-a-new-method"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or (ROOT not in resolved.parents and resolved != ROOT):
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor.lower() not in set(anchors(resolved)):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(ROOT / "README.md")}
    unlinked = [p.relative_to(ROOT).as_posix() for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_readme_s_method_registers_mixes_and_honours_prob(tmp_path):
    """The README's short form of adding a method is a working plugin: it mixes, and prob=0 leaves a batch alone."""
    import torch

    from harness import augment

    block = (ROOT / "README.md").read_text().split("```python\n# my_mix.py\n", 1)[1].split("```", 1)[0]
    plugin = tmp_path / "my_mix.py"
    plugin.write_text(block)
    try:
        augment.load_plugins([str(plugin)])
        images, labels = torch.rand(8, 3, 8, 8), torch.arange(8)
        mixed, targets = augment.build("halfmix", num_classes=8, seed=0)(images.clone(), labels)
        assert torch.equal(mixed[..., :4], images[..., :4]) and not torch.equal(mixed, images)
        assert torch.allclose(targets.sum(dim=1), torch.ones(8)) and (targets[torch.arange(8), labels] >= 0.5).all()
        kept, _ = augment.build("halfmix", num_classes=8, seed=0, prob=0.0)(images.clone(), labels)
        assert torch.equal(kept, images)
    finally:
        augment.registry._REGISTRY.pop("halfmix", None)
