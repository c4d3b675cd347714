"""The yardstick: a FastAPI app that only checks the HMAC and answers 202 (stores nothing)."""

from __future__ import annotations

import hashlib
import hmac
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()

app = FastAPI()


@app.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"ok": True})


@app.post("/api/github/webhooks")
async def receive(request: Request) -> JSONResponse:
    body = await request.body()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    given = request.headers.get("x-hub-signature-256", "")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return JSONResponse({"message": "signature missing or wrong"}, status_code=401)
    return JSONResponse({"message": "queued"}, status_code=202)
