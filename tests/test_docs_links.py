"""Every relative link of the README and of the documentation pages points
to a file that exists and, with ``#anchor``, to a heading of that page (as
GitHub names headings)."""

import glob
import os.path as osp
import re
from typing import List, Set, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = sorted(
    ['README.md', 'configs/README.md', 'benchmarks/README.md']
    + [osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md'))]
)
FENCE = re.compile(r'^```.*?^```', re.S | re.M)
CODE = re.compile(r'`[^`\n]*`')
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code."""
    return CODE.sub('', FENCE.sub('', text))


def anchors(path: str) -> Set[str]:
    """GitHub's anchors of the headings of the markdown file ``path``:
    lower case, punctuation dropped, spaces as hyphens, ``-1``, ``-2`` ...
    for repeats."""
    with open(path, encoding='utf-8') as f:
        text = FENCE.sub('', f.read())
    out, seen = set(), {}
    for m in re.finditer(r'^#{1,6}\s+(.*?)\s*#*$', text, re.M):
        slug = re.sub(r'[^\w\- ]', '', m.group(1).lower()).replace(' ', '-')
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f'{slug}-{n}')
    return out


def broken_links(doc: str, repo: str = REPO) -> List[Tuple[str, str]]:
    """``(link, why)`` for each relative link of ``repo/doc`` that does
    not resolve."""
    with open(osp.join(repo, doc), encoding='utf-8') as f:
        text = prose(f.read())
    bad = []
    for target in LINK.findall(text):
        if re.match(r'[a-z][a-z0-9+.-]*:', target):  # http:, mailto:, ...
            continue
        path, _, anchor = target.partition('#')
        full = osp.normpath(
            osp.join(repo, osp.dirname(doc), path)
            if path
            else osp.join(repo, doc)
        )
        if not osp.exists(full):
            bad.append((target, f'{osp.relpath(full, repo)} does not exist'))
        elif anchor and full.endswith('.md') and anchor not in anchors(full):
            bad.append(
                (target, f'no heading #{anchor} in {osp.relpath(full, repo)}')
            )
    return bad


@pytest.mark.parametrize('doc', DOCS)
def test_relative_links_resolve(doc):
    assert broken_links(doc) == []


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'a.md').write_text('# A page\n\n## Two: `x`\n')
    (tmp_path / 'README.md').write_text(
        '[ok](docs/a.md) [ok](docs/a.md#two-x) [web](https://x.org/y.md)\n'
        '`[code](missing.md)` [gone](docs/b.md) [bad](docs/a.md#three)\n'
        '```\n[in a block](missing.md)\n```\n'
    )
    assert broken_links('README.md', str(tmp_path)) == [
        ('docs/b.md', 'docs/b.md does not exist'),
        ('docs/a.md#three', 'no heading #three in docs/a.md'),
    ]
    assert anchors(str(tmp_path / 'docs' / 'a.md')) == {'a-page', 'two-x'}
