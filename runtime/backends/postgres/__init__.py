"""The PostgreSQL backend: a store in one PostgreSQL schema, shared by workers on many
machines (docs/backends.md, "PostgreSQL"). Needs psycopg 3: `pip install 'tether[postgres]'`.

- `url.py`: store URLs (`postgresql://...?schema=NAME`), checked and masked
- `connection.py`: connecting with one-line errors; reconnecting with backoff
- `schema.py`: the tables and their migrations
- `setup.py`: opening a store (`tether db init`, first use)
"""
