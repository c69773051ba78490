import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_fixtures import database_url, hub_settings, ledger, make_database_url, migrated_sqlite

__all__ = ["database_url", "hub_settings", "ledger", "make_database_url", "migrated_sqlite"]
