"""The secret values the bot knows exactly, so that :func:`bot.core.messages.redact` masks
them wherever they appear, whatever surrounds them.

Patterns catch what looks like a secret; this registry catches what *is* one: the webhook
secret, the App's private key (whole, and each line of it), the Argo CD token, the database
password, the installation tokens the bot minted. Values are matched exactly, through one
compiled regular expression (a trie of the values, rebuilt when the set changes), so a
long log costs one pass however many secrets are known.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

MASK = "***"
# Shorter values are not registered: an empty one would match everywhere, and a short one
# is a common word as often as a secret (masking it would garble every log line).
MIN_SECRET_CHARS = 8
# Tokens minted every hour would otherwise grow the set without bound; the oldest go first
# (an expired token is worthless, and the ``ghs_`` pattern still catches it).
MAX_EPHEMERAL = 512
# Deeper than this, the trie's nested groups would outgrow Python's regex parser.
MAX_NESTING = 100
PEM_ARMOR = re.compile(r"^-----(?:BEGIN|END) [A-Z0-9 ]+-----$")


class KnownSecrets:
    """A thread-safe set of secret values and the one regex that finds any of them."""

    def __init__(self, max_ephemeral: int = MAX_EPHEMERAL):
        self._lock = threading.Lock()
        self._lasting: set[str] = set()
        self._ephemeral: OrderedDict[str, None] = OrderedDict()
        self._max_ephemeral = max_ephemeral
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None, *, ephemeral: bool = False) -> None:
        """Know ``value`` and each of its parts (PEM lines, a URL's password).

        ``ephemeral`` values (installation tokens) are kept only among the newest
        ``max_ephemeral``; values shorter than ``MIN_SECRET_CHARS`` are ignored."""
        self.add_all([value], ephemeral=ephemeral)

    def add_all(self, values: Iterable[str | None], *, ephemeral: bool = False) -> None:
        """``add`` each of ``values``, rebuilding the regex once."""
        forms = [
            form
            for value in values
            for form in secret_forms(value or "")
            if len(form) >= MIN_SECRET_CHARS
        ]
        if not forms:
            return
        with self._lock:
            before = len(self._lasting) + len(self._ephemeral)
            for form in forms:
                if not ephemeral:
                    self._lasting.add(form)
                    self._ephemeral.pop(form, None)
                elif form not in self._lasting:
                    self._ephemeral[form] = None
                    self._ephemeral.move_to_end(form)
            dropped = 0
            while len(self._ephemeral) > self._max_ephemeral:
                self._ephemeral.popitem(last=False)
                dropped += 1
            if dropped or len(self._lasting) + len(self._ephemeral) != before:
                self._pattern = _trie_pattern([*self._lasting, *self._ephemeral])

    def mask(self, text: str) -> str:
        """``text`` with every known value replaced by ``MASK``, until none is left (a
        replacement can join two halves into a new match)."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        while True:
            # Each pass shortens the text (MASK is shorter than any value), so it ends.
            masked = pattern.sub(MASK, text)
            if masked == text:
                return masked
            text = masked

    def __contains__(self, value: object) -> bool:
        with self._lock:
            return value in self._lasting or value in self._ephemeral

    def __len__(self) -> int:
        with self._lock:
            return len(self._lasting) + len(self._ephemeral)


def secret_forms(value: str) -> list[str]:
    """``value`` and the parts of it that leak on their own: each base64 line of a PEM key
    (logs print keys line by line) and the password of a URL with credentials."""
    forms = [value, value.strip()]
    if "-----BEGIN" in value:
        lines = (line.strip() for line in value.splitlines())
        forms += [line for line in lines if line and not PEM_ARMOR.match(line)]
    if "://" in value and "@" in value:
        try:
            password = urlsplit(value.strip()).password
        except ValueError:
            password = None
        if password:
            forms += [password, unquote(password)]
    return list(dict.fromkeys(form for form in forms if form))


def _trie_pattern(values: Collection[str]) -> re.Pattern[str]:
    """One regex matching any of ``values``, longest first: a trie of them, so that at each
    position the engine follows one path instead of trying every value in turn."""
    trie: dict[str, Any] = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}
    if _deepest_nesting(trie, values) <= MAX_NESTING:
        return re.compile(_trie_regex(trie))
    # Values nested hundreds deep (each a prefix of the next) would outgrow the regex
    # parser; a plain alternation, longest first, is slower but matches the same.
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(re.escape(value) for value in ordered))


def _deepest_nesting(trie: dict[str, Any], values: Collection[str]) -> int:
    """How deep the groups of the trie's regex nest: the most branch points on a path."""
    deepest = 0
    for value in values:
        node, depth = trie, 0
        for char in value:
            depth += len(node) > 1
            node = node[char]
        deepest = max(deepest, depth)
    return deepest


def _trie_regex(node: dict[str, Any]) -> str:
    """The regex of one trie node. A chain of nodes with one child each becomes one
    literal, so the nesting (and the recursion) grows with the branch points on a path,
    not with its length: a whole PEM key is one literal."""
    branches = []
    for char, child in sorted(node.items()):
        if not char:
            continue
        literal = char
        while len(child) == 1 and "" not in child:
            ((next_char, child),) = child.items()
            literal += next_char
        branches.append(re.escape(literal) + _trie_regex(child))
    if not branches:
        return ""
    ends_here = "" in node
    if len(branches) == 1 and not ends_here:
        return branches[0]
    group = "(?:" + "|".join(branches) + ")"
    return group + "?" if ends_here else group


class SecretSettings(Protocol):
    """What :func:`register_settings` reads: ``bot.settings.Settings`` fits."""

    def __iter__(self) -> Iterator[tuple[str, Any]]: ...

    def private_key(self) -> Any: ...


def register_settings(settings: SecretSettings, known: KnownSecrets | None = None) -> None:
    """Know every secret of ``settings``: each ``SecretStr`` field (the database URL only
    for its password, as the rest of it is a host and path) and the App's key file."""
    known = KNOWN_SECRETS if known is None else known
    for name, value in settings:
        if not hasattr(value, "get_secret_value"):
            continue
        secret = value.get_secret_value()
        if name == "database_url":
            forms = secret_forms(secret)
            known.add_all(form for form in forms if form not in (secret, secret.strip()))
        else:
            known.add(secret)
    try:
        key = settings.private_key()
    except OSError:  # an unreadable key file; ``require_for_serve`` names it
        return
    if key is not None:
        known.add(key.get_secret_value())


KNOWN_SECRETS = KnownSecrets()
"""The process's registry: settings are added at start-up, installation tokens when minted."""
