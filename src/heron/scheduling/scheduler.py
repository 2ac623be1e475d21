"""The scheduler loop: decide which intervals are due, launch their runs, record outcomes.

Each pass (:meth:`Scheduler.step`) does four things, all through the store so that any
number of schedulers can run at once and any of them can die at any point:

1. **Decide.** For each cron schedule whose indexed ``next_due_at`` has passed (the cost
   grows with the *due* schedules, not with all of them) the fires between its cursor and now
   become ticks, moved past in one transaction conditional on the cursor (see
   :mod:`heron.store.sql.schedules`). A fire more than ``missed_after`` seconds old was
   missed (the scheduler was down, or the schedule paused) and follows ``catchup``.
2. **Triggers.** Schedules ``on_artifacts`` get a tick when every listed artifact has a
   version newer than their cursor (one indexed query for all of them, every pass).
3. **Reconcile.** Running ticks take their run's outcome; a tick claimed by a launcher that
   died before its run existed is launched again under the same run id (the id is derived
   from the tick, so the run cannot start twice).
4. **Launch.** Queued ticks start, oldest first per schedule (newest first for a backwards
   backfill), within ``max_active_runs`` per schedule or backfill and ``max_runs`` for this
   scheduler. A full schedule never holds up another.

The clock is injectable (``clock``: seconds since the epoch), so tests drive time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from heron.core import schedules as s
from heron.core import status as run_status
from heron.core.errors import NotFound
from heron.core.ids import new_id
from heron.scheduling import context, cron
from heron.scheduling.launcher import Launched, default_launcher

log = logging.getLogger("heron.scheduler")

MAX_TICKS_PER_PASS = 1000  # fires recorded per schedule and pass; catch-up "all" goes on next pass
ARTIFACT_REFRESH_S = 1.0  # how often the list of artifact-triggered schedules is read again
ORPHAN_CHECK_S = 2.0  # how often running ticks launched elsewhere are looked at
HEARTBEAT_S = 10.0  # how often the scheduler records that it is alive

Clock = Callable[[], float]


def run_id_for(tick: s.Tick) -> str:
    """The run id of a tick's attempt: the same for every scheduler that would launch it."""
    key = f"{tick.schedule_id}:{tick.logical_time}:{tick.attempt}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


@dataclass
class _Child:
    tick: s.Tick
    run_id: str
    launched: Launched


class Scheduler:
    """One scheduler process's loop over the store's schedules (see the module's text)."""

    def __init__(
        self,
        store: Any,
        *,
        clock: Clock = time.time,
        launcher: Any = None,
        max_runs: int = 16,
        poll_seconds: float = 0.25,
        missed_after: float = 60.0,
        orphan_after: float = 30.0,
        backfill_id: str | None = None,
        name: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.launcher = launcher or default_launcher()
        self.wake = threading.Event()  # set when a child ends, or to stop: the loop goes on
        if hasattr(self.launcher, "on_exit"):
            self.launcher.on_exit = self.wake.set
        self.max_runs = max_runs
        self.poll_seconds = poll_seconds
        self.missed_after_ms = int(missed_after * 1000)
        self.orphan_after_ms = int(orphan_after * 1000)
        self.backfill_id = backfill_id
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.name = name or f"{self.host}:{self.pid}:{new_id()[:6]}"
        self.children: dict[int, _Child] = {}
        self._artifact_schedules: list[s.Schedule] = []
        self._artifacts_read_at = -1e18
        self._orphans_checked_at = -1e18
        self._heartbeat_at = -1e18
        self.started_at = int(time.time() * 1000)

    def now(self) -> int:
        return int(self.clock() * 1000)

    # --- the loop -----------------------------------------------------------------------
    def step(self) -> None:
        """One pass: decide, trigger, reconcile, launch."""
        if self.backfill_id is None:
            self.decide(self.now())
            self.trigger_on_artifacts(self.now())
        self.reconcile(self.now())
        self.launch(self.now())
        if self.backfill_id is None:
            self.finish_backfills()
        if time.monotonic() - self._heartbeat_at >= HEARTBEAT_S:
            self.heartbeat()

    def heartbeat(self, stopped: bool = False) -> None:
        """Record in the store that this scheduler is alive (``heron schedules list``)."""
        self._heartbeat_at = time.monotonic()
        self.store.scheduler_heartbeat(
            self.name, self.host, self.pid, self.started_at, len(self.children), stopped
        )

    def run(self, stop: threading.Event, *, until_done: bool = False) -> None:
        """Loop until ``stop`` is set (or, with ``until_done``, the bound backfill is done).
        On stopping, runs in flight are left to finish: their processes are not ours to
        kill, and the next scheduler records how they ended."""
        log.info("scheduler %s started (max %d runs)", self.name, self.max_runs)
        try:
            self._loop(stop, until_done)
        finally:
            if hasattr(self.launcher, "close"):
                self.launcher.close()
            try:
                self.heartbeat(stopped=True)
            except Exception:  # the store is away: its last heartbeat ages out instead
                log.warning("could not record that scheduler %s stopped", self.name)
        log.info("scheduler %s stopped; %d run(s) left running", self.name, len(self.children))

    def _loop(self, stop: threading.Event, until_done: bool) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.step()
            except Exception:  # a store hiccup must not end the scheduler
                log.exception("scheduler pass failed; trying again")
            if until_done and self.backfill_done():
                break
            wait = self.poll_seconds - (time.monotonic() - started)
            if self.backfill_id is None and not self.children:
                due = self.store.next_due_at()
                if due is not None:
                    wait = min(wait, max(0.0, (due - self.now()) / 1000))
            if wait > 0:
                self.wake.wait(wait)
            self.wake.clear()

    # --- 1. decide ----------------------------------------------------------------------
    def decide(self, now: int) -> int:
        """Record the ticks of every due cron schedule; how many schedules moved."""
        moved = 0
        for schedule in self.store.due_schedules(now):
            if self._decide_one(schedule, now):
                moved += 1
        return moved

    def _decide_one(self, sch: s.Schedule, now: int) -> bool:
        assert sch.cron is not None
        fires = cron.fires_between(sch.cron, sch.timezone, sch.cursor, now, MAX_TICKS_PER_PASS)
        if not fires:
            nxt = cron.next_fire(sch.cron, sch.timezone, now)
            return self.store.advance_schedule(sch.id, sch.cursor, now, nxt, [])
        more = cron.next_fire(sch.cron, sch.timezone, fires[-1]) <= now  # type: ignore[operator]
        cursor = now
        if more and sch.catchup == "all":
            cursor = fires[-1]  # the rest on the next pass, oldest first
        elif more:  # none / latest: no need to visit every fire of a long downtime
            latest = cron.latest_fire(sch.cron, sch.timezone, now)
            if latest is not None and latest != fires[-1]:
                fires.append(latest)
        late = [f for f in fires if now - f > self.missed_after_ms]
        on_time = [f for f in fires if now - f <= self.missed_after_ms]
        if sch.catchup == "all":
            run = set(fires)
            why = ""
        elif sch.catchup == "latest":
            run = set(on_time or late[-1:])
            why = "missed (no scheduler ran, or the schedule was paused); catchup='latest' runs only the most recent"  # noqa: E501
        else:
            run = set(on_time)
            why = "missed (no scheduler ran, or the schedule was paused); catchup='none'"
        start = cron.previous_fire(sch.cron, sch.timezone, fires[0])
        ticks = []
        for fire in fires:
            interval_start = start if start is not None else fire
            start = fire
            row = {
                "logical_time": fire,
                "interval_start": interval_start,
                "interval_end": fire,
                "status": s.QUEUED,
            }
            if fire not in run:
                row.update(status=s.SKIPPED, reason=why)
            elif sch.max_lateness is not None and now - fire > sch.max_lateness * 1000:
                row.update(status=s.SKIPPED, reason=_late(now - fire, sch.max_lateness))
            ticks.append(row)
        nxt = cron.next_fire(sch.cron, sch.timezone, cursor)
        moved = self.store.advance_schedule(sch.id, sch.cursor, cursor, nxt, ticks)
        if moved:
            queued = sum(1 for t in ticks if t["status"] == s.QUEUED)
            log.info(
                "schedule %s: %d tick(s), %d queued, %d skipped",
                sch.name,
                len(ticks),
                queued,
                len(ticks) - queued,
            )
        return moved

    # --- 2. data-aware triggers ---------------------------------------------------------
    def trigger_on_artifacts(self, now: int) -> int:
        """Tick the artifact-triggered schedules whose every artifact has a new version."""
        if (now - self._artifacts_read_at) / 1000 >= ARTIFACT_REFRESH_S:
            self._artifact_schedules = self.store.artifact_schedules()
            self._artifacts_read_at = now
        if not self._artifact_schedules:
            return 0
        names = sorted({n for sch in self._artifact_schedules for n in sch.on_artifacts or []})
        newest = self.store.newest_artifact_versions(names)
        fired = 0
        for i, sch in enumerate(self._artifact_schedules):
            wanted = sch.on_artifacts or []
            found = [newest.get(n) for n in wanted]
            if not all(v is not None and v[2] > sch.cursor for v in found):
                continue
            logical = max(v[2] for v in found if v is not None)
            inputs = {n: v[0] for n, v in zip(wanted, found) if v is not None}
            tick = {
                "logical_time": logical,
                "interval_start": sch.cursor,
                "interval_end": logical,
                "status": s.QUEUED,
                "inputs": inputs,
            }
            if self.store.advance_schedule(sch.id, sch.cursor, logical, None, [tick]):
                fired += 1
                log.info("schedule %s: new versions of %s", sch.name, ", ".join(wanted))
                self._artifact_schedules[i] = dataclasses.replace(sch, cursor=logical)
            else:  # another scheduler moved it (or it is gone): read the lists again
                self._artifacts_read_at = -1e18
        return fired

    # --- 3. reconcile -------------------------------------------------------------------
    def reconcile(self, now: int) -> None:
        """Record the outcome of runs that ended; relaunch ticks whose launcher died."""
        if self.children:
            self._reconcile_children()
        if (now - self._orphans_checked_at) / 1000 >= ORPHAN_CHECK_S:
            self._orphans_checked_at = now
            self._reconcile_others(now)

    def _reconcile_children(self) -> None:
        backfills = {c.tick.backfill_id for c in self.children.values() if c.tick.backfill_id}
        cancelled = set(self.store.cancelled_backfill_ids(sorted(backfills)))
        ended = []
        for tick_id, child in list(self.children.items()):
            code = child.launched.poll()
            if child.tick.backfill_id in cancelled and code is None:
                child.launched.terminate()
                self.store.finish_tick(
                    tick_id, s.CANCELLED, "the backfill was cancelled", only_from=s.RUNNING
                )
                continue
            if code is None:
                continue
            del self.children[tick_id]
            ended.append((child, code))
        if not ended:
            return
        # read after the exits were seen: the run's final status is written before its
        # process exits
        states = self.store.run_states([child.run_id for child, _code in ended])
        for child, code in ended:
            state = states.get(child.run_id)
            self._record_end(child.tick.id, child.run_id, state, code, child.launched)

    def _record_end(
        self, tick_id: int, run_id: str, state: Any, code: int | None, launched: Any = None
    ) -> None:
        run_state = state[0] if state else None
        if run_state == run_status.COMPLETED:
            self.store.finish_tick(tick_id, s.SUCCEEDED, only_from=s.RUNNING)
            return
        if run_state in (run_status.FAILED, run_status.CANCELLED):
            reason = f"run {run_id} {run_state}"
        elif run_state is None:
            tail = launched.log_tail() if launched is not None else ""
            reason = f"the run's process exited with code {code} before the run started"
            reason += f": {tail}" if tail else ""
        else:
            reason = f"the run's process exited with code {code} while run {run_id} was running"
        status = s.CANCELLED if run_state == run_status.CANCELLED else s.FAILED
        self.store.finish_tick(tick_id, status, reason[:4000], only_from=s.RUNNING)
        log.warning("tick %d: %s", tick_id, reason[:400])

    def _reconcile_others(self, now: int) -> None:
        ticks = [
            t
            for t in self.store.list_ticks(statuses=[s.RUNNING], limit=2000)
            if t.id not in self.children
        ]
        if not ticks:
            return
        states = self.store.run_states([t.run_id for t in ticks if t.run_id])
        for tick in ticks:
            state = states.get(tick.run_id or "")
            if state is not None and state[0] == run_status.RUNNING:
                try:  # reads it through liveness: a run whose process is gone fails
                    run = self.store.get_run(tick.run_id)
                except NotFound:
                    continue
                state = (run.status, run.start_time)
            if state is not None and state[0] in run_status.TERMINAL:
                self._record_end(tick.id, tick.run_id or "", state, None)
            elif (
                state is None
                and now - (tick.claimed_at or 0) > self.orphan_after_ms
                and self.store.reclaim_tick(tick.id, tick.claimed_at, self.name, now)
            ):  # claimed, but its run never appeared: the launcher died in between
                log.warning("tick %d: its launcher died before the run; launching it", tick.id)
                self._spawn(tick, self._schedule(tick.schedule_id), tick.run_id or "")

    # --- 4. launch ----------------------------------------------------------------------
    def launch(self, now: int) -> int:
        """Start queued ticks within the concurrency limits; how many started."""
        free = self.max_runs - len(self.children)
        if free <= 0:
            return 0
        owners = self.store.queued_owners()
        if self.backfill_id is not None:
            owners = [o for o in owners if o[1] == self.backfill_id]
        if not owners:
            return 0
        running = {(a, b): n for a, b, n in self.store.running_counts()}
        backfills = {b.id: b for b in self.store.active_backfills()}
        started = 0
        for schedule_id, backfill_id in owners:
            if free <= 0:
                break
            try:
                sch = self._schedule(schedule_id)
            except NotFound:
                continue
            backwards = False
            if backfill_id is None:
                if sch.paused:
                    continue
                limit = sch.max_active_runs
            else:
                backfill = backfills.get(backfill_id)
                if backfill is None:
                    continue
                limit, backwards = backfill.max_active_runs, backfill.backwards
            room = min(free, limit - running.get((schedule_id, backfill_id), 0))
            if room <= 0:
                continue
            for tick in self.store.next_queued(
                schedule_id, room, backfill_id=backfill_id, backwards=backwards
            ):
                if self._start(tick, sch, now):
                    started += 1
                    free -= 1
        return started

    def _schedule(self, schedule_id: str) -> s.Schedule:
        return self.store.get_schedule(schedule_id)  # type: ignore[no-any-return]

    def _start(self, tick: s.Tick, sch: s.Schedule, now: int) -> bool:
        lateness = now - tick.logical_time
        too_late = sch.max_lateness is not None and lateness > sch.max_lateness * 1000
        if tick.backfill_id is None and too_late:
            assert sch.max_lateness is not None
            self.store.finish_tick(
                tick.id, s.SKIPPED, _late(lateness, sch.max_lateness), only_from=s.QUEUED
            )
            return False
        run_id = run_id_for(tick)
        if not self.store.claim_tick(tick.id, tick.attempt, run_id, self.name, now):
            return False  # another scheduler took it
        tick.status, tick.run_id, tick.claimed_by, tick.claimed_at = (
            s.RUNNING,
            run_id,
            self.name,
            now,
        )
        return self._spawn(tick, sch, run_id)

    def _spawn(self, tick: s.Tick, sch: s.Schedule, run_id: str) -> bool:
        args = (sch.name, sch.timezone, tick.logical_time, tick.interval_start, tick.interval_end)
        tags = context.tags(*args, tick.backfill_id)
        tags[context.TAG_TICK] = str(tick.id)
        spec = {
            "pipeline": sch.pipeline,
            "params": sch.params,
            "run_id": run_id,
            "tags": tags,
            "inputs": {f"trigger.{name}": vid for name, vid in tick.inputs.items()},
        }
        try:
            env = context.environment(*args, tick.backfill_id)
            env["HERON_TRACKING_URI"] = self.store.uri  # the child's runs go where its tick is
            launched = self.launcher.launch(spec, env)
        except Exception as e:
            reason = f"could not start the run's process: {type(e).__name__}: {e}"
            self.store.finish_tick(tick.id, s.FAILED, reason, only_from=s.RUNNING)
            log.error("tick %d of %s: %s", tick.id, sch.name, reason)
            return False
        self.children[tick.id] = _Child(tick, run_id, launched)
        log.info(
            "schedule %s: run %s for %s",
            sch.name,
            run_id,
            context.iso(tick.logical_time, sch.timezone),
        )
        return True

    # --- backfills ----------------------------------------------------------------------
    def finish_backfills(self) -> None:
        """Mark active backfills with nothing queued or running as completed."""
        for backfill in self.store.active_backfills():
            if _open(backfill) == 0:
                self.store.set_backfill_status(backfill.id, s.BACKFILL_DONE)

    def backfill_done(self) -> bool:
        """Whether the backfill this scheduler is bound to has nothing left to run."""
        if self.backfill_id is None:
            return False
        backfill = self.store.get_backfill(self.backfill_id)
        if backfill.status == s.BACKFILL_ACTIVE and _open(backfill) == 0 and not self.children:
            self.store.set_backfill_status(backfill.id, s.BACKFILL_DONE)
            return True
        return backfill.status != s.BACKFILL_ACTIVE and not self.children


def _open(backfill: s.Backfill) -> int:
    return backfill.progress.get(s.QUEUED, 0) + backfill.progress.get(s.RUNNING, 0)


def _late(lateness_ms: int, max_lateness: float) -> str:
    return (
        f"late: it would start {lateness_ms / 1000:.1f} s after its logical time, more than "
        f"the schedule's max_lateness of {max_lateness:g} s"
    )
