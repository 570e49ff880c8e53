"""Alembic migrations for the bot's database, applied on start by ``bot.store.migrate``."""
