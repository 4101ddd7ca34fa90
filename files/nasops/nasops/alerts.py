"""The monitor's state machine: the checks of this run against the last run's state file
(logs/monitor/state, one line per check: NAME STATUS SINCE LAST-SENT).

A check that starts failing is sent now; one that goes on failing again once repeat_min has
passed since it was last sent; a recovery once. Pure: `step()` takes the last state, the checks
and the time, and returns the new state and the notification (None: nothing to send)."""

from __future__ import annotations

from dataclasses import dataclass

from nasops import clock


@dataclass(frozen=True)
class Entry:
    status: str  # ok | failing
    since: int
    sent: int  # 0: nothing sent for it


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    status: str  # failing | recovered | event


def parse_state(text: str) -> dict[str, Entry]:
    state = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 4 and words[2].isdigit() and words[3].isdigit():
            state[words[0]] = Entry(words[1], int(words[2]), int(words[3]))
    return state


def format_state(state: dict[str, Entry]) -> str:
    return "".join(f"{name} {e.status} {e.since} {e.sent}\n" for name, e in state.items())


def step(project: str, was: dict[str, Entry], rows, now: int, repeat_min: int) -> tuple[dict[str, Entry], Notification | None]:
    """rows: (name, failing, what) per check, in the checks' order."""
    state: dict[str, Entry] = {}
    failing, new, still, recovered, detail = [], set(), set(), [], {}
    for name, is_failing, what in rows:
        detail[name] = what
        before = was.get(name)
        was_failing = before is not None and before.status == "failing"
        if is_failing:
            failing.append(name)
            if not was_failing:
                new.add(name)
                state[name] = Entry("failing", now, now)
                continue
            if now - before.sent >= repeat_min * 60:
                still.add(name)
            state[name] = Entry("failing", before.since, before.sent)
        else:
            if was_failing:
                recovered.append(name)
            state[name] = Entry("ok", now, 0)
    if not (new or still or recovered):
        return state, None
    lines = []
    for name in failing:
        when = "since now" if name in new else f"since {clock.hhmm(was[name].since)}"
        lines.append(f"FAILING: {name} ({detail[name]}), {when}")
    lines += [f"recovered: {name}" for name in recovered]
    if failing:
        note = Notification(f"{project}: {len(failing)} check(s) failing: {' '.join(failing)}", "\n".join(lines), "failing")
    else:
        note = Notification(f"{project}: all checks ok again", "\n".join(lines), "recovered")
    for name in still:  # the reminder goes out now: the next one in repeat_min
        state[name] = Entry("failing", state[name].since, now)
    return state, note


def event(project: str, title: str, body: str) -> Notification:
    """`monitor event TITLE`: sent now, whatever the state (a failed backup verification)."""
    return Notification(f"{project}: {title}", body, "event")
