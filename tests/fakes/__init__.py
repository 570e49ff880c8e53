"""Shared in-memory fakes of the bot's ports, one per port, for handler unit tests."""
