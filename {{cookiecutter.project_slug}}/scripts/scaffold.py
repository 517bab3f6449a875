"""Add a resource (`make resource`), and rename the example resource at bake time.

`python scripts/scaffold.py order [--plural orders]` (what `make resource NAME=order`
runs) checks the new name, then writes `src/<package>/resources/orders/` (the
declaration: an `Order` with a unique, sortable `name`, and `ORDERS = Resource(...)`),
its migration creating the collection (`resources/orders/migrations/000N_create_orders.py`,
N the next number over every migration of the project), its test data
(`tests/resources/orders/builders.py`, which the core's tests run on), and adds
`from .orders import ORDERS` and `ORDERS,` to `resources/__init__.py`. Nothing is copied
from another resource: the mechanisms are the core's (`core/crud/`).
It checks everything before it writes: a refusal is one `ERROR: ...` line on stderr,
exit status 1 and no file written. The template's post-generation hook uses the rename
engine below on the example resource's own files (`resources/items/`, its tests and the
registry) to give it the name of the `resource_name` prompt.

Rename rules (old `item`/`items`, new `order_line`/`order_lines`):
- Each name has five forms: snake `order_line`, Camel `OrderLine`, UPPER `ORDER_LINE`,
  human `order line` and capitalised `Order line` (the last two in prose only), singular
  and plural. The plural is tried first.
- Identifiers (Python names, code strings, file names): a snake or UPPER form is renamed
  where it is a whole word between `_`s or the ends (`item_id` -> `order_line_id`,
  `get_items` -> `get_order_lines`, `ITEM_ID` -> `ORDER_LINE_ID`); a Camel form where no
  upper-case letter comes before it and no lower-case letter after it (`ItemRead` ->
  `OrderLineRead`). Never inside another word: `__getitem__`, `itemgetter`, `Itemize`.
- The bare identifier `items` is the list envelope's field and a dict method: it stays
  (`page.items`, `dict.items()`, `ItemPage(items=...)`) except in an import's module
  path (`from .items import ITEMS`). Library names in KEPT_IDENTIFIERS (`ItemsView`) stay.
- Code strings use the identifier forms: `"items"` -> `"order_lines"`,
  `"/api/v1/items/{item_id}"` -> `"/api/v1/order_lines/{order_line_id}"`.
- Prose (docstrings, comments, and strings with white space in them, such as messages):
  a standalone word takes the human form (`items` -> `order lines`, `Item` -> `Order
  line`) and its article follows the new word (`an item` -> `a book`); a word touching
  `_`, `.`, `/`, `{`, `}`, `(`, `=`, a backtick or a letter keeps the identifier form
  (`/api/v1/items` -> `/api/v1/order_lines`, `ItemRead` -> `OrderLineRead`).
- f-strings: the literal text as above, the expressions in braces as Python names.
- Text in `keep` (the package and project names, e.g. `item_service`) is never touched.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import io
import keyword
import re
import shutil
import string
import sys
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


def _words(text: str) -> frozenset[str]:
    """Return the white-space separated words of `text`."""
    return frozenset(text.split())


# Names up to this long keep every file that carries them formatted as ruff formats it
# (tests/test_bake.py bakes and `make resource`s the longest), so no bake needs tidying.
MAX_NAME_LENGTH = 26
SNAKE_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# The list envelope's key (`{"items": [...], "page", ...}`) for every resource.
ENVELOPE = "items"
# Library identifiers that look like a resource name but are not one.
KEPT_IDENTIFIERS = frozenset({"ItemsView"})
# Modules that hold no resource's names but JSON Schema keywords that look like the first
# resource's (`"items"`, `"maxItems"`): a bake's rename leaves them as they are.
# Modules and folders of the service and its tests that a resource must not shadow.
INFRASTRUCTURE = _words(
    """
    app app_fixtures builders clock conftest db docs documents errors etags handlers health
    idempotency k8s lifespan logs metrics middleware migrations mongo operations problems
    registry repository resources routes runner scaffold schemas scripts settings src tests
    timeouts workers
    """
)
# Words the resource code itself uses (fields, parameters, helpers, library names): a
# resource named after one of them would clash with it, and renaming that resource later
# would rename the other use too. tests/test_scaffold.py checks this covers the files.
RESERVED = _words(
    """
    caf composed crud declared decomposed expected filtered filters nfd plural sorts suffix
    suffixes upgrade war
    aaa ab about abp abstract accepts action added after again alias an annotated api app
    append application args ascending at attempt attempts aware bad base bbb bc blank blue
    blueprint bodies body bounds bp bson builders by bypass call capsys capture cases
    changed changes characters check checks child claim claimed clashing client close cls
    collection collscan colour command components config conflict constraints content
    context continued core count counted counter create created current cursor cursors
    custom data database date db deadline decode delete deleted dep dependencies depends
    derandomize descending description detail differs digest direction disagree doc document
    documents done drop dump duplicate encode ends endswith ensure epoch error errors etag
    etags event events examples exc exception exceptions exclude executor existing expire
    expires explain explained extensions extra failed failing failures false fastapi field
    fields final find fingerprint finish finished first fixture flask flight forbid found
    fromkeys futures gather ge get given good gt gte header headers hint home host httpx
    hypothesis id idempotency ids inc index indexes info information init insert inserted
    instance invalid invisible issue iterable iterator join key keys kwargs lamp large last
    le lease length level limit line link listed literal liveness loads loc location logged
    long lstrip lt lte malformed manager many mark media microsecond millisecond
    milliseconds mimetype mismatch missing mistyped mode model models module ms msg name
    names ne new nfc no none nope normalize now null ok old once one openapi options other
    out outcome over overflow overrides page parametrize params parse patch path pattern per
    ping plan planner pool position post precondition prefix problem problems properties put
    pydantic pymongo pytest queries query raised raises read readiness readouterr ready
    record red ref refused reject removed renamed renewed replace replaced replay repo
    repositories repository request require required resource response responses result
    results retention retry reused reverse router routes schema schemas scope search
    secantus second seconds secret self sequence server service shape shown signing skip
    sort spec splitlines stage stages startswith state status statuses step store stored
    strict strictly sub tag tags take taken tampered test testing tests text thread
    timedelta timeout timeouts title titles to too total true ttl tz tzinfo unchanged unique
    unreadable unset unsupported update updated uptime uri url utc utcnow valid validate
    validation validator value version versions visible walk warm winners winning workers
    worse write yesterday
    access another before caller change copies elsewhere err expired failure getlist later
    lines matched method of operation others output own principal quick refusal refuse
    replayed several stolen two unscoped until updates used
    backward equality examined execution forward ixscan returned shapes signs stats
    """
)
KINDS = ("snake", "camel", "upper", "human", "title")
IDENTIFIER_KINDS = ("snake", "camel", "upper")
# Which form a matched text is taken as when it could be several (`item` is snake and human).
PREFER_IDENTIFIER = ("snake", "camel", "upper", "human", "title")
PREFER_PROSE = ("human", "title", "upper", "snake", "camel")
WORD_BOUNDS = (r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])")
CAMEL_BOUNDS = (r"(?<![A-Z])", r"(?![a-z])")


class ScaffoldError(Exception):
    """A refusal: the message is printed as one `ERROR:` line."""


def plural(singular: str) -> str:
    """Return the English plural of a snake_case name (only its last word changes).

    `category` -> `categories` (`y` after a consonant), `box`/`bus`/`batch`/`wish` ->
    `boxes`/`buses`/`batches`/`wishes`, anything else + `s` (`order_line` -> `order_lines`).
    """
    if re.search(r"[^aeiou]y$", singular):
        return singular[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", singular):
        return singular + "es"
    return singular + "s"


def spell(word: str, kind: str) -> str:
    """Return the snake_case `word` in one of KINDS.

    `order_line`: snake `order_line`, camel `OrderLine`, upper `ORDER_LINE`,
    human `order line`, title `Order line`.
    """
    if kind == "camel":
        return "".join(part.capitalize() for part in word.split("_"))
    if kind == "upper":
        return word.upper()
    if kind == "human":
        return word.replace("_", " ")
    if kind == "title":
        return word[:1].upper() + word[1:].replace("_", " ")
    return word


@dataclass(frozen=True)
class Names:
    """A resource's name, singular and plural, in snake_case: `Names("book", "books")`."""

    singular: str
    plural: str

    def spell(self, kind: str, many: bool) -> str:
        """Return the plural (`many`) or singular name in `kind` (see `spell`)."""
        return spell(self.plural if many else self.singular, kind)


def names(singular: str, plural_name: str | None = None) -> Names:
    """Return the Names of `singular`, with `plural_name` or else the derived plural."""
    return Names(singular, plural_name or plural(singular))


def word_problem(label: str, word: str, package: str, existing: Iterable[str] = ()) -> str | None:
    """Return why `word` cannot name a resource (`label` says which answer it is), or None."""
    if len(word) > MAX_NAME_LENGTH:
        return f"{label} {word!r} is longer than {MAX_NAME_LENGTH} characters: choose a shorter one"
    if not SNAKE_NAME.fullmatch(word):
        return (
            f"{label} {word!r} is not a snake_case name: use lower-case letters, digits "
            "and single underscores, starting with a letter"
        )
    if keyword.iskeyword(word) or keyword.issoftkeyword(word):
        return f"{label} {word!r} is a Python keyword"
    if word in sys.stdlib_module_names:
        return f"{label} {word!r} shadows the standard-library module of that name"
    if word in dir(builtins):
        return f"{label} {word!r} shadows the Python built-in of that name"
    if word == package:
        return f"{label} {word!r} is the package name"
    if word in INFRASTRUCTURE:
        return f"{label} {word!r} is the name of a module of the service"
    if word in RESERVED or all(part in RESERVED for part in word.split("_")):
        return f"{label} {word!r} is a word the resource code already uses (a field or helper)"
    if word in existing:
        return f"{label} {word!r} already exists in the project"
    return None


def name_problem(
    singular: str, plural_name: str, package: str, existing: Iterable[str] = ()
) -> str | None:
    """Return why `singular`/`plural_name` cannot name a new resource, or None.

    Args:
        singular: The new resource's name, e.g. `order_line`.
        plural_name: Its plural, e.g. `order_lines`.
        package: The service's package name, which a resource must not shadow.
        existing: Names already taken in the project (resources, modules, folders).
    """
    existing = frozenset(existing)
    return (
        word_problem("resource name", singular, package, existing)
        or word_problem("resource plural", plural_name, package, existing)
        or (
            f"resource plural {plural_name!r} equals the singular: give a different plural"
            if plural_name == singular
            else None
        )
    )


def _pattern(text: str, kinds: list[tuple[str, bool]]) -> str:
    """Return the regex of one form: the text between its kind's word bounds."""
    before, after = CAMEL_BOUNDS if any(kind == "camel" for kind, _ in kinds) else WORD_BOUNDS
    return before + re.escape(text) + after


def _touches_code(text: str, start: int, end: int) -> bool:
    """Return True when text[start:end] is part of an identifier, path or code in prose."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    after_next = text[end + 1] if end + 1 < len(text) else " "
    return (
        before.isalnum()
        or before in '_./{}`\\"'
        or after.isalnum()
        or after in '_/{}`\\"(=['
        or (after == "." and (after_next.isalnum() or after_next == "_"))
    )


def _article(article: str, word: str) -> str:
    """Return the article (`a`/`an`, capitalised like `article`) for `word`."""
    chosen = "an" if word[:1].lower() in "aeiou" else "a"
    return chosen.capitalize() if article[0] == "A" else chosen


@dataclass
class Renamer:
    """Rename one resource's names to another's in Python source, prose and file names.

    `Renamer(names("item"), names("book"), keep=("item_service",))`; see the module
    docstring for the rules.
    """

    old: Names
    new: Names
    keep: tuple[str, ...] = ()
    _kinds: dict[str, list[tuple[str, bool]]] = field(init=False, repr=False)
    _identifier_re: re.Pattern[str] = field(init=False, repr=False)
    _prose_re: re.Pattern[str] = field(init=False, repr=False)
    _keep_re: re.Pattern[str] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Build the regular expressions of the old name's forms, longest first."""
        self._kinds = {}
        for many in (True, False):
            for kind in KINDS:
                self._kinds.setdefault(self.old.spell(kind, many), []).append((kind, many))
        texts = sorted(self._kinds, key=len, reverse=True)
        identifiers = [
            _pattern(text, self._kinds[text])
            for text in texts
            if any(kind in IDENTIFIER_KINDS for kind, _ in self._kinds[text])
        ]
        prose = [_pattern(text, self._kinds[text]) for text in texts]
        self._identifier_re = re.compile("(?P<word>" + "|".join(identifiers) + ")")
        self._prose_re = re.compile(
            r"(?:(?P<article>\b(?:[Aa]n?))(?P<gap>\s+`?))?(?P<word>" + "|".join(prose) + ")"
        )
        kept = sorted(self.keep, key=len, reverse=True)
        self._keep_re = re.compile("|".join(map(re.escape, kept))) if kept else None

    def identifier(self, name: str, *, module_path: bool = False) -> str:
        """Rename a Python name (`ItemRead` -> `BookRead`); bare `items` only in an import path."""
        if name in KEPT_IDENTIFIERS:
            return name
        if name == ENVELOPE == self.old.plural and not module_path:
            return name
        return self.code(name)

    def code(self, text: str) -> str:
        """Rename identifier forms in code text: `"/api/v1/items/{item_id}"`, a file name."""
        kept = self._kept_spans(text)
        return self._identifier_re.sub(lambda match: self._replace(match, kept, prose=False), text)

    def prose(self, text: str) -> str:
        """Rename in prose: human forms for words, identifier forms for code, articles fixed."""
        kept = self._kept_spans(text)
        return self._prose_re.sub(lambda match: self._replace(match, kept, prose=True), text)

    def python(self, source: str) -> str:
        """Rename in Python source, token by token; formatting and everything else stay."""
        lines = io.StringIO(source).readlines()
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))

        def offset(position: tuple[int, int]) -> int:
            return starts[position[0] - 1] + position[1]

        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        edits: list[tuple[int, int, str]] = []
        state = ""  # in an import: "from"/"import" (a module path), "names", "alias"
        previous: tokenize.TokenInfo | None = None  # the last token that is not NL/COMMENT
        index = 0
        while index < len(tokens):
            token = tokens[index]
            start, end = offset(token.start), offset(token.end)
            statement_start = previous is None or (
                previous.type in STATEMENT_BREAKS or previous.string == ";"
            )
            if token.type == tokenize.NEWLINE or token.string == ";":
                state = ""
            elif token.type == tokenize.NAME:
                if token.string == "from" and statement_start:
                    state = "from"
                elif token.string == "import" and (statement_start or state == "from"):
                    state = "names" if state == "from" else "import"
                elif token.string == "as" and state == "import":
                    state = "alias"
                else:
                    in_path = state in ("from", "import")
                    edits.append((start, end, self.identifier(token.string, module_path=in_path)))
                    state = "import" if state == "alias" else state
            elif token.type == tokenize.OP and token.string == "," and state == "alias":
                state = "import"
            elif token.type == FSTRING_START:
                index = _fstring_end(tokens, index)
                end = offset(tokens[index].end)
                edits.append((start, end, self.string(source[start:end])))
            elif token.type == tokenize.STRING:
                docstring = statement_start and _statement_end(tokens, index)
                edits.append((start, end, self.string(token.string, docstring=docstring)))
            elif token.type == tokenize.COMMENT:
                edits.append((start, end, self.prose(token.string)))
            if tokens[index].type not in SKIPPED:
                previous = tokens[index]
            index += 1
        pieces, done = [], 0
        for start, end, text in edits:
            pieces += [source[done:start], text]
            done = end
        return "".join([*pieces, source[done:]])

    def string(self, literal: str, *, docstring: bool = False) -> str:
        """Rename in a string literal: prose if it is a docstring or has white space, else code.

        An f-string's expressions (in braces) are renamed as Python names.
        """
        head, body, tail = _split_literal(literal)
        if "f" not in head.lower():
            prose = docstring or re.search(r"\s", body) is not None
            return head + (self.prose(body) if prose else self.code(body)) + tail
        parts = _fstring_parts(body)
        literal_text = "".join(text for is_expression, text in parts if not is_expression)
        rename = self.prose if re.search(r"\s", literal_text) else self.code
        renamed = (
            re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda name: self.identifier(name[0]), text)
            if is_expression
            else rename(text)
            for is_expression, text in parts
        )
        return head + "".join(renamed) + tail

    def _kept_spans(self, text: str) -> list[tuple[int, int]]:
        """Return where `keep` words sit in `text`."""
        if self._keep_re is None:
            return []
        return [match.span() for match in self._keep_re.finditer(text)]

    def _replace(self, match: re.Match[str], kept: list[tuple[int, int]], *, prose: bool) -> str:
        """Return the new text for one matched form (and its article, in prose)."""
        start, end = match.span("word")
        text = match.string
        word = match["word"]
        inside_kept = any(start < kept_end and kept_start < end for kept_start, kept_end in kept)
        attribute = word == ENVELOPE == self.old.plural and text[start - 1 : start] == "."
        if inside_kept or attribute:
            return match[0]
        code_like = not prose or _touches_code(text, start, end)
        order = PREFER_IDENTIFIER if code_like else PREFER_PROSE
        kind, many = min(self._kinds[word], key=lambda form: order.index(form[0]))
        new_word = self.new.spell(kind, many)
        if prose and match["article"]:
            return _article(match["article"], new_word) + match["gap"] + new_word
        return new_word

    def path(self, relative: Path) -> Path:
        """Rename every part of a relative path: `items/test_items.py` -> `books/test_books.py`."""
        return Path(*(self.code(part) for part in relative.parts))


FSTRING_START = getattr(tokenize, "FSTRING_START", -1)  # Python 3.12+: f-strings are tokens
FSTRING_END = getattr(tokenize, "FSTRING_END", -1)
SKIPPED = (tokenize.NL, tokenize.COMMENT)
STATEMENT_BREAKS = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)


def _statement_end(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    """Return True when tokens[index] ends its statement (a string alone is a docstring)."""
    for following in tokens[index + 1 :]:
        if following.type not in SKIPPED:
            return following.type in (tokenize.NEWLINE, tokenize.ENDMARKER)
    return True


def _fstring_end(tokens: list[tokenize.TokenInfo], index: int) -> int:
    """Return the index of the FSTRING_END that closes the FSTRING_START at `index`."""
    depth = 0
    for position in range(index, len(tokens)):
        depth += {FSTRING_START: 1, FSTRING_END: -1}.get(tokens[position].type, 0)
        if depth == 0:
            return position
    raise ValueError("unterminated f-string")


def _split_literal(literal: str) -> tuple[str, str, str]:
    """Split a string literal into its prefix and opening quote, its body, its closing quote."""
    prefix = literal[: len(literal) - len(literal.lstrip("bBfFrRuU"))]
    quote = literal[len(prefix) : len(prefix) + 3]
    if quote not in ('"""', "'''"):
        quote = quote[0]
    return prefix + quote, literal[len(prefix) + len(quote) : -len(quote)], quote


def _fstring_parts(literal: str) -> list[tuple[bool, str]]:
    """Split an f-string's body into (is_expression, text) parts, in order.

    Expressions are the replacement fields with their braces; doubled braces are text.
    """
    parts: list[tuple[bool, str]] = []
    text, index, depth, quote = "", 0, 0, ""
    while index < len(literal):
        char = literal[index]
        if depth == 0:
            if char in "{}" and literal[index + 1 : index + 2] == char:  # `{` `{`: text
                text, index = text + literal[index : index + 2], index + 2
                continue
            if char == "{":
                parts.append((False, text))
                text, depth = "", 1
            text += char
        else:
            text += char
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "{[(":
                depth += 1
            elif char in "}])":
                depth -= 1
                if depth == 0:
                    parts.append((True, text))
                    text = ""
        index += 1
    parts.append((False, text))
    return [part for part in parts if part[1]]


def rename_python(source: str, old: Names, new: Names, keep: Iterable[str] = ()) -> str:
    """Return Python `source` with `old`'s names renamed to `new`'s (see the module rules)."""
    return Renamer(old, new, tuple(keep)).python(source)


def rename_text(text: str, old: Names, new: Names, keep: Iterable[str] = ()) -> str:
    """Return prose `text` (Markdown, plain text) with `old`'s names renamed to `new`'s."""
    return Renamer(old, new, tuple(keep)).prose(text)


def rename_tree(root: Path, old: Names, new: Names, keep: Iterable[str] = ()) -> None:
    """Rename `old` to `new` in place under `root`: every `.py` file's text, every name."""
    renamer = Renamer(old, new, tuple(keep))
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        renamed = renamer.python(text)
        if renamed != text:
            path.write_text(renamed, encoding="utf-8")
    # Deepest first, so a folder is renamed after everything inside it.
    for path in sorted(root.rglob("*"), key=lambda found: len(found.parts), reverse=True):
        renamed_name = renamer.code(path.name)
        if renamed_name != path.name:
            path.rename(path.with_name(renamed_name))


# ---- `make resource`: plan everything, then write --------------------------------------

REGISTRY_IMPORT = re.compile(r"^from \.(\w+) import (\w+)$", re.MULTILINE)
# `RESOURCES = (ITEMS,)`, or one entry a line (comments allowed, also after the `(`)
# up to `)`.
REGISTRY_TUPLE = re.compile(
    r"^RESOURCES = \((?:(?P<one>\w+),|(?:  #.*)?\n(?:    (?:\w+,|#.*)\n)*)\)$", re.MULTILINE
)
MIGRATION_NUMBER = re.compile(r"^([0-9]{4})_[a-z0-9_]+\.py$")

# What `make resource` writes for a new resource: its declaration (one unique, sortable
# `name`), the migration creating its collection, and its tests' data (the core's tests
# run on every registered resource). Formatted as ruff formats them, for any name the
# checks accept.
DECLARATION = string.Template('''"""${Humans}: declared here; `core.crud` serves them (see the README's recipes).

Add fields to `${Camel}`, and say in `${UPPER}` which are unique, sorted or filtered.
"""

from ...core.crud import Fields, Resource
from ...core.schemas import Name


class ${Camel}(Fields):
    """${Article} ${human}: what a client sends to create one."""

    name: Name


${UPPER} = Resource(
    ${Camel},
    plural="${plural}",
    unique=("name",),
    sorts=("name",),
)
''')
MIGRATION = string.Template('''"""Create the ${humans} collection with its validator and indexes (no downgrade)."""

from pymongo.database import Database

from ....core.migrations.operations import Document, create_resource
from .. import ${UPPER}


def upgrade(db: Database[Document]) -> None:
    """Create the `${plural}` collection (validator, then indexes)."""
    create_resource(db, ${UPPER})
''')
BUILDERS = string.Template('''"""${Humans} test data: valid bodies, unique per call, for the core's tests and yours."""

import ${package}.resources.${plural} as declared

from tests.shapes import Shape, counter

_next = counter()


def body(**overrides: object) -> dict[str, object]:
    """Return a valid create body with a unique name; `overrides` replace fields."""
    return {"name": f"${singular}-{next(_next):06d}", **overrides}


SHAPE = Shape(
    declared.${UPPER},
    body,
    change={"name": "renamed"},
    invalid=[{"name": ""}],
)
''')


@dataclass
class Plan:
    """What `make resource` writes: new files and the registry's new text."""

    new: Names
    registry: Path
    registry_text: str
    files: dict[Path, str]
    folders: list[Path]


def plan_resource(root: Path, singular: str, plural_name: str | None = None) -> Plan:
    """Return what adding resource `singular` to the project at `root` writes.

    Raises:
        ScaffoldError: the project's layout is not the expected one, or the name is refused.
    """
    sources = root / "src"
    registries = sorted(sources.glob("*/resources/__init__.py")) if sources.is_dir() else []
    if len(registries) != 1:
        raise ScaffoldError(f"expected one src/<package>/resources/__init__.py under {root}")
    registry = registries[0]
    resources_dir = registry.parent
    package_dir = resources_dir.parent
    package = package_dir.name
    registry_text = registry.read_text(encoding="utf-8")
    imports = REGISTRY_IMPORT.findall(registry_text)
    if not imports or not REGISTRY_TUPLE.search(registry_text):
        raise ScaffoldError(
            f"{registry.relative_to(root)} must import each resource "
            "(`from .items import ITEMS`) and list it in `RESOURCES = (ITEMS,)`"
        )
    new = names(singular, plural_name)
    tests_dir = root / "tests"
    existing = {path.stem for path in [*package_dir.iterdir(), *tests_dir.glob("*")]}
    existing |= {path.name for path in resources_dir.iterdir() if path.is_dir()}
    existing |= {_resource_name(resources_dir / module, root) for module, _ in imports}
    existing |= {module for module, _ in imports}
    problem = name_problem(new.singular, new.plural, package, existing)
    if problem:
        raise ScaffoldError(problem)
    values = {
        "package": package,
        "singular": new.singular,
        "plural": new.plural,
        "human": new.spell("human", False),
        "humans": new.spell("human", True),
        "Humans": new.spell("title", True),
        "Camel": new.spell("camel", False),
        "UPPER": new.spell("upper", True),
        "Article": _article("A", new.singular),
    }
    home = resources_dir / new.plural
    tests_home = tests_dir / "resources" / new.plural
    number = _next_migration_number(package_dir)
    files = {
        home / "__init__.py": DECLARATION.substitute(values),
        home / "migrations" / "__init__.py": "",
        home / "migrations" / f"{number:04d}_create_{new.plural}.py": MIGRATION.substitute(values),
        tests_home / "__init__.py": "",
        tests_home / "builders.py": BUILDERS.substitute(values),
    }
    return Plan(new, registry, _registered(registry_text, new), files, [home, tests_home])


def _next_migration_number(package_dir: Path) -> int:
    """Return the next free migration number: the template's and every resource's count."""
    folders = [package_dir / "core" / "migrations", *package_dir.glob("resources/*/migrations")]
    found = (
        MIGRATION_NUMBER.match(path.name) for folder in folders for path in folder.glob("*.py")
    )
    return max((int(match[1]) for match in found if match), default=0) + 1


def _resource_name(package: Path, root: Path) -> str:
    """Return the singular of the resource a package declares: its fields class, snake_case.

    `ORDER_LINES = Resource(OrderLine, ...)` in `resources/order_lines/__init__.py`
    -> `order_line`.
    """
    init = package / "__init__.py"
    if init.is_file():
        for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Resource":
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Name):
                    return re.sub(r"(?<!^)(?=[A-Z])", "_", first.id).lower()
    raise ScaffoldError(f"{init.relative_to(root)} has no Resource(<FieldsClass>, ...)")


def _registered(registry_text: str, new: Names) -> str:
    """Return the registry's text with `new`'s import (in sorted place) and entry added."""
    constant = new.spell("upper", True)
    line = f"from .{new.plural} import {constant}\n"
    lines = registry_text.splitlines(keepends=True)
    imports = {
        index: found[1]
        for index, text in enumerate(lines)
        if (found := REGISTRY_IMPORT.match(text))
    }
    later = [index for index, module in imports.items() if module > new.plural]
    lines.insert(later[0] if later else max(imports) + 1, line)
    text = "".join(lines)
    block = REGISTRY_TUPLE.search(text)
    assert block is not None  # checked by plan_resource
    if block["one"]:  # one entry on one line (as ruff formats it): one a line from now on
        entries = f"RESOURCES = (\n    {block['one']},\n    {constant},\n)"
        return text[: block.start()] + entries + text[block.end() :]
    closing = block.end() - 1
    return text[:closing] + f"    {constant},\n" + text[closing:]


def write(plan: Plan) -> None:
    """Write a plan; if anything fails, remove what was written and restore the registry."""
    original = plan.registry.read_text(encoding="utf-8")
    try:
        for path, text in plan.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        plan.registry.write_text(plan.registry_text, encoding="utf-8")
    except BaseException:
        for folder in plan.folders:
            shutil.rmtree(folder, ignore_errors=True)
        plan.registry.write_text(original, encoding="utf-8")
        raise


def main(argv: list[str] | None = None) -> int:
    """Add a resource to the project this script belongs to; return the exit status."""
    parser = argparse.ArgumentParser(
        description="Add a resource: its declaration, migration, tests."
    )
    parser.add_argument("name", help="singular snake_case name, e.g. order_line")
    parser.add_argument("--plural", help="plural (default: derived, e.g. order_lines)")
    arguments = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    try:
        plan = plan_resource(root, arguments.name, arguments.plural)
    except ScaffoldError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    write(plan)
    print(f"Added resource {plan.new.singular} ({plan.new.plural}):")
    for path in plan.files:
        print(f"  {path.relative_to(root)}")
    print(f"  {plan.registry.relative_to(root)}: {plan.new.spell('upper', True)} registered")
    print("Next: give it its fields, then make check; make migrate creates its collection")
    return 0


if __name__ == "__main__":
    sys.exit(main())
