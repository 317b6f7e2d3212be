"""Commands as plain functions: a compiled program, bindings and options in, a typed result out."""
