"""The resource rename engine (`scripts/scaffold.py` of the generated project) and its uses.

Unit tests of the rules on real snippets, a round trip over every template `.py` file,
the resource prompts' checks, and `make resource` on a fresh bake (what it writes, that
it is lint-clean as written, and its refusals).
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import io
import keyword
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import BIN, TEMPLATE_ROOT, bake
from tests.test_bake import cookiecutter_cli

TEMPLATE_PROJECT = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}"
SCAFFOLD_PATH = TEMPLATE_PROJECT / "scripts" / "scaffold.py"
PACKAGE_IN_IMPORT = re.compile(r"\{\{ cookiecutter\.package_name \}\}")
# The files of the template's example resource, which the bake renames (its declaration,
# migrations and tests, and the registry listing it); the core names no resource.
RESOURCE_FILES = sorted(
    {
        path
        for pattern in ("**/resources/**/*.py", "**/resources/*.py")
        for path in TEMPLATE_PROJECT.glob(pattern)
    }
)


def load_scaffold() -> ModuleType:
    """Import the template's scripts/scaffold.py as a module."""
    spec = importlib.util.spec_from_file_location("scaffold_under_test", SCAFFOLD_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


scaffold = load_scaffold()
ITEM = scaffold.names("item")
BOOK = scaffold.names("book")
ORDER_LINE = scaffold.names("order_line")


def book(source: str) -> str:
    """Rename item -> book in Python source."""
    return scaffold.rename_python(source, ITEM, BOOK)


def order_line(source: str) -> str:
    """Rename item -> order_line in Python source."""
    return scaffold.rename_python(source, ITEM, ORDER_LINE)


# ---- the rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("singular", "plural"),
    [
        ("item", "items"),
        ("category", "categories"),
        ("day", "days"),
        ("box", "boxes"),
        ("bus", "buses"),
        ("batch", "batches"),
        ("wish", "wishes"),
        ("order_line", "order_lines"),
    ],
)
def test_plural_is_derived_from_the_last_letters(singular: str, plural: str) -> None:
    assert scaffold.plural(singular) == plural


def test_every_form_of_a_name() -> None:
    assert [ORDER_LINE.spell(kind, False) for kind in scaffold.KINDS] == [
        "order_line",
        "OrderLine",
        "ORDER_LINE",
        "order line",
        "Order line",
    ]
    assert ORDER_LINE.spell("camel", True) == "OrderLines"


@pytest.mark.parametrize(
    "source",
    [
        "for key, value in headers.items():\n    pass\n",
        "names = [item.name for item in page.items]\n",
        "page = ItemPage(items=[], page=1, per_page=20, total=0)\n",
        "from collections.abc import ItemsView\n",
        "class Box:\n    def __getitem__(self, key: str) -> str:\n        return key\n",
        "getter = operator.itemgetter(1)\n",
        "items: list[ItemRead]\n",
    ],
)
def test_library_names_and_the_envelope_field_are_kept(source: str) -> None:
    renamed = book(source)
    for kept in ("items", "ItemsView", "__getitem__", "itemgetter"):
        assert renamed.count(kept) == source.count(kept)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "def get_items(item_id: str) -> ItemRead: ...\n",
            "def get_books(book_id: str) -> BookRead: ...\n",
        ),
        ("ITEM_ID = 1\n", "BOOK_ID = 1\n"),
        ('COLLECTION = "items"\n', 'COLLECTION = "books"\n'),
        ('ROUTE = "/api/v1/items/{item_id}"\n', 'ROUTE = "/api/v1/books/{book_id}"\n'),
        ("from .items.routes import router\n", "from .books.routes import router\n"),
        ("from pkg.items import ITEMS\n", "from pkg.books import BOOKS\n"),
        ("import pkg.items.schemas as items\n", "import pkg.books.schemas as items\n"),
        ("page = ItemPage(items=[to_item(d)])\n", "page = BookPage(items=[to_book(d)])\n"),
        ('url = f"/api/v1/items/{item.id}"\n', 'url = f"/api/v1/books/{book.id}"\n'),
        ('text = f"{page.items!r} of {item_id}"\n', 'text = f"{page.items!r} of {book_id}"\n'),
        (
            '"""Create an item; `Location` points at it."""\n',
            '"""Create a book; `Location` points at it."""\n',
        ),
        ("# An item's ETag is its version.\n", "# A book's ETag is its version.\n"),
        ('s = f"{{item_id}}: {item_id}"\n', 's = f"{{book_id}}: {book_id}"\n'),
        ('msg = f"An item named {name!r} exists."\n', 'msg = f"A book named {name!r} exists."\n'),
    ],
)
def test_item_to_book(source: str, expected: str) -> None:
    assert book(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            '"""List items; an item per `ItemRead`, at `/api/v1/items/{item_id}`."""\n',
            '"""List order lines; an order line per `OrderLineRead`, at '
            '`/api/v1/order_lines/{order_line_id}`."""\n',
        ),
        (
            '"""Items are stored in `documents.to_item()`."""\n',
            '"""Order lines are stored in `documents.to_order_line()`."""\n',
        ),
        ("class ItemRepository:\n    pass\n", "class OrderLineRepository:\n    pass\n"),
        (
            'detail = "The item\'s id (24 hex digits)."\n',
            'detail = "The order line\'s id (24 hex digits)."\n',
        ),
        (
            'msg = f"Item {item_id} does not exist."\n',
            'msg = f"Order line {order_line_id} does not exist."\n',
        ),
        ('tags = ["items"]\n', 'tags = ["order_lines"]\n'),
    ],
)
def test_item_to_order_line_uses_the_human_form_in_prose_only(source: str, expected: str) -> None:
    assert order_line(source) == expected


def test_text_in_keep_is_never_renamed() -> None:
    source = textwrap.dedent(
        '''\
        """Item Service: stores items."""
        from item_service.items import ITEMS
        PREFIX = "ITEM_SERVICE_"
        APP = "item-service"
        '''
    )
    keep = ("item_service", "ITEM_SERVICE", "item-service", "Item Service")
    assert scaffold.rename_python(source, ITEM, BOOK, keep) == textwrap.dedent(
        '''\
        """Item Service: stores books."""
        from item_service.books import BOOKS
        PREFIX = "ITEM_SERVICE_"
        APP = "item-service"
        '''
    )


def test_prose_and_paths() -> None:
    assert scaffold.rename_text("Add an item at `/api/v1/items`.", ITEM, ORDER_LINE) == (
        "Add an order line at `/api/v1/order_lines`."
    )
    renamer = scaffold.Renamer(ITEM, BOOK)
    assert renamer.path(Path("items/test_items.py")) == Path("books/test_books.py")


def template_python_files() -> list[Path]:
    """Return the .py files the bake renames: the example resource's own (RESOURCE_FILES)."""
    return sorted(set(RESOURCE_FILES))


@pytest.mark.parametrize(
    "path", template_python_files(), ids=lambda p: str(p.relative_to(TEMPLATE_PROJECT))
)
def test_renaming_there_and_back_gives_every_template_file_back(path: Path) -> None:
    """item -> book/order_line -> item is the identity, and every step is valid Python."""
    source = path.read_text()
    for new in (BOOK, ORDER_LINE):
        renamed = scaffold.rename_python(source, ITEM, new)
        ast.parse(PACKAGE_IN_IMPORT.sub("package_name", renamed))
        assert scaffold.rename_python(renamed, new, ITEM) == source


def identifier_words(path: Path) -> set[str]:
    """Return the lower-case words of the identifiers and code strings in a Python file.

    Test function names and strings with white space (messages, test data prose) aside.
    """
    source = PACKAGE_IN_IMPORT.sub("package_name", path.read_text())
    texts = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and not token.string.startswith("test_"):
            texts.append(token.string)
        elif token.type == tokenize.STRING and not re.search(r"\s", token.string):
            texts += re.findall(r"(?<!\\)\b[A-Za-z_]\w*", token.string)
    return {
        part.lower()
        for text in texts
        for part in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", text)
        if len(part) > 1
    }


def test_reserved_words_cover_every_word_of_the_resource_files() -> None:
    """A resource named like a field or helper would clash: every such word is refused."""
    assert RESOURCE_FILES
    used = set().union(*(identifier_words(path) for path in RESOURCE_FILES))
    refused_anyway = (
        set(keyword.kwlist)
        | set(keyword.softkwlist)
        | set(dir(builtins))
        | set(sys.stdlib_module_names)
        | scaffold.INFRASTRUCTURE
        | {"item", "items", "package", "cookiecutter"}  # the resource itself, Jinja
    )
    assert sorted(used - refused_anyway - scaffold.RESERVED) == []


@pytest.mark.parametrize(
    ("singular", "plural", "message"),
    [
        ("Order", "orders", "resource name 'Order' is not a snake_case name"),
        ("order-line", "order_lines", "resource name 'order-line' is not a snake_case name"),
        ("class", "classes", "resource name 'class' is a Python keyword"),
        ("match", "matches", "resource name 'match' is a Python keyword"),
        ("json", "jsons", "resource name 'json' shadows the standard-library module"),
        ("book", "json", "resource plural 'json' shadows the standard-library module"),
        ("sheep", "sheep", "resource plural 'sheep' equals the singular"),
        ("pkg", "pkgs", "resource name 'pkg' is the package name"),
        ("health", "healths", "resource name 'health' is the name of a module of the service"),
        ("page", "pages", "resource name 'page' is a word the resource code already uses"),
        ("sort_key", "sort_keys", "resource name 'sort_key' is a word the resource code"),
        ("order", "orders", "resource name 'order' already exists in the project"),
    ],
)
def test_name_problem_names_the_problem(singular: str, plural: str, message: str) -> None:
    problem = scaffold.name_problem(singular, plural, "pkg", existing={"order"})
    assert problem is not None and problem.startswith(message)


@pytest.mark.parametrize("singular", ["book", "order_line", "category", "device", "user_group"])
def test_name_problem_accepts_ordinary_names(singular: str) -> None:
    assert scaffold.name_problem(singular, scaffold.plural(singular), "pkg") is None


# ---- the prompts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (["resource_name=class"], "ERROR: resource name 'class' is a Python keyword"),
        (["resource_name=json"], "ERROR: resource name 'json' shadows the standard-library"),
        (["resource_name=Book"], "ERROR: resource name 'Book' is not a snake_case name"),
        (["resource_name=book", "resource_plural=book"], "resource plural 'book' equals the"),
        (["resource_name=item_service"], "ERROR: resource name 'item_service' is the package"),
        (["resource_name=settings"], "'settings' is the name of a module of the service"),
        (["resource_name=tag"], "ERROR: resource name 'tag' is a word the resource code"),
        (["resource_name=order-line"], "ERROR: resource name 'order-line' is not a snake_case"),
    ],
)
def test_a_bad_resource_answer_stops_cookiecutter_with_one_line(
    tmp_path: Path, answers: list[str], message: str
) -> None:
    done = cookiecutter_cli(tmp_path, *answers)
    output = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 1
    assert len(output) == 1, output
    assert message in output[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_plural_is_derived_and_the_bake_uses_it(tmp_path: Path) -> None:
    project = bake(tmp_path, resource_name="category")
    declared = project / "src" / "item_service" / "resources" / "categories"
    declaration = (declared / "__init__.py").read_text()
    assert 'plural="categories"' in declaration and "class Category(Fields):" in declaration
    package = project / "src" / "item_service"
    declared_code = [package / "app.py", *(package / "resources").rglob("*.py")]
    sources = "".join(path.read_text() for path in declared_code)
    left = sources.replace("item_service", "").replace("Item Service", "")
    assert not re.search(r"\bItem|\bitem_|ITEM_ID|/items\b", left)
    # The core is the same whatever resource a bake declares.
    default = bake(tmp_path / "default") / "src" / "item_service" / "core"
    core = {
        path.relative_to(package / "core"): path.read_text()
        for path in (package / "core").rglob("*.py")
    }
    assert core == {path.relative_to(default): path.read_text() for path in default.rglob("*.py")}


def test_a_replayed_bad_resource_name_is_refused_by_the_hook(tmp_path: Path) -> None:
    """Answers that skip the prompts meet the same rules: the hook loads scaffold.py."""
    assert cookiecutter_cli(tmp_path).returncode == 0
    replay = tmp_path / ".cookiecutter_replay" / f"{TEMPLATE_ROOT.name}.json"
    replay.write_text(
        replay.read_text().replace('"resource_plural": "items"', '"resource_plural": "item"')
    )
    second = tmp_path / "second"
    second.mkdir()
    done = subprocess.run(
        [str(BIN / "cookiecutter"), "--replay-file", str(replay), str(TEMPLATE_ROOT)],
        cwd=second,
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "ERROR: resource plural 'item' equals the singular: give a different plural\n"
    )
    assert not any(second.iterdir())


# ---- `make resource` on a fresh bake ---------------------------------------------------


@pytest.fixture(scope="module")
def generated_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a default bake (copied for each test; not installed)."""
    return bake(tmp_path_factory.mktemp("bake"))


@pytest.fixture
def project(tmp_path: Path, generated_files: Path) -> Path:
    """Return a copy of the default bake to add resources to."""
    root = tmp_path / "service"
    shutil.copytree(generated_files, root)
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Return every file under `root` and its text (caches aside)."""
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def make(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the project's make with `args`."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lint_passes(root: Path) -> None:
    """Lint and format-check the project as written, as its `make lint` does.

    Nothing is fixed first: what `make resource` writes is final (the bake's
    `make check` then runs the core's tests on the new resource, tests/test_resources.py).
    """
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [str(BIN / "ruff"), *command, "."],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "folder", "constant", "camel"),
    [
        (["NAME=order"], "orders", "ORDERS", "Order"),
        (["NAME=order_line"], "order_lines", "ORDER_LINES", "OrderLine"),
        (["NAME=person", "PLURAL=people"], "people", "PEOPLE", "Person"),
        (["NAME=" + "n" * 25], "n" * 25 + "s", "N" * 25 + "S", "N" + "n" * 24),
    ],
    ids=["order", "order_line", "person", "longest"],
)
def test_make_resource_writes_a_declaration_its_migration_its_tests_data_and_a_registry_line(
    project: Path, args: list[str], folder: str, constant: str, camel: str
) -> None:
    before = snapshot(project)
    done = make(project, "resource", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    package = project / "src" / "item_service" / "resources"
    added = sorted(set(snapshot(project)) - set(before))
    assert added == [
        f"src/item_service/resources/{folder}/__init__.py",
        f"src/item_service/resources/{folder}/migrations/0003_create_{folder}.py",
        f"src/item_service/resources/{folder}/migrations/__init__.py",
        f"tests/resources/{folder}/__init__.py",
        f"tests/resources/{folder}/builders.py",
    ]
    changed = [name for name in before if snapshot(project)[name] != before[name]]
    assert changed == ["src/item_service/resources/__init__.py"]
    registry = (package / "__init__.py").read_text()
    assert f"from .{folder} import {constant}\n" in registry
    assert f"    ITEMS,\n    {constant},\n)" in registry
    declaration = (package / folder / "__init__.py").read_text()
    assert f"class {camel}(Fields):" in declaration
    assert f'{constant} = Resource(\n    {camel},\n    plural="{folder}",' in declaration
    lines = sum(
        len(text.splitlines())
        for name, text in snapshot(project).items()
        if name in added and name.startswith("src/")
    )
    assert lines <= 200, lines  # the bound; nothing copied from another resource
    lint_passes(project)


def test_make_resource_keeps_a_registry_written_one_entry_a_line(project: Path) -> None:
    registry = project / "src" / "item_service" / "resources" / "__init__.py"
    registry.write_text(registry.read_text().replace("    ITEMS,\n", "    ITEMS,\n    # Ours.\n"))
    done = make(project, "resource", "NAME=book")
    assert done.returncode == 0, done.stdout + done.stderr
    assert registry.read_text().endswith(
        "from .books import BOOKS\nfrom .items import ITEMS\n\n"
        "RESOURCES = (  # one line per resource\n    ITEMS,\n    # Ours.\n    BOOKS,\n)\n"
    )
    lint_passes(project)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NAME=item"], "ERROR: resource name 'item' already exists in the project"),
        (["NAME=thing", "PLURAL=items"], "ERROR: resource plural 'items' already exists in the"),
        (["NAME=class"], "ERROR: resource name 'class' is a Python keyword"),
        (["NAME=json"], "ERROR: resource name 'json' shadows the standard-library module"),
        (["NAME=registry"], "ERROR: resource name 'registry' is the name of a module"),
        (["NAME=item_service"], "ERROR: resource name 'item_service' is the package name"),
        (["NAME=Order"], "ERROR: resource name 'Order' is not a snake_case name"),
        (["NAME=sheep", "PLURAL=sheep"], "ERROR: resource plural 'sheep' equals the singular"),
    ],
)
def test_make_resource_refuses_with_one_line_and_writes_nothing(
    project: Path, args: list[str], message: str
) -> None:
    before = snapshot(project)
    done = make(project, "resource", *args)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0].startswith(message), done.stderr
    assert snapshot(project) == before


def test_the_script_itself_prints_exactly_one_line_on_refusal(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/scaffold.py", "item"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "ERROR: resource name 'item' already exists in the project\n"


def test_make_resource_without_a_name_says_so_in_one_line(project: Path) -> None:
    done = make(project, "resource")
    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert line.endswith("*** NAME is missing: make resource NAME=order [PLURAL=orders].  Stop.")


def test_a_failed_write_leaves_nothing_behind(project: Path) -> None:
    """An unexpected failure half-way removes the new folders and restores the registry."""
    before = snapshot(project)
    plan = scaffold.plan_resource(project, "order")
    # Written last, under an existing file: fails after the other files were written.
    plan.files[project / "src" / "item_service" / "app.py" / "x.py"] = ""
    with pytest.raises(OSError):
        scaffold.write(plan)
    assert snapshot(project) == before
