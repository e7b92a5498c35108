"""Every variable the settings read is documented in .env.example, and nothing real is in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READERS = re.compile(
    r'env_(?:str|bool|int|float|list|optional|rate|header_pair)\(\s*"([A-Z][A-Z0-9_]*)"'
)


def test_it_documents_every_variable_the_settings_read():
    read = set(READERS.findall((ROOT / "huntaze" / "settings.py").read_text()))
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert read, "the settings read no variable?"
    assert sorted(read - documented) == []


def test_it_holds_no_aws_key_or_account_id():
    example = (ROOT / ".env.example").read_text()
    assert not re.search(r"(AKIA|ASIA)[A-Z0-9]{16}", example)
    assert not re.search(r"\b(?!0{12}\b)\d{12}\b", example)
