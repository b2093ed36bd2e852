"""`aura restore FILE`: load a backup, then verify the restored audit chain against the
anchor written beside the dump and against the home's own anchors, and say whether it holds.

The anchor beside the dump travels with it: whoever could forge the dump could forge that
anchor too. The home's anchor file (DESIGN §8) was written by the running Aura outside the
database, so its anchors up to the restored head must hold in the restored chain as well."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from governance.anchors import Anchor, AnchorFile
from governance.auditor import GENESIS_HASH, Auditor, VerifyReport
from mcp_server.operations.tools import pg_tool
from orchestra import backups
from orchestra.errors import InvalidInput
from orchestra.store.db import Database


@dataclass(frozen=True, slots=True)
class Restored:
    dump: Path
    anchor: backups.BackupAnchor
    report: VerifyReport
    # The home's anchor file of the history the restore replaced, kept under this name.
    replaced_anchors: Path | None
    # The restored chain against the home's anchors with seq <= its head (None: there were
    # none); when not ok, `first_bad_seq` is the home anchor that disagrees.
    home_report: VerifyReport | None = None

    @property
    def ok(self) -> bool:
        return self.report.ok and (self.home_report is None or self.home_report.ok)


async def restore(dsn: str, dump_path: Path, anchors: AnchorFile, *, force: bool,
                  progress: backups.Progress) -> Restored:
    """Restore `dump_path` into `dsn`, verify the chain against its anchor, audit the restore.

    The home's anchor file described the history now replaced: its newer anchors would make
    every later `aura audit verify` fail, so it is kept aside (renamed) and started again
    from the backup's anchor."""
    anchor = backups.read_anchor(dump_path)  # before anything is touched: no anchor, no restore
    try:
        home_anchors = anchors.read()
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{anchors.path} is not an anchor file ({exc}); nothing was "
                           "restored. Move it aside to restore without the home's anchors"
                           ) from None
    await backups.restore(dsn, dump_path, pg_tool("pg_restore"), force=force,
                          progress=progress)
    progress("verifying the restored audit chain against the backup's anchor")
    db = Database(dsn, min_size=1, max_size=1)
    await db.open()
    try:
        auditor = Auditor()
        report = await auditor.verify(db, anchors=[Anchor(anchor.seq, anchor.hash)])
        if report.ok and anchor.seq == 0 and anchor.hash != GENESIS_HASH:
            # The auditor checks anchors against entries; an anchor before the first has none.
            report = VerifyReport(False, report.entries, 0, "head_mismatch", report.head_seq)
        # Newer home anchors are of the history after the backup, which the restore replaced.
        within = [a for a in home_anchors if a.seq <= report.head_seq]
        home_report = None
        if within:
            progress(f"verifying the restored audit chain against the home's {len(within)} "
                     "anchors")
            home_report = await auditor.verify(db, anchors=within)
        verified = report.ok and (home_report is None or home_report.ok)
        async with db.connection() as conn:
            await auditor.record(conn, actor="director", action="backup.restored",
                                 subject=dump_path.name,
                                 details={"anchor_seq": anchor.seq, "verified": verified,
                                          "home_anchors_checked": len(within),
                                          "forced": force})
        head = await auditor.head(db)
    finally:
        await db.close()
    replaced = _restart_anchor_file(anchors, Anchor(anchor.seq, anchor.hash), head)
    return Restored(dump_path, anchor, report, replaced, home_report)


def _restart_anchor_file(anchors: AnchorFile, *restored: Anchor) -> Path | None:
    replaced = None
    if anchors.path.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        replaced = anchors.path.with_name(f"{anchors.path.name}.replaced-{stamp}")
        os.replace(anchors.path, replaced)
    fresh = AnchorFile(anchors.path)
    for anchor in restored:
        fresh.record(anchor)
    return replaced


# The home's anchor file, as `build_system` names it.
HOME_ANCHORS = "audit-anchors.jsonl"


async def restore_home(dsn: str, dump_path: Path, data_dir: Path, *, force: bool,
                       progress: backups.Progress) -> Restored:
    return await restore(dsn, dump_path, AnchorFile(data_dir / HOME_ANCHORS), force=force,
                         progress=progress)
