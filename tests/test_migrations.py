"""A migration, once committed, is never changed: a database migrated with it has it recorded
as applied and never runs it again. Migration 0005 was rewritten ten minutes after it was
committed (a column and two checks added), and a database built in between passed `migrate`
and then failed on every visit's page for the missing column."""

import hashlib
from pathlib import Path

MIGRATIONS = Path(__file__).parent.parent / "partnerships" / "migrations"
RECORDED = Path(__file__).parent / "golden" / "migrations.sha256"


def test_committed_migrations_are_unchanged_and_new_ones_recorded():
    recorded = dict(
        reversed(line.split(maxsplit=1)) for line in RECORDED.read_text().splitlines() if line
    )
    present = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(MIGRATIONS.glob("[0-9]*.py"))
    }
    changed = [name for name in recorded if name in present and present[name] != recorded[name]]
    assert not changed, (
        f"Changed after being recorded: {changed}. Write a new migration instead; a change "
        "that alters no database (a message's words) may be recorded again."
    )
    assert not [name for name in recorded if name not in present], "a migration was removed"
    new = [name for name in present if name not in recorded]
    assert not new, (
        f"Not recorded yet: {new}. Once committed, record them (and them only: a changed "
        "one is then still caught): (cd partnerships/migrations && sha256sum "
        f"{' '.join(new)}) >> tests/golden/migrations.sha256"
    )
