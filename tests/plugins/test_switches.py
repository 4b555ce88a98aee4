"""The switches' one-liners are written once (plugins/rest_trigger_api/switches.py, SWITCHES);
the README and docs/security.md quote them in their tables, word for word."""

from __future__ import annotations

import re

import pytest
from rest_trigger_api.switches import SWITCHES

from rest_trigger_local.settings import PROJECT_DIR


@pytest.mark.parametrize("doc", ["README.md", "docs/security.md"])
def test_the_docs_tables_quote_every_switch_as_written(doc: str) -> None:
    text = (PROJECT_DIR / doc).read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.*) \|$", text, re.MULTILINE))
    quoted = {name: rows.get(name) for name in SWITCHES}
    assert quoted == SWITCHES, f"{doc}'s switch rows differ from switches.SWITCHES"
