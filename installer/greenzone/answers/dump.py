"""Answers -> the YAML text of an answer file that `greenzone install --answers` accepts (pure).

The wizard's Review screen shows and saves exactly this text, and the install records its digest,
so the file a site keeps is the one that ran. Defaults are left out to keep the file short and to
let a later greenzone's better defaults apply; the format version is always written.
"""

from __future__ import annotations

from typing import Any

import yaml

from greenzone.answers.model import Answers

HEADER = "# Written by the greenzone wizard; check: greenzone answers validate FILE\n"


def answers_document(answers: Answers) -> dict[str, Any]:
    document: dict[str, Any] = {"version": answers.version}
    document.update(answers.model_dump(mode="json", exclude_defaults=True))
    return document


def answers_yaml(answers: Answers, comment: str = "", *, header: str = HEADER) -> str:
    lines = header + "".join(f"# {line}\n" for line in comment.splitlines())
    return lines + yaml.safe_dump(answers_document(answers), sort_keys=False, allow_unicode=True)
