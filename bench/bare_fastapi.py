"""A bare FastAPI + AsyncMongoClient items API: the benchmark's baseline, no layers."""

import os
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bson import ObjectId
from fastapi import FastAPI, Request
from pymongo import AsyncMongoClient, ReturnDocument

STARTED = time.monotonic()


@asynccontextmanager
async def lifespan(app):
    client = AsyncMongoClient(os.environ["BARE_MONGO_URI"], tz_aware=True)
    app.state.items = client[os.environ.get("BARE_MONGO_DATABASE", "bench")]["items"]
    yield
    await client.close()


app = FastAPI(lifespan=lifespan)


def to_item(doc):
    doc["id"] = str(doc.pop("_id"))
    return doc


@app.get("/health/live")
async def live():
    return {"status": "ok", "uptime_seconds": time.monotonic() - STARTED}


@app.get("/api/v1/items")
async def get_items(request: Request, page: int = 1, per_page: int = 20):
    items = request.app.state.items
    cursor = items.find(
        {}, sort=[("created_at", -1), ("_id", -1)], skip=(page - 1) * per_page, limit=per_page
    )
    docs = [to_item(doc) async for doc in cursor]
    total = await items.count_documents({})
    return {"items": docs, "page": page, "per_page": per_page, "total": total}


@app.get("/api/v1/items/{item_id}")
async def get_item(request: Request, item_id: str):
    return to_item(await request.app.state.items.find_one({"_id": ObjectId(item_id)}))


@app.post("/api/v1/items", status_code=201)
async def create_item(request: Request):
    doc = await request.json()
    doc["created_at"] = doc["updated_at"] = datetime.now(UTC)
    doc["version"] = 1
    await request.app.state.items.insert_one(doc)
    return to_item(doc)


@app.patch("/api/v1/items/{item_id}")
async def update_item(request: Request, item_id: str):
    changes = {**await request.json(), "updated_at": datetime.now(UTC)}
    doc = await request.app.state.items.find_one_and_update(
        {"_id": ObjectId(item_id)},
        {"$set": changes, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    return to_item(doc)
