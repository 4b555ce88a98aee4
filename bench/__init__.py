"""``make bench``: how fast rest-trigger goes from POST to result, measured on this machine.

``python -m bench --help`` lists the knobs; the default is the full run documented in
docs/benchmarks.md.
"""

import sys
from pathlib import Path

# The DAG's own code (plugins/rest_trigger_etl: the SQL as main_etl loads it) is imported from
# where Airflow and the tests import it: the plugins folder on sys.path.
_PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")
if _PLUGINS not in sys.path:
    sys.path.append(_PLUGINS)
