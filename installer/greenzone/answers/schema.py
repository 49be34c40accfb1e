"""JSON Schema of the answer file, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

from typing import Any

from greenzone.answers.model import Answers

SCHEMA_ID = "https://greenzone.invalid/schemas/answers.schema.json"


def answers_json_schema() -> dict[str, Any]:
    schema = Answers.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
