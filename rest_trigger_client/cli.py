"""``rest-trigger``: trigger the rest-trigger DAG over the REST API, optionally wait and report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rest_trigger_client.api_version import CHOICES
from rest_trigger_client.client import RestTriggerClient, raise_for_failure
from rest_trigger_client.errors import EXIT_CODE_HELP, ExitCode, RestTriggerError
from rest_trigger_client.progress import Progress
from rest_trigger_client.report import format_result
from rest_trigger_client.results import RunConf
from rest_trigger_client.settings import DEFAULT_URL
from rest_trigger_etl.names import DAG_ID

PROG = "rest-trigger"

DESCRIPTION = f"""\
Trigger the {DAG_ID!r} DAG over Airflow's REST API: /api/v1 with basic auth (Airflow 2) or
/api/v2 with a JWT fetched with the same login (Airflow 3), whichever the server speaks. With
--wait, follow the run (each task's state and elapsed time) and print its state, main_etl's
total, or the failing task's reason and log tail."""

EPILOG = f"""\
environment (the flags above win over it):
  AIRFLOW_URL       Airflow's base URL (default {DEFAULT_URL}, as `make run` serves it)
  AIRFLOW_USERNAME  default caller  (`make run`'s local-only caller account; set both for a
  AIRFLOW_PASSWORD  default caller   real Airflow. --unpause needs an account that may edit
                                     the DAG, such as the admin: the caller's may not)
  AIRFLOW_API_VERSION  v1, v2 or auto (default: ask the server)

examples:
  rest-trigger --gid 42 --sid 7 --start 2024-01-01 --end 2024-03-31 --wait
  rest-trigger --gid 42 --sid 7 --start 2024-01-01 --end 2024-03-31 --run-id nightly-42-7 \\
      --wait --timeout 900      # safe to repeat: a used run id is attached to

{EXIT_CODE_HELP}
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.INVALID_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Dates go to Airflow as given: its Params are the judge (HTTP 400 with the reason).
    run = parser.add_argument_group("the run")
    run.add_argument("--gid", type=int, required=True, help="global id (integer)")
    run.add_argument("--sid", type=int, required=True, help="site id (integer)")
    run.add_argument(
        "--start", "--date-start", dest="date_start", required=True, metavar="YYYY-MM-DD",
        help="first day, YYYY-MM-DD (inclusive)",
    )  # fmt: skip
    run.add_argument(
        "--end", "--date-end", dest="date_end", required=True, metavar="YYYY-MM-DD",
        help="last day, YYYY-MM-DD (inclusive; at most 366 days in all)",
    )  # fmt: skip
    run.add_argument(
        "--run-id",
        help="the dag_run_id (A-Z a-z 0-9 _ . ~ : + -); default: derived from the parameters "
        "and the time. With --wait, a run id already used by a run with the same conf is "
        "attached to, so a caller can retry safely",
    )
    run.add_argument("--unpause", action="store_true", help="unpause the DAG first if it is paused")
    wait = parser.add_argument_group("waiting")
    wait.add_argument("--wait", action="store_true", help="follow the run until it ends")
    wait.add_argument(
        "--timeout", type=float, metavar="SECONDS",
        help="stop waiting after this long (exit 7; the run goes on); implies --wait",
    )  # fmt: skip
    wait.add_argument(
        "--poll-interval", type=float, default=1.0, metavar="SECONDS",
        help="how often the run is checked (default 1): the client's polls, or on Airflow 3.1+ "
        "Airflow's own checks inside the one wait stream the client reads",
    )  # fmt: skip
    wait.add_argument(
        "--log-lines", type=int, default=20, metavar="N",
        help="lines of a failed task's log to show (default 20)",
    )  # fmt: skip
    wait.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    conn = parser.add_argument_group("connection")
    conn.add_argument("--url", help="Airflow's base URL (else AIRFLOW_URL)")
    conn.add_argument("--username", help="else AIRFLOW_USERNAME")
    conn.add_argument(
        "--password",
        help="else AIRFLOW_PASSWORD (prefer the variable: flags show in the process list)",
    )
    conn.add_argument(
        "--api", choices=CHOICES, default=None,
        help="the REST API: v1 (Airflow 2, basic auth), v2 (Airflow 3, JWT) or auto: ask the "
        "server once (default; else AIRFLOW_API_VERSION)",
    )  # fmt: skip
    conn.add_argument(
        "--connect-retries", type=int, default=4, metavar="N",
        help="retries, with backoff from 1 s doubling, while Airflow is unreachable (default 4)",
    )  # fmt: skip
    conn.add_argument("--dag-id", default=DAG_ID, help=argparse.SUPPRESS)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    wait = args.wait or args.timeout is not None
    conf = RunConf(args.gid, args.sid, args.date_start, args.date_end)
    progress = Progress(sys.stderr)
    try:
        client = RestTriggerClient(
            args.url,
            args.username,
            args.password,
            dag_id=args.dag_id,
            api=args.api,
            connect_retries=args.connect_retries,
        )
    except RestTriggerError as exc:  # an unknown AIRFLOW_API_VERSION
        _note(f"error: {exc}")
        return exc.exit_code
    try:
        triggered = client.trigger(conf, args.run_id, attach_existing=wait, unpause=args.unpause)
        if triggered.unpaused:
            _note(f"unpaused DAG {args.dag_id!r}")
        if triggered.attached:
            _note(f"run id {triggered.run_id!r} exists with the same conf: attaching to it")
        if not wait:
            if args.json:
                print(json.dumps({"dag_run_id": triggered.run_id, "state": "queued"}))
            else:
                print(f"run {triggered.run_id} created (queued); add --wait to follow it")
            return ExitCode.OK
        try:
            result = client.wait(
                triggered.run_id,
                timeout=args.timeout,
                poll_interval=args.poll_interval,
                on_progress=progress,
                log_lines=args.log_lines,
                attached=triggered.attached,
            )
        finally:
            progress.close()
        print(json.dumps(result.as_json(), indent=2) if args.json else format_result(result))
        raise_for_failure(result)
        return ExitCode.OK
    except RestTriggerError as exc:
        _note(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _note("interrupted: the run goes on in Airflow")
        return 130
    finally:
        client.close()


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def main() -> None:
    sys.exit(run())
