"""The App's side of the fake: JWT and tokens, installations, delivery log, manifest, OAuth."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.sandbox.github.model import APP_SLUG, iso
from app.sandbox.github.state import GitHubState


class AppRoutes(GitHubState):
    """What GitHub does for the App itself, and the helpers that set it up in tests."""

    def installation_event(
        self, repos: list[str], *, action: str = "created", event: str = "installation"
    ) -> list[tuple[str, dict[str, Any]]]:
        """What GitHub sends when the App is installed on (or given) these repositories."""
        listed = [
            {k: v for k, v in self.repo(name).payload.items() if k != "owner"} for name in repos
        ]
        key = "repositories_added" if event == "installation_repositories" else "repositories"
        payload = {
            "action": action,
            "installation": {"id": self.installation_id, "account": {"login": "octo"}},
            "sender": self.user_payload("alice"),
            key: listed,
        }
        return [(event, payload)]

    def log_delivery(
        self, guid: str, *, ok: bool, event: str = "issues", hours_ago: float = 1.0
    ) -> dict[str, Any]:
        """One attempt in the App's webhook delivery log (newest first when listed)."""
        record = {
            "id": next(self._ids),
            "guid": guid,
            "delivered_at": iso(datetime.now(UTC) - timedelta(hours=hours_ago)),
            "redelivery": False,
            "duration": 0.3,
            "status": "OK" if ok else "Invalid HTTP Response: 502",
            "status_code": 200 if ok else 502,
            "event": event,
            "action": "labeled",
            "installation_id": self.installation_id,
            "repository_id": None,
        }
        self.hook_deliveries.append(record)
        return record

    def manifest_code(self, *, app_id: int = 4242, slug: str = "incident-flow-test") -> str:
        """A code GitHub would hand back after registering an App from a manifest."""
        code = f"code-{uuid.uuid4().hex[:8]}"
        self.manifests[code] = {
            "id": app_id,
            "slug": slug,
            "node_id": f"A_{app_id}",
            "name": "Incident Flow (test)",
            "owner": {"login": "octo", "type": "Organization"},
            "html_url": f"https://github.com/apps/{slug}",
            "client_id": f"Iv1.{uuid.uuid4().hex[:16]}",
            "client_secret": uuid.uuid4().hex * 2,
            "webhook_secret": uuid.uuid4().hex,
            "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIfake\nline2\n"
            "-----END RSA PRIVATE KEY-----\n",
        }
        return code

    def oauth_code(self, login: str) -> str:
        """A code GitHub's OAuth page would hand back after `login` authorised the App."""
        code = f"oauth-{uuid.uuid4().hex[:8]}"
        self.oauth_codes[code] = login
        return code

    def _app_routes(self) -> list[Route]:
        return [
            Route("/app", self.get_app, methods=["GET"]),
            Route("/app/installations/{iid:int}/access_tokens", self.token, methods=["POST"]),
            Route("/app/hook/deliveries", self.list_hook_deliveries, methods=["GET"]),
            Route("/app/hook/deliveries/{did:int}/attempts", self.redeliver, methods=["POST"]),
            Route("/app/installations", self.list_installations, methods=["GET"]),
            Route("/app-manifests/{code}/conversions", self.convert_manifest, methods=["POST"]),
            Route("/login/oauth/access_token", self.oauth_token, methods=["POST"]),
            Route("/user", self.get_user, methods=["GET"]),
            Route("/repos/{owner}/{name}", self.get_repo, methods=["GET"]),
            Route("/repos/{owner}/{name}/installation", self.repo_installation, methods=["GET"]),
        ]

    def _jwt(self, request: Request) -> bool:
        return request.headers.get("authorization", "").startswith("Bearer ey")

    def _user_login(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        return self.user_tokens.get(token)

    async def get_app(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"message": "JWT required"}, 401)
        return JSONResponse({"id": 1, "slug": APP_SLUG, "name": "Incident Flow"})

    async def token(self, request: Request) -> Response:
        self.tokens_issued += 1
        token = f"ghs_{uuid.uuid4().hex}"
        self.installation_tokens[token] = self.github_time() + 3600
        expires = datetime.fromtimestamp(self.installation_tokens[token], UTC)
        return JSONResponse({"token": token, "expires_at": iso(expires)}, 201)

    async def list_hook_deliveries(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        per_page = int(request.query_params.get("per_page", 30))
        start = int(request.query_params.get("cursor", 0))
        newest_first = sorted(self.hook_deliveries, key=lambda d: d["delivered_at"], reverse=True)
        page = newest_first[start : start + per_page]
        headers = {}
        if start + per_page < len(newest_first):
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            headers["link"] = f'<{url}?per_page={per_page}&cursor={start + per_page}>; rel="next"'
        return JSONResponse(page, headers=headers)

    async def redeliver(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        did = request.path_params["did"]
        original = next((d for d in self.hook_deliveries if d["id"] == did), None)
        if original is None:
            return JSONResponse({"message": "Not Found"}, 404)
        self.redelivered.append(did)
        self.hook_deliveries.append(
            {
                **original,
                "id": next(self._ids),
                "redelivery": True,
                "status": "OK",
                "status_code": 200,
                "delivered_at": iso(datetime.now(UTC)),
            }
        )
        return JSONResponse({}, 202)

    async def list_installations(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        return JSONResponse([{"id": self.installation_id, "account": {"login": "octo"}}])

    async def convert_manifest(self, request: Request) -> Response:
        app = self.manifests.pop(request.path_params["code"], None)
        if app is None:  # codes work once, within an hour
            return JSONResponse({"message": "Not Found"}, 404)
        return JSONResponse(app, 201)

    async def oauth_token(self, request: Request) -> Response:
        form = await request.form()
        login = self.oauth_codes.pop(str(form.get("code")), None)
        if login is None or not form.get("client_secret"):
            return JSONResponse({"error": "bad_verification_code"})
        token = f"ghu_{uuid.uuid4().hex}"
        self.user_tokens[token] = login
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": ""})

    async def get_user(self, request: Request) -> Response:
        login = self._user_login(request)
        if login is None:
            return JSONResponse({"message": "Requires authentication"}, 401)
        return JSONResponse(self.user_payload(login))

    async def get_repo(self, request: Request) -> Response:
        repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['name']}")
        if repo is None:
            return JSONResponse({"message": "Not Found"}, 404)
        login = self._user_login(request)
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ghu_") and login is None:
            return JSONResponse({"message": "Bad credentials"}, 401)  # expired or revoked
        # A private repository exists only for the App and for users who can read it.
        if repo.private and not self._is_app(request) and login not in repo.permissions:
            return JSONResponse({"message": "Not Found"}, 404)
        return JSONResponse(repo.payload)

    async def repo_installation(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        if f"{request.path_params['owner']}/{request.path_params['name']}" not in self.repos:
            return JSONResponse({"message": "Not Found"}, 404)
        return JSONResponse({"id": self.installation_id, "app_slug": APP_SLUG})
