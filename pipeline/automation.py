"""Unattended rebuilds: a daily schedule and a sensor on the raw folder, both on by default.

Both ask the same question before requesting a run: would a build differ from the published
one (`pipeline.fingerprint.rebuild_reasons`)? When not, they skip and say why. The sensor
looks at file names, sizes and modification times every interval; a change must look the
same on two consecutive looks before a run is requested, so a log still being copied in does
not start a build of half a file. Each requested run is keyed by the fingerprint of the
inputs it will build, so one change gives one run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import dagster as dg

from pipeline.fingerprint import current_manifest, published_manifest, rebuild_reasons
from pipeline.outputs import BrokenPublishedState, Refused, check_output_folders
from pipeline.paths import Paths
from pipeline.resources import ArmtraceFolders
from pipeline.stages.discover import RawFileChanged, RawFolderError, entry_listing
from pipeline.validation import resolve_max_quarantined_share

BUILD_JOB = "build"
SENSOR_INTERVAL_SECONDS = 30
DAILY_CRON = "0 5 * * *"  # 05:00 UTC, before the working day in Iraq and Syria


def folder_listing(paths: Paths) -> str:
    """A digest of the names, sizes and modification times of every raw, reference and
    corrections file: cheap to take, and it changes whenever a file is added, removed, replaced
    or edited."""
    entries = [(str(root), entry_listing(root))
               for root in (paths.raw_dir, paths.reference_dir, paths.corrections_dir)]
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def build_request(paths: Paths, trigger: str) -> dg.RunRequest | dg.SkipReason:
    """A run of the build job if the inputs, code or libraries differ from the published
    build's; else a skip that says so."""
    try:
        check_output_folders(paths)
        current = current_manifest(paths, {}, resolve_max_quarantined_share())
        published = published_manifest(paths)
    except (Refused, BrokenPublishedState, RawFolderError, RawFileChanged, ValueError) as error:
        return dg.SkipReason(f"no build requested: {error}")
    reasons = rebuild_reasons(published, current, dt.datetime.now(dt.UTC).date())
    if not reasons:
        return dg.SkipReason(f"inputs, code and libraries are unchanged since the published "
                             f"build {current.fingerprint[:12]}: nothing to do")
    # The sensor keys its runs by fingerprint (one run per change, never repeated); the
    # schedule's ticks are a day apart and a failed day should be tried again the next.
    return dg.RunRequest(
        run_key=f"{trigger}-{current.fingerprint}" if trigger == "raw-folder" else None,
        tags=run_tags(trigger, current.fingerprint),
    )


def run_tags(trigger: str, fingerprint: str | None) -> dict[str, str]:
    """The tags of a build run: what started it (`raw-folder`, `daily`, `cli`) and the
    fingerprint of the inputs it builds, so runs can be found and compared in the UI."""
    tags = {"armtrace/trigger": trigger}
    if fingerprint:
        tags["armtrace/fingerprint"] = fingerprint[:12]
    return tags


@dg.sensor(job_name=BUILD_JOB, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts a build when a raw, reference or corrections file is added, "
                       "changed or removed (once the folders have stopped changing).")
def raw_folder_changed(context: dg.SensorEvaluationContext,
                       folders: ArmtraceFolders) -> dg.RunRequest | dg.SkipReason:
    paths = folders.paths
    listing = folder_listing(paths)
    cursor = json.loads(context.cursor) if context.cursor else {}
    if listing == cursor.get("built"):
        return dg.SkipReason("no raw, reference or corrections file changed")
    if listing != cursor.get("settling"):
        context.update_cursor(json.dumps({**cursor, "settling": listing}))
        seen = "files changed" if cursor else "first look at the folders"
        return dg.SkipReason(f"{seen}; waiting one interval for copies to finish")
    context.update_cursor(json.dumps({"built": listing}))
    return build_request(paths, "raw-folder")


@dg.schedule(job_name=BUILD_JOB, cron_schedule=DAILY_CRON, execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Daily rebuild, skipped when nothing it depends on changed.")
def daily_build(context: dg.ScheduleEvaluationContext,
                folders: ArmtraceFolders) -> dg.RunRequest | dg.SkipReason:
    return build_request(folders.paths, "daily")

