"""Suppression comments: where they are, which codes they name, which of them were used.

Two spellings suppress the findings of one line:

    started = time.monotonic()  # tether: ignore[DET001]
    started = time.monotonic()  # noqa: DET001

`# noqa` is read the way ruff and flake8 read it, but only its DET codes are ours: a
`# noqa: E501, DET001` suppresses DET001 here and leaves E501 to the other tools. A bare
`# tether: ignore` names no code and suppresses nothing (a suppression always says what
it allows), and is reported as such; a bare `# noqa` is left to the other tools.

Only comments count: the text is tokenized, so a string that contains `# noqa: DET001`
suppresses nothing. Tokenizing costs about as much as parsing, so it is done only for
sources in which a cheap search finds one of the two spellings.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

_TETHER = re.compile(r"#\s*tether:\s*ignore(?:\[([^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa:\s*([A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)", re.IGNORECASE)
_OURS = re.compile(r"(?:DET|ENT)\d+", re.IGNORECASE)
_QUICK = re.compile(r"tether:\s*ignore|noqa:[^\n]*(?:DET|ENT)", re.IGNORECASE)


@dataclass(frozen=True)
class Suppression:
    """One line's suppression comment: the codes it names, as written, upper-cased."""

    line: int
    #: 1-based character columns of the comment's `#` and just after its end
    col: int
    end_col: int
    codes: tuple[str, ...]
    #: the directive as written, for messages: `# tether: ignore[DET001]`
    text: str


def find(source: str) -> dict[int, Suppression]:
    """line -> the suppression comment on that line, for every line that has one."""
    if _QUICK.search(source) is None:
        return {}
    out: dict[int, Suppression] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return {}  # the parser reports the file; a broken file has no findings to suppress
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        found = _in_comment(token.string, token.start[0], token.start[1] + 1,
                            token.end[1] + 1)
        if found is not None:
            out[found.line] = found
    return out


def _in_comment(comment: str, line: int, col: int, end_col: int) -> Suppression | None:
    codes: list[str] = []
    texts: list[str] = []
    for match in _TETHER.finditer(comment):
        texts.append(match.group(0))
        if match.group(1) is not None:
            codes.extend(c.strip().upper() for c in match.group(1).split(",") if c.strip())
    for match in _NOQA.finditer(comment):
        ours = [c.upper() for c in _OURS.findall(match.group(1))]
        if ours:
            texts.append(match.group(0))
            codes.extend(ours)
    if not texts:
        return None
    return Suppression(line, col, end_col, tuple(dict.fromkeys(codes)), "  ".join(texts))
