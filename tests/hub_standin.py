"""Local stand-ins for HTTP services that rchain's real clients talk to in tests. The hubs, enough
for the real clients to create a dataset repository and upload a folder to it:

* `HubStandIn`: the HuggingFace Hub, for `HfApi.create_repo` and `HfApi.upload_folder` of small
  files (uploaded "regular", base64 in the commit, no LFS);
* `ModelScopeStandIn`: ModelScope, for `modelscope.hub.api.HubApi.create_repo` and
  `upload_folder`: the legacy `/api/v1` surface with its LFS batch API (blobs PUT to the href it
  hands out) and its commit endpoint.

Each stores what a client commits under `root/<repo_type>s/<namespace>/<name>/` and records every
request, so a test can check what the real client sent.

And `JudgeStandIn`: an OpenAI-compatible chat endpoint that streams a judge's one-word answer,
chosen by the test per reply.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
from pathlib import Path

from aiohttp import web


class _StandIn:
    def __init__(self, root: Path, token: str) -> None:
        self.root = Path(root)
        self.token = token
        self.requests: list[tuple[str, str]] = []
        self.commits: list[dict] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self):
        app = web.Application(client_max_size=1024**3)
        self.routes(app)
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

    async def _other(self, request: web.Request) -> web.Response:
        self.requests.append(("unknown", f"{request.method} {request.path}"))
        return web.json_response({"error": "not in the stand-in"}, status=404)

    def _store(self, repo_dir: Path, path: str, data: bytes) -> None:
        target = repo_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


class HubStandIn(_StandIn):
    """The HuggingFace Hub."""

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
                self._store(target, value["path"], data)
                files.append(value["path"])
        oid = hashlib.sha1(text.encode()).hexdigest()
        self.commits.append({"repo": f"{namespace}/{name}", "summary": header.get("summary", ""), "files": files, "t": time.time()})
        return web.json_response({"commitUrl": f"{self.url}/{repo_type}/{namespace}/{name}/commit/{oid}", "commitOid": oid, "success": True})

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/repos/create", self._create)
        app.router.add_post("/api/validate-yaml", self._validate_yaml)
        app.router.add_post("/api/{type}/{ns}/{name}/preupload/{rev}", self._preupload)
        app.router.add_post("/api/{type}/{ns}/{name}/commit/{rev}", self._commit)


class ModelScopeStandIn(_StandIn):
    """ModelScope's legacy API: the client authenticates with the token as the `m_session_id`
    cookie (and a Bearer header); answers are `{"Code", "Data", "Success"}` envelopes."""

    def __init__(self, root: Path, token: str) -> None:
        super().__init__(root, token)
        self.created: list[dict] = []
        self.blobs: dict[str, bytes] = {}

    def _authorized(self, request: web.Request) -> bool:
        return request.cookies.get("m_session_id") == self.token or request.headers.get("Authorization") == f"Bearer {self.token}"

    @staticmethod
    def _envelope(data: object, status: int = 200, code: int = 200, message: str = "success") -> web.Response:
        return web.json_response({"Code": code, "Data": data, "Message": message, "Success": status < 400}, status=status)

    def _denied(self) -> web.Response:
        return self._envelope(None, 401, 10010103009, "AccessToken is invalid or expired")

    async def _create(self, request: web.Request) -> web.Response:
        self.requests.append(("create", request.path))
        if not self._authorized(request):
            return self._denied()
        form = await request.post()
        repo = self.root / "datasets" / str(form["Owner"]) / str(form["Name"])
        if repo.exists():
            return self._envelope(None, 409, 10020101001, "dataset already exists")
        repo.mkdir(parents=True)
        self.created.append({key: str(value) for key, value in form.items()})
        return self._envelope({"Path": str(form["Owner"]), "Name": str(form["Name"])})

    async def _lfs_batch(self, request: web.Request) -> web.Response:
        self.requests.append(("lfs-batch", request.path))
        if not self._authorized(request):
            return self._denied()
        body = await request.json()
        objects = []
        for obj in body["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.blobs:
                entry["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{obj['oid']}"}}
            objects.append(entry)
        return self._envelope({"objects": objects})

    async def _put_blob(self, request: web.Request) -> web.Response:
        self.requests.append(("put-blob", request.path))
        if not self._authorized(request):
            return self._denied()
        data = await request.read()
        oid = request.match_info["oid"]
        if hashlib.sha256(data).hexdigest() != oid:
            return self._envelope(None, 400, 400, "sha256 does not match the object id")
        self.blobs[oid] = data
        return self._envelope({"oid": oid})

    async def _commit(self, request: web.Request) -> web.Response:
        self.requests.append(("commit", request.path))
        if not self._authorized(request):
            return self._denied()
        repo = self.root / "datasets" / request.match_info["owner"] / request.match_info["name"]
        if not repo.exists():
            return self._envelope(None, 404, 404, "dataset not found")
        body = await request.json()
        files = []
        for action in body["actions"]:
            if action["type"] == "lfs":
                if action["sha256"] not in self.blobs:
                    return self._envelope(None, 400, 400, f"{action['path']}: blob {action['sha256']} was never uploaded")
                data = self.blobs[action["sha256"]]
            else:
                data = base64.b64decode(action["content"]) if action.get("encoding") == "base64" else action["content"].encode()
            self._store(repo, action["path"], data)
            files.append(action["path"])
        self.commits.append({"repo": f"{request.match_info['owner']}/{request.match_info['name']}", "summary": body["commit_message"], "files": files, "t": time.time()})
        return self._envelope({"CommitId": hashlib.sha1(json.dumps(body).encode()).hexdigest()})

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/datasets", self._create)
        app.router.add_post("/api/v1/repos/datasets/{owner}/{name}/info/lfs/objects/batch", self._lfs_batch)
        app.router.add_put("/lfs-upload/{oid}", self._put_blob)
        app.router.add_post("/api/v1/repos/datasets/{owner}/{name}/commit/{rev}", self._commit)


class JudgeStandIn(_StandIn):
    """Streams `answers[key]` for the first key found in the prompt ("YES", "NO", anything)."""

    def __init__(self, answers: dict[str, str], token: str) -> None:
        super().__init__(Path("."), token)
        self.answers = answers
        self.prompts: list[str] = []

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("chat", request.headers.get("Authorization", "")))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": {"message": "Invalid API key"}}, status=401)
        body = await request.json()
        text = body["messages"][-1]["content"]
        self.prompts.append(text)
        said = next((answer for key, answer in self.answers.items() if key in text), "NO")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {"content": said}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": 1, "total_tokens": len(text) // 4 + 1}},
        ]
        for chunk in chunks:
            await response.write(b"data: " + json.dumps({"id": "j", "object": "chat.completion.chunk", "model": body["model"], **chunk}).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
