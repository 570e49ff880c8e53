"""The git adapter: the GitOps repository through the ``git`` CLI, over a locked clone cache.

Use ``GitRepo`` (or code against ``GitRepoPort``); values come back as ``CommitResult`` and
``CommitInfo``, never as git objects. Unit tests of the handlers use
``bot.adapters.git.fake.FakeGitRepo``, held to the same contract as ``GitRepo``.
"""

from bot.adapters.git.parsing import CommitInfo
from bot.adapters.git.port import CommitResult, Edit, GitRepoPort, Reader
from bot.adapters.git.repo import GitRepo
from bot.adapters.git.runner import Identity

__all__ = ["CommitInfo", "CommitResult", "Edit", "GitRepo", "GitRepoPort", "Identity", "Reader"]
