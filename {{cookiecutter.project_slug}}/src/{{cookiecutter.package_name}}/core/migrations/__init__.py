"""Versioned schema and data migrations: `python -m {{ cookiecutter.package_name }}.core.migrations`.

Each migration is a module `NNNN_<name>.py` in this folder with an `upgrade(db)` function
(and `downgrade(db)` where one can exist); `db` is a sync pymongo `Database`. They run in
the order of their numbers, once each: the `migrations` collection records what ran
(checksum, state, when, by which host), and a lease in `migration_lock` makes sure two
runners started at once never run the same migration twice. `runner` does the work,
`operations` holds the helpers migrations call (collections with validators, indexes),
`states` what a service worker knows of them (the migration gate's cache, `gate.py`).
"""
