"""The floor of bench/api.py (a helper, not a benchmark): the same web stack as `scaleset serve`,
doing nothing but answer fixed JSON bodies.

    python bench/_api_floor.py BODIES.json PORT_FILE

Starlette on uvicorn, run the way scaleset/cli/serve.py runs it: on uvloop (`uvloop.run`), uvicorn's
httptools parser, lifespan off, no access log, keep-alive 75 s. One route, any path, answering
`JSONResponse(body)`, encoded on every request as a handler's would be: BODIES.json holds
{"page": ..., "other": ...} and optionally more page bodies ("page10": ...), "page" for paths ending
in /virtualMachines, or the one the query parameter `floor-body` names there; "other" for any other
path. Writes the port it listens on (any free one on 127.0.0.1) to PORT_FILE once it does.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def main() -> None:
    bodies = json.loads(Path(sys.argv[1]).read_text())
    port_file = Path(sys.argv[2])

    async def answer(request: Request) -> Response:
        if not request.url.path.endswith("/virtualMachines"):
            return JSONResponse(bodies["other"])
        # The query is parsed on the list's path only (~3 µs, as a list handler reads its $skiptoken):
        # the scale set's body, ~55 µs a request, costs what it did.
        return JSONResponse(bodies[request.query_params.get("floor-body", "page")])

    app = Starlette(routes=[Route("/{path:path}", answer)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, loop="none", http="httptools", lifespan="off",
                            access_log=False, log_level="warning", timeout_keep_alive=75)
    server = uvicorn.Server(config)

    async def serve() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving
                return
            await asyncio.sleep(0.02)
        staging = port_file.with_suffix(".tmp")
        staging.write_text(str(server.servers[0].sockets[0].getsockname()[1]))
        staging.replace(port_file)
        await serving

    uvloop.run(serve())


if __name__ == "__main__":
    main()
