"""Who is using the app: optional login and the ownership model of runs. Knows nothing of gradio.

* `TUNER_AUTH=user:password[,user2:pw2]` turns on Gradio's own login page (mode "password").
* On a Hugging Face Space with OAuth configured (`OAUTH_CLIENT_ID` set by the Space's `hf_oauth: true`),
  people sign in with their Hugging Face account (mode "oauth").
* Otherwise login is off (mode "off"): the app serves a single local user; every run is that user's, so
  every run is listed and usable. Never expose such an app to other people (it listens on 127.0.0.1).

With login on, a run belongs to the user who started it (`owner` in status.json): other users can neither
list, stop, resume, evaluate, try nor download it, and a request without a user is refused.
"""

from __future__ import annotations

import hmac
import os

from .errors import ConfigError, RunError


def parse_auth(value: str | None) -> list[tuple[str, str]]:
    """`user:password[,user2:pw2]` -> [(user, password), ...]; an empty value -> []."""
    value = (value or "").strip()
    if not value:
        return []
    pairs = []
    for item in value.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError("TUNER_AUTH must look like user:password[,user2:password2]; one entry has no user or password.")
        pairs.append((user.strip(), password))
    return pairs


def password_users() -> list[tuple[str, str]]:
    return parse_auth(os.environ.get("TUNER_AUTH"))


def oauth_configured() -> bool:
    return bool(os.environ.get("OAUTH_CLIENT_ID")) and bool(os.environ.get("SPACE_ID"))


def mode() -> str:
    """'password', 'oauth' or 'off'."""
    if password_users():
        return "password"
    if oauth_configured():
        return "oauth"
    return "off"


def check_password(users: list[tuple[str, str]]):
    """A Gradio `auth=` callable comparing in constant time."""

    def check(username: str, password: str) -> bool:
        ok = False
        for user, pw in users:
            ok |= hmac.compare_digest(user.encode(), str(username).encode()) & hmac.compare_digest(pw.encode(), str(password).encode())
        return bool(ok)

    return check


def owner_for(username: str | None) -> str:
    """The owner stored on a new run: the logged-in user, or '' for the single local user (login off)."""
    if mode() == "off":
        return ""
    if not username:
        raise RunError("Log in first; runs belong to the person who started them.")
    return str(username)


def visible_owner(username: str | None) -> str | None:
    """The owner filter for listing runs: None (all runs) with login off, else the user's own name."""
    return None if mode() == "off" else owner_for(username)


def check_owner(run, username: str | None):
    """`run` if `username` may use it; another user's run reads as missing (its existence is not revealed)."""
    wanted = visible_owner(username)
    if wanted is not None and run.status().get("owner", "") != wanted:
        raise RunError(f"Run {run.id} does not exist; pick a run from the list.")
    return run
