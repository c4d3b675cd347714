"""The calls the app makes on issues and comments, each safe to repeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from app.domain.plan import marker
from app.github.answers import GitHubRefused, response_time
from app.github.retry import RetryingClient


class Client(RetryingClient):
    """The calls the app makes, each retried by one policy and safe to repeat."""

    # Issues -------------------------------------------------------------------------

    async def get_issue(self, repo: str, number: int) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("GET", f"/repos/{repo}/issues/{number}")
        return data

    async def read_issue(self, repo: str, number: int) -> tuple[dict[str, Any], datetime | None]:
        """The issue, and GitHub's time of the read (its Date header) when it gave one."""
        response = await self.request("GET", f"/repos/{repo}/issues/{number}", want_response=True)
        data: dict[str, Any] = response.json()
        return data, response_time(response)

    async def add_labels(self, repo: str, number: int, names: list[str]) -> None:
        await self.request("POST", f"/repos/{repo}/issues/{number}/labels", json={"labels": names})

    async def remove_label(self, repo: str, number: int, name: str) -> None:
        # githubkit does not quote the name: "area/db ops" and emoji must be quoted here.
        path = f"/repos/{repo}/issues/{number}/labels/{quote(name, safe='')}"
        await self.request("DELETE", path, ok_statuses=(404,))

    async def update_issue(self, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self.request(
            "PATCH", f"/repos/{repo}/issues/{number}", json=fields
        )
        return data

    async def create_issue(self, repo: str, **fields: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("POST", f"/repos/{repo}/issues", json=fields)
        return data

    async def change_assignees(
        self, repo: str, number: int, *, add: list[str], remove: list[str]
    ) -> None:
        # Adding and removing leave other assignees alone (a PATCH would replace them all).
        path = f"/repos/{repo}/issues/{number}/assignees"
        if remove:
            await self.request("DELETE", path, json={"assignees": remove})
        if add:
            await self.request("POST", path, json={"assignees": add})

    async def add_sub_issue(self, repo: str, parent: int, child_id: int) -> None:
        """Link an issue (by its id, not number) under `parent`; linking twice is fine."""
        try:
            await self.request(
                "POST", f"/repos/{repo}/issues/{parent}/sub_issues", json={"sub_issue_id": child_id}
            )
        except GitHubRefused as exc:
            if exc.status != 422:  # 422: already a sub-issue of it
                raise

    async def list_sub_issues(self, repo: str, parent: int) -> list[dict[str, Any]]:
        return await self.paginate(f"/repos/{repo}/issues/{parent}/sub_issues")

    async def find_issue(
        self, repo: str, key: str, *, label: str | None = None
    ) -> dict[str, Any] | None:
        """The issue the app opened with this key's marker, among the newest with `label`."""
        params: dict[str, Any] = {
            "state": "all",
            "sort": "created",
            "direction": "desc",
            "per_page": 100,
        }
        if label:
            params["labels"] = label
        tag = marker(key)
        for issue in await self.request("GET", f"/repos/{repo}/issues", params=params) or []:
            if tag in (issue.get("body") or ""):
                return dict(issue)
        return None

    # Comments -----------------------------------------------------------------------

    async def list_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return await self.paginate(f"/repos/{repo}/issues/{number}/comments")

    async def find_comment(self, repo: str, number: int, key: str) -> dict[str, Any] | None:
        tag = marker(key)
        for comment in await self.list_comments(repo, number):
            if tag in (comment.get("body") or ""):
                return comment
        return None

    async def post_comment(
        self, repo: str, number: int, key: str, body: str, *, check_first: bool = False
    ) -> dict[str, Any]:
        """Post a keyed comment once: a POST retried after a 5xx first looks for its marker."""
        if check_first:
            existing = await self.find_comment(repo, number, key)
            if existing is not None:
                return existing
        data: dict[str, Any] = await self.request(
            "POST",
            f"/repos/{repo}/issues/{number}/comments",
            json={"body": f"{body}\n\n{marker(key)}"},
            before_retry=lambda: self.find_comment(repo, number, key),
        )
        return data

    async def update_comment(self, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.request(
            "PATCH", f"/repos/{repo}/issues/comments/{comment_id}", json={"body": body}
        )
        return data
