"""Who may fetch what Gradio serves: one ASGI middleware in front of Gradio's routes (installed by app.py through
`demo.launch(**access.launch_kwargs())`).

Gradio serves every file it has put in its cache (`/gradio_api/file=<path>`: uploads, export zips, prediction
CSVs) to anyone who is logged in and knows the path, and keeps `gr.State` and result streams by a session id the
browser chooses. With login on, or in the private-by-default browser mode (tuner.auth), this middleware:

* gives each browser its id cookie (mode "browser"), so the handlers' `user_of` has an owner to use;
* remembers who each cached file was handed to (the /upload answer, result events) and answers 404 to anyone else,
  for downloads and for requests that name the file as an input; cache files nobody was handed are refused too,
  except those in the page's own config (the bundled sample);
* binds each session id (and each event id) to the first user that used it; another user gets 403;
* tells tuner.auth's login throttle which client is trying to log in (Gradio calls `auth=` with only the name and
  password).

Mode "off" (one local user, or TUNER_SHARED=1) passes everything through untouched.
"""

from __future__ import annotations

import codecs
import collections
import json
import os
import re
import threading
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, unquote

from .. import auth

API = "/gradio_api"
MAX_BODY = 32 * 2**20  # largest JSON request body looked at (a chat history is far smaller)
_FILE_ROUTE = re.compile(r"^(?:/gradio_api)?/file(?:=|/)(?P<path>.+)$")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_EVENT_ID = re.compile(r'"event_id"\s*:\s*"([^"\\]{1,200})"')


class OwnerMap:
    """A bounded key -> set of owners map (oldest keys are forgotten first)."""

    def __init__(self, limit: int = 200_000):
        self.limit = limit
        self._data: collections.OrderedDict[str, set] = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, owner: str) -> None:
        with self._lock:
            owners = self._data.setdefault(key, set())
            owners.add(owner)
            self._data.move_to_end(key)
            while len(self._data) > self.limit:
                self._data.popitem(last=False)

    def bind(self, key: str, owner: str) -> bool:
        """Give `key` to `owner` when nobody has it yet; True when `owner` holds it now."""
        with self._lock:
            owners = self._data.get(key)
            if owners is None:
                self._data[key] = {owner}
                while len(self._data) > self.limit:
                    self._data.popitem(last=False)
                return True
            return owner in owners

    def owners(self, key: str) -> set | None:
        with self._lock:
            found = self._data.get(key)
            return set(found) if found is not None else None


FILES = OwnerMap()  # real path of a cached file -> the users it was handed to
SESSIONS = OwnerMap()  # Gradio session id -> its user
EVENTS = OwnerMap()  # Gradio event id -> its user


def launch_kwargs() -> dict:
    """Extra `demo.launch` settings: the middleware; with access control on, no separate static-file workers (they
    would serve cached files without passing through it)."""
    from starlette.middleware import Middleware

    extra = {"app_kwargs": {"middleware": [Middleware(AccessMiddleware)]}}
    if auth.mode() != "off":
        extra["num_workers"] = 0
    return extra


# ---- who is asking ---------------------------------------------------------------------------------------
def _cookies_from_headers(headers) -> dict:
    jar = SimpleCookie()
    for name, value in headers:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header reads as no cookies
                pass
    return {k: m.value for k, m in jar.items()}


def _oauth_user(session) -> str | None:
    try:
        from gradio import oauth

        info = oauth._get_valid_oauth_info_from_session(session or {})
        name = (info or {}).get("userinfo", {}).get("preferred_username")
    except Exception:
        return None
    return str(name) if name else None


def scope_identity(scope: dict, mode: str | None = None) -> str | None:
    """The owner name of an HTTP request (an ASGI scope inside Gradio's app): the logged-in user (Gradio's token
    cookie), the Hugging Face account (OAuth session) or this browser's id; None when there is none."""
    mode = mode or auth.mode()
    if mode == "password":
        app = scope.get("app")
        cookies = _cookies_from_headers(scope.get("headers") or [])
        cid = getattr(app, "cookie_id", None)
        token = cookies.get(f"access-token-{cid}") or cookies.get(f"access-token-unsecure-{cid}")
        name = (getattr(app, "tokens", None) or {}).get(token) if token else None
        return str(name) if name else None
    if mode == "oauth":
        return _oauth_user(scope.get("session"))
    if mode == "browser":
        return auth.browser_owner(_cookies_from_headers(scope.get("headers") or []).get(auth.BROWSER_COOKIE))
    return None


def request_identity(request) -> str | None:
    """The owner name of a handler's `gr.Request` (or any object with `username`, as tests pass): see scope_identity."""
    if request is None:
        return None
    mode = auth.mode()
    if mode == "password" or mode == "off":
        name = getattr(request, "username", None)
        return str(name) if name else None
    underlying = getattr(request, "request", None) or request
    scope = getattr(underlying, "scope", None)
    if isinstance(scope, dict):
        return scope_identity(scope, mode)
    kwargs = getattr(request, "kwargs", None) or {}  # a queued gr.Request rebuilt without its fastapi request
    if mode == "oauth":
        return _oauth_user(kwargs.get("session") or getattr(underlying, "session", None))
    cookies = kwargs.get("cookies") or getattr(underlying, "cookies", None) or {}
    return auth.browser_owner(dict(cookies).get(auth.BROWSER_COOKIE))


# ---- which files are whose --------------------------------------------------------------------------------
def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def cache_roots(as_written: bool = False) -> list[str]:
    """Gradio's upload/output cache and its examples cache: the folders whose files belong to someone (their real
    paths; with `as_written`, also as Gradio writes them, for finding them in its answers)."""
    from gradio.utils import get_cache_folder, get_upload_folder

    folders = [str(get_upload_folder()), str(get_cache_folder())]
    roots = [_real(f) + os.sep for f in folders]
    if as_written:
        roots += [os.path.abspath(f) + os.sep for f in folders]
    return roots


def _in_cache(path: str, roots: list[str]) -> bool:
    return any(path.startswith(root) for root in roots)


def _walk_strings(obj, key=None):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_strings(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_strings(v, key)
    elif isinstance(obj, str):
        yield key, obj


def public_files(app) -> frozenset:
    """Cache files named in the page's own config (every visitor gets them: the bundled sample dataset)."""
    found = getattr(app, "_tuner_public_files", None)
    if found is not None:
        return found
    roots = cache_roots()
    try:
        config = app.get_blocks().config or {}
    except Exception:  # no blocks yet: nothing is public
        return frozenset()
    found = frozenset(_real(v) for k, v in _walk_strings(config) if k == "path" and _in_cache(_real(v), roots))
    app._tuner_public_files = found
    return found


def may_read(path: str, who: str | None, app=None) -> bool:
    """May `who` fetch (or name as an input) the file at `path`? Files outside Gradio's cache are Gradio's own
    business (its allowed/blocked paths); inside it, only the users it was handed to, or a page default."""
    try:
        real = _real(path)
    except (ValueError, OSError):  # a NUL byte or the like: not a file Gradio will serve either
        return True
    if not _in_cache(real, cache_roots()):
        return True
    if app is not None and real in public_files(app):
        return True
    owners = FILES.owners(real)
    return bool(owners) and who is not None and who in owners


def remember_files(text: str, who: str, roots: list[str]) -> None:
    """Record every cache path in a JSON/event-stream text as handed to `who`, and bind its event ids to `who`.
    `roots`: cache_roots(as_written=True)."""
    real_roots = cache_roots()
    for literal in _STRING.findall(text):
        if not any(root.rstrip(os.sep) in literal for root in roots) and "\\" not in literal:
            continue
        try:
            value = json.loads(f'"{literal}"')
            real = _real(value) if os.path.isabs(value) else ""
        except (ValueError, OSError):
            continue
        if real and _in_cache(real, real_roots):
            FILES.add(real, who)
    for event_id in _EVENT_ID.findall(text):
        EVENTS.bind(event_id, who)


def _named_in_body(data) -> tuple[list[str], list[str], list[str]]:
    """(file paths, session ids, event ids) a JSON request body names."""
    paths, sessions, events = [], [], []
    for key, value in _walk_strings(data):
        if key == "path":
            paths.append(value)
        elif key == "url" and "/file=" in value:
            paths.append(unquote(value.split("/file=", 1)[1]))
        elif key == "session_hash":
            sessions.append(value)
        elif key == "event_id":
            events.append(value)
    return paths, sessions, events


# ---- the middleware -------------------------------------------------------------------------------------------
def _client_key(scope: dict) -> str:
    """The connection's address plus the nearest proxy's X-Forwarded-For entry (the one a client cannot forge behind
    one proxy, such as a Space's)."""
    host = (scope.get("client") or ("", 0))[0] or ""
    forwarded = ""
    for name, value in scope.get("headers") or []:
        if name == b"x-forwarded-for":
            forwarded = value.decode("latin-1").split(",")[-1].strip()
    return f"{host}|{forwarded}"


def _is_https(scope: dict) -> bool:
    if scope.get("scheme") == "https" or os.environ.get("SPACE_ID"):  # a Space is always https, framed by hf.co
        return True
    headers = scope.get("headers") or []
    return any(n == b"x-forwarded-proto" and v.split(b",")[0].strip() == b"https" for n, v in headers)


def _browser_cookie_header(browser_id: str, https: bool) -> bytes:
    # In an iframe on https (a Space's page) a cookie must be SameSite=None; Secure (and Partitioned for browsers
    # that block third-party cookies); on plain http SameSite=Lax is the one browsers keep.
    attrs = "; Secure; SameSite=None; Partitioned" if https else "; SameSite=Lax"
    return f"{auth.BROWSER_COOKIE}={browser_id}; Path=/; Max-Age=31536000; HttpOnly{attrs}".encode("latin-1")


def _with_cookie(headers: list, browser_id: str) -> list:
    """Request headers with this browser's id cookie in place of any unusable one."""
    out, jar = [], []
    for name, value in headers:
        if name == b"cookie":
            ours = auth.BROWSER_COOKIE.encode() + b"="
            jar += [p for p in value.split(b";") if p.strip() and not p.strip().startswith(ours)]
        else:
            out.append((name, value))
    jar.append(f" {auth.BROWSER_COOKIE}={browser_id}".encode("latin-1"))
    out.append((b"cookie", b";".join(p.strip() for p in jar)))
    return out


async def _answer(send, status: int, sentence: str, extra_headers=()) -> None:
    body = json.dumps({"detail": sentence}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra_headers]})
    await send({"type": "http.response.body", "body": body})


class AccessMiddleware:
    """See the module docstring."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        mode = auth.mode()
        if mode == "off":
            return await self.app(scope, receive, send)
        root = scope.get("root_path") or ""
        path = scope.get("path") or "/"
        path = path[len(root):] if root and path.startswith(root) else path
        method = scope.get("method", "GET")
        cookie_headers = []
        if mode == "browser" and scope_identity(scope, mode) is None:
            browser_id = auth.new_browser_id()
            scope = dict(scope, headers=_with_cookie(list(scope.get("headers") or []), browser_id))
            cookie_headers = [(b"set-cookie", _browser_cookie_header(browser_id, _is_https(scope)))]
        who = scope_identity(scope, mode)
        app = scope.get("app")
        login_token = None
        if mode == "password" and method == "POST" and path.rstrip("/") == "/login":
            login_token = auth.LOGIN_CLIENT.set(_client_key(scope))
        try:
            refusal = self._refusal(path, scope, who, app)
            if refusal:
                return await _answer(send, *refusal, cookie_headers)
            if method == "POST" and path.startswith(API + "/") and not path.startswith(API + "/upload"):
                body, whole = b"", False
                while not whole:
                    message = await receive()
                    if message["type"] != "http.request":
                        return
                    body += message.get("body", b"")
                    whole = not message.get("more_body", False)
                    if len(body) > MAX_BODY:
                        return await _answer(send, 413, "The request is too large.", cookie_headers)
                refusal = self._body_refusal(body, who, app)
                if refusal:
                    return await _answer(send, *refusal, cookie_headers)
                receive = _replay(body, receive)
            scan = path.startswith(API + "/") and _FILE_ROUTE.match(path) is None and who is not None \
                and not path.startswith(API + "/info")
            await self.app(scope, receive, _watching(send, who if scan else None, cookie_headers))
        finally:
            if login_token is not None:
                auth.LOGIN_CLIENT.reset(login_token)

    @staticmethod
    def _refusal(path: str, scope: dict, who: str | None, app) -> tuple[int, str] | None:
        """(status, sentence) when the request's URL names a file, session or event that is not `who`'s."""
        m = _FILE_ROUTE.match(path)
        if m and not may_read(m.group("path"), who, app):
            return 404, "File not found."
        if not path.startswith(API + "/"):
            return None
        query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
        sessions = list(query.get("session_hash", []))
        parts = path[len(API) + 1:].split("/")
        if parts[0] == "heartbeat" and len(parts) > 1:
            sessions.append(parts[1])
        if parts[0] == "stream" and len(parts) > 3:
            sessions.append(parts[1])
        events = [parts[2]] if parts[0] == "call" and len(parts) > 2 else []
        if parts[0] == "stream" and 1 < len(parts) <= 3:
            events.append(parts[1])
        return AccessMiddleware._ids_refusal(sessions, events, who)

    @staticmethod
    def _ids_refusal(sessions, events, who) -> tuple[int, str] | None:
        for session in sessions:  # nobody (not yet signed in) may use a session that is someone's, not bind one
            taken = SESSIONS.owners(session) is not None if who is None else not SESSIONS.bind(session, who)
            if session and taken:
                return 403, "This session belongs to someone else; reload the page."
        for event in events:
            owners = EVENTS.owners(event) if event else None
            if owners is not None and who not in owners:
                return 404, "Event not found."
        return None

    @staticmethod
    def _body_refusal(body: bytes, who: str | None, app) -> tuple[int, str] | None:
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError:
            return None  # not JSON: Gradio refuses it on its own
        paths, sessions, events = _named_in_body(data)
        for p in paths:
            if not may_read(p, who, app):
                return 404, "File not found."
        return AccessMiddleware._ids_refusal(sessions, events, who)


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _watching(send, who: str | None, cookie_headers: list):
    """`send` that adds the browser cookie to the answer and records the cache files the answer hands to `who`."""
    state = {"scan": False, "carry": "", "decode": codecs.getincrementaldecoder("utf-8")("ignore").decode}
    roots = cache_roots(as_written=True) if who is not None else []

    async def watch(message):
        if message["type"] == "http.response.start":
            if cookie_headers:
                message = dict(message, headers=[*message.get("headers", []), *cookie_headers])
            kind = dict(message.get("headers", [])).get(b"content-type", b"")
            state["scan"] = who is not None and (b"json" in kind or b"event-stream" in kind)
        elif message["type"] == "http.response.body" and state["scan"]:
            text = state["carry"] + state["decode"](message.get("body", b""))
            remember_files(text, who, roots)  # before the answer leaves: the file is theirs before they can ask
            # Keep the unfinished last line (an event or JSON cut between two sends) so that its strings are read
            # whole next time; a line starts outside any JSON string, so quotes pair up from there.
            cut = text.rfind("\n") + 1
            state["carry"] = text[cut:] if len(text) - cut <= MAX_BODY else ""
        await send(message)

    return watch
