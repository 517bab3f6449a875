"""A bare Flask + MongoClient items API: the benchmark's baseline, no layers.

Written the way Flask's documentation recommends: views return dicts, which the app's
JSON provider serialises (extended for datetimes, as its docs show); bodies are read
with `request.get_json()` and not validated. Same routes and JSON shapes as the
generated service. The harness runs it twice: with the driver's defaults (B) and with
the generated service's driver options in the URI (B-durable).
"""

import os
import time
from datetime import UTC, datetime

from bson import ObjectId
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from pymongo import MongoClient, ReturnDocument

STARTED = time.monotonic()


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, writing datetimes as ISO 8601 (RFC 3339) like the service."""

    @staticmethod
    def default(o):
        if isinstance(o, datetime):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


app = Flask(__name__)
app.json = JSONProvider(app)
# Created when each gunicorn worker imports the module (no preload: not fork-safe).
client = MongoClient(os.environ["BARE_MONGO_URI"], tz_aware=True)
items = client[os.environ.get("BARE_MONGO_DATABASE", "bench")]["items"]


def to_item(doc):
    doc["id"] = str(doc.pop("_id"))
    return doc


@app.get("/health/live")
def live():
    return {"status": "ok", "uptime_seconds": time.monotonic() - STARTED}


@app.get("/health/ready")
def ready():
    client.admin.command("ping")
    return {"status": "ok", "checks": {"mongodb": "ok"}}


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
    doc = items.find_one_and_update(
        {"_id": ObjectId(item_id)},
        {"$set": {**request.get_json(), "updated_at": datetime.now(UTC)}, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    return to_item(doc)
