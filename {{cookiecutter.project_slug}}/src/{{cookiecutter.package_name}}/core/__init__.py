"""The template-owned part of the service: keep it as the template ships it.

Everything a resource needs but does not write: the resource core (`crud`) and the
infrastructure around it: settings, the MongoDB client (`db`), access control
(`access`, `guard`), problem details (`problems`, `handlers`), logs, metrics, request
middleware, health probes, gunicorn workers and the migrations runner. `cruft update`
brings its fixes to every resource at once; what a team writes lives in `resources/`.
"""
