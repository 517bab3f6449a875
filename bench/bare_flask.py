"""A bare Flask + MongoClient items API: the benchmark's baseline, no layers."""

import os
import time
from datetime import UTC, datetime

from bson import ObjectId
from flask import Flask, request
from pymongo import MongoClient, ReturnDocument

STARTED = time.monotonic()
app = Flask(__name__)
# Created when each gunicorn worker imports the module (no preload: not fork-safe).
items = MongoClient(os.environ["BARE_MONGO_URI"], tz_aware=True)[
    os.environ.get("BARE_MONGO_DATABASE", "bench")
]["items"]


def to_item(doc):
    doc["id"] = str(doc.pop("_id"))
    doc["created_at"] = doc["created_at"].isoformat()
    doc["updated_at"] = doc["updated_at"].isoformat()
    return doc


@app.get("/health/live")
def live():
    return {"status": "ok", "uptime_seconds": time.monotonic() - STARTED}


@app.get("/api/v1/items")
def get_items():
    page = request.args.get("page", 1, type=int)
    per_page = request.args.get("per_page", 20, type=int)
    cursor = items.find(
        {}, sort=[("created_at", -1), ("_id", -1)], skip=(page - 1) * per_page, limit=per_page
    )
    docs = [to_item(doc) for doc in cursor]
    return {"items": docs, "page": page, "per_page": per_page, "total": items.count_documents({})}


@app.get("/api/v1/items/<item_id>")
def get_item(item_id):
    return to_item(items.find_one({"_id": ObjectId(item_id)}))


@app.post("/api/v1/items")
def create_item():
    doc = request.get_json()
    doc["created_at"] = doc["updated_at"] = datetime.now(UTC)
    doc["version"] = 1
    items.insert_one(doc)
    return to_item(doc), 201


@app.patch("/api/v1/items/<item_id>")
def update_item(item_id):
    changes = {**request.get_json(), "updated_at": datetime.now(UTC)}
    doc = items.find_one_and_update(
        {"_id": ObjectId(item_id)},
        {"$set": changes, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    return to_item(doc)
