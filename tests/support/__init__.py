"""Helpers shared by the test suites: reference-data validators and test doubles."""
