"""Conversations kept as data: tests/transcripts/*.yaml, each step what a person sends and what
the reply must (and must not) contain. Run through the real signed /sms webhook and Redis."""
from pathlib import Path

import pytest
import yaml

from bot.conversation.content import segments
from tests.conftest import Texter

HERE = Path(__file__).resolve().parent / "transcripts"


def load_cases():
    for path in sorted(HERE.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            yield pytest.param(case, id=f"{path.stem}:{case['name']}")


@pytest.mark.parametrize("case", list(load_cases()))
def test_transcript(client, case):
    texter = Texter(client, case.get("from", "+16125550123"))
    for number, step in enumerate(case["steps"], 1):
        reply = texter.send(str(step["send"]))
        where = f"step {number} (sent {step['send']!r}) got:\n{reply}"
        for text in step.get("expect", []):
            assert text.lower() in reply.lower(), f"missing {text!r} in {where}"
        for text in step.get("not", []):
            assert text.lower() not in reply.lower(), f"unexpected {text!r} in {where}"
        if "starts" in step:
            assert reply.lower().startswith(step["starts"].lower()), where
        if step.get("empty"):
            assert reply == "", where
        assert segments(reply).count <= step.get("max_segments", 3), where
