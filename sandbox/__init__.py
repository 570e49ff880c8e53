"""Local GitHub-compatible and Argo CD-compatible servers for the demo and the tests."""
