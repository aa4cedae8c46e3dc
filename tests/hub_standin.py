"""A local stand-in for the HuggingFace Hub's HTTP API, enough for `HfApi.create_repo` and
`HfApi.upload_folder` of small files (uploaded "regular", base64 in the commit, no LFS).

It stores what a client commits under `root/<repo_type>s/<namespace>/<name>/` and records every
request, so a test can check what the real client sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from pathlib import Path

from aiohttp import web


class HubStandIn:
    def __init__(self, root: Path, token: str) -> None:
        self.root = Path(root)
        self.token = token
        self.requests: list[tuple[str, str]] = []
        self.commits: list[dict] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _create(self, request: web.Request) -> web.Response:
        self.requests.append(("create", request.path))
        if not self._authorized(request):
            return web.json_response({"error": "Invalid credentials"}, status=401)
        body = await request.json()
        name = f"{body.get('organization') or 'me'}/{body['name']}" if "/" not in body["name"] else body["name"]
        (self.root / f"{body.get('type', 'model')}s" / name).mkdir(parents=True, exist_ok=True)
        return web.json_response({"url": f"{self.url}/datasets/{name}", "name": name})

    async def _validate_yaml(self, request: web.Request) -> web.Response:
        self.requests.append(("validate-yaml", request.path))
        return web.json_response({"errors": [], "warnings": []})

    async def _preupload(self, request: web.Request) -> web.Response:
        self.requests.append(("preupload", request.path))
        body = await request.json()
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in body.get("files", [])]
        return web.json_response({"files": files})

    async def _commit(self, request: web.Request) -> web.Response:
        self.requests.append(("commit", request.path))
        if not self._authorized(request):
            return web.json_response({"error": "Invalid credentials"}, status=401)
        repo_type, namespace, name = request.match_info["type"], request.match_info["ns"], request.match_info["name"]
        target = self.root / repo_type / namespace / name
        text = await request.text()
        header, files = {}, []
        for line in text.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "header":
                header = item["value"]
            elif item["key"] == "file":
                value = item["value"]
                data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else value["content"].encode()
                path = target / value["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                files.append(value["path"])
        oid = hashlib.sha1(text.encode()).hexdigest()
        self.commits.append({"repo": f"{namespace}/{name}", "summary": header.get("summary", ""), "files": files})
        return web.json_response({"commitUrl": f"{self.url}/{repo_type}/{namespace}/{name}/commit/{oid}", "commitOid": oid, "success": True})

    async def _other(self, request: web.Request) -> web.Response:
        self.requests.append(("unknown", f"{request.method} {request.path}"))
        return web.json_response({"error": "not in the stand-in"}, status=404)

    def start(self) -> HubStandIn:
        app = web.Application(client_max_size=1024**3)
        app.router.add_post("/api/repos/create", self._create)
        app.router.add_post("/api/validate-yaml", self._validate_yaml)
        app.router.add_post("/api/{type}/{ns}/{name}/preupload/{rev}", self._preupload)
        app.router.add_post("/api/{type}/{ns}/{name}/commit/{rev}", self._commit)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._thread.start()

        async def serve() -> str:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runner = runner
            return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

        self.url = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
