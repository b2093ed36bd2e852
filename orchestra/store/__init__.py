"""PostgreSQL access: the connection pool and the queries, kept in `*.sql` files by table group."""
