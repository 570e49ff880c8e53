"""The audit log's anchors: seals a database writer cannot forge, and the data dir's
checkpoint that shows deleted newest entries. Each tamper recomputes the hashes it
disturbs, as someone who has read bot/audit.py would."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select, update

from bot import commands_cli
from bot.adapters.clock import FakeClock
from bot.anchor import ANCHOR_FILE, AnchorFile, Checkpoint, Sealer, database_identity
from bot.audit import GENESIS, AuditLog, entry_hash
from bot.settings import Settings
from bot.store import AuditRow, Store
from tests.bot.conftest import SECRET


def sealed(store: Store, settings: Settings, clock: FakeClock) -> AuditLog:
    return AuditLog.from_settings(store, settings, clock)


def fill(log: AuditLog, clock: FakeClock, count: int = 6) -> list[int]:
    ids = []
    for n in range(count):
        clock.advance(1)
        entry = log.record("action", actor="autostack", summary=f"step {n}", app="shop", n=n)
        ids.append(entry.id)
    return ids


def rechain(store: Store, *, strip_seals_from: int | None = None) -> None:
    """Recompute every hash from the first entry on, as a forger would after an edit or a
    deletion; optionally drop the seals too, which only the key could remake."""
    with store.write() as session:
        prev = GENESIS
        for row in session.scalars(select(AuditRow).order_by(AuditRow.id)):
            row.prev_hash = prev
            row.hash = entry_hash(prev, row)
            if strip_seals_from is not None and row.id >= strip_seals_from:
                row.seal = None
            session.flush()
            prev = row.hash


def edit(store: Store, entry_id: int, **values: object) -> None:
    with store.write() as session:
        session.execute(update(AuditRow).where(AuditRow.id == entry_id).values(**values))


def remove(store: Store, *entry_ids: int) -> None:
    with store.write() as session:
        session.execute(delete(AuditRow).where(AuditRow.id.in_(entry_ids)))


def test_an_untouched_log_verifies_anchored(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock)
    verdict = log.verify()
    assert verdict.intact and verdict.anchored and verdict.keyed
    assert (verdict.entries, verdict.sealed_through, verdict.checkpoint) == (6, ids[-1], ids[-1])
    assert verdict.unsealed_before == 0
    assert all(entry.seal for entry in log.entries())


def test_an_edited_entry_with_the_later_hashes_recomputed_is_found(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock)
    edit(store, ids[2], summary="step 2, as the forger would have it")
    rechain(store)
    verdict = log.verify()
    assert not verdict.intact and verdict.first_bad == ids[2]
    assert "seal does not match" in (verdict.problem or "")


def test_an_edit_that_strips_the_seals_after_it_is_found(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock)
    edit(store, ids[3], actor="mallory")
    rechain(store, strip_seals_from=ids[3])
    verdict = log.verify()
    assert not verdict.intact and verdict.first_bad == ids[3]
    assert "no seal, though entries before it do" in (verdict.problem or "")


def test_stripping_every_seal_is_found_by_the_checkpoint(
    store: Store, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock)
    edit(store, ids[0], actor="mallory")
    rechain(store, strip_seals_from=ids[0])
    verdict = log.verify()
    assert not verdict.intact and verdict.first_bad == ids[-1]
    # What the docstring admits: elsewhere, without this replica's checkpoint, the log
    # reads as one written before sealing began. Unanchored, not intact-and-anchored.
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "elsewhere"})
    verdict = sealed(store, elsewhere, clock).verify()
    assert verdict.intact and not verdict.anchored and verdict.unsealed_before == 6


def test_deleting_the_newest_entries_is_found(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock)
    remove(store, ids[-1], ids[-2])
    verdict = log.verify()
    assert not verdict.intact and verdict.first_bad == ids[-1]
    assert f"now ends at entry {ids[-3]}" in (verdict.problem or "")


def test_deleting_every_entry_is_found(store: Store, settings: Settings, clock: FakeClock) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock, 2)
    remove(store, *ids)
    verdict = log.verify()
    assert not verdict.intact and "is now empty" in (verdict.problem or "")


def test_a_deleted_middle_entry_relinked_is_found(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock)
    remove(store, ids[2])
    rechain(store)
    verdict = log.verify()
    assert not verdict.intact and verdict.first_bad == ids[3]


def test_truncation_stays_found_while_the_bot_goes_on_writing(
    store: Store, settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock)
    remove(store, ids[-1], ids[-2], ids[-3])
    with caplog.at_level(logging.ERROR, logger="bot.audit"):
        fill(log, clock, 5)  # SQLite hands the deleted ids out again
    assert f"entry {ids[-1]}, this replica's checkpoint" in caplog.text
    assert len(caplog.records) == 1  # said once, not at every entry
    verdict = log.verify()
    assert not verdict.intact and verdict.first_bad == ids[-1]


def test_several_writers_keep_one_sealed_chain(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    # Two logs over one database and one data dir, as two workers of two replicas would.
    logs = [sealed(store, settings, clock), sealed(store, settings, clock)]
    barrier = threading.Barrier(6)

    def append(n: int) -> None:
        barrier.wait()
        for i in range(5):
            logs[n % 2].record("action", actor=f"w{n}", summary=f"step {i}")

    threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    newest = max(entry.id for entry in logs[0].entries())
    verdict = logs[1].verify()
    assert verdict.intact and verdict.anchored and verdict.entries == 30
    assert (verdict.sealed_through, verdict.checkpoint) == (newest, newest)


def test_without_a_key_the_log_is_unanchored_not_intact(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    keyless = settings.model_copy(update={"webhook_secret": None})
    log = sealed(store, keyless, clock)
    fill(log, clock, 3)
    verdict = log.verify()
    assert verdict.intact and not verdict.keyed and not verdict.anchored
    assert not (keyless.data_dir / ANCHOR_FILE).exists()
    assert all(entry.seal is None for entry in log.entries())


def test_entries_from_before_sealing_are_vouched_for_by_the_first_seal(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    old = fill(AuditLog(store, clock), clock, 3)  # before this version: no seals
    log = sealed(store, settings, clock)
    assert log.verify().intact and not log.verify().anchored
    new = fill(log, clock, 2)
    verdict = log.verify()
    assert verdict.anchored and verdict.sealed_through == new[-1]
    assert verdict.unsealed_before == len(old)
    # An entry before the first seal is still covered by it.
    edit(store, old[1], actor="mallory")
    rechain(store)
    assert log.verify().first_bad == new[0]


def test_a_changed_webhook_secret_is_told_apart_from_tampering(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    fill(sealed(store, settings, clock), clock, 3)
    rotated = settings.model_copy(update={"webhook_secret": SecretStr("a-new-webhook-secret")})
    log = sealed(store, rotated, clock)
    verdict = log.verify()
    assert not verdict.intact and "AUTOSTACK_WEBHOOK_SECRET" in (verdict.problem or "")
    new = fill(log, clock, 1)
    verdict = log.verify()
    assert verdict.anchored and verdict.sealed_through == new[0] and verdict.unsealed_before == 3


def test_a_forged_checkpoint_file_is_found(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    log = sealed(store, settings, clock)
    ids = fill(log, clock, 3)
    path = settings.data_dir / ANCHOR_FILE
    document = json.loads(path.read_text())
    (checkpoint,) = document["checkpoints"].values()
    checkpoint["seal"] = Sealer.from_secret("someone else's").seal(ids[-1], checkpoint["hash"])
    path.write_text(json.dumps(document))
    verdict = log.verify()
    assert not verdict.intact and verdict.first_bad == ids[-1]
    assert "checkpoint file was altered" in (verdict.problem or "")


def test_an_unreadable_checkpoint_file_is_reported(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    log = sealed(store, settings, clock)
    fill(log, clock, 2)
    (settings.data_dir / ANCHOR_FILE).write_text("{not json")
    verdict = log.verify()
    assert not verdict.intact and "cannot be read" in (verdict.problem or "")


def test_the_checkpoint_only_moves_up_and_keeps_each_database_apart(tmp_path: Path) -> None:
    sealer = Sealer.from_secret(SECRET)
    first = AnchorFile(tmp_path, "postgresql://bot@db/one")
    other = AnchorFile(tmp_path, "postgresql://bot@db/two")
    first.advance(_checkpoint(sealer, 5))
    first.advance(_checkpoint(sealer, 3))
    other.advance(_checkpoint(sealer, 1))
    assert first.read() == _checkpoint(sealer, 5)
    assert other.read() == _checkpoint(sealer, 1)


def _checkpoint(sealer: Sealer, entry_id: int) -> Checkpoint:
    return Checkpoint(entry_id, f"{entry_id:064x}", sealer.seal(entry_id, f"{entry_id:064x}"))


def test_the_database_identity_leaves_the_password_out(store: Store) -> None:
    identity = database_identity(store.engine.url.set(password="hunter2-db-password"))
    assert "hunter2" not in identity and "+psycopg" not in identity


# The CLI: `autostack audit --verify` reads settings (and the key) from the environment.


@pytest.fixture
def cli_settings(store: Store, settings: Settings) -> Settings:
    url = store.engine.url.render_as_string(hide_password=False)
    return settings.model_copy(update={"database_url": SecretStr(url)})


def test_the_cli_reports_an_intact_anchored_log(
    store: Store, cli_settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = fill(sealed(store, cli_settings, clock), clock, 3)
    assert commands_cli.audit(cli_settings, app=None, env=None, verify=True) == 0
    out = capsys.readouterr().out
    assert f"chain intact: 3 entries, sealed through entry {ids[-1]}" in out
    assert f"checkpoint, entry {ids[-1]}, is in place" in out


@pytest.mark.parametrize("tamper", ["rewrite", "truncate", "relink"])
def test_the_cli_reports_a_tampered_log_broken(
    tamper: str,
    store: Store,
    cli_settings: Settings,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = fill(sealed(store, cli_settings, clock), clock)
    if tamper == "rewrite":
        edit(store, ids[1], summary="nothing happened")
        rechain(store)
    elif tamper == "truncate":
        remove(store, ids[-1])
    else:
        remove(store, ids[2])
        rechain(store)
    assert commands_cli.audit(cli_settings, app=None, env=None, verify=True) == 1
    out = capsys.readouterr().out
    assert "audit log chain broken at entry" in out
    assert SECRET not in out


def test_the_cli_says_unanchored_without_a_key(
    store: Store, cli_settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(sealed(store, cli_settings, clock), clock, 2)
    keyless = cli_settings.model_copy(update={"webhook_secret": None})
    assert commands_cli.audit(keyless, app=None, env=None, verify=True) == 2
    out = capsys.readouterr().out
    assert "unanchored" in out and "AUTOSTACK_WEBHOOK_SECRET is not set" in out
    assert "chain intact:" not in out


def test_no_secret_or_key_reaches_logs_or_output(
    store: Store,
    cli_settings: Settings,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    log = sealed(store, cli_settings, clock)
    ids = fill(log, clock, 3)
    remove(store, ids[-1])
    fill(log, clock, 2)
    commands_cli.audit(cli_settings, app=None, env=None, verify=True)
    seen = caplog.text + capsys.readouterr().out + repr(log) + repr(Sealer.from_secret(SECRET))
    seen += (cli_settings.data_dir / ANCHOR_FILE).read_text()
    assert SECRET not in seen
    key = Sealer.from_secret(SECRET)._key
    assert key.hex() not in seen and key.hex().upper() not in seen
