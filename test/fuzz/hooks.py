# Schemathesis hooks of the API fuzz run (test/support/fuzz.ts loads them through SCHEMATHESIS_HOOKS).
#
# Fresh credentials: the fuzzer signs in as a new administrator of its own, created through the
# static PGA_ADMIN_TOKEN, and signs in afresh (as yet another new administrator) whenever a
# request answers 401 or 403. Some operations end or weaken the caller's own credentials (sign-out,
# ending its session, a password reset of its own account, an MFA policy that admins must meet);
# schemathesis' reactive re-authentication replays such a request once with the new token, so the
# fuzzer keeps testing with a working identity instead of seeing only 401s from then on. Before
# each sign-in the MFA policy is reset, since a new administrator cannot have MFA yet.
import fnmatch
import json
import os
import secrets
import threading

import requests
import schemathesis

BASE_URL = os.environ["PGA_FUZZ_URL"]
ADMIN_TOKEN = os.environ["PGA_FUZZ_ADMIN_TOKEN"]
PHASE = os.environ.get("PGA_FUZZ_PHASE", "fuzz")
SIGN_INS = int(os.environ.get("PGA_FUZZ_SIGN_INS_LIMIT", "500"))

_lock = threading.Lock()
_count = 0


def _sign_in_fresh_admin() -> str:
    global _count
    with _lock:
        _count += 1
        if _count > SIGN_INS:
            raise RuntimeError(f"more than {SIGN_INS} sign-ins in phase {PHASE}: something keeps ending them")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    requests.put(
        f"{BASE_URL}/api/v1/auth/mfa-policy", json={"rolesRequiringMfa": []}, headers=admin, timeout=60
    ).raise_for_status()
    email = f"fuzz-{PHASE}-{secrets.token_hex(6)}@fuzz.example.com"
    password = secrets.token_urlsafe(24)
    requests.post(
        f"{BASE_URL}/api/v1/users",
        json={"email": email, "password": password, "role": "admin", "displayName": f"fuzzer ({PHASE})"},
        headers=admin,
        timeout=60,
    ).raise_for_status()
    response = requests.post(
        f"{BASE_URL}/api/v1/auth/login", json={"email": email, "password": password}, timeout=60
    )
    response.raise_for_status()
    return response.json()["access_token"]


@schemathesis.auth(refresh_interval=24 * 3600, retry_on=[401, 403])
class FreshAdministrator:
    def get(self, case, context):
        return _sign_in_fresh_admin()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# Failures of positive_data_acceptance (ST202) that are rules the document does not state; see
# accepted-rules.json. Everything else schemathesis finds fails the run.
with open(os.path.join(os.path.dirname(__file__), "accepted-rules.json"), encoding="utf-8") as _file:
    ACCEPTED_RULES = json.load(_file)["rules"]


def _problem(response):
    try:
        body = response.json()
    except Exception:
        return None
    return body if isinstance(body, dict) and isinstance(body.get("code"), str) else None


def _accepted(check, label, status, problem):
    fields = [error.get("path", "") for error in problem.get("errors") or []]
    for rule in ACCEPTED_RULES:
        if rule.get("check", "ST202") != check or rule["operation"] not in ("*", label):
            continue
        if not fnmatch.fnmatchcase(problem["code"], rule["code"]) or rule.get("status", status) != status:
            continue
        if "fields" in rule and not (
            fields and all(any(fnmatch.fnmatchcase(f, pattern) for pattern in rule["fields"]) for f in fields)
        ):
            continue
        return True
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response):
    check = getattr(failure, "code", None)
    if check not in ("ST202", "ST101"):
        return True
    problem = _problem(response)
    if problem is None:
        return True
    # Stateful links: a link that carries a null (an API key's instanceId) reaches the next
    # request's path as the text "None", which is not a uuid; nothing the API could do otherwise.
    if (
        check == "ST202"
        and problem["code"] == "validation_failed"
        and any(str(value) == "None" for value in (case.path_parameters or {}).values())
    ):
        return False
    return not _accepted(check, case.operation.label, response.status_code, problem)
