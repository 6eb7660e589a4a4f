"""TICKscript tooling: lexer, parser, the `kapacitor define` checker, UDF declarations as
Kapacitor sees them, template vars, the Kapacitor HTTP API client and their CLI commands."""
