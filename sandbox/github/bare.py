"""Operations on the bare git repositories behind the sandbox's repositories, with the git CLI.

Writes use plumbing (a throw-away index, ``commit-tree``, ``update-ref``) so no worktree is
needed and concurrent requests on different branches cannot step on each other.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40


class GitError(Exception):
    """A git command failed; carries git's stderr."""


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str = ""  # git's "<unix> <tz>" or ISO 8601; empty means now


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    size: int | None
    path: str


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    env.update(extra or {})
    return env


def git(
    repo: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
) -> bytes:
    proc = subprocess.run(
        ["git", "--git-dir", str(repo), *args],
        input=input,
        capture_output=True,
        env=_env(env),
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(proc.stderr.decode(errors="replace").strip())
    return proc.stdout


def _person_env(author: Person, committer: Person | None = None) -> dict[str, str]:
    committer = committer or author
    env = {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": committer.name,
        "GIT_COMMITTER_EMAIL": committer.email,
    }
    if author.date:
        env["GIT_AUTHOR_DATE"] = author.date
    if committer.date:
        env["GIT_COMMITTER_DATE"] = committer.date
    return env


def init_bare(repo: Path, default_branch: str) -> None:
    repo.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "-q", "--bare", f"--initial-branch={default_branch}", str(repo)],
        check=True,
        env=_env(),
        capture_output=True,
    )
    # Pushes go through git http-backend, which refuses receive-pack unless enabled.
    git(repo, "config", "http.receivepack", "true")


def rev_parse(repo: Path, rev: str) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError:
        return None


def object_type(repo: Path, sha: str) -> str | None:
    try:
        return git(repo, "cat-file", "-t", sha).decode().strip()
    except GitError:
        return None


def list_refs(repo: Path, prefix: str = "refs/") -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix).decode()
    pairs = (line.split(" ", 1) for line in out.splitlines() if line)
    return {name: sha for name, sha in pairs}


def update_ref(repo: Path, ref: str, new: str, old: str | None = None) -> None:
    args = ["update-ref", ref, new] + ([old] if old is not None else [])
    git(repo, *args)


def delete_ref(repo: Path, ref: str) -> None:
    git(repo, "update-ref", "-d", ref)


def read_object(repo: Path, sha: str) -> bytes:
    kind = object_type(repo, sha)
    if kind is None:
        raise GitError(f"no object {sha}")
    return git(repo, "cat-file", kind, sha)


def hash_blob(repo: Path, data: bytes) -> str:
    return git(repo, "hash-object", "-w", "--stdin", input=data).decode().strip()


def ls_tree(repo: Path, treeish: str, path: str = "", recursive: bool = False) -> list[TreeEntry]:
    args = ["ls-tree", "-l", "-z"] + (["-r", "-t"] if recursive else []) + [treeish]
    if path:
        args += ["--", path]
    entries = []
    for record in git(repo, *args).decode().split("\0"):
        if not record:
            continue
        meta, name = record.split("\t", 1)
        mode, kind, sha, size = meta.split()
        entries.append(TreeEntry(mode, kind, sha, None if size == "-" else int(size), name))
    return entries


def entry_at(repo: Path, commit: str, path: str) -> TreeEntry | None:
    """The tree entry at ``path`` in ``commit`` (None if absent)."""
    path = path.strip("/")
    if not path:
        tree = git(repo, "rev-parse", f"{commit}^{{tree}}").decode().strip()
        return TreeEntry("040000", "tree", tree, None, "")
    found = [e for e in ls_tree(repo, commit, path) if e.path == path]
    return found[0] if found else None


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Person
    committer: Person
    message: str


def _parse_person(value: str) -> Person:
    name, rest = value.split(" <", 1)
    email, date = rest.split("> ", 1)
    return Person(name, email, date)


def commit_info(repo: Path, sha: str) -> CommitInfo:
    raw = git(repo, "cat-file", "commit", sha).decode(errors="replace")
    header, _, message = raw.partition("\n\n")
    tree, parents, people = "", [], {}
    for line in header.splitlines():
        key, _, value = line.partition(" ")
        if key == "tree":
            tree = value
        elif key == "parent":
            parents.append(value)
        elif key in ("author", "committer"):
            people[key] = _parse_person(value)
    return CommitInfo(sha, tree, parents, people["author"], people["committer"], message)


def write_tree(repo: Path, base: str | None, changes: dict[str, tuple[str, str] | None]) -> str:
    """A tree: ``base`` (tree-ish or None) with ``changes`` {path: (mode, blob sha) or None}."""
    with tempfile.TemporaryDirectory(prefix="sandbox-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if base:
            git(repo, "read-tree", base, env=env)
        else:
            git(repo, "read-tree", "--empty", env=env)
        lines = []
        for path, change in changes.items():
            if change is None:
                lines.append(f"0 {ZERO_SHA}\t{path}")
            else:
                lines.append(f"{change[0]} {change[1]}\t{path}")
        if lines:
            git(repo, "update-index", "--index-info", input="\n".join(lines).encode(), env=env)
        return git(repo, "write-tree", env=env).decode().strip()


def commit_tree(
    repo: Path,
    tree: str,
    parents: list[str],
    message: str,
    author: Person,
    committer: Person | None = None,
) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    out = git(repo, *args, input=message.encode(), env=_person_env(author, committer))
    return out.decode().strip()


def commit_files(
    repo: Path,
    parent: str | None,
    files: dict[str, bytes | None],
    message: str,
    author: Person,
    committer: Person | None = None,
) -> str:
    """A new commit on top of ``parent`` that writes (or with None, deletes) ``files``."""
    changes: dict[str, tuple[str, str] | None] = {}
    for path, data in files.items():
        changes[path.strip("/")] = None if data is None else ("100644", hash_blob(repo, data))
    tree = write_tree(repo, parent, changes)
    return commit_tree(repo, tree, [parent] if parent else [], message, author, committer)


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    proc = subprocess.run(
        ["git", "--git-dir", str(repo), "merge-base", "--is-ancestor", ancestor, descendant],
        capture_output=True,
        env=_env(),
        check=False,
    )
    return proc.returncode == 0


def merge_base(repo: Path, a: str, b: str) -> str | None:
    try:
        return git(repo, "merge-base", a, b).decode().strip() or None
    except GitError:
        return None


def rev_list(repo: Path, exclude: str | None, include: str) -> list[str]:
    """Commits reachable from ``include`` and not from ``exclude``, oldest first."""
    args = ["rev-list", "--reverse", "--topo-order", include]
    if exclude:
        args.append(f"^{exclude}")
    return git(repo, *args).decode().split()


def merge_trees(repo: Path, ours: str, theirs: str) -> str | None:
    """The tree of merging ``theirs`` into ``ours`` (None when they conflict)."""
    proc = subprocess.run(
        ["git", "--git-dir", str(repo), "merge-tree", "--write-tree", ours, theirs],
        capture_output=True,
        env=_env(),
        check=False,
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().split()[0]


def replay_commit(repo: Path, commit: str, onto: str, committer: Person) -> str | None:
    """Apply ``commit``'s change on top of ``onto`` (a rebase step); None on conflict."""
    info = commit_info(repo, commit)
    base = info.parents[0] if info.parents else None
    diff_args = ["diff-tree", "-p", "--binary", "--full-index"]
    diff = git(repo, *diff_args, *([base, commit] if base else ["--root", commit]))
    with tempfile.TemporaryDirectory(prefix="sandbox-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(repo, "read-tree", onto, env=env)
        if diff.strip():
            try:
                git(repo, "apply", "--cached", "-", input=diff, env=env)
            except GitError:
                return None
        tree = git(repo, "write-tree", env=env).decode().strip()
    return commit_tree(repo, tree, [onto], info.message, info.author, committer)


def changed_paths(repo: Path, before: str | None, after: str) -> dict[str, list[str]]:
    """Files added, removed and modified between two commits (for push payloads)."""
    args = ["diff-tree", "-r", "--no-renames", "--no-commit-id", "--name-status", "-z"]
    out = git(repo, *args, *([before, after] if before else ["--root", after])).decode()
    fields = [f for f in out.split("\0") if f]
    result: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
    key = {"A": "added", "D": "removed"}
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        result[key.get(status[0], "modified")].append(path)
    return result


def diff_stats(repo: Path, base: str, head: str) -> tuple[int, int, list[dict[str, object]]]:
    """(additions, deletions, files) between two commits, like GitHub's compare: each file
    has its name, status, blob sha and line counts."""
    raw = git(repo, "diff", "--no-renames", "--raw", "--no-abbrev", "-z", base, head).decode()
    fields = [f for f in raw.split("\0") if f]
    blobs: dict[str, tuple[str, str]] = {}
    for meta, name in zip(fields[0::2], fields[1::2], strict=False):
        _, _, old_sha, new_sha, status = meta.lstrip(":").split()
        kind = {"A": "added", "D": "removed"}.get(status[0], "modified")
        blobs[name] = (kind, old_sha if kind == "removed" else new_sha)
    out = git(repo, "diff", "--no-renames", "--numstat", "-z", base, head).decode()
    files: list[dict[str, object]] = []
    adds = dels = 0
    for record in out.split("\0"):
        parts = record.split("\t")
        if len(parts) < 3:
            continue
        a = int(parts[0]) if parts[0].isdigit() else 0
        d = int(parts[1]) if parts[1].isdigit() else 0
        adds, dels = adds + a, dels + d
        kind, sha = blobs.get(parts[2], ("modified", ZERO_SHA))
        files.append(
            {"sha": sha, "filename": parts[2], "status": kind, "additions": a, "deletions": d}
            | {"changes": a + d}
        )
    return adds, dels, files
