"""The shared kernel: platform rules, roles and the authorization rule, shared constants. Imports no app."""
