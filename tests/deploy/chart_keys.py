"""Write the key paths of an Airflow Helm chart ``values.yaml``, one a line, for
tests/deploy/test_helm_values.py to check the project's values files against.

    python tests/deploy/chart_keys.py VALUES_YAML "SOURCE" > tests/deploy/chart_1_22_keys.txt

VALUES_YAML is the chart's own values file, e.g. from ``helm show values apache-airflow/airflow
--version 1.22.0`` or https://github.com/apache/airflow/blob/helm-chart/1.22.0/chart/values.yaml;
SOURCE says where it came from and becomes the first line. Every mapping key becomes a dotted
path (``scheduler.livenessProbe.periodSeconds``); a key whose default is an empty mapping
(``resources: {}``, ``annotations: {}``) and ``config`` (the chart renders any section and option
of it into airflow.cfg) also get ``PATH.*``: anything may be set below them. Lists and scalars
end a path (``createUserJob.args``, ``secret``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

# Keys below which the chart accepts any key, whatever its default holds.
OPEN_BELOW: frozenset[str] = frozenset({"config"})


def key_paths(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every key path of ``values``, with ``PATH.*`` for the open maps."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            if not value or path in OPEN_BELOW:
                yield f"{path}.*"
            yield from key_paths(value, f"{path}.")


def render(values_file: Path, source: str) -> str:
    values = yaml.safe_load(values_file.read_text())
    lines = [f"# source: {source}", *sorted(set(key_paths(values)))]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__ or "")
        return 2
    sys.stdout.write(render(Path(argv[1]), argv[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
