"""Tests of the shared test helpers."""
