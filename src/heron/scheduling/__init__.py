"""Scheduling: cron and data-triggered schedules, backfills, and the scheduler process.

``heron.schedule(...)`` defines a schedule (:mod:`heron.scheduling.definitions`), ``heron
scheduler`` runs them (:mod:`heron.scheduling.scheduler`), ``heron backfill`` reprocesses a
range of intervals (:mod:`heron.scheduling.backfill`); inside a scheduled run,
``heron.context()`` gives its interval (:mod:`heron.scheduling.context`).
"""
