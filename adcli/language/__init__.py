"""The language: text -> Program (the Lark parser and its compiler), `--at` values, and programs printed back as text."""
