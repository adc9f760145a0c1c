#!/usr/bin/env python3
"""The generated-client test's script (`cargo xtask client-test` runs it).

It drives a client that `openapi-python-client` generated from the committed
`docs/openapi.json` (the `chom_client` package on PYTHONPATH) against a real `chom-api`:
sign-up -> e-mail verification -> super-admin approval -> plan -> API token -> site list, then
one refusal of each kind. Every answer must parse into the declared type: the model of the
success, or `Problem` for a refusal. The clients are built with
`raise_on_unexpected_status=True`, so an answer whose status the document does not declare for
that operation raises `UnexpectedStatus`, and the check fails.

Operations are found by method and path (the contract), not by the generated module names
(which follow `operationId`s and tags): `op("POST /api/v1/auth/register")`. Request bodies are
built with the model each operation's `body` parameter is annotated with (`from_dict`, so that
enums and the like take their generated types); the `models:` checks make sure those models
require what the API always requires. What a generated function cannot send (a body that is
not JSON, another content type) is sent raw and parsed by that operation's generated parser.
A token is expired by writing its expiry into the server's SQLite database.

Checks named in the pending file (one name a line, `#` comments) are expected to fail: they
wait for the document to declare what the API answers. Such a check is reported, not failed;
one that passes while still listed fails the run, so that the list only shrinks.

Exit status: 0 when every check passed or is pending (and failed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import pathlib
import re
import sqlite3
import sys
import time
import traceback
import typing
import uuid
from typing import Any, Callable

import chom_client
import httpx
from chom_client import AuthenticatedClient, Client
from chom_client.errors import UnexpectedStatus
from chom_client.models import Problem

PROBLEM_JSON = "application/problem+json"


class DocumentGap(Exception):
    """The document lacks something the check needs (a required field, a declaration)."""


class FlowAborted(Exception):
    """A step of the happy path failed: the checks after it cannot run."""


# --- the generated client, by method and path ---------------------------------------------


def index_operations() -> dict[str, str]:
    """`"POST /api/v1/auth/register"` -> the generated module's name, read from each module's
    `_get_kwargs` (its `"method"` and `"url"` literals)."""
    package = pathlib.Path(chom_client.__file__).parent
    ops: dict[str, str] = {}
    for path in sorted((package / "api").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        method = re.search(r'"method": "(\w+)"', source)
        url = re.search(r'"url": "([^"]+)"', source)
        if method and url:
            parts = path.relative_to(package.parent).with_suffix("").parts
            ops[f"{method[1].upper()} {url[1]}"] = ".".join(parts)
    return ops


OPERATIONS = index_operations()


def op(key: str) -> Any:
    """The generated module of the operation `METHOD /path` (path as in the document)."""
    if key not in OPERATIONS:
        raise DocumentGap(f"the generated client has no operation {key}")
    return importlib.import_module(OPERATIONS[key])


def body_model(key: str) -> type:
    """The request model the generated `sync_detailed` of `key` takes as `body`."""
    module = op(key)
    annotation = inspect.signature(module.sync_detailed).parameters["body"].annotation
    if isinstance(annotation, str):
        annotation = getattr(module, annotation.split("|")[0].strip())
    # An optional body is `Model | None | Unset`: the model is the member that has `from_dict`.
    for member in typing.get_args(annotation) or (annotation,):
        if hasattr(member, "from_dict"):
            return member
    raise DocumentGap(f"{key} takes no JSON body model ({annotation})")


def call(key: str, client: Client, *path: str, body: dict[str, Any] | None = None, **query: Any):
    """Calls the generated `sync_detailed` of `key`; `body` builds its typed request model."""
    module = op(key)
    kwargs: dict[str, Any] = dict(query)
    if body is not None:
        # from_dict: the generated code turns each value into its declared type (enums…).
        kwargs["body"] = body_model(key).from_dict(body)
    return module.sync_detailed(*path, client=client, **kwargs)


def raw(key: str, client: Client, content: bytes, content_type: str, *path: str):
    """Sends `content` as the body of `key` (what the typed function cannot send: a wrong
    content type, broken JSON), and parses the answer with that operation's generated parser."""
    module = op(key)
    method, url = key.split(" ", 1)
    for name in path:
        url = re.sub(r"\{[^}]+\}", name, url, count=1)
    response = client.get_httpx_client().request(
        method, url, content=content, headers={"Content-Type": content_type}
    )
    return module._build_response(client=client, response=response)


# --- assertions ---------------------------------------------------------------------------


def expect(response, status: int, model: str | None = None):
    """`response` has `status` and parsed into the model named `model` (or anything but a
    `Problem`); returns the parsed value."""
    parsed = response.parsed
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.content[:300]!r}"
    )
    assert not isinstance(parsed, Problem), f"a success parsed as Problem: {parsed}"
    if model is not None:
        assert type(parsed).__name__ == model, f"parsed as {type(parsed).__name__}, not {model}"
    return parsed


def expect_problem(response, status: int, code: str) -> Problem:
    """`response` is the refusal `status`/`code`, parsed as the typed `Problem`."""
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.content[:300]!r}"
    )
    problem = response.parsed
    assert isinstance(problem, Problem), (
        f"{status} parsed as {type(problem).__name__}, not Problem"
    )
    assert problem.status == status, problem
    assert problem.code == code, f"code {problem.code}, expected {code}: {problem.detail}"
    assert problem.type_.startswith("urn:chom:problem:"), problem.type_
    assert problem.request_id, "a problem without request_id"
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith(PROBLEM_JSON), f"content type {content_type!r}"
    return problem


def field_errors(problem: Problem) -> dict[str, str]:
    """`field -> code` of a validation problem's typed `errors`."""
    errors = problem.errors if isinstance(problem.errors, list) else []
    for e in errors:
        assert type(e).__name__ == "FieldError", f"an error parsed as {type(e).__name__}"
        assert e.message, e
    return {e.field: e.code for e in errors}


def has_headers(response, *names: str) -> None:
    missing = [n for n in names if n.lower() not in response.headers]
    assert not missing, f"missing headers {missing}"


# --- the run ------------------------------------------------------------------------------


class Run:
    def __init__(self, pending: dict[str, str], pending_file: str):
        self.pending = pending
        self.pending_file = pending_file
        self.results: list[tuple[str, str, str]] = []  # (name, outcome, detail)

    def check(self, name: str, fn: Callable[[], Any], *, step: bool = False) -> Any:
        """Runs one check. A failing `step` (the happy path) aborts the flow."""
        started = time.monotonic()
        try:
            value = fn()
        except UnexpectedStatus as e:
            body = e.content[:300].decode(errors="replace")
            detail = f"undeclared status {e.status_code} for this operation (document): {body}"
        except DocumentGap as e:
            detail = f"document: {e}"
        except AssertionError as e:
            detail = f"assertion: {e}"
        except Exception as e:  # noqa: BLE001 - reported, never swallowed
            if parsing(e):
                detail = (
                    f"the answer does not parse into the declared model (document or server): "
                    f"{type(e).__name__}: {e}{where(e)}"
                )
            else:
                detail = f"{type(e).__name__}: {e}{where(e)}"
        else:
            outcome = "PASS" if name not in self.pending else "UNEXPECTED PASS"
            extra = "" if name not in self.pending else "still listed as pending: remove it"
            self.record(name, outcome, extra, started)
            return value
        outcome = "PENDING" if name in self.pending else "FAIL"
        self.record(name, outcome, detail, started)
        if step:
            raise FlowAborted(name)
        return None

    def record(self, name: str, outcome: str, detail: str, started: float) -> None:
        ms = (time.monotonic() - started) * 1000
        self.results.append((name, outcome, detail))
        line = f"{outcome:<15} {name} ({ms:.0f} ms)"
        if detail:
            line += "\n" + "\n".join("      " + d for d in detail.splitlines())
        print(line, flush=True)

    def summary(self) -> int:
        counts = {k: sum(1 for r in self.results if r[1] == k) for k in
                  ("PASS", "FAIL", "PENDING", "UNEXPECTED PASS")}
        listed = {r[0] for r in self.results}
        for name in sorted(set(self.pending) - listed):
            print(f"{'NOT RUN':<15} {name} (listed as pending)")
        failed = counts["FAIL"] + counts["UNEXPECTED PASS"]
        print()
        if counts["PENDING"]:
            print(f"{counts['PENDING']} check(s) pending on the document ({self.pending_file}):")
            for name, outcome, detail in self.results:
                if outcome == "PENDING":
                    print(f"  - {name}: {detail.splitlines()[0][:100]}")
        print(f"flow: {counts['PASS']} passed, {failed} failed, {counts['PENDING']} skipped")
        return 1 if failed else 0


def parsing(e: BaseException) -> bool:
    """Whether `e` was raised while the generated client parsed an answer."""
    return any(f.name == "_parse_response" for f in traceback.extract_tb(e.__traceback__))


def where(e: BaseException) -> str:
    """The innermost line of this script and of the generated client an exception passed."""
    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if f.filename == __file__]
    client = [f for f in frames if "chom_client" in f.filename]
    return "".join(f"\n  at {pathlib.Path(f.filename).name}:{f.lineno}: {f.line}"
                   for f in (mine[-1:] + client[-1:]))


def read_pending(path: str | None) -> dict[str, str]:
    pending: dict[str, str] = {}
    if not path:
        return pending
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            pending[name.strip()] = why.strip()
    return pending


def outbox_token(outbox: pathlib.Path, to: str, within: float = 30.0) -> str:
    """The verification token e-mailed to `to` (the log mailer writes whole messages)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if outbox.is_dir():
            for mail in sorted(outbox.iterdir()):
                text = mail.read_text(encoding="utf-8")
                if to in text.partition("\n")[0]:
                    match = re.search(r"verify-email#token=([A-Za-z0-9_.~-]+)", text)
                    assert match, f"no verification link in {mail}"
                    return match[1]
        time.sleep(0.1)
    raise AssertionError(f"no e-mail to {to} in {outbox} within {within} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--outbox", required=True, type=pathlib.Path)
    ap.add_argument("--database", required=True, help="the server's SQLite file")
    ap.add_argument("--admin-email", required=True)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--pending", help="file of checks expected to fail")
    args = ap.parse_args()

    run = Run(read_pending(args.pending), args.pending or "")
    try:
        flow(run, args)
    except FlowAborted as e:
        print(f"\nthe flow stopped at `{e}`: the checks after it did not run")
        run.results.append((f"(flow stopped at {e})", "FAIL", ""))
    return run.summary()


def flow(run: Run, args: argparse.Namespace) -> None:
    base = args.base_url
    # The server trusts 127.0.0.1 as a proxy: each anonymous client names its own address, so
    # that the per-address limit of the auth routes (5 a minute) only bites where a check wants
    # it to. The addresses (TEST-NET-3) are only header values: nothing is sent to them.
    addresses = (f"203.0.113.{n}" for n in itertools.count(10))
    timeout = httpx.Timeout(30.0)

    def anon() -> Client:
        return Client(base_url=base, raise_on_unexpected_status=True, timeout=timeout,
                      headers={"X-Forwarded-For": next(addresses)})

    def authed(token: str, **headers: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True,
                                   timeout=timeout, headers=headers)

    suffix = uuid.uuid4().hex[:8]
    email = f"jane.{suffix}@example.com"
    password = "correct horse battery staple"
    plan: dict[str, str] = {}
    state: dict[str, Any] = {}

    # -- the models: a request the API always refuses cannot be built ------------------------
    required = {
        "POST /api/v1/auth/register": {"username", "first_name", "last_name", "email", "password"},
        "POST /api/v1/auth/verify-email": {"token"},
        "POST /api/v1/auth/login": {"email", "password"},
        "PUT /api/v1/tenant/plan": {"plan"},
        "POST /api/v1/auth/tokens": {"name"},
        "POST /api/v1/sites": {"domain"},
    }
    for key, fields in required.items():
        def models_require(key: str = key, fields: set[str] = fields) -> None:
            model = body_model(key)
            params = inspect.signature(model).parameters
            optional = sorted(f for f in fields if params[f].default is not inspect.Parameter.empty)
            if optional:
                raise DocumentGap(f"{model.__name__} does not require {', '.join(optional)}")
        run.check(f"models: {key} body requires its fields", models_require)

    # -- the happy path ------------------------------------------------------------------------
    def plans():
        page = expect(call("GET /api/v1/plans", anon()), 200, "PlanList")
        assert page.data, "an empty plan catalogue"
        assert page.meta.limit == 20, page.meta
        plan["code"] = page.data[0].code  # cheapest first
        assert isinstance(page.data[0].price_monthly_cents, int)

    run.check("plans: the public catalogue", plans, step=True)

    def sign_up():
        data = expect(call("POST /api/v1/auth/register", anon(), body={
            "username": f"jane{suffix}", "first_name": "Jane", "last_name": "Doe",
            "email": email, "password": password,
        }), 201, "RegisteredResponse").data
        assert data.user.email == email, data.user
        assert data.user.approval_status == "pending", data.user.approval_status
        assert data.tenant.organization_id == data.organization.id
        state["user_id"] = data.user.id

    run.check("sign-up: 201 RegisteredResponse", sign_up, step=True)

    run.check("403 EMAIL_NOT_VERIFIED: login before verification", lambda: expect_problem(
        call("POST /api/v1/auth/login", anon(), body={"email": email, "password": password}),
        403, "EMAIL_NOT_VERIFIED"))

    def verify():
        token = outbox_token(args.outbox, email)
        expect(call("POST /api/v1/auth/verify-email", anon(), body={"token": token}),
               200, "StatusResponse")

    run.check("verification: the e-mailed token", verify, step=True)

    run.check("403 ACCOUNT_PENDING_APPROVAL: login before approval", lambda: expect_problem(
        call("POST /api/v1/auth/login", anon(), body={"email": email, "password": password}),
        403, "ACCOUNT_PENDING_APPROVAL"))

    def admin_login():
        data = expect(call("POST /api/v1/auth/login", anon(), body={
            "email": args.admin_email, "password": args.admin_password,
        }), 200, "LoginResponse").data
        assert data.user.is_super_admin is True, data.user
        state["admin"] = authed(data.token.token)
        state["admin_token_id"] = data.token.id

    run.check("super admin: login", admin_login, step=True)

    def approvals():
        page = expect(call("GET /api/v1/admin/approvals", state["admin"]), 200, "ApprovalList")
        users = [a.user for a in page.data if a.kind == "user"]
        assert any(u.id == state["user_id"] for u in users), "the sign-up is not pending"

    run.check("super admin: the approval list", approvals, step=True)

    def approve():
        response = call("POST /api/v1/admin/users/{id}/approve", state["admin"],
                        state["user_id"], body={})
        assert response.status_code == 204, (response.status_code, response.content[:300])
        assert response.parsed is None

    run.check("super admin: approve the sign-up (204)", approve, step=True)

    def login():
        data = expect(call("POST /api/v1/auth/login", anon(), body={
            "email": email, "password": password,
        }), 200, "LoginResponse").data
        assert data.user.approval_status == "approved", data.user.approval_status
        assert "admin" in data.token.abilities, data.token.abilities
        state["session"] = authed(data.token.token)

    run.check("login: a session token", login, step=True)

    def me():
        data = expect(call("GET /api/v1/auth/me", state["session"]), 200, "MeResponse").data
        assert data.role == "owner", data.role
        assert not data.tenant.plan, data.tenant.plan  # null (or absent)

    run.check("me: owner, no plan yet", me, step=True)

    run.check("403 PLAN_NOT_SELECTED: a site before a plan", lambda: expect_problem(
        call("POST /api/v1/sites", state["session"], body={"domain": f"a{suffix}.example.com"}),
        403, "PLAN_NOT_SELECTED"))

    def select_plan():
        data = expect(call("PUT /api/v1/tenant/plan", state["session"],
                           body={"plan": plan["code"]}), 200, "TenantResponse").data
        assert data.plan == plan["code"], data.plan

    run.check("plan: select the cheapest", select_plan, step=True)

    def token(name: str, abilities: list[str]) -> tuple[str, str]:
        response = call("POST /api/v1/auth/tokens", state["session"], body={
            "name": name, "abilities": abilities, "expires_in_days": 1,
        })
        data = expect(response, 201, "IssuedTokenResponse").data
        assert data.abilities == abilities, data.abilities
        assert data.token.startswith(f"{data.id}."), "token is not <id>.<secret>"
        return data.token, data.id

    def api_token():
        state["read"] = authed(token("client-test", ["read"])[0])

    run.check("API token: 201 IssuedTokenResponse (read)", api_token, step=True)

    def site_list():
        response = call("GET /api/v1/sites", state["read"])
        page = expect(response, 200, "SiteList")
        assert page.data == [], page.data
        assert page.meta.limit == 20, page.meta
        assert not page.meta.next_cursor, page.meta  # null: the last page
        has_headers(response, "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
                    "X-Request-Id")

    run.check("site list: 200 SiteList with RateLimit-* headers", site_list, step=True)

    # -- one refusal of each kind ----------------------------------------------------------
    run.check("400 INVALID_TOKEN: an unknown verification token", lambda: expect_problem(
        call("POST /api/v1/auth/verify-email", anon(), body={"token": "not-a-token"}),
        400, "INVALID_TOKEN"))

    run.check("400 MALFORMED_JSON (raw body): POST /auth/tokens", lambda: expect_problem(
        raw("POST /api/v1/auth/tokens", state["session"], b'{"name": ', "application/json"),
        400, "MALFORMED_JSON"))

    run.check("401 UNAUTHENTICATED: the site list without a token", lambda: expect_problem(
        call("GET /api/v1/sites", anon()), 401, "UNAUTHENTICATED"))

    def expired():
        secret, token_id = token("to-expire", ["read"])
        with sqlite3.connect(args.database, timeout=10) as db:
            db.execute("UPDATE api_tokens SET expires_at = 1000 WHERE id = ?",
                       (str(uuid.UUID(token_id)),))
        response = call("GET /api/v1/sites", authed(secret))
        expect_problem(response, 401, "TOKEN_EXPIRED")
        has_headers(response, "WWW-Authenticate")

    run.check("401 TOKEN_EXPIRED: the site list with an expired token", expired)

    def revoked():
        secret, token_id = token("to-revoke", ["read"])
        response = call("DELETE /api/v1/auth/tokens/{id}", state["session"], token_id)
        assert response.status_code == 204, (response.status_code, response.content[:300])
        expect_problem(call("GET /api/v1/auth/me", authed(secret)), 401, "UNAUTHENTICATED")

    run.check("401 UNAUTHENTICATED: me with a revoked token", revoked)

    run.check("403 FORBIDDEN: a member on a super-admin route", lambda: expect_problem(
        call("GET /api/v1/admin/users", state["session"]), 403, "FORBIDDEN"))

    run.check("403 INSUFFICIENT_ABILITY: a read token creates a site", lambda: expect_problem(
        call("POST /api/v1/sites", state["read"], body={"domain": f"b{suffix}.example.com"}),
        403, "INSUFFICIENT_ABILITY"))

    run.check("404 NOT_FOUND: an unknown site id", lambda: expect_problem(
        call("GET /api/v1/sites/{id}", state["session"], str(uuid.uuid4())),
        404, "NOT_FOUND"))

    run.check("404 NOT_FOUND: another user's token id", lambda: expect_problem(
        call("DELETE /api/v1/auth/tokens/{id}", state["session"], state["admin_token_id"]),
        404, "NOT_FOUND"))

    run.check("404 TENANT_NOT_FOUND: X-Tenant-Id of no tenant of the caller", lambda:
              expect_problem(call("GET /api/v1/sites", authed(
                  state["session"].token, **{"X-Tenant-Id": str(uuid.uuid4())})),
                  404, "TENANT_NOT_FOUND"))

    run.check("409 EMAIL_TAKEN: sign-up with a registered e-mail", lambda: expect_problem(
        call("POST /api/v1/auth/register", anon(), body={
            "username": f"other{suffix}", "first_name": "Jane", "last_name": "Doe",
            "email": email, "password": password,
        }), 409, "EMAIL_TAKEN"))

    run.check("413 PAYLOAD_TOO_LARGE: a 300 KiB token name", lambda: expect_problem(
        call("POST /api/v1/auth/tokens", state["session"], body={
            "name": "x" * (300 * 1024), "abilities": ["read"],
        }), 413, "PAYLOAD_TOO_LARGE"))

    run.check("415 UNSUPPORTED_MEDIA_TYPE (raw body): POST /auth/tokens", lambda: expect_problem(
        raw("POST /api/v1/auth/tokens", state["session"], b"name=x", "text/plain"),
        415, "UNSUPPORTED_MEDIA_TYPE"))

    def invalid_sign_up():
        problem = expect_problem(call("POST /api/v1/auth/register", anon(), body={
            "username": "x", "first_name": "Jane", "last_name": "Doe",
            "email": "not-an-e-mail", "password": "short",
        }), 422, "VALIDATION_FAILED")
        fields = field_errors(problem)
        assert {"username", "email", "password"} <= set(fields), fields

    run.check("422 VALIDATION_FAILED: sign-up, typed field errors", invalid_sign_up)

    def bad_limit():
        problem = expect_problem(call("GET /api/v1/sites", state["read"], limit=0),
                                 422, "VALIDATION_FAILED")
        assert field_errors(problem) == {"limit": "INVALID_VALUE"}, field_errors(problem)

    run.check("422 VALIDATION_FAILED: the site list with limit=0", bad_limit)

    def rate_limited():
        client = anon()
        for _ in range(5):
            expect(call("POST /api/v1/auth/forgot-password", client, body={"email": email}),
                   202, "StatusResponse")
        response = call("POST /api/v1/auth/forgot-password", client, body={"email": email})
        expect_problem(response, 429, "RATE_LIMITED")
        has_headers(response, "Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
                    "RateLimit-Reset", "RateLimit-Policy")

    run.check("429 RATE_LIMITED: a sixth forgot-password in a minute", rate_limited)

    def no_capacity():
        response = call("POST /api/v1/sites", state["session"],
                        body={"domain": f"c{suffix}.example.com"})
        expect_problem(response, 503, "NO_CAPACITY")
        has_headers(response, "Retry-After")

    run.check("503 NO_CAPACITY: a site with no server", no_capacity)


if __name__ == "__main__":
    sys.exit(main())
