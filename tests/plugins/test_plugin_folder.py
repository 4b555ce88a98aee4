"""What Airflow's plugin loaders import from plugins/: the one plugin module and nothing else,
whichever .airflowignore syntax reads the folder. airflow.cfg says regexp; Airflow 3's task
processes load plugins through the task SDK, which reads the file as glob. Under glob the
anchored patterns it had before let every task process import the auth manager (and with it
FAB and the API server): 10-30 s of each task on a loaded machine, seen with py-spy."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.utils.file import find_path_from_directory

from rest_trigger_local.settings import PROJECT_DIR

PLUGINS = PROJECT_DIR / "plugins"
PLUGIN_MODULES = ["rest_trigger_plugins.py"]


@pytest.mark.parametrize("syntax", ["regexp", "glob"])
def test_the_loaders_see_only_the_plugin_modules(syntax: str) -> None:
    found = find_path_from_directory(str(PLUGINS), ".airflowignore", syntax)
    names = sorted(str(Path(p).relative_to(PLUGINS)) for p in found if p.endswith(".py"))
    assert names == PLUGIN_MODULES
