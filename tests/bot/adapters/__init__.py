"""Tests of the bot's adapters."""
