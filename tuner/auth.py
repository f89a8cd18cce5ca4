"""Who is using the app: optional login and the ownership model of runs. Knows nothing of gradio.

* `TUNER_AUTH=user:password[,user2:pw2]` turns on Gradio's own login page (mode "password"); failed logins are
  throttled per username and per client (`LoginThrottle`).
* On a Hugging Face Space with OAuth configured (`OAUTH_CLIENT_ID` set by the Space's `hf_oauth: true`),
  people sign in with their Hugging Face account (mode "oauth").
* Otherwise, when the app can be reached from other machines (it listens on a non-loopback address, or runs on a
  Space), every browser gets a random id in a cookie and sees only its own runs (mode "browser"): private by
  default. `TUNER_SHARED=1` opts out for a trusted team (everyone sees every run).
* Otherwise login is off (mode "off"): the app serves a single local user on 127.0.0.1; every run is that user's.

With login on (or per browser), a run belongs to whoever started it (`owner` in status.json): nobody else can
list, stop, resume, evaluate, try or download it, and a request without a user is refused.
"""

from __future__ import annotations

import contextvars
import hmac
import os
import re
import secrets
import threading
import time

from . import environment
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
    return parse_auth(environment.get("TUNER_AUTH"))


def oauth_configured() -> bool:
    return bool(os.environ.get("OAUTH_CLIENT_ID")) and bool(os.environ.get("SPACE_ID"))


LOOPBACK = ("127.0.0.1", "localhost", "::1", "ip6-localhost")


def listen_host() -> str:
    """The address the app listens on (app.py writes its --host into TUNER_HOST)."""
    return (environment.get("TUNER_HOST") or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1").strip()


def reachable_from_outside() -> bool:
    """True on a Space or when listening on anything but a loopback address (0.0.0.0, ::, a LAN address)."""
    host = listen_host().lower().strip("[]")
    return bool(os.environ.get("SPACE_ID")) or not (host in LOOPBACK or host.startswith("127."))


def shared() -> bool:
    """TUNER_SHARED=1: a trusted team's app without login where everyone sees every run."""
    return environment.get("TUNER_SHARED")


def mode() -> str:
    """'password', 'oauth', 'browser' (no login, reachable from other machines: each browser sees its own runs)
    or 'off' (one local user, or TUNER_SHARED=1)."""
    if password_users():
        return "password"
    if oauth_configured():
        return "oauth"
    if reachable_from_outside() and not shared():
        return "browser"
    return "off"


def startup_sentence() -> str:
    """What app.py prints at start: who can see which runs, in one plain sentence."""
    m = mode()
    if m == "password":
        return "Login is on (TUNER_AUTH): each user sees only their own runs."
    if m == "oauth":
        return "Sign-in with Hugging Face is on: each user sees only their own runs."
    if m == "browser":
        return ("Login is off and the app is reachable from other machines: each browser sees only its own runs. "
                "Set TUNER_AUTH=user:password to require a login, or TUNER_SHARED=1 to let everyone see every run.")
    if reachable_from_outside():
        return ("Login is off and TUNER_SHARED=1: everyone who can reach this app sees, stops and exports every run. "
                "Set TUNER_AUTH=user:password to require a login.")
    return (f"Login is off and the app listens only on this machine ({listen_host()}): every run is listed. "
            "Set TUNER_AUTH=user:password to require a login.")


# ---- private by default: one id per browser -------------------------------------------------------------
BROWSER_COOKIE = "tuner-browser"
BROWSER_PREFIX = "browser:"
_BROWSER_ID = re.compile(r"^[0-9a-f]{32}$")


def new_browser_id() -> str:
    return secrets.token_hex(16)


def browser_owner(cookie: str | None) -> str | None:
    """The owner name of a browser from its cookie value; None when the value is not one the server makes."""
    cookie = str(cookie or "").strip()
    return BROWSER_PREFIX + cookie if _BROWSER_ID.match(cookie) else None


# ---- failed-login backoff ------------------------------------------------------------------------------
LOGIN_CLIENT: contextvars.ContextVar[str] = contextvars.ContextVar("tuner_login_client", default="")
"""Who is trying to log in (address of the connection + the nearest proxy's X-Forwarded-For entry), set around
Gradio's /login by the app's middleware (tuner.ui.access), because Gradio calls `auth=` with only the name and
password."""


class LoginThrottle:
    """Failed-attempt backoff. After `failures` failed logins for one username (or `client_failures` from one client)
    within `window` seconds, every attempt for it is refused for `lockout` seconds without looking at the password;
    each further lockout doubles, up to `max_lockout`. A successful login clears the username's count (not the
    client's: a valid account must not reset the count of one client trying many names)."""

    def __init__(self, failures: int = 5, client_failures: int = 20, window: float = 900.0, lockout: float = 30.0,
                 max_lockout: float = 3600.0, clock=time.monotonic, max_keys: int = 10_000):
        self.failures, self.client_failures, self.window = failures, client_failures, window
        self.lockout, self.max_lockout, self.clock, self.max_keys = lockout, max_lockout, clock, max_keys
        self._state: dict[str, dict] = {}  # key -> {"times": [...], "until": t, "lockouts": n, "seen": t}
        self._lock = threading.Lock()

    def retry_after(self, keys) -> float:
        """Seconds until every key may try again (0 = not locked)."""
        now = self.clock()
        with self._lock:
            return max([self._state[k]["until"] - now for k in keys if k in self._state] + [0.0])

    def failed(self, key: str, limit: int) -> None:
        now = self.clock()
        with self._lock:
            st = self._state.setdefault(key, {"times": [], "until": 0.0, "lockouts": 0, "seen": now})
            st["seen"] = now
            st["times"] = [t for t in st["times"] if now - t < self.window] + [now]
            if len(st["times"]) >= limit:
                st["lockouts"] += 1
                st["until"] = now + min(self.max_lockout, self.lockout * 2 ** (st["lockouts"] - 1))
                st["times"] = []
            if len(self._state) > self.max_keys:
                self._prune(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)

    def _prune(self, now: float) -> None:
        stale = [k for k, st in self._state.items()
                 if st["until"] <= now and now - st["seen"] > min(self.window, self.max_lockout)]
        for k in stale:
            del self._state[k]
        for k in [k for k, st in self._state.items() if st["until"] <= now][: max(0, len(self._state) - self.max_keys)]:
            del self._state[k]


def check_password(users: list[tuple[str, str]], throttle: LoginThrottle | None = None):
    """A Gradio `auth=` callable: compares in constant time, and refuses (without comparing) while the username or
    the client is locked out after repeated failures. The throttle is on the callable as `.throttle`."""
    throttle = throttle or LoginThrottle()

    def check(username: str, password: str) -> bool:
        name = str(username)
        keys = [("user:" + name.strip().lower()[:200], throttle.failures)]
        client = LOGIN_CLIENT.get()
        if client:
            keys.append(("client:" + client[:200], throttle.client_failures))
        if throttle.retry_after([k for k, _ in keys]) > 0:
            return False
        ok = False
        for user, pw in users:
            ok |= hmac.compare_digest(user.encode(), name.encode()) & hmac.compare_digest(pw.encode(), str(password).encode())
        if ok:
            throttle.succeeded(keys[0][0])
        else:
            for key, limit in keys:
                throttle.failed(key, limit)
        return bool(ok)

    check.throttle = throttle
    return check


def owner_for(username: str | None) -> str:
    """The owner stored on a new run: the logged-in user (or this browser's id in mode 'browser'), or '' for the
    single local user (login off)."""
    m = mode()
    if m == "off":
        return ""
    if not username:
        if m == "browser":
            raise RunError("This browser sent no Tuner cookie; allow cookies for this site and reload the page.")
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
