"""SQL safety without a server: hostile values are refused by the DAG's Params, the SQL files
only ever carry driver placeholders, and the statements are valid Redshift."""

from __future__ import annotations

import copy
import re

import pytest
import sqlglot
from airflow.exceptions import ParamValidationError
from airflow.models import DagBag

from rest_trigger_etl.names import DAG_ID, DEMO_CONF
from rest_trigger_etl.sql_files import SQL_DIR, load_sql
from rest_trigger_local.settings import PROJECT_DIR

PROJECT = PROJECT_DIR
HOSTILE = [
    "1; DROP TABLE dim_account; --",
    "1 OR 1=1",
    "' OR '1'='1",
    "2024-01-01'; DELETE FROM rest_trigger_results; --",
    "{gid}",
    "%s",
]
GOOD = DEMO_CONF
# The only quoted literals any statement may hold: constants of the count's definition.
ALLOWED_LITERALS = {"count_user_activity.sql": ["'JOINED'", "'LEFT'"]}
QUERIES = {
    "count_user_activity.sql": 4,
    "delete_result.sql": 1,
    "insert_result.sql": 7,
}


@pytest.fixture(scope="module")
def params():
    dag = DagBag(dag_folder=str(PROJECT / "dags"), include_examples=False).dags[DAG_ID]
    return dag.params


@pytest.mark.parametrize("key", ["gid", "sid", "date_start", "date_end"])
@pytest.mark.parametrize("value", HOSTILE)
def test_params_refuse_hostile_values(params, key, value) -> None:
    candidate = copy.deepcopy(params)
    for name, good in GOOD.items():
        candidate[name] = good
    with pytest.raises(ParamValidationError):
        candidate[key] = value
        candidate.validate()


def test_params_accept_the_good_conf(params) -> None:
    candidate = copy.deepcopy(params)
    for name, good in GOOD.items():
        candidate[name] = good
    assert candidate.validate() == GOOD


@pytest.mark.parametrize(("name", "placeholders"), QUERIES.items())
def test_values_only_travel_as_placeholders(name, placeholders) -> None:
    sql = load_sql(name)
    # No str.format fields, no Jinja, no quoted literals a value could have been pasted into
    # (beyond the allow-listed constants of the query's definition).
    assert not re.search(r"[{}]", sql), sql
    assert re.findall(r"'[^']*'", sql) == ALLOWED_LITERALS.get(name, []), sql
    assert sql.count("'") == 2 * len(ALLOWED_LITERALS.get(name, [])), sql
    assert sql.count("%s") == placeholders
    assert re.sub(r"%s", "", sql).count("%") == 0


@pytest.mark.parametrize("name", QUERIES)
@pytest.mark.parametrize("dialect", ["redshift", "postgres"])
def test_statements_parse_in_redshift_and_postgres(name, dialect) -> None:
    sql = load_sql(name).replace("%s", "NULL")
    statements = sqlglot.parse(sql, read=dialect)
    assert len(statements) == 1 and statements[0] is not None


def test_count_query_joins_on_the_account_key() -> None:
    tree = sqlglot.parse_one(
        load_sql("count_user_activity.sql").replace("%s", "NULL"), read="redshift"
    )
    join = tree.find(sqlglot.exp.Join)
    assert join is not None
    condition = join.args["on"].sql(dialect="redshift")
    assert condition == "a.dim_account_id = b.dim_account_id"


def test_count_query_is_the_articles_count() -> None:
    """COUNT(a.dim_user_id) (rows with no user are not counted) and the membership events left
    out, as constants; the four values are the only placeholders."""
    tree = sqlglot.parse_one(
        load_sql("count_user_activity.sql").replace("%s", "NULL"), read="redshift"
    )
    (count,) = list(tree.find_all(sqlglot.exp.Count))
    assert count.sql(dialect="redshift") == "COUNT(a.dim_user_id)"
    assert count.parent.alias == "total"
    (excluded,) = [
        n for n in tree.find_all(sqlglot.exp.In) if isinstance(n.parent, sqlglot.exp.Not)
    ]
    assert excluded.this.sql() == "a.message"
    assert [e.name for e in excluded.expressions] == ["JOINED", "LEFT"]
    between = tree.find(sqlglot.exp.Between)
    assert between is not None and between.this.sql() == "a.activity_date"  # both ends inclusive


def test_redshift_ddl_parses_in_the_redshift_dialect() -> None:
    ddl = (SQL_DIR / "redshift" / "schema.sql").read_text()
    statements = [s for s in sqlglot.parse(ddl, read="redshift") if s is not None]
    tables = sorted(s.this.this.name for s in statements)
    assert tables == ["dim_account", "fact_user_activity", "rest_trigger_results"]
    assert "DISTKEY" in ddl and "SORTKEY" in ddl
    fact = next(s for s in statements if s.this.this.name == "fact_user_activity")
    user = next(c for c in fact.find_all(sqlglot.exp.ColumnDef) if c.name == "dim_user_id")
    assert "NOT NULL" not in user.sql(dialect="redshift")  # a row may have no user


def test_sql_files_are_found_relative_to_the_code() -> None:
    assert SQL_DIR == PROJECT / "include" / "sql"
    with pytest.raises(ValueError, match="outside"):
        load_sql("../../airflow.cfg")
