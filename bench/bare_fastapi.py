"""A bare FastAPI + AsyncMongoClient (or Motor) items API: the benchmark's baseline, no layers.

Written the way FastAPI's tutorial recommends: every route declares its response model
(a return annotation), so FastAPI serialises through pydantic, not `jsonable_encoder`;
bodies are plain pydantic models (field types only, no limits). Same routes and JSON
shapes as the generated service. The harness runs it twice: with the driver's defaults
(B) and with the generated service's driver options in the URI (B-durable), on the
same async driver as the variant it is compared with (`BARE_DRIVER`: `pymongo`, the
default, or `motor`).
"""

import os
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bson import ObjectId
from fastapi import FastAPI, Request
from pydantic import BaseModel
from pymongo import AsyncMongoClient, ReturnDocument

STARTED = time.monotonic()


class ItemIn(BaseModel):
    name: str
    description: str | None = None
    tags: list[str] = []


class ItemChanges(BaseModel):
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None


class Item(BaseModel):
    id: str
    name: str
    description: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    version: int


class ItemPage(BaseModel):
    items: list[Item]
    page: int
    per_page: int
    total: int


class Liveness(BaseModel):
    status: str = "ok"
    uptime_seconds: float


class Readiness(BaseModel):
    status: str = "ok"
    checks: dict[str, str]


@asynccontextmanager
async def lifespan(app):
    uri = os.environ["BARE_MONGO_URI"]
    if os.environ.get("BARE_DRIVER", "pymongo") == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(uri, tz_aware=True)
    else:
        client = AsyncMongoClient(uri, tz_aware=True)
    app.state.client = client
    app.state.items = client[os.environ.get("BARE_MONGO_DATABASE", "bench")]["items"]
    yield
    closing = client.close()  # Motor's close() is not a coroutine
    if closing is not None:
        await closing


app = FastAPI(lifespan=lifespan)


def to_item(doc) -> Item:
    doc["id"] = str(doc.pop("_id"))
    return Item(**doc)


@app.get("/health/live")
async def live() -> Liveness:
    return Liveness(uptime_seconds=time.monotonic() - STARTED)


@app.get("/health/ready")
async def ready(request: Request) -> Readiness:
    await request.app.state.client.admin.command("ping")
    return Readiness(checks={"mongodb": "ok"})


@app.get("/api/v1/items")
async def get_items(request: Request, page: int = 1, per_page: int = 20) -> ItemPage:
    items = request.app.state.items
    cursor = items.find(
        {}, sort=[("created_at", -1), ("_id", -1)], skip=(page - 1) * per_page, limit=per_page
    )
    docs = [to_item(doc) async for doc in cursor]
    total = await items.count_documents({})
    return ItemPage(items=docs, page=page, per_page=per_page, total=total)


@app.get("/api/v1/items/{item_id}")
async def get_item(request: Request, item_id: str) -> Item:
    return to_item(await request.app.state.items.find_one({"_id": ObjectId(item_id)}))


@app.post("/api/v1/items", status_code=201)
async def create_item(request: Request, item_in: ItemIn) -> Item:
    doc = item_in.model_dump()
    doc["created_at"] = doc["updated_at"] = datetime.now(UTC)
    doc["version"] = 1
    await request.app.state.items.insert_one(doc)
    return to_item(doc)


@app.patch("/api/v1/items/{item_id}")
async def update_item(request: Request, item_id: str, changes: ItemChanges) -> Item:
    doc = await request.app.state.items.find_one_and_update(
        {"_id": ObjectId(item_id)},
        {
            "$set": {**changes.model_dump(exclude_unset=True), "updated_at": datetime.now(UTC)},
            "$inc": {"version": 1},
        },
        return_document=ReturnDocument.AFTER,
    )
    return to_item(doc)
