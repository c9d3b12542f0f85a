"""The review as markdown: a pull-request comment or a GitHub job summary."""

from __future__ import annotations

from .model import Review

MAX_ROWS = 200  # a PR comment has a size limit; the HTML has everything


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _qa(checks: dict) -> str:
    bad = [f"{'⚠' if c.get('severity') == 'warn' else '✖'} {name}"
           for name, c in sorted(checks.items()) if not c.get("passed")]
    return ", ".join(bad) or ("ok" if checks else "")


def render(review: Review, link: str = "review/index.html") -> str:
    c = review.counts()
    lines = [f"## Asset review (against {review.base})", "",
             f"**{c['new']} new, {c['changed']} changed, {c['removed']} removed**, "
             f"{c['unchanged']} unchanged; QA: {c['failures']} failed, {c['warnings']} warnings"
             + (f"; {c['candidates']} seed candidates" if c["candidates"] else ""), ""]
    if review.items:
        lines += ["| status | asset | output | why | QA |", "|---|---|---|---|---|"]
        for it in review.items[:MAX_ROWS]:
            lines.append(f"| {it.status} | [{_cell(it.key)}]({link}#item-{it.key}) | "
                         f"`{_cell(it.output)}` | {_cell('; '.join(it.reasons))} | "
                         f"{_qa(it.checks)} |")
        if len(review.items) > MAX_ROWS:
            lines.append(f"\n… and {len(review.items) - MAX_ROWS} more in the "
                         f"[full review]({link}).")
    else:
        lines.append("No asset changed.")
    lines += ["", f"Side-by-side, swipe, onion-skin and difference views: [{link}]({link})"]
    return "\n".join(lines) + "\n"
