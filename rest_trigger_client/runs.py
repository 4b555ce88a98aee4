"""Creating a run: whether the DAG is there and paused (and unpausing it), the POST, and
attaching to the caller's own run when its id is taken (409). Part of ``RestTriggerClient``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rest_trigger_client.errors import DagNotFound, DagPaused, HttpError, RunIdConflict
from rest_trigger_client.results import RunConf
from rest_trigger_client.run_id import check_run_id, default_run_id

if TYPE_CHECKING:
    from rest_trigger_client.settings import ClientSettings
    from rest_trigger_client.transport import Transport


@dataclass(frozen=True)
class Triggered:
    run_id: str
    conf: dict[str, Any]
    attached: bool  # the run existed (409) with the same conf, and the client attached to it
    unpaused: bool  # the client unpaused the DAG first (unpause=True)


class RunsMixin:
    """The DAG and its runs' creation; ``RestTriggerClient`` provides the attributes below."""

    transport: Transport
    settings: ClientSettings
    dag_id: str

    def dag_paused(self) -> bool:
        """Whether the DAG is paused; DagNotFound when Airflow has no such DAG."""
        try:
            dag = self.transport.send("GET dag", "GET", f"/dags/{self.dag_id}").json()
        except HttpError as exc:
            if exc.status == 404:
                raise DagNotFound(
                    f"DAG {self.dag_id!r} not found at {self.settings.base_url} (HTTP 404): "
                    "is the DAG file deployed and free of import errors?"
                ) from None
            if exc.status == 403 and self._logged_in():
                # Airflow checks permission before existence: a role limited to some DAGs
                # (the caller's) gets 403 for any other name, existing or not.
                raise DagNotFound(
                    f"DAG {self.dag_id!r} not found at {self.settings.base_url}, or user "
                    f"{self.settings.username!r} may not see it (HTTP 403)"
                ) from None
            raise self.transport.error(exc, f"DAG {self.dag_id!r}") from None
        return bool(dag.get("is_paused"))

    def _logged_in(self) -> bool:
        """Whether the credentials are accepted (listing DAGs needs only a login that may read
        some DAG): tells a refused login from a refused DAG, both 403."""
        try:
            self.transport.send("GET dags", "GET", "/dags", params={"limit": 1})
        except HttpError:
            return False
        return True

    def unpause(self) -> None:
        try:
            self.transport.send(
                "PATCH dag",
                "PATCH",
                f"/dags/{self.dag_id}",
                json={"is_paused": False},
                params={"update_mask": "is_paused"},
            )
        except HttpError as exc:
            if exc.status == 403:
                raise DagPaused(
                    f"DAG {self.dag_id!r} is paused and user {self.settings.username!r} may not "
                    "unpause it (HTTP 403): unpause it in the UI, or with an account that may "
                    "edit the DAG"
                ) from None
            raise self.transport.error(exc, f"unpausing DAG {self.dag_id!r}") from None

    def trigger(
        self,
        conf: RunConf,
        run_id: str | None = None,
        *,
        attach_existing: bool = False,
        unpause: bool = False,
    ) -> Triggered:
        """Create the run. A paused DAG raises DagPaused (Airflow would accept the run and
        leave it queued) unless ``unpause``. If the run id is taken (409) by a run with the same
        conf and ``attach_existing``, that run is returned (``attached=True``), so a caller can
        retry safely; otherwise RunIdConflict."""
        run_id = check_run_id(run_id) if run_id else default_run_id(conf)
        unpaused = False
        if self.dag_paused():
            if not unpause:
                raise DagPaused(
                    f"DAG {self.dag_id!r} is paused: Airflow would accept the run and leave it "
                    "queued; pass --unpause (unpause=True) or unpause it in the UI"
                )
            self.unpause()
            unpaused = True
        wanted = conf.as_json()
        try:
            self.transport.send(
                "POST dagRuns",
                "POST",
                f"/dags/{self.dag_id}/dagRuns",
                json=self.transport.version.trigger_body(run_id, wanted),
            )
        except HttpError as exc:
            if exc.status != 409:
                raise self.transport.error(exc, f"run {run_id!r}") from None
            # After a lost answer and a retry, the run in the way is most likely our own.
            retried = self.transport.attempts > 1
            existing = self._existing_run_conf(run_id)
            if existing != wanted:
                raise RunIdConflict(
                    f"run id {run_id!r} is already used by a run with another conf "
                    f"({json.dumps(existing, sort_keys=True)}): choose another --run-id"
                ) from None
            if not (attach_existing or retried):
                raise RunIdConflict(
                    f"run id {run_id!r} is already used (HTTP 409); --wait attaches to that run"
                ) from None
            return Triggered(run_id, wanted, attached=True, unpaused=unpaused)
        return Triggered(run_id, wanted, attached=False, unpaused=unpaused)

    def _existing_run_conf(self, run_id: str) -> dict[str, Any]:
        return dict(self._run_json(run_id).get("conf") or {})

    def _run_json(self, run_id: str) -> dict[str, Any]:
        """The run as Airflow sent it (JSON: its conf is the conf that was sent)."""
        try:
            answer = self.transport.send(
                "GET dagRun", "GET", f"/dags/{self.dag_id}/dagRuns/{run_id}"
            )
        except HttpError as exc:
            raise self.transport.error(exc, f"run {run_id!r}") from None
        return dict(answer.json())
