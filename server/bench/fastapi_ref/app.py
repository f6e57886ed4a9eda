"""The stack Finstage replaces, at its cheapest: FastAPI on uvicorn, one worker,
serving the two JSON answers that server/bench/http.sh compares.

The answers are Finstage's own, fetched once by http.sh and written to
$FASTAPI_REF_DATA/{quotes,bars}.json. They are read at start-up and returned as
pre-encoded bytes: no pydantic model, no JSON encoding, no query parsing, no
database. Whatever the reference does per request is the framework's floor, so
a ratio against it flatters the reference rather than us.
"""

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

_DATA = Path(os.environ["FASTAPI_REF_DATA"])
_QUOTES = (_DATA / "quotes.json").read_bytes()
_BARS = (_DATA / "bars.json").read_bytes()

# No OpenAPI or docs routes: nothing the benchmark asks for, and fewer routes
# to match against.
app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


# `async def`: a plain `def` would be run in the thread pool, a hop per request
# that a fair baseline should not pay. The query string (`?symbols=...`,
# `?timeframe=...&limit=...`) is accepted and ignored.
@app.get("/api/v1/quotes")
async def quotes() -> Response:
    return Response(content=_QUOTES, media_type="application/json")


@app.get("/api/v1/symbols/AAPL/bars")
async def bars() -> Response:
    return Response(content=_BARS, media_type="application/json")
