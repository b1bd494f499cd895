"""jitbot's database: engine and sessions (`engine`), typed ORM models (`models`), race-safe
helpers (`repository`) and schema upgrades with Alembic (`migrate`)."""
