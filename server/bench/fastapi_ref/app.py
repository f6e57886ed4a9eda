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


# The same answers as the stack this project replaces actually built them:
# the data held in memory as Python objects (the seed system kept its latest
# quotes in a dict), the query parsed, and the answer built per request from
# pydantic models that FastAPI validates and encodes. The quotes target's
# ratio is measured against this; the routes above are the framework's floor,
# reported beside it.
import json  # noqa: E402

from pydantic import BaseModel  # noqa: E402


class Quote(BaseModel):
    symbol: str
    price: float
    prev_close: float | None
    ts: int
    simulated: bool


class Quotes(BaseModel):
    quotes: list[Quote]
    missing: list[str]


class Bar(BaseModel):
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarsPage(BaseModel):
    symbol: str
    timeframe: str
    bars: list[Bar]
    next_after: int | None


_LATEST = {q["symbol"]: q for q in json.loads(_QUOTES)["quotes"]}
_BAR_ROWS = json.loads(_BARS)


@app.get("/typical/api/v1/quotes", response_model=Quotes)
async def quotes_typical(symbols: str) -> Quotes:
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols.split(",") if s.strip()))
    return Quotes(
        quotes=[Quote(**_LATEST[s]) for s in wanted if s in _LATEST],
        missing=[s for s in wanted if s not in _LATEST],
    )


@app.get("/typical/api/v1/symbols/AAPL/bars", response_model=BarsPage)
async def bars_typical(timeframe: str = "1d", limit: int = 500) -> BarsPage:
    rows = _BAR_ROWS["bars"][:limit]
    return BarsPage(
        symbol=_BAR_ROWS["symbol"],
        timeframe=timeframe,
        bars=[Bar(**b) for b in rows],
        next_after=_BAR_ROWS.get("next_after"),
    )
