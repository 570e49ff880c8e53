"""The bot's only I/O: GitHub, git, Argo CD and the clock, each behind a narrow port."""
