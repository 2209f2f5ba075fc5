"""Check that a catalogue's SQL query is one plain read before it reaches a database.

The catalogue's `query` is text written by someone else and run with the harvester's login. A driver
that takes several statements in one call (psycopg2 always; MySQL drivers with the multi-statements
flag) would run `SELECT 1; COMMIT; DROP TABLE t` whole, and some single statements write although they
start with SELECT (`SELECT ... INTO`, `INTO OUTFILE`, `FOR UPDATE`, a `WITH` holding a DELETE, a call to
`pg_read_file` or `LOAD_FILE`). So the query is tokenised and parsed with sqlglot in the database's
dialect (string literals, quoted names and comments are read as the server reads them) and refused
unless it is exactly one SELECT, WITH ... SELECT or VALUES, with none of those parts. A query the
parser cannot read is refused too: what cannot be checked is not run.

This is the first of two locks: `harvest` also opens a read-only session where the database has one.
"""

from __future__ import annotations

import logging

ALLOWED = (
    "one plain read: a single SELECT (or WITH ... SELECT, or VALUES), without INTO, FOR UPDATE/SHARE, "
    "data-modifying WITH, or functions that write or reach files"
)

# Functions that write, lock, reach the server's files or other servers, or run SQL given as text.
# Matched by name, schema-qualified or not, quoted or not; prefixes cover a family.
DENIED_FUNCTIONS = frozenset(
    {
        # PostgreSQL
        "pg_stat_file",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_promote",
        "pg_notify",
        "pg_logical_emit_message",
        "set_config",
        "nextval",
        "setval",
        "lowrite",
        "loread",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        # MySQL / MariaDB
        "load_file",
        "sys_exec",
        "sys_eval",
        "sys_get",
        "sys_set",
        "get_lock",
        "release_lock",
        "release_all_locks",
        "master_pos_wait",
        "source_pos_wait",
        "master_gtid_wait",
        # SQLite
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
    }
)
_DENIED_WHY = "which writes, locks, or reaches files or other servers"
DENIED_PREFIXES = (
    "pg_read_",  # pg_read_file, pg_read_binary_file
    "pg_ls_",  # directory listings
    "pg_file_",  # adminpack: pg_file_write, pg_file_unlink, ...
    "pg_advisory",  # session locks
    "pg_create_",  # replication slots, restore points
    "pg_drop_",
    "pg_replication_",
    "pg_stat_reset",
    "lo_",  # large objects: lo_import, lo_export, lo_put, ...
    "dblink",  # queries on another server, or on this one outside the read-only transaction
)

# sqlglot's name for each SQLAlchemy backend; others are read in sqlglot's generic dialect.
_DIALECTS = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "mssql": "tsql",
    "oracle": "oracle",
}


class QueryRefused(ValueError):
    """The query is not one plain read; the message says why."""


def check_query(sql: str, backend: str | None = None) -> str:
    """The query (for a SQLAlchemy backend name such as 'postgresql') trimmed of trailing semicolons and
    comments, so that it can be wrapped in a subquery; raises QueryRefused unless it is one plain read."""
    import sqlglot
    from sqlglot.errors import SqlglotError
    from sqlglot.tokens import TokenType

    dialect = _DIALECTS.get(backend or "")
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError as err:
        raise QueryRefused(f"it cannot be read as SQL ({_first_line(err)})") from None
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    while tokens and tokens[0].token_type == TokenType.SEMICOLON:
        tokens.pop(0)
    if not tokens:
        raise QueryRefused("it is empty")
    if any(token.token_type == TokenType.SEMICOLON for token in tokens):
        raise QueryRefused("it holds more than one statement (a ';' outside quotes and comments)")
    for token in tokens:
        for comment in token.comments or ():
            # MySQL and MariaDB run the text of /*! ... */ and /*M! ... */ comments as SQL.
            if comment.lstrip().startswith(("!", "M!")):
                raise QueryRefused("it holds an executable comment (/*! ... */)")
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        if token.token_type == TokenType.INTO:
            raise QueryRefused("INTO writes (a new table, or a file on the database server)")
        if following is not None and following.token_type == TokenType.L_PAREN:
            name = token.text.lower()
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise QueryRefused(f"it calls {token.text}(), {_DENIED_WHY}")
    statement = _parse(sql, dialect)
    _check_tree(statement)
    return sql[: tokens[-1].end + 1]


def _parse(sql: str, dialect: str | None):
    import sqlglot
    from sqlglot.errors import SqlglotError

    # sqlglot logs a warning when it falls back to an opaque Command; that case is refused below.
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as err:
        raise QueryRefused(f"it could not be checked ({_first_line(err)})") from None
    finally:
        logger.setLevel(level)
    statements = [s for s in statements if type(s).__name__ != "Semicolon"]
    if len(statements) != 1:
        raise QueryRefused("it holds more than one statement")
    return statements[0]


def _check_tree(statement) -> None:
    from sqlglot import exp

    if not isinstance(statement, exp.Query | exp.Values):
        raise QueryRefused(f"it is a statement of kind {_kind(statement)}, not a SELECT")
    writers = tuple(
        getattr(exp, name)
        for name in (
            "Insert",
            "Update",
            "Delete",
            "Merge",
            "Create",
            "Drop",
            "Alter",
            "TruncateTable",
            "Copy",
            "Command",
            "Set",
            "Use",
            "Transaction",
            "Commit",
            "Rollback",
            "LoadData",
            "Pragma",
            "Grant",
            "Revoke",
            "Kill",
            "Analyze",
            "Cache",
            "Uncache",
            "Refresh",
            "Comment",
            "Attach",
            "Detach",
            "Execute",
        )
        if hasattr(exp, name)
    )
    for node in statement.walk():
        if isinstance(node, exp.Into):
            raise QueryRefused("INTO writes (a new table, or a file on the database server)")
        if isinstance(node, exp.Lock):
            raise QueryRefused("FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE takes row locks")
        if isinstance(node, writers):
            raise QueryRefused(f"it holds a statement of kind {_kind(node)} (a WITH may only hold SELECTs)")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise QueryRefused(f"it calls {name}(), {_DENIED_WHY}")


def _kind(node) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
