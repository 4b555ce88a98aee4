"""The final report the CLI prints: the state, main_etl's summary, and for a failed run the
failing task's reason and the tail of its log."""

from __future__ import annotations

from rest_trigger_client.results import RunResult


def format_result(result: RunResult) -> str:
    how = " (attached to the existing run)" if result.attached else ""
    lines = [f"run {result.run_id} {result.state}{how} after {result.elapsed:.1f} s"]
    for task in result.tasks:
        took = f"{task.duration:.1f} s" if task.duration is not None else ""
        lines.append(f"  {task.task_id:<10} {task.state or 'none':<15} {took:>8}")
    if result.summary is not None:
        s = result.summary
        lines.append(
            f"total: {s.get('total')}  (gid {s.get('gid')}, sid {s.get('sid')}, "
            f"{s.get('date_start')}..{s.get('date_end')})"
        )
    for failure in result.failures:
        lines.append(f"{failure.task_id} failed (try {failure.try_number}): {failure.reason}")
        if failure.log_tail:
            lines.append(f"--- the end of {failure.task_id}'s log (try {failure.try_number}) ---")
            lines.append(failure.log_tail)
            lines.append("---")
    if not result.ok and not result.failures:
        lines.append("no task failed: the run itself was marked failed (timeout, or by hand)")
    return "\n".join(lines)
